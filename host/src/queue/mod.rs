//! Accepted messages: the durable [`spool`], the in-memory delivery [`schedule`], and the
//! envelope that travels with each message.

pub mod envelope;
pub mod quarantine;
pub mod schedule;
pub mod spool;

pub use envelope::{Envelope, Progress, QueueId};
pub use spool::{Location, Spool, SpoolError, Stored};
