//! The engine: compile once, call many.
//!
//! [`Engine`] holds the configuration and a bounded, thread-safe cache of
//! compiled kernels; it is cheap to clone (an `Arc`) and `Send + Sync`.
//! [`Engine::compile`] parses an expression; the first call with a given
//! signature (input dtypes, ranks and layout class) lowers, plans and
//! JIT-compiles it, and later calls with the same signature reuse the code.
//!
//! The cache key is everything that changes the machine code: the canonical
//! form of the expression (so spelling and whitespace don't matter), the
//! signature, and the configuration. Entries are evicted least-recently-used
//! once the capacity is reached; an evicted kernel's code memory is freed as
//! soon as the last call still running it returns (it is held by `Arc`).
//! Concurrent first calls of the same key compile once: the others wait for
//! the first.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use smallvec::SmallVec;
use std::time::{Duration, Instant};

use crate::array::{Array, Buffer, Data, View, ViewMut};
use crate::ast;
use crate::codegen::{self, CodegenOptions, OptLevel, RepairKind};
use crate::error::{Error, ErrorKind, Result, Span};
use crate::fuse::{self, BufferKind, Plan};
use crate::interp;
use crate::ir::{Ir, LaneKind, LaneOp, Op, ValueId};
use crate::jit::{self, Binding, CompiledCode, RepairMode};
use crate::lower::{self, InputType};
use crate::par;
use crate::parse;
use crate::types::{DType, Scalar, Shape, MAX_RANK};

/// How expressions are evaluated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// One compiled loop nest per output: no temporaries (the default).
    #[default]
    Fused,
    /// One compiled loop per operation, each result materialised, as NumPy
    /// does: the baseline fusion is measured against.
    Unfused,
    /// The reference interpreter: no code generation at all.
    Interpret,
}

/// Engine configuration. Everything here is part of the cache key, a
/// limit checked before compiling, or (`threads`) how calls are run.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    pub mode: Mode,
    /// Compiled kernels kept in the cache (least recently used evicted).
    pub cache_capacity: usize,
    /// Deepest nesting of the syntax tree accepted.
    pub max_depth: usize,
    /// Longest source text accepted, in bytes.
    pub max_source_len: usize,
    /// Most inputs of an expression, or parameters of a kernel.
    pub max_inputs: usize,
    /// Most outputs of a kernel.
    pub max_outputs: usize,
    /// Most loop nests in the plan of one compiled kernel, checked before
    /// code generation (whose time grows faster than linearly with them:
    /// an unfused chain of 40,000 operations took 90 s to compile).
    pub max_loops: usize,
    /// Largest machine code of one compiled kernel, in bytes; a kernel
    /// over it is refused (and its code freed) instead of cached.
    pub max_code_bytes: usize,
    /// Most machine code the cache holds in total, in bytes: least
    /// recently used kernels are evicted beyond it, as beyond
    /// `cache_capacity` (the kernel just compiled is always kept).
    pub max_cache_code_bytes: usize,
    pub opt_level: OptLevel,
    /// Run Cranelift's verifier on every kernel (slower compiles).
    pub verify: bool,
    /// Keep the Cranelift IR text and the machine code of compiled kernels
    /// (for `explain`).
    pub capture_clif: bool,
    /// Fast-math (opt-in, never the default): compiled code may contract
    /// `a*b + c` into a fused multiply-add (one rounding instead of two)
    /// and runs a linear recurrence `y[i] = c[i] + m*y[i-1]` two rows at a
    /// time (`m*m` and `m*c[i]` formed), so results may differ from the
    /// interpreter's in the last bits. They still do not depend on the
    /// thread count.
    pub fast_math: bool,
    /// Threads a large call is split over; 0 (the default): the
    /// `ARRJIT_NUM_THREADS` environment variable if it holds a positive
    /// integer, else every core the process may use. At most
    /// [`crate::par::MAX_THREADS`]. Not part of the cache key: every chunk
    /// of a split call runs the same machine code, and results do not
    /// depend on the thread count.
    pub threads: usize,
    /// Short lanes a compiled kernel runs before its second tier is
    /// compiled. A lane is short when it has 1 to `algo::LEAF` (128)
    /// elements, as the rows of a matrix of ten columns reduced along
    /// axis 1 are; the second tier computes the float `sum`, `mean`,
    /// `var`, `std`, `min`, `max`, `nanmin` and `nanmax` of such lanes in
    /// the generated code instead of calling into the reduction streams
    /// (`codegen::short`: less than half the instructions a row of ten,
    /// the same bits). The lanes are counted over calls; the call that
    /// reaches the count compiles the tier (once, taking about one and a
    /// half first compiles), and it and every later call run it. Default:
    /// [`TIER_UP_LANES`]; 0: at the first call with short lanes;
    /// `u64::MAX`: never. Not part of the cache key.
    pub tier_up_lanes: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mode: Mode::Fused,
            cache_capacity: 256,
            max_depth: parse::DEFAULT_MAX_DEPTH,
            max_source_len: 1 << 20,
            max_inputs: 64,
            max_outputs: 64,
            max_loops: 2048,
            max_code_bytes: 16 << 20,
            max_cache_code_bytes: 256 << 20,
            opt_level: OptLevel::Speed,
            verify: cfg!(debug_assertions),
            capture_clif: false,
            fast_math: false,
            threads: 0,
            tier_up_lanes: TIER_UP_LANES,
        }
    }
}

/// The default of [`Config::tier_up_lanes`], by the ski-rental rule: keep
/// paying the first tier's extra cost a short lane until it adds up to
/// the price of the second tier, then compile it, which never costs more
/// than twice what knowing the future would have. Measured on the
/// development machine: the second tier of row normalisation or softmax
/// compiles in about 1.2-1.5 ms (`cargo bench --bench compile --
/// second_tier`) and saves 40-70 ns a row of ten (500,000 × 10 in one
/// driver: row normalisation 38-41 to 17-23 ms, softmax 100-115 to 80-95
/// ms; `short_rows` in the throughput bench: 107 to 38 ns a row), so its
/// price is 20,000-35,000 lanes; the count takes the upper end.
pub const TIER_UP_LANES: u64 = 1 << 15;

/// Counters of the compile cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Calls that found their kernel compiled.
    pub hits: u64,
    /// Calls that had to compile (one per distinct key in the cache's life).
    pub misses: u64,
    /// Kernels dropped to stay within the capacity.
    pub evictions: u64,
    /// Kernels in the cache now.
    pub entries: usize,
    /// Machine code bytes of the kernels in the cache now.
    pub code_bytes: usize,
    /// Time spent lowering, planning and compiling, in total.
    pub compile_time: Duration,
    /// Calls run as chunks on the engine's threads (see [`crate::par`]).
    pub split_calls: u64,
    /// Second tiers compiled for short lanes ([`Config::tier_up_lanes`];
    /// their time is in `compile_time`, their code in `code_bytes`).
    pub tier_ups: u64,
    /// Second tiers that failed to compile (an internal error, which is a
    /// bug) or came out over `Config::max_code_bytes`; their kernels keep
    /// running their first tier.
    pub tier_up_failures: u64,
    /// Rows of recurrences that split calls computed again after their
    /// chunks ran (see [`crate::par`]): a recurrence that forgets its past
    /// (a running maximum, a smoothing) needs a few a chunk.
    pub repaired_rows: u64,
}

/// The compiled form of one expression for one signature.
#[derive(Debug)]
pub struct Compiled {
    pub ir: Ir,
    /// Whether the IR has lane operations (worked out once, not per call).
    pub has_lanes: bool,
    pub plan: Plan,
    pub code: Option<CompiledCode>,
    pub compile_time: Duration,
    /// The second tier for short lanes, if the plan has lanes it would
    /// run differently (see [`Config::tier_up_lanes`]).
    short: Option<ShortTier>,
    /// The repair routines of its recurrences, if it has any a split call
    /// can repair (see [`crate::par`]).
    repairs: Option<RepairTier>,
}

/// A kernel's repair routines, compiled by the first call that splits a
/// recurrence (a kernel never split pays nothing for them), and when to
/// stop splitting.
#[derive(Debug)]
struct RepairTier {
    /// The recurrences and how they are mended
    /// (`codegen::repairable_recurrences`).
    kinds: Vec<(ValueId, RepairKind)>,
    /// The kernel's options (the routines contract as its rules do).
    opts: CodegenOptions,
    /// `None` if they could not be compiled: the kernel's recurrences then
    /// run whole.
    code: OnceLock<Option<jit::RepairCode>>,
    backoff: RepairBackoff,
}

/// When a kernel's recurrences are split: a split call computes a
/// recurrence's chunks afresh and then repairs them in order, which pays
/// only if the repairs are short (the recurrence forgets where it started,
/// as a running maximum does). A call whose repairs recomputed more than a
/// quarter of the rows is a miss: after `m` misses in a row, the next
/// `2^m` calls (at most 1024) with recurrences to split run whole, then
/// one splits again, so a kernel whose data changes finds out.
#[derive(Debug, Default)]
struct RepairBackoff {
    misses: AtomicU32,
    skip: AtomicU32,
}

impl RepairBackoff {
    /// Whether this call should run whole (counting it off).
    fn run_whole(&self) -> bool {
        (self.skip)
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| s.checked_sub(1))
            .is_ok()
    }

    /// Records a split call whose repairs recomputed `repaired` of `rows`.
    fn record(&self, repaired: usize, rows: usize) {
        if repaired > rows / 4 {
            let m = self
                .misses
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1);
            self.skip.store(1 << m.min(10), Ordering::Relaxed);
        } else {
            self.misses.store(0, Ordering::Relaxed);
        }
    }
}

/// A kernel's second tier for short lanes: its plan compiled again with
/// `CodegenOptions::short_lanes`, when calls have run enough short lanes
/// through the first.
#[derive(Debug)]
struct ShortTier {
    /// The loop nests whose short lanes count
    /// (`codegen::short_lane_loops`).
    loops: Vec<usize>,
    /// Short lanes the first tier has run.
    lanes: AtomicU64,
    /// [`Config::tier_up_lanes`].
    threshold: u64,
    /// The first tier's options, with `short_lanes`.
    opts: CodegenOptions,
    /// Set by the one call that compiles the tier; others meanwhile keep
    /// running the first.
    compiling: AtomicBool,
    /// The tier once compiled; `None` if it could not be (an error, or
    /// code over `Config::max_code_bytes`: the first tier then stays).
    code: OnceLock<Option<CompiledCode>>,
}

impl Compiled {
    /// Machine code bytes of both tiers and the repair routines.
    pub fn code_bytes(&self) -> usize {
        let second = (self.short.as_ref())
            .and_then(|t| t.code.get())
            .and_then(Option::as_ref);
        let repairs = (self.repairs.as_ref())
            .and_then(|t| t.code.get())
            .and_then(Option::as_ref)
            .map_or(0, jit::RepairCode::code_bytes);
        (self.code.iter().chain(second))
            .map(CompiledCode::code_bytes)
            .sum::<usize>()
            + repairs
    }

