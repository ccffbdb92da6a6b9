//! Suppression lists shared by two relay nodes through a real Redis server (Debian's
//! redis-server on loopback): what one node adds (API, hard bounce) the other refuses, what
//! one removes the other accepts again; without the server each node applies
//! `cluster.suppressions_on_unavailable` at once, and what was changed meanwhile reaches the
//! other node when the server is back.

use sluice_e2e::{
    wait_for, Chat, Redis, Relay, RelayConfig, Sink, ADMIN_TOKEN, DEMO_API_KEY, READ_TOKEN,
};
use std::time::{Duration, Instant};

/// A node sharing `redis`, delivering to `sink`, with extra `[cluster]` lines.
fn node(redis: &Redis, sink: &Sink, cluster: &str) -> Relay {
    Relay::start(RelayConfig {
        tables: redis.cluster_table(&format!("timeout = \"1s\"\n{cluster}")),
        ..RelayConfig::default().smarthost(sink.port, "")
    })
}

/// The reply to `RCPT TO:<rcpt>` in a fresh transaction on `relay`.
fn rcpt(relay: &Relay, rcpt: &str) -> String {
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@example.com>", "250");
    c.send(&format!("RCPT TO:<{rcpt}>"));
    c.reply().expect("a reply to RCPT")
}

/// `PUT /v1/suppressions/ADDRESS` through `relay`'s application API: the status.
fn suppress(relay: &Relay, address: &str) -> u16 {
    let path = format!("/v1/suppressions/{address}");
    relay.api("PUT", &path, Some(DEMO_API_KEY), None).status
}

/// `DELETE /v1/suppressions/ADDRESS` through `relay`'s application API: the status.
fn unsuppress(relay: &Relay, address: &str) -> u16 {
    let path = format!("/v1/suppressions/{address}");
    relay.api("DELETE", &path, Some(DEMO_API_KEY), None).status
}

/// Waits until `relay` answers RCPT to `address` with a reply starting with `prefix`.
fn wait_rcpt(relay: &Relay, address: &str, prefix: &str) -> String {
    let mut last = String::new();
    wait_for(Duration::from_secs(20), || {
        last = rcpt(relay, address);
        last.starts_with(prefix).then(|| last.clone())
    })
    .unwrap_or_else(|| panic!("RCPT {address}: still {last:?}; log:\n{}", relay.log()))
}

/// Waits until `relay`'s log has `n` lines containing `needle`.
fn wait_log(relay: &Relay, needle: &str, n: usize) {
    wait_for(Duration::from_secs(20), || {
        (relay.log().matches(needle).count() >= n).then_some(())
    })
    .unwrap_or_else(|| panic!("not {n} {needle:?} in the log:\n{}", relay.log()));
}

#[test]
fn a_suppression_made_through_one_node_is_enforced_by_the_other_and_a_removal_everywhere() {
    let redis = Redis::start();
    let sink = Sink::start(&["--reject-rcpt", "gone@dest.test"]);
    let a = node(&redis, &sink, "");
    let b = node(&redis, &sink, "");

    // Added through A's API: B refuses it at RCPT, from its first lookup on.
    assert_eq!(suppress(&a, "Manual@dest.test"), 201);
    let r = rcpt(&b, "Manual@DEST.test");
    assert!(
        r.starts_with("550 5.1.1 <Manual@DEST.test>: recipient is on the tenant's suppression list (manual since "),
        "{r}"
    );
    // B's admin API lists the shared list.
    let list = b
        .http("GET", "/v1/tenants/demo/suppressions", Some(ADMIN_TOKEN))
        .json();
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["suppressions"][0]["address"], "Manual@dest.test");
    let csv = b
        .api("GET", "/v1/suppressions.csv", Some(DEMO_API_KEY), None)
        .body;
    assert!(csv.contains("Manual@dest.test,manual"), "{csv}");

    // Removed through B: A accepts it again.
    assert_eq!(unsuppress(&b, "Manual@dest.test"), 200);
    assert!(rcpt(&a, "Manual@dest.test").starts_with("250"));
    assert_eq!(unsuppress(&a, "Manual@dest.test"), 404);

    // A real hard bounce on A suppresses the address on B.
    let mut c = Chat::authed(a.port);
    let r = c.send_message(
        "app@example.com",
        &["gone@dest.test"],
        "Subject: b\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    a.wait_events("bounced", 1);
    let r = wait_rcpt(&b, "gone@dest.test", "550 5.1.1");
    assert!(r.contains("(hard_bounce since "), "{r}");
    let entry = b
        .api(
            "GET",
            "/v1/suppressions/gone@dest.test",
            Some(DEMO_API_KEY),
            None,
        )
        .json();
    assert_eq!(entry["detail"], "550 5.1.1 No such user", "{entry}");
    // B never saw the bounce: the entry is not in its own log.
    assert!(!b.log().contains("suppression added"), "{}", b.log());
}

