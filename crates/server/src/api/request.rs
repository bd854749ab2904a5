//! Reading API requests: JSON bodies (with errors that name the field) and the version a
//! caller last saw (`version` or `If-Match`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize as _;
use serde::de::DeserializeOwned;

use super::error::{ApiError, problem};
use crate::validation::FieldError;
use crate::web::error::AppError;

/// Whether the request says its body is JSON (`application/json` or `application/*+json`).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON body into `T`. With `optional`, an empty body is `T::default()`.
///
/// Syntax errors are 400 with the position; a well-formed body of the wrong shape (unknown
/// field, wrong type, missing field) is 422 with `errors` naming the field.
pub(crate) fn parse_json<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Bytes,
    optional: bool,
) -> Result<T, ApiError> {
    if optional && body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if !is_json(headers) {
        return Err(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the request body as JSON with `Content-Type: application/json`.",
            vec![],
        ));
    }
    match Json::<T>::from_bytes(body) {
        Ok(Json(value)) => {
            match serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| nul_field(&v, "")) {
                // PostgreSQL text cannot hold U+0000; no field of the API takes it.
                Some(field) => Err(AppError::Validation(vec![FieldError::new(
                    field,
                    "Remove the NUL character (U+0000): no text in the portal may contain it.",
                )])
                .into()),
                None => Ok(value),
            }
        }
        Err(rejection) => Err(json_problem(&rejection)),
    }
}

/// The path of the first string (or object key) in `value` that contains U+0000.
fn nul_field(value: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    let name = |path: &str| if path.is_empty() { "body".to_owned() } else { path.to_owned() };
    match value {
        Value::String(s) if s.contains('\0') => Some(name(path)),
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, v)| nul_field(v, &format!("{path}[{i}]")))
        }
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let field = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            if k.contains('\0') { Some(name(path)) } else { nul_field(v, &field) }
        }),
        _ => None,
    }
}

/// The serde message behind a JSON rejection: `path: message at line L column C`.
fn rejection_message(rejection: &JsonRejection) -> String {
    use std::error::Error as _;
    // JsonRejection → axum::Error → serde_path_to_error::Error (which prints the path).
    rejection
        .source()
        .and_then(|e| e.source())
        .map(ToString::to_string)
        .unwrap_or_else(|| rejection.body_text())
}

fn json_problem(rejection: &JsonRejection) -> ApiError {
    let message = rejection_message(rejection);
    match rejection {
        JsonRejection::JsonSyntaxError(_) => problem(
            StatusCode::BAD_REQUEST,
            format!("The request body is not valid JSON: {message}."),
            vec![FieldError::new("body", message.clone())],
        ),
        JsonRejection::JsonDataError(_) => {
            let (field, text) = data_error_field(&message);
            problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("The JSON does not have the expected shape: {message}. See `errors`."),
                vec![FieldError::new(field, text)],
            )
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::App(AppError::PayloadTooLarge),
        other => problem(other.status(), other.body_text(), vec![]),
    }
}

/// Splits serde's `components[0].impact: unknown variant … at line 1 column 9` into the field
/// (`components[0].impact`) and a message without the position. Unknown and missing fields name
/// the field itself (`colour`, not the object holding it).
fn data_error_field(message: &str) -> (String, String) {
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    let (path, text) = match message.split_once(": ") {
        Some((path, text)) if !path.is_empty() && !path.contains(' ') => (path.to_owned(), text.to_owned()),
        _ => (String::new(), message.to_owned()),
    };
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned);
    let field = match (path.as_str(), named) {
        ("" | "?", Some(name)) => name,
        (parent, Some(name)) if text.starts_with("missing") => format!("{parent}.{name}"),
        // For unknown fields serde_path_to_error already ends the path with the field.
        (_, Some(name)) if !path.ends_with(&name) => format!("{path}.{name}"),
        ("" | "?", None) => "body".to_owned(),
        _ => path,
    };
    (field, text)
}

pub(crate) use crate::web::form::parse_uuid;

/// A time as the document's `format: date-time` has it: RFC 3339, nothing looser.
pub(crate) fn parse_rfc3339(text: &str) -> Option<jiff::Timestamp> {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(text, &Rfc3339).ok().map(crate::clock::to_jiff)
}

