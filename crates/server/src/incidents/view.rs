//! How incident pages and exports word and link things: SLA clocks, event summaries, the colour
//! classes, and the helpers the incident pages share.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use twisterlab_domain::incident::{Impact, IncidentNumber, IncidentStatus, TimelineKind};
use twisterlab_domain::severity::Severity;
use twisterlab_domain::sla::{Clock, clock, compact_duration};
use uuid::Uuid;

use crate::clock::{self, Instant, absolute, iso, time_of_day};
use crate::db::incidents::{Escalation, Incident, Person, TimelineEvent};
use crate::db::users::User;
use crate::web::form::Choice;
use crate::web::time::Moment;

/// The colour class of a severity (its name is always written beside it).
pub(crate) fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::P0 => "state-major_outage",
        Severity::P1 => "state-partial_outage",
        Severity::P2 => "state-degraded_performance",
        Severity::P3 => "state-under_maintenance",
    }
}

/// The colour class of a status: red until someone responds, green once resolved.
pub(crate) fn status_class(s: IncidentStatus) -> &'static str {
    match s {
        IncidentStatus::Triggered => "state-major_outage",
        IncidentStatus::Resolved => "state-operational",
        _ => "state-under_maintenance",
    }
}

/// `/incidents/INC-42`.
pub(crate) fn incident_path(number: IncidentNumber) -> String {
    format!("/incidents/{number}")
}

/// `/incidents/INC-42?at=<id>#e-<id>`: the page of the timeline that holds one event,
/// scrolled to it.
pub(crate) fn event_href(number: IncidentNumber, event: Option<Uuid>) -> String {
    match event {
        Some(id) => format!("{}?at={id}#e-{id}", incident_path(number)),
        None => incident_path(number),
    }
}

/// `/incidents/INC-42/events/<id>`: the lasting link to one event, whatever page of the
/// timeline it falls on (it redirects to [`event_href`]).
pub(crate) fn event_permalink(number: IncidentNumber, id: Uuid) -> String {
    format!("{}/events/{id}", incident_path(number))
}

/// A person in an incident role by name (their e-mail when they have none).
pub(crate) fn person_name(p: &Option<Person>) -> Option<String> {
    p.as_ref().map(|p| if p.display_name.is_empty() { p.email.clone() } else { p.display_name.clone() })
}

/// "Alice (alice@example.com)" for choosing a person from a list.
pub(crate) fn user_label(u: &User) -> String {
    if u.display_name.is_empty() || u.display_name == u.email {
        u.email.clone()
    } else {
        format!("{} ({})", u.display_name, u.email)
    }
}

/// The impacts a component may have, "not affected" first; `current` is selected.
pub(crate) fn impact_choices(current: &str) -> Vec<Choice> {
    let mut out = vec![Choice::new("", "not affected", current.is_empty())];
    out.extend(Impact::ALL.iter().map(|i| Choice::new(i.as_str(), i.label(), current == i.as_str())));
    out
}

/// The last value of `key` among query or form pairs ("" when absent).
pub(crate) fn param<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("")
}

/// "2026-11-29 14:05:06.123 UTC": a timeline time to the millisecond, in the team zone.
pub(crate) fn precise(t: impl Instant, zone: &TimeZone) -> String {
    let zoned = t.timestamp().to_zoned_datetime(zone.clone());
    zoned.strftime("%Y-%m-%d %H:%M:%S%.3f %Z").to_string()
}

/// Text templates of the countdowns (`{}` is the duration); `static/countdown.js` reads them
/// from the `data-due`/`data-overdue` attributes so server and script word them the same.
pub(crate) const ACK_DUE: &str = "ack due in {}";
pub(crate) const ACK_OVERDUE: &str = "ack overdue by {}";
pub(crate) const ESCALATION_DUE: &str = "escalates in {}";
pub(crate) const ESCALATION_OVERDUE: &str = "escalation due {} ago";

