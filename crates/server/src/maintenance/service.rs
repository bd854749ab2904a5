//! Maintenance window use cases. Each runs on the caller's transaction: it locks the window,
//! checks the rule (in `twisterlab_domain::maintenance`), applies the change, appends to the
//! window's log and writes the audit row; changes the public sees also post their public update,
//! record the components' status history and notify the status page. The caller commits. Pages
//! and the JSON API call these, so they behave the same.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use sqlx::PgConnection;
use twisterlab_domain::incident::Title;
use twisterlab_domain::maintenance::{
    self as rules, Checklist, ChecklistError, DefaultItem, Notice, NoticeDecision, OverrideError,
    OverrideRequest, PublicStatus, StartClearance, StartRefused, ValidWindow, WindowDraft, WindowState,
};
use twisterlab_domain::role::Role;
use uuid::Uuid;

use crate::db::audit::{self, Actor, Entry};
use crate::db::maintenance::{self as store, Changes, NewWindow, Window};
use crate::db::{components, users};
use crate::validation::FieldError;
use crate::web::error::AppError;

/// Longest description or public update, in characters.
pub(crate) const MAX_BODY: usize = 20_000;

/// What the status page says when a window starts and nobody wrote their own words.
pub(crate) const STARTED_TEXT: &str =
    "Scheduled maintenance is currently in progress. We will provide updates as necessary.";
/// … when every step is done and the team watches that the system holds.
pub(crate) const VERIFYING_TEXT: &str = "Verification is currently underway for the maintenance items.";
/// … when a window completes and nobody wrote their own words.
pub(crate) const COMPLETED_TEXT: &str = "The scheduled maintenance has been completed.";

/// Why a maintenance action was refused.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// `what` ("This maintenance window") does not exist.
    #[error("{what} does not exist")]
    NotFound { what: String },
    /// The change does not fit the window's state; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// The window changed since the caller loaded it.
    #[error("the window changed since you loaded it (now version {current}): reload it and try again")]
    Stale { current: i32 },
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Declaring an incident for a signal held back during the window failed.
    #[error(transparent)]
    Incident(#[from] crate::incidents::service::IncidentError),
}

impl From<MaintenanceError> for AppError {
    fn from(e: MaintenanceError) -> Self {
        match e {
            MaintenanceError::NotFound { what } => AppError::NotFoundThing { what },
            MaintenanceError::Refused(_) | MaintenanceError::Stale { .. } => {
                AppError::Conflict(e.to_string())
            }
            MaintenanceError::Invalid(errors) => AppError::Validation(errors),
            MaintenanceError::Database(e) => e.into(),
            MaintenanceError::Incident(e) => e.into(),
        }
    }
}

fn not_found() -> MaintenanceError {
    MaintenanceError::NotFound { what: "This maintenance window".into() }
}

fn invalid(field: &str, message: impl Into<String>) -> MaintenanceError {
    MaintenanceError::Invalid(vec![FieldError::new(field, message)])
}

/// The window `id`, or `NotFound`.
pub(crate) async fn load(db: &mut PgConnection, id: Uuid) -> Result<Window, MaintenanceError> {
    store::find(&mut *db, id).await?.ok_or_else(not_found)
}

/// Locks the window and checks the version the caller saw, if they sent one.
async fn lock_current(
    tx: &mut PgConnection,
    id: Uuid,
    expected: Option<i32>,
) -> Result<Window, MaintenanceError> {
    let window = store::lock(&mut *tx, id).await?.ok_or_else(not_found)?;
    match expected {
        Some(v) if v != window.version => Err(MaintenanceError::Stale { current: window.version }),
        _ => Ok(window),
    }
}

async fn audit_window(
    tx: &mut PgConnection,
    actor: &Actor,
    action: &str,
    id: Uuid,
    before: serde_json::Value,
    after: serde_json::Value,
) -> Result<(), sqlx::Error> {
    audit::record(
        &mut *tx,
        actor,
        Entry { action, target: format!("maintenance:{id}"), before: Some(before), after: Some(after) },
    )
    .await
}

async fn log(
    tx: &mut PgConnection,
    window: Uuid,
    kind: &str,
    actor: &Actor,
    summary: &str,
    data: serde_json::Value,
) -> Result<(), sqlx::Error> {
    store::append_event(&mut *tx, window, kind, actor.user_id, &actor.label, summary, data).await
}

fn check_text(field: &str, text: &str, required: bool, errors: &mut Vec<FieldError>) {
    let chars = text.trim().chars().count();
    if required && chars == 0 {
        errors.push(FieldError::new(field, "Write something: it is posted on the status page."));
    } else if chars > MAX_BODY {
        errors.push(FieldError::new(field, format!("Use at most {MAX_BODY} characters (this has {chars}).")));
    }
}

/// A window as entered in the form or the API.
#[derive(Clone, Debug)]
pub(crate) struct WindowInput {
    pub title: String,
    /// Markdown.
    pub description: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub components: Vec<Uuid>,
    /// Defaults to the user creating it.
    pub owner_id: Option<Uuid>,
}

