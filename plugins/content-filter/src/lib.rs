//! content-filter: rules on what a message carries — blocked link domains and patterns (text
//! and HTML bodies, hrefs included), dangerous attachments (by extension, and executables
//! disguised under another name or type), phishing signals (link text naming one domain while
//! the href goes to another; look-alikes of protected brand domains), and caps on size and
//! recipients. Each rule names itself in the reply and the log. With `mode = "score"` nothing
//! is refused: the findings go into an `X-Content-Filter` header and a tag instead.
use sluice_sdk::prelude::*;

const DEFAULT_DANGEROUS: &str =
    "exe,scr,com,pif,bat,cmd,js,jse,vbs,vbe,wsf,hta,jar,ps1,msi,lnk,iso,img,dll,cpl";

/// A comma-separated list, lower-cased, leading dots dropped (".exe" is "exe").
fn list(config: &Config, key: &str, default: &str) -> Vec<String> {
    config
        .list_or(key, default)
        .iter()
        .map(|s| s.trim_start_matches('.').to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A cap: a whole number; absent or 0 leaves it off.
fn cap(config: &Config, key: &str) -> Result<Option<u64>, ConfigError> {
    Ok(config.parse::<u64>(key)?.filter(|&n| n > 0))
}

/// The host of a URL, lower-cased, without port or credentials.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map(|(_, r)| r)?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?.split(':').next()?;
    (!host.is_empty()).then(|| host.trim_end_matches('.').to_ascii_lowercase())
}

fn within(host: &str, domain: &str) -> bool {
    host == domain || host.strip_suffix(domain).is_some_and(|p| p.ends_with('.'))
}

/// The registrable-looking tail of a host: its last two labels.
fn base_domain(host: &str) -> String {
    let labels: Vec<&str> = host.split('.').collect();
    labels[labels.len().saturating_sub(2)..].join(".")
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Undoes the usual visual tricks: digits for letters, "rn" for "m", "vv" for "w".
fn unconfuse(s: &str) -> String {
    s.replace("rn", "m")
        .replace("vv", "w")
        .replace('0', "o")
        .replace('1', "l")
        .replace('3', "e")
        .replace('5', "s")
}

fn lookalike(host: &str, protected: &str) -> bool {
    if within(host, protected) {
        return false;
    }
    let base = base_domain(host);
    let (b, p) = (
        base.split('.').next().unwrap_or_default(),
        protected.split('.').next().unwrap_or_default(),
    );
    unconfuse(&base) == unconfuse(protected)
        || (p.len() >= 5 && levenshtein(b, p) <= 1 && b != p)
        || (host.contains(p) && p.len() >= 5)
}

/// (href, visible text) of every `<a href>` in an HTML body.
fn anchors(html: &str) -> Vec<(String, String)> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<a ").map(|i| i + at) {
        let Some(tag_end) = lower[start..].find('>').map(|i| i + start) else {
            break;
        };
        let tag = &html[start..tag_end];
        let href = tag.to_ascii_lowercase().find("href=").map(|i| {
            tag[i + 5..]
                .trim_start_matches(['"', '\''])
                .split(['"', '\'', ' ', '>'])
                .next()
                .unwrap_or_default()
                .to_owned()
        });
        let close = lower[tag_end..]
            .find("</a>")
            .map_or(html.len(), |i| i + tag_end);
        let mut text = String::new();
        let mut in_tag = false;
        for c in html[tag_end + 1..close.max(tag_end + 1)].chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                _ if !in_tag => text.push(c),
                _ => {}
            }
        }
        if let Some(h) = href {
            out.push((h, text.trim().to_owned()));
        }
        at = close;
    }
    out
}

/// A domain that link text shows, if the text looks like one ("www.bank.com", "https://…").
fn shown_domain(text: &str) -> Option<String> {
    let t = text.trim().to_ascii_lowercase();
    if t.contains(' ') || !t.contains('.') {
        return None;
    }
    let with_scheme = if t.contains("://") {
        t
    } else {
        format!("http://{t}")
    };
    host_of(&with_scheme).filter(|h| {
        h.split('.').count() >= 2
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    })
}

