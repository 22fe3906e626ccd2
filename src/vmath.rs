//! Vectorised math: block routines for the transcendentals.
//!
//! Each function is written once, as a *lane*: straight-line, branch-free
//! `f64` code (selects, not jumps) using only correctly rounded IEEE
//! operations (`+ - * /` and fused multiply-add, `f64::mul_add`) and bit
//! manipulation. A block routine maps a lane over a slice, so rustc
//! vectorises it; the same source is compiled three times (baseline, AVX2
//! with FMA, AVX-512 with FMA, through `#[target_feature]`) and [`block`]
//! hands out the best one this CPU runs. Since every operation is correctly
//! rounded, all three give the same bits, and so does the one-element form
//! [`Op::one`] that `scalar.rs` calls: the interpreter and the JIT agree by
//! construction (the architecture invariant "one definition of element
//! semantics"). The baseline build has no FMA instruction on x86-64, so
//! its `mul_add` calls libm's `fma` (correctly rounded, slow): it is only
//! for CPUs without FMA.
//!
//! A lane may give up on an element (sin and cos of huge arguments or of
//! arguments within 2^-40 of a multiple of π/2, NaN and ±inf): it returns
//! NaN, and the block routine recomputes those elements with the lane's
//! exact slow path (std's libm). The one-element form applies the same
//! rule, so the bits still agree.
//!
//! `f32` routines widen to `f64`, run the `f64` lane and round once. The
//! `f64` lane's error is below 1 `f64` ulp, so the `f32` result is within
//! 1 `f32` ulp of the correctly rounded one.
//!
//! The algorithms (classical, see Muller, *Elementary Functions*):
//! - `exp`: `x = k ln2 + r`, `|r| <= ln2/2`, with `ln2` in two pieces
//!   (the first with 32 significant bits, so `k * hi` is exact) and `r`
//!   carried as a double-double; `exp(r)` by its Taylor series to degree 13,
//!   `1 + r` summed exactly;
//!   the scale `2^k` applied as two exact powers of two, so that results in
//!   the subnormal range are rounded once and overflow gives `inf`.
//! - `log`: `x = 2^k m`, `m` in `[sqrt(1/2), sqrt(2))`, `f = m - 1`,
//!   `s = f / (2 + f)`, `log(1 + f) = 2 atanh(s) = f - (f^2/2 - s (f^2/2 + R))`
//!   with `R` the atanh series in `s^2` to degree 10; `k ln2 + f` is
//!   summed exactly; subnormals are scaled by `2^54` first.
//! - `sin`, `cos`: `x = n π/2 + r`, `|r| <= π/4`, with π/2 in three pieces
//!   (the first two with 33 significant bits, so their products with
//!   `|n| < 2^20` are exact) and `r` carried as a double-double; both
//!   Taylor series (to degree 17 and 18) and the quadrant picks one and the
//!   sign. `|x| > 2^20` goes to the slow path.

use std::sync::OnceLock;

use crate::ir::UnaryOp;
use crate::types::DType;

/// A block routine: transforms every element of the slice in place.
#[derive(Clone, Copy, Debug)]
pub enum BlockFn {
    F64(fn(&mut [f64])),
    F32(fn(&mut [f32])),
}

/// The block routine for a unary op at a dtype, already dispatched for this
/// CPU (the feature detection runs once), or `None` if that op has no block
/// routine (then it is computed element by element through `scalar.rs`).
pub fn block(op: UnaryOp, dtype: DType) -> Option<BlockFn> {
    block_at(op, dtype, Level::detected())
}

/// The block routine compiled for `level`. A level the CPU lacks falls back
/// to [`Level::Portable`] at run time, so every routine is safe to call.
pub fn block_at(op: UnaryOp, dtype: DType, level: Level) -> Option<BlockFn> {
    match op {
        UnaryOp::Exp => Some(routine::<Exp>(dtype, level)?),
        UnaryOp::Log => Some(routine::<Log>(dtype, level)?),
        UnaryOp::Sin => Some(routine::<Sin>(dtype, level)?),
        UnaryOp::Cos => Some(routine::<Cos>(dtype, level)?),
        _ => None,
    }
}

