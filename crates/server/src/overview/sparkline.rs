//! The 24-hour sparkline of a service: mean latency per half hour as a line, failed half hours
//! as marks. Pure: buckets in, SVG coordinates out (the template draws them).

use crate::db::probe_results::Bucket;

/// Hours the sparkline covers.
pub(crate) const HOURS: i32 = 24;
/// Seconds per bucket (48 half hours).
pub(crate) const BUCKET_SECONDS: i32 = 1800;
/// Buckets in the sparkline.
pub(crate) const BUCKETS: i32 = HOURS * 3600 / BUCKET_SECONDS;
/// Drawing size in SVG user units (and CSS pixels).
pub(crate) const WIDTH: f64 = 144.0;
pub(crate) const HEIGHT: f64 = 28.0;

/// A failed bucket's mark.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Mark {
    pub x: String,
    pub width: String,
}

/// What the template draws, plus the words screen readers get.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sparkline {
    /// `points` of one polyline per run of buckets with data.
    pub lines: Vec<String>,
    pub failures: Vec<Mark>,
    /// "24 h: 99.8 % of 2,880 checks passed, mean latency 12 ms".
    pub summary: String,
    pub width: f64,
    pub height: f64,
}

fn fmt(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

/// Draws `buckets` (any order, indexes 0 = oldest … [`BUCKETS`] - 1 = current).
pub(crate) fn draw(buckets: &[Bucket]) -> Sparkline {
    let step = WIDTH / f64::from(BUCKETS);
    let mut sorted: Vec<&Bucket> = buckets.iter().filter(|b| (0..BUCKETS).contains(&b.index)).collect();
    sorted.sort_by_key(|b| b.index);
    let max = sorted.iter().filter_map(|b| b.mean_latency_ms).fold(1.0_f64, f64::max);
    let mut lines = vec![];
    let mut current: Vec<String> = vec![];
    let mut previous: Option<i32> = None;
    let mut failures = vec![];
    for b in &sorted {
        if b.failures > 0 {
            failures.push(Mark { x: fmt(f64::from(b.index) * step), width: fmt(step) });
        }
        let Some(mean) = b.mean_latency_ms else { continue };
        if previous.is_some_and(|p| p + 1 != b.index) && !current.is_empty() {
            lines.push(current.join(" "));
            current.clear();
        }
        let x = f64::from(b.index) * step + step / 2.0;
        // 2 units of margin at top and bottom so the stroke stays visible.
        let y = HEIGHT - 2.0 - (mean / max) * (HEIGHT - 4.0);
        current.push(format!("{},{}", fmt(x), fmt(y)));
        previous = Some(b.index);
    }
    if current.len() == 1 {
        // A single point: draw it as a short flat line.
        if let Some((x, y)) = current[0].split_once(',').map(|(x, y)| (x.to_owned(), y.to_owned())) {
            let x1 = x.parse::<f64>().unwrap_or(0.0) + step / 2.0;
            current.push(format!("{},{y}", fmt(x1)));
        }
    }
    if !current.is_empty() {
        lines.push(current.join(" "));
    }
    let checks: i64 = sorted.iter().map(|b| b.checks).sum();
    let failed: i64 = sorted.iter().map(|b| b.failures).sum();
    let weighted: f64 =
        sorted.iter().filter_map(|b| b.mean_latency_ms.map(|m| m * (b.checks - b.failures) as f64)).sum();
    let succeeded = checks - failed;
    let summary = if checks == 0 {
        format!("{HOURS} h: no checks yet")
    } else {
        let share = succeeded as f64 / checks as f64 * 100.0;
        let share = if failed == 0 { "100".to_owned() } else { format!("{share:.1}") };
        let mean = if succeeded > 0 {
            format!(", mean latency {:.0} ms", weighted / succeeded as f64)
        } else {
            String::new()
        };
        format!("{HOURS} h: {share} % of {checks} checks passed{mean}")
    };
    Sparkline { lines, failures, summary, width: WIDTH, height: HEIGHT }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(index: i32, checks: i64, failures: i64, mean: Option<f64>) -> Bucket {
        Bucket { index, checks, failures, mean_latency_ms: mean }
    }

    #[test]
    fn gaps_split_the_line_and_failures_are_marked() {
        let s = draw(&[
            bucket(0, 60, 0, Some(10.0)),
            bucket(1, 60, 0, Some(20.0)),
            bucket(5, 60, 60, None),
            bucket(6, 60, 1, Some(20.0)),
            bucket(7, 60, 0, Some(10.0)),
        ]);
        assert_eq!(s.lines.len(), 2, "{s:?}");
        assert_eq!(s.lines[0], "1.5,14 4.5,2");
        assert_eq!(s.failures.len(), 2);
        assert_eq!(s.failures[0], Mark { x: "15".into(), width: "3".into() });
        assert!(
            s.summary.starts_with("24 h: 79.7 % of 300 checks passed, mean latency 15 ms"),
            "{}",
            s.summary
        );
    }

    #[test]
    fn no_data_says_so_and_one_point_is_still_visible() {
        let empty = draw(&[]);
        assert!(empty.lines.is_empty() && empty.failures.is_empty());
        assert_eq!(empty.summary, "24 h: no checks yet");
        let one = draw(&[bucket(47, 3, 0, Some(5.0))]);
        assert_eq!(one.lines, ["142.5,2 144,2"]);
        assert!(one.summary.starts_with("24 h: 100 % of 3 checks"));
    }
}
