//! [`ClusterError`]: what went wrong talking to Kubernetes, named by outcome.

use std::time::Duration;

use thiserror::Error;

use crate::requests::ApiRequest;
use crate::validate::FieldError;

/// Why a cluster call did not succeed. Each variant is something the panel or a runbook step
/// can say as it is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClusterError {
    /// No cluster is configured (no kubeconfig, no in-cluster service account), or the
    /// configuration found cannot be used. The text explains which.
    #[error("no cluster configured: {0}")]
    NotConfigured(String),

    /// RBAC denied the portal's identity (HTTP 403): the Role lacks this verb on this resource.
    #[error(
        "the portal is not allowed to {verb} {resource}{} (forbidden by Kubernetes RBAC)",
        in_group(group)
    )]
    Forbidden {
        /// The API verb: `get`, `list`, `patch`…
        verb: String,
        /// The resource, e.g. `pods`, `deployments/scale`, `pods/log`.
        resource: String,
        /// The API group, `""` for the core group.
        group: String,
    },

    /// The object does not exist (HTTP 404).
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// The resource looked for, e.g. `deployments`.
        resource: String,
        /// The name looked for.
        name: String,
    },

    /// Someone else changed or removed the object at the same time (HTTP 409).
    #[error(
        "{resource} \"{name}\" was changed by someone else at the same time (409 Conflict: {message}); \
         look at its current state, then try again"
    )]
    Conflict {
        /// The resource changed, e.g. `deployments`.
        resource: String,
        /// The object's name.
        name: String,
        /// The API server's message.
        message: String,
    },

    /// The API server refused the change as invalid (HTTP 422), e.g. a request above a limit.
    #[error("Kubernetes refused the change to {resource} \"{name}\" as invalid: {message}")]
    Invalid {
        /// The resource changed, e.g. `deployments`.
        resource: String,
        /// The object's name.
        name: String,
        /// The API server's message, naming the field it refused.
        message: String,
    },

    /// No connection to the API server (refused, DNS, TLS, credentials plugin).
    #[error("the Kubernetes API server is unreachable: {0}")]
    Unreachable(String),

    /// The API server did not answer within the adapter's per-call timeout. For a change the
    /// outcome is unknown.
    #[error(
        "the Kubernetes API server did not answer within {after:?} (if this was a change, it may or may \
         not have been applied: look before retrying)"
    )]
    Timeout {
        /// The timeout that elapsed.
        after: Duration,
    },

    /// The API server failed (HTTP 5xx).
    #[error("the Kubernetes API answered {status}: {message}{}", if *change { UNKNOWN_OUTCOME } else { "" })]
    ServerError {
        /// HTTP status code, 500 to 599.
        status: u16,
        /// The API server's message.
        message: String,
        /// The request was a change, whose outcome is therefore unknown.
        change: bool,
    },

    /// The API server refused the request with another status (400, 401, 429…).
    #[error("the Kubernetes API answered {status}: {message}")]
    Api {
        /// HTTP status code.
        status: u16,
        /// The API server's message.
        message: String,
    },

    /// The API server answered with something that is not the expected JSON.
    #[error("the Kubernetes API sent a response the portal cannot read: {0}")]
    InvalidResponse(String),

    /// A parameter was refused before anything was sent (an invalid name, 10 000 replicas,
    /// memory `2Gx`), or does not fit the object (a container the deployment does not have).
    #[error("invalid {0}")]
    InvalidArgument(FieldError),

    /// A change of several steps stopped part way: some steps were applied, others not.
    /// Nothing here is reported as done that was not.
    #[error(
        "{action} was only partly applied. Done: {}. Failed: {}. Not attempted: {}. \
         Finish the remaining steps by hand or run the action again",
        list(done),
        list(failed),
        list(not_attempted)
    )]
    PartiallyApplied {
        /// What was asked, e.g. `isolate deployment twisterlab-api`.
        action: String,
        /// Steps applied, in order (`scaled deployment twisterlab-api from 3 to 0 replicas`).
        done: Vec<String>,
        /// Steps that failed, each with its reason.
        failed: Vec<String>,
        /// Steps not tried because the time ran out.
        not_attempted: Vec<String>,
    },
}

const UNKNOWN_OUTCOME: &str = " (the change may or may not have been applied: look before retrying)";

fn in_group(group: &str) -> String {
    if group.is_empty() { String::new() } else { format!(" in API group {group}") }
}

