//! People's own contact methods: pages reach them through real local receivers, the incident
//! page says what was sent where and what became of it, the forms refuse bad input, nobody
//! edits someone else's methods but an admin, "Send a test" answers at once, and no secret
//! reaches the audit log.

use axum::http::StatusCode;
use serde_json::Value;
use sqlx::PgPool;
use twisterlab_domain::incident::TimelineKind;
use twisterlab_domain::notification::ChannelKind;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::{
    Behaviour, Receiver, channel, config_with, declared, deliver_all, events_of, quick_policy,
    verify_signature,
};
use crate::db::users::User;
use crate::escalation::contacts::{self, ContactInput};
use crate::escalation::outbox::{DeliveryPolicy, DeliveryWorker};
use crate::testing::builders::team;
use crate::testing::{self, send};

const ROUTING_KEY: &str = "R0UTINGKEY0123456789abcdefABCDEF";
const SIGNING_KEY: &str = "alice-signing-key-0123";

/// Adds a contact method to `user` as that user; returns its id.
async fn add(pool: &PgPool, user: &User, kind: &str, label: &str, target: &str, secret: &str) -> Uuid {
    let input = ContactInput {
        kind: kind.into(),
        label: label.into(),
        target: target.into(),
        secret: secret.into(),
        enabled: true,
    };
    let mut tx = pool.begin().await.expect("begin");
    let id =
        contacts::add_contact(&mut tx, &testing::actor(user), user.id, &input).await.expect("valid contact");
    tx.commit().await.expect("commit");
    id
}

/// `text` as the pages write it (askama escapes the apostrophe of "Alice's").
fn html(text: &str) -> String {
    text.replace('\'', "&#39;")
}

