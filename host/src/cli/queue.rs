//! `sluice queue list|show`: what the spool holds, read without disturbing the running relay;
//! `sluice queue retry|delete`: requests carried out by the running relay.

use crate::config::Config;
use crate::queue::control;
use crate::queue::envelope::unix_now;
use crate::queue::spool;

pub fn list(config: &Config) -> anyhow::Result<()> {
    let messages = spool::inspect(&config.spool.dir)?;
    if messages.is_empty() {
        println!("the queue in {} is empty", config.spool.dir.display());
    }
    for m in &messages {
        let e = &m.envelope;
        println!(
            "{}  tenant={}  from=<{}>  rcpts={}  attempts={}  age={}s  size={}{}",
            e.id,
            e.tenant,
            e.mail_from,
            e.rcpts.join(","),
            e.attempts,
            unix_now().saturating_sub(e.received_at),
            m.location.body_len,
            if e.tags.is_empty() {
                String::new()
            } else {
                format!("  tags={}", e.tags.join(","))
            }
        );
    }
    println!("{} message(s)", messages.len());
    Ok(())
}

pub fn show(config: &Config, id: &str) -> anyhow::Result<()> {
    let messages = spool::inspect(&config.spool.dir)?;
    let m = messages
        .iter()
        .find(|m| m.envelope.id.0.eq_ignore_ascii_case(id))
        .ok_or_else(|| anyhow::anyhow!("no message {id} in the queue"))?;
    println!("{}", serde_json::to_string_pretty(&m.envelope)?);
    let bytes = spool::read_message(&config.spool.dir, m.location)?;
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |p| p + 2);
    print!("{}", String::from_utf8_lossy(&bytes[..end]));
    println!("[{} bytes of body]", bytes.len().saturating_sub(end + 2));
    Ok(())
}

/// Asks the running relay to retry (one message or all) or delete a queued message.
pub fn request(config: &Config, request: control::Request) -> anyhow::Result<()> {
    let pid_file = config.spool.dir.join("sluice.pid");
    if !pid_file.exists() {
        anyhow::bail!(
            "no relay is running on the spool {} (only the running relay changes its queue; start it with `sluice serve`)",
            config.spool.dir.display()
        );
    }
    match control::ask(
        &config.spool.dir,
        &request,
        std::time::Duration::from_secs(10),
    )? {
        Some(answer) if answer.starts_with("error:") => {
            anyhow::bail!("{}", answer.trim_start_matches("error: "))
        }
        Some(answer) => {
            println!("{}", answer.trim_start_matches("ok: "));
            Ok(())
        }
        None => anyhow::bail!("the relay did not answer within 10 seconds; see its log"),
    }
}

/// Sends SIGHUP to the relay whose pid file sits in the spool directory.
pub fn reload(config: &Config) -> anyhow::Result<()> {
    let pid_file = config.spool.dir.join("sluice.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read {}: {e} (is the relay running?)",
                pid_file.display()
            )
        })?
        .trim()
        .parse()?;
    // SAFETY: kill(2) with a pid read from our own pid file and a plain signal number.
    if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
        anyhow::bail!(
            "cannot signal pid {pid}: {}",
            std::io::Error::last_os_error()
        );
    }
    println!("asked pid {pid} to reload its plugins; the outcome is in its log (event reloaded or reload_refused)");
    Ok(())
}
