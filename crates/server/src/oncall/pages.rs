//! The on-call pages: `/oncall` (who is on call now, the next four weeks, overrides) for
//! everyone signed in; editing rotations and overrides for admins, audited.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use time::OffsetDateTime;
use twisterlab_domain::role::Role;
use twisterlab_domain::rotation::{self, Override};
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::clock::{from_jiff, to_jiff};
use crate::db::audit::{self, Entry};
use crate::db::oncall::{self as store, Covered, Person, RotationKind, RotationSettings, Team};
use crate::db::users;
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::error::AppError;
use crate::web::form::see_other;
use crate::web::page::{Layout, render_page};

/// How far ahead `/oncall` shows the plan.
pub const PLAN_DAYS: i64 = 28;
/// Longest override note, in characters.
pub const MAX_NOTE: usize = 200;

const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

fn first_error<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
}

fn shown(t: Timestamp, zone: &jiff::tz::TimeZone) -> String {
    crate::clock::absolute(from_jiff(t), zone)
}

fn parse_kind(raw: &str) -> Result<RotationKind, AppError> {
    RotationKind::parse(raw).ok_or_else(|| AppError::NotFoundThing { what: format!("The rotation {raw:?}") })
}

// ---------------------------------------------------------------------------------------------
// GET /oncall

/// Someone on call, as the page shows them.
pub struct WhoView {
    pub name: String,
    pub email: String,
    pub until: Option<String>,
    pub overridden: bool,
}

/// One stretch of the plan.
pub struct ShiftView {
    pub start: String,
    pub start_iso: String,
    pub end: String,
    pub who: String,
    pub email: String,
    pub overridden: bool,
    pub current: bool,
}

/// An override still running or to come.
pub struct OverrideView {
    pub id: Uuid,
    pub who: String,
    pub start: String,
    pub end: String,
    pub note: String,
}

/// One rotation's part of the page.
pub struct RotationView {
    pub kind: &'static str,
    pub label: &'static str,
    /// `None` when the rotation was never set up.
    pub summary: Option<String>,
    /// Why a stored rotation cannot be used, if so.
    pub problem: Option<String>,
    pub participants: Vec<Person>,
    pub plan: Vec<ShiftView>,
    pub overrides: Vec<OverrideView>,
}

/// Values of an override form, to show again with its errors.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OverrideForm {
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Template)]
#[template(path = "oncall/index.html")]
pub struct OnCallPage {
    pub layout: Layout,
    pub primary: Option<WhoView>,
    pub secondary: Option<WhoView>,
    pub manager: Option<WhoView>,
    pub rotations: Vec<RotationView>,
    pub is_admin: bool,
    pub notice: Option<&'static str>,
    /// The rotation whose override form was refused, with the values and errors.
    pub failed_kind: Option<&'static str>,
    pub form: OverrideForm,
    pub errors: Vec<FieldError>,
    pub time_zone: String,
}

impl OnCallPage {
    fn error(&self, field: &str) -> Option<&str> {
        first_error(&self.errors, field)
    }

