//! A raw SMTP transcript client, for what no well-behaved client would send: overlong lines,
//! bare LFs, smuggling attempts, bytes pipelined after STARTTLS. Tests read like transcripts:
//! `chat.cmd("RCPT TO:<x@y>", "452 4.5.3")`.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

pub struct Chat {
    stream: Option<Box<dyn Stream>>,
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl Chat {
    /// Connects without reading the greeting.
    pub fn connect_silent(port: u16) -> Chat {
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        Chat {
            stream: Some(Box::new(tcp.try_clone().unwrap())),
            tcp,
            buf: Vec::new(),
        }
    }

    /// Connects and expects the 220 greeting.
    pub fn connect(port: u16) -> Chat {
        let mut c = Chat::connect_silent(port);
        c.expect("220");
        c
    }

    /// Connects once a session slot is free (the readiness probe's session may still hold one).
    pub fn connect_when_free(port: u16) -> Chat {
        crate::wait_for(Duration::from_secs(10), || {
            let mut c = Chat::connect_silent(port);
            c.reply().filter(|r| r.starts_with("220")).map(|_| c)
        })
        .expect("no free session slot")
    }

    /// Connects to an implicit-TLS port and expects the greeting over TLS.
    pub fn connect_tls(port: u16) -> Chat {
        let mut c = Chat::connect_silent(port);
        c.upgrade();
        c.expect("220");
        c
    }

    /// Connects, greets with EHLO and reads the capability list.
    pub fn ehlo(port: u16) -> Chat {
        let mut c = Chat::connect(port);
        c.cmd("EHLO client.test", "250");
        c
    }

    /// Connects, greets and authenticates as the demo tenant (AUTH allowed without TLS).
    pub fn authed(port: u16) -> Chat {
        let mut c = Chat::ehlo(port);
        let r = c.auth_plain("demo", "demo-password");
        assert!(r.starts_with("235"), "{r}");
        c
    }

    /// Starts TLS on the connection (after a 220 to STARTTLS, or for implicit TLS).
    pub fn upgrade(&mut self) {
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify))
                .with_no_client_auth();
        let conn = ClientConnection::new(
            Arc::new(config),
            ServerName::try_from("relay.test").unwrap(),
        )
        .unwrap();
        self.stream = Some(Box::new(StreamOwned::new(
            conn,
            self.tcp.try_clone().unwrap(),
        )));
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let s = self.stream.as_mut().expect("open");
        let _ = s.write_all(bytes).and_then(|_| s.flush());
    }

    /// Sends a line with CRLF.
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes());
    }

    /// Reads one whole reply (all its lines); `None` when the server closed the connection.
    pub fn reply(&mut self) -> Option<String> {
        let mut text = String::new();
        loop {
            let line = self.line()?;
            text.push_str(&line);
            text.push('\n');
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return Some(text.trim_end().to_owned());
            }
        }
    }

    fn line(&mut self) -> Option<String> {
        loop {
            if let Some(p) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=p).collect();
                return Some(String::from_utf8_lossy(&line).trim_end().to_owned());
            }
            let mut chunk = [0u8; 4096];
            match self.stream.as_mut()?.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return None,
            }
        }
    }

    /// Reads a reply and asserts its last line starts with `prefix` (e.g. "452 4.5.3").
    pub fn expect(&mut self, prefix: &str) -> String {
        let r = self
            .reply()
            .unwrap_or_else(|| panic!("connection closed, expected {prefix:?}"));
        let last = r.lines().last().unwrap_or_default();
        assert!(last.starts_with(prefix), "expected {prefix:?}, got {r:?}");
        r
    }

    /// Sends a command and expects a reply starting with `prefix`.
    pub fn cmd(&mut self, line: &str, prefix: &str) -> String {
        self.send(line);
        self.expect(prefix)
    }

    /// True when the server has closed the connection (nothing more to read).
    pub fn is_closed(&mut self) -> bool {
        self.buf.clear();
        self.line().is_none()
    }

    /// MAIL, RCPT, DATA and a message; returns the final reply.
    pub fn send_message(&mut self, from: &str, rcpts: &[&str], body: &str) -> String {
        self.cmd(&format!("MAIL FROM:<{from}>"), "250");
        for r in rcpts {
            self.cmd(&format!("RCPT TO:<{r}>"), "250");
        }
        self.cmd("DATA", "354");
        self.send_raw(body.as_bytes());
        self.send_raw(b".\r\n");
        self.reply().expect("reply after DATA")
    }

    /// AUTH PLAIN with the given credentials; returns the reply.
    pub fn auth_plain(&mut self, user: &str, password: &str) -> String {
        use base64::Engine;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        self.send(&format!("AUTH PLAIN {token}"));
        self.reply().expect("AUTH reply")
    }
}

#[derive(Debug)]
struct NoVerify;

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
