//! The quick actions of the incident page, `POST /incidents/{number}/…`: each one a plain form
//! handled with post/redirect/get by [`act`], landing on the event it wrote.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sqlx::PgConnection;
use twisterlab_domain::incident::{Impact, IncidentNumber, IncidentStatus};
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::service::{self, IncidentRole};
use super::view::{event_href, incident_path};
use crate::auth::CurrentUser;
use crate::db::incidents::{self as store, Incident, TimelineEvent};
use crate::state::AppState;
use crate::validation::{FieldError, FieldErrors};
use crate::web::error::AppError;
use crate::web::form::{PathId, PathNumber, form_outcome, see_other};
use crate::web::page::{Layout, render_page};

/// Why an action changed nothing, with the way back to the incident.
#[derive(Template)]
#[template(path = "incidents/action_error.html")]
pub(crate) struct ActionErrorPage {
    pub layout: Layout,
    pub heading: &'static str,
    pub message: String,
    pub errors: FieldErrors,
    pub back: String,
    pub number: String,
    /// The text the person typed, offered again so a refusal never loses it.
    pub kept: Option<Kept>,
}

/// A form's typed text, kept across a refusal: the page shows it in a form that sends it again
/// (with the incident's current version, now that the page says what changed).
#[derive(Clone, Debug)]
pub(crate) struct Kept {
    pub action: String,
    pub field: &'static str,
    pub label: &'static str,
    pub text: String,
    /// Other fields sent again as they were; `version` is replaced by the current one.
    pub hidden: Vec<(&'static str, String)>,
    pub button: &'static str,
}

impl Kept {
    fn new(
        action: String,
        field: &'static str,
        label: &'static str,
        text: &str,
        button: &'static str,
    ) -> Self {
        Self { action, field, label, text: text.to_owned(), hidden: vec![], button }
    }

    fn with(mut self, name: &'static str, value: &str) -> Self {
        self.hidden.push((name, value.to_owned()));
        self
    }
}

/// Who must be allowed to run the incident before an action applies: `Some` for commander
/// actions (checked by `service::authorize_command` under the row lock, before the form).
type Authority<'a> = Option<&'a CurrentUser>;

/// What an action changed: the event it wrote, or the incident (the browser then lands on its
/// newest event), by id.
pub(crate) enum Done {
    Event(Uuid),
    Incident(Uuid),
}

impl From<TimelineEvent> for Done {
    fn from(event: TimelineEvent) -> Self {
        Done::Event(event.id)
    }
}

impl From<Incident> for Done {
    fn from(incident: Incident) -> Self {
        Done::Incident(incident.id)
    }
}

/// Every quick action: the form as parsed, then `change` on a transaction; commit, and send the
/// browser to the event. Refusals and invalid fields show the action's error page.
async fn act<T, D: Into<Done>>(
    app: &AppState,
    layout: Layout,
    number: IncidentNumber,
    parsed: Result<T, AppError>,
    change: impl AsyncFnOnce(&mut PgConnection, T) -> Result<D, AppError>,
) -> Response {
    act_as(app, layout, number, None, None, parsed, change).await
}

/// [`act`] with the commander check first (`authority`) and the typed text kept on refusal.
async fn act_as<T, D: Into<Done>>(
    app: &AppState,
    layout: Layout,
    number: IncidentNumber,
    authority: Authority<'_>,
    mut kept: Option<Kept>,
    parsed: Result<T, AppError>,
    change: impl AsyncFnOnce(&mut PgConnection, T) -> Result<D, AppError>,
) -> Response {
    let result = async {
        let mut tx = app.pool.begin().await?;
        if let Some(user) = authority {
            service::authorize_command(&mut tx, &user.actor, user.role, number).await?;
        }
        let input = parsed?;
        let anchor = match change(&mut tx, input).await?.into() {
            Done::Event(id) => Some(id),
            Done::Incident(id) => store::latest_event_id(&mut *tx, id).await?,
        };
        tx.commit().await?;
        Ok(see_other(&event_href(number, anchor)))
    }
    .await;
    if result.is_err()
        && let Some(k) = kept.as_mut()
        && let Ok(mut conn) = app.pool.acquire().await
        && let Ok(current) = service::load(&mut conn, number).await
    {
        for (name, value) in &mut k.hidden {
            if *name == "version" {
                *value = current.version.to_string();
            }
        }
    }
    action_outcome(layout, number, result, kept)
}

/// Shows refusals and invalid input on a page that leads back to the incident; other errors
/// take the portal's error page.
fn action_outcome(
    layout: Layout,
    number: IncidentNumber,
    result: Result<Response, AppError>,
    kept: Option<Kept>,
) -> Response {
    let page = |layout: Layout, heading: &'static str, message: String, errors: FieldErrors| {
        let back = incident_path(number);
        render_page(&ActionErrorPage {
            layout,
            heading,
            message,
            errors,
            back,
            number: number.to_string(),
            kept: kept.clone(),
        })
    };
    let refusal = |status: StatusCode, heading, message| -> Result<Response, AppError> {
        Ok((status, page(layout.clone(), heading, message, FieldErrors::new())).into_response())
    };
    let result = result.or_else(|e| match e {
        AppError::Conflict(message) => refusal(StatusCode::CONFLICT, "Nothing was changed", message),
        AppError::BadRequest(message) => refusal(StatusCode::BAD_REQUEST, "Nothing was changed", message),
        AppError::Forbidden { have, need } => refusal(
            StatusCode::FORBIDDEN,
            "Not allowed",
            format!(
                "Your role ({have}) cannot do this: it needs {need}, or to be this incident's commander (take command first). Responders may correct only their own notes."
            ),
        ),
        other => Err(other),
    });
    form_outcome(result, |errors| {
        page(layout.clone(), "Nothing was changed", "Correct the fields below and try again.".into(), errors)
    })
}

