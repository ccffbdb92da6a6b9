//! One SMTP transaction driven through a tenant's policy chain with no client, spool or next
//! hop: what `sluice plugin run` prints and `sluice replay` compares.
//!
//! The stages run as a session runs them — connect, EHLO, AUTH (when there is a user), MAIL,
//! each RCPT, DATA — under the session's rules: a refusal at connect, EHLO, AUTH or MAIL ends
//! the transaction; a refused recipient is dropped; with no recipient left there is no DATA; a
//! quarantine or discard given before DATA applies at its end (`smtp::data`). The message the
//! data hook sees carries the Received header the relay would add (and a Date and Message-ID
//! when it has none). Then the routing hook is asked about each accepted recipient's domain
//! with the tags of the data hook, as delivery would.

use crate::capability::message::ParsedMessage;
use crate::pipeline::{Decision, HookInput, Pipeline, Route, RouteRequest, Stage, Verdict};
use crate::smtp::headers::{self, Trace};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// What a session would know about the transaction.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub client_ip: IpAddr,
    pub helo: String,
    pub tenant: String,
    pub auth_user: Option<String>,
    /// "TLSv1.3 TLS13_AES_256_GCM_SHA384", or none for plaintext.
    pub tls: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    pub queue_id: String,
}

/// One call of the chain at one stage (at `RcptTo`, for one recipient).
pub struct Step {
    pub stage: Stage,
    pub rcpt: Option<String>,
    pub decision: Decision,
    pub took: Duration,
    /// What each policy of the chain took, in chain order; the policies after the one that
    /// decided did not run.
    pub per_policy: Vec<Duration>,
}

/// The routing hook's answer for one accepted recipient.
pub struct RouteStep {
    pub rcpt: String,
    pub domain: String,
    pub route: Route,
    pub took: Duration,
}

/// How the transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Queued for delivery, with the data hook's headers and tags.
    Queued,
    /// Held for an operator, with the reason.
    Quarantined(String),
    /// Answered 250 and dropped.
    Discarded,
    /// Refused at `stage` with a reject or tempfail verdict.
    Refused { stage: Stage, verdict: Verdict },
    /// Every recipient was refused, so there was no DATA.
    NoRecipients,
}

pub struct Transcript {
    pub steps: Vec<Step>,
    pub routes: Vec<RouteStep>,
    /// The recipients accepted.
    pub rcpts: Vec<String>,
    pub ending: Ending,
    /// Who decided the ending ("name#hash: rule"), when a policy did.
    pub by: Option<String>,
}

impl Transcript {
    /// The data hook's decision: the headers and tags that reach the queue.
    pub fn data(&self) -> Option<&Decision> {
        self.steps
            .iter()
            .find(|s| s.stage == Stage::Data)
            .map(|s| &s.decision)
    }

    /// What each policy of a chain of `policies` took over the whole transaction.
    pub fn policy_times(&self, policies: usize) -> Vec<Duration> {
        let mut total = vec![Duration::ZERO; policies];
        for step in &self.steps {
            for (t, took) in total.iter_mut().zip(&step.per_policy) {
                *t += *took;
            }
        }
        total
    }
}

/// The message as the data hook of the relay sees it: its Received header first, and a Date
/// and Message-ID when the message has none.
pub fn as_received(raw: &[u8], env: &Envelope, hostname: &str) -> Vec<u8> {
    let now = SystemTime::now();
    let trace = Trace {
        helo: if env.helo.is_empty() {
            "unknown"
        } else {
            &env.helo
        },
        client_ip: env.client_ip,
        hostname,
        queue_id: &env.queue_id,
        via: headers::Via::Smtp { esmtp: true },
        tls: env.tls.as_deref(),
        auth: env.auth_user.as_deref().map(|u| (u, env.tenant.as_str())),
        rcpts: &env.to,
    };
    let mut out = Vec::with_capacity(raw.len() + 512);
    out.extend_from_slice(trace.received(now).as_bytes());
    let (has_id, has_date) = headers::has_id_and_date(raw);
    if !has_date {
        out.extend_from_slice(format!("Date: {}\r\n", headers::rfc5322_date(now)).as_bytes());
    }
    if !has_id {
        out.extend_from_slice(format!("Message-ID: <{}@{hostname}>\r\n", env.queue_id).as_bytes());
    }
    out.extend_from_slice(raw);
    out
}

