//! Kernel mode: parameters, `let`, several outputs, declared types and
//! dimensions, and the errors of each.

use arrjit::{Arg, Config, Engine, ErrorKind, Mode};

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
