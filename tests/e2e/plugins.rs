use sluice_e2e::relay::DEMO_TENANT;
use sluice_e2e::{
    fixture, plugin_table, sluice_bin, text, wait_for, Chat, Relay, RelayConfig, Sink, ADMIN_TOKEN,
    READ_TOKEN,
};
use std::process::Command;
use std::time::Duration;

fn with_plugins(plugins: String) -> Relay {
    Relay::start(RelayConfig {
        plugins,
        ..Default::default()
    })
}

/// `sluice plugin check FILE`: whether it succeeded, and what it printed.
fn plugin_check(wasm: &std::path::Path) -> (bool, String) {
    let out = Command::new(sluice_bin())
        .args(["plugin", "check"])
        .arg(wasm)
        .output()
        .unwrap();
    (out.status.success(), text(&out))
}

fn send(relay: &Relay, subject: &str, rcpt: &str) -> String {
    let mut c = Chat::authed(relay.port);
    c.send_message(
        "app@example.com",
        &[rcpt],
        &format!("Subject: {subject}\r\n\r\nbody\r\n"),
    )
}

#[test]
fn every_verdict_and_action_end_to_end() {
    let relay = with_plugins(plugin_table(
        "verdicts",
        "verdicts",
        "[tenant.plugin.config]\nblocked_sender = \"spammer@example.com\"\n",
    ));
    let r = send(&relay, "REJECT this", "a@dest.test");
    assert!(
        r.starts_with("550 5.7.1 subject says reject [verdicts#")
            && r.ends_with(": subject-reject]"),
        "{r}"
    );
    let r = send(&relay, "TEMPFAIL this", "b@dest.test");
    assert!(
        r.starts_with("451 4.7.1 subject says later [verdicts#"),
        "{r}"
    );
    assert!(send(&relay, "DISCARD this", "c@dest.test").starts_with("250 2.0.0"));
    assert!(send(&relay, "ACCEPT this", "d@dest.test").starts_with("250 2.0.0"));
    assert!(send(&relay, "plain message", "e@dest.test").starts_with("250 2.0.0"));

    let mut c = Chat::authed(relay.port);
    let r = c.cmd("MAIL FROM:<spammer@example.com>", "550 5.7.1");
    assert!(r.contains("blocked-sender"), "{r}");
    c.cmd("MAIL FROM:<app@example.com>", "250");
    let r = c.cmd("RCPT TO:<nobody@dest.test>", "550 5.1.1");
    assert!(r.contains("[verdicts#"), "{r}");

    let plain = &relay.wait_mailbox("e@dest.test", 1)[0];
    assert!(plain.contains("\r\nX-Verdicts: size="), "{plain}");
    relay.wait_mailbox("d@dest.test", 1);
    let accepted = relay.wait_events("accepted", 2);
    assert!(
        accepted.iter().any(|e| e["tags"] == "checked"),
        "{accepted:?}"
    );
    assert!(
        accepted.iter().any(|e| e["tags"] == "accepted-early"),
        "{accepted:?}"
    );
    relay.wait_events("discarded", 1);
    for rcpt in ["a@dest.test", "b@dest.test", "c@dest.test"] {
        assert!(relay.mailbox(rcpt).is_empty(), "{rcpt} got mail");
    }
}

#[test]
fn plugins_read_the_session_through_its_accessors() {
    let relay = with_plugins(plugin_table("verdicts", "verdicts", ""));
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &["one@dest.test", "two@dest.test"],
        "Subject: SESSION\r\n\r\nbody\r\n",
    );
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let m = &relay.wait_mailbox("one@dest.test", 1)[0];
    // Folded by the relay (its line passes 78 octets); compared unfolded.
    let header = sluice_e2e::header_field(m, "X-Session")
        .unwrap_or_else(|| panic!("no X-Session header: {m}"));
    assert_eq!(
        header,
        "X-Session: ip=127.0.0.1 helo=client.test tenant=demo auth=demo tls=- \
         from=app@example.com rcpts=2:one@dest.test,two@dest.test"
    );
}

