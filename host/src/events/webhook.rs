//! One webhook delivery: the event's journal line POSTed as JSON, signed.
//!
//! ```text
//! POST <url>
//! Content-Type: application/json
//! Sluice-Event-Id: 000003-000000000042
//! Sluice-Signature: t=1712345678,v1=<hex HMAC-SHA256(secret, "1712345678.<body>")>
//! ```
//!
//! A `2xx` answer acknowledges the event; anything else, a timeout or a connection that
//! fails is retried by the [`super::outbox`].

use super::EventId;
use crate::config::events::WebhookSpec;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;
use std::time::Duration;

/// The most of an answer's body read (and thrown away) so the connection can be reused.
const MAX_ANSWER: usize = 64 << 10;

/// `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &[u8], t: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any size");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

/// How one POST ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx: the receiver has the event.
    Delivered(u16),
    /// Any other status.
    Refused(u16),
    /// No answer within the endpoint's timeout.
    Timeout,
    /// No connection, TLS failed, or the exchange broke.
    Failed(String),
}

impl Outcome {
    /// The `outcome` label of `sluice_webhook_deliveries_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Delivered(_) => "delivered",
            Outcome::Refused(_) => "refused",
            Outcome::Timeout => "timeout",
            Outcome::Failed(_) => "failed",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Delivered(s) => write!(f, "answered {s}"),
            Outcome::Refused(s) => write!(f, "answered {s}"),
            Outcome::Timeout => f.write_str("no answer within the timeout"),
            Outcome::Failed(e) => f.write_str(e),
        }
    }
}

/// An endpoint's HTTP client: keep-alive connections, rustls for `https`.
#[derive(Clone)]
pub struct Client {
    http: HttpClient<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Client {
    pub fn new(spec: &WebhookSpec) -> Result<Client, String> {
        let tls =
            crate::tls::verifying_client(spec.ca_file.as_deref()).map_err(|e| e.to_string())?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(spec.timeout));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let http = HttpClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(spec.concurrency)
            .build(connector);
        Ok(Client { http })
    }

    /// POSTs one event's JSON to the endpoint, signed, within its timeout.
    pub async fn post(&self, spec: &WebhookSpec, id: EventId, body: Bytes) -> Outcome {
        let t = crate::queue::envelope::unix_now();
        let request = hyper::Request::post(spec.url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("sluice/", env!("CARGO_PKG_VERSION")),
            )
            .header("Sluice-Event-Id", id.to_string())
            .header("Sluice-Signature", signature(&spec.secret.0, t, &body))
            .body(Full::new(body));
        let request = match request {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let exchange = async {
            let answer = self
                .http
                .request(request)
                .await
                .map_err(|e| error_chain(&e))?;
            let status = answer.status();
            // Read what the receiver said so the connection goes back to the pool.
            let _ = Limited::new(answer.into_body(), MAX_ANSWER).collect().await;
            Ok::<_, String>(status.as_u16())
        };
        match tokio::time::timeout(spec.timeout, exchange).await {
            Err(_) => Outcome::Timeout,
            Ok(Err(e)) => Outcome::Failed(e),
            Ok(Ok(s)) if (200..300).contains(&s) => Outcome::Delivered(s),
            Ok(Ok(s)) => Outcome::Refused(s),
        }
    }
}

/// An error with its causes, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same digest as Python's `hmac` module (the README's verification snippet).
    #[test]
    fn signatures_are_hmac_sha256_over_time_dot_body() {
        assert_eq!(
            signature(
                b"whsec-test-secret-0123",
                1_700_000_000,
                br#"{"id":"000001-000000000001"}"#
            ),
            "t=1700000000,v1=ef32e406dcaff50d2bce7c9e7914d407431b734d951e48e1e17e2479e22dfdc8"
        );
    }
}
