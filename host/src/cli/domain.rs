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

    // DMARC: the domain's own record, else its organizational domain's (RFC 7489 §6.6.3),
    // and aligned with what the relay signs.
    let org = organizational_domain(&domain);
    let mut found = dmarc_record(&resolver, &domain)
        .await
        .map(|r| (domain.clone(), r));
    if found.is_none() && org != domain {
        found = dmarc_record(&resolver, &org)
            .await
            .map(|r| (org.clone(), r));
    }
    match found {
        None => {
            ok = false;
            println!(
                "  DMARC  missing (at _dmarc.{domain}{}): publish TXT at _dmarc.{org} such as \"v=DMARC1; p=quarantine; rua=mailto:dmarc@{org}\"",
                if org != domain { format!(" and at its organizational domain _dmarc.{org}") } else { String::new() }
            );
        }
        Some((at, (text, d))) => {
            // A subdomain without its own record gets the organizational record's `sp=`
            // (its `p=` when there is no `sp=`).
            let inherited = at != domain;
            let policy = if inherited && d.sp != Policy::Unspecified {
                &d.sp
            } else {
                &d.p
            };
            let aligned = signers.iter().any(|(_, s)| match d.adkim {
                Alignment::Strict => s.domain == domain,
                Alignment::Relaxed => organizational_domain(&s.domain) == org,
            });
            ok &= aligned;
            let source = if inherited {
                format!("inherited from _dmarc.{at} (no record at _dmarc.{domain})")
            } else {
                format!("at _dmarc.{at}")
            };
            println!(
                "  DMARC  {text}\n         {source}\n         policy {}; DKIM alignment {}: {}",
                policy_word(policy),
                if d.adkim == Alignment::Strict {
                    "strict"
                } else {
                    "relaxed"
                },
                if aligned {
                    "the relay's signatures align with From: addresses at this domain"
                } else if d.adkim == Alignment::Strict {
                    "no signature of this relay aligns -> sign with d= this exact domain"
                } else {
                    "no signature of this relay aligns -> sign with d= this domain or a parent within its organizational domain"
                }
            );
            if inherited && !matches!(policy, Policy::Reject) {
                println!("         (a record at _dmarc.{domain} would override it for this subdomain: never publish one weaker than the inherited policy)");
            }
        }
    }
    println!("{}", if ok { "OK" } else { "NEEDS ATTENTION" });
    Ok(ok)
}

/// The organizational domain (RFC 7489 §3.2): the registrable domain by the public suffix
/// list; the domain itself when the list knows no suffix for it.
fn organizational_domain(domain: &str) -> String {
    psl::domain_str(domain).unwrap_or(domain).to_owned()
}

/// The first `v=DMARC1` TXT record at `_dmarc.domain` that parses, with its text.
async fn dmarc_record(resolver: &Resolver, domain: &str) -> Option<(String, Dmarc)> {
    resolver
        .txt(&format!("_dmarc.{domain}"))
        .await
        .unwrap_or_default()
        .into_iter()
        .find_map(|t| Dmarc::parse(t.as_bytes()).ok().map(|d| (t, d)))
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
