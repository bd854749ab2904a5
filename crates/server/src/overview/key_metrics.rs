//! The runbook's key metrics, read through the Prometheus HTTP API (`/api/v1/query`): each a
//! PromQL query with a threshold and a direction. Anything short of a number is "unknown" with
//! its reason, never "ok".

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use twisterlab_domain::health::{Direction, MetricState, Unit, excerpt, metric_state};
use twisterlab_domain::severity::Severity;

use super::probe::{error_text, status_text};

/// How long one query may take.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest Prometheus answer read, in bytes.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// One key metric: what to ask Prometheus and where its threshold is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyMetricSpec {
    /// Identifier, used to override a default from the file (`api_latency_p95`).
    pub name: String,
    /// Words on the page ("API latency p95").
    pub label: String,
    /// PromQL returning one number (an instant vector's worst series counts).
    pub query: String,
    pub threshold: f64,
    pub direction: Direction,
    pub unit: Unit,
    /// How long the metric must stay over its threshold before it becomes a health signal
    /// (Prometheus's `for`), in seconds.
    #[serde(default = "default_hold")]
    pub for_seconds: u32,
    /// Severity of the incident a held breach declares; `None`: a signal without incident.
    #[serde(default)]
    pub open_incident: Option<Severity>,
}

/// The default "for" duration: five minutes.
pub(crate) const DEFAULT_FOR_SECONDS: u32 = 300;
/// The longest "for" duration: a day.
pub(crate) const MAX_FOR_SECONDS: u32 = 86_400;

fn default_hold() -> u32 {
    DEFAULT_FOR_SECONDS
}

impl KeyMetricSpec {
    /// The "for" duration.
    pub(crate) fn hold(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_secs(i64::from(self.for_seconds))
    }
}

fn spec(
    name: &str,
    label: &str,
    query: &str,
    threshold: f64,
    direction: Direction,
    unit: Unit,
) -> KeyMetricSpec {
    KeyMetricSpec {
        name: name.into(),
        label: label.into(),
        query: query.into(),
        threshold,
        direction,
        unit,
        for_seconds: DEFAULT_FOR_SECONDS,
        open_incident: Some(Severity::P2),
    }
}

/// The runbook's "Key Metrics to Monitor", as PromQL over the metrics TwisterLab's API exports
/// (the demo target exports the same series).
pub(crate) fn defaults() -> Vec<KeyMetricSpec> {
    use Direction::{Above, Below};
    vec![
        spec(
            "api_latency_p95",
            "API latency p95",
            "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
            0.5,
            Below,
            Unit::Seconds,
        ),
        spec(
            "api_latency_p99",
            "API latency p99",
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
            1.0,
            Below,
            Unit::Seconds,
        ),
        spec(
            "error_rate",
            "Error rate",
            "sum(rate(http_request_errors_total[5m])) / sum(rate(http_requests_total[5m]))",
            0.01,
            Below,
            Unit::Ratio,
        ),
        spec(
            "agent_success_rate",
            "Agent success rate",
            "sum(rate(agent_executions_total{outcome=\"success\"}[5m])) / sum(rate(agent_executions_total[5m]))",
            0.95,
            Above,
            Unit::Ratio,
        ),
        spec(
            "db_connections",
            "Database connections (share of pool)",
            "max(db_connections_in_use / db_connections_max)",
            0.8,
            Below,
            Unit::Ratio,
        ),
        spec(
            "memory",
            "Memory (share of limit)",
            "max(container_memory_usage_bytes / container_memory_limit_bytes)",
            0.8,
            Below,
            Unit::Ratio,
        ),
        // The runbook's scale-up trigger: CPU over 70 % for 10 minutes.
        KeyMetricSpec {
            for_seconds: 600,
            ..spec(
                "cpu",
                "CPU (share of limit)",
                "max(rate(container_cpu_usage_seconds_total[5m]) / container_cpu_limit_cores)",
                0.7,
                Below,
                Unit::Ratio,
            )
        },
    ]
}

