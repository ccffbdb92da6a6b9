//! The suppression routes' work, shared by the application API (a tenant's key picks the
//! tenant) and the admin API (the operator names the tenant in the path): each function takes
//! the lists, the tenant and the request's parts and gives the whole answer. Errors are RFC
//! 9457 problem documents: 400 for a malformed request, 415 for a body of another type, 422
//! for an address, reason, time or CSV row that does not hold, 404 for an address not listed,
//! 409 when the tenant's list is full, 503 when the change could not be written to disk.

use super::{address, complaint, parse_time, Applied, Entry, Reason, StoreError, Suppressions};
use crate::admin::problem::Problem;
use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

/// Entries per page unless `limit` says otherwise, and the most `limit` may ask for.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "Bad request", detail)
}

fn unprocessable(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid value", detail)
}

fn unsupported(expected: &str) -> Problem {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported media type",
        format!("send the body as {expected}"),
    )
}

fn not_written(e: StoreError) -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Not written",
        e.to_string(),
    )
}

fn full(s: &Suppressions, tenant: &str) -> Problem {
    let max = s.max_per_tenant();
    Problem::conflict(format!(
        "tenant {tenant:?}'s suppression list is full ({max} entries, [suppressions] max_per_tenant): remove entries first"
    ))
    .with("max_per_tenant", max)
}

/// The media type of a request body, lower-case, without parameters ("" when absent).
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn parse_address(text: &str) -> Result<String, Problem> {
    address::normalize(text).map_err(|e| unprocessable(e.to_string()))
}

fn parse_reason(text: &str) -> Result<Reason, Problem> {
    Reason::parse(text).ok_or_else(|| {
        unprocessable(format!(
            "unknown reason {text:?} (one of {})",
            Reason::ALL.map(Reason::name).join(", ")
        ))
        .with("reasons", Reason::ALL.map(Reason::name).to_vec())
    })
}

/// `GET …/suppressions?reason=R&cursor=C&limit=N`: one page in address order.
pub async fn list(s: &Suppressions, tenant: &str, query: &HashMap<String, String>) -> Response {
    match page(s, tenant, query).await {
        Ok(v) => Json(v).into_response(),
        Err(p) => p.into_response(),
    }
}

async fn page(
    s: &Suppressions,
    tenant: &str,
    query: &HashMap<String, String>,
) -> Result<serde_json::Value, Problem> {
    if let Some(k) = query
        .keys()
        .find(|k| !matches!(k.as_str(), "reason" | "cursor" | "limit"))
    {
        return Err(bad_request(format!(
            "unknown query parameter {k:?} (reason, cursor, limit)"
        )));
    }
    let reason = query.get("reason").map(|r| parse_reason(r)).transpose()?;
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(bad_request(format!(
                    "limit {l:?} is not a number from 1 to {MAX_LIMIT}"
                )))
            }
        },
    };
    let after = match query.get("cursor") {
        None => None,
        Some(c) => Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    bad_request("cursor is not one this API gave (use next_cursor as it is)")
                })?,
        ),
    };
    let page = s.list(tenant, reason, after.as_deref(), limit).await;
    let next = page
        .next
        .map(|a| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(a));
    let entries: Vec<_> = page.entries.iter().map(Entry::to_json).collect();
    Ok(json!({
        "tenant": tenant,
        "count": entries.len(),
        "total": s.count(tenant).await,
        "suppressions": entries,
        "next_cursor": next,
    }))
}

/// `GET …/suppressions/{address}`.
pub async fn get(s: &Suppressions, tenant: &str, address: &str) -> Response {
    let key = match parse_address(address) {
        Ok(k) => k,
        Err(p) => return p.into_response(),
    };
    match s.check(tenant, &key).await {
        Ok(Some(e)) => Json(e.to_json()).into_response(),
        Ok(None) => not_listed(tenant, &key).into_response(),
        Err(e) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            format!("the shared suppression list: {e}"),
        )
        .into_response(),
    }
}

fn not_listed(tenant: &str, address: &str) -> Problem {
    Problem::not_found(format!(
        "{address} is not on tenant {tenant:?}'s suppression list"
    ))
}

/// The body of a PUT: every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    reason: Option<String>,
    detail: Option<String>,
    /// RFC 3339, or seconds since the epoch.
    expires_at: Option<serde_json::Value>,
}

/// `PUT …/suppressions/{address}` with an optional JSON body `{reason, detail, expires_at}`
/// (default reason `manual`): adds the address, or replaces its entry. 201 when it is new,
/// 200 when it replaced one.
pub async fn put(
    s: &Suppressions,
    tenant: &str,
    address: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let entry = match put_entry(address, headers, body) {
        Ok(e) => e,
        Err(p) => return p.into_response(),
    };
    let json = entry.to_json();
    match s.add(tenant, vec![entry], true).await {
        Ok(a) if a == [Applied::Added] => (StatusCode::CREATED, Json(json)).into_response(),
        Ok(a) if a == [Applied::Full] => full(s, tenant).into_response(),
        Ok(_) => Json(json).into_response(),
        Err(e) => not_written(e).into_response(),
    }
}

