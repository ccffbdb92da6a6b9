//! Header fields a policy adds to a message, checked and folded in one place (RFC 5322).
//!
//! A name is 1 to [`MAX_NAME`] octets of `ftext` (printable ASCII but `:`, §3.6.8). A value
//! holds no control character but HTAB, so no CR, LF or NUL can end its line early or start a
//! new field, and is at most [`MAX_VALUE`] octets. The field is folded at whitespace (§2.2.3):
//! lines stay within 78 octets where the words allow and never pass 998 (§2.1.1); a word too
//! long for that is refused, never split, so unfolding always gives the value back.

use std::fmt;

/// Longest field name: with ": " it fits a 78-octet line.
pub const MAX_NAME: usize = 76;
/// Longest value, before folding.
pub const MAX_VALUE: usize = 4096;
/// Octets (folded, CRLFs included) of the fields one policy decision may add.
pub const MAX_ADDED: usize = 32 * 1024;
/// Where lines are folded when the words allow (RFC 5322 §2.1.1 "SHOULD").
const FOLD_AT: usize = 78;
/// The hard limit on a line, CRLF excluded (RFC 5322 §2.1.1 "MUST").
const MAX_LINE: usize = 998;

/// Why a field was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// The name is empty, too long, or holds something other than ftext.
    Name,
    /// The value holds a control character (CR, LF, NUL, ESC, DEL, …).
    Control,
    /// The value is longer than [`MAX_VALUE`] octets.
    ValueTooLong(usize),
    /// A run without whitespace would make a line longer than 998 octets.
    Unfoldable,
    /// The fields of one decision would pass [`MAX_ADDED`] octets.
    TooMuch,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Name => write!(
                f,
                "names are 1 to {MAX_NAME} printable ASCII characters without ':'"
            ),
            HeaderError::Control => f.write_str("values hold no control characters but tab"),
            HeaderError::ValueTooLong(n) => {
                write!(f, "value of {n} octets; {MAX_VALUE} at most")
            }
            HeaderError::Unfoldable => {
                f.write_str("a word in the value is too long to fold within 998 octets")
            }
            HeaderError::TooMuch => write!(f, "{MAX_ADDED} octets of added headers at most"),
        }
    }
}

/// `name: value` as it goes into the message: checked, folded, CRLF-terminated.
pub fn field(name: &str, value: &str) -> Result<String, HeaderError> {
    let ftext = |b: u8| b.is_ascii_graphic() && b != b':';
    if name.is_empty() || name.len() > MAX_NAME || !name.bytes().all(ftext) {
        return Err(HeaderError::Name);
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(HeaderError::Control);
    }
    if value.len() > MAX_VALUE {
        return Err(HeaderError::ValueTooLong(value.len()));
    }
    let mut out = String::with_capacity(name.len() + value.len() + value.len() / 32 + 4);
    out.push_str(name);
    out.push(':');
    let mut line = out.len();
    let text = format!(" {value}");
    for (i, piece) in pieces(&text).enumerate() {
        // Fold before whitespace, never before the first word nor before trailing whitespace
        // (a line of nothing but whitespace is not allowed).
        let has_word = piece.contains(|c: char| c != ' ' && c != '\t');
        if i > 0 && has_word && line + piece.len() > FOLD_AT {
            out.push_str("\r\n");
            line = 0;
        }
        if line + piece.len() > MAX_LINE {
            return Err(HeaderError::Unfoldable);
        }
        out.push_str(piece);
        line += piece.len();
    }
    out.push_str("\r\n");
    Ok(out)
}

/// `text` cut before each whitespace run that follows a word: each piece is whitespace then a
/// word (the first may have no whitespace, the last no word).
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let wsp = |b: u8| b == b' ' || b == b'\t';
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let mut i = start;
        while i < bytes.len() && wsp(bytes[i]) {
            i += 1;
        }
        while i < bytes.len() && !wsp(bytes[i]) {
            i += 1;
        }
        let piece = &text[start..i];
        start = i;
        Some(piece)
    })
}

/// The fields of one decision, their total bounded by [`MAX_ADDED`].
#[derive(Debug, Default)]
pub struct Added {
    fields: String,
}

impl Added {
    pub fn push(&mut self, name: &str, value: &str) -> Result<(), HeaderError> {
        let f = field(name, value)?;
        if self.fields.len() + f.len() > MAX_ADDED {
            return Err(HeaderError::TooMuch);
        }
        self.fields.push_str(&f);
        Ok(())
    }

    pub fn into_string(self) -> String {
        self.fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unfold(f: &str) -> String {
        f.trim_end_matches("\r\n").replace("\r\n", "")
    }

    #[test]
    fn short_fields_stay_on_one_line() {
        assert_eq!(field("X-A", "b c").unwrap(), "X-A: b c\r\n");
        assert_eq!(field("X-Empty", "").unwrap(), "X-Empty: \r\n");
    }

    #[test]
    fn long_values_fold_at_whitespace_and_unfold_to_themselves() {
        let value = "wwwwwwwww ".repeat(500);
        let f = field("X-Long", &value[..MAX_VALUE - 6]).unwrap();
        for line in f.split("\r\n") {
            assert!(line.len() <= FOLD_AT, "{line:?}");
            assert!(
                line.is_empty() || !line.trim().is_empty(),
                "whitespace-only line"
            );
        }
        assert_eq!(unfold(&f), format!("X-Long: {}", &value[..MAX_VALUE - 6]));
        // A long word takes a line of its own, up to 998 octets.
        let word = "w".repeat(900);
        let f = field("X-Word", &format!("a {word} b\tc ")).unwrap();
        assert!(f.split("\r\n").all(|l| l.len() <= MAX_LINE));
        assert_eq!(unfold(&f), format!("X-Word: a {word} b\tc "));
    }

    #[test]
    fn refusals() {
        assert_eq!(field("X Bad", "v"), Err(HeaderError::Name));
        assert_eq!(field("X:Bad", "v"), Err(HeaderError::Name));
        assert_eq!(field("", "v"), Err(HeaderError::Name));
        assert_eq!(field("Caf\u{e9}", "v"), Err(HeaderError::Name));
        assert_eq!(field(&"n".repeat(77), "v"), Err(HeaderError::Name));
        for v in ["a\r\nB: c", "a\nb", "a\rb", "a\0b", "a\x1b[2K", "a\x7f"] {
            assert_eq!(field("X-V", v), Err(HeaderError::Control), "{v:?}");
        }
        assert_eq!(
            field("X-V", &"w ".repeat(3000)),
            Err(HeaderError::ValueTooLong(6000))
        );
        assert_eq!(field("X-V", &"w".repeat(999)), Err(HeaderError::Unfoldable));
        let mut added = Added::default();
        let value = "v ".repeat(2000);
        for _ in 0..7 {
            added.push("X-Many", &value).unwrap();
        }
        assert_eq!(added.push("X-Many", &value), Err(HeaderError::TooMuch));
    }
}
