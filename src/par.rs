//! Parallel execution: one call cut into chunks of its leading axis.
//!
//! Design:
//! - **The split is at the call, not in the code.** A call whose outputs
//!   are independent along their leading axis runs as consecutive chunks of
//!   that axis, each an ordinary kernel call of the same machine code on
//!   sub-views of the inputs and outputs (with its own temporaries). The
//!   code is the same for every length, so threads are not part of the
//!   compile-cache key, and `jit::run` checks every chunk's frame as it
//!   checks any call: no new `unsafe`.
//! - **Which calls split is decided from the IR and the call's shapes**
//!   ([`split`]): what each value must provide to one chunk of the outputs,
//!   worked backwards from the outputs. Elementwise work and lane
//!   operations along the trailing axis of a matrix (row reductions, scans,
//!   windows, differences) need only the chunk's rows of their operands;
//!   anything else that mixes elements along the leading axis (a reduction
//!   along axis 0 of a matrix, a scan, window or shift of a vector, an
//!   element rule, a full reduction used by further work) makes the call
//!   run whole on the calling thread.
//! - **`diff` along the leading axis reads a halo.** Row `i` of
//!   `diff(x, n)` (a vector, or a matrix with `axis=0`) is computed from
//!   rows `i..=i+n` of `x` and nothing else, so a chunk of rows `r0..r1`
//!   needs rows `r0..r1+n` of `x`: the analysis carries a right halo, which
//!   a `diff` adds its order to and elementwise work and row-wise lane
//!   operations pass on to their operands. An input is then cut into rows
//!   `r0..min(r1 + halo, extent)` (overlapping between chunks, read only);
//!   every value cut into rows must have the outputs' extent plus its
//!   halo, so each chunk's call infers exactly its output pieces' shapes,
//!   and a value wanted at two different halos runs the call whole. Each
//!   output element is the same operations on the same elements as in one
//!   call.
//! - **A rolling window of a vector input starts from history.** The
//!   window ending at row `i` reads the block of `w` rows holding `i` and
//!   the block before it (blocks counted from row 0, [`crate::algo`]), so
//!   a chunk starting at `r0` first feeds its stream the input's rows from
//!   [`window_history`] up to `r0` (at most `2w - 1` rows, results
//!   discarded) and then computes every window of its rows bit for bit as
//!   one call does. The chunk is cut as for elementwise work; the engine
//!   runs the call whole when a window is longer than an eighth of a
//!   chunk (the history would cost more than it saves) or its input is
//!   the output itself (the rows before the chunk are another chunk's
//!   results by then). Scans, shifts and windows of computed values along
//!   the leading axis read rows before the chunk (back to the start, `k`
//!   rows, the operand's history): they stay whole.
//! - **A recurrence is repaired chunk by chunk.** A kernel output defined
//!   by rules (`y[i] = f(y[i-1], x[i])`) that nothing else reads, whose
//!   sources are inputs read at the row itself or scalars, has a repair
//!   routine ([`crate::codegen::repairable_recurrences`]), compiled into a
//!   module of its own by the first call that splits it (a kernel never
//!   split does not pay for it: it would double a running maximum's
//!   compile, about a million instructions). Each chunk's call starts
//!   the recurrence afresh (its boundary rules at the chunk's first row);
//!   then, on the thread that ran the chunk, the routine computes the
//!   chunk's rows again from the true results before it (its *carry*,
//!   handed on by the chunk before once right) by the very rule one call
//!   runs, so every row is the same operations on the same values as in one
//!   call. Two ways keep that cheap ([`crate::codegen::RepairKind`]):
//!   - *converge*: rows are recomputed until the last `max_lag` of them come
//!     out as the chunk stored them, from where the chunk's own rows are
//!     one call's. A recurrence that forgets its start (a smoothing, EWMA
//!     with `alpha = 0.1` within about 350 rows) is repaired in a sliver
//!     of each chunk; one that never does (a sum) is recomputed whole, and
//!     after such a call the kernel's next calls run whole, twice as many
//!     after each such call in a row (at most 1024);
//!   - *fold*: a running extreme `op(y[i-1], e[i])`, `op` a `maximum` or
//!     `minimum` (or an `fmax`/`fmin` with the accumulator first), which
//!     is associative bit for bit and has an exact identity: a chunk
//!     folds its own rows from the identity (reading only its inputs),
//!     hands `op(carry, fold)` on at once, and then computes its rows from
//!     its carry while they are in the cache. Converging would recompute
//!     every chunk in which the extreme so far is not overtaken, which for
//!     the running maximum of a long series is nearly all of them.
//!
//!   A chunk whose carry is known when it starts computes its rows from it
//!   in one pass. Chunks wait only for the chunk before, which a thread
//!   took earlier (chunks are taken in order), so the wait ends; a chunk
//!   that fails hands on nothing and the ones after it stop. Fast-math's
//!   linear rules run two rows at a time from where a call starts, so
//!   their chunks' rows would not be one call's: those stay whole.
//! - **An output that is a full reduction** (all elements, or a vector's
//!   one axis) of a kind whose partials combine exactly splits too: each
//!   chunk's call reduces its own rows into a scalar of its own, and the
//!   partials are combined in chunk order after the chunks ran
//!   ([`combine`]). Exact means bit for bit what one call gives:
//!   - float `sum`/`nansum` add in the canonical pairwise order
//!     ([`crate::algo`]). Their chunks are a power of two of rows of a power
//!     of two of elements each, at least one leaf ([`crate::algo::LEAF`]):
//!     every chunk but the last holds exactly `2^level` leaves starting at a
//!     multiple of that, so its own call sums one complete subtree of the
//!     one-call tree; those sums pushed as subtrees, with the last chunk's
//!     own sum folded on top ([`crate::algo::PairwiseSum::finish_with`]),
//!     make the same additions in the same order. A matrix whose rows are
//!     not a power of two of elements is not split for a float sum;
//!   - `i64` `sum`/`nansum`/`prod` and `count_nonzero` wrap, and wrapping
//!     addition and multiplication are associative; `any`/`all` are or/and;
//!   - `min`/`max`/`nanmin`/`nanmax` (any dtype) give the first NaN (unless
//!     skipped) or else the first strict extreme, an element itself (so a
//!     zero keeps its sign and a NaN its payload): pushing the partials
//!     through the same rule finds the first NaN in the first chunk that has
//!     one, and the first strict extreme in the first chunk reaching it.
//!
//!   `mean`, `var`, `std`, float `prod` (left to right) and the arg
//!   reductions stay whole: their partials do not combine exactly.
//! - **Chunks are fixed by the problem size, never by the thread count**
//!   ([`chunk_rows`], rounded up to a power of two of rows for a float
//!   sum), and each element is computed by the same operations
//!   whichever chunk it falls in, so results do not depend on the number of
//!   threads. Chunks are many (up to [`MAX_CHUNKS`]), not one per thread:
//!   on the 2-core development machine a 1M-element memory-bound call gave
//!   2.03× with 16 chunks but as little as 1.08× with 2, because the second
//!   worker wakes late and idles behind the first's half.
//! - **Small calls stay on the calling thread** ([`THRESHOLD`]), at the cost
//!   of one comparison, and an engine configured for one thread never
//!   builds a pool.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use smallvec::SmallVec;

