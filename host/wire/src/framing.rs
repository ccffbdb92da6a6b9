//! Byte-level framing of the SMTP stream, with no I/O: command lines and message content.
//!
//! Both are strict about line endings. A command must end in CRLF and hold no other CR, LF or
//! NUL; message content ends only at CRLF "." CRLF, and a bare CR or LF inside it is a
//! violation rather than a line break. That is what makes SMTP smuggling (CVE-2023-51764 and
//! kin) impossible: no byte sequence that another MTA might read as an end of data is ever
//! read as one here.

/// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF.
pub const MAX_COMMAND_LINE: usize = 512;
/// RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets including CRLF.
pub const MAX_TEXT_LINE: usize = 998;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandLine {
    /// A well-formed line of `len` bytes, CRLF included.
    Complete(usize),
    /// No line end yet; read more.
    Incomplete,
    /// More than [`MAX_COMMAND_LINE`] bytes without a line end.
    TooLong,
    /// A line of `len` bytes with a bare LF, a stray CR or a NUL.
    Malformed(usize),
}

/// Finds the next command line at the start of `buf`.
pub fn command_line(buf: &[u8]) -> CommandLine {
    let window = &buf[..buf.len().min(MAX_COMMAND_LINE)];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        return if buf.len() >= MAX_COMMAND_LINE {
            CommandLine::TooLong
        } else {
            CommandLine::Incomplete
        };
    };
    let len = lf + 1;
    if lf == 0 || buf[lf - 1] != b'\r' || buf[..lf - 1].iter().any(|&b| b == b'\r' || b == 0) {
        return CommandLine::Malformed(len);
    }
    CommandLine::Complete(len)
}

/// Where a line that was too long ends: bytes to drop, if its LF has arrived.
pub fn rest_of_line(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n').map(|p| p + 1)
}

/// Something wrong with message content. The first one found decides the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// A LF not preceded by CR.
    BareLf,
    /// A CR not followed by LF.
    BareCr,
    /// A NUL byte (not allowed in 7bit or 8bitmime content).
    Nul,
    /// A line over [`MAX_TEXT_LINE`] octets.
    LineTooLong,
    /// The message is over the size limit.
    TooBig,
}

