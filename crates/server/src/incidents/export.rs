//! The incident and its whole timeline as files for the postmortem: Markdown and JSON.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use twisterlab_domain::incident::IncidentNumber;
use uuid::Uuid;

use super::service;
use super::view::{self, span};
use crate::clock::{absolute, iso};
use crate::db::components;
use crate::db::incidents::{self as store, AffectedComponent, Incident, Link, Person, TimelineEvent};
use crate::identity::CurrentUser;
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::form::PathNumber;

/// Everything an export shows, read in one go.
pub(crate) struct Export {
    pub incident: Incident,
    pub affected: Vec<AffectedComponent>,
    pub links: Vec<Link>,
    pub events: Vec<TimelineEvent>,
    pub component_names: HashMap<Uuid, String>,
}

async fn load(app: &AppState, number: IncidentNumber, scope: service::ReadScope) -> Result<Export, AppError> {
    let mut conn = app.pool.acquire().await?;
    let incident = service::load_readable(&mut conn, number, scope).await?;
    let affected = store::components(&mut *conn, incident.id).await?;
    let links = store::links(&mut *conn, incident.id).await?;
    let events = store::timeline(&mut *conn, incident.id, &Default::default()).await?;
    let component_names = components::list(&mut *conn).await?.into_iter().map(|c| (c.id, c.name)).collect();
    Ok(Export { incident, affected, links, events, component_names })
}

fn attachment(content_type: &'static str, filename: String, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
            // Private incidents are in here too: no shared caches.
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// `GET /incidents/{number}/timeline.md`: a postmortem-ready Markdown document.
pub(crate) async fn timeline_markdown(
    State(app): State<AppState>,
    user: CurrentUser,
    PathNumber(number): PathNumber,
) -> Result<Response, AppError> {
    let export = load(&app, number, service::ReadScope::of(&user)).await?;
    let body = markdown(&export, &app.config.timezone, Timestamp::now());
    Ok(attachment("text/markdown; charset=utf-8", format!("{}-timeline.md", export.incident.number), body))
}

/// `GET /incidents/{number}/timeline.json`: the incident and every event with its typed fields.
pub(crate) async fn timeline_json(
    State(app): State<AppState>,
    user: CurrentUser,
    PathNumber(number): PathNumber,
) -> Result<Response, AppError> {
    let export = load(&app, number, service::ReadScope::of(&user)).await?;
    let body = serde_json::to_string_pretty(&json(&export, Timestamp::now()))
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(attachment("application/json", format!("{}-timeline.json", export.incident.number), body))
}

/// Text safe inside a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace(['\r', '\n'], " ")
}

fn person(p: &Option<Person>) -> String {
    match p {
        Some(p) if !p.display_name.is_empty() && p.display_name != p.email => {
            format!("{} ({})", p.display_name, p.email)
        }
        Some(p) => p.email.clone(),
        None => "—".into(),
    }
}