use crate::algo::{PairwiseSum, LEAF};
use crate::array::{BufferMut, ViewMut};
use crate::error::{Error, Result};
use crate::ir::{Ir, LaneKind, LaneOp, Op, ReduceOp, ValueId};
use crate::types::{DType, Scalar, Shape};

/// The environment variable that sets the default thread count.
pub const THREADS_ENV: &str = "ARRJIT_NUM_THREADS";

/// The environment variable that replaces [`THRESHOLD`] for engines made
/// while it is set: for measuring the threshold on another machine.
pub const THRESHOLD_ENV: &str = "ARRJIT_SPLIT_THRESHOLD";

/// The most threads an engine runs (a larger `Config::threads` or
/// environment value is clamped to it).
pub const MAX_THREADS: usize = 256;

/// Calls whose largest value has fewer elements than this run on the
/// calling thread.
///
/// Measured on the idle 2-core development machine
/// (`ARRJIT_SPLIT_THRESHOLD=1 arrjit bench EXPR --n N --modes
/// fused,fused-mt --runs 41`, medians in ms, one thread → two):
///
/// | n | `a*b+c` | `sin(a)` |
/// | ---: | --- | --- |
/// | 16K | 0.011 → 0.022 | 0.073 → 0.048 |
/// | 32K | 0.016 → 0.020 | 0.131 → 0.107 |
/// | 64K | 0.051 → 0.059 | 0.266 → 0.180 |
/// | 128K | 0.130 → 0.114 | 0.528 → 0.333 |
/// | 256K | 0.321 → 0.239 | 1.06 → 0.648 |
///
/// A memory-bound call gains from 128K elements, a compute-bound one from
/// 16K; the threshold is where neither loses (compute-bound calls between
/// 16K and 128K forgo up to 1.5×: the split does not know a call's cost
/// per element).
pub const THRESHOLD: usize = 1 << 17;

