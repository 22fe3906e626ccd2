//! The code paths of one loop that inputs choose at run time: the vector
//! body and its scalar tail (every length around the step), the scalar
//! body for strided, reversed and broadcast operands, blocked loops with
//! block routines (lengths around the block), and fast-math's fused
//! multiply-adds. Every result is compared bitwise with the interpreter.

use arrjit::{Arg, Config, DType, Engine, Mode, Scalar};

use crate::util::{self, bitwise_diff, Layout, Owned};

/// Values that exercise every rule: signed zeros, NaNs, infinities, ties
/// with the constants below, tiny and huge magnitudes.
fn special(k: usize) -> f64 {
    const S: [f64; 16] = [
        0.0,
        -0.0,
        f64::NAN,
        1.0,
        -1.0,
        0.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
        2.5,
        -3.25,
        1e-310,
        1e300,
        -0.75,
        0.25,
        10.0,
        -f64::NAN,
    ];
    S[(k * 7 + k / 16) % S.len()]
}

/// `n` values in [-5, 6] without specials (`exp` of them stays finite),
/// different for each `k`.
fn sawtooth(n: usize, k: usize, layout: Layout) -> Owned {
    let values: Vec<Scalar> = (0..n)
        .map(|i| Scalar::F64(((i * 37 + k * 11) % 101) as f64 / 9.0 - 5.0))
        .collect();
    Owned::array(DType::F64, &[n], &values, layout)
}

/// `m`: a `rows x cols` matrix of [`special`] values, C or Fortran order.
fn special_matrix(rows: usize, cols: usize, fortran: bool) -> Vec<(String, Owned)> {
    let values: Vec<Scalar> = (0..rows * cols).map(|i| Scalar::F64(special(i))).collect();
    let layout = Layout {
        fortran,
        ..Layout::default()
    };
    let m = Owned::array(DType::F64, &[rows, cols], &values, layout);
    vec![("m".to_string(), m)]
}

fn vector(n: usize, layout: Layout, salt: usize) -> Owned {
    let values: Vec<Scalar> = (0..n).map(|k| Scalar::F64(special(k + salt))).collect();
    Owned::array(DType::F64, &[n], &values, layout)
}

/// Evaluates `src` on those of `inputs` it reads, in every mode, and
/// checks that they agree bit for bit.
fn agree(engines: &[(Mode, Engine)], src: &str, inputs: &[(String, Owned)]) {
    let results: Vec<_> = engines
        .iter()
        .map(|(mode, e)| {
            let args = util::args_read_by(src, &util::args(inputs));
            e.eval(src, &args)
                .unwrap_or_else(|err| panic!("{mode:?} `{src}`: {err}"))
        })
        .collect();
    for ((mode, _), got) in engines.iter().zip(&results).skip(1) {
        if let Some(d) = bitwise_diff(&results[0], got) {
            let shapes: Vec<_> = inputs.iter().map(|(_, o)| o.dims.clone()).collect();
            panic!("{mode:?} `{src}` on {shapes:?}: {d}");
        }
    }
}

const ELEMENTWISE: &[&str] = &[
    "a*b+c",
    "2*a + 3*b**2 - sqrt(c)",
    "clip(a, -1, 1)",
    "clip(a, 0.0, 1.0)",
    "where(a > 0.5, a*10, a*0.5)",
    "select([a < -1, a < 1], [0.0, a], a * 2)",
    "maximum(a, b) - minimum(b, c) + fmax(a, c) * fmin(c, b)",
    "where(isnan(a) | isinf(b), -a, abs(b) / c)",
    "where(~(a >= b) ^ (c != c), reciprocal(a), square(b))",
    "maximum(2.0, a) + fmin(-1.0, b) + minimum(c, 0.0)",
];

#[test]
fn vector_bodies_and_tails_agree_at_every_length() {
    let engines = util::engines();
    let packed = Layout {
        step: 1,
        ..Layout::default()
    };
    for n in 0..=37 {
        for (salt, src) in ELEMENTWISE.iter().enumerate() {
            let inputs: Vec<(String, Owned)> = ["a", "b", "c"]
                .iter()
                .enumerate()
                .map(|(k, name)| (name.to_string(), vector(n, packed, salt + 5 * k)))
                .collect();
            agree(&engines, src, &inputs);
        }
    }
}

