//! `sluice queue list|show`: through the running relay's admin API, or straight from the
//! spool files when no relay answers; `sluice queue retry|hold|release|delete`: carried out
//! by the running relay.

use super::admin::{CallError, Client};
use crate::admin::queue::{detail, quarantined_or_unknown, summary};
use crate::config::Config;
use crate::queue::quarantine::Quarantine;
use crate::queue::spool;
use hyper::Method;
use serde_json::Value;
use std::time::{Duration, UNIX_EPOCH};

/// The API's answer to a read, or `None` when no relay is running to give one.
async fn read(config: &Config, path: &str) -> anyhow::Result<Option<Value>> {
    match Client::new(config).call(Method::GET, path).await {
        Ok(answer) => Ok(Some(answer.into_result()?)),
        Err(CallError::Unreachable { .. }) => {
            eprintln!(
                "(no relay answers on {}: reading the spool {} directly)",
                config.admin.listen,
                config.spool.dir.display()
            );
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn list(config: &Config, json: bool) -> anyhow::Result<()> {
    let messages = match read(config, "/v1/queue").await? {
        Some(v) => v["messages"].as_array().cloned().unwrap_or_default(),
        // No spool directory yet: nothing was ever queued there.
        None if !config.spool.dir.exists() => Vec::new(),
        None => spool::inspect(&config.spool.dir)?
            .iter()
            .map(|m| summary(m, None))
            .collect(),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&messages)?);
        return Ok(());
    }
    if messages.is_empty() {
        println!("the queue in {} is empty", config.spool.dir.display());
    }
    let joined = |v: &Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default()
    };
    for m in &messages {
        let tags = joined(&m["tags"]);
        let next = m["next_attempt_at"]
            .as_u64()
            .map(|at| format!("  next={}", when(at)))
            .unwrap_or_default();
        let last = m["last_error"]
            .as_str()
            .map(|e| format!("  last_error={e:?}"))
            .unwrap_or_default();
        let last = match m["last_category"].as_str() {
            Some(c) => format!("{last}  last_category={c}"),
            None => last,
        };
        println!(
            "{}  {}  tenant={}  from=<{}>  rcpts={}  attempts={}{next}  age={}s  size={}{}{last}",
            m["id"].as_str().unwrap_or("?"),
            m["state"].as_str().unwrap_or("?"),
            m["tenant"].as_str().unwrap_or("?"),
            m["from"].as_str().unwrap_or(""),
            joined(&m["rcpts"]),
            m["attempts"],
            m["age_seconds"],
            m["size"],
            if tags.is_empty() {
                String::new()
            } else {
                format!("  tags={tags}")
            }
        );
    }
    println!("{} message(s)", messages.len());
    Ok(())
}

/// A time in seconds since the epoch, as RFC 3339 with how far off it is.
fn when(at: u64) -> String {
    let now = crate::queue::envelope::unix_now();
    let stamp = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(at));
    let off = |s: u64| humantime::format_duration(Duration::from_secs(s));
    if at >= now {
        format!("{stamp} (in {})", off(at - now))
    } else {
        format!("{stamp} ({} ago)", off(now - at))
    }
}

pub async fn show(config: &Config, id: &str) -> anyhow::Result<()> {
    let v = match read(config, &format!("/v1/queue/{id}")).await? {
        Some(v) => v,
        None => {
            let messages = spool::inspect(&config.spool.dir)?;
            let Some(m) = messages
                .iter()
                .find(|m| m.envelope.id.0.eq_ignore_ascii_case(id))
            else {
                let quarantined = Quarantine::new(&config.spool.dir).get(id).is_ok();
                anyhow::bail!("{}", quarantined_or_unknown(quarantined, id).detail);
            };
            let bytes = spool::read_message(&config.spool.dir, m.location)?;
            detail(m, None, &bytes)
        }
    };
    println!(
        "{}  {}",
        v["id"].as_str().unwrap_or(id),
        v["state"].as_str().unwrap_or("?")
    );
    if let Some(at) = v["next_attempt_at"].as_u64() {
        println!("next attempt: {}", when(at));
    }
    if let Some(e) = v["last_error"].as_str() {
        match v["last_category"].as_str() {
            Some(c) => println!("last error: {e} ({c})"),
            None => println!("last error: {e}"),
        }
    }
    for a in v["history"].as_array().into_iter().flatten() {
        println!(
            "attempt {} at {}:",
            a["attempt"],
            a["at"].as_u64().map(when).unwrap_or_default()
        );
        for r in a["rcpts"].as_array().into_iter().flatten() {
            println!(
                "  {} {}: {}{}{}",
                r["rcpt"].as_str().unwrap_or("?"),
                r["outcome"].as_str().unwrap_or("?"),
                r["reply"].as_str().unwrap_or(""),
                r["remote"]
                    .as_str()
                    .map(|h| format!(" (from {h})"))
                    .unwrap_or_default(),
                r["category"]
                    .as_str()
                    .map(|c| format!(" [{c}]"))
                    .unwrap_or_default(),
            );
        }
    }
    println!("{}", serde_json::to_string_pretty(&v["envelope"])?);
    print!("{}", v["headers"].as_str().unwrap_or(""));
    println!("[{} bytes of body]", v["body_bytes"]);
    Ok(())
}

/// Retries one message now, or every one waiting with `None`.
pub async fn retry(config: &Config, id: Option<&str>) -> anyhow::Result<()> {
    let path = match id {
        Some(id) => format!("/v1/queue/{id}/retry"),
        None => "/v1/queue/retry".into(),
    };
    let v = Client::new(config)
        .call(Method::POST, &path)
        .await?
        .into_result()?;
    println!(
        "{} message(s) moved to the front of the queue",
        v["retried"]
    );
    Ok(())
}

pub async fn delete(config: &Config, id: &str) -> anyhow::Result<()> {
    let v = Client::new(config)
        .call(Method::DELETE, &format!("/v1/queue/{id}"))
        .await?
        .into_result()?;
    println!(
        "{} deleted ({} recipient(s) will not be delivered)",
        v["deleted"].as_str().unwrap_or(id),
        v["recipients"]
    );
    Ok(())
}

/// Keeps a message waiting for a retry from delivery until `release`.
pub async fn hold(config: &Config, id: &str) -> anyhow::Result<()> {
    Client::new(config)
        .call(Method::POST, &format!("/v1/queue/{id}/hold"))
        .await?
        .into_result()?;
    println!("{id} held: it will not be attempted until `sluice queue release {id}`");
    Ok(())
}

/// Lets a held message go: it is attempted at once.
pub async fn release(config: &Config, id: &str) -> anyhow::Result<()> {
    Client::new(config)
        .call(Method::POST, &format!("/v1/queue/{id}/release"))
        .await?
        .into_result()?;
    println!("{id} released: attempted now");
    Ok(())
}
