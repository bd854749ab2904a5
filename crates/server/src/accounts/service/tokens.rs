//! API tokens: issuing (the account page and `twisterlab-portal create-token`) and revoking.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use sqlx::PgConnection;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use super::AccountError;
use crate::accounts::rules::{token_draft, token_prefix};
use crate::auth::token;
use crate::db::api_tokens::{self, ApiToken, NewToken};
use crate::db::audit::{self, Actor, Entry};
use crate::db::users::User;
use crate::validation::FieldError;

/// What the pages call a token that is not the caller's.
pub(crate) const TOKEN: &str = "This API token";

/// A token request as typed: the form's fields, or the command line's options.
pub(crate) struct TokenRequest<'a> {
    pub name: &'a str,
    /// A role name, at most the owner's.
    pub role: &'a str,
    /// Whole days from 1 to 365; blank never expires.
    pub expires_days: &'a str,
}

/// A token just created, with its secret (never stored; shown once).
#[derive(Debug)]
pub(crate) struct IssuedToken {
    pub token: ApiToken,
    pub secret: String,
}

/// Checks `request` against the rules and `owner_role` (the role the owner holds right now),
/// then creates the token with its audit row, on `tx` (the caller commits). Every bad field is
/// reported at once; a live token of the owner with the same name (in any case) is a message
/// on `name`.
pub(crate) async fn issue_token(
    tx: &mut PgConnection,
    actor: &Actor,
    owner: &User,
    owner_role: Role,
    request: &TokenRequest<'_>,
) -> Result<IssuedToken, AccountError> {
    let draft = token_draft(request.name, request.role, request.expires_days, owner_role)
        .map_err(AccountError::Invalid)?;
    // Also against the stored role, in case the caller's view of it is stale.
    if !owner.role.allows(draft.role) {
        return Err(AccountError::Invalid(vec![FieldError::new(
            "role",
            format!("A token cannot have a higher role than its owner ({}).", owner.role),
        )]));
    }
    let secret = token::new_api_token();
    let prefix = token_prefix(&secret);
    let expires_at =
        draft.expires_days.map(|d| Timestamp::now() + SignedDuration::from_hours(24 * i64::from(d)));
    let new = NewToken {
        user_id: owner.id,
        name: &draft.name,
        role: draft.role,
        token_hash: &token::digest(&secret),
        prefix: &prefix,
        expires_at,
    };
    let Some(token) = api_tokens::insert(&mut *tx, &new).await? else {
        return Err(AccountError::Invalid(vec![FieldError::new(
            "name",
            "A token with this name already exists and is not revoked; revoke it or choose another name.",
        )]));
    };
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "api_token.create",
            target: format!("api_token:{}", token.id),
            before: None,
            // Never the secret: only what the owner sees in the list.
            after: Some(json!({
                "owner": owner.email,
                "name": token.name,
                "role": token.role.as_str(),
                "prefix": token.prefix,
                "expires_at": token.expires_at.map(|t| t.as_second()),
            })),
        },
    )
    .await?;
    Ok(IssuedToken { token, secret })
}

/// What a revocation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Revocation {
    Revoked,
    /// It was revoked before: nothing written.
    AlreadyRevoked,
}

/// Revokes one of `owner`'s tokens with its audit row, on `tx`. Another user's token is
/// [`AccountError::NotFound`], as is one that does not exist.
pub(crate) async fn revoke_token(
    tx: &mut PgConnection,
    actor: &Actor,
    owner: &User,
    id: Uuid,
) -> Result<Revocation, AccountError> {
    let Some(revoked) = api_tokens::revoke(&mut *tx, owner.id, id).await? else {
        let mine = api_tokens::list_for_user(&mut *tx, owner.id).await?.iter().any(|t| t.id == id);
        return if mine { Ok(Revocation::AlreadyRevoked) } else { Err(AccountError::NotFound(TOKEN)) };
    };
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "api_token.revoke",
            target: format!("api_token:{}", revoked.id),
            before: Some(json!({
                "owner": owner.email,
                "name": revoked.name,
                "role": revoked.role.as_str(),
                "prefix": revoked.prefix,
            })),
            after: Some(json!({"revoked": true})),
        },
    )
    .await?;
    Ok(Revocation::Revoked)
}
