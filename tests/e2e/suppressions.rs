//! Suppression lists: refused at RCPT with 550 5.1.1 while the other recipients go, filled by
//! a real hard bounce and by ARF complaints, kept across kill -9, managed over both HTTP APIs
//! and the CLI (CSV out and in), one list per tenant.

use crate::openapi::check_answer;
use sluice_e2e::relay::DEMO_TENANT;
use sluice_e2e::{
    api_key_table, sluice_bin, text, wait_for, Chat, Relay, RelayConfig, Sink, ADMIN_TOKEN,
    DEMO_API_KEY,
};
use std::process::Command;
use std::time::Duration;

const ARF: &str = include_str!("../../examples/arf-complaint.eml");

/// A second tenant, `other`, with its own user, sender domain and key (every scope).
fn two_tenants() -> String {
    format!(
        "{DEMO_TENANT}\n[[tenant]]\nname = \"other\"\nsender_domains = [\"other.test\"]\n\
         [[tenant.users]]\nusername = \"other\"\npassword_hash = \"{}\"\n{}",
        // The demo user's hash: password "demo-password".
        "$argon2id$v=19$m=19456,t=2,p=1$mUVUyVvOfnrjaDrADSvkdQ$4OO0u1/HvlqsvYvhEnt0GbmbzAtEnkc49TGCjPUfaGw",
        api_key_table("other-app", "other-key", &["send", "suppressions"])
            + &api_key_table("other-sender", "other-send-key", &["send"])
    )
}

fn api_doc(relay: &Relay) -> serde_json::Value {
    relay.api("GET", "/v1/openapi.json", None, None).json()
}

fn admin_doc(relay: &Relay) -> serde_json::Value {
    relay.http("GET", "/v1/openapi.json", None).json()
}

/// `PUT /v1/suppressions/ADDRESS` with a JSON body, checked against the document.
fn put(relay: &Relay, doc: &serde_json::Value, address: &str, json: &str) -> serde_json::Value {
    let path = format!("/v1/suppressions/{address}");
    let r = relay.api(
        "PUT",
        &path,
        Some(DEMO_API_KEY),
        Some(("application/json", json.as_bytes())),
    );
    assert!(r.status == 201 || r.status == 200, "{r:?}");
    check_answer(doc, "PUT", &path, "/v1/suppressions/{address}", &r)
}

/// Waits until the log says the writer put `address` on disk.
fn wait_suppression_added(relay: &Relay, address: &str) {
    let needle = format!("\"address\":\"{address}\"");
    wait_for(Duration::from_secs(20), || {
        relay
            .log()
            .lines()
            .any(|l| l.contains("suppression added") && l.contains(&needle))
            .then_some(())
    })
    .unwrap_or_else(|| panic!("{address} was not added; log:\n{}", relay.log()));
}

#[test]
fn a_suppressed_recipient_gets_550_5_1_1_and_the_others_of_the_transaction_go() {
    let relay = Relay::start(RelayConfig::default());
    let doc = api_doc(&relay);
    let entry = put(
        &relay,
        &doc,
        "Gone@dest.test",
        r#"{"reason":"unsubscribe","detail":"clicked unsubscribe"}"#,
    );
    assert_eq!(entry["address"], "Gone@dest.test");
    assert_eq!(entry["reason"], "unsubscribe");
    let since = entry["created_at"].as_str().unwrap().to_owned();

    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@example.com>", "250");
    // The domain's case does not matter; the local part's does (RFC 5321 §2.4).
    let refused = c.cmd("RCPT TO:<Gone@DEST.Test>", "550");
    assert_eq!(
        refused,
        format!(
            "550 5.1.1 <Gone@DEST.Test>: recipient is on the tenant's suppression list (unsubscribe since {since})"
        )
    );
    c.cmd("RCPT TO:<here@dest.test>", "250");
    c.cmd("RCPT TO:<gone@dest.test>", "250");
    c.cmd("DATA", "354");
    c.send_raw(b"Subject: s\r\n\r\nx\r\n.\r\n");
    assert!(c.expect("250").contains("queued as"));
    relay.wait_mailbox("here@dest.test", 1);
    relay.wait_mailbox("gone@dest.test", 1);
    let accepted = relay.wait_events("accepted", 1);
    assert_eq!(accepted[0]["rcpts"], 2, "{}", accepted[0]);
    let ev = &relay.wait_events("suppressed", 1)[0];
    assert_eq!(ev["tenant"], "demo");
    assert_eq!(ev["rcpt"], "Gone@DEST.Test");
    assert_eq!(ev["reason"], "unsubscribe");
    assert_eq!(ev["via"], "smtp");

    // A transaction whose only recipient is suppressed queues nothing.
    c.cmd("MAIL FROM:<app@example.com>", "250");
    c.cmd("RCPT TO:<Gone@dest.test>", "550 5.1.1");
    c.cmd("DATA", "554 5.5.1");
    c.cmd("RSET", "250");
    // Once removed, the address takes mail again.
    let r = relay.api(
        "DELETE",
        "/v1/suppressions/Gone@dest.test",
        Some(DEMO_API_KEY),
        None,
    );
    check_answer(&doc, "DELETE", "/", "/v1/suppressions/{address}", &r);
    assert_eq!(r.json()["removed"], "Gone@dest.test");
    c.cmd("MAIL FROM:<app@example.com>", "250");
    c.cmd("RCPT TO:<Gone@dest.test>", "250");
}

