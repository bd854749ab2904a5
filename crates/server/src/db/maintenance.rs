//! Maintenance windows: `maintenance_windows` with their components, checklist items, public
//! updates, event log and held-back health signals; the status page's reads of them.
//!
//! Rows become [`Window`], the domain's `Checklist` and the other types here at this edge;
//! public reads ([`public_windows`], [`public_updates`]) select nothing internal (no owner, no
//! override reason, no checklist).

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use twisterlab_domain::maintenance::{
    Checklist, ChecklistItem, ItemKey, OtherWindow, PublicStatus, Tick, WindowState,
};
use uuid::Uuid;

use crate::clock::{from_jiff, to_jiff};

fn decode_err(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("unexpected {what} {value:?} in maintenance tables").into())
}

fn state_of(stored: &str) -> Result<WindowState, sqlx::Error> {
    stored.parse().map_err(|_| decode_err("state", stored))
}

/// A manager's decision recorded on a window: why, by whom, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Approval {
    pub reason: String,
    pub by: Option<String>,
    pub at: Timestamp,
}

/// A window as the pages, the API and the use cases read it.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    pub id: Uuid,
    pub title: String,
    /// Markdown.
    pub description: String,
    pub state: WindowState,
    /// Planned start.
    pub starts_at: Timestamp,
    /// Planned end (exclusive).
    pub ends_at: Timestamp,
    pub owner_name: String,
    pub owner_email: String,
    pub announced_at: Option<Timestamp>,
    pub short_notice: Option<Approval>,
    pub overlap_reason: Option<String>,
    pub checklist_override: Option<Approval>,
    /// Keys of the items unticked when a manager overrode the checklist.
    pub checklist_override_items: Vec<String>,
    pub started_at: Option<Timestamp>,
    pub verifying_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub run_id: Option<Uuid>,
    pub version: i32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Window {
    /// What the status page says about it now (`None`: not public).
    pub(crate) fn public_status(&self) -> Option<PublicStatus> {
        self.state.public_status(self.verifying_at.is_some())
    }
}

#[derive(sqlx::FromRow)]
struct WindowRow {
    id: Uuid,
    title: String,
    description: String,
    state: String,
    starts_at: OffsetDateTime,
    ends_at: OffsetDateTime,
    owner_name: String,
    owner_email: String,
    announced_at: Option<OffsetDateTime>,
    short_notice_reason: Option<String>,
    short_notice_by: Option<String>,
    short_notice_at: Option<OffsetDateTime>,
    overlap_reason: Option<String>,
    checklist_override_reason: Option<String>,
    checklist_override_by: Option<String>,
    checklist_override_at: Option<OffsetDateTime>,
    checklist_override_items: Vec<String>,
    started_at: Option<OffsetDateTime>,
    verifying_at: Option<OffsetDateTime>,
    ended_at: Option<OffsetDateTime>,
    run_id: Option<Uuid>,
    version: i32,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

fn approval(reason: Option<String>, by: Option<String>, at: Option<OffsetDateTime>) -> Option<Approval> {
    match (reason, at) {
        (Some(reason), Some(at)) => Some(Approval { reason, by, at: to_jiff(at) }),
        _ => None,
    }
}

impl TryFrom<WindowRow> for Window {
    type Error = sqlx::Error;
    fn try_from(r: WindowRow) -> Result<Self, Self::Error> {
        Ok(Window {
            state: state_of(&r.state)?,
            short_notice: approval(r.short_notice_reason, r.short_notice_by, r.short_notice_at),
            checklist_override: approval(
                r.checklist_override_reason,
                r.checklist_override_by,
                r.checklist_override_at,
            ),
            id: r.id,
            title: r.title,
            description: r.description,
            starts_at: to_jiff(r.starts_at),
            ends_at: to_jiff(r.ends_at),
            owner_name: r.owner_name,
            owner_email: r.owner_email,
            announced_at: r.announced_at.map(to_jiff),
            overlap_reason: r.overlap_reason,
            checklist_override_items: r.checklist_override_items,
            started_at: r.started_at.map(to_jiff),
            verifying_at: r.verifying_at.map(to_jiff),
            ended_at: r.ended_at.map(to_jiff),
            run_id: r.run_id,
            version: r.version,
            created_at: to_jiff(r.created_at),
            updated_at: to_jiff(r.updated_at),
        })
    }
}

const SELECT: &str = "select w.id, w.title, w.description, w.state, w.starts_at, w.ends_at,
        o.display_name as owner_name, o.email as owner_email, w.announced_at,
        w.short_notice_reason, sn.display_name as short_notice_by, w.short_notice_at, w.overlap_reason,
        w.checklist_override_reason, co.display_name as checklist_override_by, w.checklist_override_at,
        w.checklist_override_items, w.started_at, w.verifying_at, w.ended_at, w.run_id, w.version,
        w.created_at, w.updated_at
   from maintenance_windows w
   join users o on o.id = w.owner_id
   left join users sn on sn.id = w.short_notice_by
   left join users co on co.id = w.checklist_override_by";

/// The window `id`.
pub(crate) async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Window>, sqlx::Error> {
    let sql = format!("{SELECT} where w.id = $1");
    let row: Option<WindowRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(db).await?;
    row.map(Window::try_from).transpose()
}

/// Locks the window `id` until the transaction ends and reads it. `no key update`, so a probe
/// recording a held-back signal on it (a foreign key to it) never waits for the lock.
pub(crate) async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<Window>, sqlx::Error> {
    let locked: Option<Uuid> =
        sqlx::query_scalar("select id from maintenance_windows where id = $1 for no key update")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    match locked {
        Some(id) => find(&mut *tx, id).await,
        None => Ok(None),
    }
}

/// Every window not finished, and the `finished` most recently ended finished ones; by planned
/// start, latest first.
pub(crate) async fn list(db: impl PgExecutor<'_>, finished: i64) -> Result<Vec<Window>, sqlx::Error> {
    let sql = format!(
        "{SELECT} where w.id in (
             select id from maintenance_windows where state in ('draft', 'scheduled', 'in_progress')
             union all
             (select id from maintenance_windows where state in ('completed', 'rolled_back', 'cancelled')
               order by ended_at desc, id limit $1))
          order by w.starts_at desc, w.id"
    );
    let rows: Vec<WindowRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(finished).fetch_all(db).await?;
    rows.into_iter().map(Window::try_from).collect()
}

