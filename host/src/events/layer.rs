//! The tracing layer that journals every `sluice::event` event, whatever `SLUICE_LOG` lets
//! through to the log (it has its own per-layer filter on the target).

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::Subscriber;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context, Layer};

/// The layer, filtered to exactly [`super::TARGET`] at every level (a target filter would
/// also take `sluice::events::…`, this module's own log lines).
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    Journaling.with_filter(filter_fn(|m| m.target() == super::TARGET))
}

struct Journaling;

impl<S: Subscriber> Layer<S> for Journaling {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let Some(journal) = super::journal() else {
            return;
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        journal.append(&fields.0);
    }
}

/// An event's fields as JSON values, by the contract in the module doc of [`super`].
#[derive(Default)]
pub struct Fields(pub Map<String, Value>);

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        let name = match field.name() {
            "id" => "id_field",
            "time" => "time_field",
            other => other,
        };
        let value = match (name, value) {
            ("tags", Value::String(s)) => Value::Array(
                s.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| Value::String(t.to_owned()))
                    .collect(),
            ),
            ("metadata", Value::String(s)) => match serde_json::from_str::<Value>(&s) {
                Ok(v @ Value::Object(_)) => v,
                _ => Value::String(s),
            },
            (_, v) => v,
        };
        self.0.insert(name.to_owned(), value);
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// Collects what the fields of events become.
    struct Collect(std::sync::Arc<std::sync::Mutex<Vec<Map<String, Value>>>>);

    impl<S: Subscriber> Layer<S> for Collect {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let mut f = Fields::default();
            event.record(&mut f);
            self.0.lock().unwrap().push(f.0);
        }
    }

    #[test]
    fn fields_become_json_by_the_contract() {
        let seen = std::sync::Arc::default();
        let subscriber = tracing_subscriber::registry().with(Collect(std::sync::Arc::clone(&seen)));
        tracing::subscriber::with_default(subscriber, || {
            let stage = std::time::Duration::from_secs(1);
            tracing::info!(target: "sluice::event", event = "delivered", tenant = %"demo",
                tags = %"otp, login,", metadata = %r#"{"user":42}"#, attempt = 2u32,
                ok = true, stage = ?stage, id = "mine", "a message");
        });
        let seen = seen.lock().unwrap();
        let f = &seen[0];
        assert_eq!(f["event"], "delivered");
        assert_eq!(f["tenant"], "demo");
        assert_eq!(f["tags"], serde_json::json!(["otp", "login"]));
        assert_eq!(f["metadata"], serde_json::json!({"user": 42}));
        assert_eq!(f["attempt"], 2);
        assert_eq!(f["ok"], true);
        assert_eq!(f["stage"], "1s");
        assert_eq!(f["id_field"], "mine");
        assert_eq!(f["message"], "a message");
        assert!(f.get("id").is_none());
    }
}
