//! JIT memory and kernel calls: the only module with `unsafe` code.
//!
//! Design:
//! - **One module per kernel.** Every compiled kernel owns its own
//!   [`JITModule`], so its code pages can be unmapped on their own when the
//!   kernel is dropped ([`JITModule::free_memory`]); a long-running engine
//!   with an evicting cache does not leak code memory. The price is a page or
//!   two of code memory per kernel, which kernels of a few hundred bytes
//!   waste, and a fresh symbol table per module (only the callees a kernel
//!   actually uses are registered).
//! - **One target ISA per (opt level, verifier) pair, built once per
//!   process.** Cranelift keeps `opt_level` and `enable_verifier` in the ISA's
//!   shared flags, so they cannot be set per function; detecting the host CPU
//!   is the slow part of building an ISA, so the four possible ISAs are built
//!   lazily and shared ([`OnceLock`]); a module holds an `Arc` to its ISA.
//! - **Raw pointers stay here.** The entry point is a private field of
//!   [`CompiledCode`]; the only way to call it is [`run`], which first checks
//!   that every byte the kernel can touch lies inside the memory the caller
//!   lent it (see [`run`]). Code generation (`crate::codegen`) builds the
//!   Cranelift function with safe APIs only and hands it to
//!   [`KernelModule::finish`]; the host functions it calls are described by
//!   typed [`HostFn`] values whose Cranelift signature is derived here, next
//!   to the Rust type it must match.
//!
//! The kernel ABI (fixed; the engine builds against it):
//! `extern "C" fn(buffers: *const *mut u8, strides: *const isize, dims: *const usize,
//! streams: *mut StreamCtx, scratch: *mut u8)`
//! where `buffers[b]` is the address of element `[0, 0]` of plan buffer `b`,
//! `strides[2*slot + axis]` the byte stride of a slot along an axis of its
//! loop, `dims[2*loop + axis]` the extent of a loop along an axis, and
//! `streams`/`scratch` the call's lane-group state (null without groups):
//! the streams the code feeds through the `arrjit_stream_*` shims, and the
//! scratch memory holding their blocks ([`crate::fuse::Group`]).

use std::sync::OnceLock;

use cranelift_codegen::ir::{types, AbiParam, FuncRef, Function, Signature, Type};
use cranelift_codegen::isa::{OwnedTargetIsa, TargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Linkage, Module, ModuleError};

use crate::array::{Buffer, Data, View, ViewMut};
use crate::codegen::{CodegenOptions, OptLevel, RepairKind};
use crate::error::{Error, ErrorKind, Result};
use crate::fuse::{BufferKind, Plan};
use crate::types::DType;

/// The entry point of every kernel (see the module documentation).
type KernelFn =
    unsafe extern "C" fn(*const *mut u8, *const isize, *const usize, *mut StreamCtx, *mut u8);

/// A recurrence's repair routine (see [`repair`]):
/// `extern "C" fn(bases: *const *mut u8, strides: *const isize, carry: *mut u8,
/// len: usize, from: usize) -> usize`, `bases[0]`/`strides[0]` the chunk's
/// output element 0 and byte stride, `bases[1 + j]`/`strides[1 + j]` source
/// `j`'s (stride 0 for a scalar), `carry` the results before the chunk,
/// `from` the first row it may stop at once converged (a running extreme's
/// routine: 0 to fold into `carry[0]`, else a scan); returns the row it
/// stopped at.
type RepairFn = unsafe extern "C" fn(*const *mut u8, *const isize, *mut u8, usize, usize) -> usize;

/// What [`repair`] does with a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RepairMode {
    /// Recompute rows from the carry until they come out as stored
    /// ([`RepairKind::Converge`]).
    Converge,
    /// Compute and store every row from the carry.
    Scan,
    /// Fold the rows from the carry, storing nothing, and leave the result
    /// in `carry[0]` ([`RepairKind::Fold`]).
    Fold,
}

/// A repair routine (`F`: its address, or its declaration while it is
/// compiled) and what it reads and writes: the recurrence's dtype, per
/// source its dtype and rank, its longest lag and its boundary rows.
struct Repair<F = RepairFn> {
    value: crate::ir::ValueId,
    kind: RepairKind,
    f: F,
    dtype: DType,
    sources: Vec<(DType, u8)>,
    lags: usize,
    boundary: usize,
}

/// A kernel's repair routines ([`repair`]), compiled into a module of
/// their own when a call of the kernel first splits a recurrence.
/// Immutable once built, like [`CompiledCode`].
pub struct RepairCode {
    repairs: Vec<Repair>,
    code_bytes: usize,
    /// Owns the code memory; only ever used by its `Drop`.
    _module: OwnedModule,
}

// SAFETY: as for `CompiledCode`: nothing reachable through `&RepairCode`
// touches the module, the routines' code is immutable once finalized, and
// each routine is reentrant (no state between calls, writes only through
// its parameters, calls only pure host functions).
unsafe impl Sync for RepairCode {}
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<RepairCode>();
};

impl RepairCode {
    /// Size of the routines' machine code in bytes.
    pub fn code_bytes(&self) -> usize {
        self.code_bytes
    }

    /// How a split call mends recurrence `v`, if it has a routine.
    pub fn kind(&self, v: crate::ir::ValueId) -> Option<RepairKind> {
        self.repairs.iter().find(|r| r.value == v).map(|r| r.kind)
    }
}

impl std::fmt::Debug for RepairCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepairCode")
            .field("routines", &self.repairs.len())
            .field("code_bytes", &self.code_bytes)
            .finish_non_exhaustive()
    }
}

/// A host function a kernel may call, with its exact Rust type.
///
/// The Cranelift signature of each variant is derived in
/// [`HostFn::signature`]; keeping both here is what makes the call ABI-correct.
#[derive(Clone, Copy, Debug)]
pub(crate) enum HostFn {
    F64(extern "C" fn(f64) -> f64),
    F32(extern "C" fn(f32) -> f32),
    F64F64(extern "C" fn(f64, f64) -> f64),
    F32F32(extern "C" fn(f32, f32) -> f32),
    I64I64(extern "C" fn(i64, i64) -> i64),
    I32I32(extern "C" fn(i32, i32) -> i32),
    /// The lane-routine shim ([`lanes_shim`]).
    Lanes(LanesFn),
    /// A stream shim taking the context and a run of streams (the first
    /// one's number and how many).
    Stream(StreamFn),
    /// [`stream_push`], [`stream_map`]: the context, a run of streams or
    /// maps (first, count), an element count, the operand's block in
    /// memory and its byte stride (or null and 0: each one's scratch row),
    /// the result's likewise.
    StreamPush(StreamPushFn),
    /// A leaf sum of a short lane ([`leaf_sum_f64`] and the rest): the
    /// elements' address, their byte stride, their count and the mean
    /// (of squared deviations; ignored by a plain sum).
    LeafF64(LeafFn<f64>),
    LeafF32(LeafFn<f32>),
}

/// The type of the leaf sums of short lanes.
pub(crate) type LeafFn<T> = unsafe extern "C" fn(*const u8, isize, usize, T) -> T;

/// The type of [`stream_reset`], [`stream_next_pass`], [`stream_finish`].
pub(crate) type StreamFn = unsafe extern "C" fn(*mut StreamCtx, usize, usize);
/// The type of [`stream_push`] and [`stream_map`].
pub(crate) type StreamPushFn =
    unsafe extern "C" fn(*mut StreamCtx, usize, usize, usize, *const u8, isize, *mut u8, isize);

pub(crate) const STREAM_RESET: &str = "arrjit_stream_reset";
pub(crate) const STREAM_NEXT_PASS: &str = "arrjit_stream_next_pass";
pub(crate) const STREAM_PUSH: &str = "arrjit_stream_push";
pub(crate) const STREAM_FINISH: &str = "arrjit_stream_finish";
pub(crate) const STREAM_MAP: &str = "arrjit_stream_map";