#[test]
fn quarantined_mail_is_held_until_released() {
    let mut relay = with_plugins(plugin_table("verdicts", "verdicts", ""));
    let r = send(&relay, "QUARANTINE me", "held@dest.test");
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{r}");
    let id = r.rsplit(' ').next().unwrap().to_owned();
    relay.wait_events("quarantined", 1);
    assert!(relay.mailbox("held@dest.test").is_empty());
    let config = relay.config_path.clone();
    let cli = |args: &[&str]| {
        let out = Command::new(sluice_bin())
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        text(&out)
    };
    let listed = cli(&["quarantine", "list"]);
    assert!(
        listed.contains(&id) && listed.contains("subject says hold"),
        "{listed}"
    );
    // The queue points to the quarantine.
    let out = Command::new(sluice_bin())
        .args(["queue", "show", &id, "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!(
            "{id} is quarantined, not queued: see `sluice quarantine show {id}`"
        )),
        "{}",
        text(&out)
    );
    let shown = cli(&["quarantine", "show", &id]);
    assert!(
        shown.contains("reason=subject says hold") && shown.contains("Subject: QUARANTINE me"),
        "{shown}"
    );
    let api = relay.http("GET", &format!("/v1/quarantine/{id}"), Some(READ_TOKEN));
    assert!(
        api.json()["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("subject says hold")),
        "{api:?}"
    );
    let released = cli(&["quarantine", "release", &id]);
    assert!(released.contains("queued for delivery"), "{released}");
    let m = &relay.wait_mailbox("held@dest.test", 1)[0];
    assert!(m.contains("Subject: QUARANTINE me"));
    assert!(!cli(&["quarantine", "list"]).contains(&id));

    // Released while no relay runs: the next one to start delivers it.
    let r = send(&relay, "QUARANTINE me too", "later@dest.test");
    let id = r.rsplit(' ').next().unwrap().to_owned();
    relay.wait_events("quarantined", 2);
    relay.terminate();
    assert!(cli(&["quarantine", "list"]).contains(&id));
    let released = cli(&["quarantine", "release", &id]);
    assert!(released.contains("no relay is running"), "{released}");
    relay.spawn();
    let m = &relay.wait_mailbox("later@dest.test", 1)[0];
    assert!(m.contains("Subject: QUARANTINE me too"));
}

#[test]
fn a_quarantined_message_can_be_deleted_for_good() {
    let mut relay = with_plugins(plugin_table("verdicts", "verdicts", ""));
    let r = send(&relay, "QUARANTINE me", "gone@dest.test");
    let id = r.rsplit(' ').next().unwrap().to_owned();
    relay.wait_events("quarantined", 1);
    let path = format!("/v1/quarantine/{id}");
    assert_eq!(relay.http("DELETE", &path, Some(READ_TOKEN)).status, 403);
    let r = relay.http("DELETE", &path, Some(ADMIN_TOKEN));
    assert_eq!(
        (r.status, &r.json()["deleted"]),
        (200, &serde_json::json!(id)),
        "{r:?}"
    );
    let r = relay.http("GET", &path, Some(READ_TOKEN));
    assert_eq!(r.status, 404, "{r:?}");
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("no quarantined message"));

    // With no relay running, the CLI deletes the files itself.
    let r = send(&relay, "QUARANTINE me too", "gone@dest.test");
    let id = r.rsplit(' ').next().unwrap().to_owned();
    relay.wait_events("quarantined", 2);
    relay.terminate();
    let out = Command::new(sluice_bin())
        .args(["quarantine", "delete", &id, "--config"])
        .arg(&relay.config_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    relay.spawn();
    let r = relay.http("GET", "/v1/quarantine", Some(READ_TOKEN)).json();
    assert_eq!(r["count"], 0, "{r}");
    assert!(relay.mailbox("gone@dest.test").is_empty());
}

