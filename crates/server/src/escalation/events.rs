//! What a notification says: the event kinds channels subscribe to, and the facts of one event
//! frozen in the outbox row when it happens (rendered per channel at delivery).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use twisterlab_domain::severity::Severity;

use crate::db::incidents::Incident;
use crate::db::oncall::Person;

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

/// The incident as it stood when the event happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentFacts {
    pub number: i64,
    /// `INC-57`.
    pub reference: String,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub commander: Option<String>,
    pub private: bool,
    /// RFC 3339.
    pub started_at: String,
}

/// Someone the event paged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paged {
    /// `primary`, `secondary` or `manager`.
    pub role: String,
    /// `None` when nobody holds that role (no rotation, or a rotation of one).
    pub name: Option<String>,
    pub email: Option<String>,
}

impl Paged {
    pub fn new(role: &str, who: Option<&Person>) -> Self {
        Self { role: role.to_owned(), name: who.map(|p| p.name.clone()), email: who.map(|p| p.email.clone()) }
    }

    /// "primary on call Bob" or "primary on call (nobody: no rotation covers it)".
    pub fn describe(&self) -> String {
        let role = if self.role == "manager" {
            "manager on call".to_owned()
        } else {
            format!("{} on call", self.role)
        };
        match &self.name {
            Some(name) => format!("{role} {name}"),
            None => format!("{role} (nobody: no rotation covers it)"),
        }
    }
}

/// Everything a message about one event is made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// [`EventKind::as_str`].
    pub event: String,
    /// When it happened, RFC 3339.
    pub at: String,
    pub incident: IncidentFacts,
    /// Who did it (`alice@example.com`, `system`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paged: Option<Paged>,
    /// Previous status or severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// New status or severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// A public update's text (Markdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The status a public update announces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_status: Option<String>,
    /// The missed response deadline, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respond_by: Option<String>,
}

impl Facts {
    /// The facts of `kind` happening to `incident` now.
    pub fn of(incident: &Incident, kind: EventKind, actor: Option<&str>) -> Self {
        Self {
            event: kind.as_str().to_owned(),
            at: crate::clock::iso(OffsetDateTime::now_utc()),
            incident: IncidentFacts {
                number: incident.number.get(),
                reference: incident.number.to_string(),
                title: incident.title.clone(),
                severity: incident.severity.as_str().to_owned(),
                status: incident.status.as_str().to_owned(),
                commander: incident.commander.as_ref().map(|c| c.display_name.clone()),
                private: incident.private,
                started_at: crate::clock::iso(incident.started_at),
            },
            actor: actor.map(str::to_owned),
            paged: None,
            from: None,
            to: None,
            body: None,
            public_status: None,
            respond_by: None,
        }
    }

    pub fn kind(&self) -> Option<EventKind> {
        EventKind::parse(&self.event)
    }

    pub fn severity(&self) -> Option<Severity> {
        self.incident.severity.parse().ok()
    }

    /// One line saying what happened, without the incident's own fields.
    pub fn headline(&self) -> String {
        let by =
            self.actor.as_deref().filter(|a| *a != "system").map(|a| format!(" by {a}")).unwrap_or_default();
        let paged = self.paged.as_ref().map(Paged::describe).unwrap_or_default();
        let from_to =
            format!("{} → {}", self.from.as_deref().unwrap_or("?"), self.to.as_deref().unwrap_or("?"));
        match self.kind() {
            Some(EventKind::Declared) => format!("Declared{by}. Paged the {paged}."),
            Some(EventKind::Acknowledged) => format!("Acknowledged{by}: the paging chain stops."),
            Some(EventKind::StatusChanged) => format!("Status {from_to}{by}."),
            Some(EventKind::SeverityChanged) => format!("Severity {from_to}{by}; deadlines recomputed."),
            Some(EventKind::PublicUpdate) => format!(
                "Public update ({}){by}.",
                self.public_status.as_deref().unwrap_or(self.incident.status.as_str())
            ),
            Some(EventKind::Escalated) => match self.paged.as_ref().map(|p| p.role.as_str()) {
                Some("secondary") => format!("Not acknowledged after 15 minutes: paged the {paged}."),
                _ => format!("Escalated to the {paged}."),
            },
            Some(EventKind::SlaBreached) => format!(
                "Missed its response target: not acknowledged by {}.",
                self.respond_by.as_deref().unwrap_or("the deadline")
            ),
            Some(EventKind::Resolved) => format!("Resolved{by}."),
            Some(EventKind::Reopened) => {
                format!("Reopened{by}: the incident is {} again.", self.incident.status)
            }
            None => format!("{}{by}.", self.event.replace('_', " ")),
        }
    }
}