fn contact_names(page: &Value) -> Vec<String> {
    page["contacts"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["name"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn paging_the_primary_queues_and_delivers_one_row_to_each_of_their_webhook_and_pagerduty(pool: PgPool) {
    let t = team(&pool).await;
    let hook = Receiver::start(&[], None).await;
    let pagerduty = Receiver::start(&[], None).await;
    add(&pool, &t.alice, "webhook", "Phone hook", &hook.url("/alice"), SIGNING_KEY).await;
    add(&pool, &t.alice, "pagerduty", "", ROUTING_KEY, "").await;
    add(&pool, &t.bob, "webhook", "", &hook.url("/bob"), SIGNING_KEY).await;
    let incident = declared(&pool, Severity::P1).await;

    let notified = events_of(&pool, &incident, TimelineKind::Notified).await;
    assert_eq!(notified.len(), 1);
    assert_eq!(notified[0]["notified"], true, "{notified:?}");
    assert_eq!(contact_names(&notified[0]), ["Alice's PagerDuty", "Alice's Phone hook"]);
    assert!(
        notified[0]["contacts"]
            .as_array()
            .expect("contacts")
            .iter()
            .all(|c| c["notification_id"].is_string())
    );
    let rows: i64 =
        sqlx::query_scalar("select count(*) from notifications where contact_method_id is not null")
            .fetch_one(&pool)
            .await
            .expect("rows");
    assert_eq!(rows, 2, "one row per contact method of the paged person, none for Bob");

    let config = config_with(&[("TWISTERLAB_PAGERDUTY_EVENTS_URL", &pagerduty.url("/v2/enqueue"))]);
    deliver_all(&DeliveryWorker::new(pool.clone(), &config, quick_policy())).await;
    let hooked = hook.requests();
    assert_eq!(hooked.len(), 1, "Bob was not paged");
    assert!(
        verify_signature(SIGNING_KEY, &hooked[0].headers, &hooked[0].body),
        "signed like channel webhooks"
    );
    let body: Value = serde_json::from_slice(&hooked[0].body).expect("json");
    assert_eq!(
        (body["type"].as_str(), body["data"]["paged"]["name"].as_str()),
        (Some("incident.declared"), Some("Alice"))
    );
    let paged = pagerduty.requests();
    assert_eq!(paged.len(), 1);
    let event: Value = serde_json::from_slice(&paged[0].body).expect("json");
    assert_eq!(event["routing_key"], ROUTING_KEY);
    assert_eq!(event["event_action"], "trigger");
    assert_eq!(event["dedup_key"], format!("INC-{}", incident.number.get()));

    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let (_, page) =
        send(&testing::app(&pool), testing::get(&format!("/incidents/{}", incident.number), Some(&viewer)))
            .await;
    assert!(
        page.contains(&html("Paged Alice (primary on call) through Alice's PagerDuty, Alice's Phone hook")),
        "{page}"
    );
    for name in ["Alice's Phone hook", "Alice's PagerDuty"] {
        assert!(page.contains(&format!("<td>{}</td>", html(name))), "{name} is listed: {page}");
    }
    assert!(!page.contains("Nobody could be reached") && !page.contains(ROUTING_KEY), "{page}");
    let delivered: i64 = sqlx::query_scalar(
        "select count(*) from notifications where contact_method_id is not null and state = 'delivered'",
    )
    .fetch_one(&pool)
    .await
    .expect("delivered");
    assert_eq!(delivered, 2);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_person_with_no_contact_method_and_no_channel_is_not_notified_and_the_page_says_so(pool: PgPool) {
    let t = team(&pool).await;
    add(&pool, &t.bob, "pagerduty", "", ROUTING_KEY, "").await;
    let incident = declared(&pool, Severity::P1).await;
    let notified = events_of(&pool, &incident, TimelineKind::Notified).await;
    assert_eq!((notified[0]["notified"].as_bool(), contact_names(&notified[0]).len()), (Some(false), 0));

    let app = testing::app(&pool);
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let (_, page) = send(&app, testing::get(&format!("/incidents/{}", incident.number), Some(&viewer))).await;
    assert!(page.contains("class=\"flash error unreached\""), "{page}");
    assert!(
        page.contains(
            "Nobody was notified: no notification channel carries this page (Alice is primary on call"
        ),
        "{page}"
    );

    // The on-call page says how each person on call would be reached.
    let (_, oncall) = send(&app, testing::get("/oncall", Some(&viewer))).await;
    assert!(oncall.contains("no contact method: only channels"), "Alice: {oncall}");
    assert!(oncall.contains("pages also go to PagerDuty"), "Bob: {oncall}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_e_mail_contact_is_recorded_dead_at_once_and_the_page_reads_as_not_delivered(pool: PgPool) {
    let t = team(&pool).await;
    add(&pool, &t.alice, "email", "", "alice@example.com", "").await;
    let incident = declared(&pool, Severity::P1).await;
    let notified = events_of(&pool, &incident, TimelineKind::Notified).await;
    assert_eq!(notified[0]["notified"], false, "nothing is on its way: {notified:?}");
    let (state, error): (String, Option<String>) =
        sqlx::query_as("select state, last_error from notifications").fetch_one(&pool).await.expect("row");
    assert_eq!(
        (state.as_str(), error.as_deref()),
        ("dead", Some("e-mail is not set up: set TWISTERLAB_SMTP_URL"))
    );

    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let (_, page) =
        send(&testing::app(&pool), testing::get(&format!("/incidents/{}", incident.number), Some(&viewer)))
            .await;
    assert!(page.contains("Nobody could be reached: every page failed to deliver"), "{page}");
    assert!(
        page.contains("not delivered, given up: e-mail is not set up: set TWISTERLAB_SMTP_URL"),
        "{page}"
    );
    assert!(page.contains(&html("Alice's e-mail")), "{page}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_contact_whose_receiver_fails_until_the_attempts_run_out_shows_the_failure_on_the_incident_page(
    pool: PgPool,
) {
    let t = team(&pool).await;
    let hook = Receiver::start(&[], Some(500)).await;
    add(&pool, &t.alice, "webhook", "", &hook.url("/alice/s3cr3t-path"), SIGNING_KEY).await;
    let incident = declared(&pool, Severity::P2).await;
    let w = DeliveryWorker::new(
        pool.clone(),
        &testing::config(),
        DeliveryPolicy { max_attempts: 2, ..quick_policy() },
    );
    deliver_all(&w).await;
    assert_eq!(hook.requests().len(), 2);

    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let (_, page) =
        send(&testing::app(&pool), testing::get(&format!("/incidents/{}", incident.number), Some(&viewer)))
            .await;
    assert!(page.contains("1 delivery failed"), "{page}");
    assert!(page.contains("not delivered, given up: HTTP 500"), "{page}");
    assert!(page.contains(&html("<td>Alice's webhook</td>")), "{page}");
    assert!(page.contains("Nobody could be reached: every page failed to deliver"), "{page}");
    assert!(!page.contains("s3cr3t-path"), "the URL is not shown");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_slack_message_of_a_page_mentions_the_paged_persons_member_id(pool: PgPool) {
    let t = team(&pool).await;
    add(&pool, &t.alice, "slack", "", "U024BE7LH", "").await;

    // Without a Slack channel the mention has nowhere to go: not notified.
    let lonely = declared(&pool, Severity::P2).await;
    let notified = events_of(&pool, &lonely, TimelineKind::Notified).await;
    assert_eq!(notified[0]["notified"], false);
    assert_eq!(notified[0]["contacts"][0]["note"], "not mentioned: no Slack channel carries this page");

    let slack = Receiver::start(&[], None).await;
    channel(&pool, ChannelKind::Slack, &slack.url("/services/T0/B0/x"), None).await;
    let incident = declared(&pool, Severity::P2).await;
    let notified = events_of(&pool, &incident, TimelineKind::Notified).await;
    let name: String =
        sqlx::query_scalar("select name from notification_channels").fetch_one(&pool).await.expect("name");
    assert_eq!(notified[0]["contacts"][0]["note"], format!("mentioned in {name}"));
    assert_eq!(notified[0]["notified"], true);
    deliver_all(&DeliveryWorker::new(pool.clone(), &testing::config(), quick_policy())).await;
    let bodies: Vec<Value> =
        slack.requests().iter().map(|r| serde_json::from_slice(&r.body).expect("json")).collect();
    assert_eq!(bodies.len(), 1);
    assert!(bodies[0]["text"].as_str().expect("text").contains("<@U024BE7LH>"), "{}", bodies[0]);

    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let (_, page) =
        send(&testing::app(&pool), testing::get(&format!("/incidents/{}", incident.number), Some(&viewer)))
            .await;
    assert!(page.contains(&html(&format!("Alice's Slack (mentioned in {name})"))), "{page}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_bad_slack_id_url_routing_key_or_e_mail_is_a_field_error_and_nothing_is_saved(pool: PgPool) {
    let me = testing::signed_in(&pool, Role::Responder).await;
    let app = testing::app(&pool);
    for (kind, target, message) in [
        ("slack", "C024BE7LH", "Enter a Slack member ID like U024BE7LH"),
        ("webhook", "ftp://hooks.example/x", "Use an http:// or https:// address."),
        ("pagerduty", "not-a-key", "Enter the 32-character integration key"),
        ("email", "maya@", "Enter an e-mail address like maya@example.com."),
        ("sms", "+4912345", "Choose Slack, webhook, PagerDuty or e-mail."),
    ] {
        let (response, page) = send(
            &app,
            testing::post_form(
                "/account/contacts",
                Some(&me),
                &[("kind", kind), ("target", target), ("enabled", "on")],
            ),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{kind}");
        assert!(page.contains("field-error") && page.contains(message), "{kind}: {page}");
    }
    let (_, page) = send(
        &app,
        testing::post_form(
            "/account/contacts",
            Some(&me),
            &[("kind", "webhook"), ("target", "https://hooks.example/x")],
        ),
    )
    .await;
    assert!(page.contains("Enter a signing secret of at least 16 characters"), "{page}");
    let n: i64 =
        sqlx::query_scalar("select count(*) from contact_methods").fetch_one(&pool).await.expect("n");
    assert_eq!(n, 0);
    assert!(testing::audit_actions(&pool, "contact_method.create").await.is_empty());

    let (response, _) = send(
        &app,
        testing::post_form(
            "/account/contacts",
            Some(&me),
            &[("kind", "email"), ("target", "me@example.com")],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (response, page) = send(
        &app,
        testing::post_form(
            "/account/contacts",
            Some(&me),
            &[("kind", "email"), ("target", "me@example.com")],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("This person already has this contact method."), "{page}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_responder_cannot_change_another_persons_contact_methods_but_an_admin_can(pool: PgPool) {
    let t = team(&pool).await;
    let bobs = add(&pool, &t.bob, "email", "Work mail", "bob@example.com", "").await;
    let alice = testing::session_for(&pool, t.alice.clone()).await;
    let app = testing::app(&pool);
    let mine = format!("/account/contacts/{bobs}");
    let (response, _) = send(&app, testing::get(&mine, Some(&alice))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "someone else's is not found");
    for (path, fields) in [
        (mine.clone(), vec![("label", "Mine now"), ("target", "alice@example.com"), ("enabled", "on")]),
        (format!("{mine}/delete"), vec![("confirm", "yes")]),
        (format!("{mine}/enabled"), vec![("enabled", "no")]),
        (format!("{mine}/test"), vec![]),
    ] {
        let (response, _) = send(&app, testing::post_form(&path, Some(&alice), &fields)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let admin_path = format!("/admin/users/{}/contacts", t.bob.id);
    let (response, _) = send(&app, testing::get(&admin_path, Some(&alice))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (_, page) = send(&app, testing::get("/account/contacts", Some(&alice))).await;
    assert!(!page.contains("bob@example.com"), "{page}");

    let admin = testing::signed_in(&pool, Role::Admin).await;
    let (response, page) = send(&app, testing::get(&admin_path, Some(&admin))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(page.contains(&html("Bob's contact methods")) && page.contains("bob@example.com"), "{page}");
    let (response, _) = send(
        &app,
        testing::post_form(
            &format!("{admin_path}/{bobs}"),
            Some(&admin),
            &[("label", "Work mail"), ("target", "bob@ops.example.com"), ("enabled", "on")],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let target: String = sqlx::query_scalar("select target from contact_methods where id = $1")
        .bind(bobs)
        .fetch_one(&pool)
        .await
        .expect("t");
    assert_eq!(target, "bob@ops.example.com");
    let audit = testing::audit_actions(&pool, "contact_method.update").await;
    assert_eq!(audit.len(), 1);

    // Deleting asks first.
    let delete = format!("{admin_path}/{bobs}/delete");
    let (response, _) = send(&app, testing::post_form(&delete, Some(&admin), &[])).await;
    assert_eq!(
        (response.status(), response.headers()["location"].to_str().ok()),
        (StatusCode::SEE_OTHER, Some(delete.as_str()))
    );
    let (_, page) = send(&app, testing::get(&delete, Some(&admin))).await;
    assert!(page.contains("<input type=\"hidden\" name=\"confirm\" value=\"yes\">"), "{page}");
    let (response, _) = send(&app, testing::post_form(&delete, Some(&admin), &[("confirm", "yes")])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let n: i64 =
        sqlx::query_scalar("select count(*) from contact_methods").fetch_one(&pool).await.expect("n");
    assert_eq!(n, 0);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn send_a_test_on_a_channel_and_on_a_contact_shows_delivered_or_failed_with_the_reason(pool: PgPool) {
    let t = team(&pool).await;
    let receiver = Receiver::start(&[Behaviour::Accept, Behaviour::Fail(404)], None).await;
    let pagerduty = Receiver::start(&[], None).await;
    let good = channel(&pool, ChannelKind::Webhook, &receiver.url("/hook"), Some(SIGNING_KEY)).await;
    let refused = channel(&pool, ChannelKind::Slack, "http://127.0.0.1:9/services/T0/B0/s3cr3t", None).await;
    let config = config_with(&[("TWISTERLAB_PAGERDUTY_EVENTS_URL", &pagerduty.url("/v2/enqueue"))]);
    let app = crate::app(crate::state::AppState::new(pool.clone(), config, "test".into()));
    let admin = testing::signed_in(&pool, Role::Admin).await;

    let (response, page) =
        send(&app, testing::post_form(&format!("/admin/channels/{good}/test"), Some(&admin), &[])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(page.contains("Delivered: HTTP 202 in "), "{page}");
    let got = receiver.requests();
    assert!(verify_signature(SIGNING_KEY, &got[0].headers, &got[0].body), "signed like every delivery");
    let (_, page) =
        send(&app, testing::post_form(&format!("/admin/channels/{refused}/test"), Some(&admin), &[])).await;
    assert!(page.contains("Failed: connection refused to 127.0.0.1:9 — check the URL"), "{page}");
    assert!(!page.contains("s3cr3t"), "{page}");

    let alice = testing::session_for(&pool, t.alice.clone()).await;
    let pd = add(&pool, &t.alice, "pagerduty", "", ROUTING_KEY, "").await;
    let hook = add(&pool, &t.alice, "webhook", "", &receiver.url("/alice"), SIGNING_KEY).await;
    let (response, page) =
        send(&app, testing::post_form(&format!("/account/contacts/{pd}/test"), Some(&alice), &[])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(page.contains("Delivered: HTTP 202 in "), "{page}");
    let event: Value = serde_json::from_slice(&pagerduty.requests()[0].body).expect("json");
    assert_eq!(
        (event["routing_key"].as_str(), event["event_action"].as_str()),
        (Some(ROUTING_KEY), Some("trigger"))
    );
    let (_, page) =
        send(&app, testing::post_form(&format!("/account/contacts/{hook}/test"), Some(&alice), &[])).await;
    assert!(page.contains("Failed: HTTP 404 from 127.0.0.1:"), "{page}");
    assert!(!page.contains("try later"), "a person's own address: its answer is not quoted: {page}");
    assert!(page.contains("check the URL and the key"), "{page}");

    let audit = testing::audit_actions(&pool, "channel.test").await;
    assert_eq!(audit.len(), 2);
    let audit = testing::audit_actions(&pool, "contact_method.test").await;
    assert_eq!(audit.len(), 2);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn contact_method_secrets_never_reach_a_page_or_the_audit_log(pool: PgPool) {
    let me = testing::signed_in(&pool, Role::Responder).await;
    let app = testing::app(&pool);
    let url = "https://hooks.example.com/in/T0K3N?sig=Q5ERY";
    for fields in [
        vec![
            ("kind", "webhook"),
            ("label", "Hook"),
            ("target", url),
            ("secret", "s3cr3t-signing-key-123"),
            ("enabled", "on"),
        ],
        vec![("kind", "pagerduty"), ("target", ROUTING_KEY), ("enabled", "on")],
    ] {
        let (response, _) = send(&app, testing::post_form("/account/contacts", Some(&me), &fields)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let ids: Vec<Uuid> = sqlx::query_scalar("select id from contact_methods order by kind desc")
        .fetch_all(&pool)
        .await
        .expect("ids");
    let mut paths = vec!["/account/contacts".to_owned()];
    paths.extend(ids.iter().map(|id| format!("/account/contacts/{id}")));
    for path in &paths {
        let (response, page) = send(&app, testing::get(path, Some(&me))).await;
        assert_eq!(response.status(), StatusCode::OK);
        for secret in ["s3cr3t-signing-key-123", "T0K3N", "Q5ERY", ROUTING_KEY] {
            assert!(!page.contains(secret), "{path} shows {secret}");
        }
    }
    // Saving with blank target and secret keeps both; disabling and deleting are audited too.
    let hook = ids[0];
    let (response, _) = send(
        &app,
        testing::post_form(&format!("/account/contacts/{hook}"), Some(&me), &[("label", "Hook 2")]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (target, secret, enabled): (String, Option<String>, bool) =
        sqlx::query_as("select target, secret, enabled from contact_methods where id = $1")
            .bind(hook)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!((target.as_str(), secret.as_deref(), enabled), (url, Some("s3cr3t-signing-key-123"), false));
    send(
        &app,
        testing::post_form(&format!("/account/contacts/{}/enabled", ids[1]), Some(&me), &[("enabled", "no")]),
    )
    .await;
    send(
        &app,
        testing::post_form(&format!("/account/contacts/{}/delete", ids[1]), Some(&me), &[("confirm", "yes")]),
    )
    .await;
    let rows: Vec<String> = sqlx::query_scalar(
        "select action || coalesce(before::text, '') || coalesce(after::text, '') from audit_log where action like 'contact_method.%'",
    )
    .fetch_all(&pool)
    .await
    .expect("audit");
    assert_eq!(rows.len(), 5, "{rows:?}");
    for row in rows {
        for secret in ["s3cr3t", "T0K3N", "Q5ERY", ROUTING_KEY] {
            assert!(!row.contains(secret), "{row}");
        }
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn acknowledging_and_resolving_follow_the_alert_on_the_paged_persons_pagerduty(pool: PgPool) {
    let t = team(&pool).await;
    let pagerduty = Receiver::start(&[], None).await;
    add(&pool, &t.alice, "pagerduty", "", ROUTING_KEY, "").await;
    add(&pool, &t.bob, "pagerduty", "", "B0BKEY0123456789abcdefABCDEFGHIJ", "").await;
    let incident = declared(&pool, Severity::P1).await;
    let mut tx = pool.begin().await.expect("begin");
    crate::incidents::service::acknowledge(&mut tx, &testing::actor(&t.alice), incident.number, None)
        .await
        .expect("ack");
    crate::incidents::service::resolve(&mut tx, &testing::actor(&t.alice), incident.number, None)
        .await
        .expect("resolve");
    tx.commit().await.expect("commit");
    let config = config_with(&[("TWISTERLAB_PAGERDUTY_EVENTS_URL", &pagerduty.url("/v2/enqueue"))]);
    deliver_all(&DeliveryWorker::new(pool.clone(), &config, quick_policy())).await;
    let sent: Vec<(String, String, String)> = pagerduty
        .requests()
        .iter()
        .map(|r| {
            let e: Value = serde_json::from_slice(&r.body).expect("json");
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (text("routing_key"), text("event_action"), text("dedup_key"))
        })
        .collect();
    let reference = format!("INC-{}", incident.number.get());
    let expected: Vec<(String, String, String)> = ["trigger", "acknowledge", "resolve"]
        .into_iter()
        .map(|a| (ROUTING_KEY.to_owned(), a.to_owned(), reference.clone()))
        .collect();
    assert_eq!(sent, expected, "in order, and only to the person who was paged");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn with_a_slack_bot_token_a_member_id_gets_a_direct_message_of_its_own(pool: PgPool) {
    let t = team(&pool).await;
    let slack_api = Receiver::start(&[], None).await;
    let api = slack_api.url("/api");
    let config = config_with(&[
        ("TWISTERLAB_SLACK_BOT_TOKEN", "xoxb-test-token"),
        ("TWISTERLAB_SLACK_API_URL", api.as_str()),
    ]);
    crate::escalation::channels::sync_configured(&pool, &config).await.expect("the start-up step");
    let id = add(&pool, &t.alice, "slack", "", "U024BE7LH", "").await;
    let incident = declared(&pool, Severity::P1).await;
    let notified = events_of(&pool, &incident, TimelineKind::Notified).await;
    assert_eq!(notified[0]["notified"], true, "{notified:?}");
    assert!(notified[0]["contacts"][0]["notification_id"].is_string(), "its own outbox row: {notified:?}");

    deliver_all(&DeliveryWorker::new(pool.clone(), &config, quick_policy())).await;
    let got = slack_api.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some("Bearer xoxb-test-token")
    );
    let message: Value = serde_json::from_slice(&got[0].body).expect("json");
    assert_eq!(message["channel"], "U024BE7LH");
    assert!(message["text"].as_str().expect("text").contains(&format!("INC-{}", incident.number.get())));

    let app = crate::app(crate::state::AppState::new(pool.clone(), config, "test".into()));
    let alice = testing::session_for(&pool, t.alice.clone()).await;
    let (_, page) =
        send(&app, testing::post_form(&format!("/account/contacts/{id}/test"), Some(&alice), &[])).await;
    assert!(page.contains("Delivered: HTTP 202 in "), "{page}");
    assert!(!page.contains("xoxb-test-token"), "{page}");
}