struct ContentFilter {
    max_size: Option<u64>,
    max_recipients: Option<u64>,
    blocked_domains: Vec<String>,
    patterns: Vec<String>,
    protected: Vec<String>,
    dangerous: Vec<String>,
    score_only: bool,
}

/// Every finding: (rule, what it found).
fn findings(
    filter: &ContentFilter,
    session: &Session,
    message: &Message,
) -> Vec<(&'static str, String)> {
    let ContentFilter {
        max_size,
        max_recipients,
        blocked_domains,
        patterns,
        protected,
        dangerous,
        ..
    } = filter;
    let mut found = Vec::new();
    if let Some(max) = *max_size {
        if message.raw_size() > max {
            found.push((
                "max-size",
                format!("message of {} bytes is over {max}", message.raw_size()),
            ));
        }
    }
    if let Some(max) = *max_recipients {
        if u64::from(session.rcpt_count()) > max {
            found.push((
                "max-recipients",
                format!("{} recipients is over {max}", session.rcpt_count()),
            ));
        }
    }
    for link in message.links() {
        let Some(host) = host_of(&link) else { continue };
        if let Some(d) = blocked_domains.iter().find(|d| within(&host, d)) {
            found.push(("blocked-link", format!("link to {d}")));
        }
        let lower = link.to_ascii_lowercase();
        if let Some(p) = patterns.iter().find(|p| lower.contains(p.as_str())) {
            found.push(("blocked-link-pattern", format!("link matching {p:?}")));
        }
        if let Some(p) = protected.iter().find(|p| lookalike(&host, p)) {
            found.push(("lookalike-domain", format!("{host} imitates {p}")));
        }
    }
    if let Some(html) = message.html_body() {
        for (href, text) in anchors(&html) {
            if let (Some(shown), Some(real)) = (shown_domain(&text), host_of(&href)) {
                if base_domain(&shown) != base_domain(&real) {
                    found.push((
                        "link-text-mismatch",
                        format!("link shows {shown} but goes to {real}"),
                    ));
                }
            }
        }
    }
    for a in message.attachments() {
        let name = a.name.clone().unwrap_or_default().to_ascii_lowercase();
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_owned())
            .unwrap_or_default();
        let executable = a.head.starts_with(b"MZ") || a.head.starts_with(b"\x7fELF");
        if dangerous.contains(&ext) {
            found.push(("dangerous-attachment", format!("attachment {name:?}")));
        } else if executable {
            found.push((
                "disguised-executable",
                format!("attachment {name:?} ({}) is an executable", a.content_type),
            ));
        } else if (a.content_type == "application/pdf" || ext == "pdf")
            && !a.head.starts_with(b"%PDF")
        {
            found.push((
                "type-mismatch",
                format!("attachment {name:?} claims to be a PDF but is not"),
            ));
        }
    }
    found
}

#[plugin]
impl Plugin for ContentFilter {
    fn init(config: &Config) -> Result<Self, ConfigError> {
        Ok(ContentFilter {
            max_size: cap(config, "max_size")?,
            max_recipients: cap(config, "max_recipients")?,
            blocked_domains: list(config, "blocked_link_domains", ""),
            patterns: list(config, "blocked_link_patterns", ""),
            protected: list(config, "protected_domains", ""),
            dangerous: list(config, "dangerous_extensions", DEFAULT_DANGEROUS),
            score_only: config.one_of("mode", &["reject", "score"])? == Some("score"),
        })
    }

    fn on_data(&self, session: &Session, message: &Message) -> Decision {
        let found = findings(self, session, message);
        let score_only = self.score_only;
        match found.first() {
            None if score_only => Decision::proceed().header("X-Content-Filter", "score=0"),
            None => Decision::proceed(),
            Some(_) if score_only => {
                let rules: Vec<&str> = found.iter().map(|(r, _)| *r).collect();
                Decision::proceed()
                    .header(
                        "X-Content-Filter",
                        &format!("score={}; rules={}", found.len(), rules.join(",")),
                    )
                    .tag("content-flagged")
            }
            Some((rule, why)) => {
                Decision::reject(550, "5.7.1", &format!("message refused: {why}")).rule(rule)
            }
        }
    }
}
