//! rustls configuration for the listeners (inbound) and the delivery client (outbound).

use crate::config::resolved::TlsSource;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {message}")]
    Load {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("cannot write the generated certificate to {path}: {error}")]
    Generate {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("invalid TLS certificate or key: {0}")]
    Invalid(#[from] rustls::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The listeners' TLS config: the operator's files, or a self-signed pair made once.
pub fn server_config(source: &TlsSource, hostname: &str) -> Result<Arc<ServerConfig>, TlsError> {
    let (cert, key) = match source {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
        TlsSource::SelfSigned { dir } => self_signed(dir, hostname)?,
    };
    let load = |what, path: &Path, e: &dyn std::fmt::Display| TlsError::Load {
        what,
        path: path.to_owned(),
        message: e.to_string(),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .map_err(|e| load("certificate", &cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| load("certificate", &cert, &e))?;
    let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| load("private key", &key, &e))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

/// How long a generated certificate is valid, and how long before its end it is replaced
/// (at start and at each reload).
const SELF_SIGNED_DAYS: i64 = 365;
const RENEW_DAYS: i64 = 30;

/// A self-signed certificate for `hostname` (and localhost) under `dir`, made when there is
/// none, when it names another host, or when it ends within [`RENEW_DAYS`]: its subject and
/// subjectAltName are the relay's host name, and it is valid for a year.
/// `dir/cert.meta` keeps the host name and the end of validity (unix seconds).
fn self_signed(dir: &Path, hostname: &str) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let meta = dir.join("cert.meta");
    let now = time::OffsetDateTime::now_utc();
    let current = std::fs::read_to_string(&meta).ok().and_then(|m| {
        let (host, end) = m.trim().split_once(' ')?;
        Some((host.to_owned(), end.parse::<i64>().ok()?))
    });
    let fresh = matches!(&current, Some((host, end))
        if host == hostname && *end - now.unix_timestamp() > RENEW_DAYS * 86_400);
    if fresh && cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let failed = |e: rcgen::Error| TlsError::Load {
        what: "generated certificate",
        path: cert.clone(),
        message: e.to_string(),
    };
    let mut params =
        rcgen::CertificateParams::new(vec![hostname.to_owned(), "localhost".to_owned()])
            .map_err(failed)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    params.not_before = now - time::Duration::hours(1);
    let not_after = now + time::Duration::days(SELF_SIGNED_DAYS);
    params.not_after = not_after;
    let key_pair = rcgen::KeyPair::generate().map_err(failed)?;
    let generated = params.self_signed(&key_pair).map_err(failed)?;
    let write = |path: &Path, text: String| {
        std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::write(path, text))
            .map_err(|error| TlsError::Generate {
                path: path.to_owned(),
                error,
            })
    };
    write(&key, key_pair.serialize_pem())?;
    write(&cert, generated.pem())?;
    write(
        &meta,
        format!("{hostname} {}\n", not_after.unix_timestamp()),
    )?;
    tracing::warn!(
        cert = %cert.display(),
        valid_days = SELF_SIGNED_DAYS,
        "no [tls] cert/key configured: generated a self-signed certificate for {hostname}; clients will not verify it"
    );
    Ok((cert, key))
}

/// Client config that encrypts without checking the peer (RFC 7435 opportunistic TLS).
pub fn opportunistic_client() -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider(), None)))
        .with_no_client_auth();
    Arc::new(config)
}

/// Client config that verifies the peer against `ca_file`, or the webpki roots.
pub fn verifying_client(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| TlsError::Load {
                what: "CA file",
                path: path.to_owned(),
                message: e.to_string(),
            })? {
                let cert = cert.map_err(|e| TlsError::Load {
                    what: "CA file",
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
                roots.add(cert)?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The certificate file the listeners serve (`[tls] cert`, or the generated one).
pub fn certificate_path(source: &TlsSource) -> PathBuf {
    match source {
        TlsSource::Files { cert, .. } => cert.clone(),
        TlsSource::SelfSigned { dir } => dir.join("cert.pem"),
    }
}

/// Client config that accepts exactly the certificate in `cert_file` (the relay's own, for
/// `sluice` commands reaching its HTTPS admin API): pinned, so a self-signed one works and
/// no other does, whatever name it carries.
pub fn pinned_client(cert_file: &Path) -> Result<Arc<ClientConfig>, TlsError> {
    let load = |e: &dyn std::fmt::Display| TlsError::Load {
        what: "certificate",
        path: cert_file.to_owned(),
        message: e.to_string(),
    };
    let pinned: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| load(&e))?
        .collect::<Result<_, _>>()
        .map_err(|e| load(&e))?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider(), Some(pinned))))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts any server certificate (`None`), or exactly one of the pinned ones; handshake
/// signatures are always verified.
#[derive(Debug)]
struct AcceptAnyCert(
    Arc<rustls::crypto::CryptoProvider>,
    Option<Vec<CertificateDer<'static>>>,
);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.1 {
            Some(pinned) if !pinned.iter().any(|p| p.as_ref() == end_entity.as_ref()) => {
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ))
            }
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
