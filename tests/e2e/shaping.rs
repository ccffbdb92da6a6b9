//! Traffic shaping (`[delivery.shaping]`) against real receiving servers (aiosmtpd) found
//! through a real DNS server: the sink's log of RCPTs proves what was and was not attempted,
//! and the relay's events say when it held a message back untried.

use serde_json::{json, Value};
use sluice_e2e::dns::{a, mx};
use sluice_e2e::{free_port, wait_for, Chat, Dns, Redis, Relay, RelayConfig, Sink, READ_TOKEN};
use std::time::Duration;

/// The sender's own mail server (where DSNs go).
const SENDER_MX: &str = "127.0.0.20";

/// dest.test and other.test, each its own destination, both on the sink at `ip`.
fn dns(ip: &str) -> Dns {
    Dns::start(json!({
        "example.com": [mx(10, "mx.example.com")],
        "mx.example.com": [a(SENDER_MX)],
        "dest.test": [mx(10, "mx.dest.test")],
        "mx.dest.test": [a(ip)],
        "other.test": [mx(10, "mx.other.test")],
        "mx.other.test": [a(ip)],
    }))
}

fn relay(dns: &Dns, port: u16, shaping: &str, tables: &str) -> Relay {
    Relay::start(RelayConfig {
        tables: tables.into(),
        ..RelayConfig::default().mx(dns, port, &format!("\n[delivery.shaping]\n{shaping}"))
    })
}

/// Sends one message to `rcpt`; its queue id.
fn send(relay: &Relay, rcpt: &str) -> String {
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &[rcpt],
        "From: app@example.com\r\nSubject: shaped\r\n\r\nhello\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    r.trim().rsplit(' ').next().unwrap().to_owned()
}

/// Waits for an event named `name` whose fields include `fields`.
fn wait_event(relay: &Relay, name: &str, fields: Value) -> Value {
    wait_for(Duration::from_secs(20), || {
        relay.events().into_iter().find(|e| {
            e["event"] == name && fields.as_object().unwrap().iter().all(|(k, v)| &e[k] == v)
        })
    })
    .unwrap_or_else(|| panic!("no {name} event with {fields}; log:\n{}", relay.log()))
}

/// The sink never saw a RCPT for `rcpt`: nothing was tried.
fn assert_untried(sink: &Sink, rcpt: &str) {
    assert!(
        sink.rcpt_replies(rcpt).is_empty(),
        "{rcpt} was tried: {:?}",
        sink.log()
    );
}

fn shaping_status(relay: &Relay) -> Value {
    relay.http("GET", "/v1/status", Some(READ_TOKEN)).json()["shaping"].clone()
}

const SUSPEND_ON_421: &str = "[[delivery.shaping.rule]]\nname = \"try-later\"\ncode = 421\n\
    status = \"4.7\"\ntext = \"(?i)try again later\"\naction = \"suspend\"\n";

