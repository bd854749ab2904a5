//! Incidents: declare, run and close them against their SLA, with an append-only timeline.

pub mod export;
pub mod pages;
pub mod service;
pub mod sla_admin;
pub mod view;

use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};

/// Every incident route (pages and exports) and the SLA policy admin page.
pub fn routes() -> Routes {
    let viewer = Access::Role(Role::Viewer);
    let responder = Access::Role(Role::Responder);
    let commander = Access::Role(Role::Commander);
    Routes::new()
        .get("/incidents", viewer, pages::list_incidents)
        .post("/incidents", commander, pages::declare_incident)
        .get("/incidents/new", commander, pages::new_incident)
        .get("/incidents/{number}", viewer, pages::show_incident)
        .get("/incidents/{number}/timeline.md", viewer, export::timeline_markdown)
        .get("/incidents/{number}/timeline.json", viewer, export::timeline_json)
        .post("/incidents/{number}/acknowledge", responder, pages::acknowledge_incident)
        .post("/incidents/{number}/status", commander, pages::change_status)
        .post("/incidents/{number}/severity", commander, pages::change_severity)
        .post("/incidents/{number}/roles", commander, pages::assign_role)
        .post("/incidents/{number}/notes", responder, pages::add_note)
        .post("/incidents/{number}/updates", commander, pages::post_update)
        .post("/incidents/{number}/components", commander, pages::set_component_impact)
        .post("/incidents/{number}/links", commander, pages::add_link)
        .post("/incidents/{number}/resolve", commander, pages::resolve_incident)
        .post("/incidents/{number}/reopen", commander, pages::reopen_incident)
        .post("/incidents/{number}/events/{id}/correct", responder, pages::correct_event)
        .merge(sla_admin::routes())
}

#[cfg(test)]
mod page_tests;
