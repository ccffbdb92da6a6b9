//! Sending over HTTP: `POST /v1/messages` and `POST /v1/messages/batch`.
//!
//! A message takes the path an SMTP message takes ([`crate::submit`]): the tenant must own
//! the sender's domain; the tenant's plugin chain runs its auth, mail, rcpt (once per
//! recipient) and data hooks, as for a session that authenticated; the message goes into
//! the same spool in the same group commit, and `202` with the queue id is answered only
//! after that commit. What the plugins see says where it came from: the session's HELO name
//! is [`HTTP_HELO`] (no SMTP client can give a name with a space), the AUTH user the API
//! key's name, TLS none (TLS ends in front of the API). The Received header says
//! `with HTTP` and names the client's IP and key.
//!
//! | outcome | status |
//! | --- | --- |
//! | queued (some recipients may be refused: `refused`) | 202 `{id, accepted, refused}` |
//! | malformed JSON, wrong types, missing or unknown fields, bad base64, bad addresses, CR/LF in a header | 400 |
//! | the key's tenant does not own the sender's domain | 403 |
//! | `Idempotency-Key` in use by a request still running | 409 |
//! | body over `api.max_body`, message over `server.max_message_size` | 413 |
//! | a content type other than JSON or `message/rfc822` | 415 |
//! | over `server.max_recipients`, every recipient refused, policy rejection, a key reused for another request | 422 |
//! | policy tempfail, low disk, spool failure, shutting down | 503 with `Retry-After` |

use super::compose::{self, EnvelopeRequest, Limits, MessageRequest, Stamp, Submission};
use super::idempotency::Claim;
use super::Sender;
use crate::admin::problem::Problem;
use crate::capability::message::ParsedMessage;
use crate::config::Tenant;
use crate::pipeline::{Decision, HookInput, PipelineRun, Stage, Verdict};
use crate::queue::capture;
use crate::queue::envelope::{unix_now, ApiFields};
use crate::queue::{Envelope, QueueId};
use crate::reload::Generation;
use crate::server::Relay;
use crate::smtp::headers::{Trace, Via};
use crate::smtp::reply::Reply;
use crate::submit::{self, Outcome};
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::SystemTime;

/// The HELO name plugins see for a message sent through the API.
pub const HTTP_HELO: &str = "HTTP API";
/// Seconds a client is told to wait after a temporary refusal.
const RETRY_AFTER: u64 = 60;

pub fn routes() -> Router<Arc<Relay>> {
    Router::new()
        .route("/v1/messages", post(message))
        .route("/v1/messages/batch", post(batch))
}

/// One answer: a status and its JSON body (the 202 document, or a problem document).
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
}

impl From<Problem> for Answer {
    fn from(p: Problem) -> Answer {
        Answer {
            status: p.status,
            body: p.body(),
            retry_after: None,
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let content_type = if self.status.is_success() {
            "application/json"
        } else {
            "application/problem+json"
        };
        let mut r = (self.status, self.body.to_string()).into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

fn try_later(title: &'static str, detail: impl Into<String>) -> Answer {
    Answer {
        retry_after: Some(RETRY_AFTER),
        ..Problem::new(StatusCode::SERVICE_UNAVAILABLE, title, detail).into()
    }
}

/// The problem for a policy's refusal of the whole message: 422 for a rejection, 503 for a
/// tempfail; `smtp_reply` is the reply an SMTP client would have had.
fn policy_refusal(r: &Reply, stage: Stage) -> Answer {
    let stage = format!("{stage:?}").to_ascii_lowercase();
    if r.code >= 500 {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Rejected by policy",
            r.text.to_string(),
        )
        .with("smtp_reply", r.to_string())
        .with("stage", stage)
        .into()
    } else {
        let mut a = try_later("Try again later", r.text.to_string());
        if let Value::Object(o) = &mut a.body {
            o.insert("smtp_reply".into(), r.to_string().into());
            o.insert("stage".into(), stage.into());
        }
        a
    }
}

/// One recipient refused, as the 202 (or 422) document lists it.
fn refusal_json(rcpt: &str, r: &Reply) -> Value {
    json!({
        "rcpt": rcpt,
        "smtp_reply": r.to_string(),
        "temporary": r.code < 500,
    })
}

/// What every message of one request shares.
struct Ctx {
    relay: Arc<Relay>,
    live: Arc<Generation>,
    tenant: Arc<Tenant>,
    key: String,
    client_ip: IpAddr,
}

/// One message's policy transaction.
struct Tx {
    run: Option<PipelineRun>,
    held: Option<Verdict>,
    from: String,
    accepted: Vec<String>,
}

async fn read_body(body: Body, limit: u64) -> Result<bytes::Bytes, Problem> {
    axum::body::to_bytes(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .await
        .map_err(|_| {
            compose::too_large(format!(
                "the request body is over api.max_body ({limit} octets)"
            ))
        })
}

/// The media type of the request, lower-cased, without parameters.
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn unsupported(media: &str, wanted: &str) -> Problem {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported media type",
        format!("Content-Type {media:?}; send {wanted}"),
    )
}

/// JSON into `T`, with a problem naming the place that is wrong.
fn parse_json<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: T = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| json_problem(e.path().to_string(), e.into_inner()))?;
    de.end().map_err(|e| json_problem(".".into(), e))?;
    Ok(parsed)
}

