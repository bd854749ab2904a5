//! End-to-end tests: each starts the real `twisterlab-portal` binary against a fresh database.

mod accounts;
mod demo;
mod escalation;
mod faults;
mod first_run;
mod foundation;
mod incidents;
mod overview;
mod phone;
mod runbooks;
mod status_page;
mod support;