#[test]
fn hostile_plugins_are_contained_by_their_limits() {
    // Only the loop is meant to meet the deadline: the others get one that CPU starvation
    // (a loaded test machine) cannot reach before their own limit does.
    let cases = [
        ("loop", "timeout", "16MB", "300ms"),
        ("memory", "memory", "16MB", "10s"),
        ("trap", "trap", "16MB", "10s"),
        // Room to build the 10 MB header, so that the host is the one refusing it.
        ("huge-header", "invalid", "64MB", "10s"),
    ];
    for (mode, kind, memory, timeout) in cases {
        let relay = with_plugins(plugin_table(
            "hostile",
            "hostile",
            &format!("timeout = \"{timeout}\"\nmemory = \"{memory}\"\n[tenant.plugin.config]\nmode = \"{mode}\"\n"),
        ));
        let r = send(&relay, "x", "victim@dest.test");
        assert!(
            r.starts_with("451 4.3.0 Policy check temporarily unavailable"),
            "{mode}: {r}"
        );
        assert!(r.contains(&format!(": {kind}]")), "{mode}: {r}");
        let failed = relay.wait_events("plugin_failed", 1);
        assert_eq!(failed[0]["failure"], kind, "{mode}");
        if mode == "trap" {
            // The panic message the guest printed on its way down is in the plugin's log.
            let log = relay.log();
            assert!(log.contains("hostile plugin panics on purpose"), "{log}");
        }
        // The relay itself is fine: a session still works and the RSS stays small.
        Chat::authed(relay.port).cmd("NOOP", "250");
        let rss_kib: u64 = std::fs::read_to_string(format!("/proc/{}/status", relay.pid()))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("VmRSS"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap();
        assert!(rss_kib < 200 * 1024, "{mode}: relay RSS {rss_kib} KiB");
    }
}

#[test]
fn plugin_output_is_logged_once_and_capped() {
    let relay = with_plugins(plugin_table(
        "verdicts",
        "verdicts",
        "[tenant.plugin.config]\nchatty = \"yes\"\n",
    ));
    for n in 0..2 {
        let r = send(&relay, "x", &format!("rcpt{n}@dest.test"));
        assert!(r.starts_with("250 2.0.0"), "{r}");
    }
    relay.wait_mailbox("rcpt1@dest.test", 1);
    let log = relay.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("sluice::plugin"))
        .collect();
    // One instance per message prints once at mail-from; what it printed is logged once,
    // not again after its rcpt-to and data hooks.
    let hello = lines
        .iter()
        .filter(|l| l.contains("chatty says hello"))
        .count();
    assert_eq!(hello, 2, "{lines:#?}");
    // 10 KiB on stderr: captured up to 4 KiB, logged as one line of at most 1 KiB.
    let runs: Vec<usize> = lines
        .iter()
        .map(|l| l.matches('x').count())
        .filter(|&n| n > 100)
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|&n| (1000..=1030).contains(&n)), "{runs:?}");
}

#[test]
fn a_plugin_importing_anything_else_is_refused_at_load() {
    let (ok, t) = plugin_check(&fixture("foreign"));
    assert!(!ok, "{t}");
    assert!(
        t.contains("it imports `acme:evil/net`, which Sluice does not provide"),
        "{t}"
    );
}

#[test]
fn a_plugin_cannot_open_files() {
    let relay = with_plugins(plugin_table(
        "hostile",
        "hostile",
        "[tenant.plugin.config]\nmode = \"open-file\"\n",
    ));
    assert!(send(&relay, "x", "files@dest.test").starts_with("250"));
    let m = &relay.wait_mailbox("files@dest.test", 1)[0];
    assert!(m.contains("X-Hostile-Open: denied"), "{m}");
}

