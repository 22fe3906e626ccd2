//! Accuracy of the math functions through the fused JIT.
//!
//! - `f32`: every function over a sweep of its domain (magnitudes from the
//!   smallest subnormal to near overflow, both signs, plus dense stretches
//!   where the function bends, plus special values) against the `f64`
//!   computation rounded to `f32`, which is correctly rounded but for
//!   astronomically rare double roundings. Bound: LANGUAGE.md's rule, 1 ulp
//!   for `exp` and `log`, 0 for `sqrt`, 4 for the rest.
//! - `f64`: arrjit calls the platform libm (musl's algorithms for
//!   `arcsinh`/`arccosh`/`arctanh`, `arrjit::vmath` for the functions in
//!   `vmath::OPS`; see `src/scalar.rs`), so the check over the same sweep
//!   is that the JIT path adds no error: bitwise equality with Rust's std
//!   (or `arrjit::scalar::f64_ops`, `vmath`'s one-element functions, for
//!   those; `tests/it/vmath.rs` measures vmath's error); and a table of
//!   correctly rounded values (mpmath at 200 bits) within the bound.
//! - Special values match NumPy's (table from NumPy 2.4).
//!
//! Run with `--nocapture` to see the max ulp error of every function.

// The tables are mpmath's correctly rounded values; some of them happen to
// be named constants (`LN_2`, `SQRT_2`), which is the point, not a mistake.
#![allow(clippy::approx_constant)]

use arrjit::scalar::{f64_ops, unary_f64_fn};
use arrjit::vmath::OPS;
use arrjit::{Array, Config, Engine, Mode, Scalar};

use crate::util::{f32_arg, f64_arg, ulp_diff, ulp_diff32};

type F64Fn = fn(f64) -> f64;
type F32Fn = fn(f32) -> f32;

/// (name, f64 reference, f32 libm function of std, f32 bound in ulp).
const UNARY: [(&str, F64Fn, F32Fn, u64); 22] = [
    ("exp", f64::exp, f32::exp, 1),
    ("exp2", f64::exp2, f32::exp2, 4),
    ("expm1", f64::exp_m1, f32::exp_m1, 4),
    ("log", f64::ln, f32::ln, 1),
    ("log2", f64::log2, f32::log2, 4),
    ("log10", f64::log10, f32::log10, 4),
    ("log1p", f64::ln_1p, f32::ln_1p, 4),
    ("sin", f64::sin, f32::sin, 4),
    ("cos", f64::cos, f32::cos, 4),
    ("tan", f64::tan, f32::tan, 4),
    ("arcsin", f64::asin, f32::asin, 4),
    ("arccos", f64::acos, f32::acos, 4),
    ("arctan", f64::atan, f32::atan, 4),
    ("sinh", f64::sinh, f32::sinh, 4),
    ("cosh", f64::cosh, f32::cosh, 4),
    ("tanh", f64::tanh, f32::tanh, 4),
    ("arcsinh", asinh, f32::asinh, 4),
    ("arccosh", acosh, f32::acosh, 4),
    ("arctanh", atanh, f32::atanh, 4),
    ("cbrt", f64::cbrt, f32::cbrt, 4),
    ("sqrt", f64::sqrt, f32::sqrt, 0),
    ("square", square, square32, 0),
];

fn asinh(x: f64) -> f64 {
    f64_ops::arcsinh(x)
}
fn acosh(x: f64) -> f64 {
    f64_ops::arccosh(x)
}
fn atanh(x: f64) -> f64 {
    f64_ops::arctanh(x)
}

/// The f64 definition the JIT must reproduce bitwise: `arrjit::vmath`'s for
/// the functions it has block routines for, else the reference itself.
fn definition64(name: &str, reference: F64Fn) -> Box<dyn Fn(f64) -> f64> {
    match OPS.iter().find(|op| op.name() == name) {
        Some(&op) => {
            let f = unary_f64_fn(op).expect("a block routine's op has a scalar function");
            Box::new(move |x| f(x))
        }
        None => Box::new(reference),
    }
}
fn square(x: f64) -> f64 {
    x * x
}
fn square32(x: f32) -> f32 {
    x * x
}

type F64Fn2 = fn(f64, f64) -> f64;
type F32Fn2 = fn(f32, f32) -> f32;

