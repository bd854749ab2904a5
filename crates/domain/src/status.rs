//! Status page roll-up rules: a component's public status (a pin overrides the signals), the
//! page indicator, an incident's Statuspage impact, and per-day uptime from the recorded status
//! history.

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan as _};

use crate::incident::{ComponentStatus, Impact, IncidentStatus};
use crate::severity::Severity;

/// Everything a component's public status is computed from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Signals {
    /// Impacts of the OPEN, PUBLIC incidents on this component (private ones never count).
    pub incident_impacts: Vec<Impact>,
    /// The status an admin pinned, if any: it replaces everything else until it is removed.
    pub manual: Option<ComponentStatus>,
    /// Whether a maintenance window in progress covers the component.
    pub in_maintenance: bool,
    /// The health services that count against the component (down, not yet recovered), as the
    /// worst of their configured impacts. Ignored during maintenance: the window announced it.
    pub probe: Option<ComponentStatus>,
}

/// A component's public status. A pinned status is what an admin says the public should read,
/// so it wins over every signal (in either direction: an admin may pin `operational` while an
/// incident's impact on the component turned out to be wrong). Without a pin, the worst of the
/// signals by [`ComponentStatus::badness`], operational when nothing is wrong; maintenance ranks
/// below any outage, so an incident during a maintenance window still shows.
pub fn component_status(signals: &Signals) -> ComponentStatus {
    if let Some(pinned) = signals.manual {
        return pinned;
    }
    let impacts = signals.incident_impacts.iter().map(|i| ComponentStatus::from_impact(*i));
    let maintenance = signals.in_maintenance.then_some(ComponentStatus::UnderMaintenance);
    let probe = if signals.in_maintenance { None } else { signals.probe };
    ComponentStatus::worst(impacts.chain(maintenance).chain(probe))
}

/// Statuspage's four-step scale, used both for the page's `status.indicator` and for an
/// incident's `impact` (the API uses the same value set for both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Nothing is wrong (or only planned maintenance).
    None,
    /// Degraded performance, or a P2/P3 incident.
    Minor,
    /// A partial outage, or a P1 incident.
    Major,
    /// A major outage, or a P0 incident.
    Critical,
}

impl Level {
    /// The API value: `none`, `minor`, `major` or `critical`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Minor => "minor",
            Level::Major => "major",
            Level::Critical => "critical",
        }
    }

    /// What a component status means for the page: degraded performance is minor, a partial
    /// outage major, a major outage critical; maintenance is planned, so it raises nothing.
    pub const fn of_status(status: ComponentStatus) -> Level {
        match status {
            ComponentStatus::Operational | ComponentStatus::UnderMaintenance => Level::None,
            ComponentStatus::DegradedPerformance => Level::Minor,
            ComponentStatus::PartialOutage => Level::Major,
            ComponentStatus::MajorOutage => Level::Critical,
        }
    }

    /// The level of an incident's severity: P0 (system down) critical, P1 (critical feature)
    /// major, P2 and P3 (the system still works) minor.
    pub const fn of_severity(severity: Severity) -> Level {
        match severity {
            Severity::P0 => Level::Critical,
            Severity::P1 => Level::Major,
            Severity::P2 | Severity::P3 => Level::Minor,
        }
    }
}

/// An incident's public `impact`: the worse of what its severity says and what it does to
/// the components it affects.
pub fn incident_impact(severity: Severity, impacts: &[Impact]) -> Level {
    let from_components = impacts
        .iter()
        .map(|i| Level::of_status(ComponentStatus::from_impact(*i)))
        .max()
        .unwrap_or(Level::None);
    from_components.max(Level::of_severity(severity))
}

/// The page's overall state: Statuspage's `status` object and our banner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageStatus {
    /// Statuspage's `status.indicator`.
    pub indicator: Level,
    /// Whether some component is under maintenance (changes the words, not the indicator).
    pub maintenance: bool,
}

