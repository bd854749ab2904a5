//! The OpenAPI 3.1 description of every `/api/` route, served at `/api/v1/openapi.json`. Built in code so
//! enums and limits come from the domain and cannot drift; a test holds it to the route table.

use std::sync::LazyLock;

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use twisterlab_domain::incident::{Impact, IncidentStatus, TimelineKind, Title};
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;

use super::incidents::{DEFAULT_LIMIT, MAX_LIMIT, MAX_QUERY_TEXT};
use crate::incidents::service::{MAX_BODY, MAX_LABEL, MAX_LABELS, PUBLIC_STATUSES};

static DOCUMENT: LazyLock<Value> = LazyLock::new(document);

/// `GET /api/v1/openapi.json` (public: the description is not secret).
pub(crate) async fn serve_openapi() -> Response {
    let mut response = Json(DOCUMENT.clone()).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("public, max-age=300"));
    response
}

/// Unicode `White_Space`, which `str::trim` removes, as the inside of a regular-expression class.
pub(crate) const WHITESPACE: &str = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// The C0 and C1 control characters (`char::is_control`), as the inside of a class.
pub(crate) const CONTROLS: &str = r"\u0000-\u001f\u007f-\u009f";
/// Bidirectional overrides and isolates, which titles refuse with the controls.
pub(crate) const BIDI: &str = r"\u202a-\u202e\u2066-\u2069";

/// A version a caller sends back: what the server reads into an `i32`, from 1.
pub(crate) fn version_schema(description: &str) -> Value {
    json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": i32::MAX, "description": description})
}

/// Text taken as written: at most `max` characters. (No text may contain U+0000: PostgreSQL
/// cannot store it, and every JSON body with it is refused.)
pub(crate) fn text(max: usize) -> Value {
    json!({"type": "string", "maxLength": max, "pattern": "^[^\\u0000]*$"})
}

/// Text that must say something: at most `max` characters as written, not only whitespace.
pub(crate) fn required_text(max: usize) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max,
        "pattern": format!("^[^\\u0000]*[^{WHITESPACE}\\u0000][^\\u0000]*$")})
}

/// Text the server trims before judging it: `1..=max` characters after trimming (`0..=max` if
/// not `required`), none of the `forbidden` class (which must include U+0000) inside.
pub(crate) fn trimmed_text(required: bool, max: usize, forbidden: &str) -> Value {
    let edge = format!("[^{WHITESPACE}{forbidden}]");
    let inner = format!("[^{forbidden}]");
    let core = format!("{edge}(?:{inner}{{0,{}}}{edge})?", max.saturating_sub(2));
    let optional = if required { "" } else { "?" };
    json!({"type": "string", "pattern": format!("^[{WHITESPACE}]*(?:{core}){optional}[{WHITESPACE}]*$")})
}

/// An incident's or window's title: 1 to 200 characters after trimming, without control
/// characters or bidirectional overrides (`Title::parse`).
pub(crate) fn title_schema() -> Value {
    with_description(
        trimmed_text(true, Title::MAX_CHARS, &format!("{CONTROLS}{BIDI}")),
        &format!(
            "1 to {} characters once surrounding whitespace is trimmed; no control characters or bidirectional overrides.",
            Title::MAX_CHARS
        ),
    )
}

/// `schema` with a `description`.
pub(crate) fn with_description(mut schema: Value, description: &str) -> Value {
    schema["description"] = json!(description);
    schema
}

fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| name(*v)).collect()
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

fn ok(description: &str, schema: &str, headers: &[&str]) -> Value {
    let mut response = json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    });
    if !headers.is_empty() {
        let map: serde_json::Map<String, Value> = headers
            .iter()
            .map(|h| ((*h).to_owned(), json!({"$ref": format!("#/components/headers/{h}")})))
            .collect();
        response["headers"] = Value::Object(map);
    }
    response
}