#[test]
fn a_421_try_again_later_suspends_the_destination_until_the_duration_runs_out() {
    let port = free_port();
    let dns = dns("127.0.0.31");
    let sink = Sink::start_at("127.0.0.31", port, &[]);
    let relay = relay(
        &dns,
        port,
        &format!("{SUSPEND_ON_421}duration = \"4s\"\n"),
        "",
    );
    sink.answer_every_rcpt(Some("421 4.7.0 Try again later"));
    let first = send(&relay, "first@dest.test");
    let action = wait_event(&relay, "shaping_action", json!({ "site": "mx:dest.test" }));
    assert_eq!(action["action"], "suspend", "{action}");
    assert_eq!(action["rule"], "try-later");
    assert_eq!(action["reply"], "421 4.7.0 Try again later");
    let status = shaping_status(&relay);
    assert_eq!(status[0]["site"], "mx:dest.test", "{status}");
    assert_eq!(status[0]["action"], "suspend");
    assert_eq!(status[0]["reason"], "421 4.7.0 Try again later");
    assert!(status[0]["seconds_left"].as_u64().unwrap() <= 4, "{status}");

    // The destination answers again, but is suspended: a new message is held, untried.
    sink.answer_every_rcpt(None);
    let second = send(&relay, "second@dest.test");
    let held = wait_event(&relay, "shaping_held", json!({ "queue_id": second }));
    assert!(
        held["reason"]
            .as_str()
            .unwrap()
            .contains("suspended by traffic shaping (try-later)"),
        "{held}"
    );
    assert_untried(&sink, "second@dest.test");
    // Another destination is not concerned.
    send(&relay, "marker@other.test");
    wait_event(&relay, "delivered", json!({ "rcpt": "marker@other.test" }));

    // Recovery: both are delivered once the suspension ends, each tried only then.
    let delivered = wait_event(&relay, "delivered", json!({ "queue_id": second }));
    assert_eq!(
        delivered["attempt"], 1,
        "a hold is not an attempt: {delivered}"
    );
    wait_event(&relay, "delivered", json!({ "queue_id": first }));
    assert_eq!(
        sink.rcpt_replies("first@dest.test"),
        ["421 4.7.0 Try again later", "250 2.1.5 OK"],
        "the retry due 1 s later waited for the suspension"
    );
    assert_eq!(sink.rcpt_replies("second@dest.test"), ["250 2.1.5 OK"]);
    assert_eq!(shaping_status(&relay), json!([]));
    let metrics = relay.http("GET", "/metrics", Some(READ_TOKEN)).body;
    assert!(
        metrics.contains("sluice_shaping_actions_total{action=\"suspend\",provider=\"none\"} 1"),
        "{metrics}"
    );
}

#[test]
fn a_bounce_rule_fails_the_message_with_a_dsn_and_the_next_ones_untried() {
    let port = free_port();
    let dns = dns("127.0.0.32");
    let sink = Sink::start_at("127.0.0.32", port, &[]);
    let sender_box = Sink::start_at(SENDER_MX, port, &[]);
    let relay = relay(
        &dns,
        port,
        "[[delivery.shaping.rule]]\nname = \"blocked\"\ncode = 550\nstatus = \"5.7.1\"\n\
         text = \"blocked\"\naction = \"bounce\"\nduration = \"1m\"\n",
        "",
    );
    sink.answer_every_rcpt(Some("550 5.7.1 Message blocked by policy"));
    let first = send(&relay, "one@dest.test");
    let bounced = wait_event(&relay, "bounced", json!({ "queue_id": first }));
    assert_eq!(
        bounced["reply"], "550 5.7.1 Message blocked by policy",
        "{bounced}"
    );
    assert_eq!(bounced["attempt"], 1);
    wait_event(
        &relay,
        "shaping_action",
        json!({ "action": "bounce", "site": "mx:dest.test" }),
    );

    // For the rule's duration, messages to the destination bounce without a connection.
    sink.answer_every_rcpt(None);
    let second = send(&relay, "two@dest.test");
    let bounced = wait_event(&relay, "bounced", json!({ "queue_id": second }));
    let reply = bounced["reply"].as_str().unwrap();
    assert!(
        reply.starts_with("550 5.7.1 mx:dest.test bounced by traffic shaping (blocked)")
            && reply.ends_with(": 550 5.7.1 Message blocked by policy"),
        "{bounced}"
    );
    assert_eq!(bounced["remote"], "-", "untried: {bounced}");
    assert_untried(&sink, "two@dest.test");
    let dsns = sender_box.wait_messages(2);
    for (dsn, rcpt) in dsns.iter().zip(["one@dest.test", "two@dest.test"]) {
        assert!(dsn
            .content
            .contains(&format!("Final-Recipient: rfc822; {rcpt}")));
        assert!(dsn.content.contains("Status: 5.7.1"), "{}", dsn.content);
    }
}