/// `#[serde(default, deserialize_with = "present")]` for an optional field: leaving it out is
/// `None`, but `null` is refused like any other wrong type (the document does not allow it).
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// `#[serde(default, deserialize_with = "version")]`: a version, documented as an `int32` from 1.
/// JSON Schema counts `3.0` as an integer too, so an integral number is taken; `null`, fractions
/// and numbers out of range are refused.
pub(crate) fn version<'de, D>(deserializer: D) -> Result<Option<i32>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error as _;
    let number = serde_json::Number::deserialize(deserializer)?;
    let value = match (number.as_i64(), number.as_f64()) {
        (Some(i), _) => Some(i),
        (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e10 => Some(f as i64),
        _ => None,
    };
    value
        .and_then(|v| i32::try_from(v).ok())
        .filter(|v| *v >= 1)
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("expected a version from 1 to {} (got {number})", i32::MAX)))
}

/// What `If-Match` may hold, as the OpenAPI document states it: nothing, `*`, or one (optionally weak)
/// entity tag holding a version from 1 to 2147483647 without leading zeros.
pub(crate) const IF_MATCH_PATTERN: &str = concat!(
    r#"^(|\*|(W/)?"(?:[1-9][0-9]{0,8}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}"#,
    r#"|2147[0-3][0-9]{5}|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}"#,
    r#"|21474836[0-3][0-9]|214748364[0-7])")$"#,
);

/// The version in an entity tag `"3"` or `W/"3"`: digits without a leading zero, 1 to `i32::MAX`
/// (exactly what [`IF_MATCH_PATTERN`] admits besides `*`).
fn entity_tag_version(text: &str) -> Option<i32> {
    let tag = text.strip_prefix("W/").unwrap_or(text);
    let digits = tag.strip_prefix('"')?.strip_suffix('"')?;
    let canonical = digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    digits.parse::<i32>().ok().filter(|v| canonical && *v > 0)
}

/// The version the caller last saw, from the body's `version` or an `If-Match: "<version>"`.
pub(crate) fn expected_version(headers: &HeaderMap, body: Option<i32>) -> Result<Option<i32>, ApiError> {
    let from_header = match headers.get(header::IF_MATCH) {
        None => None,
        Some(value) => {
            let text = value.to_str().unwrap_or("").trim();
            // An empty list of entity tags (RFC 9110's `#entity-tag`) asks for nothing.
            if text == "*" || text.is_empty() {
                None
            } else {
                match entity_tag_version(text) {
                    Some(v) => Some(v),
                    None => {
                        let message = "Use the incident's version as an entity tag, e.g. If-Match: \"3\" (the ETag of the last response).";
                        return Err(problem(
                            StatusCode::BAD_REQUEST,
                            message,
                            vec![FieldError::new("If-Match", message)],
                        ));
                    }
                }
            }
        }
    };
    match (from_header, body) {
        // At most one of them is the current version: the precondition cannot hold.
        (Some(h), Some(b)) if h != b => {
            let message = format!(
                "If-Match says version {h} but the body says {b}: at most one of them is current. Send the version you last saw once."
            );
            Err(problem(StatusCode::CONFLICT, message.clone(), vec![FieldError::new("version", message)]))
        }
        (h, b) => Ok(h.or(b)),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn serde_paths_become_field_names() {
        let (f, m) = data_error_field(
            "components[0].impact: invalid type: integer `3`, expected a string at line 1 column 40",
        );
        assert_eq!(f, "components[0].impact");
        assert_eq!(m, "invalid type: integer `3`, expected a string");
        let (f, _) = data_error_field(
            "unknown field `colour`, expected one of `title`, `severity` at line 1 column 10",
        );
        assert_eq!(f, "colour");
        let (f, _) = data_error_field("components[0]: missing field `impact` at line 1 column 30");
        assert_eq!(f, "components[0].impact");
        let (f, _) =
            data_error_field("invalid type: string \"x\", expected struct DeclareRequest at line 1 column 3");
        assert_eq!(f, "body");
    }

    #[test]
    fn if_match_takes_an_entity_tag_and_must_agree_with_the_body() {
        let mut h = HeaderMap::new();
        assert_eq!(expected_version(&h, Some(3)).ok(), Some(Some(3)));
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"4\""));
        assert_eq!(expected_version(&h, None).ok(), Some(Some(4)));
        assert!(expected_version(&h, Some(3)).is_err());
        h.insert(header::IF_MATCH, HeaderValue::from_static("W/\"5\""));
        assert_eq!(expected_version(&h, None).ok(), Some(Some(5)));
        h.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(expected_version(&h, None).ok(), Some(None));
        h.insert(header::IF_MATCH, HeaderValue::from_static("5"));
        assert!(expected_version(&h, None).is_err());
    }

    #[test]
    fn json_content_types_are_recognised() {
        let with = |ct: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
