//! The on-call pages: `/oncall` (who is on call now, the next four weeks, overrides) for
//! everyone signed in; editing rotations and overrides for admins through `oncall::service`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::Form;
use jiff::{SignedDuration, Timestamp};
use twisterlab_domain::role::Role;
use twisterlab_domain::rotation;

use super::service::{self, OnCallError, OverrideInput, RotationInput};
use crate::auth::CurrentUser;
use crate::db::oncall::{self as store, Covered, Person, RotationKind, RotationRow, Team};
use crate::db::users::{self, User};
use crate::incidents::view::user_label;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::error::AppError;
use crate::web::form::{Choice, NoticeQuery, Notices, PathId, form_outcome, see_other_with_notice};
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

/// How far ahead `/oncall` shows the plan, in days.
pub(crate) const PLAN_DAYS: i64 = 28;

const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// The flashes of the on-call pages.
const NOTICES: Notices = &[
    ("saved", "Rotation saved."),
    ("override-added", "Override added."),
    ("override-removed", "Override removed."),
];

impl From<OnCallError> for AppError {
    fn from(e: OnCallError) -> Self {
        match e {
            OnCallError::NotFound { what } => AppError::NotFoundThing { what },
            OnCallError::Refused(message) => AppError::Conflict(message),
            OnCallError::Invalid(errors) => AppError::Validation(errors),
            OnCallError::Database(e) => e.into(),
        }
    }
}

fn parse_kind(raw: &str) -> Result<RotationKind, AppError> {
    RotationKind::parse(raw).ok_or_else(|| AppError::NotFoundThing { what: format!("The rotation {raw:?}") })
}

// ---------------------------------------------------------------------------------------------
// GET /oncall

/// Someone on call, as the page shows them.
pub(crate) struct WhoView {
    pub(crate) who: Person,
    pub(crate) until: Option<Moment>,
    pub(crate) overridden: bool,
    /// How a page reaches them besides the shared channels: "PagerDuty, Slack (mentioned)", or
    /// "no contact method: only channels".
    pub(crate) reach: String,
}

/// One stretch of the plan.
pub(crate) struct ShiftView {
    pub(crate) start: Moment,
    pub(crate) end: Moment,
    pub(crate) who: Person,
    pub(crate) overridden: bool,
    pub(crate) current: bool,
}

/// An override still running or to come.
pub(crate) struct OverrideView {
    pub(crate) id: uuid::Uuid,
    pub(crate) who: Person,
    pub(crate) start: Moment,
    pub(crate) end: Moment,
    pub(crate) note: String,
}

/// One rotation's part of the page.
pub(crate) struct RotationView {
    pub(crate) kind: &'static str,
    pub(crate) label: &'static str,
    /// `None` when the rotation was never set up.
    pub(crate) summary: Option<String>,
    /// Why a stored rotation cannot be used, if so.
    pub(crate) problem: Option<String>,
    /// Everyone in the order they go on call from now: whoever is on shift first.
    pub(crate) turns: Vec<ShiftView>,
    pub(crate) plan: Vec<ShiftView>,
    pub(crate) overrides: Vec<OverrideView>,
    /// Who may cover in an override (active people with the rotation's role).
    pub(crate) cover_choices: Vec<Choice>,
    /// The id of that picker (one per rotation on the page).
    pub(crate) cover_id: String,
}

#[derive(Template)]
#[template(path = "oncall/index.html")]
pub(crate) struct OnCallPage {
    pub(crate) layout: Layout,
    pub(crate) primary: Option<WhoView>,
    pub(crate) secondary: Option<WhoView>,
    pub(crate) manager: Option<WhoView>,
    pub(crate) rotations: Vec<RotationView>,
    pub(crate) is_admin: bool,
    pub(crate) notice: Option<&'static str>,
    /// The rotation whose override form was refused, with the values and errors.
    pub(crate) failed_kind: Option<&'static str>,
    pub(crate) form: OverrideInput,
    pub(crate) errors: FieldErrors,
    /// What the other override forms show: nothing.
    pub(crate) no_errors: FieldErrors,
    pub(crate) time_zone: String,
}

impl OnCallPage {
    /// The errors of the override form of rotation `kind` (none unless it was refused).
    fn errors_for(&self, kind: &str) -> &FieldErrors {
        if self.failed_kind == Some(kind) { &self.errors } else { &self.no_errors }
    }

