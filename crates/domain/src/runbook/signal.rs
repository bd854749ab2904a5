//! What the portal observes (health probes, key metrics, Kubernetes state) as signals, and
//! the runbooks those signals suggest for an incident, ranked.
//!
//! A runbook file lists the signals that suggest it, strongest first, in `suggested_by`:
//! `"pod_crash_loop"` matches that signal from anywhere, `"pod_crash_loop:twisterlab-api"`
//! only for that deployment or service.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Runbook, Slug};

/// The kind of a [`Signal`], as written in `suggested_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// See [`Signal::PodCrashLoop`].
    PodCrashLoop,
    /// See [`Signal::PodOomKilled`].
    PodOomKilled,
    /// See [`Signal::DatabaseDisconnected`].
    DatabaseDisconnected,
    /// See [`Signal::RedisDisconnected`].
    RedisDisconnected,
    /// See [`Signal::AgentsNotOperational`].
    AgentsNotOperational,
    /// See [`Signal::ServiceUnreachable`].
    ServiceUnreachable,
    /// See [`Signal::LatencyP95High`].
    LatencyP95High,
    /// See [`Signal::LatencyP99High`].
    LatencyP99High,
    /// See [`Signal::ErrorRateHigh`].
    ErrorRateHigh,
    /// See [`Signal::DbConnectionsHigh`].
    DbConnectionsHigh,
    /// See [`Signal::AgentSuccessRateLow`].
    AgentSuccessRateLow,
    /// See [`Signal::CpuHigh`].
    CpuHigh,
    /// See [`Signal::MemoryHigh`].
    MemoryHigh,
    /// See [`Signal::McpModeHybrid`].
    McpModeHybrid,
}

named_enum!(
    SignalKind,
    "signal",
    "pod_crash_loop, pod_oom_killed, database_disconnected, redis_disconnected, agents_not_operational, \
     service_unreachable, latency_p95_high, latency_p99_high, error_rate_high, db_connections_high, \
     agent_success_rate_low, cpu_high, memory_high, mcp_mode_hybrid"
);

impl SignalKind {
    /// Every kind.
    pub const ALL: [SignalKind; 14] = [
        SignalKind::PodCrashLoop,
        SignalKind::PodOomKilled,
        SignalKind::DatabaseDisconnected,
        SignalKind::RedisDisconnected,
        SignalKind::AgentsNotOperational,
        SignalKind::ServiceUnreachable,
        SignalKind::LatencyP95High,
        SignalKind::LatencyP99High,
        SignalKind::ErrorRateHigh,
        SignalKind::DbConnectionsHigh,
        SignalKind::AgentSuccessRateLow,
        SignalKind::CpuHigh,
        SignalKind::MemoryHigh,
        SignalKind::McpModeHybrid,
    ];

    /// The snake_case name used in files.
    pub const fn as_str(self) -> &'static str {
        match self {
            SignalKind::PodCrashLoop => "pod_crash_loop",
            SignalKind::PodOomKilled => "pod_oom_killed",
            SignalKind::DatabaseDisconnected => "database_disconnected",
            SignalKind::RedisDisconnected => "redis_disconnected",
            SignalKind::AgentsNotOperational => "agents_not_operational",
            SignalKind::ServiceUnreachable => "service_unreachable",
            SignalKind::LatencyP95High => "latency_p95_high",
            SignalKind::LatencyP99High => "latency_p99_high",
            SignalKind::ErrorRateHigh => "error_rate_high",
            SignalKind::DbConnectionsHigh => "db_connections_high",
            SignalKind::AgentSuccessRateLow => "agent_success_rate_low",
            SignalKind::CpuHigh => "cpu_high",
            SignalKind::MemoryHigh => "memory_high",
            SignalKind::McpModeHybrid => "mcp_mode_hybrid",
        }
    }
}