#[test]
fn without_the_server_local_and_tempfail_apply_at_once_and_changes_made_meanwhile_reach_the_other_node(
) {
    let mut redis = Redis::start();
    let sink = Sink::start(&[]);
    let open = node(&redis, &sink, "suppressions_on_unavailable = \"local\"");
    let closed = node(&redis, &sink, "suppressions_on_unavailable = \"tempfail\"");
    assert_eq!(suppress(&open, "before@dest.test"), 201);
    assert_eq!(suppress(&open, "removed@dest.test"), 201);
    assert!(rcpt(&closed, "before@dest.test").starts_with("550 5.1.1"));
    redis.kill();

    // Fail closed: 451 4.3.0 for every recipient, within the bound of `cluster.timeout`.
    let started = Instant::now();
    let r = rcpt(&closed, "anyone@dest.test");
    assert!(
        r.starts_with("451 4.3.0 Suppression list unavailable"),
        "{r}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // The HTTP sending API refuses the recipient with the same reply, as temporary.
    let body = br#"{"from":"app@example.com","to":["anyone@dest.test"],"subject":"s","text":"x"}"#;
    let v = closed
        .api(
            "POST",
            "/v1/messages",
            Some(DEMO_API_KEY),
            Some(("application/json", body)),
        )
        .json();
    assert_eq!(v["refused"][0]["rcpt"], "anyone@dest.test", "{v}");
    assert_eq!(v["refused"][0]["temporary"], true, "{v}");
    let reply = v["refused"][0]["smtp_reply"].as_str().unwrap_or_default();
    assert!(reply.starts_with("451 4.3.0"), "{v}");
    // Fail open: this node's own list still refuses what was added through it.
    let started = Instant::now();
    assert!(rcpt(&open, "before@dest.test").starts_with("550 5.1.1"));
    assert!(rcpt(&open, "other@dest.test").starts_with("250"));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(open.log().contains("shared state server unavailable"));
    // Changes during the outage are taken, kept on the node and enforced there.
    assert_eq!(suppress(&open, "during@dest.test"), 201);
    assert_eq!(unsuppress(&open, "removed@dest.test"), 200);
    assert!(rcpt(&open, "during@dest.test").starts_with("550 5.1.1"));
    let metrics = open.http("GET", "/metrics", Some(READ_TOKEN)).body;
    assert!(
        metrics.contains("sluice_suppression_fallbacks_total{fallback=\"local\"}"),
        "{metrics}"
    );

    // The server comes back empty (no persistence): the open node refills it from its log
    // and sends what changed meanwhile; the other node enforces all of it.
    redis.spawn();
    // (Once at start, once for the new generation.)
    wait_log(&open, "copied into the shared server's generation", 2);
    let r = wait_rcpt(&closed, "during@dest.test", "550 5.1.1");
    assert!(r.contains("(manual since "), "{r}");
    assert!(rcpt(&closed, "before@dest.test").starts_with("550 5.1.1"));
    assert!(rcpt(&closed, "removed@dest.test").starts_with("250"));
    assert!(closed.log().contains("shared state server answers again"));
}

#[test]
fn changes_made_while_the_server_is_paused_are_sent_in_order_once_it_answers() {
    let redis = Redis::start();
    let sink = Sink::start(&[]);
    let a = node(&redis, &sink, "");
    let b = node(&redis, &sink, "");
    assert_eq!(suppress(&a, "kept@dest.test"), 201);
    assert_eq!(suppress(&a, "flip@dest.test"), 201);
    // The server stops answering (its data stays): A's changes wait in its queue, in order.
    redis.cli(&["CLIENT", "PAUSE", "4000", "ALL"]);
    assert_eq!(unsuppress(&a, "flip@dest.test"), 200);
    assert_eq!(suppress(&a, "flip@dest.test"), 201);
    assert_eq!(unsuppress(&a, "kept@dest.test"), 200);
    assert_eq!(suppress(&a, "new@dest.test"), 201);
    wait_log(&a, "were sent to it", 1);
    let r = wait_rcpt(&b, "new@dest.test", "550 5.1.1");
    assert!(r.contains("(manual since "), "{r}");
    assert!(rcpt(&b, "flip@dest.test").starts_with("550 5.1.1"));
    assert!(rcpt(&b, "kept@dest.test").starts_with("250"));
}

#[test]
fn a_tenants_cap_holds_across_nodes() {
    let redis = Redis::start();
    let sink = Sink::start(&[]);
    let capped = || {
        Relay::start(RelayConfig {
            tables: format!(
                "{}[suppressions]\nmax_per_tenant = 2\n",
                redis.cluster_table("timeout = \"1s\"")
            ),
            ..RelayConfig::default().smarthost(sink.port, "")
        })
    };
    let (a, b) = (capped(), capped());
    assert_eq!(suppress(&a, "one@dest.test"), 201);
    assert_eq!(suppress(&b, "two@dest.test"), 201);
    // Each node's own list holds one entry; the shared one is full.
    assert_eq!(suppress(&a, "three@dest.test"), 409);
    assert_eq!(suppress(&b, "three@dest.test"), 409);
    assert!(rcpt(&b, "three@dest.test").starts_with("250"));
    // Replacing an entry takes no room; a removal through either node makes some.
    assert_eq!(suppress(&b, "one@dest.test"), 200);
    assert_eq!(unsuppress(&b, "one@dest.test"), 200);
    assert_eq!(suppress(&a, "three@dest.test"), 201);
    assert!(rcpt(&b, "three@dest.test").starts_with("550 5.1.1"));
}
