//! Vector bodies for elementwise loops.
//!
//! Cranelift's x86-64 backend vectorises nothing by itself and offers
//! 128-bit vectors, so an elementwise loop whose values all have a vector
//! form gets a second body, written here, that works on `f64x2` or `f32x4`
//! (`bool` values are lane masks of the same width) and is unrolled
//! [`UNROLL`] times. It runs while at least one unrolled step of elements
//! remains and every slot the loop reads or writes is contiguous along the
//! inner axis — a run-time test on the strides, made once per loop — and
//! the scalar body finishes the tail (and runs everything when a slot is
//! strided or broadcast at run time).
//!
//! Every vector operation is the lane-wise form of the scalar one in
//! `mod.rs`, so the two bodies agree bit for bit: IEEE `+ - * /` and
//! `sqrt` are the same instructions on packed lanes, compares give the same
//! truth per lane, and NaN-aware `minimum`/`maximum`/`fmin`/`fmax` and
//! `where` are the same blend on a lane mask.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::Variable;

use super::{clif_type, internal, Translator};
use crate::error::Result;
use crate::ir::{BinaryOp, Op, UnaryOp, ValueId};
use crate::types::{DType, Scalar};

/// Vectors per step of the vector loop.
pub(super) const UNROLL: u32 = 2;

/// The vector form of a loop body: its one float type and the matching
/// vector and mask types.
#[derive(Clone, Copy, Debug)]
pub(super) struct Lanes {
    float: DType,
    vector: Type,
    mask: Type,
    /// Lanes per vector.
    count: u32,
}

impl Lanes {
    /// Elements per step of the vector loop.
    pub(super) fn step(&self) -> u32 {
        self.count * UNROLL
    }

    /// Bytes per vector.
    fn bytes(&self) -> i32 {
        self.vector.bytes() as i32
    }
}

/// Where a vector body reads or writes a value.
#[derive(Clone, Copy, Debug)]
pub(super) enum Place {
    /// Through a slot pointer (a variable the loop advances, if the slot
    /// is contiguous).
    Slot(Variable, Reach),
    /// A scratch row: element `i` at `base + i * size`.
    Row(Value),
    /// One element at a fixed address, the same for every element (a
    /// reduction result in its lane slot).
    Fixed(Value),
}

/// One vector body: what it loads, computes and stores.
pub(super) struct VectorBody<'x> {
    pub loads: Vec<(ValueId, Place)>,
    pub compute: &'x [ValueId],
    pub stores: Vec<(ValueId, Place)>,
    /// Values computed before the loop, splatted into every step.
    pub splats: &'x [(ValueId, Value)],
}

/// What a slot is in the vector body.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Reach {
    /// Consecutive elements (checked at run time: stride = element size).
    Contiguous,
    /// One element for the whole loop (a rank-0 buffer: stride 0).
    Splat,
}

