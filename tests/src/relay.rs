//! A `sluice serve` process with a generated config in a temporary directory.

use crate::{free_port, sluice_bin, wait_for};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const DEMO_TENANT: &str = r#"
[[tenant]]
name = "demo"
sender_domains = ["example.com"]
[[tenant.users]]
username = "demo"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$mUVUyVvOfnrjaDrADSvkdQ$4OO0u1/HvlqsvYvhEnt0GbmbzAtEnkc49TGCjPUfaGw"
[[tenant.api_key]]
name = "tests"
scopes = ["send", "events", "suppressions"]
sha256 = "2d224a799f247cfb8a231eeeedf3c315fca9b6c164d7552b8b5a7c4466a4facb"
"#;

/// `config` with the demo tenant's `[[tenant.api_key]]` table only in its first tenant.
fn keep_first_demo_key(config: &str) -> String {
    let start = DEMO_TENANT
        .find("[[tenant.api_key]]")
        .expect("the demo key table");
    let table = &DEMO_TENANT[start..];
    match config.find(table) {
        Some(first) => {
            let after = first + table.len();
            format!("{}{}", &config[..after], config[after..].replace(table, ""))
        }
        None => config.to_owned(),
    }
}

/// The demo tenant's application API key (every scope), as `[[tenant.api_key]]` in
/// [`DEMO_TENANT`].
pub const DEMO_API_KEY: &str = "sluice-test-api-key";

/// A `[[tenant.api_key]]` table accepting `key` with `scopes`, to put under a tenant.
pub fn api_key_table(name: &str, key: &str, scopes: &[&str]) -> String {
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("[[tenant.api_key]]\nname = {name:?}\nscopes = {scopes:?}\nsha256 = \"{digest}\"\n")
}

/// The token every test relay's `[admin]` accepts with scope `admin`; its `admin.token_file`
/// holds it, so `sluice` commands given the relay's config use it.
pub const ADMIN_TOKEN: &str = "sluice-test-admin-token";
/// A token with scope `read` only.
pub const READ_TOKEN: &str = "sluice-test-read-token";
const ADMIN_TOKENS: &str = r#"
[[admin.token]]
name = "tests"
scope = "admin"
sha256 = "af5b4b4136b614ae04f0bb333127f133cb48e305ffdf36bfad1a922b8d705443"
[[admin.token]]
name = "scraper"
scope = "read"
sha256 = "ec3ea5174263ddd784876e496fa9f093cf9cea8817ee44fc862657674b7f6a28"
"#;

/// What differs between test relays; the rest is a loopback default.
#[derive(Clone)]
pub struct RelayConfig {
    /// Extra lines in `[server]`.
    pub server: String,
    /// Extra lines in `[auth]`.
    pub auth: String,
    /// Extra lines in `[spool]`.
    pub spool: String,
    /// Extra lines in `[api]` (the application API: `max_body`, `max_batch`, …).
    pub api: String,
    /// Extra lines in `[tls]` (e.g. `cert` and `key`).
    pub tls: String,
    /// The `[delivery]` body; `None` means local Maildir.
    pub delivery: Option<String>,
    /// The `[dns]` body.
    pub dns: String,
    /// `[[tenant]]` tables.
    pub tenants: String,
    /// Lines appended after `tenants`, e.g. `[[tenant.plugin]]` tables for the last tenant.
    pub plugins: String,
    /// Extra lines in `[plugins]` (the runtime: `max_instances`, …).
    pub plugin_runtime: String,
    /// Extra lines in `[admin]`.
    pub admin: String,
    /// Extra top-level tables (e.g. `[cluster]`), before the tenants.
    pub tables: String,
    /// A shell `ulimit -f` (1 KiB blocks) for the process, to make spool writes fail.
    pub file_size_limit_kib: Option<u64>,
    /// Extra lines in `[events]` (journal and webhook retry settings).
    pub events: String,
    /// `SLUICE_LOG` (default `info`; [`Relay::events`] reads event lines from the log).
    pub log_filter: String,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            server: String::new(),
            auth: "require_tls = false\n".into(),
            spool: String::new(),
            api: String::new(),
            tls: String::new(),
            delivery: None,
            dns: String::new(),
            tenants: DEMO_TENANT.into(),
            plugins: String::new(),
            plugin_runtime: String::new(),
            admin: String::new(),
            tables: String::new(),
            file_size_limit_kib: None,
            events: String::new(),
            log_filter: "info".into(),
        }
    }
}

