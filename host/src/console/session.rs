//! Console sessions: an admin token (`[[admin.token]]`) exchanged at the login form for a
//! random session id in a cookie (HttpOnly, SameSite=Strict, Path=/console, Secure when
//! `admin.tls`). Sessions live in memory only (a restart logs everyone out), end at logout,
//! after [`IDLE`] without a request or [`LIFETIME`] after login, and whenever the token they
//! came from is no longer in the config (a reload revokes them). Each session has its own
//! CSRF token, which every state-changing form carries. The login form has one too (login
//! CSRF: another site must not log a browser into a session of its choosing), kept in a
//! cookie of its own ([`LOGIN_COOKIE`]) until the login, since there is no session yet.

use super::Console;
use crate::config::resolved::AdminScope;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie's name.
pub const COOKIE: &str = "sluice_console";
/// The cookie holding the login form's CSRF token.
pub const LOGIN_COOKIE: &str = "sluice_console_login";
/// A session ends this long after login, however busy.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(3600);
/// Sessions kept at once; past it the oldest is ended (a bound on memory, not a limit an
/// operator should meet).
const MAX_SESSIONS: usize = 1024;

/// One logged-in browser.
struct Session {
    /// The SHA-256 of the token it logged in with, checked against the config on each use.
    token: [u8; 32],
    csrf: String,
    created: Instant,
    last_seen: Instant,
    /// What the last action did, shown once on the next page.
    flash: Option<Flash>,
}

/// The outcome of an action, shown once at the top of the next page.
#[derive(Debug, Clone)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

/// Every session, keyed by the SHA-256 of its id (so the map never holds a usable id).
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

/// A random URL-safe token of 32 bytes.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session for a token already checked; returns its id (the cookie's value).
    pub fn create(&self, token_sha256: [u8; 32]) -> String {
        let id = random_token();
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| alive(s, now));
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(
            digest(&id),
            Session {
                token: token_sha256,
                csrf: random_token(),
                created: now,
                last_seen: now,
                flash: None,
            },
        );
        id
    }

    pub fn end(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    /// Sets the message the next page shows.
    pub fn flash(&self, id: &str, ok: bool, text: impl Into<String>) {
        if let Some(s) = self.lock().get_mut(&digest(id)) {
            s.flash = Some(Flash {
                ok,
                text: text.into(),
            });
        }
    }

    pub fn take_flash(&self, id: &str) -> Option<Flash> {
        self.lock().get_mut(&digest(id))?.flash.take()
    }

    /// The live session with this id (its idle clock restarted): its token's digest and
    /// CSRF token.
    fn touch(&self, id: &str) -> Option<([u8; 32], String)> {
        let now = Instant::now();
        let mut map = self.lock();
        let key = digest(id);
        let s = map.get_mut(&key)?;
        if !alive(s, now) {
            map.remove(&key);
            return None;
        }
        s.last_seen = now;
        Some((s.token, s.csrf.clone()))
    }
}

fn alive(s: &Session, now: Instant) -> bool {
    now.duration_since(s.created) < LIFETIME && now.duration_since(s.last_seen) < IDLE
}

/// The token of `[[admin.token]]` whose digest is `sha256`: its name and scope.
pub fn token_by_digest(
    config: &crate::config::Config,
    sha256: &[u8; 32],
) -> Option<(String, AdminScope)> {
    config
        .admin
        .tokens
        .iter()
        .find(|t| crate::admin::same_digest(&t.sha256, sha256))
        .map(|t| (t.name.clone(), t.scope))
}

/// The SHA-256 of a token typed at the login form, if it is one of `[[admin.token]]`.
pub fn check_token(config: &crate::config::Config, token: &str) -> Option<[u8; 32]> {
    let sha256 = digest(token.trim());
    token_by_digest(config, &sha256).map(|_| sha256)
}

/// The `Set-Cookie` value that starts a session (`id`) or, with `None`, ends it.
pub fn cookie(id: Option<&str>, secure: bool) -> String {
    set_cookie(COOKIE, id, secure)
}

/// The `Set-Cookie` value that gives a login form's CSRF token (`token`) or, with `None`,
/// drops it (once logged in).
pub fn login_cookie(token: Option<&str>, secure: bool) -> String {
    set_cookie(LOGIN_COOKIE, token, secure)
}