/// The fewest elements (of the largest value) a chunk gets, so that the
/// per-chunk cost (shape inference, bounds checks, the call) stays small.
pub const MIN_CHUNK: usize = 1 << 13;

/// The most chunks a call is cut into.
pub const MAX_CHUNKS: usize = 256;

/// The thread count for `Config::threads` (0: `ARRJIT_NUM_THREADS` if it
/// holds a positive integer, else every core the process may use).
pub fn resolve_threads(configured: usize) -> usize {
    let n = if configured > 0 {
        configured
    } else {
        std::env::var(THREADS_ENV)
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    };
    n.min(MAX_THREADS)
}

/// An engine's worker threads (one fewer than `threads`: the calling
/// thread works too), started on first use.
pub(crate) struct Pool {
    threads: usize,
    /// [`THRESHOLD`], or `ARRJIT_SPLIT_THRESHOLD`.
    threshold: usize,
    /// `None` if the threads could not be started: chunks then run one
    /// after another on the calling thread.
    pool: OnceLock<Option<rayon::ThreadPool>>,
    /// Calls run as chunks so far.
    split_calls: AtomicU64,
    /// Recurrence rows recomputed by repairs so far.
    repaired_rows: AtomicU64,
}

impl Pool {
    pub(crate) fn new(threads: usize) -> Pool {
        let threshold = std::env::var(THRESHOLD_ENV)
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(THRESHOLD);
        Pool {
            threads,
            threshold,
            pool: OnceLock::new(),
            split_calls: AtomicU64::new(0),
            repaired_rows: AtomicU64::new(0),
        }
    }

    /// Counts a call run as chunks.
    pub(crate) fn note_split(&self) {
        self.split_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts recurrence rows recomputed by a repair.
    pub(crate) fn note_repaired(&self, rows: usize) {
        self.repaired_rows.fetch_add(rows as u64, Ordering::Relaxed);
    }

    /// Recurrence rows recomputed by repairs so far.
    pub(crate) fn repaired_rows(&self) -> u64 {
        self.repaired_rows.load(Ordering::Relaxed)
    }

    /// Calls run as chunks so far.
    pub(crate) fn split_calls(&self) -> u64 {
        self.split_calls.load(Ordering::Relaxed)
    }

    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on every job: the calling thread and `threads - 1` pool
    /// workers take jobs in order from a shared counter until none is
    /// left, so a worker that wakes late finds less to do (or nothing)
    /// instead of holding up the call. Returns the first error in job
    /// order, so which error a failing call reports does not depend on
    /// scheduling.
    pub(crate) fn run_all<J: Send>(
        &self,
        jobs: Vec<J>,
        f: impl Fn(J) -> Result<()> + Sync,
    ) -> Result<()> {
        let n = jobs.len();
        let slots: Vec<Mutex<Option<J>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
        let results: Vec<OnceLock<Result<()>>> = (0..n).map(|_| OnceLock::new()).collect();
        let next = AtomicUsize::new(0);
        let work = || loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = slots.get(k) else { break };
            let job = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(job) = job {
                let _ = results[k].set(f(job));
            }
        };
        let helpers = self.threads.min(n).saturating_sub(1);
        let pool = match helpers {
            0 => None,
            _ => self
                .pool
                .get_or_init(|| {
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(self.threads - 1)
                        .thread_name(|k| format!("arrjit-{k}"))
                        .build()
                        .ok()
                })
                .as_ref(),
        };
        match pool {
            Some(pool) => pool.in_place_scope(|scope| {
                for _ in 0..helpers {
                    scope.spawn(|_| work());
                }
                work();
            }),
            None => work(),
        }
        results.into_iter().try_for_each(|r| {
            r.into_inner()
                .unwrap_or_else(|| Err(mismatch("a chunk did not run")))
        })
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads)
            .field("started", &self.pool.get().is_some())
            .finish()
    }
}

impl Pool {
    /// Whether a call whose values have these shapes is large enough to
    /// be worth splitting (cheap: the small-call path pays only this).
    pub(crate) fn big_enough(&self, shapes: &[Shape]) -> bool {
        shapes
            .iter()
            .any(|s| s.checked_len().is_some_and(|n| n >= self.threshold))
    }

