//! The first-run checklist: the facts that mark each item done, and its dismissal
//! (`first_run_checklist`).

use jiff::Timestamp;
use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::to_jiff;

/// What exists, for the checklist's rules (`crate::setup::checklist`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    /// An admin created, edited or deleted a status-page component or group.
    pub components_reviewed: bool,
    /// At least one probed service is enabled.
    pub service_enabled: bool,
    pub active_users: i64,
    /// The responders' rotation has at least one person.
    pub rotation_staffed: bool,
    /// At least one enabled notification channel.
    pub channel_enabled: bool,
    /// An admin saved the SLA policy (changed or confirmed as it was).
    pub sla_reviewed: bool,
}

/// The facts, in one round trip.
pub(crate) async fn facts(db: impl PgExecutor<'_>) -> Result<Facts, sqlx::Error> {
    let (components_reviewed, service_enabled, active_users, rotation_staffed, channel_enabled, sla_reviewed): (
        bool,
        bool,
        i64,
        bool,
        bool,
        bool,
    ) = sqlx::query_as(
        "select
           exists (select 1 from audit_log where action = any($1) and actor_user_id is not null),
           exists (select 1 from health_services where enabled),
           (select count(*) from users where active),
           exists (select 1 from oncall_participants where kind = 'responders'),
           exists (select 1 from notification_channels where enabled),
           exists (select 1 from audit_log where action = 'sla.update')",
    )
    .bind(COMPONENT_ACTIONS)
    .fetch_one(db)
    .await?;
    Ok(Facts {
        components_reviewed,
        service_enabled,
        active_users,
        rotation_staffed,
        channel_enabled,
        sla_reviewed,
    })
}

/// The audit actions of an admin shaping the status page.
const COMPONENT_ACTIONS: &[&str] = &[
    "component.create",
    "component.update",
    "component.delete",
    "component_group.create",
    "component_group.update",
    "component_group.delete",
];

/// When the checklist was dismissed, if it was.
pub(crate) async fn dismissed(db: impl PgExecutor<'_>) -> Result<Option<Timestamp>, sqlx::Error> {
    let at: Option<OffsetDateTime> =
        sqlx::query_scalar("select dismissed_at from first_run_checklist").fetch_optional(db).await?;
    Ok(at.map(to_jiff))
}

/// Marks the checklist dismissed by `by`; `false` when it already was.
pub(crate) async fn dismiss(db: impl PgExecutor<'_>, by: Option<Uuid>) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("insert into first_run_checklist (dismissed_by) values ($1) on conflict do nothing")
            .bind(by)
            .execute(db)
            .await?;
    Ok(done.rows_affected() == 1)
}
