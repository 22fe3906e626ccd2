//! The lexer: source text to `(start, Token, end)` triples, as the lalrpop
//! parser in [`crate::parse`] consumes them.
//!
//! Design notes:
//!
//! - The token enum is derived with `logos` (one DFA, no backtracking, linear
//!   time). Keywords (`and or not kernel let true false nan inf pi e`) are
//!   exact tokens and win over the identifier pattern at equal length, so
//!   `and` is a keyword and `andy` an identifier. Dtype names (`f64`, `i32`,
//!   `bool`, ...) are ordinary identifiers: a cast is a call and a type
//!   annotation is checked by the parser.
//! - Whitespace, including newlines, and `#` comments to the end of the line
//!   are skipped. Statements in a kernel body need no separator: every
//!   statement starts with `let` or an identifier followed by `=` or `[`, and
//!   the grammar has no juxtaposition (an expression is never directly
//!   followed by an identifier or `let`), so the end of one statement is
//!   always determined by the next token. A consequence is that an expression
//!   may continue on the next line (`z = a\n  + b` is one statement, as is
//!   `z = f\n(x)`, a call): no statement can start with an operator or a
//!   bracket, so this never changes the meaning of a valid program. A `;`
//!   after a statement is accepted as an optional separator.
//! - Integer literals are decimal and may use `_` separators (`1_000_000`);
//!   one that does not fit in `i64` is a lex error. A literal is never
//!   negative: `-3` is unary minus applied to `3`.
//! - Float literals: `1.5`, `2.`, `.5`, `1e-3`, `1_000.5`, `1.5e+10`. An
//!   exponent too large gives an infinity, as in Python and Rust.
//! - Errors carry the byte span of the offending character or literal.

use std::fmt;

use logos::Logos;

use crate::error::{Error, ErrorKind, Span};

/// What went wrong inside logos (converted to [`Error`] in [`lex`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum LexError {
    /// No token matches at this position.
    #[default]
    Unexpected,
    /// An integer literal that does not fit in `i64`.
    IntOutOfRange,
    /// A float literal Rust's parser rejects (should not happen).
    BadFloat,
}

fn parse_int(lex: &mut logos::Lexer<Token>) -> Result<i64, LexError> {
    let mut value: i64 = 0;
    for b in lex.slice().bytes() {
        if b == b'_' {
            continue;
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or(LexError::IntOutOfRange)?;
    }
    Ok(value)
}

fn parse_float(lex: &mut logos::Lexer<Token>) -> Result<f64, LexError> {
    let text: String = lex.slice().chars().filter(|&c| c != '_').collect();
    text.parse::<f64>().map_err(|_| LexError::BadFloat)
}

/// A token of the language.
#[derive(Logos, Clone, Debug, PartialEq)]
#[logos(error = LexError)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"#[^\n]*", allow_greedy = true))]
pub enum Token {
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice().to_owned())]
    Ident(String),
    #[regex(r"[0-9][0-9_]*", parse_int)]
    Int(i64),
    #[regex(r"[0-9][0-9_]*\.[0-9_]*([eE][+-]?[0-9][0-9_]*)?", parse_float)]
    #[regex(r"\.[0-9][0-9_]*([eE][+-]?[0-9][0-9_]*)?", parse_float)]
    #[regex(r"[0-9][0-9_]*[eE][+-]?[0-9][0-9_]*", parse_float)]
    Float(f64),

    // Keywords.
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("nan")]
    Nan,
    #[token("inf")]
    Inf,
    #[token("pi")]
    Pi,
    #[token("e", priority = 3)]
    E,
    #[token("and")]
    And,
    #[token("or")]
    Or,
    #[token("not")]
    Not,
    #[token("kernel")]
    Kernel,
    #[token("let")]
    Let,

    // Operators.
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("//")]
    SlashSlash,
    #[token("%")]
    Percent,
    #[token("**")]
    StarStar,
    #[token("&")]
    Amp,
    #[token("|")]
    Pipe,
    #[token("^")]
    Caret,
    #[token("~")]
    Tilde,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("==")]
    EqEq,
    #[token("!=")]
    Ne,
    #[token("=")]
    Assign,
    #[token("->")]
    Arrow,

    // Punctuation.
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token(";")]
    Semi,
}

impl Token {
    /// The fixed spelling of a token, `None` for identifiers and literals.
    pub fn symbol(&self) -> Option<&'static str> {
        Some(match self {
            Token::Ident(_) | Token::Int(_) | Token::Float(_) => return None,
            Token::True => "true",
            Token::False => "false",
            Token::Nan => "nan",
            Token::Inf => "inf",
            Token::Pi => "pi",
            Token::E => "e",
            Token::And => "and",
            Token::Or => "or",
            Token::Not => "not",
            Token::Kernel => "kernel",
            Token::Let => "let",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Star => "*",
            Token::Slash => "/",
            Token::SlashSlash => "//",
            Token::Percent => "%",
            Token::StarStar => "**",
            Token::Amp => "&",
            Token::Pipe => "|",
            Token::Caret => "^",
            Token::Tilde => "~",
            Token::Lt => "<",
            Token::Le => "<=",
            Token::Gt => ">",
            Token::Ge => ">=",
            Token::EqEq => "==",
            Token::Ne => "!=",
            Token::Assign => "=",
            Token::Arrow => "->",
            Token::LParen => "(",
            Token::RParen => ")",
            Token::LBracket => "[",
            Token::RBracket => "]",
            Token::LBrace => "{",
            Token::RBrace => "}",
            Token::Comma => ",",
            Token::Colon => ":",
            Token::Semi => ";",
        })
    }

    /// True for `<`, `<=`, `>`, `>=`, `==`, `!=`.
    pub fn is_comparison(&self) -> bool {
        matches!(
            self,
            Token::Lt | Token::Le | Token::Gt | Token::Ge | Token::EqEq | Token::Ne
        )
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(name) => f.write_str(name),
            Token::Int(v) => write!(f, "{v}"),
            Token::Float(v) => write!(f, "{v:?}"),
            other => f.write_str(other.symbol().unwrap_or("?")),
        }
    }
}

