//! How errors quote what a user gave: at most [`QUOTE_LIMIT`] characters of it, then how
//! long it was, so a 900,000-character value gives a short message, not a 900 KB one.
//! Every error that repeats an input (a token file's value or field name, a configuration
//! value, a PEM label, a cluster id) goes through here.

use std::borrow::Cow;
use std::path::Path;

/// The most characters of an input an error message repeats.
pub const QUOTE_LIMIT: usize = 100;
/// The most characters of a path an error message repeats (paths are longer than values,
/// and a message must still say which file it is about).
pub const PATH_LIMIT: usize = 1024;

fn clip(text: &str, limit: usize) -> Option<(&str, usize)> {
    let (cut, _) = text.char_indices().nth(limit)?;
    Some((&text[..cut], text.chars().count()))
}

/// `text` as it is when it is short; else its first [`QUOTE_LIMIT`] characters, `…` and
/// its length: `aaaa… (900000 characters)`.
pub fn shorten(text: &str) -> Cow<'_, str> {
    shorten_to(text, QUOTE_LIMIT)
}

fn shorten_to(text: &str, limit: usize) -> Cow<'_, str> {
    match clip(text, limit) {
        None => Cow::Borrowed(text),
        Some((head, n)) => Cow::Owned(format!("{head}… ({n} characters)")),
    }
}

/// `text` in double quotes, control characters escaped, and at most [`QUOTE_LIMIT`]
/// characters of it: `"abc"`, or `"aaaa…" (900000 characters)`.
pub fn quote(text: &str) -> String {
    let escaped = |s: &str| s.chars().flat_map(char::escape_debug).collect::<String>();
    match clip(text, QUOTE_LIMIT) {
        None => format!("\"{}\"", escaped(text)),
        Some((head, n)) => format!("\"{}…\" ({n} characters)", escaped(head)),
    }
}

/// A path for a message, cut after [`PATH_LIMIT`] characters.
pub fn path(path: &Path) -> String {
    let text = path.display().to_string();
    shorten_to(&text, PATH_LIMIT).into_owned()
}

/// Shortens every long quoted piece (between `"` or between backticks) of a message made
/// by another library (serde's "invalid type: string \"...\"", "unknown field `...`"), and
/// the message itself when it is still long.
pub fn clip_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(4 * QUOTE_LIMIT));
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let delim = rest.as_bytes()[open] as char;
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let Some(close) = rest.find(delim) else {
            break;
        };
        out.push_str(&shorten(&rest[..close]));
        out.push(delim);
        rest = &rest[close + 1..];
    }
    out.push_str(&shorten_to(rest, 4 * QUOTE_LIMIT));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_inputs_are_quoted_whole() {
        assert_eq!(quote("2.1"), "\"2.1\"");
        assert_eq!(shorten("abc"), "abc");
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
    }

    #[test]
    fn long_inputs_are_cut_and_their_length_given() {
        let long = "a".repeat(900_000);
        let q = quote(&long);
        assert_eq!(q, format!("\"{}…\" (900000 characters)", "a".repeat(100)));
        assert!(shorten(&long).len() < 130);
        let multibyte = "é".repeat(150);
        assert!(quote(&multibyte).ends_with("…\" (150 characters)"));
    }

    #[test]
    fn quoted_pieces_of_other_messages_are_cut() {
        let long = "b".repeat(5000);
        let m = clip_quoted(&format!(
            "invalid type: string \"{long}\", expected u16 at line 1 column 5020"
        ));
        assert!(m.starts_with("invalid type: string \"bbbb"), "{m}");
        assert!(
            m.contains("(5000 characters)\", expected u16 at line 1 column 5020"),
            "{m}"
        );
        let m = clip_quoted(&format!("unknown field `{long}`, expected one of `a`"));
        assert!(m.len() < 200 && m.ends_with("expected one of `a`"), "{m}");
        assert_eq!(clip_quoted("no quotes"), "no quotes");
        assert!(clip_quoted(&format!("\"{long}")).len() < 600);
    }
}