/// The stream shims, by symbol, for code generation.
pub(crate) fn stream_host_fns() -> [(&'static str, HostFn); 5] {
    [
        (STREAM_RESET, HostFn::Stream(stream_reset)),
        (STREAM_NEXT_PASS, HostFn::Stream(stream_next_pass)),
        (STREAM_PUSH, HostFn::StreamPush(stream_push)),
        (STREAM_FINISH, HostFn::Stream(stream_finish)),
        (STREAM_MAP, HostFn::StreamPush(stream_map)),
    ]
}

/// The leaf routines of short lanes, by symbol, for code generation: the
/// sum, the sum of squared deviations and the four extremes, of `f64` and
/// of `f32`.
pub(crate) fn leaf_host_fns() -> [(&'static str, HostFn); 12] {
    [
        (LEAF_SUM_F64, HostFn::LeafF64(leaf_sum_f64)),
        (LEAF_SQUARES_F64, HostFn::LeafF64(leaf_squares_f64)),
        (LEAF_SUM_F32, HostFn::LeafF32(leaf_sum_f32)),
        (LEAF_SQUARES_F32, HostFn::LeafF32(leaf_squares_f32)),
        (LEAF_EXTREME_F64[0], HostFn::LeafF64(leaf_min_f64)),
        (LEAF_EXTREME_F64[1], HostFn::LeafF64(leaf_max_f64)),
        (LEAF_EXTREME_F64[2], HostFn::LeafF64(leaf_nanmin_f64)),
        (LEAF_EXTREME_F64[3], HostFn::LeafF64(leaf_nanmax_f64)),
        (LEAF_EXTREME_F32[0], HostFn::LeafF32(leaf_min_f32)),
        (LEAF_EXTREME_F32[1], HostFn::LeafF32(leaf_max_f32)),
        (LEAF_EXTREME_F32[2], HostFn::LeafF32(leaf_nanmin_f32)),
        (LEAF_EXTREME_F32[3], HostFn::LeafF32(leaf_nanmax_f32)),
    ]
}

pub(crate) const LEAF_SUM_F64: &str = "arrjit_leaf_sum_f64";
pub(crate) const LEAF_SQUARES_F64: &str = "arrjit_leaf_squares_f64";
pub(crate) const LEAF_SUM_F32: &str = "arrjit_leaf_sum_f32";
pub(crate) const LEAF_SQUARES_F32: &str = "arrjit_leaf_squares_f32";
/// `min`, `max`, `nanmin`, `nanmax` (index: `max + 2 * skip`).
pub(crate) const LEAF_EXTREME_F64: [&str; 4] = [
    "arrjit_leaf_min_f64",
    "arrjit_leaf_max_f64",
    "arrjit_leaf_nanmin_f64",
    "arrjit_leaf_nanmax_f64",
];
pub(crate) const LEAF_EXTREME_F32: [&str; 4] = [
    "arrjit_leaf_min_f32",
    "arrjit_leaf_max_f32",
    "arrjit_leaf_nanmin_f32",
    "arrjit_leaf_nanmax_f32",
];

/// The type of [`lanes_shim`].
pub(crate) type LanesFn = unsafe extern "C" fn(
    *const LaneRoutine,
    *const u8,
    isize,
    isize,
    usize,
    usize,
    *mut u8,
    isize,
    isize,
    u64,
);

/// What a lane loop runs, owned by its [`CompiledCode`]; compiled code
/// refers to it by address.
#[derive(Clone, Debug)]
pub(crate) struct LaneRoutine {
    pub op: crate::ir::LaneOp,
    pub src: DType,
    pub dst: DType,
    /// How the `param` argument is encoded: `Some(true)` f64 bits (alpha),
    /// `Some(false)` an i64 (window length), `None` unused.
    pub param_float: Option<bool>,
}

impl HostFn {
    fn address(self) -> *const u8 {
        match self {
            HostFn::F64(f) => f as *const u8,
            HostFn::F32(f) => f as *const u8,
            HostFn::F64F64(f) => f as *const u8,
            HostFn::F32F32(f) => f as *const u8,
            HostFn::I64I64(f) => f as *const u8,
            HostFn::I32I32(f) => f as *const u8,
            HostFn::Lanes(f) => f as *const u8,
            HostFn::Stream(f) => f as *const u8,
            HostFn::StreamPush(f) => f as *const u8,
            HostFn::LeafF64(f) => f as *const u8,
            HostFn::LeafF32(f) => f as *const u8,
        }
    }

    /// Parameter and result types.
    fn types(self) -> (&'static [Type], Type) {
        match self {
            HostFn::F64(_) => (&[types::F64], types::F64),
            HostFn::F32(_) => (&[types::F32], types::F32),
            HostFn::F64F64(_) => (&[types::F64, types::F64], types::F64),
            HostFn::F32F32(_) => (&[types::F32, types::F32], types::F32),
            HostFn::I64I64(_) => (&[types::I64, types::I64], types::I64),
            HostFn::I32I32(_) => (&[types::I32, types::I32], types::I32),
            HostFn::Lanes(_) => (&[types::I64; 10], types::INVALID),
            HostFn::Stream(_) => (&[types::I64; 3], types::INVALID),
            HostFn::StreamPush(_) => (&[types::I64; 8], types::INVALID),
            HostFn::LeafF64(_) => (
                &[types::I64, types::I64, types::I64, types::F64],
                types::F64,
            ),
            HostFn::LeafF32(_) => (
                &[types::I64, types::I64, types::I64, types::F32],
                types::F32,
            ),
        }
    }

    fn signature(self, module: &JITModule) -> Signature {
        let mut sig = module.make_signature();
        let (params, ret) = self.types();
        sig.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        if ret != types::INVALID {
            sig.returns.push(AbiParam::new(ret));
        }
        sig
    }
}

/// The shared ISA for an (opt level, verifier) pair, built on first use.
fn isa(opts: &CodegenOptions) -> Result<OwnedTargetIsa> {
    static ISAS: [OnceLock<std::result::Result<OwnedTargetIsa, String>>; 4] =
        [const { OnceLock::new() }; 4];
    let index = 2 * usize::from(opts.opt_level == OptLevel::Speed) + usize::from(opts.verify);
    let built = ISAS[index].get_or_init(|| build_isa(opts.opt_level, opts.verify));
    built.clone().map_err(Error::internal)
}

fn build_isa(opt_level: OptLevel, verify: bool) -> std::result::Result<OwnedTargetIsa, String> {
    let mut flags = settings::builder();
    let opt = match opt_level {
        OptLevel::None => "none",
        OptLevel::Speed => "speed",
    };
    let set = |flags: &mut settings::Builder, name: &str, value: &str| {
        flags
            .set(name, value)
            .map_err(|e| format!("cranelift setting {name}={value}: {e}"))
    };
    set(&mut flags, "opt_level", opt)?;
    set(
        &mut flags,
        "enable_verifier",
        if verify { "true" } else { "false" },
    )?;
    // cranelift-jit requires both (it asserts is_pic=false).
    set(&mut flags, "is_pic", "false")?;
    set(&mut flags, "use_colocated_libcalls", "false")?;
    let builder = cranelift_native::builder()
        .map_err(|e| format!("this host is not supported by cranelift: {e}"))?;
    builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| format!("cannot build the cranelift target: {e}"))
}

/// A `JITModule` whose memory is released when this is dropped.
struct OwnedModule(Option<JITModule>);

impl OwnedModule {
    fn get(&self) -> &JITModule {
        self.0.as_ref().expect("module is present until drop")
    }

    fn get_mut(&mut self) -> &mut JITModule {
        self.0.as_mut().expect("module is present until drop")
    }
}

impl Drop for OwnedModule {
    fn drop(&mut self) {
        if let Some(module) = self.0.take() {
            // SAFETY: `free_memory` requires that no function of the module
            // is executing and that no pointer obtained from it is used
            // afterwards. An `OwnedModule` lives either in a `KernelModule`
            // (no pointer was ever taken) or in a `CompiledCode`, whose entry
            // pointer is private and only called by `run` while `run`
            // borrows the `CompiledCode`; that borrow has ended since we are
            // being dropped, and the pointer is dropped with us.
            unsafe { module.free_memory() }
        }
    }
}

fn module_error(what: &str, func: Option<&Function>, e: ModuleError) -> Error {
    match (e, func) {
        (ModuleError::Compilation(err), Some(func)) => {
            let pretty = cranelift_codegen::print_errors::pretty_error(func, err);
            Error::internal(format!("cranelift rejected the kernel while {what}")).with_note(pretty)
        }
        (e, _) => Error::internal(format!("cranelift failed while {what}: {e}")),
    }
}

/// A kernel being compiled: its own module, its entry declaration and the
/// host functions it imports (or, with no entry, a kernel's repair
/// routines: [`KernelModule::finish_repairs`]).
pub(crate) struct KernelModule {
    module: OwnedModule,
    entry: Option<FuncId>,
    imports: Vec<FuncId>,
    /// The repair routines defined so far, with their size.
    repairs: Vec<(Repair<FuncId>, usize)>,
}

impl KernelModule {
    /// A fresh module on the ISA for `opts`, with `imports` (name, function)
    /// registered as symbols and declared; refer to import `k` with
    /// [`KernelModule::import_in_func`].
    pub(crate) fn new(opts: &CodegenOptions, imports: &[(String, HostFn)]) -> Result<KernelModule> {
        let mut module = KernelModule::without_entry(opts, imports)?;
        let sig = module.entry_signature();
        let entry = (module.module.get_mut())
            .declare_function("arrjit_kernel", Linkage::Export, &sig)
            .map_err(|e| module_error("declaring the kernel", None, e))?;
        module.entry = Some(entry);
        Ok(module)
    }

    /// [`KernelModule::new`] without the kernel's entry: for its repair
    /// routines, compiled when a call first needs them.
    pub(crate) fn without_entry(
        opts: &CodegenOptions,
        imports: &[(String, HostFn)],
    ) -> Result<KernelModule> {
        let mut builder = JITBuilder::with_isa(isa(opts)?, default_libcall_names());
        for (name, f) in imports {
            builder.symbol(name.as_str(), f.address());
        }
        let mut module = JITModule::new(builder);
        let mut ids = Vec::with_capacity(imports.len());
        for (name, f) in imports {
            let sig = f.signature(&module);
            let id = module
                .declare_function(name, Linkage::Import, &sig)
                .map_err(|e| module_error("declaring a host function", None, e))?;
            ids.push(id);
        }
        Ok(KernelModule {
            module: OwnedModule(Some(module)),
            entry: None,
            imports: ids,
            repairs: Vec::new(),
        })
    }

    pub(crate) fn isa(&self) -> &dyn TargetIsa {
        self.module.get().isa()
    }

    /// The entry signature every kernel has.
    pub(crate) fn entry_signature(&self) -> Signature {
        entry_signature(self.module.get())
    }

    /// The signature of a repair routine ([`RepairFn`]).
    pub(crate) fn repair_signature(&self) -> Signature {
        let module = self.module.get();
        let mut sig = module.make_signature();
        let ptr = module.target_config().pointer_type();
        sig.params.extend([AbiParam::new(ptr); 5]);
        sig.returns.push(AbiParam::new(ptr));
        sig
    }

    /// Compiles `ctx.func` (which must have
    /// [`KernelModule::repair_signature`]) as the repair routine of
    /// recurrence `v`, into this kernel's module.
    pub(crate) fn define_repair(
        &mut self,
        ir: &crate::ir::Ir,
        v: crate::ir::ValueId,
        kind: RepairKind,
        ctx: &mut Context,
    ) -> Result<()> {
        let crate::ir::Op::Recur(rec) = &ir.node(v).op else {
            return Err(Error::internal("a repair routine of a non-recurrence"));
        };
        let sig = self.repair_signature();
        let name = format!("arrjit_repair_{}", v.index());
        let module = self.module.get_mut();
        let id = module
            .declare_function(&name, Linkage::Local, &sig)
            .map_err(|e| module_error("declaring a repair routine", None, e))?;
        if let Err(e) = module.define_function(id, ctx) {
            return Err(module_error(
                "compiling a repair routine",
                Some(&ctx.func),
                e,
            ));
        }
        let bytes = ctx
            .compiled_code()
            .map_or(0, |c| c.code_info().total_size as usize);
        let repair = Repair {
            value: v,
            kind,
            f: id,
            dtype: ir.node(v).dtype,
            sources: (rec.sources.iter())
                .map(|&s| (ir.node(s).dtype, ir.node(s).rank))
                .collect(),
            lags: rec.max_lag() as usize,
            boundary: rec.boundary.len(),
        };
        self.repairs.push((repair, bytes));
        ctx.clear();
        Ok(())
    }

    /// Makes the repair routines defined so far executable and wraps them
    /// (a module made [`KernelModule::without_entry`]).
    pub(crate) fn finish_repairs(mut self) -> Result<RepairCode> {
        let module = self.module.get_mut();
        module
            .finalize_definitions()
            .map_err(|e| module_error("finalizing", None, e))?;
        let mut repairs = Vec::with_capacity(self.repairs.len());
        let mut code_bytes = 0;
        for (r, bytes) in self.repairs.drain(..) {
            let address = module.get_finalized_function(r.f);
            // SAFETY: `address` is the start of a function defined with
            // `repair_signature` (five pointer-sized parameters, one
            // pointer-sized result, the C calling convention), which is
            // exactly `RepairFn`; finalize_definitions made it executable.
            // The pointer stays valid as long as the module, which moves
            // into the same `RepairCode`.
            let f = unsafe { std::mem::transmute::<*const u8, RepairFn>(address) };
            repairs.push(Repair {
                value: r.value,
                kind: r.kind,
                f,
                dtype: r.dtype,
                sources: r.sources,
                lags: r.lags,
                boundary: r.boundary,
            });
            code_bytes += bytes;
        }
        Ok(RepairCode {
            repairs,
            code_bytes,
            _module: OwnedModule(self.module.0.take()),
        })
    }

    /// A reference to import `k` usable in `func`.
    pub(crate) fn import_in_func(&mut self, k: usize, func: &mut Function) -> FuncRef {
        let id = self.imports[k];
        self.module.get_mut().declare_func_in_func(id, func)
    }

    /// Compiles `ctx.func` (which must have [`KernelModule::entry_signature`])
    /// as the kernel for `plan`, makes it executable, and wraps it.
    // Boxed routines: code refers to each by address, which must not change
    // as they move from codegen into the kernel.
    #[allow(clippy::vec_box)]
    pub(crate) fn finish(
        mut self,
        ctx: &mut Context,
        plan: &Plan,
        clif: Option<String>,
        // Boxed: code refers to each routine by address, which must not
        // change as the routines move from codegen into the kernel.
        lanes: Vec<Box<LaneRoutine>>,
        ir: &crate::ir::Ir,
    ) -> Result<CompiledCode> {
        let entry = self
            .entry
            .ok_or_else(|| Error::internal("a kernel module without its entry"))?;
        let module = self.module.get_mut();
        let define = module.define_function(entry, ctx);
        if let Err(e) = define {
            return Err(module_error("compiling", Some(&ctx.func), e));
        }
        let code_bytes = ctx
            .compiled_code()
            .map_or(0, |c| c.code_info().total_size as usize);
        // For `explain`: kept only when the CLIF text is, so ordinary
        // compiles pay nothing for it.
        let machine_code = if clif.is_some() {
            machine_code(ctx, module)
        } else {
            None
        };
        module
            .finalize_definitions()
            .map_err(|e| module_error("finalizing", None, e))?;
        let address = module.get_finalized_function(entry);
        // SAFETY: `address` is the start of the function just defined with
        // `entry_signature` (five pointer-sized parameters, no results, the
        // platform's C calling convention), which is exactly `KernelFn`;
        // finalize_definitions made it executable. The pointer stays valid
        // as long as the module, which moves into the same `CompiledCode`.
        let entry = unsafe { std::mem::transmute::<*const u8, KernelFn>(address) };
        let mut stored = vec![false; plan.buffers.len()];
        for (_, access, is_store) in plan.accesses() {
            if let Some(s) = stored.get_mut(access.buffer.index()) {
                *s |= is_store;
            }
        }
        Ok(CompiledCode {
            entry,
            code_bytes,
            clif,
            machine_code,
            plan: plan.clone(),
            stored,
            _lanes: lanes,
            recurrences: plan
                .loops
                .iter()
                .filter_map(|nest| nest.recur)
                .map(|v| (v, ir.node(v).op.clone()))
                .collect(),
            _module: OwnedModule(self.module.0.take()),
        })
    }
}

/// The emitted bytes of `ctx`'s function and the symbol each relocation
/// refers to (the host functions it calls), before relocation.
fn machine_code(ctx: &Context, module: &JITModule) -> Option<MachineCode> {
    use cranelift_codegen::ir::ExternalName;
    use cranelift_codegen::FinalizedRelocTarget;
    let compiled = ctx.compiled_code()?;
    let relocs = compiled
        .buffer
        .relocs()
        .iter()
        .map(|r| {
            let name = match &r.target {
                FinalizedRelocTarget::ExternalName(ExternalName::User(user)) => {
                    let index = ctx.func.params.user_named_funcs()[*user].index;
                    let id = FuncId::from_u32(index);
                    module
                        .declarations()
                        .get_function_decl(id)
                        .linkage_name(id)
                        .into_owned()
                }
                target => target.display(Some(&ctx.func.params)),
            };
            (r.offset, name)
        })
        .collect();
    Some(MachineCode {
        bytes: compiled.code_buffer().to_vec(),
        relocs,
        arch: module.isa().triple().architecture.to_string(),
    })
}

fn entry_signature(module: &JITModule) -> Signature {
    let mut sig = module.make_signature();
    let ptr = module.target_config().pointer_type();
    sig.params.extend([AbiParam::new(ptr); 5]);
    sig
}

/// A kernel's machine code as Cranelift emitted it, for `explain`: the
/// bytes before relocation (a relocated field holds its addend, usually 0)
/// and, per relocated field, the symbol it will point to. Plain data, no
/// pointers into code memory.
#[derive(Clone, Debug)]
pub struct MachineCode {
    /// The function's code followed by its constant pool.
    pub bytes: Vec<u8>,
    /// `(offset of the relocated field, symbol)`.
    pub relocs: Vec<(u32, String)>,
    /// The target architecture, as target-lexicon names it (`x86_64`).
    pub arch: String,
}

/// One compiled kernel: executable code and the module that owns it.
///
/// Immutable once built; share it behind an `Arc`. Dropping it unmaps its
/// code.
pub struct CompiledCode {
    entry: KernelFn,
    code_bytes: usize,
    clif: Option<String>,
    machine_code: Option<MachineCode>,
    /// The plan the code was generated for; `run` checks memory accesses
    /// against it, so the caller's plan must equal it.
    plan: Plan,
    /// Whether the plan stores to each buffer.
    stored: Vec<bool>,
    /// The lane routines the code refers to by address (boxed, so the
    /// addresses stay put while the `CompiledCode` moves).
    #[allow(clippy::vec_box)]
    _lanes: Vec<Box<LaneRoutine>>,
    /// The recurrences of the plan's recurrence loops (their reach bounds
    /// what the loops may read), by value: a few, searched in order on
    /// every call's check (a hash map's hashing cost more than the search).
    recurrences: Vec<(crate::ir::ValueId, crate::ir::Op)>,
    /// Owns the code memory; only ever used by its `Drop`.
    _module: OwnedModule,
}

// SAFETY: `CompiledCode` is not automatically Sync because `JITModule` holds a
// `RefCell` symbol cache and raw pointers. Nothing reachable through
// `&CompiledCode` touches the module: it is used only by `Drop` (which has
// exclusive access). The machine code behind `entry` is immutable after
// `finalize_definitions` (mapped read+execute) and the kernel is reentrant:
// it keeps no state between calls, writes only through the pointers of its
// call frame, and calls only pure host functions. So sharing `&CompiledCode`
// between threads and calling it concurrently (each call with its own
// buffers, which `run`'s borrows guarantee) is sound.
unsafe impl Sync for CompiledCode {}
// `Send` is automatic: cranelift-jit declares its module `Send` (its code
// memory is plain mmap'ed pages, freed from whichever thread drops it).
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<CompiledCode>();
};

