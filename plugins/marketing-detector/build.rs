//! Compiles every phrase list (and the `<img` and `utm_` markers) into one Aho-Corasick DFA with
//! the `aho-corasick` crate, ASCII case-insensitive, and writes its transition table as static
//! data (`$OUT_DIR/phrase_dfa.rs`). Building the automaton in the plugin instead would cost
//! every fresh instance (one per transaction) 170–650 µs natively, more than the old scans
//! (BENCHMARKS.md, session 6); as static data it costs nothing to set up.
use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind};
use std::collections::HashMap;
use std::fmt::Write;

include!("src/phrases.rs");

fn main() {
    println!("cargo:rerun-if-changed=src/phrases.rs");
    let patterns: Vec<&str> = [
        PROMOTIONAL,
        OUTREACH,
        UNSUBSCRIBE_FOOTER,
        TRANSACTIONAL,
        &["<img", "utm_"][..],
    ]
    .concat();
    assert!(patterns.len() < 256, "pattern ids are stored as u8");
    let dfa = DFA::builder()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(&patterns)
        .expect("the phrases build a DFA");

    // Byte classes: each byte of a pattern (both ASCII cases alike) is its own class; every
    // other byte moves the automaton alike, class 0.
    let mut class = [0u8; 256];
    let mut classes = 1u8;
    for b in patterns.iter().flat_map(|p| p.bytes()) {
        let b = b.to_ascii_lowercase();
        if class[b as usize] == 0 {
            class[b as usize] = classes;
            class[b.to_ascii_uppercase() as usize] = classes;
            classes += 1;
        }
    }
    let mut representative = vec![0u8; classes as usize];
    for b in (0..=255u8).rev() {
        representative[class[b as usize] as usize] = b;
    }

    // Number the states reachable from the start, breadth first.
    let start = dfa.start_state(Anchored::No).expect("an unanchored start");
    let mut index = HashMap::from([(start, 0usize)]);
    let mut order = vec![start];
    let mut next = Vec::new();
    let mut at = 0;
    while at < order.len() {
        let sid = order[at];
        for (c, &b) in representative.iter().enumerate() {
            let to = dfa.next_state(Anchored::No, sid, b);
            for other in 0..=255u8 {
                if class[other as usize] as usize == c {
                    assert_eq!(
                        dfa.next_state(Anchored::No, sid, other),
                        to,
                        "bad byte class"
                    );
                }
            }
            let n = order.len();
            let i = *index.entry(to).or_insert_with(|| {
                order.push(to);
                n
            });
            next.push(u16::try_from(i).expect("fewer than 65,536 states"));
        }
        at += 1;
    }
    let mut match_start = vec![0u16];
    let mut matches = Vec::new();
    for &sid in &order {
        if dfa.is_match(sid) {
            for i in 0..dfa.match_len(sid) {
                matches.push(dfa.match_pattern(sid, i).as_usize() as u8);
            }
        }
        match_start.push(matches.len() as u16);
    }

    let mut out = String::new();
    let list = |v: &[String]| v.join(",");
    writeln!(out, "/// The byte class of each byte.").unwrap();
    writeln!(
        out,
        "static CLASS: [u8; 256] = [{}];",
        list(&class.map(|c| c.to_string()))
    )
    .unwrap();
    writeln!(out, "const CLASSES: usize = {classes};").unwrap();
    writeln!(
        out,
        "/// `NEXT[state * CLASSES + class]`: the next state; state 0 is the start."
    )
    .unwrap();
    writeln!(
        out,
        "static NEXT: [u16; {}] = [{}];",
        next.len(),
        list(&next.iter().map(u16::to_string).collect::<Vec<_>>())
    )
    .unwrap();
    writeln!(
        out,
        "/// The patterns matching at state `s`: `MATCHES[MATCH_START[s]..MATCH_START[s + 1]]`."
    )
    .unwrap();
    writeln!(
        out,
        "static MATCH_START: [u16; {}] = [{}];",
        match_start.len(),
        list(&match_start.iter().map(u16::to_string).collect::<Vec<_>>())
    )
    .unwrap();
    writeln!(
        out,
        "static MATCHES: [u8; {}] = [{}];",
        matches.len(),
        list(&matches.iter().map(u8::to_string).collect::<Vec<_>>())
    )
    .unwrap();
    let path = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("phrase_dfa.rs");
    std::fs::write(path, out).unwrap();
}
