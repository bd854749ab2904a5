//! Service use cases: create, change and delete a probed service, and reconcile the
//! configuration file's `[[services]]`. Each runs on the caller's transaction — lock, check,
//! change, audit row — so the admin pages, a future API and the start-up reconciliation
//! behave the same. File-managed services are read-only everywhere but in the reconciliation.

use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::definition::ServiceSpec;
use crate::db::audit::{self, Actor, Entry};
use crate::db::components;
use crate::db::health::{self as store, Definition, Service, WriteError};
use crate::validation::{FieldError, FieldErrors};
use crate::web::error::AppError;

/// Who makes a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// The admin pages (or the API): file-managed services are refused.
    Pages,
    /// The reconciliation of the configuration file: it alone changes file-managed services,
    /// and what it writes becomes file-managed.
    File,
}

/// Why a service change was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServiceError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("service {0} does not exist")]
    NotFound(String),
    #[error("{0} is defined in the configuration file ([[services]]); change it there")]
    ManagedByFile(String),
    /// The HTTP client of a test probe could not be built (no TLS roots, say).
    #[error("the probe client could not start: {0}")]
    ProbeClient(#[from] reqwest::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(errors) => AppError::Validation(errors),
            ServiceError::NotFound(name) => AppError::NotFoundThing { what: format!("Service {name}") },
            ServiceError::ManagedByFile(_) => AppError::Conflict(e.to_string()),
            ServiceError::ProbeClient(e) => AppError::Internal(e.into()),
            ServiceError::Database(e) => e.into(),
        }
    }
}

/// A service as a caller describes it.
#[derive(Clone, Debug)]
pub(crate) struct ServiceInput {
    pub spec: ServiceSpec,
    /// The status-page component a down service degrades (the spec's component name is not
    /// used here: callers resolve it).
    pub component_id: Option<Uuid>,
    /// Problems met while reading the input (a number that is not one), reported together
    /// with the definition's own; a field listed here is not checked again.
    pub read_errors: Vec<FieldError>,
    /// Demo data (`serve --demo`): only the demo creates such services.
    pub demo: bool,
}

impl ServiceInput {
    /// A definition read without problems.
    pub(crate) fn new(spec: ServiceSpec, component_id: Option<Uuid>) -> Self {
        Self { spec, component_id, read_errors: vec![], demo: false }
    }

    /// Every problem, one message per field at most from the definition's checks.
    fn check(&self) -> Result<(), ServiceError> {
        let mut errors: FieldErrors = self.read_errors.clone().into();
        for (field, message) in self.spec.problems() {
            if !errors.has(field) {
                errors.push(field, message);
            }
        }
        errors.into_result(()).map_err(ServiceError::Invalid)
    }

    fn definition(&self, managed_by_file: bool) -> Definition<'_> {
        let s = &self.spec;
        Definition {
            name: &s.name,
            url: &s.url,
            expect: &s.expect,
            interval_seconds: s.interval_seconds,
            timeout_ms: s.timeout_ms,
            failures_before_down: s.failures_before_down,
            component_id: self.component_id,
            impact: s.impact,
            open_incident: s.open_incident,
            passes_before_up: s.passes_before_up,
            public_incidents: s.public_incidents,
            enabled: s.enabled,
            managed_by_file,
            demo: self.demo,
        }
    }

    /// The definition as audit rows record it.
    fn audit_json(&self, managed_by_file: bool) -> serde_json::Value {
        let s = &self.spec;
        json!({
            "name": s.name, "url": s.url, "expect": s.expect,
            "interval_seconds": s.interval_seconds, "timeout_ms": s.timeout_ms,
            "failures_before_down": s.failures_before_down, "component_id": self.component_id,
            "impact": s.impact.as_str(), "open_incident": s.open_incident.map(|sev| sev.as_str()),
            "passes_before_up": s.passes_before_up, "public_incidents": s.public_incidents,
            "enabled": s.enabled, "managed_by_file": managed_by_file,
        })
    }
}

