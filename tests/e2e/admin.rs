//! The admin API over real HTTP, and the reload it carries: health and readiness without a
//! token, bearer tokens and scopes, RFC 9457 problems, status, metrics that move.

use sluice_e2e::{sluice_bin, text, Chat, Relay, RelayConfig, ADMIN_TOKEN, READ_TOKEN};
use std::collections::HashMap;
use std::process::Command;

fn reload_cli(relay: &Relay) -> std::process::Output {
    Command::new(sluice_bin())
        .args(["reload", "--config"])
        .arg(&relay.config_path)
        .env_remove("SLUICE_ADMIN_TOKEN")
        .output()
        .expect("run sluice reload")
}

#[test]
fn health_and_readiness_need_no_token_and_everything_else_does() {
    let relay = Relay::start(RelayConfig::default());
    let r = relay.http("GET", "/healthz", None);
    assert_eq!(r.status, 200, "{r:?}");
    let r = relay.http("GET", "/readyz", None);
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("ready"))
    );

    for path in ["/v1/status", "/metrics", "/v1/queue"] {
        let r = relay.http("GET", path, None);
        assert_eq!(r.status, 401, "{path}: {r:?}");
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        assert!(r.header("www-authenticate").is_some(), "{r:?}");
        let p = r.json();
        assert_eq!(p["status"], 401);
        assert_eq!(p["title"], "Authentication required");
        let r = relay.http("GET", path, Some("not-a-token"));
        assert_eq!(r.status, 401, "{path}: {r:?}");
    }
    // A read token reads, but may not change anything.
    let r = relay.http("POST", "/v1/reload", Some(READ_TOKEN));
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json()["required_scope"], "admin");
    let r = relay.http("DELETE", "/v1/queue/ABC", Some(READ_TOKEN));
    assert_eq!(r.status, 403, "{r:?}");

    let status = relay.http("GET", "/v1/status", Some(READ_TOKEN));
    assert_eq!(status.status, 200, "{status:?}");
    let s = status.json();
    assert_eq!(s["generation"], 1);
    assert_eq!(s["ready"], true);
    assert!(s["version"].as_str().is_some_and(|v| !v.is_empty()), "{s}");
    assert!(s["uptime_seconds"].is_u64(), "{s}");
    assert_eq!(s["queue"]["depth"], 0);
    assert_eq!(s["tenants"][0]["name"], "demo");

    let r = relay.http("GET", "/v1/nothing-here", Some(ADMIN_TOKEN));
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
}

#[test]
fn status_names_each_plugin_with_its_hash() {
    let relay = Relay::start(RelayConfig {
        plugins: sluice_e2e::plugin_table("verdicts", "verdicts", ""),
        ..RelayConfig::default()
    });
    let s = relay.http("GET", "/v1/status", Some(READ_TOKEN)).json();
    let plugin = &s["tenants"][0]["plugins"][0];
    assert_eq!(plugin["name"], "verdicts", "{s}");
    assert!(plugin["hash"].as_str().is_some_and(|h| h.len() >= 8), "{s}");
}