#[test]
fn strided_reversed_and_broadcast_operands_take_the_scalar_body() {
    let engines = util::engines();
    let layouts = [
        Layout {
            step: 2,
            ..Layout::default()
        },
        Layout {
            step: 1,
            reverse: true,
            ..Layout::default()
        },
        Layout {
            step: 3,
            reverse: true,
            ..Layout::default()
        },
    ];
    for n in [1, 5, 16, 33] {
        for (salt, src) in ELEMENTWISE.iter().enumerate() {
            for layout in layouts {
                // One odd operand among packed ones.
                let inputs = vec![
                    ("a".to_string(), vector(n, Layout::default(), salt)),
                    ("b".to_string(), vector(n, layout, salt + 3)),
                    ("c".to_string(), vector(n, Layout::default(), salt + 9)),
                ];
                agree(&engines, src, &inputs);
            }
            // A length-1 vector and a rank-0 array broadcast.
            let inputs = vec![
                ("a".to_string(), vector(n, Layout::default(), salt)),
                ("b".to_string(), vector(1, Layout::default(), salt + 1)),
                (
                    "c".to_string(),
                    Owned::array(DType::F64, &[], &[Scalar::F64(0.5)], Layout::default()),
                ),
            ];
            agree(&engines, src, &inputs);
        }
    }
}

#[test]
fn matrices_run_the_vector_body_per_row() {
    let engines = util::engines();
    for (rows, cols) in [(3, 7), (2, 16), (5, 1), (4, 9)] {
        let values: Vec<Scalar> = (0..rows * cols).map(|k| Scalar::F64(special(k))).collect();
        for fortran in [false, true] {
            let layout = Layout {
                fortran,
                step: 1,
                reverse: false,
            };
            let m = Owned::array(DType::F64, &[rows, cols], &values, layout);
            let row = vector(cols, Layout::default(), 3);
            let inputs = vec![
                ("a".to_string(), m.clone()),
                ("b".to_string(), row),
                ("c".to_string(), m),
            ];
            for src in ELEMENTWISE {
                agree(&engines, src, &inputs);
            }
        }
    }
}

#[test]
fn blocked_loops_agree_around_block_boundaries() {
    let engines = util::engines();
    let exprs = [
        "exp(a)",
        "a * exp(-a*a) + 1",
        "where(a > 0, exp(a), exp(exp(b)))",
        "exp(a) + log(abs(b) + 1) * sin(c) - cos(a)",
    ];
    for n in [0, 1, 3, 511, 512, 513, 1100] {
        let inputs: Vec<(String, Owned)> = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let layout = Layout {
                    step: 1 + k % 2,
                    ..Layout::default()
                };
                (name.to_string(), sawtooth(n, k, layout))
            })
            .collect();
        for src in exprs {
            agree(&engines, src, &inputs);
        }
    }
    // Rows of a matrix, one broadcast along them.
    let values: Vec<Scalar> = (0..3 * 600).map(|i| Scalar::F64(special(i))).collect();
    let m = Owned::array(DType::F64, &[3, 600], &values, Layout::default());
    let inputs = vec![
        ("a".to_string(), m.clone()),
        ("b".to_string(), vector(600, Layout::default(), 1)),
        ("c".to_string(), m),
    ];
    for src in exprs {
        agree(&engines, src, &inputs);
    }
}

#[test]
fn fast_math_contracts_products_into_fused_multiply_adds() {
    let strict = Engine::new();
    let fast = Engine::with_config(Config {
        fast_math: true,
        ..Config::default()
    });
    // 0.1 * 10 - 1 is 0 rounded twice, 2^-54 + ... once.
    let a: Vec<f64> = (0..19).map(|k| 0.1 + k as f64).collect();
    let b: Vec<f64> = (0..19).map(|k| 10.0 - k as f64 * 0.3).collect();
    let c: Vec<f64> = a.iter().zip(&b).map(|(x, y)| -(x * y)).collect();
    let args = [
        ("a", Arg::from(&a[..])),
        ("b", Arg::from(&b[..])),
        ("c", Arg::from(&c[..])),
    ];
    let s = strict.eval("a*b+c", &args).unwrap().to_f64_vec();
    assert!(s.iter().all(|&v| v == 0.0), "strict: {s:?}");
    let f = fast.eval("a*b+c", &args).unwrap().to_f64_vec();
    if std::arch::is_x86_feature_detected!("fma") {
        let want: Vec<f64> = a
            .iter()
            .zip(&b)
            .zip(&c)
            .map(|((x, y), z)| x.mul_add(*y, *z))
            .collect();
        assert_eq!(f, want);
        assert!(f.iter().any(|&v| v != 0.0), "no product was contracted");
        // c - a*b and a*b - c contract too.
        let g = fast.eval("c - a*b", &args).unwrap().to_f64_vec();
        let want: Vec<f64> = a
            .iter()
            .zip(&b)
            .zip(&c)
            .map(|((x, y), z)| (-x).mul_add(*y, *z))
            .collect();
        assert_eq!(g, want);
    } else {
        assert_eq!(f, s, "without an FMA instruction nothing is contracted");
    }
}

