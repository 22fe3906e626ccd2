//! AST -> typed IR: name resolution, NEP 50 typing with weak literals,
//! rank checking, and the meaning of every function name.
//!
//! Lowering runs once per call signature (the dtypes and ranks of the
//! inputs), because a weak literal's dtype depends on what it meets:
//! `x * 2.0` is `f32` for an `f32` input and `f64` for an `i32` one.
//!
//! Literal-only arithmetic (`2 * pi`, `-1`, `1 / 3`) is folded here, as
//! Python folds it before NumPy sees it, and the result stays weak. A
//! function of literals (`sqrt(2)`) is strong, as in NumPy.
//!
//! Architecture invariant: every user error about types, names, arity and
//! ranks is found here (or in the parser) and carries a span. The IR that
//! comes out satisfies `Ir::validate`; a failure after this point is a bug.

use crate::ast::{self, Arg, ExprKind};
use crate::error::{did_you_mean, Error, ErrorKind, Result, Span};
use crate::ir::{BinaryOp, InputDecl, Ir, Node, Op, UnaryOp, ValueId};
use crate::scalar;
use crate::types::{DType, Scalar, TypeClass, MAX_RANK};

/// What a call expects of one input: a dtype and a rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InputType {
    pub dtype: DType,
    pub rank: u8,
}

/// A lowered subexpression: either a weak literal not yet given a dtype, or
/// a value of the graph.
#[derive(Clone, Copy, Debug)]
enum Val {
    WeakInt(i64),
    WeakFloat(f64),
    Strong(ValueId),
}

struct Lowerer<'a> {
    ir: Ir,
    names: &'a [String],
    /// The node of each input, created on first use.
    input_nodes: Vec<Option<ValueId>>,
}

/// Lowers an expression whose free names are `names` (in order), with the
/// given input types, to an IR with one output.
pub fn lower_expr(expr: &ast::Expr, names: &[String], types: &[InputType]) -> Result<Ir> {
    if names.len() != types.len() {
        return Err(Error::internal("lower_expr: one type per input name"));
    }
    let mut lw = Lowerer {
        ir: Ir::default(),
        names,
        input_nodes: vec![None; names.len()],
    };
    lw.ir.inputs = names
        .iter()
        .zip(types)
        .map(|(name, t)| InputDecl {
            name: name.clone(),
            dtype: t.dtype,
            rank: t.rank,
        })
        .collect();
    let v = lw.expr(expr)?;
    let out = lw.strong(v, expr.span);
    lw.ir.outputs.push(out);
    debug_assert_eq!(lw.ir.validate(), Ok(()));
    Ok(lw.ir)
}

/// The free names of an expression (inputs), in order of first appearance.
pub fn free_names(expr: &ast::Expr) -> Vec<String> {
    let mut names = Vec::new();
    collect_names(expr, &mut names);
    names
}

fn collect_names(expr: &ast::Expr, names: &mut Vec<String>) {
    match &expr.kind {
        ExprKind::Name(id) => {
            if !names.contains(&id.name) {
                names.push(id.name.clone());
            }
        }
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) => {}
        ExprKind::Unary(_, x) => collect_names(x, names),
        ExprKind::Binary(_, a, b) => {
            collect_names(a, names);
            collect_names(b, names);
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| collect_names(&a.value, names)),
        ExprKind::List(items) => items.iter().for_each(|x| collect_names(x, names)),
        ExprKind::Index { base, .. } => {
            if !names.contains(&base.name) {
                names.push(base.name.clone());
            }
        }
    }
}

/// How a function name is lowered.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Func {
    Unary(UnaryOp),
    Binary(BinaryOp),
    Cast(DType),
    Where,
    Select,
    Clip,
    /// Defined by the language, compiled by a later version.
    Later(&'static str),
}

