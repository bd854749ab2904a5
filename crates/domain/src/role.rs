//! User roles and the single ordering every authorization check relies on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a signed-in user may do; each role includes every right of the roles below it.
///
/// The derived `Ord` follows the declaration order, so `Viewer < Responder < Commander <
/// Manager < Admin` and a check is a plain comparison (see [`Role::allows`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads internal pages, changes nothing.
    Viewer,
    /// On call: acknowledges, adds notes, follows runbook steps.
    Responder,
    /// Owns incidents: declares, changes severity, posts public updates, runs cluster actions.
    Commander,
    /// Reviews escalations and SLA breaches, approves overrides.
    Manager,
    /// Manages users, services, SLA policy, rotations and integrations.
    Admin,
}

impl Role {
    /// Every role, least privileged first.
    pub const ALL: [Role; 5] = [Role::Viewer, Role::Responder, Role::Commander, Role::Manager, Role::Admin];

    /// The lowercase name stored in the database and used in forms (`"viewer"`…).
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Commander => "commander",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    /// Whether a user holding `self` may do something that needs at least `required`.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {input:?}: expected one of viewer, responder, commander, manager, admin")]
pub struct ParseRoleError {
    /// The rejected input, as given.
    pub input: String,
}

impl FromStr for Role {
    type Err = ParseRoleError;

    /// Parses a role name, ignoring surrounding whitespace and ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Role::ALL
            .into_iter()
            .find(|role| role.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ParseRoleError { input: s.to_owned() })
    }
}

impl TryFrom<&str> for Role {
    type Error = ParseRoleError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        value.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_from_viewer_to_admin() {
        let mut sorted = Role::ALL;
        sorted.sort();
        assert_eq!(sorted, Role::ALL);
        assert!(Role::Viewer < Role::Responder);
        assert!(Role::Responder < Role::Commander);
        assert!(Role::Commander < Role::Manager);
        assert!(Role::Manager < Role::Admin);
    }

    #[test]
    fn a_role_allows_itself_and_everything_below_it_only() {
        for held in Role::ALL {
            for required in Role::ALL {
                assert_eq!(held.allows(required), held >= required, "{held} vs {required}");
            }
        }
        assert!(Role::Admin.allows(Role::Viewer));
        assert!(!Role::Responder.allows(Role::Commander));
    }

    #[test]
    fn every_role_round_trips_through_its_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(Role::try_from(role.to_string().as_str()), Ok(role));
        }
    }

    #[test]
    fn role_names_parse_regardless_of_case_and_padding() {
        assert_eq!(" Commander ".parse::<Role>(), Ok(Role::Commander));
        assert_eq!("ADMIN".parse::<Role>(), Ok(Role::Admin));
    }

    #[test]
    fn unknown_role_names_are_rejected_with_the_choices() {
        let err = "root".parse::<Role>().expect_err("root is not a role");
        assert_eq!(err.input, "root");
        assert!(err.to_string().contains("viewer, responder"));
        assert!("".parse::<Role>().is_err());
    }

    #[test]
    fn roles_serialize_as_lowercase_names() {
        let json = serde_json::to_string(&Role::Manager).expect("serializable");
        assert_eq!(json, "\"manager\"");
        let back: Role = serde_json::from_str("\"responder\"").expect("valid role");
        assert_eq!(back, Role::Responder);
    }
}
