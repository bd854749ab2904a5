//! The pre-maintenance checklist: the runbook's items and a team's own, ticks with evidence,
//! and the rule that a window starts only once everything is ticked (or a manager overrides).

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::overrides::{OverrideError, OverrideKind, OverrideRequest, Reason, authorize_override};
use super::window::WindowState;

/// The runbook's pre-maintenance checklist ("Planned Maintenance Window"), in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultItem {
    /// Announce maintenance 48 hours in advance.
    Announced,
    /// Update the status page.
    StatusPageUpdated,
    /// Back up the database; needs evidence: where the backup is.
    DatabaseBackedUp,
    /// Test the rollback procedure.
    RollbackTested,
    /// Prepare the rollback plan.
    RollbackPlanReady,
}

impl DefaultItem {
    /// Every default item, in the runbook's order.
    pub const ALL: [DefaultItem; 5] = [
        DefaultItem::Announced,
        DefaultItem::StatusPageUpdated,
        DefaultItem::DatabaseBackedUp,
        DefaultItem::RollbackTested,
        DefaultItem::RollbackPlanReady,
    ];

    /// The stable key stored with each window's item; never renamed.
    pub const fn key(self) -> &'static str {
        match self {
            DefaultItem::Announced => "announced_48h",
            DefaultItem::StatusPageUpdated => "status_page_updated",
            DefaultItem::DatabaseBackedUp => "database_backed_up",
            DefaultItem::RollbackTested => "rollback_tested",
            DefaultItem::RollbackPlanReady => "rollback_plan_ready",
        }
    }

    /// The item as shown on the window's page.
    pub const fn label(self) -> &'static str {
        match self {
            DefaultItem::Announced => "Announce the maintenance 48 hours in advance",
            DefaultItem::StatusPageUpdated => "Update the status page",
            DefaultItem::DatabaseBackedUp => "Back up the database",
            DefaultItem::RollbackTested => "Test the rollback procedure",
            DefaultItem::RollbackPlanReady => "Prepare the rollback plan",
        }
    }

    /// Whether ticking needs an evidence note (only the backup: where it is).
    pub const fn requires_evidence(self) -> bool {
        matches!(self, DefaultItem::DatabaseBackedUp)
    }

    /// The default item for `key`, if it is one.
    pub fn from_key(key: &str) -> Option<DefaultItem> {
        DefaultItem::ALL.into_iter().find(|item| item.key() == key)
    }

    /// A fresh, unticked item.
    pub fn item(self) -> ChecklistItem {
        ChecklistItem {
            key: ItemKey(self.key().to_owned()),
            label: self.label().to_owned(),
            evidence_required: self.requires_evidence(),
            tick: None,
        }
    }
}

/// A checklist item's stable key: 1 to 64 characters of `a-z`, `0-9` and `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ItemKey(String);

/// A key that is not 1 to 64 characters of `a-z`, `0-9` and `_`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a checklist item key: use 1 to 64 characters of a-z, 0-9 and _")]
pub struct ItemKeyError {
    /// The rejected input.
    pub input: String,
}

impl ItemKey {
    /// The longest key, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Validates `input` as is (no trimming: keys come from the database and URLs).
    pub fn parse(input: &str) -> Result<ItemKey, ItemKeyError> {
        let valid = !input.is_empty()
            && input.len() <= Self::MAX_CHARS
            && input.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid { Ok(ItemKey(input.to_owned())) } else { Err(ItemKeyError { input: input.to_owned() }) }
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ItemKey {
    type Error = ItemKeyError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        ItemKey::parse(&value)
    }
}

impl From<ItemKey> for String {
    fn from(key: ItemKey) -> Self {
        key.0
    }
}

/// Who ticked an item, when, and the evidence note they left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    /// The user's id.
    pub by: Uuid,
    /// When it was ticked.
    pub at: Timestamp,
    /// The evidence note, trimmed; `None` when left empty.
    pub evidence: Option<String>,
}