/// Fast-math reassociates a linear recurrence `y[i] = c[i] + m*y[i-1]`
/// (`m` the same on every row): rows go in pairs, `y[i] = fma(m, y[i-1],
/// c[i])` and `y[i+1] = fma(m*m, y[i-1], fma(m, c[i], c[i+1]))`, so the
/// carried chain is one fused multiply-add every two rows; an odd last row
/// takes the rule with its carried product fused. Pinned bit for bit on
/// EWMA at every length around the pairing.
#[test]
fn fast_math_runs_a_linear_recurrence_in_pairs() {
    let src = include_str!("../../examples/kernels.ak");
    let alpha = 0.3f64;
    let run = |fast_math: bool, x: &[f64]| {
        let engine = Engine::with_config(Config {
            fast_math,
            ..Config::default()
        });
        let module = engine.compile_module(src).unwrap();
        let kernel = module.kernel("ewma").unwrap();
        let out = kernel
            .call(&[("x", Arg::from(x)), ("alpha", Arg::from(alpha))])
            .unwrap();
        out[0].1.to_f64_vec()
    };
    let strict_rule = |x: &[f64]| {
        let mut y = x[..1].to_vec();
        for &v in &x[1..] {
            let prev = *y.last().unwrap();
            y.push(alpha * v + (1.0 - alpha) * prev);
        }
        y
    };
    let fast_rule = |x: &[f64]| {
        let m = 1.0 - alpha;
        let mut y = x[..1].to_vec();
        let mut i = 1;
        while i + 1 < x.len() {
            let prev = y[i - 1];
            let (c0, c1) = (alpha * x[i], alpha * x[i + 1]);
            y.push(m.mul_add(prev, c0));
            y.push((m * m).mul_add(prev, m.mul_add(c0, c1)));
            i += 2;
        }
        if i < x.len() {
            let prev = y[i - 1];
            y.push(m.mul_add(prev, alpha * x[i]));
        }
        y
    };
    let fma = std::arch::is_x86_feature_detected!("fma");
    for n in [1usize, 2, 3, 4, 5, 6, 7, 1000, 1001] {
        let x: Vec<f64> = (0..n)
            .map(|k| ((k * 37 % 101) as f64 / 9.0 - 5.0) * 1.1)
            .collect();
        assert_eq!(run(false, &x), strict_rule(&x), "strict, n = {n}");
        let fast = run(true, &x);
        if fma {
            assert_eq!(fast, fast_rule(&x), "fast-math, n = {n}");
            if n > 3 {
                assert_ne!(fast, strict_rule(&x), "nothing was reassociated, n = {n}");
            }
        } else {
            assert_eq!(fast, strict_rule(&x), "without FMA, n = {n}");
        }
    }
}

