//! The benchmark workloads: their source text, their inputs, and for each
//! built-in one a hand-written Rust loop computing the same result.
//!
//! This file depends only on `arrjit` and `std`, so that the criterion
//! benchmarks (`benches/throughput.rs`, `benches/compile.rs`) include it
//! with `#[path]` and measure exactly the workloads `arrjit bench` does.

use arrjit::{Arg, Buffer, DType, Data, View};

/// The kernels of `examples/kernels.ak` (ewma, running_max, zscore).
pub const KERNELS: &str = include_str!("../../../../examples/kernels.ak");

/// Columns of the row-normalisation matrix; it has `n / 1000` rows, so the
/// default n = 10,000,000 gives the 10,000 × 500.
pub const ROWNORM_COLS: usize = 500;
pub const ROWNORM_ROW_DIVISOR: usize = 1000;

/// The input data, made once per run and shared by every workload and
/// mode. Smaller sizes (the interpreter's) use prefixes of the same data.
pub struct Inputs {
    /// Uniform in [0, 1).
    pub a: Vec<f64>,
    /// Uniform in [0, 1).
    pub b: Vec<f64>,
    /// Uniform in [1, 2) (square roots of it are finite).
    pub c: Vec<f64>,
    /// Uniform in [-3, 3) (every branch of `where`, `select` and `clip`
    /// is taken, unpredictably).
    pub x: Vec<f64>,
    /// The row-normalisation matrix, row-major, `ROWNORM_COLS` wide;
    /// uniform in [0, 1).
    pub m: Vec<f64>,
}

impl Inputs {
    pub fn new(n: usize) -> Inputs {
        let rows = matrix_rows(n);
        Inputs {
            a: uniform(n, 1, 0.0, 1.0),
            b: uniform(n, 2, 0.0, 1.0),
            c: uniform(n, 3, 1.0, 2.0),
            x: uniform(n, 4, -3.0, 3.0),
            m: uniform(rows * ROWNORM_COLS, 5, 0.0, 1.0),
        }
    }

    /// Prefixes of length `n` (`n` at most the length made).
    pub fn slices(&self, n: usize) -> Slices<'_> {
        let rows = matrix_rows(n);
        Slices {
            a: &self.a[..n],
            b: &self.b[..n],
            c: &self.c[..n],
            x: &self.x[..n],
            m: &self.m[..rows * ROWNORM_COLS],
            rows,
            cols: ROWNORM_COLS,
        }
    }
}

pub fn matrix_rows(n: usize) -> usize {
    (n / ROWNORM_ROW_DIVISOR).max(1)
}

/// `n` zeros in memory allocated as the engine allocates its results and
/// NumPy its arrays ([`Data::zeros`]: from 4 MiB, advised to be backed by
/// transparent huge pages). Every input, output and baseline buffer of the
/// harness comes from here, so that all modes, the Rust loops and the
/// triad stream through the same kind of memory as the Python peers do
/// (with 4 KiB pages, `where` at n = 10M took about 10% longer).
pub fn zeros(n: usize) -> Vec<f64> {
    match Data::zeros(DType::F64, n) {
        Data::F64(v) => v,
        _ => unreachable!("Data::zeros(F64) holds f64"),
    }
}

/// Deterministic uniform numbers in `[lo, hi)` (splitmix64): the same
/// data on every run, without a dependency on a random-number crate.
fn uniform(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut v = zeros(n);
    for x in &mut v {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        *x = lo + (hi - lo) * unit;
    }
    v
}

/// Prefixes of the inputs at one size.
pub struct Slices<'a> {
    pub a: &'a [f64],
    pub b: &'a [f64],
    pub c: &'a [f64],
    pub x: &'a [f64],
    /// `rows × cols`, row-major.
    pub m: &'a [f64],
    pub rows: usize,
    pub cols: usize,
}

/// What a parameter of a workload is bound to.
#[derive(Clone, Copy, Debug)]
pub enum Param {
    A,
    B,
    C,
    X,
    /// The row-normalisation matrix.
    M,
    F64(f64),
    I64(i64),
}

