//! The admin pages of probed services: list, create, edit, delete. Handlers read the form and
//! call the use cases of `super::service`; services defined in the configuration file are
//! shown read-only.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use twisterlab_domain::incident::Impact;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::definition::{self, ServiceSpec};
use super::service::{self, ServiceInput, Via};
use crate::auth::{Access, CurrentUser, Routes, urlencode};
use crate::db::components::{self, Component};
use crate::db::health::{self, Service};
use crate::state::AppState;
use crate::validation::{FieldError, FieldErrors};
use crate::web::confirm::{ConfirmPage, Confirmation};
use crate::web::error::AppError;
use crate::web::form::{Choice, NoticeQuery, Notices, form_outcome, see_other_with_notice};
use crate::web::page::{Layout, render_page};

pub(crate) fn routes() -> Routes {
    let admin = Access::Role(Role::Admin);
    Routes::new()
        .get("/admin/services", admin, list_services)
        .post("/admin/services", admin, create_service)
        .get("/admin/services/new", admin, new_service)
        .get("/admin/services/{name}", admin, show_service)
        .post("/admin/services/{name}", admin, update_service)
        .post("/admin/services/{name}/enable", admin, enable_service)
        .post("/admin/services/{name}/test", admin, test_service)
        .get("/admin/services/{name}/delete", admin, confirm_delete_service)
        .post("/admin/services/{name}/delete", admin, delete_service)
}

/// The flashes after a change.
const NOTICES: Notices = &[
    ("created", "Service created. Its first probe runs within one interval."),
    ("saved", "Saved."),
    ("unchanged", "Nothing to save: the form had no changes."),
    ("deleted", "Service deleted, with its probe history. Incidents it opened stay."),
    ("enabled", "Service enabled. Its first probe runs within one interval."),
];

/// A service in the admin list.
pub(crate) struct AdminRow {
    pub name: String,
    pub url: String,
    pub schedule: String,
    pub component: String,
    pub incident: String,
    pub enabled: bool,
    pub managed_by_file: bool,
    /// Shipped with the portal: offered as "ready-made, disabled" until enabled.
    pub ready_made: bool,
    pub demo: bool,
}

#[derive(Template)]
#[template(path = "admin/services.html")]
pub(crate) struct ServicesPage {
    pub layout: Layout,
    pub services: Vec<AdminRow>,
    pub notice: Option<&'static str>,
    /// The portal runs with `--demo`: link the demo panel.
    pub demo_mode: bool,
}

/// `GET /admin/services`.
async fn list_services(
    State(app): State<AppState>,
    layout: Layout,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let services = health::list(&app.pool)
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
            ready_made: s.ready_made,
            demo: s.demo,
        })
        .collect();
    Ok(render_page(&ServicesPage {
        layout,
        services,
        notice: q.text(NOTICES),
        demo_mode: app.demo.is_some(),
    }))
}

/// The values of the service form, as stored or as typed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ServiceForm {
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
    #[serde(default)]
    pub passes_before_up: String,
    /// Checkbox: declared incidents are public at once.
    pub public_incidents: Option<String>,
    /// Checkbox: present when checked.
    pub enabled: Option<String>,
    /// `test`: probe what the form describes once and show the result, saving nothing.
    #[serde(default)]
    pub intent: String,
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
            passes_before_up: service.passes_before_up.to_string(),
            public_incidents: service.public_incidents.then(|| "on".into()),
            enabled: service.enabled.then(|| "on".into()),
            intent: String::new(),
        }
    }

    fn blank() -> Self {
        let spec = ServiceSpec::new("", "");
        Self {
            interval_seconds: spec.interval_seconds.to_string(),
            timeout_ms: spec.timeout_ms.to_string(),
            failures_before_down: spec.failures_before_down.to_string(),
            passes_before_up: spec.passes_before_up.to_string(),
            impact: spec.impact.as_str().into(),
            enabled: Some("on".into()),
            ..Self::default()
        }
    }

    /// The service the form describes, with the fields that could not be read; the use case
    /// checks the rest.
    fn input(&self) -> ServiceInput {
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
        // Optional: forms and scripts from before the field get the default.
        let passes_before_up = if self.passes_before_up.trim().is_empty() {
            definition::DEFAULT_PASSES_BEFORE_UP
        } else {
            number("passes_before_up", &self.passes_before_up)
        };
        let expect = definition::parse_expect_lines(&self.expect).unwrap_or_else(|m| {
            errors.push(FieldError::new("expect", m));
            Default::default()
        });
        let component_id = match self.component.trim() {
            "" => None,
            raw => raw
                .parse::<Uuid>()
                .map_err(|_| {
                    errors.push(FieldError::new("component", "Choose one of the listed components."));
                })
                .ok(),
        };
        let impact = self.impact.parse::<Impact>().unwrap_or_else(|_| {
            errors.push(FieldError::new("impact", "Choose one of the listed impacts."));
            Impact::PartialOutage
        });
        let open_incident = match self.open_incident.trim() {
            "" => None,
            raw => raw
                .parse::<Severity>()
                .map_err(|_| {
                    errors.push(FieldError::new("open_incident", "Choose never or a severity."));
                })
                .ok(),
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
            passes_before_up,
            public_incidents: self.public_incidents.is_some(),
            enabled: self.enabled.is_some(),
        };
        ServiceInput { spec, component_id, read_errors: errors, demo: false }
    }
}

