//! Deployment manifests: k8s/ kustomize base, docker-compose.yml and Dockerfile.
//!
//! The Kubernetes checks render `k8s/` with `kubectl kustomize`, as an operator would, and
//! look at the objects that come out. Without kubectl they fail (never skip): install it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize as _;
use serde_json::Value;

const NAMESPACE: &str = "twisterlab";
const APP: &str = "twisterlab-portal";
const HTTP_PORT: u64 = 8080;
const STATUS_HOST: &str = "status.twisterlab.local";
const OPS_HOST: &str = "ops.twisterlab.local";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every non-empty document of a YAML stream, as JSON values.
fn parse_yaml_stream(text: &str, origin: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|document| {
            Value::deserialize(document).unwrap_or_else(|e| panic!("{origin} is not valid YAML: {e}"))
        })
        .filter(|value| !value.is_null())
        .collect()
}

/// The objects of `kubectl kustomize k8s`, rendered once per test run.
fn rendered() -> &'static [Value] {
    static OBJECTS: OnceLock<Vec<Value>> = OnceLock::new();
    OBJECTS.get_or_init(|| {
        let k8s = workspace_root().join("k8s");
        let output = match Command::new("kubectl").arg("kustomize").arg(&k8s).output() {
            Ok(output) => output,
            Err(e) if e.kind() == ErrorKind::NotFound => panic!(
                "kubectl is not installed (or not on PATH). These tests render k8s/ with \
                 `kubectl kustomize` and do not skip without it: install kubectl \
                 (https://kubernetes.io/docs/tasks/tools/) and run them again"
            ),
            Err(e) => panic!("cannot run kubectl: {e}"),
        };
        assert!(
            output.status.success(),
            "`kubectl kustomize {}` failed:\n{}",
            k8s.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).expect("kubectl prints UTF-8");
        parse_yaml_stream(&text, "the output of `kubectl kustomize k8s`")
    })
}

/// The only rendered object of `kind`.
fn one(kind: &str) -> &'static Value {
    let found: Vec<&Value> = rendered().iter().filter(|object| object["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected exactly one {kind} in k8s/, found {}", found.len());
    found[0]
}

/// The value at a JSON pointer, which must exist.
fn at<'a>(value: &'a Value, pointer: &str) -> &'a Value {
    value.pointer(pointer).unwrap_or_else(|| panic!("no {pointer} in {value:#}"))
}

fn text_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    at(value, pointer).as_str().unwrap_or_else(|| panic!("{pointer} is not a string in {value:#}"))
}

fn number_at(value: &Value, pointer: &str) -> u64 {
    at(value, pointer).as_u64().unwrap_or_else(|| panic!("{pointer} is not a whole number in {value:#}"))
}

fn array_at<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    at(value, pointer).as_array().unwrap_or_else(|| panic!("{pointer} is not a list in {value:#}"))
}

/// A map of strings (labels, selectors, ConfigMap data).
fn string_map(value: &Value, pointer: &str) -> BTreeMap<String, String> {
    let map = at(value, pointer).as_object().unwrap_or_else(|| panic!("{pointer} is not a map in {value:#}"));
    map.iter()
        .map(|(key, v)| {
            let v = v.as_str().unwrap_or_else(|| panic!("{pointer}.{key} is not a string"));
            (key.clone(), v.to_owned())
        })
        .collect()
}

fn is_subset(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(key, value)| labels.get(key) == Some(value))
}

fn deployment() -> &'static Value {
    one("Deployment")
}

fn pod_spec() -> &'static Value {
    at(deployment(), "/spec/template/spec")
}

fn pod_labels() -> BTreeMap<String, String> {
    string_map(deployment(), "/spec/template/metadata/labels")
}

/// The portal container: the pod's only container.
fn container() -> &'static Value {
    let containers = array_at(pod_spec(), "/containers");
    assert_eq!(containers.len(), 1, "the portal pod runs one container");
    &containers[0]
}

/// A container-level security setting, falling back to the pod level like the kubelet does.
fn security_setting(field: &str) -> Option<&'static Value> {
    container()
        .pointer(&format!("/securityContext/{field}"))
        .or_else(|| pod_spec().pointer(&format!("/securityContext/{field}")))
}

