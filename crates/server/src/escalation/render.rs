//! Turns an event's facts into each channel's documented request: a Slack Block Kit message, a
//! PagerDuty Events API v2 event, a signed JSON webhook.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use super::events::Facts;

/// Slack's limits: header text 150 characters, section text 3000, a field 2000.
const SLACK_HEADER_MAX: usize = 150;
const SLACK_TEXT_MAX: usize = 3000;
const SLACK_FIELD_MAX: usize = 2000;
/// PagerDuty's `payload.summary` limit.
const PAGERDUTY_SUMMARY_MAX: usize = 1024;

/// Header carrying the HMAC signature of a webhook delivery.
pub(crate) const SIGNATURE_HEADER: &str = "x-twisterlab-signature";
/// Header carrying the Unix time (seconds) the signature covers.
pub(crate) const TIMESTAMP_HEADER: &str = "x-twisterlab-timestamp";
/// Header naming the event of a webhook delivery.
pub(crate) const EVENT_HEADER: &str = "x-twisterlab-event";
/// Header with the notification's id; the same on every attempt, so receivers can drop repeats.
pub(crate) const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// The incident page a message links to: `{public_url}/incidents/{number}`.
pub(crate) fn incident_url(public_url: &str, facts: &Facts) -> String {
    format!("{}/incidents/{}", public_url.trim_end_matches('/'), facts.incident.number)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Slack mrkdwn escaping: `&`, `<` and `>` are control characters there.
pub(crate) fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `[P1] INC-57: API database disconnected`.
fn title_line(f: &Facts) -> String {
    format!("[{}] {}: {}", f.incident.severity, f.incident.reference, f.incident.title)
}

/// A Slack incoming-webhook message (`text` as the notification fallback, `blocks` for the
/// layout): severity, number, title, status, commander and a link to the incident page.
pub(crate) fn slack_message(f: &Facts, link: &str) -> Value {
    let severity_label = f.severity().map(|s| format!(" ({})", s.label())).unwrap_or_default();
    let commander = f.incident.commander.as_deref().unwrap_or("nobody yet");
    // The fallback text is mrkdwn too: everything people typed is escaped there as well.
    let mut text = format!(
        "{} — {} Status: {}. Commander: {}. {}",
        slack_escape(&title_line(f)),
        slack_escape(&f.headline()),
        slack_escape(&f.incident.status),
        slack_escape(commander),
        link
    );
    let mut detail = format!(
        "*<{}|{}>: {}*\n{}",
        link,
        f.incident.reference,
        slack_escape(&f.incident.title),
        slack_escape(&f.headline())
    );
    if let Some(body) = &f.body {
        let quoted: Vec<String> = slack_escape(body).lines().map(|l| format!("> {l}")).collect();
        detail.push('\n');
        detail.push_str(&quoted.join("\n"));
        text.push_str(&format!("\n{}", slack_escape(body)));
    }
    // The paged person's Slack member IDs (checked against `^[UW][A-Z0-9]{2,20}$` when saved,
    // so they cannot carry other markup): Slack notifies them.
    let mentions = mentions(f);
    if !mentions.is_empty() {
        detail.push_str(&format!("\n{mentions}: you are paged."));
        text = format!("{mentions} {text}");
    }
    detail.push_str(&format!("\n<{}|Open {} to acknowledge or follow it>", link, f.incident.reference));
    let field = |name: &str, value: String| json!({"type": "mrkdwn", "text": truncate(&format!("*{name}*\n{value}"), SLACK_FIELD_MAX)});
    json!({
        "text": truncate(&text, SLACK_TEXT_MAX),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": truncate(&format!("{} · {} · {}", f.incident.severity, f.incident.reference, f.incident.title), SLACK_HEADER_MAX), "emoji": false}
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": truncate(&detail, SLACK_TEXT_MAX)}},
            {
                "type": "section",
                "fields": [
                    field("Severity", format!("{}{}", f.incident.severity, severity_label)),
                    field("Status", slack_escape(&f.incident.status)),
                    field("Commander", slack_escape(commander)),
                    field("Incident", format!("<{}|{}>", link, f.incident.reference)),
                ]
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("TwisterLab Ops Portal · {}", slack_escape(&f.at))}]}
        ]
    })
}

