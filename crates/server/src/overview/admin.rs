//! Services to probe: the admin pages (list, create, edit, delete; every change audited), the
//! use cases behind them, and the reconciliation of the configuration file's `[[services]]`,
//! whose services are read-only in the pages.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use twisterlab_domain::incident::Impact;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::definition::{self, ServiceSpec};
use super::store::{self, Draft, Service};
use crate::auth::{Access, CurrentUser, Routes, urlencode};
use crate::db::audit::{self, Actor, Entry};
use crate::db::components;
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::error::AppError;
use crate::web::form::see_other;
use crate::web::page::{Layout, render_page};

pub fn routes() -> Routes {
    let admin = Access::Role(Role::Admin);
    Routes::new()
        .get("/admin/services", admin, list_services)
        .post("/admin/services", admin, create_service)
        .get("/admin/services/new", admin, new_service)
        .get("/admin/services/{name}", admin, show_service)
        .post("/admin/services/{name}", admin, update_service)
        .post("/admin/services/{name}/delete", admin, delete_service)
}

/// The actor of changes made by reconciling the configuration file.
pub fn file_actor() -> Actor {
    Actor { user_id: None, label: "configuration file".into(), client_addr: None, request_id: None }
}

/// Why a service change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("service {0} does not exist")]
    NotFound(String),
    #[error("{0} is defined in the configuration file ([[services]]); change it there")]
    ManagedByFile(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(errors) => AppError::Validation(errors),
            ServiceError::NotFound(name) => AppError::NotFoundThing { what: format!("Service {name}") },
            ServiceError::ManagedByFile(_) => AppError::Conflict(e.to_string()),
            ServiceError::Database(e) => e.into(),
        }
    }
}

/// The definition as audit rows record it.
fn definition_json(
    spec: &ServiceSpec,
    component_id: Option<Uuid>,
    managed_by_file: bool,
) -> serde_json::Value {
    json!({
        "name": spec.name, "url": spec.url, "expect": spec.expect,
        "interval_seconds": spec.interval_seconds, "timeout_ms": spec.timeout_ms,
        "failures_before_down": spec.failures_before_down, "component_id": component_id,
        "impact": spec.impact.as_str(), "open_incident": spec.open_incident.map(|s| s.as_str()),
        "enabled": spec.enabled, "managed_by_file": managed_by_file,
    })
}

/// The stored service as a spec (component left unnamed: compare ids).
pub fn spec_of(service: &Service) -> ServiceSpec {
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
        enabled: service.enabled,
    }
}

fn field_errors(spec: &ServiceSpec) -> Vec<FieldError> {
    spec.problems().into_iter().map(|(f, m)| FieldError::new(f, m)).collect()
}

/// Creates a service (audited `service.create`).
pub async fn create(
    tx: &mut PgConnection,
    actor: &Actor,
    spec: &ServiceSpec,
    component_id: Option<Uuid>,
    managed_by_file: bool,
) -> Result<Uuid, ServiceError> {
    let errors = field_errors(spec);
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let draft = Draft { spec, component_id, managed_by_file };
    let Some(id) = store::insert(tx, &draft).await? else {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "name",
            format!("A service called {} exists already.", spec.name),
        )]));
    };
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "service.create",
            target: format!("service:{}", spec.name),
            before: None,
            after: Some(definition_json(spec, component_id, managed_by_file)),
        },
    )
    .await?;
    Ok(id)
}

/// Changes a service (audited `service.update`). `by_file` is the reconciliation, which alone
/// may change file-managed services.
pub async fn update(
    tx: &mut PgConnection,
    actor: &Actor,
    current: &Service,
    spec: &ServiceSpec,
    component_id: Option<Uuid>,
    by_file: bool,
) -> Result<bool, ServiceError> {
    if current.managed_by_file && !by_file {
        return Err(ServiceError::ManagedByFile(current.name.clone()));
    }
    let errors = field_errors(spec);
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let before = definition_json(&spec_of(current), current.component_id, current.managed_by_file);
    let after = definition_json(spec, component_id, by_file);
    if before == after {
        return Ok(false);
    }
    if spec.name != current.name && store::find_by_name(&mut *tx, &spec.name).await?.is_some() {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "name",
            format!("A service called {} exists already.", spec.name),
        )]));
    }
    let draft = Draft { spec, component_id, managed_by_file: by_file };
    if !store::update(tx, current.id, &draft).await? {
        return Err(ServiceError::NotFound(current.name.clone()));
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

/// Deletes a service with its history (audited `service.delete`); its incidents stay.
pub async fn delete(
    tx: &mut PgConnection,
    actor: &Actor,
    current: &Service,
    by_file: bool,
) -> Result<(), ServiceError> {
    if current.managed_by_file && !by_file {
        return Err(ServiceError::ManagedByFile(current.name.clone()));
    }
    store::delete(&mut *tx, current.id).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "service.delete",
            target: format!("service:{}", current.name),
            before: Some(definition_json(&spec_of(current), current.component_id, current.managed_by_file)),
            after: None,
        },
    )
    .await?;
    Ok(())
}

