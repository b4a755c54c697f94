//! The local Admin API server used by tests, benchmarks and `--sandbox`.
