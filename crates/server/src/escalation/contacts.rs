//! Use cases on people's contact methods (`contact_methods`): adding, editing, enabling and
//! deleting one, and recording a test message. Each runs on the caller's transaction for one
//! owner: a method of someone else is "not found", so a person can only reach their own through
//! `/account/contacts`, and an admin anyone's through `/admin/users/{id}/contacts`. Input is
//! checked into field errors; the audit row never holds a secret (webhook URLs masked, routing
//! keys and signing keys only "set" or "changed"). The caller commits.

use serde_json::json;
use sqlx::PgConnection;
use twisterlab_domain::contact::{self, ContactKind};
use uuid::Uuid;

use super::channels;
use super::service::{EscalationError, MAX_SECRET, MIN_WEBHOOK_SECRET};
use crate::db::audit::{self, Actor, Entry};
use crate::db::contact_methods::{self as store, ContactDraft, ContactMethod, Taken};
use crate::db::users;
use crate::validation::{FieldError, FieldErrors};

/// Longest label.
pub(crate) const MAX_LABEL: usize = 100;

const CONTACT: &str = "This contact method";
const PERSON: &str = "This user";

/// A contact method as typed in its form.
#[derive(Clone, Debug, Default)]
pub(crate) struct ContactInput {
    /// On create: `slack`, `webhook`, `pagerduty` or `email`; ignored on edit.
    pub(crate) kind: String,
    /// Blank: the kind's name ("PagerDuty").
    pub(crate) label: String,
    /// Member ID, URL, routing key or address. On edit, blank keeps a stored webhook URL or
    /// routing key (the form never shows them).
    pub(crate) target: String,
    /// A webhook's signing secret; on edit, blank keeps the stored one.
    pub(crate) secret: String,
    pub(crate) enabled: bool,
}

/// Whether the form shows the stored target (a member ID, an address) or keeps it hidden (a
/// webhook URL may carry a credential; a routing key is one).
pub(crate) fn target_is_secret(kind: ContactKind) -> bool {
    matches!(kind, ContactKind::Webhook | ContactKind::Pagerduty)
}

/// The checked target of `kind`, or the field error.
fn check_target(kind: ContactKind, raw: &str) -> Result<String, String> {
    let t = raw.trim();
    match kind {
        ContactKind::Slack if contact::is_slack_member_id(t) => Ok(t.to_owned()),
        ContactKind::Slack => Err("Enter a Slack member ID like U024BE7LH: in Slack, open your profile, then ⋮ → Copy member ID.".into()),
        ContactKind::Webhook => channels::check_url(t),
        ContactKind::Pagerduty if contact::is_routing_key(t) => Ok(t.to_owned()),
        ContactKind::Pagerduty => Err("Enter the 32-character integration key of your PagerDuty service's Events API v2 integration (letters and digits).".into()),
        ContactKind::Email if contact::is_email(t) => Ok(t.to_owned()),
        ContactKind::Email => Err("Enter an e-mail address like maya@example.com.".into()),
    }
}

/// The checked fields: label, target and secret to store. `existing` is the method being
/// edited: a blank hidden target or secret keeps its value.
fn check(
    kind: ContactKind,
    input: &ContactInput,
    existing: Option<&ContactMethod>,
) -> Result<(String, String, Option<String>), EscalationError> {
    let mut errors = FieldErrors::new();
    let label = match input.label.trim() {
        "" => kind.label().to_owned(),
        l => l.to_owned(),
    };
    if label.chars().count() > MAX_LABEL || label.chars().any(char::is_control) {
        errors.push("label", format!("Enter a label of at most {MAX_LABEL} characters."));
    }
    let keep = existing.filter(|_| target_is_secret(kind) && input.target.trim().is_empty());
    let target = match keep {
        Some(m) => m.target.clone(),
        None => check_target(kind, &input.target).unwrap_or_else(|m| {
            errors.push("target", m);
            String::new()
        }),
    };
    let mut secret = existing.and_then(|m| m.secret.as_ref().map(|s| s.expose().to_owned()));
    if kind == ContactKind::Webhook {
        let typed = input.secret.trim();
        let n = typed.chars().count();
        if !typed.is_empty() {
            if !(MIN_WEBHOOK_SECRET..=MAX_SECRET).contains(&n)
                || typed.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                errors.push(
                    "secret",
                    format!("Enter {MIN_WEBHOOK_SECRET} to {MAX_SECRET} characters without spaces."),
                );
            } else {
                secret = Some(typed.to_owned());
            }
        } else if secret.is_none() {
            errors.push(
                "secret",
                format!("Enter a signing secret of at least {MIN_WEBHOOK_SECRET} characters: every delivery is signed with it."),
            );
        }
    } else {
        secret = None;
    }
    errors.into_result((label, target, secret)).map_err(EscalationError::Invalid)
}

fn taken(t: Taken) -> EscalationError {
    EscalationError::Invalid(vec![match t {
        Taken::Target => FieldError::new("target", "This person already has this contact method."),
        Taken::Label => FieldError::new("label", "Another of this person's contact methods has this label."),
    }])
}

