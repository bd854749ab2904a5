//! What an action returns, shown in its step and kept on the timeline: a one-line summary and
//! optionally a table. Shared by the Kubernetes actions (`runbooks::actions`) and the database
//! diagnostics (`target_db`).

/// An action's result.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ActionOutput {
    pub summary: String,
    pub table: Option<Table>,
}

/// Rows of text under column headings.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl ActionOutput {
    /// A summary without a table.
    pub(crate) fn text(summary: impl Into<String>) -> Self {
        Self { summary: summary.into(), table: None }
    }

    /// A summary over a table.
    pub(crate) fn with_table(summary: impl Into<String>, table: Table) -> Self {
        Self { summary: summary.into(), table: Some(table) }
    }
}

impl Table {
    /// A table with `columns` and no rows yet.
    pub(crate) fn new<I, S>(columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { columns: columns.into_iter().map(Into::into).collect(), rows: Vec::new() }
    }

    /// Appends a row.
    pub(crate) fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }
}