/// The Markdown export.
pub(crate) fn markdown(e: &Export, zone: &TimeZone, now: Timestamp) -> String {
    let i = &e.incident;
    let at = |t: Timestamp| absolute(t, zone);
    let mut out = String::with_capacity(4096 + e.events.len() * 200);
    let _ = writeln!(out, "# {}: {}\n", i.number, i.title);
    out.push_str("| Fact | Value |\n|---|---|\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "| {k} | {} |", cell(&v));
    };
    row("Severity", format!("{} ({})", i.severity.as_str(), i.severity.label()));
    row("Status", i.status.as_str().into());
    row(
        "Visibility",
        match (i.private, i.security) {
            (true, true) => "private; security incident".into(),
            (true, false) => "private".into(),
            (false, true) => "public; security incident".into(),
            (false, false) => "public".into(),
        },
    );
    row("Commander", person(&i.commander));
    row("Communications lead", person(&i.comms_lead));
    row("Scribe", person(&i.scribe));
    row("Started", at(i.started_at));
    row("Detected", at(i.detected_at));
    row(
        "Acknowledged",
        i.acknowledged_at
            .map(|t| format!("{} (after {})", at(t), span(i.started_at, t)))
            .unwrap_or_else(|| "not yet".into()),
    );
    row(
        "Resolved",
        i.resolved_at
            .map(|t| format!("{} (after {})", at(t), span(i.started_at, t)))
            .unwrap_or_else(|| "not yet".into()),
    );
    let affected: Vec<String> =
        e.affected.iter().map(|a| format!("{} ({})", a.name, a.impact.label())).collect();
    row("Affected components", if affected.is_empty() { "none".into() } else { affected.join(", ") });
    row("Labels", if i.labels.is_empty() { "none".into() } else { i.labels.join(", ") });
    let links: Vec<String> = e
        .links
        .iter()
        .map(|l| {
            let text = if l.label.is_empty() { &l.url } else { &l.label };
            format!("{} <{}> ({})", text, l.url, l.kind)
        })
        .collect();
    row("Links", if links.is_empty() { "none".into() } else { links.join(", ") });

    if !i.summary.trim().is_empty() {
        let _ = writeln!(out, "\n## Summary\n\n{}", i.summary.trim());
    }

    out.push_str("\n## SLA\n\n");
    let response = match i.acknowledged_at {
        Some(t) if t <= i.respond_by => {
            format!("met: acknowledged after {} (target: by {})", span(i.started_at, t), at(i.respond_by))
        }
        Some(t) => {
            format!("missed: acknowledged after {}, target was {}", span(i.started_at, t), at(i.respond_by))
        }
        None if now > i.respond_by => format!("missed: not acknowledged, target was {}", at(i.respond_by)),
        None => format!("running: acknowledge by {}", at(i.respond_by)),
    };
    let _ = writeln!(out, "- Response (acknowledge): {response}");
    let end = i.resolved_at.unwrap_or(now);
    let escalation = if end > i.escalate_by {
        format!("due at {} (the incident was unresolved then)", at(i.escalate_by))
    } else if i.resolved_at.is_some() {
        format!("not needed: resolved before {}", at(i.escalate_by))
    } else {
        format!("escalates at {}", at(i.escalate_by))
    };
    let _ = writeln!(out, "- Manager escalation: {escalation}");

    let _ = writeln!(
        out,
        "\n## Timeline\n\n{} events, oldest first; times to the millisecond.\n",
        e.events.len()
    );
    let by_id: HashMap<Uuid, &TimelineEvent> = e.events.iter().map(|ev| (ev.id, ev)).collect();
    let corrected: std::collections::HashSet<Uuid> =
        e.events.iter().filter_map(|ev| ev.corrects_id).collect();
    for ev in &e.events {
        let _ = write!(
            out,
            "- **{}** · {} · {}: {}",
            view::precise(ev.at, zone),
            view::kind_label(ev.kind),
            ev.actor_label,
            view::event_summary(ev, zone, &e.component_names)
        );
        if ev.public {
            out.push_str(" *(public)*");
        }
        if let Some(original) = ev.corrects_id {
            match by_id.get(&original) {
                Some(o) => {
                    let _ = write!(
                        out,
                        " — correction of the {} by {} at {}",
                        view::kind_label(o.kind).to_lowercase(),
                        o.actor_label,
                        view::precise(o.at, zone)
                    );
                }
                None => out.push_str(" — correction of an earlier event"),
            }
        }
        if corrected.contains(&ev.id) {
            out.push_str(" *(corrected below)*");
        }
        out.push('\n');
        for (k, v) in view::generic_facts(ev) {
            let _ = writeln!(out, "  - {k}: {v}");
        }
        if let Some(body) = ev.body.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
            out.push('\n');
            for line in body.lines() {
                let _ = writeln!(out, "  > {line}");
            }
            out.push('\n');
        }
    }
    out
}

fn person_json(p: &Option<Person>) -> Value {
    match p {
        Some(p) => json!({"id": p.id, "name": p.display_name, "email": p.email}),
        None => Value::Null,
    }
}

/// The JSON export.
pub(crate) fn json(e: &Export, now: Timestamp) -> Value {
    let i = &e.incident;
    let opt = |t: Option<Timestamp>| t.map(iso);
    let events: Vec<Value> = e
        .events
        .iter()
        .map(|ev| {
            json!({
                "id": ev.id,
                "at": iso(ev.at),
                "kind": ev.kind.as_str(),
                "actor_user_id": ev.actor_user_id,
                "actor_label": ev.actor_label,
                "body": ev.body,
                "data": ev.data,
                "public": ev.public,
                "public_status": ev.public_status,
                "corrects_id": ev.corrects_id,
            })
        })
        .collect();
    json!({
        "incident": {
            "id": i.id,
            "number": i.number.get(),
            "reference": i.number.to_string(),
            "title": i.title,
            "summary": i.summary,
            "severity": i.severity.as_str(),
            "status": i.status.as_str(),
            "private": i.private,
            "security": i.security,
            "started_at": iso(i.started_at),
            "detected_at": iso(i.detected_at),
            "acknowledged_at": opt(i.acknowledged_at),
            "resolved_at": opt(i.resolved_at),
            "commander": person_json(&i.commander),
            "comms_lead": person_json(&i.comms_lead),
            "scribe": person_json(&i.scribe),
            "labels": i.labels,
            "components": e.affected.iter().map(|a| json!({"id": a.component_id, "name": a.name, "impact": a.impact.as_str()})).collect::<Vec<_>>(),
            "links": e.links.iter().map(|l| json!({"kind": l.kind, "url": l.url, "label": l.label, "created_at": iso(l.created_at)})).collect::<Vec<_>>(),
            "sla": {
                "respond_by": iso(i.respond_by),
                "escalate_by": iso(i.escalate_by),
                "response_met": i.acknowledged_at.map(|t| t <= i.respond_by).or((now > i.respond_by).then_some(false)),
                "seconds_to_acknowledge": i.acknowledged_at.map(|t| t.duration_since(i.started_at).as_secs()),
                "seconds_to_resolve": i.resolved_at.map(|t| t.duration_since(i.started_at).as_secs()),
            },
            "version": i.version,
            "created_at": iso(i.created_at),
            "updated_at": iso(i.updated_at),
        },
        "events": events,
        "exported_at": iso(now),
    })
}