/// One item of a window's checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItem {
    /// Stable key: a [`DefaultItem::key`] or `custom_<n>`.
    pub key: ItemKey,
    /// What to do, as shown.
    pub label: String,
    /// Whether ticking needs an evidence note.
    pub evidence_required: bool,
    /// The tick, once ticked.
    pub tick: Option<Tick>,
}

impl ChecklistItem {
    /// Whether it is ticked.
    pub fn is_ticked(&self) -> bool {
        self.tick.is_some()
    }

    /// Whether it is one of the runbook's items rather than the team's own.
    pub fn is_default(&self) -> bool {
        DefaultItem::from_key(self.key.as_str()).is_some()
    }
}

/// Why a checklist change was refused; the message is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecklistError {
    /// The window is completed, rolled back or cancelled.
    #[error("the window is {}: its checklist can no longer change", .state.label())]
    WindowFinished {
        /// The window's final state.
        state: WindowState,
    },
    /// Adding or unticking once the window has started: the start was decided on this list.
    #[error("the window is in progress: items can no longer be added or unticked")]
    WindowStarted,
    /// No item with that key on this window.
    #[error("this window's checklist has no item {key:?}")]
    UnknownItem {
        /// The key asked for.
        key: String,
    },
    /// Ticking an item that needs evidence with an empty note.
    #[error("\u{201c}{label}\u{201d} needs an evidence note: {hint}")]
    EvidenceRequired {
        /// The item's label.
        label: String,
        /// What the note should say.
        hint: &'static str,
    },
    /// An evidence note over [`Checklist::MAX_EVIDENCE_CHARS`].
    #[error("the evidence note is {chars} characters long; the limit is {max}", max = Checklist::MAX_EVIDENCE_CHARS)]
    EvidenceTooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// Ticking an item twice would overwrite who ticked it and when.
    #[error("\u{201c}{label}\u{201d} is already ticked: untick it first to tick it again")]
    AlreadyTicked {
        /// The item's label.
        label: String,
    },
    /// Unticking an item that is not ticked.
    #[error("\u{201c}{label}\u{201d} is not ticked")]
    NotTicked {
        /// The item's label.
        label: String,
    },
    /// A custom item's label that is empty after trimming.
    #[error("the item's text is empty")]
    LabelEmpty,
    /// A custom item's label over [`Checklist::MAX_LABEL_CHARS`].
    #[error("the item's text is {chars} characters long; the limit is {max}", max = Checklist::MAX_LABEL_CHARS)]
    LabelTooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// More than [`Checklist::MAX_ITEMS`] items.
    #[error("a checklist has at most {} items", Checklist::MAX_ITEMS)]
    TooManyItems,
    /// Two stored items with the same key.
    #[error("the checklist has two items with the key {key:?}")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
}

/// A window's checklist: the default items first, then the team's own in the order added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checklist {
    items: Vec<ChecklistItem>,
}

impl Checklist {
    /// Most items on one checklist, default ones included.
    pub const MAX_ITEMS: usize = 50;
    /// Longest custom item text, in characters.
    pub const MAX_LABEL_CHARS: usize = 200;
    /// Longest evidence note, in characters.
    pub const MAX_EVIDENCE_CHARS: usize = 2_000;
    /// The key prefix of a team's own items.
    const CUSTOM_PREFIX: &'static str = "custom_";

    /// The runbook's five items, unticked: every new window starts with these.
    pub fn standard() -> Checklist {
        Checklist { items: DefaultItem::ALL.into_iter().map(DefaultItem::item).collect() }
    }

    /// A checklist from stored items, in display order; keys must be unique.
    pub fn from_items(items: Vec<ChecklistItem>) -> Result<Checklist, ChecklistError> {
        if items.len() > Self::MAX_ITEMS {
            return Err(ChecklistError::TooManyItems);
        }
        for (i, item) in items.iter().enumerate() {
            if items[..i].iter().any(|earlier| earlier.key == item.key) {
                return Err(ChecklistError::DuplicateKey { key: item.key.to_string() });
            }
        }
        Ok(Checklist { items })
    }

