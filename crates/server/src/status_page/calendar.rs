//! `/maintenance.ics`: the announced maintenance windows as an iCalendar feed (RFC 5545) that
//! calendar programs subscribe to. One `VEVENT` per window that is upcoming, in progress or
//! ended within [`RECENT_DAYS`]; a cancelled window stays listed as `STATUS:CANCELLED`, so
//! calendars that imported it withdraw it. Times are UTC; lines end in CRLF and are folded at
//! 75 octets without splitting a character.

use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};
use twisterlab_domain::maintenance::WindowState;

use super::cache::Settings;
use super::data::{Maintenance, StatusData};

/// Ended windows stay in the feed this many days.
pub(crate) const RECENT_DAYS: i64 = 90;

/// The longest line before folding, in octets (RFC 5545 §3.1).
const FOLD_AT: usize = 75;

/// `20261205T060000Z`.
fn utc(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes a TEXT value (RFC 5545 §3.3.11).
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded at [`FOLD_AT`] octets, each piece ending in CRLF.
fn push_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > FOLD_AT {
            out.push_str("\r\n ");
            // The continuation's leading space counts towards its 75 octets.
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// Whether the feed lists `m` at `now`.
fn listed(m: &Maintenance, now: Timestamp) -> bool {
    let cutoff = now - SignedDuration::from_hours(24 * RECENT_DAYS);
    !m.state.is_finished() || m.ended_at.unwrap_or(m.scheduled_until) >= cutoff
}

fn event(out: &mut String, settings: &Settings, data: &StatusData, m: &Maintenance) {
    let components: Vec<&str> =
        m.components.iter().filter_map(|id| data.component(*id)).map(|c| c.name.as_str()).collect();
    let status_words = match m.status {
        Some(status) => status.label(),
        None => "Cancelled",
    };
    let mut description = crate::markdown::to_text(&m.description).trim().to_owned();
    if !description.is_empty() {
        description.push_str("\n\n");
    }
    let _ = write!(description, "Status: {status_words}.");
    if !components.is_empty() {
        let _ = write!(description, "\nAffected: {}.", components.join(", "));
    }
    if let Some(latest) = m.updates.first() {
        let _ = write!(description, "\nLatest update: {}", crate::markdown::to_text(&latest.body).trim());
    }
    push_line(out, "BEGIN:VEVENT");
    push_line(out, &format!("UID:{}@{}", m.id, settings.host));
    push_line(out, &format!("DTSTAMP:{}", utc(m.updated_at)));
    push_line(out, &format!("LAST-MODIFIED:{}", utc(m.updated_at)));
    push_line(out, &format!("CREATED:{}", utc(m.created_at)));
    push_line(out, &format!("SEQUENCE:{}", m.version.max(0)));
    push_line(out, &format!("DTSTART:{}", utc(m.scheduled_for)));
    push_line(out, &format!("DTEND:{}", utc(m.scheduled_until)));
    push_line(out, &format!("SUMMARY:{}", text(&format!("Maintenance: {}", m.name))));
    push_line(out, &format!("DESCRIPTION:{}", text(&description)));
    if !components.is_empty() {
        push_line(out, &format!("LOCATION:{}", text(&components.join(", "))));
    }
    let status = if m.state == WindowState::Cancelled { "CANCELLED" } else { "CONFIRMED" };
    push_line(out, &format!("STATUS:{status}"));
    if m.status.is_some() {
        push_line(out, &format!("URL:{}/incidents/{}", settings.base_url, m.id));
    }
    push_line(out, "TRANSP:TRANSPARENT");
    push_line(out, "CATEGORIES:MAINTENANCE");
    push_line(out, "END:VEVENT");
}

/// The feed at `now`.
pub(crate) fn ics(settings: &Settings, data: &StatusData, now: Timestamp) -> String {
    let mut out = String::with_capacity(1024 + data.maintenances.len() * 600);
    push_line(&mut out, "BEGIN:VCALENDAR");
    push_line(&mut out, "VERSION:2.0");
    push_line(&mut out, "PRODID:-//TwisterLab//Ops Portal maintenance//EN");
    push_line(&mut out, "CALSCALE:GREGORIAN");
    push_line(&mut out, "METHOD:PUBLISH");
    push_line(&mut out, &format!("NAME:{}", text(&format!("{} maintenance", settings.page_name))));
    push_line(&mut out, &format!("X-WR-CALNAME:{}", text(&format!("{} maintenance", settings.page_name))));
    push_line(&mut out, "REFRESH-INTERVAL;VALUE=DURATION:PT15M");
    push_line(&mut out, "X-PUBLISHED-TTL:PT15M");
    for m in data.maintenances.iter().filter(|m| listed(m, now)) {
        event(&mut out, settings, data, m);
    }
    push_line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_a_character() {
        let mut out = String::new();
        let line = format!("SUMMARY:{}", "é".repeat(60));
        push_line(&mut out, &line);
        for piece in out.split("\r\n").filter(|p| !p.is_empty()) {
            assert!(piece.len() <= FOLD_AT, "{} octets: {piece:?}", piece.len());
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded, format!("{line}\r\n"));
    }

    #[test]
    fn text_values_escape_the_separators() {
        assert_eq!(text("a, b; c\\d\nnext"), "a\\, b\\; c\\\\d\\nnext");
    }
}