/// A new draft window.
pub(crate) struct NewWindow<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub owner_id: Uuid,
    pub created_by: Option<Uuid>,
}

/// Inserts a draft with `components` and the `checklist` items; returns its id.
pub(crate) async fn insert(
    tx: &mut PgConnection,
    new: &NewWindow<'_>,
    components: &[Uuid],
    checklist: &Checklist,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into maintenance_windows (id, title, description, starts_at, ends_at, owner_id, created_by)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(new.title)
    .bind(new.description)
    .bind(from_jiff(new.starts_at))
    .bind(from_jiff(new.ends_at))
    .bind(new.owner_id)
    .bind(new.created_by)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into maintenance_window_components (window_id, component_id) select $1, unnest($2::uuid[])",
    )
    .bind(id)
    .bind(components)
    .execute(&mut *tx)
    .await?;
    for (position, item) in checklist.items().iter().enumerate() {
        insert_item(&mut *tx, id, item, i32::try_from(position).unwrap_or(i32::MAX)).await?;
    }
    Ok(id)
}

/// The change a use case makes to a window's own row; `None` leaves a column alone.
#[derive(Clone, Debug, Default)]
pub(crate) struct Changes<'a> {
    pub state: Option<WindowState>,
    pub title: Option<&'a str>,
    /// Markdown.
    pub description: Option<&'a str>,
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
    pub announced_at: Option<Timestamp>,
    /// Reason, approving user.
    pub short_notice: Option<(&'a str, Option<Uuid>)>,
    pub overlap_reason: Option<&'a str>,
    /// Reason, approving user, the unticked item keys.
    pub checklist_override: Option<(&'a str, Option<Uuid>, &'a [String])>,
    pub started_at: Option<Timestamp>,
    pub verifying_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub run_id: Option<Uuid>,
}

