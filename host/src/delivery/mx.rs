//! Where mail for a domain goes (RFC 5321 §5.1): its MX hosts by preference, random among
//! equals; the domain itself when it has no MX; nowhere when it publishes a null MX (RFC 7505).
//! Answers are cached by hickory for their TTL.

use crate::config::DnsConfig;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use rand::seq::SliceRandom;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxError {
    /// RFC 7505: the domain accepts no mail. Bounce at once (5.1.10).
    NullMx,
    /// NXDOMAIN: there is no such domain (5.1.2).
    NoSuchDomain,
    /// No MX and no A/AAAA either: nowhere to deliver (RFC 5321 §5.1; 5.1.2).
    NoMailHost,
    /// Try again later.
    Temporary(String),
}

impl std::fmt::Display for MxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MxError::NullMx => f.write_str("the domain publishes a null MX: it accepts no mail"),
            MxError::NoSuchDomain => f.write_str("the domain does not exist (NXDOMAIN)"),
            MxError::NoMailHost => f.write_str(
                "the domain has no MX and no A or AAAA record: no host accepts its mail",
            ),
            MxError::Temporary(e) => write!(f, "DNS lookup failed: {e}"),
        }
    }
}

#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
}

impl Resolver {
    pub fn new(config: &DnsConfig) -> Result<Resolver, String> {
        let mut builder = match configured(config) {
            None => TokioResolver::builder_tokio()
                .map_err(|e| format!("cannot read the system resolver configuration: {e}"))?,
            Some(c) => TokioResolver::builder_with_config(c, TokioRuntimeProvider::default()),
        };
        let opts = builder.options_mut();
        opts.timeout = config.timeout;
        opts.attempts = 2;
        // Names are looked up as given, never with a search domain appended.
        opts.ndots = 0;
        let inner = builder
            .build()
            .map_err(|e| format!("cannot start the DNS resolver: {e}"))?;
        Ok(Resolver { inner })
    }

    /// The host names to try for `domain`, best first.
    pub async fn mx_hosts(&self, domain: &str) -> Result<Vec<String>, MxError> {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        let lookup = match self.inner.mx_lookup(fqdn.as_str()).await {
            Ok(l) => l,
            Err(e) if e.is_nx_domain() => return Err(MxError::NoSuchDomain),
            // No MX records: the domain itself is the implicit MX (RFC 5321 §5.1).
            Err(e) if e.is_no_records_found() => return self.implicit_mx(domain).await,
            Err(e) => return Err(MxError::Temporary(e.to_string())),
        };
        let mut records: Vec<(u16, String)> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                _ => None,
            })
            .collect();
        if records.is_empty() {
            return self.implicit_mx(domain).await;
        }
        if records.len() == 1 && records[0].1 == "." {
            return Err(MxError::NullMx);
        }
        records.retain(|(_, h)| h != ".");
        Ok(order(records))
    }

    /// The domain as its own mail host, if it has an address at all: with neither MX nor
    /// A/AAAA the mail is undeliverable at once rather than retried for days.
    async fn implicit_mx(&self, domain: &str) -> Result<Vec<String>, MxError> {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        match self.inner.lookup_ip(fqdn.as_str()).await {
            Ok(l) if l.iter().next().is_some() => Ok(vec![domain.to_owned()]),
            Ok(_) => Err(MxError::NoMailHost),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Err(MxError::NoMailHost),
            Err(e) => Err(MxError::Temporary(e.to_string())),
        }
    }

    /// The addresses of one host (IPv4 and IPv6).
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        match self.inner.lookup_ip(fqdn.as_str()).await {
            Ok(l) => Ok(l.iter().collect()),
            Err(e) => Err(describe(&e, host)),
        }
    }

    /// Whether `name` exists at all: `false` only on NXDOMAIN (a name with no records of the
    /// type asked for still exists).
    pub async fn exists(&self, name: &str) -> Result<bool, String> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.inner.txt_lookup(fqdn.as_str()).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_nx_domain() => Ok(false),
            Err(e) if e.is_no_records_found() => Ok(true),
            Err(e) => Err(describe(&e, name)),
        }
    }

    /// The TXT strings at `name`, each record's strings joined.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.inner.txt_lookup(fqdn.as_str()).await {
            Ok(l) => Ok(l
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(t) => Some(
                        t.txt_data
                            .iter()
                            .map(|s| String::from_utf8_lossy(s).into_owned())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(describe(&e, name)),
        }
    }
}

/// The resolver configuration for `[dns] nameservers`; `None` means the system's.
pub fn configured(config: &DnsConfig) -> Option<ResolverConfig> {
    if config.nameservers.is_empty() {
        return None;
    }
    let servers = config
        .nameservers
        .iter()
        .map(|addr| {
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            ns
        })
        .collect();
    Some(ResolverConfig::from_parts(None, Vec::new(), servers))
}

fn describe(e: &NetError, name: &str) -> String {
    if e.is_nx_domain() {
        format!("{name} does not exist")
    } else if e.is_no_records_found() {
        format!("{name} has no address records")
    } else {
        format!("lookup of {name} failed: {e}")
    }
}

/// Sorts by preference, shuffling hosts of equal preference (RFC 5321 §5.1).
fn order(mut records: Vec<(u16, String)>) -> Vec<String> {
    records.shuffle(&mut rand::thread_rng());
    records.sort_by_key(|(p, _)| *p);
    let mut out: Vec<String> = Vec::new();
    for (_, h) in records {
        let h = h.trim_end_matches('.').to_ascii_lowercase();
        if !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preference_first_and_equals_shuffled() {
        let recs = vec![
            (20, "c.example.".to_string()),
            (10, "a.example.".to_string()),
            (10, "b.example.".to_string()),
        ];
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..200 {
            let o = order(recs.clone());
            assert_eq!(o.len(), 3);
            assert_eq!(o[2], "c.example");
            firsts.insert(o[0].clone());
        }
        assert_eq!(
            firsts.len(),
            2,
            "equal preferences must both come first sometimes"
        );
    }
}
