//! `.npy` files in and out, for the CLI and for hosts without NumPy.
//!
//! Reading accepts exactly the five dtypes of the language, little-endian
//! (`|b1 <i4 <i8 <f4 <f8`, and `=` spellings on a little-endian machine), in C
//! or Fortran order, of rank 0, 1 or 2. Everything else is refused with an
//! [`ErrorKind::Io`] error that names the file and says what is wrong.
//!
//! The header is parsed here by a small, bounded parser rather than by
//! `npyz::NpyHeader`, because npyz trusts its input in ways a file from
//! anywhere must not be trusted: it allocates the header length the file
//! declares before reading it (a 4 GB allocation from a 12-byte file), it
//! multiplies the shape with unchecked `u64` arithmetic (a panic in debug
//! builds), and it parses the header through a recursive grammar with no
//! depth bound. npyz still parses the dtype string ([`npyz::TypeStr`]) and
//! writes files. The data is decoded with `from_le_bytes`, after checking
//! that the file holds every byte the header promises, so a lying header can
//! neither allocate more than the file's size nor read past its end.
//!
//! A Fortran-order matrix is kept as it is stored and exposed as a strided
//! [`View`] (strides `[1, n]`), never transposed into a copy.

use std::io::Write;
use std::path::Path;

use npyz::WriterBuilder;

use crate::array::{Array, Data, View};
use crate::error::{Error, ErrorKind, Result};
use crate::types::DType;

/// An array read from a `.npy` file, in the layout the file stores.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// The elements in file order (row-major, or column-major when
    /// `fortran_order`).
    pub data: Data,
    pub shape: Vec<usize>,
    pub fortran_order: bool,
}

impl NpyArray {
    /// A view of the data with the file's layout, without copying.
    pub fn view(&self) -> Result<View<'_>> {
        let buf = self.data.as_buffer();
        match (self.fortran_order, self.shape.as_slice()) {
            (true, &[n, _]) => {
                let n = isize::try_from(n).map_err(|_| {
                    Error::new(ErrorKind::Shape, "array shape overflows the address space")
                })?;
                View::strided(buf, 0, &self.shape, &[1, n])
            }
            _ => View::contiguous(buf, &self.shape),
        }
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }
}

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| io_error(format!("{name}: {}", io_reason(&e))))?;
    parse(&bytes).map_err(|msg| io_error(format!("{name}: {msg}")))
}

/// Reads `.npy` data from memory.
pub fn read_npy_bytes(bytes: &[u8]) -> Result<NpyArray> {
    parse(bytes).map_err(|msg| io_error(format!("npy data: {msg}")))
}

/// Writes `array` as a row-major, little-endian `.npy` file (shape `()` for
/// a rank-0 array).
pub fn write_npy(path: &Path, array: &Array) -> Result<()> {
    let name = path.display();
    let bytes = write_npy_bytes(array)?;
    std::fs::write(path, bytes).map_err(|e| io_error(format!("{name}: {}", io_reason(&e))))
}

/// The bytes of a `.npy` file holding `array` (see [`write_npy`]).
pub fn write_npy_bytes(array: &Array) -> Result<Vec<u8>> {
    let shape: Vec<u64> = array.shape().dims().iter().map(|&d| d as u64).collect();
    let mut out = Vec::with_capacity(128 + array.len() * array.dtype().size());
    let result = match array.data() {
        Data::Bool(v) => write_typed(&mut out, "|b1", &shape, v),
        Data::I32(v) => write_typed(&mut out, "<i4", &shape, v),
        Data::I64(v) => write_typed(&mut out, "<i8", &shape, v),
        Data::F32(v) => write_typed(&mut out, "<f4", &shape, v),
        Data::F64(v) => write_typed(&mut out, "<f8", &shape, v),
    };
    result.map_err(|e| Error::internal(format!("writing npy data: {e}")))?;
    Ok(out)
}

fn write_typed<T: npyz::Serialize + Copy>(
    out: &mut Vec<u8>,
    descr: &str,
    shape: &[u64],
    values: &[T],
) -> std::io::Result<()> {
    let type_str: npyz::TypeStr = descr
        .parse()
        .map_err(|e| std::io::Error::other(format!("{e}")))?;
    let mut writer = npyz::WriteOptions::<T>::new()
        .dtype(npyz::DType::Plain(type_str))
        .shape(shape)
        .writer(&mut *out)
        .begin_nd()?;
    writer.extend(values.iter().copied())?;
    writer.finish()?;
    out.flush()
}

fn io_error(message: String) -> Error {
    Error::new(ErrorKind::Io, message)
}

