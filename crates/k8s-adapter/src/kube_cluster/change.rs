//! The changing side of runbook steps: scale, rollout restart, requests and limits, an
//! environment variable, and isolating a deployment.
//!
//! Each reads the object first (the "before"), then sends the change, with `dryRun=All` for
//! a preview; the "after" is what the API server answered, so a preview shows what the
//! server would really store (defaults, canonical quantities, admission changes).

use std::collections::BTreeMap;
use std::future::Future;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, EnvVar, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{DeleteParams, ListParams, Patch, Preconditions};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{KubeCluster, RESTARTED_AT_ANNOTATION, patch_params};
use crate::error::ClusterError;
use crate::mappers::{container_resources, ingress_route, service_selects};
use crate::model::{
    AnnotationChange, ContainerResources, EnvChange, EnvValue, ImageChange, IngressRoute, IsolationChange,
    ResourceChange, ResourceField, ResourcesChange, RestartChange, ScaleChange, SetEnv, SetImage,
    SetResources,
};
use crate::quantity::{parse_cpu_millicores, parse_memory_bytes};
use crate::requests::{
    DELETE_INGRESS, GET_DEPLOYMENT_SCALE, LIST_INGRESSES, LIST_SERVICES, PATCH_DEPLOYMENT,
    PATCH_DEPLOYMENT_SCALE,
};
use crate::validate::{FieldError, validate_object_name, validate_replicas};

impl KubeCluster {
    pub(super) async fn scale(
        &self,
        name: &str,
        replicas: i32,
        dry_run: bool,
    ) -> Result<ScaleChange, ClusterError> {
        validate_object_name("deployment", name)?;
        let replicas = validate_replicas(i64::from(replicas))?;
        let from = self.current_replicas(name).await?;
        let to = self.patch_replicas(name, replicas, dry_run).await?;
        tracing::debug!(k8s.deployment = name, from, to, dry_run, "scaled deployment");
        Ok(ScaleChange { deployment: name.to_owned(), from, to, dry_run })
    }

    /// Replicas asked for now, from the scale subresource.
    async fn current_replicas(&self, name: &str) -> Result<i32, ClusterError> {
        let current = self
            .deployments_api()
            .get_scale(name)
            .await
            .map_err(|e| ClusterError::from_kube(e, &GET_DEPLOYMENT_SCALE, Some(name)))?;
        Ok(current.spec.and_then(|s| s.replicas).or(current.status.map(|s| s.replicas)).unwrap_or(0))
    }

    /// Sets replicas through the scale subresource; returns what the API server accepted.
    async fn patch_replicas(&self, name: &str, replicas: i32, dry_run: bool) -> Result<i32, ClusterError> {
        let patch = Patch::Merge(json!({ "spec": { "replicas": replicas } }));
        let scaled = self
            .deployments_api()
            .patch_scale(name, &patch_params(dry_run), &patch)
            .await
            .map_err(|e| ClusterError::from_kube(e, &PATCH_DEPLOYMENT_SCALE, Some(name)))?;
        Ok(scaled.spec.and_then(|s| s.replicas).unwrap_or(replicas))
    }

