//! Operator commands other than `serve`: plugin check and dry run, quarantine, queue, reload.

pub mod plugin;
pub mod quarantine;
pub mod queue;
