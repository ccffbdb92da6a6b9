use sluice_e2e::{text, wait_for, workspace, Chat, Relay, RelayConfig};
use std::process::Command;
use std::time::Duration;

/// What one argon2 check with the default parameters (m = 19 MiB) costs, in KiB.
const ARGON2_KIB: u64 = 19 * 1024;

/// 48 clients from 48 loopback addresses send a failing AUTH PLAIN at the same moment, after
/// STARTTLS. Unbounded, every check held its own 19 MiB at once (and glibc kept it): the relay
/// grew by about a gigabyte. Bounded, at most `max_concurrent_checks` (at most 8 by default)
/// run at once, reusing their memory; the others wait their turn or get 454 4.7.0.
#[test]
fn a_burst_of_failing_auth_keeps_memory_flat_and_the_relay_serving() {
    let relay = Relay::start(RelayConfig {
        auth: String::new(), // require_tls = true, the default
        ..Default::default()
    });
    let before = relay.rss_kib();
    let out = Command::new("python3")
        .arg(workspace().join("tests/tools/auth_burst.py"))
        .args([&relay.port.to_string(), "48"])
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", text(&out));
    let replies: Vec<String> = serde_json::from_slice(&out.stdout).expect("JSON replies");
    for r in &replies {
        assert!(
            r.starts_with("535 5.7.8") || r.starts_with("454 4.7.0"),
            "every client gets 535 5.7.8 or 454 4.7.0: {replies:#?}\nlog:\n{}",
            relay.log()
        );
    }
    let grown = relay.peak_rss_kib().saturating_sub(before);
    // Eight checks' memory and change (TLS sessions, thread stacks); today's default on a
    // small machine is two checks. Unbounded, 48 checks took 48 x 19 MiB.
    let bound = 8 * ARGON2_KIB + 48 * 1024;
    assert!(
        grown < bound,
        "the relay grew by {} MiB during the burst (bound {} MiB)",
        grown / 1024,
        bound / 1024
    );

    // Still serving: a correct AUTH from another address.
    let mut c = Chat::ehlo(relay.port);
    c.cmd("STARTTLS", "220");
    c.upgrade();
    c.cmd("EHLO client.test", "250");
    let r = c.auth_plain("demo", "demo-password");
    assert!(r.starts_with("235 2.7.0"), "{r}");
}

/// Ten failing AUTHs for one user from one client at the same moment, with `max_failures = 3`:
/// attempts count while they are checked, so only three passwords are checked (the third
/// failure starts the lockout) and the other seven wait, then are refused without a check.
/// Counted only once they had failed, all ten were checked before the first was recorded.
#[test]
fn a_burst_from_one_client_checks_no_more_passwords_than_the_allowance() {
    let relay = Relay::start(RelayConfig {
        auth: "max_failures = 3\n".into(),
        ..Default::default()
    });
    let out = Command::new("python3")
        .arg(workspace().join("tests/tools/auth_burst.py"))
        .args([&relay.port.to_string(), "10", "one-client"])
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", text(&out));
    let replies: Vec<String> = serde_json::from_slice(&out.stdout).expect("JSON replies");
    let count = |prefix: &str| replies.iter().filter(|r| r.starts_with(prefix)).count();
    assert_eq!(
        (count("535 5.7.8"), count("421 4.7.0")),
        (2, 8),
        "{replies:#?}"
    );

    // A marker after the burst: once its failure is logged, every check of the burst is too.
    let mut c = Chat::ehlo(relay.port);
    c.cmd("STARTTLS", "220");
    c.upgrade();
    c.cmd("EHLO client.test", "250");
    assert!(c.auth_plain("marker", "x").starts_with("535 5.7.8"));
    let log = wait_for(Duration::from_secs(10), || {
        let log = relay.log();
        log.contains(r#""user":"marker""#).then_some(log)
    })
    .expect("the marker's failure is logged");
    let checked = log
        .lines()
        .filter(|l| l.contains("authentication failed") && l.contains(r#""user":"demo""#))
        .count();
    assert_eq!(checked, 3, "passwords checked for demo; log:\n{log}");
}
