//! The admin console in a real headless browser (Chromium driven by Selenium,
//! tests/tools/console_browser.py) against a relay that has really taken, deferred, rejected
//! and quarantined mail; and its login, policy and refusals over plain HTTP.

use sluice_e2e::http::request_with;
use sluice_e2e::{plugin_table, wait_for, workspace, Chat, Relay, RelayConfig, Sink};
use sluice_e2e::{ADMIN_TOKEN, READ_TOKEN};
use std::process::Command;
use std::time::Duration;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Sends one message as the demo tenant; returns its queue id (the last word of the reply).
fn send(relay: &Relay, rcpt: &str, message: &str) -> String {
    let mut c = Chat::authed(relay.port);
    let reply = c.send_message("app@example.com", &[rcpt], message);
    reply
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A message whose Subject, text and HTML would each run a script if shown unescaped.
const HOSTILE: &str =
    "Subject: QUARANTINE <script>document.title='pwned';window.pwned=1</script>\r\n\
    MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
    --b\r\nContent-Type: text/plain\r\n\r\n<script>window.pwned=1</script> plain <b>text</b>\r\n\
    --b\r\nContent-Type: text/html\r\n\r\n<html><head><title>pwned</title></head><body><p>Hello</p>\
    <script>window.parent.pwned=1;document.title='pwned'</script>\
    <img src=\"http://127.0.0.1:TRACKER/track.gif\" onerror=\"window.parent.pwned=1\"></body></html>\r\n\
    --b--\r\n";

#[test]
fn an_operator_sees_the_mail_retries_a_deferred_message_and_releases_a_quarantined_one() {
    // The next hop refuses the first message (451) and takes the rest; retries wait an hour,
    // so the deferred message stays put until the console retries it.
    let sink = Sink::start(&["--tempfail-first", "1"]);
    let relay = Relay::start(RelayConfig {
        delivery: Some(format!(
            "mode = \"smarthost\"\nretry = [\"1h\"]\n[delivery.smarthost]\nhost = \"127.0.0.1\"\nport = {}\n",
            sink.port
        )),
        plugins: plugin_table("verdicts", "verdicts", ""),
        ..RelayConfig::default()
    });
    let deferred = send(
        &relay,
        "later@dest.test",
        "Subject: deferred one\r\n\r\nx\r\n",
    );
    relay.wait_events("deferred", 1);
    send(&relay, "now@dest.test", "Subject: fine\r\n\r\nx\r\n");
    relay.wait_events("delivered", 1);
    let release = send(
        &relay,
        "held@dest.test",
        "Subject: QUARANTINE please\r\n\r\nhold me\r\n",
    );
    // The remote image's host: any connection to it means the frame fetched the image.
    let tracker = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    tracker.set_nonblocking(true).expect("nonblocking");
    let tracker_port = tracker.local_addr().unwrap().port().to_string();
    let hostile = send(
        &relay,
        "xss@dest.test",
        &HOSTILE.replace("TRACKER", &tracker_port),
    );
    relay.wait_events("quarantined", 2);
    send(&relay, "no@dest.test", "Subject: REJECT me\r\n\r\nx\r\n");
    relay.wait_events("policy_rejected", 1);
    // The event comes before the schedule has the message waiting again.
    wait_for(Duration::from_secs(10), || {
        let list = relay.http("GET", "/v1/queue", Some(READ_TOKEN)).json();
        (list["messages"][0]["state"] == "deferred").then_some(())
    })
    .expect("the message waits for a retry");

    let shots = workspace().join("target/console-screenshots");
    let out = Command::new("python3")
        .arg(workspace().join("tests/tools/console_browser.py"))
        .args([
            "--url",
            &format!("http://127.0.0.1:{}/console", relay.admin_port),
        ])
        .args(["--admin-token", ADMIN_TOKEN, "--read-token", READ_TOKEN])
        .args([
            "--deferred",
            &deferred,
            "--release",
            &release,
            "--hostile",
            &hostile,
        ])
        .arg("--screenshots")
        .arg(&shots)
        .output()
        .expect("python3 with selenium, chromium and chromium-driver (scripts/test-deps.sh)");
    assert!(
        out.status.success(),
        "{}\n{}\nrelay log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        relay.log()
    );
    let seen: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the browser script's JSON");

    // The overview counted what the relay did in the last hour.
    assert_eq!(
        seen["overview"],
        serde_json::json!({"accepted": 2, "delivered": 1, "deferred": 1, "bounced": 0,
                           "rejected": 1, "quarantined": 2}),
        "{seen}"
    );
    assert_eq!(
        seen["queue_depth"],
        serde_json::json!({"queued": 0, "deferred": 1, "held": 0, "quarantined": 2}),
        "{seen}"
    );
    assert_eq!(seen["commits"], 2, "{seen}");
    assert_eq!(seen["charts"], 12, "two charts of six lines: {seen}");

    // The deferred message showed the remote reply, and the retry delivered it.
    assert!(
        seen["deferred_state"]
            .as_str()
            .unwrap()
            .starts_with("deferred, next attempt"),
        "{seen}"
    );
    assert_eq!(
        seen["deferred_reply"], "451 4.3.0 Try again later",
        "{seen}"
    );
    assert!(
        seen["retry_flash"]
            .as_str()
            .unwrap()
            .contains(&format!("{deferred}: retried now")),
        "{seen}"
    );
    relay.wait_events("retry_now", 1);
    let got = sink.wait_messages(3);
    assert!(
        got.iter()
            .any(|m| m.content.contains("Subject: deferred one")),
        "the retried message did not arrive"
    );

    // Quarantine review named the plugin; the released message was delivered.
    assert_eq!(seen["held_rows"], 2, "{seen}");
    assert_eq!(seen["held_by"], serde_json::json!(["verdicts"]), "{seen}");
    assert!(
        seen["release_flash"]
            .as_str()
            .unwrap()
            .contains(&format!("1 released: {release}")),
        "{seen}"
    );
    relay.wait_events("released", 1);
    let got = sink.wait_messages(3);
    assert!(
        got.iter()
            .any(|m| m.content.contains("Subject: QUARANTINE please")),
        "the released message did not arrive"
    );

    // The hostile message ran nothing: shown as text, its HTML in a sandbox whose document
    // the page cannot even reach (an opaque origin).
    let h = &seen["hostile"];
    assert_eq!(h["pwned"], "undefined", "{seen}");
    assert!(
        h["title"].as_str().unwrap().starts_with("Held message"),
        "{seen}"
    );
    assert_eq!(
        h["subject"], "QUARANTINE <script>document.title='pwned';window.pwned=1</script>",
        "{seen}"
    );
    assert!(
        h["text"]
            .as_str()
            .unwrap()
            .contains("<script>window.pwned=1</script> plain <b>text</b>"),
        "{seen}"
    );
    assert_eq!(h["sandbox"], "", "{seen}");
    // The page was shown, screenshot taken, and later pages too: the image was never asked for.
    match tracker.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the remote image was fetched: {other:?}"),
    }
    assert_eq!(h["frame_title"], "unreachable", "{seen}");

    // The tenants page showed the chain with its build.
    let status = relay.http("GET", "/v1/status", Some(READ_TOKEN)).json();
    let hash = status["tenants"][0]["plugins"][0]["hash"].as_str().unwrap();
    let tenants = seen["tenants"].as_str().unwrap();
    assert!(
        tenants.contains("verdicts") && tenants.contains(hash) && tenants.contains("reuse 1000"),
        "{tenants}"
    );

    // A read-only token: no action button anywhere (only "Log out", in the header), and a
    // POST is refused; an admin session's POST without the right CSRF token is refused too.
    for (page, buttons) in seen["read_only_buttons"].as_object().unwrap() {
        assert_eq!(buttons, &serde_json::json!([]), "{page}: {seen}");
    }
    assert_eq!(seen["read_only_post"], 403, "{seen}");
    assert_eq!(seen["no_csrf_post"], 403, "{seen}");
    assert_eq!(seen["wrong_csrf_post"], 403, "{seen}");
    assert_eq!(seen["no_session_post"], 303, "{seen}");
    assert_eq!(seen["csp"], CSP, "{seen}");
    // None of those deleted anything.
    let held = relay.http("GET", "/v1/quarantine", Some(READ_TOKEN)).json();
    assert_eq!(held["messages"][0]["id"], hostile.as_str(), "{held}");
    for page in [
        "overview",
        "queue",
        "queue-message",
        "quarantine",
        "quarantine-message",
        "tenants",
        "read-only",
        "login",
    ] {
        assert!(shots.join(format!("{page}.png")).exists(), "{page}.png");
    }
}

