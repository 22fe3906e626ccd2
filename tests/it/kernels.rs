//! Kernel mode: parameters, `let`, several outputs, declared types and
//! dimensions, and the errors of each.

use arrjit::{Arg, Array, Buffer, BufferMut, Config, Engine, ErrorKind, Mode, View, ViewMut};

use crate::util::MODES;

const SRC: &str = r#"
# z-score over a rolling window, with its range
kernel zscore(x: f64[n], w: i64) -> (z: f64[n], lo: f64, hi: f64) {
    let m = rolling_mean(x, w)
    let s = rolling_std(x, w)
    z = (x - m) / s
    lo = nanmin(z)
    hi = nanmax(z)
}

kernel scale(x: [n], k: f64) -> (y: [n]) {
    y = x * k
}

kernel pair(a: f64[n], b: f64[n]) -> (s: f64[n], d: f64[n]) {
    s = a + b
    d = a - b
}
"#;

fn engine(mode: Mode) -> Engine {
    Engine::with_config(Config {
        mode,
        verify: true,
        ..Config::default()
    })
}

#[test]
fn zscore_matches_the_expression_form() {
    let x: Vec<f64> = (0..200).map(|i| ((i * 37) % 101) as f64 * 0.5).collect();
    for mode in MODES {
        let e = engine(mode);
        let k = e.compile_module(SRC).unwrap().kernel("zscore").unwrap();
        let out = k
            .call(&[("x", (&x).into()), ("w", Arg::from(10i64))])
            .unwrap();
        let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["z", "lo", "hi"]);
        let z = e
            .eval(
                "(x - rolling_mean(x, 10)) / rolling_std(x, 10)",
                &[("x", (&x).into())],
            )
            .unwrap();
        assert_eq!(crate::util::bitwise_diff(&z, &out[0].1), None, "{mode:?}");
        let zs = z.to_f64_vec();
        let lo = zs
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .fold(f64::INFINITY, f64::min);
        let hi = zs
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(out[1].1.to_f64_vec(), [lo], "{mode:?}");
        assert_eq!(out[2].1.to_f64_vec(), [hi], "{mode:?}");
        assert!(zs[..9].iter().all(|v| v.is_nan()), "first w-1 are NaN");
    }
}

#[test]
fn untyped_parameters_specialise_per_call() {
    let e = engine(Mode::Fused);
    let k = e.compile_module(SRC).unwrap().kernel("scale").unwrap();
    let x64 = vec![1.0f64, 2.0];
    let x32 = vec![1.0f32, 2.0];
    let a = k.call(&[("x", (&x64).into()), ("k", 2i64.into())]).unwrap();
    let b = k
        .call(&[("x", (&x32).into()), ("k", 2.0f64.into())])
        .unwrap();
    assert_eq!(a[0].1.dtype(), arrjit::DType::F64);
    // f32 * f64 scalar: the scalar parameter is a strong f64, so NumPy's
    // promotion gives f64 (the declared output `[n]` takes any float).
    assert_eq!(b[0].1.to_f64_vec(), [2.0, 4.0]);
    assert_eq!(e.stats().misses, 2, "one kernel per signature");
    // An integer array is not a float.
    let xi = vec![1i64, 2];
    let err = k
        .call(&[("x", (&xi).into()), ("k", 2.0f64.into())])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Call, "{err}");
    assert!(err.message().contains("any float dtype"), "{err}");
}

#[test]
fn several_outputs_share_a_plan() {
    let e = engine(Mode::Fused);
    let k = e.compile_module(SRC).unwrap().kernel("pair").unwrap();
    let a = vec![5.0, 7.0];
    let b = vec![1.0, 2.0];
    let out = k.call(&[("a", (&a).into()), ("b", (&b).into())]).unwrap();
    assert_eq!(out[0].1.to_f64_vec(), [6.0, 9.0]);
    assert_eq!(out[1].1.to_f64_vec(), [4.0, 5.0]);
    // Dimensions named alike must agree.
    let short = vec![1.0];
    let err = k
        .call(&[("a", (&a).into()), ("b", (&short).into())])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Shape, "{err}");
    assert!(err.message().contains("dimension `n`"), "{err}");
}

