//! Dtypes, scalar values, NumPy (NEP 50) promotion and runtime shapes.

use std::fmt;

/// The element types of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    I32,
    I64,
    F32,
    F64,
}

impl DType {
    pub const ALL: [DType; 5] = [DType::Bool, DType::I32, DType::I64, DType::F32, DType::F64];

    /// Size of one element in bytes (bool is one byte, 0 or 1).
    pub fn size(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    pub fn is_int(self) -> bool {
        matches!(self, DType::I32 | DType::I64)
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }

    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The float dtype a float-only function computes in for this input:
    /// `f32` stays `f32`, everything else goes to `f64` (NumPy's rule for
    /// `sqrt(int)` and friends).
    pub fn float_of(self) -> DType {
        if self == DType::F32 {
            DType::F32
        } else {
            DType::F64
        }
    }

    /// NumPy's promotion of two strongly typed dtypes.
    pub fn promote(a: DType, b: DType) -> DType {
        use DType::*;
        match (a, b) {
            _ if a == b => a,
            (Bool, x) | (x, Bool) => x,
            (I32, I64) | (I64, I32) => I64,
            // An integer with f32 needs f64 to hold it (NumPy).
            (I32 | I64, F32) | (F32, I32 | I64) => F64,
            _ => F64,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The dtype of an operand during type checking: either a strong dtype (an
/// array, a typed scalar input, a cast) or a weak literal kind (NEP 50), which
/// takes the dtype of what it meets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TypeClass {
    Strong(DType),
    /// An integer literal: `i64` on its own.
    WeakInt,
    /// A float literal: `f64` on its own.
    WeakFloat,
}

impl TypeClass {
    /// The dtype the operand has when nothing else decides it.
    pub fn concrete(self) -> DType {
        match self {
            TypeClass::Strong(d) => d,
            TypeClass::WeakInt => DType::I64,
            TypeClass::WeakFloat => DType::F64,
        }
    }

    pub fn is_float(self) -> bool {
        match self {
            TypeClass::Strong(d) => d.is_float(),
            TypeClass::WeakInt => false,
            TypeClass::WeakFloat => true,
        }
    }

    /// NEP 50 promotion: strong with strong by NumPy's table; a weak literal
    /// takes the strong operand's dtype unless its kind is higher (a float
    /// literal with an integer or bool array gives `f64`; an integer literal
    /// with a bool array gives `i64`).
    pub fn promote(a: TypeClass, b: TypeClass) -> TypeClass {
        use TypeClass::*;
        match (a, b) {
            (Strong(x), Strong(y)) => Strong(DType::promote(x, y)),
            (Strong(x), WeakInt) | (WeakInt, Strong(x)) => match x {
                DType::Bool => Strong(DType::I64),
                _ => Strong(x),
            },
            (Strong(x), WeakFloat) | (WeakFloat, Strong(x)) => {
                if x.is_float() {
                    Strong(x)
                } else {
                    Strong(DType::F64)
                }
            }
            (WeakInt, WeakInt) => WeakInt,
            _ => WeakFloat,
        }
    }
}

impl fmt::Display for TypeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeClass::Strong(d) => write!(f, "{d}"),
            TypeClass::WeakInt => f.write_str("int literal"),
            TypeClass::WeakFloat => f.write_str("float literal"),
        }
    }
}

/// One value of a dtype.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    Bool(bool),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
}

impl Scalar {
    pub fn dtype(self) -> DType {
        match self {
            Scalar::Bool(_) => DType::Bool,
            Scalar::I32(_) => DType::I32,
            Scalar::I64(_) => DType::I64,
            Scalar::F32(_) => DType::F32,
            Scalar::F64(_) => DType::F64,
        }
    }

    /// The value as the bytes of its dtype (native endian), as buffers hold it.
    pub fn to_bits(self) -> u64 {
        match self {
            Scalar::Bool(v) => u64::from(v),
            Scalar::I32(v) => u64::from(v as u32),
            Scalar::I64(v) => v as u64,
            Scalar::F32(v) => u64::from(v.to_bits()),
            Scalar::F64(v) => v.to_bits(),
        }
    }

    /// Reads a value of `dtype` from the low bytes of `bits` (inverse of
    /// [`Scalar::to_bits`]).
    pub fn from_bits(dtype: DType, bits: u64) -> Scalar {
        match dtype {
            DType::Bool => Scalar::Bool(bits & 0xff != 0),
            DType::I32 => Scalar::I32(bits as u32 as i32),
            DType::I64 => Scalar::I64(bits as i64),
            DType::F32 => Scalar::F32(f32::from_bits(bits as u32)),
            DType::F64 => Scalar::F64(f64::from_bits(bits)),
        }
    }

    /// Bitwise identity (NaN equals NaN with the same payload, -0.0 != 0.0).
    pub fn bits_eq(self, other: Scalar) -> bool {
        self.dtype() == other.dtype() && self.to_bits() == other.to_bits()
    }

