//! Written reasons and the manager overrides of the maintenance rules.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::role::Role;

/// The least role that may override a maintenance rule (short notice, unticked checklist).
pub const OVERRIDE_ROLE: Role = Role::Manager;

/// A written reason (for an override or for accepting an overlap): trimmed, 1 to
/// [`Reason::MAX_CHARS`] characters, recorded on the window and in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reason(String);

/// Why a reason was refused; the message is shown beside the form field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    /// Nothing left after trimming.
    #[error("the reason is empty: write why, it is recorded with the decision")]
    Empty,
    /// More than [`Reason::MAX_CHARS`] characters after trimming.
    #[error("the reason is {chars} characters long; the limit is {max}", max = Reason::MAX_CHARS)]
    TooLong {
        /// Its length in characters (Unicode scalar values).
        chars: usize,
    },
}

impl Reason {
    /// The longest reason, in characters (Unicode scalar values).
    pub const MAX_CHARS: usize = 2_000;

    /// Validates and trims `input`.
    pub fn parse(input: &str) -> Result<Reason, ReasonError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ReasonError::Empty);
        }
        let chars = trimmed.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(ReasonError::TooLong { chars });
        }
        Ok(Reason(trimmed.to_owned()))
    }

    /// The reason text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Reason {
    type Error = ReasonError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Reason::parse(&value)
    }
}

impl From<Reason> for String {
    fn from(reason: Reason) -> Self {
        reason.0
    }
}

/// Which maintenance rule an override sets aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverrideKind {
    /// Scheduling with less than 48 hours' notice.
    ShortNotice,
    /// Starting before every checklist item is ticked.
    UntickedChecklist,
    /// Moving a scheduled window's start earlier, to less than 48 hours after its announcement.
    EarlierStart,
}

impl OverrideKind {
    /// The snake_case name stored in the audit log (`"short_notice"`…).
    pub const fn as_str(self) -> &'static str {
        match self {
            OverrideKind::ShortNotice => "short_notice",
            OverrideKind::UntickedChecklist => "unticked_checklist",
            OverrideKind::EarlierStart => "earlier_start",
        }
    }

    /// What the override lets someone do, for messages.
    const fn action(self) -> &'static str {
        match self {
            OverrideKind::ShortNotice => "schedule a window with less than 48 hours' notice",
            OverrideKind::UntickedChecklist => "start a window before every checklist item is ticked",
            OverrideKind::EarlierStart => {
                "move a window's start to less than 48 hours after its announcement"
            }
        }
    }
}

/// Someone asking to override a rule: their role and the reason they wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverrideRequest<'a> {
    /// The role of the user asking.
    pub role: Role,
    /// The reason as typed in the form (validated as a [`Reason`]).
    pub reason: &'a str,
}

/// Why an override was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    /// The user's role is below [`OVERRIDE_ROLE`].
    #[error("only a manager or an admin can {} (your role is {role})", .kind.action())]
    RoleTooLow {
        /// The rule being overridden.
        kind: OverrideKind,
        /// The role of the user who asked.
        role: Role,
    },
    /// The reason is empty or too long.
    #[error(transparent)]
    Reason(#[from] ReasonError),
    /// The rule is already met, so there is nothing to override.
    #[error("no override is needed: {detail}")]
    NotNeeded {
        /// Why the rule is already met.
        detail: &'static str,
    },
    /// The rule cannot be set aside by anyone, e.g. a start before the announcement.
    #[error("this cannot be overridden: {detail}")]
    NotOverridable {
        /// What makes it impossible.
        detail: &'static str,
    },
}

/// Checks that `request` may override the rule `kind`: a manager or above, with a
/// non-empty reason. Returns the reason to record.
pub fn authorize_override(kind: OverrideKind, request: OverrideRequest<'_>) -> Result<Reason, OverrideError> {
    if !request.role.allows(OVERRIDE_ROLE) {
        return Err(OverrideError::RoleTooLow { kind, role: request.role });
    }
    Ok(Reason::parse(request.reason)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managers_and_admins_may_override_with_a_reason() {
        for role in [Role::Manager, Role::Admin] {
            let got = authorize_override(
                OverrideKind::ShortNotice,
                OverrideRequest { role, reason: "  security patch, CVE under active exploit \n" },
            );
            assert_eq!(got.map(String::from), Ok("security patch, CVE under active exploit".to_owned()));
        }
    }

    #[test]
    fn commanders_and_below_may_not_override_whatever_their_reason() {
        for role in [Role::Viewer, Role::Responder, Role::Commander] {
            let err = authorize_override(
                OverrideKind::UntickedChecklist,
                OverrideRequest { role, reason: "urgent" },
            )
            .expect_err("role too low");
            assert_eq!(err, OverrideError::RoleTooLow { kind: OverrideKind::UntickedChecklist, role });
        }
        let err = authorize_override(
            OverrideKind::ShortNotice,
            OverrideRequest { role: Role::Commander, reason: "urgent" },
        )
        .expect_err("role too low");
        assert_eq!(
            err.to_string(),
            "only a manager or an admin can schedule a window with less than 48 hours' notice \
             (your role is commander)"
        );
    }

    #[test]
    fn an_override_without_a_written_reason_is_refused() {
        let err = authorize_override(
            OverrideKind::ShortNotice,
            OverrideRequest { role: Role::Admin, reason: " \t\n" },
        )
        .expect_err("empty reason");
        assert_eq!(err, OverrideError::Reason(ReasonError::Empty));
        assert_eq!(err.to_string(), "the reason is empty: write why, it is recorded with the decision");
        let long = "x".repeat(Reason::MAX_CHARS + 1);
        assert_eq!(Reason::parse(&long), Err(ReasonError::TooLong { chars: Reason::MAX_CHARS + 1 }));
        assert!(Reason::parse(&"é".repeat(Reason::MAX_CHARS)).is_ok(), "the limit counts characters");
    }

    #[test]
    fn reasons_serialize_as_their_text_and_refuse_empty_json() {
        let reason = Reason::parse("disk failing").expect("valid");
        assert_eq!(serde_json::to_string(&reason).expect("serializable"), "\"disk failing\"");
        assert!(serde_json::from_str::<Reason>("\"  \"").is_err());
        assert_eq!(OverrideKind::UntickedChecklist.as_str(), "unticked_checklist");
    }
}
