//! Events: the journal, signed webhooks from its outbox and `GET /v1/events`, against a real
//! HTTP receiver on loopback (tests/tools/webhook_receiver.py): down then up, 500s, slow
//! answers, a relay killed with -9 mid-stream, and tenants kept apart.

use crate::openapi::check_answer;
use serde_json::Value;
use sluice_e2e::pki::TestCa;
use sluice_e2e::relay::DEMO_TENANT;
use sluice_e2e::webhooks::{journal, python_verifies, Receiver};
use sluice_e2e::{
    api_key_table, free_port, wait_for, Chat, Relay, RelayConfig, DEMO_API_KEY, READ_TOKEN,
};
use std::collections::BTreeSet;
use std::time::Duration;

const SECRET: &str = "whsec-test-secret-0123456789";
/// Quick retries, so a test sees several within seconds.
const FAST_RETRY: &str = "webhook_retry_initial = \"200ms\"\nwebhook_retry_max = \"1s\"\n";

/// A `[[tenant.webhook]]` named "app" for the last tenant, for `accepted` and `delivered`.
fn webhook(url: &str, extra: &str) -> String {
    format!(
        "[[tenant.webhook]]\nname = \"app\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n\
         events = [\"accepted\", \"delivered\"]\n{extra}\n"
    )
}

/// Sends `n` messages as the demo tenant in one session; their queue ids.
fn send(relay: &Relay, n: usize) -> Vec<String> {
    let mut c = Chat::authed(relay.port);
    (0..n)
        .map(|i| {
            let r = c.send_message(
                "app@example.com",
                &["user@dest.test"],
                &format!("Subject: message {i}\r\n\r\nhello\r\n"),
            );
            assert!(r.starts_with("250"), "{r}");
            r.rsplit(' ').next().unwrap().to_owned()
        })
        .collect()
}

/// The demo tenant's `accepted` and `delivered` events in the journal on disk.
fn wanted(relay: &Relay) -> Vec<Value> {
    journal(&relay.spool())
        .into_iter()
        .filter(|e| {
            e["tenant"] == "demo" && (e["event"] == "accepted" || e["event"] == "delivered")
        })
        .collect()
}

/// Waits until the journal holds `n` of [`wanted`] (every message delivered).
fn wait_wanted(relay: &Relay, n: usize) -> Vec<Value> {
    wait_for(Duration::from_secs(30), || {
        let w = wanted(relay);
        (w.len() >= n).then_some(w)
    })
    .unwrap_or_else(|| panic!("fewer than {n} events journaled; log:\n{}", relay.log()))
}

