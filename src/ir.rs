//! The typed IR: a flat, topologically ordered graph of typed values.
//!
//! `lower` builds it from the AST once the dtypes and ranks of the inputs are
//! known. Every value has a dtype and a rank; extents are not part of the IR
//! (the same code runs for every length) and are computed per call by
//! [`Ir::infer_shapes`], which is also where broadcasting is checked.
//!
//! Invariants (checked by [`Ir::validate`] in debug builds and tests):
//! - operands precede their users (`nodes` is in topological order);
//! - a binary operation's operands have the same dtype (lowering inserts
//!   explicit casts), and the node's dtype is the operation's result dtype;
//! - a `Where`'s condition is `bool` and its branches have the node's dtype;
//! - the rank of a node is the broadcast rank of its operands.

use std::collections::HashMap;
use std::fmt;

use crate::error::{Error, ErrorKind, Result, Span};
use crate::types::{DType, Scalar, Shape};

/// Index of a value in [`Ir::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl ValueId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// Elementwise operations of one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// Arithmetic negation (wrapping for integers).
    Neg,
    /// Bitwise not for integers, logical not for bool.
    Not,
    Abs,
    Sign,
    Sqrt,
    Cbrt,
    Square,
    Reciprocal,
    Exp,
    Exp2,
    Expm1,
    Log,
    Log2,
    Log10,
    Log1p,
    Sin,
    Cos,
    Tan,
    Arcsin,
    Arccos,
    Arctan,
    Sinh,
    Cosh,
    Tanh,
    Arcsinh,
    Arccosh,
    Arctanh,
    Floor,
    Ceil,
    Trunc,
    Rint,
    /// `bool` result.
    IsNan,
    /// `bool` result.
    IsInf,
    /// `bool` result.
    IsFinite,
    /// `bool` result.
    Signbit,
}

/// Elementwise operations of two operands of the same dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    /// True division; operands are always floats here (lowering casts ints).
    Div,
    /// Floor division; by zero gives 0 for integers.
    FloorDiv,
    /// Remainder with the sign of the divisor; by zero gives 0 for integers.
    Mod,
    Pow,
    /// Bitwise for integers, logical for bool.
    BitAnd,
    BitOr,
    BitXor,
    /// Comparisons have a `bool` result.
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    /// NaN-propagating minimum / maximum.
    Minimum,
    Maximum,
    /// NaN-ignoring minimum / maximum.
    Fmin,
    Fmax,
    Hypot,
    Arctan2,
    /// C remainder (sign of the dividend); by zero gives 0 for integers.
    Fmod,
    Copysign,
}

impl UnaryOp {
    pub const ALL: [UnaryOp; 35] = {
        use UnaryOp::*;
        [
            Neg, Not, Abs, Sign, Sqrt, Cbrt, Square, Reciprocal, Exp, Exp2, Expm1, Log, Log2,
            Log10, Log1p, Sin, Cos, Tan, Arcsin, Arccos, Arctan, Sinh, Cosh, Tanh, Arcsinh,
            Arccosh, Arctanh, Floor, Ceil, Trunc, Rint, IsNan, IsInf, IsFinite, Signbit,
        ]
    };

    pub fn name(self) -> &'static str {
        use UnaryOp::*;
        match self {
            Neg => "neg",
            Not => "not",
            Abs => "abs",
            Sign => "sign",
            Sqrt => "sqrt",
            Cbrt => "cbrt",
            Square => "square",
            Reciprocal => "reciprocal",
            Exp => "exp",
            Exp2 => "exp2",
            Expm1 => "expm1",
            Log => "log",
            Log2 => "log2",
            Log10 => "log10",
            Log1p => "log1p",
            Sin => "sin",
            Cos => "cos",
            Tan => "tan",
            Arcsin => "arcsin",
            Arccos => "arccos",
            Arctan => "arctan",
            Sinh => "sinh",
            Cosh => "cosh",
            Tanh => "tanh",
            Arcsinh => "arcsinh",
            Arccosh => "arccosh",
            Arctanh => "arctanh",
            Floor => "floor",
            Ceil => "ceil",
            Trunc => "trunc",
            Rint => "rint",
            IsNan => "isnan",
            IsInf => "isinf",
            IsFinite => "isfinite",
            Signbit => "signbit",
        }
    }

    /// Functions defined only on floats: integer and bool operands are
    /// converted to `f64` first (NumPy), `f32` stays `f32`.
    pub fn is_float_only(self) -> bool {
        use UnaryOp::*;
        matches!(
            self,
            Sqrt | Cbrt
                | Exp
                | Exp2
                | Expm1
                | Log
                | Log2
                | Log10
                | Log1p
                | Sin
                | Cos
                | Tan
                | Arcsin
                | Arccos
                | Arctan
                | Sinh
                | Cosh
                | Tanh
                | Arcsinh
                | Arccosh
                | Arctanh
                | Floor
                | Ceil
                | Trunc
                | Rint
        )
    }

    /// Predicates whose result is `bool` whatever the operand.
    pub fn is_predicate(self) -> bool {
        matches!(
            self,
            UnaryOp::IsNan | UnaryOp::IsInf | UnaryOp::IsFinite | UnaryOp::Signbit
        )
    }
}