#[test]
fn reload_takes_new_sender_domains_and_users_and_refuses_a_listener_change() {
    let relay = Relay::start(RelayConfig::default());
    let mut before = Chat::authed(relay.port);
    before.cmd("MAIL FROM:<app@new.test>", "550 5.7.1");
    let config = std::fs::read_to_string(&relay.config_path).unwrap();

    // A sender domain and a second user (with the demo user's password hash).
    let hash_line = config
        .lines()
        .find(|l| l.starts_with("password_hash"))
        .unwrap()
        .to_owned();
    let grown = config.replace(
        "sender_domains = [\"example.com\"]",
        &format!(
            "sender_domains = [\"example.com\", \"new.test\"]\n[[tenant.users]]\nusername = \"second\"\n{hash_line}"
        ),
    );
    std::fs::write(&relay.config_path, &grown).unwrap();
    let out = reload_cli(&relay);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("generation 2"), "{}", text(&out));

    let mut c = Chat::ehlo(relay.port);
    assert!(c.auth_plain("second", "demo-password").starts_with("235"));
    c.cmd("MAIL FROM:<app@new.test>", "250");
    // A session that started before the reload keeps the config it started with.
    before.cmd("RSET", "250");
    before.cmd("MAIL FROM:<app@new.test>", "550 5.7.1");

    // A listener cannot move without a restart: refused, named, nothing changes.
    let moved = grown.replace(
        &format!("127.0.0.1:{}\"]\nlisten_tls", relay.port),
        &format!("127.0.0.1:{}\"]\nlisten_tls", sluice_e2e::free_port()),
    );
    assert_ne!(moved, grown);
    std::fs::write(&relay.config_path, moved.replace("new.test", "newer.test")).unwrap();
    let out = reload_cli(&relay);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("server.listen"), "{}", text(&out));
    relay.wait_events("reload_refused", 1);
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@new.test>", "250");
    c.cmd("RSET", "250");
    c.cmd("MAIL FROM:<app@newer.test>", "550 5.7.1");

    // Over HTTP: the refusal is a problem document naming the key; a file that does not
    // parse is refused too; the old generation keeps serving.
    let r = relay.http("POST", "/v1/reload", Some(ADMIN_TOKEN));
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let p = r.json();
    assert_eq!(p["restart_required"][0], "server.listen", "{p}");
    assert_eq!(p["generation"], 2, "{p}");
    std::fs::write(&relay.config_path, "this is = not toml [").unwrap();
    let r = relay.http("POST", "/v1/reload", Some(ADMIN_TOKEN));
    assert_eq!(r.status, 422, "{r:?}");
    assert!(
        r.json()["detail"].as_str().unwrap().contains("line 1"),
        "{r:?}"
    );

    std::fs::write(&relay.config_path, &grown).unwrap();
    let r = relay.http("POST", "/v1/reload", Some(ADMIN_TOKEN));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["outcome"], "reloaded");
    assert_eq!(r.json()["generation"], 3);
    let s = relay.http("GET", "/v1/status", Some(READ_TOKEN)).json();
    assert_eq!(s["generation"], 3, "{s}");
}

/// Every sample line of a Prometheus text exposition, by `name{labels}`; panics on a line
/// that does not parse.
fn samples(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            assert!(
                line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series and value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        assert!(
            series[..name_end]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name: {line}"
        );
        out.insert(series.to_owned(), value);
    }
    out
}

#[test]
fn metrics_parse_and_count_a_message() {
    let relay = Relay::start(RelayConfig::default());
    let scrape = || {
        let r = relay.http("GET", "/metrics", Some(READ_TOKEN));
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.header("content-type").unwrap().starts_with("text/plain"));
        samples(&r.body)
    };
    let get = |m: &HashMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
    let before = scrape();
    assert_eq!(get(&before, "sluice_config_generation"), 1.0, "{before:?}");

    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &["metrics@dest.test"],
        "Subject: counted\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    c.cmd("QUIT", "221");
    relay.wait_mailbox("metrics@dest.test", 1);
    let delivered = "sluice_delivery_attempts_total{outcome=\"delivered\"}";
    let after = sluice_e2e::wait_for(std::time::Duration::from_secs(20), || {
        let m = scrape();
        (get(&m, delivered) >= 1.0).then_some(m)
    })
    .expect("a delivery attempt counted");

    let listener = format!("listener=\"127.0.0.1:{}\"", relay.port);
    for (series, at_least) in [
        (
            "sluice_messages_accepted_total{tenant=\"demo\"}".to_owned(),
            1.0,
        ),
        ("sluice_replies_total{class=\"2xx\"}".to_owned(), 5.0),
        ("sluice_spool_commit_seconds_count".to_owned(), 1.0),
        (format!("sluice_sessions_total{{{listener}}}"), 1.0),
    ] {
        let grew = get(&after, &series) - get(&before, &series);
        assert!(grew >= at_least, "{series} grew by {grew}: {after:?}");
    }
    assert!(
        get(&after, "sluice_bytes_accepted_total{tenant=\"demo\"}") > 0.0,
        "{after:?}"
    );
    assert!(after.contains_key("sluice_queue_depth"), "{after:?}");
}

/// A relay whose smarthost answers 451 to the first `tempfail` messages and retries only
/// after an hour, so a deferred message stays put until an operator acts.
fn relay_with_a_refusing_hop(tempfail: &str) -> (Relay, sluice_e2e::Sink) {
    let sink = sluice_e2e::Sink::start(&["--tempfail-first", tempfail]);
    let relay = Relay::start(RelayConfig {
        delivery: Some(format!(
            "mode = \"smarthost\"\nretry = [\"1h\"]\n[delivery.smarthost]\nhost = \"127.0.0.1\"\nport = {}\n",
            sink.port
        )),
        ..RelayConfig::default()
    });
    (relay, sink)
}

fn cli(relay: &Relay, args: &[&str]) -> (bool, String) {
    let out = Command::new(sluice_bin())
        .args(args)
        .arg("--config")
        .arg(&relay.config_path)
        .output()
        .expect("run sluice");
    (out.status.success(), text(&out))
}

