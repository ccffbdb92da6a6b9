//! `sluice quarantine list|release`: held messages, for operators.

use crate::config::Config;
use crate::queue::quarantine::Quarantine;

pub fn list(config: &Config) -> anyhow::Result<()> {
    let q = Quarantine::new(&config.spool.dir);
    let held = q.list()?;
    if held.is_empty() {
        println!("no quarantined messages in {}", q.dir.display());
    }
    for h in held {
        let e = &h.envelope;
        println!(
            "{}  tenant={}  from=<{}>  rcpts={}  reason={}",
            e.id,
            e.tenant,
            e.mail_from,
            e.rcpts.join(","),
            h.reason
        );
    }
    Ok(())
}

pub fn release(config: &Config, id: &str) -> anyhow::Result<()> {
    Quarantine::new(&config.spool.dir).release(id)?;
    println!("{id} released: the running relay delivers it within a second or two");
    Ok(())
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
