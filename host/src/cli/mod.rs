//! Operator commands other than `serve`: plugin check and dry run, quarantine, reload.

pub mod plugin;
pub mod quarantine;
