//! DKIM (RFC 6376) signing with mail-auth: keys per tenant and domain, loaded from PEM files
//! when the config loads, and `sluice dkim keygen`.

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::generate::DkimKeyPair;
use mail_auth::dkim::{DkimSigner, Done};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use std::fmt;
use std::path::Path;

/// Headers signed when present. From is always there; the rest guard what a reader sees.
const SIGNED_HEADERS: [&str; 14] = [
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

enum Key {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

/// One signing identity: d= domain, s= selector and the private key.
pub struct Signer {
    pub domain: String,
    pub selector: String,
    key: Key,
    /// RSAPublicKey (PKCS#1) DER for RSA, the raw 32 bytes for Ed25519.
    public_key: Vec<u8>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signer({} d={} s={})",
            self.algorithm(),
            self.domain,
            self.selector
        )
    }
}

impl Signer {
    /// Loads a PEM key: RSA as PKCS#1 or PKCS#8, Ed25519 as PKCS#8.
    pub fn load(domain: &str, selector: &str, path: &Path) -> Result<Signer, String> {
        let der = PrivateKeyDer::from_pem_file(path)
            .map_err(|e| format!("cannot read a PEM private key from {}: {e}", path.display()))?;
        let (key, public_key) = match &der {
            PrivateKeyDer::Pkcs1(_) => rsa_signer(domain, selector, der.clone_key())?,
            PrivateKeyDer::Pkcs8(p8) => {
                match Ed25519Key::from_pkcs8_maybe_unchecked_der(p8.secret_pkcs8_der()) {
                    Ok(k) => {
                        let public = k.public_key();
                        let signer = DkimSigner::from_key(k)
                            .domain(domain)
                            .selector(selector)
                            .headers(SIGNED_HEADERS);
                        (Key::Ed25519(signer), public)
                    }
                    Err(_) => rsa_signer(domain, selector, der.clone_key())?,
                }
            }
            _ => return Err(format!("{}: not an RSA or Ed25519 key", path.display())),
        };
        Ok(Signer {
            domain: domain.to_ascii_lowercase(),
            selector: selector.to_owned(),
            key,
            public_key,
        })
    }

    pub fn algorithm(&self) -> &'static str {
        match self.key {
            Key::Rsa(_) => "rsa-sha256",
            Key::Ed25519(_) => "ed25519-sha256",
        }
    }

    /// Ed25519 signs in microseconds; RSA in milliseconds.
    pub fn is_cheap(&self) -> bool {
        matches!(self.key, Key::Ed25519(_))
    }

    /// The TXT record to publish at `<selector>._domainkey.<domain>`.
    pub fn record(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        match self.key {
            Key::Rsa(_) => format!(
                "v=DKIM1; k=rsa; p={}",
                b64.encode(rsa_spki(&self.public_key))
            ),
            Key::Ed25519(_) => format!("v=DKIM1; k=ed25519; p={}", b64.encode(&self.public_key)),
        }
    }

    /// Whether a published `p=` value (base64 decoded) is this key's public half.
    pub fn matches_published(&self, published: &[u8]) -> bool {
        published == self.public_key.as_slice()
            || (matches!(self.key, Key::Rsa(_)) && published == rsa_spki(&self.public_key))
    }

    /// The DKIM-Signature header field (ending in CRLF) to put on top of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<String, String> {
        let signature = match &self.key {
            Key::Rsa(s) => s.sign(message),
            Key::Ed25519(s) => s.sign(message),
        }
        .map_err(|e| e.to_string())?;
        Ok(signature.to_header())
    }
}

fn rsa_signer(
    domain: &str,
    selector: &str,
    der: PrivateKeyDer<'static>,
) -> Result<(Key, Vec<u8>), String> {
    let key = RsaKey::<Sha256>::from_key_der(der).map_err(|e| format!("RSA key: {e}"))?;
    let public = key.public_key();
    let signer = DkimSigner::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(SIGNED_HEADERS);
    Ok((Key::Rsa(signer), public))
}

/// The domain of the message's first From: address, lower-cased.
pub fn from_domain(message: &[u8]) -> Option<String> {
    let parsed = mail_parser::MessageParser::new().parse_headers(message)?;
    let address = parsed.from()?.first()?.address()?.to_owned();
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    Rsa2048,
    Ed25519,
}

/// A new key pair: the private key as PEM, and the TXT record to publish at
/// `<selector>._domainkey.<domain>`.
pub fn keygen(algorithm: Algorithm) -> Result<(String, String), String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    match algorithm {
        Algorithm::Rsa2048 => {
            let pair = DkimKeyPair::generate_rsa(2048).map_err(|e| e.to_string())?;
            let (private, public) = pair.into_inner();
            Ok((
                pem("RSA PRIVATE KEY", &private),
                format!("v=DKIM1; k=rsa; p={}", b64.encode(rsa_spki(&public))),
            ))
        }
        Algorithm::Ed25519 => {
            let pair = DkimKeyPair::generate_ed25519().map_err(|e| e.to_string())?;
            let (private, public) = pair.into_inner();
            Ok((
                pem("PRIVATE KEY", &private),
                format!("v=DKIM1; k=ed25519; p={}", b64.encode(public)),
            ))
        }
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Wraps a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo, the form DKIM records publish.
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    const RSA_ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0u8];
    bits.extend_from_slice(pkcs1);
    let mut inner = RSA_ALGORITHM.to_vec();
    inner.extend(der(0x03, &bits));
    der(0x30, &inner)
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_load_and_sign() {
        let dir = std::env::temp_dir().join(format!("sluice-dkim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for alg in [Algorithm::Ed25519, Algorithm::Rsa2048] {
            let (private, record) = keygen(alg).unwrap();
            let path = dir.join(format!("{alg:?}.pem"));
            std::fs::write(&path, private).unwrap();
            let s = Signer::load("example.com", "s1", &path).unwrap();
            let h = s
                .sign(b"From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n")
                .unwrap();
            assert!(h.starts_with("DKIM-Signature:"), "{h}");
            assert!(h.contains("d=example.com") && h.contains("s=s1"), "{h}");
            assert!(h.contains(s.algorithm()), "{h}");
            assert_eq!(record, s.record());
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn from_domain_reads_the_header() {
        let m = b"From: \"Shop\" <Receipts@Mail.Example.COM>\r\nTo: x@y\r\n\r\nhi\r\n";
        assert_eq!(from_domain(m).as_deref(), Some("mail.example.com"));
        assert_eq!(from_domain(b"Subject: none\r\n\r\n"), None);
    }
}