/// The checks a window's fields get on create and on edit, all reported at once: the domain's
/// draft rules at `now`, the description's length, and components that exist.
async fn check_window_input(
    tx: &mut PgConnection,
    input: &WindowInput,
    now: Timestamp,
    max_duration: SignedDuration,
) -> Result<(Option<ValidWindow>, Vec<FieldError>), MaintenanceError> {
    let draft = WindowDraft {
        title: input.title.clone(),
        starts_at: input.starts_at,
        ends_at: input.ends_at,
        components: input.components.clone(),
    };
    let mut errors: Vec<FieldError> = vec![];
    let valid = rules::validate_draft(&draft, now, max_duration)
        .map_err(|e| errors.extend(e.into_iter().map(|f| FieldError::new(f.field.as_str(), f.message))))
        .ok();
    check_text("description", &input.description, false, &mut errors);
    let mut unknown = vec![];
    for id in &input.components {
        if components::find(&mut *tx, *id).await?.is_none() {
            unknown.push(id.to_string());
        }
    }
    if !unknown.is_empty() {
        errors.push(FieldError::new(
            "components",
            format!("No component has the id {}: choose components of the status page.", unknown.join(", ")),
        ));
    }
    Ok((valid, errors))
}

/// Creates a draft window with the runbook's checklist. Field errors for a bad title, a start
/// in the past, an end before the start, a window longer than `max_duration`, no or unknown
/// components, an unknown owner; nothing is saved then.
pub(crate) async fn create(
    tx: &mut PgConnection,
    actor: &Actor,
    input: &WindowInput,
    max_duration: SignedDuration,
    now: Timestamp,
) -> Result<Window, MaintenanceError> {
    let (valid, mut errors) = check_window_input(tx, input, now, max_duration).await?;
    let owner_id = input.owner_id.or(actor.user_id);
    let owner_ok = match owner_id {
        Some(id) => users::find(&mut *tx, id).await?.is_some_and(|u| u.active),
        None => false,
    };
    if !owner_ok {
        errors.push(FieldError::new("owner", "Choose an active user as the window's owner."));
    }
    let (Some(valid), Some(owner_id), true) = (valid, owner_id, errors.is_empty()) else {
        return Err(MaintenanceError::Invalid(errors));
    };
    let new = NewWindow {
        title: valid.title.as_str(),
        description: input.description.trim(),
        starts_at: valid.starts_at,
        ends_at: valid.ends_at,
        owner_id,
        created_by: actor.user_id,
    };
    let id = store::insert(&mut *tx, &new, &valid.components, &Checklist::standard()).await?;
    log(tx, id, "created", actor, &format!("{} created the window as a draft", actor.label), json!({}))
        .await?;
    audit_window(
        tx,
        actor,
        "maintenance.create",
        id,
        json!(null),
        json!({"title": valid.title.as_str(), "starts_at": crate::clock::iso(valid.starts_at),
               "ends_at": crate::clock::iso(valid.ends_at), "components": valid.components}),
    )
    .await?;
    load(tx, id).await
}

/// What scheduling may need: a manager's reason for a short notice, a reason for overlaps.
#[derive(Clone, Debug, Default)]
pub(crate) struct ScheduleInput {
    pub short_notice_reason: String,
    pub overlap_reason: String,
    /// The version the caller saw, if it sent one.
    pub expected: Option<i32>,
}

