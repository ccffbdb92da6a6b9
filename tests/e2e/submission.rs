use sluice_e2e::{python, swaks, text, Chat, Relay, RelayConfig};

const SMTPLIB_BATCH: &str = r#"
import smtplib, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
    s.ehlo("batch.test")
    assert s.has_extn("pipelining") and s.has_extn("starttls")
    s.starttls()
    s.ehlo("batch.test")
    s.login("demo", "demo-password")
    for i in range(n):
        body = (f"From: app@example.com\r\nTo: user{i}@dest.test\r\nSubject: receipt {i}\r\n"
                f"Message-ID: <m{i}@example.com>\r\n\r\n.leading dot line\r\n..two dots\r\nline {i}\r\n")
        s.sendmail("app@example.com", [f"user{i}@dest.test"], body)
print("sent", n)
"#;

#[test]
fn swaks_starttls_auth_plain_delivers_to_maildir_with_trace_headers() {
    let relay = Relay::start(RelayConfig {
        auth: String::new(),
        ..Default::default()
    });
    let out = swaks(
        relay.port,
        &[
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "demo",
            "--auth-password",
            "demo-password",
            "--from",
            "app@example.com",
            "--to",
            "alice@dest.test",
            "--h-Subject",
            "reset your password",
            "--suppress-data",
            "--add-header",
            "X-Probe: 1",
        ],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("250 2.0.0 Ok: queued as"), "{t}");
    let mail = relay.wait_mailbox("alice@dest.test", 1);
    let m = &mail[0];
    assert!(
        m.starts_with(
            "Return-Path: <app@example.com>\r\nDelivered-To: alice@dest.test\r\nReceived: from "
        ),
        "{m}"
    );
    assert!(m.contains("by relay.test (Sluice) with ESMTPSA id "), "{m}");
    assert!(m.contains("(using TLSv1."), "{m}");
    assert!(m.contains("(authenticated as demo, tenant demo)"), "{m}");
    assert!(m.contains("Subject: reset your password"), "{m}");
    relay.wait_events("delivered", 1);
}

#[test]
fn auth_login_and_implicit_tls_port() {
    let relay = Relay::start(RelayConfig {
        auth: String::new(),
        ..Default::default()
    });
    let out = swaks(
        relay.tls_port,
        &[
            "--tlsc",
            "--auth",
            "LOGIN",
            "--auth-user",
            "demo",
            "--auth-password",
            "demo-password",
            "--from",
            "app@example.com",
            "--to",
            "bob@dest.test",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let m = &relay.wait_mailbox("bob@dest.test", 1)[0];
    assert!(m.contains("with ESMTPSA id"), "{m}");
}

#[test]
fn smtplib_pipelined_batch_over_one_connection_keeps_every_byte() {
    let relay = Relay::start(RelayConfig::default());
    let out = python(SMTPLIB_BATCH, &[&relay.port.to_string(), "25"]);
    assert!(out.status.success(), "{}", text(&out));
    for i in [0, 12, 24] {
        let m = &relay.wait_mailbox(&format!("user{i}@dest.test"), 1)[0];
        assert!(
            m.contains(&format!(
                "\r\n\r\n.leading dot line\r\n..two dots\r\nline {i}\r\n"
            )),
            "{m}"
        );
        assert!(
            m.contains(&format!("Message-ID: <m{i}@example.com>")),
            "{m}"
        );
        assert_eq!(
            m.matches("Message-ID:").count(),
            1,
            "no second Message-ID: {m}"
        );
    }
}

#[test]
fn message_id_and_date_are_added_when_missing() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::ehlo(relay.port);
    c.auth_plain("demo", "demo-password");
    let r = c.send_message(
        "app@example.com",
        &["carol@dest.test"],
        "Subject: bare\r\n\r\nhi\r\n",
    );
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{r}");
    let m = &relay.wait_mailbox("carol@dest.test", 1)[0];
    assert!(m.contains("\r\nDate: "), "{m}");
    assert!(
        m.contains("\r\nMessage-ID: <") && m.contains("@relay.test>"),
        "{m}"
    );
    assert!(m.ends_with("\r\n\r\nhi\r\n"), "{m:?}");
}

#[test]
fn chunking_with_bdat_delivers_the_exact_bytes() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::ehlo(relay.port);
    c.auth_plain("demo", "demo-password");
    c.cmd("MAIL FROM:<app@example.com>", "250 2.1.0");
    c.cmd("RCPT TO:<dave@dest.test>", "250 2.1.5");
    let part1 = "Subject: chunks\r\n\r\n.line with dot\r\n";
    c.send(&format!("BDAT {}", part1.len()));
    c.send_raw(part1.as_bytes());
    c.expect(&format!("250 2.0.0 {} octets received", part1.len()));
    c.cmd("DATA", "503 5.5.1");
    let part2 = "second chunk\r\n";
    c.send(&format!("BDAT {} LAST", part2.len()));
    c.send_raw(part2.as_bytes());
    c.expect("250 2.0.0 Ok: queued as");
    let m = &relay.wait_mailbox("dave@dest.test", 1)[0];
    assert!(
        m.ends_with("\r\n\r\n.line with dot\r\nsecond chunk\r\n"),
        "{m:?}"
    );
}

#[test]
fn vrfy_expn_help_noop_rset_quit() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::ehlo(relay.port);
    c.cmd("VRFY demo", "252 2.5.0");
    c.cmd("EXPN staff", "502 5.5.1");
    c.cmd("HELP", "214 2.0.0");
    c.cmd("NOOP", "250 2.0.0");
    c.auth_plain("demo", "demo-password");
    c.cmd("MAIL FROM:<app@example.com>", "250");
    c.cmd("RSET", "250 2.0.0");
    c.cmd("RCPT TO:<x@dest.test>", "503 5.5.1");
    c.cmd("FOO", "500 5.5.1");
    c.cmd("QUIT", "221 2.0.0");
    assert!(c.is_closed());
}

#[test]
fn ehlo_advertises_the_extensions() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::connect(relay.port);
    let r = c.cmd("EHLO client.test", "250");
    for ext in [
        "PIPELINING",
        "SIZE 25000000",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
        "STARTTLS",
        "AUTH PLAIN LOGIN",
    ] {
        assert!(r.contains(ext), "{ext} missing from {r}");
    }
    c.cmd("MAIL FROM:<app@example.com>", "530 5.7.0");
}