/// The triple lalrpop consumes: start byte, token, end byte.
pub type Spanned = (usize, Token, usize);

/// Lexes `src` lazily. Errors are [`ErrorKind::Lex`] with the span of the
/// offending character or literal; the caller should stop at the first one.
pub fn lex(src: &str) -> impl Iterator<Item = Result<Spanned, Error>> + '_ {
    Token::lexer(src)
        .spanned()
        .map(move |(tok, range)| match tok {
            Ok(tok) => Ok((range.start, tok, range.end)),
            Err(err) => Err(lex_error(src, err, range)),
        })
}

fn lex_error(src: &str, err: LexError, range: std::ops::Range<usize>) -> Error {
    match err {
        LexError::Unexpected => {
            // Point at exactly one character, whatever logos consumed.
            let ch = src[range.start..].chars().next().unwrap_or('\0');
            let span = Span::new(range.start, range.start + ch.len_utf8());
            let shown = if ch.is_control() || ch.is_whitespace() {
                format!("{}", ch.escape_default())
            } else {
                ch.to_string()
            };
            Error::at(
                ErrorKind::Lex,
                span,
                format!("unexpected character `{shown}`"),
            )
        }
        LexError::IntOutOfRange => Error::at(
            ErrorKind::Lex,
            Span::new(range.start, range.end),
            "integer literal out of range",
        )
        .with_note(format!("the largest integer literal is {}", i64::MAX)),
        LexError::BadFloat => Error::at(
            ErrorKind::Lex,
            Span::new(range.start, range.end),
            "malformed float literal",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Token> {
        lex(src).map(|t| t.unwrap().1).collect()
    }

    #[test]
    fn numbers() {
        assert_eq!(
            toks("3 1_000_000 1.5 1e-3 .5 2. 1_000.5 1.5E+2 7e2"),
            vec![
                Token::Int(3),
                Token::Int(1_000_000),
                Token::Float(1.5),
                Token::Float(1e-3),
                Token::Float(0.5),
                Token::Float(2.0),
                Token::Float(1000.5),
                Token::Float(150.0),
                Token::Float(700.0),
            ]
        );
        assert_eq!(toks("9223372036854775807"), vec![Token::Int(i64::MAX)]);
    }

    #[test]
    fn int_overflow() {
        let err = lex("1 + 9223372036854775808")
            .find_map(|t| t.err())
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::Lex);
        assert_eq!(err.message(), "integer literal out of range");
        assert_eq!(err.span(), Some(Span::new(4, 23)));
    }

    #[test]
    fn keywords_operators_and_comments() {
        assert_eq!(
            toks("and andy or not kernel let e e1 true # comment ** here\n pi nan inf false"),
            vec![
                Token::And,
                Token::Ident("andy".into()),
                Token::Or,
                Token::Not,
                Token::Kernel,
                Token::Let,
                Token::E,
                Token::Ident("e1".into()),
                Token::True,
                Token::Pi,
                Token::Nan,
                Token::Inf,
                Token::False,
            ]
        );
        let ops = "+ - * / // % ** & | ^ ~ < <= > >= == != = -> ( ) [ ] { } , : ;";
        let lexed = toks(ops);
        let shown: Vec<String> = lexed.iter().map(|t| t.to_string()).collect();
        assert_eq!(shown.join(" "), ops);
        assert_eq!(toks("a**-b//c"), {
            use Token::*;
            vec![
                Ident("a".into()),
                StarStar,
                Minus,
                Ident("b".into()),
                SlashSlash,
                Ident("c".into()),
            ]
        });
    }

    #[test]
    fn spans() {
        let triples: Vec<(usize, usize)> = lex("ab +\n  1.5 # c\nx")
            .map(|t| {
                let (s, _, e) = t.unwrap();
                (s, e)
            })
            .collect();
        assert_eq!(triples, vec![(0, 2), (3, 4), (7, 10), (15, 16)]);
    }

    #[test]
    fn bad_characters() {
        let err = lex("a + $b").find_map(|t| t.err()).unwrap();
        assert_eq!(err.kind(), ErrorKind::Lex);
        assert_eq!(err.message(), "unexpected character `$`");
        assert_eq!(err.span(), Some(Span::new(4, 5)));

        let err = lex("x é").find_map(|t| t.err()).unwrap();
        assert_eq!(err.message(), "unexpected character `é`");
        assert_eq!(err.span(), Some(Span::new(2, 4)));

        let err = lex("a ! b").find_map(|t| t.err()).unwrap();
        assert_eq!(err.message(), "unexpected character `!`");
        assert_eq!(err.span(), Some(Span::new(2, 3)));
    }
}
