//! The real Admin API client over HTTP (reqwest): auth, retries, timeouts.
