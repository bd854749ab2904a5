//! Demo mode (`serve --demo`): simulated TwisterLab services inside the portal process, the
//! demo services that probe them, and the admins' "break it" panel (`/admin/demo`) that sets
//! each one healthy, degraded, down, slow, garbage or hang — so a newcomer, or a team running a
//! drill, sees probes, declared incidents, escalation and the status page react.
//!
//! Each simulated service is a `twisterlab_demo_target` on its own loopback port chosen at
//! start. Without `--demo` nothing here runs: [`AppState::demo`](crate::state::AppState) is
//! `None`, the panel answers 404, the scheduler skips demo services and start-up disables any
//! an earlier demo run left enabled (`service::retire`).

pub(crate) mod panel;
pub(crate) mod service;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;
use twisterlab_demo_target::{DemoTarget, DemoTargetOptions};
use twisterlab_domain::incident::Impact;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;

use crate::auth::{Access, Routes};

/// The panel's routes; registered always, answering 404 unless the portal runs with `--demo`.
pub(crate) fn routes() -> Routes {
    let admin = Access::Role(Role::Admin);
    Routes::new().get("/admin/demo", admin, panel::show_panel).post(
        "/admin/demo/{name}/mode",
        admin,
        panel::switch_mode,
    )
}

/// Demo services probe every 5 s (the shortest interval a service may have) and are down after
/// two failed checks: a break shows on the overview within about ten seconds.
pub(crate) const INTERVAL_SECONDS: i32 = 5;
pub(crate) const TIMEOUT_MS: i32 = 2000;
pub(crate) const FAILURES_BEFORE_DOWN: i32 = 2;
/// Shorter than the probe timeout, so `slow` shows as a slow answer rather than a failure
/// (`hang` is the one that times out).
pub(crate) const SLOW_DELAY: Duration = Duration::from_millis(1500);

/// The modes the panel offers, with what a probe sees in each.
pub(crate) const MODES: [(&str, &str); 6] = [
    ("healthy", "200 with every dependency connected: the probe passes."),
    ("degraded", "200 saying status degraded, Redis disconnected: the expected fields do not match."),
    ("down", "503, database disconnected: the probe fails."),
    ("slow", "The healthy answer after 1.5 s, within the 2 s timeout: passes, slowly."),
    ("garbage", "200 with an HTML body: not JSON, the probe fails."),
    ("hang", "Never answers: each probe times out after 2 s."),
];

/// One of the simulated TwisterLab services and the demo service that probes it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blueprint {
    /// The demo service's name (`demo-…`, as the table requires of demo services).
    pub name: &'static str,
    /// What it stands for, in words.
    pub simulates: &'static str,
    /// Expected JSON fields of its `/health` answer.
    pub expect: &'static [(&'static str, &'static str)],
    /// The seeded status-page component it degrades when down (skipped if deleted since).
    pub component: uuid::Uuid,
    pub impact: Impact,
    pub open_incident: Option<Severity>,
}

/// The runbook's services, as the ready-made entries of migration 0006 describe them.
pub(crate) const BLUEPRINTS: [Blueprint; 3] = [
    Blueprint {
        name: "demo-twisterlab-api",
        simulates: "the TwisterLab API (twisterlab-api)",
        expect: &[
            ("/status", "healthy"),
            ("/database", "connected"),
            ("/redis", "connected"),
            ("/agents", "operational"),
        ],
        component: uuid::uuid!("0193a000-0000-7000-8000-000000000011"),
        impact: Impact::PartialOutage,
        open_incident: Some(Severity::P1),
    },
    Blueprint {
        name: "demo-mcp-unified",
        simulates: "the MCP tools server (mcp-unified)",
        expect: &[("/status", "healthy")],
        component: uuid::uuid!("0193a000-0000-7000-8000-000000000012"),
        impact: Impact::PartialOutage,
        open_incident: Some(Severity::P2),
    },
    Blueprint {
        name: "demo-ollama",
        simulates: "the LLM backend (ollama)",
        expect: &[],
        component: uuid::uuid!("0193a000-0000-7000-8000-000000000014"),
        impact: Impact::DegradedPerformance,
        open_incident: None,
    },
];

/// A running simulated service.
#[derive(Clone)]
pub(crate) struct SimulatedService {
    pub blueprint: Blueprint,
    pub addr: SocketAddr,
    pub target: DemoTarget,
}

impl SimulatedService {
    /// What its demo service probes.
    pub(crate) fn health_url(&self) -> String {
        format!("http://{}/health", self.addr)
    }
}

/// The simulated services of this process, running until the stop signal.
pub(crate) struct Simulated {
    services: Vec<SimulatedService>,
}

impl Simulated {
    /// Starts one simulated service per [`BLUEPRINTS`] entry on a free loopback port; each
    /// stops (releasing requests held by `hang`) when `stop` turns true or its sender is gone.
    pub(crate) async fn start(stop: watch::Receiver<bool>) -> std::io::Result<Self> {
        let mut services = Vec::with_capacity(BLUEPRINTS.len());
        for blueprint in BLUEPRINTS {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
            let addr = listener.local_addr()?;
            let target = DemoTarget::new(DemoTargetOptions { slow_delay: SLOW_DELAY });
            let mut stop = stop.clone();
            let serving = target.clone().serve(listener, async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            });
            tokio::spawn(async move {
                if let Err(e) = serving.await {
                    tracing::error!(error = %e, demo.service = blueprint.name, "a simulated demo service failed");
                }
            });
            services.push(SimulatedService { blueprint, addr, target });
        }
        Ok(Self { services })
    }

    pub(crate) fn services(&self) -> &[SimulatedService] {
        &self.services
    }

    pub(crate) fn len(&self) -> usize {
        self.services.len()
    }

    /// The simulated service behind the demo service `name`.
    pub(crate) fn find(&self, name: &str) -> Option<&SimulatedService> {
        self.services.iter().find(|s| s.blueprint.name == name)
    }
}
