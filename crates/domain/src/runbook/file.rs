//! The runbook file format (`runbooks/<slug>.toml`, described in `runbooks/README.md`):
//! parsing with errors that name file, line, column and field, and writing back to TOML.
//!
//! The parser walks TOML's spanned document tree itself instead of deriving `Deserialize`,
//! so that every problem (a wrong type, an unknown key, an unknown action kind, a bad
//! parameter, a duplicate step key) carries the line of the value it is about.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::action::{ActionKind, FieldError, ParamValue, StepAction};
use super::signal::SignalPattern;
use super::{Revision, Runbook, Section, SectionKind, Slug, Step, StepKey};
use crate::incident::Title;

/// One problem in a runbook file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
    /// The field, as a path (`sections[1].steps[0].action.replicas`, indexes from 0); for a
    /// syntax error, the key being written on that line, when one can be made out.
    pub field: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// A runbook file that cannot be loaded, with every problem found (at least one), in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RunbookFileError {
    /// The file name as given to [`parse_runbook`] (`runbooks/api-pods-crashing.toml`).
    pub file: String,
    /// The problems, by position.
    pub problems: Vec<FileProblem>,
}

impl RunbookFileError {
    /// The first problem in the file.
    pub fn first(&self) -> Option<&FileProblem> {
        self.problems.first()
    }
}

impl fmt::Display for RunbookFileError {
    /// One line per problem: `runbooks/x.toml:12:13: sections[0].steps[1].action.replicas: must be…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: ", self.file, problem.line, problem.column)?;
            if let Some(field) = &problem.field {
                write!(f, "{field}: ")?;
            }
            f.write_str(&problem.message)?;
        }
        Ok(())
    }
}

/// A runbook file shipped in the repository's `runbooks/` directory, embedded at build time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShippedFile {
    /// The file name (`api-pods-crashing.toml`).
    pub name: &'static str,
    /// Its TOML text.
    pub text: &'static str,
}

macro_rules! shipped {
    ($($name:literal),* $(,)?) => {
        [$(ShippedFile { name: $name, text: include_str!(concat!("../../../../runbooks/", $name)) }),*]
    };
}

/// The ten runbooks of the operations runbook, as shipped in `runbooks/`.
pub const SHIPPED_FILES: [ShippedFile; 10] = shipped![
    "api-pods-crashing.toml",
    "high-api-latency.toml",
    "mcp-tools-not-responding.toml",
    "database-connection-exhaustion.toml",
    "agent-execution-failures.toml",
    "security-breach.toml",
    "planned-maintenance.toml",
    "database-vacuum-analyze.toml",
    "log-rotation-cleanup.toml",
    "capacity-planning.toml",
];

/// Parses several files (name, text): every runbook, or every file's error. Two files
/// declaring the same slug are an error on the second. Pass only `*.toml` files.
pub fn parse_runbooks<'a, I>(files: I) -> Result<Vec<Runbook>, Vec<RunbookFileError>>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut runbooks: Vec<Runbook> = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in files {
        match parse_runbook(name, text) {
            Ok(runbook) if runbooks.iter().any(|r| r.slug == runbook.slug) => errors.push(RunbookFileError {
                file: name.to_owned(),
                problems: vec![FileProblem {
                    line: 1,
                    column: 1,
                    field: Some("slug".into()),
                    message: format!("another file already defines the runbook {:?}", runbook.slug.as_str()),
                }],
            }),
            Ok(runbook) => runbooks.push(runbook),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() { Ok(runbooks) } else { Err(errors) }
}

