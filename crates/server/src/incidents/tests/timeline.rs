//! The paged timeline: pages of 100 events, the order control, the kind filter, and permalinks
//! that open whichever page holds their event.

use sqlx::PgPool;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use super::location;
use crate::testing::builders::incident;
use crate::testing::{self, get, send};

/// An incident with `notes` notes added after its declaration, one a second from a minute from now;
/// returns its path and every event id, oldest first.
async fn incident_with_notes(pool: &PgPool, notes: i32) -> (String, Vec<Uuid>) {
    let commander = testing::user(pool, Role::Commander).await;
    let declared = incident("A long night").by(&commander).declare(pool).await;
    sqlx::query(
        "insert into timeline_events (id, incident_id, kind, actor_label, body, at)
         select gen_random_uuid(), $1, 'note', 'Tester', 'Note number ' || g || '.',
                now() + interval '1 minute' + g * interval '1 second'
           from generate_series(1, $2) g",
    )
    .bind(declared.id)
    .bind(notes)
    .execute(pool)
    .await
    .expect("notes");
    let ids: Vec<Uuid> =
        sqlx::query_scalar("select id from timeline_events where incident_id = $1 order by at, id")
            .bind(declared.id)
            .fetch_all(pool)
            .await
            .expect("events");
    (format!("/incidents/{}", declared.number), ids)
}

/// The event ids of the timeline, in page order.
fn shown(html: &str) -> Vec<Uuid> {
    html.split("<li id=\"e-").skip(1).filter_map(|rest| rest.get(..36)?.parse().ok()).collect()
}

/// The `href` of the link with `rel`, unescaped.
fn rel_link(html: &str, rel: &str) -> Option<String> {
    let marker = format!("\" rel=\"{rel}\">");
    let end = html.find(&marker)?;
    let start = html[..end].rfind("href=\"")? + "href=\"".len();
    Some(html[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_long_timeline_shows_100_events_a_page_with_a_next_link_to_the_rest(pool: PgPool) {
    let (path, ids) = incident_with_notes(&pool, 249).await;
    assert!(ids.len() >= 250, "{} events", ids.len());
    let app = testing::app(&pool);
    let viewer = testing::signed_in(&pool, Role::Viewer).await;

    let (response, html) = send(&app, get(&path, Some(&viewer))).await;
    assert_eq!(response.status(), 200, "{html}");
    assert_eq!(shown(&html), ids[..100], "the oldest 100 first");
    assert!(rel_link(&html, "prev").is_none(), "no page before the first");

    let mut seen = shown(&html);
    let mut next = rel_link(&html, "next");
    while let Some(href) = next {
        let (response, html) = send(&app, get(&href, Some(&viewer))).await;
        assert_eq!(response.status(), 200, "{href}: {html}");
        let page = shown(&html);
        assert!(!page.is_empty() && page.len() <= 100, "{href}");
        seen.extend(page);
        next = rel_link(&html, "next");
        if next.is_none() {
            let back = rel_link(&html, "prev").expect("the last page links back");
            let (_, previous) = send(&app, get(&back, Some(&viewer))).await;
            assert_eq!(shown(&previous), ids[100..200], "the previous page is the second one");
        }
    }
    assert_eq!(seen, ids, "the next links walk every event once, in order");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_order_control_shows_the_newest_events_first(pool: PgPool) {
    let (path, ids) = incident_with_notes(&pool, 249).await;
    let app = testing::app(&pool);
    let viewer = testing::signed_in(&pool, Role::Viewer).await;

    let (response, html) = send(&app, get(&format!("{path}?order=newest"), Some(&viewer))).await;
    assert_eq!(response.status(), 200, "{html}");
    let newest: Vec<Uuid> = ids.iter().rev().take(100).copied().collect();
    assert_eq!(shown(&html), newest);
    assert!(html.contains("<option value=\"newest\" selected>"), "the control says what is shown");
    let next = rel_link(&html, "next").expect("a next page");
    assert!(next.contains("order=newest"), "{next}");
    let (_, html) = send(&app, get(&next, Some(&viewer))).await;
    let following: Vec<Uuid> = ids.iter().rev().skip(100).take(100).copied().collect();
    assert_eq!(shown(&html), following, "the next page keeps the order");

    let (response, _) = send(&app, get(&format!("{path}?order=sideways"), Some(&viewer))).await;
    assert_eq!(response.status(), 400, "an unknown order is the reader's mistake");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_kind_filter_pages_only_the_events_of_that_kind(pool: PgPool) {
    let (path, ids) = incident_with_notes(&pool, 249).await;
    let app = testing::app(&pool);
    let viewer = testing::signed_in(&pool, Role::Viewer).await;

    let (response, html) = send(&app, get(&format!("{path}?kind=declared"), Some(&viewer))).await;
    assert_eq!(response.status(), 200, "{html}");
    assert_eq!(shown(&html), ids[..1], "only the declaration");
    assert!(rel_link(&html, "next").is_none());

    let (_, html) = send(&app, get(&format!("{path}?kind=note"), Some(&viewer))).await;
    let notes = shown(&html);
    assert_eq!(notes.len(), 100);
    assert!(!notes.contains(&ids[0]), "the declaration is not a note");
    let next = rel_link(&html, "next").expect("more notes");
    assert!(next.contains("kind=note"), "{next}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_permalink_opens_the_page_that_holds_its_event(pool: PgPool) {
    let (path, ids) = incident_with_notes(&pool, 249).await;
    let app = testing::app(&pool);
    let viewer = testing::signed_in(&pool, Role::Viewer).await;

    for (which, order, page) in [(4usize, "", 0..100), (4, "?order=newest", 0..0), (150, "", 100..200)] {
        let event = ids[which];
        let (response, _) = send(&app, get(&format!("{path}/events/{event}"), Some(&viewer))).await;
        assert_eq!(response.status(), 303);
        let to = location(&response);
        assert!(to.ends_with(&format!("#e-{event}")), "anchored: {to}");
        let (response, html) = send(&app, get(&to, Some(&viewer))).await;
        assert_eq!(response.status(), 200, "{html}");
        let listed = shown(&html);
        assert!(listed.contains(&event), "event {which} is on the page it opens");
        if !page.is_empty() {
            assert_eq!(listed, ids[page], "the page is the one the next links reach");
        }
        if order.is_empty() {
            continue;
        }
        // Newest first, the same event is on the last page of that order.
        let (_, html) = send(&app, get(&format!("{path}{order}&at={event}"), Some(&viewer))).await;
        assert!(shown(&html).contains(&event), "newest first too");
        assert!(rel_link(&html, "next").is_none(), "the 5th-oldest is on the last page newest first");
    }

    let other = incident("Another").by(&testing::user(&pool, Role::Commander).await).declare(&pool).await;
    let (response, _) =
        send(&app, get(&format!("/incidents/{}/events/{}", other.number, ids[4]), Some(&viewer))).await;
    assert_eq!(response.status(), 404, "an event of another incident");
    let (response, _) = send(&app, get(&format!("{path}?at=not-an-event"), Some(&viewer))).await;
    assert_eq!(response.status(), 400);
}
