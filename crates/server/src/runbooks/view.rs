//! How runbooks, steps and action outputs are shown.

use twisterlab_domain::runbook::{Runbook, Step};

use super::output::ActionOutput;
use crate::markdown;

/// One parameter of a step's action, as its form shows it.
pub(crate) struct ParamView {
    /// The form field's name: `<step>--p-<param>`.
    pub field: String,
    pub label: String,
    pub value: String,
    pub help: String,
    pub editable: bool,
}

/// A step as the runbook page and the run page show it.
pub(crate) struct StepView {
    pub key: String,
    pub title: String,
    pub explanation_html: String,
    pub command: Option<String>,
    /// "Scale", with what it does ("scale deployment twisterlab-api to 3 replicas").
    pub action: Option<(String, String)>,
    pub changes: bool,
    pub role: String,
    pub params: Vec<ParamView>,
}

impl StepView {
    pub(crate) fn of(step: &Step) -> Self {
        let key = step.key.as_str();
        Self {
            key: key.to_owned(),
            title: step.title.as_str().to_owned(),
            explanation_html: markdown::to_html(&step.explanation),
            command: step.command.clone(),
            action: step.action.as_ref().map(|a| (a.action.kind().label().to_owned(), a.action.to_string())),
            changes: step.changes(),
            role: step.required_role().to_string(),
            params: step
                .action
                .as_ref()
                .map(|a| {
                    a.fields()
                        .into_iter()
                        .map(|f| ParamView {
                            field: param_field(key, f.spec.name),
                            label: f.spec.label.to_owned(),
                            value: f.value.map(|v| v.to_string()).unwrap_or_default(),
                            help: f.spec.help.to_owned(),
                            editable: f.editable,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// The form field of parameter `param` of step `key`.
pub(crate) fn param_field(key: &str, param: &str) -> String {
    format!("{key}--p-{param}")
}

/// The form field `name` (note, reason, message) of step `key`.
pub(crate) fn step_field(key: &str, name: &str) -> String {
    format!("{key}--{name}")
}

/// A section with its steps.
pub(crate) struct SectionView {
    pub kind: &'static str,
    pub title: String,
    pub cause: Option<String>,
    pub steps: Vec<StepView>,
}

pub(crate) fn sections(runbook: &Runbook) -> Vec<SectionView> {
    runbook
        .sections
        .iter()
        .map(|s| SectionView {
            kind: s.kind.label(),
            title: s.title.as_str().to_owned(),
            cause: s.cause.clone(),
            steps: s.steps.iter().map(StepView::of).collect(),
        })
        .collect()
}

/// An action's output as shown.
pub(crate) struct OutputView {
    pub summary: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl OutputView {
    pub(crate) fn of(output: &ActionOutput) -> Self {
        Self {
            summary: output.summary.clone(),
            columns: output.table.as_ref().map(|t| t.columns.clone()).unwrap_or_default(),
            rows: output.table.as_ref().map(|t| t.rows.clone()).unwrap_or_default(),
        }
    }

    pub(crate) fn from_json(value: Option<&serde_json::Value>) -> Option<Self> {
        let output: ActionOutput = serde_json::from_value(value?.clone()).ok()?;
        Some(Self::of(&output))
    }
}

/// A run as the incident's and the window's pages show it: its progress and a link.
pub(crate) struct RunSummary {
    pub href: String,
    pub title: String,
    pub status: &'static str,
    pub progress: String,
    pub percent: usize,
}

/// The runs on an incident or a window, newest first, with their progress.
pub(crate) async fn summaries(
    conn: &mut sqlx::PgConnection,
    runs: Vec<crate::db::runbook_runs::Run>,
) -> Result<Vec<RunSummary>, sqlx::Error> {
    let mut out = Vec::with_capacity(runs.len());
    for run in runs {
        let steps = crate::db::runbook_runs::steps(&mut *conn, run.id).await?;
        let progress = twisterlab_domain::runbook::Progress::of(steps.iter().map(|s| s.state.status()));
        let title = crate::db::runbooks::find(&mut *conn, &run.slug, run.revision)
            .await?
            .map_or_else(|| run.slug.clone(), |v| v.runbook.title.to_string());
        out.push(RunSummary {
            href: format!("/runs/{}", run.id),
            title,
            status: run.status.label(),
            progress: progress.to_string(),
            percent: progress.percent_finished(),
        });
    }
    Ok(out)
}