/// Parses and checks one runbook file. `file_name` may be a path; its last component must
/// be `<slug>.toml`. Syntax errors stop at the first; other problems are all reported.
pub fn parse_runbook(file_name: &str, text: &str) -> Result<Runbook, RunbookFileError> {
    let fail = |problems: Vec<Problem>| {
        let mut problems: Vec<FileProblem> = problems.into_iter().map(|p| p.locate(text)).collect();
        problems.sort_by_key(|p| (p.line, p.column));
        RunbookFileError { file: file_name.to_owned(), problems }
    };
    let document = DeTable::parse(text).map_err(|error| {
        let span = error.span().unwrap_or(0..0);
        fail(vec![Problem {
            span: span.clone(),
            field: field_at(text, span.start),
            message: error.message().to_owned(),
        }])
    })?;
    let mut walker = Walker::default();
    let root = Tbl { map: document.get_ref(), path: String::new(), span: document.span() };
    let runbook = walker.runbook(&root);
    let runbook = match runbook {
        Some(runbook) if walker.problems.is_empty() => runbook,
        _ => {
            if walker.problems.is_empty() {
                // Every path that gives up records why; this keeps the error non-empty regardless.
                let message = "the file could not be read as a runbook".to_owned();
                walker.problems.push(Problem { span: 0..0, field: None, message });
            }
            return Err(fail(walker.problems));
        }
    };
    let stem = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    match stem.strip_suffix(".toml") {
        Some(name) if name == runbook.slug.as_str() => {}
        _ => walker.problem(
            walker.span_of("slug"),
            "slug",
            format!(
                "the file of runbook {:?} must be named {0}.toml, not {stem:?}: rename the file or change the slug",
                runbook.slug.as_str()
            ),
        ),
    }
    if let Err(errors) = runbook.check() {
        for FieldError { field, message } in errors {
            let span = walker.span_of(&field);
            walker.problems.push(Problem { span, field: Some(field), message });
        }
    }
    if walker.problems.is_empty() { Ok(runbook) } else { Err(fail(walker.problems)) }
}

/// A problem at a byte range of the text.
struct Problem {
    span: Range<usize>,
    field: Option<String>,
    message: String,
}

impl Problem {
    fn locate(self, text: &str) -> FileProblem {
        let start = self.span.start.min(text.len());
        // Spans are byte offsets on char boundaries; fall back to the line start otherwise.
        let before = text.get(..start).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        FileProblem { line, column, field: self.field, message: self.message }
    }
}

/// A table being read, with its path and span.
struct Tbl<'a, 'i> {
    map: &'a DeTable<'i>,
    path: String,
    span: Range<usize>,
}

impl Tbl<'_, '_> {
    fn child(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }
}

#[derive(Default)]
struct Walker {
    problems: Vec<Problem>,
    /// Field path → span of its value, to place [`Runbook::check`]'s problems.
    spans: BTreeMap<String, Range<usize>>,
}

fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn integer(value: &DeValue<'_>) -> Option<Option<i64>> {
    match value {
        DeValue::Integer(i) => Some(i64::from_str_radix(i.as_str(), i.radix()).ok()),
        _ => None,
    }
}

impl Walker {
    fn problem(&mut self, span: Range<usize>, field: &str, message: impl Into<String>) {
        self.problems.push(Problem { span, field: Some(field.to_owned()), message: message.into() });
    }

    /// The span recorded for `path`, or for its nearest recorded parent.
    fn span_of(&self, path: &str) -> Range<usize> {
        let mut path = path;
        loop {
            if let Some(span) = self.spans.get(path) {
                return span.clone();
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path = &path[..cut],
                None => return 0..0,
            }
        }
    }