    /// The recurrences a split call may repair (see [`crate::par::split`]).
    pub fn repairable(&self) -> Vec<ValueId> {
        (self.repairs.iter())
            .flat_map(|r| r.kinds.iter().map(|(v, _)| *v))
            .collect()
    }

    /// Whether calls now run the second tier for short lanes.
    pub fn tiered_up(&self) -> bool {
        (self.short.as_ref())
            .and_then(|t| t.code.get())
            .is_some_and(Option::is_some)
    }

    /// The code a call whose values have `shapes` runs: `first` (this
    /// kernel's code), or the second tier once calls have run
    /// `tier_up_lanes` short lanes, compiling it if this call is the first
    /// to reach the count (on `engine`, whose statistics and code budget
    /// it joins). Calls that reach it while another compiles run the first
    /// tier; a tier that could not be compiled leaves the first for good.
    /// The kernel's repair routines, compiled by the first call that needs
    /// them (others meanwhile wait for them: a split call is long);
    /// `None` if they could not be compiled.
    fn repair_code<'a>(
        &'a self,
        tier: &'a RepairTier,
        engine: &Engine,
    ) -> Option<&'a jit::RepairCode> {
        let mut fresh = false;
        let code = tier.code.get_or_init(|| {
            fresh = true;
            let start = Instant::now();
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                codegen::compile_repairs(&self.ir, &self.plan, &tier.opts)
            }));
            engine.lock().stats.compile_time += start.elapsed();
            match code {
                Ok(Ok(code)) => Some(code),
                Ok(Err(_)) | Err(_) => None,
            }
        });
        if fresh && code.is_some() {
            // Now that its code counts.
            engine.trim_code_memory(self);
        }
        code.as_ref()
    }

    fn code_for<'a>(
        &'a self,
        first: &'a CompiledCode,
        shapes: &[Shape],
        engine: &Engine,
    ) -> &'a CompiledCode {
        let Some(tier) = &self.short else {
            return first;
        };
        if let Some(done) = tier.code.get() {
            return done.as_ref().unwrap_or(first);
        }
        let lanes = (tier.loops.iter())
            .filter_map(|&l| self.plan.loops.get(l))
            .filter_map(|nest| {
                let g = nest.group.as_ref()?;
                let (lanes, len) = group_extents(g.axis, shapes[nest.shape_of.index()]);
                (1..=crate::algo::LEAF)
                    .contains(&len)
                    .then_some(lanes as u64)
            })
            .fold(0u64, u64::saturating_add);
        if lanes == 0 {
            return first;
        }
        let seen = tier.lanes.fetch_add(lanes, Ordering::Relaxed);
        if seen.saturating_add(lanes) < tier.threshold
            || tier.compiling.swap(true, Ordering::AcqRel)
        {
            return first;
        }
        let done = tier
            .code
            .get_or_init(|| engine.compile_tier(self, &tier.opts));
        if done.is_some() {
            // Now that its code counts.
            engine.trim_code_memory(self);
        }
        done.as_ref().unwrap_or(first)
    }
}

/// Layout class of an input, part of the cache key: whether its last axis
/// is unit-stride (or has one element), which selects the fast path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InputKey {
    pub dtype: DType,
    pub rank: u8,
    pub contiguous: bool,
}

/// The signature part of a cache key.
type InputKeys = SmallVec<[InputKey; 4]>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CacheKey {
    source: Arc<str>,
    inputs: InputKeys,
}

/// Small per-call tables, on the stack for programs of usual size.
type Small<T> = SmallVec<[T; 8]>;

type Slot = Arc<OnceLock<Result<Arc<Compiled>>>>;

struct Cache {
    map: lru::LruCache<CacheKey, Slot>,
    stats: CacheStats,
}

struct Inner {
    config: Config,
    cache: Mutex<Cache>,
    /// Hits served by an `Expr`'s own last-used kernel, without the lock.
    local_hits: AtomicU64,
    /// The worker threads large calls are split over (started on first use).
    pool: par::Pool,
}

