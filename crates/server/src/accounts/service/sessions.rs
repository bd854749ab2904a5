//! Sessions: signing in (argon2 check, throttling, a new session), signing out, and a user
//! ending one of their own sessions.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::AccountError;
use crate::auth::password::{self, Verification};
use crate::auth::{RequestMeta, token};
use crate::config::Secret;
use crate::db::audit::{self, Entry};
use crate::db::sessions::{self, NewSession};
use crate::db::users::User;
use crate::db::{throttle, users};
use crate::identity::CurrentUser;

/// What the pages call a session that is not the caller's.
pub(crate) const SESSION: &str = "This session";

/// How a sign-in ended.
pub(crate) enum SignIn {
    /// A new session; `session_token` goes into the cookie and is stored only as its hash.
    SignedIn { user: User, session_token: String },
    /// Refused without looking at the password (or after the failure that started the lock).
    Locked { until: Timestamp },
    /// Wrong e-mail or password, or an inactive account: the same answer for all three.
    Wrong,
}

/// Signs in `email` with `password` from the client `meta` describes. Failures count against
/// the account and the client address; five start a lock (see `db::throttle`). The password
/// is verified even for unknown or inactive accounts, so timing tells nothing. The new
/// session lives `lifetime` at most.
///
/// Takes the pool: a refused attempt is counted and audited in a transaction that commits.
pub(crate) async fn sign_in(
    pool: &PgPool,
    meta: &RequestMeta,
    email: &str,
    password: Secret,
    lifetime: std::time::Duration,
) -> Result<SignIn, AccountError> {
    let account_key = format!("account:{}", email.to_lowercase());
    let address_key = format!("address:{}", meta.client_addr.as_deref().unwrap_or("unknown"));
    let keys = [account_key.clone(), address_key];
    if let Some(until) = throttle::locked_until(pool, &keys).await? {
        // Refused without checking the password; recorded so the lock's effect is visible.
        let entry = Entry {
            action: "auth.sign_in_locked",
            target: account_key.clone(),
            before: None,
            after: Some(json!({"locked_until": until.as_second()})),
        };
        audit::record(pool, &meta.anonymous_actor("anonymous"), entry).await?;
        return Ok(SignIn::Locked { until });
    }

    let (user, stored) = match users::find_with_hash(pool, email).await? {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let verdict = password::verify(&password, stored).await;
    let (user, rehash) = match (user, verdict) {
        (Some(user), Verification::Valid { rehash }) if user.active => (user, rehash),
        _ => return record_failure(pool, meta, &keys, &account_key).await,
    };

    let session_token = token::random_secret();
    let expires_at = Timestamp::now()
        .saturating_add(SignedDuration::try_from(lifetime).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX);
    let mut tx = pool.begin().await?;
    if rehash {
        let new_hash = password::hash(&password).await?;
        users::set_password(&mut *tx, user.id, &new_hash, user.must_change_password).await?;
    }
    let csrf = token::random_secret();
    let new = NewSession {
        token_hash: &token::digest(&session_token),
        user_id: user.id,
        csrf_token: &csrf,
        expires_at,
        client_addr: meta.client_addr.as_deref(),
        user_agent: meta.user_agent.as_deref(),
    };
    sessions::insert(&mut *tx, &new).await?;
    users::record_sign_in(&mut *tx, user.id).await?;
    throttle::clear(&mut *tx, &account_key).await?;
    let mut actor = meta.anonymous_actor(user.email.clone());
    actor.user_id = Some(user.id);
    audit::record(
        &mut *tx,
        &actor,
        Entry {
            action: "auth.sign_in",
            target: format!("user:{}", user.email),
            before: None,
            after: Some(json!({"rehashed": rehash})),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user.id = %user.id, rehashed = rehash, "signed in");
    Ok(SignIn::SignedIn { user, session_token })
}

/// Counts a failed sign-in against every key and audits it; the failure that reaches the
/// threshold locks the key (and the answer says so).
async fn record_failure(
    pool: &PgPool,
    meta: &RequestMeta,
    keys: &[String],
    account_key: &str,
) -> Result<SignIn, AccountError> {
    let mut tx = pool.begin().await?;
    let mut lock: Option<Timestamp> = None;
    for key in keys {
        let failures = throttle::record_failure(&mut *tx, key).await?;
        if let Some(seconds) = throttle::lock_seconds(failures) {
            let until = throttle::lock(&mut *tx, key, seconds).await?;
            lock = Some(lock.map_or(until, |l| l.max(until)));
        }
    }
    // `locked_until` is set on the failure that started a lock.
    let entry = Entry {
        action: "auth.sign_in_failed",
        target: account_key.to_owned(),
        before: None,
        after: Some(json!({"locked_until": lock.map(|l| l.as_second())})),
    };
    audit::record(&mut *tx, &meta.anonymous_actor("anonymous"), entry).await?;
    tx.commit().await?;
    Ok(match lock {
        Some(until) => SignIn::Locked { until },
        None => SignIn::Wrong,
    })
}

/// Ends the caller's session (if they signed in with one) and audits the sign-out, on `tx`.
pub(crate) async fn sign_out(tx: &mut PgConnection, user: &CurrentUser) -> Result<(), AccountError> {
    if let Some(id) = user.session_id() {
        sessions::delete(&mut *tx, id).await?;
    }
    audit::record(
        &mut *tx,
        &user.actor,
        Entry {
            action: "auth.sign_out",
            target: format!("user:{}", user.user.email),
            before: None,
            after: None,
        },
    )
    .await?;
    Ok(())
}

/// Ends one of the caller's own sessions with its audit row, on `tx`; returns whether it was
/// the session of this request (the caller is then signed out). Another user's session is
/// [`AccountError::NotFound`].
pub(crate) async fn end_own_session(
    tx: &mut PgConnection,
    user: &CurrentUser,
    id: Uuid,
) -> Result<bool, AccountError> {
    let current = user.session_id() == Some(id);
    if !sessions::delete_own(&mut *tx, user.user.id, id).await? {
        return Err(AccountError::NotFound(SESSION));
    }
    audit::record(
        &mut *tx,
        &user.actor,
        Entry {
            action: "session.end",
            target: format!("session:{id}"),
            before: Some(json!({"user": user.user.email})),
            after: Some(json!({"ended": true, "current": current})),
        },
    )
    .await?;
    Ok(current)
}
