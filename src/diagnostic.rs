//! Rendering an [`Error`] for a person: the message, the source line with a
//! caret under the span, and the notes.
//!
//! Every front door (the CLI, the REPL, a host that wants pretty errors)
//! renders through [`render`], so they all look alike. The error value knows
//! nothing about rendering; this module knows nothing about where errors come
//! from. Rendering never fails and never panics: a span outside the source
//! (from a caller that passed the wrong source) is clamped to it.

use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::files::{self, Files, SimpleFile};
use codespan_reporting::term::{self, termcolor, Chars, Config};

use crate::error::Error;

/// Renders `error` against the `source` it was produced from.
///
/// `source_name` is shown in the location line (`--> name:1:5`). With
/// `color`, the output carries ANSI escapes.
pub fn render(error: &Error, source_name: &str, source: &str, color: bool) -> String {
    let mut diagnostic = Diagnostic::error()
        .with_message(error.message())
        .with_notes(error.notes().iter().map(|n| note_text(n)).collect());
    let config = Config {
        chars: Chars::ascii(),
        ..Config::default()
    };
    let rendered = match error.span() {
        None => emit(
            &SimpleFile::new(source_name, source),
            &config,
            &diagnostic,
            color,
        ),
        Some(span) => {
            let range = clamp(span.start..span.end, source);
            match Excerpt::around(source_name, source, range.clone()) {
                Some((excerpt, range)) => {
                    diagnostic = diagnostic.with_labels(vec![Label::primary((), range)]);
                    emit(&excerpt, &config, &diagnostic, color)
                }
                None => {
                    diagnostic = diagnostic.with_labels(vec![Label::primary((), range)]);
                    emit(
                        &SimpleFile::new(source_name, source),
                        &config,
                        &diagnostic,
                        color,
                    )
                }
            }
        }
    };
    rendered.unwrap_or_else(|| plain(error))
}

fn emit<'f, F: Files<'f, FileId = ()>>(
    file: &'f F,
    config: &Config,
    diagnostic: &Diagnostic<()>,
    color: bool,
) -> Option<String> {
    if color {
        let mut buffer = termcolor::Buffer::ansi();
        let styles = term::Styles::default();
        let mut writer = term::StylesWriter::new(&mut buffer, &styles);
        term::emit_to_write_style(&mut writer, config, file, diagnostic).ok()?;
        String::from_utf8(buffer.into_inner()).ok()
    } else {
        term::emit_into_string(config, file, diagnostic).ok()
    }
}

/// Lines longer than this are shown as an excerpt around the span.
const MAX_LINE: usize = 120;
/// Context kept on each side of the span in an excerpt, in bytes.
const CONTEXT: usize = 40;

/// A window of one long source line (`...` at the cut ends), reporting the
/// real line and column numbers, so that a 200 KB one-line expression is
/// not copied to the terminal.
struct Excerpt<'a> {
    name: &'a str,
    text: String,
    line_number: usize,
    /// Real (1-based) column of the first byte after the leading `...`.
    first_column: usize,
    prefix_len: usize,
}

impl<'a> Excerpt<'a> {
    /// `None` if the span's line is short enough to show whole; else the
    /// excerpt and the span's range within it.
    fn around(
        name: &'a str,
        source: &str,
        range: Range<usize>,
    ) -> Option<(Excerpt<'a>, Range<usize>)> {
        let line_start = source[..range.start].rfind('\n').map_or(0, |k| k + 1);
        let line_end = source[range.start..]
            .find('\n')
            .map_or(source.len(), |k| range.start + k);
        if line_end - line_start <= MAX_LINE {
            return None;
        }
        // The label stays on the first line of a multi-line span, and at
        // most MAX_LINE long.
        let end = range.end.min(line_end).min(range.start + MAX_LINE);
        let mut from = range.start.saturating_sub(CONTEXT).max(line_start);
        let mut to = (end + CONTEXT).min(line_end);
        while !source.is_char_boundary(from) {
            from -= 1;
        }
        while !source.is_char_boundary(to) {
            to += 1;
        }
        let end = clamp(range.start..end, source).end;
        let prefix = if from > line_start { "..." } else { "" };
        let suffix = if to < line_end { "..." } else { "" };
        let text = format!("{prefix}{}{suffix}", &source[from..to]);
        let excerpt = Excerpt {
            name,
            text,
            line_number: source[..line_start].matches('\n').count() + 1,
            first_column: source[line_start..from].chars().count() + 1,
            prefix_len: prefix.len(),
        };
        let shift = |k: usize| k - from + prefix.len();
        Some((excerpt, shift(range.start)..shift(end)))
    }
}

impl<'a> Files<'a> for Excerpt<'a> {
    type FileId = ();
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, (): ()) -> Result<&'a str, files::Error> {
        Ok(self.name)
    }

    fn source(&'a self, (): ()) -> Result<&'a str, files::Error> {
        Ok(&self.text)
    }

    fn line_index(&'a self, (): (), _byte_index: usize) -> Result<usize, files::Error> {
        Ok(0)
    }

    fn line_number(&'a self, (): (), _line_index: usize) -> Result<usize, files::Error> {
        Ok(self.line_number)
    }

    fn column_number(
        &'a self,
        (): (),
        _line_index: usize,
        byte_index: usize,
    ) -> Result<usize, files::Error> {
        let k = byte_index.clamp(self.prefix_len, self.text.len());
        let chars = self
            .text
            .get(self.prefix_len..k)
            .map_or(0, |s| s.chars().count());
        Ok(self.first_column + chars)
    }

    fn line_range(&'a self, (): (), line_index: usize) -> Result<Range<usize>, files::Error> {
        if line_index == 0 {
            Ok(0..self.text.len())
        } else {
            Err(files::Error::LineTooLarge {
                given: line_index,
                max: 0,
            })
        }
    }
}

