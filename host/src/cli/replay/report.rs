//! What `sluice replay` prints: per message the verdict under each config, then what
//! changed, precision and recall against the labels, and the time each plugin took — as
//! aligned text, or as one JSON document (`--json`).

use super::{Label, Outcome, Replayed};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

/// A config replayed: its role ("candidate", "current"), its file, and each tenant's chain.
pub struct ConfigInfo<'a> {
    pub role: &'a str,
    pub path: &'a Path,
    pub chains: Vec<(String, Vec<String>)>,
}

pub struct Report<'a> {
    configs: &'a [ConfigInfo<'a>],
    replayed: &'a [Replayed],
    labelled: bool,
}

/// Counts of a config's verdicts against the labels.
#[derive(Default)]
struct Confusion {
    tp: usize,
    fp: usize,
    fn_: usize,
    tn: usize,
}

impl Confusion {
    fn precision(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fp)
    }
    fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fn_)
    }
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// One plugin's time per message, over the messages its tenant's chain ran.
struct Timing {
    config: usize,
    tenant: String,
    plugin: String,
    per_message: Vec<Duration>,
}

impl Timing {
    fn stats(&self) -> (f64, f64, f64, f64) {
        let mut v: Vec<f64> = self
            .per_message
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .collect();
        v.sort_by(f64::total_cmp);
        let total: f64 = v.iter().sum();
        let p95 = v[((v.len() as f64 * 0.95).ceil() as usize).clamp(1, v.len()) - 1];
        (total / v.len() as f64, p95, v[v.len() - 1], total)
    }
}