/// A port given by number or by the container port's name, as a number.
fn container_port(port: &Value) -> u64 {
    match port {
        Value::Number(n) => n.as_u64().expect("a port is a whole number"),
        Value::String(name) => {
            let named = array_at(container(), "/ports")
                .iter()
                .find(|p| p["name"] == name.as_str())
                .unwrap_or_else(|| panic!("the container has no port named {name}"));
            number_at(named, "/containerPort")
        }
        other => panic!("{other} is not a port"),
    }
}

fn config_map_data() -> BTreeMap<String, String> {
    string_map(one("ConfigMap"), "/data")
}

#[test]
fn every_expected_kind_is_rendered_exactly_once_in_the_twisterlab_namespace() {
    let expected: BTreeSet<&str> = [
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "Ingress",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    ]
    .into_iter()
    .collect();
    let mut kinds: Vec<&str> = rendered().iter().map(|object| text_at(object, "/kind")).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, expected.iter().copied().collect::<Vec<_>>(), "one object of each kind, no others");

    for object in rendered() {
        let kind = text_at(object, "/kind");
        let name = text_at(object, "/metadata/name");
        if kind == "Namespace" {
            assert_eq!(name, NAMESPACE);
            assert!(object.pointer("/metadata/namespace").is_none(), "a Namespace is cluster-scoped");
        } else {
            assert_eq!(object.pointer("/metadata/namespace"), Some(&Value::from(NAMESPACE)), "{kind} {name}");
        }
        let labels = string_map(object, "/metadata/labels");
        assert_eq!(
            labels.get("app.kubernetes.io/name").map(String::as_str),
            Some(APP),
            "{kind} {name} carries the common labels"
        );
        assert!(labels.contains_key("app.kubernetes.io/part-of"), "{kind} {name} carries the common labels");
    }
}

#[test]
fn the_deployment_runs_two_replicas_of_the_overridable_portal_image() {
    let deployment = deployment();
    assert_eq!(text_at(deployment, "/metadata/name"), APP);
    assert_eq!(number_at(deployment, "/spec/replicas"), 2);
    assert_eq!(text_at(container(), "/image"), "twisterlab-portal:0.1.0");

    let selector = string_map(deployment, "/spec/selector/matchLabels");
    assert!(!selector.is_empty() && is_subset(&selector, &pod_labels()), "the selector matches the pods");
    assert_eq!(text_at(pod_spec(), "/serviceAccountName"), text_at(one("ServiceAccount"), "/metadata/name"));
    let ports: Vec<u64> =
        array_at(container(), "/ports").iter().map(|p| number_at(p, "/containerPort")).collect();
    assert_eq!(ports, [HTTP_PORT]);
    assert_eq!(
        pod_spec().pointer("/enableServiceLinks"),
        Some(&Value::Bool(false)),
        "service links would inject TWISTERLAB_PORTAL_* variables into the portal's configuration"
    );
}

#[test]
fn the_portal_pod_runs_as_non_root_on_a_read_only_root_file_system() {
    assert_eq!(security_setting("runAsNonRoot"), Some(&Value::Bool(true)));
    assert_eq!(security_setting("runAsUser"), Some(&Value::from(10001)));
    assert_eq!(container().pointer("/securityContext/readOnlyRootFilesystem"), Some(&Value::Bool(true)));
    assert_eq!(container().pointer("/securityContext/allowPrivilegeEscalation"), Some(&Value::Bool(false)));
    assert_eq!(
        container().pointer("/securityContext/capabilities/drop"),
        Some(&serde_json::json!(["ALL"])),
        "every capability is dropped"
    );
    assert!(container().pointer("/securityContext/capabilities/add").is_none(), "no capability is added");
    assert_eq!(security_setting("seccompProfile/type"), Some(&Value::from("RuntimeDefault")));
    assert_ne!(container().pointer("/securityContext/privileged"), Some(&Value::Bool(true)));

    let tmp = array_at(container(), "/volumeMounts")
        .iter()
        .find(|mount| mount["mountPath"] == "/tmp")
        .expect("/tmp is mounted: the root file system is read-only");
    let volume = array_at(pod_spec(), "/volumes")
        .iter()
        .find(|volume| volume["name"] == tmp["name"])
        .expect("the /tmp volume is declared");
    assert!(volume.get("emptyDir").is_some(), "/tmp is an emptyDir");
}

