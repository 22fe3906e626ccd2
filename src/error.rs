//! Errors: one value type for everything a user or a host can get wrong.
//!
//! An [`Error`] carries a kind, a one-line lowercase message, the byte span of
//! the source it is about (when there is one) and optional notes ("expected
//! one of ...", "did you mean ..."). Rendering with the source line and a
//! caret lives in [`crate::diagnostic`], separate from the value.

use std::fmt;

/// A half-open byte range `start..end` into the source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// What went wrong, coarsely; the message says precisely.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A character or literal the lexer cannot read.
    Lex,
    /// Tokens in an order the grammar does not accept.
    Parse,
    /// A configured limit (nesting depth, source length, ...) was exceeded.
    Limit,
    /// A name that is neither an input, a `let`, nor a constant.
    UnknownName,
    /// A call of a function the language does not have.
    UnknownFunction,
    /// Wrong number of arguments, or a keyword argument that is not accepted.
    Arity,
    /// An operation applied to a dtype it does not accept.
    Type,
    /// Shapes that do not broadcast, or a rank the language does not support.
    Shape,
    /// Something the language defines that this version does not compile yet.
    Unsupported,
    /// A host call that does not match the compiled signature: a missing or
    /// extra input, a wrong dtype, a buffer too short for its shape.
    Call,
    /// Reading or writing a file, or a file that is not what it claims.
    Io,
    /// A failure after checking: a bug in arrjit, never the user's fault.
    Internal,
}

/// An error with its source span.
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    span: Option<Span>,
    notes: Vec<String>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            span: None,
            notes: Vec::new(),
        }
    }

    /// An error about `span` of the source.
    pub fn at(kind: ErrorKind, span: Span, message: impl Into<String>) -> Error {
        Error::new(kind, message).with_span(span)
    }

    pub fn with_span(mut self, span: Span) -> Error {
        self.span = Some(span);
        self
    }

    /// Sets the span only if the error has none yet.
    pub fn or_span(mut self, span: Span) -> Error {
        if self.span.is_none() {
            self.span = Some(span);
        }
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Error {
        self.notes.push(note.into());
        self
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn span(&self) -> Option<Span> {
        self.span
    }

    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// True for errors caused by the caller's input (exit status 2 in the
    /// CLI), false for internal failures (exit status 1).
    pub fn is_user_error(&self) -> bool {
        self.kind != ErrorKind::Internal
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(span) = self.span {
            write!(f, " (at {span})")?;
        }
        for note in &self.notes {
            write!(f, "; {note}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The closest candidate to `name` by edit distance, for "did you mean".
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.len() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, c)| (d, c.len()))
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions,
/// substitutions and swaps of adjacent characters each cost 1 (so `lgo` is
/// one step from `log`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            d[i * w + j] = if i == 0 || j == 0 {
                i + j
            } else {
                let subst = d[(i - 1) * w + j - 1] + usize::from(a[i - 1] != b[j - 1]);
                let mut best = subst.min(d[(i - 1) * w + j] + 1).min(d[i * w + j - 1] + 1);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[(i - 2) * w + j - 2] + 1);
                }
                best
            };
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("sqr", ["sqrt", "square", "sin"]), Some("sqrt"));
        assert_eq!(did_you_mean("zzzz", ["sqrt", "square"]), None);
        assert_eq!(did_you_mean("lgo", ["log", "log2"]), Some("log"));
        assert_eq!(did_you_mean("f46", ["f32", "f64"]), Some("f64"));
    }
}
