//! The managers' use cases, each on the caller's transaction: lock, check, change, audit row.
//! The caller commits.

use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::audit::{self, Actor, Entry};
use crate::db::escalations::{self as store};
use crate::validation::{FieldError, FieldErrors};
use crate::web::error::AppError;

/// Longest review comment, in characters.
pub(crate) const MAX_COMMENT: usize = 10_000;
/// Longest follow-up action, in characters.
pub(crate) const MAX_FOLLOW_UP: usize = 2_000;

/// Why a manager's change was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ManagersError {
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

impl From<ManagersError> for AppError {
    fn from(e: ManagersError) -> Self {
        match e {
            ManagersError::NotFound { what } => AppError::NotFoundThing { what: what.to_owned() },
            ManagersError::Refused(m) => AppError::Conflict(m),
            ManagersError::Invalid(errors) => AppError::Validation(errors),
            ManagersError::Database(e) => e.into(),
        }
    }
}

/// A review as typed in its form or sent to the API.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReviewInput {
    pub(crate) comment: String,
    /// Blank: no follow-up.
    pub(crate) follow_up: String,
}

/// The checked comment and follow-up.
pub(crate) fn check_review(input: &ReviewInput) -> Result<(String, Option<String>), Vec<FieldError>> {
    let mut errors = FieldErrors::new();
    let comment = input.comment.trim().to_owned();
    let n = comment.chars().count();
    if n == 0 {
        errors.push("comment", "Say what you found: a comment is required to mark an escalation reviewed.");
    } else if n > MAX_COMMENT {
        errors.push("comment", format!("Keep the comment to {MAX_COMMENT} characters (it has {n})."));
    }
    let follow_up = input.follow_up.trim().to_owned();
    let m = follow_up.chars().count();
    if m > MAX_FOLLOW_UP {
        errors.push(
            "follow_up",
            format!("Keep the follow-up action to {MAX_FOLLOW_UP} characters (it has {m})."),
        );
    }
    errors.into_result((comment, (m > 0).then_some(follow_up)))
}

/// Marks the escalation recorded by timeline event `event_id` reviewed (audited). An
/// escalation is reviewed once.
pub(crate) async fn review_escalation(
    tx: &mut PgConnection,
    actor: &Actor,
    event_id: Uuid,
    input: &ReviewInput,
) -> Result<store::Escalation, ManagersError> {
    let before = store::find_for_update(&mut *tx, event_id)
        .await?
        .ok_or(ManagersError::NotFound { what: "This escalation" })?;
    let (comment, follow_up) = check_review(input).map_err(ManagersError::Invalid)?;
    if before.reviewed_at.is_some() {
        return Err(ManagersError::Refused(format!(
            "This escalation was already reviewed by {}; its review stays as written.",
            before.reviewer.as_deref().unwrap_or("someone")
        )));
    }
    store::mark_reviewed(&mut *tx, event_id, actor.user_id, &comment, follow_up.as_deref()).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "escalation.review",
            target: format!("incident:INC-{}", before.number),
            before: Some(json!({"event_id": event_id, "kind": before.kind.as_str(), "level": before.level.as_str(), "reviewed": false})),
            after: Some(json!({"event_id": event_id, "reviewed": true, "comment": comment, "follow_up": follow_up})),
        },
    )
    .await?;
    let after = store::find_for_update(&mut *tx, event_id)
        .await?
        .ok_or(ManagersError::NotFound { what: "This escalation" })?;
    Ok(after)
}