impl BinaryOp {
    pub fn name(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            FloorDiv => "floordiv",
            Mod => "mod",
            Pow => "pow",
            BitAnd => "and",
            BitOr => "or",
            BitXor => "xor",
            Lt => "lt",
            Le => "le",
            Gt => "gt",
            Ge => "ge",
            Eq => "eq",
            Ne => "ne",
            Minimum => "minimum",
            Maximum => "maximum",
            Fmin => "fmin",
            Fmax => "fmax",
            Hypot => "hypot",
            Arctan2 => "arctan2",
            Fmod => "fmod",
            Copysign => "copysign",
        }
    }

    pub fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Lt | Le | Gt | Ge | Eq | Ne)
    }

    /// Functions defined only on floats (operands converted as for
    /// [`UnaryOp::is_float_only`]).
    pub fn is_float_only(self) -> bool {
        matches!(
            self,
            BinaryOp::Div | BinaryOp::Hypot | BinaryOp::Arctan2 | BinaryOp::Copysign
        )
    }
}

/// Reductions: many elements of a lane to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Prod,
    Mean,
    Min,
    Max,
    /// Variance with `ddof` (the lane op's field).
    Var,
    Std,
    Any,
    All,
    /// Index of the first minimum (the first NaN if any), as `i64`.
    ArgMin,
    ArgMax,
    /// Number of non-zero (true) elements, as `i64`.
    CountNonzero,
    NanSum,
    NanMean,
    NanMin,
    NanMax,
    NanVar,
    NanStd,
}

/// Running accumulations: one result per element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScanOp {
    Cumsum,
    Cumprod,
    Cummax,
    Cummin,
}

/// Rolling-window statistics over the last `w` elements (NaN until the
/// first full window).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WindowOp {
    Sum,
    Mean,
    Var,
    Std,
    Min,
    Max,
}

/// What a lane operation computes along its axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LaneKind {
    Reduce(ReduceOp),
    Scan(ScanOp),
    /// `n`-th difference: the lane gets `n` elements shorter.
    Diff(u32),
    /// `y[i] = x[i - k]`, with `fill` where `i - k` is outside the lane.
    Shift {
        k: i64,
        fill: Scalar,
    },
    /// Rolling statistic; the window length is the op's `param`.
    Rolling(WindowOp),
    /// Exponentially weighted mean; `alpha` is the op's `param`.
    Ewm,
}

/// An operation along one axis of its operand, computed lane by lane
/// (reductions, scans, differences, shifts, windows).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LaneOp {
    pub kind: LaneKind,
    /// The axis the lanes run along; `None` (reductions only): all elements
    /// in row-major order form one lane.
    pub axis: Option<u8>,
    /// Reductions: keep the reduced axes with extent 1.
    pub keepdims: bool,
    /// `var`/`std` and rolling `var`/`std`: delta degrees of freedom.
    pub ddof: u32,
}

impl ReduceOp {
    pub fn name(self) -> &'static str {
        use ReduceOp::*;
        match self {
            Sum => "sum",
            Prod => "prod",
            Mean => "mean",
            Min => "min",
            Max => "max",
            Var => "var",
            Std => "std",
            Any => "any",
            All => "all",
            ArgMin => "argmin",
            ArgMax => "argmax",
            CountNonzero => "count_nonzero",
            NanSum => "nansum",
            NanMean => "nanmean",
            NanMin => "nanmin",
            NanMax => "nanmax",
            NanVar => "nanvar",
            NanStd => "nanstd",
        }
    }

    /// Reductions with no identity: an empty lane is an error.
    pub fn needs_elements(self) -> bool {
        use ReduceOp::*;
        matches!(self, Min | Max | ArgMin | ArgMax | NanMin | NanMax)
    }
}

