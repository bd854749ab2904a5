//! The report's figures on a hand-built November 2026 (team zone UTC), with the expected values
//! worked out by hand in the comments: an incident acknowledged after its target, one spanning
//! the month's end (counted in the month it started), one just after and one just before.

use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use sqlx::PgPool;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use crate::testing::{TestApp, get, person};

fn t(s: &str) -> Timestamp {
    s.parse().expect("RFC 3339")
}

/// An incident inserted with exact times: acknowledged and resolved `ack`/`resolve` minutes
/// after `start` (never when `None`); the response target is the seeded policy's.
async fn hand_incident(
    pool: &PgPool,
    severity: &str,
    start: &str,
    ack: Option<i64>,
    resolve: Option<i64>,
    components: &[&str],
) -> Uuid {
    let start = t(start);
    let response = match severity {
        "P0" => 5,
        "P1" => 15,
        "P2" => 60,
        _ => 240,
    };
    let at = |m: Option<i64>| m.map(|m| crate::clock::from_jiff(start + SignedDuration::from_mins(m)));
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into incidents (id, title, severity, status, started_at, detected_at, acknowledged_at, resolved_at, respond_by, escalate_by)
         values ($1, $2, $3, $4, $5, $5, $6, $7, $8, $8)",
    )
    .bind(id)
    .bind(format!("{severity} at {start}"))
    .bind(severity)
    .bind(if resolve.is_some() { "resolved" } else if ack.is_some() { "acknowledged" } else { "triggered" })
    .bind(crate::clock::from_jiff(start))
    .bind(at(ack))
    .bind(at(resolve))
    .bind(crate::clock::from_jiff(start + SignedDuration::from_mins(response)))
    .execute(pool)
    .await
    .expect("insert incident");
    for name in components {
        sqlx::query(
            "insert into incident_components (incident_id, component_id, impact)
             select $1, id, 'major_outage' from components where name = $2",
        )
        .bind(id)
        .bind(name)
        .execute(pool)
        .await
        .expect("component");
    }
    id
}

/// A page (`notified` to the primary, or `escalated` to the manager) sent to `who` at `at`.
async fn page(pool: &PgPool, incident: Uuid, kind: &str, to: &str, who: Uuid, at: &str) {
    sqlx::query(
        "insert into timeline_events (id, incident_id, at, kind, actor_label, data) values ($1, $2, $3, $4, 'system', $5)",
    )
    .bind(Uuid::now_v7())
    .bind(incident)
    .bind(crate::clock::from_jiff(t(at)))
    .bind(kind)
    .bind(json!({"to": to, "user_id": who}))
    .execute(pool)
    .await
    .expect("page");
}