    /// The override form's value of `field` for rotation `kind` (empty unless it was refused).
    fn value(&self, kind: &str, field: &str) -> &str {
        if self.failed_kind != Some(kind) {
            return "";
        }
        match field {
            "starts_at" => &self.form.starts_at,
            "ends_at" => &self.form.ends_at,
            _ => &self.form.note,
        }
    }
}

fn who_view(
    covered: Option<&Covered>,
    pick: impl Fn(&rotation::OnCall<Person>) -> Option<Person>,
    t: Timestamp,
    zone: &jiff::tz::TimeZone,
    with_until: bool,
) -> Option<WhoView> {
    let c = covered?;
    let on = c.rotation.on_call_at(t, &c.overrides);
    let who = pick(&on)?;
    Some(WhoView {
        who,
        until: on.until.filter(|_| with_until).map(|u| Moment::new(u, zone, t)),
        overridden: on.overridden && with_until,
        reach: String::new(),
    })
}

/// Fills in how each person on call would be reached by their enabled contact methods.
async fn add_reach(
    db: &mut sqlx::PgConnection,
    views: &mut [&mut Option<WhoView>],
) -> Result<(), sqlx::Error> {
    let ids: Vec<uuid::Uuid> = views.iter().filter_map(|v| v.as_ref().map(|w| w.who.id)).collect();
    let methods = crate::db::contact_methods::enabled_of_users(db, &ids).await?;
    for view in views.iter_mut() {
        let Some(w) = view.as_mut() else { continue };
        let ways: Vec<String> = methods
            .iter()
            .filter(|m| m.user_id == w.who.id)
            .map(|m| {
                let kind = match m.kind {
                    twisterlab_domain::contact::ContactKind::Slack => {
                        "Slack: mentioned in Slack channel messages"
                    }
                    other => other.label(),
                };
                if m.label == m.kind.label() && m.kind != twisterlab_domain::contact::ContactKind::Slack {
                    m.label.clone()
                } else {
                    format!("{} ({kind})", m.label)
                }
            })
            .collect();
        w.reach = if ways.is_empty() {
            "no contact method: only channels".to_owned()
        } else {
            format!("pages also go to {}", ways.join(", "))
        };
    }
    Ok(())
}

/// "Weekly on Mondays at 09:00 (Europe/Berlin), counting from 2026-01-05".
fn summary(r: &RotationRow) -> String {
    let every = match r.length_days {
        7 => "Weekly".to_owned(),
        14 => "Every two weeks".to_owned(),
        1 => "Daily".to_owned(),
        n => format!("Every {n} days"),
    };
    let day = usize::try_from(r.handoff_weekday - 1).ok().and_then(|i| WEEKDAYS.get(i)).unwrap_or(&"?");
    let on = if r.length_days == 1 { String::new() } else { format!(" on {day}s") };
    format!(
        "{every}{on} at {} ({}), counting from {}",
        service::hhmm(r.handoff_time),
        r.time_zone,
        r.starts_on
    )
}

/// The people a rotation of `kind` may list, as choices; `picked` is selected.
fn people_choices(people: &[User], kind: RotationKind, picked: &str) -> Vec<Choice> {
    let need = service::min_role(kind);
    std::iter::once(Choice::new("", "choose someone", picked.is_empty()))
        .chain(
            people
                .iter()
                .filter(|u| u.active && u.role.allows(need))
                .map(|u| Choice::new(u.id.to_string(), user_label(u), u.id.to_string() == picked)),
        )
        .collect()
}