const UNARY_FUNCS: &[(&str, UnaryOp)] = &[
    ("abs", UnaryOp::Abs),
    ("sign", UnaryOp::Sign),
    ("sqrt", UnaryOp::Sqrt),
    ("cbrt", UnaryOp::Cbrt),
    ("square", UnaryOp::Square),
    ("reciprocal", UnaryOp::Reciprocal),
    ("exp", UnaryOp::Exp),
    ("exp2", UnaryOp::Exp2),
    ("expm1", UnaryOp::Expm1),
    ("log", UnaryOp::Log),
    ("log2", UnaryOp::Log2),
    ("log10", UnaryOp::Log10),
    ("log1p", UnaryOp::Log1p),
    ("sin", UnaryOp::Sin),
    ("cos", UnaryOp::Cos),
    ("tan", UnaryOp::Tan),
    ("arcsin", UnaryOp::Arcsin),
    ("arccos", UnaryOp::Arccos),
    ("arctan", UnaryOp::Arctan),
    ("sinh", UnaryOp::Sinh),
    ("cosh", UnaryOp::Cosh),
    ("tanh", UnaryOp::Tanh),
    ("arcsinh", UnaryOp::Arcsinh),
    ("arccosh", UnaryOp::Arccosh),
    ("arctanh", UnaryOp::Arctanh),
    ("floor", UnaryOp::Floor),
    ("ceil", UnaryOp::Ceil),
    ("trunc", UnaryOp::Trunc),
    ("rint", UnaryOp::Rint),
    ("isnan", UnaryOp::IsNan),
    ("isinf", UnaryOp::IsInf),
    ("isfinite", UnaryOp::IsFinite),
    ("signbit", UnaryOp::Signbit),
];

const BINARY_FUNCS: &[(&str, BinaryOp)] = &[
    ("hypot", BinaryOp::Hypot),
    ("power", BinaryOp::Pow),
    ("fmod", BinaryOp::Fmod),
    ("minimum", BinaryOp::Minimum),
    ("maximum", BinaryOp::Maximum),
    ("fmin", BinaryOp::Fmin),
    ("fmax", BinaryOp::Fmax),
    ("copysign", BinaryOp::Copysign),
    ("arctan2", BinaryOp::Arctan2),
];

/// Functions of the language that later versions compile.
const LATER_FUNCS: &[&str] = &[
    "sum",
    "prod",
    "mean",
    "min",
    "max",
    "var",
    "std",
    "any",
    "all",
    "argmin",
    "argmax",
    "count_nonzero",
    "nansum",
    "nanmean",
    "nanmin",
    "nanmax",
    "nanvar",
    "nanstd",
    "cumsum",
    "cumprod",
    "cummax",
    "cummin",
    "diff",
    "shift",
    "rolling_sum",
    "rolling_mean",
    "rolling_var",
    "rolling_std",
    "rolling_min",
    "rolling_max",
    "ewm_mean",
];

fn lookup_func(name: &str) -> Option<Func> {
    if let Some(&(_, op)) = UNARY_FUNCS.iter().find(|(n, _)| *n == name) {
        return Some(Func::Unary(op));
    }
    if let Some(&(_, op)) = BINARY_FUNCS.iter().find(|(n, _)| *n == name) {
        return Some(Func::Binary(op));
    }
    if let Some(d) = DType::from_name(name) {
        return Some(Func::Cast(d));
    }
    match name {
        "where" => Some(Func::Where),
        "select" => Some(Func::Select),
        "clip" => Some(Func::Clip),
        _ => LATER_FUNCS
            .iter()
            .find(|n| **n == name)
            .map(|n| Func::Later(n)),
    }
}

/// Every function name the language knows (for "did you mean").
pub fn function_names() -> impl Iterator<Item = &'static str> {
    UNARY_FUNCS
        .iter()
        .map(|(n, _)| *n)
        .chain(BINARY_FUNCS.iter().map(|(n, _)| *n))
        .chain(DType::ALL.iter().map(|d| d.name()))
        .chain(["where", "select", "clip"])
        .chain(LATER_FUNCS.iter().copied())
}

