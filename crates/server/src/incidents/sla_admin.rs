//! `GET/POST /admin/sla`: the SLA policy (response target and manager escalation per severity)
//! and the team's business hours, as a form for admins; `incidents::sla` saves it.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use jiff::SignedDuration;
use jiff::civil::{Time, Weekday};
use twisterlab_domain::business_hours::BusinessHours;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use twisterlab_domain::sla::{Escalation, SlaPolicy, SlaTarget};

use super::sla::{self, MAX_ESCALATION_MINUTES, PolicyChange, hhmm, target_field};
use crate::auth::{Access, CurrentUser, Routes};
use crate::db;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::error::AppError;
use crate::web::form::{Choice, NoticeQuery, Notices, form_outcome, see_other_with_notice};
use crate::web::page::{Layout, render_page};

pub(crate) fn routes() -> Routes {
    let admin = Access::Role(Role::Admin);
    Routes::new().get("/admin/sla", admin, show_policy).post("/admin/sla", admin, save_policy)
}

const NOTICES: Notices = &[("saved", "The SLA policy was saved.")];

/// Bound on typed minutes before they become durations (far beyond any valid value).
const CLAMP: i64 = 10 * MAX_ESCALATION_MINUTES;

const DAY_NAMES: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// The escalation choices, as `(value, label)`.
const ESCALATIONS: [(&str, &str); 3] = [
    ("immediately", "immediately"),
    ("after", "after N minutes unresolved"),
    ("next_business_day", "next business day"),
];

/// One severity's row of the form.
pub(crate) struct TargetRow {
    pub severity: &'static str,
    pub label: &'static str,
    /// `response_P1`, `escalation_P1`, `escalation_minutes_P1`.
    pub response_field: String,
    pub escalation_field: String,
    pub minutes_field: String,
    pub response: String,
    pub escalations: Vec<Choice>,
    pub escalation_minutes: String,
}

#[derive(Template)]
#[template(path = "admin/sla.html")]
pub(crate) struct SlaPage {
    pub layout: Layout,
    pub rows: Vec<TargetRow>,
    pub days: Vec<Choice>,
    pub opens: String,
    pub closes: String,
    pub errors: FieldErrors,
    pub notice: Option<&'static str>,
    pub time_zone: String,
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
                .map(|&s| {
                    (
                        s,
                        get(&target_field("response", s)),
                        get(&target_field("escalation", s)),
                        get(&target_field("escalation_minutes", s)),
                    )
                })
                .collect(),
            days: pairs.iter().filter(|(k, _)| k == "days").map(|(_, v)| v.trim().to_owned()).collect(),
            opens: get("opens"),
            closes: get("closes"),
        }
    }

    /// The change the form asks for; what does not parse is a field error.
    fn change(&self) -> Result<PolicyChange, AppError> {
        let mut errors = FieldErrors::new();
        let mut targets = vec![];
        for (s, response, kind, after) in &self.targets {
            let escalation_field = target_field("escalation", *s);
            let response = minutes(response, &target_field("response", *s), &mut errors);
            let escalation = match kind.as_str() {
                "immediately" => Some(Escalation::Immediately),
                "next_business_day" => Some(Escalation::NextBusinessDay),
                "after" => minutes(after, &escalation_field, &mut errors).map(Escalation::After),
                _ => {
                    errors
                        .push(escalation_field, "Choose immediately, after N minutes or next business day.");
                    None
                }
            };
            if let (Some(response), Some(escalation)) = (response, escalation) {
                targets.push((*s, SlaTarget { response, escalation }));
            }
        }
        let mut days: Vec<Weekday> = vec![];
        for raw in &self.days {
            match raw.parse::<i8>().ok().and_then(|n| Weekday::from_monday_one_offset(n).ok()) {
                Some(day) if !days.contains(&day) => days.push(day),
                Some(_) => {}
                None => errors.push("days", "Choose days from the list."),
            }
        }
        let mut time = |raw: &str, field: &str| {
            raw.parse::<Time>().ok().filter(|t| t.second() == 0 && t.subsec_nanosecond() == 0).or_else(|| {
                errors.push(field, format!("Enter a time such as 09:00 (got {raw:?})."));
                None
            })
        };
        let opens = time(&self.opens, "opens");
        let closes = time(&self.closes, "closes");
        match (opens, closes) {
            (Some(opens), Some(closes)) if errors.is_empty() => {
                Ok(PolicyChange { targets, days, opens, closes })
            }
            _ => Err(AppError::Validation(errors.into_vec())),
        }
    }
}

/// Typed minutes as a duration, or a field error.
fn minutes(raw: &str, field: &str, errors: &mut FieldErrors) -> Option<SignedDuration> {
    match raw.parse::<i64>() {
        // Clamped only so the duration cannot overflow; the rules judge the value.
        Ok(n) => Some(SignedDuration::from_mins(n.clamp(-CLAMP, CLAMP))),
        Err(_) => {
            errors.push(field, format!("Enter a whole number of minutes (got {raw:?})."));
            None
        }
    }
}

fn page(
    app: &AppState,
    layout: Layout,
    input: Input,
    errors: FieldErrors,
    notice: Option<&'static str>,
) -> SlaPage {
    let rows = input
        .targets
        .into_iter()
        .map(|(s, response, kind, minutes)| TargetRow {
            severity: s.as_str(),
            label: s.label(),
            response_field: target_field("response", s),
            escalation_field: target_field("escalation", s),
            minutes_field: target_field("escalation_minutes", s),
            response,
            escalations: ESCALATIONS.iter().map(|(v, l)| Choice::new(*v, *l, kind == *v)).collect(),
            escalation_minutes: minutes,
        })
        .collect();
    let days = DAY_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let value = (i + 1).to_string();
            let checked = input.days.contains(&value);
            Choice::new(value, *name, checked)
        })
        .collect();
    SlaPage {
        layout,
        rows,
        days,
        opens: input.opens,
        closes: input.closes,
        errors,
        notice,
        time_zone: app.config.timezone_name.clone(),
    }
}

/// `GET /admin/sla`.
pub(crate) async fn show_policy(
    State(app): State<AppState>,
    layout: Layout,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let mut conn = app.pool.acquire().await?;
    let policy = db::sla::policy(&mut *conn).await?;
    let hours = db::sla::business_hours(&mut *conn, &app.config.timezone).await?;
    let input = Input::of(&policy, &hours);
    Ok(render_page(&page(&app, layout, input, FieldErrors::new(), q.text(NOTICES))))
}

/// `POST /admin/sla`: saves every target and the hours at once, or shows the form again.
pub(crate) async fn save_policy(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let input = Input::from_pairs(&pairs);
    let saved = async {
        let change = input.change()?;
        let mut tx = app.pool.begin().await?;
        sla::save_policy(&mut tx, &user.actor, &app.config.timezone, &change).await?;
        tx.commit().await?;
        Ok(see_other_with_notice("/admin/sla", "saved"))
    }
    .await;
    form_outcome(saved, |errors| render_page(&page(&app, layout, input, errors, None)))
}