impl CompiledCode {
    /// Size of the emitted machine code in bytes.
    pub fn code_bytes(&self) -> usize {
        self.code_bytes
    }

    /// The Cranelift IR that was compiled, if `capture_clif` was set.
    pub fn clif(&self) -> Option<&str> {
        self.clif.as_deref()
    }

    /// The emitted machine code, if `capture_clif` was set.
    pub fn machine_code(&self) -> Option<&MachineCode> {
        self.machine_code.as_ref()
    }

    /// The plan this code implements.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }
}

impl std::fmt::Debug for CompiledCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledCode")
            .field("code_bytes", &self.code_bytes)
            .field("loops", &self.plan.loops.len())
            .finish_non_exhaustive()
    }
}

/// The memory a kernel call reads or writes for one plan buffer.
pub(crate) enum Binding<'a> {
    /// Read-only: an input view (element `[0, 0]` is at the view's offset).
    Input(View<'a>),
    /// Written (outputs and temporaries); element `[0, 0]` is the first.
    Output(&'a mut Data),
    /// Written: a caller's strided view (element `[0, 0]` at its offset).
    OutputView(ViewMut<'a>),
    /// Read-only, in the memory of binding `k`, which must be an output:
    /// an input overwritten in place. The engine allows it only where each
    /// element is read before it is written, in the same iteration.
    Alias(usize),
}

impl Binding<'_> {
    fn is_output(&self) -> bool {
        matches!(self, Binding::Output(_) | Binding::OutputView(_))
    }

    /// Byte offset of element `[0, 0]` from the start of the allocation,
    /// the allocation's length in bytes, and the dtype; `None` for an alias.
    fn extent(&self) -> Option<(i128, i128, DType)> {
        let bytes = |offset: usize, len: usize, dtype: DType| {
            let size = dtype.size() as i128;
            (offset as i128 * size, len as i128 * size, dtype)
        };
        match self {
            Binding::Input(v) => Some(bytes(v.offset(), v.buffer().len(), v.dtype())),
            Binding::Output(d) => Some(bytes(0, d.len(), d.dtype())),
            Binding::OutputView(v) => Some(bytes(v.offset(), v.buffer_len(), v.dtype())),
            Binding::Alias(_) => None,
        }
    }

    /// The address of element `[0, 0]`; null for an alias (resolved by
    /// `run` from the binding it aliases).
    fn base_pointer(&mut self) -> *mut u8 {
        // Wrapping arithmetic: an empty view may carry any offset, and its
        // pointer is then never dereferenced (`run` checks every access
        // that happens against the allocation).
        match self {
            Binding::Input(v) => {
                let buf: Buffer<'_> = v.buffer();
                buf.as_ptr()
                    .wrapping_add(v.offset().wrapping_mul(v.dtype().size()))
                    .cast_mut()
            }
            Binding::Output(d) => d.as_mut_ptr(),
            Binding::OutputView(v) => {
                let step = v.offset().wrapping_mul(v.dtype().size());
                v.buffer_mut().as_mut_ptr().wrapping_add(step)
            }
            Binding::Alias(_) => std::ptr::null_mut(),
        }
    }
}

/// Calls `code` on `bindings` (one per plan buffer, in plan order) with the
/// given call frame, after checking everything memory safety depends on:
///
/// - `plan` is the plan the code was compiled for;
/// - one binding per buffer, of the buffer's dtype; an `Output` binding
///   exactly for the buffers the plan stores to (never a store to an input);
/// - `strides.len() == 2 * plan.num_slots()` and `dims.len() == 2 * loops`;
/// - for every access of every loop, the lowest and highest byte it can
///   touch (`base + Σ i_axis * stride_axis` over `i_axis < dim_axis`, plus the
///   element size) lie inside the binding's allocation (the whole slice under
///   an input view, the whole `Data` of an output), computed in `i128`;
///   skipped for loops with an extent of 0, which touch nothing.
///
/// Errors are [`ErrorKind::Call`] for what a host could get wrong (dtype,
/// too-short buffers, out-of-bounds strides) and [`ErrorKind::Internal`] for
/// structural mismatches (an engine bug). The cost is O(buffers + slots).
pub(crate) fn run(
    code: &CompiledCode,
    plan: &Plan,
    bindings: &mut [Binding<'_>],
    strides: &[isize],
    dims: &[usize],
    history: Option<&History<'_>>,
) -> Result<()> {
    check(code, plan, bindings, strides, dims)?;
    const INLINE: usize = 16;
    let mut inline = [std::ptr::null_mut::<u8>(); INLINE];
    let mut heap = Vec::new();
    let pointers: &mut [*mut u8] = if bindings.len() <= INLINE {
        &mut inline[..bindings.len()]
    } else {
        heap.resize(bindings.len(), std::ptr::null_mut());
        &mut heap
    };
    for (p, binding) in pointers.iter_mut().zip(bindings.iter_mut()) {
        *p = binding.base_pointer();
    }
    for k in 0..bindings.len() {
        if let Binding::Alias(target) = bindings[k] {
            pointers[k] = pointers[target];
        }
    }
    // SAFETY: `check` proved that the plan is the one the code was compiled
    // from, that `strides` and `dims` have the lengths the code reads, and
    // that every address the code loads from or stores to lies inside the
    // memory of the binding it belongs to, with stores only to `Output`
    // bindings, which are exclusively borrowed (`&mut Data`) for this call,
    // so nothing else reads or writes them meanwhile; inputs are shared
    // borrows the kernel only reads. An `Alias` input reads memory of an
    // output binding through a second raw pointer: machine code may alias
    // freely, no Rust reference to that memory is used during the call,
    // and its accesses were bounds-checked against the output's memory. The entry has the `KernelFn` ABI, and
    // the module owning the code outlives the call (borrowed via `code`).
    let mut streams = StreamCtx::new(plan, bindings, dims, history)?;
    let (ctx, scratch) = match &mut streams {
        Some(c) => (c as *mut StreamCtx, c.scratch.cast::<u8>()),
        None => (std::ptr::null_mut(), std::ptr::null_mut()),
    };
    // SAFETY (continued): `ctx` and `scratch` are null when the plan has no
    // lane groups (the code then never uses them), else the context built
    // for this plan, alive until after the call and touched by nothing but
    // the code and the stream shims during it; its scratch memory has
    // `plan.scratch_words()` words, the most any group's code addresses.
    unsafe {
        (code.entry)(
            pointers.as_ptr(),
            strides.as_ptr(),
            dims.as_ptr(),
            ctx,
            scratch,
        )
    };
    if let Some(e) = LANE_FAILURE.with(|f| f.borrow_mut().take()) {
        return Err(e);
    }
    match streams.and_then(|mut c| c.failure.take()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Runs one chunk of recurrence `v` by its general rule: `out` is the
/// chunk's rows, `sources` the recurrence's sources (in order: the
/// chunk's rows of a vector, a scalar whole) and `carry` the results just
/// before the chunk, `y[i-1]` first. `mode` says what becomes of the
/// rows ([`RepairMode`]; `Fold` leaves its result in `carry[0]`). Returns
/// the row it stopped at: with `Converge`, the rows from there on were
/// already right.
///
/// Checked first, so that every access is in bounds: `v` has a routine;
/// `out` is a vector of the recurrence's dtype; `carry` holds `max_lag`
/// values of that dtype; each source has the dtype and rank the routine
/// reads, a vector one at least as long as `out`. Errors are internal:
/// the engine passes what it split.
pub(crate) fn repair(
    code: &RepairCode,
    v: crate::ir::ValueId,
    out: &mut ViewMut<'_>,
    sources: &[View<'_>],
    carry: &mut [crate::types::Scalar],
    mode: RepairMode,
) -> Result<usize> {
    let bad = |what: &str| Err(Error::internal(format!("recurrence repair: {what}")));
    let Some(routine) = code.repairs.iter().find(|r| r.value == v) else {
        return bad("no routine");
    };
    let len = match *out.shape().dims() {
        [len] => len,
        _ => return bad("the output is not a vector"),
    };
    if routine.dtype != out.dtype() {
        return bad("the output's dtype");
    }
    let fold = matches!(routine.kind, RepairKind::Fold { .. });
    if (mode == RepairMode::Converge && fold) || (mode == RepairMode::Fold && !fold) {
        return bad("a mode the routine does not have");
    }
    if carry.len() != routine.lags || carry.iter().any(|c| c.dtype() != routine.dtype) {
        return bad("the carried results");
    }
    if sources.len() != routine.sources.len() {
        return bad("the number of sources");
    }
    // The carried results, one element after another (dtypes checked).
    let mut carried = Data::zeros(routine.dtype, carry.len());
    for (k, &c) in carry.iter().enumerate() {
        carried.set(k, c);
    }
    let mut bases: smallvec::SmallVec<[*mut u8; 8]> = smallvec::SmallVec::new();
    let mut strides: smallvec::SmallVec<[isize; 8]> = smallvec::SmallVec::new();
    let size = out.dtype().size() as isize;
    strides.push(out.strides()[0].wrapping_mul(size));
    bases.push(Binding::OutputView(ViewMut::reborrow(out)).base_pointer());
    for (view, &(dtype, rank)) in sources.iter().zip(&routine.sources) {
        if view.dtype() != dtype || view.shape().rank() != usize::from(rank) {
            return bad("a source's dtype or rank");
        }
        let stride = match *view.shape().dims() {
            [] => 0,
            [n] if n >= len => view.strides()[0].wrapping_mul(view.dtype().size() as isize),
            _ => return bad("a source's shape"),
        };
        strides.push(stride);
        bases.push(Binding::Input(*view).base_pointer());
    }
    if len == 0 {
        return Ok(0);
    }
    // SAFETY: `f` is the routine of `v`, compiled for this plan's
    // recurrence with the `RepairFn` ABI; its module lives in `code`,
    // borrowed for the call. It reads `max_lag` elements of the
    // recurrence's dtype from `carried` (that many, of that dtype; a fold
    // writes its first), and
    // reads and writes rows `0..len` of `out`, which is exclusively
    // borrowed (a view's elements lie inside its buffer, checked when it
    // was made); it reads rows `0..len` of each vector source (taps at
    // the row itself; checked at least that long) and element 0 of each
    // scalar one, shared borrows of other memory. Every element it loads
    // or stores has the dtype the routine was compiled for (checked).
    let from = match mode {
        RepairMode::Converge => routine.boundary,
        RepairMode::Scan => usize::MAX,
        RepairMode::Fold => 0,
    };
    let stopped = unsafe {
        (routine.f)(
            bases.as_ptr(),
            strides.as_ptr(),
            carried.as_mut_ptr(),
            len,
            from,
        )
    };
    if stopped > len {
        return bad("the routine stopped outside its rows");
    }
    if mode == RepairMode::Fold {
        carry[0] = carried.as_buffer().get(0);
    }
    Ok(stopped)
}

/// What came before one chunk of a split call whose rolling windows start
/// from history (see [`crate::par::window_history`]): the chunk is rows
/// `row0..` of the whole call, and `inputs[b]` is the whole of input
/// buffer `b` (plan buffer order; `None` for other buffers).
pub(crate) struct History<'a> {
    pub row0: usize,
    pub inputs: &'a [Option<View<'a>>],
}

/// Rows of a window stream's operand fed to it after every reset, before
/// the chunk's own (their results are discarded).
enum Rows {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Rows {
    /// Rows `r0..r1` of a vector of floats.
    fn of(view: &View<'_>, r0: usize, r1: usize) -> Option<Rows> {
        if view.shape().rank() != 1 || r0 > r1 || r1 > view.shape().dims()[0] {
            return None;
        }
        let (offset, stride) = (view.offset() as isize, view.strides()[0]);
        // In bounds: the view was checked against its buffer when made.
        let at = move |i: usize| (offset + i as isize * stride) as usize;
        match view.buffer() {
            Buffer::F32(v) => Some(Rows::F32((r0..r1).map(|i| v[at(i)]).collect())),
            Buffer::F64(v) => Some(Rows::F64((r0..r1).map(|i| v[at(i)]).collect())),
            _ => None,
        }
    }

    /// Feeds them to `stream`.
    fn feed(&self, stream: &mut crate::stream::Stream) -> Result<()> {
        use crate::stream::{Block, BlockMut};
        match self {
            Rows::F32(v) => {
                stream.push(Block::F32(v), Some(BlockMut::F32(&mut vec![0.0; v.len()])))
            }
            Rows::F64(v) => {
                stream.push(Block::F64(v), Some(BlockMut::F64(&mut vec![0.0; v.len()])))
            }
        }
    }
}

/// The history of group stream `s` (of `plan`, with window length
/// `param`) for a chunk after `history.row0` rows: the rows of its input
/// from [`crate::par::window_history`] on. An error if the stream needs
/// rows before the chunk that it cannot have: the split analysis allows
/// no other stream reading along a cut vector.
fn stream_history(
    plan: &Plan,
    s: &crate::fuse::StreamDecl,
    param: Option<crate::types::Scalar>,
    history: &History<'_>,
) -> Result<Option<Rows>> {
    use crate::ir::LaneKind;
    use crate::types::Scalar;
    let missing = || Error::internal("a split call's stream lacks the rows before its chunk");
    match s.op.kind {
        LaneKind::Reduce(_) => Ok(None),
        LaneKind::Rolling(_) => {
            let Some(Scalar::I64(w)) = param else {
                return Err(missing());
            };
            let w = usize::try_from(w).map_err(|_| missing())?;
            let view = plan
                .buffers
                .iter()
                .position(|b| matches!(b.kind, BufferKind::Input(_)) && b.value == s.operand)
                .and_then(|b| history.inputs.get(b).copied().flatten())
                .ok_or_else(missing)?;
            let r0 = crate::par::window_history(history.row0, w);
            Rows::of(&view, r0, history.row0)
                .map(Some)
                .ok_or_else(missing)
        }
        _ => Err(missing()),
    }
}

/// The streams of one kernel call and the scratch memory their blocks and
/// results pass through (see [`crate::fuse::Group`]).
pub(crate) struct StreamCtx {
    streams: Vec<StreamSlot>,
    /// The block routines of the plan's maps, with the word offsets of
    /// their operand and result rows.
    maps: Vec<(crate::vmath::BlockFn, usize, usize)>,
    /// `words` words (at least the plan's), owned (given back by `Drop`);
    /// only ever accessed through raw pointers, by the kernel and the
    /// shims.
    scratch: *mut u64,
    words: usize,
    /// Bool operands, copied out of scratch as `bool`s.
    bools: Vec<bool>,
    /// Whether a direct result may be written to its buffer: not when an
    /// input is the output (in place), since a later step of the same
    /// block may still read that input.
    direct_out: bool,
    failure: Option<Error>,
}

struct StreamSlot {
    stream: crate::stream::Stream,
    /// Rows fed after every reset (a chunk's window history).
    history: Option<Rows>,
    /// Word offsets in scratch of the operand's block, the aligned result's
    /// block and the reduction result.
    input: usize,
    output: Option<usize>,
    result: Option<usize>,
    /// The slot of the stream whose mean its second pass starts from (see
    /// [`crate::fuse::StreamDecl::mean_of`], an index in its group).
    mean_of: Option<usize>,
    /// The stream's whole-lane form, when this call's lanes are short
    /// enough for it ([`crate::stream::Whole`]): the shims then run it
    /// instead of `stream`.
    whole: Option<crate::stream::Whole>,
}

thread_local! {
    /// The scratch memory of the last call on this thread, kept for the
    /// next (a small call with a group must not pay for allocating and
    /// zeroing a few rows of `BLOCK` words each time).
    static SPARE_SCRATCH: std::cell::Cell<Option<Box<[u64]>>> =
        const { std::cell::Cell::new(None) };
}

/// Scratch memory of at least `words` words: the thread's spare if it is
/// large enough, else fresh zeroed memory. (Its contents are never read
/// before the kernel writes them; they are initialised either way.)
fn take_scratch(words: usize) -> Box<[u64]> {
    match SPARE_SCRATCH.with(|s| s.take()) {
        Some(spare) if spare.len() >= words => spare,
        _ => vec![0u64; words].into_boxed_slice(),
    }
}

/// Keeps a variance and the mean its second pass starts from (`mean_of`)
/// both whole or both streams (`stream::pair_leaf_forms`). `group` are
/// one group's slots, the first being slot `base`.
fn pair_wholes(group: &mut [StreamSlot], base: usize) {
    let mut forms: smallvec::SmallVec<[Option<crate::stream::LeafForm>; 8]> =
        group.iter().map(|s| s.whole.map(|w| w.form())).collect();
    crate::stream::pair_leaf_forms(&mut forms, |k| {
        group[k].mean_of.and_then(|m| m.checked_sub(base))
    });
    for (slot, form) in group.iter_mut().zip(forms) {
        if form.is_none() {
            slot.whole = None;
        }
    }
}

impl Drop for StreamCtx {
    fn drop(&mut self) {
        // SAFETY: `scratch` came from `Box::into_raw` of a boxed slice of
        // `words` words in `StreamCtx::new` and is released only here.
        let scratch =
            unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.scratch, self.words)) };
        // Keep the larger of this and the thread's spare.
        SPARE_SCRATCH.with(|s| {
            let spare = s.take();
            s.set(match spare {
                Some(spare) if spare.len() > scratch.len() => Some(spare),
                _ => Some(scratch),
            });
        });
    }
}

impl StreamCtx {
    /// The context for a call of `plan` (`None` if it has no groups), with
    /// each stream's parameter read from its binding, and the streams along
    /// a vector of a chunk after the first given their `history`.
    fn new(
        plan: &Plan,
        bindings: &[Binding<'_>],
        dims: &[usize],
        history: Option<&History<'_>>,
    ) -> Result<Option<StreamCtx>> {
        use crate::fuse::ParamSource;
        use crate::ir::LaneKind;
        use crate::types::Scalar;
        if plan.loops.iter().all(|n| n.group.is_none()) {
            return Ok(None);
        }
        let words = plan.scratch_words().max(1);
        let mut streams = Vec::new();
        let groups =
            (plan.loops.iter().enumerate()).filter_map(|(l, n)| Some((l, n.group.as_ref()?)));
        for (l, g) in groups {
            // `mean_of` counts in the group; the slots of every group follow
            // one another.
            let base = streams.len();
            // Lanes of 1..=LEAF elements, each its own (not rows of one
            // lane over all elements), are pushed whole.
            let len = dims.get(2 * l + 1).copied().unwrap_or(0);
            let short = g.axis != crate::fuse::ALL && (1..=crate::algo::LEAF).contains(&len);
            for s in &g.streams {
                let raw = match s.param {
                    None => None,
                    Some(ParamSource::Const(c)) => Some(c),
                    Some(ParamSource::Input(b)) => match bindings.get(b.index()) {
                        Some(Binding::Input(view)) if view.shape().rank() == 0 => {
                            Some(view.get(&[]))
                        }
                        _ => {
                            return Err(Error::internal("a stream parameter is not a scalar input"))
                        }
                    },
                };
                let param = raw.map(|p| match s.op.kind {
                    LaneKind::Ewm => Scalar::F64(p.as_f64()),
                    _ => Scalar::I64(match p {
                        Scalar::I64(v) => v,
                        Scalar::I32(v) => i64::from(v),
                        other => other.as_f64() as i64,
                    }),
                });
                let input = g.row_word(s.in_row);
                let output = s.out_row.map(|r| g.row_word(r));
                let result = s.lane_slot.map(|k| g.lane_word(k));
                let fits = |w: usize| w + crate::fuse::BLOCK <= words;
                if !fits(input)
                    || output.is_some_and(|w| !fits(w) || w == input)
                    || result.is_some_and(|w| w >= words)
                {
                    return Err(Error::internal("a stream's scratch lies outside scratch"));
                }
                let mean_of = match s.mean_of {
                    None => None,
                    Some(m) if g.streams.get(m).is_some_and(|p| p.operand == s.operand) => {
                        Some(base + m)
                    }
                    Some(_) => return Err(Error::internal("a variance's mean is another value's")),
                };
                let history = match history {
                    Some(h) if h.row0 > 0 && g.space_rank == 1 => {
                        stream_history(plan, s, param, h)?
                    }
                    _ => None,
                };
                streams.push(StreamSlot {
                    stream: crate::stream::Stream::new(&s.op, s.src, s.dst, param)?,
                    history,
                    input,
                    output,
                    result,
                    mean_of,
                    whole: short
                        .then(|| crate::stream::Whole::new(&s.op, s.src, s.dst))
                        .flatten()
                        .filter(|_| result.is_some()),
                });
            }
            pair_wholes(&mut streams[base..], base);
        }
        let mut maps = Vec::new();
        for g in plan.loops.iter().filter_map(|n| n.group.as_ref()) {
            for m in &g.maps {
                let (from, to) = (g.row_word(m.from_row), g.row_word(m.to_row));
                let fits = |w: usize| w + crate::fuse::BLOCK <= words;
                if !fits(from) || !fits(to) || from == to {
                    return Err(Error::internal("a map's rows lie outside scratch"));
                }
                let f = crate::vmath::block(m.op, m.dtype)
                    .ok_or_else(|| Error::internal("a map without a block routine"))?;
                maps.push((f, from, to));
            }
        }
        let scratch = take_scratch(words);
        let words = scratch.len();
        let scratch = Box::into_raw(scratch).cast::<u64>();
        Ok(Some(StreamCtx {
            streams,
            maps,
            scratch,
            words,
            bools: Vec::new(),
            direct_out: !bindings.iter().any(|b| matches!(b, Binding::Alias(_))),
            failure: None,
        }))
    }

    /// The numbers `first..first + count` of a run of streams (`len` of
    /// them exist), or none, recording a failure, if they are not all
    /// there.
    fn run_of(&mut self, first: usize, count: usize, len: usize) -> std::ops::Range<usize> {
        match first.checked_add(count) {
            Some(end) if end <= len => first..end,
            _ => {
                self.refuse("kernel used an unknown stream or map");
                0..0
            }
        }
    }

    /// Records an internal error, unless an earlier one is recorded.
    fn refuse(&mut self, message: &str) {
        self.fail(Error::internal(message));
    }

    /// Records `e`, unless an earlier failure is recorded.
    fn fail(&mut self, e: Error) {
        if self.failure.is_none() {
            self.failure = Some(e);
        }
    }

    /// Runs `f` on stream `id` unless an earlier step failed; records the
    /// first failure (or panic).
    fn with(
        &mut self,
        id: usize,
        f: impl FnOnce(&mut StreamSlot, *mut u64, &mut Vec<bool>) -> Result<()>,
    ) {
        if self.failure.is_some() {
            return;
        }
        let scratch = self.scratch;
        let Some(slot) = self.streams.get_mut(id) else {
            self.failure = Some(Error::internal("kernel used an unknown stream"));
            return;
        };
        let bools = &mut self.bools;
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(slot, scratch, bools)));
        // `failure` is `None` here; assigning it on success would drop and
        // rewrite the whole `Option<Error>` on every call (about a tenth of
        // a short lane's instructions).
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.failure = Some(e),
            Err(_) => self.failure = Some(Error::internal("a stream panicked")),
        }
    }
}

