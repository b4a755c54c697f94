//! The manifest: TOML into a validated `Desired`, with file:line:column in every error.