#[test]
fn console_pages_need_a_session_and_every_answer_carries_the_policy() {
    let relay = Relay::start(RelayConfig::default());
    let get = |path: &str, cookie: Option<&str>| {
        let headers: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
        request_with(relay.admin_port, "GET", path, None, &headers, None)
    };
    for path in [
        "/console",
        "/console/queue",
        "/console/quarantine/0000000000000BAD",
        "/console/tenants",
    ] {
        let r = get(path, None);
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some("/console/login")),
            "{path}: {r:?}"
        );
        assert_eq!(r.header("content-security-policy"), Some(CSP), "{path}");
    }
    // A bearer token is not a session: the console does not take the API's header.
    let r = relay.http("GET", "/console/queue", Some(ADMIN_TOKEN));
    assert_eq!(r.status, 303, "{r:?}");
    let r = get("/console/login", None);
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("<script"), "{}", r.body);
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("cache-control"), Some("no-store"));

    let login = |token: &str| {
        let body = format!("token={token}");
        request_with(
            relay.admin_port,
            "POST",
            "/console/login",
            None,
            &[],
            Some(("application/x-www-form-urlencoded", body.as_bytes())),
        )
    };
    let r = login("wrong");
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.header("set-cookie").is_none());
    let r = login(ADMIN_TOKEN);
    assert_eq!(r.status, 303, "{r:?}");
    let cookie = r.header("set-cookie").expect("a session cookie").to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let session = cookie.split(';').next().unwrap();
    let r = get("/console", Some(session));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("id=\"outcomes\""), "{}", r.body);
    let r = get("/console/queue/not-an-id!", Some(session));
    assert_eq!(r.status, 404, "{r:?}");
    let r = get("/console/nothing-here", Some(session));
    assert_eq!(r.status, 404, "{r:?}");
    let r = get("/console/static/console.css", None);
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("text/css; charset=utf-8"))
    );
}
