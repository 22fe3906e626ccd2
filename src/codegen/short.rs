//! Float sums, means, variances, deviations and extremes of short lanes,
//! in the generated code: the second tier of a kernel with lane groups
//! (`CodegenOptions::short_lanes`, compiled by the engine once calls have
//! run `Config::tier_up_lanes` short lanes).
//!
//! A lane group feeds its reductions through the stream shims (`jit`'s
//! `arrjit_stream_*`): a reset, a push per sweep, a second pass and a
//! finish per lane, each a call with a fixed cost of dispatch and
//! bookkeeping whatever the block's length. On lanes of at most a leaf
//! the shims already run the reduction whole (`stream::Whole`), but the
//! calls remain: row normalisation of a matrix of ten columns still took
//! about 1,000 instructions a row, most of them in the six calls.
//!
//! A lane of at most [`LEAF`] elements is one leaf of the canonical sum
//! order (`algo::leaf_sum`), so on such lanes `sum`, `mean`, `var` and
//! `std` of floats (not `nansum`, `nanmean`, `nanvar` or `nanstd`, whose
//! counts vary) run
//! here: one call of `jit`'s leaf sums (the sum, or the sum of squared
//! deviations from a mean) per push, with no state, and the finishes
//! inline, with the same operations in the same order as the streams'
//! (`stream::FloatStat`): the same bits. `min`, `max`, `nanmin` and
//! `nanmax` are one call of a leaf extreme per push (`Extreme`'s element
//! rule, `stream::extreme_of`), with nothing to finish. Every lane of a group has the
//! same length, so the choice is one branch the predictor always gets
//! right: lanes of 1..=[`LEAF`] elements take the generated path, longer
//! (and empty) ones the shims. Other streams of the group keep their
//! calls on either path. Both paths are emitted, which is why this is a
//! tier of its own: it made row normalisation's compile about 40% longer
//! (1.0 to 1.4 ms), too much for kernels that never see a short lane.
//!
//! A stream's state lives in its lane slot (one word of scratch): the
//! leaf's sum after a push; for `var`/`std`, the mean once the second
//! pass starts (its own sum divided by the count, or its partner mean's
//! result: `StreamDecl::mean_of`), then the sum of squared deviations;
//! the result after the finish, where the group's later steps read it.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::{types, InstBuilder, Type, Value};

use super::{clif_type, internal, Translator};
use crate::algo::LEAF;
use crate::error::Result;
use crate::fuse::{Group, LoopNest, ALL};
use crate::jit;
use crate::stream::{pair_leaf_forms, LeafForm};

// Every short lane is one block, so each of its sweeps pushes each stream
// once, whole.
const _: () = assert!(LEAF <= crate::fuse::BLOCK);

/// The state of a group whose lanes may be short, while its code is
/// emitted.
pub(super) struct ShortLanes {
    /// `1 <= len <= LEAF`, computed before the lane loop.
    flag: Value,
    /// The lanes' length.
    len: Value,
    /// Per stream of the group, its generated form, if it has one.
    stats: Vec<Option<LeafForm>>,
    /// Per stream, whether the sweeps emitted so far (of the lane being
    /// emitted) started its second pass.
    second: Vec<bool>,
}

/// The generated form of each stream of `g`, if it has one (see the
/// module's documentation). A variance and the mean it takes its first
/// pass from (`mean_of`) run in the same place, so that the variance's
/// second pass finds the mean where it looks for it.
pub(super) fn inline_stats(g: &Group) -> Vec<Option<LeafForm>> {
    if g.axis == ALL {
        return vec![None; g.streams.len()];
    }
    let mut stats: Vec<Option<LeafForm>> = (g.streams.iter())
        .map(|st| {
            st.lane_slot?;
            LeafForm::of(&st.op, st.src, st.dst)
        })
        .collect();
    // A variance and its mean share one operand, so one dtype; were they
    // ever to differ, neither would take the generated form.
    for (k, st) in g.streams.iter().enumerate() {
        if st
            .mean_of
            .is_some_and(|m| g.streams.get(m).map(|p| p.src) != Some(st.src))
        {
            stats[k] = None;
        }
    }
    pair_leaf_forms(&mut stats, |k| g.streams.get(k).and_then(|st| st.mean_of));
    stats
}

impl Translator<'_, '_> {
    /// Starts emitting group `g` with lanes of `len` elements: decides
    /// which streams have a generated form and, if any does, computes the
    /// run-time test for short lanes.
    pub(super) fn begin_short_lanes(&mut self, g: &Group, len: Value) {
        if !self.short_lanes {
            self.short = None;
            return;
        }
        let stats = inline_stats(g);
        self.short = stats.iter().any(Option::is_some).then(|| {
            let less = self.b.ins().iadd_imm_s(len, -1);
            let flag = self
                .b
                .ins()
                .icmp_imm_u(IntCC::UnsignedLessThan, less, LEAF as i64);
            ShortLanes {
                flag,
                len,
                second: vec![false; stats.len()],
                stats,
            }
        });
    }