    /// The override form's value of `field` for rotation `kind` (empty unless it was refused).
    fn value(&self, kind: &str, field: &str) -> &str {
        if self.failed_kind != Some(kind) {
            return "";
        }
        match field {
            "user" => &self.form.user,
            "starts_at" => &self.form.starts_at,
            "ends_at" => &self.form.ends_at,
            _ => &self.form.note,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn notice_text(q: &NoticeQuery) -> Option<&'static str> {
    match q.notice.as_deref()? {
        "saved" => Some("Rotation saved."),
        "override-added" => Some("Override added."),
        "override-removed" => Some("Override removed."),
        _ => None,
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
        name: who.name,
        email: who.email,
        until: on.until.filter(|_| with_until).map(|u| shown(u, zone)),
        overridden: on.overridden && with_until,
    })
}

fn rotation_view(
    kind: RotationKind,
    team: &Team,
    rows: &[store::RotationRow],
    t: Timestamp,
    zone: &jiff::tz::TimeZone,
) -> RotationView {
    let row = rows.iter().find(|r| r.kind == kind);
    let covered = team.get(kind);
    let until = t.checked_add(SignedDuration::from_hours(PLAN_DAYS * 24)).unwrap_or(Timestamp::MAX);
    let plan = covered
        .map(|c| {
            c.rotation
                .plan(t, until, &c.overrides)
                .into_iter()
                .map(|s| ShiftView {
                    start: shown(s.start, zone),
                    start_iso: s.start.to_string(),
                    end: shown(s.end, zone),
                    who: s.who.name.clone(),
                    email: s.who.email.clone(),
                    overridden: s.overridden,
                    current: s.start <= t,
                })
                .collect()
        })
        .unwrap_or_default();
    let overrides = covered
        .map(|c| {
            c.override_rows
                .iter()
                .filter(|o| o.ends_at > from_jiff(t))
                .map(|o| OverrideView {
                    id: o.id,
                    who: o.who.name.clone(),
                    start: crate::clock::absolute(o.starts_at, zone),
                    end: crate::clock::absolute(o.ends_at, zone),
                    note: o.note.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    RotationView {
        kind: kind.as_str(),
        label: kind.label(),
        summary: row.map(|r| {
            let every = match r.length_days {
                7 => "Weekly".to_owned(),
                14 => "Every two weeks".to_owned(),
                1 => "Daily".to_owned(),
                n => format!("Every {n} days"),
            };
            let day =
                usize::try_from(r.handoff_weekday - 1).ok().and_then(|i| WEEKDAYS.get(i)).unwrap_or(&"?");
            let on = if r.length_days == 1 { String::new() } else { format!(" on {day}s") };
            format!(
                "{every}{on} at {} ({}), counting from {}",
                hhmm(r.handoff_time),
                r.time_zone,
                r.starts_on
            )
        }),
        problem: row.and_then(|r| r.to_domain().err()),
        participants: row.map(|r| r.participants.clone()).unwrap_or_default(),
        plan,
        overrides,
    }
}

fn hhmm(t: time::Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

async fn oncall_page(
    app: &AppState,
    me: &CurrentUser,
    layout: Layout,
    notice: Option<&'static str>,
    failed: Option<(RotationKind, OverrideForm, Vec<FieldError>)>,
) -> Result<OnCallPage, AppError> {
    let now = OffsetDateTime::now_utc();
    let t = to_jiff(now);
    let zone = &app.config.timezone;
    let mut conn = app.pool.acquire().await?;
    let rows = store::rotations(&mut conn).await?;
    let team = store::team(&mut conn, now).await?;
    let (failed_kind, form, errors) = match failed {
        Some((kind, form, errors)) => (Some(kind.as_str()), form, errors),
        None => (None, OverrideForm::default(), vec![]),
    };
    Ok(OnCallPage {
        layout,
        primary: who_view(team.responders.as_ref(), |o| Some(o.primary.clone()), t, zone, true),
        secondary: who_view(team.responders.as_ref(), |o| o.secondary.clone(), t, zone, false),
        manager: who_view(team.managers.as_ref(), |o| Some(o.primary.clone()), t, zone, true),
        rotations: RotationKind::ALL.into_iter().map(|k| rotation_view(k, &team, &rows, t, zone)).collect(),
        is_admin: me.role.allows(Role::Admin),
        notice,
        failed_kind,
        form,
        errors,
        time_zone: app.config.timezone_name.clone(),
    })
}

/// `GET /oncall`.
pub async fn show_oncall(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    Ok(render_page(&oncall_page(&app, &me, layout, notice_text(&q), None).await?))
}

// ---------------------------------------------------------------------------------------------
// GET/POST /oncall/rotations/{kind}

/// The rotation form's fields, as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RotationForm {
    /// E-mail addresses, one per line, in hand-off order.
    #[serde(default)]
    pub participants: String,
    #[serde(default)]
    pub handoff_weekday: String,
    #[serde(default)]
    pub handoff_time: String,
    #[serde(default)]
    pub length_days: String,
    #[serde(default)]
    pub time_zone: String,
    #[serde(default)]
    pub starts_on: String,
}

/// One choice of the weekday select.
pub struct WeekdayOption {
    pub value: usize,
    pub name: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "oncall/rotation.html")]
pub struct RotationPage {
    pub layout: Layout,
    pub kind: &'static str,
    pub label: &'static str,
    /// Who may be listed: responders (or higher) for responders, managers (or higher) for managers.
    pub min_role: &'static str,
    pub form: RotationForm,
    pub weekdays: Vec<WeekdayOption>,
    pub errors: Vec<FieldError>,
    pub exists: bool,
}

impl RotationPage {
    fn error(&self, field: &str) -> Option<&str> {
        first_error(&self.errors, field)
    }
}

fn min_role(kind: RotationKind) -> Role {
    match kind {
        RotationKind::Responders => Role::Responder,
        RotationKind::Managers => Role::Manager,
    }
}

fn rotation_page(
    layout: Layout,
    kind: RotationKind,
    form: RotationForm,
    errors: Vec<FieldError>,
    exists: bool,
) -> RotationPage {
    let selected: usize = form.handoff_weekday.trim().parse().unwrap_or(1);
    RotationPage {
        layout,
        kind: kind.as_str(),
        label: kind.label(),
        min_role: min_role(kind).as_str(),
        weekdays: WEEKDAYS
            .iter()
            .enumerate()
            .map(|(i, name)| WeekdayOption { value: i + 1, name, selected: i + 1 == selected })
            .collect(),
        form,
        errors,
        exists,
    }
}

/// `GET /oncall/rotations/{kind}`: the edit form, filled with the stored rotation or defaults
/// (weekly, Mondays at 09:00 in the team's zone, from today).
pub async fn edit_rotation(
    State(app): State<AppState>,
    layout: Layout,
    Path(kind): Path<String>,
) -> Result<Response, AppError> {
    let kind = parse_kind(&kind)?;
    let mut conn = app.pool.acquire().await?;
    let row = store::rotations(&mut conn).await?.into_iter().find(|r| r.kind == kind);
    let form = match &row {
        Some(r) => RotationForm {
            participants: r.participants.iter().map(|p| p.email.clone()).collect::<Vec<_>>().join("\n"),
            handoff_weekday: r.handoff_weekday.to_string(),
            handoff_time: hhmm(r.handoff_time),
            length_days: r.length_days.to_string(),
            time_zone: r.time_zone.clone(),
            starts_on: r.starts_on.to_string(),
        },
        None => RotationForm {
            participants: String::new(),
            handoff_weekday: "1".into(),
            handoff_time: "09:00".into(),
            length_days: rotation::DEFAULT_LENGTH_DAYS.to_string(),
            time_zone: app.config.timezone_name.clone(),
            starts_on: to_jiff(OffsetDateTime::now_utc())
                .to_zoned_datetime(app.config.timezone.clone())
                .date()
                .to_string(),
        },
    };
    Ok(render_page(&rotation_page(layout, kind, form, vec![], row.is_some())))
}

/// A checked rotation form, ready to store.
struct CheckedRotation {
    participants: Vec<users::User>,
    weekday: i16,
    time: time::Time,
    length: i16,
    zone: String,
    starts_on: time::Date,
}

async fn check_rotation(
    db: &mut PgConnection,
    kind: RotationKind,
    form: &RotationForm,
) -> Result<Result<CheckedRotation, Vec<FieldError>>, sqlx::Error> {
    let mut errors = vec![];
    let mut people = vec![];
    let lines: Vec<&str> = form.participants.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        errors
            .push(FieldError::new("participants", "List at least one person, one e-mail address per line."));
    } else if lines.len() > rotation::MAX_PARTICIPANTS {
        errors.push(FieldError::new(
            "participants",
            format!("List at most {} people.", rotation::MAX_PARTICIPANTS),
        ));
    }
    let need = min_role(kind);
    for line in lines.iter().take(rotation::MAX_PARTICIPANTS) {
        match users::find_by_email(&mut *db, line).await? {
            None => {
                errors.push(FieldError::new("participants", format!("Nobody has the e-mail address {line}.")))
            }
            Some(u) if !u.active => {
                errors.push(FieldError::new("participants", format!("{line} is deactivated.")))
            }
            Some(u) if !u.role.allows(need) => errors.push(FieldError::new(
                "participants",
                format!("{line} is a {}; this rotation needs {} or higher.", u.role, need),
            )),
            Some(u) if people.iter().any(|p: &users::User| p.id == u.id) => {
                errors.push(FieldError::new("participants", format!("{line} is listed twice.")))
            }
            Some(u) => people.push(u),
        }
    }
    let weekday = form.handoff_weekday.trim().parse::<i16>().ok().filter(|d| (1..=7).contains(d));
    if weekday.is_none() {
        errors.push(FieldError::new("handoff_weekday", "Choose a weekday."));
    }
    let time = parse_time(&form.handoff_time);
    if time.is_none() {
        errors.push(FieldError::new("handoff_time", "Enter a time such as 09:00."));
    }
    let max = rotation::MAX_LENGTH_DAYS;
    let length = form.length_days.trim().parse::<i16>().ok().filter(|n| (1..=max as i16).contains(n));
    if length.is_none() {
        errors.push(FieldError::new(
            "length_days",
            format!("Enter a number of days from 1 to {max} (7 is weekly)."),
        ));
    }
    let zone = form.time_zone.trim().to_owned();
    if jiff::tz::TimeZone::get(&zone).is_err() {
        errors.push(FieldError::new("time_zone", "Enter an IANA time zone such as Europe/Berlin or UTC."));
    }
    let starts_on = parse_date(&form.starts_on);
    if starts_on.is_none() {
        errors.push(FieldError::new("starts_on", "Enter a date such as 2026-01-05."));
    }
    match (weekday, time, length, starts_on, errors.is_empty()) {
        (Some(weekday), Some(time), Some(length), Some(starts_on), true) => {
            Ok(Ok(CheckedRotation { participants: people, weekday, time, length, zone, starts_on }))
        }
        _ => Ok(Err(errors)),
    }
}

fn parse_time(raw: &str) -> Option<time::Time> {
    let t: jiff::civil::Time = raw.trim().parse().ok()?;
    time::Time::from_hms(u8::try_from(t.hour()).ok()?, u8::try_from(t.minute()).ok()?, 0).ok()
}

fn parse_date(raw: &str) -> Option<time::Date> {
    let d: jiff::civil::Date = raw.trim().parse().ok()?;
    let month = time::Month::try_from(u8::try_from(d.month()).ok()?).ok()?;
    time::Date::from_calendar_date(i32::from(d.year()), month, u8::try_from(d.day()).ok()?).ok()
}

/// `POST /oncall/rotations/{kind}`: saves the rotation (audited) and tells every process.
pub async fn save_rotation(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(kind): Path<String>,
    Form(form): Form<RotationForm>,
) -> Result<Response, AppError> {
    let kind = parse_kind(&kind)?;
    let mut tx = app.pool.begin().await?;
    let before = store::rotations(&mut tx).await?.into_iter().find(|r| r.kind == kind);
    let checked = match check_rotation(&mut tx, kind, &form).await? {
        Ok(c) => c,
        Err(errors) => {
            let page = rotation_page(layout, kind, form, errors, before.is_some());
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response());
        }
    };
    let ids: Vec<Uuid> = checked.participants.iter().map(|u| u.id).collect();
    let settings = RotationSettings {
        time_zone: &checked.zone,
        starts_on: checked.starts_on,
        handoff_weekday: checked.weekday,
        handoff_time: checked.time,
        length_days: checked.length,
        participants: &ids,
    };
    store::save_rotation(&mut tx, kind, &settings).await?;
    let describe = |emails: Vec<String>,
                    weekday: i16,
                    time: String,
                    length: i16,
                    zone: &str,
                    starts_on: String| {
        json!({"participants": emails, "handoff_weekday": weekday, "handoff_time": time, "length_days": length,
               "time_zone": zone, "starts_on": starts_on})
    };
    let before_json = before.as_ref().map(|r| {
        describe(
            r.participants.iter().map(|p| p.email.clone()).collect(),
            r.handoff_weekday,
            hhmm(r.handoff_time),
            r.length_days,
            &r.time_zone,
            r.starts_on.to_string(),
        )
    });
    let after_json = describe(
        checked.participants.iter().map(|u| u.email.clone()).collect(),
        checked.weekday,
        hhmm(checked.time),
        checked.length,
        &checked.zone,
        checked.starts_on.to_string(),
    );
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "oncall.rotation.save",
            target: format!("rotation:{}", kind.as_str()),
            before: before_json,
            after: Some(after_json),
        },
    )
    .await?;
    store::notify_changed(&mut *tx).await?;
    tx.commit().await?;
    tracing::info!(rotation = kind.as_str(), participants = ids.len(), "rotation saved");
    Ok(see_other("/oncall?notice=saved"))
}

