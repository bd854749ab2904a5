//! Admin pages: channels (`/admin/channels`: Slack, signed webhook, PagerDuty, with per-severity
//! event routing and masked secrets) and the notification outbox (`/admin/notifications`:
//! pending, failed and dead deliveries with their last error and a retry button). Every change
//! is audited.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::Form;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::channels::{self, Channel, ChannelDraft, ChannelKind, Routing};
use super::events::EventKind;
use super::outbox;
use crate::auth::{Access, CurrentUser, Routes};
use crate::config::Secret;
use crate::db::audit::{self, Entry};
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::error::AppError;
use crate::web::form::see_other;
use crate::web::page::{Layout, render_page};

pub fn routes() -> Routes {
    let admin = Access::Role(Role::Admin);
    Routes::new()
        .get("/admin/channels", admin, list_channels)
        .post("/admin/channels", admin, create_channel)
        .get("/admin/channels/new", admin, new_channel)
        .get("/admin/channels/{id}", admin, show_channel)
        .post("/admin/channels/{id}", admin, update_channel)
        .post("/admin/channels/{id}/delete", admin, delete_channel)
        .get("/admin/notifications", admin, list_notifications)
        .post("/admin/notifications/{id}/retry", admin, retry_notification)
}

/// Longest channel name.
pub const MAX_NAME: usize = 100;
/// Longest secret (HMAC key, routing key).
pub const MAX_SECRET: usize = 200;
/// Shortest webhook signing secret: 16 characters, so it cannot be guessed.
pub const MIN_WEBHOOK_SECRET: usize = 16;

fn first_error<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
}

fn parse_id(raw: &str, what: &str) -> Result<Uuid, AppError> {
    raw.parse::<Uuid>().map_err(|_| AppError::NotFoundThing { what: what.into() })
}

/// Where a configured channel's URL and secret come from.
fn config_source(key: &str) -> (&'static str, Option<&'static str>) {
    match key {
        "slack" => ("TWISTERLAB_SLACK_WEBHOOK_URL", None),
        "webhook" => ("TWISTERLAB_WEBHOOK_URL", Some("TWISTERLAB_WEBHOOK_SECRET")),
        _ => ("TWISTERLAB_PAGERDUTY_EVENTS_URL", Some("TWISTERLAB_PAGERDUTY_ROUTING_KEY")),
    }
}

/// A channel as pages show it: never the secret, only whether there is one; URLs masked.
pub struct ChannelView {
    pub id: Uuid,
    pub kind: &'static str,
    pub kind_label: &'static str,
    pub name: String,
    pub enabled: bool,
    /// `Some("TWISTERLAB_…")` for a configured channel.
    pub configured_by: Option<String>,
    pub target: String,
    pub has_secret: bool,
    /// "P0: declared, escalated …" lines.
    pub routes: Vec<String>,
}

