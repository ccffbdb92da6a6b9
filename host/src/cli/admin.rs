//! The CLI's side of the admin API: a small HTTP/1.1 client, where its token comes from,
//! `sluice reload`, and `sluice admin token` to make a token.
//!
//! The token is read from `SLUICE_ADMIN_TOKEN`, else from the file `admin.token_file` names.

use crate::config::Config;
use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The environment variable that carries the CLI's bearer token.
pub const TOKEN_ENV: &str = "SLUICE_ADMIN_TOKEN";

/// Why a call got no answer from the relay.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Nothing listens on the admin address: the relay is not running (or listens elsewhere).
    #[error("no relay answers on {addr} (is it running? `admin.listen` in the config): {error}")]
    Unreachable {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("admin API on {addr}: {message}")]
    Http { addr: SocketAddr, message: String },
}

/// An answer: status and body (JSON for every route but `/metrics`).
pub struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("the admin API answered something not JSON")
    }

    /// The value of a success; the problem's detail as the error otherwise.
    pub fn into_result(self) -> anyhow::Result<serde_json::Value> {
        let value = self.json()?;
        if self.status.is_success() {
            return Ok(value);
        }
        let detail = value["detail"].as_str().unwrap_or("no detail");
        let title = value["title"].as_str().unwrap_or("error");
        anyhow::bail!("{title} ({}): {detail}", self.status.as_u16())
    }
}

/// A client for the relay a config describes.
pub struct Client {
    addr: SocketAddr,
    token: Option<String>,
    /// The relay's certificate file, pinned, when the API is served over TLS.
    tls: Option<PathBuf>,
}

impl Client {
    pub fn new(config: &Config) -> Client {
        let token = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .or_else(|| {
                let file = config.admin.token_file.as_ref()?;
                std::fs::read_to_string(file).ok()
            })
            .map(|t| t.trim().to_owned());
        Client {
            addr: config.admin.listen,
            token,
            tls: config
                .admin
                .tls
                .then(|| crate::tls::certificate_path(&config.tls)),
        }
    }

    pub async fn call(&self, method: Method, path: &str) -> Result<Answer, CallError> {
        self.call_with(method, path, None).await
    }

    /// A request with a body: its content type and bytes.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Answer, CallError> {
        let http = |message: String| CallError::Http {
            addr: self.addr,
            message,
        };
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|error| CallError::Unreachable {
                addr: self.addr,
                error,
            })?;
        let stream = match &self.tls {
            None => crate::net::MaybeTls::Plain(tcp),
            Some(cert) => {
                let config = crate::tls::pinned_client(cert).map_err(|e| http(e.to_string()))?;
                let name = rustls_pki_types::ServerName::IpAddress(self.addr.ip().into());
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await
                    .map_err(|e| {
                        http(format!(
                            "TLS with the relay's certificate {}: {e}",
                            cert.display()
                        ))
                    })?;
                crate::net::MaybeTls::Tls(Box::new(tls))
            }
        };
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| http(e.to_string()))?;
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.addr.to_string());
        if let Some(t) = &self.token {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let bytes = match body {
            Some((content_type, bytes)) => {
                request = request.header(hyper::header::CONTENT_TYPE, content_type);
                Bytes::from(bytes)
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(bytes))
            .map_err(|e| http(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| http(e.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| http(e.to_string()))?
            .to_bytes()
            .to_vec();
        if status == StatusCode::UNAUTHORIZED && self.token.is_none() {
            return Err(http(format!(
                "no token: set {TOKEN_ENV} or `admin.token_file` (make one with `sluice admin token`)"
            )));
        }
        Ok(Answer { status, body })
    }
}

/// `sluice reload`: asks the relay to reload its config file and waits for the outcome.
pub async fn reload(config: &Config) -> anyhow::Result<()> {
    let value = Client::new(config)
        .call(Method::POST, "/v1/reload")
        .await?
        .into_result()?;
    println!(
        "reloaded: generation {} from {}",
        value["generation"],
        value["config"].as_str().unwrap_or("?")
    );
    Ok(())
}

/// A new random token: 32 bytes, URL-safe base64, prefixed so it is recognisable in a leak.
pub fn new_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!(
        "sluice_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The lower-case hex SHA-256 of a token, as `[[admin.token]]` stores it.
pub fn token_digest(token: &str) -> String {
    Sha256::digest(token.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `sluice admin token`: makes a token, writes it to `out` (never overwriting, mode 0600)
/// or prints it, and prints the `[[admin.token]]` table that accepts it.
pub fn generate(name: &str, scope: &str, out: Option<&Path>) -> anyhow::Result<()> {
    anyhow::ensure!(
        matches!(scope, "read" | "admin"),
        "scope is `read` or `admin`, not {scope:?}"
    );
    let token = new_token();
    match out {
        Some(path) => write_new(path, &token)?,
        None => println!("token: {token}\n"),
    }
    println!(
        "[[admin.token]]\nname = {name:?}\nscope = \"{scope}\"\nsha256 = \"{}\"",
        token_digest(&token)
    );
    Ok(())
}

/// `sluice api key`: makes a tenant's application key, writes it to `out` or prints it, and
/// prints the `[[tenant.api_key]]` table that accepts it.
pub fn generate_api_key(name: &str, scopes: &[String], out: Option<&Path>) -> anyhow::Result<()> {
    use crate::config::resolved::ApiScope;
    let mut names = Vec::new();
    for s in scopes {
        let s = s.trim();
        let scope = ApiScope::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .with_context(|| format!("scope is `send`, `events` or `suppressions`, not {s:?}"))?;
        if !names.contains(&scope.name()) {
            names.push(scope.name());
        }
    }
    let key = new_token().replacen("sluice_", "sluice_key_", 1);
    match out {
        Some(path) => write_new(path, &key)?,
        None => println!("key: {key}\n"),
    }
    println!(
        "[[tenant.api_key]]  # under the tenant whose key it is\nname = {name:?}\nscopes = {names:?}\nsha256 = \"{}\"",
        token_digest(&key)
    );
    Ok(())
}

fn write_new(path: &Path, token: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(f, "{token}").with_context(|| format!("writing {}", PathBuf::from(path).display()))?;
    eprintln!("token written to {}", path.display());
    Ok(())
}
