//! The OpenAPI description of the managers' API (escalations, reports, postmortems), merged
//! into the API's document (`api::openapi`). Limits come from the use cases.

use serde_json::{Map, Value, json};

use crate::db::escalations::Cursor;
use crate::managers::DAY_PATTERN;
use crate::managers::service::{MAX_COMMENT, MAX_FOLLOW_UP};

/// The managers' part of the document.
pub(crate) struct Fragment {
    pub paths: Map<String, Value>,
    pub schemas: Map<String, Value>,
    pub tag: Value,
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

fn ok(description: &str, name: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema(name)}}})
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// The paths and schemas.
pub(crate) fn fragment() -> Fragment {
    let date = json!({"type": "string", "format": "date"});
    let day = json!({"type": "string", "format": "date", "pattern": DAY_PATTERN});
    let timestamp = json!({"type": "string", "format": "date-time"});
    let nullable_timestamp = json!({"type": ["string", "null"], "format": "date-time"});
    let nullable_text = json!({"type": ["string", "null"]});
    let severity_filter = json!({"type": "string", "enum": ["", "P0", "P1", "P2", "P3"]});
    let count = json!({"type": "integer", "format": "int64", "minimum": 0});
    let uuid = json!({"type": "string", "format": "uuid"});

    let mut paths = Map::new();
    paths.insert(
        "/api/v1/escalations".into(),
        json!({"get": {
            "operationId": "listEscalations",
            "tags": ["managers"],
            "summary": "Every missed acknowledgement, manager escalation and response SLA breach, newest first",
            "description": "Fifty per page; pass `next` back as `after` for the following page. `start` and `end` are days in the team's zone, the last one included; either may be left out for an open range, and a range ending before it starts matches nothing. Field errors (422, each parameter named in `errors`): a person who is not a user, a parameter given twice, a value with spaces around it.",
            "x-required-role": "manager",
            "parameters": [
                query("start", "First day fired, in the team's zone.", day.clone()),
                query("end", "Last day fired (included).", day.clone()),
                query("severity", "The incident's severity; empty for any.", severity_filter.clone()),
                query("level", "The paging level; empty for any.", json!({"type": "string", "enum": ["", "primary", "secondary", "manager"]})),
                query("person", "A user's id (on call or paged); another id is a field error.", json!({"type": "string", "format": "uuid"})),
                query("reviewed", "`yes` reviewed only, `no` unreviewed only, empty for both.", json!({"type": "string", "enum": ["", "yes", "no"]})),
                query("after", "Opaque: `next` of the previous page.", json!({"type": "string", "pattern": Cursor::PATTERN}))
            ],
            "responses": {
                "200": ok("One page of escalations.", "EscalationList"),
                "401": r("Unauthorized"),
                "403": r("Forbidden"),
                "422": r("ValidationFailed")
            }
        }}),
    );
    paths.insert(
        "/api/v1/escalations/{id}/review".into(),
        json!({"parameters": [{"name": "id", "in": "path", "required": true, "description": "The escalation's `id`.", "schema": uuid.clone()}], "post": {
            "operationId": "reviewEscalation",
            "tags": ["managers"],
            "summary": "Mark an escalation reviewed, with a comment and an optional follow-up action (audited, shown on the incident)",
            "x-required-role": "manager",
            "requestBody": {"required": true, "content": {"application/json": {"schema": schema("EscalationReview")}}},
            "responses": {
                "200": ok("Reviewed.", "Escalation"),
                "400": r("BadRequest"),
                "401": r("Unauthorized"),
                "403": r("Forbidden"),
                "404": {"description": "No escalation has this id.", "content": {"application/problem+json": {"schema": schema("Problem")}}},
                "409": {"description": "Already reviewed: a review stays as written.", "content": {"application/problem+json": {"schema": schema("Problem")}}},
                "413": r("PayloadTooLarge"),
                "415": r("UnsupportedMediaType"),
                "422": r("ValidationFailed")
            }
        }}),
    );
    paths.insert(
        "/api/v1/reports".into(),
        json!({"get": {
            "operationId": "showReport",
            "tags": ["managers"],
            "summary": "The SLA report of a period: the page's tables, cell for cell as in its CSV downloads",
            "description": "`kind` week, month (default) or quarter takes the period containing `date` (today when absent); `custom` takes `start` to `end` (one of them alone is that one day, neither is today; the end not before the start, at most two years after it). Durations are minutes with one decimal, shares percentages with one decimal, `n/a` where nothing can be computed. Field errors (422, each parameter named in `errors`): a custom range ending before it starts or longer than two years, a parameter given twice, a value with spaces around it.",
            "x-required-role": "manager",
            "parameters": [
                query("kind", "The period kind.", json!({"type": "string", "enum": ["", "week", "month", "quarter", "custom"]})),
                query("date", "A day in the week, month or quarter.", day.clone()),
                query("start", "A custom range's first day.", day.clone()),
                query("end", "A custom range's last day (included).", day),
                query("severity", "One severity; empty for every severity.", severity_filter)
            ],
            "responses": {
                "200": ok("The report.", "Report"),
                "401": r("Unauthorized"),
                "403": r("Forbidden"),
                "422": r("ValidationFailed")
            }
        }}),
    );
    paths.insert(
        "/api/v1/incidents/{number}/postmortem".into(),
        json!({"parameters": [{"name": "number", "in": "path", "required": true, "description": "The incident number (`42` or `INC-42`).", "schema": {"type": "string", "pattern": "^(INC-)?[1-9][0-9]{0,17}$"}}], "get": {
            "operationId": "showPostmortem",
            "tags": ["managers"],
            "summary": "An incident's postmortem (draft, in review or published) with its timeline excerpt and action items",
            "x-required-role": "viewer",
            "responses": {
                "200": ok("The postmortem.", "Postmortem"),
                "401": r("Unauthorized"),
                "403": r("Forbidden"),
                "404": {"description": "No such incident, or it has no postmortem yet.", "content": {"application/problem+json": {"schema": schema("Problem")}}}
            }
        }}),
    );

    let mut schemas = Map::new();
    schemas.insert(
        "EscalationReview".into(),
        json!({
            "type": "object", "additionalProperties": false, "required": ["comment"],
            "properties": {
                "comment": {"type": "string", "minLength": 1, "maxLength": MAX_COMMENT, "description": "What the manager found (surrounding spaces are trimmed; blank is refused)."},
                "follow_up": {"type": "string", "maxLength": MAX_FOLLOW_UP, "description": "A follow-up action; empty for none."}
            }
        }),
    );
    schemas.insert(
        "Escalation".into(),
        json!({
            "type": "object", "additionalProperties": false,
            "required": ["id", "incident_number", "incident_title", "html_url", "severity", "kind", "level", "fired_at", "on_call", "paged", "acknowledged_at", "respond_by", "acknowledgement", "notifications", "review"],
            "properties": {
                "id": uuid.clone(),
                "incident_number": {"type": "integer", "format": "int64", "minimum": 1},
                "incident_title": {"type": "string"},
                "html_url": {"type": "string", "description": "The moment on the incident's timeline."},
                "severity": {"$ref": "#/components/schemas/Severity"},
                "kind": {"type": "string", "enum": ["missed_acknowledgement", "manager_escalation", "sla_breach"]},
                "level": {"type": "string", "enum": ["primary", "secondary", "manager"]},
                "fired_at": timestamp.clone(),
                "on_call": nullable_text.clone(),
                "paged": nullable_text.clone(),
                "acknowledged_at": nullable_timestamp.clone(),
                "respond_by": timestamp.clone(),
                "acknowledgement": {"type": "string", "description": "How late the acknowledgement came against the response target, in words."},
                "notifications": {
                    "type": "object", "additionalProperties": false,
                    "required": ["delivered", "delivered_after_retry", "retrying", "dead", "queued"],
                    "properties": {"delivered": count.clone(), "delivered_after_retry": count.clone(), "retrying": count.clone(), "dead": count.clone(), "queued": count.clone()}
                },
                "review": {"oneOf": [{"type": "null"}, {
                    "type": "object", "additionalProperties": false,
                    "required": ["reviewed_at", "reviewer", "comment", "follow_up"],
                    "properties": {"reviewed_at": timestamp.clone(), "reviewer": nullable_text.clone(), "comment": {"type": "string"}, "follow_up": nullable_text.clone()}
                }]}
            }
        }),
    );
    schemas.insert(
        "EscalationList".into(),
        json!({
            "type": "object", "additionalProperties": false, "required": ["escalations", "next"],
            "properties": {
                "escalations": {"type": "array", "maxItems": 50, "items": schema("Escalation")},
                "next": {"type": ["string", "null"], "description": "Pass as `after` for the next page; null on the last."}
            }
        }),
    );
    schemas.insert(
        "Report".into(),
        json!({
            "type": "object", "additionalProperties": false, "required": ["period", "tables"],
            "properties": {
                "period": {
                    "type": "object", "additionalProperties": false,
                    "required": ["key", "label", "kind", "first_day", "last_day", "start", "end", "time_zone"],
                    "properties": {
                        "key": {"type": "string"}, "label": {"type": "string"},
                        "kind": {"type": "string", "enum": ["week", "month", "quarter", "custom"]},
                        "first_day": date.clone(), "last_day": date.clone(),
                        "start": timestamp.clone(), "end": timestamp.clone(), "time_zone": {"type": "string"}
                    }
                },
                "tables": {"type": "array", "minItems": 4, "maxItems": 4, "items": {
                    "type": "object", "additionalProperties": false, "required": ["id", "title", "headers", "rows"],
                    "properties": {
                        "id": {"type": "string", "enum": ["severity", "components", "oncall", "trend"]},
                        "title": {"type": "string"},
                        "headers": {"type": "array", "items": {"type": "string"}},
                        "rows": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}
                    }
                }}
            }
        }),
    );
    schemas.insert(
        "Postmortem".into(),
        json!({
            "type": "object", "additionalProperties": false,
            "required": ["id", "incident_number", "html_url", "state", "summary", "impact", "root_cause", "contributing_factors", "went_well", "public_summary", "timeline_excerpt", "action_items", "updated_at", "published_at"],
            "properties": {
                "id": uuid.clone(),
                "incident_number": {"type": "integer", "format": "int64", "minimum": 1},
                "html_url": {"type": "string"},
                "state": {"type": "string", "enum": ["draft", "in_review", "published"]},
                "summary": {"type": "string", "maxLength": 20000},
                "impact": {"type": "string", "maxLength": 20000},
                "root_cause": {"type": "string", "maxLength": 20000},
                "contributing_factors": {"type": "string", "maxLength": 20000},
                "went_well": {"type": "string", "maxLength": 20000},
                "public_summary": {"type": "string", "maxLength": 5000},
                "timeline_excerpt": {"type": "array", "items": uuid.clone()},
                "action_items": {"type": "array", "items": {
                    "type": "object", "additionalProperties": false, "required": ["id", "title", "owner", "due_on", "done_at"],
                    "properties": {"id": uuid.clone(), "title": {"type": "string", "minLength": 1, "maxLength": 500}, "owner": {"type": "string"}, "due_on": date.clone(), "done_at": nullable_timestamp.clone()}
                }},
                "updated_at": timestamp.clone(),
                "published_at": nullable_timestamp
            }
        }),
    );
    Fragment {
        paths,
        schemas,
        tag: json!({"name": "managers", "description": "Escalation review, SLA reports and postmortems."}),
    }
}
