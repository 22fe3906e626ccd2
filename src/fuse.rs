//! The fusion planner: from a typed IR to loop nests.
//!
//! A [`Plan`] says which loops run, in order; what each computes; which
//! values it reads from buffers and which it writes. It is a plain,
//! printable data structure so tests can pin it and `explain` can show it.
//!
//! Two planners exist today:
//! - [`plan_fused`]: every elementwise value is computed in one loop over
//!   the output's shape; only inputs are read and only outputs are written,
//!   so no temporary of the data's size is ever made;
//! - [`plan_unfused`]: one loop per operation, each materialising its
//!   result in a temporary the next loop reads, exactly like NumPy
//!   evaluates an expression. It is the baseline fusion is measured
//!   against, and a second opinion in tests.
//!
//! Buffers are numbered inputs first (buffer `k` is input `k`), then
//! outputs, then temporaries. Every buffer access of a loop has a *slot*:
//! the call frame gives each slot its byte strides along the loop's axes
//! (zero along broadcast axes), and each loop its extents.
//!
//! Constants are never loaded: code generation materialises them where they
//! are used.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::ir::{Ir, LaneOp, Op, UnaryOp, ValueId};
use crate::stream;
use crate::types::{DType, Scalar};

/// Index into [`Plan::buffers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BufferId(pub u32);

impl BufferId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BufferKind {
    /// Input `k` of the signature, provided by the caller.
    Input(usize),
    /// Output `k`, allocated by the engine or provided by the caller.
    Output(usize),
    /// An intermediate the plan materialises, allocated per call.
    Temp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BufferDecl {
    pub kind: BufferKind,
    /// The value whose shape (and dtype) the buffer has.
    pub value: ValueId,
    pub dtype: DType,
    /// Why a temporary exists (empty for inputs and outputs).
    pub why: String,
}

/// One read or write of a value through a buffer inside a loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Access {
    pub value: ValueId,
    pub buffer: BufferId,
    /// Index into the call frame's stride table.
    pub slot: usize,
}

/// A lane operation run as a loop over lanes that calls the rustc-compiled
/// routine of `crate::algo` once per lane.
///
/// Its loop has two extents, `[lanes, lane length]`; its first load reads
/// the operand (strides `[between lanes, between elements]`), a second load
/// (if any) the rank-0 parameter input, and its one store writes
/// [`crate::algo::lane_out_len`] elements per lane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LaneStep {
    pub op: LaneOp,
    /// The lane operation's value (the result).
    pub value: ValueId,
    /// A constant parameter (window length or alpha), if not loaded.
    pub param: Option<Scalar>,
}

/// A loop nest over the shape of one value (rank 0, 1 or 2), or over the
/// lanes of a lane operation.
#[derive(Clone, Debug, PartialEq)]
pub struct LoopNest {
    /// The iteration space is this value's shape.
    pub shape_of: ValueId,
    pub rank: u8,
    /// Values read from buffers at the start of each iteration.
    pub loads: Vec<Access>,
    /// Values computed in the body, in dependency order. Inputs loaded by
    /// `loads` and constants are available without being listed.
    pub compute: Vec<ValueId>,
    /// Values written at the end of each iteration.
    pub stores: Vec<Access>,
    /// Set for a lane loop (then `compute` is just the lane value).
    pub lane: Option<LaneStep>,
    /// Set for a recurrence loop: the `Op::Recur` value it computes, row
    /// by row over its length. Its loads are the recurrence's sources in
    /// order (strides `[between elements, 0]`), its store the result.
    pub recur: Option<ValueId>,
    /// Set for a lane group (then `loads` and `stores` list every access
    /// of its segments, which refer to them by index).
    pub group: Option<Box<Group>>,
}

/// Elements per block of a lane group's sweeps: a multiple of the
/// canonical sum's leaf, small enough that a block of every scratch row
/// stays in the L1 cache.
pub const BLOCK: usize = 512;

/// Where a stream's window length or `alpha` comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamSource {
    Const(Scalar),
    /// A rank-0 input, read when the kernel is called.
    Input(BufferId),
}

/// A lane operation of a [`Group`], run as a [`crate::stream::Stream`] fed
/// the blocks the group's segments compute.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamDecl {
    /// The lane operation's value.
    pub value: ValueId,
    pub op: LaneOp,
    pub operand: ValueId,
    pub src: DType,
    pub dst: DType,
    pub param: Option<ParamSource>,
    /// Scratch row holding the operand's block.
    pub in_row: usize,
    /// Scratch row the results of an aligned stream are written to.
    pub out_row: Option<usize>,
    /// Lane slot a reduction's result is written to.
    pub lane_slot: Option<usize>,
    /// Whether its blocks may bypass its rows (see [`Direct`]).
    pub direct: Direct,
    /// For a variance or deviation: the stream (index in the group) of the
    /// mean of the same elements, if the group has one. Its first pass
    /// would compute that mean again, so it has none: its second pass
    /// starts from that stream's count and mean (see [`mean_partner`]).
    pub mean_of: Option<usize>,
}

/// A stream or map whose operand is a plain load, or whose result is only
/// stored, is handed the block's address in the buffer and its element
/// stride instead of its scratch row: the shim reads or writes the block
/// in place when its elements are contiguous, and otherwise gathers the
/// operand into its row or scatters the result from its row around the
/// step. No segment fills or reads the rows of a direct operand or result.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Direct {
    /// Index into the nest's `loads`: the operand is read from there.
    pub load: Option<usize>,
    /// Index into the nest's `stores`: the result is written there (the
    /// library may still choose the row, for an in-place call; the shim
    /// copies the row out then).
    pub store: Option<usize>,
}

/// An elementwise loop over the elements of one block of a lane.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Segment {
    /// Indices into the nest's `loads`.
    pub loads: Vec<usize>,
    /// Values read from their scratch rows.
    pub scratch_in: Vec<ValueId>,
    /// Reduction results of this lane, read from their lane slots.
    pub lane_in: Vec<ValueId>,
    /// Values computed, in dependency order.
    pub compute: Vec<ValueId>,
    /// Values written to their scratch rows (operands of later steps).
    pub scratch_out: Vec<ValueId>,
    /// Indices into the nest's `stores`.
    pub stores: Vec<usize>,
}

/// One step of a block.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Segment(Segment),
    /// Feeds the block of stream `k`'s operand to it.
    Push(usize),
    /// Runs the block routine of map `k` (see [`MapDecl`]).
    Map(usize),
}

/// An elementwise function applied a block at a time by a block routine
/// of [`crate::vmath`] (vectorised math: many elements per call), reading
/// its operand's scratch row and writing its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MapDecl {
    /// The function's value.
    pub value: ValueId,
    pub op: UnaryOp,
    pub dtype: DType,
    pub from_row: usize,
    pub to_row: usize,
    /// Whether its blocks may bypass its rows.
    pub direct: Direct,
}

/// One pass over a lane, block by block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sweep {
    /// Aligned streams restarted before the sweep (they run again).
    pub restart: Vec<usize>,
    /// Two-pass reductions starting their second pass.
    pub next_pass: Vec<usize>,
    /// What runs for each block, in order.
    pub steps: Vec<Step>,
    /// Reductions finished after the sweep (their lane slots are set).
    pub finish: Vec<usize>,
    /// Indices into the nest's `stores`: reduction results written once per
    /// lane after the sweep.
    pub lane_stores: Vec<usize>,
}

/// A lane group: every streaming lane operation over the lanes of one
/// iteration space, with their elementwise producers and consumers, run
/// lane by lane, each lane in sweeps of blocks of [`BLOCK`] elements.
///
/// Its loop has extents `[lanes, lane length]`; every access has strides
/// `[between lanes, between elements]` (a lane store: `[between lanes, 0]`).
/// Values passed between the steps of a block live in *scratch rows* of
/// [`BLOCK`] elements, reduction results in *lane slots*: memory of the
/// call, not buffers, so no temporary of the data's size exists.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// The lane axis of the space (0 for a vector), or [`ALL`]: one lane
    /// made of all elements of a matrix in row-major order (reductions
    /// only), run row by row with the sweeps outside the rows.
    pub axis: u8,
    /// The space's rank (1 or 2).
    pub space_rank: u8,
    pub streams: Vec<StreamDecl>,
    /// Block routines its steps run.
    pub maps: Vec<MapDecl>,
    pub sweeps: Vec<Sweep>,
    /// The value held in each scratch row.
    pub rows: Vec<ValueId>,
    /// The reduction held in each lane slot.
    pub lane_slots: Vec<ValueId>,
}

impl Group {
    /// Words (8 bytes) of scratch memory the group uses: its rows, then
    /// its lane slots.
    pub fn scratch_words(&self) -> usize {
        self.rows.len() * BLOCK + self.lane_slots.len()
    }

    /// Word offset of row `r`.
    pub fn row_word(&self, r: usize) -> usize {
        r * BLOCK
    }

    /// Word offset of lane slot `s`.
    pub fn lane_word(&self, s: usize) -> usize {
        self.rows.len() * BLOCK + s
    }

    pub fn row_of(&self, v: ValueId) -> Option<usize> {
        self.rows.iter().position(|&r| r == v)
    }

    pub fn slot_of(&self, v: ValueId) -> Option<usize> {
        self.lane_slots.iter().position(|&r| r == v)
    }

