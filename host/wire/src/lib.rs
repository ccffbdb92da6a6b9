//! The SMTP wire syntax of Sluice, free of I/O: what a session reads (command lines, DATA and
//! BDAT content, MAIL/RCPT paths and parameters), the replies it writes, and the header fields
//! policies add to messages.
//!
//! It is its own crate because it has a second consumer: the coverage-guided fuzz targets in
//! `fuzz/`, which build it without the relay (and without wasmtime).

pub mod framing;
pub mod header;
pub mod params;
pub mod path;
pub mod reply;
