//! The application API: tenants' keys and scopes, its OpenAPI document against the router
//! and the real answers.

use crate::openapi::{check_answer, documented, routed};
use sluice_e2e::relay::DEMO_TENANT;
use sluice_e2e::{api_key_table, Relay, RelayConfig, DEMO_API_KEY};

/// A second tenant whose key may only read events.
fn tenants() -> String {
    format!(
        "{DEMO_TENANT}\n[[tenant]]\nname = \"other\"\nsender_domains = [\"other.test\"]\n{}",
        api_key_table("poller", "other-events-key", &["events"])
    )
}

#[test]
fn a_key_names_its_tenant_and_a_wrong_or_missing_key_gets_401() {
    let relay = Relay::start(RelayConfig {
        tenants: tenants(),
        ..RelayConfig::default()
    });
    let doc = relay.api("GET", "/v1/openapi.json", None, None).json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        documented(&doc),
        routed("host/src/api/mod.rs"),
        "the document and the router disagree (left: documented, right: routed)"
    );

    let r = relay.api("GET", "/v1/key", Some(DEMO_API_KEY), None);
    let body = check_answer(&doc, "GET", "/v1/key", "/v1/key", &r);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(body["tenant"], "demo");
    assert_eq!(
        body["scopes"],
        serde_json::json!(["send", "events", "suppressions"])
    );

    let r = relay.api("GET", "/v1/key", Some("other-events-key"), None);
    assert_eq!(
        check_answer(&doc, "GET", "/v1/key", "/v1/key", &r)["tenant"],
        "other"
    );

    for key in [None, Some("not-a-key"), Some(sluice_e2e::ADMIN_TOKEN)] {
        let r = relay.api("GET", "/v1/key", key, None);
        assert_eq!(r.status, 401, "{key:?}: {r:?}");
        check_answer(&doc, "GET", "/v1/key", "/v1/key", &r);
        assert!(r.header("www-authenticate").is_some(), "{r:?}");
    }
    // The admin API does not take application keys either.
    let r = relay.http("GET", "/v1/status", Some(DEMO_API_KEY));
    assert_eq!(r.status, 401, "{r:?}");
}

/// Every operation names its scope, and the suppression routes answer a key without the
/// `suppressions` scope with the documented 403, naming the scope it lacks.
#[test]
fn every_operation_names_its_scope_and_suppression_routes_need_theirs() {
    let relay = Relay::start(RelayConfig {
        tenants: tenants(),
        ..RelayConfig::default()
    });
    let doc = relay.api("GET", "/v1/openapi.json", None, None).json();
    for (method, path) in documented(&doc) {
        let scope = &doc["paths"][&path][method.to_ascii_lowercase()]["x-sluice-scope"];
        let scope = scope
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: no scope"));
        assert!(
            ["none", "any", "send", "events", "suppressions"].contains(&scope),
            "{method} {path}: {scope}"
        );
        if path.starts_with("/v1/suppressions") || path == "/v1/complaints" {
            assert_eq!(scope, "suppressions", "{method} {path}");
            let real = path.replace("{address}", "a@dest.test");
            let r = relay.api(&method, &real, Some("other-events-key"), None);
            assert_eq!(r.status, 403, "{method} {real}: {r:?}");
            assert_eq!(
                check_answer(&doc, &method, &real, &path, &r)["required_scope"],
                "suppressions"
            );
        }
    }
}
