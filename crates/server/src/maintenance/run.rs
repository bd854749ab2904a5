//! The work of a window: the `planned-maintenance` runbook's steps (maintenance mode by scaling
//! to 0, database backup, migrations, the new image, scaling back up, waiting for the rollout
//! and checking health, leaving maintenance mode), followed as a guided run.
//!
//! [`start_for_window`] is the one seam between windows and guided runs: starting a window calls
//! it in the start's transaction and it starts a guided run (`runbooks`) whose subject is the
//! window; the window's page shows the run's progress and links to it.

use serde_json::json;
use sqlx::PgConnection;
use twisterlab_domain::runbook::{Runbook, SHIPPED_FILES, SectionKind, parse_runbook};
use uuid::Uuid;

use twisterlab_domain::runbook::run::START_ROLE;

use crate::db::audit::Actor;
use crate::db::maintenance::{self as store, Window};
use crate::db::runbook_runs::Subject;
use crate::runbooks::service::RunbookError;

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

/// Begins the maintenance runbook for `window` as a guided run whose subject is the window,
/// in the transaction that starts it; returns the run's id. Starting a window already needs a
/// commander, the role that starts runs. Before the start-up loader has stored the runbook (a
/// fresh database in tests), the shipped file is stored first.
pub(crate) async fn start_for_window(
    tx: &mut PgConnection,
    actor: &Actor,
    window: &Window,
) -> Result<Option<Uuid>, sqlx::Error> {
    if crate::db::runbooks::latest(&mut *tx, RUNBOOK).await?.is_none()
        && let Some(shipped) = runbook()
    {
        crate::db::runbooks::lock_slug(tx, RUNBOOK).await?;
        if crate::db::runbooks::latest(&mut *tx, RUNBOOK).await?.is_none() {
            crate::db::runbooks::insert(
                &mut *tx,
                &shipped,
                crate::db::runbooks::Source::File,
                None,
                "system",
            )
            .await?;
        }
    }
    let started =
        crate::runbooks::service::start_run(tx, actor, START_ROLE, RUNBOOK, Subject::Window(window.id)).await;
    let run_id = match started {
        Ok(id) => id,
        Err(RunbookError::Db(e)) => return Err(e),
        Err(other) => {
            tracing::error!(error = %other, "cannot start the maintenance runbook for the window");
            return Ok(None);
        }
    };
    let revision = crate::db::runbook_runs::find(&mut *tx, run_id).await?.map(|r| r.revision.get());
    store::append_event(
        &mut *tx,
        window.id,
        "started",
        actor.user_id,
        &actor.label,
        &format!("The work follows the runbook \u{201c}{RUNBOOK}\u{201d} as a guided run: /runs/{run_id}"),
        json!({"runbook": RUNBOOK, "revision": revision, "run": run_id}),
    )
    .await?;
    Ok(Some(run_id))
}
