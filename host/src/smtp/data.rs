//! DATA and BDAT: receive the content, check it, add trace headers, commit it to the spool
//! and only then answer 250.

use super::framing::{ContentDecoder, Progress, Violation};
use super::headers::{Trace, Via};
use super::reply::{self, Reply};
use super::session::{Ended, Session};
use crate::capability::message::ParsedMessage;
use crate::config::resolved::BareLineEndings;
use crate::pipeline::Stage;
use crate::queue::capture;
use crate::queue::envelope::unix_now;
use crate::queue::{Envelope, QueueId};
use crate::submit::{self, Outcome};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::time::Instant;

/// Content received so far over BDAT.
pub(super) struct Chunks {
    decoder: ContentDecoder,
    body: Vec<u8>,
}

fn content_error(v: Option<Violation>) -> Option<Reply> {
    Some(match v? {
        Violation::TooBig => reply::SIZE_EXCEEDED,
        Violation::Nul => reply::NUL_IN_CONTENT,
        Violation::LineTooLong => reply::CONTENT_LINE_TOO_LONG,
        Violation::BareLf | Violation::BareCr => reply::BARE_LINE_ENDING,
    })
}

impl Session {
    fn decoder(&self, dot_framing: bool) -> ContentDecoder {
        let limits = &self.live.config.limits;
        let normalize = limits.bare_line_endings == BareLineEndings::Normalize;
        if dot_framing {
            ContentDecoder::data(limits.max_message_size, normalize)
        } else {
            ContentDecoder::chunks(limits.max_message_size, normalize)
        }
    }

    fn data_deadline(&self) -> Instant {
        Instant::now() + self.live.config.timeouts.data_block
    }

    pub(super) async fn data(&mut self) -> Result<(), Ended> {
        match &self.tx {
            None => return self.answer(reply::NEED_MAIL_FIRST),
            Some(tx) if tx.rcpts.is_empty() => return self.answer(reply::NO_VALID_RCPTS),
            Some(_) => {}
        }
        if !self.input.is_empty() {
            // RFC 2920 §3.1: DATA ends a pipelined group; content before 354 is a protocol error.
            self.end_transaction();
            return self.answer(reply::PIPELINED_DATA);
        }
        self.reply(reply::START_DATA);
        let mut decoder = self.decoder(true);
        let mut body = Vec::with_capacity(8 * 1024);
        loop {
            match decoder.feed(&self.input, &mut body) {
                Progress::Done { consumed } => {
                    self.input.drain(..consumed);
                    break;
                }
                Progress::Abort { violation, .. } => {
                    // Nothing after a bare line ending may be read as SMTP: reject and close.
                    tracing::info!(peer = %self.peer, ?violation, "message rejected: bare line ending in DATA");
                    self.input.clear();
                    self.end_transaction();
                    return self.answer(reply::BARE_LINE_ENDING);
                }
                Progress::NeedMore => {
                    self.input.clear();
                    self.read_more(self.data_deadline(), false).await?;
                }
            }
        }
        if let Some(r) = content_error(decoder.violation()) {
            self.end_transaction();
            return self.answer(r);
        }
        self.finish(body).await;
        Ok(())
    }

