//! Lane algorithms: reductions, scans, differences, shifts, rolling windows
//! and exponentially weighted means, one lane at a time.
//!
//! This module is to lane operations ([`crate::ir::Op::Lane`]) what
//! [`crate::scalar`] is to elementwise ones: their single definition, with
//! [`crate::stream`], which holds the streaming form of every reduction,
//! scan, window and `ewm_mean` (this module keeps `diff`, `shift`, the
//! canonical sum and the lane views). The interpreter and unfused lane
//! loops call [`run_lane`] once per lane, which pushes the lane through a
//! [`crate::stream::Stream`] in chunks; fused loops push the blocks they
//! compute into the same streams. Everything here is safe Rust
//! and panic-free on any input: lanes are [`Strided`] / [`StridedMut`] views
//! whose constructors check that every element lies inside the borrowed
//! slice, and dtype combinations outside the contract below are
//! [`ErrorKind::Internal`] errors.
//!
//! # Dtype contract (guaranteed by lowering)
//!
//! For a lane op with operand dtype S and result dtype D:
//! `Sum`/`Prod`/`NanSum`: S == D ∈ {i64, f32, f64}; `Mean`/`Var`/`Std` and
//! their `Nan` forms: S == D float; `Min`/`Max`/`NanMin`/`NanMax`: S == D,
//! any dtype (the `Nan` forms are the plain ones on non-floats); `Any`/`All`:
//! bool; `ArgMin`/`ArgMax`: any S, D == i64; `CountNonzero`: bool → i64.
//! Scans, `diff`, `shift`: S == D (`cumsum`/`cumprod` on i64/f32/f64 only);
//! rolling windows and `ewm_mean`: S == D float.
//!
//! # Canonical summation order
//!
//! Float `sum`, `nansum`, `mean` and the two sums inside `var`/`std` all add
//! in one deterministic order, which depends only on the lane's length (not
//! on how a caller splits it, as long as split points are multiples of
//! [`LEAF`] elements and partial results are combined with
//! [`PairwiseSum`]):
//!
//! 1. The lane is cut into *leaves* of [`LEAF`] = 128 consecutive elements
//!    (the last leaf may be shorter).
//! 2. A leaf of `len` elements is summed with 8 interleaved accumulators
//!    starting at zero: `acc[j] += x[i]` for `i ≡ j (mod 8)`,
//!    `i < 8 * floor(len / 8)`; then
//!    `s = ((acc0 + acc1) + (acc2 + acc3)) + ((acc4 + acc5) + (acc6 + acc7))`;
//!    then the tail elements `i >= 8 * floor(len / 8)` are added to `s` one by
//!    one, in order ([`leaf_sum`]).
//! 3. Leaf sums are combined by a binary-counter pairwise tree: each leaf sum
//!    is pushed on a stack; after the push, while the number of leaves pushed
//!    *before* it has trailing one-bits, the top two entries are replaced by
//!    `below + top`. At the end the stack is folded from the top down:
//!    `r = s[top]; for k below top: r = s[k] + r` ([`PairwiseSum`]).
//!
//! For a lane of at most 128 elements this is exactly NumPy's pairwise sum
//! (`np.sum` of a contiguous array, identity added first), bit for bit — the
//! tests pin this for f64 and f32. Beyond 128 elements NumPy splits
//! recursively at `n/2` rounded down to a multiple of 8, so results can
//! differ from NumPy in the last bits; both are pairwise sums with the same
//! `O(eps log n)` error bound, and ours does not change when the lane is
//! processed in blocks or threads. Integer sums wrap (i64), in the same
//! order (for wrapping integers every order gives the same result).
//!
//! A sum never returns `-0.0` (the accumulators start at `+0.0`, as NumPy's
//! identity does). `mean = sum / n` (n as D); `var` is NumPy's two-pass
//! formula: `m = mean`, `sum((x - m)^2)` in the canonical order, divided by
//! `n - ddof` (NaN if `n - ddof <= 0`); `std = sqrt(var)`. The `nan` forms
//! replace NaN by 0 in both sums and count only the non-NaN elements (as
//! NumPy's `nanmean`/`nanvar` do). `prod` multiplies left to right from 1.
//! `min`/`max` propagate the first NaN; `nanmin`/`nanmax` skip NaNs (all-NaN
//! gives NaN; an empty lane is an error, as in NumPy). `argmin`/`argmax`
//! give the first extreme, or the first NaN if there is one.
//!
//! # Scans, differences, shifts
//!
//! `cumsum`/`cumprod`: `y[0] = x[0]`, `y[i] = y[i-1] op x[i]` (ints wrap).
//! `cummax`/`cummin`: the same with [`crate::scalar`]'s NaN-propagating
//! `maximum`/`minimum` (once a NaN is seen the rest are NaN, like
//! `np.maximum.accumulate`). `diff` with `n`: `n` times `y[i] = x[i+1] - x[i]`
//! (ints wrap; bool: `x[i+1] != x[i]`, as NumPy). `shift` by `k`:
//! `y[i] = x[i-k]`, `fill` outside the lane.
//!
//! # Rolling windows (all O(n) whatever the window length w)
//!
//! The first `w-1` outputs are NaN (pandas' `min_periods = w`), and so is
//! every output whose window holds a NaN.
//!
//! - `rolling_sum`/`rolling_mean`/`rolling_var`/`rolling_std` use the
//!   *block prefix/suffix* scheme (as in van Herk / Gil-Werman): the lane is
//!   cut into blocks of `w`; a window `[i-w+1, i]` is either one whole block
//!   or the suffix of one block followed by a prefix of the next. Prefix
//!   aggregates are accumulated as `i` advances; at each block boundary the
//!   suffix aggregates of the block just finished are computed right to
//!   left into O(w) scratch. Every element is thus visited twice, and an
//!   output merges two aggregates — **no value is ever subtracted out of a
//!   running state**, so there is no drift, no cancellation between
//!   additions and removals, and an `inf` leaving the window leaves no NaN
//!   behind. The aggregates are computed in f64 (f32 lanes are widened,
//!   exactly, and the result rounded once):
//!   - sums: Neumaier-compensated sums (`s`, `c`), merged by adding one
//!     into the other; the value is `s + c` (or `s` if `s` is not finite, so
//!     infinities and NaN propagate as in plain summation);
//!     `rolling_mean = sum / w`. Each step's error term comes from Knuth's
//!     branch-free TwoSum, which gives exactly the term Neumaier's
//!     comparison does;
//!   - variance: runs of *shifted* values `d = x - K`, where `K` lies
//!     inside every run it is used for: the block's first value for its
//!     prefixes, the previous block's last value for that block's suffixes
//!     (computed right to left), so the subtraction is exact for data
//!     clustered far from zero and the means are small and precise. Along
//!     a run of `n` values, `S` is the plain sum of the `d`s, the mean
//!     `m = S * (1/n)` (the reciprocals a table made once per stream), and
//!     `M2` grows by Welford's increment `(d - m') * (d - m)` (`m'` the
//!     mean before `d`; in exact arithmetic `(d - m')^2 (n-1)/n`, never
//!     negative). Each step's loop-carried work is two additions (`S` and
//!     `M2`), not Welford's subtract-multiply-add chain on the mean. Prefix
//!     and suffix are merged with Chan's parallel formula
//!     `M2 = M2s + M2p + d^2 * (ns * np / w)`, `d = (Kp - Ks) + (mp - ms)`,
//!     the weights `ns * np / w` also a table. All three terms are
//!     non-negative (M2 is clamped at zero as a guard), so the result is
//!     never negative, and a constant window gives exactly 0;
//!     `var = M2 * (1 / (w - ddof))` (NaN if `w <= ddof`),
//!     `std = sqrt(var)`; an infinity in the window makes `M2` NaN.
//!     Why it is stable: both shifts are values of the window, so every
//!     `d` is at most the window's range `r` and is rounded by at most
//!     `eps * r`, and a mean's error is at most `n * eps * r`; since the
//!     window's `M2 >= r^2 / 2`, those errors are bounded relative to the
//!     result whatever the data's offset (at worst `O(n^2 eps)` relative,
//!     the same bound as Welford's update; observed ~1e-15), and values
//!     outside the window (an outlier that has left it) never enter its
//!     aggregates. On the
//!     near-constant case (1e9 + noise of 1e-3, w = 100, n = 1e5) the worst
//!     window is within 1.7e-15 relative of a two-pass with an unrounded
//!     mean, 1.5e-8 of an f64 two-pass with a correctly rounded mean and
//!     7.7e-7 of NumPy's `np.var` order (those two references are off by
//!     `n * (mean error)^2`, their mean being rounded at ~1e-7); on a
//!     random walk, within 1e-14 of all three (tests pin 1e-6 / 1e-12 and
//!     1e-9; `stream`'s tests pin 1e-9 after outliers of 1e15 leave the
//!     window). Plain shifted sums (`t2 - t1^2 / n`) would be cheaper but
//!     lose up to a factor `n + 1` to cancellation (5 ulp on the case
//!     files' w = 4 example).
//!
//!   Both are computed in two loops per block of pushed elements: one
//!   carries the prefix's running aggregates (the only serial work) into
//!   a scratch row, the second merges each with its suffix and writes the
//!   result; it has no loop-carried state, so the compiler vectorises it
//!   (with the square root of `std`).
//! - `rolling_min`/`rolling_max`: the same block scheme (van Herk /
//!   Gil-Werman) with the NaN-propagating `minimum`/`maximum` as the
//!   aggregate, in the lane's dtype: suffix extremes of the previous
//!   block, a running prefix extreme, one more `maximum` per output; a NaN
//!   anywhere in the window reaches the result through either side.
//!
//! # `ewm_mean`
//!
//! `y[0] = x[0]`, `y[i] = alpha*x[i] + (1-alpha)*y[i-1]`, evaluated as
//! `a*x[i] + b*y[i-1]` with `a = alpha` rounded to D and `b = 1 - a` computed
//! in D, with no fused multiply-add: bit-identical to a kernel-mode
//! recurrence written that way in D. NaN propagates.

use std::fmt;

use crate::array::{Buffer, BufferMut};
use crate::error::{Error, Result};
use crate::ir::{LaneKind, LaneOp};
use crate::stream::{BlockElem, Stream};
use crate::types::{DType, Scalar};

/// Elements per leaf of the canonical summation order.
pub const LEAF: usize = 128;

// ---------------------------------------------------------------------------
// Strided lanes.

/// `true` if `start + i*stride` lies in `0..data_len` for every `i < len`.
fn reach_ok(data_len: usize, start: usize, stride: isize, len: usize) -> bool {
    if len == 0 {
        return true;
    }
    let first = start as i128;
    let Some(last) = ((len - 1) as i128)
        .checked_mul(stride as i128)
        .and_then(|r| r.checked_add(first))
    else {
        return false;
    };
    let (lo, hi) = if last < first {
        (last, first)
    } else {
        (first, last)
    };
    lo >= 0 && hi < data_len as i128
}