fn rotation_view(
    kind: RotationKind,
    team: &Team,
    rows: &[RotationRow],
    t: Timestamp,
    zone: &jiff::tz::TimeZone,
    cover_choices: Vec<Choice>,
) -> RotationView {
    let row = rows.iter().find(|r| r.kind == kind);
    let covered = team.get(kind);
    let until = t.checked_add(SignedDuration::from_hours(PLAN_DAYS * 24)).unwrap_or(Timestamp::MAX);
    let shift = |s: rotation::Shift<Person>| ShiftView {
        start: Moment::new(s.start, zone, t),
        end: Moment::new(s.end, zone, t),
        current: s.start <= t,
        who: s.who,
        overridden: s.overridden,
    };
    let plan = covered
        .map(|c| c.rotation.plan(t, until, &c.overrides).into_iter().map(shift).collect())
        .unwrap_or_default();
    let overrides = covered
        .map(|c| {
            c.override_rows
                .iter()
                .filter(|o| o.ends_at > t)
                .map(|o| OverrideView {
                    id: o.id,
                    who: o.who.clone(),
                    start: Moment::new(o.starts_at, zone, t),
                    end: Moment::new(o.ends_at, zone, t),
                    note: o.note.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let turns = covered.map(|c| c.rotation.turns(t).into_iter().map(shift).collect()).unwrap_or_default();
    RotationView {
        kind: kind.as_str(),
        label: kind.label(),
        summary: row.map(summary),
        problem: row.and_then(|r| r.to_domain().err()),
        turns,
        plan,
        overrides,
        cover_choices,
        cover_id: format!("{}-user", kind.as_str()),
    }
}

/// The page; `failed` is an override form to show again with its errors.
async fn oncall_page(
    app: &AppState,
    me: &CurrentUser,
    layout: Layout,
    notice: Option<&'static str>,
    failed: Option<(RotationKind, OverrideInput, FieldErrors)>,
) -> Result<OnCallPage, AppError> {
    let t = Timestamp::now();
    let zone = &app.config.timezone;
    let mut conn = app.pool.acquire().await?;
    let rows = store::rotations(&mut conn).await?;
    let team = store::team(&mut conn, t).await?;
    let people = users::list(&mut *conn).await?;
    let (failed_kind, form, errors) = match failed {
        Some((kind, form, errors)) => (Some(kind.as_str()), form, errors),
        None => (None, OverrideInput::default(), FieldErrors::new()),
    };
    let mut page = OnCallPage {
        layout,
        primary: who_view(team.responders.as_ref(), |o| Some(o.primary.clone()), t, zone, true),
        secondary: who_view(team.responders.as_ref(), |o| o.secondary.clone(), t, zone, false),
        manager: who_view(team.managers.as_ref(), |o| Some(o.primary.clone()), t, zone, true),
        rotations: RotationKind::ALL
            .into_iter()
            .map(|k| {
                let picked = if failed_kind == Some(k.as_str()) { form.user.trim() } else { "" };
                rotation_view(k, &team, &rows, t, zone, people_choices(&people, k, picked))
            })
            .collect(),
        is_admin: me.role.allows(Role::Admin),
        notice,
        failed_kind,
        form,
        errors,
        no_errors: FieldErrors::new(),
        time_zone: app.config.timezone_name.clone(),
    };
    add_reach(&mut conn, &mut [&mut page.primary, &mut page.secondary, &mut page.manager]).await?;
    Ok(page)
}

/// `GET /oncall`.
pub(crate) async fn show_oncall(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    Ok(render_page(&oncall_page(&app, &me, layout, q.text(NOTICES), None).await?))
}

// ---------------------------------------------------------------------------------------------
// GET/POST /oncall/rotations/{kind}

#[derive(Template)]
#[template(path = "oncall/rotation.html")]
pub(crate) struct RotationPage {
    pub(crate) layout: Layout,
    pub(crate) kind: &'static str,
    pub(crate) label: &'static str,
    pub(crate) form: RotationInput,
    /// Who may be listed, and what the list means.
    pub(crate) participants_hint: String,
    /// One picker per place in the hand-off order.
    pub(crate) places: Vec<Place>,
    /// The pickers' own errors: none (the list has one message, on the fieldset).
    pub(crate) no_errors: FieldErrors,
    pub(crate) weekdays: Vec<Choice>,
    pub(crate) errors: FieldErrors,
    pub(crate) exists: bool,
}

/// One place in a rotation's hand-off order: a picker of the people who may take it.
pub(crate) struct Place {
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) choices: Vec<Choice>,
}

/// As many places as people who may be listed (at least one, and never fewer than already
/// chosen), so a whole team fits without JavaScript adding rows.
fn places(people: &[User], kind: RotationKind, form: &RotationInput) -> Vec<Place> {
    let need = service::min_role(kind);
    let eligible = people.iter().filter(|u| u.active && u.role.allows(need)).count();
    let count = eligible.max(form.participant.len()).clamp(1, rotation::MAX_PARTICIPANTS);
    (0..count)
        .map(|i| {
            let picked = form.participant.get(i).map_or("", |v| v.trim());
            Place {
                id: format!("participant-{}", i + 1),
                label: format!("{} on call", ordinal(i + 1)),
                choices: people_choices(people, kind, picked),
            }
        })
        .collect()
}

/// "2nd", "3rd", "11th", "21st".
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn rotation_page(
    layout: Layout,
    kind: RotationKind,
    form: RotationInput,
    errors: FieldErrors,
    exists: bool,
    people: &[User],
) -> RotationPage {
    let selected: usize = form.handoff_weekday.trim().parse().unwrap_or(1);
    let meaning = match kind {
        RotationKind::Responders => "Whoever is on shift is the primary; the next one is the secondary.",
        RotationKind::Managers => "Whoever is on shift is the manager escalations go to.",
    };
    RotationPage {
        layout,
        kind: kind.as_str(),
        label: kind.label(),
        participants_hint: format!(
            "In the order they go on call: the first takes the first hand-off on or after the date below, and the list repeats. Active users with the role {} or higher; leave unused places empty. {meaning}",
            service::min_role(kind)
        ),
        places: places(people, kind, &form),
        no_errors: FieldErrors::new(),
        weekdays: WEEKDAYS
            .iter()
            .enumerate()
            .map(|(i, name)| Choice::new((i + 1).to_string(), *name, i + 1 == selected))
            .collect(),
        form,
        errors,
        exists,
    }
}

/// `GET /oncall/rotations/{kind}`: the edit form, filled with the stored rotation or defaults
/// (weekly, Mondays at 09:00 in the team's zone, from today).
pub(crate) async fn edit_rotation(
    State(app): State<AppState>,
    layout: Layout,
    Path(kind): Path<String>,
) -> Result<Response, AppError> {
    let kind = parse_kind(&kind)?;
    let mut conn = app.pool.acquire().await?;
    let row = store::rotations(&mut conn).await?.into_iter().find(|r| r.kind == kind);
    let form = match &row {
        Some(r) => RotationInput::of(r),
        None => RotationInput {
            participant: vec![],
            handoff_weekday: "1".into(),
            handoff_time: "09:00".into(),
            length_days: rotation::DEFAULT_LENGTH_DAYS.to_string(),
            time_zone: app.config.timezone_name.clone(),
            starts_on: Timestamp::now().to_zoned_datetime(app.config.timezone.clone()).date().to_string(),
        },
    };
    let people = users::list(&mut *conn).await?;
    Ok(render_page(&rotation_page(layout, kind, form, FieldErrors::new(), row.is_some(), &people)))
}

/// `POST /oncall/rotations/{kind}`: saves the rotation; every process reloads its header.
pub(crate) async fn save_rotation(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(kind): Path<String>,
    Form(form): Form<RotationInput>,
) -> Result<Response, AppError> {
    let kind = parse_kind(&kind)?;
    let result = async {
        let mut tx = app.pool.begin().await?;
        service::save_rotation(&mut tx, &me.actor, kind, &form).await?;
        tx.commit().await?;
        Ok(see_other_with_notice("/oncall", "saved"))
    }
    .await;
    let (exists, people) = if matches!(result, Err(AppError::Validation(_))) {
        let mut conn = app.pool.acquire().await?;
        let exists = store::rotations(&mut conn).await?.iter().any(|r| r.kind == kind);
        (exists, users::list(&mut *conn).await?)
    } else {
        (false, vec![])
    };
    Ok(form_outcome(result, |errors| {
        render_page(&rotation_page(layout, kind, form, errors, exists, &people))
    }))
}

// ---------------------------------------------------------------------------------------------
// POST /oncall/rotations/{kind}/overrides, POST /oncall/overrides/{id}/delete

/// `POST /oncall/rotations/{kind}/overrides`: someone covers the rotation from–to.
pub(crate) async fn add_override(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(kind): Path<String>,
    Form(form): Form<OverrideInput>,
) -> Result<Response, AppError> {
    let kind = parse_kind(&kind)?;
    let result = async {
        let mut tx = app.pool.begin().await?;
        service::add_override(&mut tx, &me.actor, kind, &form, Timestamp::now()).await?;
        tx.commit().await?;
        Ok(see_other_with_notice("/oncall", "override-added"))
    }
    .await;
    match result {
        // The form lives on /oncall: the whole page again, with this rotation's form refused.
        Err(AppError::Validation(errors)) => {
            let page = oncall_page(&app, &me, layout, None, Some((kind, form, errors.into()))).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response())
        }
        other => other,
    }
}

/// `POST /oncall/overrides/{id}/delete`.
pub(crate) async fn delete_override(
    State(app): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
) -> Result<Response, AppError> {
    let mut tx = app.pool.begin().await?;
    service::delete_override(&mut tx, &me.actor, id).await?;
    tx.commit().await?;
    Ok(see_other_with_notice("/oncall", "override-removed"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn places_read_as_english_ordinals() {
        let read: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111].map(super::ordinal).to_vec();
        assert_eq!(
            read,
            ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]
        );
    }
}
