//! Code generation: a fusion [`Plan`] to one Cranelift function.
//!
//! Every kernel has the entry ABI described in [`crate::jit`]:
//! `extern "C" fn(buffers, strides, dims)`. For each loop nest of the plan,
//! in order, the generated code reads the nest's extents and each slot's
//! base pointer and byte strides once (they are loop invariant), then runs
//!
//! - rank 0: the body once, straight-line;
//! - rank 1: one loop, advancing every slot's pointer by its stride;
//! - rank 2: a loop over rows (each slot's row pointer advances by its
//!   axis-0 stride) around a loop over columns (axis-1 stride).
//!
//! Loops are bottom-tested (`do { body } while (++i != n)`) behind one
//! up-front test for an empty iteration space, so a non-empty loop costs one
//! compare and branch per iteration. Loop counters and slot pointers are
//! frontend `Variable`s; the SSA construction makes them block parameters.
//!
//! The body loads the nest's `loads`, computes its `compute` values in order
//! and stores its `stores`. Element semantics are those of
//! [`crate::scalar`], bit for bit: what is cheap and exact is inlined
//! (integer and IEEE arithmetic, comparisons, selects, casts, rounding,
//! `sqrt`, NaN-aware min/max built from compares and selects, and integer
//! `//`, `%`, `fmod` with their divisor-0 and `MIN / -1` cases guarded so no
//! instruction can trap); everything else (transcendentals, `**`, `hypot`,
//! `arctan2`, float `//`, `%`, `fmod`, integer `**`) calls the very
//! `extern "C"` function of `scalar` the interpreter uses. `bool` values are
//! `i8` 0/1 in registers and one byte in memory.
//!
//! Nothing here is `unsafe`: the finished function is handed to
//! [`crate::jit::KernelModule`], which owns the executable memory.

use std::cell::RefCell;
use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::{
    types, FuncRef, Function, InstBuilder, MemFlagsData, Type, UserFuncName, Value,
};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};

use crate::error::{Error, Result};
use crate::fuse::{Access, BufferKind, Group, LoopNest, Plan, Segment, Step, BLOCK};
use crate::ir::{BinaryOp, Ir, LaneKind, Op, UnaryOp, ValueId};
use crate::jit::{self, CompiledCode, HostFn, KernelModule, LaneRoutine};
use crate::scalar;
use crate::types::{DType, Scalar};
use simd::{Lanes, Place, Reach, VectorBody};

/// How hard Cranelift optimises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OptLevel {
    /// No optimisation passes (fastest compile).
    None,
    /// Cranelift's `speed` level (e-graph rewrites, LICM, GVN).
    #[default]
    Speed,
}

/// Options of one compilation; all of them change the generated code or
/// what is kept of it, so they belong in a cache key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CodegenOptions {
    pub opt_level: OptLevel,
    /// Run Cranelift's IR verifier (more compile time; on in tests).
    pub verify: bool,
    /// Keep the CLIF text of the kernel ([`CompiledCode::clif`]).
    pub capture_clif: bool,
    /// Contract `a*b + c` (and `a*b - c`, `c - a*b`) into one fused
    /// multiply-add where the CPU has one: faster and more accurate, but no
    /// longer bit-identical to the interpreter. Never on by default.
    pub fast_math: bool,
    /// Emit the float `sum`/`mean`/`var`/`std`/`min`/`max` (and
    /// `nanmin`/`nanmax`) of lanes of at most
    /// `algo::LEAF` elements in the generated code, behind a per-group
    /// test of the lane length (see [`short`]): the same bits, far fewer
    /// instructions a short lane, but a larger and slower compile. The
    /// engine compiles this form as a kernel's second tier, once calls
    /// have run enough short lanes ([`crate::Config::tier_up_lanes`]).
    pub short_lanes: bool,
}

impl Default for CodegenOptions {
    fn default() -> CodegenOptions {
        CodegenOptions {
            opt_level: OptLevel::Speed,
            verify: cfg!(debug_assertions),
            capture_clif: false,
            fast_math: false,
            short_lanes: false,
        }
    }
}

/// The loop nests of `plan` whose short lanes the `short_lanes` code runs
/// differently: lane groups with a reduction [`short`] generates. Empty:
/// that code would be the same as the plain one.
pub fn short_lane_loops(plan: &Plan) -> Vec<usize> {
    (plan.loops.iter().enumerate())
        .filter(|(_, nest)| {
            (nest.group.as_ref())
                .is_some_and(|g| short::inline_stats(g).iter().any(Option::is_some))
        })
        .map(|(l, _)| l)
        .collect()
}

thread_local! {
    /// Reused between compilations on a thread (their buffers are kept).
    static SCRATCH: RefCell<(Context, FunctionBuilderContext)> =
        RefCell::new((Context::new(), FunctionBuilderContext::new()));
}

/// Compiles `plan` (made from `ir`) to machine code.
///
/// Errors are [`crate::ErrorKind::Internal`]: a plan that does not fit its
/// IR, an operation on a dtype the IR never produces, or anything Cranelift
/// rejects. Never panics on such input.
pub fn compile(ir: &Ir, plan: &Plan, opts: &CodegenOptions) -> Result<CompiledCode> {
    ir.validate()?;
    check_plan(ir, plan)?;
    let imports = collect_imports(ir, plan, opts);
    let mut module = KernelModule::new(opts, &imports)?;
    with_scratch(|ctx, fctx| {
        let lanes = lane_routines(ir, plan);
        compile_with(ir, plan, opts, &mut module, &imports, &lanes, ctx, fctx).and_then(|clif| {
            module.finish(ctx, plan, clif, lanes.into_iter().flatten().collect(), ir)
        })
    })
}

/// Runs `f` with this thread's reused compilation contexts, left clean
/// for the next compile whatever `f` did.
fn with_scratch<T>(
    f: impl FnOnce(&mut Context, &mut FunctionBuilderContext) -> Result<T>,
) -> Result<T> {
    SCRATCH.with(|scratch| {
        let mut reused = scratch.try_borrow_mut();
        let mut fresh = None;
        // Compilation never re-enters itself, but a fresh pair is as good.
        let (ctx, fctx) = match reused.as_deref_mut() {
            Ok(pair) => pair,
            Err(_) => fresh.insert((Context::new(), FunctionBuilderContext::new())),
        };
        let result = f(ctx, fctx);
        if result.is_err() {
            // A failed translation may leave the builder context dirty.
            *fctx = FunctionBuilderContext::new();
        }
        ctx.clear();
        result
    })
}

/// Compiles the repair routines of `plan`'s repairable recurrences (see
/// [`repairable_recurrences`]) into a module of their own: the engine
/// does so when a call of the kernel first splits one, so that kernels
/// never split pay nothing for them. `opts` must be the kernel's (the
/// routines contract products exactly as its rules do).
pub fn compile_repairs(ir: &Ir, plan: &Plan, opts: &CodegenOptions) -> Result<jit::RepairCode> {
    ir.validate()?;
    let kinds = repairable_recurrences(ir, plan, opts);
    let mut imports: Vec<(String, HostFn)> = Vec::new();
    for (v, _) in &kinds {
        if let Op::Recur(rec) = &ir.node(*v).op {
            for (_, rule) in rec.rules() {
                for id in rule.body.ids() {
                    if let Some((name, f)) = callee(&rule.body, id) {
                        if imports.iter().all(|(n, _)| *n != name) {
                            imports.push((name, f));
                        }
                    }
                }
            }
        }
    }
    let mut module = KernelModule::without_entry(opts, &imports)?;
    with_scratch(|ctx, fctx| {
        kinds.iter().try_for_each(|&(v, kind)| {
            compile_repair(ir, (v, kind), opts, &mut module, &imports, ctx, fctx)?;
            module.define_repair(ir, v, kind, ctx)
        })
    })?;
    module.finish_repairs()
}

/// The routine of each lane loop (`None` for elementwise loops), boxed so
/// the code can refer to it by a stable address.
fn lane_routines(ir: &Ir, plan: &Plan) -> Vec<Option<Box<LaneRoutine>>> {
    plan.loops
        .iter()
        .map(|nest| {
            let lane = nest.lane.as_ref()?;
            let src = ir.node(nest.loads[0].value).dtype;
            let dst = ir.node(lane.value).dtype;
            let param_float = match lane.op.kind {
                LaneKind::Rolling(_) => Some(false),
                LaneKind::Ewm => Some(true),
                _ => None,
            };
            Some(Box::new(LaneRoutine {
                op: lane.op,
                src,
                dst,
                param_float,
            }))
        })
        .collect()
}

/// Builds the function into `ctx`; returns its CLIF text if asked for.
#[allow(clippy::too_many_arguments)]
fn compile_with(
    ir: &Ir,
    plan: &Plan,
    opts: &CodegenOptions,
    module: &mut KernelModule,
    imports: &[(String, HostFn)],
    lanes: &[Option<Box<LaneRoutine>>],
    ctx: &mut Context,
    fctx: &mut FunctionBuilderContext,
) -> Result<Option<String>> {
    let sig = module.entry_signature();
    let callees = start_function(ctx, sig, module, imports);
    let frontend = module.isa().frontend_config();
    let mut t = Translator::new(ir, ctx, fctx, module, &callees, opts)?;
    for (l, nest) in plan.loops.iter().enumerate() {
        if let Some(group) = &nest.group {
            t.map_base = plan.map_base(l);
            t.translate_group_loop(l, nest, group, plan.stream_base(l))?;
            continue;
        }
        match (&lanes[l], nest.recur) {
            (Some(routine), _) => t.translate_lane_loop(l, nest, routine)?,
            (None, Some(v)) => t.translate_recur_loop(l, nest, v)?,
            (None, None) => t.translate_loop(l, nest)?,
        }
    }
    t.b.ins().return_(&[]);
    t.b.seal_all_blocks();
    t.b.finalize(frontend);
    Ok(opts.capture_clif.then(|| ctx.func.display().to_string()))
}

/// The recurrences of `plan` that get a repair routine, so that the engine
/// may run their calls as parallel chunks ([`crate::par`]): a chunk's call
/// starts the recurrence afresh at its first row (the boundary rules), and
/// the routine then recomputes its rows in order from the true results
/// before it until they come out as the call stored them. Eligible: a
/// recurrence loop whose result is an output and read by nothing else
/// (later chunks' values of it are wrong until repaired), whose sources
/// are inputs (vectors read at the row itself, or scalars: the routine
/// reads them from the caller's memory), and that fast-math does not run
/// two rows at a time (a linear rule's pairs start where a call starts,
/// so a chunk's rows would not be one call's).
pub fn repairable_recurrences(
    ir: &Ir,
    plan: &Plan,
    opts: &CodegenOptions,
) -> Vec<(ValueId, RepairKind)> {
    use crate::ir::TapSource;
    let read = |v: ValueId| ir.nodes.iter().any(|n| n.op.operands().contains(&v));
    (plan.loops.iter())
        .filter_map(|nest| nest.recur)
        .filter(|&v| {
            let Op::Recur(rec) = &ir.node(v).op else {
                return false;
            };
            let sources_ok = rec.sources.iter().all(|&s| {
                let node = ir.node(s);
                matches!(node.op, Op::Input(_)) && node.rank <= 1
            });
            let taps_ok = rec.rules().all(|(_, rule)| {
                rule.taps.iter().all(|t| match t.source {
                    TapSource::Source(j) => {
                        t.offset == 0 || rec.sources.get(j).is_some_and(|&s| ir.node(s).rank == 0)
                    }
                    TapSource::Prev(_) => true,
                })
            });
            let scalar: Vec<bool> = rec.sources.iter().map(|&s| ir.node(s).rank == 0).collect();
            let rule = &rec.general;
            let (invariant, carried) = (
                Translator::row_invariant(rule, &scalar),
                Translator::row_carried(rule),
            );
            let paired = opts.fast_math
                && rec.max_lag() == 1
                && Translator::linear_rule(rule, &invariant, &carried).is_some();
            ir.node(v).rank == 1
                && ir.outputs.contains(&v)
                && !read(v)
                && sources_ok
                && taps_ok
                && !paired
        })
        .map(|v| (v, repair_kind(ir, v)))
        .collect()
}

/// How a split call mends the chunks of a recurrence (see
/// [`repairable_recurrences`] and [`crate::par`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RepairKind {
    /// Each chunk's call starts the recurrence afresh; the repair
    /// recomputes its rows from the true results before it until they
    /// come out as stored (few rows for a recurrence that forgets its
    /// start, such as a smoothing; all of them for a sum).
    Converge,
    /// A running extreme `y[i] = op(y[i-1], e[i])` (or `op(e[i], y[i-1])`,
    /// `acc_first` false), `e` free of carried results and `op` a
    /// `maximum`/`minimum` (or, accumulator first, `fmax`/`fmin`), which is
    /// associative bit for bit and has the exact identity `identity`: a
    /// chunk folds its own rows from `identity`, its carry is that fold
    /// combined with the chunk before's by `op`, and its rows are then
    /// computed from that carry. Exact where `Converge` would recompute a
    /// whole chunk whenever the extreme so far is not overtaken in it.
    Fold {
        op: BinaryOp,
        acc_first: bool,
        identity: Scalar,
    },
}

/// The [`RepairKind`] of repairable recurrence `v`.
fn repair_kind(ir: &Ir, v: ValueId) -> RepairKind {
    let Op::Recur(rec) = &ir.node(v).op else {
        return RepairKind::Converge;
    };
    let Some((_, op, _, _, acc_first)) = Translator::carried_minmax(&rec.general) else {
        return RepairKind::Converge;
    };
    use BinaryOp::{Fmax, Maximum, Minimum};
    let max = matches!(op, Maximum | Fmax);
    let identity = match ir.node(v).dtype {
        DType::F64 if matches!(op, Maximum | Minimum) => Some(Scalar::F64(if max {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        })),
        DType::F32 if matches!(op, Maximum | Minimum) => Some(Scalar::F32(if max {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        })),
        // fmax(NaN, e) and fmin(NaN, e) are e, whatever e is; with the
        // accumulator second no value is an identity for a NaN `e`.
        DType::F64 if acc_first => Some(Scalar::F64(f64::NAN)),
        DType::F32 if acc_first => Some(Scalar::F32(f32::NAN)),
        DType::I64 => Some(Scalar::I64(if max { i64::MIN } else { i64::MAX })),
        DType::I32 => Some(Scalar::I32(if max { i32::MIN } else { i32::MAX })),
        _ => None,
    };
    match identity {
        Some(identity) if rec.max_lag() == 1 => RepairKind::Fold {
            op,
            acc_first,
            identity,
        },
        _ => RepairKind::Converge,
    }
}

