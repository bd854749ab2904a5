//! Pure rules of the health overview: judging a probe's answer, a service's state after a probe,
//! a key metric against its threshold, and the overall state. No I/O.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a probe failed; each kind has its own words on the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// No complete answer within the probe's timeout (a hanging or too slow service).
    Timeout,
    /// The host name does not resolve.
    Dns,
    /// No TCP connection (refused, unreachable).
    Connect,
    /// The TLS handshake or the certificate check failed.
    Tls,
    /// The answer's HTTP status is not 2xx.
    HttpStatus,
    /// The body is not JSON.
    NotJson,
    /// A JSON field is missing or has another value than expected.
    Mismatch,
    /// The body is larger than the probe reads.
    TooLarge,
    /// More redirects than the probe follows.
    Redirects,
    /// Any other transport failure (connection reset, protocol error).
    Transport,
}

impl FailureKind {
    pub const ALL: [FailureKind; 10] = [
        FailureKind::Timeout,
        FailureKind::Dns,
        FailureKind::Connect,
        FailureKind::Tls,
        FailureKind::HttpStatus,
        FailureKind::NotJson,
        FailureKind::Mismatch,
        FailureKind::TooLarge,
        FailureKind::Redirects,
        FailureKind::Transport,
    ];

    /// The name stored in `health_probe_results.failure`.
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Dns => "dns",
            FailureKind::Connect => "connect",
            FailureKind::Tls => "tls",
            FailureKind::HttpStatus => "http_status",
            FailureKind::NotJson => "not_json",
            FailureKind::Mismatch => "mismatch",
            FailureKind::TooLarge => "too_large",
            FailureKind::Redirects => "redirects",
            FailureKind::Transport => "transport",
        }
    }

    /// Short words for a badge ("timeout", "DNS", "wrong value"…).
    pub const fn label(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Dns => "DNS",
            FailureKind::Connect => "connection",
            FailureKind::Tls => "TLS",
            FailureKind::HttpStatus => "HTTP status",
            FailureKind::NotJson => "not JSON",
            FailureKind::Mismatch => "wrong value",
            FailureKind::TooLarge => "too large",
            FailureKind::Redirects => "redirects",
            FailureKind::Transport => "transport",
        }
    }

    pub fn parse(s: &str) -> Option<FailureKind> {
        FailureKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A failed probe: its kind and what exactly went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub reason: String,
}

impl Failure {
    pub fn new(kind: FailureKind, reason: impl Into<String>) -> Self {
        Self { kind, reason: reason.into() }
    }
}

/// Longest shown value of a JSON field in a reason, in characters.
const SHOWN_VALUE_CHARS: usize = 60;

/// Judges an HTTP answer: a 2xx status, a JSON body, and every expected field (JSON pointer →
/// value). A non-2xx answer names its status and, when the body is JSON, the fields that are
/// wrong too, since that is usually the clue (`/database is "disconnected"`).
pub fn judge_answer(
    status: u16,
    content_type: &str,
    body: &[u8],
    expect: &BTreeMap<String, Value>,
) -> Result<(), Failure> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let success = (200..300).contains(&status);
    let mismatches: Vec<String> = match &json {
        Some(json) => expect.iter().filter_map(|(pointer, wanted)| mismatch(json, pointer, wanted)).collect(),
        None => vec![],
    };
    if !success {
        let mut reason = format!("HTTP {}", status_text(status));
        if !mismatches.is_empty() {
            reason.push_str("; ");
            reason.push_str(&mismatches.join("; "));
        }
        return Err(Failure::new(FailureKind::HttpStatus, reason));
    }
    if json.is_none() {
        let shown_type = if content_type.is_empty() { "no content type" } else { content_type };
        return Err(Failure::new(
            FailureKind::NotJson,
            format!("the body is not JSON ({shown_type}; starts with {:?})", excerpt(body, 40)),
        ));
    }
    if !mismatches.is_empty() {
        return Err(Failure::new(FailureKind::Mismatch, mismatches.join("; ")));
    }
    Ok(())
}

/// `"/database is "disconnected", expected "connected""`, or `None` when the field matches. A
/// string expectation also matches a number or boolean with the same text (`"200"` = `200`).
fn mismatch(json: &Value, pointer: &str, wanted: &Value) -> Option<String> {
    let shown_pointer = if pointer.is_empty() { "the document" } else { pointer };
    match json.pointer(pointer) {
        None => Some(format!("{shown_pointer} is missing, expected {}", shown(wanted))),
        Some(found) if values_match(found, wanted) => None,
        Some(found) => Some(format!("{shown_pointer} is {}, expected {}", shown(found), shown(wanted))),
    }
}

