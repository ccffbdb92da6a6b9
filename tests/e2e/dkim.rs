//! DKIM: keys made by `sluice dkim keygen`, messages signed by the relay (rsa-sha256 and
//! ed25519-sha256) and verified by dkimpy against keys served by the test DNS server; and
//! `sluice domain check` reading SPF, DKIM and DMARC from that server.

use serde_json::json;
use sluice_e2e::dns::{a, mx, txt};
use sluice_e2e::relay::DEMO_TENANT;
use sluice_e2e::{free_port, sluice_bin, text, workspace, Chat, Dns, Relay, RelayConfig, Sink};
use std::path::Path;
use std::process::Command;

/// Runs `sluice dkim keygen` and returns the TXT record it says to publish.
fn keygen(dir: &Path, domain: &str, selector: &str, algorithm: &str) -> String {
    let key = dir.join(format!("{selector}.pem"));
    let out = Command::new(sluice_bin())
        .args([
            "dkim",
            "keygen",
            domain,
            selector,
            "--algorithm",
            algorithm,
            "--out",
        ])
        .arg(&key)
        .output()
        .expect("run sluice");
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    assert!(
        printed.contains(&format!("key = \"{}\"", key.display())),
        "{printed}"
    );
    let line = printed
        .lines()
        .find(|l| l.contains("IN TXT"))
        .expect("a TXT line");
    // One or more DNS character-strings, each at most 255 octets, joined by resolvers.
    let strings: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
    assert!(!strings.is_empty(), "{line}");
    assert!(strings.iter().all(|s| s.len() <= 255), "{line}");
    if algorithm == "rsa2048" {
        assert!(
            strings.len() > 1,
            "a 2048-bit key's record needs two strings: {line}"
        );
    }
    strings.concat()
}

fn dkimpy(dns: &Dns, message: &str) -> std::process::Output {
    let file = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(file.path(), message).expect("write");
    Command::new("python3")
        .arg(workspace().join("tests/tools/dkim_verify.py"))
        .args(["--dns-port", &dns.port.to_string()])
        .arg(file.path())
        .output()
        .expect("python3 with dkimpy (make test installs it)")
}

#[test]
fn rsa_and_ed25519_signatures_verify_with_dkimpy_and_domain_check_reads_dns() {
    let keys = tempfile::tempdir().expect("tempdir");
    let rsa = keygen(keys.path(), "example.com", "rsa", "rsa2048");
    let ed = keygen(keys.path(), "ed.example.com", "ed", "ed25519");
    assert!(rsa.starts_with("v=DKIM1; k=rsa; p="), "{rsa}");
    assert!(ed.starts_with("v=DKIM1; k=ed25519; p="), "{ed}");
    let port = free_port();
    let mut zone = json!({
        "example.com": [txt("v=spf1 ip4:127.0.0.17 -all")],
        "dest.test": [mx(10, "mx.dest.test")],
        "mx.dest.test": [a("127.0.0.16")],
        "rsa._domainkey.example.com": [txt(&rsa)],
        "ed._domainkey.ed.example.com": [txt(&ed)],
    });
    let dns = Dns::start(zone.clone());
    let sink = Sink::start_at("127.0.0.16", port, &[]);
    let tenants = format!(
        "{}\n[[tenant.dkim]]\ndomain = \"example.com\"\nselector = \"rsa\"\nkey = \"{}\"\n\
         [[tenant.dkim]]\ndomain = \"ed.example.com\"\nselector = \"ed\"\nkey = \"{}\"\n",
        DEMO_TENANT.replace(
            "sender_domains = [\"example.com\"]",
            "sender_domains = [\"example.com\"]\npool = \"tx\"",
        ),
        keys.path().join("rsa.pem").display(),
        keys.path().join("ed.pem").display(),
    );
    let relay = Relay::start(RelayConfig {
        tenants,
        ..RelayConfig::default().mx(
            &dns,
            port,
            "[[delivery.pool]]\nname = \"tx\"\nsource = [\"127.0.0.17\"]\n",
        )
    });
    let mut c = Chat::authed(relay.port);
    for from in ["app@example.com", "app@ed.example.com"] {
        let r = c.send_message(
            "app@example.com",
            &["user@dest.test"],
            &format!(
                "From: Shop <{from}>\r\nTo: user@dest.test\r\nSubject: Your receipt\r\n\r\nTotal: 12.00 EUR\r\n..leading dot (stuffed)\r\n"
            ),
        );
        assert!(r.starts_with("250"), "{r}");
    }
    let got = sink.wait_messages(2);
    let mut algorithms = Vec::new();
    for m in &got {
        assert!(m.content.starts_with("DKIM-Signature:"), "{}", m.content);
        let out = dkimpy(&dns, &m.content);
        assert!(
            out.status.success(),
            "dkimpy: {}\n{}",
            text(&out),
            m.content
        );
        algorithms.push(String::from_utf8_lossy(&out.stdout).into_owned());
        // The verifier can fail: a changed body does not verify.
        let tampered = m.content.replace("12.00", "99.00");
        assert!(
            !dkimpy(&dns, &tampered).status.success(),
            "tampered message verified"
        );
    }
    let events = relay.wait_events("delivered", 2);
    let signed: Vec<&str> = events.iter().filter_map(|e| e["dkim"].as_str()).collect();
    assert!(
        signed.contains(&"rsa-sha256 d=example.com s=rsa"),
        "{signed:?}"
    );
    assert!(
        signed.contains(&"ed25519-sha256 d=ed.example.com s=ed"),
        "{signed:?}"
    );
    let all = algorithms.join("");
    assert!(
        all.contains("a=rsa-sha256") && all.contains("d=example.com"),
        "{all}"
    );
    assert!(
        all.contains("a=ed25519-sha256") && all.contains("d=ed.example.com"),
        "{all}"
    );

    // domain check: SPF passes for the pool's address, the key is published, DMARC missing.
    let check = || {
        Command::new(sluice_bin())
            .args(["domain", "check", "example.com", "--config"])
            .arg(&relay.config_path)
            .output()
            .expect("run sluice")
    };
    let out = check();
    let report = text(&out);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("pool tx 127.0.0.17: pass"), "{report}");
    assert!(
        report.contains("s=rsa rsa-sha256: published, matches the key"),
        "{report}"
    );
    assert!(report.contains("DMARC  missing"), "{report}");
    // A domain that does not exist is said to, not reported as missing its records.
    let out = Command::new(sluice_bin())
        .args(["domain", "check", "nowhere.example.com", "--config"])
        .arg(&relay.config_path)
        .output()
        .expect("run sluice");
    let report = text(&out);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("does not exist (NXDOMAIN)"), "{report}");
    assert!(!report.contains("SPF    missing"), "{report}");
    zone["_dmarc.example.com"] = json!([txt("v=DMARC1; p=reject")]);
    zone["mail.example.com"] = json!([txt("v=spf1 ip4:127.0.0.17 -all")]);
    dns.set_zone(zone);
    let out = check();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("policy reject"), "{}", text(&out));
    // A subdomain with no record of its own is under its organizational domain's policy
    // (RFC 7489 §6.6.3): reported as inherited, with no advice to publish a weaker one.
    let out = Command::new(sluice_bin())
        .args(["domain", "check", "mail.example.com", "--config"])
        .arg(&relay.config_path)
        .output()
        .expect("run sluice");
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("inherited from _dmarc.example.com") && report.contains("policy reject"),
        "{report}"
    );
    assert!(!report.contains("DMARC  missing"), "{report}");
    assert!(!report.contains("p=quarantine"), "{report}");
}