/// A compiler and its cache; clone it freely and share it between threads.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new() -> Engine {
        Engine::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Engine {
        let capacity = NonZeroUsize::new(config.cache_capacity).unwrap_or(NonZeroUsize::MIN);
        Engine {
            inner: Arc::new(Inner {
                cache: Mutex::new(Cache {
                    map: lru::LruCache::new(capacity),
                    stats: CacheStats::default(),
                }),
                local_hits: AtomicU64::new(0),
                pool: par::Pool::new(par::resolve_threads(config.threads)),
                config,
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The threads a large call is split over: `Config::threads`, or its
    /// default worked out when the engine was made.
    pub fn threads(&self) -> usize {
        self.inner.pool.threads()
    }

    /// Parses an expression (expression mode). Names and types are checked
    /// at the first call, when the inputs' dtypes are known.
    pub fn compile(&self, src: &str) -> Result<Expr> {
        self.check_source(src)?;
        let ast = parse::parse_expr(src, self.inner.config.max_depth)?;
        let names = lower::free_names(&ast);
        self.check_count(
            "inputs",
            "the expression",
            names.len(),
            self.inner.config.max_inputs,
        )
        .map_err(|e| {
            e.or_span(first_use(&ast, &names[self.inner.config.max_inputs]).unwrap_or_default())
        })?;
        Ok(Expr {
            engine: self.clone(),
            canonical: Arc::from(ast.to_string()),
            source: Arc::from(src),
            ast: Arc::new(ast),
            names,
            last: LastCall::default(),
        })
    }

    /// Parses a source file of kernels (kernel mode).
    pub fn compile_module(&self, src: &str) -> Result<Module> {
        self.check_source(src)?;
        let module = parse::parse_module(src, self.inner.config.max_depth)?;
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for k in &module.kernels {
            let config = &self.inner.config;
            let what = format!("kernel `{}`", k.name.name);
            self.check_count("parameters", &what, k.params.len(), config.max_inputs)
                .map_err(|e| e.or_span(k.name.span))?;
            self.check_count("outputs", &what, k.outputs.len(), config.max_outputs)
                .map_err(|e| e.or_span(k.name.span))?;
            if let Some(first) = seen.insert(&k.name.name, k.name.span) {
                return Err(Error::at(
                    ErrorKind::Parse,
                    k.name.span,
                    format!("kernel `{}` is defined twice", k.name.name),
                )
                .with_note(format!("first defined at {first}")));
            }
        }
        Ok(Module {
            engine: self.clone(),
            source: Arc::from(src),
            module: Arc::new(module),
        })
    }

    /// Parses, compiles and evaluates in one go.
    pub fn eval(&self, src: &str, args: &[(&str, Arg<'_>)]) -> Result<Array> {
        self.compile(src)?.eval(args)
    }

    pub fn stats(&self) -> CacheStats {
        let cache = self.lock();
        let mut stats = cache.stats;
        stats.hits += self.inner.local_hits.load(Ordering::Relaxed);
        stats.split_calls = self.inner.pool.split_calls();
        stats.repaired_rows = self.inner.pool.repaired_rows();
        stats.entries = cache.map.len();
        stats.code_bytes = cache
            .map
            .iter()
            .filter_map(|(_, slot)| slot.get())
            .filter_map(|r| r.as_ref().ok())
            .map(|c| c.code_bytes())
            .sum();
        stats
    }

    /// Drops every cached kernel (code still running keeps its own).
    pub fn clear_cache(&self) {
        self.lock().map.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A panic while holding the lock cannot leave the LRU map in a
        // state worse than "some entry missing", so poisoning is ignored.
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check_source(&self, src: &str) -> Result<()> {
        let max = self.inner.config.max_source_len;
        if src.len() > max {
            return Err(Error::at(
                ErrorKind::Limit,
                Span::new(max, src.len()),
                format!(
                    "source is {} bytes long, more than the limit of {max}",
                    src.len()
                ),
            ));
        }
        Ok(())
    }

    fn check_count(&self, things: &str, of: &str, n: usize, max: usize) -> Result<()> {
        if n > max {
            return Err(Error::new(
                ErrorKind::Limit,
                format!("{of} has {n} {things}, more than the limit of {max}"),
            ));
        }
        Ok(())
    }

    /// The compiled kernel for `key`, compiling it (once, even when several
    /// threads ask at the same time) if the cache does not have it.
    fn get_or_compile(
        &self,
        key: CacheKey,
        build: impl FnOnce() -> Result<Ir>,
    ) -> Result<Arc<Compiled>> {
        let slot = {
            let mut cache = self.lock();
            if let Some(slot) = cache.map.get(&key) {
                let slot = slot.clone();
                cache.stats.hits += 1;
                slot
            } else {
                cache.stats.misses += 1;
                let slot: Slot = Arc::default();
                if let Some((_, evicted)) = cache.map.push(key, slot.clone()) {
                    drop(evicted);
                    cache.stats.evictions += 1;
                }
                slot
            }
        };
        let mut fresh = false;
        let result = slot.get_or_init(|| {
            fresh = true;
            let start = Instant::now();
            // A panic in lowering, planning or code generation is a bug;
            // it becomes an internal error, never an unwinding host call.
            let compiled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                build().and_then(|ir| self.codegen(ir, start))
            }))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("a panic");
                Err(Error::internal(format!("the compiler panicked: {what}")))
            });
            if let Ok(c) = &compiled {
                self.lock().stats.compile_time += c.compile_time;
            }
            compiled.map(Arc::new)
        });
        if let (true, Ok(compiled)) = (fresh, result) {
            self.trim_code_memory(compiled);
        }
        result.clone()
    }

    /// Compiles `compiled`'s second tier with `opts` (see
    /// [`Compiled::code_for`], which then trims the cache's code memory as
    /// after a first compile, keeping `compiled`). `None` if it cannot be
    /// kept:
    /// code over `max_code_bytes`, or an error or panic in code
    /// generation. That is a bug (the first tier compiled the same plan),
    /// but the call that met it, and every later one, still has the first
    /// tier, so it is counted in `tier_up_failures` rather than failing
    /// calls that did not fail before.
    fn compile_tier(&self, compiled: &Compiled, opts: &CodegenOptions) -> Option<CompiledCode> {
        let start = Instant::now();
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            codegen::compile(&compiled.ir, &compiled.plan, opts)
        }));
        let kept = match code {
            Ok(Ok(code)) => (code.code_bytes() <= self.inner.config.max_code_bytes).then_some(code),
            Ok(Err(_)) | Err(_) => None,
        };
        {
            let mut cache = self.lock();
            cache.stats.compile_time += start.elapsed();
            match kept {
                Some(_) => cache.stats.tier_ups += 1,
                None => cache.stats.tier_up_failures += 1,
            }
        }
        kept
    }

    /// Evicts least recently used kernels until the code the cache holds
    /// (both tiers) is within `max_cache_code_bytes`, never evicting `keep`
    /// (the kernel just compiled, or just given its second tier). Evicted
    /// kernels still running elsewhere are freed when their last user is
    /// done.
    fn trim_code_memory(&self, keep: &Compiled) {
        let max = self.inner.config.max_cache_code_bytes;
        let mut cache = self.lock();
        let compiled = |slot: &Slot| slot.get().and_then(|r| r.as_ref().ok()).cloned();
        let code_bytes = |slot: &Slot| compiled(slot).map_or(0, |c| c.code_bytes());
        let mut total: usize = cache.map.iter().map(|(_, s)| code_bytes(s)).sum();
        while total > max {
            // The least recently used entry other than `keep`.
            let victim = cache
                .map
                .iter()
                .rev()
                .find(|(_, s)| !compiled(s).is_some_and(|c| std::ptr::eq(&*c, keep)))
                .map(|(k, _)| k.clone());
            let Some(key) = victim else { break };
            if let Some(slot) = cache.map.pop(&key) {
                total -= code_bytes(&slot);
                cache.stats.evictions += 1;
            }
        }
    }

    fn codegen(&self, ir: Ir, start: Instant) -> Result<Compiled> {
        let config = &self.inner.config;
        let plan = match config.mode {
            Mode::Fused | Mode::Interpret => fuse::plan_fused(&ir),
            Mode::Unfused => fuse::plan_unfused(&ir),
        };
        let code = match config.mode {
            Mode::Interpret => None,
            Mode::Fused | Mode::Unfused => {
                let (loops, max) = (plan.loops.len(), config.max_loops);
                if loops > max {
                    return Err(Error::new(
                        ErrorKind::Limit,
                        format!(
                            "the plan has {loops} loop nests, more than the limit of {max} \
                             (fused code needs fewer)"
                        ),
                    ));
                }
                let opts = CodegenOptions {
                    opt_level: config.opt_level,
                    verify: config.verify,
                    capture_clif: config.capture_clif,
                    fast_math: config.fast_math,
                    short_lanes: false,
                };
                let code = codegen::compile(&ir, &plan, &opts)?;
                let (bytes, max) = (code.code_bytes(), config.max_code_bytes);
                if bytes > max {
                    return Err(Error::new(
                        ErrorKind::Limit,
                        format!(
                            "the compiled kernel has {bytes} bytes of machine code, \
                             more than the limit of {max}"
                        ),
                    ));
                }
                Some(code)
            }
        };
        let repairs = code.as_ref().and_then(|_| {
            let opts = CodegenOptions {
                opt_level: config.opt_level,
                verify: config.verify,
                capture_clif: false,
                fast_math: config.fast_math,
                short_lanes: false,
            };
            let kinds = codegen::repairable_recurrences(&ir, &plan, &opts);
            (!kinds.is_empty()).then(|| RepairTier {
                kinds,
                opts,
                code: OnceLock::new(),
                backoff: RepairBackoff::default(),
            })
        });
        let short = match (&code, config.tier_up_lanes) {
            (Some(_), threshold) if threshold != u64::MAX => {
                let loops = codegen::short_lane_loops(&plan);
                (!loops.is_empty()).then(|| ShortTier {
                    loops,
                    lanes: AtomicU64::new(0),
                    threshold,
                    opts: CodegenOptions {
                        opt_level: config.opt_level,
                        verify: config.verify,
                        capture_clif: config.capture_clif,
                        fast_math: config.fast_math,
                        short_lanes: true,
                    },
                    compiling: AtomicBool::new(false),
                    code: OnceLock::new(),
                })
            }
            _ => None,
        };
        Ok(Compiled {
            has_lanes: ir.has_lanes(),
            ir,
            plan,
            code,
            compile_time: start.elapsed(),
            short,
            repairs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Arg, Array, Config, Engine, RepairBackoff};
    use std::sync::atomic::Ordering;

    /// Calls with recurrences to split, of `calls`, that `backoff` lets
    /// split when each split call recomputes `repaired` of 100 rows.
    fn splits(backoff: &RepairBackoff, calls: usize, repaired: usize) -> Vec<bool> {
        (0..calls)
            .map(|_| {
                let split = !backoff.run_whole();
                if split {
                    backoff.record(repaired, 100);
                }
                split
            })
            .collect()
    }

    /// Kernels whose recurrences split, one per way a repair can go wrong.
    const RECURRENCES: &str = include_str!("../tests/recurrences.ak");

    /// Calls `name` on 1 thread, and on 2 and 3 with every chunk after the
    /// first taking its repair path: the same bits.
    fn repaired_like_one_thread(name: &str, args: &[(&str, Arg<'_>)]) {
        let call = |threads| {
            let e = Engine::with_config(Config {
                threads,
                ..Config::default()
            });
            let kernel = e.compile_module(RECURRENCES).unwrap().kernel(name).unwrap();
            let got = kernel.call(args).unwrap_or_else(|e| panic!("{name}: {e}"));
            (got, e.stats())
        };
        let (one, _) = call(1);
        for threads in [2, 3] {
            let (many, stats) = call(threads);
            assert_eq!(stats.split_calls, 1, "{name} splits");
            // Chunks after the first started afresh and were repaired.
            if name == "smooth" {
                assert!(stats.repaired_rows >= 47, "{}", stats.repaired_rows);
            }
            for ((out, a), (_, b)) in one.iter().zip(&many) {
                let bits = |x: &Array| (0..x.len()).map(|k| x.get(k).to_bits()).collect::<Vec<_>>();
                let (ab, bb) = (bits(a), bits(b));
                if let Some(k) = (0..a.len()).find(|&k| ab.get(k) != bb.get(k)) {
                    panic!(
                        "{name} `{out}` on {threads} threads, row {k}: {:?} vs {:?}",
                        a.get(k),
                        b.get(k)
                    );
                }
            }
        }
    }

    #[test]
    fn every_repair_path_gives_one_threads_bits() {
        super::FORCE_REPAIR_PATHS.store(true, Ordering::Relaxed);
        let t = crate::par::THRESHOLD;
        // 3t + 1 rows: the last chunk (1 row) is shorter than lag 4.
        for n in [3 * t + 1, 3 * t + 3] {
            let mut s = 0x2545_F491_4F6C_DD1Du64 ^ n as u64;
            let mut next = move || {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s
            };
            let mut at = 0.0;
            let walk: Vec<f64> = (0..n)
                .map(|_| {
                    at += (next() >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                    at
                })
                .collect();
            // NaNs with distinct payloads; zeros of both signs; a fall.
            let mut nans = walk.clone();
            for k in (n / 5..n).step_by(n / 9) {
                nans[k] = f64::from_bits(0x7ff8_0000_0000_0000 | k as u64);
            }
            let zeros: Vec<f64> = (0..n).map(|k| [0.0, -0.0, -1.5][k % 3]).collect();
            let falling: Vec<f64> = (0..n).map(|k| -(k as f64)).collect();
            // A product whose sign flips every row, through zeros.
            let flips: Vec<f64> = (0..n)
                .map(|k| if k % 8191 == 5 { 0.0 } else { -1.0 })
                .collect();
            for x in [&walk, &nans, &zeros, &falling, &flips] {
                let args = [("x", Arg::from(x.as_slice()))];
                for name in [
                    "rmax",
                    "rmin_second",
                    "rfmax",
                    "rfmin_second",
                    "smooth",
                    "lag4",
                    "boundary_past_lag",
                    "even_odd",
                    "product",
                ] {
                    repaired_like_one_thread(name, &args);
                }
                // Mixed signs, and negatives only (a running maximum that
                // an identity of 0 would spoil).
                let mixed: Vec<i32> = (0..n).map(|_| (next() % 2001) as i32 - 1500).collect();
                let negative: Vec<i32> = (0..n).map(|_| -((next() % 1000) as i32) - 2).collect();
                for (k, s) in [(&mixed, 1.5), (&negative, -0.0), (&mixed, f64::NAN)] {
                    let args = [
                        ("x", Arg::from(x.as_slice())),
                        ("k", Arg::from(k.as_slice())),
                        ("s", Arg::from(s)),
                    ];
                    repaired_like_one_thread("several", &args);
                }
            }
        }
    }

    #[test]
    fn a_sum_is_repaired_whole() {
        super::FORCE_REPAIR_PATHS.store(true, Ordering::Relaxed);
        // Positive terms: no prefix sum is 0, so no chunk started afresh
        // ever has a right row, and every row after the first chunk is
        // recomputed; the call is a miss, and the next runs whole.
        let n = 3 * crate::par::THRESHOLD + 3;
        let k: Vec<i64> = (1..=n as i64).collect();
        let e = Engine::with_config(Config {
            threads: 2,
            ..Config::default()
        });
        let kernel = e
            .compile_module(RECURRENCES)
            .unwrap()
            .kernel("isum")
            .unwrap();
        let args = [("k", Arg::from(k.as_slice()))];
        kernel.call(&args).unwrap();
        let first = crate::par::chunk_rows(n, n) as u64;
        assert_eq!(e.stats().repaired_rows, n as u64 - first);
        kernel.call(&args).unwrap();
        assert_eq!(e.stats().split_calls, 1);
    }

    #[test]
    fn repair_backoff_doubles_and_resets() {
        let b = RepairBackoff::default();
        // Cheap repairs: every call splits.
        assert!(splits(&b, 5, 25).iter().all(|&s| s));
        // Costly ones: after the m-th miss in a row, 2^m calls run whole.
        let (t, f) = (true, false);
        let want = [t, f, f, t, f, f, f, f, t, f, f, f, f, f, f, f, f, t];
        assert_eq!(splits(&b, want.len(), 26), want);
        // One cheap call ends the run of misses.
        b.skip.store(0, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(splits(&b, 2, 0), [t, t]);
        assert_eq!(splits(&b, 4, 100), [t, f, f, t]);
        // At most 1024 calls run whole.
        b.misses.store(40, std::sync::atomic::Ordering::Relaxed);
        b.record(100, 100);
        assert_eq!(b.skip.load(std::sync::atomic::Ordering::Relaxed), 1024);
    }
}

/// An input value for a call: an array view or a scalar.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    Array(View<'a>),
    Scalar(Scalar),
}

impl<'a> From<View<'a>> for Arg<'a> {
    fn from(v: View<'a>) -> Arg<'a> {
        Arg::Array(v)
    }
}

impl From<Scalar> for Arg<'_> {
    fn from(s: Scalar) -> Self {
        Arg::Scalar(s)
    }
}

macro_rules! arg_from {
    ($t:ty, $variant:ident) => {
        impl From<$t> for Arg<'_> {
            fn from(x: $t) -> Self {
                Arg::Scalar(Scalar::$variant(x))
            }
        }
        impl<'a> From<&'a [$t]> for Arg<'a> {
            fn from(s: &'a [$t]) -> Self {
                Arg::Array(View::vector(Buffer::$variant(s)))
            }
        }
        impl<'a> From<&'a Vec<$t>> for Arg<'a> {
            fn from(s: &'a Vec<$t>) -> Self {
                Arg::Array(View::vector(Buffer::$variant(s)))
            }
        }
        impl<'a, D: ndarray::Dimension> TryFrom<ndarray::ArrayView<'a, $t, D>> for Arg<'a> {
            type Error = Error;
            /// Zero-copy for any array contiguous in memory (C or Fortran
            /// order, or with reversed axes); other views must be copied by
            /// the caller (`.as_standard_layout()`), because the memory
            /// between their elements may belong to someone else.
            fn try_from(a: ndarray::ArrayView<'a, $t, D>) -> Result<Self> {
                let dims = a.shape().to_vec();
                let strides = a.strides().to_vec();
                let first = a.as_ptr() as usize;
                let slice = a.to_slice_memory_order().ok_or_else(|| {
                    Error::new(
                        ErrorKind::Call,
                        "an ndarray view that is not contiguous in memory must be copied \
                         first (as_standard_layout)",
                    )
                })?;
                let offset = (first - slice.as_ptr() as usize) / std::mem::size_of::<$t>();
                View::strided(Buffer::$variant(slice), offset, &dims, &strides).map(Arg::Array)
            }
        }
    };
}

