//! Vectorised math: block routines for the transcendentals.
//!
//! Each function is written once, as a *lane*: straight-line, branch-free
//! `f64` code (selects, not jumps) using only correctly rounded IEEE
//! operations (`+ - * /` and fused multiply-add, `f64::mul_add`), bit
//! manipulation and loads from small constant tables. A block routine maps
//! a lane over a slice, so rustc vectorises it (table loads become
//! gathers); the same source is compiled three times (baseline, AVX2 with
//! FMA, AVX-512 with FMA, through `#[target_feature]`) and [`block`] hands
//! out the best one this CPU runs. Since every operation is correctly
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
//! `f64` lanes' errors are below 1 `f64` ulp, so the `f32` result is within
//! 1 `f32` ulp of the correctly rounded one.
//!
//! The algorithms (classical, see Muller, *Elementary Functions*; Tang's
//! table-driven exponential); the coefficients and tables are our own
//! fits, made by `tests/vmath/fit_coefficients.py`:
//! - `exp`: `x = k ln2 + r`, `|r| <= ln2/2`, with `ln2` in two pieces
//!   (the first with 32 significant bits, so `k * hi` is exact) and `r`
//!   carried as a double-double; `exp(r)` by its Taylor series to degree
//!   13, `1 + r` summed exactly; the scale `2^k` applied as two exact
//!   powers of two, so that results in the subnormal range are rounded
//!   once and overflow gives `inf` (0.61 ulp).
//! - The table-driven exponential behind `exp2`, `expm1`, `tanh`, `sinh` and `cosh`
//!   (`TableExp`): `x = (16 k + j) ln2/16 + r`, `|r| <= ln2/32`, with
//!   ln2/16 in two pieces (the first with 36 significant bits, so `m * hi`
//!   and `x - m * hi` are exact); `exp(r) - 1 = r + r^2 q(r)`, `q` of
//!   degree 5 fitted on the interval (relative error 2^-65); `2^(j/16)`
//!   from a 16-entry table as `hi + lo`, so `hi + (hi p + lo)` rounds once
//!   at the scale of the result (about 0.52 ulp); the scale as for `exp`.
//!   With AVX-512 the table loads become gathers and this is 1.2–1.5×
//!   faster than `exp`'s lane; LLVM emits no gathers for AVX2, where these
//!   loops stay scalar and it is 2.2× slower, so `exp` itself keeps the
//!   table-free lane (`benches/vmath.rs`, `exp-lanes`).
//! - `exp2`: `x = m/16 + t` exactly, `r = t ln2` (one rounding, 2^-59
//!   relative to the result), then as `exp`.
//! - `expm1`: `exp`'s reduction with `r`'s rounding error kept;
//!   `(2^k hi - 1) + 2^k hi r` summed exactly (two-sums, an fma product),
//!   the small terms added last, so cancellation near 0 costs nothing;
//!   `exp`'s path above 40, `-1` below -50.
//! - `tanh`: `t / (t + 2)` with `t = expm1(2|x|)` as a double-double, the
//!   quotient from one reciprocal and one fma-remainder correction;
//!   `|x| > 20` gives ±1.
//! - `sinh`, `cosh`: below `|x| = 22`, from `t = expm1|x|` as a
//!   double-double: `sinh = (t + t/(t+1)) / 2` (two non-negative terms, so
//!   nothing cancels near 0) and `cosh = (E + 1/E) / 2` with `E = t + 1`
//!   carried exactly, the quotients as `tanh`'s; from 22 on (where `e^-|x|`
//!   is below 2^-63 of the result) `e^|x| / 2`, scaled by one power of two
//!   less so that it overflows where they do (710.48), not where `exp` does.
//! - `log`: `x = 2^k m`, `m` in `[sqrt(1/2), sqrt(2))`, `f = m - 1`,
//!   `s = f / (2 + f)`, `log(1 + f) = 2 atanh(s) = f - (f^2/2 - s (f^2/2 + R))`
//!   with `R` the atanh series in `s^2` to degree 10; `k ln2 + f` is
//!   summed exactly; subnormals are scaled by `2^54` first.
//! - `log2`, `log10`: `log`'s reduction, `f` times `1/ln2` (`log10(e)`)
//!   as an exact fma product plus the small terms, `k` (`k log10(2)` in two
//!   pieces) added by an exact two-sum; so `log2` of a power of two is exact.
//! - `log1p`: `1 + x = u + c` exactly (two-sum), `log(u)` as `log`, plus
//!   `c / u`.
//! - `sin`, `cos`: `x = n π/2 + r`, `|r| <= π/4`, with π/2 in three pieces
//!   (the first two with 33 significant bits, so their products with
//!   `|n| < 2^20` are exact) and `r` carried as a double-double; both
//!   Taylor series (to degree 17 and 18) and the quadrant picks one and the
//!   sign. `|x| > 2^20` goes to the slow path.
//! - `tan`: the same reduction and series, both as double-doubles, then
//!   `sin/cos` (even quadrant) or `-cos/sin` (odd) by `tanh`'s quotient.

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
        UnaryOp::Exp2 => Some(routine::<Exp2>(dtype, level)?),
        UnaryOp::Expm1 => Some(routine::<Expm1>(dtype, level)?),
        UnaryOp::Log2 => Some(routine::<Log2>(dtype, level)?),
        UnaryOp::Log10 => Some(routine::<Log10>(dtype, level)?),
        UnaryOp::Log1p => Some(routine::<Log1p>(dtype, level)?),
        UnaryOp::Tanh => Some(routine::<Tanh>(dtype, level)?),
        UnaryOp::Sinh => Some(routine::<Sinh>(dtype, level)?),
        UnaryOp::Cosh => Some(routine::<Cosh>(dtype, level)?),
        UnaryOp::Tan => Some(routine::<Tan>(dtype, level)?),
        _ => None,
    }
}

