//! Random lane operations (reductions, scans, differences, shifts,
//! windows, EWM) over random inputs in random layouts, inside random
//! elementwise context: the unfused and fused JIT must agree with the
//! interpreter bit for bit (NaNs compared as NaNs), or fail with the same
//! error.

use arrjit::{DType, Scalar};
use proptest::prelude::*;

use crate::util::{args, bitwise_diff, engines, tiered_engine, Layout, Owned};

use std::sync::atomic::{AtomicUsize, Ordering};

static TOTAL: AtomicUsize = AtomicUsize::new(0);
static OK: AtomicUsize = AtomicUsize::new(0);
static PAIR_TOTAL: AtomicUsize = AtomicUsize::new(0);
static PAIR_OK: AtomicUsize = AtomicUsize::new(0);

/// A lane call with its keyword arguments, over `x`.
fn lane_call() -> impl Strategy<Value = String> {
    let reduce = prop::sample::select(vec![
        "sum",
        "prod",
        "mean",
        "min",
        "max",
        "var",
        "std",
        "any",
        "all",
        "argmin",
        "argmax",
        "count_nonzero",
        "nansum",
        "nanmean",
        "nanmin",
        "nanmax",
        "nanvar",
        "nanstd",
    ]);
    let axis = prop::sample::select(vec!["", ", axis=0", ", axis=1", ", axis=-1"]);
    let keep = prop::sample::select(vec!["", ", keepdims=true"]);
    let reductions = (reduce, axis, keep).prop_map(|(f, a, k)| {
        let ddof = if f.ends_with("var") || f.ends_with("std") {
            ", ddof=1"
        } else {
            ""
        };
        format!("{f}(X{a}{k}{ddof})")
    });
    let along = prop::sample::select(vec![", axis=0", ", axis=1"]);
    let scans = (
        prop::sample::select(vec!["cumsum", "cumprod", "cummax", "cummin"]),
        along.clone(),
    )
        .prop_map(|(f, a)| format!("{f}(X{a})"));
    let windows = (
        prop::sample::select(vec![
            "rolling_sum",
            "rolling_mean",
            "rolling_var",
            "rolling_std",
            "rolling_min",
            "rolling_max",
        ]),
        1usize..6,
        along.clone(),
    )
        .prop_map(|(f, w, a)| format!("{f}(X, {w}{a})"));
    let others = (0u32..4, -3i64..4, along, 1u32..10).prop_map(|(n, k, a, alpha)| match n {
        0 => format!("diff(X, n={}{a})", k.rem_euclid(3)),
        1 => format!("shift(X, {k}{a}, fill=0)"),
        2 => format!("ewm_mean(X, 0.{alpha}{a})"),
        _ => format!("diff(X{a})"),
    });
    prop_oneof![reductions, scans, windows, others]
}

/// Elementwise context around the lane call, and the operand expression.
fn program() -> impl Strategy<Value = String> {
    let operand = prop::sample::select(vec!["x", "x * 2 + 1", "abs(x) - y", "where(x > 0, x, y)"]);
    let context = prop::sample::select(vec!["L", "x - L", "L * 2", "sqrt(abs(L)) + y"]);
    (lane_call(), operand, context)
        .prop_map(|(call, op, ctx)| ctx.replace('L', &call.replace('X', &format!("({op})"))))
}

/// Two lane calls over related operands, side by side or nested, so lane
/// groups form with several streams, consumers of reductions, chains of
/// streams and values shared between groups.
fn pair_program() -> impl Strategy<Value = String> {
    let operand = prop::sample::select(vec!["x", "x * 2 + 1", "abs(x) - y"]);
    let shape = prop::sample::select(vec![
        "A + B",
        "x - A * B",
        "A(B)",
        "where(x > 0, A, B) - x",
        "A - B(x - A)",
    ]);
    (lane_call(), lane_call(), operand, shape).prop_map(|(a, b, op, shape)| {
        let a_of = |arg: &str| a.replace('X', &format!("({arg})"));
        let b_of = |arg: &str| b.replace('X', &format!("({arg})"));
        match shape {
            "A(B)" => a_of(&b_of(op)),
            "A - B(x - A)" => format!("{} - {}", a_of(op), b_of(&format!("x - {}", a_of(op)))),
            s => s.replace('A', &a_of(op)).replace('B', &b_of(op)),
        }
    })
}

