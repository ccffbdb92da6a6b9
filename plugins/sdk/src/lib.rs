//! The Sluice plugin SDK: a type holding the plugin's state, built once per instance from its
//! config by [`Plugin::init`]; the hooks you need as methods on it (the rest answer
//! "continue"); and `#[sluice_sdk::plugin]` on the impl block, which derives the list of hooks
//! the host calls from the methods you wrote and exports the plugin.
//!
//! ```ignore
//! use sluice_sdk::prelude::*;
//!
//! struct NoWords {
//!     words: Vec<String>,
//! }
//!
//! #[plugin]
//! impl Plugin for NoWords {
//!     fn init(config: &Config) -> Result<Self, ConfigError> {
//!         Ok(NoWords { words: config.list_or("words", "invoice") })
//!     }
//!
//!     fn on_data(&self, _session: &Session, message: &Message) -> Decision {
//!         let subject = message.subject().unwrap_or_default();
//!         match self.words.iter().find(|w| subject.contains(w.as_str())) {
//!             Some(w) => Decision::reject(550, "5.7.1", &format!("no {w} here")).rule("subject"),
//!             None => Decision::proceed(),
//!         }
//!     }
//! }
//! ```
//!
//! # Config, checked when the plugin loads
//! The host calls the plugin's `init` export once when it loads the plugin (at startup, in
//! `sluice check-config` and on every reload). The SDK runs [`Plugin::init`] with the config,
//! then refuses any key the operator set that `init` did not read ([`Config`] remembers
//! reads): a typo (`mesages_per_minute`) or a bad value (`threshold = "high"`) is refused then,
//! naming the plugin and the key, instead of failing or being ignored at every message. Read
//! every key you accept in `init`, and return a [`ConfigError`] rather than panicking.
//!
//! Each transaction gets a fresh instance (fresh memory): the SDK builds the state again
//! from the same config at the instance's first hook call, once, and every hook of the
//! instance borrows it (`&self`). Parse, compile and allocate in `init`, not in the hooks.
//!
//! # Hooks, derived
//! `#[plugin]` sets [`Plugin::HOOKS`] from the hook methods the block defines (`on_connect`,
//! `on_helo`, `on_auth`, `on_mail_from`, `on_rcpt_to`, `on_data`, `on_route`,
//! `on_delivery_result`), so a hook written is a hook the host calls, and one not written is
//! never called. Writing `HOOKS` yourself is a compile error. A block without `init` gets one
//! that reads no config (any key is then refused) and builds the type with `Default`.

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
pub use config::{Config, ConfigError};
pub use sluice_sdk_macros::plugin;

mod config;

/// Everything a plugin usually needs.
pub mod prelude {
    pub use super::{
        log, plugin, Attachment, Config, ConfigError, Decision, DeliveryOutcome, DeliveryResult,
        Hook, Level, Message, MxRoute, Plugin, Route, RouteRequest, Session, SmarthostRoute,
        TlsMode, Verdict,
    };
}

/// A policy plugin: its state, built by [`Plugin::init`], and the hooks it implements. Every
/// hook defaults to "continue"; put `#[sluice_sdk::plugin]` on the impl block.
///
/// The [`Session`] a hook gets is read through accessors (`session.mail_from()`,
/// `session.rcpt_count()`, …): each asks the host for that one field, so read what you need.
pub trait Plugin: Sized + 'static {
    /// The hooks the host calls: set by `#[plugin]` from the methods the impl defines.
    #[doc(hidden)]
    const HOOKS: &'static [Hook];

    /// Builds the plugin's state from its config: once when the plugin loads (an error
    /// refuses it, with the text, at startup, check-config or reload), then once in each
    /// instance before its first hook. Read every key the plugin accepts.
    fn init(config: &Config) -> Result<Self, ConfigError>;

    fn on_connect(&self, _session: &Session) -> Decision {
        Decision::proceed()
    }
    fn on_helo(&self, _session: &Session) -> Decision {
        Decision::proceed()
    }
    fn on_auth(&self, _session: &Session) -> Decision {
        Decision::proceed()
    }
    fn on_mail_from(&self, _session: &Session) -> Decision {
        Decision::proceed()
    }
    fn on_rcpt_to(&self, _session: &Session, _rcpt: String) -> Decision {
        Decision::proceed()
    }
    fn on_data(&self, _session: &Session, _message: &Message) -> Decision {
        Decision::proceed()
    }
    /// Where one recipient domain of a message goes; `None` leaves it to the next plugin.
    fn on_route(&self, _request: RouteRequest) -> Option<Route> {
        None
    }
    /// What became of one recipient in one delivery attempt.
    fn on_delivery_result(&self, _result: DeliveryResult) {}
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

