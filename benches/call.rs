//! Call overhead of a cached kernel on tiny inputs: what a host pays per
//! call once the code exists. Baselines in the same group: a hand-written
//! Rust loop (the floor) and the reference interpreter.
//!
//! `cargo bench --bench call`

use arrjit::{Arg, Config, Engine, Mode};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn call(c: &mut Criterion) {
    for n in [1usize, 10, 100] {
        let a: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let b: Vec<f64> = (0..n).map(|i| (i as f64) * 0.5).collect();
        let cc: Vec<f64> = (0..n).map(|i| (i as f64) + 1.0).collect();
        let mut group = c.benchmark_group(format!("call/a*b+c/n={n}"));
        for (label, mode) in [
            ("fused", Mode::Fused),
            ("unfused", Mode::Unfused),
            ("interp", Mode::Interpret),
        ] {
            let engine = Engine::with_config(Config {
                mode,
                verify: false,
                ..Config::default()
            });
            let expr = engine.compile("a*b+c").expect("parses");
            let args = [
                ("a", Arg::from(a.as_slice())),
                ("b", Arg::from(b.as_slice())),
                ("c", Arg::from(cc.as_slice())),
            ];
            expr.eval(&args).expect("warm-up call compiles");
            group.bench_function(label, |bench| {
                bench.iter(|| expr.eval(black_box(&args)).expect("runs"))
            });
        }
        group.bench_function("rust_loop", |bench| {
            bench.iter(|| {
                let (a, b, c) = (black_box(&a), black_box(&b), black_box(&cc));
                let out: Vec<f64> = a
                    .iter()
                    .zip(b)
                    .zip(c)
                    .map(|((x, y), z)| x * y + z)
                    .collect();
                out
            })
        });
        group.finish();
    }
}

criterion_group!(benches, call);
criterion_main!(benches);
