//! `arrjit`: the command-line front door, thin over the library.
//!
//! ```text
//! arrjit eval EXPR [NAME=VALUE ...] [-o PATH] [--threads N]
//! arrjit eval -f FILE [-k KERNEL] [NAME=VALUE ...] [-o OUT=PATH ...]
//! arrjit bench [EXPR ...] [--n N] [--quick] [--json PATH]
//! arrjit repl [--seed N] [--history PATH | --no-history]
//! arrjit explain EXPR [NAME=VALUE | NAME:TYPE ...] [--ast --ir --plan --clif --asm]
//! arrjit explain -f FILE [-k KERNEL] [NAME=VALUE | NAME:TYPE ...] [--ast ...]
//! ```
//!
//! Exit status: 0 on success, 2 for an error in the user's input (source,
//! values, files), 1 for an internal error (a bug in arrjit). Errors in source
//! text are rendered with the source line and a caret; errors about a value
//! or a file are one line naming it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod bench;
mod explain;
mod repl;

use arrjit::npy::{self, NpyArray};
use arrjit::{diagnostic, display, Arg, Config, Engine, Error, ErrorKind, Mode, Scalar};

#[derive(Parser)]
#[command(
    name = "arrjit",
    version,
    about = "A JIT compiler for array expressions",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate an expression, or call a kernel from a source file.
    #[command(
        override_usage = "arrjit eval EXPR [NAME=VALUE ...] [-o PATH]\n       \
                      arrjit eval -f FILE [-k KERNEL] [NAME=VALUE ...] [-o OUT=PATH ...]"
    )]
    Eval(EvalArgs),
    /// Measure workloads: fused, unfused, interpreted and hand-written Rust.
    Bench(bench::BenchArgs),
    /// An interactive session: variables, kernels, :explain, :time.
    Repl(repl::ReplArgs),
    /// Show what the compiler makes of an expression or kernel: syntax
    /// tree, typed IR, fusion plan, Cranelift IR, machine code.
    #[command(
        override_usage = "arrjit explain EXPR [NAME=VALUE | NAME:TYPE ...] [--ast --ir --plan --clif --asm]\n       \
                      arrjit explain -f FILE [-k KERNEL] [NAME=VALUE | NAME:TYPE ...] [--ast ...]"
    )]
    Explain(explain::ExplainArgs),
}

#[derive(Args)]
struct EvalArgs {
    /// The expression; with -f, the first input.
    #[arg(value_name = "EXPR", allow_hyphen_values = true)]
    expr: Option<String>,

    /// Inputs as NAME=VALUE. A VALUE is a .npy file, a number (`3` is an
    /// i64; `2.5`, `1e-3`, `nan`, `inf` are f64) or `true`/`false`.
    #[arg(value_name = "NAME=VALUE")]
    bindings: Vec<String>,

    /// Read kernels from FILE (kernel mode).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,

    /// The kernel of FILE to call (needed when FILE has several).
    #[arg(short = 'k', long = "kernel", value_name = "KERNEL", requires = "file")]
    kernel: Option<String>,

    /// Write the result to PATH as .npy instead of printing it; with -f,
    /// OUT=PATH writes output OUT (repeatable).
    #[arg(short = 'o', long = "output", value_name = "PATH | OUT=PATH")]
    outputs: Vec<String>,

    /// Compile one loop per operation (no fusion).
    #[arg(long, conflicts_with = "interpret")]
    unfused: bool,

    /// Evaluate with the reference interpreter (no code generation).
    #[arg(long)]
    interpret: bool,

    /// Threads a large call is split over (default: ARRJIT_NUM_THREADS,
    /// else every core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// A failed command: what to print on stderr and the exit status.
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    /// An error about the source text `source` (named `name`), rendered with
    /// its line and caret.
    fn in_source(error: &Error, name: &str, source: &str) -> Failure {
        let color = diagnostic::color_enabled(std::io::stderr().is_terminal());
        Failure {
            message: diagnostic::render(error, name, source, color),
            code: exit_code(error),
        }
    }

    /// An error with no source to show (a value, a file, a usage mistake).
    fn plain(error: &Error) -> Failure {
        Failure::in_source(error, "", "")
    }

    fn usage(message: impl Into<String>) -> Failure {
        Failure::plain(&Error::new(ErrorKind::Call, message))
    }
}

