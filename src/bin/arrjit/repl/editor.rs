//! The terminal side of the REPL: rustyline with a helper that keeps an
//! entry open while brackets are and completes names and commands.

use std::path::Path;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{CompletionType, Config, Context, Editor, Helper};

use super::emit;
use super::scan;
use super::session::{Session, BUILTINS, COMMANDS, SETTINGS};

struct ReplHelper {
    /// Variables and kernels of the session, refreshed before each entry.
    names: Vec<String>,
}

impl Helper for ReplHelper {}
impl Highlighter for ReplHelper {}
impl Hinter for ReplHelper {
    type Hint = String;
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if scan::open_brackets(ctx.input()) > 0 {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

impl Completer for ReplHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let start = word_start(before);
        let word = &before[start..];
        let head = before.trim_start();
        let candidates: Vec<String> = if word.starts_with(':') {
            complete_from(word, COMMANDS.iter().copied())
        } else if head.starts_with(":set") && head[..head.len() - word.len()].trim() == ":set" {
            complete_from(word, SETTINGS.iter().copied())
        } else if head.starts_with(":set mode") {
            complete_from(word, ["fused", "unfused", "interpret"])
        } else {
            let mut names: Vec<&str> = self.names.iter().map(String::as_str).collect();
            names.extend(BUILTINS);
            names.extend(arrjit::lower::function_names().map(|f| -> &str { f }));
            complete_from(word, names)
        };
        Ok((start, candidates))
    }
}

/// Where the word ending at the end of `before` starts (a name, or a
/// command with its `:`).
fn word_start(before: &str) -> usize {
    before
        .char_indices()
        .rev()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .map_or(0, |(k, c)| k + c.len_utf8())
}

fn complete_from<'a>(word: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    if word.is_empty() {
        return Vec::new();
    }
    let mut v: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with(word))
        .map(String::from)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Reads entries from the terminal until Ctrl-D or `:quit`. Ctrl-C
/// abandons the entry being typed.
pub fn interactive(session: &mut Session, history: Option<&Path>) -> anyhow::Result<()> {
    let config = Config::builder()
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .history_ignore_dups(true)?
        .max_history_size(10_000)?
        .build();
    let mut editor: Editor<ReplHelper, DefaultHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(ReplHelper { names: Vec::new() }));
    if let Some(path) = history {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        // A missing file is the first session; anything else is worth a word.
        if path.exists() {
            if let Err(e) = editor.load_history(path) {
                eprintln!("warning: cannot read history {}: {e}", path.display());
            }
        }
    }
    println!(
        "arrjit {} — :help for help, Ctrl-D to leave",
        env!("CARGO_PKG_VERSION")
    );
    loop {
        if let Some(helper) = editor.helper_mut() {
            helper.names = session.names();
        }
        match editor.readline(">>> ") {
            Ok(entry) => {
                if !entry.trim().is_empty() {
                    let _ = editor.add_history_entry(entry.as_str());
                    // Appended entry by entry, so a killed session keeps it.
                    if let Some(path) = history {
                        if let Err(e) = editor.append_history(path) {
                            eprintln!("warning: cannot write history {}: {e}", path.display());
                        }
                    }
                }
                emit(session.execute(&entry));
                if session.quit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_start_after_any_other_character() {
        assert_eq!(word_start("y = ew"), 4);
        assert_eq!(word_start(":ti"), 0);
        assert_eq!(word_start("é·ab"), "é·".len());
        assert_eq!(word_start(""), 0);
    }

    #[test]
    fn completion_candidates() {
        let names = ["ewma", "ewm_mean", "exp", "x"];
        assert_eq!(complete_from("ew", names), ["ewm_mean", "ewma"]);
        assert!(complete_from("", names).is_empty());
    }
}
