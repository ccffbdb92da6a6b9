//! MAIL FROM and RCPT TO: who may send, from which addresses, to how many recipients.

use super::params;
use super::path::{PathError, Split};
use super::reply::{self, Reply};
use super::session::{Session, Transaction};
use crate::pipeline::Stage;
use crate::queue::envelope::{DsnRequest, Notify, RcptDsn, Ret};
use smtp_proto::{
    MailFrom, RcptTo, MAIL_BODY_8BITMIME, MAIL_REQUIRETLS, MAIL_RET_FULL, MAIL_RET_HDRS,
    MAIL_SMTPUTF8, RCPT_NOTIFY_DELAY, RCPT_NOTIFY_FAILURE, RCPT_NOTIFY_NEVER, RCPT_NOTIFY_SUCCESS,
};
use std::borrow::Cow;

/// RFC 5321 §4.5.3.1: local part 64, domain 255, path 256 octets.
fn check_address(addr: &str, smtputf8: bool) -> Result<(), Reply> {
    if addr.len() > 254 {
        return Err(reply::ADDRESS_TOO_LONG);
    }
    let (local, domain) = addr.rsplit_once('@').unwrap_or((addr, ""));
    if local.len() > 64 || domain.len() > 255 {
        return Err(reply::ADDRESS_TOO_LONG);
    }
    if addr.chars().any(|c| c.is_control()) {
        return Err(reply::BAD_SENDER);
    }
    if !smtputf8 && !addr.is_ascii() {
        return Err(reply::NEED_SMTPUTF8);
    }
    Ok(())
}

/// The reply for a path that is not a usable mailbox.
fn path_reply(path: Option<&Split>, bad_syntax: Reply) -> Result<String, Reply> {
    match path.map(|s| &s.path) {
        Some(Ok(p)) => Ok(p.mailbox.clone()),
        Some(Err(PathError::SourceRoute)) => Err(reply::SOURCE_ROUTE),
        Some(Err(PathError::TooLong)) => Err(reply::ADDRESS_TOO_LONG),
        Some(Err(PathError::InvalidUtf8)) => Err(reply::INVALID_UTF8_ADDRESS),
        Some(Err(PathError::Syntax)) | None => Err(bad_syntax),
    }
}

/// NOTIFY and ORCPT of one RCPT (RFC 3461 §4.1, §4.2).
fn rcpt_dsn(to: &RcptTo<Cow<'_, str>>) -> Result<RcptDsn, Reply> {
    let f = to.flags;
    let notify = if f & RCPT_NOTIFY_NEVER != 0 {
        if f & (RCPT_NOTIFY_SUCCESS | RCPT_NOTIFY_FAILURE | RCPT_NOTIFY_DELAY) != 0 {
            return Err(reply::BAD_NOTIFY);
        }
        Some(Notify {
            success: false,
            failure: false,
            delay: false,
        })
    } else if f & (RCPT_NOTIFY_SUCCESS | RCPT_NOTIFY_FAILURE | RCPT_NOTIFY_DELAY) != 0 {
        Some(Notify {
            success: f & RCPT_NOTIFY_SUCCESS != 0,
            failure: f & RCPT_NOTIFY_FAILURE != 0,
            delay: f & RCPT_NOTIFY_DELAY != 0,
        })
    } else {
        None
    };
    // smtp-proto accepts only addr-type rfc822 and hands over the xtext-decoded address.
    let orcpt = match to.orcpt.as_deref() {
        None => None,
        Some(o) if o.len() <= 500 && !o.chars().any(char::is_control) => {
            Some(format!("rfc822;{o}"))
        }
        Some(_) => return Err(reply::BAD_ORCPT),
    };
    Ok(RcptDsn { notify, orcpt })
}