fn exit_code(error: &Error) -> u8 {
    if error.is_user_error() {
        2
    } else {
        1
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A panic is a bug in arrjit, never the user's fault: report it as an
    // internal error (status 1) rather than aborting with 101.
    let outcome = std::panic::catch_unwind(move || match cli.command {
        Command::Eval(args) => eval(args),
        Command::Bench(args) => bench::run(args).map_err(|e| Failure::plain(&e)),
        Command::Repl(args) => match repl::run(args) {
            Ok(true) => Ok(()),
            // The errors were shown as they happened.
            Ok(false) => Err(Failure {
                message: String::new(),
                code: 2,
            }),
            Err(e) => Err(Failure {
                message: format!("error: {e}"),
                code: 1,
            }),
        },
        Command::Explain(args) => explain::run(args),
    });
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(failure)) => {
            eprint!("{}", failure.message);
            if !failure.message.is_empty() && !failure.message.ends_with('\n') {
                eprintln!();
            }
            ExitCode::from(failure.code)
        }
        Err(_) => {
            eprintln!("error: internal error: arrjit panicked (this is a bug in arrjit)");
            ExitCode::from(1)
        }
    }
}

fn engine_for(args: &EvalArgs) -> Engine {
    let mode = if args.interpret {
        Mode::Interpret
    } else if args.unfused {
        Mode::Unfused
    } else {
        Mode::Fused
    };
    Engine::with_config(Config {
        mode,
        threads: args.threads.unwrap_or(0),
        ..Config::default()
    })
}

fn eval(args: EvalArgs) -> Result<(), Failure> {
    let engine = engine_for(&args);
    // One leading positional is the expression, except with -f, where every
    // positional is an input (clap cannot tell them apart by position alone,
    // and only the expression may start with `-`).
    match (&args.file, &args.expr) {
        (None, None) => Err(Failure::usage(
            "missing EXPR: usage is `arrjit eval EXPR [NAME=VALUE ...]` \
             or `arrjit eval -f FILE [NAME=VALUE ...]`",
        )),
        (None, Some(expr)) => eval_expr(&engine, expr, &args.bindings, &args.outputs),
        (Some(file), first) => {
            let bindings: Vec<String> = first.iter().chain(&args.bindings).cloned().collect();
            call_kernel(
                &engine,
                file,
                args.kernel.as_deref(),
                &bindings,
                &args.outputs,
            )
        }
    }
}

fn eval_expr(
    engine: &Engine,
    src: &str,
    bindings: &[String],
    outputs: &[String],
) -> Result<(), Failure> {
    let out_path = match outputs {
        [] => None,
        [path] => Some(Path::new(path)),
        _ => {
            return Err(Failure::usage(format!(
                "-o given {} times, but an expression has one result",
                outputs.len()
            )))
        }
    };
    let source_name = "<expr>";
    let expr = engine
        .compile(src)
        .map_err(|e| Failure::in_source(&e, source_name, src))?;
    let values = parse_bindings(bindings)?;
    let args = as_args(&values)?;
    let result = expr
        .eval(&args)
        .map_err(|e| Failure::in_source(&e, source_name, src))?;
    match out_path {
        Some(path) => npy::write_npy(path, &result).map_err(|e| Failure::plain(&e)),
        None => {
            println!("{}", display::format_array(&result));
            Ok(())
        }
    }
}