/// What the audit log keeps of a contact method: no secret; a webhook URL masked, a routing
/// key only as "set".
fn audit_view(
    owner: Uuid,
    kind: ContactKind,
    label: &str,
    target: &str,
    secret: Option<&str>,
    enabled: bool,
) -> serde_json::Value {
    let target = match kind {
        ContactKind::Webhook => channels::mask_url(target),
        ContactKind::Pagerduty => "(routing key set)".to_owned(),
        ContactKind::Slack | ContactKind::Email => target.to_owned(),
    };
    json!({"user_id": owner, "kind": kind.as_str(), "label": label, "target": target, "enabled": enabled,
           "secret": if secret.is_some() { "set" } else { "unset" }})
}

/// The owner's contact method `id`, locked; someone else's is "not found".
async fn locked(tx: &mut PgConnection, owner: Uuid, id: Uuid) -> Result<ContactMethod, EscalationError> {
    store::find_for_update(&mut *tx, id)
        .await?
        .filter(|m| m.user_id == owner)
        .ok_or(EscalationError::NotFound { what: CONTACT })
}

/// Adds a contact method to `owner` (audited); returns its id.
pub(crate) async fn add_contact(
    tx: &mut PgConnection,
    actor: &Actor,
    owner: Uuid,
    input: &ContactInput,
) -> Result<Uuid, EscalationError> {
    if users::find(&mut *tx, owner).await?.is_none() {
        return Err(EscalationError::NotFound { what: PERSON });
    }
    let Some(kind) = ContactKind::parse(input.kind.trim()) else {
        return Err(EscalationError::Invalid(vec![FieldError::new(
            "kind",
            "Choose Slack, webhook, PagerDuty or e-mail.",
        )]));
    };
    let (label, target, secret) = check(kind, input, None)?;
    let draft = ContactDraft {
        kind,
        label: &label,
        target: &target,
        secret: secret.as_deref(),
        enabled: input.enabled,
    };
    let id = store::insert(&mut *tx, owner, &draft).await?.map_err(taken)?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "contact_method.create",
            target: format!("contact_method:{id}"),
            before: None,
            after: Some(audit_view(owner, kind, &label, &target, secret.as_deref(), input.enabled)),
        },
    )
    .await?;
    Ok(id)
}

/// Changes one of `owner`'s contact methods (audited, saying whether the secret changed
/// without showing it).
pub(crate) async fn update_contact(
    tx: &mut PgConnection,
    actor: &Actor,
    owner: Uuid,
    id: Uuid,
    input: &ContactInput,
) -> Result<(), EscalationError> {
    let before = locked(tx, owner, id).await?;
    let kind = before.kind;
    let (label, target, secret) = check(kind, input, Some(&before))?;
    let draft = ContactDraft {
        kind,
        label: &label,
        target: &target,
        secret: secret.as_deref(),
        enabled: input.enabled,
    };
    store::update(&mut *tx, id, &draft).await?.map_err(taken)?;
    let before_secret = before.secret.as_ref().map(|s| s.expose().to_owned());
    let mut after = audit_view(owner, kind, &label, &target, secret.as_deref(), input.enabled);
    if secret != before_secret {
        after["secret"] = json!("changed");
    }
    if target != before.target && target_is_secret(kind) {
        after["target_changed"] = json!(true);
    }
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "contact_method.update",
            target: format!("contact_method:{id}"),
            before: Some(audit_view(
                owner,
                kind,
                &before.label,
                &before.target,
                before_secret.as_deref(),
                before.enabled,
            )),
            after: Some(after),
        },
    )
    .await?;
    if input.enabled {
        crate::db::notifications::wake(&mut *tx).await?;
    }
    Ok(())
}

/// Turns one of `owner`'s contact methods on or off (audited). Rows queued for a disabled one
/// wait until it is enabled again.
pub(crate) async fn set_contact_enabled(
    tx: &mut PgConnection,
    actor: &Actor,
    owner: Uuid,
    id: Uuid,
    enabled: bool,
) -> Result<ContactMethod, EscalationError> {
    let m = locked(tx, owner, id).await?;
    let input = ContactInput {
        kind: m.kind.as_str().to_owned(),
        label: m.label.clone(),
        target: m.target.clone(),
        secret: String::new(),
        enabled,
    };
    update_contact(tx, actor, owner, id, &input).await?;
    Ok(m)
}

/// Deletes one of `owner`'s contact methods with its undelivered notifications (audited).
pub(crate) async fn delete_contact(
    tx: &mut PgConnection,
    actor: &Actor,
    owner: Uuid,
    id: Uuid,
) -> Result<ContactMethod, EscalationError> {
    let m = locked(tx, owner, id).await?;
    store::delete(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "contact_method.delete",
            target: format!("contact_method:{id}"),
            before: Some(audit_view(
                owner,
                m.kind,
                &m.label,
                &m.target,
                m.secret.as_ref().map(|s| s.expose()),
                m.enabled,
            )),
            after: None,
        },
    )
    .await?;
    Ok(m)
}

/// Records a "Send a test" and its result (`action` `contact_method.test` or `channel.test`,
/// `target` `contact_method:{id}` or `channel:{name}`): the result text names no secret (a
/// failure names only the host and port).
pub(crate) async fn record_test(
    tx: &mut PgConnection,
    actor: &Actor,
    action: &'static str,
    target: String,
    delivered: bool,
    result: &str,
) -> Result<(), EscalationError> {
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action,
            target,
            before: None,
            after: Some(json!({"delivered": delivered, "result": result})),
        },
    )
    .await?;
    Ok(())
}
