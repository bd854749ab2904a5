//! Checks of the names and values runbook actions send to Kubernetes, PostgreSQL and Prometheus.
//!
//! Each check returns the sentence shown beside the field, naming the rule and the fix.

use std::cmp::Ordering;
use std::fmt;

/// A Kubernetes DNS-1123 label (Services, containers): 1–63 lowercase letters, digits and
/// `-`, starting and ending with a letter or digit.
pub fn dns1123_label(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("is empty: give the Kubernetes object's name".into());
    }
    if value.len() > 63 {
        return Err(format!("is {} characters long; a Kubernetes name here has at most 63", value.len()));
    }
    label_chars(value)
}

/// A Kubernetes DNS-1123 subdomain (Deployments, ConfigMaps, Secrets): at most 253
/// characters of dot-separated DNS-1123 labels.
pub fn dns1123_subdomain(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("is empty: give the Kubernetes object's name".into());
    }
    if value.len() > 253 {
        return Err(format!("is {} characters long; a Kubernetes name has at most 253", value.len()));
    }
    value.split('.').try_for_each(label_chars)
}

fn label_chars(label: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if let Some(bad) = label.chars().find(|c| !ok_char(*c)) {
        return Err(format!(
            "{label:?} contains {bad:?}: Kubernetes names use lowercase letters, digits and '-' only"
        ));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(label.chars().next()) || !alnum(label.chars().last()) {
        return Err(format!("{label:?} must start and end with a lowercase letter or digit"));
    }
    Ok(())
}

/// The name of one of the portal's probed services (`health_services.name`):
/// `[a-z0-9][a-z0-9._-]{0,62}`.
pub fn service_name(value: &str) -> Result<(), String> {
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if first_ok && rest_ok && value.len() <= 63 {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not a probed service's name: 1 to 63 lowercase letters, digits, '.', '_' or '-', \
             starting with a letter or digit"
        ))
    }
}

/// An environment variable name as the runbooks use them: `[A-Za-z_][A-Za-z0-9_]*`, at
/// most 256 characters.
pub fn env_name(value: &str) -> Result<(), String> {
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !(first_ok && rest_ok) {
        return Err(format!(
            "{value:?} is not a valid variable name: use letters, digits and '_', not starting with a digit \
             (no spaces)"
        ));
    }
    if value.len() > 256 {
        return Err(format!("is {} characters long; the limit is 256", value.len()));
    }
    Ok(())
}

/// Whether an environment variable's name says it holds a credential, whose value must live
/// in a Secret rather than in a runbook, a form or the timeline.
pub fn looks_like_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "CREDENTIAL",
        "PRIVATE_KEY",
        "API_KEY",
        "DATABASE_URL",
        "REDIS_URL",
    ]
    .iter()
    .any(|word| upper.contains(word))
}

/// A PostgreSQL table name, optionally schema-qualified (`agents`, `public.agents`): each
/// part `[A-Za-z_][A-Za-z0-9_]*` of at most 63 bytes.
pub fn sql_table(value: &str) -> Result<(), String> {
    let parts: Vec<&str> = value.split('.').collect();
    if parts.len() > 2 {
        return Err(format!("{value:?} has more than one '.': write table or schema.table"));
    }
    for part in parts {
        let mut chars = part.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !(first_ok && rest_ok) {
            return Err(format!(
                "{value:?} is not a table name: letters, digits and '_', not starting with a digit, \
                 optionally schema.table"
            ));
        }
        if part.len() > 63 {
            return Err(format!("{part:?} is longer than PostgreSQL's 63-byte identifier limit"));
        }
    }
    Ok(())
}

/// An annotation key: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters of letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit.
pub fn annotation_key(value: &str) -> Result<(), String> {
    let (prefix, name) = match value.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, value),
    };
    if let Some(prefix) = prefix {
        dns1123_subdomain(prefix).map_err(|e| format!("prefix {prefix:?} {e}"))?;
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let chars_ok = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty()
        || name.len() > 63
        || !chars_ok
        || !alnum(name.chars().next())
        || !alnum(name.chars().last())
    {
        return Err(format!(
            "{value:?} is not an annotation key: up to 63 letters, digits, '-', '_' or '.', starting and \
             ending with a letter or digit, optionally after a prefix such as example.com/"
        ));
    }
    Ok(())
}

