//! Printing arrays the way NumPy's `print(arr)` does.
//!
//! Users compare arrjit's output with NumPy's, so this follows NumPy 2's
//! `array2string` defaults (`precision=8`, `floatmode='maxprec'`,
//! `linewidth=75`, `threshold=1000`, `edgeitems=3`, `legacy=False`) rather
//! than inventing a format:
//!
//! - floats: each value in its shortest round-trip form, cut to 8 decimals,
//!   trailing zeros trimmed but the point kept (`1.`), padded so the points
//!   line up; scientific notation with a shared mantissa width when the
//!   non-zero magnitudes reach 1e8, go below 1e-4, or span more than a
//!   factor 1000; `nan`, `inf`, `-inf` right-aligned in the same width;
//! - integers right-aligned to a common width; booleans as ` True`/`False`;
//! - rows of a matrix on separate lines, long rows wrapped at 75 columns;
//! - more than 1000 elements summarised with `...` (first and last 3 along
//!   each axis), the format decided from the shown elements only;
//! - a rank-0 array as NumPy prints a scalar (`2.5`, `3.0`, `1e-10`, `3`,
//!   `True`).
//!
//! `f32` values use the `f32` shortest representation (`0.1`, not
//! `0.10000000149011612`).

use crate::array::Array;
use crate::types::{DType, Scalar};

const PRECISION: usize = 8;
const LINE_WIDTH: usize = 75;
const THRESHOLD: usize = 1000;
const EDGE_ITEMS: usize = 3;

/// `a` formatted as NumPy's `print(a)` would show it (no trailing newline).
pub fn format_array(a: &Array) -> String {
    let dims = a.shape().dims().to_vec();
    if dims.is_empty() {
        return format_scalar(a.get(0));
    }
    if a.is_empty() {
        return "[]".to_string();
    }
    let summarize = a.len() > THRESHOLD;
    let shown = shown_indices(&dims, summarize);
    let format = ElementFormat::new(a, &shown);
    let printer = Printer {
        a,
        dims: &dims,
        format: &format,
        summarize,
    };
    printer.recurse(&mut Vec::new(), " ", LINE_WIDTH)
}

/// A scalar as NumPy's `str()` of a scalar of that dtype.
pub fn format_scalar(value: Scalar) -> String {
    match value {
        Scalar::Bool(v) => if v { "True" } else { "False" }.to_string(),
        Scalar::I32(v) => v.to_string(),
        Scalar::I64(v) => v.to_string(),
        Scalar::F32(v) => {
            // NumPy compares the magnitude as a double.
            let a = f64::from(v.abs());
            let positional = a == 0.0 || (1e-4..1e6).contains(&a);
            scalar_float(Float::from_f32(v), positional)
        }
        Scalar::F64(v) => {
            let a = v.abs();
            let positional = a == 0.0 || (1e-4..1e16).contains(&a);
            scalar_float(Float::from_f64(v), positional)
        }
    }
}

fn scalar_float(x: Float, positional: bool) -> String {
    if let Some(s) = non_finite(x.value) {
        return s.to_string();
    }
    if positional {
        // Trim mode '0': at least one digit after the point.
        let s = x.shortest_positional();
        let (int, frac) = split_point(&s);
        let frac = if frac.is_empty() { "0" } else { frac };
        format!("{int}.{frac}")
    } else {
        let s = x.shortest_scientific();
        let (mantissa, exp) = split_exp(&s);
        format!("{mantissa}e{}", exponent(exp, 2))
    }
}

fn non_finite(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("nan")
    } else if v == f64::INFINITY {
        Some("inf")
    } else if v == f64::NEG_INFINITY {
        Some("-inf")
    } else {
        None
    }
}

/// A float value with the width it has in its array, so that it prints with
/// its own dtype's shortest representation.
#[derive(Clone, Copy)]
struct Float {
    value: f64,
    is_f32: bool,
}

impl Float {
    fn from_f32(v: f32) -> Float {
        Float {
            value: f64::from(v),
            is_f32: true,
        }
    }

    fn from_f64(v: f64) -> Float {
        Float {
            value: v,
            is_f32: false,
        }
    }

