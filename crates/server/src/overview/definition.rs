//! What a probed service is: its definition, its validation (shared by the admin form and the
//! configuration file's `[[services]]`), and the parsing of the file's tables.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use twisterlab_domain::incident::Impact;
use twisterlab_domain::severity::Severity;

/// Defaults of a new service (the runbook's API probe).
pub(crate) const DEFAULT_INTERVAL_SECONDS: i32 = 30;
pub(crate) const DEFAULT_TIMEOUT_MS: i32 = 2000;
pub(crate) const DEFAULT_FAILURES_BEFORE_DOWN: i32 = 3;
/// Bounds, as the table's checks have them.
pub(crate) const MIN_INTERVAL_SECONDS: i32 = 5;
pub(crate) const MAX_INTERVAL_SECONDS: i32 = 86_400;
pub(crate) const MIN_TIMEOUT_MS: i32 = 100;
pub(crate) const MAX_TIMEOUT_MS: i32 = 60_000;
pub(crate) const MAX_FAILURES_BEFORE_DOWN: i32 = 100;
/// Passing checks in a row that bring a down service's component back on the status page.
pub(crate) const DEFAULT_PASSES_BEFORE_UP: i32 = 2;
pub(crate) const MAX_PASSES_BEFORE_UP: i32 = 100;
pub(crate) const MAX_URL_CHARS: usize = 2000;
pub(crate) const MAX_EXPECTATIONS: usize = 50;

/// A service to probe, as the admin form and the configuration file describe it. The component
/// is named (the file) or picked (the form); the store resolves it.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSpec {
    /// Lowercase letters, digits, `.`, `_` and `-`; used in URLs.
    pub name: String,
    /// `http://` or `https://` URL of the health endpoint.
    pub url: String,
    /// JSON pointer → expected JSON value.
    pub expect: BTreeMap<String, Value>,
    /// Seconds between two probes.
    pub interval_seconds: i32,
    /// Milliseconds a probe may take, body included; less than the interval.
    pub timeout_ms: i32,
    /// Consecutive failures that make the service down.
    pub failures_before_down: i32,
    /// Name of the status-page component a down service degrades.
    pub component: Option<String>,
    /// How badly a down service hurts that component.
    pub impact: Impact,
    /// Severity of the incident a down service declares; `None`: never.
    pub open_incident: Option<Severity>,
    /// Passing checks in a row after which a down service stops counting against its
    /// component (flapping suppression).
    pub passes_before_up: i32,
    /// Whether the incidents it declares are public at once (default: private until a
    /// commander publishes one).
    pub public_incidents: bool,
    pub enabled: bool,
}

impl ServiceSpec {
    /// A spec with the defaults, for forms and tests.
    pub(crate) fn new(name: &str, url: &str) -> Self {
        Self {
            name: name.to_owned(),
            url: url.to_owned(),
            expect: BTreeMap::new(),
            interval_seconds: DEFAULT_INTERVAL_SECONDS,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            failures_before_down: DEFAULT_FAILURES_BEFORE_DOWN,
            component: None,
            impact: Impact::PartialOutage,
            open_incident: None,
            passes_before_up: DEFAULT_PASSES_BEFORE_UP,
            public_incidents: false,
            enabled: true,
        }
    }

    /// Every problem of the definition, as (field, message) pairs; empty when valid.
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![];
        if let Err(m) = check_name(&self.name) {
            out.push(("name", m));
        }
        if let Err(m) = check_url(&self.url) {
            out.push(("url", m));
        }
        if self.expect.len() > MAX_EXPECTATIONS {
            out.push(("expect", format!("Use at most {MAX_EXPECTATIONS} expected fields.")));
        }
        for pointer in self.expect.keys() {
            if !pointer.starts_with('/') {
                out.push((
                    "expect",
                    format!("{pointer:?} is not a JSON pointer: write it like /status or /checks/0/state."),
                ));
            }
        }
        if !(MIN_INTERVAL_SECONDS..=MAX_INTERVAL_SECONDS).contains(&self.interval_seconds) {
            out.push((
                "interval_seconds",
                format!("Probe every {MIN_INTERVAL_SECONDS} to {MAX_INTERVAL_SECONDS} seconds."),
            ));
        }
        if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            out.push(("timeout_ms", format!("Use a timeout of {MIN_TIMEOUT_MS} to {MAX_TIMEOUT_MS} ms.")));
        } else if i64::from(self.timeout_ms) >= i64::from(self.interval_seconds) * 1000 {
            out.push(("timeout_ms", "The timeout must be shorter than the interval.".into()));
        }
        if !(1..=MAX_FAILURES_BEFORE_DOWN).contains(&self.failures_before_down) {
            out.push(("failures_before_down", format!("Use 1 to {MAX_FAILURES_BEFORE_DOWN} failures.")));
        }
        if !(1..=MAX_PASSES_BEFORE_UP).contains(&self.passes_before_up) {
            out.push(("passes_before_up", format!("Use 1 to {MAX_PASSES_BEFORE_UP} passing checks.")));
        }
        out
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err("Use 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit (it appears in URLs).".into())
    }
}

