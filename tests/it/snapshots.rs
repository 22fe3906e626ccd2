//! Pinned text: the typed IR, the fused and unfused plans, and rendered
//! diagnostics. Update with
//! `UPDATE_EXPECT=1 cargo test --release --test it snapshots`
//! and review the diff.

use std::sync::Arc;

use arrjit::engine::Compiled;
use arrjit::ir::Op;
use arrjit::{diagnostic, Arg, Buffer, Config, Engine, Error, Mode, Scalar, View};
use expect_test::{expect, Expect};

fn engine(mode: Mode) -> Engine {
    Engine::with_config(Config {
        mode,
        verify: true,
        ..Config::default()
    })
}

fn compiled(mode: Mode, src: &str, args: &[(&str, Arg<'_>)]) -> Arc<Compiled> {
    engine(mode)
        .compile(src)
        .and_then(|e| e.compiled(args))
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

/// Snapshots the IR (same in both modes) and both plans.
fn check(src: &str, args: &[(&str, Arg<'_>)], ir: Expect, fused: Expect, unfused: Expect) {
    let f = compiled(Mode::Fused, src, args);
    let u = compiled(Mode::Unfused, src, args);
    assert_eq!(f.ir, u.ir, "{src}: the IR does not depend on the mode");
    ir.assert_eq(&f.ir.to_string());
    fused.assert_eq(&f.plan.to_string());
    unfused.assert_eq(&u.plan.to_string());
}

const A: [f64; 3] = [1.0, 2.0, 3.0];

fn v64(x: &[f64]) -> Arg<'_> {
    Arg::Array(View::vector(Buffer::F64(x)))
}

#[test]
fn polynomial() {
    let args = [("a", v64(&A)), ("b", v64(&A)), ("c", v64(&A))];
    check(
        "2*a + 3*b**2 - sqrt(c)",
        &args,
        expect![[r#""#]],
        expect![[r#""#]],
        expect![[r#""#]],
    );
}

/// The fused plan of the polynomial is one loop with no temporary; the
/// unfused plan has one loop per operation, each storing its result.
#[test]
fn polynomial_fuses_into_one_loop() {
    let src = "2*a + 3*b**2 - sqrt(c)";
    let args = [("a", v64(&A)), ("b", v64(&A)), ("c", v64(&A))];
    let f = compiled(Mode::Fused, src, &args);
    assert_eq!(f.plan.loops.len(), 1, "{}", f.plan);
    assert_eq!(f.plan.num_temps(), 0, "{}", f.plan);
    let u = compiled(Mode::Unfused, src, &args);
    let ops = u
        .ir
        .nodes
        .iter()
        .filter(|n| !matches!(n.op, Op::Input(_) | Op::Const(_)))
        .count();
    assert_eq!(ops, 6, "{}", u.ir);
    assert_eq!(u.plan.loops.len(), ops, "{}", u.plan);
    assert_eq!(u.plan.num_temps(), ops - 1, "{}", u.plan);
    for nest in &u.plan.loops {
        assert_eq!(nest.compute.len(), 1, "{}", u.plan);
        assert_eq!(nest.stores.len(), 1, "{}", u.plan);
    }
}

#[test]
fn where_branches() {
    check(
        "where(x > 0.5, x*10, x*0.5)",
        &[("x", v64(&A))],
        expect![[r#""#]],
        expect![[r#""#]],
        expect![[r#""#]],
    );
}

#[test]
fn select_chain() {
    check(
        "select([x < -1, x < 1], [0.0, x], x * 2)",
        &[("x", v64(&A))],
        expect![[r#""#]],
        expect![[r#""#]],
        expect![[r#""#]],
    );
}

#[test]
fn clip() {
    check(
        "clip(x, 0, 1)",
        &[("x", v64(&A))],
        expect![[r#""#]],
        expect![[r#""#]],
        expect![[r#""#]],
    );
}

#[test]
fn f32_weak_literals() {
    let x = [1.0f32, 2.0];
    check(
        "x * 2.5 + 1 - i",
        &[
            ("x", Arg::Array(View::vector(Buffer::F32(&x)))),
            ("i", Arg::Scalar(Scalar::I32(3))),
        ],
        expect![[r#""#]],
        expect![[r#""#]],
        expect![[r#""#]],
    );
}

#[test]
fn broadcast_column_and_row() {
    let col = [1.0, 2.0, 3.0];
    let row = [10.0, 20.0];
    check(
        "a * b + 1",
        &[
            ("a", Arg::Array(View::contiguous(Buffer::F64(&col), &[3, 1]).unwrap())),
            ("b", v64(&row)),
        ],
        expect![[r#""#]],
        expect![[r#""#]],
        expect![[r#""#]],
    );
}

/// The error of evaluating `src` on `args`, rendered as the CLI shows it.
fn diag(src: &str, args: &[(&str, Arg<'_>)]) -> String {
    let err: Error = engine(Mode::Fused)
        .compile(src)
        .and_then(|e| e.eval(args))
        .expect_err(src);
    format!("[{:?}]\n{}", err.kind(), diagnostic::render(&err, "<expr>", src, false))
}

#[test]
fn diagnostics() {
    let x = [1.0, 2.0, 3.0];
    let y = [1.0, 2.0];
    let i = [1i32, 2, 3];
    let xa = || ("x", v64(&x));
    expect![[r#""#]].assert_eq(&diag("x $ 2", &[xa()]));
    expect![[r#""#]].assert_eq(&diag("sqrt(x) * (x + ", &[xa()]));
    expect![[r#""#]].assert_eq(&diag("0 < x < 1", &[xa()]));
    expect![[r#""#]].assert_eq(&diag(&format!("{}x{}", "(".repeat(300), ")".repeat(300)), &[xa()]));
    expect![[r#""#]].assert_eq(&diag("sqr(x) + 1", &[xa()]));
    expect![[r#""#]].assert_eq(&diag("hypot(x)", &[xa()]));
    expect![[r#""#]].assert_eq(&diag("sqrt(x, axis=0)", &[xa()]));
    expect![[r#""#]].assert_eq(&diag("x & 1", &[xa()]));
    expect![[r#""#]].assert_eq(&diag("i + 3000000000", &[("i", Arg::Array(View::vector(Buffer::I32(&i))))]));
    expect![[r#""#]].assert_eq(&diag("x * 2 + y", &[xa(), ("y", v64(&y))]));
    expect![[r#""#]].assert_eq(&diag("x - mean(x)", &[xa()]));
    expect![[r#""#]].assert_eq(&diag("x + y", &[xa()]));
    expect![[r#""#]].assert_eq(&diag("x + 1", &[xa(), ("z", v64(&y))]));
}

/// `UnknownName` comes from picking a kernel of a module by name.
#[test]
fn diagnostic_unknown_kernel() {
    let src = "kernel ewma(x: f64[n], alpha: f64) -> (y: f64[n]) {\n    y[0] = x[0]\n    y[i] = alpha * x[i] + (1 - alpha) * y[i-1]\n}\n";
    let module = engine(Mode::Fused).compile_module(src).unwrap();
    let err = module.kernel("ewm").expect_err("no such kernel");
    expect![[r#""#]].assert_eq(&format!(
        "[{:?}]\n{}",
        err.kind(),
        diagnostic::render(&err, "<module>", src, false)
    ));
}
