//! Typed configuration, read once at start from `TWISTERLAB_*` variables and an optional TOML file.
//!
//! Every setting is declared once, in the `settings!` list below: the field of [`Config`] with
//! its meaning, its environment variable, its TOML key, its default, whether it is a secret, and
//! how its text becomes a value. The struct, [`FIELDS`] (the table `check-config` prints with the
//! effective values), the [`setting`] constants code names settings by, and the parsing all come
//! from that list, so a misspelt setting is a compile error. A value that does not parse is
//! reported with the setting's name (exit code 2).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
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

/// A setting that is on, off, or left to the portal: `auto`, `true` (`yes`, `1`) or `false`
/// (`no`, `0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    /// The portal decides (see the setting).
    Auto,
    Always,
    Never,
}

impl FromStr for Switch {
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

/// Whether the session cookie carries the `Secure` attribute and the `__Host-` prefix; `Auto`:
/// when `public_url` is https.
pub type CookieSecure = Switch;

/// Whether the Kubernetes panel looks for a cluster. `Auto`: use a kubeconfig or in-cluster
/// service account when one is found, otherwise the panel says "no cluster configured";
/// `Always`: the same, but a missing configuration is logged as an error; `Never`: no cluster,
/// the panel says it is turned off.
pub type KubeEnabled = Switch;

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

/// Declares the settings: see the module documentation. Each entry of `read` is
/// `/// meaning` `name: Type { env, [key,] default, [secret,] help, parse }`; `key` defaults to
/// the field's name, `secret` to false. `parse` receives the setting's [`Value`] and may use the
/// settings declared before it (the session lifetimes, the pairs that go together). The
/// `derived` fields are computed from the [`Sources`] after every setting has parsed.
macro_rules! settings {
    (
        read {
        $(
            $(#[doc = $doc:literal])*
            $name:ident: $ty:ty {
                env: $env:literal,
                $(key: $key:literal,)?
                default: $default:expr,
                $(secret: $secret:literal,)?
                help: $help:literal,
                parse: $parse:expr $(,)?
            }
        )*
        }
        derived {
            $(
                $(#[doc = $ddoc:literal])*
                $dname:ident: $dty:ty = $derive:expr;
            )*
        }
    ) => {
        /// The portal's effective configuration.
        #[derive(Clone, Debug)]
        pub struct Config {
            $( $(#[doc = $doc])* pub $name: $ty, )*
            $( $(#[doc = $ddoc])* pub $dname: $dty, )*
        }

        /// Every setting as a [`Field`], named after its field of [`Config`]
        /// (`setting::bind.env` is `"TWISTERLAB_BIND"`).
        #[allow(non_upper_case_globals)]
        pub mod setting {
            use super::Field;
            $(
                $(#[doc = $doc])*
                pub const $name: Field = Field {
                    env: $env,
                    key: settings!(@key $name $($key)?),
                    default: $default,
                    secret: settings!(@secret $($secret)?),
                    help: $help,
                };
            )*
        }

        /// Every setting the portal reads, in the order `check-config` prints them.
        pub const FIELDS: &[Field] = &[$(setting::$name),*];

        impl Config {
            /// Parses every setting in declaration order, then the derived fields.
            fn parse_settings(sources: &Sources) -> Result<Self, ConfigError> {
                $( let $name: $ty = with_value(sources.value(&setting::$name)?, $parse)?; )*
                $( let $dname: $dty = with_sources(sources, $derive)?; )*
                Ok(Self { $($name,)* $($dname,)* })
            }
        }
    };
    (@key $name:ident) => { stringify!($name) };
    (@key $name:ident $key:literal) => { $key };
    (@secret) => { false };
    (@secret $secret:literal) => { $secret };
}

/// Runs a setting's parser (a function, so a closure's parameter type is known).
fn with_value<T>(
    value: Value,
    parse: impl FnOnce(Value) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    parse(value)
}

/// Runs a derived field's computation.
fn with_sources<T>(
    sources: &Sources,
    derive: impl FnOnce(&Sources) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    derive(sources)
}

settings! {
    read {
    /// PostgreSQL connection string; `None` means "find or start a local PostgreSQL".
    database_url: Option<Secret> {
        env: "DATABASE_URL",
        default: None,
        secret: true,
        help: "PostgreSQL URL; unset: use 127.0.0.1:5432 or start a private cluster",
        parse: |v| Ok(v.secret()),
    }
    /// Address the HTTP server listens on.
    bind: SocketAddr {
        env: "TWISTERLAB_BIND",
        default: Some("127.0.0.1:8080"),
        help: "address:port the HTTP server listens on",
        parse: |v| v.parse_or("expected address:port such as 127.0.0.1:8080 or 0.0.0.0:8080"),
    }
    /// Host name whose requests get the public status page at `/`.
    status_host: String {
        env: "TWISTERLAB_STATUS_HOST",
        default: Some("status.twisterlab.local"),
        help: "Host header that gets the public status page at /",
        parse: |v| {
            let host = v.text().unwrap_or_default().trim().to_ascii_lowercase();
            if host.is_empty()
                || !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == ':')
            {
                return Err(v.refuse(&host, "expected a host name such as status.twisterlab.local"));
            }
            Ok(host)
        },
    }
    /// Base URL of the internal pages, used in links sent out (Slack, e-mail) and for cookies.
    public_url: String {
        env: "TWISTERLAB_PUBLIC_URL",
        default: None,
        help: "base URL of the internal pages (default http://<bind>)",
        parse: |v| match v.text() {
            Some(url) => {
                let url = url.trim().trim_end_matches('/').to_owned();
                if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
                    return Err(v.refuse(
                        &url,
                        "expected an http:// or https:// URL such as https://ops.twisterlab.local",
                    ));
                }
                Ok(url)
            }
            None => Ok(format!("http://{bind}")),
        },
    }
    /// The team's IANA time zone, for business hours and for showing times.
    timezone: jiff::tz::TimeZone {
        env: "TWISTERLAB_TIMEZONE",
        default: Some("UTC"),
        help: "the team's IANA time zone (business hours, displayed times)",
        parse: |v| {
            let name = v.text().unwrap_or_default().trim().to_owned();
            jiff::tz::TimeZone::get(&name)
                .map_err(|_| v.refuse(&name, "expected an IANA time zone such as UTC or Europe/Berlin"))
        },
    }
    /// Kubernetes namespace the adapter reads and acts on.
    kube_namespace: String {
        env: "TWISTERLAB_KUBE_NAMESPACE",
        default: Some("twisterlab"),
        help: "Kubernetes namespace the portal watches and acts on",
        parse: |v| {
            let namespace = v.text().unwrap_or_default().to_owned();
            if !is_dns_label(&namespace) {
                return Err(v.refuse(
                    &namespace,
                    "expected a Kubernetes namespace name (lowercase letters, digits and '-', at most 63)",
                ));
            }
            Ok(namespace)
        },
    }
    /// Whether the Kubernetes panel looks for a cluster.
    kube_enabled: KubeEnabled {
        env: "TWISTERLAB_KUBE_ENABLED",
        default: Some("auto"),
        help: "Kubernetes panel: auto (use a cluster when configured), true (and log an error without one) or false",
        parse: |v| v.parse(),
    }
    /// Kubeconfig file for the Kubernetes panel; `None`: $KUBECONFIG, ~/.kube/config, in-cluster.
    kubeconfig: Option<PathBuf> {
        env: "TWISTERLAB_KUBECONFIG",
        default: None,
        help: "kubeconfig file for the Kubernetes panel; unset: $KUBECONFIG, ~/.kube/config, then in-cluster",
        parse: |v| Ok(v.text().filter(|p| !p.trim().is_empty()).map(PathBuf::from)),
    }
    /// Prometheus base URL for the overview's key metrics; `None`: they show "unknown".
    prometheus_url: Option<String> {
        env: "TWISTERLAB_PROMETHEUS_URL",
        default: None,
        help: "Prometheus base URL (e.g. http://prometheus:9090) for the key metrics; unset: they show unknown",
        parse: |v| match v.text() {
            None => Ok(None),
            Some(url) if url.trim().is_empty() => Ok(None),
            Some(url) => {
                let url = url.trim().trim_end_matches('/').to_owned();
                if !matches!(reqwest::Url::parse(&url), Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                {
                    return Err(
                        v.refuse(&url, "expected an http:// or https:// URL such as http://prometheus:9090")
                    );
                }
                Ok(Some(url))
            }
        },
    }
    /// Grafana "System Overview" dashboard URL shown on the overview (empty: no link).
    grafana_system_overview_url: String {
        env: "TWISTERLAB_GRAFANA_SYSTEM_OVERVIEW_URL",
        default: Some("http://grafana.twisterlab.local/d/system-overview"),
        help: "Grafana System Overview dashboard linked from the overview (empty: no link)",
        parse: dashboard_url,
    }
    /// Grafana "Agent Performance" dashboard URL (empty: no link).
    grafana_agent_performance_url: String {
        env: "TWISTERLAB_GRAFANA_AGENT_PERFORMANCE_URL",
        default: Some("http://grafana.twisterlab.local/d/agent-perf"),
        help: "Grafana Agent Performance dashboard (empty: no link)",
        parse: dashboard_url,
    }
    /// Grafana "Database Metrics" dashboard URL (empty: no link).
    grafana_database_metrics_url: String {
        env: "TWISTERLAB_GRAFANA_DATABASE_METRICS_URL",
        default: Some("http://grafana.twisterlab.local/d/database"),
        help: "Grafana Database Metrics dashboard (empty: no link)",
        parse: dashboard_url,
    }
    /// Longest maintenance window allowed, in hours.
    maintenance_max_hours: u32 {
        env: "TWISTERLAB_MAINTENANCE_MAX_HOURS",
        default: Some("12"),
        help: "longest maintenance window allowed, in hours",
        parse: |v| v.number_in(1..=168, "expected 1 to 168 hours"),
    }
    /// Alertmanager `severity` label values → incident severities (unknown: P3).
    alertmanager_severities: Vec<(String, twisterlab_domain::severity::Severity)> {
        env: "TWISTERLAB_ALERTMANAGER_SEVERITIES",
        default: Some("critical=P1,error=P2,warning=P3,info=P3"),
        help: "Alertmanager severity label values to incident severities, e.g. critical=P1,warning=P3 (unknown: P3)",
        parse: |v| {
            let text = v.text().unwrap_or_default().to_owned();
            twisterlab_domain::alerting::parse_severity_map(&text).map_err(|e| v.refuse(&text, e))
        },
    }
    /// The labels whose values group Alertmanager alerts into one incident.
    alertmanager_group_by: Vec<String> {
        env: "TWISTERLAB_ALERTMANAGER_GROUP_BY",
        default: Some("alertname,service"),
        help: "labels whose values group Alertmanager alerts into one incident",
        parse: |v| {
            let text = v.text().unwrap_or_default().to_owned();
            twisterlab_domain::alerting::parse_group_by(&text).map_err(|e| v.refuse(&text, e))
        },
    }
    /// Alertmanager `service` label values → status-page component names (a `component`
    /// label wins).
    alertmanager_components: Vec<(String, String)> {
        env: "TWISTERLAB_ALERTMANAGER_COMPONENTS",
        default: Some(""),
        help: "Alertmanager service label values to component names, e.g. twisterlab-api=API (a component label wins)",
        parse: |v| {
            let text = v.text().unwrap_or_default().to_owned();
            twisterlab_domain::alerting::parse_pairs(&text).map_err(|e| v.refuse(&text, e))
        },
    }
    /// What happens when every alert of an Alertmanager incident is resolved: `monitoring` or
    /// `resolve`.
    alertmanager_on_resolved: String {
        env: "TWISTERLAB_ALERTMANAGER_ON_RESOLVED",
        default: Some("monitoring"),
        help: "when every alert of an Alertmanager incident is resolved: monitoring or resolve",
        parse: |v| match v.text().unwrap_or_default().trim() {
            t @ ("monitoring" | "resolve") => Ok(t.to_owned()),
            other => Err(v.refuse(other, "expected monitoring or resolve")),
        },
    }
    /// Most health probes in flight at once in this process.
    probe_concurrency: usize {
        env: "TWISTERLAB_PROBE_CONCURRENCY",
        default: Some("256"),
        help: "most health probes in flight at once per process",
        parse: |v| v.number_in(1..=10_000, "expected 1 to 10000"),
    }
    /// Log line format.
    log_format: LogFormat {
        env: "TWISTERLAB_LOG_FORMAT",
        default: Some("pretty"),
        help: "pretty or json",
        parse: |v| v.parse(),
    }
    /// `tracing` filter directives (e.g. `info,twisterlab_server=debug`).
    log_filter: String {
        env: "TWISTERLAB_LOG",
        key: "log",
        default: Some("info"),
        help: "tracing filter directives",
        parse: |v| Ok(v.into_text().unwrap_or_else(|| "info".into())),
    }
    /// Directory for local state: the private PostgreSQL cluster lives in `<data_dir>/pgdata`.
    data_dir: PathBuf {
        env: "TWISTERLAB_DATA_DIR",
        default: Some("./.twisterlab"),
        help: "local state; the private PostgreSQL cluster lives in <data_dir>/pgdata",
        parse: |v| Ok(PathBuf::from(v.into_text().unwrap_or_default())),
    }
    /// Maximum connections in the database pool.
    db_pool_max: u32 {
        env: "TWISTERLAB_DB_POOL_MAX",
        default: Some("10"),
        help: "maximum database connections",
        parse: |v| v.number_in(1..=1000, "expected 1 to 1000"),
    }
    /// How long a request waits for a pooled connection before failing. Short on purpose:
    /// during a PostgreSQL outage a write answers 503 within this (the bound is 3 s),
    /// while the status page keeps answering from memory.
    db_acquire_timeout: Duration {
        env: "TWISTERLAB_DB_ACQUIRE_TIMEOUT",
        default: Some("2"),
        help: "seconds a request waits for a database connection",
        parse: |v| v.seconds(1, 600),
    }
    /// How long the start keeps retrying an unreachable database before giving up.
    db_connect_timeout: Duration {
        env: "TWISTERLAB_DB_CONNECT_TIMEOUT",
        default: Some("30"),
        help: "seconds the start keeps retrying an unreachable database",
        parse: |v| v.seconds(0, 3600),
    }
    /// Local PostgreSQL tried first when `database_url` is unset.
    local_postgres: SocketAddr {
        env: "TWISTERLAB_LOCAL_POSTGRES",
        default: Some("127.0.0.1:5432"),
        help: "PostgreSQL tried when DATABASE_URL is unset (database `twisterlab` is created)",
        parse: |v| v.parse(),
    }
    /// Port of the private PostgreSQL cluster (its Unix socket name; it never listens on TCP).
    private_pg_port: u16 {
        env: "TWISTERLAB_PRIVATE_PG_PORT",
        default: Some("5432"),
        help: "port (socket name) of the private PostgreSQL cluster",
        parse: |v| v.parse(),
    }
    /// Longest time a request may take before it is answered with 408.
    request_timeout: Duration {
        env: "TWISTERLAB_REQUEST_TIMEOUT",
        default: Some("30"),
        help: "seconds before a request is answered with 408",
        parse: |v| v.seconds(1, 3600),
    }
    /// Largest accepted request body, in bytes.
    body_limit: usize {
        env: "TWISTERLAB_BODY_LIMIT",
        default: Some("1048576"),
        help: "largest request body in bytes (larger: 413)",
        parse: |v| v.number_in(1024..=64 * 1024 * 1024, "expected 1024 to 67108864 bytes"),
    }
    /// How long shutdown waits for in-flight requests.
    shutdown_grace: Duration {
        env: "TWISTERLAB_SHUTDOWN_GRACE",
        default: Some("30"),
        help: "seconds shutdown waits for in-flight requests",
        parse: |v| v.seconds(0, 3600),
    }
    /// Session cookie security.
    cookie_secure: CookieSecure {
        env: "TWISTERLAB_COOKIE_SECURE",
        default: Some("auto"),
        help: "auto (secure when public_url is https), true or false",
        parse: |v| v.parse(),
    }
    /// Idle session lifetime.
    session_idle_timeout: Duration {
        env: "TWISTERLAB_SESSION_IDLE_TIMEOUT",
        default: Some("43200"),
        help: "seconds of inactivity that end a session (12 h)",
        parse: |v| v.seconds(60, 30 * 86_400),
    }
    /// Absolute session lifetime; never shorter than the idle one.
    session_absolute_timeout: Duration {
        env: "TWISTERLAB_SESSION_ABSOLUTE_TIMEOUT",
        default: Some("604800"),
        help: "seconds after sign-in that end a session (7 days)",
        parse: |v| {
            let lifetime = v.seconds(60, 365 * 86_400)?;
            if lifetime < session_idle_timeout {
                return Err(v.refuse(
                    &lifetime.as_secs().to_string(),
                    "must not be shorter than TWISTERLAB_SESSION_IDLE_TIMEOUT",
                ));
            }
            Ok(lifetime)
        },
    }
    /// Networks of the reverse proxies (the ingress controller) whose `X-Forwarded-For` is
    /// believed: the client is the right-most hop not in these networks.
    trusted_proxies: Vec<Cidr> {
        env: "TWISTERLAB_TRUSTED_PROXIES",
        default: None,
        help: "comma-separated CIDRs of the reverse proxies whose X-Forwarded-For is believed (e.g. the ingress controller's pod network 10.244.0.0/16); unset: the peer address is the client",
        parse: |v| {
            let text = v.text().unwrap_or_default().to_owned();
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<Cidr>().map_err(|reason| v.refuse(s, reason)))
                .collect()
        },
    }
    /// Bearer token Prometheus sends to scrape `/metrics`; without it only this host may.
    metrics_token: Option<Secret> {
        env: "TWISTERLAB_METRICS_TOKEN",
        default: None,
        secret: true,
        help: "bearer token that /metrics requires (configure Prometheus' authorization with it); unset: /metrics answers only loopback clients",
        parse: |v| {
            let too_short = v.refuse("********", "use at least 16 characters");
            let token = v.secret();
            if token.as_ref().is_some_and(|t| t.expose().len() < 16) {
                return Err(too_short);
            }
            Ok(token)
        },
    }
    /// E-mail of the first admin, created at a start with no users.
    admin_email: Option<String> {
        env: "TWISTERLAB_ADMIN_EMAIL",
        default: None,
        help: "first admin's e-mail, created at a start with no users",
        parse: |v| Ok(v.text().map(|s| s.trim().to_owned())),
    }
    /// Password of the first admin; set together with the e-mail.
    admin_password: Option<Secret> {
        env: "TWISTERLAB_ADMIN_PASSWORD",
        default: None,
        secret: true,
        help: "first admin's password (at least 12 characters)",
        parse: |v| {
            let password = v.secret();
            both_or_neither(
                (&setting::admin_email, admin_email.is_some()),
                (&setting::admin_password, password.is_some()),
                "TWISTERLAB_ADMIN_EMAIL and TWISTERLAB_ADMIN_PASSWORD go together: set both or neither",
            )?;
            Ok(password)
        },
    }
    /// Slack incoming-webhook URL for `#twisterlab-incidents`; the URL itself is the credential.
    slack_webhook_url: Option<Secret> {
        env: "TWISTERLAB_SLACK_WEBHOOK_URL",
        default: None,
        secret: true,
        help: "Slack incoming-webhook URL for #twisterlab-incidents (a secret)",
        parse: outbound_url,
    }
    /// PagerDuty Events API v2 routing (integration) key.
    pagerduty_routing_key: Option<Secret> {
        env: "TWISTERLAB_PAGERDUTY_ROUTING_KEY",
        default: None,
        secret: true,
        help: "PagerDuty Events API v2 routing key; incidents trigger, acknowledge and resolve there",
        parse: |v| Ok(v.text().map(|k| Secret::new(k.trim()))),
    }
    /// PagerDuty Events API v2 endpoint the routing key's events are sent to.
    pagerduty_events_url: String {
        env: "TWISTERLAB_PAGERDUTY_EVENTS_URL",
        default: Some("https://events.pagerduty.com/v2/enqueue"),
        help: "PagerDuty Events API v2 endpoint",
        parse: |v| Ok(outbound_url(v)?.map(|s| s.expose().to_owned()).unwrap_or_default()),
    }
    /// Generic webhook endpoint that receives incident events as HMAC-signed JSON.
    webhook_url: Option<Secret> {
        env: "TWISTERLAB_WEBHOOK_URL",
        default: None,
        secret: true,
        help: "endpoint that receives every incident event as signed JSON (docs/WEBHOOKS.md)",
        parse: outbound_url,
    }
    /// HMAC-SHA256 key that signs the generic webhook's requests (see docs/WEBHOOKS.md).
    webhook_secret: Option<Secret> {
        env: "TWISTERLAB_WEBHOOK_SECRET",
        default: None,
        secret: true,
        help: "HMAC-SHA256 key signing the webhook's requests; required with TWISTERLAB_WEBHOOK_URL",
        parse: |v| {
            let key = v.secret();
            both_or_neither(
                (&setting::webhook_url, webhook_url.is_some()),
                (&setting::webhook_secret, key.is_some()),
                "TWISTERLAB_WEBHOOK_URL and TWISTERLAB_WEBHOOK_SECRET go together: every delivery is signed",
            )?;
            Ok(key)
        },
    }
    /// Slack bot token (`xoxb-…`, scope `chat:write`): a page also sends a direct message to
    /// each Slack member ID among the paged person's contact methods.
    slack_bot_token: Option<Secret> {
        env: "TWISTERLAB_SLACK_BOT_TOKEN",
        default: None,
        secret: true,
        help: "Slack bot token (chat:write); pages then send a direct message to the paged person's Slack member ID",
        parse: |v| Ok(v.text().map(|k| Secret::new(k.trim()))),
    }
    /// Slack Web API base URL the bot token's direct messages go to (`chat.postMessage`).
    slack_api_url: String {
        env: "TWISTERLAB_SLACK_API_URL",
        default: Some("https://slack.com/api"),
        help: "Slack Web API base URL that chat.postMessage is sent to",
        parse: |v| Ok(outbound_url(v)?.map(|s| s.expose().to_owned()).unwrap_or_default()),
    }
    /// The monitored TwisterLab database the runbooks' diagnostics read (and `VACUUM ANALYZE`
    /// when a commander confirms); `None`: those steps say "not configured".
    target_database_url: Option<TargetDatabaseUrl> {
        env: "TWISTERLAB_TARGET_DATABASE_URL",
        default: None,
        secret: true,
        help: "PostgreSQL URL of the monitored TwisterLab database for the runbooks' diagnostics (a secret); unset: those steps say not configured",
        parse: target_database_url,
    }
    }
    derived {
        /// Name of [`Config::timezone`] as configured (e.g. `Europe/Berlin`).
        timezone_name: String = |s: &Sources| {
            Ok(s.value(&setting::timezone)?.text().unwrap_or_default().trim().to_owned())
        };
        /// Services to probe defined as code in the file's `[[services]]`, reconciled at start.
        services: Vec<crate::overview::definition::ServiceSpec> = |s: &Sources| {
            crate::overview::definition::services_from_file(s.file()).map_err(ConfigError::Table)
        };
        /// The key metrics: the runbook's defaults merged with the file's `[[key_metrics]]`.
        key_metrics: Vec<crate::overview::key_metrics::KeyMetricSpec> = |s: &Sources| {
            crate::overview::key_metrics::from_file(s.file()).map_err(ConfigError::Table)
        };
    }
}

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

    /// The text of `field` as found, for its parser.
    fn value(&self, field: &'static Field) -> Result<Value, ConfigError> {
        Ok(Value { field, text: self.raw(field)?.0 })
    }
}

/// One setting's text (environment over file over default; `None` when unset), handed to the
/// setting's parser with the ways to read it; errors name the setting.
struct Value {
    field: &'static Field,
    text: Option<String>,
}

impl Value {
    fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    fn into_text(self) -> Option<String> {
        self.text
    }

    fn secret(self) -> Option<Secret> {
        self.text.map(Secret::new)
    }

    /// The trimmed text as a `T`; an unset value is parsed as empty text.
    fn parse<T>(&self) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let text = self.text().unwrap_or_default();
        text.trim().parse::<T>().map_err(|e| self.refuse(text, e.to_string()))
    }

    /// Like [`Value::parse`], saying `reason` rather than the parser's own message.
    fn parse_or<T: FromStr>(&self, reason: &str) -> Result<T, ConfigError> {
        let text = self.text().unwrap_or_default();
        text.trim().parse::<T>().map_err(|_| self.refuse(text, reason))
    }

    /// A number within `range`.
    fn number_in<T>(&self, range: RangeInclusive<T>, reason: &str) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + fmt::Display,
        T::Err: fmt::Display,
    {
        let n: T = self.parse()?;
        if !range.contains(&n) {
            return Err(self.refuse(&n.to_string(), reason));
        }
        Ok(n)
    }

    /// A whole number of seconds from `min` to `max`.
    fn seconds(&self, min: u64, max: u64) -> Result<Duration, ConfigError> {
        let reason = format!("expected a number of seconds between {min} and {max}");
        self.number_in(min..=max, &reason).map(Duration::from_secs)
    }

    /// Refuses `value` (as the setting's text became it) for `reason`.
    fn refuse(&self, value: &str, reason: impl Into<String>) -> ConfigError {
        invalid(self.field, value, reason.into())
    }
}

fn read_toml(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::File { path: path.to_owned(), reason: e.to_string() })?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::File { path: path.to_owned(), reason: e.to_string() })
}

fn invalid(field: &Field, value: &str, reason: String) -> ConfigError {
    let shown = if field.secret { "********".to_owned() } else { format!("{value:?}") };
    ConfigError::Invalid { env: field.env, key: field.key, shown, reason }
}

/// Two settings that go together: one without the other names the missing one.
fn both_or_neither(
    (first, first_set): (&Field, bool),
    (second, second_set): (&Field, bool),
    reason: &str,
) -> Result<(), ConfigError> {
    match (first_set, second_set) {
        (true, false) => Err(invalid(second, "", reason.into())),
        (false, true) => Err(invalid(first, "", reason.into())),
        _ => Ok(()),
    }
}

impl Config {
    /// Parses and validates every setting.
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        Self::parse_settings(sources)
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
fn outbound_url(v: Value) -> Result<Option<Secret>, ConfigError> {
    let Some(url) = v.text() else { return Ok(None) };
    let url = url.trim();
    let valid = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() > "https://".len()
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(v.refuse(url, "expected an http:// or https:// URL"));
    }
    Ok(Some(Secret::new(url)))
}

/// The URL of the monitored TwisterLab database, checked at start. `Debug` shows where it points
/// with the password masked; the password itself only reaches the connection.
#[derive(Clone)]
pub struct TargetDatabaseUrl {
    options: sqlx::postgres::PgConnectOptions,
    location: String,
}

impl TargetDatabaseUrl {
    /// How to connect (the password included: for the connection only).
    pub fn connect_options(&self) -> &sqlx::postgres::PgConnectOptions {
        &self.options
    }

    /// The URL with its password masked, for messages and logs.
    pub fn location(&self) -> &str {
        &self.location
    }
}

impl fmt::Debug for TargetDatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.location)
    }
}

