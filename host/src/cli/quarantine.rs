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