/// A factor whose square is not a normal number is not paired (the strict
/// rule never forms `m*m`): `ewma` with alpha = 1e200 on zeros stays
/// zeros (paired, `m*m` overflows and `0 * inf` is NaN), and factors of
/// 1e-160 and 1e-200 keep their digits (paired, `m*m` is subnormal or 0).
#[test]
fn fast_math_pairs_only_factors_whose_square_is_normal() {
    let src = "
kernel lin(x: f64[n], a: f64) -> (y: f64[n]) {
    y[0] = x[0]
    y[i] = x[i] + a * y[i-1]
}
kernel lin32(x: f32[n], a: f32) -> (y: f32[n]) {
    y[0] = x[0]
    y[i] = x[i] + a * y[i-1]
}
";
    let ewma = include_str!("../../examples/kernels.ak");
    let engine = |fast_math| {
        Engine::with_config(Config {
            fast_math,
            ..Config::default()
        })
    };
    let (strict, fast) = (engine(false), engine(true));
    let call = |e: &Engine, src: &str, k: &str, args: &[(&str, Arg<'_>)]| {
        let module = e.compile_module(src).unwrap();
        module.kernel(k).unwrap().call(args).unwrap()[0]
            .1
            .to_f64_vec()
    };
    let zeros = [0.0f64; 6];
    let args = [("x", Arg::from(&zeros[..])), ("alpha", Arg::from(1e200))];
    assert_eq!(call(&fast, ewma, "ewma", &args), vec![0.0; 6]);
    // Fast-math against strict: the same bits or within `tolerance`.
    let agree = |kernel: &str, args: &[(&str, Arg<'_>)], tolerance: f64| {
        let want = call(&strict, src, kernel, args);
        let got = call(&fast, src, kernel, args);
        let close = |(g, w): (&f64, &f64)| {
            g.to_bits() == w.to_bits() || (g - w).abs() <= tolerance * w.abs()
        };
        assert!(
            got.iter().zip(&want).all(close),
            "{kernel}: {got:?} against {want:?}"
        );
    };
    let x = [1e300, 0.0, 0.0, 0.0, 0.0];
    for a in [1e-160, 1e-200, -1e-170, 1e160, f64::NAN] {
        agree(
            "lin",
            &[("x", Arg::from(&x[..])), ("a", Arg::from(a))],
            1e-12,
        );
    }
    let x32 = [1e30f32, 0.0, 0.0, 0.0, 0.0];
    for a in [1e-20f32, 1e20] {
        agree(
            "lin32",
            &[("x", Arg::from(&x32[..])), ("a", Arg::from(a))],
            1e-6,
        );
    }
}

/// Paired rows on strided and reversed views, with several boundary rows
/// and taps at offsets: within a tight tolerance of the strict results.
#[test]
fn fast_math_pairs_on_views_and_offsets() {
    use arrjit::{Buffer, BufferMut, View, ViewMut};
    let src = "
kernel k(x: f64[n], a: f64) -> (y: f64[n]) {
    y[0] = x[0]
    y[1] = x[1]
    y[2] = x[0] + x[2]
    y[i] = exp(x[i-2]) * 0.5 + where(x[i] > 0, x[i-1], x[i]) + a * y[i-1]
}
";
    let module = |fast_math| {
        Engine::with_config(Config {
            fast_math,
            ..Config::default()
        })
        .compile_module(src)
        .unwrap()
    };
    let (strict, fast) = (module(false), module(true));
    for n in [1usize, 3, 4, 5, 6, 37, 38] {
        let data: Vec<f64> = (0..2 * n)
            .map(|k| (k * 29 % 31) as f64 / 6.0 - 2.5)
            .collect();
        for (step, reverse) in [(1isize, false), (2, false), (1, true), (2, true)] {
            let len = n;
            let (offset, stride) = if reverse {
                ((len - 1) as isize * step, -step)
            } else {
                (0, step)
            };
            let x = View::strided(Buffer::F64(&data), offset as usize, &[len], &[stride]).unwrap();
            let args = [("x", Arg::from(x)), ("a", Arg::from(0.7))];
            let want = strict.kernel("k").unwrap().call(&args).unwrap()[0]
                .1
                .to_f64_vec();
            let mut out = vec![f64::NAN; 2 * n];
            let view =
                ViewMut::strided(BufferMut::F64(&mut out), 2 * len - 2, &[len], &[-2]).unwrap();
            fast.kernel("k")
                .unwrap()
                .call_into(&args, &mut [("y", view)])
                .unwrap();
            let got: Vec<f64> = (0..len).map(|k| out[2 * len - 2 - 2 * k]).collect();
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-12 * w.abs().max(1.0),
                    "n = {n}, step {step}, reverse {reverse}, row {k}: {g} against {w}"
                );
            }
            assert!(
                (0..2 * len).filter(|k| k % 2 == 1).all(|k| out[k].is_nan()),
                "wrote outside the output view"
            );
        }
    }
}