/// The ops that have block routines.
pub const OPS: [UnaryOp; 13] = [
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Sin,
    UnaryOp::Cos,
    UnaryOp::Exp2,
    UnaryOp::Expm1,
    UnaryOp::Log2,
    UnaryOp::Log10,
    UnaryOp::Log1p,
    UnaryOp::Tanh,
    UnaryOp::Sinh,
    UnaryOp::Cosh,
    UnaryOp::Tan,
];

/// A function of std in `f64` and in `f32`.
pub type LibmPair = (fn(f64) -> f64, fn(f32) -> f32);

/// The per-element function of Rust's std (the platform libm) that op `op`
/// of [`OPS`] replaces: what the tests measure the block routines against
/// and the benchmarks time them beside. `None` for other ops.
#[doc(hidden)]
pub fn libm(op: UnaryOp) -> Option<LibmPair> {
    Some(match op {
        UnaryOp::Exp => (f64::exp, f32::exp),
        UnaryOp::Log => (f64::ln, f32::ln),
        UnaryOp::Sin => (f64::sin, f32::sin),
        UnaryOp::Cos => (f64::cos, f32::cos),
        UnaryOp::Exp2 => (f64::exp2, f32::exp2),
        UnaryOp::Expm1 => (f64::exp_m1, f32::exp_m1),
        UnaryOp::Log2 => (f64::log2, f32::log2),
        UnaryOp::Log10 => (f64::log10, f32::log10),
        UnaryOp::Log1p => (f64::ln_1p, f32::ln_1p),
        UnaryOp::Tanh => (f64::tanh, f32::tanh),
        UnaryOp::Sinh => (f64::sinh, f32::sinh),
        UnaryOp::Cosh => (f64::cosh, f32::cosh),
        UnaryOp::Tan => (f64::tan, f32::tan),
        _ => return None,
    })
}

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

