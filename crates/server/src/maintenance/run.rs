//! The work of a window: the `planned-maintenance` runbook's steps (maintenance mode by scaling
//! to 0, database backup, migrations, the new image, scaling back up, waiting for the rollout
//! and checking health, leaving maintenance mode), followed as a guided run.
//!
//! [`start_for_window`] is the one seam between windows and guided runs: starting a window calls
//! it in the start's transaction. Guided runs (`runbooks`, issue 11) attach to incidents; until
//! they also take a maintenance window as their subject, it records on the window's log which
//! runbook revision the team follows, and the window's page lists that runbook's steps.

use serde_json::json;
use sqlx::PgConnection;
use twisterlab_domain::runbook::{Runbook, SHIPPED_FILES, SectionKind, parse_runbook};
use uuid::Uuid;

use crate::db::audit::Actor;
use crate::db::maintenance::{self as store, Window};

/// The runbook a window's work follows.
pub(crate) const RUNBOOK: &str = "planned-maintenance";

/// The shipped `planned-maintenance` runbook, if it parses (a content test holds it to that).
pub(crate) fn runbook() -> Option<Runbook> {
    let file = SHIPPED_FILES.iter().find(|f| f.name == format!("{RUNBOOK}.toml"))?;
    parse_runbook(file.name, file.text).ok()
}

/// One maintenance step as the window's page lists it.
#[derive(Clone, Debug)]
pub(crate) struct StepView {
    pub title: String,
    pub explanation: String,
    pub command: Option<String>,
    /// Whether the step acts on the cluster (scale, set image, wait for rollout…).
    pub kubernetes: bool,
}

/// The runbook's procedure steps (not its checklist section: the window has its own).
pub(crate) fn steps() -> Vec<StepView> {
    runbook()
        .map(|r| {
            r.sections
                .iter()
                .filter(|s| s.kind != SectionKind::Checklist)
                .flat_map(|s| s.steps.iter())
                .map(|step| StepView {
                    title: step.title.as_str().to_owned(),
                    explanation: step.explanation.clone(),
                    command: step.command.clone(),
                    kubernetes: step.action.is_some(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Begins the maintenance runbook for `window`, in the transaction that starts it; the id of
/// the guided run when one was started (see the module documentation).
pub(crate) async fn start_for_window(
    tx: &mut PgConnection,
    actor: &Actor,
    window: &Window,
) -> Result<Option<Uuid>, sqlx::Error> {
    let revision = runbook().map(|r| r.revision.get());
    store::append_event(
        &mut *tx,
        window.id,
        "started",
        actor.user_id,
        &actor.label,
        &format!("The work follows the runbook \u{201c}{RUNBOOK}\u{201d}: its steps are listed on this page"),
        json!({"runbook": RUNBOOK, "revision": revision}),
    )
    .await?;
    Ok(None)
}
