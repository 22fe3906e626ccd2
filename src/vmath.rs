//! Block routines for elementwise functions (stand-in: the per-element
//! functions of `scalar`, applied over a block).

use crate::ir::UnaryOp;
use crate::types::DType;

/// A block routine: transforms every element of the slice in place.
#[derive(Clone, Copy, Debug)]
pub enum BlockFn {
    F64(fn(&mut [f64])),
    F32(fn(&mut [f32])),
}

fn exp_f64(x: &mut [f64]) {
    for v in x {
        *v = crate::scalar::f64_ops::exp(*v);
    }
}

/// The block routine for `op` on `dtype`, if it has one.
pub fn block(op: UnaryOp, dtype: DType) -> Option<BlockFn> {
    match (op, dtype) {
        (UnaryOp::Exp, DType::F64) => Some(BlockFn::F64(exp_f64)),
        _ => None,
    }
}