/// Builds into `ctx` the repair routine of recurrence `v` (see
/// [`repairable_recurrences`] and [`crate::jit::repair`]), with the
/// signature [`KernelModule::repair_signature`].
#[allow(clippy::too_many_arguments)]
fn compile_repair(
    ir: &Ir,
    (v, kind): (ValueId, RepairKind),
    opts: &CodegenOptions,
    module: &mut KernelModule,
    imports: &[(String, HostFn)],
    ctx: &mut Context,
    fctx: &mut FunctionBuilderContext,
) -> Result<()> {
    let sig = module.repair_signature();
    let callees = start_function(ctx, sig, module, imports);
    let frontend = module.isa().frontend_config();
    // Contracted as in the kernel, so that its rows are the same bits.
    let mut t = Translator::new(ir, ctx, fctx, module, &callees, opts)?;
    let entry =
        (t.b.current_block()).ok_or_else(|| internal("a repair routine without a block"))?;
    let params = t.b.block_params(entry).to_vec();
    t.translate_repair(v, kind, &params)?;
    t.b.seal_all_blocks();
    t.b.finalize(frontend);
    Ok(())
}

/// Starts `ctx`'s function with `sig` and declares every import in it;
/// returns the callees by name (in import order, so that the CLIF text is
/// deterministic).
fn start_function(
    ctx: &mut Context,
    sig: cranelift_codegen::ir::Signature,
    module: &mut KernelModule,
    imports: &[(String, HostFn)],
) -> HashMap<String, FuncRef> {
    ctx.clear();
    ctx.func = Function::with_name_signature(UserFuncName::default(), sig);
    let mut callees = HashMap::with_capacity(imports.len());
    for (k, (name, _)) in imports.iter().enumerate() {
        callees.insert(name.clone(), module.import_in_func(k, &mut ctx.func));
    }
    callees
}

/// Whether the target has a fused multiply-add instruction (else
/// Cranelift's `fma` is a call to libm).
fn has_fma(isa: &dyn cranelift_codegen::isa::TargetIsa) -> bool {
    isa.isa_flags()
        .iter()
        .any(|f| f.name == "has_fma" && f.as_bool() == Some(true))
}

fn internal(message: impl Into<String>) -> Error {
    Error::internal(format!("codegen: {}", message.into()))
}

/// Checks what the generated code (and `jit::run`'s bounds check) relies on:
/// every access names an existing buffer of its value's dtype and a slot of
/// its own loop, used once; nothing is stored to an input; ranks are at
/// most 2; frame offsets fit an instruction's immediate.
fn check_plan(ir: &Ir, plan: &Plan) -> Result<()> {
    let mut slot_seen = vec![false; plan.num_slots()];
    for (l, nest) in plan.loops.iter().enumerate() {
        if nest.rank > 2 {
            return Err(internal(format!("loop {l} has rank {}", nest.rank)));
        }
        for v in &nest.compute {
            if v.index() >= ir.nodes.len() {
                return Err(internal(format!("loop {l} computes unknown {v}")));
            }
        }
    }
    for (l, access, is_store) in plan.accesses() {
        let bad = |what: &str| internal(format!("loop {l}, {}: {what}", access.value));
        let Some(decl) = plan.buffers.get(access.buffer.index()) else {
            return Err(bad("unknown buffer"));
        };
        let Some(node) = ir.nodes.get(access.value.index()) else {
            return Err(bad("unknown value"));
        };
        if decl.dtype != node.dtype {
            return Err(bad("buffer dtype differs from the value's"));
        }
        if is_store && matches!(decl.kind, BufferKind::Input(_)) {
            return Err(bad("stores to an input"));
        }
        if plan.slot_loop.get(access.slot) != Some(&l) {
            return Err(bad("slot belongs to another loop"));
        }
        if std::mem::replace(&mut slot_seen[access.slot], true) {
            return Err(bad("slot used twice"));
        }
    }
    for (l, nest) in plan.loops.iter().enumerate() {
        if let Some(g) = &nest.group {
            check_group(l, nest, g)?;
        }
    }
    // Frame offsets are at most (2 * count) * 8 bytes.
    let limit = (i32::MAX / 16) as usize;
    if plan.num_slots() > limit || plan.loops.len() > limit || plan.buffers.len() > limit {
        return Err(internal("plan too large"));
    }
    Ok(())
}

/// What a group loop's code indexes: segment accesses, scratch rows, lane
/// slots and streams all exist, and scratch offsets fit an immediate.
fn check_group(l: usize, nest: &LoopNest, g: &Group) -> Result<()> {
    let bad = |what: &str| Err(internal(format!("group loop {l}: {what}")));
    if nest.rank != 2 || g.scratch_words() > (i32::MAX / 16) as usize {
        return bad("malformed");
    }
    let ns = g.streams.len();
    for s in &g.streams {
        let row_ok = |r: Option<usize>| r.is_none_or(|r| r < g.rows.len());
        if s.in_row >= g.rows.len()
            || !row_ok(s.out_row)
            || s.lane_slot.is_some_and(|k| k >= g.lane_slots.len())
            || s.out_row.is_some() == s.lane_slot.is_some()
        {
            return bad("stream without its rows");
        }
    }
    for sweep in &g.sweeps {
        let streams_ok = sweep
            .restart
            .iter()
            .chain(&sweep.next_pass)
            .chain(&sweep.finish)
            .all(|&k| k < ns);
        let lane_ok = sweep
            .lane_stores
            .iter()
            .all(|&s| s < nest.stores.len() && g.slot_of(nest.stores[s].value).is_some());
        if !streams_ok || !lane_ok {
            return bad("unknown stream or lane store");
        }
        for step in &sweep.steps {
            match step {
                Step::Push(k) if *k >= ns => return bad("push of an unknown stream"),
                Step::Push(_) => {}
                Step::Map(k) => {
                    let ok = g.maps.get(*k).is_some_and(|m| {
                        m.from_row < g.rows.len()
                            && m.to_row < g.rows.len()
                            && m.from_row != m.to_row
                    });
                    if !ok {
                        return bad("map without its rows");
                    }
                }
                Step::Segment(seg) => {
                    let ok = seg.loads.iter().all(|&a| a < nest.loads.len())
                        && seg.stores.iter().all(|&a| a < nest.stores.len())
                        && seg
                            .scratch_in
                            .iter()
                            .chain(&seg.scratch_out)
                            .all(|&v| g.row_of(v).is_some())
                        && seg.lane_in.iter().all(|&v| g.slot_of(v).is_some());
                    if !ok {
                        return bad("segment refers to what does not exist");
                    }
                }
            }
        }
    }
    Ok(())
}

/// The host function `node` calls instead of inline code, if any, with its
/// symbol name.
fn callee(ir: &Ir, node: ValueId) -> Option<(String, HostFn)> {
    let node = ir.node(node);
    let (name, dtype, f) = match node.op {
        Op::Unary(op, a) if !is_inline_unary(op) => {
            let dtype = ir.node(a).dtype;
            let f = match dtype {
                DType::F64 => HostFn::F64(scalar::unary_f64_fn(op)?),
                DType::F32 => HostFn::F32(scalar::unary_f32_fn(op)?),
                _ => return None,
            };
            (op.name(), dtype, f)
        }
        Op::Binary(op, a, _) if !is_inline_binary(op, ir.node(a).dtype) => {
            let dtype = ir.node(a).dtype;
            let f = match dtype {
                DType::F64 => HostFn::F64F64(scalar::binary_f64_fn(op)?),
                DType::F32 => HostFn::F32F32(scalar::binary_f32_fn(op)?),
                DType::I64 => HostFn::I64I64(scalar::binary_i64_fn(op)?),
                DType::I32 => HostFn::I32I32(scalar::binary_i32_fn(op)?),
                DType::Bool => return None,
            };
            (op.name(), dtype, f)
        }
        _ => return None,
    };
    Some((format!("arrjit_{name}_{dtype}"), f))
}

/// The symbol of the lane-routine shim.
const LANES_SYMBOL: &str = "arrjit_lanes";

/// Unary operations compiled inline (for every dtype they are defined on);
/// the rest are float functions called out of line.
fn is_inline_unary(op: UnaryOp) -> bool {
    use UnaryOp::*;
    matches!(
        op,
        Neg | Not
            | Abs
            | Sign
            | Sqrt
            | Square
            | Reciprocal
            | Floor
            | Ceil
            | Trunc
            | Rint
            | IsNan
            | IsInf
            | IsFinite
            | Signbit
    )
}

/// Binary operations compiled inline for operands of `dtype`.
fn is_inline_binary(op: BinaryOp, dtype: DType) -> bool {
    use BinaryOp::*;
    match op {
        Pow => false,
        FloorDiv | Mod | Fmod | Hypot | Arctan2 => !dtype.is_float(),
        _ => true,
    }
}

/// The host functions a plan calls, each once, in order of first use.
fn collect_imports(ir: &Ir, plan: &Plan, opts: &CodegenOptions) -> Vec<(String, HostFn)> {
    let mut list: Vec<(String, HostFn)> = Vec::new();
    if plan.loops.iter().any(|nest| nest.lane.is_some()) {
        list.push((LANES_SYMBOL.to_string(), jit::lanes_host_fn()));
    }
    if plan.loops.iter().any(|nest| nest.group.is_some()) {
        list.extend(
            jit::stream_host_fns()
                .into_iter()
                .map(|(name, f)| (name.to_string(), f)),
        );
    }
    if opts.short_lanes && !short_lane_loops(plan).is_empty() {
        list.extend(
            jit::leaf_host_fns()
                .into_iter()
                .map(|(name, f)| (name.to_string(), f)),
        );
    }
    for nest in &plan.loops {
        if nest.lane.is_some() {
            continue;
        }
        if let Some(group) = &nest.group {
            for sweep in &group.sweeps {
                for step in &sweep.steps {
                    if let Step::Segment(seg) = step {
                        for &v in &seg.compute {
                            if let Some((name, f)) = callee(ir, v) {
                                if list.iter().all(|(n, _)| *n != name) {
                                    list.push((name, f));
                                }
                            }
                        }
                    }
                }
            }
            continue;
        }
        for &v in &nest.compute {
            let mut add = |body: &Ir, v: ValueId| {
                if let Some((name, f)) = callee(body, v) {
                    if list.iter().all(|(n, _)| *n != name) {
                        list.push((name, f));
                    }
                }
            };
            if let Op::Recur(rec) = &ir.node(v).op {
                for (_, rule) in rec.rules() {
                    for u in rule.body.ids() {
                        add(&rule.body, u);
                    }
                }
            } else {
                add(ir, v);
            }
        }
    }
    list
}

/// The runs of consecutive numbers in `ids`, in order: one shim call
/// each.
fn runs(ids: impl IntoIterator<Item = usize>) -> Vec<std::ops::Range<usize>> {
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    for id in ids {
        match runs.last_mut() {
            Some(run) if run.end == id => run.end += 1,
            _ => runs.push(id..id + 1),
        }
    }
    runs
}

/// How many of `steps`, from the first, one shim call runs: a push (map)
/// of stream (map) `k` and the pushes (maps) of `k + 1`, `k + 2`, ... right
/// after it that read the same operand the same way; never more than one
/// that writes its result to a buffer, whose address is the call's.
fn batched(steps: &[Step], g: &Group) -> usize {
    let key = |step: &Step| match *step {
        Step::Push(k) => Some((true, k, g.streams.get(k)?.direct)),
        Step::Map(k) => Some((false, k, g.maps.get(k)?.direct)),
        Step::Segment(_) => None,
    };
    let Some((push, k, direct)) = steps.first().and_then(key) else {
        return 1;
    };
    if direct.store.is_some() {
        return 1;
    }
    let same = (1..steps.len()).take_while(|&j| key(&steps[j]) == Some((push, k + j, direct)));
    1 + same.count()
}

fn clif_type(dtype: DType) -> Type {
    match dtype {
        DType::Bool => types::I8,
        DType::I32 => types::I32,
        DType::I64 => types::I64,
        DType::F32 => types::F32,
        DType::F64 => types::F64,
    }
}

/// The vector body of a loop nest (see `simd`).
struct VectorPlan {
    lanes: Lanes,
    /// Per access, `nest.loads` then `nest.stores`.
    reach: Vec<Reach>,
    /// Elements the vector body runs: whole steps, or 0.
    limit: Value,
}

/// Per-slot state of a loop nest: the base pointer and the strides.
struct SlotFrame {
    slot: usize,
    /// The slot's current element pointer.
    ptr: Variable,
    /// The slot's row pointer (rank 2 only).
    row: Option<Variable>,
    strides: [Option<Value>; 2],
}

/// Translates one plan into the body of one function.
struct Translator<'a, 'f> {
    ir: &'a Ir,
    b: FunctionBuilder<'f>,
    /// The pointer type (also `usize` and `isize`).
    ptr: Type,
    /// Flags of every load and store: `notrap` (`run` checked the bounds),
    /// not `aligned` (bool and f32 buffers are only 1- and 4-byte aligned).
    mem: MemFlagsData,
    /// The three entry parameters.
    buffers: Value,
    strides: Value,
    dims: Value,
    /// The call's stream context and scratch memory (lane groups only).
    streams: Value,
    scratch: Value,
    callees: &'a HashMap<String, FuncRef>,
    /// The SSA value of each IR value in the current loop body.
    values: Vec<Option<Value>>,
    /// The call-wide number of the current group's first map.
    map_base: usize,
    /// Contract products and sums into fused multiply-adds (fast-math).
    fma: bool,
    /// Emit short lanes' reductions in the code (`CodegenOptions`).
    short_lanes: bool,
    /// In a recurrence's general rule, which values of its body depend on
    /// a carried result (`y[i-k]`); empty elsewhere. Contraction fuses the
    /// product on that chain.
    carried: Vec<bool>,
    /// While a lane group is emitted: which of its reductions run in the
    /// generated code on short lanes, and the run-time test (see `short`).
    short: Option<short::ShortLanes>,
}

/// What a rows loop of a recurrence does with each row's result.
enum RowsMode {
    /// Stores it (a kernel, or a repair routine's scan from a carry).
    Store,
    /// Compares it with what the output held, stores it, and leaves early
    /// once the rest would not change (a repair routine).
    Converge(Converge),
    /// Nothing but carry it to the next row (a running extreme's fold).
    Fold,
}

