//! Incidents: declare, run and close them against their SLA, with an append-only timeline.

pub(crate) mod actions;
pub(crate) mod declare;
pub(crate) mod export;
pub(crate) mod list;
pub mod service;
pub(crate) mod show;
pub(crate) mod sla;
pub(crate) mod sla_admin;
pub(crate) mod view;

use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};

/// Every incident route (pages and exports) and the SLA policy admin page.
pub(crate) fn routes() -> Routes {
    let viewer = Access::Role(Role::Viewer);
    let responder = Access::Role(Role::Responder);
    let commander = Access::Role(Role::Commander);
    Routes::new()
        .get("/incidents", viewer, list::list_incidents)
        .post("/incidents", commander, declare::declare_incident)
        .get("/incidents/new", commander, declare::new_incident)
        .get("/incidents/{number}", viewer, show::show_incident)
        .get("/incidents/{number}/events/{id}", viewer, show::event_permalink)
        .get("/incidents/{number}/timeline.md", viewer, export::timeline_markdown)
        .get("/incidents/{number}/timeline.json", viewer, export::timeline_json)
        .post("/incidents/{number}/acknowledge", responder, actions::acknowledge_incident)
        // Commander actions: open to responders at the route, then `service::authorize_command`
        // lets through commanders and the incident's own commander (one rule, pages and API).
        .post("/incidents/{number}/status", responder, actions::change_status)
        .post("/incidents/{number}/severity", responder, actions::change_severity)
        .post("/incidents/{number}/roles", responder, actions::assign_role)
        .post("/incidents/{number}/notes", responder, actions::add_note)
        .post("/incidents/{number}/updates", responder, actions::post_update)
        .post("/incidents/{number}/components", responder, actions::set_component_impact)
        .post("/incidents/{number}/links", responder, actions::add_link)
        .get("/incidents/{number}/resolve", responder, show::confirm_resolve)
        .post("/incidents/{number}/resolve", responder, actions::resolve_incident)
        .post("/incidents/{number}/reopen", responder, actions::reopen_incident)
        .post("/incidents/{number}/take-command", responder, actions::take_command)
        .post("/incidents/{number}/details", responder, actions::correct_details)
        .post("/incidents/{number}/withdraw", responder, actions::withdraw)
        .post("/incidents/{number}/publish", responder, actions::publish)
        .post("/incidents/{number}/events/{id}/correct", responder, actions::correct_event)
        .merge(sla_admin::routes())
}

#[cfg(test)]
mod tests;