fn values_match(found: &Value, wanted: &Value) -> bool {
    if found == wanted {
        return true;
    }
    match (found, wanted) {
        (Value::Number(n), Value::String(s)) => n.to_string() == *s,
        (Value::Bool(b), Value::String(s)) => b.to_string() == *s,
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => false,
    }
}

/// A JSON value as a reason shows it: compact, cut at [`SHOWN_VALUE_CHARS`].
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > SHOWN_VALUE_CHARS {
        let cut: String = text.chars().take(SHOWN_VALUE_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// "503 Service Unavailable".
pub fn status_text(status: u16) -> String {
    match axum::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()) {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

/// The first `chars` characters of a body, lossily decoded, control characters replaced.
pub fn excerpt(body: &[u8], chars: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(chars * 4)]);
    text.chars().take(chars).map(|c| if c.is_control() && c != '\n' { ' ' } else { c }).collect()
}

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
    pub const fn as_str(self) -> &'static str {
        match self {
            ServiceState::Unknown => "unknown",
            ServiceState::Up => "up",
            ServiceState::Failing => "failing",
            ServiceState::Down => "down",
        }
    }

    pub fn parse(s: &str) -> ServiceState {
        match s {
            "up" => ServiceState::Up,
            "failing" => ServiceState::Failing,
            "down" => ServiceState::Down,
            _ => ServiceState::Unknown,
        }
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

    /// The stylesheet's state class.
    pub const fn css(self) -> &'static str {
        match self {
            ServiceState::Unknown => "state-unknown",
            ServiceState::Up => "state-ok",
            ServiceState::Failing => "state-degraded",
            ServiceState::Down => "state-down",
        }
    }

    /// Sort key: what needs action first.
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

    /// Whether `value` is on the healthy side of `threshold`.
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
    pub const fn label(self) -> &'static str {
        match self {
            MetricState::Ok => "ok",
            MetricState::Breach => "over threshold",
            MetricState::Unknown => "unknown",
        }
    }

    pub const fn css(self) -> &'static str {
        match self {
            MetricState::Ok => "state-ok",
            MetricState::Breach => "state-critical",
            MetricState::Unknown => "state-unknown",
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
    pub const fn label(self) -> &'static str {
        match self {
            Overall::Healthy => "All systems healthy",
            Overall::Degraded => "Degraded",
            Overall::Down => "Outage",
            Overall::Unknown => "Not known yet",
        }
    }

    pub const fn css(self) -> &'static str {
        match self {
            Overall::Healthy => "state-ok",
            Overall::Degraded => "state-degraded",
            Overall::Down => "state-down",
            Overall::Unknown => "state-unknown",
        }
    }
}

