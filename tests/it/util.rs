//! Helpers shared by the integration tests: engines for every mode, owned
//! input arrays in any layout, bitwise comparison of results and ulp
//! distances.

use arrjit::{Arg, Array, Buffer, Config, DType, Data, Engine, Mode, Scalar, View};

/// The three evaluation modes, oracle first.
pub const MODES: [Mode; 3] = [Mode::Interpret, Mode::Unfused, Mode::Fused];

/// One engine per mode, with Cranelift's verifier on.
pub fn engines() -> Vec<(Mode, Engine)> {
    MODES
        .iter()
        .map(|&mode| {
            let config = Config {
                mode,
                verify: true,
                ..Config::default()
            };
            (mode, Engine::with_config(config))
        })
        .collect()
}

/// A fused engine that compiles a kernel's second tier for short lanes at
/// its first call with short lanes (`Config::tier_up_lanes` = 0; the
/// default engine gets there only after 32,768 of them), verifier on.
pub fn tiered_engine() -> (Mode, Engine) {
    let config = Config {
        verify: true,
        tier_up_lanes: 0,
        ..Config::default()
    };
    (Mode::Fused, Engine::with_config(config))
}

/// Where an input's elements live in its buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Column-major (Fortran) order instead of row-major.
    pub fortran: bool,
    /// Elements `step` apart (1 = packed); the gaps hold junk.
    pub step: usize,
    /// Every axis runs backwards (negative strides).
    pub reverse: bool,
}

/// An input owned by a test: its buffer, and how to view it.
#[derive(Clone, Debug)]
pub struct Owned {
    pub data: Data,
    pub offset: usize,
    pub dims: Vec<usize>,
    pub strides: Vec<isize>,
    /// Passed as `Arg::Scalar` rather than as a (rank-0) view.
    pub scalar: bool,
}

/// A value for the gaps of strided buffers: wrong if anyone reads it.
fn junk(dtype: DType) -> Scalar {
    match dtype {
        DType::Bool => Scalar::Bool(true),
        DType::I32 => Scalar::I32(0x5eed),
        DType::I64 => Scalar::I64(-0x5eed_5eed),
        DType::F32 => Scalar::F32(-12345.5),
        DType::F64 => Scalar::F64(-12345.5),
    }
}

impl Owned {
    /// A scalar argument.
    pub fn scalar(value: Scalar) -> Owned {
        let mut data = Data::zeros(value.dtype(), 1);
        data.set(0, value);
        Owned {
            data,
            offset: 0,
            dims: Vec::new(),
            strides: Vec::new(),
            scalar: true,
        }
    }

    /// An array of `dims` whose elements, in row-major order, are `values`
    /// (all of `dtype`), laid out as `layout` says.
    pub fn array(dtype: DType, dims: &[usize], values: &[Scalar], layout: Layout) -> Owned {
        let len: usize = dims.iter().product();
        assert_eq!(
            len,
            values.len(),
            "{} values for shape {dims:?}",
            values.len()
        );
        let step = layout.step.max(1) as isize;
        // Packed strides in elements, then spread and maybe negated.
        let mut strides = vec![0isize; dims.len()];
        let mut acc = 1isize;
        let order: Vec<usize> = if layout.fortran {
            (0..dims.len()).collect()
        } else {
            (0..dims.len()).rev().collect()
        };
        for &axis in &order {
            strides[axis] = acc * step;
            acc *= dims[axis].max(1) as isize;
        }
        if layout.reverse {
            strides.iter_mut().for_each(|s| *s = -*s);
        }
        let offset: isize = dims
            .iter()
            .zip(&strides)
            .filter(|(_, &s)| s < 0)
            .map(|(&d, &s)| (d.max(1) as isize - 1) * -s)
            .sum();
        let size = if len == 0 {
            0
        } else {
            let hi: isize = dims
                .iter()
                .zip(&strides)
                .filter(|(_, &s)| s > 0)
                .map(|(&d, &s)| (d as isize - 1) * s)
                .sum();
            (offset + hi + 1) as usize + usize::from(step > 1)
        };
        let mut data = Data::zeros(dtype, size);
        for k in 0..size {
            data.set(k, junk(dtype));
        }
        for (flat, &v) in values.iter().enumerate() {
            let mut pos = offset;
            let mut rest = flat;
            for axis in (0..dims.len()).rev() {
                pos += (rest % dims[axis]) as isize * strides[axis];
                rest /= dims[axis];
            }
            assert_eq!(v.dtype(), dtype, "value {v:?} in a {dtype} input");
            data.set(pos as usize, v);
        }
        Owned {
            data,
            offset: offset as usize,
            dims: dims.to_vec(),
            strides,
            scalar: false,
        }
    }

    pub fn view(&self) -> View<'_> {
        View::strided(
            self.data.as_buffer(),
            self.offset,
            &self.dims,
            &self.strides,
        )
        .expect("test views are in bounds")
    }

    pub fn arg(&self) -> Arg<'_> {
        if self.scalar {
            Arg::Scalar(self.data.as_buffer().get(self.offset))
        } else {
            Arg::Array(self.view())
        }
    }
}

