//! Guided runbooks: the model of a runbook (sections of steps with typed actions), its
//! versions, its TOML file format, the shipped content, run rules and suggestions from signals.
//!
//! - [`Runbook`] and its parts, with [`Runbook::check`] and [`Runbook::digest`];
//! - [`action`]: typed actions, their roles, bounds and run-time input;
//! - [`file`](mod@file): `runbooks/<slug>.toml` to and from a [`Runbook`], with errors naming file, line
//!   and field; [`SHIPPED_FILES`] embeds the repository's ten runbooks;
//! - [`run`]: step and run states and their transitions, progress;
//! - [`signal`]: what the portal observes and the runbooks it suggests.

/// Implements `as_str`-based `Display`, exact-name `FromStr` and `TryFrom<&str>` for a
/// fieldless enum with an `ALL` array. Names in files and stored rows are exact (no case folding).
macro_rules! named_enum {
    ($ty:ident, $kind:literal, $expected:expr) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::incident::ParseNameError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
                    $crate::incident::ParseNameError { kind: $kind, input: s.to_owned(), expected: $expected }
                })
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = $crate::incident::ParseNameError;

            fn try_from(value: &str) -> Result<Self, Self::Error> {
                value.parse()
            }
        }
    };
}

pub mod action;
pub mod checks;
#[cfg(test)]
mod content_tests;
pub mod file;
pub mod run;
pub mod signal;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use action::{Action, ActionKind, FieldError, ParamField, ParamSpec, ParamType, ParamValue, StepAction};
pub use file::{
    FileProblem, RunbookFileError, SHIPPED_FILES, ShippedFile, parse_runbook, parse_runbooks, to_toml,
};
pub use run::{
    Progress, Reason, RunChange, RunError, RunStatus, StepChange, StepError, StepState, StepStatus,
};
pub use signal::{Signal, SignalKind, SignalPattern, Suggestion, suggest};

use crate::incident::Title;
use crate::role::Role;

/// Why a slug or step key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Nothing given.
    #[error("is empty: use lowercase letters, digits and '-', like api-pods-crashing")]
    Empty,
    /// Longer than [`Slug::MAX_LEN`].
    #[error("{input:?} is {len} characters long; the limit is 64")]
    TooLong {
        /// The rejected input.
        input: String,
        /// Its length in bytes (all allowed characters are ASCII).
        len: usize,
    },
    /// A character outside `[a-z0-9-]`, or a `-` at either end.
    #[error(
        "{input:?} must be lowercase letters, digits and '-' (not first or last), like api-pods-crashing"
    )]
    Malformed {
        /// The rejected input.
        input: String,
    },
}

fn check_key(input: &str) -> Result<(), KeyError> {
    if input.is_empty() {
        return Err(KeyError::Empty);
    }
    if input.len() > Slug::MAX_LEN {
        return Err(KeyError::TooLong { input: input.to_owned(), len: input.len() });
    }
    let allowed = input.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !allowed || input.starts_with('-') || input.ends_with('-') {
        return Err(KeyError::Malformed { input: input.to_owned() });
    }
    Ok(())
}