    /// [`split`] with this pool's threshold.
    pub(crate) fn split(&self, ir: &Ir, shapes: &[Shape], repairable: &[ValueId]) -> Option<Split> {
        split_at_least(ir, shapes, self.threshold, repairable)
    }
}

/// How a call is cut: chunks of `chunk_rows` rows of the leading axis (of
/// extent `rows`); `cut[k]` says whether input `k` is cut with them (else
/// every chunk reads it whole), and `halo[k]` how many rows past the
/// chunk's end it is read (clamped to its extent; 0 unless a `diff` along
/// the leading axis reads it); `partial[j]` is `Some` for an output that
/// is a full reduction: each chunk computes it over its own rows into a
/// scalar of its own, and the partials are combined in chunk order;
/// `windows` holds the window-length operands of the rolling windows of a
/// vector input that chunks start from history (see [`window_history`]);
/// `repairs` the outputs that are recurrences, as `(output index,
/// value)`: each chunk's call starts them afresh, and they are repaired in
/// chunk order afterwards (see [`crate::codegen::repairable_recurrences`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub rows: usize,
    pub chunk_rows: usize,
    pub cut: SmallVec<[bool; 8]>,
    pub halo: SmallVec<[usize; 8]>,
    pub partial: SmallVec<[Option<Combine>; 4]>,
    pub windows: SmallVec<[ValueId; 2]>,
    pub repairs: SmallVec<[(usize, ValueId); 1]>,
}

/// How the per-chunk partials of a full reduction are combined, in chunk
/// order, into exactly the value one call over all rows gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Combine {
    pub op: ReduceOp,
    /// Float `sum`/`nansum`: every chunk but the last holds `2^level`
    /// leaves of the canonical order (0 for the other reductions).
    pub level: u32,
}

impl Split {
    /// The row ranges of the chunks, in order.
    pub fn chunks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.rows)
            .step_by(self.chunk_rows)
            .map(|r0| (r0, (r0 + self.chunk_rows).min(self.rows)))
    }
}

/// What a value must provide to one chunk of the outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// Nothing (not read by anything the outputs depend on).
    Nothing,
    /// The chunk's rows of its leading axis, which is the outputs' plus
    /// this many rows (a right halo: its extent is the outputs' plus the
    /// halo, and a chunk reads that many rows past its end).
    Rows(usize),
    /// All of it: it does not vary along the outputs' leading axis (a
    /// scalar, or an operand broadcast along that axis).
    Whole,
    /// A full reduction's partial over the chunk's rows of its operand (an
    /// output only: see [`combinable`]).
    Partial,
}

/// How to cut a call of `ir` whose values have `shapes`, or `None` if it
/// must run whole: some value mixes elements along the outputs' leading
/// axis, the outputs do not share a leading extent of at least 2, or the
/// call is too small to cut. The recurrences in `repairable` (those the
/// code has a repair routine for) do not prevent a split.
pub fn split(ir: &Ir, shapes: &[Shape], repairable: &[ValueId]) -> Option<Split> {
    split_at_least(ir, shapes, THRESHOLD, repairable)
}

