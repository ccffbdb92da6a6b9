//! The admin console in a real headless browser (Chromium driven by Selenium,
//! tests/tools/console_browser.py and console_operations.py) against a relay that has really
//! taken, deferred, rejected and quarantined mail; and its login, policy and refusals over
//! plain HTTP.

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
        "/console/suppressions",
        "/console/events",
        "/console/events/feed",
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

    // The login form's CSRF token, in the form and in a cookie of its own.
    let form = get("/console/login", None);
    let login_cookie = form
        .header("set-cookie")
        .expect("a login cookie")
        .to_owned();
    assert!(
        login_cookie.starts_with("sluice_console_login=")
            && login_cookie.contains("HttpOnly")
            && login_cookie.contains("SameSite=Strict"),
        "{login_cookie}"
    );
    let login_cookie = login_cookie.split(';').next().unwrap().to_owned();
    let csrf = form
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form's CSRF token")
        .to_owned();
    let login = |token: &str| {
        let body = format!("token={token}&csrf={csrf}");
        request_with(
            relay.admin_port,
            "POST",
            "/console/login",
            None,
            &[("Cookie", login_cookie.as_str())],
            Some(("application/x-www-form-urlencoded", body.as_bytes())),
        )
    };
    // Without the form's token (login CSRF), even an admin token makes no session.
    let body = format!("token={ADMIN_TOKEN}");
    let r = request_with(
        relay.admin_port,
        "POST",
        "/console/login",
        None,
        &[],
        Some(("application/x-www-form-urlencoded", body.as_bytes())),
    );
    assert_eq!(r.status, 403, "{r:?}");
    assert!(!r
        .headers
        .iter()
        .any(|(_, v)| v.starts_with("sluice_console=")));
    let r = login("wrong");
    assert_eq!(r.status, 401, "{r:?}");
    assert!(
        !r.headers
            .iter()
            .any(|(n, v)| n == "set-cookie" && v.starts_with("sluice_console=")),
        "{r:?}"
    );
    let r = login(ADMIN_TOKEN);
    assert_eq!(r.status, 303, "{r:?}");
    let cookie = r
        .headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with("sluice_console="))
        .map(|(_, v)| v.clone())
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let session = cookie.split(';').next().unwrap();
    let r = get("/console", Some(session));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("id=\"outcomes\""), "{}", r.body);
    // The event tail's page runs one script, named by a nonce new with each answer.
    let r = get("/console/events", Some(session));
    assert_eq!(r.status, 200, "{r:?}");
    let policy = r.header("content-security-policy").unwrap().to_owned();
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|n| n.split('\'').next())
        .unwrap();
    assert_eq!(
        policy,
        format!("{CSP}; script-src 'nonce-{nonce}'; connect-src 'self'")
    );
    assert_eq!(r.body.matches("<script").count(), 1, "{}", r.body);
    assert!(
        r.body.contains(&format!("<script nonce=\"{nonce}\">")),
        "{}",
        r.body
    );
    let again = get("/console/events", Some(session));
    assert_ne!(
        again.header("content-security-policy"),
        Some(policy.as_str())
    );
    let r = get("/console/events/feed?after=not-an-id", Some(session));
    assert_eq!(r.status, 400, "{r:?}");
    let r = get("/console/events/feed", Some(session));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.json()["events"].is_array(), "{}", r.body);
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

/// A remote's reply that would run a script if the event tail showed it unescaped.
const HOSTILE_REPLY: &str = "451 4.2.0 <script>window.pwned=1</script> busy";

