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

use std::collections::HashMap;

use crate::ast::{self, Arg, ExprKind};
use crate::error::{did_you_mean, Error, ErrorKind, Result, Span};
use crate::ir::{
    BinaryOp, InputDecl, Ir, LaneKind, LaneOp, Node, Op, Recurrence, ReduceOp, Rule, ScanOp, Tap,
    TapSource, UnaryOp, ValueId, WindowOp,
};
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
    /// `let` bindings and outputs defined so far (kernel mode).
    env: HashMap<String, Val>,
    /// Set while lowering the body of an element rule.
    rule: Option<RuleCtx>,
}

/// What an element rule's body can see, and the taps it has made.
struct RuleCtx {
    /// The output being defined (`y`).
    output: String,
    /// The row of a boundary rule; `None` for the general rule `y[i]`.
    row: Option<usize>,
    /// The kernel's names as values of the outer graph.
    outer: HashMap<String, Val>,
    /// Rank and dtype of outer values.
    info: HashMap<ValueId, (u8, DType)>,
    /// The output's dtype (of `y[i-k]` taps).
    dtype: DType,
    /// Outer values read, in order (shared by all rules of the output).
    sources: Vec<ValueId>,
    /// The taps of this rule and their body input nodes.
    taps: Vec<(Tap, ValueId)>,
}

/// Lowers an expression whose free names are `names` (in order), with the
/// given input types, to an IR with one output.
pub fn lower_expr(expr: &ast::Expr, names: &[String], types: &[InputType]) -> Result<Ir> {
    if names.len() != types.len() {
        return Err(Error::internal("lower_expr: one type per input name"));
    }
    let mut lw = Lowerer::new(names, types);
    let v = lw.expr(expr)?;
    let out = lw.strong(v, expr.span);
    lw.ir.outputs.push(out);
    lw.ir.eliminate_common();
    debug_assert_eq!(lw.ir.validate(), Ok(()));
    Ok(lw.ir)
}

/// Lowers a kernel for the given parameter types (in parameter order): one
/// output per declared output, in order.
///
/// Checked here: declared dtypes and ranks of parameters against the call
/// (an untyped `x: [n]` takes any float dtype), every output defined exactly
/// once, an output's value against its declared dtype (a weak literal
/// adapts; a strong value of another dtype is an error) and rank, names
/// used before they are defined, and for element rules: a general rule
/// `y[i]`, boundary rows for every lag it reads, no read ahead.
pub fn lower_kernel(kernel: &ast::Kernel, types: &[InputType]) -> Result<Ir> {
    let names: Vec<String> = kernel.params.iter().map(|p| p.name.name.clone()).collect();
    if names.len() != types.len() {
        return Err(Error::internal("lower_kernel: one type per parameter"));
    }
    for (param, t) in kernel.params.iter().zip(types) {
        check_param_type(kernel, param, *t)?;
    }
    let mut lw = Lowerer::new(&names, types);
    let mut defined: HashMap<&str, ValueId> = HashMap::new();
    for stmt in &kernel.body {
        match stmt {
            ast::Stmt::Let { name, value, .. } => {
                if names.contains(&name.name)
                    || kernel.outputs.iter().any(|o| o.name.name == name.name)
                {
                    return Err(Error::at(
                        ErrorKind::Type,
                        name.span,
                        format!(
                            "`let {}` shadows a parameter or output of the kernel",
                            name.name
                        ),
                    ));
                }
                let v = lw.expr(value)?;
                lw.env.insert(name.name.clone(), v);
            }
            ast::Stmt::Assign {
                target,
                index: Some(_),
                ..
            } => {
                let Some(decl) = kernel.outputs.iter().find(|o| o.name.name == target.name) else {
                    return Err(Error::at(
                        ErrorKind::UnknownName,
                        target.span,
                        format!(
                            "`{}` is not an output of kernel `{}`",
                            target.name, kernel.name.name
                        ),
                    ));
                };
                if defined.contains_key(target.name.as_str()) {
                    return Err(Error::at(
                        ErrorKind::Type,
                        target.span,
                        format!("output `{}` is defined twice", target.name),
                    ));
                }
                // The output is built at its last element rule, from all of them.
                let rules: Vec<&ast::Stmt> = kernel
                    .body
                    .iter()
                    .filter(|s| matches!(s, ast::Stmt::Assign { target: t, index: Some(_), .. } if t.name == target.name))
                    .collect();
                if !std::ptr::eq(*rules.last().expect("this one"), stmt) {
                    continue;
                }
                let id = lw.recurrence(decl, &rules, &names)?;
                lw.env.insert(target.name.clone(), Val::Strong(id));
                defined.insert(&target.name, id);
            }
            ast::Stmt::Assign {
                target,
                index: None,
                value,
                span,
            } => {
                let Some(decl) = kernel.outputs.iter().find(|o| o.name.name == target.name) else {
                    let mut err = Error::at(
                        ErrorKind::UnknownName,
                        target.span,
                        format!(
                            "`{}` is not an output of kernel `{}`",
                            target.name, kernel.name.name
                        ),
                    );
                    if names.contains(&target.name) {
                        err = err.with_note("parameters are read-only; declare an output instead");
                    } else {
                        err = err.with_note(format!(
                            "use `let {} = ...` for an intermediate",
                            target.name
                        ));
                    }
                    return Err(err);
                };
                if defined.contains_key(target.name.as_str()) {
                    return Err(Error::at(
                        ErrorKind::Type,
                        *span,
                        format!("output `{}` is defined twice", target.name),
                    ));
                }
                let v = lw.expr(value)?;
                let id = lw.output_value(v, decl, value.span)?;
                lw.env.insert(target.name.clone(), Val::Strong(id));
                defined.insert(&target.name, id);
            }
        }
    }
    for out in &kernel.outputs {
        let Some(&id) = defined.get(out.name.name.as_str()) else {
            return Err(Error::at(
                ErrorKind::Type,
                out.name.span,
                format!("output `{}` is never defined", out.name.name),
            ));
        };
        lw.ir.outputs.push(id);
    }
    lw.ir.eliminate_common();
    debug_assert_eq!(lw.ir.validate(), Ok(()));
    Ok(lw.ir)
}

