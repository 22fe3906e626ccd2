//! Concurrency stress: one `Engine` shared by eight threads compiling and
//! calling the same and different expressions and kernels at once, with a
//! cache so small that kernels are evicted (and, with a code-memory budget,
//! trimmed) while other threads are still calling them. Every result is
//! checked against the interpreter. Bounded in time for CI (about two
//! seconds); `ARRJIT_STRESS_SECS` runs it longer.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use arrjit::{Arg, Array, Config, Engine, Mode};

use crate::util;

const THREADS: usize = 8;

fn budget() -> Duration {
    std::env::var("ARRJIT_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(Duration::from_millis(2000), Duration::from_secs_f64)
}

const EXPRS: &[&str] = &[
    "2*a + 3*b**2 - sqrt(abs(a))",
    "where(a > b, a * 10, b * 0.5)",
    "a - mean(a) + cumsum(b)",
    "rolling_mean(a, 3) + ewm_mean(b, 0.5)",
    "select([a < -1, a < 1], [0.0, a], b * 2)",
    "sum(a * b) + max(b)",
    "clip(a, -1, 1) ** 2 - b",
];

const KERNELS: &str = "
kernel ewma(a: f64[n], alpha: f64) -> (y: f64[n]) {
    y[0] = a[0]
    y[i] = alpha * a[i] + (1 - alpha) * y[i-1]
}
kernel zs(a: f64[n], b: f64[n]) -> (z: f64[n], lo: f64) {
    let m = rolling_mean(a, 4)
    z = (a - m) * b
    lo = nanmin(z)
}
";

fn data(n: usize, seed: u64) -> Vec<f64> {
    (0..n)
        .map(|k| ((k as u64 * 7919 + seed * 104_729) % 1000) as f64 / 100.0 - 5.0)
        .collect()
}

#[test]
fn eight_threads_with_constant_eviction() {
    let engine = Engine::with_config(Config {
        cache_capacity: 2,
        ..Config::default()
    });
    let oracle = Engine::with_config(Config {
        mode: Mode::Interpret,
        ..Config::default()
    });
    // Inputs of two lengths and two dtypes: distinct signatures per source.
    let a64 = data(257, 1);
    let b64 = data(257, 2);
    let a32: Vec<f32> = data(33, 3).iter().map(|&v| v as f32).collect();
    let b32: Vec<f32> = data(33, 4).iter().map(|&v| v as f32).collect();
    let sets: Vec<[(&str, Arg<'_>); 2]> = vec![
        [("a", (&a64).into()), ("b", (&b64).into())],
        [("a", (&a32).into()), ("b", (&b32).into())],
    ];
    let expected: Vec<Vec<Array>> = EXPRS
        .iter()
        .map(|src| {
            sets.iter()
                .map(|args| oracle.eval(src, args).unwrap())
                .collect()
        })
        .collect();
    let module = engine.compile_module(KERNELS).unwrap();
    let oracle_module = oracle.compile_module(KERNELS).unwrap();
    let kernel_args: [(&str, Arg<'_>); 2] = [("a", (&a64).into()), ("b", (&b64).into())];
    let ewma_args: [(&str, Arg<'_>); 2] = [("a", (&a64).into()), ("alpha", 0.3.into())];
    let want_zs = oracle_module
        .kernel("zs")
        .unwrap()
        .call(&kernel_args)
        .unwrap();
    let want_ewma = oracle_module
        .kernel("ewma")
        .unwrap()
        .call(&ewma_args)
        .unwrap();

    let calls = AtomicU64::new(0);
    let barrier = Barrier::new(THREADS);
    let deadline = Instant::now() + budget();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (engine, module, sets, expected) = (&engine, &module, &sets, &expected);
            let (kernel_args, ewma_args) = (&kernel_args, &ewma_args);
            let (want_zs, want_ewma) = (&want_zs, &want_ewma);
            let (calls, barrier) = (&calls, &barrier);
            scope.spawn(move || {
                // A long-lived expression keeps its last kernel alive while
                // the cache evicts it.
                let held = engine.compile(EXPRS[t % EXPRS.len()]).unwrap();
                barrier.wait();
                let mut round = t;
                while Instant::now() < deadline {
                    round += 1;
                    let e = round % EXPRS.len();
                    let s = (round / EXPRS.len() + t) % sets.len();
                    let y = engine.eval(EXPRS[e], &sets[s]).unwrap();
                    assert_eq!(
                        util::bitwise_diff(&expected[e][s], &y),
                        None,
                        "{}",
                        EXPRS[e]
                    );
                    let h = t % EXPRS.len();
                    let y = held.eval(&sets[0]).unwrap();
                    assert_eq!(util::bitwise_diff(&expected[h][0], &y), None);
                    let got = if round % 2 == 0 {
                        let k = module.kernel("zs").unwrap();
                        (k.call(kernel_args).unwrap(), want_zs)
                    } else {
                        let k = module.kernel("ewma").unwrap();
                        (k.call(ewma_args).unwrap(), want_ewma)
                    };
                    for ((_, g), (_, w)) in got.0.iter().zip(got.1) {
                        assert_eq!(util::bitwise_diff(w, g), None);
                    }
                    if t == 0 && round % 50 == 0 {
                        engine.clear_cache();
                    }
                    calls.fetch_add(3, Relaxed);
                }
            });
        }
    });
    let stats = engine.stats();
    println!("{} calls, {stats:?}", calls.load(Relaxed));
    assert!(stats.entries <= 2, "{stats:?}");
    assert!(stats.evictions > 0, "{stats:?}");
    assert!(calls.load(Relaxed) >= THREADS as u64 * 3);
}

#[test]
fn eight_threads_asking_at_once_compile_once() {
    // Several rounds, each with a fresh engine and a new source, all eight
    // threads released at the same instant.
    let x = data(1000, 5);
    for round in 0..5 {
        let engine = Engine::new();
        let src = format!("sqrt(abs(x)) * {round} + x");
        let barrier = Barrier::new(THREADS);
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                let (engine, src, x, barrier) = (&engine, &src, &x, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let y = engine.eval(src, &[("x", x.into())]).unwrap();
                    assert_eq!(y.len(), 1000);
                });
            }
        });
        let stats = engine.stats();
        assert_eq!(stats.misses, 1, "round {round}: {stats:?}");
        assert_eq!(stats.hits, THREADS as u64 - 1, "round {round}: {stats:?}");
        assert_eq!(stats.entries, 1);
    }
}

#[test]
fn eviction_by_code_memory_while_threads_call() {
    // A budget of about two kernels of code: every new compile trims the
    // least recently used, while the other threads still run theirs.
    let probe = Engine::new();
    let x = data(100, 6);
    probe.eval("x * 1 + 0", &[("x", (&x).into())]).unwrap();
    let one = probe.stats().code_bytes;
    let engine = Engine::with_config(Config {
        max_cache_code_bytes: 2 * one,
        ..Config::default()
    });
    let deadline = Instant::now() + budget() / 2;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (engine, x) = (&engine, &x);
            scope.spawn(move || {
                let mut k = 0;
                while Instant::now() < deadline {
                    k += 1;
                    let c = (k + t) % 12;
                    let y = engine
                        .eval(&format!("x * 1 + {c}"), &[("x", x.into())])
                        .unwrap();
                    assert_eq!(y.to_f64_vec()[0], x[0] + c as f64);
                }
            });
        }
    });
    let stats = engine.stats();
    assert!(stats.code_bytes <= 3 * one, "{stats:?}");
    assert!(stats.evictions > 0, "{stats:?}");
}
