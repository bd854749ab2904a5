//! What a runbook step's action produced, shown in the step and kept on the timeline.

use serde::{Deserialize, Serialize};

/// The result of running (or previewing) an action: one sentence a responder reads first, and
/// the rows behind it when there are any.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ActionOutput {
    pub summary: String,
    pub table: Option<Table>,
}

/// A table of text cells; every row has one cell per column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}
