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

use std::collections::HashMap;
use std::fmt;

use crate::ir::{Ir, LaneOp, Op, ValueId};
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
        self.plan.loops.push(LoopNest {
            shape_of,
            rank: self.ir.node(shape_of).rank,
            loads,
            compute,
            stores,
            lane: None,
            recur: None,
        });
    }

    /// Adds the loop of recurrence `v`, reading each source from its buffer.
    fn add_recur_loop(&mut self, v: ValueId, dst: BufferId) {
        let Op::Recur(rec) = &self.ir.node(v).op else {
            unreachable!("add_recur_loop of a recurrence")
        };
        let l = self.plan.loops.len();
        let sources = rec.sources.clone();
        let loads = sources
            .into_iter()
            .map(|src| {
                let buffer = self.holder[&src];
                self.access(l, src, buffer)
            })
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
        });
    }

    /// The buffer a lane operation reads its operand from: the operand's
    /// own, unless the lane runs over all elements of a matrix input (which
    /// may be strided), which is first copied row-major into a temporary.
    fn lane_source(&mut self, v: ValueId) -> BufferId {
        let Op::Lane { op, arg, .. } = self.ir.node(v).op else {
            unreachable!("lane_source of a lane value")
        };
        let node = self.ir.node(arg);
        let holder = self.holder[&arg];
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

/// Elementwise work fused into as few loops as possible: one loop per
/// value that must exist in memory (an output, a lane operation's operand),
/// computing everything between it and the values already in memory. Lane
/// operations (reductions, scans, windows) run as lane loops between them.
pub fn plan_fused(ir: &Ir) -> Plan {
    let mut b = Builder::new(ir);
    // The values that live in buffers: outputs, lane results, lane operands.
    let mut materialised = vec![false; ir.nodes.len()];
    for &o in &ir.outputs {
        materialised[o.index()] = true;
    }
    for v in ir.ids() {
        match &ir.node(v).op {
            Op::Lane { arg, .. } => {
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
    }
    for v in computed_values(ir, &ir.outputs) {
        if !materialised[v.index()] {
            continue;
        }
        let stores = b.destination(v, || materialised_because(ir, v));
        if let Op::Lane { .. } = ir.node(v).op {
            let src = b.lane_source(v);
            b.add_lane_loop(v, src, stores[0].1);
        } else if let Op::Recur(_) = ir.node(v).op {
            b.add_recur_loop(v, stores[0].1);
        } else {
            let compute = cone(ir, v, &b.holder);
            b.add_loop(v, compute, &[], &stores);
        }
        b.holder.insert(v, stores[0].1);
    }
    b.copy_plain_outputs();
    b.plan
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
        if let Op::Lane { .. } = ir.node(v).op {
            let src = b.lane_source(v);
            b.add_lane_loop(v, src, stores[0].1);
        } else if let Op::Recur(_) = ir.node(v).op {
            b.add_recur_loop(v, stores[0].1);
        } else {
            b.add_loop(v, vec![v], &[], &stores);
        }
        b.holder.insert(v, stores[0].1);
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