/// The block routine of any lane at a dtype and level: for benchmarks that
/// compare a candidate lane with the shipped ones under the same dispatch.
#[doc(hidden)]
pub fn block_of<O: Op>(dtype: DType, level: Level) -> Option<BlockFn> {
    routine::<O>(dtype, level)
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
// exp, exp2, expm1, tanh

pub struct Exp;
pub struct Exp2;
pub struct Expm1;
pub struct Tanh;
pub struct Sinh;
pub struct Cosh;

/// 16 / ln 2.
const EXP_N_OVER_LN2: f64 = 23.083_120_654_223_414;
/// ln2 / 16 in two pieces; the first has 36 significant bits, so its
/// product with `|m| < 2^17` is exact.
const EXP_LN2_N_HI: f64 = 0.043_321_698_784_893_67;
const EXP_LN2_N_LO: f64 = 1.029_121_848_931_067_6e-13;
const LN2: f64 = std::f64::consts::LN_2;

/// `2^(j/16)` rounded to `f64`, and the rest (`tests/vmath/fit_coefficients.py`).
static EXP_HI: [f64; 16] = [
    1.0,
    1.044_273_782_427_413_8,
    1.090_507_732_665_257_7,
    1.138_788_634_756_691_6,
    1.189_207_115_002_721,
    1.241_857_812_073_484,
    1.296_839_554_651_009_6,
    1.354_255_546_936_892_7,
    std::f64::consts::SQRT_2,
    1.476_826_145_939_499_3,
    1.542_210_825_407_940_7,
    1.610_490_331_949_254_3,
    1.681_792_830_507_429,
    1.756_252_160_373_299_5,
    1.834_008_086_409_342_4,
    1.915_206_561_397_147_4,
];
static EXP_LO: [f64; 16] = [
    0.0,
    8.551_889_705_537_965e-17,
    -3.046_782_079_812_471e-17,
    8.912_812_676_025_408e-17,
    3.982_015_231_465_646e-17,
    4.658_027_591_836_937e-17,
    2.538_250_279_488_831_5e-17,
    7.700_948_379_802_99e-17,
    -9.667_293_313_452_913e-17,
    -3.483_994_556_892_796e-17,
    7.949_834_809_697_621e-17,
    2.470_719_256_979_788_8e-17,
    8.199_010_020_581_497e-17,
    2.960_140_695_448_873e-17,
    3.283_107_224_245_627e-17,
    -1.061_994_605_619_596_3e-16,
];

/// The reduced exponential: `exp(x) = 2^k (hi + lo) (1 + p)` for
/// `x = (16 k + j) ln2/16 + r`, `|r| <= ln2/32`, `p = exp(r) - 1`.
#[derive(Clone, Copy)]
struct ExpParts {
    /// `k`, as an integer.
    k: i64,
    /// `2^(j/16)` as `hi + lo`.
    hi: f64,
    lo: f64,
    /// `r`, and `r^2 q(r)`: `exp(r) - 1 = r + r2q` within 2^-64.
    r: f64,
    r2q: f64,
    /// The rounding error of `r` (`exp` and `exp2` need not add it: it is
    /// below 2^-59 relative to their result; `expm1` near 0 does).
    rlo: f64,
}

/// `m` rounded to the nearest integer as a float, and as an integer.
#[inline(always)]
fn round_i64(v: f64) -> (f64, i64) {
    let t = v + SHIFT;
    // t = 1.5 * 2^52 + m: the bits of t minus those of 1.5 * 2^52 are m.
    (
        t - SHIFT,
        (t.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64),
    )
}

/// The table and polynomial for `m` (the multiple of ln2/16) and `r`.
#[inline(always)]
fn exp_parts(m: i64, r: f64, rlo: f64) -> ExpParts {
    let j = (m & 15) as usize;
    // exp(r) - 1 = r + r^2 q(r), q of degree 5 fitted on |r| <= ln2/32
    // (relative error 2^-64.9; tests/vmath/fit_coefficients.py).
    let q: f64 = 1.984_153_657_099_694e-4;
    let q = q.mul_add(r, 1.388_911_335_776_845_4e-3);
    let q = q.mul_add(r, 8.333_333_332_528_65e-3);
    let q = q.mul_add(r, 4.166_666_666_052_181e-2);
    let q = q.mul_add(r, 0.166_666_666_666_666_74);
    let q = q.mul_add(r, 0.500_000_000_000_000_4);
    ExpParts {
        k: m >> 4,
        hi: EXP_HI[j],
        lo: EXP_LO[j],
        r,
        r2q: (r * r) * q,
        rlo,
    }
}

/// `2^k` for `-1022 <= k <= 1023` (and `inf` for `k = 1024`).
#[inline(always)]
fn pow2_i64(k: i64) -> f64 {
    f64::from_bits((k.wrapping_add(1023) as u64) << 52)
}

/// `2^k (hi + lo) (1 + p)`, `|k| <= 1080`: `hi + (hi p + lo)` rounds once
/// at the scale of the result (about 0.52 ulp), then `2^k` as two exact
/// powers of two, so that results in the subnormal range are rounded
/// there once more and overflow gives `inf`.
#[inline(always)]
fn exp_finish(e: &ExpParts) -> f64 {
    let p = e.r + e.r2q;
    let y = e.hi + e.hi.mul_add(p, e.lo);
    let k1 = e.k >> 1;
    y * pow2_i64(k1) * pow2_i64(e.k - k1)
}

/// The reduction of `x`, `|x| < 1100`: `x = (16 k + j) ln2/16 + r`. The
/// product `mf * HI` is exact and so is `x - mf * HI` (Sterbenz); `r`'s
/// rounding error is below 2^-59 relative to the result.
#[inline(always)]
fn exp_reduce(x: f64) -> ExpParts {
    let (mf, m) = round_i64(x * EXP_N_OVER_LN2);
    let v = x - mf * EXP_LN2_N_HI;
    let w = mf * EXP_LN2_N_LO;
    let (r, rlo) = two_sum(v, -w);
    exp_parts(m, r, rlo)
}

/// `exp(x) - 1` from the reduction: `(2^k hi - 1) + 2^k hi r + (2^k hi
/// (r2q + rlo) + 2^k lo (1 + r))`, the first two terms and their sum
/// carried exactly (two-sums and an fma two-product), so that
/// cancellation (`x` near `-ln2/16`, say) costs nothing: about 0.52 ulp.
/// The result is a double-double `hi + lo` (`hi` rounded to nearest).
/// Meant for `k <= 60` (larger `k` are clamped, giving a wrong but finite
/// value).
#[inline(always)]
fn expm1_finish(e: &ExpParts) -> (f64, f64) {
    let s = pow2_i64(e.k.min(60));
    let (shi, slo) = (e.hi * s, e.lo * s);
    let (a, a_err) = two_sum(shi, -1.0);
    let b = shi * e.r;
    let b_err = shi.mul_add(e.r, -b);
    let (c, c_err) = two_sum(a, b);
    let small = shi.mul_add(e.r2q + e.rlo, slo.mul_add(e.r, slo));
    two_sum(c, (c_err + (a_err + b_err)) + small)
}

impl Op for Exp {
    const SLOW: Option<fn(f64) -> f64> = None;

    /// Table-free: `x = k ln2 + r`, `|r| <= ln2/2`, `r` a double-double,
    /// the Taylor series of `exp(r) - 1 - r` to degree 13, `1 + r` summed
    /// exactly, the scale as two exact powers of two.
    #[inline(always)]
    fn lane(x: f64) -> f64 {
        const SHIFT: f64 = 6_755_399_441_055_744.0;
        // Beyond these exp overflows or underflows to 0 (NaN passes).
        let xc = pick(x > 710.0, 710.0, pick(x < -746.0, -746.0, x));
        let t = xc * std::f64::consts::LOG2_E + SHIFT;
        let k = t - SHIFT;
        let a = xc - k * LN2_HI;
        let b = -(k * LN2_LO);
        let (r, rlo) = two_sum(a, b);
        // 1/n! for n = 15 down to 2, Horner in r.
        let mut q: f64 = 1.605_904_383_682_161_3e-10;
        for c in [
            2.087_675_698_786_81e-9,
            2.505_210_838_544_172e-8,
            2.755_731_922_398_589e-7,
            2.755_731_922_398_589_3e-6,
            2.480_158_730_158_73e-5,
            1.984_126_984_126_984e-4,
            1.388_888_888_888_889e-3,
            8.333_333_333_333_333e-3,
            4.166_666_666_666_666_4e-2,
            0.166_666_666_666_666_66,
            0.5,
        ] {
            q = q.mul_add(r, c);
        }
        let (one_r, one_r_lo) = fast_two_sum(1.0, r);
        let p = one_r + (one_r_lo + (r * r).mul_add(q, rlo));
        let k1 = (k * 0.5 + SHIFT) - SHIFT;
        let pow2 = |n: f64| f64::from_bits(((n + SHIFT).to_bits() << 52).wrapping_add(1023 << 52));
        let y = p * pow2(k1) * pow2(k - k1);
        pick(x.is_nan(), x + x, y)
    }
}

/// `exp` by the table-driven reduction `exp2`, `expm1` and `tanh` use (the
/// module doc). Not `exp`'s lane: it is 1.2–1.5× faster with AVX-512,
/// whose gathers read the table, but 2.2× slower with AVX2, where LLVM
/// emits no gathers and the loop stays scalar, so `exp` keeps the
/// table-free lane (`benches/vmath.rs` measures both at every level).
#[doc(hidden)]
pub struct TableExp;

impl Op for TableExp {
    const SLOW: Option<fn(f64) -> f64> = None;

    #[inline(always)]
    fn lane(x: f64) -> f64 {
        // Beyond these exp overflows or underflows to 0 (NaN passes).
        let xc = pick(x > 710.0, 710.0, pick(x < -746.0, -746.0, x));
        let y = exp_finish(&exp_reduce(xc));
        pick(x.is_nan(), x + x, y)
    }
}

impl Op for Exp2 {
    const SLOW: Option<fn(f64) -> f64> = None;

    #[inline(always)]
    fn lane(x: f64) -> f64 {
        let xc = pick(x > 1025.0, 1025.0, pick(x < -1080.0, -1080.0, x));
        // x = m/16 + t exactly, |t| <= 1/32; r = t ln2 rounds once
        // (2^-59 relative to the result).
        let (mf, m) = round_i64(xc * 16.0);
        let r = (xc - mf * 0.0625) * LN2;
        let y = exp_finish(&exp_parts(m, r, 0.0));
        pick(x.is_nan(), x + x, y)
    }
}

impl Op for Expm1 {
    const SLOW: Option<fn(f64) -> f64> = None;

    #[inline(always)]
    fn lane(x: f64) -> f64 {
        // Below -50 the result rounds to -1; above 40 it is exp(x).
        let xc = pick(x > 710.0, 710.0, pick(x < -50.0, -50.0, x));
        let e = exp_reduce(xc);
        let y = pick(xc > 40.0, exp_finish(&e), expm1_finish(&e).0);
        // expm1(-0) = -0 (the sum above gives +0); NaN passes.
        pick(x == 0.0 || x.is_nan(), x + x, y)
    }
}

impl Op for Tanh {
    const SLOW: Option<fn(f64) -> f64> = None;

    #[inline(always)]
    fn lane(x: f64) -> f64 {
        // tanh|x| = t / (t + 2), t = expm1(2|x|); beyond 20 it rounds to 1.
        let a = x.abs();
        let a = pick(a > 20.0, 20.0, a);
        let (t, tl) = expm1_finish(&exp_reduce(a + a));
        // (t + tl) / (d + dl), d + dl = t + tl + 2 (d + dl0 = t + 2
        // exactly): q = t/d to about 1 ulp from one division's reciprocal,
        // then one correction step with the remainder t + tl - q (d + dl)
        // (the product q d exact by fma) brings it to about 0.5 ulp.
        let (d, dl0) = two_sum(t, 2.0);
        let y = divide_dd(t, tl, d, dl0 + tl);
        let y = f64::from_bits(y.to_bits() | (x.to_bits() & (1 << 63)));
        pick(x.is_nan(), x + x, y)
    }
}

/// `q = n / d` for `n + nl` over `d + dl` (`|dl|`, `|nl|` tiny against
/// `d`, `n`): one division's reciprocal, then one correction step with the
/// remainder (the product `q d` exact by fma): about 0.5 ulp.
#[inline(always)]
fn divide_dd(n: f64, nl: f64, d: f64, dl: f64) -> f64 {
    let inv = 1.0 / d;
    let q = n * inv;
    let rem = ((-q).mul_add(d, n) + nl) - q * dl;
    rem.mul_add(inv, q)
}

/// `e^a / 2` for `a >= 0` from its reduction (one power of two less, so
/// that it overflows where `sinh` and `cosh` do, near 710.48, not where
/// `exp` does).
#[inline(always)]
fn half_exp(e: &ExpParts) -> f64 {
    exp_finish(&ExpParts { k: e.k - 1, ..*e })
}

/// Where `e^-a` no longer shows in `sinh a` or `cosh a` (it is below
/// 2^-63 of `e^a`).
const HYPERBOLIC_BIG: f64 = 22.0;

/// What `sinh` and `cosh` of `|x|` start from: `|x|` clamped where either
/// is `inf` anyway (past 711; NaN is handled by the caller), its
/// reduction, `t = expm1|x|` and `E = e^|x| = t + 1`, both as
/// double-doubles.
struct Hyperbolic {
    a: f64,
    e: ExpParts,
    t: f64,
    tl: f64,
    big: f64,
    big_lo: f64,
}

#[inline(always)]
fn hyperbolic(x: f64) -> Hyperbolic {
    let a = x.abs();
    let a = pick(a > 711.0, 711.0, a);
    let e = exp_reduce(a);
    let (t, tl) = expm1_finish(&e);
    let (big, el0) = two_sum(t, 1.0);
    Hyperbolic {
        a,
        e,
        t,
        tl,
        big,
        big_lo: el0 + tl,
    }
}

/// `(hi + lo + q) / 2` below 22 (`hi + q` by a two-sum, both terms
/// non-negative, so nothing cancels), `e^|x| / 2` from 22 on.
#[inline(always)]
fn hyperbolic_half_sum(h: &Hyperbolic, hi: f64, lo: f64, q: f64) -> f64 {
    let (u, ue) = two_sum(hi, q);
    let small = (u + (ue + lo)) * 0.5;
    pick(h.a < HYPERBOLIC_BIG, small, half_exp(&h.e))
}

impl Op for Sinh {
    const SLOW: Option<fn(f64) -> f64> = None;

    /// `sinh|x| = (t + t / (t + 1)) / 2`, `t = expm1|x|` (at most 0.75 ulp
    /// against the 200-bit references); `e^|x| / 2` from 22 on; the sign
    /// of `x`.
    #[inline(always)]
    fn lane(x: f64) -> f64 {
        let h = hyperbolic(x);
        let q = divide_dd(h.t, h.tl, h.big, h.big_lo);
        let y = hyperbolic_half_sum(&h, h.t, h.tl, q);
        let y = f64::from_bits(y.to_bits() | (x.to_bits() & (1 << 63)));
        pick(x.is_nan(), x + x, y)
    }
}

impl Op for Cosh {
    const SLOW: Option<fn(f64) -> f64> = None;

    /// `cosh x = (E + 1/E) / 2`, `E = e^|x|` (the reciprocal is at most
    /// `E`, so its rounding is small at the result's scale: at most 0.6
    /// ulp against the 200-bit references); `e^|x| / 2` from 22 on.
    #[inline(always)]
    fn lane(x: f64) -> f64 {
        let h = hyperbolic(x);
        let r = divide_dd(1.0, 0.0, h.big, h.big_lo);
        let y = hyperbolic_half_sum(&h, h.big, h.big_lo, r);
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
/// ln 2 to 32 significant bits: `k * LN2_HI` is exact for `|k| < 2^21`.
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// The reduction of a finite positive `x` (subnormals included):
/// `log(x) = k ln2 + f - t`, `x = 2^k m`, `m` in `[sqrt(1/2), sqrt(2))`,
/// `f = m - 1` exact, `t = f^2/2 - s (f^2/2 + R)` the small correction.
#[inline(always)]
fn log_reduce(x: f64) -> (f64, f64, f64) {
    let sub = x < f64::MIN_POSITIVE;
    let xs = pick(sub, x * TWO54, x);
    let bits = xs.to_bits();
    // x = 2^k m, m in [sqrt(1/2), sqrt(2)); e = k + 1023.
    let e = bits.wrapping_add(LOG_OFFSET) >> 52;
    let m = f64::from_bits(bits.wrapping_sub(e << 52).wrapping_add(1023 << 52));
    let k = (f64::from_bits(0x4330_0000_0000_0000 | e) - (TWO52 + 1023.0)) - pick(sub, 54.0, 0.0);
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
    (k, f, h - s * (h + big_r))
}

/// The special values of the logarithms: `y` for finite positive `x`, NaN
/// below 0, `-inf` at ±0, `x` itself for `inf` and NaN.
#[inline(always)]
fn log_special(x: f64, y: f64) -> f64 {
    let y = pick(x > 0.0 && x < f64::INFINITY, y, x + x);
    let y = pick(x < 0.0, f64::NAN, y);
    pick(x == 0.0, f64::NEG_INFINITY, y)
}

impl Op for Log {
    const SLOW: Option<fn(f64) -> f64> = None;

    #[inline(always)]
    fn lane(x: f64) -> f64 {
        let (k, f, t) = log_reduce(x);
        let small = k * LN2_LO - t;
        // k ln2 + f exactly, so that only the last addition rounds at the
        // scale of the result (about 0.55 ulp, not 0.7).
        let (hi, lo) = two_sum(k * LN2_HI, f);
        log_special(x, hi + (lo + small))
    }
}

pub struct Log2;
pub struct Log10;
pub struct Log1p;

/// 1/ln2 and 1/ln10 as `hi + lo`.
const INV_LN2_HI: f64 = std::f64::consts::LOG2_E;
const INV_LN2_LO: f64 = 2.035_527_374_093_103_3e-17;
const LOG10_E_HI: f64 = std::f64::consts::LOG10_E;
const LOG10_E_LO: f64 = 1.098_319_650_216_765e-17;
/// log10(2) in two pieces; the first has 40 significant bits, so its
/// product with `|k| <= 1100` is exact.
const LOG10_2_HI: f64 = 0.301_029_995_663_611_77;
const LOG10_2_LO: f64 = 3.694_239_077_158_931e-13;

/// `c (f - t)` for `c = hi + lo`, as `p + rest` with `p = f hi` rounded
/// and its error in `rest` (exact by fma).
#[inline(always)]
fn scaled_log(f: f64, t: f64, hi: f64, lo: f64) -> (f64, f64) {
    let p = f * hi;
    let pe = f.mul_add(hi, -p);
    (p, pe + (f * lo - t * hi))
}

impl Op for Log2 {
    const SLOW: Option<fn(f64) -> f64> = None;

    #[inline(always)]
    fn lane(x: f64) -> f64 {
        let (k, f, t) = log_reduce(x);
        let (p, rest) = scaled_log(f, t, INV_LN2_HI, INV_LN2_LO);
        // k + p exactly (k is an integer, so powers of two give k exactly).
        let (hi, lo) = two_sum(k, p);
        log_special(x, hi + (lo + rest))
    }
}

impl Op for Log10 {
    const SLOW: Option<fn(f64) -> f64> = None;

    #[inline(always)]
    fn lane(x: f64) -> f64 {
        let (k, f, t) = log_reduce(x);
        let (p, rest) = scaled_log(f, t, LOG10_E_HI, LOG10_E_LO);
        let (hi, lo) = two_sum(k * LOG10_2_HI, p);
        log_special(x, hi + (lo + (k.mul_add(LOG10_2_LO, rest))))
    }
}

impl Op for Log1p {
    const SLOW: Option<fn(f64) -> f64> = None;

    #[inline(always)]
    fn lane(x: f64) -> f64 {
        // 1 + x = u + c exactly; log(u + c) = log(u) + c/u (the next term,
        // (c/u)^2/2, is below 2^-107 relative).
        let (u, c) = two_sum(1.0, x);
        let c = pick(x.abs() < 1e300, c, 0.0);
        let (k, f, t) = log_reduce(u);
        let small = k.mul_add(LN2_LO, c / u - t);
        let (hi, lo) = two_sum(k * LN2_HI, f);
        let y = log_special(u, hi + (lo + small));
        // log1p(-0) = -0 (the sum above gives +0); NaN passes.
        pick(x == 0.0 || x.is_nan(), x + x, y)
    }
}

// ---------------------------------------------------------------------------
// sin, cos

pub struct Sin;
pub struct Cos;
pub struct Tan;

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

/// The reduction `x = n π/2 + (r + rlo)` and the polynomial parts of
/// `sin(r) = r + r z S(z)` and `cos(r) = 1 - z/2 + z^2 C(z)`, `z = r^2`,
/// which `sin`, `cos` and `tan` combine; `ok` is false where the fast
/// path gives up.
struct SinCosParts {
    n_bits: u64,
    r: f64,
    rlo: f64,
    z: f64,
    sp: f64,
    cp: f64,
    ok: bool,
}

#[inline(always)]
fn sincos_parts(x: f64) -> SinCosParts {
    let (n, n_bits) = round_int(x * TWO_OVER_PI);
    let (a, ea) = two_sum(x, -(n * PIO2_1));
    let (b, eb) = two_sum(a, -(n * PIO2_2));
    let (c, ec) = two_sum(b, -(n * PIO2_3));
    let (r, rlo) = fast_two_sum(c, ea + eb + ec);
    let z = r * r;
    let sp: f64 = 2.811_457_254_345_520_6e-15;
    let sp = sp.mul_add(z, -7.647_163_731_819_816e-13);
    let sp = sp.mul_add(z, 1.605_904_383_682_161_3e-10);
    let sp = sp.mul_add(z, -2.505_210_838_544_172e-8);
    let sp = sp.mul_add(z, 2.755_731_922_398_589_3e-6);
    let sp = sp.mul_add(z, -1.984_126_984_126_984e-4);
    let sp = sp.mul_add(z, 8.333_333_333_333_333e-3);
    let sp = sp.mul_add(z, -0.166_666_666_666_666_66);
    let cp: f64 = -1.561_920_696_858_622_5e-16;
    let cp = cp.mul_add(z, 4.779_477_332_387_385e-14);
    let cp = cp.mul_add(z, -1.147_074_559_772_972_5e-11);
    let cp = cp.mul_add(z, 2.087_675_698_786_81e-9);
    let cp = cp.mul_add(z, -2.755_731_922_398_589e-7);
    let cp = cp.mul_add(z, 2.480_158_730_158_73e-5);
    let cp = cp.mul_add(z, -1.388_888_888_888_889e-3);
    let cp = cp.mul_add(z, 4.166_666_666_666_666_4e-2);
    let ok = x.abs() <= SINCOS_MAX && (n == 0.0 || r.abs() >= SINCOS_MIN_R);
    SinCosParts {
        n_bits,
        r,
        rlo,
        z,
        sp,
        cp,
        ok,
    }
}

/// `sin(x)` (`cos_shift = 0`) or `cos(x) = sin(x + π/2)` (`cos_shift = 1`),
/// or NaN for the slow path.
#[inline(always)]
fn sincos_lane(x: f64, cos_shift: u64) -> f64 {
    let SinCosParts {
        n_bits,
        r,
        rlo,
        z,
        sp,
        cp,
        ok,
    } = sincos_parts(x);
    // sin(r + rlo) = sin(r) + rlo cos(r).
    let s = r + (r * (z * sp) + rlo * (1.0 - 0.5 * z));
    // cos(r + rlo) = cos(r) - rlo sin(r).
    let c = 1.0 - (0.5 * z - (z * (z * cp) - rlo * r));
    // Quadrant j = n + shift: j odd takes the cosine, j & 2 the minus sign.
    let j = n_bits.wrapping_add(cos_shift);
    let y = pick(j & 1 == 0, s, c);
    let y = f64::from_bits(y.to_bits() ^ ((j & 2) << 62));
    pick(ok, y, f64::NAN)
}

/// `tan(x)`: `sin(r) / cos(r)` for even `n`, `-cos(r) / sin(r)` for odd,
/// both carried as double-doubles (`cos`'s `1 - z/2` with `z = r^2`
/// exact by fma, then a two-sum) so that the quotient, from one
/// reciprocal and one fma-remainder correction, is within about 0.5 ulp;
/// NaN for the slow path.
#[inline(always)]
fn tan_lane(x: f64) -> f64 {
    let SinCosParts {
        n_bits,
        r,
        rlo,
        z,
        sp,
        cp,
        ok,
    } = sincos_parts(x);
    let (s, sl) = fast_two_sum(r, r * (z * sp) + rlo * (1.0 - 0.5 * z));
    let zlo = r.mul_add(r, -z);
    let (c1, c1e) = two_sum(1.0, -0.5 * z);
    let (c, cl) = fast_two_sum(c1, c1e + (z * (z * cp) - (0.5 * zlo + rlo * r)));
    let even = n_bits & 1 == 0;
    let (num, numl) = (pick(even, s, c), pick(even, sl, cl));
    let (den, denl) = (pick(even, c, s), pick(even, cl, sl));
    let q = divide_dd(num, numl, den, denl);
    let y = pick(even, q, -q);
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

impl Op for Tan {
    const SLOW: Option<fn(f64) -> f64> = Some(f64::tan);

    #[inline(always)]
    fn lane(x: f64) -> f64 {
        // tan(±0) = ±0 (the quotient above would give +0 for -0).
        pick(x == 0.0, x, tan_lane(x))
    }
}

/// Generates the one-element functions of one float type.
macro_rules! one_fns {
    ($(#[$doc:meta])* $module:ident, $t:ident, $one:ident, $($name:ident: $op:ident),*) => {
        $(#[$doc])*
        pub mod $module {
            use super::{Op, $($op),*};
            $(
                pub fn $name(x: $t) -> $t {
                    $op::$one(x)
                }
            )*
        }
    };
}

one_fns!(
    /// The functions of one `f64`, for `scalar.rs`: the same bits as the
    /// block routines.
    one, f64, one,
    exp: Exp, exp2: Exp2, expm1: Expm1, log: Log, log2: Log2, log10: Log10,
    log1p: Log1p, sin: Sin, cos: Cos, tanh: Tanh, sinh: Sinh, cosh: Cosh, tan: Tan
);
one_fns!(
    /// The functions of one `f32`, for `scalar.rs`: the same bits as the
    /// block routines.
    one32, f32, one32,
    exp: Exp, exp2: Exp2, expm1: Expm1, log: Log, log2: Log2, log10: Log10,
    log1p: Log1p, sin: Sin, cos: Cos, tanh: Tanh, sinh: Sinh, cosh: Cosh, tan: Tan
);