    /// Whether store `k` of the nest is a per-lane store.
    pub fn is_lane_store(&self, k: usize) -> bool {
        self.sweeps.iter().any(|s| s.lane_stores.contains(&k))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub buffers: Vec<BufferDecl>,
    pub loops: Vec<LoopNest>,
    /// The loop that owns each slot, indexed by slot.
    pub slot_loop: Vec<usize>,
}

impl Plan {
    pub fn num_slots(&self) -> usize {
        self.slot_loop.len()
    }

    /// All accesses of every loop, loads then stores, with their loop index.
    pub fn accesses(&self) -> impl Iterator<Item = (usize, &Access, bool)> {
        self.loops.iter().enumerate().flat_map(|(l, nest)| {
            nest.loads
                .iter()
                .map(move |a| (l, a, false))
                .chain(nest.stores.iter().map(move |a| (l, a, true)))
        })
    }

    /// Words of scratch memory a call needs (the largest group's).
    pub fn scratch_words(&self) -> usize {
        self.loops
            .iter()
            .filter_map(|n| n.group.as_ref())
            .map(|g| g.scratch_words())
            .max()
            .unwrap_or(0)
    }

    /// The number of streams of the groups of loops before `l` (stream
    /// `k` of loop `l`'s group has the call-wide number `base + k`).
    pub fn stream_base(&self, l: usize) -> usize {
        self.loops[..l]
            .iter()
            .filter_map(|n| n.group.as_ref())
            .map(|g| g.streams.len())
            .sum()
    }

    /// The number of maps of the groups of loops before `l` (as
    /// [`Plan::stream_base`]).
    pub fn map_base(&self, l: usize) -> usize {
        self.loops[..l]
            .iter()
            .filter_map(|n| n.group.as_ref())
            .map(|g| g.maps.len())
            .sum()
    }

    /// Number of temporaries the plan materialises.
    pub fn num_temps(&self) -> usize {
        self.buffers
            .iter()
            .filter(|b| b.kind == BufferKind::Temp)
            .count()
    }
}

/// Builds plans, handing out buffer and slot numbers.
struct Builder<'a> {
    ir: &'a Ir,
    plan: Plan,
    /// The buffer holding each materialised value.
    holder: HashMap<ValueId, BufferId>,
}

