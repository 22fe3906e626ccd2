//! NumPy memory lent to the engine, without copying: the binding's only
//! `unsafe` (each use is listed in the README's Safety section).
//!
//! An array is described by a [`Raw`] layout (computed from its data
//! pointer, shape and byte strides, refused unless every stride is a whole
//! number of elements and the data is aligned), borrowed through the numpy
//! crate's borrow tracking (so a concurrent writer that uses it, such as
//! another thread's `out=`, is refused instead of racing), and lent as the
//! slice from its lowest to its highest element with the view's element
//! strides. The library checks again that every element of the view lies
//! inside that slice.

use std::ops::Range;

use arrjit::{Buffer, BufferMut, DType, Error, ErrorKind, View, ViewMut};
use numpy::{
    PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

/// Where an array's elements are: the layout of a NumPy array in the terms
/// the library takes (element strides, an offset into a spanning slice).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Raw {
    pub dtype: DType,
    /// Address of the lowest element (the start of the lent slice).
    start: usize,
    /// Elements from the lowest to the highest element, both included
    /// (0 for an empty array).
    span: usize,
    /// Index of element `[0, 0]` in the slice.
    offset: usize,
    rank: usize,
    dims: [usize; 2],
    /// Element strides (0 on an axis of length 1).
    strides: [isize; 2],
}

impl Raw {
    /// The layout of `shape`/`byte_strides` elements of `dtype` whose
    /// element `[0, 0]` is at `data`; the error says what is unsupported.
    pub fn new(
        data: *mut u8,
        dtype: DType,
        shape: &[usize],
        byte_strides: &[isize],
    ) -> Result<Raw, String> {
        if shape.len() > 2 {
            return Err(format!(
                "has {} dimensions; arrjit takes scalars, vectors and matrices (at most 2)",
                shape.len()
            ));
        }
        let size = dtype.size();
        let mut dims = [0usize; 2];
        let mut strides = [0isize; 2];
        let empty = shape.contains(&0);
        let (mut lo, mut hi) = (0isize, 0isize);
        for (axis, (&d, &s)) in shape.iter().zip(byte_strides).enumerate() {
            dims[axis] = d;
            if d <= 1 || empty {
                continue;
            }
            if s % size as isize != 0 {
                return Err(format!(
                    "has a stride of {s} bytes, not a whole number of {size}-byte elements \
                     (copy it with numpy.ascontiguousarray first)"
                ));
            }
            let st = s / size as isize;
            strides[axis] = st;
            let reach = (d as isize - 1)
                .checked_mul(st)
                .ok_or_else(|| "has strides that overflow".to_string())?;
            if reach < 0 {
                lo = lo.checked_add(reach).ok_or("has strides that overflow")?;
            } else {
                hi = hi.checked_add(reach).ok_or("has strides that overflow")?;
            }
        }
        if !empty && !(data as usize).is_multiple_of(size) {
            return Err(format!(
                "is not aligned to its {size}-byte elements (copy it with \
                 numpy.ascontiguousarray first)"
            ));
        }
        let (start, span, offset) = if empty {
            (data as usize, 0, 0)
        } else {
            let span = (hi - lo) as usize + 1;
            let start = (data as usize).wrapping_sub(lo.unsigned_abs() * size);
            (start, span, lo.unsigned_abs())
        };
        Ok(Raw {
            dtype,
            start,
            span,
            offset,
            rank: shape.len(),
            dims,
            strides,
        })
    }

    /// The bytes of the lent slice.
    pub fn bytes(&self) -> Range<usize> {
        self.start..self.start + self.span * self.dtype.size()
    }

    /// True if the lent slices share a byte.
    pub fn overlaps(&self, other: &Raw) -> bool {
        let (a, b) = (self.bytes(), other.bytes());
        a.start < b.end && b.start < a.end
    }

    /// True for the same elements in the same order (`out=a` for input `a`).
    pub fn same_as(&self, other: &Raw) -> bool {
        self.dtype == other.dtype
            && self.start == other.start
            && self.offset == other.offset
            && self.rank == other.rank
            && self.dims == other.dims
            && self.strides == other.strides
    }

    fn dims(&self) -> &[usize] {
        &self.dims[..self.rank]
    }

    fn strides(&self) -> &[isize] {
        &self.strides[..self.rank]
    }
}

