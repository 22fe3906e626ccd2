//! `arrjit._arrjit`: the native half of the `arrjit` Python package.
//!
//! A thin layer over the library's `Engine`: it finds the inputs of an
//! expression by name (keyword arguments, `local_dict`, the caller's frame,
//! as numexpr does), lends NumPy's memory to the engine without copying,
//! releases the GIL while compiled code runs, and turns results into NumPy
//! arrays (moved, not copied) and errors into `arrjit.ArrjitError`.
//!
//! Design note: zero-copy strided inputs. The library takes an array as a
//! checked `View` over a slice. A NumPy view (`x[::2]`, `m.T`, `x[::-1]`)
//! is lent as the slice spanning its lowest to its highest element
//! (`memory.rs`), with the element strides of the view; the engine reads
//! only the elements the view reaches. Because a span may cover memory
//! between elements, an input whose span meets the span of `out=` is
//! copied first (NumPy's ufuncs do the same for overlapping operands) —
//! except the common `evaluate("a * 2", out=a)`, which runs in place.

#![deny(unsafe_code)]

mod convert;
#[allow(unsafe_code)]
mod memory;

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use arrjit::{Engine as RsEngine, Error, ErrorKind, Expr, Mode, Module as RsModule};
use pyo3::exceptions::{PyAttributeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};

use crate::convert::{error_to_py, Named};

pyo3::create_exception!(
    arrjit,
    ArrjitError,
    PyValueError,
    "An error in an expression, a kernel or a call.\n\n\
     ``str(error)`` shows the message with the source line and a caret under\n\
     the offending span. Attributes: ``kind`` (``\"parse\"``, ``\"type\"``,\n\
     ``\"shape\"``, ``\"call\"``, ``\"unsupported\"``, ...), ``message`` (one\n\
     line), ``start`` and ``end`` (byte offsets into ``source``, or ``None``),\n\
     ``span`` (``(start, end)`` or ``None``), ``notes`` and ``source``."
);

/// Parsed sources kept per engine (`evaluate` looks its text up here, so a
/// repeated call skips the parser).
const PARSED_CAPACITY: usize = 512;

/// A compiler with its own configuration and cache.
///
/// ``arrjit.evaluate`` and ``arrjit.compile`` use a default engine (see
/// ``arrjit.configure``); make an ``Engine`` to keep a configuration apart.
#[pyclass(frozen, module = "arrjit", name = "Engine")]
struct PyEngine {
    engine: RsEngine,
    /// Parsed expressions by source text.
    parsed: Mutex<lru::LruCache<String, Arc<Expr>>>,
}

fn config_error(message: impl Into<String>) -> PyErr {
    error_to_py(&Error::new(ErrorKind::Call, message), "")
}

fn parse_mode(mode: &str) -> PyResult<Mode> {
    match mode {
        "fused" => Ok(Mode::Fused),
        "unfused" => Ok(Mode::Unfused),
        "interpret" => Ok(Mode::Interpret),
        other => Err(config_error(format!(
            "unknown mode {other:?}: expected \"fused\", \"unfused\" or \"interpret\""
        ))),
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Fused => "fused",
        Mode::Unfused => "unfused",
        Mode::Interpret => "interpret",
    }
}