/// `std::io::Error`'s message, lowercased in the style of the crate's errors
/// ("no such file or directory" rather than "No such file or directory (os
/// error 2)").
fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => "no such file".to_string(),
        K::PermissionDenied => "permission denied".to_string(),
        K::IsADirectory => "is a directory, not a file".to_string(),
        _ => {
            let s = e.to_string();
            let s = s.split(" (os error").next().unwrap_or(&s);
            let mut chars = s.chars();
            match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => "i/o error".to_string(),
            }
        }
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";
const ACCEPTED: &str = "bool (|b1), int32 (<i4), int64 (<i8), float32 (<f4), float64 (<f8)";

/// Parses a whole file; the error is a message without the file name.
fn parse(bytes: &[u8]) -> Result<NpyArray, String> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a .npy file (bad magic number)".to_string());
    }
    let truncated_header = || "truncated .npy header".to_string();
    let (major, minor) = match bytes.get(6..8) {
        Some(&[a, b]) => (a, b),
        _ => return Err(truncated_header()),
    };
    let (header_len, text_start): (usize, usize) = match (major, minor) {
        (1, 0) => {
            let b = bytes.get(8..10).ok_or_else(truncated_header)?;
            (usize::from(u16::from_le_bytes([b[0], b[1]])), 10)
        }
        (2, 0) | (3, 0) => {
            let b = bytes.get(8..12).ok_or_else(truncated_header)?;
            let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (usize::try_from(n).map_err(|_| truncated_header())?, 12)
        }
        _ => return Err(format!("unsupported .npy format version {major}.{minor}")),
    };
    let data_start = text_start
        .checked_add(header_len)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| {
            format!(
                "truncated .npy header: it declares {header_len} bytes but the file has {}",
                bytes.len().saturating_sub(text_start)
            )
        })?;
    let text = std::str::from_utf8(&bytes[text_start..data_start])
        .map_err(|_| "malformed .npy header (not text)".to_string())?;
    let header = parse_header(text)?;
    let dtype = dtype_of(&header.descr)?;
    if header.shape.len() > 2 {
        return Err(format!(
            "arrays of rank {} are not supported (at most 2); shape is {}",
            header.shape.len(),
            show_shape(&header.shape)
        ));
    }
    let shape = header
        .shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<std::result::Result<Vec<usize>, _>>()
        .map_err(|_| format!("shape {} is too large", show_shape(&header.shape)))?;
    let data = &bytes[data_start..];
    let count = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let needed = count.and_then(|n| n.checked_mul(dtype.size()));
    let (count, needed) = match (count, needed) {
        (Some(c), Some(n)) if n <= data.len() => (c, n),
        _ => {
            return Err(format!(
                "truncated data: shape {} of {} needs {} bytes but the file has {}",
                show_shape(&header.shape),
                dtype,
                needed.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string()),
                data.len()
            ))
        }
    };
    let data = decode(dtype, &data[..needed], count);
    Ok(NpyArray {
        data,
        shape,
        fortran_order: header.fortran_order && header.shape.len() == 2,
    })
}

fn show_shape(shape: &[u64]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(u64::to_string).collect();
            format!("({})", parts.join(", "))
        }
    }
}

fn decode(dtype: DType, bytes: &[u8], count: usize) -> Data {
    fn chunks<const N: usize>(bytes: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        bytes
            .chunks_exact(N)
            .map(|c| c.try_into().expect("chunks_exact yields N bytes"))
    }
    debug_assert_eq!(bytes.len(), count * dtype.size());
    match dtype {
        DType::Bool => Data::Bool(bytes.iter().map(|&b| b != 0).collect()),
        DType::I32 => Data::I32(chunks(bytes).map(i32::from_le_bytes).collect()),
        DType::I64 => Data::I64(chunks(bytes).map(i64::from_le_bytes).collect()),
        DType::F32 => Data::F32(chunks(bytes).map(f32::from_le_bytes).collect()),
        DType::F64 => Data::F64(chunks(bytes).map(f64::from_le_bytes).collect()),
    }
}

