//! Checks on every parameter the adapter sends, public so a form can show the same field
//! errors before it calls the cluster.
//!
//! Each check names the field it refused ([`FieldError::field`]) in the words a form uses,
//! and never echoes a value that could be long or sensitive (environment values).

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::quantity::{parse_cpu_millicores, parse_memory_bytes};

/// The most replicas a runbook step may ask for. A typo (`10000`) must not take a cluster's
/// capacity; a real need for more is a capacity change, not an incident step.
pub const MAX_REPLICAS: i32 = 1000;

/// The most log lines one [`crate::Cluster::tail_logs`] call returns.
pub const MAX_LOG_LINES: u32 = 1000;

/// The longest log line filter, in characters.
pub const MAX_LOG_FILTER_CHARS: usize = 200;

/// The longest environment variable value, in bytes (a runbook sets URLs and modes).
pub const MAX_ENV_VALUE_BYTES: usize = 32 * 1024;

/// The longest environment variable name, in characters.
pub const MAX_ENV_NAME_CHARS: usize = 253;

/// The longest [`crate::Cluster::wait_for_rollout`] wait.
pub const MAX_ROLLOUT_WAIT: Duration = Duration::from_secs(30 * 60);

/// The largest memory request or limit a step may set: 1 TiB, in bytes.
pub const MAX_MEMORY_BYTES: u64 = 1 << 40;

/// The largest CPU request or limit a step may set: 256 cores, in millicores.
pub const MAX_CPU_MILLICORES: u64 = 256_000;

/// A parameter refused before anything was sent, with the field it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field as a form names it: `replicas`, `deployment`, `container`, `env.name`,
    /// `resources.limits.memory`…
    pub field: &'static str,
    /// What is wrong and what is accepted, e.g. `must be between 0 and 1000, not 10000`.
    pub message: String,
}

impl FieldError {
    /// A refusal of `field` with `message`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// A replica count in `0..=MAX_REPLICAS`, as the scale subresource takes it.
///
/// # Errors
/// `replicas` is negative or above [`MAX_REPLICAS`].
pub fn validate_replicas(replicas: i64) -> Result<i32, FieldError> {
    i32::try_from(replicas).ok().filter(|r| (0..=MAX_REPLICAS).contains(r)).ok_or_else(|| {
        FieldError::new("replicas", format!("must be between 0 and {MAX_REPLICAS}, not {replicas}"))
    })
}

/// A replica count typed into a form (`"5"`).
///
/// # Errors
/// Not a whole number, or outside `0..=MAX_REPLICAS`.
pub fn parse_replicas(text: &str) -> Result<i32, FieldError> {
    let replicas: i64 = text.trim().parse().map_err(|_| {
        FieldError::new("replicas", format!("must be a whole number between 0 and {MAX_REPLICAS}"))
    })?;
    validate_replicas(replicas)
}

/// A Kubernetes object name (RFC 1123 subdomain: lowercase letters, digits, `-` and `.`,
/// starting and ending with a letter or digit, at most 253 characters) for `field`
/// (`deployment`, `pod`, `service`…).
///
/// # Errors
/// `name` is empty, too long or has other characters.
pub fn validate_object_name(field: &'static str, name: &str) -> Result<(), FieldError> {
    let valid_chars =
        name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if name.len() <= 253 && valid_chars && starts_and_ends_alphanumeric(name) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "{} is not a Kubernetes object name (lowercase letters, digits, '-' and '.', \
                 starting and ending with a letter or digit, at most 253 characters)",
                quoted(name)
            ),
        ))
    }
}