fn parse_value<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| json_problem(e.path().to_string(), e.into_inner()))
}

fn json_problem(path: String, e: serde_json::Error) -> Problem {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => {
            let p = Problem::new(
                StatusCode::BAD_REQUEST,
                "Invalid request",
                if path == "." {
                    e.to_string()
                } else {
                    format!("{path}: {e}")
                },
            );
            if path == "." {
                p
            } else {
                p.with("field", path)
            }
        }
        Category::Syntax | Category::Eof | Category::Io => {
            Problem::new(StatusCode::BAD_REQUEST, "Malformed JSON", e.to_string())
        }
    }
}

fn idempotency_header(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let k = v.to_str().map_err(|_| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "Invalid request",
                    "Idempotency-Key: printable ASCII only",
                )
            })?;
            compose::check_idempotency_key(k)?;
            Ok(Some(k.to_owned()))
        }
    }
}

/// `message/rfc822` with `?from=…&to=…&to=…&tag=…`.
fn raw_request(query: Option<&str>, body: &[u8]) -> Result<MessageRequest, Problem> {
    let bad = |d: String| Problem::new(StatusCode::BAD_REQUEST, "Invalid request", d);
    let (mut from, mut to, mut tags) = (None, Vec::new(), Vec::new());
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*k {
            "from" if from.is_none() => from = Some(v.into_owned()),
            "from" => return Err(bad("from: given twice".into()).with("field", "from")),
            "to" => to.push(v.into_owned()),
            "tag" => tags.push(v.into_owned()),
            other => {
                return Err(bad(format!(
                    "unknown query parameter {other:?} (from, to, tag)"
                )))
            }
        }
    }
    let from = from.ok_or_else(|| {
        bad("from: the query names the envelope sender (?from=…&to=…)".into()).with("field", "from")
    })?;
    Ok(MessageRequest {
        raw: Some(compose::Base64(body.to_vec())),
        envelope: Some(EnvelopeRequest { from, to }),
        tags,
        ..MessageRequest::default()
    })
}

fn digest(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

async fn message(
    State(relay): State<Arc<Relay>>,
    caller: Sender,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let live = relay.current();
    let max_body = live.config.api.max_body;
    let bytes = match read_body(body, max_body).await {
        Ok(b) => b,
        Err(p) => return p.into(),
    };
    let media = media_type(&headers);
    let request = match media.as_str() {
        "message/rfc822" => raw_request(uri.query(), &bytes),
        "application/json" => parse_json::<MessageRequest>(&bytes),
        _ => Err(unsupported(&media, "application/json or message/rfc822")),
    };
    let mut request = match request {
        Ok(r) => r,
        Err(p) => return p.into(),
    };
    let key = match (idempotency_header(&headers), request.idempotency_key.take()) {
        (Err(p), _) => return p.into(),
        (Ok(Some(h)), Some(f)) if h != f => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "the Idempotency-Key header and idempotency_key differ",
            )
            .into()
        }
        (Ok(h), f) => h.or(f),
    };
    // A keyed request is remembered by its digest, to tell a retry from another request.
    let key = key.map(|k| {
        let query = uri.query().unwrap_or("").as_bytes();
        (k, digest(&[media.as_bytes(), query, &bytes]))
    });
    let ctx = Ctx {
        relay,
        live,
        tenant: caller.tenant,
        key: caller.key.name,
        client_ip: peer.ip(),
    };
    // On its own task, so a client that hangs up cannot cut a message off between its spool
    // commit and its idempotency key's record: what was started is finished.
    tokio::spawn(async move { ctx.submit(request, key).await })
        .await
        .unwrap_or_else(|e| Problem::internal(format!("the message's task failed: {e}")).into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    messages: Vec<Value>,
}

