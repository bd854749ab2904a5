//! [`ClusterError`]: what went wrong talking to Kubernetes, named by outcome.

use std::time::Duration;

use thiserror::Error;

/// Why a cluster call did not succeed. Each variant is something the panel can say.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClusterError {
    /// No cluster is configured (no kubeconfig, no in-cluster service account), or the
    /// configuration found cannot be used. The text explains which.
    #[error("no cluster configured: {0}")]
    NotConfigured(String),

    /// RBAC denied the portal's identity (HTTP 403).
    #[error("the portal is not allowed to {verb} {resource} (forbidden by Kubernetes RBAC)")]
    Forbidden {
        /// The API verb: `get`, `list`, `patch`…
        verb: String,
        /// The resource, e.g. `pods`, `deployments/scale`, `pods/log`.
        resource: String,
    },

    /// The object does not exist (HTTP 404).
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// The resource looked for, e.g. `deployments`.
        resource: String,
        /// The name looked for.
        name: String,
    },

    /// No connection to the API server (refused, DNS, TLS, credentials plugin).
    #[error("the Kubernetes API server is unreachable: {0}")]
    Unreachable(String),

    /// The API server did not answer within the adapter's per-call timeout. For a change
    /// (scale, restart) the outcome is unknown: look before retrying.
    #[error("the Kubernetes API server did not answer within {after:?}")]
    Timeout {
        /// The timeout that elapsed.
        after: Duration,
    },

    /// The API server refused the request with another status (400, 409, 422, 5xx…).
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

    /// The request was refused before reaching the API server (an invalid name, a
    /// negative replica count).
    #[error("invalid Kubernetes request: {0}")]
    InvalidArgument(String),
}

impl ClusterError {
    /// Maps a kube error for `verb` on `resource`; `name` when one object was meant (a 404
    /// on a list is no missing object, so it stays an `Api` error).
    pub(crate) fn from_kube(err: kube::Error, verb: &str, resource: &str, name: Option<&str>) -> Self {
        let mapped = match err {
            kube::Error::Api(status) => {
                // kube parses any JSON error body as a Status, so `code` may be 0; the
                // reason still says what happened.
                let code = match (status.code, status.reason.as_str()) {
                    (0, "Forbidden") => 403,
                    (0, "NotFound") => 404,
                    (0, "Unauthorized") => 401,
                    (code, _) => code,
                };
                match (code, name) {
                    (403, _) => Self::Forbidden { verb: verb.to_owned(), resource: resource.to_owned() },
                    (404, Some(name)) => {
                        Self::NotFound { resource: resource.to_owned(), name: name.to_owned() }
                    }
                    (status_code, _) => Self::Api {
                        status: status_code,
                        message: if status.message.is_empty() {
                            status.reason.clone()
                        } else {
                            status.message.clone()
                        },
                    },
                }
            }
            kube::Error::SerdeError(err) => Self::InvalidResponse(err.to_string()),
            kube::Error::FromUtf8(err) => Self::InvalidResponse(err.to_string()),
            kube::Error::BuildRequest(err) => Self::InvalidArgument(err.to_string()),
            other => Self::Unreachable(error_chain(&other)),
        };
        tracing::debug!(
            k8s.verb = verb,
            k8s.resource = resource,
            k8s.name = name.unwrap_or_default(),
            error = %mapped,
            "kubernetes call failed"
        );
        mapped
    }
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
