//! `POST /api/v1/alertmanager`: Prometheus Alertmanager's webhook (payload version 4) with a
//! bearer token of a responder or above. The body is checked completely before anything is
//! written, so a refused delivery creates nothing but its own row in the deliveries list
//! (400 malformed or not version 4, 422 an alert with invalid values, 413 too large, 415 not
//! JSON, all problem+json).

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use twisterlab_domain::alerting::{
    MAX_ALERTS, MAX_FINGERPRINT, MAX_LABEL_NAME, MAX_LABEL_VALUE, MAX_LABELS, WEBHOOK_VERSION,
};

use super::service::{self, Alert, AlertStatus, Outcome};
use crate::api::error::{ApiError, problem};
use crate::auth::CurrentUser;
use crate::db::alertmanager as store;
use crate::state::AppState;
use crate::validation::FieldError;

/// The webhook payload (version 4) as Alertmanager sends it. The group fields are checked for
/// their type and kept in the stored body; the portal acts on `alerts` alone.
#[derive(Debug, Deserialize)]
#[expect(dead_code, reason = "the group fields are checked by type only; the stored body keeps them")]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Payload {
    pub version: String,
    #[serde(default, deserialize_with = "crate::api::request::present")]
    pub group_key: Option<String>,
    #[serde(default, deserialize_with = "crate::api::request::present")]
    pub truncated_alerts: Option<u64>,
    #[serde(default, deserialize_with = "crate::api::request::present")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "crate::api::request::present")]
    pub receiver: Option<String>,
    #[serde(default, deserialize_with = "crate::api::request::present")]
    pub group_labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "crate::api::request::present")]
    pub common_labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "crate::api::request::present")]
    pub common_annotations: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "externalURL", deserialize_with = "crate::api::request::present")]
    pub external_url: Option<String>,
    pub alerts: Vec<RawAlert>,
}

/// One alert as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawAlert {
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    #[serde(default, deserialize_with = "crate::api::request::present")]
    pub ends_at: Option<String>,
    #[serde(default, rename = "generatorURL", deserialize_with = "crate::api::request::present")]
    pub generator_url: Option<String>,
    pub fingerprint: String,
}

fn bad(detail: impl Into<String>, errors: Vec<FieldError>) -> ApiError {
    problem(StatusCode::BAD_REQUEST, detail, errors)
}

fn check_map(field: &str, map: &BTreeMap<String, String>, errors: &mut Vec<FieldError>) {
    if map.len() > MAX_LABELS
        || map.iter().any(|(k, v)| {
            k.is_empty() || k.chars().count() > MAX_LABEL_NAME || v.chars().count() > MAX_LABEL_VALUE
        })
    {
        errors.push(FieldError::new(
            field,
            format!("At most {MAX_LABELS} entries, names of 1 to {MAX_LABEL_NAME} and values of at most {MAX_LABEL_VALUE} characters."),
        ));
    }
}

/// Whether any key or string in `value` holds U+0000, which PostgreSQL's `jsonb` cannot store.
fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// The checked alerts of a payload, or a 400 naming every problem.
pub(crate) fn check(body: &[u8]) -> Result<Vec<Alert>, ApiError> {
    // The payload is stored as received, so a NUL anywhere in it is refused up front.
    if serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| holds_nul(&v)) {
        let message = "Text may not contain U+0000.".to_owned();
        return Err(bad(message.clone(), vec![FieldError::new("body", message)]));
    }
    let payload: Payload = serde_json::from_slice(body).map_err(|e| {
        let message = e.to_string();
        if e.is_syntax() || e.is_eof() {
            bad(format!("The body is not valid JSON: {message}."), vec![FieldError::new("body", message)])
        } else {
            bad(
                format!("The body is not an Alertmanager webhook payload (version 4): {message}."),
                vec![FieldError::new("body", message)],
            )
        }
    })?;
    if payload.version != WEBHOOK_VERSION {
        return Err(bad(
            format!(
                "Payload version {:?} is not supported: send Alertmanager's webhook version 4.",
                payload.version
            ),
            vec![FieldError::new("version", "Must be \"4\".")],
        ));
    }
    if payload.alerts.len() > MAX_ALERTS {
        return Err(bad(
            format!(
                "{} alerts in one delivery: at most {MAX_ALERTS} (set max_alerts in the webhook config).",
                payload.alerts.len()
            ),
            vec![FieldError::new("alerts", format!("At most {MAX_ALERTS} alerts."))],
        ));
    }
    let mut errors = vec![];
    let mut out = Vec::with_capacity(payload.alerts.len());
    for (i, raw) in payload.alerts.into_iter().enumerate() {
        let at = |f: &str| format!("alerts[{i}].{f}");
        let status = match raw.status.as_str() {
            "firing" => Some(AlertStatus::Firing),
            "resolved" => Some(AlertStatus::Resolved),
            _ => {
                errors.push(FieldError::new(at("status"), "Must be firing or resolved."));
                None
            }
        };
        if raw.fingerprint.is_empty()
            || raw.fingerprint.len() > MAX_FINGERPRINT
            || !raw.fingerprint.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            errors.push(FieldError::new(
                at("fingerprint"),
                format!("1 to {MAX_FINGERPRINT} letters and digits."),
            ));
        }
        check_map(&at("labels"), &raw.labels, &mut errors);
        check_map(&at("annotations"), &raw.annotations, &mut errors);
        let starts_at = crate::api::request::parse_rfc3339(&raw.starts_at);
        if starts_at.is_none() {
            errors.push(FieldError::new(at("startsAt"), "An RFC 3339 time."));
        }
        let ends_at = match raw.ends_at.as_deref() {
            None => None,
            Some(t) => match crate::api::request::parse_rfc3339(t).ok_or(()) {
                // Firing alerts carry year 1 (or a time in the future): no end yet.
                Ok(t) if t.as_second() > 0 => Some(t),
                Ok(_) => None,
                Err(()) => {
                    errors.push(FieldError::new(at("endsAt"), "An RFC 3339 time."));
                    None
                }
            },
        };
        let generator_url = raw.generator_url.filter(|u| !u.is_empty());
        if generator_url.as_deref().is_some_and(|u| u.chars().count() > 2000) {
            errors.push(FieldError::new(at("generatorURL"), "At most 2000 characters."));
        }
        if let (Some(status), Some(starts_at)) = (status, starts_at) {
            out.push(Alert {
                status,
                labels: raw.labels,
                annotations: raw.annotations,
                starts_at,
                ends_at: if status == AlertStatus::Resolved { ends_at } else { None },
                generator_url,
                fingerprint: raw.fingerprint,
            });
        }
    }
    if !errors.is_empty() {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Some alerts are not valid: see `errors`.",
            errors,
        ));
    }
    Ok(out)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"))
        .unwrap_or(false)
}