/// Those of `args` that `src` reads (an expression refuses extra inputs).
pub fn args_read_by<'a>(src: &str, args: &[(&'a str, Arg<'a>)]) -> Vec<(&'a str, Arg<'a>)> {
    let expr = Engine::new().compile(src).expect("the expression parses");
    args.iter()
        .filter(|(name, _)| expr.inputs().iter().any(|i| i == name))
        .copied()
        .collect()
}

/// Binds owned inputs by name.
pub fn args<'a>(inputs: &'a [(String, Owned)]) -> Vec<(&'a str, Arg<'a>)> {
    inputs.iter().map(|(n, o)| (n.as_str(), o.arg())).collect()
}

/// Bitwise identity of two results (dtype, shape and every bit); the first
/// difference otherwise. Two NaNs are equal whatever their sign and payload:
/// IEEE 754 leaves those unspecified for arithmetic results, and Cranelift's
/// optimiser may change them (it rewrites `(-x) * (-x)` to `x * x`, which
/// flips the sign of a NaN result).
pub fn bitwise_diff(want: &Array, got: &Array) -> Option<String> {
    if want.dtype() != got.dtype() || want.shape() != got.shape() {
        return Some(format!(
            "dtype/shape {} {} vs {} {}",
            want.dtype(),
            want.shape(),
            got.dtype(),
            got.shape()
        ));
    }
    (0..want.len()).find_map(|k| {
        let (w, g) = (want.get(k), got.get(k));
        let both_nan = w.dtype() == g.dtype() && w.as_f64().is_nan() && g.as_f64().is_nan();
        (!w.bits_eq(g) && !both_nan).then(|| {
            format!(
                "element {k}: {w:?} vs {g:?} (bits {:#x} vs {:#x})",
                w.to_bits(),
                g.to_bits()
            )
        })
    })
}

/// `x`'s bits as an integer that orders like the float (-0.0 just below 0.0).
pub fn ordered64(x: f64) -> i64 {
    let b = x.to_bits() as i64;
    if b < 0 {
        -(b & i64::MAX) - 1
    } else {
        b
    }
}

pub fn ordered32(x: f32) -> i32 {
    let b = x.to_bits() as i32;
    if b < 0 {
        -(b & i32::MAX) - 1
    } else {
        b
    }
}

/// Distance in units in the last place: 0 for identical values (and for two
/// NaNs), `u64::MAX` for a NaN against a number.
pub fn ulp_diff(a: f64, b: f64) -> u64 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => 0,
        (false, false) => ordered64(a).abs_diff(ordered64(b)),
        _ => u64::MAX,
    }
}

pub fn ulp_diff32(a: f32, b: f32) -> u64 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => 0,
        (false, false) => u64::from(ordered32(a).abs_diff(ordered32(b))),
        _ => u64::MAX,
    }
}

/// Ulp distance of two scalars of the same float dtype; exact equality
/// (0 or `u64::MAX`) for other dtypes.
pub fn scalar_ulp_diff(a: Scalar, b: Scalar) -> u64 {
    match (a, b) {
        (Scalar::F64(x), Scalar::F64(y)) => ulp_diff(x, y),
        (Scalar::F32(x), Scalar::F32(y)) => ulp_diff32(x, y),
        _ if a.bits_eq(b) => 0,
        _ => u64::MAX,
    }
}

/// A buffer of `f64`s as an argument.
pub fn f64_arg(v: &[f64]) -> Arg<'_> {
    Arg::Array(View::vector(Buffer::F64(v)))
}

pub fn f32_arg(v: &[f32]) -> Arg<'_> {
    Arg::Array(View::vector(Buffer::F32(v)))
}

#[test]
fn ulp_helpers() {
    assert_eq!(ulp_diff(1.0, 1.0), 0);
    assert_eq!(ulp_diff(0.0, -0.0), 1);
    assert_eq!(ulp_diff(f64::from_bits(1), -f64::from_bits(1)), 3);
    assert_eq!(ulp_diff(1.0, 1.0 + f64::EPSILON), 1);
    assert_eq!(ulp_diff(f64::MAX, f64::INFINITY), 1);
    assert_eq!(ulp_diff(f64::NAN, 1.0), u64::MAX);
    assert_eq!(ulp_diff32(1.0, 1.0 + f32::EPSILON * 2.0), 2);
    let o = Owned::array(
        DType::I32,
        &[2, 3],
        &(0..6).map(Scalar::I32).collect::<Vec<_>>(),
        Layout {
            fortran: true,
            step: 2,
            reverse: true,
        },
    );
    let v = o.view();
    assert_eq!(v.get(&[0, 0]), Scalar::I32(0));
    assert_eq!(v.get(&[1, 2]), Scalar::I32(5));
    assert_eq!(v.get(&[0, 2]), Scalar::I32(2));
}