/// The stored service as input (its component as an id).
pub(crate) fn input_of(service: &Service) -> ServiceInput {
    let mut input = ServiceInput::new(
        ServiceSpec {
            name: service.name.clone(),
            url: service.url.clone(),
            expect: service.expect.clone(),
            interval_seconds: service.interval_seconds,
            timeout_ms: service.timeout_ms,
            failures_before_down: service.failures_before_down,
            component: None,
            impact: service.impact,
            open_incident: service.open_incident,
            passes_before_up: service.passes_before_up,
            public_incidents: service.public_incidents,
            enabled: service.enabled,
        },
        service.component_id,
    );
    input.demo = service.demo;
    input
}

fn refused(e: WriteError, name: &str) -> ServiceError {
    match e {
        WriteError::NameTaken => ServiceError::Invalid(vec![FieldError::new(
            "name",
            format!("A service called {name} exists already."),
        )]),
        WriteError::NoSuchComponent => ServiceError::Invalid(vec![FieldError::new(
            "component",
            "That component no longer exists: choose one of the listed components.",
        )]),
        WriteError::Database(e) => e.into(),
    }
}

/// The actor of changes made by reconciling the configuration file.
pub(crate) fn file_actor() -> Actor {
    Actor { user_id: None, label: "configuration file".into(), client_addr: None, request_id: None }
}

/// Creates a service (audited `service.create`); its first probe comes within one interval.
pub(crate) async fn create(
    tx: &mut PgConnection,
    actor: &Actor,
    via: Via,
    input: &ServiceInput,
) -> Result<Uuid, ServiceError> {
    input.check()?;
    let managed_by_file = via == Via::File;
    let id = store::insert(tx, &input.definition(managed_by_file))
        .await
        .map_err(|e| refused(e, &input.spec.name))?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "service.create",
            target: format!("service:{}", input.spec.name),
            before: None,
            after: Some(input.audit_json(managed_by_file)),
        },
    )
    .await?;
    Ok(id)
}

/// Changes the service called `name` (audited `service.update`); `Ok(false)` when the input
/// changes nothing. A changed interval reschedules the next probe within the new interval.
pub(crate) async fn update(
    tx: &mut PgConnection,
    actor: &Actor,
    via: Via,
    name: &str,
    input: &ServiceInput,
) -> Result<bool, ServiceError> {
    let current =
        store::lock_by_name(tx, name).await?.ok_or_else(|| ServiceError::NotFound(name.to_owned()))?;
    if current.managed_by_file && via == Via::Pages {
        return Err(ServiceError::ManagedByFile(current.name));
    }
    input.check()?;
    let managed_by_file = via == Via::File;
    let before = input_of(&current).audit_json(current.managed_by_file);
    let after = input.audit_json(managed_by_file);
    if before == after {
        return Ok(false);
    }
    let found = store::update(tx, current.id, &input.definition(managed_by_file))
        .await
        .map_err(|e| refused(e, &input.spec.name))?;
    if !found {
        return Err(ServiceError::NotFound(current.name));
    }
    if current.interval_seconds != input.spec.interval_seconds {
        store::reschedule(&mut *tx, current.id, input.spec.interval_seconds).await?;
    }
    if current.counts_down {
        // A down service moved to another component, changed its impact or was disabled.
        let touched: Vec<Uuid> = current.component_id.into_iter().chain(input.component_id).collect();
        follow_components(tx, &touched).await?;
    }
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "service.update",
            target: format!("service:{}", current.name),
            before: Some(before),
            after: Some(after),
        },
    )
    .await?;
    Ok(true)
}

/// The fields a probe uses; the others do not stop a test.
const PROBE_FIELDS: [&str; 3] = ["url", "timeout_ms", "expect"];

/// Probes what `input` describes once, now ("Test now" on the admin pages), and returns what
/// it found. Nothing is stored: the service's state, its incidents and the status page change
/// only with its scheduled probes. Refused with field errors when the URL, timeout or expected
/// fields cannot be probed.
pub(crate) async fn try_probe(input: &ServiceInput) -> Result<super::probe::Outcome, ServiceError> {
    let mut errors = FieldErrors::new();
    let read = input.read_errors.iter().map(|e| (e.field.as_str(), e.message.clone()));
    for (field, message) in read.chain(input.spec.problems()) {
        if PROBE_FIELDS.contains(&field) && !errors.has(field) {
            errors.push(field, message);
        }
    }
    errors.into_result(()).map_err(ServiceError::Invalid)?;
    let client = super::probe::client()?;
    let timeout = std::time::Duration::from_millis(u64::try_from(input.spec.timeout_ms).unwrap_or(0));
    Ok(super::probe::probe(&client, &input.spec.url, timeout, &input.spec.expect).await)
}

