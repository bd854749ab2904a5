//! End-to-end tests: each starts the real `twisterlab-portal` binary against a fresh database.

mod foundation;
mod support;
