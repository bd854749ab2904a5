//! Report figures the server computes in SQL, as plain functions: percentiles of durations
//! (MTTA, MTTR) and whether a page came at night or outside business hours. Tests compute the
//! expected report by hand with these, so they define what the SQL must return.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::business_hours::BusinessHours;

/// A percentile as a fraction from 0 to 1 (`0.9` is p90).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percentile(f64);

/// A fraction outside 0 to 1 (or not a number).
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("a percentile is a fraction from 0 to 1, got {0}")]
pub struct PercentileError(pub f64);

impl Percentile {
    /// The median, `percentile_disc(0.5)`.
    pub const MEDIAN: Percentile = Percentile(0.5);
    /// The 90th percentile, `percentile_disc(0.9)`.
    pub const P90: Percentile = Percentile(0.9);

    /// The fraction `fraction`, from 0 to 1 inclusive.
    pub fn new(fraction: f64) -> Result<Percentile, PercentileError> {
        if (0.0..=1.0).contains(&fraction) {
            Ok(Percentile(fraction))
        } else {
            Err(PercentileError(fraction))
        }
    }

    /// The fraction.
    pub const fn get(self) -> f64 {
        self.0
    }
}

/// The discrete percentile of `values` by the nearest-rank method, exactly as PostgreSQL's
/// `percentile_disc(p) within group (order by value)`: sort ascending and take the value at
/// 1-based rank `ceil(p × n)` (rank 1 when that is 0). Always one of the values, never an
/// interpolation; with an even count the median is the lower middle value. `None` for no
/// values, as SQL returns NULL.
///
/// The rank is computed in `f64` like PostgreSQL's `float8`, so even fractions that are not
/// exact in binary pick the same row (`p = 0.07` of 100 values is rank 8 in both).
pub fn percentile_disc(values: &[SignedDuration], p: Percentile) -> Option<SignedDuration> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    // `p` is within 0..=1, so the product is within 0..=n and the cast cannot truncate.
    let rank = (p.get() * n as f64).ceil() as usize;
    sorted.get(rank.clamp(1, n.max(1)) - 1).copied()
}

/// The median of `values` (`percentile_disc(0.5)`): the lower middle one for an even count.
pub fn median(values: &[SignedDuration]) -> Option<SignedDuration> {
    percentile_disc(values, Percentile::MEDIAN)
}

/// The 90th percentile of `values` (`percentile_disc(0.9)`).
pub fn p90(values: &[SignedDuration]) -> Option<SignedDuration> {
    percentile_disc(values, Percentile::P90)
}

/// When the night starts, local time: 22:00 (inclusive).
pub const NIGHT_STARTS: Time = Time::constant(22, 0, 0, 0);
/// When the night ends, local time: 07:00 (exclusive).
pub const NIGHT_ENDS: Time = Time::constant(7, 0, 0, 0);

/// Whether `t` is at night in `zone`: a wall-clock time from 22:00 up to (not including)
/// 07:00, any day of the week. In SQL:
/// `(t at time zone zone)::time >= '22:00' or (t at time zone zone)::time < '07:00'`.
pub fn is_night(t: Timestamp, zone: &TimeZone) -> bool {
    let time = zone.to_datetime(t).time();
    time >= NIGHT_STARTS || time < NIGHT_ENDS
}

/// When a page reached someone, as the on-call load report counts it. The two overlap: a
/// page at 23:00 on a Tuesday counts both as outside business hours and as a night page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageTiming {
    /// Not within the team's business hours ([`BusinessHours::is_open`] is false).
    pub outside_business_hours: bool,
    /// At night in the team's zone ([`is_night`]).
    pub night: bool,
}

