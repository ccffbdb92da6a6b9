//! Several relay nodes sharing plugin counters through a real Redis server (Debian's
//! redis-server on loopback): limits hold exactly across nodes; when the server goes away the
//! configured failure mode applies without hanging a session, and sharing resumes when it
//! returns.

use sluice_e2e::{shipped_plugin_table, wait_for, Chat, Redis, Relay, RelayConfig};
use std::time::Duration;

/// A node whose tenant may send `per_minute` messages a minute, counted on `redis`.
fn node(redis: &Redis, per_minute: u32, cluster: &str) -> Relay {
    Relay::start(RelayConfig {
        // 50 sessions doing argon2 AUTH at once saturate two cores: the plugin's deadline is
        // out of reach of CPU starvation, the shared server's is generous for the same reason.
        plugins: shipped_plugin_table(
            "volume-limits",
            &format!(
                "timeout = \"10s\"\n[tenant.plugin.config]\nmessages_per_minute = {per_minute}"
            ),
        ),
        tables: redis.cluster_table(&format!("timeout = \"2s\"\n{cluster}")),
        ..RelayConfig::default()
    })
}

fn send(port: u16, rcpt: &str) -> String {
    let mut c = Chat::authed(port);
    c.send_message(
        "app@example.com",
        &[rcpt],
        "Subject: shared limit\r\n\r\nx\r\n",
    )
}

#[test]
fn a_tenant_limit_holds_exactly_across_two_nodes() {
    let redis = Redis::start();
    let a = node(&redis, 10, "");
    let b = node(&redis, 10, "");
    let ports = [a.port, b.port];
    let replies: Vec<String> = (0..50)
        .map(|i| {
            let port = ports[i % 2];
            std::thread::spawn(move || send(port, &format!("r{i}@dest.test")))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let accepted = replies.iter().filter(|r| r.starts_with("250")).count();
    assert_eq!(accepted, 10, "{replies:#?}");
    assert!(
        replies
            .iter()
            .filter(|r| !r.starts_with("250"))
            .all(|r| r.starts_with("451 4.7.1 over this tenant's limit of 10 messages per minute")),
        "{replies:#?}"
    );
    // Both nodes took part: each accepted some, and together exactly the limit.
    let on_a = a
        .events()
        .iter()
        .filter(|e| e["event"] == "accepted")
        .count();
    let on_b = b
        .events()
        .iter()
        .filter(|e| e["event"] == "accepted")
        .count();
    assert_eq!(on_a + on_b, 10, "a {on_a}, b {on_b}");
}

#[test]
fn without_the_server_tempfail_refuses_at_once_local_counts_per_node_and_sharing_resumes() {
    let mut redis = Redis::start();
    let closed = node(&redis, 3, "counters_on_unavailable = \"tempfail\"");
    let open = node(&redis, 3, "counters_on_unavailable = \"local\"");
    assert!(send(closed.port, "one@dest.test").starts_with("250"));
    assert!(send(open.port, "two@dest.test").starts_with("250"));
    redis.kill();

    // Fail closed: the hook fails, so the plugin's on_failure (tempfail) answers — promptly.
    let started = std::time::Instant::now();
    let r = send(closed.port, "three@dest.test");
    assert!(r.starts_with("451 4.3.0"), "{r}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // Fail open: this node counts alone — the limit of 3 holds for its own one message plus 2.
    let local: Vec<String> = (0..4)
        .map(|i| send(open.port, &format!("l{i}@dest.test")))
        .collect();
    let accepted = local.iter().filter(|r| r.starts_with("250")).count();
    assert_eq!(accepted, 2, "{local:#?}");
    assert!(open.log().contains("shared state server unavailable"));

    // The server returns (empty: no persistence): the counters are shared again.
    redis.spawn();
    let back = wait_for(Duration::from_secs(30), || {
        send(closed.port, "again@dest.test")
            .starts_with("250")
            .then_some(())
    });
    assert!(back.is_some(), "{}", closed.log());
    assert!(closed.log().contains("shared state server answers again"));
    // 1 counted on the fresh server; 2 more from the other node fill the shared limit of 3.
    assert!(send(open.port, "s1@dest.test").starts_with("250"));
    assert!(send(open.port, "s2@dest.test").starts_with("250"));
    let r = send(closed.port, "over@dest.test");
    assert!(r.starts_with("451 4.7.1"), "{r}");
}

#[test]
fn a_warmup_schedule_caps_a_pool_across_nodes_at_todays_step() {
    let redis = Redis::start();
    let sink = sluice_e2e::Sink::start(&[]);
    // Day 1 was yesterday (cap 1); today is day 2: a cap of 3 for both nodes together.
    let node = || {
        Relay::start(RelayConfig {
            tenants: sluice_e2e::relay::DEMO_TENANT.replace(
                "sender_domains = [\"example.com\"]",
                "sender_domains = [\"example.com\"]\npool = \"new-ip\"",
            ),
            delivery: Some(format!(
                "mode = \"smarthost\"\nretry = [\"1h\"]\n[delivery.smarthost]\nhost = \"127.0.0.1\"\nport = {}\n\
                 [[delivery.pool]]\nname = \"new-ip\"\nsource = [\"127.0.0.1\"]\ndaily_cap = 1000\n\
                 [delivery.pool.warmup]\nstart = \"{}\"\ncaps = [1, 3, 10]\n",
                sink.port,
                sluice_e2e::utc_date(1)
            )),
            tables: redis.cluster_table(""),
            ..RelayConfig::default()
        })
    };
    let (a, b) = (node(), node());
    for i in 0..5 {
        let port = if i % 2 == 0 { a.port } else { b.port };
        assert!(send(port, &format!("w{i}@dest.test")).starts_with("250"));
    }
    sink.wait_messages(3);
    let deferred = wait_for(Duration::from_secs(20), || {
        let d: Vec<_> = [&a, &b]
            .iter()
            .flat_map(|r| r.events())
            .filter(|e| e["event"] == "deferred")
            .collect();
        (d.len() >= 2).then_some(d)
    })
    .expect("two deferred");
    for d in &deferred {
        let reason = d["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("reached its daily cap of 3 messages (warm-up day 2)"),
            "{d}"
        );
    }
    // A marker: every attempt has been made (3 delivered + 2 deferred), and no more went.
    assert_eq!(sink.messages().len(), 3);
    let status = a
        .http("GET", "/v1/status", Some(sluice_e2e::READ_TOKEN))
        .json();
    let pool = &status["pools"][0];
    assert_eq!(pool["name"], "new-ip", "{status}");
    assert_eq!(pool["cap_today"], 3, "{status}");
    assert_eq!(pool["warmup_day"], 2, "{status}");
}