    pub fn as_f64(self) -> f64 {
        match self {
            Scalar::Bool(v) => f64::from(u8::from(v)),
            Scalar::I32(v) => f64::from(v),
            Scalar::I64(v) => v as f64,
            Scalar::F32(v) => f64::from(v),
            Scalar::F64(v) => v,
        }
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Bool(v) => write!(f, "{v}"),
            Scalar::I32(v) => write!(f, "{v}"),
            Scalar::I64(v) => write!(f, "{v}"),
            Scalar::F32(v) => fmt_float(f, f64::from(*v)),
            Scalar::F64(v) => fmt_float(f, *v),
        }
    }
}

fn fmt_float(f: &mut fmt::Formatter<'_>, v: f64) -> fmt::Result {
    if v.is_nan() {
        f.write_str("nan")
    } else if v.is_infinite() {
        f.write_str(if v > 0.0 { "inf" } else { "-inf" })
    } else {
        write!(f, "{v:?}")
    }
}

/// Maximum rank the language supports (scalars, vectors, matrices).
pub const MAX_RANK: usize = 2;

/// A concrete shape of rank 0, 1 or 2.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Shape {
    dims: [usize; MAX_RANK],
    rank: u8,
}

impl Shape {
    pub const SCALAR: Shape = Shape {
        dims: [1; MAX_RANK],
        rank: 0,
    };

    /// `None` if `dims` has more than two axes.
    pub fn new(dims: &[usize]) -> Option<Shape> {
        if dims.len() > MAX_RANK {
            return None;
        }
        let mut shape = Shape {
            dims: [1; MAX_RANK],
            rank: dims.len() as u8,
        };
        shape.dims[..dims.len()].copy_from_slice(dims);
        Some(shape)
    }

    pub fn vector(n: usize) -> Shape {
        Shape {
            dims: [n, 1],
            rank: 1,
        }
    }

    pub fn matrix(n: usize, m: usize) -> Shape {
        Shape {
            dims: [n, m],
            rank: 2,
        }
    }

    pub fn rank(&self) -> usize {
        usize::from(self.rank)
    }

    pub fn dims(&self) -> &[usize] {
        &self.dims[..self.rank()]
    }

    /// Number of elements, or `None` if it overflows `usize`.
    pub fn checked_len(&self) -> Option<usize> {
        self.dims()
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// NumPy broadcasting of two shapes (trailing axes aligned; an extent of
    /// 1 stretches). `None` if they are incompatible.
    pub fn broadcast(a: Shape, b: Shape) -> Option<Shape> {
        let rank = a.rank().max(b.rank());
        let mut dims = [1usize; MAX_RANK];
        for (k, dim) in dims.iter_mut().enumerate().take(rank) {
            // Axis k of the result is axis k - (rank - r) of an operand of rank r.
            let da = a.axis_from_end(rank - k);
            let db = b.axis_from_end(rank - k);
            *dim = match (da, db) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => return None,
            };
        }
        Shape::new(&dims[..rank])
    }

    /// Extent of the axis `k` places from the end (1-based), 1 if absent.
    pub fn axis_from_end(&self, k: usize) -> usize {
        if k <= self.rank() {
            self.dims[self.rank() - k]
        } else {
            1
        }
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dims() {
            [] => f.write_str("()"),
            [n] => write!(f, "({n},)"),
            [n, m] => write!(f, "({n}, {m})"),
            _ => unreachable!("rank is at most 2"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DType::*;
    use TypeClass::*;

    #[test]
    fn nep50_promotion() {
        assert_eq!(TypeClass::promote(Strong(F32), WeakFloat), Strong(F32));
        assert_eq!(TypeClass::promote(Strong(I32), WeakInt), Strong(I32));
        assert_eq!(TypeClass::promote(Strong(I64), WeakFloat), Strong(F64));
        assert_eq!(TypeClass::promote(Strong(Bool), WeakInt), Strong(I64));
        assert_eq!(TypeClass::promote(Strong(F32), Strong(F64)), Strong(F64));
        assert_eq!(TypeClass::promote(Strong(I32), Strong(F32)), Strong(F64));
        assert_eq!(TypeClass::promote(Strong(I32), Strong(I64)), Strong(I64));
        assert_eq!(TypeClass::promote(Strong(Bool), Strong(F32)), Strong(F32));
        assert_eq!(TypeClass::promote(WeakInt, WeakFloat), WeakFloat);
    }

    #[test]
    fn broadcasting() {
        let b = |a: &[usize], c: &[usize]| {
            Shape::broadcast(Shape::new(a).unwrap(), Shape::new(c).unwrap())
        };
        assert_eq!(b(&[3, 1], &[3, 4]), Some(Shape::matrix(3, 4)));
        assert_eq!(b(&[4], &[3, 4]), Some(Shape::matrix(3, 4)));
        assert_eq!(b(&[], &[5]), Some(Shape::vector(5)));
        assert_eq!(b(&[3], &[3, 4]), None);
        assert_eq!(b(&[1], &[0]), Some(Shape::vector(0)));
    }
}