/// Schedules (announces) a draft at `now`: it appears on the status page, and the 48 hours
/// count from here. Less notice needs a manager's written reason (`short_notice_reason`); a
/// window overlapping another on the same components needs a reason (`overlap_reason`).
/// Scheduling is the announcement, so it ticks the checklist's "announce" and "status page"
/// items with what it did.
pub(crate) async fn schedule(
    tx: &mut PgConnection,
    actor: &Actor,
    role: Role,
    zone: &jiff::tz::TimeZone,
    id: Uuid,
    input: &ScheduleInput,
    now: Timestamp,
) -> Result<Window, MaintenanceError> {
    let window = lock_current(tx, id, input.expected).await?;
    rules::transition(window.state, WindowState::Scheduled)
        .map_err(|e| MaintenanceError::Refused(capitalise(&e.to_string())))?;
    if window.starts_at < now {
        return Err(MaintenanceError::Refused(
            "The planned start is in the past: nobody can be warned of it. Cancel this draft and create the window again with a later start.".into(),
        ));
    }
    let notice = Notice::new(now, window.starts_at);
    let decision = notice.decision();
    let mut errors = vec![];
    let short_notice = match decision {
        NoticeDecision::Sufficient { .. } => None,
        NoticeDecision::StartsBeforeAnnouncement { .. } => {
            return Err(MaintenanceError::Refused(format!(
                "{}: move the start.",
                capitalise(&notice.describe(zone))
            )));
        }
        NoticeDecision::NeedsOverride { .. } if input.short_notice_reason.trim().is_empty() => {
            errors.push(FieldError::new(
                "short_notice_reason",
                format!(
                    "Less than 48 hours' notice ({}). A manager can schedule it anyway with a written reason; otherwise move the start.",
                    notice.describe(zone)
                ),
            ));
            None
        }
        NoticeDecision::NeedsOverride { .. } => {
            match rules::check_short_notice_override(
                &decision,
                OverrideRequest { role, reason: &input.short_notice_reason },
            ) {
                Ok(reason) => Some(reason),
                Err(e) => {
                    errors.push(FieldError::new("short_notice_reason", capitalise(&e.to_string())));
                    None
                }
            }
        }
    };
    let component_rows = store::components(&mut *tx, id).await?;
    let component_ids: Vec<Uuid> = component_rows.iter().map(|c| c.id).collect();
    let valid = rules::ValidWindow {
        title: Title::parse(&window.title).map_err(|e| MaintenanceError::Refused(e.to_string()))?,
        starts_at: window.starts_at,
        ends_at: window.ends_at,
        components: component_ids.clone(),
    };
    let others =
        store::overlap_candidates(&mut *tx, &component_ids, window.starts_at, window.ends_at).await?;
    let overlaps = rules::overlaps(&valid, Some(id), &others);
    let overlap_reason = match rules::accept_overlaps(&overlaps, &input.overlap_reason) {
        Ok(reason) => reason,
        Err(e) => {
            let titles =
                store::titles(&mut *tx, &overlaps.iter().map(|o| o.window).collect::<Vec<_>>()).await?;
            let names: Vec<String> = overlaps
                .iter()
                .map(|o| format!("\u{201c}{}\u{201d}", titles.get(&o.window).cloned().unwrap_or_default()))
                .collect();
            errors.push(FieldError::new(
                "overlap_reason",
                format!("{} ({}).", capitalise(&e.to_string()), names.join(", ")),
            ));
            None
        }
    };
    if !errors.is_empty() {
        return Err(MaintenanceError::Invalid(errors));
    }
    store::update(
        &mut *tx,
        id,
        &Changes {
            state: Some(WindowState::Scheduled),
            announced_at: Some(now),
            short_notice: short_notice.as_ref().map(|r| (r.as_str(), actor.user_id)),
            overlap_reason: overlap_reason.as_ref().map(|r| r.as_str()),
            ..Changes::default()
        },
        now,
    )
    .await?;
    // Scheduling announced the window and put it on the status page: tick those two items.
    if let Some(user_id) = actor.user_id {
        let (mut checklist, _) = store::checklist(&mut *tx, id).await?;
        let announced = format!("Announced on the status page: {}", notice.describe(zone));
        for (item, evidence) in [
            (DefaultItem::Announced, announced.as_str()),
            (DefaultItem::StatusPageUpdated, "The status page lists the window as scheduled."),
        ] {
            if checklist.item(item.key()).is_some_and(|i| !i.is_ticked()) {
                let ticked = checklist
                    .tick(WindowState::Scheduled, item.key(), user_id, now, evidence)
                    .map_err(|e| MaintenanceError::Refused(e.to_string()))?;
                store::set_tick(&mut *tx, id, item.key(), ticked.tick.as_ref(), Some(&actor.label)).await?;
            }
        }
    }
    let names: Vec<&str> = component_rows.iter().map(|c| c.name.as_str()).collect();
    let body = if window.description.trim().is_empty() {
        format!(
            "We will be performing scheduled maintenance on {} from {} to {}.",
            names.join(", "),
            crate::clock::absolute(window.starts_at, zone),
            crate::clock::absolute(window.ends_at, zone)
        )
    } else {
        window.description.clone()
    };
    store::insert_update(&mut *tx, id, PublicStatus::Scheduled, &body, actor.user_id, &actor.label).await?;
    let mut summary = format!("{} scheduled the window: {}", actor.label, notice.describe(zone));
    if let Some(reason) = &short_notice {
        summary.push_str(&format!("; short notice approved: {reason}"));
    }
    if let Some(reason) = &overlap_reason {
        summary.push_str(&format!("; overlaps accepted: {reason}"));
    }
    log(
        tx,
        id,
        "scheduled",
        actor,
        &summary,
        json!({"notice_seconds": notice.length().as_secs(), "short_notice_reason": short_notice.as_ref().map(|r| r.as_str()),
               "overlaps": overlaps.iter().map(|o| o.window).collect::<Vec<_>>(), "overlap_reason": overlap_reason.as_ref().map(|r| r.as_str())}),
    )
    .await?;
    audit_window(
        tx,
        actor,
        "maintenance.schedule",
        id,
        json!({"state": window.state.as_str()}),
        json!({"state": "scheduled", "announced_at": crate::clock::iso(now), "notice_seconds": notice.length().as_secs()}),
    )
    .await?;
    if let Some(reason) = &short_notice {
        audit_window(
            tx,
            actor,
            "maintenance.override_short_notice",
            id,
            json!(null),
            json!({"reason": reason.as_str(), "notice": notice.describe(zone)}),
        )
        .await?;
    }
    crate::db::status::notify(&mut *tx).await?;
    load(tx, id).await
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn checklist_refusal(e: ChecklistError) -> MaintenanceError {
    match e {
        ChecklistError::UnknownItem { .. } => {
            MaintenanceError::NotFound { what: "This checklist item".into() }
        }
        ChecklistError::EvidenceRequired { .. } | ChecklistError::EvidenceTooLong { .. } => {
            invalid("evidence", capitalise(&e.to_string()))
        }
        ChecklistError::LabelEmpty | ChecklistError::LabelTooLong { .. } => {
            invalid("label", capitalise(&e.to_string()))
        }
        other => MaintenanceError::Refused(capitalise(&other.to_string())),
    }
}

/// Adds a team's own item to the checklist of a draft or scheduled window.
pub(crate) async fn add_item(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    label: &str,
    evidence_required: bool,
) -> Result<Window, MaintenanceError> {
    let window = lock_current(tx, id, None).await?;
    let (mut checklist, _) = store::checklist(&mut *tx, id).await?;
    let item =
        checklist.add_custom(window.state, label, evidence_required).map_err(checklist_refusal)?.clone();
    let position = i32::try_from(checklist.items().len()).unwrap_or(i32::MAX);
    store::insert_item(&mut *tx, id, &item, position).await?;
    store::update(&mut *tx, id, &Changes::default(), Timestamp::now()).await?;
    log(
        tx,
        id,
        "item_added",
        actor,
        &format!("{} added \u{201c}{}\u{201d} to the checklist", actor.label, item.label),
        json!({"key": item.key.as_str()}),
    )
    .await?;
    audit_window(
        tx,
        actor,
        "maintenance.checklist_add",
        id,
        json!(null),
        json!({"key": item.key.as_str(), "label": item.label}),
    )
    .await?;
    load(tx, id).await
}

/// Ticks checklist item `key` with an evidence note (required for the backup: where it is).
/// Refused on a finished window.
pub(crate) async fn tick(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    key: &str,
    evidence: &str,
    now: Timestamp,
) -> Result<Window, MaintenanceError> {
    let Some(user_id) = actor.user_id else {
        return Err(MaintenanceError::Refused(
            "Only a person can tick a checklist item: sign in or use a personal API token.".into(),
        ));
    };
    let window = lock_current(tx, id, None).await?;
    let (mut checklist, _) = store::checklist(&mut *tx, id).await?;
    let item = checklist.tick(window.state, key, user_id, now, evidence).map_err(checklist_refusal)?.clone();
    store::set_tick(&mut *tx, id, key, item.tick.as_ref(), Some(&actor.label)).await?;
    store::update(&mut *tx, id, &Changes::default(), now).await?;
    let evidence = item.tick.as_ref().and_then(|t| t.evidence.clone());
    log(
        tx,
        id,
        "item_ticked",
        actor,
        &format!("{} ticked \u{201c}{}\u{201d}", actor.label, item.label),
        json!({"key": key, "evidence": evidence}),
    )
    .await?;
    audit_window(
        tx,
        actor,
        "maintenance.checklist_tick",
        id,
        json!({"key": key, "ticked": false}),
        json!({"key": key, "ticked": true, "evidence": evidence}),
    )
    .await?;
    load(tx, id).await
}

/// Withdraws the tick of item `key` (before the window starts).
pub(crate) async fn untick(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    key: &str,
) -> Result<Window, MaintenanceError> {
    let window = lock_current(tx, id, None).await?;
    let (mut checklist, _) = store::checklist(&mut *tx, id).await?;
    checklist.untick(window.state, key).map_err(checklist_refusal)?;
    let label = checklist.item(key).map(|i| i.label.clone()).unwrap_or_default();
    store::set_tick(&mut *tx, id, key, None, None).await?;
    store::update(&mut *tx, id, &Changes::default(), Timestamp::now()).await?;
    log(
        tx,
        id,
        "item_unticked",
        actor,
        &format!("{} unticked \u{201c}{label}\u{201d}", actor.label),
        json!({"key": key}),
    )
    .await?;
    audit_window(
        tx,
        actor,
        "maintenance.checklist_untick",
        id,
        json!({"key": key, "ticked": true}),
        json!({"key": key, "ticked": false}),
    )
    .await?;
    load(tx, id).await
}

/// How a window is started.
#[derive(Clone, Debug, Default)]
pub(crate) struct StartInput {
    /// A manager's reason to start before every checklist item is ticked; empty: no override.
    pub override_reason: String,
    /// The public update's words; empty: [`STARTED_TEXT`].
    pub message: String,
}

/// Starts a scheduled window: refused until every checklist item is ticked, unless a manager
/// overrides with a reason (recorded on the window and in the audit log). The affected
/// components go under maintenance (status history recorded), their probe signals are held
/// back from then on, the public update is posted and the maintenance runbook's guided run
/// begins ([`super::run::start_for_window`]).
pub(crate) async fn start(
    tx: &mut PgConnection,
    actor: &Actor,
    role: Role,
    id: Uuid,
    input: &StartInput,
    expected: Option<i32>,
    now: Timestamp,
) -> Result<Window, MaintenanceError> {
    let window = lock_current(tx, id, expected).await?;
    rules::transition(window.state, WindowState::InProgress)
        .map_err(|e| MaintenanceError::Refused(capitalise(&e.to_string())))?;
    let mut errors = vec![];
    check_text("message", &input.message, false, &mut errors);
    if !errors.is_empty() {
        return Err(MaintenanceError::Invalid(errors));
    }
    let (checklist, _) = store::checklist(&mut *tx, id).await?;
    let request = (!input.override_reason.trim().is_empty())
        .then_some(OverrideRequest { role, reason: &input.override_reason });
    let clearance = match rules::start_gate(&checklist, request) {
        Ok(clearance) => clearance,
        Err(StartRefused::Unticked { .. }) => {
            let refusal =
                rules::start_gate(&checklist, None).err().map(|e| e.to_string()).unwrap_or_default();
            return Err(MaintenanceError::Refused(format!("The window cannot start: {refusal}.")));
        }
        Err(StartRefused::Override(e @ (OverrideError::RoleTooLow { .. } | OverrideError::Reason(_)))) => {
            return Err(invalid("override_reason", capitalise(&e.to_string())));
        }
        Err(StartRefused::Override(e)) => return Err(MaintenanceError::Refused(capitalise(&e.to_string()))),
    };
    let unticked: Vec<String> = match &clearance {
        StartClearance::AllTicked => vec![],
        StartClearance::Overridden { unticked, .. } => unticked.iter().map(|k| k.to_string()).collect(),
    };
    let override_reason = match &clearance {
        StartClearance::Overridden { reason, .. } => Some(reason.as_str().to_owned()),
        StartClearance::AllTicked => None,
    };
    store::update(
        &mut *tx,
        id,
        &Changes {
            state: Some(WindowState::InProgress),
            started_at: Some(now),
            checklist_override: override_reason.as_deref().map(|r| (r, actor.user_id, unticked.as_slice())),
            ..Changes::default()
        },
        now,
    )
    .await?;
    let component_ids: Vec<Uuid> = store::components(&mut *tx, id).await?.iter().map(|c| c.id).collect();
    crate::status_page::history::record(tx, &component_ids).await?;
    let message = if input.message.trim().is_empty() { STARTED_TEXT } else { input.message.trim() };
    store::insert_update(&mut *tx, id, PublicStatus::InProgress, message, actor.user_id, &actor.label)
        .await?;
    let mut summary = format!("{} started the window", actor.label);
    if let Some(reason) = &override_reason {
        summary.push_str(&format!(" with {} checklist item(s) unticked: {reason}", unticked.len()));
    }
    log(
        tx,
        id,
        "started",
        actor,
        &summary,
        json!({"override_reason": override_reason, "unticked": unticked}),
    )
    .await?;
    audit_window(
        tx,
        actor,
        "maintenance.start",
        id,
        json!({"state": window.state.as_str()}),
        json!({"state": "in_progress"}),
    )
    .await?;
    if let Some(reason) = &override_reason {
        audit_window(
            tx,
            actor,
            "maintenance.override_checklist",
            id,
            json!(null),
            json!({"reason": reason, "unticked": unticked}),
        )
        .await?;
    }
    let started = load(tx, id).await?;
    if let Some(run_id) = super::run::start_for_window(tx, actor, &started).await? {
        store::update(&mut *tx, id, &Changes { run_id: Some(run_id), ..Changes::default() }, now).await?;
    }
    crate::db::status::notify(&mut *tx).await?;
    load(tx, id).await
}

/// Posts a public update on a scheduled or in-progress window, with its current status.
pub(crate) async fn post_update(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    body: &str,
) -> Result<store::Update, MaintenanceError> {
    let mut errors = vec![];
    check_text("body", body, true, &mut errors);
    if !errors.is_empty() {
        return Err(MaintenanceError::Invalid(errors));
    }
    let window = lock_current(tx, id, None).await?;
    let status = match (window.state, window.public_status()) {
        (WindowState::Scheduled | WindowState::InProgress, Some(status)) => status,
        (state, _) => {
            return Err(MaintenanceError::Refused(format!(
                "The window is {}: only a scheduled or in-progress window takes public updates.",
                state.label()
            )));
        }
    };
    let update = store::insert_update(&mut *tx, id, status, body.trim(), actor.user_id, &actor.label).await?;
    store::update(&mut *tx, id, &Changes::default(), Timestamp::now()).await?;
    log(
        tx,
        id,
        "update_posted",
        actor,
        &format!("{} posted a public update ({})", actor.label, status.as_str()),
        json!({"update": update.id}),
    )
    .await?;
    audit_window(
        tx,
        actor,
        "maintenance.update",
        id,
        json!(null),
        json!({"update": update.id, "status": status.as_str()}),
    )
    .await?;
    crate::db::status::notify(&mut *tx).await?;
    Ok(update)
}

/// Every maintenance step is done: the window stays in progress while the team verifies that
/// the system holds, and the status page says `verifying`. Called from the window's page, and
/// meant for the guided run's last step once runs are wired to windows.
pub(crate) async fn mark_verifying(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    message: &str,
    now: Timestamp,
) -> Result<Window, MaintenanceError> {
    let window = lock_current(tx, id, None).await?;
    if window.state != WindowState::InProgress {
        return Err(MaintenanceError::Refused(format!(
            "The window is {}: only an in-progress window can move to verifying.",
            window.state.label()
        )));
    }
    if window.verifying_at.is_some() {
        return Err(MaintenanceError::Refused("The window is already verifying; nothing changed.".into()));
    }
    let mut errors = vec![];
    check_text("message", message, false, &mut errors);
    if !errors.is_empty() {
        return Err(MaintenanceError::Invalid(errors));
    }
    store::update(&mut *tx, id, &Changes { verifying_at: Some(now), ..Changes::default() }, now).await?;
    let body = if message.trim().is_empty() { VERIFYING_TEXT } else { message.trim() };
    store::insert_update(&mut *tx, id, PublicStatus::Verifying, body, actor.user_id, &actor.label).await?;
    log(tx, id, "verifying", actor, &format!("{} marked the steps done; verifying", actor.label), json!({}))
        .await?;
    audit_window(
        tx,
        actor,
        "maintenance.verify",
        id,
        json!({"verifying": false}),
        json!({"verifying": true}),
    )
    .await?;
    crate::db::status::notify(&mut *tx).await?;
    load(tx, id).await
}

/// How an in-progress window ends, with the outcome the public reads.
#[derive(Clone, Debug)]
pub(crate) struct EndInput {
    pub ending: Ending,
    /// Markdown; required to roll back, [`COMPLETED_TEXT`] when a completion leaves it empty.
    pub outcome: String,
    /// The version the caller saw, if it sent one.
    pub expected: Option<i32>,
}

/// How an in-progress window ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The work is done as planned.
    Completed,
    /// The work was undone through the rollback plan.
    RolledBack,
}

