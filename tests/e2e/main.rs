//! End-to-end tests: each starts the real `twisterlab-portal` binary against a fresh database.

mod accounts;
mod escalation;
mod faults;
mod first_run;
mod foundation;
mod incidents;
mod overview;
mod phone;
mod status_page;
mod support;
