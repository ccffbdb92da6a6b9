//! Substring tests by a scan for the needle's first byte. `str::find` and `str::contains`
//! build a two-way searcher for every call, which costs more than the search itself on a URL,
//! a tag's attributes or a style; the features make dozens of such calls per link and tag.

/// The byte offset of the first `needle` in `hay`, as `str::find` gives it (a needle that
/// starts a character can only match where a character starts).
pub fn find(hay: &str, needle: &str) -> Option<usize> {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = needle.split_first() else {
        return Some(0);
    };
    let mut from = 0;
    while let Some(at) = hay[from..].iter().position(|&b| b == first) {
        let at = from + at;
        if hay[at + 1..].starts_with(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

pub fn contains(hay: &str, needle: &str) -> bool {
    find(hay, needle).is_some()
}

/// Whether any of `needles` is in `hay`: one pass over `hay`, trying the needles only where
/// one of their first bytes is (a bit set of them).
pub fn contains_any(hay: &str, needles: &[&str]) -> bool {
    let mut firsts = [0u32; 8];
    for needle in needles {
        let Some(&b) = needle.as_bytes().first() else {
            return true;
        };
        firsts[usize::from(b / 32)] |= 1 << (b % 32);
    }
    let hay = hay.as_bytes();
    (0..hay.len()).any(|at| {
        let b = hay[at];
        firsts[usize::from(b / 32)] & (1 << (b % 32)) != 0
            && needles.iter().any(|n| hay[at..].starts_with(n.as_bytes()))
    })
}

/// What follows `://` in a URL, or the whole of it.
pub fn after_scheme(url: &str) -> &str {
    find(url, "://").map_or(url, |at| &url[at + 3..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_as_str_does() {
        for (hay, needle) in [
            ("https://shop.test/unsub?x=1", "unsub"),
            ("aaab", "ab"),
            ("désabonner", "abon"),
            ("désabonner", "é"),
            ("short", "longer needle"),
            ("", "x"),
            ("abc", ""),
            ("x://y://z", "://"),
        ] {
            assert_eq!(find(hay, needle), hay.find(needle), "{needle} in {hay}");
        }
        assert_eq!(after_scheme("https://a.test/b"), "a.test/b");
        assert_eq!(after_scheme("a.test/b"), "a.test/b");
        assert!(contains_any(
            "https://x.test/opt-out",
            &["unsub", "opt-out"]
        ));
    }
}
