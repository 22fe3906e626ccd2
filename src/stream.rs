//! Streaming lane operations: reductions, scans, rolling windows and
//! `ewm_mean` fed a lane block by block.
//!
//! A [`Stream`] is the state of one lane operation on one lane. It is fed
//! the lane's elements in order, in blocks of any length
//! ([`Stream::push`]); an *aligned* operation (scan, window, `ewm_mean`)
//! writes the result of each element as it goes, a reduction gives its
//! result at the end ([`Stream::finish`]). The results never depend on how
//! the lane was cut into blocks: every operation is defined element by
//! element, and sums carry a partial leaf as its accumulators so the
//! canonical summation order of [`crate::algo`] is kept whatever the block
//! boundaries.
//!
//! This is the single definition of these operations: the interpreter and
//! unfused lane loops run them through [`crate::algo::run_lane`], which
//! pushes a whole lane in chunks; fused code pushes the blocks its loops
//! compute (so `sum(a*b)` never stores `a*b`); the two therefore agree bit
//! for bit.
//!
//! `var`/`std` (and the `nan` forms) are two-pass by definition (NumPy's
//! formula: the mean, then the sum of squared deviations from it), so they
//! take the lane twice: [`Stream::passes`] is 2 and [`Stream::next_pass`]
//! separates the passes. Everything else takes one pass.
//!
//! The semantics (NaN rules, empty lanes, canonical sums, the rolling
//! windows' block prefix/suffix scheme) are those documented in
//! [`crate::algo`]. All of it is safe Rust and never panics, but for the
//! `wide` module's AVX2 code: called only behind a run-time CPU check (a
//! token type proves it was made), and loading and storing vectors only
//! through `[f64; 4]` rows.
//!
//! Speed comes from how a pushed block is scheduled, never from changing
//! what is computed. Reductions run their block through interleaved
//! accumulators (the canonical leaf sum, `lanes_extreme`'s eight running
//! extremes) that the compiler keeps in vector registers. Rolling windows
//! split a block into a loop that carries only the prefix's running
//! aggregates (short loop-carried chains, written to a scratch row of
//! `SCRATCH` elements) and a loop that merges each with its suffix and
//! writes the result (no loop-carried state, so it vectorises, square root
//! included); a whole block pushed together with what follows it is rolled
//! straight from the pushed slice. With AVX2, the sum and var/std windows
//! also take whole blocks four at a time (a *tile*, `Window::tile`): the
//! four blocks' chains run in the four lanes of a vector, each lane doing
//! its block's scalar steps in the same order (so the same bits), one
//! chain's latency covering the others', and the merges ride along with
//! the prefix chain so their divisions and square roots overlap it. A
//! window's NaN results are all the one positive quiet NaN (`canonical`),
//! so that which NaN an operation passes on, which depends on operand
//! order the compiler may swap, never shows. `cummax`/`cummin` compare
//! `CUM_CHUNK` elements at a time with the running extreme and fill
//! them with it if it beats them all (a branch the CPU predicts), instead
//! of a chain of blends through every element. `cumsum`, `cumprod` and
//! `ewm_mean` are one dependent operation per element by definition (their
//! order of operations is their result), so they are latency-bound.

use std::marker::PhantomData;

use crate::algo::{
    accumulate_groups, fold_accumulators, leaf_sum_map, Elem, FloatElem, PairwiseSum, SumElem, LEAF,
};
use crate::error::{Error, ErrorKind, Result};
use crate::ir::{LaneKind, LaneOp, ReduceOp, ScanOp, WindowOp};
use crate::types::{DType, Scalar};

/// Consecutive elements of one lane, to read.
#[derive(Clone, Copy, Debug)]
pub enum Block<'a> {
    Bool(&'a [bool]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    F32(&'a [f32]),
    F64(&'a [f64]),
}