/// A container name (RFC 1123 label: lowercase letters, digits and `-`, starting and ending
/// with a letter or digit, at most 63 characters).
///
/// # Errors
/// `name` is empty, too long or has other characters.
pub fn validate_container_name(name: &str) -> Result<(), FieldError> {
    let valid_chars = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if name.len() <= 63 && valid_chars && starts_and_ends_alphanumeric(name) {
        Ok(())
    } else {
        Err(FieldError::new(
            "container",
            format!(
                "{} is not a container name (lowercase letters, digits and '-', starting and \
                 ending with a letter or digit, at most 63 characters)",
                quoted(name)
            ),
        ))
    }
}

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 253 characters.
///
/// # Errors
/// `name` is empty, too long, starts with a digit or has other characters (spaces, `=`, `-`).
pub fn validate_env_name(name: &str) -> Result<(), FieldError> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if first_ok && rest_ok && name.len() <= MAX_ENV_NAME_CHARS {
        Ok(())
    } else {
        Err(FieldError::new(
            "env.name",
            format!(
                "{} is not an environment variable name (letters, digits and '_', not starting \
                 with a digit, at most {MAX_ENV_NAME_CHARS} characters)",
                quoted(name)
            ),
        ))
    }
}

/// An environment variable value: at most [`MAX_ENV_VALUE_BYTES`], no NUL byte.
///
/// # Errors
/// Too long or containing a NUL byte. The value itself is never repeated in the message.
pub fn validate_env_value(value: &str) -> Result<(), FieldError> {
    if value.len() > MAX_ENV_VALUE_BYTES {
        return Err(FieldError::new(
            "env.value",
            format!("is {} bytes long; at most {MAX_ENV_VALUE_BYTES} are allowed", value.len()),
        ));
    }
    if value.contains('\0') {
        return Err(FieldError::new("env.value", "must not contain a NUL character"));
    }
    Ok(())
}

/// A CPU quantity for `field` (`resources.requests.cpu`…), e.g. `250m`, `1`, `1.5`; returns
/// it in millicores. Zero and more than [`MAX_CPU_MILLICORES`] are refused.
///
/// # Errors
/// Not a quantity, zero, or too large.
pub fn validate_cpu_quantity(field: &'static str, quantity: &str) -> Result<u64, FieldError> {
    let millicores = parse_cpu_millicores(quantity).ok_or_else(|| {
        FieldError::new(field, format!("{} is not a CPU quantity (e.g. 250m, 1, 1.5)", quoted(quantity)))
    })?;
    if millicores == 0 || millicores > MAX_CPU_MILLICORES {
        return Err(FieldError::new(
            field,
            format!("must be more than 0 and at most {} cores", MAX_CPU_MILLICORES / 1000),
        ));
    }
    Ok(millicores)
}

/// A memory quantity for `field` (`resources.limits.memory`…), e.g. `512Mi`, `2Gi`; returns
/// it in bytes. Zero and more than [`MAX_MEMORY_BYTES`] are refused.
///
/// # Errors
/// Not a quantity (`2Gx`), zero, or too large.
pub fn validate_memory_quantity(field: &'static str, quantity: &str) -> Result<u64, FieldError> {
    let bytes = parse_memory_bytes(quantity).ok_or_else(|| {
        FieldError::new(field, format!("{} is not a memory quantity (e.g. 512Mi, 2Gi)", quoted(quantity)))
    })?;
    if bytes == 0 || bytes > MAX_MEMORY_BYTES {
        return Err(FieldError::new(field, "must be more than 0 and at most 1Ti"));
    }
    Ok(bytes)
}

/// A key of a ConfigMap or Secret for `field`: letters, digits, `-`, `_` and `.`, at most
/// 253 characters.
///
/// # Errors
/// `key` is empty, too long or has other characters.
pub fn validate_data_key(field: &'static str, key: &str) -> Result<(), FieldError> {
    let valid_chars = key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !key.is_empty() && key.len() <= 253 && valid_chars {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{} is not a key name (letters, digits, '-', '_' and '.')", quoted(key)),
        ))
    }
}

/// A log line count in `1..=MAX_LOG_LINES`.
///
/// # Errors
/// Zero, negative or above [`MAX_LOG_LINES`].
pub fn validate_log_lines(lines: i64) -> Result<u32, FieldError> {
    u32::try_from(lines).ok().filter(|l| (1..=MAX_LOG_LINES).contains(l)).ok_or_else(|| {
        FieldError::new("lines", format!("must be between 1 and {MAX_LOG_LINES}, not {lines}"))
    })
}

