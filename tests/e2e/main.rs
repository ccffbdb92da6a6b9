//! End-to-end tests: the real `sluice` binary on loopback, real clients (swaks, Python's
//! smtplib), real next hops (aiosmtpd), and a raw transcript client for hostile input.

/// Addresses kept in their wire form: quoted local parts, escapes, UTF-8.
mod addresses;
/// The admin API: health, readiness, tokens and scopes, status, reload, metrics.
mod admin;
/// The application API: keys and scopes, sending, events, suppressions.
mod api;
/// AUTH under a burst of hostile clients: bounded password checks, memory, lockouts.
mod auth;
/// Bounce classification from real reply texts, in events, metrics, the queue and DSNs.
mod bounces;
/// The operator CLI: config validation and password hashing.
mod cli;
/// Several nodes sharing plugin counters through a real Redis server.
mod cluster;
/// Suppression lists shared by several nodes through a real Redis server.
mod cluster_suppressions;
/// Strict command arguments and MAIL/RCPT parameters.
mod commands;
/// The admin console in headless Chromium: login, overview, queue, quarantine, read-only.
mod console;
/// DKIM signing verified by dkimpy; `sluice domain check`.
mod dkim;
/// What a durable relay promises: 250 means on disk, crashes and restarts lose nothing.
mod durability;
/// Command and content framing: line limits, bare LF/CR, smuggling, pre-greeting talk.
mod framing;
/// Size, recipient, address, connection and time limits.
mod limits;
/// Delivery through MX records from a real DNS server: fallbacks, DSNs, expiry, pools.
mod mx;
/// The admin API's OpenAPI document against the router and the real answers.
mod openapi;
/// WebAssembly policy plugins: verdicts, hostile guests, isolation, shadow mode, reload.
mod plugins;
/// Whole sessions generated at random from a seed: well-formed replies, nothing lost or invented.
mod random_sessions;
/// No open relay: AUTH, tenants, sender domains, trusted networks.
mod relaying;
/// `sluice replay`: saved messages under a candidate and the current config, nothing sent.
mod replay;
/// The plugin sandbox: a hostile plugin cannot grow the relay, slip past its breaker or forge
/// the log, while another tenant's mail flows.
mod sandbox;
/// Sending through the application API: MIME, raw messages, plugin verdicts, errors,
/// idempotency, durability.
mod send_api;
/// Traffic shaping against a real sink behind real DNS: a 421 suspends the destination and it
/// recovers, a bounce rule, a message-rate limit, a suspension shared by two nodes on Redis.
mod shaping;
/// The plugins that ship in plugins/: volume-limits, content-filter.
mod shipped;
/// Plugin instance slots: held only during a transaction, a bounded share per tenant.
mod slots;
/// Delivery to a smarthost: pipelining, STARTTLS, retries.
mod smarthost;
/// Real clients submitting mail: swaks and smtplib, STARTTLS, implicit TLS, CHUNKING.
mod submission;
/// Suppression lists: RCPT refusals, hard bounces, ARF complaints, both APIs, CSV, the CLI.
mod suppressions;
/// STARTTLS state rules, including CVE-2011-0411 (plaintext pipelined after STARTTLS).
mod tls;
/// Events: the journal, signed webhooks from its outbox (receiver down, 500s, slow, kill -9
/// of the relay), `GET /v1/events`, tenants kept apart.
mod webhooks;
