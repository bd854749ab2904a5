//! The incident list: filters, keyset pages, and an empty list that says why.

use sqlx::PgPool;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;

use crate::incidents::service;
use crate::testing::{self, builders, get, send};

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_list_filters_and_pages_without_gaps_or_duplicates(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::user(&pool, Role::Commander).await;
    let other = testing::user(&pool, Role::Commander).await;
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let mut numbers = vec![];
    for i in 0..30i64 {
        let severity = Severity::ALL[usize::try_from(i % 4).expect("small")];
        let owner = if i % 5 == 0 { &other } else { &commander };
        let title = if i == 7 {
            "Replication lag on the database".to_owned()
        } else {
            format!("Incident number {i}")
        };
        let incident = builders::incident(&title)
            .severity(severity)
            .started_ago(time::Duration::minutes(60 + i * 10))
            .by(owner)
            .declare(&pool)
            .await;
        if i % 3 == 0 {
            let mut tx = pool.begin().await.expect("begin");
            service::resolve(&mut tx, &testing::actor(owner), incident.number, None).await.expect("resolve");
            tx.commit().await.expect("commit");
        }
        numbers.push(incident.number.get());
    }

    // Page through 7 at a time.
    let mut seen: Vec<String> = vec![];
    let mut next = Some("/incidents?limit=7".to_owned());
    let mut pages = 0;
    while let Some(url) = next.take() {
        let (response, html) = send(&app, get(&url, Some(&viewer))).await;
        assert_eq!(response.status(), 200, "{url}: {html}");
        for chunk in html.split("<td><a href=\"/incidents/").skip(1) {
            seen.push(chunk.split('"').next().expect("number").to_owned());
        }
        next = html.find("\" rel=\"next\"").map(|end| {
            let start = html[..end].rfind("href=\"").expect("the next link's href") + "href=\"".len();
            html[start..end].replace("&#38;", "&").replace("&amp;", "&")
        });
        pages += 1;
        assert!(pages < 10, "pagination never ends");
    }
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), 30, "{seen:?}");
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 30, "no duplicates: {seen:?}");
    // Open first (i % 3 != 0), each group newest first (smaller i started later).
    let expected: Vec<String> = (0..30i64)
        .filter(|i| i % 3 != 0)
        .chain((0..30i64).filter(|i| i % 3 == 0))
        .map(|i| format!("INC-{}", numbers[usize::try_from(i).expect("small")]))
        .collect();
    assert_eq!(seen, expected);

    let count = |html: &str| html.matches("<td><a href=\"/incidents/").count();
    let (_, html) = send(&app, get("/incidents?severity=P1&limit=200", Some(&viewer))).await;
    assert_eq!(count(&html), 8, "{html}");
    assert!(!html.contains("P0</span>"), "{html}");
    let (_, html) = send(&app, get("/incidents?status=resolved", Some(&viewer))).await;
    assert_eq!(count(&html), 10);
    let (_, html) = send(&app, get("/incidents?status=open", Some(&viewer))).await;
    assert_eq!(count(&html), 20);
    let (_, html) = send(&app, get(&format!("/incidents?commander={}", other.id), Some(&viewer))).await;
    assert_eq!(count(&html), 6);
    let (_, html) = send(&app, get("/incidents?q=replication", Some(&viewer))).await;
    assert_eq!(count(&html), 1, "{html}");
    assert!(html.contains("Replication lag"), "{html}");
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let yesterday = today.yesterday().expect("a date");
    let (_, html) =
        send(&app, get(&format!("/incidents?from={yesterday}&until={today}&limit=100"), Some(&viewer))).await;
    assert_eq!(count(&html), 30, "{html}");
    let (_, html) = send(&app, get("/incidents?from=2001-01-01&until=2001-01-02", Some(&viewer))).await;
    assert_eq!(count(&html), 0);
    assert!(html.contains("No incident matches these filters"), "{html}");

    for (query, field) in [
        ("severity=P9", "severity"),
        ("status=sleeping", "status"),
        ("commander=bob", "commander"),
        ("from=yesterday", "from"),
        ("after=garbage", "after"),
        ("limit=0", "limit"),
        ("from=2026-02-02&until=2026-01-01", "until"),
    ] {
        let (response, html) = send(&app, get(&format!("/incidents?{query}"), Some(&viewer))).await;
        assert_eq!(response.status(), 400, "{query}");
        assert!(
            html.contains(&format!("id=\"{field}-error\""))
                || html.contains(&format!("<strong>{field}</strong>")),
            "{query}: {html}"
        );
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_empty_list_says_why(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let (response, html) = send(&app, get("/incidents", Some(&commander))).await;
    assert_eq!(response.status(), 200);
    assert!(
        html.contains("No incidents have been declared yet") && html.contains("href=\"/incidents/new\""),
        "{html}"
    );
}