/// Other linear recurrences (the sum and product in either order, a
/// scalar parameter as the factor, f32, a `c` the same on every row)
/// reassociate too, and stay close to the strict results, as do the rules
/// that are not paired (a factor that changes by row, `x[i] * y[i-1]`; a
/// lag of 2), whose products are only contracted.
#[test]
fn fast_math_linear_recurrences_stay_close_to_strict() {
    let src = "
kernel ka(x: f64[n]) -> (y: f64[n]) {
    y[0] = x[0]
    y[i] = x[i] + 0.5 * y[i-1]
}
kernel kb(x: f64[n], r: f64) -> (y: f64[n]) {
    y[0] = 0
    y[i] = y[i-1] * r + x[i] * 2
}
kernel kc(x: f32[n]) -> (y: f32[n]) {
    y[0] = x[0]
    y[i] = 0.25 * x[i] + y[i-1] * 0.75
}
kernel kd(x: f64[n]) -> (y: f64[n]) {
    y[0] = 1
    y[i] = x[i] * y[i-1] + 0.5
}
kernel kf(x: f64[n], c: f64) -> (y: f64[n]) {
    y[0] = x[0]
    y[i] = c + 0.9 * y[i-1]
}
kernel ke(x: f64[n]) -> (y: f64[n]) {
    y[0] = x[0]
    y[1] = x[1]
    y[i] = 0.3 * y[i-2] + x[i]
}
";
    let strict = Engine::new().compile_module(src).unwrap();
    let fast = Engine::with_config(Config {
        fast_math: true,
        ..Config::default()
    })
    .compile_module(src)
    .unwrap();
    for n in [2usize, 3, 9, 600, 601] {
        let x: Vec<f64> = (0..n)
            .map(|k| ((k * 53 % 97) as f64 / 7.0 - 6.0) * 0.3)
            .collect();
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        for (name, args) in [
            ("ka", vec![("x", Arg::from(&x[..]))]),
            ("kb", vec![("x", Arg::from(&x[..])), ("r", Arg::from(0.9))]),
            ("kc", vec![("x", Arg::from(&x32[..]))]),
            ("kd", vec![("x", Arg::from(&x[..]))]),
            ("ke", vec![("x", Arg::from(&x[..]))]),
            ("kf", vec![("x", Arg::from(&x[..])), ("c", Arg::from(0.25))]),
        ] {
            let want = strict.kernel(name).unwrap().call(&args).unwrap()[0]
                .1
                .to_f64_vec();
            let got = fast.kernel(name).unwrap().call(&args).unwrap()[0]
                .1
                .to_f64_vec();
            let tolerance = if name == "kc" { 1e-5 } else { 1e-12 };
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= tolerance * w.abs().max(1.0),
                    "{name}, n = {n}, row {k}: {g} against {w}"
                );
            }
        }
    }
}

/// Streams and maps that read their operand from, or write their result
/// to, the buffer itself when a block is contiguous, and go through their
/// scratch rows when it is not (strided, reversed, broadcast), or when
/// the output is also an input (in place).
#[test]
fn direct_blocks_agree_with_row_blocks() {
    use arrjit::{Data, ViewMut};
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let engines = util::engines();
    let exprs = [
        "sum(a)",
        "cumsum(a)",
        "exp(a)",
        "a - cumsum(a)",
        "std(a) + cummax(b)",
        "rolling_mean(a, 5) * exp(b)",
        "cumsum(a) + cumsum(b)",
        "exp(a) + sin(b) * exp(b)",
        "(a - mean(a)) / std(a)",
    ];
    let layouts = [
        Layout::default(),
        Layout {
            step: 2,
            ..Layout::default()
        },
        Layout {
            step: 1,
            reverse: true,
            ..Layout::default()
        },
    ];
    for n in [1, 2, 511, 512, 513, 1100] {
        for la in layouts {
            for lb in layouts {
                let inputs = vec![
                    ("a".to_string(), sawtooth(n, 0, la)),
                    ("b".to_string(), sawtooth(n, 1, lb)),
                ];
                for src in exprs {
                    agree(&engines, src, &inputs);
                }
            }
        }
        // Into a strided output: every other element of a buffer.
        let x: Vec<f64> = (0..n).map(|i| (i % 13) as f64 * 0.75 - 4.0).collect();
        for src in ["cumsum(x)", "exp(x)", "x * exp(x)"] {
            for (mode, e) in &engines {
                let want = e.eval(src, &[("x", Arg::from(&x[..]))]).unwrap();
                let mut data = Data::zeros(DType::F64, 2 * n);
                let out = ViewMut::strided(data.as_buffer_mut(), 1, &[n], &[2]).unwrap();
                e.compile(src)
                    .unwrap()
                    .eval_into(&[("x", Arg::from(&x[..]))], out)
                    .unwrap_or_else(|err| panic!("{mode:?} `{src}`: {err}"));
                let got: Vec<f64> = (0..n)
                    .map(|i| match data.as_buffer().get(2 * i + 1) {
                        Scalar::F64(v) => v,
                        other => panic!("{other:?}"),
                    })
                    .collect();
                assert_eq!(
                    bits(&want.to_f64_vec()),
                    bits(&got),
                    "{mode:?} `{src}` into a strided view"
                );
            }
        }
        // Rows of a matrix (contiguous or not), lanes along either axis.
        for fortran in [false, true] {
            let m = special_matrix(3, n, fortran);
            for src in [
                "(m - mean(m, axis=1, keepdims=true)) / std(m, axis=1, keepdims=true)",
                "cumsum(m, axis=1) - sum(m, axis=0)",
                "exp(m) * 2",
            ] {
                agree(&engines, src, &m);
            }
        }
        // In place: the output is the input, so results go through rows.
        for src in ["exp(x)", "exp(x) + x", "sin(x) * exp(x) - x"] {
            for (mode, e) in &engines {
                let want = e.eval(src, &[("x", Arg::from(&x[..]))]).unwrap();
                let mut y = x.clone();
                e.compile(src)
                    .unwrap()
                    .eval_in_place("x", &mut y[..], &[])
                    .unwrap_or_else(|err| panic!("{mode:?} `{src}`: {err}"));
                assert_eq!(
                    bits(&want.to_f64_vec()),
                    bits(&y),
                    "{mode:?} `{src}` in place"
                );
            }
        }
    }
}