fn check_url(url: &str) -> Result<(), String> {
    if url.chars().count() > MAX_URL_CHARS {
        return Err(format!("Use at most {MAX_URL_CHARS} characters."));
    }
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()) => {
            if u.password().is_some() {
                Err("Do not put a password in the URL: it would be shown on pages.".into())
            } else {
                Ok(())
            }
        }
        _ => Err("Enter an http:// or https:// URL such as http://edgeserver.twisterlab.local:30001/health."
            .into()),
    }
}

/// Parses the expected fields of the admin form: one `pointer = value` per line. The value is
/// JSON when it reads as a JSON scalar (`true`, `42`, `"quoted"`), otherwise plain text.
pub(crate) fn parse_expect_lines(text: &str) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((pointer, value)) = line.split_once('=') else {
            return Err(format!("Line {}: write `pointer = value`, e.g. /status = healthy.", i + 1));
        };
        let pointer = pointer.trim();
        let value = value.trim();
        let parsed = match serde_json::from_str::<Value>(value) {
            Ok(v @ (Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Null)) => v,
            _ => Value::String(value.to_owned()),
        };
        if out.insert(pointer.to_owned(), parsed).is_some() {
            return Err(format!("Line {}: {pointer} is listed twice.", i + 1));
        }
    }
    Ok(out)
}