/// The cells of the table `id` of a page: each body row's header and data cells, as text.
pub(super) fn table_cells(html: &str, id: &str) -> Vec<Vec<String>> {
    let table = html.split(&format!("<table id=\"table-{id}\">")).nth(1).expect("the table");
    let table = table.split("</table>").next().expect("its end");
    let body = table.split("<tbody>").nth(1).expect("tbody");
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            let mut cells = Vec::new();
            let mut rest = row;
            while let Some(open) = rest.find(['<']) {
                let tag = &rest[open..];
                if tag.starts_with("<th") || tag.starts_with("<td") {
                    let start = open + tag.find('>').expect("tag end") + 1;
                    let end = start + rest[start..].find("</t").expect("cell end");
                    cells.push(unescape(&rest[start..end]));
                    rest = &rest[end + 2..];
                } else {
                    rest = &rest[open + 1..];
                }
            }
            cells
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn csv_rows(csv: &str) -> Vec<Vec<String>> {
    csv.split("\r\n")
        .filter(|l| !l.is_empty())
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_month_report_shows_the_hand_computed_figures_and_every_csv_equals_its_table(pool: PgPool) {
    let app = TestApp::new(&pool);
    let manager = app.signed_in(Role::Manager).await;
    let alice = person(&pool, "Alice", Role::Responder).await;
    let mia = person(&pool, "Mia", Role::Manager).await;

    // November 2026 (Mon 2nd, Tue 10th, Sun 15th, Fri 20th, Mon 30th):
    // A P1: acknowledged after 10 min (target 15: in time), resolved after 60.
    let a = hand_incident(&pool, "P1", "2026-11-02T10:00:00Z", Some(10), Some(60), &["API"]).await;
    // B P1: acknowledged after 30 min — after its 15-minute target — resolved after 120;
    // it reached the manager.
    let b = hand_incident(&pool, "P1", "2026-11-10T23:00:00Z", Some(30), Some(120), &["API"]).await;
    // C P2: acknowledged after 20 (target 60), resolved after 240.
    hand_incident(&pool, "P2", "2026-11-20T12:00:00Z", Some(20), Some(240), &["Database"]).await;
    // D P1 spanning the month's end: started 30 Nov 23:30, acknowledged after 5, resolved
    // 1 Dec 01:30 (120 min): November's.
    let d =
        hand_incident(&pool, "P1", "2026-11-30T23:30:00Z", Some(5), Some(120), &["API", "Database"]).await;
    // G P2: never acknowledged, still open: a breach.
    let g = hand_incident(&pool, "P2", "2026-11-15T10:00:00Z", None, None, &[]).await;
    // Outside November: E on 1 Dec 00:30, F on 31 Oct 23:59 (P3, acknowledged after 1, resolved after 10).
    let e = hand_incident(&pool, "P2", "2026-12-01T00:30:00Z", Some(90), Some(100), &["API"]).await;
    hand_incident(&pool, "P3", "2026-10-31T23:59:00Z", Some(1), Some(10), &["Cache"]).await;

    page(&pool, a, "notified", "primary", alice.id, "2026-11-02T10:00:00Z").await; // business hours
    page(&pool, b, "notified", "primary", alice.id, "2026-11-10T23:00:00Z").await; // outside, night
    page(&pool, b, "escalated", "manager", mia.id, "2026-11-10T23:20:00Z").await; // outside, night
    page(&pool, g, "notified", "primary", alice.id, "2026-11-15T10:00:00Z").await; // Sunday: outside
    page(&pool, d, "notified", "primary", alice.id, "2026-11-30T23:30:00Z").await; // outside, night
    page(&pool, e, "notified", "primary", alice.id, "2026-12-01T00:30:00Z").await; // December

    let query = "kind=month&date=2026-11-15";
    let (response, html) = app.send(get(&format!("/reports?{query}"), Some(&manager))).await;
    assert_eq!(response.status(), StatusCode::OK, "{html:.2000}");

    // P1 (A, B, D): TTA 5, 10, 30 → median (rank 2) 10, p90 (rank 3) 30; TTR 60, 120, 120 →
    // 120, 120; in time A and D: 2 of 3; manager B: 1 of 3; breach B.
    // P2 (C, G): TTA 20 → 20, 20; TTR 240; in time C: 1 of 2; breach G (never acknowledged).
    // All (5): TTA 5, 10, 20, 30 → rank 2: 10, rank 4: 30; TTR 60, 120, 120, 240 → 120, 240;
    // in time 3 of 5; manager 1 of 5; breaches 2.
    let expected = vec![
        row(&["P0", "0", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "0"]),
        row(&["P1", "3", "10.0", "30.0", "120.0", "120.0", "66.7", "33.3", "1"]),
        row(&["P2", "2", "20.0", "20.0", "240.0", "240.0", "50.0", "0.0", "1"]),
        row(&["P3", "0", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "0"]),
        row(&["All", "5", "10.0", "30.0", "120.0", "240.0", "60.0", "20.0", "2"]),
    ];
    // B reached the manager: its escalation row comes from the timeline trigger.
    assert_eq!(table_cells(&html, "severity"), expected);
    assert_eq!(
        table_cells(&html, "components"),
        vec![row(&["API", "0", "3", "0", "0", "3"]), row(&["Database", "0", "1", "1", "0", "2"])]
    );
    assert_eq!(
        table_cells(&html, "oncall"),
        vec![row(&["Alice", "4", "3", "2"]), row(&["Mia", "1", "1", "1"])]
    );
    let trend = table_cells(&html, "trend");
    assert_eq!(trend.len(), 12, "twelve months, December 2025 to November 2026");
    assert_eq!(trend[0], row(&["Dec 2025", "0", "n/a", "n/a", "n/a"]));
    assert_eq!(trend[10], row(&["Oct 2026", "1", "1.0", "10.0", "100.0"]));
    assert_eq!(trend[11], row(&["Nov 2026", "5", "10.0", "120.0", "60.0"]));

    for id in ["severity", "components", "oncall", "trend"] {
        let (response, csv) = app.send(get(&format!("/reports/{id}.csv?{query}"), Some(&manager))).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers().get("content-type").and_then(|v| v.to_str().ok()),
            Some("text/csv; charset=utf-8")
        );
        assert_eq!(csv_rows(&csv), table_cells(&html, id), "the {id} CSV holds exactly the page's cells");
    }

    // The week holding 10 November has B only.
    let (_, week) = app.send(get("/reports?kind=week&date=2026-11-10&severity=P1", Some(&manager))).await;
    assert_eq!(
        table_cells(&week, "severity"),
        vec![
            row(&["P1", "1", "30.0", "30.0", "120.0", "120.0", "0.0", "100.0", "1"]),
            row(&["All", "1", "30.0", "30.0", "120.0", "120.0", "0.0", "100.0", "1"]),
        ]
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn every_trend_chart_is_well_formed_xml_with_a_title_and_a_table_beside_it(pool: PgPool) {
    let app = TestApp::new(&pool);
    let manager = app.signed_in(Role::Manager).await;
    hand_incident(&pool, "P1", "2026-11-02T10:00:00Z", Some(10), Some(60), &["API"]).await;
    let (_, html) = app.send(get("/reports?kind=quarter&date=2026-11-15", Some(&manager))).await;
    let mut charts = 0;
    for piece in html.split("<svg").skip(1) {
        let svg = format!("<svg{}", &piece[..piece.find("</svg>").expect("closed") + 6]);
        let mut reader = quick_xml::Reader::from_str(&svg);
        let mut title = false;
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(quick_xml::events::Event::Start(e)) if e.name().0 == "title" => title = true,
                Ok(_) => {}
                Err(e) => panic!("chart is not well-formed XML: {e}: {svg}"),
            }
        }
        assert!(title, "an accessible title");
        assert!(svg.contains("role=\"img\""));
        charts += 1;
    }
    assert_eq!(charts, 4);
    assert_eq!(table_cells(&html, "trend").len(), 12);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_range_ending_before_it_starts_or_over_two_years_or_an_unknown_severity_is_a_field_error(
    pool: PgPool,
) {
    let app = TestApp::new(&pool);
    let manager = app.signed_in(Role::Manager).await;
    let commander = app.signed_in(Role::Commander).await;
    for (query, field) in [
        ("kind=custom&start=2026-11-30&end=2026-11-01", "end-error"),
        ("kind=custom&start=2024-01-01&end=2026-01-01", "end-error"),
        ("kind=custom&start=2026-11-01&end=2026-11-01&end=2026-11-02", "end-error"),
        ("kind=month&start=yesterday", "start-error"),
        ("kind=month&severity=P7", "severity-error"),
        ("kind=fortnight", "kind-error"),
        ("kind=week&date=11/30/2026", "date-error"),
    ] {
        let (response, html) = app.send(get(&format!("/reports?{query}"), Some(&manager))).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(html.contains(&format!("id=\"{field}\"")), "{query}: {html:.1500}");
        assert!(!html.contains("<table"), "no half report");
        let (response, _) = app.send(get(&format!("/reports/severity.csv?{query}"), Some(&manager))).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "CSV {query}");
    }
    let (response, _) = app.send(get("/reports", Some(&commander))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "reports are for managers");
    let (response, _) =
        app.send(get("/reports?kind=custom&start=2025-01-01&end=2026-12-31", Some(&manager))).await;
    assert_eq!(response.status(), StatusCode::OK, "exactly two years is allowed");
    let (response, html) = app.send(get("/reports?kind=custom&end=2026-11-17", Some(&manager))).await;
    assert_eq!(response.status(), StatusCode::OK, "one day given is a one-day range");
    assert!(html.contains("2026-11-17"), "{html:.1500}");
    let (response, _) = app.send(get("/reports?kind=custom", Some(&manager))).await;
    assert_eq!(response.status(), StatusCode::OK, "no day at all is today, as for a week or month");
}
