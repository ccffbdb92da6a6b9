//! Sluice: a transactional-email SMTP relay whose policies run as sandboxed WebAssembly
//! components.
//!
//! # Layout
//! - [`config`]: the operator's TOML file, raw (serde) and resolved (validated).
//! - [`smtp`]: the ESMTP server — framing and replies without I/O, one session per
//!   connection, one file per verb.
//! - [`auth`]: password checks and the AUTH failure limiter.
//! - [`pipeline`]: the policy chain consulted at each SMTP stage and at routing.
//! - [`queue`]: the durable spool (group-committed log) and the delivery schedule.
//! - [`delivery`]: workers and transports (Maildir, smarthost over SMTP with STARTTLS), typed
//!   replies, bounce classification, DSNs.
//! - [`submit`]: taking a message in, for SMTP and the HTTP API alike: policy stages, trace
//!   headers, the data verdict, the durable commit.
//! - [`delivery`]: workers and transports (Maildir, smarthost over SMTP with STARTTLS).
//! - [`server`]: listeners, connection limits, graceful shutdown.
//! - [`reload`]: the configuration generation in force and how a reload replaces it.
//! - [`admin`]: the admin HTTP API (health, readiness, metrics, status, reload, queue);
//!   [`metrics`]: the Prometheus registry it serves; [`console`]: the browser pages on the
//!   same listener, and the outcome time series they chart.
//! - [`api`]: the application API (HTTP sending, events, suppressions) under tenants' keys.
//! - [`events`]: the event journal fed by `sluice::event` tracing events, webhooks from it.
//! - [`suppress`]: per-tenant suppression lists (durable, enforced at RCPT, filled from hard
//!   bounces and feedback-loop complaints).
//! - [`plugin`], [`capability`]: the WebAssembly runtime and the host functions it offers.
//! - [`cluster`]: state shared by several nodes through Valkey/Redis (plugin counters, pool
//!   caps, suppression lists).
//! - [`cli`]: operator commands other than `serve`; [`dkim`]: signing keys.
//! - [`tls`], [`net`]: rustls set-up and the plain-or-TLS stream; [`https`]: the HTTP
//!   listeners over TLS.

pub mod admin;
pub mod api;
pub mod auth;
pub mod capability;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod console;
pub mod delivery;
pub mod dkim;
pub mod events;
pub mod https;
pub mod metrics;
pub mod net;
pub mod pipeline;
pub mod plugin;
pub mod queue;
pub mod reload;
pub mod server;
pub mod smtp;
pub mod submit;
pub mod suppress;
pub mod tls;