#[test]
fn the_portal_container_requests_and_limits_cpu_and_memory() {
    for section in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            let value = at(container(), &format!("/resources/{section}/{resource}"));
            assert!(value.is_string() || value.is_number(), "{section}.{resource} is set");
        }
    }
}

#[test]
fn the_probes_check_livez_and_readyz_on_the_http_port() {
    for (probe, path) in
        [("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")]
    {
        let probe_spec = at(container(), &format!("/{probe}"));
        assert_eq!(text_at(probe_spec, "/httpGet/path"), path, "{probe}");
        assert_eq!(container_port(at(probe_spec, "/httpGet/port")), HTTP_PORT, "{probe}");
    }
}

#[test]
fn the_termination_grace_period_outlasts_the_portal_shutdown_grace() {
    let shutdown_grace: u64 = config_map_data()
        .get("TWISTERLAB_SHUTDOWN_GRACE")
        .map_or(30, |v| v.parse().expect("TWISTERLAB_SHUTDOWN_GRACE is a number of seconds"));
    let termination_grace = number_at(pod_spec(), "/terminationGracePeriodSeconds");
    assert!(
        termination_grace > shutdown_grace,
        "terminationGracePeriodSeconds ({termination_grace}) must exceed TWISTERLAB_SHUTDOWN_GRACE ({shutdown_grace})"
    );
}

#[test]
fn the_portal_takes_its_environment_from_the_config_map_and_the_secret() {
    let env_from = array_at(container(), "/envFrom");
    let config_maps: Vec<&Value> = env_from.iter().filter_map(|e| e.pointer("/configMapRef/name")).collect();
    let secrets: Vec<&Value> = env_from.iter().filter_map(|e| e.pointer("/secretRef/name")).collect();
    assert_eq!(config_maps, [at(one("ConfigMap"), "/metadata/name")]);
    assert_eq!(secrets, [at(one("Secret"), "/metadata/name")]);
    assert_eq!(text_at(one("ConfigMap"), "/metadata/name"), "twisterlab-portal-config");
    assert_eq!(text_at(one("Secret"), "/metadata/name"), "twisterlab-portal-secrets");
}

#[test]
fn the_config_map_holds_container_settings_and_no_secret() {
    let data = config_map_data();
    for (key, value) in &data {
        assert!(key.starts_with("TWISTERLAB_"), "{key} is not a portal setting");
        for secret in ["PASSWORD", "WEBHOOK", "ROUTING_KEY", "TOKEN", "DATABASE_URL", "PROMETHEUS_URL"] {
            assert!(!key.contains(secret), "{key} belongs in the Secret");
        }
        assert!(!value.contains("://") || !value.contains('@'), "{key} looks like a URL with credentials");
    }
    let expect = |key: &str, value: &str| assert_eq!(data.get(key).map(String::as_str), Some(value), "{key}");
    expect("TWISTERLAB_BIND", "0.0.0.0:8080");
    expect("TWISTERLAB_LOG_FORMAT", "json");
    expect("TWISTERLAB_KUBE_NAMESPACE", NAMESPACE);
    expect("TWISTERLAB_STATUS_HOST", STATUS_HOST);
    expect("TWISTERLAB_PUBLIC_URL", &format!("https://{OPS_HOST}"));
}

#[test]
fn the_example_secret_holds_only_change_me_placeholders() {
    let secret = one("Secret");
    assert!(secret.get("data").is_none(), "placeholders are readable stringData, never base64 data");
    let values = string_map(secret, "/stringData");
    assert!(values.contains_key("DATABASE_URL"), "the portal needs DATABASE_URL");
    for (key, value) in &values {
        assert!(
            value.contains("CHANGE-ME"),
            "{key} looks like a real value; the example holds placeholders only"
        );
    }
    assert!(
        !values.contains_key("TWISTERLAB_ADMIN_PASSWORD"),
        "a placeholder admin password would become a real, known one"
    );
}