/// Position of element `i` (wrapping arithmetic: for `i < len` the
/// constructor proved it in bounds; past it, the slice access fails softly).
#[inline]
fn position(start: usize, stride: isize, i: usize) -> usize {
    (start as isize).wrapping_add((i as isize).wrapping_mul(stride)) as usize
}

/// A read-only strided lane: element `i` is `data[start + i*stride]`.
#[derive(Clone, Copy)]
pub struct Strided<'a, T> {
    data: &'a [T],
    start: usize,
    stride: isize,
    len: usize,
}

impl<'a, T: Copy + Default> Strided<'a, T> {
    /// `None` unless every element `0..len` lies inside `data`.
    pub fn new(data: &'a [T], start: usize, stride: isize, len: usize) -> Option<Self> {
        reach_ok(data.len(), start, stride, len).then_some(Strided {
            data,
            start,
            stride,
            len,
        })
    }

    /// The whole slice, in order.
    pub fn contiguous(data: &'a [T]) -> Self {
        Strided {
            data,
            start: 0,
            stride: 1,
            len: data.len(),
        }
    }

    /// Element `i` (`i < len`; past the end it reads `T::default()`).
    #[inline]
    pub fn get(&self, i: usize) -> T {
        self.data
            .get(position(self.start, self.stride, i))
            .copied()
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The lane as a slice, if its elements are consecutive.
    pub fn as_slice(&self) -> Option<&'a [T]> {
        (self.stride == 1 || self.len <= 1)
            .then(|| self.data.get(self.start..self.start + self.len))
            .flatten()
    }

    pub fn start(&self) -> usize {
        self.start
    }

    pub fn stride(&self) -> isize {
        self.stride
    }
}

impl<T: fmt::Debug + Copy + Default> fmt::Debug for Strided<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries((0..self.len.min(16)).map(|i| self.get(i)))
            .finish()
    }
}

/// A writable strided lane: element `i` is `data[start + i*stride]`.
pub struct StridedMut<'a, T> {
    data: &'a mut [T],
    start: usize,
    stride: isize,
    len: usize,
}

impl<'a, T: Copy + Default> StridedMut<'a, T> {
    /// `None` unless every element `0..len` lies inside `data`.
    pub fn new(data: &'a mut [T], start: usize, stride: isize, len: usize) -> Option<Self> {
        if !reach_ok(data.len(), start, stride, len) {
            return None;
        }
        Some(StridedMut {
            data,
            start,
            stride,
            len,
        })
    }

    /// The whole slice, in order.
    pub fn contiguous(data: &'a mut [T]) -> Self {
        let len = data.len();
        StridedMut {
            data,
            start: 0,
            stride: 1,
            len,
        }
    }

    /// The lane as a slice, if its elements are consecutive.
    pub fn as_mut_slice(&mut self) -> Option<&mut [T]> {
        if self.stride == 1 || self.len <= 1 {
            self.data.get_mut(self.start..self.start + self.len)
        } else {
            None
        }
    }

    /// Stores element `i` (`i < len`; past the end it does nothing).
    #[inline]
    pub fn set(&mut self, i: usize, v: T) {
        if let Some(slot) = self.data.get_mut(position(self.start, self.stride, i)) {
            *slot = v;
        }
    }