#[derive(Template)]
#[template(path = "admin/services_form.html")]
pub(crate) struct ServiceFormPage {
    pub layout: Layout,
    /// The stored name when editing; `None` for a new service.
    pub editing: Option<String>,
    pub managed_by_file: bool,
    pub form: ServiceForm,
    pub components: Vec<Choice>,
    pub impacts: Vec<Choice>,
    pub severities: Vec<Choice>,
    pub errors: FieldErrors,
    /// What "Test now" found, when the page answers one.
    pub test: Option<ProbeTest>,
}

/// The result of one test probe, in words.
pub(crate) struct ProbeTest {
    pub passed: bool,
    /// "Passed: 200 OK in 43 ms." or "Failed (timeout): no answer within 2 s, after 2,001 ms."
    pub summary: String,
    /// The start of the answer's body, when there was one.
    pub excerpt: Option<String>,
}

impl ProbeTest {
    fn of(url: &str, outcome: &super::probe::Outcome) -> Self {
        let status =
            outcome.http_status.map(|s| format!("{} ", super::probe::status_text(s))).unwrap_or_default();
        let summary = match outcome.failure() {
            None => format!("Passed: {url} answered {status}in {} ms.", outcome.latency_ms()),
            Some(f) => format!(
                "Failed ({}): {} ({url}, after {} ms).",
                f.kind.label(),
                f.reason,
                outcome.latency_ms()
            ),
        };
        Self { passed: outcome.ok(), summary, excerpt: outcome.excerpt.clone() }
    }
}

impl ServiceFormPage {
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

    fn public_incidents(&self) -> bool {
        self.form.public_incidents.is_some()
    }

    fn new(
        layout: Layout,
        editing: Option<String>,
        managed_by_file: bool,
        form: ServiceForm,
        errors: FieldErrors,
        components: &[Component],
    ) -> Self {
        let component = form.component.trim();
        let components = std::iter::once(Choice::new("", "none", component.is_empty()))
            .chain(components.iter().map(|c| {
                let label = match &c.group_name {
                    Some(g) => format!("{} ({g})", c.name),
                    None => c.name.clone(),
                };
                Choice::new(c.id.to_string(), label, c.id.to_string() == component)
            }))
            .collect();
        let impacts = Impact::ALL
            .iter()
            .map(|i| Choice::new(i.as_str(), i.label(), i.as_str() == form.impact))
            .collect();
        let open_incident = form.open_incident.trim();
        let severities = std::iter::once(Choice::new("", "never", open_incident.is_empty()))
            .chain(Severity::ALL.iter().map(|s| {
                Choice::new(
                    s.as_str(),
                    format!("{} ({})", s.as_str(), s.label()),
                    s.as_str() == open_incident,
                )
            }))
            .collect();
        Self { layout, editing, managed_by_file, form, components, impacts, severities, errors, test: None }
    }
}

/// The service named in the path, or "not found".
async fn stored(app: &AppState, name: &str) -> Result<Service, AppError> {
    health::find_by_name(&app.pool, name)
        .await?
        .ok_or_else(|| AppError::NotFoundThing { what: format!("Service {name}") })
}

impl ServiceFormPage {
    /// The edit form of a stored service, as stored.
    fn of(layout: Layout, service: &Service, components: &[Component]) -> Self {
        let form = ServiceForm::of(service);
        Self::new(
            layout,
            Some(service.name.clone()),
            service.managed_by_file,
            form,
            FieldErrors::new(),
            components,
        )
    }
}

/// `GET /admin/services/new`.
async fn new_service(State(app): State<AppState>, layout: Layout) -> Result<Response, AppError> {
    let components = components::list(&app.pool).await?;
    let page =
        ServiceFormPage::new(layout, None, false, ServiceForm::blank(), FieldErrors::new(), &components);
    Ok(render_page(&page))
}

/// `POST /admin/services`.
async fn create_service(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Form(form): Form<ServiceForm>,
) -> Result<Response, AppError> {
    let components = components::list(&app.pool).await?;
    let input = form.input();
    if form.intent == "test" {
        return test_typed(layout, None, form, &input, &components).await;
    }
    let result: Result<Response, AppError> = async {
        let mut tx = app.pool.begin().await?;
        service::create(&mut tx, &me.actor, Via::Pages, &input).await?;
        tx.commit().await?;
        tracing::info!(service.name = %input.spec.name, by = %me.user.id, "admin created a probed service");
        Ok(see_other_with_notice("/admin/services", "created"))
    }
    .await;
    Ok(form_outcome(result, |errors| {
        render_page(&ServiceFormPage::new(layout, None, false, form, errors, &components))
    }))
}