#[test]
fn failure_actions_open_and_reject() {
    let relay = with_plugins(plugin_table(
        "hostile",
        "hostile",
        "on_failure = \"continue\"\n[tenant.plugin.config]\nmode = \"trap\"\n",
    ));
    assert!(send(&relay, "x", "open@dest.test").starts_with("250"));
    relay.wait_mailbox("open@dest.test", 1);
    assert_eq!(
        relay.wait_events("plugin_failed", 1)[0]["action"],
        "Continue"
    );

    let relay = with_plugins(plugin_table(
        "hostile",
        "hostile",
        "on_failure = \"reject\"\n[tenant.plugin.config]\nmode = \"trap\"\n",
    ));
    let r = send(&relay, "x", "closed@dest.test");
    assert!(
        r.starts_with("554 5.7.0 Message refused by policy [hostile#") && r.contains(": trap]"),
        "{r}"
    );
}

#[test]
fn failure_actions_per_kind() {
    let relay = with_plugins(plugin_table(
        "hostile",
        "hostile",
        "timeout = \"200ms\"\non_failure = { timeout = \"continue\", trap = \"reject\" }\n[tenant.plugin.config]\nmode = \"loop\"\n",
    ));
    // A timeout fails open for this plugin…
    assert!(send(&relay, "x", "slow@dest.test").starts_with("250"));
    relay.wait_mailbox("slow@dest.test", 1);
    assert_eq!(
        relay.wait_events("plugin_failed", 1)[0]["failure"],
        "timeout"
    );
}

#[test]
fn a_crash_looping_plugin_is_suspended() {
    let relay = with_plugins(plugin_table(
        "hostile",
        "hostile",
        "[tenant.plugin.config]\nmode = \"trap\"\n",
    ));
    for _ in 0..6 {
        assert!(send(&relay, "x", "loop@dest.test").starts_with("451 4.3.0"));
    }
    let failed = relay.wait_events("plugin_failed", 6);
    assert_eq!(failed.iter().filter(|e| e["failure"] == "trap").count(), 5);
    assert_eq!(failed[5]["failure"], "breaker");
}

#[test]
fn a_looping_plugin_does_not_hold_up_other_tenants() {
    let tenants = format!(
        "{DEMO_TENANT}\n[[tenant]]\nname = \"other\"\nsender_domains = [\"other.test\"]\ntrusted_networks = [\"127.0.0.0/8\"]\n"
    );
    // The demo tenant's plugin loops for its whole 3 s budget on every message.
    let demo_plugin = plugin_table(
        "hostile",
        "hostile",
        "timeout = \"3s\"\n[tenant.plugin.config]\nmode = \"loop\"\n",
    );
    let tenants = tenants.replacen(
        "[[tenant]]\nname = \"other\"",
        &format!("{demo_plugin}\n[[tenant]]\nname = \"other\""),
        1,
    );
    let relay = Relay::start(RelayConfig {
        tenants,
        ..Default::default()
    });
    let port = relay.port;
    let slow = std::thread::spawn(move || {
        let r = send_as(port, true);
        (r, std::time::Instant::now())
    });
    // While the demo tenant's message is stuck in its plugin, the other tenant's flow.
    std::thread::sleep(Duration::from_millis(200));
    let mut done = Vec::new();
    for _ in 0..5 {
        assert!(send_as(port, false).starts_with("250"));
        done.push(std::time::Instant::now());
    }
    let (r, slow_done) = slow.join().unwrap();
    assert!(r.starts_with("451 4.3.0"), "{r}");
    assert!(
        done.iter().all(|t| *t < slow_done),
        "other tenant waited for the looping plugin"
    );
}

fn send_as(port: u16, demo: bool) -> String {
    if demo {
        let mut c = Chat::authed(port);
        c.send_message(
            "app@example.com",
            &["x@dest.test"],
            "Subject: s\r\n\r\nx\r\n",
        )
    } else {
        let mut c = Chat::ehlo(port);
        c.send_message(
            "shop@other.test",
            &["y@dest.test"],
            "Subject: s\r\n\r\nx\r\n",
        )
    }
}

