//! Builders for what tests arrange: incidents declared through the real use case and the
//! standard on-call team.

use sqlx::PgPool;
use time::OffsetDateTime;
use twisterlab_domain::incident::Impact;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::{actor, person};
use crate::db::audit::Actor;
use crate::db::incidents::Incident;
use crate::db::oncall::{self, RotationKind, RotationSettings};
use crate::db::users::User;
use crate::incidents::service::{self, Declaration};

/// An incident to declare through `incidents::service::declare`, as `by` (or the system).
#[derive(Clone, Debug)]
pub struct IncidentBuilder {
    declaration: Declaration,
    by: Actor,
}

/// A P2 incident titled `title`, declared by the system now.
pub fn incident(title: &str) -> IncidentBuilder {
    IncidentBuilder {
        declaration: Declaration { title: title.into(), severity: Some(Severity::P2), ..Default::default() },
        by: Actor::system(),
    }
}

impl IncidentBuilder {
    pub fn severity(mut self, severity: Severity) -> Self {
        self.declaration.severity = Some(severity);
        self
    }

    /// Started `ago` before now.
    pub fn started_ago(mut self, ago: time::Duration) -> Self {
        self.declaration.started_at = Some(OffsetDateTime::now_utc() - ago);
        self
    }

    pub fn summary(mut self, summary: &str) -> Self {
        self.declaration.summary = summary.into();
        self
    }

    pub fn private(mut self, private: bool) -> Self {
        self.declaration.private = Some(private);
        self
    }

    pub fn security(mut self) -> Self {
        self.declaration.security = true;
        self
    }

    pub fn affecting(mut self, component: Uuid, impact: Impact) -> Self {
        self.declaration.components.push((component, impact));
        self
    }

    pub fn commander(mut self, user: &User) -> Self {
        self.declaration.commander_id = Some(user.id);
        self
    }

    /// Declared by `user` (else by the system).
    pub fn by(mut self, user: &User) -> Self {
        self.by = actor(user);
        self
    }

    /// Declares it, committed; the team's zone is UTC.
    pub async fn declare(self, pool: &PgPool) -> Incident {
        let mut tx = pool.begin().await.expect("begin");
        let incident = service::declare(&mut tx, &self.by, &jiff::tz::TimeZone::UTC, &self.declaration)
            .await
            .expect("the test incident is valid");
        tx.commit().await.expect("commit");
        incident
    }
}

/// The standard team: Alice and Bob rotate weekly, Alice covers now by an override (so Alice
/// is primary and Bob secondary whatever the date), Mia is the manager.
pub struct Team {
    pub alice: User,
    pub bob: User,
    pub mia: User,
}

/// Creates the [`Team`] with its rotations, committed.
pub async fn team(pool: &PgPool) -> Team {
    let alice = person(pool, "Alice", Role::Responder).await;
    let bob = person(pool, "Bob", Role::Responder).await;
    let mia = person(pool, "Mia", Role::Manager).await;
    let mut tx = pool.begin().await.expect("begin");
    let weekly = |participants| RotationSettings {
        time_zone: "UTC",
        starts_on: time::macros::date!(2026 - 01 - 05),
        handoff_weekday: 1,
        handoff_time: time::macros::time!(09:00),
        length_days: 7,
        participants,
    };
    let (responders, managers) = ([alice.id, bob.id], [mia.id]);
    oncall::save_rotation(&mut tx, RotationKind::Responders, &weekly(&responders)).await.expect("responders");
    oncall::save_rotation(&mut tx, RotationKind::Managers, &weekly(&managers)).await.expect("managers");
    let now = OffsetDateTime::now_utc();
    oncall::insert_override(
        &mut *tx,
        RotationKind::Responders,
        alice.id,
        now - time::Duration::hours(1),
        now + time::Duration::hours(6),
        "test cover",
        None,
    )
    .await
    .expect("override");
    tx.commit().await.expect("commit");
    Team { alice, bob, mia }
}

impl IncidentBuilder {
    /// With the label `label` (labels are internal: they never reach the status page).
    pub fn label(mut self, label: &str) -> Self {
        self.declaration.labels.push(label.into());
        self
    }
}
