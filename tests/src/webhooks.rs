//! A webhook receiver on loopback (tests/tools/webhook_receiver.py) and the relay's event
//! journal read back from its spool.

use crate::{start_tool, wait_for};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Request {
    pub headers: BTreeMap<String, String>,
    pub body: String,
    /// What the receiver answered.
    pub status: u16,
}

impl Request {
    pub fn event(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

pub struct Receiver {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Receiver {
    /// Listens on 127.0.0.1:`port` with extra arguments (`--fail-first N`, …).
    pub fn start(port: u16, args: &[&str]) -> Receiver {
        let dir = tempfile::tempdir().expect("tempdir");
        let port_text = port.to_string();
        let log = dir.path().join("requests.jsonl");
        let named = ["--port", &port_text, "--log"];
        let mut full: Vec<&OsStr> = named.iter().map(OsStr::new).collect();
        full.push(log.as_os_str());
        full.extend(args.iter().map(OsStr::new));
        let child = start_tool("webhook_receiver.py", &full, "the standard library");
        Receiver { port, dir, child }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        requests_in(&self.dir.path().join("requests.jsonl"))
    }

    /// The events answered 200, in arrival order.
    pub fn accepted(&self) -> Vec<serde_json::Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.status == 200)
            .map(|r| r.event())
            .collect()
    }

    /// Waits until `f` holds for the requests so far.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        f: impl Fn(&[Request]) -> bool,
    ) -> Vec<Request> {
        wait_for(timeout, || {
            let r = self.requests();
            f(&r).then_some(r)
        })
        .unwrap_or_else(|| {
            panic!(
                "the receiver did not get {what}; it has {:#?}",
                self.requests()
                    .iter()
                    .map(|r| (r.status, r.body.clone()))
                    .collect::<Vec<_>>()
            )
        })
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn requests_in(log: &Path) -> Vec<Request> {
    let Ok(text) = std::fs::read_to_string(log) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| Request {
            headers: v["headers"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect(),
            body: v["body"].as_str().unwrap_or_default().to_owned(),
            status: v["status"].as_u64().unwrap_or(0) as u16,
        })
        .collect()
}

/// The events in a relay's journal (`SPOOL/events/ev-*.jsonl`), oldest first.
pub fn journal(spool: &Path) -> Vec<serde_json::Value> {
    let dir = spool.join("events");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect::<Vec<serde_json::Value>>()
        })
        .collect()
}

/// `true` when `signature` (`t=…,v1=…`) is `body` signed with `secret`, checked by Python's
/// `hmac` module — the README's verification snippet — not by the relay's code.
pub fn python_verifies(secret: &str, signature: &str, body: &str) -> bool {
    let out = crate::python(
        r#"
import hashlib, hmac, sys
secret, header, body = sys.argv[1].encode(), sys.argv[2], sys.argv[3].encode()
parts = dict(p.split("=", 1) for p in header.split(","))
expected = hmac.new(secret, parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
print("ok" if hmac.compare_digest(expected, parts["v1"]) else "bad")
"#,
        &[secret, signature, body],
    );
    String::from_utf8_lossy(&out.stdout).trim() == "ok"
}