    /// The items, in display order.
    pub fn items(&self) -> &[ChecklistItem] {
        &self.items
    }

    /// The item with `key`.
    pub fn item(&self, key: &str) -> Option<&ChecklistItem> {
        self.items.iter().find(|item| item.key.as_str() == key)
    }

    /// Whether every item is ticked.
    pub fn is_complete(&self) -> bool {
        self.items.iter().all(ChecklistItem::is_ticked)
    }

    /// The items not yet ticked, in display order.
    pub fn unticked(&self) -> impl Iterator<Item = &ChecklistItem> {
        self.items.iter().filter(|item| !item.is_ticked())
    }

    /// Adds a team's own item to a window in `state` (draft or scheduled), keyed
    /// `custom_<n>` with `n` one more than the highest so far. Returns the new item.
    pub fn add_custom(
        &mut self,
        state: WindowState,
        label: &str,
        evidence_required: bool,
    ) -> Result<&ChecklistItem, ChecklistError> {
        refuse_unless_before_start(state)?;
        let label = label.trim();
        if label.is_empty() {
            return Err(ChecklistError::LabelEmpty);
        }
        let chars = label.chars().count();
        if chars > Self::MAX_LABEL_CHARS {
            return Err(ChecklistError::LabelTooLong { chars });
        }
        if self.items.len() >= Self::MAX_ITEMS {
            return Err(ChecklistError::TooManyItems);
        }
        let next = self
            .items
            .iter()
            .filter_map(|item| item.key.as_str().strip_prefix(Self::CUSTOM_PREFIX)?.parse::<u32>().ok())
            .max()
            .map_or(1, |highest| highest.saturating_add(1));
        let key = ItemKey(format!("{}{next}", Self::CUSTOM_PREFIX));
        self.items.push(ChecklistItem { key, label: label.to_owned(), evidence_required, tick: None });
        Ok(&self.items[self.items.len() - 1])
    }

    /// Ticks `key` for a window in `state` (anything but finished), by user `by` at `at`,
    /// with the `evidence` note as typed (required for the backup and any item that asks).
    /// Returns the ticked item.
    pub fn tick(
        &mut self,
        state: WindowState,
        key: &str,
        by: Uuid,
        at: Timestamp,
        evidence: &str,
    ) -> Result<&ChecklistItem, ChecklistError> {
        if state.is_finished() {
            return Err(ChecklistError::WindowFinished { state });
        }
        let item = self.item_mut(key)?;
        if item.is_ticked() {
            return Err(ChecklistError::AlreadyTicked { label: item.label.clone() });
        }
        let evidence = evidence.trim();
        let chars = evidence.chars().count();
        if chars > Self::MAX_EVIDENCE_CHARS {
            return Err(ChecklistError::EvidenceTooLong { chars });
        }
        if evidence.is_empty() && item.evidence_required {
            let hint = if item.key.as_str() == DefaultItem::DatabaseBackedUp.key() {
                "say where the backup is (file path, bucket or snapshot name)"
            } else {
                "say what shows it is done"
            };
            return Err(ChecklistError::EvidenceRequired { label: item.label.clone(), hint });
        }
        item.tick = Some(Tick { by, at, evidence: (!evidence.is_empty()).then(|| evidence.to_owned()) });
        Ok(item)
    }

    /// Withdraws the tick on `key` for a window in `state` (draft or scheduled).
    pub fn untick(&mut self, state: WindowState, key: &str) -> Result<Tick, ChecklistError> {
        refuse_unless_before_start(state)?;
        let item = self.item_mut(key)?;
        item.tick.take().ok_or_else(|| ChecklistError::NotTicked { label: item.label.clone() })
    }

