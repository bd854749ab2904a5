//! Recurring maintenance tasks: the runbook's weekly vacuum and log cleanup and any schedule an
//! admin adds, each creating one task per period in the team's time zone (the rules, across
//! DST, are `twisterlab_domain::recurrence`); completing a task records who and when. The
//! [`TaskWorker`] creates the tasks; pages and the overview read them.

use std::time::Duration;

use jiff::civil::{Time, Weekday};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use twisterlab_domain::recurrence::{self, Cadence, DayOfMonth, Recurrence, TaskStatus};
use uuid::Uuid;

use super::service::MaintenanceError;
use crate::db::audit::{self, Actor, Entry};
use crate::db::maintenance_tasks::{self as store, NewSchedule, Task};
use crate::validation::FieldError;
use crate::workers::{BoxFuture, NextPass, Worker};

/// A task is created this long before it is due, so the list shows what comes next.
pub(crate) const LEAD: SignedDuration = SignedDuration::from_hours(24);
/// How far back a schedule's missed periods are still created (after the portal was stopped).
pub(crate) const BACKFILL: SignedDuration = SignedDuration::from_hours(35 * 24);
/// How often the worker looks for periods that need their task.
pub(crate) const INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Longest note on a completed task, in characters.
pub(crate) const MAX_NOTE: usize = 2_000;

/// Creates the task of every period of every active schedule due before `now + LEAD` that has
/// none yet, from the schedule's last task (or its creation, at most [`BACKFILL`] ago).
/// Idempotent: several processes may run it at once. Returns how many tasks it created.
pub(crate) async fn generate(
    db: &mut PgConnection,
    zone: &jiff::tz::TimeZone,
    now: Timestamp,
) -> Result<usize, sqlx::Error> {
    let mut created = 0;
    for schedule in store::schedules(&mut *db).await?.into_iter().filter(|s| s.active) {
        let from = match store::last_due(&mut *db, schedule.id).await? {
            Some(last) => last + SignedDuration::from_nanos(1),
            None => schedule.created_at,
        }
        .max(now - BACKFILL);
        for due in recurrence::occurrences(&schedule.recurrence, zone, from, now + LEAD) {
            if store::insert_task(&mut *db, &schedule, due).await? {
                created += 1;
            }
        }
    }
    Ok(created)
}

/// Creates each period's task (see [`generate`]).
pub(crate) struct TaskWorker {
    pub pool: PgPool,
    pub zone: jiff::tz::TimeZone,
}

impl Worker for TaskWorker {
    fn run_once(&self) -> BoxFuture<'_, anyhow::Result<NextPass>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            let created = generate(&mut conn, &self.zone, Timestamp::now()).await?;
            if created > 0 {
                tracing::info!(maintenance.tasks_created = created, "recurring maintenance tasks created");
            }
            Ok(None)
        })
    }
}

/// Where a task stands at `now`.
pub(crate) fn status(task: &Task, now: Timestamp) -> TaskStatus {
    recurrence::task_status(task.due_at, task.grace, task.completed_at, now)
}

/// Completes task `id` as `actor`, confirming each checklist item (`confirmed` holds the items'
/// positions from 0) with an optional note. Refused when already completed.
pub(crate) async fn complete(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    confirmed: &[usize],
    note: &str,
    now: Timestamp,
) -> Result<Task, MaintenanceError> {
    let task = store::lock_task(&mut *tx, id)
        .await?
        .ok_or_else(|| MaintenanceError::NotFound { what: "This maintenance task".into() })?;
    if let (Some(at), Some(by)) = (task.completed_at, &task.completed_by) {
        return Err(MaintenanceError::Refused(format!(
            "{by} already completed this task at {}; nothing changed.",
            crate::clock::iso(at)
        )));
    }
    let mut errors = vec![];
    let missing: Vec<&str> = task
        .checklist
        .iter()
        .enumerate()
        .filter(|(i, _)| !confirmed.contains(i))
        .map(|(_, item)| item.as_str())
        .collect();
    if !missing.is_empty() {
        errors.push(FieldError::new(
            "items",
            format!("Confirm every item before completing the task; not confirmed: {}.", missing.join("; ")),
        ));
    }
    let note = note.trim();
    if note.chars().count() > MAX_NOTE {
        errors.push(FieldError::new("note", format!("Use at most {MAX_NOTE} characters.")));
    }
    if !errors.is_empty() {
        return Err(MaintenanceError::Invalid(errors));
    }
    store::complete_task(&mut *tx, id, actor.user_id, &actor.label, now, note).await?;
    let late = matches!(status(&task, now), TaskStatus::Overdue { .. });
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "maintenance.task_complete",
            target: format!("maintenance_task:{id}"),
            before: Some(json!({"completed": false})),
            after: Some(json!({"completed": true, "title": task.title, "due_at": crate::clock::iso(task.due_at), "late": late, "note": note})),
        },
    )
    .await?;
    store::find_task(&mut *tx, id)
        .await?
        .ok_or_else(|| MaintenanceError::NotFound { what: "This maintenance task".into() })
}