/// The `X-Seq` the verdicts fixture added to a message sent with subject `SEQ` (`demo` tenant,
/// or the `other` one), or the reply if the message was refused.
fn seq(relay: &Relay, demo: bool, rcpt: &str) -> Result<u32, String> {
    let (mut c, from) = if demo {
        (Chat::authed(relay.port), "app@example.com")
    } else {
        (Chat::ehlo(relay.port), "shop@other.test")
    };
    let r = c.send_message(from, &[rcpt], "Subject: SEQ\r\n\r\nx\r\n");
    if !r.starts_with("250") {
        return Err(r);
    }
    let m = &relay.wait_mailbox(rcpt, 1)[0];
    let v = m.lines().find_map(|l| l.strip_prefix("X-Seq: "));
    Ok(v.unwrap_or_else(|| panic!("no X-Seq: {m}"))
        .parse()
        .unwrap())
}

#[test]
fn instances_are_reused_per_tenant_unless_fresh_is_asked() {
    // Two tenants with the same plugin, `extra` added to its table.
    let start = |extra: &str| {
        let p = plugin_table("verdicts", "verdicts", extra);
        Relay::start(RelayConfig {
            tenants: format!("{DEMO_TENANT}{p}\n[[tenant]]\nname = \"other\"\nsender_domains = [\"other.test\"]\ntrusted_networks = [\"127.0.0.0/8\"]\n{p}"),
            ..Default::default()
        })
    };
    // `instance = "fresh"`: whatever a plugin keeps in its memory dies with the transaction.
    let relay = start("instance = \"fresh\"\n");
    let seen: Vec<_> = (0..3)
        .map(|i| seq(&relay, true, &format!("fresh{i}@dest.test")))
        .collect();
    assert_eq!(seen, [Ok(1), Ok(1), Ok(1)]);
    drop(relay);

    // The default, reuse: a clean instance serves the tenant's next transactions...
    let relay = start("max_uses = 3\n");
    let seen: Vec<_> = (0..4)
        .map(|i| seq(&relay, true, &format!("kept{i}@dest.test")))
        .collect();
    // ...up to max_uses of them, then a new instance takes over.
    assert_eq!(seen, [Ok(1), Ok(2), Ok(3), Ok(1)]);
    // Another tenant loading the same .wasm never gets this tenant's instance or its state.
    assert_eq!(seq(&relay, false, "other@dest.test"), Ok(1));
    assert_eq!(seq(&relay, false, "other2@dest.test"), Ok(2));
    assert_eq!(seq(&relay, true, "kept4@dest.test"), Ok(2));
    // An instance that failed is never kept: the next transaction starts afresh.
    let r = send(&relay, "PANIC", "panic@dest.test");
    assert!(r.starts_with("451 4.3.0"), "{r}");
    assert_eq!(seq(&relay, true, "after@dest.test"), Ok(1));
}

#[test]
fn a_reused_instance_whose_memory_grew_past_retire_memory_is_replaced() {
    // Growing 8 MiB is slow work on a loaded machine; the deadline is not what is tested.
    let stages = plugin_table(
        "stages",
        "stages",
        "retire_memory = \"4MB\"\ntimeout = \"10s\"\n",
    );
    let relay = with_plugins(stages);
    let mut c = Chat::authed(relay.port);
    let mut seq = |subject: &str, rcpt: &str| {
        let r = c.send_message(
            "app@example.com",
            &[rcpt],
            &format!("Subject: {subject}\r\n\r\nx\r\n"),
        );
        assert!(r.starts_with("250"), "{r}");
        let m = &relay.wait_mailbox(rcpt, 1)[0];
        m.lines()
            .find_map(|l| l.strip_prefix("X-Seq: "))
            .unwrap_or_else(|| panic!("no X-Seq: {m}"))
            .to_owned()
    };
    assert_eq!(seq("one", "m1@dest.test"), "1");
    assert_eq!(seq("two", "m2@dest.test"), "2");
    // This transaction leaks 8 MiB: it is served, and the instance is not kept after it.
    assert_eq!(seq("GROW 8", "m3@dest.test"), "3");
    assert_eq!(seq("four", "m4@dest.test"), "1");
}

