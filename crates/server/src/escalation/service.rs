//! Escalation use cases admins run: creating, editing and deleting a notification channel, and
//! retrying a notification. Each runs on the caller's transaction: it locks what it changes,
//! checks the input (field errors a page, the API or the CLI reports the same way), changes,
//! writes the audit row (never a secret, URLs masked) and wakes the delivery workers when there
//! is something new to send. The caller commits.

use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use twisterlab_domain::notification::{ChannelKind, Routing};

use super::channels;
use crate::config::Secret;
use crate::db::audit::{self, Actor, Entry};
use crate::db::channels::{self as store, Channel, ChannelDraft, NameTaken};
use crate::db::notifications::{self, State};
use crate::validation::{FieldError, FieldErrors};

/// Longest channel name.
pub(crate) const MAX_NAME: usize = 100;
/// Longest secret (HMAC key, routing key).
pub(crate) const MAX_SECRET: usize = 200;
/// Shortest webhook signing secret: 16 characters, so it cannot be guessed.
pub(crate) const MIN_WEBHOOK_SECRET: usize = 16;

/// Why an escalation change was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EscalationError {
    /// `what` ("This channel") does not exist.
    #[error("{what} does not exist")]
    NotFound { what: &'static str },
    /// The change does not fit the current state; the message says what to do.
    #[error("{0}")]
    Refused(String),
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

const CHANNEL: &str = "This channel";
const NOTIFICATION: &str = "This notification";

/// A channel as typed in its form (or sent by the API or CLI).
#[derive(Clone, Debug, Default)]
pub(crate) struct ChannelInput {
    pub(crate) name: String,
    pub(crate) enabled: bool,
    /// On edit, blank keeps the stored address.
    pub(crate) url: String,
    /// On edit, blank keeps the stored secret.
    pub(crate) secret: String,
    /// The events sent per severity, as `P1:declared`; events the kind cannot carry are dropped.
    pub(crate) routes: Vec<String>,
}

/// The checked fields of a channel: name, URL and secret to store. `existing` is the channel
/// being edited: blank URL and secret fields keep its values; a configured channel keeps its
/// name (the start-up sync finds it by its key) and takes its URL and secret from settings.
fn check(
    kind: ChannelKind,
    input: &ChannelInput,
    existing: Option<&Channel>,
) -> Result<(String, Option<String>, Option<String>), EscalationError> {
    let mut errors = FieldErrors::new();
    let configured = existing.is_some_and(Channel::is_configured);
    let name = match existing {
        Some(c) if configured => c.name.clone(),
        _ => input.name.trim().to_owned(),
    };
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        errors.push("name", format!("Enter a name of 1 to {MAX_NAME} characters."));
    }
    let mut url = existing.and_then(|c| c.url.clone());
    let mut secret = existing.and_then(|c| c.secret.as_ref().map(|s| s.expose().to_owned()));
    if !configured {
        if !input.url.trim().is_empty() || existing.is_none() {
            match channels::check_url(&input.url) {
                Ok(u) => url = Some(u),
                Err(m) => errors.push("url", m),
            }
        }
        let typed = input.secret.trim();
        match kind {
            ChannelKind::Slack => secret = None,
            ChannelKind::Webhook | ChannelKind::Pagerduty if !typed.is_empty() => {
                let min = if kind == ChannelKind::Webhook { MIN_WEBHOOK_SECRET } else { 1 };
                let n = typed.chars().count();
                if n < min || n > MAX_SECRET || typed.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    errors.push("secret", format!("Enter {min} to {MAX_SECRET} characters without spaces."));
                } else {
                    secret = Some(typed.to_owned());
                }
            }
            ChannelKind::Webhook if secret.is_none() => errors.push(
                "secret",
                format!("Enter a signing secret of at least {MIN_WEBHOOK_SECRET} characters: every delivery is signed with it."),
            ),
            ChannelKind::Pagerduty if secret.is_none() => {
                errors.push("secret", "Enter the routing key of the PagerDuty service's Events API v2 integration.")
            }
            _ => {}
        }
    }
    errors.into_result((name, url, secret)).map_err(EscalationError::Invalid)
}

