//! Python values to the library's arguments and back, and calls with the
//! GIL released.

use arrjit::{Arg, Array, Data, Error, ErrorKind, Expr, Kernel, Scalar, ViewMut};
use numpy::{IntoPyArray, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyTuple};

use crate::memory::{array_error, Input, Output, Raw, Typed};
use crate::ArrjitError;

/// An argument as given: its name and its Python value.
pub(crate) type Named<'py> = (String, Bound<'py, PyAny>);

/// The source name shown in rendered errors.
const SOURCE_NAME: &str = "<expr>";

/// `CamelCase` kind names as Python sees them (`unknown_name`).
fn kind_name(kind: ErrorKind) -> String {
    let mut s = String::new();
    for (k, c) in format!("{kind:?}").chars().enumerate() {
        if c.is_uppercase() {
            if k > 0 {
                s.push('_');
            }
            s.extend(c.to_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

/// `err` as an `arrjit.ArrjitError`: the message rendered with the source
/// line and caret, the parts as attributes.
pub(crate) fn error_to_py(err: &Error, source: &str) -> PyErr {
    let text = arrjit::diagnostic::render(err, SOURCE_NAME, source, false);
    let pyerr = ArrjitError::new_err(text.trim_end().to_owned());
    Python::attach(|py| {
        let value = pyerr.value(py);
        let span = err.span();
        let set = || -> PyResult<()> {
            value.setattr("kind", kind_name(err.kind()))?;
            value.setattr("message", err.message())?;
            value.setattr("span", span.map(|s| (s.start, s.end)))?;
            value.setattr("start", span.map(|s| s.start))?;
            value.setattr("end", span.map(|s| s.end))?;
            value.setattr("notes", err.notes().to_vec())?;
            value.setattr("source", source)?;
            Ok(())
        };
        // Attributes are extras: an exception without them still says it all.
        let _ = set();
    });
    pyerr
}

/// `numpy.asarray`, looked up once.
static ASARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// One argument, ready to lend.
enum Value<'py> {
    Array(Input<'py>),
    Scalar(Scalar),
    /// The `out=` array itself (in-place evaluation).
    InPlace,
}

/// What the caller allows when an input shares memory with `out=`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overlap {
    /// Evaluate in place if an input is exactly the output.
    InPlace,
    /// Copy every overlapping input.
    Copy,
}

/// Python scalars become typed scalars (`bool`, `int` as `i64`, `float`
/// as `f64`); anything else goes through `numpy.asarray` unless it is an
/// array already. An array that shares memory with one of `outs` is
/// copied, or with `Overlap::InPlace` evaluated in place if it is exactly
/// the output.
fn hold<'py>(
    name: &str,
    obj: &Bound<'py, PyAny>,
    outs: &[Raw],
    overlap: Overlap,
    in_place: &mut Option<String>,
) -> Result<Value<'py>, Error> {
    let py = obj.py();
    let what = InputName(name);
    let typed = match Typed::of(obj) {
        Some(t) => t,
        None => {
            if let Ok(b) = obj.cast::<PyBool>() {
                return Ok(Value::Scalar(Scalar::Bool(b.is_true())));
            }
            if let Ok(f) = obj.cast::<PyFloat>() {
                return Ok(Value::Scalar(Scalar::F64(f.value())));
            }
            if let Ok(i) = obj.cast::<PyInt>() {
                return i
                    .extract::<i64>()
                    .map(|v| Value::Scalar(Scalar::I64(v)))
                    .map_err(|_| array_error(what, "is an integer outside the range of int64"));
            }
            let array = if obj.cast::<PyUntypedArray>().is_ok() {
                obj.clone()
            } else {
                let asarray = ASARRAY
                    .get_or_try_init(py, || -> PyResult<_> {
                        Ok(py.import("numpy")?.getattr("asarray")?.unbind())
                    })
                    .map_err(|e| array_error(what, &format!("needs numpy.asarray: {e}")))?;
                asarray
                    .bind(py)
                    .call1((obj,))
                    .map_err(|e| array_error(what, &format!("cannot be made an array: {e}")))?
            };
            match Typed::of(&array) {
                Some(t) => t,
                None => return Err(unsupported_dtype(what, &array)),
            }
        }
    };
    let raw = typed.raw().map_err(|p| array_error(what, &p))?;
    if let Some(out) = outs.iter().find(|o| raw.overlaps(o)) {
        if overlap == Overlap::InPlace && in_place.is_none() && raw.same_as(out) {
            *in_place = Some(name.to_owned());
            return Ok(Value::InPlace);
        }
        // Shares memory with the output: read a copy, as NumPy does.
        let copy = obj
            .call_method0("copy")
            .map_err(|e| array_error(what, &format!("could not be copied: {e}")))?;
        let typed = Typed::of(&copy).ok_or_else(|| unsupported_dtype(what, &copy))?;
        let raw = typed.raw().map_err(|p| array_error(what, &p))?;
        return typed
            .read(raw)
            .map(Value::Array)
            .map_err(|p| array_error(what, &p));
    }
    typed
        .read(raw)
        .map(Value::Array)
        .map_err(|p| array_error(what, &p))
}

/// "input `name`", formatted only when an error needs it.
#[derive(Clone, Copy)]
struct InputName<'a>(&'a str);

