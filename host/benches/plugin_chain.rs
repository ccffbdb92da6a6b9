//! Per-message cost of a tenant's plugin chain: instantiation plus every hook the plugins
//! implement (mail-from, rcpt-to, data) on a typical 5 KB message, for 0, 1 and 4 Rust plugins
//! and for the Python plugin. The host's one MIME parse is done before timing (it is shared
//! by the chain and paid once per message whatever the number of plugins).
//!
//! Run: `make plugins && cargo bench -p sluice --bench plugin_chain`. Prints a Markdown table.

use sluice::capability::message::ParsedMessage;
use sluice::config::resolved::{FailureAction, FailurePolicy, PluginSpec};
use sluice::pipeline::{HookInput, Pipeline, Policy, Stage};
use sluice::plugin::engine::{EngineSettings, PluginEngine};
use sluice::plugin::policy::WasmPolicy;
use sluice::plugin::registry;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MESSAGES: usize = 3000;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_owned()
}

fn spec(name: &str, path: PathBuf, config: &[(&str, &str)]) -> PluginSpec {
    PluginSpec {
        name: name.into(),
        path,
        config: Arc::new(
            config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
        ),
        on_failure: FailurePolicy::all(FailureAction::Tempfail),
        shadow: false,
        timeout: Duration::from_secs(5),
        memory: 64 << 20,
        reuse: 0,
        keep_idle: 0,
        max_age: Duration::from_secs(600),
        retire_memory: 16 << 20,
        breaker_cooldown: Duration::from_secs(30),
        max_counters: sluice::capability::counters::DEFAULT_MAX_COUNTERS,
        routes: Default::default(),
    }
}

fn message() -> Arc<ParsedMessage> {
    let mut m = String::from(
        "From: Shop <orders@shop.example>\r\nTo: buyer@dest.example\r\nSubject: Your receipt #12345\r\n\
         Message-ID: <r12345@shop.example>\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n",
    );
    while m.len() < 5000 {
        m.push_str("Thank you for your order. Item: blue widget, quantity 1, price 9.99 EUR. https://shop.example/o/12345\r\n");
    }
    let parsed = ParsedMessage::new(Arc::new(m.into_bytes()));
    let _ = sluice::capability::message::MessageView(parsed.clone()).subject();
    parsed
}

async fn per_message(chain: &Pipeline, msg: &Arc<ParsedMessage>) -> Vec<Duration> {
    per_message_of(chain, std::slice::from_ref(msg), MESSAGES, true).await
}

