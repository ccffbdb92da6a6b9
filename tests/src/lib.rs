//! Harness for Sluice's end-to-end tests: start the real `sluice` binary on loopback ports
//! with a generated config, talk to it with real SMTP clients (swaks, Python's smtplib) or a
//! raw transcript client for bad input, and receive with aiosmtpd.
//!
//! Everything binds 127.0.0.1; every wait polls with a deadline instead of sleeping.

pub mod chat;
pub mod dns;
pub mod http;
pub mod pki;
pub mod redis;
pub mod relay;
pub mod sink;
pub mod webhooks;

pub use chat::Chat;
pub use dns::Dns;
pub use redis::Redis;
pub use relay::{api_key_table, Relay, RelayConfig, ADMIN_TOKEN, DEMO_API_KEY, READ_TOKEN};
pub use sink::Sink;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// The UTC date `days_ago` days before today, `YYYY-MM-DD` (for warm-up schedules).
pub fn utc_date(days_ago: u64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let out = Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{}", secs - days_ago * 86_400),
            "+%Y-%m-%d",
        ])
        .output()
        .expect("run date");
    String::from_utf8(out.stdout)
        .expect("date prints UTF-8")
        .trim()
        .to_owned()
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// The `sluice` binary that `cargo test --workspace` built next to this test binary.
pub fn sluice_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("sluice");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or `make test`)",
        bin.display()
    );
    let built = bin
        .metadata()
        .and_then(|m| m.modified())
        .expect("binary mtime");
    let newest_source = newest_mtime(&workspace().join("host/src"));
    assert!(
        newest_source <= built,
        "{} is older than host/src: run the tests with `cargo test --workspace` (or `make test`)",
        bin.display()
    );
    bin
}

fn newest_mtime(dir: &Path) -> std::time::SystemTime {
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let t = if path.is_dir() {
            newest_mtime(&path)
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(newest)
        };
        newest = newest.max(t);
    }
    newest
}

/// A loopback port nobody listens on. Ports are handed out from a per-process range so
/// parallel tests do not race for the same one.
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 2_000) as u16 * 10,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let p = NEXT.fetch_add(1, Ordering::SeqCst);
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// Polls `f` every 20 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs swaks against a port; returns its output (transcript on stdout).
pub fn swaks(port: u16, args: &[&str]) -> Output {
    Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{port}"), "--timeout", "20"])
        .args(args)
        .output()
        .expect("swaks is installed (make test installs it)")
}

/// Starts one of the tests/tools/*.py servers (`python3 tests/tools/TOOL ARGS…`), which prints
/// "ready" once it listens and runs until its stdin closes; `needs` names what it imports.
pub fn start_tool(tool: &str, args: &[&OsStr], needs: &str) -> Child {
    let mut child = Command::new("python3")
        .arg(workspace().join("tests/tools").join(tool))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3 with {needs} (make test installs it): {e}"));
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("tool output");
    assert_eq!(first.trim(), "ready", "{tool} did not start");
    child
}

/// Runs `python3 -c SCRIPT ARGS…`.
pub fn python(script: &str, args: &[&str]) -> Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The first `name:` field of a message's header section, unfolded (RFC 5322 §2.2.3: the
/// CRLF before each continuation line removed), e.g. "X-Long: a b c".
pub fn header_field(message: &str, name: &str) -> Option<String> {
    let head = message.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.split("\r\n").skip_while(|l| {
        !l.get(..name.len() + 1)
            .is_some_and(|p| p.eq_ignore_ascii_case(&format!("{name}:")))
    });
    let mut field = lines.next()?.to_owned();
    for l in lines.take_while(|l| l.starts_with([' ', '\t'])) {
        field.push_str(l);
    }
    Some(field)
}

/// A component `make plugins` builds, at `target/RELATIVE`.
fn built(relative: &str) -> PathBuf {
    let path = workspace().join("target").join(relative);
    assert!(
        path.exists(),
        "{} is missing: build the plugins first (`make plugins`, or `make test`)",
        path.display()
    );
    path
}

/// A test plugin (plugins/fixtures/NAME).
pub fn fixture(name: &str) -> PathBuf {
    built(&format!(
        "wasm32-wasip2/release/fixture_{}.wasm",
        name.replace('-', "_")
    ))
}

/// A shipped plugin (plugins/NAME).
pub fn shipped_plugin(name: &str) -> PathBuf {
    built(&format!(
        "wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    ))
}

/// A plugin in another language: `python` (componentize-py) or `js` (componentize-js).
///
/// Its compiled form is put in the tests' shared plugin cache first, once per test run: the
/// JavaScript component takes tens of seconds to compile, which a relay would otherwise spend
/// inside its start-up deadline (several times over, if tests start relays with it at once).
pub fn foreign_plugin(language: &str, name: &str) -> PathBuf {
    let path = built(&format!("{language}/{name}.wasm"));
    static WARMED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut warmed = WARMED.lock().unwrap_or_else(|e| e.into_inner());
    if !warmed.contains(&path) {
        warm_plugin_cache(&path);
        warmed.push(path.clone());
    }
    path
}

/// Compiles a plugin into `target/plugin-cache-tests` with `check-config --fill-cache` (with no
/// deadline: how long compiling takes depends on the machine's load, not on the relay).
fn warm_plugin_cache(plugin: &Path) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("warm.toml");
    std::fs::write(
        &config,
        format!(
            "[plugins]\ncache_dir = \"{}\"\n{}\n[[tenant.plugin]]\nname = \"warm\"\npath = \"{}\"\n",
            workspace().join("target/plugin-cache-tests").display(),
            relay::DEMO_TENANT,
            plugin.display()
        ),
    )
    .expect("write config");
    let out = Command::new(sluice_bin())
        .args(["check-config", "--fill-cache"])
        .arg(&config)
        .output()
        .expect("run sluice check-config");
    assert!(
        out.status.success(),
        "{} does not load: {}{}",
        plugin.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `[[tenant.plugin]]` table for a shipped plugin, named as its directory, with extra lines
/// (settings, then `[tenant.plugin.config]` and its keys).
pub fn shipped_plugin_table(name: &str, extra: &str) -> String {
    format!(
        "\n[[tenant.plugin]]\nname = \"{name}\"\npath = \"{}\"\n{extra}\n",
        shipped_plugin(name).display()
    )
}

/// A `[[tenant.plugin]]` table for a fixture, with extra lines (settings, then `[tenant.plugin.config]`).
pub fn plugin_table(name: &str, fixture_name: &str, extra: &str) -> String {
    format!(
        "\n[[tenant.plugin]]\nname = \"{name}\"\npath = \"{}\"\n{extra}\n",
        fixture(fixture_name).display()
    )
}
