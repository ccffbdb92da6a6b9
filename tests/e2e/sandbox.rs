//! The plugin sandbox (issue 12): one tenant's plugin can never hurt another tenant, the relay
//! or the log. The `demo` tenant runs the hostile fixture, whose misbehaviour the Subject picks;
//! the `other` tenant runs the same plugin with clean mail and keeps sending meanwhile: every
//! one of its messages gets `250` and arrives.

use sluice_e2e::relay::DEMO_TENANT;
use sluice_e2e::{plugin_table, shipped_plugin_table, Chat, Relay, RelayConfig, Sink};
use std::net::TcpListener;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

/// Both tenants run the hostile fixture with `settings` (lines of its `[[tenant.plugin]]`).
fn two_tenants(settings: &str) -> Relay {
    let hostile = plugin_table("hostile", "hostile", settings);
    Relay::start(RelayConfig {
        tenants: format!(
            "{DEMO_TENANT}{hostile}\n[[tenant]]\nname = \"other\"\nsender_domains = [\"other.test\"]\n\
             trusted_networks = [\"127.0.0.0/8\"]\n{hostile}"
        ),
        ..Default::default()
    })
}

/// The demo tenant sends a message with `subject` to `rcpt`; returns the final reply.
fn hostile(relay: &Relay, subject: &str, rcpt: &str) -> String {
    let mut c = Chat::authed(relay.port);
    c.send_message(
        "app@example.com",
        &[rcpt],
        &format!("Subject: {subject}\r\n\r\nbody\r\n"),
    )
}

/// Runs `attack` while the other tenant sends clean mail, one message after another, to
/// `clean@dest.test`; then checks every one of them got 250 and arrived.
fn while_other_tenant_sends<T>(relay: &Relay, attack: impl FnOnce() -> T) -> T {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let port = relay.port;
    let clean = std::thread::spawn(move || {
        let mut replies = Vec::new();
        // One session, a message about every 50 ms (a pace, not a wait for anything), and at
        // least one message whenever the attack ends.
        let mut c = Chat::ehlo(port);
        loop {
            replies.push(c.send_message(
                "shop@other.test",
                &["clean@dest.test"],
                "Subject: receipt\r\n\r\nthanks\r\n",
            ));
            match stopped.recv_timeout(Duration::from_millis(50)) {
                Err(RecvTimeoutError::Timeout) => continue,
                _ => return replies,
            }
        }
    });
    let result = attack();
    drop(stop);
    let replies = clean.join().unwrap();
    assert!(
        replies.iter().all(|r| r.starts_with("250 2.0.0")),
        "the other tenant was refused: {replies:?}"
    );
    let delivered = relay.wait_mailbox("clean@dest.test", replies.len());
    assert!(delivered.iter().all(|m| m.contains("X-Hostile: clean")));
    result
}

fn rss_kib(relay: &Relay) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/status", relay.pid()))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}

fn has_control(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
}

/// §1: counter names are capped at 256 bytes; a plugin that names counters with 1 MiB
/// strings fails (`invalid`, its failure action applies) instead of growing the relay.
#[test]
fn counter_names_cannot_grow_the_relay() {
    let relay = two_tenants("timeout = \"20s\"\n");
    // Warm up before measuring: the relay's RSS grows over its first few messages (worker
    // threads, allocator arenas, plugin slots), then stays flat.
    while_other_tenant_sends(&relay, || {
        for _ in 0..8 {
            hostile(&relay, "hello", "warm@dest.test");
        }
    });
    let before = rss_kib(&relay);
    let replies = while_other_tenant_sends(&relay, || {
        (0..5)
            .map(|i| {
                hostile(
                    &relay,
                    "BIG-COUNTER-NAMES 200",
                    &format!("big{i}@dest.test"),
                )
            })
            .collect::<Vec<_>>()
    });
    let after = rss_kib(&relay);
    eprintln!(
        "relay RSS before {before} KiB, after 5 messages x 200 1-MiB counter names {after} KiB"
    );
    for r in &replies {
        assert!(
            r.starts_with("451 4.3.0") && r.ends_with(": invalid]"),
            "{r}"
        );
    }
    let failed = relay.wait_events("plugin_failed", 5);
    assert!(
        failed.iter().all(|e| e["failure"] == "invalid"),
        "{failed:?}"
    );
    assert!(
        failed[0]["detail"].as_str().unwrap().contains("256 bytes"),
        "{}",
        failed[0]
    );
    // Kept, the names would take 1 GiB; what the relay's RSS does on its own as threads and
    // plugin slots come into use stays well under 128 MiB.
    assert!(
        after < before + 128 * 1024,
        "relay RSS grew from {before} KiB to {after} KiB"
    );
}

