//! One SMTP connection: owns the socket, reads commands strictly framed, answers them, and
//! hands finished messages to the spool.
//!
//! Replies are buffered and flushed only when the session is about to wait for input, which
//! is what makes PIPELINING cheap: a client's whole command group is answered in one write.

use super::framing::{self, CommandLine};
use super::reply::{self, Reply};
use crate::capability::message::ParsedMessage;
use crate::config::Tenant;
use crate::net::MaybeTls;
use crate::pipeline::{Decision, HookInput, PipelineRun, Stage, Verdict};
use crate::reload::Generation;
use crate::server::Relay;
use smtp_proto::Request;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

pub type Conn = MaybeTls<TcpStream, tokio_rustls::server::TlsStream<TcpStream>>;

/// Why a session stopped reading.
#[derive(Debug)]
pub enum Ended {
    /// The peer closed the connection or it failed.
    Disconnected,
    /// A reply with `close` was sent.
    Closed,
    Timeout,
    Shutdown,
}

/// What the command loop asks its driver to do.
pub(super) enum Next {
    StartTls,
    End(Ended),
}

/// After EHLO/HELO.
pub(super) struct Helo {
    pub name: String,
    pub extended: bool,
}

/// After a successful AUTH.
pub(super) struct Login {
    pub user: String,
    pub tenant: Arc<Tenant>,
}

/// An open mail transaction (after MAIL FROM).
pub(super) struct Transaction {
    pub from: String,
    /// `None` only for a feedback-report transaction from a client that is no tenant (it may
    /// send to `[complaints] address` and nowhere else).
    pub tenant: Option<Arc<Tenant>>,
    /// True once the recipient is `[complaints] address`: the content is a feedback report
    /// to take, not mail to relay, and no other recipient may join.
    pub complaint: bool,
    pub rcpts: Vec<String>,
    pub smtputf8: bool,
    pub eight_bit: bool,
    /// DSN parameters (RFC 3461) from MAIL and RCPT.
    pub dsn: crate::queue::envelope::DsnRequest,
    pub require_tls: bool,
    /// Content received so far over BDAT.
    pub chunks: Option<super::data::Chunks>,
    /// Set when a policy asked, before DATA, to quarantine or discard the message.
    pub held: Option<Verdict>,
}

pub struct Session {
    pub(super) relay: Arc<Relay>,
    pub(super) conn: Conn,
    pub(super) peer: SocketAddr,
    /// Bytes read and not yet consumed.
    pub(super) input: Vec<u8>,
    /// Replies not yet written.
    output: Vec<u8>,
    closing: bool,
    pub(super) helo: Option<Helo>,
    /// "TLSv1.3 <cipher>" once TLS is up.
    pub(super) tls: Option<String>,
    pub(super) login: Option<Login>,
    pub(super) tx: Option<Transaction>,
    /// The configuration generation the session started on: config, plugin chains and TLS
    /// stay as they were for the whole session, whatever a reload does meanwhile.
    pub(super) live: Arc<Generation>,
    /// The tenant's chain for the current transaction, with its per-transaction state.
    pub(super) run: Option<(String, PipelineRun)>,
    /// When the current command's time runs out (RFC 5321 §4.5.3.2: 5 minutes by default).
    command_deadline: Instant,
    /// Cap on the whole session, so a slow drip cannot hold a slot for ever.
    session_deadline: Instant,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl Transaction {
    /// The tenant's name ("" in a feedback-report transaction from no tenant).
    pub fn tenant_name(&self) -> &str {
        self.tenant.as_ref().map_or("", |t| t.name.as_str())
    }
}

impl Session {
    pub fn new(
        relay: Arc<Relay>,
        live: Arc<Generation>,
        conn: Conn,
        peer: SocketAddr,
        tls: Option<String>,
    ) -> Session {
        let now = Instant::now();
        let timeouts = &live.config.timeouts;
        Session {
            command_deadline: now + timeouts.command,
            session_deadline: now + timeouts.session,
            shutdown: relay.shutdown.clone(),
            live,
            run: None,
            relay,
            conn,
            peer,
            input: Vec::with_capacity(4096),
            output: Vec::with_capacity(1024),
            closing: false,
            helo: None,
            tls,
            login: None,
            tx: None,
        }
    }

