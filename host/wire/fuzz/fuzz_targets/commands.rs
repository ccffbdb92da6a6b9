//! Command lines as a session reads them: framing, the argument checks, the MAIL/RCPT path
//! split and parameter checks, then smtp-proto on what is left. Nothing may panic, and a
//! path that is accepted must be a safe wire form: no line ending, NUL or unbalanced `<>`
//! that could end up as a second command or a parameter at the next hop, and splitting the
//! command rebuilt from it gives the same mailbox back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_wire::framing::{command_line, rest_of_line, CommandLine};
use sluice_wire::{params, path};

fn check_line(line: &[u8]) {
    let _ = params::check_arguments(line);
    let Some(split) = path::split(line) else {
        let _ = smtp_proto::Request::parse(&mut line.iter());
        return;
    };
    let _ = params::check_mail(&split.params);
    let _ = params::check_rcpt(&split.params);
    let _ = smtp_proto::Request::parse(&mut split.for_parser.iter());
    if let Ok(p) = split.path {
        let m = &p.mailbox;
        assert!(!m.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0), "{m:?}");
        assert!(m.len() <= 254, "{m:?}");
        let again = format!("RCPT TO:<{m}> NOTIFY=NEVER\r\n");
        let resplit = path::split(again.as_bytes()).expect("a RCPT line");
        assert_eq!(resplit.path.as_ref().map(|p| &p.mailbox), Ok(m), "{m:?}");
        assert_eq!(resplit.params, "NOTIFY=NEVER", "{m:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while !rest.is_empty() {
        match command_line(rest) {
            CommandLine::Complete(n) => {
                check_line(&rest[..n]);
                rest = &rest[n..];
            }
            CommandLine::Malformed(n) => rest = &rest[n.max(1)..],
            CommandLine::TooLong => rest = &rest[rest_of_line(rest).unwrap_or(rest.len())..],
            CommandLine::Incomplete => {
                check_line(rest);
                break;
            }
        }
    }
});