    pub(super) async fn restart(&self, name: &str, dry_run: bool) -> Result<RestartChange, ClusterError> {
        validate_object_name("deployment", name)?;
        let deployment = self.get_deployment(name).await?;
        let spec = deployment.spec.as_ref();
        let previous_restart = spec
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(RESTARTED_AT_ANNOTATION))
            .cloned();
        let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
        let now = Timestamp::now();
        // Whole seconds, as kubectl writes it (RFC 3339).
        let restarted_at = Timestamp::from_second(now.as_second()).unwrap_or(now);
        let patch = Patch::Strategic(json!({
            "spec": { "template": { "metadata": { "annotations": {
                RESTARTED_AT_ANNOTATION: restarted_at.to_string()
            } } } }
        }));
        self.patch_deployment(name, &patch, dry_run).await?;
        tracing::debug!(k8s.deployment = name, dry_run, "restarted deployment");
        Ok(RestartChange { deployment: name.to_owned(), previous_restart, restarted_at, replicas, dry_run })
    }

    async fn patch_deployment(
        &self,
        name: &str,
        patch: &Patch<Value>,
        dry_run: bool,
    ) -> Result<Deployment, ClusterError> {
        self.deployments_api()
            .patch(name, &patch_params(dry_run), patch)
            .await
            .map_err(|e| ClusterError::from_kube(e, &PATCH_DEPLOYMENT, Some(name)))
    }

    pub(super) async fn patch_resources(
        &self,
        change: &SetResources,
        dry_run: bool,
    ) -> Result<ResourcesChange, ClusterError> {
        change.validate()?;
        let name = change.deployment.as_str();
        let deployment = self.get_deployment(name).await?;
        let container = pick_container(&deployment, name, change.container.as_deref())?;
        let before = container_resources(container);
        let requested = change.requested();
        check_requests_within_limits(&before, &requested)?;

        let mut resources = serde_json::Map::new();
        for (field, quantity) in &requested {
            let section = resources.entry(field.section()).or_insert_with(|| json!({}));
            section[field.resource()] = json!(quantity);
        }
        let patch = Patch::Strategic(json!({
            "spec": { "template": { "spec": { "containers": [
                { "name": container.name, "resources": resources }
            ] } } }
        }));
        let patched = self.patch_deployment(name, &patch, dry_run).await?;
        let after = pick_container(&patched, name, Some(&container.name))
            .map(container_resources)
            .map_err(|_| answer_lacks_container(name, &container.name))?;
        let changes = requested
            .iter()
            .map(|(field, _)| ResourceChange {
                field: *field,
                before: before.get(*field).map(str::to_owned),
                after: after.get(*field).map(str::to_owned),
            })
            .collect();
        tracing::debug!(k8s.deployment = name, k8s.container = %container.name, dry_run, "set resources");
        Ok(ResourcesChange {
            deployment: name.to_owned(),
            container: container.name.clone(),
            changes,
            dry_run,
        })
    }

    pub(super) async fn patch_env(&self, change: &SetEnv, dry_run: bool) -> Result<EnvChange, ClusterError> {
        change.validate()?;
        let name = change.deployment.as_str();
        let deployment = self.get_deployment(name).await?;
        let container = pick_container(&deployment, name, change.container.as_deref())?;
        let before = env_value(container, &change.name);
        let mut entry = json!({ "name": change.name, "value": change.value });
        if matches!(before, EnvValue::From(_)) {
            // A strategic merge would keep the old valueFrom next to the new value, which
            // the API server refuses; null removes it.
            entry["valueFrom"] = Value::Null;
        }
        let patch = Patch::Strategic(json!({
            "spec": { "template": { "spec": { "containers": [
                { "name": container.name, "env": [entry] }
            ] } } }
        }));
        let patched = self.patch_deployment(name, &patch, dry_run).await?;
        let after = pick_container(&patched, name, Some(&container.name))
            .map(|c| env_value(c, &change.name))
            .map_err(|_| answer_lacks_container(name, &container.name))?;
        // The variable's name, never its value: values may be credentials.
        tracing::debug!(k8s.deployment = name, k8s.container = %container.name, env = %change.name, dry_run, "set env");
        Ok(EnvChange {
            deployment: name.to_owned(),
            container: container.name.clone(),
            name: change.name.clone(),
            before,
            after,
            dry_run,
        })
    }

    pub(super) async fn patch_image(
        &self,
        change: &SetImage,
        dry_run: bool,
    ) -> Result<ImageChange, ClusterError> {
        change.validate()?;
        let name = change.deployment.as_str();
        let deployment = self.get_deployment(name).await?;
        let container = pick_container(&deployment, name, change.container.as_deref())?;
        let before = container.image.clone().unwrap_or_default();
        let patch = Patch::Strategic(json!({
            "spec": { "template": { "spec": { "containers": [
                { "name": container.name, "image": change.image }
            ] } } }
        }));
        let patched = self.patch_deployment(name, &patch, dry_run).await?;
        let after = pick_container(&patched, name, Some(&container.name))
            .map(|c| c.image.clone().unwrap_or_default())
            .map_err(|_| answer_lacks_container(name, &container.name))?;
        tracing::debug!(k8s.deployment = name, k8s.container = %container.name, dry_run, "set image");
        Ok(ImageChange {
            deployment: name.to_owned(),
            container: container.name.clone(),
            before,
            after,
            dry_run,
        })
    }

    pub(super) async fn patch_annotation(
        &self,
        name: &str,
        key: &str,
        value: &str,
        dry_run: bool,
    ) -> Result<AnnotationChange, ClusterError> {
        validate_object_name("deployment", name)?;
        crate::validate::validate_annotation(key, value)?;
        let deployment = self.get_deployment(name).await?;
        let before = deployment.metadata.annotations.as_ref().and_then(|a| a.get(key)).cloned();
        let patch = Patch::Strategic(json!({ "metadata": { "annotations": { key: value } } }));
        let patched = self.patch_deployment(name, &patch, dry_run).await?;
        let after = patched.metadata.annotations.as_ref().and_then(|a| a.get(key)).cloned();
        tracing::debug!(k8s.deployment = name, annotation = key, dry_run, "annotated deployment");
        Ok(AnnotationChange { deployment: name.to_owned(), key: key.to_owned(), before, after, dry_run })
    }

    pub(super) async fn isolate(&self, name: &str, dry_run: bool) -> Result<IsolationChange, ClusterError> {
        validate_object_name("deployment", name)?;
        // One deadline for all steps, checked step by step: a timeout then still knows
        // which steps were applied.
        let deadline = Instant::now() + self.timeout;
        let deployment = self.by(deadline, self.get_deployment(name)).await?;
        let labels: BTreeMap<String, String> = deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        let replicas_before = self.by(deadline, self.current_replicas(name)).await?;
        let services = self.by(deadline, self.services_selecting(&labels)).await?;
        let ingresses = self.by(deadline, self.ingresses_routing_to(&services)).await?;

        let scaled = self.by(deadline, self.patch_replicas(name, 0, dry_run)).await;
        if dry_run {
            // A preview changes nothing, so any refusal is simply the answer.
            let replicas_after = scaled?;
            for (route, uid) in &ingresses {
                self.by(deadline, self.delete_ingress(&route.name, uid.clone(), true)).await?;
            }
            let ingresses = ingresses.into_iter().map(|(route, _)| route).collect();
            return Ok(IsolationChange {
                deployment: name.to_owned(),
                replicas_before,
                replicas_after,
                services,
                ingresses,
                dry_run,
            });
        }

        // Every step is tried even after one failed: each one cuts traffic on its own.
        let mut steps = Steps::default();
        let replicas_after = match scaled {
            Ok(to) => {
                steps.done.push(format!("scaled deployment {name} from {replicas_before} to {to} replicas"));
                to
            }
            Err(err) => {
                steps.fail(format!("scale deployment {name} to 0"), err);
                replicas_before
            }
        };
        let mut deleted = Vec::new();
        for (route, uid) in ingresses {
            if Instant::now() >= deadline {
                steps.not_attempted.push(format!("delete Ingress {}", route.name));
                continue;
            }
            match self.by(deadline, self.delete_ingress(&route.name, uid, false)).await {
                Ok(()) => {
                    steps.done.push(format!("deleted Ingress {}", route.name));
                    deleted.push(route);
                }
                Err(err) => steps.fail(format!("delete Ingress {}", route.name), err),
            }
        }
        tracing::info!(
            k8s.deployment = name,
            done = steps.done.len(),
            failed = steps.failed.len(),
            not_attempted = steps.not_attempted.len(),
            "isolated deployment"
        );
        steps.finish(format!("isolate deployment {name}"))?;
        Ok(IsolationChange {
            deployment: name.to_owned(),
            replicas_before,
            replicas_after,
            services,
            ingresses: deleted,
            dry_run,
        })
    }

    /// `op`, or a timeout once `deadline` has passed.
    async fn by<T>(
        &self,
        deadline: Instant,
        op: impl Future<Output = Result<T, ClusterError>>,
    ) -> Result<T, ClusterError> {
        tokio::time::timeout_at(deadline, op)
            .await
            .unwrap_or(Err(ClusterError::Timeout { after: self.timeout }))
    }

    /// The Services whose selector picks pods labelled `labels`, sorted by name.
    async fn services_selecting(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<String>, ClusterError> {
        let list = self
            .api::<Service>()
            .list(&ListParams::default())
            .await
            .map_err(|e| ClusterError::from_kube(e, &LIST_SERVICES, None))?;
        let mut names: Vec<String> = list
            .items
            .iter()
            .filter(|s| {
                s.spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .is_some_and(|sel| service_selects(sel, labels))
            })
            .filter_map(|s| s.metadata.name.clone())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The Ingresses with a backend among `services`, sorted by name, each with its uid.
    async fn ingresses_routing_to(
        &self,
        services: &[String],
    ) -> Result<Vec<(IngressRoute, Option<String>)>, ClusterError> {
        let list = self
            .api::<Ingress>()
            .list(&ListParams::default())
            .await
            .map_err(|e| ClusterError::from_kube(e, &LIST_INGRESSES, None))?;
        let mut routes: Vec<_> = list
            .items
            .iter()
            .map(|ingress| (ingress_route(ingress), ingress.metadata.uid.clone()))
            .filter(|(route, _)| route.services.iter().any(|s| services.contains(s)))
            .collect();
        routes.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        Ok(routes)
    }

    /// Deletes an Ingress, only if it is still the object seen (`uid` precondition).
    async fn delete_ingress(
        &self,
        name: &str,
        uid: Option<String>,
        dry_run: bool,
    ) -> Result<(), ClusterError> {
        let params = DeleteParams {
            dry_run,
            preconditions: uid.map(|uid| Preconditions { uid: Some(uid), resource_version: None }),
            ..DeleteParams::default()
        };
        let api = self.api::<Ingress>();
        let mut request = kube::core::Request::new(api.resource_url())
            .delete(name, &params)
            .map_err(|e| FieldError::new("ingress", e.to_string()))?;
        if dry_run {
            // kube puts dryRun only in the DeleteOptions body, which the API server reads
            // instead of the query whenever a body is sent. The query says it too, so every
            // preview request carries dryRun=All in its URL like the patches do.
            let uri = format!("{}dryRun=All", request.uri());
            *request.uri_mut() =
                uri.parse().map_err(|e: http::uri::InvalidUri| FieldError::new("ingress", e.to_string()))?;
        }
        self.client
            .request_text(request)
            .await
            .map_err(|e| ClusterError::from_kube(e, &DELETE_INGRESS, Some(name)))?;
        tracing::debug!(k8s.ingress = name, dry_run, "deleted ingress");
        Ok(())
    }
}

/// What happened to each step of a multi-step change.
#[derive(Default)]
struct Steps {
    done: Vec<String>,
    failed: Vec<String>,
    not_attempted: Vec<String>,
    first_error: Option<ClusterError>,
}

impl Steps {
    fn fail(&mut self, step: String, err: ClusterError) {
        self.failed.push(format!("{step}: {err}"));
        self.first_error.get_or_insert(err);
    }

    /// `Ok` when every step was applied; the first error when none was; otherwise what was
    /// and was not done.
    fn finish(self, action: String) -> Result<(), ClusterError> {
        match self.first_error {
            None if self.not_attempted.is_empty() => Ok(()),
            Some(err) if self.done.is_empty() => Err(err),
            _ => Err(ClusterError::PartiallyApplied {
                action,
                done: self.done,
                failed: self.failed,
                not_attempted: self.not_attempted,
            }),
        }
    }
}

/// The container `wanted` names, or the only one when none is named.
fn pick_container<'d>(
    deployment: &'d Deployment,
    name: &str,
    wanted: Option<&str>,
) -> Result<&'d Container, ClusterError> {
    let containers: &[Container] = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map_or(&[], |p| p.containers.as_slice());
    let names = || containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    match wanted {
        Some(wanted) => containers.iter().find(|c| c.name == wanted).ok_or_else(|| {
            FieldError::new(
                "container",
                format!("deployment {name} has no container {wanted:?}; its containers are: {}", names()),
            )
            .into()
        }),
        None => match containers {
            [only] => Ok(only),
            _ => Err(FieldError::new(
                "container",
                format!(
                    "deployment {name} has {} containers ({}): name the one to change",
                    containers.len(),
                    names()
                ),
            )
            .into()),
        },
    }
}

