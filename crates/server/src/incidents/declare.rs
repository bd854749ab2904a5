//! `GET /incidents/new` and `POST /incidents`: the declare form, with the SLA each severity
//! starts; field errors show the form again as typed.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::tz::TimeZone;
use time::OffsetDateTime;
use twisterlab_domain::incident::{Impact, Title};
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use twisterlab_domain::sla::compact_duration;
use uuid::Uuid;

use super::service::{self, Declaration};
use super::view::{impact_choices, incident_path, param, user_label};
use crate::auth::CurrentUser;
use crate::clock::{from_jiff, to_jiff};
use crate::db::{components, sla, users};
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::error::AppError;
use crate::web::form::{Choice, see_other};
use crate::web::page::{Layout, render_page};

/// A severity choice with what it means and its current SLA.
pub(crate) struct SeverityChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub sla: String,
    pub checked: bool,
}

/// One component of the declare form, with the impact chosen for it.
pub(crate) struct ComponentChoice {
    pub field: String,
    pub name: String,
    pub group: String,
    pub impacts: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "incidents/new.html")]
pub(crate) struct NewPage {
    pub layout: Layout,
    pub title: String,
    pub summary: String,
    pub severities: Vec<SeverityChoice>,
    pub started_at: String,
    pub detected_at: String,
    pub security: bool,
    pub private: bool,
    pub components: Vec<ComponentChoice>,
    pub labels: String,
    pub commanders: Vec<Choice>,
    pub errors: FieldErrors,
    /// "Started at (Europe/Berlin)": the zone the times are typed in.
    pub started_label: String,
    pub detected_label: String,
    pub is_admin: bool,
}

/// Form values as typed, to build or show again the declare form.
#[derive(Default)]
struct DeclareInput {
    title: String,
    summary: String,
    severity: String,
    started_at: String,
    detected_at: String,
    security: bool,
    private: bool,
    labels: String,
    commander: String,
    /// Component id (as typed) → impact name (as typed).
    impacts: HashMap<String, String>,
}

impl DeclareInput {
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let impacts = pairs
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("impact_")?.to_owned(), v.trim().to_owned())))
            .collect();
        Self {
            title: param(pairs, "title").to_owned(),
            summary: param(pairs, "summary").to_owned(),
            severity: param(pairs, "severity").trim().to_owned(),
            started_at: param(pairs, "started_at").trim().to_owned(),
            detected_at: param(pairs, "detected_at").trim().to_owned(),
            security: !param(pairs, "security").is_empty(),
            private: !param(pairs, "private").is_empty(),
            labels: param(pairs, "labels").to_owned(),
            commander: param(pairs, "commander").trim().to_owned(),
            impacts,
        }
    }

    /// The declaration the form asks for; what does not parse is a field error (with what the
    /// use case would also say about the title and severity, so one answer lists everything).
    fn declaration(&self, zone: &TimeZone) -> Result<Declaration, AppError> {
        let mut errors = FieldErrors::new();
        let severity = match self.severity.as_str() {
            "" => None,
            raw => raw.parse::<Severity>().map_err(|e| errors.push("severity", format!("{e}."))).ok(),
        };
        let started_at =
            parse_local(&self.started_at, zone).map_err(|m| errors.push("started_at", m)).ok().flatten();
        let detected_at =
            parse_local(&self.detected_at, zone).map_err(|m| errors.push("detected_at", m)).ok().flatten();
        let mut component_impacts = vec![];
        for (id, impact) in &self.impacts {
            if impact.is_empty() {
                continue;
            }
            match (id.parse::<Uuid>(), impact.parse::<Impact>()) {
                (Ok(id), Ok(impact)) => component_impacts.push((id, impact)),
                _ => errors.push("components", "Choose an impact from the list for each component."),
            }
        }
        let commander_id = match self.commander.as_str() {
            "" => None,
            raw => raw
                .parse::<Uuid>()
                .map_err(|_| errors.push("commander", "Choose a commander from the list."))
                .ok(),
        };
        if !errors.is_empty() {
            if let Err(e) = Title::parse(&self.title) {
                errors.push("title", e.to_string());
            }
            if severity.is_none() && !errors.has("severity") {
                errors.push("severity", "Choose a severity: P0, P1, P2 or P3.");
            }
            return Err(AppError::Validation(errors.into_vec()));
        }
        Ok(Declaration {
            title: self.title.clone(),
            summary: self.summary.clone(),
            severity,
            started_at,
            detected_at,
            private: self.private.then_some(true),
            security: self.security,
            components: component_impacts,
            labels: self
                .labels
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            commander_id,
        })
    }
}

