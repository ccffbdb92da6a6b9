//! The outbound SMTP client: EHLO, STARTTLS, PIPELINING, one connection reused for many
//! messages.

use super::RcptOutcome;
use crate::config::SmarthostTls;
use crate::net::MaybeTls;
use crate::queue::envelope::{Envelope, Ret};
use rustls::pki_types::ServerName;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

type Stream = BufReader<MaybeTls<TcpStream, tokio_rustls::client::TlsStream<TcpStream>>>;

/// A failure of the connection or the session as a whole; every recipient of the message
/// shares it. `permanent` is true only for a 5xx that the next hop gave to the transaction.
#[derive(Debug, Clone)]
pub struct Failure {
    pub permanent: bool,
    pub reason: String,
}

impl Failure {
    fn temp(reason: impl Into<String>) -> Failure {
        Failure {
            permanent: false,
            reason: reason.into(),
        }
    }
}

/// A reply from the next hop.
#[derive(Debug, Clone)]
pub struct ServerReply {
    pub code: u16,
    pub text: String,
}

impl std::fmt::Display for ServerReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

/// What every outbound connection shares.
pub struct Settings {
    pub helo: String,
    /// For opportunistic STARTTLS: any certificate.
    pub opportunistic: Arc<rustls::ClientConfig>,
    /// For required TLS: a certificate valid for the host name.
    pub verifying: Arc<rustls::ClientConfig>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
}

/// One host to connect to.
pub struct Target<'a> {
    /// The name the certificate must carry, and the name in logs.
    pub name: &'a str,
    pub addr: SocketAddr,
    /// Local address to send from (an egress pool's).
    pub source: Option<IpAddr>,
    pub tls: SmarthostTls,
}

pub struct Client {
    stream: Stream,
    pipelining: bool,
    /// The peer offered REQUIRETLS (RFC 8689) over a verified TLS session.
    pub requiretls: bool,
    /// The peer offered DSN (RFC 3461): the envelope's DSN requests are passed on, and the
    /// peer, not this relay, reports success.
    pub dsn: bool,
    /// "TLSv1.3 <cipher>" when the session is encrypted.
    pub tls: Option<String>,
    /// "name[ip]:port", for logs and DSNs.
    pub peer: String,
    /// The host name alone (DSN Remote-MTA).
    pub host: String,
    timeout: Duration,
}