/// A deadline still running: its current text, and what the script needs to tick it.
#[derive(Clone, Debug)]
pub(crate) struct Countdown {
    /// "ack due in 4 min", "ack overdue by 3 min".
    pub text: String,
    /// When the deadline falls, shortly ("14:05 UTC"), or with the date when it is far off.
    pub at: String,
    pub deadline_iso: String,
    pub due: &'static str,
    pub overdue: &'static str,
    pub is_overdue: bool,
}

impl Countdown {
    fn new(
        deadline: impl Instant,
        now: impl Instant,
        zone: &TimeZone,
        due: &'static str,
        overdue: &'static str,
    ) -> Self {
        let c = clock(deadline.timestamp(), now.timestamp());
        let text = match c {
            Clock::Due { remaining } => due.replace("{}", &compact_duration(remaining)),
            Clock::Overdue { by } => overdue.replace("{}", &compact_duration(by)),
        };
        let near = clock::between(now, deadline).abs() < SignedDuration::from_hours(12);
        let at = if near { time_of_day(deadline, zone) } else { absolute(deadline, zone) };
        Self { text, at, deadline_iso: iso(deadline), due, overdue, is_overdue: c.is_overdue() }
    }
}

/// Where an incident stands against its SLA.
#[derive(Clone, Debug)]
pub(crate) struct SlaView {
    /// Not acknowledged yet: the response countdown.
    pub ack: Option<Countdown>,
    /// Acknowledged: "acknowledged after 6 min".
    pub acknowledged_after: Option<String>,
    /// Whether the response target was met (once acknowledged).
    pub response_met: Option<bool>,
    /// Resolved without anyone acknowledging: "resolved without acknowledgement" (and no
    /// "acknowledged after", no verdict on the response target).
    pub unacknowledged: Option<&'static str>,
    /// Unresolved and not escalated yet: the manager-escalation countdown.
    pub escalation: Option<Countdown>,
    /// The manager escalation fired: "escalated to Maya at 06:43 UTC" (no countdown then).
    pub escalated: Option<String>,
    pub respond_by: Moment,
    pub escalate_by: Moment,
}

/// The words for an incident resolved while nobody had acknowledged it.
pub(crate) const RESOLVED_UNACKNOWLEDGED: &str = "resolved without acknowledgement";

/// "escalated to Maya at 06:43 UTC", or that nobody was on call as manager.
pub(crate) fn escalated_words(e: &Escalation, zone: &TimeZone) -> String {
    match e.to.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => format!("escalated to {name} at {}", time_of_day(e.at, zone)),
        None => format!("escalated at {}, but nobody was on call as manager", time_of_day(e.at, zone)),
    }
}

impl SlaView {
    /// `escalated`: the manager escalation, when it fired.
    pub(crate) fn of(
        incident: &Incident,
        escalated: Option<&Escalation>,
        now: impl Instant,
        zone: &TimeZone,
    ) -> Self {
        // Resolving an unacknowledged incident stamps both times at once: that is no response.
        let unacknowledged =
            incident.acknowledged_at.is_some() && incident.acknowledged_at == incident.resolved_at;
        let (ack, acknowledged_after, response_met) = match incident.acknowledged_at {
            None => (Some(Countdown::new(incident.respond_by, now, zone, ACK_DUE, ACK_OVERDUE)), None, None),
            Some(_) if unacknowledged => (None, None, None),
            Some(at) => (
                None,
                Some(format!("acknowledged after {}", span(incident.started_at, at))),
                Some(at <= incident.respond_by),
            ),
        };
        let escalation = (incident.status.is_open() && escalated.is_none())
            .then(|| Countdown::new(incident.escalate_by, now, zone, ESCALATION_DUE, ESCALATION_OVERDUE));
        Self {
            ack,
            acknowledged_after,
            response_met,
            unacknowledged: unacknowledged.then_some(RESOLVED_UNACKNOWLEDGED),
            escalation,
            escalated: escalated.map(|e| escalated_words(e, zone)),
            respond_by: Moment::new(incident.respond_by, zone, now),
            escalate_by: Moment::new(incident.escalate_by, zone, now),
        }
    }
}