impl Ending {
    fn state(self) -> WindowState {
        match self {
            Ending::Completed => WindowState::Completed,
            Ending::RolledBack => WindowState::RolledBack,
        }
    }
}

/// Ends an in-progress window, completed or rolled back, posting the outcome publicly (the
/// words are required for a rollback; a completion defaults to [`COMPLETED_TEXT`]). The
/// components leave maintenance, and every signal the window held back is checked again: a
/// service still down opens its incident now ([`super::suppression::release`]).
pub(crate) async fn end(
    tx: &mut PgConnection,
    actor: &Actor,
    zone: &jiff::tz::TimeZone,
    id: Uuid,
    input: &EndInput,
    now: Timestamp,
) -> Result<Window, MaintenanceError> {
    let (ending, outcome) = (input.ending, input.outcome.as_str());
    let window = lock_current(tx, id, input.expected).await?;
    rules::transition(window.state, ending.state())
        .map_err(|e| MaintenanceError::Refused(capitalise(&e.to_string())))?;
    let mut errors = vec![];
    check_text("outcome", outcome, ending == Ending::RolledBack, &mut errors);
    if !errors.is_empty() {
        return Err(MaintenanceError::Invalid(errors));
    }
    store::update(
        &mut *tx,
        id,
        &Changes { state: Some(ending.state()), ended_at: Some(now), ..Changes::default() },
        now,
    )
    .await?;
    let component_ids: Vec<Uuid> = store::components(&mut *tx, id).await?.iter().map(|c| c.id).collect();
    crate::status_page::history::record(tx, &component_ids).await?;
    let body = match (ending, outcome.trim()) {
        (Ending::Completed, "") => COMPLETED_TEXT.to_owned(),
        (_, text) => text.to_owned(),
    };
    store::insert_update(&mut *tx, id, PublicStatus::Completed, &body, actor.user_id, &actor.label).await?;
    let (kind, verb, action) = match ending {
        Ending::Completed => ("completed", "completed the window", "maintenance.complete"),
        Ending::RolledBack => ("rolled_back", "rolled the window back", "maintenance.roll_back"),
    };
    log(tx, id, kind, actor, &format!("{} {verb}", actor.label), json!({"outcome": body})).await?;
    audit_window(
        tx,
        actor,
        action,
        id,
        json!({"state": window.state.as_str()}),
        json!({"state": ending.state().as_str()}),
    )
    .await?;
    super::suppression::release(tx, zone, &window).await?;
    crate::db::status::notify(&mut *tx).await?;
    load(tx, id).await
}

