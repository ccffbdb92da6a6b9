//! The admin console: HTML pages served by the relay under `/console` on the admin
//! listener, rendered on the server (maud escapes every value), with charts drawn as inline
//! SVG and one small script, the event tail's.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /console/login`, `POST /console/login`, `POST /console/logout` | an admin token for a session cookie ([`session`]) |
//! | `GET /console` | the overview: outcomes per minute, queue by state, spool commit latency, plugin failures, open breakers ([`overview`]) |
//! | `GET /console/queue`, `GET /console/queue/{id}`, `POST /console/queue/{id}/{action}` | filtered list; one message; retry, hold, release, delete ([`queue`]) |
//! | `GET /console/quarantine`, `GET /console/quarantine/{id}`, `POST /console/quarantine` | held messages, why, the message rendered safely; release or delete one or many ([`quarantine`]) |
//! | `GET /console/tenants` | each tenant's chain: hashes, instance mode, verdicts (shadow ones apart), latency, failures, breakers; its limits and how close it is ([`tenants`]) |
//! | `GET /console/suppressions`, `POST /console/suppressions` | search a tenant's suppression list; add, remove ([`suppressions`]) |
//! | `GET /console/events`, `GET /console/events/feed` | the event tail, and the JSON its script polls ([`events`]) |
//! | `GET /console/static/console.css` | the one stylesheet |
//!
//! Every answer carries a strict Content-Security-Policy ([`CSP`]): nothing loads from
//! elsewhere, no script runs (but the event tail's, named by a nonce in that page's own
//! policy), and forms post only here. A read-only token sees every page
//! without the action buttons, and its POSTs are refused with 403; every POST needs the
//! session's CSRF token, and the login form its own ([`session::LOGIN_COOKIE`]). Actions go
//! through the APIs' own handlers ([`crate::admin::queue`], [`crate::suppress::http`]), so
//! the console and the APIs cannot disagree on what they do.

pub mod chart;
pub mod destinations;
pub mod events;
pub mod layout;
pub mod message;
pub mod overview;
pub mod quarantine;
pub mod queue;
pub mod series;
pub mod session;
pub mod suppressions;
pub mod tenants;

use crate::server::Relay;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use session::{Sessions, Viewer};
use std::collections::HashMap;
use std::sync::Arc;

/// The policy on every console answer. `frame-src 'self'` is not needed: the message frame
/// is a sandboxed `srcdoc`, which inherits this policy (no script, no remote image).
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the console's handlers share.
#[derive(Clone)]
pub struct Console {
    pub relay: Arc<Relay>,
    pub sessions: Arc<Sessions>,
}

impl Console {
    /// The configured tenants' names, for the pages' tenant filters.
    pub fn tenant_names(&self) -> Vec<String> {
        let live = self.relay.current();
        live.config.tenants.iter().map(|t| t.name.clone()).collect()
    }
}

/// The console's routes, to be nested under `/console` in the admin router.
pub fn router<S>(relay: Arc<Relay>) -> Router<S> {
    let console = Console {
        relay,
        sessions: Arc::default(),
    };
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/queue", get(queue::list))
        .route("/queue/{id}", get(queue::show))
        .route("/queue/{id}/{action}", post(queue::act))
        .route("/quarantine", get(quarantine::list).post(quarantine::act))
        .route("/quarantine/{id}", get(quarantine::show))
        .route("/tenants", get(tenants::page))
        .route(
            "/suppressions",
            get(suppressions::list).post(suppressions::act),
        )
        .route("/events", get(events::tail))
        .route("/events/feed", get(events::feed))
        .route("/static/console.css", get(stylesheet))
        .fallback(|| async { layout::error(StatusCode::NOT_FOUND, "No such page.") })
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

/// The headers every answer gets: the policy (unless the page set a stricter one of its
/// own: [`CSP`] plus its script's nonce), no sniffing, no caching, no referrer.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("console.css"),
    )
        .into_response()
}

