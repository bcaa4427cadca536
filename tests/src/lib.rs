//! Shared helpers for vany integration tests (see `tests/`).