/// A key of a Secret's or ConfigMap's data: `[-._a-zA-Z0-9]+`, at most 253 characters.
pub fn data_key(value: &str) -> Result<(), String> {
    let chars_ok = value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if value.is_empty() || value.len() > 253 || !chars_ok {
        return Err(format!("{value:?} is not a data key: 1 to 253 letters, digits, '-', '_' or '.'"));
    }
    Ok(())
}

/// A container image reference (`twisterlab-api:v2.0`, `registry.local/team/api@sha256:…`):
/// at most 512 characters of letters, digits and `._-/:@`, starting with a letter or digit.
pub fn image(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("is empty: give an image such as twisterlab-api:v2.0".into());
    }
    if value.len() > 512 {
        return Err(format!("is {} characters long; the limit is 512", value.len()));
    }
    let first_ok = value.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let chars_ok =
        value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@'));
    if !first_ok || !chars_ok {
        return Err(format!(
            "{value:?} is not an image reference: letters, digits and . _ - / : @ only, such as \
             twisterlab-api:v2.0"
        ));
    }
    Ok(())
}

/// Free text sent as a value (a filter, an annotation or variable value, a PromQL expression):
/// not blank, at most `max` characters, no control characters other than newline and tab.
pub fn text(value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("is empty".into());
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(format!("is {chars} characters long; the limit is {max}"));
    }
    if let Some(found) = value.chars().find(|c| c.is_control() && !matches!(c, '\n' | '\t')) {
        return Err(format!("contains an invisible control character (U+{:04X})", u32::from(found)));
    }
    Ok(())
}

/// An integer between `min` and `max` inclusive, with its unit for the message.
pub fn range(value: i64, min: i64, max: i64, unit: &str) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("must be between {min} and {max} {unit}, got {value}"))
    }
}

/// What a resource quantity measures; memory refuses the milli suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// CPU cores: `500m`, `1`, `2.5`.
    Cpu,
    /// Bytes: `512Mi`, `2Gi`, `1G`.
    Memory,
}

/// A Kubernetes resource quantity (`500m`, `2Gi`), kept as written and as an exact amount
/// for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    text: String,
    /// The amount in billionths of the unit (nanocores, nanobytes), rounded up.
    nanos: u128,
}