/// One `[[key_metrics]]` table: overrides the default with the same name, or adds a metric.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMetric {
    name: String,
    label: Option<String>,
    query: Option<String>,
    threshold: Option<f64>,
    direction: Option<String>,
    unit: Option<String>,
    /// `false` removes a default metric.
    enabled: Option<bool>,
    /// Seconds over the threshold before it is a health signal.
    for_seconds: Option<i64>,
    /// `"P0"`…`"P3"`, or `"none"` for a signal without incident.
    open_incident: Option<String>,
}

/// The defaults merged with the file's `[[key_metrics]]`.
pub(crate) fn from_file(file: &toml::Table) -> Result<Vec<KeyMetricSpec>, String> {
    let mut specs = defaults();
    let Some(value) = file.get("key_metrics") else {
        return Ok(specs);
    };
    let Some(entries) = value.as_array() else {
        return Err("`key_metrics` must be an array of tables: write each one as [[key_metrics]]".into());
    };
    for (i, entry) in entries.iter().enumerate() {
        let at = |what: String| format!("[[key_metrics]] entry {}: {what}", i + 1);
        let raw: FileMetric =
            entry.clone().try_into().map_err(|e: toml::de::Error| at(e.message().to_owned()))?;
        let existing = specs.iter().position(|s| s.name == raw.name);
        if raw.enabled == Some(false) {
            match existing {
                Some(index) => {
                    specs.remove(index);
                    continue;
                }
                None => return Err(at(format!("no default metric is called {:?}", raw.name))),
            }
        }
        let direction = match raw.direction.as_deref() {
            None => None,
            Some(d) => Some(
                Direction::parse(d).ok_or_else(|| at(format!("direction {d:?}: expected below or above")))?,
            ),
        };
        let unit = match raw.unit.as_deref() {
            None => None,
            Some(u) => Some(
                Unit::parse(u).ok_or_else(|| at(format!("unit {u:?}: expected seconds, ratio or number")))?,
            ),
        };
        if raw.threshold.is_some_and(|t| !t.is_finite()) {
            return Err(at("threshold must be a finite number".into()));
        }
        if raw.query.as_deref().is_some_and(|q| q.trim().is_empty()) {
            return Err(at("query is empty".into()));
        }
        let for_seconds = match raw.for_seconds {
            None => None,
            Some(n) => Some(
                u32::try_from(n)
                    .ok()
                    .filter(|n| *n <= MAX_FOR_SECONDS)
                    .ok_or_else(|| at(format!("for_seconds = {n}: use 0 to {MAX_FOR_SECONDS}")))?,
            ),
        };
        let open_incident =
            match raw.open_incident.as_deref() {
                None => None,
                Some("none" | "") => Some(None),
                Some(s) => Some(Some(s.parse::<Severity>().map_err(|_| {
                    at(format!("open_incident = {s:?}: expected P0, P1, P2, P3 or \"none\""))
                })?)),
            };
        match existing {
            Some(index) => {
                let s = &mut specs[index];
                if let Some(v) = raw.label {
                    s.label = v;
                }
                if let Some(v) = raw.query {
                    s.query = v;
                }
                if let Some(v) = raw.threshold {
                    s.threshold = v;
                }
                if let Some(v) = direction {
                    s.direction = v;
                }
                if let Some(v) = unit {
                    s.unit = v;
                }
                if let Some(v) = for_seconds {
                    s.for_seconds = v;
                }
                if let Some(v) = open_incident {
                    s.open_incident = v;
                }
            }
            None => {
                let (Some(query), Some(threshold), Some(direction)) = (raw.query, raw.threshold, direction)
                else {
                    return Err(at(format!(
                        "{:?} is a new metric: give it query, threshold and direction",
                        raw.name
                    )));
                };
                specs.push(KeyMetricSpec {
                    label: raw.label.unwrap_or_else(|| raw.name.clone()),
                    name: raw.name,
                    query,
                    threshold,
                    direction,
                    unit: unit.unwrap_or(Unit::Number),
                    for_seconds: for_seconds.unwrap_or(DEFAULT_FOR_SECONDS),
                    open_incident: open_incident.unwrap_or(Some(Severity::P2)),
                });
            }
        }
    }
    Ok(specs)
}

