//! Guided runs and their steps: the runbook version a run follows, its subject (an incident
//! or a maintenance window), each step's state with who, when, note, action input, dry-run
//! preview and output, and a version per step for optimistic concurrency.

use jiff::Timestamp;
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use twisterlab_domain::runbook::run::{Reason, RunStatus, StepState, StepStatus};
use twisterlab_domain::runbook::{Revision, StepKey};
use uuid::Uuid;

use crate::clock::to_jiff;

fn decode<T, E>(r: Result<T, E>) -> Result<T, sqlx::Error>
where
    E: std::error::Error + Send + Sync + 'static,
{
    r.map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// A guided run.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    pub id: Uuid,
    pub slug: String,
    pub revision: Revision,
    pub incident_id: Option<Uuid>,
    /// The incident's number, when the subject is an incident.
    pub incident_number: Option<i64>,
    pub window_id: Option<Uuid>,
    pub status: RunStatus,
    pub closed_reason: Option<String>,
    pub started_by_label: String,
    pub started_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: Uuid,
    slug: String,
    revision: i32,
    incident_id: Option<Uuid>,
    incident_number: Option<i64>,
    window_id: Option<Uuid>,
    status: String,
    closed_reason: Option<String>,
    started_by_label: String,
    started_at: OffsetDateTime,
}

impl TryFrom<RunRow> for Run {
    type Error = sqlx::Error;
    fn try_from(r: RunRow) -> Result<Self, Self::Error> {
        Ok(Run {
            id: r.id,
            slug: r.slug,
            revision: decode(Revision::new(i64::from(r.revision)))?,
            incident_id: r.incident_id,
            incident_number: r.incident_number,
            window_id: r.window_id,
            status: decode(r.status.parse::<RunStatus>())?,
            closed_reason: r.closed_reason,
            started_by_label: r.started_by_label,
            started_at: to_jiff(r.started_at),
        })
    }
}

const RUN_COLUMNS: &str =
    "r.id, r.slug, r.revision, r.incident_id, i.number as incident_number, r.window_id, r.status,
     r.closed_reason, r.started_by_label, r.started_at";
const RUN_FROM: &str = "runbook_runs r left join incidents i on i.id = r.incident_id";

/// One step of a run.
#[derive(Clone, Debug)]
pub(crate) struct RunStep {
    pub key: StepKey,
    pub state: StepState,
    pub note: Option<String>,
    pub actor_label: Option<String>,
    pub changed_at: Option<Timestamp>,
    pub action_input: Option<Value>,
    pub preview_token: Option<String>,
    pub preview_at: Option<Timestamp>,
    pub output: Option<Value>,
    pub version: i32,
}

#[derive(sqlx::FromRow)]
struct StepRow {
    step_key: String,
    status: String,
    reason: Option<String>,
    message: Option<String>,
    note: Option<String>,
    actor_label: Option<String>,
    changed_at: Option<OffsetDateTime>,
    action_input: Option<Value>,
    preview_token: Option<String>,
    preview_at: Option<OffsetDateTime>,
    output: Option<Value>,
    version: i32,
}

impl TryFrom<StepRow> for RunStep {
    type Error = sqlx::Error;
    fn try_from(r: StepRow) -> Result<Self, Self::Error> {
        let state = match decode(r.status.parse::<StepStatus>())? {
            StepStatus::Pending => StepState::Pending,
            StepStatus::Done => StepState::Done,
            StepStatus::Skipped => {
                StepState::Skipped { reason: decode(Reason::parse(r.reason.as_deref().unwrap_or("")))? }
            }
            StepStatus::Failed => StepState::Failed { message: r.message.unwrap_or_default() },
        };
        Ok(RunStep {
            key: decode(StepKey::parse(&r.step_key))?,
            state,
            note: r.note,
            actor_label: r.actor_label,
            changed_at: r.changed_at.map(to_jiff),
            action_input: r.action_input,
            preview_token: r.preview_token,
            preview_at: r.preview_at.map(to_jiff),
            output: r.output,
            version: r.version,
        })
    }
}

const STEP_COLUMNS: &str = "step_key, status, reason, message, note, actor_label, changed_at, action_input,
     preview_token, preview_at, output, version";

/// What a run is about.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Subject {
    Incident(Uuid),
    Window(Uuid),
}

/// Inserts a run and its steps (all pending), in order.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert(
    tx: &mut PgConnection,
    id: Uuid,
    slug: &str,
    revision: Revision,
    subject: Subject,
    started_by: Option<Uuid>,
    started_by_label: &str,
    steps: &[&StepKey],
) -> Result<(), sqlx::Error> {
    let (incident_id, window_id) = match subject {
        Subject::Incident(id) => (Some(id), None),
        Subject::Window(id) => (None, Some(id)),
    };
    sqlx::query(
        "insert into runbook_runs (id, slug, revision, incident_id, window_id, started_by, started_by_label)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(slug)
    .bind(revision.get() as i32)
    .bind(incident_id)
    .bind(window_id)
    .bind(started_by)
    .bind(started_by_label)
    .execute(&mut *tx)
    .await?;
    let keys: Vec<&str> = steps.iter().map(|k| k.as_str()).collect();
    sqlx::query(
        "insert into runbook_run_steps (run_id, step_key, position)
         select $1, key, (ord - 1)::integer from unnest($2::text[]) with ordinality as t(key, ord)",
    )
    .bind(id)
    .bind(&keys)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The run `id`.
pub(crate) async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Run>, sqlx::Error> {
    let row: Option<RunRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("select {RUN_COLUMNS} from {RUN_FROM} where r.id = $1")))
            .bind(id)
            .fetch_optional(db)
            .await?;
    row.map(Run::try_from).transpose()
}

