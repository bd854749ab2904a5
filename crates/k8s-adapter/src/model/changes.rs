//! What a changing action asks for and what it did (or, as a dry run, would do): before → after.
//!
//! A dry run and the real call return the same type with `dry_run` set accordingly, so the
//! preview a commander confirms and the outcome on the timeline read alike. "After" values
//! are the API server's answer, not an echo of the request.

use std::fmt;

use jiff::Timestamp;
use serde::Serialize;

use super::ContainerResources;
use crate::validate::{
    FieldError, validate_container_name, validate_cpu_quantity, validate_env_name, validate_env_value,
    validate_memory_quantity, validate_object_name,
};

/// One line of a preview or outcome: `replicas: 3 → 5`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// What changes, e.g. `replicas`, `limits.memory of container api`, `env API_URL`.
    pub field: String,
    /// The value before (`unset` when there was none).
    pub before: String,
    /// The value after (`deleted` for a removed object).
    pub after: String,
}

impl FieldChange {
    fn new(field: impl Into<String>, before: impl Into<String>, after: impl Into<String>) -> Self {
        Self { field: field.into(), before: before.into(), after: after.into() }
    }
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} → {}", self.field, self.before, self.after)
    }
}

/// What every change outcome offers for showing it: the object, whether it was a dry run,
/// and the before → after lines.
pub trait ChangeSummary {
    /// The object changed, e.g. `Deployment/twisterlab-api`.
    fn target(&self) -> String;
    /// Nothing was changed: the API server only validated the request (`dryRun=All`).
    fn is_dry_run(&self) -> bool;
    /// Before → after, one line per field.
    fn changes(&self) -> Vec<FieldChange>;
}

fn deployment_ref(name: &str) -> String {
    format!("Deployment/{name}")
}

/// The outcome of a scale (or of its dry run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScaleChange {
    /// Deployment name.
    pub deployment: String,
    /// Replicas before.
    pub from: i32,
    /// Replicas after, as the API server accepted (or, for a dry run, would accept) them.
    pub to: i32,
    /// Nothing was changed: the API server only validated the request (`dryRun=All`).
    pub dry_run: bool,
}

impl ChangeSummary for ScaleChange {
    fn target(&self) -> String {
        deployment_ref(&self.deployment)
    }
    fn is_dry_run(&self) -> bool {
        self.dry_run
    }
    fn changes(&self) -> Vec<FieldChange> {
        vec![FieldChange::new("replicas", self.from.to_string(), self.to.to_string())]
    }
}

/// The outcome of a rollout restart (or of its dry run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestartChange {
    /// Deployment name.
    pub deployment: String,
    /// The `kubectl.kubernetes.io/restartedAt` template annotation before (the last rollout
    /// restart), `None` when the deployment was never restarted that way.
    pub previous_restart: Option<String>,
    /// The value written to that annotation.
    pub restarted_at: Timestamp,
    /// Replicas the restart replaces, one by one.
    pub replicas: i32,
    /// Nothing was changed: the API server only validated the request (`dryRun=All`).
    pub dry_run: bool,
}

impl ChangeSummary for RestartChange {
    fn target(&self) -> String {
        deployment_ref(&self.deployment)
    }
    fn is_dry_run(&self) -> bool {
        self.dry_run
    }
    fn changes(&self) -> Vec<FieldChange> {
        vec![FieldChange::new(
            "restartedAt",
            self.previous_restart.clone().unwrap_or_else(|| "never".to_owned()),
            self.restarted_at.to_string(),
        )]
    }
}

/// A CPU or memory request or limit of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceField {
    /// `resources.requests.cpu`.
    CpuRequest,
    /// `resources.limits.cpu`.
    CpuLimit,
    /// `resources.requests.memory`.
    MemoryRequest,
    /// `resources.limits.memory`.
    MemoryLimit,
}

impl ResourceField {
    /// All four, in the order previews list them.
    pub const ALL: [Self; 4] = [Self::CpuRequest, Self::CpuLimit, Self::MemoryRequest, Self::MemoryLimit];

