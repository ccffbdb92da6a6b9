//! The one form an address is kept and looked up in: the wire form the relay carries
//! everywhere else (`sluice_wire::path`), with the domain lower-cased. The local part is kept
//! as it is, quotes included: only the destination may interpret it (RFC 5321 §2.4), so
//! `Alice@x.test` and `alice@x.test` are two entries, while `alice@X.Test` is `alice@x.test`.

use sluice_wire::path::{self, PathError};

/// Why an address cannot be a suppression entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("{0:?} is not a mailbox (local@domain, RFC 5321 §4.1.2)")]
    Syntax(String),
    #[error("{0:?} is longer than RFC 5321 allows (local part 64, domain 255, path 256 octets)")]
    TooLong(String),
}

/// `address` checked against the RFC 5321 mailbox grammar (with RFC 6531 UTF-8) and put in
/// its lookup form. Angle brackets around it are taken off.
pub fn normalize(address: &str) -> Result<String, AddressError> {
    let trimmed = address.trim();
    let bare = trimmed
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(trimmed);
    let wire = path::mailbox(bare).map_err(|e| match e {
        PathError::TooLong => AddressError::TooLong(address.to_owned()),
        _ => AddressError::Syntax(address.to_owned()),
    })?;
    Ok(key(&wire.mailbox))
}

/// The lookup form of an address already checked (a RCPT path): its domain lower-cased,
/// without a trailing dot.
pub fn key(mailbox: &str) -> String {
    match mailbox.rsplit_once('@') {
        Some((local, domain)) => {
            let domain = domain.trim_end_matches('.');
            let domain = if domain.is_ascii() {
                domain.to_ascii_lowercase()
            } else {
                domain.to_lowercase()
            };
            format!("{local}@{domain}")
        }
        None => mailbox.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_is_folded_and_the_local_part_kept() {
        assert_eq!(normalize("Alice@Dest.TEST").unwrap(), "Alice@dest.test");
        assert_eq!(normalize(" <bob@x.test.> ").unwrap(), "bob@x.test");
        assert_eq!(
            normalize("\"Q@r\"@Other.Test").unwrap(),
            "\"Q@r\"@other.test"
        );
        assert_eq!(
            normalize("jörg@BÜCHER.example").unwrap(),
            "jörg@bücher.example"
        );
        assert_eq!(key("a@B.c"), "a@b.c");
    }

    #[test]
    fn what_is_not_a_mailbox_is_refused() {
        for bad in [
            "",
            "alice",
            "a@",
            "@x.test",
            "a b@x.test",
            "<>",
            "postmaster",
        ] {
            assert!(
                matches!(normalize(bad), Err(AddressError::Syntax(_))),
                "{bad:?}"
            );
        }
        let long = format!("{}@x.test", "a".repeat(65));
        assert!(matches!(normalize(&long), Err(AddressError::TooLong(_))));
    }
}
