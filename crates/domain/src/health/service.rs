//! A probed service's state: how one probe moves it (up, failing, down after a threshold of
//! failures in a row) and the uptime of its checks.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a probed service stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Not probed yet (new, or disabled since its creation).
    Unknown,
    /// The last probe succeeded.
    Up,
    /// The last probes failed, fewer times in a row than the threshold.
    Failing,
    /// At least the threshold of consecutive failures; stays down until a probe succeeds.
    Down,
}

impl ServiceState {
    /// Every state.
    pub const ALL: [ServiceState; 4] =
        [ServiceState::Unknown, ServiceState::Up, ServiceState::Failing, ServiceState::Down];

    /// The name stored in `health_service_state.state`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ServiceState::Unknown => "unknown",
            ServiceState::Up => "up",
            ServiceState::Failing => "failing",
            ServiceState::Down => "down",
        }
    }

    /// The state stored as `s` ([`ServiceState::as_str`]); `None` for anything else.
    pub fn parse(s: &str) -> Option<ServiceState> {
        ServiceState::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Words for people.
    pub const fn label(self) -> &'static str {
        match self {
            ServiceState::Unknown => "not checked yet",
            ServiceState::Up => "healthy",
            ServiceState::Failing => "failing",
            ServiceState::Down => "down",
        }
    }

    /// Sort key: what needs action first (down, failing, unknown, up).
    pub const fn urgency(self) -> u8 {
        match self {
            ServiceState::Down => 0,
            ServiceState::Failing => 1,
            ServiceState::Unknown => 2,
            ServiceState::Up => 3,
        }
    }
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A service's state before and after one probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub from: ServiceState,
    pub to: ServiceState,
    /// Consecutive failures after the probe (0 after a success).
    pub consecutive_failures: i32,
}

impl Step {
    /// The service just crossed its threshold: degrade the component, maybe open an incident.
    pub fn went_down(&self) -> bool {
        self.to == ServiceState::Down && self.from != ServiceState::Down
    }

    /// The service answered correctly again after being down.
    pub fn recovered(&self) -> bool {
        self.from == ServiceState::Down && self.to == ServiceState::Up
    }

    /// The state changed (its "since" moves).
    pub fn changed(&self) -> bool {
        self.from != self.to
    }
}

/// The state after a probe. `failures` consecutive failures before it; `threshold` failures in
/// a row make the service down. Once down, only a success brings it back (raising the threshold
/// while down does not).
pub fn step(from: ServiceState, failures: i32, ok: bool, threshold: i32) -> Step {
    if ok {
        return Step { from, to: ServiceState::Up, consecutive_failures: 0 };
    }
    let n = failures.saturating_add(1);
    let to = if from == ServiceState::Down || n >= threshold.max(1) {
        ServiceState::Down
    } else {
        ServiceState::Failing
    };
    Step { from, to, consecutive_failures: n }
}

/// Whether a service counts against its status-page component after a probe: from the moment
/// it goes down until `passes_before_up` checks in a row have passed again (`passes` counts them,
/// this probe included; 0 after a failure). A service that flaps between failing and passing
/// therefore neither turns its component before `failures_before_down` failures nor clears it
/// before the passes: the public page does not flap.
pub fn counts_down(was: bool, step: &Step, passes: i32, passes_before_up: i32) -> bool {
    if step.to == ServiceState::Down {
        true
    } else if was {
        passes < passes_before_up.max(1)
    } else {
        false
    }
}

/// The share of passed checks: "99.86 %", "100 %" only when none failed, "–" without checks.
pub fn uptime_text(checks: i32, successes: i32) -> String {
    if checks <= 0 {
        return "–".into();
    }
    if successes >= checks {
        return "100 %".into();
    }
    let share = f64::from(successes) / f64::from(checks) * 100.0;
    format!("{share:.2} %")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn three_failures_in_a_row_make_a_service_down_and_one_success_brings_it_back() {
        let s1 = step(ServiceState::Up, 0, false, 3);
        assert_eq!((s1.to, s1.consecutive_failures), (ServiceState::Failing, 1));
        let s2 = step(s1.to, s1.consecutive_failures, false, 3);
        assert_eq!(s2.to, ServiceState::Failing);
        let s3 = step(s2.to, s2.consecutive_failures, false, 3);
        assert!(s3.went_down());
        let s4 = step(s3.to, s3.consecutive_failures, false, 3);
        assert_eq!(s4.to, ServiceState::Down);
        assert!(!s4.went_down(), "already down: no second signal");
        let s5 = step(s4.to, s4.consecutive_failures, true, 3);
        assert!(s5.recovered());
        assert_eq!(s5.consecutive_failures, 0);
    }

    #[test]
    fn a_threshold_of_one_goes_down_at_the_first_failure_even_unprobed() {
        assert!(step(ServiceState::Unknown, 0, false, 1).went_down());
        assert_eq!(step(ServiceState::Unknown, 0, true, 1).to, ServiceState::Up);
    }

    #[test]
    fn a_flapping_service_keeps_counting_down_until_enough_checks_pass_in_a_row() {
        let down = step(ServiceState::Failing, 2, false, 3);
        assert!(counts_down(false, &down, 0, 2));
        let pass = step(down.to, down.consecutive_failures, true, 3);
        assert!(counts_down(true, &pass, 1, 2), "one pass of two");
        let fail = step(pass.to, 0, false, 3);
        assert_eq!(fail.to, ServiceState::Failing);
        assert!(counts_down(true, &fail, 0, 2), "a failure in between starts the count again");
        let pass = step(fail.to, 1, true, 3);
        assert!(counts_down(true, &pass, 1, 2));
        assert!(!counts_down(true, &pass, 2, 2), "two passes in a row: recovered");
        let failing = step(ServiceState::Up, 0, false, 3);
        assert!(!counts_down(false, &failing, 0, 2), "failing below the threshold never counts");
    }

    #[test]
    fn a_down_service_stays_down_when_the_threshold_is_raised() {
        assert_eq!(step(ServiceState::Down, 3, false, 10).to, ServiceState::Down);
    }

    #[test]
    fn states_round_trip_through_their_stored_names() {
        for state in ServiceState::ALL {
            assert_eq!(ServiceState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ServiceState::parse("sideways"), None);
    }

    #[test]
    fn uptime_is_a_share_of_checks_and_100_only_without_failures() {
        assert_eq!(uptime_text(4, 3), "75.00 %");
        assert_eq!(uptime_text(3, 2), "66.67 %");
        assert_eq!(uptime_text(10_000, 9_999), "99.99 %");
        assert_eq!(uptime_text(5, 5), "100 %");
        assert_eq!(uptime_text(0, 0), "–");
    }

    proptest! {
        #[test]
        fn a_success_always_brings_a_service_up_and_a_failure_never_does(
            from in prop::sample::select(ServiceState::ALL.to_vec()),
            failures in 0..200_i32,
            threshold in -5..150_i32,
            ok in any::<bool>(),
        ) {
            let s = step(from, failures, ok, threshold);
            prop_assert_eq!(s.to == ServiceState::Up, ok);
            prop_assert_eq!(s.consecutive_failures == 0, ok);
            prop_assert!(!(s.went_down() && s.recovered()));
        }
    }
}