/// Stores a refused delivery in its own transaction (best effort: the refusal stands).
async fn reject(app: &AppState, me: &CurrentUser, body: &[u8], error: ApiError) -> ApiError {
    let detail = match &error {
        ApiError::Problem(p) => p.detail.clone(),
        _ => "refused".to_owned(),
    };
    let text = String::from_utf8_lossy(body);
    if let Err(e) = store::insert_delivery(&app.pool, Some(me.user.id), &text, "rejected", &detail).await {
        tracing::warn!(error = %e, "refused Alertmanager delivery not stored");
    }
    error
}

/// `POST /api/v1/alertmanager`.
pub(crate) async fn receive(
    State(app): State<AppState>,
    me: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Outcome>, ApiError> {
    if !is_json(&headers) {
        let e = problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the webhook payload as JSON with `Content-Type: application/json`.",
            vec![],
        );
        return Err(reject(&app, &me, &body, e).await);
    }
    let alerts = match check(&body) {
        Ok(alerts) => alerts,
        Err(e) => return Err(reject(&app, &me, &body, e).await),
    };
    let text = String::from_utf8_lossy(&body);
    let mut tx = app.pool.begin().await.map_err(crate::web::error::AppError::from)?;
    let delivery = store::insert_delivery(&mut *tx, Some(me.user.id), &text, "processed", "")
        .await
        .map_err(crate::web::error::AppError::from)?;
    let outcome = service::process(&mut tx, &me.actor, &app.config, delivery, &alerts)
        .await
        .map_err(crate::web::error::AppError::from)?;
    store::set_detail(&mut *tx, delivery, &outcome.text())
        .await
        .map_err(crate::web::error::AppError::from)?;
    tx.commit().await.map_err(crate::web::error::AppError::from)?;
    tracing::info!(
        delivery,
        alerts = outcome.alerts,
        declared = outcome.declared.len(),
        "Alertmanager delivery processed"
    );
    Ok(Json(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(e: ApiError) -> String {
        match e {
            ApiError::Problem(p) => p.detail,
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn malformed_payloads_are_refused_with_the_reason() {
        assert!(detail(check(b"{not json").expect_err("bad")).contains("not valid JSON"));
        assert!(detail(check(br#"{"version":"3","alerts":[]}"#).expect_err("v3")).contains("version \"3\""));
        assert!(detail(check(br#"{"version":"4"}"#).expect_err("no alerts")).contains("alerts"));
        let bad_alert =
            br#"{"version":"4","alerts":[{"status":"burning","startsAt":"yesterday","fingerprint":"<b>"}]}"#;
        match check(bad_alert).expect_err("bad alert") {
            ApiError::Problem(p) => {
                let fields: Vec<&str> = p.errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["alerts[0].status", "alerts[0].fingerprint", "alerts[0].startsAt"]);
            }
            other => panic!("{other:?}"),
        }
        let many = format!(
            r#"{{"version":"4","alerts":[{}]}}"#,
            vec![
                r#"{"status":"firing","startsAt":"2026-01-01T00:00:00Z","fingerprint":"a"}"#;
                MAX_ALERTS + 1
            ]
            .join(",")
        );
        assert!(detail(check(many.as_bytes()).expect_err("too many")).contains("at most 1000"));
    }

    #[test]
    fn a_firing_alert_has_no_end_yet() {
        let ok = br#"{"version":"4","status":"firing","receiver":"portal","groupKey":"{}:{}","truncatedAlerts":0,
            "groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093",
            "alerts":[{"status":"firing","labels":{"alertname":"HighLatency"},"annotations":{},
            "startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"0a1b2c3d4e5f6789"}]}"#;
        let alerts = check(ok).expect("valid");
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].ends_at, None);
        assert_eq!(alerts[0].generator_url, None);
    }
}