/// One metric as last read: shown as value, threshold and state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Reading {
    pub name: String,
    pub label: String,
    pub query: String,
    /// `None` when unknown.
    pub value: Option<f64>,
    pub threshold: f64,
    pub direction: Direction,
    pub unit: Unit,
    pub state: MetricState,
    /// Why the state is unknown (or a note such as "worst of 3 series").
    pub reason: Option<String>,
}

impl Reading {
    /// "412 ms", or "unknown".
    pub(crate) fn value_text(&self) -> String {
        match self.value {
            Some(v) if v.is_finite() => self.unit.format(v),
            _ => "unknown".into(),
        }
    }

    /// "< 500 ms".
    pub(crate) fn threshold_text(&self) -> String {
        format!("{} {}", self.direction.symbol(), self.unit.format(self.threshold))
    }

    fn unknown(spec: &KeyMetricSpec, reason: impl Into<String>) -> Self {
        Self::of(spec, None, Some(reason.into()))
    }

    fn of(spec: &KeyMetricSpec, value: Option<f64>, reason: Option<String>) -> Self {
        Self {
            name: spec.name.clone(),
            label: spec.label.clone(),
            query: spec.query.clone(),
            value,
            threshold: spec.threshold,
            direction: spec.direction,
            unit: spec.unit,
            state: metric_state(value, spec.direction, spec.threshold),
            reason,
        }
    }
}

/// A client of one Prometheus server's HTTP API.
#[derive(Clone, Debug)]
pub(crate) struct Prometheus {
    base: String,
    http: reqwest::Client,
}

impl Prometheus {
    /// `base` such as `http://prometheus:9090` (a path prefix is kept).
    pub(crate) fn new(base: &str) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(QUERY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .no_proxy()
            .user_agent(concat!("twisterlab-portal/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), http })
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Reads one metric. Never fails: every problem becomes an unknown reading with its reason.
    pub(crate) async fn read(&self, spec: &KeyMetricSpec) -> Reading {
        match self.query(&spec.query).await {
            Ok(samples) => judge_samples(spec, &samples),
            Err(reason) => Reading::unknown(spec, reason),
        }
    }

    /// Every metric, queried concurrently, in the order of `specs`.
    pub(crate) async fn read_all(&self, specs: &[KeyMetricSpec]) -> Vec<Reading> {
        let mut set = tokio::task::JoinSet::new();
        for (i, spec) in specs.iter().cloned().enumerate() {
            let prometheus = self.clone();
            set.spawn(async move { (i, prometheus.read(&spec).await) });
        }
        let mut readings: Vec<Option<Reading>> = vec![None; specs.len()];
        while let Some(joined) = set.join_next().await {
            if let Ok((i, reading)) = joined {
                readings[i] = Some(reading);
            }
        }
        specs
            .iter()
            .zip(readings)
            .map(|(spec, r)| r.unwrap_or_else(|| Reading::unknown(spec, "the query task failed")))
            .collect()
    }

    /// The samples of an instant query, or why there are none.
    pub(crate) async fn query(&self, promql: &str) -> Result<Vec<f64>, String> {
        let url = format!("{}/api/v1/query", self.base);
        let answer = self.http.get(&url).query(&[("query", promql)]).send().await.map_err(|e| {
            if e.is_timeout() {
                format!("Prometheus did not answer within {} s", QUERY_TIMEOUT.as_secs())
            } else {
                format!("Prometheus is unreachable at {}: {}", self.base, error_text(&e))
            }
        })?;
        let status = answer.status().as_u16();
        let content_type = answer
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = read_limited(answer).await?;
        parse_answer(status, &content_type, &body)
    }
}

async fn read_limited(mut answer: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match answer.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(format!("Prometheus answered more than {} KiB", MAX_ANSWER_BYTES / 1024));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => {
                return Err(format!("Prometheus did not answer within {} s", QUERY_TIMEOUT.as_secs()));
            }
            Err(e) => return Err(format!("Prometheus's answer broke off: {}", error_text(&e))),
        }
    }
}

/// The Prometheus API envelope.
#[derive(Deserialize)]
struct Envelope {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Value,
}

/// Samples of an instant query answer, or why there are none.
pub(crate) fn parse_answer(status: u16, content_type: &str, body: &[u8]) -> Result<Vec<f64>, String> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|_| {
        let shown = if content_type.is_empty() { "no content type" } else { content_type };
        format!(
            "the answer is not Prometheus's JSON API (HTTP {}, {shown}, starts with {:?})",
            status_text(status),
            excerpt(body, 40)
        )
    })?;
    if envelope.status != "success" {
        let kind = envelope.error_type.unwrap_or_else(|| "error".into());
        let error = envelope.error.unwrap_or_else(|| "no message".into());
        return Err(format!("Prometheus refused the query ({kind}): {error}"));
    }
    let data = envelope.data.ok_or("Prometheus answered success without data")?;
    let sample = |pair: &Value| -> Result<f64, String> {
        let text = pair.get(1).and_then(Value::as_str).ok_or("a sample without a value")?;
        match text {
            "NaN" => Ok(f64::NAN),
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            t => t.parse::<f64>().map_err(|_| format!("a sample value {t:?} that is not a number")),
        }
    };
    match data.result_type.as_str() {
        "scalar" => Ok(vec![sample(&data.result)?]),
        "vector" => {
            let series = data.result.as_array().ok_or("a vector that is not a list")?;
            series.iter().map(|s| sample(s.get("value").unwrap_or(&Value::Null))).collect()
        }
        other => Err(format!("the query returned a {other}, not a number: write an instant query")),
    }
}

