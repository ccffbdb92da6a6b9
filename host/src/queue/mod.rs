//! Accepted messages: the durable [`spool`], the in-memory delivery [`schedule`], the
//! envelope that travels with each message, and the sample kept for replay ([`capture`]).

pub mod capture;
pub mod envelope;
pub mod quarantine;
pub mod schedule;
pub mod spool;

pub use envelope::{Envelope, Progress, QueueId};
pub use spool::{Location, Spool, SpoolError, Stored};
