//! `sluice queue list|show`: through the running relay's admin API, or straight from the
//! spool files when no relay answers; `sluice queue retry|delete`: carried out by the
//! running relay.

use super::admin::{CallError, Client};
use crate::admin::queue::{split_headers, summary};
use crate::config::Config;
use crate::queue::spool;
use hyper::Method;
use serde_json::Value;

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
            .map(summary)
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
        println!(
            "{}  tenant={}  from=<{}>  rcpts={}  attempts={}  age={}s  size={}{}",
            m["id"].as_str().unwrap_or("?"),
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

pub async fn show(config: &Config, id: &str) -> anyhow::Result<()> {
    let (envelope, headers, body_bytes) = match read(config, &format!("/v1/queue/{id}")).await? {
        Some(v) => (
            v["envelope"].clone(),
            v["headers"].as_str().unwrap_or("").to_owned(),
            v["body_bytes"].as_u64().unwrap_or(0) as usize,
        ),
        None => {
            let messages = spool::inspect(&config.spool.dir)?;
            let m = messages
                .iter()
                .find(|m| m.envelope.id.0.eq_ignore_ascii_case(id))
                .ok_or_else(|| anyhow::anyhow!("no message {id} in the queue"))?;
            let bytes = spool::read_message(&config.spool.dir, m.location)?;
            let (headers, body) = split_headers(&bytes);
            (
                serde_json::to_value(&m.envelope)?,
                String::from_utf8_lossy(headers).into_owned(),
                body,
            )
        }
    };
    println!("{}", serde_json::to_string_pretty(&envelope)?);
    print!("{headers}");
    println!("[{body_bytes} bytes of body]");
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
