//! Sessions: signing in (argon2 check, throttling, a new session), signing out, and a user
//! ending one of their own sessions.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::AccountError;
use crate::auth::password::{HashError, Hasher, Verification};
use crate::auth::{RequestMeta, token};
use crate::config::Secret;
use crate::db::audit::{self, Entry};
use crate::db::sessions::{self, NewSession};
use crate::db::throttle::{self, Reservation};
use crate::db::users::User;
use crate::db::{devices, users};
use crate::identity::CurrentUser;

/// What the pages call a session that is not the caller's.
pub(crate) const SESSION: &str = "This session";

/// How a sign-in ended.
pub(crate) enum SignIn {
    /// A new session; `session_token` goes into the cookie and is stored only as its hash.
    /// `device_token`, when set, is a new known-device cookie for this browser.
    SignedIn { user: User, session_token: String, device_token: Option<String> },
    /// Refused without looking at the password (or after the failure that started the lock).
    Locked { until: Timestamp },
    /// Wrong e-mail or password, or an inactive account: the same answer for all three.
    Wrong,
    /// The password checks are queued up: try again after `retry_after_seconds`.
    Busy { retry_after_seconds: u64 },
}

/// How long a client is asked to wait when the hashing queue is full.
pub(crate) const BUSY_RETRY_AFTER_SECONDS: u64 = 2;

/// One sign-in attempt: who, with what, from where.
pub(crate) struct Attempt<'a> {
    pub email: &'a str,
    pub password: Secret,
    /// The known-device cookie the browser sent, if any.
    pub device: Option<&'a str>,
    /// The new session lives this long at most.
    pub lifetime: std::time::Duration,
}

/// The counter key of a known device (never the token itself).
fn device_key(device_hash: &[u8]) -> String {
    let hex: String = device_hash.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("device:{hex}")
}

/// Signs in with `attempt` from the client `meta` describes.
///
/// The attempt is reserved against the throttle before the password is verified (one locked
/// row per key, see `db::throttle::reserve`), so concurrent guesses cannot all pass the
/// check. The keys are the client address and the account; a browser that signed in to this
/// account before (a known device) is counted on its own key instead of the account's, so a
/// stranger's wrong guesses lock the account for everyone except the devices its owner uses.
/// A success clears every key. The password is verified even for unknown or inactive
/// accounts, so timing tells nothing.
///
/// Takes the pool: a refused attempt is counted and audited in a transaction that commits.
pub(crate) async fn sign_in(
    pool: &PgPool,
    hasher: &Hasher,
    meta: &RequestMeta,
    attempt: Attempt<'_>,
) -> Result<SignIn, AccountError> {
    let email = attempt.email;
    let account_key = format!("account:{}", email.to_lowercase());
    let address_key = format!("address:{}", meta.client_addr.as_deref().unwrap_or("unknown"));
    let (user, stored) = match users::find_with_hash(pool, email).await? {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let device_hash = attempt.device.filter(|d| d.len() >= 32).map(token::digest);
    let known_device = match (&user, &device_hash) {
        (Some(user), Some(hash)) => devices::is_known(pool, user.id, hash).await?,
        _ => false,
    };
    let first_key = match (&device_hash, known_device) {
        (Some(hash), true) => device_key(hash),
        _ => account_key.clone(),
    };
    let keys = [first_key, address_key];

    let mut tx = pool.begin().await?;
    let started_lock = match throttle::reserve(&mut tx, &keys).await? {
        Reservation::Locked { until, first_refusal } => {
            // One row per key and lock period: further refusals cost nothing and write nothing.
            if first_refusal {
                let entry = Entry {
                    action: "auth.sign_in_locked",
                    target: account_key.clone(),
                    before: None,
                    after: Some(json!({"locked_until": until.as_second()})),
                };
                audit::record(&mut *tx, &meta.anonymous_actor("anonymous"), entry).await?;
            }
            tx.commit().await?;
            return Ok(SignIn::Locked { until });
        }
        Reservation::Counted { locked_until } => locked_until,
    };
    tx.commit().await?;

    let verdict = match hasher.verify(&attempt.password, stored).await {
        Ok(verdict) => verdict,
        Err(HashError::Busy) => {
            throttle::refund(pool, &keys).await?;
            tracing::warn!("sign-in refused: the password hashing queue is full");
            return Ok(SignIn::Busy { retry_after_seconds: BUSY_RETRY_AFTER_SECONDS });
        }
        Err(e) => return Err(AccountError::Other(e.into())),
    };
    let (user, rehash) = match (user, verdict) {
        (Some(user), Verification::Valid { rehash }) if user.active => (user, rehash),
        _ => return record_failure(pool, meta, &account_key, started_lock).await,
    };

    let session_token = token::random_secret();
    let expires_at = Timestamp::now()
        .saturating_add(SignedDuration::try_from(attempt.lifetime).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX);
    let mut tx = pool.begin().await?;
    if rehash {
        let new_hash = hasher.hash(&attempt.password).await?;
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
    // The account, the device and the address all start again from zero.
    let mut cleared = keys.to_vec();
    cleared.push(account_key.clone());
    throttle::clear_all(&mut *tx, &cleared).await?;
    let device_token = match (known_device, device_hash) {
        (true, Some(hash)) => {
            devices::remember(&mut *tx, user.id, &hash).await?;
            None
        }
        _ => {
            let fresh = token::random_secret();
            devices::remember(&mut *tx, user.id, &token::digest(&fresh)).await?;
            Some(fresh)
        }
    };
    let mut actor = meta.anonymous_actor(user.email.clone());
    actor.user_id = Some(user.id);
    audit::record(
        &mut *tx,
        &actor,
        Entry {
            action: "auth.sign_in",
            target: format!("user:{}", user.email),
            before: None,
            after: Some(json!({"rehashed": rehash, "known_device": known_device})),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user.id = %user.id, rehashed = rehash, "signed in");
    Ok(SignIn::SignedIn { user, session_token, device_token })
}

/// Audits a failed sign-in (already counted by the reservation); the attempt that started a
/// lock says so in its answer and its audit row.
async fn record_failure(
    pool: &PgPool,
    meta: &RequestMeta,
    account_key: &str,
    lock: Option<Timestamp>,
) -> Result<SignIn, AccountError> {
    let entry = Entry {
        action: "auth.sign_in_failed",
        target: account_key.to_owned(),
        before: None,
        after: Some(json!({"locked_until": lock.map(|l| l.as_second())})),
    };
    audit::record(pool, &meta.anonymous_actor("anonymous"), entry).await?;
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
