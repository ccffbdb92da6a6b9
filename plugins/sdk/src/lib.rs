//! The Sluice plugin SDK: implement [`Plugin`] for the hooks you need (the rest answer
//! "continue"), then `sluice_sdk::export_plugin!(MyPlugin);`.
//!
//! ```ignore
//! use sluice_sdk::prelude::*;
//!
//! struct NoInvoices;
//!
//! impl Plugin for NoInvoices {
//!     const HOOKS: &'static [Hook] = &[Hook::Data];
//!     fn on_data(_session: &Session, message: &Message) -> Decision {
//!         match message.subject() {
//!             Some(s) if s.contains("invoice") => Decision::reject(550, "5.7.1", "no invoices here").rule("subject"),
//!             _ => Decision::proceed(),
//!         }
//!     }
//! }
//!
//! sluice_sdk::export_plugin!(NoInvoices);
//! ```

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "sluice:policy/policy",
        default_bindings_module: "sluice_sdk::bindings",
        pub_export_macro: true,
        export_macro_name: "export_hooks",
    });
}

pub use bindings::sluice::policy::host::{self, Message, Session};
pub use bindings::sluice::policy::types::{
    Attachment, Decision, DeliveryOutcome, DeliveryResult, Header, Hook, Level, MxRoute, Route,
    RouteRequest, SmarthostRoute, SmtpReply, TlsMode, Verdict,
};

/// Everything a plugin usually needs.
pub mod prelude {
    pub use super::{
        config, log, Attachment, Decision, DeliveryOutcome, DeliveryResult, Hook, Level, Message,
        MxRoute, Plugin, Route, RouteRequest, Session, SmarthostRoute, TlsMode, Verdict,
    };
}

/// A policy plugin. Every hook defaults to "continue"; list the ones you implement in
/// [`Plugin::HOOKS`] so the host calls only those.
///
/// The [`Session`] a hook gets is read through accessors (`session.mail_from()`,
/// `session.rcpt_count()`, …): each asks the host for that one field, so read what you need.
pub trait Plugin {
    const HOOKS: &'static [Hook];

    /// Runs once when the relay loads the plugin. Panic (after logging why) to have the
    /// host refuse a bad config at load time instead of at the first message.
    fn validate() {}

    fn on_connect(_session: &Session) -> Decision {
        Decision::proceed()
    }
    fn on_helo(_session: &Session) -> Decision {
        Decision::proceed()
    }
    fn on_auth(_session: &Session) -> Decision {
        Decision::proceed()
    }
    fn on_mail_from(_session: &Session) -> Decision {
        Decision::proceed()
    }
    fn on_rcpt_to(_session: &Session, _rcpt: String) -> Decision {
        Decision::proceed()
    }
    fn on_data(_session: &Session, _message: &Message) -> Decision {
        Decision::proceed()
    }
    /// Where one recipient domain of a message goes; `None` leaves it to the next plugin.
    fn route(_request: RouteRequest) -> Option<Route> {
        None
    }
    /// What became of one recipient in one delivery attempt.
    fn delivery_result(_result: DeliveryResult) {}
}

impl Decision {
    fn of(verdict: Verdict) -> Decision {
        Decision {
            verdict,
            add_headers: Vec::new(),
            tags: Vec::new(),
            rule: None,
        }
    }
    /// No opinion: the next plugin decides.
    pub fn proceed() -> Decision {
        Decision::of(Verdict::Continue)
    }
    pub fn accept() -> Decision {
        Decision::of(Verdict::Accept)
    }
    /// A permanent refusal; `code` should be 5xx.
    pub fn reject(code: u16, enhanced: &str, text: &str) -> Decision {
        Decision::of(Verdict::Reject(SmtpReply {
            code,
            enhanced: enhanced.into(),
            text: text.into(),
        }))
    }
    /// A temporary refusal; `code` should be 4xx.
    pub fn tempfail(code: u16, enhanced: &str, text: &str) -> Decision {
        Decision::of(Verdict::Tempfail(SmtpReply {
            code,
            enhanced: enhanced.into(),
            text: text.into(),
        }))
    }
    pub fn quarantine(reason: &str) -> Decision {
        Decision::of(Verdict::Quarantine(reason.into()))
    }
    pub fn discard() -> Decision {
        Decision::of(Verdict::Discard)
    }
    /// Names the rule that decided, for the log and the SMTP reply.
    pub fn rule(mut self, rule: &str) -> Decision {
        self.rule = Some(rule.into());
        self
    }
    /// Adds a header to the message (data hook).
    pub fn header(mut self, name: &str, value: &str) -> Decision {
        self.add_headers.push(Header {
            name: name.into(),
            value: value.into(),
        });
        self
    }
    /// Tags the message.
    pub fn tag(mut self, tag: &str) -> Decision {
        self.tags.push(tag.into());
        self
    }
}

/// This plugin's config value for `key`, from the operator's file.
pub fn config(key: &str) -> Option<String> {
    host::config(key)
}

/// Logs through the relay.
pub fn log(level: Level, message: &str) {
    host::log(level, message)
}

/// Exports a [`Plugin`] implementation as the component's hooks.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        struct __SluiceExports;

        impl $crate::bindings::exports::sluice::policy::hooks::Guest for __SluiceExports {
            fn implemented() -> ::std::vec::Vec<$crate::Hook> {
                <$plugin as $crate::Plugin>::validate();
                <$plugin as $crate::Plugin>::HOOKS.to_vec()
            }
            fn on_connect(s: &$crate::Session) -> $crate::Decision {
                <$plugin as $crate::Plugin>::on_connect(s)
            }
            fn on_helo(s: &$crate::Session) -> $crate::Decision {
                <$plugin as $crate::Plugin>::on_helo(s)
            }
            fn on_auth(s: &$crate::Session) -> $crate::Decision {
                <$plugin as $crate::Plugin>::on_auth(s)
            }
            fn on_mail_from(s: &$crate::Session) -> $crate::Decision {
                <$plugin as $crate::Plugin>::on_mail_from(s)
            }
            fn on_rcpt_to(s: &$crate::Session, rcpt: ::std::string::String) -> $crate::Decision {
                <$plugin as $crate::Plugin>::on_rcpt_to(s, rcpt)
            }
            fn on_data(s: &$crate::Session, m: &$crate::Message) -> $crate::Decision {
                <$plugin as $crate::Plugin>::on_data(s, m)
            }
            fn on_route(r: $crate::RouteRequest) -> ::std::option::Option<$crate::Route> {
                <$plugin as $crate::Plugin>::route(r)
            }
            fn on_delivery_result(o: $crate::DeliveryResult) {
                <$plugin as $crate::Plugin>::delivery_result(o)
            }
        }

        $crate::bindings::export_hooks!(__SluiceExports with_types_in $crate::bindings);
    };
}