/// Makes the database match the file's `[[services]]`: creates and updates them (marked as
/// managed by the file), and deletes file-managed services the file no longer lists. Services
/// created in the pages are left alone unless the file takes one over by name. One transaction
/// under an advisory lock, so processes starting together do it once.
pub async fn reconcile_file_services(
    pool: &PgPool,
    specs: &[ServiceSpec],
) -> Result<(usize, usize, usize), ServiceError> {
    /// Advisory lock key: "svc-file" as ASCII.
    const LOCK: i64 = 0x7376_632d_6669_6c65;
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock($1)").bind(LOCK).execute(&mut *tx).await?;
    let actor = file_actor();
    let (mut created, mut updated, mut deleted) = (0, 0, 0);
    for spec in specs {
        let component_id = match spec.component.as_deref() {
            None => None,
            Some(name) => {
                let found = store::component_id_by_name(&mut *tx, name).await?;
                if found.is_none() {
                    tracing::warn!(service.name = %spec.name, component = name, "[[services]] names a component that does not exist; the service degrades none");
                }
                found
            }
        };
        match store::find_by_name(&mut *tx, &spec.name).await? {
            None => {
                create(&mut tx, &actor, spec, component_id, true).await?;
                created += 1;
            }
            Some(current) => {
                if update(&mut tx, &actor, &current, spec, component_id, true).await? {
                    updated += 1;
                }
            }
        }
    }
    for service in store::list(&mut *tx).await? {
        if service.managed_by_file && !specs.iter().any(|s| s.name == service.name) {
            delete(&mut tx, &actor, &service, true).await?;
            deleted += 1;
        }
    }
    tx.commit().await?;
    if created + updated + deleted > 0 {
        tracing::info!(
            services.created = created,
            services.updated = updated,
            services.deleted = deleted,
            "reconciled [[services]] from the configuration file"
        );
    }
    Ok((created, updated, deleted))
}

// ---------------------------------------------------------------------------------------------
// Pages

/// A service in the admin list.
pub struct AdminRow {
    pub name: String,
    pub url: String,
    pub schedule: String,
    pub component: String,
    pub incident: String,
    pub enabled: bool,
    pub managed_by_file: bool,
}

#[derive(Template)]
#[template(path = "admin/services.html")]
pub struct ServicesPage {
    pub layout: Layout,
    pub services: Vec<AdminRow>,
    pub notice: Option<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn notice_text(q: &NoticeQuery) -> Option<&'static str> {
    match q.notice.as_deref()? {
        "created" => Some("Service created. Its first probe runs within one interval."),
        "saved" => Some("Saved."),
        "unchanged" => Some("Nothing to save: the form had no changes."),
        "deleted" => Some("Service deleted, with its probe history. Incidents it opened stay."),
        _ => None,
    }
}

/// `GET /admin/services`.
async fn list_services(
    State(app): State<AppState>,
    layout: Layout,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let services = store::list(&app.pool)
        .await?
        .into_iter()
        .map(|s| AdminRow {
            schedule: format!(
                "every {} s, timeout {} ms, down after {} failures",
                s.interval_seconds, s.timeout_ms, s.failures_before_down
            ),
            component: match &s.component_name {
                Some(c) => format!("{c} ({})", s.impact.label()),
                None => "none".into(),
            },
            incident: s.open_incident.map(|sev| format!("opens {sev}")).unwrap_or_else(|| "never".into()),
            name: s.name,
            url: s.url,
            enabled: s.enabled,
            managed_by_file: s.managed_by_file,
        })
        .collect();
    Ok(render_page(&ServicesPage { layout, services, notice: notice_text(&q) }))
}

/// One option of a select.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The values of the service form, as stored or as typed.
#[derive(Debug, Default, Deserialize)]
pub struct ServiceForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: String,
    /// One `pointer = value` per line.
    #[serde(default)]
    pub expect: String,
    #[serde(default)]
    pub interval_seconds: String,
    #[serde(default)]
    pub timeout_ms: String,
    #[serde(default)]
    pub failures_before_down: String,
    /// Component id, or empty for none.
    #[serde(default)]
    pub component: String,
    #[serde(default)]
    pub impact: String,
    /// `P0`…`P3`, or empty for never.
    #[serde(default)]
    pub open_incident: String,
    /// Checkbox: present when checked.
    pub enabled: Option<String>,
}

