//! Arrays as arrjit sees them: borrowed strided views of host memory for
//! inputs, owned row-major arrays for results.
//!
//! A [`View`] is checked when it is made: every element its shape and
//! strides can reach lies inside the borrowed slice, so nothing downstream
//! (interpreter or compiled code) can read out of bounds.

use std::fmt;

use crate::error::{Error, ErrorKind, Result};
use crate::types::{DType, Scalar, Shape, MAX_RANK};

/// A borrowed slice of one of the five dtypes.
#[derive(Clone, Copy, Debug)]
pub enum Buffer<'a> {
    Bool(&'a [bool]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    F32(&'a [f32]),
    F64(&'a [f64]),
}

impl<'a> Buffer<'a> {
    pub fn dtype(&self) -> DType {
        match self {
            Buffer::Bool(_) => DType::Bool,
            Buffer::I32(_) => DType::I32,
            Buffer::I64(_) => DType::I64,
            Buffer::F32(_) => DType::F32,
            Buffer::F64(_) => DType::F64,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Buffer::Bool(s) => s.len(),
            Buffer::I32(s) => s.len(),
            Buffer::I64(s) => s.len(),
            Buffer::F32(s) => s.len(),
            Buffer::F64(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `k` (must be in bounds).
    pub fn get(&self, k: usize) -> Scalar {
        match self {
            Buffer::Bool(s) => Scalar::Bool(s[k]),
            Buffer::I32(s) => Scalar::I32(s[k]),
            Buffer::I64(s) => Scalar::I64(s[k]),
            Buffer::F32(s) => Scalar::F32(s[k]),
            Buffer::F64(s) => Scalar::F64(s[k]),
        }
    }

    /// Address of the first element (for the JIT's call frame).
    pub(crate) fn as_ptr(&self) -> *const u8 {
        match self {
            Buffer::Bool(s) => s.as_ptr().cast(),
            Buffer::I32(s) => s.as_ptr().cast(),
            Buffer::I64(s) => s.as_ptr().cast(),
            Buffer::F32(s) => s.as_ptr().cast(),
            Buffer::F64(s) => s.as_ptr().cast(),
        }
    }
}

/// A strided view: element `[i, j]` is `buf[offset + i*strides[0] + j*strides[1]]`
/// (strides in elements, possibly negative or zero).
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    buf: Buffer<'a>,
    offset: usize,
    shape: Shape,
    strides: [isize; MAX_RANK],
}

impl<'a> View<'a> {
    /// A row-major view of a whole slice with the given shape.
    pub fn contiguous(buf: Buffer<'a>, dims: &[usize]) -> Result<View<'a>> {
        let shape = shape_of(dims)?;
        let strides = match shape.dims() {
            [] | [_] => [1, 0],
            [_, m] => [isize::try_from(*m).map_err(|_| too_big())?, 1],
            _ => unreachable!(),
        };
        View::strided(buf, 0, dims, &strides[..shape.rank()])
    }

    /// A 1-D view of a whole slice.
    pub fn vector(buf: Buffer<'a>) -> View<'a> {
        let n = buf.len();
        View {
            buf,
            offset: 0,
            shape: Shape::vector(n),
            strides: [1, 0],
        }
    }

    /// A general strided view; refused unless every reachable element lies
    /// inside `buf`.
    pub fn strided(
        buf: Buffer<'a>,
        offset: usize,
        dims: &[usize],
        strides: &[isize],
    ) -> Result<View<'a>> {
        let shape = shape_of(dims)?;
        if strides.len() != dims.len() {
            return Err(Error::new(
                ErrorKind::Call,
                format!(
                    "{} strides given for a shape of rank {}",
                    strides.len(),
                    dims.len()
                ),
            ));
        }
        let mut st = [0isize; MAX_RANK];
        st[..strides.len()].copy_from_slice(strides);
        // The lowest and highest element offsets the view can reach.
        let (mut lo, mut hi) = (offset as i128, offset as i128);
        if shape.checked_len() != Some(0) {
            for (&d, &s) in dims.iter().zip(strides) {
                let reach = (d as i128 - 1) * s as i128;
                if reach < 0 {
                    lo += reach;
                } else {
                    hi += reach;
                }
            }
            if lo < 0 || hi >= buf.len() as i128 {
                return Err(Error::new(
                    ErrorKind::Call,
                    format!(
                        "a view of shape {shape} with strides {strides:?} from offset {offset} \
                         reaches outside its buffer of {} elements",
                        buf.len()
                    ),
                ));
            }
        }
        Ok(View {
            buf,
            offset,
            shape,
            strides: st,
        })
    }

    pub fn dtype(&self) -> DType {
        self.buf.dtype()
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Strides in elements, one per axis.
    pub fn strides(&self) -> &[isize] {
        &self.strides[..self.shape.rank()]
    }

    pub fn buffer(&self) -> Buffer<'a> {
        self.buf
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Element at `index` (one entry per axis; must be in bounds).
    pub fn get(&self, index: &[usize]) -> Scalar {
        let mut k = self.offset as isize;
        for (axis, &i) in index.iter().enumerate() {
            k += i as isize * self.strides[axis];
        }
        self.buf.get(k as usize)
    }

    /// The strides as stored (zero past the rank).
    pub(crate) fn strides_array(&self) -> [isize; MAX_RANK] {
        self.strides
    }

    /// The first element as a rank-0 view.
    pub(crate) fn scalar(self) -> View<'a> {
        View {
            shape: Shape::SCALAR,
            strides: [0; MAX_RANK],
            ..self
        }
    }

    /// True if the last axis has unit stride or at most one element.
    pub fn inner_contiguous(&self) -> bool {
        match self.shape.rank() {
            0 => true,
            r => self.shape.dims()[r - 1] <= 1 || self.strides[r - 1] == 1,
        }
    }
}

fn shape_of(dims: &[usize]) -> Result<Shape> {
    let shape = Shape::new(dims).ok_or_else(|| {
        Error::new(
            ErrorKind::Shape,
            format!(
                "arrays of rank {} are not supported (at most 2)",
                dims.len()
            ),
        )
    })?;
    if shape
        .checked_len()
        .is_none_or(|n| n > isize::MAX as usize / 8)
    {
        return Err(too_big());
    }
    Ok(shape)
}

fn too_big() -> Error {
    Error::new(ErrorKind::Shape, "array shape overflows the address space")
}

/// Allocations from this size up are tried fallibly first (see
/// [`Data::try_zeros`]); smaller ones cannot fail in practice and skip the
/// extra system call.
pub const PROBE_BYTES: usize = 1 << 20;

/// Whether an array of `shape` could be allocated: its byte count does not
/// overflow and, when large, a fallible reservation of it succeeds. An
/// [`ErrorKind::Limit`] error otherwise.
pub fn check_alloc(dtype: DType, shape: Shape) -> Result<()> {
    let len = shape.checked_len().ok_or_else(|| {
        Error::new(
            ErrorKind::Limit,
            format!("cannot allocate an array of shape {shape}: its size overflows"),
        )
    })?;
    check_len_alloc(dtype, len)
}

fn check_len_alloc(dtype: DType, len: usize) -> Result<()> {
    let refused = |bytes: String| {
        Error::new(
            ErrorKind::Limit,
            format!("cannot allocate {bytes} bytes for {len} elements of {dtype}"),
        )
    };
    let bytes = len
        .checked_mul(dtype.size())
        .filter(|&b| b <= isize::MAX as usize)
        .ok_or_else(|| refused("more than isize::MAX".to_string()))?;
    if bytes >= PROBE_BYTES {
        let mut probe: Vec<u8> = Vec::new();
        probe
            .try_reserve_exact(bytes)
            .map_err(|_| refused(bytes.to_string()))?;
    }
    Ok(())
}

/// Owned data of one dtype, row-major.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    Bool(Vec<bool>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Data {
    /// `len` elements of zero (false). The memory comes from `calloc`,
    /// untouched; from 4 MiB it is first advised to be backed by
    /// transparent huge pages, as NumPy does for its arrays (see
    /// `jit::advise_huge_pages`, where the crate's `unsafe` lives).
    pub fn zeros(dtype: DType, len: usize) -> Data {
        let mut data = match dtype {
            DType::Bool => Data::Bool(vec![false; len]),
            DType::I32 => Data::I32(vec![0; len]),
            DType::I64 => Data::I64(vec![0; len]),
            DType::F32 => Data::F32(vec![0.0; len]),
            DType::F64 => Data::F64(vec![0.0; len]),
        };
        crate::jit::advise_huge_pages(&mut data);
        data
    }

    /// `len` elements of zero, or a [`ErrorKind::Limit`] error instead of
    /// an abort when the memory cannot be had: the byte count overflows,
    /// or the allocator refuses it (a broadcast of two huge zero-stride
    /// views asks for terabytes). Large requests are first tried with a
    /// fallible reservation, which maps nothing it does not get; the real
    /// allocation stays a `calloc`, whose pages the kernel zeroes lazily.
    pub fn try_zeros(dtype: DType, len: usize) -> Result<Data> {
        check_len_alloc(dtype, len)?;
        Ok(Data::zeros(dtype, len))
    }

    pub fn dtype(&self) -> DType {
        self.as_buffer().dtype()
    }

    pub fn len(&self) -> usize {
        self.as_buffer().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn as_buffer(&self) -> Buffer<'_> {
        match self {
            Data::Bool(v) => Buffer::Bool(v),
            Data::I32(v) => Buffer::I32(v),
            Data::I64(v) => Buffer::I64(v),
            Data::F32(v) => Buffer::F32(v),
            Data::F64(v) => Buffer::F64(v),
        }
    }

    /// Stores `value` (which must have this dtype) at `k`.
    pub fn set(&mut self, k: usize, value: Scalar) {
        match (self, value) {
            (Data::Bool(v), Scalar::Bool(x)) => v[k] = x,
            (Data::I32(v), Scalar::I32(x)) => v[k] = x,
            (Data::I64(v), Scalar::I64(x)) => v[k] = x,
            (Data::F32(v), Scalar::F32(x)) => v[k] = x,
            (Data::F64(v), Scalar::F64(x)) => v[k] = x,
            (data, value) => panic!(
                "Data::set: storing a {} into a {} array",
                value.dtype(),
                data.dtype()
            ),
        }
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        match self {
            Data::Bool(v) => v.as_mut_ptr().cast(),
            Data::I32(v) => v.as_mut_ptr().cast(),
            Data::I64(v) => v.as_mut_ptr().cast(),
            Data::F32(v) => v.as_mut_ptr().cast(),
            Data::F64(v) => v.as_mut_ptr().cast(),
        }
    }
}

/// An owned, row-major result array (rank 0 for a scalar).
#[derive(Clone, PartialEq)]
pub struct Array {
    data: Data,
    shape: Shape,
}

impl Array {
    /// An array of zeros; `None` if the element count overflows.
    pub fn zeros(dtype: DType, shape: Shape) -> Array {
        let len = shape.checked_len().expect("shape was checked");
        Array {
            data: Data::zeros(dtype, len),
            shape,
        }
    }

    /// An array of zeros, or an error (never an abort) when the shape's
    /// element count overflows or the memory cannot be allocated.
    pub fn try_zeros(dtype: DType, shape: Shape) -> Result<Array> {
        check_alloc(dtype, shape)?;
        Ok(Array::zeros(dtype, shape))
    }

    /// Wraps row-major data; the length must match the shape.
    pub fn from_data(data: Data, shape: Shape) -> Result<Array> {
        if shape.checked_len() != Some(data.len()) {
            return Err(Error::new(
                ErrorKind::Shape,
                format!("{} elements do not make shape {shape}", data.len()),
            ));
        }
        Ok(Array { data, shape })
    }

    pub fn scalar(value: Scalar) -> Array {
        let mut data = Data::zeros(value.dtype(), 1);
        data.set(0, value);
        Array {
            data,
            shape: Shape::SCALAR,
        }
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn data(&self) -> &Data {
        &self.data
    }

    pub fn data_mut(&mut self) -> &mut Data {
        &mut self.data
    }

    pub fn into_data(self) -> Data {
        self.data
    }

    /// Element `k` in row-major order.
    pub fn get(&self, k: usize) -> Scalar {
        self.data.as_buffer().get(k)
    }

    /// A view of the whole array.
    pub fn view(&self) -> View<'_> {
        View::contiguous(self.data.as_buffer(), self.shape.dims()).expect("own shape is valid")
    }

    /// The value of a rank-0 array.
    pub fn as_scalar(&self) -> Option<Scalar> {
        (self.shape.rank() == 0).then(|| self.get(0))
    }

    /// The elements as `f64` values (for tests and printing).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        (0..self.len()).map(|k| self.get(k).as_f64()).collect()
    }
}

impl fmt::Debug for Array {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Array({}, shape={}, ", self.dtype(), self.shape)?;
        f.debug_list()
            .entries((0..self.len().min(16)).map(|k| self.get(k)))
            .finish()?;
        f.write_str(")")
    }
}

/// A mutably borrowed slice of one of the five dtypes.
#[derive(Debug)]
pub enum BufferMut<'a> {
    Bool(&'a mut [bool]),
    I32(&'a mut [i32]),
    I64(&'a mut [i64]),
    F32(&'a mut [f32]),
    F64(&'a mut [f64]),
}

impl BufferMut<'_> {
    pub fn dtype(&self) -> DType {
        match self {
            BufferMut::Bool(_) => DType::Bool,
            BufferMut::I32(_) => DType::I32,
            BufferMut::I64(_) => DType::I64,
            BufferMut::F32(_) => DType::F32,
            BufferMut::F64(_) => DType::F64,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            BufferMut::Bool(s) => s.len(),
            BufferMut::I32(s) => s.len(),
            BufferMut::I64(s) => s.len(),
            BufferMut::F32(s) => s.len(),
            BufferMut::F64(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same memory, read-only.
    pub fn as_buffer(&self) -> Buffer<'_> {
        match self {
            BufferMut::Bool(s) => Buffer::Bool(s),
            BufferMut::I32(s) => Buffer::I32(s),
            BufferMut::I64(s) => Buffer::I64(s),
            BufferMut::F32(s) => Buffer::F32(s),
            BufferMut::F64(s) => Buffer::F64(s),
        }
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        match self {
            BufferMut::Bool(s) => s.as_mut_ptr().cast(),
            BufferMut::I32(s) => s.as_mut_ptr().cast(),
            BufferMut::I64(s) => s.as_mut_ptr().cast(),
            BufferMut::F32(s) => s.as_mut_ptr().cast(),
            BufferMut::F64(s) => s.as_mut_ptr().cast(),
        }
    }
}

/// A strided view a result is written into: the mutable counterpart of
/// [`View`], checked the same way when it is made.
#[derive(Debug)]
pub struct ViewMut<'a> {
    buf: BufferMut<'a>,
    offset: usize,
    shape: Shape,
    strides: [isize; MAX_RANK],
}

impl<'a> ViewMut<'a> {
    /// A row-major view of a whole slice with the given shape.
    pub fn contiguous(buf: BufferMut<'a>, dims: &[usize]) -> Result<ViewMut<'a>> {
        let (offset, shape, strides) = {
            let v = View::contiguous(buf.as_buffer(), dims)?;
            (v.offset, v.shape, v.strides)
        };
        Ok(ViewMut {
            buf,
            offset,
            shape,
            strides,
        })
    }

    /// A general strided view; refused unless every reachable element lies
    /// inside `buf`. Strides must not make two indices share an element
    /// (a zero stride on an axis longer than 1, for instance), since the
    /// result would depend on the order of the writes.
    pub fn strided(
        buf: BufferMut<'a>,
        offset: usize,
        dims: &[usize],
        strides: &[isize],
    ) -> Result<ViewMut<'a>> {
        let (shape, st) = {
            let v = View::strided(buf.as_buffer(), offset, dims, strides)?;
            (v.shape, v.strides)
        };
        let overlapping = match shape.dims() {
            [n] => *n > 1 && st[0] == 0,
            [n, m] => {
                let (a, b) = (st[0].unsigned_abs(), st[1].unsigned_abs());
                // Unique addresses if each axis steps past the whole extent
                // of the other (the usual C, Fortran and sliced layouts).
                (*n > 1 && a == 0)
                    || (*m > 1 && b == 0)
                    || (*n > 1 && *m > 1 && a < b * *m && b < a * *n)
            }
            _ => false,
        };
        if overlapping {
            return Err(Error::new(
                ErrorKind::Call,
                format!("an output view with strides {strides:?} writes some elements twice"),
            ));
        }
        Ok(ViewMut {
            buf,
            offset,
            shape,
            strides: st,
        })
    }

    pub fn dtype(&self) -> DType {
        self.buf.dtype()
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Strides in elements, one per axis.
    pub fn strides(&self) -> &[isize] {
        &self.strides[..self.shape.rank()]
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The same memory, read-only (for reading a result back, or for
    /// reading an input that is overwritten in place).
    pub fn view(&self) -> View<'_> {
        View {
            buf: self.buf.as_buffer(),
            offset: self.offset,
            shape: self.shape,
            strides: self.strides,
        }
    }

    /// A shorter-lived view of the same memory.
    pub fn reborrow<'b>(this: &'b mut ViewMut<'_>) -> ViewMut<'b> {
        let buf = match &mut this.buf {
            BufferMut::Bool(s) => BufferMut::Bool(s),
            BufferMut::I32(s) => BufferMut::I32(s),
            BufferMut::I64(s) => BufferMut::I64(s),
            BufferMut::F32(s) => BufferMut::F32(s),
            BufferMut::F64(s) => BufferMut::F64(s),
        };
        ViewMut {
            buf,
            offset: this.offset,
            shape: this.shape,
            strides: this.strides,
        }
    }

    /// Copies `src` (row-major, same dtype and shape) into the view.
    pub fn assign(&mut self, src: &Array) {
        assert!(
            src.dtype() == self.dtype() && src.shape() == self.shape,
            "ViewMut::assign: {} {} into {} {}",
            src.dtype(),
            src.shape(),
            self.dtype(),
            self.shape
        );
        let (n, m) = match self.shape.dims() {
            [] => (1, 1),
            [n] => (1, *n),
            [n, m] => (*n, *m),
            _ => unreachable!(),
        };
        let (s0, s1) = match self.shape.dims() {
            [_, _] => (self.strides[0], self.strides[1]),
            _ => (0, self.strides[0]),
        };
        let mut k = 0;
        for i in 0..n {
            for j in 0..m {
                let at = (self.offset as isize + i as isize * s0 + j as isize * s1) as usize;
                match (&mut self.buf, src.get(k)) {
                    (BufferMut::Bool(b), Scalar::Bool(x)) => b[at] = x,
                    (BufferMut::I32(b), Scalar::I32(x)) => b[at] = x,
                    (BufferMut::I64(b), Scalar::I64(x)) => b[at] = x,
                    (BufferMut::F32(b), Scalar::F32(x)) => b[at] = x,
                    (BufferMut::F64(b), Scalar::F64(x)) => b[at] = x,
                    _ => unreachable!("dtypes checked above"),
                }
                k += 1;
            }
        }
    }

    pub(crate) fn buffer_len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn buffer_mut(&mut self) -> &mut BufferMut<'a> {
        &mut self.buf
    }
}

impl Data {
    pub fn as_buffer_mut(&mut self) -> BufferMut<'_> {
        match self {
            Data::Bool(v) => BufferMut::Bool(v),
            Data::I32(v) => BufferMut::I32(v),
            Data::I64(v) => BufferMut::I64(v),
            Data::F32(v) => BufferMut::F32(v),
            Data::F64(v) => BufferMut::F64(v),
        }
    }
}

impl Array {
    /// A mutable view of the whole array.
    pub fn view_mut(&mut self) -> ViewMut<'_> {
        let dims = self.shape;
        ViewMut::contiguous(self.data.as_buffer_mut(), dims.dims()).expect("own shape is valid")
    }
}

macro_rules! view_mut_from {
    ($t:ty, $variant:ident) => {
        impl<'a> From<&'a mut [$t]> for ViewMut<'a> {
            fn from(s: &'a mut [$t]) -> ViewMut<'a> {
                let n = s.len();
                ViewMut {
                    buf: BufferMut::$variant(s),
                    offset: 0,
                    shape: Shape::vector(n),
                    strides: [1, 0],
                }
            }
        }
        impl<'a, D: ndarray::Dimension> TryFrom<ndarray::ArrayViewMut<'a, $t, D>> for ViewMut<'a> {
            type Error = Error;
            /// Zero-copy for any view contiguous in memory (C or Fortran
            /// order, or with reversed axes).
            fn try_from(a: ndarray::ArrayViewMut<'a, $t, D>) -> Result<ViewMut<'a>> {
                let dims = a.shape().to_vec();
                let strides = a.strides().to_vec();
                let first = a.as_ptr() as usize;
                let start = match a.as_slice_memory_order() {
                    Some(s) => s.as_ptr() as usize,
                    None => {
                        return Err(Error::new(
                            ErrorKind::Call,
                            "an ndarray output view must be contiguous in memory",
                        ))
                    }
                };
                let offset = (first - start) / std::mem::size_of::<$t>();
                let slice = a
                    .into_slice_memory_order()
                    .expect("contiguous, checked above");
                ViewMut::strided(BufferMut::$variant(slice), offset, &dims, &strides)
            }
        }
        impl<'a> From<&'a mut Vec<$t>> for ViewMut<'a> {
            fn from(v: &'a mut Vec<$t>) -> ViewMut<'a> {
                ViewMut::from(v.as_mut_slice())
            }
        }
    };
}

view_mut_from!(bool, Bool);
view_mut_from!(i32, I32);
view_mut_from!(i64, I64);
view_mut_from!(f32, F32);
view_mut_from!(f64, F64);

impl<'a> From<&'a mut Array> for ViewMut<'a> {
    fn from(a: &'a mut Array) -> ViewMut<'a> {
        a.view_mut()
    }
}