const BINARY: [(&str, F64Fn2, F32Fn2, u64); 3] = [
    ("power", f64::powf, f32::powf, 4),
    ("hypot", f64::hypot, f32::hypot, 4),
    ("arctan2", f64::atan2, f32::atan2, 4),
];

fn engine() -> Engine {
    Engine::with_config(Config {
        mode: Mode::Fused,
        verify: true,
        ..Config::default()
    })
}

/// 2^e, exactly, for e in -1074..=1023.
fn pow2(e: i32) -> f64 {
    if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (e + 1074))
    }
}

/// The f64 sweep: 3 mantissas per binade over every binade, both signs,
/// dense stretches of [-10, 10] and [-1, 1] near the edges, and specials.
fn sweep64() -> Vec<f64> {
    let mut xs = Vec::new();
    for e in -1074i32..=1023 {
        for m in [1.0, 1.337_890_625_5, 1.999_999_999_7] {
            let x = m * pow2(e);
            if x.is_finite() && x != 0.0 {
                xs.push(x);
                xs.push(-x);
            }
        }
    }
    for k in -2000..=2000 {
        xs.push(f64::from(k) * 0.005);
        xs.push(f64::from(k) * 0.000_499_9);
    }
    for k in 1..200 {
        let d = f64::from(k) * 1e-12;
        xs.extend([1.0 - d, -1.0 + d, 1.0 + d, -1.0 - d]);
    }
    xs.extend([
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        709.78,
        -745.1,
        88.72,
        -103.97,
        std::f64::consts::PI,
        std::f64::consts::FRAC_PI_2,
        1e22,
    ]);
    xs
}

/// The f32 sweep: 8 mantissas per binade, dense stretches, specials.
fn sweep32() -> Vec<f32> {
    let mut xs = Vec::new();
    for bits in (1u32..0x7f80_0000).step_by(0x0010_0003) {
        let x = f32::from_bits(bits);
        xs.extend([x, -x]);
    }
    for k in -4000..=4000 {
        xs.push(k as f32 * 0.0025);
        xs.push(k as f32 * 0.031_25 + 0.001);
    }
    for k in 1..300 {
        let d = k as f32 * 6e-8;
        xs.extend([1.0 - d, -1.0 + d, 1.0 + d, -1.0 - d]);
    }
    xs.extend([
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        88.72,
        -103.97,
        89.4,
        std::f32::consts::PI,
    ]);
    xs
}

fn f64s(a: &Array) -> Vec<f64> {
    (0..a.len())
        .map(|k| match a.get(k) {
            Scalar::F64(v) => v,
            other => panic!("expected f64, got {other:?}"),
        })
        .collect()
}

fn f32s(a: &Array) -> Vec<f32> {
    (0..a.len())
        .map(|k| match a.get(k) {
            Scalar::F32(v) => v,
            other => panic!("expected f32, got {other:?}"),
        })
        .collect()
}

#[test]
fn f32_unary_within_bounds() {
    let engine = engine();
    let xs = sweep32();
    let mut failures = Vec::new();
    for (name, f64_ref, _, bound) in UNARY {
        let got = f32s(
            &engine
                .eval(&format!("{name}(x)"), &[("x", f32_arg(&xs))])
                .unwrap(),
        );
        let (mut worst, mut at) = (0u64, 0f32);
        for (&x, &g) in xs.iter().zip(&got) {
            let want = f64_ref(f64::from(x)) as f32;
            let d = ulp_diff32(want, g);
            if d > worst {
                (worst, at) = (d, x);
            }
        }
        println!(
            "f32 {name:8} max {worst} ulp (at {at:e}, {} points)",
            xs.len()
        );
        if worst > bound {
            failures.push(format!("{name}: {worst} ulp at {at:e} (bound {bound})"));
        }
    }
    assert!(failures.is_empty(), "f32 accuracy: {failures:#?}");
}

#[test]
fn f64_unary_equals_libm() {
    let engine = engine();
    let xs = sweep64();
    let mut failures = Vec::new();
    for (name, f64_ref, _, _) in UNARY {
        let f64_ref = definition64(name, f64_ref);
        let got = f64s(
            &engine
                .eval(&format!("{name}(x)"), &[("x", f64_arg(&xs))])
                .unwrap(),
        );
        let bad = xs
            .iter()
            .zip(&got)
            .filter(|(&x, &g)| f64_ref(x).to_bits() != g.to_bits())
            .map(|(&x, &g)| (x, g, f64_ref(x)))
            .collect::<Vec<_>>();
        println!(
            "f64 {name:8} {} of {} points differ from libm",
            bad.len(),
            xs.len()
        );
        if let Some((x, g, w)) = bad.first() {
            failures.push(format!(
                "{name}({x:e}) = {g:e}, libm {w:e} ({} points)",
                bad.len()
            ));
        }
    }
    assert!(failures.is_empty(), "JIT differs from libm: {failures:#?}");
}

