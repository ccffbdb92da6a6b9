//! Whole SMTP sessions, generated at random from a seed, against the real relay: valid
//! commands, mutated ones (flipped bytes, stray CR/LF/NUL, quotes, long lines), messages
//! with bare line endings, BDAT chunks, and hang-ups at any point. Every reply must be a
//! well-formed SMTP reply in printable ASCII; every `250 … queued as` must be delivered and
//! nothing else may be; and the relay must keep serving a clean session afterwards.
//!
//! `SLUICE_SESSION_SEED=N` replays one run; the seed in use is printed.

use sluice_e2e::{Chat, Relay, RelayConfig, Sink};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// xorshift64*: deterministic, so a failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const SENDERS: &[&str] = &[
    "app@example.com",
    "\"quoted sender\"@example.com",
    "",
    "app@sub.example.com",
    "intruder@elsewhere.test",
    "j\u{f6}rg@example.com",
];
const RCPTS: &[&str] = &[
    "a@dest.test",
    "\"q@r\"@dest.test",
    "b@dest.test",
    "Postmaster",
    "@route.test:c@dest.test",
    "no-domain",
];
const MAIL_PARAMS: &[&str] = &[
    "",
    " SIZE=1000",
    " BODY=8BITMIME",
    " SMTPUTF8",
    " RET=HDRS ENVID=abc",
    " HOLDFOR=10",
    " SIZE=99999999999999999999999",
    " RET=FULL RET=HDRS",
];
const RCPT_PARAMS: &[&str] = &[
    "",
    " NOTIFY=SUCCESS,FAILURE",
    " ORCPT=rfc822;x@y.test",
    " RRVS=1",
];
const NOISE: &[u8] = b"\r\n\0\"<>@:. =\\\x7f\xff\xc3";

/// One command line, valid or mutated.
fn command(rng: &mut Rng) -> Vec<u8> {
    let line = match rng.below(12) {
        0 => format!("EHLO client{}.test", rng.below(100)),
        1 => "HELO client.test".to_owned(),
        // AUTH PLAIN demo / demo-password.
        2 => "AUTH PLAIN AGRlbW8AZGVtby1wYXNzd29yZA==".to_owned(),
        3 | 4 => format!("MAIL FROM:<{}>{}", rng.pick(SENDERS), rng.pick(MAIL_PARAMS)),
        5 | 6 => format!("RCPT TO:<{}>{}", rng.pick(RCPTS), rng.pick(RCPT_PARAMS)),
        7 => "RSET".to_owned(),
        8 => "NOOP".to_owned(),
        9 => rng
            .pick(&["VRFY a", "EXPN b", "HELP", "STARTTLS x", "ETRN x", "DATA x"])
            .to_owned(),
        10 => "X".repeat(rng.below(700)),
        _ => "MAIL FROM:<\"a\\\"b\"@example.com>".to_owned(),
    };
    let mut bytes = line.into_bytes();
    if rng.chance(25) {
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(bytes.len() + 1);
            bytes.insert(at, NOISE[rng.below(NOISE.len())]);
        }
    }
    bytes.extend_from_slice(b"\r\n");
    bytes
}

/// A message body for DATA, sometimes with bare line endings or an early dot.
fn body(rng: &mut Rng) -> Vec<u8> {
    let mut b = format!("Subject: random {}\r\n\r\n", rng.next()).into_bytes();
    for _ in 0..rng.below(6) {
        match rng.below(8) {
            0 => b.extend_from_slice(b"bare\nlf\r\n"),
            1 => b.extend_from_slice(b"bare\rcr\r\n"),
            2 => b.extend_from_slice(b"..dot-stuffed\r\n"),
            3 => b.extend_from_slice(&vec![b'y'; 1200]),
            _ => b.extend_from_slice(b"line of text\r\n"),
        }
    }
    b.extend_from_slice(b"\r\n.\r\n");
    b
}

/// Reads one reply (all its lines); None when the connection closed. Asserts its form.
fn reply(reader: &mut BufReader<TcpStream>, transcript: &str) -> Option<String> {
    let mut whole = String::new();
    loop {
        let mut raw = Vec::new();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        let line = String::from_utf8(raw.clone())
            .unwrap_or_else(|_| panic!("non-UTF-8 reply {raw:?}\n{transcript}"));
        assert!(
            line.ends_with("\r\n"),
            "reply line without CRLF {line:?}\n{transcript}"
        );
        let text = &line[..line.len() - 2];
        assert!(
            text.len() >= 3
                && text.len() <= 510
                && text[..3].bytes().all(|b| b.is_ascii_digit())
                && (b'2'..=b'5').contains(&text.as_bytes()[0])
                && matches!(text.as_bytes().get(3), None | Some(b' ') | Some(b'-'))
                && text.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "malformed reply line {text:?}\n{transcript}"
        );
        whole.push_str(&line);
        if text.as_bytes().get(3) != Some(&b'-') {
            return Some(whole);
        }
    }
}

