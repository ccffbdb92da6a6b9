//! The ESMTP server: one [`session::Session`] per connection, a file per verb, framing and
//! replies kept free of I/O in the `sluice-wire` crate (`host/wire`).

pub mod headers;
pub mod session;
pub use sluice_wire::{framing, reply};

mod auth;
mod data;
mod ehlo;
mod envelope;
use sluice_wire::{params, path};
mod starttls;

pub use session::Session;