impl<'a> Builder<'a> {
    fn new(ir: &'a Ir) -> Builder<'a> {
        let mut b = Builder {
            ir,
            plan: Plan {
                buffers: Vec::new(),
                loops: Vec::new(),
                slot_loop: Vec::new(),
            },
            holder: HashMap::new(),
        };
        // Inputs first, so buffer k is input k even if the input is unused.
        for (k, decl) in ir.inputs.iter().enumerate() {
            let value = ir
                .ids()
                .find(|&v| ir.node(v).op == Op::Input(k))
                .unwrap_or(ValueId(u32::MAX));
            let id = b.add_buffer(BufferKind::Input(k), value, decl.dtype);
            if value.0 != u32::MAX {
                b.holder.insert(value, id);
            }
        }
        for (k, &value) in ir.outputs.iter().enumerate() {
            let id = b.add_buffer(BufferKind::Output(k), value, ir.node(value).dtype);
            // An input returned as an output is still read from its input.
            b.holder.entry(value).or_insert(id);
        }
        b
    }

    fn add_buffer(&mut self, kind: BufferKind, value: ValueId, dtype: DType) -> BufferId {
        self.add_temp_why(kind, value, dtype, String::new())
    }

    fn add_temp_why(
        &mut self,
        kind: BufferKind,
        value: ValueId,
        dtype: DType,
        why: String,
    ) -> BufferId {
        let id = BufferId(self.plan.buffers.len() as u32);
        self.plan.buffers.push(BufferDecl {
            kind,
            value,
            dtype,
            why,
        });
        id
    }

    fn access(&mut self, l: usize, value: ValueId, buffer: BufferId) -> Access {
        let slot = self.plan.slot_loop.len();
        self.plan.slot_loop.push(l);
        Access {
            value,
            buffer,
            slot,
        }
    }

    /// Adds a loop over `shape_of` computing `compute`, loading whatever
    /// those values (and `extra_loads`) need from buffers, and storing
    /// `stores`.
    fn add_loop(
        &mut self,
        shape_of: ValueId,
        compute: Vec<ValueId>,
        extra_loads: &[ValueId],
        stores: &[(ValueId, BufferId)],
    ) {
        let l = self.plan.loops.len();
        let computed: std::collections::HashSet<ValueId> = compute.iter().copied().collect();
        let mut needed: Vec<ValueId> = extra_loads.to_vec();
        for &v in &compute {
            needed.extend(self.ir.node(v).op.operands());
        }
        let mut loads = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for v in needed {
            if computed.contains(&v)
                || matches!(self.ir.node(v).op, Op::Const(_))
                || !seen.insert(v)
            {
                continue;
            }
            let buffer = self.holder[&v];
            loads.push(self.access(l, v, buffer));
        }
        let stores = stores.iter().map(|&(v, b)| self.access(l, v, b)).collect();
        let nest = LoopNest {
            shape_of,
            rank: self.ir.node(shape_of).rank,
            loads,
            compute,
            stores,
            lane: None,
            recur: None,
            group: None,
        };
        let nest = blocked(self.ir, nest);
        self.plan.loops.push(nest);
    }

    /// Adds the loop of recurrence `v`, reading each source from its buffer.
    fn add_recur_loop(&mut self, v: ValueId, dst: BufferId) {
        let Op::Recur(rec) = &self.ir.node(v).op else {
            unreachable!("add_recur_loop of a recurrence")
        };
        let sources: Vec<(ValueId, BufferId)> = rec
            .sources
            .clone()
            .into_iter()
            .map(|src| (src, self.held(src)))
            .collect();
        let l = self.plan.loops.len();
        let loads = sources
            .into_iter()
            .map(|(src, buffer)| self.access(l, src, buffer))
            .collect();
        let stores = vec![self.access(l, v, dst)];
        self.plan.loops.push(LoopNest {
            shape_of: v,
            rank: 1,
            loads,
            compute: vec![v],
            stores,
            lane: None,
            recur: Some(v),
            group: None,
        });
    }

    /// Adds the lane loop of lane value `v`, reading its operand from
    /// `src` and writing to `dst`.
    fn add_lane_loop(&mut self, v: ValueId, src: BufferId, dst: BufferId) {
        let Op::Lane { op, arg, param } = self.ir.node(v).op else {
            unreachable!("add_lane_loop of a lane value")
        };
        let l = self.plan.loops.len();
        let mut loads = vec![self.access(l, arg, src)];
        let mut constant = None;
        if let Some(p) = param {
            match self.ir.node(p).op {
                Op::Const(c) => constant = Some(c),
                _ => {
                    let buffer = self.holder[&p];
                    loads.push(self.access(l, p, buffer));
                }
            }
        }
        let stores = vec![self.access(l, v, dst)];
        self.plan.loops.push(LoopNest {
            shape_of: arg,
            rank: 2,
            loads,
            compute: vec![v],
            stores,
            lane: Some(LaneStep {
                op,
                value: v,
                param: constant,
            }),
            recur: None,
            group: None,
        });
    }

    /// The buffer holding `v`: its own, or, for a constant (a lane
    /// operation of a literal, `min(0)`), a temporary filled by a loop.
    fn held(&mut self, v: ValueId) -> BufferId {
        if let Some(&b) = self.holder.get(&v) {
            return b;
        }
        let node = self.ir.node(v);
        let why = "a constant read as an array".to_string();
        let t = self.add_temp_why(BufferKind::Temp, v, node.dtype, why);
        self.add_loop(v, Vec::new(), &[v], &[(v, t)]);
        self.holder.insert(v, t);
        t
    }

    /// The buffer a lane operation reads its operand from: the operand's
    /// own, unless the lane runs over all elements of a matrix input (which
    /// may be strided), which is first copied row-major into a temporary.
    fn lane_source(&mut self, v: ValueId) -> BufferId {
        let Op::Lane { op, arg, .. } = self.ir.node(v).op else {
            unreachable!("lane_source of a lane value")
        };
        let node = self.ir.node(arg);
        let holder = self.held(arg);
        let is_input = matches!(self.plan.buffers[holder.index()].kind, BufferKind::Input(_));
        if op.axis.is_none() && node.rank == 2 && is_input {
            let why = format!(
                "`{}` over all elements reads a row-major copy of a matrix input",
                op.name()
            );
            let t = self.add_temp_why(BufferKind::Temp, arg, node.dtype, why);
            self.add_loop(arg, Vec::new(), &[arg], &[(arg, t)]);
            t
        } else {
            holder
        }
    }

    /// The buffer value `v` is stored in: its output buffer(s), or a new
    /// temporary (which exists for the reason `why`).
    fn destination(
        &mut self,
        v: ValueId,
        why: impl FnOnce() -> String,
    ) -> Vec<(ValueId, BufferId)> {
        let outs: Vec<(ValueId, BufferId)> = self
            .ir
            .outputs
            .iter()
            .enumerate()
            .filter(|(_, &o)| o == v)
            .map(|(k, _)| (v, self.output_buffer(k)))
            .collect();
        if outs.is_empty() {
            let t = self.add_temp_why(BufferKind::Temp, v, self.ir.node(v).dtype, why());
            vec![(v, t)]
        } else {
            outs
        }
    }

    /// The loop of lane operation or recurrence `v`, which writes one
    /// buffer (the first of `stores`), then a copy loop into the others:
    /// the further outputs that are the same value (`(a, b) = (cumsum(x),
    /// cumsum(x))`, one value after common subexpressions merge).
    fn add_routine_loop(&mut self, v: ValueId, stores: &[(ValueId, BufferId)]) {
        let dst = stores[0].1;
        if let Op::Lane { .. } = self.ir.node(v).op {
            let src = self.lane_source(v);
            self.add_lane_loop(v, src, dst);
        } else {
            self.add_recur_loop(v, dst);
        }
        self.holder.insert(v, dst);
        if stores.len() > 1 {
            self.add_loop(v, Vec::new(), &[v], &stores[1..]);
        }
    }

    /// Outputs that are inputs or constants are copied or filled.
    fn copy_plain_outputs(&mut self) {
        for (k, &out) in self.ir.outputs.iter().enumerate() {
            if matches!(self.ir.node(out).op, Op::Input(_) | Op::Const(_)) {
                let buf = self.output_buffer(k);
                self.add_loop(out, Vec::new(), &[out], &[(out, buf)]);
            }
        }
    }

    fn output_buffer(&self, k: usize) -> BufferId {
        BufferId((self.ir.inputs.len() + k) as u32)
    }
}

/// The values each output needs that are computed (not inputs, not
/// constants), in dependency order.
fn computed_values(ir: &Ir, roots: &[ValueId]) -> Vec<ValueId> {
    let mut live = vec![false; ir.nodes.len()];
    for r in roots {
        live[r.index()] = true;
    }
    for v in ir.ids().rev() {
        if live[v.index()] {
            for o in ir.node(v).op.operands() {
                live[o.index()] = true;
            }
        }
    }
    ir.ids()
        .filter(|v| live[v.index()] && !matches!(ir.node(*v).op, Op::Input(_) | Op::Const(_)))
        .collect()
}

/// The fused plan.
///
/// - **Lane groups.** Every streaming lane operation (reduction, scan,
///   window, `ewm_mean`) of a vector, or along an axis of a matrix, joins a
///   [`Group`] with the other streaming operations over the same lanes; the
///   group also computes the elementwise values whose shape is provably the
///   lanes' (its *consumers*: `x - rolling_mean(x, w)`, `m - mean(m, axis=1,
///   keepdims=true)`) and, inside its segments, the elementwise producers
///   of its operands (`a*b` of `sum(a*b)`). A group runs lane by lane, in as
///   many sweeps over the lane as its reductions need before their results
///   are read, block by block, so none of those values is ever stored.
/// - **Elementwise loops.** Every other value that must exist in memory (an
///   output, the operand or result of `diff`/`shift` or of a reduction over
///   all elements of a matrix, a recurrence's sources, a group's value read
///   elsewhere) gets one loop computing everything between it and the
///   values already in memory.
/// - Loops run in an order that respects what they read.
pub fn plan_fused(ir: &Ir) -> Plan {
    let members = membership(ir);
    let n = ir.nodes.len();
    let mut users: Vec<Vec<ValueId>> = vec![Vec::new(); n];
    for v in ir.ids() {
        for o in ir.node(v).op.operands() {
            users[o.index()].push(v);
        }
    }
    // Members read outside their group (or returned) are stored by it. A
    // value computed from a group's lane results (not a member) is computed
    // inside the group where the group reads it, so it only counts as
    // "outside" where it is itself read outside.
    let derived = |v: ValueId| {
        members
            .groups
            .iter()
            .position(|d| d.per_lane.contains(&v) && members.member_of[v.index()].is_none())
    };
    let mut outside = vec![false; n];
    for v in ir.ids().rev() {
        let Some(g) = members.member_of[v.index()].or_else(|| derived(v)) else {
            continue;
        };
        outside[v.index()] = ir.outputs.contains(&v)
            || users[v.index()].iter().any(|&u| {
                if members.member_of[u.index()] == Some(g) {
                    false
                } else if derived(u) == Some(g) {
                    outside[u.index()]
                } else {
                    true
                }
            });
    }
    let exported: Vec<bool> = ir
        .ids()
        .map(|v| members.member_of[v.index()].is_some() && outside[v.index()])
        .collect();
    // The values that live in buffers.
    let mut materialised = vec![false; n];
    for &o in &ir.outputs {
        materialised[o.index()] = true;
    }
    for v in ir.ids() {
        match &ir.node(v).op {
            Op::Lane { arg, .. } if members.member_of[v.index()].is_none() => {
                materialised[v.index()] = true;
                materialised[arg.index()] = true;
            }
            Op::Recur(rec) => {
                materialised[v.index()] = true;
                for s in &rec.sources {
                    materialised[s.index()] = true;
                }
            }
            _ => {}
        }
        if exported[v.index()] {
            materialised[v.index()] = true;
        }
    }
    let is_loaded = |v: ValueId, g: usize| {
        members.member_of[v.index()] != Some(g)
            && (materialised[v.index()] || matches!(ir.node(v).op, Op::Input(_)))
    };
    let schedules: Vec<Schedule> = members
        .groups
        .iter()
        .enumerate()
        .map(|(g, d)| schedule(ir, d, |v| is_loaded(v, g), &exported))
        .collect();
    // Units of work in a first-use order, then sorted by what they read.
    #[derive(Clone, Copy, PartialEq)]
    enum Unit {
        Group(usize),
        Value(ValueId),
    }
    let mut units: Vec<Unit> = Vec::new();
    let mut producer: Vec<Option<usize>> = vec![None; n];
    for v in computed_values(ir, &ir.outputs) {
        match members.member_of[v.index()] {
            Some(g) => {
                let unit = match units.iter().position(|&u| u == Unit::Group(g)) {
                    Some(u) => u,
                    None => {
                        units.push(Unit::Group(g));
                        units.len() - 1
                    }
                };
                if exported[v.index()] {
                    producer[v.index()] = Some(unit);
                }
            }
            None if materialised[v.index()] => {
                units.push(Unit::Value(v));
                producer[v.index()] = Some(units.len() - 1);
            }
            None => {}
        }
    }
    // What is in memory, for the cones (a cone never stops at its root).
    let held: HashMap<ValueId, BufferId> = ir
        .ids()
        .filter(|u| materialised[u.index()])
        .map(|u| (u, BufferId(0)))
        .collect();
    let reads = |unit: Unit| -> Vec<ValueId> {
        match unit {
            Unit::Group(g) => schedules[g].loads.clone(),
            Unit::Value(v) => match &ir.node(v).op {
                Op::Lane { .. } | Op::Recur(_) => ir.node(v).op.operands().to_vec(),
                _ => {
                    let mut out = Vec::new();
                    for c in cone(ir, v, &held) {
                        out.extend(ir.node(c).op.operands());
                    }
                    out
                }
            },
        }
    };
    let deps: Vec<Vec<usize>> = units
        .iter()
        .enumerate()
        .map(|(k, &u)| {
            let mut d: Vec<usize> = reads(u)
                .into_iter()
                .filter_map(|v| producer[v.index()])
                .filter(|&p| p != k)
                .collect();
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    let Some(order) = topological(&deps) else {
        debug_assert!(false, "lane groups formed a cycle");
        return plan_unfused(ir);
    };
    let mut b = Builder::new(ir);
    for k in order {
        match units[k] {
            Unit::Group(g) => {
                let mine: Vec<bool> = members.member_of.iter().map(|&m| m == Some(g)).collect();
                b.add_group_loop(&members.groups[g], &schedules[g], &exported, &mine);
            }
            Unit::Value(v) => {
                let stores = b.destination(v, || materialised_because(ir, v));
                if matches!(ir.node(v).op, Op::Lane { .. } | Op::Recur(_)) {
                    b.add_routine_loop(v, &stores);
                } else {
                    let compute = cone(ir, v, &b.holder);
                    b.add_loop(v, compute, &[], &stores);
                    b.holder.insert(v, stores[0].1);
                }
            }
        }
    }
    b.copy_plain_outputs();
    b.plan
}

/// An order of `0..deps.len()` in which every unit comes after the units
/// it depends on (the lowest-numbered ready unit first); `None` on a cycle.
fn topological(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    let mut done = vec![false; deps.len()];
    let mut order = Vec::with_capacity(deps.len());
    while order.len() < deps.len() {
        let next = (0..deps.len()).find(|&k| !done[k] && deps[k].iter().all(|&d| done[d]))?;
        done[next] = true;
        order.push(next);
    }
    Some(order)
}

/// A group being formed: its lane space and what belongs to it.
#[derive(Clone, Debug)]
struct Draft {
    /// The value whose shape is the iteration space.
    space: ValueId,
    axis: u8,
    /// Its lane operations, in order.
    streams: Vec<ValueId>,
    /// Values whose shape is the space's: the space, aligned streams,
    /// elementwise members built on them.
    same: HashSet<ValueId>,
    /// Values that broadcast into the space: producers of stream operands.
    within: HashSet<ValueId>,
    /// Values constant along each lane: reductions read by their lane
    /// (members), and elementwise values of those and scalars (computed
    /// wherever they are read, not members).
    per_lane: HashSet<ValueId>,
}

impl Draft {
    fn new(space: ValueId, axis: u8) -> Draft {
        Draft {
            space,
            axis,
            streams: Vec::new(),
            same: HashSet::from([space]),
            within: HashSet::new(),
            per_lane: HashSet::new(),
        }
    }
}

struct Membership {
    groups: Vec<Draft>,
    /// The group that computes each value, if any.
    member_of: Vec<Option<usize>>,
}

/// The lane axis `v` streams along, if it is a lane operation that can
/// join a group (a streaming operation of a vector, or along an axis of a
/// matrix).
fn streamed_axis(ir: &Ir, v: ValueId) -> Option<u8> {
    let Op::Lane { op, arg, .. } = ir.node(v).op else {
        return None;
    };
    if !stream::is_streamable(&op) {
        return None;
    }
    match (ir.node(arg).rank, op.axis) {
        (1, _) => Some(0),
        (2, Some(a)) if a < 2 => Some(a),
        // All elements of a matrix, row by row, as one lane.
        (2, None) => Some(ALL),
        _ => None,
    }
}

/// The group axis of a lane over all elements of a matrix, in row-major
/// order: the group's loop runs over the rows, but its streams see one lane.
pub const ALL: u8 = 2;

fn is_elementwise(op: &Op) -> bool {
    matches!(
        op,
        Op::Unary(..) | Op::Binary(..) | Op::Cast(_) | Op::Where(..)
    )
}

/// Groups and their members: formed once to find the lane spaces, then
/// again with those spaces known from the start, so elementwise values
/// computed before the first lane operation over a space (`y = 2*x` before
/// `cumsum(x)`) share its pass.
fn membership(ir: &Ir) -> Membership {
    let first = form_groups(ir, &[]);
    let seeds: Vec<(ValueId, u8)> = first.groups.iter().map(|d| (d.space, d.axis)).collect();
    let mut m = form_groups(ir, &seeds);
    // Seeded spaces no lane operation joined are not groups.
    let keep: Vec<bool> = m.groups.iter().map(|d| !d.streams.is_empty()).collect();
    let mut renumber = vec![None; m.groups.len()];
    let mut next = 0;
    for (g, &k) in keep.iter().enumerate() {
        if k {
            renumber[g] = Some(next);
            next += 1;
        }
    }
    for slot in &mut m.member_of {
        *slot = slot.and_then(|g| renumber[g]);
    }
    let mut g = 0;
    m.groups.retain(|_| {
        g += 1;
        keep[g - 1]
    });
    m
}

fn form_groups(ir: &Ir, seeds: &[(ValueId, u8)]) -> Membership {
    let n = ir.nodes.len();
    let mut m = Membership {
        groups: seeds.iter().map(|&(s, a)| Draft::new(s, a)).collect(),
        member_of: vec![None; n],
    };
    // The groups each value depends on (through any path).
    let mut gdeps: Vec<Vec<usize>> = vec![Vec::new(); n];
    // Values no output needs (an unused `let`) join nothing.
    let mut live = vec![false; n];
    for v in computed_values(ir, &ir.outputs) {
        live[v.index()] = true;
    }
    for v in ir.ids() {
        if !live[v.index()] && !matches!(ir.node(v).op, Op::Input(_)) {
            continue;
        }
        let node = ir.node(v);
        let operands = node.op.operands();
        let mut deps: Vec<usize> = Vec::new();
        for o in &operands {
            deps.extend(&gdeps[o.index()]);
            deps.extend(m.member_of[o.index()]);
        }
        deps.sort_unstable();
        deps.dedup();
        // Joining `g` must not need a value that itself needs `g`.
        let acyclic = |g: usize, m: &Membership| {
            operands.iter().all(|o| {
                m.member_of[o.index()] == Some(g)
                    || m.groups[g].per_lane.contains(o)
                    || !gdeps[o.index()].contains(&g)
            })
        };
        if let Some(axis) = streamed_axis(ir, v) {
            let Op::Lane { op, arg, .. } = node.op else {
                unreachable!("streamed_axis checked")
            };
            // The group that computes the operand, else one where it is
            // the space (an input, or a value computed elsewhere).
            let fits = |g: usize| {
                let d = &m.groups[g];
                d.axis == axis && d.same.contains(&arg) && acyclic(g, &m)
            };
            let found = m.member_of[arg.index()]
                .filter(|&g| fits(g))
                .or_else(|| (0..m.groups.len()).find(|&g| fits(g)));
            let g = match found {
                Some(g) => g,
                None => {
                    m.groups.push(Draft::new(arg, axis));
                    let g = m.groups.len() - 1;
                    if is_elementwise(&ir.node(arg).op) && m.member_of[arg.index()].is_none() {
                        m.member_of[arg.index()] = Some(g);
                    }
                    g
                }
            };
            let d = &mut m.groups[g];
            d.streams.push(v);
            add_producers(ir, arg, &mut d.within);
            if stream::is_aligned(&op) {
                d.same.insert(v);
            } else if ir.node(arg).rank == 1 || axis == 0 || axis == ALL || op.keepdims {
                d.per_lane.insert(v);
            }
            m.member_of[v.index()] = Some(g);
        } else if is_elementwise(&node.op) {
            #[derive(PartialEq)]
            enum Class {
                Same,
                PerLane,
                Scalar,
                Within,
                Other,
            }
            let found = (0..m.groups.len()).find_map(|g| {
                let d = &m.groups[g];
                let classes: Vec<Class> = operands
                    .iter()
                    .map(|o| {
                        if d.same.contains(o) {
                            Class::Same
                        } else if d.per_lane.contains(o) {
                            Class::PerLane
                        } else if ir.node(*o).rank == 0 {
                            Class::Scalar
                        } else if d.within.contains(o) {
                            Class::Within
                        } else {
                            Class::Other
                        }
                    })
                    .collect();
                if classes.contains(&Class::Other) || !acyclic(g, &m) {
                    return None;
                }
                if classes.contains(&Class::Same) {
                    Some((g, true))
                } else if classes.contains(&Class::PerLane) && !classes.contains(&Class::Within) {
                    Some((g, false))
                } else {
                    None
                }
            });
            match found {
                Some((g, true)) => {
                    m.groups[g].same.insert(v);
                    m.member_of[v.index()] = Some(g);
                    // A group seeded with this value as its space is moot.
                    for d in &mut m.groups {
                        if d.space == v && d.streams.is_empty() {
                            d.same.clear();
                        }
                    }
                }
                // Constant along each lane: computed where it is read,
                // from the lane's results, not a member.
                Some((g, false)) => {
                    m.groups[g].per_lane.insert(v);
                }
                None => {
                    // The seeded space of a group computes itself there.
                    if let Some(g) = m
                        .groups
                        .iter()
                        .position(|d| d.space == v && d.streams.is_empty())
                    {
                        m.member_of[v.index()] = Some(g);
                    }
                }
            }
        }
        gdeps[v.index()] = deps;
    }
    m
}

/// Adds `v` and everything it is computed from through elementwise
/// operations to `within` (all of it broadcasts into `v`'s shape).
fn add_producers(ir: &Ir, v: ValueId, within: &mut HashSet<ValueId>) {
    let mut stack = vec![v];
    while let Some(u) = stack.pop() {
        if within.insert(u) && is_elementwise(&ir.node(u).op) {
            stack.extend(ir.node(u).op.operands());
        }
    }
}

/// What one group does, in values (turned into accesses when its loop is
/// added to the plan).
#[derive(Clone, Debug, Default)]
struct Schedule {
    sweeps: Vec<SweepDraft>,
    /// Every value the group loads from a buffer.
    loads: Vec<ValueId>,
    rows: Vec<ValueId>,
    /// Each stream's [`mean_partner`].
    mean_of: Vec<Option<usize>>,
}

#[derive(Clone, Debug, Default)]
struct SweepDraft {
    restart: Vec<usize>,
    next_pass: Vec<usize>,
    steps: Vec<StepDraft>,
    finish: Vec<usize>,
    /// Reductions stored once per lane after the sweep.
    lane_stores: Vec<ValueId>,
}

#[derive(Clone, Debug)]
enum StepDraft {
    Segment {
        loads: Vec<ValueId>,
        scratch_in: Vec<ValueId>,
        lane_in: Vec<ValueId>,
        compute: Vec<ValueId>,
        scratch_out: Vec<ValueId>,
        stores: Vec<ValueId>,
    },
    Push(usize),
    /// The block routine of the function whose value this is.
    Map(ValueId),
}

/// How a group obtains a value inside a sweep.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Source {
    Load,
    LaneIn,
    Compute,
    /// The result of an aligned stream, in its scratch row.
    Stream,
    /// A function with a block routine ([`is_mapped`]), applied to its
    /// operand's row a block at a time, into its own row.
    Map,
}

/// Works out the sweeps of group `d`: a reduction's operand is pushed in
/// the first sweep where it can be computed (and the next, for two-pass
/// ones); a value stored or read per element is computed in the first
/// sweep where every reduction it reads is finished. Within a sweep, a
/// block runs segments, pushes and maps in stages: stage `k` computes what
/// needs `k` aligned streams or block routines before it, then pushes the
/// streams and maps the functions whose operands it computed (a function
/// with a block routine is a map here as in an elementwise loop, so
/// `sum(exp(x))` runs `exp` vectorised, not element by element).
fn schedule(ir: &Ir, d: &Draft, loaded: impl Fn(ValueId) -> bool, exported: &[bool]) -> Schedule {
    let streams = &d.streams;
    let stream_of = |v: ValueId| streams.iter().position(|&s| s == v);
    // The operand of a function computed in the group that has a block
    // routine (not of one whose value is loaded or is a stream's).
    let mapped = |v: ValueId| match ir.node(v).op {
        Op::Unary(op, a) if !loaded(v) && stream_of(v).is_none() => {
            is_mapped(op, ir.node(a).dtype).then_some(a)
        }
        _ => None,
    };
    let passes = |k: usize| match ir.node(streams[k]).op {
        Op::Lane { op, .. } => stream::passes(&op),
        _ => 1,
    };
    let aligned = |k: usize| match ir.node(streams[k]).op {
        Op::Lane { op, .. } => stream::is_aligned(&op),
        _ => false,
    };
    let arg_of = |k: usize| match ir.node(streams[k]).op {
        Op::Lane { arg, .. } => arg,
        _ => streams[k],
    };
    // The first sweep in which each value can be computed per element.
    let mut ready: HashMap<ValueId, u32> = HashMap::new();
    for v in ir.ids() {
        let node = ir.node(v);
        let r = if matches!(node.op, Op::Const(_)) || loaded(v) {
            0
        } else if let Some(k) = stream_of(v) {
            let r0 = ready.get(&arg_of(k)).copied().unwrap_or(0);
            if aligned(k) {
                r0
            } else {
                r0 + passes(k)
            }
        } else {
            node.op
                .operands()
                .iter()
                .map(|o| ready.get(o).copied().unwrap_or(0))
                .max()
                .unwrap_or(0)
        };
        ready.insert(v, r);
    }
    // What each sweep must do.
    let mut sweeps: Vec<SweepDraft> = Vec::new();
    let mut roots: Vec<Vec<ValueId>> = Vec::new();
    let mut pushed: Vec<Vec<usize>> = Vec::new();
    let grow = |sweeps: &mut Vec<SweepDraft>,
                roots: &mut Vec<Vec<ValueId>>,
                pushed: &mut Vec<Vec<usize>>,
                q: usize| {
        while sweeps.len() <= q {
            sweeps.push(SweepDraft::default());
            roots.push(Vec::new());
            pushed.push(Vec::new());
        }
    };
    let mean_of: Vec<Option<usize>> = (0..streams.len())
        .map(|k| mean_partner(ir, streams, k))
        .collect();
    for k in 0..streams.len() {
        if aligned(k) {
            continue;
        }
        let r0 = ready[&arg_of(k)] as usize;
        let last = r0 + passes(k) as usize - 1;
        grow(&mut sweeps, &mut roots, &mut pushed, last);
        // A variance sharing a mean is pushed in its second pass only.
        let first = if mean_of[k].is_some() { last } else { r0 };
        for q in first..=last {
            pushed[q].push(k);
            roots[q].push(arg_of(k));
        }
        if passes(k) > 1 {
            sweeps[r0 + 1].next_pass.push(k);
        }
        sweeps[last].finish.push(k);
        if exported[streams[k].index()] {
            sweeps[last].lane_stores.push(streams[k]);
        }
    }
    let mut element_stores: Vec<Vec<ValueId>> = Vec::new();
    for v in ir.ids() {
        if exported[v.index()] && d.same.contains(&v) && !loaded(v) {
            let q = ready[&v] as usize;
            grow(&mut sweeps, &mut roots, &mut pushed, q);
            while element_stores.len() <= q {
                element_stores.push(Vec::new());
            }
            element_stores[q].push(v);
            roots[q].push(v);
        }
    }
    let mut rows: Vec<ValueId> = Vec::new();
    let row = |v: ValueId, rows: &mut Vec<ValueId>| {
        if !rows.contains(&v) {
            rows.push(v);
        }
    };
    let mut all_loads: Vec<ValueId> = Vec::new();
    for q in 0..sweeps.len() {
        // What the sweep needs, and how each value is obtained.
        let mut source: HashMap<ValueId, Source> = HashMap::new();
        let mut stack: Vec<ValueId> = roots[q].clone();
        while let Some(v) = stack.pop() {
            if source.contains_key(&v) || matches!(ir.node(v).op, Op::Const(_)) {
                continue;
            }
            let src = if loaded(v) {
                Source::Load
            } else if let Some(k) = stream_of(v) {
                if aligned(k) {
                    stack.push(arg_of(k));
                    Source::Stream
                } else {
                    Source::LaneIn
                }
            } else if let Some(a) = mapped(v) {
                stack.push(a);
                Source::Map
            } else {
                stack.extend(ir.node(v).op.operands());
                Source::Compute
            };
            source.insert(v, src);
        }
        let mut needed: Vec<ValueId> = source.keys().copied().collect();
        needed.sort_unstable_by_key(|v| v.0);
        // What does not vary along the lane (per-lane values, scalars and
        // work on those alone) is computed once a block, before the
        // element loop (`codegen`), so a function of it (`exp(mean(x))`)
        // is not mapped over a row of copies.
        let mut fixed: HashSet<ValueId> = HashSet::new();
        for &v in &needed {
            let is_fixed = match source[&v] {
                Source::LaneIn => true,
                Source::Load => ir.node(v).rank == 0,
                Source::Stream => false,
                Source::Compute | Source::Map => ir
                    .node(v)
                    .op
                    .operands()
                    .iter()
                    .all(|o| matches!(ir.node(*o).op, Op::Const(_)) || fixed.contains(o)),
            };
            if is_fixed {
                fixed.insert(v);
                if source[&v] == Source::Map {
                    source.insert(v, Source::Compute);
                }
            }
        }
        // Stage of each value: aligned streams it is downstream of.
        let mut stage: HashMap<ValueId, usize> = HashMap::new();
        for &v in &needed {
            let st = match source[&v] {
                Source::Load | Source::LaneIn => 0,
                Source::Stream => {
                    let k = stream_of(v).expect("a stream");
                    stage.get(&arg_of(k)).copied().unwrap_or(0) + 1
                }
                Source::Map => stage.get(&mapped(v).expect("a map")).copied().unwrap_or(0) + 1,
                Source::Compute => ir
                    .node(v)
                    .op
                    .operands()
                    .iter()
                    .filter_map(|o| stage.get(o).copied())
                    .max()
                    .unwrap_or(0),
            };
            stage.insert(v, st);
        }
        let stage_of = |v: &ValueId| stage.get(v).copied().unwrap_or(0);
        let runs: Vec<usize> = (0..streams.len())
            .filter(|&k| {
                if aligned(k) {
                    source.contains_key(&streams[k])
                } else {
                    pushed[q].contains(&k)
                }
            })
            .collect();
        sweeps[q].restart = runs.iter().copied().filter(|&k| aligned(k)).collect();
        let last_stage = needed.iter().map(stage_of).max().unwrap_or(0);
        let stores_here: Vec<ValueId> = element_stores.get(q).cloned().unwrap_or_default();
        for st in 0..=last_stage {
            let compute: Vec<ValueId> = needed
                .iter()
                .copied()
                .filter(|v| source[v] == Source::Compute && stage_of(v) == st)
                .collect();
            let pushes: Vec<usize> = runs
                .iter()
                .copied()
                .filter(|&k| stage_of(&arg_of(k)) == st)
                .collect();
            let maps: Vec<ValueId> = needed
                .iter()
                .copied()
                .filter(|v| source[v] == Source::Map && stage_of(v) == st + 1)
                .collect();
            let stores: Vec<ValueId> = stores_here
                .iter()
                .copied()
                .filter(|v| stage_of(v) == st)
                .collect();
            // Values this segment reads.
            let mut reads: Vec<ValueId> = Vec::new();
            for &c in &compute {
                reads.extend(ir.node(c).op.operands());
            }
            reads.extend(&stores);
            // Operands of this stage's pushes and maps that must be put in
            // scratch (a stream's or a map's result already is).
            let mut scratch_out: Vec<ValueId> = Vec::new();
            let operands = pushes
                .iter()
                .map(|&k| arg_of(k))
                .chain(maps.iter().map(|&v| mapped(v).expect("a map")));
            for a in operands.collect::<Vec<_>>() {
                let in_row = matches!(source.get(&a), Some(Source::Stream | Source::Map));
                if !in_row && !scratch_out.contains(&a) {
                    reads.push(a);
                    scratch_out.push(a);
                }
            }
            // Values computed here and read by a later stage.
            for &c in &compute {
                let later = needed.iter().any(|&u| {
                    stage_of(&u) > st
                        && source[&u] == Source::Compute
                        && ir.node(u).op.operands().contains(&c)
                }) || stores_here.iter().any(|&u| u == c && stage_of(&u) > st);
                if later && !scratch_out.contains(&c) {
                    scratch_out.push(c);
                }
            }
            let mut loads = Vec::new();
            let mut scratch_in = Vec::new();
            let mut lane_in = Vec::new();
            for v in reads {
                let Some(&src) = source.get(&v) else { continue };
                let list = match src {
                    Source::Load => &mut loads,
                    Source::LaneIn => &mut lane_in,
                    Source::Stream | Source::Map => &mut scratch_in,
                    Source::Compute if stage_of(&v) < st => &mut scratch_in,
                    Source::Compute => continue,
                };
                if !list.contains(&v) {
                    list.push(v);
                }
            }
            for &v in scratch_out.iter().chain(&scratch_in) {
                row(v, &mut rows);
            }
            for &v in &loads {
                if !all_loads.contains(&v) {
                    all_loads.push(v);
                }
            }
            if !(loads.is_empty()
                && compute.is_empty()
                && stores.is_empty()
                && scratch_out.is_empty())
            {
                sweeps[q].steps.push(StepDraft::Segment {
                    loads,
                    scratch_in,
                    lane_in,
                    compute,
                    scratch_out,
                    stores,
                });
            }
            for k in pushes {
                if aligned(k) {
                    row(streams[k], &mut rows);
                }
                sweeps[q].steps.push(StepDraft::Push(k));
            }
            for v in maps {
                row(mapped(v).expect("a map"), &mut rows);
                row(v, &mut rows);
                sweeps[q].steps.push(StepDraft::Map(v));
            }
        }
    }
    Schedule {
        sweeps,
        loads: all_loads,
        rows,
        mean_of,
    }
}

/// The stream among `streams` whose count and mean a variance or deviation
/// (stream `k`) can start its second pass from: a `mean` (`nanmean` for the
/// `nan` forms) of the same operand along the same axis, to the same
/// dtype, so exactly what its own first pass would compute. Both finish
/// their first pass in the same sweep, since they read the same operand.
fn mean_partner(ir: &Ir, streams: &[ValueId], k: usize) -> Option<usize> {
    use crate::ir::{LaneKind, ReduceOp};
    let v = streams[k];
    let Op::Lane { op, arg, .. } = ir.node(v).op else {
        return None;
    };
    let want = match op.kind {
        LaneKind::Reduce(ReduceOp::Var | ReduceOp::Std) => ReduceOp::Mean,
        LaneKind::Reduce(ReduceOp::NanVar | ReduceOp::NanStd) => ReduceOp::NanMean,
        _ => return None,
    };
    streams.iter().position(|&m| {
        ir.node(m).dtype == ir.node(v).dtype
            && matches!(ir.node(m).op, Op::Lane { op: o, arg: a, .. }
                if a == arg && o.kind == LaneKind::Reduce(want) && o.axis == op.axis)
    })
}

impl Builder<'_> {
    /// Adds the loop of group `d` as scheduled by `sched`.
    /// `mine` says which values are members of the group.
    fn add_group_loop(&mut self, d: &Draft, sched: &Schedule, exported: &[bool], mine: &[bool]) {
        let ir = self.ir;
        let l = self.plan.loops.len();
        let mut lane_slots: Vec<ValueId> = Vec::new();
        let mut streams = Vec::with_capacity(d.streams.len());
        for (k, &v) in d.streams.iter().enumerate() {
            let Op::Lane { op, arg, param } = ir.node(v).op else {
                continue;
            };
            let param = param.map(|p| match ir.node(p).op {
                Op::Const(c) => ParamSource::Const(c),
                _ => ParamSource::Input(self.holder[&p]),
            });
            let aligned = stream::is_aligned(&op);
            let lane_slot = (!aligned).then(|| {
                lane_slots.push(v);
                lane_slots.len() - 1
            });
            let row_of = |u: ValueId| sched.rows.iter().position(|&r| r == u);
            streams.push(StreamDecl {
                value: v,
                op,
                operand: arg,
                src: ir.node(arg).dtype,
                dst: ir.node(v).dtype,
                param,
                in_row: row_of(arg).unwrap_or(0),
                out_row: if aligned { row_of(v) } else { None },
                lane_slot,
                direct: Direct::default(),
                mean_of: sched.mean_of.get(k).copied().flatten(),
            });
        }
        // Buffers of the values the group stores.
        let mut dest: HashMap<ValueId, Vec<(ValueId, BufferId)>> = HashMap::new();
        for v in ir.ids() {
            if exported[v.index()] && mine[v.index()] {
                let stores = self.destination(v, || materialised_because(ir, v));
                self.holder.insert(v, stores[0].1);
                dest.insert(v, stores);
            }
        }
        let mut loads = Vec::new();
        let mut stores = Vec::new();
        let mut maps: Vec<MapDecl> = Vec::new();
        let mut sweeps = Vec::with_capacity(sched.sweeps.len());
        for sd in &sched.sweeps {
            let mut steps = Vec::with_capacity(sd.steps.len());
            for step in &sd.steps {
                steps.push(match step {
                    StepDraft::Push(k) => Step::Push(*k),
                    StepDraft::Map(v) => {
                        // One declaration per function, whichever sweeps
                        // map it.
                        let k = match maps.iter().position(|m| m.value == *v) {
                            Some(k) => k,
                            None => {
                                let Op::Unary(op, a) = ir.node(*v).op else {
                                    continue;
                                };
                                let row_of = |u: ValueId| {
                                    sched.rows.iter().position(|&r| r == u).unwrap_or(0)
                                };
                                maps.push(MapDecl {
                                    value: *v,
                                    op,
                                    dtype: ir.node(a).dtype,
                                    from_row: row_of(a),
                                    to_row: row_of(*v),
                                    direct: Direct::default(),
                                });
                                maps.len() - 1
                            }
                        };
                        Step::Map(k)
                    }
                    StepDraft::Segment {
                        loads: ld,
                        scratch_in,
                        lane_in,
                        compute,
                        scratch_out,
                        stores: st,
                    } => {
                        let mut seg = Segment {
                            scratch_in: scratch_in.clone(),
                            lane_in: lane_in.clone(),
                            compute: compute.clone(),
                            scratch_out: scratch_out.clone(),
                            ..Segment::default()
                        };
                        for &v in ld {
                            let buffer = self.holder[&v];
                            loads.push(self.access(l, v, buffer));
                            seg.loads.push(loads.len() - 1);
                        }
                        for v in st {
                            for &(_, buffer) in dest.get(v).map(Vec::as_slice).unwrap_or(&[]) {
                                stores.push(self.access(l, *v, buffer));
                                seg.stores.push(stores.len() - 1);
                            }
                        }
                        Step::Segment(seg)
                    }
                });
            }
            let mut lane_stores = Vec::new();
            for v in &sd.lane_stores {
                for &(_, buffer) in dest.get(v).map(Vec::as_slice).unwrap_or(&[]) {
                    stores.push(self.access(l, *v, buffer));
                    lane_stores.push(stores.len() - 1);
                }
            }
            sweeps.push(Sweep {
                restart: sd.restart.clone(),
                next_pass: sd.next_pass.clone(),
                steps,
                finish: sd.finish.clone(),
                lane_stores,
            });
        }
        self.plan.loops.push(go_direct(
            ir,
            LoopNest {
                shape_of: d.space,
                rank: 2,
                loads,
                compute: d.streams.clone(),
                stores,
                lane: None,
                recur: None,
                group: Some(Box::new(Group {
                    axis: d.axis,
                    space_rank: ir.node(d.space).rank,
                    streams,
                    maps,
                    sweeps,
                    rows: sched.rows.clone(),
                    lane_slots,
                })),
            },
        ));
    }
}

/// Whether `op` on `dtype` is applied a block at a time (it has a block
/// routine in [`crate::vmath`]).
pub fn is_mapped(op: UnaryOp, dtype: DType) -> bool {
    crate::vmath::block(op, dtype).is_some()
}

/// An elementwise loop nest with functions that have block routines, as a
/// group of one lane per row (a vector: one lane) run block by block:
/// segments compute each function's operand into a scratch row, the
/// routine maps it to the function's row, later segments read that.
/// Other nests are returned as they are.
///
/// A value is *available* at the segment that computes it (loads at any
/// segment, as often as needed), a function's value one segment after its
/// operand; each value is computed at its availability, passed to later
/// segments in a row, and stored where available.
fn blocked(ir: &Ir, nest: LoopNest) -> LoopNest {
    let computed: HashSet<ValueId> = nest.compute.iter().copied().collect();
    // A function computed here (not one whose value is loaded, nor one of
    // a scalar: that is computed once, before the loop).
    let mapped = |v: ValueId| match ir.node(v).op {
        Op::Unary(op, a) if computed.contains(&v) && ir.node(v).rank > 0 => {
            is_mapped(op, ir.node(a).dtype).then_some((op, a))
        }
        _ => None,
    };
    if nest.rank == 0 || !nest.compute.iter().any(|&v| mapped(v).is_some()) {
        return nest;
    }
    let mut avail: HashMap<ValueId, usize> = HashMap::new();
    let at = |avail: &HashMap<ValueId, usize>, v: ValueId| avail.get(&v).copied().unwrap_or(0);
    for &v in &nest.compute {
        let a = match mapped(v) {
            Some((_, x)) => at(&avail, x) + 1,
            None => ir
                .node(v)
                .op
                .operands()
                .iter()
                .map(|&o| at(&avail, o))
                .max()
                .unwrap_or(0),
        };
        avail.insert(v, a);
    }
    let stages = avail.values().copied().max().unwrap_or(0) + 1;
    let is_load = |v: ValueId| nest.loads.iter().position(|a| a.value == v);
    let mut rows: Vec<ValueId> = Vec::new();
    let row = |v: ValueId, rows: &mut Vec<ValueId>| match rows.iter().position(|&r| r == v) {
        Some(r) => r,
        None => {
            rows.push(v);
            rows.len() - 1
        }
    };
    // What each segment reads: a load, a value of this segment, or a row.
    let mut segs: Vec<Segment> = vec![Segment::default(); stages];
    let mut maps: Vec<MapDecl> = Vec::new();
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); stages];
    let need = |segs: &mut Vec<Segment>, rows: &mut Vec<ValueId>, k: usize, o: ValueId| {
        if matches!(ir.node(o).op, Op::Const(_)) {
            return;
        }
        if let Some(i) = is_load(o) {
            if !segs[k].loads.contains(&i) {
                segs[k].loads.push(i);
            }
            return;
        }
        let from = at(&avail, o);
        if from == k && mapped(o).is_none() {
            return;
        }
        // From a row: a function's own, or one its segment writes.
        if mapped(o).is_none() && !segs[from].scratch_out.contains(&o) {
            segs[from].scratch_out.push(o);
        }
        row(o, rows);
        if !segs[k].scratch_in.contains(&o) {
            segs[k].scratch_in.push(o);
        }
    };
    for &v in &nest.compute {
        let k = at(&avail, v);
        match mapped(v) {
            Some((op, x)) => {
                // The operand, in a row by the end of segment k - 1.
                let from = k - 1;
                if mapped(x).is_none() {
                    if let Some(i) = is_load(x) {
                        if !segs[from].loads.contains(&i) {
                            segs[from].loads.push(i);
                        }
                    }
                    if !segs[from].scratch_out.contains(&x) {
                        segs[from].scratch_out.push(x);
                    }
                }
                let from_row = row(x, &mut rows);
                let to_row = row(v, &mut rows);
                maps.push(MapDecl {
                    value: v,
                    op,
                    dtype: ir.node(x).dtype,
                    from_row,
                    to_row,
                    direct: Direct::default(),
                });
                after[from].push(maps.len() - 1);
            }
            None => {
                for o in ir.node(v).op.operands() {
                    need(&mut segs, &mut rows, k, o);
                }
                segs[k].compute.push(v);
            }
        }
    }
    for (i, st) in nest.stores.iter().enumerate() {
        let k = if computed.contains(&st.value) {
            at(&avail, st.value)
        } else {
            0
        };
        need(&mut segs, &mut rows, k, st.value);
        segs[k].stores.push(i);
    }
    let mut steps = Vec::new();
    for (seg, maps_after) in segs.into_iter().zip(after) {
        if seg != Segment::default() {
            steps.push(Step::Segment(seg));
        }
        steps.extend(maps_after.into_iter().map(Step::Map));
    }
    let space_rank = nest.rank;
    go_direct(
        ir,
        LoopNest {
            rank: 2,
            compute: Vec::new(),
            group: Some(Box::new(Group {
                axis: if space_rank == 2 { 1 } else { 0 },
                space_rank,
                streams: Vec::new(),
                maps,
                sweeps: vec![Sweep {
                    steps,
                    ..Sweep::default()
                }],
                rows,
                lane_slots: Vec::new(),
            })),
            ..nest
        },
    )
}