impl Client {
    pub async fn connect(t: &Target<'_>, s: &Settings) -> Result<Client, Failure> {
        let peer = format!("{}[{}]:{}", t.name, t.addr.ip(), t.addr.port());
        let socket = match t.addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(|e| Failure::temp(format!("socket: {e}")))?;
        if let Some(source) = t.source {
            socket
                .bind(SocketAddr::new(source, 0))
                .map_err(|e| Failure::temp(format!("cannot send from {source}: {e}")))?;
        }
        let tcp = tokio::time::timeout(s.connect_timeout, socket.connect(t.addr))
            .await
            .map_err(|_| Failure::temp(format!("connect to {peer} timed out")))?
            .map_err(|e| Failure::temp(format!("connect to {peer}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let mut c = Client {
            stream: BufReader::new(MaybeTls::Plain(tcp)),
            pipelining: false,
            requiretls: false,
            dsn: false,
            tls: None,
            peer,
            host: t.name.to_owned(),
            timeout: s.command_timeout,
        };
        c.expect(220, "greeting").await?;
        let caps = c.ehlo(&s.helo).await?;
        let offers_tls = has(&caps, "STARTTLS");
        match (t.tls, offers_tls) {
            (SmarthostTls::None, _) | (SmarthostTls::Opportunistic, false) => {
                c.pipelining = has(&caps, "PIPELINING");
                c.dsn = has(&caps, "DSN");
            }
            (SmarthostTls::Required, false) => {
                let _ = c.command("QUIT\r\n").await;
                return Err(Failure::temp(format!(
                    "{} does not offer STARTTLS and TLS is required",
                    c.peer
                )));
            }
            (policy, true) => {
                c.command("STARTTLS\r\n").await?.ok(220, "STARTTLS")?;
                let config = if policy == SmarthostTls::Required {
                    &s.verifying
                } else {
                    &s.opportunistic
                };
                c = c.start_tls(t.name, config).await?;
                let caps = c.ehlo(&s.helo).await?;
                c.pipelining = has(&caps, "PIPELINING");
                c.dsn = has(&caps, "DSN");
                c.requiretls = policy == SmarthostTls::Required && has(&caps, "REQUIRETLS");
            }
        }
        Ok(c)
    }

    async fn start_tls(
        self,
        name: &str,
        config: &Arc<rustls::ClientConfig>,
    ) -> Result<Client, Failure> {
        let MaybeTls::Plain(tcp) = self.stream.into_inner() else {
            return Err(Failure::temp("STARTTLS on a TLS connection"));
        };
        let server_name = ServerName::try_from(name.to_owned())
            .map_err(|e| Failure::temp(format!("bad TLS server name {name}: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(config.clone());
        let tls = tokio::time::timeout(self.timeout, connector.connect(server_name, tcp))
            .await
            .map_err(|_| Failure::temp("TLS handshake timed out"))?
            .map_err(|e| Failure::temp(format!("TLS handshake with {} failed: {e}", self.peer)))?;
        let described = crate::net::describe_tls(tls.get_ref().1);
        Ok(Client {
            stream: BufReader::new(MaybeTls::Tls(Box::new(tls))),
            pipelining: false,
            requiretls: false,
            dsn: false,
            tls: Some(described),
            peer: self.peer,
            host: self.host,
            timeout: self.timeout,
        })
    }

    async fn ehlo(&mut self, helo: &str) -> Result<Vec<String>, Failure> {
        let r = self.command(&format!("EHLO {helo}\r\n")).await?;
        r.ok(250, "EHLO")?;
        Ok(r.text
            .lines()
            .skip(1)
            .map(|l| l.trim().to_owned())
            .collect())
    }

    async fn command(&mut self, line: &str) -> Result<ServerReply, Failure> {
        self.write(line.as_bytes()).await?;
        self.read_reply().await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let io = async {
            self.stream.get_mut().write_all(bytes).await?;
            self.stream.get_mut().flush().await
        };
        tokio::time::timeout(self.timeout, io)
            .await
            .map_err(|_| Failure::temp("write timed out"))?
            .map_err(|e| Failure::temp(format!("write to {}: {e}", self.peer)))
    }

    async fn expect(&mut self, code: u16, what: &str) -> Result<ServerReply, Failure> {
        let r = self.read_reply().await?;
        r.ok(code, what)?;
        Ok(r)
    }

    async fn read_reply(&mut self) -> Result<ServerReply, Failure> {
        let mut text = String::new();
        let mut line = Vec::new();
        for _ in 0..100 {
            line.clear();
            let n = tokio::time::timeout(
                self.timeout,
                (&mut self.stream).take(4096).read_until(b'\n', &mut line),
            )
            .await
            .map_err(|_| Failure::temp(format!("{} did not answer in time", self.peer)))?
            .map_err(|e| Failure::temp(format!("read from {}: {e}", self.peer)))?;
            if n == 0 {
                return Err(Failure::temp(format!(
                    "{} closed the connection",
                    self.peer
                )));
            }
            let l = String::from_utf8_lossy(&line);
            let l = l.trim_end();
            let code = l
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c));
            let Some(code) = code else {
                return Err(Failure::temp(format!(
                    "{} sent a malformed reply: {l:?}",
                    self.peer
                )));
            };
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(l.get(4..).unwrap_or(""));
            if l.as_bytes().get(3) != Some(&b'-') {
                return Ok(ServerReply { code, text });
            }
        }
        Err(Failure::temp(format!(
            "{} sent an over-long reply",
            self.peer
        )))
    }

    /// Sends one message. Per-recipient outcomes on a completed exchange; `Err` when the
    /// connection failed and nothing can be said per recipient.
    pub async fn send(
        &mut self,
        env: &Envelope,
        rcpts: &[String],
        body: &[u8],
    ) -> Result<Vec<RcptOutcome>, Failure> {
        let mut mail = format!("MAIL FROM:<{}>", env.mail_from);
        if env.eight_bit {
            mail.push_str(" BODY=8BITMIME");
        }
        if env.smtputf8 {
            mail.push_str(" SMTPUTF8");
        }
        if env.require_tls {
            mail.push_str(" REQUIRETLS");
        }
        if self.dsn {
            match env.dsn.ret {
                Some(Ret::Full) => mail.push_str(" RET=FULL"),
                Some(Ret::Hdrs) => mail.push_str(" RET=HDRS"),
                None => {}
            }
            if let Some(envid) = &env.dsn.envid {
                mail.push_str(&format!(" ENVID={}", xtext(envid)));
            }
        }
        mail.push_str("\r\n");
        let rcpt_lines: Vec<String> = rcpts
            .iter()
            .map(|r| {
                let mut line = format!("RCPT TO:<{r}>");
                if self.dsn {
                    let d = env.rcpt_dsn(r);
                    if let Some(n) = d.notify {
                        let words: Vec<&str> = [
                            (n.success, "SUCCESS"),
                            (n.failure, "FAILURE"),
                            (n.delay, "DELAY"),
                        ]
                        .into_iter()
                        .filter_map(|(on, w)| on.then_some(w))
                        .collect();
                        let list = if words.is_empty() {
                            "NEVER".to_owned()
                        } else {
                            words.join(",")
                        };
                        line.push_str(&format!(" NOTIFY={list}"));
                    }
                    if let Some(addr) = d.orcpt.as_deref().and_then(|o| o.strip_prefix("rfc822;")) {
                        line.push_str(&format!(" ORCPT=rfc822;{}", xtext(addr)));
                    }
                }
                line.push_str("\r\n");
                line
            })
            .collect();

        let (mail_reply, rcpt_replies, data_reply) = if self.pipelining {
            let mut group = mail.clone().into_bytes();
            for r in &rcpt_lines {
                group.extend_from_slice(r.as_bytes());
            }
            group.extend_from_slice(b"DATA\r\n");
            self.write(&group).await?;
            let m = self.read_reply().await?;
            let mut rr = Vec::new();
            for _ in rcpts {
                rr.push(self.read_reply().await?);
            }
            let d = self.read_reply().await?;
            (m, rr, Some(d))
        } else {
            let m = self.command(&mail).await?;
            let mut rr = Vec::new();
            if m.code / 100 == 2 {
                for r in &rcpt_lines {
                    rr.push(self.command(r).await?);
                }
            }
            let any = rr.iter().any(|r| r.code / 100 == 2);
            let d = if any {
                Some(self.command("DATA\r\n").await?)
            } else {
                None
            };
            (m, rr, d)
        };

        let shared = |r: &ServerReply| -> RcptOutcome {
            if r.code >= 500 {
                RcptOutcome::Failed {
                    reply: r.to_string(),
                }
            } else {
                RcptOutcome::Deferred {
                    reason: r.to_string(),
                }
            }
        };
        if mail_reply.code / 100 != 2 {
            self.reset_after(data_reply.as_ref()).await?;
            return Ok(rcpts.iter().map(|_| shared(&mail_reply)).collect());
        }
        let mut outcomes: Vec<Option<RcptOutcome>> = rcpt_replies
            .iter()
            .map(|r| {
                if r.code / 100 == 2 {
                    None
                } else {
                    Some(shared(r))
                }
            })
            .collect();
        let accepted = outcomes.iter().filter(|o| o.is_none()).count();
        match data_reply {
            Some(d) if d.code == 354 => {
                let mut wire = dot_stuff(if accepted > 0 { body } else { b"" });
                wire.extend_from_slice(b".\r\n");
                self.write(&wire).await?;
                let end = self.read_reply().await?;
                let fill = if end.code / 100 == 2 {
                    RcptOutcome::Delivered {
                        reply: end.to_string(),
                    }
                } else {
                    shared(&end)
                };
                for o in outcomes.iter_mut().filter(|o| o.is_none()) {
                    *o = Some(fill.clone());
                }
            }
            Some(d) => {
                self.reset_after(None).await?;
                for o in outcomes.iter_mut().filter(|o| o.is_none()) {
                    *o = Some(shared(&d));
                }
            }
            None => self.reset_after(None).await?,
        }
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(RcptOutcome::Deferred {
                    reason: "no reply".into(),
                })
            })
            .collect())
    }