impl Param {
    fn arg<'a>(self, s: &Slices<'a>) -> Arg<'a> {
        match self {
            Param::A => Arg::from(s.a),
            Param::B => Arg::from(s.b),
            Param::C => Arg::from(s.c),
            Param::X => Arg::from(s.x),
            Param::M => Arg::Array(
                View::contiguous(Buffer::F64(s.m), &[s.rows, s.cols]).expect("rows*cols elements"),
            ),
            Param::F64(v) => Arg::from(v),
            Param::I64(v) => Arg::from(v),
        }
    }

    /// Bytes read when the parameter is read once.
    fn bytes(self, s: &Slices<'_>) -> usize {
        match self {
            Param::A | Param::B | Param::C | Param::X => s.a.len() * 8,
            Param::M => s.m.len() * 8,
            Param::F64(_) | Param::I64(_) => 8,
        }
    }
}

/// What is compiled: an expression, or a kernel of [`KERNELS`].
#[derive(Clone, Debug)]
pub enum Source {
    Expr(String),
    Kernel(&'static str),
}

/// A hand-written Rust loop: reads the slices, writes every output (each
/// output preallocated, flattened row-major; a scalar output has length 1).
pub type Baseline = fn(&Slices<'_>, &mut [Vec<f64>]);

pub struct Workload {
    /// Short name, the key in the JSON and in `compare.py`.
    pub name: String,
    pub source: Source,
    pub params: Vec<(String, Param)>,
    pub baseline: Option<Baseline>,
    /// Largest difference allowed between the Rust loop and the fused
    /// result, relative to `max(1, |value|)`: 0 where both do the same
    /// operations in the same order.
    pub tolerance: f64,
}

impl Workload {
    fn builtin(
        name: &str,
        source: Source,
        params: &[(&str, Param)],
        baseline: Baseline,
        tolerance: f64,
    ) -> Workload {
        Workload {
            name: name.to_string(),
            source,
            params: params.iter().map(|(n, p)| (n.to_string(), *p)).collect(),
            baseline: Some(baseline),
            tolerance,
        }
    }

    /// A workload for an expression given on the command line: each input
    /// name gets one of the vectors a, b, c, x in turn (by first appearance).
    pub fn user(src: &str, input_names: &[String]) -> Workload {
        let pool = [Param::A, Param::B, Param::C, Param::X];
        Workload {
            name: src.to_string(),
            source: Source::Expr(src.to_string()),
            params: input_names
                .iter()
                .enumerate()
                .map(|(k, n)| (n.clone(), pool[k % pool.len()]))
                .collect(),
            baseline: None,
            tolerance: 0.0,
        }
    }

    /// The source text (the expression, or the kernel's name in kernels.ak).
    pub fn text(&self) -> String {
        match &self.source {
            Source::Expr(s) => s.clone(),
            Source::Kernel(k) => format!("kernel {k} (examples/kernels.ak)"),
        }
    }

    /// Whether the workload is the row-normalisation matrix one.
    pub fn is_matrix(&self) -> bool {
        self.params.iter().any(|(_, p)| matches!(p, Param::M))
    }

    /// The arguments at one size, bound by name.
    pub fn args<'a>(&'a self, s: &Slices<'a>) -> Vec<(&'a str, Arg<'a>)> {
        self.params
            .iter()
            .map(|(name, p)| (name.as_str(), p.arg(s)))
            .collect()
    }

    /// Bytes of input read once at this size.
    pub fn input_bytes(&self, s: &Slices<'_>) -> usize {
        self.params.iter().map(|(_, p)| p.bytes(s)).sum()
    }

    /// Elements the workload processes at this size (the `n` reported).
    pub fn elements(&self, s: &Slices<'_>) -> usize {
        if self.is_matrix() {
            s.m.len()
        } else {
            s.a.len()
        }
    }
}

/// The built-in suite, in the order the issue lists it.
pub fn builtin() -> Vec<Workload> {
    use Param::*;
    use Source::{Expr, Kernel};
    let e = |s: &str| Expr(s.to_string());
    vec![
        Workload::builtin("sum", e("sum(a)"), &[("a", A)], rust::sum, 1e-9),
        Workload::builtin(
            "a*b+c",
            e("a*b+c"),
            &[("a", A), ("b", B), ("c", C)],
            rust::axpy,
            0.0,
        ),
        Workload::builtin(
            "2*a + 3*b**2 - sqrt(c)",
            e("2*a + 3*b**2 - sqrt(c)"),
            &[("a", A), ("b", B), ("c", C)],
            rust::poly_sqrt,
            0.0,
        ),
        // std's exp and sin (the platform libm) against arrjit's: allowed
        // to differ in the last bits.
        Workload::builtin("exp", e("exp(x)"), &[("x", X)], rust::exp, 1e-14),
        Workload::builtin("sin", e("sin(x)"), &[("x", X)], rust::sin, 1e-14),
        Workload::builtin("clip", e("clip(x, -1, 1)"), &[("x", X)], rust::clip, 0.0),
        Workload::builtin(
            "where",
            e("where(x > 0.5, x*10, x*0.5)"),
            &[("x", X)],
            rust::where_,
            0.0,
        ),
        Workload::builtin(
            "select",
            e("select([x < -1, x < 1], [0.0, x], x * 2)"),
            &[("x", X)],
            rust::select,
            0.0,
        ),
        Workload::builtin("diff", e("diff(x)"), &[("x", X)], rust::diff, 0.0),
        Workload::builtin("cumsum", e("cumsum(x)"), &[("x", X)], rust::cumsum, 1e-12),
        Workload::builtin(
            "running_max",
            Kernel("running_max"),
            &[("x", X)],
            rust::running_max,
            0.0,
        ),
        Workload::builtin(
            "ewma",
            Kernel("ewma"),
            &[("x", X), ("alpha", F64(rust::EWMA_ALPHA))],
            rust::ewma,
            0.0,
        ),
        Workload::builtin(
            "zscore",
            Kernel("zscore"),
            &[("x", X), ("w", I64(rust::ZSCORE_W as i64))],
            rust::zscore,
            1e-8,
        ),
        Workload::builtin(
            "rownorm",
            e("(m - mean(m, axis=1, keepdims=true)) / std(m, axis=1, keepdims=true)"),
            &[("m", M)],
            rust::rownorm,
            1e-12,
        ),
    ]
}

/// Whether `got` is within `tolerance` of `want`, relative to
/// `max(1, |want|)`; NaNs are equal to NaNs (and only to them).
pub fn close(got: f64, want: f64, tolerance: f64) -> bool {
    if got.is_nan() || want.is_nan() {
        return got.is_nan() && want.is_nan();
    }
    if got == want {
        return true;
    }
    (got - want).abs() <= tolerance * want.abs().max(1.0)
}

/// The hand-written loops: what rustc makes of the obvious optimised Rust
/// (release profile, the default target CPU, no `unsafe`). Each writes
/// preallocated outputs, as `eval_into` does for the compiled modes.
pub mod rust {
    use super::Slices;

