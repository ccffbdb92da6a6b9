//! Delivery through MX records from a real DNS server on loopback (dnslib) to real receiving
//! servers (aiosmtpd) on 127.0.0.x: preference, fallbacks, null MX, DSNs, expiry, restarts,
//! egress pools, operator retry/delete.

use serde_json::json;
use sluice_e2e::dns::{a, mx, txt};
use sluice_e2e::relay::DEMO_TENANT;
use sluice_e2e::{free_port, python, sluice_bin, text, Chat, Dns, Relay, RelayConfig, Sink};
use std::path::Path;
use std::process::Command;

/// The sender's own mail server (where DSNs go): example.com's MX.
const SENDER_MX: &str = "127.0.0.20";

fn zone(extra: serde_json::Value) -> serde_json::Value {
    let mut z = json!({
        "example.com": [mx(10, "mx.example.com")],
        "mx.example.com": [a(SENDER_MX)],
    });
    for (k, v) in extra.as_object().expect("object").clone() {
        z[k] = v;
    }
    z
}

/// A free port and a DNS server where dest.test's one MX, mx.dest.test, is at `ip`.
fn dest_test_mx(ip: &str) -> (u16, Dns) {
    let dns = Dns::start(zone(json!({
        "dest.test": [mx(10, "mx.dest.test")],
        "mx.dest.test": [a(ip)],
    })));
    (free_port(), dns)
}

/// mx.dest.test at `ip`, offering STARTTLS with a certificate from `ca`.
fn verified_mx_sink(ca: &sluice_e2e::pki::TestCa, ip: &str, port: u16, extra: &[&str]) -> Sink {
    let (cert, key) = ca.issue("mx.dest.test");
    let mut args = vec![
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Sink::start_at(ip, port, &args)
}

fn send(relay: &Relay, rcpts: &[&str], subject: &str) {
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        rcpts,
        &format!("From: app@example.com\r\nSubject: {subject}\r\n\r\nhello\r\n"),
    );
    assert!(r.starts_with("250"), "{r}");
}

#[test]
fn delivers_through_mx_in_preference_order_falling_back_when_refused() {
    let port = free_port();
    // mx1 (preferred) refuses connections: nothing listens on 127.0.0.3.
    let dns = Dns::start(zone(json!({
        "dest.test": [mx(20, "mx2.dest.test"), mx(10, "mx1.dest.test")],
        "mx1.dest.test": [a("127.0.0.3")],
        "mx2.dest.test": [a("127.0.0.4")],
    })));
    let sink = Sink::start_at("127.0.0.4", port, &[]);
    let relay = Relay::start(RelayConfig::default().mx(&dns, port, ""));
    send(&relay, &["user@dest.test"], "via mx");
    let got = sink.wait_messages(1);
    assert_eq!(got[0].rcpts, vec!["user@dest.test"]);
    let ev = &relay.wait_events("delivered", 1)[0];
    assert_eq!(
        ev["remote"],
        format!("mx2.dest.test[127.0.0.4]:{port}"),
        "{ev}"
    );
    assert_eq!(ev["attempt"], 1);
}

#[test]
fn a_domain_without_mx_is_its_own_mail_host() {
    let port = free_port();
    let dns = Dns::start(zone(json!({ "plain.test": [a("127.0.0.5")] })));
    let sink = Sink::start_at("127.0.0.5", port, &[]);
    let relay = Relay::start(RelayConfig::default().mx(&dns, port, ""));
    send(&relay, &["user@plain.test"], "implicit mx");
    assert_eq!(sink.wait_messages(1)[0].rcpts, vec!["user@plain.test"]);
}

