//! Cold compile time: lowering, planning and Cranelift code generation of
//! the seed expressions, with a fresh cache each time. Baselines in the same
//! group: the front end alone (interpret mode: parse + lower + plan, no
//! code generation) and Cranelift without optimisation.
//!
//! A second set of groups, `compile/workload/NAME`, compiles every
//! workload of `arrjit bench` (expressions and the kernels of
//! `examples/kernels.ak`) fused and unfused; for a kernel the figure
//! includes one call on 256 elements, since a kernel compiles on its first
//! call.
//!
//! `compile/second_tier/NAME` prices the second tier for short lanes
//! (`Config::tier_up_lanes`): the first tier alone against both.
//!
//! `cargo bench --bench compile`

use arrjit::codegen::OptLevel;
use arrjit::{Arg, Config, Engine, Mode};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

#[path = "../src/bin/arrjit/bench/workloads.rs"]
#[allow(dead_code)]
mod workloads;

const SEEDS: &[(&str, &str)] = &[
    ("a*b+c", "a*b+c"),
    ("poly_sqrt", "2*a + 3*b**2 - sqrt(c)"),
    ("where", "where(x > 0.5, x*10, x*0.5)"),
    ("select3", "select([x < -1, x < 1], [0.0, x], x * 2)"),
    ("exp", "exp(x)"),
];

fn bind<'a>(names: &'a [String], data: &'a [f64]) -> Vec<(&'a str, Arg<'a>)> {
    names
        .iter()
        .map(|n| (n.as_str(), Arg::from(data)))
        .collect()
}

fn compile(c: &mut Criterion) {
    let data = vec![0.5f64; 8];
    let configs = [
        ("jit_speed", Config::default()),
        (
            "jit_opt_none",
            Config {
                opt_level: OptLevel::None,
                ..Config::default()
            },
        ),
        (
            "front_end_only",
            Config {
                mode: Mode::Interpret,
                ..Config::default()
            },
        ),
    ];
    for (name, src) in SEEDS {
        let mut group = c.benchmark_group(format!("compile/{name}"));
        for (label, config) in &configs {
            let config = Config {
                verify: false,
                ..config.clone()
            };
            let names = Engine::new()
                .compile(src)
                .expect("parses")
                .inputs()
                .to_vec();
            let args = bind(&names, &data);
            group.bench_function(*label, |b| {
                b.iter_batched(
                    || {
                        Engine::with_config(config.clone())
                            .compile(src)
                            .expect("parses")
                    },
                    |expr| expr.compiled(&args).expect("compiles"),
                    BatchSize::SmallInput,
                )
            });
        }
        group.finish();
    }
}

/// Cold compile of every `arrjit bench` workload, fused and unfused.
fn compile_workloads(c: &mut Criterion) {
    let inputs = workloads::Inputs::new(256);
    let slices = inputs.slices(256);
    for w in workloads::builtin() {
        let args = w.args(&slices);
        let mut group = c.benchmark_group(format!("compile/workload/{}", w.name));
        for (label, mode) in [("fused", Mode::Fused), ("unfused", Mode::Unfused)] {
            let config = Config {
                mode,
                verify: false,
                ..Config::default()
            };
            group.bench_function(label, |b| {
                b.iter_batched(
                    || Engine::with_config(config.clone()),
                    |engine| match &w.source {
                        workloads::Source::Expr(src) => drop(
                            engine
                                .compile(src)
                                .expect("parses")
                                .compiled(&args)
                                .expect("compiles"),
                        ),
                        workloads::Source::Kernel(name) => drop(
                            engine
                                .compile_module(workloads::KERNELS)
                                .and_then(|m| m.kernel(name))
                                .and_then(|k| k.call(&args))
                                .expect("compiles and runs"),
                        ),
                    },
                    BatchSize::SmallInput,
                )
            });
        }
        group.finish();
    }
}

/// Kernels with short rows to reduce.
const SHORT_ROWS: &[(&str, &str)] = &[
    (
        "rownorm",
        "(m - mean(m, axis=1, keepdims=true)) / std(m, axis=1, keepdims=true)",
    ),
    (
        "softmax",
        "exp(m - max(m, axis=1, keepdims=true)) / sum(exp(m - max(m, axis=1, keepdims=true)), axis=1, keepdims=true)",
    ),
];

/// The price of the second tier for short lanes: a cold compile of the
/// first tier (what every kernel pays) beside the first tier plus the
/// second, compiled by a first call on 64 rows of 10 with
/// `tier_up_lanes` = 0. Their difference is what `Config::tier_up_lanes`
/// weighs against the second tier's saving per row.
fn compile_second_tier(c: &mut Criterion) {
    let data = vec![0.5f64; 640];
    let m = arrjit::View::contiguous(arrjit::Buffer::F64(&data), &[64, 10]).expect("a view");
    let args = [("m", Arg::from(m))];
    for (name, src) in SHORT_ROWS {
        let mut group = c.benchmark_group(format!("compile/second_tier/{name}"));
        for (label, tier_up_lanes) in [("first_tier", u64::MAX), ("both_tiers", 0)] {
            let config = Config {
                verify: false,
                threads: 1,
                tier_up_lanes,
                ..Config::default()
            };
            group.bench_function(label, |b| {
                b.iter_batched(
                    || Engine::with_config(config.clone()),
                    |engine| {
                        let expr = engine.compile(src).expect("parses");
                        drop(expr.eval(&args).expect("runs"));
                        engine
                    },
                    BatchSize::SmallInput,
                )
            });
        }
        group.finish();
    }
}

criterion_group!(benches, compile, compile_workloads, compile_second_tier);
criterion_main!(benches);