// ---------------------------------------------------------------------------------------------
// POST /oncall/rotations/{kind}/overrides, POST /oncall/overrides/{id}/delete

/// A `datetime-local` value (`2026-01-07T18:00`) read in `zone`.
fn parse_local(raw: &str, zone: &jiff::tz::TimeZone) -> Option<Timestamp> {
    let dt: jiff::civil::DateTime = raw.trim().parse().ok()?;
    zone.to_ambiguous_timestamp(dt).compatible().ok()
}

/// `POST /oncall/rotations/{kind}/overrides`: someone covers the rotation from–to.
pub async fn add_override(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(kind): Path<String>,
    Form(form): Form<OverrideForm>,
) -> Result<Response, AppError> {
    let kind = parse_kind(&kind)?;
    let mut tx = app.pool.begin().await?;
    let team = store::team(&mut tx, OffsetDateTime::now_utc()).await?;
    let Some(covered) = team.get(kind) else {
        return Err(AppError::Conflict(format!(
            "The {} rotation is not set up yet: set it up before adding overrides.",
            kind.as_str()
        )));
    };
    let zone = covered.rotation.schedule().zone().clone();
    let mut errors = vec![];
    let user = match users::find_by_email(&mut *tx, form.user.trim()).await? {
        Some(u) if u.active && u.role.allows(min_role(kind)) => Some(u),
        Some(u) if u.active => {
            errors.push(FieldError::new(
                "user",
                format!("{} is a {}; this rotation needs {} or higher.", u.email, u.role, min_role(kind)),
            ));
            None
        }
        Some(_) => {
            errors.push(FieldError::new("user", "That person is deactivated."));
            None
        }
        None => {
            errors.push(FieldError::new("user", "Enter the e-mail address of the person who covers."));
            None
        }
    };
    let from = parse_local(&form.starts_at, &zone);
    if from.is_none() {
        errors.push(FieldError::new("starts_at", "Enter when the cover starts."));
    }
    let until = parse_local(&form.ends_at, &zone);
    if until.is_none() {
        errors.push(FieldError::new("ends_at", "Enter when the cover ends."));
    }
    if let (Some(f), Some(u)) = (from, until) {
        if u <= to_jiff(OffsetDateTime::now_utc()) {
            errors.push(FieldError::new("ends_at", "This cover would already be over."));
        } else if let Err(e) = Override::new(f, u, ()) {
            errors.push(FieldError::new("ends_at", format!("{}.", capitalize(&e.to_string()))));
        }
    }
    let note = form.note.trim();
    if note.chars().count() > MAX_NOTE || note.chars().any(char::is_control) {
        errors.push(FieldError::new("note", format!("Use at most {MAX_NOTE} characters on one line.")));
    }
    let (Some(user), Some(from), Some(until), true) = (user, from, until, errors.is_empty()) else {
        drop(tx);
        let page = oncall_page(&app, &me, layout, None, Some((kind, form, errors))).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response());
    };
    let id = store::insert_override(
        &mut *tx,
        kind,
        user.id,
        from_jiff(from),
        from_jiff(until),
        note,
        me.actor.user_id,
    )
    .await?;
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "oncall.override.create",
            target: format!("rotation:{}", kind.as_str()),
            before: None,
            after: Some(json!({"id": id, "user": user.email, "starts_at": from.to_string(), "ends_at": until.to_string(), "note": note})),
        },
    )
    .await?;
    store::notify_changed(&mut *tx).await?;
    tx.commit().await?;
    Ok(see_other("/oncall?notice=override-added"))
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

/// `POST /oncall/overrides/{id}/delete`.
pub async fn delete_override(
    State(app): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let not_found = || AppError::NotFoundThing { what: "This override".into() };
    let id: Uuid = id.parse().map_err(|_| not_found())?;
    let mut tx = app.pool.begin().await?;
    let existing = store::find_override(&mut *tx, id).await?.ok_or_else(not_found)?;
    store::delete_override(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "oncall.override.delete",
            target: format!("rotation:{}", existing.kind.as_str()),
            before: Some(json!({"id": id, "user": existing.who.email, "starts_at": crate::clock::iso(existing.starts_at), "ends_at": crate::clock::iso(existing.ends_at)})),
            after: None,
        },
    )
    .await?;
    store::notify_changed(&mut *tx).await?;
    tx.commit().await?;
    Ok(see_other("/oncall?notice=override-removed"))
}
