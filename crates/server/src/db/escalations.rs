//! Escalations as managers review them (`escalations`, kept in step with the timeline by a
//! trigger): the filtered, keyset-paginated list with each row's notification outcomes, the
//! unreviewed count for the navigation, and the review itself.

use jiff::Timestamp;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::{from_jiff, to_jiff};

/// What an escalation was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum EscalationKind {
    /// The primary did not acknowledge in time; the secondary was paged.
    MissedAcknowledgement,
    /// The incident reached the manager on call.
    ManagerEscalation,
    /// The response target passed without an acknowledgement.
    SlaBreach,
}

impl EscalationKind {
    pub(crate) const ALL: [EscalationKind; 3] =
        [EscalationKind::MissedAcknowledgement, EscalationKind::ManagerEscalation, EscalationKind::SlaBreach];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            EscalationKind::MissedAcknowledgement => "missed_acknowledgement",
            EscalationKind::ManagerEscalation => "manager_escalation",
            EscalationKind::SlaBreach => "sla_breach",
        }
    }

    pub(crate) const fn label(self) -> &'static str {
        match self {
            EscalationKind::MissedAcknowledgement => "Missed acknowledgement",
            EscalationKind::ManagerEscalation => "Escalated to the manager",
            EscalationKind::SlaBreach => "Response SLA breached",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A level of the paging chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Level {
    Primary,
    Secondary,
    Manager,
}

impl Level {
    pub(crate) const ALL: [Level; 3] = [Level::Primary, Level::Secondary, Level::Manager];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Level::Primary => "primary",
            Level::Secondary => "secondary",
            Level::Manager => "manager",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// The list's filters; `None` is "any".
#[derive(Clone, Debug, Default)]
pub(crate) struct Filter {
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub severity: Option<&'static str>,
    pub level: Option<Level>,
    /// The person on call or paged.
    pub person: Option<Uuid>,
    /// `Some(true)`: reviewed only; `Some(false)`: unreviewed only.
    pub reviewed: Option<bool>,
}

/// Position after the last row of a page: newest first, then event id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub fired_at: Timestamp,
    pub event_id: Uuid,
}

impl Cursor {
    /// `<unix nanos>.<event id>`.
    pub(crate) fn encode(&self) -> String {
        format!("{}.{}", self.fired_at.as_nanosecond(), self.event_id)
    }

    /// The shape of an encoded cursor, for the API's document.
    pub(crate) const PATTERN: &'static str =
        r"^-?[0-9]{1,19}\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

    /// Reads what [`Cursor::encode`] wrote: exactly the texts of [`Cursor::PATTERN`] (every one
    /// of them decodes).
    pub(crate) fn decode(text: &str) -> Option<Self> {
        let (nanos, id) = text.split_once('.')?;
        let digits = nanos.strip_prefix('-').unwrap_or(nanos);
        if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let hyphens = [8, 13, 18, 23];
        let id_ok = id.len() == 36
            && id.bytes().enumerate().all(|(i, b)| {
                if hyphens.contains(&i) {
                    b == b'-'
                } else {
                    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
                }
            });
        if !id_ok {
            return None;
        }
        let fired_at = Timestamp::from_nanosecond(nanos.parse::<i128>().ok()?).ok()?;
        Some(Self { fired_at, event_id: id.parse().ok()? })
    }
}

/// How the notifications of one escalation fared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcomes {
    pub delivered: i64,
    /// Delivered, but only after failed attempts.
    pub delivered_after_retry: i64,
    /// Failed at least once and waiting for its next attempt.
    pub retrying: i64,
    pub dead: i64,
    /// Not tried yet.
    pub queued: i64,
}

/// One escalation with its incident and review.
#[derive(Clone, Debug)]
pub(crate) struct Escalation {
    pub event_id: Uuid,
    pub number: i64,
    pub title: String,
    pub severity: String,
    pub kind: EscalationKind,
    pub level: Level,
    pub fired_at: Timestamp,
    pub on_call: Option<String>,
    pub paged: Option<String>,
    pub acknowledged_at: Option<Timestamp>,
    pub respond_by: Timestamp,
    pub reviewed_at: Option<Timestamp>,
    pub reviewer: Option<String>,
    pub review_comment: Option<String>,
    pub follow_up: Option<String>,
    pub outcomes: Outcomes,
}

#[derive(sqlx::FromRow)]
struct Row {
    event_id: Uuid,
    number: i64,
    title: String,
    severity: String,
    kind: String,
    level: String,
    fired_at: OffsetDateTime,
    on_call: Option<String>,
    paged: Option<String>,
    acknowledged_at: Option<OffsetDateTime>,
    respond_by: OffsetDateTime,
    reviewed_at: Option<OffsetDateTime>,
    reviewer: Option<String>,
    review_comment: Option<String>,
    follow_up: Option<String>,
    delivered: i64,
    delivered_after_retry: i64,
    retrying: i64,
    dead: i64,
    queued: i64,
}

impl TryFrom<Row> for Escalation {
    type Error = sqlx::Error;

