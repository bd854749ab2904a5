//! Typed runbook actions: what each does, the role it needs, its parameters and their bounds,
//! and the run-time input a person may give before it runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::checks::{self, Quantity, Resource};
use crate::role::Role;

/// A problem with one field, shown beside it: `field` is a parameter name (`replicas`) for
/// actions and a path (`sections[1].steps[0].action.replicas`) for whole runbooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The parameter name or field path.
    pub field: String,
    /// What is wrong and how to fix it, e.g. "must be between 0 and 1000 replicas, got 10000".
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), message: message.into() }
    }
}

/// The kind of an [`Action`], as written in runbook files (`kind = "scale"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Lists a Deployment's pods.
    ListPods,
    /// Recent log lines, optionally filtered.
    Logs,
    /// Describes one pod with its events.
    DescribePod,
    /// Rollout restart (changes).
    RolloutRestart,
    /// Sets the replica count (changes).
    Scale,
    /// Sets requests and limits (changes).
    SetResources,
    /// Sets an environment variable (changes).
    SetEnv,
    /// Sets a container image (changes).
    SetImage,
    /// Sets an annotation (changes).
    Annotate,
    /// Waits for a rollout to finish.
    WaitRollout,
    /// Checks a Service and its endpoints.
    CheckService,
    /// Checks that a Secret has a key, never its value.
    CheckSecretKey,
    /// Lists NetworkPolicies.
    ListNetworkPolicies,
    /// Shows a ConfigMap.
    ReadConfigmap,
    /// Scales to 0 and removes the Ingress (changes; manager).
    Isolate,
    /// CPU and memory of pods.
    PodUsage,
    /// Database connections by state.
    DbConnections,
    /// Long-running queries.
    DbLongQueries,
    /// Long-idle connections.
    DbIdleConnections,
    /// Table sizes and dead tuples.
    DbTableSizes,
    /// VACUUM ANALYZE of a table (changes).
    DbVacuumAnalyze,
    /// An instant PromQL query.
    PrometheusQuery,
    /// Probes a configured service now.
    HealthCheck,
}

/// The names of every action kind, comma separated, for error messages.
const KIND_NAMES: &str = "list_pods, logs, describe_pod, rollout_restart, scale, set_resources, set_env, \
     set_image, annotate, wait_rollout, check_service, check_secret_key, list_network_policies, \
     read_configmap, isolate, pod_usage, db_connections, db_long_queries, db_idle_connections, \
     db_table_sizes, db_vacuum_analyze, prometheus_query, health_check";

/// How a parameter is written: a string or a whole number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// A TOML string; an empty form field means "not given".
    Text,
    /// A TOML integer; a form field must hold a whole number.
    Integer,
}

/// One parameter of an action kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    /// The key in files, JSON and forms (`replicas`).
    pub name: &'static str,
    /// Words for the form label ("Replicas").
    pub label: &'static str,
    /// String or integer.
    pub ty: ParamType,
    /// Whether the action needs it. Parameters with a default are not required in files.
    pub required: bool,
    /// The value used when a file leaves it out.
    pub default: Option<i64>,
    /// The bounds or format, shown under the field ("0 to 1000").
    pub help: &'static str,
}

const fn text(name: &'static str, label: &'static str, required: bool, help: &'static str) -> ParamSpec {
    ParamSpec { name, label, ty: ParamType::Text, required, default: None, help }
}

const fn int(name: &'static str, label: &'static str, default: Option<i64>, help: &'static str) -> ParamSpec {
    ParamSpec { name, label, ty: ParamType::Integer, required: default.is_none(), default, help }
}

const DEPLOYMENT: ParamSpec =
    text("deployment", "Deployment", true, "a Deployment in the portal's namespace");
const CONTAINER: ParamSpec =
    text("container", "Container", false, "leave empty for every container of the Deployment");
const LOGS: &[ParamSpec] = &[
    DEPLOYMENT,
    text("filter", "Only lines containing", false, "text matched ignoring case; empty for all lines"),
    int("lines", "Lines", Some(100), "1 to 5000 most recent lines"),
];
const SCALE: &[ParamSpec] = &[DEPLOYMENT, int("replicas", "Replicas", None, "0 to 1000")];
const SET_RESOURCES: &[ParamSpec] = &[
    DEPLOYMENT,
    CONTAINER,
    text("cpu_request", "CPU request", false, "cores, like 500m or 1"),
    text("cpu_limit", "CPU limit", false, "cores, like 500m or 2"),
    text("memory_request", "Memory request", false, "bytes, like 512Mi or 1Gi"),
    text("memory_limit", "Memory limit", false, "bytes, like 1Gi or 2Gi"),
];
const SET_ENV: &[ParamSpec] = &[
    DEPLOYMENT,
    CONTAINER,
    text("name", "Variable", true, "letters, digits and _, like API_URL"),
    text("value", "Value", true, "never a credential: those belong in a Secret"),
];
const SET_IMAGE: &[ParamSpec] = &[
    DEPLOYMENT,
    text("container", "Container", false, "leave empty when the Deployment has one container"),
    text("image", "Image", true, "like twisterlab-api:v2.0"),
];
const ANNOTATE: &[ParamSpec] = &[
    DEPLOYMENT,
    text("key", "Annotation", true, "like maintenance or example.com/maintenance"),
    text("value", "Value", true, "up to 1000 characters"),
];
const WAIT_ROLLOUT: &[ParamSpec] =
    &[DEPLOYMENT, int("timeout_seconds", "Timeout (seconds)", Some(300), "1 to 1800 seconds")];
const CHECK_SERVICE: &[ParamSpec] =
    &[text("service", "Service", true, "a Service in the portal's namespace")];
const CHECK_SECRET_KEY: &[ParamSpec] = &[
    text("secret", "Secret", true, "a Secret in the portal's namespace"),
    text("key", "Key", true, "the data key; its value is never read"),
];
const READ_CONFIGMAP: &[ParamSpec] =
    &[text("name", "ConfigMap", true, "a ConfigMap in the portal's namespace")];
const POD_USAGE: &[ParamSpec] =
    &[text("deployment", "Deployment", false, "leave empty for every pod in the namespace")];
const DB_LONG_QUERIES: &[ParamSpec] =
    &[int("min_seconds", "Active for more than (seconds)", Some(5), "1 to 3600 seconds")];
const DB_IDLE_CONNECTIONS: &[ParamSpec] =
    &[int("min_minutes", "Idle for more than (minutes)", Some(10), "1 to 1440 minutes")];
const DB_VACUUM_ANALYZE: &[ParamSpec] =
    &[text("table", "Table", true, "a table name, like agents or public.agents")];
const PROMETHEUS_QUERY: &[ParamSpec] = &[text("expr", "PromQL expression", true, "up to 2000 characters")];
const HEALTH_CHECK: &[ParamSpec] = &[text("service", "Service", true, "one of the portal's probed services")];