fn put_entry(address: &str, headers: &HeaderMap, body: &Bytes) -> Result<Entry, Problem> {
    let key = parse_address(address)?;
    let fields: PutBody = if body.iter().all(u8::is_ascii_whitespace) {
        PutBody::default()
    } else {
        if media_type(headers) != "application/json" {
            return Err(unsupported("application/json"));
        }
        serde_json::from_slice(body).map_err(|e| bad_request(format!("the JSON body: {e}")))?
    };
    let reason = match fields.reason.as_deref() {
        None => Reason::Manual,
        Some(r) => parse_reason(r)?,
    };
    let mut entry = Entry::new(key, reason, fields.detail);
    entry.expires_at =
        match &fields.expires_at {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => Some(n.as_u64().ok_or_else(|| {
                unprocessable(format!("expires_at {n} is not seconds since the epoch"))
            })?),
            Some(serde_json::Value::String(t)) => Some(parse_time(t).ok_or_else(|| {
                unprocessable(format!("expires_at {t:?} is not an RFC 3339 time"))
            })?),
            Some(other) => {
                return Err(unprocessable(format!(
                    "expires_at {other} is not an RFC 3339 time"
                )))
            }
        };
    Ok(entry)
}

/// `DELETE …/suppressions/{address}`.
pub async fn delete(s: &Suppressions, tenant: &str, address: &str) -> Response {
    let key = match parse_address(address) {
        Ok(k) => k,
        Err(p) => return p.into_response(),
    };
    match s.remove(tenant, &key).await {
        Ok(true) => Json(json!({ "removed": key })).into_response(),
        Ok(false) => not_listed(tenant, &key).into_response(),
        Err(e) => not_written(e).into_response(),
    }
}

/// `GET …/suppressions.csv`: the whole list.
pub async fn export(s: &Suppressions, tenant: &str) -> Response {
    let page = s.list(tenant, None, None, usize::MAX).await;
    let mut response = super::csv::export(&page.entries).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"suppressions.csv\""),
    );
    response
}

/// `POST …/suppressions/import` (`text/csv`): every row added (an entry already there is
/// replaced), or none when a row is bad (422, each bad row named) or the list would pass its
/// bound (409).
pub async fn import(s: &Suppressions, tenant: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    if !matches!(media_type(headers).as_str(), "text/csv" | "application/csv") {
        return unsupported("text/csv").into_response();
    }
    let max = s.max_per_tenant();
    let entries = match super::csv::import(body, crate::queue::envelope::unix_now(), max) {
        Ok(e) => e,
        Err(rows) => {
            let lines: Vec<String> = rows.iter().map(ToString::to_string).collect();
            return unprocessable(format!(
                "the CSV has {} bad row(s); nothing was imported: {}",
                rows.len(),
                lines.join("; ")
            ))
            .with(
                "errors",
                rows.iter()
                    .map(|r| json!({ "line": r.line, "message": r.message }))
                    .collect::<Vec<_>>(),
            )
            .into_response();
        }
    };
    if !s.room_for(tenant, &entries).await {
        return full(s, tenant).with("rows", entries.len()).into_response();
    }
    let rows = entries.len();
    match s.add(tenant, entries, true).await {
        Ok(applied) => {
            let n = |which: Applied| applied.iter().filter(|a| **a == which).count();
            Json(json!({
                "imported": rows,
                "added": n(Applied::Added),
                "replaced": n(Applied::Replaced),
                "refused_full": n(Applied::Full),
            }))
            .into_response()
        }
        Err(e) => not_written(e).into_response(),
    }
}

/// `POST /v1/complaints`: a feedback report about `tenant`'s mail, as a whole ARF message
/// (`message/rfc822`) or its `message/feedback-report` part alone.
pub async fn complaint(
    s: &Suppressions,
    tenant: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let report = match media_type(headers).as_str() {
        "message/rfc822" => complaint::parse(body),
        "message/feedback-report" => complaint::parse_fields(body),
        _ => return unsupported("message/rfc822 or message/feedback-report").into_response(),
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            return unprocessable(format!("not a feedback report (RFC 5965): {e}")).into_response()
        }
    };
    match s.complaint(tenant, &report, "http").await {
        Ok(added) => Json(json!({
            "tenant": tenant,
            "feedback_type": report.feedback_type,
            "recipients": report.recipients,
            "suppressed": added,
            "queue_id": report.queue_id,
        }))
        .into_response(),
        Err(e) => not_written(e).into_response(),
    }
}
