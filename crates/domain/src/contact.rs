//! A person's own contact methods: how a page reaches them besides the shared channels. The
//! kinds and the checks of what a person types (a Slack member ID, a PagerDuty routing key, an
//! e-mail address; URLs are checked where the HTTP client lives).

/// How a contact method reaches its person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContactKind {
    /// A Slack member ID: mentioned in the Slack channel messages of their pages (and sent a
    /// direct message when the portal has a Slack bot token).
    Slack,
    /// The person's own signed webhook.
    Webhook,
    /// A PagerDuty Events API v2 routing key of the person's own service.
    Pagerduty,
    /// An e-mail address.
    Email,
}

impl ContactKind {
    pub const ALL: [ContactKind; 4] =
        [ContactKind::Slack, ContactKind::Webhook, ContactKind::Pagerduty, ContactKind::Email];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Webhook => "webhook",
            Self::Pagerduty => "pagerduty",
            Self::Email => "email",
        }
    }

    /// How pages name it ("Maya's PagerDuty").
    pub const fn label(self) -> &'static str {
        match self {
            Self::Slack => "Slack",
            Self::Webhook => "webhook",
            Self::Pagerduty => "PagerDuty",
            Self::Email => "e-mail",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A Slack member ID as Slack shows it (`U024BE7LH`, `W012A3CDE`): `^[UW][A-Z0-9]{2,20}$`.
pub fn is_slack_member_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('U' | 'W'))
        && (3..=21).contains(&s.len())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// A PagerDuty Events API v2 routing (integration) key: 32 ASCII letters or digits.
pub fn is_routing_key(s: &str) -> bool {
    s.len() == 32 && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Longest e-mail address (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;

/// A plain e-mail address: one `@`, a local part of allowed characters, a domain of dot-separated
/// labels with at least one dot; no spaces, quotes, comments or display names.
pub fn is_email(s: &str) -> bool {
    if s.len() > MAX_EMAIL {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else { return false };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_member_ids_are_u_or_w_then_2_to_20_capitals_or_digits() {
        for ok in ["U024BE7LH", "W012A3CDE", "U12", "UABCDEFGHIJKLMNOPQRST"] {
            assert!(is_slack_member_id(ok), "{ok}");
        }
        for bad in [
            "",
            "U1",
            "u024BE7LH",
            "C024BE7LH",
            "U024be7lh",
            "U024BE7LH ",
            "<@U024BE7LH>",
            "UABCDEFGHIJKLMNOPQRSTU",
        ] {
            assert!(!is_slack_member_id(bad), "{bad}");
        }
    }

    #[test]
    fn routing_keys_are_32_letters_or_digits() {
        assert!(is_routing_key("R0UTINGKEY0123456789abcdefABCDEF"));
        assert!(!is_routing_key("R0UTINGKEY0123456789abcdefABCDE"));
        assert!(!is_routing_key("R0UTINGKEY0123456789abcdefABCDE-"));
    }

    #[test]
    fn e_mail_addresses_need_a_local_part_and_a_dotted_domain() {
        for ok in ["maya@example.com", "m.o+pager@ops.example.co.uk"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "",
            "maya",
            "maya@",
            "@example.com",
            "maya@example",
            "maya@@example.com",
            "ma ya@example.com",
            "Maya <maya@example.com>",
            ".maya@example.com",
            "maya@-example.com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in ContactKind::ALL {
            assert_eq!(ContactKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ContactKind::parse("sms"), None);
    }
}
