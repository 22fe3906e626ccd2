//! One REPL session: its variables, kernels, settings and engine, and what
//! each entry does. Knows nothing of terminals: [`Session::execute`] takes
//! the text of one entry and returns what to print, or the rendered error.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrjit::codegen::OptLevel;
use arrjit::engine::Compiled;
use arrjit::explain::{self, Section};
use arrjit::lower::{self, InputType};
use arrjit::npy::{self, NpyArray};
use arrjit::{
    ast, diagnostic, display, parse, Arg, Array, Config, DType, Engine, Error, ErrorKind, Mode,
    Scalar, Shape, Span,
};

use super::gen::{self, Rng};
use super::scan;

/// Names the REPL gives meaning to besides the language's functions.
pub const BUILTINS: [&str; 8] = [
    "rand", "randn", "arange", "linspace", "zeros", "ones", "load", "save",
];

/// The commands, for `:help` and completion.
pub const COMMANDS: [&str; 10] = [
    ":help", ":vars", ":type", ":explain", ":time", ":cache", ":set", ":load", ":reset", ":quit",
];

/// What `:set` knows, for completion.
pub const SETTINGS: [&str; 7] = [
    "mode", "opt", "verify", "cache", "seed", "threads", "fastmath",
];

const HELP: &str = "\
Statements
  EXPR                    evaluate and print (NumPy-style, with dtype and shape)
  NAME = EXPR             bind a variable
  a, b = KERNEL(args)     call a kernel, binding its outputs
  kernel f(...) -> (...) { ... }
                          define a kernel (continue lines while brackets are open)
Generators (seeded: the same numbers every session; `:set seed N` restarts)
  rand(n[, m])  randn(n[, m])  zeros(n[, m])  ones(n[, m])
  arange(stop) arange(start, stop[, step])  linspace(start, stop[, num])
  load(\"f.npy\")  save(EXPR, \"f.npy\")
Commands
  :help                   this text
  :vars                   variables and kernels
  :type EXPR              dtype and shape of the result, without running it
  :explain [--ast --ir --plan --clif --asm] EXPR
                          what the compiler makes of EXPR (default: everything)
  :time EXPR              compile and run times and GB/s, fused and unfused
  :cache                  compile cache counters
  :set [NAME VALUE]       settings: mode fused|unfused|interpret, opt speed|none,
                          verify on|off, cache N, seed N, threads N (0: all cores)
  :load FILE              define the kernels of a source file
  :reset                  forget variables and kernels
  :quit                   leave (or Ctrl-D)
EXPR may also be a kernel call, `zscore(x, 100)`, in :type, :explain and :time.";

/// A variable's value.
pub enum Value {
    Array(Array),
    /// A loaded `.npy` file, kept as read (a Fortran-order file is used as
    /// a strided view, not copied).
    Npy(NpyArray),
}

impl Value {
    fn dtype(&self) -> DType {
        match self {
            Value::Array(a) => a.dtype(),
            Value::Npy(a) => a.dtype(),
        }
    }

    fn dims(&self) -> Vec<usize> {
        match self {
            Value::Array(a) => a.shape().dims().to_vec(),
            Value::Npy(a) => a.shape.clone(),
        }
    }

    fn bytes(&self) -> usize {
        self.dims().iter().product::<usize>() * self.dtype().size()
    }

    fn arg(&self) -> arrjit::Result<Arg<'_>> {
        match self {
            Value::Array(a) => Ok(match a.as_scalar() {
                Some(s) if a.shape().rank() == 0 => Arg::Scalar(s),
                _ => Arg::Array(a.view()),
            }),
            Value::Npy(a) => a.view().map(Arg::Array),
        }
    }
}

/// An error and the source its span is in.
pub struct Failure {
    error: Error,
    /// `None`: the entry itself; else (name, text) of a kernel's source.
    source: Option<(String, Arc<str>)>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure {
            error,
            source: None,
        }
    }
}

type Outcome<T> = Result<T, Failure>;

/// `e` with its span moved by `offset` (it was about `text[offset..]`),
/// or given `whole` if it had none.
fn shifted(e: Error, offset: usize, whole: Range<usize>) -> Error {
    match e.span() {
        Some(s) => e.with_span(Span::new(s.start + offset, s.end + offset)),
        None => e.with_span(span(whole)),
    }
}

fn span(r: Range<usize>) -> Span {
    Span::new(r.start, r.end)
}

fn fail<T>(kind: ErrorKind, at: Range<usize>, message: impl Into<String>) -> Outcome<T> {
    Err(Error::at(kind, span(at), message).into())
}

/// A kernel as the session knows it.
struct KernelDef {
    /// The entry that defined it (possibly with other kernels).
    source: Arc<str>,
    /// `name(x: f64[n], alpha: f64) -> (y: f64[n])`.
    signature: String,
}

/// Where an argument of a call comes from.
enum ArgSrc {
    Var(String),
    Owned(Value),
}

/// What a command runs: an expression or a kernel call, with its inputs.
struct Target {
    callee: Callee,
    args: Vec<(String, ArgSrc)>,
}

enum Callee {
    /// An expression: `text[range]` of the entry.
    Expr {
        src: String,
        offset: usize,
    },
    Kernel {
        name: String,
        source: Arc<str>,
    },
}

/// A target parsed for one engine.
enum Callable {
    Expr(arrjit::Expr),
    Kernel(arrjit::Kernel),
}