/// A block of `n` elements of `dtype` at `p`.
///
/// # Safety
/// `p` is aligned for `dtype` and `n` elements of `dtype` there lie inside
/// scratch memory or a binding, which nothing writes while the block
/// lives; for `Bool`, `bools` receives a copy (any byte is read as `!= 0`).
unsafe fn block_at<'a>(
    dtype: DType,
    p: *const u64,
    n: usize,
    bools: &'a mut Vec<bool>,
) -> crate::stream::Block<'a> {
    use crate::stream::Block;
    // SAFETY: the caller's contract.
    unsafe {
        match dtype {
            DType::Bool => {
                let bytes = std::slice::from_raw_parts(p.cast::<u8>(), n);
                bools.clear();
                bools.extend(bytes.iter().map(|&b| b != 0));
                Block::Bool(bools)
            }
            DType::I32 => Block::I32(std::slice::from_raw_parts(p.cast(), n)),
            DType::I64 => Block::I64(std::slice::from_raw_parts(p.cast(), n)),
            DType::F32 => Block::F32(std::slice::from_raw_parts(p.cast(), n)),
            DType::F64 => Block::F64(std::slice::from_raw_parts(p.cast(), n)),
        }
    }
}

/// A writable block of `n` elements of `dtype` at `p`.
///
/// # Safety
/// As [`block_at`] (a binding: an output one), and nothing else reads or
/// writes those elements while the block lives.
unsafe fn block_mut_at<'a>(dtype: DType, p: *mut u64, n: usize) -> crate::stream::BlockMut<'a> {
    use crate::stream::BlockMut;
    // SAFETY: the caller's contract; `bool` elements written by a stream
    // are valid bytes, and the kernel reads them back as bytes.
    unsafe {
        match dtype {
            DType::Bool => BlockMut::Bool(std::slice::from_raw_parts_mut(p.cast(), n)),
            DType::I32 => BlockMut::I32(std::slice::from_raw_parts_mut(p.cast(), n)),
            DType::I64 => BlockMut::I64(std::slice::from_raw_parts_mut(p.cast(), n)),
            DType::F32 => BlockMut::F32(std::slice::from_raw_parts_mut(p.cast(), n)),
            DType::F64 => BlockMut::F64(std::slice::from_raw_parts_mut(p.cast(), n)),
        }
    }
}

