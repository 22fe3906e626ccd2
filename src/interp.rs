//! The reference interpreter: the oracle every other execution path is
//! tested against.
//!
//! It is simple enough to trust and slow on purpose: it evaluates the IR one
//! node at a time, in order, materialising every node as a row-major
//! [`Array`] of its full shape, one element at a time, through
//! [`scalar::try_unary`], [`scalar::try_binary`] and [`scalar::cast`] (the
//! same definitions the JIT calls or is tested against). Operands are read
//! with NumPy broadcasting: axes are aligned at the end, and an operand axis
//! of extent 1 is read at index 0. Lane operations (reductions, scans,
//! windows) are computed a lane at a time by [`algo::run_lane`], the single
//! definition of their semantics, on strided views of the operand's
//! row-major data. No fusion, no unsafe.

use crate::algo;
use crate::array::{Array, Data, View};
use crate::error::{Error, ErrorKind, Result};
use crate::ir::{Ir, LaneOp, Op};
use crate::scalar;
use crate::types::{DType, Scalar, Shape, MAX_RANK};

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
        if let Op::Lane { op, arg, param } = &node.op {
            let param = match param {
                Some(p) => Some(lane_param(
                    op,
                    values[p.index()].as_scalar().ok_or_else(|| {
                        Error::internal(format!("{}: the parameter is not a scalar", op.name()))
                    })?,
                )),
                None => None,
            };
            let result = eval_lane(op, &values[arg.index()], param, node.dtype, shape, len)?;
            values.push(result);
            continue;
        }
        if let Op::Recur(rec) = &node.op {
            values.push(eval_recurrence(rec, &values, node.dtype, len)?);
            continue;
        }
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
                Op::Lane { .. } | Op::Recur(_) => {
                    return Err(Error::internal("lane op in the element loop"))
                }
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

/// Evaluates a lane operation of `arg` into a new array of `shape` (`len`
/// elements): with `axis` None the whole array, in row-major order, is one
/// lane; with `axis = k` there is one lane per index of the other axes. Each
/// lane is a strided view into `arg`'s row-major data and into the result's,
/// handed to [`algo::run_lane`].
fn eval_lane(
    op: &LaneOp,
    arg: &Array,
    param: Option<Scalar>,
    dtype: DType,
    shape: Shape,
    len: usize,
) -> Result<Array> {
    let mut data = Data::zeros(dtype, len);
    let arg_shape = arg.shape();
    let dims = arg_shape.dims();
    // (source start, source stride, result start, result stride) per lane.
    let mut lanes: Vec<(usize, isize, usize, isize)> = Vec::new();
    let lane_len = match op.axis {
        None => {
            lanes.push((0, 1, 0, 1));
            arg.len()
        }
        Some(axis) => {
            let axis = usize::from(axis);
            let n = *dims
                .get(axis)
                .ok_or_else(|| Error::internal("lane axis out of range"))?;
            // The result with the lane axis kept (its row-major layout is
            // the same whether or not a reduced axis of extent 1 is kept).
            let mut kept = dims.to_vec();
            kept[axis] = algo::lane_out_len(op, n);
            let (src_strides, dst_strides) = (row_major(dims)?, row_major(&kept)?);
            let others: Vec<usize> = (0..dims.len()).filter(|&a| a != axis).collect();
            let count: usize = others.iter().map(|&a| dims[a]).product();
            for o in 0..count {
                // Row-major unravel of `o` over the other axes.
                let (mut rest, mut src, mut dst) = (o, 0isize, 0isize);
                for &a in others.iter().rev() {
                    let i = (rest % dims[a]) as isize;
                    rest /= dims[a];
                    src += i * src_strides[a];
                    dst += i * dst_strides[a];
                }
                lanes.push((
                    src as usize,
                    src_strides[axis],
                    dst as usize,
                    dst_strides[axis],
                ));
            }
            n
        }
    };
    let out_len = algo::lane_out_len(op, lane_len);
    if out_len.checked_mul(lanes.len()) != Some(len) {
        return Err(Error::internal(format!(
            "{}: {} lanes of {out_len} results do not fill shape {shape}",
            op.name(),
            lanes.len()
        )));
    }
    for (src_start, src_stride, dst_start, dst_stride) in lanes {
        let outside = || Error::internal(format!("{}: lane outside its array", op.name()));
        let src =
            algo::LaneIn::from_buffer(arg.data().as_buffer(), src_start, src_stride, lane_len)
                .ok_or_else(outside)?;
        let dst = algo::LaneOut::from_buffer(data.as_buffer_mut(), dst_start, dst_stride, out_len)
            .ok_or_else(outside)?;
        algo::run_lane(op, src, dst, param)?;
    }
    Array::from_data(data, shape)
}

