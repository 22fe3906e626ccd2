//! Differential tests: compiled kernels (fused and unfused plans) against
//! the reference interpreter, compared bit for bit.

use super::*;
use crate::array::{Array, Buffer, Data, View};
use crate::error::{ErrorKind, Span};
use crate::fuse::{plan_fused, plan_unfused, BufferKind};
use crate::interp;
use crate::ir::{InputDecl, Node};
use crate::jit::{self, Binding};
use crate::types::Shape;

const VERIFY: CodegenOptions = CodegenOptions {
    opt_level: OptLevel::Speed,
    verify: true,
    capture_clif: false,
    fast_math: false,
    short_lanes: false,
};

const ALL_BINARY: [BinaryOp; 24] = {
    use BinaryOp::*;
    [
        Add, Sub, Mul, Div, FloorDiv, Mod, Pow, BitAnd, BitOr, BitXor, Lt, Le, Gt, Ge, Eq, Ne,
        Minimum, Maximum, Fmin, Fmax, Hypot, Arctan2, Fmod, Copysign,
    ]
};

/// Builds IRs by hand, computing ranks and result dtypes like lowering.
#[derive(Default)]
pub(crate) struct IrBuilder {
    pub(crate) ir: Ir,
}

impl IrBuilder {
    fn push(&mut self, op: Op, dtype: DType) -> ValueId {
        let rank = op
            .operands()
            .iter()
            .map(|&o| self.ir.node(o).rank)
            .max()
            .unwrap_or(0);
        self.push_rank(op, dtype, rank)
    }

    fn push_rank(&mut self, op: Op, dtype: DType, rank: u8) -> ValueId {
        self.ir.push(Node {
            op,
            dtype,
            rank,
            span: Span::default(),
        })
    }

    pub(crate) fn input(&mut self, dtype: DType, rank: u8) -> ValueId {
        let k = self.ir.inputs.len();
        self.ir.inputs.push(InputDecl {
            name: format!("x{k}"),
            dtype,
            rank,
        });
        self.push_rank(Op::Input(k), dtype, rank)
    }

    pub(crate) fn constant(&mut self, c: Scalar) -> ValueId {
        self.push(Op::Const(c), c.dtype())
    }

    pub(crate) fn unary(&mut self, op: UnaryOp, a: ValueId) -> ValueId {
        let dtype = if op.is_predicate() {
            DType::Bool
        } else {
            self.ir.node(a).dtype
        };
        self.push(Op::Unary(op, a), dtype)
    }