    /// Reports keys of `t` not in `allowed`.
    fn deny_unknown(&mut self, t: &Tbl<'_, '_>, allowed: &[&str]) {
        for key in t.map.keys() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                let name = key.get_ref().as_ref();
                self.problem(
                    key.span(),
                    &t.child(name),
                    format!("unknown field `{name}`: expected one of {}", allowed.join(", ")),
                );
            }
        }
    }

    fn get<'a, 'i>(
        &mut self,
        t: &Tbl<'a, 'i>,
        key: &str,
        required: bool,
    ) -> Option<&'a Spanned<DeValue<'i>>> {
        let value = t.map.get(key);
        match value {
            Some(value) => {
                self.spans.insert(t.child(key), value.span());
            }
            None if required => {
                self.problem(t.span.clone(), &t.child(key), format!("missing field `{key}`"));
            }
            None => {}
        }
        value
    }

    fn string(&mut self, t: &Tbl<'_, '_>, key: &str, required: bool) -> Option<String> {
        let value = self.get(t, key, required)?;
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                self.problem(
                    value.span(),
                    &t.child(key),
                    format!("must be a string, found {}", type_name(other)),
                );
                None
            }
        }
    }

    fn parsed<T, E: fmt::Display>(
        &mut self,
        t: &Tbl<'_, '_>,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let text = self.string(t, key, true)?;
        parse(&text)
            .map_err(|e| {
                let span = self.span_of(&t.child(key));
                self.problem(span, &t.child(key), e.to_string());
            })
            .ok()
    }

    fn string_list(&mut self, t: &Tbl<'_, '_>, key: &str) -> Vec<(String, Range<usize>, String)> {
        let Some(value) = self.get(t, key, false) else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            let found = type_name(value.get_ref());
            self.problem(value.span(), &t.child(key), format!("must be an array of strings, found {found}"));
            return Vec::new();
        };
        let mut strings = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{}[{i}]", t.child(key));
            self.spans.insert(path.clone(), item.span());
            match item.get_ref() {
                DeValue::String(s) => strings.push((s.to_string(), item.span(), path)),
                other => {
                    self.problem(item.span(), &path, format!("must be a string, found {}", type_name(other)))
                }
            }
        }
        strings
    }

    fn tables<'a, 'i>(&mut self, t: &Tbl<'a, 'i>, key: &str, required: bool) -> Vec<Tbl<'a, 'i>> {
        let Some(value) = self.get(t, key, required) else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            let found = type_name(value.get_ref());
            self.problem(
                value.span(),
                &t.child(key),
                format!("must be an array of tables ([[{key}]]), found {found}"),
            );
            return Vec::new();
        };
        let mut tables = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{}[{i}]", t.child(key));
            self.spans.insert(path.clone(), item.span());
            match item.get_ref() {
                DeValue::Table(map) => tables.push(Tbl { map, path, span: item.span() }),
                other => {
                    self.problem(item.span(), &path, format!("must be a table, found {}", type_name(other)))
                }
            }
        }
        tables
    }

    fn runbook(&mut self, t: &Tbl<'_, '_>) -> Option<Runbook> {
        self.deny_unknown(
            t,
            &["slug", "revision", "title", "summary", "symptoms", "suggested_by", "sections"],
        );
        let slug = self.parsed(t, "slug", Slug::parse);
        let revision = self.get(t, "revision", true).and_then(|value| match integer(value.get_ref()) {
            Some(Some(n)) => {
                Revision::new(n).map_err(|e| self.problem(value.span(), "revision", e.to_string())).ok()
            }
            Some(None) => {
                self.problem(value.span(), "revision", "is too large");
                None
            }
            None => {
                let found = type_name(value.get_ref());
                self.problem(value.span(), "revision", format!("must be a whole number, found {found}"));
                None
            }
        });
        let title = self.parsed(t, "title", Title::parse);
        let summary = self.string(t, "summary", true);
        let symptoms = self.string_list(t, "symptoms").into_iter().map(|(s, _, _)| s).collect();
        let mut suggested_by = Vec::new();
        for (text, span, path) in self.string_list(t, "suggested_by") {
            match SignalPattern::parse(&text) {
                Ok(pattern) => suggested_by.push(pattern),
                Err(e) => self.problem(span, &path, e.to_string()),
            }
        }
        let sections: Vec<Option<Section>> =
            self.tables(t, "sections", true).iter().map(|section| self.section(section)).collect();
        Some(Runbook {
            slug: slug?,
            revision: revision?,
            title: title?,
            summary: summary?,
            symptoms,
            suggested_by,
            sections: sections.into_iter().collect::<Option<Vec<_>>>()?,
        })
    }

    fn section(&mut self, t: &Tbl<'_, '_>) -> Option<Section> {
        self.deny_unknown(t, &["kind", "title", "cause", "steps"]);
        let kind = self.parsed(t, "kind", |s| s.parse::<SectionKind>());
        let title = self.parsed(t, "title", Title::parse);
        let cause = self.string(t, "cause", false);
        let steps: Vec<Option<Step>> =
            self.tables(t, "steps", true).iter().map(|step| self.step(step)).collect();
        Some(Section {
            kind: kind?,
            title: title?,
            cause,
            steps: steps.into_iter().collect::<Option<Vec<_>>>()?,
        })
    }

    fn step(&mut self, t: &Tbl<'_, '_>) -> Option<Step> {
        self.deny_unknown(t, &["key", "title", "explanation", "command", "action"]);
        let key = self.parsed(t, "key", StepKey::parse);
        let title = self.parsed(t, "title", Title::parse);
        let explanation = self.string(t, "explanation", false).unwrap_or_default();
        let command = self.string(t, "command", false);
        let mut action_ok = true;
        let action = match self.get(t, "action", false) {
            None => None,
            Some(value) => match value.get_ref() {
                DeValue::Table(map) => {
                    let action = self.action(&Tbl { map, path: t.child("action"), span: value.span() });
                    action_ok = action.is_some();
                    action
                }
                other => {
                    let found = type_name(other);
                    self.problem(
                        value.span(),
                        &t.child("action"),
                        format!("must be a table such as {{ kind = \"list_pods\", deployment = \"twisterlab-api\" }}, found {found}"),
                    );
                    action_ok = false;
                    None
                }
            },
        };
        if !action_ok {
            return None;
        }
        Some(Step { key: key?, title: title?, explanation, command, action })
    }

    fn action(&mut self, t: &Tbl<'_, '_>) -> Option<StepAction> {
        let kind = self.parsed(t, "kind", |s| s.parse::<ActionKind>())?;
        let editable: Vec<(String, Range<usize>, String)> = self.string_list(t, "editable");
        let mut values = BTreeMap::new();
        let mut ok = true;
        for (key, value) in t.map.iter() {
            let name = key.get_ref().as_ref();
            if name == "kind" || name == "editable" {
                continue;
            }
            let path = t.child(name);
            self.spans.insert(path.clone(), value.span());
            let Some(spec) = kind.param(name) else {
                let names: Vec<&str> = kind.params().iter().map(|s| s.name).collect();
                let expected = if names.is_empty() {
                    "it takes no parameters".to_owned()
                } else {
                    format!("expected {} (or editable)", names.join(", "))
                };
                self.problem(
                    key.span(),
                    &path,
                    format!("is not a parameter of the {kind} action: {expected}"),
                );
                ok = false;
                continue;
            };
            let parsed = match (spec.ty, value.get_ref()) {
                (super::ParamType::Text, DeValue::String(s)) => Some(ParamValue::Text(s.to_string())),
                (super::ParamType::Integer, other) => match integer(other) {
                    Some(Some(n)) => Some(ParamValue::Integer(n)),
                    Some(None) => {
                        self.problem(value.span(), &path, "is too large");
                        None
                    }
                    None => {
                        let found = type_name(other);
                        self.problem(
                            value.span(),
                            &path,
                            format!("must be a whole number ({}), found {found}", spec.help),
                        );
                        None
                    }
                },
                (super::ParamType::Text, other) => {
                    let found = type_name(other);
                    self.problem(
                        value.span(),
                        &path,
                        format!("must be a string ({}), found {found}", spec.help),
                    );
                    None
                }
            };
            match parsed {
                Some(v) => {
                    values.insert(name.to_owned(), v);
                }
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let action = match super::Action::from_params(kind, values) {
            Ok(action) => action,
            Err(errors) => {
                for error in errors {
                    let path = t.child(&error.field);
                    self.problem(self.span_of(&path), &path, error.message);
                }
                return None;
            }
        };
        Some(StepAction { action, editable: editable.into_iter().map(|(name, _, _)| name).collect() })
    }
}

/// The field a syntax error at byte `offset` is in, made out from the table headers and the
/// `key =` lines before it (a best effort: the document did not parse).
fn field_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset.min(text.len()))?;
    let error_line = before.matches('\n').count();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut table = String::new();
    let mut key: Option<String> = None;
    let mut in_multiline = false;
    for (n, line) in text.lines().enumerate().take(error_line + 1) {
        let trimmed = line.trim();
        let quotes = line.matches("\"\"\"").count() + line.matches("'''").count();
        if in_multiline {
            in_multiline = quotes % 2 == 0;
            continue;
        }
        if let Some(header) = trimmed.strip_prefix("[[").and_then(|h| h.split("]]").next()) {
            let name = header.trim().to_owned();
            *counts.entry(name.clone()).or_insert(0) += 1;
            counts.retain(|other, _| !other.starts_with(&format!("{name}.")));
            table = render_path(&name, &counts);
            key = None;
        } else if let Some(header) = trimmed.strip_prefix('[').and_then(|h| h.split(']').next()) {
            table = render_path(header.trim(), &counts);
            key = None;
        } else if let Some((k, _)) = trimmed.split_once('=') {
            let k = k.trim();
            if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
                key = Some(k.to_owned());
            }
            in_multiline = quotes % 2 == 1 && n < error_line;
        }
    }
    match (key, table.is_empty()) {
        (Some(key), true) => Some(key),
        (Some(key), false) => Some(format!("{table}.{key}")),
        (None, false) => Some(table),
        (None, true) => None,
    }
}

