//! Typed configuration, read once at start from `TWISTERLAB_*` variables and an optional TOML file.
//!
//! Every setting is declared once in [`FIELDS`]: its environment variable, its TOML key, its
//! default and what it means. `check-config` prints that table with the effective values, and a
//! value that does not parse is reported with the field's name (exit code 2).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// A value that must never reach a log line or a page. `Debug` and `Display` print a mask.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it (a connection, a hash check).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines for a terminal.
    Pretty,
    /// One JSON object per line for log collectors.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            _ => Err("expected `pretty` or `json`".into()),
        }
    }
}

/// Whether the session cookie carries the `Secure` attribute and the `__Host-` prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieSecure {
    /// Secure when `public_url` is https.
    Auto,
    Always,
    Never,
}

impl FromStr for CookieSecure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "true" | "yes" | "1" => Ok(Self::Always),
            "false" | "no" | "0" => Ok(Self::Never),
            _ => Err("expected `auto`, `true` or `false`".into()),
        }
    }
}

/// Whether the Kubernetes panel looks for a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KubeEnabled {
    /// Use a kubeconfig or in-cluster service account when one is found; otherwise the panel
    /// says "no cluster configured".
    Auto,
    /// The same, but a missing configuration is logged as an error.
    Always,
    /// No cluster: the panel says it is turned off.
    Never,
}

impl FromStr for KubeEnabled {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "true" | "yes" | "1" => Ok(Self::Always),
            "false" | "no" | "0" => Ok(Self::Never),
            _ => Err("expected `auto`, `true` or `false`".into()),
        }
    }
}

/// The portal's effective configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// PostgreSQL connection string; `None` means "find or start a local PostgreSQL".
    pub database_url: Option<Secret>,
    /// Address the HTTP server listens on.
    pub bind: SocketAddr,
    /// Host name whose requests get the public status page at `/`.
    pub status_host: String,
    /// Base URL of the internal pages, used in links sent out (Slack, e-mail) and for cookies.
    pub public_url: String,
    /// The team's IANA time zone, for business hours and for showing times.
    pub timezone: jiff::tz::TimeZone,
    /// Name of [`Config::timezone`] as configured (e.g. `Europe/Berlin`).
    pub timezone_name: String,
    /// Kubernetes namespace the adapter reads and acts on.
    pub kube_namespace: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// `tracing` filter directives (e.g. `info,twisterlab_server=debug`).
    pub log_filter: String,
    /// Directory for local state: the private PostgreSQL cluster lives in `<data_dir>/pgdata`.
    pub data_dir: PathBuf,
    /// Maximum connections in the database pool.
    pub db_pool_max: u32,
    /// How long a request waits for a pooled connection before failing.
    pub db_acquire_timeout: Duration,
    /// How long the start keeps retrying an unreachable database before giving up.
    pub db_connect_timeout: Duration,
    /// Local PostgreSQL tried first when `database_url` is unset.
    pub local_postgres: SocketAddr,
    /// Port of the private PostgreSQL cluster (its Unix socket name; it never listens on TCP).
    pub private_pg_port: u16,
    /// Longest time a request may take before it is answered with 408.
    pub request_timeout: Duration,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Session cookie security.
    pub cookie_secure: CookieSecure,
    /// Idle session lifetime.
    pub session_idle_timeout: Duration,
    /// Absolute session lifetime.
    pub session_absolute_timeout: Duration,
    /// Take the client address from the last `X-Forwarded-For` entry (behind an ingress).
    pub trust_forwarded_for: bool,
    /// E-mail of the first admin, created at a start with no users.
    pub admin_email: Option<String>,
    /// Password of the first admin.
    pub admin_password: Option<Secret>,
    /// Prometheus base URL for the overview's key metrics; `None`: they show "unknown".
    pub prometheus_url: Option<String>,
    /// Whether the Kubernetes panel looks for a cluster.
    pub kube_enabled: KubeEnabled,
    /// Kubeconfig file for the Kubernetes panel; `None`: $KUBECONFIG, ~/.kube/config, in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// Grafana "System Overview" dashboard URL shown on the overview (empty: no link).
    pub grafana_system_overview_url: String,
    /// Grafana "Agent Performance" dashboard URL (empty: no link).
    pub grafana_agent_performance_url: String,
    /// Grafana "Database Metrics" dashboard URL (empty: no link).
    pub grafana_database_metrics_url: String,
    /// Most health probes in flight at once in this process.
    pub probe_concurrency: usize,
    /// Services to probe defined as code in the file's `[[services]]`, reconciled at start.
    pub services: Vec<crate::overview::definition::ServiceSpec>,
    /// The key metrics: the runbook's defaults merged with the file's `[[key_metrics]]`.
    pub key_metrics: Vec<crate::overview::key_metrics::KeyMetricSpec>,
    /// Slack incoming-webhook URL for `#twisterlab-incidents`; the URL itself is the credential.
    pub slack_webhook_url: Option<Secret>,
    /// PagerDuty Events API v2 routing (integration) key.
    pub pagerduty_routing_key: Option<Secret>,
    /// PagerDuty Events API v2 endpoint the routing key's events are sent to.
    pub pagerduty_events_url: String,
    /// Generic webhook endpoint that receives incident events as HMAC-signed JSON.
    pub webhook_url: Option<Secret>,
    /// HMAC-SHA256 key that signs the generic webhook's requests (see docs/WEBHOOKS.md).
    pub webhook_secret: Option<Secret>,
}