/// Engine settings that `:set` changes.
#[derive(Clone, Debug)]
struct Settings {
    mode: Mode,
    opt_level: OptLevel,
    verify: bool,
    cache_capacity: usize,
    /// `Config::threads` (0: the default).
    threads: usize,
    /// `Config::fast_math`.
    fast_math: bool,
}

impl Settings {
    fn config(&self) -> Config {
        Config {
            mode: self.mode,
            opt_level: self.opt_level,
            verify: self.verify,
            cache_capacity: self.cache_capacity,
            threads: self.threads,
            fast_math: self.fast_math,
            ..Config::default()
        }
    }
}

pub struct Session {
    settings: Settings,
    engine: Engine,
    vars: BTreeMap<String, Value>,
    kernels: BTreeMap<String, KernelDef>,
    seed: u64,
    /// Behind a `RefCell`: generators run while expressions are being
    /// evaluated, from `&self`.
    rng: RefCell<Rng>,
    color: bool,
    /// Set by `:quit`.
    pub quit: bool,
}

/// What an entry evaluated to.
enum Rhs {
    Value(Value),
    Outputs(Vec<(String, Array)>),
    /// Done, with a message (`save`).
    Done(String),
}

impl Session {
    /// A session whose errors carry ANSI colour when `color`.
    pub fn new(seed: u64, color: bool) -> Session {
        let defaults = Config::default();
        let settings = Settings {
            mode: defaults.mode,
            opt_level: defaults.opt_level,
            verify: defaults.verify,
            cache_capacity: defaults.cache_capacity,
            threads: defaults.threads,
            fast_math: defaults.fast_math,
        };
        Session {
            engine: Engine::with_config(settings.config()),
            settings,
            vars: BTreeMap::new(),
            kernels: BTreeMap::new(),
            seed,
            rng: RefCell::new(Rng::new(seed)),
            color,
            quit: false,
        }
    }

    /// Variable and kernel names, for completion.
    pub fn names(&self) -> Vec<String> {
        self.vars
            .keys()
            .chain(self.kernels.keys())
            .cloned()
            .collect()
    }

    /// Runs one entry; `Ok` is what to print (maybe nothing), `Err` the
    /// rendered error.
    pub fn execute(&mut self, entry: &str) -> Result<String, String> {
        self.exec(entry).map_err(|f| {
            let (name, src) = match &f.source {
                Some((name, src)) => (name.as_str(), &**src),
                None => ("<repl>", entry),
            };
            diagnostic::render(&f.error, name, src, self.color)
        })
    }

