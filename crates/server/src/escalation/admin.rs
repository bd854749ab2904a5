//! Admin pages: channels (`/admin/channels`: Slack, signed webhook, PagerDuty, with per-severity
//! event routing and masked secrets) and the notification outbox (`/admin/notifications`:
//! queued deliveries, those being retried and the dead ones, with their last error and a retry
//! button). The changes are use cases in `escalation::service`.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::Form;
use jiff::Timestamp;
use serde::Deserialize;
use twisterlab_domain::notification::{ChannelKind, EventKind, Routing};
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::channels;
use super::service::{self, ChannelInput, EscalationError};
use crate::auth::{Access, CurrentUser, Routes};
use crate::db::channels::{self as store, Channel};
use crate::db::notifications::{self, Destination, State as Delivery};
use crate::state::AppState;
use crate::validation::{FieldError, FieldErrors};
use crate::web::confirm::{ConfirmPage, Confirmation};
use crate::web::error::AppError;
use crate::web::form::{NoticeQuery, Notices, PathId, form_outcome, see_other_with_notice};
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

pub(crate) fn routes() -> Routes {
    let admin = Access::Role(Role::Admin);
    Routes::new()
        .get("/admin/channels", admin, list_channels)
        .post("/admin/channels", admin, create_channel)
        .get("/admin/channels/new", admin, new_channel)
        .get("/admin/channels/{id}", admin, show_channel)
        .post("/admin/channels/{id}", admin, update_channel)
        .get("/admin/channels/{id}/delete", admin, confirm_delete_channel)
        .post("/admin/channels/{id}/delete", admin, delete_channel)
        .post("/admin/channels/{id}/test", admin, test_channel)
        .get("/admin/notifications", admin, list_notifications)
        .post("/admin/notifications/{id}/retry", admin, retry_notification)
}

impl From<EscalationError> for AppError {
    fn from(e: EscalationError) -> Self {
        match e {
            EscalationError::NotFound { what } => AppError::NotFoundThing { what: what.into() },
            EscalationError::Refused(message) => AppError::Conflict(message),
            EscalationError::Invalid(errors) => AppError::Validation(errors),
            EscalationError::Database(e) => e.into(),
        }
    }
}

fn channel_not_found() -> AppError {
    AppError::NotFoundThing { what: "This channel".into() }
}

/// A channel as pages show it: never the secret, only whether there is one; URLs masked.
pub(crate) struct ChannelView {
    pub(crate) id: Uuid,
    pub(crate) kind_label: &'static str,
    pub(crate) name: String,
    pub(crate) enabled: bool,
    /// `Some("TWISTERLAB_…")` for a configured channel.
    pub(crate) configured_by: Option<String>,
    pub(crate) target: String,
    pub(crate) has_secret: bool,
    /// "P0: declared, escalated …" lines.
    pub(crate) routes: Vec<String>,
}