/// A step that consumes a row and may produce one: a stream's push or a
/// map.
#[derive(Clone, Copy, PartialEq)]
enum Consumer {
    Stream(usize),
    Map(usize),
}

/// `nest` (a group loop) with every stream and map made [`Direct`] where
/// its operand's row exists only to feed it from a load, or its result's
/// row only to be stored by one later segment of the same sweep. Those
/// copies leave the segments (and segments left with nothing to do leave
/// the sweeps); the rows stay, for blocks that are not contiguous.
fn go_direct(ir: &Ir, mut nest: LoopNest) -> LoopNest {
    let Some(mut g) = nest.group.take() else {
        return nest;
    };
    if g.axis != ALL {
        let consumers = (0..g.streams.len())
            .map(Consumer::Stream)
            .chain((0..g.maps.len()).map(Consumer::Map));
        for c in consumers.collect::<Vec<_>>() {
            direct_load(ir, &nest, &mut g, c);
            direct_store(ir, &nest, &mut g, c);
        }
        for sweep in &mut g.sweeps {
            sweep
                .steps
                .retain(|s| !matches!(s, Step::Segment(seg) if *seg == Segment::default()));
        }
    }
    nest.group = Some(g);
    nest
}

/// Consumer `c`'s operand row, result row (for aligned streams and maps)
/// and value.
fn consumer_rows(g: &Group, c: Consumer) -> (usize, Option<usize>, ValueId) {
    match c {
        Consumer::Stream(k) => {
            let s = &g.streams[k];
            (s.in_row, s.out_row, s.value)
        }
        Consumer::Map(m) => {
            let m = &g.maps[m];
            (m.from_row, Some(m.to_row), m.value)
        }
    }
}

