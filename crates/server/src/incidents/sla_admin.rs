//! `GET/POST /admin/sla`: the SLA policy (response target and manager escalation per severity)
//! and the team's business hours, edited by admins, validated by the domain, audited.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::SignedDuration;
use jiff::civil::{Time, Weekday};
use serde::Deserialize;
use serde_json::{Value, json};
use twisterlab_domain::business_hours::{BusinessHours, BusinessHoursError, Weekdays};
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use twisterlab_domain::sla::{Escalation, SlaPolicy, SlaTarget};

use crate::auth::{Access, CurrentUser, Routes};
use crate::db::audit::{self, Entry};
use crate::db::sla;
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::error::AppError;
use crate::web::form::Choice;
use crate::web::form::see_other;
use crate::web::page::{Layout, render_page};

/// Longest escalation delay the form accepts, in minutes (90 days).
pub const MAX_ESCALATION_MINUTES: i64 = 90 * 24 * 60;

pub fn routes() -> Routes {
    let admin = Access::Role(Role::Admin);
    Routes::new().get("/admin/sla", admin, show_policy).post("/admin/sla", admin, save_policy)
}

/// Bound on typed minutes before they become durations (far beyond any valid value).
const CLAMP: i64 = 10 * MAX_ESCALATION_MINUTES;

const DAY_NAMES: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// One severity's row of the form.
pub struct TargetRow {
    pub severity: &'static str,
    pub label: &'static str,
    pub response: String,
    pub escalations: Vec<Choice>,
    pub escalation_minutes: String,
    pub response_error: Option<String>,
    pub escalation_error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/sla.html")]
pub struct SlaPage {
    pub layout: Layout,
    pub rows: Vec<TargetRow>,
    pub days: Vec<Choice>,
    pub opens: String,
    pub closes: String,
    pub errors: Vec<FieldError>,
    pub saved: bool,
    pub time_zone: String,
}

impl SlaPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }
}

/// The form's values as typed.
struct Input {
    /// Per severity: response minutes, escalation kind, escalation minutes.
    targets: Vec<(Severity, String, String, String)>,
    days: Vec<String>,
    opens: String,
    closes: String,
}

impl Input {
    fn of(policy: &SlaPolicy, hours: &BusinessHours) -> Self {
        let targets = policy
            .targets()
            .map(|(s, t)| {
                let (kind, minutes) = match t.escalation {
                    Escalation::Immediately => ("immediately", String::new()),
                    Escalation::After(d) => ("after", (d.as_secs() / 60).to_string()),
                    Escalation::NextBusinessDay => ("next_business_day", String::new()),
                };
                (s, (t.response.as_secs() / 60).to_string(), kind.to_owned(), minutes)
            })
            .collect();
        Self {
            targets,
            days: hours.days().iter().map(|d| d.to_monday_one_offset().to_string()).collect(),
            opens: hhmm(hours.open()),
            closes: hhmm(hours.close()),
        }
    }

    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let get = |k: &str| {
            pairs.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.trim().to_owned()).unwrap_or_default()
        };
        Self {
            targets: Severity::ALL
                .iter()
                .map(|s| {
                    let s = *s;
                    (
                        s,
                        get(&format!("response_{s}")),
                        get(&format!("escalation_{s}")),
                        get(&format!("escalation_minutes_{s}")),
                    )
                })
                .collect(),
            days: pairs.iter().filter(|(k, _)| k == "days").map(|(_, v)| v.trim().to_owned()).collect(),
            opens: get("opens"),
            closes: get("closes"),
        }
    }
}

fn hhmm(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

fn page(app: &AppState, layout: Layout, input: Input, errors: Vec<FieldError>, saved: bool) -> SlaPage {
    let err = |field: String| errors.iter().find(|e| e.field == field).map(|e| e.message.clone());
    let rows = input
        .targets
        .into_iter()
        .map(|(s, response, kind, minutes)| TargetRow {
            severity: s.as_str(),
            label: s.label(),
            response,
            escalations: [
                ("immediately", "immediately"),
                ("after", "after N minutes unresolved"),
                ("next_business_day", "next business day"),
            ]
            .iter()
            .map(|(v, l)| Choice { value: (*v).into(), label: (*l).into(), selected: kind == *v })
            .collect(),
            escalation_minutes: minutes,
            response_error: err(format!("response_{s}")),
            escalation_error: err(format!("escalation_{s}")),
        })
        .collect();
    let days = DAY_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let value = (i + 1).to_string();
            let checked = input.days.contains(&value);
            Choice { value, label: (*name).into(), selected: checked }
        })
        .collect();
    SlaPage {
        layout,
        rows,
        days,
        opens: input.opens,
        closes: input.closes,
        errors,
        saved,
        time_zone: app.config.timezone_name.clone(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SavedQuery {
    saved: String,
}

/// `GET /admin/sla`.
pub async fn show_policy(
    State(app): State<AppState>,
    layout: Layout,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    let mut conn = app.pool.acquire().await?;
    let policy = sla::policy(&mut *conn).await?;
    let hours = sla::business_hours(&mut *conn, &app.config.timezone).await?;
    Ok(render_page(&page(&app, layout, Input::of(&policy, &hours), vec![], !q.saved.is_empty())))
}

/// What a valid form stores.
struct Parsed {
    targets: Vec<(Severity, SlaTarget)>,
    days: Vec<i16>,
    opens: Time,
    closes: Time,
}

fn minutes(raw: &str, field: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
    match raw.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(FieldError::new(field, format!("Enter a whole number of minutes (got {raw:?}).")));
            None
        }
    }
}

