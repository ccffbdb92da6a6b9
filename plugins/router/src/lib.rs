//! router: where each recipient domain of a message goes — its MX hosts, a smarthost, an
//! egress pool, or hold — by tenant, tag, sender domain, recipient domain and the marketing
//! detector's score. Rules are tried in order; the first that matches decides, and a message
//! no rule matches takes the relay's default route.
//!
//! ```toml
//! [tenant.plugin.config]
//! rules = """
//! tag=marketing => mx pool=marketing
//! score>=5 => mx pool=marketing
//! domain=partner.test => smarthost relay.partner.test:587 tls=required
//! sender-domain=news.example.com => hold
//! """
//! ```
use sluice_sdk::prelude::*;

/// One condition of a rule; a rule's conditions must all hold (`and`).
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Tenant(String),
    Tag(String),
    /// The envelope sender's domain or a subdomain of it.
    SenderDomain(String),
    /// The recipient domain or a subdomain of it.
    Domain(String),
    /// The marketing detector's score (its `marketing-score=N` tag) at least this.
    ScoreAtLeast(i64),
    /// Matches everything.
    Any,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Default,
    Hold,
    Mx {
        pool: Option<String>,
        tls: Option<TlsMode>,
    },
    Smarthost {
        host: String,
        port: u16,
        pool: Option<String>,
        tls: Option<TlsMode>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub when: Vec<Condition>,
    pub then: Target,
}

/// Parses the `rules` config: one rule per line (or `;`), `#` starts a comment.
pub fn parse(text: &str) -> Result<Vec<Rule>, String> {
    let mut rules = Vec::new();
    for (n, raw) in text.split(['\n', ';']).enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let (when, then) = line
            .split_once("=>")
            .ok_or_else(|| format!("rule {}: {line:?} has no `=>`", n + 1))?;
        let when = when
            .split(" and ")
            .map(|c| condition(c.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("rule {}: {e}", n + 1))?;
        let then = target(then.trim()).map_err(|e| format!("rule {}: {e}", n + 1))?;
        rules.push(Rule { when, then });
    }
    Ok(rules)
}

fn condition(c: &str) -> Result<Condition, String> {
    if c == "*" || c == "any" {
        return Ok(Condition::Any);
    }
    if let Some(n) = c.strip_prefix("score>=") {
        return n
            .trim()
            .parse()
            .map(Condition::ScoreAtLeast)
            .map_err(|_| format!("{c:?}: score needs a whole number"));
    }
    let (key, value) = c
        .split_once('=')
        .ok_or_else(|| format!("{c:?} is not key=value"))?;
    let value = value.trim().to_ascii_lowercase();
    if value.is_empty() {
        return Err(format!("{c:?} has an empty value"));
    }
    Ok(match key.trim() {
        "tenant" => Condition::Tenant(value),
        "tag" => Condition::Tag(value),
        "sender-domain" => Condition::SenderDomain(value),
        "domain" => Condition::Domain(value),
        other => {
            return Err(format!(
                "unknown condition {other:?} (tenant, tag, sender-domain, domain, score>=)"
            ))
        }
    })
}

fn target(t: &str) -> Result<Target, String> {
    let mut words = t.split_whitespace();
    let kind = words.next().ok_or("no route after `=>`")?;
    let mut pool = None;
    let mut tls = None;
    let mut hostport = None;
    for w in words {
        if let Some(p) = w.strip_prefix("pool=") {
            pool = Some(p.to_owned());
        } else if let Some(m) = w.strip_prefix("tls=") {
            tls = Some(match m {
                "opportunistic" => TlsMode::Opportunistic,
                "required" => TlsMode::Required,
                "none" => TlsMode::None,
                _ => return Err(format!("tls={m}: use opportunistic, required or none")),
            });
        } else if hostport.is_none() && kind == "smarthost" {
            hostport = Some(w.to_owned());
        } else {
            return Err(format!("unexpected {w:?} in route {t:?}"));
        }
    }
    Ok(match kind {
        "default" => Target::Default,
        "hold" => Target::Hold,
        "mx" => Target::Mx { pool, tls },
        "smarthost" => {
            let hp = hostport.ok_or("smarthost needs host:port")?;
            let (host, port) = hp
                .rsplit_once(':')
                .ok_or_else(|| format!("{hp:?} is not host:port"))?;
            let port = port.parse().map_err(|_| format!("{hp:?}: bad port"))?;
            Target::Smarthost {
                host: host.to_owned(),
                port,
                pool,
                tls,
            }
        }
        other => {
            return Err(format!(
                "unknown route {other:?} (mx, smarthost, hold, default)"
            ))
        }
    })
}

fn within(domain: &str, parent: &str) -> bool {
    domain == parent
        || domain
            .strip_suffix(parent)
            .is_some_and(|p| p.ends_with('.'))
}

