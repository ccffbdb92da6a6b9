use sluice_e2e::dns::{a, mx};
use sluice_e2e::{free_port, shipped_plugin_table, Chat, Dns, Relay, RelayConfig, Sink};

fn volume_limits(config: &str) -> Relay {
    // 50 sessions doing argon2 AUTH at once saturate two cores; these tests are about exact
    // counting, so the plugin gets a deadline that CPU starvation cannot reach.
    let plugins = shipped_plugin_table(
        "volume-limits",
        &format!("timeout = \"5s\"\n[tenant.plugin.config]\n{config}"),
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
    let plugins = shipped_plugin_table(
        "content-filter",
        &format!("[tenant.plugin.config]\n{config}"),
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

const SEND_CORPUS: &str = r#"
import csv, os, re, smtplib, sys
port, root, split = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(os.path.join(root, "labels.csv")) as f:
    rows = [r for r in csv.DictReader(f)]
print("total", len(rows))
with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
    s.login("demo", "demo-password")
    for r in rows:
        if not r["file"].startswith(split + "/"):
            continue
        data = open(os.path.join(root, r["file"]), "rb").read()
        s.mail("app@example.com")
        s.rcpt("someone@dest.test")
        code, msg = s.data(data)
        qid = re.search(rb"queued as (\S+)", msg)
        print(r["label"], r["file"], code, qid.group(1).decode() if qid else "-")
"#;

/// The held-out split of the labelled corpus (plugins/marketing-detector/corpus/heldout:
/// senders, in six languages, that the fit never saw) through a relay running the detector
/// at its defaults in tag mode. The floors are the goal's precision (0.99) and what the
/// detector measured for recall (0.84, its README); the goal it falls short of is recall 0.9.
#[test]
fn marketing_detector_precision_and_recall_on_the_corpus() {
    let plugins = shipped_plugin_table(
        "marketing-detector",
        "[tenant.plugin.config]\naction = \"tag\"",
    );
    let relay = Relay::start(RelayConfig {
        plugins,
        ..Default::default()
    });
    let corpus = sluice_e2e::workspace().join("plugins/marketing-detector/corpus");
    let out = sluice_e2e::python(
        SEND_CORPUS,
        &[&relay.port.to_string(), corpus.to_str().unwrap(), "heldout"],
    );
    assert!(out.status.success(), "{}", sluice_e2e::text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let total: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("total ")?.parse().ok())
        .unwrap();
    assert!(total >= 500, "the corpus has only {total} messages");
    let sent: Vec<(String, String, String)> = stdout
        .lines()
        .filter(|l| !l.starts_with("total "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(w[2], "250", "{l}");
            (w[0].to_owned(), w[1].to_owned(), w[3].to_owned())
        })
        .collect();
    assert!(
        sent.len() >= 100,
        "held-out split has only {} messages",
        sent.len()
    );
    let accepted = relay.wait_events("accepted", sent.len());
    let tags_of = |id: &str| -> Vec<String> {
        accepted
            .iter()
            .find(|e| e["queue_id"] == id)
            .and_then(|e| e["tags"].as_str())
            .unwrap_or_default()
            .split(',')
            .map(str::to_owned)
            .collect()
    };
    let (mut tp, mut fp, mut fn_, mut tn) = (0, 0, 0, 0);
    let mut wrong = Vec::new();
    for (label, name, id) in &sent {
        let tags = tags_of(id);
        assert!(
            tags.iter().any(|t| t.starts_with("marketing-score=")),
            "{name} was not scored: {tags:?}"
        );
        let flagged = tags.iter().any(|t| t == "marketing");
        match (label.as_str(), flagged) {
            ("marketing", true) => tp += 1,
            ("marketing", false) => {
                fn_ += 1;
                wrong.push(format!("missed {name} {tags:?}"));
            }
            (_, true) => {
                fp += 1;
                wrong.push(format!("FALSE POSITIVE {name} {tags:?}"));
            }
            _ => tn += 1,
        }
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    println!(
        "marketing-detector on the {} held-out messages: tp={tp} fp={fp} fn={fn_} tn={tn} precision={precision:.3} recall={recall:.3}\n{}",
        sent.len(),
        wrong.join("\n")
    );
    assert!(
        precision >= 0.99,
        "precision {precision:.3}:\n{}",
        wrong.join("\n")
    );
    assert!(recall >= 0.84, "recall {recall:.3}:\n{}", wrong.join("\n"));
}

/// The detector tags a newsletter and the router sends it from the marketing pool; a receipt
/// leaves from the default address; a partner domain goes to its smarthost; another is held.
#[test]
fn router_sends_marketing_through_its_own_pool() {
    let port = free_port();
    let dns = Dns::start(serde_json::json!({
        "dest.test": [mx(10, "mx.dest.test")],
        "mx.dest.test": [a("127.0.0.21")],
    }));
    let mx_sink = Sink::start_at("127.0.0.21", port, &[]);
    let partner = Sink::start(&[]);
    let plugins = shipped_plugin_table("marketing-detector", "")
        + &shipped_plugin_table(
            "router",
            &format!(
                "[tenant.plugin.config]\nrules = \"\"\"\n\
                 tag=marketing => mx pool=marketing\n\
                 domain=partner.test => smarthost 127.0.0.1:{} tls=none\n\
                 domain=held.test => hold\n\"\"\"",
                partner.port
            ),
        );
    let relay = Relay::start(RelayConfig {
        plugins,
        ..RelayConfig::default().mx(
            &dns,
            port,
            &format!(
                "route_allow = [\"127.0.0.1:{}\"]\n[[delivery.pool]]\nname = \"marketing\"\nsource = [\"127.0.0.22\"]\n",
                partner.port
            ),
        )
    });
    let corpus = sluice_e2e::workspace().join("plugins/marketing-detector/corpus");
    let newsletter =
        std::fs::read_to_string(corpus.join("v1/marketing/001-newsletter.eml")).unwrap();
    let receipt = std::fs::read_to_string(corpus.join("v1/transactional/016-receipt.eml")).unwrap();
    let mut c = Chat::authed(relay.port);
    for (rcpt, body) in [
        ("reader@dest.test", &newsletter),
        ("buyer@dest.test", &receipt),
        ("ops@partner.test", &receipt),
        ("someone@held.test", &receipt),
    ] {
        let r = c.send_message("app@example.com", &[rcpt], body);
        assert!(r.starts_with("250"), "{r}");
    }
    let got = mx_sink.wait_messages(2);
    let peer_of = |rcpt: &str| {
        got.iter()
            .find(|m| m.rcpts == vec![rcpt.to_owned()])
            .map(|m| m.peer.clone())
            .unwrap()
    };
    assert_eq!(
        peer_of("reader@dest.test"),
        "127.0.0.22",
        "marketing left from its pool"
    );
    assert_ne!(
        peer_of("buyer@dest.test"),
        "127.0.0.22",
        "a receipt must not use the marketing pool"
    );
    assert_eq!(partner.wait_messages(1)[0].rcpts, vec!["ops@partner.test"]);
    let held = relay.wait_events("deferred", 1);
    assert!(
        held.iter()
            .any(|e| e["rcpt"] == "someone@held.test" && e["reason"] == "held by routing policy"),
        "{held:?}"
    );
}

/// A router with rules it cannot parse is refused when the config loads, with the reason.
#[test]
fn router_refuses_bad_rules_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n[plugins]\ncache_dir = \"{}\"\n{}\n{}",
            sluice_e2e::workspace()
                .join("target/plugin-cache-tests")
                .display(),
            sluice_e2e::relay::DEMO_TENANT,
            shipped_plugin_table(
                "router",
                "[tenant.plugin.config]\nrules = \"tag=x => teleport\""
            )
        ),
    )
    .unwrap();
    let out = std::process::Command::new(sluice_e2e::sluice_bin())
        .args(["check-config"])
        .arg(&config)
        .output()
        .unwrap();
    let t = sluice_e2e::text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("unknown route \"teleport\""), "{t}");
}
