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
//!   anything that mixes elements along the leading axis (a reduction over
//!   all elements or along axis 0, a lane operation of a vector, an element
//!   rule) makes the call run whole on the calling thread.
//! - **Chunks are fixed by the problem size, never by the thread count**
//!   ([`chunk_rows`]), and each element is computed by the same operations
//!   whichever chunk it falls in, so results do not depend on the number of
//!   threads. Chunks are many (up to [`MAX_CHUNKS`]), not one per thread:
//!   on the 2-core development machine a 1M-element memory-bound call gave
//!   2.03× with 16 chunks but as little as 1.08× with 2, because the second
//!   worker wakes late and idles behind the first's half.
//! - **Small calls stay on the calling thread** ([`THRESHOLD`]), at the cost
//!   of one comparison, and an engine configured for one thread never
//!   builds a pool.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use smallvec::SmallVec;

use crate::array::{BufferMut, ViewMut};
use crate::error::{Error, Result};
use crate::ir::{Ir, LaneOp, Op};
use crate::types::Shape;

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
        }
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
    pub(crate) fn split(&self, ir: &Ir, shapes: &[Shape]) -> Option<Split> {
        split_at_least(ir, shapes, self.threshold)
    }
}

/// How a call is cut: chunks of `chunk_rows` rows of the leading axis (of
/// extent `rows`); `cut[k]` says whether input `k` is cut with them (else
/// every chunk reads it whole).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub rows: usize,
    pub chunk_rows: usize,
    pub cut: SmallVec<[bool; 8]>,
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
    /// The chunk's rows of its leading axis, which is the outputs'.
    Rows,
    /// All of it: it does not vary along the outputs' leading axis (a
    /// scalar, or an operand broadcast along that axis).
    Whole,
}

/// How to cut a call of `ir` whose values have `shapes`, or `None` if it
/// must run whole: some value mixes elements along the outputs' leading
/// axis, the outputs do not share a leading extent of at least 2, or the
/// call is too small to cut.
pub fn split(ir: &Ir, shapes: &[Shape]) -> Option<Split> {
    split_at_least(ir, shapes, THRESHOLD)
}

/// [`split`], for calls whose largest cut value has `threshold` elements
/// or more.
fn split_at_least(ir: &Ir, shapes: &[Shape], threshold: usize) -> Option<Split> {
    let first = shapes[ir.outputs.first()?.index()];
    let rows = *first.dims().first()?;
    if rows < 2 {
        return None;
    }
    let mut need = vec![Need::Nothing; ir.nodes.len()];
    let mut cut: SmallVec<[Option<Need>; 8]> = SmallVec::from_elem(None, ir.inputs.len());
    for &out in &ir.outputs {
        if shapes[out.index()].dims().first() != Some(&rows) {
            return None;
        }
        need[out.index()] = Need::Rows;
    }
    // Nodes are in topological order: walking backwards, every consumer of
    // a value has said what it needs before the value is looked at.
    for (v, node) in ir.nodes.iter().enumerate().rev() {
        let here = need[v];
        if here == Need::Nothing {
            continue;
        }
        let shape = shapes[v];
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
                    let what = if here == Need::Rows && follows_rows(shapes[a.index()], shape) {
                        Need::Rows
                    } else {
                        Need::Whole
                    };
                    demand(a.index(), what)?;
                }
            }
            Op::Lane { op, arg, param } => {
                // A lane operation needed whole would be computed again in
                // every chunk: run the call whole instead.
                if here != Need::Rows || !along_rows(op, shapes[arg.index()]) {
                    return None;
                }
                demand(arg.index(), Need::Rows)?;
                if let Some(p) = param {
                    demand(p.index(), Need::Whole)?;
                }
            }
            Op::Recur(_) => return None,
        }
    }
    // Chunks are sized by the largest value cut into rows.
    let largest = shapes
        .iter()
        .zip(&need)
        .filter(|(_, n)| **n == Need::Rows)
        .filter_map(|(s, _)| s.checked_len())
        .max()?;
    if largest < threshold.max(1) {
        return None;
    }
    Some(Split {
        rows,
        chunk_rows: chunk_rows(rows, largest),
        cut: cut.iter().map(|c| *c == Some(Need::Rows)).collect(),
    })
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
