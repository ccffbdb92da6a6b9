//! `sluice domain check DOMAIN`: whether SPF, DKIM and DMARC are published and aligned for
//! mail that this relay sends as DOMAIN, and what to fix. Records are looked up with the
//! config's resolver and parsed and evaluated by mail-auth.

use crate::config::resolved::within_domain;
use crate::config::{Config, DnsConfig};
use crate::delivery::mx::Resolver;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::dmarc::{Alignment, Dmarc, Policy};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{MessageAuthenticator, SpfResult};
use std::net::IpAddr;

/// Prints the report; `Ok(false)` when something needs fixing.
pub async fn check(config: &Config, domain: &str) -> anyhow::Result<bool> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let resolver = Resolver::new(&config.dns).map_err(|e| anyhow::anyhow!(e))?;
    let mut ok = true;
    println!("{domain}");
    if !resolver
        .exists(&domain)
        .await
        .map_err(|e| anyhow::anyhow!(e))?
    {
        println!("  the domain does not exist (NXDOMAIN): check its spelling, or register it before sending as it");
        println!("NEEDS ATTENTION");
        return Ok(false);
    }

    // SPF: evaluated for every source address the relay sends from.
    let spf = resolver
        .txt(&domain)
        .await
        .map_err(|e| anyhow::anyhow!(e))?
        .into_iter()
        .find(|t| t.to_ascii_lowercase().starts_with("v=spf1"));
    let sources: Vec<(String, IpAddr)> = config
        .delivery
        .pools
        .iter()
        .flat_map(|p| {
            p.source
                .iter()
                .map(move |ip| (format!("pool {}", p.name), *ip))
        })
        .collect();
    match &spf {
        None => {
            ok = false;
            println!("  SPF    missing: publish a TXT record at {domain} such as \"v=spf1 ip4:<relay address> -all\"");
        }
        Some(record) => {
            println!("  SPF    {record}");
            if sources.is_empty() {
                println!("         (no [[delivery.pool]] source addresses configured: cannot say which address to authorise)");
            }
            let authenticator = authenticator(&config.dns)?;
            let sender = format!("postmaster@{domain}");
            for (label, ip) in &sources {
                let out = authenticator
                    .verify_spf(SpfParameters::verify_mail_from(
                        *ip,
                        &config.hostname,
                        &config.hostname,
                        &sender,
                    ))
                    .await;
                let result = out.result();
                let good = result == SpfResult::Pass;
                ok &= good;
                println!(
                    "         {label} {ip}: {}{}",
                    spf_word(result),
                    if good {
                        String::new()
                    } else {
                        format!(
                            " -> add ip{}:{ip} to the record",
                            if ip.is_ipv4() { 4 } else { 6 }
                        )
                    }
                );
            }
        }
    }

    // DKIM: every key a tenant signs this domain (or a parent of it) with.
    let signers: Vec<_> = config
        .tenants
        .iter()
        .flat_map(|t| t.dkim.iter().map(move |s| (t.name.clone(), s.clone())))
        .filter(|(_, s)| within_domain(&domain, &s.domain))
        .collect();
    if signers.is_empty() {
        ok = false;
        println!("  DKIM   no tenant signs for {domain}: run `sluice dkim keygen {domain} <selector>` and add the [[tenant.dkim]] it prints");
    }
    for (tenant, signer) in &signers {
        let name = format!("{}._domainkey.{}", signer.selector, signer.domain);
        let published = resolver.txt(&name).await.unwrap_or_default();
        let key = published.iter().find_map(|t| public_key_of(t));
        let state = match key {
            None => {
                ok = false;
                format!(
                    "not published -> publish TXT at {name}: \"{}\"",
                    signer.record()
                )
            }
            Some(p) if signer.matches_published(&p) => "published, matches the key".to_owned(),
            Some(_) => {
                ok = false;
                format!(
                    "published, but for another key -> replace it with \"{}\"",
                    signer.record()
                )
            }
        };
        println!(
            "  DKIM   tenant {tenant}: d={} s={} {}: {state}",
            signer.domain,
            signer.selector,
            signer.algorithm()
        );
    }

    // DMARC: published, and aligned with what the relay signs.
    let dmarc_name = format!("_dmarc.{domain}");
    let dmarc = resolver
        .txt(&dmarc_name)
        .await
        .unwrap_or_default()
        .into_iter()
        .find_map(|t| Dmarc::parse(t.as_bytes()).ok().map(|d| (t, d)));
    match dmarc {
        None => {
            ok = false;
            println!("  DMARC  missing: publish TXT at {dmarc_name} such as \"v=DMARC1; p=quarantine; rua=mailto:dmarc@{domain}\"");
        }
        Some((text, d)) => {
            let aligned = signers.iter().any(|(_, s)| match d.adkim {
                Alignment::Strict => s.domain == domain,
                Alignment::Relaxed => true,
            });
            ok &= aligned;
            println!(
                "  DMARC  {text}\n         policy {}; DKIM alignment {}: {}",
                policy_word(&d.p),
                if d.adkim == Alignment::Strict {
                    "strict"
                } else {
                    "relaxed"
                },
                if aligned {
                    "the relay's signatures align with From: addresses at this domain"
                } else {
                    "no signature of this relay aligns -> sign with d= this exact domain"
                }
            );
        }
    }
    println!("{}", if ok { "OK" } else { "NEEDS ATTENTION" });
    Ok(ok)
}

fn authenticator(dns: &DnsConfig) -> anyhow::Result<MessageAuthenticator> {
    use mail_auth::hickory_resolver::config::ResolverOpts;
    match crate::delivery::mx::configured(dns) {
        None => MessageAuthenticator::new_system_conf().map_err(|e| anyhow::anyhow!("{e}")),
        Some(config) => {
            let mut opts = ResolverOpts::default();
            opts.timeout = dns.timeout;
            MessageAuthenticator::new(config, opts).map_err(|e| anyhow::anyhow!("{e}"))
        }
    }
}

/// The decoded `p=` of a DKIM key record.
fn public_key_of(record: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let p = record
        .split(';')
        .map(str::trim)
        .find_map(|kv| kv.strip_prefix("p="))?;
    let p: String = p.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(p).ok()
}

fn spf_word(r: SpfResult) -> &'static str {
    match r {
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::Neutral => "neutral",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
        SpfResult::None => "none",
    }
}

fn policy_word(p: &Policy) -> &'static str {
    match p {
        Policy::None => "none",
        Policy::Quarantine => "quarantine",
        Policy::Reject => "reject",
        Policy::Unspecified => "unspecified",
    }
}