/// Applies `changes` (approvals at `now`) and bumps the version.
pub(crate) async fn update(
    tx: &mut PgConnection,
    id: Uuid,
    changes: &Changes<'_>,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    let (short_reason, short_by) = changes.short_notice.map_or((None, None), |(r, by)| (Some(r), by));
    let (override_reason, override_by, override_items) =
        changes.checklist_override.map_or((None, None, None), |(r, by, items)| (Some(r), by, Some(items)));
    sqlx::query(
        "update maintenance_windows set
            state = coalesce($2, state),
            announced_at = coalesce($3, announced_at),
            short_notice_reason = coalesce($4, short_notice_reason),
            short_notice_by = case when $4 is null then short_notice_by else $5 end,
            short_notice_at = case when $4 is null then short_notice_at else $13 end,
            overlap_reason = coalesce($6, overlap_reason),
            checklist_override_reason = coalesce($7, checklist_override_reason),
            checklist_override_by = case when $7 is null then checklist_override_by else $8 end,
            checklist_override_at = case when $7 is null then checklist_override_at else $13 end,
            checklist_override_items = coalesce($9, checklist_override_items),
            started_at = coalesce($10, started_at),
            verifying_at = coalesce($11, verifying_at),
            ended_at = coalesce($12, ended_at),
            run_id = coalesce($14, run_id),
            title = coalesce($15, title),
            description = coalesce($16, description),
            starts_at = coalesce($17, starts_at),
            ends_at = coalesce($18, ends_at),
            version = version + 1,
            updated_at = $13
          where id = $1",
    )
    .bind(id)
    .bind(changes.state.map(WindowState::as_str))
    .bind(changes.announced_at.map(from_jiff))
    .bind(short_reason)
    .bind(short_by)
    .bind(changes.overlap_reason)
    .bind(override_reason)
    .bind(override_by)
    .bind(override_items)
    .bind(changes.started_at.map(from_jiff))
    .bind(changes.verifying_at.map(from_jiff))
    .bind(changes.ended_at.map(from_jiff))
    .bind(from_jiff(now))
    .bind(changes.run_id)
    .bind(changes.title)
    .bind(changes.description)
    .bind(changes.starts_at.map(from_jiff))
    .bind(changes.ends_at.map(from_jiff))
    .execute(tx)
    .await?;
    Ok(())
}

/// Makes `components` the affected components of window `id`.
pub(crate) async fn set_components(
    tx: &mut PgConnection,
    id: Uuid,
    components: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from maintenance_window_components where window_id = $1 and component_id <> all($2)")
        .bind(id)
        .bind(components)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into maintenance_window_components (window_id, component_id) select $1, unnest($2::uuid[])
         on conflict do nothing",
    )
    .bind(id)
    .bind(components)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A component a window affects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WindowComponent {
    pub id: Uuid,
    pub name: String,
}

/// The components of window `id`, by group and position as on the status page.
pub(crate) async fn components(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Vec<WindowComponent>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "select c.id, c.name from maintenance_window_components wc join components c on c.id = wc.component_id
           left join component_groups g on g.id = c.group_id
          where wc.window_id = $1 order by coalesce(g.position, 1000000), c.position, c.name",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(id, name)| WindowComponent { id, name }).collect())
}

/// The components of each window of `ids`.
pub(crate) async fn components_of(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<WindowComponent>>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "select wc.window_id, c.id, c.name from maintenance_window_components wc
           join components c on c.id = wc.component_id
           left join component_groups g on g.id = c.group_id
          where wc.window_id = any($1) order by coalesce(g.position, 1000000), c.position, c.name",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let mut map: HashMap<Uuid, Vec<WindowComponent>> = HashMap::new();
    for (window, id, name) in rows {
        map.entry(window).or_default().push(WindowComponent { id, name });
    }
    Ok(map)
}

/// Scheduled and in-progress windows sharing a component of `components` whose planned times
/// meet `[from, until)`, for the overlap check.
pub(crate) async fn overlap_candidates(
    db: &mut PgConnection,
    components: &[Uuid],
    from: Timestamp,
    until: Timestamp,
) -> Result<Vec<OtherWindow>, sqlx::Error> {
    let rows: Vec<(Uuid, String, OffsetDateTime, OffsetDateTime, Vec<Uuid>)> = sqlx::query_as(
        "select w.id, w.state, w.starts_at, w.ends_at, array_agg(wc.component_id order by wc.component_id)
           from maintenance_windows w join maintenance_window_components wc on wc.window_id = w.id
          where w.state in ('scheduled', 'in_progress') and w.starts_at < $3 and $2 < w.ends_at
            and w.id in (select window_id from maintenance_window_components where component_id = any($1))
          group by w.id",
    )
    .bind(components)
    .bind(from_jiff(from))
    .bind(from_jiff(until))
    .fetch_all(&mut *db)
    .await?;
    rows.into_iter()
        .map(|(id, state, starts, ends, components)| {
            Ok(OtherWindow {
                id,
                components,
                starts_at: to_jiff(starts),
                ends_at: to_jiff(ends),
                state: state_of(&state)?,
            })
        })
        .collect()
}

