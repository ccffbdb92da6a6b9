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
    let path = out.unwrap_or_else(|| PathBuf::from(format!("{selector}.{domain}.pem")));
    let (pem, record) = generate(algorithm).map_err(|e| anyhow::anyhow!(e))?;
    write_private(&path, pem.as_bytes())?;
    // Load it back the way the relay will, so what is printed is what will be used.
    let signer = Signer::load(domain, selector, &path).map_err(|e| anyhow::anyhow!(e))?;
    debug_assert_eq!(signer.record(), record);
    println!("wrote {} ({})", path.display(), signer.algorithm());
    println!();
    println!("publish this TXT record:");
    println!("  {selector}._domainkey.{domain}.  IN TXT  \"{record}\"");
    println!();
    println!("and sign with it by adding to the tenant in the config:");
    println!("  [[tenant.dkim]]");
    println!("  domain = \"{domain}\"");
    println!("  selector = \"{selector}\"");
    println!("  key = \"{}\"", path.display());
    Ok(())
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
