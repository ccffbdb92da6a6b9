//! A Sluice policy plugin: refuse mail to a configured list of domains, tag the rest.
//!
//! Config (in the operator's file, under `[tenant.plugin.config]`):
//!   blocked_domains = "competitor.example, old-brand.example"
use sluice_sdk::prelude::*;

struct BlockDomains;

impl Plugin for BlockDomains {
    const HOOKS: &'static [Hook] = &[Hook::RcptTo, Hook::Data];

    fn on_rcpt_to(_session: &Session, rcpt: String) -> Decision {
        let domain = rcpt.rsplit('@').next().unwrap_or_default().to_ascii_lowercase();
        let blocked = config("blocked_domains").unwrap_or_default();
        if blocked.split(',').any(|d| d.trim().eq_ignore_ascii_case(&domain)) {
            return Decision::reject(550, "5.7.1", &format!("this tenant may not send to {domain}")).rule("blocked-domain");
        }
        Decision::proceed()
    }

    fn on_data(_session: &Session, message: &Message) -> Decision {
        log(Level::Debug, &format!("checked a message of {} bytes", message.raw_size()));
        Decision::proceed().tag("template-checked")
    }
}

sluice_sdk::export_plugin!(BlockDomains);
