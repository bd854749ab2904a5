//! On-call use cases: saving a rotation, adding and removing an override. Each runs on the
//! caller's transaction: it locks what it changes, checks the input (field errors a page, the
//! API or the CLI reports the same way), changes, writes the audit row and notifies every
//! process's header cache at commit. The caller commits.

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use serde_json::json;
use sqlx::PgConnection;
use twisterlab_domain::role::Role;
use twisterlab_domain::rotation::{self, Override};
use uuid::Uuid;

use crate::db::audit::{self, Actor, Entry};
use crate::db::oncall::{self as store, OverrideRow, RotationKind, RotationRow, RotationSettings};
use crate::db::users::{self, User};
use crate::validation::{FieldError, FieldErrors};

/// Longest override note, in characters.
pub(crate) const MAX_NOTE: usize = 200;

/// Why an on-call change was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OnCallError {
    /// `what` ("This override") does not exist.
    #[error("{what} does not exist")]
    NotFound { what: String },
    /// The change does not fit the current state; the message says what to do.
    #[error("{0}")]
    Refused(String),
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Who may be listed in a rotation of `kind`: responders (or higher) for responders, managers
/// (or higher) for managers.
pub(crate) fn min_role(kind: RotationKind) -> Role {
    match kind {
        RotationKind::Responders => Role::Responder,
        RotationKind::Managers => Role::Manager,
    }
}

/// A rotation as typed in its form (or sent by the API or CLI).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub(crate) struct RotationInput {
    /// User ids, in hand-off order, one per picker row (blank rows are skipped).
    #[serde(default)]
    pub(crate) participant: Vec<String>,
    /// ISO weekday, 1 = Monday.
    #[serde(default)]
    pub(crate) handoff_weekday: String,
    /// `09:00`.
    #[serde(default)]
    pub(crate) handoff_time: String,
    /// Calendar days per shift.
    #[serde(default)]
    pub(crate) length_days: String,
    /// An IANA zone.
    #[serde(default)]
    pub(crate) time_zone: String,
    /// `2026-01-05`.
    #[serde(default)]
    pub(crate) starts_on: String,
}

impl RotationInput {
    /// The stored rotation as its form shows it.
    pub(crate) fn of(r: &RotationRow) -> Self {
        Self {
            participant: r.participants.iter().map(|p| p.id.to_string()).collect(),
            handoff_weekday: r.handoff_weekday.to_string(),
            handoff_time: hhmm(r.handoff_time),
            length_days: r.length_days.to_string(),
            time_zone: r.time_zone.clone(),
            starts_on: r.starts_on.to_string(),
        }
    }
}

