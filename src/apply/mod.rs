//! Executes a plan through the AdminApi trait, storing each new secret before moving on.