    /// The form field: `resources.requests.cpu`…
    pub fn field_name(self) -> &'static str {
        match self {
            Self::CpuRequest => "resources.requests.cpu",
            Self::CpuLimit => "resources.limits.cpu",
            Self::MemoryRequest => "resources.requests.memory",
            Self::MemoryLimit => "resources.limits.memory",
        }
    }

    /// `requests` or `limits`, the key in the container's `resources`.
    pub fn section(self) -> &'static str {
        match self {
            Self::CpuRequest | Self::MemoryRequest => "requests",
            Self::CpuLimit | Self::MemoryLimit => "limits",
        }
    }

    /// `cpu` or `memory`, the key in the section.
    pub fn resource(self) -> &'static str {
        match self {
            Self::CpuRequest | Self::CpuLimit => "cpu",
            Self::MemoryRequest | Self::MemoryLimit => "memory",
        }
    }

    /// Parses a quantity for this field into millicores (CPU) or bytes (memory).
    pub(crate) fn validate(self, quantity: &str) -> Result<u64, FieldError> {
        match self.resource() {
            "cpu" => validate_cpu_quantity(self.field_name(), quantity),
            _ => validate_memory_quantity(self.field_name(), quantity),
        }
    }
}

impl fmt::Display for ResourceField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.section(), self.resource())
    }
}

impl ContainerResources {
    /// The quantity written for `field`, if any.
    pub fn get(&self, field: ResourceField) -> Option<&str> {
        match field {
            ResourceField::CpuRequest => self.cpu_request.as_deref(),
            ResourceField::CpuLimit => self.cpu_limit.as_deref(),
            ResourceField::MemoryRequest => self.memory_request.as_deref(),
            ResourceField::MemoryLimit => self.memory_limit.as_deref(),
        }
    }
}

/// New requests and limits for one container of a deployment, like `kubectl set resources`.
/// Fields left `None` keep their current value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SetResources {
    /// Deployment name.
    pub deployment: String,
    /// Container name; `None` for a deployment with a single container.
    pub container: Option<String>,
    /// New CPU request, e.g. `500m`.
    pub cpu_request: Option<String>,
    /// New CPU limit, e.g. `1`.
    pub cpu_limit: Option<String>,
    /// New memory request, e.g. `1Gi`.
    pub memory_request: Option<String>,
    /// New memory limit, e.g. `2Gi`.
    pub memory_limit: Option<String>,
}

impl SetResources {
    /// The fields asked for, each with its new quantity (trimmed), in [`ResourceField::ALL`] order.
    pub fn requested(&self) -> Vec<(ResourceField, &str)> {
        let values = [&self.cpu_request, &self.cpu_limit, &self.memory_request, &self.memory_limit];
        ResourceField::ALL
            .into_iter()
            .zip(values)
            .filter_map(|(field, value)| value.as_deref().map(|v| (field, v.trim())))
            .collect()
    }

    /// Checks names and quantities, and that no new request exceeds its new limit.
    ///
    /// # Errors
    /// The first field that is wrong.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_object_name("deployment", &self.deployment)?;
        if let Some(container) = &self.container {
            validate_container_name(container)?;
        }
        let requested = self.requested();
        if requested.is_empty() {
            return Err(FieldError::new(
                "resources",
                "give at least one of the CPU or memory request or limit to change",
            ));
        }
        for (field, quantity) in &requested {
            field.validate(quantity)?;
        }
        Ok(())
    }
}

/// One request or limit, before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceChange {
    /// Which request or limit.
    pub field: ResourceField,
    /// The quantity before; `None` when unset.
    pub before: Option<String>,
    /// The quantity after, as the API server stored (or would store) it.
    pub after: Option<String>,
}

/// The outcome of setting requests and limits (or of its dry run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourcesChange {
    /// Deployment name.
    pub deployment: String,
    /// The container changed.
    pub container: String,
    /// Each field asked for, before and after.
    pub changes: Vec<ResourceChange>,
    /// Nothing was changed: the API server only validated the request (`dryRun=All`).
    pub dry_run: bool,
}

impl ChangeSummary for ResourcesChange {
    fn target(&self) -> String {
        deployment_ref(&self.deployment)
    }
    fn is_dry_run(&self) -> bool {
        self.dry_run
    }
    fn changes(&self) -> Vec<FieldChange> {
        let shown = |q: &Option<String>| q.clone().unwrap_or_else(|| "unset".to_owned());
        self.changes
            .iter()
            .map(|c| {
                FieldChange::new(
                    format!("{} of container {}", c.field, self.container),
                    shown(&c.before),
                    shown(&c.after),
                )
            })
            .collect()
    }
}