/// One session; returns how many messages the relay queued in it. A mutated line can hold
/// two commands and so draw two replies; replies are read one per command sent, and what is
/// left is read after the client hangs up, so every `queued as` is counted.
fn session(port: u16, rng: &mut Rng) -> usize {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut transcript = String::new();
    run_script(rng, &mut writer, &mut reader, &mut transcript);
    // Hang up (QUIT most of the time) and read whatever the relay still answers.
    if rng.chance(80) {
        let _ = writer.write_all(b"QUIT\r\n");
    }
    let _ = writer.shutdown(std::net::Shutdown::Write);
    while let Some(r) = reply(&mut reader, &transcript) {
        transcript.push_str(&r);
    }
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "a partial reply line {rest:?}\n{transcript}"
    );
    transcript.matches("250 2.0.0 Ok: queued as").count()
}

fn run_script(
    rng: &mut Rng,
    writer: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    transcript: &mut String,
) {
    let Some(greeting) = reply(reader, transcript) else {
        return;
    };
    transcript.push_str(&greeting);
    // A usual start most of the time, so deeper states are reached.
    let mut script: Vec<Vec<u8>> = Vec::new();
    if rng.chance(80) {
        script.push(b"EHLO random.test\r\n".to_vec());
        script.push(b"AUTH PLAIN AGRlbW8AZGVtby1wYXNzd29yZA==\r\n".to_vec());
    }
    for _ in 0..1 + rng.below(14) {
        if rng.chance(30) {
            // A transaction that can succeed, so the queue and delivery paths are exercised.
            script.push(format!("MAIL FROM:<{}>\r\n", rng.pick(&SENDERS[..4])).into_bytes());
            script.push(format!("RCPT TO:<{}>\r\n", rng.pick(&RCPTS[..4])).into_bytes());
        }
        script.push(command(rng));
        if rng.chance(20) {
            script.push(b"DATA\r\n".to_vec());
        }
        if rng.chance(10) {
            let n = rng.below(40);
            let last = if rng.chance(50) { " LAST" } else { "" };
            let mut chunk = format!("BDAT {n}{last}\r\n").into_bytes();
            chunk.extend((0..n).map(|_| NOISE[rng.below(NOISE.len())]));
            script.push(chunk);
        }
    }
    for cmd in script {
        if rng.chance(3) {
            return; // hang up mid-session
        }
        transcript.push_str(&format!(
            "C: {}\n",
            String::from_utf8_lossy(&cmd).trim_end()
        ));
        if writer.write_all(&cmd).is_err() {
            return;
        }
        let Some(r) = reply(reader, transcript) else {
            return;
        };
        transcript.push_str(&r);
        if r.starts_with("354") {
            if writer.write_all(&body(rng)).is_err() {
                return;
            }
            let Some(r) = reply(reader, transcript) else {
                return;
            };
            transcript.push_str(&r);
        }
    }
}

#[test]
fn random_sessions_get_well_formed_replies_and_lose_or_invent_nothing() {
    let seed = std::env::var("SLUICE_SESSION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("SLUICE_SESSION_SEED={seed}");
    let sink = Sink::start(&[]);
    let relay = Relay::start(RelayConfig {
        // Random AUTH noise must not lock the test's own user out.
        auth: "require_tls = false\nmax_failures = 100000\n".into(),
        ..RelayConfig::default().smarthost(sink.port, "")
    });
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let port = relay.port;
            std::thread::spawn(move || {
                let mut rng = Rng(seed.wrapping_add(t.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1);
                (0..125).map(|_| session(port, &mut rng)).sum::<usize>()
            })
        })
        .collect();
    let queued: usize = threads
        .into_iter()
        .map(|t| t.join().expect("a session thread panicked"))
        .sum();
    // A clean session still works, and its message is the marker: once it has arrived,
    // every message queued before it has had its chance to arrive too.
    let mut c = Chat::authed(relay.port);
    let r = c.send_message(
        "app@example.com",
        &["marker@dest.test"],
        "Subject: marker\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("250 2.0.0"), "{r} (seed {seed})");
    let accepted = relay.wait_events("accepted", queued + 1);
    assert_eq!(accepted.len(), queued + 1, "seed {seed}");
    // Every queued message arrives once; the only other mail is the delivery reports that
    // NOTIFY=SUCCESS asked for (the sink does not offer DSN, so the relay reports itself).
    let is_report = |m: &sluice_e2e::sink::Received| m.content.contains("multipart/report");
    let arrived = sluice_e2e::wait_for(Duration::from_secs(30), || {
        let got = sink.messages();
        let mail = got.iter().filter(|m| !is_report(m)).count();
        let marker = got.iter().any(|m| m.content.contains("Subject: marker"));
        (marker && mail > queued).then_some(got)
    });
    let delivered =
        arrived.unwrap_or_else(|| panic!("not every queued message arrived (seed {seed})"));
    let summary: Vec<String> = delivered
        .iter()
        .map(|m| {
            let subject = m
                .content
                .lines()
                .find(|l| l.starts_with("Subject:"))
                .unwrap_or("");
            format!("{} -> {:?}: {subject}", m.mail_from, m.rcpts)
        })
        .collect();
    let mail = delivered.iter().filter(|m| !is_report(m)).count();
    assert_eq!(mail, queued + 1, "seed {seed}: {summary:#?}");
    assert!(
        !relay.log().contains("panicked"),
        "the relay panicked (seed {seed}):\n{}",
        relay.log()
    );
    println!("{queued} messages queued by random sessions (seed {seed})");
}