fn direct_of(g: &mut Group, c: Consumer) -> &mut Direct {
    match c {
        Consumer::Stream(k) => &mut g.streams[k].direct,
        Consumer::Map(m) => &mut g.maps[m].direct,
    }
}

/// Whether `step` runs consumer `c`.
fn runs(step: &Step, c: Consumer) -> bool {
    matches!(
        (step, c),
        (Step::Push(a), Consumer::Stream(b)) | (Step::Map(a), Consumer::Map(b)) if *a == b
    )
}

/// Whether a segment reads row `r`.
fn read_by_segments(g: &Group, r: usize) -> bool {
    let v = g.rows[r];
    g.sweeps
        .iter()
        .flat_map(|s| &s.steps)
        .any(|step| matches!(step, Step::Segment(seg) if seg.scratch_in.contains(&v)))
}

/// Makes consumer `c` read its operand from the load that fills its row,
/// if that row is filled only by segments copying a load of the operand
/// and read only by pushes and maps (which all become direct: each copies
/// the row itself when a block is not contiguous).
fn direct_load(ir: &Ir, nest: &LoopNest, g: &mut Group, c: Consumer) {
    let (r, _, _) = consumer_rows(g, c);
    let x = g.rows[r];
    let Some(a) = nest.loads.iter().position(|l| l.value == x) else {
        return;
    };
    let written_otherwise = (0..g.streams.len())
        .map(Consumer::Stream)
        .chain((0..g.maps.len()).map(Consumer::Map))
        .any(|o| consumer_rows(g, o).1 == Some(r));
    if ir.node(x).dtype == DType::Bool || written_otherwise || read_by_segments(g, r) {
        return;
    }
    for step in g.sweeps.iter_mut().flat_map(|s| &mut s.steps) {
        let Step::Segment(seg) = step else { continue };
        if !seg.scratch_out.contains(&x) {
            continue;
        }
        seg.scratch_out.retain(|&v| v != x);
        let used = seg
            .compute
            .iter()
            .any(|&v| ir.node(v).op.operands().contains(&x))
            || seg.stores.iter().any(|&s| nest.stores[s].value == x);
        if !used {
            seg.loads.retain(|&i| nest.loads[i].value != x);
        }
    }
    direct_of(g, c).load = Some(a);
}

