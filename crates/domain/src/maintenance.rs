//! Maintenance windows: their lifecycle and public status, draft validation and overlaps, the
//! 48-hour notice rule, manager overrides and the pre-maintenance checklist that gates the start.
//!
//! Everything is re-exported here; the submodules only split the file.

mod checklist;
mod draft;
mod notice;
mod overrides;
mod reschedule;
mod window;

pub use checklist::{
    Checklist, ChecklistError, ChecklistItem, DefaultItem, ItemKey, ItemKeyError, StartClearance,
    StartRefused, Tick, start_gate,
};
pub use draft::{
    DEFAULT_MAX_DURATION, FieldError, LocalTimeError, OtherWindow, Overlap, OverlapError, ValidWindow,
    WindowDraft, WindowField, accept_overlaps, local_to_timestamp, overlaps, validate_draft,
};
pub use notice::{MIN_NOTICE, Notice, NoticeDecision, check_short_notice_override};
pub use overrides::{
    OVERRIDE_ROLE, OverrideError, OverrideKind, OverrideRequest, Reason, ReasonError, authorize_override,
};
pub use reschedule::{
    EditRefused, RescheduleDecision, check_editable, check_reschedule_override, reschedule,
};
pub use window::{PublicStatus, WindowState, WindowTransitionError, transition};