/// A public, Statuspage-compatible document (served from the status page's cache).
fn statuspage(operation_id: &str, summary: &str) -> Value {
    json!({
        "get": {
            "operationId": operation_id,
            "tags": ["status page"],
            "summary": summary,
            "description": "Public and unauthenticated, in the format of Atlassian Statuspage's API v2 so existing clients work unchanged. Private incidents never appear. Supports `If-None-Match`.",
            "security": [],
            "x-required-role": null,
            "responses": {
                "200": {
                    "description": "The document, Statuspage API v2 format.",
                    "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
                    "content": {"application/json": {"schema": {"type": "object"}}}
                },
                "304": {"description": "Not modified since the `If-None-Match` ETag."}
            }
        }
    })
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

fn p(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

fn body(schema: &str, required: bool, description: &str) -> Value {
    json!({
        "required": required,
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

/// An OpenAPI link: `(path, method, status)` of the response, the link's name, the operation it
/// leads to, and that operation's parameters as runtime expressions. Links say which call follows
/// which (clients and the stateful API run follow them).
pub(crate) type Link = (&'static str, &'static str, &'static str, &'static str, &'static str, Value);

/// Puts each link on its response; a link to a response the document lacks is a bug (panics in
/// the document tests).
pub(crate) fn add_links(paths: &mut serde_json::Map<String, Value>, links: &[Link]) {
    for (path, method, status, name, operation_id, parameters) in links {
        let response = paths
            .get_mut(*path)
            .and_then(|item| item.get_mut(*method))
            .and_then(|op| op.get_mut("responses"))
            .and_then(|responses| responses.get_mut(*status));
        let Some(response) = response else {
            panic!("a link starts at {method} {path} {status}, which the document does not have");
        };
        response["links"][*name] = json!({"operationId": operation_id, "parameters": parameters});
    }
}

/// declare → show, patch, acknowledge, note or update, resolve; acknowledge → note, resolve;
/// note → resolve.
fn incident_links() -> Vec<Link> {
    let created = json!({"number": "$response.body#/number"});
    let same = json!({"number": "$request.path.number"});
    let mut links = vec![];
    for (name, op) in [
        ("ShowIncident", "showIncident"),
        ("UpdateIncident", "updateIncident"),
        ("AcknowledgeIncident", "acknowledgeIncident"),
        ("AddIncidentEvent", "addIncidentEvent"),
        ("ResolveIncident", "resolveIncident"),
    ] {
        links.push(("/api/v1/incidents", "post", "201", name, op, created.clone()));
    }
    for (name, op) in [("AddIncidentEvent", "addIncidentEvent"), ("ResolveIncident", "resolveIncident")] {
        links.push(("/api/v1/incidents/{number}/acknowledge", "post", "200", name, op, same.clone()));
    }
    links.push((
        "/api/v1/incidents/{number}/events",
        "post",
        "201",
        "ResolveIncident",
        "resolveIncident",
        same.clone(),
    ));
    links.push((
        "/api/v1/incidents/{number}/resolve",
        "post",
        "200",
        "ShowIncident",
        "showIncident",
        same.clone(),
    ));
    links.push(("/api/v1/incidents/{number}", "patch", "200", "AddIncidentEvent", "addIncidentEvent", same));
    links
}

/// The whole document.
pub(crate) fn document() -> Value {
    let severities = names(&Severity::ALL, Severity::as_str);
    let statuses = names(&IncidentStatus::ALL, IncidentStatus::as_str);
    let impacts = names(&Impact::ALL, Impact::as_str);
    let kinds = names(&TimelineKind::ALL, TimelineKind::as_str);
    let roles = names(&Role::ALL, Role::as_str);
    let public_statuses = names(&PUBLIC_STATUSES, IncidentStatus::as_str);
    let mut status_filter = vec!["open"];
    status_filter.extend(statuses.iter().copied());
    let timestamp =
        json!({"type": "string", "format": "date-time", "examples": ["2026-03-01T14:05:06.123Z"]});
    let nullable_timestamp = json!({"type": ["string", "null"], "format": "date-time"});
    let version = version_schema(
        "The incident version you last saw. If the incident has changed since, nothing is applied and the answer is 409 naming what changed.",
    );
    let append_version = version_schema(
        "The incident version you last saw. Appends never conflict: it is checked only when a public update also moves the incident to another status (409 naming what changed).",
    );

    let mut paths = serde_json::Map::new();
    paths.insert(
        "/api/v1/me".into(),
        json!({
            "get": {
                "operationId": "showMe",
                "tags": ["account"],
                "summary": "Who the token belongs to and the role it acts with",
                "x-required-role": "viewer",
                "responses": {
                    "200": ok("The caller.", "Me", &[]),
                    "401": r("Unauthorized"),
                    "403": r("Forbidden")
                }
            }
        }),
    );
    paths.insert(
        "/api/v1/openapi.json".into(),
        json!({
            "get": {
                "operationId": "showOpenApi",
                "tags": ["meta"],
                "summary": "This document",
                "security": [],
                "x-required-role": null,
                "responses": {
                    "200": {"description": "The OpenAPI 3.1 document.", "content": {"application/json": {"schema": {"type": "object"}}}}
                }
            }
        }),
    );
    paths.insert(
        "/api/v1/incidents".into(),
        json!({
            "get": {
                "operationId": "listIncidents",
                "tags": ["incidents"],
                "summary": "List incidents, open first, then newest first",
                "description": "Keyset-paginated: pass `next_cursor` back as `cursor`, with the same filters, for the next page.",
                "x-required-role": "viewer",
                "parameters": [p("Status"), p("SeverityFilter"), p("Commander"), p("From"), p("Until"), p("Q"), p("Limit"), p("Cursor")],
                "responses": {
                    "200": ok("One page of incidents.", "IncidentList", &[]),
                    "400": r("BadRequest"),
                    "401": r("Unauthorized"),
                    "403": r("Forbidden")
                }
            },
            "post": {
                "operationId": "declareIncident",
                "tags": ["incidents"],
                "summary": "Declare an incident",
                "description": "Starts as `triggered` with SLA deadlines from the policy; the caller is commander unless `commander` names someone else.",
                "x-required-role": "commander",
                "requestBody": body("DeclareIncident", true, "The new incident."),
                "responses": {
                    "201": ok("Declared.", "Incident", &["Location", "ETag"]),
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
    paths.insert(
        "/api/v1/incidents/{number}".into(),
        json!({
            "parameters": [p("Number")],
            "get": {
                "operationId": "showIncident",
                "tags": ["incidents"],
                "summary": "An incident with its components, links, SLA clocks and whole timeline",
                "x-required-role": "viewer",
                "responses": {
                    "200": ok("The incident.", "Incident", &["ETag"]),
                    "401": r("Unauthorized"),
                    "403": r("Forbidden"),
                    "404": r("NotFound")
                }
            },
            "patch": {
                "operationId": "updateIncident",
                "tags": ["incidents"],
                "summary": "Change severity, status and commander together",
                "description": "All or nothing, in one transaction. Fields already at the requested value are left alone. Changing severity recomputes the SLA deadlines from the incident's start; status `resolved` resolves, and `investigating` on a resolved incident reopens it. Needs the commander role, or a responder who is this incident's commander (403 otherwise).",
                "x-required-role": "responder",
                "parameters": [p("IfMatch")],
                "requestBody": body("PatchIncident", true, "What to change; at least one of severity, status, commander."),
                "responses": {
                    "200": ok("The changed incident.", "Incident", &["ETag"]),
                    "400": r("BadRequest"),
                    "401": r("Unauthorized"),
                    "403": r("Forbidden"),
                    "404": r("NotFound"),
                    "409": r("Conflict"),
                    "413": r("PayloadTooLarge"),
                    "415": r("UnsupportedMediaType"),
                    "422": r("ValidationFailed")
                }
            }
        }),
    );
    paths.insert(
        "/api/v1/incidents/{number}/acknowledge".into(),
        json!({
            "parameters": [p("Number")],
            "post": {
                "operationId": "acknowledgeIncident",
                "tags": ["incidents"],
                "summary": "Acknowledge: the first response, which stops the paging chain",
                "x-required-role": "responder",
                "parameters": [p("IfMatch")],
                "requestBody": body("VersionRequest", false, "Optional; an empty body is fine."),
                "responses": {
                    "200": ok("The acknowledged incident.", "Incident", &["ETag"]),
                    "400": r("BadRequest"),
                    "401": r("Unauthorized"),
                    "403": r("Forbidden"),
                    "404": r("NotFound"),
                    "409": r("Conflict"),
                    "415": r("UnsupportedMediaType"),
                    "422": r("ValidationFailed")
                }
            }
        }),
    );
    paths.insert(
        "/api/v1/incidents/{number}/resolve".into(),
        json!({
            "parameters": [p("Number")],
            "post": {
                "operationId": "resolveIncident",
                "tags": ["incidents"],
                "summary": "Resolve the incident",
                "description": "Needs the commander role, or a responder who is this incident's commander (403 otherwise).",
                "x-required-role": "responder",
                "parameters": [p("IfMatch")],
                "requestBody": body("ResolveRequest", false, "Optional; an empty body is fine."),
                "responses": {
                    "200": ok("The resolved incident.", "Incident", &["ETag"]),
                    "400": r("BadRequest"),
                    "401": r("Unauthorized"),
                    "403": r("Forbidden"),
                    "404": r("NotFound"),
                    "409": r("Conflict"),
                    "415": r("UnsupportedMediaType"),
                    "422": r("ValidationFailed")
                }
            }
        }),
    );
    paths.insert(
        "/api/v1/incidents/{number}/events".into(),
        json!({
            "parameters": [p("Number")],
            "post": {
                "operationId": "addIncidentEvent",
                "tags": ["incidents"],
                "summary": "Add an internal note (responder) or a public update for the status page (commander)",
                "description": "A public update with a `status` also moves the incident to it. Private incidents take no public updates (409). The answer's ETag is the incident's new version.",
                "x-required-role": "responder",
                "parameters": [p("IfMatch")],
                "requestBody": body("NewEvent", true, "The note or update."),
                "responses": {
                    "201": ok("Added.", "TimelineEvent", &["ETag"]),
                    "400": r("BadRequest"),
                    "401": r("Unauthorized"),
                    "403": r("Forbidden"),
                    "404": r("NotFound"),
                    "409": r("Conflict"),
                    "413": r("PayloadTooLarge"),
                    "415": r("UnsupportedMediaType"),
                    "422": r("ValidationFailed")
                }
            }
        }),
    );

    for (path, id, summary) in [
        (
            "/api/v2/summary.json",
            "statuspageSummary",
            "Page status, components, unresolved incidents and maintenances in one",
        ),
        ("/api/v2/status.json", "statuspageStatus", "The overall status indicator and description"),
        ("/api/v2/components.json", "statuspageComponents", "Every public component with its status"),
        ("/api/v2/incidents.json", "statuspageIncidents", "The latest public incidents with their updates"),
        (
            "/api/v2/incidents/unresolved.json",
            "statuspageUnresolvedIncidents",
            "Public incidents not yet resolved",
        ),
        (
            "/api/v2/scheduled-maintenances.json",
            "statuspageMaintenances",
            "The latest scheduled maintenances",
        ),
        (
            "/api/v2/scheduled-maintenances/upcoming.json",
            "statuspageUpcomingMaintenances",
            "Maintenances still to come",
        ),
        (
            "/api/v2/scheduled-maintenances/active.json",
            "statuspageActiveMaintenances",
            "Maintenances in progress",
        ),
    ] {
        paths.insert(path.into(), statuspage(id, summary));
    }

    let mut parameters = serde_json::Map::new();
    parameters.insert(
        "Number".into(),
        json!({"name": "number", "in": "path", "required": true, "description": "The incident number, `42` or `INC-42`.",
            "schema": {"type": "string", "pattern": "^([Ii][Nn][Cc]-)?[0-9]+$", "examples": ["42", "INC-42"]}}),
    );
    parameters.insert(
        "IfMatch".into(),
        json!({"name": "If-Match", "in": "header", "required": false,
            "description": "The version you last saw, as an entity tag (`\"3\"`). Same as `version` in the body; if both are sent they must agree.",
            "schema": {"type": "string", "pattern": super::request::IF_MATCH_PATTERN, "examples": ["\"3\""]}}),
    );
    parameters.insert(
        "Status".into(),
        json!({"name": "status", "in": "query", "description": "`open`, `resolved` or one status.", "schema": {"type": "string", "enum": status_filter}}),
    );
    parameters.insert(
        "SeverityFilter".into(),
        json!({"name": "severity", "in": "query", "schema": {"$ref": "#/components/schemas/SeverityInput"}}),
    );
    parameters.insert(
        "Commander".into(),
        json!({"name": "commander", "in": "query", "description": "The commander's e-mail address.", "schema": {"type": "string", "format": "email"}}),
    );
    parameters.insert(
        "From".into(),
        json!({"name": "from", "in": "query", "description": "Started at or after (RFC 3339).", "schema": {"type": "string", "format": "date-time"}}),
    );
    parameters.insert(
        "Until".into(),
        json!({"name": "until", "in": "query", "description": "Started before (RFC 3339).", "schema": {"type": "string", "format": "date-time"}}),
    );
    parameters.insert(
        "Q".into(),
        json!({"name": "q", "in": "query", "description": "Words that must all appear in the title or summary.", "schema": text(MAX_QUERY_TEXT)}),
    );
    parameters.insert(
        "Limit".into(),
        json!({"name": "limit", "in": "query", "description": "Incidents per page.", "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}}),
    );
    parameters.insert(
        "Cursor".into(),
        json!({"name": "cursor", "in": "query", "description": "Opaque: `next_cursor` from the previous page.", "schema": {"type": "string", "pattern": crate::db::incidents::Cursor::PATTERN}}),
    );

    let mut responses = serde_json::Map::new();
    responses.insert(
        "BadRequest".into(),
        json!(problem("Malformed JSON (the detail names the line and column), an empty patch, or invalid query parameters (each named in `errors`).")),
    );
    responses.insert(
        "Unauthorized".into(),
        json!({
            "description": "No token, or the token is unknown, expired or revoked.",
            "headers": {"WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}},
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        }),
    );
    responses.insert("Forbidden".into(), json!(problem("The token's role is too low for this call.")));
    responses.insert("NotFound".into(), json!(problem("No incident has this number.")));
    responses.insert(
        "Conflict".into(),
        json!(problem("The incident changed since the version you sent (the detail says what changed), or the action does not fit its state (acknowledging a resolved or already acknowledged incident, a public update on a private incident).")),
    );
    responses.insert("PayloadTooLarge".into(), json!(problem("The body is larger than the portal's limit.")));
    responses.insert("UnsupportedMediaType".into(), json!(problem("The body is not `application/json`.")));
    responses.insert(
        "ValidationFailed".into(),
        json!(problem("Some fields are invalid or unknown; each is named in `errors`.")),
    );

    let mut schemas = serde_json::Map::new();
    schemas.insert(
        "Severity".into(),
        json!({"type": "string", "enum": severities, "description": "P0 system down, P1 critical feature, P2 major, P3 minor."}),
    );
    let mut severity_input: Vec<String> = severities.iter().map(|s| (*s).to_owned()).collect();
    severity_input.extend(severities.iter().map(|s| s.to_ascii_lowercase()));
    schemas.insert(
        "SeverityInput".into(),
        json!({"type": "string", "enum": severity_input, "description": "A severity as `P1` or `p1`."}),
    );
    schemas.insert("IncidentStatus".into(), json!({"type": "string", "enum": statuses}));
    schemas.insert("Impact".into(), json!({"type": "string", "enum": impacts}));
    schemas.insert("TimelineKind".into(), json!({"type": "string", "enum": kinds}));
    schemas.insert("Role".into(), json!({"type": "string", "enum": roles}));
    schemas.insert(
        "Person".into(),
        json!({
            "type": "object",
            "required": ["email", "display_name"],
            "properties": {"email": {"type": "string", "format": "email"}, "display_name": {"type": "string"}}
        }),
    );
    schemas.insert(
        "Sla".into(),
        json!({
            "type": "object",
            "required": ["respond_by", "escalate_by", "acknowledged_within_sla", "response_overdue"],
            "properties": {
                "respond_by": {"type": "string", "format": "date-time", "description": "Acknowledge deadline."},
                "escalate_by": {"type": "string", "format": "date-time", "description": "Escalation to a manager if still unresolved."},
                "acknowledged_within_sla": {"type": ["boolean", "null"], "description": "`null` until acknowledged."},
                "response_overdue": {"type": "boolean", "description": "Not acknowledged and past `respond_by`."}
            }
        }),
    );
    schemas.insert(
        "IncidentSummary".into(),
        json!({
            "type": "object",
            "required": ["number", "reference", "url", "html_url", "title", "summary", "severity", "status", "private", "security",
                "started_at", "detected_at", "acknowledged_at", "resolved_at", "commander", "comms_lead", "scribe",
                "labels", "sla", "version", "created_at", "updated_at"],
            "properties": {
                "number": {"type": "integer", "format": "int64", "minimum": 1, "examples": [42]},
                "reference": {"type": "string", "examples": ["INC-42"]},
                "url": {"type": "string", "examples": ["/api/v1/incidents/42"]},
                "html_url": {"type": "string", "examples": ["/incidents/42"]},
                "title": {"type": "string", "maxLength": Title::MAX_CHARS},
                "summary": {"type": "string", "description": "Markdown."},
                "severity": {"$ref": "#/components/schemas/Severity"},
                "status": {"$ref": "#/components/schemas/IncidentStatus"},
                "private": {"type": "boolean", "description": "Private incidents never reach the status page."},
                "security": {"type": "boolean"},
                "started_at": timestamp,
                "detected_at": timestamp,
                "acknowledged_at": nullable_timestamp,
                "resolved_at": nullable_timestamp,
                "commander": {"oneOf": [{"$ref": "#/components/schemas/Person"}, {"type": "null"}]},
                "comms_lead": {"oneOf": [{"$ref": "#/components/schemas/Person"}, {"type": "null"}]},
                "scribe": {"oneOf": [{"$ref": "#/components/schemas/Person"}, {"type": "null"}]},
                "labels": {"type": "array", "items": {"type": "string"}},
                "sla": {"$ref": "#/components/schemas/Sla"},
                "version": {"type": "integer", "format": "int32", "minimum": 1, "maximum": i32::MAX, "description": "Bumped by every state change (status, severity, roles, components, details); appends (notes, public updates, links) leave it. Also the ETag."},
                "created_at": timestamp,
                "updated_at": timestamp
            }
        }),
    );
    schemas.insert(
        "Incident".into(),
        json!({
            "allOf": [
                {"$ref": "#/components/schemas/IncidentSummary"},
                {
                    "type": "object",
                    "required": ["components", "links", "timeline"],
                    "properties": {
                        "components": {"type": "array", "items": {"$ref": "#/components/schemas/AffectedComponent"}},
                        "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}},
                        "timeline": {"type": "array", "description": "Oldest first.", "items": {"$ref": "#/components/schemas/TimelineEvent"}}
                    }
                }
            ]
        }),
    );
    schemas.insert(
        "AffectedComponent".into(),
        json!({
            "type": "object",
            "required": ["id", "name", "impact"],
            "properties": {"id": {"type": "string", "format": "uuid"}, "name": {"type": "string"}, "impact": {"$ref": "#/components/schemas/Impact"}}
        }),
    );
    schemas.insert(
        "Link".into(),
        json!({
            "type": "object",
            "required": ["id", "kind", "url", "label", "created_at"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "kind": {"type": "string", "enum": crate::incidents::service::LINK_KINDS},
                "url": {"type": "string", "format": "uri"},
                "label": {"type": "string"},
                "created_at": timestamp
            }
        }),
    );
    schemas.insert(
        "TimelineEvent".into(),
        json!({
            "type": "object",
            "required": ["id", "at", "kind", "actor", "description", "body", "public", "public_status", "corrects", "data"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "at": {"type": "string", "format": "date-time", "description": "UTC with milliseconds.", "examples": ["2026-03-01T14:05:06.123Z"]},
                "kind": {"$ref": "#/components/schemas/TimelineKind"},
                "actor": {"type": "string", "description": "Who did it: an e-mail address (with the token's name for API calls), `system` or `cli`."},
                "description": {"type": "string", "description": "One line for people, e.g. \"alice@example.com acknowledged\"."},
                "body": {"type": ["string", "null"], "description": "Markdown as written (notes and public updates). Not HTML-escaped: escape it if you put it in a page."},
                "public": {"type": "boolean", "description": "Shown on the status page."},
                "public_status": {"type": ["string", "null"], "enum": public_statuses.iter().map(|s| json!(s)).chain([Value::Null]).collect::<Vec<_>>()},
                "corrects": {"type": ["string", "null"], "format": "uuid", "description": "The event this one corrects."},
                "data": {"type": "object", "description": "Facts of the event by kind: from/to status or severity, deadlines, role and user, component and impact…"}
            }
        }),
    );
    schemas.insert(
        "IncidentList".into(),
        json!({
            "type": "object",
            "required": ["incidents", "next_cursor"],
            "properties": {
                "incidents": {"type": "array", "items": {"$ref": "#/components/schemas/IncidentSummary"}},
                "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; `null` on the last one."}
            }
        }),
    );
    schemas.insert(
        "DeclareIncident".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["title", "severity"],
            "properties": {
                "title": title_schema(),
                "severity": {"$ref": "#/components/schemas/SeverityInput"},
                "summary": with_description(text(MAX_BODY), "Markdown."),
                "components": {"type": "array", "items": {"$ref": "#/components/schemas/ComponentImpact"}},
                "private": {"type": "boolean", "description": "Defaults to `security`."},
                "security": {"type": "boolean", "default": false},
                "started_at": {"type": "string", "format": "date-time", "description": "Defaults to now; may be up to 90 days in the past."},
                "detected_at": {"type": "string", "format": "date-time", "description": "Defaults to now; not before `started_at`."},
                "labels": {"type": "array", "maxItems": MAX_LABELS, "description": "Trimmed; blank and repeated labels are dropped.",
                    "items": {"type": "string", "maxLength": MAX_LABEL, "pattern": format!("^[^{CONTROLS}]*$")}},
                "commander": {"type": "string", "format": "email", "description": "The commander's e-mail address; defaults to the caller."}
            },
            "examples": [{"title": "API returns 500 on login", "severity": "P1", "components": [{"id": "0193a000-0000-7000-8000-000000000011", "impact": "partial_outage"}]}]
        }),
    );
    schemas.insert(
        "ComponentImpact".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["id", "impact"],
            "properties": {"id": {"type": "string", "format": "uuid"}, "impact": {"$ref": "#/components/schemas/Impact"}}
        }),
    );
    schemas.insert(
        "PatchIncident".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "description": "At least one of severity, status and commander (400 otherwise).",
            "anyOf": [{"required": ["severity"]}, {"required": ["status"]}, {"required": ["commander"]}],
            "properties": {
                "severity": {"$ref": "#/components/schemas/SeverityInput"},
                "status": {"$ref": "#/components/schemas/IncidentStatus"},
                "commander": {"type": "string", "format": "email"},
                "version": version
            }
        }),
    );
    schemas.insert(
        "VersionRequest".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {"version": version}
        }),
    );
    let event_body =
        with_description(required_text(MAX_BODY), "Markdown; raw HTML is shown as text on pages.");
    schemas.insert(
        "ResolveRequest".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "version": version,
                "resolution": with_description(required_text(MAX_BODY), "What fixed it (Markdown), kept on the `resolved` event; not only spaces.")
            }
        }),
    );
    schemas.insert(
        "NewEvent".into(),
        json!({
            "description": "A `note` (internal, needs responder) or a `public_update` (for the status page, needs commander).",
            "oneOf": [{"$ref": "#/components/schemas/NewNote"}, {"$ref": "#/components/schemas/NewPublicUpdate"}]
        }),
    );
    schemas.insert(
        "NewNote".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["kind", "body"],
            "properties": {
                "kind": {"const": "note"},
                "body": event_body.clone(),
                "version": append_version.clone()
            }
        }),
    );
    schemas.insert(
        "NewPublicUpdate".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["kind", "body"],
            "properties": {
                "kind": {"const": "public_update"},
                "body": event_body,
                "status": {"type": "string", "enum": public_statuses, "description": "The status to announce (and move to)."},
                "version": append_version
            }
        }),
    );
    schemas.insert(
        "Me".into(),
        json!({
            "type": "object",
            "required": ["email", "display_name", "role", "authenticated_by", "token_name"],
            "properties": {
                "email": {"type": "string", "format": "email"},
                "display_name": {"type": "string"},
                "role": {"$ref": "#/components/schemas/Role"},
                "authenticated_by": {"type": "string", "enum": ["token", "session"]},
                "token_name": {"type": ["string", "null"]}
            }
        }),
    );
    schemas.insert(
        "FieldError".into(),
        json!({
            "type": "object",
            "required": ["field", "message"],
            "properties": {
                "field": {"type": "string", "description": "The field or parameter, e.g. `title`, `components[0].impact`, `limit`, `If-Match`.", "examples": ["components[0].impact"]},
                "message": {"type": "string"}
            }
        }),
    );
    schemas.insert(
        "Problem".into(),
        json!({
            "type": "object",
            "description": "RFC 9457 problem details.",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer", "format": "int32", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"},
                "instance": {"type": "string", "description": "The request path."},
                "request_id": {"type": "string", "description": "Quote it when reporting a problem."},
                "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}}
            }
        }),
    );

    let maintenance = super::maintenance::openapi::fragment();
    paths.extend(maintenance.paths);
    add_links(&mut paths, &incident_links());
    add_links(&mut paths, &super::maintenance::openapi::links());
    parameters.extend(maintenance.parameters);
    responses.extend(maintenance.responses);
    schemas.extend(maintenance.schemas);
    let runbooks = super::runbooks::openapi::fragment();
    paths.extend(runbooks.paths);
    parameters.extend(runbooks.parameters);
    responses.extend(runbooks.responses);
    schemas.extend(runbooks.schemas);
    let alerting = crate::alerts::openapi::fragment();
    paths.extend(alerting.paths);
    schemas.extend(alerting.schemas);
    let managers = super::managers::openapi::fragment();
    paths.extend(managers.paths);
    schemas.extend(managers.schemas);

    let mut document = json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "TwisterLab Ops Portal API",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Declare, follow and run incidents from scripts, chat bots and alerting.",
            "description": "Every `/api/v1` call except this document needs `Authorization: Bearer <token>` with an API token (from the account page, or `twisterlab-portal create-token`). A token acts with the lower of its own role and its owner's: viewers read, responders acknowledge and add notes, commanders do everything else.\n\nErrors are RFC 9457 problem details (`application/problem+json`); invalid fields are listed in `errors`.\n\nOptimistic concurrency: every incident has a `version` (also its `ETag`). Send it back as `version` in the body or as `If-Match: \"<version>\"`; if someone changed the incident in between, nothing is applied and the answer is 409 with what changed. Without a version, changes apply in the order they arrive and none is lost.\n\nTimes are RFC 3339; the API writes them in UTC with milliseconds."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [
            {"name": "incidents", "description": "Incidents, their SLA clocks and their timeline."},
            {"name": "account", "description": "The caller."},
            {"name": "meta", "description": "This description."},
            {"name": "status page", "description": "The public, Statuspage-compatible status API (no token)."},
            maintenance.tag,
            runbooks.tag,
            alerting.tag,
            managers.tag
        ],
        "paths": Value::Object(paths),
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (`tlp_…`). Cookies are ignored under /api/."
                }
            },
            "headers": {
                "ETag": {"description": "An entity tag: for incidents their version (e.g. `\"3\"`, send it back in If-Match); for status documents their content.", "schema": {"type": "string"}},
                "Location": {"description": "Where the new incident lives in this API.", "schema": {"type": "string", "examples": ["/api/v1/incidents/42"]}},
                "WWW-Authenticate": {"description": "`Bearer realm=\"twisterlab\"`.", "schema": {"type": "string"}}
            },
            "parameters": Value::Object(parameters),
            "responses": Value::Object(responses),
            "schemas": Value::Object(schemas)
        }
    });
    forbid_nul_in_requests(&mut document);
    document
}

