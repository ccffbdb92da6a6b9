//! The admin HTTP API: the one way operators and their tools reach a running relay.
//!
//! | route | scope | what |
//! | --- | --- | --- |
//! | `GET /healthz` | none | the process answers |
//! | `GET /readyz` | none | listeners bound, spool writable, disk above `spool.min_free_space` |
//! | `GET /metrics` | read | Prometheus text ([`crate::metrics`]) |
//! | `GET /v1/openapi.json` | none | this table as an OpenAPI 3.1 document (`openapi.json`) |
//! | `GET /v1/status` | read | version, config generation, uptime, queue, plugins |
//! | `POST /v1/reload` | admin | reload the config file ([`crate::reload`]) |
//! | `GET /v1/queue`, `GET /v1/queue/{id}` | read | queued messages: state, next attempt, last error; one message's attempts |
//! | `POST /v1/queue/retry`, `POST /v1/queue/{id}/retry` | admin | retry now |
//! | `POST /v1/queue/{id}/hold`, `POST /v1/queue/{id}/release` | admin | keep a waiting message from delivery; let it go |
//! | `DELETE /v1/queue/{id}` | admin | drop a queued message (no DSN) |
//! | `GET /v1/quarantine`, `GET /v1/quarantine/{id}` | read | messages a policy held; one of them |
//! | `DELETE /v1/quarantine/{id}` | admin | drop a held message (no delivery, no DSN) |
//! | `POST /v1/quarantine/{id}/release` | admin | deliver a held message |
//! | `GET /v1/tenants/{tenant}/suppressions`, `…/suppressions/{address}`, `…/suppressions.csv` | read | a tenant's suppression list, one entry, CSV |
//! | `PUT`/`DELETE /v1/tenants/{tenant}/suppressions/{address}`, `POST …/suppressions/import` | admin | add, remove, import CSV |
//! | `/console/…` | session | the admin console in a browser ([`crate::console`]) |
//!
//! Requests carry `Authorization: Bearer TOKEN`; the config keeps only each token's SHA-256
//! (`[[admin.token]]`), with its scope. Tokens are taken from the generation in force, so a
//! reload adds or revokes them. Errors are RFC 9457 problem documents ([`problem`]).

pub mod problem;
pub mod queue;
pub mod suppressions;

use crate::config::resolved::AdminScope;
use crate::server::Relay;
use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use problem::Problem;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Serves the API on `listener` (over TLS when `admin.tls`) for as long as the relay runs.
pub async fn serve(relay: Arc<Relay>, listener: TcpListener) {
    if relay.current().config.admin.tls {
        let app = router(relay.clone());
        return crate::https::serve(relay, listener, app, "admin API").await;
    }
    if let Err(e) = axum::serve(listener, router(relay)).await {
        tracing::error!(error = %e, "the admin API stopped");
    }
}

pub fn router(relay: Arc<Relay>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/status", get(status))
        .route("/v1/reload", post(reload))
        .route("/v1/queue", get(queue::list))
        .route("/v1/queue/retry", post(queue::retry_all))
        .route("/v1/queue/{id}", get(queue::show).delete(queue::delete))
        .route("/v1/queue/{id}/retry", post(queue::retry))
        .route("/v1/queue/{id}/hold", post(queue::hold))
        .route("/v1/queue/{id}/release", post(queue::unhold))
        .route("/v1/quarantine", get(queue::quarantined))
        .route(
            "/v1/quarantine/{id}",
            get(queue::quarantined_one).delete(queue::quarantine_delete),
        )
        .route("/v1/quarantine/{id}/release", post(queue::release))
        // Any tenant's suppression list: `suppressions.rs`.
        .route("/v1/tenants/{tenant}/suppressions", get(suppressions::list))
        .route(
            "/v1/tenants/{tenant}/suppressions.csv",
            get(suppressions::export),
        )
        .route(
            "/v1/tenants/{tenant}/suppressions/import",
            post(suppressions::import).layer(DefaultBodyLimit::max(suppressions::MAX_IMPORT)),
        )
        .route(
            "/v1/tenants/{tenant}/suppressions/{address}",
            get(suppressions::get)
                .put(suppressions::put)
                .delete(suppressions::delete),
        )
        .nest("/console", crate::console::router(relay.clone()))
        .fallback(|| async { Problem::not_found("no such route") })
        .with_state(relay)
}

