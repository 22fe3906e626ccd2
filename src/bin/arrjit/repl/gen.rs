//! The REPL's array generators: `rand randn arange linspace zeros ones`.
//!
//! Random arrays come from one seeded stream per session (SplitMix64), so
//! a script prints the same numbers on every run and every machine; the
//! generator is written out here rather than taken from a crate so that
//! its output can never change under a dependency update.

use arrjit::{Array, Data, Error, ErrorKind, Result, Scalar, Shape, Span};

/// Largest array a generator makes (2^30 elements, 8 GiB of f64).
const MAX_ELEMENTS: usize = 1 << 30;

/// SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit counter through a
/// mixing function; fast, and good enough for test data.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 random bits.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal pairs by the Box-Muller transform.
    fn normal_pair(&mut self) -> (f64, f64) {
        // 1 - u is in (0, 1], so the log is finite.
        let r = (-2.0 * (1.0 - self.uniform()).ln()).sqrt();
        let theta = std::f64::consts::TAU * self.uniform();
        (r * theta.cos(), r * theta.sin())
    }
}

/// The names of the generators, for completion and name checks.
pub const NAMES: [&str; 6] = ["rand", "randn", "arange", "linspace", "zeros", "ones"];

/// Runs generator `name` on already evaluated scalar arguments (`spans`
/// point at each, `call` at the whole call).
pub fn generate(
    name: &str,
    args: &[Scalar],
    spans: &[Span],
    call: Span,
    rng: &mut Rng,
) -> Result<Array> {
    match name {
        "rand" | "randn" | "zeros" | "ones" => {
            let shape = shape_of(name, args, spans, call)?;
            let n = shape.dims().iter().product::<usize>();
            let mut v = alloc(n, call)?;
            match name {
                "rand" => v.extend((0..n).map(|_| rng.uniform())),
                "randn" => {
                    while v.len() < n {
                        let (a, b) = rng.normal_pair();
                        v.push(a);
                        if v.len() < n {
                            v.push(b);
                        }
                    }
                }
                "zeros" => v.resize(n, 0.0),
                _ => v.resize(n, 1.0),
            }
            Array::from_data(Data::F64(v), shape)
        }
        "arange" => arange(args, spans, call),
        "linspace" => linspace(args, spans, call),
        _ => Err(Error::at(
            ErrorKind::UnknownFunction,
            call,
            format!("no generator named `{name}`"),
        )),
    }
}

fn alloc<T>(n: usize, call: Span) -> Result<Vec<T>> {
    let too_big = || {
        Error::at(
            ErrorKind::Limit,
            call,
            format!("{n} elements are more than this session can allocate"),
        )
    };
    if n > MAX_ELEMENTS {
        return Err(too_big());
    }
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| too_big())?;
    Ok(v)
}

fn shape_of(name: &str, args: &[Scalar], spans: &[Span], call: Span) -> Result<Shape> {
    let dims = args
        .iter()
        .zip(spans)
        .map(|(&a, &span)| count(a, span, "an extent"))
        .collect::<Result<Vec<usize>>>()?;
    match dims.as_slice() {
        [n] => Ok(Shape::vector(*n)),
        [n, m] => match n.checked_mul(*m) {
            Some(_) => Ok(Shape::matrix(*n, *m)),
            None => Err(Error::at(ErrorKind::Limit, call, "shape overflows")),
        },
        _ => Err(Error::at(
            ErrorKind::Arity,
            call,
            format!(
                "`{name}` takes one extent (a vector) or two (a matrix), not {}",
                dims.len()
            ),
        )),
    }
}

/// A non-negative integer argument.
fn count(a: Scalar, span: Span, what: &str) -> Result<usize> {
    let v = match a {
        Scalar::I32(v) => i64::from(v),
        Scalar::I64(v) => v,
        other => {
            return Err(Error::at(
                ErrorKind::Type,
                span,
                format!("{what} must be an integer, not {}", other.dtype()),
            ))
        }
    };
    usize::try_from(v)
        .map_err(|_| Error::at(ErrorKind::Shape, span, format!("{what} cannot be negative")))
}

fn float(a: Scalar, span: Span) -> Result<f64> {
    match a {
        Scalar::I32(v) => Ok(f64::from(v)),
        Scalar::I64(v) => Ok(v as f64),
        Scalar::F32(v) => Ok(f64::from(v)),
        Scalar::F64(v) => Ok(v),
        Scalar::Bool(_) => Err(Error::at(
            ErrorKind::Type,
            span,
            "expected a number, not bool",
        )),
    }
}