/// `<@U024BE7LH> <@W012A3CDE>` for the paged person's Slack member IDs (only well-formed ones).
fn mentions(f: &Facts) -> String {
    f.paged
        .as_ref()
        .map(|p| {
            p.slack
                .iter()
                .filter(|id| twisterlab_domain::contact::is_slack_member_id(id))
                .map(|id| format!("<@{id}>"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// PagerDuty's severity for ours: P0 critical, P1 error, P2 warning, P3 info.
pub(crate) fn pagerduty_severity(severity: &str) -> &'static str {
    match severity {
        "P0" => "critical",
        "P1" => "error",
        "P2" => "warning",
        _ => "info",
    }
}

/// A PagerDuty Events API v2 event (`trigger` on declare and reopen, `acknowledge`, `resolve`)
/// deduplicated by the incident reference; `None` for events PagerDuty has no action for.
pub(crate) fn pagerduty_event(f: &Facts, routing_key: &str, link: &str, source: &str) -> Option<Value> {
    let action = if f.is_test() { "trigger" } else { f.kind()?.pagerduty_action()? };
    Some(pagerduty_with_action(f, action, routing_key, link, source))
}

/// A PagerDuty trigger for a page to one person's own PagerDuty service (declared: the
/// primary; escalated: the secondary or the manager), deduplicated by the incident reference.
pub(crate) fn pagerduty_page(f: &Facts, routing_key: &str, link: &str, source: &str) -> Value {
    pagerduty_with_action(f, "trigger", routing_key, link, source)
}

fn pagerduty_with_action(f: &Facts, action: &str, routing_key: &str, link: &str, source: &str) -> Value {
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": f.incident.reference,
    });
    if action == "trigger" {
        event["payload"] = json!({
            "summary": truncate(&title_line(f), PAGERDUTY_SUMMARY_MAX),
            "source": source,
            "severity": pagerduty_severity(&f.incident.severity),
            "timestamp": f.incident.started_at,
            "class": "incident",
            "custom_details": {
                "status": f.incident.status,
                "commander": f.incident.commander,
                "paged": f.paged.as_ref().map(super::events::Paged::describe),
                "url": link,
            }
        });
        event["links"] =
            json!([{"href": link, "text": format!("{} in the TwisterLab Ops Portal", f.incident.reference)}]);
        event["client"] = json!("TwisterLab Ops Portal");
        event["client_url"] = json!(link);
    }
    event
}

/// The generic webhook's JSON body (documented in docs/WEBHOOKS.md).
pub(crate) fn webhook_body(id: Uuid, f: &Facts, link: &str) -> Value {
    let mut incident = serde_json::to_value(&f.incident).unwrap_or(Value::Null);
    incident["url"] = json!(link);
    json!({
        "id": id,
        "type": format!("incident.{}", f.event),
        "occurred_at": f.at,
        "incident": incident,
        "data": {
            "summary": f.headline(),
            "actor": f.actor,
            "paged": f.paged,
            "from": f.from,
            "to": f.to,
            "body": f.body,
            "public_status": f.public_status,
            "respond_by": f.respond_by,
        }
    })
}

/// `sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>` with `secret` as the key.
pub(crate) fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail; an empty MAC would never verify.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use twisterlab_domain::notification::EventKind;

    use super::*;
    use crate::escalation::events::{IncidentFacts, Paged};

    fn facts(event: EventKind) -> Facts {
        Facts {
            event: event.as_str().into(),
            at: "2026-03-01T03:12:00Z".into(),
            incident: IncidentFacts {
                number: 57,
                reference: "INC-57".into(),
                title: "API <database> disconnected & slow".into(),
                severity: "P1".into(),
                status: "triggered".into(),
                commander: Some("Alice".into()),
                private: false,
                started_at: "2026-03-01T03:10:00Z".into(),
            },
            actor: Some("alice@example.com".into()),
            paged: Some(Paged {
                role: "primary".into(),
                name: Some("Bob".into()),
                email: Some("bob@example.com".into()),
                slack: vec![],
            }),
            from: None,
            to: None,
            body: None,
            public_status: None,
            respond_by: None,
        }
    }

    #[test]
    fn a_slack_message_has_text_and_blocks_with_every_fact_and_the_link() {
        let link = "https://ops.example/incidents/57";
        let m = slack_message(&facts(EventKind::Declared), link);
        let text = m["text"].as_str().expect("text");
        for part in ["[P1] INC-57", "API &lt;database&gt; disconnected", "triggered", "Alice", "Bob", link] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
        let blocks = m["blocks"].as_array().expect("blocks");
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert!(blocks[0]["text"]["text"].as_str().expect("header").chars().count() <= 150);
        assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
        let fields = blocks[2]["fields"].as_array().expect("fields");
        assert!(fields.len() <= 10 && fields.iter().all(|f| f["type"] == "mrkdwn"));
        let all = serde_json::to_string(&blocks).expect("json");
        assert!(all.contains("&lt;database&gt; disconnected &amp; slow"), "mrkdwn is escaped: {all}");
        assert!(all.contains(&format!("<{link}|INC-57>")), "{all}");
        assert!(all.contains("P1 (critical feature)"));
    }

    #[test]
    fn slack_text_cannot_ping_everyone_or_disguise_a_link() {
        let mut f = facts(EventKind::Declared);
        f.incident.title = "<!channel> wake up <https://evil.example|ops.example/login>".into();
        f.incident.commander = Some("<!here>".into());
        f.body = Some("see <@U123> and <!everyone>".into());
        let m = slack_message(&f, "https://ops.example/incidents/57");
        // Everything Slack parses as mrkdwn: the fallback text and every block but the
        // plain-text header (which shows markup as typed and never notifies).
        let blocks = m["blocks"].as_array().expect("blocks");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        let all = format!("{} {}", m["text"], serde_json::to_string(&blocks[1..]).expect("json"));
        for bad in ["<!channel>", "<!here>", "<!everyone>", "<@U123>", "<https://evil.example"] {
            assert!(!all.contains(bad), "{bad} reaches Slack as markup: {all}");
        }
        let text = m["text"].as_str().expect("text");
        assert!(text.contains("&lt;!channel&gt; wake up"), "the fallback text is escaped too: {text}");
    }

    #[test]
    fn the_slack_message_of_a_page_mentions_the_paged_persons_member_id() {
        let mut f = facts(EventKind::Declared);
        if let Some(p) = f.paged.as_mut() {
            p.slack = vec!["U024BE7LH".into(), "<!channel>".into()];
        }
        let m = slack_message(&f, "https://ops.example/incidents/57");
        let text = m["text"].as_str().expect("text");
        assert!(text.starts_with("<@U024BE7LH> "), "{text}");
        let detail = m["blocks"][1]["text"]["text"].as_str().expect("section");
        assert!(detail.contains("<@U024BE7LH>: you are paged."), "{detail}");
        assert!(
            !serde_json::to_string(&m).expect("json").contains("<!channel>"),
            "only member IDs are mentioned"
        );
    }

    #[test]
    fn a_long_public_update_is_cut_to_slacks_limits() {
        let mut f = facts(EventKind::PublicUpdate);
        f.body = Some("x".repeat(10_000));
        let m = slack_message(&f, "http://l");
        assert!(m["text"].as_str().expect("text").chars().count() <= SLACK_TEXT_MAX);
        assert!(m["blocks"][1]["text"]["text"].as_str().expect("section").chars().count() <= SLACK_TEXT_MAX);
    }

    #[test]
    fn pagerduty_triggers_acknowledges_and_resolves_by_incident_reference() {
        let link = "https://ops.example/incidents/57";
        let trigger =
            pagerduty_event(&facts(EventKind::Declared), "R0UTE", link, "ops.example").expect("trigger");
        assert_eq!(trigger["routing_key"], "R0UTE");
        assert_eq!(trigger["event_action"], "trigger");
        assert_eq!(trigger["dedup_key"], "INC-57");
        assert_eq!(trigger["payload"]["severity"], "error");
        assert_eq!(trigger["payload"]["source"], "ops.example");
        assert!(trigger["payload"]["summary"].as_str().expect("summary").starts_with("[P1] INC-57"));
        assert_eq!(trigger["links"][0]["href"], link);
        let ack = pagerduty_event(&facts(EventKind::Acknowledged), "R0UTE", link, "s").expect("ack");
        assert_eq!(
            (ack["event_action"].as_str(), ack["dedup_key"].as_str()),
            (Some("acknowledge"), Some("INC-57"))
        );
        assert!(ack.get("payload").is_none());
        let resolve = pagerduty_event(&facts(EventKind::Resolved), "R0UTE", link, "s").expect("resolve");
        assert_eq!(resolve["event_action"], "resolve");
        assert!(pagerduty_event(&facts(EventKind::PublicUpdate), "R0UTE", link, "s").is_none());
        let severities: Vec<&str> = ["P0", "P1", "P2", "P3"].into_iter().map(pagerduty_severity).collect();
        assert_eq!(severities, ["critical", "error", "warning", "info"]);
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Known answer, computed independently:
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec'
        let sig = signature(b"whsec", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(sig, "sha256=8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032");
        assert_ne!(sig, signature(b"whsec", 1_700_000_001, br#"{"a":1}"#));
        assert_ne!(sig, signature(b"other", 1_700_000_000, br#"{"a":1}"#));
    }

    #[test]
    fn the_webhook_body_names_the_event_the_incident_and_its_link() {
        let id = Uuid::now_v7();
        let body = webhook_body(id, &facts(EventKind::Declared), "http://l/incidents/57");
        assert_eq!(body["id"], id.to_string());
        assert_eq!(body["type"], "incident.declared");
        assert_eq!(body["incident"]["reference"], "INC-57");
        assert_eq!(body["incident"]["url"], "http://l/incidents/57");
        assert_eq!(body["data"]["paged"]["name"], "Bob");
    }
}