/// The ops that have block routines.
pub const OPS: [UnaryOp; 4] = [UnaryOp::Exp, UnaryOp::Log, UnaryOp::Sin, UnaryOp::Cos];

/// An instruction-set level a block routine is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// The target's baseline (SSE2 on x86-64).
    Portable,
    /// AVX2 and FMA (x86-64).
    Avx2,
    /// AVX-512 F, DQ and VL, and FMA (x86-64).
    Avx512,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Portable, Level::Avx2, Level::Avx512];

    /// The best level this CPU supports, detected once.
    pub fn detected() -> Level {
        static LEVEL: OnceLock<Level> = OnceLock::new();
        *LEVEL.get_or_init(|| {
            if Level::Avx512.supported() {
                Level::Avx512
            } else if Level::Avx2.supported() {
                Level::Avx2
            } else {
                Level::Portable
            }
        })
    }

    /// Whether this CPU runs code compiled for this level.
    pub fn supported(self) -> bool {
        match self {
            Level::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => {
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512dq")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

fn routine<O: Op>(dtype: DType, level: Level) -> Option<BlockFn> {
    Some(match (dtype, level) {
        (DType::F64, Level::Portable) => BlockFn::F64(block64::<O>),
        (DType::F32, Level::Portable) => BlockFn::F32(block32::<O>),
        #[cfg(target_arch = "x86_64")]
        (DType::F64, Level::Avx2) => BlockFn::F64(x86::avx2_64::<O>),
        #[cfg(target_arch = "x86_64")]
        (DType::F32, Level::Avx2) => BlockFn::F32(x86::avx2_32::<O>),
        #[cfg(target_arch = "x86_64")]
        (DType::F64, Level::Avx512) => BlockFn::F64(x86::avx512_64::<O>),
        #[cfg(target_arch = "x86_64")]
        (DType::F32, Level::Avx512) => BlockFn::F32(x86::avx512_32::<O>),
        #[cfg(not(target_arch = "x86_64"))]
        (DType::F64, _) => BlockFn::F64(block64::<O>),
        #[cfg(not(target_arch = "x86_64"))]
        (DType::F32, _) => BlockFn::F32(block32::<O>),
        _ => return None,
    })
}

/// The runtime dispatch: the only `unsafe` of this module. Each entry point
/// checks the CPU features itself (std caches the detection in an atomic),
/// so it is sound whoever calls it.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use super::{block32, block64, Op};

    #[target_feature(enable = "avx2,fma")]
    fn avx2_64_impl<O: Op>(xs: &mut [f64]) {
        block64::<O>(xs)
    }
    #[target_feature(enable = "avx2,fma")]
    fn avx2_32_impl<O: Op>(xs: &mut [f32]) {
        block32::<O>(xs)
    }
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,fma")]
    fn avx512_64_impl<O: Op>(xs: &mut [f64]) {
        block64::<O>(xs)
    }
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,fma")]
    fn avx512_32_impl<O: Op>(xs: &mut [f32]) {
        block32::<O>(xs)
    }

    pub fn avx2_64<O: Op>(xs: &mut [f64]) {
        if super::Level::Avx2.supported() {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            unsafe { avx2_64_impl::<O>(xs) }
        } else {
            block64::<O>(xs)
        }
    }
    pub fn avx2_32<O: Op>(xs: &mut [f32]) {
        if super::Level::Avx2.supported() {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            unsafe { avx2_32_impl::<O>(xs) }
        } else {
            block32::<O>(xs)
        }
    }
    pub fn avx512_64<O: Op>(xs: &mut [f64]) {
        if super::Level::Avx512.supported() {
            // SAFETY: the CPU has AVX-512 F, DQ, VL and FMA, checked just above.
            unsafe { avx512_64_impl::<O>(xs) }
        } else {
            block64::<O>(xs)
        }
    }
    pub fn avx512_32<O: Op>(xs: &mut [f32]) {
        if super::Level::Avx512.supported() {
            // SAFETY: the CPU has AVX-512 F, DQ, VL and FMA, checked just above.
            unsafe { avx512_32_impl::<O>(xs) }
        } else {
            block32::<O>(xs)
        }
    }
}

// ---------------------------------------------------------------------------
// Block routines over lanes.

/// One function as a lane and its slow path.
pub trait Op {
    /// The branch-free computation of one element. With a slow path, NaN
    /// means "give up": the element is recomputed by [`Op::SLOW`].
    fn lane(x: f64) -> f64;
    /// The exact path for the elements the lane gives up on.
    const SLOW: Option<fn(f64) -> f64>;

    /// The function of one `f64`: the same bits as the block routines
    /// (it runs the best one on a one-element block).
    #[inline]
    fn one(x: f64) -> f64
    where
        Self: Sized,
    {
        let mut xs = [x];
        dispatched64::<Self>(&mut xs);
        xs[0]
    }

    /// The function of one `f32`: the same bits as the block routines.
    #[inline]
    fn one32(x: f32) -> f32
    where
        Self: Sized,
    {
        Self::one(f64::from(x)) as f32
    }
}

/// The best block routine this CPU runs.
fn dispatched64<O: Op>(xs: &mut [f64]) {
    match Level::detected() {
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => x86::avx512_64::<O>(xs),
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => x86::avx2_64::<O>(xs),
        _ => block64::<O>(xs),
    }
}

/// Elements per pass: the stack buffer of a pass.
const CHUNK: usize = 64;

/// Elements per step of the vector loops: two or four vectors' worth, so
/// that each step has independent chains to overlap.
const STEP: usize = 16;

/// `O::lane` over `xs` in place, `STEP` elements at a time.
#[inline(always)]
fn map_lane<O: Op>(xs: &mut [f64]) {
    let mut steps = xs.chunks_exact_mut(STEP);
    for step in &mut steps {
        for x in step.iter_mut() {
            *x = O::lane(*x);
        }
    }
    for x in steps.into_remainder() {
        *x = O::lane(*x);
    }
}

#[inline(always)]
fn block64<O: Op>(xs: &mut [f64]) {
    if O::SLOW.is_none() {
        return map_lane::<O>(xs);
    }
    let mut buf = [0.0f64; CHUNK];
    for chunk in xs.chunks_mut(CHUNK) {
        let out = &mut buf[..chunk.len()];
        out.copy_from_slice(chunk);
        map_lane::<O>(out);
        if let Some(slow) = O::SLOW {
            if out.iter().fold(false, |any, y| any | y.is_nan()) {
                for (o, &x) in out.iter_mut().zip(chunk.iter()) {
                    if o.is_nan() {
                        *o = slow(x);
                    }
                }
            }
        }
        chunk.copy_from_slice(out);
    }
}

#[inline(always)]
fn block32<O: Op>(xs: &mut [f32]) {
    let mut buf = [0.0f64; CHUNK];
    for chunk in xs.chunks_mut(CHUNK) {
        let out = &mut buf[..chunk.len()];
        for (o, &x) in out.iter_mut().zip(chunk.iter()) {
            *o = f64::from(x);
        }
        map_lane::<O>(out);
        if let Some(slow) = O::SLOW {
            if out.iter().fold(false, |any, y| any | y.is_nan()) {
                for (o, &x) in out.iter_mut().zip(chunk.iter()) {
                    if o.is_nan() {
                        *o = slow(f64::from(x));
                    }
                }
            }
        }
        for (x, &o) in chunk.iter_mut().zip(out.iter()) {
            *x = o as f32;
        }
    }
}

// ---------------------------------------------------------------------------
// Building blocks.

/// 1.5 * 2^52: `v + SHIFT` rounds `v` (|v| < 2^51) to an integer held in
/// the low bits of the sum, as two's complement.
const SHIFT: f64 = 6_755_399_441_055_744.0;

/// `(n, bits)`: `v` rounded to the nearest integer (ties to even), as a
/// float and with `n` in the low bits of `bits`.
#[inline(always)]
fn round_int(v: f64) -> (f64, u64) {
    let t = v + SHIFT;
    (t - SHIFT, t.to_bits())
}

/// `2^n` for `bits` from [`round_int`], `-1022 <= n <= 1023`.
#[inline(always)]
fn pow2(bits: u64) -> f64 {
    f64::from_bits((bits << 52).wrapping_add(1023 << 52))
}

/// `a + b` as `s + e` exactly (Knuth's branch-free two-sum).
#[inline(always)]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// `a + b` as `s + e` exactly, when `|a| >= |b|` (or `a` is 0).
#[inline(always)]
fn fast_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

/// `if c { a } else { b }`, as a select.
#[inline(always)]
fn pick(c: bool, a: f64, b: f64) -> f64 {
    if c {
        a
    } else {
        b
    }
}

// ---------------------------------------------------------------------------
// exp

pub struct Exp;

const INV_LN2: f64 = std::f64::consts::LOG2_E;
/// ln 2 to 32 significant bits: `k * LN2_HI` is exact for `|k| < 2^21`.
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

impl Op for Exp {
    const SLOW: Option<fn(f64) -> f64> = None;

    #[inline(always)]
    fn lane(x: f64) -> f64 {
        // Beyond these exp overflows or underflows to 0 (NaN passes).
        let xc = pick(x > 710.0, 710.0, pick(x < -746.0, -746.0, x));
        let (k, _) = round_int(xc * INV_LN2);
        // xc - k*LN2_HI is exact (Sterbenz); r + rlo = xc - k ln2.
        let (r, rlo) = two_sum(xc - k * LN2_HI, -(k * LN2_LO));
        // exp(r) = 1 + r + r^2 q(r), q the Taylor series from 1/2!.
        let q: f64 = 1.605_904_383_682_161_3e-10;
        let q = q.mul_add(r, 2.087_675_698_786_81e-9);
        let q = q.mul_add(r, 2.505_210_838_544_172e-8);
        let q = q.mul_add(r, 2.755_731_922_398_589e-7);
        let q = q.mul_add(r, 2.755_731_922_398_589_3e-6);
        let q = q.mul_add(r, 2.480_158_730_158_73e-5);
        let q = q.mul_add(r, 1.984_126_984_126_984e-4);
        let q = q.mul_add(r, 1.388_888_888_888_889e-3);
        let q = q.mul_add(r, 8.333_333_333_333_333e-3);
        let q = q.mul_add(r, 4.166_666_666_666_666_4e-2);
        let q = q.mul_add(r, 0.166_666_666_666_666_66);
        let q = q.mul_add(r, 0.5);
        // exp(r + rlo) = exp(r) (1 + rlo + ...); rlo * r is below 2^-55.
        // 1 + r exactly, so that only the last addition rounds at the
        // scale of the result (about 0.55 ulp, not 0.65).
        let (one_r, one_r_lo) = fast_two_sum(1.0, r);
        let p = one_r + (one_r_lo + (r * r).mul_add(q, rlo));
        // 2^k as two exact powers of two: p * 2^k1 is exact and normal,
        // the second product rounds once (subnormal results included).
        let (k1, k1_bits) = round_int(k * 0.5);
        let (_, k2_bits) = round_int(k - k1);
        let y = p * pow2(k1_bits) * pow2(k2_bits);
        pick(x.is_nan(), x + x, y)
    }
}

// ---------------------------------------------------------------------------
// log

pub struct Log;

/// The bits of 1.0 minus those of sqrt(1/2): added to the bits of `x`, the
/// carry into the exponent field happens exactly when the mantissa is at
/// least sqrt(2).
const LOG_OFFSET: u64 = 0x3ff0_0000_0000_0000 - 0x3fe6_a09e_667f_3bcd;
const TWO52: f64 = 4_503_599_627_370_496.0;
const TWO54: f64 = 18_014_398_509_481_984.0;

impl Op for Log {
    const SLOW: Option<fn(f64) -> f64> = None;

    #[inline(always)]
    fn lane(x: f64) -> f64 {
        let sub = x < f64::MIN_POSITIVE;
        let xs = pick(sub, x * TWO54, x);
        let bits = xs.to_bits();
        // x = 2^k m, m in [sqrt(1/2), sqrt(2)); e = k + 1023.
        let e = bits.wrapping_add(LOG_OFFSET) >> 52;
        let m = f64::from_bits(bits.wrapping_sub(e << 52).wrapping_add(1023 << 52));
        let k =
            (f64::from_bits(0x4330_0000_0000_0000 | e) - (TWO52 + 1023.0)) - pick(sub, 54.0, 0.0);
        let f = m - 1.0;
        let s = f / (2.0 + f);
        let z = s * s;
        // log(1+f) = 2s + s R(z), R(z) = 2z/3 + 2z^2/5 + ... + 2z^10/21.
        let t: f64 = 2.0 / 21.0;
        let t = t.mul_add(z, 2.0 / 19.0);
        let t = t.mul_add(z, 2.0 / 17.0);
        let t = t.mul_add(z, 2.0 / 15.0);
        let t = t.mul_add(z, 2.0 / 13.0);
        let t = t.mul_add(z, 2.0 / 11.0);
        let t = t.mul_add(z, 2.0 / 9.0);
        let t = t.mul_add(z, 2.0 / 7.0);
        let t = t.mul_add(z, 2.0 / 5.0);
        let t = t.mul_add(z, 2.0 / 3.0);
        let big_r = z * t;
        // 2s = f - f^2/2 + s f^2/2, so log(1+f) = f - (h - s (h + R)).
        let h = 0.5 * f * f;
        let small = k * LN2_LO - (h - s * (h + big_r));
        // k ln2 + f exactly, so that only the last addition rounds at the
        // scale of the result (about 0.55 ulp, not 0.7).
        let (hi, lo) = two_sum(k * LN2_HI, f);
        let y = hi + (lo + small);
        let y = pick(x > 0.0 && x < f64::INFINITY, y, x + x);
        let y = pick(x < 0.0, f64::NAN, y);
        pick(x == 0.0, f64::NEG_INFINITY, y)
    }
}

// ---------------------------------------------------------------------------
// sin, cos

pub struct Sin;
pub struct Cos;

const TWO_OVER_PI: f64 = std::f64::consts::FRAC_2_PI;
/// π/2 in three pieces; the first two have 33 significant bits, so their
/// products with `|n| < 2^20` are exact.
const PIO2_1: f64 = 1.570_796_326_734_125_6;
const PIO2_2: f64 = 6.077_100_506_303_966e-11;
const PIO2_3: f64 = 2.022_266_248_795_950_6e-21;
/// The fast path's bound on `|x|`: `|n| <= 2^20 * 2/π + 1 < 2^20`.
const SINCOS_MAX: f64 = 1_048_576.0;
/// Below this, a nonzero `n` leaves too few exact bits in `r` (the
/// reduction's absolute error is about 2^-98).
const SINCOS_MIN_R: f64 = 9.094_947_017_729_282e-13; // 2^-40

/// `sin(x)` (`cos_shift = 0`) or `cos(x) = sin(x + π/2)` (`cos_shift = 1`),
/// or NaN for the slow path.
#[inline(always)]
fn sincos_lane(x: f64, cos_shift: u64) -> f64 {
    let (n, n_bits) = round_int(x * TWO_OVER_PI);
    let (a, ea) = two_sum(x, -(n * PIO2_1));
    let (b, eb) = two_sum(a, -(n * PIO2_2));
    let (c, ec) = two_sum(b, -(n * PIO2_3));
    let (r, rlo) = fast_two_sum(c, ea + eb + ec);
    let z = r * r;
    // sin(r) = r + r z S(z); sin(r + rlo) = sin(r) + rlo cos(r).
    let sp: f64 = 2.811_457_254_345_520_6e-15;
    let sp = sp.mul_add(z, -7.647_163_731_819_816e-13);
    let sp = sp.mul_add(z, 1.605_904_383_682_161_3e-10);
    let sp = sp.mul_add(z, -2.505_210_838_544_172e-8);
    let sp = sp.mul_add(z, 2.755_731_922_398_589_3e-6);
    let sp = sp.mul_add(z, -1.984_126_984_126_984e-4);
    let sp = sp.mul_add(z, 8.333_333_333_333_333e-3);
    let sp = sp.mul_add(z, -0.166_666_666_666_666_66);
    let s = r + (r * (z * sp) + rlo * (1.0 - 0.5 * z));
    // cos(r) = 1 - z/2 + z^2 C(z); cos(r + rlo) = cos(r) - rlo sin(r).
    let cp: f64 = -1.561_920_696_858_622_5e-16;
    let cp = cp.mul_add(z, 4.779_477_332_387_385e-14);
    let cp = cp.mul_add(z, -1.147_074_559_772_972_5e-11);
    let cp = cp.mul_add(z, 2.087_675_698_786_81e-9);
    let cp = cp.mul_add(z, -2.755_731_922_398_589e-7);
    let cp = cp.mul_add(z, 2.480_158_730_158_73e-5);
    let cp = cp.mul_add(z, -1.388_888_888_888_889e-3);
    let cp = cp.mul_add(z, 4.166_666_666_666_666_4e-2);
    let c = 1.0 - (0.5 * z - (z * (z * cp) - rlo * r));
    // Quadrant j = n + shift: j odd takes the cosine, j & 2 the minus sign.
    let j = n_bits.wrapping_add(cos_shift);
    let y = pick(j & 1 == 0, s, c);
    let y = f64::from_bits(y.to_bits() ^ ((j & 2) << 62));
    let ok = x.abs() <= SINCOS_MAX && (n == 0.0 || r.abs() >= SINCOS_MIN_R);
    pick(ok, y, f64::NAN)
}

impl Op for Sin {
    const SLOW: Option<fn(f64) -> f64> = Some(f64::sin);

    #[inline(always)]
    fn lane(x: f64) -> f64 {
        // sin(±0) = ±0 (the sum above would give +0 for -0).
        pick(x == 0.0, x, sincos_lane(x, 0))
    }
}

impl Op for Cos {
    const SLOW: Option<fn(f64) -> f64> = Some(f64::cos);

    #[inline(always)]
    fn lane(x: f64) -> f64 {
        sincos_lane(x, 1)
    }
}

/// The functions of one element, for `scalar.rs`: the same bits as the
/// block routines.
pub mod one {
    use super::{Cos, Exp, Log, Op, Sin};

    pub fn exp(x: f64) -> f64 {
        Exp::one(x)
    }
    pub fn log(x: f64) -> f64 {
        Log::one(x)
    }
    pub fn sin(x: f64) -> f64 {
        Sin::one(x)
    }
    pub fn cos(x: f64) -> f64 {
        Cos::one(x)
    }
    pub fn exp_f32(x: f32) -> f32 {
        Exp::one32(x)
    }
    pub fn log_f32(x: f32) -> f32 {
        Log::one32(x)
    }
    pub fn sin_f32(x: f32) -> f32 {
        Sin::one32(x)
    }
    pub fn cos_f32(x: f32) -> f32 {
        Cos::one32(x)
    }
}