arg_from!(bool, Bool);
arg_from!(i32, I32);
arg_from!(i64, I64);
arg_from!(f32, F32);
arg_from!(f64, F64);

/// The kernel of an [`Expr`]'s or [`Kernel`]'s last call and its
/// signature: a call with the same signature skips the engine's lock and
/// hashing. It keeps that one kernel alive while its owner lives, even if
/// the cache evicts it. A clone starts empty.
#[derive(Default)]
struct LastCall(Mutex<Option<(InputKeys, Arc<Compiled>)>>);

impl Clone for LastCall {
    fn clone(&self) -> LastCall {
        LastCall::default()
    }
}

impl LastCall {
    /// The compiled kernel of the source `canonical` for `inputs`: the
    /// last call's if the signature is the same, else the engine's
    /// (lowered by `lower` from the signature on a miss).
    fn compiled(
        &self,
        engine: &Engine,
        canonical: &Arc<str>,
        inputs: &[Input<'_>],
        lower: impl FnOnce(&[InputType]) -> Result<Ir>,
    ) -> Result<Arc<Compiled>> {
        let keys: InputKeys = inputs.iter().map(Input::key).collect();
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, compiled)) = &*last {
            if *k == keys {
                engine.inner.local_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(compiled.clone());
            }
        }
        let key = CacheKey {
            source: canonical.clone(),
            inputs: keys.clone(),
        };
        let compiled = engine.get_or_compile(key, || lower(&input_types(&keys)))?;
        *last = Some((keys, compiled.clone()));
        Ok(compiled)
    }
}

/// A parsed expression, ready to be called with inputs bound by name.
#[derive(Clone)]
pub struct Expr {
    engine: Engine,
    source: Arc<str>,
    canonical: Arc<str>,
    ast: Arc<ast::Expr>,
    names: Vec<String>,
    last: LastCall,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expr")
            .field("source", &self.source)
            .field("inputs", &self.names)
            .finish_non_exhaustive()
    }
}

impl Expr {
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The canonical (fully parenthesised) form, the cache key.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    pub fn ast(&self) -> &ast::Expr {
        &self.ast
    }

    /// The names of the inputs, in order of first appearance.
    pub fn inputs(&self) -> &[String] {
        &self.names
    }