/// Consecutive elements of one lane, to write.
#[derive(Debug)]
pub enum BlockMut<'a> {
    Bool(&'a mut [bool]),
    I32(&'a mut [i32]),
    I64(&'a mut [i64]),
    F32(&'a mut [f32]),
    F64(&'a mut [f64]),
}

impl Block<'_> {
    pub fn len(&self) -> usize {
        match self {
            Block::Bool(x) => x.len(),
            Block::I32(x) => x.len(),
            Block::I64(x) => x.len(),
            Block::F32(x) => x.len(),
            Block::F64(x) => x.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dtype(&self) -> DType {
        match self {
            Block::Bool(_) => DType::Bool,
            Block::I32(_) => DType::I32,
            Block::I64(_) => DType::I64,
            Block::F32(_) => DType::F32,
            Block::F64(_) => DType::F64,
        }
    }
}

/// Element types that can be viewed in a [`Block`].
pub trait BlockElem: Elem + Send {
    fn block(xs: &[Self]) -> Block<'_>;
    fn block_mut(xs: &mut [Self]) -> BlockMut<'_>;
    fn of(b: Block<'_>) -> Option<&[Self]>;
    fn of_mut(b: BlockMut<'_>) -> Option<&mut [Self]>;
    fn scalar(self) -> Scalar;
}

macro_rules! block_elem {
    ($t:ty, $v:ident) => {
        impl BlockElem for $t {
            fn block(xs: &[$t]) -> Block<'_> {
                Block::$v(xs)
            }
            fn block_mut(xs: &mut [$t]) -> BlockMut<'_> {
                BlockMut::$v(xs)
            }
            fn of(b: Block<'_>) -> Option<&[$t]> {
                match b {
                    Block::$v(x) => Some(x),
                    _ => None,
                }
            }
            fn of_mut(b: BlockMut<'_>) -> Option<&mut [$t]> {
                match b {
                    BlockMut::$v(x) => Some(x),
                    _ => None,
                }
            }
            fn scalar(self) -> Scalar {
                Scalar::$v(self)
            }
        }
    };
}
block_elem!(bool, Bool);
block_elem!(i32, I32);
block_elem!(i64, I64);
block_elem!(f32, F32);
block_elem!(f64, F64);

/// Whether `op` can run as a [`Stream`] (everything but `diff` and
/// `shift`, whose results are not aligned with their operand's elements).
pub fn is_streamable(op: &LaneOp) -> bool {
    matches!(
        op.kind,
        LaneKind::Reduce(_) | LaneKind::Scan(_) | LaneKind::Rolling(_) | LaneKind::Ewm
    )
}

/// Passes over the lane `op` needs (2 for `var`/`std` and their `nan`
/// forms, 1 otherwise).
pub fn passes(op: &LaneOp) -> u32 {
    use ReduceOp::*;
    match op.kind {
        LaneKind::Reduce(Var | Std | NanVar | NanStd) => 2,
        _ => 1,
    }
}

/// Whether `op` writes one result per element (scans, windows, ewm).
pub fn is_aligned(op: &LaneOp) -> bool {
    matches!(
        op.kind,
        LaneKind::Scan(_) | LaneKind::Rolling(_) | LaneKind::Ewm
    )
}

/// The per-lane state of one streaming lane operation.
pub struct Stream {
    name: String,
    aligned: bool,
    src: DType,
    dst: DType,
    inner: Box<dyn Step>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stream({} {} -> {})", self.name, self.src, self.dst)
    }
}

impl Stream {
    /// The stream of `op` from `src` to `dst` elements; `param` is the
    /// window length (`I64 >= 1`) or `alpha` (`F64` in (0, 1]). Errors are
    /// internal: lowering guarantees the combination.
    pub fn new(op: &LaneOp, src: DType, dst: DType, param: Option<Scalar>) -> Result<Stream> {
        let name = op.name();
        let bad = || Error::internal(format!("{name}: not defined from {src} to {dst}"));
        let inner: Box<dyn Step> = match op.kind {
            LaneKind::Reduce(r) => reduction(r, op.ddof, src, dst).ok_or_else(bad)?,
            LaneKind::Scan(s) => {
                if src != dst {
                    return Err(bad());
                }
                scan(s, src).ok_or_else(bad)?
            }
            LaneKind::Rolling(w) => {
                let window = match param {
                    Some(Scalar::I64(v)) if v >= 1 => usize::try_from(v).unwrap_or(usize::MAX),
                    other => {
                        return Err(Error::internal(format!(
                            "{}: window length {other:?} is not an i64 >= 1",
                            w.name()
                        )))
                    }
                };
                match (src, dst) {
                    (DType::F32, DType::F32) => window_of::<f32>(w, op.ddof, window),
                    (DType::F64, DType::F64) => window_of::<f64>(w, op.ddof, window),
                    _ => return Err(bad()),
                }
            }
            LaneKind::Ewm => {
                let alpha = match param {
                    Some(Scalar::F64(a)) if a > 0.0 && a <= 1.0 => a,
                    other => {
                        return Err(Error::internal(format!(
                            "ewm_mean: alpha {other:?} is not an f64 in (0, 1]"
                        )))
                    }
                };
                match (src, dst) {
                    (DType::F32, DType::F32) => Box::new(AlignedStep::new(Ewm::<f32>::new(alpha))),
                    (DType::F64, DType::F64) => Box::new(AlignedStep::new(Ewm::<f64>::new(alpha))),
                    _ => return Err(bad()),
                }
            }
            LaneKind::Diff(_) | LaneKind::Shift { .. } => {
                return Err(Error::internal(format!("{name} does not stream")))
            }
        };
        Ok(Stream {
            name: name.to_string(),
            aligned: is_aligned(op),
            src,
            dst,
            inner,
        })
    }

    /// Starts a new lane (or restarts the current one).
    pub fn reset(&mut self) {
        self.inner.reset();
    }

    /// Starts the second pass of a two-pass reduction.
    pub fn next_pass(&mut self) {
        self.inner.next_pass();
    }

    /// A finished mean's element count and value (as `f64`, which holds
    /// an `f32` exactly): what the first pass of a variance of the same
    /// elements computes. `None` for other streams.
    pub fn moments(&self) -> Option<(usize, f64)> {
        self.inner.moments()
    }

    /// Starts the second pass of a variance or deviation with the count
    /// and mean of [`Stream::moments`] instead of its own first pass's, so
    /// that a lane's mean is computed once when both are wanted; its first
    /// pass is not run. The result is bit for bit the same, since the first
    /// pass would have summed the same elements in the same order.
    pub fn next_pass_given(&mut self, (count, mean): (usize, f64)) -> Result<()> {
        if self.inner.next_pass_given(count, mean) {
            Ok(())
        } else {
            Err(Error::internal(format!(
                "{}: has no first pass to take a mean for",
                self.name
            )))
        }
    }

    /// Feeds the next elements of the lane; an aligned stream writes their
    /// results to `y` (same length), a reduction takes `None`.
    pub fn push(&mut self, x: Block<'_>, y: Option<BlockMut<'_>>) -> Result<()> {
        if x.dtype() != self.src || y.is_some() != self.aligned {
            return Err(Error::internal(format!(
                "{}: pushed a {} block{}",
                self.name,
                x.dtype(),
                if y.is_some() {
                    " with an output"
                } else {
                    " without an output"
                }
            )));
        }
        self.inner.push(x, y)
    }

    /// The result of a reduction over everything pushed (an error for an
    /// empty lane of `min`/`max`/`argmin`/`argmax` and their `nan` forms).
    pub fn finish(&mut self) -> Result<Scalar> {
        Ok(Scalar::from_bits(self.dst, self.finish_bits()?))
    }

    /// [`Stream::finish`] as the bits of the value ([`Scalar::to_bits`]),
    /// of dtype `dst`. (A `Result<Scalar>` crossing a call is copied in
    /// unaligned pieces the store buffer cannot forward: about a fifth of a
    /// 10-element row's time, once per reduction and row.)
    pub fn finish_bits(&mut self) -> Result<u64> {
        let (dtype, bits) = self.inner.finish()?;
        if dtype != self.dst {
            return Err(Error::internal(format!(
                "{}: finished with a {dtype}",
                self.name
            )));
        }
        Ok(bits)
    }

    pub fn src(&self) -> DType {
        self.src
    }

    pub fn dst(&self) -> DType {
        self.dst
    }

    pub fn is_aligned(&self) -> bool {
        self.aligned
    }
}

/// The dtype-erased interface of every stream.
trait Step: Send {
    fn reset(&mut self);
    fn next_pass(&mut self) {}
    fn moments(&self) -> Option<(usize, f64)> {
        None
    }
    fn next_pass_given(&mut self, _count: usize, _mean: f64) -> bool {
        false
    }
    fn push(&mut self, x: Block<'_>, y: Option<BlockMut<'_>>) -> Result<()>;
    /// The result's dtype and bits (see [`Stream::finish_bits`]).
    fn finish(&mut self) -> Result<(DType, u64)> {
        Err(Error::internal("an aligned stream has no final value"))
    }
}

fn block_mismatch() -> Error {
    Error::internal("a stream was pushed a block of the wrong dtype or length")
}

// ---------------------------------------------------------------------------
// Reductions.

/// A reduction over elements of type `S`.
trait Reduce<S>: Send {
    fn reset(&mut self);
    fn next_pass(&mut self) {}
    /// See [`Stream::moments`].
    fn moments(&self) -> Option<(usize, f64)> {
        None
    }
    /// See [`Stream::next_pass_given`]; `false` if the reduction has no
    /// first pass computing a mean.
    fn next_pass_given(&mut self, _count: usize, _mean: f64) -> bool {
        false
    }
    fn push(&mut self, x: &[S]);
    fn finish(&mut self) -> Result<Scalar>;
}

struct ReduceStep<S, K> {
    k: K,
    _s: PhantomData<fn(S)>,
}

impl<S: BlockElem, K: Reduce<S>> Step for ReduceStep<S, K> {
    fn reset(&mut self) {
        self.k.reset();
    }
    fn next_pass(&mut self) {
        self.k.next_pass();
    }
    fn moments(&self) -> Option<(usize, f64)> {
        self.k.moments()
    }
    fn next_pass_given(&mut self, count: usize, mean: f64) -> bool {
        self.k.next_pass_given(count, mean)
    }
    fn push(&mut self, x: Block<'_>, _y: Option<BlockMut<'_>>) -> Result<()> {
        self.k.push(S::of(x).ok_or_else(block_mismatch)?);
        Ok(())
    }
    fn finish(&mut self) -> Result<(DType, u64)> {
        self.k.finish().map(|s| (s.dtype(), s.to_bits()))
    }
}

fn boxed<S: BlockElem, K: Reduce<S> + 'static>(k: K) -> Box<dyn Step> {
    Box::new(ReduceStep { k, _s: PhantomData })
}

fn reduction(r: ReduceOp, ddof: u32, src: DType, dst: DType) -> Option<Box<dyn Step>> {
    use DType as D;
    use ReduceOp as R;
    Some(match (r, src, dst) {
        (R::Sum | R::NanSum, D::I64, D::I64) => boxed(Sum::<i64>::new(false)),
        (R::Sum, D::F32, D::F32) => boxed(Sum::<f32>::new(false)),
        (R::Sum, D::F64, D::F64) => boxed(Sum::<f64>::new(false)),
        (R::NanSum, D::F32, D::F32) => boxed(Sum::<f32>::new(true)),
        (R::NanSum, D::F64, D::F64) => boxed(Sum::<f64>::new(true)),
        (R::Prod, D::I64, D::I64) => boxed(Prod::<i64>::default()),
        (R::Prod, D::F32, D::F32) => boxed(Prod::<f32>::default()),
        (R::Prod, D::F64, D::F64) => boxed(Prod::<f64>::default()),
        (R::Mean | R::NanMean | R::Var | R::Std | R::NanVar | R::NanStd, D::F32, D::F32) => {
            boxed(FloatStat::<f32>::new(r, ddof))
        }
        (R::Mean | R::NanMean | R::Var | R::Std | R::NanVar | R::NanStd, D::F64, D::F64) => {
            boxed(FloatStat::<f64>::new(r, ddof))
        }
        (R::Min | R::Max | R::NanMin | R::NanMax, s, d) if s == d => {
            let (max, skip) = (
                matches!(r, R::Max | R::NanMax),
                matches!(r, R::NanMin | R::NanMax),
            );
            match s {
                D::Bool => boxed(Extreme::<bool>::new(r, max, skip)),
                D::I32 => boxed(Extreme::<i32>::new(r, max, skip)),
                D::I64 => boxed(Extreme::<i64>::new(r, max, skip)),
                D::F32 => boxed(Extreme::<f32>::new(r, max, skip)),
                D::F64 => boxed(Extreme::<f64>::new(r, max, skip)),
            }
        }
        (R::ArgMin | R::ArgMax, s, D::I64) => {
            let max = r == R::ArgMax;
            match s {
                D::Bool => boxed(Arg::<bool>::new(r, max)),
                D::I32 => boxed(Arg::<i32>::new(r, max)),
                D::I64 => boxed(Arg::<i64>::new(r, max)),
                D::F32 => boxed(Arg::<f32>::new(r, max)),
                D::F64 => boxed(Arg::<f64>::new(r, max)),
            }
        }
        (R::Any | R::All, D::Bool, D::Bool) => boxed(AnyAll::new(r == R::Any)),
        (R::CountNonzero, D::Bool, D::I64) => boxed(Count::default()),
        _ => return None,
    })
}

fn empty_error(r: ReduceOp) -> Error {
    Error::new(
        ErrorKind::Shape,
        format!("`{}` of an empty array has no value", r.name()),
    )
}

fn as_i64(i: usize) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX)
}

/// The canonical pairwise sum, fed any number of elements at a time. The
/// current leaf is kept as [`leaf_sum_map`]'s state: its 8 accumulators
/// over the leaf's whole groups of 8 so far, and the values of a group not
/// yet complete. So no element is copied except those of a group split
/// between two pushes, and the sum is the canonical one whatever the
/// pushes' lengths.
struct Leaves<T> {
    acc: [T; 8],
    /// The values of the current group (its first `len % 8`).
    group: [T; 8],
    /// Elements of the current leaf so far (below `LEAF`).
    len: usize,
    tree: PairwiseSum<T>,
}

impl<T: SumElem> Leaves<T> {
    fn new() -> Self {
        Leaves {
            acc: [T::ZERO; 8],
            group: [T::ZERO; 8],
            len: 0,
            tree: PairwiseSum::new(),
        }
    }

    fn reset(&mut self) {
        self.acc = [T::ZERO; 8];
        self.len = 0;
        self.tree.clear();
    }

    /// Adds `f(x)` for each `x` of `xs`, in order.
    #[inline]
    fn push<S: Copy>(&mut self, mut xs: &[S], f: impl Fn(S) -> T) {
        const { assert!(LEAF.is_multiple_of(8)) };
        while !xs.is_empty() {
            if self.len == 0 && xs.len() >= LEAF {
                let (leaf, rest) = xs.split_at(LEAF);
                self.tree.push_leaf(leaf_sum_map(leaf, &f));
                xs = rest;
                continue;
            }
            let pending = self.len % 8;
            if pending == 0 {
                // Whole groups up to the end of the leaf, then what is left
                // of a push that ends inside one.
                let room = LEAF - self.len;
                let (body, rest) = xs.split_at(room.min(xs.len()));
                let tail = accumulate_groups(&mut self.acc, body, &f);
                for (g, &v) in self.group.iter_mut().zip(tail) {
                    *g = f(v);
                }
                self.len += body.len();
                xs = rest;
            } else {
                // The rest of a group the previous push split.
                let take = (8 - pending).min(xs.len());
                let (head, rest) = xs.split_at(take);
                for (g, &v) in self.group[pending..].iter_mut().zip(head) {
                    *g = f(v);
                }
                self.len += take;
                xs = rest;
                if self.len.is_multiple_of(8) {
                    accumulate_groups(&mut self.acc, &self.group, |v| v);
                }
            }
            if self.len == LEAF {
                self.tree.push_leaf(fold_accumulators(&self.acc));
                self.acc = [T::ZERO; 8];
                self.len = 0;
            }
        }
    }

    /// The sum so far: the last, partial leaf summed as [`leaf_sum_map`]
    /// sums it (groups, then the tail in order) and pushed on the tree
    /// ([`PairwiseSum::finish_with`] is that push followed by `finish`).
    fn finish(&self) -> T {
        if self.len == 0 {
            return self.tree.finish();
        }
        let tail = self.group.get(..self.len % 8).unwrap_or(&[]);
        let leaf = tail
            .iter()
            .fold(fold_accumulators(&self.acc), |s, &v| s.add(v));
        self.tree.finish_with(leaf)
    }
}

/// `x`, or zero if it is NaN.
#[inline]
fn not_nan<T: SumElem>(x: T) -> T {
    if x.is_nan() {
        T::ZERO
    } else {
        x
    }
}

struct Sum<T> {
    skip_nan: bool,
    leaves: Leaves<T>,
}

impl<T: SumElem> Sum<T> {
    fn new(skip_nan: bool) -> Self {
        Sum {
            skip_nan,
            leaves: Leaves::new(),
        }
    }
}

impl<T: SumElem + BlockElem> Reduce<T> for Sum<T> {
    fn reset(&mut self) {
        self.leaves.reset();
    }
    fn push(&mut self, x: &[T]) {
        if self.skip_nan {
            self.leaves.push(x, not_nan);
        } else {
            self.leaves.push(x, |v| v);
        }
    }
    fn finish(&mut self) -> Result<Scalar> {
        Ok(self.leaves.finish().scalar())
    }
}

/// Left to right from one (integers wrap).
struct Prod<T> {
    acc: T,
}

impl<T: SumElem> Default for Prod<T> {
    fn default() -> Self {
        Prod { acc: T::ONE }
    }
}

impl<T: SumElem + BlockElem> Reduce<T> for Prod<T> {
    fn reset(&mut self) {
        self.acc = T::ONE;
    }
    fn push(&mut self, x: &[T]) {
        for &v in x {
            self.acc = self.acc.mul(v);
        }
    }
    fn finish(&mut self) -> Result<Scalar> {
        Ok(self.acc.scalar())
    }
}

/// `min`/`max` (`skip_nan`: `nanmin`/`nanmax`): the first NaN wins unless
/// NaNs are skipped; all-NaN gives that NaN; empty is an error.
struct Extreme<T> {
    op: ReduceOp,
    max: bool,
    skip_nan: bool,
    best: Option<T>,
    nan: Option<T>,
}

impl<T: Elem> Extreme<T> {
    fn new(op: ReduceOp, max: bool, skip_nan: bool) -> Self {
        Extreme {
            op,
            max,
            skip_nan,
            best: None,
            nan: None,
        }
    }
}

impl<T: BlockElem> Extreme<T> {
    /// The element by element definition: the first NaN (and, unless
    /// NaNs are skipped, nothing after it), else the first strict extreme.
    fn push_each(&mut self, x: &[T]) {
        for &v in x {
            if v.is_nan() {
                self.nan = self.nan.or(Some(v));
                if !self.skip_nan {
                    return;
                }
                continue;
            }
            self.best = Some(match self.best {
                Some(b) if !(if self.max { v > b } else { v < b }) => b,
                _ => v,
            });
        }
    }

    /// The extreme of a block without NaN, or `None` if it holds one: a
    /// select over [`EXTREME_LANES`] interleaved running extremes (a shape
    /// the compiler vectorises) that also notes NaNs. The first strict
    /// extreme of the block is the same value whatever the lanes, except
    /// for the sign of a zero: a zero result is taken from the block
    /// itself (its first zero).
    fn block_extreme(&self, x: &[T]) -> Option<T> {
        let (m, any_nan) = if self.max {
            lanes_extreme(x, |a: T, v: T| if v > a { v } else { a })?
        } else {
            lanes_extreme(x, |a: T, v: T| if v < a { v } else { a })?
        };
        if any_nan {
            return None;
        }
        if m == T::default() {
            // Floats: +0.0 or -0.0, whichever comes first.
            return x.iter().copied().find(|&v| v == m);
        }
        Some(m)
    }

    /// The first strict extreme of the elements of `x` that are not NaN
    /// (`None` if all are): the same pass from the first of them, whose
    /// `pick` (`v > a`, `v < a`) never takes a NaN `v` and so never leaves
    /// a number.
    fn block_extreme_skipping_nan(&self, x: &[T]) -> Option<T> {
        let rest = x.get(x.iter().position(|v| !v.is_nan())?..)?;
        let (m, _) = if self.max {
            lanes_extreme(rest, |a: T, v: T| if v > a { v } else { a })?
        } else {
            lanes_extreme(rest, |a: T, v: T| if v < a { v } else { a })?
        };
        if m == T::default() {
            return rest.iter().copied().find(|&v| v == m);
        }
        Some(m)
    }

    /// As if the elements were pushed one by one: the block's first strict
    /// extreme replaces the running one only if strictly better.
    fn merge(&mut self, m: T) {
        self.best = Some(match self.best {
            Some(b) if !(if self.max { m > b } else { m < b }) => b,
            _ => m,
        });
    }
}

/// The extreme of `x` by `pick` over [`EXTREME_LANES`] interleaved lanes,
/// and whether `x` holds a NaN (`None` if `x` is empty).
#[inline]
fn lanes_extreme<T: Elem>(x: &[T], pick: impl Fn(T, T) -> T) -> Option<(T, bool)> {
    let &first = x.first()?;
    // `nan[j]`: lane j has seen a NaN (an or of comparisons: measured 2.3
    // times faster than keeping the NaN by a select, 0.21 against 0.49 ns
    // an element).
    let mut acc = [first; EXTREME_LANES];
    let mut nan = [false; EXTREME_LANES];
    let chunks = x.chunks_exact(EXTREME_LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        if let Ok(c) = <&[T; EXTREME_LANES]>::try_from(chunk) {
            for ((a, n), &v) in acc.iter_mut().zip(&mut nan).zip(c) {
                *n |= v.is_nan();
                *a = pick(*a, v);
            }
        }
    }
    let mut m = first;
    let mut any_nan = first.is_nan();
    for (&a, &n) in acc.iter().zip(&nan) {
        any_nan |= n;
        m = pick(m, a);
    }
    for &v in tail {
        any_nan |= v.is_nan();
        m = pick(m, v);
    }
    Some((m, any_nan))
}

/// Interleaved running extremes of [`Extreme`]'s block pass.
const EXTREME_LANES: usize = 8;

impl<T: BlockElem> Reduce<T> for Extreme<T> {
    fn reset(&mut self) {
        self.best = None;
        self.nan = None;
    }
    fn push(&mut self, x: &[T]) {
        if !self.skip_nan && self.nan.is_some() {
            return;
        }
        match self.block_extreme(x) {
            Some(m) => self.merge(m),
            None if self.skip_nan => {
                // `nanmin`/`nanmax` of a block holding NaNs: its first NaN
                // (if none came before), and the extreme of the rest, both
                // by block passes.
                if self.nan.is_none() {
                    self.nan = x.iter().copied().find(|v| v.is_nan());
                }
                if let Some(m) = self.block_extreme_skipping_nan(x) {
                    self.merge(m);
                }
            }
            None => self.push_each(x),
        }
    }
    fn finish(&mut self) -> Result<Scalar> {
        let v = if self.skip_nan {
            self.best.or(self.nan)
        } else {
            self.nan.or(self.best)
        };
        v.map(BlockElem::scalar).ok_or_else(|| empty_error(self.op))
    }
}

/// `argmin`/`argmax`: the first extreme, or the first NaN.
struct Arg<T> {
    op: ReduceOp,
    max: bool,
    seen: usize,
    best: Option<(usize, T)>,
    nan: Option<usize>,
}

impl<T: Elem> Arg<T> {
    fn new(op: ReduceOp, max: bool) -> Self {
        Arg {
            op,
            max,
            seen: 0,
            best: None,
            nan: None,
        }
    }
}

impl<T: BlockElem> Reduce<T> for Arg<T> {
    fn reset(&mut self) {
        self.seen = 0;
        self.best = None;
        self.nan = None;
    }
    fn push(&mut self, x: &[T]) {
        if self.nan.is_some() {
            return;
        }
        for (k, &v) in x.iter().enumerate() {
            let i = self.seen + k;
            if v.is_nan() {
                self.nan = Some(i);
                return;
            }
            match self.best {
                Some((_, b)) if !(if self.max { v > b } else { v < b }) => {}
                _ => self.best = Some((i, v)),
            }
        }
        self.seen += x.len();
    }
    fn finish(&mut self) -> Result<Scalar> {
        self.nan
            .or(self.best.map(|(i, _)| i))
            .map(|i| Scalar::I64(as_i64(i)))
            .ok_or_else(|| empty_error(self.op))
    }
}

struct AnyAll {
    any: bool,
    acc: bool,
}

impl AnyAll {
    fn new(any: bool) -> Self {
        AnyAll { any, acc: !any }
    }
}

impl Reduce<bool> for AnyAll {
    fn reset(&mut self) {
        self.acc = !self.any;
    }
    fn push(&mut self, x: &[bool]) {
        self.acc = if self.any {
            self.acc || x.iter().any(|&v| v)
        } else {
            self.acc && x.iter().all(|&v| v)
        };
    }
    fn finish(&mut self) -> Result<Scalar> {
        Ok(Scalar::Bool(self.acc))
    }
}

#[derive(Default)]
struct Count {
    n: usize,
}

impl Reduce<bool> for Count {
    fn reset(&mut self) {
        self.n = 0;
    }
    fn push(&mut self, x: &[bool]) {
        self.n += x.iter().filter(|&&v| v).count();
    }
    fn finish(&mut self) -> Result<Scalar> {
        Ok(Scalar::I64(as_i64(self.n)))
    }
}

/// `mean`, `var`, `std` and their NaN-skipping forms: pass 1 sums the
/// (non-NaN) elements and counts them; pass 2 (var/std) sums the squared
/// deviations from the mean, in the canonical order over the whole lane
/// (NaN positions contributing zero). A variance beside a mean stream of
/// the same elements skips pass 1 and starts pass 2 from that stream's
/// count and mean ([`Stream::next_pass_given`]).
struct FloatStat<T> {
    op: ReduceOp,
    ddof: u32,
    skip: bool,
    pass: u8,
    count: usize,
    sum: Leaves<T>,
    mean: T,
    squares: Leaves<T>,
}

impl<T: FloatElem> FloatStat<T> {
    fn new(op: ReduceOp, ddof: u32) -> Self {
        FloatStat {
            op,
            ddof,
            skip: matches!(op, ReduceOp::NanMean | ReduceOp::NanVar | ReduceOp::NanStd),
            pass: 0,
            count: 0,
            sum: Leaves::new(),
            mean: T::ZERO,
            squares: Leaves::new(),
        }
    }

    fn mean(&self) -> T {
        self.sum.finish().div(T::from_count(self.count))
    }
}

impl<T: FloatElem + BlockElem> Reduce<T> for FloatStat<T> {
    fn reset(&mut self) {
        self.pass = 0;
        self.count = 0;
        self.sum.reset();
        self.squares.reset();
    }
    fn next_pass(&mut self) {
        self.mean = self.mean();
        self.pass = 1;
    }
    fn moments(&self) -> Option<(usize, f64)> {
        matches!(self.op, ReduceOp::Mean | ReduceOp::NanMean)
            .then(|| (self.count, self.mean().to_f64()))
    }
    fn next_pass_given(&mut self, count: usize, mean: f64) -> bool {
        if !matches!(
            self.op,
            ReduceOp::Var | ReduceOp::Std | ReduceOp::NanVar | ReduceOp::NanStd
        ) {
            return false;
        }
        self.count = count;
        self.mean = T::from_f64(mean);
        self.pass = 1;
        true
    }
    fn push(&mut self, x: &[T]) {
        if self.pass == 0 {
            if self.skip {
                self.count += x.iter().filter(|v| !v.is_nan()).count();
                self.sum.push(x, not_nan);
            } else {
                self.count += x.len();
                self.sum.push(x, |v| v);
            }
        } else {
            // One closure per form, so the common one has no test at all.
            let mean = self.mean;
            if self.skip {
                self.squares.push(x, |v| {
                    if v.is_nan() {
                        T::ZERO
                    } else {
                        let d = v.sub(mean);
                        d.mul(d)
                    }
                });
            } else {
                self.squares.push(x, |v| {
                    let d = v.sub(mean);
                    d.mul(d)
                });
            }
        }
    }
    fn finish(&mut self) -> Result<Scalar> {
        use ReduceOp::*;
        let n = self.count;
        if n == 0 {
            return Ok(T::nan_value().scalar());
        }
        if matches!(self.op, Mean | NanMean) {
            return Ok(self.mean().scalar());
        }
        let dof = match n.checked_sub(self.ddof as usize) {
            Some(d) if d > 0 => d,
            _ => return Ok(T::nan_value().scalar()),
        };
        let var = self.squares.finish().div(T::from_count(dof));
        Ok(if matches!(self.op, Std | NanStd) {
            var.sqrt()
        } else {
            var
        }
        .scalar())
    }
}

// ---------------------------------------------------------------------------
// Whole short lanes.

/// A float `sum`, `mean`, `var` or `std` (not the NaN-skipping forms), or
/// a float `min`, `max`, `nanmin` or `nanmax`, of a lane of at most
/// [`LEAF`] elements, pushed whole in one block per pass (the fused
/// code's blocks are longer than a leaf, so a short lane's sweep is one
/// block): what its [`Stream`] computes, with no tree, no partial leaf and
/// no dispatch. The lane is one leaf of the canonical order, so its sum is
/// [`leaf_sum_map`] of the block, and the mean, variance and deviation
/// follow from it with `FloatStat`'s operations in `FloatStat`'s order:
/// the same bits. An extreme is `Extreme`'s element-by-element rule
/// (`extreme_of`), cheap at that length. (A stream's general
/// bookkeeping cost about 1,500 instructions a row when a matrix has
/// short rows; this is what `jit`'s shims run instead when a call's lanes
/// are short.)
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Whole {
    form: LeafForm,
    dtype: DType,
    /// The second pass (of `var`/`std`) has started.
    second: bool,
    /// A block was pushed in the current pass.
    pushed: bool,
    /// Elements of the lane (the first pass's block, or the mean's).
    count: usize,
    /// The sum of the last block pushed (of squared deviations, in a
    /// second pass), or the mean once a second pass starts: a value of
    /// `dtype` as the bits of an `f64` (which holds an `f32` exactly); an
    /// extreme's result as its own bits ([`Scalar::to_bits`]), which no
    /// float register sees, so a NaN element passes on unchanged.
    value: u64,
}

/// A reduction a lane of at most [`LEAF`] elements can run in one piece,
/// without a stream's bookkeeping: float `sum`, `mean`, `var`/`std` (with
/// `ddof`) and `min`/`max`/`nanmin`/`nanmax`, from and to the same float
/// dtype. What [`Whole`] runs, and what the second tier's generated code
/// runs (`codegen::short`): one classification for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeafForm {
    Sum,
    Mean,
    /// `var` (`sqrt`: `std`) with `ddof`.
    Var {
        ddof: u32,
        sqrt: bool,
    },
    /// `max` (else `min`); `skip`: the NaN-skipping form.
    Extreme {
        max: bool,
        skip: bool,
    },
}