/// Defines a `[a-z0-9-]` key newtype with parse, Display, FromStr and string serde.
macro_rules! key_type {
    ($(#[$doc:meta])* $ty:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            /// The longest key, in characters.
            pub const MAX_LEN: usize = 64;

            /// Validates `input` (no trimming: keys appear in URLs and file names as written).
            pub fn parse(input: &str) -> Result<$ty, KeyError> {
                check_key(input)?;
                Ok($ty(input.to_owned()))
            }

            /// The key text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $ty {
            type Err = KeyError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = KeyError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                $ty::parse(&value)
            }
        }

        impl From<$ty> for String {
            fn from(key: $ty) -> Self {
                key.0
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

key_type!(
    /// A runbook's identifier in URLs (`/runbooks/{slug}`) and its file name
    /// (`runbooks/{slug}.toml`): 1–64 of `[a-z0-9-]`, not starting or ending with `-`.
    Slug
);

key_type!(
    /// A step's identifier, unique within its runbook and stable across versions: used in
    /// URLs and to carry a run's step states to another version. Same rules as [`Slug`].
    StepKey
);

/// A runbook's content revision, declared in its file and raised by every edit; starts at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Revision(u32);

/// A revision below 1 or beyond `u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("revisions start at 1, got {0}")]
pub struct RevisionError(pub i64);

impl Revision {
    /// The first revision.
    pub const FIRST: Revision = Revision(1);

    /// Revision `n`, which must be at least 1.
    pub fn new(n: i64) -> Result<Revision, RevisionError> {
        match u32::try_from(n) {
            Ok(r) if r >= 1 => Ok(Revision(r)),
            _ => Err(RevisionError(n)),
        }
    }

    /// The revision an edit of this one makes (saturating at `u32::MAX`).
    pub const fn next(self) -> Revision {
        Revision(self.0.saturating_add(1))
    }

    /// The number, as stored.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Revision {
    type Error = RevisionError;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Revision::new(value)
    }
}

impl From<Revision> for i64 {
    fn from(revision: Revision) -> Self {
        i64::from(revision.0)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// SHA-256 of a runbook's canonical JSON, as 64 lowercase hex digits; equal digests mean
/// equal content.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContentDigest(String);

/// Not 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a content digest: expected 64 lowercase hex digits")]
pub struct DigestError(pub String);

impl ContentDigest {
    /// Reads a stored digest.
    pub fn parse(input: &str) -> Result<ContentDigest, DigestError> {
        let ok = input.len() == 64 && input.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok { Ok(ContentDigest(input.to_owned())) } else { Err(DigestError(input.to_owned())) }
    }

    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ContentDigest {
    type Error = DigestError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        ContentDigest::parse(&value)
    }
}

impl From<ContentDigest> for String {
    fn from(digest: ContentDigest) -> Self {
        digest.0
    }
}

impl fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a section of a runbook is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    /// Do these first, before diagnosing (isolate, preserve evidence).
    ImmediateActions,
    /// Find out what is wrong.
    Diagnosis,
    /// The fix for one named cause; only the section matching the cause found applies.
    Fix,
    /// An ordered procedure (maintenance steps, scaling).
    Procedure,
    /// Items to confirm before a procedure (the pre-maintenance checklist).
    Checklist,
    /// Confirm the fix worked.
    Verification,
    /// Follow-up to keep it from happening again.
    Prevention,
}

named_enum!(
    SectionKind,
    "section kind",
    "immediate_actions, diagnosis, fix, procedure, checklist, verification, prevention"
);

impl SectionKind {
    /// Every kind, in the order they usually appear.
    pub const ALL: [SectionKind; 7] = [
        SectionKind::ImmediateActions,
        SectionKind::Diagnosis,
        SectionKind::Fix,
        SectionKind::Procedure,
        SectionKind::Checklist,
        SectionKind::Verification,
        SectionKind::Prevention,
    ];

    /// The snake_case name used in files.
    pub const fn as_str(self) -> &'static str {
        match self {
            SectionKind::ImmediateActions => "immediate_actions",
            SectionKind::Diagnosis => "diagnosis",
            SectionKind::Fix => "fix",
            SectionKind::Procedure => "procedure",
            SectionKind::Checklist => "checklist",
            SectionKind::Verification => "verification",
            SectionKind::Prevention => "prevention",
        }
    }

    /// Words for headings ("Immediate actions").
    pub const fn label(self) -> &'static str {
        match self {
            SectionKind::ImmediateActions => "Immediate actions",
            SectionKind::Diagnosis => "Diagnosis",
            SectionKind::Fix => "Fix",
            SectionKind::Procedure => "Procedure",
            SectionKind::Checklist => "Checklist",
            SectionKind::Verification => "Verification",
            SectionKind::Prevention => "Prevention",
        }
    }
}

/// A guided runbook: what it is for, what suggests it, and its ordered sections of steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runbook {
    /// Identifier and file name.
    pub slug: Slug,
    /// Content revision; the server keeps every revision and a run keeps the one it started with.
    pub revision: Revision,
    /// Title shown in lists ("API pods crashing (CrashLoopBackOff)").
    pub title: Title,
    /// What it is for and when to use it (Markdown).
    pub summary: String,
    /// Symptoms a responder notices that point to it, one line each.
    pub symptoms: Vec<String>,
    /// Signals that make the portal suggest it, strongest first.
    pub suggested_by: Vec<SignalPattern>,
    /// The sections, in order.
    pub sections: Vec<Section>,
}