fn call_kernel(
    engine: &Engine,
    file: &Path,
    kernel: Option<&str>,
    bindings: &[String],
    outputs: &[String],
) -> Result<(), Failure> {
    let name = file.display().to_string();
    let src = std::fs::read(file).map_err(|e| {
        Failure::plain(&Error::new(
            ErrorKind::Io,
            format!("{name}: {}", io_reason(&e)),
        ))
    })?;
    let src = String::from_utf8(src).map_err(|_| {
        Failure::plain(&Error::new(
            ErrorKind::Io,
            format!("{name}: not UTF-8 text"),
        ))
    })?;
    let module = engine
        .compile_module(&src)
        .map_err(|e| Failure::in_source(&e, &name, &src))?;
    let names = module.kernel_names();
    let kernel_name = match (kernel, names.as_slice()) {
        (Some(k), _) => k.to_string(),
        (None, [only]) => only.to_string(),
        (None, []) => {
            return Err(Failure::usage(format!(
                "{name}: the file defines no kernel"
            )))
        }
        (None, many) => {
            return Err(Failure::usage(format!(
                "{name} defines {} kernels; choose one with -k: {}",
                many.len(),
                many.join(", ")
            )))
        }
    };
    let kernel = module
        .kernel(&kernel_name)
        .map_err(|e| Failure::in_source(&e, &name, &src))?;
    let output_names: Vec<String> = kernel.outputs().iter().map(|s| s.to_string()).collect();
    let mut destinations: Vec<(String, PathBuf)> = Vec::new();
    for spec in outputs {
        let Some((out, path)) = spec.split_once('=') else {
            return Err(Failure::usage(format!(
                "-o {spec}: with -f, write outputs as -o OUT=PATH (outputs: {})",
                output_names.join(", ")
            )));
        };
        if !output_names.iter().any(|o| o == out) {
            return Err(Failure::usage(format!(
                "-o {spec}: kernel `{kernel_name}` has no output `{out}` (outputs: {})",
                output_names.join(", ")
            )));
        }
        if destinations.iter().any(|(o, _)| o == out) {
            return Err(Failure::usage(format!(
                "-o {spec}: output `{out}` is written twice"
            )));
        }
        destinations.push((out.to_string(), PathBuf::from(path)));
    }
    let values = parse_bindings(bindings)?;
    let args = as_args(&values)?;
    let results = kernel
        .call(&args)
        .map_err(|e| Failure::in_source(&e, &name, &src))?;
    for (out, array) in &results {
        match destinations.iter().find(|(o, _)| o == out) {
            Some((_, path)) => npy::write_npy(path, array).map_err(|e| Failure::plain(&e))?,
            None => println!("{out} = {}", display::format_array(array)),
        }
    }
    Ok(())
}

/// The value of one NAME=VALUE binding.
enum Value {
    Scalar(Scalar),
    Array(NpyArray),
}

fn parse_bindings(bindings: &[String]) -> Result<Vec<(String, Value)>, Failure> {
    let mut values: Vec<(String, Value)> = Vec::new();
    for binding in bindings {
        let Some((name, value)) = binding.split_once('=') else {
            return Err(Failure::usage(format!(
                "`{binding}`: inputs are given as NAME=VALUE"
            )));
        };
        let valid_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(Failure::usage(format!(
                "`{binding}`: `{name}` is not a valid input name"
            )));
        }
        if values.iter().any(|(n, _)| n == name) {
            return Err(Failure::usage(format!("input `{name}` is given twice")));
        }
        let value = parse_value(value).map_err(|e| {
            Failure::plain(&Error::new(
                e.kind(),
                format!("{name}={value}: {}", e.message()),
            ))
        })?;
        values.push((name.to_string(), value));
    }
    Ok(values)
}

/// A number, `true`/`false`, or else the path of a `.npy` file.
fn parse_value(text: &str) -> arrjit::Result<Value> {
    match text {
        "true" => return Ok(Value::Scalar(Scalar::Bool(true))),
        "false" => return Ok(Value::Scalar(Scalar::Bool(false))),
        _ => {}
    }
    if let Ok(v) = text.parse::<i64>() {
        return Ok(Value::Scalar(Scalar::I64(v)));
    }
    if looks_numeric(text) {
        if let Ok(v) = text.parse::<f64>() {
            return Ok(Value::Scalar(Scalar::F64(v)));
        }
    }
    // The file name is already in the binding the caller shows.
    npy::read_npy(Path::new(text))
        .map(Value::Array)
        .map_err(|e| {
            let message = e.message();
            let reason = message
                .strip_prefix(text)
                .and_then(|r| r.strip_prefix(": "))
                .unwrap_or(message);
            Error::new(e.kind(), reason)
        })
}

/// Numbers as the language writes them (`2.5`, `.5`, `1e-3`, `-inf`,
/// `nan`), so that a file called `infinity` or `1_0` is still a file.
fn looks_numeric(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    matches!(body, "inf" | "nan")
        || (!body.is_empty()
            && body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
            && body
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+')))
}

fn as_args(values: &[(String, Value)]) -> Result<Vec<(&str, Arg<'_>)>, Failure> {
    values
        .iter()
        .map(|(name, value)| {
            let arg = match value {
                Value::Scalar(s) => Arg::Scalar(*s),
                Value::Array(a) => Arg::Array(a.view().map_err(|e| {
                    Failure::plain(&Error::new(e.kind(), format!("{name}: {}", e.message())))
                })?),
            };
            Ok((name.as_str(), arg))
        })
        .collect()
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}
