//! The OpenAPI description of `/api/v1/runbooks` and `/api/v1/runs`, merged into the API's
//! document (`api::openapi`). Enums and limits come from the domain.

use serde_json::{Map, Value, json};
use twisterlab_domain::runbook::run::{MAX_FAILURE_CHARS, Reason, RunStatus, StepStatus};
use twisterlab_domain::runbook::{ActionKind, SectionKind, Slug};

use super::MAX_NOTE;

/// The runbooks area's part of the document.
pub(crate) struct Fragment {
    pub paths: Map<String, Value>,
    pub parameters: Map<String, Value>,
    pub responses: Map<String, Value>,
    pub schemas: Map<String, Value>,
    pub tag: Value,
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

fn p(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

fn ok(description: &str, schema_value: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema_value}}})
}

fn problem(description: &str) -> Value {
    json!({"description": description, "content": {"application/problem+json": {"schema": schema("Problem")}}})
}

/// The slugs of the shipped runbooks, the only ones there are.
fn shipped_slugs() -> Vec<&'static str> {
    twisterlab_domain::runbook::SHIPPED_FILES.iter().filter_map(|f| f.name.strip_suffix(".toml")).collect()
}

const KEY_PATTERN: &str = "^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$";

pub(crate) fn fragment() -> Fragment {
    let mut paths = Map::new();
    paths.insert(
        "/api/v1/runbooks".into(),
        json!({"get": {
            "operationId": "listRunbooks", "tags": ["runbooks"], "summary": "Every runbook, latest revision",
            "x-required-role": "viewer",
            "responses": {
                "200": ok("The runbooks, by title.", json!({"type": "array", "items": schema("RunbookSummary")})),
                "401": r("Unauthorized"), "403": r("Forbidden")
            }
        }}),
    );
    paths.insert(
        "/api/v1/runbooks/{slug}".into(),
        json!({"get": {
            "operationId": "getRunbook", "tags": ["runbooks"], "summary": "One runbook's latest revision with its sections and steps",
            "x-required-role": "viewer",
            "parameters": [p("RunbookSlug")],
            "responses": {
                "200": ok("The runbook.", schema("Runbook")),
                "401": r("Unauthorized"), "403": r("Forbidden"), "404": r("RunbookNotFound")
            }
        }}),
    );
    paths.insert(
        "/api/v1/incidents/{number}/runs".into(),
        json!({
            "get": {
                "operationId": "listIncidentRuns", "tags": ["runbooks"], "summary": "The guided runs on an incident, newest first",
                "x-required-role": "viewer",
                "parameters": [p("Number")],
                "responses": {
                    "200": ok("The runs.", json!({"type": "array", "items": schema("Run")})),
                    "401": r("Unauthorized"), "403": r("Forbidden"), "404": r("RunbookNotFound")
                }
            },
            "post": {
                "operationId": "startRun", "tags": ["runbooks"], "summary": "Start a runbook's latest revision as a guided run on the incident",
                "description": "Every step starts pending; a `runbook_step` event goes on the timeline.",
                "x-required-role": "commander",
                "parameters": [p("Number")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": schema("StartRun")}}},
                "responses": {
                    "201": {"description": "The run.", "headers": {"Location": {"description": "The run in this API.", "schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": schema("Run")}}},
                    "400": r("BadRequest"), "401": r("Unauthorized"), "403": r("Forbidden"), "404": r("RunbookNotFound"),
                    "413": r("PayloadTooLarge"), "415": r("UnsupportedMediaType"), "422": r("ValidationFailed")
                }
            }
        }),
    );
    paths.insert(
        "/api/v1/runs/{id}".into(),
        json!({"get": {
            "operationId": "getRun", "tags": ["runbooks"], "summary": "A guided run with its steps",
            "x-required-role": "viewer",
            "parameters": [p("RunId")],
            "responses": {
                "200": ok("The run.", schema("Run")),
                "401": r("Unauthorized"), "403": r("Forbidden"), "404": r("RunbookNotFound")
            }
        }}),
    );
    paths.insert(
        "/api/v1/runs/{id}/steps/{key}".into(),
        json!({"post": {
            "operationId": "changeRunStep", "tags": ["runbooks"], "summary": "Complete, skip or fail a step",
            "description": "Completing or failing needs the step's role (responder; commander for steps with changing actions; manager for isolating a deployment); skipping needs a responder. Send the step's `version` to be sure nobody changed it in between: if someone did, or the step is already done or skipped, nothing is applied and the answer is 409 with the step's current state. Actions that talk to Kubernetes run from the run page, behind their dry run and confirmation.",
            "x-required-role": "responder",
            "parameters": [p("RunId"), p("StepKey")],
            "requestBody": {"required": true, "content": {"application/json": {"schema": schema("StepChange")}}},
            "responses": {
                "200": ok("The run after the change.", schema("Run")),
                "400": r("BadRequest"), "401": r("Unauthorized"), "403": r("Forbidden"), "404": r("RunbookNotFound"),
                "409": r("RunConflict"), "413": r("PayloadTooLarge"), "415": r("UnsupportedMediaType"), "422": r("ValidationFailed")
            }
        }}),
    );

    // Path parameters belong to the path item, shared by its operations.
    for item in paths.values_mut() {
        let Some(ops) = item.as_object_mut() else { continue };
        let mut shared = None;
        for op in ops.values_mut() {
            if let Some(params) = op.as_object_mut().and_then(|o| o.remove("parameters")) {
                shared = Some(params);
            }
        }
        if let Some(params) = shared {
            ops.insert("parameters".into(), params);
        }
    }

    let mut parameters = Map::new();
    parameters.insert(
        "RunbookSlug".into(),
        json!({"name": "slug", "in": "path", "required": true, "description": "The runbook's slug.",
               "schema": {"type": "string", "pattern": KEY_PATTERN, "maxLength": Slug::MAX_LEN, "examples": ["api-pods-crashing"]}}),
    );
    parameters.insert(
        "RunId".into(),
        json!({"name": "id", "in": "path", "required": true, "description": "The run's id.", "schema": {"type": "string", "format": "uuid"}}),
    );
    parameters.insert(
        "StepKey".into(),
        json!({"name": "key", "in": "path", "required": true, "description": "The step's key in the runbook.",
               "schema": {"type": "string", "pattern": KEY_PATTERN, "maxLength": Slug::MAX_LEN, "examples": ["check-pod-status"]}}),
    );

    let mut responses = Map::new();
    responses.insert(
        "RunbookNotFound".into(),
        problem("No runbook, run, step or incident has this name, id or number."),
    );
    responses.insert(
        "RunConflict".into(),
        problem("The step changed since the version you sent, is already done or skipped, or the run is closed; the detail gives the step's current state."),
    );

    let step_status: Vec<&str> = StepStatus::ALL.iter().map(|s| s.as_str()).collect();
    let run_status: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
    let section_kinds: Vec<&str> = SectionKind::ALL.iter().map(|s| s.as_str()).collect();
    let action_kinds: Vec<&str> = ActionKind::ALL.iter().map(|s| s.as_str()).collect();
    let nullable_string = json!({"type": ["string", "null"]});
    let mut schemas = Map::new();
    schemas.insert(
        "RunbookSummary".into(),
        json!({"type": "object", "required": ["slug", "title", "revision", "symptoms", "url"], "properties": {
            "slug": {"type": "string", "pattern": KEY_PATTERN},
            "title": {"type": "string"},
            "revision": {"type": "integer", "format": "int64", "minimum": 1},
            "symptoms": {"type": "array", "items": {"type": "string"}},
            "url": {"type": "string"}
        }}),
    );
    let step = json!({"type": "object", "required": ["key", "title"], "properties": {
        "key": {"type": "string", "pattern": KEY_PATTERN},
        "title": {"type": "string"},
        "explanation": {"type": "string", "description": "Markdown."},
        "command": {"type": "string"},
        "action": {"type": "object", "required": ["kind"], "description": "The typed action with its parameters; `editable` names those a person may change.",
                   "properties": {"kind": {"type": "string", "enum": action_kinds}, "editable": {"type": "array", "items": {"type": "string"}}}}
    }});
    let section = json!({"type": "object", "required": ["kind", "title", "steps"], "properties": {
        "kind": {"type": "string", "enum": section_kinds},
        "title": {"type": "string"},
        "cause": {"type": "string"},
        "steps": {"type": "array", "items": step}
    }});
    schemas.insert(
        "Runbook".into(),
        json!({"type": "object", "required": ["slug", "revision", "title", "summary", "symptoms", "suggested_by", "sections", "url"], "properties": {
            "url": {"type": "string"},
            "slug": {"type": "string", "pattern": KEY_PATTERN},
            "revision": {"type": "integer", "format": "int64", "minimum": 1},
            "title": {"type": "string"},
            "summary": {"type": "string", "description": "Markdown."},
            "symptoms": {"type": "array", "items": {"type": "string"}},
            "suggested_by": {"type": "array", "items": {"type": "string"}, "description": "Signal patterns (`pod_crash_loop:twisterlab-api`)."},
            "sections": {"type": "array", "items": section}
        }}),
    );
    schemas.insert(
        "ActionOutput".into(),
        json!({"type": "object", "required": ["summary", "table"], "properties": {
            "summary": {"type": "string"},
            "table": {"oneOf": [{"type": "null"}, {"type": "object", "required": ["columns", "rows"], "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "rows": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}
            }}]}
        }}),
    );
    schemas.insert(
        "RunStep".into(),
        json!({"type": "object", "required": ["key", "status", "reason", "message", "note", "by", "at", "output", "version"], "properties": {
            "key": {"type": "string", "pattern": KEY_PATTERN},
            "status": {"type": "string", "enum": step_status},
            "reason": nullable_string.clone(),
            "message": nullable_string.clone(),
            "note": nullable_string.clone(),
            "by": nullable_string.clone(),
            "at": {"type": ["string", "null"], "format": "date-time"},
            "output": {"oneOf": [{"type": "null"}, schema("ActionOutput")]},
            "version": {"type": "integer", "format": "int32", "minimum": 1, "description": "Send it back in a step change."}
        }}),
    );
    schemas.insert(
        "Run".into(),
        json!({"type": "object", "required": ["id", "url", "html_url", "runbook", "revision", "incident", "maintenance_window", "status", "closed_reason", "started_by", "started_at", "steps"], "properties": {
            "id": {"type": "string", "format": "uuid"},
            "url": {"type": "string"},
            "html_url": {"type": "string"},
            "runbook": {"type": "string", "pattern": KEY_PATTERN},
            "revision": {"type": "integer", "format": "int64", "minimum": 1, "description": "The runbook revision the run started with."},
            "incident": {"type": ["integer", "null"], "format": "int64"},
            "maintenance_window": {"type": ["string", "null"], "format": "uuid"},
            "status": {"type": "string", "enum": run_status},
            "closed_reason": nullable_string.clone(),
            "started_by": {"type": "string"},
            "started_at": {"type": "string", "format": "date-time"},
            "steps": {"type": "array", "items": schema("RunStep")}
        }}),
    );
    schemas.insert(
        "StartRun".into(),
        json!({"type": "object", "additionalProperties": false, "required": ["runbook"], "properties": {
            "runbook": {"type": "string", "enum": shipped_slugs(), "description": "The runbook's slug (the shipped runbooks; admins edit them, they add none)."}
        }}),
    );
    schemas.insert(
        "StepChange".into(),
        {
            let version = crate::api::openapi::version_schema("The step's version you saw; another current version is 409.");
            let note = json!({"type": ["string", "null"], "maxLength": MAX_NOTE, "pattern": "^[^\\u0000]*$"});
            let variant = |change: &str, required: &str, field: Option<(&str, Value)>| {
                let mut properties = Map::new();
                properties.insert("change".into(), json!({"const": change}));
                properties.insert("version".into(), version.clone());
                properties.insert("note".into(), note.clone());
                let mut needed = vec!["change"];
                if let Some((name, schema)) = field {
                    properties.insert(name.into(), schema);
                    needed.push(required);
                }
                json!({"type": "object", "additionalProperties": false, "required": needed, "properties": properties})
            };
            let reason = crate::api::openapi::with_description(
                crate::api::openapi::trimmed_text(true, Reason::MAX_CHARS, "\\u0000"),
                "Why the step is skipped (1 to 1000 characters after trimming).",
            );
            let message = crate::api::openapi::with_description(
                crate::api::openapi::trimmed_text(true, MAX_FAILURE_CHARS, "\\u0000"),
                "What went wrong (1 to 4000 characters after trimming).",
            );
            json!({
                "description": "`complete` a step, `skip` it with a reason, or `fail` it with a message.",
                "oneOf": [
                    variant("complete", "", None),
                    variant("skip", "reason", Some(("reason", reason))),
                    variant("fail", "message", Some(("message", message)))
                ]
            })
        },
    );

    Fragment {
        paths,
        parameters,
        responses,
        schemas,
        tag: json!({"name": "runbooks", "description": "Guided runbooks and their runs on incidents and maintenance windows."}),
    }
}