    /// Runs the session to its end: greeting, commands, STARTTLS upgrades.
    pub async fn serve(mut self) {
        let ended = match self.greet().await {
            Ok(()) => loop {
                match self.command_loop().await {
                    Next::End(e) => break e,
                    Next::StartTls => {
                        let peer = self.peer;
                        match self.upgrade().await {
                            Ok(s) => self = s,
                            Err(ended) => {
                                // The plaintext stream is gone; nothing more can be said.
                                tracing::debug!(%peer, ?ended, "session ended during TLS handshake");
                                return;
                            }
                        }
                    }
                }
            },
            Err(e) => e,
        };
        tracing::debug!(peer = %self.peer, ?ended, "session ended");
        let reply = match ended {
            Ended::Timeout => Some(reply::TIMEOUT),
            Ended::Shutdown => Some(reply::SHUTTING_DOWN),
            Ended::Closed | Ended::Disconnected => None,
        };
        if let Some(r) = reply {
            self.reply(r);
        }
        let _ = self.flush().await;
        let _ = self.conn.shutdown().await;
    }

    async fn greet(&mut self) -> Result<(), Ended> {
        let delay = self.live.config.limits.greeting_delay;
        if matches!(self.conn, MaybeTls::Plain(_)) {
            // A client that talks before the banner is not speaking SMTP (or is a spam bot).
            let spoke = if delay.is_zero() {
                self.try_read_now()
            } else {
                let mut probe = [0u8; 1];
                let MaybeTls::Plain(tcp) = &self.conn else {
                    unreachable!()
                };
                tokio::time::timeout(delay, tcp.peek(&mut probe))
                    .await
                    .is_ok()
            };
            if spoke {
                self.reply(reply::PREGREET);
                return Err(Ended::Closed);
            }
        }
        if let Err(r) = self.hook(Stage::Connect, None, None, None).await {
            // RFC 5321 §3.1: the only refusals a greeting may carry are 554 and 421, and
            // either ends the session.
            let code = if r.code >= 500 { 554 } else { 421 };
            self.reply(Reply { code, ..r }.closing());
            return Err(Ended::Closed);
        }
        let banner = format!("{} ESMTP Sluice", self.live.config.hostname);
        self.reply(Reply::dynamic(220, "", banner));
        Ok(())
    }

    fn try_read_now(&mut self) -> bool {
        let MaybeTls::Plain(tcp) = &self.conn else {
            return false;
        };
        let mut probe = [0u8; 1];
        matches!(tcp.try_read(&mut probe), Ok(n) if n > 0)
    }

