use sluice_e2e::{Chat, Relay, RelayConfig};

#[test]
fn overlong_command_line_is_refused_and_the_session_goes_on() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::ehlo(relay.port);
    c.send(&format!("NOOP {}", "x".repeat(600)));
    c.expect("500 5.5.2");
    c.cmd("NOOP", "250 2.0.0");
    // Exactly 512 octets with CRLF is still a command.
    c.cmd(&format!("NOOP {}", "y".repeat(505)), "250");
}

#[test]
fn bare_lf_in_a_command_is_never_split_into_two_commands() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::ehlo(relay.port);
    c.send_raw(b"NOOP\nQUIT\r\n");
    c.expect("500 5.5.2");
    assert!(c.is_closed(), "session must close after a bare LF");
    let mut c = Chat::ehlo(relay.port);
    c.send_raw(b"NO\0OP\r\n");
    c.expect("500 5.5.2");
}

/// Each variant of the SMTP smuggling family: the relay must never end DATA at the fake
/// terminator, must reject the message, and must never run the smuggled commands.
#[test]
fn smuggling_variants_are_rejected_and_nothing_is_queued() {
    let relay = Relay::start(RelayConfig::default());
    let variants: [&[u8]; 6] = [
        b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r\n.\r", b"\r.\r\n",
    ];
    for (i, fake_end) in variants.iter().enumerate() {
        let mut c = Chat::authed(relay.port);
        c.cmd("MAIL FROM:<app@example.com>", "250");
        c.cmd(&format!("RCPT TO:<victim{i}@dest.test>"), "250");
        c.cmd("DATA", "354");
        let mut body = b"Subject: innocent\r\n\r\nhello".to_vec();
        body.extend_from_slice(fake_end);
        body.extend_from_slice(
            format!("MAIL FROM:<ceo@example.com>\r\nRCPT TO:<smuggled{i}@dest.test>\r\nDATA\r\nSubject: forged\r\n\r\nx\r\n.\r\n")
                .as_bytes(),
        );
        c.send_raw(&body);
        let r = c.reply().unwrap_or_default();
        assert!(
            r.starts_with("550 5.5.2"),
            "variant {i} {fake_end:?}: got {r:?}"
        );
        assert!(c.is_closed(), "variant {i}: session must close");
    }
    let mut c = Chat::authed(relay.port);
    c.send_message(
        "app@example.com",
        &["marker@dest.test"],
        "Subject: marker\r\n\r\nok\r\n",
    );
    relay.wait_mailbox("marker@dest.test", 1);
    for i in 0..variants.len() {
        assert!(relay.mailbox(&format!("victim{i}@dest.test")).is_empty());
        assert!(relay.mailbox(&format!("smuggled{i}@dest.test")).is_empty());
    }
    assert_eq!(
        relay
            .events()
            .iter()
            .filter(|e| e["event"] == "accepted")
            .count(),
        1
    );
}

#[test]
fn bare_lf_can_be_normalized_by_operator_choice_without_ending_data() {
    let relay = Relay::start(RelayConfig {
        server: "bare_line_endings = \"normalize\"\n".into(),
        ..Default::default()
    });
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@example.com>", "250");
    c.cmd("RCPT TO:<norm@dest.test>", "250");
    c.cmd("DATA", "354");
    c.send_raw(b"Subject: lf\n\nline one\n.\nstill body\r\n.\r\n");
    c.expect("250 2.0.0");
    let m = &relay.wait_mailbox("norm@dest.test", 1)[0];
    assert!(
        m.ends_with("Subject: lf\r\n\r\nline one\r\n\r\nstill body\r\n"),
        "{m:?}"
    );
}

#[test]
fn nul_next_to_the_dot_is_not_an_end_of_data() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@example.com>", "250");
    c.cmd("RCPT TO:<nul@dest.test>", "250");
    c.cmd("DATA", "354");
    c.send_raw(b"Subject: nul\r\n\r\nx\r\n.\0\r\nRSET\r\n.\r\n");
    c.expect("554 5.6.0");
    c.cmd("NOOP", "250");
    assert!(relay.mailbox("nul@dest.test").is_empty());
}

#[test]
fn data_line_over_998_octets_is_rejected_after_end_of_data() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::authed(relay.port);
    let body = format!("Subject: long\r\n\r\n{}\r\n", "z".repeat(999));
    let r = c.send_message("app@example.com", &["long@dest.test"], &body);
    assert!(r.starts_with("500 5.2.3"), "{r}");
    // A 998-octet line is fine.
    let body = format!("Subject: long\r\n\r\n{}\r\n", "z".repeat(998));
    let r = c.send_message("app@example.com", &["long@dest.test"], &body);
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(relay.wait_mailbox("long@dest.test", 1).len(), 1);
}

#[test]
fn talking_before_the_greeting_is_refused() {
    let relay = Relay::start(RelayConfig {
        server: "greeting_delay = \"300ms\"\n".into(),
        ..Default::default()
    });
    let mut c = Chat::connect_silent(relay.port);
    c.send("EHLO eager.test");
    c.expect("554 5.5.0");
    assert!(c.is_closed());
    // A patient client gets the banner.
    Chat::connect(relay.port).cmd("EHLO patient.test", "250");
}

#[test]
fn content_sent_before_the_354_is_refused() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@example.com>", "250");
    c.cmd("RCPT TO:<early@dest.test>", "250");
    c.send_raw(b"DATA\r\nSubject: too early\r\n\r\nx\r\n.\r\n");
    c.expect("554 5.5.0");
    assert!(c.is_closed());
    assert!(relay.mailbox("early@dest.test").is_empty());
}

#[test]
fn bdat_content_with_bare_lf_is_rejected() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@example.com>", "250");
    c.cmd("RCPT TO:<bdat@dest.test>", "250");
    let body = b"Subject: x\n\nbare\n";
    c.send(&format!("BDAT {} LAST", body.len()));
    c.send_raw(body);
    c.expect("550 5.5.2");
    c.cmd("NOOP", "250");
    assert!(relay.mailbox("bdat@dest.test").is_empty());
}

#[test]
fn garbage_bytes_get_error_replies_not_a_crash() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::connect(relay.port);
    c.send_raw(&[0xff, 0xfe, b'\r', b'\n']);
    c.expect("500");
    c.send("MAIL FROM:<<<>>>");
    c.expect("5");
    c.send("RCPT TO:");
    c.expect("5");
    c.cmd("EHLO ok.test", "250");
    c.cmd("BDAT notanumber", "5");
    c.cmd("NOOP", "250");
}

/// The greeting line names the client, but reply text stays printable ASCII whatever the
/// client called itself: no UTF-8, no bidi overrides (U+202E) or zero-width characters
/// echoed back to a terminal or a log that renders them.
#[test]
fn reply_text_never_echoes_non_ascii_or_bidi_controls() {
    let relay = Relay::start(RelayConfig::default());
    for verb in ["EHLO", "HELO"] {
        let mut c = Chat::connect(relay.port);
        // Bidi and zero-width characters are refused outright (limits.rs); other non-ASCII
        // (a U-label) is accepted, and not echoed as it came.
        c.cmd(
            &format!("{verb} caf\u{e9}.\u{202e}tset\u{200b}.example"),
            "501 5.5.2",
        );
        let r = c.cmd(&format!("{verb} caf\u{e9}.b\u{fc}cher.example"), "250");
        assert!(
            r.chars().all(|ch| ch == '\n' || (' '..='~').contains(&ch)),
            "{verb} reply holds non-printable or non-ASCII text: {r:?}"
        );
        c.cmd("NOOP", "250 2.0.0");
    }
}