#[test]
fn counters_are_per_tenant_whatever_the_plugin_asks() {
    let counter = plugin_table("counter", "counter", "[tenant.plugin.config]\nlimit = 2\n");
    let tenants = format!(
        "{DEMO_TENANT}{counter}\n[[tenant]]\nname = \"other\"\nsender_domains = [\"other.test\"]\ntrusted_networks = [\"127.0.0.0/8\"]\n{counter}"
    );
    let relay = Relay::start(RelayConfig {
        tenants,
        ..Default::default()
    });
    for _ in 0..2 {
        assert!(send_as(relay.port, true).starts_with("250"));
    }
    let r = send_as(relay.port, true);
    assert!(
        r.starts_with("451 4.7.1 more than 2 messages a minute"),
        "{r}"
    );
    // Same plugin, same counter name, other tenant: its own count.
    for _ in 0..2 {
        assert!(send_as(relay.port, false).starts_with("250"));
    }
    assert!(send_as(relay.port, false).starts_with("451 4.7.1"));
}

#[test]
fn shadow_mode_logs_but_never_enforces() {
    let relay = with_plugins(plugin_table("verdicts", "verdicts", "shadow = true\n"));
    assert!(send(&relay, "REJECT me", "shadow@dest.test").starts_with("250"));
    let m = &relay.wait_mailbox("shadow@dest.test", 1)[0];
    assert!(
        !m.contains("X-Verdicts"),
        "shadow plugin actions applied: {m}"
    );
    let s = relay.wait_events("shadow_verdict", 1);
    assert!(
        s[0]["verdict"].as_str().unwrap().starts_with("Reject"),
        "{}",
        s[0]
    );
    // The would-be verdict is counted apart from enforced ones.
    let metrics = relay
        .http("GET", "/metrics", Some(sluice_e2e::READ_TOKEN))
        .body;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("sluice_plugin_verdicts_total{")
                && l.contains("mode=\"shadow\"")
                && l.contains("verdict=\"reject\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
    // And against what the chain did: it let the message through.
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("sluice_plugin_shadow_verdicts_total{")
                && l.contains("verdict=\"reject\"")
                && l.contains("enforced=\"continue\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
}

#[test]
fn hot_reload_under_traffic_swaps_plugins_and_refuses_a_broken_one() {
    let relay = with_plugins(plugin_table(
        "verdicts",
        "verdicts",
        "[tenant.plugin.config]\nblocked_sender = \"first@example.com\"\n",
    ));
    let config = std::fs::read_to_string(&relay.config_path).unwrap();
    let port = relay.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut replies = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut c = Chat::authed(port);
                replies.push(c.send_message(
                    "app@example.com",
                    &["t@dest.test"],
                    "Subject: traffic\r\n\r\nx\r\n",
                ));
            }
            replies
        })
    };
    let reload = || {
        Command::new(sluice_bin())
            .args(["reload", "--config"])
            .arg(&relay.config_path)
            .output()
            .unwrap()
    };
    std::fs::write(
        &relay.config_path,
        config.replace("first@example.com", "second@example.com"),
    )
    .unwrap();
    let out = reload();
    assert!(out.status.success(), "{}", text(&out));
    relay.wait_events("reloaded", 1);
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<second@example.com>", "550 5.7.1");
    c.cmd("MAIL FROM:<first@example.com>", "250");

    std::fs::write(
        &relay.config_path,
        config.replace("fixture_verdicts.wasm", "no_such_plugin.wasm"),
    )
    .unwrap();
    // `sluice reload` waits for the outcome: refused, with the reason.
    let out = reload();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no_such_plugin.wasm"), "{}", text(&out));
    relay.wait_events("reload_refused", 1);
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<second@example.com>", "550 5.7.1");

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let replies = traffic.join().unwrap();
    assert!(!replies.is_empty());
    assert!(
        replies.iter().all(|r| r.starts_with("250")),
        "a transaction failed during reload: {replies:?}"
    );
}

