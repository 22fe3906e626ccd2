//! A shallow scan of a REPL entry, before the language's parser sees it:
//! where brackets are still open (multi-line entry), where the top-level
//! `=` of an assignment is, and whether the entry is a call `f(a, b)` of
//! something the REPL provides (a generator, `load`, `save`, a kernel).
//!
//! The scan knows only brackets, `"strings"` (which the language has not,
//! but `load("f.npy")` has) and `#` comments; everything else is left to
//! the language's lexer and parser, which report errors with spans.

use std::ops::Range;

/// Calls `visit(position, byte)` for every byte outside strings and
/// comments, with the bracket depth before it.
fn walk(text: &str, range: Range<usize>, mut visit: impl FnMut(usize, u8, i32)) {
    let bytes = text.as_bytes();
    let mut depth = 0i32;
    let mut k = range.start;
    while k < range.end {
        let b = bytes[k];
        match b {
            b'#' => {
                while k < range.end && bytes[k] != b'\n' {
                    k += 1;
                }
                continue;
            }
            b'"' => {
                visit(k, b, depth);
                k += 1;
                while k < range.end && bytes[k] != b'"' && bytes[k] != b'\n' {
                    k += 1;
                }
                if k < range.end && bytes[k] == b'"' {
                    visit(k, b'"', depth);
                }
            }
            b'(' | b'[' | b'{' => {
                visit(k, b, depth);
                depth += 1;
            }
            b')' | b']' | b'}' => {
                depth -= 1;
                visit(k, b, depth);
            }
            _ => visit(k, b, depth),
        }
        k += 1;
    }
}

/// Brackets opened and not yet closed: while positive, the entry goes on
/// on the next line.
pub fn open_brackets(text: &str) -> i32 {
    let mut depth = 0;
    walk(text, 0..text.len(), |_, b, d| {
        depth = match b {
            b'(' | b'[' | b'{' => d + 1,
            _ => d,
        }
    });
    depth
}

/// The position of the `=` of an assignment `target = value`: the first
/// `=` outside brackets that is not part of `==`, `<=`, `>=`, `!=`.
pub fn assignment(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut found = None;
    walk(text, 0..text.len(), |k, b, d| {
        if found.is_none() && b == b'=' && d == 0 {
            let before = k.checked_sub(1).map(|j| bytes[j]);
            let after = bytes.get(k + 1).copied();
            if !matches!(before, Some(b'=' | b'<' | b'>' | b'!')) && after != Some(b'=') {
                found = Some(k);
            }
        }
    });
    found
}

/// `range` with leading and trailing whitespace and a trailing comment
/// removed.
pub fn trim(text: &str, range: Range<usize>) -> Range<usize> {
    let mut end = range.start;
    walk(text, range.clone(), |k, b, _| {
        if !b.is_ascii_whitespace() {
            end = k + 1;
        }
    });
    let bytes = text.as_bytes();
    let mut start = range.start;
    while start < end && bytes[start].is_ascii_whitespace() {
        start += 1;
    }
    start..end.max(start)
}

/// Splits `range` at commas outside brackets and strings; every piece
/// trimmed.
pub fn split_commas(text: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let mut pieces = Vec::new();
    let mut start = range.start;
    walk(text, range.clone(), |k, b, d| {
        if b == b',' && d == 0 {
            pieces.push(trim(text, start..k));
            start = k + 1;
        }
    });
    pieces.push(trim(text, start..range.end));
    pieces
}

/// Whether `s` is an identifier.
pub fn is_ident(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A call `name(args)` spanning all of `range` (trimmed).
pub struct Call {
    pub name: Range<usize>,
    /// The arguments, trimmed; empty for `f()`.
    pub args: Vec<Range<usize>>,
}

pub fn call(text: &str, range: Range<usize>) -> Option<Call> {
    let range = trim(text, range);
    let s = &text[range.clone()];
    let name_len = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    if name_len == 0 || !is_ident(&s[..name_len]) {
        return None;
    }
    let open = range.start + name_len + (s[name_len..].len() - s[name_len..].trim_start().len());
    if text.as_bytes().get(open) != Some(&b'(') {
        return None;
    }
    // The bracket opened at `open` must close at the very end.
    let mut close = None;
    walk(text, open..range.end, |k, b, d| {
        if close.is_none() && b == b')' && d == 0 {
            close = Some(k);
        }
    });
    let close = close?;
    if close + 1 != range.end {
        return None;
    }
    let inner = trim(text, open + 1..close);
    let args = if inner.is_empty() {
        Vec::new()
    } else {
        split_commas(text, open + 1..close)
    };
    Some(Call {
        name: range.start..range.start + name_len,
        args,
    })
}

/// A keyword argument `name=value`: the name's and the value's ranges.
pub fn keyword(text: &str, range: Range<usize>) -> Option<(Range<usize>, Range<usize>)> {
    let eq = assignment(&text[range.clone()])? + range.start;
    let name = trim(text, range.start..eq);
    is_ident(&text[name.clone()]).then(|| (name, trim(text, eq + 1..range.end)))
}

/// The contents of a string literal `"..."` filling `range`.
pub fn string(text: &str, range: Range<usize>) -> Option<&str> {
    let s = &text[range];
    (s.len() >= 2 && s.starts_with('"') && s.ends_with('"')).then(|| &s[1..s.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_ignore_strings_and_comments() {
        assert_eq!(open_brackets("kernel f(x: f64[n]) -> (y: f64[n]) {"), 1);
        assert_eq!(open_brackets("load(\"a(.npy\")"), 0);
        assert_eq!(open_brackets("x + 1 # (unclosed in a comment"), 0);
        assert_eq!(open_brackets("f(a,\n  b"), 1);
        assert_eq!(open_brackets(")"), -1);
    }

    #[test]
    fn assignment_skips_comparisons_and_keywords() {
        assert_eq!(assignment("y = x == 1"), Some(2));
        assert_eq!(assignment("x <= 1"), None);
        assert_eq!(assignment("sum(x, axis=0)"), None);
        assert_eq!(assignment("a, b = f(x)"), Some(5));
    }

    #[test]
    fn calls() {
        let text = "  zscore(x * 2, w=100) # c";
        let c = call(text, 0..text.len()).unwrap();
        assert_eq!(&text[c.name], "zscore");
        let args: Vec<&str> = c.args.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(args, ["x * 2", "w=100"]);
        let (k, v) = keyword(text, c.args[1].clone()).unwrap();
        assert_eq!((&text[k], &text[v]), ("w", "100"));
        assert!(call("f(x) + g(y)", 0..11).is_none());
        assert!(call("x", 0..1).is_none());
        let text = "load(\"a,b.npy\")";
        let c = call(text, 0..text.len()).unwrap();
        assert_eq!(string(text, c.args[0].clone()), Some("a,b.npy"));
        let c = call("f()", 0..3).unwrap();
        assert!(c.args.is_empty());
    }
}