impl ScanOp {
    pub fn name(self) -> &'static str {
        match self {
            ScanOp::Cumsum => "cumsum",
            ScanOp::Cumprod => "cumprod",
            ScanOp::Cummax => "cummax",
            ScanOp::Cummin => "cummin",
        }
    }
}

impl WindowOp {
    pub fn name(self) -> &'static str {
        match self {
            WindowOp::Sum => "rolling_sum",
            WindowOp::Mean => "rolling_mean",
            WindowOp::Var => "rolling_var",
            WindowOp::Std => "rolling_std",
            WindowOp::Min => "rolling_min",
            WindowOp::Max => "rolling_max",
        }
    }
}

impl LaneOp {
    pub fn name(&self) -> String {
        match self.kind {
            LaneKind::Reduce(op) => op.name().to_string(),
            LaneKind::Scan(op) => op.name().to_string(),
            LaneKind::Diff(_) => "diff".to_string(),
            LaneKind::Shift { .. } => "shift".to_string(),
            LaneKind::Rolling(op) => op.name().to_string(),
            LaneKind::Ewm => "ewm_mean".to_string(),
        }
    }

    /// The shape of the result for an operand of shape `arg`.
    pub fn result_shape(&self, arg: Shape) -> Shape {
        let dims = arg.dims();
        match (self.kind, self.axis) {
            (LaneKind::Reduce(_), None) => {
                if self.keepdims {
                    Shape::new(&vec![1; dims.len()]).expect("same rank")
                } else {
                    Shape::SCALAR
                }
            }
            (LaneKind::Reduce(_), Some(axis)) => {
                let axis = usize::from(axis);
                let mut out: Vec<usize> = dims.to_vec();
                if self.keepdims {
                    out[axis] = 1;
                } else {
                    out.remove(axis);
                }
                Shape::new(&out).expect("rank shrinks")
            }
            (LaneKind::Diff(n), Some(axis)) => {
                let mut out = dims.to_vec();
                let axis = usize::from(axis);
                out[axis] = out[axis].saturating_sub(n as usize);
                Shape::new(&out).expect("same rank")
            }
            _ => arg,
        }
    }

    /// The rank of the result for an operand of rank `rank`.
    pub fn result_rank(&self, rank: u8) -> u8 {
        match (self.kind, self.axis, self.keepdims) {
            (LaneKind::Reduce(_), None, false) => 0,
            (LaneKind::Reduce(_), Some(_), false) => rank - 1,
            _ => rank,
        }
    }
}

/// One value of the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    pub dtype: DType,
    /// 0, 1 or 2.
    pub rank: u8,
    /// The source this value was written as (for errors found per call).
    pub span: Span,
}

/// Where a value read inside a recurrence's rule comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TapSource {
    /// Source `k` of the recurrence: a vector read at row `i + offset`, or
    /// a scalar (offset 0).
    Source(usize),
    /// The recurrence's own output at row `i - lag` (`lag >= 1`).
    Prev(u32),
}

/// A value a rule reads: body input `k` is `taps[k]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tap {
    pub source: TapSource,
    pub offset: i64,
}

/// One rule of a recurrence: a scalar body computing `y[i]` from taps.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Inputs are the taps (rank 0); one output, the element.
    pub body: Ir,
    pub taps: Vec<Tap>,
}

/// An output defined element by element: rows `0..boundary.len()` by their
/// own rules, the rest by `general`, in order, each row able to read the
/// rows before it.
#[derive(Clone, Debug, PartialEq)]
pub struct Recurrence {
    /// The outer values the rules read (vectors of the output's length, or
    /// scalars).
    pub sources: Vec<ValueId>,
    pub boundary: Vec<Rule>,
    pub general: Rule,
}

impl Recurrence {
    /// The rules with the rows they cover: `(first row, rule)`; the general
    /// rule covers every row from `boundary.len()` on.
    pub fn rules(&self) -> impl Iterator<Item = (usize, &Rule)> {
        self.boundary
            .iter()
            .enumerate()
            .chain(std::iter::once((self.boundary.len(), &self.general)))
    }