/// Logs through the relay.
pub fn log(level: Level, message: &str) {
    host::log(level, message)
}

/// What `#[plugin]` expands to; not for direct use.
#[doc(hidden)]
pub mod __private {
    use super::{Config, Plugin};
    use std::cell::OnceCell;
    use std::thread::LocalKey;

    pub type State<P> = LocalKey<OnceCell<P>>;

    /// The `init` export: builds the state, refuses unread keys, keeps the state.
    pub fn init<P: Plugin>(state: &'static State<P>) -> Result<(), String> {
        let config = Config::from_host();
        let plugin = P::init(&config).map_err(|e| e.to_string())?;
        config.check_unknown().map_err(|e| e.to_string())?;
        state.with(|cell| {
            let _ = cell.set(plugin);
        });
        Ok(())
    }

    /// Runs a hook on the instance's state, built on first use. The config is the one that
    /// passed `init` at load, so building cannot fail unless `init` is not deterministic.
    pub fn with<P: Plugin, R>(state: &'static State<P>, hook: impl FnOnce(&P) -> R) -> R {
        state.with(|cell| {
            let plugin = cell.get_or_init(|| match P::init(&Config::from_host()) {
                Ok(p) => p,
                Err(e) => panic!("init failed in this instance after passing at load: {e}"),
            });
            hook(plugin)
        })
    }
}

/// Exports a [`Plugin`] as the component's hooks; `#[plugin]` writes it.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_plugin {
    ($plugin:ty) => {
        ::std::thread_local! {
            static __SLUICE_STATE: ::std::cell::OnceCell<$plugin> =
                const { ::std::cell::OnceCell::new() };
        }

        struct __SluiceExports;

        impl $crate::bindings::exports::sluice::policy::hooks::Guest for __SluiceExports {
            fn init() -> ::std::result::Result<(), ::std::string::String> {
                $crate::__private::init::<$plugin>(&__SLUICE_STATE)
            }
            fn implemented() -> ::std::vec::Vec<$crate::Hook> {
                <$plugin as $crate::Plugin>::HOOKS.to_vec()
            }
            fn on_connect(s: &$crate::Session) -> $crate::Decision {
                $crate::__private::with(&__SLUICE_STATE, |p| $crate::Plugin::on_connect(p, s))
            }
            fn on_helo(s: &$crate::Session) -> $crate::Decision {
                $crate::__private::with(&__SLUICE_STATE, |p| $crate::Plugin::on_helo(p, s))
            }
            fn on_auth(s: &$crate::Session) -> $crate::Decision {
                $crate::__private::with(&__SLUICE_STATE, |p| $crate::Plugin::on_auth(p, s))
            }
            fn on_mail_from(s: &$crate::Session) -> $crate::Decision {
                $crate::__private::with(&__SLUICE_STATE, |p| $crate::Plugin::on_mail_from(p, s))
            }
            fn on_rcpt_to(s: &$crate::Session, rcpt: ::std::string::String) -> $crate::Decision {
                $crate::__private::with(&__SLUICE_STATE, |p| $crate::Plugin::on_rcpt_to(p, s, rcpt))
            }
            fn on_data(s: &$crate::Session, m: &$crate::Message) -> $crate::Decision {
                $crate::__private::with(&__SLUICE_STATE, |p| $crate::Plugin::on_data(p, s, m))
            }
            fn on_route(r: $crate::RouteRequest) -> ::std::option::Option<$crate::Route> {
                $crate::__private::with(&__SLUICE_STATE, |p| $crate::Plugin::on_route(p, r))
            }
            fn on_delivery_result(o: $crate::DeliveryResult) {
                $crate::__private::with(&__SLUICE_STATE, |p| {
                    $crate::Plugin::on_delivery_result(p, o)
                })
            }
        }

        $crate::bindings::export_hooks!(__SluiceExports with_types_in $crate::bindings);
    };
}