/// `TWISTERLAB_TARGET_DATABASE_URL`: empty or unset is "not configured"; anything else must be a
/// postgres:// URL. Errors never repeat the value (it holds a password).
fn target_database_url(v: Value) -> Result<Option<TargetDatabaseUrl>, ConfigError> {
    let Some(url) = v.text().map(str::trim).filter(|url| !url.is_empty()) else { return Ok(None) };
    const EXPECTED: &str = "expected postgres://USER:PASSWORD@HOST:5432/DATABASE";
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(v.refuse(url, EXPECTED));
    }
    // The `url` crate's messages are fixed phrases ("invalid port number"), never the input.
    if let Err(e) = reqwest::Url::parse(url) {
        return Err(v.refuse(url, format!("{e}: {EXPECTED}")));
    }
    let options: sqlx::postgres::PgConnectOptions = url.parse().map_err(|_| v.refuse(url, EXPECTED))?;
    Ok(Some(TargetDatabaseUrl { options, location: mask_url(url) }))
}

/// A Grafana dashboard link: an http(s) URL, or nothing.
fn dashboard_url(v: Value) -> Result<String, ConfigError> {
    let url = v.text().unwrap_or_default().trim().to_owned();
    if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
        return Err(v.refuse(&url, "expected an http:// or https:// URL, or nothing"));
    }
    Ok(url)
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
                Some(v)
                    if field.env == setting::database_url.env
                        || field.env == setting::target_database_url.env
                        || field.env == setting::prometheus_url.env =>
                {
                    mask_url(&v)
                }
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
    fn check_config_masks_the_password_in_the_prometheus_url() {
        let sources = Sources::from_pairs(
            [("TWISTERLAB_PROMETHEUS_URL", "http://scraper:pr0m-pw@prometheus:9090")],
            toml::Table::new(),
        );
        let rows = describe(&sources).expect("valid");
        let row = rows.iter().find(|(f, _, _)| f.env == "TWISTERLAB_PROMETHEUS_URL").expect("row");
        assert_eq!(row.1, "http://scraper:****@prometheus:9090");
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
    fn a_session_may_not_end_sooner_absolutely_than_when_idle() {
        let err = config(&[
            ("TWISTERLAB_SESSION_IDLE_TIMEOUT", "7200"),
            ("TWISTERLAB_SESSION_ABSOLUTE_TIMEOUT", "3600"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("TWISTERLAB_SESSION_ABSOLUTE_TIMEOUT") && err.contains("\"3600\""), "{err}");
    }

    #[test]
    fn a_webhook_secret_without_its_url_names_the_url() {
        let err = config(&[("TWISTERLAB_WEBHOOK_SECRET", "k3y")]).unwrap_err().to_string();
        assert!(err.contains("TWISTERLAB_WEBHOOK_URL") && !err.contains("k3y"), "{err}");
    }

    #[test]
    fn switches_read_auto_true_and_false_in_their_spellings() {
        for (text, expected) in
            [("auto", Switch::Auto), ("yes", Switch::Always), ("1", Switch::Always), ("no", Switch::Never)]
        {
            let c = config(&[("TWISTERLAB_COOKIE_SECURE", text), ("TWISTERLAB_KUBE_ENABLED", text)])
                .expect("valid");
            assert_eq!((c.cookie_secure, c.kube_enabled), (expected, expected), "{text}");
        }
        let err = config(&[("TWISTERLAB_KUBE_ENABLED", "maybe")]).unwrap_err().to_string();
        assert!(err.contains("TWISTERLAB_KUBE_ENABLED") && err.contains("`auto`"), "{err}");
    }

    #[test]
    fn the_target_database_url_is_checked_at_start_and_its_password_never_prints() {
        let c = config(&[("TWISTERLAB_TARGET_DATABASE_URL", "postgres://monitor:s3cr3t@db:5432/twisterlab")])
            .expect("valid");
        let target = c.target_database_url.as_ref().expect("configured");
        assert_eq!(target.location(), "postgres://monitor:****@db:5432/twisterlab");
        assert_eq!(target.connect_options().get_host(), "db");
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert!(
            config(&[("TWISTERLAB_TARGET_DATABASE_URL", "")]).expect("valid").target_database_url.is_none()
        );

        for bad in ["mysql://monitor:s3cr3t@db/x", "postgres://monitor:s3cr3t@db:99999/x", "s3cr3t"] {
            let err = config(&[("TWISTERLAB_TARGET_DATABASE_URL", bad)]).unwrap_err().to_string();
            assert!(
                err.contains("TWISTERLAB_TARGET_DATABASE_URL") && err.contains("postgres://USER"),
                "{err}"
            );
            assert!(!err.contains("s3cr3t"), "{err}");
        }
    }

    #[test]
    fn check_config_shows_the_target_database_url_with_its_password_masked() {
        let sources = Sources::from_pairs(
            [("TWISTERLAB_TARGET_DATABASE_URL", "postgres://monitor:s3cr3t@db/twisterlab")],
            toml::Table::new(),
        );
        let rows = describe(&sources).expect("valid");
        let row = rows.iter().find(|(f, _, _)| f.env == "TWISTERLAB_TARGET_DATABASE_URL").expect("row");
        assert_eq!(row.1, "postgres://monitor:****@db/twisterlab");
        assert_eq!(row.2, Origin::Environment);
        assert!(row.0.secret);
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

/// A network in CIDR notation (`10.244.0.0/16`, `fd00::/8`); a bare address is its own /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: std::net::IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `addr` (an IPv4-mapped IPv6 address counts as IPv4) is in this network.
    pub fn contains(&self, addr: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        match (self.network, addr.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const REASON: &str = "expected a network in CIDR notation such as 10.244.0.0/16";
        let (address, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let network: std::net::IpAddr = address.trim().parse().map_err(|_| REASON)?;
        let network = network.to_canonical();
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max).ok_or(REASON)?,
        };
        Ok(Self { network, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}