/// Restarts streams `first..first + count` (a new lane, or an aligned
/// stream's new sweep). Every shim takes a run of streams, so that the
/// code makes one call where a group has several streams to restart,
/// feed the same block or finish: each call clobbers every caller-saved
/// register, and the register allocator's time grows with the calls
/// (10% fewer compile instructions for the rolling z-score, from the
/// merging alone).
///
/// # Safety
/// `ctx` is the context `run` passed to the running kernel.
unsafe extern "C" fn stream_reset(ctx: *mut StreamCtx, first: usize, count: usize) {
    // SAFETY: the context is alive for the call and only the kernel's
    // shims use it, one at a time, on the calling thread.
    let ctx = unsafe { &mut *ctx };
    for id in ctx.run_of(first, count, ctx.streams.len()) {
        if let Some(w) = ctx.streams.get_mut(id).and_then(|s| s.whole.as_mut()) {
            w.reset();
            continue;
        }
        ctx.with(id, |slot, _, _| {
            slot.stream.reset();
            match &slot.history {
                Some(rows) => rows.feed(&mut slot.stream),
                None => Ok(()),
            }
        });
    }
}

/// Starts the second pass of two-pass reductions `first..first + count`.
///
/// # Safety
/// As [`stream_reset`].
unsafe extern "C" fn stream_next_pass(ctx: *mut StreamCtx, first: usize, count: usize) {
    // SAFETY: as in `stream_reset`.
    let ctx = unsafe { &mut *ctx };
    for id in ctx.run_of(first, count, ctx.streams.len()) {
        next_pass(ctx, id);
    }
}

/// Starts the second pass of two-pass reduction `id`.
fn next_pass(ctx: &mut StreamCtx, id: usize) {
    if ctx.streams.get(id).is_some_and(|s| s.whole.is_some()) {
        return next_pass_whole(ctx, id);
    }
    // A variance sharing a mean takes it from that stream, finished in an
    // earlier sweep of the same lane.
    let shared = ctx.streams.get(id).and_then(|s| s.mean_of).map(|m| {
        ctx.streams
            .get(m)
            .and_then(|s| s.stream.moments())
            .ok_or_else(|| Error::internal("a variance's mean is not a finished mean"))
    });
    ctx.with(id, |slot, _, _| match shared {
        Some(moments) => slot.stream.next_pass_given(moments?),
        None => {
            slot.stream.next_pass();
            Ok(())
        }
    });
}

/// [`next_pass`] of a whole-lane variance (its mean, if it shares one, is
/// whole too: `pair_wholes`).
fn next_pass_whole(ctx: &mut StreamCtx, id: usize) {
    let shared = ctx.streams.get(id).and_then(|s| s.mean_of).map(|m| {
        ctx.streams
            .get(m)
            .and_then(|s| s.whole?.moments())
            .ok_or_else(|| Error::internal("a variance's mean is not a whole mean"))
    });
    let Some(w) = ctx.streams.get_mut(id).and_then(|s| s.whole.as_mut()) else {
        return ctx.refuse("kernel used an unknown stream");
    };
    let done = match shared {
        Some(moments) => moments.and_then(|m| w.next_pass_given(m)),
        None => w.next_pass(),
    };
    if let Err(e) = done {
        ctx.fail(e);
    }
}

