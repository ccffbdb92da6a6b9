//! Operator commands other than `serve`: plugin check and dry run, quarantine, queue, DKIM
//! keys, domain checks, suppression lists, the admin API's client (reload, queue changes,
//! tokens), and replay of saved messages through candidate policies.

pub mod admin;
pub mod dkim;
pub mod domain;
pub mod plugin;
pub mod quarantine;
pub mod queue;
pub mod replay;
pub mod suppression;
pub mod transaction;
