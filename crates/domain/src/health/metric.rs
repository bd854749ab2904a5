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