    /// Puts the connection back to a clean state after a failed transaction.
    async fn reset_after(&mut self, data_reply: Option<&ServerReply>) -> Result<(), Failure> {
        if data_reply.is_some_and(|d| d.code == 354) {
            self.write(b".\r\n").await?;
            self.read_reply().await?;
        }
        self.command("RSET\r\n").await?;
        Ok(())
    }

    pub async fn quit(mut self) {
        let _ = self.command("QUIT\r\n").await;
    }
}

/// RFC 3461 §4 xtext: "+" and "=" and anything outside printable ASCII as "+HH".
fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

fn has(caps: &[String], keyword: &str) -> bool {
    caps.iter().any(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case(keyword))
    })
}

impl ServerReply {
    fn ok(&self, code: u16, what: &str) -> Result<(), Failure> {
        if self.code == code {
            return Ok(());
        }
        Err(Failure {
            permanent: self.code >= 500,
            reason: format!("{what} answered {self}"),
        })
    }
}

/// Dot-stuffs CRLF content for DATA (RFC 5321 §4.5.2).
pub fn dot_stuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 8);
    let mut at_line_start = true;
    for &b in body {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xtext_encodes_plus_equals_and_non_printables() {
        assert_eq!(xtext("a+b=c d@x"), "a+2Bb+3Dc+20d@x");
    }

    #[test]
    fn stuffing() {
        assert_eq!(dot_stuff(b".a\r\nb\r\n.\r\n"), b"..a\r\nb\r\n..\r\n");
        assert_eq!(dot_stuff(b"x"), b"x\r\n");
        assert_eq!(dot_stuff(b""), b"");
    }
}