/// `arange(stop)`, `arange(start, stop)`, `arange(start, stop, step)`, as
/// NumPy: i64 when every argument is an integer, else f64.
fn arange(args: &[Scalar], spans: &[Span], call: Span) -> Result<Array> {
    if args.is_empty() || args.len() > 3 {
        return Err(Error::at(
            ErrorKind::Arity,
            call,
            format!(
                "`arange` takes 1 to 3 arguments (stop; start, stop; start, stop, step), not {}",
                args.len()
            ),
        ));
    }
    let ints = args
        .iter()
        .all(|a| matches!(a, Scalar::I32(_) | Scalar::I64(_)));
    if ints {
        let v: Vec<i64> = args
            .iter()
            .map(|a| match *a {
                Scalar::I32(v) => i64::from(v),
                Scalar::I64(v) => v,
                _ => 0,
            })
            .collect();
        let (start, stop, step) = match v.as_slice() {
            [stop] => (0, *stop, 1),
            [start, stop] => (*start, *stop, 1),
            [start, stop, step, ..] => (*start, *stop, *step),
            [] => (0, 0, 1),
        };
        if step == 0 {
            return Err(Error::at(
                ErrorKind::Shape,
                call,
                "arange's step cannot be 0",
            ));
        }
        let n = if (step > 0 && stop > start) || (step < 0 && stop < start) {
            let span = (i128::from(stop) - i128::from(start)).unsigned_abs();
            let step_abs = i128::from(step).unsigned_abs();
            usize::try_from(span.div_ceil(step_abs)).unwrap_or(usize::MAX)
        } else {
            0
        };
        let mut out = alloc(n, call)?;
        out.extend((0..n as i64).map(|k| start.wrapping_add(k.wrapping_mul(step))));
        return Array::from_data(Data::I64(out), Shape::vector(n));
    }
    let v = args
        .iter()
        .zip(spans)
        .map(|(&a, &s)| float(a, s))
        .collect::<Result<Vec<f64>>>()?;
    let (start, stop, step) = match v.as_slice() {
        [stop] => (0.0, *stop, 1.0),
        [start, stop] => (*start, *stop, 1.0),
        [start, stop, step, ..] => (*start, *stop, *step),
        [] => (0.0, 0.0, 1.0),
    };
    if step == 0.0 || !step.is_finite() || !start.is_finite() || !stop.is_finite() {
        return Err(Error::at(
            ErrorKind::Shape,
            call,
            "arange needs finite bounds and a non-zero finite step",
        ));
    }
    let len = ((stop - start) / step).ceil();
    let n = if len > 0.0 {
        // Saturates; `alloc` refuses anything past MAX_ELEMENTS.
        len as usize
    } else {
        0
    };
    let mut out = alloc(n, call)?;
    out.extend((0..n).map(|k| start + k as f64 * step));
    Array::from_data(Data::F64(out), Shape::vector(n))
}

/// `linspace(start, stop)` (50 points, as NumPy) or
/// `linspace(start, stop, num)`, endpoints included.
fn linspace(args: &[Scalar], spans: &[Span], call: Span) -> Result<Array> {
    if !(2..=3).contains(&args.len()) {
        return Err(Error::at(
            ErrorKind::Arity,
            call,
            format!(
                "`linspace` takes start, stop and optionally num, not {} arguments",
                args.len()
            ),
        ));
    }
    let start = float(args[0], spans[0])?;
    let stop = float(args[1], spans[1])?;
    let n = match args.get(2) {
        Some(&a) => count(a, spans[2], "num")?,
        None => 50,
    };
    let mut out = alloc(n, call)?;
    if n == 1 {
        out.push(start);
    } else {
        let step = (stop - start) / (n - 1) as f64;
        out.extend((0..n).map(|k| start + k as f64 * step));
        if let Some(last) = out.last_mut() {
            *last = stop;
        }
    }
    Array::from_data(Data::F64(out), Shape::vector(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(name: &str, args: &[Scalar]) -> Result<Array> {
        let spans = vec![Span::default(); args.len()];
        generate(name, args, &spans, Span::default(), &mut Rng::new(0))
    }

    #[test]
    fn arange_like_numpy() {
        let a = gen("arange", &[Scalar::I64(5)]).unwrap();
        assert_eq!(a.data(), &Data::I64(vec![0, 1, 2, 3, 4]));
        let a = gen("arange", &[Scalar::I64(5), Scalar::I64(0), Scalar::I64(-2)]).unwrap();
        assert_eq!(a.data(), &Data::I64(vec![5, 3, 1]));
        let a = gen(
            "arange",
            &[Scalar::F64(0.0), Scalar::F64(1.0), Scalar::F64(0.25)],
        )
        .unwrap();
        assert_eq!(a.data(), &Data::F64(vec![0.0, 0.25, 0.5, 0.75]));
        assert!(gen("arange", &[Scalar::I64(0), Scalar::I64(1), Scalar::I64(0)]).is_err());
        assert!(gen(
            "arange",
            &[Scalar::F64(0.0), Scalar::F64(1e300), Scalar::F64(1e-300)]
        )
        .is_err());
    }

    #[test]
    fn linspace_hits_both_ends() {
        let a = gen(
            "linspace",
            &[Scalar::I64(0), Scalar::I64(1), Scalar::I64(5)],
        )
        .unwrap();
        assert_eq!(a.data(), &Data::F64(vec![0.0, 0.25, 0.5, 0.75, 1.0]));
        assert_eq!(
            gen("linspace", &[Scalar::I64(0), Scalar::I64(1)])
                .unwrap()
                .len(),
            50
        );
    }

    #[test]
    fn random_is_seeded_and_plausible() {
        let a = gen("rand", &[Scalar::I64(10_000)]).unwrap().to_f64_vec();
        let b = gen("rand", &[Scalar::I64(10_000)]).unwrap().to_f64_vec();
        assert_eq!(a, b);
        assert!(a.iter().all(|&x| (0.0..1.0).contains(&x)));
        let n = gen("randn", &[Scalar::I64(3), Scalar::I64(10_001)]).unwrap();
        assert_eq!(n.shape().dims(), &[3, 10_001]);
        let v = n.to_f64_vec();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.03,
            "{mean} {var}"
        );
    }

    #[test]
    fn bad_extents_are_errors() {
        assert!(gen("zeros", &[Scalar::I64(-1)]).is_err());
        assert!(gen("zeros", &[Scalar::F64(2.5)]).is_err());
        assert!(gen("zeros", &[Scalar::I64(1 << 40)]).is_err());
        assert!(gen("ones", &[]).is_err());
        assert!(gen("ones", &[Scalar::I64(1 << 32), Scalar::I64(1 << 32)]).is_err());
    }
}
