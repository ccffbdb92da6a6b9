//! `sluice quarantine list|show|release|delete`: held messages, through the running relay's
//! admin API, or straight from the files when no relay answers.

use super::admin::{CallError, Client};
use crate::admin::queue::{held_detail, held_json};
use crate::config::Config;
use crate::queue::quarantine::Quarantine;
use hyper::Method;

pub async fn list(config: &Config) -> anyhow::Result<()> {
    let q = Quarantine::new(&config.spool.dir);
    let held = match Client::new(config)
        .call(Method::GET, "/v1/quarantine")
        .await
    {
        Ok(answer) => answer.into_result()?["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        Err(CallError::Unreachable { .. }) => q.list()?.iter().map(held_json).collect(),
        Err(e) => return Err(e.into()),
    };
    if held.is_empty() {
        println!("no quarantined messages in {}", q.dir.display());
    }
    for h in held {
        let rcpts: Vec<&str> = h["rcpts"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| r.as_str()).collect())
            .unwrap_or_default();
        println!(
            "{}  tenant={}  from=<{}>  rcpts={}  reason={}",
            h["id"].as_str().unwrap_or("?"),
            h["tenant"].as_str().unwrap_or("?"),
            h["from"].as_str().unwrap_or(""),
            rcpts.join(","),
            h["reason"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

pub async fn release(config: &Config, id: &str) -> anyhow::Result<()> {
    let path = format!("/v1/quarantine/{id}/release");
    match Client::new(config).call(Method::POST, &path).await {
        Ok(answer) => {
            answer.into_result()?;
            println!("{id} released: queued for delivery");
        }
        Err(CallError::Unreachable { .. }) => {
            Quarantine::new(&config.spool.dir).release(id)?;
            println!("{id} released: no relay is running; the next one to start delivers it");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

pub async fn show(config: &Config, id: &str) -> anyhow::Result<()> {
    let path = format!("/v1/quarantine/{id}");
    let v = match Client::new(config).call(Method::GET, &path).await {
        Ok(answer) => answer.into_result()?,
        Err(CallError::Unreachable { .. }) => {
            let (held, bytes) = Quarantine::new(&config.spool.dir).get(id)?;
            held_detail(&held, &bytes)
        }
        Err(e) => return Err(e.into()),
    };
    println!(
        "{}  quarantined  reason={}",
        v["id"].as_str().unwrap_or(id),
        v["reason"].as_str().unwrap_or("")
    );
    println!("{}", serde_json::to_string_pretty(&v["envelope"])?);
    print!("{}", v["headers"].as_str().unwrap_or(""));
    println!("[{} bytes of body]", v["body_bytes"]);
    Ok(())
}

pub async fn delete(config: &Config, id: &str) -> anyhow::Result<()> {
    let path = format!("/v1/quarantine/{id}");
    match Client::new(config).call(Method::DELETE, &path).await {
        Ok(answer) => {
            answer.into_result()?;
        }
        Err(CallError::Unreachable { .. }) => {
            Quarantine::new(&config.spool.dir).delete(id)?;
        }
        Err(e) => return Err(e.into()),
    }
    println!("{id} deleted from the quarantine (it will not be delivered)");
    Ok(())
}
