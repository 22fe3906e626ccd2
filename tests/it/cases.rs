//! The shared case files (`tests/cases/*.toml`), run through every engine.
//!
//! Each `[[case]]` has a `name`, an `expr`, named `inputs` and either an
//! expected result or an expected error:
//!
//! ```toml
//! [[case]]
//! name = "i32 add wraps"
//! expr = "a + b"
//! inputs = { a = { i32 = [2147483647, 1] }, b = { i32 = 1 } }
//! expect = [-2147483648, 2]
//! expect_dtype = "i32"
//! expect_shape = [2]          # optional: defaults to [len(expect)]
//! tol_ulp = 4                 # optional: default bitwise
//! note = "why this value"     # optional, free text
//! ```
//!
//! An input is `{ <dtype> = [values...] }` (an array, row-major values) or
//! `{ <dtype> = value }` (a scalar argument), with optional `shape = [n, m]`
//! (`shape = []` makes a rank-0 array), `order = "F"`, `stride = k` (elements
//! `k` apart, junk in between) and `reverse = true` (negative strides).
//! Values: numbers, booleans, or the strings `"nan"`, `"-nan"`, `"inf"`,
//! `"-inf"`, or `"0x..."` (the exact bits of a float).
//!
//! An error case has `error_kind` (the `ErrorKind` variant's name) and
//! optionally `error_contains` (a substring of the message and notes) and
//! `error_span = [start, end]`.
//!
//! Every case runs in `Mode::Interpret`, `Mode::Unfused` and `Mode::Fused`:
//! the interpreter must match the expectation (bitwise, any NaN matching any
//! NaN, unless `tol_ulp`), and both compiled modes must match the
//! interpreter bitwise — NaN payloads included — since they perform the
//! same operations in the same order. Errors must be identical in all three.
//!
//! `known_bug = "..."` marks a case that exposes a library bug not yet
//! fixed: its failure is reported in a summary line instead of failing the
//! test. A marked case that passes fails the test, so the marker gets
//! removed with the fix.

use std::collections::{BTreeMap, HashSet};

use arrjit::{Array, DType, Error, Mode, Scalar};
use serde::Deserialize;

use crate::util::{self, Layout, Owned};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    expr: String,
    #[serde(default)]
    inputs: BTreeMap<String, InputSpec>,
    expect: Option<Vec<toml::Value>>,
    expect_dtype: Option<String>,
    expect_shape: Option<Vec<usize>>,
    tol_ulp: Option<u64>,
    error_kind: Option<String>,
    error_contains: Option<String>,
    error_span: Option<[usize; 2]>,
    #[allow(dead_code)]
    note: Option<String>,
    known_bug: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSpec {
    bool: Option<toml::Value>,
    i32: Option<toml::Value>,
    i64: Option<toml::Value>,
    f32: Option<toml::Value>,
    f64: Option<toml::Value>,
    shape: Option<Vec<usize>>,
    order: Option<String>,
    stride: Option<usize>,
    reverse: Option<bool>,
}

/// The case files, by category.
pub const FILES: [&str; 12] = [
    "arithmetic",
    "compare_logic",
    "functions",
    "where_select_clip",
    "promotion",
    "casts",
    "broadcast",
    "errors",
    "reductions",
    "scans",
    "windows",
    "lane_errors",
];

