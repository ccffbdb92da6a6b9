//! Strict command arguments: parameters of extensions the relay does not offer, repeated or
//! malformed parameters, and arguments to commands that take none are refused, never
//! accepted and dropped (RFC 5321 §4.1.1, §4.1.1.11; RFC 3030 §2).

use sluice_e2e::{Chat, Relay, RelayConfig};

#[test]
fn parameters_of_extensions_not_offered_get_555() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::authed(relay.port);
    for p in [
        "BY=120;R",
        "HOLDFOR=10",
        "HOLDUNTIL=20300101",
        "MT-PRIORITY=3",
        "BODY=BINARYMIME",
        "SOLICIT=org.example:x",
        "TRANSID=<x@y.example>",
        "MTRK=abc:10",
    ] {
        c.cmd(&format!("MAIL FROM:<app@example.com> {p}"), "555 5.5.4");
    }
    c.cmd("MAIL FROM:<app@example.com> SIZE=100 BODY=8BITMIME", "250");
    for p in ["RRVS=2030-01-01T00:00:00Z", "CONNEG"] {
        c.cmd(&format!("RCPT TO:<a@dest.test> {p}"), "555 5.5.4");
    }
    c.cmd("RCPT TO:<a@dest.test> NOTIFY=FAILURE", "250");
}

#[test]
fn repeated_or_malformed_parameters_and_stray_arguments_get_501() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@example.com> RET=FULL RET=HDRS", "501 5.5.4");
    c.cmd(
        "MAIL FROM:<app@example.com> SIZE=99999999999999999999999",
        "501 5.5.4",
    );
    c.cmd("MAIL FROM:<app@example.com>", "250");
    c.cmd(
        "RCPT TO:<a@dest.test> NOTIFY=NEVER NOTIFY=SUCCESS",
        "501 5.5.4",
    );
    c.cmd("RCPT TO:<a@dest.test>", "250");
    c.cmd("DATA now", "501 5.5.4");
    c.cmd("BDAT 5 LAST please", "501 5.5.4");
    c.cmd("RSET everything", "501 5.5.4");
    c.cmd("QUIT later", "501 5.5.4");
    // None of those ended the transaction or the session.
    c.cmd("DATA", "354");
    c.send_raw(b"Subject: still here\r\n\r\nx\r\n.\r\n");
    c.expect("250 2.0.0");
    c.cmd("QUIT", "221");
}

#[test]
fn data_and_bdat_before_mail_name_the_missing_command() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::authed(relay.port);
    let r = c.cmd("DATA", "503 5.5.1");
    assert!(r.contains("Need MAIL command first"), "{r}");
    let r = c.cmd("BDAT 0 LAST", "503 5.5.1");
    assert!(r.contains("Need MAIL command first"), "{r}");
}

#[test]
fn postmaster_without_a_domain_reaches_the_configured_mailbox() {
    let relay = Relay::start(RelayConfig {
        server: "postmaster = \"ops@relay.test\"\n".into(),
        ..RelayConfig::default()
    });
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<Postmaster>", "501 5.1.7");
    let r = c.send_message(
        "app@example.com",
        &["Postmaster"],
        "Subject: to the postmaster\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let got = relay.wait_mailbox("ops@relay.test", 1);
    assert!(got[0].contains("Subject: to the postmaster"));
}