/// `GET /admin/services/{name}`: the edit form; read-only for file-managed services.
async fn show_service(
    State(app): State<AppState>,
    layout: Layout,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let service = stored(&app, &name).await?;
    let components = components::list(&app.pool).await?;
    Ok(render_page(&ServiceFormPage::of(layout, &service, &components)))
}

/// `POST /admin/services/{name}`.
async fn update_service(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(name): Path<String>,
    Form(form): Form<ServiceForm>,
) -> Result<Response, AppError> {
    let components = components::list(&app.pool).await?;
    let input = form.input();
    if form.intent == "test" {
        return test_typed(layout, Some(name), form, &input, &components).await;
    }
    let result: Result<Response, AppError> = async {
        let mut tx = app.pool.begin().await?;
        let changed = service::update(&mut tx, &me.actor, Via::Pages, &name, &input).await?;
        tx.commit().await?;
        Ok(see_other_with_notice("/admin/services", if changed { "saved" } else { "unchanged" }))
    }
    .await;
    // Only a service edited in the pages comes back with errors: file-managed ones are refused.
    Ok(form_outcome(result, |errors| {
        render_page(&ServiceFormPage::new(layout, Some(name), false, form, errors, &components))
    }))
}

/// "Test these settings": probes what the form says once and shows the form again with the
/// result (or its field errors); nothing is saved.
async fn test_typed(
    layout: Layout,
    editing: Option<String>,
    form: ServiceForm,
    input: &ServiceInput,
    components: &[Component],
) -> Result<Response, AppError> {
    match service::try_probe(input).await {
        Ok(outcome) => {
            let mut page = ServiceFormPage::new(layout, editing, false, form, FieldErrors::new(), components);
            page.test = Some(ProbeTest::of(&input.spec.url, &outcome));
            Ok(render_page(&page))
        }
        Err(e) => Ok(form_outcome(Err(e.into()), |errors| {
            render_page(&ServiceFormPage::new(layout, editing, false, form, errors, components))
        })),
    }
}

/// `POST /admin/services/{name}/test`: probes the service as saved, once, and shows its page
/// with the result. Nothing is recorded.
async fn test_service(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let service = stored(&app, &name).await?;
    let outcome = service::try_probe(&service::input_of(&service)).await?;
    tracing::info!(service.name = %service.name, by = %me.user.id, passed = outcome.ok(), "admin tested a probed service");
    let components = components::list(&app.pool).await?;
    let mut page = ServiceFormPage::of(layout, &service, &components);
    page.test = Some(ProbeTest::of(&service.url, &outcome));
    Ok(render_page(&page))
}

/// `POST /admin/services/{name}/enable`: the one click that starts probing a disabled service
/// (a ready-made one once its URL is right).
async fn enable_service(
    State(app): State<AppState>,
    me: CurrentUser,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let mut tx = app.pool.begin().await?;
    service::set_enabled(&mut tx, &me.actor, &name, true).await?;
    tx.commit().await?;
    tracing::info!(service.name = %name, by = %me.user.id, "admin enabled a probed service");
    Ok(see_other_with_notice("/admin/services", "enabled"))
}

/// `GET /admin/services/{name}/delete`: what deleting loses, and the button that does it.
async fn confirm_delete_service(
    State(app): State<AppState>,
    layout: Layout,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let service = stored(&app, &name).await?;
    if service.managed_by_file {
        return Err(service::ServiceError::ManagedByFile(service.name).into());
    }
    let href = format!("/admin/services/{}", urlencode(&service.name));
    Ok(ConfirmPage {
        layout,
        question: format!("Delete the service {}?", service.name),
        consequences: vec![
            "The portal stops probing it, and its probe history is deleted.".into(),
            "Incidents its failures declared stay, with their timelines.".into(),
            "To stop probing it for a while instead, disable it on its page.".into(),
        ],
        action: format!("{href}/delete"),
        carried: vec![],
        button: format!("Delete {}", service.name),
        cancel: href,
    }
    .render())
}

/// `POST /admin/services/{name}/delete`: deletes only with `confirm=yes` (the confirmation
/// page's form); otherwise shows that page.
async fn delete_service(
    State(app): State<AppState>,
    me: CurrentUser,
    Path(name): Path<String>,
    Form(confirmation): Form<Confirmation>,
) -> Result<Response, AppError> {
    if let Some(ask) = confirmation.required(&format!("/admin/services/{}/delete", urlencode(&name))) {
        return Ok(ask);
    }
    let mut tx = app.pool.begin().await?;
    service::delete(&mut tx, &me.actor, Via::Pages, &name).await?;
    tx.commit().await?;
    tracing::info!(service.name = %name, by = %me.user.id, "admin deleted a probed service");
    Ok(see_other_with_notice("/admin/services", "deleted"))
}
