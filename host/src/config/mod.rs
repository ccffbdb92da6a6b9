//! Operator configuration: one TOML file.
//!
//! [`raw`] mirrors the file (serde, `deny_unknown_fields`, human strings such as `"30s"` and
//! `"10MB"` parsed while deserializing so a bad value names its key and line); [`resolved`]
//! is what the relay runs on, validated as a whole (password hashes parse, paths make sense);
//! [`reference`] documents every key, generated from [`raw`].

pub mod raw;
pub mod reference;
pub mod resolved;
pub mod routes;
pub mod units;

pub use resolved::{Config, ConfigError, DeliveryMode, DnsConfig, Pool, SmarthostTls, Tenant};
