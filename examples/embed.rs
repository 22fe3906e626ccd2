//! Embedding arrjit in a host application: compile an expression once,
//! call it many times on slices and ndarray views, and look at the cache.
//!
//! Run with `cargo run --release --example embed`.

use arrjit::{Arg, Engine, Scalar};
use ndarray::Array2;

fn main() -> anyhow::Result<()> {
    let engine = Engine::new();

    // Expression mode: inputs are bound by name at the call.
    let expr = engine.compile("2*a + 3*b**2 - sqrt(c)")?;
    let n = 1_000_000;
    let a: Vec<f64> = (0..n).map(|i| i as f64 * 1e-6).collect();
    let b: Vec<f64> = (0..n).map(|i| (i % 7) as f64).collect();
    let c: Vec<f64> = (0..n).map(|i| (i % 100) as f64).collect();
    for _ in 0..3 {
        let y = expr.eval(&[
            ("a", a.as_slice().into()),
            ("b", b.as_slice().into()),
            ("c", c.as_slice().into()),
        ])?;
        println!(
            "{} -> {} elements, y[123456] = {}",
            expr.source(),
            y.len(),
            y.get(123_456)
        );
    }

    // Broadcasting a row over a matrix, with a Fortran-order (column-major)
    // view passed without a copy, and a weakly typed literal keeping f32.
    let m = Array2::<f32>::from_shape_fn(ndarray::ShapeBuilder::f((3, 4)), |(i, j)| {
        (i * 4 + j) as f32
    });
    let row: Vec<f32> = vec![1.0, 0.5, 0.25, 0.0];
    let z = engine.eval(
        "where(m > 5, m * row, -1.5)",
        &[
            ("m", Arg::try_from(m.view())?),
            ("row", row.as_slice().into()),
        ],
    )?;
    println!(
        "where(...) -> {} {}: {}",
        z.dtype(),
        z.shape(),
        arrjit::display::format_array(&z)
    );

    // A scalar input.
    let s = engine.eval(
        "clip(x, 0, lim)",
        &[("x", a.as_slice().into()), ("lim", Scalar::F64(0.5).into())],
    )?;
    println!("clip: last = {}", s.get(s.len() - 1));

    let stats = engine.stats();
    println!(
        "cache: {} hits, {} misses, {} kernels, {} bytes of code, {:?} compiling",
        stats.hits, stats.misses, stats.entries, stats.code_bytes, stats.compile_time
    );
    Ok(())
}