/// The reading from a query's samples: the worst finite one counts.
fn judge_samples(spec: &KeyMetricSpec, samples: &[f64]) -> Reading {
    if samples.is_empty() {
        return Reading::unknown(spec, "the query returned no data (no such series, or nothing scraped yet)");
    }
    let finite: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    let Some(worst) = finite.iter().copied().reduce(|a, b| spec.direction.worse(a, b)) else {
        return Reading::unknown(spec, "the query returned no number (NaN: no traffic in the window?)");
    };
    let note = (samples.len() > 1).then(|| format!("worst of {} series", samples.len()));
    Reading::of(spec, Some(worst), note)
}

/// What the overview shows of Prometheus: every reading, or that it is not configured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct MetricsSnapshot {
    /// `TWISTERLAB_PROMETHEUS_URL` was set.
    pub configured: bool,
    pub prometheus_url: Option<String>,
    pub readings: Vec<Reading>,
}

/// `url` without a user name or password.
pub(crate) fn without_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.as_str().trim_end_matches('/').to_owned()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod credential_tests {
    #[test]
    fn the_prometheus_url_shown_on_the_overview_has_no_credentials() {
        assert_eq!(
            super::without_credentials("http://scraper:pr0m-pw@prometheus:9090"),
            "http://prometheus:9090"
        );
        assert_eq!(super::without_credentials("http://prometheus:9090/sub"), "http://prometheus:9090/sub");
    }
}

/// Reads every metric (or, without Prometheus, marks each unknown).
pub(crate) async fn take_snapshot(
    prometheus: Option<&Prometheus>,
    specs: &[KeyMetricSpec],
) -> MetricsSnapshot {
    match prometheus {
        Some(p) => MetricsSnapshot {
            configured: true,
            // Shown on the overview to every role: never with the credentials it may carry.
            prometheus_url: Some(without_credentials(p.base())),
            readings: p.read_all(specs).await,
        },
        None => MetricsSnapshot {
            configured: false,
            prometheus_url: None,
            readings: specs
                .iter()
                .map(|s| Reading::unknown(s, "no Prometheus configured (set TWISTERLAB_PROMETHEUS_URL)"))
                .collect(),
        },
    }
}