#[test]
fn a_message_rate_limit_lets_that_many_through_and_holds_the_rest() {
    let port = free_port();
    let dns = dns("127.0.0.33");
    let sink = Sink::start_at("127.0.0.33", port, &[]);
    let relay = relay(
        &dns,
        port,
        "[delivery.shaping.default]\nmessages_per_minute = 2\n",
        "",
    );
    let ids: Vec<String> = (0..5)
        .map(|i| send(&relay, &format!("r{i}@dest.test")))
        .collect();
    for id in &ids {
        wait_for(Duration::from_secs(20), || {
            relay.events().into_iter().find(|e| {
                e["queue_id"] == id.as_str()
                    && (e["event"] == "delivered" || e["event"] == "shaping_held")
            })
        })
        .unwrap_or_else(|| panic!("{id} neither delivered nor held: {}", relay.log()));
    }
    // A marker through another destination (its own window), then the count.
    send(&relay, "marker@other.test");
    wait_event(&relay, "delivered", json!({ "rcpt": "marker@other.test" }));
    let to_dest = sink
        .messages()
        .iter()
        .filter(|m| m.rcpts[0].ends_with("@dest.test"))
        .count();
    assert_eq!(to_dest, 2, "{:?}", sink.log());
    let held: Vec<Value> = relay
        .events()
        .into_iter()
        .filter(|e| e["event"] == "shaping_held")
        .collect();
    assert!(held.len() >= 3, "{held:?}");
    assert!(held[0]["reason"]
        .as_str()
        .unwrap()
        .contains("mx:dest.test is at its limit of 2 messages per minute"));
    // Held messages were never tried, nor counted as attempts.
    assert!(
        relay.events().iter().all(|e| e["event"] != "deferred"),
        "{}",
        relay.log()
    );
}

#[test]
fn a_suspension_set_by_one_node_holds_the_other_nodes_messages() {
    let port = free_port();
    let dns = dns("127.0.0.34");
    let sink = Sink::start_at("127.0.0.34", port, &[]);
    let redis = Redis::start();
    let shaping = format!("{SUSPEND_ON_421}duration = \"1m\"\n");
    let cluster = redis.cluster_table("timeout = \"2s\"");
    let a = relay(&dns, port, &shaping, &cluster);
    let b = relay(&dns, port, &shaping, &cluster);

    sink.answer_every_rcpt(Some("421 4.7.0 Try again later"));
    send(&a, "from-a@dest.test");
    wait_event(&a, "shaping_action", json!({ "action": "suspend" }));
    sink.answer_every_rcpt(None);
    // Node B's status shows it before B has sent anything there.
    let status = shaping_status(&b);
    assert_eq!(status[0]["site"], "mx:dest.test", "{status}");
    assert_eq!(status[0]["reason"], "421 4.7.0 Try again later");

    // Node B never saw a 421, yet holds its message to the suspended destination.
    let id = send(&b, "from-b@dest.test");
    let held = wait_event(&b, "shaping_held", json!({ "queue_id": id }));
    assert!(
        held["reason"]
            .as_str()
            .unwrap()
            .contains("421 4.7.0 Try again later"),
        "{held}"
    );
    assert_untried(&sink, "from-b@dest.test");
    let status = shaping_status(&b);
    assert_eq!(status[0]["site"], "mx:dest.test", "{status}");
    assert_eq!(status[0]["action"], "suspend");
    assert!(status[0]["seconds_left"].as_u64().unwrap() > 30, "{status}");
    // B's other destinations flow.
    send(&b, "marker@other.test");
    wait_event(&b, "delivered", json!({ "rcpt": "marker@other.test" }));
    assert_untried(&sink, "from-b@dest.test");
}