/// Asks the CPU to start loading the block [`PREFETCH_AHEAD`] blocks of
/// `bytes` past `block`: its first [`PREFETCH_LINES`] cache lines. A direct
/// push reads its block in a loop the memory system sees as a stream, but
/// between blocks the stream waits on the shim and the stream's
/// bookkeeping, and a block of 512 f64 is a 4 KiB page, at whose boundary
/// the hardware prefetchers stop; a few lines of a page well ahead start
/// the next stream early. Prefetching whole blocks (64 lines, two blocks
/// ahead) was worse: 64 prefetches at once fill the core's line fill
/// buffers and stall the push behind them. Measured at 10M f64, 10
/// interleaved rounds of `arrjit bench 'cumsum(a)' 'sum(a)' 'cummax(a)'
/// 'sum(a*b)' --modes fused --runs 5` on the loaded development machine
/// (medians in ms):
///
/// | lines, blocks ahead | `cumsum` | `sum` | `cummax` | `sum(a*b)` |
/// | --- | ---: | ---: | ---: | ---: |
/// | none | 22.0 | 12.5 | 21.0 | 17.3 |
/// | 64, 2 (before) | 25.9 | 13.5 | 24.8 | 18.4 |
/// | 16, 4 | 22.8 | 10.1 | 21.5 | 16.9 |
/// | 8, 8 (this) | 22.1 | 10.0 | 20.9 | 18.0 |
fn prefetch_ahead(block: *const u8, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = block.wrapping_add(PREFETCH_AHEAD * bytes);
        for off in (0..bytes.min(PREFETCH_LINES * 64)).step_by(64) {
            // SAFETY: a prefetch is a hint: it never faults and changes no
            // memory, whatever the address (past the end of the binding
            // near its last blocks).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(off).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (block, bytes);
}

/// How many blocks ahead [`prefetch_ahead`] reaches.
const PREFETCH_AHEAD: usize = 8;

/// How many cache lines of that block it asks for.
const PREFETCH_LINES: usize = 8;

/// Where a push or map reads and writes its `n` elements (of `sizes.0`
/// and `sizes.1` bytes). The operand: the block at `from` if its elements
/// are contiguous (`from_stride` is the element size; prefetching ahead),
/// else gathered into its row at word `row_in` of `scratch` first (or the
/// row as it is, for a null `from`). The result: the block at `into` if
/// it is contiguous, `direct_out` allows it and it does not overlap what
/// is read; else its row at word `row_out` (`None` for a reduction, which
/// writes no block: then null), with `into` and its stride returned for
/// [`scatter`] after the step unless `into` is null.
///
/// # Safety
/// `StreamCtx::new` checked both rows inside scratch; a non-null `from`
/// is the address of `n` elements `from_stride` bytes apart in a binding
/// nothing writes during the call (the code passes a load's block and
/// element stride, whose every address `run` checked with the rest of the
/// loop's accesses).
#[allow(clippy::too_many_arguments)]
unsafe fn step_blocks(
    scratch: *mut u64,
    (from, from_stride, row_in): (*const u8, isize, usize),
    (into, into_stride, row_out): (*mut u8, isize, Option<usize>),
    sizes: (usize, usize),
    n: usize,
    direct_out: bool,
) -> (*const u8, *mut u8, Option<(*mut u8, isize)>) {
    let row = scratch.wrapping_add(row_in).cast::<u8>();
    let input = if from.is_null() {
        row.cast_const()
    } else if from_stride == sizes.0 as isize {
        prefetch_ahead(from, n * sizes.0);
        from
    } else {
        // SAFETY: the caller's contract covers the `n` elements at `from`;
        // the row holds BLOCK words, at least `n` elements of any dtype,
        // and is scratch memory, which no binding overlaps.
        unsafe { copy_strided(from, from_stride, row, sizes.0 as isize, sizes.0, n) };
        row.cast_const()
    };
    let direct = row_out.is_some()
        && !into.is_null()
        && into_stride == sizes.1 as isize
        && direct_out
        && !overlap(input, sizes.0, into, sizes.1, n);
    let output = match row_out {
        _ if direct => into,
        Some(w) => scratch.wrapping_add(w).cast::<u8>(),
        None => std::ptr::null_mut(),
    };
    let rest = (!direct && !into.is_null() && row_out.is_some()).then_some((into, into_stride));
    (input, output, rest)
}

/// Copies the `n` results of `size` bytes a step wrote to its row at `row`
/// to the block at `into`, `stride` bytes apart.
///
/// # Safety
/// `row` holds `n` written results in scratch memory; `into` is the
/// address of `n` elements `stride` bytes apart in an output binding,
/// which only the running kernel writes (the code passes a store's block
/// and element stride, checked by `run` like the loop's other accesses).
unsafe fn scatter(row: *const u8, size: usize, n: usize, (into, stride): (*mut u8, isize)) {
    // SAFETY: the caller's contract; scratch and bindings never overlap.
    unsafe { copy_strided(row, size as isize, into, stride, size, n) };
}

/// Copies `n` elements of `size` bytes from `src` (`src_stride` bytes
/// apart) to `dst` (`dst_stride` apart), one move per element for the
/// dtypes' sizes.
///
/// # Safety
/// Every element read lies in memory valid for reads, every element
/// written in memory valid for writes that nothing else accesses during
/// the copy, and no element read overlaps one written.
unsafe fn copy_strided(
    src: *const u8,
    src_stride: isize,
    dst: *mut u8,
    dst_stride: isize,
    size: usize,
    n: usize,
) {
    /// The copy with the element size known to the compiler.
    ///
    /// # Safety
    /// As `copy_strided`, with `S` the size.
    unsafe fn each<const S: usize>(src: *const u8, ss: isize, dst: *mut u8, ds: isize, n: usize) {
        for k in 0..n as isize {
            // SAFETY: the caller's contract; unaligned accesses of `S`
            // bytes need no alignment.
            unsafe {
                let v = src
                    .wrapping_offset(k * ss)
                    .cast::<[u8; S]>()
                    .read_unaligned();
                dst.wrapping_offset(k * ds)
                    .cast::<[u8; S]>()
                    .write_unaligned(v);
            }
        }
    }
    // SAFETY: the caller's contract, with the size matched.
    unsafe {
        match size {
            1 => each::<1>(src, src_stride, dst, dst_stride, n),
            2 => each::<2>(src, src_stride, dst, dst_stride, n),
            4 => each::<4>(src, src_stride, dst, dst_stride, n),
            8 => each::<8>(src, src_stride, dst, dst_stride, n),
            _ => {
                for k in 0..n as isize {
                    std::ptr::copy_nonoverlapping(
                        src.wrapping_offset(k * src_stride),
                        dst.wrapping_offset(k * dst_stride),
                        size,
                    );
                }
            }
        }
    }
}

/// Whether the blocks of `n` elements of `a` bytes at `p` and `b` bytes at
/// `q` share a byte.
fn overlap(p: *const u8, a: usize, q: *const u8, b: usize, n: usize) -> bool {
    let (p, q) = (p as usize, q as usize);
    p < q.saturating_add(b.saturating_mul(n)) && q < p.saturating_add(a.saturating_mul(n))
}

/// Feeds `n` elements of each operand of streams `first..first + count`
/// to it: the block at `from` (`from_stride` bytes apart), or (null) the
/// stream's operand row. An aligned stream writes their results to the
/// block at `into` (`into_stride` bytes apart) if that is not null,
/// directly if it is contiguous and may be written (see
/// [`StreamCtx::direct_out`]), else through its own row; or, for a null
/// `into`, to its row. (The code passes a run of several streams only with
/// a null `into`.)
///
/// # Safety
/// As [`stream_reset`]; a non-null `from` is the address of `n` elements
/// of the stream's operand dtype, `from_stride` bytes apart, in a binding
/// (checked by `run` with the rest of the loop's accesses: the code passes
/// the block and element stride of one of the loop's loads), a non-null
/// `into` the same for its result in an output binding.
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn stream_push(
    ctx: *mut StreamCtx,
    first: usize,
    count: usize,
    n: usize,
    from: *const u8,
    from_stride: isize,
    into: *mut u8,
    into_stride: isize,
) {
    // SAFETY: as in `stream_reset`.
    let ctx = unsafe { &mut *ctx };
    if count > 1 && !into.is_null() {
        return ctx.refuse("a run of streams writing one block");
    }
    for id in ctx.run_of(first, count, ctx.streams.len()) {
        // SAFETY: the contract above.
        unsafe { push(ctx, id, n, (from, from_stride), (into, into_stride)) };
    }
}

/// [`stream_push`] for stream `id`.
///
/// # Safety
/// As [`stream_push`].
unsafe fn push(
    ctx: &mut StreamCtx,
    id: usize,
    n: usize,
    (from, from_stride): (*const u8, isize),
    (into, into_stride): (*mut u8, isize),
) {
    if ctx.streams.get(id).is_some_and(|s| s.whole.is_some()) {
        // SAFETY: the contract above.
        return unsafe { push_whole(ctx, id, n, (from, from_stride), into) };
    }
    let direct_out = ctx.direct_out;
    ctx.with(id, |slot, scratch, bools| {
        if n > crate::fuse::BLOCK {
            return Err(Error::internal("a block longer than BLOCK"));
        }
        let (src, dst) = (slot.stream.src(), slot.stream.dst());
        let sizes = (src.size(), dst.size());
        // SAFETY: the contract above, and `StreamCtx::new`'s checks of the
        // rows.
        let (input, output, rest) = unsafe {
            step_blocks(
                scratch,
                (from, from_stride, slot.input),
                (into, into_stride, slot.output),
                sizes,
                n,
                direct_out,
            )
        };
        // SAFETY: `StreamCtx::new` checked that both rows (BLOCK words each,
        // so at least `n` elements of any dtype) lie inside scratch, at
        // 8-byte aligned word offsets, and are different rows; `from` and
        // `into` are as the contract says, and `step_blocks` passes them
        // only where they are contiguous and do not overlap; the kernel is
        // waiting for this call, so nothing else touches any of them.
        let (x, y) = unsafe {
            (
                block_at(src, input.cast(), n, bools),
                slot.output.map(|_| block_mut_at(dst, output.cast(), n)),
            )
        };
        slot.stream.push(x, y)?;
        if let Some(rest) = rest {
            // SAFETY: the stream wrote `n` results to its row; `into` as
            // the contract says.
            unsafe { scatter(output, sizes.1, n, rest) };
        }
        Ok(())
    });
}

/// [`push`] of a whole-lane reduction: its operand block read in place if
/// it is contiguous, else gathered into its row first.
///
/// # Safety
/// As [`stream_push`].
unsafe fn push_whole(
    ctx: &mut StreamCtx,
    id: usize,
    n: usize,
    (from, from_stride): (*const u8, isize),
    into: *mut u8,
) {
    if !into.is_null() || n > crate::algo::LEAF {
        return ctx.refuse("a whole lane pushed with a result or in pieces");
    }
    let scratch = ctx.scratch;
    let bools = &mut ctx.bools;
    let Some((row, w)) = ctx.streams.get_mut(id).and_then(|s| {
        let w = s.whole.as_mut()?;
        Some((s.input, w))
    }) else {
        return ctx.refuse("kernel used an unknown stream");
    };
    let dtype = w.dtype();
    let size = dtype.size();
    let row = scratch.wrapping_add(row).cast::<u8>();
    // Not `step_blocks`: a short lane is no stream for the prefetcher to
    // run ahead of (its prefetch loop and general cases were about a
    // quarter of a whole push's instructions, by callgrind).
    let input = if from.is_null() {
        row.cast_const()
    } else if from_stride == size as isize {
        from
    } else {
        // SAFETY: `stream_push`'s contract covers the `n` elements at
        // `from`; `StreamCtx::new` checked the row (BLOCK words, at least
        // `n` elements) inside scratch, which no binding overlaps.
        unsafe { copy_strided(from, from_stride, row, size as isize, size, n) };
        row.cast_const()
    };
    // SAFETY: `input` is `from` only if its `n` elements are contiguous
    // (by the contract aligned, and unwritten during the call), else the
    // row holding them.
    let x = unsafe { block_at(dtype, input.cast(), n, bools) };
    if let Err(e) = w.push(x) {
        ctx.fail(e);
    }
}

/// Runs maps `first..first + count` on `n` elements of each one's operand
/// (the block at `from`, `from_stride` bytes apart, or, null, its operand
/// row), writing its result to the block at `into` (directly if it is
/// contiguous and may be written, else through its result row) or, null,
/// its result row.
///
/// # Safety
/// As [`stream_push`].
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn stream_map(
    ctx: *mut StreamCtx,
    first: usize,
    count: usize,
    n: usize,
    from: *const u8,
    from_stride: isize,
    into: *mut u8,
    into_stride: isize,
) {
    // SAFETY: as in `stream_reset`.
    let ctx = unsafe { &mut *ctx };
    if count > 1 && !into.is_null() {
        return ctx.refuse("a run of maps writing one block");
    }
    for id in ctx.run_of(first, count, ctx.maps.len()) {
        // SAFETY: the contract above.
        unsafe { map(ctx, id, n, (from, from_stride), (into, into_stride)) };
    }
}

/// [`stream_map`] for map `id`.
///
/// # Safety
/// As [`stream_push`].
unsafe fn map(
    ctx: &mut StreamCtx,
    id: usize,
    n: usize,
    (from, from_stride): (*const u8, isize),
    (into, into_stride): (*mut u8, isize),
) {
    use crate::vmath::BlockFn;
    if ctx.failure.is_some() {
        return;
    }
    let Some(&(f, row_in, row_out)) = ctx.maps.get(id).filter(|_| n <= crate::fuse::BLOCK) else {
        ctx.failure = Some(Error::internal("kernel ran an unknown map or a long block"));
        return;
    };
    let scratch = ctx.scratch;
    let size = match f {
        BlockFn::F64(_) => 8,
        BlockFn::F32(_) => 4,
    };
    // SAFETY: the contract above, and `StreamCtx::new`'s checks of the rows.
    let (input, output, rest) = unsafe {
        step_blocks(
            scratch,
            (from, from_stride, row_in),
            (into, into_stride, Some(row_out)),
            (size, size),
            n,
            ctx.direct_out,
        )
    };
    // SAFETY: `StreamCtx::new` checked that both rows (BLOCK words each, so
    // at least `n` elements of a float dtype) lie inside scratch at 8-byte
    // aligned word offsets and are different rows; `from` and `into` are
    // as `stream_push`'s contract says, and the blocks read and written do
    // not overlap; the kernel is waiting for this call, so nothing else
    // touches them. Any bits are a valid float.
    let outcome = std::panic::catch_unwind(|| unsafe {
        match f {
            BlockFn::F64(f) => {
                let x = std::slice::from_raw_parts(input.cast::<f64>(), n);
                let y = std::slice::from_raw_parts_mut(output.cast::<f64>(), n);
                y.copy_from_slice(x);
                f(y);
            }
            BlockFn::F32(f) => {
                let x = std::slice::from_raw_parts(input.cast::<f32>(), n);
                let y = std::slice::from_raw_parts_mut(output.cast::<f32>(), n);
                y.copy_from_slice(x);
                f(y);
            }
        }
    });
    if outcome.is_err() {
        ctx.failure = Some(Error::internal("a block routine panicked"));
        return;
    }
    if let Some(rest) = rest {
        // SAFETY: the routine wrote `n` results to the row; `into` as the
        // contract says.
        unsafe { scatter(output, size, n, rest) };
    }
}

/// Finishes reductions `first..first + count`, writing each result to its
/// lane slot.
///
/// # Safety
/// As [`stream_reset`].
unsafe extern "C" fn stream_finish(ctx: *mut StreamCtx, first: usize, count: usize) {
    // SAFETY: as in `stream_reset`.
    let ctx = unsafe { &mut *ctx };
    for id in ctx.run_of(first, count, ctx.streams.len()) {
        finish(ctx, id);
    }
}

/// Finishes reduction `id`.
fn finish(ctx: &mut StreamCtx, id: usize) {
    // A whole lane's finish cannot panic: no `with` (whose unwinding guard
    // and closure were about a quarter of a whole finish's instructions,
    // by callgrind).
    if let Some(slot) = ctx.streams.get(id).filter(|s| s.whole.is_some()) {
        let done = match (slot.result, &slot.whole) {
            (Some(w), Some(whole)) => whole.finish_bits().map(|bits| (w, bits)),
            _ => Err(Error::internal("finish of a stream without a result")),
        };
        let size = slot.stream.dst().size();
        match done {
            // SAFETY: as below.
            Ok((w, bits)) => unsafe { write_result(ctx.scratch, w, size, bits) },
            Err(e) => ctx.fail(e),
        }
        return;
    }
    ctx.with(id, |slot, scratch, _| {
        let Some(w) = slot.result else {
            return Err(Error::internal("finish of a stream without a result"));
        };
        let bits = slot.stream.finish_bits()?;
        // SAFETY: `StreamCtx::new` checked that word `w` lies inside
        // scratch; nothing else touches it now.
        unsafe { write_result(scratch, w, slot.stream.dst().size(), bits) };
        Ok(())
    });
}

/// Writes a reduction's result, the low `size` bytes of `bits`
/// (`Scalar::to_bits`), as a value of that size to word `w` of scratch.
///
/// # Safety
/// Word `w` lies inside scratch (`StreamCtx::new` checked every result
/// word) and nothing else touches it during the write; one word holds any
/// scalar.
unsafe fn write_result(scratch: *mut u64, w: usize, size: usize, bits: u64) {
    // SAFETY: the caller's contract.
    unsafe {
        let p = scratch.add(w);
        match size {
            1 => p.cast::<u8>().write(bits as u8),
            4 => p.cast::<u32>().write(bits as u32),
            _ => p.write(bits),
        }
    }
}

/// The canonical sum of `f` of the `n` elements of `T` at `p`, `stride`
/// bytes apart, as one leaf (`algo::leaf_sum`): what a reduction stream
/// computes for a lane of at most `algo::LEAF` elements. No state, no
/// dispatch: generated code calls these on short lanes instead of the
/// stream shims (see `codegen::short`).
///
/// # Safety
/// The `n` elements lie in memory valid for reads that nothing writes
/// during the call (the code passes a push's operand block: a load's
/// block, checked by `run` with the loop's other accesses, or a scratch
/// row).
unsafe fn leaf<T: crate::algo::SumElem>(
    p: *const u8,
    stride: isize,
    n: usize,
    f: impl Fn(T) -> T,
) -> T {
    let size = std::mem::size_of::<T>();
    if stride == size as isize && (p as usize).is_multiple_of(std::mem::align_of::<T>()) {
        // SAFETY: the caller's contract, contiguous and aligned.
        let xs = unsafe { std::slice::from_raw_parts(p.cast::<T>(), n) };
        crate::algo::leaf_sum_map(xs, f)
    } else {
        crate::algo::leaf_sum(n, |i| {
            let at = p.wrapping_offset((i as isize).wrapping_mul(stride));
            // SAFETY: the caller's contract; the read needs no alignment.
            f(unsafe { at.cast::<T>().read_unaligned() })
        })
    }
}

/// The two leaf sums of short lanes of one float type, as `extern "C"`
/// functions of the leaf routines' type: the plain sum (the float
/// argument unused) and the sum of squared deviations from the mean it
/// passes (`FloatStat`'s second pass).
macro_rules! leaf_sums {
    ($($sum:ident, $squares:ident: $t:ty;)*) => {$(
        /// A short lane's sum ([`leaf`]).
        ///
        /// # Safety
        /// As [`leaf`].
        unsafe extern "C" fn $sum(p: *const u8, stride: isize, n: usize, _: $t) -> $t {
            // SAFETY: the contract above.
            unsafe { leaf(p, stride, n, |v: $t| v) }
        }

        /// A short lane's sum of squared deviations from `mean` ([`leaf`]).
        ///
        /// # Safety
        /// As [`leaf`].
        unsafe extern "C" fn $squares(p: *const u8, stride: isize, n: usize, mean: $t) -> $t {
            // SAFETY: the contract above.
            unsafe {
                leaf(p, stride, n, |v: $t| {
                    let d = v - mean;
                    d * d
                })
            }
        }
    )*};
}

leaf_sums! {
    leaf_sum_f64, leaf_squares_f64: f64;
    leaf_sum_f32, leaf_squares_f32: f32;
}

/// The extreme of the `n` elements of `T` at `p`, `stride` bytes apart, by
/// `Extreme`'s element rule (`stream::extreme_of`; `max`, `skip` NaNs):
/// what a reduction stream computes for the lane. NaN for no elements,
/// which a short lane never has. The result, a NaN's payload included,
/// returns in a float register: on x86-64 moves between SSE registers
/// and memory keep every bit (the tests compare NaN bits), where an x87
/// return could quiet a signalling NaN (`stream::Whole` keeps its value
/// as integer bits for that reason).
///
/// # Safety
/// As [`leaf`].
unsafe fn leaf_extreme<T: Copy + PartialOrd>(
    p: *const u8,
    stride: isize,
    n: usize,
    (max, skip): (bool, bool),
    nan: T,
) -> T {
    let elements = (0..n).map(|i| {
        let at = p.wrapping_offset((i as isize).wrapping_mul(stride));
        // SAFETY: the caller's contract covers element `i < n`; the read
        // needs no alignment.
        unsafe { at.cast::<T>().read_unaligned() }
    });
    crate::stream::extreme_of(elements, max, skip).unwrap_or(nan)
}

/// The eight extremes of short lanes, as `extern "C"` functions of the
/// leaf routines' type (the float argument is unused).
macro_rules! leaf_extremes {
    ($($name:ident: $t:ty, $max:expr, $skip:expr;)*) => {$(
        /// A short lane's extreme ([`leaf_extreme`]).
        ///
        /// # Safety
        /// As [`leaf`].
        unsafe extern "C" fn $name(p: *const u8, stride: isize, n: usize, _: $t) -> $t {
            // SAFETY: the contract above.
            unsafe { leaf_extreme(p, stride, n, ($max, $skip), <$t>::NAN) }
        }
    )*};
}

leaf_extremes! {
    leaf_min_f64: f64, false, false;
    leaf_max_f64: f64, true, false;
    leaf_nanmin_f64: f64, false, true;
    leaf_nanmax_f64: f64, true, true;
    leaf_min_f32: f32, false, false;
    leaf_max_f32: f32, true, false;
    leaf_nanmin_f32: f32, false, true;
    leaf_nanmax_f32: f32, true, true;
}

thread_local! {
    /// The failure of a lane routine during the current kernel call, if
    /// any (a routine cannot unwind into machine code, so it reports here
    /// and `run` turns it into an error after the kernel returns).
    static LANE_FAILURE: std::cell::RefCell<Option<Error>> = const { std::cell::RefCell::new(None) };
}

/// The lowest element offset (relative to element 0, in elements) and the
/// number of elements of the span a lane of `len` elements with `stride`
/// covers.
fn lane_span(len: usize, stride_elems: isize) -> (isize, usize) {
    if len == 0 {
        return (0, 0);
    }
    let reach = (len as isize - 1) * stride_elems;
    (reach.min(0), reach.unsigned_abs() + 1)
}

/// Called by compiled lane loops: runs `routine` on `lanes` lanes of `len`
/// elements (`src` advanced by `s_lane` bytes per lane and `s_elem` per
/// element; `dst` likewise with its own output length).
///
/// # Safety
/// `jit::run` has checked, for this loop of the plan, that every element
/// of every source lane lies inside the source binding and every element of
/// every destination lane inside the (exclusively borrowed) destination
/// binding, and that the source and destination are different memory.
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn lanes_shim(
    routine: *const LaneRoutine,
    src: *const u8,
    s_lane: isize,
    s_elem: isize,
    lanes: usize,
    len: usize,
    dst: *mut u8,
    d_lane: isize,
    d_elem: isize,
    param: u64,
) {
    // SAFETY: `routine` points into the `CompiledCode` whose kernel is
    // running (it owns the box and outlives the call).
    let routine = unsafe { &*routine };
    let out_len = crate::algo::lane_out_len(&routine.op, len);
    let param = routine.param_float.map(|float| {
        if float {
            crate::types::Scalar::F64(f64::from_bits(param))
        } else {
            crate::types::Scalar::I64(param as i64)
        }
    });
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for lane in 0..lanes {
            let s = src.wrapping_offset(lane as isize * s_lane);
            let d = dst.wrapping_offset(lane as isize * d_lane);
            // SAFETY: the caller's contract (checked by `run`) covers both
            // lanes; they are in different bindings, so the shared and the
            // exclusive slice do not overlap.
            let (input, output) = unsafe {
                (
                    lane_in(routine.src, s, s_elem, len),
                    lane_out(routine.dst, d, d_elem, out_len),
                )
            };
            crate::algo::run_lane(&routine.op, input?, output?, param)?;
        }
        Ok(())
    }));
    let failure = match result {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e,
        Err(_) => Error::internal(format!("lane routine `{}` panicked", routine.op.name())),
    };
    LANE_FAILURE.with(|f| *f.borrow_mut() = Some(failure));
}

