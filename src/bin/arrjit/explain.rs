//! `arrjit explain`: the syntax tree, typed IR, fusion plan, Cranelift IR
//! and machine code of an expression or a kernel, without running it.
//!
//! Code is compiled per signature, so explaining needs the inputs' dtypes
//! and ranks: each input is given as `NAME=VALUE` (as for `eval`: a
//! `.npy` file or a number) or `NAME:TYPE` (`a:f32[n]`, `m:f64[n,m]`,
//! `k:i64`); an input not given is an `f64` vector, a kernel parameter not
//! given takes its declared type (`f64` where it has none).

use std::path::PathBuf;

use clap::Args;

use arrjit::explain::{self, Section};
use arrjit::{Arg, Array, Config, DType, Engine, Error, ErrorKind, Mode, Shape};

use super::{as_args, io_reason, parse_bindings, Failure, Value};

#[derive(Args)]
pub struct ExplainArgs {
    /// The expression; with -f, the first input.
    #[arg(value_name = "EXPR", allow_hyphen_values = true)]
    expr: Option<String>,

    /// Inputs as NAME=VALUE (a .npy file or a number) or NAME:TYPE
    /// (`a:f32[n]`, `m:f64[n,m]`, `k:i64`).
    #[arg(value_name = "NAME=VALUE | NAME:TYPE")]
    bindings: Vec<String>,

    /// Read kernels from FILE (kernel mode).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,

    /// The kernel of FILE to explain (needed when FILE has several).
    #[arg(short = 'k', long = "kernel", value_name = "KERNEL", requires = "file")]
    kernel: Option<String>,

    /// Show the syntax tree.
    #[arg(long)]
    ast: bool,
    /// Show the typed IR.
    #[arg(long)]
    ir: bool,
    /// Show the fusion plan.
    #[arg(long)]
    plan: bool,
    /// Show the Cranelift IR.
    #[arg(long)]
    clif: bool,
    /// Show the machine code, disassembled.
    #[arg(long)]
    asm: bool,

    /// Explain the unfused plan and code (one loop per operation).
    #[arg(long)]
    unfused: bool,
}

/// Extent of every dimension of a made-up input (only dtype and rank
/// matter to the code).
const EXTENT: usize = 8;

