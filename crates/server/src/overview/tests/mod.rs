//! Tests of the health overview against real things: the demo target in every mode, a real
//! Prometheus, a fake Kubernetes API server through a real kube client, and real Postgres.

mod admin;
mod components;
mod kube;
mod metrics;
mod next_steps;
mod pages;
mod probe;
mod quiet_start;
mod scheduler;
mod test_now;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::oneshot;

use crate::testing::builders::{self, ServiceBuilder};
use twisterlab_demo_target::{self as demo_target, DemoTargetOptions};

/// The runbook's expected `/health` fields.
pub fn runbook_expect() -> BTreeMap<String, Value> {
    [("/status", "healthy"), ("/database", "connected"), ("/redis", "connected"), ("/agents", "operational")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect()
}

/// A demo target on 127.0.0.1:0, stopped when dropped.
pub struct Demo {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    http: reqwest::Client,
}

impl Demo {
    /// Starts one; `slow` is the delay of its `slow` mode.
    pub async fn start(slow: Duration) -> Demo {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the demo target");
        let addr = listener.local_addr().expect("demo target address");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(demo_target::serve(listener, DemoTargetOptions { slow_delay: slow }, async move {
            let _ = stopped.await;
        }));
        Demo { addr, stop: Some(stop), http: reqwest::Client::new() }
    }

    pub fn health_url(&self) -> String {
        format!("http://{}/health", self.addr)
    }

    /// Switches the mode like `curl -d down http://…/mode`.
    pub async fn mode(&self, mode: &str) {
        let answer = self
            .http
            .post(format!("http://{}/mode", self.addr))
            .body(mode.to_owned())
            .send()
            .await
            .expect("POST /mode");
        assert!(answer.status().is_success(), "mode {mode}: {}", answer.status());
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves `app` on 127.0.0.1:0.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// Removes the seeded services, so tests probe only what they add.
pub async fn without_seeded_services(pool: &PgPool) {
    sqlx::query("delete from health_services").execute(pool).await.expect("delete seeded services");
}

/// A service probing `url` every 5 s with the runbook's expectations, down after `failures`.
pub fn probing(name: &str, url: &str, failures: i32) -> ServiceBuilder {
    builders::service(name).url(url).expecting(runbook_expect()).down_after(failures)
}

/// Makes every service due now.
pub async fn make_due(pool: &PgPool) {
    sqlx::query("update health_service_state set next_run_at = now()").execute(pool).await.expect("make due");
}