/// Titles of the windows `ids`, for messages about overlaps.
pub(crate) async fn titles(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("select id, title from maintenance_windows where id = any($1)")
            .bind(ids)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().collect())
}

// ---------------------------------------------------------------------------------------------
// The checklist

#[derive(sqlx::FromRow)]
struct ItemRow {
    key: String,
    label: String,
    evidence_required: bool,
    ticked_by: Option<Uuid>,
    ticked_by_label: Option<String>,
    ticked_at: Option<OffsetDateTime>,
    evidence: Option<String>,
}

/// A checklist item with who ticked it, as shown.
#[derive(Clone, Debug)]
pub(crate) struct ShownItem {
    pub item: ChecklistItem,
    pub ticked_by_label: Option<String>,
}

/// The checklist of window `id` in display order, with who ticked each item.
pub(crate) async fn checklist(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<(Checklist, Vec<ShownItem>), sqlx::Error> {
    let rows: Vec<ItemRow> = sqlx::query_as(
        "select key, label, evidence_required, ticked_by, ticked_by_label, ticked_at, evidence
           from maintenance_checklist_items where window_id = $1 order by position, key",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    let mut shown = Vec::with_capacity(rows.len());
    for row in rows {
        let tick = match (row.ticked_by, row.ticked_at) {
            (Some(by), Some(at)) => Some(Tick { by, at: to_jiff(at), evidence: row.evidence }),
            _ => None,
        };
        let key = ItemKey::parse(&row.key).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        shown.push(ShownItem {
            item: ChecklistItem { key, label: row.label, evidence_required: row.evidence_required, tick },
            ticked_by_label: row.ticked_by_label,
        });
    }
    let checklist = Checklist::from_items(shown.iter().map(|s| s.item.clone()).collect())
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok((checklist, shown))
}

/// Inserts one checklist item at `position`.
pub(crate) async fn insert_item(
    db: impl PgExecutor<'_>,
    window_id: Uuid,
    item: &ChecklistItem,
    position: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into maintenance_checklist_items (window_id, key, position, label, evidence_required)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(window_id)
    .bind(item.key.as_str())
    .bind(position)
    .bind(&item.label)
    .bind(item.evidence_required)
    .execute(db)
    .await?;
    Ok(())
}

/// Stores an item's tick (`None`: unticked), signed `by_label`.
pub(crate) async fn set_tick(
    db: impl PgExecutor<'_>,
    window_id: Uuid,
    key: &str,
    tick: Option<&Tick>,
    by_label: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update maintenance_checklist_items set ticked_by = $3, ticked_at = $4, evidence = $5, ticked_by_label = $6
          where window_id = $1 and key = $2",
    )
    .bind(window_id)
    .bind(key)
    .bind(tick.map(|t| t.by))
    .bind(tick.map(|t| from_jiff(t.at)))
    .bind(tick.and_then(|t| t.evidence.as_deref()))
    .bind(by_label)
    .execute(db)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Public updates and the event log

/// A public update of a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Update {
    pub id: Uuid,
    pub window_id: Uuid,
    pub at: Timestamp,
    pub status: PublicStatus,
    /// Markdown.
    pub body: String,
    pub actor_label: String,
}

fn public_status_of(stored: &str) -> Result<PublicStatus, sqlx::Error> {
    PublicStatus::ALL.into_iter().find(|s| s.as_str() == stored).ok_or_else(|| decode_err("status", stored))
}

/// Adds a public update; returns it.
pub(crate) async fn insert_update(
    db: impl PgExecutor<'_>,
    window_id: Uuid,
    status: PublicStatus,
    body: &str,
    actor_user_id: Option<Uuid>,
    actor_label: &str,
) -> Result<Update, sqlx::Error> {
    let id = Uuid::now_v7();
    let at: OffsetDateTime = sqlx::query_scalar(
        "insert into maintenance_updates (id, window_id, status, body, actor_user_id, actor_label)
         values ($1, $2, $3, $4, $5, $6) returning at",
    )
    .bind(id)
    .bind(window_id)
    .bind(status.as_str())
    .bind(body)
    .bind(actor_user_id)
    .bind(actor_label)
    .fetch_one(db)
    .await?;
    Ok(Update {
        id,
        window_id,
        at: to_jiff(at),
        status,
        body: body.to_owned(),
        actor_label: actor_label.to_owned(),
    })
}

type UpdateRow = (Uuid, Uuid, OffsetDateTime, String, String, String);

fn update_of(row: UpdateRow) -> Result<Update, sqlx::Error> {
    let (id, window_id, at, status, body, actor_label) = row;
    Ok(Update { id, window_id, at: to_jiff(at), status: public_status_of(&status)?, body, actor_label })
}

/// The public updates of window `id`, newest first.
pub(crate) async fn updates(db: impl PgExecutor<'_>, id: Uuid) -> Result<Vec<Update>, sqlx::Error> {
    let rows: Vec<UpdateRow> = sqlx::query_as(
        "select id, window_id, at, status, body, actor_label from maintenance_updates
          where window_id = $1 order by at desc, id desc",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(update_of).collect()
}

/// One entry of a window's log.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub at: Timestamp,
    /// One line for people, naming who did what.
    pub summary: String,
}

/// Appends to window `window_id`'s log.
pub(crate) async fn append_event(
    db: impl PgExecutor<'_>,
    window_id: Uuid,
    kind: &str,
    actor_user_id: Option<Uuid>,
    actor_label: &str,
    summary: &str,
    data: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into maintenance_events (id, window_id, kind, actor_user_id, actor_label, summary, data)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(Uuid::now_v7())
    .bind(window_id)
    .bind(kind)
    .bind(actor_user_id)
    .bind(actor_label)
    .bind(summary)
    .bind(data)
    .execute(db)
    .await?;
    Ok(())
}

/// Window `id`'s log, oldest first.
pub(crate) async fn events(db: impl PgExecutor<'_>, id: Uuid) -> Result<Vec<Event>, sqlx::Error> {
    let rows: Vec<(OffsetDateTime, String)> =
        sqlx::query_as("select at, summary from maintenance_events where window_id = $1 order by at, id")
            .bind(id)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|(at, summary)| Event { at: to_jiff(at), summary }).collect())
}

