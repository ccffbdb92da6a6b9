//! The outbound SMTP client: EHLO, STARTTLS, PIPELINING, one connection reused for many
//! messages. Replies and the EHLO list are parsed by smtp-proto (through [`Reader`]) into
//! typed replies that travel unchanged to the events, the spool and the DSNs.

use super::reply::{Cause, Parsed, Reader, RemoteReply, Response, Status};
use super::RcptOutcome;
use crate::config::SmarthostTls;
use crate::net::MaybeTls;
use crate::queue::envelope::{Envelope, Ret};
use rustls::pki_types::ServerName;
use smtp_proto::{EhloResponse, EXT_DSN, EXT_PIPELINING, EXT_REQUIRE_TLS, EXT_START_TLS};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

type Stream = BufReader<MaybeTls<TcpStream, tokio_rustls::client::TlsStream<TcpStream>>>;

/// A failure of the connection or the session as a whole; every recipient of the message
/// shares it: the next hop's reply (a 5xx greeting, a refused STARTTLS) or what went wrong
/// on the way (refused, timed out, closed).
#[derive(Debug, Clone)]
pub struct Failure(pub Response);

impl Failure {
    fn local(cause: Cause, status: Status, text: impl Into<String>) -> Failure {
        Failure(Response::local(cause, status, text))
    }