/// Runs one transaction of `message` through `pipeline`.
pub async fn run(pipeline: &Pipeline, env: &Envelope, message: &Arc<ParsedMessage>) -> Transcript {
    let mut steps = Vec::new();
    let mut rcpts: Vec<String> = Vec::new();
    // A quarantine or discard before DATA, applied at its end (as `smtp::data` does).
    let mut held: Option<(Verdict, Option<String>)> = None;
    let mut chain = pipeline.begin();
    let mut stages = vec![Stage::Connect, Stage::Helo];
    if env.auth_user.is_some() {
        stages.push(Stage::Auth);
    }
    stages.extend([Stage::MailFrom, Stage::RcptTo, Stage::Data]);
    for stage in stages {
        if stage == Stage::Data && rcpts.is_empty() {
            return ended(steps, rcpts, Ending::NoRecipients, None);
        }
        let targets: Vec<Option<&str>> = if stage == Stage::RcptTo {
            env.to.iter().map(|r| Some(r.as_str())).collect()
        } else {
            vec![None]
        };
        for rcpt in targets {
            let input = HookInput {
                stage,
                client_ip: env.client_ip,
                helo: &env.helo,
                tenant: &env.tenant,
                auth_user: env.auth_user.as_deref(),
                tls: env.tls.as_deref(),
                mail_from: matches!(stage, Stage::MailFrom | Stage::RcptTo | Stage::Data)
                    .then_some(env.from.as_str()),
                rcpts: &rcpts,
                rcpt,
                message: (stage == Stage::Data).then_some(message),
                queue_id: Some(&env.queue_id),
            };
            let started = Instant::now();
            let (decision, per_policy) = chain.run_timed(&input).await;
            let took = started.elapsed();
            let verdict = decision.verdict.clone();
            let by = decision.explain.clone();
            steps.push(Step {
                stage,
                rcpt: rcpt.map(str::to_owned),
                decision,
                took,
                per_policy,
            });
            match verdict {
                Verdict::Reject(_) | Verdict::Tempfail(_) => match rcpt {
                    Some(_) => {}
                    None => return ended(steps, rcpts, Ending::Refused { stage, verdict }, by),
                },
                Verdict::Quarantine(_) | Verdict::Discard if stage != Stage::Data => {
                    held.get_or_insert((verdict, by));
                    if let Some(r) = rcpt {
                        rcpts.push(r.to_owned());
                    }
                }
                _ => {
                    if let Some(r) = rcpt {
                        rcpts.push(r.to_owned());
                    }
                }
            }
        }
    }
    drop(chain);
    let data = steps.last().map(|s| &s.decision);
    let (verdict, by) = match (data.map(|d| &d.verdict), held) {
        (Some(Verdict::Continue | Verdict::Accept) | None, Some(held)) => held,
        (v, _) => (
            v.cloned().unwrap_or(Verdict::Continue),
            data.and_then(|d| d.explain.clone()),
        ),
    };
    let ending = match verdict {
        Verdict::Quarantine(reason) => Ending::Quarantined(reason),
        Verdict::Discard => Ending::Discarded,
        _ => Ending::Queued,
    };
    let mut t = ended(steps, rcpts, ending, by);
    if t.ending == Ending::Queued {
        t.routes = routes(pipeline, env, &t).await;
    }
    t
}

fn ended(steps: Vec<Step>, rcpts: Vec<String>, ending: Ending, by: Option<String>) -> Transcript {
    let by = match ending {
        Ending::Queued | Ending::NoRecipients => None,
        _ => by,
    };
    Transcript {
        steps,
        routes: Vec::new(),
        rcpts,
        ending,
        by,
    }
}