/// The message and notes without source, for when rendering fails.
fn plain(error: &Error) -> String {
    let mut out = format!("error: {}\n", error.message());
    for note in error.notes() {
        out.push_str(&format!("  = {}\n", note_text(note)));
    }
    out
}

/// A note as shown after `= `: suggestions are `help:`, the rest `note:`.
fn note_text(note: &str) -> String {
    if note.starts_with("note:") || note.starts_with("help:") {
        note.to_string()
    } else if note.starts_with("did you mean") || note.starts_with("try ") {
        format!("help: {note}")
    } else {
        format!("note: {note}")
    }
}

/// `range` clamped into `source` and widened to char boundaries.
fn clamp(range: Range<usize>, source: &str) -> Range<usize> {
    let len = source.len();
    let mut start = range.start.min(len);
    let mut end = range.end.min(len).max(start);
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    while !source.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

/// Whether to color output to a stream: never if `NO_COLOR` is set (to any
/// value, <https://no-color.org>), always if `CLICOLOR_FORCE` is set to
/// something other than `0`, else only on a terminal.
pub fn color_enabled(stream_is_tty: bool) -> bool {
    color_from(
        std::env::var_os("NO_COLOR").is_some(),
        std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0"),
        stream_is_tty,
    )
}

fn color_from(no_color: bool, force: bool, tty: bool) -> bool {
    !no_color && (force || tty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, Span};
    use expect_test::expect;

    fn plain(error: &Error, source: &str) -> String {
        render(error, "<expr>", source, false)
    }

    #[test]
    fn unknown_name_with_help() {
        let e = Error::at(
            ErrorKind::UnknownName,
            Span::new(4, 7),
            "unknown name `bee`",
        )
        .with_note("did you mean `b`?");
        expect![[r#"
            error: unknown name `bee`
              --> <expr>:1:5
              |
            1 | a + bee * 2
              |     ^^^
              |
              = help: did you mean `b`?

        "#]]
        .assert_eq(&plain(&e, "a + bee * 2"));
    }

    #[test]
    fn end_of_input_and_notes() {
        let src = "kernel k(x: f64[n]) -> (y: f64[n]) {\n    y = x *\n";
        let e = Error::at(
            ErrorKind::Parse,
            Span::new(src.len(), src.len()),
            "unexpected end of input",
        )
        .with_note("expected one of `(`, a name, a number");
        expect![[r#"
            error: unexpected end of input
              --> k.arr:3:1
              |
            3 | 
              | ^
              |
              = note: expected one of `(`, a name, a number

        "#]]
        .assert_eq(&render(&e, "k.arr", src, false));
    }

    #[test]
    fn without_span() {
        let e = Error::new(ErrorKind::Call, "missing input `c`").with_note("inputs are a, b, c");
        expect![[r#"
            error: missing input `c`
             = note: inputs are a, b, c

        "#]]
        .assert_eq(&plain(&e, "a + b + c"));
    }

    #[test]
    fn long_lines_are_excerpted() {
        let src = format!("y = {}\n", "a+".repeat(200) + "$");
        let at = src.find('$').unwrap();
        let e = Error::at(
            ErrorKind::Lex,
            Span::new(at, at + 1),
            "unexpected character `$`",
        );
        expect![[r#"
            error: unexpected character `$`
              --> long.arr:1:405
              |
            1 | ...a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+$
              |                                            ^

        "#]]
        .assert_eq(&render(&e, "long.arr", &src, false));
    }

    #[test]
    fn any_span_renders() {
        let long = format!("é{}\n{}", "ü+".repeat(100), "b".repeat(300));
        let sources = ["", "x", "é + ü", "a\nb\n", "\n\n", "日本", &long];
        for src in sources {
            let step = if src.len() > 100 { 7 } else { 1 };
            for start in (0..src.len() + 3).step_by(step) {
                for end in (0..src.len() + 3).step_by(step) {
                    let e = Error::at(ErrorKind::Parse, Span::new(start, end), "boom");
                    let out = render(&e, "s", src, false);
                    assert!(out.starts_with("error: boom"), "{out}");
                    let out = render(&e, "s", src, true);
                    assert!(out.contains("boom"));
                }
            }
        }
    }

    #[test]
    fn color_rules() {
        assert!(!color_from(true, true, true));
        assert!(color_from(false, true, false));
        assert!(color_from(false, false, true));
        assert!(!color_from(false, false, false));
    }

    #[test]
    fn color_has_escapes() {
        let e = Error::at(ErrorKind::Parse, Span::new(0, 1), "boom");
        assert!(render(&e, "s", "x", true).contains("\x1b["));
        assert!(!render(&e, "s", "x", false).contains('\x1b'));
    }
}
