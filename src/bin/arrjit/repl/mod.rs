//! `arrjit repl`: an interactive session.
//!
//! On a terminal it runs a rustyline editor (history kept in a file,
//! multi-line entry while brackets are open, completion of names); with
//! stdin from a pipe or file it reads entries line by line and prints only
//! results, so sessions can be scripted and tested. Both feed the same
//! [`session::Session`], which knows nothing about terminals.

mod editor;
mod gen;
mod scan;
mod session;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use arrjit::diagnostic;

use session::Session;

#[derive(Args)]
pub struct ReplArgs {
    /// Seed of the random generators (`rand`, `randn`).
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// The history file [default: $ARRJIT_HISTORY, else
    /// $XDG_STATE_HOME/arrjit/history, else ~/.arrjit_history].
    #[arg(long, value_name = "PATH")]
    history: Option<PathBuf>,

    /// Keep no history file.
    #[arg(long, conflicts_with = "history")]
    no_history: bool,
}

/// Runs the session; `Ok(true)` if every entry succeeded.
pub fn run(args: ReplArgs) -> anyhow::Result<bool> {
    let color = diagnostic::color_enabled(std::io::stderr().is_terminal());
    let mut session = Session::new(args.seed, color);
    if std::io::stdin().is_terminal() {
        let history = if args.no_history {
            None
        } else {
            args.history.or_else(default_history)
        };
        editor::interactive(&mut session, history.as_deref())?;
        Ok(true)
    } else {
        scripted(&mut session)
    }
}

/// Entries from stdin, one a line (more while brackets are open), results
/// on stdout, errors on stderr; the session goes on after an error.
fn scripted(session: &mut Session) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    let mut ok = true;
    let mut entry = String::new();
    let mut lines = stdin.lock().lines();
    loop {
        let line = lines.next().transpose()?;
        let end = line.is_none();
        if let Some(line) = line {
            if !entry.is_empty() {
                entry.push('\n');
            }
            entry.push_str(&line);
            if scan::open_brackets(&entry) > 0 {
                continue;
            }
        }
        if !entry.trim().is_empty() {
            ok &= emit(session.execute(&entry));
        }
        entry.clear();
        if end || session.quit {
            return Ok(ok);
        }
    }
}

/// Prints an entry's result or error; whether it succeeded.
fn emit(result: Result<String, String>) -> bool {
    match result {
        Ok(text) => {
            if !text.is_empty() {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
            true
        }
        Err(text) => {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{text}");
            if !text.ends_with('\n') {
                let _ = writeln!(err);
            }
            false
        }
    }
}

fn default_history() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ARRJIT_HISTORY") {
        return Some(PathBuf::from(p));
    }
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return Some(PathBuf::from(state).join("arrjit").join("history"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".arrjit_history"))
}
