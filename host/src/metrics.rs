//! Prometheus metrics, served as text at the admin API's `/metrics`.
//!
//! One registry per process. Every label takes its values from a bounded set: listener
//! addresses, tenant and plugin names come from the config, never from a client; reply
//! classes, outcomes, stages, failure kinds and bounce categories are fixed lists.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::sync::LazyLock;

pub struct Metrics {
    registry: Registry,
    /// Sessions in progress, by listener address.
    pub sessions_open: IntGaugeVec,
    /// Sessions accepted since start, by listener address.
    pub sessions_total: IntCounterVec,
    /// SMTP replies sent, by class (`2xx`, `3xx`, `4xx`, `5xx`).
    pub replies: IntCounterVec,
    /// Messages committed to the spool, by tenant.
    pub messages_accepted: IntCounterVec,
    /// Their bytes, by tenant.
    pub bytes_accepted: IntCounterVec,
    /// From handing a message to the spool to its group commit being on disk.
    pub spool_commit_seconds: Histogram,
    /// Messages the queue holds (set when scraped).
    pub queue_depth: IntGauge,
    /// Recipient delivery attempts, by outcome (`delivered`, `deferred`, `failed`).
    pub delivery_attempts: IntCounterVec,
    /// Recipient delivery attempts that did not deliver, by outcome (`deferred`, `bounced`,
    /// `expired`) and category (`bad_mailbox`, … — `delivery::classify::Category`).
    pub delivery_failures: IntCounterVec,
    /// Plugin hook calls, by tenant, plugin and stage.
    pub plugin_calls: IntCounterVec,
    /// Plugin hook failures, by tenant, plugin and kind (trap, timeout, memory, invalid,
    /// breaker).
    pub plugin_failures: IntCounterVec,
    /// Verdicts other than continue, by tenant, plugin, verdict (accept, reject, tempfail,
    /// quarantine, discard) and mode: `enforced`, or `shadow` for what a shadow plugin would
    /// have done — the counts to compare before taking a plugin out of shadow mode.
    pub plugin_verdicts: IntCounterVec,
    /// What shadow-mode plugins would have decided against what the chain enforced at the
    /// same stage, by tenant, plugin, would-be verdict and enforced verdict (`continue`: let
    /// through). Only would-be verdicts the plugin gave or tagged are counted.
    pub plugin_shadow_verdicts: IntCounterVec,
    /// How long a plugin's hook calls take (instance, breaker check and the call itself), by
    /// tenant and plugin: the console's latency percentiles.
    pub plugin_seconds: HistogramVec,
    /// The configuration generation serving (1 at start, +1 per reload).
    pub config_generation: IntGauge,
    // ---- Events and webhooks ----
    /// Webhook POSTs by tenant, webhook name and outcome (`delivered`, `refused`, `timeout`,
    /// `failed`; `dropped` for events given up after `webhook_retry_for`).
    pub webhook_deliveries: IntCounterVec,
    /// Events waiting for a webhook endpoint (held for it or still in the journal).
    pub webhook_backlog: IntGaugeVec,
    /// Calls to the shared state server (`[cluster]`), by outcome (`ok`, `unavailable`).
    pub cluster_calls: IntCounterVec,
    /// Their round-trip time.
    pub cluster_seconds: Histogram,
    /// 1 while the shared state server answers (or none is configured), 0 after a failure.
    pub cluster_up: IntGauge,
    /// Suppression lookups the shared server could not answer, by what was done instead
    /// (`local`: this node's list; `tempfail`: 451 4.3.0), per `cluster.suppressions_on_unavailable`.
    pub suppression_fallbacks: IntCounterVec,
    /// Suppression changes made on this node while the shared server was unavailable, not yet
    /// sent to it.
    pub suppression_pending: IntGauge,
    // ---- Traffic shaping ----
    /// Shaping rules that acted, by provider (`none` for a destination of no provider) and
    /// action (`suspend`, `throttle`, `bounce`).
    pub shaping_actions: IntCounterVec,
    /// Messages held back untried, by provider and why (`suspended`, `rate`, `connections`,
    /// `unavailable`).
    pub shaping_held: IntCounterVec,
    /// Suspensions in force that this node knows of (set when scraped).
    pub shaping_suspended: IntGauge,
    /// Throttles in force that this node knows of (set when scraped).
    pub shaping_throttled: IntGauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let sessions_open = IntGaugeVec::new(
            Opts::new("sluice_sessions_open", "SMTP sessions in progress"),
            &["listener"],
        )
        .expect("valid metric");
        r.register(Box::new(sessions_open.clone()))
            .expect("unique metric");
        let spool_commit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "sluice_spool_commit_seconds",
                "Time from handing a message to the spool until it is on disk",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )
        .expect("valid metric");
        r.register(Box::new(spool_commit_seconds.clone()))
            .expect("unique metric");
        let cluster_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "sluice_cluster_seconds",
                "Round trips to the shared state server",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
            ]),
        )
        .expect("valid metric");
        r.register(Box::new(cluster_seconds.clone()))
            .expect("unique metric");
        let plugin_seconds = HistogramVec::new(
            HistogramOpts::new("sluice_plugin_seconds", "Plugin hook calls, by duration").buckets(
                vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    0.5, 1.0, 2.5,
                ],
            ),
            &["tenant", "plugin"],
        )
        .expect("valid metric");
        r.register(Box::new(plugin_seconds.clone()))
            .expect("unique metric");
        let cluster_up = gauge(
            &r,
            "sluice_cluster_up",
            "1 while the shared state server answers",
        );
        cluster_up.set(1);
        Metrics {
            sessions_open,
            sessions_total: counter(
                &r,
                "sluice_sessions_total",
                "SMTP sessions accepted",
                &["listener"],
            ),
            replies: counter(
                &r,
                "sluice_replies_total",
                "SMTP replies sent, by class",
                &["class"],
            ),
            messages_accepted: counter(
                &r,
                "sluice_messages_accepted_total",
                "Messages committed to the spool",
                &["tenant"],
            ),
            bytes_accepted: counter(
                &r,
                "sluice_bytes_accepted_total",
                "Bytes of messages committed to the spool",
                &["tenant"],
            ),
            spool_commit_seconds,
            queue_depth: gauge(&r, "sluice_queue_depth", "Messages in the queue"),
            delivery_attempts: counter(
                &r,
                "sluice_delivery_attempts_total",
                "Recipient delivery attempts, by outcome",
                &["outcome"],
            ),
            delivery_failures: counter(
                &r,
                "sluice_delivery_failures_total",
                "Recipient delivery attempts that did not deliver, by outcome and category",
                &["outcome", "category"],
            ),
            plugin_calls: counter(
                &r,
                "sluice_plugin_calls_total",
                "Plugin hook calls",
                &["tenant", "plugin", "stage"],
            ),
            plugin_failures: counter(
                &r,
                "sluice_plugin_failures_total",
                "Plugin hook failures, by kind",
                &["tenant", "plugin", "kind"],
            ),
            plugin_verdicts: counter(
                &r,
                "sluice_plugin_verdicts_total",
                "Plugin verdicts other than continue, enforced or (shadow mode) would-be",
                &["tenant", "plugin", "verdict", "mode"],
            ),
            plugin_shadow_verdicts: counter(
                &r,
                "sluice_plugin_shadow_verdicts_total",
                "Shadow-mode plugin verdicts, would-be against enforced at the same stage",
                &["tenant", "plugin", "verdict", "enforced"],
            ),
            plugin_seconds,
            config_generation: gauge(
                &r,
                "sluice_config_generation",
                "The configuration generation serving",
            ),
            webhook_deliveries: counter(
                &r,
                "sluice_webhook_deliveries_total",
                "Webhook POSTs, by outcome; dropped: events given up",
                &["tenant", "webhook", "outcome"],
            ),
            webhook_backlog: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "sluice_webhook_backlog",
                        "Events waiting for a webhook endpoint",
                    ),
                    &["tenant", "webhook"],
                )
                .expect("valid metric");
                r.register(Box::new(g.clone())).expect("unique metric");
                g
            },
            cluster_calls: counter(
                &r,
                "sluice_cluster_calls_total",
                "Calls to the shared state server, by outcome",
                &["outcome"],
            ),
            cluster_seconds,
            cluster_up,
            suppression_fallbacks: counter(
                &r,
                "sluice_suppression_fallbacks_total",
                "Suppression lookups the shared server could not answer, by fallback",
                &["fallback"],
            ),
            suppression_pending: gauge(
                &r,
                "sluice_suppression_pending",
                "Suppression changes not yet sent to the shared server",
            ),
            shaping_actions: counter(
                &r,
                "sluice_shaping_actions_total",
                "Traffic shaping rules that acted, by provider and action",
                &["provider", "action"],
            ),
            shaping_held: counter(
                &r,
                "sluice_shaping_held_total",
                "Messages held back untried by traffic shaping, by provider and why",
                &["provider", "reason"],
            ),
            shaping_suspended: gauge(
                &r,
                "sluice_shaping_suspended",
                "Traffic shaping suspensions in force",
            ),
            shaping_throttled: gauge(
                &r,
                "sluice_shaping_throttled",
                "Traffic shaping throttles in force",
            ),
            registry: r,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The class label of a reply code: `2xx` for 250.
pub fn reply_class(code: u16) -> &'static str {
    match code / 100 {
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}
