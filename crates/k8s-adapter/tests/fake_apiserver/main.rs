//! `KubeCluster` through a real `kube::Client` against a fake API server that speaks the
//! Kubernetes REST protocol over plain HTTP on 127.0.0.1.
//!
//! The fake (in `fake.rs`) records every request and refuses, like RBAC, any request that
//! `twisterlab_k8s::API_REQUESTS` does not list: every request made in these tests is
//! therefore one the Role grants. Reads are tested in `reads.rs`, changes and their dry
//! runs in `changes.rs`, refusals, failures and hangs in `faults.rs`.

mod changes;
mod fake;
mod faults;
mod reads;

use axum::http::Method;
use twisterlab_k8s::{Cluster, ClusterError, KubeCluster};

use crate::fake::{Fake, NS, cluster_at, listed};

// ---------------------------------------------------------------------------------------
// The fake refuses what the Role does not grant
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_fake_refuses_like_rbac_every_request_missing_from_the_table() {
    let fake = Fake::incident_night();
    let addr = fake.serve().await;
    let cluster = cluster_at(addr);
    let client = kube::Client::try_from(kube::Config::new(format!("http://{addr}").parse().expect("url")))
        .expect("client");
    // Replica sets were granted once and never used: no longer.
    let replica_sets: kube::Api<k8s_openapi::api::apps::v1::ReplicaSet> =
        kube::Api::namespaced(client.clone(), NS);
    let err = replica_sets.list(&Default::default()).await.expect_err("not granted");
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 403), "{err:?}");
    // Reading the portal's own Secret is refused by name even where the adapter would try.
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(client, NS);
    let err = secrets.get("twisterlab-portal-secrets").await.expect_err("not granted");
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 403), "{err:?}");
    assert!(cluster.deployments().await.is_ok(), "listed requests pass");
}

#[test]
fn the_table_is_what_the_fake_enforces() {
    let ns = format!("/api/v1/namespaces/{NS}");
    assert!(listed(&Method::GET, &format!("{ns}/pods"), ""));
    assert!(!listed(&Method::GET, &format!("{ns}/pods"), "watch=true"));
    assert!(listed(&Method::GET, &format!("{ns}/pods/api-1/log"), ""));
    assert!(!listed(&Method::DELETE, &format!("{ns}/pods/api-1"), ""));
    assert!(listed(&Method::GET, &format!("{ns}/secrets/twisterlab-secrets"), ""));
    assert!(!listed(&Method::GET, &format!("{ns}/secrets"), ""));
    assert!(listed(
        &Method::DELETE,
        &format!("/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses/web"),
        ""
    ));
    assert!(!listed(&Method::PUT, &format!("/apis/apps/v1/namespaces/{NS}/deployments/api/scale"), ""));
}

// ---------------------------------------------------------------------------------------
// Finding the cluster (kubeconfig / in-cluster); each runs in a child process because
// the environment cannot be changed safely inside a multi-threaded test process.
// ---------------------------------------------------------------------------------------

const CHILD_MARKER: &str = "TWISTERLAB_K8S_TEST_CHILD";

/// Runs the `#[ignore]`d test `name` of this binary in a child process with `KUBECONFIG`
/// set to `kubeconfig` and no in-cluster environment, and asserts that it passed.
async fn run_child(name: &str, kubeconfig: &std::path::Path) {
    let exe = std::env::current_exe().expect("test binary path");
    let output = tokio::process::Command::new(exe)
        .args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"])
        .env("KUBECONFIG", kubeconfig)
        .env(CHILD_MARKER, "1")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .await
        .expect("run the child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child test {name} failed:\n{stdout}\n{stderr}"
    );
}

fn is_child() -> bool {
    let child = std::env::var_os(CHILD_MARKER).is_some();
    if !child {
        eprintln!("helper of another test: runs only in the child process that test starts");
    }
    child
}

fn scratch_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("twisterlab-k8s-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[tokio::test]
async fn infer_without_kubeconfig_or_service_account_is_not_configured() {
    let missing = scratch_dir("no-config").join("no-such-kubeconfig");
    run_child("child_infer_finds_no_configuration", &missing).await;
}

#[tokio::test]
#[ignore = "helper: run in a child process by infer_without_kubeconfig_or_service_account_is_not_configured"]
async fn child_infer_finds_no_configuration() {
    if !is_child() {
        return;
    }
    let err = KubeCluster::infer(None).await.expect_err("nothing to find");
    assert!(matches!(err, ClusterError::NotConfigured(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("no cluster configured: found neither a kubeconfig"), "{text}");
}

#[tokio::test]
async fn infer_uses_the_kubeconfig_and_its_context_namespace() {
    let fake = Fake::incident_night();
    let addr = fake.serve().await;
    let dir = scratch_dir("kubeconfig");
    let kubeconfig = dir.join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: fake\n  cluster:\n    server: http://{addr}\n\
             users:\n- name: portal\n  user: {{}}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: portal\n    namespace: {NS}\n\
             current-context: fake\n"
        ),
    )
    .expect("write kubeconfig");
    run_child("child_infer_reads_the_kubeconfig", &kubeconfig).await;
    let _ = std::fs::remove_dir_all(dir);
    assert!(
        fake.requests().contains(&format!("GET /apis/apps/v1/namespaces/{NS}/deployments?")),
        "{:?}",
        fake.requests()
    );
}

#[tokio::test]
#[ignore = "helper: run in a child process by infer_uses_the_kubeconfig_and_its_context_namespace"]
async fn child_infer_reads_the_kubeconfig() {
    if !is_child() {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cluster = KubeCluster::infer(None).await.expect("kubeconfig found");
    assert_eq!(cluster.namespace(), Some(NS));
    assert_eq!(cluster.timeout(), twisterlab_k8s::DEFAULT_TIMEOUT);
    let deployments = cluster.deployments().await.expect("deployments through the kubeconfig");
    assert_eq!(deployments.len(), 2);

    let other = KubeCluster::infer(Some("staging")).await.expect("kubeconfig found");
    assert_eq!(other.namespace(), Some("staging"));
}
