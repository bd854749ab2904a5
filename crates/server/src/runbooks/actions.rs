//! Runs a step's action: Kubernetes through the adapter's `Cluster` (changing actions as a
//! server-side dry run first), Prometheus through the overview's client. Every answer becomes
//! an [`ActionOutput`] (summary and table) or the error's message, never a secret's value.

use std::sync::Mutex;
use std::time::Duration;

use twisterlab_domain::runbook::Action;
use twisterlab_k8s::{ChangeSummary, Cluster, ClusterError, RolloutStatus, SetEnv, SetImage, SetResources};

fn err(e: ClusterError) -> String {
    e.to_string()
}

use super::output::{ActionOutput, Table};
use crate::overview::key_metrics::Prometheus;
use crate::state::AppState;

/// Runs `action`; a changing one only as a dry run unless `apply`. `Err` carries the message
/// to show and record (the API server's, a timeout, "not configured"…).
pub(crate) async fn execute(app: &AppState, action: &Action, apply: bool) -> Result<ActionOutput, String> {
    if action.kind().uses_target_database() {
        return target_database(app, action, apply).await;
    }
    match action {
        Action::PrometheusQuery { expr } => prometheus(app, expr).await,
        Action::HealthCheck { service } => health_check(app, service).await,
        _ => {
            let cluster = app.cluster().await;
            kubernetes(cluster.as_ref(), action, !apply).await
        }
    }
}

/// The monitored database's diagnostics (`target_db`); unconfigured, the step says so.
async fn target_database(app: &AppState, action: &Action, apply: bool) -> Result<ActionOutput, String> {
    crate::target_db::execute(app, action, apply).await.map_err(|e| e.to_string())
}

async fn prometheus(app: &AppState, expr: &str) -> Result<ActionOutput, String> {
    let Some(url) = app.config.prometheus_url.as_deref() else {
        return Err("not configured: set TWISTERLAB_PROMETHEUS_URL to query Prometheus".into());
    };
    let client = Prometheus::new(url)?;
    let samples = client.query(expr).await?;
    let mut table = Table::new(["#", "value"]);
    for (i, v) in samples.iter().enumerate() {
        table.row([(i + 1).to_string(), format!("{v}")]);
    }
    Ok(ActionOutput::with_table(format!("{} sample(s) for {expr}", samples.len()), table))
}

async fn health_check(app: &AppState, service: &str) -> Result<ActionOutput, String> {
    let found = crate::db::health::find_by_name(&app.pool, service)
        .await
        .map_err(|e| format!("cannot read the probed services: {e}"))?
        .ok_or_else(|| format!("no probed service is called {service}: add it on the services page first"))?;
    let client =
        crate::overview::probe::client().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let timeout = Duration::from_millis(u64::try_from(found.timeout_ms).unwrap_or(5000));
    let outcome = crate::overview::probe::probe(&client, &found.url, timeout, &found.expect).await;
    match outcome.failure() {
        None => {
            Ok(ActionOutput::text(format!("{service} answered correctly in {} ms", outcome.latency_ms())))
        }
        Some(failure) => Err(format!("{service} failed its health check: {}", failure.reason)),
    }
}

fn changes_table(change: &dyn ChangeSummary) -> Table {
    let mut table = Table::new(["field", "before", "after"]);
    for c in change.changes() {
        table.row([c.field, c.before, c.after]);
    }
    table
}

fn change_output(change: &dyn ChangeSummary) -> ActionOutput {
    let verb = if change.is_dry_run() { "would change (dry run, nothing changed)" } else { "changed" };
    let lines: Vec<String> = change.changes().iter().map(ToString::to_string).collect();
    ActionOutput::with_table(
        format!("{} {verb}: {}", change.target(), lines.join("; ")),
        changes_table(change),
    )
}

fn rollout_row(table: &mut Table, s: &RolloutStatus) {
    table.row([
        s.desired.to_string(),
        s.updated.to_string(),
        s.ready.to_string(),
        s.available.to_string(),
        s.to_string(),
    ]);
}