#[test]
fn a_throttle_lowers_the_message_rate_for_its_duration() {
    let port = free_port();
    let dns = dns("127.0.0.35");
    let sink = Sink::start_at("127.0.0.35", port, &[]);
    let relay = relay(
        &dns,
        port,
        "[[delivery.shaping.rule]]\nname = \"slow-down\"\ncode = 421\ntext = \"(?i)slow down\"\n\
         action = \"throttle\"\nmessages_per_minute = 1\nduration = \"1m\"\n",
        "",
    );
    sink.answer_every_rcpt(Some("421 4.7.28 Slow down please"));
    send(&relay, "first@dest.test");
    let action = wait_event(&relay, "shaping_action", json!({ "site": "mx:dest.test" }));
    assert_eq!(action["action"], "throttle", "{action}");
    let status = shaping_status(&relay);
    assert_eq!(status[0]["action"], "throttle", "{status}");
    assert_eq!(status[0]["messages_per_minute"], 1);

    // Unthrottled, three messages would go at once; now one a minute does.
    sink.answer_every_rcpt(None);
    let ids: Vec<String> = (0..3)
        .map(|i| send(&relay, &format!("r{i}@dest.test")))
        .collect();
    let held = ids
        .iter()
        .filter(|id| {
            wait_for(Duration::from_secs(20), || {
                relay.events().into_iter().find(|e| {
                    e["queue_id"] == id.as_str()
                        && (e["event"] == "delivered" || e["event"] == "shaping_held")
                })
            })
            .unwrap_or_else(|| panic!("{id} neither delivered nor held: {}", relay.log()))["event"]
                == "shaping_held"
        })
        .count();
    assert!(held >= 2, "{}", relay.log());
    send(&relay, "marker@other.test");
    wait_event(&relay, "delivered", json!({ "rcpt": "marker@other.test" }));
    let to_dest = sink
        .messages()
        .iter()
        .filter(|m| m.rcpts[0].ends_with("@dest.test"))
        .count();
    assert!(to_dest <= 1, "{:?}", sink.log());
}

#[test]
fn without_the_server_tempfail_holds_local_falls_back_and_sharing_resumes() {
    let port = free_port();
    let dns = dns("127.0.0.36");
    let sink = Sink::start_at("127.0.0.36", port, &[]);
    let mut redis = Redis::start();
    let cluster = redis.cluster_table("timeout = \"1s\"");
    let rules = format!("{SUSPEND_ON_421}duration = \"1m\"\n");
    let closed = relay(
        &dns,
        port,
        &format!("on_unavailable = \"tempfail\"\n{rules}"),
        &cluster,
    );
    let open = relay(
        &dns,
        port,
        &format!("on_unavailable = \"local\"\n{rules}"),
        &cluster,
    );
    redis.kill();

    // Fail closed: the message waits, untried, for the server.
    let waiting = send(&closed, "waiting@dest.test");
    let held = wait_event(&closed, "shaping_held", json!({ "queue_id": waiting }));
    assert!(
        held["reason"]
            .as_str()
            .unwrap()
            .contains("shared state server is unavailable"),
        "{held}"
    );
    // Fail open: this node's own state, which has no suspension.
    let through = send(&open, "through@dest.test");
    wait_event(&open, "delivered", json!({ "queue_id": through }));
    assert_untried(&sink, "waiting@dest.test");

    // The server returns: the held message goes.
    redis.spawn();
    wait_event(&closed, "delivered", json!({ "queue_id": waiting }));
}

#[test]
fn a_connection_cap_holds_across_nodes() {
    let port = free_port();
    let dns = dns("127.0.0.37");
    // Each DATA takes the sink 3 s: node A's transaction is still open when B wants one.
    let sink = Sink::start_at("127.0.0.37", port, &["--slow", "3"]);
    let redis = Redis::start();
    let cluster = redis.cluster_table("timeout = \"2s\"");
    let shaping = "[delivery.shaping.default]\nconnections = 1\n";
    let a = relay(&dns, port, shaping, &cluster);
    let b = relay(&dns, port, shaping, &cluster);

    let first = send(&a, "a@dest.test");
    wait_for(Duration::from_secs(20), || {
        (!sink.rcpt_replies("a@dest.test").is_empty()).then_some(())
    })
    .expect("node A's transaction reaches the sink");
    let second = send(&b, "b@dest.test");
    let held = wait_event(&b, "shaping_held", json!({ "queue_id": second }));
    assert!(
        held["reason"]
            .as_str()
            .unwrap()
            .contains("mx:dest.test has its 1 connections at once (across nodes) in use"),
        "{held}"
    );
    // The lease is given back after A's transaction: both arrive, one after the other.
    wait_event(&a, "delivered", json!({ "queue_id": first }));
    wait_event(&b, "delivered", json!({ "queue_id": second }));
    assert_eq!(sink.messages().len(), 2);
}