/// Enables or disables the service called `name`, keeping the rest of its definition (audited
/// `service.update`); `Ok(false)` when it already was.
pub(crate) async fn set_enabled(
    tx: &mut PgConnection,
    actor: &Actor,
    name: &str,
    enabled: bool,
) -> Result<bool, ServiceError> {
    // Locked before reading, so a concurrent edit is not undone by this one's copy of it.
    let current =
        store::lock_by_name(tx, name).await?.ok_or_else(|| ServiceError::NotFound(name.to_owned()))?;
    let mut input = input_of(&current);
    input.spec.enabled = enabled;
    update(tx, actor, Via::Pages, name, &input).await
}

/// Deletes the service called `name` with its probe history (audited `service.delete`); the
/// incidents it declared stay.
pub(crate) async fn delete(
    tx: &mut PgConnection,
    actor: &Actor,
    via: Via,
    name: &str,
) -> Result<(), ServiceError> {
    let current =
        store::lock_by_name(tx, name).await?.ok_or_else(|| ServiceError::NotFound(name.to_owned()))?;
    if current.managed_by_file && via == Via::Pages {
        return Err(ServiceError::ManagedByFile(current.name));
    }
    store::delete(&mut *tx, current.id).await?;
    if current.counts_down {
        follow_components(tx, &current.component_id.into_iter().collect::<Vec<_>>()).await?;
    }
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "service.delete",
            target: format!("service:{}", current.name),
            before: Some(input_of(&current).audit_json(current.managed_by_file)),
            after: None,
        },
    )
    .await?;
    Ok(())
}

/// Records the public status of components whose services changed, and wakes the status page
/// when one moved.
async fn follow_components(tx: &mut PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    let changed = crate::status_page::history::record(tx, ids).await?;
    if !changed.is_empty() {
        crate::db::status::notify(&mut *tx).await?;
    }
    Ok(())
}

/// What a reconciliation changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reconciled {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
}

/// Makes the database match the file's `[[services]]`: creates and updates them (marked as
/// managed by the file), and deletes file-managed services the file no longer lists. Services
/// created in the pages are left alone unless the file takes one over by name. One transaction
/// under an advisory lock, so processes starting together do it once.
pub(crate) async fn reconcile_file_services(
    pool: &PgPool,
    specs: &[ServiceSpec],
) -> Result<Reconciled, ServiceError> {
    let mut tx = pool.begin().await?;
    store::lock_file_reconciliation(&mut *tx).await?;
    let actor = file_actor();
    let mut done = Reconciled::default();
    for spec in specs {
        let component_id = match spec.component.as_deref() {
            None => None,
            Some(name) => {
                let found = components::id_by_name(&mut *tx, name).await?;
                if found.is_none() {
                    tracing::warn!(service.name = %spec.name, component = name, "[[services]] names a component that does not exist; the service degrades none");
                }
                found
            }
        };
        let input = ServiceInput::new(spec.clone(), component_id);
        if store::find_by_name(&mut *tx, &spec.name).await?.is_none() {
            create(&mut tx, &actor, Via::File, &input).await?;
            done.created += 1;
        } else if update(&mut tx, &actor, Via::File, &spec.name, &input).await? {
            done.updated += 1;
        }
    }
    for service in store::list(&mut *tx).await? {
        if service.managed_by_file && !specs.iter().any(|s| s.name == service.name) {
            delete(&mut tx, &actor, Via::File, &service.name).await?;
            done.deleted += 1;
        }
    }
    tx.commit().await?;
    if done != Reconciled::default() {
        tracing::info!(
            services.created = done.created,
            services.updated = done.updated,
            services.deleted = done.deleted,
            "reconciled [[services]] from the configuration file"
        );
    }
    Ok(done)
}