    /// The longest lag any rule reads.
    pub fn max_lag(&self) -> u32 {
        self.rules()
            .flat_map(|(_, r)| r.taps.iter())
            .filter_map(|t| match t.source {
                TapSource::Prev(lag) => Some(lag),
                TapSource::Source(_) => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// The element rows of source `k` that `rows` rows of output read, as
    /// an inclusive range of (possibly out-of-bounds) indices; `None` if no
    /// rule row that exists reads it.
    pub fn source_reach(&self, k: usize, rows: usize) -> Option<(i64, i64)> {
        let mut reach: Option<(i64, i64)> = None;
        let mut widen = |lo: i64, hi: i64| {
            reach = Some(match reach {
                None => (lo, hi),
                Some((a, b)) => (a.min(lo), b.max(hi)),
            });
        };
        let k_rows = self.boundary.len();
        for (r, rule) in self.boundary.iter().enumerate() {
            if r >= rows {
                break;
            }
            for t in &rule.taps {
                if t.source == TapSource::Source(k) {
                    widen(r as i64 + t.offset, r as i64 + t.offset);
                }
            }
        }
        if rows > k_rows {
            for t in &self.general.taps {
                if t.source == TapSource::Source(k) {
                    widen(k_rows as i64 + t.offset, rows as i64 - 1 + t.offset);
                }
            }
        }
        reach
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Input number `k` of the signature.
    Input(usize),
    /// A constant (rank 0).
    Const(Scalar),
    Unary(UnaryOp, ValueId),
    Binary(BinaryOp, ValueId, ValueId),
    /// Conversion to the node's dtype (float -> int truncates toward zero
    /// and saturates, NaN -> 0; x -> bool is `x != 0`).
    Cast(ValueId),
    /// `where(cond, a, b)`.
    Where(ValueId, ValueId, ValueId),
    /// A lane operation of `arg`; `param` is the rank-0 window length of a
    /// rolling op or the `alpha` of `ewm_mean` (a constant or a scalar
    /// input, so its value is known before any code runs).
    Lane {
        op: LaneOp,
        arg: ValueId,
        param: Option<ValueId>,
    },
    /// A vector defined by element rules (a kernel's `y[0] = ...`,
    /// `y[i] = ... y[i-1] ...`); its operands are the recurrence's sources.
    Recur(Box<Recurrence>),
}

impl Op {
    /// The operands, in order (no allocation for up to four: shapes are
    /// inferred on every call).
    pub fn operands(&self) -> Operands {
        match *self {
            Op::Input(_) | Op::Const(_) => Operands::new(),
            Op::Unary(_, a) | Op::Cast(a) => Operands::from_slice(&[a]),
            Op::Binary(_, a, b) => Operands::from_slice(&[a, b]),
            Op::Where(c, a, b) => Operands::from_slice(&[c, a, b]),
            Op::Lane {
                arg, param: None, ..
            } => Operands::from_slice(&[arg]),
            Op::Lane {
                arg,
                param: Some(p),
                ..
            } => Operands::from_slice(&[arg, p]),
            Op::Recur(ref rec) => Operands::from_slice(&rec.sources),
        }
    }

    /// Replaces every operand `v` by `f(v)`.
    fn rename(&mut self, f: impl Fn(ValueId) -> ValueId) {
        match self {
            Op::Input(_) | Op::Const(_) => {}
            Op::Unary(_, a) | Op::Cast(a) => *a = f(*a),
            Op::Binary(_, a, b) => (*a, *b) = (f(*a), f(*b)),
            Op::Where(c, a, b) => (*c, *a, *b) = (f(*c), f(*a), f(*b)),
            Op::Lane { arg, param, .. } => {
                *arg = f(*arg);
                *param = param.map(&f);
            }
            Op::Recur(rec) => {
                for s in &mut rec.sources {
                    *s = f(*s);
                }
            }
        }
    }

    /// What identifies the operation for [`Ir::eliminate_common`] (`None`:
    /// never merged).
    fn key(&self) -> Option<OpKey> {
        let scalar = |c: Scalar| (c.dtype(), c.to_bits());
        Some(match *self {
            Op::Input(k) => OpKey::Input(k),
            Op::Const(c) => OpKey::Const(scalar(c)),
            Op::Unary(op, a) => OpKey::Unary(op, a),
            Op::Binary(op, a, b) => OpKey::Binary(op, a, b),
            Op::Cast(a) => OpKey::Cast(a),
            Op::Where(c, a, b) => OpKey::Where(c, a, b),
            Op::Lane { op, arg, param } => OpKey::Lane {
                kind: match op.kind {
                    LaneKind::Reduce(r) => KindKey::Reduce(r),
                    LaneKind::Scan(s) => KindKey::Scan(s),
                    LaneKind::Diff(n) => KindKey::Diff(n),
                    LaneKind::Shift { k, fill } => KindKey::Shift(k, scalar(fill)),
                    LaneKind::Rolling(w) => KindKey::Rolling(w),
                    LaneKind::Ewm => KindKey::Ewm,
                },
                axis: op.axis,
                keepdims: op.keepdims,
                ddof: op.ddof,
                arg,
                param,
            },
            Op::Recur(_) => return None,
        })
    }
}

/// An [`Op`] as a hashable key (constants by their bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum OpKey {
    Input(usize),
    Const((DType, u64)),
    Unary(UnaryOp, ValueId),
    Binary(BinaryOp, ValueId, ValueId),
    Cast(ValueId),
    Where(ValueId, ValueId, ValueId),
    Lane {
        kind: KindKey,
        axis: Option<u8>,
        keepdims: bool,
        ddof: u32,
        arg: ValueId,
        param: Option<ValueId>,
    },
}

/// A [`LaneKind`] as a hashable key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum KindKey {
    Reduce(ReduceOp),
    Scan(ScanOp),
    Diff(u32),
    Shift(i64, (DType, u64)),
    Rolling(WindowOp),
    Ewm,
}

/// The operands of an [`Op`].
pub type Operands = smallvec::SmallVec<[ValueId; 4]>;

/// What a kernel expects of input `k`: a name, a dtype, a rank.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InputDecl {
    pub name: String,
    pub dtype: DType,
    pub rank: u8,
}

/// A typed program: inputs, a graph, and the values that are its outputs.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Ir {
    pub inputs: Vec<InputDecl>,
    pub nodes: Vec<Node>,
    pub outputs: Vec<ValueId>,
}

