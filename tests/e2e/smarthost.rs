use sluice_e2e::{free_port, python, text, Chat, Relay, RelayConfig, Sink};

const SEND_BATCH: &str = r#"
import smtplib, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
    s.login("demo", "demo-password")
    for i in range(n):
        s.sendmail("app@example.com", [f"a{i}@dest.test", f"b{i}@dest.test"],
                   f"Subject: n{i}\r\n\r\n.dot\r\nbody {i}\r\n")
"#;

#[test]
fn relays_a_batch_to_the_smarthost_intact() {
    let sink = Sink::start(&[]);
    let relay = Relay::start(RelayConfig::default().smarthost(sink.port, ""));
    let out = python(SEND_BATCH, &[&relay.port.to_string(), "30"]);
    assert!(out.status.success(), "{}", text(&out));
    let got = sink.wait_messages(30);
    for m in &got {
        assert_eq!(m.mail_from, "app@example.com");
        assert_eq!(m.rcpts.len(), 2);
        let i = m.rcpts[0]
            .trim_start_matches('a')
            .trim_end_matches("@dest.test")
            .to_owned();
        assert!(
            m.content
                .ends_with(&format!("\r\n\r\n.dot\r\nbody {i}\r\n")),
            "{:?}",
            m.content
        );
    }
    assert_eq!(relay.wait_events("delivered", 60).len(), 60);
}

#[test]
fn tempfail_is_retried_until_delivered() {
    let sink = Sink::start(&["--tempfail-first", "2"]);
    let relay = Relay::start(RelayConfig::default().smarthost(sink.port, ""));
    let mut c = Chat::authed(relay.port);
    assert!(c
        .send_message(
            "app@example.com",
            &["retry@dest.test"],
            "Subject: r\r\n\r\nx\r\n"
        )
        .starts_with("250"));
    sink.wait_messages(1);
    let deferred = relay.wait_events("deferred", 2);
    assert!(
        deferred[0]["reason"].as_str().unwrap().starts_with("451"),
        "{}",
        deferred[0]
    );
    let delivered = relay.wait_events("delivered", 1);
    assert_eq!(delivered[0]["attempt"], 3);
}

#[test]
fn permanent_recipient_failure_is_final_and_others_are_delivered() {
    let sink = Sink::start(&["--reject-rcpt", "gone@dest.test"]);
    let relay = Relay::start(RelayConfig::default().smarthost(sink.port, ""));
    let mut c = Chat::authed(relay.port);
    assert!(c
        .send_message(
            "app@example.com",
            &["gone@dest.test", "here@dest.test"],
            "Subject: p\r\n\r\nx\r\n"
        )
        .starts_with("250"));
    let got = sink.wait_messages(1);
    assert_eq!(got[0].rcpts, vec!["here@dest.test"]);
    let bounced = relay.wait_events("bounced", 1);
    assert_eq!(bounced[0]["rcpt"], "gone@dest.test");
    assert!(bounced[0]["reply"].as_str().unwrap().starts_with("550"));
}

#[test]
fn outbound_starttls_when_offered() {
    let hop = free_port();
    let relay = Relay::start(RelayConfig::default().smarthost(hop, ""));
    let tls = relay.dir.path().join("tls");
    let sink = Sink::start_on(
        hop,
        &[
            "--tls-cert",
            tls.join("cert.pem").to_str().unwrap(),
            "--tls-key",
            tls.join("key.pem").to_str().unwrap(),
        ],
    );
    let mut c = Chat::authed(relay.port);
    assert!(c
        .send_message(
            "app@example.com",
            &["enc@dest.test"],
            "Subject: t\r\n\r\nx\r\n"
        )
        .starts_with("250"));
    assert!(sink.wait_messages(1)[0].tls, "delivered without TLS");
    let ev = &relay.wait_events("delivered", 1)[0];
    assert!(ev["tls"].as_str().unwrap().starts_with("TLSv1."), "{ev}");
}

#[test]
fn required_tls_not_offered_means_no_delivery() {
    let sink = Sink::start(&[]);
    let relay = Relay::start(
        RelayConfig::default()
            .smarthost(sink.port, "")
            .with_smarthost_tls("required"),
    );
    let mut c = Chat::authed(relay.port);
    assert!(c
        .send_message(
            "app@example.com",
            &["secret@dest.test"],
            "Subject: s\r\n\r\nx\r\n"
        )
        .starts_with("250"));
    let d = relay.wait_events("deferred", 1);
    assert!(
        d[0]["reason"]
            .as_str()
            .unwrap()
            .contains("does not offer STARTTLS"),
        "{}",
        d[0]
    );
    assert!(sink.messages().is_empty());
}

#[test]
fn connection_refused_is_retried() {
    let hop = free_port();
    let relay = Relay::start(RelayConfig::default().smarthost(hop, ""));
    let mut c = Chat::authed(relay.port);
    assert!(c
        .send_message(
            "app@example.com",
            &["later@dest.test"],
            "Subject: l\r\n\r\nx\r\n"
        )
        .starts_with("250"));
    relay.wait_events("deferred", 1);
    let sink = Sink::start_on(hop, &[]);
    assert_eq!(sink.wait_messages(1)[0].rcpts, vec!["later@dest.test"]);
}