/// The form's `version`: the incident's version when the page was loaded (empty: no check).
fn parse_version(raw: &str) -> Result<Option<i32>, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i32>().map(Some).map_err(|_| {
        AppError::BadRequest(
            "The form's `version` field is not a number; reload the page and try again.".into(),
        )
    })
}

/// A choice from a select, or a field error on `field`.
fn parse_choice<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, AppError>
where
    T::Err: std::fmt::Display,
{
    raw.trim().parse::<T>().map_err(|e| AppError::Validation(vec![FieldError::new(field, format!("{e}."))]))
}

/// An optional choice: empty is `None`.
fn parse_optional<T: std::str::FromStr>(field: &str, raw: &str) -> Result<Option<T>, AppError>
where
    T::Err: std::fmt::Display,
{
    match raw.trim() {
        "" => Ok(None),
        s => parse_choice(field, s).map(Some),
    }
}

/// A person, component or other row chosen from a list, by id; else `message` on `field`.
fn parse_uuid(field: &str, raw: &str, message: &str) -> Result<Uuid, AppError> {
    raw.trim().parse::<Uuid>().map_err(|_| AppError::Validation(vec![FieldError::new(field, message)]))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct VersionForm {
    version: String,
}

/// `POST /incidents/{number}/acknowledge` (responder).
pub(crate) async fn acknowledge_incident(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<VersionForm>,
) -> Response {
    act(&app, layout, number, parse_version(&form.version), async |tx, version| {
        Ok(service::acknowledge(tx, &user.actor, number, version).await?)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct StatusForm {
    version: String,
    status: String,
}

/// `POST /incidents/{number}/status` (commander).
pub(crate) async fn change_status(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<StatusForm>,
) -> Response {
    let parsed = parse_version(&form.version)
        .and_then(|version| Ok((version, parse_choice::<IncidentStatus>("status", &form.status)?)));
    act_as(&app, layout, number, Some(&user), None, parsed, async |tx, (version, to)| {
        Ok(service::change_status(tx, &user.actor, number, to, version).await?)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SeverityForm {
    version: String,
    severity: String,
}

/// `POST /incidents/{number}/severity` (commander): recomputes the deadlines from the start.
pub(crate) async fn change_severity(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<SeverityForm>,
) -> Response {
    let parsed = parse_version(&form.version)
        .and_then(|version| Ok((version, parse_choice::<Severity>("severity", &form.severity)?)));
    let zone = &app.config.timezone;
    act_as(&app, layout, number, Some(&user), None, parsed, async |tx, (version, to)| {
        Ok(service::change_severity(tx, &user.actor, zone, number, to, version).await?)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RoleForm {
    version: String,
    role: String,
    /// Empty: nobody (not for the commander).
    user: String,
}

/// `POST /incidents/{number}/roles` (commander).
pub(crate) async fn assign_role(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<RoleForm>,
) -> Response {
    let parsed = (|| {
        let version = parse_version(&form.version)?;
        let role = IncidentRole::parse(form.role.trim()).ok_or_else(|| {
            AppError::Validation(vec![FieldError::new("role", "Choose commander, comms lead or scribe.")])
        })?;
        let person = match form.user.trim() {
            "" => None,
            id => Some(parse_uuid("user", id, "Choose a person from the list.")?),
        };
        Ok((version, role, person))
    })();
    act_as(&app, layout, number, Some(&user), None, parsed, async |tx, (version, role, person)| {
        Ok(service::assign_role(tx, &user.actor, number, role, person, version).await?)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct BodyForm {
    version: String,
    body: String,
    /// Public updates: the status to announce (empty: keep).
    status: String,
}

/// `POST /incidents/{number}/notes` (responder). Notes never conflict, so no version check.
pub(crate) async fn add_note(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<BodyForm>,
) -> Response {
    let kept = Kept::new(
        format!("{}/notes", incident_path(number)),
        "body",
        "Note (Markdown, never public)",
        &form.body,
        "Add note",
    );
    act_as(&app, layout, number, None, Some(kept), Ok(()), async |tx, ()| {
        Ok(service::add_note(tx, &user.actor, number, &form.body).await?)
    })
    .await
}

/// `POST /incidents/{number}/updates` (commander): a public update, optionally with a status.
pub(crate) async fn post_update(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<BodyForm>,
) -> Response {
    let parsed = parse_version(&form.version)
        .and_then(|version| Ok((version, parse_optional::<IncidentStatus>("status", &form.status)?)));
    let kept = Kept::new(
        format!("{}/updates", incident_path(number)),
        "body",
        "Update for the status page (Markdown)",
        &form.body,
        "Publish update",
    )
    .with("status", &form.status)
    .with("version", &form.version);
    act_as(&app, layout, number, Some(&user), Some(kept), parsed, async |tx, (version, status)| {
        Ok(service::post_public_update(tx, &user.actor, number, &form.body, status, version).await?)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ComponentForm {
    version: String,
    component: String,
    /// Empty: not affected.
    impact: String,
}

/// `POST /incidents/{number}/components` (commander).
pub(crate) async fn set_component_impact(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<ComponentForm>,
) -> Response {
    let parsed = (|| {
        let version = parse_version(&form.version)?;
        let component = parse_uuid("component", &form.component, "Choose a component from the list.")?;
        Ok((version, component, parse_optional::<Impact>("impact", &form.impact)?))
    })();
    act_as(&app, layout, number, Some(&user), None, parsed, async |tx, (version, component, impact)| {
        // The use case takes no version (the API sets impacts without one); the form checks it
        // here, under the same row lock.
        service::lock_current(tx, number, version).await?;
        Ok(service::set_component_impact(tx, &user.actor, number, component, impact).await?)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LinkForm {
    kind: String,
    url: String,
    label: String,
}

/// `POST /incidents/{number}/links` (commander).
pub(crate) async fn add_link(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<LinkForm>,
) -> Response {
    act_as(&app, layout, number, Some(&user), None, Ok(()), async |tx, ()| {
        Ok(service::add_link(tx, &user.actor, number, form.kind.trim(), &form.url, &form.label).await?)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ResolveForm {
    version: String,
    /// What fixed it; required.
    resolution: String,
}

/// `POST /incidents/{number}/resolve` (the incident's commander, or commanders): sent from the
/// confirmation page with the resolution note.
pub(crate) async fn resolve_incident(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<ResolveForm>,
) -> Response {
    let kept = Kept::new(
        format!("{}/resolve", incident_path(number)),
        "resolution",
        "Resolution note: what fixed it",
        &form.resolution,
        "Resolve",
    )
    .with("version", &form.version);
    act_as(
        &app,
        layout,
        number,
        Some(&user),
        Some(kept),
        parse_version(&form.version),
        async |tx, version| {
            Ok(service::resolve_with_note(tx, &user.actor, number, version, &form.resolution).await?)
        },
    )
    .await
}

/// `POST /incidents/{number}/take-command` (responder): the caller becomes the commander.
pub(crate) async fn take_command(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
) -> Response {
    act(&app, layout, number, Ok(()), async |tx, ()| {
        Ok(service::take_command(tx, &user.actor, user.role, number).await?)
    })
    .await
}

/// `POST /incidents/{number}/reopen` (commander).
pub(crate) async fn reopen_incident(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<VersionForm>,
) -> Response {
    act_as(&app, layout, number, Some(&user), None, parse_version(&form.version), async |tx, version| {
        Ok(service::reopen(tx, &user.actor, number, version).await?)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CorrectForm {
    body: String,
}

/// `POST /incidents/{number}/events/{id}/correct` (responder: their own events; commander: any).
pub(crate) async fn correct_event(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    PathId(event_id): PathId,
    Form(form): Form<CorrectForm>,
) -> Response {
    act(&app, layout, number, Ok(()), async |tx, ()| {
        Ok(service::correct(tx, &user.actor, user.role, number, event_id, &form.body).await?)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DetailsForm {
    version: String,
    title: String,
    summary: String,
}

/// `POST /incidents/{number}/details` (whoever runs the incident): corrects title and summary.
pub(crate) async fn correct_details(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<DetailsForm>,
) -> Response {
    let kept = Kept::new(
        format!("{}/details", incident_path(number)),
        "summary",
        "Summary (Markdown)",
        &form.summary,
        "Save the correction",
    )
    .with("title", &form.title)
    .with("version", &form.version);
    act_as(
        &app,
        layout,
        number,
        Some(&user),
        Some(kept),
        parse_version(&form.version),
        async |tx, version| {
            Ok(service::correct_details(tx, &user.actor, number, version, &form.title, &form.summary).await?)
        },
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WithdrawForm {
    version: String,
    reason: String,
}

/// `POST /incidents/{number}/withdraw` (whoever runs the incident): off the status page, with
/// a reason.
pub(crate) async fn withdraw(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<WithdrawForm>,
) -> Response {
    let kept = Kept::new(
        format!("{}/withdraw", incident_path(number)),
        "reason",
        "Why it is withdrawn",
        &form.reason,
        "Withdraw from the status page",
    )
    .with("version", &form.version);
    act_as(
        &app,
        layout,
        number,
        Some(&user),
        Some(kept),
        parse_version(&form.version),
        async |tx, version| Ok(service::withdraw(tx, &user.actor, number, version, &form.reason).await?),
    )
    .await
}

/// `POST /incidents/{number}/publish` (whoever runs the incident): a private incident goes on
/// the status page.
pub(crate) async fn publish(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<VersionForm>,
) -> Response {
    act_as(&app, layout, number, Some(&user), None, parse_version(&form.version), async |tx, version| {
        Ok(service::publish(tx, &user.actor, number, version).await?)
    })
    .await
}