/// A titled group of steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// What the section is for.
    pub kind: SectionKind,
    /// Heading ("Cause 2: out of memory").
    pub title: Title,
    /// The cause a [`SectionKind::Fix`] section fixes ("OOM (Out of Memory)"); only fix sections have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Stable identifier within the runbook.
    pub key: StepKey,
    /// What to do, short ("Check pod status").
    pub title: Title,
    /// Why and how, with what to look for (Markdown; may be empty for self-explanatory items).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub explanation: String,
    /// The shell command shown for copying (may span lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// What the portal can run for this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<StepAction>,
}

impl Step {
    /// The least role that may complete or fail this step: its action's role, or a
    /// responder's for a manual step. (Skipping needs only a responder; see [`run`].)
    pub fn required_role(&self) -> Role {
        self.action.as_ref().map_or(Role::Responder, |a| a.action.min_role())
    }

    /// Whether running its action changes something.
    pub fn changes(&self) -> bool {
        self.action.as_ref().is_some_and(|a| a.action.changes())
    }
}

/// The longest summary, explanation or command, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;

/// What [`compare_with_stored`] found, for loading files at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileVsStored {
    /// No stored version: store the file as the first version.
    NotStored,
    /// The file's revision is higher: store it as a new version.
    FileNewer,
    /// Same revision and content: nothing to do.
    Same,
    /// The stored revision is higher (an edit in the portal): keep it.
    StoredNewer,
    /// Same revision, different content: the file was edited without raising `revision`.
    /// Keep the stored version and say so; the fix is to raise `revision` in the file.
    SameRevisionDiffers,
}

impl FileVsStored {
    /// Whether the file should be stored as a new version.
    pub const fn should_load(self) -> bool {
        matches!(self, FileVsStored::NotStored | FileVsStored::FileNewer)
    }
}

/// Compares a runbook read from its file with the stored latest version (its revision and
/// digest), if any: files are loaded at start only when newer than the stored version.
pub fn compare_with_stored(file: &Runbook, stored: Option<(Revision, &ContentDigest)>) -> FileVsStored {
    let Some((revision, digest)) = stored else {
        return FileVsStored::NotStored;
    };
    match file.revision.cmp(&revision) {
        std::cmp::Ordering::Greater => FileVsStored::FileNewer,
        std::cmp::Ordering::Less => FileVsStored::StoredNewer,
        std::cmp::Ordering::Equal if file.digest() == *digest => FileVsStored::Same,
        std::cmp::Ordering::Equal => FileVsStored::SameRevisionDiffers,
    }
}

impl Runbook {
    /// SHA-256 of the canonical JSON serialization (fields in declaration order, no
    /// whitespace), as hex. It covers the revision too.
    pub fn digest(&self) -> ContentDigest {
        // Serializing plain structs, strings, integers and a BTreeSet cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        ContentDigest(hex::encode(Sha256::digest(&json)))
    }

    /// Every step in order, with its section.
    pub fn steps(&self) -> impl Iterator<Item = (&Section, &Step)> {
        self.sections.iter().flat_map(|section| section.steps.iter().map(move |step| (section, step)))
    }

    /// The step with `key`.
    pub fn step(&self, key: &StepKey) -> Option<&Step> {
        self.steps().map(|(_, step)| step).find(|step| step.key == *key)
    }

    /// The step keys, in order.
    pub fn step_keys(&self) -> Vec<&StepKey> {
        self.steps().map(|(_, step)| &step.key).collect()
    }

