//! The change marker behind `GET /live`: a few maxima over indexed or small tables, read on
//! every poll of every open page, so it stays cheap.

use sqlx::PgExecutor;
use time::OffsetDateTime;

/// What moves when something a person would want to see on the overview, the incident list or
/// an incident page changes: every incident change appends a timeline event; a probed service
/// changes state, or is added, edited or removed; the checklist is dismissed. Readings that
/// change every few seconds anyway (metrics, last probe times) are left out on purpose, or the
/// pages would reload all the time.
pub(crate) async fn marker(db: impl PgExecutor<'_>) -> Result<String, sqlx::Error> {
    let (timeline, states, services, checklist): (
        Option<OffsetDateTime>,
        Option<OffsetDateTime>,
        String,
        Option<OffsetDateTime>,
    ) = sqlx::query_as(
        "select
           (select max(at) from timeline_events),
           (select max(state_since) from health_service_state),
           (select count(*) || ':' || coalesce(max(updated_at)::text, '') from health_services),
           (select dismissed_at from first_run_checklist)",
    )
    .fetch_one(db)
    .await?;
    let stamp = |t: Option<OffsetDateTime>| t.map(|t| t.unix_timestamp_nanos()).unwrap_or(0);
    Ok(format!("{:x}-{:x}-{services}-{:x}", stamp(timeline), stamp(states), stamp(checklist)))
}