/// [`split`], for calls whose largest cut value has `threshold` elements
/// or more.
fn split_at_least(
    ir: &Ir,
    shapes: &[Shape],
    threshold: usize,
    repairable: &[ValueId],
) -> Option<Split> {
    let mut need = vec![Need::Nothing; ir.nodes.len()];
    let mut cut: SmallVec<[Option<Need>; 8]> = SmallVec::from_elem(None, ir.inputs.len());
    // Per output: how its partials combine, and the elements per row of a
    // float sum's operand (whose chunks must be whole pairwise subtrees).
    let mut partial: SmallVec<[Option<Combine>; 4]> = SmallVec::new();
    let mut per_row: SmallVec<[usize; 4]> = SmallVec::new();
    let mut windows: SmallVec<[ValueId; 2]> = SmallVec::new();
    let mut repairs: SmallVec<[(usize, ValueId); 1]> = SmallVec::new();
    let mut rows = None;
    for &out in &ir.outputs {
        let (lead, combine) = match combinable(ir, shapes, out.index()) {
            Some((arg, pairwise, op)) => {
                let dims = shapes[arg].dims();
                per_row.push(if pairwise {
                    dims[1..].iter().product()
                } else {
                    0
                });
                need[out.index()] = Need::Partial;
                (dims.first(), Some(op))
            }
            None => {
                per_row.push(0);
                need[out.index()] = Need::Rows(0);
                (shapes[out.index()].dims().first(), None)
            }
        };
        let lead = *lead?;
        if *rows.get_or_insert(lead) != lead {
            return None;
        }
        partial.push(combine.map(|op| Combine { op, level: 0 }));
    }
    let rows = rows?;
    if rows < 2 {
        return None;
    }
    // Nodes are in topological order: walking backwards, every consumer of
    // a value has said what it needs before the value is looked at.
    for (v, node) in ir.nodes.iter().enumerate().rev() {
        let here = need[v];
        if here == Need::Nothing {
            continue;
        }
        let shape = shapes[v];
        // A value cut into rows has the outputs' extent plus its halo, so
        // that every chunk's pieces have the shapes its call infers.
        if let Need::Rows(h) = here {
            if shape.dims().first() != Some(&rows.checked_add(h)?) {
                return None;
            }
        }
        let mut demand = |operand: usize, what: Need| -> Option<()> {
            match need[operand] {
                Need::Nothing => {
                    need[operand] = what;
                    Some(())
                }
                // Needed whole by one consumer and by rows by another:
                // cutting it would starve one of them.
                had => (had == what).then_some(()),
            }
        };
        match &node.op {
            Op::Input(k) => {
                let k = *k;
                match cut.get(k)? {
                    None => cut[k] = Some(here),
                    Some(had) if *had == here => {}
                    Some(_) => return None,
                }
            }
            Op::Const(_) => {}
            Op::Unary(..) | Op::Binary(..) | Op::Cast(_) | Op::Where(..) => {
                for a in node.op.operands() {
                    let what = match here {
                        Need::Rows(h) if follows_rows(shapes[a.index()], shape) => Need::Rows(h),
                        _ => Need::Whole,
                    };
                    demand(a.index(), what)?;
                }
            }
            Op::Lane { arg, .. } if here == Need::Partial => {
                demand(arg.index(), Need::Rows(0))?;
            }
            Op::Lane { op, arg, param } => {
                // A lane operation needed whole would be computed again in
                // every chunk: run the call whole instead.
                let Need::Rows(h) = here else {
                    return None;
                };
                let arg_shape = shapes[arg.index()];
                let what = match op.kind {
                    _ if along_rows(op, arg_shape) => Need::Rows(h),
                    // Row i of `diff(x, n)` along the leading axis reads
                    // rows i..=i+n: a halo of n more rows.
                    LaneKind::Diff(n) if op.axis == Some(0) && arg_shape.rank() >= 1 => {
                        Need::Rows(h.checked_add(usize::try_from(n).ok()?)?)
                    }
                    // A rolling window of a vector input: each chunk's
                    // stream first takes the input's rows before the chunk
                    // that its first windows reach (`window_history`).
                    LaneKind::Rolling(_)
                        if arg_shape.rank() == 1
                            && matches!(ir.nodes[arg.index()].op, Op::Input(_)) =>
                    {
                        windows.push((*param)?);
                        Need::Rows(h)
                    }
                    _ => return None,
                };
                demand(arg.index(), what)?;
                if let Some(p) = param {
                    demand(p.index(), Need::Whole)?;
                }
            }
            // A recurrence with a repair routine is an output that
            // nothing else reads; its sources are inputs, vectors read at
            // the row itself (the chunk's rows) or scalars (whole).
            Op::Recur(rec) if here == Need::Rows(0) && repairable.contains(&ValueId(v as u32)) => {
                // One output: a value output twice is stored twice, and
                // the repair mends one vector.
                let mut outs = ir
                    .outputs
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.index() == v);
                let (out, _) = outs.next()?;
                if outs.next().is_some() {
                    return None;
                }
                repairs.push((out, ValueId(v as u32)));
                for &s in &rec.sources {
                    let what = match shapes[s.index()].rank() {
                        0 => Need::Whole,
                        _ => Need::Rows(0),
                    };
                    demand(s.index(), what)?;
                }
            }
            Op::Recur(_) => return None,
        }
    }
    // Chunks are sized by the largest value cut into rows.
    let largest = shapes
        .iter()
        .zip(&need)
        .filter(|(_, n)| matches!(n, Need::Rows(_)))
        .filter_map(|(s, _)| s.checked_len())
        .max()?;
    if largest < threshold.max(1) {
        return None;
    }
    let mut chunk = chunk_rows(rows, largest);
    // Float sums: a chunk must hold `2^level` whole leaves, so that its
    // own call sums one complete subtree of the canonical order. That
    // needs a power of two of rows (of a power of two of elements each),
    // at least a leaf's worth; still a function of the shapes only.
    let pairwise: SmallVec<[usize; 4]> = per_row.iter().copied().filter(|&p| p > 0).collect();
    if !pairwise.is_empty() {
        if !pairwise.iter().all(|p| p.is_power_of_two()) {
            return None;
        }
        let least = pairwise.iter().map(|&p| LEAF.div_ceil(p)).max()?;
        chunk = chunk.max(least).checked_next_power_of_two()?;
        if chunk >= rows {
            return None;
        }
        for (c, &p) in partial.iter_mut().zip(&per_row) {
            if let (Some(c), true) = (c.as_mut(), p > 0) {
                c.level = (chunk.checked_mul(p)? / LEAF).trailing_zeros();
            }
        }
    }
    Some(Split {
        rows,
        chunk_rows: chunk,
        cut: cut
            .iter()
            .map(|c| matches!(c, Some(Need::Rows(_))))
            .collect(),
        halo: cut
            .iter()
            .map(|c| match c {
                Some(Need::Rows(h)) => *h,
                _ => 0,
            })
            .collect(),
        partial,
        windows,
        repairs,
    })
}

