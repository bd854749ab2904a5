//! The SLA policy admin page, and incidents declared after a change.

use sqlx::PgPool;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;

use super::location;
use crate::testing::{self, audit_actions, builders, get, post_form, send};

fn sla_form<'a>(overrides: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("response_P0", "5"),
        ("escalation_P0", "immediately"),
        ("response_P1", "15"),
        ("escalation_P1", "after"),
        ("escalation_minutes_P1", "30"),
        ("response_P2", "60"),
        ("escalation_P2", "after"),
        ("escalation_minutes_P2", "120"),
        ("response_P3", "240"),
        ("escalation_P3", "next_business_day"),
        ("days", "1"),
        ("days", "2"),
        ("days", "3"),
        ("days", "4"),
        ("days", "5"),
        ("opens", "09:00"),
        ("closes", "17:00"),
    ];
    for (k, v) in overrides {
        fields.retain(|(key, _)| key != k);
        fields.push((k, v));
    }
    fields
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn admins_edit_the_sla_policy_and_new_incidents_follow_it(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let manager = testing::signed_in(&pool, Role::Manager).await;

    let (response, html) = send(&app, get("/admin/sla", Some(&admin))).await;
    assert_eq!(response.status(), 200);
    assert!(html.contains("declared from now on") && html.contains("value=\"15\""), "{html}");
    let (response, _) = send(&app, get("/admin/sla", Some(&manager))).await;
    assert_eq!(response.status(), 403);

    for (overrides, field) in [
        (vec![("response_P1", "0")], "response_P1"),
        (vec![("response_P1", "abc")], "response_P1"),
        (vec![("response_P2", "20000")], "response_P2"),
        (vec![("escalation_minutes_P1", "-5")], "escalation_P1"),
        (vec![("escalation_P0", "sometimes")], "escalation_P0"),
        (vec![("opens", "18:00")], "closes"),
        (vec![("opens", "9 o'clock")], "opens"),
    ] {
        let (response, html) = send(&app, post_form("/admin/sla", Some(&admin), &sla_form(&overrides))).await;
        assert_eq!(response.status(), 422, "{overrides:?}");
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{overrides:?}: {html}");
    }
    let mut no_days = sla_form(&[]);
    no_days.retain(|(k, _)| *k != "days");
    let (response, html) = send(&app, post_form("/admin/sla", Some(&admin), &no_days)).await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"days-error\""), "{html}");
    assert!(audit_actions(&pool, "sla.update").await.is_empty(), "nothing saved");

    let (response, _) = send(
        &app,
        post_form(
            "/admin/sla",
            Some(&admin),
            &sla_form(&[("response_P1", "7"), ("escalation_minutes_P1", "45"), ("closes", "18:30")]),
        ),
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin/sla?notice=saved");
    let rows = audit_actions(&pool, "sla.update").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].before.as_ref().expect("before")["P1"]["response_minutes"], 15);
    assert_eq!(rows[0].after.as_ref().expect("after")["P1"]["response_minutes"], 7);
    assert_eq!(rows[0].after.as_ref().expect("after")["business_hours"]["closes"], "18:30");
    let (_, html) = send(&app, get("/admin/sla?notice=saved", Some(&admin))).await;
    assert!(
        html.contains("was saved") && html.contains("value=\"7\"") && html.contains("value=\"18:30\""),
        "{html}"
    );

    let commander = testing::user(&pool, Role::Commander).await;
    let incident = builders::incident("After the policy change")
        .severity(Severity::P1)
        .by(&commander)
        .declare(&pool)
        .await;
    assert_eq!(incident.respond_by.duration_since(incident.started_at).as_mins(), 7);
    assert_eq!(incident.escalate_by.duration_since(incident.started_at).as_mins(), 45);
}
