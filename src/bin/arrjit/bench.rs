//! `arrjit bench`: the benchmark harness.
//!
//! Every workload runs in every mode in one process, on inputs made once
//! outside any timing: the reference interpreter (at a smaller n, scaled),
//! one compiled loop per operation (`unfused`), the fused loop (`fused`),
//! and a hand-written Rust loop (`rust`). Each figure is the median of
//! several runs after a warm-up, with min and max, the modes of a workload
//! timed round-robin so that load drift hits them alike; the STREAM triad measured
//! in the same run says what the memory system allows.
//!
//! Before anything is timed, the fused and unfused results are compared
//! bitwise with the interpreter's (the architecture invariant), and the Rust
//! loop's result with the fused one (within the workload's tolerance): a
//! fast wrong answer fails the run.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use arrjit::{Arg, Array, Config, Data, Engine, Error, ErrorKind, Expr, Kernel, Mode, ViewMut};

mod measure;
mod report;
mod workloads;

use measure::{Machine, Stats};
use workloads::{Inputs, Source, Workload};

#[derive(Args)]
pub struct BenchArgs {
    /// Expressions to measure instead of the built-in suite (each input
    /// name is bound to a vector of n f64 values).
    #[arg(value_name = "EXPR")]
    pub exprs: Vec<String>,

    /// Elements per vector (underscores allowed: 10_000_000).
    #[arg(long, value_parser = parse_count)]
    pub n: Option<usize>,

    /// A fast pass: n = 1,000,000 and fewer runs (the whole suite in well
    /// under a minute).
    #[arg(long)]
    pub quick: bool,

    /// Also write the results as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Also write a bar chart per workload to PATH (.svg or .html).
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,

    /// Timed runs per figure (after the warm-up).
    #[arg(long)]
    pub runs: Option<usize>,

    /// Elements the interpreter runs on (its time is scaled up to n).
    #[arg(long, value_parser = parse_count)]
    pub interp_n: Option<usize>,

    /// With EXPRs, run the built-in suite too.
    #[arg(long)]
    pub suite: bool,

    /// Only the built-in workloads with these names (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,

    /// Only these modes (comma-separated: interp, unfused, fused, fused-mt, rust).
    #[arg(long, value_delimiter = ',')]
    pub modes: Vec<String>,

    /// Compile the unfused and fused modes with fast-math (fused
    /// multiply-adds, linear recurrences two rows at a time); their results
    /// are then checked against the interpreter within each workload's
    /// tolerance (at least 1e-12), not bit for bit.
    #[arg(long)]
    pub fast_math: bool,
}

fn parse_count(s: &str) -> Result<usize, String> {
    let n: usize = s
        .replace('_', "")
        .parse()
        .map_err(|_| format!("`{s}` is not a count"))?;
    if n < 2 {
        return Err("n must be at least 2".to_string());
    }
    Ok(n)
}

/// How a mode runs a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runner {
    Engine(Mode),
    Rust,
}

/// One column of the comparison. The list is data: a mode the engine
/// cannot run yet is listed with the reason, printed instead of a figure.
pub struct ModeSpec {
    pub name: &'static str,
    pub runner: Runner,
    /// Threads for compiled code (`Config::threads`); 0 = the engine's
    /// default, every core unless `ARRJIT_NUM_THREADS` says otherwise.
    pub threads: usize,
    pub unavailable: Option<&'static str>,
    /// What one timed run includes.
    pub includes: &'static str,
}