    pub(crate) fn binary(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> ValueId {
        let dtype = if op.is_comparison() {
            DType::Bool
        } else {
            self.ir.node(a).dtype
        };
        self.push(Op::Binary(op, a, b), dtype)
    }

    pub(crate) fn cast(&mut self, a: ValueId, to: DType) -> ValueId {
        self.push(Op::Cast(a), to)
    }

    pub(crate) fn select(&mut self, c: ValueId, a: ValueId, b: ValueId) -> ValueId {
        let dtype = self.ir.node(a).dtype;
        self.push(Op::Where(c, a, b), dtype)
    }

    pub(crate) fn finish(mut self, outputs: &[ValueId]) -> Ir {
        self.ir.outputs = outputs.to_vec();
        self.ir.validate().expect("test IR is valid");
        self.ir
    }
}

/// Row-major strides (in elements) of a shape.
fn row_major(shape: Shape) -> Vec<isize> {
    match shape.dims() {
        [] => vec![],
        [_] => vec![1],
        [_, m] => vec![*m as isize, 1],
        _ => unreachable!(),
    }
}

/// The call frame for `plan` on these inputs: NumPy broadcasting of every
/// slot's buffer into its loop's shape (test-only; the engine has its own).
pub(crate) fn frame(plan: &Plan, shapes: &[Shape], views: &[View<'_>]) -> (Vec<isize>, Vec<usize>) {
    let mut strides = vec![0isize; 2 * plan.num_slots()];
    let mut dims = vec![0usize; 2 * plan.loops.len()];
    for (l, nest) in plan.loops.iter().enumerate() {
        let shape = shapes[nest.shape_of.index()];
        if nest.group.is_some() {
            // Blocked elementwise loops: [lanes, lane length], a lane per row
            // (lane groups proper are tested through the engine).
            let (lanes, len) = match shape.dims() {
                [n, m] => (*n, *m),
                [n] => (1, *n),
                _ => (1, 1),
            };
            dims[2 * l] = lanes;
            dims[2 * l + 1] = len;
            continue;
        }
        for (axis, &d) in shape.dims().iter().enumerate() {
            dims[2 * l + axis] = d;
        }
    }
    for (l, access, _) in plan.accesses() {
        let loop_shape = shapes[plan.loops[l].shape_of.index()];
        let decl = &plan.buffers[access.buffer.index()];
        let (shape, elem_strides) = match decl.kind {
            BufferKind::Input(k) => (views[k].shape(), views[k].strides().to_vec()),
            _ => {
                let shape = shapes[decl.value.index()];
                (shape, row_major(shape))
            }
        };
        let (r, rb) = (loop_shape.rank(), shape.rank());
        // A blocked vector's one axis is its lanes' second.
        let shift = usize::from(plan.loops[l].group.is_some() && r == 1);
        for axis in 0..r {
            if axis + rb >= r {
                let ba = axis + rb - r;
                if shape.dims()[ba] != 1 {
                    strides[2 * access.slot + axis + shift] =
                        elem_strides[ba] * decl.dtype.size() as isize;
                }
            }
        }
    }
    (strides, dims)
}

/// Runs `plan` compiled from `ir` on `views`, allocating outputs and
/// temporaries, and returns the outputs.
pub(crate) fn run_plan(ir: &Ir, plan: &Plan, views: &[View<'_>]) -> Result<Vec<Array>> {
    let code = compile(ir, plan, &VERIFY)?;
    run_code(&code, ir, plan, views)
}

pub(crate) fn run_code(
    code: &CompiledCode,
    ir: &Ir,
    plan: &Plan,
    views: &[View<'_>],
) -> Result<Vec<Array>> {
    let input_shapes: Vec<Shape> = views.iter().map(View::shape).collect();
    let shapes = ir.infer_shapes(&input_shapes)?;
    let (strides, dims) = frame(plan, &shapes, views);
    let mut owned: Vec<Data> = plan
        .buffers
        .iter()
        .filter(|b| !matches!(b.kind, BufferKind::Input(_)))
        .map(|b| Data::zeros(b.dtype, shapes[b.value.index()].checked_len().unwrap()))
        .collect();
    {
        let mut owned_iter = owned.iter_mut();
        let mut bindings: Vec<Binding<'_>> = plan
            .buffers
            .iter()
            .map(|b| match b.kind {
                BufferKind::Input(k) => Binding::Input(views[k]),
                _ => Binding::Output(owned_iter.next().unwrap()),
            })
            .collect();
        jit::run(code, plan, &mut bindings, &strides, &dims, None)?;
    }
    let mut results = Vec::new();
    let mut owned = owned.into_iter();
    for b in &plan.buffers {
        match b.kind {
            BufferKind::Input(_) => {}
            BufferKind::Output(_) => {
                let data = owned.next().unwrap();
                results.push(Array::from_data(data, shapes[b.value.index()])?);
            }
            BufferKind::Temp => {
                owned.next();
            }
        }
    }
    Ok(results)
}

/// Element-by-element bitwise comparison, with a readable failure.
fn assert_bits_eq(what: &str, got: &Array, want: &Array, inputs: &[View<'_>]) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    assert_eq!(got.dtype(), want.dtype(), "{what}: dtype");
    for k in 0..want.len() {
        let (g, w) = (got.get(k), want.get(k));
        if !g.bits_eq(w) {
            let shape = want.shape();
            let index: Vec<usize> = match shape.dims() {
                [] => vec![],
                [_] => vec![k],
                [_, m] => vec![k / m, k % m],
                _ => unreachable!(),
            };
            let args: Vec<String> = inputs
                .iter()
                .map(|v| {
                    let idx: Vec<usize> = index[index.len() - v.shape().rank()..]
                        .iter()
                        .zip(v.shape().dims())
                        .map(|(&i, &d)| if d == 1 { 0 } else { i })
                        .collect();
                    format!("{:?}", v.get(&idx))
                })
                .collect();
            panic!(
                "{what}: element {k} {index:?}: jit {g:?} (bits {:#x}), interp {w:?} (bits {:#x}); inputs {}",
                g.to_bits(),
                w.to_bits(),
                args.join(", ")
            );
        }
    }
}

/// Compiles `ir` with both planners, runs, and compares with the
/// interpreter bit for bit.
pub(crate) fn check(what: &str, ir: &Ir, views: &[View<'_>]) {
    let want = interp::eval(ir, views).unwrap_or_else(|e| panic!("{what}: interp: {e}"));
    for (name, plan) in [("fused", plan_fused(ir)), ("unfused", plan_unfused(ir))] {
        let got = run_plan(ir, &plan, views).unwrap_or_else(|e| panic!("{what} ({name}): {e:?}"));
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_bits_eq(&format!("{what} ({name})"), g, w, views);
        }
    }
}

// ---------------------------------------------------------------------------
// Special values.

fn f64_specials() -> Vec<f64> {
    vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1.5,
        2.5,
        -2.5,
        3.0,
        -7.0,
        7.0,
        0.49999999999999994,
        1e-310,
        -1e-310,
        1e300,
        -1e300,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
        -(i64::MIN as f64),
        i64::MIN as f64,
        3e9,
        -3e9,
        2147483647.5,
        -2147483648.9,
    ]
}

fn specials(dtype: DType) -> Data {
    match dtype {
        DType::Bool => Data::Bool(vec![false, true]),
        DType::I32 => Data::I32(vec![
            0,
            1,
            -1,
            2,
            -2,
            3,
            7,
            -7,
            46341,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
        ]),
        DType::I64 => Data::I64(vec![
            0,
            1,
            -1,
            2,
            -2,
            3,
            7,
            -7,
            63,
            64,
            (1 << 53) + 1,
            i64::from(i32::MIN),
            i64::from(i32::MAX) + 1,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ]),
        DType::F32 => Data::F32(
            f64_specials()
                .into_iter()
                .map(|v| v as f32)
                .chain([1e-40, f32::MAX, 16777217.0, f32::NAN])
                .collect(),
        ),
        DType::F64 => Data::F64(f64_specials()),
    }
}

/// The cartesian product of a value list with itself, as two vectors.
fn pairs(data: &Data) -> (Data, Data) {
    let n = data.len();
    let mut a = Data::zeros(data.dtype(), n * n);
    let mut b = Data::zeros(data.dtype(), n * n);
    for i in 0..n {
        for j in 0..n {
            a.set(i * n + j, data.as_buffer().get(i));
            b.set(i * n + j, data.as_buffer().get(j));
        }
    }
    (a, b)
}

fn sample(dtype: DType) -> Scalar {
    specials(dtype).as_buffer().get(1)
}

// ---------------------------------------------------------------------------
// Operations.

#[test]
fn every_unary_op_on_every_dtype() {
    let mut tested = 0;
    for op in UnaryOp::ALL {
        for dtype in DType::ALL {
            let mut b = IrBuilder::default();
            let x = b.input(dtype, 1);
            if scalar::try_unary(op, sample(dtype)).is_none() {
                // The IR never has it; codegen must refuse, not panic.
                let y = b.unary(op, x);
                let mut ir = b.ir;
                ir.outputs = vec![y];
                let err = compile(&ir, &plan_fused(&ir), &VERIFY).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Internal, "{op:?} {dtype}");
                continue;
            }
            let y = b.unary(op, x);
            let ir = b.finish(&[y]);
            let data = specials(dtype);
            check(
                &format!("{} {dtype}", op.name()),
                &ir,
                &[View::vector(data.as_buffer())],
            );
            tested += 1;
        }
    }
    assert!(tested > 35 * 2, "{tested}");
}

#[test]
fn every_binary_op_on_every_dtype() {
    let mut tested = 0;
    for op in ALL_BINARY {
        for dtype in DType::ALL {
            let mut b = IrBuilder::default();
            let x = b.input(dtype, 1);
            let y = b.input(dtype, 1);
            if scalar::try_binary(op, sample(dtype), sample(dtype)).is_none() {
                let z = b.binary(op, x, y);
                let mut ir = b.ir;
                ir.outputs = vec![z];
                let err = compile(&ir, &plan_fused(&ir), &VERIFY).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Internal, "{op:?} {dtype}");
                continue;
            }
            let z = b.binary(op, x, y);
            let ir = b.finish(&[z]);
            let (l, r) = pairs(&specials(dtype));
            check(
                &format!("{} {dtype}", op.name()),
                &ir,
                &[View::vector(l.as_buffer()), View::vector(r.as_buffer())],
            );
            tested += 1;
        }
    }
    assert!(tested > 24 * 2, "{tested}");
}

#[test]
fn every_cast() {
    for from in DType::ALL {
        for to in DType::ALL {
            let mut b = IrBuilder::default();
            let x = b.input(from, 1);
            let y = b.cast(x, to);
            let ir = b.finish(&[y]);
            let data = specials(from);
            check(
                &format!("cast {from} -> {to}"),
                &ir,
                &[View::vector(data.as_buffer())],
            );
        }
    }
}

#[test]
fn where_on_every_dtype() {
    for dtype in DType::ALL {
        let mut b = IrBuilder::default();
        let c = b.input(DType::Bool, 1);
        let x = b.input(dtype, 1);
        let y = b.input(dtype, 1);
        let z = b.select(c, x, y);
        let ir = b.finish(&[z]);
        let (l, r) = pairs(&specials(dtype));
        let cond = Data::Bool((0..l.len()).map(|k| k % 3 == 0).collect());
        check(
            &format!("where {dtype}"),
            &ir,
            &[
                View::vector(cond.as_buffer()),
                View::vector(l.as_buffer()),
                View::vector(r.as_buffer()),
            ],
        );
    }
}

#[test]
fn constants_of_every_dtype() {
    // x op const, const op x, and a constant output.
    let consts = [
        Scalar::Bool(true),
        Scalar::I32(-5),
        Scalar::I32(i32::MIN),
        Scalar::I64(-3),
        Scalar::I64(i64::MIN),
        Scalar::F32(-0.0),
        Scalar::F32(f32::NAN),
        Scalar::F64(-2.5),
        Scalar::F64(f64::from_bits(0x7ff8_dead_beef_0001)),
    ];
    for c in consts {
        let dtype = c.dtype();
        let mut b = IrBuilder::default();
        let x = b.input(dtype, 1);
        let k = b.constant(c);
        let op = if dtype == DType::Bool {
            BinaryOp::BitXor
        } else {
            BinaryOp::Sub
        };
        let y = b.binary(op, x, k);
        let z = b.binary(BinaryOp::Maximum, k, x);
        let ir = b.finish(&[y, z, k]);
        let data = specials(dtype);
        check(
            &format!("const {c:?}"),
            &ir,
            &[View::vector(data.as_buffer())],
        );
    }
}

/// `a * b + c` over f64, a fused expression with several inputs.
fn axpy_ir(rank: u8) -> Ir {
    axpy_ir_ranks([rank; 3])
}

fn axpy_ir_ranks(ranks: [u8; 3]) -> Ir {
    let mut b = IrBuilder::default();
    let x = b.input(DType::F64, ranks[0]);
    let y = b.input(DType::F64, ranks[1]);
    let z = b.input(DType::F64, ranks[2]);
    let m = b.binary(BinaryOp::Mul, x, y);
    let s = b.binary(BinaryOp::Add, m, z);
    b.finish(&[s])
}

#[test]
fn composite_expression_with_calls_and_temps() {
    // where(x > 0.5, exp(x) * 10, -x ** 2) + i64(x) // 3, two outputs.
    let mut b = IrBuilder::default();
    let x = b.input(DType::F64, 1);
    let half = b.constant(Scalar::F64(0.5));
    let c = b.binary(BinaryOp::Gt, x, half);
    let e = b.unary(UnaryOp::Exp, x);
    let ten = b.constant(Scalar::F64(10.0));
    let t = b.binary(BinaryOp::Mul, e, ten);
    let two = b.constant(Scalar::F64(2.0));
    let p = b.binary(BinaryOp::Pow, x, two);
    let n = b.unary(UnaryOp::Neg, p);
    let w = b.select(c, t, n);
    let i = b.cast(x, DType::I64);
    let three = b.constant(Scalar::I64(3));
    let q = b.binary(BinaryOp::FloorDiv, i, three);
    let qf = b.cast(q, DType::F64);
    let out = b.binary(BinaryOp::Add, w, qf);
    let ir = b.finish(&[out, q]);
    let data = specials(DType::F64);
    check("composite", &ir, &[View::vector(data.as_buffer())]);
}

// ---------------------------------------------------------------------------
// Shapes, strides and layouts.

#[test]
fn matrices_broadcasting_negative_and_fortran_strides() {
    let ir = axpy_ir(2);
    let a: Vec<f64> = (0..12).map(|k| k as f64 * 1.5 - 4.0).collect();
    let col: Vec<f64> = vec![10.0, 20.0, 30.0];
    let c: Vec<f64> = (0..12).map(|k| (k * k) as f64).collect();
    // a: 3x4 row-major; b: a [3, 1] column broadcast; c: 3x4 Fortran order.
    let va = View::contiguous(Buffer::F64(&a), &[3, 4]).unwrap();
    let vb = View::contiguous(Buffer::F64(&col), &[3, 1]).unwrap();
    let vc = View::strided(Buffer::F64(&c), 0, &[3, 4], &[1, 3]).unwrap();
    check("axpy 2-d", &ir, &[va, vb, vc]);
    // Negative strides on both axes (a reversed matrix), and a [4] row.
    let row: Vec<f64> = vec![1.0, -2.0, 0.25, f64::NAN];
    let vr = View::strided(Buffer::F64(&a), 11, &[3, 4], &[-4, -1]).unwrap();
    let vrow = View::vector(Buffer::F64(&row));
    check("axpy reversed", &axpy_ir_ranks([2, 1, 2]), &[vr, vrow, vc]);
}

#[test]
fn vectors_with_negative_stride_and_offset() {
    let ir = axpy_ir(1);
    let a: Vec<f64> = (0..10).map(|k| k as f64).collect();
    let va = View::strided(Buffer::F64(&a), 9, &[5], &[-2]).unwrap();
    let vb = View::strided(Buffer::F64(&a), 1, &[5], &[2]).unwrap();
    let one = [3.0];
    let vc = View::contiguous(Buffer::F64(&one), &[1]).unwrap();
    check("axpy 1-d strided", &ir, &[va, vb, vc]);
}

#[test]
fn mixed_ranks_and_dtypes() {
    // f32 matrix * f32 scalar input, compared to an i32 row, as bool.
    let mut b = IrBuilder::default();
    let m = b.input(DType::F32, 2);
    let s = b.input(DType::F32, 0);
    let r = b.input(DType::I32, 1);
    let p = b.binary(BinaryOp::Mul, m, s);
    let rf = b.cast(r, DType::F32);
    let lt = b.binary(BinaryOp::Lt, p, rf);
    let n = b.unary(UnaryOp::Not, lt);
    let ir = b.finish(&[n, p]);
    let md: Vec<f32> = (0..6).map(|k| k as f32 - 2.5).collect();
    let sd = [2.0f32];
    let rd = [1i32, -3, 0];
    check(
        "mixed",
        &ir,
        &[
            View::contiguous(Buffer::F32(&md), &[2, 3]).unwrap(),
            View::contiguous(Buffer::F32(&sd), &[]).unwrap(),
            View::vector(Buffer::I32(&rd)),
        ],
    );
}

#[test]
fn zero_length_arrays() {
    let ir = axpy_ir(2);
    let empty: Vec<f64> = Vec::new();
    for dims in [[0, 4], [3, 0], [0, 0]] {
        let v = View::contiguous(Buffer::F64(&empty), &dims).unwrap();
        check(&format!("empty {dims:?}"), &ir, &[v, v, v]);
    }
    let ir = axpy_ir(1);
    let v = View::vector(Buffer::F64(&empty));
    check("empty vector", &ir, &[v, v, v]);
}

#[test]
fn rank_zero_output() {
    let mut b = IrBuilder::default();
    let x = b.input(DType::I64, 0);
    let y = b.input(DType::I64, 0);
    let q = b.binary(BinaryOp::Mod, x, y);
    let f = b.cast(q, DType::F64);
    let s = b.unary(UnaryOp::Sqrt, f);
    let ir = b.finish(&[s, q]);
    for (a, d) in [(-7i64, 3i64), (7, 0), (i64::MIN, -1), (5, -3)] {
        let (da, dd) = ([a], [d]);
        check(
            "rank 0",
            &ir,
            &[
                View::contiguous(Buffer::I64(&da), &[]).unwrap(),
                View::contiguous(Buffer::I64(&dd), &[]).unwrap(),
            ],
        );
    }
}

#[test]
fn outputs_that_are_inputs_or_constants() {
    let mut b = IrBuilder::default();
    let x = b.input(DType::Bool, 1);
    let k = b.constant(Scalar::I32(42));
    let ir = b.finish(&[x, k]);
    let d = [true, false, true];
    check("passthrough", &ir, &[View::vector(Buffer::Bool(&d))]);
}

#[test]
fn clif_is_captured_and_code_size_reported() {
    let ir = axpy_ir(2);
    let opts = CodegenOptions {
        capture_clif: true,
        ..CodegenOptions::default()
    };
    let code = compile(&ir, &plan_fused(&ir), &opts).unwrap();
    let clif = code.clif().expect("captured");
    if std::env::var_os("ARRJIT_SHOW_CLIF").is_some() {
        println!("{clif}");
    }
    assert!(clif.contains("fmul") && clif.contains("fadd"), "{clif}");
    assert!(code.code_bytes() > 0);
    let plain = compile(&ir, &plan_fused(&ir), &CodegenOptions::default()).unwrap();
    assert!(plain.clif().is_none());
    // opt_level none compiles and runs too.
    let none = CodegenOptions {
        opt_level: OptLevel::None,
        verify: true,
        capture_clif: false,
        fast_math: false,
        short_lanes: false,
    };
    let code = compile(&ir, &plan_fused(&ir), &none).unwrap();
    let a: Vec<f64> = (0..6).map(f64::from).collect();
    let v = View::contiguous(Buffer::F64(&a), &[2, 3]).unwrap();
    let plan = plan_fused(&ir);
    let got = run_code(&code, &ir, &plan, &[v, v, v]).unwrap();
    assert_eq!(got[0].to_f64_vec(), vec![0.0, 2.0, 6.0, 12.0, 20.0, 30.0]);
}

#[test]
fn cold_compile_time_of_fused_axpy() {
    let ir = axpy_ir(1);
    let plan = plan_fused(&ir);
    for (name, verify) in [("no verifier", false), ("verifier", true)] {
        let opts = CodegenOptions {
            opt_level: OptLevel::Speed,
            verify,
            capture_clif: false,
            fast_math: false,
            short_lanes: false,
        };
        // The first compile builds the ISA; time the next ones, best batch
        // of five (the machine may be busy).
        compile(&ir, &plan, &opts).unwrap();
        let n = 20;
        let per = (0..5)
            .map(|_| {
                let start = std::time::Instant::now();
                for _ in 0..n {
                    compile(&ir, &plan, &opts).unwrap();
                }
                start.elapsed() / n
            })
            .min()
            .unwrap();
        println!("fused a*b+c compile ({name}): {per:?} per kernel");
    }
}

#[test]
fn compile_refuses_malformed_plans() {
    let ir = axpy_ir(1);
    let mut plan = plan_fused(&ir);
    plan.loops[0].stores[0].buffer = crate::fuse::BufferId(0);
    let err = compile(&ir, &plan, &VERIFY).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    let mut plan = plan_fused(&ir);
    plan.loops[0].loads[1].slot = plan.loops[0].loads[0].slot;
    assert_eq!(
        compile(&ir, &plan, &VERIFY).unwrap_err().kind(),
        ErrorKind::Internal
    );
    let mut plan = plan_fused(&ir);
    plan.loops[0].compute.reverse();
    assert_eq!(
        compile(&ir, &plan, &VERIFY).unwrap_err().kind(),
        ErrorKind::Internal
    );
    let mut plan = plan_fused(&ir);
    plan.loops[0].rank = 3;
    assert_eq!(
        compile(&ir, &plan, &VERIFY).unwrap_err().kind(),
        ErrorKind::Internal
    );
}

#[test]
fn kernels_run_concurrently_from_threads() {
    let ir = axpy_ir(1);
    let plan = plan_fused(&ir);
    let code = std::sync::Arc::new(compile(&ir, &plan, &VERIFY).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (code, ir, plan) = (code.clone(), ir.clone(), plan.clone());
            std::thread::spawn(move || {
                let a: Vec<f64> = (0..1000).map(|k| f64::from(k + t)).collect();
                let v = View::vector(Buffer::F64(&a));
                for _ in 0..50 {
                    let got = run_code(&code, &ir, &plan, &[v, v, v]).unwrap();
                    assert_eq!(
                        got[0].get(10),
                        Scalar::F64(f64::from(10 + t).powi(2) + f64::from(10 + t))
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