impl ActionKind {
    /// Every kind: Kubernetes, then database, then metrics and probes.
    pub const ALL: [ActionKind; 23] = [
        ActionKind::ListPods,
        ActionKind::Logs,
        ActionKind::DescribePod,
        ActionKind::RolloutRestart,
        ActionKind::Scale,
        ActionKind::SetResources,
        ActionKind::SetEnv,
        ActionKind::SetImage,
        ActionKind::Annotate,
        ActionKind::WaitRollout,
        ActionKind::CheckService,
        ActionKind::CheckSecretKey,
        ActionKind::ListNetworkPolicies,
        ActionKind::ReadConfigmap,
        ActionKind::Isolate,
        ActionKind::PodUsage,
        ActionKind::DbConnections,
        ActionKind::DbLongQueries,
        ActionKind::DbIdleConnections,
        ActionKind::DbTableSizes,
        ActionKind::DbVacuumAnalyze,
        ActionKind::PrometheusQuery,
        ActionKind::HealthCheck,
    ];

    /// The snake_case name used in files and stored JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionKind::ListPods => "list_pods",
            ActionKind::Logs => "logs",
            ActionKind::DescribePod => "describe_pod",
            ActionKind::RolloutRestart => "rollout_restart",
            ActionKind::Scale => "scale",
            ActionKind::SetResources => "set_resources",
            ActionKind::SetEnv => "set_env",
            ActionKind::SetImage => "set_image",
            ActionKind::Annotate => "annotate",
            ActionKind::WaitRollout => "wait_rollout",
            ActionKind::CheckService => "check_service",
            ActionKind::CheckSecretKey => "check_secret_key",
            ActionKind::ListNetworkPolicies => "list_network_policies",
            ActionKind::ReadConfigmap => "read_configmap",
            ActionKind::Isolate => "isolate",
            ActionKind::PodUsage => "pod_usage",
            ActionKind::DbConnections => "db_connections",
            ActionKind::DbLongQueries => "db_long_queries",
            ActionKind::DbIdleConnections => "db_idle_connections",
            ActionKind::DbTableSizes => "db_table_sizes",
            ActionKind::DbVacuumAnalyze => "db_vacuum_analyze",
            ActionKind::PrometheusQuery => "prometheus_query",
            ActionKind::HealthCheck => "health_check",
        }
    }

    /// Words for buttons and the timeline ("Scale").
    pub const fn label(self) -> &'static str {
        match self {
            ActionKind::ListPods => "List pods",
            ActionKind::Logs => "Show logs",
            ActionKind::DescribePod => "Describe a pod",
            ActionKind::RolloutRestart => "Rollout restart",
            ActionKind::Scale => "Scale",
            ActionKind::SetResources => "Set resources",
            ActionKind::SetEnv => "Set environment variable",
            ActionKind::SetImage => "Set image",
            ActionKind::Annotate => "Annotate",
            ActionKind::WaitRollout => "Wait for rollout",
            ActionKind::CheckService => "Check service",
            ActionKind::CheckSecretKey => "Check secret key",
            ActionKind::ListNetworkPolicies => "List network policies",
            ActionKind::ReadConfigmap => "Read ConfigMap",
            ActionKind::Isolate => "Isolate deployment",
            ActionKind::PodUsage => "Pod CPU and memory",
            ActionKind::DbConnections => "Database connections",
            ActionKind::DbLongQueries => "Long-running queries",
            ActionKind::DbIdleConnections => "Idle connections",
            ActionKind::DbTableSizes => "Table sizes",
            ActionKind::DbVacuumAnalyze => "VACUUM ANALYZE",
            ActionKind::PrometheusQuery => "Prometheus query",
            ActionKind::HealthCheck => "Health check",
        }
    }

    /// Whether running it changes the cluster or the database (and so needs a dry-run
    /// preview and an explicit confirmation).
    pub const fn changes(self) -> bool {
        matches!(
            self,
            ActionKind::RolloutRestart
                | ActionKind::Scale
                | ActionKind::SetResources
                | ActionKind::SetEnv
                | ActionKind::SetImage
                | ActionKind::Annotate
                | ActionKind::Isolate
                | ActionKind::DbVacuumAnalyze
        )
    }

    /// The least role allowed to run it: responders run read-only actions, commanders
    /// changing ones, and isolating a deployment (the security procedure) needs a manager.
    pub const fn min_role(self) -> Role {
        match self {
            ActionKind::Isolate => Role::Manager,
            kind if kind.changes() => Role::Commander,
            _ => Role::Responder,
        }
    }

    /// Whether it reads or changes the monitored TwisterLab database (configured by
    /// `TWISTERLAB_TARGET_DATABASE_URL`) rather than Kubernetes or Prometheus.
    pub const fn uses_target_database(self) -> bool {
        matches!(
            self,
            ActionKind::DbConnections
                | ActionKind::DbLongQueries
                | ActionKind::DbIdleConnections
                | ActionKind::DbTableSizes
                | ActionKind::DbVacuumAnalyze
        )
    }

    /// Whether it talks to the Kubernetes API.
    pub const fn uses_kubernetes(self) -> bool {
        !self.uses_target_database() && !matches!(self, ActionKind::PrometheusQuery | ActionKind::HealthCheck)
    }

    /// Its parameters, in form order.
    pub const fn params(self) -> &'static [ParamSpec] {
        match self {
            ActionKind::ListPods
            | ActionKind::DescribePod
            | ActionKind::RolloutRestart
            | ActionKind::Isolate => &[DEPLOYMENT],
            ActionKind::Logs => LOGS,
            ActionKind::Scale => SCALE,
            ActionKind::SetResources => SET_RESOURCES,
            ActionKind::SetEnv => SET_ENV,
            ActionKind::SetImage => SET_IMAGE,
            ActionKind::Annotate => ANNOTATE,
            ActionKind::WaitRollout => WAIT_ROLLOUT,
            ActionKind::CheckService => CHECK_SERVICE,
            ActionKind::CheckSecretKey => CHECK_SECRET_KEY,
            ActionKind::ReadConfigmap => READ_CONFIGMAP,
            ActionKind::PodUsage => POD_USAGE,
            ActionKind::DbLongQueries => DB_LONG_QUERIES,
            ActionKind::DbIdleConnections => DB_IDLE_CONNECTIONS,
            ActionKind::DbVacuumAnalyze => DB_VACUUM_ANALYZE,
            ActionKind::PrometheusQuery => PROMETHEUS_QUERY,
            ActionKind::HealthCheck => HEALTH_CHECK,
            ActionKind::ListNetworkPolicies | ActionKind::DbConnections | ActionKind::DbTableSizes => &[],
        }
    }

    /// The parameter called `name`, if this kind has one.
    pub fn param(self, name: &str) -> Option<&'static ParamSpec> {
        self.params().iter().find(|spec| spec.name == name)
    }
}