/// "6 min", "1 h 20 min" between two moments (zero when `to` is earlier).
pub(crate) fn span(from: impl Instant, to: impl Instant) -> String {
    let secs = clock::between(from, to).as_secs().max(0);
    compact_duration(SignedDuration::from_secs(secs))
}

/// "Status changed", "Public update": a timeline kind in words.
pub(crate) const fn kind_label(kind: TimelineKind) -> &'static str {
    match kind {
        TimelineKind::Declared => "Declared",
        TimelineKind::Acknowledged => "Acknowledged",
        TimelineKind::StatusChanged => "Status changed",
        TimelineKind::SeverityChanged => "Severity changed",
        TimelineKind::RoleAssigned => "Role assigned",
        TimelineKind::Note => "Note",
        TimelineKind::PublicUpdate => "Public update",
        TimelineKind::ComponentImpactChanged => "Component impact changed",
        TimelineKind::LinkAdded => "Link added",
        TimelineKind::Escalated => "Escalated",
        TimelineKind::Notified => "Notified",
        TimelineKind::SlaBreached => "SLA breached",
        TimelineKind::RunbookStep => "Runbook step",
        TimelineKind::KubernetesAction => "Kubernetes action",
        TimelineKind::HealthSignal => "Health signal",
        TimelineKind::Resolved => "Resolved",
        TimelineKind::Reopened => "Reopened",
        TimelineKind::DetailsChanged => "Details corrected",
        TimelineKind::Withdrawn => "Withdrawn",
        TimelineKind::PostmortemStateChanged => "Postmortem",
    }
}

/// "comms lead" for `comms_lead`.
pub(crate) fn role_words(role: &str) -> String {
    role.replace('_', " ")
}

/// "partial outage" for a stored impact name; "not affected" for none.
pub(crate) fn impact_words(name: Option<&str>) -> String {
    match name.map(str::parse::<Impact>) {
        None => "not affected".into(),
        Some(Ok(impact)) => impact.label().into(),
        Some(Err(_)) => name.unwrap_or_default().replace('_', " "),
    }
}

/// The href of a link an incident carries, only when it is http(s): anything else stays text.
pub(crate) fn safe_href(url: &str) -> Option<&str> {
    let lower = url.trim_start().get(..8).unwrap_or("").to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then_some(url)
}

fn text<'a>(data: &'a Value, key: &str) -> Option<&'a str> {
    data.get(key).and_then(Value::as_str)
}

fn moment_text(data: &Value, key: &str, zone: &TimeZone) -> Option<String> {
    let ts: Timestamp = text(data, key)?.parse().ok()?;
    Some(ts.to_zoned_datetime(zone.clone()).strftime("%Y-%m-%d %H:%M %Z").to_string())
}