// ---------------------------------------------------------------------------------------------
// Held-back health signals

/// The in-progress window covering `component_id`, if any (the earliest started).
pub(crate) async fn active_window_for(
    db: impl PgExecutor<'_>,
    component_id: Uuid,
) -> Result<Option<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "select w.id, w.title from maintenance_windows w
           join maintenance_window_components wc on wc.window_id = w.id
          where w.state = 'in_progress' and wc.component_id = $1 order by w.started_at, w.id limit 1",
    )
    .bind(component_id)
    .fetch_optional(db)
    .await
}

/// A signal a window held back.
#[derive(Clone, Debug)]
pub(crate) struct Suppressed {
    pub id: Uuid,
    pub service_id: Option<Uuid>,
    pub service_name: String,
    pub component_name: Option<String>,
    pub fired_at: Timestamp,
    pub reason: String,
    /// `recovered`, `incident`, `open_incident` or `no_incident` once checked at the end.
    pub outcome: Option<String>,
    pub checked_at: Option<Timestamp>,
    /// The incident's number when one was declared at the end.
    pub incident_number: Option<i64>,
}

/// Records a held-back signal on window `window_id`.
pub(crate) async fn insert_suppressed(
    db: impl PgExecutor<'_>,
    window_id: Uuid,
    service_id: Uuid,
    service_name: &str,
    component_id: Uuid,
    reason: &str,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into maintenance_suppressed_signals (id, window_id, service_id, service_name, component_id, reason)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(window_id)
    .bind(service_id)
    .bind(service_name)
    .bind(component_id)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(id)
}

/// The signals window `id` held back, oldest first.
pub(crate) async fn suppressed(db: impl PgExecutor<'_>, id: Uuid) -> Result<Vec<Suppressed>, sqlx::Error> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        Uuid,
        Option<Uuid>,
        String,
        Option<String>,
        OffsetDateTime,
        String,
        Option<String>,
        Option<OffsetDateTime>,
        Option<i64>,
    )> = sqlx::query_as(
        "select s.id, s.service_id, s.service_name, c.name, s.fired_at, s.reason, s.outcome, s.checked_at, i.number
           from maintenance_suppressed_signals s
           left join components c on c.id = s.component_id
           left join incidents i on i.id = s.incident_id
          where s.window_id = $1 order by s.fired_at, s.id",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                service_id,
                service_name,
                component_name,
                fired_at,
                reason,
                outcome,
                checked_at,
                number,
            )| {
                Suppressed {
                    id,
                    service_id,
                    service_name,
                    component_name,
                    fired_at: to_jiff(fired_at),
                    reason,
                    outcome,
                    checked_at: checked_at.map(to_jiff),
                    incident_number: number,
                }
            },
        )
        .collect())
}