/// The score from the marketing detector's `marketing-score=N` tag.
fn score(tags: &[String]) -> Option<i64> {
    tags.iter().find_map(|t| {
        t.strip_prefix("marketing-score=")
            .and_then(|n| n.parse().ok())
    })
}

/// What the conditions look at, lower-cased once per request.
struct Facts<'a> {
    request: &'a RouteRequest,
    sender_domain: String,
    domain: String,
    score: Option<i64>,
}

impl<'a> Facts<'a> {
    fn of(request: &'a RouteRequest) -> Facts<'a> {
        Facts {
            request,
            sender_domain: request
                .mail_from
                .rsplit_once('@')
                .map(|(_, d)| d.to_ascii_lowercase())
                .unwrap_or_default(),
            domain: request.domain.to_ascii_lowercase(),
            score: score(&request.tags),
        }
    }
}

impl Condition {
    fn holds(&self, f: &Facts) -> bool {
        match self {
            Condition::Any => true,
            Condition::Tenant(t) => f.request.tenant.eq_ignore_ascii_case(t),
            Condition::Tag(t) => f.request.tags.iter().any(|x| x.eq_ignore_ascii_case(t)),
            Condition::SenderDomain(d) => within(&f.sender_domain, d),
            Condition::Domain(d) => within(&f.domain, d),
            Condition::ScoreAtLeast(n) => f.score.is_some_and(|s| s >= *n),
        }
    }
}

/// The route of the first rule that matches.
pub fn decide(rules: &[Rule], request: &RouteRequest) -> Option<Route> {
    let facts = Facts::of(request);
    let rule = rules
        .iter()
        .find(|r| r.when.iter().all(|c| c.holds(&facts)))?;
    Some(match &rule.then {
        Target::Default => Route::Default,
        Target::Hold => Route::Hold,
        Target::Mx { pool, tls } => Route::Mx(MxRoute {
            pool: pool.clone(),
            tls: *tls,
        }),
        Target::Smarthost {
            host,
            port,
            pool,
            tls,
        } => Route::Smarthost(SmarthostRoute {
            host: host.clone(),
            port: *port,
            pool: pool.clone(),
            tls: *tls,
        }),
    })
}

/// The rules, parsed once per instance.
struct Router {
    rules: Vec<Rule>,
}

#[plugin]
impl Plugin for Router {
    fn init(config: &Config) -> Result<Self, ConfigError> {
        let rules = parse(&config.get("rules").unwrap_or_default())
            .map_err(|e| ConfigError::key("rules", e))?;
        Ok(Router { rules })
    }

    fn on_route(&self, request: RouteRequest) -> Option<Route> {
        decide(&self.rules, &request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(domain: &str, tags: &[&str]) -> RouteRequest {
        RouteRequest {
            queue_id: "Q".into(),
            tenant: "acme".into(),
            mail_from: "news@bulk.example.com".into(),
            domain: domain.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn first_matching_rule_wins() {
        let rules = parse(
            "tag=marketing => mx pool=marketing\n\
             score>=5 => mx pool=bulk\n\
             domain=partner.test and tenant=acme => smarthost relay.partner.test:587 tls=required\n\
             # comment\n\
             sender-domain=example.com => hold",
        )
        .unwrap();
        assert_eq!(rules.len(), 4);
        let pool = |r: Option<Route>| match r {
            Some(Route::Mx(m)) => m.pool,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            pool(decide(&rules, &req("x.test", &["marketing"]))).as_deref(),
            Some("marketing")
        );
        assert_eq!(
            pool(decide(&rules, &req("x.test", &["marketing-score=7"]))).as_deref(),
            Some("bulk")
        );
        match decide(&rules, &req("mail.partner.test", &["marketing-score=1"])) {
            Some(Route::Smarthost(s)) => {
                assert_eq!((s.host.as_str(), s.port), ("relay.partner.test", 587));
                assert!(matches!(s.tls, Some(TlsMode::Required)));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide(&rules, &req("y.test", &[])),
            Some(Route::Hold)
        ));
    }

    #[test]
    fn nothing_matches_means_no_opinion() {
        let rules = parse("tag=marketing => hold").unwrap();
        assert!(decide(&rules, &req("y.test", &[])).is_none());
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn init_compiles_the_rules_or_names_the_key() {
        let router = Router::init(&Config::from_pairs([("rules", "tag=x => hold")])).unwrap();
        assert_eq!(router.rules.len(), 1);
        let e = Router::init(&Config::from_pairs([("rules", "tag=x => teleport")]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("key `rules`: rule 1: unknown route"), "{e}");
    }

    #[test]
    fn bad_rules_are_explained() {
        for (bad, says) in [
            ("tag=x", "no `=>`"),
            ("colour=red => mx", "unknown condition"),
            ("tag=x => teleport", "unknown route"),
            ("tag=x => smarthost nohost", "host:port"),
            ("score>=lots => mx", "whole number"),
            ("tag=x => mx tls=maybe", "tls=maybe"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