/// The dtype of a header's `descr`, or why it is refused.
fn dtype_of(descr: &Value) -> Result<DType, String> {
    let s = match descr {
        Value::Str(s) => s.as_str(),
        Value::List(_) | Value::Tuple(_) | Value::Dict(_) => {
            return Err(format!(
                "structured (record) dtypes are not supported; accepted dtypes are {ACCEPTED}"
            ))
        }
        _ => return Err("malformed .npy header ('descr' is not a dtype string)".to_string()),
    };
    // npyz does not know `=` (native order); this reader is little-endian.
    let native = s.strip_prefix('=');
    let spelled = match native {
        Some(rest) if cfg!(target_endian = "little") => format!("<{rest}"),
        Some(rest) => format!(">{rest}"),
        None => s.to_string(),
    };
    let ty: npyz::TypeStr = spelled
        .parse()
        .map_err(|_| format!("unknown dtype '{s}'; accepted dtypes are {ACCEPTED}"))?;
    use npyz::{Endianness, TypeChar};
    let size = ty.size_field();
    if ty.endianness() == Endianness::Big && size > 1 {
        let little = format!("<{}", &spelled[1..]);
        return Err(format!(
            "big-endian data is not supported; convert with arr.astype('{little}')"
        ));
    }
    let dtype = match (ty.type_char(), size) {
        (TypeChar::Bool, 1) => Some(DType::Bool),
        (TypeChar::Int, 4) => Some(DType::I32),
        (TypeChar::Int, 8) => Some(DType::I64),
        (TypeChar::Float, 4) => Some(DType::F32),
        (TypeChar::Float, 8) => Some(DType::F64),
        _ => None,
    };
    dtype.ok_or_else(|| {
        let what = match ty.type_char() {
            TypeChar::Complex => "complex dtype",
            TypeChar::Object => "object dtype (pickled Python objects)",
            TypeChar::ByteStr | TypeChar::UnicodeStr => "string dtype",
            TypeChar::DateTime | TypeChar::TimeDelta => "datetime dtype",
            TypeChar::RawData => "raw (void) dtype",
            _ => "dtype",
        };
        format!("{what} '{s}' is not supported; accepted dtypes are {ACCEPTED}")
    })
}

struct Header {
    descr: Value,
    fortran_order: bool,
    shape: Vec<u64>,
}

fn parse_header(text: &str) -> Result<Header, String> {
    let malformed = |why: &str| format!("malformed .npy header ({why})");
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
    };
    let value = p.value(0).map_err(|why| malformed(&why))?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(malformed("trailing characters after the dictionary"));
    }
    let Value::Dict(entries) = value else {
        return Err(malformed("not a dictionary"));
    };
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| malformed(&format!("no '{key}' key")))
    };
    let fortran_order = match get("fortran_order")? {
        Value::Bool(b) => *b,
        _ => return Err(malformed("'fortran_order' is not True or False")),
    };
    let shape = match get("shape")? {
        Value::Tuple(items) | Value::List(items) => items
            .iter()
            .map(|v| match v {
                Value::Int(n) => Ok(*n),
                _ => Err(malformed("'shape' holds something other than integers")),
            })
            .collect::<Result<Vec<u64>, String>>()?,
        _ => return Err(malformed("'shape' is not a tuple")),
    };
    Ok(Header {
        descr: get("descr")?.clone(),
        fortran_order,
        shape,
    })
}

/// The subset of Python literals an `.npy` header uses.
#[derive(Clone, Debug)]
enum Value {
    Str(String),
    Int(u64),
    Bool(bool),
    None,
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(String, Value)>),
}

