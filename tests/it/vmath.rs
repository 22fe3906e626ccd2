//! The vectorised block routines of `arrjit::vmath`.
//!
//! - Every dispatch level this CPU runs gives the same bits as the
//!   one-element functions of `scalar.rs` (which the interpreter uses), on
//!   special values, every binade and odd block lengths.
//! - Accuracy against `tests/vmath/reference.txt`: mpmath values at 200
//!   bits as double-doubles, so errors are measured in fractions of an ulp
//!   of the true value. LANGUAGE.md asks for results within 1 ulp of the
//!   correctly rounded one for `exp` and `log` (4 for the rest); an error
//!   below 1.5 ulp of the true value guarantees that, since the correctly
//!   rounded value is within 0.5 and two doubles differ by whole ulps.
//!   Every routine here is held to that 1-ulp bound.
//! - A wide sweep against glibc's libm: within 1 ulp for `exp`, `log`,
//!   `sin`, `cos` (glibc's are below 1 ulp), 2 for the others (glibc's
//!   `log10` and `tanh` are not).
//! - `f32`: a stride through every `f32` against the `f64` libm rounded
//!   to `f32`.
//!
//! Run with `--nocapture` to see the measured errors.

use arrjit::ir::UnaryOp;
use arrjit::scalar::{unary_f32_fn, unary_f64_fn};
use arrjit::vmath::{block_at, BlockFn, Level, OPS};
use arrjit::DType;

use crate::util::{ulp_diff, ulp_diff32};

fn libm(op: UnaryOp) -> fn(f64) -> f64 {
    arrjit::vmath::libm(op)
        .expect("every op of OPS has a libm function")
        .0
}

/// Runs a block routine over `xs` in blocks of at most 512, as the JIT does.
fn run64(f: &BlockFn, xs: &[f64]) -> Vec<f64> {
    let BlockFn::F64(f) = f else {
        panic!("not f64")
    };
    let mut ys = xs.to_vec();
    ys.chunks_mut(512).for_each(f);
    ys
}