fn parse_opt_level(level: &str) -> PyResult<arrjit::codegen::OptLevel> {
    use arrjit::codegen::OptLevel;
    match level {
        "speed" => Ok(OptLevel::Speed),
        "none" => Ok(OptLevel::None),
        other => Err(config_error(format!(
            "unknown opt_level {other:?}: expected \"speed\" or \"none\""
        ))),
    }
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (*, mode = "fused", cache_capacity = 256, opt_level = "speed",
                        verify = false, max_depth = None, max_source_len = None,
                        fast_math = false, num_threads = None, tier_up_lanes = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        mode: &str,
        cache_capacity: usize,
        opt_level: &str,
        verify: bool,
        max_depth: Option<usize>,
        max_source_len: Option<usize>,
        fast_math: bool,
        num_threads: Option<usize>,
        tier_up_lanes: Option<u64>,
    ) -> PyResult<PyEngine> {
        let defaults = arrjit::Config::default();
        let config = arrjit::Config {
            mode: parse_mode(mode)?,
            cache_capacity,
            max_depth: max_depth.unwrap_or(defaults.max_depth),
            max_source_len: max_source_len.unwrap_or(defaults.max_source_len),
            opt_level: parse_opt_level(opt_level)?,
            verify,
            capture_clif: false,
            // None or 0: ARRJIT_NUM_THREADS, else every core.
            threads: num_threads.unwrap_or(0),
            fast_math,
            // None: the library's count (the ski-rental default).
            tier_up_lanes: tier_up_lanes.unwrap_or(defaults.tier_up_lanes),
            // The hardening limits (inputs, outputs, loops, code bytes)
            // keep the library's defaults.
            ..defaults
        };
        Ok(PyEngine::with_config(config))
    }

    /// ``evaluate(ex, local_dict=None, global_dict=None, out=None, **names)``
    ///
    /// Evaluates the expression ``ex`` with numexpr's calling convention:
    /// each input is taken from ``names`` (keyword arguments), else from
    /// ``local_dict``, else from ``global_dict``; a dict left out is the
    /// caller's (its locals, its globals). Returns a new NumPy array, or a
    /// NumPy scalar for a scalar result (a reduction); with ``out=``, writes
    /// into that array (dtype and shape must be the result's) and returns it.
    #[pyo3(signature = (ex, /, local_dict = None, global_dict = None, out = None, **names))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        ex: &str,
        local_dict: Option<&Bound<'py, PyAny>>,
        global_dict: Option<&Bound<'py, PyAny>>,
        out: Option<&Bound<'py, PyAny>>,
        names: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        evaluate_with(py, self, ex, local_dict, global_dict, out, names)
    }

    /// ``compile(source)``: an ``Expression`` for an expression, a
    /// ``Module`` (kernels as attributes) for source starting with ``kernel``.
    fn compile(slf: &Bound<'_, Self>, source: &str) -> PyResult<Py<PyAny>> {
        compile_with(slf, source)
    }

    /// Counters of this engine's compile cache (``CacheStats``).
    fn stats(&self) -> PyCacheStats {
        PyCacheStats::from(self.engine.stats())
    }

    /// Drops every compiled kernel and parsed expression.
    fn clear_cache(&self) {
        self.engine.clear_cache();
        self.parsed_lock().clear();
    }

    /// The configuration, as a dict.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.engine.config();
        let d = PyDict::new(py);
        d.set_item("mode", mode_name(c.mode))?;
        d.set_item("cache_capacity", c.cache_capacity)?;
        d.set_item(
            "opt_level",
            match c.opt_level {
                arrjit::codegen::OptLevel::None => "none",
                arrjit::codegen::OptLevel::Speed => "speed",
            },
        )?;
        d.set_item("verify", c.verify)?;
        d.set_item("max_depth", c.max_depth)?;
        d.set_item("max_source_len", c.max_source_len)?;
        d.set_item("fast_math", c.fast_math)?;
        d.set_item("num_threads", self.engine.threads())?;
        d.set_item("tier_up_lanes", c.tier_up_lanes)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let c = self.engine.config();
        format!(
            "Engine(mode={:?}, cache_capacity={})",
            mode_name(c.mode),
            c.cache_capacity
        )
    }
}

impl PyEngine {
    fn with_config(config: arrjit::Config) -> PyEngine {
        PyEngine {
            engine: RsEngine::with_config(config),
            parsed: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(PARSED_CAPACITY).expect("nonzero"),
            )),
        }
    }

    fn parsed_lock(&self) -> std::sync::MutexGuard<'_, lru::LruCache<String, Arc<Expr>>> {
        self.parsed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The parsed expression for `source`, parsing it on first sight.
    fn expr(&self, source: &str) -> PyResult<Arc<Expr>> {
        if let Some(e) = self.parsed_lock().get(source) {
            return Ok(e.clone());
        }
        let expr = Arc::new(
            self.engine
                .compile(source)
                .map_err(|e| error_to_py(&e, source))?,
        );
        self.parsed_lock().put(source.to_owned(), expr.clone());
        Ok(expr)
    }
}