impl ChannelView {
    fn of(c: &Channel, app: &AppState) -> Self {
        let (target, has_secret, configured_by) = match c.config_key.as_deref() {
            Some(key) => {
                let (url_env, secret_env) = channels::config_source(key);
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
pub(crate) struct ChannelsPage {
    pub(crate) layout: Layout,
    pub(crate) channels: Vec<ChannelView>,
    pub(crate) kinds: Vec<(&'static str, &'static str)>,
    pub(crate) notice: Option<&'static str>,
    /// The result of "Send a test", shown at once.
    pub(crate) test: Option<super::contact_pages::TestView>,
}

/// The flashes of the channel pages.
const CHANNEL_NOTICES: Notices = &[
    ("created", "Channel created."),
    ("saved", "Channel saved."),
    ("deleted", "Channel deleted, with its undelivered notifications."),
];

/// `GET /admin/channels`.
async fn list_channels(
    State(app): State<AppState>,
    layout: Layout,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let channels = store::list(&app.pool).await?.iter().map(|c| ChannelView::of(c, &app)).collect();
    let kinds = ChannelKind::ALL.into_iter().map(|k| (k.as_str(), k.label())).collect();
    Ok(render_page(&ChannelsPage { layout, channels, kinds, notice: q.text(CHANNEL_NOTICES), test: None }))
}

/// `POST /admin/channels/{id}/test`: sends one test message now, through the delivery
/// worker's sender with its attempt timeout, and shows the result on the channel list (audited).
async fn test_channel(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
) -> Result<Response, AppError> {
    let channel = store::find(&app.pool, id).await?.ok_or_else(channel_not_found)?;
    let to = Destination::Channel {
        kind: channel.kind,
        config_key: channel.config_key.clone(),
        url: channel.url.clone(),
        secret: channel.secret.clone(),
    };
    let result = super::contact_pages::test_sender(&app).test(&to, &me.actor.label).await;
    let mut tx = app.pool.begin().await?;
    super::contacts::record_test(
        &mut tx,
        &me.actor,
        "channel.test",
        format!("channel:{}", channel.name),
        result.delivered,
        &result.text,
    )
    .await?;
    tx.commit().await?;
    let channels = store::list(&app.pool).await?.iter().map(|c| ChannelView::of(c, &app)).collect();
    let kinds = ChannelKind::ALL.into_iter().map(|k| (k.as_str(), k.label())).collect();
    let test =
        super::contact_pages::TestView { name: channel.name, delivered: result.delivered, text: result.text };
    Ok(render_page(&ChannelsPage { layout, channels, kinds, notice: None, test: Some(test) }))
}

// ---------------------------------------------------------------------------------------------
// The channel form (new and edit)

/// The channel form as typed. `route` holds the checked `P1:declared` boxes.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct ChannelForm {
    #[serde(default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) name: String,
    /// "on" when the box is checked.
    #[serde(default)]
    pub(crate) enabled: Option<String>,
    #[serde(default)]
    pub(crate) url: String,
    #[serde(default)]
    pub(crate) secret: String,
    #[serde(default)]
    pub(crate) route: Vec<String>,
}

impl ChannelForm {
    fn input(&self) -> ChannelInput {
        ChannelInput {
            name: self.name.clone(),
            enabled: self.enabled.is_some(),
            url: self.url.clone(),
            secret: self.secret.clone(),
            routes: self.route.clone(),
        }
    }
}

/// One checkbox of the routing matrix.
pub(crate) struct RouteCell {
    pub(crate) value: String,
    pub(crate) checked: bool,
}

/// One event row of the routing matrix.
pub(crate) struct RouteRow {
    pub(crate) label: &'static str,
    pub(crate) cells: Vec<RouteCell>,
}

#[derive(Template)]
#[template(path = "admin/channels_form.html")]
pub(crate) struct ChannelFormPage {
    pub(crate) layout: Layout,
    /// `None` for a new channel.
    pub(crate) id: Option<Uuid>,
    pub(crate) kind: &'static str,
    pub(crate) kind_label: &'static str,
    pub(crate) name: String,
    pub(crate) enabled: bool,
    /// The masked current target, on edit.
    pub(crate) current: Option<ChannelView>,
    /// Shown in the URL field: empty on edit (blank keeps the stored one).
    pub(crate) url: String,
    pub(crate) severities: Vec<&'static str>,
    pub(crate) matrix: Vec<RouteRow>,
    pub(crate) errors: FieldErrors,
}

impl ChannelFormPage {
    fn configured(&self) -> bool {
        self.current.as_ref().is_some_and(|c| c.configured_by.is_some())
    }

    fn url_label(&self) -> &'static str {
        match self.kind {
            "slack" => "Incoming-webhook URL",
            "webhook" => "Endpoint URL",
            _ => "Events API v2 endpoint",
        }
    }

    fn secret_label(&self) -> &'static str {
        if self.kind == "webhook" { "Signing secret" } else { "Routing key" }
    }

    fn secret_hint(&self) -> &'static str {
        if self.kind == "webhook" {
            "At least 16 characters; the HMAC-SHA256 key of the X-TwisterLab-Signature header. Never shown again."
        } else {
            "The integration key of the PagerDuty service's Events API v2 integration. Never shown again."
        }
    }

    fn kept_placeholder(&self, what: &str) -> String {
        if self.id.is_some() { format!("unchanged: {what}") } else { String::new() }
    }
}

