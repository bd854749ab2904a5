//! The on-call pages and the header cache, through the app on a fresh database.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use sqlx::PgPool;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use super::OnCallRefresh;
use crate::db::oncall::{self as store, RotationKind};
use crate::roster::OnCallCache;
use crate::state::AppState;
use crate::testing::builders::team;
use crate::testing::{self, person, send};

/// The rotation form with one picker row per value of `participants` (user ids, as the
/// pickers send them, in hand-off order).
fn rotation_form<'a>(participants: &'a [String], zone: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut form: Vec<(&str, &str)> = participants.iter().map(|p| ("participant", p.as_str())).collect();
    form.extend([
        ("handoff_weekday", "1"),
        ("handoff_time", "09:00"),
        ("length_days", "7"),
        ("time_zone", zone),
        ("starts_on", "2026-01-05"),
    ]);
    form
}

fn ids(people: &[&crate::db::users::User]) -> Vec<String> {
    people.iter().map(|p| p.id.to_string()).collect()
}

/// `datetime-local` text for `t` in UTC.
fn local(t: Timestamp) -> String {
    t.to_zoned_datetime(jiff::tz::TimeZone::UTC).strftime("%Y-%m-%dT%H:%M").to_string()
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_admin_sets_up_a_rotation_and_everyone_sees_the_next_four_weeks(pool: PgPool) {
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let alice = person(&pool, "Alice", Role::Responder).await;
    let bob = person(&pool, "Bob", Role::Commander).await;
    let app = testing::app(&pool);

    let (response, html) = send(&app, testing::get("/oncall/rotations/responders", Some(&admin))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(html.contains("Set up the responders rotation") && html.contains("value=\"09:00\""), "{html}");

    // An empty place between two people is skipped.
    let people = vec![alice.id.to_string(), String::new(), bob.id.to_string()];
    let (response, _) = send(
        &app,
        testing::post_form(
            "/oncall/rotations/responders",
            Some(&admin),
            &rotation_form(&people, "Europe/Berlin"),
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/oncall?notice=saved")
    );

    let audit = testing::audit_actions(&pool, "oncall.rotation.save").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].target, "rotation:responders");
    let after = audit[0].after.clone().expect("after");
    assert_eq!(after["participants"], serde_json::json!([alice.email, bob.email]));
    assert_eq!(after["time_zone"], "Europe/Berlin");

    let (response, html) = send(&app, testing::get("/oncall", Some(&viewer))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(html.contains("Weekly on Mondays at 09:00 (Europe/Berlin), counting from 2026-01-05"), "{html}");
    assert!(html.contains("The next 4 weeks"));
    let plan =
        html.split("id=\"plan-responders\"").nth(1).and_then(|s| s.split("</table>").next()).unwrap_or("");
    let rows = plan.split("<tbody>").nth(1).unwrap_or("").matches("<tr").count();
    assert!((4..=6).contains(&rows), "a weekly rotation of two has 4 or 5 stretches in 28 days, got {rows}");
    assert!(html.contains("Alice") && html.contains("Bob"));
    assert!(!html.contains("Edit the responders rotation"), "viewers cannot edit");
    assert!(html.contains("the managers' rotation is not set up"));

    let (_, html) = send(&app, testing::get("/oncall", Some(&admin))).await;
    assert!(html.contains("Edit the responders rotation") && html.contains("Set up the managers rotation"));
    let (_, html) = send(&app, testing::get("/oncall/rotations/responders", Some(&admin))).await;
    assert!(html.contains("Edit the responders rotation"));
    let first =
        html.split("id=\"participant-1\"").nth(1).and_then(|s| s.split("</select>").next()).unwrap_or("");
    assert!(first.contains(&format!("value=\"{}\" selected>Alice", alice.id)), "{first}");
    let second =
        html.split("id=\"participant-2\"").nth(1).and_then(|s| s.split("</select>").next()).unwrap_or("");
    assert!(second.contains(&format!("value=\"{}\" selected>Bob", bob.id)), "{second}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_page_lists_a_rotation_in_the_order_people_go_on_call_from_whoever_is_on_now(pool: PgPool) {
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let alice = person(&pool, "Alice", Role::Responder).await;
    let bob = person(&pool, "Bob", Role::Responder).await;
    let carol = person(&pool, "Carol", Role::Responder).await;
    let app = testing::app(&pool);
    // Weekly hand-offs at midnight UTC on today's weekday, counting from a week ago: Alice had
    // last week, Bob has this week, Carol is next.
    let today = Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let week_ago = (today - jiff::Span::new().days(7)).to_string();
    let weekday = today.weekday().to_monday_one_offset().to_string();
    let people = ids(&[&alice, &bob, &carol]);
    let mut form = rotation_form(&people, "UTC");
    form.retain(|(k, _)| !matches!(*k, "starts_on" | "handoff_weekday" | "handoff_time"));
    form.extend([
        ("starts_on", week_ago.as_str()),
        ("handoff_weekday", weekday.as_str()),
        ("handoff_time", "00:00"),
    ]);
    let (response, _) =
        send(&app, testing::post_form("/oncall/rotations/responders", Some(&admin), &form)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let (_, html) = send(&app, testing::get("/oncall", Some(&admin))).await;
    let turns =
        html.split("id=\"turns-responders\"").nth(1).and_then(|s| s.split("</ol>").next()).unwrap_or("");
    let order: Vec<usize> = ["Bob", "Carol", "Alice"]
        .iter()
        .map(|name| turns.find(&format!("<strong>{name}</strong>")).unwrap_or(usize::MAX))
        .collect();
    assert!(order[0] < order[1] && order[1] < order[2] && order[2] < usize::MAX, "{turns}");
    assert!(turns.contains("on shift since"), "{turns}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_rotation_is_refused_with_a_message_for_each_bad_field(pool: PgPool) {
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let viewer = person(&pool, "Vic", Role::Viewer).await;
    let responder = person(&pool, "Rae", Role::Responder).await;
    let app = testing::app(&pool);
    let people = vec![
        Uuid::new_v4().to_string(),
        "nobody@twisterlab.test".to_owned(),
        viewer.id.to_string(),
        responder.id.to_string(),
        responder.id.to_string(),
    ];
    let mut form = rotation_form(&people, "Mars/Olympus");
    form.retain(|(k, _)| *k != "length_days" && *k != "handoff_time");
    form.push(("length_days", "0"));
    form.push(("handoff_time", "25:99"));
    let (response, html) =
        send(&app, testing::post_form("/oncall/rotations/responders", Some(&admin), &form)).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for message in [
        "Choice 1 is not a user any more; choose again.",
        "Choice 2 is not a user any more; choose again.",
        "is a viewer; this rotation needs responder or higher.",
        "is chosen twice.",
        "Enter an IANA time zone",
        "Enter a number of days from 1 to 365",
        "Enter a time such as 09:00.",
    ] {
        assert!(html.contains(message), "missing {message:?} in {html}");
    }
    // The managers' rotation takes managers and up only.
    let (response, html) = send(
        &app,
        testing::post_form(
            "/oncall/rotations/managers",
            Some(&admin),
            &rotation_form(&ids(&[&responder]), "UTC"),
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("this rotation needs manager or higher"), "{html}");
    let n: i64 =
        sqlx::query_scalar("select count(*) from oncall_rotations").fetch_one(&pool).await.expect("n");
    assert_eq!(n, 0);
    assert!(testing::audit_actions(&pool, "oncall.rotation.save").await.is_empty());
    let (response, _) = send(&app, testing::get("/oncall/rotations/nonsense", Some(&admin))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn overrides_are_added_shown_and_removed_with_audit_rows(pool: PgPool) {
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let alice = person(&pool, "Alice", Role::Responder).await;
    let carol = person(&pool, "Carol", Role::Responder).await;
    let app = testing::app(&pool);
    let (response, _) = send(
        &app,
        testing::post_form(
            "/oncall/rotations/responders",
            Some(&admin),
            &rotation_form(&ids(&[&alice]), "UTC"),
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let now = Timestamp::now();
    let (from, until) =
        (local(now - SignedDuration::from_hours(1)), local(now + SignedDuration::from_hours(2)));
    let carol_id = carol.id.to_string();
    let backwards = [("user", carol_id.as_str()), ("starts_at", until.as_str()), ("ends_at", from.as_str())];
    let (response, html) =
        send(&app, testing::post_form("/oncall/rotations/responders/overrides", Some(&admin), &backwards))
            .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("This cover would already be over.")
            || html.contains("An override must end after it starts."),
        "{html}"
    );

    let fields = [
        ("user", carol_id.as_str()),
        ("starts_at", from.as_str()),
        ("ends_at", until.as_str()),
        ("note", "Alice at the dentist"),
    ];
    let (response, _) =
        send(&app, testing::post_form("/oncall/rotations/responders/overrides", Some(&admin), &fields)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = send(&app, testing::get("/oncall", Some(&admin))).await;
    let now_section =
        html.split("id=\"now-title\"").nth(1).and_then(|s| s.split("</section>").next()).unwrap_or("");
    assert!(
        now_section.contains("<strong>Carol</strong>") && now_section.contains("override"),
        "{now_section}"
    );
    assert!(html.contains("Alice at the dentist"));
    let audit = testing::audit_actions(&pool, "oncall.override.create").await;
    assert_eq!(audit.len(), 1);

    let id: Uuid = sqlx::query_scalar("select id from oncall_overrides").fetch_one(&pool).await.expect("id");
    let (response, _) =
        send(&app, testing::post_form(&format!("/oncall/overrides/{id}/delete"), Some(&admin), &[])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(testing::audit_actions(&pool, "oncall.override.delete").await.len(), 1);
    let (_, html) = send(&app, testing::get("/oncall", Some(&admin))).await;
    assert!(!html.contains("Alice at the dentist"));
    let (response, _) =
        send(&app, testing::post_form(&format!("/oncall/overrides/{id}/delete"), Some(&admin), &[])).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

fn header(html: &str) -> &str {
    html.split("id=\"oncall-now\"").nth(1).and_then(|s| s.split("</span>").next()).unwrap_or("")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_header_shows_who_is_on_call_from_the_process_cache(pool: PgPool) {
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let state = AppState {
        oncall: Arc::new(OnCallCache::new()),
        ..AppState::new(pool.clone(), testing::config(), "test".into())
    };
    let app = crate::app(state.clone());
    let (_, html) = send(&app, testing::get("/oncall", Some(&viewer))).await;
    assert!(!html.contains("id=\"oncall-now\""), "nothing before the first load");

    let refresh = OnCallRefresh { pool: pool.clone(), cache: state.oncall.clone() };
    refresh.run_once().await.expect("load");
    let (_, html) = send(&app, testing::get("/oncall", Some(&viewer))).await;
    assert!(header(&html).contains("nobody: no rotation set up"), "{}", header(&html));

    team(&pool).await;
    let (_, html) = send(&app, testing::get("/oncall", Some(&viewer))).await;
    assert!(header(&html).contains("nobody"), "the header reads the cache, not the database");
    refresh.run_once().await.expect("reload");
    let (_, html) = send(&app, testing::get("/oncall", Some(&viewer))).await;
    let h = header(&html);
    assert!(
        h.contains("Alice (primary)") && h.contains("Bob (secondary)") && h.contains("Mia (manager)"),
        "{h}"
    );
    // Anonymous pages have no such line.
    let (_, html) = send(&app, testing::get("/login", None)).await;
    assert!(!html.contains("oncall-now"));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_refresh_worker_reloads_when_a_rotation_changes(pool: PgPool) {
    let bob = team(&pool).await.bob;
    let cache = Arc::new(OnCallCache::new());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let refresh = OnCallRefresh { pool: pool.clone(), cache: cache.clone() };
    let cadence = crate::workers::Cadence::Notified {
        channel: super::NOTIFY_CHANNEL,
        interval: super::REFRESH_INTERVAL,
        coalesce: Duration::ZERO,
    };
    let running =
        crate::workers::spawn_one(crate::workers::row("oncall_cache", cadence, refresh), &pool, stop_rx);
    let primary = |c: &OnCallCache| c.header(Timestamp::now()).and_then(|h| h.primary);
    for _ in 0..100 {
        if primary(&cache).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(primary(&cache).as_deref(), Some("Alice"));

    // Bob covers from now on; the change notifies every process at commit.
    let mut tx = pool.begin().await.expect("begin");
    let now = Timestamp::now();
    store::insert_override(
        &mut *tx,
        RotationKind::Responders,
        bob.id,
        now - SignedDuration::from_mins(1),
        now + SignedDuration::from_hours(1),
        "",
        None,
    )
    .await
    .expect("override");
    store::notify_changed(&mut *tx).await.expect("notify");
    tx.commit().await.expect("commit");
    let mut seen = None;
    for _ in 0..100 {
        seen = primary(&cache);
        if seen.as_deref() == Some("Bob") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    running.await.expect("stops");
    assert_eq!(seen.as_deref(), Some("Bob"), "reloaded on NOTIFY, well before the 30 s interval");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_on_call_use_cases_work_without_a_page_and_refuse_overrides_before_set_up(pool: PgPool) {
    use super::service::{self, OnCallError, OverrideInput, RotationInput};
    let admin = testing::user(&pool, Role::Admin).await;
    let actor = testing::actor(&admin);
    let carol = person(&pool, "Carol", Role::Responder).await;
    let now = Timestamp::now();
    let cover = OverrideInput {
        user: carol.id.to_string(),
        starts_at: local(now),
        ends_at: local(now + SignedDuration::from_hours(2)),
        note: "from the CLI".into(),
    };

    let mut tx = pool.begin().await.expect("begin");
    let refused = service::add_override(&mut tx, &actor, RotationKind::Responders, &cover, now).await;
    assert!(matches!(&refused, Err(OnCallError::Refused(m)) if m.contains("not set up yet")), "{refused:?}");
    drop(tx);
    assert!(testing::audit_actions(&pool, "oncall.override.create").await.is_empty());

    let weekly = RotationInput {
        participant: vec![carol.id.to_string()],
        handoff_weekday: "1".into(),
        handoff_time: "09:00".into(),
        length_days: "7".into(),
        time_zone: "UTC".into(),
        starts_on: "2026-01-05".into(),
    };
    let mut tx = pool.begin().await.expect("begin");
    service::save_rotation(&mut tx, &actor, RotationKind::Responders, &weekly).await.expect("saved");
    let id =
        service::add_override(&mut tx, &actor, RotationKind::Responders, &cover, now).await.expect("added");
    tx.commit().await.expect("commit");
    assert_eq!(testing::audit_actions(&pool, "oncall.rotation.save").await.len(), 1);
    assert_eq!(testing::audit_actions(&pool, "oncall.override.create").await.len(), 1);

    let mut tx = pool.begin().await.expect("begin");
    let gone = service::delete_override(&mut tx, &actor, id).await.expect("deleted");
    tx.commit().await.expect("commit");
    assert_eq!((gone.who.email.as_str(), gone.note.as_str()), (carol.email.as_str(), "from the CLI"));
    let mut tx = pool.begin().await.expect("begin");
    let again = service::delete_override(&mut tx, &actor, id).await;
    assert!(matches!(again, Err(OnCallError::NotFound { .. })), "{again:?}");
}