/// Standardisation, `(X - mean) / std`, with the mean and the deviation
/// (or variance) along the same or different axes, NaN rules and `ddof`,
/// behind another lane call whose group comes first (so a variance that
/// shares its lane's mean is not in the plan's first group).
fn moments_program() -> impl Strategy<Value = String> {
    let mean = prop::sample::select(vec!["mean", "nanmean"]);
    let dev = prop::sample::select(vec!["std", "var", "nanstd", "nanvar"]);
    let axis = prop::sample::select(vec!["", ", axis=0", ", axis=1"]);
    let ddof = prop::sample::select(vec!["", ", ddof=1"]);
    let operand = prop::sample::select(vec!["x", "x * 2 + 1", "abs(x) - y"]);
    let before = prop::sample::select(vec!["", "sum(y) + ", "cumsum(y) + ", "max(x * 3) - "]);
    (mean, dev, axis.clone(), axis, ddof, operand, before).prop_map(
        |(m, d, am, ad, ddof, op, before)| {
            format!("{before}(({op}) - {m}(({op}){am}, keepdims=true)) / {d}(({op}){ad}, keepdims=true{ddof})")
        },
    )
}

/// `src` evaluated by every engine (interpreter first) on the inputs it
/// names.
fn run_everywhere(
    src: &str,
    inputs: &[(String, Owned)],
) -> Vec<(arrjit::Mode, arrjit::Result<arrjit::Array>)> {
    engines()
        .into_iter()
        .chain([tiered_engine()])
        .map(|(mode, engine)| {
            let result = engine.compile(src).and_then(|e| {
                let names = e.inputs().to_vec();
                let used: Vec<_> = args(inputs)
                    .into_iter()
                    .filter(|(n, _)| names.iter().any(|m| m == n))
                    .collect();
                e.eval(&used)
            });
            (mode, result)
        })
        .collect()
}

/// Every engine agrees with the interpreter bit for bit (NaNs as NaNs),
/// or fails with the same kind of (non-internal) error.
fn agree(
    src: &str,
    results: &[(arrjit::Mode, arrjit::Result<arrjit::Array>)],
) -> Result<(), TestCaseError> {
    let (_, oracle) = &results[0];
    for (mode, got) in &results[1..] {
        match (oracle, got) {
            (Ok(want), Ok(got)) => {
                prop_assert_eq!(bitwise_diff(want, got), None, "{} {:?}", src, mode)
            }
            (Err(a), Err(b)) => {
                prop_assert!(
                    a.kind() != arrjit::ErrorKind::Internal,
                    "{}: internal error {}",
                    src,
                    a
                );
                prop_assert_eq!(a.kind(), b.kind(), "{} {:?}: {} vs {}", src, mode, a, b);
            }
            (a, b) => prop_assert!(
                false,
                "{} {:?}: {:?} vs {:?}",
                src,
                mode,
                a.as_ref().err(),
                b.as_ref().err()
            ),
        }
    }
    Ok(())
}

fn value(dtype: DType, seed: u64) -> Scalar {
    let special = [f64::NAN, 0.0, -0.0, 1.5, -2.25, 1e300, f64::INFINITY, 7.0];
    let v = if seed.is_multiple_of(11) {
        special[(seed / 11 % 8) as usize]
    } else {
        ((seed % 2001) as f64 - 1000.0) / 8.0
    };
    match dtype {
        DType::F64 => Scalar::F64(v),
        DType::F32 => Scalar::F32(v as f32),
        DType::I64 => Scalar::I64((seed % 41) as i64 - 20),
        DType::I32 => Scalar::I32((seed % 41) as i32 - 20),
        DType::Bool => Scalar::Bool(seed.is_multiple_of(3)),
    }
}

fn input(dtype: DType, dims: &[usize], seed: u64, layout: Layout) -> Owned {
    let n: usize = dims.iter().product();
    let values: Vec<Scalar> = (0..n as u64)
        .map(|k| {
            value(
                dtype,
                seed.wrapping_mul(6364136223846793005)
                    .wrapping_add(k.wrapping_mul(1442695040888963407))
                    >> 7,
            )
        })
        .collect();
    Owned::array(dtype, dims, &values, layout)
}

