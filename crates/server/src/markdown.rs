//! Project guidelines are Markdown written by admins and read by everyone;
//! they are rendered so that nothing in them can run: raw HTML is shown as
//! text, links go only to http(s), mailto or this site, and images become
//! their alt text (nothing is loaded from elsewhere).

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd, html};

/// Renders `source` to HTML that is safe to insert into a page.
pub fn render(source: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    // For each open link: whether it was dropped (so its end is dropped too).
    let mut open_links: Vec<bool> = Vec::new();
    let events = Parser::new_ext(source, options).filter_map(|event| match event {
        // The renderer escapes Text, so raw HTML shows literally.
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        // Dropping an image's start and end leaves its alt text.
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let safe = is_safe_url(&dest_url);
            open_links.push(!safe);
            safe.then_some(Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }))
        }
        Event::End(TagEnd::Link) => {
            (!open_links.pop().unwrap_or(false)).then_some(Event::End(TagEnd::Link))
        }
        other => Some(other),
    });
    let mut out = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

/// http, https and mailto links, and links within this site.
fn is_safe_url(url: &str) -> bool {
    // Browsers ignore whitespace and control characters inside a scheme.
    let cleaned: String = url
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect();
    match cleaned.to_ascii_lowercase().split_once(':') {
        // A colon after a slash, ? or # belongs to a path, not a scheme.
        Some((scheme, _)) if !scheme.contains(['/', '?', '#']) => {
            matches!(scheme, "http" | "https" | "mailto")
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_ordinary_markdown() {
        let html = render(
            "# Guide\n\n**Unsafe** means *harmful*.\n\n- one\n- two\n\n[help](https://example.org/x)",
        );
        assert!(html.contains("<h1>Guide</h1>"), "{html}");
        assert!(html.contains("<strong>Unsafe</strong>"), "{html}");
        assert!(html.contains("<li>one</li>"), "{html}");
        assert!(
            html.contains("<a href=\"https://example.org/x\">help</a>"),
            "{html}"
        );
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        let html = render("<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)> there");
        assert!(
            !html.contains("<script") && !html.contains("<img"),
            "{html}"
        );
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
    }

    #[test]
    fn dangerous_links_lose_their_link_but_keep_their_text() {
        for url in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,x",
            "vbscript:x",
        ] {
            let html = render(&format!("[click]({url})"));
            assert!(!html.contains("<a"), "{url}: {html}");
            assert!(html.contains("click"), "{url}: {html}");
        }
        let reference = render("[click][x]\n\n[x]: javascript:alert(1)");
        assert!(!reference.contains("<a"), "{reference}");
        let autolink = render("<javascript:alert(1)>");
        assert!(!autolink.contains("href=\"javascript"), "{autolink}");
    }

    #[test]
    fn local_and_mail_links_stay() {
        assert!(render("[g](/guide#severity)").contains("href=\"/guide#severity\""));
        assert!(
            render("[m](mailto:lead@example.org)").contains("href=\"mailto:lead@example.org\"")
        );
        assert!(render("[q](/x?a=b:c)").contains("href=\"/x?a=b:c\""));
    }

    #[test]
    fn images_become_their_alt_text() {
        let html = render("![a cat](https://example.org/cat.png)");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("a cat"), "{html}");
    }
}