fn answer_lacks_container(deployment: &str, container: &str) -> ClusterError {
    ClusterError::InvalidResponse(format!(
        "the patched deployment {deployment} came back without its container {container}"
    ))
}

/// Refuses a request above its limit (new or current), which the API server would refuse
/// too, naming the field the responder changed.
fn check_requests_within_limits(
    current: &ContainerResources,
    requested: &[(ResourceField, &str)],
) -> Result<(), FieldError> {
    let new = |field: ResourceField| requested.iter().find(|(f, _)| *f == field).map(|(_, q)| *q);
    let pairs = [
        (ResourceField::CpuRequest, ResourceField::CpuLimit, parse_cpu_millicores as fn(&str) -> Option<u64>),
        (ResourceField::MemoryRequest, ResourceField::MemoryLimit, parse_memory_bytes),
    ];
    for (request_field, limit_field, parse) in pairs {
        let request = new(request_field).or(current.get(request_field));
        let limit = new(limit_field).or(current.get(limit_field));
        let (Some(request), Some(limit)) = (request, limit) else { continue };
        let (Some(request_amount), Some(limit_amount)) = (parse(request), parse(limit)) else { continue };
        if request_amount > limit_amount {
            let (field, fix) = if new(request_field).is_some() {
                (request_field, format!("raise {limit_field} too, or ask for less"))
            } else {
                (limit_field, format!("lower {request_field} too, or keep a higher limit"))
            };
            return Err(FieldError::new(
                field.field_name(),
                format!("the {} request {request} would be above its limit {limit}: {fix}", field.resource()),
            ));
        }
    }
    Ok(())
}