    pub const EWMA_ALPHA: f64 = 0.1;
    pub const ZSCORE_W: usize = 100;

    /// Eight independent accumulators, so the adds pipeline and vectorise.
    fn sum8(v: &[f64]) -> f64 {
        let chunks = v.chunks_exact(8);
        let tail = chunks.remainder();
        let mut acc = [0.0f64; 8];
        for chunk in chunks {
            for (a, v) in acc.iter_mut().zip(chunk) {
                *a += v;
            }
        }
        let mut total =
            ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for v in tail {
            total += v;
        }
        total
    }

    pub fn sum(s: &Slices<'_>, out: &mut [Vec<f64>]) {
        out[0][0] = sum8(s.a);
    }

    pub fn axpy(s: &Slices<'_>, out: &mut [Vec<f64>]) {
        for (((y, a), b), c) in out[0].iter_mut().zip(s.a).zip(s.b).zip(s.c) {
            *y = a * b + c;
        }
    }

    pub fn poly_sqrt(s: &Slices<'_>, out: &mut [Vec<f64>]) {
        for (((y, a), b), c) in out[0].iter_mut().zip(s.a).zip(s.b).zip(s.c) {
            *y = 2.0 * a + 3.0 * (b * b) - c.sqrt();
        }
    }

    pub fn exp(s: &Slices<'_>, out: &mut [Vec<f64>]) {
        for (y, x) in out[0].iter_mut().zip(s.x) {
            *y = x.exp();
        }
    }

    pub fn sin(s: &Slices<'_>, out: &mut [Vec<f64>]) {
        for (y, x) in out[0].iter_mut().zip(s.x) {
            *y = x.sin();
        }
    }

