//! The SMTP session as a plugin sees it: the `session` resource. Each instance keeps one
//! [`SessionInfo`] in its store, brought up to date before every hook with only what changed;
//! the guest's accessors copy out just the field they ask for.

use crate::pipeline::HookInput;
use std::net::{IpAddr, Ipv4Addr};

/// The host type of the `session` resource. An instance serves one SMTP session, so every
/// handle it is given means its store's [`SessionInfo`]; the handle carries no data.
pub struct SessionView;

/// What the host knows of the SMTP session at the current hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub client_ip: IpAddr,
    pub helo: String,
    pub tenant: String,
    pub auth_user: Option<String>,
    pub tls: Option<String>,
    pub mail_from: Option<String>,
    pub rcpts: Vec<String>,
}

impl Default for SessionInfo {
    fn default() -> SessionInfo {
        SessionInfo {
            client_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            helo: String::new(),
            tenant: String::new(),
            auth_user: None,
            tls: None,
            mail_from: None,
            rcpts: Vec::new(),
        }
    }
}

impl SessionInfo {
    /// Brings the record up to date with `input`, copying only what changed since the last
    /// hook (recipients are appended as they are accepted).
    pub fn update(&mut self, input: &HookInput<'_>) {
        fn set(field: &mut String, value: &str) {
            if field != value {
                value.clone_into(field);
            }
        }
        fn set_opt(field: &mut Option<String>, value: Option<&str>) {
            if field.as_deref() != value {
                *field = value.map(str::to_owned);
            }
        }
        self.client_ip = input.client_ip;
        set(&mut self.helo, input.helo);
        set(&mut self.tenant, input.tenant);
        set_opt(&mut self.auth_user, input.auth_user);
        set_opt(&mut self.tls, input.tls);
        set_opt(&mut self.mail_from, input.mail_from);
        if !input.rcpts.starts_with(&self.rcpts) {
            self.rcpts.clear();
        }
        let known = self.rcpts.len();
        self.rcpts.extend_from_slice(&input.rcpts[known..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Stage;

    fn input<'a>(rcpts: &'a [String], from: Option<&'a str>) -> HookInput<'a> {
        HookInput {
            stage: Stage::RcptTo,
            client_ip: "192.0.2.7".parse().unwrap(),
            helo: "app.example",
            tenant: "acme",
            auth_user: Some("app"),
            tls: None,
            mail_from: from,
            rcpts,
            rcpt: None,
            message: None,
            queue_id: None,
        }
    }

    #[test]
    fn follows_the_transaction_and_a_reset() {
        let mut s = SessionInfo::default();
        let two = ["a@x.example".to_string(), "b@x.example".to_string()];
        s.update(&input(&two[..1], Some("f@y.example")));
        s.update(&input(&two, Some("f@y.example")));
        assert_eq!(s.rcpts, two);
        assert_eq!(s.mail_from.as_deref(), Some("f@y.example"));
        assert_eq!(s.client_ip.to_string(), "192.0.2.7");
        // RSET and a new transaction: other recipients, no sender yet.
        let other = ["c@x.example".to_string()];
        s.update(&input(&other, None));
        assert_eq!(s.rcpts, other);
        assert_eq!(s.mail_from, None);
    }
}