impl std::fmt::Display for InputName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "input `{}`", self.0)
    }
}

fn unsupported_dtype(what: impl std::fmt::Display, array: &Bound<'_, PyAny>) -> Error {
    let dtype = array
        .cast::<PyUntypedArray>()
        .ok()
        .map(|a| {
            let d = a.dtype();
            let byteorder = if d.is_native_byteorder() == Some(false) {
                " (non-native byte order)"
            } else {
                ""
            };
            format!(
                "{}{byteorder}",
                d.str().map(|s| s.to_string()).unwrap_or_default()
            )
        })
        .unwrap_or_else(|| "unknown".into());
    array_error(
        what,
        &format!(
            "has dtype {dtype}; arrjit takes bool, int32, int64, float32 and float64 \
             (convert with .astype(...))"
        ),
    )
}

/// The library's arguments, borrowing from `values`.
fn args<'a>(
    names: &'a [Named<'_>],
    values: &'a [Value<'_>],
) -> Result<Vec<(&'a str, Arg<'a>)>, Error> {
    let mut args = Vec::with_capacity(values.len());
    for ((name, _), value) in names.iter().zip(values) {
        match value {
            Value::Array(input) => args.push((name.as_str(), Arg::Array(input.view()?))),
            Value::Scalar(s) => args.push((name.as_str(), Arg::Scalar(*s))),
            Value::InPlace => {}
        }
    }
    Ok(args)
}

/// Evaluates `expr` with `bound` arguments, into `out` if given.
pub(crate) fn call_expr<'py>(
    py: Python<'py>,
    expr: &Expr,
    bound: &[Named<'py>],
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    call_expr_with(py, expr, bound, out, Overlap::InPlace)
}

fn call_expr_with<'py>(
    py: Python<'py>,
    expr: &Expr,
    bound: &[Named<'py>],
    out: Option<&Bound<'py, PyAny>>,
    overlap: Overlap,
) -> PyResult<Bound<'py, PyAny>> {
    let source = expr.source();
    let fail = |e: Error| error_to_py(&e, source);
    let mut output: Option<Output<'py>> = match out {
        None => None,
        Some(o) => {
            let typed = match Typed::of(o) {
                Some(t) => t,
                None if o.cast::<PyUntypedArray>().is_ok() => {
                    return Err(fail(unsupported_dtype("the output array", o)))
                }
                None => {
                    return Err(fail(Error::new(
                        ErrorKind::Call,
                        "`out` must be a NumPy array",
                    )))
                }
            };
            let raw = typed
                .raw()
                .map_err(|p| fail(array_error("the output array", &p)))?;
            Some(
                typed
                    .write(raw)
                    .map_err(|p| fail(array_error("the output array", &p)))?,
            )
        }
    };
    let out_raw = output.as_ref().map(|o| o.raw);
    let mut in_place: Option<String> = None;
    let mut values = Vec::with_capacity(bound.len());
    for (name, obj) in bound {
        values.push(hold(name, obj, out_raw.as_slice(), overlap, &mut in_place).map_err(fail)?);
    }
    let args = args(bound, &values).map_err(fail)?;
    let result = match output.as_mut() {
        None => py.detach(|| expr.eval(&args)).map(Some),
        Some(output) => {
            let mut view: ViewMut<'_> = output.view_mut().map_err(fail)?;
            py.detach(|| match &in_place {
                None => expr.eval_into(&args, ViewMut::reborrow(&mut view)),
                Some(name) => expr.eval_in_place(name, ViewMut::reborrow(&mut view), &args),
            })
            .map(|()| None)
        }
    };
    match result {
        Ok(Some(array)) => array_to_py(py, array),
        Ok(None) => Ok(out.expect("an output was given").clone()),
        // In place was refused before anything was written (an expression
        // with reductions, say): evaluate from a copy instead.
        Err(e) if in_place.is_some() && e.kind() != ErrorKind::Internal => {
            drop(args);
            drop(values);
            drop(output);
            call_expr_with(py, expr, bound, out, Overlap::Copy)
        }
        Err(e) => Err(fail(e)),
    }
}

