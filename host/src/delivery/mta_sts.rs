//! MTA-STS (RFC 8461): a recipient domain that publishes `_mta-sts.<domain>` TXT
//! (`v=STSv1; id=…`, parsed by mail-auth) and a policy at
//! `https://mta-sts.<domain>/.well-known/mta-sts.txt` is only delivered to MX hosts its policy
//! names, over TLS verified for the MX host name, when the policy says `mode: enforce`.
//! Policies are cached by domain for their `max_age` and refetched when the TXT id changes.
//!
//! The policy file is fetched with one HTTP/1.0 GET over rustls (verified for
//! `mta-sts.<domain>`); one small text file does not warrant an HTTP client library.

use super::mx::Resolver;
use mail_auth::common::parse::TxtRecordParser;
use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest policy file read (RFC 8461 §3.3 suggests 64 KiB).
const MAX_POLICY: usize = 64 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest time a policy is trusted (RFC 8461 §3.2: max_age at most 31557600 s).
const MAX_AGE_CAP: u64 = 31_557_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Testing,
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub id: String,
    pub mode: Mode,
    /// MX patterns: `mx.example.com` or `*.example.com` (one leftmost label).
    pub mx: Vec<String>,
    pub max_age: u64,
}

impl Policy {
    /// Parses the policy file (RFC 8461 §3.2).
    pub fn parse(id: &str, text: &str) -> Result<Policy, String> {
        let (mut version, mut mode, mut max_age, mut mx) = (None, None, None, Vec::new());
        for line in text.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim();
            match k.trim() {
                "version" => version = Some(v.to_owned()),
                "mode" => {
                    mode = Some(match v {
                        "enforce" => Mode::Enforce,
                        "testing" => Mode::Testing,
                        "none" => Mode::None,
                        other => return Err(format!("unknown mode {other:?}")),
                    })
                }
                "max_age" => max_age = v.parse::<u64>().ok(),
                "mx" => mx.push(v.trim_end_matches('.').to_ascii_lowercase()),
                _ => {}
            }
        }
        if version.as_deref() != Some("STSv1") {
            return Err("not an STSv1 policy".into());
        }
        let mode = mode.ok_or("policy has no mode")?;
        let max_age = max_age.ok_or("policy has no max_age")?.min(MAX_AGE_CAP);
        if mode != Mode::None && mx.is_empty() {
            return Err("policy lists no mx".into());
        }
        Ok(Policy {
            id: id.to_owned(),
            mode,
            mx,
            max_age,
        })
    }

    /// Whether `host` is one of the policy's MX hosts.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(parent) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
            None => *p == host,
        })
    }
}

pub struct MtaSts {
    resolver: Resolver,
    tls: Arc<rustls::ClientConfig>,
    /// 443; tests serve policies elsewhere.
    port: u16,
    cache: Mutex<HashMap<String, (Policy, Instant)>>,
}

impl MtaSts {
    pub fn new(resolver: Resolver, tls: Arc<rustls::ClientConfig>, port: u16) -> MtaSts {
        MtaSts {
            resolver,
            tls,
            port,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The policy in force for `domain`, if it publishes one. A domain whose TXT record is
    /// there but whose policy cannot be fetched is treated as having none, unless a cached
    /// policy is still fresh (RFC 8461 §5.1).
    pub async fn policy(&self, domain: &str) -> Option<Policy> {
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .get(domain)
                .filter(|(_, until)| *until > Instant::now())
                .map(|(p, _)| p.clone())
        };
        let id = self
            .resolver
            .txt(&format!("_mta-sts.{domain}"))
            .await
            .ok()?
            .into_iter()
            .find_map(|t| mail_auth::mta_sts::MtaSts::parse(t.as_bytes()).ok())
            .map(|r| r.id);
        let Some(id) = id else {
            return cached;
        };
        if let Some(p) = cached.as_ref().filter(|p| p.id == id) {
            return Some(p.clone());
        }
        match self.fetch(domain, &id).await {
            Ok(p) => {
                let until = Instant::now() + Duration::from_secs(p.max_age);
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                cache.insert(domain.to_owned(), (p.clone(), until));
                Some(p)
            }
            Err(e) => {
                tracing::warn!(domain, error = %e, "MTA-STS policy could not be fetched");
                cached
            }
        }
    }

    async fn fetch(&self, domain: &str, id: &str) -> Result<Policy, String> {
        let host = format!("mta-sts.{domain}");
        let ip = *self
            .resolver
            .addresses(&host)
            .await?
            .first()
            .ok_or_else(|| format!("{host} has no address"))?;
        let name =
            ServerName::try_from(host.clone()).map_err(|e| format!("bad name {host}: {e}"))?;
        let fetch = async {
            let tcp = tokio::net::TcpStream::connect(SocketAddr::new(ip, self.port))
                .await
                .map_err(|e| format!("connect to {host}: {e}"))?;
            let mut tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {host}: {e}"))?;
            let request = format!(
                "GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: {host}\r\nUser-Agent: sluice\r\n\r\n"
            );
            tls.write_all(request.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let mut response = Vec::new();
            match (&mut tls)
                .take(MAX_POLICY as u64 + 4096)
                .read_to_end(&mut response)
                .await
            {
                Ok(_) => {}
                // Many HTTP servers close without a TLS close_notify once the body is sent;
                // the status line and Content-Length are checked below.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {
                }
                Err(e) => return Err(format!("reading from {host}: {e}")),
            }
            Ok::<_, String>(response)
        };
        let response = tokio::time::timeout(FETCH_TIMEOUT, fetch)
            .await
            .map_err(|_| format!("{host} did not answer in time"))??;
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or("malformed HTTP response")?;
        let status = head.split_whitespace().nth(1).unwrap_or_default();
        if status != "200" {
            return Err(format!("{host} answered HTTP {status}"));
        }
        let length = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        });
        let body = match length {
            Some(n) if body.len() < n => return Err(format!("{host} sent a truncated policy")),
            Some(n) => &body[..n],
            None => body,
        };
        Policy::parse(id, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_match_mx_patterns() {
        let p = Policy::parse(
            "1",
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n",
        )
        .unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert!(p.allows("mail.example.com"));
        assert!(p.allows("MX1.example.net."));
        assert!(
            !p.allows("a.b.example.net"),
            "a wildcard covers one label only"
        );
        assert!(!p.allows("example.net"));
        assert!(!p.allows("evil.example.com"));
        assert!(Policy::parse("1", "version: STSv1\nmode: enforce\nmax_age: 1\n").is_err());
        assert!(Policy::parse("1", "mode: enforce\nmx: a\nmax_age: 1\n").is_err());
    }
}
