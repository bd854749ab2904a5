//! The overview's verdict: one overall state and a few words on what is wrong, rolled up from
//! the services' states, the key metrics' states and the pods with a problem.

use super::metric::MetricState;
use super::service::ServiceState;

/// The one-line verdict at the top of the overview.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overall {
    /// Every probed service up, every metric ok, no pod problem.
    Healthy,
    /// Something fails or breaches, but no service is down.
    Degraded,
    /// At least one service is down.
    Down,
    /// Nothing is known yet (no service probed, no metric read).
    Unknown,
}

impl Overall {
    /// Words for people.
    pub const fn label(self) -> &'static str {
        match self {
            Overall::Healthy => "All systems healthy",
            Overall::Degraded => "Degraded",
            Overall::Down => "Outage",
            Overall::Unknown => "Not known yet",
        }
    }
}

/// What the overview knows at one moment. Issue-free sources are simply absent: a disabled
/// service is left out by the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Picture<'a> {
    /// Each enabled service's name and state.
    pub services: Vec<(&'a str, ServiceState)>,
    /// Each key metric's label and state.
    pub metrics: Vec<(&'a str, MetricState)>,
    /// Pods with a problem (OOMKilled, CrashLoopBackOff…).
    pub pod_problems: usize,
}

impl Picture<'_> {
    fn has_service(&self, state: ServiceState) -> bool {
        self.services.iter().any(|(_, s)| *s == state)
    }

    fn has_metric(&self, state: MetricState) -> bool {
        self.metrics.iter().any(|(_, s)| *s == state)
    }

    /// The overall state: outages first, then anything failing or breaching, then healthy as
    /// soon as one thing is known to be fine.
    pub fn overall(&self) -> Overall {
        if self.has_service(ServiceState::Down) {
            return Overall::Down;
        }
        if self.has_service(ServiceState::Failing)
            || self.has_metric(MetricState::Breach)
            || self.pod_problems > 0
        {
            return Overall::Degraded;
        }
        if self.has_service(ServiceState::Up) || self.has_metric(MetricState::Ok) {
            Overall::Healthy
        } else {
            Overall::Unknown
        }
    }

    /// What is wrong, in a few words, worst first ("api down; cache failing; Error rate over
    /// threshold; 2 pods with problems"); empty when nothing is.
    pub fn headline(&self) -> String {
        let services = |state: ServiceState| -> Vec<&str> {
            self.services.iter().filter(|(_, s)| *s == state).map(|(name, _)| *name).collect()
        };
        let mut what = vec![];
        let down = services(ServiceState::Down);
        if !down.is_empty() {
            what.push(format!("{} down", down.join(", ")));
        }
        let failing = services(ServiceState::Failing);
        if !failing.is_empty() {
            what.push(format!("{} failing", failing.join(", ")));
        }
        let breached: Vec<&str> =
            self.metrics.iter().filter(|(_, s)| *s == MetricState::Breach).map(|(label, _)| *label).collect();
        if !breached.is_empty() {
            what.push(format!("{} over threshold", breached.join(", ")));
        }
        if self.pod_problems > 0 {
            let plural = if self.pod_problems == 1 { "" } else { "s" };
            what.push(format!("{} pod{plural} with problems", self.pod_problems));
        }
        what.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MetricState as M;
    use ServiceState as S;

    fn picture<'a>(services: &[S], metrics: &[M], pod_problems: usize) -> Picture<'a> {
        Picture {
            services: services.iter().map(|s| ("svc", *s)).collect(),
            metrics: metrics.iter().map(|m| ("metric", *m)).collect(),
            pod_problems,
        }
    }

    #[test]
    fn the_overall_state_puts_outages_first() {
        assert_eq!(picture(&[S::Up, S::Down], &[M::Ok], 0).overall(), Overall::Down);
        assert_eq!(picture(&[S::Up], &[M::Breach], 0).overall(), Overall::Degraded);
        assert_eq!(picture(&[S::Up], &[M::Ok, M::Unknown], 2).overall(), Overall::Degraded);
        assert_eq!(picture(&[S::Up], &[M::Unknown], 0).overall(), Overall::Healthy);
        assert_eq!(picture(&[S::Unknown], &[M::Unknown], 0).overall(), Overall::Unknown);
        assert_eq!(Picture::default().overall(), Overall::Unknown);
    }

    #[test]
    fn the_headline_names_what_is_wrong_worst_first() {
        let p = Picture {
            services: vec![("api", S::Down), ("web", S::Up), ("cache", S::Failing), ("queue", S::Down)],
            metrics: vec![("Error rate", M::Breach), ("Memory", M::Ok), ("p95", M::Unknown)],
            pod_problems: 1,
        };
        assert_eq!(
            p.headline(),
            "api, queue down; cache failing; Error rate over threshold; 1 pod with problems"
        );
        assert_eq!(picture(&[], &[], 3).headline(), "3 pods with problems");
        assert_eq!(picture(&[S::Up], &[M::Ok], 0).headline(), "");
    }
}
