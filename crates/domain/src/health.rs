//! Health reports in the reference runbook's `/health` shape
//! (`{"status":"healthy","database":"connected","redis":"connected","agents":"operational"}`).

use serde::{Deserialize, Serialize};

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
