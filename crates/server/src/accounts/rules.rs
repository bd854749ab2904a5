//! The pure rules of accounts: what a valid e-mail, name, user edit, password change and API
//! token request look like. No I/O; the use cases in `service` and the pages share them, so
//! the command line reports the same messages as the forms.

use twisterlab_domain::role::Role;

use crate::auth::{password, token};
use crate::validation::{FieldError, FieldErrors};

/// Longest e-mail address accepted (RFC 5321's path limit).
pub(crate) const MAX_EMAIL: usize = 254;
/// Longest display name accepted, in characters.
pub(crate) const MAX_NAME: usize = 100;
/// Longest token name, in characters.
pub(crate) const MAX_TOKEN_NAME: usize = 60;
/// Longest token lifetime, in days.
pub(crate) const MAX_TOKEN_DAYS: u32 = 365;
/// Characters of the secret (after `tlp_`) kept to tell tokens apart.
pub(crate) const TOKEN_PREFIX_CHARS: usize = 8;

/// A trimmed, plausible e-mail address, or why not.
pub(crate) fn validate_email(raw: &str) -> Result<String, String> {
    let email = raw.trim();
    if email.is_empty() {
        return Err("Enter an e-mail address.".into());
    }
    if email.chars().count() > MAX_EMAIL {
        return Err(format!("Use at most {MAX_EMAIL} characters."));
    }
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ',' | ';'))
        }
        None => false,
    };
    if valid { Ok(email.to_owned()) } else { Err("Enter an address like name@example.com.".into()) }
}

/// A trimmed display name, or why not.
pub(crate) fn validate_display_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("Enter a name.".into());
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!("Use at most {MAX_NAME} characters."));
    }
    if name.chars().any(char::is_control) {
        return Err("Remove the control characters.".into());
    }
    Ok(name.to_owned())
}

/// A role chosen in a form's `role` select.
pub(crate) fn role_field(raw: &str) -> Result<Role, FieldError> {
    raw.parse::<Role>().map_err(|_| FieldError::new("role", "Choose one of the listed roles."))
}

/// What an admin may change about a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UserEdit {
    pub display_name: String,
    pub role: Role,
    /// `false`: the user cannot sign in and their sessions end.
    pub active: bool,
}

/// Checks the admin's edit form (`display_name`, `role`, `state` = "active" or "deactivated");
/// every bad field is reported at once.
pub(crate) fn user_edit(display_name: &str, role: &str, state: &str) -> Result<UserEdit, Vec<FieldError>> {
    let mut errors = FieldErrors::new();
    let name = validate_display_name(display_name).map_err(|m| errors.push("display_name", m)).ok();
    let role = role_field(role).map_err(|e| errors.extend([e])).ok();
    let active = match state {
        "active" => Some(true),
        "deactivated" => Some(false),
        _ => {
            errors.push("state", "Choose active or deactivated.");
            None
        }
    };
    match (name, role, active) {
        (Some(display_name), Some(role), Some(active)) => Ok(UserEdit { display_name, role, active }),
        _ => Err(errors.into_vec()),
    }
}

/// The fields of the "change your password" form that can be checked without the database:
/// the new password's strength, that it differs from the current one, its confirmation, and
/// that the current one was typed at all.
pub(crate) fn password_change_errors(current: &str, new: &str, confirm: &str, email: &str) -> FieldErrors {
    let mut errors = FieldErrors::new();
    if let Err(m) = password::check_new_password(new, email) {
        errors.push("new_password", m);
    } else if new == current {
        errors.push("new_password", "Choose a password different from your current one.");
    }
    if confirm != new {
        errors
            .push("confirm_password", "This does not match the new password; type the same password twice.");
    }
    if current.is_empty() {
        errors.push("current_password", "Enter your current password.");
    }
    errors
}

/// A token request that follows the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenDraft {
    pub name: String,
    pub role: Role,
    /// Lifetime in days; `None` never expires.
    pub expires_days: Option<u32>,
}

/// Checks a token request from its raw fields (`name`, `role`, `expires_days`) against the
/// owner's role. Errors name the form fields.
pub(crate) fn token_draft(
    name: &str,
    role: &str,
    expires_days: &str,
    owner_role: Role,
) -> Result<TokenDraft, Vec<FieldError>> {
    let mut errors = FieldErrors::new();
    let name = validate_token_name(name).map_err(|m| errors.push("name", m)).ok();
    let role = validate_token_role(role, owner_role).map_err(|m| errors.push("role", m)).ok();
    let days = validate_expiry_days(expires_days).map_err(|m| errors.push("expires_days", m)).ok();
    match (name, role, days) {
        (Some(name), Some(role), Some(expires_days)) => Ok(TokenDraft { name, role, expires_days }),
        _ => Err(errors.into_vec()),
    }
}

/// A trimmed token name of 1 to 60 characters without control characters.
pub(crate) fn validate_token_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("Enter a name that says where the token is used, for example “alertmanager”.".into());
    }
    if name.chars().count() > MAX_TOKEN_NAME {
        return Err(format!("Use at most {MAX_TOKEN_NAME} characters."));
    }
    if name.chars().any(char::is_control) {
        return Err("Remove the control characters.".into());
    }
    Ok(name.to_owned())
}