impl Ir {
    /// Whether any value is a lane operation (reduction, scan, window).
    pub fn has_lanes(&self) -> bool {
        self.nodes.iter().any(|n| matches!(n.op, Op::Lane { .. }))
    }

    pub fn node(&self, id: ValueId) -> &Node {
        &self.nodes[id.index()]
    }

    /// Appends a node and returns its id (operands must already exist).
    pub fn push(&mut self, node: Node) -> ValueId {
        let id = ValueId(self.nodes.len() as u32);
        self.nodes.push(node);
        id
    }

    /// Common subexpression elimination: every node that computes what an
    /// earlier node computes (the same operation on the same operands, to
    /// the same dtype and rank) is dropped and its users read the earlier
    /// one, so `(exp(x) - mean(exp(x))) / std(exp(x))` computes `exp`
    /// once, and the mean and deviation see one operand (and share the
    /// mean, see `crate::fuse`). Every operation is a pure function of its
    /// operands, so no result changes. Constants are the same when their
    /// bits are (`0.0` and `-0.0` stay apart). A recurrence is never
    /// merged (its rules are not compared), only its sources renamed.
    pub fn eliminate_common(&mut self) {
        let mut canon: Vec<ValueId> = Vec::with_capacity(self.nodes.len());
        let mut seen: HashMap<(OpKey, DType, u8), ValueId> = HashMap::new();
        let mut nodes: Vec<Node> = Vec::with_capacity(self.nodes.len());
        for mut node in std::mem::take(&mut self.nodes) {
            node.op.rename(|v| canon[v.index()]);
            let key = node.op.key().map(|k| (k, node.dtype, node.rank));
            if let Some(&id) = key.as_ref().and_then(|k| seen.get(k)) {
                canon.push(id);
                continue;
            }
            let id = ValueId(nodes.len() as u32);
            if let Some(k) = key {
                seen.insert(k, id);
            }
            nodes.push(node);
            canon.push(id);
        }
        self.nodes = nodes;
        for o in &mut self.outputs {
            *o = canon[o.index()];
        }
    }

    pub fn ids(&self) -> impl DoubleEndedIterator<Item = ValueId> {
        (0..self.nodes.len() as u32).map(ValueId)
    }

    /// The concrete shape of every node for the given input shapes, with
    /// NumPy broadcasting checked at each operation. The error names the
    /// operation's source and both shapes.
    pub fn infer_shapes(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        let mut shapes = smallvec::SmallVec::new();
        self.infer_shapes_into(inputs, &mut shapes)?;
        Ok(shapes.into_vec())
    }