impl<'a> Translator<'a, '_> {
    /// The vector form of an elementwise body, or `None` when a value has
    /// none: every value read from or written to memory must be of one
    /// float dtype, every computed value of that dtype or `bool`, every
    /// operation one with a lane-wise form.
    pub(super) fn vector_lanes(
        &self,
        memory: impl IntoIterator<Item = ValueId>,
        compute: &[ValueId],
    ) -> Option<Lanes> {
        let ir = self.ir;
        let mut memory = memory.into_iter().peekable();
        let float = ir.node(*memory.peek()?).dtype;
        let (vector, mask, count) = match float {
            DType::F64 => (types::F64X2, types::I64X2, 2),
            DType::F32 => (types::F32X4, types::I32X4, 4),
            _ => return None,
        };
        if !memory.all(|v| ir.node(v).dtype == float) {
            return None;
        }
        let is = |v: ValueId, d: DType| ir.node(v).dtype == d;
        for &v in compute {
            let node = ir.node(v);
            if node.dtype != float && node.dtype != DType::Bool {
                return None;
            }
            if super::callee(ir, v).is_some() {
                return None;
            }
            let ok = match node.op {
                Op::Input(_) | Op::Const(_) => true,
                Op::Unary(op, a) if is(a, float) => matches!(
                    op,
                    UnaryOp::Neg
                        | UnaryOp::Abs
                        | UnaryOp::Sqrt
                        | UnaryOp::Square
                        | UnaryOp::Reciprocal
                        | UnaryOp::IsNan
                        | UnaryOp::IsInf
                        | UnaryOp::IsFinite
                ),
                Op::Unary(op, a) if is(a, DType::Bool) => op == UnaryOp::Not,
                Op::Binary(op, a, _) if is(a, float) => {
                    use BinaryOp::*;
                    matches!(
                        op,
                        Add | Sub
                            | Mul
                            | Div
                            | Lt
                            | Le
                            | Gt
                            | Ge
                            | Eq
                            | Ne
                            | Minimum
                            | Maximum
                            | Fmin
                            | Fmax
                    )
                }
                Op::Binary(op, a, _) if is(a, DType::Bool) => {
                    use BinaryOp::*;
                    matches!(
                        op,
                        Add | BitOr | Maximum | Fmax | Mul | BitAnd | Minimum | Fmin | BitXor
                    )
                }
                Op::Where(c, _, _) => is(c, DType::Bool),
                _ => false,
            };
            if !ok {
                return None;
            }
        }
        Some(Lanes {
            float,
            vector,
            mask,
            count,
        })
    }

    /// How the vector body reaches the slot through which `value` is
    /// loaded or stored.
    pub(super) fn reach(&self, value: ValueId) -> Reach {
        if self.ir.node(value).rank == 0 {
            Reach::Splat
        } else {
            Reach::Contiguous
        }
    }

    /// The number of elements of `n` the vector loop runs: a whole number
    /// of steps if every contiguous slot's `strides` (along the inner axis)
    /// is the element size, else 0.
    pub(super) fn vector_extent(
        &mut self,
        lanes: Lanes,
        reach: &[(Reach, Value)],
        n: Value,
    ) -> Value {
        let size = lanes.float.size() as i64;
        let mut ok = self.b.ins().iconst(types::I8, 1);
        for &(r, stride) in reach {
            if r == Reach::Contiguous {
                let unit = self.b.ins().icmp_imm_s(IntCC::Equal, stride, size);
                ok = self.b.ins().band(ok, unit);
            }
        }
        let whole = self.b.ins().band_imm_s(n, !(i64::from(lanes.step()) - 1));
        let zero = self.b.ins().iconst(self.ptr, 0);
        self.b.ins().select(ok, whole, zero)
    }

    /// `while i != limit { vector body; i += step }`, bottom-tested.
    pub(super) fn vector_loop(
        &mut self,
        lanes: Lanes,
        body: &VectorBody<'_>,
        i: Variable,
        limit: Value,
    ) -> Result<()> {
        let block = self.b.create_block();
        let exit = self.b.create_block();
        let at = self.b.use_var(i);
        let more = self.b.ins().icmp(IntCC::NotEqual, at, limit);
        self.b.ins().brif(more, block, &[], exit, &[]);
        self.b.switch_to_block(block);
        let size = lanes.float.size() as i64;
        let at = self.b.use_var(i);
        // The byte offset of element `i` in a scratch row.
        let row_offset = self.b.ins().imul_imm_u(at, size);
        let address = |t: &mut Self, place: Place, u: i32| -> (Value, i32) {
            let offset = u * lanes.bytes();
            match place {
                Place::Slot(var, _) => (t.b.use_var(var), offset),
                Place::Row(base) => (t.b.ins().iadd(base, row_offset), offset),
                Place::Fixed(addr) => (addr, 0),
            }
        };
        for u in 0..UNROLL as i32 {
            self.values.fill(None);
            for &(v, x) in body.splats {
                let x = self.b.ins().splat(lanes.vector, x);
                self.values[v.index()] = Some(x);
            }
            for &(v, place) in &body.loads {
                if matches!(self.ir.node(v).op, Op::Const(_)) {
                    continue;
                }
                let (p, offset) = address(self, place, u);
                let x = match place {
                    Place::Slot(_, Reach::Contiguous) | Place::Row(_) => {
                        self.b.ins().load(lanes.vector, self.mem, p, offset)
                    }
                    Place::Slot(_, Reach::Splat) | Place::Fixed(_) => {
                        let x = self.b.ins().load(clif_type(lanes.float), self.mem, p, 0);
                        self.b.ins().splat(lanes.vector, x)
                    }
                };
                self.values[v.index()] = Some(x);
            }
            for &v in body.compute {
                let x = self.vector_node(lanes, v)?;
                self.values[v.index()] = Some(x);
            }
            for &(v, place) in &body.stores {
                let x = self.vector_value(lanes, v)?;
                let (p, offset) = address(self, place, u);
                self.b.ins().store(self.mem, x, p, offset);
            }
        }
        for &(_, place) in body.loads.iter().chain(&body.stores) {
            if let Place::Slot(var, Reach::Contiguous) = place {
                let p = self.b.use_var(var);
                let p = self.b.ins().iadd_imm_s(p, i64::from(lanes.step()) * size);
                self.b.def_var(var, p);
            }
        }
        let next = self.b.ins().iadd_imm_u(at, i64::from(lanes.step()));
        self.b.def_var(i, next);
        let more = self.b.ins().icmp(IntCC::NotEqual, next, limit);
        self.b.ins().brif(more, block, &[], exit, &[]);
        self.b.seal_block(block);
        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        Ok(())
    }

    /// The vector of `id` in the current body (constants are splatted here,
    /// at their use).
    fn vector_value(&mut self, lanes: Lanes, id: ValueId) -> Result<Value> {
        if let Op::Const(c) = self.ir.node(id).op {
            return Ok(self.vector_const(lanes, c));
        }
        self.values[id.index()]
            .ok_or_else(|| internal(format!("{id} is used before it is computed")))
    }

    fn vector_const(&mut self, lanes: Lanes, c: Scalar) -> Value {
        match c {
            // A mask: all ones or all zeros per lane.
            Scalar::Bool(v) => {
                let lane = lanes.mask.lane_type();
                let x = self.b.ins().iconst(lane, if v { -1 } else { 0 });
                self.b.ins().splat(lanes.mask, x)
            }
            _ => {
                let x = self.translate_const(c);
                self.b.ins().splat(lanes.vector, x)
            }
        }
    }

    fn splat_float(&mut self, lanes: Lanes, v: f64) -> Value {
        let x = self.float(clif_type(lanes.float), v);
        self.b.ins().splat(lanes.vector, x)
    }

    /// `if c { x } else { y }` per lane, `c` a mask.
    fn vector_blend(&mut self, c: Value, x: Value, y: Value) -> Value {
        let ty = self.b.func.dfg.value_type(x);
        let c = if ty == self.b.func.dfg.value_type(c) {
            c
        } else {
            self.b.ins().bitcast(ty, MemFlagsData::new(), c)
        };
        self.b.ins().bitselect(c, x, y)
    }

    fn vector_node(&mut self, lanes: Lanes, id: ValueId) -> Result<Value> {
        let node = self.ir.node(id);
        let unsupported = || internal(format!("{id}: {:?} has no vector form", node.op));
        match node.op {
            Op::Input(_) | Op::Const(_) => self.vector_value(lanes, id),
            Op::Unary(op, a) => {
                let x = self.vector_value(lanes, a)?;
                if self.ir.node(a).dtype == DType::Bool {
                    return match op {
                        UnaryOp::Not => Ok(self.b.ins().bnot(x)),
                        _ => Err(unsupported()),
                    };
                }
                Ok(match op {
                    UnaryOp::Neg => self.b.ins().fneg(x),
                    UnaryOp::Abs => self.b.ins().fabs(x),
                    UnaryOp::Sqrt => self.b.ins().sqrt(x),
                    UnaryOp::Square => self.b.ins().fmul(x, x),
                    UnaryOp::Reciprocal => {
                        let one = self.splat_float(lanes, 1.0);
                        self.b.ins().fdiv(one, x)
                    }
                    UnaryOp::IsNan => self.b.ins().fcmp(FloatCC::Unordered, x, x),
                    UnaryOp::IsInf | UnaryOp::IsFinite => {
                        let inf = self.splat_float(lanes, f64::INFINITY);
                        let a = self.b.ins().fabs(x);
                        let cc = if op == UnaryOp::IsInf {
                            FloatCC::Equal
                        } else {
                            FloatCC::LessThan
                        };
                        self.b.ins().fcmp(cc, a, inf)
                    }
                    _ => return Err(unsupported()),
                })
            }
            Op::Binary(op, a, b) => {
                if let Some(r) = self.contract(op, a, b, Some(lanes))? {
                    return Ok(r);
                }
                let (x, y) = (self.vector_value(lanes, a)?, self.vector_value(lanes, b)?);
                if self.ir.node(a).dtype == DType::Bool {
                    use BinaryOp::*;
                    return match op {
                        Add | BitOr | Maximum | Fmax => Ok(self.b.ins().bor(x, y)),
                        Mul | BitAnd | Minimum | Fmin => Ok(self.b.ins().band(x, y)),
                        BitXor => Ok(self.b.ins().bxor(x, y)),
                        _ => Err(unsupported()),
                    };
                }
                self.vector_binary_float(op, a, x, y)
                    .ok_or_else(unsupported)
            }
            Op::Where(c, a, b) => {
                let c = self.vector_value(lanes, c)?;
                let (x, y) = (self.vector_value(lanes, a)?, self.vector_value(lanes, b)?);
                Ok(self.vector_blend(c, x, y))
            }
            _ => Err(unsupported()),
        }
    }

    /// NumPy's `minimum`/`maximum`/`fmin`/`fmax` per lane, as the scalar
    /// rule (`translate_binary_float`): x if the pick holds or x is NaN
    /// (minimum/maximum); y if x is NaN, else x if y is NaN or the pick
    /// holds (fmin/fmax).
    ///
    /// Built so each blend's condition is a compare (the backend then
    /// emits `blendv`) and the pick is the form it turns into `minp`/`maxp`
    /// (`x < y ? x : y`, written `fcmp lt x y`; `x > y ? x : y`, written
    /// `fcmp lt y x`): the pick's own NaN rule (y if either is NaN) is
    /// mended by a blend on x's NaN, and for fmin/fmax one on y's first.
    /// When `x` is never NaN (`x_never_nan`, a constant) those blends
    /// vanish: `maximum(lo, x)` is one `maxpd` (clip's bounds).
    pub(super) fn minmax_lanes(
        &mut self,
        op: BinaryOp,
        x: Value,
        y: Value,
        x_never_nan: bool,
    ) -> Value {
        use BinaryOp::*;
        let cmp = |t: &mut Self, cc: FloatCC, p: Value, q: Value| t.b.ins().fcmp(cc, p, q);
        let pick = if matches!(op, Minimum | Fmin) {
            cmp(self, FloatCC::LessThan, x, y)
        } else {
            cmp(self, FloatCC::LessThan, y, x)
        };
        let mut r = self.vector_blend(pick, x, y);
        if matches!(op, Fmin | Fmax) {
            let y_nan = cmp(self, FloatCC::Unordered, y, y);
            r = self.vector_blend(y_nan, x, r);
        }
        if !x_never_nan {
            let x_nan = cmp(self, FloatCC::Unordered, x, x);
            let keep = if matches!(op, Fmin | Fmax) { y } else { x };
            r = self.vector_blend(x_nan, keep, r);
        }
        r
    }

    /// Fast-math only: `a op b` as one fused multiply-add when `op` is a
    /// float `+` or `-` and one operand is a product computed in this body
    /// (its factors are at hand); `None` otherwise. On vectors if `lanes`.
    pub(super) fn contract(
        &mut self,
        op: BinaryOp,
        a: ValueId,
        b: ValueId,
        lanes: Option<Lanes>,
    ) -> Result<Option<Value>> {
        if !self.fma || !self.ir.node(a).dtype.is_float() {
            return Ok(None);
        }
        if !matches!(op, BinaryOp::Add | BinaryOp::Sub) {
            return Ok(None);
        }
        let ir = self.ir;
        let at_hand = |t: &Self, v: ValueId| {
            matches!(ir.node(v).op, Op::Const(_)) || t.values[v.index()].is_some()
        };
        let product = |t: &Self, v: ValueId| match ir.node(v).op {
            Op::Binary(BinaryOp::Mul, p, q) if at_hand(t, v) && at_hand(t, p) && at_hand(t, q) => {
                Some((p, q))
            }
            _ => None,
        };
        let get = |t: &mut Self, v: ValueId| match lanes {
            Some(l) => t.vector_value(l, v),
            None => t.value(v),
        };
        // a*b ± c, then c + a*b and c - a*b (= (-a)*b + c). Of two
        // products, the one on a recurrence's carried chain is fused, so
        // that the chain is the fused multiply-add alone and the other
        // product is computed beside it (`alpha*x[i] + (1-alpha)*y[i-1]`:
        // one fma of latency per row instead of a multiply and an fma).
        let carried = |t: &Self, v: ValueId| t.carried.get(v.index()).copied().unwrap_or(false);
        let first = product(self, a).filter(|_| carried(self, a) || !carried(self, b));
        let (p, q, c, negate_c, negate_p) = if let Some((p, q)) = first {
            (p, q, b, op == BinaryOp::Sub, false)
        } else if let Some((p, q)) = product(self, b) {
            (p, q, a, false, op == BinaryOp::Sub)
        } else if let Some((p, q)) = product(self, a) {
            (p, q, b, op == BinaryOp::Sub, false)
        } else {
            return Ok(None);
        };
        let (mut x, y, mut z) = (get(self, p)?, get(self, q)?, get(self, c)?);
        if negate_p {
            x = self.b.ins().fneg(x);
        }
        if negate_c {
            z = self.b.ins().fneg(z);
        }
        Ok(Some(self.b.ins().fma(x, y, z)))
    }

    /// `x op y` on float lanes (`a`: the IR value of `x`).
    fn vector_binary_float(
        &mut self,
        op: BinaryOp,
        a: ValueId,
        x: Value,
        y: Value,
    ) -> Option<Value> {
        use BinaryOp::*;
        let ins = |t: &mut Self, cc: FloatCC, p: Value, q: Value| t.b.ins().fcmp(cc, p, q);
        Some(match op {
            Add => self.b.ins().fadd(x, y),
            Sub => self.b.ins().fsub(x, y),
            Mul => self.b.ins().fmul(x, y),
            Div => self.b.ins().fdiv(x, y),
            Lt => ins(self, FloatCC::LessThan, x, y),
            Le => ins(self, FloatCC::LessThanOrEqual, x, y),
            Gt => ins(self, FloatCC::LessThan, y, x),
            Ge => ins(self, FloatCC::LessThanOrEqual, y, x),
            Eq => ins(self, FloatCC::Equal, x, y),
            Ne => ins(self, FloatCC::NotEqual, x, y),
            // The scalar rule (`translate_binary_float`): x if the pick
            // holds or x is NaN (minimum/maximum), y if x is NaN and else x
            // if y is NaN (fmin/fmax). `x < y` is written `fcmp lt x y` and
            // `x > y` as `fcmp lt y x`, the forms the backend turns into
            // `minp`/`maxp` when the NaN terms vanish: when `x` is a
            // constant that is not NaN, `minimum(x, y)` is exactly
            // `x < y ? x : y` (clip's bounds).
            Minimum | Maximum | Fmin | Fmax => {
                let x_never_nan =
                    matches!(self.ir.node(a).op, Op::Const(c) if !c.as_f64().is_nan());
                self.minmax_lanes(op, x, y, x_never_nan)
            }
            _ => return None,
        })
    }
}