/// §1: live counters per tenant and plugin are capped (`max_counters`); past the cap a new
/// name fails the call as `invalid`. The other tenant's copy of the plugin has its own cap.
#[test]
fn live_counters_are_capped_per_tenant_and_plugin() {
    let relay = two_tenants("max_counters = 100\n");
    while_other_tenant_sends(&relay, || {
        let r = hostile(&relay, "COUNTERS 100", "cap1@dest.test");
        assert!(r.starts_with("250"), "{r}");
        // The same 100 names again: no new counter.
        let r = hostile(&relay, "COUNTERS 100", "cap2@dest.test");
        assert!(r.starts_with("250"), "{r}");
        // A 101st name is one too many.
        let r = hostile(&relay, "COUNTERS 101", "cap3@dest.test");
        assert!(
            r.starts_with("451 4.3.0") && r.ends_with(": invalid]"),
            "{r}"
        );
    });
    let failed = relay.wait_events("plugin_failed", 1);
    assert!(
        failed[0]["detail"]
            .as_str()
            .unwrap()
            .contains("100 live counters"),
        "{}",
        failed[0]
    );
    // The other tenant is under its own cap, with the same names.
    let mut c = Chat::ehlo(relay.port);
    let r = c.send_message(
        "shop@other.test",
        &["other-cap@dest.test"],
        "Subject: COUNTERS 100\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
}

/// §5: an open breaker applies its own action (by default the strictest of the plugin's),
/// not the trap action: mail the plugin would reject is never let through because it keeps
/// timing out. Opening and closing are events, with how long.
#[test]
fn an_open_breaker_applies_the_strictest_action() {
    let relay = two_tenants(
        "timeout = \"100ms\"\nbreaker_cooldown = \"1s\"\non_failure = { timeout = \"reject\", trap = \"continue\" }\n",
    );
    while_other_tenant_sends(&relay, || {
        for i in 0..5 {
            let r = hostile(&relay, "LOOP", &format!("loop{i}@dest.test"));
            assert!(
                r.starts_with("554 5.7.0") && r.ends_with(": timeout]"),
                "{r}"
            );
        }
        // Open: the plugin is not called, and the breaker's action is the strictest one
        // (not the trap action, which would let this message through).
        let r = hostile(&relay, "LOOP", "while-open@dest.test");
        assert!(
            r.starts_with("554 5.7.0") && r.ends_with(": breaker]"),
            "{r}"
        );
        let opened = relay.wait_events("breaker_opened", 1);
        assert_eq!(opened[0]["tenant"], "demo");
        assert_eq!(opened[0]["failures"], 5);
        assert_eq!(opened[0]["cooldown_ms"], 1000);
        assert_eq!(opened[0]["action"], "Reject");
        assert_eq!(relay.wait_events("plugin_failed", 6)[5]["action"], "Reject");
        // After the cooldown a trial call goes through; clean mail closes the breaker.
        let closed = sluice_e2e::wait_for(std::time::Duration::from_secs(10), || {
            hostile(&relay, "hello", "after@dest.test")
                .starts_with("250")
                .then_some(())
        });
        assert!(closed.is_some(), "the breaker never closed");
    });
    let closed = relay.wait_events("breaker_closed", 1);
    assert_eq!(closed[0]["tenant"], "demo");
    assert!(
        closed[0]["open_ms"].as_u64().unwrap() >= 1000,
        "{}",
        closed[0]
    );
    assert!(relay.mailbox("while-open@dest.test").is_empty());
    relay.wait_mailbox("after@dest.test", 1);
}

/// §6: what a plugin writes to the log (log(), tags, stdout and stderr, a panic message) has
/// its control characters escaped: it cannot make a line that reads as the relay's own.
#[test]
fn plugin_output_cannot_forge_log_lines() {
    let relay = two_tenants("");
    while_other_tenant_sends(&relay, || {
        assert!(hostile(&relay, "FORGE", "forge@dest.test").starts_with("250"));
        let r = hostile(&relay, "FORGE-PANIC", "forge@dest.test");
        assert!(r.starts_with("451 4.3.0") && r.ends_with(": trap]"), "{r}");
    });
    relay.wait_events("plugin_failed", 1);
    let accepted = relay.wait_events("accepted", 1);
    let tags: Vec<&str> = accepted
        .iter()
        .filter(|e| e["tenant"] == "demo")
        .filter_map(|e| e["tags"].as_str())
        .collect();
    assert_eq!(tags, [r"t\nevent=delivered\r\u{1b}[2K"], "{accepted:?}");
    let log = relay.log();
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a log line: {line:?}"));
        assert!(v.get("forged").is_none(), "forged event: {line}");
        for (key, value) in v.as_object().unwrap() {
            let s = value.as_str().unwrap_or_default();
            assert!(!has_control(s), "control character in {key}: {line}");
        }
    }
    // log() as one line, escaped; stderr and the panic message by line, each escaped.
    assert!(
        log.contains(r#"hostile log\\n{\"target\":\"sluice::event\""#),
        "log() not escaped:\n{log}"
    );
    let forged_tail = r#"\"forged\":true}\\r\\u{1b}[2K"#;
    assert_eq!(log.matches(forged_tail).count(), 3, "{log}");
}

/// §6: every log() call costs an overhead on top of what it writes, and an instance writes at
/// most so many lines: a million empty calls do not flood the log.
#[test]
fn empty_log_calls_are_charged() {
    let relay = two_tenants("timeout = \"30s\"\n");
    let r = while_other_tenant_sends(&relay, || {
        hostile(&relay, "EMPTY-LOGS 1000000", "logs@dest.test")
    });
    assert!(r.starts_with("250"), "{r}");
    // What the plugin logged: lines tagged with a queue id by the plugin log.
    let lines = relay
        .log()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "sluice::plugin" && v["queue_id"].is_string())
        .count();
    // At most 1,000 lines, and one saying the rest was dropped.
    assert!(lines <= 1001, "{lines} plugin log lines");
    assert!(relay.log().contains("log budget of this instance used up"));
}

