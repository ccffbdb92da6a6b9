use sluice_e2e::{Chat, Relay, RelayConfig};

#[test]
fn plaintext_pipelined_after_starttls_is_discarded() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::ehlo(relay.port);
    // CVE-2011-0411: commands injected in the same packet as STARTTLS.
    c.send_raw(
        b"STARTTLS\r\nAUTH PLAIN AGRlbW8AZGVtby1wYXNzd29yZA==\r\nMAIL FROM:<app@example.com>\r\n",
    );
    c.expect("220 2.0.0");
    c.upgrade();
    // Nothing injected was executed: not authenticated, no transaction, EHLO needed again.
    c.cmd("MAIL FROM:<app@example.com>", "503 5.5.1");
    let caps = c.cmd("EHLO c.test", "250");
    assert!(!caps.contains("STARTTLS"), "STARTTLS offered again: {caps}");
    c.cmd("MAIL FROM:<app@example.com>", "530 5.7.0");
    c.cmd("STARTTLS", "503 5.5.1");
}

#[test]
fn starttls_with_an_argument_or_mid_transaction() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::ehlo(relay.port);
    c.cmd("STARTTLS now", "501 5.5.4");
    c.auth_plain("demo", "demo-password");
    c.cmd("MAIL FROM:<app@example.com>", "250");
    c.cmd("STARTTLS", "503 5.5.1");
}

#[test]
fn implicit_tls_session_is_marked_as_tls() {
    let relay = Relay::start(RelayConfig::default());
    let mut c = Chat::connect_tls(relay.tls_port);
    let caps = c.cmd("EHLO c.test", "250");
    assert!(!caps.contains("STARTTLS"));
    c.auth_plain("demo", "demo-password");
    let r = c.send_message(
        "app@example.com",
        &["tls@dest.test"],
        "Subject: t\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    let ev = &relay.wait_events("accepted", 1)[0];
    assert!(ev["tls"].as_str().unwrap().starts_with("TLSv1."), "{ev}");
}

#[test]
fn certificate_and_key_from_the_config() {
    // Borrow a certificate made by one relay and hand it to another through [tls].
    let first = Relay::start(RelayConfig::default());
    let tls = first.dir.path().join("tls");
    let (cert, key) = (tls.join("cert.pem"), tls.join("key.pem"));
    let relay = Relay::start(RelayConfig {
        tls: format!(
            "cert = \"{}\"\nkey = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        ..Default::default()
    });
    assert!(
        !relay.dir.path().join("tls/cert.pem").exists(),
        "generated a certificate despite [tls] cert/key"
    );
    let mut c = Chat::ehlo(relay.port);
    c.cmd("STARTTLS", "220");
    c.upgrade();
    c.cmd("EHLO c.test", "250");
    assert!(!relay.log().contains("generated a self-signed certificate"));
}

/// Without [tls] cert/key, the generated certificate names the relay's host (subject and
/// subjectAltName) and lasts a year, not centuries.
#[test]
fn the_generated_certificate_names_the_host_and_lasts_a_year() {
    let relay = Relay::start(RelayConfig::default());
    let out = std::process::Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
            "-startdate",
            "-enddate",
            "-in",
        ])
        .arg(relay.dir.path().join("tls/cert.pem"))
        .output()
        .expect("openssl (scripts/test-deps.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("CN = relay.test") || text.contains("CN=relay.test"),
        "{text}"
    );
    assert!(text.contains("DNS:relay.test"), "{text}");
    let date = |prefix: &str| {
        let line = text.lines().find_map(|l| l.strip_prefix(prefix)).unwrap();
        let year: i32 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
        year
    };
    let (start, end) = (date("notBefore="), date("notAfter="));
    assert!(end - start <= 1, "valid from {start} to {end}:\n{text}");
}

/// A generated certificate that ends within 30 days is replaced at the next start.
#[test]
fn a_generated_certificate_near_its_end_is_renewed() {
    let mut relay = Relay::start(RelayConfig::default());
    let tls = relay.dir.path().join("tls");
    let first = std::fs::read_to_string(tls.join("cert.pem")).unwrap();
    relay.terminate();
    relay.spawn();
    assert_eq!(
        std::fs::read_to_string(tls.join("cert.pem")).unwrap(),
        first,
        "renewed too early"
    );
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 10 * 86_400;
    std::fs::write(tls.join("cert.meta"), format!("relay.test {soon}\n")).unwrap();
    relay.terminate();
    relay.spawn();
    assert_ne!(
        std::fs::read_to_string(tls.join("cert.pem")).unwrap(),
        first
    );
}