impl PageStatus {
    /// Statuspage's description for the indicator (`All Systems Operational`…).
    pub const fn description(self) -> &'static str {
        match (self.indicator, self.maintenance) {
            (Level::None, false) => "All Systems Operational",
            (Level::None, true) => "Service Under Maintenance",
            (Level::Minor, _) => "Minor Service Outage",
            (Level::Major, _) => "Partial System Outage",
            (Level::Critical, _) => "Major Service Outage",
        }
    }

    /// The banner's words, sentence case.
    pub const fn banner(self) -> &'static str {
        match (self.indicator, self.maintenance) {
            (Level::None, false) => "All systems operational",
            (Level::None, true) => "Some systems are under maintenance",
            (Level::Minor, _) => "Minor service outage",
            (Level::Major, _) => "Partial system outage",
            (Level::Critical, _) => "Major service outage",
        }
    }

    /// CSS class of the banner's colour (the component state it corresponds to).
    pub const fn class(self) -> &'static str {
        match (self.indicator, self.maintenance) {
            (Level::None, false) => "operational",
            (Level::None, true) => "under_maintenance",
            (Level::Minor, _) => "degraded_performance",
            (Level::Major, _) => "partial_outage",
            (Level::Critical, _) => "major_outage",
        }
    }
}

/// The page status: the worst of the component statuses and the open public incidents'
/// impacts (an incident that names no component still turns the banner).
pub fn page_status(components: &[ComponentStatus], open_incident_impacts: &[Level]) -> PageStatus {
    let from_components = components.iter().map(|s| Level::of_status(*s)).max().unwrap_or(Level::None);
    let from_incidents = open_incident_impacts.iter().copied().max().unwrap_or(Level::None);
    PageStatus {
        indicator: from_components.max(from_incidents),
        maintenance: components.contains(&ComponentStatus::UnderMaintenance),
    }
}

/// Statuspage's incident status for ours: before anyone has said more, an incident is being
/// investigated. (`postmortem` is part of the value set; we never send it.)
pub const fn public_incident_status(status: IncidentStatus) -> &'static str {
    match status {
        IncidentStatus::Triggered | IncidentStatus::Acknowledged | IncidentStatus::Investigating => {
            "investigating"
        }
        IncidentStatus::Identified => "identified",
        IncidentStatus::Monitoring => "monitoring",
        IncidentStatus::Resolved => "resolved",
    }
}

/// A recorded status change: from `at` on, the component had `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// When the status began.
    pub at: Timestamp,
    /// The status from then on.
    pub status: ComponentStatus,
}

/// One calendar day in the team's time zone: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Day {
    /// The calendar date in the team's zone.
    pub date: jiff::civil::Date,
    /// Its first instant.
    pub start: Timestamp,
    /// The first instant of the next day.
    pub end: Timestamp,
}

/// The last `n` calendar days in `tz`, oldest first, today last. Days are 23 or 25 hours
/// long across DST changes.
pub fn last_days(now: Timestamp, tz: &TimeZone, n: usize) -> Vec<Day> {
    let today = now.to_zoned_datetime(tz.clone()).date();
    let mut days = Vec::with_capacity(n);
    for back in (0..n).rev() {
        let Ok(back) = i64::try_from(back) else { continue };
        let Ok(date) = today.checked_sub(back.days()) else { continue };
        let (Ok(start), Ok(next)) = (date.to_zoned_datetime(tz.clone()), date.tomorrow()) else { continue };
        let Ok(end) = next.to_zoned_datetime(tz.clone()) else { continue };
        days.push(Day { date, start: start.timestamp(), end: end.timestamp() });
    }
    days
}

/// A partial outage counts as this share of downtime, as on Atlassian Statuspage; degraded
/// performance and maintenance count as up.
pub const PARTIAL_OUTAGE_WEIGHT: f64 = 0.3;

/// What one day looked like for one component.
#[derive(Clone, Debug, PartialEq)]
pub struct DayFigure {
    /// The calendar date in the team's zone.
    pub date: jiff::civil::Date,
    /// Seconds of the day covered by recorded history (0: no data, e.g. before the component existed).
    pub covered_seconds: i64,
    /// Seconds in each status, in [`ComponentStatus::ALL`] order.
    pub seconds: [i64; 5],
}

impl DayFigure {
    /// Whether any of the day is covered by recorded history.
    pub fn has_data(&self) -> bool {
        self.covered_seconds > 0
    }

    fn seconds_in(&self, status: ComponentStatus) -> i64 {
        ComponentStatus::ALL.iter().position(|s| *s == status).map(|i| self.seconds[i]).unwrap_or(0)
    }

    /// Downtime in seconds, partial outages weighted.
    pub fn downtime_seconds(&self) -> f64 {
        self.seconds_in(ComponentStatus::MajorOutage) as f64
            + PARTIAL_OUTAGE_WEIGHT * self.seconds_in(ComponentStatus::PartialOutage) as f64
    }