/// A Grafana dashboard link shown on the overview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DashboardLink {
    pub label: &'static str,
    pub url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::close;

    #[test]
    fn the_defaults_are_the_runbooks_thresholds() {
        let d = defaults();
        let find = |n: &str| d.iter().find(|s| s.name == n).expect("metric");
        for (name, threshold, direction) in [
            ("api_latency_p95", 0.5, Direction::Below),
            ("api_latency_p99", 1.0, Direction::Below),
            ("error_rate", 0.01, Direction::Below),
            ("agent_success_rate", 0.95, Direction::Above),
            ("db_connections", 0.8, Direction::Below),
            ("memory", 0.8, Direction::Below),
        ] {
            let spec = find(name);
            assert!(close(spec.threshold, threshold), "{name}: {}", spec.threshold);
            assert_eq!(spec.direction, direction, "{name}");
        }
    }

    #[test]
    fn the_file_overrides_adds_and_removes_metrics() {
        let file: toml::Table = r#"
[[key_metrics]]
name = "error_rate"
threshold = 0.02
[[key_metrics]]
name = "memory"
enabled = false
[[key_metrics]]
name = "queue_depth"
label = "Request queue depth"
query = "max(queue_depth)"
threshold = 100
direction = "below"
"#
        .parse()
        .expect("toml");
        let specs = from_file(&file).expect("valid");
        let error_rate = specs.iter().find(|s| s.name == "error_rate").expect("kept");
        assert!(close(error_rate.threshold, 0.02), "{error_rate:?}");
        assert!(!specs.iter().any(|s| s.name == "memory"));
        let q = specs.iter().find(|s| s.name == "queue_depth").expect("added");
        assert_eq!((q.unit, q.direction), (Unit::Number, Direction::Below));
        let bad: toml::Table = "[[key_metrics]]\nname = \"new\"\nquery = \"up\"\n".parse().expect("toml");
        assert!(from_file(&bad).expect_err("incomplete").contains("threshold"));
    }

    #[test]
    fn answers_become_samples_or_reasons() {
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.5,"0.25"]},{"metric":{"pod":"b"},"value":[1.5,"NaN"]}]}}"#;
        let samples = parse_answer(200, "application/json", vector).expect("samples");
        assert_eq!(samples.len(), 2);
        assert!(close(samples[0], 0.25), "{samples:?}");
        assert!(samples[1].is_nan());
        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"3"]}}"#;
        let samples = parse_answer(200, "application/json", scalar).expect("samples");
        assert!(samples.len() == 1 && close(samples[0], 3.0), "{samples:?}");
        let error = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        assert_eq!(
            parse_answer(400, "application/json", error),
            Err("Prometheus refused the query (bad_data): parse error at char 5".into())
        );
        let html = parse_answer(200, "text/html", b"<html>login</html>").expect_err("garbage");
        assert!(html.contains("not Prometheus's JSON API"), "{html}");
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(parse_answer(200, "", matrix).expect_err("matrix").contains("matrix"));
    }

    #[test]
    fn the_worst_series_counts_and_nan_only_is_unknown() {
        let spec = &defaults()[3]; // agent success, above 95 %
        let r = judge_samples(spec, &[0.99, 0.91, f64::NAN]);
        assert!(r.value.is_some_and(|v| close(v, 0.91)), "{r:?}");
        assert_eq!(r.state, MetricState::Breach);
        assert_eq!(r.reason.as_deref(), Some("worst of 3 series"));
        assert_eq!(judge_samples(spec, &[f64::NAN]).state, MetricState::Unknown);
        assert_eq!(judge_samples(spec, &[]).state, MetricState::Unknown);
        assert_eq!(judge_samples(spec, &[0.99]).threshold_text(), "> 95.0 %");
    }
}
