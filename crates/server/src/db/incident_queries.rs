//! Read-only incident queries the pages need beside `db::incidents`: the newest event (for
//! post/redirect/get anchors), corrections of a timeline, and the last few events (to explain
//! a stale form).

use serde_json::Value;
use sqlx::PgExecutor;
use time::OffsetDateTime;
use twisterlab_domain::incident::TimelineKind;
use uuid::Uuid;

use crate::db::incidents::TimelineEvent;

/// The id of the incident's newest timeline event.
pub async fn latest_event_id(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "select id from timeline_events where incident_id = $1 order by at desc, id desc limit 1",
    )
    .bind(incident_id)
    .fetch_optional(db)
    .await
}

/// Every correction of the incident as (corrected event, correcting event), oldest first.
pub async fn corrections(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "select corrects_id, id from timeline_events where incident_id = $1 and corrects_id is not null order by at, id",
    )
    .bind(incident_id)
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    incident_id: Uuid,
    at: OffsetDateTime,
    kind: String,
    actor_user_id: Option<Uuid>,
    actor_label: String,
    body: Option<String>,
    data: Value,
    public: bool,
    public_status: Option<String>,
    corrects_id: Option<Uuid>,
}

/// The newest `limit` events, oldest of them first.
pub async fn recent_events(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    limit: i64,
) -> Result<Vec<TimelineEvent>, sqlx::Error> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "select * from (
             select id, incident_id, at, kind, actor_user_id, actor_label, body, data, public, public_status, corrects_id
               from timeline_events where incident_id = $1 order by at desc, id desc limit $2
         ) newest order by at, id",
    )
    .bind(incident_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(TimelineEvent {
                id: r.id,
                incident_id: r.incident_id,
                at: r.at,
                kind: r.kind.parse::<TimelineKind>().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                actor_user_id: r.actor_user_id,
                actor_label: r.actor_label,
                body: r.body,
                data: r.data,
                public: r.public,
                public_status: r.public_status,
                corrects_id: r.corrects_id,
            })
        })
        .collect()
}