/// True if the first word of `source`, after blanks and comments, is
/// `kernel` (a keyword, so never an input name).
fn is_kernel_source(source: &str) -> bool {
    let mut rest = source;
    loop {
        rest = rest.trim_start();
        match rest.strip_prefix('#') {
            Some(comment) => rest = comment.split_once('\n').map_or("", |(_, r)| r),
            None => break,
        }
    }
    rest.strip_prefix("kernel")
        .is_some_and(|after| !after.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
}

fn compile_with(engine: &Bound<'_, PyEngine>, source: &str) -> PyResult<Py<PyAny>> {
    let py = engine.py();
    let this = engine.get();
    if is_kernel_source(source) {
        let module = this
            .engine
            .compile_module(source)
            .map_err(|e| error_to_py(&e, source))?;
        let source: Arc<str> = Arc::from(source);
        let mut kernels = Vec::new();
        for name in module.kernel_names() {
            let kernel = module.kernel(name).map_err(|e| error_to_py(&e, &source))?;
            let k = PyKernel {
                kernel,
                source: source.clone(),
            };
            kernels.push((name.to_owned(), Py::new(py, k)?));
        }
        let m = PyModuleObj {
            module,
            source,
            kernels,
        };
        return Ok(Py::new(py, m)?.into_any());
    }
    let expr = this.expr(source)?;
    Ok(Py::new(py, PyExpression { expr })?.into_any())
}

/// `sys._getframe`, looked up once.
static GETFRAME: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The locals and globals of the Python code calling into this module.
fn caller_namespaces(py: Python<'_>) -> PyResult<(Bound<'_, PyAny>, Bound<'_, PyAny>)> {
    let getframe = GETFRAME.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("sys")?.getattr("_getframe")?.unbind())
    })?;
    // Depth 0 is the innermost Python frame: native functions have none, so
    // it is the frame that called `evaluate`.
    let frame = getframe.bind(py).call1((0,))?;
    Ok((frame.getattr("f_locals")?, frame.getattr("f_globals")?))
}

/// `mapping[name]`, or `None` if it has no such key.
fn get_name<'py>(mapping: &Bound<'py, PyAny>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    if let Ok(dict) = mapping.cast::<PyDict>() {
        return dict.get_item(name);
    }
    match mapping.get_item(name) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyKeyError>(mapping.py()) => Ok(None),
        Err(e) => Err(e),
    }
}

fn evaluate_with<'py>(
    py: Python<'py>,
    engine: &PyEngine,
    ex: &str,
    local_dict: Option<&Bound<'py, PyAny>>,
    global_dict: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
    names: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let expr = engine.expr(ex)?;
    let mut bound: Vec<Named<'py>> = Vec::with_capacity(expr.inputs().len());
    if let Some(names) = names {
        for (key, value) in names.iter() {
            let key = key.extract::<String>()?;
            if !expr.inputs().contains(&key) {
                let err = Error::new(
                    ErrorKind::Call,
                    format!("`{key}` is not an input of this expression"),
                )
                .with_note(format!("its inputs are: {}", expr.inputs().join(", ")));
                return Err(error_to_py(&err, ex));
            }
            bound.push((key, value));
        }
    }
    let mut frame: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)> = None;
    for name in expr.inputs() {
        if bound.iter().any(|(n, _)| n == name) {
            continue;
        }
        if (local_dict.is_none() || global_dict.is_none()) && frame.is_none() {
            frame = Some(caller_namespaces(py)?);
        }
        let locals = local_dict.or(frame.as_ref().map(|f| &f.0));
        let globals = global_dict.or(frame.as_ref().map(|f| &f.1));
        let mut value = None;
        for ns in [locals, globals].into_iter().flatten() {
            value = get_name(ns, name)?;
            if value.is_some() {
                break;
            }
        }
        // A name found nowhere is left out: the engine reports it with
        // the span of its first use.
        if let Some(v) = value {
            bound.push((name.clone(), v));
        }
    }
    let out = out.filter(|o| !o.is_none());
    convert::call_expr(py, &expr, &bound, out)
}

/// The default engine, made on first use; `configure` replaces it.
static DEFAULT: Mutex<Option<Py<PyEngine>>> = Mutex::new(None);

fn default_engine(py: Python<'_>) -> PyResult<Bound<'_, PyEngine>> {
    let lock = || DEFAULT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = lock().as_ref() {
        return Ok(e.bind(py).clone());
    }
    // Made without the lock held: allocating may run Python code (a
    // garbage collection, a finaliser) that calls back into arrjit.
    let made = Py::new(py, PyEngine::with_config(arrjit::Config::default()))?;
    let mut slot = lock();
    Ok(slot.get_or_insert(made).bind(py).clone())
}

/// ``evaluate(ex, local_dict=None, global_dict=None, out=None, **names)``
///
/// Evaluates the expression ``ex`` (numexpr's calling convention): each
/// input is taken from ``names`` (keyword arguments), else from
/// ``local_dict``, else from ``global_dict``; a dict not given is the
/// caller's (its locals, its globals). Returns a new NumPy array, or a
/// NumPy scalar for a scalar result such as a reduction; with ``out=``,
/// writes into that array (its dtype and shape must be the result's) and
/// returns it. Inputs are read in place, whatever their strides.
#[pyfunction]
#[pyo3(signature = (ex, /, local_dict = None, global_dict = None, out = None, **names))]
fn evaluate<'py>(
    py: Python<'py>,
    ex: &str,
    local_dict: Option<&Bound<'py, PyAny>>,
    global_dict: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
    names: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let engine = default_engine(py)?;
    evaluate_with(py, engine.get(), ex, local_dict, global_dict, out, names)
}

