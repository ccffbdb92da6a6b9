//! `sluice suppression list|add|remove|export|import --tenant T`: a tenant's suppression list
//! through the running relay's admin API (the relay owns the list's log, so there is no
//! offline fallback as for `queue list`).

use super::admin::Client;
use crate::config::Config;
use anyhow::Context;
use hyper::Method;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::io::{Read, Write};
use std::path::Path;

/// What stays as it is in a path segment: RFC 3986 unreserved characters, `@` and `+`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b'+');

fn base(tenant: &str) -> String {
    format!(
        "/v1/tenants/{}/suppressions",
        utf8_percent_encode(tenant, SEGMENT)
    )
}

fn one(tenant: &str, address: &str) -> String {
    format!("{}/{}", base(tenant), utf8_percent_encode(address, SEGMENT))
}

/// Every entry (or those with `reason`), page after page.
pub async fn list(
    config: &Config,
    tenant: &str,
    reason: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let client = Client::new(config);
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{}?limit=1000", base(tenant));
        if let Some(r) = reason {
            path.push_str(&format!("&reason={}", utf8_percent_encode(r, SEGMENT)));
        }
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = client.call(Method::GET, &path).await?.into_result()?;
        all.extend(page["suppressions"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    for e in &all {
        println!(
            "{}  {}  since {}{}{}",
            e["address"].as_str().unwrap_or("?"),
            e["reason"].as_str().unwrap_or("?"),
            e["created_at"].as_str().unwrap_or("?"),
            e["expires_at"]
                .as_str()
                .map(|x| format!("  until {x}"))
                .unwrap_or_default(),
            e["detail"]
                .as_str()
                .map(|d| format!("  ({d})"))
                .unwrap_or_default(),
        );
    }
    println!("{} suppressed address(es) for tenant {tenant}", all.len());
    Ok(())
}

pub async fn add(
    config: &Config,
    tenant: &str,
    address: &str,
    reason: &str,
    detail: Option<&str>,
    expires: Option<&str>,
) -> anyhow::Result<()> {
    let mut body = serde_json::json!({ "reason": reason });
    if let Some(d) = detail {
        body["detail"] = d.into();
    }
    if let Some(x) = expires {
        body["expires_at"] = x.into();
    }
    let entry = Client::new(config)
        .call_with(
            Method::PUT,
            &one(tenant, address),
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await?
        .into_result()?;
    println!(
        "{} suppressed for tenant {tenant} ({})",
        entry["address"].as_str().unwrap_or(address),
        entry["reason"].as_str().unwrap_or(reason)
    );
    Ok(())
}

pub async fn remove(config: &Config, tenant: &str, address: &str) -> anyhow::Result<()> {
    let v = Client::new(config)
        .call(Method::DELETE, &one(tenant, address))
        .await?
        .into_result()?;
    println!(
        "{} removed from tenant {tenant}'s suppression list",
        v["removed"].as_str().unwrap_or(address)
    );
    Ok(())
}

/// The list as CSV, to `out` (a new file) or stdout.
pub async fn export(config: &Config, tenant: &str, out: Option<&Path>) -> anyhow::Result<()> {
    let answer = Client::new(config)
        .call(Method::GET, &format!("{}.csv", base(tenant)))
        .await?;
    if !answer.status.is_success() {
        answer.into_result()?;
        anyhow::bail!("the export failed");
    }
    match out {
        Some(path) => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            f.write_all(&answer.body)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("written to {}", path.display());
        }
        None => std::io::stdout().write_all(&answer.body)?,
    }
    Ok(())
}

/// Adds every row of a CSV file (`-`: stdin); a bad row refuses the whole file.
pub async fn import(config: &Config, tenant: &str, file: &Path) -> anyhow::Result<()> {
    let mut csv = Vec::new();
    if file == Path::new("-") {
        std::io::stdin().read_to_end(&mut csv)?;
    } else {
        csv = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    }
    let v = Client::new(config)
        .call_with(
            Method::POST,
            &format!("{}/import", base(tenant)),
            Some(("text/csv", csv)),
        )
        .await?
        .into_result()?;
    println!(
        "imported {} row(s) for tenant {tenant}: {} added, {} replaced",
        v["imported"], v["added"], v["replaced"]
    );
    Ok(())
}