/// §6: stdout past the capture is dropped silently (the guest's write succeeds, so `print!`
/// does not panic), and what was captured is logged once, not again after later hooks (here
/// the next transaction of the same instance, kept with `reuse`).
#[test]
fn stdout_is_truncated_silently_and_logged_once() {
    let relay = two_tenants("max_uses = 3\n");
    let replies = while_other_tenant_sends(&relay, || {
        [
            ("STDOUT 65536", "printed@dest.test"),
            ("hello", "later@dest.test"),
        ]
        .map(|(subject, rcpt)| hostile(&relay, subject, rcpt))
    });
    assert!(replies.iter().all(|r| r.starts_with("250")), "{replies:?}");
    let m = &relay.wait_mailbox("printed@dest.test", 1)[0];
    assert!(m.contains("X-Stdout: printed"), "{m}");
    relay.wait_mailbox("later@dest.test", 1);
    let log = relay.log();
    assert_eq!(log.matches("hostile printed this once").count(), 1, "{log}");
    // 65,536 bytes printed after the line above: what is kept of them fills the 4 KiB.
    let kept: usize = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some(v["message"].as_str()?.to_owned()))
        .filter(|m| m.starts_with("ooo"))
        .map(|m| m.len() + 1)
        .sum();
    assert!((4000..=4096).contains(&kept), "{kept} bytes kept:\n{log}");
}