pub const MODES: &[ModeSpec] = &[
    ModeSpec {
        name: "interp",
        runner: Runner::Engine(Mode::Interpret),
        threads: 1,
        unavailable: None,
        includes:
            "reference interpreter, element by element, allocating its result and copying it out \
                   (run at a smaller n and scaled linearly to n: marked *)",
    },
    ModeSpec {
        name: "unfused",
        runner: Runner::Engine(Mode::Unfused),
        threads: 1,
        unavailable: None,
        includes: "one compiled loop per operation, temporaries allocated per call \
                   (as NumPy), result written into a preallocated array",
    },
    ModeSpec {
        name: "fused",
        runner: Runner::Engine(Mode::Fused),
        threads: 1,
        unavailable: None,
        includes: "the fused compiled loop on one thread, result written into a \
                   preallocated array",
    },
    ModeSpec {
        name: "fused-mt",
        runner: Runner::Engine(Mode::Fused),
        threads: 0,
        unavailable: None,
        includes: "the fused compiled loop on every core (a large call split into chunks of \
                   its leading axis when its outputs are independent along it, or are full \
                   sums/extremes combined exactly, or differences reading a few rows past \
                   the chunk, or rolling windows of an input replaying a few rows before \
                   it, or recurrences of inputs repaired from the chunk before; others \
                   run whole, on one thread), result written into a preallocated array",
    },
    ModeSpec {
        name: "rust",
        runner: Runner::Rust,
        threads: 1,
        unavailable: None,
        includes: "a hand-written Rust loop compiled by rustc (release, default target CPU), \
                   writing preallocated outputs",
    },
];

impl ModeSpec {
    /// Threads the mode runs on: `threads`, or for 0 the engine's default
    /// (`ARRJIT_NUM_THREADS`, else every core).
    pub fn threads_used(&self) -> usize {
        arrjit::par::resolve_threads(self.threads)
    }
}

/// The engine configuration of a mode (a fresh engine per workload, so
/// its cache statistics are that workload's compile time).
fn config_for(mode: Mode, spec: &ModeSpec, fast_math: bool) -> Config {
    Config {
        mode,
        verify: false,
        threads: spec.threads,
        fast_math,
        ..Config::default()
    }
}

/// Sizes and repetitions of one run of the harness.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub n: usize,
    pub interp_n: usize,
    pub warmup: usize,
    pub runs: usize,
    pub interp_runs: usize,
    /// Compiled modes use fast-math (`--fast-math`).
    pub fast_math: bool,
}

impl Plan {
    fn from_args(args: &BenchArgs) -> Plan {
        let n = args
            .n
            .unwrap_or(if args.quick { 1_000_000 } else { 10_000_000 });
        let default_interp = if args.quick { 20_000 } else { 200_000 };
        let interp_n = args.interp_n.unwrap_or(default_interp).min(n);
        let runs = args.runs.unwrap_or(if args.quick { 5 } else { 9 });
        Plan {
            n,
            interp_n,
            warmup: 1,
            runs,
            interp_runs: runs.min(5),
            fast_math: args.fast_math,
        }
    }
}

/// One measured figure.
#[derive(Clone, Debug)]
pub struct Row {
    pub workload: String,
    pub mode: &'static str,
    /// Elements processed in the timed runs.
    pub n: usize,
    /// As measured at `n`.
    pub stats: Stats,
    /// Bytes read (each input once) and written (each output once) at `n`.
    pub bytes: usize,
    pub compile_s: Option<f64>,
    /// For the interpreter: the suite's n its figures are scaled to.
    pub scaled_to: Option<usize>,
}

impl Row {
    pub fn gbps(&self) -> f64 {
        self.bytes as f64 / self.stats.median / 1e9
    }

    /// Figures at the suite's size (scaled for the interpreter).
    pub fn shown(&self) -> Stats {
        match self.scaled_to {
            Some(full) => self.stats.scaled(full as f64 / self.n as f64),
            None => self.stats,
        }
    }
}

