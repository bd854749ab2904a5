//! Accounts use cases: every state change of users, passwords, API tokens and sessions. Each
//! one runs on the caller's transaction (lock, check the rule, change, audit row; the caller
//! commits), so the pages, the command line and the start-up bootstrap behave the same. The
//! two that need the pool say why: a refused password change must still record the failure.

pub(crate) mod passwords;
pub(crate) mod sessions;
pub(crate) mod tokens;
pub(crate) mod users;

use crate::validation::FieldError;
use crate::web::error::AppError;

/// Why an accounts use case refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccountError {
    /// The user, token or session does not exist (or is not the caller's): "This user".
    #[error("{0} does not exist")]
    NotFound(&'static str),
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// The change would leave the portal without an active admin; the message names the field.
    #[error("{}", .0.message)]
    LastAdmin(FieldError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<AccountError> for AppError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::NotFound(what) => AppError::NotFoundThing { what: what.to_owned() },
            AccountError::Invalid(errors) => AppError::Validation(errors),
            AccountError::LastAdmin(error) => AppError::Conflict(error.message),
            AccountError::Database(e) => e.into(),
            AccountError::Other(e) => AppError::Internal(e),
        }
    }
}