    /// The generated form of stream `k` of the current group, if it has
    /// one.
    pub(super) fn stat(&self, k: usize) -> Option<LeafForm> {
        self.short.as_ref()?.stats.get(k).copied().flatten()
    }

    /// Notes the start of sweep `s`, which starts the second pass of
    /// `next_pass`.
    pub(super) fn note_sweep(&mut self, s: usize, next_pass: &[usize]) {
        if let Some(short) = &mut self.short {
            if s == 0 {
                short.second.fill(false);
            }
            for &k in next_pass {
                if let Some(p) = short.second.get_mut(k) {
                    *p = true;
                }
            }
        }
    }

    /// Splits `ids` into the streams with a generated form and the others.
    pub(super) fn split_inline(&self, ids: &[usize]) -> (Vec<usize>, Vec<usize>) {
        ids.iter().partition(|&&k| self.stat(k).is_some())
    }

    /// `if lanes are short { short } else { long }`.
    pub(super) fn on_short_lanes(
        &mut self,
        short: impl FnOnce(&mut Self) -> Result<()>,
        long: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<()> {
        let flag = (self.short.as_ref())
            .ok_or_else(|| internal("a short-lane branch outside a group"))?
            .flag;
        let (yes, no, join) = (
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
        );
        self.b.ins().brif(flag, yes, &[], no, &[]);
        self.b.switch_to_block(yes);
        self.b.seal_block(yes);
        short(self)?;
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(no);
        self.b.seal_block(no);
        long(self)?;
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(join);
        self.b.seal_block(join);
        Ok(())
    }

    /// Stream `k`'s element type and the byte offset of its lane slot in
    /// scratch.
    fn stat_slot(&self, g: &Group, k: usize) -> Result<(Type, i32)> {
        let st = (g.streams.get(k))
            .ok_or_else(|| internal(format!("stream {k} is not in the group")))?;
        let slot =
            (st.lane_slot).ok_or_else(|| internal(format!("stream {k} has no lane slot")))?;
        Ok((clif_type(st.src), (g.lane_word(slot) * 8) as i32))
    }

    fn load_stat(&mut self, g: &Group, k: usize) -> Result<Value> {
        let (ty, offset) = self.stat_slot(g, k)?;
        Ok(self.b.ins().load(ty, self.mem, self.scratch, offset))
    }

    fn store_stat(&mut self, g: &Group, k: usize, v: Value) -> Result<()> {
        let (_, offset) = self.stat_slot(g, k)?;
        self.b.ins().store(self.mem, v, self.scratch, offset);
        Ok(())
    }

    /// The lanes' length as a `ty` (`T::from_count`; exact for a short
    /// lane).
    fn count_as(&mut self, ty: Type) -> Result<Value> {
        let len = (self.short.as_ref())
            .ok_or_else(|| internal("a short-lane count outside a group"))?
            .len;
        Ok(self.b.ins().fcvt_from_sint(ty, len))
    }

    /// The second pass of `var`/`std` stream `k` starts: its slot becomes
    /// the mean (`FloatStat::next_pass`, or `next_pass_given` with the
    /// partner's mean, which that stream's finish left in its slot).
    pub(super) fn inline_next_pass(&mut self, g: &Group, k: usize) -> Result<()> {
        let mean = match g.streams.get(k).and_then(|st| st.mean_of) {
            Some(m) => self.load_stat(g, m)?,
            None => {
                let (ty, _) = self.stat_slot(g, k)?;
                let sum = self.load_stat(g, k)?;
                let n = self.count_as(ty)?;
                self.b.ins().fdiv(sum, n)
            }
        };
        self.store_stat(g, k, mean)
    }

    /// Pushes the `n` elements at `p`, `stride` bytes apart, to stream
    /// `k`: their canonical sum (or, in a variance's second pass, the sum
    /// of their squared deviations from the mean in its slot) replaces
    /// the slot.
    pub(super) fn inline_push(
        &mut self,
        g: &Group,
        k: usize,
        (p, stride): (Value, Value),
        n: Value,
    ) -> Result<()> {
        let (ty, _) = self.stat_slot(g, k)?;
        let second = (self.short.as_ref()).is_some_and(|s| s.second.get(k) == Some(&true));
        let f64s = ty == types::F64;
        let (name, arg) = match self.stat(k) {
            Some(LeafForm::Var { .. }) if second => {
                let mean = self.load_stat(g, k)?;
                let name = if f64s {
                    jit::LEAF_SQUARES_F64
                } else {
                    jit::LEAF_SQUARES_F32
                };
                (name, Some(mean))
            }
            Some(LeafForm::Extreme { max, skip }) => {
                let which = usize::from(max) + 2 * usize::from(skip);
                let names = if f64s {
                    jit::LEAF_EXTREME_F64
                } else {
                    jit::LEAF_EXTREME_F32
                };
                (names[which], None)
            }
            Some(_) => (
                if f64s {
                    jit::LEAF_SUM_F64
                } else {
                    jit::LEAF_SUM_F32
                },
                None,
            ),
            None => return Err(internal(format!("stream {k} has no generated form"))),
        };
        let v = self.leaf_call(name, ty, (p, stride), n, arg)?;
        self.store_stat(g, k, v)
    }

    /// The operand block of stream `k`'s push: its direct load's block
    /// (through `pointer`, as the shims get it) or its scratch row.
    pub(super) fn push_operand(
        &mut self,
        nest: &LoopNest,
        g: &Group,
        k: usize,
        mut pointer: impl FnMut(&mut Self, usize) -> (usize, Value, Value),
    ) -> Result<(Value, Value)> {
        let st = (g.streams.get(k))
            .ok_or_else(|| internal(format!("stream {k} is not in the group")))?;
        Ok(match st.direct.load {
            Some(a) if a < nest.loads.len() => {
                let (_, p, stride) = pointer(self, a);
                (p, stride)
            }
            Some(_) => return Err(internal("a push from an unknown load")),
            None => {
                let p = (self.b.ins()).iadd_imm_s(self.scratch, (g.row_word(st.in_row) * 8) as i64);
                let stride = self.b.ins().iconst(self.ptr, st.src.size() as i64);
                (p, stride)
            }
        })
    }

    /// Finishes stream `k`: its slot becomes its result.
    pub(super) fn inline_finish(&mut self, g: &Group, k: usize) -> Result<()> {
        let (ty, _) = self.stat_slot(g, k)?;
        match self.stat(k) {
            // The slot holds the result already.
            Some(LeafForm::Sum | LeafForm::Extreme { .. }) => Ok(()),
            Some(LeafForm::Mean) => {
                let sum = self.load_stat(g, k)?;
                let n = self.count_as(ty)?;
                let mean = self.b.ins().fdiv(sum, n);
                self.store_stat(g, k, mean)
            }
            Some(LeafForm::Var { ddof, sqrt }) => {
                let squares = self.load_stat(g, k)?;
                let len = (self.short.as_ref())
                    .ok_or_else(|| internal("a short-lane finish outside a group"))?
                    .len;
                // `n - ddof` degrees of freedom; none left gives NaN (the
                // quotient is then computed but not used).
                let dof = self.b.ins().iadd_imm_s(len, -i64::from(ddof));
                let some =
                    (self.b.ins()).icmp_imm_u(IntCC::UnsignedGreaterThan, len, i64::from(ddof));
                let d = self.b.ins().fcvt_from_sint(ty, dof);
                let mut v = self.b.ins().fdiv(squares, d);
                if sqrt {
                    v = self.b.ins().sqrt(v);
                }
                let nan = if ty == types::F32 {
                    self.b.ins().f32const(Ieee32::with_bits(f32::NAN.to_bits()))
                } else {
                    self.b.ins().f64const(Ieee64::with_bits(f64::NAN.to_bits()))
                };
                let v = self.b.ins().select(some, v, nan);
                self.store_stat(g, k, v)
            }
            None => Err(internal(format!("stream {k} has no generated form"))),
        }
    }

    /// A call of `jit`'s leaf routine `name` on the `n <= LEAF` elements of
    /// type `ty` at `p`, `stride` bytes apart: their canonical sum
    /// (`algo::leaf_sum`), or given a `mean` the sum of `(x - mean) *
    /// (x - mean)`, or their extreme.
    fn leaf_call(
        &mut self,
        name: &str,
        ty: Type,
        (p, stride): (Value, Value),
        n: Value,
        mean: Option<Value>,
    ) -> Result<Value> {
        let f64s = ty == types::F64;
        let f = *self
            .callees
            .get(name)
            .ok_or_else(|| internal(format!("{name} was not imported")))?;
        let mean = match mean {
            Some(m) => m,
            None if f64s => self.b.ins().f64const(0.0),
            None => self.b.ins().f32const(0.0),
        };
        let call = self.b.ins().call(f, &[p, stride, n, mean]);
        Ok(self.b.inst_results(call)[0])
    }
}