impl<'a> Report<'a> {
    pub fn new(
        configs: &'a [ConfigInfo<'a>],
        replayed: &'a [Replayed],
        labelled: bool,
    ) -> Report<'a> {
        Report {
            configs,
            replayed,
            labelled,
        }
    }

    fn ok(r: &Replayed, config: usize) -> Option<&Outcome> {
        r.results.get(config).and_then(|x| x.as_ref().ok())
    }

    /// Changed: the verdict in a few words differs between the configs.
    fn changed(r: &Replayed) -> bool {
        match (Self::ok(r, 0), Self::ok(r, 1)) {
            (Some(a), Some(b)) => a.summary() != b.summary(),
            _ => false,
        }
    }

    /// (current, candidate) verdict pairs and how many messages made each.
    fn transitions(&self) -> BTreeMap<(String, String), usize> {
        let mut out = BTreeMap::new();
        for r in self.replayed {
            if let (Some(new), Some(old)) = (Self::ok(r, 0), Self::ok(r, 1)) {
                *out.entry((old.summary(), new.summary())).or_default() += 1;
            }
        }
        out
    }

    fn confusion(&self, config: usize) -> (Confusion, usize) {
        let (mut c, mut unlabelled) = (Confusion::default(), 0);
        for r in self.replayed {
            let Some(o) = Self::ok(r, config) else {
                continue;
            };
            match (r.label, o.flagged()) {
                (Some(Label::Marketing), true) => c.tp += 1,
                (Some(Label::Marketing), false) => c.fn_ += 1,
                (Some(Label::Transactional), true) => c.fp += 1,
                (Some(Label::Transactional), false) => c.tn += 1,
                (None, _) => unlabelled += 1,
            }
        }
        (c, unlabelled)
    }

    fn timings(&self) -> Vec<Timing> {
        let mut by_key: BTreeMap<(usize, String, String), Vec<Duration>> = BTreeMap::new();
        for r in self.replayed {
            for (config, result) in r.results.iter().enumerate() {
                let Ok(o) = result else { continue };
                for (plugin, took) in &o.plugins {
                    by_key
                        .entry((config, o.tenant.clone(), plugin.clone()))
                        .or_default()
                        .push(*took);
                }
            }
        }
        by_key
            .into_iter()
            .map(|((config, tenant, plugin), per_message)| Timing {
                config,
                tenant,
                plugin,
                per_message,
            })
            .collect()
    }

    /// (config, tenant, shadow plugin, would-be, enforced) and how many messages made each:
    /// what a shadow plugin would have done against what the chain did.
    fn shadowed(&self) -> BTreeMap<(usize, String, String, String, String), usize> {
        let mut out = BTreeMap::new();
        for r in self.replayed {
            for (config, result) in r.results.iter().enumerate() {
                let Ok(o) = result else { continue };
                for (plugin, would) in &o.shadow {
                    *out.entry((
                        config,
                        o.tenant.clone(),
                        plugin.clone(),
                        would.clone(),
                        o.summary(),
                    ))
                    .or_default() += 1;
                }
            }
        }
        out
    }

    fn errors(&self) -> Vec<(String, &str, &str)> {
        let mut out = Vec::new();
        for r in self.replayed {
            for (config, result) in r.results.iter().enumerate() {
                if let Err(e) = result {
                    out.push((
                        r.path.display().to_string(),
                        self.configs[config].role,
                        e.as_str(),
                    ));
                }
            }
        }
        out
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        for c in self.configs {
            let _ = writeln!(out, "{}: {}", c.role, c.path.display());
        }
        let cell = |r: &Replayed, config: usize| match r.results.get(config) {
            Some(Ok(o)) => o.summary(),
            Some(Err(_)) => "error".into(),
            None => String::new(),
        };
        let files: Vec<String> = self
            .replayed
            .iter()
            .map(|r| r.path.display().to_string())
            .collect();
        let wf = files.iter().map(String::len).max().unwrap_or(4).max(4);
        let wv = self
            .replayed
            .iter()
            .map(|r| cell(r, 0).len())
            .max()
            .unwrap_or(9)
            .max(9);
        let _ = write!(
            out,
            "\n{:<wf$}  {:<13}  {:<wv$}",
            "FILE", "LABEL", "CANDIDATE"
        );
        if self.configs.len() > 1 {
            out.push_str("  CURRENT");
        }
        out.push('\n');
        for (r, file) in self.replayed.iter().zip(&files) {
            let label = r.label.map_or("-", Label::as_str);
            let _ = write!(out, "{file:<wf$}  {label:<13}  {:<wv$}", cell(r, 0));
            if self.configs.len() > 1 {
                let mark = if Self::changed(r) { "  changed" } else { "" };
                let _ = write!(out, "  {}{mark}", cell(r, 1));
            }
            out.push('\n');
            // Why, for what changed (or, with one config, for what it stopped or tagged).
            let explain = if self.configs.len() > 1 {
                Self::changed(r)
            } else {
                Self::ok(r, 0).is_some_and(Outcome::flagged)
            };
            for (config, result) in r.results.iter().enumerate() {
                let role = self.configs[config].role;
                match result {
                    Err(e) => {
                        let _ = writeln!(out, "    {role}: {e}");
                    }
                    Ok(o) if explain => {
                        if let Some(why) = explanation(o) {
                            let _ = writeln!(out, "    {role}: {why}");
                        }
                    }
                    Ok(_) => {}
                }
            }
        }
        out.push_str(&self.summary_text());
        out
    }

    fn summary_text(&self) -> String {
        let mut out = String::new();
        let n = self.replayed.len();
        if self.configs.len() > 1 {
            let changed = self.replayed.iter().filter(|r| Self::changed(r)).count();
            let _ = writeln!(
                out,
                "\n{changed} of {n} message(s) changed (current → candidate):"
            );
            for ((old, new), count) in self.transitions() {
                let same = if old == new { "  (unchanged)" } else { "" };
                let _ = writeln!(out, "  {old:>20} → {new:<20} {count:>6}{same}");
            }
        } else {
            let _ = writeln!(out, "\n{n} message(s):");
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for r in self.replayed {
                if let Some(o) = Self::ok(r, 0) {
                    *counts.entry(o.summary()).or_default() += 1;
                }
            }
            for (v, count) in counts {
                let _ = writeln!(out, "  {v:<24} {count:>6}");
            }
        }
        if self.labelled {
            let _ = writeln!(
                out,
                "\nprecision and recall against the labels (flagged: refused, quarantined, discarded or tagged marketing):"
            );
            let f = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.3}"));
            for (i, config) in self.configs.iter().enumerate() {
                let (c, unlabelled) = self.confusion(i);
                let _ = writeln!(
                    out,
                    "  {:<9}  tp {:>4}  fp {:>4}  fn {:>4}  tn {:>4}  precision {}  recall {}{}",
                    config.role,
                    c.tp,
                    c.fp,
                    c.fn_,
                    c.tn,
                    f(c.precision()),
                    f(c.recall()),
                    if unlabelled > 0 {
                        format!("  ({unlabelled} unlabelled)")
                    } else {
                        String::new()
                    }
                );
            }
        }
        let timings = self.timings();
        if !timings.is_empty() {
            let _ = writeln!(out, "\nplugin time per message, all hooks (ms):");
            for t in &timings {
                let (mean, p95, max, total) = t.stats();
                let _ = writeln!(
                    out,
                    "  {:<9}  tenant {}  {:<32}  messages {:>5}  mean {mean:.3}  p95 {p95:.3}  max {max:.3}  total {total:.1}",
                    self.configs[t.config].role,
                    t.tenant,
                    t.plugin,
                    t.per_message.len()
                );
            }
        }
        let shadowed = self.shadowed();
        if !shadowed.is_empty() {
            let _ = writeln!(
                out,
                "\nshadow plugins, what they would have done → what the chain did:"
            );
            for ((config, tenant, plugin, would, enforced), count) in shadowed {
                let _ = writeln!(
                    out,
                    "  {:<9}  tenant {tenant}  {plugin:<32}  {would:>18} → {enforced:<18} {count:>6}",
                    self.configs[config].role
                );
            }
        }
        let errors = self.errors();
        if !errors.is_empty() {
            let _ = writeln!(out, "\n{} message(s) could not be replayed:", errors.len());
            for (file, role, e) in errors {
                let _ = writeln!(out, "  {file} ({role}): {e}");
            }
        }
        out
    }

    pub fn json(&self) -> Value {
        let configs: Vec<Value> = self
            .configs
            .iter()
            .map(|c| {
                json!({
                    "role": c.role,
                    "path": c.path.display().to_string(),
                    "tenants": c.chains.iter().map(|(t, chain)| json!({"tenant": t, "plugins": chain})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let messages: Vec<Value> = self
            .replayed
            .iter()
            .map(|r| {
                let mut m = json!({
                    "file": r.path.display().to_string(),
                    "label": r.label.map(Label::as_str),
                    "envelope": r.envelope.as_ref().map(|e| json!({
                        "from": e.from, "to": e.to, "client_ip": e.client_ip.to_string(), "helo": e.helo,
                        "auth_user": e.auth_user, "tls": e.tls,
                    })),
                });
                for (i, result) in r.results.iter().enumerate() {
                    m[self.configs[i].role] = match result {
                        Ok(o) => outcome_json(o),
                        Err(e) => json!({ "error": e }),
                    };
                }
                if self.configs.len() > 1 {
                    m["changed"] = json!(Self::changed(r));
                }
                m
            })
            .collect();
        let mut summary = json!({ "messages": self.replayed.len() });
        if self.configs.len() > 1 {
            summary["changed"] = json!(self.replayed.iter().filter(|r| Self::changed(r)).count());
            summary["transitions"] = self
                .transitions()
                .into_iter()
                .map(|((from, to), count)| json!({"from": from, "to": to, "count": count}))
                .collect();
        }
        if self.labelled {
            let mut metrics = serde_json::Map::new();
            for (i, config) in self.configs.iter().enumerate() {
                let (c, unlabelled) = self.confusion(i);
                metrics.insert(
                    config.role.to_string(),
                    json!({
                        "tp": c.tp, "fp": c.fp, "fn": c.fn_, "tn": c.tn, "unlabelled": unlabelled,
                        "precision": c.precision(), "recall": c.recall(),
                    }),
                );
            }
            summary["labels"] = Value::Object(metrics);
        }
        summary["plugin_time_ms"] = self
            .timings()
            .iter()
            .map(|t| {
                let (mean, p95, max, total) = t.stats();
                json!({
                    "config": self.configs[t.config].role, "tenant": t.tenant, "plugin": t.plugin,
                    "messages": t.per_message.len(), "mean": mean, "p95": p95, "max": max, "total": total,
                })
            })
            .collect();
        summary["shadow"] = self
            .shadowed()
            .into_iter()
            .map(|((config, tenant, plugin, would, enforced), count)| {
                json!({
                    "config": self.configs[config].role, "tenant": tenant, "plugin": plugin,
                    "would_be": would, "enforced": enforced, "count": count,
                })
            })
            .collect();
        summary["errors"] = json!(self.errors().len());
        json!({ "configs": configs, "messages": messages, "summary": summary })
    }
}

/// Who decided and why (a refusal's reply names the plugin already), and the headers the
/// chain added, which say why when a plugin explains itself there.
fn explanation(o: &Outcome) -> Option<String> {
    let mut parts = Vec::new();
    match (&o.by, &o.reason) {
        (Some(by), Some(reason)) if reason.contains(by.as_str()) => parts.push(reason.clone()),
        (by, reason) => parts.extend(by.iter().chain(reason).cloned()),
    }
    parts.extend(o.headers.iter().map(|(n, v)| format!("{n}: {v}")));
    (!parts.is_empty()).then(|| parts.join(" | "))
}

fn outcome_json(o: &Outcome) -> Value {
    json!({
        "tenant": o.tenant,
        "verdict": o.verdict,
        "summary": o.summary(),
        "flagged": o.flagged(),
        "stage": o.stage,
        "reason": o.reason,
        "by": o.by,
        "tags": o.tags,
        "headers": o.headers.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
        "routes": o.routes.iter().map(|(d, r)| json!({"domain": d, "route": r})).collect::<Vec<_>>(),
        "plugins": o.plugins.iter().map(|(p, t)| json!({"plugin": p, "ms": t.as_secs_f64() * 1e3})).collect::<Vec<_>>(),
        "shadow": o.shadow.iter().map(|(p, w)| json!({"plugin": p, "would_be": w})).collect::<Vec<_>>(),
    })
}
