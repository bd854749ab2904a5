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
        starts_on: jiff::civil::date(2026, 1, 5),
        handoff_weekday: 1,
        handoff_time: jiff::civil::time(9, 0, 0, 0),
        length_days: 7,
        participants,
    };
    let (responders, managers) = ([alice.id, bob.id], [mia.id]);
    oncall::save_rotation(&mut tx, RotationKind::Responders, &weekly(&responders)).await.expect("responders");
    oncall::save_rotation(&mut tx, RotationKind::Managers, &weekly(&managers)).await.expect("managers");
    let now = jiff::Timestamp::now();
    oncall::insert_override(
        &mut *tx,
        RotationKind::Responders,
        alice.id,
        now - jiff::SignedDuration::from_hours(1),
        now + jiff::SignedDuration::from_hours(6),
        "test cover",
        None,
    )
    .await
    .expect("override");
    tx.commit().await.expect("commit");
    Team { alice, bob, mia }
}

/// A probed service to create through `overview::service::create`, as the admin pages do.
#[derive(Clone, Debug)]
pub struct ServiceBuilder {
    spec: crate::overview::definition::ServiceSpec,
    component: Option<String>,
}

/// A service called `name` probing a closed local port (every probe fails with a refused
/// connection) every 5 s with a 1 s timeout, down after 3 failures, opening no incident.
pub fn service(name: &str) -> ServiceBuilder {
    ServiceBuilder {
        spec: crate::overview::definition::ServiceSpec {
            interval_seconds: 5,
            timeout_ms: 1000,
            ..crate::overview::definition::ServiceSpec::new(name, "http://127.0.0.1:9/health")
        },
        component: None,
    }
}

impl ServiceBuilder {
    pub fn url(mut self, url: &str) -> Self {
        self.spec.url = url.into();
        self
    }

    /// The JSON fields its answer must have.
    pub fn expecting(mut self, expect: std::collections::BTreeMap<String, serde_json::Value>) -> Self {
        self.spec.expect = expect;
        self
    }

    /// Down after `failures` failed probes in a row.
    pub fn down_after(mut self, failures: i32) -> Self {
        self.spec.failures_before_down = failures;
        self
    }

    /// Declares a `severity` incident when down.
    pub fn opens(mut self, severity: Severity) -> Self {
        self.spec.open_incident = Some(severity);
        self
    }

    /// Its component recovers after `passes` passing checks in a row.
    pub fn up_after(mut self, passes: i32) -> Self {
        self.spec.passes_before_up = passes;
        self
    }

    /// Only degrades its component when down (impact degraded performance).
    pub fn degrades(mut self) -> Self {
        self.spec.impact = twisterlab_domain::incident::Impact::DegradedPerformance;
        self
    }

    /// Declares its incidents public at once.
    pub fn public_incidents(mut self) -> Self {
        self.spec.public_incidents = true;
        self
    }

    /// Degrades the component called `name` (seeded: "API", "Cache"…) when down.
    pub fn component(mut self, name: &str) -> Self {
        self.component = Some(name.into());
        self
    }

    /// Creates it, committed, as the system; returns its id.
    pub async fn create(self, pool: &PgPool) -> Uuid {
        use crate::overview::service::{self as services, ServiceInput, Via};
        let component_id = match &self.component {
            Some(name) => {
                let found = crate::db::components::id_by_name(pool, name).await.expect("component lookup");
                Some(found.unwrap_or_else(|| panic!("no component called {name}")))
            }
            None => None,
        };
        let mut tx = pool.begin().await.expect("begin");
        let id = services::create(
            &mut tx,
            &Actor::system(),
            Via::Pages,
            &ServiceInput::new(self.spec, component_id),
        )
        .await
        .expect("the test service is valid");
        tx.commit().await.expect("commit");
        id
    }
}

impl IncidentBuilder {
    /// With the label `label` (labels are internal: they never reach the status page).
    pub fn label(mut self, label: &str) -> Self {
        self.declaration.labels.push(label.into());
        self
    }
}

/// A maintenance window to create through `maintenance::service::create`, as a draft.
#[derive(Clone, Debug)]
pub struct WindowBuilder {
    title: String,
    components: Vec<String>,
    starts_in: jiff::SignedDuration,
    length: jiff::SignedDuration,
}

/// A window titled `title` on the component "API", starting in 72 hours, lasting 3 hours.
pub fn window(title: &str) -> WindowBuilder {
    WindowBuilder {
        title: title.into(),
        components: vec!["API".into()],
        starts_in: jiff::SignedDuration::from_hours(72),
        length: jiff::SignedDuration::from_hours(3),
    }
}

impl WindowBuilder {
    /// On the components called `names` (seeded: "API", "Database"…).
    pub fn on(mut self, names: &[&str]) -> Self {
        self.components = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    /// Starting `d` from now.
    pub fn starting_in(mut self, d: jiff::SignedDuration) -> Self {
        self.starts_in = d;
        self
    }

    /// Lasting `d`.
    pub fn lasting(mut self, d: jiff::SignedDuration) -> Self {
        self.length = d;
        self
    }

    /// Creates the draft as `by`, committed; returns its id.
    pub async fn create(self, pool: &PgPool, by: &User) -> Uuid {
        let mut components = vec![];
        for name in &self.components {
            let id = crate::db::components::id_by_name(pool, name).await.expect("component lookup");
            components.push(id.unwrap_or_else(|| panic!("no component called {name}")));
        }
        let now = jiff::Timestamp::now();
        let input = crate::maintenance::service::WindowInput {
            title: self.title,
            description: String::new(),
            starts_at: now + self.starts_in,
            ends_at: now + self.starts_in + self.length,
            components,
            owner_id: None,
        };
        let mut tx = pool.begin().await.expect("begin");
        let window = crate::maintenance::service::create(
            &mut tx,
            &actor(by),
            &input,
            jiff::SignedDuration::from_hours(12),
            now,
        )
        .await
        .expect("the test window is valid");
        tx.commit().await.expect("commit");
        window.id
    }
}