named_enum!(ActionKind, "action kind", KIND_NAMES);

fn default_lines() -> i64 {
    100
}
fn default_timeout_seconds() -> i64 {
    300
}
fn default_min_seconds() -> i64 {
    5
}
fn default_min_minutes() -> i64 {
    10
}

/// One operation a runbook step can run from the page, with its parameters.
///
/// Fields are plain values so that out-of-bounds input stays representable and
/// [`Action::validate`] can name the field; every action inside a [`Runbook`](super::Runbook)
/// that passed [`Runbook::check`](super::Runbook::check) is valid, and
/// [`StepAction::resolve`] returns only valid actions. Kubernetes objects are in the portal's
/// configured namespace (`twisterlab`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// The pods of a Deployment with phase, readiness, restarts and reasons
    /// (`kubectl get pods | grep <deployment>`).
    ListPods {
        /// The Deployment (DNS-1123 name).
        deployment: String,
    },
    /// The most recent log lines of a Deployment's pods (`kubectl logs deployment/<d> --tail=N`).
    Logs {
        /// The Deployment.
        deployment: String,
        /// Only lines containing this text, ignoring case (`| grep -i`); at most 200 characters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<String>,
        /// How many recent lines, 1 to 5000 (default 100).
        #[serde(default = "default_lines")]
        lines: i64,
    },
    /// One pod of the Deployment, picked at run time: status, container states, restart
    /// reasons and its events (`kubectl describe pod`).
    DescribePod {
        /// The Deployment whose pod is described.
        deployment: String,
    },
    /// `kubectl rollout restart deployment/<d>`. Changes the cluster.
    RolloutRestart {
        /// The Deployment.
        deployment: String,
    },
    /// Sets the replica count through the scale subresource. Changes the cluster.
    Scale {
        /// The Deployment.
        deployment: String,
        /// The new replica count, 0 to 1000.
        replicas: i64,
    },
    /// Sets resource requests and limits (`kubectl set resources`); at least one is given.
    /// Changes the cluster.
    SetResources {
        /// The Deployment.
        deployment: String,
        /// One container (DNS-1123 label); `None` sets every container, like kubectl.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        container: Option<String>,
        /// CPU request as a Kubernetes quantity (`500m`, `1`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cpu_request: Option<String>,
        /// CPU limit as a Kubernetes quantity (`2`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cpu_limit: Option<String>,
        /// Memory request as a Kubernetes quantity (`1Gi`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        memory_request: Option<String>,
        /// Memory limit as a Kubernetes quantity (`2Gi`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        memory_limit: Option<String>,
    },
    /// Sets one environment variable (`kubectl set env`). Changes the cluster.
    SetEnv {
        /// The Deployment.
        deployment: String,
        /// One container; `None` sets it on every container, like kubectl.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        container: Option<String>,
        /// The variable, `[A-Za-z_][A-Za-z0-9_]*`; names that say "password", "token"… are refused.
        name: String,
        /// Its value, 1 to 4000 characters; never a credential.
        value: String,
    },
    /// Sets a container's image (`kubectl set image`). Changes the cluster.
    SetImage {
        /// The Deployment.
        deployment: String,
        /// The container; `None` only when the Deployment has exactly one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        container: Option<String>,
        /// The image reference (`twisterlab-api:v2.0`).
        image: String,
    },
    /// Sets an annotation on the Deployment (`kubectl annotate`). Changes the cluster.
    Annotate {
        /// The Deployment.
        deployment: String,
        /// The annotation key (`maintenance`).
        key: String,
        /// Its value (`complete`), 1 to 1000 characters.
        value: String,
    },
    /// Waits until the Deployment's rollout is complete or the timeout passes
    /// (`kubectl rollout status`).
    WaitRollout {
        /// The Deployment.
        deployment: String,
        /// How long to wait, 1 to 1800 seconds (default 300).
        #[serde(default = "default_timeout_seconds")]
        timeout_seconds: i64,
    },
    /// Checks that a Service exists and has ready endpoints (`kubectl get svc`).
    CheckService {
        /// The Service (DNS-1123 label).
        service: String,
    },
    /// Checks that a Secret has a data key. The value is never read or shown.
    CheckSecretKey {
        /// The Secret.
        secret: String,
        /// The data key (`DATABASE_URL`).
        key: String,
    },
    /// Lists the namespace's NetworkPolicies (`kubectl get networkpolicies`).
    ListNetworkPolicies,
    /// Shows a ConfigMap's data (`kubectl get configmap -o yaml`).
    ReadConfigmap {
        /// The ConfigMap.
        name: String,
    },
    /// Takes a Deployment out of service for the security procedure: scales it to 0 and
    /// removes the Ingresses that route to it. Changes the cluster; needs a manager.
    Isolate {
        /// The Deployment.
        deployment: String,
    },
    /// CPU and memory use of pods from the metrics API (`kubectl top pod`).
    PodUsage {
        /// Only this Deployment's pods; `None` for the whole namespace.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deployment: Option<String>,
    },
    /// Connections of the monitored database by state, against `max_connections`.
    DbConnections,
    /// Queries active for longer than `min_seconds` (`pg_stat_activity`).
    DbLongQueries {
        /// The threshold, 1 to 3600 seconds (default 5).
        #[serde(default = "default_min_seconds")]
        min_seconds: i64,
    },
    /// Connections idle for longer than `min_minutes` (connection leaks).
    DbIdleConnections {
        /// The threshold, 1 to 1440 minutes (default 10).
        #[serde(default = "default_min_minutes")]
        min_minutes: i64,
    },
    /// Table sizes and dead-tuple ratios of the monitored database.
    DbTableSizes,
    /// `VACUUM ANALYZE` of one table, with its duration. Changes the database.
    DbVacuumAnalyze {
        /// The table, `[A-Za-z_][A-Za-z0-9_]*`, optionally `schema.table`; the server quotes it.
        table: String,
    },
    /// An instant PromQL query through the Prometheus HTTP API. Read-only.
    PrometheusQuery {
        /// The expression, 1 to 2000 characters.
        expr: String,
    },
    /// Probes one of the portal's configured services now.
    HealthCheck {
        /// The probed service's name (`health_services.name`).
        service: String,
    },
}