/// How a repair routine's rows loop may stop early: once the last `lags`
/// rows it computed have the bits the chunk's call stored and the next row
/// is one the call computed by the general rule (`general_from` on: the
/// chunk's first rows took the boundary rules), every later row would come
/// out as stored, so the loop jumps to `exit` with the next row. (A scan
/// from a known carry passes a `general_from` past the chunk: it computes
/// every row.)
struct Converge {
    exit: cranelift_codegen::ir::Block,
    /// Consecutive rows so far with the stored bits.
    matched: Variable,
    lags: u32,
    general_from: Value,
}

impl<'a, 'f> Translator<'a, 'f> {
    /// A translator of `ctx`'s function (begun by [`start_function`]),
    /// positioned in its entry block. The five frame values are the
    /// kernel entry's parameters; a repair routine, which has no frame,
    /// has its own parameters in their place (and uses only those).
    fn new(
        ir: &'a Ir,
        ctx: &'f mut Context,
        fctx: &'f mut FunctionBuilderContext,
        module: &KernelModule,
        callees: &'a HashMap<String, FuncRef>,
        opts: &CodegenOptions,
    ) -> Result<Self> {
        let mut b = FunctionBuilder::new(&mut ctx.func, fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let params = b.block_params(entry).to_vec();
        let param = |k: usize| {
            (params.get(k).or(params.first()).copied())
                .ok_or_else(|| internal("a function without parameters"))
        };
        Ok(Translator {
            ir,
            ptr: module.isa().pointer_type(),
            mem: MemFlagsData::new().with_notrap(),
            buffers: param(0)?,
            strides: param(1)?,
            dims: param(2)?,
            streams: param(3)?,
            scratch: param(4)?,
            callees,
            values: vec![None; ir.nodes.len()],
            map_base: 0,
            fma: opts.fast_math && has_fma(module.isa()),
            short_lanes: opts.short_lanes,
            carried: Vec::new(),
            short: None,
            b,
        })
    }

    /// Loads entry `index` of a pointer-sized frame array.
    fn frame_load(&mut self, array: Value, index: usize) -> Value {
        let offset = (index * self.ptr.bytes() as usize) as i32;
        let flags = self.mem.with_readonly();
        self.b.ins().load(self.ptr, flags, array, offset)
    }

    fn translate_loop(&mut self, l: usize, nest: &LoopNest) -> Result<()> {
        let rank = usize::from(nest.rank);
        let dims: Vec<Value> = (0..rank)
            .map(|axis| self.frame_load(self.dims, 2 * l + axis))
            .collect();
        let accesses: Vec<&Access> = nest.loads.iter().chain(&nest.stores).collect();
        let mut slots = Vec::with_capacity(accesses.len());
        for access in &accesses {
            let base = self.frame_load(self.buffers, access.buffer.index());
            let mut strides = [None; 2];
            for (axis, stride) in strides.iter_mut().enumerate().take(rank) {
                *stride = Some(self.frame_load(self.strides, 2 * access.slot + axis));
            }
            let ptr = self.b.declare_var(self.ptr);
            self.b.def_var(ptr, base);
            let row = (rank == 2).then(|| {
                let row = self.b.declare_var(self.ptr);
                self.b.def_var(row, base);
                row
            });
            slots.push(SlotFrame {
                slot: access.slot,
                ptr,
                row,
                strides,
            });
        }
        match rank {
            0 => self.translate_body(nest, &slots),
            1 => self.translate_loop_1d(nest, &slots, dims[0]),
            _ => self.translate_loop_2d(nest, &slots, dims[0], dims[1]),
        }
    }

    /// A recurrence loop: boundary rows in straight-line code (each behind
    /// a test that the vector has that row), then the general rule over the
    /// remaining rows (`translate_general_rows`), with the last `max_lag`
    /// results carried in variables.
    fn translate_recur_loop(&mut self, l: usize, nest: &LoopNest, v: ValueId) -> Result<()> {
        let outer = self.ir;
        let Op::Recur(rec) = &outer.node(v).op else {
            return Err(internal(format!("loop {l}: {v} is not a recurrence")));
        };
        let dtype = outer.node(v).dtype;
        let ty = clif_type(dtype);
        let n = self.frame_load(self.dims, 2 * l);
        let mut sources = Vec::with_capacity(nest.loads.len());
        for access in &nest.loads {
            let base = self.frame_load(self.buffers, access.buffer.index());
            let stride = self.frame_load(self.strides, 2 * access.slot);
            sources.push((base, stride, outer.node(access.value).dtype));
        }
        let out = nest.stores[0];
        let out_base = self.frame_load(self.buffers, out.buffer.index());
        let out_stride = self.frame_load(self.strides, 2 * out.slot);
        let lags = rec.max_lag() as usize;
        let prev: Vec<Variable> = (0..lags)
            .map(|_| {
                let var = self.b.declare_var(ty);
                let zero = self.zero_of(dtype);
                self.b.def_var(var, zero);
                var
            })
            .collect();
        let exit = self.b.create_block();
        // Boundary rows.
        for (r, rule) in rec.boundary.iter().enumerate() {
            let body = self.b.create_block();
            let has_row = self
                .b
                .ins()
                .icmp_imm_u(IntCC::UnsignedGreaterThan, n, r as i64);
            self.b.ins().brif(has_row, body, &[], exit, &[]);
            self.b.seal_block(body);
            self.b.switch_to_block(body);
            let row = self.b.ins().iconst(self.ptr, r as i64);
            self.translate_row(rule, row, &sources, &prev, out_base, out_stride, outer)?;
        }
        // The general rule, rows k..n, behind a test that there are any.
        let k = rec.boundary.len();
        let scalar: Vec<bool> = rec
            .sources
            .iter()
            .map(|&s| outer.node(s).rank == 0)
            .collect();
        let pre = self.b.create_block();
        let has_rows = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedGreaterThan, n, k as i64);
        self.b.ins().brif(has_rows, pre, &[], exit, &[]);
        self.b.seal_block(pre);
        self.b.switch_to_block(pre);
        let first = self.b.ins().iconst(self.ptr, k as i64);
        self.translate_general_rows(
            &rec.general,
            (first, n),
            (&sources, &scalar),
            &prev,
            (out_base, out_stride),
            outer,
            RowsMode::Store,
        )?;
        self.b.ins().jump(exit, &[]);
        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        Ok(())
    }

    /// One row of a recurrence: taps, the rule's body, the store, and the
    /// shift of the carried results.
    #[allow(clippy::too_many_arguments)]
    fn translate_row(
        &mut self,
        rule: &'a crate::ir::Rule,
        row: Value,
        sources: &[(Value, Value, DType)],
        prev: &[Variable],
        out_base: Value,
        out_stride: Value,
        outer: &'a Ir,
    ) -> Result<()> {
        use crate::ir::TapSource;
        let mut taps = Vec::with_capacity(rule.taps.len());
        for tap in &rule.taps {
            let value = match tap.source {
                TapSource::Source(j) => {
                    let (base, stride, dtype) = sources[j];
                    let at = self.b.ins().iadd_imm_s(row, tap.offset);
                    let offset = self.b.ins().imul(at, stride);
                    let p = self.b.ins().iadd(base, offset);
                    self.b.ins().load(clif_type(dtype), self.mem, p, 0)
                }
                TapSource::Prev(lag) => self.b.use_var(prev[lag as usize - 1]),
            };
            taps.push(value);
        }
        // The body is a graph of its own: translate it with its own values.
        self.ir = &rule.body;
        let saved = std::mem::replace(&mut self.values, vec![None; rule.body.nodes.len()]);
        let result = (|| {
            for id in rule.body.ids() {
                let node = rule.body.node(id);
                let value = match node.op {
                    Op::Input(k) => taps[k],
                    Op::Const(_) => continue,
                    _ => self.translate_node(id)?,
                };
                self.values[id.index()] = Some(value);
            }
            self.value(rule.body.outputs[0])
        })();
        self.values = saved;
        self.ir = outer;
        let y = result?;
        let offset = self.b.ins().imul(row, out_stride);
        let p = self.b.ins().iadd(out_base, offset);
        self.b.ins().store(self.mem, y, p, 0);
        // prev[0] is y[i-1]: shift the older ones down first.
        for k in (1..prev.len()).rev() {
            let older = self.b.use_var(prev[k - 1]);
            self.b.def_var(prev[k], older);
        }
        if let Some(&first) = prev.first() {
            self.b.def_var(first, y);
        }
        Ok(())
    }

    /// Rows `first..n` (at least one) of the general rule, from the current
    /// block. Before the loop: what no row changes — the loads of scalar
    /// sources and every body value computed from them and constants only
    /// (`alpha`, `1 - alpha`), which is safe to compute early because no
    /// inline operation traps (integer division is guarded) and host calls
    /// are pure — and one pointer per tap of a vector source and for the
    /// output, advanced by its stride each row instead of recomputed from
    /// the row number. The loop is bottom-tested. A rule that is a min or
    /// max of `y[i-1]` and another value branches on whether the new value
    /// changes the result (`translate_carried_minmax`), so the carried value
    /// goes through a predicted branch rather than a chain of compares and
    /// blends.
    ///
    /// `rows` is `(first, n)`; `sources` has per source its base pointer,
    /// byte stride and dtype, and whether it is a scalar (stride 0, read
    /// at offset 0); `prev[0]` carries `y[i-1]`; `out` is the output's base
    /// pointer and byte stride. `mode` says what becomes of each row's
    /// result ([`RowsMode`]).
    #[allow(clippy::too_many_arguments)]
    fn translate_general_rows(
        &mut self,
        rule: &'a crate::ir::Rule,
        (first, n): (Value, Value),
        (sources, scalar): (&[(Value, Value, DType)], &[bool]),
        prev: &[Variable],
        (out_base, out_stride): (Value, Value),
        outer: &'a Ir,
        mode: RowsMode,
    ) -> Result<()> {
        use crate::ir::TapSource;
        let invariant = Self::row_invariant(rule, scalar);
        // Per tap: a pointer that advances (vector source), a value loaded
        // once (scalar source), or neither (a carried result).
        let mut pointers: Vec<Option<(Variable, Value, Type)>> =
            Vec::with_capacity(rule.taps.len());
        let mut fixed: Vec<Option<Value>> = Vec::with_capacity(rule.taps.len());
        for tap in &rule.taps {
            let (mut pointer, mut value) = (None, None);
            if let TapSource::Source(j) = tap.source {
                let (base, stride, dtype) = *sources
                    .get(j)
                    .ok_or_else(|| internal(format!("a tap of source {j}, which is missing")))?;
                let ty = clif_type(dtype);
                if scalar.get(j) == Some(&true) {
                    value = Some(self.b.ins().load(ty, self.mem, base, 0));
                } else {
                    let at = self.b.ins().iadd_imm_s(first, tap.offset);
                    let offset = self.b.ins().imul(at, stride);
                    let p = self.b.ins().iadd(base, offset);
                    let var = self.b.declare_var(self.ptr);
                    self.b.def_var(var, p);
                    pointer = Some((var, stride, ty));
                }
            }
            pointers.push(pointer);
            fixed.push(value);
        }
        let out = self.b.declare_var(self.ptr);
        let offset = self.b.ins().imul(first, out_stride);
        let p = self.b.ins().iadd(out_base, offset);
        self.b.def_var(out, p);
        let row = self.b.declare_var(self.ptr);
        self.b.def_var(row, first);
        // The body is a graph of its own: translate it with its own values.
        self.ir = &rule.body;
        let saved = std::mem::replace(&mut self.values, vec![None; rule.body.nodes.len()]);
        self.carried = Self::row_carried(rule);
        let result = (|| {
            for id in rule.body.ids() {
                let value = match rule.body.node(id).op {
                    Op::Const(_) => continue,
                    _ if !invariant[id.index()] => continue,
                    Op::Input(k) => fixed.get(k).copied().flatten().ok_or_else(|| {
                        internal(format!("tap {k} is invariant but not a scalar source"))
                    })?,
                    _ => self.translate_node(id)?,
                };
                self.values[id.index()] = Some(value);
            }
            let body = self.b.create_block();
            let done = self.b.create_block();
            let linear = Self::linear_rule(rule, &invariant, &self.carried);
            // A repair computes rows one by one, as its chunk's call did.
            let paired = self.fma && prev.len() == 1 && matches!(mode, RowsMode::Store);
            match linear.filter(|_| paired) {
                Some(cm) => {
                    self.translate_row_pairs(
                        rule,
                        cm,
                        &invariant,
                        &pointers,
                        prev[0],
                        (row, n),
                        (out, out_stride),
                    )?;
                    // One row is left, or every row if `m` cannot pair.
                    let i = self.b.use_var(row);
                    let left = self.b.ins().icmp(IntCC::UnsignedLessThan, i, n);
                    self.b.ins().brif(left, body, &[], done, &[]);
                }
                None => {
                    self.b.ins().jump(body, &[]);
                }
            }
            self.b.switch_to_block(body);
            let carried = Self::carried_minmax(rule);
            for id in rule.body.ids() {
                let node = rule.body.node(id);
                if invariant[id.index()] || carried.is_some_and(|c| c.0 == id) {
                    continue;
                }
                let value = match node.op {
                    Op::Input(k) => match (rule.taps.get(k).map(|t| t.source), pointers.get(k)) {
                        (Some(TapSource::Prev(lag)), _) => {
                            let var = prev
                                .get((lag as usize).wrapping_sub(1))
                                .ok_or_else(|| internal(format!("a tap of y[i-{lag}]")))?;
                            self.b.use_var(*var)
                        }
                        (_, Some(&Some((var, _, ty)))) => {
                            let p = self.b.use_var(var);
                            self.b.ins().load(ty, self.mem, p, 0)
                        }
                        _ => return Err(internal(format!("tap {k} has no source"))),
                    },
                    _ => self.translate_node(id)?,
                };
                self.values[id.index()] = Some(value);
            }
            let y = match carried {
                Some(c) => self.translate_carried_minmax(c)?,
                None => self.value(rule.body.outputs[0])?,
            };
            let p = self.b.use_var(out);
            let matched = match &mode {
                RowsMode::Converge(c) => Some(self.count_matches(c, y, p)),
                _ => None,
            };
            if !matches!(mode, RowsMode::Fold) {
                self.b.ins().store(self.mem, y, p, 0);
            }
            // prev[0] is y[i-1]: shift the older ones down first.
            for k in (1..prev.len()).rev() {
                let older = self.b.use_var(prev[k - 1]);
                self.b.def_var(prev[k], older);
            }
            if let Some(&newest) = prev.first() {
                self.b.def_var(newest, y);
            }
            for &(var, stride, _) in pointers.iter().flatten() {
                let p = self.b.use_var(var);
                let next = self.b.ins().iadd(p, stride);
                self.b.def_var(var, next);
            }
            let next = self.b.ins().iadd(p, out_stride);
            self.b.def_var(out, next);
            let i = self.b.use_var(row);
            let i = self.b.ins().iadd_imm_u(i, 1);
            self.b.def_var(row, i);
            if let (RowsMode::Converge(c), Some(matched)) = (&mode, matched) {
                // Converged: the last `lags` rows are what the chunk's call
                // stored, and it computed row `i` on from them by this rule.
                let enough = self.b.ins().icmp_imm_u(
                    IntCC::UnsignedGreaterThanOrEqual,
                    matched,
                    i64::from(c.lags),
                );
                let general =
                    self.b
                        .ins()
                        .icmp(IntCC::UnsignedGreaterThanOrEqual, i, c.general_from);
                let stop = self.b.ins().band(enough, general);
                let go_on = self.b.create_block();
                self.b.ins().brif(stop, c.exit, &[i.into()], go_on, &[]);
                self.b.seal_block(go_on);
                self.b.switch_to_block(go_on);
            }
            let more = self.b.ins().icmp(IntCC::UnsignedLessThan, i, n);
            self.b.ins().brif(more, body, &[], done, &[]);
            self.b.seal_block(body);
            self.b.switch_to_block(done);
            self.b.seal_block(done);
            Ok(())
        })();
        self.values = saved;
        self.carried.clear();
        self.ir = outer;
        result
    }