/// The overall state from the services' states, the metrics' states and the number of pods
/// with a problem.
pub fn overall(services: &[ServiceState], metrics: &[MetricState], pod_problems: usize) -> Overall {
    if services.contains(&ServiceState::Down) {
        return Overall::Down;
    }
    if services.contains(&ServiceState::Failing) || metrics.contains(&MetricState::Breach) || pod_problems > 0
    {
        return Overall::Degraded;
    }
    let known = services.contains(&ServiceState::Up) || metrics.contains(&MetricState::Ok);
    if known { Overall::Healthy } else { Overall::Unknown }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn runbook_expectations() -> BTreeMap<String, Value> {
        [
            ("/status", "healthy"),
            ("/database", "connected"),
            ("/redis", "connected"),
            ("/agents", "operational"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect()
    }

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).expect("json")
    }

    #[test]
    fn a_healthy_runbook_answer_passes() {
        let answer = body(
            json!({"status":"healthy","database":"connected","redis":"connected","agents":"operational","version":"1"}),
        );
        assert_eq!(judge_answer(200, "application/json", &answer, &runbook_expectations()), Ok(()));
    }

    #[test]
    fn a_disconnected_database_is_a_wrong_value_naming_the_field() {
        let answer = body(
            json!({"status":"healthy","database":"disconnected","redis":"connected","agents":"operational"}),
        );
        let failure =
            judge_answer(200, "application/json", &answer, &runbook_expectations()).expect_err("fails");
        assert_eq!(failure.kind, FailureKind::Mismatch);
        assert_eq!(failure.reason, r#"/database is "disconnected", expected "connected""#);
    }

    #[test]
    fn a_503_names_the_status_and_the_wrong_fields() {
        let answer = body(
            json!({"status":"unhealthy","database":"disconnected","redis":"connected","agents":"degraded"}),
        );
        let failure =
            judge_answer(503, "application/json", &answer, &runbook_expectations()).expect_err("fails");
        assert_eq!(failure.kind, FailureKind::HttpStatus);
        assert!(
            failure.reason.starts_with("HTTP 503 Service Unavailable; /agents is \"degraded\""),
            "{}",
            failure.reason
        );
        assert!(failure.reason.contains(r#"/database is "disconnected", expected "connected""#));
    }

    #[test]
    fn html_is_not_json() {
        let failure = judge_answer(200, "text/html; charset=utf-8", b"<html>oops", &runbook_expectations())
            .expect_err("fails");
        assert_eq!(failure.kind, FailureKind::NotJson);
        assert_eq!(
            failure.reason,
            r#"the body is not JSON (text/html; charset=utf-8; starts with "<html>oops")"#
        );
    }

    #[test]
    fn a_missing_field_is_named_and_numbers_match_their_text() {
        let mut expect = BTreeMap::new();
        expect.insert("/redis".to_owned(), json!("connected"));
        let failure = judge_answer(200, "application/json", &body(json!({"status":"healthy"})), &expect)
            .expect_err("fails");
        assert_eq!(failure.reason, r#"/redis is missing, expected "connected""#);

        let mut expect = BTreeMap::new();
        expect.insert("/models/0/size".to_owned(), json!("42"));
        expect.insert("/ok".to_owned(), json!(true));
        assert_eq!(
            judge_answer(200, "", &body(json!({"models":[{"size":42}], "ok": true})), &expect),
            Ok(())
        );
    }

    #[test]
    fn without_expectations_any_json_answer_passes() {
        assert_eq!(judge_answer(204, "", b"{}", &BTreeMap::new()), Ok(()));
        assert_eq!(judge_answer(200, "", b"[1,2]", &BTreeMap::new()), Ok(()));
    }

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
    fn a_down_service_stays_down_when_the_threshold_is_raised() {
        assert_eq!(step(ServiceState::Down, 3, false, 10).to, ServiceState::Down);
    }

    #[test]
    fn metrics_are_judged_by_their_direction_and_unknown_without_a_value() {
        assert_eq!(metric_state(Some(0.41), Direction::Below, 0.5), MetricState::Ok);
        assert_eq!(metric_state(Some(0.5), Direction::Below, 0.5), MetricState::Breach);
        assert_eq!(metric_state(Some(0.97), Direction::Above, 0.95), MetricState::Ok);
        assert_eq!(metric_state(Some(0.92), Direction::Above, 0.95), MetricState::Breach);
        assert_eq!(metric_state(None, Direction::Below, 0.5), MetricState::Unknown);
        assert_eq!(metric_state(Some(f64::NAN), Direction::Above, 0.95), MetricState::Unknown);
    }

    #[test]
    fn values_are_shown_in_their_unit() {
        assert_eq!(Unit::Seconds.format(0.4123), "412 ms");
        assert_eq!(Unit::Seconds.format(1.2), "1.20 s");
        assert_eq!(Unit::Ratio.format(0.004), "0.40 %");
        assert_eq!(Unit::Ratio.format(0.971), "97.1 %");
        assert_eq!(Unit::Ratio.format(0.0), "0.0 %");
        assert_eq!(Unit::Number.format(12.0), "12");
    }

    #[test]
    fn the_overall_state_puts_outages_first() {
        use MetricState as M;
        use ServiceState as S;
        assert_eq!(overall(&[S::Up, S::Down], &[M::Ok], 0), Overall::Down);
        assert_eq!(overall(&[S::Up], &[M::Breach], 0), Overall::Degraded);
        assert_eq!(overall(&[S::Up], &[M::Ok, M::Unknown], 2), Overall::Degraded);
        assert_eq!(overall(&[S::Up], &[M::Unknown], 0), Overall::Healthy);
        assert_eq!(overall(&[S::Unknown], &[M::Unknown], 0), Overall::Unknown);
    }
}
