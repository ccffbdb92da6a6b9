//! Addresses travel in their exact wire form: quoted local parts keep their quotes from
//! ingress to the spool to the next hop, and the tenant's sender domain is checked on the
//! domain of that form (RFC 5321 §2.4, §4.1.2).

use sluice_e2e::relay::DEMO_TENANT;
use sluice_e2e::{Chat, Relay, RelayConfig, Sink};

fn shop_relay(sink: &Sink) -> Relay {
    let cfg = RelayConfig {
        // The demo tenant, owning shop.example instead of example.com.
        tenants: DEMO_TENANT.replace("example.com", "shop.example"),
        ..RelayConfig::default().smarthost(sink.port, "")
    };
    Relay::start(cfg)
}

#[test]
fn quoted_local_parts_reach_the_next_hop_exactly_and_inject_nothing() {
    let sink = Sink::start(&[]);
    let relay = shop_relay(&sink);
    let mut c = Chat::authed(relay.port);
    let from = r#""ceo@bank.example> ENVID=x"@shop.example"#;
    let injected = r#""victim@evil.example> ORCPT=rfc822;x"@dest.example"#;
    let harmless = r#""q@r"@other.test"#;
    let escaped = r#""a\"b c"@dest.example"#;
    let r = c.send_message(
        from,
        &[injected, harmless, escaped],
        "Subject: quoted\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let got = sink.wait_messages(1);
    assert_eq!(got[0].mail_from, from);
    assert!(got[0].mail_options.is_empty(), "{:?}", got[0].mail_options);
    let mut rcpts = got[0].rcpts.clone();
    rcpts.sort();
    let mut want = vec![injected, harmless, escaped];
    want.sort();
    assert_eq!(rcpts, want);
    for r in &got[0].rcpts {
        assert_eq!(got[0].rcpt_options[r], serde_json::json!([]), "{r}");
    }
    // The accepted event names the same mailboxes.
    let accepted = relay.wait_events("accepted", 1);
    assert_eq!(accepted[0]["from"], from, "{}", accepted[0]);
    // A single recipient is named in the Received header, quotes and all.
    let r = c.send_message(from, &[harmless], "Subject: one\r\n\r\nx\r\n");
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let got = sink.wait_messages(2);
    assert!(
        got[1].content.contains(&format!("for <{harmless}>")),
        "{}",
        got[1].content
    );
}

#[test]
fn sender_domain_is_the_domain_of_the_quoted_form() {
    let sink = Sink::start(&[]);
    let relay = shop_relay(&sink);
    let mut c = Chat::authed(relay.port);
    // Unquoted, this would read as a mailbox at shop.example; it is one at evil.test.
    c.cmd(r#"MAIL FROM:<"boss@shop.example"@evil.test>"#, "550 5.7.1");
    c.cmd(r#"MAIL FROM:<"x"@shop.example> SIZE=100"#, "250");
    c.cmd("RSET", "250");
}

#[test]
fn malformed_paths_are_refused() {
    let sink = Sink::start(&[]);
    let relay = shop_relay(&sink);
    let mut c = Chat::authed(relay.port);
    for bad in [
        r#"MAIL FROM:<"unterminated@shop.example>"#,
        r#"MAIL FROM:<"a"b@shop.example>"#,
        "MAIL FROM:<a..b@shop.example>",
        "MAIL FROM:<a@shop_example>",
    ] {
        c.cmd(bad, "501 5.1.7");
    }
    c.cmd("MAIL FROM:<@route.example:a@shop.example>", "553 5.1.3");
    // Invalid UTF-8 under SMTPUTF8 (RFC 6531 §3.3).
    c.send_raw(b"MAIL FROM:<a\xff@shop.example> SMTPUTF8\r\n");
    c.expect("553 5.6.7");
    c.cmd("MAIL FROM:<app@shop.example>", "250");
    c.cmd(r#"RCPT TO:<"unterminated@dest.example>"#, "501 5.1.3");
    c.send_raw(b"RCPT TO:<\xc3\x28@dest.example>\r\n");
    c.expect("553 5.6.7");
    c.cmd("RCPT TO:<ok@dest.example>", "250");
}

#[test]
fn utf8_local_parts_pass_through_under_smtputf8() {
    let sink = Sink::start(&["--reject-rcpt", "gärd@dest.example"]);
    let relay = shop_relay(&sink);
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@shop.example> SMTPUTF8", "250");
    c.cmd("RCPT TO:<jörg@dest.example>", "250");
    c.cmd("RCPT TO:<gärd@dest.example>", "250");
    c.cmd("DATA", "354");
    c.send_raw(b"Subject: utf8\r\n\r\nx\r\n.\r\n");
    c.expect("250 2.0.0");
    let delivered = relay.wait_events("delivered", 1);
    assert_eq!(
        delivered[0]["rcpt"], "jörg@dest.example",
        "{}",
        delivered[0]
    );
    // The bounce names the UTF-8 recipient with the utf-8 address type (RFC 6533).
    let got = sink.wait_messages(2);
    let dsn = got
        .iter()
        .find(|m| m.content.contains("multipart/report"))
        .expect("a DSN");
    assert!(
        dsn.content
            .contains("Final-Recipient: utf-8; gärd@dest.example"),
        "{}",
        dsn.content
    );
}

#[test]
fn a_bounce_for_a_quoted_recipient_names_it_exactly_in_the_dsn_to_a_quoted_sender() {
    let gone = r#""gone x"@dest.example"#;
    let sink = Sink::start(&["--reject-rcpt", gone]);
    let relay = shop_relay(&sink);
    let mut c = Chat::authed(relay.port);
    let from = r#""billing dept"@shop.example"#;
    let r = c.send_message(from, &[gone], "Subject: will bounce\r\n\r\nx\r\n");
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let bounced = relay.wait_events("bounced", 1);
    assert_eq!(bounced[0]["rcpt"], gone, "{}", bounced[0]);
    // The DSN goes to the quoted sender, through the same next hop, naming the recipient.
    let got = sink.wait_messages(1);
    assert_eq!(got[0].rcpts, vec![from.to_string()]);
    assert_eq!(got[0].mail_from, "<>");
    assert!(
        got[0]
            .content
            .contains(&format!("Final-Recipient: rfc822; {gone}")),
        "{}",
        got[0].content
    );
}
