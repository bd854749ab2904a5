//! A key metric against its threshold: which side is healthy, how its value reads, and its
//! state — unknown without a finite value, never "ok" by default.

use serde::{Deserialize, Serialize};

/// Which side of its threshold a key metric must stay on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Healthy while the value is below the threshold (latency, error rate).
    Below,
    /// Healthy while the value is above the threshold (success rate).
    Above,
}

impl Direction {
    /// `below`/`<` or `above`/`>`, as the configuration file writes it.
    pub fn parse(s: &str) -> Option<Direction> {
        match s.trim() {
            "below" | "<" => Some(Direction::Below),
            "above" | ">" => Some(Direction::Above),
            _ => None,
        }
    }

    pub const fn symbol(self) -> &'static str {
        match self {
            Direction::Below => "<",
            Direction::Above => ">",
        }
    }

    /// Whether `value` is on the healthy side of `threshold` (the threshold itself is not).
    pub fn healthy(self, value: f64, threshold: f64) -> bool {
        match self {
            Direction::Below => value < threshold,
            Direction::Above => value > threshold,
        }
    }

    /// The worse of two readings (several series answered one query).
    pub fn worse(self, a: f64, b: f64) -> f64 {
        match self {
            Direction::Below => a.max(b),
            Direction::Above => a.min(b),
        }
    }
}

/// How a key metric's value and threshold are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Seconds, shown as ms below 1 s.
    Seconds,
    /// A fraction 0–1, shown as a percentage.
    Ratio,
    /// A plain number.
    Number,
}

impl Unit {
    /// `seconds`/`s`, `ratio`/`percent`, `number` or empty, as the configuration file writes it.
    pub fn parse(s: &str) -> Option<Unit> {
        match s.trim() {
            "seconds" | "s" => Some(Unit::Seconds),
            "ratio" | "percent" => Some(Unit::Ratio),
            "number" | "" => Some(Unit::Number),
            _ => None,
        }
    }

    /// "412 ms", "1.20 s", "0.4 %", "97.1 %", "12.5".
    pub fn format(self, value: f64) -> String {
        match self {
            Unit::Seconds if value.abs() < 1.0 => format!("{:.0} ms", value * 1000.0),
            Unit::Seconds => format!("{value:.2} s"),
            Unit::Ratio => {
                let percent = value * 100.0;
                if percent != 0.0 && percent.abs() < 1.0 {
                    format!("{percent:.2} %")
                } else {
                    format!("{percent:.1} %")
                }
            }
            Unit::Number if value.fract() == 0.0 && value.abs() < 1e15 => format!("{value:.0}"),
            Unit::Number => format!("{value:.3}"),
        }
    }
}

/// A key metric's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricState {
    Ok,
    /// On the wrong side of its threshold.
    Breach,
    /// No trustworthy value: Prometheus unreachable, a query error, no data. Never "ok".
    Unknown,
}

impl MetricState {
    /// Words for people.
    pub const fn label(self) -> &'static str {
        match self {
            MetricState::Ok => "ok",
            MetricState::Breach => "over threshold",
            MetricState::Unknown => "unknown",
        }
    }
}

/// The state of a reading: unknown without a finite value.
pub fn metric_state(value: Option<f64>, direction: Direction, threshold: f64) -> MetricState {
    match value {
        Some(v) if v.is_finite() => {
            if direction.healthy(v, threshold) {
                MetricState::Ok
            } else {
                MetricState::Breach
            }
        }
        _ => MetricState::Unknown,
    }
}

/// A key metric's signal between reads: whether it fires (an open signal), and since when it
/// has been over its threshold without a break.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricSignal {
    pub firing: bool,
    pub breach_since: Option<jiff::Timestamp>,
}

/// What one read did to a metric's signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricChange {
    None,
    /// Over its threshold for its whole "for" duration: a health signal (incident).
    Fired,
    /// Back on the healthy side after firing.
    Cleared,
}

/// Steps a metric's signal with one read at `now`. A breach fires once it has lasted `hold`
/// (Prometheus's `for`); a healthy read ends the breach and clears a firing signal. An unknown
/// read (Prometheus unreachable, no data) neither fires nor clears: it breaks the breach run,
/// and the signal keeps firing until a real healthy read says otherwise.
pub fn step_signal(
    before: MetricSignal,
    state: MetricState,
    now: jiff::Timestamp,
    hold: jiff::SignedDuration,
) -> (MetricSignal, MetricChange) {
    match state {
        MetricState::Unknown => {
            (MetricSignal { firing: before.firing, breach_since: None }, MetricChange::None)
        }
        MetricState::Ok => {
            let change = if before.firing { MetricChange::Cleared } else { MetricChange::None };
            (MetricSignal { firing: false, breach_since: None }, change)
        }
        MetricState::Breach => {
            let since = before.breach_since.unwrap_or(now);
            if !before.firing && now.duration_since(since) >= hold {
                (MetricSignal { firing: true, breach_since: Some(since) }, MetricChange::Fired)
            } else {
                (MetricSignal { firing: before.firing, breach_since: Some(since) }, MetricChange::None)
            }
        }
    }
}