impl LeafForm {
    /// The form of `op` from `src` to `dst` elements, if it has one.
    pub(crate) fn of(op: &LaneOp, src: DType, dst: DType) -> Option<LeafForm> {
        if src != dst || !matches!(src, DType::F32 | DType::F64) {
            return None;
        }
        let ddof = op.ddof;
        Some(match op.kind {
            LaneKind::Reduce(ReduceOp::Sum) => LeafForm::Sum,
            LaneKind::Reduce(ReduceOp::Mean) => LeafForm::Mean,
            LaneKind::Reduce(ReduceOp::Var) => LeafForm::Var { ddof, sqrt: false },
            LaneKind::Reduce(ReduceOp::Std) => LeafForm::Var { ddof, sqrt: true },
            LaneKind::Reduce(
                r @ (ReduceOp::Min | ReduceOp::Max | ReduceOp::NanMin | ReduceOp::NanMax),
            ) => LeafForm::Extreme {
                max: matches!(r, ReduceOp::Max | ReduceOp::NanMax),
                skip: matches!(r, ReduceOp::NanMin | ReduceOp::NanMax),
            },
            _ => return None,
        })
    }
}

/// Keeps a variance and the mean its second pass starts from (`mean_of`)
/// in their leaf forms together or not at all, so that the variance finds
/// its mean's moments in the form the mean runs in: `forms[k]` is stream
/// `k`'s form (`None`: it runs as a stream), `mean_of(k)` the index in
/// `forms` of the mean stream `k` shares. For `Whole` (per call) and the
/// second tier's code (per compile) alike.
pub(crate) fn pair_leaf_forms(
    forms: &mut [Option<LeafForm>],
    mean_of: impl Fn(usize) -> Option<usize>,
) {
    loop {
        let mut changed = false;
        for k in 0..forms.len() {
            let Some(m) = mean_of(k) else { continue };
            let paired = matches!(forms[k], Some(LeafForm::Var { .. }))
                && forms.get(m) == Some(&Some(LeafForm::Mean));
            let any = forms[k].is_some() || forms.get(m).is_some_and(Option::is_some);
            if !paired && any {
                forms[k] = None;
                if let Some(f) = forms.get_mut(m) {
                    *f = None;
                }
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

impl Whole {
    /// The whole-lane form of `op` from `src` to `dst` elements, if it has
    /// one ([`LeafForm::of`]).
    pub fn new(op: &LaneOp, src: DType, dst: DType) -> Option<Whole> {
        Some(Whole {
            form: LeafForm::of(op, src, dst)?,
            dtype: src,
            second: false,
            pushed: false,
            count: 0,
            value: 0,
        })
    }

    /// The elements' dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// What it computes.
    pub(crate) fn form(&self) -> LeafForm {
        self.form
    }

    /// Whether it is a mean (whose [`Whole::moments`] a variance's second
    /// pass may start from).
    pub fn is_mean(&self) -> bool {
        self.form == LeafForm::Mean
    }

    /// Whether it is a variance or deviation.
    pub fn is_var(&self) -> bool {
        matches!(self.form, LeafForm::Var { .. })
    }

    /// Starts a new lane.
    pub fn reset(&mut self) {
        self.second = false;
        self.pushed = false;
        self.count = 0;
        self.value = 0;
    }

    /// Starts the second pass of a variance from its own first pass.
    pub fn next_pass(&mut self) -> Result<()> {
        if !self.is_var() || self.second {
            return Err(Error::internal("a second pass of a one-pass reduction"));
        }
        self.value = match self.dtype {
            DType::F32 => f64::from(self.mean::<f32>()),
            _ => self.mean::<f64>(),
        }
        .to_bits();
        self.second = true;
        self.pushed = false;
        Ok(())
    }

    /// Starts the second pass of a variance from a mean's
    /// [`Whole::moments`] ([`Stream::next_pass_given`]).
    pub fn next_pass_given(&mut self, (count, mean): (usize, f64)) -> Result<()> {
        if !self.is_var() || self.second {
            return Err(Error::internal("a second pass of a one-pass reduction"));
        }
        self.count = count;
        self.value = mean.to_bits();
        self.second = true;
        self.pushed = false;
        Ok(())
    }

    /// A mean's element count and value, as [`Stream::moments`].
    pub fn moments(&self) -> Option<(usize, f64)> {
        self.is_mean().then(|| {
            let mean = match self.dtype {
                DType::F32 => f64::from(self.mean::<f32>()),
                _ => self.mean::<f64>(),
            };
            (self.count, mean)
        })
    }

    /// The first pass's sum over its count, in `T` (`FloatStat::mean`).
    fn mean<T: FloatElem>(&self) -> T {
        self.held::<T>().div(T::from_count(self.count))
    }

    /// The sum or mean held in `value`.
    fn held<T: FloatElem>(&self) -> T {
        T::from_f64(f64::from_bits(self.value))
    }

    /// Feeds the lane, whole (at most [`LEAF`] elements, once per pass).
    pub fn push(&mut self, x: Block<'_>) -> Result<()> {
        match self.dtype {
            DType::F32 => self.push_as::<f32>(x),
            _ => self.push_as::<f64>(x),
        }
    }

    fn push_as<T: FloatElem + BlockElem>(&mut self, x: Block<'_>) -> Result<()> {
        let xs = T::of(x).ok_or_else(block_mismatch)?;
        if xs.len() > LEAF || self.pushed {
            return Err(Error::internal("a whole lane pushed in pieces"));
        }
        self.pushed = true;
        if let LeafForm::Extreme { max, skip } = self.form {
            self.count = xs.len();
            let v = extreme_of(xs.iter().copied(), max, skip)
                .ok_or_else(|| Error::internal("an empty whole lane"))?;
            self.value = v.scalar().to_bits();
            return Ok(());
        }
        let sum = if self.second {
            let mean = self.held::<T>();
            leaf_sum_map(xs, |v: T| {
                let d = v.sub(mean);
                d.mul(d)
            })
        } else {
            self.count = xs.len();
            leaf_sum_map(xs, |v: T| v)
        };
        self.value = sum.to_f64().to_bits();
        Ok(())
    }

    /// The result's bits ([`Stream::finish_bits`]).
    pub fn finish_bits(&self) -> Result<u64> {
        match self.dtype {
            DType::F32 => self.finish_as::<f32>(),
            _ => self.finish_as::<f64>(),
        }
    }

    fn finish_as<T: FloatElem + BlockElem>(&self) -> Result<u64> {
        let n = self.count;
        let v = match self.form {
            LeafForm::Extreme { .. } if n == 0 => {
                return Err(Error::internal("a whole extreme of nothing"))
            }
            LeafForm::Extreme { .. } => return Ok(self.value),
            LeafForm::Sum => self.held::<T>(),
            _ if n == 0 => T::nan_value(),
            LeafForm::Mean => self.mean::<T>(),
            LeafForm::Var { .. } if !self.second => {
                return Err(Error::internal(
                    "a variance finished before its second pass",
                ))
            }
            LeafForm::Var { ddof, sqrt } => match n.checked_sub(ddof as usize) {
                Some(dof) if dof > 0 => {
                    let var = self.held::<T>().div(T::from_count(dof));
                    if sqrt {
                        var.sqrt()
                    } else {
                        var
                    }
                }
                _ => T::nan_value(),
            },
        };
        Ok(v.scalar().to_bits())
    }
}

/// `min`/`max` (`skip`: `nanmin`/`nanmax`) of `xs` by `Extreme`'s element
/// rule: the first NaN (and nothing after it) unless NaNs are skipped,
/// else the first strict extreme; all-NaN gives the first NaN; `None` for
/// no elements. A whole lane's extreme, and how `par` combines the
/// per-chunk extremes of a split call.
pub(crate) fn extreme_of<T: Copy + PartialOrd>(
    xs: impl Iterator<Item = T>,
    max: bool,
    skip: bool,
) -> Option<T> {
    let (mut best, mut nan) = (None, None);
    for v in xs {
        // Only a NaN is unordered with itself.
        if v.partial_cmp(&v).is_none() {
            nan = nan.or(Some(v));
            if !skip {
                break;
            }
            continue;
        }
        best = Some(match best {
            Some(b) if !(if max { v > b } else { v < b }) => b,
            _ => v,
        });
    }
    if skip {
        best.or(nan)
    } else {
        nan.or(best)
    }
}

// ---------------------------------------------------------------------------
// Aligned streams: one result per element.

/// An aligned operation on elements of type `T`.
trait Aligned<T>: Send {
    fn reset(&mut self);
    /// `y.len() == x.len()`.
    fn push(&mut self, x: &[T], y: &mut [T]);
}

struct AlignedStep<T, K> {
    k: K,
    _t: PhantomData<fn(T)>,
}

impl<T, K> AlignedStep<T, K> {
    fn new(k: K) -> Self {
        AlignedStep { k, _t: PhantomData }
    }
}

impl<T: BlockElem, K: Aligned<T>> Step for AlignedStep<T, K> {
    fn reset(&mut self) {
        self.k.reset();
    }
    fn push(&mut self, x: Block<'_>, y: Option<BlockMut<'_>>) -> Result<()> {
        let x = T::of(x).ok_or_else(block_mismatch)?;
        let y = y.and_then(T::of_mut).ok_or_else(block_mismatch)?;
        if x.len() != y.len() {
            return Err(block_mismatch());
        }
        self.k.push(x, y);
        Ok(())
    }
}

/// `y[0] = x[0]`, `y[i] = f(y[i-1], x[i])`, for an `f` the compiler can
/// inline (a function item or closure, not a pointer): the loop is then
/// just the recurrence.
struct Scan<T, F> {
    f: F,
    acc: Option<T>,
}

impl<T: BlockElem, F: Fn(T, T) -> T + Copy + Send> Aligned<T> for Scan<T, F> {
    fn reset(&mut self) {
        self.acc = None;
    }
    fn push(&mut self, x: &[T], y: &mut [T]) {
        let Some((acc, x, y)) = carry_in(self.acc, x, y) else {
            return;
        };
        self.acc = Some(scan_run(self.f, acc, x, y));
    }
}

/// The running value before `x`, and the elements still to do: the first
/// element of a lane is its own result.
#[inline]
fn carry_in<'a, 'b, T: Copy>(
    acc: Option<T>,
    x: &'a [T],
    y: &'b mut [T],
) -> Option<(T, &'a [T], &'b mut [T])> {
    match acc {
        Some(a) => Some((a, x, y)),
        None => {
            let (&first, x) = x.split_first()?;
            let (o, y) = y.split_first_mut()?;
            *o = first;
            Some((first, x, y))
        }
    }
}

/// `y[k] = acc = f(acc, x[k])`; returns the last `acc`.
#[inline]
fn scan_run<T: Copy>(f: impl Fn(T, T) -> T, mut acc: T, x: &[T], y: &mut [T]) -> T {
    for (o, &v) in y.iter_mut().zip(x) {
        acc = f(acc, v);
        *o = acc;
    }
    acc
}

/// `cummax`/`cummin`: [`crate::scalar`]'s NaN-propagating `maximum` or
/// `minimum` scanned. A running extreme changes rarely, so the loop tests
/// [`CUM_CHUNK`] elements at a time against it (a vectorised comparison
/// and one branch, which the CPU predicts): if the running value `a` beats
/// all of them strictly (`a > v`, false for a NaN `v`), each result is `a`.
/// Otherwise the chunk takes `a = a > v ? a : v` element by element (one
/// `maxsd`; ties take `v`, as before) and notes NaNs; from a chunk holding
/// one, the rest of the block is redone with the full rule (after the first
/// NaN every result is that NaN). The results are those of the element
/// rule whatever the chunking, so blocks of any length agree.
struct CumExtreme<T> {
    max: bool,
    acc: Option<T>,
}

/// Elements [`CumExtreme`] tests against the running value at once.
const CUM_CHUNK: usize = 8;

impl<T: Elem> CumExtreme<T> {
    /// `a` beats every element of `x` strictly.
    #[inline]
    fn beats_all(max: bool, a: T, x: &[T]) -> bool {
        if max {
            x.iter().fold(true, |ok, &v| ok & (a > v))
        } else {
            x.iter().fold(true, |ok, &v| ok & (a < v))
        }
    }

    /// The blend scan of `x` from `a`: the results, the last value, and
    /// whether `x` held a NaN.
    #[inline]
    fn blend(max: bool, mut a: T, x: &[T], y: &mut [T]) -> (T, bool) {
        let mut nan = false;
        for (o, &v) in y.iter_mut().zip(x) {
            nan |= v.is_nan();
            a = if max {
                if a > v {
                    a
                } else {
                    v
                }
            } else if a < v {
                a
            } else {
                v
            };
            *o = a;
        }
        (a, nan)
    }
}

impl<T: BlockElem> Aligned<T> for CumExtreme<T> {
    fn reset(&mut self) {
        self.acc = None;
    }
    fn push(&mut self, x: &[T], y: &mut [T]) {
        let Some((acc, x, y)) = carry_in(self.acc, x, y) else {
            return;
        };
        let max = self.max;
        if acc.is_nan() {
            y.fill(acc);
            self.acc = Some(acc);
            return;
        }
        let mut a = acc;
        let n = x.len().min(y.len());
        let mut at = 0;
        while at < n {
            let end = (at + CUM_CHUNK).min(n);
            let (Some(xs), Some(ys)) = (x.get(at..end), y.get_mut(at..end)) else {
                break;
            };
            if Self::beats_all(max, a, xs) {
                ys.fill(a);
            } else {
                let (next, nan) = Self::blend(max, a, xs, ys);
                if nan {
                    let f = if max { Elem::maximum } else { Elem::minimum };
                    if let (Some(xr), Some(yr)) = (x.get(at..n), y.get_mut(at..n)) {
                        a = scan_run(f, a, xr, yr);
                    }
                    break;
                }
                a = next;
            }
            at = end;
        }
        self.acc = Some(a);
    }
}

fn scan_of<T: BlockElem>(f: impl Fn(T, T) -> T + Copy + Send + 'static) -> Box<dyn Step> {
    Box::new(AlignedStep::new(Scan { f, acc: None }))
}

fn cum_extreme<T: BlockElem>(max: bool) -> Box<dyn Step> {
    Box::new(AlignedStep::new(CumExtreme::<T> { max, acc: None }))
}

fn scan(s: ScanOp, dtype: DType) -> Option<Box<dyn Step>> {
    use DType as D;
    let max = s == ScanOp::Cummax;
    Some(match (s, dtype) {
        (ScanOp::Cumsum, D::I64) => scan_of::<i64>(SumElem::add),
        (ScanOp::Cumsum, D::F32) => scan_of::<f32>(SumElem::add),
        (ScanOp::Cumsum, D::F64) => scan_of::<f64>(SumElem::add),
        (ScanOp::Cumprod, D::I64) => scan_of::<i64>(SumElem::mul),
        (ScanOp::Cumprod, D::F32) => scan_of::<f32>(SumElem::mul),
        (ScanOp::Cumprod, D::F64) => scan_of::<f64>(SumElem::mul),
        (ScanOp::Cummax | ScanOp::Cummin, D::Bool) => cum_extreme::<bool>(max),
        (ScanOp::Cummax | ScanOp::Cummin, D::I32) => cum_extreme::<i32>(max),
        (ScanOp::Cummax | ScanOp::Cummin, D::I64) => cum_extreme::<i64>(max),
        (ScanOp::Cummax | ScanOp::Cummin, D::F32) => cum_extreme::<f32>(max),
        (ScanOp::Cummax | ScanOp::Cummin, D::F64) => cum_extreme::<f64>(max),
        _ => return None,
    })
}

/// `y[0] = x[0]`, `y[i] = a*x[i] + b*y[i-1]` in `T`, no fused multiply-add.
struct Ewm<T> {
    a: T,
    b: T,
    prev: Option<T>,
}

impl<T: FloatElem> Ewm<T> {
    fn new(alpha: f64) -> Self {
        let a = T::from_f64(alpha);
        Ewm {
            a,
            b: T::ONE.sub(a),
            prev: None,
        }
    }
}

impl<T: FloatElem + BlockElem> Aligned<T> for Ewm<T> {
    fn reset(&mut self) {
        self.prev = None;
    }
    fn push(&mut self, x: &[T], y: &mut [T]) {
        // This shape (the first element inside the loop) measured faster
        // than peeling it off: the recurrence's latency is the limit.
        let (a, b) = (self.a, self.b);
        let mut prev = self.prev;
        for (o, &v) in y.iter_mut().zip(x) {
            let next = match prev {
                None => v,
                Some(p) => a.mul(v).add(b.mul(p)),
            };
            *o = next;
            prev = Some(next);
        }
        self.prev = prev;
    }
}

// ---------------------------------------------------------------------------
// Rolling windows.

fn window_of<T: FloatElem + BlockElem>(op: WindowOp, ddof: u32, w: usize) -> Box<dyn Step> {
    match op {
        WindowOp::Sum | WindowOp::Mean => Box::new(AlignedStep::new(Blocked::<T, _>::new(
            w,
            SumWindow::new(op == WindowOp::Mean),
        ))),
        WindowOp::Var | WindowOp::Std => Box::new(AlignedStep::new(Blocked::<T, _>::new(
            w,
            VarWindow::new(op == WindowOp::Std, ddof, w),
        ))),
        WindowOp::Min | WindowOp::Max => Box::new(AlignedStep::new(Blocked::<T, _>::new(
            w,
            ExtremeWindow {
                max: op == WindowOp::Max,
                suffix: Vec::new(),
                prefix: T::default(),
            },
        ))),
    }
}

/// What a rolling window keeps of the block prefix/suffix scheme of
/// [`crate::algo`]: the lane is cut into blocks of `w` from its start; the
/// window ending at offset `p` of a block is the prefix `0..=p` of that
/// block merged with the suffix `p+1..` of the previous block (empty when
/// `p = w - 1`). [`Blocked`] walks the blocks; a `Window` keeps the
/// aggregates.
trait Window<T: Copy>: Send {
    /// The previous block is complete (`vals`, in order): compute its
    /// suffix aggregates and start an empty prefix.
    fn roll(&mut self, vals: &[T]);
    /// A new lane.
    fn reset(&mut self);
    /// Adds `x` (the elements at offsets `p0..p0 + x.len()` of the current
    /// block, all below `w - 1`) to the prefix and writes the windows
    /// ending at each: merged with the suffix of the previous block if
    /// `prev`, else NaN (the lane's first `w - 1` results).
    fn run(&mut self, w: usize, p0: usize, prev: bool, x: &[T], y: &mut [T]);
    /// Adds the block's last element (offset `w - 1`) and returns the
    /// window that is exactly the block.
    fn last(&mut self, w: usize, x: T) -> T;
    /// The [`TILE`] whole blocks `x` (`TILE * w` elements) that follow a
    /// rolled block, up to and including their own roll: the same results
    /// and state as `run`, `last` and `roll` block after block (which this
    /// default does). The windows whose aggregates are carried chains
    /// (sums, var/std) run the blocks' chains side by side instead, block
    /// `j` in lane `j` of the vectors: one chain's steps are serial, four
    /// blocks' are not.
    fn tile(&mut self, w: usize, x: &[T], y: &mut [T], _avx2: wide::Avx2) {
        for (x, y) in x.chunks_exact(w).zip(y.chunks_exact_mut(w)) {
            let (last, body) = y.split_last_mut().expect("w > 0");
            self.run(w, 0, true, &x[..w - 1], body);
            *last = self.last(w, x[w - 1]);
            self.roll(x);
        }
    }
}

/// Blocks a tile holds: four, the `f64` lanes of an AVX2 vector (only
/// the AVX2 build tiles; the extremes, which have no tiled form, go block
/// by block through the default `Window::tile`).
const TILE: usize = 4;

/// The longest window whose blocks are tiled: a tile's scratch
/// (`4 * TILE * w` values) stays in L1. A fused block of 512 holds a tile
/// wherever it starts in a block for `w` up to 102 (`5w - 1 <= 512`), and
/// up to 128 when the blocks line up.
const TILE_MAX_W: usize = 128;

/// A tile's scratch, transposed: row `p` holds offset `p` of each block
/// (`TILE` values), so that the lanes' chains read and write whole rows.
/// Row `q` of the suffix arrays holds, in column `j`, the suffix from `q`
/// of the block before block `j` (column 0: the block before the tile, from
/// the window's tables), the one block `j`'s windows merge with.
#[derive(Default)]
struct TileScratch {
    x: Vec<f64>,
    suf_a: Vec<f64>,
    suf_b: Vec<f64>,
    out: Vec<f64>,
}

impl TileScratch {
    /// Loads the tile `x` (`TILE` blocks of `w`) transposed, and sizes the
    /// rest.
    #[inline(always)]
    fn load<T: FloatElem>(&mut self, w: usize, x: &[T]) {
        self.size(w);
        for (j, block) in x.chunks_exact(w).enumerate() {
            for (row, &v) in self.x.chunks_exact_mut(TILE).zip(block) {
                row[j] = v.to_f64();
            }
        }
    }

    /// Sizes the arrays for blocks of `w`.
    #[inline(always)]
    fn size(&mut self, w: usize) {
        for v in [&mut self.x, &mut self.suf_a, &mut self.suf_b, &mut self.out] {
            v.resize(TILE * w, 0.0);
        }
    }

    /// Writes the results in `out` to `y` (the tile's blocks, in order).
    #[inline(always)]
    fn store<T: FloatElem>(&self, w: usize, y: &mut [T]) {
        for (j, block) in y.chunks_exact_mut(w).enumerate() {
            for (o, row) in block.iter_mut().zip(self.out.chunks_exact(TILE)) {
                *o = T::from_f64(row[j]);
            }
        }
    }
}

/// Walks a lane through blocks of `w`, keeping the current block's
/// elements (at most `min(w, lane length)` of them, so a huge `w` costs
/// nothing up front).
struct Blocked<T, K> {
    w: usize,
    /// Offset in the current block of the next element (`w`: the block is
    /// complete and rolls when the next element comes).
    pos: usize,
    /// Whether a complete block precedes the current one.
    prev: bool,
    vals: Vec<T>,
    k: K,
}

impl<T, K> Blocked<T, K> {
    fn new(w: usize, k: K) -> Self {
        Blocked {
            w,
            pos: 0,
            prev: false,
            vals: Vec::new(),
            k,
        }
    }
}

impl<T: BlockElem, K: Window<T>> Aligned<T> for Blocked<T, K> {
    fn reset(&mut self) {
        self.pos = 0;
        self.prev = false;
        self.vals.clear();
        self.k.reset();
    }
    fn push(&mut self, x: &[T], y: &mut [T]) {
        wide::push(self, x, y)
    }
}

impl<T: BlockElem, K: Window<T>> Blocked<T, K> {
    #[inline(always)]
    fn push_blocks(&mut self, mut x: &[T], mut y: &mut [T], avx2: Option<wide::Avx2>) {
        let w = self.w;
        while !x.is_empty() {
            if self.pos == w {
                self.k.roll(&self.vals);
                self.vals.clear();
                self.pos = 0;
                self.prev = true;
            }
            if let (Some(avx2), 0, true, 2..=TILE_MAX_W) = (avx2, self.pos, self.prev, w) {
                // Whole blocks after a rolled one: `TILE` at a time, side
                // by side, each rolled at its end (rolling a block the
                // lane's last element ends changes no result).
                let tiled = x.len() / (TILE * w) * (TILE * w);
                let (xt, xr) = x.split_at(tiled);
                let (yt, yr) = std::mem::take(&mut y).split_at_mut(tiled);
                for (xt, yt) in xt.chunks_exact(TILE * w).zip(yt.chunks_exact_mut(TILE * w)) {
                    self.k.tile(w, xt, yt, avx2);
                }
                x = xr;
                y = yr;
                if x.is_empty() {
                    break;
                }
            }
            let take = (w - self.pos).min(x.len());
            let (xa, xr) = x.split_at(take);
            let (ya, yr) = std::mem::take(&mut y).split_at_mut(take);
            // A whole block followed by more of the lane in the same push
            // rolls straight from the pushed slice (the same computation as
            // a later roll from `vals`, without the copy). Its prefix chain
            // (in `run`) and suffix chain (in `roll`) run one after the
            // other: in one loop they measured slower at w = 100, as two
            // scalar chains (+9% mean, +16% std: each chain loop is already
            // near the core's issue width, so two together are
            // throughput-bound) and packed in the lanes of an SSE2 vector
            // (+11%, +70%: gathering the inputs and scattering the
            // aggregates cost more than the shared latency saves).
            let rolls_now = self.pos == 0 && take == w && !xr.is_empty();
            if !rolls_now {
                self.vals.extend_from_slice(xa);
            }
            let ends = self.pos + take == w;
            let body = take - usize::from(ends);
            let (yb, yl) = ya.split_at_mut(body);
            self.k.run(w, self.pos, self.prev, &xa[..body], yb);
            if let (Some(o), Some(&v)) = (yl.first_mut(), xa.get(body)) {
                *o = self.k.last(w, v);
            }
            self.pos += take;
            if rolls_now {
                self.k.roll(xa);
                self.pos = 0;
                self.prev = true;
            }
            x = xr;
            y = yr;
        }
    }
}

/// Elements a window's output pass takes at a time: its scratch (the
/// prefix aggregates of those elements) stays in L1.
const SCRATCH: usize = 256;

/// `a + b` rounded, and its rounding error exactly (Knuth's TwoSum: no
/// branch, so the loops that use it have none either). For finite `a + b`
/// the error is the one Neumaier's comparison-based form computes.
#[inline]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let t = a + b;
    let bp = t - a;
    (t, (a - (t - bp)) + (b - bp))
}

/// A Neumaier-compensated sum's value: `sum + comp`, or `sum` if it is not
/// finite (so infinities and NaN propagate as in plain summation). The
/// test is `sum - sum == 0` (false exactly for infinities and NaN), a
/// float comparison, so that a loop of these vectorises into a select.
#[inline]
#[allow(clippy::eq_op)] // `sum - sum` is the point: NaN for inf and NaN.
fn compensated(sum: f64, comp: f64) -> f64 {
    let v = sum + comp;
    if sum - sum == 0.0 {
        v
    } else {
        sum
    }
}

/// `v`, or the positive quiet NaN if `v` is a NaN: which NaN an operation
/// on NaNs gives depends on the order of its operands, which the compiler
/// may swap (and does, between a chain run alone and four run side by
/// side), so a window's NaN results are made one NaN and its bits stay the
/// same whatever the blocking.
/// The test and the choice are made on the bits: the optimiser folds a
/// select between a NaN and `v` on `v.is_nan()` into `v` (to it, any NaN
/// is as good as another), even through `to_bits`.
#[inline(always)]
fn canonical(v: f64) -> f64 {
    let bits = v.to_bits();
    // Exponent all ones and a nonzero fraction, the sign shifted out.
    let nan = bits << 1 > f64::INFINITY.to_bits() << 1;
    f64::from_bits(if nan { f64::NAN.to_bits() } else { bits })
}

/// The sum of a window from the compensated sums of its prefix
/// (`ps`, `pc`) and suffix (`ss`, `sc`).
#[inline(always)]
fn merge_sums(ps: f64, pc: f64, ss: f64, sc: f64) -> f64 {
    let (t, err) = two_sum(ss, ps);
    compensated(t, (sc + err) + pc)
}

/// `rolling_sum`/`rolling_mean`: compensated sums (`sum`, `comp`) of the
/// suffixes and the prefix; the window's sum is the suffix's merged with
/// the prefix's (`sum` added by [`two_sum`], the error and both `comp`s
/// added to the suffix's `comp`). The suffixes are kept as two arrays and
/// the prefix's running sums go through a scratch row, so that the merge
/// (every output) is a separate loop the compiler vectorises; the only
/// serial work is the two sums' chains.
struct SumWindow {
    mean: bool,
    ssum: Vec<f64>,
    scomp: Vec<f64>,
    sum: f64,
    comp: f64,
    bsum: Vec<f64>,
    bcomp: Vec<f64>,
    tile: TileScratch,
}

impl SumWindow {
    fn new(mean: bool) -> Self {
        SumWindow {
            mean,
            ssum: Vec::new(),
            scomp: Vec::new(),
            sum: 0.0,
            comp: 0.0,
            bsum: Vec::new(),
            bcomp: Vec::new(),
            tile: TileScratch::default(),
        }
    }

    #[inline]
    fn add(&mut self, x: f64) {
        let (t, c) = two_sum(self.sum, x);
        self.sum = t;
        self.comp += c;
    }
}

impl<T: FloatElem + BlockElem> Window<T> for SumWindow {
    #[inline(always)]
    fn roll(&mut self, vals: &[T]) {
        let w = vals.len();
        self.ssum.resize(w, 0.0);
        self.scomp.resize(w, 0.0);
        let (mut sum, mut comp) = (0.0f64, 0.0f64);
        for ((s, c), &e) in self
            .ssum
            .iter_mut()
            .zip(self.scomp.iter_mut())
            .zip(vals)
            .rev()
        {
            let (t, err) = two_sum(sum, e.to_f64());
            sum = t;
            comp += err;
            (*s, *c) = (sum, comp);
        }
        self.sum = 0.0;
        self.comp = 0.0;
    }
    fn reset(&mut self) {
        self.ssum.clear();
        self.scomp.clear();
        self.sum = 0.0;
        self.comp = 0.0;
    }
    #[inline(always)]
    fn run(&mut self, w: usize, p0: usize, prev: bool, x: &[T], y: &mut [T]) {
        if !prev {
            for (o, &v) in y.iter_mut().zip(x) {
                self.add(v.to_f64());
                *o = T::nan_value();
            }
            return;
        }
        let wf = w as f64;
        let mean = self.mean;
        let mut p = p0 + 1;
        for (x, y) in x.chunks(SCRATCH).zip(y.chunks_mut(SCRATCH)) {
            let n = x.len();
            self.bsum.resize(n, 0.0);
            self.bcomp.resize(n, 0.0);
            let (mut sum, mut comp) = (self.sum, self.comp);
            for ((s, c), &v) in self.bsum.iter_mut().zip(self.bcomp.iter_mut()).zip(x) {
                let (t, err) = two_sum(sum, v.to_f64());
                sum = t;
                comp += err;
                (*s, *c) = (sum, comp);
            }
            (self.sum, self.comp) = (sum, comp);
            // The window ending at offset q - 1: the suffix from q.
            let ssum = self.ssum.get(p..p + n).unwrap_or(&[]);
            let scomp = self.scomp.get(p..p + n).unwrap_or(&[]);
            let merged = y
                .iter_mut()
                .zip(&self.bsum)
                .zip(&self.bcomp)
                .zip(ssum)
                .zip(scomp);
            let value = merge_sums;
            if mean {
                for ((((o, &ps), &pc), &ss), &sc) in merged {
                    *o = T::from_f64(canonical(value(ps, pc, ss, sc) / wf));
                }
            } else {
                for ((((o, &ps), &pc), &ss), &sc) in merged {
                    *o = T::from_f64(canonical(value(ps, pc, ss, sc)));
                }
            }
            p += n;
        }
    }
    #[inline(always)]
    fn last(&mut self, w: usize, x: T) -> T {
        self.add(x.to_f64());
        let v = compensated(self.sum, self.comp);
        T::from_f64(canonical(if self.mean { v / w as f64 } else { v }))
    }
    #[inline(always)]
    fn tile(&mut self, w: usize, x: &[T], y: &mut [T], avx2: wide::Avx2) {
        wide::load_tile(avx2, &mut self.tile, w, x);
        wide::sum_tile(avx2, self, w);
        wide::store_tile(avx2, &self.tile, w, y);
    }
}

/// `rolling_var`/`rolling_std` (see [`crate::algo`]): runs of *shifted*
/// values `d = x - K`, the prefix's shifted by `Kp`, the block's first
/// value, the suffixes' by `Ks`, the previous block's last value (each
/// shift lies inside every run it is used for). Along a run, `S` is the
/// plain running sum of `d`, the run's mean `mu = S * (1/n)`, and `M2`
/// grows by Welford's increment `(d - mu') * (d - mu)` (`mu'` the mean
/// before `d`, `mu` after). The loop-carried work is two additions (`S`
/// and `M2`) instead of Welford's subtract-multiply-add chain on the mean:
/// the rest of each step only reads them. Prefix and suffix are merged
/// with Chan's formula `M2 = M2s + M2p + d^2 * (ns * np / w)`,
/// `d = (Kp - Ks) + (mup - mus)`, in a separate loop over a scratch row of
/// prefix aggregates that the compiler vectorises (with the square root);
/// `var = M2 * (1 / (w - ddof))`. `1/n` and the merge weights are tables
/// made once per stream.
struct VarWindow {
    std: bool,
    /// `1 / (w - ddof)`, NaN if `w <= ddof`.
    inv_dof: f64,
    /// `inv[n] = 1 / n` for `n` in `0..=w` (`inv[0]` unused), and
    /// `weight[q] = (w - q) * q / w` for `q < w`: made at the first roll
    /// (once `w` elements have been seen, so a huge `w` costs nothing up
    /// front).
    inv: Vec<f64>,
    weight: Vec<f64>,
    ks: f64,
    /// `smu[q]`, `sm2[q]`: the shifted mean and M2 of the previous
    /// block's values `q..`.
    smu: Vec<f64>,
    sm2: Vec<f64>,
    kp: f64,
    /// The prefix's shifted sum, mean and M2.
    s: f64,
    mu: f64,
    m2: f64,
    /// The prefix's mean and M2 at each element of a chunk.
    bmu: Vec<f64>,
    bm2: Vec<f64>,
    tile: TileScratch,
}

/// `1 / n`, as the table of [`VarWindow`] holds it.
#[inline]
fn reciprocal(n: usize) -> f64 {
    1.0 / n as f64
}

/// One step of a shifted run: `d` joins a run whose sum, mean and M2 are
/// `s`, `mu`, `m2`; `inv` is `1 / n` for its new length `n`. In exact
/// arithmetic the increment is `(d - mu')^2 * (n - 1) / n`, never
/// negative; this form also turns an infinite `d` into a NaN `M2`.
#[inline]
fn run_step(s: &mut f64, mu: &mut f64, m2: &mut f64, d: f64, inv: f64) {
    let delta = d - *mu;
    *s += d;
    *mu = *s * inv;
    *m2 += delta * (d - *mu);
}

/// Chan's merge of a window's prefix (shifted mean `mu`, `m2`) and suffix
/// (`smu`, `sm2`), `shift` the prefix's shift less the suffix's and `wt`
/// the weight of their lengths.
#[inline(always)]
fn merge_m2(shift: f64, mu: f64, m2: f64, smu: f64, sm2: f64, wt: f64) -> f64 {
    let d = shift + (mu - smu);
    sm2 + m2 + d * d * wt
}

/// `m`, or zero if it is negative (NaN stays NaN): a guard, since an
/// increment of `M2` could only be negative by a rounding of a zero.
#[inline]
fn nonneg(m: f64) -> f64 {
    if m < 0.0 {
        0.0
    } else {
        m
    }
}

impl VarWindow {
    fn new(std: bool, ddof: u32, w: usize) -> Self {
        let inv_dof = (w as u64)
            .checked_sub(u64::from(ddof))
            .filter(|&d| d > 0)
            .map_or(f64::NAN, |d| 1.0 / d as f64);
        VarWindow {
            std,
            inv_dof,
            inv: Vec::new(),
            weight: Vec::new(),
            ks: 0.0,
            smu: Vec::new(),
            sm2: Vec::new(),
            kp: 0.0,
            s: 0.0,
            mu: 0.0,
            m2: 0.0,
            bmu: Vec::new(),
            bm2: Vec::new(),
            tile: TileScratch::default(),
        }
    }

    /// The variance (or deviation) from `M2`.
    #[inline]
    fn out<T: FloatElem>(std: bool, inv_dof: f64, m2: f64) -> T {
        let var = nonneg(m2) * inv_dof;
        T::from_f64(canonical(if std { var.sqrt() } else { var }))
    }

    fn start_prefix(&mut self) {
        self.kp = 0.0;
        self.s = 0.0;
        self.mu = 0.0;
        self.m2 = 0.0;
    }
}

impl<T: FloatElem + BlockElem> Window<T> for VarWindow {
    #[inline(always)]
    fn roll(&mut self, vals: &[T]) {
        let w = vals.len();
        if self.inv.len() != w + 1 {
            self.inv = (0..=w).map(reciprocal).collect();
            self.weight = (0..w)
                .map(|q| (w - q) as f64 * q as f64 / w as f64)
                .collect();
        }
        let ks = vals.last().map_or(0.0, |v| v.to_f64());
        self.ks = ks;
        self.smu.resize(w, 0.0);
        self.sm2.resize(w, 0.0);
        let (mut s, mut mu, mut m2) = (0.0f64, 0.0f64, 0.0f64);
        // smu[q] holds vals[q..], of w - q values: inv[w - q].
        let factors = self.inv.get(1..).unwrap_or(&[]);
        for (((a, b), &e), &inv) in self
            .smu
            .iter_mut()
            .zip(self.sm2.iter_mut())
            .zip(vals)
            .rev()
            .zip(factors)
        {
            run_step(&mut s, &mut mu, &mut m2, e.to_f64() - ks, inv);
            (*a, *b) = (mu, m2);
        }
        self.start_prefix();
    }
    fn reset(&mut self) {
        self.smu.clear();
        self.sm2.clear();
        self.start_prefix();
    }
    #[inline(always)]
    fn run(&mut self, _w: usize, p0: usize, prev: bool, x: &[T], y: &mut [T]) {
        if p0 == 0 {
            if let Some(v) = x.first() {
                self.kp = v.to_f64();
            }
        }
        let kp = self.kp;
        if !prev {
            // The lane's first block (no tables yet): only the prefix.
            let (mut s, mut mu, mut m2) = (self.s, self.mu, self.m2);
            for (k, (o, &v)) in y.iter_mut().zip(x).enumerate() {
                let inv = reciprocal(p0 + k + 1);
                run_step(&mut s, &mut mu, &mut m2, v.to_f64() - kp, inv);
                *o = T::nan_value();
            }
            (self.s, self.mu, self.m2) = (s, mu, m2);
            return;
        }
        let (std, inv_dof, shift) = (self.std, self.inv_dof, kp - self.ks);
        // The window ending at offset p: prefix 0..=p (p + 1 values),
        // suffix p + 1.. of the previous block.
        let mut p = p0 + 1;
        for (x, y) in x.chunks(SCRATCH).zip(y.chunks_mut(SCRATCH)) {
            let n = x.len();
            self.bmu.resize(n, 0.0);
            self.bm2.resize(n, 0.0);
            let (mut s, mut mu, mut m2) = (self.s, self.mu, self.m2);
            let inv = self.inv.get(p..p + n).unwrap_or(&[]);
            for (((a, b), &v), &inv) in self.bmu.iter_mut().zip(self.bm2.iter_mut()).zip(x).zip(inv)
            {
                run_step(&mut s, &mut mu, &mut m2, v.to_f64() - kp, inv);
                (*a, *b) = (mu, m2);
            }
            (self.s, self.mu, self.m2) = (s, mu, m2);
            let smu = self.smu.get(p..p + n).unwrap_or(&[]);
            let sm2 = self.sm2.get(p..p + n).unwrap_or(&[]);
            let weight = self.weight.get(p..p + n).unwrap_or(&[]);
            let merged = y
                .iter_mut()
                .zip(&self.bmu)
                .zip(&self.bm2)
                .zip(smu)
                .zip(sm2)
                .zip(weight);
            let m2_of = |mu, m2, smu, sm2, wt| merge_m2(shift, mu, m2, smu, sm2, wt);
            // Two loops, so that each is one straight vector body.
            if std {
                for (((((o, &mu), &m2), &smu), &sm2), &wt) in merged {
                    *o = Self::out(true, inv_dof, m2_of(mu, m2, smu, sm2, wt));
                }
            } else {
                for (((((o, &mu), &m2), &smu), &sm2), &wt) in merged {
                    *o = Self::out(false, inv_dof, m2_of(mu, m2, smu, sm2, wt));
                }
            }
            p += n;
        }
    }
    #[inline(always)]
    fn last(&mut self, w: usize, x: T) -> T {
        if w == 1 {
            self.kp = x.to_f64();
        }
        let inv = self.inv.get(w).copied().unwrap_or_else(|| reciprocal(w));
        let d = x.to_f64() - self.kp;
        run_step(&mut self.s, &mut self.mu, &mut self.m2, d, inv);
        Self::out(self.std, self.inv_dof, self.m2)
    }
    #[inline(always)]
    fn tile(&mut self, w: usize, x: &[T], y: &mut [T], avx2: wide::Avx2) {
        wide::load_tile(avx2, &mut self.tile, w, x);
        wide::var_tile(avx2, self, w);
        wide::store_tile(avx2, &self.tile, w, y);
    }
}

/// `rolling_min`/`rolling_max`: NaN-propagating `minimum`/`maximum` of the
/// suffixes and the prefix (van Herk / Gil-Werman), so a window holding a
/// NaN gives NaN.
struct ExtremeWindow<T> {
    max: bool,
    suffix: Vec<T>,
    prefix: T,
}

impl<T: Elem> ExtremeWindow<T> {
    /// The running function: `maximum`/`minimum` (NaN-propagating).
    #[inline]
    fn step(max: bool) -> impl Fn(T, T) -> T {
        move |a: T, b: T| if max { a.maximum(b) } else { a.minimum(b) }
    }
}

impl<T: FloatElem + BlockElem> Window<T> for ExtremeWindow<T> {
    #[inline(always)]
    fn roll(&mut self, vals: &[T]) {
        let step = Self::step(self.max);
        self.suffix.clear();
        self.suffix.extend_from_slice(vals);
        let mut rest = self.suffix.iter_mut().rev();
        if let Some(&mut mut acc) = rest.next() {
            for slot in rest {
                acc = step(*slot, acc);
                *slot = acc;
            }
        }
    }
    fn reset(&mut self) {
        self.suffix.clear();
    }
    #[inline(always)]
    fn run(&mut self, _w: usize, p0: usize, prev: bool, x: &[T], y: &mut [T]) {
        let step = Self::step(self.max);
        let (mut x, mut y, mut p) = (x, y, p0);
        if p0 == 0 {
            let (Some((&v, xr)), Some((o, yr))) = (x.split_first(), y.split_first_mut()) else {
                return;
            };
            self.prefix = v;
            *o = match self.suffix.get(1) {
                Some(&s) if prev => step(s, v),
                _ => T::nan_value(),
            };
            (x, y, p) = (xr, yr, 1);
        }
        let mut prefix = self.prefix;
        if prev {
            let suffix = self.suffix.get(p + 1..p + 1 + x.len()).unwrap_or(&[]);
            for ((o, &v), &s) in y.iter_mut().zip(x).zip(suffix) {
                prefix = step(prefix, v);
                *o = step(s, prefix);
            }
        } else {
            for (o, &v) in y.iter_mut().zip(x) {
                prefix = step(prefix, v);
                *o = T::nan_value();
            }
        }
        self.prefix = prefix;
    }
    #[inline(always)]
    fn last(&mut self, w: usize, x: T) -> T {
        self.prefix = if w == 1 {
            x
        } else {
            Self::step(self.max)(self.prefix, x)
        };
        self.prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::LaneOp;

    fn op(kind: LaneKind) -> LaneOp {
        LaneOp {
            kind,
            axis: Some(0),
            keepdims: false,
            ddof: 0,
        }
    }

    /// Pushes `x` in blocks of the given lengths (cycled).
    fn reduce_in_blocks(o: LaneOp, x: &[f64], blocks: &[usize]) -> Scalar {
        let mut s = Stream::new(&o, DType::F64, DType::F64, None).unwrap();
        for pass in 0..passes(&o) {
            if pass > 0 {
                s.next_pass();
            }
            let mut rest = x;
            for &b in blocks.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (head, tail) = rest.split_at(b.min(rest.len()));
                s.push(Block::F64(head), None).unwrap();
                rest = tail;
            }
        }
        s.finish().unwrap()
    }

    #[test]
    fn results_do_not_depend_on_the_blocking() {
        let x: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 1000) as f64 * 1.0e-3 + 1e6 * ((i % 3) as f64))
            .collect();
        for r in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Var, ReduceOp::Std] {
            let whole = reduce_in_blocks(op(LaneKind::Reduce(r)), &x, &[x.len()]);
            for blocks in [&[1usize][..], &[7, 300], &[128], &[512, 3]] {
                let got = reduce_in_blocks(op(LaneKind::Reduce(r)), &x, blocks);
                assert_eq!(got, whole, "{r:?} in blocks {blocks:?}");
            }
        }
        let rolling = op(LaneKind::Rolling(WindowOp::Std));
        let run = |blocks: &[usize]| aligned_in_blocks(&rolling, Some(Scalar::I64(37)), &x, blocks);
        let whole = run(&[x.len()]);
        assert!(run(&[1]) == whole);
        assert!(run(&[5, 100, 37]) == whole);
    }

    #[test]
    fn leaves_give_the_canonical_sum_whatever_the_pushes() {
        let x = data(1500, 11, false);
        let squares: Vec<f64> = x.iter().map(|v| v * v).collect();
        for len in [0, 1, 7, 8, 9, 127, 128, 129, 300, 1024, 1500] {
            let want = crate::algo::pairwise_sum_slice(&squares[..len]);
            for blocks in [&[len.max(1)][..], &[1], &[3, 5], &[7, 130], &[8, 120, 1]] {
                let mut leaves = Leaves::<f64>::new();
                // A reset tree and leaf must not remember the last lane.
                leaves.push(&x[..200], |v| v);
                leaves.reset();
                let mut rest = &x[..len];
                for &b in blocks.iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let (head, tail) = rest.split_at(b.min(rest.len()));
                    leaves.push(head, |v| v * v);
                    rest = tail;
                }
                let got = leaves.finish();
                assert_eq!(got.to_bits(), want.to_bits(), "{len} in blocks {blocks:?}");
            }
        }
    }

    /// Deterministic test data: uniform in [-3, 3) with a few repeated
    /// values, signed zeros and (if `nan`) NaNs and infinities.
    fn data(n: usize, seed: u64, nan: bool) -> Vec<f64> {
        let mut st = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|i| {
                st ^= st << 13;
                st ^= st >> 7;
                st ^= st << 17;
                let u = (st >> 11) as f64 / (1u64 << 53) as f64;
                match st % 97 {
                    0 if nan => f64::NAN,
                    1 if nan => f64::INFINITY,
                    2 => 0.0,
                    3 => -0.0,
                    4 => 1.5,
                    _ if i % 50 < 3 => -0.0,
                    _ => u * 6.0 - 3.0,
                }
            })
            .collect()
    }

    /// Runs an aligned stream over `x` pushed in blocks of the given
    /// lengths (cycled); the results' bits.
    fn aligned_in_blocks(
        o: &LaneOp,
        param: Option<Scalar>,
        x: &[f64],
        blocks: &[usize],
    ) -> Vec<u64> {
        let mut s = Stream::new(o, DType::F64, DType::F64, param).unwrap();
        let mut y = vec![0.0; x.len()];
        let mut at = 0;
        for &b in blocks.iter().cycle() {
            if at == x.len() {
                break;
            }
            let end = (at + b).min(x.len());
            s.push(
                Block::F64(&x[at..end]),
                Some(BlockMut::F64(&mut y[at..end])),
            )
            .unwrap();
            at = end;
        }
        y.iter().map(|v| v.to_bits()).collect()
    }

    const BLOCKINGS: [&[usize]; 5] = [&[1], &[7, 300], &[128], &[512, 3], &[5, 100, 37]];

    #[test]
    fn every_stream_is_independent_of_the_blocking() {
        for (seed, nan) in [(1, false), (2, true)] {
            let x = data(3000, seed, nan);
            let mut ops: Vec<(LaneOp, Option<Scalar>)> = vec![];
            for s in [
                ScanOp::Cumsum,
                ScanOp::Cumprod,
                ScanOp::Cummax,
                ScanOp::Cummin,
            ] {
                ops.push((op(LaneKind::Scan(s)), None));
            }
            ops.push((op(LaneKind::Ewm), Some(Scalar::F64(0.3))));
            for w in [1, 2, 3, 37, 100, 128, 1000, 5000] {
                for r in [
                    WindowOp::Sum,
                    WindowOp::Mean,
                    WindowOp::Var,
                    WindowOp::Std,
                    WindowOp::Min,
                    WindowOp::Max,
                ] {
                    ops.push((op(LaneKind::Rolling(r)), Some(Scalar::I64(w))));
                }
            }
            for (o, p) in &ops {
                let whole = aligned_in_blocks(o, *p, &x, &[x.len()]);
                for blocks in BLOCKINGS {
                    let got = aligned_in_blocks(o, *p, &x, blocks);
                    assert!(got == whole, "{o:?} {p:?} in blocks {blocks:?}");
                }
            }
            for r in [
                ReduceOp::Sum,
                ReduceOp::NanSum,
                ReduceOp::Mean,
                ReduceOp::NanMean,
                ReduceOp::Var,
                ReduceOp::NanStd,
                ReduceOp::Min,
                ReduceOp::Max,
                ReduceOp::NanMin,
                ReduceOp::NanMax,
            ] {
                let o = op(LaneKind::Reduce(r));
                let whole = reduce_in_blocks(o, &x, &[x.len()]);
                for blocks in BLOCKINGS {
                    let got = reduce_in_blocks(o, &x, blocks);
                    let same = match (got, whole) {
                        (Scalar::F64(a), Scalar::F64(b)) => a.to_bits() == b.to_bits(),
                        _ => false,
                    };
                    assert!(same, "{r:?} in blocks {blocks:?}: {got:?} vs {whole:?}");
                }
            }
        }
    }

    /// NaNs equal, zeros by sign, everything else by value.
    fn same_f64(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
    }

    #[test]
    fn fast_paths_keep_the_element_rules() {
        use crate::scalar::f64_ops::{maximum, minimum};
        for (seed, nan) in [(3, false), (4, true), (5, true)] {
            let x = data(2000, seed, nan);
            // min/max and the nan forms: the first strict extreme, NaN rules.
            for (r, max, skip) in [
                (ReduceOp::Max, true, false),
                (ReduceOp::Min, false, false),
                (ReduceOp::NanMax, true, true),
                (ReduceOp::NanMin, false, true),
            ] {
                for len in [1, 2, 9, 100, 2000] {
                    let lane = &x[..len];
                    let (mut best, mut first_nan) = (None::<f64>, None::<f64>);
                    for &v in lane {
                        if v.is_nan() {
                            first_nan = first_nan.or(Some(v));
                            if !skip {
                                break;
                            }
                        } else if best.is_none_or(|b| if max { v > b } else { v < b }) {
                            best = Some(v);
                        }
                    }
                    let want = if skip {
                        best.or(first_nan)
                    } else {
                        first_nan.or(best)
                    };
                    for blocks in [&[len][..], &[1], &[7, 300]] {
                        let got = reduce_in_blocks(op(LaneKind::Reduce(r)), lane, blocks);
                        let Scalar::F64(got) = got else {
                            panic!("{got:?}")
                        };
                        assert!(
                            same_f64(got, want.unwrap()),
                            "{r:?} len {len}: {got} vs {want:?}"
                        );
                    }
                }
            }
            // Signed zeros: the first of equal extremes wins.
            for (xs, want) in [([-0.0, 0.0], -0.0f64), ([0.0, -0.0], 0.0)] {
                for r in [ReduceOp::Max, ReduceOp::Min] {
                    let got = reduce_in_blocks(op(LaneKind::Reduce(r)), &xs, &[2]);
                    assert!(matches!(got, Scalar::F64(v) if v.to_bits() == want.to_bits()));
                }
            }
            // cummax/cummin: scalar's maximum/minimum scanned.
            for (s, f) in [
                (ScanOp::Cummax, maximum as extern "C" fn(f64, f64) -> f64),
                (ScanOp::Cummin, minimum),
            ] {
                let mut want = x.clone();
                for i in 1..want.len() {
                    want[i] = f(want[i - 1], x[i]);
                }
                let want: Vec<u64> = want.iter().map(|v| v.to_bits()).collect();
                let got = aligned_in_blocks(&op(LaneKind::Scan(s)), None, &x, &[512]);
                let ok = got
                    .iter()
                    .zip(&want)
                    .all(|(&a, &b)| same_f64(f64::from_bits(a), f64::from_bits(b)));
                assert!(ok, "{s:?}");
            }
            // rolling_min/max against a direct scan of every window.
            for w in [1usize, 2, 5, 64] {
                for (r, max) in [(WindowOp::Max, true), (WindowOp::Min, false)] {
                    let got = aligned_in_blocks(
                        &op(LaneKind::Rolling(r)),
                        Some(Scalar::I64(w as i64)),
                        &x,
                        &[512],
                    );
                    for i in 0..x.len() {
                        let got = f64::from_bits(got[i]);
                        if i + 1 < w {
                            assert!(got.is_nan());
                            continue;
                        }
                        let win = &x[i + 1 - w..=i];
                        let want = if win.iter().any(|v| v.is_nan()) {
                            f64::NAN
                        } else if max {
                            win.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                        } else {
                            win.iter().copied().fold(f64::INFINITY, f64::min)
                        };
                        // Equal values (a zero of either sign) are one extreme.
                        assert!(
                            (got.is_nan() && want.is_nan()) || got == want,
                            "{r:?} w={w} at {i}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rolling_var_is_exact_on_constants_and_robust_to_outliers() {
        let var = op(LaneKind::Rolling(WindowOp::Var));
        // Constant windows: exactly zero (never a tiny negative or positive).
        let c = vec![1e9 + 0.25; 1000];
        for w in [1, 2, 7, 100] {
            let got = aligned_in_blocks(&var, Some(Scalar::I64(w)), &c, &[512]);
            for &v in &got[w as usize - 1..] {
                assert_eq!(f64::from_bits(v), 0.0, "w={w}");
            }
        }
        // An outlier at the first element of every block (the prefix's
        // shift) and at the last (the suffixes' shift) of small noise.
        let w = 100usize;
        let mut x = data(5000, 9, false);
        for (i, v) in x.iter_mut().enumerate() {
            *v *= 1e-3;
            if i % w == 0 || i % w == w - 1 {
                *v += 1e6;
            }
        }
        let got = aligned_in_blocks(&var, Some(Scalar::I64(w as i64)), &x, &[512]);
        for i in w - 1..x.len() {
            let win = &x[i + 1 - w..=i];
            // Two-pass with a double-double mean.
            let x0 = win[0];
            let n = w as f64;
            let m = win.iter().map(|v| v - x0).sum::<f64>() / n;
            let m = m + win.iter().map(|v| (v - x0) - m).sum::<f64>() / n;
            let want = win.iter().map(|v| ((v - x0) - m).powi(2)).sum::<f64>() / n;
            let got = f64::from_bits(got[i]);
            assert!(got >= 0.0);
            assert!(
                (got - want).abs() <= 1e-10 * want,
                "at {i}: {got:e} vs {want:e}"
            );
        }
    }

    /// The population variance of `win` by two passes with a double-double
    /// mean (shifted by its first value): a reference far more accurate
    /// than the f64 result it checks.
    fn two_pass_var(win: &[f64]) -> f64 {
        let x0 = win[0];
        let n = win.len() as f64;
        let m = win.iter().map(|v| v - x0).sum::<f64>() / n;
        let m = m + win.iter().map(|v| (v - x0) - m).sum::<f64>() / n;
        win.iter().map(|v| ((v - x0) - m).powi(2)).sum::<f64>() / n
    }

    #[test]
    fn rolling_var_recovers_after_huge_outliers_leave() {
        let var = op(LaneKind::Rolling(WindowOp::Var));
        for w in [2usize, 3, 37, 100, 300] {
            // Noise of 1e-3 about 1e9, with outliers of +-1e15 now and
            // then (one a block's first value, one its last, one inside).
            let mut x: Vec<f64> = data(4000, 11, false)
                .iter()
                .map(|v| 1e9 + v * 1e-3)
                .collect();
            for (k, at) in [w * 3, w * 7 - 1, w * 11 + w / 2, 2500]
                .into_iter()
                .enumerate()
            {
                if let Some(v) = x.get_mut(at) {
                    *v = if k % 2 == 0 { 1e15 } else { -1e15 };
                }
            }
            for blocks in [&[512usize][..], &[1], &[5, 100, 37]] {
                let got = aligned_in_blocks(&var, Some(Scalar::I64(w as i64)), &x, blocks);
                for i in w - 1..x.len() {
                    let want = two_pass_var(&x[i + 1 - w..=i]);
                    let got = f64::from_bits(got[i]);
                    assert!(got >= 0.0, "w={w} at {i}: {got:e}");
                    assert!(
                        (got - want).abs() <= 1e-9 * want,
                        "w={w} at {i} in blocks {blocks:?}: {got:e} vs {want:e}"
                    );
                }
            }
        }
    }

    #[test]
    fn rolling_std_meets_the_language_bound_in_f64_and_f32() {
        // The near-constant case of LANGUAGE.md: 1e9 + noise of 1e-3.
        let w = 100usize;
        let x: Vec<f64> = data(20_000, 12, false)
            .iter()
            .map(|v| 1e9 + v * 1e-3)
            .collect();
        let std = op(LaneKind::Rolling(WindowOp::Std));
        let got = aligned_in_blocks(&std, Some(Scalar::I64(w as i64)), &x, &[512]);
        for i in w - 1..x.len() {
            let want = two_pass_var(&x[i + 1 - w..=i]).sqrt();
            let got = f64::from_bits(got[i]);
            assert!(
                (got - want).abs() <= 1e-12 * want,
                "at {i}: {got:e} vs {want:e}"
            );
        }
        // f32 lanes: aggregates in f64, one rounding at the end.
        let xf: Vec<f32> = data(3000, 13, false).iter().map(|&v| v as f32).collect();
        for ddof in [0u32, 1] {
            let o = LaneOp {
                ddof,
                ..op(LaneKind::Rolling(WindowOp::Var))
            };
            let mut s = Stream::new(&o, DType::F32, DType::F32, Some(Scalar::I64(37))).unwrap();
            let mut y = vec![0f32; xf.len()];
            for (xb, yb) in xf.chunks(100).zip(y.chunks_mut(100)) {
                s.push(Block::F32(xb), Some(BlockMut::F32(yb))).unwrap();
            }
            for i in 36..xf.len() {
                let win: Vec<f64> = xf[i - 36..=i].iter().map(|&v| f64::from(v)).collect();
                let want = two_pass_var(&win) * 37.0 / (37 - ddof) as f64;
                let got = f64::from(y[i]);
                assert!((got - want).abs() <= 1e-6 * want, "ddof={ddof} at {i}");
            }
            assert!(y[..36].iter().all(|v| v.is_nan()));
        }
    }

    #[test]
    fn rolling_sum_and_mean_match_a_compensated_window_sum() {
        // Large values that cancel, and small ones: every window's sum
        // against an exact-enough reference (a Neumaier sum of the window).
        let x: Vec<f64> = data(3000, 14, false)
            .iter()
            .enumerate()
            .map(|(i, v)| if i % 17 == 0 { 1e15 * (v - 0.5) } else { *v })
            .collect();
        for w in [1usize, 4, 100, 700] {
            for (r, mean) in [(WindowOp::Sum, false), (WindowOp::Mean, true)] {
                let got = aligned_in_blocks(
                    &op(LaneKind::Rolling(r)),
                    Some(Scalar::I64(w as i64)),
                    &x,
                    &[5, 100, 37],
                );
                for i in w - 1..x.len() {
                    let (mut s, mut c) = (0.0f64, 0.0f64);
                    for &v in &x[i + 1 - w..=i] {
                        let t = s + v;
                        c += if s.abs() >= v.abs() {
                            (s - t) + v
                        } else {
                            (v - t) + s
                        };
                        s = t;
                    }
                    let want = if mean { (s + c) / w as f64 } else { s + c };
                    let got = f64::from_bits(got[i]);
                    let scale = x[i + 1 - w..=i].iter().map(|v| v.abs()).sum::<f64>()
                        / if mean { w as f64 } else { 1.0 };
                    assert!(
                        (got - want).abs() <= 4.0 * f64::EPSILON * (want.abs() + 1e-13 * scale),
                        "{r:?} w={w} at {i}: {got:e} vs {want:e}"
                    );
                }
            }
        }
    }

    #[test]
    fn cum_extremes_match_the_element_rule_on_every_shape_of_data() {
        use crate::scalar::f64_ops::{maximum, minimum};
        let mut inputs: Vec<Vec<f64>> = vec![
            (0..700).map(|i| i as f64).collect(),
            (0..700).map(|i| -(i as f64)).collect(),
            (0..700).map(|i| ((i * 37) % 11) as f64 - 5.0).collect(),
            (0..700)
                .map(|i| if i % 2 == 0 { 0.0 } else { -0.0 })
                .collect(),
            data(700, 15, true),
        ];
        let mut late_nan = data(700, 16, false);
        late_nan[650] = f64::NAN;
        inputs.push(late_nan);
        for x in &inputs {
            for (s, f) in [
                (ScanOp::Cummax, maximum as extern "C" fn(f64, f64) -> f64),
                (ScanOp::Cummin, minimum),
            ] {
                let mut want = x.clone();
                for i in 1..want.len() {
                    want[i] = f(want[i - 1], x[i]);
                }
                for blocks in BLOCKINGS {
                    let got = aligned_in_blocks(&op(LaneKind::Scan(s)), None, x, blocks);
                    let ok = got
                        .iter()
                        .zip(&want)
                        .all(|(&a, &b)| same_f64(f64::from_bits(a), b));
                    assert!(ok, "{s:?} in blocks {blocks:?}");
                }
            }
        }
        // Integers: the plain max/min scanned.
        let xi: Vec<i64> = (0..500).map(|i| (i * 7919 % 263) - 100).collect();
        for (s, max) in [(ScanOp::Cummax, true), (ScanOp::Cummin, false)] {
            let mut st = Stream::new(&op(LaneKind::Scan(s)), DType::I64, DType::I64, None).unwrap();
            let mut y = vec![0i64; xi.len()];
            for (xb, yb) in xi.chunks(77).zip(y.chunks_mut(77)) {
                st.push(Block::I64(xb), Some(BlockMut::I64(yb))).unwrap();
            }
            let mut acc = xi[0];
            for (i, &v) in xi.iter().enumerate() {
                acc = if max { acc.max(v) } else { acc.min(v) };
                assert_eq!(y[i], acc, "{s:?} at {i}");
            }
        }
    }

    #[test]
    fn wrong_blocks_are_errors() {
        let o = op(LaneKind::Scan(ScanOp::Cumsum));
        let mut s = Stream::new(&o, DType::F64, DType::F64, None).unwrap();
        assert!(s.push(Block::F32(&[1.0]), None).is_err());
        assert!(s.push(Block::F64(&[1.0]), None).is_err());
        let mut y = [0.0; 2];
        assert!(s
            .push(Block::F64(&[1.0]), Some(BlockMut::F64(&mut y)))
            .is_err());
        assert!(s.finish().is_err());
        let diff = op(LaneKind::Diff(1));
        assert!(Stream::new(&diff, DType::F64, DType::F64, None).is_err());
    }

    /// The rolling sum/mean/var/std of the window ending at `i`, straight
    /// from the block prefix/suffix scheme of [`crate::algo`], element by
    /// element (each window's prefix and suffix recomputed from scratch,
    /// with the same operations in the same order as the streams).
    fn scheme_window<T: FloatElem>(r: WindowOp, ddof: u32, w: usize, x: &[T], i: usize) -> T {
        if i + 1 < w {
            return T::nan_value();
        }
        let b = i / w * w;
        let p = i - b;
        let prefix = x.get(b..=i).unwrap_or(&[]).iter().map(|v| v.to_f64());
        // The previous block's suffix p + 1.., right to left.
        let suffix = x
            .get(b + p + 1 - w..b)
            .unwrap_or(&[])
            .iter()
            .rev()
            .map(|v| v.to_f64());
        match r {
            WindowOp::Sum | WindowOp::Mean => {
                let sum = |vals: &mut dyn Iterator<Item = f64>| {
                    vals.fold((0.0, 0.0), |(s, c), v| {
                        let (t, e) = two_sum(s, v);
                        (t, c + e)
                    })
                };
                let (ps, pc) = sum(&mut prefix.clone());
                let v = if p == w - 1 {
                    compensated(ps, pc)
                } else {
                    let (ss, sc) = sum(&mut suffix.clone());
                    let (t, e) = two_sum(ss, ps);
                    compensated(t, (sc + e) + pc)
                };
                T::from_f64(if r == WindowOp::Mean { v / w as f64 } else { v })
            }
            _ => {
                let run = |vals: &mut dyn Iterator<Item = f64>, k: f64| {
                    let (mut s, mut mu, mut m2) = (0.0, 0.0, 0.0);
                    for (n, v) in vals.enumerate() {
                        run_step(&mut s, &mut mu, &mut m2, v - k, 1.0 / (n + 1) as f64);
                    }
                    (mu, m2)
                };
                let inv_dof = if w > ddof as usize {
                    1.0 / (w - ddof as usize) as f64
                } else {
                    f64::NAN
                };
                let kp = x[b].to_f64();
                let (mu, m2) = run(&mut prefix.clone(), kp);
                let m2 = if p == w - 1 {
                    m2
                } else {
                    let ks = x[b - 1].to_f64();
                    let (smu, sm2) = run(&mut suffix.clone(), ks);
                    let q = p + 1;
                    let wt = (w - q) as f64 * q as f64 / w as f64;
                    let d = (kp - ks) + (mu - smu);
                    sm2 + m2 + d * d * wt
                };
                let var = nonneg(m2) * inv_dof;
                T::from_f64(if r == WindowOp::Std { var.sqrt() } else { var })
            }
        }
    }

    /// Runs a rolling stream of `T` over `x` pushed in the given lengths
    /// (cycled); the results.
    fn rolling_pushed<T: FloatElem + BlockElem>(
        o: &LaneOp,
        w: usize,
        x: &[T],
        pushes: &[usize],
    ) -> Vec<T> {
        let dt = T::block(x).dtype();
        let mut s = Stream::new(o, dt, dt, Some(Scalar::I64(w as i64))).unwrap();
        let mut y = vec![T::default(); x.len()];
        let mut at = 0;
        for &n in pushes.iter().cycle() {
            if at == x.len() {
                break;
            }
            let end = (at + n).min(x.len());
            s.push(T::block(&x[at..end]), Some(T::block_mut(&mut y[at..end])))
                .unwrap();
            at = end;
        }
        y
    }

    /// Every rolling sum/mean/var/std result, whatever the dtype, `w`,
    /// `ddof`, lane length and cutting into pushes, is the scheme's: the
    /// same bits, or NaN where it is NaN (which NaN an operation on NaNs
    /// gives depends on its operands' order, which the compiler may swap,
    /// and does between the vectorised merge and this scalar reference).
    /// The window passes compiled for the baseline and for the CPU's
    /// level (`wide`, which on AVX2 runs whole blocks of sums and var/std
    /// in tiles) give the same bits, over pushes of mixed lengths and
    /// values with NaN, infinities and outliers: NaN for NaN for the
    /// extremes (which pass an input's NaN on), and exactly for sums and
    /// var/std (whose NaN results are made one NaN).
    #[test]
    fn window_passes_agree_across_cpu_levels() {
        fn agree<T: BlockElem + Copy + Into<f64>, K: Window<T>>(
            make: impl Fn() -> K,
            w: usize,
            x: &[T],
            pushes: &[usize],
            exact: bool,
        ) {
            let mut base = Blocked::new(w, make());
            let mut wide = Blocked::new(w, make());
            let (mut yb, mut yw) = (x.to_vec(), x.to_vec());
            let mut at = 0;
            for &p in pushes.iter().cycle() {
                if at == x.len() {
                    break;
                }
                let end = (at + p).min(x.len());
                base.push_blocks(&x[at..end], &mut yb[at..end], None);
                super::wide::push(&mut wide, &x[at..end], &mut yw[at..end]);
                at = end;
            }
            for (i, (a, b)) in yb.iter().zip(&yw).enumerate() {
                let (a, b): (f64, f64) = ((*a).into(), (*b).into());
                // A NaN's sign may differ (which operand's NaN an
                // instruction passes on is not part of the results).
                let same = a.to_bits() == b.to_bits() || (!exact && a.is_nan() && b.is_nan());
                assert!(same, "w = {w}, element {i}: {a:?} vs {b:?}");
            }
        }
        let x: Vec<f64> = (0..3000u64)
            .map(|k| match (k * 7919) % 401 {
                0 if k % 2 == 0 => f64::NAN,
                0 => -f64::NAN,
                1 => f64::INFINITY,
                2 => -1e300,
                r => 1e6 + (r as f64 - 200.0) / 7.0,
            })
            .collect();
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let pushes = [512, 1, 77, 300, 1024, 3];
        for w in [1, 2, 3, 100, 128, 129, 513] {
            for mean in [false, true] {
                agree(|| SumWindow::new(mean), w, &x, &pushes, true);
                agree(|| SumWindow::new(mean), w, &xf, &pushes, true);
            }
            for (std, ddof) in [(false, 0), (true, 1)] {
                agree(|| VarWindow::new(std, ddof, w), w, &x, &pushes, true);
                agree(|| VarWindow::new(std, ddof, w), w, &xf, &pushes, true);
            }
            for max in [false, true] {
                let k64 = || ExtremeWindow {
                    max,
                    suffix: Vec::new(),
                    prefix: 0.0f64,
                };
                let k32 = || ExtremeWindow {
                    max,
                    suffix: Vec::new(),
                    prefix: 0.0f32,
                };
                agree(k64, w, &x, &pushes, false);
                agree(k32, w, &xf, &pushes, false);
            }
        }
    }

    /// Tiles at every alignment to the pushes (a tile after the end of a
    /// block begun in an earlier push, tiles that end a push or not, pushes
    /// shorter and longer than a tile) give the bits of pushing one
    /// element at a time (which never tiles), and leave the state that
    /// does: the pushes after a tile continue it, and a reset clears it.
    #[test]
    fn tiles_are_the_one_block_code_at_every_alignment() {
        fn check<K: Window<f64>>(make: impl Fn() -> K, w: usize, x: &[f64], what: &str) {
            let run = |push: usize| {
                let mut b = Blocked::new(w, make());
                let mut y = vec![0.0; x.len()];
                // Half a lane first, then a reset: nothing of it may stay.
                let half = &x[x.len() / 2..];
                for (x, y) in half.chunks(push).zip(y.chunks_mut(push)) {
                    super::wide::push(&mut b, x, y);
                }
                Aligned::reset(&mut b);
                for (x, y) in x.chunks(push).zip(y.chunks_mut(push)) {
                    super::wide::push(&mut b, x, y);
                }
                y
            };
            let one = run(1);
            for push in (2..=4 * w + 3).chain([512, x.len()]) {
                let got = run(push);
                let bad = (0..x.len()).find(|&i| got[i].to_bits() != one[i].to_bits());
                if let Some(i) = bad {
                    panic!(
                        "{what} w = {w}, pushes of {push}, at {i}: {} vs {}",
                        got[i], one[i]
                    );
                }
            }
        }
        let mut st = 0x853c_49e6_748f_ea9bu64;
        let x: Vec<f64> = (0..700)
            .map(|k| {
                st ^= st << 13;
                st ^= st >> 7;
                st ^= st << 17;
                match (k, st % 97) {
                    (300, _) => f64::INFINITY,
                    (450, _) => f64::NAN,
                    (520, _) => f64::from_bits(0xfff0_0000_dead_beef),
                    (_, 0) => -0.0,
                    _ => 1e3 + (st >> 11) as f64 / (1u64 << 53) as f64,
                }
            })
            .collect();
        for w in (2..=9).chain([31, 100, 128]) {
            for mean in [false, true] {
                check(|| SumWindow::new(mean), w, &x, "sum/mean");
            }
            for (std, ddof) in [(false, 0), (true, 1), (true, 200)] {
                check(|| VarWindow::new(std, ddof, w), w, &x, "var/std");
            }
        }
    }

    #[test]
    fn rolling_windows_are_the_scheme_bit_for_bit() {
        let mut st = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            st
        };
        let ws = [1, 2, 3, 7, 64, 100, 127, 128, 129, 500, 513, 1000];
        for (case, &w) in ws.iter().cycle().take(3 * ws.len()).enumerate() {
            let n = match case % 3 {
                0 => (next() % (6 * w as u64 + 700)) as usize,
                1 => 4 * w + 1 + (next() % 5) as usize,
                _ => (next() % 64) as usize + w,
            };
            let outliers = case % 2 == 1;
            let x: Vec<f64> = (0..n)
                .map(|_| {
                    let r = next();
                    let u = (r >> 11) as f64 / (1u64 << 53) as f64;
                    match r % 211 {
                        0 if outliers => f64::NAN,
                        1 if outliers => f64::INFINITY,
                        2 if outliers => f64::NEG_INFINITY,
                        3 if outliers => 1e300,
                        4 | 5 if outliers => -3e15 * u,
                        6 => 0.0,
                        7 => -0.0,
                        // Magnitudes 1e-8..1e8 of either sign.
                        _ if case % 3 == 2 => {
                            let e = (r >> 3) % 17;
                            (u - 0.5) * 10f64.powi(e as i32 - 8)
                        }
                        _ => 1e6 + u * 10.0 - 5.0,
                    }
                })
                .collect();
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let mut pushes: Vec<usize> = (0..7).map(|_| 1 + (next() % 1100) as usize).collect();
            if case % 4 == 0 {
                pushes = vec![512];
            }
            for r in [WindowOp::Sum, WindowOp::Mean, WindowOp::Var, WindowOp::Std] {
                for ddof in [0, 1] {
                    if ddof == 1 && matches!(r, WindowOp::Sum | WindowOp::Mean) {
                        continue;
                    }
                    let mut o = op(LaneKind::Rolling(r));
                    o.ddof = ddof;
                    let got = rolling_pushed(&o, w, &x, &pushes);
                    for (i, g) in got.iter().enumerate() {
                        let want = scheme_window(r, ddof, w, &x, i);
                        assert!(
                            g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                            "{r:?} ddof {ddof} w {w} n {n} pushes {pushes:?} at {i}: {g} vs {want} ({:x} vs {:x})", g.to_bits(), want.to_bits()
                        );
                    }
                    let got = rolling_pushed(&o, w, &xf, &pushes);
                    for (i, g) in got.iter().enumerate() {
                        let want = scheme_window(r, ddof, w, &xf, i);
                        assert!(
                            g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                            "f32 {r:?} ddof {ddof} w {w} n {n} pushes {pushes:?} at {i}: {g} vs {want}"
                        );
                    }
                }
            }
        }
    }
    /// A whole short lane gives its stream's bits: every form, both float
    /// dtypes, `ddof` up to past the length, every length of a leaf, with
    /// signed zeros, infinities, NaNs and cancellation among the values, and
    /// a variance from its own first pass or from a mean's moments.
    #[test]
    fn whole_lanes_give_their_streams_bits() {
        fn run<T: FloatElem + BlockElem>(
            kind: LaneKind,
            ddof: u32,
            xs: &[T],
            block: fn(&[T]) -> Block<'_>,
        ) {
            let dtype = T::DTYPE;
            let o = LaneOp { ddof, ..op(kind) };
            let mut s = Stream::new(&o, dtype, dtype, None).unwrap();
            let mut w = Whole::new(&o, dtype, dtype).unwrap();
            let mut mean_op =
                Stream::new(&op(LaneKind::Reduce(ReduceOp::Mean)), dtype, dtype, None).unwrap();
            let mut mean_whole =
                Whole::new(&op(LaneKind::Reduce(ReduceOp::Mean)), dtype, dtype).unwrap();
            for shared in [false, true] {
                s.reset();
                w.reset();
                if shared && w.is_var() {
                    mean_op.reset();
                    mean_whole.reset();
                    mean_op.push(block(xs), None).unwrap();
                    mean_whole.push(block(xs)).unwrap();
                    // NaN as NaN: which NaN a sum passes on depends on
                    // the operand order the compiler picks.
                    let same =
                        |a: f64, b: f64| a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan();
                    let bits = |s: u64| Scalar::from_bits(dtype, s).as_f64();
                    let (a, b) = (
                        mean_op.finish_bits().unwrap(),
                        mean_whole.finish_bits().unwrap(),
                    );
                    assert!(
                        same(bits(a), bits(b)),
                        "mean n={}: {a:x} vs {b:x}",
                        xs.len()
                    );
                    let m = mean_op.moments().unwrap();
                    assert_eq!(m.0, mean_whole.moments().unwrap().0);
                    assert!(same(m.1, mean_whole.moments().unwrap().1));
                    s.next_pass_given(m).unwrap();
                    w.next_pass_given(mean_whole.moments().unwrap()).unwrap();
                } else {
                    s.push(block(xs), None).unwrap();
                    w.push(block(xs)).unwrap();
                    if w.is_var() {
                        s.next_pass();
                        w.next_pass().unwrap();
                    }
                }
                if w.is_var() {
                    s.push(block(xs), None).unwrap();
                    w.push(block(xs)).unwrap();
                }
                let (want, got) = (s.finish_bits().unwrap(), w.finish_bits().unwrap());
                // Extremes pass an element on: its very bits.
                let extreme = matches!(
                    kind,
                    LaneKind::Reduce(
                        ReduceOp::Min | ReduceOp::Max | ReduceOp::NanMin | ReduceOp::NanMax
                    )
                );
                let same = want == got
                    || (!extreme
                        && Scalar::from_bits(dtype, want).as_f64().is_nan()
                        && Scalar::from_bits(dtype, got).as_f64().is_nan());
                assert!(
                    same,
                    "{kind:?} ddof {ddof} {dtype} n={} shared={shared}: {want:x} vs {got:x}",
                    xs.len()
                );
            }
        }
        let kinds = [
            LaneKind::Reduce(ReduceOp::Sum),
            LaneKind::Reduce(ReduceOp::Mean),
            LaneKind::Reduce(ReduceOp::Var),
            LaneKind::Reduce(ReduceOp::Std),
            LaneKind::Reduce(ReduceOp::Min),
            LaneKind::Reduce(ReduceOp::Max),
            LaneKind::Reduce(ReduceOp::NanMin),
            LaneKind::Reduce(ReduceOp::NanMax),
        ];
        let special = [
            0.0,
            -0.0,
            1e300,
            -1e300,
            1e-300,
            3.0,
            f64::INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::NEG_INFINITY,
        ];
        for n in 1..=LEAF {
            for variant in 0..6u64 {
                let x: Vec<f64> = (0..n as u64)
                    .map(|k| {
                        let h = (k + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ variant;
                        match variant {
                            // Large and small with cancellation.
                            0 => 1e9 + (h % 1000) as f64 * 1e-3,
                            1 => ((h >> 7) % 2001) as f64 / 8.0 - 125.0,
                            // Mostly NaN (a lane may be all NaN).
                            2 if (h >> 5) % 4 != 0 => [f64::NAN, -f64::NAN][(h >> 9) as usize % 2],
                            // Zeros of both signs tie at the extreme.
                            4 => [0.0, -0.0, -1.0][(h >> 9) as usize % 3],
                            5 => [0.0, -0.0, 1.0][(h >> 9) as usize % 3],
                            _ => special[(h >> 11) as usize % special.len()],
                        }
                    })
                    .collect();
                let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                for kind in kinds {
                    for ddof in [0, 1, 3, n as u32, n as u32 + 1] {
                        run::<f64>(kind, ddof, &x, |v| Block::F64(v));
                        run::<f32>(kind, ddof, &x32, |v| Block::F32(v));
                    }
                }
            }
        }
    }

    /// A whole lane refuses what only a stream can take: a second block
    /// in one pass, a block longer than a leaf, a second pass of a
    /// one-pass reduction, and a variance finished after one pass.
    #[test]
    fn a_variance_and_its_mean_keep_their_leaf_forms_together() {
        use LeafForm::{Mean, Sum, Var};
        let var = Some(Var {
            ddof: 0,
            sqrt: true,
        });
        // Stream 0 is a variance starting from stream 1's moments; stream
        // 2, unrelated, always keeps its form.
        let pair = |forms: [Option<LeafForm>; 3]| {
            let mut forms = forms;
            pair_leaf_forms(&mut forms, |k| (k == 0).then_some(1));
            forms
        };
        assert_eq!(
            pair([var, Some(Mean), Some(Sum)]),
            [var, Some(Mean), Some(Sum)]
        );
        assert_eq!(pair([var, None, Some(Sum)]), [None, None, Some(Sum)]);
        assert_eq!(pair([None, Some(Mean), Some(Sum)]), [None, None, Some(Sum)]);
        // A partner that is not a mean does not pair.
        assert_eq!(pair([var, Some(Sum), None]), [None, None, None]);
        // Chains settle: 0 pairs with 1, which is itself a variance of 2.
        let mut forms = [var, var, Some(Mean)];
        pair_leaf_forms(&mut forms, |k| (k < 2).then_some(k + 1));
        assert_eq!(forms, [None, None, None]);
    }

    #[test]
    fn whole_lanes_refuse_pieces() {
        let var = op(LaneKind::Reduce(ReduceOp::Var));
        let x = [1.0; LEAF + 1];
        let mut w = Whole::new(&var, DType::F64, DType::F64).unwrap();
        assert!(w.push(Block::F64(&x[..LEAF + 1])).is_err());
        w.reset();
        w.push(Block::F64(&x[..3])).unwrap();
        assert!(w.finish_bits().is_err());
        assert!(w.push(Block::F64(&x[..3])).is_err());
        let mut sum =
            Whole::new(&op(LaneKind::Reduce(ReduceOp::Sum)), DType::F64, DType::F64).unwrap();
        assert!(sum.next_pass().is_err());
        assert!(Whole::new(
            &op(LaneKind::Reduce(ReduceOp::NanMean)),
            DType::F64,
            DType::F64
        )
        .is_none());
        assert!(Whole::new(&op(LaneKind::Reduce(ReduceOp::Sum)), DType::I64, DType::I64).is_none());
    }
}

/// The window passes compiled for AVX2 with FMA as well as for the
/// baseline, chosen at run time: VEX encodings drop the register copies
/// the chains' two-operand SSE forms need, and the merges run 4 wide.
/// Rust never contracts `a * b + c` into an FMA, so the bits are those of
/// the baseline build. With AVX2, whole blocks of the sum and var/std
/// windows are also run [`TILE`] at a time, one per lane of a `__m256d`
/// (`sum_tile`, `var_tile`): each lane does a block's scalar steps in the
/// same order, so the bits are again the baseline's.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod wide {
    use std::arch::x86_64::*;

    use super::{
        Block, BlockElem, BlockMut, Blocked, FloatElem, SumWindow, TileScratch, VarWindow, Window,
        TILE,
    };

    /// Proof that the CPU has AVX2 and FMA: made only by [`push`], after
    /// checking.
    #[derive(Clone, Copy)]
    pub(super) struct Avx2(());

    #[target_feature(enable = "avx2,fma")]
    fn push_avx2<T: BlockElem, K: Window<T>>(b: &mut Blocked<T, K>, x: &[T], y: &mut [T]) {
        b.push_blocks(x, y, Some(Avx2(())))
    }

    pub(super) fn push<T: BlockElem, K: Window<T>>(b: &mut Blocked<T, K>, x: &[T], y: &mut [T]) {
        if crate::vmath::Level::Avx2.supported() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            unsafe { push_avx2(b, x, y) }
        } else {
            b.push_blocks(x, y, None)
        }
    }

    /// `TileScratch::load`, transposing `f64` blocks 4 by 4 in registers.
    pub(super) fn load_tile<T: FloatElem + BlockElem>(
        _: Avx2,
        t: &mut TileScratch,
        w: usize,
        x: &[T],
    ) {
        match T::block(x) {
            Block::F64(x) => {
                t.size(w);
                // SAFETY: the token proves the CPU has AVX2.
                unsafe { transpose_avx2(x, w, &mut t.x) }
            }
            _ => t.load(w, x),
        }
    }

    /// `TileScratch::store`, transposing back 4 by 4 for `f64`.
    pub(super) fn store_tile<T: FloatElem + BlockElem>(
        _: Avx2,
        t: &TileScratch,
        w: usize,
        y: &mut [T],
    ) {
        match T::block_mut(y) {
            // SAFETY: the token proves the CPU has AVX2.
            BlockMut::F64(y) => unsafe { untranspose_avx2(&t.out, w, y) },
            _ => t.store(w, y),
        }
    }

    /// The 4x4 transpose of rows `a`..`d`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn transpose4(a: __m256d, b: __m256d, c: __m256d, d: __m256d) -> [__m256d; 4] {
        let (ab0, ab1) = (_mm256_unpacklo_pd(a, b), _mm256_unpackhi_pd(a, b));
        let (cd0, cd1) = (_mm256_unpacklo_pd(c, d), _mm256_unpackhi_pd(c, d));
        [
            _mm256_permute2f128_pd::<0x20>(ab0, cd0),
            _mm256_permute2f128_pd::<0x20>(ab1, cd1),
            _mm256_permute2f128_pd::<0x31>(ab0, cd0),
            _mm256_permute2f128_pd::<0x31>(ab1, cd1),
        ]
    }

    /// `xt[p * TILE + j] = x[j * w + p]` (`x`: `TILE` blocks of `w`).
    #[target_feature(enable = "avx2")]
    fn transpose_avx2(x: &[f64], w: usize, xt: &mut [f64]) {
        let (b0, x) = x.split_at(w);
        let (b1, x) = x.split_at(w);
        let (b2, b3) = x.split_at(w);
        let quads = as_rows(b0).iter().zip(as_rows(b1));
        let quads = quads.zip(as_rows(b2)).zip(as_rows(b3));
        for ((((r0, r1), r2), r3), rows) in quads.zip(as_rows_mut(xt).as_chunks_mut::<4>().0) {
            let t = transpose4(load(r0), load(r1), load(r2), load(r3));
            for (row, v) in rows.iter_mut().zip(t) {
                store(row, v);
            }
        }
        for p in w / 4 * 4..w {
            for (j, b) in [b0, b1, b2, b3].into_iter().enumerate() {
                xt[p * TILE + j] = b[p];
            }
        }
    }

    /// `y[j * w + p] = out[p * TILE + j]`, the inverse of `transpose_avx2`.
    #[target_feature(enable = "avx2")]
    fn untranspose_avx2(out: &[f64], w: usize, y: &mut [f64]) {
        let (b0, y) = y.split_at_mut(w);
        let (b1, y) = y.split_at_mut(w);
        let (b2, b3) = y.split_at_mut(w);
        let quads = as_rows_mut(b0).iter_mut().zip(as_rows_mut(b1));
        let quads = quads.zip(as_rows_mut(b2)).zip(as_rows_mut(b3));
        for ((((r0, r1), r2), r3), rows) in quads.zip(as_rows(out).as_chunks::<4>().0) {
            let [a, b, c, d] = rows;
            let t = transpose4(load(a), load(b), load(c), load(d));
            for (r, v) in [r0, r1, r2, r3].into_iter().zip(t) {
                store(r, v);
            }
        }
        for p in w / 4 * 4..w {
            for (j, b) in [&mut *b0, &mut *b1, &mut *b2, &mut *b3]
                .into_iter()
                .enumerate()
            {
                b[p] = out[p * TILE + j];
            }
        }
    }

    /// The rows of a transposed tile array.
    #[inline(always)]
    fn as_rows(v: &[f64]) -> &[[f64; TILE]] {
        v.as_chunks().0
    }

    #[inline(always)]
    fn as_rows_mut(v: &mut [f64]) -> &mut [[f64; TILE]] {
        v.as_chunks_mut().0
    }

    /// A row of a tile (`TILE` values). AVX (implied by the callers'
    /// AVX2) is part of its type, so only code already running with it
    /// can call it without `unsafe`.
    #[inline]
    #[target_feature(enable = "avx")]
    fn load(row: &[f64; TILE]) -> __m256d {
        // SAFETY: `row` holds the 4 values read.
        unsafe { _mm256_loadu_pd(row.as_ptr()) }
    }

    #[inline]
    #[target_feature(enable = "avx")]
    fn store(row: &mut [f64; TILE], v: __m256d) {
        // SAFETY: `row` holds the 4 values written.
        unsafe { _mm256_storeu_pd(row.as_mut_ptr(), v) }
    }

    /// `[first, v0, v1, v2]`: the row of left neighbours of `v`'s lanes,
    /// `first` the left neighbour of lane 0.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn neighbours(first: f64, v: __m256d) -> __m256d {
        let rotated = _mm256_permute4x64_pd::<0b10_01_00_11>(v);
        _mm256_blend_pd::<0b0001>(rotated, _mm256_set1_pd(first))
    }

    /// Lane 3 of `v`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn last_lane(v: __m256d) -> f64 {
        _mm_cvtsd_f64(_mm_unpackhi_pd(
            _mm256_extractf128_pd::<1>(v),
            _mm256_extractf128_pd::<1>(v),
        ))
    }

    /// `v` with NaN lanes made the positive quiet NaN (`super::canonical`),
    /// by bitwise operations (which the optimiser leaves as they are).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn canonical(v: __m256d) -> __m256d {
        let nan = _mm256_cmp_pd::<_CMP_UNORD_Q>(v, v);
        _mm256_or_pd(
            _mm256_andnot_pd(nan, v),
            _mm256_and_pd(nan, _mm256_set1_pd(f64::NAN)),
        )
    }

    /// `super::two_sum` on every lane: the sum and its rounding error.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn two_sum(a: __m256d, b: __m256d) -> (__m256d, __m256d) {
        let t = _mm256_add_pd(a, b);
        let bp = _mm256_sub_pd(t, a);
        let err = _mm256_add_pd(_mm256_sub_pd(a, _mm256_sub_pd(t, bp)), _mm256_sub_pd(b, bp));
        (t, err)
    }

    /// `super::compensated` on every lane.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn compensated(sum: __m256d, comp: __m256d) -> __m256d {
        let v = _mm256_add_pd(sum, comp);
        let finite = _mm256_cmp_pd::<_CMP_EQ_OQ>(_mm256_sub_pd(sum, sum), _mm256_setzero_pd());
        _mm256_blendv_pd(sum, v, finite)
    }

    /// A tile of a sum/mean window (its transposed input in `k.tile.x`,
    /// results to `k.tile.out`): `SumWindow::run`, `last` and `roll` for
    /// each block, the blocks side by side.
    pub(super) fn sum_tile(_: Avx2, k: &mut SumWindow, w: usize) {
        // SAFETY: the token proves the CPU has AVX2.
        unsafe { sum_tile_avx2(k, w) }
    }

    #[target_feature(enable = "avx2")]
    fn sum_tile_avx2(k: &mut SumWindow, w: usize) {
        let t = &mut k.tile;
        let zero = _mm256_setzero_pd();
        // The suffixes, last row first; block 3's go to the tables.
        let (mut sum, mut comp) = (zero, zero);
        let rows = as_rows(&t.x)
            .iter()
            .zip(as_rows_mut(&mut t.suf_a).iter_mut());
        let rows = rows.zip(as_rows_mut(&mut t.suf_b).iter_mut());
        let tables = k.ssum[..w].iter_mut().zip(&mut k.scomp[..w]);
        for (((x, a), b), (ts, tc)) in rows.zip(tables).rev() {
            let (s, err) = two_sum(sum, load(x));
            sum = s;
            comp = _mm256_add_pd(comp, err);
            store(a, neighbours(*ts, sum));
            store(b, neighbours(*tc, comp));
            *ts = last_lane(sum);
            *tc = last_lane(comp);
        }
        // The prefixes (each block's running compensated sum), and the
        // window ending at each offset o: the prefix to o merged with the
        // left neighbour's suffix from o + 1, in one loop so that the
        // merges' divisions overlap the chain; at w - 1, the whole block.
        let mean = k.mean;
        let wf = _mm256_set1_pd(w as f64);
        let finish = |v: __m256d| canonical(if mean { _mm256_div_pd(v, wf) } else { v });
        let (mut sum, mut comp) = (zero, zero);
        let rows = as_rows(&t.x).iter().zip(as_rows_mut(&mut t.out).iter_mut());
        let sufs = as_rows(&t.suf_a).iter().zip(as_rows(&t.suf_b)).skip(1);
        for ((x, o), (ss, sc)) in rows.zip(sufs) {
            let (s, err) = two_sum(sum, load(x));
            sum = s;
            comp = _mm256_add_pd(comp, err);
            let (s, err) = two_sum(load(ss), sum);
            let c = _mm256_add_pd(_mm256_add_pd(load(sc), err), comp);
            store(o, finish(compensated(s, c)));
        }
        let (s, err) = two_sum(sum, load(&as_rows(&t.x)[w - 1]));
        let whole = compensated(s, _mm256_add_pd(comp, err));
        store(&mut as_rows_mut(&mut t.out)[w - 1], finish(whole));
        k.sum = 0.0;
        k.comp = 0.0;
    }

    /// A tile of a var/std window, as [`sum_tile`]: `VarWindow::run`,
    /// `last` and `roll` for each block, the blocks side by side.
    pub(super) fn var_tile(_: Avx2, k: &mut VarWindow, w: usize) {
        // SAFETY: the token proves the CPU has AVX2.
        unsafe { var_tile_avx2(k, w) }
    }

    /// `super::run_step` on every lane.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn run_step(s: &mut __m256d, mu: &mut __m256d, m2: &mut __m256d, d: __m256d, inv: f64) {
        let delta = _mm256_sub_pd(d, *mu);
        *s = _mm256_add_pd(*s, d);
        *mu = _mm256_mul_pd(*s, _mm256_set1_pd(inv));
        *m2 = _mm256_add_pd(*m2, _mm256_mul_pd(delta, _mm256_sub_pd(d, *mu)));
    }

    #[target_feature(enable = "avx2")]
    fn var_tile_avx2(k: &mut VarWindow, w: usize) {
        let t = &mut k.tile;
        let zero = _mm256_setzero_pd();
        let (inv, weight) = (&k.inv[..=w], &k.weight[..w]);
        // Each block's shifts: its first value for the prefix, its last
        // for the suffixes.
        let kp = load(&as_rows(&t.x)[0]);
        let ks = load(&as_rows(&t.x)[w - 1]);
        // The suffixes, last row first (row q: w - q values); block 3's go
        // to the tables.
        let (mut s, mut mu, mut m2) = (zero, zero, zero);
        let rows = as_rows(&t.x)
            .iter()
            .zip(as_rows_mut(&mut t.suf_a).iter_mut());
        let rows = rows.zip(as_rows_mut(&mut t.suf_b).iter_mut());
        let tables = k.smu[..w].iter_mut().zip(&mut k.sm2[..w]);
        for ((((x, a), b), (tmu, tm2)), &inv) in rows.zip(tables).rev().zip(&inv[1..]) {
            run_step(&mut s, &mut mu, &mut m2, _mm256_sub_pd(load(x), ks), inv);
            store(a, neighbours(*tmu, mu));
            store(b, neighbours(*tm2, m2));
            *tmu = last_lane(mu);
            *tm2 = last_lane(m2);
        }
        // The prefixes, and the window ending at each offset o: the prefix
        // to o merged with the left neighbour's suffix from o + 1 (Chan),
        // in one loop so that the merges' square roots overlap the chain;
        // at w - 1, the whole block.
        let shift = _mm256_sub_pd(kp, neighbours(k.ks, ks));
        let (std, inv_dof) = (k.std, _mm256_set1_pd(k.inv_dof));
        let out = |m2: __m256d| {
            let neg = _mm256_cmp_pd::<_CMP_LT_OQ>(m2, zero);
            let var = _mm256_mul_pd(_mm256_blendv_pd(m2, zero, neg), inv_dof);
            canonical(if std { _mm256_sqrt_pd(var) } else { var })
        };
        let (mut s, mut mu, mut m2) = (zero, zero, zero);
        let rows = as_rows(&t.x).iter().zip(as_rows_mut(&mut t.out).iter_mut());
        let rows = rows.zip(&inv[1..]);
        let sufs = as_rows(&t.suf_a).iter().zip(as_rows(&t.suf_b).iter());
        let sufs = sufs.zip(weight).skip(1);
        for (((x, o), &inv), ((smu, sm2), &wt)) in rows.zip(sufs) {
            run_step(&mut s, &mut mu, &mut m2, _mm256_sub_pd(load(x), kp), inv);
            let d = _mm256_add_pd(shift, _mm256_sub_pd(mu, load(smu)));
            let dd = _mm256_mul_pd(_mm256_mul_pd(d, d), _mm256_set1_pd(wt));
            store(o, out(_mm256_add_pd(_mm256_add_pd(load(sm2), m2), dd)));
        }
        let x = _mm256_sub_pd(load(&as_rows(&t.x)[w - 1]), kp);
        run_step(&mut s, &mut mu, &mut m2, x, inv[w]);
        store(&mut as_rows_mut(&mut t.out)[w - 1], out(m2));
        k.ks = last_lane(ks);
        k.start_prefix();
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod wide {
    use super::{BlockElem, Blocked, SumWindow, TileScratch, VarWindow, Window};

    /// Proof that the CPU has AVX2: never made off x86-64.
    #[derive(Clone, Copy)]
    pub(super) enum Avx2 {}

    pub(super) fn push<T: BlockElem, K: Window<T>>(b: &mut Blocked<T, K>, x: &[T], y: &mut [T]) {
        b.push_blocks(x, y, None)
    }

    pub(super) fn sum_tile(never: Avx2, _: &mut SumWindow, _: usize) {
        match never {}
    }

    pub(super) fn load_tile<T>(never: Avx2, _: &mut TileScratch, _: usize, _: &[T]) {
        match never {}
    }

    pub(super) fn store_tile<T>(never: Avx2, _: &TileScratch, _: usize, _: &mut [T]) {
        match never {}
    }

    pub(super) fn var_tile(never: Avx2, _: &mut VarWindow, _: usize) {
        match never {}
    }
}