#[test]
fn queue_shows_state_next_retry_and_the_remote_reply_and_holds_a_message() {
    let (mut relay, sink) = relay_with_a_refusing_hop("1");
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &["later@dest.test"],
        "Subject: deferred one\r\n\r\nx\r\n",
    );
    let id = r.rsplit(' ').next().unwrap().to_owned();
    relay.wait_events("deferred", 1);
    // The event is logged before the spool record is rewritten: wait for the schedule.
    let list = sluice_e2e::wait_for(std::time::Duration::from_secs(10), || {
        let list = relay.http("GET", "/v1/queue", Some(READ_TOKEN)).json();
        let m = &list["messages"][0];
        (m["state"] == "deferred" && m["last_error"].is_string()).then_some(list)
    })
    .expect("the message waits for a retry");
    let m = &list["messages"][0];
    assert_eq!(m["id"], id.as_str(), "{list}");
    assert_eq!(m["state"], "deferred", "{list}");
    assert_eq!(m["last_error"], "451 4.3.0 Try again later", "{list}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let next = m["next_attempt_at"].as_u64().expect("a next attempt");
    assert!(next > now + 3000 && next < now + 4000, "{list}");

    let (ok, human) = cli(&relay, &["queue", "list"]);
    assert!(ok, "{human}");
    assert!(
        human.contains(&format!("{id}  deferred"))
            && human.contains("next=")
            && human.contains("last_error=\"451 4.3.0 Try again later\""),
        "{human}"
    );
    let (ok, show) = cli(&relay, &["queue", "show", &id]);
    assert!(ok, "{show}");
    assert!(
        show.contains("attempt 1 at")
            && show.contains("later@dest.test deferred: 451 4.3.0 Try again later (from "),
        "{show}"
    );
    let one = relay
        .http("GET", &format!("/v1/queue/{id}"), Some(READ_TOKEN))
        .json();
    assert_eq!(
        one["history"][0]["rcpts"][0]["reply"], "451 4.3.0 Try again later",
        "{one}"
    );

    // Unknown ids are named as such.
    for (method, path) in [
        ("DELETE", "/v1/queue/0000000000000BAD"),
        ("POST", "/v1/queue/0000000000000BAD/retry"),
    ] {
        let r = relay.http(method, path, Some(ADMIN_TOKEN));
        assert_eq!(r.status, 404, "{r:?}");
        assert_eq!(
            r.json()["detail"],
            "no message 0000000000000BAD in the queue",
            "{r:?}"
        );
    }
    let (ok, out) = cli(&relay, &["queue", "delete", "0000000000000BAD"]);
    assert!(
        !ok && out.contains("no message 0000000000000BAD in the queue"),
        "{out}"
    );

    // Held: listed as such, not retried, and still held after a restart.
    let (ok, out) = cli(&relay, &["queue", "hold", &id]);
    assert!(ok, "{out}");
    let r = relay.http("POST", &format!("/v1/queue/{id}/retry"), Some(ADMIN_TOKEN));
    assert_eq!(
        (r.status, &r.json()["state"]),
        (409, &serde_json::json!("held")),
        "{r:?}"
    );
    relay.terminate();
    relay.spawn();
    let list = relay.http("GET", "/v1/queue", Some(READ_TOKEN)).json();
    assert_eq!(list["messages"][0]["state"], "held", "{list}");
    assert!(sink.messages().is_empty());
    let (ok, out) = cli(&relay, &["queue", "release", &id]);
    assert!(ok, "{out}");
    let got = sink.wait_messages(1);
    assert!(got[0].content.contains("Subject: deferred one"));
}

#[test]
fn over_tls_the_admin_api_answers_the_cli_and_refuses_plain_http() {
    let relay = Relay::start(RelayConfig {
        admin: "tls = true".into(),
        ..RelayConfig::default()
    });
    // `sluice` commands pin the relay's own (generated) certificate.
    let (ok, out) = cli(&relay, &["queue", "list"]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&relay, &["reload"]);
    assert!(ok && out.contains("reloaded"), "{out}");
    // Plain HTTP gets no HTTP answer: the port speaks TLS only.
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", relay.admin_port)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).starts_with("HTTP/"),
        "answered in clear: {:?}",
        String::from_utf8_lossy(&answer)
    );
    // A TLS client that checks nothing but the protocol gets the answer.
    let out = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect"])
        .arg(format!("127.0.0.1:{}", relay.admin_port))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
            child.wait_with_output()
        })
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}
