//! The admin user pages: list, create, edit (with the last-admin rule), reset, end sessions.

use serde_json::json;
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::*;
use crate::testing::{self, Browser, audit_actions, get, post_form, send};

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn non_admins_are_refused_every_user_page_and_change(pool: PgPool) {
    let app = testing::app(&pool);
    let target = testing::user(&pool, Role::Viewer).await;
    let id = target.id.to_string();
    for role in [Role::Viewer, Role::Responder, Role::Commander, Role::Manager] {
        let b = testing::signed_in(&pool, role).await;
        for path in ["/admin/users".to_owned(), "/admin/users/new".into(), format!("/admin/users/{id}")] {
            let (response, _) = send(&app, get(&path, Some(&b))).await;
            assert_eq!(response.status(), 403, "{role} GET {path}");
        }
        let posts: [(String, Vec<(&str, &str)>); 4] = [
            (
                "/admin/users".into(),
                vec![("email", "sneaky@twisterlab.test"), ("role", "admin"), ("password", "")],
            ),
            (
                format!("/admin/users/{id}"),
                vec![("display_name", "x"), ("role", "admin"), ("state", "active")],
            ),
            (format!("/admin/users/{id}/password"), vec![("password", "")]),
            (format!("/admin/users/{id}/sessions/end"), vec![]),
        ];
        for (path, fields) in &posts {
            let (response, _) = send(&app, post_form(path, Some(&b), fields)).await;
            assert_eq!(response.status(), 403, "{role} POST {path}");
        }
    }
    assert_eq!(stored(&pool, target.id).await.role, Role::Viewer);
    assert_eq!(count(&pool, "select count(*) from users where email = 'sneaky@twisterlab.test'").await, 0);
    assert_eq!(count(&pool, "select count(*) from audit_log where action like 'user.%'").await, 0);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_user_list_shows_each_user_with_role_state_and_times(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let gone = testing::user(&pool, Role::Responder).await;
    users::update_profile(&pool, gone.id, "Gone Person", Role::Responder, false).await.expect("update");
    let (response, html) = send(&app, get("/admin/users", Some(&admin))).await;
    assert_eq!(response.status(), 200);
    assert!(html.contains(&format!("<a href=\"/admin/users/{}\">Gone Person</a>", gone.id)), "{html}");
    assert!(html.contains(&gone.email) && html.contains(&admin.user.email), "{html}");
    assert!(html.contains(">deactivated</span>") && html.contains(">active</span>"), "{html}");
    assert!(html.contains(">never</span>") && html.contains("UTC") && html.contains("just now"), "{html}");
    assert!(html.contains("href=\"/admin/users/new\""), "{html}");

    let (response, html) = send(&app, get("/admin/users/new", Some(&admin))).await;
    assert_eq!(response.status(), 200);
    for field in ["email", "display_name", "role", "password"] {
        assert!(html.contains(&format!("<label for=\"{field}\"")), "{field}: {html}");
    }
    assert!(html.contains(&format!("value=\"{}\"", admin.csrf)), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_admin_creates_a_user_who_must_change_the_generated_password(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let (response, html) = send(
        &app,
        post_form(
            "/admin/users",
            Some(&admin),
            &[
                ("email", " New.Person@Example.com "),
                ("display_name", "New Person"),
                ("role", "responder"),
                ("password", ""),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), 201, "{html}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let shown = shown_password(&html).expect("the generated password is shown");
    assert!(shown.len() >= 40, "{shown}");

    let (user, hash) =
        users::find_with_hash(&pool, "new.person@example.com").await.expect("find").expect("created");
    assert_eq!(user.email, "New.Person@Example.com");
    assert_eq!((user.display_name.as_str(), user.role, user.active), ("New Person", Role::Responder, true));
    assert!(user.must_change_password, "the first sign-in must choose a new password");
    assert!(matches!(
        password::verify(&Secret::new(shown.clone()), Some(hash)).await,
        Verification::Valid { .. }
    ));

    let rows = audit_actions(&pool, "user.create").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor_label, admin.user.email);
    assert_eq!(rows[0].target, "user:New.Person@Example.com");
    assert!(!serde_json::to_string(&rows[0].after).expect("json").contains(&shown));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_typed_temporary_password_is_used_and_not_shown_again(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let typed = "violet kettle under ninety lamps";
    let (response, html) = send(
        &app,
        post_form(
            "/admin/users",
            Some(&admin),
            &[("email", "typed@example.com"), ("display_name", ""), ("role", "viewer"), ("password", typed)],
        ),
    )
    .await;
    assert_eq!(response.status(), 201, "{html}");
    assert!(shown_password(&html).is_none() && !html.contains(typed), "{html}");
    let (user, hash) =
        users::find_with_hash(&pool, "typed@example.com").await.expect("find").expect("created");
    assert_eq!(user.display_name, "typed", "defaults to the e-mail's local part");
    assert!(user.must_change_password);
    assert!(matches!(password::verify(&Secret::new(typed), Some(hash)).await, Verification::Valid { .. }));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_duplicate_email_in_any_case_is_a_field_error_and_creates_nothing(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let existing = testing::user(&pool, Role::Viewer).await;
    let users_before = count(&pool, "select count(*) from users").await;
    let (response, html) = send(
        &app,
        post_form(
            "/admin/users",
            Some(&admin),
            &[
                ("email", &existing.email.to_uppercase()),
                ("display_name", "Twin"),
                ("role", "viewer"),
                ("password", ""),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"email-error\"") && html.contains("already exists"), "{html}");
    assert!(html.contains("aria-describedby=\"email-error\""), "{html}");
    assert!(html.contains(&format!("value=\"{}\"", existing.email.to_uppercase())), "kept as typed: {html}");
    assert_eq!(count(&pool, "select count(*) from users").await, users_before);
    assert!(audit_actions(&pool, "user.create").await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn invalid_fields_are_reported_each_beside_its_field_and_create_nothing(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let users_before = count(&pool, "select count(*) from users").await;
    type Fields<'a> = &'a [(&'a str, &'a str)];
    let long_name = "n".repeat(101);
    let long_email = format!("{}@example.com", "e".repeat(250));
    let cases: [(Fields, &[&str]); 6] = [
        (&[("email", "<script>alert(1)</script>"), ("role", "viewer"), ("password", "")], &["email"]),
        (&[("email", "weak@example.com"), ("role", "viewer"), ("password", "password123")], &["password"]),
        (&[("email", "short@example.com"), ("role", "viewer"), ("password", "tiny")], &["password"]),
        (
            &[
                ("email", "no-at-sign"),
                ("display_name", "Role <b>"),
                ("role", "superuser"),
                ("password", "x"),
            ],
            &["email", "role", "password"],
        ),
        (
            &[("email", "long@example.com"), ("display_name", &long_name), ("role", "viewer")],
            &["display_name"],
        ),
        (&[("email", &long_email), ("display_name", ""), ("role", "viewer"), ("password", "")], &["email"]),
    ];
    for (fields, bad) in cases {
        let (response, html) = send(&app, post_form("/admin/users", Some(&admin), fields)).await;
        assert_eq!(response.status(), 422, "{fields:?}");
        for field in bad {
            assert!(
                html.contains(&format!("<p class=\"field-error\" id=\"{field}-error\">")),
                "{field}: {html}"
            );
        }
        assert!(!html.contains("<script>alert(1)</script>") && !html.contains("Role <b>"), "escaped: {html}");
    }
    let (_, html) = send(
        &app,
        post_form(
            "/admin/users",
            Some(&admin),
            &[("email", "<script>alert(1)</script>"), ("role", "viewer")],
        ),
    )
    .await;
    assert!(html.contains("value=\"&#60;script&#62;alert(1)&#60;/script&#62;\""), "typed, escaped: {html}");
    assert_eq!(count(&pool, "select count(*) from users").await, users_before);
    assert!(audit_actions(&pool, "user.create").await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn names_with_script_tags_and_sql_are_stored_as_typed_and_shown_escaped(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let name = "<script>alert('x')</script> O'Brien\"; drop table users; --";
    let (response, html) = send(
        &app,
        post_form(
            "/admin/users",
            Some(&admin),
            &[("email", "obrien@example.com"), ("display_name", name), ("role", "viewer"), ("password", "")],
        ),
    )
    .await;
    assert_eq!(response.status(), 201, "{html}");
    let user = users::find_by_email(&pool, "obrien@example.com").await.expect("find").expect("created");
    assert_eq!(user.display_name, name);
    for path in ["/admin/users".to_owned(), format!("/admin/users/{}", user.id)] {
        let (response, html) = send(&app, get(&path, Some(&admin))).await;
        assert_eq!(response.status(), 200);
        assert!(!html.contains("<script>alert"), "{path}: {html}");
        assert!(html.contains("alert(") && html.contains("drop table users"), "{path}: {html}");
    }
    // Renaming through the edit form stores it as typed as well.
    let renamed = "Robert'); DROP TABLE students;-- <img src=x onerror=alert(1)>";
    let (response, _) = edit_user(&app, &admin, user.id, renamed, "viewer", "active").await;
    assert_eq!(response.status(), 303);
    assert_eq!(stored(&pool, user.id).await.display_name, renamed);
    let (_, html) = send(&app, get(&format!("/admin/users/{}", user.id), Some(&admin))).await;
    assert!(!html.contains("<img src=x") && html.contains("DROP TABLE students"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn unknown_or_malformed_user_ids_are_not_found(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let unknown = Uuid::now_v7();
    for path in [
        "/admin/users/not-a-uuid".to_owned(),
        format!("/admin/users/{unknown}"),
        "/admin/users/1' or '1'='1".into(),
    ] {
        let path = path.replace(' ', "%20").replace('\'', "%27");
        let (response, _) = send(&app, get(&path, Some(&admin))).await;
        assert_eq!(response.status(), 404, "GET {path}");
    }
    for path in [
        format!("/admin/users/{unknown}"),
        format!("/admin/users/{unknown}/password"),
        format!("/admin/users/{unknown}/sessions/end"),
        "/admin/users/nope/sessions/end".into(),
    ] {
        let fields = [("display_name", "x"), ("role", "viewer"), ("state", "active"), ("password", "")];
        let (response, _) = send(&app, post_form(&path, Some(&admin), &fields)).await;
        assert_eq!(response.status(), 404, "POST {path}");
    }
    assert_eq!(count(&pool, "select count(*) from audit_log").await, 0);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn changing_a_role_is_audited_with_before_and_after(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let target = testing::signed_in(&pool, Role::Viewer).await;
    let path = format!("/admin/users/{}", target.user.id);
    let (response, _) = edit_user(&app, &admin, target.user.id, "Vera Viewer", "manager", "active").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], format!("{path}?notice=saved").as_str());
    let user = stored(&pool, target.user.id).await;
    assert_eq!((user.role, user.display_name.as_str(), user.active), (Role::Manager, "Vera Viewer", true));
    assert!(still_signed_in(&app, &target).await, "a role change keeps the sessions");

    let rows = audit_actions(&pool, "user.update").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor_user_id, Some(admin.user.id));
    assert_eq!(rows[0].target, format!("user:{}", target.user.email));
    assert_eq!(rows[0].before, Some(json!({"display_name": "viewer", "role": "viewer", "active": true})));
    assert_eq!(
        rows[0].after,
        Some(json!({"display_name": "Vera Viewer", "role": "manager", "active": true}))
    );

    let (_, html) = send(&app, get(&format!("{path}?notice=saved"), Some(&admin))).await;
    assert!(html.contains("class=\"flash\" role=\"status\">Saved.</p>"), "{html}");
    // Sending the same values again changes and records nothing.
    let (response, _) = edit_user(&app, &admin, target.user.id, "Vera Viewer", "manager", "active").await;
    assert_eq!(response.headers()["location"], format!("{path}?notice=unchanged").as_str());
    assert_eq!(audit_actions(&pool, "user.update").await.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn invalid_edits_are_field_errors_and_change_nothing(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let target = testing::user(&pool, Role::Viewer).await;
    let (response, html) = edit_user(&app, &admin, target.id, "   ", "root", "gone").await;
    assert_eq!(response.status(), 422);
    for field in ["display_name", "role", "state"] {
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{field}: {html}");
    }
    assert_eq!(stored(&pool, target.id).await.role, Role::Viewer);
    assert!(audit_actions(&pool, "user.update").await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn deactivating_a_user_ends_their_sessions(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let target = testing::signed_in(&pool, Role::Responder).await;
    let second = testing::session_for(&pool, target.user.clone()).await;
    assert!(still_signed_in(&app, &target).await);

    // Deactivating asks first: the confirmation page carries the form, and nothing changed yet.
    let (response, html) =
        edit_user(&app, &admin, target.user.id, "responder", "responder", "deactivated").await;
    assert_eq!(response.status(), 200);
    assert!(
        html.contains("Deactivate responder?")
            && html.contains("<input type=\"hidden\" name=\"state\" value=\"deactivated\">")
            && html.contains("<input type=\"hidden\" name=\"confirm\" value=\"yes\">"),
        "{html}"
    );
    assert!(stored(&pool, target.user.id).await.active, "not deactivated unconfirmed");
    assert!(still_signed_in(&app, &target).await);
    assert!(audit_actions(&pool, "user.update").await.is_empty());

    let fields =
        [("display_name", "responder"), ("role", "responder"), ("state", "deactivated"), ("confirm", "yes")];
    let (response, _) =
        send(&app, post_form(&format!("/admin/users/{}", target.user.id), Some(&admin), &fields)).await;
    assert_eq!(response.status(), 303);
    assert!(!stored(&pool, target.user.id).await.active);
    assert_eq!(sessions_of(&pool, target.user.id).await, 0);
    assert!(!still_signed_in(&app, &target).await && !still_signed_in(&app, &second).await);

    let rows = audit_actions(&pool, "user.update").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].before.as_ref().and_then(|b| b.get("active")), Some(&json!(true)));
    assert_eq!(
        rows[0].after,
        Some(json!({"display_name": "responder", "role": "responder", "active": false, "sessions_ended": 2}))
    );
    let (_, html) = send(&app, get(&format!("/admin/users/{}", target.user.id), Some(&admin))).await;
    assert!(html.contains(">deactivated</span>") && html.contains("No live sessions"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_last_active_admin_can_be_neither_demoted_nor_deactivated(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    // An inactive admin does not count.
    let dormant = testing::user(&pool, Role::Admin).await;
    users::update_profile(&pool, dormant.id, "dormant", Role::Admin, false).await.expect("deactivate");

    let (response, html) = edit_user(&app, &admin, admin.user.id, "Me", "manager", "active").await;
    assert_eq!(response.status(), 409);
    assert!(html.contains("id=\"role-error\"") && html.contains("last active admin"), "{html}");
    let (response, html) = edit_user(&app, &admin, admin.user.id, "Me", "admin", "deactivated").await;
    assert_eq!(response.status(), 409);
    assert!(html.contains("id=\"state-error\"") && html.contains("last active admin"), "{html}");

    let me = stored(&pool, admin.user.id).await;
    assert_eq!((me.role, me.active, me.display_name.as_str()), (Role::Admin, true, "admin"));
    assert!(audit_actions(&pool, "user.update").await.is_empty(), "a refused change leaves no audit row");
    assert!(still_signed_in(&app, &admin).await);

    // With another active admin, stepping down is allowed (and leads away from admin pages).
    let other = testing::user(&pool, Role::Admin).await;
    let (response, _) = edit_user(&app, &admin, admin.user.id, "admin", "manager", "active").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    assert_eq!(stored(&pool, admin.user.id).await.role, Role::Manager);
    assert_eq!(audit_actions(&pool, "user.update").await.len(), 1);

    // ...and now `other` is the last one.
    let boss = testing::session_for(&pool, other.clone()).await;
    let (response, _) = edit_user(&app, &boss, other.id, "admin", "viewer", "active").await;
    assert_eq!(response.status(), 409);
    assert_eq!(stored(&pool, other.id).await.role, Role::Admin);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn two_admins_demoting_each_other_at_once_leave_one_admin(pool: PgPool) {
    let app = testing::app(&pool);
    let a = testing::signed_in(&pool, Role::Admin).await;
    let b = testing::signed_in(&pool, Role::Admin).await;
    let demote = |by: &Browser, whom: &Browser| {
        post_form(
            &format!("/admin/users/{}", whom.user.id),
            Some(by),
            &[("display_name", "admin"), ("role", "viewer"), ("state", "active")],
        )
    };
    // Hold the admin-change lock so both requests get past their own checks' start together.
    let mut gate = pool.begin().await.expect("begin");
    users::lock_admin_changes(&mut *gate).await.expect("lock");
    let first = tokio::spawn({
        let (app, request) = (app.clone(), demote(&a, &b));
        async move { send(&app, request).await.0.status().as_u16() }
    });
    let second = tokio::spawn({
        let (app, request) = (app.clone(), demote(&b, &a));
        async move { send(&app, request).await.0.status().as_u16() }
    });
    for _ in 0..100 {
        let waiting: i64 =
            sqlx::query_scalar("select count(*) from pg_locks where locktype = 'advisory' and not granted")
                .fetch_one(&pool)
                .await
                .expect("pg_locks");
        if waiting == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    gate.commit().await.expect("release");
    let mut statuses = [first.await.expect("first"), second.await.expect("second")];
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 409]);
    assert_eq!(count(&pool, "select count(*) from users where role = 'admin' and active").await, 1);
    assert_eq!(audit_actions(&pool, "user.update").await.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn resetting_a_password_forces_a_change_and_ends_sessions(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let target = testing::signed_in(&pool, Role::Commander).await;
    let (response, html) = reset_password(&app, &admin, target.user.id, "").await;
    assert_eq!(response.status(), 200, "{html}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let shown = shown_password(&html).expect("the generated password is shown once");
    assert!(html.contains("1 session was ended"), "{html}");

    let (user, hash) = users::find_with_hash(&pool, &target.user.email).await.expect("find").expect("exists");
    assert!(user.must_change_password);
    assert!(matches!(
        password::verify(&Secret::new(shown.clone()), Some(hash)).await,
        Verification::Valid { .. }
    ));
    assert_eq!(sessions_of(&pool, target.user.id).await, 0);
    assert!(!still_signed_in(&app, &target).await);

    let rows = audit_actions(&pool, "user.password_reset").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].target, format!("user:{}", target.user.email));
    assert_eq!(
        rows[0].after,
        Some(
            json!({"must_change_password": true, "generated": true, "sessions_ended": 1, "tokens_revoked": 0})
        )
    );
    let everything = serde_json::to_string(&(&rows[0].before, &rows[0].after)).expect("json");
    assert!(!everything.contains(&shown), "never the password");

    // A fresh sign-in session is sent to choose a new password before anything else.
    let back = testing::session_for(&pool, user).await;
    let (response, _) = send(&app, get("/", Some(&back))).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/account/password");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_weak_typed_reset_password_is_refused_and_changes_nothing(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let target = testing::signed_in(&pool, Role::Viewer).await;
    let (response, html) = reset_password(&app, &admin, target.user.id, "qwerty123456").await;
    assert_eq!(response.status(), 422);
    assert!(
        html.contains("id=\"password-error\"")
            && html.contains("aria-describedby=\"password-hint password-error\""),
        "{html}"
    );
    assert!(!stored(&pool, target.user.id).await.must_change_password);
    assert!(still_signed_in(&app, &target).await);
    assert!(audit_actions(&pool, "user.password_reset").await.is_empty());

    let typed = "amber pelican juggles seven oars";
    let (response, html) = reset_password(&app, &admin, target.user.id, typed).await;
    assert_eq!(response.status(), 200);
    assert!(shown_password(&html).is_none() && !html.contains(typed), "{html}");
    assert!(stored(&pool, target.user.id).await.must_change_password);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn ending_sessions_signs_the_user_out_everywhere_and_is_audited(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let target = testing::signed_in(&pool, Role::Responder).await;
    let _second = testing::session_for(&pool, target.user.clone()).await;
    let page = format!("/admin/users/{}", target.user.id);
    let (_, html) = send(&app, get(&page, Some(&admin))).await;
    assert!(html.contains("2 live;") && html.contains("127.0.0.1"), "{html}");
    assert!(!html.contains(&target.csrf), "never another user's CSRF token: {html}");

    let (response, _) = send(&app, post_form(&format!("{page}/sessions/end"), Some(&admin), &[])).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().expect("ascii").to_owned();
    assert_eq!(location, format!("{page}?notice=sessions-ended&ended=2"));
    assert_eq!(sessions_of(&pool, target.user.id).await, 0);
    assert!(!still_signed_in(&app, &target).await);
    assert!(stored(&pool, target.user.id).await.active, "ending sessions does not deactivate");

    let rows = audit_actions(&pool, "user.sessions_end").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].after, Some(json!({"sessions_ended": 2})));
    let (_, html) = send(&app, get(&location, Some(&admin))).await;
    assert!(html.contains("Ended 2 sessions.") && html.contains("No live sessions"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn admin_forms_without_the_csrf_token_change_nothing(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let target = testing::signed_in(&pool, Role::Viewer).await;
    let forged = Browser { csrf: "forged".into(), ..admin.clone() };
    let (response, _) =
        send(&app, post_form(&format!("/admin/users/{}/sessions/end", target.user.id), Some(&forged), &[]))
            .await;
    assert_eq!(response.status(), 403);
    assert!(still_signed_in(&app, &target).await);
    assert!(audit_actions(&pool, "user.sessions_end").await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn resetting_a_password_revokes_the_users_api_tokens(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let target = testing::signed_in(&pool, Role::Commander).await;
    let token = testing::api_token(&pool, &target.user, "pipeline").await;
    let (response, html) = reset_password(&app, &admin, target.user.id, "").await;
    assert_eq!(response.status(), 200, "{html}");
    let call = testing::api_request(axum::http::Method::GET, "/api/v1/incidents", Some(&token), None);
    let (response, _) = send(&app, call).await;
    assert_eq!(response.status(), 401, "the reset ends the user's API tokens too");
    let rows = audit_actions(&pool, "user.password_reset").await;
    assert_eq!(rows[0].after.as_ref().expect("after")["tokens_revoked"], 1, "{rows:?}");
}
