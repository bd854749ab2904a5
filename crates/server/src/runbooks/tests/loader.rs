use sqlx::PgPool;
use twisterlab_domain::role::Role;
use twisterlab_domain::runbook::{SHIPPED_FILES, parse_runbook};

use super::{load, start_on_incident};
use crate::db::{runbook_runs, runbooks as store};
use crate::runbooks::loader::{load_files, load_shipped};
use crate::testing;

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn all_ten_shipped_runbooks_are_stored_with_their_steps_once(pool: PgPool) {
    let loaded = load_shipped(&pool).await.expect("loads");
    assert_eq!(loaded.stored.len(), 10);
    let stored = store::latest_all(&pool).await.expect("latest");
    assert_eq!(stored.len(), 10);
    for file in SHIPPED_FILES {
        let parsed = parse_runbook(file.name, file.text).expect("shipped files parse");
        let version = stored.iter().find(|v| v.runbook.slug == parsed.slug).expect("stored");
        assert_eq!(version.runbook, parsed, "{} stored as written", file.name);
        assert!(!version.runbook.step_keys().is_empty());
    }
    let again = load_shipped(&pool).await.expect("loads again");
    assert!(again.stored.is_empty(), "an unchanged file is not stored twice");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_broken_runbook_file_stops_loading_naming_file_line_and_field(pool: PgPool) {
    let good = SHIPPED_FILES[0];
    let broken = good.text.replacen("revision = 1", "revision = 0", 1);
    let err = load_files(&pool, [(good.name, broken.as_str())]).await.expect_err("refused");
    let text = format!("{err:#}");
    assert!(text.contains(&format!("runbooks/{}:", good.name)), "{text}");
    assert!(text.contains(": revision: "), "names the field: {text}");
    let unknown = good.text.replacen("kind = \"list_pods\"", "kind = \"reboot_cluster\"", 1);
    let text = format!(
        "{:#}",
        load_files(&pool, [(good.name, unknown.as_str())]).await.expect_err("unknown action")
    );
    assert!(text.contains("reboot_cluster"), "{text}");
    let syntax = format!("{}\n[[sections\n", good.text);
    let text = format!("{:#}", load_files(&pool, [(good.name, syntax.as_str())]).await.expect_err("syntax"));
    assert!(text.contains(&format!("runbooks/{}:", good.name)), "{text}");
    assert!(store::latest_all(&pool).await.expect("latest").is_empty(), "nothing is stored half-way");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_newer_file_makes_a_new_revision_and_a_run_keeps_the_one_it_started_with(pool: PgPool) {
    load(&pool).await;
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let (_, run) = start_on_incident(&pool, &commander, "api-pods-crashing").await;
    let file = SHIPPED_FILES.iter().find(|f| f.name == "api-pods-crashing.toml").expect("shipped");
    let newer = file.text.replacen("revision = 1", "revision = 2", 1).replacen(
        "title = \"API pods crashing",
        "title = \"API pods crash-looping",
        1,
    );
    let loaded = load_files(&pool, [(file.name, newer.as_str())]).await.expect("loads");
    assert_eq!(loaded.stored, ["api-pods-crashing"]);
    let latest = store::latest(&pool, "api-pods-crashing").await.expect("read").expect("stored");
    assert_eq!(latest.runbook.revision.get(), 2);
    let run = runbook_runs::find(&pool, run).await.expect("read").expect("run");
    assert_eq!(run.revision.get(), 1, "the run keeps its revision");
    // The older file again: the stored revision is newer and stays.
    assert!(load_shipped(&pool).await.expect("loads").stored.is_empty());
    assert_eq!(store::versions(&pool, "api-pods-crashing").await.expect("versions").len(), 2);
}