impl Quantity {
    /// Parses `value` as a non-negative quantity of `resource`.
    ///
    /// Grammar (Kubernetes' `resource.Quantity`): digits with an optional fraction, then one of
    /// the binary suffixes `Ki Mi Gi Ti Pi Ei`, the decimal suffixes `n u m k M G T P E`, an
    /// exponent `e3`/`E-2`, or nothing. Memory refuses `m`, `u` and `n` (fractions of a
    /// byte are always a typo for `Mi`), and zero is refused for both.
    pub fn parse(value: &str, resource: Resource) -> Result<Quantity, String> {
        let example = match resource {
            Resource::Cpu => "500m or 2",
            Resource::Memory => "512Mi or 2Gi",
        };
        let malformed = || format!("{value:?} is not a Kubernetes quantity: write it like {example}");
        let number_len = value.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(value.len());
        let (number, suffix) = value.split_at(number_len);
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
            return Err(malformed());
        }
        let digits = format!("{int_part}{frac_part}");
        if digits.len() > 18 {
            return Err(malformed());
        }
        let mantissa: u128 = digits.parse().map_err(|_| malformed())?;
        let (binary_power, decimal_exp): (u32, i32) = match suffix {
            "Ki" => (10, 0),
            "Mi" => (20, 0),
            "Gi" => (30, 0),
            "Ti" => (40, 0),
            "Pi" => (50, 0),
            "Ei" => (60, 0),
            "n" | "u" | "m" if resource == Resource::Memory => {
                return Err(format!(
                    "{value:?} is a fraction of a byte ('{suffix}' means thousandths or less): \
                     for memory write Mi or Gi, like {example}"
                ));
            }
            "n" => (0, -9),
            "u" => (0, -6),
            "m" => (0, -3),
            "" => (0, 0),
            "k" => (0, 3),
            "M" => (0, 6),
            "G" => (0, 9),
            "T" => (0, 12),
            "P" => (0, 15),
            "E" => (0, 18),
            other => {
                let exp = other.strip_prefix(['e', 'E']).ok_or_else(malformed)?;
                let exp: i32 = exp.parse().map_err(|_| malformed())?;
                if exp.abs() > 18 {
                    return Err(malformed());
                }
                (0, exp)
            }
        };
        // Scale to nano-units: mantissa * 2^binary * 10^(9 + exp - fraction digits), rounded up.
        let frac_digits = i32::try_from(frac_part.len()).map_err(|_| malformed())?;
        let power = 9 + decimal_exp - frac_digits;
        let scaled = mantissa.checked_mul(1u128 << binary_power).ok_or_else(malformed)?;
        let nanos = if power >= 0 {
            scaled.checked_mul(10u128.pow(power.unsigned_abs())).ok_or_else(malformed)?
        } else {
            scaled.div_ceil(10u128.pow(power.unsigned_abs()))
        };
        if nanos == 0 {
            return Err(format!("{value:?} is zero: give an amount such as {example}"));
        }
        Ok(Quantity { text: value.to_owned(), nanos })
    }

    /// The quantity as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    /// Orders by amount (`1Gi` > `1000Mi` > `1G`); equal amounts by their text.
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos).then_with(|| self.text.cmp(&other.text))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Whether `text` contains a URL carrying a password (`scheme://user:password@host`), which
/// must never be written into a runbook: placeholders such as `<password>` are fine.
pub fn contains_url_credentials(text: &str) -> bool {
    text.match_indices("://").any(|(at, _)| {
        let rest = &text[at + 3..];
        let authority_end = rest.find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"');
        let authority = &rest[..authority_end.unwrap_or(rest.len())];
        let Some((userinfo, _host)) = authority.rsplit_once('@') else {
            return false;
        };
        let Some((_user, password)) = userinfo.split_once(':') else {
            return false;
        };
        let placeholder = password.starts_with('<') && password.ends_with('>');
        !password.is_empty() && !placeholder && !password.starts_with('$')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_names_are_lowercase_dns_labels() {
        for good in ["twisterlab-api", "postgres", "a", "mcp-unified", "x1"] {
            assert_eq!(dns1123_label(good), Ok(()), "{good}");
            assert_eq!(dns1123_subdomain(good), Ok(()), "{good}");
        }
        assert_eq!(dns1123_subdomain("api.v2"), Ok(()));
        for bad in ["", "Twisterlab", "api_", "-api", "api-", "api server", "api.v2", &"a".repeat(64)] {
            assert!(dns1123_label(bad).is_err(), "{bad:?}");
        }
        assert!(dns1123_subdomain("a..b").is_err());
        assert!(dns1123_subdomain(&"a".repeat(254)).is_err());
        assert_eq!(
            dns1123_label("Api").expect_err("uppercase"),
            "\"Api\" contains 'A': Kubernetes names use lowercase letters, digits and '-' only"
        );
    }

    #[test]
    fn environment_variable_names_refuse_spaces_and_leading_digits() {
        for good in ["API_URL", "MCP_MODE", "_x", "a1"] {
            assert_eq!(env_name(good), Ok(()), "{good}");
        }
        for bad in ["", "API URL", "1API", "API-URL", "API=URL", "ÉTÉ"] {
            assert!(env_name(bad).is_err(), "{bad:?}");
        }
        assert!(env_name("MY VAR").expect_err("space").contains("no spaces"));
    }

    #[test]
    fn credential_variable_names_are_recognised() {
        for name in ["DB_PASSWORD", "api_token", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL", "OPENAI_API_KEY"] {
            assert!(looks_like_secret_name(name), "{name}");
        }
        for name in ["API_URL", "MCP_MODE", "LOG_LEVEL"] {
            assert!(!looks_like_secret_name(name), "{name}");
        }
    }

    #[test]
    fn table_names_are_identifiers_optionally_schema_qualified() {
        for good in ["agents", "public.agents", "_t1", "Agents"] {
            assert_eq!(sql_table(good), Ok(()), "{good}");
        }
        for bad in
            ["", "agents; drop table users", "1agents", "a.b.c", "\"agents\"", "agents ", &"a".repeat(64)]
        {
            assert!(sql_table(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn annotation_keys_allow_a_dns_prefix() {
        for good in ["maintenance", "twisterlab.local/maintenance", "a.b_c-d"] {
            assert_eq!(annotation_key(good), Ok(()), "{good}");
        }
        for bad in ["", "/x", "Bad Prefix/x", "x/", "-x", "a b"] {
            assert!(annotation_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn images_are_references_without_spaces() {
        assert_eq!(image("twisterlab-api:v2.0"), Ok(()));
        assert_eq!(image("registry.local:5000/team/api@sha256:abc"), Ok(()));
        for bad in ["", "api v2", "-api", ":v2", "api;rm"] {
            assert!(image(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn quantities_follow_the_kubernetes_grammar() {
        for good in ["500m", "1", "2", "0.5", "2.5", "1e3"] {
            assert!(Quantity::parse(good, Resource::Cpu).is_ok(), "cpu {good}");
        }
        for good in ["2Gi", "1Gi", "512Mi", "1G", "1000000", "1.5Gi", "1e9"] {
            assert!(Quantity::parse(good, Resource::Memory).is_ok(), "memory {good}");
        }
        for bad in ["", "2Gx", "Gi", "-1Gi", "2 Gi", "1.2.3", "2gi", "1e", "1e99", " 2Gi"] {
            assert!(Quantity::parse(bad, Resource::Memory).is_err(), "memory {bad:?}");
        }
        assert_eq!(
            Quantity::parse("2Gx", Resource::Memory).expect_err("typo"),
            "\"2Gx\" is not a Kubernetes quantity: write it like 512Mi or 2Gi"
        );
    }

    #[test]
    fn memory_in_thousandths_of_a_byte_is_refused_as_a_typo() {
        let err = Quantity::parse("500m", Resource::Memory).expect_err("millibytes");
        assert!(err.contains("fraction of a byte"), "{err}");
        assert!(Quantity::parse("500m", Resource::Cpu).is_ok());
    }

    #[test]
    fn zero_quantities_are_refused() {
        assert!(Quantity::parse("0", Resource::Cpu).is_err());
        assert!(Quantity::parse("0Gi", Resource::Memory).is_err());
    }

    #[test]
    fn quantities_compare_by_amount() {
        let q = |s| Quantity::parse(s, Resource::Memory).expect("valid");
        assert!(q("2Gi") > q("1Gi"));
        assert!(q("1Gi") > q("1000Mi"));
        assert!(q("1000Mi") > q("1G"));
        assert!(q("1G") > q("999M"));
        assert_eq!(q("1Gi").cmp(&q("1024Mi")), q("1Gi").text.cmp(&q("1024Mi").text));
        let c = |s| Quantity::parse(s, Resource::Cpu).expect("valid");
        assert!(c("1") > c("500m"));
        assert!(c("1.5") > c("1499m"));
        assert_eq!(c("2").nanos, c("2000m").nanos);
    }

    #[test]
    fn integers_outside_their_range_name_the_bounds() {
        assert_eq!(range(5, 0, 1000, "replicas"), Ok(()));
        assert_eq!(range(-1, 0, 1000, "replicas"), Err("must be between 0 and 1000 replicas, got -1".into()));
        assert!(range(10_000, 0, 1000, "replicas").is_err());
    }

    #[test]
    fn urls_with_passwords_are_found_and_placeholders_are_not() {
        assert!(contains_url_credentials(
            "DATABASE_URL='postgresql+asyncpg://user:pass@postgres:5432/twisterlab'"
        ));
        assert!(contains_url_credentials("redis://:hunter2@redis:6379"));
        assert!(!contains_url_credentials("postgresql+asyncpg://<user>:<password>@postgres:5432/twisterlab"));
        assert!(!contains_url_credentials("http://twisterlab-api:8000/health"));
        assert!(!contains_url_credentials("postgres://user@host/db"));
        assert!(!contains_url_credentials("postgres://user:$PASSWORD@host/db"));
    }
}
