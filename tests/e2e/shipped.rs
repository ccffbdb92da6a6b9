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
