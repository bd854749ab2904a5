//! Outbound channels (`notification_channels`): Slack, signed webhook, PagerDuty; which events
//! each one gets per severity; those configured by `TWISTERLAB_*` settings; URL checks and
//! masking for pages.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::events::EventKind;
use crate::config::{Config, Secret};

/// The kinds of channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    Slack,
    Webhook,
    Pagerduty,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 3] = [ChannelKind::Slack, ChannelKind::Webhook, ChannelKind::Pagerduty];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Webhook => "webhook",
            Self::Pagerduty => "pagerduty",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            Self::Slack => "Slack incoming webhook",
            Self::Webhook => "Signed JSON webhook",
            Self::Pagerduty => "PagerDuty Events API v2",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The events a channel of this kind can carry.
    pub fn events(self) -> Vec<EventKind> {
        EventKind::ALL.into_iter().filter(|e| super::render::supports(self, *e)).collect()
    }
}

/// Which events go to a channel, per severity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routing(BTreeMap<Severity, BTreeSet<EventKind>>);

impl Routing {
    /// Every event the kind supports, at every severity.
    pub fn all(kind: ChannelKind) -> Self {
        let events: BTreeSet<EventKind> = kind.events().into_iter().collect();
        Self(Severity::ALL.into_iter().map(|s| (s, events.clone())).collect())
    }

    pub fn allows(&self, severity: Severity, event: EventKind) -> bool {
        self.0.get(&severity).is_some_and(|e| e.contains(&event))
    }

    pub fn set(&mut self, severity: Severity, event: EventKind) {
        self.0.entry(severity).or_default().insert(event);
    }

    pub fn is_empty(&self) -> bool {
        self.0.values().all(BTreeSet::is_empty)
    }

    /// `{"P0": ["declared", …], …}` as stored.
    pub fn to_json(&self) -> Value {
        let map: serde_json::Map<String, Value> = self
            .0
            .iter()
            .map(|(s, events)| {
                (s.as_str().to_owned(), events.iter().map(|e| Value::from(e.as_str())).collect())
            })
            .collect();
        Value::Object(map)
    }

    /// Reads the stored form, ignoring names it does not know.
    pub fn from_json(value: &Value) -> Self {
        let mut routing = Routing::default();
        if let Some(map) = value.as_object() {
            for (severity, events) in map {
                let Ok(severity) = severity.parse::<Severity>() else { continue };
                for event in events.as_array().into_iter().flatten().filter_map(|e| e.as_str()) {
                    if let Some(event) = EventKind::parse(event) {
                        routing.set(severity, event);
                    }
                }
            }
        }
        routing
    }

    /// Reads form checkboxes named `P1:declared`.
    pub fn from_form(kind: ChannelKind, values: &[String]) -> Self {
        let mut routing = Routing::default();
        for v in values {
            let Some((severity, event)) = v.split_once(':') else { continue };
            if let (Ok(severity), Some(event)) = (severity.parse::<Severity>(), EventKind::parse(event))
                && super::render::supports(kind, event)
            {
                routing.set(severity, event);
            }
        }
        routing
    }
}