/// `09:00`.
pub(crate) fn hhmm(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// A checked rotation, ready to store.
struct CheckedRotation {
    participants: Vec<User>,
    weekday: i16,
    time: Time,
    length: i16,
    zone: String,
    starts_on: Date,
}

async fn check_rotation(
    db: &mut PgConnection,
    kind: RotationKind,
    input: &RotationInput,
) -> Result<CheckedRotation, OnCallError> {
    let mut errors = FieldErrors::new();
    let mut people: Vec<User> = vec![];
    // Every problem of the list in one message: the field shows one, and each choice may be wrong.
    let mut problems: Vec<String> = vec![];
    let picked: Vec<&str> = input.participant.iter().map(|v| v.trim()).filter(|v| !v.is_empty()).collect();
    if picked.is_empty() {
        problems.push("Choose at least one person.".into());
    } else if picked.len() > rotation::MAX_PARTICIPANTS {
        problems.push(format!("Choose at most {} people.", rotation::MAX_PARTICIPANTS));
    }
    let need = min_role(kind);
    for (i, value) in picked.iter().take(rotation::MAX_PARTICIPANTS).enumerate() {
        let place = i + 1;
        let found = match value.parse::<Uuid>() {
            Ok(id) => users::find(&mut *db, id).await?,
            Err(_) => None,
        };
        match found {
            None => problems.push(format!("Choice {place} is not a user any more; choose again.")),
            Some(u) if !u.active => problems.push(format!("{} is deactivated.", u.email)),
            Some(u) if !u.role.allows(need) => {
                problems.push(format!("{} is a {}; this rotation needs {} or higher.", u.email, u.role, need))
            }
            Some(u) if people.iter().any(|p| p.id == u.id) => {
                problems.push(format!("{} is chosen twice.", u.email))
            }
            Some(u) => people.push(u),
        }
    }
    if !problems.is_empty() {
        errors.push("participants", problems.join(" "));
    }
    let weekday = input.handoff_weekday.trim().parse::<i16>().ok().filter(|d| (1..=7).contains(d));
    if weekday.is_none() {
        errors.push("handoff_weekday", "Choose a weekday.");
    }
    let time = parse_time(&input.handoff_time);
    if time.is_none() {
        errors.push("handoff_time", "Enter a time such as 09:00.");
    }
    let max = rotation::MAX_LENGTH_DAYS;
    let length = input.length_days.trim().parse::<i16>().ok().filter(|n| (1..=max as i16).contains(n));
    if length.is_none() {
        errors.push("length_days", format!("Enter a number of days from 1 to {max} (7 is weekly)."));
    }
    let zone = input.time_zone.trim().to_owned();
    if jiff::tz::TimeZone::get(&zone).is_err() {
        errors.push("time_zone", "Enter an IANA time zone such as Europe/Berlin or UTC.");
    }
    let starts_on = input.starts_on.trim().parse::<Date>().ok();
    if starts_on.is_none() {
        errors.push("starts_on", "Enter a date such as 2026-01-05.");
    }
    match (weekday, time, length, starts_on) {
        (Some(weekday), Some(time), Some(length), Some(starts_on)) if errors.is_empty() => {
            Ok(CheckedRotation { participants: people, weekday, time, length, zone, starts_on })
        }
        _ => Err(OnCallError::Invalid(errors.into_vec())),
    }
}

/// `09:00` (seconds dropped).
fn parse_time(raw: &str) -> Option<Time> {
    let t: Time = raw.trim().parse().ok()?;
    Time::new(t.hour(), t.minute(), 0, 0).ok()
}

/// What the audit log keeps of a rotation.
fn audit_rotation(
    emails: Vec<String>,
    weekday: i16,
    time: Time,
    length: i16,
    zone: &str,
    starts_on: Date,
) -> serde_json::Value {
    json!({"participants": emails, "handoff_weekday": weekday, "handoff_time": hhmm(time), "length_days": length,
           "time_zone": zone, "starts_on": starts_on.to_string()})
}

/// Creates or replaces the rotation of `kind` (audited); every process reloads its header.
pub(crate) async fn save_rotation(
    tx: &mut PgConnection,
    actor: &Actor,
    kind: RotationKind,
    input: &RotationInput,
) -> Result<(), OnCallError> {
    store::lock_rotation(&mut *tx, kind).await?;
    let before = store::rotations(&mut *tx).await?.into_iter().find(|r| r.kind == kind);
    let checked = check_rotation(&mut *tx, kind, input).await?;
    let ids: Vec<Uuid> = checked.participants.iter().map(|u| u.id).collect();
    let settings = RotationSettings {
        time_zone: &checked.zone,
        starts_on: checked.starts_on,
        handoff_weekday: checked.weekday,
        handoff_time: checked.time,
        length_days: checked.length,
        participants: &ids,
    };
    store::save_rotation(&mut *tx, kind, &settings).await?;
    let before = before.map(|r| {
        audit_rotation(
            r.participants.iter().map(|p| p.email.clone()).collect(),
            r.handoff_weekday,
            r.handoff_time,
            r.length_days,
            &r.time_zone,
            r.starts_on,
        )
    });
    let after = audit_rotation(
        checked.participants.iter().map(|u| u.email.clone()).collect(),
        checked.weekday,
        checked.time,
        checked.length,
        &checked.zone,
        checked.starts_on,
    );
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "oncall.rotation.save",
            target: format!("rotation:{}", kind.as_str()),
            before,
            after: Some(after),
        },
    )
    .await?;
    store::notify_changed(&mut *tx).await?;
    tracing::info!(rotation = kind.as_str(), participants = ids.len(), "rotation saved");
    Ok(())
}

