//! AUTH PLAIN and LOGIN (RFC 4954, RFC 4616).

use super::framing::{self, CommandLine};
use super::reply::{self, Reply};
use super::session::{Ended, Login, Session};
use crate::auth::{Begin, Checked};
use crate::pipeline::Stage;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN};
use tokio::time::Instant;

enum Step<T> {
    Got(T),
    Refused(Reply),
}

impl Session {
    pub(super) async fn auth(&mut self, mechanism: u64, initial: &str) -> Result<(), Ended> {
        if self.login.is_some() {
            return self.answer(reply::AUTH_ALREADY);
        }
        if self.helo.is_none() {
            return self.answer(reply::NEED_HELO);
        }
        if self.tx.is_some() {
            return self.answer(reply::AUTH_IN_TRANSACTION);
        }
        let config = self.live.config.clone();
        if config.auth.require_tls && self.tls.is_none() {
            return self.answer(reply::ENCRYPTION_REQUIRED);
        }
        let ip = self.peer.ip();
        if self.relay.auth_failures.is_locked(ip, None) {
            return self.answer(reply::AUTH_LOCKED);
        }
        let credentials = match mechanism {
            AUTH_PLAIN => self.plain(initial).await?,
            AUTH_LOGIN => self.login_exchange(initial).await?,
            _ => return self.answer(reply::AUTH_MECHANISM),
        };
        let (user, password) = match credentials {
            Step::Got(c) => c,
            Step::Refused(r) => return self.answer(r),
        };
        // Counted while it is checked, so that attempts in flight at once cannot exceed the
        // allowance; waits for room (and then for a free checker) until one deadline.
        let relay = self.relay.clone();
        let deadline = Instant::now() + config.auth.check_wait;
        let pending = match relay.auth_failures.begin(ip, &user, deadline).await {
            Begin::Locked => return self.answer(reply::AUTH_LOCKED),
            Begin::Busy => return self.answer(reply::AUTH_BUSY),
            Begin::Started(p) => p,
        };
        // One argon2 verification whether or not the user exists: same code, same time.
        let account = config.user(&user).map(|(t, h)| (t.clone(), h.to_owned()));
        let hash = account.as_ref().map(|(_, h)| h.clone());
        let checked = relay.password_checks.verify(hash, password, deadline).await;
        match (checked, account) {
            (Checked::Valid, Some((tenant, _))) => {
                pending.succeeded();
                tracing::info!(peer = %self.peer, user = %user, tenant = %tenant.name, "authenticated");
                self.login = Some(Login { user, tenant });
                if let Err(r) = self.hook(Stage::Auth, None, None, None).await {
                    self.login = None;
                    return self.answer(r);
                }
                self.reply(reply::AUTH_OK);
            }
            (Checked::Busy, _) => {
                pending.abandoned();
                tracing::warn!(peer = %self.peer, user = %user, "no password check free in time");
                self.reply(reply::AUTH_BUSY);
            }
            _ => {
                tracing::warn!(peer = %self.peer, user = %user, "authentication failed");
                self.reply(if pending.failed() {
                    reply::AUTH_LOCKED
                } else {
                    reply::AUTH_FAILED
                });
            }
        }
        Ok(())
    }

    async fn plain(&mut self, initial: &str) -> Result<Step<(String, Vec<u8>)>, Ended> {
        let response = if initial.is_empty() {
            match self.challenge("").await? {
                Step::Got(r) => r,
                Step::Refused(r) => return Ok(Step::Refused(r)),
            }
        } else {
            match decode(initial) {
                Step::Got(r) => r,
                Step::Refused(r) => return Ok(Step::Refused(r)),
            }
        };
        // authzid NUL authcid NUL passwd; an authzid other than the user is not supported.
        let mut parts = response.splitn(3, |&b| b == 0);
        let (Some(authz), Some(user), Some(pass)) = (parts.next(), parts.next(), parts.next())
        else {
            return Ok(Step::Refused(reply::AUTH_BAD_BASE64));
        };
        let Ok(user) = String::from_utf8(user.to_vec()) else {
            return Ok(Step::Refused(reply::AUTH_FAILED));
        };
        if !authz.is_empty() && authz != user.as_bytes() {
            return Ok(Step::Refused(reply::AUTH_FAILED));
        }
        Ok(Step::Got((user, pass.to_vec())))
    }

    async fn login_exchange(&mut self, initial: &str) -> Result<Step<(String, Vec<u8>)>, Ended> {
        let user = if initial.is_empty() {
            self.challenge("VXNlcm5hbWU6").await?
        } else {
            decode(initial)
        };
        let user = match user {
            Step::Got(u) => u,
            Step::Refused(r) => return Ok(Step::Refused(r)),
        };
        let pass = match self.challenge("UGFzc3dvcmQ6").await? {
            Step::Got(p) => p,
            Step::Refused(r) => return Ok(Step::Refused(r)),
        };
        let Ok(user) = String::from_utf8(user) else {
            return Ok(Step::Refused(reply::AUTH_FAILED));
        };
        Ok(Step::Got((user, pass)))
    }

    /// Sends a 334 challenge and reads the client's base64 answer.
    async fn challenge(&mut self, text: &'static str) -> Result<Step<Vec<u8>>, Ended> {
        self.reply(Reply::new(334, "", text));
        let deadline = Instant::now() + self.live.config.timeouts.command;
        loop {
            match framing::command_line(&self.input) {
                CommandLine::Complete(len) => {
                    let line: Vec<u8> = self.input.drain(..len).collect();
                    let text = String::from_utf8_lossy(&line[..len - 2]).into_owned();
                    if text == "*" {
                        return Ok(Step::Refused(reply::AUTH_CANCELLED));
                    }
                    return Ok(decode(&text));
                }
                CommandLine::Incomplete => self.read_more(deadline, false).await?,
                CommandLine::TooLong => {
                    self.input.clear();
                    return Ok(Step::Refused(reply::LINE_TOO_LONG.closing()));
                }
                CommandLine::Malformed(_) => return Ok(Step::Refused(reply::BAD_LINE_ENDING)),
            }
        }
    }
}

fn decode(text: &str) -> Step<Vec<u8>> {
    if text == "=" {
        return Step::Got(Vec::new());
    }
    match B64.decode(text.trim()) {
        Ok(v) => Step::Got(v),
        Err(_) => Step::Refused(reply::AUTH_BAD_BASE64),
    }
}