impl Action {
    /// Its kind.
    pub const fn kind(&self) -> ActionKind {
        match self {
            Action::ListPods { .. } => ActionKind::ListPods,
            Action::Logs { .. } => ActionKind::Logs,
            Action::DescribePod { .. } => ActionKind::DescribePod,
            Action::RolloutRestart { .. } => ActionKind::RolloutRestart,
            Action::Scale { .. } => ActionKind::Scale,
            Action::SetResources { .. } => ActionKind::SetResources,
            Action::SetEnv { .. } => ActionKind::SetEnv,
            Action::SetImage { .. } => ActionKind::SetImage,
            Action::Annotate { .. } => ActionKind::Annotate,
            Action::WaitRollout { .. } => ActionKind::WaitRollout,
            Action::CheckService { .. } => ActionKind::CheckService,
            Action::CheckSecretKey { .. } => ActionKind::CheckSecretKey,
            Action::ListNetworkPolicies => ActionKind::ListNetworkPolicies,
            Action::ReadConfigmap { .. } => ActionKind::ReadConfigmap,
            Action::Isolate { .. } => ActionKind::Isolate,
            Action::PodUsage { .. } => ActionKind::PodUsage,
            Action::DbConnections => ActionKind::DbConnections,
            Action::DbLongQueries { .. } => ActionKind::DbLongQueries,
            Action::DbIdleConnections { .. } => ActionKind::DbIdleConnections,
            Action::DbTableSizes => ActionKind::DbTableSizes,
            Action::DbVacuumAnalyze { .. } => ActionKind::DbVacuumAnalyze,
            Action::PrometheusQuery { .. } => ActionKind::PrometheusQuery,
            Action::HealthCheck { .. } => ActionKind::HealthCheck,
        }
    }

    /// Whether running it changes something (see [`ActionKind::changes`]).
    pub const fn changes(&self) -> bool {
        self.kind().changes()
    }

    /// The least role allowed to run it (see [`ActionKind::min_role`]).
    pub const fn min_role(&self) -> Role {
        self.kind().min_role()
    }

