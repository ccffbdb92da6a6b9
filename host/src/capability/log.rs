//! `host.log`: a plugin's log lines, tagged with the plugin and the queue id, with a size cap
//! per instance so a chatty plugin cannot flood the relay's log.

use crate::plugin::wit::Level;
use std::sync::Arc;

/// Bytes of log one plugin instance may write.
const BUDGET: usize = 64 * 1024;
/// Longest single line kept.
const MAX_LINE: usize = 1024;

pub struct PluginLog {
    pub plugin: Arc<str>,
    pub queue_id: Option<String>,
    left: usize,
}

impl PluginLog {
    pub fn new(plugin: Arc<str>) -> PluginLog {
        PluginLog {
            plugin,
            queue_id: None,
            left: BUDGET,
        }
    }

    pub fn write(&mut self, level: Level, message: &str) {
        if self.left == 0 {
            return;
        }
        let mut end = message.len().min(MAX_LINE).min(self.left);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let line = &message[..end];
        self.left = self.left.saturating_sub(line.len().max(1));
        let (plugin, queue_id) = (&*self.plugin, self.queue_id.as_deref().unwrap_or("-"));
        match level {
            Level::Debug => tracing::debug!(target: "sluice::plugin", plugin, queue_id, "{line}"),
            Level::Info => tracing::info!(target: "sluice::plugin", plugin, queue_id, "{line}"),
            Level::Warn => tracing::warn!(target: "sluice::plugin", plugin, queue_id, "{line}"),
            Level::Error => tracing::error!(target: "sluice::plugin", plugin, queue_id, "{line}"),
        }
        if self.left == 0 {
            tracing::warn!(target: "sluice::plugin", plugin, queue_id, "log budget of this instance used up; further lines dropped");
        }
    }
}
