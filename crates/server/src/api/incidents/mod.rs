//! `/api/v1/incidents`: declare, list, show, act on and patch incidents as JSON with a bearer
//! token. Every change goes through `incidents::service` in one transaction, as the pages do.

mod handlers;
pub(crate) mod types;

use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};
use handlers::{
    acknowledge_incident, add_incident_event, declare_incident, list_incidents, resolve_incident,
    show_incident, update_incident,
};

/// Incidents per page of `GET /api/v1/incidents` unless `limit` says otherwise.
pub(crate) const DEFAULT_LIMIT: i64 = 50;
/// Most incidents one page may hold.
pub(crate) const MAX_LIMIT: i64 = 200;
/// Longest `q` search text, in characters.
pub(crate) const MAX_QUERY_TEXT: usize = 200;

/// The query parameters `GET /api/v1/incidents` understands.
pub(crate) const LIST_PARAMETERS: [&str; 8] =
    ["status", "severity", "commander", "from", "until", "q", "limit", "cursor"];

pub(crate) fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/incidents", Access::Role(Role::Viewer), list_incidents)
        .post("/api/v1/incidents", Access::Role(Role::Commander), declare_incident)
        .get("/api/v1/incidents/{number}", Access::Role(Role::Viewer), show_incident)
        // Commander actions: responders at the route; `service::authorize_command` then lets
        // through commanders and the incident's own commander, as on the pages.
        .patch("/api/v1/incidents/{number}", Access::Role(Role::Responder), update_incident)
        .post("/api/v1/incidents/{number}/acknowledge", Access::Role(Role::Responder), acknowledge_incident)
        .post("/api/v1/incidents/{number}/resolve", Access::Role(Role::Responder), resolve_incident)
        // Notes need a responder, public updates a commander (or the incident's commander).
        .post("/api/v1/incidents/{number}/events", Access::Role(Role::Responder), add_incident_event)
}