pub fn run(args: ExplainArgs) -> Result<(), Failure> {
    let mut sections: Vec<Section> = [
        (args.ast, Section::Ast),
        (args.ir, Section::Ir),
        (args.plan, Section::Plan),
        (args.clif, Section::Clif),
        (args.asm, Section::Asm),
    ]
    .into_iter()
    .filter_map(|(on, s)| on.then_some(s))
    .collect();
    if sections.is_empty() {
        sections = Section::ALL.to_vec();
    }
    let engine = Engine::with_config(Config {
        mode: if args.unfused {
            Mode::Unfused
        } else {
            Mode::Fused
        },
        capture_clif: true,
        ..Config::default()
    });
    let (src, name, bindings): (String, String, Vec<String>) = match (&args.file, &args.expr) {
        (None, None) => return Err(Failure::usage(
            "missing EXPR: usage is `arrjit explain EXPR` or `arrjit explain -f FILE -k KERNEL`",
        )),
        (None, Some(expr)) => (expr.clone(), "<expr>".to_string(), args.bindings.clone()),
        (Some(file), first) => {
            let name = file.display().to_string();
            let bytes = std::fs::read(file).map_err(|e| {
                Failure::plain(&Error::new(
                    ErrorKind::Io,
                    format!("{name}: {}", io_reason(&e)),
                ))
            })?;
            let text = String::from_utf8(bytes).map_err(|_| {
                Failure::plain(&Error::new(
                    ErrorKind::Io,
                    format!("{name}: not UTF-8 text"),
                ))
            })?;
            let bindings = first.iter().chain(&args.bindings).cloned().collect();
            (text, name, bindings)
        }
    };
    let in_src = |e: Error| Failure::in_source(&e, &name, &src);
    let (given, types) = split_bindings(&bindings)?;
    let values = parse_bindings(&given)?;
    let mut made: Vec<(String, Array)> = Vec::new();
    let report = if args.file.is_none() {
        let expr = engine.compile(&src).map_err(in_src)?;
        check_known(&types, expr.inputs(), "an input of this expression")?;
        for input in expr.inputs() {
            if values.iter().any(|(n, _)| n == input) {
                continue;
            }
            let ty = types.iter().find(|(n, _)| n == input).map(|(_, t)| *t);
            let (dtype, rank) = ty.unwrap_or((DType::F64, 1));
            made.push((input.clone(), dummy(dtype, rank)));
        }
        let call = all_args(&values, &made)?;
        let compiled = expr.compiled(&call).map_err(in_src)?;
        explain::report(&sections, &explain::expr_tree(expr.ast()), &compiled)
    } else {
        let module = engine.compile_module(&src).map_err(in_src)?;
        let names = module.kernel_names();
        let kernel_name = match (args.kernel.as_deref(), names.as_slice()) {
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
        let kernel = module.kernel(&kernel_name).map_err(in_src)?;
        let ast = arrjit::parse::parse_module(&src, engine.config().max_depth).map_err(in_src)?;
        let Some(k_ast) = ast.kernels.iter().find(|k| k.name.name == kernel_name) else {
            return Err(Failure::usage(format!("no kernel `{kernel_name}`")));
        };
        let params: Vec<String> = kernel.params().iter().map(|p| p.to_string()).collect();
        check_known(&types, &params, "a parameter of this kernel")?;
        for param in &k_ast.params {
            let pname = &param.name.name;
            if values.iter().any(|(n, _)| n == pname) {
                continue;
            }
            let declared = (
                param.ty.dtype.unwrap_or(DType::F64),
                param.ty.dims.len() as u8,
            );
            let (dtype, rank) = types
                .iter()
                .find(|(n, _)| n == pname)
                .map_or(declared, |(_, t)| *t);
            made.push((pname.clone(), dummy(dtype, rank)));
        }
        let call = all_args(&values, &made)?;
        let compiled = kernel.compiled(&call).map_err(in_src)?;
        explain::report(&sections, &explain::kernel_tree(k_ast), &compiled)
    };
    print!("{report}");
    Ok(())
}

/// `NAME:TYPE` specs apart from `NAME=VALUE` bindings.
#[allow(clippy::type_complexity)]
fn split_bindings(
    bindings: &[String],
) -> Result<(Vec<String>, Vec<(String, (DType, u8))>), Failure> {
    let mut given = Vec::new();
    let mut types = Vec::new();
    for b in bindings {
        match (b.split_once('='), b.split_once(':')) {
            (None, Some((name, ty))) => types.push((name.to_string(), parse_type(b, ty)?)),
            _ => given.push(b.clone()),
        }
    }
    Ok((given, types))
}

/// A type given for a name that is not an input is a mistake, not a no-op.
fn check_known(
    types: &[(String, (DType, u8))],
    inputs: &[String],
    what: &str,
) -> Result<(), Failure> {
    match types.iter().find(|(n, _)| !inputs.contains(n)) {
        Some((n, _)) => Err(Failure::usage(format!(
            "`{n}` is not {what} (its inputs: {})",
            inputs.join(", ")
        ))),
        None => Ok(()),
    }
}

/// `f32`, `f64[n]`, `i64[n, m]`, `[n]` (f64).
fn parse_type(binding: &str, ty: &str) -> Result<(DType, u8), Failure> {
    let bad = || {
        Failure::usage(format!(
            "`{binding}`: a type is a dtype (bool i32 i64 f32 f64) and optional dimensions, as in f64[n] or f32[n,m]"
        ))
    };
    let ty = ty.trim();
    let (dtype, dims) = match ty.find('[') {
        Some(k) => (&ty[..k], Some(&ty[k..])),
        None => (ty, None),
    };
    let dtype = match dtype.trim() {
        "" if dims.is_some() => DType::F64,
        d => DType::ALL
            .into_iter()
            .find(|x| x.name() == d)
            .ok_or_else(bad)?,
    };
    let rank = match dims {
        None => 0,
        Some(d) => {
            let inner = d
                .strip_prefix('[')
                .and_then(|d| d.strip_suffix(']'))
                .ok_or_else(bad)?;
            let names: Vec<&str> = inner.split(',').map(str::trim).collect();
            if names.iter().any(|n| n.is_empty()) || names.len() > 2 {
                return Err(bad());
            }
            names.len() as u8
        }
    };
    Ok((dtype, rank))
}

fn dummy(dtype: DType, rank: u8) -> Array {
    let shape = match rank {
        0 => Shape::SCALAR,
        1 => Shape::vector(EXTENT),
        _ => Shape::matrix(EXTENT, EXTENT),
    };
    Array::zeros(dtype, shape)
}

fn all_args<'a>(
    values: &'a [(String, Value)],
    made: &'a [(String, Array)],
) -> Result<Vec<(&'a str, Arg<'a>)>, Failure> {
    let mut call = as_args(values)?;
    for (name, a) in made {
        let arg = match a.shape().rank() {
            0 => Arg::Scalar(a.get(0)),
            _ => Arg::Array(a.view()),
        };
        call.push((name.as_str(), arg));
    }
    Ok(call)
}