/// One environment variable to set (or change) in one container of a deployment, like
/// `kubectl set env`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SetEnv {
    /// Deployment name.
    pub deployment: String,
    /// Container name; `None` for a deployment with a single container.
    pub container: Option<String>,
    /// Variable name, e.g. `API_URL`.
    pub name: String,
    /// The new value.
    pub value: String,
}

impl SetEnv {
    /// Checks the deployment, container and variable names and the value's size.
    ///
    /// # Errors
    /// The first field that is wrong.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_object_name("deployment", &self.deployment)?;
        if let Some(container) = &self.container {
            validate_container_name(container)?;
        }
        validate_env_name(&self.name)?;
        validate_env_value(&self.value)
    }
}

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum EnvValue {
    /// Not set in the container's `env`.
    Unset,
    /// A literal value.
    Value(String),
    /// A reference (`valueFrom`), described: `Secret twisterlab-secrets key DATABASE_URL`.
    /// The referenced value is never read.
    From(String),
}

impl fmt::Display for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unset => f.write_str("unset"),
            Self::Value(value) => f.write_str(value),
            Self::From(source) => write!(f, "from {source}"),
        }
    }
}

/// The outcome of setting an environment variable (or of its dry run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvChange {
    /// Deployment name.
    pub deployment: String,
    /// The container changed.
    pub container: String,
    /// Variable name.
    pub name: String,
    /// Before.
    pub before: EnvValue,
    /// After, as the API server stored (or would store) it.
    pub after: EnvValue,
    /// Nothing was changed: the API server only validated the request (`dryRun=All`).
    pub dry_run: bool,
}

impl ChangeSummary for EnvChange {
    fn target(&self) -> String {
        deployment_ref(&self.deployment)
    }
    fn is_dry_run(&self) -> bool {
        self.dry_run
    }
    fn changes(&self) -> Vec<FieldChange> {
        vec![FieldChange::new(
            format!("env {} of container {}", self.name, self.container),
            self.before.to_string(),
            self.after.to_string(),
        )]
    }
}

/// An Ingress that routes to a deployment's Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngressRoute {
    /// Ingress name.
    pub name: String,
    /// The hosts its rules serve (empty for a catch-all).
    pub hosts: Vec<String>,
    /// Every Service it routes to, sorted: more than the isolated deployment's means other
    /// traffic is cut too.
    pub services: Vec<String>,
}

/// The outcome of isolating a deployment (or of its dry run): scaled to 0 and the Ingresses
/// that route to its Services deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IsolationChange {
    /// Deployment name.
    pub deployment: String,
    /// Replicas before.
    pub replicas_before: i32,
    /// Replicas after (0), as the API server accepted it.
    pub replicas_after: i32,
    /// The Services selecting the deployment's pods, sorted.
    pub services: Vec<String>,
    /// The Ingresses deleted (or, for a dry run, that would be), sorted by name.
    pub ingresses: Vec<IngressRoute>,
    /// Nothing was changed: the API server only validated the requests (`dryRun=All`).
    pub dry_run: bool,
}

impl ChangeSummary for IsolationChange {
    fn target(&self) -> String {
        deployment_ref(&self.deployment)
    }
    fn is_dry_run(&self) -> bool {
        self.dry_run
    }
    fn changes(&self) -> Vec<FieldChange> {
        let mut changes = vec![FieldChange::new(
            "replicas",
            self.replicas_before.to_string(),
            self.replicas_after.to_string(),
        )];
        for ingress in &self.ingresses {
            let hosts =
                if ingress.hosts.is_empty() { "all hosts".to_owned() } else { ingress.hosts.join(", ") };
            changes.push(FieldChange::new(
                format!("Ingress {} ({hosts}; routes to {})", ingress.name, ingress.services.join(", ")),
                "present",
                "deleted",
            ));
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_read_as_before_and_after() {
        let scale = ScaleChange { deployment: "twisterlab-api".into(), from: 3, to: 5, dry_run: true };
        assert_eq!(scale.target(), "Deployment/twisterlab-api");
        assert_eq!(scale.changes()[0].to_string(), "replicas: 3 → 5");

        let resources = ResourcesChange {
            deployment: "twisterlab-api".into(),
            container: "api".into(),
            changes: vec![ResourceChange {
                field: ResourceField::MemoryLimit,
                before: Some("1Gi".into()),
                after: Some("2Gi".into()),
            }],
            dry_run: true,
        };
        assert_eq!(resources.changes()[0].to_string(), "limits.memory of container api: 1Gi → 2Gi");

        let env = EnvChange {
            deployment: "mcp-unified".into(),
            container: "mcp".into(),
            name: "API_URL".into(),
            before: EnvValue::Unset,
            after: EnvValue::Value("http://twisterlab-api:8000".into()),
            dry_run: false,
        };
        assert_eq!(
            env.changes()[0].to_string(),
            "env API_URL of container mcp: unset → http://twisterlab-api:8000"
        );
    }

    #[test]
    fn isolation_preview_lists_each_ingress_and_what_else_it_routes_to() {
        let isolation = IsolationChange {
            deployment: "twisterlab-api".into(),
            replicas_before: 3,
            replicas_after: 0,
            services: vec!["twisterlab-api".into()],
            ingresses: vec![IngressRoute {
                name: "twisterlab-ingress".into(),
                hosts: vec!["api.twisterlab.local".into()],
                services: vec!["mcp-unified".into(), "twisterlab-api".into()],
            }],
            dry_run: true,
        };
        let lines: Vec<String> = isolation.changes().iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "replicas: 3 → 0",
                "Ingress twisterlab-ingress (api.twisterlab.local; routes to mcp-unified, twisterlab-api): \
                 present → deleted",
            ]
        );
    }

