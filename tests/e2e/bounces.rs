//! Bounce classification end to end: a real next hop (aiosmtpd) answers RCPT with Gmail's
//! words; the events, the metric, the queue API and the DSN carry the category and the typed
//! reply (code, enhanced status, text, host).

use sluice_e2e::{wait_for, Chat, Relay, RelayConfig, Sink, READ_TOKEN};
use std::time::Duration;

/// As Gmail sends it: two lines, the status repeated on each.
const NO_SUCH_USER: &str = "550-5.1.1 The email account that you tried to reach does not exist. Please try\\n550 5.1.1 double-checking the recipient's email address for typos or unnecessary spaces. - gsmtp";
const OVER_QUOTA: &str = "452 4.2.2 The email account that you tried to reach is over quota";

/// A relay whose smarthost is `sink`, retrying only after an hour (a deferred message stays
/// deferred while the test looks at it).
fn relay_to(sink: &Sink, extra: &str) -> Relay {
    Relay::start(RelayConfig {
        delivery: Some(format!(
            "mode = \"smarthost\"\nretry = [\"1h\"]\n{extra}\n[delivery.smarthost]\nhost = \"127.0.0.1\"\nport = {}\n",
            sink.port
        )),
        ..RelayConfig::default()
    })
}

fn send(relay: &Relay, rcpts: &[&str]) -> String {
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        rcpts,
        "From: app@example.com\r\nSubject: classified\r\n\r\nhello\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    r.rsplit(' ').next().unwrap().to_owned()
}

/// The value of the one series of `name` whose labels include every one of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

