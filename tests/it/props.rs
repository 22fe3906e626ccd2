//! Differential testing with proptest, as Cranelift's fuzzgen does:
//! random well-typed expressions over random inputs (special values
//! included), evaluated by the interpreter, the unfused JIT and the fused
//! JIT, which must agree bitwise (NaN payloads included) or fail with the
//! same user error. Also: the canonical form is a fixed point of
//! parse-then-display, and a minimally parenthesised rendering parses to
//! the same tree as the fully parenthesised one.
//!
//! The run is deterministic (a fixed seed) and sized for CI: set
//! `PROPTEST_CASES` to run more.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use arrjit::{DType, Engine, Mode, Scalar};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

use crate::util::{self, Layout, Owned};

// ---------------------------------------------------------------------------
// Expressions.

#[derive(Clone, Debug)]
enum Lit {
    Int(i64),
    Float(f64),
    Bool(bool),
    /// `nan`, `inf`, `pi`, `e`.
    Word(&'static str),
}

#[derive(Clone, Debug)]
enum E {
    Lit(Lit),
    /// Input `a`, `b` or `c`.
    Var(usize),
    /// `-`, `~` or `not`.
    Un(&'static str, Box<E>),
    Bin(&'static str, Box<E>, Box<E>),
    /// A function or cast, `where` and `clip` included.
    Call(&'static str, Vec<E>),
    /// `select([c...], [v...], default)`.
    Select(Vec<(E, E)>, Option<Box<E>>),
}

const NAMES: [&str; 3] = ["a", "b", "c"];

const BINOPS: &[&str] = &[
    "+", "-", "*", "/", "//", "%", "**", "&", "|", "^", "<", "<=", ">", ">=", "==", "!=", "and",
    "or",
];

const UNARY_FUNCS: &[&str] = &[
    "abs",
    "sign",
    "sqrt",
    "cbrt",
    "square",
    "reciprocal",
    "exp",
    "exp2",
    "expm1",
    "log",
    "log2",
    "log10",
    "log1p",
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "arcsinh",
    "arccosh",
    "arctanh",
    "floor",
    "ceil",
    "trunc",
    "rint",
    "isnan",
    "isinf",
    "isfinite",
    "signbit",
    "f32",
    "f64",
    "i32",
    "i64",
    "bool",
];

const BINARY_FUNCS: &[&str] = &[
    "hypot", "power", "fmod", "minimum", "maximum", "fmin", "fmax", "copysign", "arctan2",
];

/// Binding strength for the minimal-parentheses rendering (higher binds
/// tighter); atoms are 12.
fn level(op: &str) -> u8 {
    match op {
        "or" => 1,
        "and" => 2,
        "not" => 3,
        "<" | "<=" | ">" | ">=" | "==" | "!=" => 4,
        "|" => 5,
        "^" => 6,
        "&" => 7,
        "+" | "-" => 8,
        "*" | "/" | "//" | "%" => 9,
        "neg" => 10,
        "**" => 11,
        _ => 12,
    }
}

fn lit_text(l: &Lit) -> String {
    match l {
        Lit::Int(v) => v.to_string(),
        Lit::Float(v) => format!("{v:?}"),
        Lit::Bool(v) => v.to_string(),
        Lit::Word(w) => w.to_string(),
    }
}

impl E {
    /// Fully parenthesised source.
    fn full(&self) -> String {
        match self {
            E::Lit(l) => lit_text(l),
            E::Var(k) => NAMES[*k].to_string(),
            E::Un("not", x) => format!("(not {})", x.full()),
            E::Un(op, x) => format!("({op}{})", x.full()),
            E::Bin(op, a, b) => format!("({} {op} {})", a.full(), b.full()),
            E::Call(f, args) => {
                let args: Vec<String> = args.iter().map(E::full).collect();
                format!("{f}({})", args.join(", "))
            }
            E::Select(arms, default) => {
                let cs: Vec<String> = arms.iter().map(|(c, _)| c.full()).collect();
                let vs: Vec<String> = arms.iter().map(|(_, v)| v.full()).collect();
                let d = default
                    .as_ref()
                    .map(|d| format!(", default={}", d.full()))
                    .unwrap_or_default();
                format!("select([{}], [{}]{d})", cs.join(", "), vs.join(", "))
            }
        }
    }

    fn level(&self) -> u8 {
        match self {
            E::Un("not", _) => level("not"),
            E::Un(_, _) => level("neg"),
            E::Bin(op, _, _) => level(op),
            _ => 12,
        }
    }

    /// Source with only the parentheses precedence requires.
    fn minimal(&self) -> String {
        let wrap = |e: &E, need: bool| {
            if need {
                format!("({})", e.minimal())
            } else {
                e.minimal()
            }
        };
        match self {
            E::Un("not", x) => format!("not {}", wrap(x, x.level() < level("not"))),
            // A unary operand binds at level 10; `-x**2` is `-(x**2)`.
            E::Un(op, x) => format!("{op}{}", wrap(x, x.level() < level("neg"))),
            E::Bin(op, a, b) => {
                let l = level(op);
                let comparison = l == level("<");
                let (la, lb) = if *op == "**" {
                    // Right-associative; a unary left operand needs brackets.
                    (a.level() <= l, b.level() < l)
                } else if comparison {
                    // Non-associative.
                    (a.level() <= l, b.level() <= l)
                } else {
                    (a.level() < l, b.level() <= l)
                };
                format!("{} {op} {}", wrap(a, la), wrap(b, lb))
            }
            E::Call(f, args) => {
                let args: Vec<String> = args.iter().map(E::minimal).collect();
                format!("{f}({})", args.join(", "))
            }
            E::Select(arms, default) => {
                let cs: Vec<String> = arms.iter().map(|(c, _)| c.minimal()).collect();
                let vs: Vec<String> = arms.iter().map(|(_, v)| v.minimal()).collect();
                let d = default
                    .as_ref()
                    .map(|d| format!(", default={}", d.minimal()))
                    .unwrap_or_default();
                format!("select([{}], [{}]{d})", cs.join(", "), vs.join(", "))
            }
            _ => self.full(),
        }
    }
}

// ---------------------------------------------------------------------------
// Typing: a model of lowering's rules, used to insert casts so that most
// generated expressions are well typed. It need not be exact: anything it
// gets wrong becomes a user error, which must then be the same in all modes.

#[derive(Clone, Copy, Debug, PartialEq)]
enum T {
    Strong(DType),
    WeakInt,
    WeakFloat,
}

impl T {
    fn is_float(self) -> bool {
        matches!(self, T::WeakFloat) || matches!(self, T::Strong(d) if d.is_float())
    }
    fn is_bool(self) -> bool {
        self == T::Strong(DType::Bool)
    }
}

fn promote(a: T, b: T) -> T {
    use T::*;
    match (a, b) {
        (Strong(x), Strong(y)) => Strong(DType::promote(x, y)),
        (Strong(DType::Bool), WeakInt) | (WeakInt, Strong(DType::Bool)) => Strong(DType::I64),
        (Strong(x), WeakInt) | (WeakInt, Strong(x)) => Strong(x),
        (Strong(x), WeakFloat) | (WeakFloat, Strong(x)) => {
            Strong(if x.is_float() { x } else { DType::F64 })
        }
        (WeakInt, WeakInt) => WeakInt,
        _ => WeakFloat,
    }
}

fn cast(name: &'static str, e: E) -> E {
    E::Call(name, vec![e])
}

/// Rewrites `e` to be well typed for inputs of `dtypes`; returns its type.
fn fix(e: E, dtypes: &[DType; 3]) -> (E, T) {
    match e {
        E::Lit(Lit::Int(v)) => (E::Lit(Lit::Int(v)), T::WeakInt),
        E::Lit(Lit::Bool(v)) => (E::Lit(Lit::Bool(v)), T::Strong(DType::Bool)),
        E::Lit(l) => (E::Lit(l), T::WeakFloat),
        E::Var(k) => (E::Var(k), T::Strong(dtypes[k])),
        E::Un(op, x) => {
            let (x, t) = fix(*x, dtypes);
            match op {
                "not" if !t.is_bool() => {
                    (E::Un(op, Box::new(cast("bool", x))), T::Strong(DType::Bool))
                }
                "~" if t.is_float() => (E::Un(op, Box::new(cast("i64", x))), T::Strong(DType::I64)),
                "-" if t.is_bool() => (E::Un(op, Box::new(cast("i32", x))), T::Strong(DType::I32)),
                _ => (E::Un(op, Box::new(x)), t),
            }
        }
        E::Bin(op, a, b) => {
            let (mut a, ta) = fix(*a, dtypes);
            let (mut b, tb) = fix(*b, dtypes);
            let t = promote(ta, tb);
            match op {
                "and" | "or" => {
                    if !ta.is_bool() {
                        a = cast("bool", a);
                    }
                    if !tb.is_bool() {
                        b = cast("bool", b);
                    }
                    (E::Bin(op, Box::new(a), Box::new(b)), T::Strong(DType::Bool))
                }
                "<" | "<=" | ">" | ">=" | "==" | "!=" => {
                    (E::Bin(op, Box::new(a), Box::new(b)), T::Strong(DType::Bool))
                }
                "&" | "|" | "^" if t.is_float() => {
                    if ta.is_float() {
                        a = cast("i64", a);
                    }
                    if tb.is_float() {
                        b = cast("i64", b);
                    }
                    let t = promote(
                        if ta.is_float() {
                            T::Strong(DType::I64)
                        } else {
                            ta
                        },
                        if tb.is_float() {
                            T::Strong(DType::I64)
                        } else {
                            tb
                        },
                    );
                    (E::Bin(op, Box::new(a), Box::new(b)), t)
                }
                "-" | "//" | "%" | "**" if t.is_bool() => (
                    E::Bin(op, Box::new(cast("i32", a)), Box::new(cast("i32", b))),
                    T::Strong(DType::I32),
                ),
                "/" => {
                    let t = match t {
                        T::Strong(DType::F32) => t,
                        T::Strong(_) => T::Strong(DType::F64),
                        _ => T::WeakFloat,
                    };
                    (E::Bin(op, Box::new(a), Box::new(b)), t)
                }
                _ => (E::Bin(op, Box::new(a), Box::new(b)), t),
            }
        }
        E::Call(f, args) => {
            let fixed: Vec<(E, T)> = args.into_iter().map(|x| fix(x, dtypes)).collect();
            let float_of = |t: T| match t {
                T::Strong(DType::F32) => T::Strong(DType::F32),
                _ => T::Strong(DType::F64),
            };
            let strong = |t: T| match t {
                T::WeakInt => T::Strong(DType::I64),
                T::WeakFloat => T::Strong(DType::F64),
                s => s,
            };
            let mut args: Vec<E> = fixed.iter().map(|(e, _)| e.clone()).collect();
            let ts: Vec<T> = fixed.iter().map(|(_, t)| *t).collect();
            let t = match f {
                "isnan" | "isinf" | "isfinite" | "signbit" => T::Strong(DType::Bool),
                "f32" => T::Strong(DType::F32),
                "f64" => T::Strong(DType::F64),
                "i32" | "i64" | "bool" => {
                    return (
                        cast(f, args.remove(0)),
                        T::Strong(DType::from_name(f).unwrap()),
                    );
                }
                "abs" => strong(ts[0]),
                "sign" | "square" | "reciprocal" => {
                    if ts[0].is_bool() {
                        args[0] = cast("i32", args[0].clone());
                        T::Strong(DType::I32)
                    } else {
                        strong(ts[0])
                    }
                }
                "floor" | "ceil" | "trunc" if !strong(ts[0]).is_float() => strong(ts[0]),
                "hypot" | "arctan2" | "copysign" => float_of(strong(promote(ts[0], ts[1]))),
                "power" | "fmod" | "minimum" | "maximum" | "fmin" | "fmax" => {
                    let t = if ts[0] != T::Strong(DType::Bool)
                        && !matches!(ts[0], T::Strong(_))
                        && !matches!(ts[1], T::Strong(_))
                    {
                        // A function of two literals: the first becomes strong.
                        promote(strong(ts[0]), ts[1])
                    } else {
                        strong(promote(ts[0], ts[1]))
                    };
                    if t.is_bool() && matches!(f, "power" | "fmod") {
                        args = args.into_iter().map(|a| cast("i32", a)).collect();
                        T::Strong(DType::I32)
                    } else {
                        t
                    }
                }
                "where" => strong(promote(ts[1], ts[2])),
                "clip" => strong(promote(promote(strong(ts[0]), ts[1]), ts[2])),
                _ => float_of(strong(ts[0])),
            };
            (E::Call(f, args), t)
        }
        E::Select(arms, default) => {
            let mut t: Option<T> = None;
            let arms = arms
                .into_iter()
                .map(|(c, v)| {
                    let (c, _) = fix(c, dtypes);
                    let (v, tv) = fix(v, dtypes);
                    t = Some(t.map_or(tv, |t| promote(t, tv)));
                    (c, v)
                })
                .collect();
            let default = default.map(|d| {
                let (d, td) = fix(*d, dtypes);
                t = Some(t.map_or(td, |t| promote(t, td)));
                Box::new(d)
            });
            let t = promote(t.unwrap_or(T::WeakInt), T::WeakInt);
            let t = match t {
                T::WeakInt => T::Strong(DType::I64),
                T::WeakFloat => T::Strong(DType::F64),
                s => s,
            };
            (E::Select(arms, default), t)
        }
    }
}

// ---------------------------------------------------------------------------
// Strategies.

fn lit() -> impl Strategy<Value = Lit> {
    prop_oneof![
        prop::sample::select(vec![
            0i64, 1, 2, 3, 7, 31, 100, 65536, 2147483647, 3000000000
        ])
        .prop_map(Lit::Int),
        prop::sample::select(vec![
            0.0, 0.5, 1.5, 2.0, 0.1, 1e300, 1e-300, 3.0, 1e10, 1e-40
        ])
        .prop_map(Lit::Float),
        any::<bool>().prop_map(Lit::Bool),
        prop::sample::select(vec!["nan", "inf", "pi", "e"]).prop_map(Lit::Word),
    ]
}

fn expr() -> impl Strategy<Value = E> {
    let leaf = prop_oneof![
        1 => lit().prop_map(E::Lit),
        3 => (0..3usize).prop_map(E::Var),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        let b = || inner.clone().prop_map(Box::new);
        prop_oneof![
            2 => (prop::sample::select(vec!["-", "~", "not"]), b()).prop_map(|(op, x)| E::Un(op, x)),
            6 => (prop::sample::select(BINOPS.to_vec()), b(), b()).prop_map(|(op, x, y)| E::Bin(op, x, y)),
            4 => (prop::sample::select(UNARY_FUNCS.to_vec()), inner.clone())
                .prop_map(|(f, x)| E::Call(f, vec![x])),
            2 => (prop::sample::select(BINARY_FUNCS.to_vec()), inner.clone(), inner.clone())
                .prop_map(|(f, x, y)| E::Call(f, vec![x, y])),
            1 => (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, x, y)| E::Call("where", vec![c, x, y])),
            1 => (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(x, lo, hi)| E::Call("clip", vec![x, lo, hi])),
            1 => (prop::collection::vec((inner.clone(), inner.clone()), 1..3), prop::option::of(b()))
                .prop_map(|(arms, d)| E::Select(arms, d)),
        ]
    })
}

/// One input: dtype, rank choice, layout, and raw randomness for values.
#[derive(Clone, Debug)]
struct InputGen {
    dtype: DType,
    /// 0: scalar argument, 1: rank-0 array, 2: vector, 3: length-1
    /// vector, 4: matrix, 5: column, 6: row.
    form: u8,
    layout: Layout,
    seeds: Vec<u64>,
}

fn input_gen() -> impl Strategy<Value = InputGen> {
    (
        prop::sample::select(DType::ALL.to_vec()),
        0u8..7,
        (
            any::<bool>(),
            prop::sample::select(vec![1usize, 1, 2, 3]),
            any::<bool>(),
        ),
        prop::collection::vec(any::<u64>(), 20),
    )
        .prop_map(|(dtype, form, (fortran, step, reverse), seeds)| InputGen {
            dtype,
            form,
            layout: Layout {
                fortran,
                step,
                reverse,
            },
            seeds,
        })
}

fn value(dtype: DType, seed: u64) -> Scalar {
    let pick = (seed >> 8) as usize;
    let small = ((seed >> 16) % 2001) as i64 - 1000;
    match (dtype, seed % 4) {
        (DType::Bool, _) => Scalar::Bool(seed & 0x100 != 0),
        (DType::I32, 0) => {
            let s = [0, 1, -1, 2, -2, i32::MIN, i32::MAX, 31, 32, -31];
            Scalar::I32(s[pick % s.len()])
        }
        (DType::I32, 1) => Scalar::I32((seed >> 32) as i32),
        (DType::I32, _) => Scalar::I32((small / 64) as i32),
        (DType::I64, 0) => {
            let s = [0, 1, -1, 2, -2, i64::MIN, i64::MAX, 63, 64, -63];
            Scalar::I64(s[pick % s.len()])
        }
        (DType::I64, 1) => Scalar::I64((seed >> 1) as i64 * if seed & 2 == 0 { 1 } else { -1 }),
        (DType::I64, _) => Scalar::I64(small / 64),
        (float, k) => {
            let specials = [
                0.0,
                -0.0,
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                1.0,
                -1.0,
                0.5,
                f64::MAX,
                f64::MIN_POSITIVE,
                5e-324,
                1e-40,
                3.4e38,
                -2.5,
            ];
            let x = match k {
                0 => specials[pick % specials.len()],
                1 => f64::from_bits(seed.rotate_left(13)),
                _ => small as f64 / 64.0,
            };
            if float == DType::F32 {
                let y = if k == 1 {
                    f32::from_bits((seed >> 17) as u32)
                } else {
                    x as f32
                };
                Scalar::F32(y)
            } else {
                Scalar::F64(x)
            }
        }
    }
}

fn make_input(g: &InputGen, (n, m): (usize, usize)) -> Owned {
    let dims: Vec<usize> = match g.form {
        0 => return Owned::scalar(value(g.dtype, g.seeds[0])),
        1 => vec![],
        2 => vec![m],
        3 => vec![1],
        4 => vec![n, m],
        5 => vec![n, 1],
        _ => vec![1, m],
    };
    let len: usize = dims.iter().product();
    let values: Vec<Scalar> = (0..len)
        .map(|k| value(g.dtype, g.seeds[k % g.seeds.len()] ^ (k as u64 >> 4)))
        .collect();
    Owned::array(g.dtype, &dims, &values, g.layout)
}

// ---------------------------------------------------------------------------
// The properties.

struct Ctx {
    engines: Vec<(Mode, Engine)>,
    /// Cases that evaluated, and that ended in a (shared) user error.
    ok: AtomicUsize,
    errors: AtomicUsize,
}

impl Ctx {
    fn new() -> Ctx {
        Ctx {
            engines: util::engines(),
            ok: AtomicUsize::new(0),
            errors: AtomicUsize::new(0),
        }
    }