    /// A general rule `y[i] = c + m * y[i-1]` of a float type (the sum and
    /// the product in either order), `m` the same on every row and `c` free
    /// of carried results: `(c, m)`.
    fn linear_rule(
        rule: &crate::ir::Rule,
        invariant: &[bool],
        carried: &[bool],
    ) -> Option<(ValueId, ValueId)> {
        use crate::ir::TapSource;
        let body = &rule.body;
        let out = *body.outputs.first()?;
        let dtype = body.node(out).dtype;
        if !dtype.is_float() {
            return None;
        }
        let Op::Binary(BinaryOp::Add, a, b) = body.node(out).op else {
            return None;
        };
        let is_prev = |v: ValueId| {
            matches!(body.node(v).op, Op::Input(k)
                if rule.taps.get(k).map(|t| t.source) == Some(TapSource::Prev(1)))
        };
        let fixed = |v: ValueId| invariant.get(v.index()) == Some(&true);
        let factor = |p: ValueId| match body.node(p).op {
            Op::Binary(BinaryOp::Mul, u, w) if is_prev(u) && fixed(w) => Some(w),
            Op::Binary(BinaryOp::Mul, u, w) if is_prev(w) && fixed(u) => Some(u),
            _ => None,
        };
        let free =
            |v: ValueId| carried.get(v.index()) == Some(&false) && body.node(v).dtype == dtype;
        let (c, m) = match (factor(a), factor(b)) {
            (_, Some(m)) if free(a) => (a, m),
            (Some(m), _) if free(b) => (b, m),
            _ => return None,
        };
        (body.node(m).dtype == dtype).then_some((c, m))
    }

