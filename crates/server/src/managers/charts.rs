//! Server-rendered SVG bar charts for the report's trends: no JavaScript, an accessible
//! `<title>` and `<desc>`, every text escaped. The page puts the same figures in a table beside.

use std::fmt::Write as _;

/// One bar: its period label and value (`None`: no figure, drawn as a gap).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Bar {
    pub label: String,
    pub value: Option<f64>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 40.0;
const TOP: f64 = 16.0;

/// XML-escapes text for an element or an attribute.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A bar chart titled `title` with the values in `unit`, as an `<svg>` element whose id is `id`.
pub(crate) fn bars(id: &str, title: &str, unit: &str, bars: &[Bar]) -> String {
    let max = bars.iter().filter_map(|b| b.value).fold(0.0_f64, f64::max);
    let scale_max = if max > 0.0 { max } else { 1.0 };
    let plot_h = HEIGHT - TOP - BOTTOM;
    #[allow(clippy::cast_precision_loss)] // at most a dozen bars
    let slot = (WIDTH - LEFT) / bars.len().max(1) as f64;
    let id = escape(id);
    let described: Vec<String> = bars
        .iter()
        .map(|b| match b.value {
            Some(v) => format!("{}: {v:.1}", b.label),
            None => format!("{}: no figure", b.label),
        })
        .collect();
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="{id}" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" aria-labelledby="{id}-title {id}-desc"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(title),
        escape(&format!("{unit} per period: {}", described.join("; ")))
    );
    let base = HEIGHT - BOTTOM;
    let _ = write!(
        svg,
        r#"<line x1="{LEFT}" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="currentColor" stroke-width="1"/><text x="{}" y="{}" font-size="10" text-anchor="end" fill="currentColor">{}</text><text x="{}" y="{base}" font-size="10" text-anchor="end" fill="currentColor">0</text>"#,
        LEFT - 4.0,
        TOP + 4.0,
        escape(&format!("{max:.1} {unit}")),
        LEFT - 4.0
    );
    for (i, b) in bars.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x = LEFT + slot * i as f64 + slot * 0.15;
        let w = slot * 0.7;
        if let Some(v) = b.value {
            let h = (v / scale_max * plot_h).max(0.0);
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="{h:.1}" fill="currentColor" opacity="0.7"><title>{}</title></rect>"#,
                base - h,
                escape(&format!("{}: {v:.1} {unit}", b.label))
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle" fill="currentColor">{}</text>"#,
            x + w / 2.0,
            base + 14.0,
            escape(&b.label)
        );
    }
    svg.push_str("</svg>");
    svg
}
