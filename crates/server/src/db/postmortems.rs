//! Postmortems, their timeline excerpt and action items (`postmortems`, `postmortem_events`,
//! `postmortem_actions`).

use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::to_jiff;

/// Where a postmortem stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum State {
    Draft,
    InReview,
    Published,
}

impl State {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::InReview => "in_review",
            State::Published => "published",
        }
    }

    pub(crate) const fn label(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::InReview => "in review",
            State::Published => "published",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [State::Draft, State::InReview, State::Published].into_iter().find(|x| x.as_str() == s)
    }
}

/// The written parts of a postmortem.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Texts {
    pub summary: String,
    pub impact: String,
    pub root_cause: String,
    pub contributing_factors: String,
    pub went_well: String,
    pub public_summary: String,
}

/// A postmortem.
#[derive(Clone, Debug)]
pub(crate) struct Postmortem {
    pub id: Uuid,
    pub state: State,
    pub texts: Texts,
    pub updated_at: Timestamp,
    pub published_at: Option<Timestamp>,
    /// Picked timeline events, in timeline order.
    pub excerpt: Vec<Uuid>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    state: String,
    summary: String,
    impact: String,
    root_cause: String,
    contributing_factors: String,
    went_well: String,
    public_summary: String,
    updated_at: OffsetDateTime,
    published_at: Option<OffsetDateTime>,
}

const SELECT: &str = "select id, state, summary, impact, root_cause, contributing_factors, went_well,
                             public_summary, updated_at, published_at from postmortems";

async fn finish(conn: &mut PgConnection, row: Option<Row>) -> Result<Option<Postmortem>, sqlx::Error> {
    let Some(r) = row else { return Ok(None) };
    let excerpt: Vec<Uuid> = sqlx::query_scalar(
        "select pe.event_id from postmortem_events pe join timeline_events t on t.id = pe.event_id
          where pe.postmortem_id = $1 order by t.at, t.id",
    )
    .bind(r.id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(Postmortem {
        state: State::parse(&r.state)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown postmortem state {:?}", r.state).into()))?,
        id: r.id,
        texts: Texts {
            summary: r.summary,
            impact: r.impact,
            root_cause: r.root_cause,
            contributing_factors: r.contributing_factors,
            went_well: r.went_well,
            public_summary: r.public_summary,
        },
        updated_at: to_jiff(r.updated_at),
        published_at: r.published_at.map(to_jiff),
        excerpt,
    }))
}

/// The postmortem of an incident.
pub(crate) async fn of_incident(
    conn: &mut PgConnection,
    incident_id: Uuid,
) -> Result<Option<Postmortem>, sqlx::Error> {
    let sql = format!("{SELECT} where incident_id = $1");
    let row: Option<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(incident_id).fetch_optional(&mut *conn).await?;
    finish(conn, row).await
}

/// The postmortem of an incident, locked for a change.
pub(crate) async fn lock_of_incident(
    conn: &mut PgConnection,
    incident_id: Uuid,
) -> Result<Option<Postmortem>, sqlx::Error> {
    let sql = format!("{SELECT} where incident_id = $1 for update");
    let row: Option<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(incident_id).fetch_optional(&mut *conn).await?;
    finish(conn, row).await
}

/// Starts a draft; `None` when the incident already has one (a concurrent start).
pub(crate) async fn insert(
    conn: &mut PgConnection,
    incident_id: Uuid,
    by: Option<Uuid>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "insert into postmortems (id, incident_id, created_by) values ($1, $2, $3)
         on conflict (incident_id) do nothing returning id",
    )
    .bind(Uuid::now_v7())
    .bind(incident_id)
    .bind(by)
    .fetch_optional(&mut *conn)
    .await
}