/// A request whose bearer token has at least the read scope (`Authorized<false>`) or the
/// admin scope (`Authorized<true>`): as a handler's first argument, the handler runs only
/// for such a request, and any other gets the 401/403 problem document.
pub struct Authorized<const ADMIN: bool>;
pub type Read = Authorized<false>;
pub type Admin = Authorized<true>;

impl<const ADMIN: bool> FromRequestParts<Arc<Relay>> for Authorized<ADMIN> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, relay: &Arc<Relay>) -> Result<Self, Problem> {
        let needed = if ADMIN {
            AdminScope::Admin
        } else {
            AdminScope::Read
        };
        authorize(relay, &parts.headers, needed).map(|()| Authorized)
    }
}

/// Checks the bearer token against the tokens of the generation in force.
fn authorize(relay: &Relay, headers: &HeaderMap, needed: AdminScope) -> Result<(), Problem> {
    let digest = bearer_digest(headers, "TOKEN")?;
    let config = relay.current().config.clone();
    let held = config
        .admin
        .tokens
        .iter()
        .find(|t| same_digest(&t.sha256, &digest))
        .ok_or_else(|| Problem::unauthorized("the token is not one of [[admin.token]]"))?;
    if held.scope < needed {
        return Err(Problem::forbidden(format!(
            "token {:?} has scope {:?}; this needs {:?}",
            held.name, held.scope, needed
        ))
        .with("required_scope", format!("{needed:?}").to_ascii_lowercase()));
    }
    Ok(())
}

/// The SHA-256 of the request's `Authorization: Bearer …` credential (the config keeps only
/// digests); 401 naming `what` to send when there is none. Shared with the application API.
pub fn bearer_digest(headers: &HeaderMap, what: &str) -> Result<[u8; 32], Problem> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Problem::unauthorized(format!("send Authorization: Bearer {what}")))?;
    Ok(Sha256::digest(token.as_bytes()).into())
}

/// Compares digests in time independent of where they differ.
pub fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The API described as OpenAPI 3.1. Served without a token: it says what the routes are,
/// nothing about the relay's state. The e2e tests hold every route and answer to it.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    json_document(OPENAPI)
}

/// A static JSON document (an API's OpenAPI description) as the answer.
pub fn json_document(text: &'static str) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        text,
    )
        .into_response()
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(relay): State<Arc<Relay>>) -> Response {
    match relay.ready() {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(reason) => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Not ready", reason).into_response()
        }
    }
}

async fn metrics(_: Read, State(relay): State<Arc<Relay>>) -> Response {
    let m = crate::metrics::get();
    m.queue_depth.set(relay.queue.depth() as i64);
    relay.delivery.shaping_status().await;
    let mut response = m.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn status(_: Read, State(relay): State<Arc<Relay>>) -> Response {
    let shaping = relay.delivery.shaping_status().await;
    let live = relay.current();
    let config = &live.config;
    let labels = live.policies.labels();
    let tenants: Vec<_> = config
        .tenants
        .iter()
        .map(|t| {
            let plugins: Vec<_> = labels
                .get(&t.name)
                .into_iter()
                .flatten()
                .map(|label| {
                    let (name, hash) = label.split_once('#').unwrap_or((label, ""));
                    json!({ "name": name, "hash": hash })
                })
                .collect();
            json!({
                "name": t.name,
                "sender_domains": t.sender_domains,
                "users": t.users.len(),
                "plugins": plugins,
            })
        })
        .collect();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "generation": live.number,
        "config": config.source.as_ref().map(|p| p.display().to_string()),
        "loaded_at": live.loaded_at,
        "uptime_seconds": relay.started.elapsed().as_secs(),
        "ready": relay.ready().is_ok(),
        "listen": config.listen,
        "listen_tls": config.listen_tls,
        "queue": { "depth": relay.queue.depth() },
        "pools": relay.delivery.pools_today(),
        "shaping": shaping,
        "tenants": tenants,
    }))
    .into_response()
}

async fn reload(_: Admin, State(relay): State<Arc<Relay>>) -> Response {
    match relay.reload().await {
        Ok(r) => Json(json!({
            "outcome": "reloaded",
            "generation": r.generation,
            "config": r.config.display().to_string(),
        }))
        .into_response(),
        Err(e) => {
            let restart = e.restart_keys().to_vec();
            let status = if restart.is_empty() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::CONFLICT
            };
            Problem::new(status, "Reload refused", e.to_string())
                .with("outcome", "refused")
                .with("generation", relay.current().number)
                .with("restart_required", restart)
                .into_response()
        }
    }
}
