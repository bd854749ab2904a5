//! [`API_REQUESTS`]: every request the adapter can make, the one list `k8s/role.yaml` must
//! match exactly (a test compares them) and the fake API server enforces like RBAC.

use std::fmt;

use serde::Serialize;

/// One kind of request to the API server, in RBAC terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ApiRequest {
    /// API group; `""` is the core group.
    pub group: &'static str,
    /// Resource, with `/subresource` when one is meant (`deployments/scale`, `pods/log`).
    pub resource: &'static str,
    /// RBAC verb: `get`, `list`, `patch`, `delete`.
    pub verb: &'static str,
    /// The only object names this request is made for (the Role's `resourceNames`);
    /// empty means any name.
    pub resource_names: &'static [&'static str],
    /// The [`crate::Cluster`] methods that make it.
    pub used_by: &'static str,
}

impl ApiRequest {
    /// Whether this request may name `name` (always, unless `resource_names` limits it).
    pub fn allows_name(&self, name: &str) -> bool {
        self.resource_names.is_empty() || self.resource_names.contains(&name)
    }
}

impl fmt::Display for ApiRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() { "core" } else { self.group };
        write!(f, "{} {} ({group} API group)", self.verb, self.resource)
    }
}

/// The Secrets whose key names the portal may check: the monitored TwisterLab application's.
/// Never the portal's own `twisterlab-portal-secrets`. The Role grants `get` on these names
/// only, so a wider check needs a Role change too.
pub const CHECKABLE_SECRETS: &[&str] = &["twisterlab-secrets"];

const fn any(
    group: &'static str,
    resource: &'static str,
    verb: &'static str,
    used_by: &'static str,
) -> ApiRequest {
    ApiRequest { group, resource, verb, resource_names: &[], used_by }
}

pub(crate) const LIST_DEPLOYMENTS: ApiRequest = any("apps", "deployments", "list", "deployments");
pub(crate) const GET_DEPLOYMENT: ApiRequest = any(
    "apps",
    "deployments",
    "get",
    "pod_logs, tail_logs, deployment_pods, rollout_status, wait_for_rollout, restart_deployment, \
     set_resources, set_env, set_image, annotate, isolate_deployment",
);
pub(crate) const PATCH_DEPLOYMENT: ApiRequest =
    any("apps", "deployments", "patch", "restart_deployment, set_resources, set_env, set_image, annotate");
pub(crate) const GET_DEPLOYMENT_SCALE: ApiRequest =
    any("apps", "deployments/scale", "get", "scale_deployment, isolate_deployment");
pub(crate) const PATCH_DEPLOYMENT_SCALE: ApiRequest =
    any("apps", "deployments/scale", "patch", "scale_deployment, isolate_deployment");
pub(crate) const LIST_PODS: ApiRequest =
    any("", "pods", "list", "pods, pod_logs, tail_logs, deployment_pods");
pub(crate) const GET_POD: ApiRequest = any("", "pods", "get", "pod_logs, tail_logs, describe_pod");
pub(crate) const GET_POD_LOG: ApiRequest = any("", "pods/log", "get", "pod_logs, tail_logs");
pub(crate) const LIST_EVENTS: ApiRequest = any("", "events", "list", "warning_events, describe_pod");
pub(crate) const LIST_POD_METRICS: ApiRequest = any("metrics.k8s.io", "pods", "list", "pod_usage");
pub(crate) const GET_SERVICE: ApiRequest = any("", "services", "get", "service_endpoints");
pub(crate) const LIST_SERVICES: ApiRequest = any("", "services", "list", "isolate_deployment");
pub(crate) const LIST_ENDPOINT_SLICES: ApiRequest =
    any("discovery.k8s.io", "endpointslices", "list", "service_endpoints");
pub(crate) const GET_SECRET: ApiRequest = ApiRequest {
    group: "",
    resource: "secrets",
    verb: "get",
    resource_names: CHECKABLE_SECRETS,
    used_by: "secret_has_key",
};
pub(crate) const LIST_NETWORK_POLICIES: ApiRequest =
    any("networking.k8s.io", "networkpolicies", "list", "network_policies");
pub(crate) const GET_CONFIG_MAP: ApiRequest = any("", "configmaps", "get", "config_map");
pub(crate) const LIST_INGRESSES: ApiRequest =
    any("networking.k8s.io", "ingresses", "list", "isolate_deployment");
pub(crate) const DELETE_INGRESS: ApiRequest =
    any("networking.k8s.io", "ingresses", "delete", "isolate_deployment");

/// Every request the adapter can make, one entry per (group, resource, verb). Nothing else
/// is ever sent: `k8s/role.yaml` grants exactly these.
pub const API_REQUESTS: &[ApiRequest] = &[
    LIST_DEPLOYMENTS,
    GET_DEPLOYMENT,
    PATCH_DEPLOYMENT,
    GET_DEPLOYMENT_SCALE,
    PATCH_DEPLOYMENT_SCALE,
    LIST_PODS,
    GET_POD,
    GET_POD_LOG,
    LIST_EVENTS,
    LIST_POD_METRICS,
    GET_SERVICE,
    LIST_SERVICES,
    LIST_ENDPOINT_SLICES,
    GET_SECRET,
    LIST_NETWORK_POLICIES,
    GET_CONFIG_MAP,
    LIST_INGRESSES,
    DELETE_INGRESS,
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn each_group_resource_and_verb_is_listed_once() {
        let mut seen = BTreeSet::new();
        for request in API_REQUESTS {
            assert!(seen.insert((request.group, request.resource, request.verb)), "{request} twice");
        }
    }

    #[test]
    fn the_portal_never_watches_writes_broadly_or_reads_secrets_by_list() {
        for request in API_REQUESTS {
            assert!(["get", "list", "patch", "delete"].contains(&request.verb), "{request}");
            assert!(!request.resource.contains('*') && !request.group.contains('*'), "{request}");
            if request.resource == "secrets" {
                assert_eq!(request.verb, "get", "a list would return every secret's values");
                assert!(!request.resource_names.is_empty(), "secret reads are limited by name");
            }
        }
    }

    #[test]
    fn only_the_monitored_applications_secret_is_checkable() {
        assert!(GET_SECRET.allows_name("twisterlab-secrets"));
        assert!(!GET_SECRET.allows_name("twisterlab-portal-secrets"));
        assert!(GET_POD.allows_name("anything"));
        assert_eq!(GET_SECRET.to_string(), "get secrets (core API group)");
    }
}
