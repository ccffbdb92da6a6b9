//! DATA and BDAT content through the decoder. Nothing may panic; what is decoded is the same
//! however the input is cut into reads; a message that ends normally holds only CRLF line
//! endings (no bare CR or LF survives to the spool) and never more than the size limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_wire::framing::{ContentDecoder, Progress};

const MAX: u64 = 4096;

fn decode(dot: bool, normalize: bool, pieces: &[&[u8]]) -> (Vec<u8>, Option<Progress>, u64) {
    let mut d = if dot {
        ContentDecoder::data(MAX, normalize)
    } else {
        ContentDecoder::chunks(MAX, normalize)
    };
    let mut out = Vec::new();
    let mut end = None;
    let mut offset = 0;
    for piece in pieces {
        match d.feed(piece, &mut out) {
            Progress::NeedMore => offset += piece.len(),
            Progress::Done { consumed } => {
                assert!(consumed <= piece.len());
                end = Some(Progress::Done { consumed: offset + consumed });
                break;
            }
            Progress::Abort { consumed, violation } => {
                assert!(consumed <= piece.len());
                end = Some(Progress::Abort { consumed: offset + consumed, violation });
                break;
            }
        }
    }
    if !dot && end.is_none() {
        d.finish_chunks(&mut out);
    }
    assert!(out.len() as u64 <= MAX + 2);
    if d.violation().is_none() {
        let bare = out.windows(2).any(|w| (w[0] == b'\r') != (w[1] == b'\n'))
            || out.first() == Some(&b'\n')
            || out.last() == Some(&b'\r');
        assert!(!bare, "bare line ending in accepted content");
    }
    (out, end, d.size())
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let cut = (cut as usize).min(bytes.len());
    for dot in [true, false] {
        for normalize in [false, true] {
            let whole = decode(dot, normalize, &[bytes]);
            let split = decode(dot, normalize, &[&bytes[..cut], &bytes[cut..]]);
            assert_eq!(whole, split, "dot={dot} normalize={normalize} cut={cut}");
        }
    }
});
