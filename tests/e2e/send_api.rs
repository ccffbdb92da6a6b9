//! Sending through the application API (`POST /v1/messages`, `/v1/messages/batch`): MIME
//! read back by Python's email module, raw messages, plugin verdicts as over SMTP, every
//! error class answered with a problem and nothing queued, idempotency across restarts, and
//! a 202 that survives kill -9. Every answer is checked against the OpenAPI document.

use crate::openapi::check_answer;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use sluice_e2e::http::{request_with, Reply};
use sluice_e2e::relay::{maildir_folder, DEMO_TENANT};
use sluice_e2e::{
    api_key_table, free_port, plugin_table, python, text, wait_for, Relay, RelayConfig, Sink,
    DEMO_API_KEY,
};
use std::path::PathBuf;
use std::time::Duration;

fn doc(relay: &Relay) -> Value {
    relay.api("GET", "/v1/openapi.json", None, None).json()
}

/// POSTs a JSON body with extra headers; checks the answer against the document.
fn post(
    relay: &Relay,
    doc: &Value,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (Reply, Value) {
    let bytes = body.to_string().into_bytes();
    let r = request_with(
        relay.api_port,
        "POST",
        path,
        Some(DEMO_API_KEY),
        headers,
        Some(("application/json", &bytes)),
    );
    let template = path.split('?').next().unwrap();
    let v = check_answer(doc, "POST", path, template, &r);
    (r, v)
}

fn send(relay: &Relay, doc: &Value, body: &Value) -> (Reply, Value) {
    post(relay, doc, "/v1/messages", body, &[])
}

/// A small message from the demo tenant to `rcpts`.
fn simple(subject: &str, rcpts: &[&str]) -> Value {
    json!({"from": "app@example.com", "to": rcpts, "subject": subject, "text": "hello"})
}

/// The files delivered to `rcpt`'s Maildir, once there are `n`.
fn delivered(relay: &Relay, rcpt: &str, n: usize) -> Vec<PathBuf> {
    let dir = relay.maildir().join(maildir_folder(rcpt)).join("new");
    wait_for(Duration::from_secs(20), || {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        (files.len() >= n).then_some(files)
    })
    .unwrap_or_else(|| panic!("{rcpt} did not get {n} message(s); log:\n{}", relay.log()))
}

/// A message file as Python's email module (policy `default`) reads it.
fn parse_with_python(path: &std::path::Path) -> Value {
    const SCRIPT: &str = r#"
import sys, json, hashlib, email
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
out = {h: (str(m[h]) if m[h] is not None else None) for h in
       ["From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Message-ID", "Date", "X-Campaign",
        "List-Unsubscribe", "MIME-Version", "X-Session"]}
out["received"] = [str(v) for v in m.get_all("Received", [])]
plain = m.get_body(preferencelist=("plain",))
html = m.get_body(preferencelist=("html",))
out["text"] = plain.get_content() if plain else None
out["html"] = html.get_content() if html else None
out["attachments"] = []
for p in m.iter_attachments():
    data = p.get_payload(decode=True)
    out["attachments"].append({"filename": p.get_filename(), "content_type": p.get_content_type(),
                               "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
out["defects"] = [type(d).__name__ for part in m.walk() for d in part.defects]
print(json.dumps(out))
"#;
    let o = python(SCRIPT, &[path.to_str().unwrap()]);
    assert!(o.status.success(), "python: {}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn accepted_ids(relay: &Relay) -> Vec<String> {
    relay
        .events()
        .into_iter()
        .filter(|e| e["event"] == "accepted")
        .map(|e| e["queue_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_json_message_is_built_as_mime_and_delivered_with_its_attachments_intact() {
    let relay = Relay::start(RelayConfig::default());
    let doc = doc(&relay);
    let pdf: Vec<u8> = (0..=255u8).cycle().take(40 * 256).collect();
    // Text is text: its line breaks travel as CRLF and Python gives them back as "\n".
    let notes = "plain text notes\nsecond line, ünïcode\n";
    let body = json!({
        "from": {"email": "app@example.com", "name": "Ünïcode App"},
        "to": ["alice@dest.test", {"email": "bob@dest.test", "name": "Bob"}],
        "cc": ["carol@dest.test"],
        "bcc": ["dave@dest.test"],
        "reply_to": ["support@example.com"],
        "subject": "Grüße: your receipt",
        "text": "Hello\nline 2\n",
        "html": "<p>Hello <b>you</b></p>",
        "headers": {"X-Campaign": "spring", "List-Unsubscribe": "<https://example.com/u>"},
        "attachments": [
            {"filename": "receipt.pdf", "content_type": "application/pdf", "content": B64.encode(&pdf)},
            {"filename": "notes.txt", "content_type": "text/plain", "content": B64.encode(notes)}
        ],
        "tags": ["receipt", "welcome"],
        "metadata": {"user_id": "42", "order": "A-17"}
    });
    let (r, v) = send(&relay, &doc, &body);
    assert_eq!(r.status, 202, "{r:?}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(
        v["accepted"],
        json!([
            "alice@dest.test",
            "bob@dest.test",
            "carol@dest.test",
            "dave@dest.test"
        ])
    );
    assert_eq!(v["refused"], json!([]));

    let files = delivered(&relay, "alice@dest.test", 1);
    let m = parse_with_python(&files[0]);
    assert_eq!(m["defects"], json!([]), "{m}");
    assert_eq!(m["Subject"], "Grüße: your receipt");
    assert_eq!(m["From"], "Ünïcode App <app@example.com>");
    assert_eq!(m["To"], "alice@dest.test, Bob <bob@dest.test>");
    assert_eq!(m["Cc"], "carol@dest.test");
    assert_eq!(m["Bcc"], Value::Null, "Bcc must not be written");
    assert_eq!(m["Reply-To"], "support@example.com");
    assert_eq!(m["X-Campaign"], "spring");
    assert_eq!(m["List-Unsubscribe"], "<https://example.com/u>");
    assert_eq!(m["MIME-Version"], "1.0");
    assert!(
        m["Date"].is_string() && m["Message-ID"].as_str().unwrap().contains("@relay.test>"),
        "{m}"
    );
    assert_eq!(m["text"], "Hello\nline 2\n");
    assert_eq!(
        m["html"].as_str().map(str::trim_end),
        Some("<p>Hello <b>you</b></p>")
    );
    let received = m["received"][0].as_str().unwrap();
    assert!(
        received.contains(&format!("with HTTP id {id}")),
        "{received}"
    );
    assert!(
        received.contains("(API key tests, tenant demo)"),
        "{received}"
    );
    assert!(
        received.contains("from [127.0.0.1] ([127.0.0.1])"),
        "{received}"
    );
    assert_eq!(
        m["attachments"],
        json!([
            {"filename": "receipt.pdf", "content_type": "application/pdf", "sha256": sha256_hex(&pdf), "size": pdf.len()},
            {"filename": "notes.txt", "content_type": "text/plain", "sha256": sha256_hex(notes.as_bytes()), "size": notes.len()}
        ])
    );
    // The Bcc recipient gets the same message, which does not name it (but for the
    // Delivered-To: line of its own Maildir copy).
    let hidden = std::fs::read_to_string(&delivered(&relay, "dave@dest.test", 1)[0]).unwrap();
    assert_eq!(hidden.matches("dave@").count(), 1, "{hidden}");
    assert!(
        hidden.contains("Delivered-To: dave@dest.test\r\n"),
        "{hidden}"
    );

    let accepted = relay.wait_events("accepted", 1);
    assert_eq!(accepted[0]["queue_id"], id.as_str());
    assert_eq!(accepted[0]["api_tags"], "receipt,welcome");
    let meta: Value = serde_json::from_str(accepted[0]["metadata"].as_str().unwrap()).unwrap();
    assert_eq!(meta, json!({"user_id": "42", "order": "A-17"}));
    let done = relay.wait_events("delivered", 4);
    assert!(
        done.iter()
            .all(|e| e["api_tags"] == "receipt,welcome" && e["metadata"].is_string()),
        "{done:?}"
    );
}

#[test]
fn a_raw_message_goes_as_given_with_its_envelope() {
    let relay = Relay::start(RelayConfig::default());
    let doc = doc(&relay);
    // message/rfc822 with the envelope in the query; LF line endings become CRLF.
    let raw = "From: App <app@example.com>\nTo: raw1@dest.test\nSubject: raw upload\n\nline one\nline two\n";
    let r = request_with(
        relay.api_port,
        "POST",
        "/v1/messages?from=app%40example.com&to=raw1%40dest.test&to=raw2%40dest.test&tag=raw",
        Some(DEMO_API_KEY),
        &[],
        Some(("message/rfc822", raw.as_bytes())),
    );
    let v = check_answer(&doc, "POST", "/v1/messages", "/v1/messages", &r);
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(v["accepted"], json!(["raw1@dest.test", "raw2@dest.test"]));
    let got = relay.wait_mailbox("raw2@dest.test", 1);
    assert!(
        got[0]
            .contains("To: raw1@dest.test\r\nSubject: raw upload\r\n\r\nline one\r\nline two\r\n"),
        "{}",
        got[0]
    );
    assert!(
        got[0].contains("Message-ID: <"),
        "the relay adds a Message-ID: {}",
        got[0]
    );

    // JSON with `raw` and an envelope sender other than the From: field (bounces elsewhere).
    let raw = "From: app@example.com\r\nSubject: raw json\r\nMessage-ID: <mine@example.com>\r\n\r\nbody\r\n";
    let (r, v) = send(
        &relay,
        &doc,
        &json!({"raw": B64.encode(raw), "envelope": {"from": "bounces@example.com", "to": ["raw3@dest.test"]},
                "metadata": {"k": "v"}}),
    );
    assert_eq!(r.status, 202, "{r:?}");
    let got = relay.wait_mailbox("raw3@dest.test", 1);
    assert!(
        got[0].contains("Subject: raw json\r\nMessage-ID: <mine@example.com>\r\n\r\nbody\r\n"),
        "{}",
        got[0]
    );
    assert_eq!(got[0].matches("Message-ID:").count(), 1, "{}", got[0]);
    let accepted = relay.wait_events("accepted", 2);
    let e = accepted.iter().find(|e| e["queue_id"] == v["id"]).unwrap();
    assert_eq!(e["from"], "bounces@example.com");
    let raw_one = accepted.iter().find(|e| e["queue_id"] != v["id"]).unwrap();
    assert_eq!(raw_one["api_tags"], "raw");
}

#[test]
fn the_tenants_plugins_run_as_for_an_smtp_session_and_refuse_per_recipient() {
    let relay = Relay::start(RelayConfig {
        plugins: plugin_table("verdicts", "verdicts", ""),
        ..RelayConfig::default()
    });
    let doc = doc(&relay);
    // One recipient refused at its rcpt hook; the other goes. The session says HTTP.
    let (r, v) = send(
        &relay,
        &doc,
        &simple("SESSION", &["ok@dest.test", "nobody@dest.test"]),
    );
    assert_eq!(r.status, 202, "{r:?}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["accepted"], json!(["ok@dest.test"]));
    assert_eq!(v["refused"][0]["rcpt"], "nobody@dest.test");
    assert_eq!(v["refused"][0]["temporary"], false);
    assert!(
        v["refused"][0]["smtp_reply"]
            .as_str()
            .unwrap()
            .starts_with("550 5.1.1 no such recipient"),
        "{v}"
    );
    let files = delivered(&relay, "ok@dest.test", 1);
    let session = parse_with_python(&files[0])["X-Session"].clone();
    assert_eq!(
        session,
        "ip=127.0.0.1 helo=HTTP API tenant=demo auth=tests tls=- from=app@example.com rcpts=1:ok@dest.test"
    );

    let (r, v) = send(&relay, &doc, &simple("REJECT this", &["a@dest.test"]));
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(v["stage"], "data");
    assert!(
        v["smtp_reply"]
            .as_str()
            .unwrap()
            .starts_with("550 5.7.1 subject says reject [verdicts#"),
        "{v}"
    );

    let (r, v) = send(&relay, &doc, &simple("TEMPFAIL this", &["a@dest.test"]));
    assert_eq!(r.status, 503, "{r:?}");
    assert!(
        r.header("retry-after")
            .is_some_and(|s| s.parse::<u64>().is_ok()),
        "{r:?}"
    );
    assert!(
        v["smtp_reply"].as_str().unwrap().starts_with("451 4.7.1"),
        "{v}"
    );

    let (r, v) = send(&relay, &doc, &simple("hi", &["nobody@dest.test"]));
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(v["title"], "Every recipient refused");
    assert_eq!(v["refused"][0]["rcpt"], "nobody@dest.test");

    let (r, v) = send(
        &relay,
        &doc,
        &json!({"from": "app@other.test", "to": ["a@dest.test"], "text": "x"}),
    );
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        v["detail"].as_str().unwrap().contains("app@other.test"),
        "{v}"
    );

    let (r, v) = send(&relay, &doc, &simple("QUARANTINE this", &["a@dest.test"]));
    assert_eq!(r.status, 202, "{r:?}");
    let held = relay.wait_events("quarantined", 1);
    assert_eq!(held[0]["queue_id"], v["id"]);
    let (r, v) = send(&relay, &doc, &simple("DISCARD this", &["a@dest.test"]));
    assert_eq!(r.status, 202, "{r:?}");
    let dropped = relay.wait_events("discarded", 1);
    assert_eq!(dropped[0]["queue_id"], v["id"]);
    // Of all of these, only the first was queued.
    assert_eq!(accepted_ids(&relay), vec![id]);
    let rejected = relay.wait_events("policy_rejected", 4);
    assert!(
        rejected.iter().any(|e| e["stage"] == "RcptTo"),
        "{rejected:?}"
    );
}

#[test]
fn every_bad_request_gets_a_problem_and_queues_nothing() {
    let mut tenants = DEMO_TENANT.to_owned();
    tenants.push_str(&api_key_table("poller", "events-only-key", &["events"]));
    let relay = Relay::start(RelayConfig {
        server: "max_message_size = 20000\nmax_recipients = 3\n".into(),
        api: "max_body = \"64KB\"\nmax_batch = 2\n".into(),
        tenants,
        ..RelayConfig::default()
    });
    let doc = doc(&relay);
    let ok = simple("fine", &["a@dest.test"]);
    let with = |key: &str, value: Value| {
        let mut m = ok.clone();
        m[key] = value;
        m
    };
    let big = B64.encode(vec![b'x'; 30_000]);
    // (body, status, what the problem's detail or field says)
    let cases: Vec<(Value, u16, &str)> = vec![
        (with("to", json!("a@dest.test")), 400, "to"),
        (json!({"to": ["a@dest.test"], "text": "x"}), 400, "from"),
        (with("sujet", json!("hi")), 400, "unknown field `sujet`"),
        (
            with("attachments", json!([{"filename": "a", "content": "%%%"}])),
            400,
            "attachments[0].content",
        ),
        (with("to", json!(["not an address"])), 400, "to[0]"),
        (
            with("to", json!(["a@dest.test>\r\nRCPT TO:<b@dest.test"])),
            400,
            "to[0]",
        ),
        (
            with("subject", json!("hi\r\nBcc: victim@dest.test")),
            400,
            "subject",
        ),
        (
            with("headers", json!({"X-Evil": "1\r\nBcc: victim@dest.test"})),
            400,
            "headers.X-Evil",
        ),
        (
            with("headers", json!({"X-Evil\r\nBcc": "victim@dest.test"})),
            400,
            "headers.X-Evil\r\nBcc",
        ),
        (
            with(
                "from",
                json!({"email": "app@example.com", "name": "A\nBcc: v@dest.test"}),
            ),
            400,
            "from.name",
        ),
        (with("tags", json!(["a,b"])), 400, "tags[0]"),
        (with("metadata", json!({"k": 1})), 400, "metadata.k"),
        (
            with(
                "to",
                json!(["a@dest.test", "b@dest.test", "c@dest.test", "d@dest.test"]),
            ),
            422,
            "max_recipients",
        ),
        (
            with(
                "attachments",
                json!([{"filename": "big.bin", "content": big}]),
            ),
            413,
            "server.max_message_size",
        ),
    ];
    for (body, status, says) in &cases {
        let (r, v) = send(&relay, &doc, body);
        assert_eq!(r.status, *status, "{body}: {r:?}");
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{r:?}"
        );
        assert!(
            v["field"] == *says || v["detail"].as_str().unwrap_or_default().contains(says),
            "{body}: expected {says:?} in {v}"
        );
    }
    let raw = |content_type: &str, bytes: &[u8], key: Option<&str>, path: &str| {
        let r = request_with(
            relay.api_port,
            "POST",
            path,
            key,
            &[],
            Some((content_type, bytes)),
        );
        let template = path.split('?').next().unwrap();
        let v = check_answer(&doc, "POST", path, template, &r);
        (r.status, v)
    };
    let (s, v) = raw(
        "application/json",
        b"{\"from\": ",
        Some(DEMO_API_KEY),
        "/v1/messages",
    );
    assert_eq!(
        (s, v["title"].as_str()),
        (400, Some("Malformed JSON")),
        "{v}"
    );
    let (s, _) = raw(
        "application/json",
        b"{} trailing",
        Some(DEMO_API_KEY),
        "/v1/messages",
    );
    assert_eq!(s, 400);
    let (s, _) = raw("text/plain", b"hello", Some(DEMO_API_KEY), "/v1/messages");
    assert_eq!(s, 415);
    let (s, _) = raw(
        "message/rfc822",
        b"Subject: x\r\n\r\nx\r\n",
        Some(DEMO_API_KEY),
        "/v1/messages?to=a%40dest.test",
    );
    assert_eq!(s, 400, "the query needs from");
    let (s, _) = raw(
        "message/rfc822",
        b"Subject: x\r\n\0\r\n",
        Some(DEMO_API_KEY),
        "/v1/messages?from=app%40example.com&to=a%40dest.test",
    );
    assert_eq!(s, 400, "a NUL in raw content");
    let huge = vec![b' '; 100_000];
    let (s, v) = raw(
        "application/json",
        &huge,
        Some(DEMO_API_KEY),
        "/v1/messages",
    );
    assert_eq!(s, 413, "{v}");
    let body = ok.to_string();
    let (s, _) = raw("application/json", body.as_bytes(), None, "/v1/messages");
    assert_eq!(s, 401);
    let (s, v) = raw(
        "application/json",
        body.as_bytes(),
        Some("events-only-key"),
        "/v1/messages",
    );
    assert_eq!((s, &v["required_scope"]), (403, &json!("send")));
    let three = json!({"messages": [ok, ok, ok]});
    let (r, v) = post(&relay, &doc, "/v1/messages/batch", &three, &[]);
    assert_eq!(r.status, 422, "{v}");
    let (r, _) = post(
        &relay,
        &doc,
        "/v1/messages/batch",
        &json!({"messages": [ok]}),
        &[("Idempotency-Key", "k")],
    );
    assert_eq!(r.status, 400);
    let (r, _) = post(
        &relay,
        &doc,
        "/v1/messages",
        &ok,
        &[("Idempotency-Key", "")],
    );
    assert_eq!(r.status, 400);

    // Nothing of that was queued: a marker message is the first and only one accepted.
    let (r, v) = send(&relay, &doc, &simple("marker", &["marker@dest.test"]));
    assert_eq!(r.status, 202, "{r:?}");
    relay.wait_mailbox("marker@dest.test", 1);
    assert_eq!(
        accepted_ids(&relay),
        vec![v["id"].as_str().unwrap().to_owned()]
    );
    for rcpt in ["a@dest.test", "victim@dest.test", "b@dest.test"] {
        assert!(relay.mailbox(rcpt).is_empty(), "{rcpt} got mail");
    }
}

#[test]
fn a_batch_answers_each_message_on_its_own() {
    let relay = Relay::start(RelayConfig::default());
    let doc = doc(&relay);
    let mut first = simple("one", &["b1@dest.test"]);
    first["idempotency_key"] = json!("batch-1");
    let batch = json!({"messages": [
        first,
        simple("two", &["not an address"]),
        simple("three", &["b3@dest.test", "b4@dest.test"]),
    ]});
    let (r, v) = post(&relay, &doc, "/v1/messages/batch", &batch, &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let results = v["results"].as_array().unwrap();
    let statuses: Vec<_> = results
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [202, 400, 202], "{v}");
    assert_eq!(results[1]["field"], "to[0]");
    assert_eq!(
        results[2]["accepted"],
        json!(["b3@dest.test", "b4@dest.test"])
    );
    relay.wait_mailbox("b4@dest.test", 1);

    // Again: the message with a key is answered as before, the other is queued anew.
    let (_, again) = post(&relay, &doc, "/v1/messages/batch", &batch, &[]);
    let again = again["results"].as_array().unwrap();
    assert_eq!(again[0]["id"], results[0]["id"]);
    assert_ne!(again[2]["id"], results[2]["id"]);
    relay.wait_mailbox("b4@dest.test", 2);
    assert_eq!(relay.mailbox("b1@dest.test").len(), 1);
    assert_eq!(accepted_ids(&relay).len(), 3);
}

fn keyed(relay: &Relay, doc: &Value, body: &Value, key: &str) -> (Reply, Value) {
    post(
        relay,
        doc,
        "/v1/messages",
        body,
        &[("Idempotency-Key", key)],
    )
}

#[test]
fn an_idempotency_key_never_queues_twice_even_across_a_restart() {
    let sink = Sink::start(&[]);
    let mut relay = Relay::start(RelayConfig::default().smarthost(sink.port, ""));
    let doc = doc(&relay);
    let body = simple("pay once", &["once@dest.test"]);
    let (r, first) = keyed(&relay, &doc, &body, "order-17");
    assert_eq!(r.status, 202, "{r:?}");
    let (r, second) = keyed(&relay, &doc, &body, "order-17");
    assert_eq!((r.status, &second), (202, &first));
    let (r, v) = keyed(
        &relay,
        &doc,
        &simple("pay twice", &["once@dest.test"]),
        "order-17",
    );
    assert_eq!(r.status, 422, "{v}");
    // The same key in the JSON body is the same key.
    let mut in_body = body.clone();
    in_body["idempotency_key"] = json!("order-17");
    let (r, v) = keyed(&relay, &doc, &in_body, "other");
    assert_eq!(r.status, 400, "the header and the field differ: {v}");
    sink.wait_messages(1);
    relay.wait_events("delivered", 1);

    // Delivered and gone from the spool; the key survives a restart in its log.
    relay.terminate();
    relay.spawn();
    let (r, after) = keyed(&relay, &doc, &body, "order-17");
    assert_eq!((r.status, &after), (202, &first));
    let (r, _) = keyed(
        &relay,
        &doc,
        &simple("marker", &["marker@dest.test"]),
        "marker-1",
    );
    assert_eq!(r.status, 202);
    let got = sink.wait_messages(2);
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].rcpts, ["marker@dest.test"]);
    assert_eq!(accepted_ids(&relay).len(), 2);
}

#[test]
fn a_202_survives_kill_9_and_the_key_is_known_from_the_spool() {
    let hop = free_port();
    let mut relay = Relay::start(RelayConfig::default().smarthost(hop, ""));
    let doc = doc(&relay);
    let body = simple("2FA code 654321", &["survivor@dest.test"]);
    let (r, v) = keyed(&relay, &doc, &body, "otp-1");
    assert_eq!(r.status, 202, "{r:?}");
    let id = v["id"].as_str().unwrap().to_owned();
    relay.kill9();
    // As if the relay had died between the spool commit and the key's log line: the key
    // comes back from the queued message's envelope.
    std::fs::remove_file(relay.spool().join("idempotency/keys.log")).unwrap();
    let sink = Sink::start_on(hop, &[]);
    relay.spawn();
    let got = sink.wait_messages(1);
    assert!(
        got[0].content.contains(&format!("with HTTP id {id}")),
        "{}",
        got[0].content
    );
    assert!(got[0].content.contains("Subject: 2FA code 654321"));
    let (r, again) = keyed(&relay, &doc, &body, "otp-1");
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(again["id"], id.as_str());
    let (r, _) = keyed(
        &relay,
        &doc,
        &simple("marker", &["marker@dest.test"]),
        "marker-2",
    );
    assert_eq!(r.status, 202);
    sink.wait_messages(2);
    // A kill -9 may cost a second delivery of the same queued message (a done record lost:
    // tolerated, never a loss), but the key never queued another one.
    let got = sink.wait_messages(2);
    assert!(
        got.iter()
            .all(|m| m.rcpts == ["marker@dest.test"] || m.content.contains(&format!("id {id}"))),
        "{got:?}"
    );
    assert_eq!(
        accepted_ids(&relay).len(),
        2,
        "the key queued its message twice"
    );
}

#[test]
fn api_tags_and_metadata_ride_on_every_delivery_event() {
    let sink = Sink::start(&["--tempfail-first", "1", "--reject-rcpt", "bounce@dest.test"]);
    let relay = Relay::start(RelayConfig::default().smarthost(sink.port, ""));
    let doc = doc(&relay);
    let mut body = simple("events", &["later@dest.test", "bounce@dest.test"]);
    body["tags"] = json!(["otp"]);
    body["metadata"] = json!({"user": "7"});
    let (r, v) = send(&relay, &doc, &body);
    assert_eq!(r.status, 202, "{r:?}");
    let id = &v["id"];
    let event_of = |event: &str, queue_id: &Value| {
        wait_for(Duration::from_secs(20), || {
            relay
                .events()
                .into_iter()
                .find(|e| e["event"] == event && &e["queue_id"] == queue_id)
        })
        .unwrap_or_else(|| panic!("no {event} event for {queue_id}; log:\n{}", relay.log()))
    };
    for (event, rcpt) in [
        ("accepted", None),
        ("bounced", Some("bounce@dest.test")),
        ("deferred", Some("later@dest.test")),
        ("delivered", Some("later@dest.test")),
    ] {
        let e = event_of(event, id);
        assert_eq!(e["api_tags"], "otp", "{e}");
        assert_eq!(e["metadata"], r#"{"user":"7"}"#, "{e}");
        if let Some(rcpt) = rcpt {
            assert_eq!(e["rcpt"], rcpt, "{e}");
        }
    }
    // The bounce's DSN is the relay's own message: it carries neither field.
    let dsn = event_of("dsn", id);
    let report = event_of("delivered", &dsn["dsn_queue_id"]);
    assert!(
        report.get("api_tags").is_none() && report.get("metadata").is_none(),
        "{report}"
    );
}