/// One configuration setting: where it comes from and what it means.
#[derive(Debug)]
pub struct Field {
    /// Environment variable.
    pub env: &'static str,
    /// Key in the TOML file.
    pub key: &'static str,
    /// Default value, as text; `None` when unset by default.
    pub default: Option<&'static str>,
    /// Masked in `check-config` output and logs.
    pub secret: bool,
    /// What it means, with its unit.
    pub help: &'static str,
}

macro_rules! field {
    ($env:literal, $key:literal, $default:expr, $secret:literal, $help:literal) => {
        Field { env: $env, key: $key, default: $default, secret: $secret, help: $help }
    };
}

/// Every setting the portal reads.
pub const FIELDS: &[Field] = &[
    field!(
        "DATABASE_URL",
        "database_url",
        None,
        true,
        "PostgreSQL URL; unset: use 127.0.0.1:5432 or start a private cluster"
    ),
    field!(
        "TWISTERLAB_BIND",
        "bind",
        Some("127.0.0.1:8080"),
        false,
        "address:port the HTTP server listens on"
    ),
    field!(
        "TWISTERLAB_STATUS_HOST",
        "status_host",
        Some("status.twisterlab.local"),
        false,
        "Host header that gets the public status page at /"
    ),
    field!(
        "TWISTERLAB_PUBLIC_URL",
        "public_url",
        None,
        false,
        "base URL of the internal pages (default http://<bind>)"
    ),
    field!(
        "TWISTERLAB_TIMEZONE",
        "timezone",
        Some("UTC"),
        false,
        "the team's IANA time zone (business hours, displayed times)"
    ),
    field!(
        "TWISTERLAB_KUBE_NAMESPACE",
        "kube_namespace",
        Some("twisterlab"),
        false,
        "Kubernetes namespace the portal watches and acts on"
    ),
    field!(
        "TWISTERLAB_KUBE_ENABLED",
        "kube_enabled",
        Some("auto"),
        false,
        "Kubernetes panel: auto (use a cluster when configured), true (and log an error without one) or false"
    ),
    field!(
        "TWISTERLAB_KUBECONFIG",
        "kubeconfig",
        None,
        false,
        "kubeconfig file for the Kubernetes panel; unset: $KUBECONFIG, ~/.kube/config, then in-cluster"
    ),
    field!(
        "TWISTERLAB_PROMETHEUS_URL",
        "prometheus_url",
        None,
        false,
        "Prometheus base URL (e.g. http://prometheus:9090) for the key metrics; unset: they show unknown"
    ),
    field!(
        "TWISTERLAB_GRAFANA_SYSTEM_OVERVIEW_URL",
        "grafana_system_overview_url",
        Some("http://grafana.twisterlab.local/d/system-overview"),
        false,
        "Grafana System Overview dashboard linked from the overview (empty: no link)"
    ),
    field!(
        "TWISTERLAB_GRAFANA_AGENT_PERFORMANCE_URL",
        "grafana_agent_performance_url",
        Some("http://grafana.twisterlab.local/d/agent-perf"),
        false,
        "Grafana Agent Performance dashboard (empty: no link)"
    ),
    field!(
        "TWISTERLAB_GRAFANA_DATABASE_METRICS_URL",
        "grafana_database_metrics_url",
        Some("http://grafana.twisterlab.local/d/database"),
        false,
        "Grafana Database Metrics dashboard (empty: no link)"
    ),
    field!(
        "TWISTERLAB_PROBE_CONCURRENCY",
        "probe_concurrency",
        Some("256"),
        false,
        "most health probes in flight at once per process"
    ),
    field!("TWISTERLAB_LOG_FORMAT", "log_format", Some("pretty"), false, "pretty or json"),
    field!("TWISTERLAB_LOG", "log", Some("info"), false, "tracing filter directives"),
    field!(
        "TWISTERLAB_DATA_DIR",
        "data_dir",
        Some("./.twisterlab"),
        false,
        "local state; the private PostgreSQL cluster lives in <data_dir>/pgdata"
    ),
    field!("TWISTERLAB_DB_POOL_MAX", "db_pool_max", Some("10"), false, "maximum database connections"),
    field!(
        "TWISTERLAB_DB_ACQUIRE_TIMEOUT",
        "db_acquire_timeout",
        Some("5"),
        false,
        "seconds a request waits for a database connection"
    ),
    field!(
        "TWISTERLAB_DB_CONNECT_TIMEOUT",
        "db_connect_timeout",
        Some("30"),
        false,
        "seconds the start keeps retrying an unreachable database"
    ),
    field!(
        "TWISTERLAB_LOCAL_POSTGRES",
        "local_postgres",
        Some("127.0.0.1:5432"),
        false,
        "PostgreSQL tried when DATABASE_URL is unset (database `twisterlab` is created)"
    ),
    field!(
        "TWISTERLAB_PRIVATE_PG_PORT",
        "private_pg_port",
        Some("5432"),
        false,
        "port (socket name) of the private PostgreSQL cluster"
    ),
    field!(
        "TWISTERLAB_REQUEST_TIMEOUT",
        "request_timeout",
        Some("30"),
        false,
        "seconds before a request is answered with 408"
    ),
    field!(
        "TWISTERLAB_BODY_LIMIT",
        "body_limit",
        Some("1048576"),
        false,
        "largest request body in bytes (larger: 413)"
    ),
    field!(
        "TWISTERLAB_SHUTDOWN_GRACE",
        "shutdown_grace",
        Some("30"),
        false,
        "seconds shutdown waits for in-flight requests"
    ),
    field!(
        "TWISTERLAB_COOKIE_SECURE",
        "cookie_secure",
        Some("auto"),
        false,
        "auto (secure when public_url is https), true or false"
    ),
    field!(
        "TWISTERLAB_SESSION_IDLE_TIMEOUT",
        "session_idle_timeout",
        Some("43200"),
        false,
        "seconds of inactivity that end a session (12 h)"
    ),
    field!(
        "TWISTERLAB_SESSION_ABSOLUTE_TIMEOUT",
        "session_absolute_timeout",
        Some("604800"),
        false,
        "seconds after sign-in that end a session (7 days)"
    ),
    field!(
        "TWISTERLAB_TRUST_FORWARDED_FOR",
        "trust_forwarded_for",
        Some("false"),
        false,
        "take the client address from X-Forwarded-For (only behind a proxy that sets it)"
    ),
    field!(
        "TWISTERLAB_ADMIN_EMAIL",
        "admin_email",
        None,
        false,
        "first admin's e-mail, created at a start with no users"
    ),
    field!(
        "TWISTERLAB_ADMIN_PASSWORD",
        "admin_password",
        None,
        true,
        "first admin's password (at least 12 characters)"
    ),
    field!(
        "TWISTERLAB_SLACK_WEBHOOK_URL",
        "slack_webhook_url",
        None,
        true,
        "Slack incoming-webhook URL for #twisterlab-incidents (a secret)"
    ),
    field!(
        "TWISTERLAB_PAGERDUTY_ROUTING_KEY",
        "pagerduty_routing_key",
        None,
        true,
        "PagerDuty Events API v2 routing key; incidents trigger, acknowledge and resolve there"
    ),
    field!(
        "TWISTERLAB_PAGERDUTY_EVENTS_URL",
        "pagerduty_events_url",
        Some("https://events.pagerduty.com/v2/enqueue"),
        false,
        "PagerDuty Events API v2 endpoint"
    ),
    field!(
        "TWISTERLAB_WEBHOOK_URL",
        "webhook_url",
        None,
        true,
        "endpoint that receives every incident event as signed JSON (docs/WEBHOOKS.md)"
    ),
    field!(
        "TWISTERLAB_WEBHOOK_SECRET",
        "webhook_secret",
        None,
        true,
        "HMAC-SHA256 key signing the webhook's requests; required with TWISTERLAB_WEBHOOK_URL"
    ),
];