fn run32(f: &BlockFn, xs: &[f32]) -> Vec<f32> {
    let BlockFn::F32(f) = f else {
        panic!("not f32")
    };
    let mut ys = xs.to_vec();
    ys.chunks_mut(512).for_each(f);
    ys
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

const SPECIAL: [f64; 24] = [
    0.0,
    -0.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    -f64::NAN,
    f64::MAX,
    f64::MIN,
    f64::MIN_POSITIVE,
    -f64::MIN_POSITIVE,
    5e-324,
    -5e-324,
    1.0,
    -1.0,
    709.782_712_893_384,
    709.782_712_893_385,
    -745.133_219_101_941_1,
    -745.133_219_101_941_2,
    -708.4,
    std::f64::consts::PI,
    std::f64::consts::FRAC_PI_2,
    1_048_576.0,
    1_048_576.000_000_000_2,
    1e22,
];

/// Special values, every binade (three mantissas, both signs), dense
/// stretches and random bit patterns.
fn inputs64() -> Vec<f64> {
    let mut xs = SPECIAL.to_vec();
    for e in 0..2047u64 {
        for m in [0u64, 0x5_5555_5555_5555, 0xf_ffff_ffff_ffff] {
            let x = f64::from_bits((e << 52) | m);
            xs.extend([x, -x]);
        }
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        xs.push(f64::from_bits(rng.next()));
        xs.push(rng.uniform(-800.0, 800.0));
        xs.push(rng.uniform(-2e6, 2e6));
    }
    // A NaN with a payload, and a signalling NaN.
    xs.extend([
        f64::from_bits(0x7ff8_0000_dead_beef),
        f64::from_bits(0x7ff0_0000_0000_0001),
    ]);
    xs
}

#[test]
fn every_level_matches_the_scalar_functions_bitwise() {
    let xs = inputs64();
    let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
    let mut levels = Vec::new();
    for level in Level::ALL {
        if !level.supported() {
            println!("{level:?}: not supported by this CPU, not tested");
            continue;
        }
        levels.push(level);
        for op in OPS {
            let one64 = unary_f64_fn(op).unwrap();
            let one32 = unary_f32_fn(op).unwrap();
            let f64_block = block_at(op, DType::F64, level).unwrap();
            let f32_block = block_at(op, DType::F32, level).unwrap();
            // Odd lengths exercise the vector loops' remainders.
            for len in [1, 3, 7, 129, 512, xs.len()] {
                let got = run64(&f64_block, &xs[..len]);
                for (&x, &g) in xs.iter().zip(&got) {
                    let want = one64(x);
                    assert_eq!(
                        g.to_bits(),
                        want.to_bits(),
                        "{level:?} f64 {}({x:e}) = {g:e}, scalar {want:e}",
                        op.name()
                    );
                }
                let got = run32(&f32_block, &xs32[..len]);
                for (&x, &g) in xs32.iter().zip(&got) {
                    let want = one32(x);
                    assert_eq!(
                        g.to_bits(),
                        want.to_bits(),
                        "{level:?} f32 {}({x:e}) = {g:e}, scalar {want:e}",
                        op.name()
                    );
                }
            }
        }
    }
    println!("levels checked: {levels:?}");
}

/// Error of `y` against the true value `hi + lo`, in ulps of `hi`.
fn ulp_error(y: f64, hi: f64, lo: f64) -> f64 {
    if y.is_infinite() || hi.is_infinite() {
        return if y == hi { 0.0 } else { f64::INFINITY };
    }
    // The ulp of the binade of `hi` (of the subnormals below 2^-1022).
    let e = (hi.to_bits() >> 52 & 0x7ff).max(1);
    let ulp = if e > 52 {
        f64::from_bits((e - 52) << 52)
    } else {
        f64::from_bits(1 << (e - 1))
    };
    ((y - hi) - lo).abs() / ulp
}

#[test]
fn accuracy_against_200_bit_references() {
    let text = include_str!("../vmath/reference.txt");
    let mut normal = [0.0f64; OPS.len()];
    let mut worst: Vec<(UnaryOp, f64, u64, f64, usize)> =
        OPS.iter().map(|&op| (op, 0.0, 0, 0.0, 0)).collect();
    for line in text.lines() {
        let mut parts = line.split(' ');
        let func = parts.next().unwrap();
        let [x, hi, lo] =
            [0; 3].map(|_| f64::from_bits(u64::from_str_radix(parts.next().unwrap(), 16).unwrap()));
        let k = OPS.iter().position(|&op| op.name() == func).unwrap();
        let w = &mut worst[k];
        let y = unary_f64_fn(w.0).unwrap()(x);
        let err = ulp_error(y, hi, lo);
        let from_cr = ulp_diff(y, hi);
        if hi.abs() >= f64::MIN_POSITIVE {
            normal[k] = normal[k].max(err);
        }
        if err > w.1 {
            w.1 = err;
            w.3 = x;
        }
        w.2 = w.2.max(from_cr);
        w.4 += 1;
    }
    let mut failures = Vec::new();
    for ((op, err, from_cr, at, n), normal) in worst.into_iter().zip(normal) {
        println!(
            "f64 {:4} max error {err:.4} ulp (at {at:e}; {normal:.4} for normal results), \
             {from_cr} ulp from correctly rounded, {n} points",
            op.name()
        );
        // The language's bound is 1 ulp from correctly rounded for exp and
        // log, 4 for the rest; all four are designed for 1 (an error below
        // 1.5 ulp of the true value; below 1 but for exp's double rounding
        // of subnormal results).
        if err >= 1.5 || from_cr > 1 {
            failures.push(format!("{}: {err} ulp at {at:e}", op.name()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn within_an_ulp_of_glibc() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut xs = inputs64();
    for _ in 0..200_000 {
        xs.push(rng.uniform(-746.0, 710.0));
        xs.push(rng.uniform(-10.0, 10.0));
        xs.push(f64::from_bits(rng.next() >> 1));
        xs.push(rng.uniform(-1.1e6, 1.1e6));
    }
    for op in OPS {
        let got = run64(&block_at(op, DType::F64, Level::detected()).unwrap(), &xs);
        let reference = libm(op);
        let (mut worst, mut at, mut differ) = (0, 0.0, 0);
        for (&x, &g) in xs.iter().zip(&got) {
            let d = ulp_diff(g, reference(x));
            differ += usize::from(d > 0);
            if d > worst {
                (worst, at) = (d, x);
            }
        }
        println!(
            "f64 {:4}: {differ} of {} differ from glibc, by at most {worst} ulp (at {at:e})",
            op.name(),
            xs.len()
        );
        // glibc's exp, log, sin and cos are within 1 ulp of correctly
        // rounded, so ours and theirs differ by at most 1; its others are
        // not (log10, for one, is 2 ulp off in places where ours is below 1
        // against the 200-bit references above), so allow 2 for those.
        let bound = match op {
            UnaryOp::Exp | UnaryOp::Log | UnaryOp::Sin | UnaryOp::Cos => 1,
            _ => 2,
        };
        assert!(
            worst <= bound,
            "{}({at:e}): {worst} ulp from glibc",
            op.name()
        );
    }
}

#[test]
fn f32_stride_through_every_value() {
    // Every 61st bit pattern: all binades, both signs, NaNs and infinities.
    let xs: Vec<f32> = (0..=u32::MAX / 61)
        .map(|k| f32::from_bits(k * 61))
        .collect();
    for op in OPS {
        let got = run32(&block_at(op, DType::F32, Level::detected()).unwrap(), &xs);
        let reference = libm(op);
        let (mut worst, mut at) = (0, 0.0);
        for (&x, &g) in xs.iter().zip(&got) {
            let d = ulp_diff32(g, reference(f64::from(x)) as f32);
            if d > worst {
                (worst, at) = (d, x);
            }
        }
        println!(
            "f32 {:4}: max {worst} ulp from glibc's f64 rounded to f32 (at {at:e}), {} points",
            op.name(),
            xs.len()
        );
        assert!(worst <= 1, "f32 {}({at:e}): {worst} ulp", op.name());
    }
}

/// NumPy's special values (and IEEE's), bit for bit but for NaN payloads.
#[test]
fn special_values() {
    let inf = f64::INFINITY;
    let table: &[(UnaryOp, f64, f64)] = &[
        (UnaryOp::Exp, 0.0, 1.0),
        (UnaryOp::Exp, -0.0, 1.0),
        (UnaryOp::Exp, inf, inf),
        (UnaryOp::Exp, -inf, 0.0),
        (UnaryOp::Exp, f64::NAN, f64::NAN),
        (UnaryOp::Exp, 709.79, inf),
        (UnaryOp::Exp, 1e300, inf),
        (UnaryOp::Exp, -745.2, 0.0),
        (UnaryOp::Exp, -745.1, 5e-324),
        (UnaryOp::Exp, -1e300, 0.0),
        (UnaryOp::Exp, 5e-324, 1.0),
        (UnaryOp::Log, 1.0, 0.0),
        (UnaryOp::Log, 0.0, -inf),
        (UnaryOp::Log, -0.0, -inf),
        (UnaryOp::Log, -1.0, f64::NAN),
        (UnaryOp::Log, -5e-324, f64::NAN),
        (UnaryOp::Log, -inf, f64::NAN),
        (UnaryOp::Log, inf, inf),
        (UnaryOp::Log, f64::NAN, f64::NAN),
        (UnaryOp::Log, 5e-324, -744.440_071_921_381_2),
        (UnaryOp::Log, f64::MAX, 709.782_712_893_384),
        (UnaryOp::Sin, 0.0, 0.0),
        (UnaryOp::Sin, -0.0, -0.0),
        (UnaryOp::Sin, 5e-324, 5e-324),
        (UnaryOp::Sin, -5e-324, -5e-324),
        (UnaryOp::Sin, inf, f64::NAN),
        (UnaryOp::Sin, -inf, f64::NAN),
        (UnaryOp::Sin, f64::NAN, f64::NAN),
        (UnaryOp::Sin, 1e22, -0.852_200_849_767_188_8),
        (UnaryOp::Cos, 0.0, 1.0),
        (UnaryOp::Cos, -0.0, 1.0),
        (UnaryOp::Cos, 1e-300, 1.0),
        (UnaryOp::Cos, inf, f64::NAN),
        (UnaryOp::Cos, f64::NAN, f64::NAN),
        (UnaryOp::Cos, 1e22, 0.523_214_785_395_139),
        (UnaryOp::Exp2, 0.0, 1.0),
        (UnaryOp::Exp2, -0.0, 1.0),
        (UnaryOp::Exp2, inf, inf),
        (UnaryOp::Exp2, -inf, 0.0),
        (UnaryOp::Exp2, f64::NAN, f64::NAN),
        (UnaryOp::Exp2, 3.0, 8.0),
        (UnaryOp::Exp2, -1.0, 0.5),
        (UnaryOp::Exp2, 1024.0, inf),
        (UnaryOp::Exp2, 1023.0, 8.988_465_674_311_58e307),
        (UnaryOp::Exp2, -1074.0, 5e-324),
        (UnaryOp::Exp2, -1075.0, 0.0),
        (UnaryOp::Exp2, -1e300, 0.0),
        (UnaryOp::Expm1, 0.0, 0.0),
        (UnaryOp::Expm1, -0.0, -0.0),
        (UnaryOp::Expm1, inf, inf),
        (UnaryOp::Expm1, -inf, -1.0),
        (UnaryOp::Expm1, f64::NAN, f64::NAN),
        (UnaryOp::Expm1, 710.0, inf),
        (UnaryOp::Expm1, -40.0, -1.0),
        (UnaryOp::Expm1, 5e-324, 5e-324),
        (UnaryOp::Expm1, -1e-300, -1e-300),
        (UnaryOp::Log2, 1.0, 0.0),
        (UnaryOp::Log2, 8.0, 3.0),
        (UnaryOp::Log2, 0.5, -1.0),
        (UnaryOp::Log2, 0.0, -inf),
        (UnaryOp::Log2, -0.0, -inf),
        (UnaryOp::Log2, -1.0, f64::NAN),
        (UnaryOp::Log2, -inf, f64::NAN),
        (UnaryOp::Log2, inf, inf),
        (UnaryOp::Log2, f64::NAN, f64::NAN),
        (UnaryOp::Log2, 5e-324, -1074.0),
        (UnaryOp::Log10, 1.0, 0.0),
        (UnaryOp::Log10, 10.0, 1.0),
        (UnaryOp::Log10, 1000.0, 3.0),
        (UnaryOp::Log10, 0.0, -inf),
        (UnaryOp::Log10, -0.0, -inf),
        (UnaryOp::Log10, -1.0, f64::NAN),
        (UnaryOp::Log10, inf, inf),
        (UnaryOp::Log10, f64::NAN, f64::NAN),
        (UnaryOp::Log1p, 0.0, 0.0),
        (UnaryOp::Log1p, -0.0, -0.0),
        (UnaryOp::Log1p, -1.0, -inf),
        (UnaryOp::Log1p, -2.0, f64::NAN),
        (UnaryOp::Log1p, inf, inf),
        (UnaryOp::Log1p, -inf, f64::NAN),
        (UnaryOp::Log1p, f64::NAN, f64::NAN),
        (UnaryOp::Log1p, 5e-324, 5e-324),
        (UnaryOp::Log1p, -1e-300, -1e-300),
        (UnaryOp::Tanh, 0.0, 0.0),
        (UnaryOp::Tanh, -0.0, -0.0),
        (UnaryOp::Tanh, inf, 1.0),
        (UnaryOp::Tanh, -inf, -1.0),
        (UnaryOp::Tanh, f64::NAN, f64::NAN),
        (UnaryOp::Tanh, 20.0, 1.0),
        (UnaryOp::Tanh, -1e300, -1.0),
        (UnaryOp::Tanh, 5e-324, 5e-324),
        (UnaryOp::Tanh, -1e-300, -1e-300),
        (UnaryOp::Sinh, 0.0, 0.0),
        (UnaryOp::Sinh, -0.0, -0.0),
        (UnaryOp::Sinh, inf, inf),
        (UnaryOp::Sinh, -inf, -inf),
        (UnaryOp::Sinh, f64::NAN, f64::NAN),
        (UnaryOp::Sinh, 711.0, inf),
        (UnaryOp::Sinh, -1e300, -inf),
        (UnaryOp::Sinh, 5e-324, 5e-324),
        (UnaryOp::Sinh, -1e-300, -1e-300),
        (UnaryOp::Cosh, 0.0, 1.0),
        (UnaryOp::Cosh, -0.0, 1.0),
        (UnaryOp::Cosh, inf, inf),
        (UnaryOp::Cosh, -inf, inf),
        (UnaryOp::Cosh, f64::NAN, f64::NAN),
        (UnaryOp::Cosh, -711.0, inf),
        (UnaryOp::Cosh, 1e300, inf),
        (UnaryOp::Cosh, 5e-324, 1.0),
        (UnaryOp::Cosh, -1e-300, 1.0),
        (UnaryOp::Tan, 0.0, 0.0),
        (UnaryOp::Tan, -0.0, -0.0),
        (UnaryOp::Tan, inf, f64::NAN),
        (UnaryOp::Tan, -inf, f64::NAN),
        (UnaryOp::Tan, f64::NAN, f64::NAN),
        (UnaryOp::Tan, 5e-324, 5e-324),
        (UnaryOp::Tan, -1e-300, -1e-300),
    ];
    let mut failures = Vec::new();
    for &(op, x, want) in table {
        for level in Level::ALL.into_iter().filter(|l| l.supported()) {
            let g = run64(&block_at(op, DType::F64, level).unwrap(), &[x])[0];
            if !(g.to_bits() == want.to_bits() || g.is_nan() && want.is_nan()) {
                failures.push(format!(
                    "{level:?} {}({x:e}) = {g:e}, want {want:e}",
                    op.name()
                ));
            }
            let g = run32(&block_at(op, DType::F32, level).unwrap(), &[x as f32])[0];
            let want = want as f32;
            if !(g.to_bits() == want.to_bits() || g.is_nan() && want.is_nan()) {
                // f32 of f64 specials: skip the ones that are not special in f32.
                if !matches!(
                    x,
                    709.79 | -745.1 | 5e-324 | -5e-324 | 1e-300 | -1e-300 | 1e22 | 1023.0 | -1074.0
                ) && x.abs() != f64::MAX
                {
                    failures.push(format!("{level:?} f32 {}({x:e}) = {g:e}", op.name()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
