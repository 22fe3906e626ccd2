//! Threads: a large call split into chunks of its leading axis gives the
//! same bits on 1, 2 and 3 threads, and the same as the interpreter; calls
//! that mix elements along that axis are not split and stay correct; the
//! splittability rule itself, on the IR and concrete shapes.

use arrjit::par::{self, Split};
use arrjit::{Arg, Array, Config, Engine, Mode, Shape, View};

/// Deterministic values with negatives, zeros, a NaN and an infinity.
fn data(n: usize, seed: u64) -> Vec<f64> {
    (0..n)
        .map(|k| match (k as u64 * 7919 + seed * 104_729) % 1009 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            r => (r as f64 - 500.0) / 97.0,
        })
        .collect()
}

fn engine(threads: usize) -> Engine {
    Engine::with_config(Config {
        threads,
        ..Config::default()
    })
}

fn oracle() -> Engine {
    Engine::with_config(Config {
        mode: Mode::Interpret,
        threads: 1,
        ..Config::default()
    })
}

/// The same dtype, shape and bits (NaN payloads included: every chunk
/// runs the same machine code, so nothing may differ at all).
fn same_bits(a: &Array, b: &Array) -> Result<(), String> {
    if a.dtype() != b.dtype() || a.shape() != b.shape() {
        return Err(format!(
            "{} {} vs {} {}",
            a.dtype(),
            a.shape(),
            b.dtype(),
            b.shape()
        ));
    }
    match (0..a.len()).find(|&k| a.get(k).to_bits() != b.get(k).to_bits()) {
        Some(k) => Err(format!("element {k}: {:?} vs {:?}", a.get(k), b.get(k))),
        None => Ok(()),
    }
}

