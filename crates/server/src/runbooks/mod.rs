//! Guided runbooks (issue 11): the procedures of the operations runbook, versioned in the
//! database, and runs that walk a responder through them on an incident or a maintenance
//! window, doing the Kubernetes work with a dry-run preview and an explicit confirmation.
//!
//! - `loader`: the shipped files, stored at start when newer (`serve::start_up`);
//! - `service`: edits, starting and closing runs, step changes with their timeline events and
//!   audit rows, previews and their confirmation tokens;
//! - `actions`: running a step's action (Kubernetes through the adapter, Prometheus, probes);
//! - `output`: what an action returns (shared with `target_db`);
//! - `pages`: `/runbooks`, `/runbooks/{slug}`, `/runbooks/{slug}/edit`;
//! - `runs`: starting a run from an incident, `/runs/{id}` and its step forms;
//! - `suggest`: runbooks suggested by an incident's signals and the cluster's state.

pub(crate) mod actions;
pub(crate) mod loader;
pub(crate) mod output;
pub(crate) mod pages;
pub(crate) mod runs;
pub(crate) mod service;
pub(crate) mod suggest;
pub(crate) mod view;

#[cfg(test)]
mod tests;

use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};

/// The runbook and run pages.
pub(crate) fn routes() -> Routes {
    let viewer = Access::Role(Role::Viewer);
    let responder = Access::Role(Role::Responder);
    let commander = Access::Role(Role::Commander);
    let admin = Access::Role(Role::Admin);
    Routes::new()
        .get("/runbooks", viewer, pages::list)
        .get("/runbooks/{slug}", viewer, pages::show)
        .get("/runbooks/{slug}/edit", admin, pages::edit)
        .post("/runbooks/{slug}/edit", admin, pages::save)
        .get("/incidents/{number}/runs/new", commander, runs::new_run)
        .post("/incidents/{number}/runs", commander, runs::start)
        .get("/runs/{id}", viewer, runs::show)
        .post("/runs/{id}/abandon", commander, runs::abandon)
        .post("/runs/{id}/steps/{key}/complete", responder, runs::complete)
        .post("/runs/{id}/steps/{key}/skip", responder, runs::skip)
        .post("/runs/{id}/steps/{key}/fail", responder, runs::fail)
        .post("/runs/{id}/steps/{key}/run", responder, runs::run_action)
        .post("/runs/{id}/steps/{key}/preview", responder, runs::preview)
        .post("/runs/{id}/steps/{key}/apply", responder, runs::apply)
}
