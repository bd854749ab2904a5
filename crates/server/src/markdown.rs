//! Markdown for notes and public updates, rendered safely: raw HTML is shown as text, links
//! keep only http(s) and mailto targets, images become their alt text.

use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd, html};

/// Safe HTML for `source`. The only HTML that templates insert unescaped comes from here.
pub fn to_html(source: &str) -> String {
    let options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS;
    let mut in_image = 0usize;
    let events = Parser::new_ext(source, options).filter_map(|event| match event {
        // Raw HTML is shown, never interpreted.
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            let dest_url =
                if allowed_url(&dest_url) { dest_url } else { CowStr::Borrowed("#unsafe-link-removed") };
            let link_type = if link_type == LinkType::Email { LinkType::Email } else { link_type };
            Some(Event::Start(Tag::Link { link_type, dest_url, title, id }))
        }
        // Images would load from anywhere; keep their description only.
        Event::Start(Tag::Image { .. }) => {
            in_image += 1;
            None
        }
        Event::End(TagEnd::Image) => {
            in_image = in_image.saturating_sub(1);
            None
        }
        other => Some(other),
    });
    let _ = in_image;
    let mut out = String::with_capacity(source.len() + source.len() / 4);
    html::push_html(&mut out, events);
    out
}

fn allowed_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("mailto:")
        || lower.starts_with('/')
        || lower.starts_with('#')
}

/// Markdown as plain text for feeds and messages (no markup at all).
pub fn to_text(source: &str) -> String {
    let mut out = String::new();
    for event in Parser::new(source) {
        match event {
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => out.push_str(&t),
            Event::SoftBreak
            | Event::HardBreak
            | Event::End(TagEnd::Paragraph)
            | Event::End(TagEnd::Item) => out.push('\n'),
            _ => {}
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_renders() {
        let html = to_html("**Database** failover in `eu-1`\n\n- step one\n- step two");
        assert!(
            html.contains("<strong>Database</strong>")
                && html.contains("<code>eu-1</code>")
                && html.contains("<li>step one</li>"),
            "{html}"
        );
    }

    #[test]
    fn raw_html_and_scripts_are_escaped() {
        let html = to_html("<script>alert(1)</script> and <img src=x onerror=alert(1)>");
        assert!(!html.contains("<script>") && !html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn javascript_links_are_removed() {
        let html = to_html(
            "[click](javascript:alert(1)) [data](data:text/html,x) [ok](https://grafana.twisterlab.local/d/x)",
        );
        assert!(!html.to_lowercase().contains("javascript:") && !html.contains("data:text"), "{html}");
        assert!(html.contains("href=\"https://grafana.twisterlab.local/d/x\""), "{html}");
    }

    #[test]
    fn attribute_injection_in_links_is_escaped() {
        let html = to_html("[x](https://a.example/\"onmouseover=\"alert(1))");
        assert!(!html.contains("\"onmouseover"), "{html}");
    }

    #[test]
    fn images_keep_only_their_description() {
        let html = to_html("![status graph](https://evil.example/pixel.png)");
        assert!(!html.contains("<img") && html.contains("status graph"), "{html}");
    }

    #[test]
    fn plain_text_drops_markup() {
        assert_eq!(to_text("**Investigating** the <b>API</b>"), "Investigating the <b>API</b>");
    }
}