/// ``compile(source)``: for an expression, an ``Expression`` (call it with
/// its inputs, positionally in ``inputs`` order or by name); for source
/// starting with ``kernel``, a ``Module`` with each kernel as an attribute.
/// Parsing happens here; each new signature (dtypes, ranks, layout) of the
/// inputs is compiled once, at its first call, and cached.
#[pyfunction]
fn compile(py: Python<'_>, source: &str) -> PyResult<Py<PyAny>> {
    let engine = default_engine(py)?;
    compile_with(&engine, source)
}

/// Replaces the default engine with one configured by the keywords of
/// ``Engine(...)``. Expressions and modules compiled before keep the engine
/// they were compiled with.
#[pyfunction]
#[pyo3(signature = (**config))]
fn configure(py: Python<'_>, config: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    let engine_type = py.get_type::<PyEngine>();
    let engine = engine_type.call((), config)?.cast_into::<PyEngine>()?;
    install_default(engine.unbind());
    Ok(())
}

/// Makes `engine` the default engine.
fn install_default(engine: Py<PyEngine>) {
    let old = DEFAULT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .replace(engine);
    // Dropped after the lock is released (a drop may run Python code).
    drop(old);
}

/// Replaces the default engine with one whose configuration is the old
/// one changed by `change`; returns the old configuration.
fn reconfigure_default(
    py: Python<'_>,
    change: impl FnOnce(&mut arrjit::Config),
) -> PyResult<arrjit::Config> {
    let old = default_engine(py)?.get().engine.config().clone();
    let mut config = old.clone();
    change(&mut config);
    install_default(Py::new(py, PyEngine::with_config(config))?);
    Ok(old)
}