impl ChannelView {
    fn of(c: &Channel, app: &AppState) -> Self {
        let (target, has_secret, configured_by) = match c.config_key.as_deref() {
            Some(key) => {
                let (url_env, secret_env) = config_source(key);
                let config = &app.config;
                let url = match key {
                    "slack" => config.slack_webhook_url.as_ref().map(|s| channels::mask_url(s.expose())),
                    "webhook" => config.webhook_url.as_ref().map(|s| channels::mask_url(s.expose())),
                    _ => Some(config.pagerduty_events_url.clone()),
                };
                let secret = match key {
                    "webhook" => config.webhook_secret.is_some(),
                    "pagerduty" => config.pagerduty_routing_key.is_some(),
                    _ => false,
                };
                let by = match secret_env {
                    Some(s) => format!("{url_env} and {s}"),
                    None => url_env.to_owned(),
                };
                (url.unwrap_or_else(|| format!("{url_env} is not set in this process")), secret, Some(by))
            }
            None => (
                match c.kind {
                    ChannelKind::Pagerduty => c.url.clone().unwrap_or_default(),
                    _ => c.url.as_deref().map(channels::mask_url).unwrap_or_default(),
                },
                c.secret.is_some(),
                None,
            ),
        };
        Self {
            id: c.id,
            kind: c.kind.as_str(),
            kind_label: c.kind.label(),
            name: c.name.clone(),
            enabled: c.enabled,
            configured_by,
            target,
            has_secret,
            routes: Severity::ALL
                .into_iter()
                .map(|s| {
                    let events: Vec<&str> = EventKind::ALL
                        .into_iter()
                        .filter(|e| c.routing.allows(s, *e))
                        .map(EventKind::as_str)
                        .collect();
                    let events = if events.is_empty() {
                        "nothing".to_owned()
                    } else {
                        events.join(", ").replace('_', " ")
                    };
                    format!("{s}: {events}")
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GET /admin/channels

#[derive(Template)]
#[template(path = "admin/channels.html")]
pub struct ChannelsPage {
    pub layout: Layout,
    pub channels: Vec<ChannelView>,
    pub kinds: Vec<(&'static str, &'static str)>,
    pub notice: Option<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

/// `GET /admin/channels`.
async fn list_channels(
    State(app): State<AppState>,
    layout: Layout,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let channels = channels::list(&app.pool).await?.iter().map(|c| ChannelView::of(c, &app)).collect();
    let notice = match q.notice.as_deref() {
        Some("created") => Some("Channel created."),
        Some("saved") => Some("Channel saved."),
        Some("deleted") => Some("Channel deleted, with its undelivered notifications."),
        _ => None,
    };
    let kinds = ChannelKind::ALL.into_iter().map(|k| (k.as_str(), k.label())).collect();
    Ok(render_page(&ChannelsPage { layout, channels, kinds, notice }))
}

// ---------------------------------------------------------------------------------------------
// The channel form (new and edit)

/// The channel form as typed. `route` holds the checked `P1:declared` boxes.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ChannelForm {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    /// "on" when the box is checked.
    #[serde(default)]
    pub enabled: Option<String>,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub secret: String,
    #[serde(default)]
    pub route: Vec<String>,
}

/// One checkbox of the routing matrix.
pub struct RouteCell {
    pub value: String,
    pub checked: bool,
}

/// One event row of the routing matrix.
pub struct RouteRow {
    pub event: &'static str,
    pub label: &'static str,
    pub cells: Vec<RouteCell>,
}

#[derive(Template)]
#[template(path = "admin/channels_form.html")]
pub struct ChannelFormPage {
    pub layout: Layout,
    /// `None` for a new channel.
    pub id: Option<Uuid>,
    pub kind: &'static str,
    pub kind_label: &'static str,
    pub name: String,
    pub enabled: bool,
    /// The masked current target, on edit.
    pub current: Option<ChannelView>,
    /// Shown in the URL field: empty on edit (blank keeps the stored one).
    pub url: String,
    pub severities: Vec<&'static str>,
    pub matrix: Vec<RouteRow>,
    pub errors: Vec<FieldError>,
}

impl ChannelFormPage {
    fn error(&self, field: &str) -> Option<&str> {
        first_error(&self.errors, field)
    }

    fn configured(&self) -> bool {
        self.current.as_ref().is_some_and(|c| c.configured_by.is_some())
    }
}

fn matrix(kind: ChannelKind, routing: &Routing) -> Vec<RouteRow> {
    kind.events()
        .into_iter()
        .map(|e| RouteRow {
            event: e.as_str(),
            label: e.label(),
            cells: Severity::ALL
                .into_iter()
                .map(|s| RouteCell {
                    value: format!("{}:{}", s.as_str(), e.as_str()),
                    checked: routing.allows(s, e),
                })
                .collect(),
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn form_page(
    layout: Layout,
    id: Option<Uuid>,
    kind: ChannelKind,
    name: String,
    enabled: bool,
    current: Option<ChannelView>,
    url: String,
    routing: &Routing,
    errors: Vec<FieldError>,
) -> ChannelFormPage {
    ChannelFormPage {
        layout,
        id,
        kind: kind.as_str(),
        kind_label: kind.label(),
        name,
        enabled,
        current,
        url,
        severities: Severity::ALL.into_iter().map(Severity::as_str).collect(),
        matrix: matrix(kind, routing),
        errors,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    kind: Option<String>,
}

/// `GET /admin/channels/new?kind=slack`.
async fn new_channel(layout: Layout, Query(q): Query<NewQuery>) -> Response {
    let kind = q.kind.as_deref().and_then(ChannelKind::parse).unwrap_or(ChannelKind::Slack);
    let (name, url) = match kind {
        ChannelKind::Slack => ("Slack #twisterlab-incidents", String::new()),
        ChannelKind::Webhook => ("Webhook", String::new()),
        ChannelKind::Pagerduty => ("PagerDuty", "https://events.pagerduty.com/v2/enqueue".to_owned()),
    };
    render_page(&form_page(layout, None, kind, name.into(), true, None, url, &Routing::all(kind), vec![]))
}

/// The checked fields of a channel form. `existing` is the channel being edited: blank URL
/// and secret fields keep its values.
fn check_form(
    kind: ChannelKind,
    form: &ChannelForm,
    existing: Option<&Channel>,
) -> Result<(String, Option<String>, Option<String>), Vec<FieldError>> {
    let mut errors = vec![];
    let name = form.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        errors.push(FieldError::new("name", format!("Enter a name of 1 to {MAX_NAME} characters.")));
    }
    let configured = existing.is_some_and(Channel::is_configured);
    let mut url = existing.and_then(|c| c.url.clone());
    let mut secret = existing.and_then(|c| c.secret.as_ref().map(|s| s.expose().to_owned()));
    if !configured {
        if !form.url.trim().is_empty() || existing.is_none() {
            match channels::check_url(&form.url) {
                Ok(u) => url = Some(u),
                Err(m) => errors.push(FieldError::new("url", m)),
            }
        }
        let typed = form.secret.trim();
        match kind {
            ChannelKind::Slack => secret = None,
            ChannelKind::Webhook | ChannelKind::Pagerduty if !typed.is_empty() => {
                let min = if kind == ChannelKind::Webhook { MIN_WEBHOOK_SECRET } else { 1 };
                if typed.chars().count() < min || typed.chars().count() > MAX_SECRET || typed.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    errors.push(FieldError::new(
                        "secret",
                        format!("Enter {min} to {MAX_SECRET} characters without spaces."),
                    ));
                } else {
                    secret = Some(typed.to_owned());
                }
            }
            ChannelKind::Webhook if secret.is_none() => errors.push(FieldError::new(
                "secret",
                format!("Enter a signing secret of at least {MIN_WEBHOOK_SECRET} characters: every delivery is signed with it."),
            )),
            ChannelKind::Pagerduty if secret.is_none() => {
                errors.push(FieldError::new("secret", "Enter the routing key of the PagerDuty service's Events API v2 integration."))
            }
            _ => {}
        }
    }
    if errors.is_empty() { Ok((name, url, secret)) } else { Err(errors) }
}

/// What the audit log keeps of a channel: no secret, a masked URL.
fn audit_view(
    kind: ChannelKind,
    name: &str,
    enabled: bool,
    url: Option<&str>,
    secret: Option<&str>,
    routing: &Routing,
) -> serde_json::Value {
    let url = match kind {
        ChannelKind::Pagerduty => url.map(str::to_owned),
        _ => url.map(channels::mask_url),
    };
    json!({"kind": kind.as_str(), "name": name, "enabled": enabled, "url": url,
           "secret": if secret.is_some() { "set" } else { "unset" }, "routes": routing.to_json()})
}

/// `POST /admin/channels`.
async fn create_channel(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Form(form): Form<ChannelForm>,
) -> Result<Response, AppError> {
    let Some(kind) = ChannelKind::parse(form.kind.trim()) else {
        return Err(AppError::Validation(vec![FieldError::new(
            "kind",
            "Choose Slack, webhook or PagerDuty.",
        )]));
    };
    let routing = Routing::from_form(kind, &form.route);
    let enabled = form.enabled.is_some();
    let retry = |errors: Vec<FieldError>| {
        let page = form_page(
            layout.clone(),
            None,
            kind,
            form.name.clone(),
            enabled,
            None,
            form.url.clone(),
            &routing,
            errors,
        );
        (StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response()
    };
    let (name, url, secret) = match check_form(kind, &form, None) {
        Ok(v) => v,
        Err(errors) => return Ok(retry(errors)),
    };
    let draft = ChannelDraft {
        kind,
        name: &name,
        enabled,
        url: url.as_deref(),
        secret: secret.as_deref(),
        routing: &routing,
    };
    let mut tx = app.pool.begin().await?;
    let Some(id) = channels::insert(&mut *tx, &draft).await? else {
        return Ok(retry(vec![FieldError::new("name", "Another channel has this name.")]));
    };
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "channel.create",
            target: format!("channel:{name}"),
            before: None,
            after: Some(audit_view(kind, &name, enabled, url.as_deref(), secret.as_deref(), &routing)),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(channel.id = %id, channel.kind = kind.as_str(), "channel created");
    Ok(see_other("/admin/channels?notice=created"))
}

/// `GET /admin/channels/{id}`.
async fn show_channel(
    State(app): State<AppState>,
    layout: Layout,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id, "This channel")?;
    let channel = channels::find(&app.pool, id)
        .await?
        .ok_or(AppError::NotFoundThing { what: "This channel".into() })?;
    let page = form_page(
        layout,
        Some(id),
        channel.kind,
        channel.name.clone(),
        channel.enabled,
        Some(ChannelView::of(&channel, &app)),
        String::new(),
        &channel.routing,
        vec![],
    );
    Ok(render_page(&page))
}

/// `POST /admin/channels/{id}`.
async fn update_channel(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<ChannelForm>,
) -> Result<Response, AppError> {
    let id = parse_id(&id, "This channel")?;
    let mut tx = app.pool.begin().await?;
    let channel = channels::find_for_update(&mut *tx, id)
        .await?
        .ok_or(AppError::NotFoundThing { what: "This channel".into() })?;
    let kind = channel.kind;
    let routing = Routing::from_form(kind, &form.route);
    let enabled = form.enabled.is_some();
    // A configured channel keeps its name: the start-up sync finds it by its key.
    let form =
        if channel.is_configured() { ChannelForm { name: channel.name.clone(), ..form } } else { form };
    let retry = |errors: Vec<FieldError>| {
        let page = form_page(
            layout.clone(),
            Some(id),
            kind,
            form.name.clone(),
            enabled,
            Some(ChannelView::of(&channel, &app)),
            String::new(),
            &routing,
            errors,
        );
        (StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response()
    };
    let (name, url, secret) = match check_form(kind, &form, Some(&channel)) {
        Ok(v) => v,
        Err(errors) => return Ok(retry(errors)),
    };
    let draft = ChannelDraft {
        kind,
        name: &name,
        enabled,
        url: url.as_deref(),
        secret: secret.as_deref(),
        routing: &routing,
    };
    if !channels::update(&mut *tx, id, &draft).await? {
        return Ok(retry(vec![FieldError::new("name", "Another channel has this name.")]));
    }
    let before_secret = channel.secret.as_ref().map(|s| s.expose().to_owned());
    let mut after = audit_view(kind, &name, enabled, url.as_deref(), secret.as_deref(), &routing);
    if secret != before_secret {
        after["secret"] = json!("changed");
    }
    if url != channel.url && kind != ChannelKind::Pagerduty {
        after["url_changed"] = json!(true);
    }
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "channel.update",
            target: format!("channel:{name}"),
            before: Some(audit_view(
                kind,
                &channel.name,
                channel.enabled,
                channel.url.as_deref(),
                before_secret.as_deref(),
                &channel.routing,
            )),
            after: Some(after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(see_other("/admin/channels?notice=saved"))
}

/// `POST /admin/channels/{id}/delete`.
async fn delete_channel(
    State(app): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id, "This channel")?;
    let mut tx = app.pool.begin().await?;
    let channel = channels::find_for_update(&mut *tx, id)
        .await?
        .ok_or(AppError::NotFoundThing { what: "This channel".into() })?;
    if let Some(key) = &channel.config_key {
        return Err(AppError::Conflict(format!(
            "{} comes from {}: it is added again at every start while that is set. Disable it here, or unset the variable.",
            channel.name,
            config_source(key).0
        )));
    }
    channels::delete(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "channel.delete",
            target: format!("channel:{}", channel.name),
            before: Some(audit_view(
                channel.kind,
                &channel.name,
                channel.enabled,
                channel.url.as_deref(),
                channel.secret.as_ref().map(Secret::expose),
                &channel.routing,
            )),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(see_other("/admin/channels?notice=deleted"))
}

// ---------------------------------------------------------------------------------------------
// GET /admin/notifications, POST /admin/notifications/{id}/retry

/// A notification row on the page.
pub struct NotificationView {
    pub id: Uuid,
    pub seq: i64,
    pub created: String,
    pub channel: String,
    pub incident: Option<i64>,
    pub event: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt: Option<String>,
    pub last_attempt: Option<String>,
    pub last_error: Option<String>,
    pub retryable: bool,
}

/// A state filter link.
pub struct StateTab {
    pub value: &'static str,
    pub label: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "admin/notifications.html")]
pub struct NotificationsPage {
    pub layout: Layout,
    pub tabs: Vec<StateTab>,
    pub rows: Vec<NotificationView>,
    pub notice: Option<&'static str>,
    pub time_zone: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct NotificationsQuery {
    state: Option<String>,
    notice: Option<String>,
}

/// The filters: which states each shows.
const FILTERS: [(&str, &[&str]); 6] = [
    ("problems", &["pending", "delivering", "failed", "dead"]),
    ("pending", &["pending", "delivering"]),
    ("failed", &["failed"]),
    ("dead", &["dead"]),
    ("delivered", &["delivered"]),
    ("all", &["pending", "delivering", "failed", "dead", "delivered"]),
];

/// Most rows on the page.
const PAGE_ROWS: i64 = 200;

/// `GET /admin/notifications?state=problems`.
async fn list_notifications(
    State(app): State<AppState>,
    layout: Layout,
    Query(q): Query<NotificationsQuery>,
) -> Result<Response, AppError> {
    let selected = q.state.as_deref().filter(|s| FILTERS.iter().any(|(v, _)| v == s)).unwrap_or("problems");
    let states = FILTERS.iter().find(|(v, _)| *v == selected).map(|(_, s)| *s).unwrap_or(&[]);
    let counts = outbox::counts(&app.pool).await?;
    let count = |states: &[&str]| -> i64 {
        counts.iter().filter(|(s, _)| states.contains(&s.as_str())).map(|(_, n)| n).sum()
    };
    let tabs = FILTERS
        .iter()
        .map(|(value, states)| StateTab {
            value,
            label: format!("{} ({})", value, count(states)),
            current: *value == selected,
        })
        .collect();
    let now = OffsetDateTime::now_utc();
    let zone = &app.config.timezone;
    let rows = outbox::list(&app.pool, states, PAGE_ROWS)
        .await?
        .into_iter()
        .map(|n| NotificationView {
            id: n.id,
            seq: n.seq,
            created: crate::clock::describe(n.created_at, zone, now),
            channel: n.channel_name,
            incident: n.incident_number,
            event: n.event.replace('_', " "),
            retryable: matches!(n.state.as_str(), "failed" | "dead"),
            next_attempt: matches!(n.state.as_str(), "pending" | "failed" | "delivering")
                .then(|| crate::clock::describe(n.next_attempt_at, zone, now)),
            last_attempt: n.last_attempt_at.map(|t| crate::clock::describe(t, zone, now)),
            last_error: n.last_error,
            state: n.state,
            attempts: n.attempts,
        })
        .collect();
    let notice = match q.notice.as_deref() {
        Some("retried") => Some("The notification is queued for an immediate attempt."),
        _ => None,
    };
    Ok(render_page(&NotificationsPage {
        layout,
        tabs,
        rows,
        notice,
        time_zone: app.config.timezone_name.clone(),
    }))
}

/// `POST /admin/notifications/{id}/retry`: back in line, attempts reset; audited.
async fn retry_notification(
    State(app): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id, "This notification")?;
    let mut tx = app.pool.begin().await?;
    let Some((state, attempts, last_error)) = outbox::retry(&mut tx, id).await? else {
        let exists: bool = sqlx::query_scalar("select exists (select 1 from notifications where id = $1)")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        return Err(if exists {
            AppError::Conflict(
                "Only failed or dead notifications can be retried; this one is queued or delivered.".into(),
            )
        } else {
            AppError::NotFoundThing { what: "This notification".into() }
        });
    };
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "notification.retry",
            target: format!("notification:{id}"),
            before: Some(json!({"state": state, "attempts": attempts, "last_error": last_error})),
            after: Some(json!({"state": "pending", "attempts": 0})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(see_other("/admin/notifications?notice=retried"))
}