    /// Evaluates with inputs bound by name; returns a new array (rank 0 for
    /// a scalar result).
    pub fn eval(&self, args: &[(&str, Arg<'_>)]) -> Result<Array> {
        let inputs = self.bind(args, None)?;
        let compiled = self.compiled_for(&inputs)?;
        let mut outs = run(&compiled, &inputs, &mut [], &self.engine)?;
        Ok(outs.remove(0))
    }

    /// Evaluates into a caller's array or view (`Array::view_mut`, a
    /// `&mut [T]`, or an ndarray view via `ViewMut::try_from`), which must
    /// have the result's dtype and shape; nothing is allocated for it.
    pub fn eval_into<'a>(
        &self,
        args: &[(&str, Arg<'_>)],
        out: impl Into<ViewMut<'a>>,
    ) -> Result<()> {
        let out = out.into();
        let inputs = self.bind(args, None)?;
        let compiled = self.compiled_for(&inputs)?;
        run(&compiled, &inputs, &mut [Some(out)], &self.engine).map(drop)
    }

    /// Evaluates with input `name` read from `data` and the result written
    /// back over it (`x = x * 2 + y` without a second buffer). Safe for
    /// elementwise work because every element is read before it is written,
    /// in the same iteration; refused unless the result has the dtype and
    /// shape of `data`.
    pub fn eval_in_place<'a>(
        &self,
        name: &str,
        data: impl Into<ViewMut<'a>>,
        args: &[(&str, Arg<'_>)],
    ) -> Result<()> {
        let data = data.into();
        if !self.names.iter().any(|n| n == name) {
            return Err(Error::new(
                ErrorKind::Call,
                format!("`{name}` is not an input of this expression"),
            )
            .with_note(format!("its inputs are: {}", self.names.join(", "))));
        }
        let inputs = self.bind(args, Some((name, &data)))?;
        let compiled = self.compiled_for(&inputs)?;
        if compiled.has_lanes {
            return Err(Error::new(
                ErrorKind::Call,
                "in-place evaluation needs an elementwise expression (this one has \
                 reductions, scans or windows, which read elements after writing others)",
            ));
        }
        run(&compiled, &inputs, &mut [Some(data)], &self.engine).map(drop)
    }

    /// The compiled form for these inputs (compiling it if needed), for
    /// tools that show the IR, the plan or the code.
    pub fn compiled(&self, args: &[(&str, Arg<'_>)]) -> Result<Arc<Compiled>> {
        let inputs = self.bind(args, None)?;
        self.compiled_for(&inputs)
    }

    /// The input views in `names` order; scalars become rank-0 arrays.
    /// The inputs in `names` order; scalars become rank-0 arrays. With
    /// `in_place`, that input is the output view, read before written.
    fn bind<'a>(
        &self,
        args: &[(&str, Arg<'a>)],
        in_place: Option<(&str, &ViewMut<'_>)>,
    ) -> Result<Small<Input<'a>>> {
        let mut inputs = Small::new();
        // The usual call names every input once, in order: one comparison
        // per input settles it (names are distinct, so nothing is given
        // twice or missing, and nothing is extra).
        if in_place.is_none()
            && args.len() == self.names.len()
            && args.iter().zip(&self.names).all(|((n, _), m)| n == m)
        {
            inputs.extend(args.iter().map(|(_, arg)| Input::from_arg(*arg)));
            return Ok(inputs);
        }
        for name in &self.names {
            if let Some((target, view)) = in_place {
                if target == name {
                    if args.iter().any(|(n, _)| n == name) {
                        return Err(Error::new(
                            ErrorKind::Call,
                            format!("input `{name}` is given twice (it is updated in place)"),
                        ));
                    }
                    inputs.push(Input::in_place(view));
                    continue;
                }
            }
            let mut found = args.iter().filter(|(n, _)| n == name);
            let Some((_, arg)) = found.next() else {
                return Err(self.missing_input(name, args));
            };
            if found.next().is_some() {
                return Err(Error::new(
                    ErrorKind::Call,
                    format!("input `{name}` is given twice"),
                ));
            }
            inputs.push(Input::from_arg(*arg));
        }
        if let Some((extra, _)) = args
            .iter()
            .find(|(n, _)| !self.names.iter().any(|m| m == n))
        {
            return Err(Error::new(
                ErrorKind::Call,
                format!("`{extra}` is not an input of this expression"),
            )
            .with_note(format!("its inputs are: {}", self.names.join(", "))));
        }
        Ok(inputs)
    }

    fn missing_input(&self, name: &str, args: &[(&str, Arg<'_>)]) -> Error {
        let mut err = Error::at(
            ErrorKind::Call,
            first_use(&self.ast, name).unwrap_or_default(),
            format!("no value given for input `{name}`"),
        );
        let unused = args
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| !self.names.iter().any(|m| m == n));
        if let Some(s) = crate::error::did_you_mean(name, unused) {
            err = err.with_note(format!("did you mean `{s}`, which was given a value?"));
        } else if lower::function_names().any(|f| f == name) {
            err = err.with_note(format!(
                "`{name}` is a function: call it, as in `{name}(x)`"
            ));
        }
        err
    }

    fn compiled_for(&self, inputs: &[Input<'_>]) -> Result<Arc<Compiled>> {
        self.last
            .compiled(&self.engine, &self.canonical, inputs, |types| {
                lower::lower_expr(&self.ast, &self.names, types)
            })
    }
}

/// What lowering needs of a signature: dtypes and ranks.
fn input_types(keys: &[InputKey]) -> Vec<InputType> {
    keys.iter()
        .map(|k| InputType {
            dtype: k.dtype,
            rank: k.rank,
        })
        .collect()
}

/// The span of the first use of `name` in `expr`.
fn first_use(expr: &ast::Expr, name: &str) -> Option<Span> {
    match &expr.kind {
        ast::ExprKind::Name(id) if id.name == name => Some(id.span),
        ast::ExprKind::Index { base, .. } if base.name == name => Some(base.span),
        ast::ExprKind::Unary(_, x) => first_use(x, name),
        ast::ExprKind::Binary(_, a, b) => first_use(a, name).or_else(|| first_use(b, name)),
        ast::ExprKind::Call { args, .. } => args.iter().find_map(|a| first_use(&a.value, name)),
        ast::ExprKind::List(items) => items.iter().find_map(|x| first_use(x, name)),
        _ => None,
    }
}

/// One bound input, with its layout worked out once.
struct Input<'a> {
    memory: Memory<'a>,
    layout: Layout,
}

/// Where an input's elements are.
enum Memory<'a> {
    View(View<'a>),
    /// A scalar argument, held by value (no allocation per call).
    Scalar(ScalarCell),
    /// The output view itself (in-place evaluation).
    InPlace,
}

/// One value of a dtype, as a one-element slice can borrow it.
enum ScalarCell {
    Bool([bool; 1]),
    I32([i32; 1]),
    I64([i64; 1]),
    F32([f32; 1]),
    F64([f64; 1]),
}

impl ScalarCell {
    fn view(&self) -> View<'_> {
        View::vector(match self {
            ScalarCell::Bool(v) => Buffer::Bool(v),
            ScalarCell::I32(v) => Buffer::I32(v),
            ScalarCell::I64(v) => Buffer::I64(v),
            ScalarCell::F32(v) => Buffer::F32(v),
            ScalarCell::F64(v) => Buffer::F64(v),
        })
        .scalar()
    }
}

/// The dtype, shape and element strides of a view, without its memory.
#[derive(Clone, Copy)]
struct Layout {
    dtype: DType,
    shape: Shape,
    strides: [isize; MAX_RANK],
    contiguous: bool,
}

impl Layout {
    fn of(v: &View<'_>) -> Layout {
        Layout {
            dtype: v.dtype(),
            shape: v.shape(),
            strides: v.strides_array(),
            contiguous: v.inner_contiguous(),
        }
    }
}

impl<'a> Input<'a> {
    fn from_arg(arg: Arg<'a>) -> Input<'a> {
        match arg {
            Arg::Array(v) => Input {
                memory: Memory::View(v),
                layout: Layout::of(&v),
            },
            Arg::Scalar(s) => {
                let cell = match s {
                    Scalar::Bool(v) => ScalarCell::Bool([v]),
                    Scalar::I32(v) => ScalarCell::I32([v]),
                    Scalar::I64(v) => ScalarCell::I64([v]),
                    Scalar::F32(v) => ScalarCell::F32([v]),
                    Scalar::F64(v) => ScalarCell::F64([v]),
                };
                let layout = Layout::of(&cell.view());
                Input {
                    memory: Memory::Scalar(cell),
                    layout,
                }
            }
        }
    }

    fn in_place(target: &ViewMut<'_>) -> Input<'a> {
        Input {
            memory: Memory::InPlace,
            layout: Layout::of(&target.view()),
        }
    }

    /// The memory, unless it is the output's.
    fn view(&self) -> Option<View<'_>> {
        match &self.memory {
            Memory::View(v) => Some(*v),
            Memory::Scalar(cell) => Some(cell.view()),
            Memory::InPlace => None,
        }
    }

    /// The same input, borrowed, for a chunk that reads all of it; `None`
    /// for the output's own memory (in-place), which a chunk has only its
    /// rows of.
    fn whole(&self) -> Option<Input<'_>> {
        let view = match &self.memory {
            Memory::View(v) => *v,
            Memory::Scalar(cell) => cell.view(),
            Memory::InPlace => return None,
        };
        Some(Input {
            memory: Memory::View(view),
            layout: self.layout,
        })
    }

    /// Rows `r0..r1` of the leading axis, for one chunk of a split call
    /// (the view is checked again, like any view).
    fn rows(&self, r0: usize, r1: usize) -> Result<Input<'_>> {
        let mut dims: SmallVec<[usize; MAX_RANK]> = self.layout.shape.dims().into();
        let Some(lead) = dims.first_mut() else {
            return Err(par::mismatch("a scalar input cut into rows"));
        };
        if r0 > r1 || r1 > *lead {
            return Err(par::mismatch("rows outside the input"));
        }
        *lead = r1 - r0;
        let shape = Shape::new(&dims).ok_or_else(|| par::mismatch("shape"))?;
        let memory = match &self.memory {
            Memory::View(v) => {
                let offset = isize::try_from(r0)
                    .ok()
                    .and_then(|r| r.checked_mul(v.strides()[0]))
                    .and_then(|d| d.checked_add_unsigned(v.offset()))
                    .and_then(|o| usize::try_from(o).ok())
                    .ok_or_else(|| par::mismatch("row offset"))?;
                Memory::View(View::strided(v.buffer(), offset, &dims, v.strides())?)
            }
            Memory::InPlace => Memory::InPlace,
            Memory::Scalar(_) => return Err(par::mismatch("a scalar input cut into rows")),
        };
        Ok(Input {
            memory,
            layout: Layout {
                shape,
                ..self.layout
            },
        })
    }

    fn key(&self) -> InputKey {
        InputKey {
            dtype: self.layout.dtype,
            rank: self.layout.shape.rank() as u8,
            contiguous: self.layout.contiguous,
        }
    }
}

/// Runs a compiled program on bound inputs. `targets` is empty or has one
/// entry per output: output `k` goes to `targets[k]` if it is a view (it
/// must have the right dtype and shape), else to a new array; the new
/// arrays are returned in output order. A large call whose outputs are
/// independent along their leading axis is split into chunks of it, run
/// on the engine's threads (`par`).
fn run(
    compiled: &Compiled,
    inputs: &[Input<'_>],
    targets: &mut [Option<ViewMut<'_>>],
    engine: &Engine,
) -> Result<Vec<Array>> {
    let pool = &engine.inner.pool;
    let ir = &compiled.ir;
    if !targets.is_empty() && targets.len() != ir.outputs.len() {
        return Err(Error::internal(format!(
            "{} output targets for {} outputs",
            targets.len(),
            ir.outputs.len()
        )));
    }
    let input_shapes: Small<Shape> = inputs.iter().map(|i| i.layout.shape).collect();
    let mut shapes: SmallVec<[Shape; 16]> = SmallVec::new();
    ir.infer_shapes_into(&input_shapes, &mut shapes)?;
    if compiled.has_lanes {
        check_lane_params(ir, inputs)?;
    }
    for (out, &value) in targets.iter().zip(&ir.outputs) {
        let Some(out) = out else { continue };
        let (dtype, shape) = (ir.node(value).dtype, shapes[value.index()]);
        if out.dtype() != dtype || out.shape() != shape {
            let what = if inputs.iter().any(|i| matches!(i.memory, Memory::InPlace)) {
                "the array updated in place"
            } else {
                "the output array"
            };
            return Err(Error::new(
                ErrorKind::Call,
                format!(
                    "{what} is {} of shape {}, the result is {dtype} of shape {shape}",
                    out.dtype(),
                    out.shape()
                ),
            ));
        }
    }
    let Some(code) = &compiled.code else {
        // The interpreter materialises every value: check the largest can
        // be allocated, so a huge broadcast is an error, not an abort.
        for (shape, node) in shapes.iter().zip(&ir.nodes) {
            crate::array::check_alloc(node.dtype, *shape)?;
        }
        return interpret(ir, inputs, targets);
    };
    let code = compiled.code_for(code, &shapes, engine);
    let mut outputs: Vec<Array> = Vec::with_capacity(ir.outputs.len());
    for (k, &out) in ir.outputs.iter().enumerate() {
        if matches!(targets.get(k), Some(Some(_))) {
            continue;
        }
        let shape = shapes[out.index()];
        if shape.checked_len().is_none() {
            return Err(Error::new(
                ErrorKind::Shape,
                format!("result shape {shape} is too large"),
            ));
        }
        outputs.push(Array::try_zeros(ir.node(out).dtype, shape)?);
    }
    // Small calls pay only these two comparisons for threads.
    if pool.threads() > 1 && pool.big_enough(&shapes) {
        if let Some(split) = pool.split(ir, &shapes, &compiled.repairable()) {
            let repairs = match (&compiled.repairs, split.repairs.is_empty()) {
                (_, true) => Ok(None),
                (Some(tier), false) if !tier.backoff.run_whole() => {
                    match compiled.repair_code(tier, engine) {
                        Some(code) => Ok(Some((code, &tier.backoff))),
                        None => Err(()),
                    }
                }
                _ => Err(()),
            };
            if let Ok(repairs) = repairs {
                let ran = &mut outputs;
                if run_split(code, ir, &split, inputs, targets, ran, pool, repairs)? {
                    pool.note_split();
                    return Ok(outputs);
                }
            }
        }
    }
    let mut outs: Small<Out<'_>> = Small::new();
    let (mut fresh, mut given) = (outputs.iter_mut(), targets.iter_mut());
    for _ in &ir.outputs {
        outs.push(match given.next().and_then(Option::as_mut) {
            Some(t) => Out::View(ViewMut::reborrow(t)),
            None => Out::Fresh(
                fresh
                    .next()
                    .ok_or_else(|| Error::internal("fewer fresh outputs than outputs"))?
                    .data_mut(),
            ),
        });
    }
    run_frame(code, &shapes, inputs, &mut outs, None)?;
    drop(outs);
    Ok(outputs)
}

/// Where one output of a kernel call goes.
enum Out<'a> {
    /// The elements of a fresh row-major array.
    Fresh(&'a mut Data),
    /// A caller's view, or the rows of one chunk of an output.
    View(ViewMut<'a>),
}

/// Runs a call cut by `split`: per chunk of rows, an ordinary kernel call
/// on the chunk's rows of the inputs cut with it, the whole of the others
/// and the chunk's rows of every output, each chunk with its own
/// temporaries and call frame, checked by `jit::run` like any call. An
/// output that is a full reduction goes, per chunk, to a scalar of its
/// own; those partials are combined in chunk order ([`par::combine`]) once
/// every chunk has run. The chunks run on the engine's threads. Then the
/// recurrences among the outputs, which every chunk's call started afresh,
/// are repaired chunk by chunk in order ([`jit::repair`]), and `backoff`
/// learns how much that cost.
/// `Ok(false)`, with nothing run, if an output cannot be cut into disjoint
/// pieces (a caller's view whose rows run backwards or interleave in
/// memory), or a recurrence reads the output's own memory (in place, which
/// its chunks overwrite before the repair reads it): the call then runs
/// whole.
#[allow(clippy::too_many_arguments)]
fn run_split(
    code: &CompiledCode,
    ir: &Ir,
    split: &par::Split,
    inputs: &[Input<'_>],
    targets: &mut [Option<ViewMut<'_>>],
    outputs: &mut [Array],
    pool: &par::Pool,
    repair: Option<(&jit::RepairCode, &RepairBackoff)>,
) -> Result<bool> {
    // Per recurrence: its output, the inputs its sources are, its longest
    // lag (the results a chunk hands on to the next) and how it is mended.
    let mut repairs: Small<(usize, ValueId, Small<usize>, usize, RepairKind)> = Small::new();
    for &(j, v) in &split.repairs {
        let Op::Recur(rec) = &ir.node(v).op else {
            return Err(par::mismatch("a repair of a non-recurrence"));
        };
        let mut sources = Small::with_capacity(rec.sources.len());
        for s in &rec.sources {
            let Op::Input(k) = ir.node(*s).op else {
                return Err(par::mismatch("a recurrence source that is not an input"));
            };
            // In place, a chunk's call overwrites the rows its repair
            // reads.
            if inputs.get(k).and_then(Input::view).is_none() {
                return Ok(false);
            }
            sources.push(k);
        }
        let lags = rec.max_lag() as usize;
        if lags.max(rec.boundary.len()) > split.chunk_rows {
            return Ok(false);
        }
        let kind = repair
            .and_then(|(code, _)| code.kind(v))
            .ok_or_else(|| par::mismatch("a recurrence without a repair routine"))?;
        repairs.push((j, v, sources, lags, kind));
    }
    // Chunks after the first need their call for the outputs that are not
    // recurrences, and to start the recurrences that converge afresh.
    let others = repairs.len() < ir.outputs.len();
    let routines = match (repair, repairs.is_empty()) {
        (Some((code, _)), _) => Some(code),
        (None, true) => None,
        (None, false) => return Err(par::mismatch("recurrences without repair routines")),
    };
    let converge = repairs.iter().any(|r| r.4 == RepairKind::Converge);
    // The results each chunk hands on to the next, per recurrence, once
    // they are right (`None`: the chunk failed).
    let chunks = split.chunks().count();
    let carries: Vec<OnceLock<Option<Small<Scalar>>>> = (0..chunks * repairs.len())
        .map(|_| OnceLock::new())
        .collect();
    let repaired = AtomicU64::new(0);
    // One view per output, in output order.
    let mut views: Small<ViewMut<'_>> = Small::with_capacity(ir.outputs.len());
    let (mut fresh, mut given) = (outputs.iter_mut(), targets.iter_mut());
    for _ in &ir.outputs {
        views.push(match given.next().and_then(Option::as_mut) {
            Some(t) => ViewMut::reborrow(t),
            None => fresh
                .next()
                .ok_or_else(|| Error::internal("fewer fresh outputs than outputs"))?
                .view_mut(),
        });
    }
    // Outputs cut into rows, and full reductions (combined at the end).
    let (mut row_views, mut whole_views) = (Vec::new(), Vec::new());
    for (view, combine) in views.into_iter().zip(&split.partial) {
        match combine {
            Some(c) => whole_views.push((view, *c)),
            None => row_views.push(view),
        }
    }
    let mut pieces = Vec::with_capacity(row_views.len());
    for view in row_views.iter_mut() {
        match par::cut_rows(view, split.chunk_rows) {
            Some(p) => pieces.push(p.into_iter()),
            None => return Ok(false),
        }
    }
    // One partial per chunk and full reduction, chunk by chunk.
    let reductions = whole_views.len();
    if reductions > 0 && inputs.iter().any(|i| matches!(i.memory, Memory::InPlace)) {
        // In place means one output of the input's shape: not a reduction.
        return Ok(false);
    }
    if !windows_fit(code.plan(), ir, split, inputs) {
        return Ok(false);
    }
    let mut partials: Vec<Array> = Vec::new();
    for _ in split.chunks() {
        for (view, _) in &whole_views {
            partials.push(Array::try_zeros(view.dtype(), view.shape())?);
        }
    }
    let mut chunk_partials = partials.chunks_mut(reductions.max(1));
    let mut jobs = Vec::new();
    for (r0, r1) in split.chunks() {
        let mut ins: Small<Input<'_>> = Small::with_capacity(inputs.len());
        for ((input, &cut), &halo) in inputs.iter().zip(&split.cut).zip(&split.halo) {
            ins.push(if cut {
                // A halo: rows past the chunk's end that a `diff` reads.
                let extent = input.layout.shape.dims().first().copied().unwrap_or(0);
                if halo > 0 && matches!(input.memory, Memory::InPlace) {
                    // They belong to the next chunk's output.
                    return Ok(false);
                }
                input.rows(r0, r1.saturating_add(halo).min(extent))?
            } else {
                match input.whole() {
                    Some(i) => i,
                    // The output's own memory read whole: not cut.
                    None => return Ok(false),
                }
            });
        }
        let mut mine = match reductions {
            0 => [].iter_mut(),
            _ => chunk_partials
                .next()
                .ok_or_else(|| par::mismatch("fewer partials than chunks"))?
                .iter_mut(),
        };
        let mut rows = pieces.iter_mut();
        let outs: Small<Out<'_>> = split
            .partial
            .iter()
            .map(|c| match c {
                Some(_) => mine.next().map(|a| Out::Fresh(a.data_mut())),
                None => rows.next().and_then(Iterator::next).map(Out::View),
            })
            .collect::<Option<_>>()
            .ok_or_else(|| par::mismatch("fewer output pieces than chunks"))?;
        jobs.push((r0, ins, outs));
    }
    let jobs: Vec<_> = jobs.into_iter().enumerate().collect();
    pool.run_all(jobs, |(c, (r0, ins, mut outs))| {
        // Whatever happens to this chunk, the next one's wait ends.
        let mine = &carries[c * repairs.len()..(c + 1) * repairs.len()];
        let _failed = PublishOnDrop(mine);
        let input_shapes: Small<Shape> = ins.iter().map(|i| i.layout.shape).collect();
        let mut shapes: SmallVec<[Shape; 16]> = SmallVec::new();
        ir.infer_shapes_into(&input_shapes, &mut shapes)?;
        for (out, &value) in outs.iter().zip(&ir.outputs) {
            if matches!(out, Out::View(v) if v.shape() != shapes[value.index()]) {
                return Err(par::mismatch(
                    "an output piece does not have its chunk's shape",
                ));
            }
        }
        // A chunk whose carries are known as it starts computes its
        // recurrences from them directly, in one pass, as one call would.
        let before = |r: usize| c.checked_sub(1).map(|b| &carries[b * repairs.len() + r]);
        let known = c > 0
            && !repair_paths_forced()
            && (0..repairs.len())
                .all(|r| before(r).is_some_and(|b| matches!(b.get(), Some(Some(_)))));
        // The last chunk's carry is never read (and it may be shorter
        // than a lag).
        let last = c + 1 == chunks;
        if c == 0 || others || (converge && !known) {
            run_frame(code, &shapes, &ins, &mut outs, Some((r0, inputs)))?;
        }
        for (r, (j, v, sources, lags, kind)) in repairs.iter().enumerate() {
            let Some(routines) = routines else {
                return Err(par::mismatch("recurrences without repair routines"));
            };
            let Some(Out::View(piece)) = outs.get_mut(*j) else {
                return Err(par::mismatch("a recurrence without its output piece"));
            };
            let len = piece.shape().dims().first().copied().unwrap_or(0);
            // Hands the chunk's last `lags` rows on to the next chunk.
            let hand_on = |piece: &ViewMut<'_>| -> Result<()> {
                let rows = match last {
                    true => Small::new(),
                    false => (1..=*lags)
                        .map(|k| len.checked_sub(k).map(|i| piece.view().get(&[i])))
                        .collect::<Option<_>>()
                        .ok_or_else(|| par::mismatch("a chunk shorter than a lag"))?,
                };
                let _ = mine[r].set(Some(rows));
                Ok(())
            };
            let Some(before) = before(r) else {
                hand_on(piece)?;
                continue;
            };
            let views: Small<View<'_>> = (sources.iter())
                .map(|&k| ins.get(k).and_then(Input::view))
                .collect::<Option<_>>()
                .ok_or_else(|| par::mismatch("a recurrence source"))?;
            let failed = || par::mismatch("an earlier chunk failed");
            match *kind {
                _ if known => {
                    let mut carry = wait_for(before).clone().ok_or_else(failed)?;
                    jit::repair(routines, *v, piece, &views, &mut carry, RepairMode::Scan)?;
                    hand_on(piece)?;
                }
                RepairKind::Converge => {
                    let mut carry = wait_for(before).clone().ok_or_else(failed)?;
                    let stopped = jit::repair(
                        routines,
                        *v,
                        piece,
                        &views,
                        &mut carry,
                        RepairMode::Converge,
                    )?;
                    repaired.fetch_add(stopped as u64, Ordering::Relaxed);
                    hand_on(piece)?;
                }
                RepairKind::Fold {
                    op,
                    acc_first,
                    identity,
                } => {
                    // The chunk's own fold, then its carry on to the next
                    // chunk as soon as the one before is known, then the
                    // rows from that (the fold left them in the cache).
                    let mut own = [identity];
                    jit::repair(routines, *v, piece, &views, &mut own, RepairMode::Fold)?;
                    let carry = wait_for(before)
                        .as_ref()
                        .and_then(|c| c.first().copied())
                        .ok_or_else(failed)?;
                    let next = match acc_first {
                        true => crate::scalar::try_binary(op, carry, own[0]),
                        false => crate::scalar::try_binary(op, own[0], carry),
                    }
                    .ok_or_else(|| par::mismatch("a running extreme's carry"))?;
                    let _ = mine[r].set(Some(Small::from_elem(next, 1)));
                    jit::repair(routines, *v, piece, &views, &mut [carry], RepairMode::Scan)?;
                }
            }
        }
        Ok(())
    })?;
    if !repairs.is_empty() {
        let repaired = repaired.into_inner() as usize;
        if let Some((_, backoff)) = repair {
            backoff.record(repaired, split.rows * repairs.len());
        }
        pool.note_repaired(repaired);
    }
    for (j, (view, combine)) in whole_views.iter_mut().enumerate() {
        let parts: Vec<Scalar> = partials
            .iter()
            .skip(j)
            .step_by(reductions)
            .map(|a| a.get(0))
            .collect();
        let value = par::combine(*combine, &parts)?;
        let mut result = Array::try_zeros(view.dtype(), view.shape())?;
        if value.dtype() != result.dtype() || result.len() != 1 {
            return Err(par::mismatch("a reduction's partials"));
        }
        result.data_mut().set(0, value);
        view.assign(&result);
    }
    Ok(true)
}

/// Whether split calls must take the repair paths even where a chunk's
/// carry is known as it starts (which timing decides): set by the unit
/// tests, which check those paths on every chunk.
#[cfg(test)]
static FORCE_REPAIR_PATHS: AtomicBool = AtomicBool::new(false);

fn repair_paths_forced() -> bool {
    #[cfg(test)]
    return FORCE_REPAIR_PATHS.load(Ordering::Relaxed);
    #[cfg(not(test))]
    false
}

/// Sets every carry of a chunk not set by the time it is dropped to
/// `None` (the chunk failed), so that the next chunk stops waiting.
struct PublishOnDrop<'a>(&'a [OnceLock<Option<Small<Scalar>>>]);

impl Drop for PublishOnDrop<'_> {
    fn drop(&mut self) {
        for cell in self.0 {
            let _ = cell.set(None);
        }
    }
}

/// The value of `cell` once another thread has set it: the chunk before
/// is being run by a thread that took it earlier (chunks are taken in
/// order) and waits for nothing later, so this ends.
fn wait_for<T>(cell: &OnceLock<T>) -> &T {
    let mut spins = 0u32;
    loop {
        if let Some(value) = cell.get() {
            return value;
        }
        if spins < 100 {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// Whether the rolling windows of `split` may start each chunk from
/// history (see [`par::window_history`]): every window length is known
/// (a constant or a scalar input), at least 1 and at most an eighth of a
/// chunk, so the at most `2w - 1` rows of history cost a quarter of a
/// chunk at worst; and the plan runs every window as a stream of a lane
/// group, which takes history, not as a whole-lane loop (unfused code),
/// which does not. (In-place evaluation refuses windows, so an input never
/// is the output whose rows before a chunk another chunk has written: a
/// stream would fail for want of its history rather than read them.)
fn windows_fit(plan: &Plan, ir: &Ir, split: &par::Split, inputs: &[Input<'_>]) -> bool {
    if split.windows.is_empty() {
        return true;
    }
    let lane_window = plan.loops.iter().any(|n| {
        n.lane
            .as_ref()
            .is_some_and(|l| matches!(l.op.kind, LaneKind::Rolling(_)))
    });
    if lane_window {
        return false;
    }
    split.windows.iter().all(|p| {
        let w = match &ir.node(*p).op {
            Op::Const(c) => Some(*c),
            Op::Input(k) => inputs
                .get(*k)
                .and_then(Input::view)
                .filter(|v| v.shape().rank() == 0)
                .map(|v| v.get(&[])),
            _ => None,
        };
        let w = match w {
            Some(Scalar::I64(v)) => v,
            Some(Scalar::I32(v)) => i64::from(v),
            _ => return false,
        };
        w >= 1 && u128::from(w.unsigned_abs()) * 8 <= split.chunk_rows as u128
    })
}

/// One kernel call on bound inputs and outputs (in output order), whose
/// values have `shapes`: temporaries, the call frame (byte strides of
/// every slot, loop extents), the bindings, then `jit::run`. A chunk of a
/// split call after row `before.0` of the whole call's `before.1` inputs
/// gives its window streams their history.
fn run_frame(
    code: &CompiledCode,
    shapes: &[Shape],
    inputs: &[Input<'_>],
    outs: &mut [Out<'_>],
    before: Option<(usize, &[Input<'_>])>,
) -> Result<()> {
    // This runs on every call, so it builds its small vectors in place
    // (pushes, not collects of `Result`s that are then moved: a cached
    // call of a tiny kernel spent a fifth of its time copying them).
    // The plan the code was compiled from (equal to `compiled.plan`).
    let plan = code.plan();
    let mut temps: Small<Data> = Small::new();
    for b in plan.buffers.iter().filter(|b| b.kind == BufferKind::Temp) {
        temps.push(Array::try_zeros(b.dtype, shapes[b.value.index()])?.into_data());
    }
    // Shape and element strides of each buffer.
    let buffer_layout = |b: usize| -> (Shape, [isize; MAX_RANK]) {
        let decl = &plan.buffers[b];
        let fresh = |value: ValueId| {
            let shape = shapes[value.index()];
            (shape, row_major(shape))
        };
        match decl.kind {
            BufferKind::Input(k) => (inputs[k].layout.shape, inputs[k].layout.strides),
            BufferKind::Output(k) => match &outs[k] {
                Out::View(v) => {
                    let l = Layout::of(&v.view());
                    (l.shape, l.strides)
                }
                Out::Fresh(_) => fresh(decl.value),
            },
            BufferKind::Temp => fresh(decl.value),
        }
    };
    // Byte strides of every slot along its loop's axes, and loop extents.
    let mut dims: SmallVec<[usize; 8]> = SmallVec::from_elem(0, 2 * plan.loops.len());
    for (l, nest) in plan.loops.iter().enumerate() {
        let shape = shapes[nest.shape_of.index()];
        match (&nest.lane, &nest.group) {
            (Some(lane), _) => {
                let (lanes, len) = lane_extents(&lane.op, shape);
                dims[2 * l] = lanes;
                dims[2 * l + 1] = len;
            }
            (None, Some(g)) => {
                let (lanes, len) = group_extents(g.axis, shape);
                dims[2 * l] = lanes;
                dims[2 * l + 1] = len;
            }
            (None, None) => dims[2 * l..2 * l + shape.rank()].copy_from_slice(shape.dims()),
        }
    }
    let mut strides: SmallVec<[isize; 16]> = SmallVec::from_elem(0, 2 * plan.num_slots());
    for (l, access, _) in plan.accesses() {
        let nest = &plan.loops[l];
        let (shape, st) = buffer_layout(access.buffer.index());
        let size = plan.buffers[access.buffer.index()].dtype.size() as isize;
        // Byte strides. A view reaches only inside its buffer, so along an
        // axis of two or more elements its stride times the element size
        // fits; along an axis of 0 or 1 element any stride is legal (a
        // 0 x 2^63-1 array) and may wrap here, harmlessly: it is only ever
        // multiplied by index 0, and `jit::run`'s bounds check skips
        // empty loops and computes the reach the same way. Wrapping, not
        // `*`, so that no build panics on a host's odd view.
        let bytes = |elements: isize| elements.wrapping_mul(size);
        if nest.recur.is_some() {
            // Rows of a vector source or the result; a scalar source stays.
            if shape.rank() == 1 && shape.dims()[0] != 1 {
                strides[2 * access.slot] = bytes(st[0]);
            }
            continue;
        }
        if let Some(g) = &nest.group {
            let lane_store = nest
                .stores
                .iter()
                .position(|a| a.slot == access.slot)
                .filter(|&k| g.is_lane_store(k))
                .and_then(|_| g.streams.iter().find(|s| s.value == access.value));
            let [a, b] = match lane_store {
                // A reduction's result: one element per lane.
                Some(s) => lane_strides(&s.op, shape, st, true),
                None => {
                    // The buffer broadcast into the space, per axis, then
                    // [between lanes, between elements].
                    let space = shapes[nest.shape_of.index()];
                    let per_axis = broadcast_strides(space, shape, st);
                    match space.rank() {
                        2 => {
                            // All elements are run row by row, as axis 1.
                            let a = usize::from(g.axis.min(1));
                            [per_axis[1 - a], per_axis[a]]
                        }
                        _ => [0, per_axis[0]],
                    }
                }
            };
            strides[2 * access.slot] = bytes(a);
            strides[2 * access.slot + 1] = bytes(b);
            continue;
        }
        if let Some(lane) = &nest.lane {
            // [between lanes, between elements] of the operand or result;
            // the parameter (a rank-0 input) keeps zeros.
            if access.slot != nest.loads.get(1).map_or(usize::MAX, |a| a.slot) {
                let is_result = access.slot == nest.stores[0].slot;
                let [a, b] = lane_strides(&lane.op, shape, st, is_result);
                strides[2 * access.slot] = bytes(a);
                strides[2 * access.slot + 1] = bytes(b);
            }
            continue;
        }
        let iter = shapes[nest.shape_of.index()];
        let (ri, rb) = (iter.rank(), shape.rank());
        for axis in 0..ri {
            // Align trailing axes; missing or length-1 axes broadcast.
            let stride = match (axis + rb).checked_sub(ri) {
                Some(ba) if shape.dims()[ba] != 1 => bytes(st[ba]),
                _ => 0,
            };
            strides[2 * access.slot + axis] = stride;
        }
    }
    let output0 = plan
        .buffers
        .iter()
        .position(|b| b.kind == BufferKind::Output(0))
        .expect("a plan has output 0");
    let mut temps_iter = temps.iter_mut();
    let mut outs_iter = outs.iter_mut();
    let mut bindings: Small<Binding<'_>> = Small::new();
    for b in &plan.buffers {
        bindings.push(match b.kind {
            BufferKind::Input(k) => match inputs[k].view() {
                None => Binding::Alias(output0),
                Some(view) => Binding::Input(view),
            },
            // Output buffers are in output order, one per output.
            BufferKind::Output(_) => match outs_iter.next().expect("one per output") {
                Out::Fresh(data) => Binding::Output(data),
                Out::View(view) => Binding::OutputView(ViewMut::reborrow(view)),
            },
            BufferKind::Temp => Binding::Output(temps_iter.next().expect("one per temporary")),
        });
    }
    let whole: Small<Option<View<'_>>> = match before {
        Some((_, all)) => plan
            .buffers
            .iter()
            .map(|b| match b.kind {
                BufferKind::Input(k) => all.get(k).and_then(Input::view),
                _ => None,
            })
            .collect(),
        None => Small::new(),
    };
    let history = before.map(|(row0, _)| jit::History {
        row0,
        inputs: &whole,
    });
    jit::run(code, plan, &mut bindings, &strides, &dims, history.as_ref())
}

/// Interpret mode: evaluate, then copy each output that has a target into
/// it; the others are returned, in output order.
fn interpret(
    ir: &Ir,
    inputs: &[Input<'_>],
    targets: &mut [Option<ViewMut<'_>>],
) -> Result<Vec<Array>> {
    let results = {
        let target_view = targets.first().and_then(Option::as_ref).map(|t| t.view());
        let views = inputs
            .iter()
            .map(|i| {
                i.view()
                    .or(target_view)
                    .ok_or_else(|| Error::internal("an in-place input without a target"))
            })
            .collect::<Result<Vec<View<'_>>>>()?;
        interp::eval(ir, &views)?
    };
    let mut fresh = Vec::with_capacity(results.len());
    for (k, result) in results.into_iter().enumerate() {
        match targets.get_mut(k) {
            Some(Some(t)) => t.assign(&result),
            _ => fresh.push(result),
        }
    }
    Ok(fresh)
}

/// Window lengths and `alpha`s given as scalar inputs, checked before
/// anything runs (literal ones were checked when lowering).
fn check_lane_params(ir: &Ir, inputs: &[Input<'_>]) -> Result<()> {
    for node in &ir.nodes {
        let Op::Lane {
            op, param: Some(p), ..
        } = node.op
        else {
            continue;
        };
        let param = ir.node(p);
        let Op::Input(k) = param.op else { continue };
        let Some(value) = inputs[k].view().map(|v| v.get(&[])) else {
            continue;
        };
        let name = op.name();
        match op.kind {
            LaneKind::Rolling(_) => {
                let w = match value {
                    Scalar::I32(w) => i64::from(w),
                    Scalar::I64(w) => w,
                    _ => continue,
                };
                if w < 1 {
                    return Err(Error::at(
                        ErrorKind::Call,
                        param.span,
                        format!("the window length of `{name}` must be at least 1, got {w}"),
                    ));
                }
            }
            LaneKind::Ewm => {
                let a = value.as_f64();
                if !(a > 0.0 && a <= 1.0) {
                    return Err(Error::at(
                        ErrorKind::Call,
                        param.span,
                        format!("`alpha` of `{name}` must be in (0, 1], got {a}"),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The number of lanes and the lane length of a lane operation on an
/// operand of `shape`.
fn lane_extents(op: &LaneOp, shape: Shape) -> (usize, usize) {
    match (op.axis, shape.dims()) {
        (None, _) => (1, shape.checked_len().unwrap_or(0)),
        (Some(_), [n]) => (1, *n),
        (Some(a), [n, m]) => {
            if a == 0 {
                (*m, *n)
            } else {
                (*n, *m)
            }
        }
        (Some(_), _) => (1, 1),
    }
}

/// The number of lanes and the lane length of a lane group over `shape`
/// along `axis`.
fn group_extents(axis: u8, shape: Shape) -> (usize, usize) {
    match shape.dims() {
        [n, m] if axis == 0 => (*m, *n),
        [n, m] => (*n, *m),
        [n] => (1, *n),
        _ => (1, 1),
    }
}

/// Element strides, per axis of `space`, of a buffer of `shape` with
/// element strides `st` broadcast into it (trailing axes aligned; missing
/// and length-1 axes get 0).
fn broadcast_strides(space: Shape, shape: Shape, st: [isize; MAX_RANK]) -> [isize; MAX_RANK] {
    let (ri, rb) = (space.rank(), shape.rank());
    let mut out = [0; MAX_RANK];
    for (axis, slot) in out.iter_mut().enumerate().take(ri) {
        if let Some(ba) = (axis + rb).checked_sub(ri) {
            if shape.dims()[ba] != 1 {
                *slot = st[ba];
            }
        }
    }
    out
}

/// Element strides `[between lanes, between elements]` of a lane
/// operation's operand (`is_result` false) or result, from the buffer's
/// shape and element strides `st`.
fn lane_strides(op: &LaneOp, shape: Shape, st: [isize; MAX_RANK], is_result: bool) -> [isize; 2] {
    let reduce = matches!(op.kind, LaneKind::Reduce(_));
    match (op.axis, shape.rank()) {
        // A reduction's result holds one element per lane.
        _ if is_result && reduce => match (op.axis, shape.rank(), op.keepdims) {
            (Some(_), 1, false) => [st[0], 0],
            (Some(a), 2, true) => [st[1 - usize::from(a)], 0],
            _ => [0, 0],
        },
        (_, 0) => [0, 0],
        (_, 1) => [0, st[0]],
        // All elements of a row-major buffer (a matrix input is copied
        // into one first): one lane.
        (None, _) => [0, st[1]],
        (Some(a), _) => {
            let a = usize::from(a);
            [st[1 - a], st[a]]
        }
    }
}

fn row_major(shape: Shape) -> [isize; MAX_RANK] {
    match shape.dims() {
        [_, m] => [*m as isize, 1],
        _ => [1, 0],
    }
}

/// A parsed source file of kernels.
#[derive(Clone)]
pub struct Module {
    engine: Engine,
    source: Arc<str>,
    module: Arc<ast::Module>,
}

impl Module {
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn kernel_names(&self) -> Vec<&str> {
        self.module
            .kernels
            .iter()
            .map(|k| k.name.name.as_str())
            .collect()
    }

    pub fn kernel(&self, name: &str) -> Result<Kernel> {
        let Some(k) = self.module.kernels.iter().position(|k| k.name.name == name) else {
            let mut err = Error::new(
                ErrorKind::UnknownName,
                format!("no kernel named `{name}` in this source"),
            );
            if let Some(s) = crate::error::did_you_mean(name, self.kernel_names()) {
                err = err.with_note(format!("did you mean `{s}`?"));
            }
            return Err(err.with_note(format!("kernels: {}", self.kernel_names().join(", "))));
        };
        let ast = &self.module.kernels[k];
        Ok(Kernel {
            engine: self.engine.clone(),
            module: self.module.clone(),
            index: k,
            canonical: Arc::from(format!("{ast}")),
            params: ast.params.iter().map(|p| p.name.name.clone()).collect(),
            last: LastCall::default(),
        })
    }
}

/// One kernel of a module: call it with its parameters bound by name.
#[derive(Clone)]
pub struct Kernel {
    engine: Engine,
    module: Arc<ast::Module>,
    index: usize,
    /// The kernel's canonical text, its cache key.
    canonical: Arc<str>,
    params: Vec<String>,
    last: LastCall,
}

impl Kernel {
    fn ast(&self) -> &ast::Kernel {
        &self.module.kernels[self.index]
    }

    pub fn name(&self) -> &str {
        &self.ast().name.name
    }

    pub fn params(&self) -> Vec<&str> {
        self.params.iter().map(String::as_str).collect()
    }

    pub fn outputs(&self) -> Vec<&str> {
        self.ast()
            .outputs
            .iter()
            .map(|p| p.name.name.as_str())
            .collect()
    }

    /// What the kernel compiles to for these arguments (compiling it if
    /// needed): its IR, fusion plan and code, as `explain` shows them.
    pub fn compiled(&self, args: &[(&str, Arg<'_>)]) -> Result<Arc<Compiled>> {
        let (inputs, _) = self.bind(args)?;
        self.compiled_for(&inputs)
    }

    /// The inputs for `args` in parameter order, with the named dimensions
    /// they fix.
    #[allow(clippy::type_complexity)]
    fn bind<'k, 'a>(&'k self, args: &[(&str, Arg<'a>)]) -> Result<(Small<Input<'a>>, Dims<'k>)> {
        let kernel = self.ast();
        let mut inputs: Small<Input<'_>> = Small::new();
        // Every parameter named once, in order (the usual call): matched
        // by one comparison each, as `Expr::bind` does.
        let in_order = args.len() == kernel.params.len()
            && args
                .iter()
                .zip(&kernel.params)
                .all(|((n, _), p)| *n == p.name.name);
        for (k, param) in kernel.params.iter().enumerate() {
            if in_order {
                inputs.push(Input::from_arg(scalar_for_param(args[k].1, param)));
                continue;
            }
            let name = param.name.name.as_str();
            let mut found = args.iter().filter(|(n, _)| *n == name);
            let Some((_, arg)) = found.next() else {
                return Err(Error::at(
                    ErrorKind::Call,
                    param.name.span,
                    format!(
                        "no value given for parameter `{name}` of kernel `{}`",
                        self.name()
                    ),
                ));
            };
            if found.next().is_some() {
                return Err(Error::new(
                    ErrorKind::Call,
                    format!("parameter `{name}` is given twice"),
                ));
            }
            inputs.push(Input::from_arg(scalar_for_param(*arg, param)));
        }
        if let Some((extra, _)) = args
            .iter()
            .filter(|_| !in_order)
            .find(|(n, _)| !self.params.iter().any(|p| p == n))
        {
            let mut err = Error::new(
                ErrorKind::Call,
                format!("`{extra}` is not a parameter of kernel `{}`", self.name()),
            );
            if let Some(s) = crate::error::did_you_mean(extra, self.params()) {
                err = err.with_note(format!("did you mean `{s}`?"));
            }
            return Err(err.with_note(format!("its parameters are: {}", self.params.join(", "))));
        }
        // Named dimensions agree across parameters (`x: f64[n], y: f64[n]`).
        let mut dims = Dims::new();
        for (param, input) in kernel.params.iter().zip(&inputs) {
            for (dim, &extent) in param.ty.dims.iter().zip(input.layout.shape.dims()) {
                check_dim(&mut dims, dim, extent, &param.name.name)?;
            }
        }
        Ok((inputs, dims))
    }

    /// The compiled kernel (IR, plan, code) for a signature.
    fn compiled_for(&self, inputs: &[Input<'_>]) -> Result<Arc<Compiled>> {
        self.last
            .compiled(&self.engine, &self.canonical, inputs, |types| {
                lower::lower_kernel(self.ast(), types)
            })
    }

    /// Calls the kernel; returns its outputs in declaration order, by name.
    pub fn call(&self, args: &[(&str, Arg<'_>)]) -> Result<Vec<(String, Array)>> {
        self.call_into(args, &mut [])
    }

    /// Calls the kernel, writing each output named in `outs` into the
    /// caller's array or view (`Array::view_mut`, a `&mut [T]`, or an
    /// ndarray view via `ViewMut::try_from`), which must have the output's
    /// dtype and shape; nothing is allocated for those. Returns the other
    /// outputs, in declaration order, by name (none if `outs` names them
    /// all). The views may be reused from call to call.
    ///
    /// Every check (names, dtypes, shapes, named dimensions) is made
    /// before anything is written. Inputs and outputs cannot share memory:
    /// a `View` and a `ViewMut` of the same elements cannot both exist.
    pub fn call_into(
        &self,
        args: &[(&str, Arg<'_>)],
        outs: &mut [(&str, ViewMut<'_>)],
    ) -> Result<Vec<(String, Array)>> {
        let kernel = self.ast();
        let (inputs, mut dims) = self.bind(args)?;
        let mut targets: Small<Option<ViewMut<'_>>> = kernel.outputs.iter().map(|_| None).collect();
        for (name, view) in outs.iter_mut() {
            let Some(k) = kernel.outputs.iter().position(|o| o.name.name == *name) else {
                let mut err = Error::new(
                    ErrorKind::Call,
                    format!("`{name}` is not an output of kernel `{}`", self.name()),
                );
                if let Some(s) = crate::error::did_you_mean(name, self.outputs()) {
                    err = err.with_note(format!("did you mean `{s}`?"));
                }
                return Err(
                    err.with_note(format!("its outputs are: {}", self.outputs().join(", ")))
                );
            };
            if targets[k].is_some() {
                return Err(Error::new(
                    ErrorKind::Call,
                    format!("output `{name}` is given twice"),
                ));
            }
            targets[k] = Some(ViewMut::reborrow(view));
        }
        let compiled = self.compiled_for(&inputs)?;
        // Output extents against the named dimensions and the caller's
        // views, before anything runs.
        let ir = &compiled.ir;
        let input_shapes: Small<Shape> = inputs.iter().map(|i| i.layout.shape).collect();
        let mut shapes: SmallVec<[Shape; 16]> = SmallVec::new();
        ir.infer_shapes_into(&input_shapes, &mut shapes)?;
        for ((decl, &value), target) in kernel.outputs.iter().zip(&ir.outputs).zip(&targets) {
            let (dtype, shape) = (ir.node(value).dtype, shapes[value.index()]);
            for (dim, &extent) in decl.ty.dims.iter().zip(shape.dims()) {
                check_dim(&mut dims, dim, extent, &decl.name.name)?;
            }
            if let Some(view) = target {
                if view.dtype() != dtype || view.shape() != shape {
                    return Err(Error::new(
                        ErrorKind::Call,
                        format!(
                            "the array given for output `{}` is {} of shape {}, \
                             the output is {dtype} of shape {shape}",
                            decl.name.name,
                            view.dtype(),
                            view.shape()
                        ),
                    ));
                }
            }
        }
        let fresh = run(&compiled, &inputs, &mut targets, &self.engine)?;
        Ok(kernel
            .outputs
            .iter()
            .zip(&targets)
            .filter(|(_, t)| t.is_none())
            .map(|(o, _)| o.name.name.clone())
            .zip(fresh)
            .collect())
    }
}

/// A scalar argument converted to a typed scalar parameter's dtype when
/// nothing is lost in kind (an integer or bool for a float parameter, a
/// bool for an integer one, i32 for i64), as a literal would be; anything
/// else is left for the type check to refuse.
fn scalar_for_param<'a>(arg: Arg<'a>, param: &ast::Param) -> Arg<'a> {
    let (Arg::Scalar(s), Some(d), true) = (arg, param.ty.dtype, param.ty.dims.is_empty()) else {
        return arg;
    };
    let from = s.dtype();
    let widens = from == d
        || (d.is_float() && !from.is_float())
        || (d.is_int() && from == DType::Bool)
        || (from == DType::I32 && d == DType::I64)
        || (from == DType::F32 && d == DType::F64);
    if widens {
        Arg::Scalar(crate::scalar::cast(s, d))
    } else {
        arg
    }
}

/// The extents of a kernel's named dimensions, as its parameters fix them
/// (a handful: searched in order, with no hashing or allocation per call).
type Dims<'k> = SmallVec<[(&'k str, usize); 8]>;

/// Records (or checks) the extent of a named dimension.
fn check_dim<'k>(
    dims: &mut Dims<'k>,
    dim: &'k ast::Ident,
    extent: usize,
    owner: &str,
) -> Result<()> {
    let known = dims
        .iter()
        .find(|(name, _)| *name == dim.name)
        .map(|&(_, e)| e);
    match known {
        Some(known) if known != extent => Err(Error::at(
            ErrorKind::Shape,
            dim.span,
            format!(
                "dimension `{}` is {known} elsewhere, but {extent} for `{owner}`",
                dim.name
            ),
        )),
        Some(_) => Ok(()),
        None => {
            dims.push((&dim.name, extent));
            Ok(())
        }
    }
}
