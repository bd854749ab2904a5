//! What a notification says: the facts of one event (of the kinds in
//! `twisterlab_domain::notification`) frozen in the outbox row when it happens, rendered per
//! channel at delivery.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use twisterlab_domain::notification::EventKind;
use twisterlab_domain::severity::Severity;

use crate::db::incidents::Incident;
use crate::db::oncall::Person;

/// The event name of a test message.
pub(crate) const TEST_EVENT: &str = "test";

/// The incident as it stood when the event happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IncidentFacts {
    pub(crate) number: i64,
    /// `INC-57`.
    pub(crate) reference: String,
    pub(crate) title: String,
    pub(crate) severity: String,
    pub(crate) status: String,
    pub(crate) commander: Option<String>,
    pub(crate) private: bool,
    /// RFC 3339.
    pub(crate) started_at: String,
}

/// Someone the event paged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Paged {
    /// `primary`, `secondary` or `manager`.
    pub(crate) role: String,
    /// `None` when nobody holds that role (no rotation, or a rotation of one).
    pub(crate) name: Option<String>,
    pub(crate) email: Option<String>,
    /// The person's Slack member IDs: Slack messages of this page mention them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) slack: Vec<String>,
}

impl Paged {
    pub(crate) fn new(role: &str, who: Option<&Person>) -> Self {
        Self {
            role: role.to_owned(),
            name: who.map(|p| p.name.clone()),
            email: who.map(|p| p.email.clone()),
            slack: vec![],
        }
    }

    /// "primary on call Bob" or "primary on call (nobody: no rotation covers it)".
    pub(crate) fn describe(&self) -> String {
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
pub(crate) struct Facts {
    /// [`EventKind::as_str`].
    pub(crate) event: String,
    /// When it happened, RFC 3339.
    pub(crate) at: String,
    pub(crate) incident: IncidentFacts,
    /// Who did it (`alice@example.com`, `system`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) paged: Option<Paged>,
    /// Previous status or severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) from: Option<String>,
    /// New status or severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) to: Option<String>,
    /// A public update's text (Markdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) body: Option<String>,
    /// The status a public update announces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) public_status: Option<String>,
    /// The missed response deadline, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) respond_by: Option<String>,
}

impl Facts {
    /// The facts of `kind` happening to `incident` now.
    pub(crate) fn of(incident: &Incident, kind: EventKind, actor: Option<&str>) -> Self {
        Self {
            event: kind.as_str().to_owned(),
            at: crate::clock::iso(Timestamp::now()),
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

    /// The facts of a test message ("Send a test") sent by `actor`: no incident behind it.
    pub(crate) fn test(actor: &str) -> Self {
        let now = crate::clock::iso(Timestamp::now());
        Self {
            event: TEST_EVENT.to_owned(),
            at: now.clone(),
            incident: IncidentFacts {
                number: 0,
                reference: "TEST".into(),
                title: "Test message from the TwisterLab Ops Portal".into(),
                severity: "P3".into(),
                status: "test".into(),
                commander: None,
                private: true,
                started_at: now,
            },
            actor: Some(actor.to_owned()),
            paged: None,
            from: None,
            to: None,
            body: None,
            public_status: None,
            respond_by: None,
        }
    }

    /// Whether these are the facts of a test message.
    pub(crate) fn is_test(&self) -> bool {
        self.event == TEST_EVENT
    }

    pub(crate) fn kind(&self) -> Option<EventKind> {
        EventKind::parse(&self.event)
    }

    pub(crate) fn severity(&self) -> Option<Severity> {
        self.incident.severity.parse().ok()
    }

    /// One line saying what happened, without the incident's own fields.
    pub(crate) fn headline(&self) -> String {
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
            None if self.is_test() => {
                format!("A test message{by}: this destination reaches its receiver. There is no incident.")
            }
            None => format!("{}{by}.", self.event.replace('_', " ")),
        }
    }
}
