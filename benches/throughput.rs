//! Throughput of every workload of `arrjit bench`, the modes side by side
//! in one criterion group per workload: the reference interpreter, unfused
//! and fused compiled code, and the hand-written Rust loop. Criterion
//! reports bytes per second (each input read once, each output written
//! once), so the interpreter, run at a hundredth of n, reads on the same
//! scale.
//!
//! `short_rows/NAME` runs row normalisation and softmax on rows of 10
//! through a kernel's first and second tiers (`Config::tier_up_lanes`).
//!
//! `cargo bench --bench throughput` (n = 1,000,000; set ARRJIT_BENCH_N to
//! change it). `arrjit bench` measures the same workloads with the triad
//! beside them; this is the criterion view of it, with its statistics.

use std::hint::black_box;
use std::time::Duration;

use arrjit::{Arg, Array, Config, Engine, Mode};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "../src/bin/arrjit/bench/workloads.rs"]
#[allow(dead_code)]
mod workloads;

use workloads::{Inputs, Source, Workload};

fn n() -> usize {
    std::env::var("ARRJIT_BENCH_N")
        .ok()
        .and_then(|s| s.replace('_', "").parse().ok())
        .unwrap_or(1_000_000)
}

/// An expression or kernel, compiled (by the first call) in one mode.
enum Runner {
    Expr(arrjit::Expr, Array),
    Kernel(arrjit::Kernel),
}

impl Runner {
    fn new(w: &Workload, mode: Mode, args: &[(&str, Arg<'_>)]) -> Runner {
        let engine = Engine::with_config(Config {
            mode,
            verify: false,
            // One thread, as the harness's modes (fused-mt is its own).
            threads: 1,
            ..Config::default()
        });
        match &w.source {
            Source::Expr(src) => {
                let expr = engine.compile(src).expect("parses");
                let out = expr.eval(args).expect("runs");
                Runner::Expr(expr, out)
            }
            Source::Kernel(name) => {
                let kernel = engine
                    .compile_module(workloads::KERNELS)
                    .and_then(|m| m.kernel(name))
                    .expect("kernel exists");
                kernel.call(args).expect("runs");
                Runner::Kernel(kernel)
            }
        }
    }

    fn outputs_bytes(&self, args: &[(&str, Arg<'_>)]) -> usize {
        match self {
            Runner::Expr(_, out) => out.len() * out.dtype().size(),
            Runner::Kernel(k) => k
                .call(args)
                .expect("runs")
                .iter()
                .map(|(_, a)| a.len() * a.dtype().size())
                .sum(),
        }
    }

    /// Expressions write into a preallocated result; kernels allocate
    /// theirs (the library has no call-into for kernels).
    fn run(&mut self, args: &[(&str, Arg<'_>)]) {
        match self {
            Runner::Expr(e, out) => e.eval_into(args, out.view_mut()).expect("runs"),
            Runner::Kernel(k) => drop(black_box(k.call(args).expect("runs"))),
        }
    }
}

fn throughput(c: &mut Criterion) {
    let n = n();
    let inputs = Inputs::new(n);
    let full = inputs.slices(n);
    let small = inputs.slices((n / 100).max(1_000).min(n));
    for w in workloads::builtin() {
        let mut group = c.benchmark_group(format!("throughput/{}", w.name));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for (label, mode, s) in [
            ("interp", Mode::Interpret, &small),
            ("unfused", Mode::Unfused, &full),
            ("fused", Mode::Fused, &full),
        ] {
            let args = w.args(s);
            let mut runner = Runner::new(&w, mode, &args);
            let bytes = w.input_bytes(s) + runner.outputs_bytes(&args);
            group.throughput(Throughput::Bytes(bytes as u64));
            group.bench_function(label, |b| b.iter(|| runner.run(black_box(&args))));
        }
        if let Some(baseline) = w.baseline {
            let args = w.args(&full);
            let runner = Runner::new(&w, Mode::Fused, &args);
            let out_lens: Vec<usize> = match &runner {
                Runner::Expr(_, out) => vec![out.len()],
                Runner::Kernel(k) => k
                    .call(&args)
                    .expect("runs")
                    .iter()
                    .map(|(_, a)| a.len())
                    .collect(),
            };
            let mut outs: Vec<Vec<f64>> = out_lens.iter().map(|&l| vec![0.0; l]).collect();
            let bytes = w.input_bytes(&full) + out_lens.iter().sum::<usize>() * 8;
            group.throughput(Throughput::Bytes(bytes as u64));
            group.bench_function("rust", |b| {
                b.iter(|| {
                    baseline(black_box(&full), &mut outs);
                    black_box(&mut outs);
                })
            });
        }
        group.finish();
    }
}

/// Matrices of short rows, reduced along them: row normalisation and
/// softmax on `n / 10` rows of 10, through the first tier (the stream
/// shims per row; `tier_up_lanes` = `u64::MAX`) and the second (the
/// reductions in the generated code; `tier_up_lanes` = 0), side by side.
fn short_rows(c: &mut Criterion) {
    let n = n();
    let rows = (n / 10).max(1);
    let data: Vec<f64> = (0..rows * 10)
        .map(|i| ((i * 7919) % 1013) as f64 / 97.0)
        .collect();
    let m = arrjit::View::contiguous(arrjit::Buffer::F64(&data), &[rows, 10]).expect("a view");
    let args = [("m", Arg::from(m))];
    let kernels = [
        (
            "rownorm",
            "(m - mean(m, axis=1, keepdims=true)) / std(m, axis=1, keepdims=true)",
        ),
        (
            "softmax",
            "exp(m - max(m, axis=1, keepdims=true)) / sum(exp(m - max(m, axis=1, keepdims=true)), axis=1, keepdims=true)",
        ),
    ];
    for (name, src) in kernels {
        let mut group = c.benchmark_group(format!("short_rows/{name}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .throughput(Throughput::Bytes((2 * rows * 10 * 8) as u64));
        for (label, tier_up_lanes) in [("first_tier", u64::MAX), ("second_tier", 0)] {
            let engine = Engine::with_config(Config {
                verify: false,
                threads: 1,
                tier_up_lanes,
                ..Config::default()
            });
            let expr = engine.compile(src).expect("parses");
            let mut out = expr.eval(&args).expect("runs");
            group.bench_function(label, |b| {
                b.iter(|| {
                    expr.eval_into(black_box(&args), out.view_mut())
                        .expect("runs")
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, throughput, short_rows);
criterion_main!(benches);