/// Locks run `id` for a change in the caller's transaction.
pub(crate) async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<Run>, sqlx::Error> {
    let found: Option<(Uuid,)> = sqlx::query_as("select id from runbook_runs where id = $1 for update")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    match found {
        Some(_) => find(&mut *tx, id).await,
        None => Ok(None),
    }
}

/// The runs on an incident, newest first.
pub(crate) async fn of_incident(db: impl PgExecutor<'_>, incident_id: Uuid) -> Result<Vec<Run>, sqlx::Error> {
    let rows: Vec<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {RUN_COLUMNS} from {RUN_FROM} where r.incident_id = $1 order by r.started_at desc, r.id desc"
    )))
    .bind(incident_id)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(Run::try_from).collect()
}

/// The runs on a maintenance window, newest first.
pub(crate) async fn of_window(db: impl PgExecutor<'_>, window_id: Uuid) -> Result<Vec<Run>, sqlx::Error> {
    let rows: Vec<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {RUN_COLUMNS} from {RUN_FROM} where r.window_id = $1 order by r.started_at desc, r.id desc"
    )))
    .bind(window_id)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(Run::try_from).collect()
}

/// The steps of run `id`, in order.
pub(crate) async fn steps(db: impl PgExecutor<'_>, run_id: Uuid) -> Result<Vec<RunStep>, sqlx::Error> {
    let rows: Vec<StepRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {STEP_COLUMNS} from runbook_run_steps where run_id = $1 order by position"
    )))
    .bind(run_id)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(RunStep::try_from).collect()
}

/// Locks one step for a change in the caller's transaction.
pub(crate) async fn lock_step(
    tx: &mut PgConnection,
    run_id: Uuid,
    key: &str,
) -> Result<Option<RunStep>, sqlx::Error> {
    let row: Option<StepRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {STEP_COLUMNS} from runbook_run_steps where run_id = $1 and step_key = $2 for update"
    )))
    .bind(run_id)
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?;
    row.map(RunStep::try_from).transpose()
}

/// A step's new state with who and when; bumps its version and the run's.
pub(crate) struct StepUpdate<'a> {
    pub state: &'a StepState,
    pub note: Option<&'a str>,
    pub actor_id: Option<Uuid>,
    pub actor_label: &'a str,
    pub action_input: Option<&'a Value>,
    pub output: Option<&'a Value>,
}

pub(crate) async fn update_step(
    tx: &mut PgConnection,
    run_id: Uuid,
    key: &str,
    update: &StepUpdate<'_>,
) -> Result<i32, sqlx::Error> {
    let (reason, message) = match update.state {
        StepState::Skipped { reason } => (Some(reason.as_str()), None),
        StepState::Failed { message } => (None, Some(message.as_str())),
        StepState::Pending | StepState::Done => (None, None),
    };
    let (version,): (i32,) = sqlx::query_as(
        "update runbook_run_steps set status = $3, reason = $4, message = $5, note = coalesce($6, note),
                actor_id = $7, actor_label = $8, changed_at = now(),
                action_input = coalesce($9, action_input), output = coalesce($10, output),
                preview = null, preview_token = null, preview_at = null, version = version + 1
         where run_id = $1 and step_key = $2 returning version",
    )
    .bind(run_id)
    .bind(key)
    .bind(update.state.status().as_str())
    .bind(reason)
    .bind(message)
    .bind(update.note)
    .bind(update.actor_id)
    .bind(update.actor_label)
    .bind(update.action_input)
    .bind(update.output)
    .fetch_one(&mut *tx)
    .await?;
    bump_run(&mut *tx, run_id).await?;
    Ok(version)
}

/// Stores a changing action's dry run and the token its confirmation must carry; bumps the
/// step's version (an older confirmation form no longer applies).
pub(crate) async fn set_preview(
    tx: &mut PgConnection,
    run_id: Uuid,
    key: &str,
    action_input: &Value,
    preview: &Value,
    token: &str,
) -> Result<i32, sqlx::Error> {
    let (version,): (i32,) = sqlx::query_as(
        "update runbook_run_steps set action_input = $3, preview = $4, preview_token = $5, preview_at = now(),
                version = version + 1
         where run_id = $1 and step_key = $2 returning version",
    )
    .bind(run_id)
    .bind(key)
    .bind(action_input)
    .bind(preview)
    .bind(token)
    .fetch_one(&mut *tx)
    .await?;
    Ok(version)
}

/// Uses up a step's preview (its token no longer confirms anything); bumps its version.
pub(crate) async fn clear_preview(
    tx: &mut PgConnection,
    run_id: Uuid,
    key: &str,
) -> Result<i32, sqlx::Error> {
    let (version,): (i32,) = sqlx::query_as(
        "update runbook_run_steps set preview_token = null, preview_at = null, version = version + 1
         where run_id = $1 and step_key = $2 returning version",
    )
    .bind(run_id)
    .bind(key)
    .fetch_one(&mut *tx)
    .await?;
    Ok(version)
}

/// Bumps the run's version (any change of it or of a step).
pub(crate) async fn bump_run(tx: &mut PgConnection, run_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update runbook_runs set version = version + 1 where id = $1")
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Closes the run: completed or abandoned, with the reason if any.
pub(crate) async fn close(
    tx: &mut PgConnection,
    run_id: Uuid,
    status: RunStatus,
    reason: Option<&str>,
    by: Option<Uuid>,
    by_label: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update runbook_runs set status = $2, closed_reason = $3, closed_by = $4, closed_by_label = $5,
                closed_at = now(), version = version + 1
         where id = $1",
    )
    .bind(run_id)
    .bind(status.as_str())
    .bind(reason)
    .bind(by)
    .bind(by_label)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