impl Lowerer<'_> {
    /// Builds the recurrence of output `decl` from its element rules.
    fn recurrence(
        &mut self,
        decl: &ast::Param,
        rules: &[&ast::Stmt],
        params: &[String],
    ) -> Result<ValueId> {
        let name = &decl.name.name;
        // The outer names a rule may read: parameters, lets, outputs so far.
        let mut outer: HashMap<String, Val> = self.env.clone();
        for p in params {
            let id = ast::Ident {
                name: p.clone(),
                span: decl.name.span,
            };
            let v = self.name(&id)?;
            outer.insert(p.clone(), v);
        }
        let info: HashMap<ValueId, (u8, DType)> = outer
            .values()
            .filter_map(|v| match v {
                Val::Strong(id) => Some((*id, (self.ir.node(*id).rank, self.ir.node(*id).dtype))),
                _ => None,
            })
            .collect();
        let dtype = match decl.ty.dtype {
            Some(d) => d,
            // An untyped output takes the dtype of the first vector parameter.
            None => info
                .values()
                .filter(|(rank, d)| *rank == 1 && d.is_float())
                .map(|(_, d)| *d)
                .min()
                .unwrap_or(DType::F64),
        };
        if decl.ty.dims.len() != 1 {
            return Err(Error::at(
                ErrorKind::Shape,
                decl.ty.span,
                format!(
                    "element rules define a vector, but `{name}` is declared with rank {}",
                    decl.ty.dims.len()
                ),
            ));
        }
        let mut boundary: Vec<Option<(Rule, Span)>> = Vec::new();
        let mut general: Option<(Rule, Span)> = None;
        let mut sources: Vec<ValueId> = Vec::new();
        for stmt in rules {
            let ast::Stmt::Assign {
                index: Some(index),
                value,
                span,
                ..
            } = stmt
            else {
                continue;
            };
            let row = match index {
                ast::Index::Absolute { row, span } => {
                    Some(usize::try_from(*row).map_err(|_| {
                        Error::at(ErrorKind::Type, *span, "a boundary row cannot be negative")
                    })?)
                }
                ast::Index::Relative { var, offset: 0, .. } if var.name == "i" => None,
                other => {
                    return Err(Error::at(
                        ErrorKind::Type,
                        other.span(),
                        format!(
                        "an element rule defines `{name}[i]` or a boundary row like `{name}[0]`"
                    ),
                    ))
                }
            };
            let ctx = RuleCtx {
                output: name.clone(),
                row,
                outer: outer.clone(),
                info: info.clone(),
                dtype,
                sources: std::mem::take(&mut sources),
                taps: Vec::new(),
            };
            let mut body = Lowerer::new(&[], &[]);
            body.rule = Some(ctx);
            let v = body.expr(value)?;
            let out = body.output_value(
                v,
                &ast::Param {
                    name: decl.name.clone(),
                    ty: ast::TypeAnn {
                        dtype: Some(dtype),
                        dims: Vec::new(),
                        span: decl.ty.span,
                    },
                },
                value.span,
            )?;
            body.ir.outputs.push(out);
            let ctx = body.rule.take().expect("set above");
            sources = ctx.sources;
            let rule = Rule {
                body: body.ir,
                taps: ctx.taps.iter().map(|(t, _)| *t).collect(),
            };
            match row {
                Some(r) => {
                    if boundary.len() <= r {
                        boundary.resize_with(r + 1, || None);
                    }
                    if boundary[r].replace((rule, *span)).is_some() {
                        return Err(Error::at(
                            ErrorKind::Type,
                            *span,
                            format!("`{name}[{r}]` is defined twice"),
                        ));
                    }
                }
                None => {
                    if general.replace((rule, *span)).is_some() {
                        return Err(Error::at(
                            ErrorKind::Type,
                            *span,
                            format!("`{name}[i]` is defined twice"),
                        ));
                    }
                }
            }
        }
        let Some((general, gspan)) = general else {
            return Err(Error::at(
                ErrorKind::Type,
                decl.name.span,
                format!("output `{name}` has boundary rows but no rule for `{name}[i]`"),
            ));
        };
        let k = boundary.len();
        let mut rows = Vec::with_capacity(k);
        for (r, b) in boundary.into_iter().enumerate() {
            match b {
                Some((rule, _)) => rows.push(rule),
                None => {
                    return Err(Error::at(
                        ErrorKind::Type,
                        gspan,
                        format!(
                            "boundary row `{name}[{r}]` is missing (rows 0..{k} need one each)"
                        ),
                    ))
                }
            }
        }
        // Every lag the general rule reads needs its boundary rows.
        for t in &general.taps {
            if let TapSource::Prev(lag) = t.source {
                if lag as usize > k {
                    return Err(Error::at(
                        ErrorKind::Type,
                        gspan,
                        format!(
                            "`{name}[i]` reads `{name}[i-{lag}]`, so it needs boundary rows {}; `{name}[{k}]` is missing",
                            (0..lag).map(|r| format!("`{name}[{r}]`")).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
            if let TapSource::Source(j) = t.source {
                let reads_vector = self.ir.node(sources[j]).rank == 1;
                if reads_vector && (k as i64) + t.offset < 0 {
                    return Err(Error::at(
                        ErrorKind::Shape,
                        gspan,
                        format!(
                            "at row {k}, `{name}[i]` reads element {} of `{}`",
                            k as i64 + t.offset,
                            self.source_name(sources[j], &outer)
                        ),
                    ));
                }
            }
        }
        let rec = Recurrence {
            sources,
            boundary: rows,
            general,
        };
        if !rec.sources.iter().any(|s| self.ir.node(*s).rank == 1) {
            return Err(Error::at(
                ErrorKind::Shape,
                gspan,
                format!("the rules of `{name}` read no input vector (like `x[i]`), so its length is unknown"),
            ));
        }
        Ok(self.ir.push(Node {
            op: Op::Recur(Box::new(rec)),
            dtype,
            rank: 1,
            span: gspan,
        }))
    }

    fn source_name(&self, v: ValueId, outer: &HashMap<String, Val>) -> String {
        outer
            .iter()
            .find(|(_, val)| matches!(val, Val::Strong(id) if *id == v))
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| v.to_string())
    }

    /// A name inside an element rule: a scalar of the kernel is read as is;
    /// a vector must be indexed.
    fn rule_name(&mut self, id: &ast::Ident) -> Result<Val> {
        let ctx = self.rule.as_ref().expect("in a rule");
        if id.name == ctx.output {
            return Err(Error::at(
                ErrorKind::Type,
                id.span,
                format!("read `{0}` at an earlier row, like `{0}[i-1]`", id.name),
            ));
        }
        let Some(&v) = ctx.outer.get(&id.name) else {
            let mut err = Error::at(
                ErrorKind::UnknownName,
                id.span,
                format!("unknown name `{}`", id.name),
            );
            if let Some(s) = did_you_mean(&id.name, ctx.outer.keys().map(String::as_str)) {
                err = err.with_note(format!("did you mean `{s}`?"));
            }
            return Err(err);
        };
        let Val::Strong(outer_id) = v else {
            return Ok(v);
        };
        let (rank, _) = ctx.info[&outer_id];
        if rank != 0 {
            return Err(Error::at(
                ErrorKind::Shape,
                id.span,
                format!(
                    "`{0}` is an array: read one element, like `{0}[i]`",
                    id.name
                ),
            ));
        }
        Ok(Val::Strong(self.tap(outer_id, 0)))
    }

    /// `x[i+k]`, `x[3]`, `y[i-1]` inside an element rule.
    fn rule_index(&mut self, base: &ast::Ident, index: &ast::Index, span: Span) -> Result<Val> {
        let ctx = self.rule.as_ref().expect("in a rule");
        let offset = match (index, ctx.row) {
            (ast::Index::Relative { var, offset, .. }, _) if var.name == "i" => *offset,
            (ast::Index::Relative { var, .. }, _) => {
                return Err(Error::at(
                    ErrorKind::UnknownName,
                    var.span,
                    format!("the row index is `i`, not `{}`", var.name),
                ))
            }
            (ast::Index::Absolute { row, .. }, Some(r)) => row.saturating_sub(r as i64),
            (ast::Index::Absolute { span, .. }, None) => {
                return Err(Error::at(
                    ErrorKind::Type,
                    *span,
                    "in the rule for row `i`, read rows relative to `i`, like `x[i-1]`",
                ))
            }
        };
        // Offsets are bounded like lags, so `row + offset` and the reach
        // computed from it cannot overflow.
        if offset.unsigned_abs() > u64::from(u32::MAX) {
            return Err(Error::at(ErrorKind::Type, span, "index offset too large"));
        }
        if base.name == ctx.output {
            let here = match ctx.row {
                Some(r) => format!("{}[{}]", base.name, r as i64 + offset),
                None => format!("{}[{index}]", base.name),
            };
            if offset >= 0 {
                return Err(Error::at(
                    ErrorKind::Type,
                    span,
                    format!("`{here}` reads the output at or after the row being defined; a recurrence reads earlier rows only"),
                ));
            }
            if let Some(r) = ctx.row {
                if r as i64 + offset < 0 {
                    return Err(Error::at(
                        ErrorKind::Type,
                        span,
                        format!("`{here}` is before row 0"),
                    ));
                }
            }
            let lag = u32::try_from(-offset)
                .map_err(|_| Error::at(ErrorKind::Type, span, "lag too large"))?;
            let dtype = ctx.dtype;
            return Ok(Val::Strong(self.tap_prev(lag, dtype)));
        }
        let Some(&Val::Strong(outer_id)) = ctx.outer.get(&base.name) else {
            return Err(Error::at(
                ErrorKind::UnknownName,
                base.span,
                format!("`{}` is not a vector of the kernel", base.name),
            ));
        };
        let (rank, _) = ctx.info[&outer_id];
        if rank != 1 {
            return Err(Error::at(
                ErrorKind::Shape,
                span,
                format!(
                    "`{}` has rank {rank}; element rules index vectors",
                    base.name
                ),
            ));
        }
        if let Some(r) = ctx.row {
            if r as i64 + offset < 0 {
                return Err(Error::at(
                    ErrorKind::Shape,
                    span,
                    format!(
                        "row {r} reads element {} of `{}`",
                        r as i64 + offset,
                        base.name
                    ),
                ));
            }
        }
        Ok(Val::Strong(self.tap(outer_id, offset)))
    }

    /// The body input for outer value `v` at `offset` (made once).
    fn tap(&mut self, v: ValueId, offset: i64) -> ValueId {
        let ctx = self.rule.as_mut().expect("in a rule");
        let k = match ctx.sources.iter().position(|s| *s == v) {
            Some(k) => k,
            None => {
                ctx.sources.push(v);
                ctx.sources.len() - 1
            }
        };
        let (_, dtype) = ctx.info[&v];
        self.tap_node(
            Tap {
                source: TapSource::Source(k),
                offset,
            },
            dtype,
        )
    }

    fn tap_prev(&mut self, lag: u32, dtype: DType) -> ValueId {
        self.tap_node(
            Tap {
                source: TapSource::Prev(lag),
                offset: -i64::from(lag),
            },
            dtype,
        )
    }

    fn tap_node(&mut self, tap: Tap, dtype: DType) -> ValueId {
        let ctx = self.rule.as_ref().expect("in a rule");
        if let Some((_, node)) = ctx.taps.iter().find(|(t, _)| *t == tap) {
            return *node;
        }
        let k = self.ir.inputs.len();
        self.ir.inputs.push(InputDecl {
            name: format!("tap{k}"),
            dtype,
            rank: 0,
        });
        let node = self.ir.push(Node {
            op: Op::Input(k),
            dtype,
            rank: 0,
            span: Span::default(),
        });
        self.rule
            .as_mut()
            .expect("in a rule")
            .taps
            .push((tap, node));
        node
    }
}

/// A parameter's declared type against the type it is called with.
fn check_param_type(kernel: &ast::Kernel, param: &ast::Param, t: InputType) -> Result<()> {
    let err = |msg: String| {
        Err(
            Error::at(ErrorKind::Call, param.ty.span, msg).with_note(format!(
                "in kernel `{}`, parameter `{}: {}`",
                kernel.name.name, param.name.name, param.ty
            )),
        )
    };
    match param.ty.dtype {
        Some(d) if d != t.dtype => {
            return err(format!(
                "`{}` is declared {d}, but the call passes {}",
                param.name.name, t.dtype
            ))
        }
        None if !t.dtype.is_float() => {
            return err(format!(
                "`{}` takes any float dtype, but the call passes {}",
                param.name.name, t.dtype
            ))
        }
        _ => {}
    }
    if param.ty.dims.len() != usize::from(t.rank) {
        return err(format!(
            "`{}` is declared with rank {}, but the call passes rank {}",
            param.name.name,
            param.ty.dims.len(),
            t.rank
        ));
    }
    Ok(())
}

impl Lowerer<'_> {
    /// The value of an output, checked against its declaration.
    fn output_value(&mut self, v: Val, decl: &ast::Param, span: Span) -> Result<ValueId> {
        let rank = match v {
            Val::Strong(id) => self.ir.node(id).rank,
            _ => 0,
        };
        let dtype = match (decl.ty.dtype, v) {
            (Some(d), _) => d,
            (None, Val::Strong(id)) => self.ir.node(id).dtype,
            (None, _) => TypeClass::promote(self.class(v), TypeClass::WeakFloat).concrete(),
        };
        if let Val::Strong(id) = v {
            let have = self.ir.node(id).dtype;
            if have != dtype {
                return Err(Error::at(
                    ErrorKind::Type,
                    span,
                    format!(
                        "output `{}` is declared {dtype}, but this value is {have}",
                        decl.name.name
                    ),
                )
                .with_note(format!("convert it explicitly, e.g. `{dtype}(...)`")));
            }
        }
        let declared_rank = decl.ty.dims.len();
        if usize::from(rank) != declared_rank {
            return Err(Error::at(
                ErrorKind::Shape,
                span,
                format!(
                    "output `{}` is declared with rank {declared_rank}, but this value has rank {rank}",
                    decl.name.name
                ),
            ));
        }
        self.convert(v, dtype, span)
    }
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
    /// Reductions, scans, differences, shifts, windows: lane operations.
    Lane(LaneFunc),
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

/// The lane functions (reductions, scans, windows), by name.
#[derive(Clone, Copy, Debug, PartialEq)]
enum LaneFunc {
    Reduce(ReduceOp),
    Scan(ScanOp),
    Diff,
    Shift,
    Rolling(WindowOp),
    Ewm,
}

const LANE_FUNCS: &[(&str, LaneFunc)] = &[
    ("sum", LaneFunc::Reduce(ReduceOp::Sum)),
    ("prod", LaneFunc::Reduce(ReduceOp::Prod)),
    ("mean", LaneFunc::Reduce(ReduceOp::Mean)),
    ("min", LaneFunc::Reduce(ReduceOp::Min)),
    ("max", LaneFunc::Reduce(ReduceOp::Max)),
    ("var", LaneFunc::Reduce(ReduceOp::Var)),
    ("std", LaneFunc::Reduce(ReduceOp::Std)),
    ("any", LaneFunc::Reduce(ReduceOp::Any)),
    ("all", LaneFunc::Reduce(ReduceOp::All)),
    ("argmin", LaneFunc::Reduce(ReduceOp::ArgMin)),
    ("argmax", LaneFunc::Reduce(ReduceOp::ArgMax)),
    ("count_nonzero", LaneFunc::Reduce(ReduceOp::CountNonzero)),
    ("nansum", LaneFunc::Reduce(ReduceOp::NanSum)),
    ("nanmean", LaneFunc::Reduce(ReduceOp::NanMean)),
    ("nanmin", LaneFunc::Reduce(ReduceOp::NanMin)),
    ("nanmax", LaneFunc::Reduce(ReduceOp::NanMax)),
    ("nanvar", LaneFunc::Reduce(ReduceOp::NanVar)),
    ("nanstd", LaneFunc::Reduce(ReduceOp::NanStd)),
    ("cumsum", LaneFunc::Scan(ScanOp::Cumsum)),
    ("cumprod", LaneFunc::Scan(ScanOp::Cumprod)),
    ("cummax", LaneFunc::Scan(ScanOp::Cummax)),
    ("cummin", LaneFunc::Scan(ScanOp::Cummin)),
    ("diff", LaneFunc::Diff),
    ("shift", LaneFunc::Shift),
    ("rolling_sum", LaneFunc::Rolling(WindowOp::Sum)),
    ("rolling_mean", LaneFunc::Rolling(WindowOp::Mean)),
    ("rolling_var", LaneFunc::Rolling(WindowOp::Var)),
    ("rolling_std", LaneFunc::Rolling(WindowOp::Std)),
    ("rolling_min", LaneFunc::Rolling(WindowOp::Min)),
    ("rolling_max", LaneFunc::Rolling(WindowOp::Max)),
    ("ewm_mean", LaneFunc::Ewm),
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
        _ => LANE_FUNCS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, f)| Func::Lane(f)),
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
        .chain(LANE_FUNCS.iter().map(|(n, _)| *n))
}

impl<'a> Lowerer<'a> {
    /// A lowerer whose inputs are `names` with `types` (same length).
    fn new(names: &'a [String], types: &[InputType]) -> Lowerer<'a> {
        let ir = Ir {
            inputs: names
                .iter()
                .zip(types)
                .map(|(name, t)| InputDecl {
                    name: name.clone(),
                    dtype: t.dtype,
                    rank: t.rank,
                })
                .collect(),
            ..Ir::default()
        };
        Lowerer {
            ir,
            names,
            input_nodes: vec![None; names.len()],
            env: HashMap::new(),
            rule: None,
        }
    }
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
            ExprKind::Index { base, index } if self.rule.is_some() => {
                self.rule_index(base, index, e.span)
            }
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
        if self.rule.is_some() {
            return self.rule_name(id);
        }
        if let Some(v) = self.env.get(&id.name) {
            return Ok(*v);
        }
        let Some(k) = self.names.iter().position(|n| *n == id.name) else {
            let mut err = Error::at(
                ErrorKind::UnknownName,
                id.span,
                format!("unknown name `{}`", id.name),
            );
            let known = self
                .names
                .iter()
                .map(String::as_str)
                .chain(self.env.keys().map(String::as_str));
            if let Some(s) = did_you_mean(&id.name, known) {
                err = err.with_note(format!("did you mean `{s}`?"));
            }
            return Err(err);
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
        if let Func::Lane(lf) = f {
            return self.lane_call(lf, func, args, span);
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
            Func::Lane(_) => unreachable!("handled above"),
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

/// Keyword arguments of a lane function, parsed.
struct LaneArgs<'e> {
    positional: Vec<&'e ast::Expr>,
    axis: Option<(i64, Span)>,
    keepdims: bool,
    ddof: u32,
    n: Option<(i64, Span)>,
    fill: Option<&'e ast::Expr>,
}

/// An integer literal (possibly negated), or `None`.
fn int_literal(e: &ast::Expr) -> Option<i64> {
    match &e.kind {
        ExprKind::Int(v) => Some(*v),
        ExprKind::Unary(ast::UnaryOp::Neg, x) => match x.kind {
            ExprKind::Int(v) => v.checked_neg(),
            _ => None,
        },
        _ => None,
    }
}

impl Lowerer<'_> {
    fn lane_args<'e>(
        &self,
        lf: LaneFunc,
        func: &ast::Ident,
        args: &'e [Arg],
    ) -> Result<LaneArgs<'e>> {
        let name = func.name.as_str();
        let mut out = LaneArgs {
            positional: Vec::new(),
            axis: None,
            keepdims: false,
            ddof: 0,
            n: None,
            fill: None,
        };
        let takes_ddof = matches!(
            lf,
            LaneFunc::Reduce(ReduceOp::Var | ReduceOp::Std | ReduceOp::NanVar | ReduceOp::NanStd)
                | LaneFunc::Rolling(WindowOp::Var | WindowOp::Std)
        );
        let mut seen: Vec<&str> = Vec::new();
        for arg in args {
            let Some(kw) = &arg.name else {
                if !seen.is_empty() {
                    return Err(Error::at(
                        ErrorKind::Arity,
                        arg.value.span,
                        "positional argument after a keyword argument",
                    ));
                }
                out.positional.push(&arg.value);
                continue;
            };
            if seen.contains(&kw.name.as_str()) {
                return Err(Error::at(
                    ErrorKind::Arity,
                    kw.span,
                    format!("keyword argument `{}` given twice", kw.name),
                ));
            }
            seen.push(&kw.name);
            let v = &arg.value;
            let int = |what: &str| -> Result<i64> {
                int_literal(v).ok_or_else(|| {
                    Error::at(
                        ErrorKind::Type,
                        v.span,
                        format!("`{what}=` takes an integer literal"),
                    )
                })
            };
            match kw.name.as_str() {
                "axis" => out.axis = Some((int("axis")?, v.span)),
                "keepdims" if matches!(lf, LaneFunc::Reduce(_)) => match v.kind {
                    ExprKind::Bool(b) => out.keepdims = b,
                    _ => {
                        return Err(Error::at(
                            ErrorKind::Type,
                            v.span,
                            "`keepdims=` takes `true` or `false`",
                        ))
                    }
                },
                "ddof" if takes_ddof => {
                    let d = int("ddof")?;
                    out.ddof = u32::try_from(d).map_err(|_| {
                        Error::at(ErrorKind::Type, v.span, "`ddof=` must be 0 or more")
                    })?;
                }
                "n" if lf == LaneFunc::Diff => out.n = Some((int("n")?, v.span)),
                "fill" if lf == LaneFunc::Shift => out.fill = Some(v),
                _ => {
                    return Err(Error::at(
                        ErrorKind::Arity,
                        kw.span,
                        format!("`{name}` has no keyword argument `{}`", kw.name),
                    ))
                }
            }
        }
        Ok(out)
    }

    /// A reduction, scan, difference, shift, window or EWM.
    fn lane_call(
        &mut self,
        lf: LaneFunc,
        func: &ast::Ident,
        args: &[Arg],
        span: Span,
    ) -> Result<Val> {
        let name = func.name.as_str();
        if self.rule.is_some() {
            return Err(Error::at(
                ErrorKind::Type,
                func.span,
                format!(
                    "`{name}` works along an array, but inside an element rule every value is one element"
                ),
            )
            .with_note("compute it outside the rule with `let`, and read the result in the rule"));
        }
        let la = self.lane_args(lf, func, args)?;
        let wanted = match lf {
            LaneFunc::Reduce(_) | LaneFunc::Scan(_) | LaneFunc::Diff => 1,
            LaneFunc::Shift | LaneFunc::Rolling(_) | LaneFunc::Ewm => 2,
        };
        if la.positional.len() != wanted {
            let what = match lf {
                LaneFunc::Shift => "an array and a shift `k`",
                LaneFunc::Rolling(_) => "an array and a window length",
                LaneFunc::Ewm => "an array and `alpha`",
                _ => "one array",
            };
            return Err(Error::at(
                ErrorKind::Arity,
                span,
                format!(
                    "`{name}` takes {what}, got {} positional argument(s)",
                    la.positional.len()
                ),
            ));
        }
        let x_expr = la.positional[0];
        let x = self.expr(x_expr)?;
        let x = self.strong(x, x_expr.span);
        let (dtype, rank) = (self.ir.node(x).dtype, self.ir.node(x).rank);
        // The axis: reductions default to all axes; lane functions of a
        // vector run along it; a matrix needs `axis=` (diff: -1, as NumPy).
        let axis = match la.axis {
            Some((a, aspan)) => {
                let r = i64::from(rank);
                if rank == 0 || a < -r || a >= r {
                    return Err(Error::at(
                        ErrorKind::Shape,
                        aspan,
                        format!("axis {a} is out of range for an array of rank {rank}"),
                    ));
                }
                Some(a.rem_euclid(r) as u8)
            }
            None => match (lf, rank) {
                (LaneFunc::Reduce(_), _) => None,
                (_, 0) => {
                    return Err(Error::at(
                        ErrorKind::Shape,
                        x_expr.span,
                        format!("`{name}` needs an array, not a scalar"),
                    ))
                }
                (_, 1) => Some(0),
                (LaneFunc::Diff, _) => Some(rank - 1),
                _ => {
                    return Err(Error::at(
                        ErrorKind::Shape,
                        span,
                        format!("`{name}` of a matrix needs `axis=0` or `axis=1`"),
                    ))
                }
            },
        };
        let float = dtype.float_of();
        let wide = if dtype.is_float() { dtype } else { DType::I64 };
        // Operand dtype and result dtype.
        let (operand, result) = match lf {
            LaneFunc::Reduce(op) => match op {
                ReduceOp::Sum | ReduceOp::Prod | ReduceOp::NanSum => (wide, wide),
                ReduceOp::Mean
                | ReduceOp::Var
                | ReduceOp::Std
                | ReduceOp::NanMean
                | ReduceOp::NanVar
                | ReduceOp::NanStd => (float, float),
                ReduceOp::Min | ReduceOp::Max | ReduceOp::NanMin | ReduceOp::NanMax => {
                    (dtype, dtype)
                }
                ReduceOp::Any | ReduceOp::All => (DType::Bool, DType::Bool),
                ReduceOp::ArgMin | ReduceOp::ArgMax => (dtype, DType::I64),
                ReduceOp::CountNonzero => (DType::Bool, DType::I64),
            },
            LaneFunc::Scan(ScanOp::Cumsum | ScanOp::Cumprod) => (wide, wide),
            LaneFunc::Scan(_) | LaneFunc::Diff | LaneFunc::Shift => (dtype, dtype),
            LaneFunc::Rolling(_) | LaneFunc::Ewm => (float, float),
        };
        let kind = match lf {
            LaneFunc::Reduce(op) => LaneKind::Reduce(op),
            LaneFunc::Scan(op) => LaneKind::Scan(op),
            LaneFunc::Diff => {
                let n = match la.n {
                    None => 1,
                    Some((n, nspan)) => u32::try_from(n)
                        .map_err(|_| Error::at(ErrorKind::Type, nspan, "`n=` must be 0 or more"))?,
                };
                LaneKind::Diff(n)
            }
            LaneFunc::Shift => {
                let kexpr = la.positional[1];
                let k = int_literal(kexpr).ok_or_else(|| {
                    Error::at(
                        ErrorKind::Type,
                        kexpr.span,
                        "`shift` takes an integer literal `k`",
                    )
                })?;
                let fill = match la.fill {
                    Some(f) => {
                        let v = self.expr(f)?;
                        if matches!(v, Val::WeakFloat(_)) && !dtype.is_float() {
                            return Err(Error::at(
                                ErrorKind::Type,
                                f.span,
                                format!("a float `fill=` for a {dtype} array would be truncated"),
                            ));
                        }
                        let c = self.convert(v, dtype, f.span)?;
                        match self.ir.node(c).op {
                            Op::Const(c) => c,
                            _ => {
                                return Err(Error::at(
                                    ErrorKind::Type,
                                    f.span,
                                    "`fill=` takes a literal",
                                ))
                            }
                        }
                    }
                    None if dtype == DType::F32 => Scalar::F32(f32::NAN),
                    None if dtype == DType::F64 => Scalar::F64(f64::NAN),
                    None => {
                        return Err(Error::at(
                            ErrorKind::Type,
                            span,
                            format!("`shift` of a {dtype} array needs `fill=` (NaN is a float)"),
                        ))
                    }
                };
                LaneKind::Shift { k, fill }
            }
            LaneFunc::Rolling(op) => LaneKind::Rolling(op),
            LaneFunc::Ewm => LaneKind::Ewm,
        };
        let param = match lf {
            LaneFunc::Rolling(_) => Some(self.lane_param(la.positional[1], true, name)?),
            LaneFunc::Ewm => Some(self.lane_param(la.positional[1], false, name)?),
            _ => None,
        };
        let arg = self.convert(Val::Strong(x), operand, x_expr.span)?;
        let op = LaneOp {
            kind,
            axis,
            keepdims: la.keepdims,
            ddof: la.ddof,
        };
        let node = Node {
            op: Op::Lane { op, arg, param },
            dtype: result,
            rank: op.result_rank(rank),
            span,
        };
        Ok(Val::Strong(self.ir.push(node)))
    }

    /// The window length (`integer`) or `alpha` of a lane function: a
    /// literal or a scalar input, so its value is known before code runs.
    fn lane_param(&mut self, e: &ast::Expr, integer: bool, name: &str) -> Result<ValueId> {
        let what = if integer { "window length" } else { "alpha" };
        let v = self.expr(e)?;
        let bad = |msg: String| Err(Error::at(ErrorKind::Type, e.span, msg));
        match v {
            Val::WeakInt(w) if integer => {
                if w < 1 {
                    return bad(format!(
                        "the {what} of `{name}` must be at least 1, got {w}"
                    ));
                }
                Ok(self.constant(Scalar::I64(w), e.span))
            }
            Val::WeakInt(_) | Val::WeakFloat(_) if !integer => {
                let a = match v {
                    Val::WeakInt(a) => a as f64,
                    Val::WeakFloat(a) => a,
                    Val::Strong(_) => unreachable!(),
                };
                if !(a > 0.0 && a <= 1.0) {
                    return bad(format!("`alpha` of `{name}` must be in (0, 1], got {a}"));
                }
                Ok(self.constant(Scalar::F64(a), e.span))
            }
            Val::Strong(id)
                if matches!(self.ir.node(id).op, Op::Input(_))
                    && self.ir.node(id).rank == 0
                    && (if integer {
                        self.ir.node(id).dtype.is_int()
                    } else {
                        self.ir.node(id).dtype != DType::Bool
                    }) =>
            {
                Ok(id)
            }
            _ => bad(format!(
                "the {what} of `{name}` must be {} literal or a scalar input",
                if integer { "an integer" } else { "a" }
            )),
        }
    }
}

fn bit_symbol(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::BitAnd => "&",
        BinaryOp::BitOr => "|",
        _ => "^",
    }
}
