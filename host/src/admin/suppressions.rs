//! The admin API's suppression routes: any tenant's list, named in the path, for operators and
//! `sluice suppression` (read scope to look, admin scope to change). The work is in
//! [`crate::suppress::http`], shared with the application API.

use super::problem::Problem;
use super::{Admin, Read};
use crate::api::suppressions::{bad_body, bad_path, bad_query};
use crate::server::Relay;
use crate::suppress::http;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;

/// The largest CSV an import takes here (the admin API has no `max_body` of its own).
pub const MAX_IMPORT: usize = 64 << 20;

/// The tenant named in the path, if the configuration in force has it.
fn tenant(relay: &Relay, name: &str) -> Result<String, Problem> {
    let config = relay.current().config.clone();
    match config.tenants.iter().find(|t| t.name == name) {
        Some(t) => Ok(t.name.clone()),
        None => Err(Problem::not_found(format!(
            "no tenant {name:?} in the configuration"
        ))),
    }
}

pub async fn list(
    _: Read,
    State(relay): State<Arc<Relay>>,
    name: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let (name, query) = match (name, query) {
        (Ok(Path(n)), Ok(Query(q))) => (n, q),
        (Err(e), _) => return bad_path(e),
        (_, Err(e)) => return bad_query(e),
    };
    match tenant(&relay, &name) {
        Ok(t) => http::list(&relay.suppressions, &t, &query).await,
        Err(p) => p.into_response(),
    }
}

pub async fn get(
    _: Read,
    State(relay): State<Arc<Relay>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let Path((name, address)) = match path {
        Ok(p) => p,
        Err(e) => return bad_path(e),
    };
    match tenant(&relay, &name) {
        Ok(t) => http::get(&relay.suppressions, &t, &address).await,
        Err(p) => p.into_response(),
    }
}

pub async fn put(
    _: Admin,
    State(relay): State<Arc<Relay>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (Path((name, address)), body) = match (path, body) {
        (Ok(p), Ok(b)) => (p, b),
        (Err(e), _) => return bad_path(e),
        (_, Err(e)) => return bad_body(e),
    };
    match tenant(&relay, &name) {
        Ok(t) => http::put(&relay.suppressions, &t, &address, &headers, &body).await,
        Err(p) => p.into_response(),
    }
}

pub async fn delete(
    _: Admin,
    State(relay): State<Arc<Relay>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let Path((name, address)) = match path {
        Ok(p) => p,
        Err(e) => return bad_path(e),
    };
    match tenant(&relay, &name) {
        Ok(t) => http::delete(&relay.suppressions, &t, &address).await,
        Err(p) => p.into_response(),
    }
}

pub async fn export(
    _: Read,
    State(relay): State<Arc<Relay>>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    let name = match name {
        Ok(Path(n)) => n,
        Err(e) => return bad_path(e),
    };
    match tenant(&relay, &name) {
        Ok(t) => http::export(&relay.suppressions, &t).await,
        Err(p) => p.into_response(),
    }
}

pub async fn import(
    _: Admin,
    State(relay): State<Arc<Relay>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (name, body) = match (name, body) {
        (Ok(Path(n)), Ok(b)) => (n, b),
        (Err(e), _) => return bad_path(e),
        (_, Err(e)) => return bad_body(e),
    };
    match tenant(&relay, &name) {
        Ok(t) => http::import(&relay.suppressions, &t, &headers, &body).await,
        Err(p) => p.into_response(),
    }
}