/// A `datetime-local` value in the team zone; empty means "not given".
fn parse_local(raw: &str, zone: &TimeZone) -> Result<Option<OffsetDateTime>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let civil: jiff::civil::DateTime =
        raw.parse().map_err(|_| format!("Enter a date and time such as 2026-11-29T14:05 (got {raw:?})."))?;
    let zoned = civil
        .to_zoned_datetime(zone.clone())
        .map_err(|_| "That time does not exist in the team's time zone.".to_owned())?;
    Ok(Some(from_jiff(zoned.timestamp())))
}

/// The value a `datetime-local` input shows for `t` in the team zone.
fn local_input(t: OffsetDateTime, zone: &TimeZone) -> String {
    to_jiff(t).to_zoned_datetime(zone.clone()).strftime("%Y-%m-%dT%H:%M").to_string()
}

/// The declare form with `input` and `errors`, its choices read from the database.
async fn new_page(
    app: &AppState,
    layout: Layout,
    input: DeclareInput,
    errors: FieldErrors,
) -> Result<NewPage, AppError> {
    let mut conn = app.pool.acquire().await?;
    let policy = sla::policy(&mut *conn).await?;
    let all_components = components::list(&mut *conn).await?;
    let people = users::list(&mut *conn).await?;
    let severities = policy
        .targets()
        .map(|(s, t)| SeverityChoice {
            value: s.as_str(),
            label: s.label(),
            sla: format!(
                "acknowledge within {}, escalate to a manager {}",
                compact_duration(t.response),
                t.escalation
            ),
            checked: input.severity.eq_ignore_ascii_case(s.as_str()),
        })
        .collect();
    let components = all_components
        .iter()
        .map(|c| {
            let current = input.impacts.get(&c.id.to_string()).map(String::as_str).unwrap_or("");
            ComponentChoice {
                field: format!("impact_{}", c.id),
                name: c.name.clone(),
                group: c.group_name.clone().unwrap_or_default(),
                impacts: impact_choices(current),
            }
        })
        .collect();
    let commanders = people
        .iter()
        .filter(|u| u.active && u.role.allows(Role::Commander))
        .map(|u| Choice::new(u.id.to_string(), user_label(u), input.commander == u.id.to_string()))
        .collect();
    let zone_name = &app.config.timezone_name;
    Ok(NewPage {
        is_admin: layout.user.as_ref().is_some_and(|u| u.role.allows(Role::Admin)),
        layout,
        title: input.title,
        summary: input.summary,
        severities,
        started_at: input.started_at,
        detected_at: input.detected_at,
        security: input.security,
        private: input.private,
        components,
        labels: input.labels,
        commanders,
        errors,
        started_label: format!("Started at ({zone_name})"),
        detected_label: format!("Detected at ({zone_name})"),
    })
}

/// `GET /incidents/new`: the declare form, starting now, commanded by me.
pub(crate) async fn new_incident(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
) -> Result<Response, AppError> {
    let now = local_input(OffsetDateTime::now_utc(), &app.config.timezone);
    let input = DeclareInput {
        started_at: now.clone(),
        detected_at: now,
        commander: user.user.id.to_string(),
        ..Default::default()
    };
    Ok(render_page(&new_page(&app, layout, input, FieldErrors::new()).await?))
}

/// `POST /incidents`: declares, then shows the new incident; field errors show the form again.
pub(crate) async fn declare_incident(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let input = DeclareInput::from_pairs(&pairs);
    let declared = async {
        let declaration = input.declaration(&app.config.timezone)?;
        let mut tx = app.pool.begin().await?;
        let incident = service::declare(&mut tx, &user.actor, &app.config.timezone, &declaration).await?;
        tx.commit().await?;
        Ok(see_other(&incident_path(incident.number)))
    }
    .await;
    match declared {
        // The form's choices are read only when it is shown again.
        Err(AppError::Validation(errors)) => {
            let page = new_page(&app, layout, input, errors.into()).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response())
        }
        other => other,
    }
}
