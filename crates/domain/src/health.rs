//! Health: reports in the reference runbook's `/health` shape
//! (`{"status":"healthy","database":"connected","redis":"connected","agents":"operational"}`),
//! and the rules of the health overview — judging a probe's answer, a service's state after a
//! probe, a key metric against its threshold, and the overall verdict.
//!
//! Everything is re-exported here; the submodules only split the file.

mod metric;
mod overall;
mod probe;
mod service;

use serde::{Deserialize, Serialize};

pub use metric::{
    Direction, MetricChange, MetricSignal, MetricState, Unit, metric_state, signal_label, step_signal,
};
pub use overall::{Overall, Picture};
pub use probe::{Answer, Failure, FailureKind, excerpt, judge_answer, status_line};
pub use service::{ServiceState, Step, counts_down, step, uptime_text};

/// Overall state of a service as its `/health` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

/// State of one dependency (`database`, `redis`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Connection {
    Connected,
    Disconnected,
}

/// State of the agent fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentsState {
    Operational,
    Degraded,
    Down,
}

/// A TwisterLab service's `/health` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    pub status: HealthStatus,
    pub database: Connection,
    pub redis: Connection,
    pub agents: AgentsState,
}

impl HealthReport {
    /// Everything up.
    pub fn healthy() -> Self {
        Self {
            status: HealthStatus::Healthy,
            database: Connection::Connected,
            redis: Connection::Connected,
            agents: AgentsState::Operational,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_healthy_report_has_the_runbook_shape() {
        let json = serde_json::to_value(HealthReport::healthy()).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({"status":"healthy","database":"connected","redis":"connected","agents":"operational"})
        );
    }
}