macro_rules! lane_views {
    ($($variant:ident: $t:ty),*) => {
        /// A read-only lane view of `len` elements at `base` (byte stride).
        ///
        /// # Safety
        /// Every element of the lane lies in memory valid for reads of
        /// `dtype` values, not written during the returned borrow.
        unsafe fn lane_in<'a>(
            dtype: DType,
            base: *const u8,
            stride: isize,
            len: usize,
        ) -> Result<crate::algo::LaneIn<'a>> {
            let size = dtype.size() as isize;
            if stride % size != 0 {
                return Err(Error::internal("lane stride is not a whole number of elements"));
            }
            let (lo, count) = lane_span(len, stride / size);
            let first = base.wrapping_offset(lo * size);
            let start = (-lo) as usize;
            match dtype {
                $(DType::$variant => {
                    // SAFETY: by the contract, `count` elements from `first`
                    // are valid `$t` values (bool buffers hold only 0 and 1).
                    let data = unsafe {
                        std::slice::from_raw_parts(first.cast::<$t>(), count)
                    };
                    crate::algo::Strided::new(data, start, stride / size, len)
                        .map(crate::algo::LaneIn::$variant)
                        .ok_or_else(|| Error::internal("lane outside its span"))
                })*
            }
        }

        /// A mutable lane view of `len` elements at `base` (byte stride).
        ///
        /// # Safety
        /// Every element of the lane lies in memory valid for writes of
        /// `dtype` values, not otherwise accessed during the borrow.
        unsafe fn lane_out<'a>(
            dtype: DType,
            base: *mut u8,
            stride: isize,
            len: usize,
        ) -> Result<crate::algo::LaneOut<'a>> {
            let size = dtype.size() as isize;
            if stride % size != 0 {
                return Err(Error::internal("lane stride is not a whole number of elements"));
            }
            let (lo, count) = lane_span(len, stride / size);
            let first = base.wrapping_offset(lo * size);
            let start = (-lo) as usize;
            match dtype {
                $(DType::$variant => {
                    // SAFETY: by the contract, `count` elements from `first`
                    // are exclusively ours for the call.
                    let data = unsafe {
                        std::slice::from_raw_parts_mut(first.cast::<$t>(), count)
                    };
                    crate::algo::StridedMut::new(data, start, stride / size, len)
                        .map(crate::algo::LaneOut::$variant)
                        .ok_or_else(|| Error::internal("lane outside its span"))
                })*
            }
        }
    };
}

lane_views!(Bool: bool, I32: i32, I64: i64, F32: f32, F64: f64);

/// The lane shim as a host function for code generation.
pub(crate) fn lanes_host_fn() -> HostFn {
    HostFn::Lanes(lanes_shim)
}

/// Arrays at least this large are backed by transparent huge pages
/// (NumPy's threshold too).
const HUGE_PAGE_THRESHOLD: usize = 4 << 20;

