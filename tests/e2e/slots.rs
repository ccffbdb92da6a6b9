//! Plugin instance slots (issue 12 §2): a pooling-allocator slot is held only while a
//! transaction needs it, and each tenant has a bounded share of the pool, so one tenant's
//! idle or numerous sessions can never leave another tenant's plugins without an instance.

use sluice_e2e::relay::DEMO_TENANT;
use sluice_e2e::{plugin_table, Chat, Relay, RelayConfig};

/// The smallest pool (16 instances), two tenants running the `stages` fixture: `demo`, which
/// logs in, and `idler`, which is trusted on loopback (its hooks run from the first byte) or
/// logs in as `idler` with demo's password.
fn relay(idler_trusted: bool) -> Relay {
    let stages = plugin_table("stages", "stages", "timeout = \"300ms\"");
    let idler = if idler_trusted {
        "trusted_networks = [\"127.0.0.0/8\"]\n".to_owned()
    } else {
        DEMO_TENANT[DEMO_TENANT.find("[[tenant.users]]").unwrap()..]
            .replace("\"demo\"", "\"idler\"")
    };
    Relay::start(RelayConfig {
        tenants: format!(
            "[[tenant]]\nname = \"idler\"\nsender_domains = [\"idle.test\"]\n{idler}\n{stages}\n{DEMO_TENANT}{stages}"
        ),
        plugin_runtime: "max_instances = 16\n".into(),
        server: "max_connections_per_ip = 100\n".into(),
        ..RelayConfig::default()
    })
}

/// The demo tenant's message goes through its plugin and arrives.
fn demo_sends(relay: &Relay, rcpt: &str) {
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &[rcpt],
        "Subject: receipt\r\n\r\nthanks\r\n",
    );
    assert!(r.starts_with("250 2.0.0"), "{r}\n{}", relay.log());
    let got = relay.wait_mailbox(rcpt, 1);
    assert!(got[0].contains("X-Stages: seen"), "{}", got[0]);
}

#[test]
fn sessions_idling_before_mail_hold_no_instances() {
    let relay = relay(true);
    // More idle sessions than the whole pool has slots, each past its connect and EHLO hooks.
    let idle: Vec<Chat> = (0..24)
        .map(|_| {
            let mut c = Chat::connect(relay.port);
            c.cmd("EHLO idle.test", "250");
            c
        })
        .collect();
    demo_sends(&relay, "one@dest.test");
    drop(idle);
}

#[test]
fn a_tenant_using_its_whole_share_waits_for_itself_not_for_others() {
    let relay = relay(false);
    // 20 open transactions of the idler: each holds an instance while it lasts, but of the 16
    // slots half may be kept idle for reuse, and the other 8 are split between the 2 tenants:
    // past its 4 the idler times out on its own share.
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..20 {
        let mut c = Chat::ehlo(relay.port);
        assert!(c.auth_plain("idler", "demo-password").starts_with("235"));
        c.send("MAIL FROM:<app@idle.test>");
        let r = c.reply().expect("MAIL reply");
        if r.starts_with("250") {
            open.push(c);
        } else {
            assert!(r.starts_with("451 4.3.0") && r.contains("busy"), "{r}");
            refused += 1;
        }
    }
    assert_eq!(
        open.len(),
        4,
        "the idler's share of 16 slots between 2 tenants"
    );
    assert_eq!(refused, 16);
    // The other tenant still gets an instance at once.
    demo_sends(&relay, "two@dest.test");
    // And the idler's own transactions work again once it lets go of its slots.
    for mut c in open.drain(..) {
        c.cmd("RSET", "250");
    }
    let mut c = Chat::ehlo(relay.port);
    assert!(c.auth_plain("idler", "demo-password").starts_with("235"));
    c.cmd("MAIL FROM:<app@idle.test>", "250");
}
