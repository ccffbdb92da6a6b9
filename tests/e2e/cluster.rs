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