fn name_taken(_: NameTaken) -> EscalationError {
    EscalationError::Invalid(vec![FieldError::new("name", "Another channel has this name.")])
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

/// Creates a channel of `kind` (audited); returns its id.
pub(crate) async fn create_channel(
    tx: &mut PgConnection,
    actor: &Actor,
    kind: ChannelKind,
    input: &ChannelInput,
) -> Result<Uuid, EscalationError> {
    let routing = Routing::from_pairs(kind, &input.routes);
    let (name, url, secret) = check(kind, input, None)?;
    let draft = ChannelDraft {
        kind,
        name: &name,
        enabled: input.enabled,
        url: url.as_deref(),
        secret: secret.as_deref(),
        routing: &routing,
    };
    let id = store::insert(&mut *tx, &draft).await?.map_err(name_taken)?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "channel.create",
            target: format!("channel:{name}"),
            before: None,
            after: Some(audit_view(kind, &name, input.enabled, url.as_deref(), secret.as_deref(), &routing)),
        },
    )
    .await?;
    tracing::info!(channel.id = %id, channel.kind = kind.as_str(), "channel created");
    Ok(id)
}

/// Changes a channel (audited, saying whether the secret or URL changed without showing
/// either). Enabling a channel wakes the delivery workers for the notifications it held.
pub(crate) async fn update_channel(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    input: &ChannelInput,
) -> Result<(), EscalationError> {
    let channel =
        store::find_for_update(&mut *tx, id).await?.ok_or(EscalationError::NotFound { what: CHANNEL })?;
    let kind = channel.kind;
    let routing = Routing::from_pairs(kind, &input.routes);
    let (name, url, secret) = check(kind, input, Some(&channel))?;
    let draft = ChannelDraft {
        kind,
        name: &name,
        enabled: input.enabled,
        url: url.as_deref(),
        secret: secret.as_deref(),
        routing: &routing,
    };
    store::update(&mut *tx, id, &draft).await?.map_err(name_taken)?;
    let before_secret = channel.secret.as_ref().map(|s| s.expose().to_owned());
    let mut after = audit_view(kind, &name, input.enabled, url.as_deref(), secret.as_deref(), &routing);
    if secret != before_secret {
        after["secret"] = json!("changed");
    }
    if url != channel.url && kind != ChannelKind::Pagerduty {
        after["url_changed"] = json!(true);
    }
    audit::record(
        &mut *tx,
        actor,
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
    if input.enabled {
        notifications::wake(&mut *tx).await?;
    }
    Ok(())
}

/// Deletes a channel with its undelivered notifications (audited). A channel the configuration
/// names cannot be deleted: the next start would add it again.
pub(crate) async fn delete_channel(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<Channel, EscalationError> {
    let channel =
        store::find_for_update(&mut *tx, id).await?.ok_or(EscalationError::NotFound { what: CHANNEL })?;
    if let Some(key) = &channel.config_key {
        return Err(EscalationError::Refused(format!(
            "{} comes from {}: it is added again at every start while that is set. Disable it here, or unset the variable.",
            channel.name,
            channels::config_source(key).0
        )));
    }
    store::delete(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        actor,
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
    Ok(channel)
}

/// Puts a notification that is being retried or is dead back in line for an immediate attempt
/// with a fresh count (audited), and wakes the delivery workers.
pub(crate) async fn retry_notification(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<(), EscalationError> {
    let before = notifications::find_for_update(&mut *tx, id)
        .await?
        .ok_or(EscalationError::NotFound { what: NOTIFICATION })?;
    if !matches!(before.state, State::Failed | State::Dead) {
        return Err(EscalationError::Refused(
            "Only notifications that are being retried or are dead can be retried now; this one is queued or delivered."
                .into(),
        ));
    }
    notifications::requeue(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "notification.retry",
            target: format!("notification:{id}"),
            before: Some(json!({"state": before.state.as_str(), "attempts": before.attempts, "last_error": before.last_error})),
            after: Some(json!({"state": "pending", "attempts": 0})),
        },
    )
    .await?;
    Ok(())
}
