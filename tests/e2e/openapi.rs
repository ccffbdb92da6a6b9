//! The OpenAPI document the admin API serves (`GET /v1/openapi.json`) against what the
//! server really does: every route the router declares is in it with its method (and nothing
//! more), and every answer a real exchange gets has a documented status whose schema the
//! JSON body fits (required properties, types, enums, items — a small checker below).

use serde_json::Value;
use sluice_e2e::{plugin_table, wait_for, Chat, Relay, RelayConfig, Sink, ADMIN_TOKEN, READ_TOKEN};
use std::collections::BTreeSet;
use std::time::Duration;

/// `(METHOD, /path/{param})` of every `.route(…)` in a router's source (`file`, from the
/// workspace root).
pub fn routed(file: &str) -> BTreeSet<(String, String)> {
    let src = std::fs::read_to_string(sluice_e2e::workspace().join(file)).expect(file);
    let mut out = BTreeSet::new();
    for (at, _) in src.match_indices(".route(") {
        let rest = &src[at + ".route(".len()..];
        let (mut depth, mut end) = (1, 0);
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = i;
                break;
            }
        }
        let call = &rest[..end];
        let path = call.split('"').nth(1).expect("a path literal").to_owned();
        for method in ["get", "post", "delete", "put", "patch"] {
            let called = call.match_indices(&format!("{method}(")).any(|(i, _)| {
                i == 0
                    || !call.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && call.as_bytes()[i - 1] != b'_'
            });
            if called {
                out.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    assert!(!out.is_empty(), "parsed no routes in {file}");
    out
}

pub fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            if method != "parameters" {
                out.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/schemas/")
                .expect("a local $ref");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Where `value` breaks `schema`, as `at: what` lines.
fn violations(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    assert!(!schema.is_null(), "{at}: a $ref to nothing");
    for part in schema["allOf"].as_array().into_iter().flatten() {
        violations(doc, part, value, at, out);
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("{at}: bad type {t}"),
        };
        let fits = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            other => panic!("{at}: unknown type {other}"),
        });
        if !fits {
            out.push(format!("{at}: {value} is not {t}"));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            out.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    for key in schema["required"].as_array().into_iter().flatten() {
        let key = key.as_str().expect("a property name");
        if value.get(key).is_none() {
            out.push(format!("{at}: no required property {key:?}"));
        }
    }
    if let (Some(props), Some(object)) = (schema["properties"].as_object(), value.as_object()) {
        for (key, sub) in props {
            if let Some(v) = object.get(key) {
                violations(doc, sub, v, &format!("{at}.{key}"), out);
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            violations(doc, items, v, &format!("{at}[{i}]"), out);
        }
    }
}

/// Makes a request and checks its answer against the document's operation `template`.
fn exchange(
    relay: &Relay,
    doc: &Value,
    method: &str,
    path: &str,
    template: &str,
    token: Option<&str>,
) -> Value {
    let r = relay.http(method, path, token);
    check_answer(doc, method, path, template, &r)
}

/// Checks an answer against the document's operation `template`: its status is documented,
/// with its content type, and a JSON body fits the schema. Returns the JSON body.
pub fn check_answer(
    doc: &Value,
    method: &str,
    path: &str,
    template: &str,
    r: &sluice_e2e::http::Reply,
) -> Value {
    let op = &doc["paths"][template][method.to_ascii_lowercase()];
    assert!(op.is_object(), "{method} {template} is not documented");
    let mut answer = &op["responses"][r.status.to_string()];
    if let Some(name) = answer["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/responses/"))
    {
        answer = &doc["components"]["responses"][name];
    }
    assert!(
        answer.is_object(),
        "{method} {path}: status {} is not documented: {r:?}",
        r.status
    );
    let content_type = r
        .header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    let media = &answer["content"][&content_type];
    assert!(
        media.is_object(),
        "{method} {path}: {content_type} is not documented for {}",
        r.status
    );
    if content_type.ends_with("json") {
        let body = r.json();
        let mut out = Vec::new();
        violations(doc, &media["schema"], &body, "body", &mut out);
        assert!(
            out.is_empty(),
            "{method} {path} ({}): {out:#?}\n{body}",
            r.status
        );
        body
    } else {
        Value::Null
    }
}

#[test]
fn the_openapi_document_covers_every_route_and_every_real_answer_fits_it() {
    let sink = Sink::start(&["--tempfail-first", "1"]);
    let relay = Relay::start(RelayConfig {
        delivery: Some(format!(
            "mode = \"smarthost\"\nretry = [\"1h\"]\n[delivery.smarthost]\nhost = \"127.0.0.1\"\nport = {}\n",
            sink.port
        )),
        plugins: plugin_table("verdicts", "verdicts", ""),
        ..RelayConfig::default()
    });
    let served = relay.http("GET", "/v1/openapi.json", None);
    assert_eq!(served.status, 200, "{served:?}");
    let doc = served.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let routes = routed("host/src/admin/mod.rs");
    assert!(routes.len() > 10, "parsed too few routes: {routes:?}");
    assert_eq!(
        documented(&doc),
        routes,
        "the document and the router disagree (left: documented, right: routed)"
    );

    let send = |subject: &str| {
        let mut c = Chat::authed(relay.port);
        let r = c.send_message(
            "app@example.com",
            &["api@dest.test"],
            &format!("Subject: {subject}\r\n\r\nx\r\n"),
        );
        r.rsplit(' ').next().unwrap().to_owned()
    };
    let id = send("deferred");
    wait_for(Duration::from_secs(10), || {
        let l = relay.http("GET", "/v1/queue", Some(READ_TOKEN)).json();
        (l["messages"][0]["state"] == "deferred").then_some(())
    })
    .expect("deferred");
    let (q1, q2) = (send("QUARANTINE one"), send("QUARANTINE two"));
    relay.wait_events("quarantined", 2);

    let e = |m: &str, p: &str, t: &str, tok: Option<&str>| exchange(&relay, &doc, m, p, t, tok);
    e("GET", "/healthz", "/healthz", None);
    e("GET", "/readyz", "/readyz", None);
    e("GET", "/v1/openapi.json", "/v1/openapi.json", None);
    e("GET", "/metrics", "/metrics", Some(READ_TOKEN));
    e("GET", "/v1/status", "/v1/status", None);
    e("GET", "/v1/status", "/v1/status", Some(READ_TOKEN));
    e("POST", "/v1/reload", "/v1/reload", Some(READ_TOKEN));
    e("POST", "/v1/reload", "/v1/reload", Some(ADMIN_TOKEN));
    let list = e("GET", "/v1/queue", "/v1/queue", Some(READ_TOKEN));
    assert_eq!(
        list["messages"][0]["last_error"],
        "451 4.3.0 Try again later"
    );
    let one = format!("/v1/queue/{id}");
    e("GET", &one, "/v1/queue/{id}", Some(READ_TOKEN));
    e(
        "GET",
        "/v1/queue/0000000000000BAD",
        "/v1/queue/{id}",
        Some(READ_TOKEN),
    );
    e(
        "GET",
        &format!("/v1/queue/{q1}"),
        "/v1/queue/{id}",
        Some(READ_TOKEN),
    );
    e(
        "POST",
        &format!("{one}/hold"),
        "/v1/queue/{id}/hold",
        Some(ADMIN_TOKEN),
    );
    e(
        "POST",
        &format!("{one}/retry"),
        "/v1/queue/{id}/retry",
        Some(ADMIN_TOKEN),
    );
    e(
        "POST",
        &format!("{one}/hold"),
        "/v1/queue/{id}/hold",
        Some(ADMIN_TOKEN),
    );
    e(
        "POST",
        &format!("{one}/release"),
        "/v1/queue/{id}/release",
        Some(ADMIN_TOKEN),
    );
    e(
        "POST",
        "/v1/queue/0000000000000BAD/release",
        "/v1/queue/{id}/release",
        Some(ADMIN_TOKEN),
    );
    e(
        "POST",
        "/v1/queue/retry",
        "/v1/queue/retry",
        Some(ADMIN_TOKEN),
    );
    e(
        "DELETE",
        "/v1/queue/0000000000000BAD",
        "/v1/queue/{id}",
        Some(ADMIN_TOKEN),
    );
    e("DELETE", &one, "/v1/queue/{id}", Some(READ_TOKEN));
    e("GET", "/v1/quarantine", "/v1/quarantine", Some(READ_TOKEN));
    e(
        "GET",
        &format!("/v1/quarantine/{q1}"),
        "/v1/quarantine/{id}",
        Some(READ_TOKEN),
    );
    e(
        "GET",
        "/v1/quarantine/not-an-id",
        "/v1/quarantine/{id}",
        Some(READ_TOKEN),
    );
    e(
        "DELETE",
        &format!("/v1/quarantine/{q1}"),
        "/v1/quarantine/{id}",
        Some(ADMIN_TOKEN),
    );
    e(
        "DELETE",
        &format!("/v1/quarantine/{q1}"),
        "/v1/quarantine/{id}",
        Some(ADMIN_TOKEN),
    );
    e(
        "POST",
        &format!("/v1/quarantine/{q2}/release"),
        "/v1/quarantine/{id}/release",
        Some(ADMIN_TOKEN),
    );
    sink.wait_messages(2);
}