/// A variance or deviation next to the mean of the same elements (same
/// operand, axis and NaN rule) starts its second pass from that mean's
/// stream instead of summing the elements again: the plan says so, and
/// the bits are the interpreter's for vectors and matrices (both layouts,
/// lanes along either axis), with NaNs and infinities, across block
/// boundaries, in f64 and f32. Pairs that differ in any of those keep
/// their own first pass.
#[test]
fn variances_share_the_mean_of_their_lane() {
    let engines = util::engines();
    let shares = |src: &str, inputs: &[(String, Owned)]| {
        let (_, fused) = engines
            .iter()
            .find(|(m, _)| *m == Mode::Fused)
            .expect("a fused engine");
        let args = util::args_read_by(src, &util::args(inputs));
        let plan = fused.compile(src).unwrap().compiled(&args).unwrap();
        plan.plan.to_string().matches(", mean from ").count()
    };
    let vector_cases = [
        ("(a - mean(a)) / std(a)", 1),
        ("var(a) + mean(a)", 1),
        ("std(a, ddof=1) * var(a) - mean(a)", 2),
        ("nanstd(a) + nanvar(a) * nanmean(a)", 2),
        ("a - mean(a) + var(b)", 0),
        ("mean(a) + nanstd(a)", 0),
        ("nanmean(a) + std(a)", 0),
        ("mean(a) + std(a * 2)", 0),
        // Shared pairs in a group after another group's streams.
        ("mean(a) + (b - mean(b)) / std(b)", 1),
        ("sum(a) * mean(a) + (b - mean(b)) / std(b) - var(a)", 2),
        ("cumsum(a) + (b - mean(b)) / std(b)", 1),
    ];
    for n in [0, 1, 2, 511, 512, 513, 1100] {
        for salt in [0, 5] {
            let inputs = vec![
                ("a".to_string(), vector(n, Layout::default(), salt)),
                ("b".to_string(), sawtooth(n, 1, Layout::default())),
            ];
            for (src, pairs) in vector_cases {
                agree(&engines, src, &inputs);
                assert_eq!(shares(src, &inputs), pairs, "`{src}`");
            }
            let narrow: Vec<Scalar> = (0..n)
                .map(|k| Scalar::F32(special(k + salt) as f32))
                .collect();
            let a32 = vec![(
                "a".to_string(),
                Owned::array(DType::F32, &[n], &narrow, Layout::default()),
            )];
            for src in ["(a - mean(a)) / std(a)", "nanvar(a) - nanmean(a)"] {
                agree(&engines, src, &a32);
                assert_eq!(shares(src, &a32), 1, "f32 `{src}`");
            }
        }
        for fortran in [false, true] {
            let m = special_matrix(3, n.max(1), fortran);
            for (src, pairs) in [
                (
                    "(m - mean(m, axis=1, keepdims=true)) / std(m, axis=1, keepdims=true)",
                    1,
                ),
                ("(m - nanmean(m, axis=0)) / nanstd(m, axis=0)", 1),
                ("var(m) - mean(m)", 1),
                ("mean(m, axis=0) + std(m, axis=1, keepdims=true)", 0),
            ] {
                agree(&engines, src, &m);
                assert_eq!(shares(src, &m), pairs, "`{src}` on 3 x {}", n.max(1));
            }
        }
    }
}

