//! Incident severities P0–P3 as defined by the runbook's escalation matrix.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How bad an incident is; `P0` is the most severe.
///
/// The derived `Ord` sorts the most severe first (`P0 < P1 < P2 < P3`), which is the order
/// lists want; use [`Severity::is_more_severe_than`] when comparing for badness so the
/// intent reads right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    /// System down.
    #[serde(alias = "p0")]
    P0,
    /// A critical feature is broken.
    #[serde(alias = "p1")]
    P1,
    /// Major problem, the system still works.
    #[serde(alias = "p2")]
    P2,
    /// Minor problem.
    #[serde(alias = "p3")]
    P3,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 4] = [Severity::P0, Severity::P1, Severity::P2, Severity::P3];

    /// The short name, `"P0"`…`"P3"`, as stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::P0 => "P0",
            Severity::P1 => "P1",
            Severity::P2 => "P2",
            Severity::P3 => "P3",
        }
    }

    /// What the severity means, in the runbook's words (`"system down"`…).
    pub const fn label(self) -> &'static str {
        match self {
            Severity::P0 => "system down",
            Severity::P1 => "critical feature",
            Severity::P2 => "major",
            Severity::P3 => "minor",
        }
    }

    /// Whether `self` is worse than `other` (`P0` is worse than `P1`).
    pub fn is_more_severe_than(self, other: Severity) -> bool {
        self < other
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A severity name that is not `P0`…`P3`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {input:?}: expected P0, P1, P2 or P3")]
pub struct ParseSeverityError {
    /// The rejected input, as given.
    pub input: String,
}

impl FromStr for Severity {
    type Err = ParseSeverityError;

    /// Parses `"P0"`…`"P3"`, also lowercase (`"p1"`) and with surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Severity::ALL
            .into_iter()
            .find(|severity| severity.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ParseSeverityError { input: s.to_owned() })
    }
}

impl TryFrom<&str> for Severity {
    type Error = ParseSeverityError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        value.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p0_is_the_most_severe_and_sorts_first() {
        assert!(Severity::P0.is_more_severe_than(Severity::P1));
        assert!(!Severity::P3.is_more_severe_than(Severity::P2));
        assert!(!Severity::P1.is_more_severe_than(Severity::P1));
        let mut shuffled = [Severity::P2, Severity::P0, Severity::P3, Severity::P1];
        shuffled.sort();
        assert_eq!(shuffled, Severity::ALL);
    }

    #[test]
    fn every_severity_round_trips_through_its_name() {
        for severity in Severity::ALL {
            assert_eq!(severity.to_string().parse::<Severity>(), Ok(severity));
            assert_eq!(Severity::try_from(severity.as_str()), Ok(severity));
        }
    }

    #[test]
    fn lowercase_severity_names_are_accepted() {
        assert_eq!("p0".parse::<Severity>(), Ok(Severity::P0));
        assert_eq!(" p3 ".parse::<Severity>(), Ok(Severity::P3));
    }

    #[test]
    fn unknown_severities_are_rejected() {
        for bad in ["P4", "P", "", "0", "sev1", "P01"] {
            let err = bad.parse::<Severity>().expect_err("not a severity");
            assert_eq!(err.input, bad);
        }
    }

    #[test]
    fn labels_follow_the_runbook() {
        let labels: Vec<_> = Severity::ALL.iter().map(|s| s.label()).collect();
        assert_eq!(labels, ["system down", "critical feature", "major", "minor"]);
    }

    #[test]
    fn severities_serialize_as_uppercase_names_and_accept_lowercase() {
        assert_eq!(serde_json::to_string(&Severity::P2).expect("serializable"), "\"P2\"");
        let back: Severity = serde_json::from_str("\"p1\"").expect("lowercase accepted");
        assert_eq!(back, Severity::P1);
        assert!(serde_json::from_str::<Severity>("\"P9\"").is_err());
    }
}