/// Repeated subexpressions are computed once (the IR keeps one node per
/// distinct computation), which must never merge values that differ:
/// signed zeros and NaN signs, another dtype, another window or `ddof`; two
/// outputs that are the same value both get it, and recurrences reading
/// a merged source still see it. Expected values are computed here.
#[test]
fn repeated_subexpressions_are_computed_once_and_only_when_identical() {
    const CSE: &str = r#"
kernel same(x: f64[n]) -> (p: f64[n], q: f64[n], r: f64[n], s: f64[n], t: f64, u: f64,
                           g: f64[n], h: f64[n], c: f64[n], d: f64[n], e1: f64[n], e2: f64[n],
                           k: f64[n], l: f64[n]) {
    p = 1.0 / (x * 0.0)
    q = 1.0 / (x * -0.0)
    r = x * 2 + x * 2
    s = x * 2 + x * 2
    t = std(x) + std(x, ddof=1)
    u = std(x) + std(x)
    g[0] = x[0] * 2
    g[i] = 0.5 * g[i-1] + x[i] * 2
    h[0] = x[0] * 2
    h[i] = 0.5 * h[i-1] + x[i] * 2
    c = cumsum(x)
    d = cumsum(x)
    e1 = shift(x, 1, fill=-1.0)
    e2 = shift(x, 1, fill=-1.0)
    k = g
    l = x
}
"#;
    let x = vec![1.0, 2.0, 4.0, 8.0];
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let m2: f64 = x.iter().map(|v| (v - mean) * (v - mean)).sum();
    let (sd0, sd1) = ((m2 / n).sqrt(), (m2 / (n - 1.0)).sqrt());
    let mut ew = vec![x[0] * 2.0];
    for i in 1..x.len() {
        ew.push(0.5 * ew[i - 1] + x[i] * 2.0);
    }
    for mode in MODES {
        let e = engine(mode);
        let k = e.compile_module(CSE).unwrap().kernel("same").unwrap();
        let out = k.call(&[("x", (&x).into())]).unwrap();
        let get = |i: usize| out[i].1.to_f64_vec();
        assert_eq!(get(0), [f64::INFINITY; 4], "{mode:?}");
        assert_eq!(get(1), [f64::NEG_INFINITY; 4], "{mode:?}");
        assert_eq!(get(2), [4.0, 8.0, 16.0, 32.0], "{mode:?}");
        assert_eq!(get(3), get(2), "{mode:?}");
        assert_eq!(get(4), [sd0 + sd1], "{mode:?}");
        assert_eq!(get(5), [sd0 + sd0], "{mode:?}");
        assert_eq!(get(6), ew, "{mode:?}");
        assert_eq!(get(7), ew, "{mode:?}");
        // Lane operations and recurrences that are several outputs write
        // each of them.
        assert_eq!(get(8), [1.0, 3.0, 7.0, 15.0], "{mode:?}");
        assert_eq!(get(9), get(8), "{mode:?}");
        assert_eq!(get(10), [-1.0, 1.0, 2.0, 4.0], "{mode:?}");
        assert_eq!(get(11), get(10), "{mode:?}");
        assert_eq!(get(12), ew, "{mode:?}");
        assert_eq!(get(13), x, "{mode:?}");
    }
}