    /// Fast-math's reassociation of a linear rule `y[i] = c[i] + m y[i-1]`
    /// ([`Self::linear_rule`]): rows in pairs, `y[i] = fma(m, y[i-1], c[i])`
    /// and `y[i+1] = fma(m*m, y[i-1], fma(m, c[i], c[i+1]))`, so the
    /// carried chain is one fused multiply-add every two rows and the `c`s
    /// are computed beside it (EWMA then runs at the memory's pace). Runs
    /// while two rows are left and `m*m` is a normal number, leaving `row`,
    /// the tap pointers and `out` at the first row not done.
    #[allow(clippy::too_many_arguments)]
    fn translate_row_pairs(
        &mut self,
        rule: &crate::ir::Rule,
        (c, m): (ValueId, ValueId),
        invariant: &[bool],
        pointers: &[Option<(Variable, Value, Type)>],
        prev: Variable,
        (row, n): (Variable, Value),
        (out, out_stride): (Variable, Value),
    ) -> Result<()> {
        let m = self.value(m)?;
        let mm = self.b.ins().fmul(m, m);
        // Pairs only if `m*m` is a normal number: with `|m|` beyond 2^500
        // (f32: 2^60) it would overflow, or below 2^-500 (2^-60) lose
        // digits, where the strict rule never forms it (`ewma(x, 1e200)`
        // would give NaN for 0). NaN fails the test too; those rows all
        // take the single-row rule.
        let (lo, hi) = if self.b.func.dfg.value_type(m) == types::F32 {
            let mut c = |e: i32| self.b.ins().f32const(2f32.powi(e));
            (c(-60), c(60))
        } else {
            let mut c = |e: i32| self.b.ins().f64const(2f64.powi(e));
            (c(-500), c(500))
        };
        let size = self.b.ins().fabs(m);
        let above = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, size, lo);
        let below = self.b.ins().fcmp(FloatCC::LessThanOrEqual, size, hi);
        let normal = self.b.ins().band(above, below);
        let head = self.b.create_block();
        let body = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(head, &[]);
        self.b.switch_to_block(head);
        let i = self.b.use_var(row);
        let second = self.b.ins().iadd_imm_u(i, 1);
        let two_left = self.b.ins().icmp(IntCC::UnsignedLessThan, second, n);
        let go = self.b.ins().band(two_left, normal);
        self.b.ins().brif(go, body, &[], exit, &[]);
        self.b.switch_to_block(body);
        self.b.seal_block(body);
        let c0 = self.row_value(rule, c, invariant, pointers, false)?;
        let c1 = self.row_value(rule, c, invariant, pointers, true)?;
        let y = self.b.use_var(prev);
        let y0 = self.b.ins().fma(m, y, c0);
        let t = self.b.ins().fma(m, c0, c1);
        let y1 = self.b.ins().fma(mm, y, t);
        let o0 = self.b.use_var(out);
        self.b.ins().store(self.mem, y0, o0, 0);
        let o1 = self.b.ins().iadd(o0, out_stride);
        self.b.ins().store(self.mem, y1, o1, 0);
        let o2 = self.b.ins().iadd(o1, out_stride);
        self.b.def_var(out, o2);
        self.b.def_var(prev, y1);
        for &(var, stride, _) in pointers.iter().flatten() {
            let p = self.b.use_var(var);
            let p = self.b.ins().iadd(p, stride);
            let p = self.b.ins().iadd(p, stride);
            self.b.def_var(var, p);
        }
        let third = self.b.ins().iadd_imm_u(second, 1);
        self.b.def_var(row, third);
        self.b.ins().jump(head, &[]);
        self.b.seal_block(head);
        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        Ok(())
    }

    /// The value of `v` (free of carried results) at the current row, or
    /// at the next if `next`: the body's values up to `v`, each tap loaded
    /// at its pointer (plus a stride); the values the same on every row
    /// are the ones already made.
    fn row_value(
        &mut self,
        rule: &crate::ir::Rule,
        v: ValueId,
        invariant: &[bool],
        pointers: &[Option<(Variable, Value, Type)>],
        next: bool,
    ) -> Result<Value> {
        if invariant.get(v.index()) == Some(&true) {
            return self.value(v);
        }
        let saved = self.values.clone();
        let result = (|| {
            for id in rule.body.ids() {
                let skip = invariant.get(id.index()) == Some(&true)
                    || self.carried.get(id.index()) != Some(&false);
                let value = match rule.body.node(id).op {
                    _ if skip => continue,
                    Op::Const(_) => continue,
                    Op::Input(k) => {
                        let Some(&Some((var, stride, ty))) = pointers.get(k) else {
                            return Err(internal(format!("tap {k} has no pointer")));
                        };
                        let mut p = self.b.use_var(var);
                        if next {
                            p = self.b.ins().iadd(p, stride);
                        }
                        self.b.ins().load(ty, self.mem, p, 0)
                    }
                    _ => self.translate_node(id)?,
                };
                self.values[id.index()] = Some(value);
                if id == v {
                    break;
                }
            }
            self.value(v)
        })();
        self.values = saved;
        result
    }

    /// Which values of a rule's body depend on a carried result.
    fn row_carried(rule: &crate::ir::Rule) -> Vec<bool> {
        use crate::ir::TapSource;
        let body = &rule.body;
        let mut carried = vec![false; body.nodes.len()];
        for id in body.ids() {
            carried[id.index()] = match body.node(id).op {
                Op::Input(k) => {
                    matches!(rule.taps.get(k).map(|t| t.source), Some(TapSource::Prev(_)))
                }
                ref op => op
                    .operands()
                    .iter()
                    .any(|o| carried.get(o.index()) == Some(&true)),
            };
        }
        carried
    }

    /// Which values of a rule's body are the same on every row: constants,
    /// taps of scalar sources, and what is computed from those alone.
    fn row_invariant(rule: &crate::ir::Rule, scalar: &[bool]) -> Vec<bool> {
        use crate::ir::TapSource;
        let body = &rule.body;
        let mut invariant = vec![false; body.nodes.len()];
        for id in body.ids() {
            invariant[id.index()] = match body.node(id).op {
                Op::Const(_) => true,
                Op::Input(k) => matches!(
                    rule.taps.get(k).map(|t| t.source),
                    Some(TapSource::Source(j)) if scalar.get(j) == Some(&true)
                ),
                Op::Lane { .. } | Op::Recur(_) => false,
                ref op => op
                    .operands()
                    .iter()
                    .all(|o| invariant.get(o.index()) == Some(&true)),
            };
        }
        invariant
    }

    /// A general rule whose result is `op(y[i-1], e)` or `op(e, y[i-1])`
    /// for a min or max `op` of numbers (not bools), `e` independent of
    /// every carried result: body values `(result,
    /// op, acc, other, acc_first)`, `acc` the tap of `y[i-1]`, `other` `e`.
    fn carried_minmax(
        rule: &crate::ir::Rule,
    ) -> Option<(ValueId, BinaryOp, ValueId, ValueId, bool)> {
        use crate::ir::TapSource;
        let body = &rule.body;
        let result = *body.outputs.first()?;
        let Op::Binary(op, a, b) = body.node(result).op else {
            return None;
        };
        let numeric = matches!(
            body.node(a).dtype,
            DType::I32 | DType::I64 | DType::F32 | DType::F64
        );
        let minmax = matches!(
            op,
            BinaryOp::Minimum | BinaryOp::Maximum | BinaryOp::Fmin | BinaryOp::Fmax
        );
        if !numeric || !minmax {
            return None;
        }
        let carried = |v: ValueId| {
            matches!(body.node(v).op, Op::Input(k)
                if rule.taps.get(k).map(|t| t.source) == Some(TapSource::Prev(1)))
        };
        let (acc, other, acc_first) = if carried(a) {
            (a, b, true)
        } else if carried(b) {
            (b, a, false)
        } else {
            return None;
        };
        // Only where `e` reads no carried result: then the branch is all
        // that the next row waits for. An `e` computed from `y[i-1]` waits
        // for it anyway, and its branch may be taken at random.
        let mut reads_prev = vec![false; body.nodes.len()];
        for id in body.ids() {
            reads_prev[id.index()] = match body.node(id).op {
                Op::Input(k) => {
                    matches!(rule.taps.get(k).map(|t| t.source), Some(TapSource::Prev(_)))
                }
                ref op => op
                    .operands()
                    .iter()
                    .any(|o| reads_prev.get(o.index()) != Some(&false)),
            };
        }
        if reads_prev.get(other.index()) != Some(&false) {
            return None;
        }
        Some((result, op, acc, other, acc_first))
    }

    /// `y = op(acc, e)` (operands in the rule's order) as: if the result is
    /// certainly `acc` itself, keep it; else compute `op` in full (the
    /// inline form, bit for bit `scalar`'s). The test is exact, not a
    /// heuristic: it is true only where `scalar`'s definition returns the
    /// carried operand (NaN rules and ±0 ties included); everything else,
    /// such as a NaN arriving or a tie that `op` breaks towards `e`, takes
    /// the full computation, out of line.
    fn translate_carried_minmax(
        &mut self,
        (_, op, acc, other, acc_first): (ValueId, BinaryOp, ValueId, ValueId, bool),
    ) -> Result<Value> {
        use BinaryOp::*;
        let dtype = self.ir.node(acc).dtype;
        let acc = self.value(acc)?;
        let e = self.value(other)?;
        let ty = clif_type(dtype);
        let keep = if dtype.is_float() {
            let cmp = |t: &mut Self, cc: FloatCC, x: Value, y: Value| t.b.ins().fcmp(cc, x, y);
            match (op, acc_first) {
                // maximum(acc, e) is acc only when acc > e (neither NaN).
                (Maximum, true) => cmp(self, FloatCC::GreaterThan, acc, e),
                // maximum(e, acc): acc when e is not NaN and not above it
                // (ties give the second operand).
                (Maximum, false) => cmp(self, FloatCC::GreaterThanOrEqual, acc, e),
                (Minimum, true) => cmp(self, FloatCC::LessThan, acc, e),
                (Minimum, false) => cmp(self, FloatCC::LessThanOrEqual, acc, e),
                // fmax(acc, e): acc when acc is not NaN and e is NaN or
                // below it.
                (Fmax, true) | (Fmin, true) => {
                    let cc = if op == Fmax {
                        FloatCC::UnorderedOrGreaterThan
                    } else {
                        FloatCC::UnorderedOrLessThan
                    };
                    let wins = cmp(self, cc, acc, e);
                    let number = cmp(self, FloatCC::Ordered, acc, acc);
                    self.b.ins().band(wins, number)
                }
                // fmax(e, acc): acc when e is NaN, or acc is a number not
                // below e (ties give the second operand).
                (Fmax, false) | (Fmin, false) => {
                    let cc = if op == Fmax {
                        FloatCC::GreaterThanOrEqual
                    } else {
                        FloatCC::LessThanOrEqual
                    };
                    let wins = cmp(self, cc, acc, e);
                    let nan = cmp(self, FloatCC::Unordered, e, e);
                    self.b.ins().bor(wins, nan)
                }
                _ => return Err(internal(format!("{:?} is not a min or max", op))),
            }
        } else {
            // Integers: equal values are the same bits, so ties keep too.
            let cc = match op {
                Maximum | Fmax => IntCC::SignedGreaterThanOrEqual,
                Minimum | Fmin => IntCC::SignedLessThanOrEqual,
                _ => return Err(internal(format!("{:?} is not a min or max", op))),
            };
            self.b.ins().icmp(cc, acc, e)
        };
        let result = self.b.declare_var(ty);
        self.b.def_var(result, acc);
        let update = self.b.create_block();
        let join = self.b.create_block();
        self.b.set_cold_block(update);
        self.b.ins().brif(keep, join, &[], update, &[]);
        self.b.switch_to_block(update);
        self.b.seal_block(update);
        let (x, y) = if acc_first { (acc, e) } else { (e, acc) };
        let full = self
            .translate_binary(op, dtype, x, y)
            .ok_or_else(|| internal(format!("{:?} on {dtype}", op)))?;
        self.b.def_var(result, full);
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(join);
        self.b.seal_block(join);
        Ok(self.b.use_var(result))
    }

    /// Counts, in a repair routine, the consecutive rows whose new value `y`
    /// has the same bits as what the chunk's call stored at `p`; returns the
    /// count including this row.
    fn count_matches(&mut self, c: &Converge, y: Value, p: Value) -> Value {
        let ty = self.b.func.dfg.value_type(y);
        let old = self.b.ins().load(ty, self.mem, p, 0);
        let same = if ty.is_float() {
            let int = Type::int(ty.bits() as u16).unwrap_or(types::I64);
            let flags = MemFlagsData::new();
            let a = self.b.ins().bitcast(int, flags, y);
            let b = self.b.ins().bitcast(int, flags, old);
            self.b.ins().icmp(IntCC::Equal, a, b)
        } else {
            self.b.ins().icmp(IntCC::Equal, y, old)
        };
        let before = self.b.use_var(c.matched);
        let one_more = self.b.ins().iadd_imm_u(before, 1);
        let zero = self.b.ins().iconst(self.ptr, 0);
        let matched = self.b.ins().select(same, one_more, zero);
        self.b.def_var(c.matched, matched);
        matched
    }

    /// A repair routine's body (see [`repairable_recurrences`]): from the
    /// routine's parameters `(bases, strides, carry, end, from)`, rows
    /// `0..end` of a chunk by recurrence `v`'s general rule, the carried
    /// results first loaded from `carry` (`y[i-1]`, `y[i-2]`, ... one
    /// element after another: the rows before the chunk), stopping early
    /// once converged at a row of `from` or later ([`Converge`]; `from`
    /// past `end` never stops); returns the row it stopped at. The routine
    /// of a running extreme ([`RepairKind::Fold`]) never stops early and
    /// compares nothing.
    fn translate_repair(&mut self, v: ValueId, kind: RepairKind, params: &[Value]) -> Result<()> {
        let outer = self.ir;
        let Op::Recur(rec) = &outer.node(v).op else {
            return Err(internal(format!(
                "repair of {v}, which is not a recurrence"
            )));
        };
        let &[bases, strides, carry, end, general_from] = params else {
            return Err(internal("a repair routine has five parameters"));
        };
        let start = self.b.ins().iconst(self.ptr, 0);
        let load = |t: &mut Self, array: Value, k: usize| {
            let flags = t.mem.with_readonly();
            let offset = (k * t.ptr.bytes() as usize) as i32;
            t.b.ins().load(t.ptr, flags, array, offset)
        };
        let out_base = load(self, bases, 0);
        let out_stride = load(self, strides, 0);
        let mut sources = Vec::with_capacity(rec.sources.len());
        let mut scalar = Vec::with_capacity(rec.sources.len());
        for (j, &s) in rec.sources.iter().enumerate() {
            let base = load(self, bases, 1 + j);
            let stride = load(self, strides, 1 + j);
            sources.push((base, stride, outer.node(s).dtype));
            scalar.push(outer.node(s).rank == 0);
        }
        let dtype = outer.node(v).dtype;
        let ty = clif_type(dtype);
        let lags = rec.max_lag();
        let prev: Vec<Variable> = (0..lags as usize)
            .map(|k| {
                let offset = i32::try_from(k * dtype.size())
                    .map_err(|_| internal("a recurrence's lag is too long"))?;
                let y = self.b.ins().load(ty, self.mem, carry, offset);
                let var = self.b.declare_var(ty);
                self.b.def_var(var, y);
                Ok(var)
            })
            .collect::<Result<_>>()?;
        let matched = self.b.declare_var(self.ptr);
        let zero = self.b.ins().iconst(self.ptr, 0);
        self.b.def_var(matched, zero);
        let exit = self.b.create_block();
        self.b.append_block_param(exit, self.ptr);
        let rows = |t: &mut Self, mode: RowsMode| {
            t.translate_general_rows(
                &rec.general,
                (start, end),
                (&sources, &scalar),
                &prev,
                (out_base, out_stride),
                outer,
                mode,
            )
        };
        if kind == RepairKind::Converge {
            let converge = Converge {
                exit,
                matched,
                lags: lags.max(1),
                general_from,
            };
            rows(self, RowsMode::Converge(converge))?;
        } else {
            // `from` 0: fold the chunk's rows into `carry[0]`, storing
            // nothing; else compute and store every row.
            let (fold, scan) = (self.b.create_block(), self.b.create_block());
            let folding = self.b.ins().icmp_imm_u(IntCC::Equal, general_from, 0);
            self.b.ins().brif(folding, fold, &[], scan, &[]);
            self.b.seal_block(fold);
            self.b.seal_block(scan);
            self.b.switch_to_block(fold);
            rows(self, RowsMode::Fold)?;
            let acc = prev
                .first()
                .map(|&var| self.b.use_var(var))
                .ok_or_else(|| internal("a running extreme without y[i-1]"))?;
            self.b.ins().store(self.mem, acc, carry, 0);
            self.b.ins().jump(exit, &[end.into()]);
            self.b.switch_to_block(scan);
            rows(self, RowsMode::Store)?;
        }
        self.b.ins().jump(exit, &[end.into()]);
        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        let stopped = self.b.block_params(exit)[0];
        self.b.ins().return_(&[stopped]);
        Ok(())
    }

    /// Zero of a dtype (the carried results' value before row 0).
    fn zero_of(&mut self, dtype: DType) -> Value {
        match dtype {
            DType::F32 => self.b.ins().f32const(0.0),
            DType::F64 => self.b.ins().f64const(0.0),
            other => self.b.ins().iconst(clif_type(other), 0),
        }
    }

    /// A lane loop: one call of the lane shim with the whole frame of the
    /// loop (the shim loops over the lanes in Rust).
    fn translate_lane_loop(
        &mut self,
        l: usize,
        nest: &LoopNest,
        routine: &LaneRoutine,
    ) -> Result<()> {
        let lane = nest
            .lane
            .as_ref()
            .ok_or_else(|| internal(format!("loop {l} is not a lane loop")))?;
        let (src, dst) = (nest.loads[0], nest.stores[0]);
        let lanes = self.frame_load(self.dims, 2 * l);
        let len = self.frame_load(self.dims, 2 * l + 1);
        let src_base = self.frame_load(self.buffers, src.buffer.index());
        let s_lane = self.frame_load(self.strides, 2 * src.slot);
        let s_elem = self.frame_load(self.strides, 2 * src.slot + 1);
        let dst_base = self.frame_load(self.buffers, dst.buffer.index());
        let d_lane = self.frame_load(self.strides, 2 * dst.slot);
        let d_elem = self.frame_load(self.strides, 2 * dst.slot + 1);
        // The parameter as the shim takes it: f64 bits or an i64.
        let param = match (lane.param, nest.loads.get(1), routine.param_float) {
            (_, _, None) => self.b.ins().iconst(types::I64, 0),
            (Some(c), _, Some(float)) => {
                let bits = if float {
                    c.as_f64().to_bits() as i64
                } else {
                    match c {
                        Scalar::I64(v) => v,
                        Scalar::I32(v) => i64::from(v),
                        other => other.as_f64() as i64,
                    }
                };
                self.b.ins().iconst(types::I64, bits)
            }
            (None, Some(access), Some(float)) => {
                let dtype = self.ir.node(access.value).dtype;
                let p = self.frame_load(self.buffers, access.buffer.index());
                let v = self.b.ins().load(clif_type(dtype), self.mem, p, 0);
                let widened = if float {
                    self.translate_cast(dtype, DType::F64, v)
                } else {
                    self.translate_cast(dtype, DType::I64, v)
                };
                if float {
                    self.b
                        .ins()
                        .bitcast(types::I64, MemFlagsData::new(), widened)
                } else {
                    widened
                }
            }
            (None, None, Some(_)) => {
                return Err(internal(format!("lane loop {l} has no parameter")));
            }
        };
        let routine_addr = self
            .b
            .ins()
            .iconst(self.ptr, routine as *const LaneRoutine as usize as i64);
        let f = *self
            .callees
            .get(LANES_SYMBOL)
            .ok_or_else(|| internal("the lane shim was not imported"))?;
        self.b.ins().call(
            f,
            &[
                routine_addr,
                src_base,
                s_lane,
                s_elem,
                lanes,
                len,
                dst_base,
                d_lane,
                d_elem,
                param,
            ],
        );
        Ok(())
    }

    /// Calls stream shim `name` with the context and each run of
    /// consecutive numbers in `ids` (first, count): one call per run.
    fn call_streams(&mut self, name: &str, ids: impl IntoIterator<Item = usize>) -> Result<()> {
        let f = *self
            .callees
            .get(name)
            .ok_or_else(|| internal(format!("{name} was not imported")))?;
        for run in runs(ids) {
            let first = self.b.ins().iconst(self.ptr, run.start as i64);
            let count = self.b.ins().iconst(self.ptr, run.len() as i64);
            self.b.ins().call(f, &[self.streams, first, count]);
        }
        Ok(())
    }

    /// The address of element `k` of scratch row `row` of `dtype`.
    fn row_address(&mut self, g: &Group, row: usize, k: Value, dtype: DType) -> Value {
        let offset = self.b.ins().imul_imm_u(k, dtype.size() as i64);
        let p = self.b.ins().iadd(self.scratch, offset);
        self.b.ins().iadd_imm_s(p, (g.row_word(row) * 8) as i64)
    }

    /// A lane group: for each lane, its sweeps; for each sweep, its blocks;
    /// for each block, its steps (elementwise segments over the block's
    /// elements, and pushes of blocks into streams). A group over all
    /// elements of a matrix turns the first two around: for each sweep,
    /// every row, since its streams see the rows as one lane.
    fn translate_group_loop(
        &mut self,
        l: usize,
        nest: &LoopNest,
        g: &Group,
        stream_base: usize,
    ) -> Result<()> {
        let lanes = self.frame_load(self.dims, 2 * l);
        let len = self.frame_load(self.dims, 2 * l + 1);
        self.begin_short_lanes(g, len);
        let done = self.translate_lanes(nest, g, stream_base, lanes, len);
        self.short = None;
        done
    }

    /// [`Translator::translate_group_loop`]'s loops, with `lanes` lanes of
    /// `len` elements.
    fn translate_lanes(
        &mut self,
        nest: &LoopNest,
        g: &Group,
        stream_base: usize,
        lanes: Value,
        len: Value,
    ) -> Result<()> {
        if g.axis == crate::fuse::ALL {
            for (s, sweep) in g.sweeps.iter().enumerate() {
                self.sweep_start(g, s, stream_base)?;
                self.count_up_to(0, lanes, |t, lane| {
                    t.translate_blocks(nest, g, sweep, stream_base, lane, len)?;
                    Ok(t.b.ins().iadd_imm_u(lane, 1))
                })?;
                let lane0 = self.b.ins().iconst(self.ptr, 0);
                self.sweep_end(nest, g, sweep, stream_base, lane0)?;
            }
            return Ok(());
        }
        self.count_up_to(0, lanes, |t, lane| {
            for (s, sweep) in g.sweeps.iter().enumerate() {
                t.sweep_start(g, s, stream_base)?;
                t.translate_blocks(nest, g, sweep, stream_base, lane, len)?;
                t.sweep_end(nest, g, sweep, stream_base, lane)?;
            }
            Ok(t.b.ins().iadd_imm_u(lane, 1))
        })
    }

    /// The address of `access`'s first element in lane `lane` of a lane
    /// group, loaded from the frame where it is used. A group's loop calls
    /// into Rust for every block, and each call clobbers every
    /// caller-saved register, so an address held across the calls would
    /// live on the stack anyway; recomputing it (two loads, once per
    /// block) keeps the live ranges short, and ranges crossing calls are
    /// costly to allocate (16% fewer compile instructions for the rolling
    /// z-score).
    fn lane_address(&mut self, access: Access, lane: Value) -> Value {
        let base = self.frame_load(self.buffers, access.buffer.index());
        let s_lane = self.frame_load(self.strides, 2 * access.slot);
        let off = self.b.ins().imul(lane, s_lane);
        self.b.ins().iadd(base, off)
    }

    /// `i = start; while i < limit { i = body(i) }`: a top-tested loop
    /// whose body returns the next value of the counter.
    fn count_up_to(
        &mut self,
        start: i64,
        limit: Value,
        body: impl FnOnce(&mut Self, Value) -> Result<Value>,
    ) -> Result<()> {
        let i = self.b.declare_var(self.ptr);
        let first = self.b.ins().iconst(self.ptr, start);
        self.b.def_var(i, first);
        let head = self.b.create_block();
        let block = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(head, &[]);
        self.b.switch_to_block(head);
        let at = self.b.use_var(i);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, at, limit);
        self.b.ins().brif(more, block, &[], exit, &[]);
        self.b.switch_to_block(block);
        self.b.seal_block(block);
        let at = self.b.use_var(i);
        let next = body(self, at)?;
        self.b.def_var(i, next);
        self.b.ins().jump(head, &[]);
        self.b.seal_block(head);
        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        Ok(())
    }

    /// Restarts and second passes at the start of sweep `s`; the first
    /// sweep (of a lane, or of all of them for a group over every element)
    /// also starts the reductions, in the same calls where the numbers
    /// meet.
    fn sweep_start(&mut self, g: &Group, s: usize, stream_base: usize) -> Result<()> {
        let Some(sweep) = g.sweeps.get(s) else {
            return Err(internal("a sweep that is not in the group"));
        };
        let mut restart = sweep.restart.clone();
        if s == 0 {
            let reductions = (g.streams.iter().enumerate())
                .filter(|(_, st)| st.lane_slot.is_some())
                .map(|(k, _)| k);
            restart.extend(reductions);
            restart.sort_unstable();
            restart.dedup();
        }
        self.note_sweep(s, &sweep.next_pass);
        let (inline_restart, restart_calls) = self.split_inline(&restart);
        let (inline_next, next_calls) = self.split_inline(&sweep.next_pass);
        let calls = |t: &mut Self, restart: &[usize], next_pass: &[usize]| {
            t.call_streams(jit::STREAM_RESET, restart.iter().map(|k| stream_base + k))?;
            t.call_streams(
                jit::STREAM_NEXT_PASS,
                next_pass.iter().map(|k| stream_base + k),
            )
        };
        if inline_restart.is_empty() && inline_next.is_empty() {
            return calls(self, &restart, &sweep.next_pass);
        }
        // A generated reduction needs no reset: its push overwrites its
        // slot.
        self.on_short_lanes(
            |t| {
                calls(t, &restart_calls, &next_calls)?;
                inline_next
                    .iter()
                    .try_for_each(|&k| t.inline_next_pass(g, k))
            },
            |t| calls(t, &restart, &sweep.next_pass),
        )
    }

    /// Finishes and per-lane stores at the end of a sweep, in lane `lane`.
    fn sweep_end(
        &mut self,
        nest: &LoopNest,
        g: &Group,
        sweep: &crate::fuse::Sweep,
        stream_base: usize,
        lane: Value,
    ) -> Result<()> {
        let (inline, calls) = self.split_inline(&sweep.finish);
        let finish = |t: &mut Self, ids: &[usize]| {
            t.call_streams(jit::STREAM_FINISH, ids.iter().map(|k| stream_base + k))
        };
        if inline.is_empty() {
            finish(self, &sweep.finish)?;
        } else {
            self.on_short_lanes(
                |t| {
                    finish(t, &calls)?;
                    inline.iter().try_for_each(|&k| t.inline_finish(g, k))
                },
                |t| finish(t, &sweep.finish),
            )?;
        }
        for &s in &sweep.lane_stores {
            let access = nest.stores[s];
            let slot = g
                .slot_of(access.value)
                .ok_or_else(|| internal(format!("{} has no lane slot", access.value)))?;
            let ty = clif_type(self.ir.node(access.value).dtype);
            let v = self
                .b
                .ins()
                .load(ty, self.mem, self.scratch, (g.lane_word(slot) * 8) as i32);
            let p = self.lane_address(access, lane);
            self.b.ins().store(self.mem, v, p, 0);
        }
        Ok(())
    }

    /// The blocks of one lane in one sweep: `j0 = 0; while j0 < len { bl =
    /// min(len - j0, BLOCK); steps; j0 += bl }`.
    fn translate_blocks(
        &mut self,
        nest: &LoopNest,
        g: &Group,
        sweep: &crate::fuse::Sweep,
        stream_base: usize,
        lane: Value,
        len: Value,
    ) -> Result<()> {
        let nloads = nest.loads.len();
        self.count_up_to(0, len, |t, start| {
            let rest = t.b.ins().isub(len, start);
            let block = t.b.ins().iconst(t.ptr, BLOCK as i64);
            let bl = t.b.ins().umin(rest, block);
            // The address of access `a`'s first element in this block
            // (`nest.loads` then `nest.stores` numbering), and its stride.
            let pointer = |t: &mut Self, a: usize| {
                let access = if a < nloads {
                    nest.loads[a]
                } else {
                    nest.stores[a - nloads]
                };
                let base = t.lane_address(access, lane);
                let s_elem = t.frame_load(t.strides, 2 * access.slot + 1);
                let off = t.b.ins().imul(start, s_elem);
                let p = t.b.ins().iadd(base, off);
                (a, p, s_elem)
            };
            let mut steps = &sweep.steps[..];
            while let Some(step) = steps.first() {
                let count = batched(steps, g);
                steps = steps.get(count..).unwrap_or_default();
                match step {
                    Step::Push(k) => {
                        let direct = g.streams[*k].direct;
                        let push = |t: &mut Self, (first, count): (usize, usize)| {
                            t.direct_step(
                                nest,
                                jit::STREAM_PUSH,
                                (stream_base + first, count),
                                direct,
                                bl,
                                |t, a| pointer(t, a),
                            )
                        };
                        let ids: Vec<usize> = (*k..k + count).collect();
                        let (inline, calls) = t.split_inline(&ids);
                        if inline.is_empty() {
                            push(t, (*k, count))?;
                            continue;
                        }
                        t.on_short_lanes(
                            |t| {
                                for run in runs(calls) {
                                    push(t, (run.start, run.len()))?;
                                }
                                for &i in &inline {
                                    let x = t.push_operand(nest, g, i, |t, a| pointer(t, a))?;
                                    t.inline_push(g, i, x, bl)?;
                                }
                                Ok(())
                            },
                            |t| push(t, (*k, count)),
                        )?;
                    }
                    Step::Map(k) => {
                        t.direct_step(
                            nest,
                            jit::STREAM_MAP,
                            (t.map_base + k, count),
                            g.maps[*k].direct,
                            bl,
                            |t, a| pointer(t, a),
                        )?;
                    }
                    Step::Segment(seg) => {
                        let ptrs: Vec<_> = seg
                            .loads
                            .iter()
                            .copied()
                            .chain(seg.stores.iter().map(|&s| nloads + s))
                            .map(|a| pointer(t, a))
                            .collect();
                        t.translate_segment(nest, g, seg, &ptrs, bl)?;
                    }
                }
            }
            Ok(t.b.ins().iadd(start, bl))
        })
    }

    /// A push or a map of `bl` elements through shim `name` (the run of
    /// `count` numbers from `first`, all with the same operand),
    /// `direct` being their [`crate::fuse::Direct`]. A direct operand or
    /// result is passed as the address of the block in its buffer and its
    /// element stride; the shim reads and writes contiguous blocks in
    /// place and gathers or scatters the others through the step's rows
    /// (so the code holds no copy loops for them); a row operand or result
    /// is passed as null.
    fn direct_step(
        &mut self,
        nest: &LoopNest,
        name: &str,
        (first, count): (usize, usize),
        direct: crate::fuse::Direct,
        bl: Value,
        mut pointer: impl FnMut(&mut Self, usize) -> (usize, Value, Value),
    ) -> Result<()> {
        let nloads = nest.loads.len();
        let null = self.b.ins().iconst(self.ptr, 0);
        let (from, from_stride) = match direct.load {
            None => (null, null),
            Some(a) => {
                let (_, p, stride) = pointer(self, a);
                (p, stride)
            }
        };
        let (into, into_stride) = match direct.store {
            None => (null, null),
            Some(s) => {
                let (_, p, stride) = pointer(self, nloads + s);
                (p, stride)
            }
        };
        let f = *self
            .callees
            .get(name)
            .ok_or_else(|| internal(format!("{name} was not imported")))?;
        let first = self.b.ins().iconst(self.ptr, first as i64);
        let count = self.b.ins().iconst(self.ptr, count as i64);
        let args = [
            self.streams,
            first,
            count,
            bl,
            from,
            from_stride,
            into,
            into_stride,
        ];
        self.b.ins().call(f, &args);
        Ok(())
    }

    /// The vector loop of a segment, if its values have a vector form:
    /// it runs whole steps of the block while every pointer access is
    /// contiguous, advancing `vars` and the element counter `k`.
    #[allow(clippy::too_many_arguments)]
    fn vector_segment(
        &mut self,
        nest: &LoopNest,
        g: &Group,
        seg: &Segment,
        ptrs: &[(usize, Value, Value)],
        vars: &[Variable],
        k: Variable,
        bl: Value,
        invariant: &[(ValueId, Value)],
    ) -> Result<()> {
        let nloads = nest.loads.len();
        let (compute, splats) = split_hoisted(&seg.compute, invariant);
        let value_of = |a: usize| {
            if a < nloads {
                nest.loads[a].value
            } else {
                nest.stores[a - nloads].value
            }
        };
        let memory = ptrs
            .iter()
            .map(|&(a, _, _)| value_of(a))
            .chain(seg.scratch_in.iter().copied())
            .chain(seg.lane_in.iter().copied())
            .chain(seg.scratch_out.iter().copied())
            .chain(splats.iter().map(|&(v, _)| v));
        let Some(lanes) = self.vector_lanes(memory, &compute) else {
            return Ok(());
        };
        let reach: Vec<(Reach, Value)> = ptrs
            .iter()
            .map(|&(a, _, stride)| (self.reach(value_of(a)), stride))
            .collect();
        let limit = self.vector_extent(lanes, &reach, bl);
        let slot = |a: usize| -> Result<Place> {
            let at = ptrs
                .iter()
                .position(|&(x, _, _)| x == a)
                .ok_or_else(|| internal("segment access without a pointer"))?;
            Ok(Place::Slot(vars[at], reach[at].0))
        };
        let row = |t: &mut Self, v: ValueId| -> Result<Place> {
            let row = g
                .row_of(v)
                .ok_or_else(|| internal(format!("{v} has no scratch row")))?;
            let base =
                t.b.ins()
                    .iadd_imm_s(t.scratch, (g.row_word(row) * 8) as i64);
            Ok(Place::Row(base))
        };
        let mut loads = Vec::new();
        for &a in &seg.loads {
            loads.push((nest.loads[a].value, slot(a)?));
        }
        for &v in &seg.scratch_in {
            loads.push((v, row(self, v)?));
        }
        for &v in &seg.lane_in {
            let s = g
                .slot_of(v)
                .ok_or_else(|| internal(format!("{v} has no lane slot")))?;
            let addr = self
                .b
                .ins()
                .iadd_imm_s(self.scratch, (g.lane_word(s) * 8) as i64);
            loads.push((v, Place::Fixed(addr)));
        }
        let mut stores = Vec::new();
        for &v in &seg.scratch_out {
            stores.push((v, row(self, v)?));
        }
        for &s in &seg.stores {
            stores.push((nest.stores[s].value, slot(nloads + s)?));
        }
        let body = VectorBody {
            loads,
            compute: &compute,
            stores,
            splats: &splats,
        };
        self.vector_loop(lanes, &body, k, limit)
    }

    /// One segment over the `bl >= 1` elements of a block: `ptrs` holds,
    /// for each of its accesses (`nest.loads` then `nest.stores` numbering),
    /// the address of the block's first element and the element stride.
    /// A vector body runs while the block is contiguous, then the scalar
    /// body.
    fn translate_segment(
        &mut self,
        nest: &LoopNest,
        g: &Group,
        seg: &Segment,
        ptrs: &[(usize, Value, Value)],
        bl: Value,
    ) -> Result<()> {
        let nloads = nest.loads.len();
        let vars: Vec<Variable> = ptrs
            .iter()
            .map(|&(_, p, _)| {
                let var = self.b.declare_var(self.ptr);
                self.b.def_var(var, p);
                var
            })
            .collect();
        let k = self.b.declare_var(self.ptr);
        let zero = self.b.ins().iconst(self.ptr, 0);
        self.b.def_var(k, zero);
        let find = |a: usize| ptrs.iter().position(|&(x, _, _)| x == a);
        // Per-lane values (a reduction's result), scalars and the float
        // work on those alone do not change along the block: loaded and
        // computed once, before the loop (`hoist`).
        let mut known: Vec<(ValueId, Value)> = Vec::new();
        for &v in &seg.lane_in {
            let slot = g
                .slot_of(v)
                .ok_or_else(|| internal(format!("{v} has no lane slot")))?;
            let ty = clif_type(self.ir.node(v).dtype);
            let x = self
                .b
                .ins()
                .load(ty, self.mem, self.scratch, (g.lane_word(slot) * 8) as i32);
            known.push((v, x));
        }
        for &a in &seg.loads {
            let value = nest.loads[a].value;
            if self.is_scalar_load(value) {
                let var =
                    vars[find(a).ok_or_else(|| internal("segment load without a pointer"))?];
                let p = self.b.use_var(var);
                let x = self
                    .b
                    .ins()
                    .load(clif_type(self.ir.node(value).dtype), self.mem, p, 0);
                known.push((value, x));
            }
        }
        let invariant = self.hoist(&seg.compute, known)?;
        self.vector_segment(nest, g, seg, ptrs, &vars, k, bl, &invariant)?;
        let body = self.b.create_block();
        let exit = self.b.create_block();
        let kv = self.b.use_var(k);
        let more = self.b.ins().icmp(IntCC::NotEqual, kv, bl);
        self.b.ins().brif(more, body, &[], exit, &[]);
        self.b.switch_to_block(body);
        self.restore(&invariant);
        let kv = self.b.use_var(k);
        for &a in &seg.loads {
            let access = nest.loads[a];
            if self.values[access.value.index()].is_some() {
                continue;
            }
            let var = vars[find(a).ok_or_else(|| internal("segment load without a pointer"))?];
            let p = self.b.use_var(var);
            let ty = clif_type(self.ir.node(access.value).dtype);
            let v = self.b.ins().load(ty, self.mem, p, 0);
            self.values[access.value.index()] = Some(v);
        }
        for &v in &seg.scratch_in {
            let row = g
                .row_of(v)
                .ok_or_else(|| internal(format!("{v} has no scratch row")))?;
            let dtype = self.ir.node(v).dtype;
            let p = self.row_address(g, row, kv, dtype);
            let x = self.b.ins().load(clif_type(dtype), self.mem, p, 0);
            self.values[v.index()] = Some(x);
        }
        for &v in &seg.compute {
            if self.values[v.index()].is_none() {
                let value = self.translate_node(v)?;
                self.values[v.index()] = Some(value);
            }
        }
        for &v in &seg.scratch_out {
            let row = g
                .row_of(v)
                .ok_or_else(|| internal(format!("{v} has no scratch row")))?;
            let x = self.value(v)?;
            let p = self.row_address(g, row, kv, self.ir.node(v).dtype);
            self.b.ins().store(self.mem, x, p, 0);
        }
        for &s in &seg.stores {
            let access = nest.stores[s];
            let var = vars
                [find(nloads + s).ok_or_else(|| internal("segment store without a pointer"))?];
            let x = self.value(access.value)?;
            let p = self.b.use_var(var);
            self.b.ins().store(self.mem, x, p, 0);
        }
        for (var, &(_, _, stride)) in vars.iter().zip(ptrs) {
            let p = self.b.use_var(*var);
            let p = self.b.ins().iadd(p, stride);
            self.b.def_var(*var, p);
        }
        let next = self.b.ins().iadd_imm_u(kv, 1);
        self.b.def_var(k, next);
        let more = self.b.ins().icmp(IntCC::NotEqual, next, bl);
        self.b.ins().brif(more, body, &[], exit, &[]);
        self.b.seal_block(body);
        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        Ok(())
    }

    /// The vector body's plan for a loop nest: its lanes, how it reaches
    /// each slot, and the number of elements of `n` it runs (computed
    /// once, outside every loop).
    fn vector_plan(
        &mut self,
        nest: &LoopNest,
        slots: &[SlotFrame],
        axis: usize,
        n: Value,
    ) -> Option<VectorPlan> {
        let accesses = || nest.loads.iter().chain(&nest.stores);
        // Values computed before the loop reach the vector body as splats,
        // like rank-0 loads: their calls do not keep it from running.
        let scalars = nest.loads.iter().map(|a| a.value);
        let hoisted = self.hoistable(&nest.compute, scalars.filter(|&v| self.is_scalar_load(v)));
        let compute: Vec<ValueId> = nest
            .compute
            .iter()
            .copied()
            .filter(|v| !hoisted.contains(v))
            .collect();
        let memory = accesses().map(|a| a.value).chain(hoisted.iter().copied());
        let lanes = self.vector_lanes(memory, &compute)?;
        let reach: Vec<(Reach, Value)> = accesses()
            .zip(slots)
            .map(|(a, s)| {
                let stride = s.strides[axis].expect("strides of the loop's axes were read");
                (self.reach(a.value), stride)
            })
            .collect();
        let limit = self.vector_extent(lanes, &reach, n);
        Some(VectorPlan {
            lanes,
            reach: reach.into_iter().map(|(r, _)| r).collect(),
            limit,
        })
    }

    /// The innermost loop over `n` elements along `axis`: the vector body
    /// while `vector` has whole steps left, then the scalar body, top-tested
    /// (`while i != n { body; advance; i += 1 }`).
    fn inner_loop(
        &mut self,
        nest: &LoopNest,
        slots: &[SlotFrame],
        axis: usize,
        n: Value,
        vector: Option<&VectorPlan>,
    ) -> Result<()> {
        let i = self.b.declare_var(self.ptr);
        let zero = self.b.ins().iconst(self.ptr, 0);
        self.b.def_var(i, zero);
        let invariant = self.hoist_scalars(nest, slots)?;
        if let Some(v) = vector {
            let (compute, splats) = split_hoisted(&nest.compute, &invariant);
            let mut places = v
                .reach
                .iter()
                .zip(slots)
                .map(|(&r, s)| Place::Slot(s.ptr, r));
            let body = VectorBody {
                loads: nest
                    .loads
                    .iter()
                    .map(|a| a.value)
                    .zip(places.by_ref())
                    .collect(),
                compute: &compute,
                stores: nest.stores.iter().map(|a| a.value).zip(places).collect(),
                splats: &splats,
            };
            self.vector_loop(v.lanes, &body, i, v.limit)?;
        }
        let body = self.b.create_block();
        let exit = self.b.create_block();
        let at = self.b.use_var(i);
        let more = self.b.ins().icmp(IntCC::NotEqual, at, n);
        self.b.ins().brif(more, body, &[], exit, &[]);

        self.b.switch_to_block(body);
        self.translate_body_with(nest, slots, &invariant)?;
        self.advance(slots, axis, |s| s.ptr);
        let next = self.b.use_var(i);
        let next = self.b.ins().iadd_imm_u(next, 1);
        self.b.def_var(i, next);
        let more = self.b.ins().icmp(IntCC::NotEqual, next, n);
        self.b.ins().brif(more, body, &[], exit, &[]);
        self.b.seal_block(body);

        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        Ok(())
    }

    fn translate_loop_1d(&mut self, nest: &LoopNest, slots: &[SlotFrame], n: Value) -> Result<()> {
        let vector = self.vector_plan(nest, slots, 0, n);
        self.inner_loop(nest, slots, 0, n, vector.as_ref())
    }

    /// Rows outside, columns inside, behind one test for an empty
    /// iteration space.
    fn translate_loop_2d(
        &mut self,
        nest: &LoopNest,
        slots: &[SlotFrame],
        rows: Value,
        cols: Value,
    ) -> Result<()> {
        let vector = self.vector_plan(nest, slots, 1, cols);
        let outer_body = self.b.create_block();
        let outer_latch = self.b.create_block();
        let exit = self.b.create_block();
        let i = self.b.declare_var(self.ptr);
        let zero = self.b.ins().iconst(self.ptr, 0);
        self.b.def_var(i, zero);
        let no_rows = self.b.ins().icmp_imm_u(IntCC::Equal, rows, 0);
        let no_cols = self.b.ins().icmp_imm_u(IntCC::Equal, cols, 0);
        let empty = self.b.ins().bor(no_rows, no_cols);
        self.b.ins().brif(empty, exit, &[], outer_body, &[]);

        // Start a row: every slot's pointer at its row pointer.
        self.b.switch_to_block(outer_body);
        for s in slots {
            let row = self.b.use_var(s.row.expect("rank-2 slots have rows"));
            self.b.def_var(s.ptr, row);
        }
        self.inner_loop(nest, slots, 1, cols, vector.as_ref())?;
        self.b.ins().jump(outer_latch, &[]);

        self.b.switch_to_block(outer_latch);
        self.b.seal_block(outer_latch);
        self.advance(slots, 0, |s| s.row.expect("rank-2 slots have rows"));
        let next = self.b.use_var(i);
        let next = self.b.ins().iadd_imm_u(next, 1);
        self.b.def_var(i, next);
        let more = self.b.ins().icmp(IntCC::NotEqual, next, rows);
        self.b.ins().brif(more, outer_body, &[], exit, &[]);
        self.b.seal_block(outer_body);

        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        Ok(())
    }

    /// Adds each slot's stride along `axis` to the pointer `which` selects.
    fn advance(
        &mut self,
        slots: &[SlotFrame],
        axis: usize,
        which: impl Fn(&SlotFrame) -> Variable,
    ) {
        for s in slots {
            let var = which(s);
            let stride = s.strides[axis].expect("strides of the loop's axes were read");
            let p = self.b.use_var(var);
            let p = self.b.ins().iadd(p, stride);
            self.b.def_var(var, p);
        }
    }

    /// One iteration: loads, computation, stores.
    fn translate_body(&mut self, nest: &LoopNest, slots: &[SlotFrame]) -> Result<()> {
        self.translate_body_with(nest, slots, &[])
    }

    /// Whether `v` is a load of a scalar (rank 0, not a constant): the
    /// same element for the whole loop.
    fn is_scalar_load(&self, v: ValueId) -> bool {
        let node = self.ir.node(v);
        node.rank == 0 && !matches!(node.op, Op::Const(_))
    }

    /// The values of `compute` that do not change along a loop whose
    /// `known` values do not: float arithmetic and functions of constants,
    /// `known` values and each other. Float work never traps, so computing
    /// it before a loop that turns out empty is harmless.
    fn hoistable(&self, compute: &[ValueId], known: impl Iterator<Item = ValueId>) -> Vec<ValueId> {
        let ir = self.ir;
        let mut known: Vec<ValueId> = known.collect();
        let mut hoisted = Vec::new();
        for &v in compute {
            let node = ir.node(v);
            let ok = node.dtype.is_float()
                && matches!(node.op, Op::Unary(..) | Op::Binary(..))
                && node
                    .op
                    .operands()
                    .iter()
                    .all(|o| matches!(ir.node(*o).op, Op::Const(_)) || known.contains(o));
            if ok {
                known.push(v);
                hoisted.push(v);
            }
        }
        hoisted
    }

    /// Emits, here (before a loop), the [`Self::hoistable`] values of
    /// `compute` given the `known` ones already loaded; returns both, for
    /// the loop's bodies (`x * arctan(c)` calls `arctan` once, not once an
    /// element; Cranelift moves no calls out of loops).
    fn hoist(
        &mut self,
        compute: &[ValueId],
        known: Vec<(ValueId, Value)>,
    ) -> Result<Vec<(ValueId, Value)>> {
        self.restore(&known);
        let hoisted = self.hoistable(compute, known.iter().map(|&(v, _)| v));
        let mut invariant = known;
        for v in hoisted {
            let x = self.translate_node(v)?;
            self.values[v.index()] = Some(x);
            invariant.push((v, x));
        }
        Ok(invariant)
    }

    /// Clears the values of the last body but the `invariant` ones.
    fn restore(&mut self, invariant: &[(ValueId, Value)]) {
        self.values.fill(None);
        for &(v, x) in invariant {
            self.values[v.index()] = Some(x);
        }
    }

    /// A plain loop's scalars, loaded before it, and the work on them
    /// alone ([`Self::hoist`]).
    fn hoist_scalars(
        &mut self,
        nest: &LoopNest,
        slots: &[SlotFrame],
    ) -> Result<Vec<(ValueId, Value)>> {
        let mut known = Vec::new();
        for access in &nest.loads {
            if !self.is_scalar_load(access.value) {
                continue;
            }
            let Some(s) = slots.iter().find(|s| s.slot == access.slot) else {
                continue;
            };
            let p = self.b.use_var(s.ptr);
            let ty = clif_type(self.ir.node(access.value).dtype);
            known.push((access.value, self.b.ins().load(ty, self.mem, p, 0)));
        }
        self.hoist(&nest.compute, known)
    }

    /// The body, with the `invariant` values computed before the loop.
    fn translate_body_with(
        &mut self,
        nest: &LoopNest,
        slots: &[SlotFrame],
        invariant: &[(ValueId, Value)],
    ) -> Result<()> {
        self.restore(invariant);
        let pointer = |slot: usize| {
            slots
                .iter()
                .find(|s| s.slot == slot)
                .map(|s| s.ptr)
                .ok_or_else(|| internal(format!("slot {slot} has no pointer")))
        };
        for access in &nest.loads {
            if matches!(self.ir.node(access.value).op, Op::Const(_))
                || self.values[access.value.index()].is_some()
            {
                continue;
            }
            let p = self.b.use_var(pointer(access.slot)?);
            let ty = clif_type(self.ir.node(access.value).dtype);
            let v = self.b.ins().load(ty, self.mem, p, 0);
            self.values[access.value.index()] = Some(v);
        }
        for &v in &nest.compute {
            if self.values[v.index()].is_some() {
                continue;
            }
            let value = self.translate_node(v)?;
            self.values[v.index()] = Some(value);
        }
        for access in &nest.stores {
            let v = self.value(access.value)?;
            let p = self.b.use_var(pointer(access.slot)?);
            self.b.ins().store(self.mem, v, p, 0);
        }
        Ok(())
    }

    /// `if c { x } else { y }` without a branch. Cranelift's x86 backend
    /// lowers a float `select` to a conditional jump around a move, which
    /// mispredicts on data-dependent conditions; a float blend is done on
    /// the bits instead (a mask from the condition, `bitselect`). Integer
    /// selects already become `cmov`.
    fn blend(&mut self, c: Value, x: Value, y: Value) -> Value {
        let ty = self.b.func.dfg.value_type(x);
        let int = match ty {
            types::F64 => types::I64,
            types::F32 => types::I32,
            _ => return self.b.ins().select(c, x, y),
        };
        let mask = self.b.ins().bmask(int, c);
        let flags = MemFlagsData::new();
        let xi = self.b.ins().bitcast(int, flags, x);
        let yi = self.b.ins().bitcast(int, flags, y);
        let r = self.b.ins().bitselect(mask, xi, yi);
        self.b.ins().bitcast(ty, flags, r)
    }

    /// The SSA value of `id` in the current body (constants are
    /// materialised here, at their use).
    fn value(&mut self, id: ValueId) -> Result<Value> {
        if let Op::Const(c) = self.ir.node(id).op {
            return Ok(self.translate_const(c));
        }
        self.values[id.index()]
            .ok_or_else(|| internal(format!("{id} is used before it is computed")))
    }

    fn translate_const(&mut self, c: Scalar) -> Value {
        match c {
            Scalar::Bool(v) => self.int(types::I8, i64::from(v)),
            Scalar::I32(v) => self.int(types::I32, i64::from(v)),
            Scalar::I64(v) => self.int(types::I64, v),
            Scalar::F32(v) => self.b.ins().f32const(Ieee32::with_bits(v.to_bits())),
            Scalar::F64(v) => self.b.ins().f64const(Ieee64::with_bits(v.to_bits())),
        }
    }

    /// An integer constant of type `ty` (Cranelift wants narrow immediates
    /// zero-extended).
    fn int(&mut self, ty: Type, v: i64) -> Value {
        let imm = match ty.bits() {
            8 => i64::from(v as u8),
            16 => i64::from(v as u16),
            32 => i64::from(v as u32),
            _ => v,
        };
        self.b.ins().iconst(ty, imm)
    }

    fn float(&mut self, ty: Type, v: f64) -> Value {
        if ty == types::F32 {
            self.b.ins().f32const(v as f32)
        } else {
            self.b.ins().f64const(v)
        }
    }

    fn translate_node(&mut self, id: ValueId) -> Result<Value> {
        let node = self.ir.node(id);
        let unsupported = || {
            internal(format!(
                "{id}: {:?} is not defined on these dtypes (result {})",
                node.op, node.dtype
            ))
        };
        if let Some((name, _)) = callee(self.ir, id) {
            return self.translate_call(&name, &node.op.operands());
        }
        match node.op {
            Op::Input(_) | Op::Const(_) => self.value(id),
            Op::Unary(op, a) => {
                let x = self.value(a)?;
                let dtype = self.ir.node(a).dtype;
                self.translate_unary(op, dtype, x).ok_or_else(unsupported)
            }
            Op::Binary(op, a, b) => {
                if let Some(r) = self.contract(op, a, b, None)? {
                    return Ok(r);
                }
                let (x, y) = (self.value(a)?, self.value(b)?);
                let dtype = self.ir.node(a).dtype;
                self.translate_binary(op, dtype, x, y)
                    .ok_or_else(unsupported)
            }
            Op::Cast(a) => {
                let x = self.value(a)?;
                Ok(self.translate_cast(self.ir.node(a).dtype, node.dtype, x))
            }
            Op::Where(c, a, b) => {
                let (c, x, y) = (self.value(c)?, self.value(a)?, self.value(b)?);
                Ok(self.blend(c, x, y))
            }
            Op::Lane { .. } | Op::Recur(_) => Err(Error::internal(format!(
                "{id}: a lane operation inside an elementwise loop (the plan must materialise it)"
            ))),
        }
    }

    fn translate_call(&mut self, name: &str, operands: &[ValueId]) -> Result<Value> {
        let f = *self
            .callees
            .get(name)
            .ok_or_else(|| internal(format!("{name} was not imported")))?;
        let args = operands
            .iter()
            .map(|&a| self.value(a))
            .collect::<Result<Vec<_>>>()?;
        let call = self.b.ins().call(f, &args);
        Ok(self.b.inst_results(call)[0])
    }

    /// `op x` for an operand of `dtype`; `None` if `scalar` does not define
    /// it there.
    fn translate_unary(&mut self, op: UnaryOp, dtype: DType, x: Value) -> Option<Value> {
        match dtype {
            DType::F32 | DType::F64 => self.translate_unary_float(op, clif_type(dtype), x),
            DType::I32 | DType::I64 => self.translate_unary_int(op, clif_type(dtype), x),
            DType::Bool => self.translate_unary_bool(op, x),
        }
    }

    fn translate_unary_float(&mut self, op: UnaryOp, ty: Type, x: Value) -> Option<Value> {
        use UnaryOp::*;
        Some(match op {
            Neg => self.b.ins().fneg(x),
            Abs => self.b.ins().fabs(x),
            Sqrt => self.b.ins().sqrt(x),
            Square => self.b.ins().fmul(x, x),
            Reciprocal => {
                let one = self.float(ty, 1.0);
                self.b.ins().fdiv(one, x)
            }
            Floor => self.b.ins().floor(x),
            Ceil => self.b.ins().ceil(x),
            Trunc => self.b.ins().trunc(x),
            Rint => self.b.ins().nearest(x),
            // NaN -> x itself, ±0 -> +0.0, else ±1.0.
            Sign => {
                let one = self.float(ty, 1.0);
                let zero = self.float(ty, 0.0);
                let unit = self.b.ins().fcopysign(one, x);
                let is_zero = self.b.ins().fcmp(FloatCC::Equal, x, zero);
                let r = self.blend(is_zero, zero, unit);
                let is_nan = self.b.ins().fcmp(FloatCC::Unordered, x, x);
                self.blend(is_nan, x, r)
            }
            IsNan => self.b.ins().fcmp(FloatCC::Unordered, x, x),
            IsInf | IsFinite => {
                let inf = self.float(ty, f64::INFINITY);
                let a = self.b.ins().fabs(x);
                let cc = if op == IsInf {
                    FloatCC::Equal
                } else {
                    FloatCC::LessThan
                };
                self.b.ins().fcmp(cc, a, inf)
            }
            Signbit => {
                let ity = ty.as_int();
                let bits = self.b.ins().bitcast(ity, MemFlagsData::new(), x);
                let zero = self.int(ity, 0);
                self.b.ins().icmp(IntCC::SignedLessThan, bits, zero)
            }
            _ => return None,
        })
    }

    fn translate_unary_int(&mut self, op: UnaryOp, ty: Type, x: Value) -> Option<Value> {
        use UnaryOp::*;
        Some(match op {
            Neg => self.b.ins().ineg(x),
            Not => self.b.ins().bnot(x),
            Abs => self.b.ins().iabs(x),
            Square => self.b.ins().imul(x, x),
            // (x > 0) - (x < 0)
            Sign => {
                let zero = self.int(ty, 0);
                let pos = self.b.ins().icmp(IntCC::SignedGreaterThan, x, zero);
                let neg = self.b.ins().icmp(IntCC::SignedLessThan, x, zero);
                let pos = self.b.ins().uextend(ty, pos);
                let neg = self.b.ins().uextend(ty, neg);
                self.b.ins().isub(pos, neg)
            }
            // 1 / x truncated, 1 / 0 = 0: x itself for -1, 0, 1 (x + 1
            // unsigned <= 2), else 0.
            Reciprocal => {
                let one = self.int(ty, 1);
                let two = self.int(ty, 2);
                let zero = self.int(ty, 0);
                let shifted = self.b.ins().iadd(x, one);
                let small = self
                    .b
                    .ins()
                    .icmp(IntCC::UnsignedLessThanOrEqual, shifted, two);
                self.blend(small, x, zero)
            }
            Signbit => {
                let zero = self.int(ty, 0);
                self.b.ins().icmp(IntCC::SignedLessThan, x, zero)
            }
            IsFinite => self.int(types::I8, 1),
            IsNan | IsInf => self.int(types::I8, 0),
            _ => return None,
        })
    }

    fn translate_unary_bool(&mut self, op: UnaryOp, x: Value) -> Option<Value> {
        use UnaryOp::*;
        Some(match op {
            Not => self.b.ins().bxor_imm_u(x, 1),
            Abs | Sign | Square | Reciprocal => x,
            IsFinite => self.int(types::I8, 1),
            IsNan | IsInf | Signbit => self.int(types::I8, 0),
            _ => return None,
        })
    }

    /// `x op y` for operands of `dtype`; `None` if `scalar` does not define
    /// it there.
    fn translate_binary(
        &mut self,
        op: BinaryOp,
        dtype: DType,
        x: Value,
        y: Value,
    ) -> Option<Value> {
        match dtype {
            DType::F32 | DType::F64 => self.translate_binary_float(op, x, y),
            DType::I32 | DType::I64 => self.translate_binary_int(op, clif_type(dtype), x, y),
            DType::Bool => self.translate_binary_bool(op, x, y),
        }
    }

    fn translate_binary_float(&mut self, op: BinaryOp, x: Value, y: Value) -> Option<Value> {
        use BinaryOp::*;
        let cmp = |t: &mut Self, cc: FloatCC| t.b.ins().fcmp(cc, x, y);
        Some(match op {
            Add => self.b.ins().fadd(x, y),
            Sub => self.b.ins().fsub(x, y),
            Mul => self.b.ins().fmul(x, y),
            Div => self.b.ins().fdiv(x, y),
            Copysign => self.b.ins().fcopysign(x, y),
            Lt => cmp(self, FloatCC::LessThan),
            Le => cmp(self, FloatCC::LessThanOrEqual),
            Gt => cmp(self, FloatCC::GreaterThan),
            Ge => cmp(self, FloatCC::GreaterThanOrEqual),
            Eq => cmp(self, FloatCC::Equal),
            // Unordered or not equal: NaN != anything.
            Ne => cmp(self, FloatCC::NotEqual),
            // Not Cranelift's fmin/fmax: NumPy returns the second operand
            // on ties (±0), and the first NaN operand itself.
            // On one lane of a vector: the compares give lane masks in the
            // float registers and the blend is one instruction, where the
            // scalar form moves the condition through integer registers (a
            // running maximum's loop-carried chain halves).
            Minimum | Maximum | Fmin | Fmax if self.b.func.dfg.value_type(x).is_float() => {
                let ty = self.b.func.dfg.value_type(x);
                let vty = ty.by(128 / ty.bits()).expect("a 128-bit vector of floats");
                let xv = self.b.ins().scalar_to_vector(vty, x);
                let yv = self.b.ins().scalar_to_vector(vty, y);
                let r = self.minmax_lanes(op, xv, yv, false);
                self.b.ins().extractlane(r, 0)
            }
            Minimum | Maximum | Fmin | Fmax => {
                let cc = if matches!(op, Minimum | Fmin) {
                    FloatCC::LessThan
                } else {
                    FloatCC::GreaterThan
                };
                // One blend of x and y, on a condition that folds in the
                // NaN rules (so no chain of selects).
                let pick = cmp(self, cc);
                let x_nan = self.b.ins().fcmp(FloatCC::Unordered, x, x);
                let take_x = if matches!(op, Minimum | Maximum) {
                    // x if x is NaN, else y if y is NaN (the pick is then
                    // false), else the pick.
                    self.b.ins().bor(pick, x_nan)
                } else {
                    // y if x is NaN, else x if y is NaN, else the pick.
                    let y_nan = self.b.ins().fcmp(FloatCC::Unordered, y, y);
                    let either = self.b.ins().bor(pick, y_nan);
                    self.b.ins().band_not(either, x_nan)
                };
                self.blend(take_x, x, y)
            }
            _ => return None,
        })
    }

    fn translate_binary_int(
        &mut self,
        op: BinaryOp,
        ty: Type,
        x: Value,
        y: Value,
    ) -> Option<Value> {
        use BinaryOp::*;
        let cmp = |t: &mut Self, cc: IntCC| t.b.ins().icmp(cc, x, y);
        Some(match op {
            Add => self.b.ins().iadd(x, y),
            Sub => self.b.ins().isub(x, y),
            Mul => self.b.ins().imul(x, y),
            BitAnd => self.b.ins().band(x, y),
            BitOr => self.b.ins().bor(x, y),
            BitXor => self.b.ins().bxor(x, y),
            Lt => cmp(self, IntCC::SignedLessThan),
            Le => cmp(self, IntCC::SignedLessThanOrEqual),
            Gt => cmp(self, IntCC::SignedGreaterThan),
            Ge => cmp(self, IntCC::SignedGreaterThanOrEqual),
            Eq => cmp(self, IntCC::Equal),
            Ne => cmp(self, IntCC::NotEqual),
            Minimum | Fmin => self.b.ins().smin(x, y),
            Maximum | Fmax => self.b.ins().smax(x, y),
            FloorDiv | Mod | Fmod => self.translate_int_division(op, ty, x, y),
            _ => return None,
        })
    }

    /// Integer `//`, `%` and `fmod` as `scalar` defines them, with no
    /// instruction that can trap: a divisor of 0 or -1 is replaced by 1
    /// before dividing (so `sdiv`/`srem` see neither 0 nor `MIN / -1`), and
    /// the results for those divisors are selected afterwards (`x // 0 = 0`,
    /// `x // -1 = -x` wrapping, remainders 0).
    fn translate_int_division(&mut self, op: BinaryOp, ty: Type, x: Value, y: Value) -> Value {
        let zero = self.int(ty, 0);
        let one = self.int(ty, 1);
        let minus_one = self.int(ty, -1);
        let y_zero = self.b.ins().icmp(IntCC::Equal, y, zero);
        let y_minus_one = self.b.ins().icmp(IntCC::Equal, y, minus_one);
        let unsafe_divisor = self.b.ins().bor(y_zero, y_minus_one);
        let divisor = self.blend(unsafe_divisor, one, y);
        // With divisor 1 the remainder is 0, right for y = 0 and y = -1.
        let r = self.b.ins().srem(x, divisor);
        if op == BinaryOp::Fmod {
            return r;
        }
        // Floor adjustment: the remainder is nonzero and its sign differs
        // from the divisor's.
        let r_nonzero = self.b.ins().icmp(IntCC::NotEqual, r, zero);
        let signs = self.b.ins().bxor(r, y);
        let signs_differ = self.b.ins().icmp(IntCC::SignedLessThan, signs, zero);
        let adjust = self.b.ins().band(r_nonzero, signs_differ);
        if op == BinaryOp::Mod {
            let plus = self.b.ins().iadd(r, y);
            return self.blend(adjust, plus, r);
        }
        let q = self.b.ins().sdiv(x, divisor);
        let neg_x = self.b.ins().ineg(x);
        let q = self.blend(y_minus_one, neg_x, q);
        let adjust = self.b.ins().uextend(ty, adjust);
        let q = self.b.ins().isub(q, adjust);
        self.blend(y_zero, zero, q)
    }

    fn translate_binary_bool(&mut self, op: BinaryOp, x: Value, y: Value) -> Option<Value> {
        use BinaryOp::*;
        // false < true: unsigned compares of 0/1.
        let cmp = |t: &mut Self, cc: IntCC| t.b.ins().icmp(cc, x, y);
        Some(match op {
            Add | BitOr | Maximum | Fmax => self.b.ins().bor(x, y),
            Mul | BitAnd | Minimum | Fmin => self.b.ins().band(x, y),
            BitXor => self.b.ins().bxor(x, y),
            Lt => cmp(self, IntCC::UnsignedLessThan),
            Le => cmp(self, IntCC::UnsignedLessThanOrEqual),
            Gt => cmp(self, IntCC::UnsignedGreaterThan),
            Ge => cmp(self, IntCC::UnsignedGreaterThanOrEqual),
            Eq => cmp(self, IntCC::Equal),
            Ne => cmp(self, IntCC::NotEqual),
            _ => return None,
        })
    }

    /// Conversion as `scalar::cast` (Rust's `as`): to bool is `!= 0` (NaN
    /// true); float to int truncates and saturates, NaN -> 0; int to int
    /// wraps; int to float and f64 to f32 round to nearest.
    fn translate_cast(&mut self, from: DType, to: DType, x: Value) -> Value {
        let (ft, tt) = (clif_type(from), clif_type(to));
        if from == to {
            return x;
        }
        match (from, to) {
            (DType::F32 | DType::F64, DType::Bool) => {
                let zero = self.float(ft, 0.0);
                self.b.ins().fcmp(FloatCC::NotEqual, x, zero)
            }
            (_, DType::Bool) => {
                let zero = self.int(ft, 0);
                self.b.ins().icmp(IntCC::NotEqual, x, zero)
            }
            (DType::Bool, DType::I32 | DType::I64) => self.b.ins().uextend(tt, x),
            (DType::Bool, _) => {
                let wide = self.b.ins().uextend(types::I32, x);
                self.b.ins().fcvt_from_sint(tt, wide)
            }
            (DType::I32, DType::I64) => self.b.ins().sextend(tt, x),
            (DType::I64, DType::I32) => self.b.ins().ireduce(tt, x),
            (DType::I32 | DType::I64, _) => self.b.ins().fcvt_from_sint(tt, x),
            (DType::F32, DType::F64) => self.b.ins().fpromote(tt, x),
            (DType::F64, DType::F32) => self.b.ins().fdemote(tt, x),
            // Float to int.
            _ => self.b.ins().fcvt_to_sint_sat(tt, x),
        }
    }
}

mod short;
mod simd;
#[cfg(test)]
pub(crate) mod tests;

/// `compute` without the values computed before the loop, and those
/// values (of `invariant`), which a vector body splats instead.
fn split_hoisted(
    compute: &[ValueId],
    invariant: &[(ValueId, Value)],
) -> (Vec<ValueId>, Vec<(ValueId, Value)>) {
    let splats: Vec<(ValueId, Value)> = invariant
        .iter()
        .copied()
        .filter(|(v, _)| compute.contains(v))
        .collect();
    let rest = compute
        .iter()
        .copied()
        .filter(|v| !splats.iter().any(|(s, _)| s == v))
        .collect();
    (rest, splats)
}