/// The first row of the history a chunk's rolling window of length `w`
/// starts from when the chunk starts at row `r0`: the start of the block
/// of `w` before the one holding `r0`, blocks counted from row 0 (0 if
/// `r0` is in the first block). The window scheme ([`crate::algo`]) cuts a
/// lane into blocks of `w` from its start and the window ending at row `i`
/// reads only the block holding `i` and the one before, so a stream
/// started at this row and fed the rows up to `r0` is then in exactly the
/// state of one fed the lane from row 0: every window of the chunk is the
/// same operations on the same elements as in one call.
pub fn window_history(r0: usize, w: usize) -> usize {
    (r0 / w.max(1)).saturating_sub(1) * w.max(1)
}

/// Whether output value `v` is a full reduction whose per-chunk partials
/// combine exactly ([`combine`]): `Some((operand, pairwise, op))`, `pairwise`
/// for a float sum (whose chunks must be whole subtrees of the canonical
/// order). Full: over all elements, or along the only axis of a vector;
/// its operand has a leading axis to cut.
fn combinable(ir: &Ir, shapes: &[Shape], v: usize) -> Option<(usize, bool, ReduceOp)> {
    let Op::Lane { op, arg, .. } = &ir.nodes[v].op else {
        return None;
    };
    let LaneKind::Reduce(r) = op.kind else {
        return None;
    };
    let dims = shapes[arg.index()].dims();
    // Not empty: a float sum's chunks are counted in elements per row.
    if shapes[arg.index()].checked_len().is_none_or(|n| n == 0) {
        return None;
    }
    let full = match op.axis {
        None => !dims.is_empty(),
        Some(0) => dims.len() == 1,
        Some(_) => false,
    };
    if !full {
        return None;
    }
    let src = ir.nodes[arg.index()].dtype;
    let pairwise = match (r, src) {
        (ReduceOp::Sum | ReduceOp::NanSum, DType::F32 | DType::F64) => true,
        (ReduceOp::Sum | ReduceOp::NanSum | ReduceOp::Prod, DType::I64)
        | (ReduceOp::Min | ReduceOp::Max | ReduceOp::NanMin | ReduceOp::NanMax, _)
        | (ReduceOp::Any | ReduceOp::All | ReduceOp::CountNonzero, DType::Bool) => false,
        _ => return None,
    };
    Some((arg.index(), pairwise, r))
}

