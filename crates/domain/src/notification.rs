//! What notification channels carry: the incident events a channel may be told about, the kinds
//! of channel (PagerDuty takes only the three events it has an action for), and a channel's
//! routing — which events it gets at each severity.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::severity::Severity;

/// An incident event a channel may be told about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    Declared,
    Acknowledged,
    StatusChanged,
    SeverityChanged,
    PublicUpdate,
    /// Paged the secondary, or escalated to the manager.
    Escalated,
    SlaBreached,
    Resolved,
    Reopened,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::Declared,
        EventKind::Acknowledged,
        EventKind::StatusChanged,
        EventKind::SeverityChanged,
        EventKind::PublicUpdate,
        EventKind::Escalated,
        EventKind::SlaBreached,
        EventKind::Resolved,
        EventKind::Reopened,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Declared => "declared",
            Self::Acknowledged => "acknowledged",
            Self::StatusChanged => "status_changed",
            Self::SeverityChanged => "severity_changed",
            Self::PublicUpdate => "public_update",
            Self::Escalated => "escalated",
            Self::SlaBreached => "sla_breached",
            Self::Resolved => "resolved",
            Self::Reopened => "reopened",
        }
    }

    /// How the admin pages name it.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Declared => "Declared (primary paged)",
            Self::Acknowledged => "Acknowledged",
            Self::StatusChanged => "Status changed",
            Self::SeverityChanged => "Severity changed",
            Self::PublicUpdate => "Public update",
            Self::Escalated => "Escalated (secondary, manager)",
            Self::SlaBreached => "Response SLA breached",
            Self::Resolved => "Resolved",
            Self::Reopened => "Reopened",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The PagerDuty Events API v2 `event_action` for this event; PagerDuty takes no others.
    pub const fn pagerduty_action(self) -> Option<&'static str> {
        match self {
            Self::Declared | Self::Reopened => Some("trigger"),
            Self::Acknowledged => Some("acknowledge"),
            Self::Resolved => Some("resolve"),
            _ => None,
        }
    }
}

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

    /// Whether `event` can go to a channel of this kind at all (PagerDuty takes three).
    pub const fn carries(self, event: EventKind) -> bool {
        match self {
            Self::Pagerduty => event.pagerduty_action().is_some(),
            Self::Slack | Self::Webhook => true,
        }
    }

    /// The events a channel of this kind can carry.
    pub fn events(self) -> Vec<EventKind> {
        EventKind::ALL.into_iter().filter(|e| self.carries(*e)).collect()
    }
}

/// Which events go to a channel, per severity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routing(BTreeMap<Severity, BTreeSet<EventKind>>);

impl Routing {
    /// Every event the kind carries, at every severity.
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

    /// Reads `P1:declared` pairs (form checkboxes, API lists), dropping unknown names and
    /// events the kind cannot carry.
    pub fn from_pairs(kind: ChannelKind, values: &[String]) -> Self {
        let mut routing = Routing::default();
        for v in values {
            let Some((severity, event)) = v.split_once(':') else { continue };
            if let (Ok(severity), Some(event)) = (severity.parse::<Severity>(), EventKind::parse(event))
                && kind.carries(event)
            {
                routing.set(severity, event);
            }
        }
        routing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_round_trips_and_pagerduty_takes_only_its_three_actions() {
        let form: Vec<String> =
            ["P0:declared", "P0:public_update", "P1:resolved", "P9:declared", "P2:nonsense"]
                .map(String::from)
                .into();
        let slack = Routing::from_pairs(ChannelKind::Slack, &form);
        assert!(slack.allows(Severity::P0, EventKind::PublicUpdate));
        assert!(slack.allows(Severity::P1, EventKind::Resolved));
        assert!(!slack.allows(Severity::P1, EventKind::Declared));
        assert_eq!(Routing::from_json(&slack.to_json()), slack);
        let pd = Routing::from_pairs(ChannelKind::Pagerduty, &form);
        assert!(pd.allows(Severity::P0, EventKind::Declared));
        assert!(!pd.allows(Severity::P0, EventKind::PublicUpdate));
        let all = Routing::all(ChannelKind::Pagerduty);
        assert!(
            all.allows(Severity::P3, EventKind::Reopened) && !all.allows(Severity::P3, EventKind::Escalated)
        );
    }

    #[test]
    fn every_kind_and_event_reads_back_from_its_name() {
        for kind in ChannelKind::ALL {
            assert_eq!(ChannelKind::parse(kind.as_str()), Some(kind));
        }
        for event in EventKind::ALL {
            assert_eq!(EventKind::parse(event.as_str()), Some(event));
        }
        assert_eq!(ChannelKind::Pagerduty.events().len(), 4, "declared, acknowledged, resolved, reopened");
        assert_eq!(ChannelKind::Slack.events(), EventKind::ALL);
    }
}