/// A log line filter: one line of at most [`MAX_LOG_FILTER_CHARS`] characters, not blank.
///
/// # Errors
/// Blank, too long, or spanning lines.
pub fn validate_log_filter(filter: &str) -> Result<(), FieldError> {
    if filter.trim().is_empty() {
        return Err(FieldError::new("filter", "must not be blank (leave it out to see every line)"));
    }
    if filter.chars().count() > MAX_LOG_FILTER_CHARS {
        return Err(FieldError::new("filter", format!("must be at most {MAX_LOG_FILTER_CHARS} characters")));
    }
    if filter.contains(['\n', '\r']) {
        return Err(FieldError::new("filter", "must be a single line"));
    }
    Ok(())
}

/// How long to wait for a rollout: at least a second, at most [`MAX_ROLLOUT_WAIT`].
///
/// # Errors
/// Shorter than a second or longer than [`MAX_ROLLOUT_WAIT`].
pub fn validate_rollout_wait(timeout: Duration) -> Result<(), FieldError> {
    if timeout < Duration::from_secs(1) || timeout > MAX_ROLLOUT_WAIT {
        return Err(FieldError::new(
            "timeout",
            format!("must be between 1 second and {} minutes", MAX_ROLLOUT_WAIT.as_secs() / 60),
        ));
    }
    Ok(())
}

fn starts_and_ends_alphanumeric(name: &str) -> bool {
    let alnum = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    alnum(name.as_bytes().first()) && alnum(name.as_bytes().last())
}

/// The refused input, quoted and cut short, so an error message stays one readable line.
fn quoted(input: &str) -> String {
    const SHOWN: usize = 64;
    if input.chars().count() <= SHOWN {
        format!("{input:?}")
    } else {
        let head: String = input.chars().take(SHOWN).collect();
        format!("{head:?}…")
    }
}

/// A container image reference (`twisterlab-api:v2.0`, `registry.local/team/api@sha256:…`):
/// at most 512 characters of letters, digits and `._-/:@`, starting with a letter or digit.
///
/// # Errors
/// Field `image`, saying what is allowed.
pub fn validate_image(image: &str) -> Result<(), FieldError> {
    let first_ok = image.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let chars_ok =
        image.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@'));
    if image.len() <= 512 && first_ok && chars_ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "image",
            format!(
                "{} is not an image reference (letters, digits and . _ - / : @, starting with a letter or \
                 digit, at most 512 characters), such as twisterlab-api:v2.0",
                quoted(image)
            ),
        ))
    }
}

