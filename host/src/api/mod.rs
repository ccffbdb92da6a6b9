//! The application API: what a tenant's applications use next to SMTP.
//!
//! | route | scope | what |
//! | --- | --- | --- |
//! | `GET /v1/openapi.json` | none | this API as an OpenAPI 3.1 document (`openapi.json`) |
//! | `GET /v1/key` | any | the tenant and scopes of the key presented |
//! | `GET /v1/events` | events | the tenant's events, cursor-paged ([`events`]) |
//! | `GET /v1/suppressions` | suppressions | the tenant's suppression list, paged (`reason`, `cursor`, `limit`) |
//! | `GET/PUT/DELETE /v1/suppressions/{address}` | suppressions | one entry: look, add or replace, remove |
//! | `GET /v1/suppressions.csv`, `POST /v1/suppressions/import` | suppressions | the list as CSV, out and in |
//! | `POST /v1/complaints` | suppressions | a feedback report (ARF): a `complained` event and a suppression |
//! | `POST /v1/messages` | send | send one message ([`send`]) |
//! | `POST /v1/messages/batch` | send | send up to `api.max_batch` messages, each answered on its own |
//!
//! Requests carry `Authorization: Bearer KEY`, one of the tenant's `[[tenant.api_key]]`
//! (the config keeps only its SHA-256, with its scopes; `sluice api key` makes one). The key
//! decides the tenant: nothing in a request can name another tenant. Keys are taken from the
//! generation in force, so a reload adds or revokes them. Errors are RFC 9457 problem
//! documents.

pub mod events;
pub mod suppressions;

use crate::admin::problem::Problem;
use crate::config::resolved::{ApiKey, ApiScope, Tenant};
use crate::server::Relay;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;
use tokio::net::TcpListener;

pub mod compose;
pub mod idempotency;
pub mod send;

/// Serves the API on `listener` (over TLS when `api.tls`) for as long as the relay runs.
pub async fn serve(relay: Arc<Relay>, listener: TcpListener) {
    let config = relay.current().config.clone();
    if config.api.tls {
        let app = router(relay.clone());
        return crate::https::serve(relay, listener, app, "application API").await;
    }
    if let Some(addr) = config.api.listen.filter(|a| !a.ip().is_loopback()) {
        tracing::warn!(%addr, "the application API listens beyond loopback without TLS (`api.tls`): keys cross the network in clear unless a TLS proxy sits in front");
    }
    let app = router(relay).into_make_service_with_connect_info::<std::net::SocketAddr>();
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the application API stopped");
    }
}

pub fn router(relay: Arc<Relay>) -> Router {
    let max_body = relay.current().config.api.max_body;
    Router::new()
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/key", get(key))
        // ---- Events ----
        .route("/v1/events", get(events::list))
        // Suppression lists and complaints (scope `suppressions`): `suppressions.rs`.
        .route("/v1/suppressions", get(suppressions::list))
        .route("/v1/suppressions.csv", get(suppressions::export))
        .route("/v1/suppressions/import", post(suppressions::import))
        .route(
            "/v1/suppressions/{address}",
            get(suppressions::get)
                .put(suppressions::put)
                .delete(suppressions::delete),
        )
        .route("/v1/complaints", post(suppressions::complaint))
        .merge(send::routes())
        .fallback(|| async { Problem::not_found("no such route") })
        .layer(DefaultBodyLimit::max(
            usize::try_from(max_body).unwrap_or(usize::MAX),
        ))
        .with_state(relay)
}

/// A request made with one of a tenant's keys. As a handler's first argument, the handler
/// runs only for a key that exists in the generation in force and holds scope `S`
/// ([`SEND`], [`EVENTS`], [`SUPPRESSIONS`], or [`ANY`]); any other request gets the 401/403
/// problem document.
pub struct Caller<const S: u8> {
    pub tenant: Arc<Tenant>,
    pub key: ApiKey,
}

pub const ANY: u8 = 0;
pub const SEND: u8 = 1;
pub const EVENTS: u8 = 2;
pub const SUPPRESSIONS: u8 = 3;

/// A caller that may send mail.
pub type Sender = Caller<SEND>;
/// A caller that may read events.
pub type EventReader = Caller<EVENTS>;
/// A caller that may list, add and remove suppressions.
pub type SuppressionManager = Caller<SUPPRESSIONS>;

fn scope_of(s: u8) -> Option<ApiScope> {
    match s {
        SEND => Some(ApiScope::Send),
        EVENTS => Some(ApiScope::Events),
        SUPPRESSIONS => Some(ApiScope::Suppressions),
        _ => None,
    }
}

impl<const S: u8> FromRequestParts<Arc<Relay>> for Caller<S> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, relay: &Arc<Relay>) -> Result<Self, Problem> {
        let (tenant, key) = identify(relay, &parts.headers)?;
        if let Some(needed) = scope_of(S) {
            if !key.scopes.contains(&needed) {
                return Err(Problem::forbidden(format!(
                    "key {:?} of tenant {:?} lacks the {:?} scope",
                    key.name,
                    tenant.name,
                    needed.name()
                ))
                .with("required_scope", needed.name()));
            }
        }
        Ok(Caller { tenant, key })
    }
}

/// Finds the tenant whose key the bearer token is.
fn identify(relay: &Relay, headers: &HeaderMap) -> Result<(Arc<Tenant>, ApiKey), Problem> {
    let digest = crate::admin::bearer_digest(headers, "KEY")?;
    let config = relay.current().config.clone();
    config
        .tenants
        .iter()
        .find_map(|t| {
            t.api_keys
                .iter()
                .find(|k| crate::admin::same_digest(&k.sha256, &digest))
                .map(|k| (t.clone(), k.clone()))
        })
        .ok_or_else(|| {
            Problem::unauthorized("the key is not one of any tenant's [[tenant.api_key]]")
        })
}

/// The API described as OpenAPI 3.1, served without a key.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    crate::admin::json_document(OPENAPI)
}

async fn key(caller: Caller<ANY>) -> Json<serde_json::Value> {
    let scopes: Vec<_> = caller.key.scopes.iter().map(|s| s.name()).collect();
    Json(json!({
        "tenant": caller.tenant.name,
        "key": caller.key.name,
        "scopes": scopes,
    }))
}