#[test]
fn an_operator_suppresses_an_address_follows_the_event_tail_and_compares_a_shadow_plugin() {
    // One recipient's server answers with markup; a shadow plugin judges before the enforced one.
    let sink = Sink::start(&["--rcpt-reply", &format!("tricky@dest.test={HOSTILE_REPLY}")]);
    let relay = Relay::start(RelayConfig {
        delivery: Some(format!(
            "mode = \"smarthost\"\nretry = [\"1h\"]\n[delivery.smarthost]\nhost = \"127.0.0.1\"\nport = {}\n",
            sink.port
        )),
        plugins: plugin_table("judge", "verdicts", "shadow = true")
            + &plugin_table("verdicts", "verdicts", ""),
        ..RelayConfig::default()
    });
    send(&relay, "now@dest.test", "Subject: fine\r\n\r\nx\r\n");
    relay.wait_events("delivered", 1);
    send(&relay, "tricky@dest.test", "Subject: tricky\r\n\r\nx\r\n");
    relay.wait_events("deferred", 1);
    send(&relay, "no@dest.test", "Subject: REJECT me\r\n\r\nx\r\n");
    relay.wait_events("policy_rejected", 1);

    let shots = workspace().join("target/console-screenshots");
    let out = Command::new("python3")
        .arg(workspace().join("tests/tools/console_operations.py"))
        .args([
            "--url",
            &format!("http://127.0.0.1:{}/console", relay.admin_port),
        ])
        .args(["--admin-token", ADMIN_TOKEN, "--read-token", READ_TOKEN])
        .args(["--smtp-port", &relay.port.to_string()])
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

    // The overview grouped the attempts by destination: one delivered, one deferred.
    assert_eq!(
        seen["destinations"],
        serde_json::json!([["1", "1", "0", "1", "1", "0"]]),
        "{seen}"
    );
    assert_eq!(
        seen["destinations_head"],
        serde_json::json!(["dest.test"]),
        "{seen}"
    );

    // The tail showed the remote's markup as text, ran nothing, and added the event of a
    // message sent after the page loaded.
    let deferred = seen["tail_deferred"].as_array().unwrap();
    assert_eq!(deferred.len(), 1, "{seen}");
    assert_eq!(deferred[0][4], "tricky@dest.test", "{seen}");
    assert!(
        deferred[0][5]
            .as_str()
            .unwrap()
            .contains("<script>window.pwned=1</script> busy"),
        "{seen}"
    );
    assert_eq!(seen["tail_pwned_before"], "undefined", "{seen}");
    assert_eq!(seen["tail_pwned"], "undefined", "{seen}");
    let new = &seen["tail_new"];
    assert_eq!(
        (&new[1], &new[2], &new[3]),
        (
            &serde_json::json!("accepted"),
            &serde_json::json!("demo"),
            &seen["tail_queue_id"]
        ),
        "{seen}"
    );
    assert!(
        seen["tail_state"]
            .as_str()
            .unwrap()
            .starts_with("Following"),
        "{seen}"
    );
    let queue_id = seen["tail_queue_id"].as_str().unwrap();
    assert!(
        seen["tail_link"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/console/queue/{queue_id}")),
        "{seen}"
    );

    // The suppression added in the page was refused at RCPT; removed, it was taken again.
    assert!(
        seen["add_flash"][0]
            .as_str()
            .unwrap()
            .contains("blocked@dest.test: suppressed for demo"),
        "{seen}"
    );
    let listed = seen["listed"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{seen}");
    assert_eq!(listed[0][0], "blocked@dest.test", "{seen}");
    assert_eq!(listed[0][1], "manual", "{seen}");
    assert_eq!(
        listed[0][4], "<script>window.pwned=1</script><img src=x onerror=\"window.pwned=1\">",
        "{seen}"
    );
    assert_eq!(seen["suppressed_pwned"], "undefined", "{seen}");
    assert!(
        seen["count"].as_str().unwrap().starts_with("2 of at most"),
        "{seen}"
    );
    assert!(
        seen["rcpt_suppressed"].as_str().unwrap().starts_with(
            "550 5.1.1 <blocked@dest.test>: recipient is on the tenant's suppression list"
        ),
        "{seen}"
    );
    assert_eq!(
        seen["search"],
        serde_json::json!(["blocked@dest.test"]),
        "{seen}"
    );
    assert!(
        seen["remove_flash"]
            .as_str()
            .unwrap()
            .contains("blocked@dest.test: removed"),
        "{seen}"
    );
    assert!(
        seen["rcpt_removed"].as_str().unwrap().starts_with("250"),
        "{seen}"
    );

    // The tenants page: both plugins were called and timed; the shadow one's would-be reject
    // stands next to the reject the chain enforced.
    for plugin in ["judge", "verdicts"] {
        let p = &seen[plugin];
        assert_ne!(p["calls"], "0", "{plugin}: {seen}");
        assert!(
            p["latency"].as_str().unwrap().ends_with(" ms"),
            "{plugin}: {seen}"
        );
    }
    assert_eq!(seen["judge"]["verdicts"], "reject 1 (would-be)", "{seen}");
    assert_eq!(seen["verdicts"]["verdicts"], "reject 1", "{seen}");
    assert_eq!(
        seen["shadow"]["reject"],
        serde_json::json!(["1", "1"]),
        "{seen}"
    );
    assert_eq!(
        seen["shadow"]["quarantine"],
        serde_json::json!(["0", "0"]),
        "{seen}"
    );
    assert!(
        seen["limits"].as_str().unwrap().starts_with("1 of "),
        "{seen}"
    );

    // Read-only: the list, no button but Search; its POSTs refused, as an admin's without
    // the CSRF token and a login without the form's; nothing changed.
    assert_eq!(
        seen["read_only_listed"],
        serde_json::json!(["keep@dest.test"]),
        "{seen}"
    );
    assert_eq!(
        seen["read_only_buttons"],
        serde_json::json!(["Search"]),
        "{seen}"
    );
    let posts = &seen["posts"];
    assert_eq!(posts["read_only_remove"], 403, "{seen}");
    assert_eq!(posts["read_only_add"], 403, "{seen}");
    assert_eq!(posts["admin_no_csrf"], 403, "{seen}");
    for login in ["login_no_csrf", "login_no_cookie", "login_other_csrf"] {
        assert_eq!(
            posts[login],
            serde_json::json!([403, false]),
            "{login}: {seen}"
        );
    }
    assert!(
        seen["rcpt_keep"].as_str().unwrap().starts_with("550"),
        "{seen}"
    );
    let path = |a: &str| format!("/v1/tenants/demo/suppressions/{a}");
    assert_eq!(
        relay
            .http("GET", &path("keep@dest.test"), Some(READ_TOKEN))
            .status,
        200
    );
    for gone in ["new@dest.test", "blocked@dest.test"] {
        assert_eq!(
            relay.http("GET", &path(gone), Some(READ_TOKEN)).status,
            404,
            "{gone}"
        );
    }
    for page in [
        "events",
        "suppressions",
        "tenants-plugins",
        "suppressions-read-only",
    ] {
        assert!(shots.join(format!("{page}.png")).exists(), "{page}.png");
    }
}

/// One HTTP/1.1 exchange with an admin listener that speaks TLS (openssl s_client, checking
/// nothing but the protocol): the whole answer.
fn over_tls(port: u16, request: &str) -> String {
    use std::io::Write;
    let out = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(request.as_bytes())?;
            child.wait_with_output()
        })
        .expect("run openssl s_client");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn over_tls_the_console_cookies_are_secure() {
    let relay = Relay::start(RelayConfig {
        admin: "tls = true".into(),
        ..RelayConfig::default()
    });
    let form = over_tls(
        relay.admin_port,
        "GET /console/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let cookie_line = |answer: &str, name: &str| {
        answer
            .lines()
            .find(|l| {
                l.to_ascii_lowercase()
                    .starts_with(&format!("set-cookie: {name}="))
            })
            .unwrap_or_else(|| panic!("no {name} cookie: {answer}"))
            .to_owned()
    };
    let login_cookie = cookie_line(&form, "sluice_console_login");
    for part in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/console"] {
        assert!(login_cookie.contains(part), "{login_cookie}");
    }
    let csrf = form
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form's CSRF token");
    let body = format!("token={ADMIN_TOKEN}&csrf={csrf}");
    let pair = login_cookie["set-cookie: ".len()..]
        .split(';')
        .next()
        .unwrap();
    let answer = over_tls(
        relay.admin_port,
        &format!(
            "POST /console/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: {pair}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    let session = cookie_line(&answer, "sluice_console");
    for part in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/console"] {
        assert!(session.contains(part), "{session}");
    }
}