impl Session {
    pub(super) async fn mail_from(&mut self, from: MailFrom<Cow<'_, str>>, path: Option<&Split>) {
        if self.helo.is_none() {
            return self.reply(reply::NEED_HELO);
        }
        if self.tx.is_some() {
            return self.reply(reply::NESTED_MAIL);
        }
        let config = &self.live.config;
        // No open relay: the sender is a tenant by AUTH or by a trusted network, or nobody.
        let tenant = match &self.login {
            Some(l) => Some(l.tenant.clone()),
            None => match config.trusted_tenant(self.peer.ip()) {
                Some(t) => Some(t.clone()),
                // Feedback loops send without AUTH: with `[complaints] address` set, any
                // client may open a transaction whose one recipient is that address.
                None if config.complaints.is_some() => None,
                None => return self.reply(reply::AUTH_REQUIRED),
            },
        };
        let smtputf8 = from.flags & MAIL_SMTPUTF8 != 0;
        let address = match path_reply(path, reply::BAD_SENDER) {
            Ok(a) if a.is_empty() || a.contains('@') => a,
            Ok(_) => return self.reply(reply::BAD_SENDER),
            Err(r) => return self.reply(r),
        };
        if let Err(r) = params::check_mail(path.map_or("", |p| &p.params)) {
            return self.reply(r);
        }
        let address = address.as_str();
        if let Err(r) = check_address(address, smtputf8) {
            return self.reply(r);
        }
        if from.size as u64 > config.limits.max_message_size {
            return self.reply(reply::SIZE_EXCEEDED);
        }
        match self.relay.spool.free_space() {
            Ok(free) if free >= config.spool.min_free_space => {}
            Ok(_) => return self.reply(reply::DISK_LOW),
            Err(e) => {
                tracing::error!(error = %e, "cannot read free space on the spool filesystem");
                return self.reply(reply::DISK_LOW);
            }
        }
        if let Some(t) = tenant.as_ref().filter(|t| !t.owns_sender(address)) {
            if !address.is_empty() {
                return self.reply(reply::sender_not_owned(&t.name));
            }
        }
        let require_tls = from.flags & MAIL_REQUIRETLS != 0;
        if require_tls && self.tls.is_none() {
            return self.reply(reply::REQUIRETLS_WITHOUT_TLS);
        }
        let envid = from.env_id.as_deref().map(str::to_owned);
        if envid
            .as_deref()
            .is_some_and(|e| e.len() > 100 || !e.bytes().all(|b| (0x20..0x7f).contains(&b)))
        {
            return self.reply(reply::BAD_ENVID);
        }
        let ret = if from.flags & MAIL_RET_HDRS != 0 {
            Some(Ret::Hdrs)
        } else if from.flags & MAIL_RET_FULL != 0 {
            Some(Ret::Full)
        } else {
            None
        };
        self.tx = Some(Transaction {
            from: address.to_owned(),
            tenant,
            rcpts: Vec::new(),
            smtputf8,
            eight_bit: from.flags & MAIL_BODY_8BITMIME != 0,
            dsn: DsnRequest {
                ret,
                envid,
                rcpts: Default::default(),
            },
            require_tls,
            chunks: None,
            held: None,
            complaint: false,
        });
        if let Err(r) = self.hook(Stage::MailFrom, None, None, None).await {
            self.end_transaction();
            return self.reply(r);
        }
        self.reply(reply::SENDER_OK);
    }

    pub(super) async fn rcpt_to(&mut self, to: RcptTo<Cow<'_, str>>, path: Option<&Split>) {
        let Some(tx) = &self.tx else {
            return self.reply(reply::NEED_MAIL);
        };
        if tx.rcpts.len() >= self.live.config.limits.max_recipients {
            return self.reply(reply::TOO_MANY_RCPTS);
        }
        let address = match path_reply(path, reply::BAD_RCPT) {
            Ok(a) if a.eq_ignore_ascii_case("postmaster") => self.live.config.postmaster.clone(),
            Ok(a) if !a.is_empty() => a,
            Ok(_) => return self.reply(reply::BAD_RCPT),
            Err(r) => return self.reply(r),
        };
        if let Err(r) = params::check_rcpt(path.map_or("", |p| &p.params)) {
            return self.reply(r);
        }
        let address = address.as_str();
        if let Err(r) = check_address(address, tx.smtputf8) {
            return self.reply(if r == reply::BAD_SENDER {
                reply::BAD_RCPT
            } else {
                r
            });
        }
        let complaints = self
            .live
            .config
            .complaints
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(&crate::suppress::address::key(address)));
        if complaints || tx.complaint || tx.tenant.is_none() {
            return self.complaint_rcpt(complaints, address.to_owned());
        }
        if tx.rcpts.iter().any(|r| r.eq_ignore_ascii_case(address)) {
            return self.reply(reply::RCPT_OK);
        }
        let dsn = match rcpt_dsn(&to) {
            Ok(d) => d,
            Err(r) => return self.reply(r),
        };
        let tenant = tx.tenant_name().to_owned();
        let address = address.to_owned();
        match self
            .relay
            .suppressions
            .enforce(&tenant, &address, "smtp")
            .await
        {
            Ok(None) => {}
            Ok(Some(entry)) => {
                return self.reply(reply::suppressed(
                    &address,
                    entry.reason.name(),
                    &entry.since(),
                ))
            }
            Err(_) => return self.reply(reply::SUPPRESSIONS_UNAVAILABLE),
        }
        if let Err(r) = self.hook(Stage::RcptTo, Some(&address), None, None).await {
            return self.reply(r);
        }
        if let Some(tx) = &mut self.tx {
            if dsn != RcptDsn::default() {
                tx.dsn.rcpts.insert(address.clone(), dsn);
            }
            tx.rcpts.push(address);
        }
        self.reply(reply::RCPT_OK);
    }
}

impl Session {
    /// RCPT in a transaction that is, or would become, a feedback-report one: the complaints
    /// address is taken as its only recipient; anything else is refused, as it would have
    /// been at MAIL for a client that is no tenant.
    fn complaint_rcpt(&mut self, complaints: bool, address: String) {
        let Some(tx) = &mut self.tx else { return };
        let r = if complaints && (tx.rcpts.is_empty() || tx.complaint) {
            tx.complaint = true;
            if !tx.rcpts.contains(&address) {
                tx.rcpts.push(address);
            }
            reply::RCPT_OK
        } else if tx.tenant.is_none() {
            reply::AUTH_REQUIRED
        } else {
            reply::COMPLAINT_ALONE
        };
        self.reply(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_limits() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(
            check_address(&long_local, false),
            Err(reply::ADDRESS_TOO_LONG)
        );
        assert_eq!(
            check_address("jörg@example.com", false),
            Err(reply::NEED_SMTPUTF8)
        );
        assert_eq!(check_address("jörg@example.com", true), Ok(()));
        assert_eq!(check_address("a@example.com", false), Ok(()));
    }
}
