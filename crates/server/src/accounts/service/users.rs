//! Users: creation (admin page, `create-user`, the first admin at start-up), the admin's edit
//! with the last-admin rule, password resets and ending a user's sessions.

use serde_json::json;
use sqlx::PgConnection;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use super::AccountError;
use crate::accounts::rules::{UserEdit, validate_display_name, validate_email};
use crate::auth::{password, token};
use crate::config::Secret;
use crate::db::audit::{self, Actor, Entry};
use crate::db::sessions;
use crate::db::users::{self, NewUser, User};
use crate::validation::{FieldError, FieldErrors};

/// What the pages call a user that is not there.
pub(crate) const USER: &str = "This user";

/// What to create.
pub(crate) struct UserDraft<'a> {
    pub email: &'a str,
    /// Blank: the e-mail's local part.
    pub display_name: &'a str,
    pub role: Role,
    pub password: &'a Secret,
    /// The user must choose a new password at the next sign-in.
    pub must_change_password: bool,
}

/// A draft's checked e-mail and name, or every field's message at once (`email`,
/// `display_name`, `password`). The role is already typed, so it cannot be wrong here.
pub(crate) fn check_user_draft(draft: &UserDraft<'_>) -> Result<(String, String), Vec<FieldError>> {
    let mut errors = FieldErrors::new();
    let email = validate_email(draft.email).map_err(|m| errors.push("email", m)).ok();
    let name = if draft.display_name.trim().is_empty() {
        // Default to the e-mail's local part, which is what colleagues recognise.
        email.as_deref().and_then(|e| e.split('@').next()).map(str::to_owned)
    } else {
        validate_display_name(draft.display_name).map_err(|m| errors.push("display_name", m)).ok()
    };
    if let Err(m) = password::check_new_password(draft.password.expose(), draft.email) {
        errors.push("password", m);
    }
    match (email, name) {
        (Some(email), Some(name)) if errors.is_empty() => Ok((email, name)),
        _ => Err(errors.into_vec()),
    }
}

/// Validates and creates a user, with its audit row, on `tx` (the caller commits). A duplicate
/// e-mail address (in any case) is a message on the `email` field.
pub(crate) async fn create_user(
    tx: &mut PgConnection,
    actor: &Actor,
    draft: &UserDraft<'_>,
) -> Result<User, AccountError> {
    let (email, name) = check_user_draft(draft).map_err(AccountError::Invalid)?;
    let hash = password::hash(draft.password).await?;
    let new = NewUser {
        email: &email,
        display_name: &name,
        role: draft.role,
        password_hash: &hash,
        must_change_password: draft.must_change_password,
    };
    let Some(user) = users::insert(&mut *tx, &new).await? else {
        return Err(AccountError::Invalid(vec![FieldError::new(
            "email",
            "A user with this e-mail address already exists.",
        )]));
    };
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "user.create",
            target: format!("user:{}", user.email),
            before: None,
            after: Some(json!({"email": user.email, "display_name": user.display_name, "role": user.role.as_str(), "must_change_password": user.must_change_password})),
        },
    )
    .await?;
    Ok(user)
}