/// Row-major strides (in elements) of `dims`.
/// A recurrence, row by row: each row evaluates its rule's body (with the
/// interpreter) on the taps read from the sources and the earlier rows.
/// Shape inference has checked that every read is in bounds.
fn eval_recurrence(
    rec: &crate::ir::Recurrence,
    values: &[Array],
    dtype: crate::types::DType,
    n: usize,
) -> Result<Array> {
    use crate::ir::TapSource;
    let mut out = Data::zeros(dtype, n);
    for i in 0..n {
        let rule = rec.boundary.get(i).unwrap_or(&rec.general);
        let taps: Vec<Array> = rule
            .taps
            .iter()
            .map(|t| {
                let value = match t.source {
                    TapSource::Source(k) => {
                        let src = &values[rec.sources[k].index()];
                        if src.shape().rank() == 0 {
                            src.get(0)
                        } else {
                            let row = usize::try_from(i as i64 + t.offset)
                                .ok()
                                .filter(|&r| r < src.len())
                                .ok_or_else(|| Error::internal("recurrence read out of bounds"))?;
                            src.get(row)
                        }
                    }
                    TapSource::Prev(lag) => {
                        let row = i
                            .checked_sub(lag as usize)
                            .ok_or_else(|| Error::internal("recurrence reads before row 0"))?;
                        out.as_buffer().get(row)
                    }
                };
                Ok(Array::scalar(value))
            })
            .collect::<Result<_>>()?;
        let views: Vec<View<'_>> = taps.iter().map(Array::view).collect();
        let y = eval(&rule.body, &views)?;
        out.set(i, y[0].get(0));
    }
    Array::from_data(out, Shape::vector(n))
}

/// A window length as an `i64`, an `alpha` as an `f64`, whatever integer
/// or float scalar input carried it (as compiled code converts them).
fn lane_param(op: &crate::ir::LaneOp, value: Scalar) -> Scalar {
    match op.kind {
        crate::ir::LaneKind::Rolling(_) => scalar::cast(value, crate::types::DType::I64),
        crate::ir::LaneKind::Ewm => scalar::cast(value, crate::types::DType::F64),
        _ => value,
    }
}