/// `GET /console/login`: the form, with a fresh CSRF token in it and in its cookie.
async fn login_page(State(c): State<Console>) -> Response {
    login_form(c.relay.current().config.admin.tls, None)
}

/// The login page with a new CSRF token (`failed`: why the last try did not work).
fn login_form(tls: bool, failed: Option<&str>) -> Response {
    let csrf = session::random_token();
    let mut response = layout::login(tls, &csrf, failed);
    if let Ok(v) = HeaderValue::from_str(&session::login_cookie(Some(&csrf), tls)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// A form body's fields; a repeated field keeps every value (`ids`).
pub struct Form(HashMap<String, Vec<String>>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        let mut fields: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            fields
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }
        Form(fields)
    }

    pub fn get(&self, name: &str) -> &str {
        self.0
            .get(name)
            .and_then(|v| v.first())
            .map_or("", String::as_str)
    }

    pub fn all(&self, name: &str) -> &[String] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }
}

/// A state-changing form from `viewer`: its fields when the session may change things and
/// the form carries the session's CSRF token, else the 403 page.
pub fn change(viewer: &Viewer, body: &[u8]) -> Result<Form, Refused> {
    if !viewer.admin {
        return Err(Refused(
            "This token may look but not change anything (scope read).",
        ));
    }
    checked(viewer, body)
}

/// A form refused (403), with what the page says.
pub struct Refused(&'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        layout::error(StatusCode::FORBIDDEN, self.0)
    }
}

/// A form from `viewer` carrying the session's CSRF token, else the 403 page.
fn checked(viewer: &Viewer, body: &[u8]) -> Result<Form, Refused> {
    let form = Form::parse(body);
    if !viewer.csrf_matches(form.get("csrf")) {
        return Err(Refused(
            "The form's CSRF token is missing or wrong: reload the page and try again.",
        ));
    }
    Ok(form)
}

async fn login(State(c): State<Console>, headers: HeaderMap, body: Bytes) -> Response {
    let config = c.relay.current().config.clone();
    let tls = config.admin.tls;
    let form = Form::parse(&body);
    if !session::login_csrf_matches(&headers, form.get("csrf")) {
        let mut response = login_form(
            tls,
            Some("The login form's CSRF token is missing or wrong: log in from this form."),
        );
        *response.status_mut() = StatusCode::FORBIDDEN;
        return response;
    }
    let Some(token) = session::check_token(&config, form.get("token")) else {
        return login_form(
            tls,
            Some("That is not one of the relay's admin tokens ([[admin.token]])."),
        );
    };
    let id = c.sessions.create(token);
    let name = session::token_by_digest(&config, &token)
        .map(|(n, _)| n)
        .unwrap_or_default();
    tracing::info!(token = %name, "admin console login");
    let mut response = Redirect::to("/console").into_response();
    for cookie in [
        session::cookie(Some(&id), tls),
        session::login_cookie(None, tls),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

async fn logout(viewer: Viewer, State(c): State<Console>, body: Bytes) -> Response {
    if let Err(refused) = checked(&viewer, &body) {
        return refused.into_response();
    }
    c.sessions.end(&viewer.id);
    let mut response = Redirect::to("/console/login").into_response();
    let tls = c.relay.current().config.admin.tls;
    if let Ok(v) = HeaderValue::from_str(&session::cookie(None, tls)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// What an admin API handler answered: its JSON on success, else its problem's detail.
pub async fn outcome(response: Response) -> Result<serde_json::Value, String> {
    let ok = response.status().is_success();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .map_err(|e| e.to_string())?;
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if ok {
        Ok(value)
    } else {
        Err(value["detail"]
            .as_str()
            .unwrap_or("the action failed")
            .to_owned())
    }
}

/// The admin scope, for calling the API's handlers once [`change`] has checked the session.
pub const AS_ADMIN: crate::admin::Admin = crate::admin::Authorized;