/// Grid of both signs over many magnitudes, for binary functions.
fn grid64() -> (Vec<f64>, Vec<f64>) {
    let mut base = vec![
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1.0,
        -1.0,
        0.5,
        2.0,
        3.0,
    ];
    for e in (-1070..1020).step_by(23) {
        let x = 1.234_567_89 * pow2(e);
        base.extend([x, -x]);
    }
    for k in -20..=20 {
        base.push(f64::from(k) * 0.37);
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for &x in &base {
        for &y in &base {
            a.push(x);
            b.push(y);
        }
    }
    (a, b)
}

#[test]
fn binary_functions() {
    let engine = engine();
    let (a, b) = grid64();
    let a32: Vec<f32> = a.iter().map(|&x| x as f32).collect();
    let b32: Vec<f32> = b.iter().map(|&x| x as f32).collect();
    let mut failures = Vec::new();
    for (name, f64_ref, _, bound) in BINARY {
        let src = format!("{name}(a, b)");
        let got = f64s(
            &engine
                .eval(&src, &[("a", f64_arg(&a)), ("b", f64_arg(&b))])
                .unwrap(),
        );
        let differ = (0..a.len())
            .filter(|&k| f64_ref(a[k], b[k]).to_bits() != got[k].to_bits())
            .count();
        let got32 = f32s(
            &engine
                .eval(&src, &[("a", f32_arg(&a32)), ("b", f32_arg(&b32))])
                .unwrap(),
        );
        let (mut worst, mut at) = (0u64, (0f32, 0f32));
        for k in 0..a32.len() {
            let want = f64_ref(f64::from(a32[k]), f64::from(b32[k])) as f32;
            let d = ulp_diff32(want, got32[k]);
            if d > worst {
                (worst, at) = (d, (a32[k], b32[k]));
            }
        }
        println!(
            "{name:8} f64: {differ} of {} points differ from libm; f32: max {worst} ulp (at {at:?})",
            a.len()
        );
        if differ > 0 {
            failures.push(format!("{name}: f64 differs from libm at {differ} points"));
        }
        if worst > bound {
            failures.push(format!("{name}: f32 {worst} ulp at {at:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Correctly rounded values (mpmath, 200 bits): (function, x, f(x)).
const CORRECTLY_ROUNDED: &[(&str, f64, f64)] = &[
    ("exp", 0.5, 1.6487212707001282),
    ("exp", 1.5, 4.4816890703380645),
    ("exp", 10.0, 22026.465794806718),
    ("exp", 100.0, 2.6881171418161356e+43),
    ("exp", 1e-05, 1.00001000005),
    ("exp", -0.75, 0.4723665527410147),
    ("exp", 3e-200, 1.0),
    ("log", 0.5, -0.6931471805599453),
    ("log", 1.5, 0.4054651081081644),
    ("log", 10.0, 2.302585092994046),
    ("log", 100.0, 4.605170185988092),
    ("log", 1e-05, -11.512925464970229),
    ("log", 3e-200, -459.41840631014105),
    ("sin", 0.5, 0.479425538604203),
    ("sin", 1.5, 0.9974949866040544),
    ("sin", 10.0, -0.5440211108893698),
    ("sin", 100.0, -0.5063656411097588),
    ("sin", 1e-05, 9.999999999833334e-06),
    ("sin", -0.75, -0.6816387600233341),
    ("sin", 3e-200, 3e-200),
    ("cos", 0.5, 0.8775825618903728),
    ("cos", 1.5, 0.0707372016677029),
    ("cos", 10.0, -0.8390715290764524),
    ("cos", 100.0, 0.8623188722876839),
    ("cos", 1e-05, 0.99999999995),
    ("cos", -0.75, 0.7316888688738209),
    ("cos", 3e-200, 1.0),
    ("tan", 0.5, 0.5463024898437905),
    ("tan", 1.5, 14.101419947171719),
    ("tan", 10.0, 0.6483608274590866),
    ("tan", 100.0, -0.5872139151569291),
    ("tan", 1e-05, 1.0000000000333334e-05),
    ("tan", -0.75, -0.9315964599440725),
    ("tan", 3e-200, 3e-200),
    ("sinh", 0.5, 0.5210953054937474),
    ("sinh", 1.5, 2.1292794550948173),
    ("sinh", 10.0, 11013.232874703393),
    ("sinh", 100.0, 1.3440585709080678e+43),
    ("sinh", 1e-05, 1.0000000000166668e-05),
    ("sinh", -0.75, -0.82231673193583),
    ("sinh", 3e-200, 3e-200),
    ("cosh", 0.5, 1.1276259652063807),
    ("cosh", 1.5, 2.352409615243247),
    ("cosh", 10.0, 11013.232920103323),
    ("cosh", 100.0, 1.3440585709080678e+43),
    ("cosh", 1e-05, 1.00000000005),
    ("cosh", -0.75, 1.2946832846768448),
    ("cosh", 3e-200, 1.0),
    ("tanh", 0.5, 0.46211715726000974),
    ("tanh", 1.5, 0.9051482536448664),
    ("tanh", 10.0, 0.9999999958776927),
    ("tanh", 100.0, 1.0),
    ("tanh", 1e-05, 9.999999999666668e-06),
    ("tanh", -0.75, -0.6351489523872873),
    ("tanh", 3e-200, 3e-200),
    ("arctan", 0.5, 0.4636476090008061),
    ("arctan", 1.5, 0.982793723247329),
    ("arctan", 10.0, 1.4711276743037347),
    ("arctan", 100.0, 1.5607966601082315),
    ("arctan", 1e-05, 9.999999999666668e-06),
    ("arctan", -0.75, -0.6435011087932844),
    ("arctan", 3e-200, 3e-200),
    ("arcsinh", 0.5, 0.48121182505960347),
    ("arcsinh", 1.5, 1.1947632172871092),
    ("arcsinh", 10.0, 2.99822295029797),
    ("arcsinh", 100.0, 5.298342365610589),
    ("arcsinh", 1e-05, 9.999999999833334e-06),
    ("arcsinh", -0.75, -0.6931471805599453),
    ("arcsinh", 3e-200, 3e-200),
    ("cbrt", 0.5, 0.7937005259840998),
    ("cbrt", 1.5, 1.1447142425533319),
    ("cbrt", 10.0, 2.154434690031884),
    ("cbrt", 100.0, 4.641588833612779),
    ("cbrt", 1e-05, 0.02154434690031884),
    ("cbrt", -0.75, -0.9085602964160698),
    ("cbrt", 3e-200, 3.107232505953859e-67),
    ("log1p", 0.5, 0.4054651081081644),
    ("log1p", 1.5, 0.9162907318741551),
    ("log1p", 10.0, 2.3978952727983707),
    ("log1p", 100.0, 4.61512051684126),
    ("log1p", 1e-05, 9.999950000333332e-06),
    ("log1p", -0.75, -1.3862943611198906),
    ("log1p", 3e-200, 3e-200),
    ("expm1", 0.5, 0.6487212707001282),
    ("expm1", 1.5, 3.481689070338065),
    ("expm1", 10.0, 22025.465794806718),
    ("expm1", 100.0, 2.6881171418161356e+43),
    ("expm1", 1e-05, 1.0000050000166668e-05),
    ("expm1", -0.75, -0.5276334472589853),
    ("expm1", 3e-200, 3e-200),
    ("exp2", 0.5, 1.4142135623730951),
    ("exp2", 1.5, 2.8284271247461903),
    ("exp2", 10.0, 1024.0),
    ("exp2", 100.0, 1.2676506002282294e+30),
    ("exp2", 1e-05, 1.0000069314958282),
    ("exp2", -0.75, 0.5946035575013605),
    ("exp2", 3e-200, 1.0),
    ("log2", 0.5, -1.0),
    ("log2", 1.5, 0.5849625007211562),
    ("log2", 10.0, 3.321928094887362),
    ("log2", 100.0, 6.643856189774724),
    ("log2", 1e-05, -16.609640474436812),
    ("log2", 3e-200, -662.8006564767513),
    ("log10", 0.5, -0.3010299956639812),
    ("log10", 1.5, 0.17609125905568124),
    ("log10", 10.0, 1.0),
    ("log10", 100.0, 2.0),
    ("log10", 1e-05, -5.0),
    ("log10", 3e-200, -199.52287874528034),
    ("arcsin", 0.5, 0.5235987755982989),
    ("arcsin", 0.1, 0.1001674211615598),
    ("arcsin", 0.99, 1.4292568534704693),
    ("arccos", 0.5, 1.0471975511965979),
    ("arccos", -0.3, 1.8754889808102941),
    ("arccos", 0.99, 0.1415394733244273),
    ("arctanh", 0.5, 0.5493061443340549),
    ("arctanh", -0.9, -1.4722194895832204),
    ("arctanh", 1e-05, 1.0000000000333334e-05),
    ("arctanh", -0.9999999999999997, -18.165667730784467),
    ("arccosh", 1.5, 0.9624236501192069),
    ("arccosh", 10.0, 2.993222846126381),
    ("arccosh", 10000000000.0, 23.7189981105004),
    ("arccosh", 1e+300, 691.4686750787737),
];

const CORRECTLY_ROUNDED_2: &[(&str, f64, f64, f64)] = &[
    ("power", 2.0, 0.5, 1.4142135623730951),
    ("power", 10.0, -3.0, 0.001),
    ("power", 1.5, 100.0, 4.065611775352152e+17),
    ("power", 0.9, -50.5, 204.52823629022248),
    ("hypot", 3.0, 4.0, 5.0),
    ("hypot", 1e+300, 1e+300, 1.4142135623730952e+300),
    ("hypot", 1.0, 1e-10, 1.0),
    ("hypot", 5e-324, 5e-324, 5e-324),
    ("arctan2", 1.0, 2.0, 0.4636476090008061),
    ("arctan2", -3.0, -0.5, -1.7359450042095235),
    ("arctan2", 1e-300, 1e+300, 0.0),
    ("arctan2", 2.0, -7.0, 2.8632929945846817),
];

#[test]
fn f64_correctly_rounded_values() {
    let engine = engine();
    let mut failures = Vec::new();
    let mut worst: std::collections::BTreeMap<&str, u64> = Default::default();
    for &(name, x, want) in CORRECTLY_ROUNDED {
        let got = engine
            .eval(&format!("{name}(x)"), &[("x", Scalar::F64(x).into())])
            .unwrap();
        let Some(Scalar::F64(g)) = got.as_scalar() else {
            panic!("{got:?}")
        };
        let d = ulp_diff(want, g);
        let bound = if matches!(name, "exp" | "log") { 1 } else { 4 };
        let w = worst.entry(name).or_default();
        *w = (*w).max(d);
        if d > bound {
            failures.push(format!(
                "{name}({x:e}) = {g:e}, correctly rounded {want:e}: {d} ulp"
            ));
        }
    }
    for &(name, x, y, want) in CORRECTLY_ROUNDED_2 {
        let got = engine
            .eval(
                &format!("{name}(x, y)"),
                &[("x", Scalar::F64(x).into()), ("y", Scalar::F64(y).into())],
            )
            .unwrap();
        let Some(Scalar::F64(g)) = got.as_scalar() else {
            panic!("{got:?}")
        };
        let d = ulp_diff(want, g);
        let w = worst.entry(name).or_default();
        *w = (*w).max(d);
        if d > 4 {
            failures.push(format!(
                "{name}({x:e}, {y:e}) = {g:e}, correctly rounded {want:e}: {d} ulp"
            ));
        }
    }
    println!("f64 max ulp against correctly rounded values: {worst:?}");
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Special values, from NumPy 2.4, for f64 and f32 alike.
const SPECIAL: &[(&str, f64, f64)] = &[
    ("log", 0.0, f64::NEG_INFINITY),
    ("log", -0.0, f64::NEG_INFINITY),
    ("log", -1.0, f64::NAN),
    ("log", f64::INFINITY, f64::INFINITY),
    ("log2", 0.0, f64::NEG_INFINITY),
    ("log10", -0.0, f64::NEG_INFINITY),
    ("log1p", -1.0, f64::NEG_INFINITY),
    ("log1p", -2.0, f64::NAN),
    ("exp", f64::NEG_INFINITY, 0.0),
    ("exp", f64::INFINITY, f64::INFINITY),
    ("exp", f64::NAN, f64::NAN),
    ("exp2", f64::NEG_INFINITY, 0.0),
    ("expm1", f64::NEG_INFINITY, -1.0),
    ("expm1", -0.0, -0.0),
    ("sqrt", -0.0, -0.0),
    ("sqrt", -1.0, f64::NAN),
    ("sqrt", f64::INFINITY, f64::INFINITY),
    ("arcsin", 2.0, f64::NAN),
    ("arccos", -2.0, f64::NAN),
    ("arctanh", 1.0, f64::INFINITY),
    ("arctanh", -1.0, f64::NEG_INFINITY),
    ("arccosh", 0.5, f64::NAN),
    ("arccosh", 1.0, 0.0),
    ("tanh", f64::INFINITY, 1.0),
    ("tanh", -0.0, -0.0),
    ("sinh", f64::NEG_INFINITY, f64::NEG_INFINITY),
    ("cosh", f64::NEG_INFINITY, f64::INFINITY),
    ("cbrt", f64::NEG_INFINITY, f64::NEG_INFINITY),
    ("cbrt", -0.0, -0.0),
    ("sin", f64::INFINITY, f64::NAN),
    ("sin", -0.0, -0.0),
    ("cos", f64::NEG_INFINITY, f64::NAN),
    ("tan", f64::NEG_INFINITY, f64::NAN),
    ("arcsinh", -0.0, -0.0),
    ("arcsinh", f64::NEG_INFINITY, f64::NEG_INFINITY),
    ("arctan", f64::NEG_INFINITY, -std::f64::consts::FRAC_PI_2),
];

const SPECIAL_2: &[(&str, f64, f64, f64)] = &[
    ("power", 0.0, -1.0, f64::INFINITY),
    ("power", -0.0, -1.0, f64::NEG_INFINITY),
    ("power", f64::NAN, 0.0, 1.0),
    ("power", 1.0, f64::NAN, 1.0),
    ("power", -1.0, f64::INFINITY, 1.0),
    ("power", -8.0, 0.3333333333333333, f64::NAN),
    ("hypot", f64::INFINITY, f64::NAN, f64::INFINITY),
    ("hypot", f64::NAN, f64::NEG_INFINITY, f64::INFINITY),
    ("arctan2", 0.0, -0.0, std::f64::consts::PI),
    ("arctan2", -0.0, -0.0, -std::f64::consts::PI),
    ("arctan2", -0.0, 0.0, -0.0),
    (
        "arctan2",
        f64::INFINITY,
        f64::NEG_INFINITY,
        2.356194490192345,
    ),
    ("arctan2", 1.0, 0.0, std::f64::consts::FRAC_PI_2),
];

/// Same value, sign of zero included; any NaN is NaN.
fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

#[test]
fn special_values_match_numpy() {
    let engine = engine();
    let mut failures = Vec::new();
    for &(name, x, want) in SPECIAL {
        let src = format!("{name}(x)");
        let g64 = engine.eval(&src, &[("x", f64_arg(&[x]))]).unwrap().get(0);
        let g32 = engine
            .eval(&src, &[("x", f32_arg(&[x as f32]))])
            .unwrap()
            .get(0);
        if !matches!(g64, Scalar::F64(g) if same(g, want)) {
            failures.push(format!("{name}({x}) f64 = {g64:?}, NumPy {want}"));
        }
        if !matches!(g32, Scalar::F32(g) if same(f64::from(g), f64::from(want as f32))) {
            failures.push(format!("{name}({x}) f32 = {g32:?}, NumPy {}", want as f32));
        }
    }
    for &(name, x, y, want) in SPECIAL_2 {
        let src = format!("{name}(x, y)");
        let g64 = engine
            .eval(&src, &[("x", f64_arg(&[x])), ("y", f64_arg(&[y]))])
            .unwrap()
            .get(0);
        let g32 = engine
            .eval(
                &src,
                &[("x", f32_arg(&[x as f32])), ("y", f32_arg(&[y as f32]))],
            )
            .unwrap()
            .get(0);
        if !matches!(g64, Scalar::F64(g) if same(g, want)) {
            failures.push(format!("{name}({x}, {y}) f64 = {g64:?}, NumPy {want}"));
        }
        if !matches!(g32, Scalar::F32(g) if same(f64::from(g), f64::from(want as f32))) {
            failures.push(format!(
                "{name}({x}, {y}) f32 = {g32:?}, NumPy {}",
                want as f32
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
