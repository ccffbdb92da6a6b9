//! A real DNS server on loopback (tests/tools/dns.py, dnslib) serving a zone the test writes.

use crate::{free_port, start_tool};
use std::ffi::OsStr;
use std::process::Child;

pub struct Dns {
    pub port: u16,
    zone: tempfile::NamedTempFile,
    child: Child,
}

impl Dns {
    /// Serves `zone`: `{"name": [{"type": "MX", "pref": 10, "value": "host"}, ...]}`.
    pub fn start(zone: serde_json::Value) -> Dns {
        let port = free_port();
        let file = tempfile::NamedTempFile::new().expect("zone file");
        std::fs::write(file.path(), zone.to_string()).expect("write zone");
        let port_text = port.to_string();
        let child = start_tool(
            "dns.py",
            &[
                OsStr::new("--port"),
                OsStr::new(&port_text),
                OsStr::new("--zone"),
                file.path().as_os_str(),
            ],
            "dnslib",
        );
        Dns {
            port,
            zone: file,
            child,
        }
    }

    /// Replaces the zone; the server re-reads it at the next query.
    pub fn set_zone(&self, zone: serde_json::Value) {
        let tmp = self.zone.path().with_extension("new");
        std::fs::write(&tmp, zone.to_string()).expect("write zone");
        std::fs::rename(&tmp, self.zone.path()).expect("replace zone");
    }

    /// The `[dns]` body pointing a relay at this server.
    pub fn config(&self) -> String {
        format!(
            "nameservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\n",
            self.port
        )
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An MX record.
pub fn mx(pref: u16, host: &str) -> serde_json::Value {
    serde_json::json!({"type": "MX", "pref": pref, "value": host})
}

/// An A record.
pub fn a(ip: &str) -> serde_json::Value {
    serde_json::json!({"type": "A", "value": ip})
}

/// A TXT record.
pub fn txt(text: &str) -> serde_json::Value {
    serde_json::json!({"type": "TXT", "value": text})
}