fn parse(input: &Input, zone: &jiff::tz::TimeZone, errors: &mut Vec<FieldError>) -> Option<Parsed> {
    let mut targets = vec![];
    for (s, response, kind, after) in &input.targets {
        let response_field = format!("response_{s}");
        let escalation_field = format!("escalation_{s}");
        // Clamped only so the duration cannot overflow; the domain's rules judge the value.
        let response = minutes(response, &response_field, errors)
            .map(|m| SignedDuration::from_mins(m.clamp(-CLAMP, CLAMP)));
        let escalation = match kind.as_str() {
            "immediately" => Some(Escalation::Immediately),
            "next_business_day" => Some(Escalation::NextBusinessDay),
            "after" => match minutes(after, &escalation_field, errors) {
                Some(m) if m > MAX_ESCALATION_MINUTES => {
                    errors.push(FieldError::new(
                        &escalation_field,
                        format!("Escalate within {MAX_ESCALATION_MINUTES} minutes (90 days)."),
                    ));
                    None
                }
                Some(m) => Some(Escalation::After(SignedDuration::from_mins(m.max(-CLAMP)))),
                None => None,
            },
            _ => {
                errors.push(FieldError::new(
                    &escalation_field,
                    "Choose immediately, after N minutes or next business day.",
                ));
                None
            }
        };
        if let (Some(response), Some(escalation)) = (response, escalation) {
            let target = SlaTarget { response, escalation };
            match target.validate(*s) {
                Ok(()) => targets.push((*s, target)),
                Err(e) => {
                    let field = format!("{}_{s}", e.field().as_str());
                    errors.push(FieldError::new(field, format!("{e}.")));
                }
            }
        }
    }
    let mut set = Weekdays::NONE;
    let mut days = vec![];
    for raw in &input.days {
        match raw.parse::<i8>().ok().and_then(|n| Weekday::from_monday_one_offset(n).ok()) {
            Some(day) if !set.contains(day) => {
                set = set.with(day);
                days.push(i16::from(day.to_monday_one_offset()));
            }
            Some(_) => {}
            None => errors.push(FieldError::new("days", "Choose days from the list.")),
        }
    }
    days.sort_unstable();
    let time = |raw: &str, field: &str, errors: &mut Vec<FieldError>| -> Option<Time> {
        raw.parse::<Time>().ok().filter(|t| t.second() == 0 && t.subsec_nanosecond() == 0).or_else(|| {
            errors.push(FieldError::new(field, format!("Enter a time such as 09:00 (got {raw:?}).")));
            None
        })
    };
    let opens = time(&input.opens, "opens", errors);
    let closes = time(&input.closes, "closes", errors);
    if let (Some(opens), Some(closes)) = (opens, closes) {
        match BusinessHours::new(zone.clone(), set, opens, closes) {
            Ok(_) => {}
            Err(e @ BusinessHoursError::OpensAfterClosing { .. }) => {
                errors.push(FieldError::new("closes", format!("{}: {e}.", "Business hours")))
            }
            Err(e @ BusinessHoursError::NoDays) => {
                errors.push(FieldError::new("days", format!("{}: {e}.", "Business hours")))
            }
        }
    }
    let (Some(opens), Some(closes), true) = (opens, closes, errors.is_empty()) else { return None };
    Some(Parsed { targets, days, opens, closes })
}

fn snapshot(policy: &SlaPolicy, hours: &BusinessHours) -> Value {
    let mut out = serde_json::Map::new();
    for (s, t) in policy.targets() {
        out.insert(
            s.as_str().into(),
            json!({"response_minutes": t.response.as_secs() / 60, "escalation": t.escalation.to_string()}),
        );
    }
    let days: Vec<i8> = hours.days().iter().map(|d| d.to_monday_one_offset()).collect();
    out.insert(
        "business_hours".into(),
        json!({"days": days, "opens": hhmm(hours.open()), "closes": hhmm(hours.close())}),
    );
    Value::Object(out)
}

fn to_time(t: Time) -> Result<time::Time, AppError> {
    time::Time::from_hms(t.hour().unsigned_abs(), t.minute().unsigned_abs(), 0)
        .map_err(|e| AppError::Internal(e.into()))
}

/// `POST /admin/sla`: validates, then saves every target and the hours in one transaction.
pub async fn save_policy(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let zone = &app.config.timezone;
    let input = Input::from_pairs(&pairs);
    let mut errors = vec![];
    let Some(parsed) = parse(&input, zone, &mut errors) else {
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            render_page(&page(&app, layout, input, errors, false)),
        )
            .into_response());
    };
    let mut tx = app.pool.begin().await?;
    let before = snapshot(&sla::policy(&mut *tx).await?, &sla::business_hours(&mut *tx, zone).await?);
    for (severity, target) in &parsed.targets {
        sla::save_target(&mut *tx, *severity, target).await?;
    }
    sla::save_business_hours(&mut *tx, &parsed.days, to_time(parsed.opens)?, to_time(parsed.closes)?).await?;
    let after = snapshot(&sla::policy(&mut *tx).await?, &sla::business_hours(&mut *tx, zone).await?);
    audit::record(
        &mut *tx,
        &user.actor,
        Entry { action: "sla.update", target: "sla_policy".into(), before: Some(before), after: Some(after) },
    )
    .await?;
    tx.commit().await?;
    Ok(see_other("/admin/sla?saved=1"))
}
