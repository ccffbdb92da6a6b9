use sluice_e2e::{free_port, Chat, Relay, RelayConfig, Sink};
use std::path::PathBuf;

/// The last "spool opened" line's counts: (recovered, torn, corrupt).
fn spool_opened(relay: &Relay) -> (u64, u64, u64) {
    let log = relay.log();
    let line = log
        .lines()
        .rfind(|l| l.contains("spool opened"))
        .expect("spool opened line");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    (
        v["recovered"].as_u64().unwrap(),
        v["torn"].as_u64().unwrap(),
        v["corrupt"].as_u64().unwrap(),
    )
}

fn segments(relay: &Relay) -> Vec<PathBuf> {
    let mut s: Vec<_> = std::fs::read_dir(relay.spool())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    s.sort();
    s
}

/// A relay whose next hop does not answer yet, so accepted mail stays in the spool.
fn relay_with_absent_next_hop() -> (Relay, u16) {
    let hop = free_port();
    (Relay::start(RelayConfig::default().smarthost(hop, "")), hop)
}

#[test]
fn disconnect_mid_data_queues_nothing() {
    let (mut relay, _hop) = relay_with_absent_next_hop();
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@example.com>", "250");
    c.cmd("RCPT TO:<half@dest.test>", "250");
    c.cmd("DATA", "354");
    c.send_raw(b"Subject: cut off\r\n\r\nhalf a message");
    drop(c);
    let mut c = Chat::authed(relay.port);
    c.cmd("NOOP", "250");
    relay.kill9();
    relay.spawn();
    assert_eq!(spool_opened(&relay).0, 0, "a partial message was recovered");
    assert!(relay.events().iter().all(|e| e["event"] != "accepted"));
}

#[test]
fn kill_9_after_250_then_restart_delivers() {
    let (mut relay, hop) = relay_with_absent_next_hop();
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &["survivor@dest.test"],
        "Subject: 2FA code 123456\r\n\r\ncode\r\n",
    );
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{r}");
    let id = r.rsplit(' ').next().unwrap().to_owned();
    relay.wait_events("deferred", 1);
    relay.kill9();
    let sink = Sink::start_on(hop, &[]);
    relay.spawn();
    assert_eq!(spool_opened(&relay).0, 1);
    let got = sink.wait_messages(1);
    assert_eq!(got[0].rcpts, vec!["survivor@dest.test"]);
    assert!(got[0].content.contains("Subject: 2FA code 123456"));
    assert!(got[0].content.contains(&format!("id {id}")));
    // Delivered, so the next start has nothing to recover.
    relay.wait_events("delivered", 1);
    relay.terminate();
    relay.spawn();
    assert_eq!(spool_opened(&relay).0, 0);
}

#[test]
fn a_restart_keeps_a_deferred_message_waiting_for_its_recorded_next_attempt() {
    let hop = free_port();
    let mut relay = Relay::start(RelayConfig {
        delivery: Some(format!(
            "mode = \"smarthost\"\nretry = [\"1h\"]\n[delivery.smarthost]\nhost = \"127.0.0.1\"\nport = {hop}\n"
        )),
        ..RelayConfig::default()
    });
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &["waiting@dest.test"],
        "Subject: deferred before the restart\r\n\r\nx\r\n",
    );
    let id = r.rsplit(' ').next().unwrap().to_owned();
    relay.wait_events("deferred", 1);
    // The event comes before the spool record of the attempt: wait until the queue shows it.
    sluice_e2e::wait_for(std::time::Duration::from_secs(10), || {
        let list = relay
            .http("GET", "/v1/queue", Some(sluice_e2e::ADMIN_TOKEN))
            .json();
        list["messages"][0]["last_error"].is_string().then_some(())
    })
    .expect("the deferral recorded");
    relay.kill9();
    let sink = Sink::start_on(hop, &[]);
    relay.spawn();
    assert_eq!(spool_opened(&relay).0, 1);
    // The schedule says it waits about an hour, not that it is ready.
    let listed = relay
        .http("GET", "/v1/queue", Some(sluice_e2e::ADMIN_TOKEN))
        .json();
    let entry = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not listed: {listed}"))
        .clone();
    assert_eq!(entry["state"], "deferred", "{entry}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let due = entry["next_attempt_at"]
        .as_u64()
        .unwrap()
        .saturating_sub(now);
    assert!((3000..=3601).contains(&due), "due in {due} s: {entry}");
    // A message sent after the restart goes straight through; the deferred one did not go
    // before it (it would have, had the restart made it ready).
    let mut c = Chat::authed(relay.port);
    c.send_message(
        "app@example.com",
        &["marker@dest.test"],
        "Subject: marker\r\n\r\nx\r\n",
    );
    let got = sink.wait_messages(1);
    relay.wait_events("delivered", 1);
    let all = sink.messages();
    assert_eq!(
        all.len(),
        1,
        "{:?}",
        all.iter().map(|m| &m.rcpts).collect::<Vec<_>>()
    );
    assert_eq!(got[0].rcpts, vec!["marker@dest.test"]);
}