#[test]
fn kernel_errors() {
    let e = engine(Mode::Fused);
    let x = vec![1.0, 2.0];
    let call = |src: &str, name: &str| {
        e.compile_module(src)
            .and_then(|m| m.kernel(name))
            .and_then(|k| k.call(&[("x", (&x).into())]))
            .unwrap_err()
    };
    let cases: &[(&str, ErrorKind, &str)] = &[
        (
            "kernel k(x: f64[n]) -> (y: f64[n]) { }",
            ErrorKind::Type,
            "output `y` is never defined",
        ),
        (
            "kernel k(x: f64[n]) -> (y: f64[n]) { y = x\n y = x }",
            ErrorKind::Type,
            "defined twice",
        ),
        (
            "kernel k(x: f64[n]) -> (y: f32[n]) { y = x * 2 }",
            ErrorKind::Type,
            "declared f32, but this value is f64",
        ),
        (
            "kernel k(x: f64[n]) -> (y: f64) { y = x }",
            ErrorKind::Shape,
            "declared with rank 0",
        ),
        (
            "kernel k(x: f32[n]) -> (y: f32[n]) { y = x }",
            ErrorKind::Call,
            "declared f32, but the call passes f64",
        ),
        (
            "kernel k(x: f64[n]) -> (y: f64[n]) { z = x }",
            ErrorKind::UnknownName,
            "not an output",
        ),
        (
            "kernel k(x: f64[n]) -> (y: f64[n]) { y = x + q }",
            ErrorKind::UnknownName,
            "unknown name `q`",
        ),
        (
            "kernel k(x: f64[n]) -> (y: f64[n]) { y[i] = y[i-1] + x[i] }",
            ErrorKind::Type,
            "needs boundary rows `y[0]`",
        ),
        (
            "kernel k(x: f64[n]) -> (y: f64[n]) { y[0] = x[0]\n y[i] = y[i-2] + x[i] }",
            ErrorKind::Type,
            "`y[1]` is missing",
        ),
        (
            "kernel k(x: f64[n]) -> (y: f64[n]) { y[0] = x[0]\n y[i] = y[i+1] + x[i] }",
            ErrorKind::Type,
            "reads the output at or after the row being defined",
        ),
        (
            "kernel k(x: f64[n]) -> (y: f64[n]) { y[0] = x[0] }",
            ErrorKind::Type,
            "no rule for `y[i]`",
        ),
        (
            "kernel k(x: f64[n]) -> (y: f64[n]) { y[0] = x[0]\n y[i] = x[i-2] }",
            ErrorKind::Shape,
            "reads element -1 of `x`",
        ),
        (
            "kernel k(x: f64[n]) -> (y: f64[n]) { y[0] = x\n y[i] = x[i] }",
            ErrorKind::Shape,
            "read one element",
        ),
        (
            "kernel k(x: f64[n]) -> (y: f64[n]) { y[0] = x[0]\n y[i] = x[i] + y[i-1]\n y = x }",
            ErrorKind::Type,
            "defined twice",
        ),
    ];
    for (src, kind, text) in cases {
        let err = call(src, "k");
        assert_eq!(err.kind(), *kind, "{src}: {err}");
        assert!(err.message().contains(text), "{src}: {err}");
        assert!(err.span().is_some(), "{src}: no span: {err}");
    }
    let err = call("kernel k(x: f64[n]) -> (y: f64[n]) { y = x }", "kk");
    assert_eq!(err.kind(), ErrorKind::UnknownName, "{err}");
    assert!(
        err.notes().iter().any(|n| n.contains("did you mean `k`")),
        "{err}"
    );
    let err = e
        .compile_module("kernel k(x: f64[n]) -> (y: f64[n]) { y = x }")
        .unwrap()
        .kernel("k")
        .unwrap()
        .call(&[("x", (&x).into()), ("xx", (&x).into())])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Call, "{err}");
}

const RECURRENCES: &str = r#"
kernel ewma(x: f64[n], alpha: f64) -> (y: f64[n]) {
    y[0] = x[0]
    y[i] = alpha * x[i] + (1 - alpha) * y[i-1]
}

kernel running_max(x: f64[n]) -> (y: f64[n]) {
    y[0] = x[0]
    y[i] = maximum(y[i-1], x[i])
}

kernel second_order(x: [n], a: f64, b: f64) -> (y: [n], total: f64) {
    y[0] = x[0]
    y[1] = x[1] + a * y[0]
    y[i] = x[i] + a * y[i-1] + b * y[i-2]
    total = sum(y)
}

kernel lead(x: f64[n]) -> (y: f64[n]) {
    y[0] = x[0]
    y[i] = x[i+1] + y[i-1]
}
"#;

fn walk(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| ((i * 7919) % 1000) as f64 * 0.01 - 5.0)
        .collect()
}

#[test]
fn recurrences_agree_with_their_lane_functions() {
    let x = walk(1000);
    for mode in MODES {
        let e = engine(mode);
        let m = e.compile_module(RECURRENCES).unwrap();
        let ewma = m.kernel("ewma").unwrap();
        let y = ewma
            .call(&[("x", (&x).into()), ("alpha", 0.1.into())])
            .unwrap();
        let z = e.eval("ewm_mean(x, 0.1)", &[("x", (&x).into())]).unwrap();
        assert_eq!(
            crate::util::bitwise_diff(&z, &y[0].1),
            None,
            "ewma {mode:?}"
        );
        let y = m
            .kernel("running_max")
            .unwrap()
            .call(&[("x", (&x).into())])
            .unwrap();
        let z = e.eval("cummax(x)", &[("x", (&x).into())]).unwrap();
        assert_eq!(
            crate::util::bitwise_diff(&z, &y[0].1),
            None,
            "running_max {mode:?}"
        );
    }
}

