//! The reference interpreter: the oracle every other execution path is
//! tested against.
//!
//! It is simple enough to trust and slow on purpose: it evaluates the IR one
//! node at a time, in order, materialising every node as a row-major
//! [`Array`] of its full shape, one element at a time, through
//! [`scalar::try_unary`], [`scalar::try_binary`] and [`scalar::cast`] (the
//! same definitions the JIT calls or is tested against). Operands are read
//! with NumPy broadcasting: axes are aligned at the end, and an operand axis
//! of extent 1 is read at index 0. No fusion, no strides tricks, no unsafe.

use crate::array::{Array, Data, View};
use crate::error::{Error, ErrorKind, Result};
use crate::ir::{Ir, Op};
use crate::scalar;
use crate::types::{Scalar, Shape, MAX_RANK};

/// Evaluates `ir` on `inputs` (one view per declared input, in order) and
/// returns the arrays of `ir.outputs`, in order (rank-0 results are rank-0
/// arrays).
///
/// Errors: [`ErrorKind::Call`] if an input is missing, extra, or of the
/// wrong dtype or rank (naming it); [`ErrorKind::Shape`] if shapes do not
/// broadcast at some node (with that node's span); [`ErrorKind::Internal`]
/// if the IR breaks its invariants.
pub fn eval(ir: &Ir, inputs: &[View<'_>]) -> Result<Vec<Array>> {
    ir.validate()?;
    check_inputs(ir, inputs)?;
    let input_shapes: Vec<Shape> = inputs.iter().map(View::shape).collect();
    let shapes = ir.infer_shapes(&input_shapes)?;

    let mut values: Vec<Array> = Vec::with_capacity(ir.nodes.len());
    for (node, &shape) in ir.nodes.iter().zip(&shapes) {
        let len = shape.checked_len().ok_or_else(|| {
            Error::at(
                ErrorKind::Shape,
                node.span,
                format!("an array of shape {shape} overflows the address space"),
            )
        })?;
        let mut data = Data::zeros(node.dtype, len);
        // Reads operand `id` at the element of this node at `index`.
        let read =
            |id: crate::ir::ValueId, index: &[usize]| broadcast_get(&values[id.index()], index);
        for flat in 0..len {
            let index = unravel(shape, flat);
            let index = &index[..shape.rank()];
            let value = match node.op {
                Op::Input(k) => inputs[k].get(index),
                Op::Const(c) => c,
                Op::Unary(op, a) => {
                    let x = read(a, index);
                    scalar::try_unary(op, x).ok_or_else(|| {
                        Error::internal(format!("`{}` is not defined on {}", op.name(), x.dtype()))
                    })?
                }
                Op::Binary(op, a, b) => {
                    let (x, y) = (read(a, index), read(b, index));
                    scalar::try_binary(op, x, y).ok_or_else(|| {
                        Error::internal(format!(
                            "`{}` is not defined on {} and {}",
                            op.name(),
                            x.dtype(),
                            y.dtype()
                        ))
                    })?
                }
                Op::Cast(a) => scalar::cast(read(a, index), node.dtype),
                Op::Where(c, a, b) => match read(c, index) {
                    Scalar::Bool(true) => read(a, index),
                    Scalar::Bool(false) => read(b, index),
                    other => {
                        return Err(Error::internal(format!(
                            "where: condition of dtype {}",
                            other.dtype()
                        )))
                    }
                },
            };
            if value.dtype() != node.dtype {
                return Err(Error::internal(format!(
                    "a node of dtype {} computed a {}",
                    node.dtype,
                    value.dtype()
                )));
            }
            data.set(flat, value);
        }
        values.push(Array::from_data(data, shape)?);
    }

    Ok(ir
        .outputs
        .iter()
        .map(|id| values[id.index()].clone())
        .collect())
}

/// Checks the number, dtypes and ranks of the inputs against the IR's
/// declarations.
fn check_inputs(ir: &Ir, inputs: &[View<'_>]) -> Result<()> {
    if inputs.len() != ir.inputs.len() {
        let names: Vec<&str> = ir.inputs.iter().map(|d| d.name.as_str()).collect();
        return Err(Error::new(
            ErrorKind::Call,
            format!(
                "expected {} input(s) ({}), got {}",
                ir.inputs.len(),
                names.join(", "),
                inputs.len()
            ),
        ));
    }
    for (decl, view) in ir.inputs.iter().zip(inputs) {
        if view.dtype() != decl.dtype {
            return Err(Error::new(
                ErrorKind::Call,
                format!(
                    "input `{}` has dtype {}, expected {}",
                    decl.name,
                    view.dtype(),
                    decl.dtype
                ),
            ));
        }
        if view.shape().rank() != usize::from(decl.rank) {
            return Err(Error::new(
                ErrorKind::Call,
                format!(
                    "input `{}` has shape {} (rank {}), expected rank {}",
                    decl.name,
                    view.shape(),
                    view.shape().rank(),
                    decl.rank
                ),
            ));
        }
    }
    Ok(())
}

/// The row-major index of element `flat` of `shape` (entries past the rank
/// are 0).
fn unravel(shape: Shape, flat: usize) -> [usize; MAX_RANK] {
    let mut index = [0; MAX_RANK];
    let mut rest = flat;
    for axis in (0..shape.rank()).rev() {
        let extent = shape.dims()[axis];
        index[axis] = rest % extent;
        rest /= extent;
    }
    index
}

/// Element of `array` read at `index` of a broadcast result of rank
/// `index.len()`: trailing axes aligned, extents of 1 read at 0.
fn broadcast_get(array: &Array, index: &[usize]) -> Scalar {
    let shape = array.shape();
    let dims = shape.dims();
    let skip = index.len() - dims.len();
    let mut flat = 0;
    for (axis, &extent) in dims.iter().enumerate() {
        let i = if extent == 1 { 0 } else { index[skip + axis] };
        flat = flat * extent + i;
    }
    array.get(flat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::Buffer;
    use crate::error::Span;
    use crate::ir::{BinaryOp, InputDecl, Node, UnaryOp, ValueId};
    use crate::types::DType;

    fn input(ir: &mut Ir, name: &str, dtype: DType, rank: u8) -> ValueId {
        let k = ir.inputs.len();
        ir.inputs.push(InputDecl {
            name: name.to_string(),
            dtype,
            rank,
        });
        ir.push(Node {
            op: Op::Input(k),
            dtype,
            rank,
            span: Span::new(0, 0),
        })
    }

    fn node(ir: &mut Ir, op: Op, dtype: DType, span: Span) -> ValueId {
        let rank = op
            .operands()
            .iter()
            .map(|&o| ir.node(o).rank)
            .max()
            .unwrap_or(0);
        ir.push(Node {
            op,
            dtype,
            rank,
            span,
        })
    }

    fn sp() -> Span {
        Span::new(0, 1)
    }

    fn f64_data(a: &Array) -> Vec<f64> {
        match a.data() {
            Data::F64(v) => v.clone(),
            other => panic!("not f64: {other:?}"),
        }
    }

    #[test]
    fn mul_add_broadcasting() {
        // a: f64[2, 3], b: f64[3], c: f64  ->  a * b + c
        let mut ir = Ir::default();
        let a = input(&mut ir, "a", DType::F64, 2);
        let b = input(&mut ir, "b", DType::F64, 1);
        let c = input(&mut ir, "c", DType::F64, 0);
        let ab = node(&mut ir, Op::Binary(BinaryOp::Mul, a, b), DType::F64, sp());
        let out = node(&mut ir, Op::Binary(BinaryOp::Add, ab, c), DType::F64, sp());
        let two = node(&mut ir, Op::Const(Scalar::F64(2.0)), DType::F64, sp());
        let bc = node(&mut ir, Op::Binary(BinaryOp::Mul, c, two), DType::F64, sp());
        ir.outputs = vec![out, b, bc];

        let av = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let bv = [10.0, 20.0, 30.0];
        let cv = [0.5];
        let views = [
            View::contiguous(Buffer::F64(&av), &[2, 3]).unwrap(),
            View::vector(Buffer::F64(&bv)),
            View::contiguous(Buffer::F64(&cv), &[]).unwrap(),
        ];
        let res = eval(&ir, &views).unwrap();
        assert_eq!(res.len(), 3);
        assert_eq!(res[0].shape(), Shape::matrix(2, 3));
        assert_eq!(
            f64_data(&res[0]),
            vec![10.5, 40.5, 90.5, 40.5, 100.5, 180.5]
        );
        assert_eq!(f64_data(&res[1]), bv.to_vec());
        assert_eq!(res[2].shape(), Shape::SCALAR);
        assert_eq!(res[2].as_scalar(), Some(Scalar::F64(1.0)));
    }

    #[test]
    fn column_broadcast_and_strided_input() {
        // x: f64[2, 1] read from a strided view, y: f64[2, 3] transposed.
        let mut ir = Ir::default();
        let x = input(&mut ir, "x", DType::F64, 2);
        let y = input(&mut ir, "y", DType::F64, 2);
        let s = node(&mut ir, Op::Binary(BinaryOp::Sub, y, x), DType::F64, sp());
        ir.outputs = vec![s];
        let xb = [100.0, -1.0, 200.0];
        // Storage of y is the 3x2 matrix [[1,4],[2,5],[3,6]]; the view is its
        // transpose, [[1,2,3],[4,5,6]].
        let yb = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
        let views = [
            View::strided(Buffer::F64(&xb), 0, &[2, 1], &[2, 1]).unwrap(),
            View::strided(Buffer::F64(&yb), 0, &[2, 3], &[1, 2]).unwrap(),
        ];
        let res = eval(&ir, &views).unwrap();
        assert_eq!(
            f64_data(&res[0]),
            vec![-99.0, -98.0, -97.0, -196.0, -195.0, -194.0]
        );
    }

    #[test]
    fn where_select() {
        // where(x > 0.5, x * 10, x * 0.5)
        let mut ir = Ir::default();
        let x = input(&mut ir, "x", DType::F64, 1);
        let half = node(&mut ir, Op::Const(Scalar::F64(0.5)), DType::F64, sp());
        let ten = node(&mut ir, Op::Const(Scalar::F64(10.0)), DType::F64, sp());
        let cond = node(
            &mut ir,
            Op::Binary(BinaryOp::Gt, x, half),
            DType::Bool,
            sp(),
        );
        let hi = node(&mut ir, Op::Binary(BinaryOp::Mul, x, ten), DType::F64, sp());
        let lo = node(
            &mut ir,
            Op::Binary(BinaryOp::Mul, x, half),
            DType::F64,
            sp(),
        );
        let w = node(&mut ir, Op::Where(cond, hi, lo), DType::F64, sp());
        ir.outputs = vec![w, cond];
        let xv = [0.0, 1.0, 0.5, f64::NAN, 2.0];
        let res = eval(&ir, &[View::vector(Buffer::F64(&xv))]).unwrap();
        let got = f64_data(&res[0]);
        assert_eq!(got[..3], [0.0, 10.0, 0.25]);
        assert!(got[3].is_nan());
        assert_eq!(got[4], 20.0);
        assert_eq!(
            res[1].data(),
            &Data::Bool(vec![false, true, false, false, true])
        );
    }

    #[test]
    fn casts_and_unary() {
        let mut ir = Ir::default();
        let x = input(&mut ir, "x", DType::F64, 1);
        let i = node(&mut ir, Op::Cast(x), DType::I32, sp());
        let b = node(&mut ir, Op::Cast(x), DType::Bool, sp());
        let n = node(&mut ir, Op::Unary(UnaryOp::Neg, i), DType::I32, sp());
        let nan = node(&mut ir, Op::Unary(UnaryOp::IsNan, x), DType::Bool, sp());
        ir.outputs = vec![i, b, n, nan];
        let xv = [-2.7, f64::NAN, 1e300, 0.0, -1e300];
        let res = eval(&ir, &[View::vector(Buffer::F64(&xv))]).unwrap();
        assert_eq!(
            res[0].data(),
            &Data::I32(vec![-2, 0, i32::MAX, 0, i32::MIN])
        );
        assert_eq!(
            res[1].data(),
            &Data::Bool(vec![true, true, true, false, true])
        );
        assert_eq!(
            res[2].data(),
            &Data::I32(vec![2, 0, -i32::MAX, 0, i32::MIN])
        );
        assert_eq!(
            res[3].data(),
            &Data::Bool(vec![false, true, false, false, false])
        );
    }

    #[test]
    fn shape_error_names_the_node() {
        let mut ir = Ir::default();
        let a = input(&mut ir, "a", DType::F64, 1);
        let b = input(&mut ir, "b", DType::F64, 1);
        let s = node(
            &mut ir,
            Op::Binary(BinaryOp::Add, a, b),
            DType::F64,
            Span::new(4, 9),
        );
        ir.outputs = vec![s];
        let (av, bv) = ([1.0; 3], [1.0; 4]);
        let err = eval(
            &ir,
            &[
                View::vector(Buffer::F64(&av)),
                View::vector(Buffer::F64(&bv)),
            ],
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Shape);
        assert_eq!(err.span(), Some(Span::new(4, 9)));
        assert!(err.message().contains("(3,)") && err.message().contains("(4,)"));
    }

    #[test]
    fn call_errors_name_the_input() {
        let mut ir = Ir::default();
        let a = input(&mut ir, "alpha", DType::F64, 1);
        ir.outputs = vec![a];
        let f = [1.0f32];
        let d = [1.0f64; 4];
        let err = eval(&ir, &[]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Call);
        assert!(err.message().contains("alpha"));
        let err = eval(&ir, &[View::vector(Buffer::F32(&f))]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Call);
        assert!(err.message().contains("alpha") && err.message().contains("f32"));
        let m = View::contiguous(Buffer::F64(&d), &[2, 2]).unwrap();
        let err = eval(&ir, &[m]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Call);
        assert!(err.message().contains("alpha") && err.message().contains("rank"));
    }

    #[test]
    fn zero_length_inputs() {
        // x: i64[0, 3] + y: i64[3]  and  z: f64[0] * 2
        let mut ir = Ir::default();
        let x = input(&mut ir, "x", DType::I64, 2);
        let y = input(&mut ir, "y", DType::I64, 1);
        let z = input(&mut ir, "z", DType::F64, 1);
        let s = node(&mut ir, Op::Binary(BinaryOp::Add, x, y), DType::I64, sp());
        let two = node(&mut ir, Op::Const(Scalar::F64(2.0)), DType::F64, sp());
        let p = node(&mut ir, Op::Binary(BinaryOp::Mul, z, two), DType::F64, sp());
        ir.outputs = vec![s, p];
        let (xv, yv, zv): ([i64; 0], [i64; 3], [f64; 0]) = ([], [1, 2, 3], []);
        let views = [
            View::contiguous(Buffer::I64(&xv), &[0, 3]).unwrap(),
            View::vector(Buffer::I64(&yv)),
            View::vector(Buffer::F64(&zv)),
        ];
        let res = eval(&ir, &views).unwrap();
        assert_eq!(res[0].shape(), Shape::matrix(0, 3));
        assert!(res[0].is_empty());
        assert_eq!(res[0].dtype(), DType::I64);
        assert_eq!(res[1].shape(), Shape::vector(0));
        assert!(res[1].is_empty());
    }

    #[test]
    fn integer_semantics_flow_through() {
        // x // y and x % y on i32, by zero giving 0.
        let mut ir = Ir::default();
        let x = input(&mut ir, "x", DType::I32, 1);
        let y = input(&mut ir, "y", DType::I32, 0);
        let q = node(
            &mut ir,
            Op::Binary(BinaryOp::FloorDiv, x, y),
            DType::I32,
            sp(),
        );
        let r = node(&mut ir, Op::Binary(BinaryOp::Mod, x, y), DType::I32, sp());
        ir.outputs = vec![q, r];
        let xv = [-7, 7, 0];
        for (yv, qs, rs) in [(2, [-4, 3, 0], [1, 1, 0]), (0, [0, 0, 0], [0, 0, 0])] {
            let ys = [yv];
            let views = [
                View::vector(Buffer::I32(&xv)),
                View::contiguous(Buffer::I32(&ys), &[]).unwrap(),
            ];
            let res = eval(&ir, &views).unwrap();
            assert_eq!(res[0].data(), &Data::I32(qs.to_vec()));
            assert_eq!(res[1].data(), &Data::I32(rs.to_vec()));
        }
    }

    #[test]
    fn ill_typed_ir_is_an_internal_error() {
        // Division of integers never comes out of lowering.
        let mut ir = Ir::default();
        let x = input(&mut ir, "x", DType::I64, 1);
        let d = node(&mut ir, Op::Binary(BinaryOp::Div, x, x), DType::I64, sp());
        ir.outputs = vec![d];
        let xv = [1i64];
        let err = eval(&ir, &[View::vector(Buffer::I64(&xv))]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
    }
}
