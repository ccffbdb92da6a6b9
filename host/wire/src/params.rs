//! MAIL and RCPT parameters, checked against what this relay offers before the command
//! parser reads their values: a parameter of an extension not in the EHLO reply is
//! `555 5.5.4` (RFC 5321 §4.1.1.11), a repeated or malformed one `501 5.5.4`.

use super::reply::{self, Reply};

/// MAIL parameters: SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531), RET and ENVID
/// (DSN, RFC 3461), REQUIRETLS (RFC 8689; refused later without TLS) and AUTH (RFC 4954).
const MAIL: &[&str] = &[
    "SIZE",
    "BODY",
    "SMTPUTF8",
    "RET",
    "ENVID",
    "REQUIRETLS",
    "AUTH",
];
/// RCPT parameters: NOTIFY and ORCPT (DSN, RFC 3461).
const RCPT: &[&str] = &["NOTIFY", "ORCPT"];

pub fn check_mail(params: &str) -> Result<(), Reply> {
    check(params, MAIL, |keyword, value| match keyword {
        "SIZE" => {
            let ok = value.is_some_and(|v| {
                !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit())
            }) && value.and_then(|v| v.parse::<u64>().ok()).is_some();
            if ok {
                Ok(())
            } else {
                Err(reply::BAD_PARAMETER_VALUE)
            }
        }
        // BINARYMIME would need the BINARYMIME extension, which is not offered.
        "BODY" => match value.map(str::to_ascii_uppercase).as_deref() {
            Some("7BIT" | "8BITMIME") => Ok(()),
            Some("BINARYMIME") => Err(reply::BAD_PARAMETER),
            _ => Err(reply::BAD_PARAMETER_VALUE),
        },
        "SMTPUTF8" | "REQUIRETLS" if value.is_some() => Err(reply::BAD_PARAMETER_VALUE),
        _ => Ok(()),
    })
}

pub fn check_rcpt(params: &str) -> Result<(), Reply> {
    check(params, RCPT, |_, _| Ok(()))
}

fn check(
    params: &str,
    offered: &[&str],
    value_ok: impl Fn(&str, Option<&str>) -> Result<(), Reply>,
) -> Result<(), Reply> {
    let mut seen: Vec<String> = Vec::new();
    for param in params.split(' ').filter(|p| !p.is_empty()) {
        let (keyword, value) = match param.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (param, None),
        };
        if keyword.is_empty()
            || !keyword
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(reply::BAD_PARAMETER_VALUE);
        }
        let keyword = keyword.to_ascii_uppercase();
        if !offered.contains(&keyword.as_str()) {
            return Err(reply::BAD_PARAMETER);
        }
        if seen.contains(&keyword) {
            return Err(reply::DUPLICATE_PARAMETER);
        }
        value_ok(&keyword, value)?;
        seen.push(keyword);
    }
    Ok(())
}

/// Commands whose arguments the command parser would ignore: DATA, RSET and QUIT take none
/// (RFC 5321 §4.1.1), BDAT exactly a size and an optional LAST (RFC 3030 §2).
pub fn check_arguments(line: &[u8]) -> Option<Reply> {
    let line = line.strip_suffix(b"\r\n").unwrap_or(line);
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let verb = words.next()?.to_ascii_uppercase();
    let rest: Vec<&[u8]> = words.collect();
    match verb.as_slice() {
        b"DATA" | b"RSET" | b"QUIT" if !rest.is_empty() => Some(reply::NO_ARGUMENTS),
        b"BDAT" => {
            let size_ok = rest.first().is_some_and(|s| {
                s.len() <= 20
                    && s.iter().all(u8::is_ascii_digit)
                    && std::str::from_utf8(s).is_ok_and(|s| s.parse::<u64>().is_ok())
            });
            let last_ok = match rest.get(1) {
                None => true,
                Some(w) => w.eq_ignore_ascii_case(b"LAST"),
            };
            (!size_ok || !last_ok || rest.len() > 2).then_some(reply::BAD_BDAT)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_of_commands_that_take_none() {
        assert_eq!(check_arguments(b"DATA\r\n"), None);
        assert_eq!(check_arguments(b"DATA x\r\n"), Some(reply::NO_ARGUMENTS));
        assert_eq!(check_arguments(b"rset now\r\n"), Some(reply::NO_ARGUMENTS));
        assert_eq!(
            check_arguments(b"QUIT please\r\n"),
            Some(reply::NO_ARGUMENTS)
        );
        assert_eq!(check_arguments(b"NOOP anything\r\n"), None);
        assert_eq!(check_arguments(b"BDAT 10 LAST\r\n"), None);
        assert_eq!(check_arguments(b"BDAT 10\r\n"), None);
        assert_eq!(
            check_arguments(b"BDAT 10 LAST x\r\n"),
            Some(reply::BAD_BDAT)
        );
        assert_eq!(check_arguments(b"BDAT 10 FIRST\r\n"), Some(reply::BAD_BDAT));
        assert_eq!(
            check_arguments(b"BDAT 99999999999999999999999 LAST\r\n"),
            Some(reply::BAD_BDAT)
        );
    }

    #[test]
    fn offered_parameters_pass() {
        assert_eq!(check_mail(""), Ok(()));
        assert_eq!(
            check_mail("SIZE=1000 BODY=8bitmime SMTPUTF8 RET=HDRS ENVID=x AUTH=<>"),
            Ok(())
        );
        assert_eq!(
            check_rcpt("NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b.example"),
            Ok(())
        );
    }

    #[test]
    fn parameters_of_extensions_not_offered_are_555() {
        for p in [
            "BY=120;R",
            "HOLDFOR=10",
            "HOLDUNTIL=20300101",
            "MT-PRIORITY=3",
            "BODY=BINARYMIME",
            "SOLICIT=x",
            "TRANSID=<x@y>",
            "MTRK=x",
            "CONPERM",
            "XFOO",
        ] {
            assert_eq!(check_mail(p), Err(reply::BAD_PARAMETER), "{p}");
        }
        for p in ["RRVS=2030-01-01T00:00:00Z", "CONNEG", "SIZE=1"] {
            assert_eq!(check_rcpt(p), Err(reply::BAD_PARAMETER), "{p}");
        }
    }

    #[test]
    fn duplicates_and_bad_values_are_501() {
        assert_eq!(
            check_mail("RET=FULL RET=HDRS"),
            Err(reply::DUPLICATE_PARAMETER)
        );
        assert_eq!(check_mail("size=1 SIZE=2"), Err(reply::DUPLICATE_PARAMETER));
        assert_eq!(
            check_rcpt("NOTIFY=NEVER NOTIFY=SUCCESS"),
            Err(reply::DUPLICATE_PARAMETER)
        );
        for p in [
            "SIZE=99999999999999999999999",
            "SIZE=18446744073709551616",
            "SIZE=",
            "SIZE=12a",
            "SIZE",
            "BODY=8BIT",
            "SMTPUTF8=yes",
            "=x",
        ] {
            assert_eq!(check_mail(p), Err(reply::BAD_PARAMETER_VALUE), "{p}");
        }
    }
}
