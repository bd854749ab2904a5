//! Demo use cases: point the demo services at this process's simulated services (at a start
//! with `--demo`), disable them (at a start without it), and switch a simulated service's mode
//! (audited). Service changes go through `overview::service`, so they are audited and move the
//! status page like an admin's edit.

use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::{Blueprint, FAILURES_BEFORE_DOWN, INTERVAL_SECONDS, MODES, Simulated, TIMEOUT_MS};
use crate::db::audit::{self, Actor, Entry};
use crate::db::components;
use crate::db::health as store;
use crate::overview::definition::ServiceSpec;
use crate::overview::service::{self as services, ServiceError, ServiceInput, Via};
use crate::web::error::AppError;

/// Who the demo's own changes are recorded as.
pub(crate) fn demo_actor() -> Actor {
    Actor { user_id: None, label: "demo mode".into(), client_addr: None, request_id: None }
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error(
        "a service called {0} exists and is not demo data; rename it in /admin/services, or start without --demo"
    )]
    NameTaken(String),
    #[error("cannot write the demo service {name}: {source}")]
    Service { name: String, source: ServiceError },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The demo service a blueprint describes, probing `url`.
fn input(blueprint: &Blueprint, url: &str, component_id: Option<uuid::Uuid>) -> ServiceInput {
    let mut spec = ServiceSpec::new(blueprint.name, url);
    spec.expect = blueprint.expect.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    spec.interval_seconds = INTERVAL_SECONDS;
    spec.timeout_ms = TIMEOUT_MS;
    spec.failures_before_down = FAILURES_BEFORE_DOWN;
    spec.impact = blueprint.impact;
    spec.open_incident = blueprint.open_incident;
    spec.enabled = true;
    let mut input = ServiceInput::new(spec, component_id);
    input.demo = true;
    input
}

/// Creates the demo services, or points the ones an earlier demo run left at this run's ports,
/// and enables them — in one transaction, audited as "demo mode". A service of the same name
/// that is not demo data stops the start: the demo never takes over a real service.
pub(crate) async fn point_services(pool: &PgPool, simulated: &Simulated) -> Result<(), StartError> {
    let mut tx = pool.begin().await?;
    let actor = demo_actor();
    let existing_components = components::list(&mut *tx).await?;
    for service in simulated.services() {
        let blueprint = &service.blueprint;
        let name = blueprint.name;
        let failed = |source| StartError::Service { name: name.to_owned(), source };
        match store::find_by_name(&mut *tx, name).await? {
            None => {
                let component =
                    existing_components.iter().find(|c| c.id == blueprint.component).map(|c| c.id);
                services::create(
                    &mut tx,
                    &actor,
                    Via::Pages,
                    &input(blueprint, &service.health_url(), component),
                )
                .await
                .map_err(failed)?;
            }
            Some(found) if found.demo => {
                // Settings an admin tuned on the demo service stay; only where it points moves.
                let mut changed = services::input_of(&found);
                changed.spec.url = service.health_url();
                changed.spec.enabled = true;
                services::update(&mut tx, &actor, Via::Pages, name, &changed).await.map_err(failed)?;
            }
            Some(_) => return Err(StartError::NameTaken(name.to_owned())),
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Disables the demo services an earlier `--demo` run left enabled (audited; their components
/// stop following them); returns how many. Called at every start without `--demo`.
pub(crate) async fn retire(pool: &PgPool) -> Result<usize, ServiceError> {
    let mut tx = pool.begin().await?;
    let mut retired = 0;
    for found in store::list(&mut *tx).await? {
        if found.demo && found.enabled {
            let mut changed = services::input_of(&found);
            changed.spec.enabled = false;
            services::update(&mut tx, &Actor::system(), Via::Pages, &found.name, &changed).await?;
            retired += 1;
        }
    }
    tx.commit().await?;
    Ok(retired)
}

/// Why a mode switch was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SwitchError {
    #[error("there is no simulated service {0}")]
    NotFound(String),
    #[error("unknown mode {0:?}")]
    UnknownMode(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<SwitchError> for AppError {
    fn from(e: SwitchError) -> Self {
        match e {
            SwitchError::NotFound(name) => {
                AppError::NotFoundThing { what: format!("Simulated service {name}") }
            }
            SwitchError::UnknownMode(_) => AppError::BadRequest(format!(
                "Choose one of the modes: {}.",
                MODES.iter().map(|(m, _)| *m).collect::<Vec<_>>().join(", ")
            )),
            SwitchError::Database(e) => e.into(),
        }
    }
}

/// Sets the simulated service behind demo service `name` to `mode` (one of [`MODES`]),
/// audited `demo.mode` with the mode before and after. Returns the mode it had.
pub(crate) async fn switch_mode(
    tx: &mut PgConnection,
    actor: &Actor,
    simulated: &Simulated,
    name: &str,
    mode: &str,
) -> Result<String, SwitchError> {
    let service = simulated.find(name).ok_or_else(|| SwitchError::NotFound(name.to_owned()))?;
    if !MODES.iter().any(|(m, _)| *m == mode) {
        return Err(SwitchError::UnknownMode(mode.to_owned()));
    }
    let before = service.target.mode();
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "demo.mode",
            target: format!("service:{name}"),
            before: Some(json!({ "mode": before })),
            after: Some(json!({ "mode": mode })),
        },
    )
    .await?;
    // Switched only once the audit row is written, so a refused row leaves the target as it was.
    service.target.set_mode(mode).map_err(|_| SwitchError::UnknownMode(mode.to_owned()))?;
    Ok(before)
}