    async fn upgrade(self) -> Result<Session, Ended> {
        let Some(acceptor) = self.live.tls.clone() else {
            return Err(Ended::Closed);
        };
        let MaybeTls::Plain(tcp) = self.conn else {
            return Err(Ended::Closed);
        };
        let handshake = tokio_rustls::TlsAcceptor::from(acceptor).accept(tcp);
        let stream =
            match tokio::time::timeout(self.live.config.timeouts.tls_handshake, handshake).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed");
                    return Err(Ended::Disconnected);
                }
                Err(_) => return Err(Ended::Timeout),
            };
        let tls = crate::net::describe_tls(stream.get_ref().1);
        let mut next = Session::new(
            self.relay,
            self.live,
            MaybeTls::Tls(Box::new(stream)),
            self.peer,
            Some(tls),
        );
        next.session_deadline = self.session_deadline;
        Ok(next)
    }

    /// Reads and answers commands until the session ends or asks for TLS.
    async fn command_loop(&mut self) -> Next {
        loop {
            if self.closing {
                return Next::End(Ended::Closed);
            }
            // After SIGTERM a session ends at its next command unless a transaction is open
            // (even if that command was already read).
            if self.tx.is_none() && *self.shutdown.borrow() {
                return Next::End(Ended::Shutdown);
            }
            match framing::command_line(&self.input) {
                CommandLine::Complete(len) => {
                    let line: Vec<u8> = self.input.drain(..len).collect();
                    match self.dispatch(&line).await {
                        Ok(Some(next)) => {
                            return match self.flush().await {
                                Ok(()) => next,
                                Err(e) => Next::End(e),
                            }
                        }
                        Ok(None) => {
                            self.command_deadline =
                                Instant::now() + self.live.config.timeouts.command
                        }
                        Err(e) => return Next::End(e),
                    }
                }
                CommandLine::Incomplete => {
                    if let Err(e) = self.read_more(self.command_deadline, true).await {
                        return Next::End(e);
                    }
                }
                CommandLine::TooLong => {
                    self.reply(reply::LINE_TOO_LONG);
                    if let Err(e) = self.skip_long_line().await {
                        return Next::End(e);
                    }
                }
                CommandLine::Malformed(_) => {
                    self.reply(reply::BAD_LINE_ENDING);
                }
            }
        }
    }

    /// Drops the rest of an overlong command line; the session stays usable.
    async fn skip_long_line(&mut self) -> Result<(), Ended> {
        loop {
            if let Some(n) = framing::rest_of_line(&self.input) {
                self.input.drain(..n);
                return Ok(());
            }
            self.input.clear();
            self.read_more(self.command_deadline, true).await?;
        }
    }

    async fn dispatch(&mut self, line: &[u8]) -> Result<Option<Next>, Ended> {
        if let Some(r) = super::params::check_arguments(line) {
            self.reply(r);
            return Ok(None);
        }
        // MAIL and RCPT: the path is read here, in its wire form; the parser sees the rest.
        let split = super::path::split(line);
        let for_parser = split.as_ref().map_or(line, |s| &s.for_parser[..]);
        let request = match Request::parse(&mut for_parser.iter()) {
            Ok(r) => r,
            Err(e) => {
                self.reply(parse_error(e));
                return Ok(None);
            }
        };
        if self.tx.as_ref().is_some_and(|t| t.chunks.is_some())
            && !matches!(
                request,
                Request::Bdat { .. } | Request::Rset | Request::Quit | Request::Noop { .. }
            )
        {
            // RFC 3030 §2: only BDAT, RSET, QUIT and NOOP may follow a non-last BDAT.
            self.reply(reply::BDAT_IN_PROGRESS);
            return Ok(None);
        }
        match request {
            Request::Ehlo { host } => self.ehlo(&host, true).await,
            Request::Helo { host } => self.ehlo(&host, false).await,
            Request::Lhlo { .. } => self.reply(reply::UNKNOWN_COMMAND),
            Request::Mail { from } => self.mail_from(from, split.as_ref()).await,
            Request::Rcpt { to } => self.rcpt_to(to, split.as_ref()).await,
            Request::Data => self.data().await?,
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size, is_last).await?,
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, &initial_response).await?,
            Request::StartTls => return Ok(self.starttls(line)),
            Request::Rset => {
                self.end_transaction();
                self.reply(reply::RESET);
            }
            Request::Noop { .. } => self.reply(reply::OK),
            Request::Quit => self.reply(reply::BYE),
            Request::Vrfy { .. } => self.reply(reply::VRFY),
            Request::Expn { .. } => self.reply(reply::EXPN),
            Request::Help { .. } => self.reply(reply::HELP),
            Request::Etrn { .. } | Request::Atrn { .. } | Request::Burl { .. } => {
                self.reply(reply::NOT_IMPLEMENTED)
            }
        }
        Ok(None)
    }

    /// Queues a reply as the whole answer to a command.
    pub(super) fn answer(&mut self, r: Reply) -> Result<(), Ended> {
        self.reply(r);
        Ok(())
    }

    /// Queues a reply; a closing reply ends the session after it is flushed.
    pub(super) fn reply(&mut self, r: Reply) {
        crate::metrics::get()
            .replies
            .with_label_values(&[crate::metrics::reply_class(r.code)])
            .inc();
        r.write_to(&mut self.output);
        self.closing |= r.close;
    }

    pub(super) async fn flush(&mut self) -> Result<(), Ended> {
        if self.output.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.output);
        let write = async {
            self.conn.write_all(&out).await?;
            self.conn.flush().await
        };
        let deadline = self.command_deadline.min(self.session_deadline);
        let result = tokio::time::timeout_at(deadline, write).await;
        self.output = out;
        self.output.clear();
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Ended::Disconnected),
            Err(_) => Err(Ended::Timeout),
        }
    }

    /// Flushes pending replies, then reads more input, waiting at most until `deadline` (and
    /// the session deadline). Between commands a shutdown ends the wait.
    pub(super) async fn read_more(
        &mut self,
        deadline: Instant,
        between_commands: bool,
    ) -> Result<(), Ended> {
        self.flush().await?;
        if self.closing {
            return Err(Ended::Closed);
        }
        let deadline = deadline.min(self.session_deadline);
        self.input.reserve(16 * 1024);
        let shutdown = &mut self.shutdown;
        let stop = async {
            if between_commands && shutdown.wait_for(|s| *s).await.is_ok() {
                return;
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            r = tokio::time::timeout_at(deadline, self.conn.read_buf(&mut self.input)) => match r {
                Ok(Ok(0)) | Ok(Err(_)) => Err(Ended::Disconnected),
                Ok(Ok(_)) => Ok(()),
                Err(_) => Err(Ended::Timeout),
            },
            _ = stop => Err(Ended::Shutdown),
        }
    }

    /// Ends the mail transaction and the policy state that went with it.
    pub(super) fn end_transaction(&mut self) {
        self.tx = None;
        self.run = None;
    }

    /// The tenant the session acts for now, if known.
    fn tenant(&self) -> Option<Arc<Tenant>> {
        if let Some(t) = self.tx.as_ref().and_then(|tx| tx.tenant.clone()) {
            return Some(t);
        }
        if let Some(l) = &self.login {
            return Some(l.tenant.clone());
        }
        self.live.config.trusted_tenant(self.peer.ip()).cloned()
    }

    /// Runs the tenant's pipeline for a stage; a rejection becomes the reply to send.
    /// Before the tenant is known (no AUTH yet, not a trusted network) no plugin runs.
    pub(super) async fn hook(
        &mut self,
        stage: Stage,
        rcpt: Option<&str>,
        message: Option<&Arc<ParsedMessage>>,
        queue_id: Option<&str>,
    ) -> Result<Decision, Reply> {
        let Some(tenant) = self.tenant() else {
            return Ok(Decision::proceed());
        };
        let mut run = match self.run.take() {
            Some((name, run)) if name == tenant.name => run,
            _ => {
                let pipeline = self.live.policies.for_tenant(&tenant.name);
                if pipeline.is_empty() {
                    return Ok(Decision::proceed());
                }
                pipeline.begin()
            }
        };
        let empty = Vec::new();
        let input = HookInput {
            stage,
            client_ip: self.peer.ip(),
            helo: self.helo.as_ref().map_or("", |h| h.name.as_str()),
            tenant: &tenant.name,
            auth_user: self.login.as_ref().map(|l| l.user.as_str()),
            tls: self.tls.as_deref(),
            mail_from: self.tx.as_ref().map(|t| t.from.as_str()),
            rcpts: self.tx.as_ref().map_or(&empty, |t| &t.rcpts),
            rcpt,
            message,
            queue_id,
        };
        let decision = run.run(&input).await;
        // Plugin instances live for a transaction. Before MAIL (connect, EHLO, AUTH) each
        // hook's instances go back at once, so a session idling between commands holds none.
        if self.tx.is_some() {
            self.run = Some((tenant.name.clone(), run));
        }
        match &decision.verdict {
            Verdict::Reject(r) | Verdict::Tempfail(r) => {
                tracing::info!(
                    target: "sluice::event", event = "policy_rejected", tenant = %tenant.name, stage = ?stage,
                    queue_id = queue_id.unwrap_or("-"), reply = %r, by = decision.explain.as_deref().unwrap_or("-"),
                );
                Err(r.clone())
            }
            Verdict::Quarantine(_) | Verdict::Discard if stage != Stage::Data => {
                // Remembered for the end of data; the transaction goes on.
                if let Some(tx) = &mut self.tx {
                    tx.held.get_or_insert(decision.verdict.clone());
                }
                Ok(Decision {
                    verdict: Verdict::Continue,
                    ..decision
                })
            }
            _ => Ok(decision),
        }
    }
}

fn parse_error(e: smtp_proto::Error) -> Reply {
    use smtp_proto::Error as E;
    match e {
        E::UnknownCommand => reply::UNKNOWN_COMMAND,
        E::InvalidSenderAddress => reply::BAD_SENDER,
        E::InvalidRecipientAddress => reply::BAD_RCPT,
        E::SyntaxError { syntax } => reply::syntax(syntax),
        E::InvalidParameter { .. } | E::UnsupportedParameter { .. } => reply::BAD_PARAMETER,
        E::NeedsMoreData { .. } | E::ResponseTooLong | E::InvalidResponse { .. } => {
            reply::syntax("command")
        }
    }
}