    pub(super) async fn bdat(&mut self, size: usize, last: bool) -> Result<(), Ended> {
        let refusal = match &self.tx {
            None => Some(reply::NEED_MAIL_FIRST),
            Some(tx) if tx.rcpts.is_empty() => Some(reply::NEED_RCPT),
            Some(_) => None,
        };
        let mut chunks = match refusal {
            None => Some(
                self.tx
                    .as_mut()
                    .and_then(|t| t.chunks.take())
                    .unwrap_or_else(|| Chunks {
                        decoder: self.decoder(false),
                        body: Vec::with_capacity(size.min(1 << 20)),
                    }),
            ),
            Some(_) => None,
        };
        // The chunk's bytes are consumed whatever the answer, to stay in step with the client.
        let mut remaining = size;
        loop {
            let take = remaining.min(self.input.len());
            if let Some(c) = &mut chunks {
                c.decoder.feed(&self.input[..take], &mut c.body);
            }
            self.input.drain(..take);
            remaining -= take;
            if remaining == 0 {
                break;
            }
            self.read_more(self.data_deadline(), false).await?;
        }
        let (Some(mut chunks), None) = (chunks, refusal.clone()) else {
            return self.answer(refusal.unwrap_or(reply::NEED_MAIL_FIRST));
        };
        if chunks.decoder.violation() == Some(Violation::TooBig) {
            self.end_transaction();
            return self.answer(reply::SIZE_EXCEEDED);
        }
        if !last {
            if let Some(tx) = &mut self.tx {
                tx.chunks = Some(chunks);
            }
            return self.answer(reply::chunk_received(size));
        }
        chunks.decoder.finish_chunks(&mut chunks.body);
        if let Some(r) = content_error(chunks.decoder.violation()) {
            self.end_transaction();
            // Length framing is unambiguous, so a bad BDAT message need not end the session.
            return self.answer(Reply { close: false, ..r });
        }
        self.finish(chunks.body).await;
        Ok(())
    }

    /// Adds trace headers, runs the data hook, commits to the spool, then answers.
    async fn finish(&mut self, body: Vec<u8>) {
        let Some(tx) = &self.tx else { return };
        if tx.complaint {
            self.end_transaction();
            let r = crate::suppress::complaint::take_smtp(
                &self.relay.suppressions,
                &self.live.config,
                &body,
            )
            .await;
            return self.reply(r);
        }
        let config = self.live.config.clone();
        let id = QueueId::generate();
        let now = SystemTime::now();
        let trace = Trace {
            helo: self.helo.as_ref().map_or("unknown", |h| h.name.as_str()),
            client_ip: self.peer.ip(),
            hostname: &config.hostname,
            queue_id: &id.0,
            via: Via::Smtp {
                esmtp: self.helo.as_ref().is_some_and(|h| h.extended),
            },
            tls: self.tls.as_deref(),
            auth: self
                .login
                .as_ref()
                .map(|l| (l.user.as_str(), l.tenant.name.as_str())),
            rcpts: &tx.rcpts,
        };
        let message = submit::stamp(&trace.received(now), &body, &id, &config.hostname, now);
        // A sample of the tenant's mail, as the client sent it, for `sluice replay`.
        let sample = capture::sample(
            self.tx
                .as_ref()
                .and_then(|tx| tx.tenant.as_ref())
                .and_then(|t| t.capture.as_ref()),
            &body,
        );
        drop(body);

        let parsed = ParsedMessage::new(Arc::new(message));
        let decision = match self
            .hook(Stage::Data, None, Some(&parsed), Some(&id.0))
            .await
        {
            Ok(d) => d,
            Err(r) => {
                self.end_transaction();
                return self.reply(r);
            }
        };
        let message = parsed.into_raw();
        self.run = None;
        let Some(tx) = self.tx.take() else { return };
        let envelope = Envelope {
            id: id.clone(),
            tenant: tx.tenant_name().to_owned(),
            mail_from: tx.from,
            rcpts: tx.rcpts,
            received_at: unix_now(),
            attempts: 0,
            client_ip: self.peer.ip().to_string(),
            helo: self.helo.as_ref().map_or(String::new(), |h| h.name.clone()),
            auth_user: self.login.as_ref().map(|l| l.user.clone()),
            tls: self.tls.clone(),
            smtputf8: tx.smtputf8,
            eight_bit: tx.eight_bit,
            tags: Vec::new(),
            dsn: tx.dsn,
            require_tls: tx.require_tls,
            delay_notified: false,
            progress: Default::default(),
            api: None,
        };
        match submit::commit(&self.relay, envelope, message, decision, tx.held, sample).await {
            Outcome::Failed(r) => self.reply(r),
            Outcome::Queued | Outcome::Quarantined | Outcome::Discarded => {
                self.reply(reply::queued(&id.0))
            }
        }
    }
}
