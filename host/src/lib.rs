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
//! - [`server`]: listeners, connection limits, graceful shutdown.
//! - [`reload`]: the configuration generation in force and how a reload replaces it.
//! - [`admin`]: the admin HTTP API (health, readiness, metrics, status, reload, queue);
//!   [`metrics`]: the Prometheus registry it serves.
//! - [`api`]: the application API (HTTP sending, events, suppressions) under tenants' keys.
//! - [`suppress`]: per-tenant suppression lists (durable, enforced at RCPT, filled from hard
//!   bounces and feedback-loop complaints).
//! - [`plugin`], [`capability`]: the WebAssembly runtime and the host functions it offers.
//! - [`cluster`]: state shared by several nodes through Valkey/Redis (plugin counters).
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
pub mod delivery;
pub mod dkim;
pub mod https;
pub mod metrics;
pub mod net;
pub mod pipeline;
pub mod plugin;
pub mod queue;
pub mod reload;
pub mod server;
pub mod smtp;
pub mod suppress;
pub mod tls;