#[test]
fn a_second_order_recurrence_in_every_mode() {
    let x = walk(300);
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    // The reference: the same arithmetic written out in Rust.
    let mut want = vec![0.0f64; x.len()];
    let (a, b) = (0.5f64, -0.25f64);
    want[0] = x[0];
    want[1] = x[1] + a * want[0];
    for i in 2..x.len() {
        want[i] = x[i] + a * want[i - 1] + b * want[i - 2];
    }
    for mode in MODES {
        let e = engine(mode);
        let k = e
            .compile_module(RECURRENCES)
            .unwrap()
            .kernel("second_order")
            .unwrap();
        let out = k
            .call(&[("x", (&x).into()), ("a", a.into()), ("b", b.into())])
            .unwrap();
        assert_eq!(out[0].1.to_f64_vec(), want, "{mode:?}");
        assert_eq!(out[1].0, "total");
        // Untyped `x: [n]` specialises to f32 (the scalars are f64, so the
        // rule computes in f64 and the f32 output is a type error).
        let err = k
            .call(&[("x", (&x32).into()), ("a", a.into()), ("b", b.into())])
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Type, "{err}");
        // Zero, one and two rows: only the boundary rows that exist run.
        for n in 0..3 {
            let out = k
                .call(&[("x", Arg::from(&x[..n])), ("a", a.into()), ("b", b.into())])
                .unwrap();
            assert_eq!(out[0].1.to_f64_vec(), &want[..n], "{mode:?} n={n}");
        }
    }
}

#[test]
fn reads_past_the_end_are_refused_when_called() {
    let x = walk(10);
    for mode in MODES {
        let e = engine(mode);
        let k = e
            .compile_module(RECURRENCES)
            .unwrap()
            .kernel("lead")
            .unwrap();
        let err = k.call(&[("x", (&x).into())]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Shape, "{err}");
        assert!(
            err.message()
                .contains("element 10 of a vector of length 10"),
            "{err}"
        );
        // One row has no general rule to run, so nothing reads ahead.
        let out = k.call(&[("x", Arg::from(&x[..1]))]).unwrap();
        assert_eq!(out[0].1.to_f64_vec(), [x[0]]);
    }
}

// --- recurrences: the branchy min/max, hoisted work, pointer rows -----------

/// NumPy's `maximum`/`minimum` (the first NaN operand itself, else the
/// second operand on ties) and `fmax`/`fmin` (NaN ignored), written out
/// again so that the tests below have an oracle besides the interpreter.
fn minmax_oracle(op: &str, a: f64, b: f64) -> f64 {
    let pick = |a_wins: bool| if a_wins { a } else { b };
    match op {
        "maximum" if a.is_nan() => a,
        "maximum" if b.is_nan() => b,
        "maximum" => pick(a > b),
        "minimum" if a.is_nan() => a,
        "minimum" if b.is_nan() => b,
        "minimum" => pick(a < b),
        "fmax" if a.is_nan() => b,
        "fmax" if b.is_nan() => a,
        "fmax" => pick(a > b),
        "fmin" if a.is_nan() => b,
        "fmin" if b.is_nan() => a,
        "fmin" => pick(a < b),
        _ => unreachable!("{op}"),
    }
}

/// Inputs that exercise every rule of min and max: NaNs (with different
/// signs and payloads, so that which NaN survives shows) first, in the
/// middle and last; signed zeros next to each other; infinities; ties.
fn minmax_inputs() -> Vec<Vec<f64>> {
    let nan_a = f64::from_bits(0x7ff8_0000_0000_0001);
    let nan_b = f64::from_bits(0xfff8_0000_0000_0002);
    let walk = walk(50);
    let mut with_nans = walk.clone();
    with_nans[7] = nan_a;
    with_nans[8] = nan_b;
    with_nans[30] = nan_b;
    let mut late_nan = walk.clone();
    late_nan[49] = nan_a;
    vec![
        vec![],
        vec![1.5],
        vec![nan_a],
        vec![nan_a, 1.0, nan_b, 2.0, -1.0],
        vec![1.0, nan_a, 3.0, nan_b, 0.5],
        vec![0.0, -0.0, 0.0, -0.0, -0.0, 0.0],
        vec![-0.0, 0.0, -0.0, 0.0],
        vec![
            1.0,
            f64::INFINITY,
            2.0,
            f64::NEG_INFINITY,
            f64::INFINITY,
            nan_a,
        ],
        vec![f64::NEG_INFINITY, -1e308, f64::NEG_INFINITY, 3.0, 3.0, 3.0],
        vec![2.0, 2.0, 1.0, 1.0, 2.0, 3.0, 3.0],
        walk,
        with_nans,
        late_nan,
    ]
}