impl ServiceForm {
    fn of(service: &Service) -> Self {
        Self {
            name: service.name.clone(),
            url: service.url.clone(),
            expect: definition::expect_lines(&service.expect),
            interval_seconds: service.interval_seconds.to_string(),
            timeout_ms: service.timeout_ms.to_string(),
            failures_before_down: service.failures_before_down.to_string(),
            component: service.component_id.map(|c| c.to_string()).unwrap_or_default(),
            impact: service.impact.as_str().into(),
            open_incident: service.open_incident.map(|s| s.as_str().to_owned()).unwrap_or_default(),
            enabled: service.enabled.then(|| "on".into()),
        }
    }

    fn blank() -> Self {
        let spec = ServiceSpec::new("", "");
        Self {
            interval_seconds: spec.interval_seconds.to_string(),
            timeout_ms: spec.timeout_ms.to_string(),
            failures_before_down: spec.failures_before_down.to_string(),
            impact: spec.impact.as_str().into(),
            enabled: Some("on".into()),
            ..Self::default()
        }
    }

    /// The spec and component the form describes, or every field's problem.
    fn parse(&self) -> Result<(ServiceSpec, Option<Uuid>), Vec<FieldError>> {
        let mut errors = vec![];
        let mut number = |field: &'static str, raw: &str| -> i32 {
            raw.trim().parse::<i32>().unwrap_or_else(|_| {
                errors.push(FieldError::new(field, "Enter a whole number."));
                0
            })
        };
        let interval_seconds = number("interval_seconds", &self.interval_seconds);
        let timeout_ms = number("timeout_ms", &self.timeout_ms);
        let failures_before_down = number("failures_before_down", &self.failures_before_down);
        let expect = definition::parse_expect_lines(&self.expect).unwrap_or_else(|m| {
            errors.push(FieldError::new("expect", m));
            Default::default()
        });
        let component_id = match self.component.trim() {
            "" => None,
            raw => match raw.parse::<Uuid>() {
                Ok(id) => Some(id),
                Err(_) => {
                    errors.push(FieldError::new("component", "Choose one of the listed components."));
                    None
                }
            },
        };
        let impact = self.impact.parse::<Impact>().unwrap_or_else(|_| {
            errors.push(FieldError::new("impact", "Choose one of the listed impacts."));
            Impact::PartialOutage
        });
        let open_incident = match self.open_incident.trim() {
            "" => None,
            raw => match raw.parse::<Severity>() {
                Ok(s) => Some(s),
                Err(_) => {
                    errors.push(FieldError::new("open_incident", "Choose never or a severity."));
                    None
                }
            },
        };
        let spec = ServiceSpec {
            name: self.name.trim().to_owned(),
            url: self.url.trim().to_owned(),
            expect,
            interval_seconds,
            timeout_ms,
            failures_before_down,
            component: None,
            impact,
            open_incident,
            enabled: self.enabled.is_some(),
        };
        // Fields that did not parse already have their message.
        for e in field_errors(&spec) {
            if !errors.iter().any(|x| x.field == e.field) {
                errors.push(e);
            }
        }
        if errors.is_empty() { Ok((spec, component_id)) } else { Err(errors) }
    }
}

#[derive(Template)]
#[template(path = "admin/services_form.html")]
pub struct ServiceFormPage {
    pub layout: Layout,
    /// The stored name when editing; `None` for a new service.
    pub editing: Option<String>,
    pub managed_by_file: bool,
    pub form: ServiceForm,
    pub components: Vec<Choice>,
    pub impacts: Vec<Choice>,
    pub severities: Vec<Choice>,
    pub errors: Vec<FieldError>,
}