async fn batch(
    State(relay): State<Arc<Relay>>,
    caller: Sender,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let live = relay.current();
    let bytes = match read_body(body, live.config.api.max_body).await {
        Ok(b) => b,
        Err(p) => return p.into(),
    };
    let media = media_type(&headers);
    if media != "application/json" {
        return unsupported(&media, "application/json").into();
    }
    if headers.contains_key("idempotency-key") {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "a batch takes no Idempotency-Key header: give each message its own idempotency_key",
        )
        .into();
    }
    let batch = match parse_json::<Batch>(&bytes) {
        Ok(b) => b,
        Err(p) => return p.into(),
    };
    let max = live.config.api.max_batch;
    if batch.messages.len() > max {
        return Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Batch too large",
            format!("{} messages; api.max_batch is {max}", batch.messages.len()),
        )
        .with("max_batch", max)
        .into();
    }
    drop(bytes);
    let ctx = Arc::new(Ctx {
        relay,
        live,
        tenant: caller.tenant,
        key: caller.key.name,
        client_ip: peer.ip(),
    });
    // Each message on its own task: they are answered independently, and their spool
    // appends share group commits.
    let tasks: Vec<_> = batch
        .messages
        .into_iter()
        .map(|item| {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let json = item
                    .get("idempotency_key")
                    .map(|_| serde_json::to_vec(&item));
                match parse_value::<MessageRequest>(item) {
                    Ok(mut r) => {
                        let key = r.idempotency_key.take().map(|k| {
                            let json = json.and_then(Result::ok).unwrap_or_default();
                            (k, digest(&[b"application/json", &json]))
                        });
                        ctx.submit(r, key).await
                    }
                    Err(p) => p.into(),
                }
            })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for t in tasks {
        let answer = t.await.unwrap_or_else(|e| {
            Problem::internal(format!("the message's task failed: {e}")).into()
        });
        let mut body = answer.body;
        if let Value::Object(o) = &mut body {
            o.insert("status".into(), answer.status.as_u16().into());
        }
        results.push(body);
    }
    Answer {
        status: StatusCode::OK,
        body: json!({ "results": results }),
        retry_after: None,
    }
}

