//! The path of MAIL FROM and RCPT TO, read from the command line as the client wrote it.
//!
//! Only the destination interprets a local part (RFC 5321 §2.4), so a relay must carry it
//! exactly: `"q@r"@other.test` is one mailbox at other.test, and its quotes are part of it.
//! The command parser (smtp-proto) unquotes local parts, which would turn
//! `"ceo@bank.example> ENVID=x"@shop.example` into a different sender and a parameter.
//! So the path is cut out here, checked against the RFC 5321 §4.1.2 grammar (with RFC 6531's
//! UTF-8 when the client asked for SMTPUTF8), kept byte for byte as the mailbox's wire form,
//! and the parser sees the parameters only, behind a placeholder path.

/// A mailbox in its wire form, e.g. `app@example.com` or `"john doe"@example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WirePath {
    /// Between `<` and `>`; empty for the null reverse path `<>`.
    pub mailbox: String,
}

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Not `<…>`, or not a mailbox by the RFC 5321 grammar.
    Syntax,
    /// A source route (`<@a.example:b@c.example>`), which this relay does not accept.
    SourceRoute,
    /// Bytes that are not UTF-8 (RFC 6531 §3.3).
    InvalidUtf8,
    /// Longer than RFC 5321 §4.5.3.1 allows (path 256, local part 64, domain 255 octets).
    TooLong,
}

/// A MAIL or RCPT line split into the client's path and the same line with the path replaced
/// by `placeholder`, for the command parser to read the parameters from.
pub struct Split {
    pub path: Result<WirePath, PathError>,
    /// What follows the path: the parameters, without the line ending.
    pub params: String,
    pub for_parser: Vec<u8>,
}

/// The placeholder mailbox the command parser sees instead of the client's.
pub const PLACEHOLDER: &str = "path@placeholder.invalid";

/// Splits a `MAIL FROM:` or `RCPT TO:` line; `None` for other commands or when there is no
/// `<` to start a path (the command parser then gives its own syntax error).
pub fn split(line: &[u8]) -> Option<Split> {
    let upper: Vec<u8> = line.iter().take(10).map(u8::to_ascii_uppercase).collect();
    let prefix = if upper.starts_with(b"MAIL FROM:") {
        10
    } else if upper.starts_with(b"RCPT TO:") {
        8
    } else {
        return None;
    };
    // RFC 5321 has no space after the colon; many clients send one, as other MTAs accept.
    let mut start = prefix;
    while line.get(start) == Some(&b' ') {
        start += 1;
    }
    if line.get(start) != Some(&b'<') {
        return None;
    }
    let end = path_end(&line[start + 1..]).map(|n| start + 1 + n);
    let Some(end) = end else {
        return Some(Split {
            path: Err(PathError::Syntax),
            params: String::new(),
            for_parser: line.to_vec(),
        });
    };
    let raw = &line[start + 1..end];
    let path = check(raw);
    let placeholder: &[u8] = if raw.is_empty() {
        b""
    } else {
        PLACEHOLDER.as_bytes()
    };
    let mut for_parser = Vec::with_capacity(line.len());
    for_parser.extend_from_slice(&line[..start + 1]);
    for_parser.extend_from_slice(placeholder);
    for_parser.extend_from_slice(&line[end..]);
    let params = line[end + 1..]
        .strip_suffix(b"\r\n")
        .unwrap_or(&line[end + 1..]);
    let params = String::from_utf8_lossy(params).trim().to_owned();
    Some(Split {
        path,
        params,
        for_parser,
    })
}

/// The index of the `>` that closes a path, skipping quoted strings and quoted pairs.
fn path_end(rest: &[u8]) -> Option<usize> {
    let mut in_quote = false;
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            b'\\' if in_quote => i += 1,
            b'"' => in_quote = !in_quote,
            b'>' if !in_quote => return Some(i),
            b'\r' | b'\n' => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Checks an address given outside an SMTP command (an API, a CSV file, a feedback report)
/// against the same grammar as a MAIL or RCPT path: `local@domain` in its wire form, no null
/// path, no source route, no bare `postmaster`.
pub fn mailbox(text: &str) -> Result<WirePath, PathError> {
    if text.is_empty() || !text.contains('@') {
        return Err(PathError::Syntax);
    }
    check(text.as_bytes())
}

/// Checks a path's mailbox against the grammar. UTF-8 is accepted here and refused later
/// without SMTPUTF8 (the reply differs: 553 5.6.7).
fn check(raw: &[u8]) -> Result<WirePath, PathError> {
    if raw.is_empty() {
        return Ok(WirePath {
            mailbox: String::new(),
        });
    }
    // The one mailbox without a domain (RFC 5321 §4.5.1); only RCPT accepts it.
    if raw.eq_ignore_ascii_case(b"postmaster") {
        return Ok(WirePath {
            mailbox: String::from_utf8_lossy(raw).into_owned(),
        });
    }
    if raw[0] == b'@' {
        return Err(PathError::SourceRoute);
    }
    if raw.len() > 254 {
        return Err(PathError::TooLong);
    }
    let text = std::str::from_utf8(raw).map_err(|_| PathError::InvalidUtf8)?;
    let local_len = local_part_len(text)?;
    let domain = text[local_len..]
        .strip_prefix('@')
        .ok_or(PathError::Syntax)?;
    if local_len > 64 || domain.len() > 255 {
        return Err(PathError::TooLong);
    }
    check_domain(domain)?;
    Ok(WirePath {
        mailbox: text.to_owned(),
    })
}

/// RFC 5322 atext, plus RFC 6531's UTF8-non-ascii.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || !c.is_ascii() && !c.is_control()
}