fn list(items: &[String]) -> String {
    if items.is_empty() { "none".to_owned() } else { items.join("; ") }
}

impl From<FieldError> for ClusterError {
    fn from(err: FieldError) -> Self {
        Self::InvalidArgument(err)
    }
}

impl ClusterError {
    /// Maps a kube error for `request`; `name` when one object was meant (a 404 on a list is
    /// no missing object, so it stays an `Api` error).
    pub(crate) fn from_kube(err: kube::Error, request: &ApiRequest, name: Option<&str>) -> Self {
        let mapped = match err {
            kube::Error::Api(status) => {
                // kube parses any JSON error body as a Status, so `code` may be 0; the
                // reason still says what happened.
                let code = match (status.code, status.reason.as_str()) {
                    (0, "Forbidden") => 403,
                    (0, "NotFound") => 404,
                    (0, "Unauthorized") => 401,
                    (0, "AlreadyExists" | "Conflict") => 409,
                    (0, "Invalid") => 422,
                    (code, _) => code,
                };
                let message =
                    if status.message.is_empty() { status.reason.clone() } else { status.message.clone() };
                let resource = request.resource.to_owned();
                let object = || name.unwrap_or_default().to_owned();
                match (code, name) {
                    (403, _) => Self::Forbidden {
                        verb: request.verb.to_owned(),
                        resource,
                        group: request.group.to_owned(),
                    },
                    (404, Some(name)) => Self::NotFound { resource, name: name.to_owned() },
                    (409, _) => Self::Conflict { resource, name: object(), message },
                    (422, _) => Self::Invalid { resource, name: object(), message },
                    (500..=599, _) => {
                        Self::ServerError { status: code, message, change: is_change(request.verb) }
                    }
                    (status_code, _) => Self::Api { status: status_code, message },
                }
            }
            kube::Error::SerdeError(err) => Self::InvalidResponse(err.to_string()),
            kube::Error::FromUtf8(err) => Self::InvalidResponse(err.to_string()),
            kube::Error::BuildRequest(err) => {
                Self::InvalidArgument(FieldError::new("request", err.to_string()))
            }
            other => Self::Unreachable(error_chain(&other)),
        };
        tracing::debug!(
            k8s.verb = request.verb,
            k8s.resource = request.resource,
            k8s.name = name.unwrap_or_default(),
            error = %mapped,
            "kubernetes call failed"
        );
        mapped
    }
}

fn is_change(verb: &str) -> bool {
    !matches!(verb, "get" | "list" | "watch")
}

/// `err: source: source…`, because transport errors hide the useful part in the chain
/// ("connection refused").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_names_the_verb_resource_and_group_the_role_lacks() {
        let err = ClusterError::Forbidden {
            verb: "patch".into(),
            resource: "deployments/scale".into(),
            group: "apps".into(),
        };
        assert_eq!(
            err.to_string(),
            "the portal is not allowed to patch deployments/scale in API group apps (forbidden by Kubernetes RBAC)"
        );
        let core =
            ClusterError::Forbidden { verb: "list".into(), resource: "pods".into(), group: String::new() };
        assert_eq!(core.to_string(), "the portal is not allowed to list pods (forbidden by Kubernetes RBAC)");
    }

    #[test]
    fn a_server_failure_during_a_change_says_the_outcome_is_unknown() {
        let read = ClusterError::ServerError { status: 500, message: "etcd".into(), change: false };
        assert_eq!(read.to_string(), "the Kubernetes API answered 500: etcd");
        let change = ClusterError::ServerError { status: 503, message: "etcd".into(), change: true };
        assert!(change.to_string().ends_with("may or may not have been applied: look before retrying)"));
    }

    #[test]
    fn a_partly_applied_change_lists_what_was_done_and_what_was_not() {
        let err = ClusterError::PartiallyApplied {
            action: "isolate deployment twisterlab-api".into(),
            done: vec!["scaled deployment twisterlab-api from 3 to 0 replicas".into()],
            failed: vec!["delete Ingress twisterlab-ingress: forbidden".into()],
            not_attempted: vec![],
        };
        assert_eq!(
            err.to_string(),
            "isolate deployment twisterlab-api was only partly applied. \
             Done: scaled deployment twisterlab-api from 3 to 0 replicas. \
             Failed: delete Ingress twisterlab-ingress: forbidden. Not attempted: none. \
             Finish the remaining steps by hand or run the action again"
        );
    }
}
