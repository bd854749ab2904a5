//! Tests of the managers' pages against real PostgreSQL: escalation review (list, filters,
//! pagination, reviewing, the navigation count, the role matrix, bad input).

mod escalations;
mod postmortems;
mod reports;

use sqlx::PgPool;
use twisterlab_domain::severity::Severity;

use crate::db::incidents::Incident;
use crate::escalation::deadlines::DeadlineWorker;
use crate::testing::builders::incident;

/// Declares an incident of `severity` (the team's primary is paged) and fires every deadline it
/// scheduled at once, as if nobody had acknowledged: the secondary page, the manager escalation
/// and the response SLA breach.
pub(super) async fn unanswered(pool: &PgPool, title: &str, severity: Severity) -> Incident {
    let incident = incident(title).severity(severity).declare(pool).await;
    sqlx::query("update escalation_deadlines set due_at = now() - interval '1 second' where incident_id = $1 and state = 'pending'")
        .bind(incident.id)
        .execute(pool)
        .await
        .expect("make the deadlines due");
    DeadlineWorker::new(pool.clone()).run_once().await.expect("fire the deadlines");
    incident
}
