//! Unit tests of parsing and validation.