impl ServiceFormPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }

    /// Where the form posts.
    fn action(&self) -> String {
        match &self.editing {
            Some(name) => format!("/admin/services/{}", urlencode(name)),
            None => "/admin/services".into(),
        }
    }

    fn enabled(&self) -> bool {
        self.form.enabled.is_some()
    }

    async fn build(
        pool: &PgPool,
        layout: Layout,
        editing: Option<String>,
        managed_by_file: bool,
        form: ServiceForm,
        errors: Vec<FieldError>,
    ) -> Result<Self, AppError> {
        let mut components_list = vec![Choice {
            value: String::new(),
            label: "none".into(),
            selected: form.component.trim().is_empty(),
        }];
        for c in components::list(pool).await? {
            components_list.push(Choice {
                selected: c.id.to_string() == form.component.trim(),
                value: c.id.to_string(),
                label: match &c.group_name {
                    Some(g) => format!("{} ({g})", c.name),
                    None => c.name.clone(),
                },
            });
        }
        let impacts = Impact::ALL
            .iter()
            .map(|i| Choice {
                value: i.as_str().into(),
                label: i.label().into(),
                selected: i.as_str() == form.impact,
            })
            .collect();
        let mut severities = vec![Choice {
            value: String::new(),
            label: "never".into(),
            selected: form.open_incident.trim().is_empty(),
        }];
        severities.extend(Severity::ALL.iter().map(|s| Choice {
            value: s.as_str().into(),
            label: format!("{} ({})", s.as_str(), s.label()),
            selected: s.as_str() == form.open_incident.trim(),
        }));
        Ok(Self {
            layout,
            editing,
            managed_by_file,
            form,
            components: components_list,
            impacts,
            severities,
            errors,
        })
    }
}

/// `GET /admin/services/new`.
async fn new_service(State(app): State<AppState>, layout: Layout) -> Result<Response, AppError> {
    let page = ServiceFormPage::build(&app.pool, layout, None, false, ServiceForm::blank(), vec![]).await?;
    Ok(render_page(&page))
}

async fn retry(
    app: &AppState,
    layout: Layout,
    editing: Option<String>,
    form: ServiceForm,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let page = ServiceFormPage::build(&app.pool, layout, editing, false, form, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response())
}

/// `POST /admin/services`.
async fn create_service(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Form(form): Form<ServiceForm>,
) -> Result<Response, AppError> {
    let (spec, component_id) = match form.parse() {
        Ok(parsed) => parsed,
        Err(errors) => return retry(&app, layout, None, form, errors).await,
    };
    let mut tx = app.pool.begin().await?;
    match create(&mut tx, &me.actor, &spec, component_id, false).await {
        Ok(_) => {}
        Err(ServiceError::Invalid(errors)) => {
            drop(tx);
            return retry(&app, layout, None, form, errors).await;
        }
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    tracing::info!(service.name = %spec.name, by = %me.user.id, "admin created a probed service");
    Ok(see_other("/admin/services?notice=created"))
}

async fn load(app: &AppState, name: &str) -> Result<Service, AppError> {
    store::find_by_name(&app.pool, name)
        .await?
        .ok_or_else(|| AppError::NotFoundThing { what: format!("Service {name}") })
}

/// `GET /admin/services/{name}`: the edit form; read-only for file-managed services.
async fn show_service(
    State(app): State<AppState>,
    layout: Layout,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let service = load(&app, &name).await?;
    let page = ServiceFormPage::build(
        &app.pool,
        layout,
        Some(service.name.clone()),
        service.managed_by_file,
        ServiceForm::of(&service),
        vec![],
    )
    .await?;
    Ok(render_page(&page))
}

/// `POST /admin/services/{name}`.
async fn update_service(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(name): Path<String>,
    Form(form): Form<ServiceForm>,
) -> Result<Response, AppError> {
    let current = load(&app, &name).await?;
    if current.managed_by_file {
        return Err(ServiceError::ManagedByFile(current.name).into());
    }
    let (spec, component_id) = match form.parse() {
        Ok(parsed) => parsed,
        Err(errors) => return retry(&app, layout, Some(current.name), form, errors).await,
    };
    let mut tx = app.pool.begin().await?;
    let changed = match update(&mut tx, &me.actor, &current, &spec, component_id, false).await {
        Ok(changed) => changed,
        Err(ServiceError::Invalid(errors)) => {
            drop(tx);
            return retry(&app, layout, Some(current.name), form, errors).await;
        }
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;
    Ok(see_other(if changed { "/admin/services?notice=saved" } else { "/admin/services?notice=unchanged" }))
}

/// `POST /admin/services/{name}/delete`.
async fn delete_service(
    State(app): State<AppState>,
    me: CurrentUser,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let mut tx = app.pool.begin().await?;
    let current = store::find_by_name(&mut *tx, &name)
        .await?
        .ok_or_else(|| AppError::NotFoundThing { what: format!("Service {name}") })?;
    delete(&mut tx, &me.actor, &current, false).await?;
    tx.commit().await?;
    tracing::info!(service.name = %name, by = %me.user.id, "admin deleted a probed service");
    Ok(see_other("/admin/services?notice=deleted"))
}