/// A role no higher than the owner's.
pub(crate) fn validate_token_role(raw: &str, owner_role: Role) -> Result<Role, String> {
    if raw.trim().is_empty() {
        return Err("Choose a role.".into());
    }
    let role: Role =
        raw.parse().map_err(|_| "Use one of viewer, responder, commander, manager or admin.".to_owned())?;
    if !owner_role.allows(role) {
        return Err(format!(
            "A token cannot have a higher role than its owner ({owner_role}); choose {owner_role} or lower."
        ));
    }
    Ok(role)
}

/// Blank for a token that never expires, else a whole number of days from 1 to 365.
pub(crate) fn validate_expiry_days(raw: &str) -> Result<Option<u32>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match raw.parse::<u32>() {
        Ok(days) if (1..=MAX_TOKEN_DAYS).contains(&days) => Ok(Some(days)),
        _ => Err(format!(
            "Enter a whole number of days from 1 to {MAX_TOKEN_DAYS}, or leave it blank for no expiry."
        )),
    }
}

/// The displayed start of a token: the characters after `tlp_`.
pub(crate) fn token_prefix(secret: &str) -> String {
    secret.strip_prefix(token::API_TOKEN_PREFIX).unwrap_or(secret).chars().take(TOKEN_PREFIX_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_checked() {
        assert_eq!(validate_email("  Alice@Example.com "), Ok("Alice@Example.com".into()));
        for bad in ["", "alice", "@example.com", "alice@", "a b@example.com", "<script>@x.y", "a@b@c"] {
            assert!(validate_email(bad).is_err(), "{bad:?}");
        }
        assert!(validate_email(&format!("{}@example.com", "a".repeat(300))).is_err());
    }

    #[test]
    fn names_keep_what_was_typed_but_not_control_characters() {
        assert_eq!(
            validate_display_name("  <b>O'Brien</b> \"; drop table users; -- "),
            Ok("<b>O'Brien</b> \"; drop table users; --".into())
        );
        assert!(validate_display_name("bell\u{7}").is_err());
        assert!(validate_display_name(&"x".repeat(101)).is_err());
        assert!(validate_display_name("   ").is_err());
    }

    #[test]
    fn a_user_edit_reports_every_bad_field_at_once() {
        let errors = user_edit("   ", "root", "gone").expect_err("three errors");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["display_name", "role", "state"]);
        assert_eq!(
            user_edit(" Vera ", "manager", "deactivated"),
            Ok(UserEdit { display_name: "Vera".into(), role: Role::Manager, active: false })
        );
    }

    #[test]
    fn a_new_password_must_be_strong_new_and_typed_twice() {
        let strong = "Blue-Tractor-Under-7-Moons";
        assert!(password_change_errors("old password here", strong, strong, "a@example.com").is_empty());
        let same = password_change_errors(strong, strong, strong, "a@example.com");
        assert!(same.get("new_password").is_some_and(|m| m.contains("different")), "{same:?}");
        let errors = password_change_errors("", "short", "shorter", "a@example.com");
        assert!(
            errors.has("new_password") && errors.has("confirm_password") && errors.has("current_password")
        );
    }

    #[test]
    fn token_names_are_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(validate_token_name("  alertmanager "), Ok("alertmanager".into()));
        assert_eq!(validate_token_name("<b>ci</b> '; drop table x"), Ok("<b>ci</b> '; drop table x".into()));
        assert!(validate_token_name("   ").is_err());
        assert!(validate_token_name(&"x".repeat(61)).is_err());
        assert_eq!(validate_token_name(&"é".repeat(60)), Ok("é".repeat(60)));
        assert!(validate_token_name("tab\there").is_err());
    }

    #[test]
    fn a_token_role_may_not_exceed_the_owners() {
        assert_eq!(validate_token_role("viewer", Role::Commander), Ok(Role::Viewer));
        assert_eq!(validate_token_role("commander", Role::Commander), Ok(Role::Commander));
        let err = validate_token_role("admin", Role::Viewer).expect_err("too high");
        assert!(err.contains("viewer"), "{err}");
        assert!(validate_token_role("root", Role::Admin).is_err());
        assert!(validate_token_role("", Role::Admin).is_err());
    }

    #[test]
    fn expiry_is_blank_or_one_to_365_days() {
        assert_eq!(validate_expiry_days(""), Ok(None));
        assert_eq!(validate_expiry_days(" 30 "), Ok(Some(30)));
        assert_eq!(validate_expiry_days("365"), Ok(Some(365)));
        for bad in ["0", "366", "-1", "1.5", "soon", "99999999999"] {
            assert!(validate_expiry_days(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_token_draft_reports_every_bad_field_at_once() {
        let errors = token_draft("", "admin", "0", Role::Viewer).expect_err("three errors");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "role", "expires_days"]);
        assert_eq!(
            token_draft("ci", "viewer", "", Role::Viewer),
            Ok(TokenDraft { name: "ci".into(), role: Role::Viewer, expires_days: None })
        );
    }

    #[test]
    fn the_displayed_prefix_is_the_first_eight_characters_after_tlp() {
        assert_eq!(token_prefix("tlp_abcdefghijk"), "abcdefgh");
        let secret = token::new_api_token();
        assert_eq!(token_prefix(&secret), secret[4..12]);
    }
}
