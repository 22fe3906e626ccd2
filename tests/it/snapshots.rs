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
        expect![[r#"
            in0 a: f64[n]
            in1 b: f64[n]
            in2 c: f64[n]
            v0: f64[n] = input in0
            v1: f64 = const 2.0
            v2: f64[n] = mul v1, v0
            v3: f64[n] = input in1
            v4: f64[n] = mul v3, v3
            v5: f64 = const 3.0
            v6: f64[n] = mul v5, v4
            v7: f64[n] = add v2, v6
            v8: f64[n] = input in2
            v9: f64[n] = sqrt v8
            v10: f64[n] = sub v7, v9
            return v10"#]],
        expect![[r#"
            b0: f64 input 0, shape of v0
            b1: f64 input 1, shape of v3
            b2: f64 input 2, shape of v8
            b3: f64 output 0, shape of v10
            loop 0 over shape of v10 (rank 1):
              load    v0@b0 v3@b1 v8@b2
              compute v2 v4 v6 v7 v9 v10
              store   v10@b3
            1 loop(s), 0 temporary buffer(s)"#]],
        expect![[r#"
            b0: f64 input 0, shape of v0
            b1: f64 input 1, shape of v3
            b2: f64 input 2, shape of v8
            b3: f64 output 0, shape of v10
            b4: f64 temporary, shape of v2 (one loop per operation (unfused))
            b5: f64 temporary, shape of v4 (one loop per operation (unfused))
            b6: f64 temporary, shape of v6 (one loop per operation (unfused))
            b7: f64 temporary, shape of v7 (one loop per operation (unfused))
            b8: f64 temporary, shape of v9 (one loop per operation (unfused))
            loop 0 over shape of v2 (rank 1):
              load    v0@b0
              compute v2
              store   v2@b4
            loop 1 over shape of v4 (rank 1):
              load    v3@b1
              compute v4
              store   v4@b5
            loop 2 over shape of v6 (rank 1):
              load    v4@b5
              compute v6
              store   v6@b6
            loop 3 over shape of v7 (rank 1):
              load    v2@b4 v6@b6
              compute v7
              store   v7@b7
            loop 4 over shape of v9 (rank 1):
              load    v8@b2
              compute v9
              store   v9@b8
            loop 5 over shape of v10 (rank 1):
              load    v7@b7 v9@b8
              compute v10
              store   v10@b3
            6 loop(s), 5 temporary buffer(s)"#]],
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
    let ops =
        u.ir.nodes
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
        expect![[r#"
            in0 x: f64[n]
            v0: f64[n] = input in0
            v1: f64 = const 0.5
            v2: bool[n] = gt v0, v1
            v3: f64 = const 10.0
            v4: f64[n] = mul v0, v3
            v5: f64[n] = mul v0, v1
            v6: f64[n] = where v2, v4, v5
            return v6"#]],
        expect![[r#"
            b0: f64 input 0, shape of v0
            b1: f64 output 0, shape of v6
            loop 0 over shape of v6 (rank 1):
              load    v0@b0
              compute v2 v4 v5 v6
              store   v6@b1
            1 loop(s), 0 temporary buffer(s)"#]],
        expect![[r#"
            b0: f64 input 0, shape of v0
            b1: f64 output 0, shape of v6
            b2: bool temporary, shape of v2 (one loop per operation (unfused))
            b3: f64 temporary, shape of v4 (one loop per operation (unfused))
            b4: f64 temporary, shape of v5 (one loop per operation (unfused))
            loop 0 over shape of v2 (rank 1):
              load    v0@b0
              compute v2
              store   v2@b2
            loop 1 over shape of v4 (rank 1):
              load    v0@b0
              compute v4
              store   v4@b3
            loop 2 over shape of v5 (rank 1):
              load    v0@b0
              compute v5
              store   v5@b4
            loop 3 over shape of v6 (rank 1):
              load    v2@b2 v4@b3 v5@b4
              compute v6
              store   v6@b1
            4 loop(s), 3 temporary buffer(s)"#]],
    );
}

#[test]
fn select_chain() {
    check(
        "select([x < -1, x < 1], [0.0, x], x * 2)",
        &[("x", v64(&A))],
        expect![[r#"
            in0 x: f64[n]
            v0: f64[n] = input in0
            v1: f64 = const -1.0
            v2: bool[n] = lt v0, v1
            v3: f64 = const 1.0
            v4: bool[n] = lt v0, v3
            v5: f64 = const 2.0
            v6: f64[n] = mul v0, v5
            v7: f64[n] = where v4, v0, v6
            v8: f64 = const 0.0
            v9: f64[n] = where v2, v8, v7
            return v9"#]],
        expect![[r#"
            b0: f64 input 0, shape of v0
            b1: f64 output 0, shape of v9
            loop 0 over shape of v9 (rank 1):
              load    v0@b0
              compute v2 v4 v6 v7 v9
              store   v9@b1
            1 loop(s), 0 temporary buffer(s)"#]],
        expect![[r#"
            b0: f64 input 0, shape of v0
            b1: f64 output 0, shape of v9
            b2: bool temporary, shape of v2 (one loop per operation (unfused))
            b3: bool temporary, shape of v4 (one loop per operation (unfused))
            b4: f64 temporary, shape of v6 (one loop per operation (unfused))
            b5: f64 temporary, shape of v7 (one loop per operation (unfused))
            loop 0 over shape of v2 (rank 1):
              load    v0@b0
              compute v2
              store   v2@b2
            loop 1 over shape of v4 (rank 1):
              load    v0@b0
              compute v4
              store   v4@b3
            loop 2 over shape of v6 (rank 1):
              load    v0@b0
              compute v6
              store   v6@b4
            loop 3 over shape of v7 (rank 1):
              load    v4@b3 v0@b0 v6@b4
              compute v7
              store   v7@b5
            loop 4 over shape of v9 (rank 1):
              load    v2@b2 v7@b5
              compute v9
              store   v9@b1
            5 loop(s), 4 temporary buffer(s)"#]],
    );
}

#[test]
fn clip() {
    check(
        "clip(x, 0, 1)",
        &[("x", v64(&A))],
        expect![[r#"
            in0 x: f64[n]
            v0: f64[n] = input in0
            v1: f64 = const 0.0
            v2: f64 = const 1.0
            v3: f64[n] = maximum v1, v0
            v4: f64[n] = minimum v2, v3
            return v4"#]],
        expect![[r#"
            b0: f64 input 0, shape of v0
            b1: f64 output 0, shape of v4
            loop 0 over shape of v4 (rank 1):
              load    v0@b0
              compute v3 v4
              store   v4@b1
            1 loop(s), 0 temporary buffer(s)"#]],
        expect![[r#"
            b0: f64 input 0, shape of v0
            b1: f64 output 0, shape of v4
            b2: f64 temporary, shape of v3 (one loop per operation (unfused))
            loop 0 over shape of v3 (rank 1):
              load    v0@b0
              compute v3
              store   v3@b2
            loop 1 over shape of v4 (rank 1):
              load    v3@b2
              compute v4
              store   v4@b1
            2 loop(s), 1 temporary buffer(s)"#]],
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
        expect![[r#"
            in0 x: f32[n]
            in1 i: i32
            v0: f32[n] = input in0
            v1: f32 = const 2.5
            v2: f32[n] = mul v0, v1
            v3: f32 = const 1.0
            v4: f32[n] = add v2, v3
            v5: i32 = input in1
            v6: f64[n] = cast v4
            v7: f64 = cast v5
            v8: f64[n] = sub v6, v7
            return v8"#]],
        expect![[r#"
            b0: f32 input 0, shape of v0
            b1: i32 input 1, shape of v5
            b2: f64 output 0, shape of v8
            loop 0 over shape of v8 (rank 1):
              load    v0@b0 v5@b1
              compute v2 v4 v6 v7 v8
              store   v8@b2
            1 loop(s), 0 temporary buffer(s)"#]],
        expect![[r#"
            b0: f32 input 0, shape of v0
            b1: i32 input 1, shape of v5
            b2: f64 output 0, shape of v8
            b3: f32 temporary, shape of v2 (one loop per operation (unfused))
            b4: f32 temporary, shape of v4 (one loop per operation (unfused))
            b5: f64 temporary, shape of v6 (one loop per operation (unfused))
            b6: f64 temporary, shape of v7 (one loop per operation (unfused))
            loop 0 over shape of v2 (rank 1):
              load    v0@b0
              compute v2
              store   v2@b3
            loop 1 over shape of v4 (rank 1):
              load    v2@b3
              compute v4
              store   v4@b4
            loop 2 over shape of v6 (rank 1):
              load    v4@b4
              compute v6
              store   v6@b5
            loop 3 over shape of v7 (rank 0):
              load    v5@b1
              compute v7
              store   v7@b6
            loop 4 over shape of v8 (rank 1):
              load    v6@b5 v7@b6
              compute v8
              store   v8@b2
            5 loop(s), 4 temporary buffer(s)"#]],
    );
}

#[test]
fn broadcast_column_and_row() {
    let col = [1.0, 2.0, 3.0];
    let row = [10.0, 20.0];
    check(
        "a * b + 1",
        &[
            (
                "a",
                Arg::Array(View::contiguous(Buffer::F64(&col), &[3, 1]).unwrap()),
            ),
            ("b", v64(&row)),
        ],
        expect![[r#"
            in0 a: f64[n, m]
            in1 b: f64[n]
            v0: f64[n, m] = input in0
            v1: f64[n] = input in1
            v2: f64[n, m] = mul v0, v1
            v3: f64 = const 1.0
            v4: f64[n, m] = add v2, v3
            return v4"#]],
        expect![[r#"
            b0: f64 input 0, shape of v0
            b1: f64 input 1, shape of v1
            b2: f64 output 0, shape of v4
            loop 0 over shape of v4 (rank 2):
              load    v0@b0 v1@b1
              compute v2 v4
              store   v4@b2
            1 loop(s), 0 temporary buffer(s)"#]],
        expect![[r#"
            b0: f64 input 0, shape of v0
            b1: f64 input 1, shape of v1
            b2: f64 output 0, shape of v4
            b3: f64 temporary, shape of v2 (one loop per operation (unfused))
            loop 0 over shape of v2 (rank 2):
              load    v0@b0 v1@b1
              compute v2
              store   v2@b3
            loop 1 over shape of v4 (rank 2):
              load    v2@b3
              compute v4
              store   v4@b2
            2 loop(s), 1 temporary buffer(s)"#]],
    );
}

/// The error of evaluating `src` on `args`, rendered as the CLI shows it.
fn diag(src: &str, args: &[(&str, Arg<'_>)]) -> String {
    let err: Error = engine(Mode::Fused)
        .compile(src)
        .and_then(|e| e.eval(args))
        .expect_err(src);
    format!(
        "[{:?}]\n{}",
        err.kind(),
        diagnostic::render(&err, "<expr>", src, false)
    )
}

#[test]
fn diagnostics() {
    let x = [1.0, 2.0, 3.0];
    let y = [1.0, 2.0];
    let i = [1i32, 2, 3];
    let xa = || ("x", v64(&x));
    expect![[r#"
        [Lex]
        error: unexpected character `$`
          --> <expr>:1:3
          |
        1 | x $ 2
          |   ^

    "#]]
    .assert_eq(&diag("x $ 2", &[xa()]));
    expect![[r#"
        [Parse]
        error: unexpected end of input
          --> <expr>:1:16
          |
        1 | sqrt(x) * (x + 
          |                ^
          |
          = note: expected an expression

    "#]]
    .assert_eq(&diag("sqrt(x) * (x + ", &[xa()]));
    expect![[r#"
        [Parse]
        error: unexpected `<`
          --> <expr>:1:7
          |
        1 | 0 < x < 1
          |       ^
          |
          = note: comparisons cannot be chained; use `and`, as in `a < b and b < c`

    "#]]
    .assert_eq(&diag("0 < x < 1", &[xa()]));
    expect![[r#"
        [Limit]
        error: expression nested too deeply (more than 256 levels)
          --> <expr>:1:257
          |
        1 | ...(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((...
          |                                            ^
          |
          = note: simplify the expression, or name parts of it with `let` in a kernel

    "#]]
    .assert_eq(&diag(
        &format!("{}x{}", "(".repeat(300), ")".repeat(300)),
        &[xa()],
    ));
    expect![[r#"
        [UnknownFunction]
        error: unknown function `sqr`
          --> <expr>:1:1
          |
        1 | sqr(x) + 1
          | ^^^
          |
          = help: did you mean `sqrt`?

    "#]]
    .assert_eq(&diag("sqr(x) + 1", &[xa()]));
    expect![[r#"
        [Arity]
        error: `hypot` takes 2 arguments, got 1
          --> <expr>:1:1
          |
        1 | hypot(x)
          | ^^^^^^^^

    "#]]
    .assert_eq(&diag("hypot(x)", &[xa()]));
    expect![[r#"
        [Arity]
        error: `sqrt` has no keyword argument `axis`
          --> <expr>:1:9
          |
        1 | sqrt(x, axis=0)
          |         ^^^^

    "#]]
    .assert_eq(&diag("sqrt(x, axis=0)", &[xa()]));
    expect![[r#"
        [Type]
        error: `&` is not defined for f64; it needs integers or bool
          --> <expr>:1:1
          |
        1 | x & 1
          | ^^^^^

    "#]]
    .assert_eq(&diag("x & 1", &[xa()]));
    expect![[r#"
        [Type]
        error: integer literal 3000000000 is out of range for i32
          --> <expr>:1:5
          |
        1 | i + 3000000000
          |     ^^^^^^^^^^

    "#]]
    .assert_eq(&diag(
        "i + 3000000000",
        &[("i", Arg::Array(View::vector(Buffer::I32(&i))))],
    ));
    expect![[r#"
        [Shape]
        error: shapes (3,) and (2,) cannot be broadcast together
          --> <expr>:1:1
          |
        1 | x * 2 + y
          | ^^^^^^^^^

    "#]]
    .assert_eq(&diag("x * 2 + y", &[xa(), ("y", v64(&y))]));
    expect![[r#"
        [Type]
        error: the window length of `rolling_mean` must be at least 1, got 0
          --> <expr>:1:21
          |
        1 | x - rolling_mean(x, 0)
          |                     ^

    "#]]
    .assert_eq(&diag("x - rolling_mean(x, 0)", &[xa()]));
    expect![[r#"
        [Call]
        error: no value given for input `y`
          --> <expr>:1:5
          |
        1 | x + y
          |     ^

    "#]]
    .assert_eq(&diag("x + y", &[xa()]));
    expect![[r#"
        [Call]
        error: `z` is not an input of this expression
         = note: its inputs are: x

    "#]]
    .assert_eq(&diag("x + 1", &[xa(), ("z", v64(&y))]));
}

/// `UnknownName` comes from picking a kernel of a module by name.
#[test]
fn diagnostic_unknown_kernel() {
    let src = "kernel ewma(x: f64[n], alpha: f64) -> (y: f64[n]) {\n    y[0] = x[0]\n    y[i] = alpha * x[i] + (1 - alpha) * y[i-1]\n}\n";
    let module = engine(Mode::Fused).compile_module(src).unwrap();
    let Err(err) = module.kernel("ewm") else {
        panic!("no kernel `ewm`")
    };
    expect![[r#"
        [UnknownName]
        error: no kernel named `ewm` in this source
         = help: did you mean `ewma`?
         = note: kernels: ewma

    "#]]
    .assert_eq(&format!(
        "[{:?}]\n{}",
        err.kind(),
        diagnostic::render(&err, "<module>", src, false)
    ));
}

/// A repeated subexpression is one node: `exp(a)` is computed once per
/// sweep (not once per use), and the mean and deviation of that one value
/// share the mean.
#[test]
fn repeated_subexpressions() {
    check(
        "(exp(a) - mean(exp(a))) / std(exp(a))",
        &[("a", v64(&A))],
        expect![[r#"
            in0 a: f64[n]
            v0: f64[n] = input in0
            v1: f64[n] = exp v0
            v2: f64 = mean v1 all
            v3: f64[n] = sub v1, v2
            v4: f64 = std v1 all
            v5: f64[n] = div v3, v4
            return v5"#]],
        expect![[r#"
            b0: f64 input 0, shape of v0
            b1: f64 output 0, shape of v5
            loop 0: lane group over the vector v1, 3 sweep(s), blocks of 512
              stream v2 = mean(v1)
              stream v4 = std(v1), mean from v2
              sweep 0:
                map v1 = exp(v0) a block at a time (from v0@b0)
                push v2
                finish v2
              sweep 1:
                second pass of v4
                map v1 = exp(v0) a block at a time (from v0@b0)
                push v4
                finish v4
              sweep 2:
                map v1 = exp(v0) a block at a time (from v0@b0)
                block v1; lane v2 v4; compute v3 v5; store v5@b1
            1 loop(s), 0 temporary buffer(s)"#]],
        expect![[r#"
            b0: f64 input 0, shape of v0
            b1: f64 output 0, shape of v5
            b2: f64 temporary, shape of v1 (one loop per operation (unfused))
            b3: f64 temporary, shape of v2 (one loop per operation (unfused))
            b4: f64 temporary, shape of v3 (one loop per operation (unfused))
            b5: f64 temporary, shape of v4 (one loop per operation (unfused))
            loop 0: over v1 in blocks of 512 (block routines)
              sweep 0:
                map v1 = exp(v0) a block at a time (from v0@b0, into v1@b2)
            loop 1: lanes of v1 along all elements: mean v1@b2 -> v2@b3
            loop 2 over shape of v3 (rank 1):
              load    v1@b2 v2@b3
              compute v3
              store   v3@b4
            loop 3: lanes of v1 along all elements: std v1@b2 -> v4@b5
            loop 4 over shape of v5 (rank 1):
              load    v3@b4 v4@b5
              compute v5
              store   v5@b1
            5 loop(s), 4 temporary buffer(s)"#]],
    );
}

/// The fused plans of lane operations, the issue's pass counts pinned:
/// `x - mean(x)` is two sweeps of one loop and no temporary; `sum(a*b)`
/// reads `a` and `b` once and writes only the result; row normalisation is
/// one loop over the rows, each row swept for its mean, again for `std`'s
/// squared deviations from that mean (its first pass would compute the
/// same mean, so it has none) and once more to normalise while it is in
/// cache; the rolling z-score is one pass over `x`.
#[test]
fn lane_plans() {
    let m = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let mat = || Arg::Array(View::contiguous(Buffer::F64(&m), &[2, 3]).unwrap());
    let plan =
        |src: &str, args: &[(&str, Arg<'_>)]| compiled(Mode::Fused, src, args).plan.to_string();
    expect![[r#"
        b0: f64 input 0, shape of v0
        b1: f64 output 0, shape of v2
        loop 0: lane group over the vector v0, 2 sweep(s), blocks of 512
          stream v1 = mean(v0)
          sweep 0:
            push v1 (from v0@b0)
            finish v1
          sweep 1:
            load v0@b0; lane v1; compute v2; store v2@b1
        1 loop(s), 0 temporary buffer(s)"#]]
    .assert_eq(&plan("x - mean(x)", &[("x", v64(&A))]));
    expect![[r#"
        b0: f64 input 0, shape of v0
        b1: f64 input 1, shape of v1
        b2: f64 output 0, shape of v3
        loop 0: lane group over the vector v2, 1 sweep(s), blocks of 512
          stream v3 = sum(v2)
          sweep 0:
            load v0@b0 v1@b1; compute v2; to block v2
            push v3
            finish v3; store v3@b2 per lane
        1 loop(s), 0 temporary buffer(s)"#]]
    .assert_eq(&plan("sum(a * b)", &[("a", v64(&A)), ("b", v64(&A))]));
    expect![[r#"
        b0: f64 input 0, shape of v0
        b1: f64 output 0, shape of v4
        loop 0: lane group over each row of v0, 3 sweep(s), blocks of 512
          stream v1 = mean(v0)
          stream v3 = std(v0), mean from v1
          sweep 0:
            push v1 (from v0@b0)
            finish v1
          sweep 1:
            second pass of v3
            push v3 (from v0@b0)
            finish v3
          sweep 2:
            load v0@b0; lane v1 v3; compute v2 v4; store v4@b1
        1 loop(s), 0 temporary buffer(s)"#]]
    .assert_eq(&plan(
        "(m - mean(m, axis=1, keepdims=true)) / std(m, axis=1, keepdims=true)",
        &[("m", mat())],
    ));
    expect![[r#"
        b0: f64 input 0, shape of v0
        b1: f64 output 0, shape of v5
        loop 0: lane group over the vector v0, 1 sweep(s), blocks of 512
          stream v2 = rolling_mean(v0)
          stream v4 = rolling_std(v0)
          sweep 0:
            push v2 (from v0@b0)
            push v4 (from v0@b0)
            load v0@b0; block v2 v4; compute v3 v5; store v5@b1
        1 loop(s), 0 temporary buffer(s)"#]]
    .assert_eq(&plan(
        "(x - rolling_mean(x, 3)) / rolling_std(x, 3)",
        &[("x", v64(&A))],
    ));
    expect![[r#"
        b0: f64 input 0, shape of v0
        b1: f64 output 0, shape of v6
        b2: f64 temporary, shape of v3 (result of `cumsum`, read by a later loop)
        b3: f64 temporary, shape of v4 (result of `diff`, read by a later loop)
        loop 0: lane group over the vector v2, 1 sweep(s), blocks of 512
          stream v3 = cumsum(v2)
          sweep 0:
            load v0@b0; compute v2; to block v2
            push v3 (into v3@b2)
        loop 1: lanes of v3 along axis 0: diff v3@b2 -> v4@b3
        loop 2 over shape of v6 (rank 1):
          load    v4@b3
          compute v6
          store   v6@b1
        3 loop(s), 2 temporary buffer(s)"#]]
    .assert_eq(&plan("diff(cumsum(x * 2)) + 1", &[("x", v64(&A))]));
    expect![[r#"
        b0: f64 input 0, shape of v0
        b1: f64 output 0, shape of v2
        loop 0: lane group over each column of v0, 2 sweep(s), blocks of 512
          stream v1 = sum(v0)
          sweep 0:
            push v1 (from v0@b0)
            finish v1
          sweep 1:
            load v0@b0; lane v1; compute v2; store v2@b1
        1 loop(s), 0 temporary buffer(s)"#]]
    .assert_eq(&plan("m / sum(m, axis=0)", &[("m", mat())]));
    expect![[r#"
        b0: f64 input 0, shape of v0
        b1: f64 output 0, shape of v3
        loop 0: lane group over all elements (row by row) of v2, 1 sweep(s), blocks of 512
          stream v3 = sum(v2)
          sweep 0:
            load v0@b0; compute v2; to block v2
            push v3
            finish v3; store v3@b1 once
        1 loop(s), 0 temporary buffer(s)"#]]
    .assert_eq(&plan("sum(m * 2)", &[("m", mat())]));
}

/// Kernels: several outputs share the group's passes (`zscore` makes one
/// pass over `x` for `z`, `lo` and `hi`); element rules run as recurrence
/// loops.
#[test]
fn kernel_plans() {
    let src = include_str!("../../examples/kernels.ak");
    let module = engine(Mode::Fused).compile_module(src).unwrap();
    let x = [1.0, 4.0, 2.0, 8.0, 5.0, 7.0];
    let plan = |k: &str, args: &[(&str, Arg<'_>)]| {
        module
            .kernel(k)
            .and_then(|k| k.compiled(args))
            .unwrap_or_else(|e| panic!("{k}: {e}"))
            .plan
            .to_string()
    };
    expect![[r#"
        b0: f64 input 0, shape of v0
        b1: i64 input 1, shape of v1
        b2: f64 output 0, shape of v5
        b3: f64 output 1, shape of v6
        b4: f64 output 2, shape of v7
        loop 0: lane group over the vector v0, 1 sweep(s), blocks of 512
          stream v2 = rolling_mean(v0)
          stream v3 = rolling_std(v0)
          stream v6 = nanmin(v5)
          stream v7 = nanmax(v5)
          sweep 0:
            push v2 (from v0@b0)
            push v3 (from v0@b0)
            load v0@b0; block v2 v3; compute v4 v5; to block v5; store v5@b2
            push v6
            push v7
            finish v6 v7; store v6@b3 v7@b4 per lane
        1 loop(s), 0 temporary buffer(s)"#]]
    .assert_eq(&plan("zscore", &[("x", v64(&x)), ("w", Arg::from(3i64))]));
    expect![[r#"
        b0: f64 input 0, shape of v0
        b1: f64 input 1, shape of v1
        b2: f64 output 0, shape of v2
        loop 0: rows of v2 in order (element rules), reading v0@b0 v1@b1 -> v2@b2
        1 loop(s), 0 temporary buffer(s)"#]]
    .assert_eq(&plan("ewma", &[("x", v64(&x)), ("alpha", Arg::from(0.5))]));
}

/// Elementwise loops that call vectorised math run in blocks: each
/// function's operand goes to a scratch row, its block routine maps it to
/// the function's row, later segments read that row.
#[test]
fn blocked_plans() {
    let plan =
        |src: &str, args: &[(&str, Arg<'_>)]| compiled(Mode::Fused, src, args).plan.to_string();
    expect![[r#"
        b0: f64 input 0, shape of v0
        b1: f64 output 0, shape of v1
        loop 0: over v1 in blocks of 512 (block routines)
          sweep 0:
            map v1 = exp(v0) a block at a time (from v0@b0, into v1@b1)
        1 loop(s), 0 temporary buffer(s)"#]]
    .assert_eq(&plan("exp(x)", &[("x", v64(&A))]));
    expect![[r#"
        b0: f64 input 0, shape of v0
        b1: f64 input 1, shape of v5
        b2: f64 output 0, shape of v9
        loop 0: over v9 in blocks of 512 (block routines)
          sweep 0:
            load v0@b0; compute v1 v2; to block v2
            map v3 = exp(v2) a block at a time
            map v6 = sin(v5) a block at a time (from v5@b1)
            map v7 = cos(v5) a block at a time (from v5@b1)
            load v0@b0; block v3 v6 v7; compute v4 v8 v9; store v9@b2
        1 loop(s), 0 temporary buffer(s)"#]]
    .assert_eq(&plan(
        "x * exp(-x*x) + sin(y) * cos(y)",
        &[("x", v64(&A)), ("y", v64(&A))],
    ));
    expect![[r#"
        b0: f64 input 0, shape of v0
        b1: f64 output 0, shape of v6
        loop 0: over v6 in blocks of 512 (block routines)
          sweep 0:
            load v0@b0; compute v1 v3; to block v3
            map v4 = log(v3) a block at a time
            block v4; compute v6; store v6@b1
        1 loop(s), 0 temporary buffer(s)"#]]
    .assert_eq(&plan("log(abs(x) + 1) + 2", &[("x", v64(&A))]));
    // Inside a lane group: maps a stage after their operands, beside the
    // streams (the function of a per-lane value stays per element).
    expect![[r#"
        b0: f64 input 0, shape of v0
        b1: f64 output 0, shape of v9
        loop 0: lane group over the vector v0, 2 sweep(s), blocks of 512
          stream v3 = cumsum(v2)
          stream v4 = mean(v0)
          stream v8 = sum(v7)
          sweep 0:
            push v4 (from v0@b0)
            map v7 = exp(v0) a block at a time (from v0@b0)
            push v8
            finish v4 v8
          sweep 1:
            load v0@b0; lane v4; compute v1 v5; to block v1 v5
            map v2 = log1p(v1) a block at a time
            push v3
            block v3 v5; lane v8; compute v6 v9; store v9@b1
        1 loop(s), 0 temporary buffer(s)"#]]
    .assert_eq(&plan(
        "cumsum(log1p(abs(x))) * exp(mean(x)) - sum(exp(x))",
        &[("x", v64(&A))],
    ));
}

/// The shim calls in a group's code, in order, as `name(first, count)`:
/// one call per run of consecutive streams that restart, finish, or read
/// the same operand the same way (they are most of a cold compile's
/// register-allocation work).
fn shim_calls(compiled: &Compiled) -> String {
    let clif = compiled
        .code
        .as_ref()
        .and_then(|c| c.clif())
        .expect("compiled with capture_clif");
    let lines: Vec<&str> = clif.lines().map(str::trim).collect();
    // Declarations name no symbol: the stream shims are the five imported
    // one after another (in `jit::stream_host_fns` order), known by their
    // signatures: three, three, eight, three and eight words.
    let params = |sig: &str| {
        let decl = lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{sig} = (")))
            .unwrap_or_else(|| panic!("no declaration of {sig}"));
        decl.split(')').next().unwrap_or("").split(", ").count()
    };
    let fns: Vec<(&str, usize)> = lines
        .iter()
        .filter_map(|l| {
            let (f, decl) = l.split_once(" = ")?;
            let sig = decl.strip_prefix("u0:")?.split_once(' ')?.1;
            f.starts_with("fn").then(|| (f, params(sig)))
        })
        .collect();
    let start = fns
        .windows(5)
        .position(|w| w.iter().map(|f| f.1).eq([3, 3, 8, 3, 8]))
        .expect("the five stream shims are imported");
    let names = ["reset", "next_pass", "push", "finish", "map"];
    let shim = |f: &str| {
        let k = fns.iter().position(|g| g.0 == f)?;
        names.get(k.checked_sub(start)?).copied()
    };
    // The calls pass the context, then the run's first number and count
    // as constants.
    let consts: std::collections::HashMap<&str, &str> = lines
        .iter()
        .filter_map(|l| l.split_once(" = iconst.i64 "))
        .collect();
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("call "))
        .filter_map(|call| {
            let (f, args) = call.split_once('(')?;
            let name = shim(f)?;
            let args: Vec<&str> = args.split(')').next()?.split(", ").collect();
            let constant = |k: usize| {
                args.get(k)
                    .and_then(|a| consts.get(a))
                    .unwrap_or_else(|| panic!("argument {k} of `{call}` is not a constant"))
            };
            Some(format!("{name}({}, {})", constant(1), constant(2)))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn group_code_calls_each_run_of_streams_once() {
    let engine = Engine::with_config(Config {
        capture_clif: true,
        ..Config::default()
    });
    let module = engine
        .compile_module(include_str!("../../examples/kernels.ak"))
        .unwrap();
    let x = [1.0, 4.0, 2.0, 8.0, 5.0, 7.0];
    let zscore = module
        .kernel("zscore")
        .and_then(|k| k.compiled(&[("x", v64(&x)), ("w", Arg::from(3i64))]))
        .unwrap();
    // Per lane: the windows' restarts with the extremes' resets, then per
    // block the windows' pushes of `x` and the extremes' pushes of `z`,
    // then the extremes' finishes.
    expect![[r#"
        reset(0, 4)
        push(0, 2)
        push(2, 2)
        finish(2, 2)"#]]
    .assert_eq(&shim_calls(&zscore));
    let m = View::contiguous(Buffer::F64(&x), &[2, 3]).unwrap();
    let rownorm = engine
        .compile("(m - mean(m, axis=1, keepdims=true)) / std(m, axis=1, keepdims=true)")
        .and_then(|e| e.compiled(&[("m", Arg::from(m))]))
        .unwrap();
    expect![[r#"
        reset(0, 2)
        push(0, 1)
        finish(0, 1)
        next_pass(1, 1)
        push(1, 1)
        finish(1, 1)"#]]
    .assert_eq(&shim_calls(&rownorm));
}
