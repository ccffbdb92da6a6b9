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
    ];
    for (config, needle) in cases {
        let (ok, out) = check(config);
        assert!(!ok, "accepted a bad config: {config}");
        assert!(
            out.contains(needle),
            "error for {config:?} does not name {needle:?}: {out}"
        );
        assert!(!out.contains("panicked"), "{out}");
    }
    // Instances kept for `reuse` may hold half the pool's slots, at least one per plugin.
    let many: String = (0..9)
        .map(|i| format!("[[tenant.plugin]]\nname = \"p{i}\"\npath = \"p.wasm\"\nreuse = 5\n"))
        .collect();
    let (ok, out) = check(&format!(
        "[plugins]\nmax_instances = 16\n[[tenant]]\nname = \"t\"\nsender_domains = [\"a.test\"]\n{many}"
    ));
    assert!(
        !ok && out.contains("plugins.max_instances`: 9 plugins set `reuse`"),
        "{out}"
    );
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
    let (ok, out) = check(&format!("{base}path = \"/nonexistent/v.wasm\"\n"));
    assert!(
        !ok && out.contains("plugin v: cannot read /nonexistent/v.wasm"),
        "{out}"
    );
    let (ok, out) = check(&format!(
        "{base}path = \"{}\"\non_failure = \"explode\"\n",
        fixture.display()
    ));
    assert!(!ok && out.contains("on_failure"), "{out}");
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
