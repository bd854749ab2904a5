//! A user changing their own password.

use jiff::Timestamp;
use serde_json::json;
use sqlx::PgPool;

use super::AccountError;
use crate::accounts::rules::password_change_errors;
use crate::auth::password::{self, Verification};
use crate::config::Secret;
use crate::db::audit::{self, Entry};
use crate::db::{sessions, throttle, users};
use crate::identity::CurrentUser;

/// The three fields of the "change your password" form.
pub(crate) struct PasswordChange<'a> {
    pub current: &'a str,
    pub new: &'a str,
    pub confirm: &'a str,
}

/// Verifies the current password, stores the new one and signs out the user's other sessions
/// (all of them when the caller has no session), in one transaction with its audit row;
/// returns how many sessions ended.
///
/// Takes the pool rather than a transaction: a wrong current password is counted and audited
/// in a transaction of its own that commits although the change is refused, and argon2 runs
/// before the user's row is locked.
pub(crate) async fn change_password(
    pool: &PgPool,
    user: &CurrentUser,
    change: &PasswordChange<'_>,
) -> Result<u64, AccountError> {
    let email = &user.user.email;
    let mut errors = password_change_errors(change.current, change.new, change.confirm, email);
    // The same per-account counter as sign-in: a borrowed session must not become a way to
    // guess the password without limit.
    let account_key = format!("account:{}", email.to_lowercase());
    // A blank current password is already reported by the rules.
    if !change.current.is_empty()
        && let Some(message) = check_current_password(pool, user, change.current, &account_key).await?
    {
        errors.push("current_password", message);
    }
    if !errors.is_empty() {
        return Err(AccountError::Invalid(errors.into_vec()));
    }

    let hash = password::hash(&Secret::new(change.new)).await?;
    let mut tx = pool.begin().await?;
    let Some(locked) = users::find_for_update(&mut *tx, user.user.id).await? else {
        return Err(AccountError::NotFound("Your account"));
    };
    users::set_password(&mut *tx, locked.id, &hash, false).await?;
    let ended = match user.session_id() {
        Some(keep) => sessions::delete_others(&mut *tx, locked.id, keep).await?,
        None => sessions::delete_all_for_user(&mut *tx, locked.id).await?,
    };
    throttle::clear(&mut *tx, &account_key).await?;
    // API tokens made with the old password end with it.
    let tokens_revoked = crate::db::api_tokens::revoke_all_for_user(&mut *tx, locked.id).await?;
    audit::record(
        &mut *tx,
        &user.actor,
        Entry {
            action: "user.password_change",
            target: format!("user:{email}"),
            before: Some(json!({"must_change_password": locked.must_change_password})),
            after: Some(json!({"must_change_password": false, "other_sessions_ended": ended, "tokens_revoked": tokens_revoked})),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user.id = %locked.id, sessions.ended = ended, "password changed");
    Ok(ended)
}

/// Why the typed current password does not let the change through, if it does not: the
/// account is locked by too many failures, or the password is wrong (counted, possibly
/// locking the account, and audited in a transaction that commits).
async fn check_current_password(
    pool: &PgPool,
    user: &CurrentUser,
    current: &str,
    account_key: &str,
) -> Result<Option<String>, AccountError> {
    if let Some(until) = throttle::locked_until(pool, &[account_key.to_owned()]).await? {
        let minutes = (until.duration_since(Timestamp::now()).as_secs().max(1) + 59) / 60;
        return Ok(Some(format!("Too many wrong passwords for this account. Try again in {minutes} min.")));
    }
    let email = &user.user.email;
    let stored = users::find_with_hash(pool, email)
        .await?
        .filter(|(found, _)| found.id == user.user.id)
        .map(|(_, hash)| hash);
    if password::verify(&Secret::new(current), stored).await != Verification::Invalid {
        return Ok(None);
    }
    let mut tx = pool.begin().await?;
    let failures = throttle::record_failure(&mut *tx, account_key).await?;
    if let Some(seconds) = throttle::lock_seconds(failures) {
        throttle::lock(&mut *tx, account_key, seconds).await?;
    }
    audit::record(
        &mut *tx,
        &user.actor,
        Entry {
            action: "user.password_change_failed",
            target: format!("user:{email}"),
            before: None,
            after: Some(json!({"reason": "wrong current password", "failures": failures})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some("This is not your current password.".into()))
}