/// A setting that could not be used; names the field so the operator knows what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("invalid configuration: {env} (`{key}` in the file) = {shown}: {reason}")]
    Invalid { env: &'static str, key: &'static str, shown: String, reason: String },
    #[error("invalid configuration: {0}")]
    Table(String),
}

/// Where a value came from, for `check-config`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Default,
    File,
    Environment,
    Unset,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Default => "default",
            Origin::File => "file",
            Origin::Environment => "environment",
            Origin::Unset => "unset",
        })
    }
}

/// The raw settings before parsing: environment over file over default.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    env: BTreeMap<String, String>,
    file: toml::Table,
}

impl Sources {
    /// Reads the process environment and, when given, the TOML file.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let file = match file {
            Some(path) => read_toml(path)?,
            None => toml::Table::new(),
        };
        Ok(Self { env: std::env::vars().collect(), file })
    }

    /// Settings from explicit values, for tests.
    pub fn from_pairs<'a>(env: impl IntoIterator<Item = (&'a str, &'a str)>, file: toml::Table) -> Self {
        Self { env: env.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(), file }
    }

    /// The TOML file's tables (e.g. `[[services]]`) for areas that keep definitions as code.
    pub fn file(&self) -> &toml::Table {
        &self.file
    }

    fn raw(&self, field: &Field) -> Result<(Option<String>, Origin), ConfigError> {
        if let Some(v) = self.env.get(field.env).filter(|v| !v.is_empty()) {
            return Ok((Some(v.clone()), Origin::Environment));
        }
        if let Some(v) = self.file.get(field.key) {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(invalid(
                        field,
                        &other.to_string(),
                        "expected a string, number or boolean".into(),
                    ));
                }
            };
            return Ok((Some(text), Origin::File));
        }
        Ok((
            field.default.map(str::to_owned),
            if field.default.is_some() { Origin::Default } else { Origin::Unset },
        ))
    }

    fn text(&self, env: &str) -> Result<Option<String>, ConfigError> {
        Ok(self.raw(lookup(env))?.0)
    }

    fn parse<T>(&self, env: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let field = lookup(env);
        let (value, _) = self.raw(field)?;
        let value = value.unwrap_or_default();
        value.trim().parse::<T>().map_err(|e| invalid(field, &value, e.to_string()))
    }

    fn seconds(&self, env: &str, min: u64, max: u64) -> Result<Duration, ConfigError> {
        let field = lookup(env);
        let n: u64 = self.parse(env)?;
        if !(min..=max).contains(&n) {
            let shown = n.to_string();
            return Err(invalid(
                field,
                &shown,
                format!("expected a number of seconds between {min} and {max}"),
            ));
        }
        Ok(Duration::from_secs(n))
    }
}