/// Classifies a page sent at `t` against the team's business hours (whose zone also decides
/// the night).
pub fn classify_page(t: Timestamp, hours: &BusinessHours) -> PageTiming {
    PageTiming { outside_business_hours: !hours.is_open(t), night: is_night(t, hours.time_zone()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn mins(values: &[i64]) -> Vec<SignedDuration> {
        values.iter().copied().map(SignedDuration::from_mins).collect()
    }

    fn at(zone_name: &str, y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Timestamp {
        let zone = TimeZone::get(zone_name).expect("zone in the bundled tzdb");
        date(y, mo, d).at(h, mi, 0, 0).to_zoned_datetime(zone).expect("valid local time").timestamp()
    }

    // The expected values below were checked against PostgreSQL 15's percentile_disc.

    #[test]
    fn the_median_of_an_even_count_is_the_lower_middle_value() {
        assert_eq!(median(&mins(&[40, 10, 30, 20])), Some(SignedDuration::from_mins(20)));
        assert_eq!(median(&mins(&[5, 1, 3])), Some(SignedDuration::from_mins(3)));
        assert_eq!(median(&mins(&[7])), Some(SignedDuration::from_mins(7)));
    }

    #[test]
    fn p90_is_the_nearest_rank_not_an_interpolation() {
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(p90(&mins(&ten)), Some(SignedDuration::from_mins(9)));
        let thirty: Vec<i64> = (1..=30).collect();
        assert_eq!(p90(&mins(&thirty)), Some(SignedDuration::from_mins(27)));
        let eleven: Vec<i64> = (1..=11).collect();
        assert_eq!(p90(&mins(&eleven)), Some(SignedDuration::from_mins(10)), "ceil(9.9) = rank 10");
        assert_eq!(p90(&mins(&[3, 1])), Some(SignedDuration::from_mins(3)));
    }

    #[test]
    fn percentiles_round_the_rank_in_floating_point_like_postgresql() {
        let hundred: Vec<i64> = (1..=100).collect();
        let p7 = Percentile::new(0.07).expect("valid");
        // 0.07 × 100 is 7.000000000000001 in float8, so PostgreSQL takes rank 8.
        assert_eq!(percentile_disc(&mins(&hundred), p7), Some(SignedDuration::from_mins(8)));
        let p0 = Percentile::new(0.0).expect("valid");
        assert_eq!(percentile_disc(&mins(&[4, 2, 9]), p0), Some(SignedDuration::from_mins(2)));
        let p100 = Percentile::new(1.0).expect("valid");
        assert_eq!(percentile_disc(&mins(&[4, 2, 9]), p100), Some(SignedDuration::from_mins(9)));
    }

    #[test]
    fn no_durations_have_no_percentile_and_bad_fractions_are_refused() {
        assert_eq!(median(&[]), None);
        assert_eq!(p90(&[]), None);
        for bad in [-0.1, 1.5, f64::NAN] {
            assert!(Percentile::new(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Percentile::new(2.0).map_err(|e| e.to_string()),
            Err("a percentile is a fraction from 0 to 1, got 2".to_owned())
        );
    }

    #[test]
    fn night_runs_from_ten_in_the_evening_to_seven_in_the_morning_local_time() {
        let berlin = TimeZone::get("Europe/Berlin").expect("zone");
        assert!(!is_night(at("Europe/Berlin", 2026, 12, 2, 21, 59), &berlin));
        assert!(is_night(at("Europe/Berlin", 2026, 12, 2, 22, 0), &berlin));
        assert!(is_night(at("Europe/Berlin", 2026, 12, 3, 6, 59), &berlin));
        assert!(!is_night(at("Europe/Berlin", 2026, 12, 3, 7, 0), &berlin));
        // 21:30 UTC is 22:30 in Berlin in winter: the team's clock decides.
        let t: Timestamp = "2026-12-02T21:30:00Z".parse().expect("valid");
        assert!(is_night(t, &berlin));
        assert!(!is_night(t, &TimeZone::UTC));
    }

    #[test]
    fn night_follows_the_local_clock_across_dst_changes() {
        let ny = TimeZone::get("America/New_York").expect("zone");
        // 11:00 UTC is 07:00 EDT before fall-back (day) and 06:00 EST after it (night).
        assert!(!is_night("2026-10-31T11:00:00Z".parse().expect("valid"), &ny));
        assert!(is_night("2026-11-01T11:00:00Z".parse().expect("valid"), &ny));
        // Both 01:30s of the repeated hour are at night.
        assert!(is_night("2026-11-01T05:30:00Z".parse().expect("valid"), &ny));
        assert!(is_night("2026-11-01T06:30:00Z".parse().expect("valid"), &ny));
    }

    #[test]
    fn a_page_is_classified_against_business_hours_and_the_night() {
        let hours = BusinessHours::standard(TimeZone::get("Europe/Berlin").expect("zone"));
        let wednesday = |h, m| classify_page(at("Europe/Berlin", 2026, 12, 2, h, m), &hours);
        assert_eq!(wednesday(10, 0), PageTiming { outside_business_hours: false, night: false });
        assert_eq!(wednesday(18, 30), PageTiming { outside_business_hours: true, night: false });
        assert_eq!(wednesday(23, 15), PageTiming { outside_business_hours: true, night: true });
        let saturday_noon = classify_page(at("Europe/Berlin", 2026, 12, 5, 12, 0), &hours);
        assert_eq!(saturday_noon, PageTiming { outside_business_hours: true, night: false });
    }
}
