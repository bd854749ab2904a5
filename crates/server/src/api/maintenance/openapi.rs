//! The OpenAPI description of `/api/v1/maintenance`, merged into the API's document
//! (`api::openapi`). Enums and limits come from the domain and the use cases, so they cannot
//! drift from what the handlers accept.

use serde_json::{Map, Value, json};
use twisterlab_domain::incident::Title;
use twisterlab_domain::maintenance::{Checklist, ItemKey, PublicStatus, Reason, WindowState};

use crate::api::openapi::{
    Link, required_text, text, title_schema, trimmed_text, version_schema, with_description,
};
use crate::maintenance::service::MAX_BODY;

/// The maintenance area's part of the document.
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

fn ok(description: &str, name: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema(name)}}})
}

fn window_ok(description: &str) -> Value {
    json!({
        "description": description,
        "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
        "content": {"application/json": {"schema": schema("MaintenanceWindowDetail")}}
    })
}

fn body(name: &str, required: bool, description: &str) -> Value {
    json!({"required": required, "description": description, "content": {"application/json": {"schema": schema(name)}}})
}

/// The errors every state-changing operation may answer with.
fn change_errors(conflict: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("400".into(), r("BadRequest"));
    m.insert("401".into(), r("Unauthorized"));
    m.insert("403".into(), r("Forbidden"));
    m.insert("404".into(), r("MaintenanceNotFound"));
    if conflict {
        m.insert("409".into(), r("MaintenanceConflict"));
    }
    m.insert("413".into(), r("PayloadTooLarge"));
    m.insert("415".into(), r("UnsupportedMediaType"));
    m.insert("422".into(), r("ValidationFailed"));
    m
}

fn post(
    id: &str,
    summary: &str,
    description: &str,
    role: &str,
    request: Value,
    success: (&str, Value),
    conflict: bool,
) -> Value {
    let mut responses = change_errors(conflict);
    responses.insert(success.0.into(), success.1);
    json!({
        "operationId": id,
        "tags": ["maintenance"],
        "summary": summary,
        "description": description,
        "x-required-role": role,
        "requestBody": request,
        "responses": responses
    })
}