/// Nesting bound: a header is a dict, a structured descr nests a few lists
/// and tuples; anything deeper is garbage, refused without recursing.
const MAX_DEPTH: usize = 16;

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".to_string());
        }
        match self.peek() {
            None => Err("unexpected end".to_string()),
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                loop {
                    if self.eat(b'}') {
                        return Ok(Value::Dict(entries));
                    }
                    let Value::Str(key) = self.value(depth + 1)? else {
                        return Err("a dictionary key is not a string".to_string());
                    };
                    if !self.eat(b':') {
                        return Err("expected ':' in the dictionary".to_string());
                    }
                    let v = self.value(depth + 1)?;
                    entries.push((key, v));
                    if !self.eat(b',') && self.peek() != Some(b'}') {
                        return Err("expected ',' or '}' in the dictionary".to_string());
                    }
                }
            }
            Some(open @ (b'(' | b'[')) => {
                self.pos += 1;
                let close = if open == b'(' { b')' } else { b']' };
                let mut items = Vec::new();
                let mut saw_comma = false;
                loop {
                    if self.eat(close) {
                        // `(3)` is the integer 3 in Python, `(3,)` a tuple.
                        if open == b'(' && items.len() == 1 && !saw_comma {
                            return Ok(items.pop().expect("one item"));
                        }
                        return Ok(if open == b'(' {
                            Value::Tuple(items)
                        } else {
                            Value::List(items)
                        });
                    }
                    items.push(self.value(depth + 1)?);
                    if self.eat(b',') {
                        saw_comma = true;
                    } else if self.peek() != Some(close) {
                        return Err("expected ',' or a closing bracket".to_string());
                    }
                }
            }
            Some(q @ (b'\'' | b'"')) => {
                self.pos += 1;
                let mut out = Vec::new();
                loop {
                    match self.s.get(self.pos) {
                        None => return Err("unterminated string".to_string()),
                        Some(&c) if c == q => {
                            self.pos += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let c = *self
                                .s
                                .get(self.pos + 1)
                                .ok_or_else(|| "unterminated string".to_string())?;
                            out.push(c);
                            self.pos += 2;
                        }
                        Some(&c) => {
                            out.push(c);
                            self.pos += 1;
                        }
                    }
                }
                String::from_utf8(out)
                    .map(Value::Str)
                    .map_err(|_| "a string is not text".to_string())
            }
            Some(b'0'..=b'9') => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
                    self.pos += 1;
                }
                let digits = std::str::from_utf8(&self.s[start..self.pos]).expect("ascii digits");
                // Python 2 wrote long integers as `3L`.
                if matches!(self.s.get(self.pos), Some(b'L' | b'l')) {
                    self.pos += 1;
                }
                digits
                    .parse::<u64>()
                    .map(Value::Int)
                    .map_err(|_| format!("integer {digits} is too large"))
            }
            Some(b'-') => Err("negative number".to_string()),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_alphanumeric() {
                    self.pos += 1;
                }
                match &self.s[start..self.pos] {
                    b"True" => Ok(Value::Bool(true)),
                    b"False" => Ok(Value::Bool(false)),
                    b"None" => Ok(Value::None),
                    word => Err(format!(
                        "unexpected word '{}'",
                        String::from_utf8_lossy(word)
                    )),
                }
            }
            Some(_) => Err("unexpected character".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Scalar, Shape};

    /// A `.npy` file (version 1.0) with `header` as its dict text and `data`.
    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut text = header.to_string();
        // Pad to a multiple of 64 with the final newline, as NumPy does.
        while !(10 + text.len() + 1).is_multiple_of(64) {
            text.push(' ');
        }
        text.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend([1, 0]);
        out.extend((text.len() as u16).to_le_bytes());
        out.extend(text.as_bytes());
        out.extend(data);
        out
    }

    fn f64_bytes(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn err(bytes: &[u8]) -> String {
        let e = read_npy_bytes(bytes).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        e.message().to_string()
    }

    #[test]
    fn round_trips_every_dtype_and_rank() {
        let arrays = [
            Array::scalar(Scalar::F64(2.5)),
            Array::scalar(Scalar::Bool(true)),
            Array::from_data(Data::I32(vec![1, -2, 3]), Shape::vector(3)).unwrap(),
            Array::from_data(Data::I64(vec![1, 2, 3, 4, 5, 6]), Shape::matrix(2, 3)).unwrap(),
            Array::from_data(Data::F32(vec![0.5, f32::NAN]), Shape::vector(2)).unwrap(),
            Array::from_data(Data::Bool(vec![true, false]), Shape::matrix(1, 2)).unwrap(),
            Array::from_data(Data::F64(vec![]), Shape::matrix(0, 3)).unwrap(),
        ];
        for a in arrays {
            let bytes = write_npy_bytes(&a).unwrap();
            let back = read_npy_bytes(&bytes).unwrap();
            assert_eq!(back.shape, a.shape().dims());
            assert!(!back.fortran_order);
            let view = back.view().unwrap();
            assert_eq!(view.shape(), a.shape());
            assert_eq!(back.data.dtype(), a.dtype());
            for k in 0..a.len() {
                assert!(back.data.as_buffer().get(k).bits_eq(a.get(k)));
            }
        }
    }

    #[test]
    fn writes_numpy_headers() {
        let a = Array::scalar(Scalar::I64(3));
        let bytes = write_npy_bytes(&a).unwrap();
        let text = String::from_utf8_lossy(&bytes[10..]);
        assert!(text.contains("'descr': '<i8'"), "{text}");
        assert!(text.contains("'shape': ()"), "{text}");
        assert_eq!((bytes.len() - 8) % 64, 0);
        let v = Array::from_data(Data::F64(vec![1.0]), Shape::vector(1)).unwrap();
        let bytes = write_npy_bytes(&v).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("'shape': (1, )"), "{text}");
    }

    #[test]
    fn fortran_order_is_a_strided_view() {
        // [[1, 2, 3], [4, 5, 6]] stored column by column.
        let bytes = npy(
            "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
            &f64_bytes(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]),
        );
        let a = read_npy_bytes(&bytes).unwrap();
        assert!(a.fortran_order);
        let v = a.view().unwrap();
        assert_eq!(v.strides(), &[1, 2]);
        let got: Vec<f64> = (0..2)
            .flat_map(|i| (0..3).map(move |j| (i, j)))
            .map(|(i, j)| v.get(&[i, j]).as_f64())
            .collect();
        assert_eq!(got, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn accepts_other_spellings() {
        let data = f64_bytes(&[1.0, 2.0]);
        for header in [
            "{'descr': '=f8', 'fortran_order': False, 'shape': (2,)}",
            "{\"descr\": \"<f8\", \"shape\": [2], \"fortran_order\": False}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2L,), }",
        ] {
            let a = read_npy_bytes(&npy(header, &data)).unwrap();
            assert_eq!(a.data, Data::F64(vec![1.0, 2.0]), "{header}");
        }
        // Fortran order of a vector is just a vector.
        let a = read_npy_bytes(&npy(
            "{'descr': '<f8', 'fortran_order': True, 'shape': (2,), }",
            &data,
        ))
        .unwrap();
        assert_eq!(a.view().unwrap().strides(), &[1]);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let h = |descr: &str, shape: &str| {
            npy(
                &format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}"),
                &[0; 64],
            )
        };
        let big = err(&h("'>f8'", "(2,)"));
        assert_eq!(
            big,
            "npy data: big-endian data is not supported; convert with arr.astype('<f8')"
        );
        assert!(err(&h("'>i4'", "(2,)")).contains("astype('<i4')"));
        assert!(err(&h("'<c16'", "(2,)")).contains("complex dtype '<c16' is not supported"));
        assert!(err(&h("'|O'", "(2,)")).contains("object dtype"));
        assert!(err(&h("[('a', '<f8'), ('b', '<i4')]", "(2,)")).contains("structured"));
        for other in ["'<i2'", "'|i1'", "'|u1'", "'<u8'", "'<f2'", "'<U3'"] {
            let msg = err(&h(other, "(2,)"));
            assert!(
                msg.contains("accepted dtypes are bool (|b1)"),
                "{other}: {msg}"
            );
        }
        assert!(err(&h("'<f8'", "(2, 2, 2)")).contains("rank 3 are not supported"));
        assert!(err(&h("'<f8'", "(100,)")).contains("truncated data"));
        assert!(err(&h("'<f8'", "(4294967296, 4294967296)")).contains("truncated data"));
        assert!(err(&h("'<f8'", "(99999999999999999999,)")).contains("too large"));
        assert!(err(b"hello, world").contains("not a .npy file (bad magic number)"));
        assert!(err(b"").contains("bad magic"));
    }

    #[test]
    fn lying_header_length_allocates_nothing() {
        let mut bytes = MAGIC.to_vec();
        bytes.extend([2, 0]);
        bytes.extend(u32::MAX.to_le_bytes());
        assert!(err(&bytes).contains("truncated .npy header"));
    }

    #[test]
    fn no_panic_on_any_prefix_or_garbling() {
        let good = npy(
            "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
            &f64_bytes(&[1.0; 6]),
        );
        for len in 0..=good.len() {
            let _ = read_npy_bytes(&good[..len]);
        }
        // Overwrite every header byte with a few troublesome values.
        for k in 0..good.len().min(128) {
            for b in [0u8, b'(', b'[', b'{', b'\'', b'9', b',', b')', 0xff, b'\\'] {
                let mut bad = good.clone();
                bad[k] = b;
                let _ = read_npy_bytes(&bad);
            }
        }
        // Deep nesting is refused without recursing through it.
        let deep = npy(&"[".repeat(10_000), &[]);
        assert!(err(&deep).contains("nested too deeply"));
        let deep = npy(&format!("{{'descr': {}", "(".repeat(60_000)), &[]);
        assert!(err(&deep).contains("malformed"));
    }

    #[test]
    fn reads_and_writes_files() {
        let path = std::env::temp_dir().join(format!("arrjit-npy-{}.npy", std::process::id()));
        let a = Array::from_data(Data::F64(vec![1.0, 2.0, 3.0, 4.0]), Shape::matrix(2, 2)).unwrap();
        write_npy(&path, &a).unwrap();
        let back = read_npy(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(back.data, *a.data());
        let e = read_npy(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(e.message().ends_with(": no such file"), "{}", e.message());
    }
}