    #[test]
    fn resource_changes_need_at_least_one_valid_quantity() {
        let mut set = SetResources { deployment: "twisterlab-api".into(), ..SetResources::default() };
        assert_eq!(set.validate().expect_err("nothing asked").field, "resources");
        set.memory_limit = Some("2Gx".into());
        assert_eq!(set.validate().expect_err("bad quantity").field, "resources.limits.memory");
        set.memory_limit = Some(" 2Gi ".into());
        assert_eq!(set.validate(), Ok(()));
        assert_eq!(set.requested(), [(ResourceField::MemoryLimit, "2Gi")]);
        set.container = Some("Api".into());
        assert_eq!(set.validate().expect_err("bad container").field, "container");
    }

    #[test]
    fn env_changes_check_the_name_before_the_value() {
        let set = SetEnv {
            deployment: "mcp-unified".into(),
            container: None,
            name: "API URL".into(),
            value: "x".into(),
        };
        assert_eq!(set.validate().expect_err("space").field, "env.name");
    }
}

/// A container image to set on a deployment, like `kubectl set image`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SetImage {
    /// Deployment name.
    pub deployment: String,
    /// Container name; `None` for a deployment with a single container.
    pub container: Option<String>,
    /// The image reference, e.g. `twisterlab-api:v2.0`.
    pub image: String,
}

impl SetImage {
    /// Checks the deployment and container names and the image reference.
    ///
    /// # Errors
    /// The first field that is wrong.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_object_name("deployment", &self.deployment)?;
        if let Some(container) = &self.container {
            validate_container_name(container)?;
        }
        crate::validate::validate_image(&self.image)
    }
}

/// The outcome of setting an image (or of its dry run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageChange {
    /// Deployment name.
    pub deployment: String,
    /// The container changed.
    pub container: String,
    /// The image before.
    pub before: String,
    /// The image after, as the API server answered.
    pub after: String,
    /// Nothing was changed: the API server only validated the request (`dryRun=All`).
    pub dry_run: bool,
}

impl ChangeSummary for ImageChange {
    fn target(&self) -> String {
        deployment_ref(&self.deployment)
    }
    fn is_dry_run(&self) -> bool {
        self.dry_run
    }
    fn changes(&self) -> Vec<FieldChange> {
        vec![FieldChange::new(format!("image of container {}", self.container), &self.before, &self.after)]
    }
}

/// The outcome of annotating a deployment (or of its dry run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnnotationChange {
    /// Deployment name.
    pub deployment: String,
    /// The annotation key.
    pub key: String,
    /// Its value before, `None` when unset.
    pub before: Option<String>,
    /// Its value after, as the API server answered.
    pub after: Option<String>,
    /// Nothing was changed: the API server only validated the request (`dryRun=All`).
    pub dry_run: bool,
}

impl ChangeSummary for AnnotationChange {
    fn target(&self) -> String {
        deployment_ref(&self.deployment)
    }
    fn is_dry_run(&self) -> bool {
        self.dry_run
    }
    fn changes(&self) -> Vec<FieldChange> {
        let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "unset".to_owned());
        vec![FieldChange::new(format!("annotation {}", self.key), shown(&self.before), shown(&self.after))]
    }
}