/// The rendered Role grants exactly the adapter's requests (`twisterlab_k8s::API_REQUESTS`,
/// also compared with the source in the adapter's own tests), with resourceNames only where
/// the adapter limits a request to named objects.
#[test]
fn the_role_grants_exactly_the_adapters_requests_and_nothing_else() {
    let role = one("Role");
    let mut granted = BTreeMap::new();
    for rule in array_at(role, "/rules") {
        assert!(rule.get("nonResourceURLs").is_none(), "{rule}");
        let names: BTreeSet<String> = rule
            .get("resourceNames")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|n| n.as_str().unwrap_or_else(|| panic!("resourceNames are strings: {rule}")).to_owned())
            .collect();
        for group in array_at(rule, "/apiGroups") {
            for resource in array_at(rule, "/resources") {
                for verb in array_at(rule, "/verbs") {
                    let triple = (group.as_str(), resource.as_str(), verb.as_str());
                    let (Some(group), Some(resource), Some(verb)) = triple else {
                        panic!("rule entries are strings: {rule}");
                    };
                    assert!(!group.contains('*') && !resource.contains('*') && !verb.contains('*'), "{rule}");
                    if resource == "secrets" {
                        assert!(verb == "get" && !names.is_empty(), "secrets are read by name only: {rule}");
                    }
                    granted.insert((group.to_owned(), resource.to_owned(), verb.to_owned()), names.clone());
                }
            }
        }
    }

    let expected: BTreeMap<(String, String, String), BTreeSet<String>> = twisterlab_k8s::API_REQUESTS
        .iter()
        .map(|r| {
            (
                (r.group.to_owned(), r.resource.to_owned(), r.verb.to_owned()),
                r.resource_names.iter().map(|n| (*n).to_owned()).collect(),
            )
        })
        .collect();
    let extra: Vec<_> = granted.keys().filter(|k| !expected.contains_key(*k)).collect();
    let missing: Vec<_> = expected.keys().filter(|k| !granted.contains_key(*k)).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "granted beyond the adapter's requests: {extra:?}; missing: {missing:?}"
    );
    assert_eq!(granted, expected, "resourceNames differ from the adapter's");
}

#[test]
fn the_role_is_bound_to_the_portal_service_account_only() {
    let binding = one("RoleBinding");
    assert_eq!(text_at(binding, "/roleRef/kind"), "Role");
    assert_eq!(text_at(binding, "/roleRef/name"), text_at(one("Role"), "/metadata/name"));
    let subjects = array_at(binding, "/subjects");
    assert_eq!(subjects.len(), 1, "one subject");
    assert_eq!(text_at(&subjects[0], "/kind"), "ServiceAccount");
    assert_eq!(text_at(&subjects[0], "/name"), text_at(one("ServiceAccount"), "/metadata/name"));
    assert_eq!(text_at(&subjects[0], "/namespace"), NAMESPACE);
}

