//! One pass over an HTML body's tags: what the features need of the markup (images and
//! tracking pixels, button-styled links, struck-out prices, hidden preheaders) and the text a
//! reader sees. A scan of
//! `<…>` spans, not a parser: mail HTML is too often broken for anything stricter to pay.

use crate::substring::{contains, contains_any, find};

/// What the markup holds.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Markup {
    /// Images that are not tracking pixels.
    pub images: usize,
    /// Of those, images 200 pixels wide or more: product shots, banners, heroes (not
    /// avatars, icons or logos).
    pub large_images: usize,
    /// 1×1 or hidden images, or images from an open-tracking URL.
    pub pixels: usize,
    /// Links drawn as buttons: a background colour with padding, a button class, or a link
    /// alone in a coloured table cell.
    pub buttons: usize,
    /// `<s>`, `<del>`, `<strike>` or `line-through`: a crossed-out (old) price.
    pub strikethrough: bool,
    /// A hidden block of text (`display:none` on a div, span or p): a preheader.
    pub hidden_text: bool,
    /// The text between the tags, outside `<head>`, `<style>` and `<script>`, with `&nbsp;`
    /// and `&amp;` read: what a reader sees, when the text part is only a stub of it.
    pub text: String,
}

/// Scans `html` (any case) once.
pub fn scan(html: &str) -> Markup {
    let mut m = Markup::default();
    let bytes = html.as_bytes();
    let mut i = 0;
    // A `<td>` with a background colour whose next tag is an `<a>`: a table-drawn button.
    let mut coloured_cell = false;
    // Inside `<head>`, `<style>` or `<script>`: no visible text.
    let mut invisible = false;
    while let Some(open) = memchr(b'<', &bytes[i..]) {
        if !invisible {
            visible(&html[i..i + open], &mut m.text);
        }
        let start = i + open + 1;
        let end = memchr(b'>', &bytes[start..]).map_or(bytes.len(), |e| start + e);
        let tag = &html[start..end];
        i = end;
        // `/td` for a closing tag; `br` for `<br/>`.
        let name_end = tag
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c.is_ascii_whitespace() || c == '/')
            .map_or(tag.len(), |(at, _)| at);
        let name = tag[..name_end].to_ascii_lowercase();
        let attrs = tag[name_end..].to_ascii_lowercase();
        let style = attribute(&attrs, "style")
            .unwrap_or_default()
            .replace(' ', "");
        if contains(&style, "line-through") {
            m.strikethrough = true;
        }
        match name.as_str() {
            "head" | "style" | "script" => invisible = true,
            "/head" | "/style" | "/script" => invisible = false,
            "img" => {
                if is_pixel(&attrs, &style) {
                    m.pixels += 1;
                } else {
                    m.images += 1;
                    let width = attribute(&attrs, "width")
                        .and_then(|w| w.trim_end_matches("px").trim().parse::<u32>().ok());
                    if width.is_some_and(|w| w >= 200) {
                        m.large_images += 1;
                    }
                }
            }
            "a" => {
                let class = attribute(&attrs, "class").unwrap_or_default();
                let styled = (contains(&style, "background") && contains(&style, "padding"))
                    || (contains(&style, "background") && contains(&style, "display:inline-block"));
                if styled || coloured_cell || contains_any(&class, &["btn", "button", "cta"]) {
                    m.buttons += 1;
                }
            }
            "s" | "del" | "strike" => m.strikethrough = true,
            "div" | "span" | "p" if contains(&style, "display:none") => m.hidden_text = true,
            _ => {}
        }
        coloured_cell =
            name == "td" && (contains(&attrs, "bgcolor") || contains(&style, "background"));
    }
    if !invisible && i < bytes.len() {
        visible(&html[i..], &mut m.text);
    }
    m
}

/// Appends the text between two tags (`>` included at its start) to `out`, spaced.
fn visible(between: &str, out: &mut String) {
    let text = between.strip_prefix('>').unwrap_or(between).trim();
    if text.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push(' ');
    }
    if text.contains('&') {
        out.push_str(&text.replace("&nbsp;", " ").replace("&amp;", "&"));
    } else {
        out.push_str(text);
    }
}

/// An image that exists only to report an open: 1×1, hidden, or from an open-tracking path.
fn is_pixel(attrs: &str, style: &str) -> bool {
    let dim = |name: &str| {
        attribute(attrs, name)
            .map(|v| v.trim_end_matches("px").trim().to_owned())
            .filter(|v| v == "0" || v == "1")
            .is_some()
    };
    let src = attribute(attrs, "src").unwrap_or_default();
    (dim("width") && dim("height"))
        || contains(style, "display:none")
        || (contains(style, "width:1px") && contains(style, "height:1px"))
        || contains_any(
            &src,
            &[
                "/open", "/track", "pixel", "beacon", "/o/", "/wf/", "open.php", "/e2t/",
            ],
        )
}

/// The value of attribute `name` in a lower-cased attribute list, quoted or not.
fn attribute(attrs: &str, name: &str) -> Option<String> {
    let mut from = 0;
    while let Some(at) = find(&attrs[from..], name).map(|p| p + from) {
        from = at + name.len();
        let before_ok = at == 0 || attrs.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = attrs[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let rest = rest[1..].trim_start();
        return Some(match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or("").to_owned(),
            _ => rest
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .unwrap_or("")
                .to_owned(),
        });
    }
    None
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_images_buttons_and_prices() {
        let m = scan(concat!(
            r#"<div style="display:none;max-height:0">Preheader</div>"#,
            r#"<IMG SRC="https://x.test/logo.png" width=140><img src="https://t.test/o/abc.gif" width="1" height="1">"#,
            r#"<img src="https://x.test/a.png" style="display: none">"#,
            r#"<a href="https://x.test/1" style="background-color:#111;color:#fff;padding:12px 28px">Buy</a>"#,
            r##"<td bgcolor="#e4572e"><a href="https://x.test/2">Go</a></td>"##,
            r#"<a class="btn btn-primary" href="https://x.test/3">Go</a><a href="https://x.test/4">plain</a>"#,
            r#"<s style="color:#999">40,00 €</s>"#,
        ));
        assert_eq!(
            m,
            Markup {
                images: 1,
                large_images: 0,
                pixels: 2,
                buttons: 3,
                strikethrough: true,
                hidden_text: true,
                text: "Preheader Buy Go Go plain 40,00 €".into(),
            }
        );
        // Not a parser: a stray `<` starts a tag.
        assert_eq!(
            scan("no tags at all < 3 > 2"),
            Markup {
                text: "no tags at all 2".into(),
                ..Markup::default()
            }
        );
        assert_eq!(
            scan("<html><head><title>T</title><style>p{x:1}</style></head><body><p>50&nbsp;% off</p>Shoes &amp; bags<script>x()</script></body>").text,
            "50 % off Shoes & bags"
        );
        assert_eq!(scan("<img src=x").images, 1, "an unclosed tag still counts");
        let big = scan(
            r#"<img src="hero.jpg" width="600"><img src="p.jpg" width=260px><img src="a.png" width="48">"#,
        );
        assert_eq!((big.images, big.large_images), (3, 2));
    }

    #[test]
    fn attributes_quoted_or_not() {
        assert_eq!(
            attribute(r#" src="a b" width=1"#, "src").as_deref(),
            Some("a b")
        );
        assert_eq!(
            attribute(" data-width=5 width=1", "width").as_deref(),
            Some("1")
        );
        assert_eq!(attribute(" width = '1'", "width").as_deref(), Some("1"));
        assert_eq!(attribute(" height=1", "width"), None);
    }
}