impl Lowerer<'_> {
    fn expr(&mut self, e: &ast::Expr) -> Result<Val> {
        match &e.kind {
            ExprKind::Int(v) => Ok(Val::WeakInt(*v)),
            ExprKind::Float(v) => Ok(Val::WeakFloat(*v)),
            ExprKind::Bool(v) => Ok(Val::Strong(self.constant(Scalar::Bool(*v), e.span))),
            ExprKind::Name(id) => self.name(id),
            ExprKind::Unary(op, x) => {
                let x = self.expr(x)?;
                self.unary_operator(*op, x, e.span)
            }
            ExprKind::Binary(op, a, b) => {
                let va = self.expr(a)?;
                let vb = self.expr(b)?;
                self.binary_operator(*op, (va, a.span), (vb, b.span), e.span)
            }
            ExprKind::Call { func, args } => self.call(func, args, e.span),
            ExprKind::List(_) => Err(Error::at(
                ErrorKind::Type,
                e.span,
                "a list is only allowed as an argument of `select`",
            )),
            ExprKind::Index { base, .. } => Err(Error::at(
                ErrorKind::Unsupported,
                e.span,
                format!(
                    "element access `{}[...]` is only allowed in the element rules of a kernel",
                    base.name
                ),
            )),
        }
    }

    fn name(&mut self, id: &ast::Ident) -> Result<Val> {
        let Some(k) = self.names.iter().position(|n| *n == id.name) else {
            return Err(Error::at(
                ErrorKind::UnknownName,
                id.span,
                format!("unknown name `{}`", id.name),
            ));
        };
        if let Some(v) = self.input_nodes[k] {
            return Ok(Val::Strong(v));
        }
        let decl = &self.ir.inputs[k];
        if usize::from(decl.rank) > MAX_RANK {
            return Err(Error::at(
                ErrorKind::Shape,
                id.span,
                format!("input `{}` has rank {} (at most 2)", id.name, decl.rank),
            ));
        }
        let node = Node {
            op: Op::Input(k),
            dtype: decl.dtype,
            rank: decl.rank,
            span: id.span,
        };
        let v = self.ir.push(node);
        self.input_nodes[k] = Some(v);
        Ok(Val::Strong(v))
    }

    // --- helpers over values -------------------------------------------

    fn class(&self, v: Val) -> TypeClass {
        match v {
            Val::WeakInt(_) => TypeClass::WeakInt,
            Val::WeakFloat(_) => TypeClass::WeakFloat,
            Val::Strong(id) => TypeClass::Strong(self.ir.node(id).dtype),
        }
    }

    fn constant(&mut self, value: Scalar, span: Span) -> ValueId {
        self.ir.push(Node {
            op: Op::Const(value),
            dtype: value.dtype(),
            rank: 0,
            span,
        })
    }

    /// The value as a node of its own dtype (weak literals get theirs).
    fn strong(&mut self, v: Val, span: Span) -> ValueId {
        match v {
            Val::Strong(id) => id,
            Val::WeakInt(x) => self.constant(Scalar::I64(x), span),
            Val::WeakFloat(x) => self.constant(Scalar::F64(x), span),
        }
    }

    /// The value converted to `dtype` (a literal becomes a constant of it).
    fn convert(&mut self, v: Val, dtype: DType, span: Span) -> Result<ValueId> {
        match v {
            Val::Strong(id) => {
                if self.ir.node(id).dtype == dtype {
                    return Ok(id);
                }
                // Fold casts of constants, so `i32(x) + 1` needs no cast node.
                if let Op::Const(c) = self.ir.node(id).op {
                    return Ok(self.constant(scalar::cast(c, dtype), span));
                }
                let rank = self.ir.node(id).rank;
                Ok(self.ir.push(Node {
                    op: Op::Cast(id),
                    dtype,
                    rank,
                    span,
                }))
            }
            Val::WeakInt(x) => {
                let value = match dtype {
                    DType::I32 => Scalar::I32(i32::try_from(x).map_err(|_| {
                        Error::at(
                            ErrorKind::Type,
                            span,
                            format!("integer literal {x} is out of range for i32"),
                        )
                    })?),
                    DType::I64 => Scalar::I64(x),
                    DType::F32 => Scalar::F32(x as f32),
                    DType::F64 => Scalar::F64(x as f64),
                    DType::Bool => Scalar::Bool(x != 0),
                };
                Ok(self.constant(value, span))
            }
            // A float literal meets an integer or bool dtype only in an
            // explicit cast (`i32(3.7)`): convert as the cast does.
            Val::WeakFloat(x) => Ok(self.constant(scalar::cast(Scalar::F64(x), dtype), span)),
        }
    }

    fn push_op(&mut self, op: Op, dtype: DType, span: Span) -> ValueId {
        let rank = op
            .operands()
            .iter()
            .map(|o| self.ir.node(*o).rank)
            .max()
            .unwrap_or(0);
        self.ir.push(Node {
            op,
            dtype,
            rank,
            span,
        })
    }

    /// Folds an operation on weak literals, Python-style; the result stays
    /// weak unless it is a comparison (a strong bool).
    fn fold_weak(&mut self, op: BinaryOp, a: Val, b: Val, span: Span) -> Result<Val> {
        let float =
            matches!(a, Val::WeakFloat(_)) || matches!(b, Val::WeakFloat(_)) || op == BinaryOp::Div;
        let as_scalar = |v: Val| match (v, float) {
            (Val::WeakInt(x), false) => Scalar::I64(x),
            (Val::WeakInt(x), true) => Scalar::F64(x as f64),
            (Val::WeakFloat(x), _) => Scalar::F64(x),
            (Val::Strong(_), _) => unreachable!("fold_weak of a strong value"),
        };
        if float && matches!(op, BinaryOp::BitAnd | BinaryOp::BitOr | BinaryOp::BitXor) {
            return Err(Error::at(
                ErrorKind::Type,
                span,
                format!("`{}` is not defined for floats", bit_symbol(op)),
            ));
        }
        Ok(match scalar::binary(op, as_scalar(a), as_scalar(b)) {
            Scalar::I64(x) => Val::WeakInt(x),
            Scalar::F64(x) => Val::WeakFloat(x),
            other => Val::Strong(self.constant(other, span)),
        })
    }

    // --- operators -----------------------------------------------------

    fn unary_operator(&mut self, op: ast::UnaryOp, x: Val, span: Span) -> Result<Val> {
        let class = self.class(x);
        match op {
            ast::UnaryOp::Neg => match x {
                Val::WeakInt(v) => Ok(Val::WeakInt(v.wrapping_neg())),
                Val::WeakFloat(v) => Ok(Val::WeakFloat(-v)),
                Val::Strong(id) => {
                    let dtype = self.ir.node(id).dtype;
                    if dtype == DType::Bool {
                        return Err(Error::at(
                            ErrorKind::Type,
                            span,
                            "unary `-` is not defined for bool; use `not` or `~`",
                        ));
                    }
                    Ok(Val::Strong(self.push_op(
                        Op::Unary(UnaryOp::Neg, id),
                        dtype,
                        span,
                    )))
                }
            },
            ast::UnaryOp::BitNot => match x {
                Val::WeakInt(v) => Ok(Val::WeakInt(!v)),
                Val::Strong(id) if !self.ir.node(id).dtype.is_float() => {
                    let dtype = self.ir.node(id).dtype;
                    Ok(Val::Strong(self.push_op(
                        Op::Unary(UnaryOp::Not, id),
                        dtype,
                        span,
                    )))
                }
                _ => Err(Error::at(
                    ErrorKind::Type,
                    span,
                    format!("`~` is not defined for {class}; it needs integers or bool"),
                )),
            },
            ast::UnaryOp::Not => match x {
                Val::Strong(id) if self.ir.node(id).dtype == DType::Bool => Ok(Val::Strong(
                    self.push_op(Op::Unary(UnaryOp::Not, id), DType::Bool, span),
                )),
                _ => Err(Error::at(
                    ErrorKind::Type,
                    span,
                    format!("`not` needs a bool operand, found {class}"),
                )),
            },
        }
    }

    fn binary_operator(
        &mut self,
        op: ast::BinaryOp,
        (a, sa): (Val, Span),
        (b, sb): (Val, Span),
        span: Span,
    ) -> Result<Val> {
        use ast::BinaryOp as A;
        let ir_op = match op {
            A::Or | A::And => {
                for (v, s) in [(a, sa), (b, sb)] {
                    let class = self.class(v);
                    if class != TypeClass::Strong(DType::Bool) {
                        return Err(Error::at(
                            ErrorKind::Type,
                            s,
                            format!("`{}` needs bool operands, found {class}", op.symbol()),
                        )
                        .with_note(format!(
                            "use `{}` for bitwise operations on integers",
                            if op == A::Or { "|" } else { "&" }
                        )));
                    }
                }
                let ir_op = if op == A::Or {
                    BinaryOp::BitOr
                } else {
                    BinaryOp::BitAnd
                };
                let (ia, ib) = (self.strong(a, sa), self.strong(b, sb));
                return Ok(Val::Strong(self.push_op(
                    Op::Binary(ir_op, ia, ib),
                    DType::Bool,
                    span,
                )));
            }
            A::Lt => BinaryOp::Lt,
            A::Le => BinaryOp::Le,
            A::Gt => BinaryOp::Gt,
            A::Ge => BinaryOp::Ge,
            A::Eq => BinaryOp::Eq,
            A::Ne => BinaryOp::Ne,
            A::BitOr => BinaryOp::BitOr,
            A::BitXor => BinaryOp::BitXor,
            A::BitAnd => BinaryOp::BitAnd,
            A::Add => BinaryOp::Add,
            A::Sub => BinaryOp::Sub,
            A::Mul => BinaryOp::Mul,
            A::Div => BinaryOp::Div,
            A::FloorDiv => BinaryOp::FloorDiv,
            A::Mod => BinaryOp::Mod,
            A::Pow => BinaryOp::Pow,
        };
        self.binary_op(ir_op, (a, sa), (b, sb), span, op.symbol())
    }

    /// A binary operation of the IR, with NEP 50 promotion and the dtype
    /// rules of the language. `what` names it in errors.
    fn binary_op(
        &mut self,
        op: BinaryOp,
        (a, sa): (Val, Span),
        (b, sb): (Val, Span),
        span: Span,
        what: &str,
    ) -> Result<Val> {
        let weak = |v: Val| !matches!(v, Val::Strong(_));
        if weak(a) && weak(b) && (!op.is_float_only() || op == BinaryOp::Div) {
            return self.fold_weak(op, a, b, span);
        }
        let promoted = TypeClass::promote(self.class(a), self.class(b)).concrete();
        let mut dtype = promoted;
        if op.is_float_only() {
            dtype = dtype.float_of();
        }
        let type_err = |msg: String| Err(Error::at(ErrorKind::Type, span, msg));
        let mut op = op;
        match op {
            BinaryOp::BitAnd | BinaryOp::BitOr | BinaryOp::BitXor if dtype.is_float() => {
                return type_err(format!(
                    "`{what}` is not defined for {dtype}; it needs integers or bool"
                ));
            }
            _ if dtype == DType::Bool => match op {
                // NumPy: `+` on bools is logical or, `*` logical and.
                BinaryOp::Add => op = BinaryOp::BitOr,
                BinaryOp::Mul => op = BinaryOp::BitAnd,
                BinaryOp::Sub
                | BinaryOp::FloorDiv
                | BinaryOp::Mod
                | BinaryOp::Pow
                | BinaryOp::Fmod => {
                    return type_err(format!(
                        "`{what}` is not defined for bool; cast first, e.g. `i64(x)`"
                    ));
                }
                _ => {}
            },
            _ => {}
        }
        let ia = self.convert(a, dtype, sa)?;
        // `x ** 2` is `x * x`, as NumPy computes it: one correctly rounded
        // multiplication, where a call of `pow` costs tens of cycles.
        if op == BinaryOp::Pow && matches!(b, Val::WeakInt(2)) {
            return Ok(Val::Strong(self.push_op(
                Op::Binary(BinaryOp::Mul, ia, ia),
                dtype,
                span,
            )));
        }
        let ib = self.convert(b, dtype, sb)?;
        let result = if op.is_comparison() {
            DType::Bool
        } else {
            dtype
        };
        Ok(Val::Strong(self.push_op(
            Op::Binary(op, ia, ib),
            result,
            span,
        )))
    }

    // --- calls ---------------------------------------------------------

    fn call(&mut self, func: &ast::Ident, args: &[Arg], span: Span) -> Result<Val> {
        let Some(f) = lookup_func(&func.name) else {
            let mut err = Error::at(
                ErrorKind::UnknownFunction,
                func.span,
                format!("unknown function `{}`", func.name),
            );
            if let Some(s) = did_you_mean(&func.name, function_names()) {
                err = err.with_note(format!("did you mean `{s}`?"));
            }
            return Err(err);
        };
        if let Func::Later(name) = f {
            return Err(Error::at(
                ErrorKind::Unsupported,
                func.span,
                format!("`{name}` is not supported yet: reductions, scans and windows come in a later version"),
            ));
        }
        // Keyword arguments: only `select(..., default=)` takes one.
        let mut positional: Vec<&ast::Expr> = Vec::new();
        let mut default: Option<&ast::Expr> = None;
        for arg in args {
            match &arg.name {
                None => {
                    if default.is_some() {
                        return Err(Error::at(
                            ErrorKind::Arity,
                            arg.value.span,
                            "positional argument after a keyword argument",
                        ));
                    }
                    positional.push(&arg.value);
                }
                Some(kw) if f == Func::Select && kw.name == "default" && default.is_none() => {
                    default = Some(&arg.value);
                }
                Some(kw) => {
                    return Err(Error::at(
                        ErrorKind::Arity,
                        kw.span,
                        format!("`{}` has no keyword argument `{}`", func.name, kw.name),
                    ));
                }
            }
        }
        let arity = |n: usize| -> Result<()> {
            if positional.len() == n {
                Ok(())
            } else {
                Err(Error::at(
                    ErrorKind::Arity,
                    span,
                    format!(
                        "`{}` takes {n} argument{}, got {}",
                        func.name,
                        if n == 1 { "" } else { "s" },
                        positional.len()
                    ),
                ))
            }
        };
        match f {
            Func::Unary(op) => {
                arity(1)?;
                let x = self.expr(positional[0])?;
                self.unary_func(op, x, span, &func.name)
            }
            Func::Binary(op) => {
                arity(2)?;
                let (sa, sb) = (positional[0].span, positional[1].span);
                let mut a = self.expr(positional[0])?;
                let b = self.expr(positional[1])?;
                // A function of two literals is strong, as NumPy's result
                // of `np.hypot(3, 4)` is an `np.float64`; one literal next
                // to an array stays weak.
                if !matches!(a, Val::Strong(_)) && !matches!(b, Val::Strong(_)) {
                    a = Val::Strong(self.strong(a, sa));
                }
                self.binary_op(op, (a, sa), (b, sb), span, &func.name)
            }
            Func::Cast(dtype) => {
                arity(1)?;
                let x = self.expr(positional[0])?;
                Ok(Val::Strong(self.convert(x, dtype, span)?))
            }
            Func::Where => {
                arity(3)?;
                let c = self.expr(positional[0])?;
                let a = self.expr(positional[1])?;
                let b = self.expr(positional[2])?;
                let c = self.condition(c, positional[0].span)?;
                self.where_(c, (a, positional[1].span), (b, positional[2].span), span)
            }
            Func::Select => self.select(&positional, default, span, &func.name),
            Func::Clip => {
                arity(3)?;
                let x = self.expr(positional[0])?;
                let lo = self.expr(positional[1])?;
                let hi = self.expr(positional[2])?;
                let x = Val::Strong(self.strong(x, positional[0].span));
                let class = [x, lo, hi]
                    .iter()
                    .map(|v| self.class(*v))
                    .reduce(TypeClass::promote)
                    .expect("three operands");
                let dtype = class.concrete();
                let (sx, slo, shi) = (positional[0].span, positional[1].span, positional[2].span);
                let x = Val::Strong(self.convert(x, dtype, sx)?);
                let lo = Val::Strong(self.convert(lo, dtype, slo)?);
                let hi = Val::Strong(self.convert(hi, dtype, shi)?);
                // NumPy's clip keeps `x` when it ties with a bound (so
                // clip(-0.0, 0, 1) is -0.0), and `maximum`/`minimum` return
                // their second operand on ties: hence the operand order.
                let m = self.binary_op(BinaryOp::Maximum, (lo, slo), (x, sx), span, "clip")?;
                self.binary_op(BinaryOp::Minimum, (hi, shi), (m, span), span, "clip")
            }
            Func::Later(_) => unreachable!("handled above"),
        }
    }

    fn unary_func(&mut self, op: UnaryOp, x: Val, span: Span, name: &str) -> Result<Val> {
        let id = self.strong(x, span);
        let x = Val::Strong(id);
        let dtype = self.ir.node(id).dtype;
        if op.is_predicate() {
            return Ok(Val::Strong(self.push_op(
                Op::Unary(op, id),
                DType::Bool,
                span,
            )));
        }
        match op {
            // NumPy 2: rounding an integer or bool is the identity.
            UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Trunc if !dtype.is_float() => Ok(x),
            _ if op.is_float_only() => {
                let fd = dtype.float_of();
                let xi = self.convert(x, fd, span)?;
                Ok(Val::Strong(self.push_op(Op::Unary(op, xi), fd, span)))
            }
            UnaryOp::Abs if dtype == DType::Bool => Ok(x),
            UnaryOp::Sign | UnaryOp::Square | UnaryOp::Reciprocal if dtype == DType::Bool => {
                Err(Error::at(
                    ErrorKind::Type,
                    span,
                    format!("`{name}` is not defined for bool; cast first, e.g. `{name}(i64(x))`"),
                ))
            }
            _ => Ok(Val::Strong(self.push_op(Op::Unary(op, id), dtype, span))),
        }
    }

    /// A `where`/`select` condition: bool as is, anything else `!= 0`
    /// (NumPy's truthiness).
    fn condition(&mut self, c: Val, span: Span) -> Result<ValueId> {
        let id = self.strong(c, span);
        self.convert(Val::Strong(id), DType::Bool, span)
    }

    fn where_(
        &mut self,
        c: ValueId,
        (a, sa): (Val, Span),
        (b, sb): (Val, Span),
        span: Span,
    ) -> Result<Val> {
        let dtype = TypeClass::promote(self.class(a), self.class(b)).concrete();
        let ia = self.convert(a, dtype, sa)?;
        let ib = self.convert(b, dtype, sb)?;
        Ok(Val::Strong(self.push_op(Op::Where(c, ia, ib), dtype, span)))
    }

    fn select(
        &mut self,
        positional: &[&ast::Expr],
        default: Option<&ast::Expr>,
        span: Span,
        name: &str,
    ) -> Result<Val> {
        let (conds, choices, default) = match (positional, default) {
            ([c, v], d) => (*c, *v, d),
            ([c, v, d], None) => (*c, *v, Some(*d)),
            _ => {
                return Err(Error::at(
                    ErrorKind::Arity,
                    span,
                    format!(
                        "`{name}` takes a list of conditions, a list of choices and an optional default"
                    ),
                ))
            }
        };
        let list = |e: &ast::Expr, what: &str| -> Result<Vec<ast::Expr>> {
            match &e.kind {
                ExprKind::List(items) => Ok(items.clone()),
                _ => Err(Error::at(
                    ErrorKind::Type,
                    e.span,
                    format!("`{name}` needs a list of {what} here, like `[a, b]`"),
                )),
            }
        };
        let cond_exprs = list(conds, "conditions")?;
        let choice_exprs = list(choices, "choices")?;
        if cond_exprs.len() != choice_exprs.len() || cond_exprs.is_empty() {
            return Err(Error::at(
                ErrorKind::Arity,
                choices.span,
                format!(
                    "`{name}` needs as many choices as conditions (at least one), got {} conditions and {} choices",
                    cond_exprs.len(),
                    choice_exprs.len()
                ),
            ));
        }
        let mut cs = Vec::new();
        for c in &cond_exprs {
            let v = self.expr(c)?;
            cs.push(self.condition(v, c.span)?);
        }
        let mut vs = Vec::new();
        for v in &choice_exprs {
            vs.push((self.expr(v)?, v.span));
        }
        let d = match default {
            Some(d) => (self.expr(d)?, d.span),
            None => (Val::WeakInt(0), span),
        };
        let class = vs
            .iter()
            .map(|(v, _)| self.class(*v))
            .fold(self.class(d.0), TypeClass::promote);
        let dtype = class.concrete();
        // The first true condition wins: build the chain from the last.
        let mut acc = self.convert(d.0, dtype, d.1)?;
        for (c, (v, sv)) in cs.into_iter().zip(vs).rev() {
            let iv = self.convert(v, dtype, sv)?;
            acc = self.push_op(Op::Where(c, iv, acc), dtype, span);
        }
        Ok(Val::Strong(acc))
    }
}

fn bit_symbol(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::BitAnd => "&",
        BinaryOp::BitOr => "|",
        _ => "^",
    }
}