    /// `f64::clamp` compiles to `maxsd`/`minsd`: no branch.
    pub fn clip(s: &Slices<'_>, out: &mut [Vec<f64>]) {
        for (y, &x) in out[0].iter_mut().zip(s.x) {
            *y = x.clamp(-1.0, 1.0);
        }
    }

    /// Both arms computed, then chosen: LLVM makes a blend, not a branch
    /// (the data are random, so a branch would be mispredicted half the time).
    pub fn where_(s: &Slices<'_>, out: &mut [Vec<f64>]) {
        for (y, &x) in out[0].iter_mut().zip(s.x) {
            let (hi, lo) = (x * 10.0, x * 0.5);
            *y = if x > 0.5 { hi } else { lo };
        }
    }

    pub fn select(s: &Slices<'_>, out: &mut [Vec<f64>]) {
        for (y, &x) in out[0].iter_mut().zip(s.x) {
            let upper = if x < 1.0 { x } else { x * 2.0 };
            *y = if x < -1.0 { 0.0 } else { upper };
        }
    }

    pub fn diff(s: &Slices<'_>, out: &mut [Vec<f64>]) {
        for (y, w) in out[0].iter_mut().zip(s.x.windows(2)) {
            *y = w[1] - w[0];
        }
    }

    pub fn cumsum(s: &Slices<'_>, out: &mut [Vec<f64>]) {
        let mut acc = 0.0;
        for (y, x) in out[0].iter_mut().zip(s.x) {
            acc += x;
            *y = acc;
        }
    }

    pub fn running_max(s: &Slices<'_>, out: &mut [Vec<f64>]) {
        let mut acc = f64::NEG_INFINITY;
        for (y, &x) in out[0].iter_mut().zip(s.x) {
            // The inputs have no NaN, so NaN propagation needs no test.
            acc = if x > acc { x } else { acc };
            *y = acc;
        }
    }

    pub fn ewma(s: &Slices<'_>, out: &mut [Vec<f64>]) {
        let (alpha, beta) = (EWMA_ALPHA, 1.0 - EWMA_ALPHA);
        let y = &mut out[0];
        let Some(&first) = s.x.first() else { return };
        let mut prev = first;
        y[0] = first;
        for (y, x) in y[1..].iter_mut().zip(&s.x[1..]) {
            prev = alpha * x + beta * prev;
            *y = prev;
        }
    }

    /// Rolling mean and population standard deviation over windows of
    /// `ZSCORE_W` by a sliding Welford update (O(n), stable), then the
    /// z-score and its NaN-skipping min and max.
    pub fn zscore(s: &Slices<'_>, out: &mut [Vec<f64>]) {
        let w = ZSCORE_W;
        let x = s.x;
        let (z, rest) = out.split_at_mut(1);
        let z = &mut z[0];
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut mean, mut m2) = (0.0f64, 0.0f64);
        for (i, &v) in x.iter().enumerate() {
            if i < w {
                let d = v - mean;
                mean += d / (i + 1) as f64;
                m2 += d * (v - mean);
            } else {
                let old = x[i - w];
                let old_mean = mean;
                mean += (v - old) / w as f64;
                m2 += (v - old) * (v - mean + old - old_mean);
            }
            if i + 1 < w {
                z[i] = f64::NAN;
                continue;
            }
            let sd = (m2.max(0.0) / w as f64).sqrt();
            let zi = (v - mean) / sd;
            z[i] = zi;
            if zi < lo {
                lo = zi;
            }
            if zi > hi {
                hi = zi;
            }
        }
        if x.len() < w {
            (lo, hi) = (f64::NAN, f64::NAN);
        }
        rest[0][0] = lo;
        rest[1][0] = hi;
    }

    /// Two passes per row: the mean, then the variance about it.
    pub fn rownorm(s: &Slices<'_>, out: &mut [Vec<f64>]) {
        let cols = s.cols as f64;
        for (row, y) in
            s.m.chunks_exact(s.cols)
                .zip(out[0].chunks_exact_mut(s.cols))
        {
            let mean = sum8(row) / cols;
            // The deviations go through the output row, so the variance
            // is a vectorisable sum too.
            for (y, v) in y.iter_mut().zip(row) {
                *y = (v - mean) * (v - mean);
            }
            let sd = (sum8(y) / cols).sqrt();
            for (y, v) in y.iter_mut().zip(row) {
                *y = (v - mean) / sd;
            }
        }
    }
}
