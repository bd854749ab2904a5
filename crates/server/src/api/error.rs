//! The API's one error type: a portal error, or a problem only the API describes; both become
//! `application/problem+json` in the error middleware.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::incidents::service::IncidentError;
use crate::validation::FieldError;
use crate::web::error::{AppError, Problem};

/// An API failure: one of the portal's errors, or a problem only the API describes (415, a bad
/// query parameter). Both become `application/problem+json` in the error middleware.
#[derive(Debug)]
pub(crate) enum ApiError {
    App(AppError),
    Problem(Box<Problem>),
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError::App(e)
    }
}

impl From<IncidentError> for ApiError {
    fn from(e: IncidentError) -> Self {
        ApiError::App(e.into())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::App(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::App(e) => e.into_response(),
            ApiError::Problem(p) => {
                let mut response = p.status().into_response();
                response.extensions_mut().insert(*p);
                response
            }
        }
    }
}

pub(crate) fn problem(status: StatusCode, detail: impl Into<String>, errors: Vec<FieldError>) -> ApiError {
    let mut p = Problem::new(status, detail);
    p.errors = errors;
    ApiError::Problem(Box::new(p))
}