/// Records the end-of-window check of the held-back signals `ids`.
pub(crate) async fn mark_checked(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
    outcome: &str,
    incident_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update maintenance_suppressed_signals set outcome = $2, checked_at = now(), incident_id = $3
          where id = any($1)",
    )
    .bind(ids)
    .bind(outcome)
    .bind(incident_id)
    .execute(db)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The status page's reads

/// Of `only` (or every component), those an in-progress window covers: the maintenance
/// signal of the status roll-up.
pub(crate) async fn components_in_maintenance(
    db: impl PgExecutor<'_>,
    only: Option<&[Uuid]>,
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let rows: Vec<Uuid> = sqlx::query_scalar(
        "select distinct wc.component_id from maintenance_window_components wc
           join maintenance_windows w on w.id = wc.window_id
          where w.state = 'in_progress' and ($1::uuid[] is null or wc.component_id = any($1))",
    )
    .bind(only)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().collect())
}

/// A window as the public sees it: every one that was announced (cancelled ones too, so the
/// calendar feed can withdraw them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PublicWindow {
    pub id: Uuid,
    pub title: String,
    /// Markdown.
    pub description: String,
    pub state: WindowState,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub announced_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub verifying_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub version: i32,
    pub updated_at: Timestamp,
    /// Affected component ids.
    pub components: Vec<Uuid>,
}

impl PublicWindow {
    /// Its Statuspage status (`None` for a cancelled window).
    pub(crate) fn public_status(&self) -> Option<PublicStatus> {
        self.state.public_status(self.verifying_at.is_some())
    }
}

#[derive(sqlx::FromRow)]
struct PublicRow {
    id: Uuid,
    title: String,
    description: String,
    state: String,
    starts_at: OffsetDateTime,
    ends_at: OffsetDateTime,
    announced_at: OffsetDateTime,
    started_at: Option<OffsetDateTime>,
    verifying_at: Option<OffsetDateTime>,
    ended_at: Option<OffsetDateTime>,
    version: i32,
    updated_at: OffsetDateTime,
    components: Vec<Uuid>,
}

/// Every announced window, latest planned start first.
pub(crate) async fn public_windows(db: impl PgExecutor<'_>) -> Result<Vec<PublicWindow>, sqlx::Error> {
    let rows: Vec<PublicRow> = sqlx::query_as(
        "select w.id, w.title, w.description, w.state, w.starts_at, w.ends_at, w.announced_at, w.started_at,
                w.verifying_at, w.ended_at, w.version, w.updated_at,
                coalesce(array(select wc.component_id from maintenance_window_components wc
                                join components c on c.id = wc.component_id
                               where wc.window_id = w.id order by c.position, c.name), '{}') as components
           from maintenance_windows w
          where w.announced_at is not null
          order by w.starts_at desc, w.id",
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(PublicWindow {
                id: r.id,
                title: r.title,
                description: r.description,
                state: state_of(&r.state)?,
                starts_at: to_jiff(r.starts_at),
                ends_at: to_jiff(r.ends_at),
                announced_at: to_jiff(r.announced_at),
                started_at: r.started_at.map(to_jiff),
                verifying_at: r.verifying_at.map(to_jiff),
                ended_at: r.ended_at.map(to_jiff),
                version: r.version,
                updated_at: to_jiff(r.updated_at),
                components: r.components,
            })
        })
        .collect()
}

/// The public updates of every announced window, oldest first.
pub(crate) async fn public_updates(db: impl PgExecutor<'_>) -> Result<Vec<Update>, sqlx::Error> {
    let rows: Vec<UpdateRow> = sqlx::query_as(
        "select u.id, u.window_id, u.at, u.status, u.body, '' from maintenance_updates u
           join maintenance_windows w on w.id = u.window_id
          where w.announced_at is not null order by u.at, u.id",
    )
    .fetch_all(db)
    .await?;
    rows.into_iter().map(update_of).collect()
}