/// The length of the local part at the start of `text`: a Dot-string or a Quoted-string.
fn local_part_len(text: &str) -> Result<usize, PathError> {
    if let Some(rest) = text.strip_prefix('"') {
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok(i + 2),
                // quoted-pairSMTP: a backslash and one printable ASCII character.
                '\\' => match chars.next() {
                    Some((_, ' '..='~')) => {}
                    _ => return Err(PathError::Syntax),
                },
                // qtextSMTP: printable ASCII but `"` and `\`, and UTF-8 (RFC 6531).
                ' '..='~' => {}
                c if !c.is_ascii() && !c.is_control() => {}
                _ => return Err(PathError::Syntax),
            }
        }
        return Err(PathError::Syntax);
    }
    let end = text.find('@').ok_or(PathError::Syntax)?;
    let local = &text[..end];
    if local
        .split('.')
        .any(|atom| atom.is_empty() || !atom.chars().all(is_atext))
    {
        return Err(PathError::Syntax);
    }
    Ok(end)
}

/// A domain name (letters, digits and hyphens, or U-labels) or an address literal.
fn check_domain(domain: &str) -> Result<(), PathError> {
    if let Some(literal) = domain.strip_prefix('[') {
        let inner = literal.strip_suffix(']').ok_or(PathError::Syntax)?;
        let ok = match inner.get(..5) {
            Some(tag) if tag.eq_ignore_ascii_case("IPv6:") => {
                inner[5..].parse::<std::net::Ipv6Addr>().is_ok()
            }
            _ => inner.parse::<std::net::Ipv4Addr>().is_ok(),
        };
        return if ok { Ok(()) } else { Err(PathError::Syntax) };
    }
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || c == '-'
                    || !c.is_ascii() && !c.is_control() && !c.is_whitespace()
            })
    };
    if domain.is_empty() || !domain.split('.').all(label_ok) {
        return Err(PathError::Syntax);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(line: &str) -> (Result<WirePath, PathError>, String) {
        let s = split(line.as_bytes()).expect("a MAIL or RCPT line");
        (s.path, String::from_utf8(s.for_parser).unwrap())
    }

    #[test]
    fn quoted_local_parts_keep_their_quotes_and_hide_nothing_from_the_parser() {
        let (p, rest) = path("MAIL FROM:<\"ceo@bank.example> ENVID=x\"@shop.example> SIZE=10");
        assert_eq!(
            p.unwrap().mailbox,
            "\"ceo@bank.example> ENVID=x\"@shop.example"
        );
        assert_eq!(rest, format!("MAIL FROM:<{PLACEHOLDER}> SIZE=10"));
        let (p, rest) = path("RCPT TO:<\"victim@evil.example> ORCPT=rfc822;x\"@dest.example>");
        assert_eq!(
            p.unwrap().mailbox,
            "\"victim@evil.example> ORCPT=rfc822;x\"@dest.example"
        );
        assert_eq!(rest, format!("RCPT TO:<{PLACEHOLDER}>"));
        let (p, _) = path("RCPT TO:<\"a\\\"b\\\\c\"@x.test>");
        assert_eq!(p.unwrap().mailbox, "\"a\\\"b\\\\c\"@x.test");
    }

    #[test]
    fn a_mailbox_outside_a_command_needs_a_domain() {
        assert_eq!(
            mailbox("\"a b\"@x.test").map(|p| p.mailbox),
            Ok("\"a b\"@x.test".into())
        );
        for bad in ["", "postmaster", "@a:b@x.test", "a@", "a b@x.test"] {
            assert!(mailbox(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn grammar() {
        let ok = |m: &str| check(m.as_bytes()).map(|p| p.mailbox);
        assert_eq!(ok("a.b+c@example.com"), Ok("a.b+c@example.com".into()));
        assert_eq!(ok("jörg@bücher.example"), Ok("jörg@bücher.example".into()));
        assert_eq!(ok("a@[192.0.2.1]"), Ok("a@[192.0.2.1]".into()));
        assert_eq!(
            ok("a@[IPv6:2001:db8::1]"),
            Ok("a@[IPv6:2001:db8::1]".into())
        );
        assert_eq!(ok(""), Ok(String::new()));
        for bad in [
            "a..b@x.test",
            ".a@x.test",
            "a@",
            "@x.test",
            "a b@x.test",
            "a@x..test",
            "a@-x.test",
            "a@x_y.test",
            "\"unterminated@x.test",
            "\"a\"b@x.test",
            "\"a\\\u{1}\"@x.test",
            "a@[300.0.0.1]",
            "ab",
            "a@b@c.test",
        ] {
            assert!(ok(bad).is_err(), "{bad} was accepted");
        }
        assert_eq!(check(b"@a.test:b@c.test"), Err(PathError::SourceRoute));
        assert_eq!(check(b"\xff@x.test"), Err(PathError::InvalidUtf8));
        let long = format!("{}@x.test", "a".repeat(65));
        assert_eq!(check(long.as_bytes()), Err(PathError::TooLong));
    }

    #[test]
    fn other_commands_and_unclosed_paths() {
        assert!(split(b"DATA").is_none());
        assert!(split(b"MAIL FROM:x@y.test").is_none());
        assert_eq!(path("MAIL FROM:<\"a>b@x.test").0, Err(PathError::Syntax));
        let (p, rest) = path("MAIL FROM: <>");
        assert_eq!(p.unwrap().mailbox, "");
        assert_eq!(rest, "MAIL FROM: <>");
    }
}