fn load(file: &str) -> Vec<Case> {
    let path = format!("{}/tests/cases/{file}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let parsed: File = toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    parsed.case
}

fn dtype(name: &str) -> Result<DType, String> {
    DType::from_name(name).ok_or_else(|| format!("unknown dtype `{name}`"))
}

/// One TOML value as a scalar of `dtype`.
fn scalar(dtype: DType, v: &toml::Value) -> Result<Scalar, String> {
    use toml::Value as V;
    let float = |v: &V| -> Result<f64, String> {
        match v {
            V::Float(x) => Ok(*x),
            V::Integer(i) => Ok(*i as f64),
            V::String(s) => match s.as_str() {
                "nan" => Ok(f64::NAN),
                "-nan" => Ok(-f64::NAN),
                "inf" | "+inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                s if s.starts_with("0x") => u64::from_str_radix(&s[2..], 16)
                    .map(f64::from_bits)
                    .map_err(|e| e.to_string()),
                _ => Err(format!("bad float {s:?}")),
            },
            other => Err(format!("bad float {other}")),
        }
    };
    let int = |v: &V| v.as_integer().ok_or_else(|| format!("bad integer {v}"));
    // A float's exact bits, signaling NaNs included (a round trip through
    // the other float type would quiet them).
    if let (DType::F32, V::String(s)) = (dtype, v) {
        if let Some(hex) = s.strip_prefix("0x") {
            let bits = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
            return Ok(Scalar::F32(f32::from_bits(bits)));
        }
    }
    Ok(match dtype {
        DType::Bool => match v {
            V::Boolean(b) => Scalar::Bool(*b),
            V::Integer(i) => Scalar::Bool(*i != 0),
            other => return Err(format!("bad bool {other}")),
        },
        DType::I32 => {
            Scalar::I32(i32::try_from(int(v)?).map_err(|_| format!("{v} out of i32 range"))?)
        }
        DType::I64 => Scalar::I64(int(v)?),
        // f64 -> f32 is exact for values written as f32 values.
        DType::F32 => Scalar::F32(float(v)? as f32),
        DType::F64 => Scalar::F64(float(v)?),
    })
}

fn input(spec: &InputSpec) -> Result<Owned, String> {
    let given = [
        (DType::Bool, &spec.bool),
        (DType::I32, &spec.i32),
        (DType::I64, &spec.i64),
        (DType::F32, &spec.f32),
        (DType::F64, &spec.f64),
    ];
    let mut found = given
        .iter()
        .filter_map(|(d, v)| v.as_ref().map(|v| (*d, v)));
    let (dt, value) = found.next().ok_or("an input needs one dtype key")?;
    if found.next().is_some() {
        return Err("an input has two dtype keys".into());
    }
    let toml::Value::Array(items) = value else {
        if spec.shape.is_some() || spec.order.is_some() || spec.stride.is_some() {
            return Err("a scalar input takes no layout".into());
        }
        return Ok(Owned::scalar(scalar(dt, value)?));
    };
    let values = items
        .iter()
        .map(|v| scalar(dt, v))
        .collect::<Result<Vec<_>, _>>()?;
    let dims = spec.shape.clone().unwrap_or_else(|| vec![values.len()]);
    if dims.iter().product::<usize>() != values.len() {
        return Err(format!("{} values for shape {dims:?}", values.len()));
    }
    let layout = Layout {
        fortran: match spec.order.as_deref() {
            None | Some("C") => false,
            Some("F") => true,
            Some(o) => return Err(format!("unknown order {o:?}")),
        },
        step: spec.stride.unwrap_or(1),
        reverse: spec.reverse.unwrap_or(false),
    };
    Ok(Owned::array(dt, &dims, &values, layout))
}

/// How a case went.
enum Outcome {
    Pass,
    Fail(String),
}

fn describe(r: &Result<Array, Error>) -> String {
    match r {
        Ok(a) => format!("{a:?}"),
        Err(e) => format!("error {:?}: {e}", e.kind()),
    }
}

fn run_case(case: &Case, engines: &[(Mode, arrjit::Engine)]) -> Result<Outcome, String> {
    let inputs: Vec<(String, Owned)> = case
        .inputs
        .iter()
        .map(|(n, s)| {
            input(s)
                .map(|o| (n.clone(), o))
                .map_err(|e| format!("input `{n}`: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let args = util::args(&inputs);
    let results: Vec<Result<Array, Error>> = engines
        .iter()
        .map(|(_, e)| e.compile(&case.expr).and_then(|x| x.eval(&args)))
        .collect();
    let oracle = &results[0];
    let mut problems = Vec::new();

    // 1. The interpreter against the expectation.
    match (&case.expect, &case.error_kind, oracle) {
        (Some(_), Some(_), _) => return Err("both `expect` and `error_kind`".into()),
        (None, None, _) => return Err("neither `expect` nor `error_kind`".into()),
        (Some(expect), None, Ok(got)) => {
            let dt = dtype(
                case.expect_dtype
                    .as_deref()
                    .ok_or("`expect` needs `expect_dtype`")?,
            )?;
            let want: Vec<Scalar> = expect
                .iter()
                .map(|v| scalar(dt, v))
                .collect::<Result<_, _>>()?;
            let shape = case
                .expect_shape
                .clone()
                .unwrap_or_else(|| vec![want.len()]);
            if got.dtype() != dt || got.shape().dims() != shape.as_slice() {
                problems.push(format!(
                    "interpreter gave {} {}, expected {dt} {shape:?}",
                    got.dtype(),
                    got.shape()
                ));
            } else if got.len() != want.len() {
                problems.push(format!(
                    "{} expected values for {} elements",
                    want.len(),
                    got.len()
                ));
            } else {
                for (k, &w) in want.iter().enumerate() {
                    let g = got.get(k);
                    let ok = match case.tol_ulp {
                        Some(tol) => util::scalar_ulp_diff(w, g) <= tol,
                        None => w.bits_eq(g) || (w.as_f64().is_nan() && g.as_f64().is_nan()),
                    };
                    if !ok {
                        problems.push(format!(
                            "element {k}: interpreter gave {g:?}, expected {w:?}{}",
                            case.tol_ulp
                                .map(|_| format!(" ({} ulp)", util::scalar_ulp_diff(w, g)))
                                .unwrap_or_default()
                        ));
                        break;
                    }
                }
            }
        }
        (None, Some(kind), Err(err)) => {
            if format!("{:?}", err.kind()) != *kind {
                problems.push(format!(
                    "error kind {:?}, expected {kind}: {err}",
                    err.kind()
                ));
            }
            if let Some(needle) = &case.error_contains {
                if !err.to_string().contains(needle.as_str()) {
                    problems.push(format!("error `{err}` does not contain {needle:?}"));
                }
            }
            if let Some([s, e]) = case.error_span {
                let span = err.span().map(|sp| [sp.start, sp.end]);
                if span != Some([s, e]) {
                    problems.push(format!("error span {span:?}, expected [{s}, {e}]: {err}"));
                }
            }
        }
        (_, _, r) => problems.push(format!("interpreter gave {}", describe(r))),
    }

    // 2. Compiled modes against the interpreter, bitwise.
    for ((mode, _), r) in engines.iter().zip(&results).skip(1) {
        let diff = match (oracle, r) {
            (Ok(want), Ok(got)) => util::bitwise_diff(want, got),
            (Err(want), Err(got)) if want == got => None,
            _ => Some(format!("{} vs {}", describe(oracle), describe(r))),
        };
        if let Some(d) = diff {
            problems.push(format!("{mode:?} differs from the interpreter: {d}"));
        }
    }
    Ok(if problems.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(problems.join("\n      "))
    })
}

/// Runs one case file; panics listing every failing case.
fn run_file(file: &str) {
    let engines = util::engines();
    let cases = load(file);
    let (mut failures, mut known, mut fixed) = (Vec::new(), Vec::new(), Vec::new());
    for case in &cases {
        let id = format!("{file}.toml: {:?} (`{}`)", case.name, case.expr);
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_case(case, &engines)));
        let failure = match outcome {
            Err(_) => Some("PANICKED".to_string()),
            Ok(Err(bad)) => Some(format!("malformed case: {bad}")),
            Ok(Ok(Outcome::Fail(why))) => Some(why),
            Ok(Ok(Outcome::Pass)) => None,
        };
        match (failure, &case.known_bug) {
            (Some(why), None) => failures.push(format!("{id}\n      {why}")),
            (Some(why), Some(bug)) => known.push(format!("{id}: {bug}\n      {why}")),
            (None, Some(bug)) => fixed.push(format!("{id}: {bug}")),
            (None, None) => {}
        }
    }
    println!(
        "{file}.toml: {} cases, {} failed, {} known bugs",
        cases.len(),
        failures.len(),
        known.len()
    );
    for k in &known {
        println!("  known bug: {k}");
    }
    for f in &fixed {
        failures.push(format!(
            "{f}\n      passes now: remove its `known_bug` marker"
        ));
    }
    assert!(
        failures.is_empty(),
        "{} failing case(s) in {file}.toml:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

#[test]
fn arithmetic() {
    run_file("arithmetic");
}

#[test]
fn compare_logic() {
    run_file("compare_logic");
}

#[test]
fn functions() {
    run_file("functions");
}

#[test]
fn where_select_clip() {
    run_file("where_select_clip");
}

#[test]
fn promotion() {
    run_file("promotion");
}

#[test]
fn casts() {
    run_file("casts");
}

#[test]
fn broadcast() {
    run_file("broadcast");
}

#[test]
fn errors() {
    run_file("errors");
}

#[test]
fn reductions() {
    run_file("reductions");
}

#[test]
fn scans() {
    run_file("scans");
}

#[test]
fn windows() {
    run_file("windows");
}

#[test]
fn lane_errors() {
    run_file("lane_errors");
}

/// Every file parses, names are unique within a file, and the suite is as
/// large as it claims.
#[test]
fn inventory() {
    let mut total = 0;
    for file in FILES {
        let cases = load(file);
        let mut names = HashSet::new();
        for c in &cases {
            assert!(
                names.insert(c.name.as_str()),
                "{file}.toml: duplicate name {:?}",
                c.name
            );
        }
        total += cases.len();
    }
    assert!(total >= 250, "only {total} cases");
}