    /// Shortest round-trip digits, never with an exponent (`0.0000000001`).
    fn shortest_positional(self) -> String {
        let s = if self.is_f32 {
            format!("{}", self.value as f32)
        } else {
            format!("{}", self.value)
        };
        // Of the shortest candidates NumPy (Dragon4) picks the one nearest
        // the exact value, ties to even (`-55771.312` for the f32
        // -55771.3125); Rust's shortest form may pick the other one.
        let digits = split_point(&s).1.len();
        self.nearest(s, self.fixed_positional(digits))
    }

    /// Exactly rounded to `digits` decimals.
    fn fixed_positional(self, digits: usize) -> String {
        if self.is_f32 {
            format!("{:.digits$}", self.value as f32)
        } else {
            format!("{:.digits$}", self.value)
        }
    }

    /// Shortest round-trip digits in Rust's scientific form (`1.5e-7`).
    fn shortest_scientific(self) -> String {
        let s = if self.is_f32 {
            format!("{:e}", self.value as f32)
        } else {
            format!("{:e}", self.value)
        };
        let digits = split_point(split_exp(&s).0).1.len();
        self.nearest(s, self.fixed_scientific(digits))
    }

    /// `rounded` (the exactly rounded form with as many digits as
    /// `shortest`) if it still reads back as this value, else `shortest`.
    fn nearest(self, shortest: String, rounded: String) -> String {
        let same = if self.is_f32 {
            rounded.parse::<f32>().ok() == Some(self.value as f32)
        } else {
            rounded.parse::<f64>().ok() == Some(self.value)
        };
        if same {
            rounded
        } else {
            shortest
        }
    }

    fn fixed_scientific(self, digits: usize) -> String {
        if self.is_f32 {
            format!("{:.digits$e}", self.value as f32)
        } else {
            format!("{:.digits$e}", self.value)
        }
    }

    /// NumPy's `dragon4_positional(unique=True, precision=p, trim='.')`:
    /// (integer part, fractional digits).
    fn positional(self, precision: usize) -> (String, String) {
        let s = self.shortest_positional();
        let (int, frac) = split_point(&s);
        if frac.len() <= precision {
            return (int.to_string(), frac.to_string());
        }
        let s = self.fixed_positional(precision);
        let (int, frac) = split_point(&s);
        (int.to_string(), frac.trim_end_matches('0').to_string())
    }

    /// NumPy's `dragon4_scientific(unique=True, precision=p)`: (integer
    /// digit with sign, fractional digits, exponent), fractional digits
    /// trimmed of trailing zeros.
    fn scientific(self, precision: usize) -> (String, String, i32) {
        let s = self.shortest_scientific();
        let (mantissa, exp) = split_exp(&s);
        let (int, frac) = split_point(mantissa);
        if frac.len() <= precision {
            return (int.to_string(), frac.to_string(), exp);
        }
        let s = self.fixed_scientific(precision);
        let (mantissa, exp) = split_exp(&s);
        let (int, frac) = split_point(mantissa);
        (int.to_string(), frac.trim_end_matches('0').to_string(), exp)
    }
}

fn split_point(s: &str) -> (&str, &str) {
    s.split_once('.').unwrap_or((s, ""))
}

fn split_exp(s: &str) -> (&str, i32) {
    match s.split_once('e') {
        Some((m, e)) => (m, e.parse().unwrap_or(0)),
        None => (s, 0),
    }
}

/// `+08`, `-300`: sign and at least `digits` digits.
fn exponent(exp: i32, digits: usize) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{:0digits$}", exp.unsigned_abs())
}

