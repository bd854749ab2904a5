//! Recurring maintenance tasks: `maintenance_schedules` (a recurrence in the team's zone with
//! its checklist) and `maintenance_tasks` (one per period, completed by someone at some time).

use jiff::civil::{Time, Weekday};
use jiff::{SignedDuration, Timestamp};
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use twisterlab_domain::recurrence::{Cadence, DayOfMonth, Recurrence};
use uuid::Uuid;

use crate::clock::{from_jiff, to_jiff};

/// The unique key of schedules.
const KEY_UNIQUE: &str = "maintenance_schedules_key_key";

/// A recurring schedule.
#[derive(Clone, Debug)]
pub(crate) struct Schedule {
    pub id: Uuid,
    pub key: String,
    pub title: String,
    pub recurrence: Recurrence,
    /// How long after its time a task may be done before it is overdue.
    pub grace: SignedDuration,
    pub checklist: Vec<String>,
    pub runbook_slug: Option<String>,
    pub active: bool,
    pub created_at: Timestamp,
}

type ScheduleRow = (
    Uuid,
    String,
    String,
    String,
    Option<i16>,
    Option<i16>,
    time::Time,
    i32,
    Vec<String>,
    Option<String>,
    bool,
    OffsetDateTime,
);

fn decode_err(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("unexpected {what} {value:?} in maintenance_schedules").into())
}

fn schedule_of(row: ScheduleRow) -> Result<Schedule, sqlx::Error> {
    let (id, key, title, cadence, weekday, day, at, grace, checklist, runbook_slug, active, created_at) = row;
    let cadence = match (cadence.as_str(), weekday, day) {
        ("daily", _, _) => Cadence::Daily,
        ("weekly", Some(w), _) => {
            let offset = i8::try_from(w - 1).map_err(|_| decode_err("weekday", &w.to_string()))?;
            Cadence::Weekly(Weekday::Monday.wrapping_add(offset))
        }
        ("monthly", _, Some(d)) => Cadence::Monthly(
            i8::try_from(d)
                .ok()
                .and_then(|d| DayOfMonth::new(d).ok())
                .ok_or_else(|| decode_err("day of month", &d.to_string()))?,
        ),
        (other, _, _) => return Err(decode_err("cadence", other)),
    };
    let at = Time::new(
        i8::try_from(at.hour()).unwrap_or(0),
        i8::try_from(at.minute()).unwrap_or(0),
        i8::try_from(at.second()).unwrap_or(0),
        0,
    )
    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Schedule {
        id,
        key,
        title,
        recurrence: Recurrence { cadence, at },
        grace: SignedDuration::from_secs(i64::from(grace)),
        checklist,
        runbook_slug,
        active,
        created_at: to_jiff(created_at),
    })
}

const SELECT_SCHEDULE: &str = "select id, key, title, cadence, weekday, day_of_month, at_time, grace_seconds,
        checklist, runbook_slug, active, created_at from maintenance_schedules";

/// Every schedule, by title.
pub(crate) async fn schedules(db: impl PgExecutor<'_>) -> Result<Vec<Schedule>, sqlx::Error> {
    let sql = format!("{SELECT_SCHEDULE} order by title, key");
    let rows: Vec<ScheduleRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(db).await?;
    rows.into_iter().map(schedule_of).collect()
}

/// A new schedule.
pub(crate) struct NewSchedule<'a> {
    pub key: &'a str,
    pub title: &'a str,
    pub recurrence: Recurrence,
    pub grace: SignedDuration,
    pub checklist: &'a [String],
    pub runbook_slug: Option<&'a str>,
    pub created_by: Option<Uuid>,
}

