//! Operator requests to the running relay (`sluice queue retry|delete`). The CLI writes one
//! file per request into `SPOOL/control/` (`N.req`, one line: `retry ID`, `retry all` or
//! `delete ID`); the relay carries it out and answers in `N.done`. Only the relay changes
//! the spool, so these need it running.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Retry now: one message, or every one waiting.
    Retry(Option<String>),
    Delete(String),
}

impl Request {
    pub fn parse(line: &str) -> Option<Request> {
        let mut w = line.split_whitespace();
        let r = match (w.next()?, w.next()?) {
            ("retry", "all") => Request::Retry(None),
            ("retry", id) => Request::Retry(Some(id.to_owned())),
            ("delete", id) => Request::Delete(id.to_owned()),
            _ => return None,
        };
        w.next().is_none().then_some(r)
    }

    fn line(&self) -> String {
        match self {
            Request::Retry(None) => "retry all".into(),
            Request::Retry(Some(id)) => format!("retry {id}"),
            Request::Delete(id) => format!("delete {id}"),
        }
    }
}

fn dir(spool: &Path) -> PathBuf {
    spool.join("control")
}

/// Hands `request` to the relay and waits up to `wait` for its answer.
pub fn ask(spool: &Path, request: &Request, wait: Duration) -> io::Result<Option<String>> {
    let d = dir(spool);
    fs::create_dir_all(&d)?;
    let name = format!("{}-{}", std::process::id(), super::QueueId::generate());
    let tmp = d.join(format!("{name}.tmp"));
    fs::write(&tmp, request.line())?;
    fs::rename(&tmp, d.join(format!("{name}.req")))?;
    let done = d.join(format!("{name}.done"));
    let started = Instant::now();
    while started.elapsed() < wait {
        if let Ok(answer) = fs::read_to_string(&done) {
            let _ = fs::remove_file(&done);
            return Ok(Some(answer));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(None)
}

/// Requests waiting to be carried out, oldest first, with the file to answer in.
pub fn pending(spool: &Path) -> Vec<(Option<Request>, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir(spool)) else {
        return Vec::new();
    };
    let mut out: Vec<(Option<Request>, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "req"))
        .map(|p| {
            let r = fs::read_to_string(&p).ok().and_then(|l| Request::parse(&l));
            (r, p)
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// Answers a request and removes it.
pub fn answer(request_file: &Path, text: &str) {
    let _ = fs::write(request_file.with_extension("done"), text);
    let _ = fs::remove_file(request_file);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        for r in [
            Request::Retry(None),
            Request::Retry(Some("ABC".into())),
            Request::Delete("ABC".into()),
        ] {
            assert_eq!(Request::parse(&r.line()), Some(r));
        }
        assert_eq!(Request::parse("delete"), None);
        assert_eq!(Request::parse("rm -rf /"), None);
    }
}