/// Everything one run measured.
pub struct Results {
    pub machine: Machine,
    pub plan: Plan,
    pub triad_gbps: f64,
    pub triad: Stats,
    pub rows: Vec<Row>,
    /// (workload name, source text) in suite order.
    pub workloads: Vec<(String, String)>,
    /// Modes or workload/mode pairs that were not measured, and why.
    pub notes: Vec<String>,
    /// The 1-minute load average before and after the run (Linux), to
    /// say how busy a shared machine was.
    pub load: Option<(f64, f64)>,
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

pub fn run(args: BenchArgs) -> Result<(), Error> {
    let plan = Plan::from_args(&args);
    if let Some(path) = &args.report {
        report::chart_is_html(path)?;
    }
    let modes = selected_modes(&args.modes)?;
    let suite = select_workloads(&args)?;

    let load_before = load_average();
    let progress = ProgressBar::new(1);
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    progress.set_message(format!("making inputs (n = {})", plan.n));
    let inputs = Inputs::new(plan.n);

    progress.set_message("STREAM triad");
    let (triad_gbps, triad) = measure::triad(plan.n, plan.warmup, plan.runs);

    let mut notes = Vec::new();
    for spec in MODES {
        if let (Some(why), true) = (spec.unavailable, modes.contains(&spec.name)) {
            notes.push(format!("{}: not measured: {why}", spec.name));
        }
    }
    let measurable: Vec<&ModeSpec> = MODES
        .iter()
        .filter(|m| m.unavailable.is_none() && modes.contains(&m.name))
        .collect();
    progress.set_length((suite.len() * measurable.len()) as u64);
    progress.set_position(0);

    let mut rows = Vec::new();
    for workload in &suite {
        let measured = measure_workload(workload, &inputs, &plan, &measurable, &progress)
            .map_err(|e| in_workload(workload, e))?;
        rows.extend(measured.rows);
        notes.extend(measured.notes);
    }
    progress.finish_and_clear();

    let results = Results {
        machine: Machine::detect(),
        plan,
        triad_gbps,
        triad,
        rows,
        workloads: suite.iter().map(|w| (w.name.clone(), w.text())).collect(),
        notes,
        load: load_before.zip(load_average()),
    };
    print!("{}", report::table(&results));
    if let Some(path) = &args.json {
        report::write_json(&results, path)?;
    }
    if let Some(path) = &args.report {
        report::write_chart(&results, path)?;
    }
    Ok(())
}

fn in_workload(w: &Workload, e: Error) -> Error {
    let mut err = Error::new(e.kind(), format!("workload `{}`: {}", w.name, e.message()));
    for note in e.notes() {
        err = err.with_note(note.clone());
    }
    err
}

fn selected_modes(names: &[String]) -> Result<Vec<&'static str>, Error> {
    if names.is_empty() {
        return Ok(MODES.iter().map(|m| m.name).collect());
    }
    names
        .iter()
        .map(|n| {
            MODES
                .iter()
                .find(|m| m.name == n)
                .map(|m| m.name)
                .ok_or_else(|| {
                    let all: Vec<&str> = MODES.iter().map(|m| m.name).collect();
                    Error::new(
                        ErrorKind::Call,
                        format!("no mode `{n}` (modes: {})", all.join(", ")),
                    )
                })
        })
        .collect()
}

fn select_workloads(args: &BenchArgs) -> Result<Vec<Workload>, Error> {
    let mut suite = Vec::new();
    if args.exprs.is_empty() || args.suite {
        let builtin = workloads::builtin();
        for name in &args.only {
            if !builtin.iter().any(|w| &w.name == name) {
                let all: Vec<&str> = builtin.iter().map(|w| w.name.as_str()).collect();
                return Err(Error::new(
                    ErrorKind::Call,
                    format!(
                        "no built-in workload `{name}` (workloads: {})",
                        all.join(", ")
                    ),
                ));
            }
        }
        suite.extend(
            builtin
                .into_iter()
                .filter(|w| args.only.is_empty() || args.only.contains(&w.name)),
        );
    }
    for src in &args.exprs {
        let expr = Engine::new()
            .compile(src)
            .map_err(|e| Error::new(e.kind(), format!("`{src}`: {}", e.message())))?;
        suite.push(Workload::user(src, expr.inputs()));
    }
    Ok(suite)
}

/// An expression or kernel compiled by one engine.
enum Compiled {
    Expr(Expr),
    Kernel(Kernel),
}