    fn item_mut(&mut self, key: &str) -> Result<&mut ChecklistItem, ChecklistError> {
        self.items
            .iter_mut()
            .find(|item| item.key.as_str() == key)
            .ok_or_else(|| ChecklistError::UnknownItem { key: key.to_owned() })
    }
}

fn refuse_unless_before_start(state: WindowState) -> Result<(), ChecklistError> {
    match state {
        WindowState::Draft | WindowState::Scheduled => Ok(()),
        WindowState::InProgress => Err(ChecklistError::WindowStarted),
        WindowState::Completed | WindowState::RolledBack | WindowState::Cancelled => {
            Err(ChecklistError::WindowFinished { state })
        }
    }
}

/// Why a window may start as far as its checklist goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartClearance {
    /// Every item is ticked.
    AllTicked,
    /// A manager overrode the unticked items; record the reason and the keys.
    Overridden {
        /// The written reason.
        reason: Reason,
        /// The items that were not ticked, in display order.
        unticked: Vec<ItemKey>,
    },
}

/// Why a window may not start yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartRefused {
    /// Items are unticked and nobody overrode.
    #[error(
        "{} checklist item{} not ticked ({}): tick {}, or a manager can start the window anyway with a reason",
        .labels.len(),
        if .labels.len() == 1 { " is" } else { "s are" },
        .labels.join(", "),
        if .labels.len() == 1 { "it" } else { "them" }
    )]
    Unticked {
        /// The unticked items' labels, in display order.
        labels: Vec<String>,
    },
    /// The override was refused (role too low, no reason).
    #[error(transparent)]
    Override(#[from] OverrideError),
}

