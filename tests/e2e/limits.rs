use sluice_e2e::{Chat, Relay, RelayConfig};

#[test]
fn size_declared_over_the_limit_is_refused_at_mail() {
    let relay = Relay::start(RelayConfig {
        server: "max_message_size = \"10KB\"\n".into(),
        ..Default::default()
    });
    let mut c = Chat::connect(relay.port);
    assert!(c.cmd("EHLO c.test", "250").contains("SIZE 10000"));
    c.auth_plain("demo", "demo-password");
    c.cmd("MAIL FROM:<app@example.com> SIZE=10001", "552 5.3.4");
    c.cmd("MAIL FROM:<app@example.com> SIZE=9000", "250");
}

#[test]
fn message_over_the_limit_without_size_is_refused_after_data() {
    let relay = Relay::start(RelayConfig {
        server: "max_message_size = \"10KB\"\n".into(),
        ..Default::default()
    });
    let mut c = Chat::authed(relay.port);
    let body = format!(
        "Subject: big\r\n\r\n{}",
        "0123456789abcdef\r\n".repeat(2000)
    );
    let r = c.send_message("app@example.com", &["big@dest.test"], &body);
    assert!(r.starts_with("552 5.3.4"), "{r}");
    c.cmd("NOOP", "250");
    assert!(relay.mailbox("big@dest.test").is_empty());
}

#[test]
fn recipients_past_the_limit_get_452_and_the_rest_are_delivered() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@example.com>", "250");
    for i in 0..100 {
        c.cmd(&format!("RCPT TO:<r{i}@dest.test>"), "250 2.1.5");
    }
    c.cmd("RCPT TO:<r100@dest.test>", "452 4.5.3");
    c.cmd("RCPT TO:<r101@dest.test>", "452 4.5.3");
    c.cmd("DATA", "354");
    c.send_raw(b"Subject: many\r\n\r\nhi\r\n.\r\n");
    c.expect("250 2.0.0");
    relay.wait_mailbox("r0@dest.test", 1);
    relay.wait_mailbox("r99@dest.test", 1);
    assert!(relay.mailbox("r100@dest.test").is_empty());
}

#[test]
fn address_length_and_utf8_rules() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::authed(relay.port);
    c.cmd(
        &format!("MAIL FROM:<{}@example.com>", "a".repeat(65)),
        "553 5.1.3",
    );
    c.cmd("MAIL FROM:<app@example.com>", "250");
    let r = c.cmd(&format!("RCPT TO:<x@{}.test>", "d".repeat(260)), "5");
    assert!(r.contains(" 5.1.3 "), "{r}");
    c.cmd("RCPT TO:<jörg@dest.test>", "553 5.6.7");
    c.cmd("RCPT TO:<@hop.test:user@dest.test>", "553 5.1.3");
    c.cmd("RSET", "250");
    c.cmd("MAIL FROM:<app@example.com> SMTPUTF8", "250");
    c.cmd("RCPT TO:<jörg@dest.test>", "250");
    c.cmd("DATA", "354");
    c.send_raw("Subject: ünïcode\r\n\r\nhej\r\n.\r\n".as_bytes());
    c.expect("250 2.0.0");
    assert!(relay.wait_mailbox("jörg@dest.test", 1)[0].contains("Subject: ünïcode"));
}

#[test]
fn control_characters_in_helo_are_refused() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::connect(relay.port);
    c.send_raw(b"EHLO bad\x01name\r\n");
    c.expect("501 5.5.2");
    // A right-to-left override would reorder the Received header as a reader sees it.
    c.send_raw("EHLO evil\u{202e}tset.example\r\n".as_bytes());
    c.expect("501 5.5.2");
    c.send_raw("EHLO zero\u{200b}width.example\r\n".as_bytes());
    c.expect("501 5.5.2");
    c.cmd("EHLO good.test", "250");
}

#[test]
fn connections_past_the_per_ip_limit_get_421_at_the_banner() {
    let relay = Relay::start(RelayConfig {
        server: "max_connections_per_ip = 2\n".into(),
        ..Default::default()
    });
    let _a = Chat::connect_when_free(relay.port);
    let _b = Chat::connect_when_free(relay.port);
    let mut c = Chat::connect_silent(relay.port);
    c.expect("421 4.7.0");
    assert!(c.is_closed());
    drop(_a);
    assert!(sluice_e2e::wait_for(std::time::Duration::from_secs(5), || {
        let mut d = Chat::connect_silent(relay.port);
        d.reply().filter(|r| r.starts_with("220"))
    })
    .is_some());
}

#[test]
fn global_connection_limit_gives_421() {
    let relay = Relay::start(RelayConfig {
        server: "max_connections = 1\n".into(),
        ..Default::default()
    });
    let _a = Chat::connect_when_free(relay.port);
    let mut c = Chat::connect_silent(relay.port);
    c.expect("421 4.7.0");
}

#[test]
fn idle_client_times_out_with_421() {
    let relay = Relay::start(RelayConfig {
        server: "[server.timeouts]\ncommand = \"1s\"\n".into(),
        ..Default::default()
    });
    let mut c = Chat::ehlo(relay.port);
    c.expect("421 4.4.2");
    assert!(c.is_closed());
}

#[test]
fn slow_drip_hits_the_command_deadline() {
    let relay = Relay::start(RelayConfig {
        server: "[server.timeouts]\ncommand = \"1s\"\n".into(),
        ..Default::default()
    });
    let mut c = Chat::ehlo(relay.port);
    let start = std::time::Instant::now();
    // One byte every 200 ms never completes a line within the deadline.
    let mut reply = None;
    for b in b"NOOP and a very slow line".iter() {
        c.send_raw(&[*b]);
        std::thread::sleep(std::time::Duration::from_millis(200));
        if start.elapsed() > std::time::Duration::from_millis(1500) {
            reply = c.reply();
            break;
        }
    }
    assert!(reply.is_some_and(|r| r.starts_with("421 4.4.2")));
}