/// The default engine (the one ``evaluate`` and ``compile`` use).
#[pyfunction]
fn get_engine(py: Python<'_>) -> PyResult<Bound<'_, PyEngine>> {
    default_engine(py)
}

/// The default engine's configuration, as a dict.
#[pyfunction]
fn get_config(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    default_engine(py)?.get().config(py)
}

/// Counters of the default engine's compile cache.
#[pyfunction]
fn stats(py: Python<'_>) -> PyResult<PyCacheStats> {
    Ok(default_engine(py)?.get().stats())
}

/// Drops the default engine's compiled kernels and parsed expressions.
#[pyfunction]
fn clear_cache(py: Python<'_>) -> PyResult<()> {
    default_engine(py)?.get().clear_cache();
    Ok(())
}

/// ``set_num_threads(n)``: replaces the default engine with one whose
/// large calls are split over ``n`` threads (``0``: ``ARRJIT_NUM_THREADS``,
/// else every core), keeping the rest of its configuration; returns the
/// previous number, as numexpr's does. Results do not depend on it.
/// Expressions and modules compiled before keep the engine they were
/// compiled with.
#[pyfunction]
fn set_num_threads(py: Python<'_>, n: usize) -> PyResult<usize> {
    let previous = default_engine(py)?.get().engine.threads();
    reconfigure_default(py, |c| c.threads = n)?;
    Ok(previous)
}

/// ``get_num_threads()``: the threads the default engine splits a large
/// call over.
#[pyfunction]
fn get_num_threads(py: Python<'_>) -> PyResult<usize> {
    Ok(default_engine(py)?.get().engine.threads())
}

/// ``set_fast_math(on)``: replaces the default engine with one that may
/// (``True``) or may not (``False``, the default) contract ``a*b + c`` into
/// fused multiply-adds, keeping the rest of its configuration; returns the
/// previous setting. Fast-math results may differ from strict ones in the
/// last bits. Expressions compiled before keep their engine.
#[pyfunction]
fn set_fast_math(py: Python<'_>, on: bool) -> PyResult<bool> {
    Ok(reconfigure_default(py, |c| c.fast_math = on)?.fast_math)
}

/// Counters of a compile cache (``Engine.stats()``).
#[pyclass(frozen, module = "arrjit", name = "CacheStats", get_all)]
struct PyCacheStats {
    /// Calls that found their kernel compiled.
    hits: u64,
    /// Calls that had to compile.
    misses: u64,
    /// Kernels dropped to stay within the capacity.
    evictions: u64,
    /// Kernels in the cache now.
    entries: usize,
    /// Machine code bytes of the kernels in the cache now.
    code_bytes: usize,
    /// Seconds spent lowering, planning and compiling, in total.
    compile_time: f64,
    /// Calls run as chunks on the engine's threads.
    split_calls: u64,
    /// Second tiers compiled for kernels that ran many short lanes.
    tier_ups: u64,
    /// Second tiers that could not be compiled (their kernels keep the first).
    tier_up_failures: u64,
    /// Recurrence rows that split calls computed again to repair chunks.
    repaired_rows: u64,
}

impl From<arrjit::CacheStats> for PyCacheStats {
    fn from(s: arrjit::CacheStats) -> PyCacheStats {
        PyCacheStats {
            hits: s.hits,
            misses: s.misses,
            evictions: s.evictions,
            entries: s.entries,
            code_bytes: s.code_bytes,
            compile_time: s.compile_time.as_secs_f64(),
            split_calls: s.split_calls,
            tier_ups: s.tier_ups,
            tier_up_failures: s.tier_up_failures,
            repaired_rows: s.repaired_rows,
        }
    }
}

#[pymethods]
impl PyCacheStats {
    fn __repr__(&self) -> String {
        format!(
            "CacheStats(hits={}, misses={}, evictions={}, entries={}, code_bytes={}, \
             compile_time={:.6}, split_calls={}, tier_ups={}, tier_up_failures={}, \
             repaired_rows={})",
            self.hits,
            self.misses,
            self.evictions,
            self.entries,
            self.code_bytes,
            self.compile_time,
            self.split_calls,
            self.tier_ups,
            self.tier_up_failures,
            self.repaired_rows
        )
    }
}

/// A parsed expression: call it with its inputs, positionally (in
/// ``inputs`` order) or by name; ``out=`` as in ``evaluate``.
#[pyclass(frozen, module = "arrjit", name = "Expression")]
struct PyExpression {
    expr: Arc<Expr>,
}

/// Binds positional arguments to `params` in order, then keywords.
fn bind_call<'py>(
    params: &[&str],
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
    what: &str,
    source: &str,
) -> PyResult<Vec<Named<'py>>> {
    if args.len() > params.len() {
        let err = Error::new(
            ErrorKind::Call,
            format!(
                "{what} takes {} argument(s), {} were given",
                params.len(),
                args.len()
            ),
        )
        .with_note(format!("its inputs are: {}", params.join(", ")));
        return Err(error_to_py(&err, source));
    }
    let mut bound: Vec<Named<'py>> = params
        .iter()
        .zip(args.iter())
        .map(|(p, a)| ((*p).to_owned(), a))
        .collect();
    if let Some(kwargs) = kwargs {
        for (key, value) in kwargs.iter() {
            bound.push((key.extract::<String>()?, value));
        }
    }
    Ok(bound)
}

#[pymethods]
impl PyExpression {
    #[pyo3(signature = (*args, out = None, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        out: Option<&Bound<'py, PyAny>>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let params: Vec<&str> = self.expr.inputs().iter().map(String::as_str).collect();
        let bound = bind_call(&params, args, kwargs, "this expression", self.expr.source())?;
        convert::call_expr(py, &self.expr, &bound, out.filter(|o| !o.is_none()))
    }

    /// The source text.
    #[getter]
    fn source(&self) -> &str {
        self.expr.source()
    }

    /// The canonical, fully parenthesised form (the cache key).
    #[getter]
    fn canonical(&self) -> &str {
        self.expr.canonical()
    }

    /// The input names, in order of first appearance.
    #[getter]
    fn inputs(&self) -> Vec<String> {
        self.expr.inputs().to_vec()
    }

    fn __repr__(&self) -> String {
        format!("arrjit.Expression({:?})", self.expr.source())
    }
}

/// A source file of kernels; each kernel is an attribute.
#[pyclass(frozen, module = "arrjit", name = "Module")]
struct PyModuleObj {
    module: RsModule,
    source: Arc<str>,
    kernels: Vec<(String, Py<PyKernel>)>,
}