/// Functions with block routines inside lane groups (an operand of a
/// reduction, a scan or a window, or work after one) run as maps, a block
/// at a time: the same bits as the interpreter's element-by-element
/// functions, around block boundaries, for vectors and both layouts of
/// matrices, with multi-sweep plans; functions of per-lane values are
/// not mapped but computed once a block, before the element loop.
#[test]
fn functions_map_inside_lane_groups() {
    let engines = util::engines();
    let vectors = [
        "sum(exp(a))",
        "cumsum(log1p(abs(a)))",
        "rolling_mean(sin(a), 5) + cos(b)",
        "a - mean(exp(a))",
        "exp(mean(a)) * tanh(b)",
        "sum(exp(a) * sin(b)) + max(cosh(a))",
        "cummax(tan(a)) - sinh(cumsum(b))",
        "std(log(abs(a) + 1)) * exp(b)",
        // Per-lane values and float work on them alone, hoisted out of
        // the element loop.
        "a / exp(sum(a) * 1e-3) + log(abs(max(b)) + 1) * (2 - min(a))",
        "where(a > mean(a), sqrt(abs(sum(b))), -cosh(min(b)))",
    ];
    for n in [1, 7, 511, 512, 513, 1100] {
        let inputs = vec![
            ("a".to_string(), sawtooth(n, 0, Layout::default())),
            ("b".to_string(), sawtooth(n, 1, Layout::default())),
        ];
        for src in vectors {
            agree(&engines, src, &inputs);
        }
    }
    let rows = [
        "sum(exp(a), axis=1)",
        "mean(sin(a), axis=0, keepdims=true) - exp(a)",
        "cumsum(tanh(a), axis=1)",
        "exp(mean(a, axis=1, keepdims=true)) - a * log1p(abs(max(a, axis=1, keepdims=true)))",
        "(a - mean(exp(a), axis=1, keepdims=true)) / std(log1p(abs(a)), axis=1, keepdims=true)",
    ];
    for (r, c) in [(3, 7), (2, 600), (5, 1)] {
        let values: Vec<Scalar> = (0..r * c).map(|k| Scalar::F64(special(k))).collect();
        for fortran in [false, true] {
            let layout = Layout {
                fortran,
                step: 1,
                reverse: false,
            };
            let inputs = vec![(
                "a".to_string(),
                Owned::array(DType::F64, &[r, c], &values, layout),
            )];
            for src in rows {
                agree(&engines, src, &inputs);
            }
        }
    }
    // The plan maps the function instead of computing it per element.
    let engine = Engine::with_config(Config::default());
    let a: Vec<f64> = (0..100).map(|i| i as f64 * 0.01).collect();
    let plan = engine
        .compile("sum(exp(a))")
        .and_then(|e| e.compiled(&[("a", Arg::from(&a[..]))]))
        .unwrap()
        .plan
        .to_string();
    assert!(plan.contains("map v1 = exp(v0)"), "{plan}");
}

/// Functions of scalars (rank-0 inputs) in plain loops, blocked loops,
/// lane groups and matrix loops are computed once before the element loop
/// (not per element, not mapped over a block of copies): the same bits as
/// the interpreter, for every special value as the scalar.
#[test]
fn functions_of_scalars_are_computed_once() {
    let engines = util::engines();
    let exprs = [
        "x * arctan(c)",
        "x * exp(c) - sinh(c * 2)",
        "x * exp(c) + exp(x)",
        "x - arctan(c) * mean(x)",
        "cumsum(x, axis=0) * log1p(abs(c)) + tan(c)",
        "where(x > c, exp(-c), x / cosh(c))",
    ];
    for k in [0, 1, 2, 3, 5, 7, 11] {
        for n in [1, 5, 513] {
            let inputs = vec![
                ("x".to_string(), sawtooth(n, 0, Layout::default())),
                ("c".to_string(), Owned::scalar(Scalar::F64(special(k)))),
            ];
            for src in exprs {
                agree(&engines, src, &inputs);
            }
        }
    }
    let values: Vec<Scalar> = (0..21).map(|k| Scalar::F64(special(k))).collect();
    let inputs = vec![
        (
            "x".to_string(),
            Owned::array(DType::F64, &[3, 7], &values, Layout::default()),
        ),
        ("c".to_string(), Owned::scalar(Scalar::F64(0.75))),
    ];
    for src in exprs {
        agree(&engines, src, &inputs);
    }
    // No block routine over a block of copies of the scalar.
    let x: Vec<f64> = (0..100).map(|i| i as f64).collect();
    let plan = Engine::with_config(Config::default())
        .compile("x * exp(c)")
        .and_then(|e| e.compiled(&[("x", Arg::from(&x[..])), ("c", Arg::from(0.5))]))
        .unwrap()
        .plan
        .to_string();
    assert!(!plan.contains("map"), "{plan}");
}

