//! aiosmtpd as the next hop (tests/tools/sink.py).

use crate::{free_port, start_tool, wait_for};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

pub struct Sink {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

/// One message the sink accepted.
#[derive(Debug)]
pub struct Received {
    pub mail_from: String,
    pub rcpts: Vec<String>,
    pub tls: bool,
    /// The address the message came from (the relay's source address).
    pub peer: String,
    /// MAIL FROM parameters, e.g. "REQUIRETLS".
    pub mail_options: Vec<String>,
    /// RCPT TO parameters per recipient, e.g. "NOTIFY=SUCCESS".
    pub rcpt_options: serde_json::Value,
    pub content: String,
}

impl Sink {
    pub fn start(args: &[&str]) -> Sink {
        Sink::start_on(free_port(), args)
    }

    pub fn start_on(port: u16, args: &[&str]) -> Sink {
        Sink::start_at("127.0.0.1", port, args)
    }

    /// A sink on another loopback address, e.g. an MX host at 127.0.0.2.
    pub fn start_at(host: &str, port: u16, args: &[&str]) -> Sink {
        let dir = tempfile::tempdir().expect("tempdir");
        let port_text = port.to_string();
        let named = ["--host", host, "--port", &port_text, "--dir"];
        let mut full: Vec<&OsStr> = named.iter().map(OsStr::new).collect();
        full.push(dir.path().as_os_str());
        full.extend(args.iter().map(OsStr::new));
        let child = start_tool("sink.py", &full, "aiosmtpd");
        Sink { port, dir, child }
    }

    pub fn messages(&self) -> Vec<Received> {
        let mut out = Vec::new();
        for n in 1.. {
            let json = self.path(n, "json");
            let Ok(meta) = std::fs::read_to_string(&json) else {
                break;
            };
            let meta: serde_json::Value = serde_json::from_str(&meta).expect("sink json");
            let content = std::fs::read(self.path(n, "eml")).expect("sink eml");
            out.push(Received {
                mail_from: meta["mail_from"].as_str().unwrap_or_default().to_owned(),
                rcpts: meta["rcpt_tos"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                tls: meta["tls"].as_bool().unwrap_or(false),
                peer: meta["peer"].as_str().unwrap_or_default().to_owned(),
                mail_options: meta["mail_options"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                rcpt_options: meta["rcpt_options"].clone(),
                content: String::from_utf8_lossy(&content).into_owned(),
            });
        }
        out
    }

    pub fn wait_messages(&self, n: usize) -> Vec<Received> {
        wait_for(Duration::from_secs(30), || {
            let m = self.messages();
            (m.len() >= n).then_some(m)
        })
        .unwrap_or_else(|| {
            panic!(
                "sink did not receive {n} message(s), has {}",
                self.messages().len()
            )
        })
    }

    fn path(&self, n: usize, ext: &str) -> PathBuf {
        self.dir.path().join(format!("{n}.{ext}"))
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