/// An annotation key (an optional DNS-subdomain prefix and `/`, then up to 63 letters, digits,
/// `-`, `_` or `.`, starting and ending with a letter or digit) and a value of 1 to 1000 bytes.
///
/// # Errors
/// Field `annotation.key` or `annotation.value`.
pub fn validate_annotation(key: &str, value: &str) -> Result<(), FieldError> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && starts_and_ends_alphanumeric(p)
    });
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
        && name.as_bytes().last().is_some_and(u8::is_ascii_alphanumeric);
    if !prefix_ok || !name_ok {
        return Err(FieldError::new(
            "annotation.key",
            format!(
                "{} is not an annotation key (such as maintenance or example.com/maintenance)",
                quoted(key)
            ),
        ));
    }
    if value.is_empty() || value.len() > 1000 || value.contains('\0') {
        return Err(FieldError::new("annotation.value", "must be 1 to 1000 bytes, without NUL"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_from_zero_to_a_thousand_are_accepted() {
        assert_eq!(validate_replicas(0), Ok(0));
        assert_eq!(validate_replicas(5), Ok(5));
        assert_eq!(validate_replicas(1000), Ok(1000));
        assert_eq!(parse_replicas(" 3 "), Ok(3));
    }

    #[test]
    fn negative_or_huge_replicas_are_refused_naming_the_field() {
        let err = validate_replicas(-1).expect_err("negative");
        assert_eq!(err.to_string(), "replicas: must be between 0 and 1000, not -1");
        let err = validate_replicas(10_000).expect_err("too many");
        assert_eq!(err.field, "replicas");
        assert!(validate_replicas(i64::MAX).is_err());
        assert_eq!(
            parse_replicas("five").expect_err("not a number").to_string(),
            "replicas: must be a whole number between 0 and 1000"
        );
    }

    #[test]
    fn object_names_follow_rfc_1123_subdomains() {
        for good in ["twisterlab-api", "a", "web.v2", "0abc"] {
            assert_eq!(validate_object_name("deployment", good), Ok(()), "{good}");
        }
        for bad in ["", "Api", "-api", "api-", "../secrets", "api/x", "a b", &"a".repeat(254)] {
            let err = validate_object_name("deployment", bad).expect_err(bad);
            assert_eq!(err.field, "deployment");
        }
    }

    #[test]
    fn container_names_are_labels_without_dots() {
        assert_eq!(validate_container_name("api"), Ok(()));
        assert_eq!(validate_container_name("log-shipper"), Ok(()));
        for bad in ["", "web.v2", "API", &"a".repeat(64)] {
            assert_eq!(validate_container_name(bad).expect_err(bad).field, "container");
        }
    }

    #[test]
    fn env_names_are_c_identifiers() {
        for good in ["API_URL", "_x", "a1", &"A".repeat(253)] {
            assert_eq!(validate_env_name(good), Ok(()), "{good}");
        }
        for bad in ["", "1ABC", "API URL", "API-URL", "A=B", &"A".repeat(254)] {
            assert_eq!(validate_env_name(bad).expect_err(bad).field, "env.name");
        }
        let err = validate_env_name("API URL").expect_err("space");
        assert!(err.message.starts_with("\"API URL\" is not an environment variable name"), "{err}");
    }

    #[test]
    fn env_values_are_bounded_and_never_repeated_in_the_error() {
        assert_eq!(validate_env_value("http://twisterlab-api:8000"), Ok(()));
        assert_eq!(validate_env_value(""), Ok(()));
        let long = "s3cr3t".repeat(10_000);
        let err = validate_env_value(&long).expect_err("too long");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        assert!(validate_env_value("a\0b").is_err());
    }

    #[test]
    fn quantities_must_parse_and_be_in_range() {
        assert_eq!(validate_memory_quantity("resources.limits.memory", "2Gi"), Ok(2 << 30));
        assert_eq!(validate_cpu_quantity("resources.requests.cpu", "250m"), Ok(250));
        let err = validate_memory_quantity("resources.limits.memory", "2Gx").expect_err("2Gx");
        assert_eq!(
            err.to_string(),
            "resources.limits.memory: \"2Gx\" is not a memory quantity (e.g. 512Mi, 2Gi)"
        );
        assert!(validate_memory_quantity("resources.limits.memory", "0").is_err());
        assert!(validate_memory_quantity("resources.limits.memory", "2Ti").is_err());
        assert!(validate_cpu_quantity("resources.limits.cpu", "-1").is_err());
        assert!(validate_cpu_quantity("resources.limits.cpu", "1000").is_err());
    }

    #[test]
    fn data_keys_allow_dots_dashes_and_underscores() {
        assert_eq!(validate_data_key("key", "DATABASE_URL"), Ok(()));
        assert_eq!(validate_data_key("key", "tls.crt"), Ok(()));
        for bad in ["", "a b", "a/b"] {
            assert_eq!(validate_data_key("key", bad).expect_err(bad).field, "key");
        }
    }

    #[test]
    fn log_lines_and_filters_are_bounded() {
        assert_eq!(validate_log_lines(100), Ok(100));
        assert!(validate_log_lines(0).is_err());
        assert!(validate_log_lines(1001).is_err());
        assert_eq!(validate_log_filter("error"), Ok(()));
        assert!(validate_log_filter("  ").is_err());
        assert!(validate_log_filter("a\nb").is_err());
        assert!(validate_log_filter(&"x".repeat(201)).is_err());
    }

    #[test]
    fn rollout_waits_last_between_a_second_and_half_an_hour() {
        assert_eq!(validate_rollout_wait(Duration::from_secs(300)), Ok(()));
        assert!(validate_rollout_wait(Duration::from_millis(10)).is_err());
        assert!(validate_rollout_wait(Duration::from_secs(31 * 60)).is_err());
    }

    #[test]
    fn long_refused_input_is_cut_short_in_the_message() {
        let err = validate_object_name("pod", &"X".repeat(500)).expect_err("long");
        assert!(err.message.len() < 300, "{}", err.message);
    }
}