    /// Checks everything the types do not: at least one section and step, unique step keys,
    /// a cause on fix sections only, non-blank texts within [`MAX_TEXT_CHARS`], no password in
    /// a URL anywhere, and every action valid with known `editable` names.
    ///
    /// Field paths: `summary`, `symptoms[2]`, `sections[1].cause`,
    /// `sections[1].steps[0].action.replicas` (indexes from 0).
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        check_text(&mut errors, "summary", &self.summary, true);
        for (i, symptom) in self.symptoms.iter().enumerate() {
            check_text(&mut errors, &format!("symptoms[{i}]"), symptom, true);
        }
        if self.sections.is_empty() {
            errors.push(FieldError::new("sections", "a runbook needs at least one section with one step"));
        }
        let mut keys = BTreeSet::new();
        for (s, section) in self.sections.iter().enumerate() {
            let path = format!("sections[{s}]");
            match (section.kind, &section.cause) {
                (SectionKind::Fix, None) => errors.push(FieldError::new(
                    format!("{path}.cause"),
                    "a fix section names the cause it fixes: add cause = \"…\"",
                )),
                (SectionKind::Fix, Some(cause)) => check_text(&mut errors, &format!("{path}.cause"), cause, true),
                (kind, Some(_)) => errors.push(FieldError::new(
                    format!("{path}.cause"),
                    format!("only fix sections name a cause; this one is {kind}: remove cause or use kind = \"fix\""),
                )),
                (_, None) => {}
            }
            if section.steps.is_empty() {
                errors.push(FieldError::new(format!("{path}.steps"), "a section needs at least one step"));
            }
            for (i, step) in section.steps.iter().enumerate() {
                let path = format!("{path}.steps[{i}]");
                if !keys.insert(&step.key) {
                    errors.push(FieldError::new(
                        format!("{path}.key"),
                        format!(
                            "step key {:?} is used twice: step keys are unique within a runbook",
                            step.key.as_str()
                        ),
                    ));
                }
                check_text(&mut errors, &format!("{path}.explanation"), &step.explanation, false);
                if let Some(command) = &step.command {
                    check_text(&mut errors, &format!("{path}.command"), command, true);
                }
                if let Some(action) = &step.action
                    && let Err(problems) = action.check()
                {
                    errors.extend(
                        problems
                            .into_iter()
                            .map(|p| FieldError::new(format!("{path}.action.{}", p.field), p.message)),
                    );
                }
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

fn check_text(errors: &mut Vec<FieldError>, field: &str, value: &str, required: bool) {
    if value.trim().is_empty() {
        if required {
            errors.push(FieldError::new(field, "is empty"));
        }
        return;
    }
    let chars = value.chars().count();
    if chars > MAX_TEXT_CHARS {
        errors.push(FieldError::new(
            field,
            format!("is {chars} characters long; the limit is {MAX_TEXT_CHARS}"),
        ));
    }
    if checks::contains_url_credentials(value) {
        errors.push(FieldError::new(
            field,
            "contains a password in a URL: write a placeholder such as <password>, never a real secret",
        ));
    }
}

/// Step keys of `to` whose state a run on `from`'s version would carry over: the keys both
/// versions share, in `to`'s order. Steps new in `to` start pending; steps gone are dropped.
pub fn shared_step_keys<'a>(from: &Runbook, to: &'a Runbook) -> Vec<&'a StepKey> {
    let old: BTreeSet<&StepKey> = from.step_keys().into_iter().collect();
    to.step_keys().into_iter().filter(|key| old.contains(key)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn step(key: &str, action: Option<Action>) -> Step {
        Step {
            key: StepKey::parse(key).expect("valid key"),
            title: Title::parse(&format!("Step {key}")).expect("valid title"),
            explanation: String::new(),
            command: None,
            action: action.map(StepAction::fixed),
        }
    }

    pub(crate) fn runbook() -> Runbook {
        Runbook {
            slug: Slug::parse("api-pods-crashing").expect("valid slug"),
            revision: Revision::FIRST,
            title: Title::parse("API pods crashing").expect("valid title"),
            summary: "Pods restart in a loop.".into(),
            symptoms: vec!["Pods in CrashLoopBackOff state".into()],
            suggested_by: vec![],
            sections: vec![
                Section {
                    kind: SectionKind::Diagnosis,
                    title: Title::parse("Diagnosis").expect("valid"),
                    cause: None,
                    steps: vec![step(
                        "check-pods",
                        Some(Action::ListPods { deployment: "twisterlab-api".into() }),
                    )],
                },
                Section {
                    kind: SectionKind::Fix,
                    title: Title::parse("Out of memory").expect("valid"),
                    cause: Some("OOM".into()),
                    steps: vec![step(
                        "restart",
                        Some(Action::RolloutRestart { deployment: "twisterlab-api".into() }),
                    )],
                },
            ],
        }
    }

    #[test]
    fn slugs_and_step_keys_are_lowercase_words_joined_by_hyphens() {
        for good in ["api-pods-crashing", "a", "db2", "x-1-y"] {
            assert_eq!(Slug::parse(good).map(String::from), Ok(good.to_owned()));
            assert!(StepKey::parse(good).is_ok());
        }
        assert_eq!(Slug::parse(""), Err(KeyError::Empty));
        for bad in ["API", "api_pods", "-api", "api-", "api pods", "api/pods", " api"] {
            assert_eq!(Slug::parse(bad), Err(KeyError::Malformed { input: bad.to_owned() }), "{bad:?}");
        }
        assert!(matches!(Slug::parse(&"a".repeat(65)), Err(KeyError::TooLong { len: 65, .. })));
        assert_eq!(Slug::parse(&"a".repeat(64)).map(|s| s.as_str().len()), Ok(64));
        assert!(serde_json::from_str::<StepKey>("\"Bad Key\"").is_err());
    }

    #[test]
    fn revisions_start_at_one_and_an_edit_makes_the_next() {
        assert_eq!(Revision::new(0), Err(RevisionError(0)));
        assert_eq!(Revision::new(-2), Err(RevisionError(-2)));
        assert_eq!(Revision::new(1), Ok(Revision::FIRST));
        assert_eq!(Revision::FIRST.next().get(), 2);
        assert!(Revision::FIRST < Revision::FIRST.next());
        assert_eq!(serde_json::to_string(&Revision::FIRST).expect("serializable"), "1");
    }

    #[test]
    fn a_valid_runbook_passes_its_checks() {
        assert_eq!(runbook().check(), Ok(()));
    }

    #[test]
    fn step_keys_must_be_unique_within_a_runbook() {
        let mut rb = runbook();
        rb.sections[1].steps[0].key = StepKey::parse("check-pods").expect("valid");
        let errors = rb.check().expect_err("duplicate key");
        assert_eq!(errors[0].field, "sections[1].steps[0].key");
        assert_eq!(
            errors[0].message,
            "step key \"check-pods\" is used twice: step keys are unique within a runbook"
        );
    }

    #[test]
    fn fix_sections_name_their_cause_and_only_they_do() {
        let mut rb = runbook();
        rb.sections[1].cause = None;
        rb.sections[0].cause = Some("something".into());
        let fields: Vec<_> = rb.check().expect_err("causes").into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["sections[0].cause", "sections[1].cause"]);
    }

    #[test]
    fn empty_sections_blank_texts_and_bad_actions_are_reported_with_their_path() {
        let mut rb = runbook();
        rb.summary = "  ".into();
        rb.symptoms.push(String::new());
        rb.sections[0].steps[0].command = Some(" ".into());
        rb.sections[1].steps[0].action =
            Some(StepAction::fixed(Action::Scale { deployment: "twisterlab-api".into(), replicas: -1 }));
        rb.sections.push(Section {
            kind: SectionKind::Prevention,
            title: Title::parse("Prevention").expect("valid"),
            cause: None,
            steps: vec![],
        });
        let fields: Vec<_> = rb.check().expect_err("problems").into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "summary",
                "symptoms[1]",
                "sections[0].steps[0].command",
                "sections[1].steps[0].action.replicas",
                "sections[2].steps"
            ]
        );
        rb.sections.clear();
        assert!(rb.check().expect_err("no sections").iter().any(|e| e.field == "sections"));
    }

    #[test]
    fn a_password_in_a_url_is_refused_anywhere_in_the_text() {
        let mut rb = runbook();
        rb.sections[0].steps[0].command = Some(
            "kubectl create secret generic s --from-literal=DATABASE_URL='postgresql://app:hunter2@db/app'"
                .into(),
        );
        let errors = rb.check().expect_err("credential");
        assert_eq!(errors[0].field, "sections[0].steps[0].command");
        assert!(errors[0].message.contains("placeholder"));
    }

    #[test]
    fn the_digest_changes_with_any_content_and_is_stable_otherwise() {
        let rb = runbook();
        assert_eq!(rb.digest(), runbook().digest());
        assert_eq!(rb.digest().as_str().len(), 64);
        let mut edited = runbook();
        edited.sections[0].steps[0].explanation = "Look at RESTARTS.".into();
        assert_ne!(edited.digest(), rb.digest());
        let mut bumped = runbook();
        bumped.revision = bumped.revision.next();
        assert_ne!(bumped.digest(), rb.digest());
        assert_eq!(ContentDigest::parse(rb.digest().as_str()), Ok(rb.digest()));
        assert!(ContentDigest::parse("ABC").is_err());
    }

    #[test]
    fn files_are_loaded_only_when_newer_than_the_stored_version() {
        let file = runbook();
        let same = file.digest();
        assert_eq!(compare_with_stored(&file, None), FileVsStored::NotStored);
        assert_eq!(compare_with_stored(&file, Some((Revision::FIRST, &same))), FileVsStored::Same);
        let mut newer = runbook();
        newer.revision = Revision::new(2).expect("valid");
        assert_eq!(compare_with_stored(&newer, Some((Revision::FIRST, &same))), FileVsStored::FileNewer);
        assert_eq!(
            compare_with_stored(&file, Some((Revision::new(3).expect("valid"), &same))),
            FileVsStored::StoredNewer
        );
        let mut edited = runbook();
        edited.summary.push_str(" Edited.");
        assert_eq!(
            compare_with_stored(&edited, Some((Revision::FIRST, &same))),
            FileVsStored::SameRevisionDiffers
        );
        let loads: Vec<_> = [
            FileVsStored::NotStored,
            FileVsStored::FileNewer,
            FileVsStored::Same,
            FileVsStored::StoredNewer,
            FileVsStored::SameRevisionDiffers,
        ]
        .into_iter()
        .filter(|c| c.should_load())
        .collect();
        assert_eq!(loads, [FileVsStored::NotStored, FileVsStored::FileNewer]);
    }

    #[test]
    fn a_steps_role_is_its_actions_or_a_responders() {
        let rb = runbook();
        let roles: Vec<_> = rb.steps().map(|(_, s)| s.required_role()).collect();
        assert_eq!(roles, [Role::Responder, Role::Commander]);
        assert_eq!(step("manual", None).required_role(), Role::Responder);
        assert_eq!(
            step("isolate", Some(Action::Isolate { deployment: "twisterlab-api".into() })).required_role(),
            Role::Manager
        );
        assert!(rb.sections[1].steps[0].changes());
        assert!(!rb.sections[0].steps[0].changes());
    }

    #[test]
    fn step_state_carries_over_only_for_keys_both_versions_share() {
        let old = runbook();
        let mut new = runbook();
        new.sections[1].steps[0].key = StepKey::parse("restart-api").expect("valid");
        new.sections[0].steps.push(step("logs", None));
        let shared: Vec<_> = shared_step_keys(&old, &new).into_iter().map(StepKey::as_str).collect();
        assert_eq!(shared, ["check-pods"]);
        assert!(new.step(&StepKey::parse("logs").expect("valid")).is_some());
        assert_eq!(new.step_keys().len(), 3);
    }

    #[test]
    fn runbooks_round_trip_through_json() {
        let rb = runbook();
        let json = serde_json::to_string(&rb).expect("serializable");
        assert_eq!(serde_json::from_str::<Runbook>(&json).expect("round trip"), rb);
    }
}
