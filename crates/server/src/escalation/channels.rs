//! Outbound channels (`notification_channels`, rows in `db::channels`, kinds and routing in
//! `twisterlab_domain::notification`): those configured by `TWISTERLAB_*` settings, and URL
//! checks and masking for pages. The changes admins make are use cases in
//! `escalation::service`.

use sqlx::PgPool;
use twisterlab_domain::notification::{ChannelKind, Routing};

use crate::config::Config;
use crate::db::channels as store;

/// The channels `TWISTERLAB_SLACK_WEBHOOK_URL`, `TWISTERLAB_WEBHOOK_URL` and
/// `TWISTERLAB_PAGERDUTY_ROUTING_KEY` describe: (config key, kind, name).
pub(crate) fn configured(config: &Config) -> Vec<(&'static str, ChannelKind, &'static str)> {
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

/// Where a configured channel's URL and secret come from: (URL setting, secret setting).
pub(crate) fn config_source(key: &str) -> (&'static str, Option<&'static str>) {
    match key {
        "slack" => ("TWISTERLAB_SLACK_WEBHOOK_URL", None),
        "webhook" => ("TWISTERLAB_WEBHOOK_URL", Some("TWISTERLAB_WEBHOOK_SECRET")),
        _ => ("TWISTERLAB_PAGERDUTY_EVENTS_URL", Some("TWISTERLAB_PAGERDUTY_ROUTING_KEY")),
    }
}

/// Makes sure each channel the configuration describes has its row (every event, every
/// severity at first; admins may narrow it or disable it), and records whether pages send Slack
/// direct messages (`TWISTERLAB_SLACK_BOT_TOKEN`); returns how many channels were added. Safe to
/// run from several processes.
pub(crate) async fn sync_configured(pool: &PgPool, config: &Config) -> Result<usize, sqlx::Error> {
    crate::db::contact_methods::set_slack_direct_messages(pool, config.slack_bot_token.is_some()).await?;
    let mut added = 0;
    for (key, kind, name) in configured(config) {
        if store::insert_configured(pool, key, kind, name, &Routing::all(kind)).await? {
            added += 1;
        }
    }
    Ok(added)
}

/// Longest URL accepted.
pub(crate) const MAX_URL: usize = 2000;

/// A trimmed http(s) URL with a host, or why not.
pub(crate) fn check_url(raw: &str) -> Result<String, String> {
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
pub(crate) fn mask_url(url: &str) -> String {
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
}