#[test]
fn the_service_selects_the_portal_pods_and_forwards_port_80_to_8080() {
    let service = one("Service");
    assert_eq!(text_at(service, "/metadata/name"), APP);
    assert_eq!(service.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP"), "ClusterIP");
    let selector = string_map(service, "/spec/selector");
    assert!(!selector.is_empty() && is_subset(&selector, &pod_labels()), "{selector:?} selects the pods");
    let ports = array_at(service, "/spec/ports");
    assert_eq!(ports.len(), 1);
    assert_eq!(number_at(&ports[0], "/port"), 80);
    assert_eq!(container_port(at(&ports[0], "/targetPort")), HTTP_PORT);
}

#[test]
fn the_ingress_routes_both_hosts_to_the_service() {
    let ingress = one("Ingress");
    assert_eq!(text_at(ingress, "/apiVersion"), "networking.k8s.io/v1");
    assert_eq!(text_at(ingress, "/spec/ingressClassName"), "nginx");
    let service = one("Service");
    let service_port = &array_at(service, "/spec/ports")[0];
    let mut hosts = BTreeSet::new();
    for rule in array_at(ingress, "/spec/rules") {
        hosts.insert(text_at(rule, "/host"));
        let paths = array_at(rule, "/http/paths");
        assert!(!paths.is_empty(), "{rule}");
        for path in paths {
            assert_eq!(at(path, "/backend/service/name"), at(service, "/metadata/name"));
            let port = at(path, "/backend/service/port");
            assert!(
                port.get("number") == service_port.get("port")
                    || port.get("name") == service_port.get("name"),
                "{port} is the Service's port"
            );
        }
    }
    assert_eq!(hosts, BTreeSet::from([STATUS_HOST, OPS_HOST]));
}

#[test]
fn the_autoscaler_keeps_two_to_six_replicas_on_cpu() {
    let hpa = one("HorizontalPodAutoscaler");
    assert_eq!(text_at(hpa, "/apiVersion"), "autoscaling/v2");
    assert_eq!(text_at(hpa, "/spec/scaleTargetRef/kind"), "Deployment");
    assert_eq!(text_at(hpa, "/spec/scaleTargetRef/name"), text_at(deployment(), "/metadata/name"));
    let min = number_at(hpa, "/spec/minReplicas");
    let max = number_at(hpa, "/spec/maxReplicas");
    assert!(min >= 2, "minReplicas {min} leaves no spare pod");
    assert!(max >= min);
    assert_eq!((min, max), (2, 6));
    let cpu = array_at(hpa, "/spec/metrics")
        .iter()
        .find(|metric| metric.pointer("/resource/name") == Some(&Value::from("cpu")))
        .expect("a CPU metric");
    assert_eq!(number_at(cpu, "/resource/target/averageUtilization"), 70);
    assert!(
        container().pointer("/resources/requests/cpu").is_some(),
        "CPU utilization is relative to the request"
    );
}

#[test]
fn the_disruption_budget_keeps_one_portal_pod() {
    let pdb = one("PodDisruptionBudget");
    assert_eq!(text_at(pdb, "/apiVersion"), "policy/v1");
    assert_eq!(number_at(pdb, "/spec/minAvailable"), 1);
    let selector = string_map(pdb, "/spec/selector/matchLabels");
    assert!(!selector.is_empty() && is_subset(&selector, &pod_labels()), "{selector:?} selects the pods");
}

/// Whether NetworkPolicy rules let `protocol`/`port` through (a rule without ports allows all).
fn allows(rules: &[Value], protocol: &str, port: u64) -> bool {
    rules.iter().any(|rule| match rule.get("ports").and_then(Value::as_array) {
        None => true,
        Some(ports) => ports.iter().any(|p| {
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            let first = p.get("port").map(container_port);
            let last = p.get("endPort").and_then(Value::as_u64).or(first);
            proto == protocol && first.is_none_or(|first| (first..=last.unwrap_or(first)).contains(&port))
        }),
    })
}

#[test]
fn the_network_policy_admits_http_and_lets_out_dns_postgres_and_https() {
    let policy = one("NetworkPolicy");
    let selector = string_map(policy, "/spec/podSelector/matchLabels");
    assert!(!selector.is_empty() && is_subset(&selector, &pod_labels()), "{selector:?} selects the pods");
    let types: BTreeSet<&str> =
        array_at(policy, "/spec/policyTypes").iter().filter_map(Value::as_str).collect();
    assert_eq!(types, BTreeSet::from(["Ingress", "Egress"]));

    let ingress = array_at(policy, "/spec/ingress");
    assert!(allows(ingress, "TCP", HTTP_PORT), "the portal's port is reachable");
    let egress = array_at(policy, "/spec/egress");
    for (protocol, port) in [("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 443)] {
        assert!(allows(egress, protocol, port), "egress to {port}/{protocol}");
    }
    assert!(!allows(egress, "TCP", 22), "egress is not wide open");
}

/// docker-compose.yml as JSON.
fn compose() -> Value {
    let mut documents = parse_yaml_stream(&read("docker-compose.yml"), "docker-compose.yml");
    assert_eq!(documents.len(), 1, "docker-compose.yml is one document");
    documents.remove(0)
}

/// A service's environment as a map, whether written as a map or as a `KEY=value` list.
/// A key without a value (passed through from the shell) maps to None.
fn compose_environment(service: &Value) -> BTreeMap<String, Option<String>> {
    match service.get("environment") {
        None => BTreeMap::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                (key.clone(), value)
            })
            .collect(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|entry| {
                let entry = entry.as_str().expect("environment entries are strings");
                match entry.split_once('=') {
                    Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
                    None => (entry.to_owned(), None),
                }
            })
            .collect(),
        Some(other) => panic!("environment is neither a map nor a list: {other}"),
    }
}

