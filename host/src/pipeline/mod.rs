//! The policy pipeline: an ordered chain of policies consulted at each SMTP stage and at
//! routing. The WebAssembly plugin engine plugs in here as one more [`Policy`]; the relay core
//! ships with an empty chain.
//!
//! Folding follows milter practice: the first reject or tempfail wins and ends the chain;
//! `accept` ends the chain for this stage without a rejection; headers and tags accumulate.

use crate::smtp::reply::Reply;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

/// Where in the transaction a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connect,
    Helo,
    Auth,
    MailFrom,
    RcptTo,
    Data,
}

/// What a policy sees. Fields that a stage has not reached yet are empty.
#[derive(Debug, Clone, Copy)]
pub struct HookInput<'a> {
    pub stage: Stage,
    pub client_ip: IpAddr,
    pub helo: &'a str,
    pub tenant: Option<&'a str>,
    pub auth_user: Option<&'a str>,
    pub mail_from: Option<&'a str>,
    /// The recipient under test at `RcptTo`; all accepted ones at `Data`.
    pub rcpts: &'a [String],
    /// The whole message at `Data`.
    pub message: Option<&'a [u8]>,
}

/// One policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    Accept,
    Reject(Reply),
    Tempfail(Reply),
    /// Answer 250 but drop the message.
    Discard,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub add_headers: Vec<(String, String)>,
    pub tags: Vec<String>,
}

impl Decision {
    pub fn verdict(verdict: Verdict) -> Decision {
        Decision {
            verdict,
            add_headers: Vec::new(),
            tags: Vec::new(),
        }
    }
}

/// Where delivery of one recipient domain goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The configured default transport.
    Default,
    /// Keep the message; do not deliver until released.
    Hold,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A policy consulted by the pipeline.
pub trait Policy: Send + Sync {
    fn name(&self) -> &str;
    fn check<'a>(&'a self, input: &'a HookInput<'a>) -> BoxFuture<'a, Decision>;
    fn route<'a>(&'a self, _tenant: &'a str, _domain: &'a str) -> BoxFuture<'a, Option<Route>> {
        Box::pin(async { None })
    }
}

/// The chain of one tenant (or the global one).
#[derive(Clone, Default)]
pub struct Pipeline {
    policies: Vec<Arc<dyn Policy>>,
}

impl Pipeline {
    pub fn new(policies: Vec<Arc<dyn Policy>>) -> Pipeline {
        Pipeline { policies }
    }

    /// Runs every policy in order and folds their decisions.
    pub async fn run(&self, input: &HookInput<'_>) -> Decision {
        let mut folded = Decision::verdict(Verdict::Continue);
        for policy in &self.policies {
            let d = policy.check(input).await;
            folded.add_headers.extend(d.add_headers);
            folded.tags.extend(d.tags);
            match d.verdict {
                Verdict::Continue => continue,
                other => {
                    tracing::debug!(policy = policy.name(), verdict = ?other, stage = ?input.stage, "policy decided");
                    folded.verdict = other;
                    break;
                }
            }
        }
        folded
    }

    /// The first policy that routes `domain` decides; none means the default transport.
    pub async fn route(&self, tenant: &str, domain: &str) -> Route {
        for policy in &self.policies {
            if let Some(r) = policy.route(tenant, domain).await {
                return r;
            }
        }
        Route::Default
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::reply;

    struct Fixed(&'static str, Decision);

    impl Policy for Fixed {
        fn name(&self) -> &str {
            self.0
        }
        fn check<'a>(&'a self, _input: &'a HookInput<'a>) -> BoxFuture<'a, Decision> {
            Box::pin(async move { self.1.clone() })
        }
    }

    fn with_header(v: Verdict, h: &str) -> Decision {
        Decision {
            verdict: v,
            add_headers: vec![(h.into(), "1".into())],
            tags: vec![h.into()],
        }
    }

    #[tokio::test]
    async fn first_reject_wins_and_headers_accumulate() {
        let p = Pipeline::new(vec![
            Arc::new(Fixed("a", with_header(Verdict::Continue, "X-A"))),
            Arc::new(Fixed(
                "b",
                with_header(Verdict::Reject(reply::AUTH_REQUIRED), "X-B"),
            )),
            Arc::new(Fixed(
                "c",
                with_header(Verdict::Tempfail(reply::DISK_LOW), "X-C"),
            )),
        ]);
        let input = HookInput {
            stage: Stage::Data,
            client_ip: "127.0.0.1".parse().unwrap(),
            helo: "h",
            tenant: None,
            auth_user: None,
            mail_from: None,
            rcpts: &[],
            message: None,
        };
        let d = p.run(&input).await;
        assert_eq!(d.verdict, Verdict::Reject(reply::AUTH_REQUIRED));
        assert_eq!(d.tags, vec!["X-A", "X-B"]);
        assert_eq!(
            Pipeline::default().run(&input).await.verdict,
            Verdict::Continue
        );
    }
}
