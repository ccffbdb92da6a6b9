//! Where a plugin's hook functions are, found once when it loads.
//!
//! The generated `PolicyPre` looks every export up by name and type-checks it on each
//! instantiation — about a tenth of a plugin's per-message cost (callgrind). A plugin's
//! component never changes after it loads, so the relay finds the exports and checks their
//! types once ([`HookExports::find`] and the load-time check in `PluginInstance::introduce`)
//! and each per-transaction instance reaches them by index.

use super::wit::Hook;
use wasmtime::component::{Component, ComponentExportIndex};

/// The exported functions of `sluice:policy/hooks`, by index into the component's exports.
#[derive(Debug, Clone, Copy)]
pub struct HookExports {
    pub init: ComponentExportIndex,
    pub implemented: ComponentExportIndex,
    connect: ComponentExportIndex,
    helo: ComponentExportIndex,
    auth: ComponentExportIndex,
    mail_from: ComponentExportIndex,
    rcpt_to: ComponentExportIndex,
    data: ComponentExportIndex,
    route: ComponentExportIndex,
    delivery_result: ComponentExportIndex,
}

impl HookExports {
    /// Finds every hook function; the error names the first one missing.
    pub fn find(component: &Component) -> Result<HookExports, String> {
        let interface = format!("sluice:policy/hooks@{}", super::WIT_VERSION);
        let hooks = component
            .get_export_index(None, &interface)
            .ok_or_else(|| format!("it does not export `{interface}`"))?;
        let func = |name: &str| {
            component
                .get_export_index(Some(&hooks), name)
                .ok_or_else(|| format!("its `{interface}` has no `{name}` function"))
        };
        Ok(HookExports {
            init: func("init")?,
            implemented: func("implemented")?,
            connect: func("on-connect")?,
            helo: func("on-helo")?,
            auth: func("on-auth")?,
            mail_from: func("on-mail-from")?,
            rcpt_to: func("on-rcpt-to")?,
            data: func("on-data")?,
            route: func("on-route")?,
            delivery_result: func("on-delivery-result")?,
        })
    }

    /// The function of `hook`.
    pub fn of(&self, hook: Hook) -> ComponentExportIndex {
        match hook {
            Hook::Connect => self.connect,
            Hook::Helo => self.helo,
            Hook::Auth => self.auth,
            Hook::MailFrom => self.mail_from,
            Hook::RcptTo => self.rcpt_to,
            Hook::Data => self.data,
            Hook::Route => self.route,
            Hook::DeliveryResult => self.delivery_result,
        }
    }
}