#[test]
fn plugin_check_and_dry_run() {
    let fixture = fixture("verdicts");
    let (ok, t) = plugin_check(&fixture);
    assert!(
        ok && t.contains("hooks:      on-mail-from, on-rcpt-to, on-data"),
        "{t}"
    );
    let dir = tempfile::tempdir().unwrap();
    let eml = dir.path().join("m.eml");
    let dry_run = |subject: &str, rcpts: &[&str]| {
        std::fs::write(&eml, format!("Subject: {subject}\r\n\r\nx\r\n")).unwrap();
        let mut cmd = Command::new(sluice_bin());
        cmd.args(["plugin", "run"])
            .arg(&fixture)
            .arg("--eml")
            .arg(&eml);
        for r in rcpts {
            cmd.args(["--to", r]);
        }
        let out = cmd.output().unwrap();
        (out.status.success(), text(&out))
    };
    let (ok, t) = dry_run("REJECT now", &["nobody@dest.test", "ok@dest.test"]);
    // A refusal is the answer: exit status 1, and the stage named.
    assert!(!ok && t.contains("would be refused at on-data"), "{t}");
    assert!(
        t.contains("rcpt nobody@dest.test reject: 550 5.1.1 no such recipient")
            && t.contains("recipient nobody@dest.test dropped"),
        "{t}"
    );
    assert!(
        t.lines().any(
            |l| l.starts_with("on-data") && l.contains("reject: 550 5.7.1 subject says reject")
        ),
        "{t}"
    );
    // Each hook the plugin implements reports the fuel it burned; the others are not shown.
    let fuel = |prefix: &str| -> Option<u64> {
        let line = t.lines().find(|l| l.starts_with(prefix))?;
        line.split(", fuel ")
            .nth(1)?
            .trim_end_matches(')')
            .parse()
            .ok()
    };
    assert!(fuel("on-mail-from").is_some_and(|f| f > 0), "{t}");
    assert!(fuel("on-data").is_some_and(|f| f > 0), "{t}");
    assert!(!t.contains("on-connect") && !t.contains("on-helo"), "{t}");
    // Every recipient refused: no DATA is run.
    let (ok, t) = dry_run("REJECT now", &["nobody@dest.test"]);
    assert!(!ok && t.contains("every recipient was refused"), "{t}");
    assert!(!t.lines().any(|l| l.starts_with("on-data")), "{t}");
    // A message the plugin lets through: exit status 0.
    let (ok, t) = dry_run("hello", &["ok@dest.test"]);
    assert!(ok, "{t}");
    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, "not a component").unwrap();
    let (ok, t) = plugin_check(&bogus);
    assert!(!ok && t.contains("is not a valid component"), "{t}");
    let _ = wait_for(Duration::from_millis(1), || Some(()));
}

/// The WIT is the SDK: a plugin written in Python (componentize-py) runs like a Rust one.
#[test]
fn python_plugin_built_with_componentize_py() {
    let path = sluice_e2e::foreign_plugin("python", "keyword_policy");
    let plugins = format!(
        "\n[[tenant.plugin]]\nname = \"keywords\"\npath = \"{}\"\ntimeout = \"2s\"\n[tenant.plugin.config]\nkeywords = \"casino, crypto\"\n",
        path.display()
    );
    let relay = with_plugins(plugins);
    let r = send(&relay, "Win at the CASINO", "py@dest.test");
    assert!(
        r.starts_with("550 5.7.1 message mentions 'casino' [keywords#")
            && r.ends_with(": keyword]"),
        "{r}"
    );
    assert!(send(&relay, "Your receipt", "py@dest.test").starts_with("250"));
    let m = &relay.wait_mailbox("py@dest.test", 1)[0];
    assert!(m.contains("X-Keyword-Policy: clean"), "{m}");
}