/// The split `engine` would make of `src` on `args` (`None`: run whole).
fn split_of(engine: &Engine, src: &str, args: &[(&str, Arg<'_>)]) -> Option<Split> {
    let expr = engine.compile(src).expect("parses");
    let compiled = expr.compiled(args).expect("compiles");
    let bound = expr.inputs().iter().map(|name| {
        let (_, arg) = args.iter().find(|(n, _)| n == name).expect("bound");
        (name.as_str(), *arg)
    });
    split_for(&compiled, bound)
}

/// The split of a call of `compiled` with `args`, in its parameters'
/// order.
fn split_for<'a>(
    compiled: &arrjit::engine::Compiled,
    args: impl Iterator<Item = (&'a str, Arg<'a>)>,
) -> Option<Split> {
    let shapes: Vec<Shape> = args
        .map(|(_, a)| match a {
            Arg::Array(v) => v.shape(),
            Arg::Scalar(_) => Shape::SCALAR,
        })
        .collect();
    let shapes = compiled.ir.infer_shapes(&shapes).expect("shapes");
    par::split(&compiled.ir, &shapes, &compiled.repairable())
}

/// Evaluates `src` on 1, 2 and 3 threads and in the interpreter; all four
/// must agree bitwise (the interpreter up to NaN payloads).
fn check_all(src: &str, args: &[(&str, Arg<'_>)]) -> Array {
    let one = engine(1)
        .eval(src, args)
        .unwrap_or_else(|e| panic!("{src}: {e}"));
    for threads in [2, 3] {
        let many = engine(threads).eval(src, args).expect("runs");
        if let Err(e) = same_bits(&one, &many) {
            panic!("{src}: 1 thread vs {threads}: {e}");
        }
    }
    // Unfused code splits too: lane loops, and temporaries per chunk.
    let unfused = |threads| {
        Engine::with_config(Config {
            mode: Mode::Unfused,
            threads,
            ..Config::default()
        })
        .eval(src, args)
        .expect("runs unfused")
    };
    if let Err(e) = same_bits(&unfused(1), &unfused(2)) {
        panic!("{src}: unfused, 1 thread vs 2: {e}");
    }
    let want = oracle().eval(src, args).expect("interprets");
    if let Some(e) = crate::util::bitwise_diff(&want, &one) {
        panic!("{src}: interpreter vs compiled: {e}");
    }
    one
}

/// Large enough to split (a few chunks above the threshold), odd so the
/// last chunk is short.
const N: usize = 3 * par::THRESHOLD + 3;

#[test]
fn elementwise_vectors_split_and_agree_bitwise() {
    let (a, b, c) = (data(N, 1), data(N, 2), data(N, 3));
    let flags: Vec<bool> = a.iter().map(|x| *x > 0.5).collect();
    let ints: Vec<i64> = (0..N as i64).map(|k| k * 37 % 101 - 50).collect();
    let args = [
        ("a", Arg::from(a.as_slice())),
        ("b", Arg::from(b.as_slice())),
        ("c", Arg::from(c.as_slice())),
        ("f", Arg::from(flags.as_slice())),
        ("k", Arg::from(ints.as_slice())),
        ("s", Arg::from(2.5)),
    ];
    for src in [
        "a * b + c",
        "exp(a)",
        "sin(a) * s",
        "where(a > 0.5, a * 10, a * 0.5)",
        "select([a < -1, a < 1], [0.0, a], a * 2)",
        "where(f, k // 3, k % 7)",
        "f32(a) * 2.0 + f32(b)",
        "2*a + 3*b**2 - sqrt(abs(c))",
    ] {
        let used = crate::util::args_read_by(src, &args);
        let split = split_of(&engine(2), src, &used).unwrap_or_else(|| panic!("{src}: not split"));
        assert_eq!(split.rows, N, "{src}");
        assert!(split.chunks().count() >= 8, "{src}: {split:?}");
        check_all(src, &used);
    }
}

#[test]
fn row_wise_matrix_work_splits_and_agrees_bitwise() {
    // Rows of 257 elements, enough of them to split.
    let m = 257;
    let n = (par::THRESHOLD / m) * 2 + 1;
    let md = data(n * m, 4);
    let row = data(m, 5);
    let col = data(n, 6);
    let mv = View::contiguous(arrjit::Buffer::F64(&md), &[n, m]).unwrap();
    let rv = View::contiguous(arrjit::Buffer::F64(&row), &[m]).unwrap();
    let cv = View::contiguous(arrjit::Buffer::F64(&col), &[n, 1]).unwrap();
    let args = [
        ("m", Arg::Array(mv)),
        ("r", Arg::Array(rv)),
        ("c", Arg::Array(cv)),
    ];
    for src in [
        "(m - mean(m, axis=1, keepdims=true)) / std(m, axis=1, keepdims=true)",
        "m * r + c",
        "sum(m * r, axis=1)",
        "cumsum(m, axis=1) - c",
        "rolling_mean(m, 5, axis=1)",
        "diff(m, axis=1)",
        "shift(m, 2, axis=1) + ewm_mean(m, 0.25, axis=1)",
        "nanmax(m, axis=1, keepdims=true) - m",
    ] {
        let used = crate::util::args_read_by(src, &args);
        let split = split_of(&engine(2), src, &used).unwrap_or_else(|| panic!("{src}: not split"));
        assert_eq!(split.rows, n, "{src}");
        check_all(src, &used);
    }
}

#[test]
fn calls_that_mix_along_the_leading_axis_run_whole_and_agree() {
    let (a, b) = (data(N, 7), data(N, 8));
    let sq = data(300 * 300, 9);
    let mv = View::contiguous(arrjit::Buffer::F64(&sq), &[300, 300]).unwrap();
    let vec_args = [
        ("a", Arg::from(a.as_slice())),
        ("b", Arg::from(b.as_slice())),
    ];
    for src in [
        "a - mean(a)",
        "sum(a) / 3",
        "mean(a)",
        "prod(a)",
        "argmax(a)",
        "cumsum(a) + b",
        "diff(cumsum(a))",
        "diff(shift(a, 1))",
        "shift(a, 1) * b",
        "rolling_mean(a * b, 10)",
        "rolling_max(cumsum(a), 3)",
        "ewm_mean(a, 0.5)",
        "a * nanmax(b)",
    ] {
        let used = crate::util::args_read_by(src, &vec_args);
        assert_eq!(split_of(&engine(2), src, &used), None, "{src}");
        check_all(src, &used);
    }
    let mat_args = [("m", Arg::Array(mv))];
    for src in [
        "m - mean(m, axis=0)",
        "diff(cumsum(m, axis=0), axis=0)",
        "cumsum(m, axis=0)",
        "m - sum(m, axis=1)",
        "m * max(m)",
    ] {
        assert_eq!(split_of(&engine(2), src, &mat_args), None, "{src}");
        check_all(src, &mat_args);
    }
}

/// Finite values of widely different magnitudes (so that a different
/// summation order changes the bits), with zeros of both signs.
fn spread(n: usize, seed: u64) -> Vec<f64> {
    (0..n)
        .map(|k| {
            let r = (k as u64 * 7919 + seed * 104_729) % 1009;
            let v = (r as f64 - 504.0) / 97.0 * 10f64.powi((k % 13) as i32 - 6);
            if r == 504 && k % 2 == 1 {
                -0.0
            } else {
                v
            }
        })
        .collect()
}

/// Vector lengths around the chunk boundaries of a split float sum:
/// `17 * 8192` rows make 17 chunks of 64 leaves, so these are an exact
/// multiple, one element and one leaf more or less, and a long tail.
const SUM_SIZES: [usize; 6] = [
    17 * 8192,
    17 * 8192 - 1,
    17 * 8192 + 1,
    17 * 8192 + 128,
    17 * 8192 - 128,
    17 * 8192 + 8191,
];

#[test]
fn full_reductions_split_and_combine_bitwise() {
    for n in SUM_SIZES {
        let a = spread(n, 1);
        let b = spread(n, 2);
        let nan = data(n, 3);
        let a32: Vec<f32> = a.iter().map(|&v| v as f32).collect();
        let k: Vec<i64> = (0..n as i64)
            .map(|j| (j * 2_654_435_761) ^ (j << 40))
            .collect();
        let odd: Vec<i64> = (0..n as i64).map(|j| 2 * (j % 1000) + 1).collect();
        let f: Vec<bool> = a.iter().map(|&v| v > 3.0).collect();
        // Non-negative, the first zero a -0.0 in the third chunk and a +0.0
        // later (min is -0.0); negated for max (+0.0 first, then -0.0).
        let mut pos: Vec<f64> = a.iter().map(|v| v.abs() + 1.0).collect();
        pos[2 * 8192 + 5] = -0.0;
        pos[5 * 8192 + 7] = 0.0;
        let neg: Vec<f64> = pos.iter().map(|v| -v).collect();
        // All NaN, each with its own payload: nanmin is the first.
        let nans: Vec<f64> = (0..n as u64)
            .map(|j| f64::from_bits(0x7ff8_0000_0000_0001 + j))
            .collect();
        let args = [
            ("a", Arg::from(a.as_slice())),
            ("b", Arg::from(b.as_slice())),
            ("x", Arg::from(nan.as_slice())),
            ("h", Arg::from(a32.as_slice())),
            ("k", Arg::from(k.as_slice())),
            ("o", Arg::from(odd.as_slice())),
            ("f", Arg::from(f.as_slice())),
            ("p", Arg::from(pos.as_slice())),
            ("q", Arg::from(neg.as_slice())),
            ("z", Arg::from(nans.as_slice())),
        ];
        for src in [
            "sum(a)",
            "nansum(a)",
            "sum(a * b + 1)",
            "sum(a, keepdims=true)",
            "sum(a, axis=0)",
            "sum(x)",
            "nansum(x)",
            "nansum(where(x > 1, inf, x))",
            "sum(h)",
            "nansum(h * 3.5)",
            "min(a)",
            "max(a)",
            "min(x)",
            "nanmin(x)",
            "nanmax(x)",
            "min(p)",
            "max(q)",
            "nanmax(q)",
            "nanmin(z)",
            "nanmax(z)",
            "min(z)",
            "max(h)",
            "sum(k)",
            "nansum(k)",
            "prod(o)",
            "min(k)",
            "max(k)",
            "any(f)",
            "all(f)",
            "any(a > 1e9)",
            "all(a < 1e9)",
            "count_nonzero(f)",
            "min(f)",
            "max(f)",
        ] {
            let used = crate::util::args_read_by(src, &args);
            let split =
                split_of(&engine(2), src, &used).unwrap_or_else(|| panic!("{src}: not split"));
            assert_eq!(split.rows, n, "{src}");
            assert!(split.partial[0].is_some(), "{src}");
            assert!(split.chunks().count() >= 8, "{src}: {split:?}");
            let got = check_all(src, &used);
            // The first zero wins, whatever its sign.
            if src == "min(p)" {
                assert_eq!(got.get(0).to_bits(), (-0.0f64).to_bits(), "{src}");
            }
            if src == "max(q)" {
                assert_eq!(got.get(0).to_bits(), 0.0f64.to_bits(), "{src}");
            }
            if src == "nanmin(z)" {
                assert_eq!(got.get(0).to_bits(), nans[0].to_bits(), "{src}");
            }
        }
    }
}

#[test]
fn float_sum_chunks_are_whole_subtrees() {
    // A vector: chunks of a power of two of rows, at least a leaf.
    let a = spread(SUM_SIZES[0], 4);
    let args = [("a", Arg::from(a.as_slice()))];
    let split = split_of(&engine(2), "sum(a)", &args).expect("splits");
    assert!(split.chunk_rows.is_power_of_two() && split.chunk_rows >= 128);
    let level = split.partial[0].expect("a partial").level;
    assert_eq!(split.chunk_rows, 128 << level);
    // A matrix summed whole splits when a chunk can hold whole leaves
    // (rows of a power of two of elements); min/max need no such thing.
    for (cols, sum_splits) in [(64, true), (1024, true), (257, false), (3, false)] {
        let rows = 2 * par::THRESHOLD / cols + 1;
        let md = spread(rows * cols, 5);
        let mv = View::contiguous(arrjit::Buffer::F64(&md), &[rows, cols]).unwrap();
        let args = [("m", Arg::Array(mv))];
        for src in ["sum(m)", "nansum(m * 2, keepdims=true)"] {
            let split = split_of(&engine(2), src, &args);
            assert_eq!(split.is_some(), sum_splits, "{src} {cols}: {split:?}");
            if let Some(split) = split {
                let level = split.partial[0].expect("a partial").level;
                assert_eq!(split.chunk_rows * cols, 128 << level, "{src} {cols}");
            }
            check_all(src, &args);
        }
        for src in ["max(m)", "nanmin(m)"] {
            assert!(split_of(&engine(2), src, &args).is_some(), "{src} {cols}");
            check_all(src, &args);
        }
        // Along the leading axis of a matrix: not a single value.
        assert_eq!(split_of(&engine(2), "max(m, axis=0)", &args), None);
    }
}

#[test]
fn kernels_mixing_rows_and_full_reductions_split() {
    let module = "
kernel stats(x: f64[n], y: f64[n]) -> (z: f64[n], s: f64, lo: f64, hi: f64) {
    z = x * y + 1
    s = sum(x * y)
    lo = nanmin(z)
    hi = max(y)
}
kernel centred(x: f64[n]) -> (z: f64[n], s: f64) {
    s = sum(x)
    z = x - s
}";
    let n = SUM_SIZES[3];
    let (x, y) = (spread(n, 6), data(n, 7));
    let args = [
        ("x", Arg::from(x.as_slice())),
        ("y", Arg::from(y.as_slice())),
    ];
    let call = |engine: Engine, name: &str| {
        let kernel = engine.compile_module(module).unwrap().kernel(name).unwrap();
        let args: Vec<_> = args
            .iter()
            .take(if name == "stats" { 2 } else { 1 })
            .copied()
            .collect();
        kernel.call(&args).expect("runs")
    };
    for name in ["stats", "centred"] {
        let one = call(engine(1), name);
        for other in [
            call(engine(2), name),
            call(engine(3), name),
            call(oracle(), name),
        ] {
            for ((_, a), (_, b)) in one.iter().zip(&other) {
                if let Some(e) = crate::util::bitwise_diff(a, b) {
                    panic!("{name}: {e}");
                }
            }
        }
    }
    // Outputs into a caller's views: the reductions too.
    let e = engine(2);
    let expr = e.compile("sum(x * y)").unwrap();
    let mut out = [f64::NAN];
    let view = arrjit::ViewMut::strided(arrjit::BufferMut::F64(&mut out), 0, &[], &[]).unwrap();
    expr.eval_into(&args, view).unwrap();
    let want = engine(1).eval("sum(x * y)", &args).unwrap();
    assert_eq!(out[0].to_bits(), want.get(0).to_bits());
}

#[test]
fn differences_along_the_leading_axis_split_with_a_halo() {
    for n in SUM_SIZES {
        let (a, b) = (spread(n, 8), data(n, 9));
        let k: Vec<i64> = (0..n as i64).map(|j| j * j % 1_000_003).collect();
        let f: Vec<bool> = a.iter().map(|&v| v > 0.0).collect();
        let h: Vec<f32> = b.iter().map(|&v| v as f32).collect();
        let args = [
            ("a", Arg::from(a.as_slice())),
            ("b", Arg::from(b.as_slice())),
            ("k", Arg::from(k.as_slice())),
            ("f", Arg::from(f.as_slice())),
            ("h", Arg::from(h.as_slice())),
        ];
        for (src, halo) in [
            ("diff(a)", 1),
            ("diff(a, n=2)", 2),
            ("diff(a, n=5)", 5),
            ("diff(a * b)", 1),
            ("diff(exp(a) - b, n=2) * 3", 2),
            ("diff(diff(a) * 2)", 2),
            ("abs(diff(b))", 1),
            ("diff(k, n=3)", 3),
            ("diff(f)", 1),
            ("diff(h * 0.5)", 1),
            ("sum(diff(a))", 1),
            ("nanmax(diff(b, n=2))", 2),
        ] {
            let used = crate::util::args_read_by(src, &args);
            let split =
                split_of(&engine(2), src, &used).unwrap_or_else(|| panic!("{src}: not split"));
            assert!(split.chunks().count() >= 8, "{src}: {split:?}");
            assert!(split.halo.iter().all(|&h| h == halo), "{src}: {split:?}");
            check_all(src, &used);
        }
    }
    // A matrix along its leading axis (rows of 33 elements), and along
    // rows (no halo).
    let (rows, cols) = (2 * par::THRESHOLD / 33 + 7, 33);
    let md = spread(rows * cols, 10);
    let mv = View::contiguous(arrjit::Buffer::F64(&md), &[rows, cols]).unwrap();
    let args = [("m", Arg::Array(mv))];
    for (src, halo) in [
        ("diff(m, axis=0)", 1),
        ("diff(m * 2, n=3, axis=0)", 3),
        ("diff(sum(m, axis=1))", 1),
        ("diff(m, axis=1)", 0),
    ] {
        let split = split_of(&engine(2), src, &args).unwrap_or_else(|| panic!("{src}: not split"));
        assert_eq!(split.halo.as_slice(), &[halo], "{src}");
        check_all(src, &args);
    }
    // Different lengths cannot meet: a diff whose input is also an output,
    // read at two extents.
    let module = "
kernel both(x: f64[n]) -> (y: f64[n], d: f64[m]) {
    y = x * 2
    d = diff(x)
}";
    let x = spread(SUM_SIZES[1], 11);
    let xa = [("x", Arg::from(x.as_slice()))];
    let compiled = engine(2).compile_module(module).unwrap();
    let one = compiled.kernel("both").unwrap().call(&xa);
    let want = oracle()
        .compile_module(module)
        .unwrap()
        .kernel("both")
        .unwrap()
        .call(&xa);
    match (one, want) {
        (Ok(one), Ok(want)) => {
            for ((_, a), (_, b)) in one.iter().zip(&want) {
                if let Some(e) = crate::util::bitwise_diff(b, a) {
                    panic!("both: {e}");
                }
            }
        }
        (Err(_), Err(_)) => {}
        (one, want) => panic!("both: {one:?} vs {want:?}"),
    }
}

/// Rolling windows of a vector input split: each chunk's streams start
/// from the rows of history their first windows read, so every window is
/// the one-call window bit for bit, whatever the window length against
/// the chunks (up to an eighth of a chunk they split, beyond it the call
/// runs whole), the input's strides, or what else the call does.
#[test]
fn rolling_windows_of_a_vector_split_with_history() {
    let n = N;
    let chunk = split_of(
        &engine(2),
        "a * 2",
        &[("a", Arg::from(data(n, 1).as_slice()))],
    )
    .expect("splits")
    .chunk_rows;
    let (a, b) = (spread(n, 15), data(n, 16));
    let h: Vec<f32> = b.iter().map(|&v| v as f32).collect();
    // Every other element of a longer vector, and a reversed one.
    let long = data(2 * n, 17);
    let every_other = View::strided(arrjit::Buffer::F64(&long), 1, &[n], &[2]).unwrap();
    let reversed = View::strided(arrjit::Buffer::F64(&long), 2 * n - 1, &[n], &[-1]).unwrap();
    let args = [
        ("a", Arg::from(a.as_slice())),
        ("b", Arg::from(b.as_slice())),
        ("h", Arg::from(h.as_slice())),
        ("s", Arg::Array(every_other)),
        ("r", Arg::Array(reversed)),
    ];
    let short = [1, 2, 7, 100, 999, chunk / 8];
    let mut sources = Vec::new();
    for w in short
        .iter()
        .chain(&[chunk / 8 + 1, chunk - 1, chunk + 5, 3 * chunk])
    {
        sources.push(format!("rolling_mean(a, {w})"));
        sources.push(format!("rolling_std(b, {w}, ddof=1)"));
    }
    for w in short {
        for src in [
            format!("rolling_sum(a, {w}) * b"),
            format!("rolling_var(b, {w})"),
            format!("rolling_min(b, {w}) + rolling_max(a, {w})"),
            format!("rolling_mean(h, {w})"),
            format!("rolling_std(s, {w})"),
            format!("rolling_max(r, {w}) - r"),
            format!("(a - rolling_mean(a, {w})) / rolling_std(a, {w})"),
            format!("nanmax(rolling_std(b, {w}))"),
            format!("diff(rolling_mean(a, {w}), n=2)"),
        ] {
            sources.push(src);
        }
    }
    for src in &sources {
        let used = crate::util::args_read_by(src, &args);
        let split = split_of(&engine(2), src, &used).unwrap_or_else(|| panic!("{src}: not split"));
        assert!(!split.windows.is_empty(), "{src}: {split:?}");
        check_all(src, &used);
    }
    // Split at run time exactly up to windows of an eighth of a chunk.
    for (w, splits) in [(chunk / 8, true), (chunk / 8 + 1, false)] {
        let e = engine(2);
        e.eval(&format!("rolling_mean(a, {w})"), &args[..1])
            .unwrap();
        assert_eq!(e.stats().split_calls, u64::from(splits), "w = {w}");
    }
    // The window length as a kernel's scalar argument, with partials: the
    // example's rolling z-score.
    let module = include_str!("../../examples/kernels.ak");
    for w in [1i64, 5, 100, chunk as i64 / 8, chunk as i64 + 1] {
        let call = |engine: Engine| {
            let kernel = engine
                .compile_module(module)
                .unwrap()
                .kernel("zscore")
                .unwrap();
            kernel
                .call(&[("x", Arg::from(b.as_slice())), ("w", Arg::from(w))])
                .expect("runs")
        };
        let one = call(engine(1));
        for other in [call(engine(2)), call(engine(3)), call(oracle())] {
            for ((_, x), (_, y)) in one.iter().zip(&other) {
                if let Some(e) = crate::util::bitwise_diff(x, y) {
                    panic!("zscore, w = {w}: {e}");
                }
            }
        }
    }
}

#[test]
fn small_calls_are_not_split() {
    let a = data(par::THRESHOLD - 1, 1);
    let args = [("a", Arg::from(a.as_slice()))];
    assert_eq!(split_of(&engine(2), "a * 2", &args), None);
    let a = data(par::THRESHOLD, 1);
    let args = [("a", Arg::from(a.as_slice()))];
    assert!(split_of(&engine(2), "a * 2", &args).is_some());
}

#[test]
fn chunks_depend_on_the_problem_size_only() {
    for (rows, largest) in [
        (100_000, 100_000),
        (10_000_000, 10_000_000),
        (400, 400 * 500),
    ] {
        let chunk = par::chunk_rows(rows, largest);
        let chunks = rows.div_ceil(chunk);
        assert!((1..=par::MAX_CHUNKS).contains(&chunks), "{rows}: {chunks}");
        assert!(chunk * largest.div_ceil(rows) >= par::MIN_CHUNK.min(largest));
    }
    // Many chunks, not one per thread: 1M elements make at least 16.
    assert!(1_000_000usize.div_ceil(par::chunk_rows(1_000_000, 1_000_000)) >= 16);
}

#[test]
fn kernels_with_several_outputs_split_by_rows() {
    let module = "
kernel rows(m: f64[n, k], w: f64[k]) -> (z: f64[n, k], s: f64[n]) {
    z = (m - mean(m, axis=1, keepdims=true)) * w
    s = sum(m * w, axis=1)
}
kernel ewma(x: f64[n], alpha: f64) -> (y: f64[n]) {
    y[0] = x[0]
    y[i] = alpha * x[i] + (1 - alpha) * y[i-1]
}";
    let (n, k) = (2_000, 97);
    let md = data(n * k, 10);
    let w = data(k, 11);
    let mv = View::contiguous(arrjit::Buffer::F64(&md), &[n, k]).unwrap();
    let x = data(N, 12);
    for (name, args) in [
        (
            "rows",
            vec![("m", Arg::Array(mv)), ("w", Arg::from(w.as_slice()))],
        ),
        (
            "ewma",
            vec![("x", Arg::from(x.as_slice())), ("alpha", Arg::from(0.1))],
        ),
    ] {
        let call = |engine: Engine| {
            let kernel = engine.compile_module(module).unwrap().kernel(name).unwrap();
            kernel.call(&args).expect("runs")
        };
        let one = call(engine(1));
        for other in [call(engine(2)), call(engine(3)), call(oracle())] {
            for ((_, a), (_, b)) in one.iter().zip(&other) {
                if let Some(e) = crate::util::bitwise_diff(a, b) {
                    panic!("{name}: {e}");
                }
            }
        }
    }
}

#[test]
fn outputs_into_strided_views_and_in_place() {
    let (n, m) = (300, 200);
    let md = data(n * m, 13);
    let mv = View::contiguous(arrjit::Buffer::F64(&md), &[n, m]).unwrap();
    let args = [("m", Arg::Array(mv))];
    let src = "m * 2 + 1";
    let want = engine(1).eval(src, &args).unwrap();
    let e = engine(2);
    let expr = e.compile(src).unwrap();
    // Row-major with padded rows (cut), Fortran order and reversed rows
    // (not cut: their rows interleave or run backwards).
    for (offset, strides, len) in [
        (0isize, [m as isize + 3, 1], n * (m + 3)),
        (0, [1, n as isize], n * m),
        ((n as isize - 1) * m as isize, [-(m as isize), 1], n * m),
    ] {
        let mut buf = vec![f64::NAN; len];
        let out = arrjit::ViewMut::strided(
            arrjit::BufferMut::F64(&mut buf),
            offset as usize,
            &[n, m],
            &strides,
        )
        .unwrap();
        expr.eval_into(&args, out).unwrap();
        let view = View::strided(
            arrjit::Buffer::F64(&buf),
            offset as usize,
            &[n, m],
            &strides,
        )
        .unwrap();
        for i in 0..n {
            for j in 0..m {
                let (got, w) = (view.get(&[i, j]), want.get(i * m + j));
                assert_eq!(got.to_bits(), w.to_bits(), "{strides:?} [{i}, {j}]");
            }
        }
    }
    // In place: the input is the output, cut into the same chunks.
    let mut x = data(N, 14);
    let want = engine(1)
        .eval("x * 3 - 1", &[("x", Arg::from(x.as_slice()))])
        .unwrap();
    e.compile("x * 3 - 1")
        .unwrap()
        .eval_in_place("x", x.as_mut_slice(), &[])
        .unwrap();
    let got = Array::from_data(arrjit::Data::F64(x), Shape::vector(N)).unwrap();
    same_bits(&want, &got).unwrap();
}

#[test]
fn thread_counts_resolve() {
    assert_eq!(engine(3).threads(), 3);
    assert_eq!(engine(1).threads(), 1);
    assert!(Engine::new().threads() >= 1);
    assert_eq!(engine(100_000).threads(), par::MAX_THREADS);
    // Threads are not part of the cache key: one compile per engine,
    // whatever the thread count, and equal code sizes.
    let a = data(N, 15);
    let args = [("a", Arg::from(a.as_slice()))];
    let sizes: Vec<usize> = [1, 2]
        .map(|t| {
            let e = engine(t);
            e.eval("a * 2 + 1", &args).unwrap();
            e.eval("a * 2 + 1", &args).unwrap();
            let stats = e.stats();
            assert_eq!((stats.misses, stats.entries), (1, 1));
            stats.code_bytes
        })
        .to_vec();
    assert_eq!(sizes[0], sizes[1]);
}

/// Kernels whose outputs are recurrences: each kind of repair, and the
/// recurrences that stay whole.
const RECURRENCES: &str = include_str!("../recurrences.ak");

/// NaNs with distinct payloads, which the first NaN's bits must win.
fn payload_nans(n: usize, seed: u64) -> Vec<f64> {
    let mut x = spread(n, seed);
    for k in (n / 3..n).step_by(n / 7) {
        x[k] = f64::from_bits(0x7ff8_0000_0000_0000 | k as u64);
    }
    x
}

/// Zeros of both signs and a few negatives only: every running extreme
/// is a tie between zeros, which the last one must win.
fn signed_zeros(n: usize) -> Vec<f64> {
    (0..n)
        .map(|k| match k % 5 {
            0 | 3 => 0.0,
            1 => -0.0,
            2 => -1.5,
            _ => -(k as f64),
        })
        .collect()
}

/// A series that falls, so that no chunk's own extreme ever overtakes the
/// one before it; and a random walk, whose extreme rarely moves.
fn falling(n: usize) -> Vec<f64> {
    (0..n).map(|k| 1e6 - k as f64 * 0.5).collect()
}

fn walk(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut at = 0.0;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            at += (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            at
        })
        .collect()
}

/// Calls kernel `name` of [`RECURRENCES`] on 1, 2 and 3 threads and in
/// the interpreter: all the same bits. Returns the 2-thread engine's
/// split calls.
fn check_kernel(name: &str, args: &[(&str, Arg<'_>)]) -> u64 {
    let call = |engine: &Engine| {
        let kernel = (engine.compile_module(RECURRENCES).unwrap())
            .kernel(name)
            .unwrap();
        kernel.call(args).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let one = call(&engine(1));
    let two = engine(2);
    for (label, other) in [
        ("2 threads", call(&two)),
        ("3 threads", call(&engine(3))),
        ("interpreter", call(&oracle())),
    ] {
        for ((out, a), (_, b)) in one.iter().zip(&other) {
            if let Err(e) = same_bits(a, b) {
                panic!("{name} `{out}`: 1 thread vs {label}: {e}");
            }
        }
    }
    two.stats().split_calls
}

#[test]
fn recurrences_split_and_agree_bitwise() {
    // An odd length: the last chunk is short.
    {
        let n = N;
        let sets = [
            spread(n, 20),
            payload_nans(n, 21),
            signed_zeros(n),
            falling(n),
            walk(n, 22),
            data(n, 23),
        ];
        for x in &sets {
            let xs = [("x", Arg::from(x.as_slice()))];
            for name in [
                "rmax",
                "rmin_second",
                "rfmax",
                "rfmin_second",
                "with_others",
            ] {
                assert_eq!(check_kernel(name, &xs), 1, "{name} splits");
            }
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let xs32 = [("x", Arg::from(x32.as_slice()))];
            assert_eq!(check_kernel("rmax32", &xs32), 1);
            for (name, a) in [("ewma", 0.1), ("ewma", 0.999), ("lag2", 0.5)] {
                let param = if name == "ewma" { "alpha" } else { "a" };
                let args = [("x", Arg::from(x.as_slice())), (param, Arg::from(a))];
                assert_eq!(check_kernel(name, &args), 1, "{name} splits");
            }
        }
        let ints: Vec<i64> = (0..n as i64)
            .map(|k| (k * 7919) % 100_003 - k / 3)
            .collect();
        let ks = [("k", Arg::from(ints.as_slice()))];
        assert_eq!(check_kernel("imax", &ks), 1);
        assert_eq!(check_kernel("isum", &ks), 1);
    }
}

#[test]
fn repairs_recompute_what_they_must() {
    // A sum never forgets where it started: a chunk started afresh is
    // wrong to its end, and its repair recomputes all of it (a chunk
    // whose carry was known when it started is computed once, from it;
    // which happens is timing's, so the engine's unit test
    // `a_sum_is_repaired_whole` counts the rows). Eight calls, split or
    // backed off to whole, all give one thread's bits.
    let ints: Vec<i64> = (0..N as i64).map(|k| k % 1000 - 400).collect();
    let want = (engine(1).compile_module(RECURRENCES).unwrap())
        .kernel("isum")
        .unwrap()
        .call(&[("k", Arg::from(ints.as_slice()))])
        .unwrap();
    let e = engine(2);
    let kernel = e
        .compile_module(RECURRENCES)
        .unwrap()
        .kernel("isum")
        .unwrap();
    let args = [("k", Arg::from(ints.as_slice()))];
    for _ in 0..8 {
        same_bits(&want[0].1, &kernel.call(&args).unwrap()[0].1).unwrap();
    }
    // A smoothing forgets within a few hundred rows: every call splits,
    // and the repairs recompute a sliver of the rows.
    let x = spread(N, 24);
    let e = engine(2);
    let kernel = e
        .compile_module(RECURRENCES)
        .unwrap()
        .kernel("ewma")
        .unwrap();
    let args = [("x", Arg::from(x.as_slice())), ("alpha", Arg::from(0.1))];
    for _ in 0..4 {
        kernel.call(&args).unwrap();
    }
    let stats = e.stats();
    assert_eq!(stats.split_calls, 4);
    assert!(stats.repaired_rows < 4 * N as u64 / 20);
}

#[test]
fn recurrence_splits_follow_their_rules() {
    let compiled_split = |name: &str, fast_math: bool| {
        let e = Engine::with_config(Config {
            threads: 2,
            fast_math,
            ..Config::default()
        });
        let x = spread(N, 25);
        let kernel = e.compile_module(RECURRENCES).unwrap().kernel(name).unwrap();
        let mut args = vec![("x", Arg::from(x.as_slice()))];
        if name == "ewma" {
            args.push(("alpha", Arg::from(0.3)));
        }
        kernel.call(&args).unwrap();
        e.stats().split_calls
    };
    // Fast-math pairs a linear recurrence's rows from where a call
    // starts, so its chunks could not be repaired: it runs whole.
    assert_eq!(compiled_split("ewma", true), 0);
    assert_eq!(compiled_split("ewma", false), 1);
    assert_eq!(compiled_split("rmax", true), 1);
    // Contracted rules that are not paired split, with the same bits as
    // one thread's contracted code.
    let x = spread(N, 27);
    let args = [("x", Arg::from(x.as_slice())), ("a", Arg::from(0.5))];
    let fast = |threads| {
        let e = Engine::with_config(Config {
            threads,
            fast_math: true,
            ..Config::default()
        });
        let kernel = e
            .compile_module(RECURRENCES)
            .unwrap()
            .kernel("lag2")
            .unwrap();
        (kernel.call(&args).unwrap(), e.stats().split_calls)
    };
    let ((one, _), (two, splits)) = (fast(1), fast(2));
    same_bits(&one[0].1, &two[0].1).unwrap();
    assert_eq!(splits, 1);
    // The repair routines are compiled by the first call that splits.
    let e = engine(2);
    let kernel = e
        .compile_module(RECURRENCES)
        .unwrap()
        .kernel("rmax")
        .unwrap();
    let (small, big) = (spread(1000, 28), spread(N, 29));
    let small = [("x", Arg::from(small.as_slice()))];
    kernel.call(&small).unwrap();
    let before = kernel.compiled(&small).unwrap().code_bytes();
    kernel.call(&[("x", Arg::from(big.as_slice()))]).unwrap();
    let after = kernel.compiled(&small).unwrap().code_bytes();
    assert!(after > before, "{before} -> {after}");
    assert_eq!(e.stats().misses, 1);
    // The split itself: the recurrence is an output to repair.
    let x = spread(N, 26);
    let split = split_of_kernel("rmax", &[("x", Arg::from(x.as_slice()))]).expect("splits");
    assert_eq!(split.repairs.len(), 1);
    // A recurrence read by another value, or of a computed source, runs
    // whole.
    let module = "
kernel read(x: f64[n]) -> (y: f64[n], z: f64[n]) {
    y[0] = x[0]
    y[i] = maximum(y[i-1], x[i])
    z = y * 2
}
kernel computed(x: f64[n]) -> (y: f64[n]) {
    let c = x * 2
    y[0] = c[0]
    y[i] = maximum(y[i-1], c[i])
}";
    for name in ["read", "computed"] {
        let e = engine(2);
        let kernel = e.compile_module(module).unwrap().kernel(name).unwrap();
        let got = kernel.call(&[("x", Arg::from(x.as_slice()))]).unwrap();
        let want = (engine(1)
            .compile_module(module)
            .unwrap()
            .kernel(name)
            .unwrap())
        .call(&[("x", Arg::from(x.as_slice()))])
        .unwrap();
        same_bits(&want[0].1, &got[0].1).unwrap();
        assert_eq!(e.stats().split_calls, 0, "{name}");
    }
}

/// The split of kernel `name` of [`RECURRENCES`] on 2 threads.
fn split_of_kernel(name: &str, args: &[(&str, Arg<'_>)]) -> Option<Split> {
    let e = engine(2);
    let kernel = e.compile_module(RECURRENCES).unwrap().kernel(name).unwrap();
    let compiled = kernel.compiled(args).expect("compiles");
    split_for(&compiled, args.iter().copied())
}

#[test]
fn recurrences_into_strided_views() {
    use arrjit::{BufferMut, ViewMut};
    // A last chunk of one row, shorter than `lag2`'s lag.
    let n = 3 * par::THRESHOLD + 1;
    let x = walk(n, 30);
    for name in ["rmax", "ewma", "lag2"] {
        let mut args = vec![("x", Arg::from(x.as_slice()))];
        match name {
            "ewma" => args.push(("alpha", Arg::from(0.01))),
            "lag2" => args.push(("a", Arg::from(0.5))),
            _ => {}
        }
        let kernel = |e: &Engine| e.compile_module(RECURRENCES).unwrap().kernel(name).unwrap();
        let want = kernel(&engine(1)).call(&args).unwrap();
        // Every other element and every third (cut into chunks), and
        // backwards (run whole).
        for (stride, offset) in [(2isize, 0usize), (3, 1), (-2, 2 * n - 2)] {
            let e = engine(2);
            let mut out = vec![f64::NAN; 3 * n + 1];
            let view = ViewMut::strided(BufferMut::F64(&mut out), offset, &[n], &[stride]).unwrap();
            kernel(&e).call_into(&args, &mut [("y", view)]).unwrap();
            for r in 0..n {
                let got = out[(offset as isize + r as isize * stride) as usize];
                let w = want[0].1.get(r);
                assert_eq!(
                    got.to_bits(),
                    w.to_bits(),
                    "{name}, stride {stride}, row {r}"
                );
            }
            assert_eq!(
                e.stats().split_calls,
                u64::from(stride > 0),
                "{name} {stride}"
            );
        }
    }
}