impl Violation {
    /// Bare line endings make the framing ambiguous: the session must not read on.
    pub fn is_framing(self) -> bool {
        matches!(self, Violation::BareLf | Violation::BareCr)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// All input consumed; the message goes on.
    NeedMore,
    /// The end-of-data marker was found after `consumed` bytes of this input.
    Done { consumed: usize },
    /// A framing violation at byte `consumed`; nothing after it may be read as SMTP.
    Abort {
        consumed: usize,
        violation: Violation,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    LineStart,
    Mid,
    Cr,
    /// A dot at the start of a line (DATA only).
    Dot,
    /// "." CR at the start of a line (DATA only).
    DotCr,
}

/// Decodes DATA (dot-terminated, dot-stuffed) or BDAT (length-framed) message content into
/// the canonical CRLF form, enforcing line endings, line length and the size limit. Bytes past
/// the size limit are counted but not kept, so memory stays bounded.
#[derive(Debug)]
pub struct ContentDecoder {
    dot_framing: bool,
    normalize: bool,
    state: State,
    line_len: usize,
    max_size: u64,
    size: u64,
    violation: Option<Violation>,
}

impl ContentDecoder {
    /// Content of a DATA command.
    pub fn data(max_size: u64, normalize: bool) -> Self {
        Self::new(true, max_size, normalize)
    }

    /// Content of one or more BDAT chunks.
    pub fn chunks(max_size: u64, normalize: bool) -> Self {
        Self::new(false, max_size, normalize)
    }

    fn new(dot_framing: bool, max_size: u64, normalize: bool) -> Self {
        ContentDecoder {
            dot_framing,
            normalize,
            state: State::LineStart,
            line_len: 0,
            max_size,
            size: 0,
            violation: None,
        }
    }

    /// The first content problem seen so far.
    pub fn violation(&self) -> Option<Violation> {
        self.violation
    }

    /// Message size in bytes as decoded (including bytes dropped past the limit).
    pub fn size(&self) -> u64 {
        self.size
    }

    fn flag(&mut self, v: Violation) {
        self.violation.get_or_insert(v);
    }

    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        if self.size > self.max_size {
            self.flag(Violation::TooBig);
        } else if self.violation != Some(Violation::TooBig) {
            out.extend_from_slice(bytes);
        }
    }

    /// Feeds `input`; decoded content is appended to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Progress {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            i += 1;
            match self.state {
                State::LineStart if self.dot_framing && b == b'.' => self.state = State::Dot,
                State::Dot => match b {
                    b'\r' => self.state = State::DotCr,
                    // A leading dot is removed (RFC 5321 §4.5.2); the byte after it is content.
                    _ => {
                        self.state = State::Mid;
                        i -= 1;
                    }
                },
                State::DotCr => {
                    if b == b'\n' {
                        return Progress::Done { consumed: i };
                    }
                    // "." CR followed by anything else: a bare CR, never an end of data.
                    if let Some(p) = self.bare(Violation::BareCr, i, out) {
                        return p;
                    }
                    self.emit(out, b".");
                    i -= 1;
                }
                State::Cr => {
                    if b == b'\n' {
                        self.end_line(out);
                    } else {
                        if let Some(p) = self.bare(Violation::BareCr, i, out) {
                            return p;
                        }
                        i -= 1;
                    }
                }
                State::LineStart | State::Mid => match b {
                    b'\r' => self.state = State::Cr,
                    b'\n' => {
                        if let Some(p) = self.bare(Violation::BareLf, i, out) {
                            return p;
                        }
                    }
                    _ => {
                        if b == 0 {
                            self.flag(Violation::Nul);
                        }
                        self.line_len += 1;
                        if self.line_len > MAX_TEXT_LINE {
                            self.flag(Violation::LineTooLong);
                        }
                        self.state = State::Mid;
                        self.emit(out, &[b]);
                    }
                },
            }
        }
        Progress::NeedMore
    }

    fn end_line(&mut self, out: &mut Vec<u8>) {
        self.emit(out, b"\r\n");
        self.line_len = 0;
        self.state = State::LineStart;
    }

    /// A bare CR or LF: abort (DATA, reject mode), flag (BDAT, reject mode: the length framing
    /// stays unambiguous) or turn it into CRLF (normalize mode).
    fn bare(&mut self, v: Violation, consumed: usize, out: &mut Vec<u8>) -> Option<Progress> {
        if self.normalize {
            self.end_line(out);
            return None;
        }
        self.flag(v);
        if self.dot_framing {
            return Some(Progress::Abort {
                consumed,
                violation: v,
            });
        }
        self.state = State::Mid;
        None
    }

    /// Closes BDAT content after its last chunk: a message must end with CRLF.
    pub fn finish_chunks(&mut self, out: &mut Vec<u8>) {
        match self.state {
            State::Cr => {
                let _ = self.bare(Violation::BareCr, 0, out);
            }
            State::Mid => self.emit(out, b"\r\n"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(input: &[u8]) -> (Progress, Vec<u8>, Option<Violation>) {
        let mut d = ContentDecoder::data(1 << 20, false);
        let mut out = Vec::new();
        let p = d.feed(input, &mut out);
        (p, out, d.violation())
    }

    #[test]
    fn command_lines() {
        assert_eq!(command_line(b"NOOP\r\nQUIT\r\n"), CommandLine::Complete(6));
        assert_eq!(command_line(b"NOOP\r"), CommandLine::Incomplete);
        assert_eq!(command_line(b"NOOP\nQUIT\r\n"), CommandLine::Malformed(5));
        assert_eq!(command_line(b"NO\rOP\r\n"), CommandLine::Malformed(7));
        assert_eq!(command_line(b"NO\0OP\r\n"), CommandLine::Malformed(7));
        assert_eq!(command_line(b"\n"), CommandLine::Malformed(1));
        let mut long = vec![b'A'; 510];
        long.extend_from_slice(b"\r\n");
        assert_eq!(command_line(&long), CommandLine::Complete(512));
        long.insert(0, b'A');
        assert_eq!(command_line(&long), CommandLine::TooLong);
    }

    #[test]
    fn dot_unstuffing_is_exact() {
        let (p, out, v) = decode(b"a\r\n..b\r\n...\r\n.\r\nMAIL");
        assert_eq!(p, Progress::Done { consumed: 16 });
        assert_eq!(out, b"a\r\n.b\r\n..\r\n");
        assert_eq!(v, None);
    }

    #[test]
    fn end_split_across_reads() {
        let mut d = ContentDecoder::data(1 << 20, false);
        let mut out = Vec::new();
        let mut last = Progress::NeedMore;
        for part in [&b"x\r"[..], b"\n", b".", b"\r", b"\n"] {
            last = d.feed(part, &mut out);
        }
        assert_eq!(last, Progress::Done { consumed: 1 });
        assert_eq!(out, b"x\r\n");
    }

    #[test]
    fn empty_message_ends_at_first_dot() {
        assert_eq!(decode(b".\r\n").0, Progress::Done { consumed: 3 });
    }

    #[test]
    fn smuggling_variants_never_end_data() {
        for body in [
            &b"a\n.\nMAIL FROM:<x@y>\r\n"[..],
            b"a\n.\r\nMAIL FROM:<x@y>\r\n",
            b"a\r\n.\nMAIL FROM:<x@y>\r\n",
            b"a\r.\rMAIL FROM:<x@y>\r\n",
            b"a\r\n.\rMAIL FROM:<x@y>\r\n",
        ] {
            let (p, _, v) = decode(body);
            assert!(
                matches!(p, Progress::Abort { .. }),
                "{:?} gave {p:?}",
                String::from_utf8_lossy(body)
            );
            assert!(v.is_some_and(Violation::is_framing));
        }
    }

    #[test]
    fn nul_next_to_dot_is_not_an_end() {
        let (p, out, v) = decode(b"a\r\n.\0\r\nb\r\n.\r\n");
        assert_eq!(p, Progress::Done { consumed: 13 });
        assert_eq!(v, Some(Violation::Nul));
        assert_eq!(out, b"a\r\n\0\r\nb\r\n");
    }

    #[test]
    fn normalize_mode_turns_bare_endings_into_crlf_but_never_ends_data() {
        let mut d = ContentDecoder::data(1 << 20, true);
        let mut out = Vec::new();
        assert_eq!(
            d.feed(b"a\nb\rc\n.\nd\r\n.\r\n", &mut out),
            Progress::Done { consumed: 14 }
        );
        assert_eq!(out, b"a\r\nb\r\nc\r\n\r\nd\r\n");
        assert_eq!(d.violation(), None);
    }

    #[test]
    fn long_lines_and_size_are_flagged_with_bounded_memory() {
        let mut body = vec![b'x'; 999];
        body.extend_from_slice(b"\r\n.\r\n");
        assert_eq!(decode(&body).2, Some(Violation::LineTooLong));

        let mut d = ContentDecoder::data(10, false);
        let mut out = Vec::new();
        let p = d.feed(b"0123456789\r\nabcdef\r\n.\r\n", &mut out);
        assert!(matches!(p, Progress::Done { .. }));
        assert_eq!(d.violation(), Some(Violation::TooBig));
        assert!(out.len() <= 10);
    }

    #[test]
    fn bdat_content_keeps_dots_and_flags_bare_lf() {
        let mut d = ContentDecoder::chunks(1 << 20, false);
        let mut out = Vec::new();
        assert_eq!(d.feed(b".a\r\n.\r\n", &mut out), Progress::NeedMore);
        assert_eq!(out, b".a\r\n.\r\n");
        d.feed(b"b\nc", &mut out);
        d.finish_chunks(&mut out);
        assert_eq!(d.violation(), Some(Violation::BareLf));
    }
}

/// Random and adversarial bytes through the whole parsing path: framing, the command parser
/// and the content decoder must answer, never panic, and keep their bounds.
#[cfg(test)]
mod fuzz {
    use super::*;

    /// xorshift64*: deterministic, so a failure reproduces.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    const ALPHABET: &[u8] = b"\r\n.\0 :<>@MAILFROMRCPTTODATABDATEHLOAUTHSTARTTLSxX=-\xff\xc3\xa9\t";

    fn input(rng: &mut Rng) -> Vec<u8> {
        let len = (rng.next() % 700) as usize;
        (0..len)
            .map(|_| ALPHABET[(rng.next() % ALPHABET.len() as u64) as usize])
            .collect()
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(0x5EED_0F51_u64);
        for _ in 0..50_000 {
            let bytes = input(&mut rng);
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                match command_line(rest) {
                    CommandLine::Complete(n) => {
                        let _ = smtp_proto::Request::parse(&mut rest[..n].iter());
                        rest = &rest[n..];
                    }
                    CommandLine::Malformed(n) => rest = &rest[n..],
                    CommandLine::TooLong => {
                        rest = &rest[rest_of_line(rest).unwrap_or(rest.len())..]
                    }
                    CommandLine::Incomplete => break,
                }
            }
            for normalize in [false, true] {
                let mut d = ContentDecoder::data(300, normalize);
                let mut out = Vec::new();
                if let Progress::Done { consumed } | Progress::Abort { consumed, .. } =
                    d.feed(&bytes, &mut out)
                {
                    assert!(consumed <= bytes.len());
                }
                assert!(out.len() <= 300 + 2, "decoded past the size limit");
                let mut c = ContentDecoder::chunks(300, normalize);
                c.feed(&bytes, &mut out);
                c.finish_chunks(&mut out);
            }
        }
    }
}