    /// Checks every parameter against its bounds; all problems at once, each naming its
    /// parameter. Nothing may be sent for an action that fails this.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut check = |field: &str, result: Result<(), String>| {
            if let Err(message) = result {
                errors.push(FieldError::new(field, message));
            }
        };
        match self {
            Action::ListPods { deployment }
            | Action::DescribePod { deployment }
            | Action::RolloutRestart { deployment }
            | Action::Isolate { deployment } => check("deployment", checks::dns1123_subdomain(deployment)),
            Action::Logs { deployment, filter, lines } => {
                check("deployment", checks::dns1123_subdomain(deployment));
                if let Some(filter) = filter {
                    check("filter", checks::text(filter, 200));
                }
                check("lines", checks::range(*lines, 1, 5000, "lines"));
            }
            Action::Scale { deployment, replicas } => {
                check("deployment", checks::dns1123_subdomain(deployment));
                check("replicas", checks::range(*replicas, 0, 1000, "replicas"));
            }
            Action::SetResources {
                deployment,
                container,
                cpu_request,
                cpu_limit,
                memory_request,
                memory_limit,
            } => {
                check("deployment", checks::dns1123_subdomain(deployment));
                if let Some(container) = container {
                    check("container", checks::dns1123_label(container));
                }
                let mut quantity = |field: &str, value: &Option<String>, resource| {
                    let parsed = value.as_deref().map(|v| Quantity::parse(v, resource));
                    match parsed {
                        Some(Err(message)) => {
                            check(field, Err(message));
                            None
                        }
                        Some(Ok(q)) => Some(q),
                        None => None,
                    }
                };
                let cpu = (
                    quantity("cpu_request", cpu_request, Resource::Cpu),
                    quantity("cpu_limit", cpu_limit, Resource::Cpu),
                );
                let memory = (
                    quantity("memory_request", memory_request, Resource::Memory),
                    quantity("memory_limit", memory_limit, Resource::Memory),
                );
                for (field, pair) in [("cpu_request", cpu), ("memory_request", memory)] {
                    if let (Some(request), Some(limit)) = pair
                        && request > limit
                    {
                        check(
                            field,
                            Err(format!(
                                "{request} is more than the limit {limit}: a request cannot exceed its limit"
                            )),
                        );
                    }
                }
                if [cpu_request, cpu_limit, memory_request, memory_limit].iter().all(|v| v.is_none()) {
                    check(
                        "memory_limit",
                        Err("give at least one of cpu_request, cpu_limit, memory_request, memory_limit"
                            .into()),
                    );
                }
            }
            Action::SetEnv { deployment, container, name, value } => {
                check("deployment", checks::dns1123_subdomain(deployment));
                if let Some(container) = container {
                    check("container", checks::dns1123_label(container));
                }
                check("name", checks::env_name(name));
                if checks::looks_like_secret_name(name) {
                    check(
                        "name",
                        Err(format!(
                            "{name} looks like a credential: set it from a Secret with kubectl, never \
                             through a runbook (its value would be recorded)"
                        )),
                    );
                }
                check("value", checks::text(value, 4000));
                if checks::contains_url_credentials(value) {
                    check(
                        "value",
                        Err("contains a password in a URL: credentials belong in a Secret".into()),
                    );
                }
            }
            Action::SetImage { deployment, container, image } => {
                check("deployment", checks::dns1123_subdomain(deployment));
                if let Some(container) = container {
                    check("container", checks::dns1123_label(container));
                }
                check("image", checks::image(image));
            }
            Action::Annotate { deployment, key, value } => {
                check("deployment", checks::dns1123_subdomain(deployment));
                check("key", checks::annotation_key(key));
                check("value", checks::text(value, 1000));
            }
            Action::WaitRollout { deployment, timeout_seconds } => {
                check("deployment", checks::dns1123_subdomain(deployment));
                check("timeout_seconds", checks::range(*timeout_seconds, 1, 1800, "seconds"));
            }
            Action::CheckService { service } => check("service", checks::dns1123_label(service)),
            Action::CheckSecretKey { secret, key } => {
                check("secret", checks::dns1123_subdomain(secret));
                check("key", checks::data_key(key));
            }
            Action::ReadConfigmap { name } => check("name", checks::dns1123_subdomain(name)),
            Action::PodUsage { deployment } => {
                if let Some(deployment) = deployment {
                    check("deployment", checks::dns1123_subdomain(deployment));
                }
            }
            Action::DbLongQueries { min_seconds } => {
                check("min_seconds", checks::range(*min_seconds, 1, 3600, "seconds"));
            }
            Action::DbIdleConnections { min_minutes } => {
                check("min_minutes", checks::range(*min_minutes, 1, 1440, "minutes"));
            }
            Action::DbVacuumAnalyze { table } => check("table", checks::sql_table(table)),
            Action::PrometheusQuery { expr } => check("expr", checks::text(expr, 2000)),
            Action::HealthCheck { service } => check("service", checks::service_name(service)),
            Action::ListNetworkPolicies | Action::DbConnections | Action::DbTableSizes => {}
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// The current value of each parameter that has one, in [`ActionKind::params`] order.
    pub fn param_values(&self) -> Vec<(&'static ParamSpec, ParamValue)> {
        let object = self.to_object();
        self.kind()
            .params()
            .iter()
            .filter_map(|spec| {
                let value = match object.get(spec.name)? {
                    Value::String(s) => ParamValue::Text(s.clone()),
                    Value::Number(n) => ParamValue::Integer(n.as_i64()?),
                    _ => return None,
                };
                Some((spec, value))
            })
            .collect()
    }

    /// Builds an action of `kind` from parameter values, filling defaults. Errors name the
    /// parameter: unknown to this kind, of the wrong type, or missing. Bounds are not
    /// checked here: call [`Action::validate`].
    pub fn from_params(
        kind: ActionKind,
        values: BTreeMap<String, ParamValue>,
    ) -> Result<Action, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut object = Map::new();
        object.insert("kind".into(), Value::String(kind.as_str().into()));
        let given: Vec<String> = values.keys().cloned().collect();
        for (name, value) in values {
            let Some(spec) = kind.param(&name) else {
                errors.push(unknown_param(kind, &name));
                continue;
            };
            match (spec.ty, value) {
                (ParamType::Text, ParamValue::Text(s)) => {
                    object.insert(name, Value::String(s));
                }
                (ParamType::Integer, ParamValue::Integer(n)) => {
                    object.insert(name, Value::from(n));
                }
                (ParamType::Text, ParamValue::Integer(_)) => {
                    errors.push(FieldError::new(name, "must be a string (in quotes)"));
                }
                (ParamType::Integer, ParamValue::Text(_)) => {
                    errors.push(FieldError::new(name, "must be a whole number (without quotes)"));
                }
            }
        }
        for spec in kind.params() {
            if !given.iter().any(|name| name == spec.name) {
                if let Some(default) = spec.default {
                    object.insert(spec.name.into(), Value::from(default));
                } else if spec.required {
                    errors.push(FieldError::new(
                        spec.name,
                        format!("is required by the {kind} action ({})", spec.help),
                    ));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // The specs above and the enum's fields describe the same shape (a test holds them
        // together), so this only fails on a programming error; it is still reported, not unwrapped.
        serde_json::from_value(Value::Object(object)).map_err(|e| {
            vec![FieldError::new("kind", format!("parameters do not fit the {kind} action: {e}"))]
        })
    }

    fn to_object(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            // An internally tagged enum of plain fields always serializes to an object.
            _ => Map::new(),
        }
    }
}

fn unknown_param(kind: ActionKind, name: &str) -> FieldError {
    let names: Vec<&str> = kind.params().iter().map(|spec| spec.name).collect();
    let expected =
        if names.is_empty() { "it takes none".to_owned() } else { format!("expected {}", names.join(", ")) };
    FieldError::new(name, format!("is not a parameter of the {kind} action: {expected}"))
}

impl fmt::Display for Action {
    /// One line for confirmations and the timeline; never contains a secret's value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let in_container = |container: &Option<String>| match container {
            Some(c) => format!(" (container {c})"),
            None => String::new(),
        };
        match self {
            Action::ListPods { deployment } => write!(f, "list the pods of deployment {deployment}"),
            Action::Logs { deployment, filter, lines } => {
                write!(f, "show the last {lines} log lines of deployment {deployment}")?;
                match filter {
                    Some(filter) => write!(f, " containing {filter:?}"),
                    None => Ok(()),
                }
            }
            Action::DescribePod { deployment } => write!(f, "describe a pod of deployment {deployment}"),
            Action::RolloutRestart { deployment } => {
                write!(f, "restart deployment {deployment} (rollout restart)")
            }
            Action::Scale { deployment, replicas } => {
                write!(
                    f,
                    "scale deployment {deployment} to {replicas} replica{}",
                    if *replicas == 1 { "" } else { "s" }
                )
            }
            Action::SetResources {
                deployment,
                container,
                cpu_request,
                cpu_limit,
                memory_request,
                memory_limit,
            } => {
                let parts: Vec<String> = [
                    ("CPU request", cpu_request),
                    ("CPU limit", cpu_limit),
                    ("memory request", memory_request),
                    ("memory limit", memory_limit),
                ]
                .iter()
                .filter_map(|(label, value)| value.as_ref().map(|v| format!("{label} {v}")))
                .collect();
                write!(f, "set {} on deployment {deployment}{}", parts.join(", "), in_container(container))
            }
            Action::SetEnv { deployment, container, name, value } => {
                write!(f, "set {name}={value} on deployment {deployment}{}", in_container(container))
            }
            Action::SetImage { deployment, container, image } => {
                write!(f, "set the image of deployment {deployment}{} to {image}", in_container(container))
            }
            Action::Annotate { deployment, key, value } => {
                write!(f, "annotate deployment {deployment} with {key}={value}")
            }
            Action::WaitRollout { deployment, timeout_seconds } => {
                write!(f, "wait up to {timeout_seconds} s for the rollout of deployment {deployment}")
            }
            Action::CheckService { service } => {
                write!(f, "check that service {service} exists and has endpoints")
            }
            Action::CheckSecretKey { secret, key } => {
                write!(f, "check that secret {secret} has the key {key}")
            }
            Action::ListNetworkPolicies => f.write_str("list the network policies"),
            Action::ReadConfigmap { name } => write!(f, "read config map {name}"),
            Action::Isolate { deployment } => {
                write!(f, "isolate deployment {deployment}: scale it to 0 and remove its Ingress")
            }
            Action::PodUsage { deployment: Some(deployment) } => {
                write!(f, "show CPU and memory use of the pods of deployment {deployment}")
            }
            Action::PodUsage { deployment: None } => f.write_str("show CPU and memory use of every pod"),
            Action::DbConnections => {
                f.write_str("count database connections by state against max_connections")
            }
            Action::DbLongQueries { min_seconds } => {
                write!(f, "list queries active for more than {min_seconds} s")
            }
            Action::DbIdleConnections { min_minutes } => {
                write!(f, "list connections idle for more than {min_minutes} min")
            }
            Action::DbTableSizes => f.write_str("list table sizes and dead-tuple ratios"),
            Action::DbVacuumAnalyze { table } => write!(f, "run VACUUM ANALYZE on table {table}"),
            Action::PrometheusQuery { expr } => write!(f, "query Prometheus: {expr}"),
            Action::HealthCheck { service } => write!(f, "probe service {service} now"),
        }
    }
}

/// A parameter's value as written in a file or stored JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A string parameter.
    Text(String),
    /// A whole-number parameter.
    Integer(i64),
}

impl fmt::Display for ParamValue {
    /// The value as a form field shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Text(s) => f.write_str(s),
            ParamValue::Integer(n) => write!(f, "{n}"),
        }
    }
}

