//! The untyped syntax tree, as the parser builds it: every node carries the
//! byte span of the source it came from. Nothing here knows dtypes of
//! inputs, shapes, or what a function name means; `lower` decides that.

use std::fmt;

use crate::error::Span;
use crate::types::DType;

/// A name as written, with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// An integer literal (weakly typed: takes the dtype of what it meets).
    Int(i64),
    /// A float literal, or `nan`, `inf`, `pi`, `e` (weakly typed).
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// A reference to an input, a `let` binding or a kernel parameter.
    Name(Ident),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `f(args...)`, including casts (`f32(x)`), reductions, scans and
    /// windows; `lower` resolves the name.
    Call {
        func: Ident,
        args: Vec<Arg>,
    },
    /// `[a, b, c]`, as in `select([c1, c2], [v1, v2], default)`.
    List(Vec<Expr>),
    /// `x[i]`, `y[i-1]`, `x[i+2]`, `y[0]` in kernel mode.
    Index {
        base: Ident,
        index: Index,
    },
}

/// A call argument, positional (`name == None`) or keyword (`axis=1`).
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

/// The index of an element access in kernel mode.
#[derive(Clone, Debug, PartialEq)]
pub enum Index {
    /// `i + offset` where `var` names the index variable (`i`).
    Relative { var: Ident, offset: i64, span: Span },
    /// A constant row, as in the boundary rule `y[0] = ...`.
    Absolute { row: i64, span: Span },
}

impl Index {
    pub fn span(&self) -> Span {
        match self {
            Index::Relative { span, .. } | Index::Absolute { span, .. } => *span,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `~x` (bitwise not; logical not for bool)
    BitNot,
    /// `not x` (bool only)
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Or,
    And,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    BitOr,
    BitXor,
    BitAnd,
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
}

impl UnaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::BitNot => "~",
            UnaryOp::Not => "not ",
        }
    }
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::BitOr => "|",
            BinaryOp::BitXor => "^",
            BinaryOp::BitAnd => "&",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::FloorDiv => "//",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "**",
        }
    }
}

/// A source file in kernel mode: one or more kernels.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    pub kernels: Vec<Kernel>,
}

/// `kernel name(params) -> (outputs) { body }`
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    pub name: Ident,
    pub params: Vec<Param>,
    pub outputs: Vec<Param>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// `x: f64[n]`, `alpha: f64`, `x: [n]` (dtype left to the call).
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeAnn,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TypeAnn {
    /// `None` for `[n]`: any float dtype, specialised per call.
    pub dtype: Option<DType>,
    /// Named dimensions; empty for a scalar.
    pub dims: Vec<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `let name = value`
    Let {
        name: Ident,
        value: Expr,
        span: Span,
    },
    /// `name = value` (whole output) or `name[index] = value` (element rule).
    Assign {
        target: Ident,
        index: Option<Index>,
        value: Expr,
        span: Span,
    },
}

// ---------------------------------------------------------------------------
// Canonical printing. `Display` prints a fully parenthesised form that
// ignores whitespace and comments; it is the compile cache's key for an
// expression, so two spellings of the same tree share compiled code.

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Int(v) => write!(f, "{v}"),
            ExprKind::Float(v) => {
                if v.is_nan() {
                    f.write_str("nan")
                } else if v.is_infinite() {
                    f.write_str(if *v > 0.0 { "inf" } else { "(-inf)" })
                } else {
                    // `{:?}` round-trips and always shows a '.' or exponent.
                    write!(f, "{v:?}")
                }
            }
            ExprKind::Bool(v) => write!(f, "{v}"),
            ExprKind::Name(id) => f.write_str(&id.name),
            ExprKind::Unary(op, x) => write!(f, "({}{x})", op.symbol()),
            ExprKind::Binary(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            ExprKind::Call { func, args } => {
                write!(f, "{}(", func.name)?;
                for (k, arg) in args.iter().enumerate() {
                    if k > 0 {
                        f.write_str(", ")?;
                    }
                    if let Some(name) = &arg.name {
                        write!(f, "{}=", name.name)?;
                    }
                    write!(f, "{}", arg.value)?;
                }
                f.write_str(")")
            }
            ExprKind::List(items) => {
                f.write_str("[")?;
                for (k, item) in items.iter().enumerate() {
                    if k > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            ExprKind::Index { base, index } => write!(f, "{}[{index}]", base.name),
        }
    }
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Index::Relative { var, offset, .. } => match offset.cmp(&0) {
                std::cmp::Ordering::Equal => f.write_str(&var.name),
                std::cmp::Ordering::Greater => write!(f, "{}+{offset}", var.name),
                std::cmp::Ordering::Less => write!(f, "{}-{}", var.name, offset.unsigned_abs()),
            },
            Index::Absolute { row, .. } => write!(f, "{row}"),
        }
    }
}

impl fmt::Display for TypeAnn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(dtype) = self.dtype {
            write!(f, "{dtype}")?;
        }
        if !self.dims.is_empty() {
            let dims: Vec<&str> = self.dims.iter().map(|d| d.name.as_str()).collect();
            write!(f, "[{}]", dims.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params = |ps: &[Param]| {
            ps.iter()
                .map(|p| format!("{}: {}", p.name.name, p.ty))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            f,
            "kernel {}({}) -> ({}) {{",
            self.name.name,
            params(&self.params),
            params(&self.outputs)
        )?;
        for stmt in &self.body {
            match stmt {
                Stmt::Let { name, value, .. } => writeln!(f, "    let {} = {value}", name.name)?,
                Stmt::Assign {
                    target,
                    index: None,
                    value,
                    ..
                } => writeln!(f, "    {} = {value}", target.name)?,
                Stmt::Assign {
                    target,
                    index: Some(index),
                    value,
                    ..
                } => writeln!(f, "    {}[{index}] = {value}", target.name)?,
            }
        }
        f.write_str("}")
    }
}
