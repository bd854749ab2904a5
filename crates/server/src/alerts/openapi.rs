//! The OpenAPI description of `POST /api/v1/alertmanager`, merged into the API's document
//! (`api::openapi`). Limits come from `twisterlab_domain::alerting`, so they cannot drift from
//! what the receiver accepts.

use serde_json::{Map, Value, json};
use twisterlab_domain::alerting::{
    MAX_ALERTS, MAX_FINGERPRINT, MAX_LABEL_NAME, MAX_LABEL_VALUE, MAX_LABELS, WEBHOOK_VERSION,
};

/// The paths and schemas of the receiver.
pub(crate) struct Fragment {
    pub paths: Map<String, Value>,
    pub schemas: Map<String, Value>,
    pub tag: Value,
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

/// No text in a payload may hold U+0000: the payload is stored as `jsonb`, which cannot.
const NO_NUL: &str = "^[^\\u0000]*$";

fn string_map(description: &str) -> Value {
    json!({
        "type": "object",
        "description": description,
        "maxProperties": MAX_LABELS,
        "propertyNames": {"minLength": 1, "maxLength": MAX_LABEL_NAME, "pattern": NO_NUL},
        "additionalProperties": {"type": "string", "maxLength": MAX_LABEL_VALUE, "pattern": NO_NUL}
    })
}

pub(crate) fn fragment() -> Fragment {
    let mut paths = Map::new();
    paths.insert(
        "/api/v1/alertmanager".into(),
        json!({
            "post": {
                "tags": ["alerting"],
                "operationId": "receiveAlertmanagerWebhook",
                "x-required-role": "responder",
                "summary": "Prometheus Alertmanager webhook receiver (payload version 4)",
                "description": "Each alert is keyed by `fingerprint` and `startsAt`: a repeated or retried notification changes nothing. A firing alert opens (or joins) one private incident per group (`TWISTERLAB_ALERTMANAGER_GROUP_BY`, default `alertname` + `service`), severity from the `severity` label (`TWISTERLAB_ALERTMANAGER_SEVERITIES`, unknown: P3), component from a `component` label or the `service` mapping, title from `annotations.summary`. A resolved alert records its end; when every alert of the incident has ended, it moves to monitoring (or is resolved). The payload is stored as received. Role: responder or above.",
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AlertmanagerWebhook"}}}
                },
                "responses": {
                    "200": {"description": "Processed (also for a repeat: nothing changed).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AlertmanagerOutcome"}}}},
                    "400": r("BadRequest"),
                    "401": r("Unauthorized"),
                    "403": r("Forbidden"),
                    "413": r("PayloadTooLarge"),
                    "415": r("UnsupportedMediaType"),
                    "422": r("ValidationFailed")
                }
            }
        }),
    );
    let mut schemas = Map::new();
    schemas.insert(
        "AlertmanagerWebhook".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["version", "alerts"],
            "properties": {
                "version": {"type": "string", "const": WEBHOOK_VERSION},
                "groupKey": {"type": "string", "pattern": NO_NUL},
                "truncatedAlerts": {"type": "integer", "minimum": 0, "maximum": u64::MAX},
                "status": {"type": "string", "pattern": NO_NUL},
                "receiver": {"type": "string", "pattern": NO_NUL},
                "groupLabels": {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": {"type": "string", "pattern": NO_NUL}},
                "commonLabels": {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": {"type": "string", "pattern": NO_NUL}},
                "commonAnnotations": {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": {"type": "string", "pattern": NO_NUL}},
                "externalURL": {"type": "string", "pattern": NO_NUL},
                "alerts": {"type": "array", "maxItems": MAX_ALERTS, "items": {"$ref": "#/components/schemas/AlertmanagerAlert"}}
            }
        }),
    );
    schemas.insert(
        "AlertmanagerAlert".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["status", "startsAt", "fingerprint"],
            "properties": {
                "status": {"type": "string", "enum": ["firing", "resolved"]},
                "labels": string_map("Prometheus labels; `alertname`, `service`, `severity` and `component` are read."),
                "annotations": string_map("`summary` becomes the incident title, `description` goes into its summary."),
                "startsAt": {"type": "string", "format": "date-time"},
                "endsAt": {"type": "string", "format": "date-time", "description": "For a firing alert Alertmanager sends year 1 (ignored)."},
                "generatorURL": {"type": "string", "maxLength": 2000, "pattern": NO_NUL},
                "fingerprint": {"type": "string", "minLength": 1, "maxLength": MAX_FINGERPRINT, "pattern": "^[0-9A-Za-z]+$"}
            }
        }),
    );
    schemas.insert(
        "AlertmanagerOutcome".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["delivery", "alerts", "declared", "joined", "resolved", "unchanged"],
            "properties": {
                "delivery": {"type": "integer", "format": "int64", "minimum": 1, "description": "The stored delivery (listed on /admin/signals)."},
                "alerts": {"type": "integer", "minimum": 0, "maximum": MAX_ALERTS},
                "declared": {"type": "array", "items": {"type": "integer", "format": "int64", "minimum": 1}, "description": "Numbers of the incidents declared."},
                "joined": {"type": "array", "items": {"type": "integer", "format": "int64", "minimum": 1}, "description": "Numbers of open incidents a newly firing alert joined."},
                "resolved": {"type": "integer", "minimum": 0},
                "unchanged": {"type": "integer", "minimum": 0}
            }
        }),
    );
    Fragment {
        paths,
        schemas,
        tag: json!({"name": "alerting", "description": "Prometheus Alertmanager's webhook: alerts into incidents."}),
    }
}