/// The gate on starting a window: every item ticked, or a manager's (or admin's) override
/// with a written reason. An override offered when nothing is unticked is not needed and
/// not recorded. Check the state change with [`super::transition`] as well.
pub fn start_gate(
    checklist: &Checklist,
    override_request: Option<OverrideRequest<'_>>,
) -> Result<StartClearance, StartRefused> {
    let unticked: Vec<&ChecklistItem> = checklist.unticked().collect();
    if unticked.is_empty() {
        return Ok(StartClearance::AllTicked);
    }
    let Some(request) = override_request else {
        return Err(StartRefused::Unticked {
            labels: unticked.iter().map(|item| item.label.clone()).collect(),
        });
    };
    let reason = authorize_override(OverrideKind::UntickedChecklist, request)?;
    Ok(StartClearance::Overridden {
        reason,
        unticked: unticked.iter().map(|item| item.key.clone()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::Role;

    fn user() -> Uuid {
        Uuid::from_u128(7)
    }

    fn now() -> Timestamp {
        "2026-12-05T00:30:00Z".parse().expect("valid")
    }

    fn tick_all(checklist: &mut Checklist) {
        let keys: Vec<String> = checklist.items().iter().map(|item| item.key.to_string()).collect();
        for key in keys {
            checklist
                .tick(WindowState::Scheduled, &key, user(), now(), "s3://backups/2026-12-05.sql.gz")
                .expect("tick");
        }
    }

    #[test]
    fn a_new_window_gets_the_runbooks_five_items_with_stable_keys() {
        let checklist = Checklist::standard();
        let keys: Vec<&str> = checklist.items().iter().map(|item| item.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "announced_48h",
                "status_page_updated",
                "database_backed_up",
                "rollback_tested",
                "rollback_plan_ready"
            ]
        );
        assert!(checklist.items().iter().all(|item| item.is_default() && !item.is_ticked()));
        let evidence: Vec<&str> = checklist
            .items()
            .iter()
            .filter(|item| item.evidence_required)
            .map(|item| item.key.as_str())
            .collect();
        assert_eq!(evidence, ["database_backed_up"]);
        assert_eq!(DefaultItem::from_key("rollback_tested"), Some(DefaultItem::RollbackTested));
    }

    #[test]
    fn the_backup_item_cannot_be_ticked_without_saying_where_the_backup_is() {
        let mut checklist = Checklist::standard();
        let err = checklist
            .tick(WindowState::Scheduled, "database_backed_up", user(), now(), "  ")
            .expect_err("no evidence");
        assert_eq!(
            err.to_string(),
            "\u{201c}Back up the database\u{201d} needs an evidence note: say where the backup is \
             (file path, bucket or snapshot name)"
        );
        let item = checklist
            .tick(
                WindowState::Scheduled,
                "database_backed_up",
                user(),
                now(),
                " s3://backups/pre-upgrade.sql.gz ",
            )
            .expect("ticked");
        let tick = item.tick.as_ref().expect("ticked");
        assert_eq!((tick.by, tick.at), (user(), now()));
        assert_eq!(tick.evidence.as_deref(), Some("s3://backups/pre-upgrade.sql.gz"));
    }

    #[test]
    fn other_items_may_be_ticked_with_or_without_a_note() {
        let mut checklist = Checklist::standard();
        let item = checklist.tick(WindowState::Draft, "rollback_tested", user(), now(), "").expect("ticked");
        assert_eq!(item.tick.as_ref().and_then(|t| t.evidence.as_deref()), None);
        let again = checklist.tick(WindowState::Draft, "rollback_tested", user(), now(), "");
        assert!(matches!(again, Err(ChecklistError::AlreadyTicked { .. })));
        assert_eq!(checklist.untick(WindowState::Draft, "rollback_tested").map(|t| t.by), Ok(user()));
        assert!(matches!(
            checklist.untick(WindowState::Draft, "rollback_tested"),
            Err(ChecklistError::NotTicked { .. })
        ));
    }

    #[test]
    fn ticking_an_item_of_a_finished_window_is_refused() {
        for state in [WindowState::Completed, WindowState::RolledBack, WindowState::Cancelled] {
            let mut checklist = Checklist::standard();
            let err = checklist.tick(state, "rollback_tested", user(), now(), "").expect_err("finished");
            assert_eq!(err, ChecklistError::WindowFinished { state });
            assert!(!checklist.is_complete() && checklist.unticked().count() == 5);
        }
        let err = Checklist::standard()
            .tick(WindowState::Completed, "rollback_tested", user(), now(), "")
            .expect_err("x");
        assert_eq!(err.to_string(), "the window is completed: its checklist can no longer change");
    }

    #[test]
    fn once_started_items_can_still_be_ticked_but_not_added_or_unticked() {
        let mut checklist = Checklist::standard();
        assert!(checklist.tick(WindowState::InProgress, "rollback_tested", user(), now(), "").is_ok());
        assert_eq!(
            checklist.untick(WindowState::InProgress, "rollback_tested"),
            Err(ChecklistError::WindowStarted)
        );
        assert_eq!(
            checklist.add_custom(WindowState::InProgress, "Warn the sales team", false).map(|_| ()),
            Err(ChecklistError::WindowStarted)
        );
    }

    #[test]
    fn teams_add_their_own_items_with_numbered_keys() {
        let mut checklist = Checklist::standard();
        let first = checklist.add_custom(WindowState::Draft, "  Warn the sales team ", false).expect("added");
        assert_eq!((first.key.as_str(), first.label.as_str()), ("custom_1", "Warn the sales team"));
        assert!(!first.is_default());
        let second = checklist.add_custom(WindowState::Scheduled, "Freeze deploys", true).expect("added");
        assert_eq!(second.key.as_str(), "custom_2");
        let err = checklist
            .tick(WindowState::Scheduled, "custom_2", user(), now(), "")
            .expect_err("needs evidence");
        assert!(err.to_string().ends_with("needs an evidence note: say what shows it is done"), "{err}");
        assert_eq!(
            checklist.add_custom(WindowState::Draft, " ", false).map(|_| ()),
            Err(ChecklistError::LabelEmpty)
        );
        assert!(matches!(
            checklist.add_custom(WindowState::Cancelled, "Late", false),
            Err(ChecklistError::WindowFinished { state: WindowState::Cancelled })
        ));
        assert_eq!(
            checklist.tick(WindowState::Draft, "nope", user(), now(), "").map(|_| ()),
            Err(ChecklistError::UnknownItem { key: "nope".to_owned() })
        );
    }

    #[test]
    fn custom_keys_continue_after_the_highest_even_when_one_was_removed() {
        let mut items = Checklist::standard().items().to_vec();
        items.push(ChecklistItem {
            key: ItemKey::parse("custom_3").expect("valid"),
            label: "Old".to_owned(),
            evidence_required: false,
            tick: None,
        });
        let mut checklist = Checklist::from_items(items.clone()).expect("valid");
        assert_eq!(
            checklist.add_custom(WindowState::Draft, "New", false).map(|i| i.key.to_string()),
            Ok("custom_4".to_owned())
        );
        items.push(items[0].clone());
        assert!(matches!(Checklist::from_items(items), Err(ChecklistError::DuplicateKey { .. })));
    }

    #[test]
    fn item_keys_are_lowercase_words() {
        assert!(ItemKey::parse("rollback_tested").is_ok());
        for bad in ["", "Rollback", "a-b", "a b", &"x".repeat(65)] {
            assert!(ItemKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_window_may_start_only_when_every_item_is_ticked() {
        let mut checklist = Checklist::standard();
        checklist.tick(WindowState::Scheduled, "announced_48h", user(), now(), "").expect("tick");
        checklist.tick(WindowState::Scheduled, "status_page_updated", user(), now(), "").expect("tick");
        checklist.tick(WindowState::Scheduled, "rollback_plan_ready", user(), now(), "").expect("tick");
        let err = start_gate(&checklist, None).expect_err("two unticked");
        assert_eq!(
            err.to_string(),
            "2 checklist items are not ticked (Back up the database, Test the rollback procedure): \
             tick them, or a manager can start the window anyway with a reason"
        );
        let mut all = Checklist::standard();
        tick_all(&mut all);
        assert_eq!(start_gate(&all, None), Ok(StartClearance::AllTicked));
        let unneeded = start_gate(&all, Some(OverrideRequest { role: Role::Manager, reason: "x" }));
        assert_eq!(unneeded, Ok(StartClearance::AllTicked));
    }

    #[test]
    fn a_manager_or_admin_may_start_with_unticked_items_giving_a_reason() {
        let mut checklist = Checklist::standard();
        checklist.tick(WindowState::Scheduled, "announced_48h", user(), now(), "").expect("tick");
        for role in [Role::Manager, Role::Admin] {
            let cleared = start_gate(
                &checklist,
                Some(OverrideRequest { role, reason: "rollback tested on staging last week" }),
            )
            .expect("overridden");
            let StartClearance::Overridden { reason, unticked } = cleared else {
                panic!("expected an override, got {cleared:?}");
            };
            assert_eq!(reason.as_str(), "rollback tested on staging last week");
            assert_eq!(unticked.len(), 4);
            assert_eq!(unticked[0].as_str(), "status_page_updated");
        }
    }

    #[test]
    fn a_commander_cannot_override_the_checklist_and_nobody_can_without_a_reason() {
        let checklist = Checklist::standard();
        let err = start_gate(&checklist, Some(OverrideRequest { role: Role::Commander, reason: "urgent" }))
            .expect_err("role too low");
        assert_eq!(
            err.to_string(),
            "only a manager or an admin can start a window before every checklist item is ticked (your role is commander)"
        );
        let err = start_gate(&checklist, Some(OverrideRequest { role: Role::Manager, reason: "" }))
            .expect_err("no reason");
        assert!(matches!(err, StartRefused::Override(OverrideError::Reason(_))));
    }
}