    /// Uptime of the day as a fraction, `None` without data.
    pub fn uptime(&self) -> Option<f64> {
        self.has_data().then(|| 1.0 - self.downtime_seconds() / self.covered_seconds as f64)
    }

    /// The worst status the day saw, `None` without data.
    pub fn worst(&self) -> Option<ComponentStatus> {
        self.has_data().then(|| {
            ComponentStatus::worst(ComponentStatus::ALL.into_iter().filter(|s| self.seconds_in(*s) > 0))
        })
    }

    /// Seconds spent in `status`, for the day's description.
    pub fn seconds_of(&self, status: ComponentStatus) -> i64 {
        self.seconds_in(status)
    }
}

/// Per-day figures of one component from its status changes (sorted by time; the first may
/// lie before the first day, giving the status at its start). Time after `now` is not counted.
pub fn day_figures(changes: &[Change], days: &[Day], now: Timestamp) -> Vec<DayFigure> {
    days.iter()
        .map(|day| {
            let mut seconds = [0i64; 5];
            let end_of_day = day.end.min(now);
            for (i, change) in changes.iter().enumerate() {
                let until = changes.get(i + 1).map(|c| c.at).unwrap_or(now).min(end_of_day);
                let from = change.at.max(day.start);
                if until > from {
                    let span = until.as_second() - from.as_second();
                    if let Some(slot) = ComponentStatus::ALL.iter().position(|s| *s == change.status) {
                        seconds[slot] += span;
                    }
                }
            }
            DayFigure { date: day.date, covered_seconds: seconds.iter().sum(), seconds }
        })
        .collect()
}

/// Uptime over all days with data, as a fraction; `None` when no day has data.
pub fn overall_uptime(figures: &[DayFigure]) -> Option<f64> {
    let covered: i64 = figures.iter().map(|f| f.covered_seconds).sum();
    let down: f64 = figures.iter().map(DayFigure::downtime_seconds).sum();
    (covered > 0).then(|| 1.0 - down / covered as f64)
}