/// Creates the first admin from `TWISTERLAB_ADMIN_EMAIL`/`_PASSWORD` when there are no users.
/// Without them, and with no users, logs how to create one. Never a built-in password.
pub(crate) async fn bootstrap_admin(
    pool: &sqlx::PgPool,
    email: Option<&str>,
    password: Option<&Secret>,
) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    // Several replicas may start at once: one creates the admin, the others see it.
    users::lock_bootstrap(&mut *tx).await?;
    if users::count(&mut *tx).await? > 0 {
        return Ok(());
    }
    let (Some(email), Some(password)) = (email, password) else {
        tracing::warn!(
            "no users yet: create the first admin with `twisterlab-portal create-user --email you@example.com --role admin --password-stdin`, or start with TWISTERLAB_ADMIN_EMAIL and TWISTERLAB_ADMIN_PASSWORD"
        );
        return Ok(());
    };
    let draft =
        UserDraft { email, display_name: "", role: Role::Admin, password, must_change_password: false };
    match create_user(&mut tx, &Actor::system(), &draft).await {
        Ok(user) => {
            tx.commit().await?;
            tracing::info!(user.email = %user.email, "created the first admin from TWISTERLAB_ADMIN_EMAIL");
            Ok(())
        }
        Err(AccountError::Invalid(errors)) => {
            let why: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
            anyhow::bail!(
                "cannot create the first admin from TWISTERLAB_ADMIN_EMAIL/TWISTERLAB_ADMIN_PASSWORD: {}",
                why.join("; ")
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// What an admin's edit did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UserUpdate {
    /// The form had the stored values: nothing written, no audit row.
    Unchanged,
    /// Saved; `sessions_ended` is `Some` when the user was deactivated.
    Saved { sessions_ended: Option<u64> },
}

/// Changes a user's name, role and active flag, on `tx`. Deactivating ends the user's
/// sessions. The last active admin can be neither demoted nor deactivated
/// ([`AccountError::LastAdmin`], on the `role` or `state` field).
pub(crate) async fn update_user(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    edit: &UserEdit,
) -> Result<UserUpdate, AccountError> {
    // Locked until commit: the checks below and the update see the same row.
    let Some(before) = users::find_for_update(&mut *tx, id).await? else {
        return Err(AccountError::NotFound(USER));
    };
    let UserEdit { display_name: name, role, active } = edit;
    let (role, active) = (*role, *active);
    if *name == before.display_name && role == before.role && active == before.active {
        return Ok(UserUpdate::Unchanged);
    }

    let removes_an_admin = before.role == Role::Admin && before.active && !(role == Role::Admin && active);
    if removes_an_admin {
        // Two admins demoting each other at once must not both see the other as still an admin.
        users::lock_admin_changes(&mut *tx).await?;
        if users::count_other_active_admins(&mut *tx, id).await? == 0 {
            let refusal = if role != Role::Admin {
                FieldError::new(
                    "role",
                    "This is the last active admin: make another user an admin before changing this role.",
                )
            } else {
                FieldError::new(
                    "state",
                    "This is the last active admin: make another user an admin before deactivating this one.",
                )
            };
            return Err(AccountError::LastAdmin(refusal));
        }
    }

    users::update_profile(&mut *tx, id, name, role, active).await?;
    let ended = if before.active && !active {
        Some(sessions::delete_all_for_user(&mut *tx, id).await?)
    } else {
        None
    };
    let mut after = json!({"display_name": name, "role": role.as_str(), "active": active});
    if let (Some(n), Some(obj)) = (ended, after.as_object_mut()) {
        obj.insert("sessions_ended".into(), json!(n));
    }
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "user.update",
            target: format!("user:{}", before.email),
            before: Some(json!({
                "display_name": before.display_name,
                "role": before.role.as_str(),
                "active": before.active,
            })),
            after: Some(after),
        },
    )
    .await?;
    Ok(UserUpdate::Saved { sessions_ended: ended })
}

/// A temporary password as an admin gives it: the typed one, or a generated one (shown once)
/// when the field was left blank.
pub(crate) struct TemporaryPassword {
    pub secret: Secret,
    pub generated: bool,
}

impl TemporaryPassword {
    pub(crate) fn from_form(typed: &str) -> Self {
        if typed.is_empty() {
            Self { secret: Secret::new(token::random_secret()), generated: true }
        } else {
            Self { secret: Secret::new(typed), generated: false }
        }
    }
}

/// A password that passed the rules, hashed before any row is locked (argon2 takes tens of
/// milliseconds, too long to hold a lock for).
pub(crate) struct HashedPassword(String);

/// Checks `password` for `email` (the message goes on `field`) and hashes it.
pub(crate) async fn hash_new_password(
    password: &Secret,
    email: &str,
    field: &'static str,
) -> Result<HashedPassword, AccountError> {
    password::check_new_password(password.expose(), email)
        .map_err(|m| AccountError::Invalid(vec![FieldError::new(field, m)]))?;
    Ok(HashedPassword(password::hash(password).await?))
}

/// What a reset did.
pub(crate) struct PasswordReset {
    /// The user as they are now (must change the password).
    pub user: User,
    pub sessions_ended: u64,
}

/// Sets a temporary password that must be changed at the next sign-in and ends the user's
/// sessions, on `tx`. `generated` is recorded in the audit row (never the password).
pub(crate) async fn reset_password(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    hash: &HashedPassword,
    generated: bool,
) -> Result<PasswordReset, AccountError> {
    let Some(user) = users::find_for_update(&mut *tx, id).await? else {
        return Err(AccountError::NotFound(USER));
    };
    users::set_password(&mut *tx, id, &hash.0, true).await?;
    let ended = sessions::delete_all_for_user(&mut *tx, id).await?;
    // A token made with the old password is as suspect as a session.
    let tokens_revoked = crate::db::api_tokens::revoke_all_for_user(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "user.password_reset",
            target: format!("user:{}", user.email),
            before: Some(json!({"must_change_password": user.must_change_password})),
            after: Some(
                json!({"must_change_password": true, "generated": generated, "sessions_ended": ended, "tokens_revoked": tokens_revoked}),
            ),
        },
    )
    .await?;
    Ok(PasswordReset { user: User { must_change_password: true, ..user }, sessions_ended: ended })
}

/// Signs the user out everywhere, on `tx`; returns how many sessions ended.
pub(crate) async fn end_sessions(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<u64, AccountError> {
    let Some(user) = users::find_for_update(&mut *tx, id).await? else {
        return Err(AccountError::NotFound(USER));
    };
    let ended = sessions::delete_all_for_user(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "user.sessions_end",
            target: format!("user:{}", user.email),
            before: None,
            after: Some(json!({"sessions_ended": ended})),
        },
    )
    .await?;
    Ok(ended)
}