/// Combines the partials of a full reduction, one per chunk in chunk
/// order, into the value of one call over all the rows, bit for bit:
///
/// - float `sum`/`nansum`: every chunk but the last summed exactly
///   `2^level` leaves, a complete subtree of the canonical order
///   ([`crate::algo`]), pushed as one with
///   [`PairwiseSum::push_subtree`]; the last chunk's sum is folded on top
///   ([`PairwiseSum::finish_with`]): the same additions in the same order
///   as one call (the NaNs of `nansum` are zeros inside the leaves);
/// - `i64` `sum`/`nansum`/`prod` and `count_nonzero`: wrapping addition
///   and multiplication are associative, so any grouping is exact;
/// - `any`/`all`: or / and;
/// - `min`/`max`/`nanmin`/`nanmax`: a chunk's partial is its first NaN or
///   its first strict extreme (an element of it, so a zero keeps its
///   sign), and the partials are pushed through the same rule as elements
///   ([`crate::stream`]'s `Extreme`): the first NaN overall is in the
///   first chunk holding one, and the first strict extreme overall is the
///   first strict extreme of the first chunk that reaches it.
pub fn combine(c: Combine, partials: &[Scalar]) -> Result<Scalar> {
    fn floats<T: crate::algo::SumElem>(
        level: u32,
        xs: impl Iterator<Item = Option<T>>,
    ) -> Option<T> {
        let xs: SmallVec<[T; 64]> = xs.collect::<Option<_>>()?;
        let (&last, full) = xs.split_last()?;
        let mut tree = PairwiseSum::new();
        for &x in full {
            if !tree.push_subtree(x, level) {
                return None;
            }
        }
        Some(tree.finish_with(last))
    }
    use ReduceOp as R;
    let is = |d: DType| partials.iter().all(|p| p.dtype() == d);
    let ints = || {
        partials.iter().filter_map(|p| match p {
            Scalar::I64(v) => Some(*v),
            _ => None,
        })
    };
    let bools = || {
        partials.iter().filter_map(|p| match p {
            Scalar::Bool(v) => Some(*v),
            _ => None,
        })
    };
    let v = match c.op {
        _ if partials.is_empty() => None,
        R::Sum | R::NanSum if is(DType::F64) => floats(
            c.level,
            partials.iter().map(|p| match p {
                Scalar::F64(v) => Some(*v),
                _ => None,
            }),
        )
        .map(Scalar::F64),
        R::Sum | R::NanSum if is(DType::F32) => floats(
            c.level,
            partials.iter().map(|p| match p {
                Scalar::F32(v) => Some(*v),
                _ => None,
            }),
        )
        .map(Scalar::F32),
        R::Sum | R::NanSum | R::CountNonzero if is(DType::I64) => {
            Some(Scalar::I64(ints().fold(0, i64::wrapping_add)))
        }
        R::Prod if is(DType::I64) => Some(Scalar::I64(ints().fold(1, i64::wrapping_mul))),
        R::Any if is(DType::Bool) => Some(Scalar::Bool(bools().any(|b| b))),
        R::All if is(DType::Bool) => Some(Scalar::Bool(bools().all(|b| b))),
        R::Min | R::Max | R::NanMin | R::NanMax => {
            let (max, skip) = (
                matches!(c.op, R::Max | R::NanMax),
                matches!(c.op, R::NanMin | R::NanMax),
            );
            match partials[0].dtype() {
                DType::Bool if is(DType::Bool) => {
                    crate::stream::extreme_of(bools(), max, skip).map(Scalar::Bool)
                }
                DType::I32 if is(DType::I32) => crate::stream::extreme_of(
                    partials.iter().filter_map(|p| match p {
                        Scalar::I32(v) => Some(*v),
                        _ => None,
                    }),
                    max,
                    skip,
                )
                .map(Scalar::I32),
                DType::I64 if is(DType::I64) => {
                    crate::stream::extreme_of(ints(), max, skip).map(Scalar::I64)
                }
                DType::F32 if is(DType::F32) => crate::stream::extreme_of(
                    partials.iter().filter_map(|p| match p {
                        Scalar::F32(v) => Some(*v),
                        _ => None,
                    }),
                    max,
                    skip,
                )
                .map(Scalar::F32),
                DType::F64 if is(DType::F64) => crate::stream::extreme_of(
                    partials.iter().filter_map(|p| match p {
                        Scalar::F64(v) => Some(*v),
                        _ => None,
                    }),
                    max,
                    skip,
                )
                .map(Scalar::F64),
                _ => None,
            }
        }
        _ => None,
    };
    v.ok_or_else(|| mismatch(&format!("cannot combine partials of `{}`", c.op.name())))
}

/// Rows per chunk for `rows` rows and `largest` elements in the largest
/// value: at least [`MIN_CHUNK`] elements a chunk, at most [`MAX_CHUNKS`]
/// chunks. A function of the problem size only.
pub fn chunk_rows(rows: usize, largest: usize) -> usize {
    let per_row = largest.div_ceil(rows).max(1);
    MIN_CHUNK
        .div_ceil(per_row)
        .max(rows.div_ceil(MAX_CHUNKS))
        .clamp(1, rows)
}

