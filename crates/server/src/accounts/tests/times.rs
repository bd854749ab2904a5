//! Times on the account and admin pages: the team's zone and the portal's one relative wording.

use jiff::tz::TimeZone;
use time::macros::datetime;

use crate::web::time::Moment;

/// These assertions read "1 day ago", "45 days ago", "3 months ago", "in 3 days" and "in
/// less than a minute" before issue 10; every page now words times the one way of
/// `crate::clock`, so the account pages read like the incident pages.
#[test]
fn account_times_show_the_team_zone_and_the_portals_one_relative_wording() {
    let at = datetime!(2026-11-29 14:05:59 UTC);
    let m = Moment::new(at, &TimeZone::UTC, at);
    assert_eq!(m.absolute, "2026-11-29 14:05 UTC");
    assert_eq!(m.iso, "2026-11-29T14:05:59Z");
    let berlin = TimeZone::get("Europe/Berlin").expect("zone");
    assert_eq!(Moment::new(at, &berlin, at).absolute, "2026-11-29 15:05 CET");

    let now = datetime!(2026-11-29 14:05 UTC);
    let ago = |d: time::Duration| Moment::new(now - d, &TimeZone::UTC, now).relative;
    assert_eq!(ago(time::Duration::seconds(20)), "just now");
    assert_eq!(ago(time::Duration::minutes(4)), "4 min ago");
    assert_eq!(ago(time::Duration::hours(3)), "3 h ago");
    assert_eq!(ago(time::Duration::days(1)), "1 d ago");
    assert_eq!(ago(time::Duration::days(45)), "45 d ago");
    assert_eq!(ago(time::Duration::days(90)), "90 d ago");
    assert_eq!(ago(time::Duration::days(800)), "800 d ago");
    assert_eq!(ago(-time::Duration::days(3)), "in 3 d");
    assert_eq!(ago(-time::Duration::seconds(5)), "just now");
}

/// Before issue 10 these read "3 days ago", "24 h ago" and "13 months ago": the admin
/// pages had their own rounding. They now use the portal's one wording (`crate::clock`).
#[test]
fn times_show_the_team_zone_and_how_long_ago() {
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").expect("zone");
    let now = time::macros::datetime!(2025-07-01 12:00 UTC);
    let m = Moment::new(time::macros::datetime!(2025-07-01 11:56 UTC), &tz, now);
    assert_eq!(m.absolute, "2025-07-01 13:56 CEST");
    assert_eq!(m.relative, "4 min ago");
    assert_eq!(m.iso, "2025-07-01T11:56:00Z");
    let winter = Moment::new(time::macros::datetime!(2025-01-15 08:00 UTC), &tz, now);
    assert_eq!(winter.absolute, "2025-01-15 09:00 CET");
    let relative = |age: i64| Moment::new(now - time::Duration::seconds(age), &tz, now).relative;
    assert_eq!(relative(10), "just now");
    assert_eq!(relative(3 * 3600), "3 h ago");
    assert_eq!(relative(86_400 * 3), "3 d ago");
    assert_eq!(relative(86_400), "1 d ago");
    assert_eq!(relative(-600), "in 10 min");
    assert_eq!(relative(400 * 86_400), "400 d ago");
    assert_eq!(relative(800 * 86_400), "800 d ago");
}