/// A NumPy array of one of the five dtypes, before it is borrowed.
pub(crate) enum Typed<'py> {
    Bool(Bound<'py, PyArrayDyn<bool>>),
    I32(Bound<'py, PyArrayDyn<i32>>),
    I64(Bound<'py, PyArrayDyn<i64>>),
    F32(Bound<'py, PyArrayDyn<f32>>),
    F64(Bound<'py, PyArrayDyn<f64>>),
}

/// The numpy crate's shared borrow of an input, held for its `Drop`.
#[allow(dead_code)]
enum ReadGuard<'py> {
    Bool(PyReadonlyArrayDyn<'py, bool>),
    I32(PyReadonlyArrayDyn<'py, i32>),
    I64(PyReadonlyArrayDyn<'py, i64>),
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
}

/// The numpy crate's exclusive borrow of an output, held for its `Drop`.
#[allow(dead_code)]
enum WriteGuard<'py> {
    Bool(PyReadwriteArrayDyn<'py, bool>),
    I32(PyReadwriteArrayDyn<'py, i32>),
    I64(PyReadwriteArrayDyn<'py, i64>),
    F32(PyReadwriteArrayDyn<'py, f32>),
    F64(PyReadwriteArrayDyn<'py, f64>),
}

macro_rules! each_dtype {
    ($self:expr, $a:ident => $body:expr) => {
        match $self {
            Typed::Bool($a) => $body,
            Typed::I32($a) => $body,
            Typed::I64($a) => $body,
            Typed::F32($a) => $body,
            Typed::F64($a) => $body,
        }
    };
}

fn borrow_error(e: numpy::BorrowError, writing: bool) -> String {
    match e {
        numpy::BorrowError::NotWriteable => "is read-only".into(),
        _ if writing => "is in use by another call (being read or written)".into(),
        _ => "is being written by another call".into(),
    }
}

impl<'py> Typed<'py> {
    /// `obj` as an array of a supported dtype, or `None`.
    pub fn of(obj: &Bound<'py, PyAny>) -> Option<Typed<'py>> {
        if let Ok(a) = obj.cast::<PyArrayDyn<f64>>() {
            return Some(Typed::F64(a.clone()));
        }
        if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
            return Some(Typed::F32(a.clone()));
        }
        if let Ok(a) = obj.cast::<PyArrayDyn<i64>>() {
            return Some(Typed::I64(a.clone()));
        }
        if let Ok(a) = obj.cast::<PyArrayDyn<i32>>() {
            return Some(Typed::I32(a.clone()));
        }
        if let Ok(a) = obj.cast::<PyArrayDyn<bool>>() {
            return Some(Typed::Bool(a.clone()));
        }
        None
    }

    pub fn dtype(&self) -> DType {
        match self {
            Typed::Bool(_) => DType::Bool,
            Typed::I32(_) => DType::I32,
            Typed::I64(_) => DType::I64,
            Typed::F32(_) => DType::F32,
            Typed::F64(_) => DType::F64,
        }
    }

    pub fn raw(&self) -> Result<Raw, String> {
        let dtype = self.dtype();
        each_dtype!(self, a => Raw::new(a.data().cast(), dtype, a.shape(), a.strides()))
    }

    /// Borrows the array for reading.
    pub fn read(self, raw: Raw) -> Result<Input<'py>, String> {
        let guard = match self {
            Typed::Bool(a) => {
                ReadGuard::Bool(a.try_readonly().map_err(|e| borrow_error(e, false))?)
            }
            Typed::I32(a) => ReadGuard::I32(a.try_readonly().map_err(|e| borrow_error(e, false))?),
            Typed::I64(a) => ReadGuard::I64(a.try_readonly().map_err(|e| borrow_error(e, false))?),
            Typed::F32(a) => ReadGuard::F32(a.try_readonly().map_err(|e| borrow_error(e, false))?),
            Typed::F64(a) => ReadGuard::F64(a.try_readonly().map_err(|e| borrow_error(e, false))?),
        };
        check_bools(&raw)?;
        Ok(Input { _guard: guard, raw })
    }

    /// Borrows the array for writing.
    pub fn write(self, raw: Raw) -> Result<Output<'py>, String> {
        let e = |e| borrow_error(e, true);
        let guard = match self {
            Typed::Bool(a) => WriteGuard::Bool(a.try_readwrite().map_err(e)?),
            Typed::I32(a) => WriteGuard::I32(a.try_readwrite().map_err(e)?),
            Typed::I64(a) => WriteGuard::I64(a.try_readwrite().map_err(e)?),
            Typed::F32(a) => WriteGuard::F32(a.try_readwrite().map_err(e)?),
            Typed::F64(a) => WriteGuard::F64(a.try_readwrite().map_err(e)?),
        };
        check_bools(&raw)?;
        Ok(Output { _guard: guard, raw })
    }
}

/// Refuses a `bool` array holding a byte other than 0 or 1 (which a
/// `&[bool]` must not), as `.view(bool)` of integer memory can.
fn check_bools(raw: &Raw) -> Result<(), String> {
    if raw.dtype != DType::Bool || raw.span == 0 {
        return Ok(());
    }
    // SAFETY: the range of a borrowed array, as in `Input::view` (the
    // caller holds its guard); any byte is a valid `u8`.
    let bytes = unsafe { std::slice::from_raw_parts(raw.start as *const u8, raw.span) };
    if bytes.iter().any(|&b| b > 1) {
        return Err(
            "is a bool array holding bytes other than 0 and 1 (made with \
                    .view(bool)?); convert it with .astype(bool)"
                .into(),
        );
    }
    Ok(())
}

/// An input array, borrowed for reading for the length of a call.
pub(crate) struct Input<'py> {
    _guard: ReadGuard<'py>,
    raw: Raw,
}

impl Input<'_> {
    /// The array as the library's checked view.
    pub fn view(&self) -> Result<View<'_>, Error> {
        let r = &self.raw;
        macro_rules! slice {
            ($t:ty) => {
                if r.span == 0 {
                    &[]
                } else {
                    // SAFETY: `Raw::new` computed `start` and `span` from
                    // this array's data pointer, shape and strides: they
                    // cover its lowest to its highest element, a range
                    // inside the buffer NumPy allocated for the array (or
                    // its base: NumPy never makes a view reaching outside
                    // it), and `start` is aligned for `$t` (checked). The
                    // guard keeps the array alive for the slice's lifetime
                    // and excludes writers that use the numpy crate's
                    // borrow tracking; the one writer this binding makes,
                    // `out=`, never overlaps an input's range (the caller
                    // copies such an input first). `bool` bytes were
                    // checked to be 0 or 1 in `Typed::read`.
                    unsafe { std::slice::from_raw_parts(r.start as *const $t, r.span) }
                }
            };
        }
        let buf = match r.dtype {
            DType::Bool => Buffer::Bool(slice!(bool)),
            DType::I32 => Buffer::I32(slice!(i32)),
            DType::I64 => Buffer::I64(slice!(i64)),
            DType::F32 => Buffer::F32(slice!(f32)),
            DType::F64 => Buffer::F64(slice!(f64)),
        };
        View::strided(buf, r.offset, r.dims(), r.strides())
    }
}

/// The `out=` array, borrowed for writing for the length of a call.
pub(crate) struct Output<'py> {
    _guard: WriteGuard<'py>,
    pub raw: Raw,
}

impl Output<'_> {
    /// The array as the library's checked mutable view (refused if two of
    /// its indices share an element).
    pub fn view_mut(&mut self) -> Result<ViewMut<'_>, Error> {
        let r = self.raw;
        macro_rules! slice {
            ($t:ty) => {
                if r.span == 0 {
                    &mut []
                } else {
                    // SAFETY: the range is the array's own, valid and
                    // aligned, as in `Input::view`; the guard is the numpy
                    // crate's exclusive borrow (the array is writeable and
                    // no other borrow through it exists), `&mut self` keeps
                    // this the only slice made from it, and no input of
                    // the call overlaps it (inputs that would are copied
                    // or evaluated in place through this very view).
                    unsafe { std::slice::from_raw_parts_mut(r.start as *mut $t, r.span) }
                }
            };
        }
        let buf = match r.dtype {
            DType::Bool => BufferMut::Bool(slice!(bool)),
            DType::I32 => BufferMut::I32(slice!(i32)),
            DType::I64 => BufferMut::I64(slice!(i64)),
            DType::F32 => BufferMut::F32(slice!(f32)),
            DType::F64 => BufferMut::F64(slice!(f64)),
        };
        ViewMut::strided(buf, r.offset, r.dims(), r.strides())
    }
}

/// An error about a named array.
pub(crate) fn array_error(what: impl std::fmt::Display, problem: &str) -> Error {
    Error::new(ErrorKind::Call, format!("{what} {problem}"))
}
