//! Throughput of the vectorised math block routines (`arrjit::vmath`), per
//! op, dtype and dispatch level, against std's libm called per element.
//! Arrays are processed 512 elements at a time, as the JIT calls them; each
//! block is first copied from the input (the routines work in place), and
//! the baseline does the same copy.
//!
//! `cargo bench --bench vmath` (criterion reports time per iteration;
//! divide by the element count, or read the `elem/s` throughput).

use std::hint::black_box;

use arrjit::ir::UnaryOp;
use arrjit::vmath::{block_at, block_of, BlockFn, Level, TableExp, OPS};
use arrjit::DType;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const BLOCK: usize = 512;

/// Inputs where each function does ordinary work: exp over [-700, 700],
/// exp2 over [-1000, 1000], expm1 over [-10, 10], tanh over [-5, 5],
/// sinh and cosh over [-30, 30] (either side of their switch at 22), the
/// logarithms over (0, 1e6] (log1p over (-0.9, 1e3)), sin and cos over
/// [-1000, 1000].
fn input(op: UnaryOp, n: usize) -> Vec<f64> {
    let (lo, hi) = match op {
        UnaryOp::Exp => (-700.0, 700.0),
        UnaryOp::Exp2 => (-1000.0, 1000.0),
        UnaryOp::Expm1 => (-10.0, 10.0),
        UnaryOp::Tanh => (-5.0, 5.0),
        UnaryOp::Sinh | UnaryOp::Cosh => (-30.0, 30.0),
        UnaryOp::Log | UnaryOp::Log2 | UnaryOp::Log10 => (1e-6, 1e6),
        UnaryOp::Log1p => (-0.9, 1e3),
        _ => (-1000.0, 1000.0),
    };
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

fn libm64(op: UnaryOp) -> fn(f64) -> f64 {
    arrjit::vmath::libm(op)
        .expect("every op of OPS has a libm function")
        .0
}

fn libm32(op: UnaryOp) -> fn(f32) -> f32 {
    arrjit::vmath::libm(op)
        .expect("every op of OPS has a libm function")
        .1
}

/// `exp`'s table-free lane against the table-driven one (`TableExp`), per
/// level, in one run: the measurement behind keeping the former.
fn exp_lanes(c: &mut Criterion) {
    let n = 10_000;
    let xs = input(UnaryOp::Exp, n);
    let mut out = vec![0.0f64; n];
    let mut group = c.benchmark_group(format!("vmath/exp-lanes/{n}"));
    group.throughput(Throughput::Elements(n as u64));
    for level in Level::ALL.into_iter().filter(|l| l.supported()) {
        for (label, f) in [
            ("table-free", block_at(UnaryOp::Exp, DType::F64, level)),
            ("table", block_of::<TableExp>(DType::F64, level)),
        ] {
            let Some(BlockFn::F64(f)) = f else {
                unreachable!()
            };
            group.bench_function(BenchmarkId::new(label, format!("{level:?}")), |b| {
                b.iter(|| {
                    for (o, i) in out.chunks_mut(BLOCK).zip(xs.chunks(BLOCK)) {
                        o.copy_from_slice(i);
                        f(o);
                    }
                    black_box(&mut out);
                })
            });
        }
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    for n in [10_000usize, 1_000_000] {
        for op in OPS {
            let xs = input(op, n);
            let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
            let mut group = c.benchmark_group(format!("vmath/{}/{n}", op.name()));
            group.throughput(Throughput::Elements(n as u64));
            let mut out = vec![0.0f64; n];
            let mut out32 = vec![0.0f32; n];
            let f = libm64(op);
            group.bench_function("f64/std-per-element", |b| {
                b.iter(|| {
                    for (o, i) in out.chunks_mut(BLOCK).zip(xs.chunks(BLOCK)) {
                        o.copy_from_slice(i);
                        o.iter_mut().for_each(|x| *x = f(*x));
                    }
                    black_box(&mut out);
                })
            });
            let f = libm32(op);
            group.bench_function("f32/std-per-element", |b| {
                b.iter(|| {
                    for (o, i) in out32.chunks_mut(BLOCK).zip(xs32.chunks(BLOCK)) {
                        o.copy_from_slice(i);
                        o.iter_mut().for_each(|x| *x = f(*x));
                    }
                    black_box(&mut out32);
                })
            });
            for level in Level::ALL.into_iter().filter(|l| l.supported()) {
                let Some(BlockFn::F64(f)) = block_at(op, DType::F64, level) else {
                    unreachable!()
                };
                group.bench_function(BenchmarkId::new("f64", format!("{level:?}")), |b| {
                    b.iter(|| {
                        for (o, i) in out.chunks_mut(BLOCK).zip(xs.chunks(BLOCK)) {
                            o.copy_from_slice(i);
                            f(o);
                        }
                        black_box(&mut out);
                    })
                });
                let Some(BlockFn::F32(f)) = block_at(op, DType::F32, level) else {
                    unreachable!()
                };
                group.bench_function(BenchmarkId::new("f32", format!("{level:?}")), |b| {
                    b.iter(|| {
                        for (o, i) in out32.chunks_mut(BLOCK).zip(xs32.chunks(BLOCK)) {
                            o.copy_from_slice(i);
                            f(o);
                        }
                        black_box(&mut out32);
                    })
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, exp_lanes, bench);
criterion_main!(benches);
