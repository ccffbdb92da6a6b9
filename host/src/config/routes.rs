//! Which next hops a routing plugin may name: `[delivery] route_allow` and a tenant's own
//! `route_allow`, plus what the operator defined anyway (the smarthost, the egress pools).
//!
//! A plugin's smarthost route is refused unless its `host:port` is listed exactly (a name
//! matches only that name, never what it resolves to, so `localhost` or `127.1` are not a way
//! around a list of addresses), or its host is an IP address inside a listed network.
//! Loopback, private, link-local and other special-purpose addresses are reachable only
//! through an entry that names them: a network entry opens them only when it lies inside
//! their block (`127.0.0.0/8` does, `0.0.0.0/0` does not).

use ipnet::IpNet;
use std::net::IpAddr;

/// One `route_allow` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteEntry {
    /// `"mx.partner.example:25"`, `"192.0.2.7:25"`, `"[2001:db8::7]:25"`: that host, that port.
    Host(String, u16),
    /// `"10.0.0.0/8"`, `"192.0.2.7"`: any port of any address inside.
    Network(IpNet),
}

impl RouteEntry {
    pub fn parse(text: &str) -> Result<RouteEntry, String> {
        let text = text.trim();
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(RouteEntry::Network(net));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(RouteEntry::Network(IpNet::from(ip)));
        }
        let bad = || {
            format!("{text:?}: expected host:port, an address or a network such as \"10.0.0.0/8\"")
        };
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
        let name_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        match normal_host(host) {
            h if h.parse::<IpAddr>().is_ok() || name_ok => Ok(RouteEntry::Host(h, port)),
            _ => Err(bad()),
        }
    }
}

/// A host as compared: IP literals in canonical form (brackets off, IPv4-mapped IPv6 as
/// IPv4), names lower-cased without a trailing dot.
fn normal_host(host: &str) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.to_canonical().to_string(),
        Err(_) => host.trim_end_matches('.').to_ascii_lowercase(),
    }
}

/// The next hops one tenant's plugins may route to.
#[derive(Debug, Clone, Default)]
pub struct RouteAllow {
    hosts: Vec<(String, u16)>,
    networks: Vec<IpNet>,
    pools: Vec<String>,
}

impl RouteAllow {
    /// `entries` from the relay's and the tenant's lists, the configured smarthost, and the
    /// names of the egress pools.
    pub fn new(
        entries: impl IntoIterator<Item = RouteEntry>,
        smarthost: Option<(&str, u16)>,
        pools: Vec<String>,
    ) -> RouteAllow {
        let mut allow = RouteAllow {
            pools,
            ..RouteAllow::default()
        };
        let configured = smarthost.map(|(h, p)| RouteEntry::Host(normal_host(h), p));
        for e in entries.into_iter().chain(configured) {
            match e {
                RouteEntry::Host(h, p) => allow.hosts.push((h, p)),
                RouteEntry::Network(n) => allow.networks.push(n),
            }
        }
        allow
    }

    /// Whether a plugin may send to `host:port`; the error says why not.
    pub fn smarthost(&self, host: &str, port: u16) -> Result<(), String> {
        let host = normal_host(host);
        if self.hosts.iter().any(|(h, p)| *h == host && *p == port) {
            return Ok(());
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            let block = special_block(ip);
            let opens = |n: &IpNet| {
                n.contains(&ip) && block.is_none_or(|b| n.prefix_len() >= b.prefix_len())
            };
            if self.networks.iter().any(opens) {
                return Ok(());
            }
            if let Some(b) = block {
                return Err(format!(
                    "next hop {host}:{port} is in {b}, a loopback, private or special-purpose range that no route_allow entry opens"
                ));
            }
        }
        Err(format!(
            "next hop {host}:{port} is neither the configured smarthost nor in route_allow"
        ))
    }

    /// Whether `pool` is a configured egress pool.
    pub fn pool(&self, pool: &str) -> Result<(), String> {
        if self.pools.iter().any(|p| p == pool) {
            Ok(())
        } else {
            Err(format!("egress pool {pool:?} is not configured"))
        }
    }
}

/// The special-purpose block (RFC 6890 and kin) holding `ip`, if any: addresses that reach
/// the relay itself, the operator's own networks, or nothing at all.
fn special_block(ip: IpAddr) -> Option<IpNet> {
    const BLOCKS: &[&str] = &[
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "64:ff9b::/96",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    ];
    let ip = ip.to_canonical();
    BLOCKS
        .iter()
        .map(|b| b.parse::<IpNet>().expect("literal network"))
        .find(|b| b.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(entries: &[&str]) -> RouteAllow {
        let entries = entries.iter().map(|e| RouteEntry::parse(e).unwrap());
        RouteAllow::new(entries, Some(("Smart.Example.", 25)), vec!["warm".into()])
    }

    #[test]
    fn entries_parse_or_say_what_they_expect() {
        assert_eq!(
            RouteEntry::parse("MX.Partner.example:25"),
            Ok(RouteEntry::Host("mx.partner.example".into(), 25))
        );
        assert_eq!(
            RouteEntry::parse("[::ffff:10.0.0.1]:2525"),
            Ok(RouteEntry::Host("10.0.0.1".into(), 2525))
        );
        assert!(matches!(
            RouteEntry::parse("10.0.0.0/8"),
            Ok(RouteEntry::Network(_))
        ));
        for bad in [
            "mx.example",
            "mx.example:0",
            "mx example:25",
            ":25",
            "a/b:x",
        ] {
            assert!(RouteEntry::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_listed_hops_and_never_special_ranges_by_accident() {
        let a = allow(&[
            "mx.partner.example:25",
            "127.0.0.1:2600",
            "0.0.0.0/0",
            "10.1.0.0/16",
        ]);
        assert!(a.smarthost("smart.example", 25).is_ok());
        assert!(a.smarthost("MX.partner.example.", 25).is_ok());
        assert!(a.smarthost("mx.partner.example", 26).is_err());
        assert!(a.smarthost("127.0.0.1", 2600).is_ok());
        assert!(a.smarthost("[::ffff:127.0.0.1]", 2600).is_ok());
        // 0.0.0.0/0 opens public addresses, never loopback, private or link-local ones.
        assert!(a.smarthost("192.0.2.7", 25).is_ok());
        for (host, port) in [
            ("127.0.0.1", 22),
            ("127.0.0.2", 2600),
            ("::1", 25),
            ("169.254.169.254", 80),
            ("192.168.1.1", 25),
            ("[::ffff:127.0.0.1]", 6379),
        ] {
            let e = a.smarthost(host, port).unwrap_err();
            assert!(e.contains("special-purpose"), "{host}: {e}");
        }
        // A private network the operator names is open.
        assert!(a.smarthost("10.1.2.3", 25).is_ok());
        assert!(a.smarthost("10.2.0.1", 25).is_err());
        // Names are matched as written, never by what they resolve to.
        assert!(a.smarthost("localhost", 2600).is_err());
        assert!(a.smarthost("127.1", 2600).is_err());
        assert!(a.pool("warm").is_ok());
        assert!(a.pool("cold").is_err());
    }
}