#[test]
fn a_domain_with_neither_mx_nor_address_bounces_at_once() {
    let port = free_port();
    // The domain exists (it has a TXT record) but names no mail host at all.
    let dns = Dns::start(zone(json!({ "nohost.test": [txt("v=spf1 -all")] })));
    let relay = Relay::start(RelayConfig::default().mx(&dns, port, ""));
    send(&relay, &["user@nohost.test"], "to nowhere");
    let b = &relay.wait_events("bounced", 1)[0];
    assert!(b["reply"].as_str().unwrap().starts_with("550 5.1.2"), "{b}");
    // Bounced on the first attempt, never deferred (the only deferral is of the DSN, whose
    // sender's mail host this test does not start).
    assert!(relay
        .events()
        .iter()
        .all(|e| e["event"] != "deferred" || e["rcpt"] != "user@nohost.test"));
}

#[test]
fn null_mx_bounces_at_once_with_a_dsn_to_the_sender() {
    let port = free_port();
    let dns = Dns::start(zone(json!({ "null.test": [mx(0, ".")] })));
    let sender_box = Sink::start_at(SENDER_MX, port, &[]);
    let relay = Relay::start(RelayConfig::default().mx(&dns, port, ""));
    send(&relay, &["nobody@null.test"], "to a null mx");
    let b = &relay.wait_events("bounced", 1)[0];
    assert!(
        b["reply"].as_str().unwrap().starts_with("556 5.1.10"),
        "{b}"
    );
    let dsn = &sender_box.wait_messages(1)[0];
    // aiosmtpd records MAIL FROM:<> as "<>".
    assert_eq!(dsn.mail_from, "<>", "a DSN has the null sender");
    assert_eq!(dsn.rcpts, vec!["app@example.com"]);
    for needle in [
        "multipart/report; report-type=delivery-status",
        "Final-Recipient: rfc822; nobody@null.test",
        "Action: failed",
        "Status: 5.1.10",
        "Subject: to a null mx",
    ] {
        assert!(
            dsn.content.contains(needle),
            "{needle:?} not in\n{}",
            dsn.content
        );
    }
}

const SEND_WITH_DSN: &str = r#"
import smtplib, sys
port = int(sys.argv[1])
with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
    s.login("demo", "demo-password")
    s.ehlo()
    assert s.has_extn("dsn"), "DSN not advertised"
    body = "From: app@example.com\r\nSubject: dsn params\r\n\r\nsecret body text\r\n"
    assert s.mail("app@example.com", ["RET=HDRS", "ENVID=order-42"])[0] == 250
    assert s.rcpt("gone@dest.test", ["NOTIFY=FAILURE", "ORCPT=rfc822;gone-orig@dest.test"])[0] == 250
    assert s.rcpt("quiet@dest.test", ["NOTIFY=NEVER"])[0] == 250
    assert s.rcpt("here@dest.test", [])[0] == 250
    assert s.rcpt("bad@dest.test", ["NOTIFY=NEVER,SUCCESS"])[0] == 501
    assert s.data(body)[0] == 250
    # A bounce never bounces: the null sender gets no DSN.
    s.sendmail("", ["gone@dest.test"], "Subject: bounce\r\n\r\nx\r\n")
"#;