impl Compiled {
    fn new(workload: &Workload, engine: &Engine) -> Result<Compiled, Error> {
        Ok(match &workload.source {
            Source::Expr(src) => Compiled::Expr(engine.compile(src)?),
            Source::Kernel(name) => {
                Compiled::Kernel(engine.compile_module(workloads::KERNELS)?.kernel(name)?)
            }
        })
    }

    /// Evaluates, allocating the outputs (the first call also compiles).
    fn call(&self, args: &[(&str, Arg<'_>)]) -> Result<Vec<Array>, Error> {
        match self {
            Compiled::Expr(e) => Ok(vec![e.eval(args)?]),
            Compiled::Kernel(k) => Ok(k.call(args)?.into_iter().map(|(_, a)| a).collect()),
        }
    }

    /// One timed evaluation into `outs` (the outputs of the first call, in
    /// output order), so nothing is allocated for them, as in the Rust loops.
    fn timed(&self, args: &[(&str, Arg<'_>)], outs: &mut [Array]) -> Result<Duration, Error> {
        match self {
            Compiled::Expr(e) => {
                let start = Instant::now();
                e.eval_into(args, outs[0].view_mut())?;
                Ok(start.elapsed())
            }
            Compiled::Kernel(k) => {
                let names = k.outputs();
                let mut views: Vec<(&str, ViewMut<'_>)> = names
                    .into_iter()
                    .zip(outs.iter_mut().map(Array::view_mut))
                    .collect();
                let start = Instant::now();
                let rest = k.call_into(args, &mut views)?;
                let elapsed = start.elapsed();
                if !rest.is_empty() {
                    return Err(Error::internal(format!(
                        "kernel `{}` returned {} output(s) it was given views for",
                        k.name(),
                        rest.len()
                    )));
                }
                Ok(elapsed)
            }
        }
    }
}

struct Measured {
    rows: Vec<Row>,
    notes: Vec<String>,
}

fn measure_workload(
    workload: &Workload,
    inputs: &Inputs,
    plan: &Plan,
    modes: &[&ModeSpec],
    progress: &ProgressBar,
) -> Result<Measured, Error> {
    let small = inputs.slices(plan.interp_n);
    let full = inputs.slices(plan.n);
    let small_args = workload.args(&small);
    let full_args = workload.args(&full);

    // The oracle, at the interpreter's size, computed whether or not the
    // interpreter is among the modes timed.
    let interp_engine = engine(Mode::Interpret, &MODES[0], false);
    let interp = Compiled::new(workload, &interp_engine)?;
    let reference = interp.call(&small_args)?;

    // The fused result at full size, the Rust loop's reference.
    // Fast-math results are checked within a tolerance, not bit for bit.
    let fast_math = plan.fast_math;
    let tolerance = if fast_math {
        workload.tolerance.max(1e-12)
    } else {
        workload.tolerance
    };
    let against_interpreter = |what: &str, got: &[Array]| {
        if fast_math {
            check_close(what, got, &reference, tolerance)
        } else {
            check_same(what, got, "the interpreter", &reference)
        }
    };
    let fused_engine = engine(Mode::Fused, &MODES[2], fast_math);
    let fused = Compiled::new(workload, &fused_engine)?;
    against_interpreter("fused", &fused.call(&small_args)?)?;
    let fused_full = fused.call(&full_args)?;

    let out_bytes =
        |outs: &[Array]| -> usize { outs.iter().map(|a| a.len() * a.dtype().size()).sum() };
    let mut notes = Vec::new();

    // Prepare every mode (compile, check, make its outputs), then time
    // them round-robin: each round runs every mode once, so a change in
    // the machine's load during the workload hits every mode alike.
    let mut contenders: Vec<Contender<'_>> = Vec::new();
    for spec in modes {
        progress.set_message(format!("{} / {} (compiling)", workload.name, spec.name));
        match spec.runner {
            Runner::Engine(mode) => {
                let interp_mode = mode == Mode::Interpret;
                let (s, args) = if interp_mode {
                    (&small, &small_args)
                } else {
                    (&full, &full_args)
                };
                let engine = engine(mode, spec, fast_math);
                let compiled = Compiled::new(workload, &engine)?;
                // First call: compiles (timed separately by the engine).
                let mut outs = compiled.call(args)?;
                let compile_s = cold_compile_median(
                    workload,
                    || self::engine(mode, spec, fast_math),
                    &small_args,
                    engine.stats().compile_time,
                )?;
                if mode == Mode::Unfused {
                    against_interpreter("unfused", &compiled.call(&small_args)?)?;
                }
                // Threads must not change a bit: checked at full size,
                // where calls are split.
                if spec.threads != 1 {
                    check_same(spec.name, &outs, "fused on one thread", &fused_full)?;
                }
                let row = Row {
                    workload: workload.name.clone(),
                    mode: spec.name,
                    n: workload.elements(s),
                    stats: Stats::of(&[Duration::ZERO]),
                    bytes: workload.input_bytes(s) + out_bytes(&outs),
                    compile_s: Some(compile_s),
                    scaled_to: interp_mode.then(|| workload.elements(&full)),
                };
                let runs = if interp_mode {
                    plan.interp_runs
                } else {
                    plan.runs
                };
                contenders.push(Contender {
                    row,
                    runs,
                    samples: Vec::new(),
                    once: Box::new(move || compiled.timed(args, &mut outs)),
                });
            }
            Runner::Rust => {
                let Some(baseline) = workload.baseline else {
                    notes.push(format!(
                        "rust: no hand-written loop for `{}` (built-in workloads only)",
                        workload.name
                    ));
                    continue;
                };
                let mut outs: Vec<Vec<f64>> = fused_full
                    .iter()
                    .map(|a| workloads::zeros(a.len()))
                    .collect();
                baseline(&full, &mut outs);
                check_rust(tolerance, &outs, &fused_full)?;
                let full = &full;
                contenders.push(Contender {
                    row: Row {
                        workload: workload.name.clone(),
                        mode: spec.name,
                        n: workload.elements(full),
                        stats: Stats::of(&[Duration::ZERO]),
                        bytes: workload.input_bytes(full) + out_bytes(&fused_full),
                        compile_s: None,
                        scaled_to: None,
                    },
                    runs: plan.runs,
                    samples: Vec::new(),
                    once: Box::new(move || {
                        let start = Instant::now();
                        baseline(std::hint::black_box(full), &mut outs);
                        std::hint::black_box(&mut outs);
                        Ok(start.elapsed())
                    }),
                });
            }
        }
    }
    progress.set_message(format!("{} (timing)", workload.name));
    for c in &mut contenders {
        for _ in 0..plan.warmup {
            (c.once)()?;
        }
    }
    let rounds = contenders.iter().map(|c| c.runs).max().unwrap_or(0);
    for round in 0..rounds {
        for c in contenders.iter_mut().filter(|c| round < c.runs) {
            let dt = (c.once)()?;
            c.samples.push(dt);
        }
    }
    progress.inc(modes.len() as u64);
    let rows = contenders
        .into_iter()
        .map(|c| Row {
            stats: Stats::of(&c.samples),
            ..c.row
        })
        .collect();
    Ok(Measured { rows, notes })
}

/// A mode ready to run one workload: one timed run per call of `once`.
struct Contender<'a> {
    row: Row,
    runs: usize,
    samples: Vec<Duration>,
    once: Box<dyn FnMut() -> Result<Duration, Error> + 'a>,
}

/// Cold compiles a workload's compile figure is the median of: one cold
/// compile is at the mercy of the machine's load (and the first in the
/// process also builds the ISA).
const COMPILE_SAMPLES: usize = 5;

/// The median compile time, in seconds, of `first` and more cold compiles
/// of `workload`, each by a fresh engine from `fresh` on its first call
/// with `args` (the code does not depend on the inputs' lengths).
fn cold_compile_median(
    workload: &Workload,
    fresh: impl Fn() -> Engine,
    args: &[(&str, Arg<'_>)],
    first: Duration,
) -> Result<f64, Error> {
    let mut times = vec![first];
    for _ in 1..COMPILE_SAMPLES {
        let engine = fresh();
        Compiled::new(workload, &engine)?.call(args)?;
        times.push(engine.stats().compile_time);
    }
    times.sort();
    Ok(times[times.len() / 2].as_secs_f64())
}

fn engine(mode: Mode, spec: &ModeSpec, fast_math: bool) -> Engine {
    Engine::with_config(config_for(mode, spec, fast_math))
}

/// Fast-math results against the interpreter's: the same shapes, every
/// element within `tolerance` ([`workloads::close`]).
fn check_close(what: &str, got: &[Array], want: &[Array], tolerance: f64) -> Result<(), Error> {
    check_same_shapes(what, got, "the interpreter", want)?;
    for (o, (g, w)) in got.iter().zip(want).enumerate() {
        for k in 0..g.len() {
            let (a, b) = (g.get(k).as_f64(), w.get(k).as_f64());
            if !workloads::close(a, b, tolerance) {
                return Err(Error::new(
                    ErrorKind::Internal,
                    format!(
                        "the {what} result (fast-math) is not within {tolerance:e} of the \
                         interpreter's: output {o}, element {k}: {a:?}, expected {b:?}"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The same number of outputs, each of the same dtype and shape.
fn check_same_shapes(
    what: &str,
    got: &[Array],
    against: &str,
    want: &[Array],
) -> Result<(), Error> {
    let fail = |detail: String| {
        Err(Error::new(
            ErrorKind::Internal,
            format!("the {what} result differs from {against}: {detail}"),
        ))
    };
    if got.len() != want.len() {
        return fail(format!("{} outputs, expected {}", got.len(), want.len()));
    }
    for (o, (g, w)) in got.iter().zip(want).enumerate() {
        if g.dtype() != w.dtype() || g.shape() != w.shape() {
            return fail(format!(
                "output {o} is {} {}, expected {} {}",
                g.dtype(),
                g.shape(),
                w.dtype(),
                w.shape()
            ));
        }
    }
    Ok(())
}

/// Bitwise equality of two sets of outputs (NaN equal to NaN whatever its
/// bits: IEEE leaves a NaN result's sign and payload open).
fn check_same(what: &str, got: &[Array], against: &str, want: &[Array]) -> Result<(), Error> {
    let fail = |detail: String| {
        Err(Error::new(
            ErrorKind::Internal,
            format!("the {what} result differs from {against}: {detail}"),
        ))
    };
    check_same_shapes(what, got, against, want)?;
    for (o, (g, w)) in got.iter().zip(want).enumerate() {
        for k in 0..g.len() {
            let (a, b) = (g.get(k), w.get(k));
            let both_nan = a.as_f64().is_nan() && b.as_f64().is_nan();
            if !a.bits_eq(b) && !both_nan {
                return fail(format!("output {o}, element {k}: {a:?}, expected {b:?}"));
            }
        }
    }
    Ok(())
}

/// The Rust loop's outputs against the fused ones, within `tolerance` (the
/// workload's, or fast-math's).
fn check_rust(tolerance: f64, got: &[Vec<f64>], fused: &[Array]) -> Result<(), Error> {
    for (o, (g, f)) in got.iter().zip(fused).enumerate() {
        let owned;
        let want: &[f64] = match f.data() {
            Data::F64(v) => v,
            _ => {
                owned = f.to_f64_vec();
                &owned
            }
        };
        if let Some(k) = (0..g.len()).find(|&k| !workloads::close(g[k], want[k], tolerance)) {
            return Err(Error::new(
                ErrorKind::Internal,
                format!(
                    "the hand-written Rust loop disagrees with the fused result: output {o}, \
                     element {k}: {}, fused {} (tolerance {:e})",
                    g[k], want[k], tolerance
                ),
            ));
        }
    }
    Ok(())
}
