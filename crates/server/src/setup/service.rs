//! The checklist's one state change: an admin dismisses it for everyone.

use sqlx::PgConnection;

use crate::db::audit::{self, Actor, Entry};
use crate::db::setup;

/// Dismisses the checklist, with an audit row (`checklist.dismiss`); dismissing it again
/// changes nothing and writes no row.
pub(crate) async fn dismiss(tx: &mut PgConnection, actor: &Actor) -> Result<bool, sqlx::Error> {
    let facts = setup::facts(&mut *tx).await?;
    if !setup::dismiss(&mut *tx, actor.user_id).await? {
        return Ok(false);
    }
    let open: Vec<&str> =
        super::checklist::items(&facts).into_iter().filter(|i| !i.done).map(|i| i.label).collect();
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "checklist.dismiss",
            target: "first_run_checklist".into(),
            before: None,
            after: Some(serde_json::json!({ "open_items": open })),
        },
    )
    .await?;
    Ok(true)
}