/// Cancels a draft or scheduled window with a reason (internal). A cancelled window leaves the
/// status page (Statuspage has no cancelled status) and is withdrawn from the calendar feed.
pub(crate) async fn cancel(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    reason: &str,
    expected: Option<i32>,
    now: Timestamp,
) -> Result<Window, MaintenanceError> {
    let window = lock_current(tx, id, expected).await?;
    rules::transition(window.state, WindowState::Cancelled)
        .map_err(|e| MaintenanceError::Refused(capitalise(&e.to_string())))?;
    let reason = rules::Reason::parse(reason).map_err(|e| invalid("reason", capitalise(&e.to_string())))?;
    store::update(
        &mut *tx,
        id,
        &Changes { state: Some(WindowState::Cancelled), ended_at: Some(now), ..Changes::default() },
        now,
    )
    .await?;
    log(
        tx,
        id,
        "cancelled",
        actor,
        &format!("{} cancelled the window: {reason}", actor.label),
        json!({"reason": reason.as_str()}),
    )
    .await?;
    audit_window(
        tx,
        actor,
        "maintenance.cancel",
        id,
        json!({"state": window.state.as_str()}),
        json!({"state": "cancelled", "reason": reason.as_str()}),
    )
    .await?;
    if window.announced_at.is_some() {
        crate::db::status::notify(&mut *tx).await?;
    }
    load(tx, id).await
}

