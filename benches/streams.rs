//! Throughput of the streaming lane operations (`arrjit::stream`), pushed
//! in blocks of 512 elements as fused code pushes them: the rolling
//! windows of the z-score kernel, the scans, the full min/max reductions,
//! and the row reductions of row normalisation (two-pass `std` over rows of
//! 500).
//!
//! `cargo bench --bench streams` (criterion reports time per iteration and
//! `elem/s`; compare figures of one run, the machine may be shared).

use std::hint::black_box;

use arrjit::ir::{LaneKind, LaneOp, ReduceOp, ScanOp, WindowOp};
use arrjit::stream::{passes, Block, BlockMut, Stream};
use arrjit::types::Scalar;
use arrjit::DType;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const BLOCK: usize = 512;
const N: usize = 1 << 20;

fn op(kind: LaneKind) -> LaneOp {
    LaneOp {
        kind,
        axis: Some(0),
        keepdims: false,
        ddof: 0,
    }
}

/// Uniform in [0, 1), deterministic.
fn input(n: usize) -> Vec<f64> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

fn aligned(c: &mut Criterion, name: &str, o: LaneOp, param: Option<Scalar>, x: &[f64]) {
    let mut s = Stream::new(&o, DType::F64, DType::F64, param).unwrap();
    let mut y = vec![0.0; x.len()];
    let mut g = c.benchmark_group("aligned");
    g.throughput(Throughput::Elements(x.len() as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            s.reset();
            for (xb, yb) in x.chunks(BLOCK).zip(y.chunks_mut(BLOCK)) {
                s.push(Block::F64(xb), Some(BlockMut::F64(yb))).unwrap();
            }
            black_box(&y);
        })
    });
    g.finish();
}

/// `lane` elements per lane (rows), every lane reduced in full.
fn reduce(c: &mut Criterion, name: &str, o: LaneOp, x: &[f64], lane: usize) {
    let mut s = Stream::new(&o, DType::F64, DType::F64, None).unwrap();
    let mut g = c.benchmark_group("reduce");
    g.throughput(Throughput::Elements(x.len() as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for row in x.chunks(lane) {
                s.reset();
                for pass in 0..passes(&o) {
                    if pass > 0 {
                        s.next_pass();
                    }
                    for xb in row.chunks(BLOCK) {
                        s.push(Block::F64(xb), None).unwrap();
                    }
                }
                if let Ok(Scalar::F64(v)) = s.finish() {
                    acc += v;
                }
            }
            black_box(acc)
        })
    });
    g.finish();
}

fn streams(c: &mut Criterion) {
    let x = input(N);
    let w = Some(Scalar::I64(100));
    for (name, r) in [
        ("rolling_mean_w100", WindowOp::Mean),
        ("rolling_std_w100", WindowOp::Std),
        ("rolling_var_w100", WindowOp::Var),
        ("rolling_max_w100", WindowOp::Max),
    ] {
        aligned(c, name, op(LaneKind::Rolling(r)), w, &x);
    }
    aligned(
        c,
        "rolling_std_w5000",
        op(LaneKind::Rolling(WindowOp::Std)),
        Some(Scalar::I64(5000)),
        &x,
    );
    for (name, s) in [
        ("cumsum", ScanOp::Cumsum),
        ("cummax", ScanOp::Cummax),
        ("cummin", ScanOp::Cummin),
    ] {
        aligned(c, name, op(LaneKind::Scan(s)), None, &x);
    }
    for (name, r) in [
        ("nanmin", ReduceOp::NanMin),
        ("nanmax", ReduceOp::NanMax),
        ("max", ReduceOp::Max),
    ] {
        reduce(c, name, op(LaneKind::Reduce(r)), &x, x.len());
    }
    for (name, r) in [
        ("row500_mean", ReduceOp::Mean),
        ("row500_std", ReduceOp::Std),
    ] {
        reduce(c, name, op(LaneKind::Reduce(r)), &x, 500);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = streams
}
criterion_main!(benches);