fn set_cookie(name: &'static str, value: Option<&str>, secure: bool) -> String {
    let mut c = cookie::Cookie::build((name, value.unwrap_or_default().to_owned()))
        .path("/console")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(secure);
    if value.is_none() {
        c = c.max_age(cookie::time::Duration::ZERO);
    }
    c.build().to_string()
}

/// The value of the cookie `name` in a request's `Cookie` header.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether a login form's `sent` CSRF token is the one its browser's cookie holds.
pub fn login_csrf_matches(headers: &HeaderMap, sent: &str) -> bool {
    cookie_value(headers, LOGIN_COOKIE)
        .is_some_and(|kept| crate::admin::same_digest(&digest(&kept), &digest(sent)))
}

/// A request from a logged-in browser. As a handler's argument, the handler runs only for
/// such a request; any other is sent to the login page.
pub struct Viewer {
    /// The session id (from the cookie).
    pub id: String,
    /// The `[[admin.token]]` it logged in with.
    pub token_name: String,
    /// The token has the admin scope: actions are shown and carried out.
    pub admin: bool,
    pub csrf: String,
}

impl Viewer {
    /// Whether `sent` (a form's `csrf` field) is this session's CSRF token.
    pub fn csrf_matches(&self, sent: &str) -> bool {
        crate::admin::same_digest(&digest(sent), &digest(&self.csrf))
    }
}

impl FromRequestParts<Console> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let to_login = || Redirect::to("/console/login").into_response();
        let id = cookie_value(&parts.headers, COOKIE).ok_or_else(to_login)?;
        let (token, csrf) = console.sessions.touch(&id).ok_or_else(to_login)?;
        let config = console.relay.current().config.clone();
        let Some((token_name, scope)) = token_by_digest(&config, &token) else {
            // The token was revoked by a reload: so is the session.
            console.sessions.end(&id);
            return Err(to_login());
        };
        Ok(Viewer {
            id,
            token_name,
            admin: scope >= AdminScope::Admin,
            csrf,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_only_and_ends_at_logout() {
        let sessions = Sessions::default();
        let id = sessions.create([7; 32]);
        let (token, csrf) = sessions.touch(&id).expect("live");
        assert_eq!(token, [7; 32]);
        assert_ne!(csrf, id);
        assert!(sessions.touch("not-an-id").is_none());
        sessions.flash(&id, true, "done");
        assert_eq!(
            sessions.take_flash(&id).map(|f| f.text),
            Some("done".into())
        );
        assert!(sessions.take_flash(&id).is_none());
        sessions.end(&id);
        assert!(sessions.touch(&id).is_none());
    }

    #[test]
    fn an_idle_or_old_session_is_dead() {
        let now = Instant::now() + LIFETIME + IDLE;
        let s = |created: Instant, last_seen: Instant| Session {
            token: [0; 32],
            csrf: String::new(),
            created,
            last_seen,
            flash: None,
        };
        assert!(alive(&s(now, now), now));
        assert!(!alive(&s(now, now - IDLE), now));
        assert!(!alive(&s(now - LIFETIME, now), now));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_tls() {
        let c = cookie(Some("abc"), true);
        for part in [
            "sluice_console=abc",
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/console",
        ] {
            assert!(c.contains(part), "{c}");
        }
        assert!(!cookie(Some("abc"), false).contains("Secure"));
        assert!(cookie(None, false).contains("Max-Age=0"));
        let login = login_cookie(Some("xyz"), false);
        assert!(login.starts_with("sluice_console_login=xyz;"), "{login}");
        assert!(login.contains("HttpOnly") && login.contains("SameSite=Strict"));
    }

    #[test]
    fn a_login_form_token_must_match_its_cookie() {
        let mut headers = HeaderMap::new();
        assert!(!login_csrf_matches(&headers, ""));
        headers.insert(
            header::COOKIE,
            "other=1; sluice_console_login=abc".parse().unwrap(),
        );
        assert!(login_csrf_matches(&headers, "abc"));
        assert!(!login_csrf_matches(&headers, "abd"));
        assert!(!login_csrf_matches(&headers, ""));
    }
}
