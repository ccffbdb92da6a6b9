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

/// Reads a delivery status notification with Python's `email` module (an independent MIME
/// parser) and prints what it found, as JSON.
const READ_REPORT: &str = r#"
import email, json, sys
from email import policy
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)
parts = list(m.iter_parts()) if m.is_multipart() else []
status = [p for p in parts if p.get_content_type() == "message/delivery-status"]
blocks = status[0].get_payload() if status else []
print(json.dumps({
    "content_type": m.get_content_type(),
    "report_type": m.get_param("report-type"),
    "parts": [p.get_content_type() for p in parts],
    "fields": [{k: str(v) for k, v in b.items()} for b in blocks],
}))
"#;

impl Received {
    /// The message read as an RFC 3464 report by Python's `email` module: its content
    /// type and `report-type`, the content types of its parts, and the fields of each
    /// block of its message/delivery-status part (per message first, then per recipient),
    /// unfolded.
    pub fn report(&self) -> serde_json::Value {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(READ_REPORT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(self.content.as_bytes())
            .expect("write the report");
        let out = child.wait_with_output().expect("python3");
        assert!(out.status.success(), "{}", crate::text(&out));
        serde_json::from_slice(&out.stdout).expect("the script's JSON")
    }
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

    /// The sink's log: "connect PEER" per connection, "rcpt ADDR REPLY" per RCPT.
    pub fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The RCPT lines of the log for `rcpt`: the answers it got, in order.
    pub fn rcpt_replies(&self, rcpt: &str) -> Vec<String> {
        let prefix = format!("rcpt {rcpt} ");
        self.log()
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }

    /// From now on every RCPT gets `reply` (`None`: the sink's usual answers again).
    pub fn answer_every_rcpt(&self, reply: Option<&str>) {
        let path = self.dir.path().join("rcpt_reply");
        match reply {
            Some(r) => {
                let tmp = self.dir.path().join(".rcpt_reply");
                std::fs::write(&tmp, format!("{r}\n")).expect("write the reply file");
                std::fs::rename(tmp, path).expect("install the reply file");
            }
            None => {
                let _ = std::fs::remove_file(path);
            }
        }
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