    fn try_from(r: Row) -> Result<Self, Self::Error> {
        let bad =
            |what: &str, v: &str| sqlx::Error::Decode(format!("unknown escalation {what} {v:?}").into());
        Ok(Escalation {
            kind: EscalationKind::parse(&r.kind).ok_or_else(|| bad("kind", &r.kind))?,
            level: Level::parse(&r.level).ok_or_else(|| bad("level", &r.level))?,
            event_id: r.event_id,
            number: r.number,
            title: r.title,
            severity: r.severity,
            fired_at: to_jiff(r.fired_at),
            on_call: r.on_call,
            paged: r.paged,
            acknowledged_at: r.acknowledged_at.map(to_jiff),
            respond_by: to_jiff(r.respond_by),
            reviewed_at: r.reviewed_at.map(to_jiff),
            reviewer: r.reviewer,
            review_comment: r.review_comment,
            follow_up: r.follow_up,
            outcomes: Outcomes {
                delivered: r.delivered,
                delivered_after_retry: r.delivered_after_retry,
                retrying: r.retrying,
                dead: r.dead,
                queued: r.queued,
            },
        })
    }
}

const SELECT: &str = "
    select e.event_id, e.incident_id, i.number, i.title, i.severity, e.kind, e.level, e.fired_at,
           oc.display_name as on_call, pg.display_name as paged, e.paged_user_id,
           i.acknowledged_at, i.respond_by, e.reviewed_at, rv.display_name as reviewer,
           e.review_comment, e.follow_up,
           coalesce(o.delivered, 0) as delivered, coalesce(o.delivered_after_retry, 0) as delivered_after_retry,
           coalesce(o.retrying, 0) as retrying, coalesce(o.dead, 0) as dead, coalesce(o.queued, 0) as queued
      from escalations e
      join incidents i on i.id = e.incident_id
      left join users oc on oc.id = e.on_call_user_id
      left join users pg on pg.id = e.paged_user_id
      left join users rv on rv.id = e.reviewed_by
      left join lateral (
          select count(*) filter (where n.state = 'delivered') as delivered,
                 count(*) filter (where n.state = 'delivered' and n.attempts > 1) as delivered_after_retry,
                 count(*) filter (where n.state = 'failed' or (n.state in ('pending', 'delivering') and n.attempts > 0)) as retrying,
                 count(*) filter (where n.state = 'dead') as dead,
                 count(*) filter (where n.state in ('pending', 'delivering') and n.attempts = 0) as queued
            from notifications n
           where n.incident_id = e.incident_id
             and n.event = case when e.kind = 'sla_breach' then 'sla_breached' else 'escalated' end
             and (e.kind = 'sla_breach' or n.payload -> 'paged' ->> 'role' = e.level)
      ) o on true";

/// One page of escalations matching `filter`, newest first, after `after`.
pub(crate) async fn list(
    db: impl PgExecutor<'_>,
    filter: &Filter,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<Escalation>, sqlx::Error> {
    let sql = format!(
        "{SELECT}
          where ($1::timestamptz is null or e.fired_at >= $1)
            and ($2::timestamptz is null or e.fired_at < $2)
            and ($3::text is null or i.severity = $3)
            and ($4::text is null or e.level = $4)
            and ($5::uuid is null or e.paged_user_id = $5 or e.on_call_user_id = $5)
            and ($6::boolean is null or (e.reviewed_at is not null) = $6)
            and ($7::timestamptz is null or (e.fired_at, e.event_id) < ($7, $8))
          order by e.fired_at desc, e.event_id desc
          limit $9"
    );
    // A fresh plan per call, so the index fitting the filters set is used (see db::incidents).
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .persistent(false)
        .bind(filter.from.map(from_jiff))
        .bind(filter.until.map(from_jiff))
        .bind(filter.severity)
        .bind(filter.level.map(Level::as_str))
        .bind(filter.person)
        .bind(filter.reviewed)
        .bind(after.map(|c| from_jiff(c.fired_at)))
        .bind(after.map(|c| c.event_id))
        .bind(limit)
        .fetch_all(db)
        .await?;
    rows.into_iter().map(Escalation::try_from).collect()
}

/// The escalations of one incident, oldest first.
pub(crate) async fn of_incident(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
) -> Result<Vec<Escalation>, sqlx::Error> {
    let sql = format!("{SELECT} where e.incident_id = $1 order by e.fired_at, e.event_id");
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(incident_id).fetch_all(db).await?;
    rows.into_iter().map(Escalation::try_from).collect()
}

/// One escalation, locked for its review.
pub(crate) async fn find_for_update(
    tx: &mut PgConnection,
    event_id: Uuid,
) -> Result<Option<Escalation>, sqlx::Error> {
    sqlx::query("select 1 from escalations where event_id = $1 for update")
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
    let sql = format!("{SELECT} where e.event_id = $1");
    let row: Option<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(event_id).fetch_optional(&mut *tx).await?;
    row.map(Escalation::try_from).transpose()
}

/// Records the review of an unreviewed escalation.
pub(crate) async fn mark_reviewed(
    tx: &mut PgConnection,
    event_id: Uuid,
    reviewer: Option<Uuid>,
    comment: &str,
    follow_up: Option<&str>,
) -> Result<Timestamp, sqlx::Error> {
    let at: OffsetDateTime = sqlx::query_scalar(
        "update escalations set reviewed_at = now(), reviewed_by = $2, review_comment = $3, follow_up = $4
          where event_id = $1 and reviewed_at is null
          returning reviewed_at",
    )
    .bind(event_id)
    .bind(reviewer)
    .bind(comment)
    .bind(follow_up)
    .fetch_one(&mut *tx)
    .await?;
    Ok(to_jiff(at))
}

/// How many escalations nobody has reviewed (the navigation's badge): an index-only count of
/// the partial index.
pub(crate) async fn unreviewed_count(db: impl PgExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from escalations where reviewed_at is null").fetch_one(db).await
}