    /// [`Ir::infer_shapes`] into a caller's buffer (cleared first), so the
    /// call path need not allocate.
    pub fn infer_shapes_into(
        &self,
        inputs: &[Shape],
        shapes: &mut smallvec::SmallVec<[Shape; 16]>,
    ) -> Result<()> {
        shapes.clear();
        for node in &self.nodes {
            let shape = match &node.op {
                Op::Input(k) => *inputs
                    .get(*k)
                    .ok_or_else(|| Error::internal(format!("input {k} has no shape")))?,
                Op::Const(_) => Shape::SCALAR,
                Op::Recur(rec) => {
                    let mut len: Option<usize> = None;
                    for &src in &rec.sources {
                        let shape = shapes[src.index()];
                        if shape.rank() != 1 {
                            continue;
                        }
                        let n = shape.dims()[0];
                        match len {
                            Some(m) if m != n => {
                                return Err(Error::at(
                                    ErrorKind::Shape,
                                    node.span,
                                    format!(
                                        "the element rules read vectors of lengths {m} and {n}"
                                    ),
                                ))
                            }
                            _ => len = Some(n),
                        }
                    }
                    let n = len.unwrap_or(0);
                    for (k, &src) in rec.sources.iter().enumerate() {
                        if shapes[src.index()].rank() != 1 {
                            continue;
                        }
                        if let Some((lo, hi)) = rec.source_reach(k, n) {
                            if lo < 0 || hi >= n as i64 {
                                let bad = if lo < 0 { lo } else { hi };
                                return Err(Error::at(
                                    ErrorKind::Shape,
                                    node.span,
                                    format!(
                                        "the element rules read element {bad} of a vector of length {n}"
                                    ),
                                ));
                            }
                        }
                    }
                    Shape::vector(n)
                }
                Op::Lane { op, arg, .. } => {
                    let arg_shape = shapes[arg.index()];
                    if let LaneKind::Reduce(r) = op.kind {
                        let lane = match op.axis {
                            None => arg_shape.checked_len().unwrap_or(usize::MAX),
                            Some(axis) => arg_shape.dims()[usize::from(axis)],
                        };
                        let lanes = op.result_shape(arg_shape).checked_len().unwrap_or(0);
                        if r.needs_elements() && lane == 0 && (op.axis.is_none() || lanes > 0) {
                            return Err(Error::at(
                                ErrorKind::Shape,
                                node.span,
                                format!(
                                    "`{}` of an empty array (shape {arg_shape}) has no value",
                                    r.name()
                                ),
                            ));
                        }
                    }
                    op.result_shape(arg_shape)
                }
                op => {
                    let operands = op.operands();
                    let mut shape = shapes[operands[0].index()];
                    for &b in &operands[1..] {
                        let other = shapes[b.index()];
                        shape = Shape::broadcast(shape, other).ok_or_else(|| {
                            Error::at(
                                ErrorKind::Shape,
                                node.span,
                                format!("shapes {shape} and {other} cannot be broadcast together"),
                            )
                        })?;
                    }
                    shape
                }
            };
            if shape.rank() != usize::from(node.rank) {
                return Err(Error::internal(format!(
                    "rank of {shape} differs from the IR's rank {}",
                    node.rank
                )));
            }
            shapes.push(shape);
        }
        Ok(())
    }