/// Inserts a schedule; `None` when its key is taken.
pub(crate) async fn insert_schedule(
    db: impl PgExecutor<'_>,
    new: &NewSchedule<'_>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let id = Uuid::now_v7();
    let (cadence, weekday, day) = match new.recurrence.cadence {
        Cadence::Daily => ("daily", None, None),
        Cadence::Weekly(w) => ("weekly", Some(i16::from(w.to_monday_one_offset())), None),
        Cadence::Monthly(d) => ("monthly", None, Some(i16::from(d.get()))),
    };
    let at = time::Time::from_hms(
        u8::try_from(new.recurrence.at.hour()).unwrap_or(0),
        u8::try_from(new.recurrence.at.minute()).unwrap_or(0),
        0,
    )
    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let result = sqlx::query(
        "insert into maintenance_schedules (id, key, title, cadence, weekday, day_of_month, at_time, grace_seconds,
                                            checklist, runbook_slug, created_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(new.key)
    .bind(new.title)
    .bind(cadence)
    .bind(weekday)
    .bind(day)
    .bind(at)
    .bind(i32::try_from(new.grace.as_secs()).unwrap_or(i32::MAX))
    .bind(new.checklist)
    .bind(new.runbook_slug)
    .bind(new.created_by)
    .execute(db)
    .await;
    match result {
        Ok(_) => Ok(Some(id)),
        Err(e) if super::constraint_violated(&e) == Some(KEY_UNIQUE) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The latest due time of a task of `schedule_id`, if any.
pub(crate) async fn last_due(
    db: impl PgExecutor<'_>,
    schedule_id: Uuid,
) -> Result<Option<Timestamp>, sqlx::Error> {
    let at: Option<OffsetDateTime> =
        sqlx::query_scalar("select max(due_at) from maintenance_tasks where schedule_id = $1")
            .bind(schedule_id)
            .fetch_one(db)
            .await?;
    Ok(at.map(to_jiff))
}

/// Creates the task of `schedule` due at `due_at` unless it exists (several processes may try);
/// whether it was created.
pub(crate) async fn insert_task(
    db: impl PgExecutor<'_>,
    schedule: &Schedule,
    due_at: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into maintenance_tasks (id, schedule_id, due_at, title, checklist, grace_seconds, runbook_slug)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict (schedule_id, due_at) do nothing",
    )
    .bind(Uuid::now_v7())
    .bind(schedule.id)
    .bind(from_jiff(due_at))
    .bind(&schedule.title)
    .bind(&schedule.checklist)
    .bind(i32::try_from(schedule.grace.as_secs()).unwrap_or(i32::MAX))
    .bind(schedule.runbook_slug.as_deref())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One period's task.
#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub id: Uuid,
    pub due_at: Timestamp,
    pub title: String,
    pub checklist: Vec<String>,
    pub grace: SignedDuration,
    pub runbook_slug: Option<String>,
    pub completed_at: Option<Timestamp>,
    pub completed_by: Option<String>,
    pub note: String,
}

type TaskRow = (
    Uuid,
    OffsetDateTime,
    String,
    Vec<String>,
    i32,
    Option<String>,
    Option<OffsetDateTime>,
    Option<String>,
    String,
);

fn task_of(row: TaskRow) -> Task {
    let (id, due_at, title, checklist, grace, runbook_slug, completed_at, completed_by, note) = row;
    Task {
        id,
        due_at: to_jiff(due_at),
        title,
        checklist,
        grace: SignedDuration::from_secs(i64::from(grace)),
        runbook_slug,
        completed_at: completed_at.map(to_jiff),
        completed_by,
        note,
    }
}

const SELECT_TASK: &str = "select t.id, t.due_at, t.title, t.checklist, t.grace_seconds, t.runbook_slug,
        t.completed_at, t.completed_by_label, t.note
   from maintenance_tasks t";

/// Open tasks (any age) and the `done` most recently completed, by due time, latest first.
pub(crate) async fn tasks(db: impl PgExecutor<'_>, done: i64) -> Result<Vec<Task>, sqlx::Error> {
    let sql = format!(
        "{SELECT_TASK} where t.id in (
             select id from maintenance_tasks where completed_at is null
             union all
             (select id from maintenance_tasks where completed_at is not null order by completed_at desc limit $1))
          order by t.due_at desc, t.id"
    );
    let rows: Vec<TaskRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(done).fetch_all(db).await?;
    Ok(rows.into_iter().map(task_of).collect())
}

/// Tasks not completed whose grace period ended before `now`, oldest first.
pub(crate) async fn overdue(db: impl PgExecutor<'_>, now: Timestamp) -> Result<Vec<Task>, sqlx::Error> {
    let sql = format!(
        "{SELECT_TASK} where t.completed_at is null
            and t.due_at + make_interval(secs => t.grace_seconds) < $1
          order by t.due_at, t.id"
    );
    let rows: Vec<TaskRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(from_jiff(now)).fetch_all(db).await?;
    Ok(rows.into_iter().map(task_of).collect())
}

/// Locks task `id` and reads it.
pub(crate) async fn lock_task(tx: &mut PgConnection, id: Uuid) -> Result<Option<Task>, sqlx::Error> {
    let sql = format!("{SELECT_TASK} where t.id = $1 for update of t");
    let row: Option<TaskRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(tx).await?;
    Ok(row.map(task_of))
}

/// Task `id`.
pub(crate) async fn find_task(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Task>, sqlx::Error> {
    let sql = format!("{SELECT_TASK} where t.id = $1");
    let row: Option<TaskRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(db).await?;
    Ok(row.map(task_of))
}

/// Marks task `id` completed by `by` (`label` as shown) at `at` with `note`.
pub(crate) async fn complete_task(
    db: impl PgExecutor<'_>,
    id: Uuid,
    by: Option<Uuid>,
    label: &str,
    at: Timestamp,
    note: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update maintenance_tasks set completed_at = $2, completed_by = $3, completed_by_label = $4, note = $5
          where id = $1",
    )
    .bind(id)
    .bind(from_jiff(at))
    .bind(by)
    .bind(label)
    .bind(note)
    .execute(db)
    .await?;
    Ok(())
}
