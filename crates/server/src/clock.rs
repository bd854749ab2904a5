//! Time at the edges: conversions between the database's `time` and the domain's `jiff`, and
//! the one wording of times on every page (absolute in the team's zone, plus relative).

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use time::OffsetDateTime;

/// `time` → `jiff`.
pub fn to_jiff(t: OffsetDateTime) -> Timestamp {
    Timestamp::from_nanosecond(t.unix_timestamp_nanos()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `jiff` → `time`.
pub fn from_jiff(t: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(t.as_nanosecond()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// An instant in either representation, so the wording functions serve rows that are still
/// typed with `time` as well as domain values typed with `jiff`.
pub trait Instant: Copy {
    fn timestamp(self) -> Timestamp;
}

impl Instant for Timestamp {
    fn timestamp(self) -> Timestamp {
        self
    }
}

impl Instant for OffsetDateTime {
    fn timestamp(self) -> Timestamp {
        to_jiff(self)
    }
}

/// "2026-11-29 14:05 UTC" in `zone`.
pub fn absolute(t: impl Instant, zone: &TimeZone) -> String {
    let zoned = t.timestamp().to_zoned_datetime(zone.clone());
    format!("{} {}", zoned.strftime("%Y-%m-%d %H:%M"), zoned.strftime("%Z"))
}

/// "14:05 UTC" in `zone`.
pub fn time_of_day(t: impl Instant, zone: &TimeZone) -> String {
    let zoned = t.timestamp().to_zoned_datetime(zone.clone());
    zoned.strftime("%H:%M %Z").to_string()
}

/// ISO 8601 with offset, for `<time datetime>` and JSON.
pub fn iso(t: impl Instant) -> String {
    t.timestamp().to_string()
}

/// "4 min ago", "in 3 h", "just now": the one relative wording of the portal.
pub fn relative(t: impl Instant, now: impl Instant) -> String {
    let d = now.timestamp().duration_since(t.timestamp());
    let secs = d.as_secs();
    if secs.abs() < 45 {
        return "just now".into();
    }
    let text = twisterlab_domain::sla::compact_duration(d.abs());
    if secs > 0 { format!("{text} ago") } else { format!("in {text}") }
}

/// How long between two instants, for durations shown or compared.
pub fn between(from: impl Instant, to: impl Instant) -> SignedDuration {
    to.timestamp().duration_since(from.timestamp())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn times_show_in_the_team_zone_with_its_abbreviation() {
        let t = datetime!(2026-07-01 12:00 UTC);
        assert_eq!(absolute(t, &TimeZone::UTC), "2026-07-01 12:00 UTC");
        let berlin = TimeZone::get("Europe/Berlin").expect("zone");
        assert_eq!(absolute(t, &berlin), "2026-07-01 14:00 CEST");
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = datetime!(2026-07-01 12:00 UTC);
        assert_eq!(relative(datetime!(2026-07-01 11:56 UTC), now), "4 min ago");
        assert_eq!(relative(datetime!(2026-07-01 15:00 UTC), now), "in 3 h");
        assert_eq!(relative(datetime!(2026-07-01 11:59:50 UTC), now), "just now");
        assert_eq!(relative(datetime!(2026-07-01 11:59:10 UTC), now), "50 s ago");
        assert_eq!(relative(datetime!(2026-06-28 08:00 UTC), now), "3 d 4 h ago");
    }

    #[test]
    fn both_representations_of_an_instant_read_the_same() {
        let t = datetime!(2026-11-29 14:05:06.123 UTC);
        assert_eq!(from_jiff(to_jiff(t)), t);
        assert_eq!(absolute(t, &TimeZone::UTC), absolute(to_jiff(t), &TimeZone::UTC));
        assert_eq!(iso(t), iso(to_jiff(t)));
    }
}
