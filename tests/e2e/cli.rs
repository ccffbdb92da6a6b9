use sluice_e2e::{sluice_bin, text};
use std::process::Command;

fn check(config: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(sluice_bin())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    (out.status.success(), text(&out))
}

#[test]
fn check_config_accepts_the_examples() {
    for example in [
        "examples/quickstart.toml",
        "examples/smarthost.toml",
        "examples/mx.toml",
        "examples/systemd/sluice.toml",
    ] {
        let out = Command::new(sluice_bin())
            .arg("check-config")
            .arg(sluice_e2e::workspace().join(example))
            .output()
            .unwrap();
        assert!(out.status.success(), "{example}: {}", text(&out));
        assert!(text(&out).contains(": ok ("));
    }
}

#[test]
fn check_config_names_the_offending_key_and_line() {
    let cases = [
        ("[server]\nlisten = [\"127.0.0.1:25\"]\nmax_recipiants = 5\n", "max_recipiants"),
        ("[server]\n\n[server.timeouts]\ncommand = \"five minutes\"\n", "line 4"),
        ("[server]\nmax_message_size = \"10 parsecs\"\n", "max_message_size"),
        (
            "[[tenant]]\nname = \"t\"\nsender_domains = [\"a.test\"]\n[[tenant.users]]\nusername = \"u\"\npassword_hash = \"hunter2\"\n",
            "tenant[0].users[0].password_hash` (line 6)",
        ),
        ("[delivery]\nmode = \"smarthost\"\n", "delivery.smarthost"),
        (
            "[admin]\nlisten = \"0.0.0.0:8025\"\n",
            "`admin.listen`: 0.0.0.0:8025 is not a loopback address: set `admin.tls = true`",
        ),
        ("[server]\n[server.timeouts]\ncommand = \"0s\"\n", "server.timeouts.command`: must be above zero"),
        (
            "[[tenant]]\nname = \"t\"\nsender_domains = [\"a.test\"]\n[[tenant.plugin]]\nname = \"p\"\npath = \"p.wasm\"\non_failure = \"ignore\"\n",
            "unknown action \"ignore\": expected \"tempfail\", \"continue\", \"reject\" or \"quarantine\"",
        ),
        (
            "[[tenant]]\nname = \"t\"\nsender_domains = [\"a.test\"]\n[[tenant.plugin]]\nname = \"p\"\npath = \"missing.wasm\"\n",
            "plugin p of tenant t: cannot read its `path`, /",
        ),
    ];
    for (config, needle) in cases {
        let (ok, out) = check(config);
        assert!(!ok, "accepted a bad config: {config}");
        assert!(
            out.contains(needle),
            "error for {config:?} does not name {needle:?}: {out}"
        );
        assert!(!out.contains("panicked"), "{out}");
        assert!(
            out.matches("os error").count() <= 1,
            "a doubled error: {out}"
        );
    }
    let (ok, out) = check("this is = not toml [");
    assert!(!ok && out.contains("line 1"), "{out}");
    let out = Command::new(sluice_bin())
        .args(["check-config", "/nonexistent/sluice.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success() && text(&out).contains("cannot read config file"));
}

#[test]
fn hash_password_output_is_accepted_by_the_config() {
    use std::io::Write;
    let mut child = Command::new(sluice_bin())
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let hash = String::from_utf8(out.stdout).unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let (ok, out) = check(&format!(
        "[[tenant]]\nname = \"t\"\nsender_domains = [\"a.test\"]\n[[tenant.users]]\nusername = \"u\"\npassword_hash = \"{}\"\n",
        hash.trim()
    ));
    assert!(ok, "{out}");
}

#[test]
fn check_config_loads_the_plugins() {
    let fixture = sluice_e2e::fixture("verdicts");
    let base = "[[tenant]]\nname = \"t\"\nsender_domains = [\"a.test\"]\n[[tenant.plugin]]\nname = \"v\"\n";
    let (ok, out) = check(&format!("{base}path = \"{}\"\n", fixture.display()));
    assert!(ok && out.contains("1 plugin(s)"), "{out}");
    // Checking compiles the plugins in a scratch cache: nothing is written where it runs.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        format!("{base}path = \"{}\"\n", fixture.display()),
    )
    .unwrap();
    let out = Command::new(sluice_bin())
        .args(["check-config", "c.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("c.toml")]);
    let (ok, out) = check(&format!("{base}path = \"/nonexistent/v.wasm\"\n"));
    assert!(
        !ok && out.contains("plugin v of tenant t: cannot read its `path`, /nonexistent/v.wasm"),
        "{out}"
    );
    let (ok, out) = check(&format!(
        "{base}path = \"{}\"\non_failure = \"explode\"\n",
        fixture.display()
    ));
    assert!(!ok && out.contains("on_failure"), "{out}");
}

/// The shipped systemd unit passes `systemd-analyze verify` without a warning, with its
/// commands pointing at the binary under test.
#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let unit =
        std::fs::read_to_string(sluice_e2e::workspace().join("examples/systemd/sluice.service"))
            .unwrap()
            .replace("/usr/local/bin/sluice", &sluice_bin().display().to_string());
    let path = dir.path().join("sluice.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd; scripts/test-deps.sh installs it)");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).trim().is_empty(), "warnings: {}", text(&out));
}