/// No text the API reads may contain U+0000 (`request::parse_json` refuses it, and PostgreSQL
/// could not store it): every string schema a request body uses gets a pattern saying so,
/// unless it already has a pattern, a format, an enum or a constant that excludes it.
fn forbid_nul_in_requests(document: &mut Value) {
    fn names_referenced(value: &Value, out: &mut std::collections::BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref")
                    && let Some(name) = r.strip_prefix("#/components/schemas/")
                {
                    out.insert(name.to_owned());
                }
                map.values().for_each(|v| names_referenced(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| names_referenced(v, out)),
            _ => {}
        }
    }
    fn forbid(schema: &mut Value) {
        let Value::Object(map) = schema else { return };
        let is_string = map.get("type") == Some(&json!("string"));
        let constrained = ["pattern", "format", "enum", "const"].iter().any(|k| map.contains_key(*k));
        if is_string && !constrained {
            map.insert("pattern".into(), json!("^[^\\u0000]*$"));
        }
        for key in ["properties"] {
            if let Some(Value::Object(props)) = map.get_mut(key) {
                props.values_mut().for_each(forbid);
            }
        }
        for key in ["items", "additionalProperties"] {
            if let Some(v) = map.get_mut(key) {
                forbid(v);
            }
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(Value::Array(items)) = map.get_mut(key) {
                items.iter_mut().for_each(forbid);
            }
        }
    }
    // The schemas request bodies reach, following references to the end.
    let mut reached = std::collections::BTreeSet::new();
    if let Some(paths) = document.get("paths") {
        for item in paths.as_object().into_iter().flat_map(|m| m.values()) {
            for op in item.as_object().into_iter().flat_map(|m| m.values()) {
                if let Some(body) = op.get("requestBody") {
                    names_referenced(body, &mut reached);
                }
            }
        }
    }
    loop {
        let mut next = reached.clone();
        for name in &reached {
            names_referenced(&document["components"]["schemas"][name], &mut next);
        }
        if next.len() == reached.len() {
            break;
        }
        reached = next;
    }
    for name in &reached {
        forbid(&mut document["components"]["schemas"][name]);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::http::Method;

    use super::*;
    use crate::auth::Access;

    const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

    /// An axum path in OpenAPI form: `{*rest}` becomes `{rest}`.
    fn openapi_path(path: &str) -> String {
        path.replace("{*", "{")
    }

    fn operations(doc: &Value) -> BTreeSet<(String, String)> {
        let paths = doc["paths"].as_object().expect("paths is an object");
        paths
            .iter()
            .flat_map(|(path, item)| {
                METHODS
                    .iter()
                    .filter(|m| item.get(**m).is_some())
                    .map(move |m| ((*m).to_owned(), path.clone()))
            })
            .collect()
    }

    #[test]
    fn every_api_route_is_documented_and_every_documented_operation_is_routed() {
        let (specs, _) = crate::app::routes().into_parts();
        let routed: BTreeSet<(String, String)> = specs
            .iter()
            .filter(|s| s.path.starts_with("/api/"))
            .map(|s| (s.method.as_str().to_ascii_lowercase(), openapi_path(s.path)))
            .collect();
        let documented = operations(&document());
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from openapi.json (add them in api/openapi.rs): {undocumented:?}"
        );
        assert!(unrouted.is_empty(), "openapi.json describes operations no route serves: {unrouted:?}");
        assert!(routed.len() >= 9, "{routed:?}");
    }

    #[test]
    fn each_operation_states_the_access_its_route_enforces() {
        let doc = document();
        let (specs, _) = crate::app::routes().into_parts();
        for spec in specs.iter().filter(|s| s.path.starts_with("/api/")) {
            let method = spec.method.as_str().to_ascii_lowercase();
            let op = &doc["paths"][openapi_path(spec.path)][&method];
            let responses = op["responses"].as_object().expect("responses");
            match spec.access {
                Access::Public => {
                    assert_eq!(op["security"], json!([]), "{method} {} is public", spec.path);
                    assert!(op["x-required-role"].is_null(), "{method} {}", spec.path);
                }
                Access::Role(role) => {
                    assert!(
                        op.get("security").is_none(),
                        "{method} {} must use the document's bearer security",
                        spec.path
                    );
                    assert_eq!(op["x-required-role"], json!(role.as_str()), "{method} {}", spec.path);
                    for code in ["401", "403"] {
                        assert!(
                            responses.contains_key(code),
                            "{method} {} does not document {code}",
                            spec.path
                        );
                    }
                }
            }
            if spec.method != Method::GET {
                for code in ["401", "403", "415", "422"] {
                    assert!(responses.contains_key(code), "{method} {} does not document {code}", spec.path);
                }
            }
            let success = responses.keys().filter(|k| k.starts_with('2')).count();
            assert_eq!(success, 1, "{method} {} needs exactly one success response", spec.path);
            assert!(op["operationId"].is_string(), "{method} {} has no operationId", spec.path);
        }
    }

    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_every_component_is_used() {
        let doc = document();
        let mut found = vec![];
        refs(&doc, &mut found);
        for r in &found {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("{r} is not a local reference"));
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
        let used: BTreeSet<&str> = found.iter().copied().collect();
        for section in ["schemas", "parameters", "responses", "headers"] {
            for name in doc["components"][section].as_object().expect("section").keys() {
                let r = format!("#/components/{section}/{name}");
                assert!(used.contains(r.as_str()), "{r} is never used");
            }
        }
    }

    #[test]
    fn every_link_leads_to_an_operation_and_fills_exactly_its_path_parameters() {
        let doc = document();
        let ids: BTreeSet<(String, String)> = operations(&doc)
            .into_iter()
            .map(|(method, path)| {
                let id =
                    doc["paths"][&path][&method]["operationId"].as_str().expect("operationId").to_owned();
                (id, path)
            })
            .collect();
        let mut count = 0;
        for (method, path) in operations(&doc) {
            let responses = doc["paths"][&path][&method]["responses"].as_object().expect("responses");
            for response in responses.values() {
                for (name, link) in response["links"].as_object().into_iter().flatten() {
                    count += 1;
                    let target = link["operationId"].as_str().expect("operationId");
                    let (_, target_path) = ids
                        .iter()
                        .find(|(id, _)| id == target)
                        .unwrap_or_else(|| panic!("{method} {path}: link {name} leads to unknown {target}"));
                    let wanted: BTreeSet<&str> =
                        target_path.split('{').skip(1).filter_map(|s| s.split('}').next()).collect();
                    let given: BTreeSet<&str> = link["parameters"]
                        .as_object()
                        .expect("parameters")
                        .keys()
                        .map(String::as_str)
                        .collect();
                    assert_eq!(given, wanted, "{method} {path}: link {name}");
                }
            }
        }
        assert!(count >= 20, "the stateful run needs the links ({count})");
    }

    /// Every string a request body can hold refuses U+0000, as `request::parse_json` does, and
    /// every version is an `int32` from 1, as the handlers read it.
    #[test]
    fn request_strings_refuse_nul_and_versions_are_int32() {
        fn walk(schema: &Value, at: &str) {
            let Value::Object(map) = schema else { return };
            if map.get("type") == Some(&json!("string")) {
                // A pattern excludes U+0000 by naming it, or by allowing only listed characters
                // (anchored, no `.` and no negated class), as slugs do.
                let allow_list =
                    |p: &str| p.starts_with('^') && p.ends_with('$') && !p.contains('.') && !p.contains("[^");
                let excluded = map
                    .get("pattern")
                    .and_then(Value::as_str)
                    .is_some_and(|p| p.contains("\\u0000") || allow_list(p))
                    || ["format", "enum", "const"].iter().any(|k| map.contains_key(*k));
                assert!(excluded, "{at}: a request string that lets U+0000 through");
            }
            if let Some(Value::Object(props)) = map.get("properties") {
                for (name, prop) in props {
                    // Alertmanager's `version` is its payload format ("4"), not an entity version.
                    if name == "version" && prop["type"] != "string" {
                        assert_eq!(prop["format"], "int32", "{at}.version");
                        assert_eq!(prop["minimum"], 1, "{at}.version");
                        assert_eq!(prop["maximum"], i32::MAX, "{at}.version");
                    }
                    walk(prop, &format!("{at}.{name}"));
                }
            }
            if let Some(items) = map.get("items") {
                walk(items, &format!("{at}[]"));
            }
        }
        let doc = document();
        let mut checked = 0;
        for (method, path) in operations(&doc) {
            let Some(body) = doc["paths"][&path][&method].get("requestBody") else { continue };
            let reference = body["content"]["application/json"]["schema"]["$ref"].as_str().expect("a $ref");
            let schema = doc.pointer(reference.trim_start_matches('#')).expect("resolves");
            let variants: Vec<&Value> = match schema.get("oneOf").and_then(Value::as_array) {
                Some(list) => list
                    .iter()
                    .map(|v| match v.get("$ref").and_then(Value::as_str) {
                        Some(r) => doc.pointer(r.trim_start_matches('#')).expect("resolves"),
                        None => v,
                    })
                    .collect(),
                None => vec![schema],
            };
            for variant in variants {
                assert_eq!(variant["additionalProperties"], false, "{method} {path}: additionalProperties");
                walk(variant, &format!("{method} {path}"));
                checked += 1;
            }
        }
        assert!(checked >= 15, "{checked}");
    }

    #[test]
    fn it_is_openapi_3_1_with_a_bearer_scheme_and_unique_operation_ids() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        assert_eq!(doc["security"], json!([{"bearer": []}]));
        let mut ids = BTreeSet::new();
        for (method, path) in operations(&doc) {
            let id = doc["paths"][&path][&method]["operationId"].as_str().expect("operationId").to_owned();
            assert!(ids.insert(id.clone()), "operationId {id} is used twice");
            // Every {param} in the path is declared as a path parameter.
            for name in path.split('{').skip(1).filter_map(|s| s.split('}').next()) {
                let declared = doc["paths"][&path]["parameters"].as_array().into_iter().flatten().any(|p| {
                    let p =
                        p["$ref"].as_str().and_then(|r| doc.pointer(r.trim_start_matches('#'))).unwrap_or(p);
                    p["in"] == "path" && p["name"] == name && p["required"] == true
                });
                assert!(declared, "{path}: {{{name}}} is not declared as a required path parameter");
            }
        }
        let problem = &doc["components"]["schemas"]["Problem"]["properties"];
        for field in ["type", "title", "status", "detail", "instance", "errors"] {
            assert!(problem.get(field).is_some(), "Problem lacks {field}");
        }
    }
}