/// The value of variable `name` in `container`'s env (the last entry wins, as in Kubernetes).
fn env_value(container: &Container, name: &str) -> EnvValue {
    let entry: Option<&EnvVar> =
        container.env.as_deref().unwrap_or_default().iter().rev().find(|e| e.name == name);
    let Some(entry) = entry else { return EnvValue::Unset };
    if let Some(source) = &entry.value_from {
        let described = if let Some(s) = &source.secret_key_ref {
            format!("Secret {} key {}", s.name, s.key)
        } else if let Some(c) = &source.config_map_key_ref {
            format!("ConfigMap {} key {}", c.name, c.key)
        } else if let Some(f) = &source.field_ref {
            format!("field {}", f.field_path)
        } else if let Some(r) = &source.resource_field_ref {
            format!("resource {}", r.resource)
        } else {
            "a reference".to_owned()
        };
        return EnvValue::From(described);
    }
    EnvValue::Value(entry.value.clone().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(json: &str) -> Deployment {
        serde_json::from_str(json).expect("deployment fixture")
    }

    #[test]
    fn a_container_is_picked_by_name_or_as_the_only_one() {
        let two = deployment(include_str!("../../fixtures/deployment_stalled.json"));
        assert_eq!(
            pick_container(&two, "twisterlab-api", Some("pgbouncer")).map(|c| c.name.as_str()),
            Ok("pgbouncer")
        );
        let err = pick_container(&two, "twisterlab-api", None).expect_err("two containers");
        assert_eq!(
            err.to_string(),
            "invalid container: deployment twisterlab-api has 2 containers (api, pgbouncer): name the one to change"
        );
        let err = pick_container(&two, "twisterlab-api", Some("web")).expect_err("no such container");
        assert!(
            err.to_string().contains("has no container \"web\"; its containers are: api, pgbouncer"),
            "{err}"
        );

        let one = deployment(include_str!("../../fixtures/deployment_rolling.json"));
        assert_eq!(pick_container(&one, "twisterlab-api", None).map(|c| c.name.as_str()), Ok("api"));
    }

    #[test]
    fn a_request_above_the_current_limit_is_refused_on_the_request_field() {
        let current = ContainerResources {
            memory_request: Some("512Mi".into()),
            memory_limit: Some("1Gi".into()),
            ..ContainerResources::default()
        };
        let err = check_requests_within_limits(&current, &[(ResourceField::MemoryRequest, "2Gi")])
            .expect_err("2Gi > 1Gi");
        assert_eq!(err.field, "resources.requests.memory");
        assert_eq!(
            err.message,
            "the memory request 2Gi would be above its limit 1Gi: raise limits.memory too, or ask for less"
        );
        assert_eq!(
            check_requests_within_limits(
                &current,
                &[(ResourceField::MemoryRequest, "2Gi"), (ResourceField::MemoryLimit, "4Gi")]
            ),
            Ok(())
        );
        let err = check_requests_within_limits(&current, &[(ResourceField::MemoryLimit, "256Mi")])
            .expect_err("below");
        assert_eq!(err.field, "resources.limits.memory");
    }

    #[test]
    fn env_values_from_references_are_described_never_resolved() {
        let api = deployment(include_str!("../../fixtures/deployment_stalled.json"));
        let container = pick_container(&api, "twisterlab-api", Some("api")).expect("api container");
        assert_eq!(
            env_value(container, "DATABASE_URL"),
            EnvValue::From("Secret twisterlab-secrets key DATABASE_URL".into())
        );
        assert_eq!(env_value(container, "LOG_LEVEL"), EnvValue::Value("info".into()));
        assert_eq!(env_value(container, "API_URL"), EnvValue::Unset);
    }

    #[test]
    fn steps_report_partial_application_and_never_call_it_done() {
        let mut steps = Steps::default();
        steps.done.push("scaled deployment api from 3 to 0 replicas".into());
        steps.fail(
            "delete Ingress web".into(),
            ClusterError::Timeout { after: std::time::Duration::from_secs(5) },
        );
        let err = steps.finish("isolate deployment api".into()).expect_err("partial");
        assert!(
            matches!(&err, ClusterError::PartiallyApplied { done, failed, .. } if done.len() == 1 && failed.len() == 1),
            "{err:?}"
        );

        let mut nothing = Steps::default();
        nothing.fail(
            "scale deployment api to 0".into(),
            ClusterError::NotFound { resource: "deployments/scale".into(), name: "api".into() },
        );
        assert!(matches!(nothing.finish("isolate".into()), Err(ClusterError::NotFound { .. })));
        assert_eq!(Steps::default().finish("isolate".into()), Ok(()));
    }
}
