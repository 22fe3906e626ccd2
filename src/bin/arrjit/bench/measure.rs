//! Timing: the statistics of repeated runs, the STREAM triad that gives the
//! machine's memory bandwidth in the same run, and a description of the
//! machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Median, fastest and slowest of the timed runs, in seconds.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(samples: &[Duration]) -> Stats {
        let mut s: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
        s.sort_by(f64::total_cmp);
        let k = s.len() / 2;
        let median = if s.len() % 2 == 1 {
            s[k]
        } else {
            (s[k - 1] + s[k]) / 2.0
        };
        Stats {
            median,
            min: s[0],
            max: s[s.len() - 1],
        }
    }

    /// Every figure multiplied by `factor` (the interpreter's scaling).
    pub fn scaled(self, factor: f64) -> Stats {
        Stats {
            median: self.median * factor,
            min: self.min * factor,
            max: self.max * factor,
        }
    }
}

/// Runs `once` `warmup` times untimed, then `runs` times; `once` times the
/// part that counts itself (so results can be dropped outside the timing).
pub fn repeat<E>(
    warmup: usize,
    runs: usize,
    mut once: impl FnMut() -> Result<Duration, E>,
) -> Result<Stats, E> {
    for _ in 0..warmup {
        once()?;
    }
    let samples = (0..runs.max(1))
        .map(|_| once())
        .collect::<Result<Vec<_>, E>>()?;
    Ok(Stats::of(&samples))
}

/// The STREAM triad `a[i] = b[i] + s*c[i]` on three vectors of `n` f64:
/// bytes moved per second, counting 3 × 8 bytes per element as STREAM does
/// (two reads, one write; no write-allocate traffic).
pub fn triad(n: usize, warmup: usize, runs: usize) -> (f64, Stats) {
    let mut a = super::workloads::zeros(n);
    let mut b = super::workloads::zeros(n);
    let mut c = super::workloads::zeros(n);
    b.fill(1.0);
    c.fill(2.0);
    let stats = repeat::<()>(warmup, runs, || {
        let s = black_box(3.0f64);
        let start = Instant::now();
        for ((a, b), c) in a.iter_mut().zip(&b).zip(&c) {
            *a = b + s * c;
        }
        black_box(&mut a);
        Ok(start.elapsed())
    })
    .expect("the triad cannot fail");
    let bytes = (3 * 8 * n) as f64;
    (bytes / stats.median / 1e9, stats)
}

/// What the JSON says about the machine.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub features: Vec<String>,
    pub os: String,
    pub arch: String,
}

impl Machine {
    pub fn detect() -> Machine {
        Machine {
            cpu: cpu_name(),
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            features: features(),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
        }
    }
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// The SIMD features that matter to array loops, as the CPU reports them
/// (what code *could* use; arrjit's and rustc's code here use the
/// baseline of the target unless said otherwise).
fn features() -> Vec<String> {
    #[allow(unused_mut)]
    let mut found: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => {
                $(if std::arch::is_x86_feature_detected!($f) { found.push($f); })*
            };
        }
        probe!("sse2", "sse4.1", "sse4.2", "avx", "avx2", "fma", "avx512f", "avx512vl");
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => {
                $(if std::arch::is_aarch64_feature_detected!($f) { found.push($f); })*
            };
        }
        probe!("neon", "sve", "sve2");
    }
    found.into_iter().map(str::to_string).collect()
}
