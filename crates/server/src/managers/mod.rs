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

use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};

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
