//! How every page shows a moment: one view type built on `crate::clock`, rendered by the
//! `moment` macro of `templates/macros.html`, so the same event reads the same everywhere.

use jiff::tz::TimeZone;

use crate::clock::{self, Instant};

/// A moment as pages show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moment {
    /// RFC 3339, for `<time datetime>`.
    pub iso: String,
    /// "2026-11-29 15:05 CET": in the team's time zone.
    pub absolute: String,
    /// "2026-11-29 14:05 UTC" beside it when the team's zone is not UTC.
    pub utc: Option<String>,
    /// "4 min ago", "in 3 h", "just now".
    pub relative: String,
}

impl Moment {
    pub fn new(t: impl Instant, zone: &TimeZone, now: impl Instant) -> Self {
        let absolute = clock::absolute(t, zone);
        let utc = clock::absolute(t, &TimeZone::UTC);
        Self {
            iso: clock::iso(t),
            utc: (utc != absolute).then_some(utc),
            absolute,
            relative: clock::relative(t, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_moment_in_another_zone_also_names_utc() {
        let t = datetime!(2026-11-29 14:05 UTC);
        let berlin = TimeZone::get("Europe/Berlin").expect("zone");
        let m = Moment::new(t, &berlin, datetime!(2026-11-29 14:09 UTC));
        assert_eq!(m.absolute, "2026-11-29 15:05 CET");
        assert_eq!(m.utc.as_deref(), Some("2026-11-29 14:05 UTC"));
        assert_eq!(m.relative, "4 min ago");
        assert_eq!(Moment::new(t, &TimeZone::UTC, t).utc, None);
    }
}