/// The row-major indices of the elements that are printed.
fn shown_indices(dims: &[usize], summarize: bool) -> Vec<usize> {
    let axis = |n: usize| -> Vec<usize> {
        if summarize && n > 2 * EDGE_ITEMS {
            (0..EDGE_ITEMS).chain(n - EDGE_ITEMS..n).collect()
        } else {
            (0..n).collect()
        }
    };
    match dims {
        [n] => axis(*n),
        [n, m] => {
            let cols = axis(*m);
            axis(*n)
                .into_iter()
                .flat_map(|i| cols.iter().map(move |&j| i * m + j))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// How every element of one array is printed (NumPy's `FloatingFormat`,
/// `IntegerFormat`, `BoolFormat`).
enum ElementFormat {
    Bool,
    Int {
        width: usize,
    },
    Float {
        /// Scientific notation with this many exponent digits.
        exp_digits: Option<usize>,
        /// Maximum fractional digits (and, in scientific mode, minimum).
        precision: usize,
        pad_left: usize,
        pad_right: usize,
    },
}

impl ElementFormat {
    fn new(a: &Array, shown: &[usize]) -> ElementFormat {
        match a.dtype() {
            DType::Bool => ElementFormat::Bool,
            DType::I32 | DType::I64 => {
                let width = shown
                    .iter()
                    .map(|&k| format_scalar(a.get(k)).len())
                    .max()
                    .unwrap_or(0);
                ElementFormat::Int { width }
            }
            DType::F32 | DType::F64 => {
                let values: Vec<Float> = shown.iter().map(|&k| float_of(a.get(k))).collect();
                float_format(&values, a.dtype() == DType::F32)
            }
        }
    }

    fn format(&self, value: Scalar) -> String {
        match *self {
            ElementFormat::Bool => {
                if value == Scalar::Bool(true) {
                    " True".to_string()
                } else {
                    "False".to_string()
                }
            }
            ElementFormat::Int { width } => format!("{:>width$}", format_scalar(value)),
            ElementFormat::Float {
                exp_digits,
                precision,
                pad_left,
                pad_right,
                ..
            } => {
                let x = float_of(value);
                if let Some(s) = non_finite(x.value) {
                    return format!("{s:>w$}", w = pad_left + pad_right + 1);
                }
                match exp_digits {
                    Some(digits) => {
                        // NumPy's `min_digits=precision`: the digits past the
                        // shortest form are the value's own, not zeros
                        // (visible for f32: `1.61755238e+06`).
                        let s = x.fixed_scientific(precision);
                        let (mantissa, exp) = split_exp(&s);
                        let (int, frac) = split_point(mantissa);
                        format!("{int:>pad_left$}.{frac}e{}", exponent(exp, digits))
                    }
                    None => {
                        let (int, frac) = x.positional(precision);
                        format!("{int:>pad_left$}.{frac:<pad_right$}")
                    }
                }
            }
        }
    }
}

fn float_of(value: Scalar) -> Float {
    match value {
        Scalar::F32(v) => Float::from_f32(v),
        other => Float::from_f64(other.as_f64()),
    }
}

/// NumPy's `FloatingFormat.fillFormat` for the default options.
fn float_format(values: &[Float], is_f32: bool) -> ElementFormat {
    let finite: Vec<Float> = values
        .iter()
        .copied()
        .filter(|x| x.value.is_finite())
        .collect();
    let nonzero = finite.iter().map(|x| x.value.abs()).filter(|&v| v != 0.0);
    let (min, max) = nonzero.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    // NumPy compares in the array's dtype (NEP 50: the Python constants are
    // weak), so an f32 array compares against f32 constants.
    let exp_format = max > 0.0
        && if is_f32 {
            let (min, max) = (min as f32, max as f32);
            // NumPy 2.3+: the upper cutoff is 10**min(8, digits of the dtype).
            max >= 1e6 || min < 1e-4 || max / min > 1000.0
        } else {
            max >= 1e8 || min < 1e-4 || max / min > 1000.0
        };
    let (mut pad_left, pad_right, precision, exp_digits) = if finite.is_empty() {
        (0, 0, PRECISION, None)
    } else if exp_format {
        let parts: Vec<(String, String, i32)> =
            finite.iter().map(|x| x.scientific(PRECISION)).collect();
        let precision = parts.iter().map(|p| p.1.len()).max().unwrap_or(0);
        let exp_digits = parts
            .iter()
            .map(|p| exponent(p.2, 2).len() - 1)
            .max()
            .unwrap_or(2);
        let pad_left = parts.iter().map(|p| p.0.len()).max().unwrap_or(1);
        (
            pad_left,
            exp_digits + 2 + precision,
            precision,
            Some(exp_digits),
        )
    } else {
        let parts: Vec<(String, String)> = finite.iter().map(|x| x.positional(PRECISION)).collect();
        let pad_left = parts.iter().map(|p| p.0.len()).max().unwrap_or(1);
        let pad_right = parts.iter().map(|p| p.1.len()).max().unwrap_or(0);
        (pad_left, pad_right, PRECISION, None)
    };
    if finite.len() != values.len() {
        let neg_inf = values.iter().any(|x| x.value == f64::NEG_INFINITY);
        let offset = pad_right + 1;
        pad_left = pad_left
            .max(3usize.saturating_sub(offset))
            .max((3 + usize::from(neg_inf)).saturating_sub(offset));
    }
    ElementFormat::Float {
        exp_digits,
        precision,
        pad_left,
        pad_right,
    }
}

/// NumPy's `_formatArray`: nested brackets, rows on their own lines, long
/// rows wrapped with a hanging indent.
struct Printer<'a> {
    a: &'a Array,
    dims: &'a [usize],
    format: &'a ElementFormat,
    summarize: bool,
}

impl Printer<'_> {
    fn element(&self, index: &[usize]) -> String {
        let k = match (index, self.dims) {
            ([i], _) => *i,
            ([i, j], [_, m]) => i * m + j,
            _ => 0,
        };
        self.format.format(self.a.get(k))
    }

    fn recurse(&self, index: &mut Vec<usize>, hanging_indent: &str, width: usize) -> String {
        let axis = index.len();
        if axis == self.dims.len() {
            return self.element(index);
        }
        let axes_left = self.dims.len() - axis;
        let next_indent = format!("{hanging_indent} ");
        let next_width = width.saturating_sub(1);
        let n = self.dims[axis];
        let show_summary = self.summarize && 2 * EDGE_ITEMS < n;
        let (leading, trailing) = if show_summary {
            (EDGE_ITEMS, EDGE_ITEMS)
        } else {
            (0, n)
        };
        // Row indices in printing order, `None` for the `...`.
        let mut order: Vec<Option<usize>> = (0..leading).map(Some).collect();
        if show_summary {
            order.push(None);
        }
        order.extend((1..=trailing).rev().map(|i| Some(n - i)));
        let sub = |i: usize, index: &mut Vec<usize>| {
            index.push(i);
            let s = self.recurse(index, &next_indent, next_width);
            index.pop();
            s
        };

        let mut s = String::new();
        if axes_left == 1 {
            // Room up to the separator or the closing bracket.
            let elem_width = width.saturating_sub(1);
            let mut line = hanging_indent.to_string();
            let last = order.len() - 1;
            for (pos, item) in order.iter().enumerate() {
                let word = match item {
                    Some(i) => sub(*i, index),
                    None => "...".to_string(),
                };
                extend_line(&mut s, &mut line, &word, elem_width, hanging_indent);
                if pos != last {
                    line.push(' ');
                }
            }
            s.push_str(&line);
        } else {
            let line_sep = "\n".repeat(axes_left - 1);
            let last = order.len() - 1;
            for (pos, item) in order.iter().enumerate() {
                let nested = match item {
                    Some(i) => sub(*i, index),
                    None => "...".to_string(),
                };
                s.push_str(hanging_indent);
                s.push_str(&nested);
                if pos != last {
                    s.push_str(&line_sep);
                }
            }
        }
        format!("[{}]", &s[hanging_indent.len()..])
    }
}

/// NumPy's `_extendLine`: wrap before `word` if it would pass `width`,
/// unless the line holds nothing but the indent.
fn extend_line(s: &mut String, line: &mut String, word: &str, width: usize, indent: &str) {
    if line.len() + word.len() > width && line.len() > indent.len() {
        s.push_str(line.trim_end());
        s.push('\n');
        *line = indent.to_string();
    }
    line.push_str(word);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::Data;
    use crate::types::Shape;

    fn f64s(v: &[f64]) -> String {
        format_array(&Array::from_data(Data::F64(v.to_vec()), Shape::vector(v.len())).unwrap())
    }

    fn f32s(v: &[f32]) -> String {
        format_array(&Array::from_data(Data::F32(v.to_vec()), Shape::vector(v.len())).unwrap())
    }

    fn matrix(v: Vec<f64>, n: usize, m: usize) -> String {
        format_array(&Array::from_data(Data::F64(v), Shape::matrix(n, m)).unwrap())
    }

    fn range(n: usize) -> Vec<f64> {
        (0..n).map(|k| k as f64).collect()
    }

    // Expected strings are what NumPy 2.4 prints for the same arrays.

    #[test]
    fn floats() {
        assert_eq!(f64s(&[1.0, 3.0, 5.0, 7.0, 9.0]), "[1. 3. 5. 7. 9.]");
        assert_eq!(f64s(&[0.5, 0.25]), "[0.5  0.25]");
        assert_eq!(f64s(&[0.1 + 0.2, 1.0 / 3.0]), "[0.3        0.33333333]");
        assert_eq!(f64s(&[-0.0, 1.0]), "[-0.  1.]");
        assert_eq!(f64s(&[]), "[]");
    }

    #[test]
    fn scientific() {
        assert_eq!(f64s(&[1e-10, 1e10]), "[1.e-10 1.e+10]");
        assert_eq!(f64s(&[1.0, 1001.0]), "[1.000e+00 1.001e+03]");
        assert_eq!(f64s(&[1e8, 1.0]), "[1.e+08 1.e+00]");
        assert_eq!(f64s(&[123456789.0]), "[1.23456789e+08]");
        assert_eq!(f64s(&[1.5e300, -2e-300]), "[ 1.5e+300 -2.0e-300]");
        assert_eq!(
            matrix(range(6).iter().map(|x| x * 1e-5).collect(), 1, 6),
            "[[0.e+00 1.e-05 2.e-05 3.e-05 4.e-05 5.e-05]]"
        );
    }

    #[test]
    fn non_finite() {
        assert_eq!(
            f64s(&[f64::NAN, 1.5, f64::NEG_INFINITY]),
            "[ nan  1.5 -inf]"
        );
        assert_eq!(f64s(&[f64::NAN, f64::INFINITY]), "[nan inf]");
        assert_eq!(f64s(&[f64::NAN, 1e-10, 1.0]), "[   nan 1.e-10 1.e+00]");
        assert_eq!(
            matrix(vec![f64::NAN, 1.0, 2.0, 3.0], 2, 2),
            "[[nan  1.]\n [ 2.  3.]]"
        );
    }

    #[test]
    // Exact f32 values written out on purpose: ties are the point.
    #[allow(clippy::excessive_precision)]
    fn single_precision() {
        assert_eq!(f32s(&[0.1, 0.2, 0.3]), "[0.1 0.2 0.3]");
        assert_eq!(f32s(&[1.0 / 3.0]), "[0.33333334]");
        assert_eq!(f32s(&[16777216.0]), "[1.6777216e+07]");
        assert_eq!(f32s(&[0.3f32 * 1.0, 0.6]), "[0.3 0.6]");
        // Digits past the shortest form are the value's own.
        assert_eq!(
            f32s(&[1617552.375, -1.20217355e-05]),
            "[ 1.61755238e+06 -1.20217355e-05]"
        );
        // A tie between two shortest forms goes to the even digit.
        assert_eq!(f32s(&[-55771.3125, 2.5]), "[-5.5771312e+04  2.5000000e+00]");
        assert_eq!(format_scalar(Scalar::F32(-55771.3125)), "-55771.312");
    }

    #[test]
    fn matrices_and_wrapping() {
        assert_eq!(matrix(range(4), 2, 2), "[[0. 1.]\n [2. 3.]]");
        assert_eq!(matrix(vec![1.5, -2.25], 2, 1), "[[ 1.5 ]\n [-2.25]]");
        assert_eq!(
            matrix(range(12).iter().map(|x| x / 7.0).collect(), 3, 4),
            "[[0.         0.14285714 0.28571429 0.42857143]\n \
             [0.57142857 0.71428571 0.85714286 1.        ]\n \
             [1.14285714 1.28571429 1.42857143 1.57142857]]"
        );
        assert_eq!(
            f64s(&range(30)),
            "[ 0.  1.  2.  3.  4.  5.  6.  7.  8.  9. 10. 11. 12. 13. 14. 15. 16. 17.\n \
             18. 19. 20. 21. 22. 23. 24. 25. 26. 27. 28. 29.]"
        );
        let ints: Vec<i64> = (0..30).map(|k| k * 1_000_000).collect();
        let a = Array::from_data(Data::I64(ints), Shape::matrix(3, 10)).unwrap();
        assert_eq!(
            format_array(&a),
            "[[       0  1000000  2000000  3000000  4000000  5000000  6000000  7000000\n   \
             8000000  9000000]\n \
             [10000000 11000000 12000000 13000000 14000000 15000000 16000000 17000000\n  \
             18000000 19000000]\n \
             [20000000 21000000 22000000 23000000 24000000 25000000 26000000 27000000\n  \
             28000000 29000000]]"
        );
    }

    #[test]
    fn summaries() {
        assert_eq!(
            f64s(&range(2000)),
            "[0.000e+00 1.000e+00 2.000e+00 ... 1.997e+03 1.998e+03 1.999e+03]"
        );
        assert_eq!(
            matrix(range(2000), 40, 50),
            "[[0.000e+00 1.000e+00 2.000e+00 ... 4.700e+01 4.800e+01 4.900e+01]\n \
             [5.000e+01 5.100e+01 5.200e+01 ... 9.700e+01 9.800e+01 9.900e+01]\n \
             [1.000e+02 1.010e+02 1.020e+02 ... 1.470e+02 1.480e+02 1.490e+02]\n \
             ...\n \
             [1.850e+03 1.851e+03 1.852e+03 ... 1.897e+03 1.898e+03 1.899e+03]\n \
             [1.900e+03 1.901e+03 1.902e+03 ... 1.947e+03 1.948e+03 1.949e+03]\n \
             [1.950e+03 1.951e+03 1.952e+03 ... 1.997e+03 1.998e+03 1.999e+03]]"
        );
        let a = Array::from_data(Data::I64((0..1001).collect()), Shape::vector(1001)).unwrap();
        assert_eq!(format_array(&a), "[   0    1    2 ...  998  999 1000]");
        let a = Array::from_data(Data::Bool(vec![true; 2000]), Shape::vector(2000)).unwrap();
        assert_eq!(
            format_array(&a),
            "[ True  True  True ...  True  True  True]"
        );
    }

    #[test]
    fn ints_and_bools() {
        let a = Array::from_data(Data::I64(vec![1, 2, 3]), Shape::vector(3)).unwrap();
        assert_eq!(format_array(&a), "[1 2 3]");
        let a = Array::from_data(Data::I32(vec![-1, 100]), Shape::vector(2)).unwrap();
        assert_eq!(format_array(&a), "[ -1 100]");
        let a = Array::from_data(Data::Bool(vec![true, false]), Shape::vector(2)).unwrap();
        assert_eq!(format_array(&a), "[ True False]");
        let a = Array::from_data(Data::Bool(vec![true, true]), Shape::vector(2)).unwrap();
        assert_eq!(format_array(&a), "[ True  True]");
    }

    #[test]
    fn scalars() {
        let s = |v: Scalar| format_array(&Array::scalar(v));
        assert_eq!(s(Scalar::F64(2.5)), "2.5");
        assert_eq!(s(Scalar::F64(3.0)), "3.0");
        assert_eq!(s(Scalar::F64(1e-10)), "1e-10");
        assert_eq!(s(Scalar::F64(1e20)), "1e+20");
        assert_eq!(s(Scalar::F64(1e16)), "1e+16");
        assert_eq!(s(Scalar::F64(1e15)), "1000000000000000.0");
        assert_eq!(s(Scalar::F64(0.0001)), "0.0001");
        assert_eq!(s(Scalar::F64(0.00001)), "1e-05");
        assert_eq!(s(Scalar::F64(-0.0)), "-0.0");
        assert_eq!(s(Scalar::F64(f64::NAN)), "nan");
        assert_eq!(s(Scalar::F64(f64::NEG_INFINITY)), "-inf");
        assert_eq!(s(Scalar::F64(0.1 + 0.2)), "0.30000000000000004");
        assert_eq!(s(Scalar::F64(123456789.123)), "123456789.123");
        assert_eq!(s(Scalar::F32(0.1 + 0.2)), "0.3");
        assert_eq!(s(Scalar::F32(123456789.123)), "1.2345679e+08");
        assert_eq!(s(Scalar::F32(1e6)), "1e+06");
        assert_eq!(s(Scalar::F32(999999.9)), "999999.9");
        assert_eq!(s(Scalar::F32(0.0001)), "1e-04");
        assert_eq!(s(Scalar::I64(3)), "3");
        assert_eq!(s(Scalar::Bool(true)), "True");
    }
}