/// A command as its words, whether written as a list or as a string.
fn compose_command(service: &Value) -> Vec<String> {
    match service.get("command") {
        Some(Value::Array(words)) => words.iter().map(|w| w.as_str().expect("a word").to_owned()).collect(),
        Some(Value::String(line)) => line.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn as_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => {
            items.iter().map(|i| i.as_str().unwrap_or_default().to_owned()).collect()
        }
        Some(Value::String(item)) => vec![item.clone()],
        _ => Vec::new(),
    }
}

#[test]
fn compose_runs_postgres_the_portal_and_the_demo_target() {
    let compose = compose();
    let services: BTreeSet<&str> =
        at(&compose, "/services").as_object().expect("services").keys().map(String::as_str).collect();
    assert_eq!(services, BTreeSet::from(["postgres", "portal", "demo-target"]));

    let postgres = at(&compose, "/services/postgres");
    assert!(text_at(postgres, "/image").starts_with("postgres:15"));
    let volume =
        as_list(postgres.get("volumes")).into_iter().next().expect("postgres keeps its data in a volume");
    let volume_name = volume.split(':').next().expect("a volume name");
    assert!(at(&compose, "/volumes").get(volume_name).is_some(), "{volume_name} is a named volume");

    for name in ["portal", "demo-target"] {
        let service = at(&compose, &format!("/services/{name}"));
        let build = service.get("build").expect("built from the Dockerfile");
        let context = build.as_str().or_else(|| build.get("context").and_then(Value::as_str));
        assert_eq!(context, Some("."), "{name} builds the workspace's Dockerfile");
    }
    assert_eq!(
        at(&compose, "/services/portal/image"),
        at(&compose, "/services/demo-target/image"),
        "one image for both"
    );
    assert_eq!(
        compose_command(at(&compose, "/services/demo-target")),
        ["demo-target", "--bind", "0.0.0.0:9000"]
    );
    assert_eq!(as_list(compose.pointer("/services/demo-target/ports")), ["127.0.0.1:9000:9000"]);
}

#[test]
fn the_compose_portal_starts_once_postgres_is_healthy() {
    let compose = compose();
    let check = as_list(compose.pointer("/services/postgres/healthcheck/test")).join(" ");
    assert!(check.contains("pg_isready"), "postgres reports its health with pg_isready: {check}");
    let portal = at(&compose, "/services/portal");
    assert_eq!(text_at(portal, "/depends_on/postgres/condition"), "service_healthy");

    let environment = compose_environment(portal);
    let database_url = environment.get("DATABASE_URL").cloned().flatten().expect("DATABASE_URL is set");
    assert!(database_url.starts_with("postgres://") && database_url.contains("@postgres:5432/"));
    assert_eq!(as_list(portal.get("ports")), ["127.0.0.1:8080:8080"]);
    assert_eq!(portal.get("read_only"), Some(&Value::Bool(true)));
    assert!(as_list(portal.get("tmpfs")).iter().any(|t| t == "/tmp" || t.starts_with("/tmp:")));
}

/// Whether a compose value for `var` is empty or an interpolation of `var` with no default.
fn has_no_default(value: Option<&str>, var: &str) -> bool {
    let Some(value) = value else { return true };
    if value.is_empty() {
        return true;
    }
    let inner = value.strip_prefix("${").and_then(|v| v.strip_suffix('}')).and_then(|v| v.strip_prefix(var));
    matches!(inner, Some(rest) if rest.is_empty() || rest == ":-" || rest == "-" || rest.starts_with(":?") || rest.starts_with('?'))
}