    pub fn is_permanent(&self) -> bool {
        self.0.is_permanent()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// RFC 3463 statuses of the failures met on the way to a reply.
const NO_ANSWER: Status = Status::new(4, 4, 1);
const BAD_CONNECTION: Status = Status::new(4, 4, 2);
const PROTOCOL: Status = Status::new(4, 5, 0);
const NO_TLS: Status = Status::new(4, 7, 4);
const TLS_FAILED: Status = Status::new(4, 7, 5);
const LOCAL_CONFIG: Status = Status::new(4, 3, 5);

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
        .map_err(|e| Failure::local(Cause::Config, LOCAL_CONFIG, format!("socket: {e}")))?;
        if let Some(source) = t.source {
            socket.bind(SocketAddr::new(source, 0)).map_err(|e| {
                Failure::local(
                    Cause::Config,
                    LOCAL_CONFIG,
                    format!("cannot send from {source}: {e}"),
                )
            })?;
        }
        let tcp = tokio::time::timeout(s.connect_timeout, socket.connect(t.addr))
            .await
            .map_err(|_| {
                Failure::local(
                    Cause::Timeout,
                    NO_ANSWER,
                    format!("connect to {peer} timed out"),
                )
            })?
            .map_err(|e| {
                Failure::local(Cause::Connect, NO_ANSWER, format!("connect to {peer}: {e}"))
            })?;
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
        c.expect(220).await?;
        let caps = c.ehlo(&s.helo).await?;
        let offers_tls = caps.has_capability(EXT_START_TLS);
        match (t.tls, offers_tls) {
            (SmarthostTls::None, _) | (SmarthostTls::Opportunistic, false) => {
                c.pipelining = caps.has_capability(EXT_PIPELINING);
                c.dsn = caps.has_capability(EXT_DSN);
            }
            (SmarthostTls::Required, false) => {
                let _ = c.command("QUIT\r\n").await;
                return Err(Failure::local(
                    Cause::Tls,
                    NO_TLS,
                    format!("{} does not offer STARTTLS and TLS is required", c.peer),
                ));
            }
            (policy, true) => {
                let r = c.command("STARTTLS\r\n").await?;
                expect_code(r, 220)?;
                let config = if policy == SmarthostTls::Required {
                    &s.verifying
                } else {
                    &s.opportunistic
                };
                c = c.start_tls(t.name, config).await?;
                let caps = c.ehlo(&s.helo).await?;
                c.pipelining = caps.has_capability(EXT_PIPELINING);
                c.dsn = caps.has_capability(EXT_DSN);
                c.requiretls =
                    policy == SmarthostTls::Required && caps.has_capability(EXT_REQUIRE_TLS);
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
            return Err(Failure::local(
                Cause::Tls,
                TLS_FAILED,
                "STARTTLS on a TLS connection",
            ));
        };
        let server_name = ServerName::try_from(name.to_owned()).map_err(|e| {
            Failure::local(
                Cause::Tls,
                TLS_FAILED,
                format!("bad TLS server name {name}: {e}"),
            )
        })?;
        let connector = tokio_rustls::TlsConnector::from(config.clone());
        let tls = tokio::time::timeout(self.timeout, connector.connect(server_name, tcp))
            .await
            .map_err(|_| {
                Failure::local(
                    Cause::Timeout,
                    BAD_CONNECTION,
                    format!("TLS handshake with {} timed out", self.peer),
                )
            })?
            .map_err(|e| {
                Failure::local(
                    Cause::Tls,
                    TLS_FAILED,
                    format!("TLS handshake with {} failed: {e}", self.peer),
                )
            })?;
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

    /// EHLO, and the extensions of the answer as smtp-proto reads them. An extension line
    /// it cannot read leaves the list empty (logged): plain SMTP still works.
    async fn ehlo(&mut self, helo: &str) -> Result<EhloResponse<String>, Failure> {
        self.write(format!("EHLO {helo}\r\n").as_bytes()).await?;
        let Parsed { reply, raw } = self.read_parsed().await?;
        expect_code(reply, 250)?;
        Ok(extensions(&raw).unwrap_or_else(|e| {
            tracing::warn!(peer = %self.peer, error = ?e, "unreadable EHLO extensions; using none");
            EhloResponse::default()
        }))
    }

    async fn command(&mut self, line: &str) -> Result<RemoteReply, Failure> {
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
            .map_err(|_| {
                Failure::local(
                    Cause::Timeout,
                    BAD_CONNECTION,
                    format!("write to {} timed out", self.peer),
                )
            })?
            .map_err(|e| {
                Failure::local(
                    Cause::ConnectionLost,
                    BAD_CONNECTION,
                    format!("write to {}: {e}", self.peer),
                )
            })
    }

    async fn expect(&mut self, code: u16) -> Result<RemoteReply, Failure> {
        let r = self.read_reply().await?;
        expect_code(r, code)
    }

    async fn read_reply(&mut self) -> Result<RemoteReply, Failure> {
        Ok(self.read_parsed().await?.reply)
    }

    /// One whole reply, read as it arrives; the bytes after it stay buffered for the next.
    async fn read_parsed(&mut self) -> Result<Parsed, Failure> {
        let mut reader = Reader::default();
        loop {
            let bytes = tokio::time::timeout(self.timeout, self.stream.fill_buf())
                .await
                .map_err(|_| {
                    Failure::local(
                        Cause::Timeout,
                        BAD_CONNECTION,
                        format!("{} did not answer in time", self.peer),
                    )
                })?
                .map_err(|e| {
                    Failure::local(
                        Cause::ConnectionLost,
                        BAD_CONNECTION,
                        format!("read from {}: {e}", self.peer),
                    )
                })?;
            if bytes.is_empty() {
                return Err(Failure::local(
                    Cause::ConnectionLost,
                    BAD_CONNECTION,
                    format!("{} closed the connection", self.peer),
                ));
            }
            let (used, done) = reader.feed(bytes, &self.peer);
            self.stream.consume(used);
            match done {
                None => continue,
                Some(Ok(parsed)) => return Ok(parsed),
                Some(Err(e)) => {
                    return Err(Failure::local(
                        Cause::Protocol,
                        PROTOCOL,
                        format!("{} sent {e}", self.peer),
                    ))
                }
            }
        }
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
            if m.is_positive() {
                for r in &rcpt_lines {
                    rr.push(self.command(r).await?);
                }
            }
            let any = rr.iter().any(RemoteReply::is_positive);
            let d = if any {
                Some(self.command("DATA\r\n").await?)
            } else {
                None
            };
            (m, rr, d)
        };

        let shared = |r: &RemoteReply| RcptOutcome::failure(Response::Remote(r.clone()));
        if !mail_reply.is_positive() {
            self.reset_after(data_reply.as_ref()).await?;
            return Ok(rcpts.iter().map(|_| shared(&mail_reply)).collect());
        }
        let mut outcomes: Vec<Option<RcptOutcome>> = rcpt_replies
            .iter()
            .map(|r| {
                if r.is_positive() {
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
                let fill = if end.is_positive() {
                    RcptOutcome::Delivered(Response::Remote(end))
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
                o.unwrap_or_else(|| {
                    RcptOutcome::Deferred(Response::local(Cause::Protocol, PROTOCOL, "no reply"))
                })
            })
            .collect())
    }

    /// Puts the connection back to a clean state after a failed transaction.
    async fn reset_after(&mut self, data_reply: Option<&RemoteReply>) -> Result<(), Failure> {
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

/// The extensions of a 250 EHLO reply as received.
fn extensions(raw: &[u8]) -> Result<EhloResponse<String>, smtp_proto::Error> {
    EhloResponse::parse(&mut raw.iter())
}

/// The reply when it has the expected code; a failure carrying it when not.
fn expect_code(r: RemoteReply, code: u16) -> Result<RemoteReply, Failure> {
    if r.code == code {
        Ok(r)
    } else {
        Err(Failure(Response::Remote(r)))
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

    /// EHLO answers as real servers give them.
    #[test]
    fn ehlo_extensions_of_real_servers() {
        let gmail = "250-mx.google.com at your service, [192.0.2.1]\r\n250-SIZE 157286400\r\n250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";
        let outlook = "250-AM4PEPF00027A5F.mail.protection.outlook.com Hello [192.0.2.1]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";
        let postfix = "250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-REQUIRETLS\r\n250 CHUNKING\r\n";
        let bare = "250 mx.example.net\r\n";
        for (raw, tls, pipelining, dsn, requiretls) in [
            (gmail, true, true, false, false),
            (outlook, true, true, true, false),
            (postfix, true, true, true, true),
            (bare, false, false, false, false),
        ] {
            let e = extensions(raw.as_bytes()).unwrap_or_else(|e| panic!("{e:?}: {raw}"));
            assert_eq!(e.has_capability(EXT_START_TLS), tls, "{raw}");
            assert_eq!(e.has_capability(EXT_PIPELINING), pipelining, "{raw}");
            assert_eq!(e.has_capability(EXT_DSN), dsn, "{raw}");
            assert_eq!(e.has_capability(EXT_REQUIRE_TLS), requiretls, "{raw}");
        }
    }

    #[test]
    fn stuffing() {
        assert_eq!(dot_stuff(b".a\r\nb\r\n.\r\n"), b"..a\r\nb\r\n..\r\n");
        assert_eq!(dot_stuff(b"x"), b"x\r\n");
        assert_eq!(dot_stuff(b""), b"");
    }
}