/// Every fixture plugin under plugins/fixtures is exercised by a test in this file.
#[test]
fn every_fixture_has_a_test() {
    let this: String = std::fs::read_dir(sluice_e2e::workspace().join("tests/e2e"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .collect::<String>()
        .split_whitespace()
        .collect();
    for entry in std::fs::read_dir(sluice_e2e::workspace().join("plugins/fixtures")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let used = this.contains(&format!(",\"{name}\","))
            || this.contains(&format!("fixture(\"{name}\")"));
        assert!(used, "fixture {name} has no test");
    }
}

/// The template in examples/ builds (make plugins) and does what its README says.
#[test]
fn template_plugin_from_examples() {
    let wasm = sluice_e2e::workspace().join("target/wasm32-wasip2/release/plugin_template.wasm");
    assert!(wasm.exists(), "build it with `make plugins`");
    let out = Command::new(sluice_bin())
        .args(["plugin", "run"])
        .arg(&wasm)
        .arg("--eml")
        .arg(sluice_e2e::workspace().join("examples/messages/receipt.eml"))
        .args([
            "--to",
            "buyer@competitor.example",
            "--to",
            "buyer@customer.example",
            "--set",
            "blocked_domains=competitor.example",
        ])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(
        t.contains("reject: 550 5.7.1 this tenant may not send to competitor.example"),
        "{t}"
    );
    assert!(t.contains("+ tag template-checked"), "{t}");
}

/// And one written in JavaScript (componentize-js).
#[test]
fn javascript_plugin_built_with_componentize_js() {
    let path = sluice_e2e::foreign_plugin("js", "attachment_policy");
    let plugins = format!(
        "\n[[tenant.plugin]]\nname = \"attachments\"\npath = \"{}\"\ntimeout = \"2s\"\n[tenant.plugin.config]\nallowed_types = \"application/pdf, text/plain\"\n",
        path.display()
    );
    let relay = with_plugins(plugins);
    let with = |ct: &str| {
        format!(
            "Subject: doc\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\n\
             Content-Type: text/plain\r\n\r\nhi\r\n--XX\r\nContent-Type: {ct}\r\n\
             Content-Disposition: attachment; filename=\"f\"\r\n\r\ndata\r\n--XX--\r\n"
        )
    };
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &["js@dest.test"],
        &with("application/zip"),
    );
    assert!(
        r.starts_with(
            "550 5.7.1 attachments of type application/zip are not accepted [attachments#"
        ),
        "{r}"
    );
    let mut c = Chat::authed(relay.port);
    assert!(c
        .send_message(
            "app@example.com",
            &["js@dest.test"],
            &with("application/pdf")
        )
        .starts_with("250"));
    relay.wait_mailbox("js@dest.test", 1);
    assert!(relay.wait_events("accepted", 1)[0]["tags"] == "attachments-checked");
}

/// The delivery-result hook sees outcomes: a suppression list built on it refuses, at RCPT,
/// a recipient that bounced before. (A policy refusal, not a hard bounce: the relay's own
/// suppression list would otherwise refuse the recipient before the plugin is asked.)
#[test]
fn delivery_results_reach_plugins_suppression_list() {
    let sink = Sink::start(&[
        "--rcpt-reply",
        "gone@dest.test=550 5.7.1 Message refused by local policy",
    ]);
    let relay = Relay::start(RelayConfig {
        plugins: plugin_table("suppression", "suppression", ""),
        ..RelayConfig::default().smarthost(sink.port, "")
    });
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &["gone@dest.test"],
        "Subject: a\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    relay.wait_events("bounced", 1);
    assert!(
        sluice_e2e::wait_for(std::time::Duration::from_secs(10), || relay
            .log()
            .contains("suppressing gone@dest.test")
            .then_some(()))
        .is_some(),
        "{}",
        relay.log()
    );
    c.cmd("MAIL FROM:<app@example.com>", "250");
    c.send("RCPT TO:<gone@dest.test>");
    let r = c.reply().unwrap();
    assert!(
        r.starts_with("550 5.1.1 recipient bounced before and is suppressed"),
        "{r}"
    );
    c.cmd("RCPT TO:<fine@dest.test>", "250");
}
