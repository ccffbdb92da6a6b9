use sluice_e2e::relay::DEMO_TENANT;
use sluice_e2e::{Chat, Relay, RelayConfig};
use std::time::Instant;

#[test]
fn relaying_without_auth_is_refused_for_every_address_form() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::ehlo(relay.port);
    for from in ["app@example.com", "x@elsewhere.test", ""] {
        c.cmd(&format!("MAIL FROM:<{from}>"), "530 5.7.0");
    }
    c.cmd("RCPT TO:<user%other.test@dest.test>", "503 5.5.1");
    assert!(relay.events().is_empty());
}

#[test]
fn sender_outside_the_tenant_domains_is_refused() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::ehlo(relay.port);
    c.auth_plain("demo", "demo-password");
    c.cmd("MAIL FROM:<ceo@bank.test>", "550 5.7.1");
    c.cmd("MAIL FROM:<app@example.com.evil.test>", "550 5.7.1");
    c.cmd("MAIL FROM:<app@mail.example.com>", "250 2.1.0");
}

#[test]
fn wrong_password_and_unknown_user_look_the_same() {
    let relay = Relay::start(RelayConfig {
        auth: "require_tls = false\nmax_failures = 20\n".into(),
        ..Default::default()
    });
    let mut c = Chat::ehlo(relay.port);
    // The fastest of three tries each: robust to a busy machine, still comparable.
    let mut fastest = |user: &str| {
        let mut best = std::time::Duration::MAX;
        let mut reply = String::new();
        for _ in 0..3 {
            let t = Instant::now();
            reply = c.auth_plain(user, "nope");
            best = best.min(t.elapsed());
        }
        (reply, best)
    };
    let (wrong, t_wrong) = fastest("demo");
    let (unknown, t_unknown) = fastest("nobody");
    assert!(wrong.starts_with("535 5.7.8"), "{wrong}");
    assert_eq!(wrong, unknown);
    // Both paths run one argon2 verification: same order of magnitude.
    let (a, b) = (t_wrong.as_secs_f64(), t_unknown.as_secs_f64());
    assert!(
        a.max(b) / a.min(b) < 5.0,
        "timings differ: {t_wrong:?} vs {t_unknown:?}"
    );
    c.cmd("MAIL FROM:<app@example.com>", "530 5.7.0");
}

#[test]
fn repeated_auth_failures_lock_the_client_out() {
    let relay = Relay::start(RelayConfig {
        auth: "require_tls = false\nmax_failures = 3\n".into(),
        ..Default::default()
    });
    let mut c = Chat::ehlo(relay.port);
    assert!(c.auth_plain("demo", "bad1").starts_with("535 5.7.8"));
    assert!(c.auth_plain("demo", "bad2").starts_with("535 5.7.8"));
    assert!(c.auth_plain("demo", "bad3").starts_with("421 4.7.0"));
    assert!(c.is_closed());
    // Locked out now, even with the right password.
    let mut c = Chat::ehlo(relay.port);
    assert!(c
        .auth_plain("demo", "demo-password")
        .starts_with("421 4.7.0"));
}

#[test]
fn auth_before_tls_is_not_offered_when_tls_is_required() {
    let relay = Relay::start(RelayConfig {
        auth: String::new(),
        ..Default::default()
    });
    let mut c = Chat::connect(relay.port);
    let caps = c.cmd("EHLO c.test", "250");
    assert!(!caps.contains("AUTH"), "{caps}");
    assert!(c
        .auth_plain("demo", "demo-password")
        .starts_with("538 5.7.11"));
    c.cmd("STARTTLS", "220");
    c.upgrade();
    let caps = c.cmd("EHLO c.test", "250");
    assert!(caps.contains("AUTH PLAIN LOGIN"), "{caps}");
    assert!(c
        .auth_plain("demo", "demo-password")
        .starts_with("235 2.7.0"));
}

#[test]
fn auth_sasl_exchange_and_cancel() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::ehlo(relay.port);
    c.cmd("AUTH PLAIN", "334");
    c.cmd("*", "501 5.0.0");
    c.cmd("AUTH CRAM-MD5", "504 5.5.4");
    c.cmd("AUTH PLAIN !!!notbase64", "501 5.5.2");
    c.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6");
    c.cmd("ZGVtbw==", "334 UGFzc3dvcmQ6");
    c.cmd("ZGVtby1wYXNzd29yZA==", "235 2.7.0");
    c.cmd("AUTH PLAIN", "503 5.5.1");
}

#[test]
fn trusted_network_sends_as_its_tenant_without_auth() {
    let tenants = format!(
        "{DEMO_TENANT}\n[[tenant]]\nname = \"app-servers\"\nsender_domains = [\"shop.test\"]\ntrusted_networks = [\"127.0.0.0/8\"]\n"
    );
    let relay = Relay::start(RelayConfig {
        tenants,
        ..Default::default()
    });
    let mut c = Chat::ehlo(relay.port);
    c.cmd("MAIL FROM:<app@example.com>", "550 5.7.1");
    let r = c.send_message(
        "orders@shop.test",
        &["buyer@dest.test"],
        "Subject: receipt\r\n\r\nthanks\r\n",
    );
    assert!(r.starts_with("250 2.0.0"), "{r}");
    relay.wait_mailbox("buyer@dest.test", 1);
    assert_eq!(relay.wait_events("accepted", 1)[0]["tenant"], "app-servers");
}