    fn exec(&mut self, text: &str) -> Outcome<String> {
        let all = scan::trim(text, 0..text.len());
        let body = &text[all.clone()];
        if body.is_empty() {
            return Ok(String::new());
        }
        if body.starts_with(':') {
            return self.command(text, all);
        }
        if body.starts_with("kernel")
            && !body[6..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        {
            return self.define(text);
        }
        if scan::open_brackets(text) < 0 {
            return fail(
                ErrorKind::Parse,
                all,
                "a bracket is closed that was never opened",
            );
        }
        if let Some(eq) = scan::assignment(text) {
            return self.assign(text, all.start..eq, eq + 1..all.end);
        }
        match self.rhs(text, all)? {
            Rhs::Value(v) => {
                let a = self.materialize(&v)?;
                Ok(format!("{}\n{}", display::format_array(&a), meta(&v)))
            }
            Rhs::Outputs(outs) => Ok(outs
                .iter()
                .map(|(name, a)| {
                    format!(
                        "{name} = {}\n{}",
                        display::format_array(a),
                        meta_dims(a.dtype(), a.shape().dims())
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")),
            Rhs::Done(message) => Ok(message),
        }
    }

    // --- statements -----------------------------------------------------

    fn assign(&mut self, text: &str, lhs: Range<usize>, rhs: Range<usize>) -> Outcome<String> {
        let targets = scan::split_commas(text, lhs.clone());
        for t in &targets {
            self.check_name(text, t.clone())?;
        }
        if scan::trim(text, rhs.clone()).is_empty() {
            return fail(
                ErrorKind::Parse,
                rhs.start - 1..rhs.start,
                "nothing after `=`",
            );
        }
        let names: Vec<String> = targets
            .iter()
            .map(|t| text[t.clone()].to_string())
            .collect();
        let mut out = Vec::new();
        // `a, b = e1, e2`: every value computed before any is bound, so
        // `a, b = b, a` swaps.
        let pieces = scan::split_commas(text, rhs.clone());
        if names.len() > 1 && pieces.len() == names.len() {
            let mut values = Vec::new();
            for piece in pieces {
                match self.rhs(text, piece.clone())? {
                    Rhs::Value(v) => values.push(v),
                    _ => {
                        return fail(
                            ErrorKind::Call,
                            piece,
                            "each value of a multiple assignment must be one array",
                        )
                    }
                }
            }
            for (name, v) in names.into_iter().zip(values) {
                out.push(format!("{name}: {}", meta(&v)));
                self.vars.insert(name, v);
            }
            return Ok(out.join("\n"));
        }
        match self.rhs(text, rhs)? {
            Rhs::Value(v) => {
                if names.len() != 1 {
                    return fail(
                        ErrorKind::Call,
                        lhs,
                        format!("{} names, but the value is one array", names.len()),
                    );
                }
                out.push(format!("{}: {}", names[0], meta(&v)));
                self.vars.insert(names[0].clone(), v);
            }
            Rhs::Outputs(outputs) => {
                if names.len() != outputs.len() {
                    let outs: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
                    return fail(
                        ErrorKind::Call,
                        lhs,
                        format!(
                            "{} name(s) for {} output(s) ({})",
                            names.len(),
                            outputs.len(),
                            outs.join(", ")
                        ),
                    );
                }
                for (name, (_, a)) in names.into_iter().zip(outputs) {
                    out.push(format!(
                        "{name}: {}",
                        meta_dims(a.dtype(), a.shape().dims())
                    ));
                    self.vars.insert(name, Value::Array(a));
                }
            }
            Rhs::Done(_) => return fail(ErrorKind::Call, lhs, "`save` has no value to bind"),
        }
        Ok(out.join("\n"))
    }

    /// A name the user may bind: an identifier the language reads as a
    /// name, not a function, generator or kernel.
    fn check_name(&self, text: &str, at: Range<usize>) -> Outcome<()> {
        let name = &text[at.clone()];
        if name.is_empty() {
            return fail(ErrorKind::Parse, at, "expected a name before `=`");
        }
        let parsed = parse::parse_expr(name, 4).map(|e| e.kind);
        if let Ok(ast::ExprKind::Float(_) | ast::ExprKind::Bool(_)) = parsed {
            return fail(
                ErrorKind::Call,
                at,
                format!("`{name}` is a constant of the language; choose another name"),
            );
        }
        let is_name = scan::is_ident(name) && matches!(parsed, Ok(ast::ExprKind::Name(_)));
        if !is_name {
            return fail(
                ErrorKind::Parse,
                at,
                format!("`{name}` cannot be assigned to: expected a variable name"),
            );
        }
        let taken = if lower::function_names().any(|f| f == name) {
            Some("a function of the language")
        } else if BUILTINS.contains(&name) {
            Some("a generator of the REPL")
        } else if self.kernels.contains_key(name) {
            Some("a kernel")
        } else {
            None
        };
        match taken {
            Some(what) => fail(
                ErrorKind::Call,
                at,
                format!("`{name}` is {what}; choose another name"),
            ),
            None => Ok(()),
        }
    }

    fn rhs(&mut self, text: &str, range: Range<usize>) -> Outcome<Rhs> {
        let range = scan::trim(text, range);
        if let Some(call) = scan::call(text, range.clone()) {
            let name = &text[call.name.clone()];
            if gen::NAMES.contains(&name) {
                return self.generate(text, range, &call).map(Rhs::Value);
            }
            match name {
                "load" => return self.load(text, range, &call).map(Rhs::Value),
                "save" => return self.save(text, range, &call).map(Rhs::Done),
                _ => {}
            }
            if self.kernels.contains_key(name) {
                let target = self.kernel_target(text, range, &call)?;
                let callable = self.prepare(&self.engine, &target)?;
                return self.run(&callable, &target).map(Rhs::Outputs);
            }
        }
        self.eval_expr(text, range)
            .map(|a| Rhs::Value(Value::Array(a)))
    }

    fn eval_expr(&self, text: &str, range: Range<usize>) -> Outcome<Array> {
        let target = self.expr_target(text, range)?;
        let callable = self.prepare(&self.engine, &target)?;
        let mut outs = self.run(&callable, &target)?;
        Ok(outs.remove(0).1)
    }

    /// A scalar argument of a generator.
    fn scalar_arg(&self, text: &str, range: Range<usize>, of: &str) -> Outcome<Scalar> {
        let a = self.eval_expr(text, range.clone())?;
        match (a.shape().rank(), a.as_scalar()) {
            (0, Some(s)) => Ok(s),
            _ => fail(
                ErrorKind::Shape,
                range,
                format!(
                    "`{of}` takes scalars, but this is an array of shape {}",
                    a.shape()
                ),
            ),
        }
    }

    fn generate(&self, text: &str, range: Range<usize>, call: &scan::Call) -> Outcome<Value> {
        let name = &text[call.name.clone()];
        let mut args = Vec::new();
        for a in &call.args {
            if let Some((k, _)) = scan::keyword(text, a.clone()) {
                return fail(
                    ErrorKind::Arity,
                    k,
                    format!("`{name}` takes no keyword arguments"),
                );
            }
            args.push(self.scalar_arg(text, a.clone(), name)?);
        }
        let spans: Vec<Span> = call.args.iter().map(|r| span(r.clone())).collect();
        let a = gen::generate(name, &args, &spans, span(range), &mut self.rng.borrow_mut())?;
        Ok(Value::Array(a))
    }

    fn path_arg(
        &self,
        text: &str,
        call: &scan::Call,
        k: usize,
        range: Range<usize>,
    ) -> Outcome<String> {
        let fname = &text[call.name.clone()];
        match call.args.get(k) {
            Some(a) => match scan::string(text, a.clone()) {
                Some(path) => Ok(path.to_string()),
                None => fail(
                    ErrorKind::Call,
                    a.clone(),
                    format!("`{fname}` needs a file name in double quotes here"),
                ),
            },
            None => fail(
                ErrorKind::Arity,
                range,
                format!("`{fname}` needs a file name in double quotes"),
            ),
        }
    }

    fn load(&mut self, text: &str, range: Range<usize>, call: &scan::Call) -> Outcome<Value> {
        if call.args.len() != 1 {
            return fail(
                ErrorKind::Arity,
                range,
                "`load` takes one file name: load(\"f.npy\")",
            );
        }
        let path = self.path_arg(text, call, 0, range.clone())?;
        let npy =
            npy::read_npy(Path::new(&path)).map_err(|e| e.with_span(span(call.args[0].clone())))?;
        npy.view().map_err(|e| e.with_span(span(range)))?;
        Ok(Value::Npy(npy))
    }

    fn save(&mut self, text: &str, range: Range<usize>, call: &scan::Call) -> Outcome<String> {
        if call.args.len() != 2 {
            return fail(
                ErrorKind::Arity,
                range,
                "`save` takes a value and a file name: save(y, \"y.npy\")",
            );
        }
        let path = self.path_arg(text, call, 1, range)?;
        let a = self.eval_expr(text, call.args[0].clone())?;
        npy::write_npy(Path::new(&path), &a)
            .map_err(|e| e.with_span(span(call.args[1].clone())))?;
        Ok(format!(
            "saved {} to {path}",
            meta_dims(a.dtype(), a.shape().dims())
        ))
    }

    /// `:load FILE`: the kernels of a file, as if typed; errors point
    /// into the file.
    fn load_kernels(&mut self, text: &str, rest: Range<usize>) -> Outcome<String> {
        let arg = &text[rest.clone()];
        let path = scan::string(text, rest.clone()).unwrap_or(arg);
        if path.is_empty() {
            return fail(
                ErrorKind::Call,
                rest,
                "`:load` needs the path of a file of kernels",
            );
        }
        let src = std::fs::read_to_string(path).map_err(|e| {
            let reason = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_string(),
                std::io::ErrorKind::InvalidData => "not UTF-8 text".to_string(),
                _ => e.to_string(),
            };
            Error::at(
                ErrorKind::Io,
                span(rest.clone()),
                format!("{path}: {reason}"),
            )
        })?;
        self.define(&src).map_err(|mut f| {
            if f.source.is_none() {
                f.source = Some((path.to_string(), Arc::from(src.as_str())));
            }
            f
        })
    }

    fn define(&mut self, text: &str) -> Outcome<String> {
        let max_depth = self.engine.config().max_depth;
        self.engine.compile_module(text)?;
        let module = parse::parse_module(text, max_depth)?;
        let source: Arc<str> = Arc::from(text);
        let mut out = Vec::new();
        for k in &module.kernels {
            let name = k.name.name.as_str();
            if BUILTINS.contains(&name) || lower::function_names().any(|f| f == name) {
                return fail(
                    ErrorKind::Call,
                    k.name.span.start..k.name.span.end,
                    format!("`{name}` is already a function; name the kernel differently"),
                );
            }
            // Type-check now, with the declared dtypes (f64 for an untyped
            // parameter), so mistakes show at definition, not first call.
            let types: Vec<InputType> = k
                .params
                .iter()
                .map(|p| InputType {
                    dtype: p.ty.dtype.unwrap_or(DType::F64),
                    rank: p.ty.dims.len() as u8,
                })
                .collect();
            lower::lower_kernel(k, &types)?;
            let full = k.to_string();
            let signature = full
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("kernel ")
                .trim_end_matches(" {")
                .to_string();
            out.push(format!("defined {signature}"));
            self.kernels.insert(
                name.to_string(),
                KernelDef {
                    source: source.clone(),
                    signature,
                },
            );
        }
        Ok(out.join("\n"))
    }

    // --- targets: expressions and kernel calls ----------------------------

    /// The target `text[range]`: a kernel call or an expression.
    fn target(&self, text: &str, range: Range<usize>) -> Outcome<Target> {
        let range = scan::trim(text, range);
        if range.is_empty() {
            return fail(ErrorKind::Parse, range, "expected an expression");
        }
        if let Some(call) = scan::call(text, range.clone()) {
            let name = &text[call.name.clone()];
            if self.kernels.contains_key(name) {
                return self.kernel_target(text, range, &call);
            }
            if name == "load" || name == "save" {
                return fail(
                    ErrorKind::Call,
                    range,
                    format!("`{name}` is a REPL statement; this command takes an expression or a kernel call"),
                );
            }
        }
        self.expr_target(text, range)
    }

    fn expr_target(&self, text: &str, range: Range<usize>) -> Outcome<Target> {
        let mut src = text[range.clone()].to_string();
        let compile = |src: &str| {
            self.engine
                .compile(src)
                .map_err(|e| self.in_entry(e, range.clone()))
        };
        let mut expr = compile(&src)?;
        // Generators and kernels called inside the expression
        // (`arange(5) * 2`) are run first; each call's text is replaced by
        // a made-up name of the same length, so spans stay put.
        let mut calls = Vec::new();
        self.repl_calls(expr.ast(), &mut calls);
        let mut made: Vec<(String, Value)> = Vec::new();
        for (k, at) in calls.iter().enumerate() {
            let value = self.nested_call(text, range.start + at.start..range.start + at.end)?;
            let mut name = format!("_{k}");
            while name.len() < at.end - at.start {
                name.push('_');
            }
            src.replace_range(at.start..at.end, &name);
            made.push((name, value));
        }
        if !made.is_empty() {
            expr = compile(&src)?;
        }
        let mut args = Vec::new();
        for name in expr.inputs() {
            if let Some(k) = made.iter().position(|(n, _)| n == name) {
                let (n, v) = made.swap_remove(k);
                args.push((n, ArgSrc::Owned(v)));
                continue;
            }
            if !self.vars.contains_key(name) {
                return Err(self.unknown_var(name, expr.ast(), range.start).into());
            }
            args.push((name.clone(), ArgSrc::Var(name.clone())));
        }
        Ok(Target {
            callee: Callee::Expr {
                src,
                offset: range.start,
            },
            args,
        })
    }

    /// The spans of the outermost calls of generators and kernels in `e`.
    fn repl_calls(&self, e: &ast::Expr, out: &mut Vec<Range<usize>>) {
        match &e.kind {
            ast::ExprKind::Call { func, args } => {
                let name = func.name.as_str();
                if gen::NAMES.contains(&name) || self.kernels.contains_key(name) {
                    out.push(e.span.start..e.span.end);
                } else {
                    for a in args {
                        self.repl_calls(&a.value, out);
                    }
                }
            }
            ast::ExprKind::Unary(_, x) => self.repl_calls(x, out),
            ast::ExprKind::Binary(_, a, b) => {
                self.repl_calls(a, out);
                self.repl_calls(b, out);
            }
            ast::ExprKind::List(items) => {
                for x in items {
                    self.repl_calls(x, out);
                }
            }
            _ => {}
        }
    }

    /// A generator or single-output kernel called inside an expression.
    fn nested_call(&self, text: &str, at: Range<usize>) -> Outcome<Value> {
        let Some(call) = scan::call(text, at.clone()) else {
            return fail(ErrorKind::Parse, at, "cannot read this call");
        };
        let name = &text[call.name.clone()];
        if gen::NAMES.contains(&name) {
            return self.generate(text, at, &call);
        }
        let target = self.kernel_target(text, at.clone(), &call)?;
        let callable = self.prepare(&self.engine, &target)?;
        let mut outs = self.run(&callable, &target)?;
        if outs.len() != 1 {
            let names: Vec<&str> = outs.iter().map(|(n, _)| n.as_str()).collect();
            return fail(
                ErrorKind::Call,
                at,
                format!(
                    "kernel `{name}` has {} outputs; bind them on their own line: `{} = {name}(...)`",
                    outs.len(),
                    names.join(", ")
                ),
            );
        }
        Ok(Value::Array(outs.remove(0).1))
    }

    fn in_entry(&self, e: Error, range: Range<usize>) -> Failure {
        let mut e = shifted(e, range.start, range);
        if e.kind() == ErrorKind::UnknownFunction {
            let name = e
                .message()
                .split('`')
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let candidates = BUILTINS
                .iter()
                .copied()
                .chain(self.kernels.keys().map(String::as_str));
            if let Some(s) = arrjit::error::did_you_mean(&name, candidates) {
                e = e.with_note(format!("did you mean `{s}`, which the REPL provides?"));
            }
        }
        e.into()
    }

    fn unknown_var(&self, name: &str, expr: &ast::Expr, offset: usize) -> Error {
        let at = first_use(expr, name).unwrap_or_default();
        let mut e = Error::at(
            ErrorKind::UnknownName,
            Span::new(at.start + offset, at.end + offset),
            format!("no variable named `{name}`"),
        );
        // Every one-letter name is one edit from every other: no guess.
        let guess = (name.len() > 2)
            .then(|| arrjit::error::did_you_mean(name, self.vars.keys().map(String::as_str)))
            .flatten();
        if let Some(s) = guess {
            e = e.with_note(format!("did you mean `{s}`?"));
        } else if BUILTINS.contains(&name) || self.kernels.contains_key(name) {
            e = e.with_note(format!("`{name}` is called, as in `{name}(...)`"));
        }
        e
    }

    fn kernel_target(&self, text: &str, range: Range<usize>, call: &scan::Call) -> Outcome<Target> {
        let name = &text[call.name.clone()];
        let def = &self.kernels[name];
        let module = self.engine.compile_module(&def.source)?;
        let kernel = module.kernel(name)?;
        let params: Vec<String> = kernel.params().iter().map(|s| s.to_string()).collect();
        let mut bound: Vec<Option<(Range<usize>, ArgSrc)>> = params.iter().map(|_| None).collect();
        let mut positional = 0;
        let mut seen_keyword = false;
        for a in &call.args {
            let (slot, value) = match scan::keyword(text, a.clone()) {
                Some((k, v)) => {
                    seen_keyword = true;
                    let key = &text[k.clone()];
                    let Some(slot) = params.iter().position(|p| p == key) else {
                        let mut e = Error::at(
                            ErrorKind::Arity,
                            span(k),
                            format!("kernel `{name}` has no parameter `{key}`"),
                        );
                        if let Some(s) =
                            arrjit::error::did_you_mean(key, params.iter().map(String::as_str))
                        {
                            e = e.with_note(format!("did you mean `{s}`?"));
                        }
                        return Err(e
                            .with_note(format!("its parameters are: {}", params.join(", ")))
                            .into());
                    };
                    (slot, v)
                }
                None => {
                    if seen_keyword {
                        return fail(
                            ErrorKind::Arity,
                            a.clone(),
                            "a positional argument after a keyword argument",
                        );
                    }
                    positional += 1;
                    if positional > params.len() {
                        return fail(
                            ErrorKind::Arity,
                            a.clone(),
                            format!(
                                "kernel `{name}` takes {} argument(s): {}",
                                params.len(),
                                params.join(", ")
                            ),
                        );
                    }
                    (positional - 1, a.clone())
                }
            };
            if bound[slot].is_some() {
                return fail(
                    ErrorKind::Arity,
                    a.clone(),
                    format!("parameter `{}` is given twice", params[slot]),
                );
            }
            let src = match &text[value.clone()] {
                v if self.vars.contains_key(v) => ArgSrc::Var(v.to_string()),
                _ => ArgSrc::Owned(Value::Array(self.eval_expr(text, value.clone())?)),
            };
            bound[slot] = Some((value, src));
        }
        let mut args = Vec::new();
        for (param, b) in params.iter().zip(bound) {
            match b {
                Some((_, src)) => args.push((param.clone(), src)),
                None => {
                    return fail(
                        ErrorKind::Arity,
                        range,
                        format!("missing argument `{param}` of `{}`", def.signature),
                    )
                }
            }
        }
        Ok(Target {
            callee: Callee::Kernel {
                name: name.to_string(),
                source: def.source.clone(),
            },
            args,
        })
    }

    /// The target parsed by `engine` (which decides how it is compiled).
    fn prepare(&self, engine: &Engine, target: &Target) -> Outcome<Callable> {
        match &target.callee {
            Callee::Expr { src, offset } => engine
                .compile(src)
                .map(Callable::Expr)
                .map_err(|e| self.in_entry(e, *offset..*offset + src.len())),
            Callee::Kernel { name, source } => {
                let module = engine
                    .compile_module(source)
                    .map_err(|e| in_kernel(e, name, source))?;
                module
                    .kernel(name)
                    .map(Callable::Kernel)
                    .map_err(|e| in_kernel(e, name, source))
            }
        }
    }

    fn bind<'a>(&'a self, target: &'a Target) -> Outcome<Vec<(&'a str, Arg<'a>)>> {
        target
            .args
            .iter()
            .map(|(name, src)| {
                let value = match src {
                    ArgSrc::Var(v) => self.vars.get(v).ok_or_else(|| {
                        Error::new(ErrorKind::UnknownName, format!("no variable named `{v}`"))
                    })?,
                    ArgSrc::Owned(value) => value,
                };
                let arg = value
                    .arg()
                    .map_err(|e| Error::new(e.kind(), format!("`{name}`: {}", e.message())))?;
                Ok((name.as_str(), arg))
            })
            .collect()
    }

    fn failure(&self, target: &Target, e: Error) -> Failure {
        match &target.callee {
            Callee::Expr { src, offset } => self.in_entry(e, *offset..*offset + src.len()),
            Callee::Kernel { name, source } => in_kernel(e, name, source),
        }
    }

    fn run(&self, callable: &Callable, target: &Target) -> Outcome<Vec<(String, Array)>> {
        let args = self.bind(target)?;
        match callable {
            Callable::Expr(e) => e.eval(&args).map(|a| vec![(String::new(), a)]),
            Callable::Kernel(k) => k.call(&args),
        }
        .map_err(|e| self.failure(target, e))
    }

    fn compiled(&self, callable: &Callable, target: &Target) -> Outcome<Arc<Compiled>> {
        let args = self.bind(target)?;
        match callable {
            Callable::Expr(e) => e.compiled(&args),
            Callable::Kernel(k) => k.compiled(&args),
        }
        .map_err(|e| self.failure(target, e))
    }

    /// A value as a fresh row-major array (a loaded file may be strided).
    fn materialize<'v>(&self, v: &'v Value) -> Outcome<Cow<'v, Array>> {
        match v {
            Value::Array(a) => Ok(Cow::Borrowed(a)),
            Value::Npy(_) => {
                let arg = v.arg()?;
                Ok(Cow::Owned(self.engine.eval("v", &[("v", arg)])?))
            }
        }
    }

    // --- commands -------------------------------------------------------

    fn command(&mut self, text: &str, all: Range<usize>) -> Outcome<String> {
        let body = &text[all.clone()];
        let name_len = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
        let name = &body[..name_len];
        let rest = scan::trim(text, all.start + name_len..all.end);
        let name_at = all.start..all.start + name_len;
        match name {
            ":help" | ":h" | ":?" => Ok(HELP.to_string()),
            ":vars" => Ok(self.vars_listing()),
            ":type" | ":t" => self.type_of(text, rest),
            ":explain" | ":e" => self.explain(text, rest),
            ":time" => self.time(text, rest),
            ":cache" => Ok(self.cache()),
            ":set" => self.set(text, rest),
            ":load" => self.load_kernels(text, rest),
            ":reset" => {
                self.vars.clear();
                self.kernels.clear();
                Ok("variables and kernels forgotten".to_string())
            }
            ":quit" | ":q" | ":exit" => {
                self.quit = true;
                Ok(String::new())
            }
            _ => {
                let mut e = Error::at(
                    ErrorKind::UnknownName,
                    span(name_at),
                    format!("no command `{name}`"),
                );
                if let Some(s) = arrjit::error::did_you_mean(name, COMMANDS) {
                    e = e.with_note(format!("did you mean `{s}`?"));
                }
                Err(e.with_note("`:help` lists the commands").into())
            }
        }
    }

    fn vars_listing(&self) -> String {
        if self.vars.is_empty() && self.kernels.is_empty() {
            return "no variables or kernels yet".to_string();
        }
        let mut out = String::new();
        let width = self.vars.keys().map(|k| k.len()).max().unwrap_or(0);
        for (name, v) in &self.vars {
            let _ = writeln!(
                out,
                "{name:width$}  {:<4} {:<16} {}",
                v.dtype(),
                shape_text(&v.dims()),
                human_bytes(v.bytes())
            );
        }
        for def in self.kernels.values() {
            let _ = writeln!(out, "kernel {}", def.signature);
        }
        out.trim_end().to_string()
    }

    fn type_of(&self, text: &str, rest: Range<usize>) -> Outcome<String> {
        let target = self.target(text, rest)?;
        let callable = self.prepare(&self.engine, &target)?;
        let compiled = self.compiled(&callable, &target)?;
        let ir = &compiled.ir;
        let args = self.bind(&target)?;
        let shapes: Vec<Shape> = args
            .iter()
            .map(|(_, a)| match a {
                Arg::Array(v) => v.shape(),
                Arg::Scalar(_) => Shape::SCALAR,
            })
            .collect();
        let values = ir
            .infer_shapes(&shapes)
            .map_err(|e| self.failure(&target, e))?;
        let names: Vec<String> = match &callable {
            Callable::Expr(_) => vec![String::new()],
            Callable::Kernel(k) => k.outputs().iter().map(|s| format!("{s}: ")).collect(),
        };
        Ok(ir
            .outputs
            .iter()
            .zip(names)
            .map(|(&v, name)| {
                let dims = values.get(v.index()).copied().unwrap_or(Shape::SCALAR);
                format!("{name}{}", meta_dims(ir.node(v).dtype, dims.dims()))
            })
            .collect::<Vec<_>>()
            .join("\n"))
    }

    fn explain(&self, text: &str, rest: Range<usize>) -> Outcome<String> {
        let mut sections = Vec::new();
        let mut start = rest.start;
        // Leading `--flag`s select sections.
        loop {
            let r = scan::trim(text, start..rest.end);
            let s = &text[r.clone()];
            let Some(flag) = s.strip_prefix("--") else {
                break;
            };
            let len = flag.find(char::is_whitespace).unwrap_or(flag.len());
            match Section::from_flag(&flag[..len]) {
                Some(sec) => sections.push(sec),
                None => {
                    return fail(
                        ErrorKind::Call,
                        r.start..r.start + 2 + len,
                        format!(
                            "no section `--{}`: use --ast --ir --plan --clif --asm",
                            &flag[..len]
                        ),
                    )
                }
            }
            start = r.start + 2 + len;
        }
        if sections.is_empty() {
            sections = Section::ALL.to_vec();
        }
        let target = self.target(text, start..rest.end)?;
        let mode = match self.settings.mode {
            Mode::Unfused => Mode::Unfused,
            Mode::Fused | Mode::Interpret => Mode::Fused,
        };
        let engine = Engine::with_config(Config {
            mode,
            capture_clif: true,
            ..self.settings.config()
        });
        let callable = self.prepare(&engine, &target)?;
        let compiled = self.compiled(&callable, &target)?;
        let tree = match (&callable, &target.callee) {
            (Callable::Expr(e), _) => explain::expr_tree(e.ast()),
            (Callable::Kernel(_), Callee::Kernel { name, source }) => {
                let module = parse::parse_module(source, engine.config().max_depth)
                    .map_err(|e| in_kernel(e, name, source))?;
                module
                    .kernels
                    .iter()
                    .find(|k| &k.name.name == name)
                    .map(explain::kernel_tree)
                    .unwrap_or_default()
            }
            // `prepare` makes a kernel callable only of a kernel callee.
            (Callable::Kernel(_), Callee::Expr { .. }) => String::new(),
        };
        Ok(explain::report(&sections, &tree, &compiled)
            .trim_end()
            .to_string())
    }

    fn time(&self, text: &str, rest: Range<usize>) -> Outcome<String> {
        let target = self.target(text, rest)?;
        let mut rows = Vec::new();
        for (label, mode) in [("fused", Mode::Fused), ("unfused", Mode::Unfused)] {
            // A fresh engine, so the compile is a cold one.
            let engine = Engine::with_config(Config {
                mode,
                ..self.settings.config()
            });
            let callable = self.prepare(&engine, &target)?;
            let compiled = self.compiled(&callable, &target)?;
            let first = self.run(&callable, &target)?;
            let out_bytes: usize = first.iter().map(|(_, a)| a.len() * a.dtype().size()).sum();
            let in_bytes: usize = target
                .args
                .iter()
                .map(|(_, src)| match src {
                    ArgSrc::Var(v) => self.vars.get(v).map_or(0, Value::bytes),
                    ArgSrc::Owned(v) => v.bytes(),
                })
                .sum();
            let mut times = Vec::new();
            let budget = Instant::now();
            while times.len() < 3
                || (times.len() < 100 && budget.elapsed() < Duration::from_millis(300))
            {
                let t = Instant::now();
                self.run(&callable, &target)?;
                times.push(t.elapsed());
            }
            let best = times.iter().min().copied().unwrap_or_default();
            rows.push((
                label,
                compiled.compile_time,
                best,
                times.len(),
                in_bytes + out_bytes,
            ));
        }
        let mut out = String::new();
        for (label, compile, best, n, bytes) in &rows {
            let gbs = *bytes as f64 / best.as_secs_f64().max(1e-12) / 1e9;
            let _ = writeln!(
                out,
                "{label:<8} compile {:>9}   run {:>9} (best of {n})   {gbs:.2} GB/s",
                ms(*compile),
                ms(*best),
            );
        }
        let (fused, unfused) = (rows[0].2, rows[1].2);
        let _ = write!(
            out,
            "fusion: {:.2}x the speed of unfused ({} read and written per run)",
            unfused.as_secs_f64() / fused.as_secs_f64().max(1e-12),
            human_bytes(rows[0].4)
        );
        Ok(out)
    }

    fn cache(&self) -> String {
        let s = self.engine.stats();
        format!(
            "hits {}, misses {}, evictions {}\ncompiled kernels {} (capacity {}), code {} bytes\ncompile time {} in total",
            s.hits,
            s.misses,
            s.evictions,
            s.entries,
            self.settings.cache_capacity,
            s.code_bytes,
            ms(s.compile_time)
        )
    }

    fn set(&mut self, text: &str, rest: Range<usize>) -> Outcome<String> {
        let words: Vec<(Range<usize>, &str)> = {
            let mut v = Vec::new();
            let mut k = rest.start;
            for w in text[rest.clone()].split_whitespace() {
                let at = text[k..].find(w).map_or(k, |p| p + k);
                v.push((at..at + w.len(), w));
                k = at + w.len();
            }
            v
        };
        let s = &self.settings;
        if words.is_empty() {
            return Ok(format!(
                "mode {}\nopt {}\nverify {}\ncache {}\nseed {}\nthreads {}\nfastmath {}",
                mode_name(s.mode),
                match s.opt_level {
                    OptLevel::None => "none",
                    OptLevel::Speed => "speed",
                },
                on_off(s.verify),
                s.cache_capacity,
                self.seed,
                self.engine.threads(),
                on_off(s.fast_math)
            ));
        }
        let (name_at, name) = words[0].clone();
        let Some((value_at, value)) = words.get(1).cloned() else {
            return fail(
                ErrorKind::Call,
                name_at,
                format!("`:set {name}` needs a value"),
            );
        };
        if let Some((extra, _)) = words.get(2) {
            return fail(
                ErrorKind::Call,
                extra.clone(),
                "`:set` takes one name and one value",
            );
        }
        let bad = |expected: &str| -> Outcome<String> {
            fail(
                ErrorKind::Call,
                value_at.clone(),
                format!("`{name}` is {expected}, not `{value}`"),
            )
        };
        let mut settings = self.settings.clone();
        match name {
            "mode" => {
                settings.mode = match value {
                    "fused" => Mode::Fused,
                    "unfused" => Mode::Unfused,
                    "interpret" => Mode::Interpret,
                    _ => return bad("fused, unfused or interpret"),
                }
            }
            "opt" => {
                settings.opt_level = match value {
                    "speed" => OptLevel::Speed,
                    "none" => OptLevel::None,
                    _ => return bad("speed or none"),
                }
            }
            "verify" => {
                settings.verify = match parse_on_off(value) {
                    Some(v) => v,
                    None => return bad("on or off"),
                }
            }
            "cache" => {
                settings.cache_capacity = match value.parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => return bad("a number of kernels (at least 1)"),
                }
            }
            "seed" => {
                let Ok(seed) = value.parse::<u64>() else {
                    return bad("a non-negative integer");
                };
                self.seed = seed;
                self.rng = RefCell::new(Rng::new(seed));
                return Ok(format!("seed {seed} (random generators restarted)"));
            }
            "threads" => {
                settings.threads = match value.parse::<usize>() {
                    Ok(n) => n,
                    _ => return bad("a number of threads (0: every core)"),
                };
                self.settings = settings;
                self.engine = Engine::with_config(self.settings.config());
                return Ok(format!(
                    "threads {} (compile cache emptied)",
                    self.engine.threads()
                ));
            }
            "fastmath" => {
                settings.fast_math = match parse_on_off(value) {
                    Some(v) => v,
                    None => return bad("on or off"),
                }
            }
            _ => {
                let mut e = Error::at(
                    ErrorKind::UnknownName,
                    span(name_at),
                    format!("no setting `{name}`"),
                );
                if let Some(s) = arrjit::error::did_you_mean(name, SETTINGS) {
                    e = e.with_note(format!("did you mean `{s}`?"));
                }
                return Err(e
                    .with_note("settings: mode, opt, verify, cache, seed, threads")
                    .into());
            }
        }
        self.settings = settings;
        self.engine = Engine::with_config(self.settings.config());
        Ok(format!("{name} {value} (compile cache emptied)"))
    }
}

