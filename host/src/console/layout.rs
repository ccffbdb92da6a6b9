//! The frame every page shares (navigation, who is logged in, the last action's outcome),
//! the login and error pages, and small pieces the pages repeat: action buttons (shown only
//! to the admin scope, each a form with the CSRF token), times and ages.

use super::session::{Flash, Viewer};
use super::Console;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

/// The pages in the navigation bar: (path, title).
pub const NAV: [(&str, &str); 6] = [
    ("/console", "Overview"),
    ("/console/queue", "Queue"),
    ("/console/quarantine", "Quarantine"),
    ("/console/tenants", "Tenants and plugins"),
    ("/console/suppressions", "Suppressions"),
    ("/console/events", "Events"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="no-referrer";
            title { (title) " · Sluice" }
            link rel="stylesheet" href="/console/static/console.css";
        }
    }
}

/// A whole page for a logged-in viewer, `active` naming its entry in [`NAV`].
pub fn page(c: &Console, viewer: &Viewer, title: &str, active: &str, body: Markup) -> Response {
    let flash = c.sessions.take_flash(&viewer.id);
    let hostname = c.relay.current().config.hostname.clone();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    span.brand { "Sluice" }
                    span.host { (hostname) }
                    nav {
                        @for (path, name) in NAV {
                            a href=(path) class=[(path == active).then_some("active")] { (name) }
                        }
                    }
                    span.who {
                        (viewer.token_name) " · "
                        @if viewer.admin { "admin" } @else { span #read-only { "read-only" } }
                    }
                    form.inline method="post" action="/console/logout" {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        button.link type="submit" { "Log out" }
                    }
                }
                main {
                    @if let Some(f) = flash { (flash_box(&f)) }
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

fn flash_box(f: &Flash) -> Markup {
    html! {
        p #flash class=(if f.ok { "flash ok" } else { "flash failed" }) { (f.text) }
    }
}

/// The login page with its CSRF token (401 when `failed` says why the last try did not
/// work).
pub fn login(tls: bool, csrf: &str, failed: Option<&str>) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head("Log in"))
            body.login {
                main {
                    h1 { "Sluice admin console" }
                    @if let Some(why) = failed { p #flash.flash.failed { (why) } }
                    form #login method="post" action="/console/login" {
                        input type="hidden" name="csrf" value=(csrf);
                        label for="token" { "Admin token" }
                        input #token type="password" name="token" autocomplete="off" required;
                        button type="submit" { "Log in" }
                    }
                    p.hint {
                        "A token of " code { "[[admin.token]]" } " (" code { "sluice admin token" }
                        " makes one). A read-only token shows everything and changes nothing."
                        @if !tls { " The admin listener is plain HTTP: use it on loopback only." }
                    }
                }
            }
        }
    };
    let status = if failed.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    (status, Html(markup.into_string())).into_response()
}

/// A page saying what went wrong, with its status.
pub fn error(status: StatusCode, text: &str) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(status.canonical_reason().unwrap_or("Error")))
            body {
                main {
                    h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                    p #problem { (text) }
                    p { a href="/console" { "Back to the console" } }
                }
            }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

/// A button that POSTs to `action` with the CSRF token (and `fields`), or nothing for a
/// read-only viewer.
pub fn button(
    viewer: &Viewer,
    action: &str,
    label: &str,
    class: &str,
    fields: &[(&str, &str)],
) -> Markup {
    html! {
        @if viewer.admin {
            form.inline method="post" action=(action) {
                input type="hidden" name="csrf" value=(viewer.csrf);
                @for (name, value) in fields {
                    input type="hidden" name=(name) value=(value);
                }
                button type="submit" class=(class) { (label) }
            }
        }
    }
}

/// Seconds since the epoch as an HTTP date ("Tue, 01 Jul 2025 10:00:00 GMT").
pub fn time(unix: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix))
}

/// A duration in seconds, roughly: "45s", "12m", "3h 5m", "2d 4h".
pub fn age(seconds: u64) -> String {
    let (d, h, m) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_at_a_glance() {
        assert_eq!(age(45), "45s");
        assert_eq!(age(12 * 60 + 5), "12m");
        assert_eq!(age(3 * 3600 + 5 * 60), "3h 5m");
        assert_eq!(age(2 * 86_400 + 4 * 3600 + 7), "2d 4h");
    }

    #[test]
    fn every_value_is_escaped() {
        let hostile = "<script>window.pwned=1</script>\"'&";
        let page = error(StatusCode::NOT_FOUND, hostile);
        let _ = page; // the status page is built; check the markup itself:
        let markup = html! { p { (hostile) } a href=(hostile) {} }.into_string();
        assert!(!markup.contains("<script>"), "{markup}");
        assert!(markup.contains("&lt;script&gt;"), "{markup}");
        assert!(!markup.contains("href=\"<"), "{markup}");
    }
}