fn row_major(dims: &[usize]) -> Result<Vec<isize>> {
    let mut strides = vec![0isize; dims.len()];
    let mut step = 1usize;
    for (s, &d) in strides.iter_mut().zip(dims).rev() {
        *s = isize::try_from(step).map_err(|_| Error::internal("array too large"))?;
        step = step.saturating_mul(d);
    }
    Ok(strides)
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
    use crate::ir::{
        BinaryOp, InputDecl, LaneKind, Node, ReduceOp, ScanOp, UnaryOp, ValueId, WindowOp,
    };
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

    fn lane(
        ir: &mut Ir,
        kind: LaneKind,
        axis: Option<u8>,
        keepdims: bool,
        arg: ValueId,
        param: Option<ValueId>,
        dtype: DType,
    ) -> ValueId {
        let op = LaneOp {
            kind,
            axis,
            keepdims,
            ddof: 0,
        };
        let rank = op.result_rank(ir.node(arg).rank);
        ir.push(Node {
            op: Op::Lane { op, arg, param },
            dtype,
            rank,
            span: sp(),
        })
    }

    /// Evaluates `build(ir, x)` on the [2, 3] matrix [[1, 2, 3], [4, 5, 6]]
    /// given as a transposed (strided) view.
    fn on_matrix(build: impl Fn(&mut Ir, ValueId) -> Vec<ValueId>) -> Vec<Array> {
        let mut ir = Ir::default();
        let x = input(&mut ir, "x", DType::F64, 2);
        ir.outputs = build(&mut ir, x);
        ir.validate().unwrap();
        let storage = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
        let view = View::strided(Buffer::F64(&storage), 0, &[2, 3], &[1, 2]).unwrap();
        eval(&ir, &[view]).unwrap()
    }

    #[test]
    fn reductions_over_axes() {
        let sum = LaneKind::Reduce(ReduceOp::Sum);
        let res = on_matrix(|ir, x| {
            vec![
                lane(ir, sum, None, false, x, None, DType::F64),
                lane(ir, sum, None, true, x, None, DType::F64),
                lane(ir, sum, Some(0), false, x, None, DType::F64),
                lane(ir, sum, Some(0), true, x, None, DType::F64),
                lane(ir, sum, Some(1), false, x, None, DType::F64),
                lane(ir, sum, Some(1), true, x, None, DType::F64),
            ]
        });
        assert_eq!(res[0].shape(), Shape::SCALAR);
        assert_eq!(res[0].as_scalar(), Some(Scalar::F64(21.0)));
        assert_eq!(res[1].shape(), Shape::matrix(1, 1));
        assert_eq!(f64_data(&res[1]), [21.0]);
        assert_eq!(res[2].shape(), Shape::vector(3));
        assert_eq!(f64_data(&res[2]), [5.0, 7.0, 9.0]);
        assert_eq!(res[3].shape(), Shape::matrix(1, 3));
        assert_eq!(f64_data(&res[3]), [5.0, 7.0, 9.0]);
        assert_eq!(res[4].shape(), Shape::vector(2));
        assert_eq!(f64_data(&res[4]), [6.0, 15.0]);
        assert_eq!(res[5].shape(), Shape::matrix(2, 1));
        assert_eq!(f64_data(&res[5]), [6.0, 15.0]);

        // argmax over all axes is a row-major index; along axes, i64 per lane.
        let am = LaneKind::Reduce(ReduceOp::ArgMax);
        let res = on_matrix(|ir, x| {
            vec![
                lane(ir, am, None, false, x, None, DType::I64),
                lane(ir, am, Some(0), false, x, None, DType::I64),
                lane(ir, am, Some(1), true, x, None, DType::I64),
            ]
        });
        assert_eq!(res[0].as_scalar(), Some(Scalar::I64(5)));
        assert_eq!(res[1].data(), &Data::I64(vec![1, 1, 1]));
        assert_eq!(res[2].data(), &Data::I64(vec![2, 2]));
        assert_eq!(res[2].shape(), Shape::matrix(2, 1));
    }

    #[test]
    fn scans_diffs_and_windows_along_axes() {
        let res = on_matrix(|ir, x| {
            let w = node(ir, Op::Const(Scalar::I64(2)), DType::I64, sp());
            vec![
                lane(
                    ir,
                    LaneKind::Scan(ScanOp::Cumsum),
                    Some(0),
                    false,
                    x,
                    None,
                    DType::F64,
                ),
                lane(
                    ir,
                    LaneKind::Scan(ScanOp::Cumsum),
                    Some(1),
                    false,
                    x,
                    None,
                    DType::F64,
                ),
                lane(ir, LaneKind::Diff(1), Some(1), false, x, None, DType::F64),
                lane(ir, LaneKind::Diff(1), Some(0), false, x, None, DType::F64),
                lane(ir, LaneKind::Diff(3), Some(0), false, x, None, DType::F64),
                lane(
                    ir,
                    LaneKind::Rolling(WindowOp::Sum),
                    Some(1),
                    false,
                    x,
                    Some(w),
                    DType::F64,
                ),
                lane(
                    ir,
                    LaneKind::Shift {
                        k: 1,
                        fill: Scalar::F64(-1.0),
                    },
                    Some(0),
                    false,
                    x,
                    None,
                    DType::F64,
                ),
            ]
        });
        assert_eq!(f64_data(&res[0]), [1.0, 2.0, 3.0, 5.0, 7.0, 9.0]);
        assert_eq!(f64_data(&res[1]), [1.0, 3.0, 6.0, 4.0, 9.0, 15.0]);
        assert_eq!(res[2].shape(), Shape::matrix(2, 2));
        assert_eq!(f64_data(&res[2]), [1.0, 1.0, 1.0, 1.0]);
        assert_eq!(res[3].shape(), Shape::matrix(1, 3));
        assert_eq!(f64_data(&res[3]), [3.0, 3.0, 3.0]);
        assert_eq!(res[4].shape(), Shape::matrix(0, 3));
        let r = f64_data(&res[5]);
        assert!(r[0].is_nan() && r[3].is_nan());
        assert_eq!([r[1], r[2], r[4], r[5]], [3.0, 5.0, 9.0, 11.0]);
        assert_eq!(f64_data(&res[6]), [-1.0, -1.0, -1.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn lane_ops_on_vectors_scalars_and_inputs_as_parameters() {
        // ewm_mean(x, alpha) with alpha an input; mean of a scalar; sum of
        // an empty vector; min of an empty vector is a shape error.
        let mut ir = Ir::default();
        let x = input(&mut ir, "x", DType::F64, 1);
        let alpha = input(&mut ir, "alpha", DType::F64, 0);
        let e = lane(
            &mut ir,
            LaneKind::Ewm,
            Some(0),
            false,
            x,
            Some(alpha),
            DType::F64,
        );
        let m = lane(
            &mut ir,
            LaneKind::Reduce(ReduceOp::Mean),
            None,
            false,
            alpha,
            None,
            DType::F64,
        );
        let s = lane(
            &mut ir,
            LaneKind::Reduce(ReduceOp::Sum),
            None,
            false,
            x,
            None,
            DType::F64,
        );
        ir.outputs = vec![e, m, s];
        let xv = [2.0, 4.0, 8.0];
        let av = [0.5];
        let res = eval(
            &ir,
            &[
                View::vector(Buffer::F64(&xv)),
                View::contiguous(Buffer::F64(&av), &[]).unwrap(),
            ],
        )
        .unwrap();
        assert_eq!(f64_data(&res[0]), [2.0, 3.0, 5.5]);
        assert_eq!(res[1].as_scalar(), Some(Scalar::F64(0.5)));
        assert_eq!(res[2].as_scalar(), Some(Scalar::F64(14.0)));
        let empty: [f64; 0] = [];
        let res = eval(
            &ir,
            &[
                View::vector(Buffer::F64(&empty)),
                View::contiguous(Buffer::F64(&av), &[]).unwrap(),
            ],
        )
        .unwrap();
        assert!(res[0].is_empty());
        assert_eq!(res[2].as_scalar(), Some(Scalar::F64(0.0)));

        let mut ir = Ir::default();
        let x = input(&mut ir, "x", DType::I32, 1);
        let mn = lane(
            &mut ir,
            LaneKind::Reduce(ReduceOp::Min),
            None,
            false,
            x,
            None,
            DType::I32,
        );
        ir.outputs = vec![mn];
        let xi = [3i32, -7, 5];
        let res = eval(&ir, &[View::vector(Buffer::I32(&xi))]).unwrap();
        assert_eq!(res[0].as_scalar(), Some(Scalar::I32(-7)));
        let ei: [i32; 0] = [];
        let err = eval(&ir, &[View::vector(Buffer::I32(&ei))]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Shape);
        assert!(err.message().contains("min"));
    }

    #[test]
    fn lane_op_of_the_wrong_dtype_is_an_internal_error() {
        // cumsum of bool never comes out of lowering (it casts to i64).
        let mut ir = Ir::default();
        let x = input(&mut ir, "x", DType::Bool, 1);
        let c = lane(
            &mut ir,
            LaneKind::Scan(ScanOp::Cumsum),
            Some(0),
            false,
            x,
            None,
            DType::Bool,
        );
        ir.outputs = vec![c];
        let xv = [true, false];
        let err = eval(&ir, &[View::vector(Buffer::Bool(&xv))]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
    }
}
