//! A Sluice policy plugin: refuse mail to a configured list of domains, tag the rest.
//!
//! Config (in the operator's file, under `[tenant.plugin.config]`):
//!   blocked_domains = "competitor.example, old-brand.example"
use sluice_sdk::prelude::*;

/// The plugin's state, built from its config once per instance.
struct BlockDomains {
    blocked: Vec<String>,
}

#[plugin]
impl Plugin for BlockDomains {
    fn init(config: &Config) -> Result<Self, ConfigError> {
        let blocked = config.list_or("blocked_domains", "");
        Ok(BlockDomains { blocked: blocked.iter().map(|d| d.to_ascii_lowercase()).collect() })
    }

    fn on_rcpt_to(&self, _session: &Session, rcpt: String) -> Decision {
        let domain = rcpt.rsplit('@').next().unwrap_or_default().to_ascii_lowercase();
        if self.blocked.contains(&domain) {
            return Decision::reject(550, "5.7.1", &format!("this tenant may not send to {domain}")).rule("blocked-domain");
        }
        Decision::proceed()
    }

    fn on_data(&self, _session: &Session, message: &Message) -> Decision {
        log(Level::Debug, &format!("checked a message of {} bytes", message.raw_size()));
        Decision::proceed().tag("template-checked")
    }
}