#[test]
fn admin_token_prints_a_table_the_config_accepts_and_writes_the_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("admin.token");
    let run = || {
        Command::new(sluice_bin())
            .args([
                "admin", "token", "--scope", "read", "--name", "scraper", "--out",
            ])
            .arg(&file)
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("[[admin.token]]") && table.contains("scope = \"read\""),
        "{table}"
    );
    let token = std::fs::read_to_string(&file).unwrap();
    assert!(
        !table.contains(token.trim()),
        "the token itself was printed"
    );
    let (ok, out) = check(&table);
    assert!(ok, "{out}");
    // Never overwritten.
    let again = run();
    assert!(!again.status.success(), "{}", text(&again));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), token);
    let (ok, out) = check("[[admin.token]]\nname = \"x\"\nsha256 = \"abc\"\n");
    assert!(
        !ok && out.contains("admin.token[0].sha256` (line 3)"),
        "{out}"
    );
}

#[test]
fn dkim_keygen_refuses_names_that_are_not_dns_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(sluice_bin())
        .args(["dkim", "keygen", "bad domain", "s 1"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("is not a DNS name"), "{}", text(&out));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a key file was written"
    );
}

#[test]
fn a_fatal_error_is_one_json_line_under_log_format_json() {
    let out = Command::new(sluice_bin())
        .args([
            "--log-format",
            "json",
            "check-config",
            "/nonexistent/sluice.toml",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).expect("a JSON line");
    assert_eq!(v["level"], "ERROR");
    let message = v["message"].as_str().unwrap();
    assert!(
        message.contains("cannot read config file /nonexistent/sluice.toml"),
        "{message}"
    );
    assert_eq!(message.matches("os error").count(), 1, "{message}");
}

/// Every event the relay logs is named in the README, spelled as in the log.
#[test]
fn the_readme_names_every_event() {
    fn sources(dir: &std::path::Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut code = String::new();
    sources(&sluice_e2e::workspace().join("host/src"), &mut code);
    let readme = std::fs::read_to_string(sluice_e2e::workspace().join("README.md")).unwrap();
    let events: std::collections::BTreeSet<&str> = code
        .split("event = \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(events.len() > 10, "{events:?}");
    let missing: Vec<_> = events
        .iter()
        .filter(|e| !readme.contains(&format!("`{e}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "events the README does not name: {missing:?}"
    );
}

/// A plugin's config is checked when the config loads, not at the first message: a key the
/// plugin does not know (a typo) or a value it cannot use fails `check-config`, and the
/// error names the plugin and the key. Shipped plugins in Rust, the Python one (through its
/// helper module) and the JavaScript one.
#[test]
fn check_config_refuses_a_plugin_config_typo_naming_plugin_and_key() {
    let cache = sluice_e2e::workspace().join("target/plugin-cache-tests");
    let config = |name: &str, path: &std::path::Path, keys: &str| {
        format!(
            "[plugins]\ncache_dir = \"{}\"\n{}\n[[tenant.plugin]]\nname = \"{name}\"\npath = \"{}\"\n\
             [tenant.plugin.config]\n{keys}\n",
            cache.display(),
            sluice_e2e::relay::DEMO_TENANT,
            path.display()
        )
    };
    let shipped = sluice_e2e::shipped_plugin;
    let cases = [
        (
            "volume-limits",
            shipped("volume-limits"),
            "mesages_per_minute = 5",
            "unknown key `mesages_per_minute`",
        ),
        (
            "volume-limits",
            shipped("volume-limits"),
            "messages_per_minute = \"lots\"",
            "key `messages_per_minute`: \"lots\" does not parse",
        ),
        (
            "marketing-detector",
            shipped("marketing-detector"),
            "threshold = \"high\"",
            "key `threshold`",
        ),
        (
            "marketing-detector",
            shipped("marketing-detector"),
            "action = \"delete\"",
            "key `action`: \"delete\" is not one of tag, quarantine, reject",
        ),
        (
            "content-filter",
            shipped("content-filter"),
            "mode = \"scroe\"",
            "key `mode`",
        ),
        (
            "router",
            shipped("router"),
            "rules = \"tag=x => teleport\"",
            "key `rules`: rule 1: unknown route \"teleport\"",
        ),
        (
            "keywords",
            sluice_e2e::foreign_plugin("python", "keyword_policy"),
            "keyword = \"casino\"",
            "unknown key `keyword`",
        ),
        (
            "attachments",
            sluice_e2e::foreign_plugin("js", "attachment_policy"),
            "allowed_type = \"text/plain\"",
            "unknown key `allowed_type`",
        ),
    ];
    for (name, path, keys, says) in cases {
        let (ok, out) = check(&config(name, &path, keys));
        assert!(!ok, "{name} accepted {keys}: {out}");
        assert!(
            out.contains(&format!("plugin {name} of tenant demo refused its config:"))
                && out.contains(says),
            "{name} with {keys}: the error does not name the plugin and say {says:?}: {out}"
        );
        assert!(!out.contains("panicked"), "{out}");
    }
    // The same plugins with their keys spelled right load.
    for (name, path, keys) in [
        (
            "volume-limits",
            shipped("volume-limits"),
            "messages_per_minute = 5\nburst_factor = 20",
        ),
        (
            "marketing-detector",
            shipped("marketing-detector"),
            "threshold = 7\naction = \"reject\"",
        ),
        (
            "keywords",
            sluice_e2e::foreign_plugin("python", "keyword_policy"),
            "keywords = \"casino\"",
        ),
        (
            "attachments",
            sluice_e2e::foreign_plugin("js", "attachment_policy"),
            "allowed_types = \"text/plain\"",
        ),
    ] {
        let (ok, out) = check(&config(name, &path, keys));
        assert!(ok, "{name} with {keys}: {out}");
    }
}