impl RelayConfig {
    /// Sets `tls` in `[delivery.smarthost]` (after [`RelayConfig::smarthost`]).
    pub fn with_smarthost_tls(mut self, tls: &str) -> Self {
        if let Some(d) = &mut self.delivery {
            d.push_str(&format!("tls = \"{tls}\"\n"));
        }
        self
    }

    /// Delivery to MX hosts found through `dns`, on `port` instead of 25; `extra` goes in
    /// `[delivery]`.
    pub fn mx(mut self, dns: &crate::Dns, port: u16, extra: &str) -> Self {
        self.dns = dns.config();
        let retry = if extra.contains("retry =") {
            ""
        } else {
            "retry = [\"1s\"]\n"
        };
        self.delivery = Some(format!(
            "mode = \"mx\"\nmx_port = {port}\n{retry}connect_timeout = \"2s\"\n{extra}\n"
        ));
        self
    }

    pub fn smarthost(mut self, port: u16, extra: &str) -> Self {
        self.delivery = Some(format!(
            "mode = \"smarthost\"\nretry = [\"1s\"]\n{extra}\n[delivery.smarthost]\nhost = \"127.0.0.1\"\nport = {port}\n"
        ));
        self
    }
}

pub struct Relay {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub tls_port: u16,
    /// The admin API's port.
    pub admin_port: u16,
    /// The application API's port.
    pub api_port: u16,
    pub config_path: PathBuf,
    cfg: RelayConfig,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
}

impl Relay {
    pub fn start(cfg: RelayConfig) -> Relay {
        let dir = tempfile::tempdir().expect("tempdir");
        let (port, tls_port, admin_port, api_port) =
            (free_port(), free_port(), free_port(), free_port());
        let root = dir.path();
        let token_file = root.join("admin.token");
        std::fs::write(&token_file, format!("{ADMIN_TOKEN}\n")).expect("write token file");
        let delivery = cfg.delivery.clone().unwrap_or_else(|| {
            format!(
                "mode = \"local\"\nmaildir = \"{}\"\n",
                root.join("maildir").display()
            )
        });
        let config = format!(
            "[server]\nhostname = \"relay.test\"\nlisten = [\"127.0.0.1:{port}\"]\nlisten_tls = [\"127.0.0.1:{tls_port}\"]\n{}\n\
             [auth]\n{}\n[spool]\ndir = \"{}\"\n{}\n[tls]\ngenerated_dir = \"{}\"\n{}\n[plugins]\ncache_dir = \"{}\"\n{}\n\
             [admin]\nlisten = \"127.0.0.1:{admin_port}\"\ntoken_file = \"{}\"\n{}\n{ADMIN_TOKENS}\n\
             [api]\nlisten = \"127.0.0.1:{api_port}\"\n{}\n\
             [events]\n{}\n\
             [dns]\n{}\n[delivery]\n{delivery}\n{}\n{}\n{}",
            cfg.server,
            cfg.auth,
            root.join("spool").display(),
            cfg.spool,
            root.join("tls").display(),
            cfg.tls,
            // Shared by every test relay: each plugin is compiled once per test run.
            crate::workspace().join("target/plugin-cache-tests").display(),
            cfg.plugin_runtime,
            token_file.display(),
            cfg.admin,
            cfg.api,
            cfg.events,
            cfg.dns,
            cfg.tables,
            cfg.tenants,
            cfg.plugins,
        );
        // Tests that copy DEMO_TENANT for several tenants copy its API key too: a key
        // belongs to one tenant, so only the first copy keeps it.
        let config = keep_first_demo_key(&config);
        let config_path = root.join("sluice.toml");
        std::fs::write(&config_path, config).expect("write config");
        let mut relay = Relay {
            dir,
            port,
            tls_port,
            admin_port,
            api_port,
            config_path,
            cfg,
            child: None,
            log: Arc::new(Mutex::new(String::new())),
        };
        relay.spawn();
        relay
    }