#[test]
fn sigterm_finishes_the_session_in_flight_and_refuses_new_ones() {
    let (mut relay, hop) = relay_with_absent_next_hop();
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@example.com>", "250");
    c.cmd("RCPT TO:<inflight@dest.test>", "250");
    c.cmd("DATA", "354");
    c.send_raw(b"Subject: in flight\r\n\r\nfirst half\r\n");
    relay.signal_term();
    assert!(
        sluice_e2e::wait_for(std::time::Duration::from_secs(10), || relay
            .log()
            .contains("shutting down")
            .then_some(()))
        .is_some()
    );
    // A new session is told to come back later (or finds the port closed).
    if let Ok(tcp) = std::net::TcpStream::connect(("127.0.0.1", relay.port)) {
        drop(tcp);
        let mut n = Chat::connect_silent(relay.port);
        if let Some(r) = n.reply() {
            assert!(r.starts_with("421 4.3.2"), "{r}");
        }
    }
    c.send_raw(b"second half\r\n.\r\n");
    c.expect("250 2.0.0 Ok: queued as");
    c.send("NOOP");
    c.expect("421 4.3.2");
    assert!(relay.wait_exit().success());
    let sink = Sink::start_on(hop, &[]);
    relay.spawn();
    let got = sink.wait_messages(1);
    assert!(
        got[0].content.ends_with("first half\r\nsecond half\r\n"),
        "{:?}",
        got[0].content
    );
}

#[test]
fn torn_tail_and_corrupt_record_are_set_aside_and_the_rest_delivered() {
    let (mut relay, hop) = relay_with_absent_next_hop();
    let mut c = Chat::authed(relay.port);
    for i in 0..3 {
        let r = c.send_message(
            "app@example.com",
            &[&format!("m{i}@dest.test")],
            &format!("Subject: m{i}\r\n\r\nbody-{i}-MARK\r\n"),
        );
        assert!(r.starts_with("250"), "{r}");
    }
    relay.wait_events("deferred", 3);
    relay.kill9();
    // Damage: flip a byte in every copy of m1 (a deferred message is rewritten at each retry),
    // and leave half a record at the end of the newest segment.
    let segs = segments(&relay);
    for seg in &segs {
        let mut bytes = std::fs::read(seg).unwrap();
        let hits: Vec<usize> = bytes
            .windows(11)
            .enumerate()
            .filter(|(_, w)| *w == b"body-1-MARK")
            .map(|(i, _)| i)
            .collect();
        for at in hits {
            bytes[at] ^= 0x20;
        }
        if seg == segs.last().unwrap() {
            bytes.extend_from_slice(b"SLQR\x01\x00\x10\x00\x00partial");
        }
        std::fs::write(seg, bytes).unwrap();
    }

    let sink = Sink::start_on(hop, &[]);
    relay.spawn();
    let (recovered, torn, corrupt) = spool_opened(&relay);
    assert_eq!(torn, 1);
    assert!(corrupt >= 1, "no corrupt record detected");
    // A kill between writing a retried message's new copy and retiring the old one leaves
    // both live: a duplicate delivery is tolerable (SMTP-BEHAVIOUR.md), a loss is not.
    assert!(recovered >= 2, "m0 and m2 recovered, got {recovered}");
    relay.wait_events("delivered", 2);
    let got = sink.wait_messages(2);
    let mut rcpts: Vec<_> = got.iter().flat_map(|m| m.rcpts.clone()).collect();
    rcpts.sort();
    rcpts.dedup();
    assert_eq!(rcpts, vec!["m0@dest.test", "m2@dest.test"]);
    assert!(relay.spool().join("corrupt").read_dir().unwrap().count() >= 2);
}

#[test]
fn low_disk_is_refused_at_mail() {
    let relay = Relay::start(RelayConfig {
        spool: "min_free_space = \"1000TB\"\n".into(),
        ..Default::default()
    });
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@example.com>", "452 4.3.1");
}

#[test]
fn failed_spool_write_answers_451_never_250() {
    let relay = Relay::start(RelayConfig {
        file_size_limit_kib: Some(16),
        ..Default::default()
    });
    let mut c = Chat::authed(relay.port);
    let big = format!(
        "Subject: big\r\n\r\n{}",
        format!("{}\r\n", "x".repeat(70)).repeat(300)
    );
    let r = c.send_message("app@example.com", &["big@dest.test"], &big);
    assert!(r.starts_with("451 4.3.0"), "{r}");
    // The spool recovers: a small message is accepted and delivered.
    let r = c.send_message(
        "app@example.com",
        &["small@dest.test"],
        "Subject: small\r\n\r\nok\r\n",
    );
    assert!(r.starts_with("250 2.0.0"), "{r}");
    relay.wait_mailbox("small@dest.test", 1);
    assert!(relay.mailbox("big@dest.test").is_empty());
}