/// "99.95 %": two decimals, rounded down so any downtime never reads as 100 %.
pub fn percent(fraction: f64) -> String {
    let hundredths = (fraction * 10_000.0).floor().clamp(0.0, 10_000.0);
    if hundredths >= 10_000.0 { "100 %".into() } else { format!("{:.2} %", hundredths / 100.0) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn a_component_with_nothing_wrong_is_operational() {
        assert_eq!(component_status(&Signals::default()), ComponentStatus::Operational);
    }

    #[test]
    fn the_worst_open_public_incident_impact_wins() {
        let signals = Signals {
            incident_impacts: vec![Impact::DegradedPerformance, Impact::MajorOutage, Impact::PartialOutage],
            ..Signals::default()
        };
        assert_eq!(component_status(&signals), ComponentStatus::MajorOutage);
    }

    #[test]
    fn a_pinned_status_overrides_every_signal() {
        let pinned = Signals { manual: Some(ComponentStatus::PartialOutage), ..Signals::default() };
        assert_eq!(component_status(&pinned), ComponentStatus::PartialOutage);
        let pinned_better_than_the_incident = Signals {
            manual: Some(ComponentStatus::DegradedPerformance),
            incident_impacts: vec![Impact::MajorOutage],
            ..Signals::default()
        };
        assert_eq!(component_status(&pinned_better_than_the_incident), ComponentStatus::DegradedPerformance);
        let pinned_operational = Signals {
            manual: Some(ComponentStatus::Operational),
            incident_impacts: vec![Impact::DegradedPerformance],
            in_maintenance: true,
            probe: Some(ComponentStatus::MajorOutage),
        };
        assert_eq!(component_status(&pinned_operational), ComponentStatus::Operational);
        let pinned_worse_than_the_signals = Signals {
            manual: Some(ComponentStatus::MajorOutage),
            incident_impacts: vec![Impact::DegradedPerformance],
            ..Signals::default()
        };
        assert_eq!(component_status(&pinned_worse_than_the_signals), ComponentStatus::MajorOutage);
    }

    #[test]
    fn maintenance_shows_unless_something_is_actually_broken() {
        let maintenance = Signals { in_maintenance: true, ..Signals::default() };
        assert_eq!(component_status(&maintenance), ComponentStatus::UnderMaintenance);
        let broken_during_maintenance = Signals {
            in_maintenance: true,
            incident_impacts: vec![Impact::DegradedPerformance],
            ..Signals::default()
        };
        assert_eq!(component_status(&broken_during_maintenance), ComponentStatus::DegradedPerformance);
    }

    #[test]
    fn a_failing_probe_degrades_the_component() {
        let probe = Signals { probe: Some(ComponentStatus::PartialOutage), ..Signals::default() };
        assert_eq!(component_status(&probe), ComponentStatus::PartialOutage);
        let with_incident = Signals {
            probe: Some(ComponentStatus::DegradedPerformance),
            incident_impacts: vec![Impact::MajorOutage],
            ..Signals::default()
        };
        assert_eq!(component_status(&with_incident), ComponentStatus::MajorOutage);
    }

    #[test]
    fn a_down_service_during_maintenance_leaves_the_component_under_maintenance() {
        let planned =
            Signals { probe: Some(ComponentStatus::MajorOutage), in_maintenance: true, ..Signals::default() };
        assert_eq!(component_status(&planned), ComponentStatus::UnderMaintenance);
    }

    #[test]
    fn the_page_indicator_follows_the_worst_component() {
        use ComponentStatus::*;
        assert_eq!(page_status(&[Operational, Operational], &[]).indicator, Level::None);
        assert_eq!(page_status(&[Operational, DegradedPerformance], &[]).indicator, Level::Minor);
        assert_eq!(page_status(&[PartialOutage, DegradedPerformance], &[]).indicator, Level::Major);
        assert_eq!(page_status(&[PartialOutage, MajorOutage], &[]).indicator, Level::Critical);
        assert_eq!(page_status(&[], &[]).description(), "All Systems Operational");
    }

    #[test]
    fn an_open_incident_without_components_still_raises_the_indicator() {
        let status = page_status(&[ComponentStatus::Operational], &[Level::Major]);
        assert_eq!(status.indicator, Level::Major);
        assert_eq!(status.description(), "Partial System Outage");
    }

    #[test]
    fn maintenance_changes_the_words_but_not_the_indicator() {
        let status = page_status(&[ComponentStatus::UnderMaintenance, ComponentStatus::Operational], &[]);
        assert_eq!(status.indicator, Level::None);
        assert_eq!(status.description(), "Service Under Maintenance");
        assert_eq!(status.class(), "under_maintenance");
    }

    #[test]
    fn incident_impact_is_the_worse_of_severity_and_component_impact() {
        assert_eq!(incident_impact(Severity::P3, &[]), Level::Minor);
        assert_eq!(incident_impact(Severity::P0, &[]), Level::Critical);
        assert_eq!(incident_impact(Severity::P1, &[Impact::DegradedPerformance]), Level::Major);
        assert_eq!(incident_impact(Severity::P3, &[Impact::MajorOutage]), Level::Critical);
        assert_eq!(incident_impact(Severity::P2, &[Impact::PartialOutage]), Level::Major);
    }

    #[test]
    fn unacknowledged_incidents_read_as_investigating() {
        assert_eq!(public_incident_status(IncidentStatus::Triggered), "investigating");
        assert_eq!(public_incident_status(IncidentStatus::Acknowledged), "investigating");
        assert_eq!(public_incident_status(IncidentStatus::Monitoring), "monitoring");
        assert_eq!(public_incident_status(IncidentStatus::Resolved), "resolved");
    }

    #[test]
    fn days_follow_the_team_time_zone_including_dst() {
        let berlin = TimeZone::get("Europe/Berlin").expect("zone");
        // 2026-03-29 is the spring-forward day in Europe: 23 hours long.
        let days = last_days(ts("2026-03-30T10:00:00Z"), &berlin, 3);
        assert_eq!(
            days.iter().map(|d| d.date).collect::<Vec<_>>(),
            vec![date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30)]
        );
        assert_eq!(days[1].end.as_second() - days[1].start.as_second(), 23 * 3600);
        assert_eq!(days[0].start, ts("2026-03-27T23:00:00Z"));
        assert_eq!(days[2].start, days[1].end);
    }

    #[test]
    fn uptime_weights_partial_outages_and_ignores_time_without_history() {
        let days = last_days(ts("2026-06-02T12:00:00Z"), &TimeZone::UTC, 3);
        let changes = [
            // Recorded from the middle of the first day on.
            Change { at: ts("2026-05-31T12:00:00Z"), status: ComponentStatus::Operational },
            Change { at: ts("2026-06-01T10:00:00Z"), status: ComponentStatus::MajorOutage },
            Change { at: ts("2026-06-01T11:00:00Z"), status: ComponentStatus::PartialOutage },
            Change { at: ts("2026-06-01T21:00:00Z"), status: ComponentStatus::DegradedPerformance },
            Change { at: ts("2026-06-01T22:00:00Z"), status: ComponentStatus::Operational },
        ];
        let figures = day_figures(&changes, &days, ts("2026-06-02T12:00:00Z"));
        assert_eq!(figures[0].covered_seconds, 12 * 3600, "only the recorded half of the first day counts");
        assert!(figures[0].uptime().is_some_and(|u| (u - 1.0).abs() < 1e-9), "{:?}", figures[0]);
        assert_eq!(figures[0].worst(), Some(ComponentStatus::Operational));
        // 1 h major + 10 h partial at 30 % = 4 h of downtime in 24 h.
        let expected = 1.0 - 4.0 / 24.0;
        assert!((figures[1].uptime().expect("data") - expected).abs() < 1e-9, "{:?}", figures[1]);
        assert_eq!(figures[1].worst(), Some(ComponentStatus::MajorOutage));
        assert_eq!(figures[2].covered_seconds, 12 * 3600, "today counts up to now");
        assert_eq!(percent(figures[1].uptime().expect("data")), "83.33 %");
        let overall = overall_uptime(&figures).expect("data");
        assert!((overall - (1.0 - 4.0 / 48.0)).abs() < 1e-9);
    }

    #[test]
    fn a_day_before_any_history_has_no_data() {
        let days = last_days(ts("2026-06-02T12:00:00Z"), &TimeZone::UTC, 2);
        let changes = [Change { at: ts("2026-06-02T06:00:00Z"), status: ComponentStatus::Operational }];
        let figures = day_figures(&changes, &days, ts("2026-06-02T12:00:00Z"));
        assert!(!figures[0].has_data());
        assert_eq!(figures[0].uptime(), None);
        assert_eq!(figures[0].worst(), None);
        assert_eq!(overall_uptime(&figures[..1]), None);
    }

    #[test]
    fn percentages_never_round_up_to_a_perfect_score() {
        assert_eq!(percent(1.0), "100 %");
        assert_eq!(percent(0.99999), "99.99 %");
        assert_eq!(percent(0.5), "50.00 %");
        assert_eq!(percent(0.0), "0.00 %");
    }

    mod invariants {
        use proptest::prelude::*;

        use super::*;

        fn status() -> impl Strategy<Value = ComponentStatus> {
            prop::sample::select(ComponentStatus::ALL.to_vec())
        }

        proptest! {
            #[test]
            fn a_pin_always_wins(
                pinned in status(),
                probe in prop::option::of(status()),
                in_maintenance in any::<bool>(),
                impacts in prop::collection::vec(prop::sample::select(vec![Impact::DegradedPerformance, Impact::PartialOutage, Impact::MajorOutage]), 0..4),
            ) {
                let signals = Signals { incident_impacts: impacts, manual: Some(pinned), in_maintenance, probe };
                prop_assert_eq!(component_status(&signals), pinned);
            }

            #[test]
            fn a_day_is_never_covered_longer_than_it_lasts_and_uptime_stays_a_fraction(
                offsets in prop::collection::vec((0i64..5 * 86_400, status()), 1..12),
            ) {
                let now = ts("2026-06-05T12:00:00Z");
                let mut changes: Vec<Change> = offsets
                    .into_iter()
                    .map(|(back, status)| Change { at: now - jiff::SignedDuration::from_secs(back), status })
                    .collect();
                changes.sort_by_key(|c| c.at);
                let days = last_days(now, &TimeZone::UTC, 4);
                for (figure, day) in day_figures(&changes, &days, now).iter().zip(&days) {
                    prop_assert!(figure.covered_seconds <= day.end.as_second() - day.start.as_second());
                    prop_assert_eq!(figure.covered_seconds, figure.seconds.iter().sum::<i64>());
                    if let Some(uptime) = figure.uptime() {
                        prop_assert!((0.0..=1.0).contains(&uptime), "{uptime}");
                    }
                }
            }
        }
    }
}