    /// Element `i` as stored so far.
    #[inline]
    pub fn get(&self, i: usize) -> T {
        self.data
            .get(position(self.start, self.stride, i))
            .copied()
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A lane of one of the five dtypes, to read.
#[derive(Clone, Copy, Debug)]
pub enum LaneIn<'a> {
    Bool(Strided<'a, bool>),
    I32(Strided<'a, i32>),
    I64(Strided<'a, i64>),
    F32(Strided<'a, f32>),
    F64(Strided<'a, f64>),
}

/// A lane of one of the five dtypes, to write.
pub enum LaneOut<'a> {
    Bool(StridedMut<'a, bool>),
    I32(StridedMut<'a, i32>),
    I64(StridedMut<'a, i64>),
    F32(StridedMut<'a, f32>),
    F64(StridedMut<'a, f64>),
}

impl<'a> LaneIn<'a> {
    /// A checked strided lane of a buffer (`None` if it reaches outside).
    pub fn from_buffer(
        buf: Buffer<'a>,
        start: usize,
        stride: isize,
        len: usize,
    ) -> Option<LaneIn<'a>> {
        Some(match buf {
            Buffer::Bool(s) => LaneIn::Bool(Strided::new(s, start, stride, len)?),
            Buffer::I32(s) => LaneIn::I32(Strided::new(s, start, stride, len)?),
            Buffer::I64(s) => LaneIn::I64(Strided::new(s, start, stride, len)?),
            Buffer::F32(s) => LaneIn::F32(Strided::new(s, start, stride, len)?),
            Buffer::F64(s) => LaneIn::F64(Strided::new(s, start, stride, len)?),
        })
    }

    pub fn dtype(&self) -> DType {
        match self {
            LaneIn::Bool(_) => DType::Bool,
            LaneIn::I32(_) => DType::I32,
            LaneIn::I64(_) => DType::I64,
            LaneIn::F32(_) => DType::F32,
            LaneIn::F64(_) => DType::F64,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            LaneIn::Bool(x) => x.len(),
            LaneIn::I32(x) => x.len(),
            LaneIn::I64(x) => x.len(),
            LaneIn::F32(x) => x.len(),
            LaneIn::F64(x) => x.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a> LaneOut<'a> {
    /// A checked strided lane of a buffer (`None` if it reaches outside).
    pub fn from_buffer(
        buf: BufferMut<'a>,
        start: usize,
        stride: isize,
        len: usize,
    ) -> Option<LaneOut<'a>> {
        Some(match buf {
            BufferMut::Bool(s) => LaneOut::Bool(StridedMut::new(s, start, stride, len)?),
            BufferMut::I32(s) => LaneOut::I32(StridedMut::new(s, start, stride, len)?),
            BufferMut::I64(s) => LaneOut::I64(StridedMut::new(s, start, stride, len)?),
            BufferMut::F32(s) => LaneOut::F32(StridedMut::new(s, start, stride, len)?),
            BufferMut::F64(s) => LaneOut::F64(StridedMut::new(s, start, stride, len)?),
        })
    }

    pub fn dtype(&self) -> DType {
        match self {
            LaneOut::Bool(_) => DType::Bool,
            LaneOut::I32(_) => DType::I32,
            LaneOut::I64(_) => DType::I64,
            LaneOut::F32(_) => DType::F32,
            LaneOut::F64(_) => DType::F64,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            LaneOut::Bool(x) => x.len(),
            LaneOut::I32(x) => x.len(),
            LaneOut::I64(x) => x.len(),
            LaneOut::F32(x) => x.len(),
            LaneOut::F64(x) => x.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// ---------------------------------------------------------------------------
// Element types.

/// An element type of lanes (bool, i32, i64, f32, f64).
pub trait Elem: Copy + Default + PartialOrd + fmt::Debug + 'static {
    const DTYPE: DType;
    fn is_nan(self) -> bool {
        false
    }
    /// NaN for floats, `None` otherwise.
    fn nan() -> Option<Self> {
        None
    }
    /// [`crate::scalar`]'s `maximum` (NaN-propagating; bool: or).
    fn maximum(self, other: Self) -> Self;
    /// [`crate::scalar`]'s `minimum` (NaN-propagating; bool: and).
    fn minimum(self, other: Self) -> Self;
    /// One step of `diff`: `next - prev` (wrapping; bool: `next != prev`).
    fn delta(next: Self, prev: Self) -> Self;
    fn from_scalar(s: Scalar) -> Option<Self>;
}

/// Element types with a sum and a product (i64 wrapping, f32, f64).
pub trait SumElem: Elem {
    const ZERO: Self;
    const ONE: Self;
    fn add(self, other: Self) -> Self;
    fn mul(self, other: Self) -> Self;
}

/// Float element types.
pub trait FloatElem: SumElem {
    fn nan_value() -> Self;
    fn sub(self, other: Self) -> Self;
    fn div(self, other: Self) -> Self;
    fn sqrt(self) -> Self;
    /// A count as this type (rounded to nearest).
    fn from_count(n: usize) -> Self;
    fn to_f64(self) -> f64;
    /// Rounds to nearest.
    fn from_f64(v: f64) -> Self;
}

impl Elem for bool {
    const DTYPE: DType = DType::Bool;
    #[inline]
    fn maximum(self, other: bool) -> bool {
        self | other
    }
    #[inline]
    fn minimum(self, other: bool) -> bool {
        self & other
    }
    fn delta(next: bool, prev: bool) -> bool {
        next != prev
    }
    fn from_scalar(s: Scalar) -> Option<bool> {
        match s {
            Scalar::Bool(v) => Some(v),
            _ => None,
        }
    }
}

macro_rules! int_elem {
    ($t:ident, $variant:ident) => {
        impl Elem for $t {
            const DTYPE: DType = DType::$variant;
            #[inline]
            fn maximum(self, other: $t) -> $t {
                self.max(other)
            }
            #[inline]
            fn minimum(self, other: $t) -> $t {
                self.min(other)
            }
            fn delta(next: $t, prev: $t) -> $t {
                next.wrapping_sub(prev)
            }
            fn from_scalar(s: Scalar) -> Option<$t> {
                match s {
                    Scalar::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
int_elem!(i32, I32);
int_elem!(i64, I64);

impl SumElem for i64 {
    const ZERO: i64 = 0;
    const ONE: i64 = 1;
    fn add(self, other: i64) -> i64 {
        self.wrapping_add(other)
    }
    fn mul(self, other: i64) -> i64 {
        self.wrapping_mul(other)
    }
}

macro_rules! float_elem {
    ($t:ident, $variant:ident, $ops:ident) => {
        impl Elem for $t {
            const DTYPE: DType = DType::$variant;
            #[inline]
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
            #[inline]
            fn nan() -> Option<$t> {
                Some($t::NAN)
            }
            #[inline]
            fn maximum(self, other: $t) -> $t {
                crate::scalar::$ops::maximum(self, other)
            }
            #[inline]
            fn minimum(self, other: $t) -> $t {
                crate::scalar::$ops::minimum(self, other)
            }
            fn delta(next: $t, prev: $t) -> $t {
                next - prev
            }
            fn from_scalar(s: Scalar) -> Option<$t> {
                match s {
                    Scalar::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
        impl SumElem for $t {
            const ZERO: $t = 0.0;
            const ONE: $t = 1.0;
            #[inline]
            fn add(self, other: $t) -> $t {
                self + other
            }
            #[inline]
            fn mul(self, other: $t) -> $t {
                self * other
            }
        }
        impl FloatElem for $t {
            #[inline]
            fn nan_value() -> $t {
                $t::NAN
            }
            #[inline]
            fn sub(self, other: $t) -> $t {
                self - other
            }
            #[inline]
            fn div(self, other: $t) -> $t {
                self / other
            }
            #[inline]
            fn sqrt(self) -> $t {
                $t::sqrt(self)
            }
            #[inline]
            fn from_count(n: usize) -> $t {
                n as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            #[inline]
            fn from_f64(v: f64) -> $t {
                v as $t
            }
        }
    };
}
float_elem!(f32, F32, f32_ops);
float_elem!(f64, F64, f64_ops);

// ---------------------------------------------------------------------------
// Canonical summation.

/// The canonical sum of one leaf of `len` elements (`len <= LEAF` in the
/// canonical order; any `len` works): 8 interleaved accumulators, combined
/// `((a0+a1)+(a2+a3))+((a4+a5)+(a6+a7))`, then the tail in order.
#[inline]
pub fn leaf_sum<T: SumElem>(len: usize, mut x: impl FnMut(usize) -> T) -> T {
    let mut acc = [T::ZERO; 8];
    let body = len - len % 8;
    let mut i = 0;
    while i < body {
        for (j, a) in acc.iter_mut().enumerate() {
            *a = a.add(x(i + j));
        }
        i += 8;
    }
    let mut s = fold_accumulators(&acc);
    for k in body..len {
        s = s.add(x(k));
    }
    s
}

/// [`leaf_sum`] of a slice.
pub fn leaf_sum_slice<T: SumElem>(xs: &[T]) -> T {
    leaf_sum_map(xs, |v| v)
}

/// [`leaf_sum`] of `f(x)` for the elements `x` of a slice, in the same
/// order, written so that the compiler keeps the 8 accumulators in
/// vector registers (each group of 8 is a fixed-size array).
#[inline]
pub fn leaf_sum_map<S: Copy, T: SumElem>(xs: &[S], f: impl Fn(S) -> T) -> T {
    let mut acc = [T::ZERO; 8];
    let tail = accumulate_groups(&mut acc, xs, &f);
    let mut s = fold_accumulators(&acc);
    for &v in tail {
        s = s.add(f(v));
    }
    s
}

/// Adds `f` of each whole group of 8 elements of `xs` to a leaf's 8
/// accumulators (element `j` of a group to `acc[j]`), groups in order, and
/// returns the elements after the last whole group (fewer than 8).
#[inline]
pub fn accumulate_groups<'a, S: Copy, T: SumElem>(
    acc: &mut [T; 8],
    xs: &'a [S],
    f: impl Fn(S) -> T,
) -> &'a [S] {
    let chunks = xs.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        if let Ok(c) = <&[S; 8]>::try_from(chunk) {
            for (a, &v) in acc.iter_mut().zip(c) {
                *a = a.add(f(v));
            }
        }
    }
    tail
}

/// A leaf's 8 accumulators combined, `((a0+a1)+(a2+a3))+((a4+a5)+(a6+a7))`.
#[inline]
pub fn fold_accumulators<T: SumElem>(acc: &[T; 8]) -> T {
    (acc[0].add(acc[1]).add(acc[2].add(acc[3]))).add(acc[4].add(acc[5]).add(acc[6].add(acc[7])))
}

/// The streaming pairwise tree of the canonical order: feed it leaf sums
/// (of [`LEAF`] elements each, except possibly the last) in lane order,
/// then [`PairwiseSum::finish`].
#[derive(Clone, Debug)]
pub struct PairwiseSum<T> {
    stack: [T; 64],
    depth: usize,
    leaves: u64,
}

impl<T: SumElem> Default for PairwiseSum<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: SumElem> PairwiseSum<T> {
    pub fn new() -> Self {
        PairwiseSum {
            stack: [T::ZERO; 64],
            depth: 0,
            leaves: 0,
        }
    }

    /// Empties the tree (the stack's entries above `depth` are never read,
    /// so they are left as they are).
    pub fn clear(&mut self) {
        self.depth = 0;
        self.leaves = 0;
    }

    /// Number of leaves pushed so far.
    pub fn leaves(&self) -> u64 {
        self.leaves
    }

    /// Adds the sum of the next leaf.
    #[inline]
    pub fn push_leaf(&mut self, leaf_sum: T) {
        // A subtree of one leaf is always aligned, and 64 stack levels
        // hold 2^64 leaves, so this cannot be refused.
        let pushed = self.push_subtree(leaf_sum, 0);
        debug_assert!(pushed, "a single leaf is always accepted");
    }

    /// Adds the sum of the next `2^level` leaves, themselves summed as a
    /// complete pairwise subtree (for example by another `PairwiseSum` fed
    /// exactly `2^level` leaves). Equivalent to pushing those leaves one by
    /// one, provided the number of leaves pushed so far is a multiple of
    /// `2^level`; returns `false` (and does nothing) otherwise.
    pub fn push_subtree(&mut self, sum: T, level: u32) -> bool {
        let Some(size) = 1u64.checked_shl(level).filter(|&s| s != 0 && level < 64) else {
            return false;
        };
        if !self.leaves.is_multiple_of(size) || self.depth >= self.stack.len() {
            return false;
        }
        let Some(leaves) = self.leaves.checked_add(size) else {
            return false;
        };
        let mut carry = self.leaves >> level;
        self.stack[self.depth] = sum;
        self.depth += 1;
        self.leaves = leaves;
        while carry & 1 == 1 && self.depth >= 2 {
            let top = self.stack[self.depth - 1];
            let below = self.stack[self.depth - 2];
            self.stack[self.depth - 2] = below.add(top);
            self.depth -= 1;
            carry >>= 1;
        }
        true
    }

    /// The sum of everything pushed (zero if nothing was).
    pub fn finish(&self) -> T {
        let mut parts = self.stack[..self.depth].iter().rev();
        let Some(&top) = parts.next() else {
            return T::ZERO;
        };
        parts.fold(top, |r, &s| s.add(r))
    }

    /// The sum of everything pushed followed by the leaves whose canonical
    /// sum ([`PairwiseSum::finish`] of their own tree) is `rest`, provided
    /// the leaves pushed so far are a whole number of subtrees at least as
    /// large as all of `rest` (for example: every earlier part pushed with
    /// [`PairwiseSum::push_subtree`] at one level, and `rest` holding at
    /// most that many leaves). Why: those leaves, pushed one by one, never
    /// merge with an entry already on the stack, so the final stack is this
    /// one with `rest`'s own stack on top, and the top-down fold of the
    /// whole is this stack folded onto `rest`'s fold. (A carry also adds
    /// `below + top`, so the fold is the same even when `rest` is a whole
    /// subtree that would have merged.)
    pub fn finish_with(&self, rest: T) -> T {
        self.stack[..self.depth]
            .iter()
            .rev()
            .fold(rest, |r, &s| s.add(r))
    }
}

/// The canonical sum of `x(0), ..., x(len-1)`.
pub fn pairwise_sum_by<T: SumElem>(len: usize, mut x: impl FnMut(usize) -> T) -> T {
    let mut tree = PairwiseSum::new();
    let mut start = 0;
    while start < len {
        let n = LEAF.min(len - start);
        tree.push_leaf(leaf_sum(n, |i| x(start + i)));
        start += n;
    }
    tree.finish()
}

/// The canonical sum of a lane.
pub fn pairwise_sum<T: SumElem>(x: &Strided<'_, T>) -> T {
    pairwise_sum_by(x.len(), |i| x.get(i))
}

/// The canonical sum of a slice.
pub fn pairwise_sum_slice<T: SumElem>(xs: &[T]) -> T {
    let mut tree = PairwiseSum::new();
    for leaf in xs.chunks(LEAF) {
        tree.push_leaf(leaf_sum_slice(leaf));
    }
    tree.finish()
}

fn bad_dtypes(what: &str, s: DType, d: DType) -> Error {
    Error::internal(format!("{what}: not defined from {s} to {d}"))
}

/// Matches a source and a destination lane of the same dtype among a set of
/// dtypes and runs a generic body on them.
macro_rules! dispatch {
    (@arms $what:expr, $src:expr, $dst:expr, |$x:ident, $y:ident| $body:expr, [$($v:ident),*]) => {
        match ($src, $dst) {
            $( (LaneIn::$v($x), LaneOut::$v(mut $y)) => $body, )*
            (s, d) => Err(bad_dtypes($what, s.dtype(), d.dtype())),
        }
    };
    (all, $what:expr, $src:expr, $dst:expr, |$x:ident, $y:ident| $body:expr) => {
        dispatch!(@arms $what, $src, $dst, |$x, $y| $body, [Bool, I32, I64, F32, F64])
    };
    (num, $what:expr, $src:expr, $dst:expr, |$x:ident, $y:ident| $body:expr) => {
        dispatch!(@arms $what, $src, $dst, |$x, $y| $body, [I64, F32, F64])
    };
    (float, $what:expr, $src:expr, $dst:expr, |$x:ident, $y:ident| $body:expr) => {
        dispatch!(@arms $what, $src, $dst, |$x, $y| $body, [F32, F64])
    };
}

// ---------------------------------------------------------------------------
// Entry points.

/// The number of results one lane of `len` elements produces: 1 for a
/// reduction, `max(0, len - n)` for `diff`, `len` otherwise.
pub fn lane_out_len(op: &LaneOp, len: usize) -> usize {
    match op.kind {
        LaneKind::Reduce(_) => 1,
        LaneKind::Diff(n) => len.saturating_sub(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => len,
    }
}

/// Computes one lane of `op`: reads `src.len()` elements and writes the
/// lane's results (see [`lane_out_len`]) to `dst`, whose length must be
/// exactly that. `param` is the window length (`Scalar::I64`) of a rolling
/// op or the `alpha` (`Scalar::F64`) of `ewm_mean`.
pub fn run_lane(
    op: &LaneOp,
    src: LaneIn<'_>,
    dst: LaneOut<'_>,
    param: Option<Scalar>,
) -> Result<()> {
    let want = lane_out_len(op, src.len());
    if dst.len() != want {
        return Err(Error::internal(format!(
            "{}: a lane of {} elements writes {want} results, not {}",
            op.name(),
            src.len(),
            dst.len()
        )));
    }
    match op.kind {
        LaneKind::Diff(n) => diff(n, src, dst),
        LaneKind::Shift { k, fill } => shift(k, fill, src, dst),
        _ => run_stream(op, src, dst, param),
    }
}

/// Elements a lane is pushed in when it runs as one call: not a multiple of
/// [`LEAF`], so that every test through the interpreter also checks that
/// streams keep the canonical order across uneven block boundaries.
const CHUNK: usize = 1000;

/// Runs a streamable `op` on one lane: pushes it in chunks (gathered from
/// its strides), scattering an aligned op's results and storing a
/// reduction's one result.
fn run_stream(op: &LaneOp, src: LaneIn<'_>, dst: LaneOut<'_>, param: Option<Scalar>) -> Result<()> {
    let mut s = Stream::new(op, src.dtype(), dst.dtype(), param)?;
    let passes = crate::stream::passes(op);
    if s.is_aligned() {
        return dispatch!(all, &op.name(), src, dst, |x, y| feed(
            &mut s,
            passes,
            &x,
            Some(&mut y)
        ));
    }
    match src {
        LaneIn::Bool(x) => feed(&mut s, passes, &x, None)?,
        LaneIn::I32(x) => feed(&mut s, passes, &x, None)?,
        LaneIn::I64(x) => feed(&mut s, passes, &x, None)?,
        LaneIn::F32(x) => feed(&mut s, passes, &x, None)?,
        LaneIn::F64(x) => feed(&mut s, passes, &x, None)?,
    }
    let v = s.finish()?;
    match (dst, v) {
        (LaneOut::Bool(mut y), Scalar::Bool(v)) => y.set(0, v),
        (LaneOut::I32(mut y), Scalar::I32(v)) => y.set(0, v),
        (LaneOut::I64(mut y), Scalar::I64(v)) => y.set(0, v),
        (LaneOut::F32(mut y), Scalar::F32(v)) => y.set(0, v),
        (LaneOut::F64(mut y), Scalar::F64(v)) => y.set(0, v),
        (d, v) => return Err(bad_dtypes(&op.name(), v.dtype(), d.dtype())),
    }
    Ok(())
}

/// Pushes lane `x` into `s` `passes` times, in chunks of [`CHUNK`],
/// writing an aligned stream's results to `y`.
fn feed<T: BlockElem>(
    s: &mut Stream,
    passes: u32,
    x: &Strided<'_, T>,
    mut y: Option<&mut StridedMut<'_, T>>,
) -> Result<()> {
    let mut xs = vec![T::default(); CHUNK.min(x.len())];
    let mut ys = vec![T::default(); if y.is_some() { xs.len() } else { 0 }];
    s.reset();
    for pass in 0..passes {
        if pass > 0 {
            s.next_pass();
        }
        let mut at = 0;
        while at < x.len() {
            let n = CHUNK.min(x.len() - at);
            for (k, slot) in xs[..n].iter_mut().enumerate() {
                *slot = x.get(at + k);
            }
            match y.as_deref_mut() {
                Some(y) => {
                    s.push(T::block(&xs[..n]), Some(T::block_mut(&mut ys[..n])))?;
                    for (k, &v) in ys[..n].iter().enumerate() {
                        y.set(at + k, v);
                    }
                }
                None => s.push(T::block(&xs[..n]), None)?,
            }
            at += n;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Differences and shifts (the lane operations that do not stream).

fn diff(n: u32, src: LaneIn<'_>, dst: LaneOut<'_>) -> Result<()> {
    dispatch!(all, "diff", src, dst, |x, y| {
        if n == 1 {
            // The common case straight from the lane: one pass, no copy.
            match (x.as_slice(), y.as_mut_slice()) {
                (Some(xs), Some(ys)) => {
                    for (o, w) in ys.iter_mut().zip(xs.windows(2)) {
                        *o = Elem::delta(w[1], w[0]);
                    }
                }
                _ => {
                    for i in 1..x.len() {
                        y.set(i - 1, Elem::delta(x.get(i), x.get(i - 1)));
                    }
                }
            }
            return Ok(());
        }
        let mut v: Vec<_> = (0..x.len()).map(|i| x.get(i)).collect();
        for _ in 0..n {
            if v.is_empty() {
                break;
            }
            for i in 1..v.len() {
                v[i - 1] = Elem::delta(v[i], v[i - 1]);
            }
            v.pop();
        }
        for (i, &e) in v.iter().enumerate() {
            y.set(i, e);
        }
        Ok(())
    })
}

fn shift(k: i64, fill: Scalar, src: LaneIn<'_>, dst: LaneOut<'_>) -> Result<()> {
    dispatch!(all, "shift", src, dst, |x, y| {
        let fill = Elem::from_scalar(fill).ok_or_else(|| {
            Error::internal(format!(
                "shift: fill of dtype {} for a lane of {}",
                fill.dtype(),
                y.get(0).dtype_of()
            ))
        })?;
        let len = x.len() as i128;
        for i in 0..x.len() {
            let j = i as i128 - i128::from(k);
            let v = if (0..len).contains(&j) {
                x.get(j as usize)
            } else {
                fill
            };
            y.set(i, v);
        }
        Ok(())
    })
}

/// The dtype of a value (for messages).
trait DTypeOf {
    fn dtype_of(&self) -> DType;
}
impl<T: Elem> DTypeOf for T {
    fn dtype_of(&self) -> DType {
        T::DTYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::ir::{ReduceOp, ScanOp, WindowOp};

    fn op(kind: LaneKind) -> LaneOp {
        LaneOp {
            kind,
            axis: Some(0),
            keepdims: false,
            ddof: 0,
        }
    }

    fn red(r: ReduceOp) -> LaneOp {
        op(LaneKind::Reduce(r))
    }

    /// Runs `op` on a contiguous f64 lane.
    fn run_f64(o: LaneOp, x: &[f64], param: Option<Scalar>) -> Vec<f64> {
        let mut out = vec![0.0; lane_out_len(&o, x.len())];
        run_lane(
            &o,
            LaneIn::F64(Strided::contiguous(x)),
            LaneOut::F64(StridedMut::contiguous(&mut out)),
            param,
        )
        .unwrap();
        out
    }

    fn run_f32(o: LaneOp, x: &[f32], param: Option<Scalar>) -> Vec<f32> {
        let mut out = vec![0.0; lane_out_len(&o, x.len())];
        run_lane(
            &o,
            LaneIn::F32(Strided::contiguous(x)),
            LaneOut::F32(StridedMut::contiguous(&mut out)),
            param,
        )
        .unwrap();
        out
    }

    fn run_i64(o: LaneOp, x: &[i64]) -> Vec<i64> {
        let mut out = vec![0; lane_out_len(&o, x.len())];
        run_lane(
            &o,
            LaneIn::I64(Strided::contiguous(x)),
            LaneOut::I64(StridedMut::contiguous(&mut out)),
            None,
        )
        .unwrap();
        out
    }

    fn run_bool(o: LaneOp, x: &[bool]) -> Vec<bool> {
        let mut out = vec![false; lane_out_len(&o, x.len())];
        run_lane(
            &o,
            LaneIn::Bool(Strided::contiguous(x)),
            LaneOut::Bool(StridedMut::contiguous(&mut out)),
            None,
        )
        .unwrap();
        out
    }

    fn red_f64(r: ReduceOp, x: &[f64]) -> f64 {
        run_f64(red(r), x, None)[0]
    }

    /// Same values, NaN equal to NaN.
    fn same(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x.is_nan() && y.is_nan()) || x == y)
    }

    /// A small deterministic generator (xorshift64*), uniform in [0, 1).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
            (v >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    const NAN: f64 = f64::NAN;

    // -- Strided views ------------------------------------------------------

    #[test]
    fn strided_bounds_are_checked() {
        let d = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!(Strided::new(&d, 0, 1, 5).is_some());
        assert!(Strided::new(&d, 0, 1, 6).is_none());
        assert!(Strided::new(&d, 4, -1, 5).is_some());
        assert!(Strided::new(&d, 3, -1, 5).is_none());
        assert!(Strided::new(&d, 0, 2, 3).is_some());
        assert!(Strided::new(&d, 1, 2, 3).is_none());
        assert!(Strided::new(&d, 2, 0, 1000).is_some());
        assert!(Strided::new(&d, 5, 0, 1).is_none());
        assert!(Strided::new(&d, 99, 7, 0).is_some());
        assert!(Strided::new(&d, 0, isize::MAX, 3).is_none());
        assert!(Strided::new(&d, 4, isize::MIN, 2).is_none());
        let s = Strided::new(&d, 4, -2, 3).unwrap();
        assert_eq!(
            (0..3).map(|i| s.get(i)).collect::<Vec<_>>(),
            [5.0, 3.0, 1.0]
        );
        // Past the end: a default, not a panic.
        assert_eq!(s.get(3), 0.0);
        assert_eq!(s.get(usize::MAX), 0.0);
        let mut m = [0i64; 4];
        assert!(StridedMut::new(&mut m, 0, 2, 3).is_none());
        let mut sm = StridedMut::new(&mut m, 3, -3, 2).unwrap();
        sm.set(0, 7);
        sm.set(1, 8);
        sm.set(2, 9); // ignored
        assert_eq!(m, [8, 0, 0, 7]);
    }

    #[test]
    fn wrong_lengths_and_dtypes_are_internal_errors() {
        let x = [1.0, 2.0];
        let mut out = [0.0; 2];
        let e = run_lane(
            &red(ReduceOp::Sum),
            LaneIn::F64(Strided::contiguous(&x)),
            LaneOut::F64(StridedMut::contiguous(&mut out)),
            None,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Internal);
        let mut o32 = [0.0f32];
        let e = run_lane(
            &red(ReduceOp::Sum),
            LaneIn::F64(Strided::contiguous(&x)),
            LaneOut::F32(StridedMut::contiguous(&mut o32)),
            None,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Internal);
        let b = [true];
        let mut ob = [false];
        let e = run_lane(
            &op(LaneKind::Scan(ScanOp::Cumsum)),
            LaneIn::Bool(Strided::contiguous(&b)),
            LaneOut::Bool(StridedMut::contiguous(&mut ob)),
            None,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Internal);
        let mut o = [0.0; 2];
        for p in [None, Some(Scalar::I64(0)), Some(Scalar::F64(2.0))] {
            let e = run_lane(
                &op(LaneKind::Rolling(WindowOp::Sum)),
                LaneIn::F64(Strided::contiguous(&x)),
                LaneOut::F64(StridedMut::contiguous(&mut o)),
                p,
            )
            .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Internal);
        }
        for p in [None, Some(Scalar::F64(0.0)), Some(Scalar::F64(1.5))] {
            let e = run_lane(
                &op(LaneKind::Ewm),
                LaneIn::F64(Strided::contiguous(&x)),
                LaneOut::F64(StridedMut::contiguous(&mut o)),
                p,
            )
            .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Internal);
        }
        let e = run_lane(
            &op(LaneKind::Shift {
                k: 1,
                fill: Scalar::I64(0),
            }),
            LaneIn::F64(Strided::contiguous(&x)),
            LaneOut::F64(StridedMut::contiguous(&mut o)),
            None,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Internal);
    }

    // -- Reductions -----------------------------------------------------------

    #[test]
    fn small_reductions_f64() {
        use ReduceOp::*;
        let x = [3.0, -1.0, 4.0, 1.0, -5.0, 9.0];
        assert_eq!(red_f64(Sum, &x), 11.0);
        assert_eq!(red_f64(Prod, &x), 540.0);
        assert_eq!(red_f64(Mean, &x), 11.0 / 6.0);
        assert_eq!(red_f64(Min, &x), -5.0);
        assert_eq!(red_f64(Max, &x), 9.0);
        let m = 11.0 / 6.0;
        let ss: f64 = x.iter().map(|v| (v - m) * (v - m)).sum();
        assert!((red_f64(Var, &x) - ss / 6.0).abs() < 1e-12);
        assert!((red_f64(Std, &x) - (ss / 6.0).sqrt()).abs() < 1e-12);
        let mut ddof1 = red(Var);
        ddof1.ddof = 1;
        assert!((run_f64(ddof1, &x, None)[0] - ss / 5.0).abs() < 1e-12);
        ddof1.ddof = 6;
        assert!(run_f64(ddof1, &x, None)[0].is_nan());
        ddof1.ddof = 7;
        assert!(run_f64(ddof1, &x, None)[0].is_nan());
        let mut s1 = red(Std);
        s1.ddof = 1;
        assert!(run_f64(s1, &[2.0], None)[0].is_nan());
        assert_eq!(run_f64(s1, &[2.0, 4.0], None)[0], 2f64.sqrt());
    }

    #[test]
    fn empty_reductions() {
        use ReduceOp::*;
        assert_eq!(red_f64(Sum, &[]), 0.0);
        assert_eq!(red_f64(NanSum, &[]), 0.0);
        assert_eq!(red_f64(Prod, &[]), 1.0);
        assert!(red_f64(Mean, &[]).is_nan());
        assert!(red_f64(NanMean, &[]).is_nan());
        assert!(red_f64(Var, &[]).is_nan());
        assert!(red_f64(NanStd, &[]).is_nan());
        assert_eq!(run_i64(red(Sum), &[]), [0]);
        assert_eq!(run_i64(red(Prod), &[]), [1]);
        assert_eq!(run_bool(red(Any), &[]), [false]);
        assert_eq!(run_bool(red(All), &[]), [true]);
        for r in [Min, Max, NanMin, NanMax, ArgMin, ArgMax] {
            let mut out = [0.0];
            let mut outi = [0i64];
            let e = if matches!(r, ArgMin | ArgMax) {
                run_lane(
                    &red(r),
                    LaneIn::F64(Strided::contiguous(&[])),
                    LaneOut::I64(StridedMut::contiguous(&mut outi)),
                    None,
                )
            } else {
                run_lane(
                    &red(r),
                    LaneIn::F64(Strided::contiguous(&[])),
                    LaneOut::F64(StridedMut::contiguous(&mut out)),
                    None,
                )
            }
            .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Shape, "{r:?}");
            assert!(e.message().contains(r.name()));
        }
        let mut c = [5i64];
        run_lane(
            &red(CountNonzero),
            LaneIn::Bool(Strided::contiguous(&[])),
            LaneOut::I64(StridedMut::contiguous(&mut c)),
            None,
        )
        .unwrap();
        assert_eq!(c, [0]);
    }

    #[test]
    fn nan_reductions() {
        use ReduceOp::*;
        let x = [2.0, NAN, 1.0, 4.0, NAN];
        for r in [Sum, Prod, Mean, Min, Max, Var, Std] {
            assert!(red_f64(r, &x).is_nan(), "{r:?}");
        }
        assert_eq!(red_f64(NanSum, &x), 7.0);
        assert_eq!(red_f64(NanMean, &x), 7.0 / 3.0);
        assert_eq!(red_f64(NanMin, &x), 1.0);
        assert_eq!(red_f64(NanMax, &x), 4.0);
        let m = 7.0 / 3.0;
        let var = ((2.0f64 - m).powi(2) + (1.0f64 - m).powi(2) + (4.0f64 - m).powi(2)) / 3.0;
        assert!((red_f64(NanVar, &x) - var).abs() < 1e-15);
        assert!((red_f64(NanStd, &x) - var.sqrt()).abs() < 1e-15);
        let mut v2 = red(NanVar);
        v2.ddof = 3;
        assert!(run_f64(v2, &x, None)[0].is_nan());
        let all_nan = [NAN, NAN];
        for r in [NanMin, NanMax, NanMean, NanVar] {
            assert!(red_f64(r, &all_nan).is_nan(), "{r:?}");
        }
        assert_eq!(red_f64(NanSum, &all_nan), 0.0);
        // The first NaN wins, payload and all.
        let p1 = f64::from_bits(0x7ff8_0000_0000_0001);
        let p2 = f64::from_bits(0x7ff8_0000_0000_0002);
        assert_eq!(red_f64(Min, &[1.0, p1, p2]).to_bits(), p1.to_bits());
        assert_eq!(red_f64(Max, &[1.0, p2, p1]).to_bits(), p2.to_bits());
        // Infinities.
        assert_eq!(red_f64(Sum, &[1.0, f64::INFINITY]), f64::INFINITY);
        assert!(red_f64(Sum, &[f64::NEG_INFINITY, f64::INFINITY]).is_nan());
        assert_eq!(red_f64(Min, &[1.0, f64::NEG_INFINITY]), f64::NEG_INFINITY);
    }

    #[test]
    fn arg_reductions() {
        use ReduceOp::*;
        let arg = |r: ReduceOp, x: &[f64]| {
            let mut out = [0i64];
            run_lane(
                &red(r),
                LaneIn::F64(Strided::contiguous(x)),
                LaneOut::I64(StridedMut::contiguous(&mut out)),
                None,
            )
            .unwrap();
            out[0]
        };
        assert_eq!(arg(ArgMin, &[3.0, 1.0, 2.0, 1.0]), 1);
        assert_eq!(arg(ArgMax, &[3.0, 1.0, 3.0, 1.0]), 0);
        assert_eq!(arg(ArgMax, &[3.0, NAN, 9.0, NAN]), 1);
        assert_eq!(arg(ArgMin, &[3.0, 1.0, NAN]), 2);
        assert_eq!(arg(ArgMin, &[7.0]), 0);
        // Other dtypes.
        let b = [false, true, true];
        let mut out = [0i64];
        run_lane(
            &red(ArgMax),
            LaneIn::Bool(Strided::contiguous(&b)),
            LaneOut::I64(StridedMut::contiguous(&mut out)),
            None,
        )
        .unwrap();
        assert_eq!(out, [1]);
        let i = [5i32, -2, 7, -2];
        run_lane(
            &red(ArgMin),
            LaneIn::I32(Strided::contiguous(&i)),
            LaneOut::I64(StridedMut::contiguous(&mut out)),
            None,
        )
        .unwrap();
        assert_eq!(out, [1]);
        run_lane(
            &red(CountNonzero),
            LaneIn::Bool(Strided::contiguous(&b)),
            LaneOut::I64(StridedMut::contiguous(&mut out)),
            None,
        )
        .unwrap();
        assert_eq!(out, [2]);
    }

    #[test]
    fn integer_and_bool_reductions() {
        use ReduceOp::*;
        let x = [i64::MAX, 1, 5];
        assert_eq!(run_i64(red(Sum), &x), [i64::MIN + 5]);
        assert_eq!(run_i64(red(NanSum), &x), [i64::MIN + 5]);
        assert_eq!(run_i64(red(Prod), &[3, 4, -2]), [-24]);
        assert_eq!(run_i64(red(Prod), &[i64::MAX, 2]), [-2]);
        assert_eq!(run_i64(red(Min), &x), [1]);
        assert_eq!(run_i64(red(NanMax), &x), [i64::MAX]);
        let mut o = [0i32];
        run_lane(
            &red(NanMin),
            LaneIn::I32(Strided::contiguous(&[4, -9, 3])),
            LaneOut::I32(StridedMut::contiguous(&mut o)),
            None,
        )
        .unwrap();
        assert_eq!(o, [-9]);
        let b = [false, true, false];
        assert_eq!(run_bool(red(Any), &b), [true]);
        assert_eq!(run_bool(red(All), &b), [false]);
        assert_eq!(run_bool(red(All), &[true, true]), [true]);
        assert_eq!(run_bool(red(Max), &b), [true]);
        assert_eq!(run_bool(red(Min), &b), [false]);
    }

    #[test]
    fn f32_reductions_stay_in_f32() {
        use ReduceOp::*;
        let x = [1.0f32, 2.0, 3.5];
        assert_eq!(run_f32(red(Sum), &x, None), [6.5]);
        assert_eq!(run_f32(red(Mean), &x, None), [6.5 / 3.0]);
        assert_eq!(run_f32(red(Max), &x, None), [3.5]);
        let big = [16_777_216.0f32, 1.0, 1.0];
        // Sequential in f32 within a leaf: (2^24 + 1) + 1 rounds twice.
        assert_eq!(run_f32(red(Sum), &big, None), [16_777_216.0]);
    }

    #[test]
    fn strided_and_reversed_lanes() {
        // Lane over a buffer with stride 3 and with stride -2.
        let buf: Vec<f64> = (0..30).map(f64::from).collect();
        let lane = Strided::new(&buf, 1, 3, 10).unwrap(); // 1, 4, ..., 28
        let mut out = [0.0];
        run_lane(
            &red(ReduceOp::Sum),
            LaneIn::F64(lane),
            LaneOut::F64(StridedMut::contiguous(&mut out)),
            None,
        )
        .unwrap();
        assert_eq!(out, [145.0]);
        let rev = Strided::new(&buf, 9, -2, 5).unwrap(); // 9, 7, 5, 3, 1
        let mut dst = vec![0.0; 12];
        // Written to every other slot of dst, backwards.
        let out = StridedMut::new(&mut dst, 8, -2, 5).unwrap();
        run_lane(
            &op(LaneKind::Scan(ScanOp::Cumsum)),
            LaneIn::F64(rev),
            LaneOut::F64(out),
            None,
        )
        .unwrap();
        assert_eq!(
            dst,
            [25.0, 0.0, 24.0, 0.0, 21.0, 0.0, 16.0, 0.0, 9.0, 0.0, 0.0, 0.0]
        );
        let mut am = [0i64];
        run_lane(
            &red(ReduceOp::ArgMax),
            LaneIn::F64(rev),
            LaneOut::I64(StridedMut::contiguous(&mut am)),
            None,
        )
        .unwrap();
        assert_eq!(am, [0]);
        // A rolling op on a reversed lane equals the op on the reversed data.
        let data: Vec<f64> = (0..50).map(|i| ((i * 37) % 11) as f64).collect();
        let rev_data: Vec<f64> = data.iter().rev().copied().collect();
        let w = Some(Scalar::I64(4));
        let want = run_f64(op(LaneKind::Rolling(WindowOp::Var)), &rev_data, w);
        let mut got = vec![0.0; 50];
        run_lane(
            &op(LaneKind::Rolling(WindowOp::Var)),
            LaneIn::F64(Strided::new(&data, 49, -1, 50).unwrap()),
            LaneOut::F64(StridedMut::contiguous(&mut got)),
            w,
        )
        .unwrap();
        assert!(same(&got, &want));
    }

    // -- Canonical summation ------------------------------------------------

    /// `a / b * 2^e`, computed the same way in the NumPy script that
    /// produced the expected bits below.
    fn gen_f64(n: usize) -> Vec<f64> {
        (0..n as i64)
            .map(|i| {
                let a = (i * 7919 + 13) % 2001 - 1000;
                let b = i * 31 % 97 + 1;
                let e = (i * 13) % 41 - 20;
                a as f64 / b as f64 * f64::from_bits(((1023 + e) as u64) << 52)
            })
            .collect()
    }

    fn gen_f32(n: usize) -> Vec<f32> {
        (0..n as i64)
            .map(|i| {
                let a = (i * 7919 + 13) % 2001 - 1000;
                let b = i * 31 % 97 + 1;
                let e = (i * 13) % 41 - 20;
                a as f32 / b as f32 * f32::from_bits(((127 + e) as u32) << 23)
            })
            .collect()
    }

    const LENS: [usize; 15] = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 127, 128];

    /// Bits of `np.sum`, `np.mean`, `np.var` of `x[:n]` for n in LENS
    /// (NumPy 2.4.6, x86-64):
    /// ```python
    /// x = np.array([np.float64(a)/np.float64(b)*np.float64(math.ldexp(1.0, e)) ...])
    /// [hex(np.float64(np.sum(x[:n])).view(np.uint64)) for n in lens]
    /// ```
    const NP_SUM_F64: [u64; 15] = [
        0xbf4ed80000000000,
        0x3fcce92800000000,
        0x408accfb454b2cb3,
        0x4152f3ebd49a6349,
        0x4152f3ebd5260df2,
        0x4152f3f1e7c44f1c,
        0x41535002e71c36ef,
        0x41534951ac0885b6,
        0x41534951ac04eb0b,
        0xc1a9cec8f9b950d1,
        0xc1a9cca675686024,
        0xc1b42eda6b5986f0,
        0xc1b60a82f1df0411,
        0xc1b56ba308c48694,
        0xc1b56ba308c2983c,
    ];
    const NP_MEAN_F64: [u64; 15] = [
        0xbf4ed80000000000,
        0x3fbce92800000000,
        0x4071ddfcd8dcc877,
        0x4125a90d8542ba9d,
        0x4122f3ebd5260df2,
        0x4120d8d706e762c4,
        0x4114999cb2403a99,
        0x41134951ac0885b6,
        0x411226e374b955b0,
        0xc15aa3e83b9600d8,
        0xc15904826255b290,
        0xc1542eda6b5986f0,
        0xc14c366a2b5ae67c,
        0xc14596d0aa18b804,
        0xc1456ba308c2983c,
    ];
    const NP_VAR_F64: [u64; 15] = [
        0x0,
        0x3f8a8e96a6b20000,
        0x4103efb8604e5bc1,
        0x427f0b6e1412a9cb,
        0x427bf74380edf000,
        0x427969b04d7ca6d1,
        0x42704275f1f6de0d,
        0x426eb0623c6c1e8f,
        0x426d0b6e1394b89a,
        0x4316669af03d2f18,
        0x43151541a91d6c8f,
        0x4307fc8b0e424e2c,
        0x42ff34288495270a,
        0x42f8c58891743985,
        0x42f894e4b9c4dd65,
    ];
    /// `np.std(x[:n], ddof=1)` for n in LENS[1..].
    const NP_STD1_F64: [u64; 14] = [
        0x3fc49d07052a3923,
        0x407eef3fe51558b8,
        0x413812a3920fdd48,
        0x41369d1671a0e766,
        0x4135633c8396764f,
        0x4130b2056594aeb8,
        0x41302ec4c6b88c4a,
        0x412f6cbfaeb0db7d,
        0x41833ea71db42081,
        0x4182a6b9efe5364c,
        0x417bec8d4e362b64,
        0x417674e9a11a3879,
        0x4173fcbe84362ae6,
        0x4173e8ecef3cc72f,
    ];
    const NP_SUM_F32: [u32; 15] = [
        0xba76c000, 0x3e674940, 0x445667db, 0x4a979f5d, 0x4a979f5e, 0x4a979f8f, 0x4a9a8017,
        0x4a9a4a8d, 0x4a9a4a8d, 0xcd4e7648, 0xcd4e6533, 0xcda176d4, 0xcdb05418, 0xcdab5d18,
        0xcdab5d19,
    ];
    const NP_VAR_F32: [u32; 15] = [
        0x0, 0x3c5474b5, 0x481f7dc3, 0x53f85b6f, 0x53dfba19, 0x53cb4d81, 0x538213ae, 0x5375830f,
        0x53685b6f, 0x58b334d8, 0x58a8aa0c, 0x583fe459, 0x57f9a145, 0x57c62c41, 0x57c4a724,
    ];

    #[test]
    fn canonical_sum_equals_numpy_up_to_128() {
        let x = gen_f64(128);
        let y = gen_f32(128);
        for (k, &n) in LENS.iter().enumerate() {
            let got = red_f64(ReduceOp::Sum, &x[..n]);
            assert_eq!(got.to_bits(), NP_SUM_F64[k], "sum f64 n={n}");
            let got = red_f64(ReduceOp::Mean, &x[..n]);
            assert_eq!(got.to_bits(), NP_MEAN_F64[k], "mean f64 n={n}");
            let got = red_f64(ReduceOp::Var, &x[..n]);
            assert_eq!(got.to_bits(), NP_VAR_F64[k], "var f64 n={n}");
            let got = run_f32(red(ReduceOp::Sum), &y[..n], None)[0];
            assert_eq!(got.to_bits(), NP_SUM_F32[k], "sum f32 n={n}");
            let got = run_f32(red(ReduceOp::Var), &y[..n], None)[0];
            assert_eq!(got.to_bits(), NP_VAR_F32[k], "var f32 n={n}");
            if n > 1 {
                let mut s = red(ReduceOp::Std);
                s.ddof = 1;
                let got = run_f64(s, &x[..n], None)[0];
                assert_eq!(got.to_bits(), NP_STD1_F64[k - 1], "std ddof=1 n={n}");
            }
        }
    }

    #[test]
    fn leaf_sum_is_the_8_accumulator_scheme() {
        let x = gen_f64(128);
        for n in 0..=128 {
            let mut acc = [0.0f64; 8];
            let body = n / 8 * 8;
            for i in 0..body {
                acc[i % 8] += x[i];
            }
            let mut s =
                ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
            for v in &x[body..n] {
                s += v;
            }
            assert_eq!(leaf_sum_slice(&x[..n]).to_bits(), s.to_bits());
            assert_eq!(leaf_sum(n, |i| x[i]).to_bits(), s.to_bits());
        }
    }

    #[test]
    fn pairwise_tree_shape() {
        // Leaf sums 1, 2, 4, ... as distinct powers of two tell the tree
        // apart only through rounding, so use a model instead: record the
        // combination order symbolically with strings.
        #[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
        struct Sym(u64);
        // Encode "a + b" as a hash-like non-commutative combination.
        impl Elem for Sym {
            const DTYPE: DType = DType::I64;
            fn maximum(self, o: Sym) -> Sym {
                o
            }
            fn minimum(self, o: Sym) -> Sym {
                o
            }
            fn delta(n: Sym, _: Sym) -> Sym {
                n
            }
            fn from_scalar(_: Scalar) -> Option<Sym> {
                None
            }
        }
        impl SumElem for Sym {
            const ZERO: Sym = Sym(0);
            const ONE: Sym = Sym(1);
            fn add(self, o: Sym) -> Sym {
                Sym(self.0.wrapping_mul(1_000_003).wrapping_add(o.0) ^ 0x5555)
            }
            fn mul(self, o: Sym) -> Sym {
                o
            }
        }
        let comb = |a: Sym, b: Sym| a.add(b);
        // 5 leaves: ((l0+l1)+(l2+l3)) on the stack, then l4:
        // result = s0 + s1 with s0 = ((l0+l1)+(l2+l3)), s1 = l4.
        let l: Vec<Sym> = (10..15).map(Sym).collect();
        let mut t = PairwiseSum::new();
        for &v in &l {
            t.push_leaf(v);
        }
        let want = comb(comb(comb(l[0], l[1]), comb(l[2], l[3])), l[4]);
        assert_eq!(t.finish(), want);
        // 7 leaves: stack (l0..l3), (l4+l5), l6; folded top-down:
        // s0 + (s1 + s2).
        let l: Vec<Sym> = (10..17).map(Sym).collect();
        let mut t = PairwiseSum::new();
        for &v in &l {
            t.push_leaf(v);
        }
        let want = comb(
            comb(comb(l[0], l[1]), comb(l[2], l[3])),
            comb(comb(l[4], l[5]), l[6]),
        );
        assert_eq!(t.finish(), want);
        assert_eq!(PairwiseSum::<Sym>::new().finish(), Sym(0));
        // Threads' combination, on the order itself: every leaf count,
        // chunks of 2^level leaves pushed as subtrees and the last chunk's
        // own sum folded on top with `finish_with`.
        for leaves in 1..70u64 {
            let l: Vec<Sym> = (0..leaves).map(|k| Sym(k * 7 + 3)).collect();
            let mut t = PairwiseSum::new();
            for &v in &l {
                t.push_leaf(v);
            }
            let want = t.finish();
            for level in 0..5u32 {
                let mut t = PairwiseSum::new();
                let chunks: Vec<&[Sym]> = l.chunks(1 << level).collect();
                let own = |c: &[Sym]| {
                    let mut s = PairwiseSum::new();
                    c.iter().for_each(|&v| s.push_leaf(v));
                    s.finish()
                };
                let (last, full) = chunks.split_last().expect("not empty");
                for c in full {
                    assert!(t.push_subtree(own(c), level));
                }
                assert_eq!(t.finish_with(own(last)), want, "{leaves} leaves, {level}");
            }
        }
    }

    #[test]
    fn streaming_equals_one_shot() {
        let mut rng = Rng(7);
        for n in [0, 1, 127, 128, 129, 256, 1000, 128 * 13 + 5, 100_000] {
            let x: Vec<f64> = (0..n)
                .map(|_| (rng.next() - 0.5) * 10f64.powi((rng.next() * 20.0) as i32 - 10))
                .collect();
            let one_shot = red_f64(ReduceOp::Sum, &x);
            assert_eq!(one_shot.to_bits(), pairwise_sum_slice(&x).to_bits());
            // Leaf by leaf, as a JIT block loop would.
            let mut t = PairwiseSum::new();
            for leaf in x.chunks(LEAF) {
                t.push_leaf(leaf_sum_slice(leaf));
            }
            assert_eq!(t.finish().to_bits(), one_shot.to_bits(), "n={n}");
            // Split into blocks of 4 leaves each summed as a subtree
            // (threads), then combined.
            let mut t = PairwiseSum::new();
            for block in x.chunks(4 * LEAF) {
                if block.len() == 4 * LEAF {
                    let mut sub = PairwiseSum::new();
                    for leaf in block.chunks(LEAF) {
                        sub.push_leaf(leaf_sum_slice(leaf));
                    }
                    assert!(t.push_subtree(sub.finish(), 2));
                } else {
                    for leaf in block.chunks(LEAF) {
                        t.push_leaf(leaf_sum_slice(leaf));
                    }
                }
            }
            assert_eq!(t.finish().to_bits(), one_shot.to_bits(), "blocks n={n}");
            // Threads' combination: chunks of 2^level leaves each summed alone
            // and pushed as subtrees, the last (any number of leaves up to
            // 2^level, possibly a short last leaf) folded on top.
            for level in 0..4u32 {
                let per = LEAF << level;
                let mut t = PairwiseSum::new();
                let chunks: Vec<&[f64]> = x.chunks(per).collect();
                if let Some((last, full)) = chunks.split_last() {
                    for chunk in full {
                        assert!(t.push_subtree(pairwise_sum_slice(chunk), level));
                    }
                    let got = t.finish_with(pairwise_sum_slice(last));
                    assert_eq!(got.to_bits(), one_shot.to_bits(), "n={n} level={level}");
                }
            }
            // Mean is sum / n.
            if n > 0 {
                assert_eq!(
                    red_f64(ReduceOp::Mean, &x).to_bits(),
                    (one_shot / n as f64).to_bits()
                );
            }
            // The strided path agrees with the slice path.
            let mut doubled = vec![0.0; 2 * n];
            for (i, v) in x.iter().enumerate() {
                doubled[2 * i + 1] = *v;
            }
            if n > 0 {
                let lane = Strided::new(&doubled, 1, 2, n).unwrap();
                assert_eq!(pairwise_sum(&lane).to_bits(), one_shot.to_bits());
            }
        }
        // Misaligned subtrees are refused.
        let mut t = PairwiseSum::<f64>::new();
        t.push_leaf(1.0);
        assert!(!t.push_subtree(2.0, 1));
        assert!(!t.push_subtree(2.0, 64));
        assert_eq!(t.finish(), 1.0);
    }

    #[test]
    fn large_sum_is_accurate() {
        // 1e6 values of 0.1: the pairwise sum is within a few ulp.
        let x = vec![0.1f64; 1_000_000];
        let s = red_f64(ReduceOp::Sum, &x);
        assert!((s - 100_000.0).abs() < 1e-9, "{s}");
        let y = vec![0.1f32; 1_000_000];
        let s = run_f32(red(ReduceOp::Sum), &y, None)[0];
        assert!((s - 100_000.0).abs() < 1.0, "{s}");
    }

    // -- Scans, diff, shift, ewm ----------------------------------------------

    #[test]
    fn scans() {
        let s = |o: ScanOp| op(LaneKind::Scan(o));
        let x = [1.0, 2.0, -4.0, 3.0];
        assert_eq!(run_f64(s(ScanOp::Cumsum), &x, None), [1.0, 3.0, -1.0, 2.0]);
        assert_eq!(
            run_f64(s(ScanOp::Cumprod), &x, None),
            [1.0, 2.0, -8.0, -24.0]
        );
        assert_eq!(run_f64(s(ScanOp::Cummax), &x, None), [1.0, 2.0, 2.0, 3.0]);
        assert_eq!(run_f64(s(ScanOp::Cummin), &x, None), [1.0, 1.0, -4.0, -4.0]);
        let y = [1.0, NAN, 5.0, -1.0];
        for o in [
            ScanOp::Cumsum,
            ScanOp::Cumprod,
            ScanOp::Cummax,
            ScanOp::Cummin,
        ] {
            assert!(
                same(&run_f64(s(o), &y, None), &[1.0, NAN, NAN, NAN]),
                "{o:?}"
            );
        }
        assert!(run_f64(s(ScanOp::Cumsum), &[], None).is_empty());
        // -0.0 survives as the first element (y[0] = x[0]).
        assert!(run_f64(s(ScanOp::Cumsum), &[-0.0], None)[0].is_sign_negative());
        assert_eq!(
            run_i64(s(ScanOp::Cumsum), &[i64::MAX, 1, 1]),
            [i64::MAX, i64::MIN, i64::MIN + 1]
        );
        assert_eq!(run_i64(s(ScanOp::Cumprod), &[2, -3, 4]), [2, -6, -24]);
        assert_eq!(run_i64(s(ScanOp::Cummin), &[2, -3, 4]), [2, -3, -3]);
        assert_eq!(
            run_bool(s(ScanOp::Cummax), &[false, true, false]),
            [false, true, true]
        );
        assert_eq!(
            run_bool(s(ScanOp::Cummin), &[true, true, false, true]),
            [true, true, false, false]
        );
        assert_eq!(
            run_f32(s(ScanOp::Cumsum), &[0.5, 0.25], None),
            [0.5f32, 0.75]
        );
    }

    #[test]
    fn diffs() {
        let d = |n: u32| op(LaneKind::Diff(n));
        let x = [1.0, 4.0, 9.0, 16.0, 25.0];
        assert_eq!(run_f64(d(1), &x, None), [3.0, 5.0, 7.0, 9.0]);
        assert_eq!(run_f64(d(2), &x, None), [2.0, 2.0, 2.0]);
        assert_eq!(run_f64(d(4), &x, None), [0.0]);
        assert!(run_f64(d(5), &x, None).is_empty());
        assert!(run_f64(d(u32::MAX), &x, None).is_empty());
        assert_eq!(run_f64(d(0), &x, None), x);
        assert!(run_f64(d(1), &[], None).is_empty());
        assert_eq!(run_i64(d(1), &[i64::MIN, i64::MAX]), [-1]);
        assert_eq!(
            run_bool(d(1), &[true, true, false, true]),
            [false, true, true]
        );
        assert_eq!(run_bool(d(2), &[true, true, false, true]), [true, false]);
        assert!(same(&run_f64(d(1), &[1.0, NAN, 2.0], None), &[NAN, NAN]));
        assert_eq!(run_f32(d(1), &[1.5, 1.0], None), [-0.5f32]);
        // i32 via the generic path.
        let mut o = [0i32; 2];
        run_lane(
            &d(1),
            LaneIn::I32(Strided::contiguous(&[i32::MAX, i32::MIN, 0])),
            LaneOut::I32(StridedMut::contiguous(&mut o)),
            None,
        )
        .unwrap();
        assert_eq!(o, [1, i32::MIN]);
    }

    #[test]
    fn shifts() {
        let sh = |k: i64, fill: Scalar| op(LaneKind::Shift { k, fill });
        let x = [1.0, 2.0, 3.0, 4.0];
        let nan = Scalar::F64(NAN);
        assert!(same(&run_f64(sh(1, nan), &x, None), &[NAN, 1.0, 2.0, 3.0]));
        assert!(same(&run_f64(sh(-2, nan), &x, None), &[3.0, 4.0, NAN, NAN]));
        assert_eq!(run_f64(sh(0, nan), &x, None), x);
        assert_eq!(run_f64(sh(9, Scalar::F64(0.5)), &x, None), [0.5; 4]);
        assert_eq!(run_f64(sh(i64::MIN, Scalar::F64(7.0)), &x, None), [7.0; 4]);
        assert_eq!(run_f64(sh(i64::MAX, Scalar::F64(7.0)), &x, None), [7.0; 4]);
        let mut o = [0i64; 3];
        run_lane(
            &sh(1, Scalar::I64(-1)),
            LaneIn::I64(Strided::contiguous(&[5, 6, 7])),
            LaneOut::I64(StridedMut::contiguous(&mut o)),
            None,
        )
        .unwrap();
        assert_eq!(o, [-1, 5, 6]);
        assert_eq!(
            run_bool(sh(-1, Scalar::Bool(true)), &[false, false]),
            [false, true]
        );
    }

    #[test]
    fn ewm_recurrence() {
        let e = op(LaneKind::Ewm);
        let x = [1.0, 2.0, 3.0, NAN, 5.0];
        let got = run_f64(e, &x, Some(Scalar::F64(0.5)));
        assert!(same(&got, &[1.0, 1.5, 2.25, NAN, NAN]));
        assert_eq!(run_f64(e, &[4.0, 8.0], Some(Scalar::F64(1.0))), [4.0, 8.0]);
        assert!(run_f64(e, &[], Some(Scalar::F64(0.3))).is_empty());
        // Bit-identical to the recurrence written out, in f64 and in f32.
        let mut rng = Rng(3);
        let xs: Vec<f64> = (0..1000).map(|_| rng.next() * 100.0).collect();
        let alpha = 0.1234567;
        let got = run_f64(e, &xs, Some(Scalar::F64(alpha)));
        let mut y = xs[0];
        for i in 1..xs.len() {
            y = alpha * xs[i] + (1.0 - alpha) * y;
            assert_eq!(got[i].to_bits(), y.to_bits());
        }
        let xs32: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
        let got = run_f32(e, &xs32, Some(Scalar::F64(alpha)));
        let a = alpha as f32;
        let mut y = xs32[0];
        for i in 1..xs32.len() {
            y = a * xs32[i] + (1.0 - a) * y;
            assert_eq!(got[i].to_bits(), y.to_bits());
        }
    }

    // -- Rolling windows ------------------------------------------------------

    fn roll(o: WindowOp, x: &[f64], w: i64, ddof: u32) -> Vec<f64> {
        let mut lo = op(LaneKind::Rolling(o));
        lo.ddof = ddof;
        run_f64(lo, x, Some(Scalar::I64(w)))
    }

    /// Two-pass reference of one window (NaN if it holds a non-finite).
    fn two_pass(win: &[f64], ddof: u32) -> f64 {
        if win.iter().any(|v| !v.is_finite()) || win.len() <= ddof as usize {
            return NAN;
        }
        let n = win.len() as f64;
        let m = win.iter().sum::<f64>() / n;
        win.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - f64::from(ddof))
    }

    #[test]
    fn rolling_small() {
        use WindowOp::*;
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!(same(&roll(Sum, &x, 2, 0), &[NAN, 3.0, 5.0, 7.0, 9.0]));
        assert!(same(&roll(Mean, &x, 2, 0), &[NAN, 1.5, 2.5, 3.5, 4.5]));
        assert!(same(&roll(Sum, &x, 3, 0), &[NAN, NAN, 6.0, 9.0, 12.0]));
        assert!(same(&roll(Min, &x, 3, 0), &[NAN, NAN, 1.0, 2.0, 3.0]));
        assert!(same(&roll(Max, &x, 3, 0), &[NAN, NAN, 3.0, 4.0, 5.0]));
        let v3 = 2.0 / 3.0;
        assert!(same(&roll(Var, &x, 3, 0), &[NAN, NAN, v3, v3, v3]));
        assert!(same(&roll(Var, &x, 3, 1), &[NAN, NAN, 1.0, 1.0, 1.0]));
        assert!(same(&roll(Std, &x, 3, 1), &[NAN, NAN, 1.0, 1.0, 1.0]));
        assert!(same(&roll(Var, &x, 3, 3), &[NAN; 5]));
        // w = 1: the identity (var 0).
        assert_eq!(roll(Sum, &x, 1, 0), x);
        assert_eq!(roll(Max, &x, 1, 0), x);
        assert_eq!(roll(Var, &x, 1, 0), [0.0; 5]);
        assert!(same(&roll(Var, &x, 1, 1), &[NAN; 5]));
        // w = len: one value at the end.
        assert!(same(&roll(Sum, &x, 5, 0), &[NAN, NAN, NAN, NAN, 15.0]));
        assert!(same(&roll(Var, &x, 5, 0), &[NAN, NAN, NAN, NAN, 2.0]));
        assert!(same(&roll(Min, &x, 5, 0), &[NAN, NAN, NAN, NAN, 1.0]));
        // w > len: all NaN.
        for o in [Sum, Mean, Var, Std, Min, Max] {
            assert!(same(&roll(o, &x, 6, 0), &[NAN; 5]), "{o:?}");
            assert!(same(&roll(o, &x, i64::MAX, 0), &[NAN; 5]), "{o:?}");
            assert!(roll(o, &[], 3, 0).is_empty());
        }
        // f32 lanes.
        let mut lo = op(LaneKind::Rolling(Mean));
        lo.ddof = 0;
        let got = run_f32(lo, &[1.0, 2.0, 4.0], Some(Scalar::I64(2)));
        assert!(got[0].is_nan() && got[1..] == [1.5f32, 3.0]);
    }

    #[test]
    fn rolling_nan_and_inf() {
        use WindowOp::*;
        let inf = f64::INFINITY;
        let x = [1.0, NAN, 2.0, 3.0, 4.0, inf, 5.0, 6.0, 7.0, -inf, 1.0, inf];
        let w = 2;
        let s = roll(Sum, &x, w, 0);
        assert!(same(
            &s,
            &[NAN, NAN, NAN, 5.0, 7.0, inf, inf, 11.0, 13.0, -inf, -inf, inf]
        ));
        // Both infinities in one window: NaN, and nothing sticks after.
        let s = roll(Mean, &x, 3, 0);
        assert!(same(&s[9..], &[-inf, -inf, NAN]));
        assert!(same(&roll(Min, &x, 3, 0)[9..], &[-inf, -inf, -inf]));
        let m = roll(Max, &x, w, 0);
        assert!(same(
            &m,
            &[NAN, NAN, NAN, 3.0, 4.0, inf, inf, 6.0, 7.0, 7.0, 1.0, inf]
        ));
        let v = roll(Var, &x, w, 0);
        assert!(same(
            &v,
            &[NAN, NAN, NAN, 0.25, 0.25, NAN, NAN, 0.25, 0.25, NAN, NAN, NAN]
        ));
        // Long run after a NaN: values come back exactly.
        let mut y = vec![1.0; 40];
        y[3] = NAN;
        let s = roll(Sum, &y, 5, 0);
        for (i, v) in s.iter().enumerate() {
            if (3..=7).contains(&i) || i < 4 {
                assert!(v.is_nan(), "{i}");
            } else {
                assert_eq!(*v, 5.0, "{i}");
            }
        }
    }

    #[test]
    fn rolling_matches_brute_force() {
        use WindowOp::*;
        let mut rng = Rng(11);
        for &(n, w) in &[
            (1usize, 1usize),
            (10, 1),
            (10, 3),
            (50, 7),
            (200, 16),
            (200, 200),
            (333, 50),
            (1000, 999),
        ] {
            let x: Vec<f64> = (0..n)
                .map(|_| {
                    let r = rng.next();
                    if r < 0.03 {
                        NAN
                    } else if r < 0.05 {
                        ((rng.next() * 4.0) as i32) as f64 // ties
                    } else {
                        (rng.next() - 0.5) * 100.0
                    }
                })
                .collect();
            let mx = roll(Max, &x, w as i64, 0);
            let mn = roll(Min, &x, w as i64, 0);
            let sm = roll(Sum, &x, w as i64, 0);
            let mean = roll(Mean, &x, w as i64, 0);
            let var = roll(Var, &x, w as i64, 1);
            let std = roll(Std, &x, w as i64, 0);
            for i in 0..n {
                if i + 1 < w {
                    for v in [mx[i], mn[i], sm[i], mean[i], var[i], std[i]] {
                        assert!(v.is_nan());
                    }
                    continue;
                }
                let win = &x[i + 1 - w..=i];
                if win.iter().any(|v| v.is_nan()) {
                    for v in [mx[i], mn[i], sm[i], mean[i], var[i], std[i]] {
                        assert!(v.is_nan(), "n={n} w={w} i={i}");
                    }
                    continue;
                }
                let bmax = win.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let bmin = win.iter().copied().fold(f64::INFINITY, f64::min);
                assert_eq!(mx[i], bmax, "max n={n} w={w} i={i}");
                assert_eq!(mn[i], bmin, "min n={n} w={w} i={i}");
                let bsum: f64 = win.iter().sum();
                assert!((sm[i] - bsum).abs() <= 1e-12 * (1.0 + bsum.abs()));
                assert!((mean[i] - bsum / w as f64).abs() <= 1e-12 * (1.0 + bsum.abs()));
                let bv = two_pass(win, 1);
                assert!(
                    same(&[var[i]], &[bv]) || (var[i] - bv).abs() <= 1e-12 * bv.abs(),
                    "var n={n} w={w} i={i}: {} vs {bv}",
                    var[i]
                );
                let bs = two_pass(win, 0).sqrt();
                assert!((std[i] - bs).abs() <= 1e-12 * bs.abs().max(1e-300));
            }
        }
    }

    /// Two-pass variance of one window with an accurate mean: the
    /// deviations from the first element are exact for clustered data, so
    /// `m = x0 + sum(x - x0) / n` is good to ~1 ulp of the deviations.
    fn two_pass_shifted(win: &[f64], ddof: u32) -> f64 {
        let x0 = win[0];
        let n = win.len() as f64;
        let m = x0 + win.iter().map(|v| v - x0).sum::<f64>() / n;
        win.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - f64::from(ddof))
    }

    /// Two-pass variance with the mean kept unrounded as `x0 + m_lo` (a
    /// double-double): `d = (x - x0) - m_lo` is then accurate to an ulp of
    /// the deviation, so this is the true variance to ~1e-15.
    fn two_pass_exact_mean(win: &[f64], ddof: u32) -> f64 {
        let x0 = win[0];
        let n = win.len() as f64;
        let m_lo = win.iter().map(|v| v - x0).sum::<f64>() / n;
        let m_lo = m_lo + win.iter().map(|v| (v - x0) - m_lo).sum::<f64>() / n;
        win.iter()
            .map(|v| {
                let d = (v - x0) - m_lo;
                d * d
            })
            .sum::<f64>()
            / (n - f64::from(ddof))
    }

    /// Worst relative error of rolling var/std over all windows against
    /// (a) the two-pass `var` reduction of this module on each window (the
    /// canonical pairwise order: NumPy's `np.var` bit for bit for w <= 128),
    /// (b) a two-pass with the mean computed from exact deviations (then
    /// rounded to f64), and (c) a two-pass with an unrounded mean.
    fn worst_rel_err(x: &[f64], w: usize, ddof: u32) -> (f64, f64, f64) {
        let var = roll(WindowOp::Var, x, w as i64, ddof);
        let std = roll(WindowOp::Std, x, w as i64, ddof);
        let mut vr = red(ReduceOp::Var);
        vr.ddof = ddof;
        let mut worst = [0.0f64; 3];
        for i in w - 1..x.len() {
            let win = &x[i + 1 - w..=i];
            assert!(var[i] >= 0.0, "negative variance at {i}");
            let wants = [
                run_f64(vr, win, None)[0],
                two_pass_shifted(win, ddof),
                two_pass_exact_mean(win, ddof),
            ];
            for (want, worst) in wants.into_iter().zip(&mut worst) {
                *worst = worst.max((var[i] - want).abs() / want);
                *worst = worst.max((std[i] - want.sqrt()).abs() / want.sqrt());
            }
        }
        (worst[0], worst[1], worst[2])
    }

    #[test]
    fn rolling_var_near_constant() {
        // 1e9 + uniform noise of amplitude 1e-3, w = 100, n = 100,000.
        let mut rng = Rng(42);
        let x: Vec<f64> = (0..100_000)
            .map(|_| 1e9 + (rng.next() * 2.0 - 1.0) * 1e-3)
            .collect();
        // The two-pass references carry their own error: their f64 mean is
        // off by up to a few ulp of 1e9 (~1e-7), which adds n * err^2 to
        // the sum of squares (~1e-8 relative for a correctly rounded mean,
        // ~1e-6 for a pairwise-summed one). The unrounded-mean reference
        // shows the rolling algorithm's own error.
        for ddof in [0, 1] {
            let (np, shifted, exact) = worst_rel_err(&x, 100, ddof);
            eprintln!(
                "near-constant 1e9 case, ddof={ddof}: worst relative error {np:e} against \
                 the canonical two-pass var, {shifted:e} against a two-pass with an exact \
                 mean rounded to f64, {exact:e} against a two-pass with an unrounded mean"
            );
            assert!(np < 1e-6 && shifted < 1e-6, "{np:e} {shifted:e}");
            assert!(exact < 1e-12, "{exact:e}");
        }
        // And with a level shift in the middle (K of old blocks far away).
        let mut y = x.clone();
        for v in &mut y[50_050..] {
            *v -= 5e8;
        }
        let (np, shifted, exact) = worst_rel_err(&y[49_000..52_000], 100, 0);
        assert!(
            np < 1e-6 && shifted < 1e-6,
            "level shift: {np:e} {shifted:e}"
        );
        assert!(exact < 1e-12, "level shift: {exact:e}");
    }

    #[test]
    fn rolling_var_random_walk() {
        let mut rng = Rng(5);
        let mut level = 1000.0;
        let x: Vec<f64> = (0..100_000)
            .map(|_| {
                level += rng.next() - 0.5;
                level
            })
            .collect();
        for w in [2, 10, 100, 1000] {
            let (np, shifted, exact) = worst_rel_err(&x, w, 0);
            eprintln!("random walk w={w}: worst relative error {np:e} / {shifted:e} / {exact:e}");
            assert!(
                np < 1e-9 && shifted < 1e-9 && exact < 1e-9,
                "w={w}: {np:e} {shifted:e}"
            );
        }
    }

    #[test]
    fn rolling_is_linear_time() {
        // n = 200,000 with w = n/2: an O(n*w) loop would take ~1e10 steps.
        let n = 200_000;
        let x: Vec<f64> = (0..n).map(|i| (i % 1000) as f64).collect();
        for o in [WindowOp::Sum, WindowOp::Var, WindowOp::Min, WindowOp::Max] {
            let t = std::time::Instant::now();
            let y = roll(o, &x, (n / 2) as i64, 0);
            assert!(t.elapsed().as_secs_f64() < 2.0, "{o:?}");
            assert!(!y[n - 1].is_nan());
        }
    }
}