/// The programs' inputs: `x` of `dtype` and `dims` in `layout`, and `y`,
/// an `f64` vector as long as `x`'s last axis.
fn x_and_y(dtype: DType, dims: &[usize], seed: u64, layout: Layout) -> Vec<(String, Owned)> {
    let row = Layout {
        step: 1,
        ..Layout::default()
    };
    vec![
        ("x".to_string(), input(dtype, dims, seed, layout)),
        (
            "y".to_string(),
            input(DType::F64, &dims[dims.len() - 1..], seed ^ 0xabcdef, row),
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn lane_programs_agree_across_engines(
        src in program(),
        dtype in prop::sample::select(vec![DType::F64, DType::F32, DType::I64, DType::I32]),
        matrix in any::<bool>(),
        // Short lanes, and lanes around a leaf (128), the longest that
        // fused calls reduce whole.
        n in prop_oneof![3 => 0usize..40, 1 => 120usize..140],
        m in 1usize..5,
        seed in any::<u64>(),
        fortran in any::<bool>(),
        reverse in any::<bool>(),
    ) {
        let dims: Vec<usize> = if matrix { vec![n, m] } else { vec![n] };
        let layout = Layout { fortran, step: 1, reverse };
        let inputs = x_and_y(dtype, &dims, seed, layout);
        let results = run_everywhere(&src, &inputs);
        let (_, oracle) = &results[0];
        // Most programs must evaluate (errors are legitimate, e.g. axis=1
        // of a vector, but a generator that only made errors would test
        // nothing).
        let total = TOTAL.fetch_add(1, Ordering::Relaxed) + 1;
        let ok = OK.fetch_add(usize::from(oracle.is_ok()), Ordering::Relaxed) + usize::from(oracle.is_ok());
        prop_assert!(total < 100 || 2 * ok >= total, "only {} of {} programs evaluated", ok, total);
        if std::env::var_os("LANE_PROPS_DEBUG").is_some() {
            eprintln!("{src} {dtype:?} {dims:?}: {:?}", oracle.as_ref().map(|a| a.shape()).map_err(|e| e.to_string()));
        }
        agree(&src, &results)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    /// Pairs of lane calls, on lanes long enough to span several blocks of
    /// a lane group: the fused plan's groups, sweeps and blocks must give
    /// the interpreter's bits.
    #[test]
    fn lane_pairs_agree_across_engines(
        src in pair_program(),
        dtype in prop::sample::select(vec![DType::F64, DType::F32, DType::I64]),
        matrix in any::<bool>(),
        n in prop_oneof![0usize..20, 500usize..1300],
        m in 1usize..4,
        seed in any::<u64>(),
        fortran in any::<bool>(),
    ) {
        let dims: Vec<usize> = if matrix { vec![n, m] } else { vec![n] };
        let layout = Layout { fortran, step: 1, reverse: false };
        let inputs = x_and_y(dtype, &dims, seed, layout);
        let results = run_everywhere(&src, &inputs);
        let (_, oracle) = &results[0];
        let total = PAIR_TOTAL.fetch_add(1, Ordering::Relaxed) + 1;
        let ok = PAIR_OK.fetch_add(usize::from(oracle.is_ok()), Ordering::Relaxed) + usize::from(oracle.is_ok());
        prop_assert!(total < 100 || 3 * ok >= total, "only {} of {} programs evaluated", ok, total);
        agree(&src, &results)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// A variance next to the mean of its own lanes skips its first pass
    /// and takes the mean's stream result (`fuse::mean_partner`): whatever
    /// pairs the generator makes, and wherever their group sits in the
    /// plan, the bits are the interpreter's.
    #[test]
    fn standardisations_agree_across_engines(
        src in moments_program(),
        dtype in prop::sample::select(vec![DType::F64, DType::F32]),
        matrix in any::<bool>(),
        n in prop_oneof![0usize..12, 120usize..140, 500usize..1100],
        m in 1usize..4,
        seed in any::<u64>(),
        fortran in any::<bool>(),
    ) {
        let dims: Vec<usize> = if matrix { vec![n, m] } else { vec![n] };
        let layout = Layout { fortran, step: 1, reverse: false };
        let inputs = x_and_y(dtype, &dims, seed, layout);
        let results = run_everywhere(&src, &inputs);
        agree(&src, &results)?;
    }
}