/// How a metric's signal reads on the overview: `unknown` whenever the last read had no value
/// (never "ok", never "firing"), `firing`, `pending` (over its threshold, not yet for its
/// duration) or `ok`.
pub fn signal_label(signal: MetricSignal, last: MetricState) -> &'static str {
    match (last, signal.firing) {
        (MetricState::Unknown, _) => "unknown",
        (MetricState::Breach, true) => "firing",
        (MetricState::Breach, false) => "pending",
        (MetricState::Ok, _) => "ok",
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn metrics_are_judged_by_their_direction_and_unknown_without_a_value() {
        assert_eq!(metric_state(Some(0.41), Direction::Below, 0.5), MetricState::Ok);
        assert_eq!(metric_state(Some(0.5), Direction::Below, 0.5), MetricState::Breach);
        assert_eq!(metric_state(Some(0.97), Direction::Above, 0.95), MetricState::Ok);
        assert_eq!(metric_state(Some(0.92), Direction::Above, 0.95), MetricState::Breach);
        assert_eq!(metric_state(None, Direction::Below, 0.5), MetricState::Unknown);
        assert_eq!(metric_state(Some(f64::NAN), Direction::Above, 0.95), MetricState::Unknown);
        assert_eq!(metric_state(Some(f64::INFINITY), Direction::Below, 0.5), MetricState::Unknown);
    }

    #[test]
    fn values_are_shown_in_their_unit() {
        assert_eq!(Unit::Seconds.format(0.4123), "412 ms");
        assert_eq!(Unit::Seconds.format(1.2), "1.20 s");
        assert_eq!(Unit::Ratio.format(0.004), "0.40 %");
        assert_eq!(Unit::Ratio.format(0.971), "97.1 %");
        assert_eq!(Unit::Ratio.format(0.0), "0.0 %");
        assert_eq!(Unit::Number.format(12.0), "12");
        assert_eq!(Unit::Number.format(12.5), "12.500");
    }

    #[test]
    fn the_file_spells_directions_and_units_in_words_or_symbols() {
        assert_eq!(Direction::parse(" below "), Some(Direction::Below));
        assert_eq!(Direction::parse(">"), Some(Direction::Above));
        assert_eq!(Direction::parse("under"), None);
        assert_eq!(Unit::parse("percent"), Some(Unit::Ratio));
        assert_eq!(Unit::parse(""), Some(Unit::Number));
        assert_eq!(Unit::parse("bytes"), None);
    }

    #[test]
    fn a_breach_fires_once_held_for_its_duration_and_clears_on_a_healthy_read() {
        let t0: jiff::Timestamp = "2026-06-01T10:00:00Z".parse().expect("ts");
        let hold = jiff::SignedDuration::from_mins(10);
        let at = |m: i64| t0 + jiff::SignedDuration::from_mins(m);
        let (s, c) = step_signal(MetricSignal::default(), MetricState::Breach, at(0), hold);
        assert_eq!((s.firing, c), (false, MetricChange::None));
        assert_eq!(signal_label(s, MetricState::Breach), "pending");
        let (s, c) = step_signal(s, MetricState::Breach, at(9), hold);
        assert_eq!(c, MetricChange::None);
        let (s, c) = step_signal(s, MetricState::Breach, at(10), hold);
        assert_eq!((s.firing, c), (true, MetricChange::Fired));
        let (s, c) = step_signal(s, MetricState::Breach, at(11), hold);
        assert_eq!(c, MetricChange::None, "fires once");
        let (s, c) = step_signal(s, MetricState::Unknown, at(12), hold);
        assert_eq!((s.firing, c), (true, MetricChange::None), "unknown neither clears nor fires");
        assert_eq!(signal_label(s, MetricState::Unknown), "unknown");
        let (s, c) = step_signal(s, MetricState::Ok, at(13), hold);
        assert_eq!((s.firing, c), (false, MetricChange::Cleared));
        // A dip below the threshold restarts the count.
        let (s, _) = step_signal(s, MetricState::Breach, at(20), hold);
        let (s, _) = step_signal(s, MetricState::Ok, at(25), hold);
        let (s, c) = step_signal(s, MetricState::Breach, at(31), hold);
        assert_eq!((s.firing, c), (false, MetricChange::None));
        let (_, c) = step_signal(s, MetricState::Unknown, at(45), hold);
        assert_eq!(c, MetricChange::None, "unknown never fires");
    }

    proptest! {
        #[test]
        fn the_worse_of_two_readings_is_never_healthier_than_either(
            a in -1e6..1e6_f64,
            b in -1e6..1e6_f64,
            threshold in -1e6..1e6_f64,
            above in any::<bool>(),
        ) {
            let direction = if above { Direction::Above } else { Direction::Below };
            let worst = direction.worse(a, b);
            // `worse` picks one of its readings, bit for bit; it never computes a new value.
            prop_assert!(worst.to_bits() == a.to_bits() || worst.to_bits() == b.to_bits());
            if direction.healthy(worst, threshold) {
                prop_assert!(direction.healthy(a, threshold) && direction.healthy(b, threshold));
            }
        }
    }
}