#[test]
fn provider_replies_are_classified_in_events_metrics_the_queue_and_the_dsn() {
    let sink = Sink::start(&[
        "--rcpt-reply",
        &format!("gone@dest.test={NO_SUCH_USER}"),
        "--rcpt-reply",
        &format!("full@dest.test={OVER_QUOTA}"),
    ]);
    let relay = relay_to(&sink, "");
    let id = send(
        &relay,
        &["gone@dest.test", "full@dest.test", "here@dest.test"],
    );

    // Events: the category, the enhanced status, and for the bounce whether it is hard.
    let bounced = &relay.wait_events("bounced", 1)[0];
    assert_eq!(bounced["rcpt"], "gone@dest.test", "{bounced}");
    assert_eq!(bounced["category"], "bad_mailbox", "{bounced}");
    assert_eq!(bounced["status"], "5.1.1", "{bounced}");
    assert_eq!(bounced["hard"], true, "{bounced}");
    assert_eq!(
        bounced["reply"],
        "550 5.1.1 The email account that you tried to reach does not exist. Please try \
         double-checking the recipient's email address for typos or unnecessary spaces. - gsmtp",
        "one line, the repeated status gone: {bounced}"
    );
    let deferred = &relay.wait_events("deferred", 1)[0];
    assert_eq!(deferred["rcpt"], "full@dest.test", "{deferred}");
    assert_eq!(deferred["category"], "mailbox_full", "{deferred}");
    assert_eq!(deferred["status"], "4.2.2", "{deferred}");
    assert_eq!(deferred["reason"], OVER_QUOTA, "{deferred}");
    assert!(deferred.get("hard").is_none(), "{deferred}");
    let delivered = &relay.wait_events("delivered", 1)[0];
    assert_eq!(delivered["rcpt"], "here@dest.test", "{delivered}");

    // The metric, by outcome and category.
    let metrics = relay.http("GET", "/metrics", Some(READ_TOKEN)).body;
    for (outcome, category) in [("bounced", "bad_mailbox"), ("deferred", "mailbox_full")] {
        let n = sample(
            &metrics,
            "sluice_delivery_failures_total",
            &[
                &format!("outcome=\"{outcome}\""),
                &format!("category=\"{category}\""),
            ],
        );
        assert_eq!(n, Some(1.0), "{outcome} {category} in\n{metrics}");
    }

    // The queue: the deferred recipient waits, with the category of why.
    let list = wait_for(Duration::from_secs(10), || {
        let list = relay.http("GET", "/v1/queue", Some(READ_TOKEN)).json();
        (list["messages"][0]["state"] == "deferred").then_some(list)
    })
    .expect("the message waits for a retry");
    let m = &list["messages"][0];
    assert_eq!(m["id"], id.as_str(), "{list}");
    assert_eq!(m["rcpts"], serde_json::json!(["full@dest.test"]), "{list}");
    assert_eq!(m["last_error"], OVER_QUOTA, "{list}");
    assert_eq!(m["last_category"], "mailbox_full", "{list}");
    let one = relay
        .http("GET", &format!("/v1/queue/{id}"), Some(READ_TOKEN))
        .json();
    let rcpts = one["history"][0]["rcpts"]
        .as_array()
        .expect("recorded")
        .clone();
    let of = |rcpt: &str| {
        rcpts
            .iter()
            .find(|r| r["rcpt"] == rcpt)
            .unwrap_or_else(|| panic!("{rcpt} in {one}"))
            .clone()
    };
    let (gone, full, here) = (
        of("gone@dest.test"),
        of("full@dest.test"),
        of("here@dest.test"),
    );
    assert_eq!(
        (
            &gone["outcome"],
            &gone["code"],
            &gone["status"],
            &gone["category"]
        ),
        (
            &"failed".into(),
            &550.into(),
            &"5.1.1".into(),
            &"bad_mailbox".into()
        ),
        "{one}"
    );
    assert_eq!(
        (
            &full["outcome"],
            &full["code"],
            &full["status"],
            &full["category"]
        ),
        (
            &"deferred".into(),
            &452.into(),
            &"4.2.2".into(),
            &"mailbox_full".into()
        ),
        "{one}"
    );
    assert_eq!(here["outcome"], "delivered", "{one}");
    assert!(here.get("category").is_none(), "{one}");

    // The DSN for the bounce, through the same next hop: its fields come from the typed
    // reply, and Python's email module reads it as an RFC 3464 report.
    let got = sink.wait_messages(2);
    let dsn = got
        .iter()
        .find(|m| m.mail_from == "<>")
        .expect("a DSN with the null sender");
    assert_eq!(dsn.rcpts, vec!["app@example.com"]);
    let report = dsn.report();
    assert_eq!(report["content_type"], "multipart/report", "{report}");
    assert_eq!(report["report_type"], "delivery-status", "{report}");
    assert_eq!(
        report["parts"],
        serde_json::json!(["text/plain", "message/delivery-status", "message/rfc822"]),
        "{report}"
    );
    let fields = report["fields"].as_array().expect("blocks");
    assert_eq!(
        fields.len(),
        2,
        "one per-message block, one recipient: {report}"
    );
    assert_eq!(fields[0]["Reporting-MTA"], "dns; relay.test", "{report}");
    let r = &fields[1];
    assert_eq!(r["Final-Recipient"], "rfc822; gone@dest.test", "{report}");
    assert_eq!(r["Action"], "failed", "{report}");
    assert_eq!(r["Status"], "5.1.1", "{report}");
    assert_eq!(r["Remote-MTA"], "dns; 127.0.0.1", "{report}");
    assert_eq!(
        r["Diagnostic-Code"],
        "smtp; 550 5.1.1 The email account that you tried to reach does not exist. Please try \
         double-checking the recipient's email address for typos or unnecessary spaces. - gsmtp",
        "{report}"
    );
    assert_eq!(r["X-Sluice-Category"], "bad_mailbox", "{report}");
    assert!(
        dsn.content
            .contains("<gone@dest.test>: the mailbox does not exist (bad_mailbox)"),
        "{}",
        dsn.content
    );
}

#[test]
fn an_expired_message_keeps_the_category_of_its_last_deferral() {
    let sink = Sink::start(&["--rcpt-reply", &format!("full@dest.test={OVER_QUOTA}")]);
    let tenants = sluice_e2e::relay::DEMO_TENANT.replace(
        "sender_domains = [\"example.com\"]",
        "sender_domains = [\"example.com\"]\nmax_age = \"2s\"",
    );
    let relay = Relay::start(RelayConfig {
        tenants,
        ..RelayConfig::default().smarthost(sink.port, "")
    });
    send(&relay, &["full@dest.test"]);
    let expired = &relay.wait_events("expired", 1)[0];
    assert_eq!(expired["rcpt"], "full@dest.test", "{expired}");
    assert_eq!(expired["category"], "mailbox_full", "{expired}");
    // The DSN says the time ran out (4.4.7) and what the next hop said last (as its own
    // diagnostic when the last attempt met it, or in this relay's words when the message
    // expired waiting for the next).
    let dsn = sink.wait_messages(1);
    let report = dsn[0].report();
    let r = &report["fields"][1];
    assert_eq!(r["Status"], "4.4.7", "{report}");
    let diagnostic = r["Diagnostic-Code"].as_str().unwrap_or_default();
    assert!(diagnostic.contains(OVER_QUOTA), "{report}");
    assert_eq!(r["X-Sluice-Category"], "mailbox_full", "{report}");
}