/// The expected fields as the admin form shows them, one per line.
pub(crate) fn expect_lines(expect: &BTreeMap<String, Value>) -> String {
    expect
        .iter()
        .map(|(pointer, value)| match value {
            Value::String(s) if serde_json::from_str::<Value>(s).is_err() => format!("{pointer} = {s}"),
            other => format!("{pointer} = {other}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One `[[services]]` table as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileService {
    name: String,
    url: String,
    interval_seconds: Option<i64>,
    timeout_ms: Option<i64>,
    failures_before_down: Option<i64>,
    component: Option<String>,
    impact: Option<String>,
    /// `"P0"`…`"P3"`; omitted: never open an incident.
    open_incident: Option<String>,
    passes_before_up: Option<i64>,
    /// Whether declared incidents are public at once; omitted: private.
    public_incidents: Option<bool>,
    #[serde(default)]
    expect: BTreeMap<String, toml::Value>,
    enabled: Option<bool>,
}

/// The `[[services]]` of the configuration file; an error names the entry and the field.
pub(crate) fn services_from_file(file: &toml::Table) -> Result<Vec<ServiceSpec>, String> {
    let Some(value) = file.get("services") else {
        return Ok(vec![]);
    };
    let Some(entries) = value.as_array() else {
        return Err("`services` must be an array of tables: write each one as [[services]]".into());
    };
    let mut out: Vec<ServiceSpec> = vec![];
    for (i, entry) in entries.iter().enumerate() {
        let at = |what: String| format!("[[services]] entry {}: {what}", i + 1);
        let raw: FileService =
            entry.clone().try_into().map_err(|e: toml::de::Error| at(e.message().to_owned()))?;
        let number = |v: Option<i64>, default: i32, field: &str| -> Result<i32, String> {
            match v {
                None => Ok(default),
                Some(n) => i32::try_from(n).map_err(|_| at(format!("{field} = {n} is out of range"))),
            }
        };
        let impact = match raw.impact.as_deref() {
            None => Impact::PartialOutage,
            Some(s) => s.parse::<Impact>().map_err(|e| at(format!("impact: {e}")))?,
        };
        let open_incident = match raw.open_incident.as_deref() {
            None | Some("") | Some("none") => None,
            Some(s) => Some(
                s.parse::<Severity>()
                    .map_err(|_| at(format!("open_incident = {s:?}: expected P0, P1, P2, P3 or omitted")))?,
            ),
        };
        let mut expect = BTreeMap::new();
        for (pointer, v) in raw.expect {
            let json = match v {
                toml::Value::String(s) => Value::String(s),
                toml::Value::Integer(n) => Value::from(n),
                toml::Value::Float(f) => {
                    serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
                }
                toml::Value::Boolean(b) => Value::Bool(b),
                other => {
                    return Err(at(format!(
                        "expect {pointer:?} = {other}: expected a string, number or boolean"
                    )));
                }
            };
            expect.insert(pointer, json);
        }
        let spec = ServiceSpec {
            name: raw.name.trim().to_owned(),
            url: raw.url.trim().to_owned(),
            expect,
            interval_seconds: number(raw.interval_seconds, DEFAULT_INTERVAL_SECONDS, "interval_seconds")?,
            timeout_ms: number(raw.timeout_ms, DEFAULT_TIMEOUT_MS, "timeout_ms")?,
            failures_before_down: number(
                raw.failures_before_down,
                DEFAULT_FAILURES_BEFORE_DOWN,
                "failures_before_down",
            )?,
            component: raw.component.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()),
            impact,
            open_incident,
            passes_before_up: number(raw.passes_before_up, DEFAULT_PASSES_BEFORE_UP, "passes_before_up")?,
            public_incidents: raw.public_incidents.unwrap_or(false),
            enabled: raw.enabled.unwrap_or(true),
        };
        if let Some((field, message)) = spec.problems().into_iter().next() {
            return Err(at(format!("{field} ({}): {message}", spec.name)));
        }
        if out.iter().any(|s| s.name == spec.name) {
            return Err(at(format!("the name {:?} is used twice", spec.name)));
        }
        out.push(spec);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ISSUE_EXAMPLE: &str = r#"
[[services]]
name = "twisterlab-api"
url = "http://edgeserver.twisterlab.local:30001/health"
interval_seconds = 30
timeout_ms = 2000
failures_before_down = 3
component = "API"
impact = "major_outage"
open_incident = "P1"          # omit to never open incidents
expect = { "/status" = "healthy", "/database" = "connected", "/redis" = "connected", "/agents" = "operational" }

[[services]]
name = "ollama"
url = "http://ollama-service:11434/api/tags"
"#;

    #[test]
    fn the_issue_example_parses() {
        let file: toml::Table = ISSUE_EXAMPLE.parse().expect("toml");
        let services = services_from_file(&file).expect("valid");
        assert_eq!(services.len(), 2);
        let api = &services[0];
        assert_eq!(api.name, "twisterlab-api");
        assert_eq!(api.impact, Impact::MajorOutage);
        assert_eq!(api.open_incident, Some(Severity::P1));
        assert_eq!(api.component.as_deref(), Some("API"));
        assert_eq!(api.expect["/database"], json!("connected"));
        assert_eq!(api.expect.len(), 4);
        let ollama = &services[1];
        assert_eq!((ollama.interval_seconds, ollama.timeout_ms, ollama.open_incident), (30, 2000, None));
    }

    #[test]
    fn file_errors_name_the_entry_and_the_field() {
        let bad: toml::Table = "[[services]]\nname = \"api\"\nurl = \"ftp://x\"\n".parse().expect("toml");
        let err = services_from_file(&bad).expect_err("invalid");
        assert!(err.contains("entry 1") && err.contains("url"), "{err}");
        let unknown: toml::Table =
            "[[services]]\nname = \"api\"\nurl = \"http://x\"\nintervall = 3\n".parse().expect("toml");
        let err = services_from_file(&unknown).expect_err("invalid");
        assert!(err.contains("intervall"), "{err}");
        let slow: toml::Table =
            "[[services]]\nname = \"api\"\nurl = \"http://x\"\ninterval_seconds = 5\ntimeout_ms = 5000\n"
                .parse()
                .expect("toml");
        let err = services_from_file(&slow).expect_err("invalid");
        assert!(err.contains("shorter than the interval"), "{err}");
        let twice: toml::Table =
            "[[services]]\nname = \"a\"\nurl = \"http://x\"\n[[services]]\nname = \"a\"\nurl = \"http://y\"\n".parse().expect("toml");
        assert!(services_from_file(&twice).expect_err("dupe").contains("twice"));
    }

    #[test]
    fn form_lines_round_trip() {
        let parsed =
            parse_expect_lines("/status = healthy\n\n/code = 200\n/ok=true\n/text = \"42\"").expect("valid");
        assert_eq!(parsed["/status"], json!("healthy"));
        assert_eq!(parsed["/code"], json!(200));
        assert_eq!(parsed["/ok"], json!(true));
        assert_eq!(parsed["/text"], json!("42"));
        assert_eq!(parse_expect_lines(&expect_lines(&parsed)).expect("valid"), parsed);
        assert!(parse_expect_lines("/status healthy").is_err());
    }

    #[test]
    fn names_and_urls_are_checked() {
        assert!(ServiceSpec::new("twisterlab-api", "http://x:1/health").problems().is_empty());
        let bad = ServiceSpec::new("Bad Name", "http://u:pw@x/");
        let fields: Vec<_> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["name", "url"]);
    }
}
