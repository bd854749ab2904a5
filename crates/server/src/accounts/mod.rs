//! Accounts: sign-in and sign-out, the user's own settings, admin user management, the audit
//! log page, and the rules shared by the pages and the command line.

pub mod account;
pub mod admin_audit;
pub mod admin_users;
pub mod login;
#[cfg(test)]
mod login_tests;

use serde_json::json;
use sqlx::PgConnection;
use twisterlab_domain::role::Role;

use crate::auth::password;
use crate::auth::{Access, Routes};
use crate::config::Secret;
use crate::db::audit::{self, Actor, Entry};
use crate::db::users::{self, NewUser, User};
use crate::validation::FieldError;

/// Every accounts route.
pub fn routes() -> Routes {
    Routes::new()
        .get("/login", Access::Public, login::show_login)
        .post("/login", Access::Public, login::sign_in)
        .post("/logout", Access::Role(Role::Viewer), login::sign_out)
        .merge(account::routes())
        .merge(admin_users::routes())
        .merge(admin_audit::routes())
}

/// Longest e-mail address accepted (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;
/// Longest display name accepted, in characters.
pub const MAX_NAME: usize = 100;

/// A trimmed, plausible e-mail address, or why not.
pub fn validate_email(raw: &str) -> Result<String, String> {
    let email = raw.trim();
    if email.is_empty() {
        return Err("Enter an e-mail address.".into());
    }
    if email.chars().count() > MAX_EMAIL {
        return Err(format!("Use at most {MAX_EMAIL} characters."));
    }
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ',' | ';'))
        }
        None => false,
    };
    if valid { Ok(email.to_owned()) } else { Err("Enter an address like name@example.com.".into()) }
}

/// A trimmed display name, or why not.
pub fn validate_display_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("Enter a name.".into());
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!("Use at most {MAX_NAME} characters."));
    }
    if name.chars().any(char::is_control) {
        return Err("Remove the control characters.".into());
    }
    Ok(name.to_owned())
}

/// What to create.
pub struct UserDraft<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub password: &'a Secret,
    /// The user must choose a new password at the next sign-in.
    pub must_change_password: bool,
}

/// Why a user was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Validates and creates a user, with its audit row, on `tx` (the caller commits).
pub async fn create_user(
    tx: &mut PgConnection,
    actor: &Actor,
    draft: &UserDraft<'_>,
) -> Result<User, CreateUserError> {
    let mut errors = vec![];
    let email = validate_email(draft.email).map_err(|m| errors.push(FieldError::new("email", m))).ok();
    let name = if draft.display_name.trim().is_empty() {
        // Default to the e-mail's local part, which is what colleagues recognise.
        email.as_deref().and_then(|e| e.split('@').next()).map(str::to_owned)
    } else {
        validate_display_name(draft.display_name)
            .map_err(|m| errors.push(FieldError::new("display_name", m)))
            .ok()
    };
    if let Err(m) = password::check_new_password(draft.password.expose(), draft.email) {
        errors.push(FieldError::new("password", m));
    }
    let (Some(email), Some(name), true) = (email, name, errors.is_empty()) else {
        return Err(CreateUserError::Invalid(errors));
    };
    let hash = password::hash(draft.password).await?;
    let new = NewUser {
        email: &email,
        display_name: &name,
        role: draft.role,
        password_hash: &hash,
        must_change_password: draft.must_change_password,
    };
    let Some(user) = users::insert(&mut *tx, &new).await? else {
        return Err(CreateUserError::Invalid(vec![FieldError::new(
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
pub async fn bootstrap_admin(
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
        Err(CreateUserError::Invalid(errors)) => {
            let why: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
            anyhow::bail!(
                "cannot create the first admin from TWISTERLAB_ADMIN_EMAIL/TWISTERLAB_ADMIN_PASSWORD: {}",
                why.join("; ")
            )
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_checked() {
        assert_eq!(validate_email("  Alice@Example.com "), Ok("Alice@Example.com".into()));
        for bad in ["", "alice", "@example.com", "alice@", "a b@example.com", "<script>@x.y", "a@b@c"] {
            assert!(validate_email(bad).is_err(), "{bad:?}");
        }
        assert!(validate_email(&format!("{}@example.com", "a".repeat(300))).is_err());
    }

    #[test]
    fn names_keep_what_was_typed_but_not_control_characters() {
        assert_eq!(
            validate_display_name("  <b>O'Brien</b> \"; drop table users; -- "),
            Ok("<b>O'Brien</b> \"; drop table users; --".into())
        );
        assert!(validate_display_name("bell\u{7}").is_err());
        assert!(validate_display_name(&"x".repeat(101)).is_err());
        assert!(validate_display_name("   ").is_err());
    }
}