#[test]
fn the_compose_file_has_no_default_admin_password() {
    let compose = compose();
    for (name, service) in at(&compose, "/services").as_object().expect("services") {
        for (key, value) in compose_environment(service) {
            if key.contains("ADMIN_PASSWORD") {
                assert!(
                    has_no_default(value.as_deref(), &key),
                    "{name}: {key} = {value:?} gives the admin a password nobody chose"
                );
            }
        }
    }
    let portal = compose_environment(at(&compose, "/services/portal"));
    assert!(
        portal.contains_key("TWISTERLAB_ADMIN_PASSWORD"),
        "the portal takes the admin password from the shell"
    );
}

#[test]
fn every_compose_port_is_published_on_the_loopback_address_only() {
    let compose = compose();
    for (name, service) in at(&compose, "/services").as_object().expect("services") {
        for port in as_list(service.get("ports")) {
            assert!(port.starts_with("127.0.0.1:"), "{name} publishes {port} beyond this machine");
        }
    }
}

/// The Dockerfile's instructions: (keyword in upper case, arguments), continuations joined.
fn dockerfile() -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            current.push_str(continued);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (keyword, arguments) = current.split_once(char::is_whitespace).unwrap_or((&current, ""));
        instructions.push((keyword.to_ascii_uppercase(), arguments.trim().to_owned()));
        current.clear();
    }
    assert!(current.is_empty(), "the Dockerfile ends inside a continued line");
    instructions
}

/// The instructions of the last stage (from its FROM on).
fn final_stage(instructions: &[(String, String)]) -> &[(String, String)] {
    let start = instructions.iter().rposition(|(keyword, _)| keyword == "FROM").expect("a FROM");
    &instructions[start..]
}