/// An edit of a draft or a scheduled window that has not started.
#[derive(Clone, Debug)]
pub(crate) struct EditInput {
    /// The window as it should be; the owner is left as it is.
    pub window: WindowInput,
    /// A manager's reason to move a scheduled window's start to less than 48 hours after its
    /// announcement.
    pub short_notice_reason: String,
    /// A reason to keep a scheduled window that now overlaps another on the same components.
    pub overlap_reason: String,
    /// The version the caller saw, if it sent one.
    pub expected: Option<i32>,
}

/// "Fri 2026-12-05 06:00–08:00 UTC", or with both dates when the window spans midnight.
fn span(start: Timestamp, end: Timestamp, zone: &jiff::tz::TimeZone) -> String {
    let (s, e) = (start.to_zoned_datetime(zone.clone()), end.to_zoned_datetime(zone.clone()));
    if s.date() == e.date() && s.offset() == e.offset() {
        format!("{}\u{2013}{}", s.strftime("%a %Y-%m-%d %H:%M"), e.strftime("%H:%M %Z"))
    } else {
        format!("{} \u{2013} {}", s.strftime("%a %Y-%m-%d %H:%M %Z"), e.strftime("%a %Y-%m-%d %H:%M %Z"))
    }
}

/// Edits the title, description, planned times and components of a draft or of a scheduled
/// window that has not started, with the same validation as [`create`]. For a scheduled
/// window the 48-hour rule counts from the original announcement: moving the start earlier to
/// under 48 hours needs a manager's written reason (recorded on the window, audited), moving it
/// later is always fine; a new overlap needs a reason as at scheduling. A change the public can
/// see (times, components, title) posts a public update saying what moved. The log records
/// before → after; the audit log gets a row. Nothing changed: nothing is written.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn edit(
    tx: &mut PgConnection,
    actor: &Actor,
    role: Role,
    zone: &jiff::tz::TimeZone,
    id: Uuid,
    input: &EditInput,
    max_duration: SignedDuration,
    now: Timestamp,
) -> Result<Window, MaintenanceError> {
    let window = store::lock(&mut *tx, id).await?.ok_or_else(not_found)?;
    rules::check_editable(window.state)
        .map_err(|e| MaintenanceError::Refused(format!("{}.", capitalise(&e.to_string()))))?;
    if let Some(v) = input.expected
        && v != window.version
    {
        return Err(MaintenanceError::Stale { current: window.version });
    }
    let typed = &input.window;
    // A start that is not moved may have passed (a scheduled window started late); only a
    // moved start must be from now on.
    let checked_at = if typed.starts_at == window.starts_at { now.min(window.starts_at) } else { now };
    let (valid, mut errors) = check_window_input(tx, typed, checked_at, max_duration).await?;
    let (Some(valid), true) = (valid, errors.is_empty()) else {
        return Err(MaintenanceError::Invalid(errors));
    };
    let before_components = store::components(&mut *tx, id).await?;
    let mut before_ids: Vec<Uuid> = before_components.iter().map(|c| c.id).collect();
    before_ids.sort_unstable();
    let description = typed.description.trim();
    let title_changed = valid.title.as_str() != window.title;
    let times_changed = valid.starts_at != window.starts_at || valid.ends_at != window.ends_at;
    let components_changed = valid.components != before_ids;
    let description_changed = description != window.description;
    if !(title_changed || times_changed || components_changed || description_changed) {
        return Ok(window);
    }

    let scheduled = window.state == WindowState::Scheduled;
    let mut short_notice = None;
    let mut overlap_reason = None;
    if scheduled && let Some(announced_at) = window.announced_at {
        let decision = rules::reschedule(announced_at, window.starts_at, valid.starts_at);
        if let rules::RescheduleDecision::EarlierNeedsOverride { notice } = decision {
            if input.short_notice_reason.trim().is_empty() {
                errors.push(FieldError::new(
                    "short_notice_reason",
                    format!(
                        "Moving the start earlier leaves less than 48 hours' notice ({}). A manager can move it anyway with a written reason; otherwise keep a later start.",
                        notice.describe(zone)
                    ),
                ));
            } else {
                match rules::check_reschedule_override(
                    &decision,
                    OverrideRequest { role, reason: &input.short_notice_reason },
                ) {
                    Ok(reason) => short_notice = reason.map(|r| (r, notice)),
                    Err(e) => errors.push(FieldError::new("short_notice_reason", capitalise(&e.to_string()))),
                }
            }
        }
        if times_changed || components_changed {
            let others =
                store::overlap_candidates(&mut *tx, &valid.components, valid.starts_at, valid.ends_at)
                    .await?;
            let overlaps = rules::overlaps(&valid, Some(id), &others);
            match rules::accept_overlaps(&overlaps, &input.overlap_reason) {
                Ok(reason) => overlap_reason = reason,
                Err(e) => {
                    let titles =
                        store::titles(&mut *tx, &overlaps.iter().map(|o| o.window).collect::<Vec<_>>())
                            .await?;
                    let names: Vec<String> = overlaps
                        .iter()
                        .map(|o| {
                            format!("\u{201c}{}\u{201d}", titles.get(&o.window).cloned().unwrap_or_default())
                        })
                        .collect();
                    errors.push(FieldError::new(
                        "overlap_reason",
                        format!("{} ({}).", capitalise(&e.to_string()), names.join(", ")),
                    ));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(MaintenanceError::Invalid(errors));
    }

    store::update(
        &mut *tx,
        id,
        &Changes {
            title: title_changed.then_some(valid.title.as_str()),
            description: description_changed.then_some(description),
            starts_at: Some(valid.starts_at),
            ends_at: Some(valid.ends_at),
            short_notice: short_notice.as_ref().map(|(r, _)| (r.as_str(), actor.user_id)),
            overlap_reason: overlap_reason.as_ref().map(|r| r.as_str()),
            ..Changes::default()
        },
        now,
    )
    .await?;
    if components_changed {
        store::set_components(&mut *tx, id, &valid.components).await?;
    }
    let after_components = store::components(&mut *tx, id).await?;
    let names =
        |list: &[store::WindowComponent]| list.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    let (was_span, now_span) =
        (span(window.starts_at, window.ends_at, zone), span(valid.starts_at, valid.ends_at, zone));

    let mut changes = vec![];
    if title_changed {
        changes
            .push(format!("title \u{201c}{}\u{201d} \u{2192} \u{201c}{}\u{201d}", window.title, valid.title));
    }
    if times_changed {
        changes.push(format!("planned {was_span} \u{2192} {now_span}"));
    }
    if components_changed {
        changes.push(format!(
            "components {} \u{2192} {}",
            names(&before_components),
            names(&after_components)
        ));
    }
    if description_changed {
        changes.push("description".to_owned());
    }
    let mut summary = format!("{} edited the window: {}", actor.label, changes.join("; "));
    if let Some((reason, notice)) = &short_notice {
        summary.push_str(&format!("; earlier start approved ({}): {reason}", notice.describe(zone)));
    }
    if let Some(reason) = &overlap_reason {
        summary.push_str(&format!("; overlaps accepted: {reason}"));
    }
    let before = json!({"title": window.title, "description": window.description,
        "starts_at": crate::clock::iso(window.starts_at), "ends_at": crate::clock::iso(window.ends_at),
        "components": before_ids});
    let after = json!({"title": valid.title.as_str(), "description": description,
        "starts_at": crate::clock::iso(valid.starts_at), "ends_at": crate::clock::iso(valid.ends_at),
        "components": valid.components});
    log(
        tx,
        id,
        "edited",
        actor,
        &summary,
        json!({"before": before, "after": after,
               "short_notice_reason": short_notice.as_ref().map(|(r, _)| r.as_str()),
               "overlap_reason": overlap_reason.as_ref().map(|r| r.as_str())}),
    )
    .await?;
    audit_window(tx, actor, "maintenance.edit", id, before, after).await?;
    if let Some((reason, notice)) = &short_notice {
        audit_window(
            tx,
            actor,
            "maintenance.override_short_notice",
            id,
            json!(null),
            json!({"reason": reason.as_str(), "notice": notice.describe(zone), "rescheduled": true}),
        )
        .await?;
    }
    if scheduled && (title_changed || times_changed || components_changed) {
        let mut lines = vec![];
        if times_changed {
            lines.push(format!("Rescheduled: now {now_span} (was {was_span})."));
        }
        if components_changed {
            lines.push(format!(
                "Affected components: now {} (was {}).",
                names(&after_components),
                names(&before_components)
            ));
        }
        if title_changed {
            lines.push(format!(
                "Renamed: now \u{201c}{}\u{201d} (was \u{201c}{}\u{201d}).",
                valid.title, window.title
            ));
        }
        let body = lines.join("\n\n");
        store::insert_update(&mut *tx, id, PublicStatus::Scheduled, &body, actor.user_id, &actor.label)
            .await?;
    }
    if scheduled {
        crate::db::status::notify(&mut *tx).await?;
    }
    load(tx, id).await
}