/// One Kubernetes action through `cluster`.
pub(crate) async fn kubernetes(
    cluster: &dyn Cluster,
    action: &Action,
    dry_run: bool,
) -> Result<ActionOutput, String> {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    Ok(match action {
        Action::ListPods { deployment } => {
            let pods = cluster.deployment_pods(deployment).await.map_err(err)?;
            let mut table = Table::new(["pod", "phase", "ready", "restarts", "problem"]);
            for p in &pods.pods {
                table.row([
                    p.pod.name.clone(),
                    p.pod.phase.to_string(),
                    format!("{}/{}", p.pod.ready_containers, p.pod.total_containers),
                    p.pod.restarts.to_string(),
                    p.problem.as_ref().map(ToString::to_string).unwrap_or_default(),
                ]);
            }
            let troubled = pods.pods.iter().filter(|p| p.problem.is_some()).count();
            ActionOutput::with_table(
                format!("{} pod(s) of deployment {deployment}, {troubled} with a problem", pods.pods.len()),
                table,
            )
        }
        Action::Logs { deployment, filter, lines } => {
            let lines = u32::try_from(*lines).unwrap_or(100);
            let tail = cluster.tail_logs(deployment, filter.as_deref(), lines).await.map_err(err)?;
            let mut table = Table::new(["line"]);
            for line in &tail.lines {
                table.row([line.clone()]);
            }
            let filtered = match &tail.filter {
                Some(f) => format!(" containing \u{201c}{f}\u{201d} (of {} scanned)", tail.scanned_lines),
                None => String::new(),
            };
            ActionOutput::with_table(
                format!("{} log line(s) of pod {}{filtered}", tail.lines.len(), tail.pod),
                table,
            )
        }
        Action::DescribePod { deployment } => {
            let pods = cluster.deployment_pods(deployment).await.map_err(err)?;
            let Some(pick) = pods.pods.iter().find(|p| p.problem.is_some()).or_else(|| pods.pods.first())
            else {
                return Ok(ActionOutput::text(format!("deployment {deployment} has no pods to describe")));
            };
            let d = cluster.describe_pod(&pick.pod.name).await.map_err(err)?;
            let mut table = Table::new(["what", "detail"]);
            table.row(["phase".to_owned(), d.pod.phase.to_string()]);
            if let Some(problem) = &d.problem {
                table.row(["problem".to_owned(), problem.to_string()]);
            }
            for c in &d.containers {
                table.row([
                    format!("container {}", c.name),
                    format!("{} · {} restart(s) · image {}", c.state, c.restart_count, c.image),
                ]);
                if let Some(t) = &c.last_termination {
                    table.row([
                        format!("container {} last termination", c.name),
                        format!(
                            "{} (exit code {}) {}",
                            t.reason.clone().unwrap_or_default(),
                            t.exit_code,
                            opt(&t.message)
                        ),
                    ]);
                }
                table.row([
                    format!("container {} resources", c.name),
                    format!(
                        "requests cpu {} memory {} · limits cpu {} memory {}",
                        opt(&c.resources.cpu_request),
                        opt(&c.resources.memory_request),
                        opt(&c.resources.cpu_limit),
                        opt(&c.resources.memory_limit)
                    ),
                ]);
            }
            for e in &d.events {
                table.row([
                    format!("event {} {}", e.type_, e.reason),
                    format!("{} (×{})", e.message, e.count),
                ]);
            }
            let problem =
                d.problem.as_ref().map_or_else(|| "no problem found".to_owned(), ToString::to_string);
            ActionOutput::with_table(format!("pod {}: {problem}", d.pod.name), table)
        }
        Action::RolloutRestart { deployment } => {
            change_output(&cluster.restart_deployment(deployment, dry_run).await.map_err(err)?)
        }
        Action::Scale { deployment, replicas } => {
            let replicas = i32::try_from(*replicas).unwrap_or(i32::MAX);
            change_output(&cluster.scale_deployment(deployment, replicas, dry_run).await.map_err(err)?)
        }
        Action::SetResources {
            deployment,
            container,
            cpu_request,
            cpu_limit,
            memory_request,
            memory_limit,
        } => {
            let change = SetResources {
                deployment: deployment.clone(),
                container: container.clone(),
                cpu_request: cpu_request.clone(),
                cpu_limit: cpu_limit.clone(),
                memory_request: memory_request.clone(),
                memory_limit: memory_limit.clone(),
            };
            change_output(&cluster.set_resources(&change, dry_run).await.map_err(err)?)
        }
        Action::SetEnv { deployment, container, name, value } => {
            let change = SetEnv {
                deployment: deployment.clone(),
                container: container.clone(),
                name: name.clone(),
                value: value.clone(),
            };
            change_output(&cluster.set_env(&change, dry_run).await.map_err(err)?)
        }
        Action::SetImage { deployment, container, image } => {
            let change = SetImage {
                deployment: deployment.clone(),
                container: container.clone(),
                image: image.clone(),
            };
            change_output(&cluster.set_image(&change, dry_run).await.map_err(err)?)
        }
        Action::Annotate { deployment, key, value } => {
            change_output(&cluster.annotate(deployment, key, value, dry_run).await.map_err(err)?)
        }
        Action::WaitRollout { deployment, timeout_seconds } => {
            let seen: Mutex<Vec<RolloutStatus>> = Mutex::new(Vec::new());
            let record = |s: &RolloutStatus| {
                if let Ok(mut seen) = seen.lock() {
                    seen.push(s.clone());
                }
            };
            let timeout = Duration::from_secs(u64::try_from(*timeout_seconds).unwrap_or(300));
            let wait = cluster.wait_for_rollout(deployment, timeout, &record).await.map_err(err)?;
            let mut table = Table::new(["desired", "updated", "ready", "available", "status"]);
            for s in seen.lock().map(|s| s.clone()).unwrap_or_default() {
                rollout_row(&mut table, &s);
            }
            if table.rows.is_empty() {
                rollout_row(&mut table, &wait.last);
            }
            if !wait.succeeded() {
                return Err(format!("the rollout did not finish: {wait}"));
            }
            ActionOutput::with_table(wait.to_string(), table)
        }
        Action::CheckService { service } => {
            let s = cluster.service_endpoints(service).await.map_err(err)?;
            let mut table = Table::new(["address", "ready", "pod"]);
            for a in &s.addresses {
                table.row([a.address.clone(), if a.ready { "yes" } else { "no" }.to_owned(), opt(&a.pod)]);
            }
            ActionOutput::with_table(
                format!(
                    "service {} ({}) exists: {} ready and {} not-ready endpoint(s)",
                    s.service, s.type_, s.ready, s.not_ready
                ),
                table,
            )
        }
        Action::CheckSecretKey { secret, key } => {
            let check = cluster.secret_has_key(secret, key).await.map_err(err)?;
            let mut table = Table::new(["key"]);
            for k in &check.keys {
                table.row([k.clone()]);
            }
            let words = if check.present { "has" } else { "does NOT have" };
            ActionOutput::with_table(
                format!("secret {} {words} the key {} (values are never read)", check.secret, check.key),
                table,
            )
        }
        Action::ListNetworkPolicies => {
            let policies = cluster.network_policies().await.map_err(err)?;
            let mut table = Table::new(["name", "pod selector", "types", "ingress rules", "egress rules"]);
            for p in &policies {
                table.row([
                    p.name.clone(),
                    p.pod_selector.clone(),
                    p.policy_types.join(", "),
                    p.ingress_rules.to_string(),
                    p.egress_rules.to_string(),
                ]);
            }
            ActionOutput::with_table(format!("{} network polic(ies)", policies.len()), table)
        }
        Action::ReadConfigmap { name } => {
            let data = cluster.config_map(name).await.map_err(err)?;
            let mut table = Table::new(["key", "value"]);
            for (k, v) in &data.data {
                table.row([k.clone(), v.clone()]);
            }
            for k in &data.binary_keys {
                table.row([k.clone(), "(binary)".to_owned()]);
            }
            ActionOutput::with_table(
                format!("config map {} has {} key(s)", data.name, table.rows.len()),
                table,
            )
        }
        Action::Isolate { deployment } => {
            change_output(&cluster.isolate_deployment(deployment, dry_run).await.map_err(err)?)
        }
        Action::PodUsage { deployment } => {
            let Some(usage) = cluster.pod_usage().await.map_err(err)? else {
                return Ok(ActionOutput::text("the metrics API is not served (no metrics-server installed)"));
            };
            let mut table = Table::new(["pod", "cpu (millicores)", "memory (MiB)"]);
            for u in usage
                .iter()
                .filter(|u| deployment.as_ref().is_none_or(|d| u.pod.starts_with(&format!("{d}-"))))
            {
                table.row([
                    u.pod.clone(),
                    u.cpu_millicores.to_string(),
                    (u.memory_bytes / (1024 * 1024)).to_string(),
                ]);
            }
            ActionOutput::with_table(format!("CPU and memory of {} pod(s)", table.rows.len()), table)
        }
        Action::DbConnections
        | Action::DbLongQueries { .. }
        | Action::DbIdleConnections { .. }
        | Action::DbTableSizes
        | Action::DbVacuumAnalyze { .. }
        | Action::PrometheusQuery { .. }
        | Action::HealthCheck { .. } => {
            return Err(format!("{} is not a Kubernetes action", action.kind()));
        }
    })
}