fn in_kernel(e: Error, name: &str, source: &Arc<str>) -> Failure {
    Failure {
        error: e,
        source: Some((format!("<kernel {name}>"), source.clone())),
    }
}

/// The span of the first use of `name` in `expr`.
fn first_use(expr: &ast::Expr, name: &str) -> Option<Span> {
    match &expr.kind {
        ast::ExprKind::Name(id) if id.name == name => Some(id.span),
        ast::ExprKind::Unary(_, x) => first_use(x, name),
        ast::ExprKind::Binary(_, a, b) => first_use(a, name).or_else(|| first_use(b, name)),
        ast::ExprKind::Call { args, .. } => args.iter().find_map(|a| first_use(&a.value, name)),
        ast::ExprKind::List(items) => items.iter().find_map(|x| first_use(x, name)),
        _ => None,
    }
}

fn meta(v: &Value) -> String {
    meta_dims(v.dtype(), &v.dims())
}

fn meta_dims(dtype: DType, dims: &[usize]) -> String {
    format!("{dtype}, shape {}", shape_text(dims))
}

fn shape_text(dims: &[usize]) -> String {
    match dims {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn human_bytes(n: usize) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Fused => "fused",
        Mode::Unfused => "unfused",
        Mode::Interpret => "interpret",
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn parse_on_off(s: &str) -> Option<bool> {
    match s {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}