fn matrix(kind: ChannelKind, routing: &Routing) -> Vec<RouteRow> {
    kind.events()
        .into_iter()
        .map(|e| RouteRow {
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

/// The values a channel form shows.
struct FormValues<'a> {
    name: String,
    enabled: bool,
    url: String,
    routing: &'a Routing,
}

fn form_page(
    layout: Layout,
    kind: ChannelKind,
    current: Option<ChannelView>,
    values: FormValues<'_>,
    errors: FieldErrors,
) -> ChannelFormPage {
    ChannelFormPage {
        layout,
        id: current.as_ref().map(|c| c.id),
        kind: kind.as_str(),
        kind_label: kind.label(),
        name: values.name,
        enabled: values.enabled,
        current,
        url: values.url,
        severities: Severity::ALL.into_iter().map(Severity::as_str).collect(),
        matrix: matrix(kind, values.routing),
        errors,
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NewQuery {
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
    let routing = Routing::all(kind);
    let values = FormValues { name: name.into(), enabled: true, url, routing: &routing };
    render_page(&form_page(layout, kind, None, values, FieldErrors::new()))
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
    let input = form.input();
    let result = async {
        let mut tx = app.pool.begin().await?;
        service::create_channel(&mut tx, &me.actor, kind, &input).await?;
        tx.commit().await?;
        Ok(see_other_with_notice("/admin/channels", "created"))
    }
    .await;
    Ok(form_outcome(result, |errors| {
        let routing = Routing::from_pairs(kind, &input.routes);
        let values = FormValues {
            name: input.name.clone(),
            enabled: input.enabled,
            url: input.url.clone(),
            routing: &routing,
        };
        render_page(&form_page(layout, kind, None, values, errors))
    }))
}

/// `GET /admin/channels/{id}`.
async fn show_channel(
    State(app): State<AppState>,
    layout: Layout,
    PathId(id): PathId,
) -> Result<Response, AppError> {
    let channel = store::find(&app.pool, id).await?.ok_or_else(channel_not_found)?;
    let values = FormValues {
        name: channel.name.clone(),
        enabled: channel.enabled,
        url: String::new(),
        routing: &channel.routing,
    };
    let page =
        form_page(layout, channel.kind, Some(ChannelView::of(&channel, &app)), values, FieldErrors::new());
    Ok(render_page(&page))
}

/// `POST /admin/channels/{id}`.
async fn update_channel(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Form(form): Form<ChannelForm>,
) -> Result<Response, AppError> {
    let input = form.input();
    let result = async {
        let mut tx = app.pool.begin().await?;
        service::update_channel(&mut tx, &me.actor, id, &input).await?;
        tx.commit().await?;
        Ok(see_other_with_notice("/admin/channels", "saved"))
    }
    .await;
    // The form again shows the channel as stored (its kind, its masked target).
    let channel = match &result {
        Err(AppError::Validation(_)) => store::find(&app.pool, id).await?,
        _ => None,
    };
    Ok(form_outcome(result, |errors| match channel {
        Some(channel) => {
            let routing = Routing::from_pairs(channel.kind, &input.routes);
            // A configured channel keeps its name: the start-up sync finds it by its key.
            let name = if channel.is_configured() { channel.name.clone() } else { input.name.clone() };
            let values = FormValues { name, enabled: input.enabled, url: String::new(), routing: &routing };
            render_page(&form_page(
                layout,
                channel.kind,
                Some(ChannelView::of(&channel, &app)),
                values,
                errors,
            ))
        }
        None => channel_not_found().into_response(),
    }))
}

/// `GET /admin/channels/{id}/delete`: what deleting loses, and the button that does it.
async fn confirm_delete_channel(
    State(app): State<AppState>,
    layout: Layout,
    PathId(id): PathId,
) -> Result<Response, AppError> {
    let channel = store::find(&app.pool, id).await?.ok_or_else(channel_not_found)?;
    if channel.is_configured() {
        return Err(AppError::Conflict(format!(
            "The channel {} comes from the portal's settings; remove it there.",
            channel.name
        )));
    }
    let href = format!("/admin/channels/{id}");
    Ok(ConfirmPage {
        layout,
        question: format!("Delete the channel {}?", channel.name),
        consequences: vec![
            "Nothing more is sent to it.".into(),
            "Its undelivered notifications are dropped; what was delivered stays in the outbox history.".into(),
            "To stop sending for a while instead, disable it on its page: undelivered notifications are kept.".into(),
        ],
        action: format!("{href}/delete"),
        carried: vec![],
        button: format!("Delete {}", channel.name),
        cancel: href,
    }
    .render())
}

/// `POST /admin/channels/{id}/delete`: deletes only with `confirm=yes` (the confirmation
/// page's form); otherwise shows that page.
async fn delete_channel(
    State(app): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
    Form(confirmation): Form<Confirmation>,
) -> Result<Response, AppError> {
    if let Some(ask) = confirmation.required(&format!("/admin/channels/{id}/delete")) {
        return Ok(ask);
    }
    let mut tx = app.pool.begin().await?;
    service::delete_channel(&mut tx, &me.actor, id).await?;
    tx.commit().await?;
    Ok(see_other_with_notice("/admin/channels", "deleted"))
}

// ---------------------------------------------------------------------------------------------
// GET /admin/notifications, POST /admin/notifications/{id}/retry

/// A notification row on the page.
pub(crate) struct NotificationView {
    pub(crate) id: Uuid,
    pub(crate) seq: i64,
    pub(crate) created: Moment,
    pub(crate) channel: String,
    pub(crate) incident: Option<i64>,
    pub(crate) event: String,
    /// "pending", "delivering", "retrying", "dead", "delivered".
    pub(crate) state: &'static str,
    /// The CSS class of the state.
    pub(crate) state_class: &'static str,
    pub(crate) attempts: i32,
    pub(crate) next_attempt: Option<Moment>,
    pub(crate) last_attempt: Option<Moment>,
    pub(crate) last_error: Option<String>,
    pub(crate) retryable: bool,
}

/// How the page names a delivery state: a failed attempt is a retry, not an end.
fn state_label(state: Delivery) -> (&'static str, &'static str) {
    match state {
        Delivery::Pending => ("pending", "state-unknown"),
        Delivery::Delivering => ("delivering", "state-unknown"),
        Delivery::Failed => ("retrying", "state-degraded"),
        Delivery::Delivered => ("delivered", "state-healthy"),
        Delivery::Dead => ("dead", "state-unhealthy"),
    }
}

/// A state filter link.
pub(crate) struct StateTab {
    pub(crate) value: &'static str,
    pub(crate) label: String,
    pub(crate) current: bool,
}

#[derive(Template)]
#[template(path = "admin/notifications.html")]
pub(crate) struct NotificationsPage {
    pub(crate) layout: Layout,
    pub(crate) tabs: Vec<StateTab>,
    pub(crate) rows: Vec<NotificationView>,
    pub(crate) notice: Option<&'static str>,
    pub(crate) time_zone: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NotificationsQuery {
    state: Option<String>,
    notice: Option<String>,
}

/// The filters: which states each shows.
const FILTERS: [(&str, &[Delivery]); 6] = [
    ("problems", &[Delivery::Pending, Delivery::Delivering, Delivery::Failed, Delivery::Dead]),
    ("pending", &[Delivery::Pending, Delivery::Delivering]),
    ("retrying", &[Delivery::Failed]),
    ("dead", &[Delivery::Dead]),
    ("delivered", &[Delivery::Delivered]),
    ("all", &Delivery::ALL),
];

/// The flashes of the outbox page.
const NOTIFICATION_NOTICES: Notices = &[("retried", "The notification is queued for an immediate attempt.")];

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
    let counts = notifications::counts(&app.pool).await?;
    let count = |states: &[Delivery]| -> i64 {
        counts.iter().filter(|(s, _)| states.contains(s)).map(|(_, n)| n).sum()
    };
    let tabs = FILTERS
        .iter()
        .map(|(value, states)| StateTab {
            value,
            label: format!("{} ({})", value, count(states)),
            current: *value == selected,
        })
        .collect();
    let now = Timestamp::now();
    let zone = &app.config.timezone;
    let rows = notifications::list(&app.pool, states, PAGE_ROWS)
        .await?
        .into_iter()
        .map(|n| {
            let (state, state_class) = state_label(n.state);
            NotificationView {
                id: n.id,
                seq: n.seq,
                created: Moment::new(n.created_at, zone, now),
                channel: n.channel_name,
                incident: n.incident_number,
                event: n.event.replace('_', " "),
                retryable: matches!(n.state, Delivery::Failed | Delivery::Dead),
                next_attempt: matches!(n.state, Delivery::Pending | Delivery::Failed | Delivery::Delivering)
                    .then(|| Moment::new(n.next_attempt_at, zone, now)),
                last_attempt: n.last_attempt_at.map(|t| Moment::new(t, zone, now)),
                last_error: n.last_error,
                state,
                state_class,
                attempts: n.attempts,
            }
        })
        .collect();
    Ok(render_page(&NotificationsPage {
        layout,
        tabs,
        rows,
        notice: NoticeQuery { notice: q.notice }.text(NOTIFICATION_NOTICES),
        time_zone: app.config.timezone_name.clone(),
    }))
}

/// `POST /admin/notifications/{id}/retry`: back in line, attempts reset; audited.
async fn retry_notification(
    State(app): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
) -> Result<Response, AppError> {
    let mut tx = app.pool.begin().await?;
    service::retry_notification(&mut tx, &me.actor, id).await?;
    tx.commit().await?;
    Ok(see_other_with_notice("/admin/notifications", "retried"))
}