#[test]
fn a_rejected_recipient_gets_a_dsn_that_honours_notify_ret_envid_and_orcpt() {
    let (port, dns) = dest_test_mx("127.0.0.7");
    let dest = Sink::start_at(
        "127.0.0.7",
        port,
        &[
            "--reject-rcpt",
            "gone@dest.test",
            "--reject-rcpt",
            "quiet@dest.test",
        ],
    );
    let sender_box = Sink::start_at(SENDER_MX, port, &[]);
    let relay = Relay::start(RelayConfig::default().mx(&dns, port, ""));
    let out = python(SEND_WITH_DSN, &[&relay.port.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(dest.wait_messages(1)[0].rcpts, vec!["here@dest.test"]);
    relay.wait_events("bounced", 3);
    let dsn = &sender_box.wait_messages(1)[0];
    for needle in [
        "Original-Envelope-Id: order-42",
        "Original-Recipient: rfc822;gone-orig@dest.test",
        "Final-Recipient: rfc822; gone@dest.test",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1",
        "Content-Type: text/rfc822-headers",
        "Subject: dsn params",
    ] {
        assert!(
            dsn.content.contains(needle),
            "{needle:?} not in\n{}",
            dsn.content
        );
    }
    assert!(
        !dsn.content.contains("quiet@dest.test"),
        "NOTIFY=NEVER was ignored"
    );
    assert!(
        !dsn.content.contains("secret body text"),
        "RET=HDRS was ignored"
    );
    // Read by Python's email module: a multipart/report whose recipient block carries the
    // next hop's reply as it was typed — its status, its words, its host.
    let report = dsn.report();
    assert_eq!(report["content_type"], "multipart/report", "{report}");
    assert_eq!(report["report_type"], "delivery-status", "{report}");
    assert_eq!(
        report["parts"],
        json!([
            "text/plain",
            "message/delivery-status",
            "text/rfc822-headers"
        ]),
        "{report}"
    );
    let blocks = report["fields"].as_array().expect("blocks");
    assert_eq!(blocks.len(), 2, "one recipient reported: {report}");
    assert_eq!(blocks[0]["Original-Envelope-Id"], "order-42", "{report}");
    let gone = &blocks[1];
    assert_eq!(
        gone["Final-Recipient"], "rfc822; gone@dest.test",
        "{report}"
    );
    assert_eq!(gone["Status"], "5.1.1", "{report}");
    assert_eq!(gone["Remote-MTA"], "dns; mx.dest.test", "{report}");
    assert_eq!(
        gone["Diagnostic-Code"], "smtp; 550 5.1.1 No such user",
        "{report}"
    );
    assert_eq!(gone["X-Sluice-Category"], "bad_mailbox", "{report}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let dsns = relay
        .events()
        .into_iter()
        .filter(|e| e["event"] == "dsn")
        .count();
    assert_eq!(dsns, 1, "exactly one DSN (none for the null sender)");
    assert_eq!(sender_box.messages().len(), 1);
}

#[test]
fn a_tempfail_is_retried_and_the_event_names_host_and_next_retry() {
    let (port, dns) = dest_test_mx("127.0.0.8");
    let sink = Sink::start_at("127.0.0.8", port, &["--tempfail-first", "1"]);
    let relay = Relay::start(RelayConfig::default().mx(&dns, port, ""));
    send(&relay, &["later@dest.test"], "tempfail");
    sink.wait_messages(1);
    let d = &relay.wait_events("deferred", 1)[0];
    assert!(d["reason"].as_str().unwrap().starts_with("451"), "{d}");
    assert_eq!(d["remote"], format!("mx.dest.test[127.0.0.8]:{port}"));
    assert!(d["next_retry"].as_u64().unwrap() > 1_700_000_000, "{d}");
    assert_eq!(relay.wait_events("delivered", 1)[0]["attempt"], 2);
}

#[test]
fn one_delay_notice_then_delivery_after_a_restart_mid_retry() {
    let (port, dns) = dest_test_mx("127.0.0.9");
    let sender_box = Sink::start_at(SENDER_MX, port, &[]);
    let mut relay =
        Relay::start(RelayConfig::default().mx(&dns, port, "delay_notice_after = \"1s\""));
    send(&relay, &["slow@dest.test"], "delayed");
    let dsn = &sender_box.wait_messages(1)[0];
    assert!(dsn.content.contains("Action: delayed"), "{}", dsn.content);
    assert!(dsn.content.contains("Will-Retry-Until:"), "{}", dsn.content);
    relay.wait_events("deferred", 3);
    // Crash while the message waits for a retry; it is delivered after the restart, and the
    // delay notice is not sent a second time.
    relay.kill9();
    let dest = Sink::start_at("127.0.0.9", port, &[]);
    relay.spawn();
    assert_eq!(dest.wait_messages(1)[0].rcpts, vec!["slow@dest.test"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(sender_box.messages().len(), 1, "one delay notice only");
}

#[test]
fn a_tenant_max_age_expires_mail_instead_of_delivering_it_late() {
    let (port, dns) = dest_test_mx("127.0.0.10");
    let sender_box = Sink::start_at(SENDER_MX, port, &[]);
    let tenants = DEMO_TENANT.replace(
        "sender_domains = [\"example.com\"]",
        "sender_domains = [\"example.com\"]\nmax_age = \"2s\"",
    );
    let relay = Relay::start(RelayConfig {
        tenants,
        ..RelayConfig::default().mx(&dns, port, "")
    });
    send(&relay, &["code@dest.test"], "your 2FA code");
    let e = &relay.wait_events("expired", 1)[0];
    assert_eq!(e["rcpt"], "code@dest.test");
    let dsn = &sender_box.wait_messages(1)[0];
    assert!(dsn.content.contains("Status: 4.4.7"), "{}", dsn.content);
    // Now the host is up, but the code is stale: it must not be delivered.
    let dest = Sink::start_at("127.0.0.10", port, &[]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert!(dest.messages().is_empty());
}

#[test]
fn tls_required_towards_an_mx_that_does_not_offer_it_means_no_delivery() {
    let (port, dns) = dest_test_mx("127.0.0.11");
    let sink = Sink::start_at("127.0.0.11", port, &[]);
    let relay = Relay::start(RelayConfig::default().mx(&dns, port, "tls = \"required\""));
    send(&relay, &["secret@dest.test"], "needs tls");
    let d = &relay.wait_events("deferred", 1)[0];
    assert!(
        d["reason"]
            .as_str()
            .unwrap()
            .contains("does not offer STARTTLS"),
        "{d}"
    );
    assert!(sink.messages().is_empty());
}

#[test]
fn starttls_offered_by_the_mx_is_used() {
    let (port, dns) = dest_test_mx("127.0.0.12");
    let relay = Relay::start(RelayConfig::default().mx(&dns, port, ""));
    let tls = relay.dir.path().join("tls");
    let sink = Sink::start_at(
        "127.0.0.12",
        port,
        &[
            "--tls-cert",
            tls.join("cert.pem").to_str().unwrap(),
            "--tls-key",
            tls.join("key.pem").to_str().unwrap(),
        ],
    );
    send(&relay, &["enc@dest.test"], "tls");
    assert!(sink.wait_messages(1)[0].tls);
    let ev = &relay.wait_events("delivered", 1)[0];
    assert!(ev["tls"].as_str().unwrap().starts_with("TLSv1."), "{ev}");
}

#[test]
fn a_tenant_pool_sends_from_its_source_address() {
    let (port, dns) = dest_test_mx("127.0.0.13");
    let sink = Sink::start_at("127.0.0.13", port, &[]);
    let tenants = DEMO_TENANT.replace(
        "sender_domains = [\"example.com\"]",
        "sender_domains = [\"example.com\"]\npool = \"transactional\"",
    );
    let relay = Relay::start(RelayConfig {
        tenants,
        ..RelayConfig::default().mx(
            &dns,
            port,
            "[[delivery.pool]]\nname = \"transactional\"\nsource = [\"127.0.0.14\"]\n",
        )
    });
    send(&relay, &["p@dest.test"], "from the pool");
    assert_eq!(sink.wait_messages(1)[0].peer, "127.0.0.14");
}

fn cli(relay: &Relay, args: &[&str]) -> std::process::Output {
    Command::new(sluice_bin())
        .args(args)
        .arg("--config")
        .arg(&relay.config_path)
        .output()
        .expect("run sluice")
}

#[test]
fn operators_retry_now_and_delete_queued_messages() {
    let (port, dns) = dest_test_mx("127.0.0.15");
    let relay = Relay::start(RelayConfig::default().mx(&dns, port, "retry = [\"1h\"]"));
    send(&relay, &["wait@dest.test"], "retry me");
    let id = relay.wait_events("deferred", 1)[0]["queue_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Without the operator, the next attempt is an hour away.
    let sink = Sink::start_at("127.0.0.15", port, &["--tempfail-first", "1"]);
    let out = cli(&relay, &["queue", "retry", &id]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 message(s)"), "{}", text(&out));
    let second = relay.wait_events("deferred", 2);
    assert_eq!(second[1]["attempt"], 2);
    // The deferred event comes before the message is back in the schedule: wait until the
    // queue shows it waiting again.
    let waiting = sluice_e2e::wait_for(std::time::Duration::from_secs(20), || {
        let out = cli(&relay, &["queue", "list", "--json"]);
        let t = String::from_utf8_lossy(&out.stdout).into_owned();
        let v: serde_json::Value = serde_json::from_str(t.get(t.find('[')?..)?).ok()?;
        v.as_array()?
            .iter()
            .any(|m| m["id"] == id.as_str() && m["state"] == "deferred")
            .then_some(())
    });
    assert!(
        waiting.is_some(),
        "the message never showed as deferred again"
    );
    let out = cli(&relay, &["queue", "delete", &id]);
    assert!(out.status.success(), "{}", text(&out));
    relay.wait_events("deleted", 1);
    let out = cli(&relay, &["queue", "list"]);
    assert!(text(&out).contains("0 message(s)"), "{}", text(&out));
    let out = cli(&relay, &["queue", "retry", &id]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no message"), "{}", text(&out));
    assert!(sink.messages().is_empty());
}

/// An HTTPS server for an MTA-STS policy (tests/tools/https.py), stopped when dropped.
struct PolicyServer {
    child: std::process::Child,
    /// The served file, kept until the server stops.
    _policy: tempfile::NamedTempFile,
}

impl PolicyServer {
    fn start(host: &str, port: u16, cert: &Path, key: &Path, policy: &str) -> PolicyServer {
        use std::ffi::OsStr;
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), policy).unwrap();
        let port = port.to_string();
        let args = [
            OsStr::new("--host"),
            OsStr::new(host),
            OsStr::new("--port"),
            OsStr::new(&port),
            OsStr::new("--cert"),
            cert.as_os_str(),
            OsStr::new("--key"),
            key.as_os_str(),
            OsStr::new("--policy"),
            file.path().as_os_str(),
        ];
        PolicyServer {
            child: sluice_e2e::start_tool("https.py", &args, "the standard library"),
            _policy: file,
        }
    }
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A domain with an MTA-STS policy in enforce mode gets mail only over TLS verified for its
/// MX host name: not to an MX without STARTTLS, and then, once it offers a valid certificate,
/// delivered.
#[test]
fn mta_sts_enforce_requires_verified_tls_to_the_policy_mx() {
    let ca = sluice_e2e::pki::TestCa::new();
    let (sts_cert, sts_key) = ca.issue("mta-sts.dest.test");
    let (port, https_port) = (free_port(), free_port());
    let dns = Dns::start(zone(json!({
        "dest.test": [mx(10, "mx.dest.test")],
        "mx.dest.test": [a("127.0.0.32")],
        "_mta-sts.dest.test": [sluice_e2e::dns::txt("v=STSv1; id=20261123")],
        "mta-sts.dest.test": [a("127.0.0.31")],
    })));
    let _policy = PolicyServer::start(
        "127.0.0.31",
        https_port,
        &sts_cert,
        &sts_key,
        "version: STSv1\r\nmode: enforce\r\nmx: mx.dest.test\r\nmax_age: 86400\r\n",
    );
    let plain = Sink::start_at("127.0.0.32", port, &[]);
    let relay = Relay::start(RelayConfig::default().mx(
        &dns,
        port,
        &format!(
            "mta_sts_port = {https_port}\nca_file = \"{}\"",
            ca.ca_file().display()
        ),
    ));
    send(&relay, &["secure@dest.test"], "sts");
    let d = &relay.wait_events("deferred", 1)[0];
    let reason = d["reason"].as_str().unwrap();
    assert!(
        reason.contains("MTA-STS enforce") && reason.contains("does not offer STARTTLS"),
        "{d}"
    );
    assert!(plain.messages().is_empty());
    drop(plain);
    let secure = verified_mx_sink(&ca, "127.0.0.32", port, &[]);
    let got = secure.wait_messages(1);
    assert!(got[0].tls, "delivered without TLS");
    let ev = &relay.wait_events("delivered", 1)[0];
    assert!(ev["tls"].as_str().unwrap().starts_with("TLSv1."), "{ev}");
}

/// REQUIRETLS (RFC 8689): refused without TLS at the ingress; over TLS, a next hop that does
/// not offer REQUIRETLS means a bounce (5.7.30), never a downgrade.
#[test]
fn requiretls_is_never_downgraded() {
    let ca = sluice_e2e::pki::TestCa::new();
    let (port, dns) = dest_test_mx("127.0.0.33");
    let sink = verified_mx_sink(&ca, "127.0.0.33", port, &[]);
    let sender_box = Sink::start_at(SENDER_MX, port, &[]);
    let relay = Relay::start(RelayConfig::default().mx(
        &dns,
        port,
        &format!("ca_file = \"{}\"", ca.ca_file().display()),
    ));
    let mut plain = Chat::authed(relay.port);
    plain.send("MAIL FROM:<app@example.com> REQUIRETLS");
    let r = plain.reply().unwrap();
    assert!(r.starts_with("530 5.7.10"), "{r}");
    let script = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20) as s:
    s.starttls(context=ctx)
    s.ehlo()
    assert s.has_extn("requiretls"), "REQUIRETLS not offered over TLS"
    s.login("demo", "demo-password")
    s.sendmail("app@example.com", ["strict@dest.test"], "From: app@example.com\r\nSubject: strict\r\n\r\nx\r\n",
               mail_options=["REQUIRETLS"])
"#;
    let out = python(script, &[&relay.port.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    let b = &relay.wait_events("bounced", 1)[0];
    assert!(b["reply"].as_str().unwrap().contains("5.7.30"), "{b}");
    assert!(sink.messages().is_empty(), "delivered without REQUIRETLS");
    let dsn = &sender_box.wait_messages(1)[0];
    assert!(dsn.content.contains("Status: 5.7.30"), "{}", dsn.content);
}

/// `per_destination` caps connections to one destination however many workers are free.
#[test]
fn connections_per_destination_are_capped() {
    let (port, dns) = dest_test_mx("127.0.0.34");
    let sink = Sink::start_at("127.0.0.34", port, &["--slow", "0.3"]);
    let relay = Relay::start(RelayConfig::default().mx(
        &dns,
        port,
        "concurrency = 10\nper_destination = 2",
    ));
    let mut c = Chat::authed(relay.port);
    for i in 0..8 {
        let r = c.send_message(
            "app@example.com",
            &[&format!("r{i}@dest.test")],
            "From: app@example.com\r\nSubject: c\r\n\r\nx\r\n",
        );
        assert!(r.starts_with("250"), "{r}");
    }
    assert_eq!(sink.wait_messages(8).len(), 8);
    let most: u32 = std::fs::read_to_string(sink.dir.path().join("max_sessions"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        (1..=2).contains(&most),
        "{most} connections at once to one destination"
    );
}

const SEND_NOTIFY_SUCCESS: &str = r#"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20) as s:
    s.login("demo", "demo-password")
    s.sendmail("app@example.com", ["ok@dest.test"], "From: app@example.com\r\nSubject: tell me\r\n\r\nx\r\n",
               rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
"#;

/// NOTIFY=SUCCESS: the next hop does not speak DSN, so the sender gets a "relayed" report.
#[test]
fn notify_success_gets_a_relayed_report() {
    let (port, dns) = dest_test_mx("127.0.0.35");
    let dest = Sink::start_at("127.0.0.35", port, &[]);
    let sender_box = Sink::start_at(SENDER_MX, port, &[]);
    let relay = Relay::start(RelayConfig::default().mx(&dns, port, ""));
    let out = python(SEND_NOTIFY_SUCCESS, &[&relay.port.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    dest.wait_messages(1);
    let report = &sender_box.wait_messages(1)[0];
    for needle in [
        "Action: relayed",
        "Status: 2.0.0",
        "Final-Recipient: rfc822; ok@dest.test",
    ] {
        assert!(
            report.content.contains(needle),
            "{needle:?} not in\n{}",
            report.content
        );
    }
}

/// A tag's maximum age (here the marketing detector's `marketing`) expires only the tagged
/// mail; an untagged message to the same unreachable host keeps waiting.
#[test]
fn a_tag_max_age_expires_only_tagged_mail() {
    let (port, dns) = dest_test_mx("127.0.0.36");
    let plugins = sluice_e2e::shipped_plugin_table("marketing-detector", "");
    let relay = Relay::start(RelayConfig {
        plugins,
        ..RelayConfig::default().mx(
            &dns,
            port,
            "[delivery.max_age_by_tag]\nmarketing = \"2s\"\n",
        )
    });
    let corpus = sluice_e2e::workspace().join("plugins/marketing-detector/corpus/v1");
    let mut c = Chat::authed(relay.port);
    for (rcpt, file) in [
        ("news@dest.test", "marketing/004-flash_sale.eml"),
        ("buyer@dest.test", "transactional/016-receipt.eml"),
    ] {
        let body = std::fs::read_to_string(corpus.join(file)).unwrap();
        let r = c.send_message("app@example.com", &[rcpt], &body);
        assert!(r.starts_with("250"), "{r}");
    }
    let e = &relay.wait_events("expired", 1)[0];
    assert_eq!(e["rcpt"], "news@dest.test");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let expired: Vec<_> = relay
        .events()
        .into_iter()
        .filter(|e| e["event"] == "expired")
        .collect();
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert!(relay.events().iter().any(|e| e["event"] == "deferred"
        && e["rcpt"] == "buyer@dest.test"
        && e["attempt"].as_u64() >= Some(2)));
}

const SEND_REQUIRETLS_WITH_DSN: &str = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20) as s:
    s.starttls(context=ctx)
    s.login("demo", "demo-password")
    s.sendmail("app@example.com", ["strict@dest.test"], "From: app@example.com\r\nSubject: strict\r\n\r\nx\r\n",
               mail_options=["REQUIRETLS", "RET=HDRS", "ENVID=order-42"],
               rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;orig@dest.test"])
"#;

/// A next hop that offers REQUIRETLS (over verified TLS) and DSN gets the message with both:
/// REQUIRETLS on MAIL, and the client's RET, ENVID, NOTIFY and ORCPT passed on, so that hop,
/// not this relay, reports success (no "relayed" report from here).
#[test]
fn requiretls_and_dsn_requests_are_passed_to_a_next_hop_that_offers_them() {
    let ca = sluice_e2e::pki::TestCa::new();
    let (port, dns) = dest_test_mx("127.0.0.37");
    let sink = verified_mx_sink(&ca, "127.0.0.37", port, &["--extensions", "DSN,REQUIRETLS"]);
    let sender_box = Sink::start_at(SENDER_MX, port, &[]);
    let relay = Relay::start(RelayConfig::default().mx(
        &dns,
        port,
        &format!("ca_file = \"{}\"", ca.ca_file().display()),
    ));
    let out = python(SEND_REQUIRETLS_WITH_DSN, &[&relay.port.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    let got = &sink.wait_messages(1)[0];
    assert!(got.tls);
    for want in ["REQUIRETLS", "RET=HDRS", "ENVID=ORDER-42"] {
        assert!(
            got.mail_options.iter().any(|o| o == want),
            "{want} not in {:?}",
            got.mail_options
        );
    }
    let rcpt = got.rcpt_options["strict@dest.test"].to_string();
    assert!(
        rcpt.contains("NOTIFY=SUCCESS,FAILURE") && rcpt.contains("ORCPT=RFC822;ORIG@DEST.TEST"),
        "{rcpt}"
    );
    relay.wait_events("delivered", 1);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        sender_box.messages().is_empty(),
        "a relayed report was sent although the next hop took DSN over"
    );
}
