//! A key metric's trend chart (the runbook's "resource usage trends"): its stored reads over a
//! window as a line, unknown reads as gaps, and the threshold as a dashed line. Pure: reads in,
//! SVG coordinates out (the template draws them, server-side, no JavaScript).

use jiff::{SignedDuration, Timestamp};
use twisterlab_domain::health::Unit;

use crate::db::metric_signals::StoredReading;

/// Drawing size in SVG user units (and CSS pixels).
pub(crate) const WIDTH: f64 = 600.0;
pub(crate) const HEIGHT: f64 = 120.0;
/// Margin at top and bottom so strokes stay visible.
const MARGIN: f64 = 4.0;

/// What the template draws, and the words screen readers get.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Trend {
    /// "24 h", "7 days".
    pub window: &'static str,
    /// `points` of one polyline per run of reads with a value.
    pub lines: Vec<String>,
    /// The threshold's height.
    pub threshold_y: String,
    /// "24 h: 1,440 reads, 12.0 % to 91.0 %, threshold < 80.0 %".
    pub summary: String,
    pub width: f64,
    pub height: f64,
}

fn fmt(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

/// Draws `reads` (oldest first) over `window` ending at `now`, scaled so the threshold and
/// every value fit. A read without a value (unknown) breaks the line.
pub(crate) fn draw(
    reads: &[StoredReading],
    window: SignedDuration,
    label: &'static str,
    threshold: f64,
    unit: Unit,
    now: Timestamp,
) -> Trend {
    let start = now - window;
    let shown: Vec<&StoredReading> =
        reads.iter().filter(|r| r.read_at >= start && r.read_at <= now).collect();
    let values: Vec<f64> = shown.iter().filter_map(|r| r.value).filter(|v| v.is_finite()).collect();
    let max = values.iter().copied().fold(threshold, f64::max);
    let min = values.iter().copied().fold(threshold.min(0.0), f64::min);
    let span = if max - min > f64::EPSILON { max - min } else { 1.0 };
    let y_of = |v: f64| HEIGHT - MARGIN - (v - min) / span * (HEIGHT - 2.0 * MARGIN);
    let total = window.as_secs_f64().max(1.0);
    let x_of = |t: Timestamp| t.duration_since(start).as_secs_f64() / total * WIDTH;
    let mut lines = vec![];
    let mut current: Vec<String> = vec![];
    for r in &shown {
        match r.value.filter(|v| v.is_finite()) {
            Some(v) => current.push(format!("{},{}", fmt(x_of(r.read_at)), fmt(y_of(v)))),
            None => {
                if !current.is_empty() {
                    lines.push(std::mem::take(&mut current).join(" "));
                }
            }
        }
    }
    if current.len() == 1 {
        // A single point: a short flat line, so it shows.
        let point = current[0].clone();
        if let Some((x, y)) = point.split_once(',') {
            let x = x.parse::<f64>().unwrap_or(0.0);
            current.insert(0, format!("{},{y}", fmt((x - 2.0).max(0.0))));
        }
    }
    if !current.is_empty() {
        lines.push(current.join(" "));
    }
    let summary = if values.is_empty() {
        format!("{label}: no readings with a value")
    } else {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!(
            "{label}: {} reads, {} to {}, threshold {}",
            shown.len(),
            unit.format(lo),
            unit.format(hi),
            unit.format(threshold)
        )
    };
    Trend { window: label, lines, threshold_y: fmt(y_of(threshold)), summary, width: WIDTH, height: HEIGHT }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(now: Timestamp, mins_ago: i64, value: Option<f64>) -> StoredReading {
        StoredReading { read_at: now - SignedDuration::from_mins(mins_ago), value, threshold: 0.8 }
    }

    #[test]
    fn unknown_reads_break_the_line_and_the_threshold_is_drawn() {
        let now: Timestamp = "2026-06-01T12:00:00Z".parse().expect("ts");
        let reads = [
            read(now, 60 * 30, Some(0.1)), // outside the window
            read(now, 120, Some(0.0)),
            read(now, 60, Some(0.4)),
            read(now, 30, None),
            read(now, 0, Some(0.8)),
        ];
        let t = draw(&reads, SignedDuration::from_hours(24), "24 h", 0.8, Unit::Ratio, now);
        assert_eq!(t.lines.len(), 2, "{t:?}");
        assert_eq!(t.lines[0], "550,116 575,60");
        assert_eq!(t.lines[1], "598,4 600,4");
        assert_eq!(t.threshold_y, "4");
        assert_eq!(t.summary, "24 h: 4 reads, 0.0 % to 80.0 %, threshold 80.0 %");
    }

    #[test]
    fn no_reads_say_so() {
        let now = Timestamp::now();
        let t = draw(&[], SignedDuration::from_hours(24 * 7), "7 days", 0.5, Unit::Seconds, now);
        assert!(t.lines.is_empty());
        assert_eq!(t.summary, "7 days: no readings with a value");
    }
}