/// A step's action as the runbook declares it: the values are the defaults, and the
/// parameters named in `editable` may be changed by the person running the step
/// (e.g. `replicas` of a scale step); the others are fixed by the runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepAction {
    /// The action with its default parameters.
    #[serde(flatten)]
    pub action: Action,
    /// Parameters the person running the step may change.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub editable: BTreeSet<String>,
}

/// One parameter as the run page's form shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamField {
    /// Name, label, type and bounds.
    pub spec: &'static ParamSpec,
    /// The runbook's value; `None` for an optional parameter left out.
    pub value: Option<ParamValue>,
    /// Whether the person running the step may change it.
    pub editable: bool,
}

impl StepAction {
    /// An action whose parameters are all fixed.
    pub fn fixed(action: Action) -> StepAction {
        StepAction { action, editable: BTreeSet::new() }
    }

    /// Every parameter of the action's kind with its value and whether it is editable, for
    /// the form beside the step.
    pub fn fields(&self) -> Vec<ParamField> {
        let values = self.action.param_values();
        self.action
            .kind()
            .params()
            .iter()
            .map(|spec| ParamField {
                spec,
                value: values.iter().find(|(s, _)| s.name == spec.name).map(|(_, v)| v.clone()),
                editable: self.editable.contains(spec.name),
            })
            .collect()
    }