/// The paths, parameters, responses and schemas of `/api/v1/maintenance`.
pub(crate) fn fragment() -> Fragment {
    let states: Vec<&str> = WindowState::ALL.iter().map(|s| s.as_str()).collect();
    let public: Vec<&str> = PublicStatus::ALL.iter().map(|s| s.as_str()).collect();
    let timestamp = json!({"type": "string", "format": "date-time"});
    let nullable_timestamp = json!({"type": ["string", "null"], "format": "date-time"});
    let version = version_schema(
        "The window version you last saw; if it changed since, nothing is applied and the answer is 409.",
    );
    let reason = with_description(
        trimmed_text(false, Reason::MAX_CHARS, "\\u0000"),
        "A written reason, up to 2000 characters once trimmed; needed only when the window's state asks for it (409 naming the field otherwise).",
    );

    let mut paths = Map::new();
    paths.insert(
        "/api/v1/maintenance".into(),
        json!({
            "get": {
                "operationId": "listMaintenanceWindows",
                "tags": ["maintenance"],
                "summary": "Maintenance windows: every one not finished and the latest finished ones",
                "x-required-role": "viewer",
                "responses": {
                    "200": ok("The windows, latest planned start first.", "MaintenanceWindowList"),
                    "401": r("Unauthorized"),
                    "403": r("Forbidden")
                }
            },
            "post": {
                "operationId": "createMaintenanceWindow",
                "tags": ["maintenance"],
                "summary": "Plan a maintenance window (a draft with the runbook's checklist)",
                "description": "Refused with field errors: an end before the start, a start in the past, a window longer than the configured maximum (TWISTERLAB_MAINTENANCE_MAX_HOURS), no or unknown components. Nothing is saved then.",
                "x-required-role": "commander",
                "requestBody": body("CreateMaintenanceWindow", true, "The window to plan."),
                "responses": {
                    "201": {
                        "description": "Created as a draft.",
                        "headers": {"Location": {"$ref": "#/components/headers/Location"}, "ETag": {"$ref": "#/components/headers/ETag"}},
                        "content": {"application/json": {"schema": schema("MaintenanceWindowDetail")}}
                    },
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
        "/api/v1/maintenance/{id}".into(),
        json!({
            "parameters": [p("MaintenanceId")],
            "get": {
                "operationId": "showMaintenanceWindow",
                "tags": ["maintenance"],
                "summary": "A window with its checklist, public updates and held-back health signals",
                "x-required-role": "viewer",
                "responses": {
                    "200": window_ok("The window."),
                    "401": r("Unauthorized"),
                    "403": r("Forbidden"),
                    "404": r("MaintenanceNotFound")
                }
            },
            "patch": post("patchMaintenanceWindow", "Edit a draft or reschedule a scheduled window that has not started",
                "The same rules as creating it: an end before the start, a start moved into the past, a window longer than the configured maximum, no or unknown components are field errors (422); fields left out stay as they are. For a scheduled window the 48-hour notice counts from the original announcement: moving the start later is always fine; moving it earlier to less than 48 hours after the announcement needs `short_notice_reason` from a manager or admin (409 naming it when left out, 422 for a commander's), recorded on the window and audited. New overlaps with another window on the same components need `overlap_reason` (409 naming it when left out). A change of a scheduled window's times, components or title posts a public update saying what moved (Rescheduled: now … (was …)), and the calendar feed's SEQUENCE increases. An in-progress, completed, rolled-back or cancelled window is refused (409); so is a stale `version`. Nothing changed: the window is returned as it is.",
                "commander", body("PatchMaintenanceWindow", true, "What to change; at least one of title, description, starts_at, ends_at, components."),
                ("200", window_ok("The edited window.")), true)
        }),
    );
    let actions: [(&str, &str, &str, &str, &str, &str, bool); 7] = [
        (
            "schedule",
            "scheduleMaintenanceWindow",
            "Schedule (announce) a draft",
            "Announces the window on the status page now. The planned start must be at least 48 hours away (exact elapsed time, whatever DST does); less needs `short_notice_reason` from a manager or admin (422 otherwise, naming the notice). A window sharing components and time with another scheduled or in-progress one needs `overlap_reason`. Ticks the checklist's announcement and status-page items.",
            "ScheduleMaintenanceWindow",
            "commander",
            false,
        ),
        (
            "start",
            "startMaintenanceWindow",
            "Start the window",
            "Refused (409) until every checklist item is ticked, unless a manager or admin gives `override_reason` (recorded on the window and in the audit log). The affected components go under maintenance and their probe signals are held back.",
            "StartMaintenanceWindow",
            "commander",
            false,
        ),
        (
            "verify",
            "verifyMaintenanceWindow",
            "Every step is done: the status page says verifying",
            "Only for an in-progress window, once.",
            "VerifyMaintenanceWindow",
            "commander",
            false,
        ),
        (
            "complete",
            "completeMaintenanceWindow",
            "Complete the window",
            "Posts `outcome` (or a standard sentence) publicly; the components leave maintenance, and every held-back signal still failing opens its incident now.",
            "EndMaintenanceWindow",
            "commander",
            false,
        ),
        (
            "rollback",
            "rollBackMaintenanceWindow",
            "Roll the window back",
            "Like complete, but `outcome` is required: it tells the public what was undone.",
            "RollBackMaintenanceWindow",
            "commander",
            true,
        ),
        (
            "cancel",
            "cancelMaintenanceWindow",
            "Cancel a draft or scheduled window",
            "The window leaves the status page and is withdrawn from the calendar feed. A window in progress cannot be cancelled: roll it back.",
            "CancelMaintenanceWindow",
            "commander",
            true,
        ),
        (
            "checklist/{key}/untick",
            "untickMaintenanceChecklistItem",
            "Withdraw the tick of a checklist item",
            "Only before the window starts.",
            "EmptyRequest",
            "responder",
            false,
        ),
    ];
    for (suffix, id, summary, description, request, role, required) in actions {
        let success = if suffix.starts_with("checklist") {
            ("200", ok("The checklist.", "MaintenanceChecklist"))
        } else {
            ("200", window_ok("The changed window."))
        };
        let mut item = json!({
            "parameters": [p("MaintenanceId")],
            "post": post(id, summary, description, role, body(request, required, "See the schema."), success, true)
        });
        if suffix.contains("{key}") {
            item["parameters"] = json!([p("MaintenanceId"), p("ChecklistKey")]);
        }
        paths.insert(format!("/api/v1/maintenance/{{id}}/{suffix}"), item);
    }
    paths.insert(
        "/api/v1/maintenance/{id}/updates".into(),
        json!({
            "parameters": [p("MaintenanceId")],
            "post": post("postMaintenanceUpdate", "Post a public update on a scheduled or in-progress window",
                "Shown on the status page with the window's current status.", "commander",
                body("NewMaintenanceUpdate", true, "The update."), ("201", ok("Posted.", "MaintenanceUpdate")), true)
        }),
    );
    paths.insert(
        "/api/v1/maintenance/{id}/checklist".into(),
        json!({
            "parameters": [p("MaintenanceId")],
            "get": {
                "operationId": "showMaintenanceChecklist",
                "tags": ["maintenance"],
                "summary": "The window's pre-maintenance checklist",
                "x-required-role": "viewer",
                "responses": {
                    "200": ok("The checklist, in order.", "MaintenanceChecklist"),
                    "401": r("Unauthorized"),
                    "403": r("Forbidden"),
                    "404": r("MaintenanceNotFound")
                }
            },
            "post": post("addMaintenanceChecklistItem", "Add a team's own item to the checklist",
                "Only before the window starts.", "responder",
                body("NewMaintenanceChecklistItem", true, "The item."), ("201", ok("The checklist with the new item.", "MaintenanceChecklist")), true)
        }),
    );
    paths.insert(
        "/api/v1/maintenance/{id}/checklist/{key}/tick".into(),
        json!({
            "parameters": [p("MaintenanceId"), p("ChecklistKey")],
            "post": post("tickMaintenanceChecklistItem", "Tick a checklist item with an evidence note",
                "The backup item (and any item that asks) needs `evidence`: where the backup is. Refused (409) on a finished window or an item already ticked.",
                "responder", body("TickMaintenanceChecklistItem", false, "The evidence note."),
                ("200", ok("The checklist.", "MaintenanceChecklist")), true)
        }),
    );

    let mut parameters = Map::new();
    parameters.insert(
        "MaintenanceId".into(),
        json!({"name": "id", "in": "path", "required": true, "description": "The window's id.", "schema": {"type": "string", "format": "uuid"}}),
    );
    parameters.insert(
        "ChecklistKey".into(),
        json!({"name": "key", "in": "path", "required": true, "description": "The item's key: the runbook's (`database_backed_up`…) or `custom_<n>`.",
            "schema": {"type": "string", "pattern": "^[a-z0-9_]{1,64}$", "maxLength": ItemKey::MAX_CHARS, "examples": ["database_backed_up"]}}),
    );

    let mut responses = Map::new();
    responses.insert(
        "MaintenanceNotFound".into(),
        json!({"description": "No maintenance window (or checklist item) has this id.",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}),
    );
    responses.insert(
        "MaintenanceConflict".into(),
        json!({"description": "The action does not fit the window's state (starting a cancelled window, ticking an item of a completed one, starting with unticked items without a manager's override…), or the window changed since the version you sent. The detail says which and what to do.",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}),
    );

    let mut schemas = Map::new();
    schemas.insert("MaintenanceState".into(), json!({"type": "string", "enum": states}));
    schemas.insert(
        "MaintenancePublicStatus".into(),
        json!({"type": "string", "enum": public, "description": "What the status page says (Statuspage's maintenance statuses)."}),
    );
    schemas.insert(
        "MaintenanceApproval".into(),
        json!({"type": "object", "required": ["reason", "by", "at"], "properties": {
            "reason": {"type": "string"}, "by": {"type": ["string", "null"], "description": "Who approved it (display name)."}, "at": timestamp}}),
    );
    schemas.insert(
        "MaintenanceWindow".into(),
        json!({
            "type": "object",
            "required": ["id", "url", "html_url", "title", "description", "state", "public_status", "starts_at", "ends_at",
                "components", "owner", "announced_at", "short_notice_override", "overlap_reason", "checklist_override",
                "checklist_override_items", "started_at", "verifying_at", "ended_at", "run_id", "version", "created_at", "updated_at"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "url": {"type": "string"},
                "html_url": {"type": "string"},
                "title": {"type": "string", "maxLength": Title::MAX_CHARS},
                "description": {"type": "string", "description": "Markdown; public once scheduled."},
                "state": schema("MaintenanceState"),
                "public_status": {"oneOf": [schema("MaintenancePublicStatus"), {"type": "null"}], "description": "`null` for drafts and cancelled windows: not on the status page."},
                "starts_at": timestamp,
                "ends_at": timestamp,
                "components": {"type": "array", "items": {"type": "object", "required": ["id", "name"],
                    "properties": {"id": {"type": "string", "format": "uuid"}, "name": {"type": "string"}}}},
                "owner": schema("Person"),
                "announced_at": nullable_timestamp,
                "short_notice_override": {"oneOf": [schema("MaintenanceApproval"), {"type": "null"}]},
                "overlap_reason": {"type": ["string", "null"]},
                "checklist_override": {"oneOf": [schema("MaintenanceApproval"), {"type": "null"}]},
                "checklist_override_items": {"type": "array", "items": {"type": "string"}, "description": "Keys unticked when the checklist was overridden."},
                "started_at": nullable_timestamp,
                "verifying_at": nullable_timestamp,
                "ended_at": nullable_timestamp,
                "run_id": {"type": ["string", "null"], "format": "uuid", "description": "The guided run of the maintenance runbook, once runs attach to windows."},
                "version": {"type": "integer", "format": "int32", "minimum": 1, "maximum": i32::MAX, "description": "Bumped by every change; also the ETag."},
                "created_at": timestamp,
                "updated_at": timestamp
            }
        }),
    );
    schemas.insert(
        "MaintenanceWindowDetail".into(),
        json!({"allOf": [schema("MaintenanceWindow"), {
            "type": "object",
            "required": ["checklist", "updates", "suppressed_signals"],
            "properties": {
                "checklist": schema("MaintenanceChecklist"),
                "updates": {"type": "array", "description": "Newest first.", "items": schema("MaintenanceUpdate")},
                "suppressed_signals": {"type": "array", "items": schema("SuppressedSignal")}
            }
        }]}),
    );
    schemas.insert(
        "MaintenanceWindowList".into(),
        json!({"type": "object", "required": ["windows"], "properties": {"windows": {"type": "array", "items": schema("MaintenanceWindow")}}}),
    );
    schemas.insert(
        "MaintenanceChecklistItem".into(),
        json!({"type": "object",
            "required": ["key", "label", "evidence_required", "default", "ticked", "ticked_by", "ticked_at", "evidence"],
            "properties": {
                "key": {"type": "string", "pattern": "^[a-z0-9_]{1,64}$"},
                "label": {"type": "string"},
                "evidence_required": {"type": "boolean"},
                "default": {"type": "boolean", "description": "One of the runbook's items (not a team's own)."},
                "ticked": {"type": "boolean"},
                "ticked_by": {"type": ["string", "null"]},
                "ticked_at": nullable_timestamp,
                "evidence": {"type": ["string", "null"]}
            }}),
    );
    schemas.insert(
        "MaintenanceChecklist".into(),
        json!({"type": "object", "required": ["complete", "items"], "properties": {
            "complete": {"type": "boolean", "description": "Every item ticked: the window may start."},
            "items": {"type": "array", "maxItems": Checklist::MAX_ITEMS, "items": schema("MaintenanceChecklistItem")}}}),
    );
    schemas.insert(
        "MaintenanceUpdate".into(),
        json!({"type": "object", "required": ["id", "status", "body", "at", "actor"], "properties": {
            "id": {"type": "string", "format": "uuid"}, "status": schema("MaintenancePublicStatus"),
            "body": {"type": "string", "description": "Markdown."}, "at": timestamp, "actor": {"type": "string"}}}),
    );
    schemas.insert(
        "SuppressedSignal".into(),
        json!({"type": "object", "required": ["service", "component", "fired_at", "reason", "outcome", "checked_at", "incident"], "properties": {
            "service": {"type": "string"}, "component": {"type": ["string", "null"]}, "fired_at": timestamp,
            "reason": {"type": "string"},
            "outcome": {"type": ["string", "null"], "enum": ["recovered", "incident", "open_incident", "no_incident", "held_over", null],
                "description": "What the check at the window's end found; `null` until then."},
            "checked_at": nullable_timestamp,
            "incident": {"type": ["string", "null"], "description": "`INC-<number>` declared or already open."}}}),
    );
    schemas.insert(
        "CreateMaintenanceWindow".into(),
        json!({"type": "object", "additionalProperties": false, "required": ["title", "starts_at", "ends_at", "components"], "properties": {
            "title": title_schema(),
            "description": with_description(text(MAX_BODY), "Markdown; public once scheduled."),
            "starts_at": {"type": "string", "format": "date-time", "description": "Planned start, not in the past."},
            "ends_at": {"type": "string", "format": "date-time", "description": "Planned end, after the start."},
            "components": {"type": "array", "minItems": 1, "items": {"type": "string", "format": "uuid"}},
            "owner": {"type": "string", "format": "email", "description": "Defaults to the caller."}},
            "examples": [{"title": "Database upgrade", "starts_at": "2026-12-05T05:00:00Z", "ends_at": "2026-12-05T08:00:00Z",
                "components": ["0193a000-0000-7000-8000-000000000015"]}]}),
    );
    schemas.insert(
        "PatchMaintenanceWindow".into(),
        json!({"type": "object", "additionalProperties": false,
            "description": "At least one of title, description, starts_at, ends_at and components (400 otherwise); the others stay as they are.",
            "anyOf": [{"required": ["title"]}, {"required": ["description"]}, {"required": ["starts_at"]}, {"required": ["ends_at"]}, {"required": ["components"]}],
            "properties": {
            "title": title_schema(),
            "description": with_description(text(MAX_BODY), "Markdown; public once scheduled."),
            "starts_at": {"type": "string", "format": "date-time", "description": "Planned start; if moved, not in the past."},
            "ends_at": {"type": "string", "format": "date-time", "description": "Planned end, after the start."},
            "components": {"type": "array", "minItems": 1, "items": {"type": "string", "format": "uuid"}, "description": "Replaces the affected components."},
            "short_notice_reason": reason.clone(),
            "overlap_reason": reason.clone(),
            "version": version.clone()},
            "examples": [{"starts_at": "2026-12-05T06:00:00Z", "ends_at": "2026-12-05T08:00:00Z", "version": 2}]}),
    );
    schemas.insert(
        "ScheduleMaintenanceWindow".into(),
        json!({"type": "object", "additionalProperties": false, "properties": {
            "short_notice_reason": reason.clone(), "overlap_reason": reason.clone(), "version": version.clone()}}),
    );
    schemas.insert(
        "StartMaintenanceWindow".into(),
        json!({"type": "object", "additionalProperties": false, "properties": {
            "override_reason": reason.clone(), "message": {"type": "string", "maxLength": MAX_BODY}, "version": version.clone()}}),
    );
    schemas.insert(
        "VerifyMaintenanceWindow".into(),
        json!({"type": "object", "additionalProperties": false, "properties": {"message": {"type": "string", "maxLength": MAX_BODY}}}),
    );
    schemas.insert(
        "EndMaintenanceWindow".into(),
        json!({"type": "object", "additionalProperties": false, "properties": {
            "outcome": {"type": "string", "maxLength": MAX_BODY, "description": "Posted publicly; required to roll back."}, "version": version.clone()}}),
    );
    schemas.insert(
        "RollBackMaintenanceWindow".into(),
        json!({"type": "object", "additionalProperties": false, "required": ["outcome"], "properties": {
            "outcome": with_description(required_text(MAX_BODY), "Posted publicly: what was undone."), "version": version.clone()}}),
    );
    schemas.insert(
        "CancelMaintenanceWindow".into(),
        json!({"type": "object", "additionalProperties": false, "required": ["reason"], "properties": {
            "reason": trimmed_text(true, Reason::MAX_CHARS, "\\u0000"), "version": version}}),
    );
    schemas.insert(
        "NewMaintenanceUpdate".into(),
        json!({"type": "object", "additionalProperties": false, "required": ["body"], "properties": {
            "body": with_description(required_text(MAX_BODY), "Markdown.")}}),
    );
    schemas.insert(
        "NewMaintenanceChecklistItem".into(),
        json!({"type": "object", "additionalProperties": false, "required": ["label"], "properties": {
            "label": {"type": "string", "minLength": 1, "maxLength": Checklist::MAX_LABEL_CHARS},
            "evidence_required": {"type": "boolean", "default": false}}}),
    );
    schemas.insert(
        "TickMaintenanceChecklistItem".into(),
        json!({"type": "object", "additionalProperties": false, "properties": {
            "evidence": {"type": "string", "maxLength": Checklist::MAX_EVIDENCE_CHARS}}}),
    );
    schemas.insert(
        "EmptyRequest".into(),
        json!({"type": "object", "additionalProperties": false, "maxProperties": 0}),
    );

    Fragment {
        paths,
        parameters,
        responses,
        schemas,
        tag: json!({"name": "maintenance", "description": "Maintenance windows, their checklist and public updates."}),
    }
}

/// plan → show, schedule, checklist, cancel, edit; schedule → edit, tick, start, post an update; start →
/// verify, complete, roll back; the checklist → tick and untick its first item.
pub(crate) fn links() -> Vec<Link> {
    let created = json!({"id": "$response.body#/id"});
    let same = json!({"id": "$request.path.id"});
    let first_item = json!({"id": "$request.path.id", "key": "$response.body#/items/0/key"});
    let mut links: Vec<Link> = vec![];
    for (name, op) in [
        ("ShowMaintenanceWindow", "showMaintenanceWindow"),
        ("ScheduleMaintenanceWindow", "scheduleMaintenanceWindow"),
        ("ShowMaintenanceChecklist", "showMaintenanceChecklist"),
        ("AddMaintenanceChecklistItem", "addMaintenanceChecklistItem"),
        ("CancelMaintenanceWindow", "cancelMaintenanceWindow"),
        ("PatchMaintenanceWindow", "patchMaintenanceWindow"),
    ] {
        links.push(("/api/v1/maintenance", "post", "201", name, op, created.clone()));
    }
    for (name, op) in [
        ("ShowMaintenanceChecklist", "showMaintenanceChecklist"),
        ("StartMaintenanceWindow", "startMaintenanceWindow"),
        ("PostMaintenanceUpdate", "postMaintenanceUpdate"),
        ("PatchMaintenanceWindow", "patchMaintenanceWindow"),
    ] {
        links.push(("/api/v1/maintenance/{id}/schedule", "post", "200", name, op, same.clone()));
    }
    for (name, op) in [
        ("VerifyMaintenanceWindow", "verifyMaintenanceWindow"),
        ("CompleteMaintenanceWindow", "completeMaintenanceWindow"),
        ("RollBackMaintenanceWindow", "rollBackMaintenanceWindow"),
        ("PostMaintenanceUpdate", "postMaintenanceUpdate"),
    ] {
        links.push(("/api/v1/maintenance/{id}/start", "post", "200", name, op, same.clone()));
    }
    links.push((
        "/api/v1/maintenance/{id}/verify",
        "post",
        "200",
        "CompleteMaintenanceWindow",
        "completeMaintenanceWindow",
        same.clone(),
    ));
    for (path, status) in
        [("/api/v1/maintenance/{id}/checklist", "get"), ("/api/v1/maintenance/{id}/checklist", "post")]
    {
        let code = if status == "get" { "200" } else { "201" };
        links.push((
            path,
            status,
            code,
            "TickMaintenanceChecklistItem",
            "tickMaintenanceChecklistItem",
            first_item.clone(),
        ));
        links.push((
            path,
            status,
            code,
            "UntickMaintenanceChecklistItem",
            "untickMaintenanceChecklistItem",
            first_item.clone(),
        ));
    }
    links.push((
        "/api/v1/maintenance/{id}/checklist/{key}/tick",
        "post",
        "200",
        "StartMaintenanceWindow",
        "startMaintenanceWindow",
        same,
    ));
    links
}
