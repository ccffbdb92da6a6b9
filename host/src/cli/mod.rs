//! Operator commands other than `serve`: plugin check and dry run, quarantine, queue, DKIM
//! keys, domain checks, suppression lists, and the admin API's client (reload, queue changes,
//! tokens).

pub mod admin;
pub mod dkim;
pub mod domain;
pub mod plugin;
pub mod quarantine;
pub mod queue;
pub mod suppression;