/// `x` as a view whose elements are `step` apart (junk between them), or
/// running backwards over a reversed copy.
fn strided_copy(x: &[f64], step: usize, reverse: bool) -> (Vec<f64>, usize, isize) {
    let n = x.len();
    let mut buf = vec![-7777.25; (n * step).max(1)];
    for (k, &v) in x.iter().enumerate() {
        let at = if reverse {
            (n - 1 - k) * step
        } else {
            k * step
        };
        buf[at] = v;
    }
    let (offset, stride) = if reverse && n > 0 {
        ((n - 1) * step, -(step as isize))
    } else {
        (0, step as isize)
    };
    (buf, offset, stride)
}

#[test]
fn min_max_recurrences_are_bitwise_in_every_mode_and_layout() {
    let engines = crate::util::engines();
    for op in ["maximum", "minimum", "fmax", "fmin"] {
        for carried_first in [true, false] {
            let rule = if carried_first {
                format!("{op}(y[i-1], x[i])")
            } else {
                format!("{op}(x[i], y[i-1])")
            };
            let src =
                format!("kernel k(x: f64[n]) -> (y: f64[n]) {{\n y[0] = x[0]\n y[i] = {rule}\n}}");
            for x in minmax_inputs() {
                // The oracle, written out.
                let mut want: Vec<f64> = Vec::with_capacity(x.len());
                for (i, &v) in x.iter().enumerate() {
                    want.push(match i {
                        0 => v,
                        _ if carried_first => minmax_oracle(op, want[i - 1], v),
                        _ => minmax_oracle(op, v, want[i - 1]),
                    });
                }
                let want_bits: Vec<u64> = want.iter().map(|v| v.to_bits()).collect();
                for (step, reverse) in [(1, false), (2, false), (1, true), (3, true)] {
                    let (buf, offset, stride) = strided_copy(&x, step, reverse);
                    let view =
                        View::strided(Buffer::F64(&buf), offset, &[x.len()], &[stride]).unwrap();
                    for (mode, e) in &engines {
                        let k = e.compile_module(&src).unwrap().kernel("k").unwrap();
                        let out = k.call(&[("x", Arg::Array(view))]).unwrap();
                        let got: Vec<u64> =
                            out[0].1.to_f64_vec().iter().map(|v| v.to_bits()).collect();
                        assert_eq!(
                            got, want_bits,
                            "{mode:?} {rule} step {step} reverse {reverse} x = {x:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn min_max_recurrences_of_f32_and_integers_agree_with_the_interpreter() {
    let engines = crate::util::engines();
    let x = walk(200);
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let mut x32_nan = x32.clone();
    x32_nan[3] = f32::NAN;
    x32_nan[100] = -0.0;
    x32_nan[101] = 0.0;
    let xi: Vec<i64> = (0..200).map(|i| ((i * 7919) % 1000) - 500).collect();
    let xi32: Vec<i32> = xi.iter().map(|&v| v as i32).collect();
    let mut extremes: Vec<i64> = vec![i64::MIN, 0, i64::MAX, i64::MIN, -1, i64::MAX, 5, 5];
    extremes.extend(&xi);
    for op in ["maximum", "minimum", "fmax", "fmin"] {
        for rule in [
            format!("{op}(y[i-1], x[i])"),
            format!("{op}(x[i], y[i-1])"),
            // The new value computed from several taps; from the carried
            // value itself (no branch: the general blend).
            format!("{op}(x[i] - x[i-1], y[i-1])"),
            format!("{op}(y[i-1], x[i] - y[i-1] * 2)"),
        ] {
            for ty in ["f32", "i64", "i32"] {
                let src = format!(
                    "kernel k(x: {ty}[n]) -> (y: {ty}[n]) {{\n y[0] = x[0]\n y[i] = {rule}\n}}"
                );
                let inputs: Vec<Arg<'_>> = match ty {
                    "f32" => vec![Arg::from(&x32), Arg::from(&x32_nan)],
                    "i64" => vec![Arg::from(&xi), Arg::from(&extremes)],
                    _ => vec![Arg::from(&xi32)],
                };
                for arg in inputs {
                    let results: Vec<Array> = engines
                        .iter()
                        .map(|(_, e)| {
                            let k = e.compile_module(&src).unwrap().kernel("k").unwrap();
                            k.call(&[("x", arg)]).unwrap().remove(0).1
                        })
                        .collect();
                    for (r, (mode, _)) in results.iter().zip(&engines).skip(1) {
                        assert_eq!(
                            crate::util::bitwise_diff(&results[0], r),
                            None,
                            "{mode:?} {src}"
                        );
                    }
                }
            }
        }
    }
}

/// Rule values that no row changes are computed once, before the loop:
/// they must give what computing them per row gives, including integer
/// division by zero (0) and `MIN // -1` (wraps), host calls, and nothing
/// at all when no general row exists.
#[test]
fn hoisted_rule_values_keep_their_semantics() {
    const SRC: &str = r#"
kernel idiv(x: i64[n], m: i64, k: i64) -> (y: i64[n]) {
    y[0] = x[0]
    y[i] = y[i-1] + x[i] * (m // k) + m % k
}

kernel call(x: f64[n], a: f64) -> (y: f64[n]) {
    y[0] = x[0]
    y[i] = y[i-1] * exp(-a) + x[i] * (1 - a) + sin(a) * 0.5
}

kernel lags(x: f64[n], c: f64) -> (y: f64[n]) {
    y[0] = x[0]
    y[1] = x[1]
    y[i] = x[i] - x[i-2] * c + 0.5 * y[i-2] - y[i-1] / (c * c + 1)
}

kernel none(x: f64[n], c: f64) -> (y: f64[n]) {
    y[i] = x[i] * (c + 1)
}
"#;
    let engines = crate::util::engines();
    let xi: Vec<i64> = (0..40).map(|i| (i * 37 % 11) - 5).collect();
    let x = walk(60);
    let run = |name: &str, args: &[(&str, Arg<'_>)]| -> Vec<Array> {
        engines
            .iter()
            .map(|(mode, e)| {
                let k = e.compile_module(SRC).unwrap().kernel(name).unwrap();
                let mut out = k.call(args).unwrap_or_else(|err| panic!("{mode:?}: {err}"));
                out.remove(0).1
            })
            .collect()
    };
    let same = |what: &str, results: &[Array]| {
        for (r, (mode, _)) in results.iter().zip(&engines).skip(1) {
            assert_eq!(
                crate::util::bitwise_diff(&results[0], r),
                None,
                "{mode:?} {what}"
            );
        }
    };
    for (m, k) in [(7i64, 0i64), (i64::MIN, -1), (-9, 4), (9, -4), (0, 0)] {
        for n in [0, 1, 2, 40] {
            let args = [
                ("x", Arg::from(&xi[..n])),
                ("m", Arg::from(m)),
                ("k", Arg::from(k)),
            ];
            let results = run("idiv", &args);
            same(&format!("idiv m={m} k={k} n={n}"), &results);
            // Written out: `//` and `%` by zero give 0, MIN // -1 wraps.
            // Floor division; the remainder has the divisor's sign.
            let (q, r) = match k {
                0 => (0, 0),
                _ => {
                    let (q, r) = (m.wrapping_div(k), m.wrapping_rem(k));
                    if r != 0 && (r < 0) != (k < 0) {
                        (q - 1, r + k)
                    } else {
                        (q, r)
                    }
                }
            };
            let mut want: Vec<i64> = Vec::new();
            for i in 0..n {
                want.push(match i {
                    0 => xi[0],
                    _ => want[i - 1].wrapping_add(xi[i].wrapping_mul(q).wrapping_add(r)),
                });
            }
            let arrjit::Data::I64(got) = results[2].data() else {
                panic!("idiv gives i64")
            };
            assert_eq!(got, &want, "idiv m={m} k={k} n={n}");
        }
    }
    for a in [0.25, f64::NAN, f64::INFINITY, -0.0] {
        for n in [0, 1, 2, 60] {
            let args = [("x", Arg::from(&x[..n])), ("a", Arg::from(a))];
            same(&format!("call a={a} n={n}"), &run("call", &args));
        }
    }
    for c in [0.5, -3.0] {
        for n in [0, 1, 2, 3, 10, 60] {
            // Packed, every third element, and backwards every other one.
            let (buf3, offset3, stride3) = strided_copy(&x[..n], 3, false);
            let (buf2, offset2, stride2) = strided_copy(&x[..n], 2, true);
            let views = [
                Arg::from(&x[..n]),
                Arg::Array(View::strided(Buffer::F64(&buf3), offset3, &[n], &[stride3]).unwrap()),
                Arg::Array(View::strided(Buffer::F64(&buf2), offset2, &[n], &[stride2]).unwrap()),
            ];
            let mut want = Vec::new();
            for i in 0..n {
                want.push(match i {
                    0 | 1 => x[i],
                    _ => x[i] - x[i - 2] * c + 0.5 * want[i - 2] - want[i - 1] / (c * c + 1.0),
                });
            }
            for arg in views {
                let results = run("lags", &[("x", arg), ("c", Arg::from(c))]);
                same(&format!("lags c={c} n={n}"), &results);
                assert_eq!(results[2].to_f64_vec(), want, "lags c={c} n={n}");
            }
        }
    }
    for n in [0, 1, 5] {
        let args = [("x", Arg::from(&x[..n])), ("c", Arg::from(2.0))];
        let results = run("none", &args);
        same(&format!("none n={n}"), &results);
        let want: Vec<f64> = x[..n].iter().map(|v| v * 3.0).collect();
        assert_eq!(results[2].to_f64_vec(), want);
    }
}

// --- call_into --------------------------------------------------------------

#[test]
fn call_into_writes_the_given_outputs_and_returns_the_others() {
    let x: Vec<f64> = (0..200).map(|i| ((i * 37) % 101) as f64 * 0.5).collect();
    for mode in MODES {
        let e = engine(mode);
        let k = e.compile_module(SRC).unwrap().kernel("zscore").unwrap();
        let args = [("x", Arg::from(&x)), ("w", Arg::from(10i64))];
        let want = k.call(&args).unwrap();
        // All outputs given: nothing returned. `hi` goes to a rank-0 view.
        let mut z = vec![0.0f64; x.len()];
        let mut lo = [0.0f64];
        let mut hi = Array::zeros(arrjit::DType::F64, arrjit::Shape::SCALAR);
        {
            let mut outs = [
                ("hi", ViewMut::from(&mut hi)),
                ("z", ViewMut::from(&mut z[..])),
                (
                    "lo",
                    ViewMut::contiguous(BufferMut::F64(&mut lo), &[]).unwrap(),
                ),
            ];
            let rest = k.call_into(&args, &mut outs).unwrap();
            assert!(rest.is_empty(), "{mode:?}");
            // The same views again: they are reborrowed, not consumed.
            assert!(k.call_into(&args, &mut outs).unwrap().is_empty());
        }
        let zs = Array::from_data(arrjit::Data::F64(z.clone()), want[0].1.shape()).unwrap();
        assert_eq!(crate::util::bitwise_diff(&want[0].1, &zs), None, "{mode:?}");
        assert_eq!(
            lo[0].to_bits(),
            want[1].1.get(0).as_f64().to_bits(),
            "{mode:?}"
        );
        assert_eq!(crate::util::bitwise_diff(&want[2].1, &hi), None, "{mode:?}");
        // Only `z` given: `lo` and `hi` come back, in declaration order.
        let mut z2 = vec![0.0f64; x.len()];
        let rest = k
            .call_into(&args, &mut [("z", ViewMut::from(&mut z2[..]))])
            .unwrap();
        let names: Vec<&str> = rest.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["lo", "hi"], "{mode:?}");
        assert_eq!(
            z2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            z.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(crate::util::bitwise_diff(&want[1].1, &rest[0].1), None);
    }
}

#[test]
fn call_into_writes_strided_and_reversed_views_of_recurrences() {
    let x = walk(300);
    for mode in MODES {
        let e = engine(mode);
        let m = e.compile_module(RECURRENCES).unwrap();
        for name in ["ewma", "running_max"] {
            let k = m.kernel(name).unwrap();
            let mut args = vec![("x", Arg::from(&x))];
            if name == "ewma" {
                args.push(("alpha", Arg::from(0.1)));
            }
            let want = k.call(&args).unwrap().remove(0).1.to_f64_vec();
            // Every other element of a buffer, then backwards.
            for (step, reverse) in [(2usize, false), (1, true), (3, true)] {
                let sentinel = -999.5;
                let mut buf = vec![sentinel; x.len() * step];
                let (offset, stride) = if reverse {
                    ((x.len() - 1) * step, -(step as isize))
                } else {
                    (0, step as isize)
                };
                let view =
                    ViewMut::strided(BufferMut::F64(&mut buf), offset, &[x.len()], &[stride])
                        .unwrap();
                let rest = k.call_into(&args, &mut [("y", view)]).unwrap();
                assert!(rest.is_empty());
                for (i, w) in want.iter().enumerate() {
                    let at = (offset as isize + i as isize * stride) as usize;
                    assert_eq!(buf[at].to_bits(), w.to_bits(), "{mode:?} {name} row {i}");
                }
                let untouched = buf.iter().filter(|&&v| v.to_bits() == sentinel.to_bits());
                assert_eq!(untouched.count(), x.len() * (step - 1), "{mode:?} {name}");
            }
        }
    }
}

#[test]
fn call_into_checks_everything_before_writing() {
    let x = walk(10);
    let e = engine(Mode::Fused);
    let m = e.compile_module(RECURRENCES).unwrap();
    let k = m.kernel("running_max").unwrap();
    let args = [("x", Arg::from(&x))];
    let sentinel = 42.25f64;
    let mut y = [sentinel; 10];
    let mut short = vec![sentinel; 9];
    let mut y32 = [0.0f32; 10];
    let check = |outs: &mut [(&str, ViewMut<'_>)], kind: ErrorKind, text: &str| {
        let err = k.call_into(&args, outs).unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert!(err.message().contains(text), "{err}");
    };
    check(
        &mut [("yy", ViewMut::from(&mut y[..]))],
        ErrorKind::Call,
        "`yy` is not an output of kernel `running_max`",
    );
    check(
        &mut [("y", ViewMut::from(&mut short[..]))],
        ErrorKind::Call,
        "the array given for output `y` is f64 of shape",
    );
    check(
        &mut [("y", ViewMut::from(&mut y32[..]))],
        ErrorKind::Call,
        "is f32 of shape",
    );
    let (a, b) = y.split_at_mut(5);
    check(
        &mut [("y", ViewMut::from(a)), ("y", ViewMut::from(b))],
        ErrorKind::Call,
        "output `y` is given twice",
    );
    assert!(
        y.iter().chain(&short).all(|&v| v == sentinel),
        "nothing written"
    );
    let err = k
        .call_into(&args, &mut [("yy", ViewMut::from(&mut y[..]))])
        .unwrap_err();
    assert!(
        err.notes().iter().any(|n| n.contains("did you mean `y`")),
        "{err}"
    );
    // A named dimension the output breaks is refused before anything runs.
    let src = "kernel d(x: f64[n]) -> (y: f64[n]) { y = diff(x) }";
    let d = e.compile_module(src).unwrap().kernel("d").unwrap();
    let mut nine = [sentinel; 9];
    let err = d
        .call_into(&args, &mut [("y", ViewMut::from(&mut nine[..]))])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Shape, "{err}");
    assert!(err.message().contains("dimension `n`"), "{err}");
    assert!(nine.iter().all(|&v| v == sentinel), "nothing written");
}

/// A call large enough to be split over threads writes the caller's view
/// chunk by chunk, next to a fresh output.
#[test]
fn call_into_splits_over_threads_like_call() {
    let n = 300_000;
    let a: Vec<f64> = (0..n).map(|i| (i % 977) as f64 * 0.25).collect();
    let b: Vec<f64> = (0..n).map(|i| (i % 613) as f64 - 7.0).collect();
    let e = Engine::with_config(Config {
        threads: 2,
        ..Config::default()
    });
    let k = e.compile_module(SRC).unwrap().kernel("pair").unwrap();
    let args = [("a", Arg::from(&a)), ("b", Arg::from(&b))];
    let mut d = vec![0.0; n];
    let rest = k
        .call_into(&args, &mut [("d", ViewMut::from(&mut d[..]))])
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].0, "s");
    let s = rest[0].1.to_f64_vec();
    for i in 0..n {
        assert_eq!(s[i], a[i] + b[i]);
        assert_eq!(d[i], a[i] - b[i]);
    }
}