impl Ctx {
    /// One message, under its idempotency key (and its request's digest) if it has one.
    async fn submit(&self, request: MessageRequest, key: Option<(String, String)>) -> Answer {
        let Some((key, sha)) = key else {
            return self.process(request, None).await;
        };
        let window = self.live.config.api.idempotency_window;
        match self
            .relay
            .idempotency
            .claim(&self.tenant.name, &key, &sha, window)
        {
            Claim::Replay(body) => Answer {
                status: StatusCode::ACCEPTED,
                body,
                retry_after: None,
            },
            Claim::Mismatch => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Idempotency key reused",
                format!("key {key:?} was used for a different request"),
            )
            .into(),
            Claim::Busy => Problem::conflict(format!(
                "a request with key {key:?} is being handled; retry when it is answered"
            ))
            .into(),
            Claim::Fresh(pending) => {
                let answer = self.process(request, Some((key, sha))).await;
                if answer.status == StatusCode::ACCEPTED {
                    if let Err(e) = pending.record(&answer.body).await {
                        // The message is queued and its envelope holds the key: the next
                        // start learns it from the spool.
                        tracing::error!(error = %e, tenant = %self.tenant.name, "idempotency key not logged");
                    }
                }
                answer
            }
        }
    }

    /// Checks, runs the policy chain and commits one message.
    async fn process(
        &self,
        request: MessageRequest,
        idempotency: Option<(String, String)>,
    ) -> Answer {
        match self.try_process(request, idempotency).await {
            Ok(a) | Err(a) => a,
        }
    }

    async fn try_process(
        &self,
        request: MessageRequest,
        idempotency: Option<(String, String)>,
    ) -> Result<Answer, Answer> {
        if *self.relay.shutdown.borrow() {
            return Err(try_later("Shutting down", "the relay is shutting down"));
        }
        let config = &self.live.config;
        let id = QueueId::generate();
        let now = SystemTime::now();
        let nonce: u32 = rand::random();
        let stamp = Stamp {
            message_id: format!("{id}.{nonce:08x}@{}", config.hostname),
            date: unix_now() as i64,
            postmaster: &config.postmaster,
        };
        let limits = Limits {
            max_message_size: config.limits.max_message_size,
            max_recipients: config.limits.max_recipients,
        };
        let sub: Submission = request.into_submission(&stamp, &limits)?;
        if !sub.from.is_empty() && !self.tenant.owns_sender(&sub.from) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "Sender not allowed",
                format!(
                    "tenant {:?} may not send as {:?} (not in its sender_domains)",
                    self.tenant.name, sub.from
                ),
            )
            .into());
        }
        match self.relay.spool.free_space() {
            Ok(free) if free >= config.spool.min_free_space => {}
            _ => {
                return Err(try_later(
                    "Insufficient storage",
                    "the spool disk is low on space",
                ))
            }
        }

        let pipeline = self.live.policies.for_tenant(&self.tenant.name);
        let mut tx = Tx {
            run: (!pipeline.is_empty()).then(|| pipeline.begin()),
            held: None,
            from: sub.from.clone(),
            accepted: Vec::with_capacity(sub.rcpts.len()),
        };
        for stage in [Stage::Auth, Stage::MailFrom] {
            if let Err(r) = self.hook(&mut tx, stage, None, None, None).await {
                return Err(policy_refusal(&r, stage));
            }
        }
        let mut refused = Vec::new();
        for rcpt in sub.rcpts {
            match self.refusal(&mut tx, &rcpt).await {
                None => tx.accepted.push(rcpt),
                Some(r) => refused.push(refusal_json(&rcpt, &r)),
            }
        }
        if tx.accepted.is_empty() {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Every recipient refused",
                "no recipient was accepted; nothing was queued",
            )
            .with("refused", refused)
            .into());
        }

        let helo = format!("[{}]", self.client_ip);
        let trace = Trace {
            helo: &helo,
            client_ip: self.client_ip,
            hostname: &config.hostname,
            queue_id: &id.0,
            via: Via::Http,
            tls: None,
            auth: Some((&self.key, &self.tenant.name)),
            rcpts: &tx.accepted,
        };
        let message = submit::stamp(
            &trace.received(now),
            &sub.content,
            &id,
            &config.hostname,
            now,
        );
        let eight_bit = sub.content.iter().any(|b| *b >= 0x80);
        // A sample of the tenant's mail, as the client sent it, for `sluice replay`.
        let sample = capture::sample(self.tenant.capture.as_ref(), &sub.content);
        drop(sub.content);
        let parsed = ParsedMessage::new(Arc::new(message));
        let decision = match self
            .hook(&mut tx, Stage::Data, None, Some(&parsed), Some(&id.0))
            .await
        {
            Ok(d) => d,
            Err(r) => return Err(policy_refusal(&r, Stage::Data)),
        };
        let message = parsed.into_raw();
        tx.run = None;
        let accepted = tx.accepted.clone();
        let envelope = Envelope {
            id: id.clone(),
            tenant: self.tenant.name.clone(),
            mail_from: tx.from,
            rcpts: tx.accepted,
            received_at: unix_now(),
            attempts: 0,
            client_ip: self.client_ip.to_string(),
            helo: HTTP_HELO.into(),
            auth_user: Some(self.key.clone()),
            tls: None,
            smtputf8: sub.smtputf8,
            eight_bit,
            tags: Vec::new(),
            dsn: Default::default(),
            require_tls: false,
            delay_notified: false,
            progress: Default::default(),
            api: Some(ApiFields {
                tags: sub.tags,
                metadata: sub.metadata,
                idempotency,
            }),
        };
        match submit::commit(&self.relay, envelope, message, decision, tx.held, sample).await {
            Outcome::Failed(r) => Err(try_later("Not queued", r.text.to_string())),
            Outcome::Queued | Outcome::Quarantined | Outcome::Discarded => Ok(Answer {
                status: StatusCode::ACCEPTED,
                body: json!({ "id": id.0, "accepted": accepted, "refused": refused }),
                retry_after: None,
            }),
        }
    }

    /// Whether `rcpt` is refused, and with which reply. The one place the API decides a
    /// recipient's fate: what refuses a single recipient (a policy's rcpt hook; a
    /// suppression list) goes here, and the others of the message still go.
    async fn refusal(&self, tx: &mut Tx, rcpt: &str) -> Option<Reply> {
        // A recipient on the tenant's suppression list is refused with the reply SMTP gives,
        // before any plugin runs for it; it shows in the 202's `refused`, or in the 422 when
        // no recipient is left.
        match self
            .relay
            .suppressions
            .enforce(&self.tenant.name, rcpt, "http")
            .await
        {
            Ok(None) => {}
            Ok(Some(entry)) => {
                return Some(sluice_wire::reply::suppressed(
                    rcpt,
                    entry.reason.name(),
                    &entry.since(),
                ))
            }
            Err(_) => return Some(sluice_wire::reply::SUPPRESSIONS_UNAVAILABLE),
        }
        self.hook(tx, Stage::RcptTo, Some(rcpt), None, None)
            .await
            .err()
    }

    /// Runs one stage of the tenant's chain, as an SMTP session would.
    async fn hook(
        &self,
        tx: &mut Tx,
        stage: Stage,
        rcpt: Option<&str>,
        message: Option<&Arc<ParsedMessage>>,
        queue_id: Option<&str>,
    ) -> Result<Decision, Reply> {
        let Some(run) = tx.run.as_mut() else {
            return Ok(Decision::proceed());
        };
        let input = HookInput {
            stage,
            client_ip: self.client_ip,
            helo: HTTP_HELO,
            tenant: &self.tenant.name,
            auth_user: Some(&self.key),
            tls: None,
            mail_from: (stage != Stage::Auth).then_some(tx.from.as_str()),
            rcpts: &tx.accepted,
            rcpt,
            message,
            queue_id,
        };
        submit::run_stage(run, &input, &mut tx.held).await
    }
}