#[test]
fn queue_list_and_show_through_the_relay_and_from_the_spool_once_it_stopped() {
    let (mut relay, _hop) = relay_with_absent_next_hop();
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &["waiting@dest.test"],
        "Subject: queued one\r\n\r\nx\r\n",
    );
    let id = r.rsplit(' ').next().unwrap().to_owned();
    relay.wait_events("deferred", 1);
    let config = relay.config_path.clone();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(sluice_e2e::sluice_bin())
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", sluice_e2e::text(&out));
        sluice_e2e::text(&out)
    };
    let list = cli(&["queue", "list"]);
    assert!(
        list.contains(&id)
            && list.contains("rcpts=waiting@dest.test")
            && list.contains("attempts=1"),
        "{list}"
    );
    assert!(list.contains("1 message(s)"), "{list}");
    let json = cli(&["queue", "list", "--json"]);
    let start = json.find('[').expect("a JSON array");
    let v: serde_json::Value = serde_json::from_str(&json[start..]).expect("JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(v[0]["id"], id.as_str(), "{json}");
    let show = cli(&["queue", "show", &id]);
    assert!(
        show.contains("\"tenant\": \"demo\"") && show.contains("Subject: queued one"),
        "{show}"
    );
    // The API's answers carry the same message.
    let api = relay
        .http("GET", "/v1/queue", Some(sluice_e2e::READ_TOKEN))
        .json();
    assert_eq!(api["messages"][0]["id"], id.as_str(), "{api}");
    // Stopped, the relay answers nothing: the same commands read the spool files.
    relay.terminate();
    let list = cli(&["queue", "list"]);
    assert!(
        list.contains("reading the spool") && list.contains(&id) && list.contains("1 message(s)"),
        "{list}"
    );
    let show = cli(&["queue", "show", &id]);
    assert!(show.contains("Subject: queued one"), "{show}");
}

#[test]
fn a_second_relay_on_the_same_spool_refuses_to_start_and_loses_nothing() {
    let (mut relay, hop) = relay_with_absent_next_hop();
    let mut c = Chat::authed(relay.port);
    for i in 0..3 {
        let r = c.send_message(
            "app@example.com",
            &[&format!("kept{i}@dest.test")],
            "Subject: must survive\r\n\r\nx\r\n",
        );
        assert!(r.starts_with("250 2.0.0"), "{r}");
    }
    relay.wait_events("deferred", 3);
    // The same config on other ports: an ordinary operator's mistake.
    let config = std::fs::read_to_string(&relay.config_path).unwrap();
    let second = relay.dir.path().join("second.toml");
    std::fs::write(
        &second,
        config
            .replace(&relay.port.to_string(), &free_port().to_string())
            .replace(&relay.tls_port.to_string(), &free_port().to_string()),
    )
    .unwrap();
    let out = std::process::Command::new(sluice_e2e::sluice_bin())
        .args(["serve", "--config"])
        .arg(&second)
        .current_dir(relay.dir.path())
        .output()
        .unwrap();
    let text = sluice_e2e::text(&out);
    assert!(!out.status.success(), "second relay started: {text}");
    assert!(
        text.contains("in use by another relay")
            && text.contains(&format!("(pid {})", relay.pid())),
        "{text}"
    );
    // The running relay still owns its messages; read-only CLI commands still work.
    let list = std::process::Command::new(sluice_e2e::sluice_bin())
        .args(["queue", "list", "--config"])
        .arg(&relay.config_path)
        .output()
        .unwrap();
    assert!(
        sluice_e2e::text(&list).contains("3 message(s)"),
        "{}",
        sluice_e2e::text(&list)
    );
    relay.kill9();
    let sink = Sink::start_on(hop, &[]);
    relay.spawn();
    assert_eq!(spool_opened(&relay).0, 3);
    assert_eq!(sink.wait_messages(3).len(), 3);
}

#[test]
fn a_relay_on_a_full_disk_starts_delivers_its_backlog_and_refuses_new_mail() {
    let (mut relay, hop) = relay_with_absent_next_hop();
    let mut c = Chat::authed(relay.port);
    for i in 0..2 {
        let r = c.send_message(
            "app@example.com",
            &[&format!("backlog{i}@dest.test")],
            "Subject: backlog\r\n\r\nx\r\n",
        );
        assert!(r.starts_with("250 2.0.0"), "{r}");
    }
    relay.wait_events("deferred", 2);
    relay.kill9();
    // Not one more byte may be written to any file: the spool cannot start a segment.
    relay.limit_file_size(Some(0));
    let sink = Sink::start_on(hop, &[]);
    relay.spawn();
    assert_eq!(spool_opened(&relay).0, 2);
    assert_eq!(sink.wait_messages(2).len(), 2);
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@example.com>", "250");
    c.cmd("RCPT TO:<new@dest.test>", "250");
    c.cmd("DATA", "354");
    c.send_raw(b"Subject: no room\r\n\r\nx\r\n.\r\n");
    c.expect("451 4.3.0");
    // With room again, nothing was set aside as damage and new mail is accepted.
    relay.kill9();
    relay.limit_file_size(None);
    relay.spawn();
    let (recovered, _, corrupt) = spool_opened(&relay);
    assert_eq!((recovered, corrupt), (0, 0));
    assert!(!relay.spool().join("corrupt").exists());
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &["later@dest.test"],
        "Subject: later\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("250 2.0.0"), "{r}");
    sink.wait_messages(3);
}