/// Domains whose MX hosts one provider runs are one site: they share its limits, and their
/// delivery events name the provider (what the console's overview groups by).
#[test]
fn domains_of_one_provider_share_its_limits_and_their_events_name_it() {
    let port = free_port();
    let dns = dns("127.0.0.38");
    let sink = Sink::start_at("127.0.0.38", port, &[]);
    let relay = relay(
        &dns,
        port,
        "[[delivery.shaping.provider]]\nname = \"acme\"\nmx_suffixes = [\"dest.test\", \"other.test\"]\n\
         messages_per_minute = 1\n",
        "",
    );
    let first = send(&relay, "one@dest.test");
    let delivered = wait_event(&relay, "delivered", json!({ "queue_id": first }));
    assert_eq!(delivered["provider"], "acme", "{delivered}");
    // other.test is another domain, but the same provider: its minute is used up.
    let second = send(&relay, "two@other.test");
    let held = wait_event(&relay, "shaping_held", json!({ "queue_id": second }));
    assert_eq!(held["site"], "acme", "{held}");
    assert_untried(&sink, "two@other.test");
}

/// An egress pool's warm-up can step more slowly for one provider: its mail waits at that
/// provider's cap for the day while other destinations still have the pool's room.
#[test]
fn a_provider_warms_up_at_its_own_steps_within_the_pool() {
    let port = free_port();
    let dns = dns("127.0.0.39");
    let sink = Sink::start_at("127.0.0.39", port, &[]);
    let today = sluice_e2e::utc_date(0);
    let relay = Relay::start(RelayConfig {
        tenants: sluice_e2e::relay::DEMO_TENANT.replace(
            "sender_domains = [\"example.com\"]",
            "sender_domains = [\"example.com\"]\npool = \"new-ip\"",
        ),
        ..RelayConfig::default().mx(
            &dns,
            port,
            &format!(
                "\n[[delivery.pool]]\nname = \"new-ip\"\nsource = [\"127.0.0.1\"]\n\
                 [delivery.pool.warmup]\nstart = \"{today}\"\ncaps = [10]\nproviders = {{ acme = [1] }}\n\
                 [delivery.shaping]\n[[delivery.shaping.provider]]\nname = \"acme\"\nmx_suffixes = [\"dest.test\"]\n"
            ),
        )
    });
    let first = send(&relay, "one@dest.test");
    wait_event(&relay, "delivered", json!({ "queue_id": first }));
    let second = send(&relay, "two@dest.test");
    let deferred = wait_event(&relay, "deferred", json!({ "queue_id": second }));
    assert!(
        deferred["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("reached its daily cap of 1 messages to acme (warm-up day 1)"),
        "{deferred}"
    );
    // Another destination, of no provider, still goes through the pool.
    let other = send(&relay, "three@other.test");
    wait_event(&relay, "delivered", json!({ "queue_id": other }));
    assert_untried(&sink, "two@dest.test");
    let pool = &relay.http("GET", "/v1/status", Some(READ_TOKEN)).json()["pools"][0];
    assert_eq!(pool["cap_today"], 10, "{pool}");
    assert_eq!(pool["providers"][0]["provider"], "acme", "{pool}");
    assert_eq!(pool["providers"][0]["cap_today"], 1, "{pool}");
    assert_eq!(pool["providers"][0]["sent_today_here"], 1, "{pool}");
}