fn read_toml(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::File { path: path.to_owned(), reason: e.to_string() })?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::File { path: path.to_owned(), reason: e.to_string() })
}

fn lookup(env: &str) -> &'static Field {
    FIELDS
        .iter()
        .find(|f| f.env == env)
        .unwrap_or_else(|| panic!("configuration field {env} is not declared in FIELDS"))
}

fn invalid(field: &Field, value: &str, reason: String) -> ConfigError {
    let shown = if field.secret { "********".to_owned() } else { format!("{value:?}") };
    ConfigError::Invalid { env: field.env, key: field.key, shown, reason }
}

impl Config {
    /// Parses and validates every setting.
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let bind: SocketAddr = sources.parse("TWISTERLAB_BIND").map_err(|e| match e {
            ConfigError::Invalid { env, key, shown, .. } => ConfigError::Invalid {
                env,
                key,
                shown,
                reason: "expected address:port such as 127.0.0.1:8080 or 0.0.0.0:8080".into(),
            },
            other => other,
        })?;

        let status_host =
            sources.text("TWISTERLAB_STATUS_HOST")?.unwrap_or_default().trim().to_ascii_lowercase();
        if status_host.is_empty()
            || !status_host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == ':')
        {
            return Err(invalid(
                lookup("TWISTERLAB_STATUS_HOST"),
                &status_host,
                "expected a host name such as status.twisterlab.local".into(),
            ));
        }

        let public_url = match sources.text("TWISTERLAB_PUBLIC_URL")? {
            Some(url) => {
                let url = url.trim().trim_end_matches('/').to_owned();
                if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
                    return Err(invalid(
                        lookup("TWISTERLAB_PUBLIC_URL"),
                        &url,
                        "expected an http:// or https:// URL such as https://ops.twisterlab.local".into(),
                    ));
                }
                url
            }
            None => format!("http://{bind}"),
        };

        let timezone_name = sources.text("TWISTERLAB_TIMEZONE")?.unwrap_or_default().trim().to_owned();
        let timezone = jiff::tz::TimeZone::get(&timezone_name).map_err(|_| {
            invalid(
                lookup("TWISTERLAB_TIMEZONE"),
                &timezone_name,
                "expected an IANA time zone such as UTC or Europe/Berlin".into(),
            )
        })?;

        let kube_namespace = sources.text("TWISTERLAB_KUBE_NAMESPACE")?.unwrap_or_default();
        if !is_dns_label(&kube_namespace) {
            return Err(invalid(
                lookup("TWISTERLAB_KUBE_NAMESPACE"),
                &kube_namespace,
                "expected a Kubernetes namespace name (lowercase letters, digits and '-', at most 63)".into(),
            ));
        }

        let db_pool_max: u32 = sources.parse("TWISTERLAB_DB_POOL_MAX")?;
        if !(1..=1000).contains(&db_pool_max) {
            return Err(invalid(
                lookup("TWISTERLAB_DB_POOL_MAX"),
                &db_pool_max.to_string(),
                "expected 1 to 1000".into(),
            ));
        }
        let body_limit: usize = sources.parse("TWISTERLAB_BODY_LIMIT")?;
        if !(1024..=64 * 1024 * 1024).contains(&body_limit) {
            return Err(invalid(
                lookup("TWISTERLAB_BODY_LIMIT"),
                &body_limit.to_string(),
                "expected 1024 to 67108864 bytes".into(),
            ));
        }

        let admin_email = sources.text("TWISTERLAB_ADMIN_EMAIL")?.map(|s| s.trim().to_owned());
        let admin_password = sources.text("TWISTERLAB_ADMIN_PASSWORD")?.map(Secret::new);
        if admin_email.is_some() != admin_password.is_some() {
            let missing =
                if admin_email.is_some() { "TWISTERLAB_ADMIN_PASSWORD" } else { "TWISTERLAB_ADMIN_EMAIL" };
            return Err(invalid(
                lookup(missing),
                "",
                "TWISTERLAB_ADMIN_EMAIL and TWISTERLAB_ADMIN_PASSWORD go together: set both or neither"
                    .into(),
            ));
        }

        let slack_webhook_url = outbound_url(sources, "TWISTERLAB_SLACK_WEBHOOK_URL")?;
        let webhook_url = outbound_url(sources, "TWISTERLAB_WEBHOOK_URL")?;
        let webhook_secret = sources.text("TWISTERLAB_WEBHOOK_SECRET")?.map(Secret::new);
        if webhook_url.is_some() != webhook_secret.is_some() {
            let missing =
                if webhook_url.is_some() { "TWISTERLAB_WEBHOOK_SECRET" } else { "TWISTERLAB_WEBHOOK_URL" };
            return Err(invalid(
                lookup(missing),
                "",
                "TWISTERLAB_WEBHOOK_URL and TWISTERLAB_WEBHOOK_SECRET go together: every delivery is signed"
                    .into(),
            ));
        }
        let pagerduty_events_url = outbound_url(sources, "TWISTERLAB_PAGERDUTY_EVENTS_URL")?
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
        let pagerduty_routing_key =
            sources.text("TWISTERLAB_PAGERDUTY_ROUTING_KEY")?.map(|k| Secret::new(k.trim()));

        let prometheus_url = match sources.text("TWISTERLAB_PROMETHEUS_URL")? {
            None => None,
            Some(url) if url.trim().is_empty() => None,
            Some(url) => {
                let url = url.trim().trim_end_matches('/').to_owned();
                if !matches!(reqwest::Url::parse(&url), Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                {
                    return Err(invalid(
                        lookup("TWISTERLAB_PROMETHEUS_URL"),
                        &url,
                        "expected an http:// or https:// URL such as http://prometheus:9090".into(),
                    ));
                }
                Some(url)
            }
        };
        let mut grafana = vec![];
        for env in [
            "TWISTERLAB_GRAFANA_SYSTEM_OVERVIEW_URL",
            "TWISTERLAB_GRAFANA_AGENT_PERFORMANCE_URL",
            "TWISTERLAB_GRAFANA_DATABASE_METRICS_URL",
        ] {
            let url = sources.text(env)?.unwrap_or_default().trim().to_owned();
            if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(
                    lookup(env),
                    &url,
                    "expected an http:// or https:// URL, or nothing".into(),
                ));
            }
            grafana.push(url);
        }
        let probe_concurrency: usize = sources.parse("TWISTERLAB_PROBE_CONCURRENCY")?;
        if !(1..=10_000).contains(&probe_concurrency) {
            return Err(invalid(
                lookup("TWISTERLAB_PROBE_CONCURRENCY"),
                &probe_concurrency.to_string(),
                "expected 1 to 10000".into(),
            ));
        }
        let services =
            crate::overview::definition::services_from_file(sources.file()).map_err(ConfigError::Table)?;
        let key_metrics =
            crate::overview::key_metrics::from_file(sources.file()).map_err(ConfigError::Table)?;
        let mut grafana = grafana.into_iter();

        let session_idle_timeout = sources.seconds("TWISTERLAB_SESSION_IDLE_TIMEOUT", 60, 30 * 86_400)?;
        let session_absolute_timeout =
            sources.seconds("TWISTERLAB_SESSION_ABSOLUTE_TIMEOUT", 60, 365 * 86_400)?;
        if session_absolute_timeout < session_idle_timeout {
            return Err(invalid(
                lookup("TWISTERLAB_SESSION_ABSOLUTE_TIMEOUT"),
                &session_absolute_timeout.as_secs().to_string(),
                "must not be shorter than TWISTERLAB_SESSION_IDLE_TIMEOUT".into(),
            ));
        }

        Ok(Self {
            database_url: sources.text("DATABASE_URL")?.map(Secret::new),
            bind,
            status_host,
            public_url,
            timezone,
            timezone_name,
            kube_namespace,
            log_format: sources.parse("TWISTERLAB_LOG_FORMAT")?,
            log_filter: sources.text("TWISTERLAB_LOG")?.unwrap_or_else(|| "info".into()),
            data_dir: PathBuf::from(sources.text("TWISTERLAB_DATA_DIR")?.unwrap_or_default()),
            db_pool_max,
            db_acquire_timeout: sources.seconds("TWISTERLAB_DB_ACQUIRE_TIMEOUT", 1, 600)?,
            db_connect_timeout: sources.seconds("TWISTERLAB_DB_CONNECT_TIMEOUT", 0, 3600)?,
            local_postgres: sources.parse("TWISTERLAB_LOCAL_POSTGRES")?,
            private_pg_port: sources.parse("TWISTERLAB_PRIVATE_PG_PORT")?,
            request_timeout: sources.seconds("TWISTERLAB_REQUEST_TIMEOUT", 1, 3600)?,
            body_limit,
            shutdown_grace: sources.seconds("TWISTERLAB_SHUTDOWN_GRACE", 0, 3600)?,
            cookie_secure: sources.parse("TWISTERLAB_COOKIE_SECURE")?,
            session_idle_timeout,
            session_absolute_timeout,
            trust_forwarded_for: sources.parse("TWISTERLAB_TRUST_FORWARDED_FOR")?,
            admin_email,
            admin_password,
            prometheus_url,
            kube_enabled: sources.parse("TWISTERLAB_KUBE_ENABLED")?,
            kubeconfig: sources
                .text("TWISTERLAB_KUBECONFIG")?
                .filter(|p| !p.trim().is_empty())
                .map(PathBuf::from),
            grafana_system_overview_url: grafana.next().unwrap_or_default(),
            grafana_agent_performance_url: grafana.next().unwrap_or_default(),
            grafana_database_metrics_url: grafana.next().unwrap_or_default(),
            probe_concurrency,
            services,
            key_metrics,
            slack_webhook_url,
            pagerduty_routing_key,
            pagerduty_events_url,
            webhook_url,
            webhook_secret,
        })
    }

    /// The Grafana dashboards the overview links, in the runbook's order (unset ones left out).
    pub fn grafana_dashboards(&self) -> Vec<crate::overview::key_metrics::DashboardLink> {
        [
            ("System Overview", &self.grafana_system_overview_url),
            ("Agent Performance", &self.grafana_agent_performance_url),
            ("Database Metrics", &self.grafana_database_metrics_url),
        ]
        .into_iter()
        .filter(|(_, url)| !url.is_empty())
        .map(|(label, url)| crate::overview::key_metrics::DashboardLink { label, url: url.clone() })
        .collect()
    }

    /// Whether cookies get `Secure` and the `__Host-` prefix.
    pub fn cookies_secure(&self) -> bool {
        match self.cookie_secure {
            CookieSecure::Always => true,
            CookieSecure::Never => false,
            CookieSecure::Auto => self.public_url.starts_with("https://"),
        }
    }
}

