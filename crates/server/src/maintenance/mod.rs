//! Maintenance windows and recurring maintenance tasks, from the runbook's "Planned
//! Maintenance Window", "Database Vacuum & Analyze" and "Log Rotation & Cleanup" sections.
//!
//! - `service`: the window use cases (create, edit or reschedule, schedule under the 48-hour rule, the checklist,
//!   start behind its gate, public updates, verifying, complete or roll back, cancel);
//! - `suppression`: health signals held back while a window runs, checked again at its end;
//! - `run`: the seam to guided runs of the `planned-maintenance` runbook;
//! - `tasks`: recurring schedules, the worker creating each period's task, completing one;
//! - `pages`, `view`: `/maintenance` and below, working with JavaScript off;
//! - the public side lives in `status_page` (it reads `db::maintenance`), the JSON API in
//!   `api::maintenance`.

pub(crate) mod pages;
pub(crate) mod run;
pub mod service;
pub(crate) mod suppression;
pub(crate) mod tasks;
pub(crate) mod view;

#[cfg(test)]
mod tests;

use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};

/// The maintenance pages: windows, their checklist and actions, recurring tasks.
pub(crate) fn routes() -> Routes {
    let viewer = Access::Role(Role::Viewer);
    let responder = Access::Role(Role::Responder);
    let commander = Access::Role(Role::Commander);
    Routes::new()
        .get("/maintenance", viewer, pages::list_windows)
        .post("/maintenance", commander, pages::create_window)
        .get("/maintenance/new", commander, pages::new_window)
        .get("/maintenance/tasks", viewer, pages::list_tasks)
        .post("/maintenance/tasks/{id}/complete", responder, pages::complete_task)
        .post("/maintenance/schedules", Access::Role(Role::Admin), pages::add_schedule)
        .get("/maintenance/{id}", viewer, pages::show_window)
        .get("/maintenance/{id}/edit", commander, pages::edit_window)
        .post("/maintenance/{id}/edit", commander, pages::save_window)
        .post("/maintenance/{id}/schedule", commander, pages::schedule_window)
        .post("/maintenance/{id}/checklist", responder, pages::add_item)
        .post("/maintenance/{id}/checklist/{key}/tick", responder, pages::tick_item)
        .post("/maintenance/{id}/checklist/{key}/untick", responder, pages::untick_item)
        .post("/maintenance/{id}/start", commander, pages::start_window)
        .post("/maintenance/{id}/updates", commander, pages::post_update)
        .post("/maintenance/{id}/verify", commander, pages::verify_window)
        .post("/maintenance/{id}/complete", commander, pages::complete_window)
        .post("/maintenance/{id}/rollback", commander, pages::roll_back_window)
        .post("/maintenance/{id}/cancel", commander, pages::cancel_window)
}
