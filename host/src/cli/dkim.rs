//! `sluice dkim keygen`: a new signing key and the DNS record to publish for it.

use crate::dkim::{keygen as generate, Algorithm, Signer};
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn keygen(
    domain: &str,
    selector: &str,
    algorithm: Algorithm,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    check_label("domain", domain)?;
    check_label("selector", selector)?;
    let path = out.unwrap_or_else(|| PathBuf::from(format!("{selector}.{domain}.pem")));
    let (pem, record) = generate(algorithm).map_err(|e| anyhow::anyhow!(e))?;
    write_private(&path, pem.as_bytes())?;
    // Load it back the way the relay will, so what is printed is what will be used.
    let signer = Signer::load(domain, selector, &path).map_err(|e| anyhow::anyhow!(e))?;
    debug_assert_eq!(signer.record(), record);
    println!("wrote {} ({})", path.display(), signer.algorithm());
    println!();
    println!("publish this TXT record:");
    println!(
        "  {selector}._domainkey.{domain}.  IN TXT  {}",
        txt_strings(&record)
    );
    println!();
    println!("and sign with it by adding to the tenant in the config:");
    println!("  [[tenant.dkim]]");
    println!("  domain = \"{domain}\"");
    println!("  selector = \"{selector}\"");
    println!("  key = \"{}\"", path.display());
    Ok(())
}

/// A domain or selector: dot-separated labels of letters, digits and hyphens (RFC 6376
/// §3.1, RFC 1035), so the name can be published and the key file named after it.
fn check_label(what: &str, name: &str) -> anyhow::Result<()> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let ok = name.len() <= 253 && name.split('.').all(label_ok);
    if !ok {
        anyhow::bail!("{what} {name:?} is not a DNS name (letters, digits, hyphens and dots)");
    }
    Ok(())
}

/// A TXT record's value as DNS character-strings: at most 255 octets each (RFC 1035
/// §3.3), quoted and separated by spaces, which resolvers join back into one string.
fn txt_strings(record: &str) -> String {
    record
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Creates the key file readable by its owner only; an existing file is never replaced.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_records_are_split_into_character_strings() {
        let record = format!("v=DKIM1; k=rsa; p={}", "A".repeat(380));
        let txt = txt_strings(&record);
        let parts: Vec<&str> = txt.split("\" \"").collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.trim_matches('"').len() <= 255));
        assert_eq!(txt.replace("\" \"", "").trim_matches('"'), record);
    }

    #[test]
    fn names_must_be_dns_names() {
        assert!(check_label("domain", "shop.example").is_ok());
        assert!(check_label("selector", "s2026").is_ok());
        assert!(check_label("domain", "bad domain").is_err());
        assert!(check_label("selector", "s 1").is_err());
        assert!(check_label("domain", "-x.example").is_err());
        assert!(check_label("domain", "a/../b").is_err());
    }
}