async fn routes(pipeline: &Pipeline, env: &Envelope, t: &Transcript) -> Vec<RouteStep> {
    let tags = t.data().map(|d| d.tags.clone()).unwrap_or_default();
    let mut out = Vec::new();
    for rcpt in &t.rcpts {
        let domain = rcpt.rsplit_once('@').map_or("", |(_, d)| d);
        let request = RouteRequest {
            queue_id: &env.queue_id,
            tenant: &env.tenant,
            mail_from: &env.from,
            domain,
            tags: &tags,
        };
        let started = Instant::now();
        let route = pipeline.route(&request).await;
        out.push(RouteStep {
            rcpt: rcpt.clone(),
            domain: domain.to_owned(),
            route,
            took: started.elapsed(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{BoxFuture, Policy, PolicyRun};
    use crate::smtp::reply;

    /// Answers `verdict` at `stage` (for the recipient `rcpt`, if given), continue elsewhere.
    struct At(Stage, Option<&'static str>, Verdict);

    impl Policy for At {
        fn name(&self) -> &str {
            "at"
        }
        fn begin(&self) -> Box<dyn PolicyRun> {
            Box::new(AtRun(self.0, self.1, self.2.clone()))
        }
    }

    struct AtRun(Stage, Option<&'static str>, Verdict);

    impl PolicyRun for AtRun {
        fn check<'a>(&'a mut self, input: &'a HookInput<'a>) -> BoxFuture<'a, Decision> {
            Box::pin(async move {
                let hit = input.stage == self.0 && (self.1.is_none() || self.1 == input.rcpt);
                let mut d = Decision::verdict(if hit {
                    self.2.clone()
                } else {
                    Verdict::Continue
                });
                d.explain = Some("at: rule".into());
                if input.stage == Stage::Data {
                    d.tags.push("seen-data".into());
                }
                d
            })
        }
    }

    fn env(to: &[&str]) -> Envelope {
        Envelope {
            client_ip: "192.0.2.1".parse().unwrap(),
            helo: "client.test".into(),
            tenant: "t".into(),
            auth_user: None,
            tls: None,
            from: "a@t.test".into(),
            to: to.iter().map(|s| s.to_string()).collect(),
            queue_id: "Q1".into(),
        }
    }

    async fn run_with(policy: At, to: &[&str]) -> Transcript {
        let pipeline = Pipeline::new(vec![Arc::new(policy)]);
        let e = env(to);
        let message = ParsedMessage::new(Arc::new(as_received(
            b"Subject: x\r\n\r\nbody\r\n",
            &e,
            "relay.test",
        )));
        run(&pipeline, &e, &message).await
    }

    #[tokio::test]
    async fn a_session_s_rules() {
        // A quarantine at RCPT holds the message at the end of DATA, whoever decided DATA.
        let t = run_with(
            At(Stage::RcptTo, None, Verdict::Quarantine("hold".into())),
            &["r@x.test"],
        )
        .await;
        assert_eq!(t.ending, Ending::Quarantined("hold".into()));
        assert_eq!(t.by.as_deref(), Some("at: rule"));
        assert_eq!(t.data().unwrap().tags, vec!["seen-data"]);
        // A refused recipient is dropped; the others go on, and are routed.
        let bad = Verdict::Reject(reply::AUTH_REQUIRED);
        let t = run_with(
            At(Stage::RcptTo, Some("no@x.test"), bad.clone()),
            &["no@x.test", "ok@y.test"],
        )
        .await;
        assert_eq!(
            (t.ending.clone(), t.rcpts.clone()),
            (Ending::Queued, vec!["ok@y.test".to_owned()])
        );
        assert_eq!(t.routes.len(), 1);
        assert_eq!(t.routes[0].domain, "y.test");
        // No recipient left: no DATA.
        let t = run_with(At(Stage::RcptTo, None, bad.clone()), &["no@x.test"]).await;
        assert_eq!(t.ending, Ending::NoRecipients);
        assert!(t.data().is_none());
        // A refusal at MAIL ends the transaction there.
        let t = run_with(At(Stage::MailFrom, None, bad.clone()), &["ok@y.test"]).await;
        assert_eq!(
            t.ending,
            Ending::Refused {
                stage: Stage::MailFrom,
                verdict: bad
            }
        );
        assert_eq!(t.steps.len(), 3, "connect, EHLO, MAIL");
        // Every step timed each policy that ran.
        assert!(t.steps.iter().all(|s| s.per_policy.len() == 1));
        assert_eq!(t.policy_times(1).len(), 1);
    }

    #[test]
    fn the_data_hook_sees_the_relay_s_headers() {
        let e = env(&["r@x.test"]);
        let got = String::from_utf8(as_received(b"Subject: x\r\n\r\nbody\r\n", &e, "relay.test"))
            .unwrap();
        assert!(got.starts_with("Received: from client.test ([192.0.2.1])\r\n\tby relay.test (Sluice) with ESMTP id Q1"), "{got}");
        assert!(
            got.contains("\r\nDate: ") && got.contains("\r\nMessage-ID: <Q1@relay.test>\r\n"),
            "{got}"
        );
        let kept = String::from_utf8(as_received(
            b"Date: x\r\nMessage-ID: <m@x>\r\n\r\nb\r\n",
            &e,
            "relay.test",
        ))
        .unwrap();
        assert_eq!(kept.matches("Message-ID").count(), 1, "{kept}");
    }
}
