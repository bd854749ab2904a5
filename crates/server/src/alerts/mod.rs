//! External alerts into incidents: Prometheus Alertmanager's webhook receiver
//! (`POST /api/v1/alertmanager`, [`receiver`]), its use case ([`service`]: fingerprint
//! idempotency, grouping, severity and component mappings, resolved → monitoring), the admin
//! page `/admin/signals` ([`admin`]) and the OpenAPI description ([`openapi`]).

pub(crate) mod admin;
pub(crate) mod openapi;
pub(crate) mod receiver;
pub(crate) mod service;

#[cfg(test)]
mod tests;

use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};

pub(crate) fn routes() -> Routes {
    Routes::new().post("/api/v1/alertmanager", Access::Role(Role::Responder), receiver::receive).get(
        "/admin/signals",
        Access::Role(Role::Admin),
        admin::show_signals,
    )
}