/// A schedule as an admin enters it.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub(crate) struct ScheduleInput {
    #[serde(default)]
    pub title: String,
    /// `daily`, `weekly` or `monthly`.
    #[serde(default)]
    pub cadence: String,
    /// ISO weekday, 1 = Monday (weekly).
    #[serde(default)]
    pub weekday: String,
    /// 1 to 31 (monthly).
    #[serde(default)]
    pub day_of_month: String,
    /// `03:00`, in the team's zone.
    #[serde(default)]
    pub at: String,
    /// Hours of grace before the task is overdue.
    #[serde(default)]
    pub grace_hours: String,
    /// One item per line.
    #[serde(default)]
    pub checklist: String,
    /// A runbook to follow, optional.
    #[serde(default)]
    pub runbook: String,
}

/// The key of a schedule titled `title`: lowercase words joined by `_`.
fn key_of(title: &str) -> String {
    let mut key = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            key.push(c.to_ascii_lowercase());
        } else if !key.ends_with('_') && !key.is_empty() {
            key.push('_');
        }
    }
    key.trim_end_matches('_').chars().take(64).collect()
}

/// Adds a recurring schedule (admins). Field errors name each problem.
pub(crate) async fn add_schedule(
    tx: &mut PgConnection,
    actor: &Actor,
    input: &ScheduleInput,
) -> Result<Uuid, MaintenanceError> {
    let mut errors = vec![];
    let title = input.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        errors.push(FieldError::new("title", "Name the task in 1 to 200 characters."));
    }
    let key = key_of(title);
    if key.is_empty() && !title.is_empty() {
        errors.push(FieldError::new("title", "Use some letters or digits in the name."));
    }
    let at = match input
        .at
        .trim()
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<i8>().ok()?, m.parse::<i8>().ok()?)))
    {
        Some((h, m)) => Time::new(h, m, 0, 0).ok(),
        None => None,
    };
    if at.is_none() {
        errors.push(FieldError::new("at", "Enter the time as HH:MM in the team's time zone, such as 03:00."));
    }
    let cadence = match input.cadence.trim() {
        "daily" => Some(Cadence::Daily),
        "weekly" => match input.weekday.trim().parse::<i8>() {
            Ok(w @ 1..=7) => Some(Cadence::Weekly(Weekday::Monday.wrapping_add(w - 1))),
            _ => {
                errors.push(FieldError::new("weekday", "Choose the weekday of a weekly task."));
                None
            }
        },
        "monthly" => {
            match input.day_of_month.trim().parse::<i8>().ok().and_then(|d| DayOfMonth::new(d).ok()) {
                Some(day) => Some(Cadence::Monthly(day)),
                None => {
                    errors.push(FieldError::new("day_of_month", "Enter a day of the month from 1 to 31 (29 to 31 mean the last day in shorter months)."));
                    None
                }
            }
        }
        _ => {
            errors.push(FieldError::new("cadence", "Choose daily, weekly or monthly."));
            None
        }
    };
    let grace = match input.grace_hours.trim().parse::<i64>() {
        Ok(h @ 0..=744) => Some(SignedDuration::from_hours(h)),
        _ => {
            errors.push(FieldError::new("grace_hours", "Enter the hours of grace from 0 to 744 (31 days)."));
            None
        }
    };
    let checklist: Vec<String> =
        input.checklist.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    if checklist.len() > 20 || checklist.iter().any(|l| l.chars().count() > 200) {
        errors.push(FieldError::new("checklist", "List at most 20 items of at most 200 characters each."));
    }
    let runbook = input.runbook.trim();
    if !runbook.is_empty() && twisterlab_domain::runbook::Slug::parse(runbook).is_err() {
        errors.push(FieldError::new(
            "runbook",
            "Enter a runbook's slug, such as database-vacuum-analyze, or leave it empty.",
        ));
    }
    let (Some(at), Some(cadence), Some(grace), true) = (at, cadence, grace, errors.is_empty()) else {
        return Err(MaintenanceError::Invalid(errors));
    };
    let recurrence = Recurrence { cadence, at };
    let new = NewSchedule {
        key: &key,
        title,
        recurrence,
        grace,
        checklist: &checklist,
        runbook_slug: (!runbook.is_empty()).then_some(runbook),
        created_by: actor.user_id,
    };
    let Some(id) = store::insert_schedule(&mut *tx, &new).await? else {
        return Err(MaintenanceError::Invalid(vec![FieldError::new(
            "title",
            "A recurring task with this name exists already: choose another name.",
        )]));
    };
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "maintenance.schedule_add",
            target: format!("maintenance_schedule:{key}"),
            before: None,
            after: Some(json!({"title": title, "recurrence": recurrence.to_string(), "grace_hours": grace.as_hours()})),
        },
    )
    .await?;
    Ok(id)
}

#[cfg(test)]
mod unit {
    use super::key_of;

    #[test]
    fn a_schedule_key_is_its_title_in_lowercase_words() {
        assert_eq!(key_of("Rotate TLS certificates!"), "rotate_tls_certificates");
        assert_eq!(key_of("  -- "), "");
    }
}