/// Makes consumer `c` write its result to the store that reads its row, if
/// that row is read only by one segment, which follows `c` in the only
/// sweep running `c` and does nothing with the result but store it once.
fn direct_store(ir: &Ir, nest: &LoopNest, g: &mut Group, c: Consumer) {
    let (_, Some(r), v) = consumer_rows(g, c) else {
        return;
    };
    if ir.node(v).dtype == DType::Bool {
        return;
    }
    let others_consume = (0..g.streams.len())
        .map(Consumer::Stream)
        .chain((0..g.maps.len()).map(Consumer::Map))
        .any(|o| consumer_rows(g, o).0 == r);
    let sweeps: Vec<usize> = (0..g.sweeps.len())
        .filter(|&q| g.sweeps[q].steps.iter().any(|s| runs(s, c)))
        .collect();
    let readers: Vec<(usize, usize)> = (0..g.sweeps.len())
        .flat_map(|q| (0..g.sweeps[q].steps.len()).map(move |i| (q, i)))
        .filter(|&(q, i)| {
            matches!(&g.sweeps[q].steps[i], Step::Segment(seg) if seg.scratch_in.contains(&v))
        })
        .collect();
    let ([q], [(rq, ri)]) = (sweeps.as_slice(), readers.as_slice()) else {
        return;
    };
    let (q, rq, ri) = (*q, *rq, *ri);
    let after_c = g.sweeps[q].steps[..ri].iter().any(|s| runs(s, c));
    if others_consume || rq != q || !after_c {
        return;
    }
    let Step::Segment(seg) = &mut g.sweeps[q].steps[ri] else {
        return;
    };
    let stores: Vec<usize> = seg
        .stores
        .iter()
        .copied()
        .filter(|&s| nest.stores[s].value == v)
        .collect();
    let used = seg
        .compute
        .iter()
        .any(|&u| ir.node(u).op.operands().contains(&v));
    let [s] = stores.as_slice() else { return };
    if used {
        return;
    }
    let s = *s;
    seg.scratch_in.retain(|&u| u != v);
    seg.stores.retain(|&t| t != s);
    direct_of(g, c).store = Some(s);
}

