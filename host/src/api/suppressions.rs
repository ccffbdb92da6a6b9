//! The application API's suppression and complaint routes: the calling key's tenant's list
//! (scope `suppressions`). The work is in [`crate::suppress::http`], shared with the admin API.

use super::SuppressionManager;
use crate::admin::problem::Problem;
use crate::server::Relay;
use crate::suppress::http;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;

/// A path, query or body axum could not read, as a problem document.
pub fn rejected(status: StatusCode, detail: String) -> Response {
    Problem::new(status, "Bad request", detail).into_response()
}

pub fn bad_path(e: PathRejection) -> Response {
    rejected(StatusCode::BAD_REQUEST, e.body_text())
}

pub fn bad_query(e: QueryRejection) -> Response {
    rejected(StatusCode::BAD_REQUEST, e.body_text())
}

pub fn bad_body(e: BytesRejection) -> Response {
    let status = e.status();
    let title = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "Body too large"
    } else {
        "Bad request"
    };
    Problem::new(status, title, e.body_text()).into_response()
}

pub async fn list(
    caller: SuppressionManager,
    State(relay): State<Arc<Relay>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    match query {
        Ok(Query(q)) => http::list(&relay.suppressions, &caller.tenant.name, &q).await,
        Err(e) => bad_query(e),
    }
}

pub async fn get(
    caller: SuppressionManager,
    State(relay): State<Arc<Relay>>,
    address: Result<Path<String>, PathRejection>,
) -> Response {
    match address {
        Ok(Path(a)) => http::get(&relay.suppressions, &caller.tenant.name, &a).await,
        Err(e) => bad_path(e),
    }
}

pub async fn put(
    caller: SuppressionManager,
    State(relay): State<Arc<Relay>>,
    address: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match (address, body) {
        (Ok(Path(a)), Ok(b)) => {
            http::put(&relay.suppressions, &caller.tenant.name, &a, &headers, &b).await
        }
        (Err(e), _) => bad_path(e),
        (_, Err(e)) => bad_body(e),
    }
}

pub async fn delete(
    caller: SuppressionManager,
    State(relay): State<Arc<Relay>>,
    address: Result<Path<String>, PathRejection>,
) -> Response {
    match address {
        Ok(Path(a)) => http::delete(&relay.suppressions, &caller.tenant.name, &a).await,
        Err(e) => bad_path(e),
    }
}

pub async fn export(caller: SuppressionManager, State(relay): State<Arc<Relay>>) -> Response {
    http::export(&relay.suppressions, &caller.tenant.name).await
}

pub async fn import(
    caller: SuppressionManager,
    State(relay): State<Arc<Relay>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match body {
        Ok(b) => http::import(&relay.suppressions, &caller.tenant.name, &headers, &b).await,
        Err(e) => bad_body(e),
    }
}

pub async fn complaint(
    caller: SuppressionManager,
    State(relay): State<Arc<Relay>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match body {
        Ok(b) => http::complaint(&relay.suppressions, &caller.tenant.name, &headers, &b).await,
        Err(e) => bad_body(e),
    }
}