/// §4: a plugin routes only to next hops the operator defined or listed in `route_allow`.
/// An unlisted host, a name that is not listed (even one resolving to a listed address), an
/// unknown pool, and a loopback address under a wide `0.0.0.0/0` entry are refused as
/// `invalid` (here the failure action is `reject`: the recipients bounce) and logged with the
/// route asked for; the relay never connects to the internal service. A listed host works.
#[test]
fn routes_reach_only_what_the_operator_allowed() {
    let internal = TcpListener::bind("127.0.0.1:0").unwrap();
    internal.set_nonblocking(true).unwrap();
    let internal_port = internal.local_addr().unwrap().port();
    let smarthost = Sink::start(&[]);
    let allowed = Sink::start(&[]);
    let router = shipped_plugin_table(
        "router",
        &format!(
            "on_failure = {{ invalid = \"reject\" }}\n[tenant.plugin.config]\nrules = \"\"\"\n\
             domain=internal.test => smarthost 127.0.0.1:{internal_port} tls=none\n\
             domain=byname.test => smarthost localhost:{a} tls=none\n\
             domain=pool.test => mx pool=nowhere\n\
             domain=allowed.test => smarthost 127.0.0.1:{a} tls=none\n\"\"\"",
            a = allowed.port
        ),
    );
    let relay = Relay::start(RelayConfig {
        plugins: router,
        ..RelayConfig::default().smarthost(
            smarthost.port,
            &format!(
                "command_timeout = \"2s\"\nroute_allow = [\"127.0.0.1:{}\", \"0.0.0.0/0\"]\n",
                allowed.port
            ),
        )
    });
    let mut c = Chat::authed(relay.port);
    let rcpts = [
        "ops@internal.test",
        "ops@byname.test",
        "ops@pool.test",
        "ops@allowed.test",
    ];
    let r = c.send_message("app@example.com", &rcpts, "Subject: hi\r\n\r\nx\r\n");
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(allowed.wait_messages(1)[0].rcpts, ["ops@allowed.test"]);
    let bounced = relay.wait_events("bounced", 3);
    let mut bounced: Vec<&str> = bounced.iter().filter_map(|e| e["rcpt"].as_str()).collect();
    bounced.sort();
    assert_eq!(
        bounced,
        ["ops@byname.test", "ops@internal.test", "ops@pool.test"]
    );
    let failed = relay.wait_events("plugin_failed", 3);
    for (e, asked) in failed.iter().zip([
        format!("127.0.0.1:{internal_port}"),
        format!("localhost:{}", allowed.port),
        "nowhere".to_owned(),
    ]) {
        assert_eq!(e["failure"], "invalid", "{e}");
        assert_eq!(e["stage"], "Route", "{e}");
        assert!(e["route"].as_str().unwrap().contains(&asked), "{e}");
    }
    assert!(
        internal.accept().is_err(),
        "the relay connected to a port the operator never allowed"
    );
}

