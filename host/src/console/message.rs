//! A message shown safely: the header section and text parts as escaped text; an HTML part
//! only inside an `<iframe sandbox srcdoc>` (no script, no same-origin, no forms, no
//! navigation of the console), under the page's policy plus its own (`default-src 'none'`,
//! images only from `data:`), so remote images and trackers never load. Attachments are
//! listed, not opened.

use mail_parser::{MessageParser, MimeHeaders, PartType};
use maud::{html, Markup};

/// The bytes parsed for display; a larger message is shown cut at this size.
const MAX_SHOWN: usize = 2 << 20;

/// The policy the message frame adds to the page's own: nothing but inline images.
const FRAME_CSP: &str = "default-src 'none'; img-src data:; style-src 'none'";

/// The header section, text and HTML bodies and attachment list of a message's bytes.
pub fn render(bytes: &[u8]) -> Markup {
    let shown = &bytes[..bytes.len().min(MAX_SHOWN)];
    let (headers, _) = crate::admin::queue::split_headers(shown);
    let parsed = MessageParser::default().parse(shown);
    let subject = parsed
        .as_ref()
        .and_then(|m| m.subject())
        .unwrap_or("(no subject)");
    let text = parsed.as_ref().and_then(|m| {
        m.text_part(0)
            .filter(|p| matches!(p.body, PartType::Text(_)))
            .and_then(|_| m.body_text(0))
    });
    let html = parsed.as_ref().and_then(|m| {
        m.html_part(0)
            .filter(|p| matches!(p.body, PartType::Html(_)))
            .and_then(|_| m.body_html(0))
    });
    let attachments: Vec<(String, String, usize)> = parsed
        .as_ref()
        .map(|m| {
            m.attachments()
                .map(|a| {
                    let kind = a
                        .content_type()
                        .map(|c| match c.subtype() {
                            Some(s) => format!("{}/{s}", c.ctype()),
                            None => c.ctype().to_owned(),
                        })
                        .unwrap_or_default();
                    (
                        a.attachment_name().unwrap_or("(unnamed)").to_owned(),
                        kind,
                        a.len(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    html! {
        section.message {
            h2 { "Subject: " span #subject { (subject) } }
            @if bytes.len() > MAX_SHOWN {
                p.warn { "The message is " (bytes.len()) " bytes; the first " (MAX_SHOWN) " are shown." }
            }
            details open {
                summary { "Header section" }
                pre #headers { (String::from_utf8_lossy(headers)) }
            }
            @if let Some(t) = &text {
                h3 { "Text" }
                pre #body-text { (t) }
            }
            @if let Some(h) = &html {
                h3 { "HTML (sandboxed: no script, no remote content)" }
                iframe #body-html sandbox="" referrerpolicy="no-referrer" loading="lazy"
                    title="The message's HTML, sandboxed"
                    srcdoc=(frame_document(h)) {}
            }
            @if text.is_none() && html.is_none() {
                p { "No text or HTML part." }
            }
            @if !attachments.is_empty() {
                h3 { "Attachments" }
                ul #attachments {
                    @for (name, kind, size) in &attachments {
                        li { (name) " · " (kind) " · " (size) " bytes" }
                    }
                }
            }
        }
    }
}

/// The frame's document: the message's HTML after a policy of its own. maud escapes it
/// once more as the `srcdoc` attribute's value, which the browser undoes before parsing.
fn frame_document(html: &str) -> String {
    format!(
        "<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"{FRAME_CSP}\">{html}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "From: a@example.com\r\nSubject: <script>window.pwned=1</script>\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\n<script>document.title='pwned'</script>\r\n\
        --b\r\nContent-Type: text/html\r\n\r\n<p>hi</p><script>window.pwned=1</script><img src=\"http://tracker.example/x.gif\">\r\n\
        --b--\r\n";

    #[test]
    fn text_is_escaped_and_html_stays_inside_the_sandboxed_frame() {
        let page = render(HOSTILE.as_bytes()).into_string();
        // Outside the frame's attribute, no markup of the message survives.
        let outside = page.replace(
            page.split("srcdoc=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap(),
            "",
        );
        assert!(!outside.contains("<script"), "{page}");
        assert!(!outside.contains("<img"), "{page}");
        assert!(outside.contains("&lt;script&gt;window.pwned=1"), "{page}");
        assert!(page.contains("sandbox=\"\""), "{page}");
        // In the frame, the message's HTML comes after the frame's own policy.
        assert!(
            page.contains("srcdoc=\"&lt;!DOCTYPE html&gt;&lt;meta http-equiv=&quot;Content-Security-Policy&quot;"),
            "{page}"
        );
    }

    #[test]
    fn a_message_that_is_not_mime_still_shows_its_text() {
        let page = render(b"Subject: plain\r\n\r\nhello <b>there</b>\r\n").into_string();
        assert!(page.contains("hello &lt;b&gt;there&lt;/b&gt;"), "{page}");
        assert!(!page.contains("<iframe"), "{page}");
    }
}