/// One channel.
#[derive(Clone, Debug)]
pub struct Channel {
    pub id: Uuid,
    pub kind: ChannelKind,
    pub name: String,
    pub enabled: bool,
    /// Set for the channel configured by `TWISTERLAB_*` settings.
    pub config_key: Option<String>,
    pub url: Option<String>,
    pub secret: Option<Secret>,
    pub routing: Routing,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Channel {
    /// Whether the URL and secret come from the configuration rather than this row.
    pub fn is_configured(&self) -> bool {
        self.config_key.is_some()
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: String,
    name: String,
    enabled: bool,
    config_key: Option<String>,
    url: Option<String>,
    secret: Option<String>,
    routes: Value,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl TryFrom<Row> for Channel {
    type Error = sqlx::Error;
    fn try_from(r: Row) -> Result<Self, Self::Error> {
        let kind = ChannelKind::parse(&r.kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown channel kind {:?}", r.kind).into()))?;
        Ok(Channel {
            id: r.id,
            kind,
            name: r.name,
            enabled: r.enabled,
            config_key: r.config_key,
            url: r.url,
            secret: r.secret.map(Secret::new),
            routing: Routing::from_json(&r.routes),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const COLUMNS: &str = "id, kind, name, enabled, config_key, url, secret, routes, created_at, updated_at";

/// Every channel, configured ones first, then by name.
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Channel>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from notification_channels order by config_key is null, name");
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(db).await?;
    rows.into_iter().map(Channel::try_from).collect()
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Channel>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from notification_channels where id = $1");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(db).await?;
    row.map(Channel::try_from).transpose()
}

/// Locks a channel for an edit.
pub async fn find_for_update(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Channel>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from notification_channels where id = $1 for update");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(db).await?;
    row.map(Channel::try_from).transpose()
}

/// The enabled channels that take `event` at `severity`.
pub async fn subscribed(
    db: impl PgExecutor<'_>,
    severity: Severity,
    event: EventKind,
) -> Result<Vec<Channel>, sqlx::Error> {
    let sql = format!(
        "select {COLUMNS} from notification_channels
          where enabled and routes @> jsonb_build_object($1::text, jsonb_build_array($2::text))
          order by config_key is null, name"
    );
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(severity.as_str())
        .bind(event.as_str())
        .fetch_all(db)
        .await?;
    rows.into_iter().map(Channel::try_from).collect()
}

/// A channel's editable fields.
pub struct ChannelDraft<'a> {
    pub kind: ChannelKind,
    pub name: &'a str,
    pub enabled: bool,
    pub url: Option<&'a str>,
    pub secret: Option<&'a str>,
    pub routing: &'a Routing,
}

/// Inserts a channel; `Ok(None)` when the name is taken.
pub async fn insert(db: impl PgExecutor<'_>, d: &ChannelDraft<'_>) -> Result<Option<Uuid>, sqlx::Error> {
    let id = Uuid::now_v7();
    let done = sqlx::query(
        "insert into notification_channels (id, kind, name, enabled, url, secret, routes)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict (name) do nothing",
    )
    .bind(id)
    .bind(d.kind.as_str())
    .bind(d.name)
    .bind(d.enabled)
    .bind(d.url)
    .bind(d.secret)
    .bind(d.routing.to_json())
    .execute(db)
    .await?;
    Ok((done.rows_affected() == 1).then_some(id))
}

/// Updates a channel; `Ok(false)` when the new name is taken by another channel.
pub async fn update(db: impl PgExecutor<'_>, id: Uuid, d: &ChannelDraft<'_>) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "update notification_channels set name = $2, enabled = $3, url = $4, secret = $5, routes = $6, updated_at = now()
          where id = $1",
    )
    .bind(id)
    .bind(d.name)
    .bind(d.enabled)
    .bind(d.url)
    .bind(d.secret)
    .bind(d.routing.to_json())
    .execute(db)
    .await;
    match result {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("notification_channels_name_key") => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Deletes a channel and its outbox rows.
pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("delete from notification_channels where id = $1")
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        > 0)
}

/// The channels `TWISTERLAB_SLACK_WEBHOOK_URL`, `TWISTERLAB_WEBHOOK_URL` and
/// `TWISTERLAB_PAGERDUTY_ROUTING_KEY` describe: (config key, kind, name).
pub fn configured(config: &Config) -> Vec<(&'static str, ChannelKind, &'static str)> {
    let mut out = vec![];
    if config.slack_webhook_url.is_some() {
        out.push(("slack", ChannelKind::Slack, "Slack #twisterlab-incidents (configuration)"));
    }
    if config.webhook_url.is_some() {
        out.push(("webhook", ChannelKind::Webhook, "Webhook (configuration)"));
    }
    if config.pagerduty_routing_key.is_some() {
        out.push(("pagerduty", ChannelKind::Pagerduty, "PagerDuty (configuration)"));
    }
    out
}

/// Makes sure each channel the configuration describes has its row (every event, every
/// severity at first; admins may narrow it or disable it). Safe to run from several processes.
pub async fn sync_configured(pool: &PgPool, config: &Config) -> Result<usize, sqlx::Error> {
    let mut added = 0;
    for (key, kind, name) in configured(config) {
        let done = sqlx::query(
            "insert into notification_channels (id, kind, name, config_key, routes)
             values ($1, $2, $3, $4, $5) on conflict do nothing",
        )
        .bind(Uuid::now_v7())
        .bind(kind.as_str())
        .bind(name)
        .bind(key)
        .bind(Routing::all(kind).to_json())
        .execute(pool)
        .await?;
        added += usize::try_from(done.rows_affected()).unwrap_or(0);
    }
    Ok(added)
}

/// Longest URL accepted.
pub const MAX_URL: usize = 2000;

/// A trimmed http(s) URL with a host, or why not.
pub fn check_url(raw: &str) -> Result<String, String> {
    let url = raw.trim();
    if url.is_empty() {
        return Err("Enter the address, starting with https://.".into());
    }
    if url.len() > MAX_URL || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("Enter one address without spaces, at most 2000 characters.".into());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("This is not a valid URL ({e})."))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("Use an http:// or https:// address.".into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("The address needs a host name.".into());
    }
    Ok(url.to_owned())
}

/// What pages show of a URL that may carry a credential: scheme, host and port only.
pub fn mask_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let rest = if u.path().len() > 1 || u.query().is_some() { "/…" } else { "" };
            format!("{}://{}{port}{rest}", u.scheme(), u.host_str().unwrap_or(""))
        }
        Err(_) => "(hidden)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert_eq!(
            check_url(" https://hooks.slack.com/services/T/B/x "),
            Ok("https://hooks.slack.com/services/T/B/x".into())
        );
        assert!(check_url("http://127.0.0.1:9000/hook").is_ok());
        for bad in [
            "",
            "hooks.slack.com/x",
            "ftp://x.example/y",
            "https://",
            "https://exa mple.com",
            "javascript:alert(1)",
        ] {
            assert!(check_url(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn masked_urls_keep_only_scheme_host_and_port() {
        assert_eq!(mask_url("https://hooks.slack.com/services/T0/B0/s3cr3t"), "https://hooks.slack.com/…");
        assert_eq!(mask_url("http://127.0.0.1:9000/hook?token=s3cr3t"), "http://127.0.0.1:9000/…");
        assert_eq!(mask_url("https://example.com"), "https://example.com");
        assert_eq!(mask_url("not a url"), "(hidden)");
    }

    #[test]
    fn routing_round_trips_and_pagerduty_takes_only_its_three_actions() {
        let form: Vec<String> =
            ["P0:declared", "P0:public_update", "P1:resolved", "P9:declared", "P2:nonsense"]
                .map(String::from)
                .into();
        let slack = Routing::from_form(ChannelKind::Slack, &form);
        assert!(slack.allows(Severity::P0, EventKind::PublicUpdate));
        assert!(slack.allows(Severity::P1, EventKind::Resolved));
        assert!(!slack.allows(Severity::P1, EventKind::Declared));
        assert_eq!(Routing::from_json(&slack.to_json()), slack);
        let pd = Routing::from_form(ChannelKind::Pagerduty, &form);
        assert!(pd.allows(Severity::P0, EventKind::Declared));
        assert!(!pd.allows(Severity::P0, EventKind::PublicUpdate));
        let all = Routing::all(ChannelKind::Pagerduty);
        assert!(
            all.allows(Severity::P3, EventKind::Reopened) && !all.allows(Severity::P3, EventKind::Escalated)
        );
    }
}
