//! How the maintenance pages show windows and tasks: times in the team's zone with UTC beside
//! them, states in words, and the overview's small section of what needs doing.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use sqlx::PgExecutor;
use twisterlab_domain::maintenance::WindowState;
use twisterlab_domain::recurrence::TaskStatus;
use twisterlab_domain::sla::compact_duration;
use uuid::Uuid;

use crate::db::maintenance::{Approval, Window, WindowComponent};
use crate::db::maintenance_tasks::{self as task_store, Task};
use crate::web::time::Moment;

/// CSS class of a window state's badge (the status page's colour tokens).
pub(crate) fn state_class(state: WindowState) -> &'static str {
    match state {
        WindowState::InProgress => "state-under_maintenance",
        WindowState::Scheduled => "state-degraded_performance",
        WindowState::Completed => "state-operational",
        WindowState::RolledBack => "state-partial_outage",
        WindowState::Draft | WindowState::Cancelled => "state-unknown",
    }
}

/// A recorded approval as shown.
pub(crate) struct ApprovalView {
    pub reason: String,
    pub by: String,
    pub at: Moment,
}

fn approval(a: &Option<Approval>, zone: &TimeZone, now: Timestamp) -> Option<ApprovalView> {
    a.as_ref().map(|a| ApprovalView {
        reason: a.reason.clone(),
        by: a.by.clone().unwrap_or_else(|| "someone".into()),
        at: Moment::new(a.at, zone, now),
    })
}

/// A window as the pages show it.
pub(crate) struct WindowView {
    pub href: String,
    pub title: String,
    /// Safe HTML from the Markdown renderer.
    pub description_html: String,
    pub state: WindowState,
    pub state_label: &'static str,
    pub state_class: &'static str,
    /// What the status page says ("Scheduled", "Verifying"…), or why it says nothing.
    pub public: String,
    pub starts: Moment,
    pub ends: Moment,
    /// "3 h 30 min".
    pub duration: String,
    pub owner: String,
    pub components: String,
    pub announced: Option<Moment>,
    pub short_notice: Option<ApprovalView>,
    pub overlap_reason: Option<String>,
    pub checklist_override: Option<ApprovalView>,
    pub override_items: String,
    pub started: Option<Moment>,
    pub verifying: Option<Moment>,
    pub ended: Option<Moment>,
    pub version: i32,
}

impl WindowView {
    pub(crate) fn of(w: &Window, components: &[WindowComponent], zone: &TimeZone, now: Timestamp) -> Self {
        let public = match w.public_status() {
            Some(status) => status.label().to_owned(),
            None if w.state == WindowState::Draft => {
                "Not on the status page until it is scheduled".to_owned()
            }
            None => "Withdrawn from the status page".to_owned(),
        };
        Self {
            href: format!("/maintenance/{}", w.id),
            title: w.title.clone(),
            description_html: crate::markdown::to_html(&w.description),
            state: w.state,
            state_label: w.state.label(),
            state_class: state_class(w.state),
            public,
            starts: Moment::new(w.starts_at, zone, now),
            ends: Moment::new(w.ends_at, zone, now),
            duration: compact_duration(w.ends_at.duration_since(w.starts_at)),
            owner: w.owner_name.clone(),
            components: components.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
            announced: w.announced_at.map(|t| Moment::new(t, zone, now)),
            short_notice: approval(&w.short_notice, zone, now),
            overlap_reason: w.overlap_reason.clone(),
            checklist_override: approval(&w.checklist_override, zone, now),
            override_items: w.checklist_override_items.join(", "),
            started: w.started_at.map(|t| Moment::new(t, zone, now)),
            verifying: w.verifying_at.map(|t| Moment::new(t, zone, now)),
            ended: w.ended_at.map(|t| Moment::new(t, zone, now)),
            version: w.version,
        }
    }
}

/// A recurring task as shown.
pub(crate) struct TaskView {
    pub id: Uuid,
    pub title: String,
    pub due: Moment,
    /// "due", "overdue by 3 h", "upcoming", "done", "done late".
    pub status: String,
    pub status_class: &'static str,
    pub overdue: bool,
    pub checklist: Vec<(usize, String)>,
    pub runbook: Option<String>,
    pub completed: Option<String>,
    pub note: String,
}

impl TaskView {
    pub(crate) fn of(t: &Task, zone: &TimeZone, now: Timestamp) -> Self {
        let (status, class) = match super::tasks::status(t, now) {
            TaskStatus::Upcoming => ("upcoming".to_owned(), "state-unknown"),
            TaskStatus::Due { .. } => ("due".to_owned(), "state-degraded_performance"),
            TaskStatus::Overdue { by } => {
                (format!("overdue by {}", compact_duration(by)), "state-major_outage")
            }
            TaskStatus::Done { late: false } => ("done".to_owned(), "state-operational"),
            TaskStatus::Done { late: true } => ("done late".to_owned(), "state-operational"),
        };
        Self {
            id: t.id,
            title: t.title.clone(),
            due: Moment::new(t.due_at, zone, now),
            overdue: status.starts_with("overdue"),
            status,
            status_class: class,
            checklist: t.checklist.iter().cloned().enumerate().collect(),
            runbook: t.runbook_slug.clone(),
            completed: match (t.completed_at, &t.completed_by) {
                (Some(at), Some(by)) => {
                    let m = Moment::new(at, zone, now);
                    Some(format!("{by}, {} ({})", m.absolute, m.relative))
                }
                _ => None,
            },
            note: t.note.clone(),
        }
    }
}

/// The overview's maintenance section: windows in progress and overdue recurring tasks.
pub(crate) struct OverviewSection {
    pub in_progress: Vec<(String, String)>,
    pub overdue: Vec<TaskView>,
}

impl OverviewSection {
    pub(crate) fn is_empty(&self) -> bool {
        self.in_progress.is_empty() && self.overdue.is_empty()
    }
}

/// What the overview shows about maintenance at `now`: (href, title) of each window in
/// progress, and every overdue task.
pub(crate) async fn overview_section(
    db: &sqlx::PgPool,
    zone: &TimeZone,
    now: Timestamp,
) -> Result<OverviewSection, sqlx::Error> {
    let overdue = task_store::overdue(db, now).await?.iter().map(|t| TaskView::of(t, zone, now)).collect();
    let in_progress = in_progress(db).await?;
    Ok(OverviewSection { in_progress, overdue })
}

async fn in_progress(db: impl PgExecutor<'_>) -> Result<Vec<(String, String)>, sqlx::Error> {
    Ok(crate::db::maintenance::list(db, 0)
        .await?
        .into_iter()
        .filter(|w| w.state == WindowState::InProgress)
        .map(|w| (format!("/maintenance/{}", w.id), w.title))
        .collect())
}