/// The arrays `out=` gives a kernel, by output name: one array for a
/// kernel with one output, a tuple or list with an entry per output, or a
/// dict by name; `None` entries are left to the kernel to allocate.
fn kernel_outs<'py>(
    kernel: &Kernel,
    out: &Bound<'py, PyAny>,
) -> Result<Vec<(String, Bound<'py, PyAny>)>, Error> {
    let names = kernel.outputs();
    let mut given = Vec::new();
    if let Ok(dict) = out.cast::<PyDict>() {
        for (key, value) in dict.iter() {
            let name: String = key.extract().map_err(|_| {
                Error::new(ErrorKind::Call, "the keys of `out` must be output names")
            })?;
            if !value.is_none() {
                given.push((name, value));
            }
        }
    } else if out.cast::<PyTuple>().is_ok() || out.cast::<PyList>().is_ok() {
        let items: Vec<Bound<'py, PyAny>> = out
            .try_iter()
            .and_then(|it| it.collect::<PyResult<_>>())
            .map_err(|e| Error::new(ErrorKind::Call, format!("`out`: {e}")))?;
        if items.len() != names.len() {
            return Err(Error::new(
                ErrorKind::Call,
                format!(
                    "`out` has {} entries, but kernel `{}` has {} output(s): {}",
                    items.len(),
                    kernel.name(),
                    names.len(),
                    names.join(", ")
                ),
            ));
        }
        for (name, value) in names.iter().zip(items) {
            if !value.is_none() {
                given.push(((*name).to_owned(), value));
            }
        }
    } else if names.len() == 1 {
        given.push((names[0].to_owned(), out.clone()));
    } else {
        return Err(Error::new(
            ErrorKind::Call,
            format!(
                "kernel `{}` has {} outputs: give `out` as a tuple (one entry per output, \
                 None to allocate) or a dict by name",
                kernel.name(),
                names.len()
            ),
        )
        .with_note(format!("its outputs are: {}", names.join(", "))));
    }
    Ok(given)
}