    /// Sets the `ulimit -f` of the next [`Relay::spawn`]: `Some(0)` is a disk with no room left.
    pub fn limit_file_size(&mut self, kib: Option<u64>) {
        self.cfg.file_size_limit_kib = kib;
    }

    /// Starts the process (again) on the same directory and ports, and waits until it listens.
    pub fn spawn(&mut self) {
        let bin = sluice_bin();
        let mut cmd = match self.cfg.file_size_limit_kib {
            Some(kib) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -f {kib} && exec \"$0\" \"$@\""))
                    .arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        cmd.args(["--log-format", "json", "serve", "--config"])
            .arg(&self.config_path)
            .current_dir(self.dir.path())
            .env("SLUICE_LOG", &self.cfg.log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn sluice");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        self.child = Some(child);
        let port = self.port;
        // Generous: a relay compiles its plugins before it listens (the Python one takes seconds,
        // minutes for the JavaScript one on a busy 2-core machine); the compile cache makes
        // later starts fast.
        let up = wait_for(Duration::from_secs(300), || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(
            up.is_some(),
            "sluice did not start listening; log:\n{}",
            self.log()
        );
    }

    /// A request to the admin API with `token` (none: no Authorization header).
    pub fn http(&self, method: &str, path: &str, token: Option<&str>) -> crate::http::Reply {
        crate::http::request(self.admin_port, method, path, token)
    }

    /// A request to the application API with `key` (none: no Authorization header), a JSON
    /// (or other) body and its content type.
    pub fn api(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<(&str, &[u8])>,
    ) -> crate::http::Reply {
        crate::http::request_with(self.api_port, method, path, key, &[], body)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Event lines (`target` sluice::event) as JSON values.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.log()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"] == "sluice::event")
            .collect()
    }

    /// Waits until the log has `n` events named `event`.
    pub fn wait_events(&self, event: &str, n: usize) -> Vec<serde_json::Value> {
        let found = wait_for(Duration::from_secs(20), || {
            let e: Vec<_> = self
                .events()
                .into_iter()
                .filter(|v| v["event"] == event)
                .collect();
            (e.len() >= n).then_some(e)
        });
        found.unwrap_or_else(|| panic!("fewer than {n} {event:?} events; log:\n{}", self.log()))
    }

    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("maildir")
    }

    pub fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    /// The messages delivered to `rcpt`'s Maildir so far.
    pub fn mailbox(&self, rcpt: &str) -> Vec<String> {
        read_dir_texts(&self.maildir().join(maildir_folder(rcpt)).join("new"))
    }

    /// Waits until `rcpt` has `n` messages and returns them.
    pub fn wait_mailbox(&self, rcpt: &str, n: usize) -> Vec<String> {
        wait_for(Duration::from_secs(20), || {
            let m = self.mailbox(rcpt);
            (m.len() >= n).then_some(m)
        })
        .unwrap_or_else(|| panic!("{rcpt} did not get {n} message(s); log:\n{}", self.log()))
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// The process's resident memory now (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.proc_status_kib("VmRSS")
    }

    /// The most resident memory the process has had (`VmHWM`, the high-water mark), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.proc_status_kib("VmHWM")
    }

    fn proc_status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/PID/status (Linux)");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{}/status", self.pid()))
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM; returns the exit status once the process is gone.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        c.wait().expect("wait")
    }

    pub fn signal_term(&self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
    }

    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        self.child.take().expect("running").wait().expect("wait")
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The folder name sluice uses for a recipient: lower-cased, and anything but
/// `[a-z0-9@._+-]` (or a leading dot) percent-encoded.
pub fn maildir_folder(rcpt: &str) -> String {
    let mut name = String::new();
    for b in rcpt.to_lowercase().bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'@' | b'_' | b'+' | b'-' => name.push(b as char),
            b'.' if !name.is_empty() => name.push('.'),
            _ => name.push_str(&format!("%{b:02X}")),
        }
    }
    name
}

/// Texts of the regular files in `dir`, ordered by name.
pub fn read_dir_texts(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect()
}