/// An override as typed in its form: who covers (a user id, picked from a list), from and until as
/// `datetime-local` values (`2026-01-07T18:00`) in the rotation's zone, and a note.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub(crate) struct OverrideInput {
    #[serde(default)]
    pub(crate) user: String,
    #[serde(default)]
    pub(crate) starts_at: String,
    #[serde(default)]
    pub(crate) ends_at: String,
    #[serde(default)]
    pub(crate) note: String,
}

/// A `datetime-local` value (`2026-01-07T18:00`) read in `zone`.
fn parse_local(raw: &str, zone: &jiff::tz::TimeZone) -> Option<Timestamp> {
    let dt: jiff::civil::DateTime = raw.trim().parse().ok()?;
    zone.to_ambiguous_timestamp(dt).compatible().ok()
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

/// Someone covers the rotation of `kind` from–until (audited); returns the override's id.
/// `now` decides whether the cover would already be over.
pub(crate) async fn add_override(
    tx: &mut PgConnection,
    actor: &Actor,
    kind: RotationKind,
    input: &OverrideInput,
    now: Timestamp,
) -> Result<Uuid, OnCallError> {
    if !store::lock_rotation(&mut *tx, kind).await? {
        return Err(OnCallError::Refused(format!(
            "The {} rotation is not set up yet: set it up before adding overrides.",
            kind.as_str()
        )));
    }
    let team = store::team(&mut *tx, now).await?;
    let Some(covered) = team.get(kind) else {
        return Err(OnCallError::Refused(format!(
            "The {} rotation cannot be used as stored: fix it on its edit page before adding overrides.",
            kind.as_str()
        )));
    };
    let zone = covered.rotation.schedule().zone().clone();
    let mut errors = FieldErrors::new();
    let need = min_role(kind);
    let user = match input.user.trim().parse::<Uuid>() {
        Ok(id) => users::find(&mut *tx, id).await?,
        Err(_) => None,
    };
    let user = match user {
        Some(u) if u.active && u.role.allows(need) => Some(u),
        Some(u) if u.active => {
            errors.push(
                "user",
                format!("{} is a {}; this rotation needs {} or higher.", u.email, u.role, need),
            );
            None
        }
        Some(_) => {
            errors.push("user", "That person is deactivated.");
            None
        }
        None => {
            errors.push("user", "Choose the person who covers.");
            None
        }
    };
    let from = parse_local(&input.starts_at, &zone);
    if from.is_none() {
        errors.push("starts_at", "Enter when the cover starts.");
    }
    let until = parse_local(&input.ends_at, &zone);
    if until.is_none() {
        errors.push("ends_at", "Enter when the cover ends.");
    }
    if let (Some(f), Some(u)) = (from, until) {
        if u <= now {
            errors.push("ends_at", "This cover would already be over.");
        } else if let Err(e) = Override::new(f, u, ()) {
            errors.push("ends_at", format!("{}.", capitalize(&e.to_string())));
        }
    }
    let note = input.note.trim();
    if note.chars().count() > MAX_NOTE || note.chars().any(char::is_control) {
        errors.push("note", format!("Use at most {MAX_NOTE} characters on one line."));
    }
    let (Some(user), Some(from), Some(until), true) = (user, from, until, errors.is_empty()) else {
        return Err(OnCallError::Invalid(errors.into_vec()));
    };
    let id = store::insert_override(&mut *tx, kind, user.id, from, until, note, actor.user_id).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "oncall.override.create",
            target: format!("rotation:{}", kind.as_str()),
            before: None,
            after: Some(json!({"id": id, "user": user.email, "starts_at": from.to_string(), "ends_at": until.to_string(), "note": note})),
        },
    )
    .await?;
    store::notify_changed(&mut *tx).await?;
    Ok(id)
}

/// Removes an override (audited); returns it as it was.
pub(crate) async fn delete_override(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<OverrideRow, OnCallError> {
    let gone = store::delete_override(&mut *tx, id)
        .await?
        .ok_or_else(|| OnCallError::NotFound { what: "This override".into() })?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "oncall.override.delete",
            target: format!("rotation:{}", gone.kind.as_str()),
            before: Some(json!({"id": id, "user": gone.who.email, "starts_at": crate::clock::iso(gone.starts_at), "ends_at": crate::clock::iso(gone.ends_at)})),
            after: None,
        },
    )
    .await?;
    store::notify_changed(&mut *tx).await?;
    Ok(gone)
}
