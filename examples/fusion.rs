//! Fused against unfused evaluation of a few expressions on 10 million
//! elements: what fusion buys before any SIMD work. Medians of 7 runs
//! after a warm-up, all modes in the same process.
//!
//! Run with `cargo run --release --example fusion [N]`.

use std::time::{Duration, Instant};

use arrjit::{Arg, Config, Engine, Mode};

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.replace('_', "").parse())
        .transpose()?
        .unwrap_or(10_000_000);
    let a: Vec<f64> = (0..n).map(|i| (i % 1000) as f64 * 1e-3).collect();
    let b: Vec<f64> = (0..n).map(|i| (i % 777) as f64 * 2e-3).collect();
    let c: Vec<f64> = (0..n).map(|i| (i % 555) as f64 + 1.0).collect();
    let exprs = [
        "a*b+c",
        "2*a + 3*b**2 - sqrt(c)",
        "where(a > 0.5, a*10, a*0.5)",
        "select([a < 0.2, a < 0.6], [0.0, a], a * 2)",
        "clip(a, 0.25, 0.75)",
        "sum(a * b)",
        "a - mean(a)",
        "cumsum(a * 2 + 1)",
        "(a - rolling_mean(a, 100)) / rolling_std(a, 100)",
    ];
    println!("n = {n}; median of 7 runs");
    println!(
        "{:<46} {:>10} {:>10} {:>8}",
        "expression", "unfused", "fused", "speedup"
    );
    for src in exprs {
        let mut times = Vec::new();
        for mode in [Mode::Unfused, Mode::Fused] {
            let engine = Engine::with_config(Config {
                mode,
                ..Config::default()
            });
            let expr = engine.compile(src)?;
            let args: Vec<(&str, Arg<'_>)> = expr
                .inputs()
                .iter()
                .map(|name| {
                    let data = match name.as_str() {
                        "a" => &a,
                        "b" => &b,
                        _ => &c,
                    };
                    (name.as_str(), Arg::from(data.as_slice()))
                })
                .collect();
            expr.eval(&args)?;
            let runs: Vec<Duration> = (0..7)
                .map(|_| {
                    let t = Instant::now();
                    let y = expr.eval(&args).expect("runs");
                    let dt = t.elapsed();
                    drop(y);
                    dt
                })
                .collect();
            times.push(median(runs));
        }
        println!(
            "{src:<46} {:>8.2}ms {:>8.2}ms {:>7.2}x",
            times[0].as_secs_f64() * 1e3,
            times[1].as_secs_f64() * 1e3,
            times[0].as_secs_f64() / times[1].as_secs_f64()
        );
    }
    Ok(())
}