/// Why the fused plan keeps `v` in memory.
fn materialised_because(ir: &Ir, v: ValueId) -> String {
    if let Op::Lane { op, .. } = ir.node(v).op {
        return format!("result of `{}`, read by a later loop", op.name());
    }
    if let Op::Recur(_) = ir.node(v).op {
        return "an output defined by element rules, read by a later loop".to_string();
    }
    if ir
        .ids()
        .any(|u| matches!(&ir.node(u).op, Op::Recur(rec) if rec.sources.contains(&v)))
    {
        return "read by element rules at row offsets".to_string();
    }
    let consumer = ir.ids().find_map(|u| match ir.node(u).op {
        Op::Lane { op, arg, .. } if arg == v => Some(op.name()),
        _ => None,
    });
    match consumer {
        Some(name) => format!("operand of `{name}`, which runs lane by lane"),
        None => "kept for a later loop".to_string(),
    }
}

/// The values a loop producing `root` computes: everything `root` depends
/// on down to values already in buffers (loaded) and constants (inline),
/// in dependency order.
fn cone(ir: &Ir, root: ValueId, held: &HashMap<ValueId, BufferId>) -> Vec<ValueId> {
    let mut live = vec![false; root.index() + 1];
    live[root.index()] = true;
    for v in (0..=root.0).rev().map(ValueId) {
        if !live[v.index()] || (v != root && held.contains_key(&v)) {
            continue;
        }
        for o in ir.node(v).op.operands() {
            live[o.index()] = true;
        }
    }
    (0..=root.0)
        .map(ValueId)
        .filter(|&v| {
            live[v.index()]
                && (v == root || !held.contains_key(&v))
                && !matches!(ir.node(v).op, Op::Input(_) | Op::Const(_))
        })
        .collect()
}