fn ids(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// Waits until the receiver has answered 200 to every event in `events`.
fn wait_received(receiver: &Receiver, events: &[Value], timeout: Duration) {
    let want = ids(events);
    receiver.wait_until("every event", timeout, |requests| {
        let got: BTreeSet<String> = requests
            .iter()
            .filter(|r| r.status == 200)
            .filter_map(|r| r.event()["id"].as_str().map(str::to_owned))
            .collect();
        want.is_subset(&got)
    });
}

/// A sample of `/metrics` (`name{labels}`), 0 when absent.
fn metric(relay: &Relay, sample: &str) -> f64 {
    let text = relay.http("GET", "/metrics", Some(READ_TOKEN)).body;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(sample)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

#[test]
fn webhooks_are_signed_https_posts_of_journaled_events_whatever_the_log_filter() {
    let ca = TestCa::new();
    let (cert, key) = ca.issue("127.0.0.1");
    let receiver = Receiver::start(
        free_port(),
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    let url = format!("https://127.0.0.1:{}/hook", receiver.port);
    let ca_line = format!("ca_file = \"{}\"", ca.ca_file().display());
    let relay = Relay::start(RelayConfig {
        tenants: format!("{DEMO_TENANT}{}", webhook(&url, &ca_line)),
        // The log shows errors only; events are journaled and sent all the same.
        log_filter: "error".into(),
        ..RelayConfig::default()
    });
    let queued = send(&relay, 1);
    let events = wait_wanted(&relay, 2);
    wait_received(&receiver, &events, Duration::from_secs(20));
    assert!(
        !relay.log().contains("\"target\":\"sluice::event\""),
        "SLUICE_LOG=error logged an info event:\n{}",
        relay.log()
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let requests = receiver.requests();
    let mut names = Vec::new();
    for r in &requests {
        let event = r.event();
        assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
        assert_eq!(r.header("sluice-event-id"), event["id"].as_str(), "{r:?}");
        let signature = r.header("sluice-signature").expect("signed");
        assert!(
            python_verifies(SECRET, signature, &r.body),
            "{signature} does not verify for {}",
            r.body
        );
        assert!(!python_verifies(
            "another-secret-0123456789",
            signature,
            &r.body
        ));
        assert!(!python_verifies(
            SECRET,
            signature,
            &r.body.replace("demo", "dema")
        ));
        let t: u64 = signature
            .strip_prefix("t=")
            .and_then(|s| s.split(',').next())
            .and_then(|t| t.parse().ok())
            .expect("t=<unix>");
        assert!(t.abs_diff(now) < 300, "t={t}, now {now}");
        assert_eq!(event["tenant"], "demo");
        assert_eq!(event["queue_id"], queued[0].as_str());
        assert!(
            event["time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{event}"
        );
        if event["event"] == "delivered" {
            assert_eq!(event["rcpt"], "user@dest.test");
        }
        names.push(event["event"].as_str().unwrap().to_owned());
        // Byte for byte the journal's line.
        assert!(events.contains(&event), "{event} is not in the journal");
    }
    names.sort();
    assert_eq!(names, ["accepted", "delivered"], "{requests:?}");
    // The journal holds events only, not the relay's other log lines.
    let all = journal(&relay.spool());
    assert!(all.iter().all(|e| e["event"].is_string()), "{all:#?}");
}

#[test]
fn a_receiver_down_then_up_gets_every_event_and_the_backlog_is_measured() {
    let port = free_port();
    let relay = Relay::start(RelayConfig {
        tenants: format!(
            "{DEMO_TENANT}{}",
            webhook(&format!("http://127.0.0.1:{port}/hook"), "")
        ),
        events: FAST_RETRY.into(),
        ..RelayConfig::default()
    });
    send(&relay, 5);
    let events = wait_wanted(&relay, 10);
    let backlog = "sluice_webhook_backlog{tenant=\"demo\",webhook=\"app\"}";
    let failed =
        "sluice_webhook_deliveries_total{outcome=\"failed\",tenant=\"demo\",webhook=\"app\"}";
    wait_for(Duration::from_secs(20), || {
        (metric(&relay, backlog) == 10.0 && metric(&relay, failed) >= 2.0).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "no backlog of 10 and failures measured:\n{}",
            relay.http("GET", "/metrics", Some(READ_TOKEN)).body
        )
    });

    let receiver = Receiver::start(port, &[]);
    wait_received(&receiver, &events, Duration::from_secs(20));
    wait_for(Duration::from_secs(10), || {
        (metric(&relay, backlog) == 0.0).then_some(())
    })
    .expect("the backlog drains to 0");
    let delivered =
        "sluice_webhook_deliveries_total{outcome=\"delivered\",tenant=\"demo\",webhook=\"app\"}";
    assert!(metric(&relay, delivered) >= 10.0);
}

#[test]
fn answers_of_500_and_answers_too_slow_are_retried_until_delivered() {
    // Three 500s, then two answers that take 3 s against a timeout of 1 s, then 200s.
    let receiver = Receiver::start(
        free_port(),
        &[
            "--fail-first",
            "3",
            "--slow-first",
            "2",
            "--slow-seconds",
            "3",
        ],
    );
    let relay = Relay::start(RelayConfig {
        tenants: format!(
            "{DEMO_TENANT}{}",
            webhook(&receiver.url(), "timeout = \"1s\"")
        ),
        events: FAST_RETRY.into(),
        ..RelayConfig::default()
    });
    send(&relay, 2);
    let events = wait_wanted(&relay, 4);
    wait_received(&receiver, &events, Duration::from_secs(30));
    let requests = receiver.requests();
    assert_eq!(
        requests.iter().filter(|r| r.status == 500).count(),
        3,
        "{requests:?}"
    );
    let count = |outcome: &str| {
        metric(
            &relay,
            &format!(
                "sluice_webhook_deliveries_total{{outcome=\"{outcome}\",tenant=\"demo\",webhook=\"app\"}}"
            ),
        )
    };
    // The receiver answered the slow ones too, after the relay gave up on them: they count
    // as delivered once the relay's retries are answered in time.
    wait_for(Duration::from_secs(30), || {
        (count("delivered") >= 4.0).then_some(())
    })
    .expect("four deliveries acknowledged");
    assert_eq!(count("refused"), 3.0);
    assert_eq!(count("timeout"), 2.0);
}

/// The relay is killed with -9 while it streams events to a receiver, then restarted: every
/// journaled event of the tenant reaches the receiver; the duplicates are counted.
#[test]
fn a_relay_killed_mid_stream_loses_no_event() {
    // 50 ms per answer, one at a time: the stream takes a few seconds.
    let receiver = Receiver::start(
        free_port(),
        &["--slow-first", "1000000", "--slow-seconds", "0.05"],
    );
    let mut relay = Relay::start(RelayConfig {
        tenants: format!(
            "{DEMO_TENANT}{}",
            webhook(&receiver.url(), "concurrency = 1")
        ),
        events: FAST_RETRY.into(),
        ..RelayConfig::default()
    });
    let queued = send(&relay, 30);
    receiver.wait_until("a part of the stream", Duration::from_secs(30), |r| {
        r.len() >= 10
    });
    relay.kill9();
    let before = receiver.requests().len();
    relay.spawn();
    // Everything journaled before and after the kill (a message delivered again after the
    // restart has a second `delivered` event, with its own id).
    let events = wait_wanted(&relay, 60);
    wait_received(&receiver, &events, Duration::from_secs(60));
    let received: Vec<Value> = receiver.accepted();
    let unique = ids(&received);
    let lost: Vec<_> = ids(&events).difference(&unique).cloned().collect();
    let duplicates = received.len() - unique.len();
    eprintln!(
        "kill -9 mid-stream: {} events journaled, {} received before the kill, {} requests in all, \
         {} lost, {duplicates} duplicates",
        events.len(),
        before,
        received.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "lost {lost:?}");
    // Every message answered 250 has its `accepted` event at the receiver.
    for q in &queued {
        assert!(
            received
                .iter()
                .any(|e| e["event"] == "accepted" && e["queue_id"] == q.as_str()),
            "no accepted event for {q}"
        );
    }
    // At least once, and not much more: only what was in flight or past the cursor.
    assert!(duplicates <= 5, "{duplicates} duplicates");
}

#[test]
fn an_event_retried_past_webhook_retry_for_is_dropped_with_an_operator_event() {
    let port = free_port();
    let relay = Relay::start(RelayConfig {
        tenants: format!(
            "{DEMO_TENANT}{}",
            webhook(&format!("http://127.0.0.1:{port}/hook"), "")
        ),
        events: format!("{FAST_RETRY}webhook_retry_for = \"2s\"\n"),
        ..RelayConfig::default()
    });
    let queued = send(&relay, 1);
    let dropped = relay.wait_events("webhook_dropped", 2);
    for d in &dropped {
        assert_eq!(d["webhook_tenant"], "demo", "{d}");
        assert_eq!(d["webhook"], "app", "{d}");
        assert!(d.get("tenant").is_none(), "an operator event: {d}");
        assert!(d["attempts"].as_u64().unwrap() >= 1, "{d}");
    }
    let journaled: Vec<Value> = journal(&relay.spool())
        .into_iter()
        .filter(|e| e["event"] == "webhook_dropped")
        .collect();
    let dropped_ids: BTreeSet<&str> = journaled
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(
        dropped_ids,
        ids(&wanted(&relay)).iter().map(String::as_str).collect()
    );
    let dropped_metric =
        "sluice_webhook_deliveries_total{outcome=\"dropped\",tenant=\"demo\",webhook=\"app\"}";
    assert_eq!(metric(&relay, dropped_metric), 2.0);
    // Nothing is left for the endpoint: a receiver that comes up now gets only new events.
    let receiver = Receiver::start(port, &[]);
    let marker = send(&relay, 1);
    let events = wait_wanted(&relay, 4);
    wait_received(&receiver, &events[2..], Duration::from_secs(20));
    assert!(
        receiver
            .accepted()
            .iter()
            .all(|e| e["queue_id"] == marker[0].as_str() && e["queue_id"] != queued[0].as_str()),
        "{:?}",
        receiver.accepted()
    );
}

/// Each tenant's webhook gets its own events only, and so does each tenant's key on
/// `GET /v1/events`; the API pages with a cursor and filters, and answers as documented.
#[test]
fn a_tenant_never_gets_another_tenants_events() {
    let demo_receiver = Receiver::start(free_port(), &[]);
    let other_receiver = Receiver::start(free_port(), &[]);
    let all = |url: &str| {
        format!(
            // Any variable of the relay's long enough will do as a secret from the environment.
            "[[tenant.webhook]]\nurl = \"{url}\"\nsecret_env = \"PATH\"\nevents = [\"*\"]\n"
        )
    };
    let relay = Relay::start(RelayConfig {
        tenants: format!(
            "{DEMO_TENANT}{}{}\n[[tenant]]\nname = \"other\"\nsender_domains = [\"other.test\"]\n\
             trusted_networks = [\"127.0.0.0/8\"]\n{}{}",
            api_key_table("sender", "demo-send-key", &["send"]),
            all(&demo_receiver.url()),
            api_key_table("poller", "other-events-key", &["events"]),
            all(&other_receiver.url()),
        ),
        ..RelayConfig::default()
    });
    let demo = send(&relay, 2);
    let mut c = Chat::ehlo(relay.port);
    let r = c.send_message(
        "shop@other.test",
        &["buyer@dest.test"],
        "Subject: o\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    let other = r.rsplit(' ').next().unwrap().to_owned();
    // A demo message after the other tenant's: once its events are in, the other's were
    // read past.
    let marker = send(&relay, 1);
    let got = demo_receiver.wait_until("the marker", Duration::from_secs(30), |r| {
        r.iter().any(|r| {
            let e = r.event();
            e["event"] == "delivered" && e["queue_id"] == marker[0].as_str()
        })
    });
    for r in &got {
        assert_eq!(r.event()["tenant"], "demo", "{}", r.body);
    }
    let got = other_receiver.wait_until("its message", Duration::from_secs(30), |r| {
        r.iter()
            .any(|r| r.event()["event"] == "delivered" && r.event()["queue_id"] == other.as_str())
    });
    for r in &got {
        assert_eq!(r.event()["tenant"], "other", "{}", r.body);
    }

    // The API: each key reads its tenant's events only.
    let doc = relay.api("GET", "/v1/openapi.json", None, None).json();
    let get = |path: &str, key: &str| {
        let r = relay.api("GET", path, Some(key), None);
        let body = check_answer(
            &doc,
            "GET",
            path.split('?').next().unwrap(),
            "/v1/events",
            &r,
        );
        (r.status, body)
    };
    let (status, page) = get("/v1/events?limit=1000", DEMO_API_KEY);
    assert_eq!(status, 200, "{page}");
    let events = page["events"].as_array().unwrap();
    assert!(events.iter().all(|e| e["tenant"] == "demo"), "{page}");
    for q in demo.iter().chain(&marker) {
        assert!(events
            .iter()
            .any(|e| e["queue_id"] == q.as_str() && e["event"] == "accepted"));
    }
    assert!(
        !events.iter().any(|e| e["queue_id"] == other.as_str()),
        "{page}"
    );
    let (_, page) = get("/v1/events", "other-events-key");
    let theirs = page["events"].as_array().unwrap();
    assert!(
        !theirs.is_empty() && theirs.iter().all(|e| e["tenant"] == "other"),
        "{page}"
    );

    // Paged one at a time with the cursor: the same events, in order.
    let mut paged = Vec::new();
    let mut after = String::new();
    loop {
        let path = if after.is_empty() {
            "/v1/events?limit=1".to_owned()
        } else {
            format!("/v1/events?limit=1&after={after}")
        };
        let (_, page) = get(&path, DEMO_API_KEY);
        paged.extend(page["events"].as_array().unwrap().iter().cloned());
        after = page["next"].as_str().unwrap_or_default().to_owned();
        if page["more"] == false {
            break;
        }
        assert!(paged.len() <= events.len(), "paging does not end");
    }
    assert_eq!(&paged, events);
    // Polling from the end gives nothing new, and the same cursor back.
    let (_, page) = get(&format!("/v1/events?after={after}"), DEMO_API_KEY);
    assert_eq!(page["events"], serde_json::json!([]));
    assert_eq!(page["next"], after.as_str());

    // Filters.
    let (_, page) = get(
        &format!("/v1/events?event=delivered&queue_id={}", demo[0]),
        DEMO_API_KEY,
    );
    let only = page["events"].as_array().unwrap();
    assert_eq!(only.len(), 1, "{page}");
    assert_eq!(only[0]["event"], "delivered");
    assert_eq!(only[0]["queue_id"], demo[0].as_str());
    // Another tenant's queue id finds nothing.
    let (_, page) = get(&format!("/v1/events?queue_id={other}"), DEMO_API_KEY);
    assert_eq!(page["events"], serde_json::json!([]));

    // Bad requests and a key without the scope.
    for bad in [
        "/v1/events?limit=0",
        "/v1/events?limit=1001",
        "/v1/events?after=yesterday",
        "/v1/events?event=nope",
        "/v1/events?tenant=other",
    ] {
        let (status, body) = get(bad, DEMO_API_KEY);
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = get("/v1/events", "demo-send-key");
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["required_scope"], "events");
}

/// A reload adds, changes and removes endpoints: an added one gets the events after it, a
/// removed one nothing more.
#[test]
fn webhooks_follow_a_reload() {
    let receiver = Receiver::start(free_port(), &[]);
    let relay = Relay::start(RelayConfig::default());
    let before = send(&relay, 1);
    wait_wanted(&relay, 2);
    let config = std::fs::read_to_string(&relay.config_path).unwrap();
    // The demo tenant's tables end the file: the webhook goes under it.
    std::fs::write(
        &relay.config_path,
        format!("{config}\n{}", webhook(&receiver.url(), "")),
    )
    .unwrap();
    let r = relay.http("POST", "/v1/reload", Some(sluice_e2e::ADMIN_TOKEN));
    assert_eq!(r.status, 200, "{r:?}");
    let added = send(&relay, 1);
    let events = wait_wanted(&relay, 4);
    wait_received(&receiver, &events[2..], Duration::from_secs(20));
    let got = receiver.accepted();
    assert!(
        got.iter().all(|e| e["queue_id"] == added[0].as_str()),
        "only the events after the reload, not {}: {got:?}",
        before[0]
    );

    // Removed: later events stay in the journal only.
    std::fs::write(&relay.config_path, &config).unwrap();
    let r = relay.http("POST", "/v1/reload", Some(sluice_e2e::ADMIN_TOKEN));
    assert_eq!(r.status, 200, "{r:?}");
    send(&relay, 1);
    wait_wanted(&relay, 6);
    // The endpoint's task ends (its backlog gauge goes), and sends nothing more.
    wait_for(Duration::from_secs(10), || {
        let text = relay.http("GET", "/metrics", Some(READ_TOKEN)).body;
        (!text.contains("sluice_webhook_backlog{")).then_some(())
    })
    .expect("the removed endpoint stops");
    send(&relay, 1);
    wait_wanted(&relay, 8);
    assert_eq!(receiver.accepted().len(), got.len());
}

/// An endpoint whose receiver takes 5 s an answer holds only its own `concurrency` of the
/// relay's requests: another endpoint gets every event meanwhile (in sequence, the slow one
/// would hold it up for 50 s).
#[test]
fn a_slow_endpoint_does_not_hold_back_another() {
    let slow = Receiver::start(
        free_port(),
        &["--slow-first", "1000000", "--slow-seconds", "5"],
    );
    let fast = Receiver::start(free_port(), &[]);
    let relay = Relay::start(RelayConfig {
        tenants: format!(
            "{DEMO_TENANT}{}{}",
            webhook(&slow.url(), "timeout = \"10s\"\nconcurrency = 2")
                .replace("\"app\"", "\"slow\""),
            webhook(&fast.url(), ""),
        ),
        // Three requests in flight in all: the slow endpoint may take two.
        events: "webhook_concurrency = 3\n".into(),
        ..RelayConfig::default()
    });
    send(&relay, 10);
    let events = wait_wanted(&relay, 20);
    let started = std::time::Instant::now();
    wait_received(&fast, &events, Duration::from_secs(20));
    eprintln!(
        "the fast endpoint had all 20 events {:?} after they were journaled; the slow one had answered {}",
        started.elapsed(),
        slow.requests().len()
    );
    assert!(slow.requests().len() < 20);
}