    /// Checks the invariants in the module documentation.
    pub fn validate(&self) -> Result<()> {
        let bad = |id: usize, what: &str| Err(Error::internal(format!("ir: v{id}: {what}")));
        for (k, node) in self.nodes.iter().enumerate() {
            let operands = node.op.operands();
            if operands.iter().any(|o| o.index() >= k) {
                return bad(k, "operand does not precede its user");
            }
            let dt = |v: ValueId| self.nodes[v.index()].dtype;
            let rank = operands
                .iter()
                .map(|&o| self.nodes[o.index()].rank)
                .max()
                .unwrap_or(0);
            match &node.op {
                Op::Input(i) => {
                    let Some(decl) = self.inputs.get(*i) else {
                        return bad(k, "input out of range");
                    };
                    if decl.dtype != node.dtype || decl.rank != node.rank {
                        return bad(k, "input node differs from its declaration");
                    }
                    continue;
                }
                Op::Const(c) => {
                    if c.dtype() != node.dtype || node.rank != 0 {
                        return bad(k, "constant of the wrong dtype or rank");
                    }
                    continue;
                }
                Op::Unary(op, a) => {
                    let expect = if op.is_predicate() {
                        DType::Bool
                    } else {
                        dt(*a)
                    };
                    if node.dtype != expect {
                        return bad(k, "unary result dtype");
                    }
                }
                Op::Binary(op, a, b) => {
                    if dt(*a) != dt(*b) {
                        return bad(k, "binary operands differ in dtype");
                    }
                    let expect = if op.is_comparison() {
                        DType::Bool
                    } else {
                        dt(*a)
                    };
                    if node.dtype != expect {
                        return bad(k, "binary result dtype");
                    }
                }
                Op::Cast(_) => {}
                Op::Recur(rec) => {
                    if node.rank != 1 {
                        return bad(k, "a recurrence is a vector");
                    }
                    if !rec.sources.iter().any(|s| self.nodes[s.index()].rank == 1) {
                        return bad(k, "a recurrence reads no vector");
                    }
                    for (_, rule) in rec.rules() {
                        rule.body.validate()?;
                        if rule.body.inputs.len() != rule.taps.len()
                            || rule.body.outputs.len() != 1
                            || rule.body.node(rule.body.outputs[0]).dtype != node.dtype
                            || rule.body.nodes.iter().any(|n| n.rank != 0)
                        {
                            return bad(k, "malformed rule body");
                        }
                        for (t, decl) in rule.taps.iter().zip(&rule.body.inputs) {
                            let dtype = match t.source {
                                TapSource::Source(j) => match rec.sources.get(j) {
                                    Some(&src) => dt(src),
                                    None => return bad(k, "tap of an unknown source"),
                                },
                                TapSource::Prev(lag) if lag >= 1 => node.dtype,
                                TapSource::Prev(_) => return bad(k, "a recurrence reads ahead"),
                            };
                            if decl.dtype != dtype || decl.rank != 0 {
                                return bad(k, "tap dtype");
                            }
                        }
                    }
                    continue;
                }
                Op::Lane { op, arg, param } => {
                    if let Some(p) = param {
                        let pn = &self.nodes[p.index()];
                        if pn.rank != 0 || !matches!(pn.op, Op::Input(_) | Op::Const(_)) {
                            return bad(k, "a lane parameter must be a rank-0 input or constant");
                        }
                    }
                    let arg_rank = self.nodes[arg.index()].rank;
                    if let Some(axis) = op.axis {
                        if axis >= arg_rank {
                            return bad(k, "lane axis out of range");
                        }
                    } else if !matches!(op.kind, LaneKind::Reduce(_)) && arg_rank > 1 {
                        return bad(k, "only reductions run over all axes");
                    }
                    if node.rank != op.result_rank(arg_rank) {
                        return bad(k, "rank of a lane op");
                    }
                    continue;
                }
                Op::Where(c, a, b) => {
                    if dt(*c) != DType::Bool || dt(*a) != node.dtype || dt(*b) != node.dtype {
                        return bad(k, "where operand dtypes");
                    }
                }
            }
            if node.rank != rank {
                return bad(k, "rank is not the broadcast rank of the operands");
            }
        }
        if self.outputs.iter().any(|o| o.index() >= self.nodes.len()) {
            return Err(Error::internal("ir: output out of range"));
        }
        Ok(())
    }
}

/// Prints one node a line: `v3: f64[2] = add v1, v2`.
impl fmt::Display for Ir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, input) in self.inputs.iter().enumerate() {
            writeln!(
                f,
                "in{k} {}: {}{}",
                input.name,
                input.dtype,
                rank_suffix(input.rank)
            )?;
        }
        for (k, node) in self.nodes.iter().enumerate() {
            write!(f, "v{k}: {}{} = ", node.dtype, rank_suffix(node.rank))?;
            match &node.op {
                Op::Input(i) => write!(f, "input in{i}")?,
                Op::Const(c) => write!(f, "const {c}")?,
                Op::Unary(op, a) => write!(f, "{} {a}", op.name())?,
                Op::Binary(op, a, b) => write!(f, "{} {a}, {b}", op.name())?,
                Op::Cast(a) => write!(f, "cast {a}")?,
                Op::Where(c, a, b) => write!(f, "where {c}, {a}, {b}")?,
                Op::Recur(rec) => {
                    let sources: Vec<String> = rec.sources.iter().map(|v| v.to_string()).collect();
                    write!(f, "recur over {}", sources.join(", "))?;
                    for (row, rule) in rec.rules() {
                        let taps: Vec<String> = rule
                            .taps
                            .iter()
                            .map(|t| match t.source {
                                TapSource::Source(j) => format!("s{j}[{:+}]", t.offset),
                                TapSource::Prev(lag) => format!("y[-{lag}]"),
                            })
                            .collect();
                        let first = if row < rec.boundary.len() {
                            format!("row {row}")
                        } else {
                            format!("rows {row}..")
                        };
                        write!(f, "\n    {first} taps ({}):", taps.join(", "))?;
                        for line in rule.body.to_string().lines() {
                            write!(f, "\n      {line}")?;
                        }
                    }
                }
                Op::Lane { op, arg, param } => {
                    write!(f, "{} {arg}", op.name())?;
                    if let Some(p) = param {
                        write!(f, ", {p}")?;
                    }
                    match op.axis {
                        Some(axis) => write!(f, " axis={axis}")?,
                        None => write!(f, " all")?,
                    }
                    if op.keepdims {
                        write!(f, " keepdims")?;
                    }
                    match op.kind {
                        LaneKind::Diff(n) => write!(f, " n={n}")?,
                        LaneKind::Shift { k, fill } => write!(f, " k={k} fill={fill}")?,
                        _ => {}
                    }
                    if op.ddof != 0 {
                        write!(f, " ddof={}", op.ddof)?;
                    }
                }
            }
            writeln!(f)?;
        }
        let outs: Vec<String> = self.outputs.iter().map(|o| o.to_string()).collect();
        write!(f, "return {}", outs.join(", "))
    }
}

