//! What managers use to see where the response process failed and whether it improves:
//!
//! - `escalations`: `/escalations`, every escalation, SLA breach and missed acknowledgement
//!   with its review (queries in `db::escalations`);
//! - `reports`: `/reports` with SVG trends (`charts`) and CSV downloads (queries in
//!   `db::reports`);
//! - `postmortems`: `/incidents/{number}/postmortem` and the overdue action items (queries in
//!   `db::postmortems`); the status page reads published ones;
//! - `service`: the use cases (reviewing an escalation), on the caller's transaction.

pub(crate) mod charts;
pub(crate) mod escalations;
pub(crate) mod postmortems;
pub(crate) mod reports;
pub(crate) mod service;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};
use crate::validation::{FieldError, FieldErrors};

/// The years a day may have in a filter or a report. A report's trend reaches three years back
/// and its period a quarter forward: every day in these years stays within what the calendar,
/// the time zone database and PostgreSQL hold.
pub(crate) const YEARS: std::ops::RangeInclusive<i16> = 1970..=2999;

/// A day as the API documents it: `YYYY-MM-DD` in [`YEARS`] (the format `date` adds the
/// calendar's own rule, such as no 30 February).
pub(crate) const DAY_PATTERN: &str = r"^(19[7-9][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}$";

/// Reads a day written exactly as [`DAY_PATTERN`] says, on the calendar; `None` otherwise.
pub(crate) fn parse_day(raw: &str) -> Option<jiff::civil::Date> {
    let b = raw.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() });
    if !shape {
        return None;
    }
    raw.parse::<jiff::civil::Date>().ok().filter(|d| YEARS.contains(&d.year()))
}

/// The field error of a day that [`parse_day`] refused.
pub(crate) fn day_error(raw: &str) -> String {
    let shown: String = raw.chars().take(40).collect();
    format!("Enter a date such as 2026-11-30, from 1970 to 2999 (got {shown:?}).")
}

/// A query string's parameters by name. A parameter given twice is a field error: which of
/// the two was meant cannot be known, and taking either would answer a question not asked.
pub(crate) fn query_values(pairs: &[(String, String)]) -> Result<HashMap<&str, &str>, Vec<FieldError>> {
    let mut values = HashMap::new();
    let mut errors = FieldErrors::new();
    for (key, value) in pairs {
        if values.insert(key.as_str(), value.as_str()).is_some() && !errors.has(key) {
            errors.push(key.as_str(), "Give this parameter once.");
        }
    }
    errors.into_result(values)
}

/// The managers' pages.
pub(crate) fn routes() -> Routes {
    let viewer = Access::Role(Role::Viewer);
    let responder = Access::Role(Role::Responder);
    let commander = Access::Role(Role::Commander);
    let manager = Access::Role(Role::Manager);
    Routes::new()
        .get("/escalations", manager, escalations::list_escalations)
        .get("/escalations/{id}", manager, escalations::show_escalation)
        .post("/escalations/{id}/review", manager, escalations::review_escalation)
        .get("/reports", manager, reports::show_report)
        .get("/reports/{file}", manager, reports::download_csv)
        .get("/incidents/{number}/postmortem", viewer, postmortems::show_postmortem)
        .post("/incidents/{number}/postmortem", commander, postmortems::start_postmortem)
        .post("/incidents/{number}/postmortem/save", commander, postmortems::save_postmortem)
        .post("/incidents/{number}/postmortem/actions", commander, postmortems::add_action)
        .post("/incidents/{number}/postmortem/actions/starting", commander, postmortems::add_starting_actions)
        .post("/incidents/{number}/postmortem/actions/{action}/done", responder, postmortems::complete_action)
        .post("/incidents/{number}/postmortem/submit", commander, postmortems::submit_postmortem)
        .post("/incidents/{number}/postmortem/publish", manager, postmortems::publish_postmortem)
        .get("/postmortems/actions", manager, postmortems::overdue_actions)
}
