//! The ESMTP server: one [`session::Session`] per connection, a file per verb, framing and
//! replies kept free of I/O.

pub mod framing;
pub mod headers;
pub mod reply;
pub mod session;

mod auth;
mod data;
mod ehlo;
mod envelope;
mod params;
mod path;
mod starttls;

pub use session::Session;