/// Something the portal observed that points to a runbook. Shares are in basis points
/// (1 % = 100), latencies in milliseconds; thresholds are the ones that were crossed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    /// A pod of the deployment is in CrashLoopBackOff.
    PodCrashLoop {
        /// The deployment.
        deployment: String,
    },
    /// A container of the deployment was OOMKilled.
    PodOomKilled {
        /// The deployment.
        deployment: String,
    },
    /// The service's `/health` reports `"database": "disconnected"`.
    DatabaseDisconnected {
        /// The probed service's name.
        service: String,
    },
    /// The service's `/health` reports `"redis": "disconnected"`.
    RedisDisconnected {
        /// The probed service's name.
        service: String,
    },
    /// The service's `/health` reports agents other than `operational`.
    AgentsNotOperational {
        /// The probed service's name.
        service: String,
    },
    /// The service's health endpoint did not answer, or not with its expected body.
    ServiceUnreachable {
        /// The probed service's name.
        service: String,
    },
    /// API latency p95 above its threshold (500 ms in the runbook).
    LatencyP95High {
        /// Observed, in milliseconds.
        observed_ms: u64,
        /// Threshold, in milliseconds.
        threshold_ms: u64,
    },
    /// API latency p99 above its threshold (1 s in the runbook).
    LatencyP99High {
        /// Observed, in milliseconds.
        observed_ms: u64,
        /// Threshold, in milliseconds.
        threshold_ms: u64,
    },
    /// Error rate above its threshold (1 % in the runbook).
    ErrorRateHigh {
        /// Observed, in basis points of requests.
        observed_bp: u32,
        /// Threshold, in basis points.
        threshold_bp: u32,
    },
    /// Database connections above their share of the pool (80 % in the runbook).
    DbConnectionsHigh {
        /// Observed, in basis points of the pool.
        observed_bp: u32,
        /// Threshold, in basis points.
        threshold_bp: u32,
    },
    /// Agent success rate below its threshold (95 % in the runbook).
    AgentSuccessRateLow {
        /// Observed, in basis points of executions.
        observed_bp: u32,
        /// Threshold, in basis points.
        threshold_bp: u32,
    },
    /// CPU use above its threshold (70 % sustained in the runbook's scaling guidelines).
    CpuHigh {
        /// The deployment, when the portal knows which.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deployment: Option<String>,
        /// Observed, in basis points of the limit.
        observed_bp: u32,
        /// Threshold, in basis points.
        threshold_bp: u32,
    },
    /// Memory use above its share of the limit (80 % in the runbook).
    MemoryHigh {
        /// The deployment, when the portal knows which.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deployment: Option<String>,
        /// Observed, in basis points of the limit.
        observed_bp: u32,
        /// Threshold, in basis points.
        threshold_bp: u32,
    },
    /// The MCP server runs in HYBRID mode instead of REAL.
    McpModeHybrid {
        /// The MCP deployment (`mcp-unified`).
        deployment: String,
    },
}

impl Signal {
    /// Its kind.
    pub const fn kind(&self) -> SignalKind {
        match self {
            Signal::PodCrashLoop { .. } => SignalKind::PodCrashLoop,
            Signal::PodOomKilled { .. } => SignalKind::PodOomKilled,
            Signal::DatabaseDisconnected { .. } => SignalKind::DatabaseDisconnected,
            Signal::RedisDisconnected { .. } => SignalKind::RedisDisconnected,
            Signal::AgentsNotOperational { .. } => SignalKind::AgentsNotOperational,
            Signal::ServiceUnreachable { .. } => SignalKind::ServiceUnreachable,
            Signal::LatencyP95High { .. } => SignalKind::LatencyP95High,
            Signal::LatencyP99High { .. } => SignalKind::LatencyP99High,
            Signal::ErrorRateHigh { .. } => SignalKind::ErrorRateHigh,
            Signal::DbConnectionsHigh { .. } => SignalKind::DbConnectionsHigh,
            Signal::AgentSuccessRateLow { .. } => SignalKind::AgentSuccessRateLow,
            Signal::CpuHigh { .. } => SignalKind::CpuHigh,
            Signal::MemoryHigh { .. } => SignalKind::MemoryHigh,
            Signal::McpModeHybrid { .. } => SignalKind::McpModeHybrid,
        }
    }

    /// The deployment or service it is about, if any.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Signal::PodCrashLoop { deployment }
            | Signal::PodOomKilled { deployment }
            | Signal::McpModeHybrid { deployment } => Some(deployment),
            Signal::DatabaseDisconnected { service }
            | Signal::RedisDisconnected { service }
            | Signal::AgentsNotOperational { service }
            | Signal::ServiceUnreachable { service } => Some(service),
            Signal::CpuHigh { deployment, .. } | Signal::MemoryHigh { deployment, .. } => {
                deployment.as_deref()
            }
            Signal::LatencyP95High { .. }
            | Signal::LatencyP99High { .. }
            | Signal::ErrorRateHigh { .. }
            | Signal::DbConnectionsHigh { .. }
            | Signal::AgentSuccessRateLow { .. } => None,
        }
    }
}