#[test]
fn the_dockerfile_builds_with_rust_and_runs_on_debian_slim() {
    let instructions = dockerfile();
    let stages: Vec<&str> =
        instructions.iter().filter(|(keyword, _)| keyword == "FROM").map(|(_, args)| args.as_str()).collect();
    assert!(stages.len() >= 2, "multi-stage: {stages:?}");
    assert!(stages[0].starts_with("rust:1.95-bookworm"), "builder: {}", stages[0]);
    assert!(stages.last().is_some_and(|s| s.starts_with("debian:bookworm-slim")), "runtime: {stages:?}");

    let build = instructions
        .iter()
        .find(|(keyword, args)| keyword == "RUN" && args.contains("cargo build"))
        .map(|(_, args)| args)
        .expect("a cargo build step");
    for flag in ["--release", "--locked", "twisterlab-server"] {
        assert!(build.contains(flag), "the build uses {flag}: {build}");
    }

    let runtime = final_stage(&instructions);
    assert!(
        runtime.iter().any(|(keyword, args)| keyword == "COPY" && args.contains("--from=")),
        "the runtime copies the binary from the builder"
    );
    assert!(
        !runtime.iter().any(|(keyword, args)| keyword == "RUN" && args.contains("cargo")),
        "no Rust toolchain in the runtime stage"
    );
    let has = |keyword: &str, args: &str| runtime.iter().any(|(k, a)| k == keyword && a.contains(args));
    assert!(has("EXPOSE", "8080"));
    assert!(has("ENV", "TWISTERLAB_BIND=0.0.0.0:8080"));
    assert!(has("ENV", "TWISTERLAB_LOG_FORMAT=json"));
    assert!(has("ENTRYPOINT", r#"["/usr/local/bin/twisterlab-portal"]"#));
    assert!(has("CMD", r#"["serve"]"#));
}

#[test]
fn the_dockerfile_runs_the_portal_as_a_non_root_user() {
    let instructions = dockerfile();
    let runtime = final_stage(&instructions);
    let user = runtime
        .iter()
        .rev()
        .find(|(keyword, _)| keyword == "USER")
        .map(|(_, args)| args.as_str())
        .expect("the runtime stage sets a USER");
    let uid = user.split(':').next().unwrap_or_default();
    assert!(uid != "root" && uid != "0" && !uid.is_empty(), "the image runs as {user}");
    assert_eq!(user, "10001:10001", "the uid the Kubernetes securityContext expects");
}

#[test]
fn the_docker_build_context_leaves_out_target_git_and_local_state() {
    let ignored: BTreeSet<String> = read(".dockerignore")
        .lines()
        .map(|line| line.trim().trim_start_matches('/').trim_end_matches('/').to_owned())
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    for path in ["target", ".git", ".twisterlab"] {
        assert!(ignored.contains(path), ".dockerignore leaves out {path}: {ignored:?}");
    }
}

#[test]
fn the_deployed_portal_trusts_forwarded_for_only_from_the_ingress_network() {
    let data = config_map_data();
    assert!(!data.contains_key("TWISTERLAB_TRUST_FORWARDED_FOR"), "the old all-or-nothing switch is gone");
    let proxies = data.get("TWISTERLAB_TRUSTED_PROXIES").expect("the ingress network is a trusted proxy");
    let networks: Vec<&str> = proxies.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    assert!(!networks.is_empty(), "{proxies:?}");
    for network in networks {
        let (address, prefix) = network.split_once('/').unwrap_or_else(|| panic!("{network} is not a CIDR"));
        let address: std::net::IpAddr = address.parse().unwrap_or_else(|_| panic!("{network} is not a CIDR"));
        let prefix: u8 = prefix.parse().unwrap_or_else(|_| panic!("{network} is not a CIDR"));
        assert!(prefix >= 8, "{network} trusts far too much of the internet");
        assert!(!address.is_unspecified(), "{network} trusts everyone");
    }
}

#[test]
fn the_network_policy_admits_the_http_port_only_from_the_ingress_controller() {
    let ingress = array_at(one("NetworkPolicy"), "/spec/ingress");
    for rule in ingress.iter().filter(|rule| allows(std::slice::from_ref(rule), "TCP", HTTP_PORT)) {
        let from = rule.get("from").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        assert!(!from.is_empty(), "port {HTTP_PORT} is open to every source: {rule}");
        for peer in from {
            let namespace = string_map(peer, "/namespaceSelector/matchLabels");
            let pods = string_map(peer, "/podSelector/matchLabels");
            assert_eq!(
                namespace.get("kubernetes.io/metadata.name").map(String::as_str),
                Some("ingress-nginx"),
                "only the ingress controller's namespace: {peer}"
            );
            assert!(!pods.is_empty(), "only the ingress controller's pods: {peer}");
            assert!(peer.get("ipBlock").is_none(), "no address ranges: {peer}");
        }
    }
}

#[test]
fn the_portal_image_is_pinned_and_the_namespace_enforces_restricted_pods() {
    let image = text_at(container(), "/image");
    let tag = image.rsplit_once(':').map(|(_, tag)| tag).unwrap_or("");
    assert!(!tag.is_empty() && tag != "latest" && !tag.contains('/'), "the image tag is pinned: {image}");
    let labels = string_map(one("Namespace"), "/metadata/labels");
    assert_eq!(
        labels.get("pod-security.kubernetes.io/enforce").map(String::as_str),
        Some("restricted"),
        "Pod Security is enforced, not only warned: {labels:?}"
    );
}

#[test]
fn probes_and_webhooks_cannot_reach_link_local_or_metadata_addresses() {
    let egress = array_at(one("NetworkPolicy"), "/spec/egress");
    for rule in egress {
        let dns_only = rule
            .get("ports")
            .and_then(Value::as_array)
            .is_some_and(|ports| ports.iter().all(|p| p.get("port").map(container_port) == Some(53)));
        if dns_only {
            continue; // a node-local DNS cache may live on a link-local address
        }
        let to = rule.get("to").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        assert!(!to.is_empty(), "egress to every address, link-local included: {rule}");
        for peer in to {
            let Some(block) = peer.get("ipBlock") else {
                assert!(peer.get("namespaceSelector").is_some(), "a peer is addresses or pods: {peer}");
                continue;
            };
            let cidr = block.get("cidr").and_then(Value::as_str).unwrap_or("");
            let except: Vec<&str> = block
                .get("except")
                .and_then(Value::as_array)
                .map(|e| e.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let link_local = if cidr.contains(':') { "fe80::/10" } else { "169.254.0.0/16" };
            assert!(except.contains(&link_local), "link-local (cloud metadata) is excepted: {peer}");
        }
    }
}