/// Asks the kernel to back a large, freshly allocated and not yet touched
/// array with transparent huge pages, so that writing it takes one page
/// fault per 2 MiB instead of one per 4 KiB (on an 80 MB result, the faults
/// otherwise cost more than the kernel's own work), and streaming through
/// it later misses the TLB 512 times less often (on the development
/// machine a 10M-element `where` ran 8-15% faster through memory so
/// backed). Advice only: contents and validity of the memory do not
/// change, and failure is ignored.
pub(crate) fn advise_huge_pages(data: &mut Data) {
    let bytes = data.len() * data.dtype().size();
    if bytes < HUGE_PAGE_THRESHOLD {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = data.as_mut_ptr() as usize;
        let first = start.next_multiple_of(HUGE);
        let last = (start + bytes) / HUGE * HUGE;
        if last > first {
            // SAFETY: `first..last` lies inside the allocation `data` owns
            // (rounded inwards to 2 MiB boundaries). MADV_HUGEPAGE changes
            // how the kernel backs those pages, never their contents or
            // whether they are mapped, so no Rust reference is affected.
            unsafe {
                libc::madvise(
                    first as *mut libc::c_void,
                    last - first,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
}

fn call_error(message: String) -> Error {
    Error::new(ErrorKind::Call, message)
}

fn check(
    code: &CompiledCode,
    plan: &Plan,
    bindings: &[Binding<'_>],
    strides: &[isize],
    dims: &[usize],
) -> Result<()> {
    // The engine passes `code.plan()` itself, so the pointer test settles
    // it without walking the plan on the call path.
    if !std::ptr::eq(plan, &code.plan) && *plan != code.plan {
        return Err(Error::internal(
            "kernel called with a plan it was not compiled for",
        ));
    }
    if bindings.len() != plan.buffers.len() {
        return Err(Error::internal(format!(
            "kernel needs {} buffers, {} were bound",
            plan.buffers.len(),
            bindings.len()
        )));
    }
    if strides.len() != 2 * plan.num_slots() || dims.len() != 2 * plan.loops.len() {
        return Err(Error::internal(format!(
            "call frame has {} strides and {} extents, the plan needs {} and {}",
            strides.len(),
            dims.len(),
            2 * plan.num_slots(),
            2 * plan.loops.len()
        )));
    }
    let stored = &code.stored;
    for (k, (binding, decl)) in bindings.iter().zip(&plan.buffers).enumerate() {
        let resolved = match binding {
            Binding::Alias(target) => match bindings.get(*target) {
                Some(b) if b.is_output() && !stored[k] => b,
                _ => {
                    return Err(Error::internal(format!(
                        "buffer {k} ({}) aliases binding {target}, which is not an output, \
                         or is itself written",
                        buffer_name(decl.kind)
                    )))
                }
            },
            b => b,
        };
        let (_, _, dtype) = resolved.extent().expect("aliases are resolved");
        if dtype != decl.dtype {
            return Err(call_error(format!(
                "buffer {k} ({}) is {dtype}, the kernel expects {}",
                buffer_name(decl.kind),
                decl.dtype
            )));
        }
        let is_output = binding.is_output();
        if is_output != stored[k] {
            return Err(Error::internal(format!(
                "buffer {k} ({}) is bound as {} but the kernel {}",
                buffer_name(decl.kind),
                if is_output { "an output" } else { "an input" },
                if stored[k] {
                    "writes it"
                } else {
                    "never writes it"
                }
            )));
        }
    }
    for (l, access, is_store) in plan.accesses() {
        let nest = &plan.loops[l];
        let rank = usize::from(nest.rank);
        if rank > 2 || access.slot >= plan.num_slots() {
            return Err(Error::internal("malformed plan"));
        }
        if let Some(v) = nest.recur {
            check_recur_access(code, plan, bindings, strides, dims, l, v, access, is_store)?;
            continue;
        }
        let mut extents = [0usize; 2];
        extents[..rank].copy_from_slice(&dims[2 * l..2 * l + rank]);
        if let Some(g) = &nest.group {
            // A lane group: [lanes, len] per element, [lanes, 1] per lane.
            let lane_store = is_store
                && nest
                    .stores
                    .iter()
                    .position(|a| a.slot == access.slot)
                    .is_some_and(|k| g.is_lane_store(k));
            if lane_store {
                extents[1] = 1;
                // All elements as one lane: stored once, at lane 0, even
                // when there are no rows.
                if g.axis == crate::fuse::ALL {
                    extents[0] = 1;
                }
            }
        }
        let mut extents = &extents[..rank];
        let lane_extents;
        if let Some(lane) = &nest.lane {
            // A lane loop: the operand is read over [lanes, len], the result
            // written over [lanes, out_len]; a parameter is one element.
            if access.slot != nest.loads[0].slot {
                lane_extents = if is_store {
                    [
                        dims[2 * l],
                        crate::algo::lane_out_len(&lane.op, dims[2 * l + 1]),
                    ]
                } else {
                    [1, 1]
                };
                extents = &lane_extents;
            }
            if is_store && bindings_share_memory(bindings, nest) {
                return Err(Error::internal("a lane loop reads and writes one buffer"));
            }
        }
        if extents.contains(&0) {
            continue;
        }
        let mut binding = &bindings[access.buffer.index()];
        if let Binding::Alias(target) = binding {
            binding = &bindings[*target];
        }
        let size = plan.buffers[access.buffer.index()].dtype.size() as i128;
        let (base, len, _) = binding.extent().expect("aliases are resolved");
        let (mut lo, mut hi) = (base, base);
        for (axis, &d) in extents.iter().enumerate() {
            let reach = (d as i128 - 1) * strides[2 * access.slot + axis] as i128;
            if reach < 0 {
                lo += reach;
            } else {
                hi += reach;
            }
        }
        if lo < 0 || hi + size > len {
            return Err(call_error(format!(
                "loop {l} would access bytes {lo}..{} of buffer {} ({}), which has {len} bytes",
                hi + size,
                access.buffer.index(),
                buffer_name(plan.buffers[access.buffer.index()].kind)
            )));
        }
    }
    Ok(())
}

/// A recurrence loop's access: the rows its rules read of a source (from
/// the recurrence's own reach, per rule), or the rows it writes.
#[allow(clippy::too_many_arguments)]
fn check_recur_access(
    code: &CompiledCode,
    plan: &Plan,
    bindings: &[Binding<'_>],
    strides: &[isize],
    dims: &[usize],
    l: usize,
    v: crate::ir::ValueId,
    access: &crate::fuse::Access,
    is_store: bool,
) -> Result<()> {
    let Some((_, crate::ir::Op::Recur(rec))) = code.recurrences.iter().find(|(r, _)| *r == v)
    else {
        return Err(Error::internal("recurrence loop without its recurrence"));
    };
    let n = dims[2 * l];
    let stride = strides[2 * access.slot] as i128;
    let (lo, hi) = if is_store {
        if n == 0 {
            return Ok(());
        }
        (0i128, n as i128 - 1)
    } else {
        let k = plan.loops[l]
            .loads
            .iter()
            .position(|a| a.slot == access.slot)
            .ok_or_else(|| Error::internal("recurrence load"))?;
        if stride == 0 {
            (0, 0)
        } else {
            match rec.source_reach(k, n) {
                Some((lo, hi)) => (i128::from(lo), i128::from(hi)),
                None => return Ok(()),
            }
        }
    };
    let mut binding = &bindings[access.buffer.index()];
    if let Binding::Alias(target) = binding {
        binding = &bindings[*target];
    }
    let size = plan.buffers[access.buffer.index()].dtype.size() as i128;
    let (base, len, _) = binding.extent().expect("aliases are resolved");
    let (a, b) = (base + lo * stride, base + hi * stride);
    let (first, last) = (a.min(b), a.max(b));
    if first < 0 || last + size > len {
        return Err(call_error(format!(
            "recurrence loop {l} would access bytes {first}..{} of buffer {}, which has {len} bytes",
            last + size,
            access.buffer.index()
        )));
    }
    Ok(())
}

/// Whether a lane loop's operand and result are bound to the same memory
/// (an alias of the output, in-place evaluation), which the lane shim's
/// shared and exclusive slices must never be.
fn bindings_share_memory(bindings: &[Binding<'_>], nest: &crate::fuse::LoopNest) -> bool {
    let (src, dst) = (nest.loads[0].buffer.index(), nest.stores[0].buffer.index());
    let resolve = |k: usize| match bindings[k] {
        Binding::Alias(target) => target,
        _ => k,
    };
    resolve(src) == resolve(dst)
}

fn buffer_name(kind: BufferKind) -> String {
    match kind {
        BufferKind::Input(k) => format!("input {k}"),
        BufferKind::Output(k) => format!("output {k}"),
        BufferKind::Temp => "temporary".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::Buffer;
    use crate::codegen::tests::{frame, IrBuilder};
    use crate::codegen::{compile, CodegenOptions};
    use crate::fuse::plan_fused;
    use crate::ir::{BinaryOp, Ir};
    use crate::types::Shape;

    const VERIFY: CodegenOptions = CodegenOptions {
        opt_level: OptLevel::Speed,
        verify: true,
        capture_clif: false,
        fast_math: false,
        short_lanes: false,
    };

    /// `x * y` over f64 vectors, compiled.
    fn mul() -> (Ir, Plan, CompiledCode) {
        let mut b = IrBuilder::default();
        let x = b.input(DType::F64, 1);
        let y = b.input(DType::F64, 1);
        let z = b.binary(BinaryOp::Mul, x, y);
        let ir = b.finish(&[z]);
        let plan = plan_fused(&ir);
        let code = compile(&ir, &plan, &VERIFY).unwrap();
        (ir, plan, code)
    }

    fn frame_for(ir: &Ir, plan: &Plan, views: &[View<'_>]) -> (Vec<isize>, Vec<usize>) {
        let shapes: Vec<Shape> = views.iter().map(View::shape).collect();
        frame(plan, &ir.infer_shapes(&shapes).unwrap(), views)
    }

    #[test]
    fn runs_when_everything_fits() {
        let (ir, plan, code) = mul();
        let a = [1.0, 2.0, 3.0];
        let v = View::vector(Buffer::F64(&a));
        let (strides, dims) = frame_for(&ir, &plan, &[v, v]);
        let mut out = Data::zeros(DType::F64, 3);
        let mut bindings = [
            Binding::Input(v),
            Binding::Input(v),
            Binding::Output(&mut out),
        ];
        run(&code, &plan, &mut bindings, &strides, &dims, None).unwrap();
        assert_eq!(out, Data::F64(vec![1.0, 4.0, 9.0]));
    }

    #[test]
    fn refuses_a_too_short_output() {
        let (ir, plan, code) = mul();
        let a = [1.0, 2.0, 3.0];
        let v = View::vector(Buffer::F64(&a));
        let (strides, dims) = frame_for(&ir, &plan, &[v, v]);
        let mut out = Data::zeros(DType::F64, 2);
        let mut bindings = [
            Binding::Input(v),
            Binding::Input(v),
            Binding::Output(&mut out),
        ];
        let err = run(&code, &plan, &mut bindings, &strides, &dims, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Call, "{err}");
        assert_eq!(out, Data::F64(vec![0.0, 0.0]));
    }

    #[test]
    fn refuses_a_wrong_dtype() {
        let (ir, plan, code) = mul();
        let a = [1.0, 2.0, 3.0];
        let f = [1.0f32, 2.0, 3.0];
        let v = View::vector(Buffer::F64(&a));
        let (strides, dims) = frame_for(&ir, &plan, &[v, v]);
        let mut out = Data::zeros(DType::F64, 3);
        let mut bindings = [
            Binding::Input(v),
            Binding::Input(View::vector(Buffer::F32(&f))),
            Binding::Output(&mut out),
        ];
        let err = run(&code, &plan, &mut bindings, &strides, &dims, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Call, "{err}");
        let mut wrong_out = Data::zeros(DType::F32, 3);
        let mut bindings = [
            Binding::Input(v),
            Binding::Input(v),
            Binding::Output(&mut wrong_out),
        ];
        let err = run(&code, &plan, &mut bindings, &strides, &dims, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Call, "{err}");
    }

    #[test]
    fn refuses_strides_outside_an_input() {
        let (ir, plan, code) = mul();
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        // A view of the first three elements; the slice holds six.
        let v = View::strided(Buffer::F64(&a), 0, &[3], &[1]).unwrap();
        let (mut strides, dims) = frame_for(&ir, &plan, &[v, v]);
        let mut out = Data::zeros(DType::F64, 3);
        // Stride 2 elements still fits the six-element slice (reads 0, 2, 4).
        strides[0] = 16;
        let mut bindings = [
            Binding::Input(v),
            Binding::Input(v),
            Binding::Output(&mut out),
        ];
        run(&code, &plan, &mut bindings, &strides, &dims, None).unwrap();
        let Binding::Output(written) = &bindings[2] else {
            unreachable!()
        };
        assert_eq!(**written, Data::F64(vec![1.0, 6.0, 15.0]));
        // Stride 3 elements reaches element 6: one past the end.
        strides[0] = 24;
        let err = run(&code, &plan, &mut bindings, &strides, &dims, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Call, "{err}");
        // Negative strides from element 0 reach before the slice.
        strides[0] = -8;
        let err = run(&code, &plan, &mut bindings, &strides, &dims, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Call, "{err}");
        // Huge strides do not overflow the check.
        strides[0] = isize::MAX;
        let err = run(&code, &plan, &mut bindings, &strides, &dims, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Call, "{err}");
        // A misaligned byte offset into the output past its end.
        strides[0] = 8;
        strides[4] = 9;
        let err = run(&code, &plan, &mut bindings, &strides, &dims, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Call, "{err}");
        // Extents larger than the data.
        strides[4] = 8;
        let dims4 = vec![4, 0];
        let err = run(&code, &plan, &mut bindings, &strides, &dims4, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Call, "{err}");
        // Zero extent: nothing is touched, whatever the strides say.
        let dims0 = vec![0, 0];
        strides[0] = isize::MIN;
        run(&code, &plan, &mut bindings, &strides, &dims0, None).unwrap();
    }

    #[test]
    fn refuses_structural_mismatches() {
        let (ir, plan, code) = mul();
        let a = [1.0, 2.0, 3.0];
        let v = View::vector(Buffer::F64(&a));
        let (strides, dims) = frame_for(&ir, &plan, &[v, v]);
        let out_data = Data::zeros(DType::F64, 3);
        // A store into an input binding.
        let mut bindings = [
            Binding::Input(v),
            Binding::Input(v),
            Binding::Input(View::vector(out_data.as_buffer())),
        ];
        let err = run(&code, &plan, &mut bindings, &strides, &dims, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
        let mut out = Data::zeros(DType::F64, 3);
        let mut spare = Data::zeros(DType::F64, 3);
        // An output binding for a buffer that is only read.
        let mut bindings = [
            Binding::Input(v),
            Binding::Output(&mut spare),
            Binding::Output(&mut out),
        ];
        let err = run(&code, &plan, &mut bindings, &strides, &dims, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
        let mut bindings = [
            Binding::Input(v),
            Binding::Input(v),
            Binding::Output(&mut out),
        ];
        // Too few bindings, strides, extents.
        let err = run(&code, &plan, &mut bindings[..2], &strides, &dims, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
        let err = run(&code, &plan, &mut bindings, &strides[..5], &dims, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
        let err = run(&code, &plan, &mut bindings, &strides, &dims[..1], None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
        // A plan the code was not compiled for.
        let mut other = plan.clone();
        other.loops[0].stores[0].slot = 0;
        let err = run(&code, &other, &mut bindings, &strides, &dims, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
    }

    /// Bytes of anonymous executable mappings (JIT code pages): robust
    /// against other tests allocating concurrently, unlike the RSS.
    fn executable_anonymous_bytes() -> usize {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        maps.lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let anonymous = fields.len() == 5 && fields[4] == "0";
                if !anonymous || !fields[1].starts_with("r-x") {
                    return None;
                }
                let (start, end) = fields[0].split_once('-')?;
                let start = usize::from_str_radix(start, 16).ok()?;
                let end = usize::from_str_radix(end, 16).ok()?;
                Some(end - start)
            })
            .sum()
    }

    #[test]
    fn dropping_compiled_code_frees_its_memory() {
        let (ir, plan, _) = mul();
        let opts = CodegenOptions {
            verify: false,
            ..CodegenOptions::default()
        };
        let live = compile(&ir, &plan, &opts).unwrap();
        let before = executable_anonymous_bytes();
        assert!(before >= 4096, "a live kernel has a code page");
        let n = 2000;
        for _ in 0..n {
            drop(compile(&ir, &plan, &opts).unwrap());
        }
        let grown = executable_anonymous_bytes().saturating_sub(before);
        // Leaking would keep one 4 KiB code page per kernel (8 MB); allow
        // for kernels other tests hold meanwhile.
        assert!(grown < n * 4096 / 8, "code mappings grew by {grown} bytes");
        drop(live);
    }
}
