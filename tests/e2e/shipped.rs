use sluice_e2e::{shipped_plugin, Chat, Relay, RelayConfig};

fn volume_limits(config: &str) -> Relay {
    let plugins = format!(
        "\n[[tenant.plugin]]\nname = \"volume-limits\"\npath = \"{}\"\n[tenant.plugin.config]\n{config}\n",
        shipped_plugin("volume-limits").display()
    );
    Relay::start(RelayConfig {
        plugins,
        ..Default::default()
    })
}

/// 50 sessions race for a limit of 5 messages a minute: exactly 5 get through.
#[test]
fn volume_limits_are_exact_under_concurrency() {
    let relay = volume_limits("messages_per_minute = 5");
    let port = relay.port;
    let replies: Vec<String> = (0..50)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Chat::authed(port);
                c.send_message(
                    "app@example.com",
                    &[&format!("r{i}@dest.test")],
                    "Subject: s\r\n\r\nx\r\n",
                )
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let accepted = replies.iter().filter(|r| r.starts_with("250")).count();
    assert_eq!(accepted, 5, "{replies:?}");
    let refused: Vec<_> = replies.iter().filter(|r| !r.starts_with("250")).collect();
    assert!(
        refused.iter().all(|r| r.starts_with("451 4.7.1 over this tenant's limit of 5 messages per minute; try again in about 1 seconds")),
        "{refused:?}"
    );
    assert_eq!(relay.wait_events("accepted", 5).len(), 5);
}

#[test]
fn volume_limits_per_recipient_domain_and_recipients() {
    let relay = volume_limits("domain_recipients_per_hour = 2\nrecipients_per_minute = 3");
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@example.com>", "250");
    c.cmd("RCPT TO:<a@big.test>", "250");
    c.cmd("RCPT TO:<b@big.test>", "250");
    let r = c.cmd("RCPT TO:<c@big.test>", "451 4.7.1");
    assert!(
        r.contains("limit of 2 recipients at big.test per hour"),
        "{r}"
    );
    c.cmd("RCPT TO:<d@small.test>", "250");
    let r = c.cmd("RCPT TO:<e@small.test>", "451 4.7.1");
    assert!(
        r.contains("limit of 3 recipients per minute") && r.contains("recipients_per_minute]"),
        "{r}"
    );
}

fn content_filter(config: &str) -> Relay {
    let plugins = format!(
        "\n[[tenant.plugin]]\nname = \"content-filter\"\npath = \"{}\"\n[tenant.plugin.config]\n{config}\n",
        shipped_plugin("content-filter").display()
    );
    Relay::start(RelayConfig {
        plugins,
        ..Default::default()
    })
}

fn with_attachment(name: &str, content_type: &str, bytes: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!(
        "Subject: your document\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
         --XX\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
         --XX\r\nContent-Type: {content_type}\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--XX--\r\n"
    )
}

fn html(body: &str) -> String {
    format!("Subject: notice\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{body}\r\n")
}

#[test]
fn content_filter_rules_each_name_themselves() {
    let relay = content_filter(
        "blocked_link_domains = \"evil.test\"\nblocked_link_patterns = \"/wp-login\"\nprotected_domains = \"paypal.com, mybank.test\"\nmax_recipients = 3",
    );
    let cases: Vec<(String, &str)> = vec![
        (
            "Subject: hi\r\n\r\nsee https://cdn.evil.test/x now\r\n".into(),
            "blocked-link",
        ),
        (
            html("<p><a href=\"https://evil.test/claim\">claim</a></p>"),
            "blocked-link",
        ),
        (
            "Subject: hi\r\n\r\nlog in at https://site.example/wp-login.php\r\n".into(),
            "blocked-link-pattern",
        ),
        (
            html("<a href=\"https://collect.example/login\">www.mybank.test</a>"),
            "link-text-mismatch",
        ),
        (
            "Subject: hi\r\n\r\nverify at https://paypa1.com/verify\r\n".into(),
            "lookalike-domain",
        ),
        (
            with_attachment("invoice.exe", "application/octet-stream", b"MZ\x90\x00rest"),
            "dangerous-attachment",
        ),
        (
            with_attachment("report.pdf", "application/pdf", b"MZ\x90\x00rest"),
            "disguised-executable",
        ),
        (
            with_attachment("report.pdf", "application/pdf", b"<html>not a pdf"),
            "type-mismatch",
        ),
    ];
    for (body, rule) in cases {
        let mut c = Chat::authed(relay.port);
        let r = c.send_message("app@example.com", &["x@dest.test"], &body);
        assert!(r.starts_with("550 5.7.1 message refused:"), "{rule}: {r}");
        assert!(r.ends_with(&format!(": {rule}]")), "{rule}: {r}");
    }
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &["a@dest.test", "b@dest.test", "c@dest.test", "d@dest.test"],
        "Subject: s\r\n\r\nx\r\n",
    );
    assert!(r.contains(": max-recipients]"), "{r}");
    // A clean receipt, with a real PDF and a link whose text matches its target, goes through.
    let pdf = with_attachment("receipt.pdf", "application/pdf", b"%PDF-1.7 minimal");
    let mut c = Chat::authed(relay.port);
    assert!(c
        .send_message("app@example.com", &["clean@dest.test"], &pdf)
        .starts_with("250"));
    let mut c = Chat::authed(relay.port);
    let ok_link = html(
        "<a href=\"https://www.mybank.test/account\">www.mybank.test</a> and https://paypal.com/",
    );
    assert!(c
        .send_message("app@example.com", &["clean@dest.test"], &ok_link)
        .starts_with("250"));
    assert_eq!(relay.wait_mailbox("clean@dest.test", 2).len(), 2);
}

#[test]
fn content_filter_score_mode_flags_without_refusing() {
    let relay = content_filter("mode = \"score\"\nprotected_domains = \"paypal.com\"");
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &["s@dest.test"],
        "Subject: hi\r\n\r\nverify at https://paypa1.com/verify\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    let m = &relay.wait_mailbox("s@dest.test", 1)[0];
    assert!(
        m.contains("X-Content-Filter: score=1; rules=lookalike-domain"),
        "{m}"
    );
    assert!(relay.wait_events("accepted", 1)[0]["tags"] == "content-flagged");
}