/// `1234` basis points as `"12.34 %"`.
fn percent(bp: u32) -> String {
    format!("{}.{:02} %", bp / 100, bp % 100)
}

impl fmt::Display for Signal {
    /// A sentence for the suggestion's reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let of = |deployment: &Option<String>| match deployment {
            Some(d) => format!(" of {d}"),
            None => String::new(),
        };
        match self {
            Signal::PodCrashLoop { deployment } => write!(f, "a pod of {deployment} is in CrashLoopBackOff"),
            Signal::PodOomKilled { deployment } => write!(f, "a container of {deployment} was OOMKilled"),
            Signal::DatabaseDisconnected { service } => {
                write!(f, "{service} reports its database disconnected")
            }
            Signal::RedisDisconnected { service } => write!(f, "{service} reports Redis disconnected"),
            Signal::AgentsNotOperational { service } => {
                write!(f, "{service} reports its agents not operational")
            }
            Signal::ServiceUnreachable { service } => write!(f, "{service} does not answer its health check"),
            Signal::LatencyP95High { observed_ms, threshold_ms } => {
                write!(f, "API latency p95 is {observed_ms} ms (threshold {threshold_ms} ms)")
            }
            Signal::LatencyP99High { observed_ms, threshold_ms } => {
                write!(f, "API latency p99 is {observed_ms} ms (threshold {threshold_ms} ms)")
            }
            Signal::ErrorRateHigh { observed_bp, threshold_bp } => {
                write!(f, "error rate is {} (threshold {})", percent(*observed_bp), percent(*threshold_bp))
            }
            Signal::DbConnectionsHigh { observed_bp, threshold_bp } => write!(
                f,
                "database connections are at {} of the pool (threshold {})",
                percent(*observed_bp),
                percent(*threshold_bp)
            ),
            Signal::AgentSuccessRateLow { observed_bp, threshold_bp } => write!(
                f,
                "agent success rate is {} (threshold {})",
                percent(*observed_bp),
                percent(*threshold_bp)
            ),
            Signal::CpuHigh { deployment, observed_bp, threshold_bp } => write!(
                f,
                "CPU use{} is {} (threshold {})",
                of(deployment),
                percent(*observed_bp),
                percent(*threshold_bp)
            ),
            Signal::MemoryHigh { deployment, observed_bp, threshold_bp } => write!(
                f,
                "memory use{} is {} of its limit (threshold {})",
                of(deployment),
                percent(*observed_bp),
                percent(*threshold_bp)
            ),
            Signal::McpModeHybrid { deployment } => {
                write!(f, "{deployment} runs in HYBRID mode instead of REAL")
            }
        }
    }
}

/// One entry of a runbook's `suggested_by`: a signal kind, optionally for one subject
/// (`"pod_crash_loop:twisterlab-api"`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SignalPattern {
    /// The signal kind.
    pub kind: SignalKind,
    /// Only signals about this deployment or service; `None` matches any.
    pub subject: Option<String>,
}

/// A `suggested_by` entry that is not `kind` or `kind:subject`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a signal: {problem}")]
pub struct SignalPatternError {
    /// The rejected entry.
    pub input: String,
    /// What is wrong with it.
    pub problem: String,
}

impl SignalPattern {
    /// Parses `kind` or `kind:subject`; the subject follows the portal's service-name rules
    /// (`[a-z0-9][a-z0-9._-]{0,62}`), which also admit every deployment name used here.
    pub fn parse(input: &str) -> Result<SignalPattern, SignalPatternError> {
        let error = |problem: String| SignalPatternError { input: input.to_owned(), problem };
        let (kind, subject) = match input.split_once(':') {
            Some((kind, subject)) => (kind, Some(subject)),
            None => (input, None),
        };
        let kind: SignalKind = kind.parse().map_err(|e: crate::incident::ParseNameError| {
            error(format!("expected one of {} (optionally followed by :deployment)", e.expected))
        })?;
        if let Some(subject) = subject {
            super::checks::service_name(subject).map_err(error)?;
        }
        Ok(SignalPattern { kind, subject: subject.map(str::to_owned) })
    }