/// Times `count` messages (after 100 warm-up ones) cycling through `msgs`.
async fn per_message_of(
    chain: &Pipeline,
    msgs: &[Arc<ParsedMessage>],
    count: usize,
    must_pass: bool,
) -> Vec<Duration> {
    let rcpts = vec!["buyer@dest.example".to_string()];
    let mut times = Vec::with_capacity(count);
    for i in 0..count + 100 {
        let msg = &msgs[i % msgs.len()];
        let started = Instant::now();
        let mut run = chain.begin();
        for (stage, rcpt) in [
            (Stage::MailFrom, None),
            (Stage::RcptTo, Some("buyer@dest.example")),
            (Stage::Data, None),
        ] {
            let input = HookInput {
                stage,
                client_ip: "127.0.0.1".parse().unwrap(),
                helo: "app.example",
                tenant: "bench",
                auth_user: Some("bench"),
                tls: None,
                mail_from: Some("orders@shop.example"),
                rcpts: &rcpts,
                rcpt,
                message: (stage == Stage::Data).then_some(msg),
                queue_id: Some("BENCH"),
            };
            let d = run.run(&input).await;
            assert!(
                !must_pass
                    || matches!(
                        d.verdict,
                        sluice::pipeline::Verdict::Continue | sluice::pipeline::Verdict::Accept
                    ),
                "{d:?}"
            );
        }
        drop(run);
        if i >= 100 {
            times.push(started.elapsed());
        }
    }
    times.sort();
    times
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let fixtures = workspace().join("target/wasm32-wasip2/release");
    let python = workspace().join("target/python/keyword_policy.wasm");
    assert!(
        fixtures.join("fixture_verdicts.wasm").exists(),
        "run `make plugins` first"
    );
    let cache = std::env::temp_dir().join("sluice-bench-cache");
    let engine = PluginEngine::new(EngineSettings {
        cache_writes: true,
        cache_dir: cache,
        // Fewer slots (so less address space) for valgrind: SLUICE_BENCH_SLOTS=2.
        max_instances: std::env::var("SLUICE_BENCH_SLOTS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(100),
        max_memory: 256 << 20,
        fuel: false,
    })
    .unwrap();
    let rust = [
        spec("verdicts", fixtures.join("fixture_verdicts.wasm"), &[]),
        spec(
            "counter",
            fixtures.join("fixture_counter.wasm"),
            &[("limit", "1000000000")],
        ),
        spec(
            "hostile-idle",
            fixtures.join("fixture_hostile.wasm"),
            &[("mode", "none")],
        ),
        spec(
            "verdicts-2",
            fixtures.join("fixture_verdicts.wasm"),
            &[("blocked_sender", "x@y.example")],
        ),
    ];
    let mut loaded = Vec::new();
    let mut reusing = Vec::new();
    for s in rust {
        // The same plugins with the default `instance = "reuse"` (instances kept between
        // transactions), for the rows that show what the default's fresh instance costs.
        let kept = PluginSpec {
            reuse: 1000,
            keep_idle: 64,
            ..s.clone()
        };
        loaded.push(
            registry::load(&engine, "bench", s, registry::TenantShare::unshared())
                .await
                .unwrap(),
        );
        reusing.push(
            registry::load(&engine, "bench", kept, registry::TenantShare::unshared())
                .await
                .unwrap(),
        );
    }
    let chain_of = |plugins: &[Arc<registry::LoadedPlugin>], n: usize| -> Pipeline {
        Pipeline::new(
            plugins
                .iter()
                .take(n)
                .map(|p| Arc::new(WasmPolicy::new(p.clone())) as Arc<dyn Policy>)
                .collect(),
        )
    };
    let chain = |n: usize| chain_of(&loaded, n);
    let msg = message();
    if std::env::var("SLUICE_BENCH_SPLIT").is_ok() {
        use sluice::plugin::instance::PluginInstance;
        let p = &loaded[0];
        let mut inst_t = Vec::new();
        let mut call_t = Vec::new();
        let mut drop_t = Vec::new();
        let mut call2_t = Vec::new();
        for _ in 0..2000 {
            let t = Instant::now();
            let mut i = PluginInstance::new(p, None).await.unwrap();
            inst_t.push(t.elapsed());
            let t = Instant::now();
            i.call(sluice::plugin::wit::Hook::MailFrom, None, None)
                .await
                .unwrap();
            call_t.push(t.elapsed());
            let t = Instant::now();
            i.call(sluice::plugin::wit::Hook::MailFrom, None, None)
                .await
                .unwrap();
            call2_t.push(t.elapsed());
            let t = Instant::now();
            drop(i);
            drop_t.push(t.elapsed());
        }
        for (n, mut v) in [
            ("instantiate", inst_t),
            ("first call", call_t),
            ("second call", call2_t),
            ("drop", drop_t),
        ] {
            v.sort();
            println!("{n}: median {:.1} µs", micros(v[v.len() / 2]));
        }
        return;
    }
    if std::env::var("SLUICE_BENCH_ONE").is_ok() {
        // One plugin only, for profilers (perf, callgrind).
        let t = per_message(&chain(1), &msg).await;
        println!("1 plugin: median {:.1} µs", micros(t[t.len() / 2]));
        return;
    }
    println!("| chain | median µs/message | p99 µs/message | median µs per plugin |");
    println!("|---|---|---|---|");
    for n in [0usize, 1, 4] {
        let t = per_message(&chain(n), &msg).await;
        let (med, p99) = (micros(t[t.len() / 2]), micros(t[t.len() * 99 / 100]));
        let per = if n == 0 {
            "-".to_string()
        } else {
            format!("{:.1}", med / n as f64)
        };
        println!("| {n} Rust plugin(s), `instance = \"fresh\"` | {med:.1} | {p99:.1} | {per} |");
    }
    for n in [1usize, 4] {
        let t = per_message(&chain_of(&reusing, n), &msg).await;
        let (med, p99) = (micros(t[t.len() / 2]), micros(t[t.len() * 99 / 100]));
        println!(
            "| {n} Rust plugin(s), `instance = \"reuse\"` (default) | {med:.1} | {p99:.1} | {:.1} |",
            med / n as f64
        );
    }
    shipped_on_corpus(&engine).await;
    if python.exists() {
        let p = registry::load(
            &engine,
            "bench",
            spec("keywords", python, &[("keywords", "casino,crypto")]),
            registry::TenantShare::unshared(),
        )
        .await
        .unwrap();
        let t = per_message(&Pipeline::new(vec![Arc::new(WasmPolicy::new(p))]), &msg).await;
        println!(
            "| 1 Python plugin (componentize-py) | {:.1} | {:.1} | {:.1} |",
            micros(t[t.len() / 2]),
            micros(t[t.len() * 99 / 100]),
            micros(t[t.len() / 2])
        );
    }
}

/// Each shipped plugin alone over the marketing detector's labelled corpus (174 messages,
/// cycled), and the router's routing hook; each fresh per transaction (the default) and with
/// `reuse = 1000` (its state, built by `init` once per instance, then outlives the message).
async fn shipped_on_corpus(engine: &Arc<PluginEngine>) {
    let release = workspace().join("target/wasm32-wasip2/release");
    let corpus = workspace().join("plugins/marketing-detector/corpus");
    let mut msgs = Vec::new();
    for label in ["transactional", "marketing"] {
        let mut files: Vec<_> = std::fs::read_dir(corpus.join(label))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(f).unwrap();
            let parsed = ParsedMessage::new(Arc::new(bytes));
            let _ = sluice::capability::message::MessageView(parsed.clone()).subject();
            msgs.push(parsed);
        }
    }
    println!();
    println!(
        "Shipped plugins on the corpus ({} messages, cycled; mail-from, rcpt-to and data hooks):",
        msgs.len()
    );
    println!();
    println!("| plugin | median µs/message | p99 µs/message | median, `reuse = 1000` |");
    println!("|---|---|---|---|");
    let plugins = [
        (
            "volume-limits",
            release.join("volume_limits.wasm"),
            vec![("messages_per_minute", "1000000000")],
        ),
        (
            "content-filter",
            release.join("content_filter.wasm"),
            vec![("blocked_link_domains", "evil.example"), ("mode", "score")],
        ),
        (
            "marketing-detector",
            release.join("marketing_detector.wasm"),
            vec![("action", "tag")],
        ),
        (
            "keyword_policy (Python)",
            workspace().join("target/python/keyword_policy.wasm"),
            vec![("keywords", "casino,crypto")],
        ),
        (
            "attachment_policy (JavaScript)",
            workspace().join("target/js/attachment_policy.wasm"),
            vec![],
        ),
    ];
    for (name, path, config) in plugins {
        if !path.exists() {
            println!("| {name} | (not built) | |");
            continue;
        }
        let count = if name.contains('(') { 300 } else { 2000 };
        let fresh = spec(name, path, &config);
        // The same plugin with its instances kept: what building its state per instance costs.
        let kept = PluginSpec {
            reuse: 1000,
            keep_idle: 64,
            ..fresh.clone()
        };
        let mut medians = Vec::new();
        for s in [fresh, kept] {
            let p = registry::load(engine, "bench", s, registry::TenantShare::unshared())
                .await
                .unwrap();
            let chain = Pipeline::new(vec![Arc::new(WasmPolicy::new(p)) as Arc<dyn Policy>]);
            medians.push(per_message_of(&chain, &msgs, count, false).await);
        }
        let (t, kept) = (&medians[0], &medians[1]);
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} |",
            micros(t[t.len() / 2]),
            micros(t[t.len() * 99 / 100]),
            micros(kept[kept.len() / 2])
        );
    }
    let router = spec(
        "router",
        release.join("router.wasm"),
        &[("rules", "tag=marketing => mx pool=marketing\ndomain=partner.example => smarthost relay.partner.example:587\nscore>=5 => hold")],
    );
    let fresh = route_times(engine, router.clone()).await;
    let kept = route_times(
        engine,
        PluginSpec {
            reuse: 1000,
            keep_idle: 64,
            ..router
        },
    )
    .await;
    println!(
        "| router (routing hook, per recipient domain) | {:.1} | {:.1} | {:.1} |",
        micros(fresh[fresh.len() / 2]),
        micros(fresh[fresh.len() * 99 / 100]),
        micros(kept[kept.len() / 2])
    );
}

/// The router's routing hook, 2,000 times after 100 warm-up calls, sorted.
async fn route_times(engine: &Arc<PluginEngine>, spec: PluginSpec) -> Vec<Duration> {
    let router = registry::load(engine, "bench", spec, registry::TenantShare::unshared())
        .await
        .unwrap();
    let policy = WasmPolicy::new(router);
    let tags = vec!["marketing-score=2".to_string()];
    let mut times = Vec::new();
    for i in 0..2100 {
        let request = sluice::pipeline::RouteRequest {
            queue_id: "BENCH",
            tenant: "bench",
            mail_from: "orders@shop.example",
            domain: if i % 2 == 0 {
                "dest.example"
            } else {
                "partner.example"
            },
            tags: &tags,
        };
        let started = Instant::now();
        let _ = policy.route(&request).await;
        if i >= 100 {
            times.push(started.elapsed());
        }
    }
    times.sort();
    times
}