fn rank_suffix(rank: u8) -> &'static str {
    match rank {
        0 => "",
        1 => "[n]",
        _ => "[n, m]",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: Op, dtype: DType, rank: u8) -> Node {
        Node {
            op,
            dtype,
            rank,
            span: Span::default(),
        }
    }

    fn lane(kind: LaneKind, axis: Option<u8>, ddof: u32, arg: u32) -> Op {
        Op::Lane {
            op: LaneOp {
                kind,
                axis,
                keepdims: false,
                ddof,
            },
            arg: ValueId(arg),
            param: None,
        }
    }

    #[test]
    fn common_subexpressions_merge_only_when_identical() {
        use DType::*;
        let v = ValueId;
        let mut ir = Ir {
            inputs: vec![InputDecl {
                name: "x".into(),
                dtype: F64,
                rank: 1,
            }],
            ..Ir::default()
        };
        let nodes = [
            node(Op::Input(0), F64, 1),                                         // v0
            node(Op::Unary(UnaryOp::Exp, v(0)), F64, 1),                        // v1
            node(Op::Unary(UnaryOp::Exp, v(0)), F64, 1),                        // v2 = v1
            node(Op::Binary(BinaryOp::Sub, v(1), v(2)), F64, 1),                // v3
            node(Op::Binary(BinaryOp::Sub, v(2), v(1)), F64, 1),                // v4 = v3 (renamed)
            node(Op::Binary(BinaryOp::Sub, v(2), v(0)), F64, 1),                // v5: not v3
            node(Op::Const(Scalar::F64(0.0)), F64, 0),                          // v6
            node(Op::Const(Scalar::F64(-0.0)), F64, 0),                         // v7: not v6
            node(Op::Const(Scalar::F64(0.0)), F64, 0),                          // v8 = v6
            node(Op::Const(Scalar::I64(0)), I64, 0),                            // v9: another dtype
            node(Op::Const(Scalar::F64(f64::NAN)), F64, 0),                     // v10
            node(Op::Const(Scalar::F64(-f64::NAN)), F64, 0), // v11: another payload
            node(lane(LaneKind::Reduce(ReduceOp::Std), None, 0, 1), F64, 0), // v12
            node(lane(LaneKind::Reduce(ReduceOp::Std), None, 1, 2), F64, 0), // v13: ddof
            node(lane(LaneKind::Reduce(ReduceOp::Std), Some(0), 0, 2), F64, 0), // v14: axis
            node(lane(LaneKind::Reduce(ReduceOp::Std), None, 0, 2), F64, 0), // v15 = v12
            node(Op::Cast(v(0)), F32, 1),                    // v16
            node(Op::Cast(v(0)), I64, 1),                    // v17: another dtype
        ];
        for n in nodes {
            ir.push(n);
        }
        ir.outputs = vec![v(4), v(5), v(8), v(15), v(17), v(2)];
        ir.eliminate_common();
        assert_eq!(ir.validate(), Ok(()));
        // Dropped: v2, v4, v8, v15; the rest keep their order.
        let kept = ir.nodes.len();
        assert_eq!(kept, 18 - 4, "{ir}");
        assert_eq!(
            ir.outputs,
            vec![v(2), v(3), v(4), v(9), v(13), v(1)],
            "{ir}"
        );
        assert_eq!(ir.node(v(2)).op, Op::Binary(BinaryOp::Sub, v(1), v(1)));
        assert_eq!(ir.node(v(3)).op, Op::Binary(BinaryOp::Sub, v(1), v(0)));
        assert!(matches!(ir.node(v(5)).op, Op::Const(Scalar::F64(z)) if z.is_sign_negative()));
        assert!(matches!(ir.node(v(8)).op, Op::Const(Scalar::F64(z)) if z.is_sign_negative()));
        assert!(matches!(ir.node(v(11)).op, Op::Lane { op, .. } if op.axis == Some(0)));
    }
}