/// Whether an elementwise operand of `operand` shape, in a result of
/// `result` shape cut into rows, is cut with it: it has the result's rank
/// (so their leading axes are aligned) and does not broadcast along it.
fn follows_rows(operand: Shape, result: Shape) -> bool {
    operand.rank() == result.rank() && operand.dims().first() == result.dims().first()
}

/// Whether a lane operation on `arg` works within rows: along the
/// trailing axis of a matrix, keeping the leading one.
fn along_rows(op: &LaneOp, arg: Shape) -> bool {
    arg.rank() == 2 && op.axis == Some(1)
}

/// `view` cut into consecutive pieces of `chunk_rows` rows of its leading
/// axis (the last may be shorter), each borrowing its own part of the
/// buffer, and checked again as a view. `None` unless the pieces' memory
/// is disjoint: the leading axis has a positive stride longer than a row's
/// reach (C order, sliced rows, a vector read forwards).
pub(crate) fn cut_rows<'b>(
    view: &'b mut ViewMut<'_>,
    chunk_rows: usize,
) -> Option<Vec<ViewMut<'b>>> {
    let dims: SmallVec<[usize; 2]> = view.shape().dims().into();
    let strides: SmallVec<[isize; 2]> = view.strides().into();
    let (&rows, rest) = dims.split_first()?;
    let s0 = strides[0];
    // The lowest and highest element of a row, from its first.
    let (lo, hi) = match (rest, strides.get(1)) {
        ([m], Some(&s1)) => {
            let reach = isize::try_from(m.checked_sub(1)?).ok()?.checked_mul(s1)?;
            (reach.min(0), reach.max(0))
        }
        _ => (0, 0),
    };
    if rows == 0 || chunk_rows == 0 || s0 <= 0 || hi - lo >= s0 {
        return None;
    }
    let offset = isize::try_from(view.offset()).ok()?;
    // Where each piece's memory starts in the buffer (after the first).
    let starts: SmallVec<[usize; 64]> = (chunk_rows..rows)
        .step_by(chunk_rows)
        .map(|r| usize::try_from(offset + r as isize * s0 + lo).ok())
        .collect::<Option<_>>()?;
    let buffers: Vec<BufferMut<'b>> = match view.buffer_mut() {
        BufferMut::Bool(s) => cut_slice(s, &starts)?
            .into_iter()
            .map(BufferMut::Bool)
            .collect(),
        BufferMut::I32(s) => cut_slice(s, &starts)?
            .into_iter()
            .map(BufferMut::I32)
            .collect(),
        BufferMut::I64(s) => cut_slice(s, &starts)?
            .into_iter()
            .map(BufferMut::I64)
            .collect(),
        BufferMut::F32(s) => cut_slice(s, &starts)?
            .into_iter()
            .map(BufferMut::F32)
            .collect(),
        BufferMut::F64(s) => cut_slice(s, &starts)?
            .into_iter()
            .map(BufferMut::F64)
            .collect(),
    };
    let mut piece_dims = dims.clone();
    buffers
        .into_iter()
        .enumerate()
        .map(|(k, buf)| {
            let r0 = k * chunk_rows;
            piece_dims[0] = chunk_rows.min(rows - r0);
            let base = if k == 0 { 0 } else { starts[k - 1] as isize };
            let first = usize::try_from(offset + r0 as isize * s0 - base).ok()?;
            ViewMut::strided(buf, first, &piece_dims, &strides).ok()
        })
        .collect()
}

/// `slice` cut at the increasing offsets `starts`: `starts.len() + 1`
/// pieces.
fn cut_slice<'b, T>(slice: &'b mut [T], starts: &[usize]) -> Option<Vec<&'b mut [T]>> {
    let mut pieces = Vec::with_capacity(starts.len() + 1);
    let (mut rest, mut at) = (slice, 0);
    for &start in starts {
        let len = start.checked_sub(at).filter(|&l| l <= rest.len())?;
        let (piece, tail) = rest.split_at_mut(len);
        pieces.push(piece);
        (rest, at) = (tail, start);
    }
    pieces.push(rest);
    Some(pieces)
}

/// A helper for errors that cannot happen when the split is right.
pub(crate) fn mismatch(what: &str) -> Error {
    Error::internal(format!("parallel split: {what}"))
}