    /// Whether `signal` is of this kind and, when a subject is given, about it.
    pub fn matches(&self, signal: &Signal) -> bool {
        signal.kind() == self.kind
            && match &self.subject {
                Some(subject) => signal.subject() == Some(subject.as_str()),
                None => true,
            }
    }
}

impl fmt::Display for SignalPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subject {
            Some(subject) => write!(f, "{}:{subject}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl TryFrom<String> for SignalPattern {
    type Error = SignalPatternError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        SignalPattern::parse(&value)
    }
}

impl From<SignalPattern> for String {
    fn from(pattern: SignalPattern) -> Self {
        pattern.to_string()
    }
}

/// A runbook worth starting, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The runbook.
    pub slug: Slug,
    /// The signals that suggest it, as one sentence ("a pod of twisterlab-api is in
    /// CrashLoopBackOff; …"), strongest first.
    pub reason: String,
}

/// The runbooks `signals` suggest, best first; runbooks no signal matches are left out.
///
/// Ranking: a runbook scores 2 for each of its `suggested_by` entries naming a subject that
/// a signal matches, and 1 for each matching entry without a subject; higher scores first,
/// then the runbook whose first matching entry comes earlier in its list (files list the
/// strongest signal first), then by slug so the order is stable.
pub fn suggest(signals: &[Signal], runbooks: &[Runbook]) -> Vec<Suggestion> {
    let mut ranked: Vec<(u32, usize, &Slug, String)> = runbooks
        .iter()
        .filter_map(|runbook| {
            let mut score = 0;
            let mut first = None;
            let mut reasons: Vec<String> = Vec::new();
            let mut seen = BTreeSet::new();
            for (position, pattern) in runbook.suggested_by.iter().enumerate() {
                let matched: Vec<&Signal> = signals.iter().filter(|s| pattern.matches(s)).collect();
                if matched.is_empty() {
                    continue;
                }
                score += if pattern.subject.is_some() { 2 } else { 1 };
                first.get_or_insert(position);
                for signal in matched {
                    let sentence = signal.to_string();
                    if seen.insert(sentence.clone()) {
                        reasons.push(sentence);
                    }
                }
            }
            first.map(|first| (score, first, &runbook.slug, reasons.join("; ")))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(b.2)));
    ranked.into_iter().map(|(_, _, slug, reason)| Suggestion { slug: slug.clone(), reason }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::tests::runbook;

    fn with_signals(slug: &str, patterns: &[&str]) -> Runbook {
        let mut rb = runbook();
        rb.slug = Slug::parse(slug).expect("valid slug");
        rb.suggested_by = patterns.iter().map(|p| SignalPattern::parse(p).expect("valid pattern")).collect();
        rb
    }

    fn library() -> Vec<Runbook> {
        vec![
            with_signals(
                "api-pods-crashing",
                &["pod_crash_loop:twisterlab-api", "pod_oom_killed:twisterlab-api", "database_disconnected"],
            ),
            with_signals("database-connection-exhaustion", &["db_connections_high", "database_disconnected"]),
            with_signals("mcp-tools-not-responding", &["mcp_mode_hybrid", "pod_crash_loop:mcp-unified"]),
            with_signals("capacity-planning", &["cpu_high", "memory_high", "latency_p95_high"]),
            with_signals("planned-maintenance", &[]),
        ]
    }

    fn slugs(suggestions: &[Suggestion]) -> Vec<&str> {
        suggestions.iter().map(|s| s.slug.as_str()).collect()
    }

    #[test]
    fn a_pod_in_crash_loop_back_off_suggests_api_pods_crashing() {
        let signals = [Signal::PodCrashLoop { deployment: "twisterlab-api".into() }];
        let suggestions = suggest(&signals, &library());
        assert_eq!(slugs(&suggestions), ["api-pods-crashing"]);
        assert_eq!(suggestions[0].reason, "a pod of twisterlab-api is in CrashLoopBackOff");
    }

    #[test]
    fn pool_exhaustion_suggests_database_connection_exhaustion() {
        let signals = [Signal::DbConnectionsHigh { observed_bp: 9_500, threshold_bp: 8_000 }];
        let suggestions = suggest(&signals, &library());
        assert_eq!(slugs(&suggestions), ["database-connection-exhaustion"]);
        assert_eq!(
            suggestions[0].reason,
            "database connections are at 95.00 % of the pool (threshold 80.00 %)"
        );
    }

    #[test]
    fn a_subject_in_the_pattern_restricts_it_to_that_deployment() {
        let signals = [Signal::PodCrashLoop { deployment: "mcp-unified".into() }];
        assert_eq!(slugs(&suggest(&signals, &library())), ["mcp-tools-not-responding"]);
        let elsewhere = [Signal::PodCrashLoop { deployment: "redis".into() }];
        assert!(suggest(&elsewhere, &library()).is_empty());
    }

    #[test]
    fn more_and_more_specific_matches_rank_first() {
        let signals = [
            Signal::DatabaseDisconnected { service: "twisterlab-api".into() },
            Signal::PodCrashLoop { deployment: "twisterlab-api".into() },
        ];
        let suggestions = suggest(&signals, &library());
        assert_eq!(slugs(&suggestions), ["api-pods-crashing", "database-connection-exhaustion"]);
        assert_eq!(
            suggestions[0].reason,
            "a pod of twisterlab-api is in CrashLoopBackOff; twisterlab-api reports its database disconnected"
        );
    }

    #[test]
    fn equal_scores_prefer_the_runbook_listing_the_signal_earlier() {
        let signals = [Signal::DatabaseDisconnected { service: "twisterlab-api".into() }];
        // Both score 1; exhaustion lists it second (position 1), api-pods third (position 2).
        assert_eq!(
            slugs(&suggest(&signals, &library())),
            ["database-connection-exhaustion", "api-pods-crashing"]
        );
    }

    #[test]
    fn no_signals_suggest_nothing() {
        assert!(suggest(&[], &library()).is_empty());
    }

    #[test]
    fn signal_patterns_parse_with_an_optional_subject() {
        let p = SignalPattern::parse("pod_crash_loop:twisterlab-api").expect("valid");
        assert_eq!(p.kind, SignalKind::PodCrashLoop);
        assert_eq!(p.subject.as_deref(), Some("twisterlab-api"));
        assert_eq!(p.to_string(), "pod_crash_loop:twisterlab-api");
        assert_eq!(SignalPattern::parse("cpu_high").map(|p| p.subject), Ok(None));
        let err = SignalPattern::parse("pods_crashing").expect_err("unknown kind");
        assert!(
            err.to_string().starts_with("\"pods_crashing\" is not a signal: expected one of pod_crash_loop")
        );
        assert!(SignalPattern::parse("pod_crash_loop:Twisterlab API").is_err());
        assert!(SignalPattern::parse("pod_crash_loop:").is_err());
        for kind in SignalKind::ALL {
            assert_eq!(kind.as_str().parse::<SignalKind>(), Ok(kind));
        }
    }

    #[test]
    fn every_signal_kind_has_a_variant_and_a_sentence() {
        let samples = [
            Signal::PodCrashLoop { deployment: "a".into() },
            Signal::PodOomKilled { deployment: "a".into() },
            Signal::DatabaseDisconnected { service: "a".into() },
            Signal::RedisDisconnected { service: "a".into() },
            Signal::AgentsNotOperational { service: "a".into() },
            Signal::ServiceUnreachable { service: "a".into() },
            Signal::LatencyP95High { observed_ms: 800, threshold_ms: 500 },
            Signal::LatencyP99High { observed_ms: 1500, threshold_ms: 1000 },
            Signal::ErrorRateHigh { observed_bp: 250, threshold_bp: 100 },
            Signal::DbConnectionsHigh { observed_bp: 9000, threshold_bp: 8000 },
            Signal::AgentSuccessRateLow { observed_bp: 9012, threshold_bp: 9500 },
            Signal::CpuHigh { deployment: None, observed_bp: 8000, threshold_bp: 7000 },
            Signal::MemoryHigh { deployment: Some("a".into()), observed_bp: 8500, threshold_bp: 8000 },
            Signal::McpModeHybrid { deployment: "mcp-unified".into() },
        ];
        let kinds: Vec<_> = samples.iter().map(Signal::kind).collect();
        assert_eq!(kinds, SignalKind::ALL);
        assert_eq!(samples[10].to_string(), "agent success rate is 90.12 % (threshold 95.00 %)");
        assert_eq!(samples[12].to_string(), "memory use of a is 85.00 % of its limit (threshold 80.00 %)");
        let json = serde_json::to_value(&samples[0]).expect("serializable");
        assert_eq!(json, serde_json::json!({"kind": "pod_crash_loop", "deployment": "a"}));
    }
}