/// Calls `kernel` with `bound` arguments, writing the outputs `out` gives
/// (see `kernel_outs`) into those arrays; its outputs in declaration order,
/// the given arrays themselves or new ones.
pub(crate) fn call_kernel<'py>(
    py: Python<'py>,
    kernel: &Kernel,
    source: &str,
    bound: &[Named<'py>],
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let fail = |e: Error| error_to_py(&e, source);
    let given = match out {
        Some(out) => kernel_outs(kernel, out).map_err(fail)?,
        None => Vec::new(),
    };
    // Borrowed for writing; two outputs may not share memory.
    let mut outputs: Vec<Output<'py>> = Vec::with_capacity(given.len());
    for (name, obj) in &given {
        let what = format!("the array given for output `{name}`");
        let typed = match Typed::of(obj) {
            Some(t) => t,
            None if obj.cast::<PyUntypedArray>().is_ok() => {
                return Err(fail(unsupported_dtype(&what, obj)))
            }
            None => {
                return Err(fail(Error::new(
                    ErrorKind::Call,
                    format!("{what} must be a NumPy array"),
                )))
            }
        };
        let raw = typed.raw().map_err(|p| fail(array_error(&what, &p)))?;
        if let Some(k) = outputs.iter().position(|o| o.raw.overlaps(&raw)) {
            return Err(fail(Error::new(
                ErrorKind::Call,
                format!(
                    "the arrays given for outputs `{}` and `{name}` share memory",
                    given[k].0
                ),
            )));
        }
        outputs.push(typed.write(raw).map_err(|p| fail(array_error(&what, &p)))?);
    }
    let out_raws: Vec<Raw> = outputs.iter().map(|o| o.raw).collect();
    let mut values = Vec::with_capacity(bound.len());
    let mut in_place = None;
    for (name, obj) in bound {
        values.push(hold(name, obj, &out_raws, Overlap::Copy, &mut in_place).map_err(fail)?);
    }
    let args = args(bound, &values).map_err(fail)?;
    let mut views: Vec<(&str, ViewMut<'_>)> = Vec::with_capacity(outputs.len());
    for ((name, _), output) in given.iter().zip(outputs.iter_mut()) {
        views.push((name.as_str(), output.view_mut().map_err(fail)?));
    }
    let rest = py
        .detach(|| kernel.call_into(&args, &mut views))
        .map_err(fail)?;
    drop(views);
    drop(args);
    drop(values);
    drop(outputs);
    let mut rest = rest.into_iter();
    let mut results = Vec::new();
    for name in kernel.outputs() {
        match given.iter().find(|(n, _)| n == name) {
            Some((_, obj)) => results.push(obj.clone()),
            None => {
                let (_, array) = rest
                    .next()
                    .ok_or_else(|| fail(Error::internal("fewer outputs than declared")))?;
                results.push(array_to_py(py, array)?);
            }
        }
    }
    Ok(results)
}

/// A result as a NumPy array (its memory moved, not copied), or a NumPy
/// scalar for rank 0.
pub(crate) fn array_to_py(py: Python<'_>, array: Array) -> PyResult<Bound<'_, PyAny>> {
    let dims = array.shape().dims().to_vec();
    if dims.is_empty() {
        return scalar_to_py(py, array.get(0));
    }
    let shape = ndarray::IxDyn(&dims);
    let bad =
        |e: ndarray::ShapeError| error_to_py(&Error::internal(format!("result shape: {e}")), "");
    Ok(match array.into_data() {
        Data::Bool(v) => ndarray::ArrayD::from_shape_vec(shape, v)
            .map_err(bad)?
            .into_pyarray(py)
            .into_any(),
        Data::I32(v) => ndarray::ArrayD::from_shape_vec(shape, v)
            .map_err(bad)?
            .into_pyarray(py)
            .into_any(),
        Data::I64(v) => ndarray::ArrayD::from_shape_vec(shape, v)
            .map_err(bad)?
            .into_pyarray(py)
            .into_any(),
        Data::F32(v) => ndarray::ArrayD::from_shape_vec(shape, v)
            .map_err(bad)?
            .into_pyarray(py)
            .into_any(),
        Data::F64(v) => ndarray::ArrayD::from_shape_vec(shape, v)
            .map_err(bad)?
            .into_pyarray(py)
            .into_any(),
    })
}

/// A NumPy scalar of the value's dtype (`numpy.float64(...)`, ...).
fn scalar_to_py(py: Python<'_>, value: Scalar) -> PyResult<Bound<'_, PyAny>> {
    match value {
        Scalar::Bool(v) => numpy::dtype::<bool>(py).typeobj().call1((v,)),
        Scalar::I32(v) => numpy::dtype::<i32>(py).typeobj().call1((v,)),
        Scalar::I64(v) => numpy::dtype::<i64>(py).typeobj().call1((v,)),
        Scalar::F32(v) => numpy::dtype::<f32>(py).typeobj().call1((v,)),
        Scalar::F64(v) => numpy::dtype::<f64>(py).typeobj().call1((v,)),
    }
}