#[test]
fn a_real_hard_bounce_suppresses_and_every_acknowledged_change_survives_kill_9() {
    let sink = Sink::start(&["--reject-rcpt", "gone@dest.test"]);
    let mut relay = Relay::start(RelayConfig::default().smarthost(sink.port, ""));
    let doc = api_doc(&relay);
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &["gone@dest.test", "here@dest.test"],
        "Subject: b\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(sink.wait_messages(1)[0].rcpts, ["here@dest.test"]);
    relay.wait_events("bounced", 1);
    wait_suppression_added(&relay, "gone@dest.test");
    // Acknowledged changes over the API: one added, one added then removed.
    put(
        &relay,
        &doc,
        "manual@dest.test",
        r#"{"detail":"asked by phone"}"#,
    );
    put(&relay, &doc, "removed@dest.test", "");
    let r = relay.api(
        "DELETE",
        "/v1/suppressions/removed@dest.test",
        Some(DEMO_API_KEY),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");

    relay.kill9();
    relay.spawn();
    let r = relay.api(
        "GET",
        "/v1/suppressions/gone@dest.test",
        Some(DEMO_API_KEY),
        None,
    );
    let entry = check_answer(&doc, "GET", "/", "/v1/suppressions/{address}", &r);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(entry["reason"], "hard_bounce");
    assert_eq!(entry["detail"], "550 5.1.1 No such user");
    let list = relay
        .api("GET", "/v1/suppressions", Some(DEMO_API_KEY), None)
        .json();
    let addresses: Vec<&str> = list["suppressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["gone@dest.test", "manual@dest.test"]);
    let mut c = Chat::authed(relay.port);
    c.cmd("MAIL FROM:<app@example.com>", "250");
    let r = c.cmd("RCPT TO:<gone@dest.test>", "550 5.1.1");
    assert!(r.contains("(hard_bounce since "), "{r}");
    c.cmd("RCPT TO:<removed@dest.test>", "250");
}

#[test]
fn the_api_adds_lists_pages_and_removes_and_csv_goes_out_and_back_in() {
    let relay = Relay::start(RelayConfig {
        tenants: format!("[suppressions]\nmax_per_tenant = 5\n{DEMO_TENANT}"),
        ..RelayConfig::default()
    });
    let doc = api_doc(&relay);
    let key = Some(DEMO_API_KEY);
    for (address, body) in [
        ("b@dest.test", r#"{"reason":"manual"}"#),
        (
            "a@dest.test",
            r#"{"reason":"unsubscribe","expires_at":"2999-01-01T00:00:00Z"}"#,
        ),
        (
            "\"q,r\"@dest.test",
            r#"{"reason":"complaint","detail":"said \"stop\""}"#,
        ),
    ] {
        let path = format!("/v1/suppressions/{}", address.replace('"', "%22"));
        let r = relay.api(
            "PUT",
            &path,
            key,
            Some(("application/json", body.as_bytes())),
        );
        assert_eq!(r.status, 201, "{r:?}");
        check_answer(&doc, "PUT", &path, "/v1/suppressions/{address}", &r);
    }
    // Replacing an entry is 200.
    let r = relay.api("PUT", "/v1/suppressions/b@dest.test", key, None);
    assert_eq!(r.status, 200, "{r:?}");

    // Pages in address order, with a cursor.
    let r = relay.api("GET", "/v1/suppressions?limit=2", key, None);
    let page = check_answer(&doc, "GET", "/", "/v1/suppressions", &r);
    assert_eq!(page["total"], 3);
    assert_eq!(page["count"], 2);
    assert_eq!(page["suppressions"][0]["address"], "\"q,r\"@dest.test");
    assert_eq!(page["suppressions"][1]["address"], "a@dest.test");
    assert_eq!(
        page["suppressions"][1]["expires_at"],
        "2999-01-01T00:00:00Z"
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let r = relay.api(
        "GET",
        &format!("/v1/suppressions?limit=2&cursor={cursor}"),
        key,
        None,
    );
    let page = check_answer(&doc, "GET", "/", "/v1/suppressions", &r);
    assert_eq!(page["suppressions"][0]["address"], "b@dest.test");
    assert!(page["next_cursor"].is_null());
    let r = relay.api("GET", "/v1/suppressions?reason=complaint", key, None);
    assert_eq!(r.json()["count"], 1);

    // CSV out, everything removed, the same CSV back in: the same list.
    let r = relay.api("GET", "/v1/suppressions.csv", key, None);
    check_answer(&doc, "GET", "/", "/v1/suppressions.csv", &r);
    assert!(
        r.body
            .starts_with("address,reason,created_at,expires_at,detail\n"),
        "{r:?}"
    );
    let csv = r.body.clone();
    let before = relay.api("GET", "/v1/suppressions", key, None).json();
    for a in ["a@dest.test", "b@dest.test", "%22q,r%22@dest.test"] {
        let r = relay.api("DELETE", &format!("/v1/suppressions/{a}"), key, None);
        assert_eq!(r.status, 200, "{a}: {r:?}");
    }
    assert_eq!(
        relay.api("GET", "/v1/suppressions", key, None).json()["total"],
        0
    );
    let r = relay.api(
        "POST",
        "/v1/suppressions/import",
        key,
        Some(("text/csv", csv.as_bytes())),
    );
    let imported = check_answer(&doc, "POST", "/", "/v1/suppressions/import", &r);
    assert_eq!(imported["imported"], 3, "{r:?}");
    let after = relay.api("GET", "/v1/suppressions", key, None).json();
    assert_eq!(before["suppressions"], after["suppressions"]);

    // Bad input: a clear 4xx, nothing changed.
    let bad_csv = "address,reason\nok@dest.test,manual\nnot an address,manual\nx@dest.test,spam\n";
    let r = relay.api(
        "POST",
        "/v1/suppressions/import",
        key,
        Some(("text/csv", bad_csv.as_bytes())),
    );
    let problem = check_answer(&doc, "POST", "/", "/v1/suppressions/import", &r);
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(problem["errors"][0]["line"], 3);
    assert_eq!(problem["errors"][1]["line"], 4);
    assert!(problem["errors"][1]["message"]
        .as_str()
        .unwrap()
        .contains("unknown reason \"spam\""));
    let r = relay.api(
        "POST",
        "/v1/suppressions/import",
        key,
        Some(("application/json", b"[]")),
    );
    assert_eq!(r.status, 415, "{r:?}");
    for (path, body, status) in [
        ("/v1/suppressions/not-an-address", "", 422),
        ("/v1/suppressions/a%20b@dest.test", "", 422),
        ("/v1/suppressions/c@dest.test", r#"{"reason":"spam"}"#, 422),
        (
            "/v1/suppressions/c@dest.test",
            r#"{"reason":"manual","colour":"red"}"#,
            400,
        ),
        (
            "/v1/suppressions/c@dest.test",
            r#"{"expires_at":"next week"}"#,
            422,
        ),
        ("/v1/suppressions/c@dest.test", "{not json", 400),
    ] {
        let body = (!body.is_empty()).then_some(("application/json", body.as_bytes()));
        let r = relay.api("PUT", path, key, body);
        assert_eq!(r.status, status, "{path}: {r:?}");
        check_answer(&doc, "PUT", path, "/v1/suppressions/{address}", &r);
    }
    let r = relay.api("GET", "/v1/suppressions?limit=0", key, None);
    assert_eq!(r.status, 400, "{r:?}");
    check_answer(&doc, "GET", "/", "/v1/suppressions", &r);
    let r = relay.api("GET", "/v1/suppressions/nobody@dest.test", key, None);
    assert_eq!(r.status, 404, "{r:?}");
    check_answer(&doc, "GET", "/", "/v1/suppressions/{address}", &r);
    assert_eq!(
        relay.api("GET", "/v1/suppressions", key, None).json()["total"],
        3
    );

    // The list is bounded: [suppressions] max_per_tenant = 5.
    put(&relay, &doc, "four@dest.test", "");
    put(&relay, &doc, "five@dest.test", "");
    let r = relay.api("PUT", "/v1/suppressions/six@dest.test", key, None);
    let problem = check_answer(&doc, "PUT", "/", "/v1/suppressions/{address}", &r);
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(problem["max_per_tenant"], 5);
    let r = relay.api(
        "POST",
        "/v1/suppressions/import",
        key,
        Some(("text/csv", b"six@dest.test\n".as_slice())),
    );
    assert_eq!(r.status, 409, "{r:?}");
}

#[test]
fn one_tenants_suppressions_never_touch_another_tenant() {
    let relay = Relay::start(RelayConfig {
        tenants: two_tenants(),
        ..RelayConfig::default()
    });
    let doc = api_doc(&relay);
    put(&relay, &doc, "shared@dest.test", "");
    let r = relay.api(
        "GET",
        "/v1/suppressions/shared@dest.test",
        Some("other-key"),
        None,
    );
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(
        relay
            .api("GET", "/v1/suppressions", Some("other-key"), None)
            .json()["total"],
        0
    );
    // A key without the suppressions scope cannot see or change a list at all.
    let r = relay.api("GET", "/v1/suppressions", Some("other-send-key"), None);
    assert_eq!(r.status, 403, "{r:?}");
    check_answer(&doc, "GET", "/", "/v1/suppressions", &r);

    let mut other = Chat::ehlo(relay.port);
    assert!(other
        .auth_plain("other", "demo-password")
        .starts_with("235"));
    other.cmd("MAIL FROM:<app@other.test>", "250");
    other.cmd("RCPT TO:<shared@dest.test>", "250");
    let mut demo = Chat::authed(relay.port);
    demo.cmd("MAIL FROM:<app@example.com>", "250");
    demo.cmd("RCPT TO:<shared@dest.test>", "550 5.1.1");
    // Removing it through the other tenant's key removes nothing of demo's.
    let r = relay.api(
        "DELETE",
        "/v1/suppressions/shared@dest.test",
        Some("other-key"),
        None,
    );
    assert_eq!(r.status, 404, "{r:?}");
    demo.cmd("RSET", "250");
    demo.cmd("MAIL FROM:<app@example.com>", "250");
    demo.cmd("RCPT TO:<shared@dest.test>", "550 5.1.1");
}

#[test]
fn an_arf_report_to_the_complaints_address_suppresses_the_complainer_for_the_sending_tenant() {
    let relay = Relay::start(RelayConfig {
        tenants: format!(
            "[complaints]\naddress = \"fbl@relay.test\"\n{}",
            two_tenants()
        ),
        ..RelayConfig::default()
    });
    // A feedback loop sends without AUTH; only the complaints address takes its mail.
    let mut fbl = Chat::ehlo(relay.port);
    fbl.cmd("MAIL FROM:<abuse@fbl.dest.test>", "250");
    fbl.cmd("RCPT TO:<someone@elsewhere.test>", "530 5.7.0");
    fbl.cmd("RCPT TO:<FBL@Relay.Test>", "250");
    fbl.cmd("RCPT TO:<someone@elsewhere.test>", "530 5.7.0");
    fbl.cmd("DATA", "354");
    fbl.send_raw(ARF.as_bytes());
    fbl.send_raw(b".\r\n");
    fbl.expect("250 2.0.0 Feedback report received");
    let ev = &relay.wait_events("complained", 1)[0];
    assert_eq!(ev["tenant"], "demo");
    assert_eq!(ev["rcpt"], "complainer@dest.test");
    assert_eq!(ev["feedback_type"], "abuse");
    assert_eq!(ev["queue_id"], "0000019A2B3C4D5E");
    assert_eq!(ev["via"], "smtp");
    wait_suppression_added(&relay, "complainer@dest.test");
    let r = relay.api(
        "GET",
        "/v1/suppressions/complainer@dest.test",
        Some(DEMO_API_KEY),
        None,
    );
    assert_eq!(r.json()["reason"], "complaint", "{r:?}");
    assert!(r.json()["detail"].as_str().unwrap().contains("Example-FBL"));
    // Only demo sent it: the other tenant may still mail the complainer.
    let r = relay.api(
        "GET",
        "/v1/suppressions/complainer@dest.test",
        Some("other-key"),
        None,
    );
    assert_eq!(r.status, 404);

    // Mail to the complaints address that is not a report: 550 5.6.0, nothing taken.
    fbl.cmd("MAIL FROM:<abuse@fbl.dest.test>", "250");
    fbl.cmd("RCPT TO:<fbl@relay.test>", "250");
    fbl.cmd("DATA", "354");
    fbl.send_raw(b"Subject: hi\r\n\r\nnot a report\r\n.\r\n");
    fbl.expect(
        "550 5.6.0 Not a feedback report (RFC 5965): it has no message/feedback-report part",
    );
    // A tenant's transaction cannot mix the complaints address with mail to relay.
    let mut demo = Chat::authed(relay.port);
    demo.cmd("MAIL FROM:<app@example.com>", "250");
    demo.cmd("RCPT TO:<fine@dest.test>", "250");
    demo.cmd("RCPT TO:<fbl@relay.test>", "452 4.5.3");
    demo.cmd("RCPT TO:<complainer@dest.test>", "550 5.1.1");
    demo.cmd("QUIT", "221");
    // Nothing was relayed anywhere: no accepted message, no Maildir.
    assert!(relay.events().iter().all(|e| e["event"] != "accepted"));
    assert!(
        !relay.maildir().exists() || std::fs::read_dir(relay.maildir()).unwrap().next().is_none()
    );

    // The same report over the application API, for the calling key's tenant.
    let doc = api_doc(&relay);
    let fields = "Feedback-Type: abuse\r\nUser-Agent: Example-FBL/1.0\r\nVersion: 1\r\n\
                  Original-Mail-From: <app@other.test>\r\nOriginal-Rcpt-To: <angry@dest.test>\r\n";
    let r = relay.api(
        "POST",
        "/v1/complaints",
        Some("other-key"),
        Some(("message/feedback-report", fields.as_bytes())),
    );
    let taken = check_answer(&doc, "POST", "/", "/v1/complaints", &r);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(taken["tenant"], "other");
    assert_eq!(taken["suppressed"], serde_json::json!(["angry@dest.test"]));
    let ev = &relay.wait_events("complained", 2)[1];
    assert_eq!(
        (ev["tenant"].as_str(), ev["via"].as_str()),
        (Some("other"), Some("http"))
    );
    let r = relay.api(
        "POST",
        "/v1/complaints",
        Some(DEMO_API_KEY),
        Some(("message/rfc822", ARF.as_bytes())),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json()["suppressed"],
        serde_json::json!([]),
        "already suppressed"
    );
    for (content_type, body, status) in [
        ("text/plain", "Feedback-Type: abuse\r\n", 415),
        ("message/rfc822", "Subject: hi\r\n\r\nno report\r\n", 422),
        ("message/feedback-report", "Feedback-Type: abuse\r\n", 422),
    ] {
        let r = relay.api(
            "POST",
            "/v1/complaints",
            Some(DEMO_API_KEY),
            Some((content_type, body.as_bytes())),
        );
        assert_eq!(r.status, status, "{content_type}: {r:?}");
        check_answer(&doc, "POST", "/", "/v1/complaints", &r);
    }
}

/// `sluice suppression … --tenant demo --config FILE` against the running relay.
fn cli(relay: &Relay, args: &[&str]) -> (bool, String) {
    let out = Command::new(sluice_bin())
        .arg("suppression")
        .args(args)
        .args(["--tenant", "demo", "--config"])
        .arg(&relay.config_path)
        .env_remove("SLUICE_ADMIN_TOKEN")
        .output()
        .expect("run sluice");
    (out.status.success(), text(&out))
}

#[test]
fn the_cli_manages_a_tenants_list_through_the_admin_api() {
    let relay = Relay::start(RelayConfig::default());
    let doc = admin_doc(&relay);
    let (ok, out) = cli(
        &relay,
        &[
            "add",
            "cli@dest.test",
            "--reason",
            "unsubscribe",
            "--detail",
            "form",
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("cli@dest.test suppressed for tenant demo (unsubscribe)"),
        "{out}"
    );
    let (ok, out) = cli(&relay, &["list"]);
    assert!(
        ok && out.contains("cli@dest.test  unsubscribe  since ") && out.contains("(form)"),
        "{out}"
    );
    let (ok, csv) = cli(&relay, &["export"]);
    assert!(
        ok && csv.starts_with("address,reason,created_at,expires_at,detail\n"),
        "{csv}"
    );

    let file = relay.dir.path().join("import.csv");
    std::fs::write(
        &file,
        "address,reason\nbulk1@dest.test,manual\nbulk2@dest.test,hard_bounce\n",
    )
    .unwrap();
    let (ok, out) = cli(&relay, &["import", file.to_str().unwrap()]);
    assert!(
        ok && out.contains("imported 2 row(s) for tenant demo: 2 added"),
        "{out}"
    );
    let (ok, out) = cli(&relay, &["list", "--reason", "hard_bounce", "--json"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("bulk2@dest.test") && !out.contains("bulk1@dest.test"),
        "{out}"
    );
    let (ok, out) = cli(&relay, &["remove", "cli@dest.test"]);
    assert!(ok && out.contains("cli@dest.test removed"), "{out}");
    let (ok, out) = cli(&relay, &["remove", "cli@dest.test"]);
    assert!(
        !ok && out.contains("is not on tenant \"demo\"'s suppression list"),
        "{out}"
    );
    std::fs::write(&file, "not-an-address\n").unwrap();
    let (ok, out) = cli(&relay, &["import", file.to_str().unwrap()]);
    assert!(
        !ok && out.contains("line 1") && out.contains("not a mailbox"),
        "{out}"
    );

    // The admin routes the CLI uses answer as their document says.
    let base = "/v1/tenants/demo/suppressions";
    let r = relay.http("GET", base, Some(ADMIN_TOKEN));
    let list = check_answer(&doc, "GET", base, "/v1/tenants/{tenant}/suppressions", &r);
    assert_eq!(list["total"], 2);
    let r = relay.http("GET", &format!("{base}/bulk1@dest.test"), Some(ADMIN_TOKEN));
    check_answer(
        &doc,
        "GET",
        base,
        "/v1/tenants/{tenant}/suppressions/{address}",
        &r,
    );
    let r = relay.http("GET", &format!("{base}.csv"), Some(ADMIN_TOKEN));
    check_answer(
        &doc,
        "GET",
        base,
        "/v1/tenants/{tenant}/suppressions.csv",
        &r,
    );
    let r = relay.http(
        "DELETE",
        &format!("{base}/bulk1@dest.test"),
        Some(sluice_e2e::READ_TOKEN),
    );
    assert_eq!(r.status, 403, "{r:?}");
    check_answer(
        &doc,
        "DELETE",
        base,
        "/v1/tenants/{tenant}/suppressions/{address}",
        &r,
    );
    let r = relay.http("GET", "/v1/tenants/nobody/suppressions", Some(ADMIN_TOKEN));
    assert_eq!(r.status, 404, "{r:?}");
    check_answer(&doc, "GET", base, "/v1/tenants/{tenant}/suppressions", &r);
}
