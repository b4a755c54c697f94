//! Matching declared keys to live keys, and the diff into changes.