/// One sentence on what an event changed, from its typed facts (the actor is shown apart).
/// `components` names components by id, for events that only stored the id.
pub(crate) fn event_summary(
    e: &TimelineEvent,
    zone: &TimeZone,
    components: &HashMap<Uuid, String>,
) -> String {
    let d = &e.data;
    let s = |k: &str| text(d, k).unwrap_or("?");
    match e.kind {
        TimelineKind::Declared => {
            let mut out = format!("Declared as {}", s("severity"));
            if d.get("security").and_then(Value::as_bool) == Some(true) {
                out.push_str(", security incident");
            }
            if d.get("private").and_then(Value::as_bool) == Some(true) {
                out.push_str(", private");
            }
            out
        }
        TimelineKind::Acknowledged => match d.get("within_sla").and_then(Value::as_bool) {
            Some(true) => "Acknowledged within the response target".into(),
            Some(false) => "Acknowledged after the response target".into(),
            None => "Acknowledged".into(),
        },
        TimelineKind::StatusChanged => format!("Status {} → {}", s("from"), s("to")),
        TimelineKind::SeverityChanged => {
            let mut out = format!("Severity {} → {}", s("from"), s("to"));
            if let (Some(r), Some(x)) =
                (moment_text(d, "respond_by", zone), moment_text(d, "escalate_by", zone))
            {
                out.push_str(&format!("; now respond by {r}, escalate by {x}"));
            }
            out
        }
        TimelineKind::RoleAssigned => {
            let mut out = format!("{} is now {}", s("user"), role_words(s("role")));
            if let Some(previous) = text(d, "previous") {
                out.push_str(&format!(" (was {previous})"));
            }
            out
        }
        TimelineKind::Note => "Internal note".into(),
        TimelineKind::PublicUpdate => match e.public_status.as_deref() {
            Some(status) => format!("Public update: {status}"),
            None => "Public update".into(),
        },
        TimelineKind::ComponentImpactChanged => {
            let name = text(d, "component").map(str::to_owned).or_else(|| {
                let id: Uuid = text(d, "component_id")?.parse().ok()?;
                components.get(&id).cloned()
            });
            format!(
                "{}: {} → {}",
                name.as_deref().unwrap_or("a component"),
                impact_words(text(d, "from")),
                impact_words(text(d, "to"))
            )
        }
        TimelineKind::LinkAdded => {
            let label = text(d, "label").filter(|l| !l.is_empty()).unwrap_or(s("url"));
            format!("Linked {} ({})", label, s("kind"))
        }
        TimelineKind::Resolved => match d.get("duration_seconds").and_then(Value::as_i64) {
            Some(secs) => {
                format!("Resolved after {}", compact_duration(SignedDuration::from_secs(secs.max(0))))
            }
            None => "Resolved".into(),
        },
        TimelineKind::Reopened => format!("Reopened as {}", s("to")),
        TimelineKind::Notified | TimelineKind::Escalated => page_summary(e),
        TimelineKind::DetailsChanged => match text(d, "field") {
            Some("title") => "Title corrected".into(),
            Some("summary") => "Summary corrected".into(),
            Some("visibility") => format!("Made {} (was {})", s("after"), s("before")),
            _ => "Details corrected".into(),
        },
        TimelineKind::Withdrawn => format!("Withdrawn from the status page: {}", s("reason")),
        TimelineKind::PostmortemStateChanged => postmortem_words(text(d, "to")).into(),
        other => kind_label(other).into(),
    }
}

/// What a postmortem state change did, by the state it reached.
pub(crate) fn postmortem_words(to: Option<&str>) -> &'static str {
    match to {
        Some("draft") => "Postmortem draft started",
        Some("in_review") => "Postmortem sent to review",
        Some("published") => "Postmortem published",
        _ => "Postmortem changed",
    }
}

