//! `host.log`: a plugin's log lines, tagged with the plugin and the queue id.
//!
//! What a plugin writes cannot pass for the relay's own lines: control characters (newlines,
//! carriage returns, escape sequences) and Unicode line separators and bidi overrides are
//! written escaped (`\n`, `\u{1b}`). And it cannot flood the log: each transaction of an
//! instance has a budget charged [`LINE_COST`] per line plus the bytes written, and at most
//! [`MAX_LINES`] lines; past either, lines are dropped (one warning says so).

use crate::plugin::wit::Level;
use std::fmt::Write as _;
use std::sync::Arc;

/// Bytes of log one plugin instance may write per transaction, overheads included.
const BUDGET: usize = 64 * 1024;
/// What every line costs on top of its text: what the relay adds to it (time, level, plugin,
/// queue id) is about that much, so an empty line is not free.
pub const LINE_COST: usize = 64;
/// Lines one instance may write per transaction.
pub const MAX_LINES: usize = 1000;
/// Longest single line kept (after escaping).
const MAX_LINE: usize = 1024;

/// The log capability's context: one instance's budget.
pub struct PluginLog {
    pub plugin: Arc<str>,
    pub queue_id: Option<String>,
    left: usize,
    lines: usize,
}

impl PluginLog {
    pub fn new(plugin: Arc<str>) -> PluginLog {
        PluginLog {
            plugin,
            queue_id: None,
            left: BUDGET,
            lines: 0,
        }
    }

    /// A new transaction of a kept instance (`reuse`): a new budget.
    pub fn begin_transaction(&mut self, queue_id: Option<&str>) {
        self.queue_id = queue_id.map(str::to_owned);
        self.left = BUDGET;
        self.lines = 0;
    }

    fn exhausted(&self) -> bool {
        self.left < LINE_COST || self.lines >= MAX_LINES
    }

    pub fn write(&mut self, level: Level, message: &str) {
        if self.exhausted() {
            return;
        }
        let line = escape_control(message, (self.left - LINE_COST).min(MAX_LINE));
        self.left -= LINE_COST + line.len();
        self.lines += 1;
        let (plugin, queue_id) = (&*self.plugin, self.queue_id.as_deref().unwrap_or("-"));
        match level {
            Level::Debug => tracing::debug!(target: "sluice::plugin", plugin, queue_id, "{line}"),
            Level::Info => tracing::info!(target: "sluice::plugin", plugin, queue_id, "{line}"),
            Level::Warn => tracing::warn!(target: "sluice::plugin", plugin, queue_id, "{line}"),
            Level::Error => tracing::error!(target: "sluice::plugin", plugin, queue_id, "{line}"),
        }
        if self.exhausted() {
            tracing::warn!(target: "sluice::plugin", plugin, queue_id, "log budget of this instance used up; further lines dropped");
        }
    }
}

/// Characters written escaped: they could end a log line, rewrite one on a terminal, or
/// reorder what a reader sees.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with control characters escaped (`\n`, `\r`, `\t`, `\u{1b}`…), cut at a character
/// boundary to at most `max` bytes.
pub fn escape_control(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    let mut piece = String::new();
    for c in text.chars() {
        piece.clear();
        if needs_escape(c) {
            let _ = write!(piece, "{}", c.escape_default());
        } else {
            piece.push(c);
        }
        if out.len() + piece.len() > max {
            break;
        }
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_cut_at_a_boundary() {
        assert_eq!(
            escape_control("a\nb\r\x1b[2K\u{2028}é", 100),
            r"a\nb\r\u{1b}[2K\u{2028}é"
        );
        assert_eq!(escape_control("ab\ncd", 4), r"ab\n");
        assert_eq!(escape_control("ab\ncd", 3), "ab");
        assert_eq!(escape_control("éé", 3), "é");
    }

    #[test]
    fn every_line_is_charged_and_lines_are_capped() {
        let mut log = PluginLog::new(Arc::from("p"));
        for _ in 0..10_000 {
            log.write(Level::Debug, "");
        }
        assert_eq!(log.lines, MAX_LINES);
        log.begin_transaction(Some("Q"));
        log.write(Level::Debug, &"x".repeat(5000));
        assert_eq!(log.left, BUDGET - LINE_COST - MAX_LINE);
        let mut n = 1;
        while !log.exhausted() {
            log.write(Level::Debug, &"x".repeat(5000));
            n += 1;
        }
        assert_eq!(n, BUDGET / (LINE_COST + MAX_LINE) + 1);
    }
}