/// §7: a long header value from a plugin is folded (RFC 5322 §2.2.3), so no line of the
/// stored message passes 998 octets and unfolding gives the value back. A value past the cap
/// (4 KiB), a word too long to fold, a control character or a name outside RFC 5322 ftext
/// makes the answer `invalid`, as does a refused header anywhere: one check for all.
#[test]
fn added_headers_are_folded_or_refused() {
    let relay = two_tenants("");
    while_other_tenant_sends(&relay, || {
        let r = hostile(&relay, "LONG-HEADER 3000", "long@dest.test");
        assert!(r.starts_with("250"), "{r}");
        for (subject, rcpt) in [
            ("LONG-HEADER 30000", "huge@dest.test"),
            ("LONG-WORD 2000", "word@dest.test"),
            ("CONTROL-HEADER", "control@dest.test"),
            ("BAD-NAME", "name@dest.test"),
        ] {
            let r = hostile(&relay, subject, rcpt);
            assert!(
                r.starts_with("451 4.3.0") && r.ends_with(": invalid]"),
                "{subject}: {r}"
            );
        }
    });
    let m = &relay.wait_mailbox("long@dest.test", 1)[0];
    for line in m.split('\n') {
        assert!(
            line.trim_end_matches('\r').len() <= 998,
            "{} octets",
            line.len()
        );
    }
    let field = sluice_e2e::header_field(m, "X-Long").expect("X-Long header");
    let value = &field["X-Long:".len()..];
    assert_eq!(value.trim(), "wwwwwwwww ".repeat(300).trim());
    for rcpt in ["huge", "word", "control", "name"] {
        assert!(relay.mailbox(&format!("{rcpt}@dest.test")).is_empty());
    }
}

/// §8: a plugin's tempfail with 421 means the server is closing (RFC 5321 §3.8): the relay
/// closes the connection after sending it.
#[test]
fn a_421_from_a_plugin_closes_the_session() {
    let relay = two_tenants("");
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &["bye@dest.test"],
        "Subject: TEMPFAIL-421\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("421 4.7.0"), "{r}");
    c.send("NOOP");
    assert_eq!(c.reply(), None, "the session stayed open after a 421");
}

/// §8: a connect hook that rejects, tempfails or fails answers the greeting with 554 or 421
/// (the only codes RFC 5321 §3.1 allows there), then closes.
#[test]
fn a_connect_hook_refusal_is_554_or_421_at_the_greeting() {
    for (setting, expected) in [
        ("reject", "554 5.7.1"),
        ("tempfail", "421 4.7.1"),
        ("trap", "421 4.3.0"),
    ] {
        let hostile = plugin_table(
            "hostile",
            "hostile",
            &format!("[tenant.plugin.config]\nconnect = \"{setting}\"\n"),
        );
        let relay = Relay::start(RelayConfig {
            tenants: format!(
                "[[tenant]]\nname = \"local\"\nsender_domains = [\"local.test\"]\n\
                 trusted_networks = [\"127.0.0.0/8\"]\n{hostile}"
            ),
            ..Default::default()
        });
        let mut c = Chat::connect_silent(relay.port);
        let greeting = c.reply().expect("a greeting");
        assert!(greeting.starts_with(expected), "{setting}: {greeting}");
        c.send("EHLO client.test");
        assert_eq!(c.reply(), None, "{setting}: the session stayed open");
    }
}

/// §8: a plugin's reply text and rule, full of line and paragraph separators, bidi overrides,
/// UTF-8 and a CRLF with a forged reply after it, reach the client as one line of printable
/// ASCII within the 512 octets RFC 5321 §4.5.3.1.5 allows, in an SMTPUTF8 transaction too.
#[test]
fn plugin_reply_text_is_one_short_line_of_printable_ascii() {
    let relay = two_tenants("");
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@example.com> SMTPUTF8", "250");
    c.cmd("RCPT TO:<odd@dest.test>", "250");
    c.cmd("DATA", "354");
    c.send_raw(b"Subject: ODD-REPLY\r\n\r\nx\r\n.\r\n");
    let r = c.reply().expect("a reply");
    assert!(r.starts_with("550 5.7.1 "), "{r}");
    assert_eq!(r.lines().count(), 1, "{r}");
    assert!(r.len() <= 510, "{} octets: {r}", r.len());
    assert!(r.bytes().all(|b| (b' '..=b'~').contains(&b)), "{r}");
    c.cmd("NOOP", "250");
}