/// The channels a page or escalation was queued for, by name.
pub(crate) fn paged_channels(e: &TimelineEvent) -> Vec<String> {
    e.data
        .get("channels")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The paged person's contact methods a page tried: ("Maya's PagerDuty", note, whether a row
/// or a mention is on its way).
pub(crate) fn paged_contacts(e: &TimelineEvent) -> Vec<(String, Option<String>, bool)> {
    e.data
        .get("contacts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    let name = c.get("name")?.as_str()?.to_owned();
                    let note = c.get("note").and_then(Value::as_str).map(str::to_owned);
                    // A mention has no row; a row with a note was given up on at once.
                    let queued = match (c.get("notification_id").and_then(Value::as_str), &note) {
                        (Some(_), None) => true,
                        (None, Some(n)) => n.starts_with("mentioned in"),
                        _ => false,
                    };
                    Some((name, note, queued))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a page or escalation event sent nothing at all (`notified` as recorded; pages
/// recorded before it was, by their channels).
pub(crate) fn nobody_notified(e: &TimelineEvent) -> bool {
    matches!(e.kind, TimelineKind::Notified | TimelineKind::Escalated)
        && match e.data.get("notified").and_then(Value::as_bool) {
            Some(notified) => !notified,
            None => paged_channels(e).is_empty(),
        }
}

/// What a page or escalation actually did: who was on call, and where it was queued — the
/// channels and the person's own contact methods — or that nobody was notified. Never
/// "notified someone" when nothing was sent.
fn page_summary(e: &TimelineEvent) -> String {
    let role = text(&e.data, "to").unwrap_or("primary");
    let who = text(&e.data, "user").filter(|w| !w.is_empty());
    let contacts = paged_contacts(e);
    let mut ways = paged_channels(e);
    ways.extend(contacts.iter().filter(|(_, _, queued)| *queued).map(|(name, note, _)| match note {
        Some(note) => format!("{name} ({note})"),
        None => name.clone(),
    }));
    let failed: Vec<String> = contacts
        .iter()
        .filter(|(_, _, queued)| !queued)
        .map(|(name, note, _)| format!("{name}: {}", note.as_deref().unwrap_or("not sent")))
        .collect();
    let failed = if failed.is_empty() { String::new() } else { format!(". Not sent: {}", failed.join("; ")) };
    let verb = if e.kind == TimelineKind::Escalated { "Escalated to" } else { "Paged" };
    match (who, nobody_notified(e)) {
        (Some(w), false) => format!("{verb} {w} ({role} on call) through {}{failed}", ways.join(", ")),
        (Some(w), true) if !contacts.is_empty() => format!(
            "Nobody was notified: no notification channel carries this page and none of {w}'s contact methods could be used ({w} is {role} on call and was not told){failed}"
        ),
        (Some(w), true) => format!(
            "Nobody was notified: no notification channel carries this page ({w} is {role} on call and was not told)"
        ),
        (None, false) => format!("Nobody is on call as {role}; the page went to {}", ways.join(", ")),
        (None, true) => format!(
            "Nobody was notified: nobody is on call as {role} and no notification channel carries this page"
        ),
    }
}

/// The facts of events whose kind has no dedicated sentence (escalations, runbook steps…), as
/// "key: value" pairs; ids are left out.
pub(crate) fn generic_facts(e: &TimelineEvent) -> Vec<(String, String)> {
    let dedicated = matches!(
        e.kind,
        TimelineKind::Declared
            | TimelineKind::Acknowledged
            | TimelineKind::StatusChanged
            | TimelineKind::SeverityChanged
            | TimelineKind::RoleAssigned
            | TimelineKind::Note
            | TimelineKind::PublicUpdate
            | TimelineKind::ComponentImpactChanged
            | TimelineKind::LinkAdded
            | TimelineKind::Resolved
            | TimelineKind::Reopened
            | TimelineKind::Notified
            | TimelineKind::Escalated
            | TimelineKind::Withdrawn
            | TimelineKind::PostmortemStateChanged
    );
    let Some(map) = e.data.as_object().filter(|_| !dedicated) else { return vec![] };
    map.iter()
        .filter(|(k, _)| !k.ends_with("_id") && k.as_str() != "id")
        // A nested object (a runbook step's output: its summary and whole table, up to a
        // hundred log lines) is no one-line fact: its summary is already the event's text, the
        // table is on the run page, and the JSON export keeps the object.
        .filter(|(_, v)| !v.is_object())
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Null => "none".into(),
                Value::Array(items) if items.is_empty() => "none".into(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned).unwrap_or_else(|| i.to_string()))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            (k.replace('_', " "), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    fn event(kind: TimelineKind, data: Value) -> TimelineEvent {
        TimelineEvent {
            id: Uuid::nil(),
            incident_id: Uuid::nil(),
            at: crate::clock::to_jiff(datetime!(2026-11-29 14:05:06.123 UTC)),
            kind,
            actor_user_id: None,
            actor_label: "alice@twisterlab.test".into(),
            body: None,
            data,
            public: false,
            public_status: None,
            corrects_id: None,
        }
    }

    #[test]
    fn countdowns_read_as_due_or_overdue_with_the_time_they_fall() {
        let now = datetime!(2026-11-29 14:01 UTC);
        let due = Countdown::new(datetime!(2026-11-29 14:05 UTC), now, &TimeZone::UTC, ACK_DUE, ACK_OVERDUE);
        assert_eq!(
            (due.text.as_str(), due.at.as_str(), due.is_overdue),
            ("ack due in 4 min", "14:05 UTC", false)
        );
        let late = Countdown::new(datetime!(2026-11-29 13:58 UTC), now, &TimeZone::UTC, ACK_DUE, ACK_OVERDUE);
        assert_eq!((late.text.as_str(), late.is_overdue), ("ack overdue by 3 min", true));
        let far = Countdown::new(
            datetime!(2026-12-01 09:00 UTC),
            now,
            &TimeZone::UTC,
            ESCALATION_DUE,
            ESCALATION_OVERDUE,
        );
        assert_eq!(far.at, "2026-12-01 09:00 UTC");
    }

    #[test]
    fn timeline_times_keep_milliseconds() {
        assert_eq!(
            precise(datetime!(2026-11-29 14:05:06.123 UTC), &TimeZone::UTC),
            "2026-11-29 14:05:06.123 UTC"
        );
    }

    #[test]
    fn events_are_summarised_from_their_facts() {
        let none = HashMap::new();
        let z = &TimeZone::UTC;
        let e = event(TimelineKind::StatusChanged, json!({"from": "acknowledged", "to": "investigating"}));
        assert_eq!(event_summary(&e, z, &none), "Status acknowledged → investigating");
        let id = Uuid::now_v7();
        let names = HashMap::from([(id, "API".to_owned())]);
        let e = event(
            TimelineKind::ComponentImpactChanged,
            json!({"component_id": id, "from": null, "to": "partial_outage"}),
        );
        assert_eq!(event_summary(&e, z, &names), "API: not affected → partial outage");
        let e = event(TimelineKind::Resolved, json!({"duration_seconds": 4800}));
        assert_eq!(event_summary(&e, z, &none), "Resolved after 1 h 20 min");
        let e =
            event(TimelineKind::RoleAssigned, json!({"role": "comms_lead", "user": "Bob", "previous": null}));
        assert_eq!(event_summary(&e, z, &none), "Bob is now comms lead");
    }

    #[test]
    fn only_http_links_become_hrefs() {
        assert_eq!(safe_href("https://grafana.example/d/x"), Some("https://grafana.example/d/x"));
        assert_eq!(safe_href("javascript:alert(1)"), None);
        assert_eq!(safe_href("JAVASCRIPT:alert(1)"), None);
        assert_eq!(safe_href("data:text/html,x"), None);
    }

    #[test]
    fn a_runbook_steps_output_table_is_not_shown_as_a_fact() {
        let e = event(
            TimelineKind::RunbookStep,
            json!({"step": "check-recent-logs", "status": "done",
                   "output": {"summary": "2 log line(s)", "table": {"columns": ["line"], "rows": [["ERROR x"]]}}}),
        );
        let mut facts = generic_facts(&e);
        facts.sort();
        assert_eq!(
            facts,
            [("status".to_owned(), "done".to_owned()), ("step".to_owned(), "check-recent-logs".to_owned())]
        );
    }

    #[test]
    fn kinds_without_a_sentence_show_their_facts_without_ids() {
        let e = event(
            TimelineKind::RunbookStep,
            json!({"step": "check pg_stat_activity", "outcome": "done", "run_id": "x"}),
        );
        let facts = generic_facts(&e);
        assert!(
            facts.contains(&("step".into(), "check pg_stat_activity".into()))
                && facts.iter().all(|(k, _)| k != "run id"),
            "{facts:?}"
        );
    }
}
