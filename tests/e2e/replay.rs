use sluice_e2e::{fixture, shipped_plugin, sluice_bin, text, workspace};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Two tenants; `shop` runs the verdicts fixture, plus `extra` (another plugin table).
fn config(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[server]\nhostname = \"replay.test\"\n[spool]\ndir = \"{spool}\"\n\
             [delivery]\nmode = \"smarthost\"\n[delivery.smarthost]\nhost = \"127.0.0.1\"\nport = 9\n\
             [[tenant]]\nname = \"shop\"\nsender_domains = [\"shop.test\"]\n\
             [[tenant.plugin]]\nname = \"verdicts\"\npath = \"{verdicts}\"\n{extra}\n\
             [[tenant]]\nname = \"other\"\nsender_domains = [\"other.test\"]\n",
            spool = dir.join("spool").display(),
            verdicts = fixture("verdicts").display(),
        ),
    )
    .unwrap();
    path
}

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), body).unwrap();
}

fn replay(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(sluice_bin())
        .arg("replay")
        .args(args)
        .env("SLUICE_LOG", "warn")
        .output()
        .unwrap()
}

/// Saved messages (envelopes from sidecars or headers) under a candidate config that adds the
/// marketing detector and the config in force: per-message verdicts, what changed, precision
/// and recall against labels, plugin time — and nothing queued or sent.
#[test]
fn replay_compares_a_candidate_with_the_config_in_force() {
    let dir = tempfile::tempdir().unwrap();
    // Today the detector runs in shadow mode: it tags nothing, and says what it would do.
    let current = config(
        dir.path(),
        "current.toml",
        &format!(
            "[[tenant.plugin]]\nname = \"marketing-detector\"\npath = \"{}\"\nshadow = true\n",
            shipped_plugin("marketing-detector").display()
        ),
    );
    let candidate = config(
        dir.path(),
        "candidate.toml",
        &format!(
            "[[tenant.plugin]]\nname = \"marketing-detector\"\npath = \"{}\"\n[tenant.plugin.config]\naction = \"quarantine\"\n",
            shipped_plugin("marketing-detector").display()
        ),
    );
    let msgs = dir.path().join("saved");
    std::fs::create_dir_all(msgs.join("day1")).unwrap();
    let corpus = workspace().join("plugins/marketing-detector/corpus/v1");
    std::fs::copy(
        corpus.join("marketing/001-newsletter.eml"),
        msgs.join("day1/newsletter.eml"),
    )
    .unwrap();
    write(
        &msgs,
        "day1/newsletter.eml.json",
        r#"{"from": "news@shop.test"}"#,
    );
    std::fs::copy(
        corpus.join("transactional/016-receipt.eml"),
        msgs.join("receipt.eml"),
    )
    .unwrap();
    write(
        &msgs,
        "receipt.eml.json",
        r#"{"from": "orders@shop.test", "to": "buyer@dest.test"}"#,
    );
    write(
        &msgs,
        "session.eml",
        "From: App <app@shop.test>\r\nTo: a@dest.test\r\nSubject: SESSION check\r\n\r\nhello\r\n",
    );
    write(
        &msgs,
        "session.eml.json",
        r#"{"to": ["a@dest.test", "b@dest.test"], "client_ip": "192.0.2.7", "helo": "app.shop.test", "auth_user": "shop-app"}"#,
    );
    write(
        &msgs,
        "nobody.eml",
        "From: app@shop.test\r\nTo: nobody@dest.test\r\nSubject: hi\r\n\r\nx\r\n",
    );
    write(
        &msgs,
        "other.eml",
        "From: x@other.test\r\nTo: y@dest.test\r\nSubject: hi\r\n\r\nx\r\n",
    );
    write(&msgs, "notes.txt", "not a message: skipped");
    let labels = dir.path().join("labels.csv");
    std::fs::write(
        &labels,
        "file,label\nday1/newsletter.eml,marketing\nreceipt.eml,transactional\nsession.eml,transactional\nother.eml,transactional\n",
    )
    .unwrap();
    let args = |json: bool| {
        let mut a: Vec<std::ffi::OsString> = vec![
            "--config".into(),
            candidate.clone().into(),
            "--against".into(),
            current.clone().into(),
            "--labels".into(),
            labels.clone().into(),
        ];
        if json {
            a.push("--json".into());
        }
        a.push(msgs.clone().into());
        a
    };
    let run = |json: bool| {
        let a = args(json);
        let out = replay(&a.iter().map(|s| s.as_os_str()).collect::<Vec<_>>());
        assert!(out.status.success(), "{}", text(&out));
        out
    };
    let out = run(true);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages = report["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 5, "{report:#}");
    let m = |name: &str| {
        messages
            .iter()
            .find(|m| m["file"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not replayed: {report:#}"))
    };
    // The newsletter: held by the candidate's detector, which says why; accepted today.
    let news = m("day1/newsletter.eml");
    assert_eq!(news["label"], "marketing");
    assert_eq!(news["candidate"]["verdict"], "quarantine", "{news:#}");
    assert_eq!(news["current"]["verdict"], "accept", "{news:#}");
    assert_eq!(news["changed"], true);
    assert!(
        news["candidate"]["by"]
            .as_str()
            .unwrap()
            .starts_with("marketing-detector#")
            && news["candidate"]["reason"]
                .as_str()
                .unwrap()
                .contains("looks like marketing (score "),
        "{news:#}"
    );
    let explained = news["candidate"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "X-Sluice-Marketing")
        .and_then(|h| h["value"].as_str())
        .unwrap();
    assert!(explained.contains("signals=base("), "{explained}");
    assert_eq!(news["envelope"]["from"], "news@shop.test");
    let would = &news["current"]["shadow"][0];
    assert!(
        would["plugin"]
            .as_str()
            .unwrap()
            .starts_with("marketing-detector#")
            && would["would_be"] == "accept +marketing",
        "{news:#}"
    );
    assert!(news["current"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| !t.as_str().unwrap().starts_with("marketing")));
    // The receipt goes through both, unchanged.
    let receipt = m("receipt.eml");
    assert_eq!(receipt["candidate"]["verdict"], "accept");
    assert_eq!(receipt["changed"], false);
    assert_eq!(
        receipt["envelope"]["to"],
        serde_json::json!(["buyer@dest.test"])
    );
    // The sidecar's envelope reaches the plugins as a session would give it.
    let session = m("session.eml");
    let x_session = session["current"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "X-Session")
        .and_then(|h| h["value"].as_str())
        .unwrap_or_else(|| panic!("{session:#}"));
    assert!(
        x_session.starts_with(
            "ip=192.0.2.7 helo=app.shop.test tenant=shop auth=shop-app tls=- from=app@shop.test rcpts=2:"
        ),
        "{x_session}"
    );
    // Every recipient refused (the fixture refuses nobody@): no DATA, under both configs.
    let nobody = m("nobody.eml");
    assert_eq!(nobody["candidate"]["verdict"], "refused", "{nobody:#}");
    assert_eq!(nobody["current"]["stage"], "on-rcpt-to");
    assert!(nobody["label"].is_null());
    // The other tenant (by the sender's domain) has no plugins.
    assert_eq!(m("other.eml")["candidate"]["tenant"], "other");
    assert!(m("other.eml")["candidate"]["plugins"]
        .as_array()
        .unwrap()
        .is_empty());

    let summary = &report["summary"];
    assert_eq!(summary["changed"], 1, "{summary:#}");
    assert!(summary["transitions"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!({"from": "accept", "to": "quarantine", "count": 1})));
    let labels = &summary["labels"];
    assert_eq!(
        (
            &labels["candidate"]["tp"],
            &labels["candidate"]["fp"],
            &labels["candidate"]["fn"],
            &labels["candidate"]["tn"]
        ),
        (&1.into(), &0.into(), &0.into(), &3.into()),
        "{labels:#}"
    );
    assert_eq!(labels["candidate"]["precision"], 1.0);
    assert_eq!(labels["current"]["recall"], 0.0);
    assert_eq!(labels["current"]["unlabelled"], 1);
    let times = summary["plugin_time_ms"].as_array().unwrap();
    let detector = times
        .iter()
        .find(|t| {
            t["config"] == "candidate"
                && t["plugin"]
                    .as_str()
                    .unwrap()
                    .starts_with("marketing-detector#")
        })
        .unwrap_or_else(|| panic!("{times:#?}"));
    assert_eq!(detector["tenant"], "shop");
    assert_eq!(detector["messages"], 4);
    assert!(detector["mean"].as_f64().unwrap() > 0.0);
    assert!(times.iter().any(
        |t| t["config"] == "current" && t["plugin"].as_str().unwrap().starts_with("verdicts#")
    ));
    let shadow = summary["shadow"].as_array().unwrap();
    assert!(
        shadow.iter().any(|x| x["config"] == "current"
            && x["would_be"] == "accept +marketing"
            && x["enforced"] == "accept"
            && x["count"] == 1),
        "{shadow:#?}"
    );
    // Nothing was queued: the spool was never even created.
    assert!(!dir.path().join("spool").exists());

    // The same as text, for people.
    let out = run(false);
    let t = String::from_utf8_lossy(&out.stdout);
    let line = t
        .lines()
        .find(|l| l.contains("day1/newsletter.eml"))
        .unwrap_or_else(|| panic!("{t}"));
    assert!(
        line.contains("marketing") && line.contains("quarantine") && line.ends_with("changed"),
        "{line}"
    );
    assert!(t.contains("1 of 5 message(s) changed"), "{t}");
    assert!(t.contains("accept → quarantine"), "{t}");
    assert!(
        t.lines().any(|l| l.trim_start().starts_with("candidate")
            && l.contains("precision 1.000  recall 1.000")),
        "{t}"
    );
    assert!(t.contains("plugin time per message"), "{t}");
    assert!(
        t.contains("shadow plugins, what they would have done → what the chain did:"),
        "{t}"
    );
}

/// Bad input gets a reason naming the file, the line or the field; the other messages are
/// still replayed, and the exit status says something went wrong.
#[test]
fn replay_names_what_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "c.toml", "");
    let msgs = dir.path().join("m");
    std::fs::create_dir_all(&msgs).unwrap();
    let ok = "From: app@shop.test\r\nTo: a@dest.test\r\nSubject: hi\r\n\r\nx\r\n";
    write(&msgs, "good.eml", ok);
    write(&msgs, "typo.eml", ok);
    write(&msgs, "typo.eml.json", r#"{"tennant": "shop"}"#);
    write(&msgs, "ghost.eml", ok);
    write(&msgs, "ghost.eml.json", r#"{"tenant": "ghost"}"#);
    write(&msgs, "nowhere.eml", "From: x@elsewhere.test\r\n\r\nx\r\n");
    let out = replay(&["--config".as_ref(), cfg.as_os_str(), msgs.as_os_str()]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("typo.eml.json") && t.contains("tennant"), "{t}");
    assert!(t.contains("no tenant \"ghost\" in this config"), "{t}");
    assert!(
        t.contains("no tenant sends as \"x@elsewhere.test\": name one with --tenant"),
        "{t}"
    );
    assert!(t.contains("some messages could not be replayed"), "{t}");
    assert!(
        t.lines()
            .any(|l| l.contains("good.eml") && l.contains("accept")),
        "{t}"
    );
    // --tenant names the tenant of messages whose sidecar does not.
    let out = replay(&[
        "--config".as_ref(),
        cfg.as_os_str(),
        "--tenant".as_ref(),
        "other".as_ref(),
        msgs.join("nowhere.eml").as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // A labels file with a label it does not know, and a path that does not exist.
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, "file,label\ngood.eml,spam\n").unwrap();
    let out = replay(&[
        "--config".as_ref(),
        cfg.as_os_str(),
        "--labels".as_ref(),
        labels.as_os_str(),
        msgs.join("good.eml").as_os_str(),
    ]);
    let t = text(&out);
    assert!(
        !out.status.success() && t.contains("line 2") && t.contains("\"spam\""),
        "{t}"
    );
    let out = replay(&[
        "--config".as_ref(),
        cfg.as_os_str(),
        dir.path().join("missing").as_os_str(),
    ]);
    let t = text(&out);
    assert!(!out.status.success() && t.contains("cannot read"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
}

/// The captured messages (`.eml`) in `dir`, once there is one.
fn wait_captures(dir: &Path) -> Vec<PathBuf> {
    sluice_e2e::wait_for(std::time::Duration::from_secs(10), || {
        let names: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        (!names.is_empty()).then_some(names)
    })
    .expect("a capture within 10 s")
}

/// The one captured message, of queue id `id`: it holds `message` as the client sent it; its
/// envelope sidecar.
fn only_capture(dir: &Path, id: &str, message: &str) -> serde_json::Value {
    let emls = wait_captures(dir);
    assert_eq!(emls.len(), 1, "{emls:?}");
    let name = emls[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with(&format!("-{id}.eml")), "{name}");
    assert_eq!(std::fs::read_to_string(&emls[0]).unwrap(), message);
    let mut sidecar = emls[0].clone().into_os_string();
    sidecar.push(".json");
    serde_json::from_slice(&std::fs::read(&sidecar).unwrap()).unwrap()
}

/// `[tenant.capture]` keeps a sample of accepted messages as the client sent them, each with
/// its envelope; `sluice replay` runs the directory as it is. Too large a message is not kept,
/// and a rate outside [0, 1] is refused when the config loads.
#[test]
fn capture_keeps_accepted_messages_for_replay() {
    let captures = tempfile::tempdir().unwrap();
    let dir = captures.path().join("demo");
    let relay = sluice_e2e::Relay::start(sluice_e2e::RelayConfig {
        tenants: format!(
            "{}[tenant.capture]\ndir = \"{}\"\nrate = 1.0\nmax_size = \"2KB\"\nretention = \"1d\"\n",
            sluice_e2e::relay::DEMO_TENANT,
            dir.display()
        ),
        ..Default::default()
    });
    let small = "From: app@example.com\r\nTo: r@dest.test\r\nSubject: kept\r\n\r\nhello\r\n";
    let large = format!(
        "From: app@example.com\r\nSubject: too big\r\n\r\n{}",
        format!("{}\r\n", "x".repeat(70)).repeat(40)
    );
    let mut c = sluice_e2e::Chat::authed(relay.port);
    // The large message first: the small one, kept, is the marker that the large one was not.
    assert!(c
        .send_message("app@example.com", &["r@dest.test"], &large)
        .starts_with("250"));
    assert!(c
        .send_message("app@example.com", &["r@dest.test", "s@dest.test"], small)
        .starts_with("250"));
    let accepted = relay.wait_events("accepted", 2);
    let kept_id = accepted[1]["queue_id"].as_str().unwrap().to_owned();
    // As the client sent it: no Received header of ours.
    let envelope = only_capture(&dir, &kept_id, small);
    assert_eq!(envelope["from"], "app@example.com");
    assert_eq!(
        envelope["to"],
        serde_json::json!(["r@dest.test", "s@dest.test"])
    );
    assert_eq!(
        (&envelope["tenant"], &envelope["auth_user"]),
        (&"demo".into(), &"demo".into())
    );
    assert_eq!(envelope["client_ip"], "127.0.0.1");
    // Replayed under the relay's own config, as it stands.
    let out = replay(&[
        "--json".as_ref(),
        "--config".as_ref(),
        relay.config_path.as_os_str(),
        dir.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = &report["messages"][0];
    assert_eq!(m["candidate"]["verdict"], "accept", "{m:#}");
    assert_eq!(m["candidate"]["tenant"], "demo");
    assert_eq!(m["envelope"]["to"].as_array().unwrap().len(), 2);

    let bad = tempfile::tempdir().unwrap();
    let path = bad.path().join("c.toml");
    std::fs::write(
        &path,
        "[[tenant]]\nname = \"t\"\nsender_domains = [\"a.test\"]\n[tenant.capture]\ndir = \"c\"\nrate = 5\n",
    )
    .unwrap();
    let out = Command::new(sluice_bin())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    let t = text(&out);
    assert!(
        !out.status.success()
            && t.contains("tenant[0].capture.rate")
            && t.contains("between 0 and 1"),
        "{t}"
    );
}

/// Mail sent over the application API is captured as SMTP mail is: the message as posted
/// (before the relay's headers), its envelope with the API key's name as the user, and
/// replay runs it.
/// A message the API refuses is not kept: it goes first, and the accepted one is the marker.
#[test]
fn capture_keeps_messages_sent_over_the_http_api() {
    let captures = tempfile::tempdir().unwrap();
    let dir = captures.path().join("demo");
    let relay = sluice_e2e::Relay::start(sluice_e2e::RelayConfig {
        tenants: format!(
            "{}[tenant.capture]\ndir = \"{}\"\nrate = 1.0\nmax_size = \"2KB\"\nretention = \"1d\"\n",
            sluice_e2e::relay::DEMO_TENANT,
            dir.display()
        ),
        ..Default::default()
    });
    let post = |query: &str, raw: &str| {
        relay.api(
            "POST",
            &format!("/v1/messages?{query}"),
            Some(sluice_e2e::DEMO_API_KEY),
            Some(("message/rfc822", raw.as_bytes())),
        )
    };
    let refused = post(
        "from=app%40elsewhere.test&to=r%40dest.test",
        "From: app@elsewhere.test\r\nSubject: not ours\r\n\r\nno\r\n",
    );
    assert_eq!(refused.status, 403, "{refused:?}");
    let raw = "From: app@example.com\r\nTo: h@dest.test\r\nSubject: over http\r\n\r\nhello\r\n";
    let r = post(
        "from=app%40example.com&to=h%40dest.test&to=i%40dest.test",
        raw,
    );
    assert_eq!(r.status, 202, "{r:?}");
    let id = r.json()["id"].as_str().unwrap().to_owned();

    let envelope = only_capture(&dir, &id, raw);
    assert_eq!(envelope["from"], "app@example.com");
    assert_eq!(
        envelope["to"],
        serde_json::json!(["h@dest.test", "i@dest.test"])
    );
    assert_eq!(envelope["tenant"], "demo");
    // The user is the API key's name, never the key itself.
    assert_eq!(envelope["auth_user"], "tests");
    assert!(!envelope.to_string().contains(sluice_e2e::DEMO_API_KEY));
    assert_eq!(envelope["queue_id"], id.as_str());
    assert_eq!(envelope["client_ip"], "127.0.0.1");

    let out = replay(&[
        "--json".as_ref(),
        "--config".as_ref(),
        relay.config_path.as_os_str(),
        dir.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = &report["messages"][0];
    assert_eq!(m["candidate"]["verdict"], "accept", "{m:#}");
    assert_eq!(m["candidate"]["tenant"], "demo");
    assert_eq!(m["envelope"]["to"].as_array().unwrap().len(), 2);
}