/// `sections.steps` with the current array indexes: `sections[2].steps[0]`.
fn render_path(dotted: &str, counts: &BTreeMap<String, usize>) -> String {
    let mut path = String::new();
    let mut name = String::new();
    for part in dotted.split('.') {
        let part = part.trim();
        if !name.is_empty() {
            name.push('.');
            path.push('.');
        }
        name.push_str(part);
        path.push_str(part);
        if let Some(count) = counts.get(&name) {
            path.push_str(&format!("[{}]", count.saturating_sub(1)));
        }
    }
    path
}

/// A TOML string literal for `value` (basic, literal or multi-line, whichever reads best).
fn quote(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

/// Writes `runbook` as a runbook file: [`parse_runbook`] of the result gives it back
/// unchanged (for a runbook that passes [`Runbook::check`]). Actions are inline tables with
/// `kind` first, then the parameters in their declared order, then `editable`.
pub fn to_toml(runbook: &Runbook) -> String {
    let mut out = String::new();
    let line = |out: &mut String, key: &str, value: String| {
        out.push_str(key);
        out.push_str(" = ");
        out.push_str(&value);
        out.push('\n');
    };
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "[]".to_owned()
        } else {
            let body: String = items.iter().map(|item| format!("    {item},\n")).collect();
            format!("[\n{body}]")
        }
    };
    line(&mut out, "slug", quote(runbook.slug.as_str()));
    line(&mut out, "revision", runbook.revision.to_string());
    line(&mut out, "title", quote(runbook.title.as_str()));
    line(&mut out, "summary", quote(&runbook.summary));
    line(&mut out, "symptoms", list(runbook.symptoms.iter().map(|s| quote(s)).collect()));
    line(
        &mut out,
        "suggested_by",
        list(runbook.suggested_by.iter().map(|p| quote(&p.to_string())).collect()),
    );
    for section in &runbook.sections {
        out.push_str("\n[[sections]]\n");
        line(&mut out, "kind", quote(section.kind.as_str()));
        line(&mut out, "title", quote(section.title.as_str()));
        if let Some(cause) = &section.cause {
            line(&mut out, "cause", quote(cause));
        }
        for step in &section.steps {
            out.push_str("\n[[sections.steps]]\n");
            line(&mut out, "key", quote(step.key.as_str()));
            line(&mut out, "title", quote(step.title.as_str()));
            if !step.explanation.is_empty() {
                line(&mut out, "explanation", quote(&step.explanation));
            }
            if let Some(command) = &step.command {
                line(&mut out, "command", quote(command));
            }
            if let Some(action) = &step.action {
                let mut parts = vec![format!("kind = {}", quote(action.action.kind().as_str()))];
                for (spec, value) in action.action.param_values() {
                    let value = match value {
                        ParamValue::Text(s) => quote(&s),
                        ParamValue::Integer(n) => n.to_string(),
                    };
                    parts.push(format!("{} = {value}", spec.name));
                }
                if !action.editable.is_empty() {
                    let names: Vec<String> = action.editable.iter().map(|n| quote(n)).collect();
                    parts.push(format!("editable = [{}]", names.join(", ")));
                }
                line(&mut out, "action", format!("{{ {} }}", parts.join(", ")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::Action;
    use proptest::prelude::*;

    const MINIMAL: &str = r#"slug = "api-pods-crashing"
revision = 1
title = "API pods crashing"
summary = "Pods restart in a loop."
symptoms = ["Pods in CrashLoopBackOff state"]
suggested_by = ["pod_crash_loop:twisterlab-api"]

[[sections]]
kind = "diagnosis"
title = "Diagnosis"

[[sections.steps]]
key = "check-pods"
title = "Check pod status"
command = "kubectl get pods -n twisterlab | grep twisterlab-api"
action = { kind = "list_pods", deployment = "twisterlab-api" }

[[sections]]
kind = "fix"
title = "Scale up"
cause = "Too few pods"

[[sections.steps]]
key = "scale"
title = "Scale the API"
action = { kind = "scale", deployment = "twisterlab-api", replicas = 5, editable = ["replicas"] }
"#;

    const FILE: &str = "runbooks/api-pods-crashing.toml";

    fn problems(text: &str) -> Vec<FileProblem> {
        parse_runbook(FILE, text).expect_err("should fail").problems
    }

    /// `MINIMAL` with `from` replaced by `to` (which must occur once).
    fn edited(from: &str, to: &str) -> String {
        assert_eq!(MINIMAL.matches(from).count(), 1, "{from}");
        MINIMAL.replace(from, to)
    }

    #[test]
    fn a_minimal_file_parses_into_the_model() {
        let rb = parse_runbook(FILE, MINIMAL).expect("valid");
        assert_eq!(rb.slug.as_str(), "api-pods-crashing");
        assert_eq!(rb.revision, Revision::FIRST);
        assert_eq!(rb.sections.len(), 2);
        assert_eq!(rb.sections[1].cause.as_deref(), Some("Too few pods"));
        let scale = rb.sections[1].steps[0].action.as_ref().expect("action");
        assert_eq!(scale.action, Action::Scale { deployment: "twisterlab-api".into(), replicas: 5 });
        assert!(scale.editable.contains("replicas"));
        assert_eq!(rb.suggested_by[0].to_string(), "pod_crash_loop:twisterlab-api");
    }

    #[test]
    fn a_syntax_error_names_file_line_column_and_field() {
        let text = edited("title = \"Check pod status\"", "title = \"Check pod status");
        let err = parse_runbook(FILE, &text).expect_err("unterminated string");
        assert_eq!(err.file, FILE);
        assert_eq!(err.problems.len(), 1);
        let problem = &err.problems[0];
        assert_eq!(problem.line, 14);
        assert_eq!(problem.field.as_deref(), Some("sections[0].steps[0].title"));
        assert!(problem.column > 1);
        assert!(err.to_string().starts_with("runbooks/api-pods-crashing.toml:14:"), "{err}");
    }

    #[test]
    fn a_syntax_error_in_the_second_section_counts_the_arrays() {
        let text = edited("replicas = 5,", "replicas = ,");
        let problem = &problems(&text)[0];
        assert_eq!(problem.line, 26);
        assert_eq!(problem.field.as_deref(), Some("sections[1].steps[0].action"));
    }

    #[test]
    fn an_unknown_action_kind_names_file_line_and_field() {
        let text = edited("kind = \"list_pods\"", "kind = \"delete_namespace\"");
        let err = parse_runbook(FILE, &text).expect_err("unknown kind");
        let problem = &err.problems[0];
        assert_eq!((problem.line, problem.field.as_deref()), (16, Some("sections[0].steps[0].action.kind")));
        assert!(
            problem
                .message
                .starts_with("unknown action kind \"delete_namespace\": expected one of list_pods")
        );
        let shown = err.to_string();
        assert!(shown.starts_with("runbooks/api-pods-crashing.toml:16:"), "{shown}");
        assert!(shown.contains("sections[0].steps[0].action.kind: unknown action kind"), "{shown}");
    }

    #[test]
    fn a_parameter_out_of_bounds_points_at_its_value() {
        let text = edited("replicas = 5,", "replicas = 10000,");
        let problem = &problems(&text)[0];
        assert_eq!(problem.line, 26);
        assert_eq!(problem.column, 70);
        assert_eq!(problem.field.as_deref(), Some("sections[1].steps[0].action.replicas"));
        assert_eq!(problem.message, "must be between 0 and 1000 replicas, got 10000");
    }

    #[test]
    fn unknown_and_mistyped_parameters_are_named() {
        let unknown = problems(&edited("replicas = 5,", "replica = 5,"));
        let fields: Vec<_> = unknown.iter().map(|p| p.field.as_deref()).collect();
        assert_eq!(fields, [Some("sections[1].steps[0].action.replica")]);
        assert!(unknown[0].message.contains("expected deployment, replicas"));
        let mistyped = problems(&edited("replicas = 5,", "replicas = \"5\","));
        assert_eq!(mistyped[0].field.as_deref(), Some("sections[1].steps[0].action.replicas"));
        assert_eq!(mistyped[0].message, "must be a whole number (0 to 1000), found a string");
        let missing = problems(&edited("deployment = \"twisterlab-api\", replicas", "replicas"));
        assert_eq!(missing[0].field.as_deref(), Some("sections[1].steps[0].action.deployment"));
        assert_eq!(missing[0].line, 26);
        let editable = problems(&edited("editable = [\"replicas\"]", "editable = [\"replica\"]"));
        assert_eq!(editable[0].field.as_deref(), Some("sections[1].steps[0].action.editable"));
    }

    #[test]
    fn duplicate_step_keys_point_at_the_second_key() {
        let problem = &problems(&edited("key = \"scale\"", "key = \"check-pods\""))[0];
        assert_eq!((problem.line, problem.field.as_deref()), (24, Some("sections[1].steps[0].key")));
        assert!(problem.message.contains("used twice"));
    }

    #[test]
    fn empty_titles_missing_fields_and_unknown_fields_are_reported_together() {
        let text = edited("title = \"Scale the API\"", "title = \"  \"\ncolour = \"red\"")
            .replace("summary = \"Pods restart in a loop.\"\n", "");
        let found: Vec<_> = problems(&text).into_iter().map(|p| (p.line, p.field, p.message)).collect();
        assert_eq!(
            found,
            [
                (1, Some("summary".to_owned()), "missing field `summary`".to_owned()),
                (24, Some("sections[1].steps[0].title".to_owned()), "the title is empty".to_owned()),
                (
                    25,
                    Some("sections[1].steps[0].colour".to_owned()),
                    "unknown field `colour`: expected one of key, title, explanation, command, action"
                        .to_owned()
                ),
            ]
        );
    }

    #[test]
    fn the_slug_must_match_the_file_name() {
        let err = parse_runbook("runbooks/api-crash.toml", MINIMAL).expect_err("name mismatch");
        let problem = &err.problems[0];
        assert_eq!((problem.line, problem.field.as_deref()), (1, Some("slug")));
        assert!(problem.message.contains("must be named api-pods-crashing.toml"), "{}", problem.message);
        assert!(parse_runbook("api-pods-crashing.toml", MINIMAL).is_ok());
        assert!(parse_runbook("api-pods-crashing.yaml", MINIMAL).is_err());
    }

    #[test]
    fn wrong_types_and_bad_values_at_the_top_are_named() {
        let text = MINIMAL
            .replace("revision = 1", "revision = \"one\"")
            .replace("\"pod_crash_loop:twisterlab-api\"", "\"pods\"");
        let found: Vec<_> = problems(&text).into_iter().map(|p| (p.line, p.field)).collect();
        assert_eq!(found, [(2, Some("revision".to_owned())), (6, Some("suggested_by[0]".to_owned()))]);
        let zero = problems(&MINIMAL.replace("revision = 1", "revision = 0"));
        assert_eq!(zero[0].message, "revisions start at 1, got 0");
        let kind = problems(&MINIMAL.replace("kind = \"fix\"", "kind = \"repair\""));
        assert_eq!(kind[0].field.as_deref(), Some("sections[1].kind"));
    }

    #[test]
    fn several_files_load_together_and_a_slug_may_appear_once() {
        let loaded = parse_runbooks([(FILE, MINIMAL)]).expect("valid");
        assert_eq!(loaded.len(), 1);
        let errors =
            parse_runbooks([(FILE, MINIMAL), ("other/api-pods-crashing.toml", MINIMAL)]).expect_err("dup");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].file, "other/api-pods-crashing.toml");
    }

    #[test]
    fn writing_a_runbook_and_reading_it_back_gives_the_same_runbook() {
        let rb = parse_runbook(FILE, MINIMAL).expect("valid");
        let text = to_toml(&rb);
        assert_eq!(parse_runbook(FILE, &text).expect("written file parses"), rb);
        assert!(text.contains(
            "action = { kind = \"scale\", deployment = \"twisterlab-api\", replicas = 5, editable = [\"replicas\"] }"
        ));
    }

    // --- round trip over generated runbooks ---

    fn text_strategy() -> impl Strategy<Value = String> {
        // Quotes, backslashes, newlines, tabs, unicode and triple quotes: the hard cases for quoting.
        prop::collection::vec(
            prop_oneof![
                Just("\"".to_owned()),
                Just("'''".to_owned()),
                Just("\"\"\"".to_owned()),
                Just("\\".to_owned()),
                Just("\n".to_owned()),
                Just("\t".to_owned()),
                Just("é€😀".to_owned()),
                Just("\u{7}".to_owned()),
                Just("\r\n".to_owned()),
                Just("\r".to_owned()),
                Just("\u{feff}\u{202e}".to_owned()),
                "[a-zA-Z0-9 .,:;=#<>{}\\[\\]-]{1,12}",
            ],
            1..8,
        )
        .prop_map(|parts| format!("x{}", parts.concat()))
    }

    fn title_strategy() -> impl Strategy<Value = Title> {
        "[A-Za-z0-9][A-Za-z0-9 '\"\\\\:()é-]{0,40}".prop_filter_map("valid title", |s| Title::parse(&s).ok())
    }

    fn action_strategy() -> impl Strategy<Value = Option<StepAction>> {
        prop_oneof![
            Just(None),
            (0i64..=1000, any::<bool>()).prop_map(|(replicas, editable)| Some(StepAction {
                action: Action::Scale { deployment: "twisterlab-api".into(), replicas },
                editable: if editable { ["replicas".to_owned()].into() } else { Default::default() },
            })),
            (text_strategy(), 1i64..=5000).prop_map(|(filter, lines)| Some(StepAction::fixed(
                Action::Logs {
                    deployment: "twisterlab-api".into(),
                    filter: Some(filter.replace('\u{7}', "")),
                    lines,
                }
            ))),
            text_strategy().prop_map(|expr| Some(StepAction::fixed(Action::PrometheusQuery {
                expr: expr.replace('\u{7}', "")
            }))),
            Just(Some(StepAction::fixed(Action::DbConnections))),
        ]
    }

    fn step_strategy() -> impl Strategy<Value = (String, Title, String, Option<String>, Option<StepAction>)> {
        (
            "[a-z][a-z0-9-]{0,10}[a-z0-9]",
            title_strategy(),
            prop_oneof![Just(String::new()), text_strategy()],
            prop::option::of(text_strategy()),
            action_strategy(),
        )
    }

    fn runbook_strategy() -> impl Strategy<Value = Runbook> {
        (
            1i64..100_000,
            title_strategy(),
            text_strategy(),
            prop::collection::vec(text_strategy(), 0..3),
            prop::collection::vec(
                (
                    prop::sample::select(SectionKind::ALL.to_vec()),
                    title_strategy(),
                    text_strategy(),
                    prop::collection::vec(step_strategy(), 1..4),
                ),
                1..4,
            ),
        )
            .prop_map(|(revision, title, summary, symptoms, sections)| {
                let mut n = 0;
                let sections = sections
                    .into_iter()
                    .map(|(kind, title, cause, steps)| Section {
                        kind,
                        title,
                        cause: (kind == SectionKind::Fix).then_some(cause),
                        steps: steps
                            .into_iter()
                            .map(|(key, title, explanation, command, action)| {
                                n += 1;
                                Step {
                                    key: StepKey::parse(&format!("{key}-{n}")).expect("generated key"),
                                    title,
                                    explanation,
                                    command,
                                    action,
                                }
                            })
                            .collect(),
                    })
                    .collect();
                Runbook {
                    slug: Slug::parse("generated").expect("valid"),
                    revision: Revision::new(revision).expect("positive"),
                    title,
                    summary,
                    symptoms,
                    suggested_by: vec![SignalPattern::parse("cpu_high").expect("valid")],
                    sections,
                }
            })
    }

    proptest! {
        #[test]
        fn any_valid_runbook_survives_writing_and_reading_its_file(rb in runbook_strategy()) {
            prop_assume!(rb.check().is_ok());
            let text = to_toml(&rb);
            let back = parse_runbook("generated.toml", &text);
            prop_assert_eq!(back.as_ref().ok(), Some(&rb), "{}\n---\n{:?}", text, back.as_ref().err());
        }
    }
}
