//! The incident history as Atom (RFC 4287) and RSS 2.0 feeds: one entry per public incident,
//! its public updates as the content, the same (at most 50) as `incidents.json`. Maintenance windows join once they exist.

use std::fmt::Write as _;

use jiff::Timestamp;
use time::format_description::well_known::Rfc2822;

use super::cache::Settings;
use super::data::{Incident, StatusData};
use crate::clock::iso;

/// Escapes text for XML, dropping characters XML 1.0 does not allow at all.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn title(incident: &Incident) -> String {
    let status = incident.public_status();
    let mut chars = status.chars();
    let status: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    format!("[{status}] {}", incident.name)
}

/// The entry's HTML: each public update, newest first, with its status and time.
fn content_html(incident: &Incident) -> String {
    let mut html = String::new();
    for update in &incident.updates {
        let status = update.status;
        let _ = write!(
            html,
            "<p><small>{}</small><br><strong>{}</strong></p>{}",
            iso(update.created_at),
            status,
            crate::markdown::to_html(&update.body)
        );
    }
    if html.is_empty() {
        html.push_str("<p>No public updates yet.</p>");
    }
    html
}

fn link(settings: &Settings, incident: &Incident) -> String {
    format!("{}/incidents/{}", settings.base_url, incident.id)
}

fn feed_title(settings: &Settings) -> String {
    format!("{} status: incident history", settings.page_name)
}

/// The Atom feed.
pub(crate) fn atom(settings: &Settings, data: &StatusData) -> String {
    let base = &settings.base_url;
    let mut xml = String::with_capacity(8 * 1024);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"en\">\n");
    let _ = writeln!(xml, "<id>{}</id>", xml_escape(&format!("{base}/history.atom")));
    let _ = writeln!(xml, "<title>{}</title>", xml_escape(&feed_title(settings)));
    let _ = writeln!(
        xml,
        "<link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>",
        xml_escape(&format!("{base}/history.atom"))
    );
    let _ = writeln!(
        xml,
        "<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
        xml_escape(&format!("{base}/history"))
    );
    let _ = writeln!(xml, "<updated>{}</updated>", iso(data.updated_at));
    let _ = writeln!(xml, "<author><name>{}</name></author>", xml_escape(&settings.page_name));
    for incident in super::statuspage_api::listed(data) {
        let href = xml_escape(&link(settings, incident));
        xml.push_str("<entry>\n");
        let _ = writeln!(xml, "<id>{href}</id>");
        let _ = writeln!(xml, "<title type=\"text\">{}</title>", xml_escape(&title(incident)));
        let _ = writeln!(xml, "<link rel=\"alternate\" type=\"text/html\" href=\"{href}\"/>");
        let _ = writeln!(xml, "<published>{}</published>", iso(incident.started_at));
        let _ = writeln!(xml, "<updated>{}</updated>", iso(incident.updated_at));
        let _ = writeln!(xml, "<content type=\"html\">{}</content>", xml_escape(&content_html(incident)));
        xml.push_str("</entry>\n");
    }
    xml.push_str("</feed>\n");
    xml
}

/// RFC 2822 in UTC, as RSS wants it ("Sun, 29 Nov 2026 14:05:00 +0000").
fn rfc2822(at: Timestamp) -> String {
    crate::clock::from_jiff(at).format(&Rfc2822).unwrap_or_default()
}

/// The RSS 2.0 feed.
pub(crate) fn rss(settings: &Settings, data: &StatusData) -> String {
    let base = &settings.base_url;
    let mut xml = String::with_capacity(8 * 1024);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n");
    let _ = writeln!(xml, "<title>{}</title>", xml_escape(&feed_title(settings)));
    let _ = writeln!(xml, "<link>{}</link>", xml_escape(&format!("{base}/")));
    let _ = writeln!(
        xml,
        "<description>{}</description>",
        xml_escape(&format!(
            "Incidents and their public updates from the {} status page",
            settings.page_name
        ))
    );
    xml.push_str("<language>en</language>\n");
    let _ = writeln!(xml, "<lastBuildDate>{}</lastBuildDate>", rfc2822(data.updated_at));
    let _ = writeln!(
        xml,
        "<atom:link href=\"{}\" rel=\"self\" type=\"application/rss+xml\"/>",
        xml_escape(&format!("{base}/history.rss"))
    );
    for incident in super::statuspage_api::listed(data) {
        let href = xml_escape(&link(settings, incident));
        xml.push_str("<item>\n");
        let _ = writeln!(xml, "<title>{}</title>", xml_escape(&title(incident)));
        let _ = writeln!(xml, "<link>{href}</link>");
        let _ = writeln!(xml, "<guid isPermaLink=\"true\">{href}</guid>");
        let _ = writeln!(xml, "<pubDate>{}</pubDate>", rfc2822(incident.started_at));
        let _ = writeln!(xml, "<description>{}</description>", xml_escape(&content_html(incident)));
        xml.push_str("</item>\n");
    }
    xml.push_str("</channel>\n</rss>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escaping_covers_markup_and_drops_forbidden_characters() {
        assert_eq!(xml_escape("a<b>&\"c'\u{1}\td"), "a&lt;b&gt;&amp;&quot;c&apos;\td");
    }
}