/// An outbound http(s) URL setting (Slack, webhook, PagerDuty), checked at start.
fn outbound_url(sources: &Sources, env: &str) -> Result<Option<Secret>, ConfigError> {
    let Some(url) = sources.text(env)? else { return Ok(None) };
    let url = url.trim();
    let valid = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() > "https://".len()
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(invalid(lookup(env), url, "expected an http:// or https:// URL".into()));
    }
    Ok(Some(Secret::new(url)))
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Masks the password of a connection URL: `postgres://app:****@db:5432/x`.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "********".into();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let masked_tail = mask_query_password(tail);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:****@{host}{masked_tail}")
            } else {
                format!("{scheme}://{user}@{host}{masked_tail}")
            }
        }
        None => format!("{scheme}://{authority}{masked_tail}"),
    }
}

fn mask_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=****"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// The effective configuration as `check-config` prints it: one line per field, secrets masked.
pub fn describe(sources: &Sources) -> Result<Vec<(&'static Field, String, Origin)>, ConfigError> {
    FIELDS
        .iter()
        .map(|field| {
            let (value, origin) = sources.raw(field)?;
            let shown = match value {
                None => "(unset)".to_owned(),
                Some(v) if field.env == "DATABASE_URL" => mask_url(&v),
                Some(_) if field.secret => "********".to_owned(),
                Some(v) => v,
            };
            Ok((field, shown, origin))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_sources(&Sources::from_pairs(env.iter().copied(), toml::Table::new()))
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.status_host, "status.twisterlab.local");
        assert_eq!(c.timezone_name, "UTC");
        assert_eq!(c.kube_namespace, "twisterlab");
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert!(!c.cookies_secure());
        assert!(c.database_url.is_none());
    }

    #[test]
    fn a_bad_bind_address_names_the_variable() {
        let err = config(&[("TWISTERLAB_BIND", "localhost")]).unwrap_err().to_string();
        assert!(err.contains("TWISTERLAB_BIND"), "{err}");
        assert!(err.contains("127.0.0.1:8080"), "{err}");
    }

    #[test]
    fn an_unknown_time_zone_is_refused() {
        let err = config(&[("TWISTERLAB_TIMEZONE", "Mars/Olympus")]).unwrap_err().to_string();
        assert!(err.contains("TWISTERLAB_TIMEZONE") && err.contains("IANA"), "{err}");
    }

    #[test]
    fn environment_wins_over_the_file() {
        let file: toml::Table =
            "bind = \"0.0.0.0:9999\"\ntimezone = \"Europe/Berlin\"".parse().expect("toml");
        let sources = Sources::from_pairs([("TWISTERLAB_BIND", "127.0.0.1:7000")], file);
        let c = Config::from_sources(&sources).expect("valid");
        assert_eq!(c.bind.port(), 7000);
        assert_eq!(c.timezone_name, "Europe/Berlin");
    }

    #[test]
    fn a_wrongly_typed_file_value_names_the_key() {
        let file: toml::Table = "db_pool_max = [1, 2]".parse().expect("toml");
        let err = Config::from_sources(&Sources::from_pairs([], file)).unwrap_err().to_string();
        assert!(err.contains("db_pool_max"), "{err}");
    }

    #[test]
    fn admin_email_without_password_is_refused() {
        let err = config(&[("TWISTERLAB_ADMIN_EMAIL", "a@b.c")]).unwrap_err().to_string();
        assert!(err.contains("TWISTERLAB_ADMIN_PASSWORD"), "{err}");
    }

    #[test]
    fn https_public_url_makes_cookies_secure() {
        let c = config(&[("TWISTERLAB_PUBLIC_URL", "https://ops.twisterlab.local/")]).expect("valid");
        assert!(c.cookies_secure());
        assert_eq!(c.public_url, "https://ops.twisterlab.local");
    }

    #[test]
    fn secrets_never_print() {
        let c = config(&[
            ("DATABASE_URL", "postgres://u:hunter2@db/x"),
            ("TWISTERLAB_ADMIN_EMAIL", "a@b.c"),
            ("TWISTERLAB_ADMIN_PASSWORD", "hunter2hunter2"),
        ])
        .expect("valid");
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn database_url_passwords_are_masked() {
        assert_eq!(
            mask_url("postgres://app:s3cret@db:5432/twisterlab"),
            "postgres://app:****@db:5432/twisterlab"
        );
        assert_eq!(
            mask_url("postgres://app@db/x?password=s3cret&sslmode=require"),
            "postgres://app@db/x?password=****&sslmode=require"
        );
        assert_eq!(mask_url("garbage"), "********");
    }

    #[test]
    fn check_config_masks_secrets_and_reports_origins() {
        let sources = Sources::from_pairs(
            [("DATABASE_URL", "postgres://u:pw@h/d"), ("TWISTERLAB_BIND", "0.0.0.0:1")],
            toml::Table::new(),
        );
        let rows = describe(&sources).expect("valid");
        let db = rows.iter().find(|(f, _, _)| f.env == "DATABASE_URL").expect("row");
        assert_eq!(db.1, "postgres://u:****@h/d");
        let bind = rows.iter().find(|(f, _, _)| f.env == "TWISTERLAB_BIND").expect("row");
        assert_eq!(bind.2, Origin::Environment);
        let tz = rows.iter().find(|(f, _, _)| f.env == "TWISTERLAB_TIMEZONE").expect("row");
        assert_eq!(tz.2, Origin::Default);
    }

    #[test]
    fn outbound_channel_settings_are_checked_and_never_printed() {
        let c = config(&[
            ("TWISTERLAB_SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/s3cr3t"),
            ("TWISTERLAB_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
            ("TWISTERLAB_WEBHOOK_SECRET", "k3y-k3y"),
            ("TWISTERLAB_PAGERDUTY_ROUTING_KEY", "R0UT1NG"),
        ])
        .expect("valid");
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("s3cr3t") && !debug.contains("k3y-k3y") && !debug.contains("R0UT1NG"),
            "{debug}"
        );
        assert_eq!(c.pagerduty_events_url, "https://events.pagerduty.com/v2/enqueue");
        let err =
            config(&[("TWISTERLAB_SLACK_WEBHOOK_URL", "hooks.slack.com/s3cr3t")]).unwrap_err().to_string();
        assert!(err.contains("TWISTERLAB_SLACK_WEBHOOK_URL") && !err.contains("s3cr3t"), "{err}");
        let err = config(&[("TWISTERLAB_WEBHOOK_URL", "http://127.0.0.1:9/hook")]).unwrap_err().to_string();
        assert!(err.contains("TWISTERLAB_WEBHOOK_SECRET"), "{err}");
    }

    #[test]
    fn the_readme_documents_every_setting() {
        let readme = include_str!("../../../README.md");
        for field in FIELDS {
            assert!(
                readme.contains(&format!("| `{}` | `{}` |", field.env, field.key)),
                "README.md lacks a row for {}",
                field.env
            );
        }
    }
}