/// One loop per operation, each result materialised (NumPy's evaluation).
pub fn plan_unfused(ir: &Ir) -> Plan {
    let mut b = Builder::new(ir);
    for v in computed_values(ir, &ir.outputs) {
        let stores = b.destination(v, || "one loop per operation (unfused)".to_string());
        if matches!(ir.node(v).op, Op::Lane { .. } | Op::Recur(_)) {
            b.add_routine_loop(v, &stores);
        } else {
            b.add_loop(v, vec![v], &[], &stores);
            b.holder.insert(v, stores[0].1);
        }
    }
    b.copy_plain_outputs();
    b.plan
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, buf) in self.buffers.iter().enumerate() {
            let kind = match buf.kind {
                BufferKind::Input(i) => format!("input {i}"),
                BufferKind::Output(i) => format!("output {i}"),
                BufferKind::Temp => "temporary".to_string(),
            };
            write!(f, "b{k}: {} {kind}, shape of {}", buf.dtype, buf.value)?;
            if buf.why.is_empty() {
                writeln!(f)?;
            } else {
                writeln!(f, " ({})", buf.why)?;
            }
        }
        for (l, nest) in self.loops.iter().enumerate() {
            if let Some(group) = &nest.group {
                fmt_group(f, l, nest, group)?;
                continue;
            }
            if let Some(v) = nest.recur {
                let loads: Vec<String> = nest
                    .loads
                    .iter()
                    .map(|a| format!("{}@b{}", a.value, a.buffer.0))
                    .collect();
                writeln!(
                    f,
                    "loop {l}: rows of {v} in order (element rules), reading {} -> {}@b{}",
                    loads.join(" "),
                    v,
                    nest.stores[0].buffer.0
                )?;
                continue;
            }
            if let Some(lane) = &nest.lane {
                let axis = match lane.op.axis {
                    Some(a) => format!("axis {a}"),
                    None => "all elements".to_string(),
                };
                writeln!(
                    f,
                    "loop {l}: lanes of {} along {axis}: {} {} -> {}",
                    nest.shape_of,
                    lane.op.name(),
                    nest.loads
                        .iter()
                        .map(|a| format!("{}@b{}", a.value, a.buffer.0))
                        .collect::<Vec<_>>()
                        .join(" "),
                    nest.stores
                        .iter()
                        .map(|a| format!("{}@b{}", a.value, a.buffer.0))
                        .collect::<Vec<_>>()
                        .join(" ")
                )?;
                continue;
            }
            writeln!(
                f,
                "loop {l} over shape of {} (rank {}):",
                nest.shape_of, nest.rank
            )?;
            let list = |acc: &[Access]| {
                acc.iter()
                    .map(|a| format!("{}@b{}", a.value, a.buffer.0))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            writeln!(f, "  load    {}", list(&nest.loads))?;
            let compute: Vec<String> = nest.compute.iter().map(|v| v.to_string()).collect();
            writeln!(f, "  compute {}", compute.join(" "))?;
            writeln!(f, "  store   {}", list(&nest.stores))?;
        }
        write!(
            f,
            "{} loop(s), {} temporary buffer(s)",
            self.loops.len(),
            self.num_temps()
        )
    }
}

/// A group loop: its streams, then each sweep's steps.
fn fmt_group(f: &mut fmt::Formatter<'_>, l: usize, nest: &LoopNest, g: &Group) -> fmt::Result {
    let lanes = match (g.space_rank, g.axis) {
        (2, ALL) => "all elements (row by row) of",
        (2, 1) => "each row of",
        (2, _) => "each column of",
        _ => "the vector",
    };
    if g.streams.is_empty() {
        let rows = if g.space_rank == 2 {
            "each row of "
        } else {
            ""
        };
        writeln!(
            f,
            "loop {l}: over {rows}{} in blocks of {BLOCK} (block routines)",
            nest.shape_of
        )?;
    } else {
        writeln!(
            f,
            "loop {l}: lane group over {lanes} {}, {} sweep(s), blocks of {BLOCK}",
            nest.shape_of,
            g.sweeps.len()
        )?;
    }
    for s in &g.streams {
        write!(f, "  stream {} = {}({})", s.value, s.op.name(), s.operand)?;
        match s.mean_of.and_then(|m| g.streams.get(m)) {
            Some(m) => writeln!(f, ", mean from {}", m.value)?,
            None => writeln!(f)?,
        }
    }
    let access = |a: &Access| format!("{}@b{}", a.value, a.buffer.0);
    let ids = |vs: &[ValueId]| {
        vs.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let names = |ks: &[usize]| {
        ks.iter()
            .map(|&k| g.streams[k].value.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (q, sweep) in g.sweeps.iter().enumerate() {
        writeln!(f, "  sweep {q}:")?;
        if !sweep.next_pass.is_empty() {
            writeln!(f, "    second pass of {}", names(&sweep.next_pass))?;
        }
        // How a direct stream or map reaches memory.
        let direct = |d: &Direct| {
            let mut parts = Vec::new();
            if let Some(a) = d.load {
                parts.push(format!("from {}", access(&nest.loads[a])));
            }
            if let Some(s) = d.store {
                parts.push(format!("into {}", access(&nest.stores[s])));
            }
            if parts.is_empty() {
                String::new()
            } else {
                format!(" ({})", parts.join(", "))
            }
        };
        for step in &sweep.steps {
            match step {
                Step::Push(k) => writeln!(
                    f,
                    "    push {}{}",
                    names(&[*k]),
                    direct(&g.streams[*k].direct)
                )?,
                Step::Map(k) => {
                    let m = &g.maps[*k];
                    let from = g.rows[m.from_row];
                    writeln!(
                        f,
                        "    map {} = {}({from}) a block at a time{}",
                        m.value,
                        m.op.name(),
                        direct(&m.direct)
                    )?
                }
                Step::Segment(seg) => {
                    let mut parts = Vec::new();
                    if !seg.loads.is_empty() {
                        let l: Vec<String> =
                            seg.loads.iter().map(|&i| access(&nest.loads[i])).collect();
                        parts.push(format!("load {}", l.join(" ")));
                    }
                    if !seg.scratch_in.is_empty() {
                        parts.push(format!("block {}", ids(&seg.scratch_in)));
                    }
                    if !seg.lane_in.is_empty() {
                        parts.push(format!("lane {}", ids(&seg.lane_in)));
                    }
                    if !seg.compute.is_empty() {
                        parts.push(format!("compute {}", ids(&seg.compute)));
                    }
                    if !seg.scratch_out.is_empty() {
                        parts.push(format!("to block {}", ids(&seg.scratch_out)));
                    }
                    if !seg.stores.is_empty() {
                        let st: Vec<String> = seg
                            .stores
                            .iter()
                            .map(|&i| access(&nest.stores[i]))
                            .collect();
                        parts.push(format!("store {}", st.join(" ")));
                    }
                    writeln!(f, "    {}", parts.join("; "))?;
                }
            }
        }
        if !sweep.finish.is_empty() {
            write!(f, "    finish {}", names(&sweep.finish))?;
            if !sweep.lane_stores.is_empty() {
                let st: Vec<String> = sweep
                    .lane_stores
                    .iter()
                    .map(|&i| access(&nest.stores[i]))
                    .collect();
                let when = if g.axis == ALL { "once" } else { "per lane" };
                write!(f, "; store {} {when}", st.join(" "))?;
            }
            writeln!(f)?;
        }
    }
    Ok(())
}
