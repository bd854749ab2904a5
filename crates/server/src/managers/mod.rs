//! What managers use to see where the response process failed and whether it improves:
//!
//! - `escalations`: `/escalations`, every escalation, SLA breach and missed acknowledgement
//!   with its review (queries in `db::escalations`);
//! - `reports`: `/reports` with SVG trends (`charts`) and CSV downloads (queries in
//!   `db::reports`);
//! - `service`: the use cases (reviewing an escalation), on the caller's transaction.

pub(crate) mod charts;
pub(crate) mod escalations;
pub(crate) mod reports;
pub(crate) mod service;

#[cfg(test)]
mod tests;

use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};

/// The managers' pages.
pub(crate) fn routes() -> Routes {
    let manager = Access::Role(Role::Manager);
    Routes::new()
        .get("/escalations", manager, escalations::list_escalations)
        .get("/escalations/{id}", manager, escalations::show_escalation)
        .post("/escalations/{id}/review", manager, escalations::review_escalation)
        .get("/reports", manager, reports::show_report)
        .get("/reports/{file}", manager, reports::download_csv)
}