/// Saves the texts and the excerpt (events not of the incident are ignored).
pub(crate) async fn save(
    conn: &mut PgConnection,
    id: Uuid,
    texts: &Texts,
    excerpt: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update postmortems set summary = $2, impact = $3, root_cause = $4, contributing_factors = $5,
                went_well = $6, public_summary = $7, updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(&texts.summary)
    .bind(&texts.impact)
    .bind(&texts.root_cause)
    .bind(&texts.contributing_factors)
    .bind(&texts.went_well)
    .bind(&texts.public_summary)
    .execute(&mut *conn)
    .await?;
    sqlx::query("delete from postmortem_events where postmortem_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "insert into postmortem_events (postmortem_id, event_id)
         select $1, t.id from timeline_events t join postmortems p on p.id = $1
          where t.incident_id = p.incident_id and t.id = any($2)",
    )
    .bind(id)
    .bind(excerpt)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Moves a postmortem to `state` (publishing records who and when).
pub(crate) async fn set_state(
    conn: &mut PgConnection,
    id: Uuid,
    state: State,
    by: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update postmortems set state = $2, updated_at = now(),
                submitted_at = case when $2 = 'in_review' then now() else submitted_at end,
                published_at = case when $2 = 'published' then now() end,
                published_by = case when $2 = 'published' then $3 end
          where id = $1",
    )
    .bind(id)
    .bind(state.as_str())
    .bind(by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// An action item.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct ActionRow {
    pub id: Uuid,
    pub title: String,
    pub owner_id: Uuid,
    pub owner: String,
    pub due_on: time::Date,
    pub done_at: Option<OffsetDateTime>,
    pub incident_number: i64,
}

/// An action item as the pages show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Action {
    pub id: Uuid,
    pub title: String,
    pub owner_id: Uuid,
    pub owner: String,
    pub due_on: Date,
    pub done_at: Option<Timestamp>,
    pub incident_number: i64,
}

impl From<ActionRow> for Action {
    fn from(r: ActionRow) -> Self {
        let d = r.due_on;
        Action {
            id: r.id,
            title: r.title,
            owner_id: r.owner_id,
            owner: r.owner,
            due_on: Date::new(
                i16::try_from(d.year()).unwrap_or(i16::MAX),
                i8::try_from(u8::from(d.month())).unwrap_or(1),
                i8::try_from(d.day()).unwrap_or(1),
            )
            .unwrap_or(Date::MAX),
            done_at: r.done_at.map(to_jiff),
            incident_number: r.incident_number,
        }
    }
}

fn to_time_date(d: Date) -> Option<time::Date> {
    let month = time::Month::try_from(u8::try_from(d.month()).ok()?).ok()?;
    time::Date::from_calendar_date(i32::from(d.year()), month, u8::try_from(d.day()).ok()?).ok()
}

const ACTIONS: &str = "select a.id, a.title, a.owner_id, u.display_name as owner, a.due_on, a.done_at, i.number as incident_number
                         from postmortem_actions a
                         join users u on u.id = a.owner_id
                         join postmortems p on p.id = a.postmortem_id
                         join incidents i on i.id = p.incident_id";

/// The action items of a postmortem, oldest first.
pub(crate) async fn actions(
    db: impl PgExecutor<'_>,
    postmortem_id: Uuid,
) -> Result<Vec<Action>, sqlx::Error> {
    let sql = format!("{ACTIONS} where a.postmortem_id = $1 order by a.created_at, a.id");
    let rows: Vec<ActionRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(postmortem_id).fetch_all(db).await?;
    Ok(rows.into_iter().map(Action::from).collect())
}

/// Open action items due before `today` (team zone), of `owner` or of everyone, soonest first.
pub(crate) async fn overdue(
    db: impl PgExecutor<'_>,
    today: Date,
    owner: Option<Uuid>,
) -> Result<Vec<Action>, sqlx::Error> {
    let sql = format!(
        "{ACTIONS} where a.done_at is null and a.due_on < $1 and ($2::uuid is null or a.owner_id = $2)
          order by a.due_on, a.created_at limit 500"
    );
    let rows: Vec<ActionRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(to_time_date(today)).bind(owner).fetch_all(db).await?;
    Ok(rows.into_iter().map(Action::from).collect())
}

/// Adds an action item; returns its id.
pub(crate) async fn add_action(
    conn: &mut PgConnection,
    postmortem_id: Uuid,
    title: &str,
    owner_id: Uuid,
    due_on: Date,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query("insert into postmortem_actions (id, postmortem_id, title, owner_id, due_on) values ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(postmortem_id)
        .bind(title)
        .bind(owner_id)
        .bind(to_time_date(due_on))
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

/// Marks an open action item of the postmortem done; false when there is none such.
pub(crate) async fn complete_action(
    conn: &mut PgConnection,
    postmortem_id: Uuid,
    action_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update postmortem_actions set done_at = now() where id = $1 and postmortem_id = $2 and done_at is null",
    )
    .bind(action_id)
    .bind(postmortem_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The public summaries of published postmortems of the public incidents `ids`, with when
/// they were published (for the status page).
pub(crate) async fn published_public(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, String, Timestamp)>, sqlx::Error> {
    let rows: Vec<(Uuid, String, OffsetDateTime)> = sqlx::query_as(
        "select p.incident_id, p.public_summary, p.published_at from postmortems p
           join incidents i on i.id = p.incident_id
          where p.incident_id = any($1) and p.state = 'published' and not i.private and p.published_at is not null",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(id, body, at)| (id, body, to_jiff(at))).collect())
}
