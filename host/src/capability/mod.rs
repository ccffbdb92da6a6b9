//! Host capabilities offered to plugins. Each is a context that owns its state and limits
//! (`log::PluginLog`, `counters::CounterScope`, the config table, `session::SessionInfo`, the
//! message views in the resource table); [`HostCtx`] is the accessor that borrows them from
//! a store for one host call, and [`add_to_linker`] links the host interface through it.
//! Nothing here knows the store's type (as wasmtime's wasi-config).

pub mod counters;
pub mod log;
pub mod message;
pub mod output;
pub mod session;

use crate::plugin::gen_::sluice::policy::{host, types};
use std::collections::HashMap;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// Each capability's context, borrowed from a store for one host call.
pub struct HostCtx<'a> {
    pub log: &'a mut log::PluginLog,
    /// The plugin's `[config]` table from the operator's file.
    pub config: &'a HashMap<String, String>,
    pub counters: &'a counters::CounterScope,
    pub session: &'a session::SessionInfo,
    /// Handles of the host resources the guest holds (the message).
    pub table: &'a mut ResourceTable,
}

struct HasHost;

impl HasData for HasHost {
    type Data<'a> = HostCtx<'a>;
}

/// Adds Sluice's host interface to `linker`; `ctx` borrows the capabilities from a store.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    ctx: fn(&mut T) -> HostCtx<'_>,
) -> wasmtime::Result<()> {
    host::add_to_linker::<T, HasHost>(linker, ctx)?;
    types::add_to_linker::<T, HasHost>(linker, ctx)
}

impl types::Host for HostCtx<'_> {}

impl host::Host for HostCtx<'_> {
    fn log(&mut self, level: types::Level, message: String) -> wasmtime::Result<()> {
        self.log.write(level, &message);
        Ok(())
    }

    fn config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.get(&key).cloned())
    }

    fn config_keys(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(self.config.keys().cloned().collect())
    }

    fn now_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0))
    }

    async fn counter_add(
        &mut self,
        name: String,
        window_secs: u32,
        delta: u64,
    ) -> wasmtime::Result<u64> {
        let counted = self
            .counters
            .count(&name, window_secs, delta, u64::MAX)
            .await?;
        Ok(counted.unwrap_or_else(|total| total))
    }

    async fn counter_add_below(
        &mut self,
        name: String,
        window_secs: u32,
        delta: u64,
        limit: u64,
    ) -> wasmtime::Result<Result<u64, u64>> {
        Ok(self
            .counters
            .count(&name, window_secs, delta, limit)
            .await?)
    }

    async fn counter_get(&mut self, name: String, window_secs: u32) -> wasmtime::Result<u64> {
        let counted = self.counters.count(&name, window_secs, 0, u64::MAX).await?;
        Ok(counted.unwrap_or_else(|total| total))
    }
}

impl host::HostSession for HostCtx<'_> {
    fn client_ip(&mut self, _: Resource<session::SessionView>) -> wasmtime::Result<String> {
        Ok(self.session.client_ip.to_string())
    }
    fn helo(&mut self, _: Resource<session::SessionView>) -> wasmtime::Result<String> {
        Ok(self.session.helo.clone())
    }
    fn tenant(&mut self, _: Resource<session::SessionView>) -> wasmtime::Result<String> {
        Ok(self.session.tenant.clone())
    }
    fn auth_user(&mut self, _: Resource<session::SessionView>) -> wasmtime::Result<Option<String>> {
        Ok(self.session.auth_user.clone())
    }
    fn tls(&mut self, _: Resource<session::SessionView>) -> wasmtime::Result<Option<String>> {
        Ok(self.session.tls.clone())
    }
    fn mail_from(&mut self, _: Resource<session::SessionView>) -> wasmtime::Result<Option<String>> {
        Ok(self.session.mail_from.clone())
    }
    fn rcpt_count(&mut self, _: Resource<session::SessionView>) -> wasmtime::Result<u32> {
        Ok(u32::try_from(self.session.rcpts.len()).unwrap_or(u32::MAX))
    }
    fn rcpts(&mut self, _: Resource<session::SessionView>) -> wasmtime::Result<Vec<String>> {
        Ok(self.session.rcpts.clone())
    }
    fn drop(&mut self, _: Resource<session::SessionView>) -> wasmtime::Result<()> {
        // Only ever lent to a hook call; nothing to free.
        Ok(())
    }
}

impl host::HostMessage for HostCtx<'_> {
    fn raw_size(&mut self, m: Resource<message::MessageView>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&m)?.raw_size())
    }
    fn header(
        &mut self,
        m: Resource<message::MessageView>,
        name: String,
    ) -> wasmtime::Result<Vec<String>> {
        Ok(self.table.get(&m)?.header(&name))
    }
    fn headers(
        &mut self,
        m: Resource<message::MessageView>,
    ) -> wasmtime::Result<Vec<types::Header>> {
        Ok(self.table.get(&m)?.headers())
    }
    fn subject(&mut self, m: Resource<message::MessageView>) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&m)?.subject())
    }
    fn text_body(&mut self, m: Resource<message::MessageView>) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&m)?.text_body())
    }
    fn html_body(&mut self, m: Resource<message::MessageView>) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&m)?.html_body())
    }
    fn attachments(
        &mut self,
        m: Resource<message::MessageView>,
    ) -> wasmtime::Result<Vec<types::Attachment>> {
        Ok(self.table.get(&m)?.attachments())
    }
    fn links(&mut self, m: Resource<message::MessageView>) -> wasmtime::Result<Vec<String>> {
        Ok(self.table.get(&m)?.links())
    }
    fn raw(
        &mut self,
        m: Resource<message::MessageView>,
        offset: u64,
        len: u64,
    ) -> wasmtime::Result<Vec<u8>> {
        Ok(self.table.get(&m)?.raw(offset, len))
    }
    fn drop(&mut self, m: Resource<message::MessageView>) -> wasmtime::Result<()> {
        self.table.delete(m)?;
        Ok(())
    }
}