    /// Checks the declaration: the action is valid and every `editable` name is one of its
    /// parameters. Field names are `editable` or the parameter's.
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = self.action.validate().err().unwrap_or_default();
        let kind = self.action.kind();
        for name in &self.editable {
            if kind.param(name).is_none() {
                let mut error = unknown_param(kind, name);
                error.field = "editable".into();
                error.message = format!("{name:?} {}", error.message);
                errors.push(error);
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// Applies form input (parameter name → text as typed) to the runbook's values and
    /// validates the result: the action to preview and run.
    ///
    /// - An editable parameter takes the input; empty text clears an optional parameter and
    ///   is an error for a required one; integers must parse as whole numbers.
    /// - A fixed parameter may be sent back unchanged (forms echo it) but not changed.
    /// - A name that is not a parameter of the action is an error.
    pub fn resolve(&self, input: &BTreeMap<String, String>) -> Result<Action, Vec<FieldError>> {
        let kind = self.action.kind();
        let mut values: BTreeMap<String, ParamValue> = self
            .action
            .param_values()
            .into_iter()
            .map(|(spec, value)| (spec.name.to_owned(), value))
            .collect();
        let mut errors = Vec::new();
        for (name, raw) in input {
            let Some(spec) = kind.param(name) else {
                errors.push(unknown_param(kind, name));
                continue;
            };
            let raw = raw.trim();
            let current = values.get(name.as_str()).map(ToString::to_string).unwrap_or_default();
            if !self.editable.contains(name.as_str()) {
                if raw != current {
                    errors.push(FieldError::new(
                        name.as_str(),
                        "is fixed by the runbook and cannot be changed",
                    ));
                }
                continue;
            }
            if raw.is_empty() {
                if spec.required || spec.default.is_some() {
                    errors.push(FieldError::new(name.as_str(), format!("is required ({})", spec.help)));
                } else {
                    values.remove(name.as_str());
                }
                continue;
            }
            let value = match spec.ty {
                ParamType::Text => ParamValue::Text(raw.to_owned()),
                ParamType::Integer => match raw.parse::<i64>() {
                    Ok(n) => ParamValue::Integer(n),
                    Err(_) => {
                        errors.push(FieldError::new(name.as_str(), format!("{raw:?} is not a whole number")));
                        continue;
                    }
                },
            };
            values.insert(name.clone(), value);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let action = Action::from_params(kind, values)?;
        action.validate()?;
        Ok(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scale(replicas: i64) -> Action {
        Action::Scale { deployment: "twisterlab-api".into(), replicas }
    }

    fn fields(result: Result<(), Vec<FieldError>>) -> Vec<String> {
        result.err().unwrap_or_default().into_iter().map(|e| e.field).collect()
    }

    fn set_resources(memory_limit: Option<&str>) -> Action {
        Action::SetResources {
            deployment: "twisterlab-api".into(),
            container: None,
            cpu_request: None,
            cpu_limit: None,
            memory_request: None,
            memory_limit: memory_limit.map(Into::into),
        }
    }

    #[test]
    fn scaling_accepts_zero_to_a_thousand_replicas_only() {
        for ok in [0, 1, 5, 1000] {
            assert_eq!(scale(ok).validate(), Ok(()), "{ok}");
        }
        for bad in [-1, 1001, 10_000] {
            let errors = scale(bad).validate().expect_err("out of bounds");
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].field, "replicas");
        }
        assert_eq!(
            scale(-1).validate().expect_err("negative")[0].message,
            "must be between 0 and 1000 replicas, got -1"
        );
        assert_eq!(
            scale(10_000).validate().expect_err("too many")[0].to_string(),
            "replicas: must be between 0 and 1000 replicas, got 10000"
        );
    }

    #[test]
    fn memory_2gx_is_refused_naming_the_field() {
        let errors = set_resources(Some("2Gx")).validate().expect_err("bad quantity");
        assert_eq!(
            errors,
            vec![FieldError::new(
                "memory_limit",
                "\"2Gx\" is not a Kubernetes quantity: write it like 512Mi or 2Gi"
            )]
        );
        assert_eq!(set_resources(Some("2Gi")).validate(), Ok(()));
    }

    #[test]
    fn setting_resources_needs_at_least_one_value_and_requests_within_limits() {
        assert_eq!(fields(set_resources(None).validate()), ["memory_limit"]);
        let over = Action::SetResources {
            deployment: "twisterlab-api".into(),
            container: Some("api".into()),
            cpu_request: Some("2".into()),
            cpu_limit: Some("1".into()),
            memory_request: Some("2Gi".into()),
            memory_limit: Some("1Gi".into()),
        };
        assert_eq!(fields(over.validate()), ["cpu_request", "memory_request"]);
        let cpu_typo = Action::SetResources {
            deployment: "twisterlab-api".into(),
            container: Some("Api Server".into()),
            cpu_request: Some("1 core".into()),
            cpu_limit: None,
            memory_request: None,
            memory_limit: None,
        };
        assert_eq!(fields(cpu_typo.validate()), ["container", "cpu_request"]);
    }

    #[test]
    fn environment_names_with_spaces_are_refused() {
        let action = Action::SetEnv {
            deployment: "mcp-unified".into(),
            container: None,
            name: "API URL".into(),
            value: "http://twisterlab-api:8000".into(),
        };
        let errors = action.validate().expect_err("space in name");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "name");
        assert!(errors[0].message.contains("no spaces"), "{}", errors[0].message);
    }

    #[test]
    fn environment_variables_never_carry_credentials() {
        let secret_name = Action::SetEnv {
            deployment: "twisterlab-api".into(),
            container: None,
            name: "DB_PASSWORD".into(),
            value: "x".into(),
        };
        assert_eq!(fields(secret_name.validate()), ["name"]);
        let url = Action::SetEnv {
            deployment: "twisterlab-api".into(),
            container: None,
            name: "UPSTREAM".into(),
            value: "postgres://app:hunter2@db/app".into(),
        };
        assert_eq!(fields(url.validate()), ["value"]);
    }

    #[test]
    fn every_action_bound_is_enforced_with_its_field_named() {
        let cases: Vec<(Action, &str)> = vec![
            (Action::ListPods { deployment: "Twisterlab_API".into() }, "deployment"),
            (Action::Logs { deployment: "twisterlab-api".into(), filter: None, lines: 0 }, "lines"),
            (Action::Logs { deployment: "twisterlab-api".into(), filter: None, lines: 5001 }, "lines"),
            (
                Action::Logs { deployment: "twisterlab-api".into(), filter: Some("  ".into()), lines: 10 },
                "filter",
            ),
            (Action::DescribePod { deployment: "".into() }, "deployment"),
            (Action::RolloutRestart { deployment: "api server".into() }, "deployment"),
            (
                Action::SetImage {
                    deployment: "twisterlab-api".into(),
                    container: None,
                    image: "api v2".into(),
                },
                "image",
            ),
            (
                Action::Annotate {
                    deployment: "twisterlab-api".into(),
                    key: "bad key".into(),
                    value: "x".into(),
                },
                "key",
            ),
            (
                Action::WaitRollout { deployment: "twisterlab-api".into(), timeout_seconds: 0 },
                "timeout_seconds",
            ),
            (
                Action::WaitRollout { deployment: "twisterlab-api".into(), timeout_seconds: 1801 },
                "timeout_seconds",
            ),
            (Action::CheckService { service: "twisterlab.api".into() }, "service"),
            (
                Action::CheckSecretKey { secret: "twisterlab-secrets".into(), key: "DATABASE URL".into() },
                "key",
            ),
            (Action::ReadConfigmap { name: "Config".into() }, "name"),
            (Action::Isolate { deployment: "-api".into() }, "deployment"),
            (Action::PodUsage { deployment: Some("API".into()) }, "deployment"),
            (Action::DbLongQueries { min_seconds: 0 }, "min_seconds"),
            (Action::DbIdleConnections { min_minutes: 1441 }, "min_minutes"),
            (Action::DbVacuumAnalyze { table: "agents; drop table users".into() }, "table"),
            (Action::PrometheusQuery { expr: "".into() }, "expr"),
            (Action::HealthCheck { service: "Twisterlab API".into() }, "service"),
        ];
        for (action, field) in cases {
            assert_eq!(fields(action.validate()), [field], "{action:?}");
        }
        for valid in [
            Action::ListNetworkPolicies,
            Action::DbConnections,
            Action::DbTableSizes,
            Action::PodUsage { deployment: None },
            Action::DbVacuumAnalyze { table: "public.agents".into() },
            Action::HealthCheck { service: "twisterlab-api".into() },
        ] {
            assert_eq!(valid.validate(), Ok(()), "{valid:?}");
        }
    }

    #[test]
    fn read_only_actions_need_a_responder_changing_ones_a_commander_and_isolation_a_manager() {
        for kind in ActionKind::ALL {
            let expected = match kind {
                ActionKind::Isolate => Role::Manager,
                k if k.changes() => Role::Commander,
                _ => Role::Responder,
            };
            assert_eq!(kind.min_role(), expected, "{kind}");
            assert!(!Role::Viewer.allows(kind.min_role()), "viewers only read: {kind}");
        }
        let changing: Vec<_> = ActionKind::ALL.into_iter().filter(|k| k.changes()).collect();
        assert_eq!(
            changing,
            [
                ActionKind::RolloutRestart,
                ActionKind::Scale,
                ActionKind::SetResources,
                ActionKind::SetEnv,
                ActionKind::SetImage,
                ActionKind::Annotate,
                ActionKind::Isolate,
                ActionKind::DbVacuumAnalyze
            ]
        );
        assert_eq!(ActionKind::DbVacuumAnalyze.min_role(), Role::Commander);
        assert_eq!(ActionKind::PrometheusQuery.min_role(), Role::Responder);
        assert!(ActionKind::DbTableSizes.uses_target_database());
        assert!(ActionKind::Isolate.uses_kubernetes());
        assert!(!ActionKind::HealthCheck.uses_kubernetes());
    }

    #[test]
    fn action_kind_names_round_trip_and_unknown_ones_list_the_choices() {
        for kind in ActionKind::ALL {
            assert_eq!(kind.as_str().parse::<ActionKind>(), Ok(kind));
            assert_eq!(serde_json::to_string(&kind).expect("serializable"), format!("\"{kind}\""));
        }
        let err = "delete_namespace".parse::<ActionKind>().expect_err("unknown");
        assert!(
            err.to_string()
                .starts_with("unknown action kind \"delete_namespace\": expected one of list_pods")
        );
        assert!(err.to_string().ends_with("health_check"));
        assert_eq!(KIND_NAMES.split(", ").count(), ActionKind::ALL.len());
    }

    /// A value for every parameter of `kind`, valid where the bounds allow.
    fn sample_values(kind: ActionKind) -> BTreeMap<String, ParamValue> {
        kind.params()
            .iter()
            .map(|spec| {
                let value = match (spec.ty, spec.name) {
                    (ParamType::Integer, _) => ParamValue::Integer(spec.default.unwrap_or(3)),
                    (_, "cpu_request") => ParamValue::Text("500m".into()),
                    (_, "cpu_limit") => ParamValue::Text("1".into()),
                    (_, "memory_request" | "memory_limit") => ParamValue::Text("1Gi".into()),
                    (_, "name") if kind == ActionKind::SetEnv => ParamValue::Text("API_URL".into()),
                    (_, "key") if kind == ActionKind::CheckSecretKey => {
                        ParamValue::Text("DATABASE_URL".into())
                    }
                    (_, "image") => ParamValue::Text("twisterlab-api:v2.0".into()),
                    (_, "table") => ParamValue::Text("agents".into()),
                    _ => ParamValue::Text("twisterlab-api".into()),
                };
                (spec.name.to_owned(), value)
            })
            .collect()
    }

    #[test]
    fn every_action_kind_builds_from_its_declared_parameters_and_gives_them_back() {
        for kind in ActionKind::ALL {
            let values = sample_values(kind);
            let action = Action::from_params(kind, values.clone()).expect("declared parameters fit the enum");
            assert_eq!(action.kind(), kind);
            assert_eq!(action.validate(), Ok(()), "{kind}");
            let back: BTreeMap<String, ParamValue> =
                action.param_values().into_iter().map(|(spec, v)| (spec.name.to_owned(), v)).collect();
            assert_eq!(back, values, "{kind}");
            let json = serde_json::to_value(&action).expect("serializable");
            assert_eq!(json["kind"], kind.as_str());
            assert_eq!(
                json.as_object().map(|o| o.len()),
                Some(values.len() + 1),
                "{kind}: no undeclared fields"
            );
            assert_eq!(serde_json::from_value::<Action>(json).expect("round trip"), action);
            assert!(!action.to_string().is_empty());
        }
    }

    #[test]
    fn building_an_action_names_missing_unknown_and_mistyped_parameters() {
        let errors = Action::from_params(
            ActionKind::Scale,
            BTreeMap::from([("replica".to_owned(), ParamValue::Integer(5))]),
        )
        .expect_err("wrong name");
        let named: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["replica", "deployment", "replicas"]);
        assert_eq!(
            errors[0].message,
            "is not a parameter of the scale action: expected deployment, replicas"
        );
        let mistyped = Action::from_params(
            ActionKind::Scale,
            BTreeMap::from([
                ("deployment".to_owned(), ParamValue::Text("twisterlab-api".into())),
                ("replicas".to_owned(), ParamValue::Text("five".into())),
            ]),
        )
        .expect_err("string replicas");
        assert_eq!(mistyped, vec![FieldError::new("replicas", "must be a whole number (without quotes)")]);
    }

    #[test]
    fn defaults_fill_parameters_left_out() {
        let logs = Action::from_params(
            ActionKind::Logs,
            BTreeMap::from([("deployment".to_owned(), ParamValue::Text("twisterlab-api".into()))]),
        )
        .expect("defaults");
        assert_eq!(logs, Action::Logs { deployment: "twisterlab-api".into(), filter: None, lines: 100 });
        let wait: Action =
            serde_json::from_str(r#"{"kind":"wait_rollout","deployment":"x"}"#).expect("json default");
        assert_eq!(wait, Action::WaitRollout { deployment: "x".into(), timeout_seconds: 300 });
        assert_eq!(
            Action::from_params(ActionKind::DbLongQueries, BTreeMap::new()),
            Ok(Action::DbLongQueries { min_seconds: 5 })
        );
        assert_eq!(
            Action::from_params(ActionKind::DbIdleConnections, BTreeMap::new()),
            Ok(Action::DbIdleConnections { min_minutes: 10 })
        );
    }

    fn scale_step() -> StepAction {
        StepAction { action: scale(5), editable: BTreeSet::from(["replicas".to_owned()]) }
    }

    fn input(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn an_editable_parameter_takes_the_run_time_value_and_is_revalidated() {
        let step = scale_step();
        assert_eq!(step.resolve(&input(&[])), Ok(scale(5)));
        assert_eq!(step.resolve(&input(&[("replicas", " 7 ")])), Ok(scale(7)));
        let too_many = step.resolve(&input(&[("replicas", "10000")])).expect_err("bounds");
        assert_eq!(too_many[0].field, "replicas");
        assert_eq!(too_many[0].message, "must be between 0 and 1000 replicas, got 10000");
        assert_eq!(
            step.resolve(&input(&[("replicas", "five")])),
            Err(vec![FieldError::new("replicas", "\"five\" is not a whole number")])
        );
        assert_eq!(
            step.resolve(&input(&[("replicas", "")])),
            Err(vec![FieldError::new("replicas", "is required (0 to 1000)")])
        );
    }

    #[test]
    fn a_fixed_parameter_may_be_echoed_but_not_changed() {
        let step = scale_step();
        assert_eq!(
            step.resolve(&input(&[("deployment", "twisterlab-api"), ("replicas", "3")])),
            Ok(scale(3))
        );
        assert_eq!(
            step.resolve(&input(&[("deployment", "postgres")])),
            Err(vec![FieldError::new("deployment", "is fixed by the runbook and cannot be changed")])
        );
        assert_eq!(fields(step.resolve(&input(&[("namespace", "kube-system")])).map(|_| ())), ["namespace"]);
    }

    #[test]
    fn clearing_an_optional_editable_parameter_removes_it() {
        let step = StepAction {
            action: Action::Logs {
                deployment: "twisterlab-api".into(),
                filter: Some("agent".into()),
                lines: 100,
            },
            editable: BTreeSet::from(["filter".to_owned(), "lines".to_owned()]),
        };
        assert_eq!(
            step.resolve(&input(&[("filter", ""), ("lines", "500")])),
            Ok(Action::Logs { deployment: "twisterlab-api".into(), filter: None, lines: 500 })
        );
        assert_eq!(fields(step.resolve(&input(&[("lines", "")])).map(|_| ())), ["lines"]);
    }

    #[test]
    fn the_form_shows_every_parameter_with_its_value_and_whether_it_is_editable() {
        let shown: Vec<_> = scale_step()
            .fields()
            .into_iter()
            .map(|f| (f.spec.name, f.value.map(|v| v.to_string()), f.editable))
            .collect();
        assert_eq!(
            shown,
            [
                ("deployment", Some("twisterlab-api".to_owned()), false),
                ("replicas", Some("5".to_owned()), true)
            ]
        );
    }

    #[test]
    fn declaring_an_unknown_editable_parameter_is_an_error() {
        let step = StepAction { action: scale(5), editable: BTreeSet::from(["replica".to_owned()]) };
        let errors = step.check().expect_err("typo");
        assert_eq!(errors[0].field, "editable");
        assert!(errors[0].message.starts_with("\"replica\" is not a parameter of the scale action"));
    }

    #[test]
    fn step_actions_serialize_flat_with_their_editable_list() {
        let json = serde_json::to_value(scale_step()).expect("serializable");
        assert_eq!(
            json,
            serde_json::json!({"kind": "scale", "deployment": "twisterlab-api", "replicas": 5, "editable": ["replicas"]})
        );
        assert_eq!(serde_json::from_value::<StepAction>(json).expect("round trip"), scale_step());
        let fixed = serde_json::to_value(StepAction::fixed(Action::DbConnections)).expect("serializable");
        assert_eq!(fixed, serde_json::json!({"kind": "db_connections"}));
    }

    #[test]
    fn summaries_say_what_will_happen_without_secret_values() {
        assert_eq!(scale(5).to_string(), "scale deployment twisterlab-api to 5 replicas");
        assert_eq!(scale(1).to_string(), "scale deployment twisterlab-api to 1 replica");
        assert_eq!(
            Action::CheckSecretKey { secret: "twisterlab-secrets".into(), key: "DATABASE_URL".into() }
                .to_string(),
            "check that secret twisterlab-secrets has the key DATABASE_URL"
        );
        assert_eq!(
            set_resources(Some("2Gi")).to_string(),
            "set memory limit 2Gi on deployment twisterlab-api"
        );
    }
}