    /// Most generated expressions must be well typed, or the test would
    /// compare little but error messages.
    fn report(&self, what: &str) {
        let (ok, errors) = (self.ok.load(Relaxed), self.errors.load(Relaxed));
        println!("{what}: {ok} evaluated, {errors} user errors");
        assert!(
            ok >= 4 * errors,
            "{what}: too many ill-typed expressions ({ok} ok, {errors} errors)"
        );
    }
}

fn check(
    ctx: &Ctx,
    e: &E,
    gens: &[InputGen; 3],
    shape: (usize, usize),
) -> Result<(), TestCaseError> {
    let dtypes = [gens[0].dtype, gens[1].dtype, gens[2].dtype];
    let (e, _) = fix(e.clone(), &dtypes);
    let src = e.full();
    if std::env::var("PROPS_SHOW").is_ok() {
        println!("{src}");
    }
    let owned: Vec<Owned> = gens.iter().map(|g| make_input(g, shape)).collect();

    // Parse: the generator only writes valid syntax.
    let exprs: Vec<_> = ctx
        .engines
        .iter()
        .map(|(_, eng)| eng.compile(&src))
        .collect::<Result<_, _>>()
        .map_err(|err| TestCaseError::fail(format!("`{src}` does not parse: {err}")))?;

    // Round trips of the canonical form and of the minimal rendering.
    let canonical = exprs[0].canonical().to_string();
    let again = ctx.engines[0].1.compile(&canonical).map_err(|err| {
        TestCaseError::fail(format!(
            "canonical `{canonical}` of `{src}` does not parse: {err}"
        ))
    })?;
    prop_assert_eq!(
        again.canonical(),
        canonical.as_str(),
        "canonical form of `{}`",
        src
    );
    let minimal = e.minimal();
    let from_minimal = ctx.engines[0].1.compile(&minimal).map_err(|err| {
        TestCaseError::fail(format!(
            "minimal `{minimal}` of `{src}` does not parse: {err}"
        ))
    })?;
    prop_assert_eq!(
        from_minimal.canonical(),
        canonical.as_str(),
        "`{}` and `{}` parse differently",
        minimal,
        src
    );

    // Evaluate with the inputs the expression uses.
    let names = exprs[0].inputs().to_vec();
    let args: Vec<(&str, arrjit::Arg<'_>)> = names
        .iter()
        .map(|n| {
            let k = NAMES.iter().position(|m| m == n).expect("generated name");
            (n.as_str(), owned[k].arg())
        })
        .collect();
    let results: Vec<_> = exprs.iter().map(|x| x.eval(&args)).collect();
    let describe = || {
        let ins: Vec<String> = names
            .iter()
            .zip(&args)
            .map(|(n, (_, a))| format!("{n} = {a:?}"))
            .collect();
        format!("`{src}` with {}", ins.join(", "))
    };
    match &results[0] {
        Err(err) => {
            prop_assert!(
                err.is_user_error(),
                "internal error {} for {}",
                err,
                describe()
            );
            for ((mode, _), r) in ctx.engines.iter().zip(&results).skip(1) {
                prop_assert!(
                    r.as_ref().err() == Some(err),
                    "{:?} gave {:?}, the interpreter {} for {}",
                    mode,
                    r,
                    err,
                    describe()
                );
            }
        }
        Ok(want) => {
            ctx.ok.fetch_add(1, Relaxed);
            for ((mode, _), r) in ctx.engines.iter().zip(&results).skip(1) {
                match r {
                    Err(err) => {
                        return Err(TestCaseError::fail(format!(
                        "{mode:?} failed with {err} where the interpreter gave {want:?}, for {}",
                        describe()
                    )))
                    }
                    Ok(got) => {
                        if let Some(diff) = util::bitwise_diff(want, got) {
                            return Err(TestCaseError::fail(format!(
                                "{mode:?} differs from the interpreter: {diff}\n  interpreter {want:?}\n  {mode:?} {got:?}\n  for {}",
                                describe()
                            )));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn runner(cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(cases);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    };
    // A fixed seed for CI; `ARRJIT_FUZZ_SEED` picks another when the
    // property runs as a long fuzzing session (see `fuzz.rs`).
    let rng = match std::env::var("ARRJIT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(seed) => {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&seed.to_le_bytes());
            TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
        }
        None => TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    };
    TestRunner::new_with_rng(config, rng)
}

#[test]
fn engines_agree_on_random_expressions() {
    let ctx = Ctx::new();
    let strategy = (
        expr(),
        [input_gen(), input_gen(), input_gen()],
        (0usize..4, 0usize..5),
    );
    let result = runner(1024).run(&strategy, |(e, gens, shape)| check(&ctx, &e, &gens, shape));
    if let Err(err) = result {
        panic!("{err}");
    }
    ctx.report("random expressions");
}

/// Same, on bigger arrays of floats only, so the compiled loops run long
/// enough to take their unrolled or vector paths.
#[test]
fn engines_agree_on_long_float_arrays() {
    let ctx = Ctx::new();
    let float_input = || {
        input_gen().prop_map(|mut g| {
            g.dtype = if g.dtype <= DType::I64 {
                DType::F64
            } else {
                g.dtype
            };
            g.form = g.form.max(2);
            g
        })
    };
    let strategy = (
        expr(),
        [float_input(), float_input(), float_input()],
        (1usize..6, 17usize..70),
    );
    let result = runner(256).run(&strategy, |(e, gens, shape)| check(&ctx, &e, &gens, shape));
    if let Err(err) = result {
        panic!("{err}");
    }
    ctx.report("long float arrays");
}
