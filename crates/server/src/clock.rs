//! Time at the edges: conversions between the database's `time` and the domain's `jiff`, and
//! how times are shown (absolute in the team's zone, plus relative).

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

/// "2026-11-29 14:05 UTC" in `zone`.
pub fn absolute(t: OffsetDateTime, zone: &TimeZone) -> String {
    let zoned = to_jiff(t).to_zoned_datetime(zone.clone());
    format!("{} {}", zoned.strftime("%Y-%m-%d %H:%M"), zoned.strftime("%Z"))
}

/// "14:05 UTC" in `zone`.
pub fn time_of_day(t: OffsetDateTime, zone: &TimeZone) -> String {
    let zoned = to_jiff(t).to_zoned_datetime(zone.clone());
    zoned.strftime("%H:%M %Z").to_string()
}

/// ISO 8601 with offset, for `<time datetime>` and JSON.
pub fn iso(t: OffsetDateTime) -> String {
    to_jiff(t).to_string()
}

/// "4 min ago", "in 3 h", "just now".
pub fn relative(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let d = SignedDuration::from_nanos(i64::try_from((now - t).whole_nanoseconds()).unwrap_or(i64::MAX));
    let secs = d.as_secs();
    if secs.abs() < 45 {
        return "just now".into();
    }
    let text = twisterlab_domain::sla::compact_duration(d.abs());
    if secs > 0 { format!("{text} ago") } else { format!("in {text}") }
}

/// "2026-11-29 14:05 UTC (4 min ago)".
pub fn describe(t: OffsetDateTime, zone: &TimeZone, now: OffsetDateTime) -> String {
    format!("{} ({})", absolute(t, zone), relative(t, now))
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
    }

    #[test]
    fn conversions_round_trip() {
        let t = datetime!(2026-11-29 14:05:06.123 UTC);
        assert_eq!(from_jiff(to_jiff(t)), t);
    }
}
