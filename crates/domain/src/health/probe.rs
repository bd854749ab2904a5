//! Judging one probe's answer: a 2xx status, a JSON body, and every expected field. Each way
//! an answer can be wrong is a [`Failure`] whose reason names the cause.

use std::collections::BTreeMap;

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
    /// Every kind.
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

    /// The kind stored as `s` ([`FailureKind::as_str`]); `None` for anything else.
    pub fn parse(s: &str) -> Option<FailureKind> {
        FailureKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A failed probe: its kind and what exactly went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    /// In words, naming the cause ("/database is "disconnected", expected "connected"").
    pub reason: String,
}

impl Failure {
    pub fn new(kind: FailureKind, reason: impl Into<String>) -> Self {
        Self { kind, reason: reason.into() }
    }
}

/// An HTTP answer as the probe received it.
#[derive(Clone, Copy, Debug)]
pub struct Answer<'a> {
    pub status: u16,
    /// The status's standard reason phrase ("Service Unavailable"), when it has one.
    pub reason: Option<&'a str>,
    /// The `Content-Type` header, empty when there was none.
    pub content_type: &'a str,
    pub body: &'a [u8],
}

/// Longest shown value of a JSON field in a reason, in characters.
const SHOWN_VALUE_CHARS: usize = 60;

/// Judges an HTTP answer: a 2xx status, a JSON body, and every expected field (JSON pointer →
/// value). A non-2xx answer names its status and, when the body is JSON, the fields that are
/// wrong too, since that is usually the clue (`/database is "disconnected"`).
pub fn judge_answer(answer: &Answer<'_>, expect: &BTreeMap<String, Value>) -> Result<(), Failure> {
    let json: Option<Value> = serde_json::from_slice(answer.body).ok();
    let success = (200..300).contains(&answer.status);
    let mismatches: Vec<String> = match &json {
        Some(json) => expect.iter().filter_map(|(pointer, wanted)| mismatch(json, pointer, wanted)).collect(),
        None => vec![],
    };
    if !success {
        let mut reason = format!("HTTP {}", status_line(answer.status, answer.reason));
        if !mismatches.is_empty() {
            reason.push_str("; ");
            reason.push_str(&mismatches.join("; "));
        }
        return Err(Failure::new(FailureKind::HttpStatus, reason));
    }
    if json.is_none() {
        let shown_type = if answer.content_type.is_empty() { "no content type" } else { answer.content_type };
        return Err(Failure::new(
            FailureKind::NotJson,
            format!("the body is not JSON ({shown_type}; starts with {:?})", excerpt(answer.body, 40)),
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
        // `1` and `1.0` are the same expectation, written two ways.
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

/// "503 Service Unavailable", or "599" for a status without a standard reason phrase.
pub fn status_line(status: u16, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

/// The first `chars` characters of a body, lossily decoded, control characters replaced.
pub fn excerpt(body: &[u8], chars: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(chars * 4)]);
    text.chars().take(chars).map(|c| if c.is_control() && c != '\n' { ' ' } else { c }).collect()
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

    fn judge(
        status: u16,
        content_type: &str,
        body: &[u8],
        expect: &BTreeMap<String, Value>,
    ) -> Result<(), Failure> {
        let reason = match status {
            200 => Some("OK"),
            503 => Some("Service Unavailable"),
            _ => None,
        };
        judge_answer(&Answer { status, reason, content_type, body }, expect)
    }

    #[test]
    fn a_healthy_runbook_answer_passes() {
        let answer = body(
            json!({"status":"healthy","database":"connected","redis":"connected","agents":"operational","version":"1"}),
        );
        assert_eq!(judge(200, "application/json", &answer, &runbook_expectations()), Ok(()));
    }

    #[test]
    fn a_disconnected_database_is_a_wrong_value_naming_the_field() {
        let answer = body(
            json!({"status":"healthy","database":"disconnected","redis":"connected","agents":"operational"}),
        );
        let failure = judge(200, "application/json", &answer, &runbook_expectations()).expect_err("fails");
        assert_eq!(failure.kind, FailureKind::Mismatch);
        assert_eq!(failure.reason, r#"/database is "disconnected", expected "connected""#);
    }

    #[test]
    fn a_503_names_the_status_and_the_wrong_fields() {
        let answer = body(
            json!({"status":"unhealthy","database":"disconnected","redis":"connected","agents":"degraded"}),
        );
        let failure = judge(503, "application/json", &answer, &runbook_expectations()).expect_err("fails");
        assert_eq!(failure.kind, FailureKind::HttpStatus);
        assert!(
            failure.reason.starts_with("HTTP 503 Service Unavailable; /agents is \"degraded\""),
            "{}",
            failure.reason
        );
        assert!(failure.reason.contains(r#"/database is "disconnected", expected "connected""#));
    }

    #[test]
    fn a_status_without_a_reason_phrase_is_shown_as_its_number() {
        let failure = judge(599, "", b"", &BTreeMap::new()).expect_err("fails");
        assert_eq!(failure.reason, "HTTP 599");
    }

    #[test]
    fn html_is_not_json() {
        let failure = judge(200, "text/html; charset=utf-8", b"<html>oops", &runbook_expectations())
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
        let failure =
            judge(200, "application/json", &body(json!({"status":"healthy"})), &expect).expect_err("fails");
        assert_eq!(failure.reason, r#"/redis is missing, expected "connected""#);

        let mut expect = BTreeMap::new();
        expect.insert("/models/0/size".to_owned(), json!("42"));
        expect.insert("/ok".to_owned(), json!(true));
        assert_eq!(judge(200, "", &body(json!({"models":[{"size":42}], "ok": true})), &expect), Ok(()));
    }

    #[test]
    fn without_expectations_any_json_answer_passes() {
        assert_eq!(judge(204, "", b"{}", &BTreeMap::new()), Ok(()));
        assert_eq!(judge(200, "", b"[1,2]", &BTreeMap::new()), Ok(()));
    }

    #[test]
    fn failure_kinds_round_trip_through_their_stored_names() {
        for kind in FailureKind::ALL {
            assert_eq!(FailureKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(FailureKind::parse("exploded"), None);
    }

    #[test]
    fn an_excerpt_keeps_newlines_and_blanks_other_control_characters() {
        assert_eq!(excerpt(b"a\tb\nc", 10), "a b\nc");
        assert_eq!(excerpt("ééé".as_bytes(), 2), "éé");
    }
}