#[pymethods]
impl PyModuleObj {
    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyKernel>> {
        match self.kernels.iter().find(|(n, _)| n == name) {
            Some((_, k)) => Ok(k.clone_ref(py)),
            None => match self.module.kernel(name) {
                Err(e) => Err(PyAttributeError::new_err(e.to_string())),
                Ok(_) => Err(PyAttributeError::new_err(name.to_owned())),
            },
        }
    }

    /// The kernel called ``name`` (``ArrjitError`` if there is none).
    fn kernel(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyKernel>> {
        match self.kernels.iter().find(|(n, _)| n == name) {
            Some((_, k)) => Ok(k.clone_ref(py)),
            None => Err(match self.module.kernel(name) {
                Err(e) => error_to_py(&e, &self.source),
                Ok(_) => config_error(format!("no kernel `{name}`")),
            }),
        }
    }

    /// The kernel names, in source order.
    #[getter]
    fn kernels(&self) -> Vec<String> {
        self.kernels.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The source text.
    #[getter]
    fn source(&self) -> &str {
        &self.source
    }

    fn __dir__(&self) -> Vec<String> {
        let mut names = self.kernels();
        names.extend(["kernel", "kernels", "source"].map(String::from));
        names
    }

    fn __repr__(&self) -> String {
        format!("arrjit.Module(kernels={:?})", self.kernels())
    }
}

/// One kernel of a ``Module``: call it with its parameters, positionally
/// or by name. Returns its output, or a tuple of its outputs if it declares
/// several (scalar outputs are NumPy scalars). With ``out=``, outputs are
/// written into the caller's arrays (as ``evaluate``'s ``out=``) and those
/// arrays are returned in their place: one array for a kernel with one
/// output, a tuple with an entry per output (``None`` to allocate it) or a
/// dict by output name.
#[pyclass(frozen, module = "arrjit", name = "Kernel")]
struct PyKernel {
    kernel: arrjit::Kernel,
    source: Arc<str>,
}

#[pymethods]
impl PyKernel {
    #[pyo3(signature = (*args, out = None, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        out: Option<&Bound<'py, PyAny>>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let params = self.kernel.params();
        let what = format!("kernel `{}`", self.kernel.name());
        let bound = bind_call(&params, args, kwargs, &what, &self.source)?;
        let out = out.filter(|o| !o.is_none());
        let mut values = convert::call_kernel(py, &self.kernel, &self.source, &bound, out)?;
        if values.len() == 1 {
            Ok(values.pop().expect("one output"))
        } else {
            Ok(PyTuple::new(py, values)?.into_any())
        }
    }

    #[getter]
    fn name(&self) -> &str {
        self.kernel.name()
    }

    /// The parameter names, in declaration order.
    #[getter]
    fn params(&self) -> Vec<String> {
        self.kernel.params().into_iter().map(String::from).collect()
    }

    /// The output names, in declaration order.
    #[getter]
    fn outputs(&self) -> Vec<String> {
        self.kernel
            .outputs()
            .into_iter()
            .map(String::from)
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "arrjit.Kernel({}({}) -> ({}))",
            self.kernel.name(),
            self.kernel.params().join(", "),
            self.kernel.outputs().join(", ")
        )
    }
}

#[pymodule]
fn _arrjit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ArrjitError", py.get_type::<ArrjitError>())?;
    m.add_class::<PyEngine>()?;
    m.add_class::<PyExpression>()?;
    m.add_class::<PyModuleObj>()?;
    m.add_class::<PyKernel>()?;
    m.add_class::<PyCacheStats>()?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(compile, m)?)?;
    m.add_function(wrap_pyfunction!(configure, m)?)?;
    m.add_function(wrap_pyfunction!(get_engine, m)?)?;
    m.add_function(wrap_pyfunction!(get_config, m)?)?;
    m.add_function(wrap_pyfunction!(stats, m)?)?;
    m.add_function(wrap_pyfunction!(clear_cache, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(set_fast_math, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_kernel_source;

    #[test]
    fn kernel_sources_are_recognised_by_their_first_word() {
        assert!(is_kernel_source("kernel f(x: f64) -> (y: f64) { y = x }"));
        assert!(is_kernel_source("# doc\n  # more\nkernel f"));
        assert!(!is_kernel_source("kernels * 2"));
        assert!(!is_kernel_source("a * 2 # kernel"));
        assert!(!is_kernel_source("# kernel"));
    }
}