/// Lanes of at most a leaf (128 elements) run their float sums, means,
/// variances, deviations and extremes whole (`stream::Whole`), longer ones as
/// streams: both give the interpreter's bits at every length around the
/// leaf, along either axis of either layout and of strided views (whose
/// blocks are gathered), in `f64` and `f32`, beside streams that stay
/// streams (a NaN-skipping mean) and with a variance that shares
/// its lane's mean or has its own first pass.
#[test]
fn short_lanes_agree_around_a_leaf() {
    // The interpreter, unfused and fused code (whose short lanes run
    // whole, `stream::Whole`) and the second tier (which runs the float
    // sums, means, variances and deviations in the generated code).
    let mut engines = util::engines();
    engines.push(util::tiered_engine());
    let cases = [
        "(m - mean(m, axis=1, keepdims=true)) / std(m, axis=1, keepdims=true)",
        "(m - mean(m, axis=0)) / std(m, axis=0, ddof=1)",
        "sum(m, axis=1) + var(m, axis=1, ddof=3) - mean(m * 2, axis=1)",
        "std(m + 1, axis=0) * nanmean(m, axis=0) - max(m, axis=0)",
        "var(m, axis=1) + sum(abs(m), axis=1)",
        "m - mean(m, axis=1, keepdims=true) + sum(exp(m * 0.001), axis=1, keepdims=true)",
        "sum(m) * mean(m, axis=1)",
        "nanmax(m, axis=1) - min(m, axis=1) + nanmin(m * 0, axis=1)",
        // Each extreme alone: in a sum, a NaN from one hides another's.
        "nanmax(m, axis=1)",
        "nanmin(m, axis=0)",
        "max(m, axis=0)",
        "exp(m - max(m, axis=1, keepdims=true)) / sum(exp(m - max(m, axis=1, keepdims=true)), axis=1, keepdims=true)",
        // No degrees of freedom left where the lane has 7 or 3 elements.
        "var(m, axis=1, ddof=7)",
        "std(m, axis=0, ddof=3)",
    ];
    let layouts = [
        (3, false, 1, false),
        (130, true, 1, false),
        (5, false, 2, false),
        // Negative strides: a row read forward from its first element
        // would leave the lane (and, at the end, the buffer).
        (4, false, 1, true),
        (3, true, 3, true),
    ];
    for cols in [1, 2, 7, 8, 9, 127, 128, 129] {
        for (rows, fortran, step, reverse) in layouts {
            for narrow in [false, true] {
                let values: Vec<Scalar> = (0..rows * cols)
                    .map(|i| {
                        // Specials in some rows, cancellation in others.
                        let v = if (i / cols) % 3 == 1 {
                            special(i)
                        } else {
                            1e6 + ((i * 37) % 101) as f64 / 7.0
                        };
                        if narrow {
                            Scalar::F32(v as f32)
                        } else {
                            Scalar::F64(v)
                        }
                    })
                    .collect();
                let dtype = if narrow { DType::F32 } else { DType::F64 };
                let layout = Layout {
                    fortran,
                    step,
                    reverse,
                };
                let m = Owned::array(dtype, &[rows, cols], &values, layout);
                // Broadcast views of the same buffer: every row the first
                // (stride 0 between rows), every column the first (stride
                // 0 along a row).
                let (r0, c0) = (m.strides[0], m.strides[1]);
                let rows_repeat = Owned {
                    strides: vec![0, c0],
                    ..m.clone()
                };
                let cols_repeat = Owned {
                    strides: vec![r0, 0],
                    ..m.clone()
                };
                for m in [m, rows_repeat, cols_repeat] {
                    let inputs = vec![("m".to_string(), m)];
                    for src in cases {
                        agree(&engines, src, &inputs);
                    }
                }
            }
        }
    }
    // The second tier ran: these kernels are what it is for.
    let (_, tiered) = engines.last().expect("the tiered engine");
    let stats = tiered.stats();
    assert!(
        stats.tier_ups > 0 && stats.tier_up_failures == 0,
        "{stats:?}"
    );
}
