"""Case files for arrjit's lane operations: tests/cases/{reductions,scans,windows,lane_errors}.toml.

Run from anywhere: `python3 tests/cases/gen/gen_lanes.py` (NumPy 2.4 and pandas).

Expected values:
- reductions, cumsum/cumprod, cummax/cummin (np.maximum/minimum.accumulate), diff: NumPy;
- shift: y[i] = x[i-k] (NumPy slicing);
- rolling_*: pandas' `Series.rolling(w, min_periods=w)`, applied along the axis.
  Where the value is not exactly representable the expectation is the exact
  (rational) window statistic rounded once, checked here against pandas, with
  a few ulp of tolerance: arrjit's O(n) algorithm need not round like pandas;
- ewm_mean: arrjit's documented recurrence y[i] = a*x[i] + (1-a)*y[i-1] in the
  result dtype (a = alpha rounded to it, b = 1 - a), checked here against
  pandas' `ewm(alpha, adjust=False).mean()` where pandas' NaN rule agrees.
pandas turns +-inf into NaN inside rolling windows and carries an EWM across
NaNs; arrjit propagates them (IEEE), so those cases give explicit values with a
`note`.
"""
import os
import sys
import math
from fractions import Fraction

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *  # noqa: E402,F401,F403
import lib  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
I32MIN, I32MAX = -2**31, 2**31 - 1
I64MIN, I64MAX = -2**63, 2**63 - 1


# ------------------------------------------------------------------ NumPy models
def _ax(axis):
    return 0 if axis is None else axis


def _float_of(a):
    return a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)


def cummax(x, axis=None):
    return np.maximum.accumulate(np.asarray(x), axis=_ax(axis))


def cummin(x, axis=None):
    return np.minimum.accumulate(np.asarray(x), axis=_ax(axis))


def shift(x, k, fill=NAN, axis=None):
    x = np.asarray(x)
    ax = _ax(axis)
    m = np.moveaxis(x, ax, -1)
    out = np.empty_like(m)
    out[...] = fill
    n = m.shape[-1]
    k = int(k)
    if 0 <= k < n:
        out[..., k:] = m[..., :n - k]
    elif -n < k < 0:
        out[..., :n + k] = m[..., -k:]
    return np.moveaxis(out, -1, ax)


def _exact_round(fr, dt):
    return dt.type(float(fr)) if dt == np.float64 else np.float32(float(fr))


def _window_exact(kind, v, ddof):
    """A window statistic of float values, exact then rounded to f64 once."""
    fs = [Fraction(float(t)) for t in v]
    n = len(fs)
    s = sum(fs, Fraction(0))
    if kind == "sum":
        return float(s)
    if kind == "mean":
        return float(s / n)
    if n - ddof <= 0:
        return NAN
    m = s / n
    m2 = sum(((f - m) ** 2 for f in fs), Fraction(0))
    var = m2 / (n - ddof)
    if kind == "var":
        return float(var)
    # std: sqrt of the exactly rounded var is within 1 ulp of the true root.
    return float(np.sqrt(float(var)))


def _rolling_lane(kind, v, w, ddof, check_pandas):
    v = np.asarray(v, dtype=np.float64)
    out = np.full(len(v), NAN)
    for i in range(w - 1, len(v)):
        win = v[i - w + 1:i + 1]
        if np.isnan(win).any():
            continue
        if kind in ("min", "max"):
            out[i] = win.min() if kind == "min" else win.max()
        elif np.isinf(win).any():
            with np.errstate(all="ignore"):
                s = win.sum()
                out[i] = {"sum": s, "mean": s / w}.get(kind, NAN)
        else:
            out[i] = _window_exact(kind, win, ddof)
    if check_pandas and not np.isinf(v).any():
        r = pd.Series(v).rolling(w, min_periods=w)
        p = getattr(r, kind)(ddof=ddof) if kind in ("var", "std") else getattr(r, kind)()
        p = p.to_numpy()
        same_nan = np.array_equal(np.isnan(p), np.isnan(out))
        close = np.allclose(p[~np.isnan(p)], out[~np.isnan(out)], rtol=1e-12, atol=0) if same_nan else False
        if not (same_nan and close):
            raise SystemExit(f"pandas rolling_{kind} disagrees: {p} vs {out}")
    return out


def rolling(kind):
    def f(x, w, ddof=0, axis=None, pandas=True):
        x = np.asarray(x)
        dt = _float_of(x)
        w = int(w)
        out = np.apply_along_axis(lambda v: _rolling_lane(kind, v, w, ddof, pandas), _ax(axis), x.astype(np.float64))
        return out.astype(dt)
    return f


def _ewm_lane(v, alpha, dt, check_pandas):
    a = dt.type(alpha)
    b = dt.type(1) - a
    y = np.empty(len(v), dtype=dt)
    with np.errstate(all="ignore"):
        for i, t in enumerate(v.astype(dt)):
            y[i] = t if i == 0 else a * t + b * y[i - 1]
    if check_pandas and len(v) and not np.isnan(v).any() and not np.isinf(v).any():
        p = pd.Series(v.astype(np.float64)).ewm(alpha=float(alpha), adjust=False).mean().to_numpy().astype(dt)
        ulps = np.abs(p.view(np.int64 if dt == np.float64 else np.int32).astype(np.int64)
                      - y.view(np.int64 if dt == np.float64 else np.int32).astype(np.int64))
        if ulps.max() > (16 if dt == np.float64 else 256):  # f32: pandas works in f64
            raise SystemExit(f"pandas ewm disagrees by {ulps.max()} ulp: {p} vs {y}")
    return y


def ewm_mean(x, alpha, axis=None, pandas=True):
    x = np.asarray(x)
    dt = _float_of(x)
    return np.apply_along_axis(lambda v: _ewm_lane(v, alpha, dt, pandas), _ax(axis), x)


NS.update(
    sum=np.sum, prod=np.prod, mean=np.mean, min=np.min, max=np.max, var=np.var, std=np.std,
    any=np.any, all=np.all, argmin=np.argmin, argmax=np.argmax, count_nonzero=np.count_nonzero,
    nansum=np.nansum, nanmean=np.nanmean, nanmin=np.nanmin, nanmax=np.nanmax, nanvar=np.nanvar,
    nanstd=np.nanstd, cumsum=np.cumsum, cumprod=np.cumprod, cummax=cummax, cummin=cummin,
    diff=np.diff, shift=shift, ewm_mean=ewm_mean,
    **{f"rolling_{k}": rolling(k) for k in ("sum", "mean", "var", "std", "min", "max")},
)

# NumPy's keepdims= wants a Python bool, not np.True_.
NS.update(true=True, false=False, math=math)

M23 = dict(shape=[2, 3])
M34 = dict(shape=[3, 4])


def rng_values(seed, n, digits=6, lo=0.0, hi=1.0):
    r = np.random.default_rng(seed)
    return [round(float(v), digits) for v in r.uniform(lo, hi, n)]


def rng32(seed, n):
    """f32 data with short decimal forms: integers below 2**24 (their sums round)."""
    r = np.random.default_rng(seed)
    return [float(v) for v in r.integers(-2**24 + 1, 2**24, n)]


# ================================================================== reductions
file("reductions")
HEADERS["reductions"] = "# Generator: tests/cases/gen/gen_lanes.py.\n"
XF = [1.5, -2.25, 3.0, 0.5, -7.75, 4.0]
XI = [3, -1, 4, 1, -5, 9, 2, 6]
MF = [1.0, 2.5, -3.0, 4.0, 0.25, -6.0, 7.0, 8.5, -9.0, 10.0, 11.0, -0.5]
MI = [5, -2, 7, 0, 3, 3, -8, 1, 4, 9, -6, 2]

for fn in ["sum", "prod", "mean", "min", "max", "var", "std", "any", "all", "argmin", "argmax", "count_nonzero",
           "nansum", "nanmean", "nanmin", "nanmax", "nanvar", "nanstd"]:
    case(f"{fn} f64 vector", f"{fn}(x)", {"x": f64(*XF)}, shape=[])
for fn in ["sum", "prod", "mean", "var", "argmax", "nanmin"]:
    case(f"{fn} i32 vector", f"{fn}(x)", {"x": i32(*XI)}, shape=[])
for fn in ["sum", "max", "argmin", "std"]:
    case(f"{fn} i64 vector", f"{fn}(x)", {"x": i64(*XI)}, shape=[])
for fn in ["sum", "prod", "mean", "max", "var", "std", "nanmean"]:
    case(f"{fn} f32 vector", f"{fn}(x)", {"x": f32(0.1, 2.5, -3.25, 7.0, 1e-3, 0.3)}, shape=[])
for fn in ["sum", "prod", "mean", "min", "any", "all", "argmax", "count_nonzero"]:
    case(f"{fn} bool vector", f"{fn}(x)", {"x": b(True, False, True, True, False)}, shape=[])
case("any and all of floats with nan and zeros", "any(x) | all(x)", {"x": f64(0.0, -0.0, NAN)}, np_expr="np.any(x) | np.all(x)", shape=[])
case("all of nan is true", "all(x)", {"x": f64(NAN, 1.0, -1.0)}, shape=[])
case("any of zeros is false", "any(x)", {"x": f64(0.0, -0.0)}, shape=[])
case("count_nonzero counts nan", "count_nonzero(x)", {"x": f64(0.0, NAN, -0.0, 2.0)}, shape=[])
case("sum i32 accumulates in i64", "sum(x)", {"x": i32(I32MAX, I32MAX, 1)}, shape=[])
case("sum i64 wraps", "sum(x)", {"x": i64(I64MAX, 1, 5)}, shape=[])
case("prod i32 accumulates in i64", "prod(x)", {"x": i32(65536, 65536, -3)}, shape=[])
case("prod i64 wraps", "prod(x)", {"x": i64(2**40, 2**40, 3)}, shape=[])
case("mean i64 converts each element to f64", "mean(x)", {"x": i64(2**53 + 1, 2**53 + 1)}, shape=[],
     note="each element becomes 2**53 before summing, as NumPy does")
case("min max of extreme ints", "max(x) - min(x)", {"x": i64(I64MIN, 0, I64MAX)}, shape=[], note="wraps")
case("sum of negative zeros is positive zero", "sum(x)", {"x": f64(-0.0, -0.0)}, shape=[])
case("sum f64 with inf and nan", "sum(x)", {"x": f64(1.0, INF, NAN, 2.0)}, shape=[])
case("sum f64 of opposite infinities", "sum(x)", {"x": f64(INF, 1.0, -INF)}, shape=[])
case("min f64 propagates nan", "min(x)", {"x": f64(3.0, NAN, -1.0)}, shape=[])
case("max f64 propagates nan", "max(x)", {"x": f64(3.0, -1.0, NAN)}, shape=[])
case("max f32 propagates nan", "max(x)", {"x": f32(NAN, 3.0, -1.0)}, shape=[])
case("argmax gives the first nan", "argmax(x)", {"x": f64(1.0, 9.0, NAN, 2.0, NAN)}, shape=[])
case("argmin gives the first nan", "argmin(x)", {"x": f64(1.0, -9.0, 2.0, NAN)}, shape=[])
case("argmax first of ties", "argmax(x)", {"x": i32(1, 7, 3, 7, 7)}, shape=[])
case("argmin with infinities", "argmin(x)", {"x": f64(INF, -INF, 0.0, -INF)}, shape=[])
case("mean with inf", "mean(x)", {"x": f64(1.0, INF, 3.0)}, shape=[])
NANS = [1.5, NAN, -2.0, 4.25, NAN, 0.5]
for fn in ["nansum", "nanmean", "nanmin", "nanmax", "nanvar", "nanstd"]:
    case(f"{fn} skips nan", f"{fn}(x)", {"x": f64(*NANS)}, shape=[])
    case(f"{fn} all nan", f"{fn}(x)", {"x": f64(NAN, NAN, NAN)}, shape=[])
case("nanvar ddof=1", "nanvar(x, ddof=1)", {"x": f64(*NANS)}, shape=[])
case("nanstd f32", "nanstd(x)", {"x": f32(*NANS)}, shape=[])
case("nanvar ddof equals count", "nanvar(x, ddof=2)", {"x": f64(1.0, NAN, 3.0)}, shape=[])
case("nanmin i32 is min", "nanmin(x)", {"x": i32(4, -2, 7)}, shape=[])
case("var ddof=1", "var(x, ddof=1)", {"x": f64(*XF)}, shape=[])
case("std ddof=1", "std(x, ddof=1)", {"x": f64(*XF)}, shape=[])
case("std ddof=1 of i32", "std(x, ddof=1)", {"x": i32(*XI)}, shape=[])
case("var ddof=1 of one element is nan", "var(x, ddof=1)", {"x": f64(5.0)}, shape=[])
case("var ddof beyond count is nan", "var(x, ddof=5)", {"x": f64(1.0, 2.0, 4.0)}, expect=NAN, dtype="f64", shape=[],
     note="arrjit gives NaN when n - ddof <= 0 (as pandas and np.nanvar do); np.var gives inf here (sum / max(n - ddof, 0))")
case("var of constant is zero", "var(x)", {"x": f64(0.1, 0.1, 0.1)}, shape=[])
case("var of f64 with inf is nan", "var(x)", {"x": f64(1.0, INF)}, shape=[])

# matrices
for fn in ["sum", "mean", "min", "max", "argmax", "var", "prod"]:
    for ax in [None, 0, 1, -1]:
        if fn != "sum" and ax == -1:
            continue
        kw = "" if ax is None else f", axis={ax}"
        case(f"{fn} f64 matrix axis {ax}", f"{fn}(m{kw})", {"m": f64(*MF, **M34)})
for fn in ["sum", "argmin", "count_nonzero", "all"]:
    for ax in [0, 1]:
        case(f"{fn} i32 matrix axis {ax}", f"{fn}(m, axis={ax})", {"m": i32(*MI, **M34)})
case("std f32 matrix axis 1", "std(m, axis=1)", {"m": f32(*MF, **M34)})
case("nanmean matrix axis 0", "nanmean(m, axis=0)", {"m": f64(1.0, NAN, 3.0, NAN, NAN, 6.0, **M23)})
case("nanmax matrix axis 1 with all-nan row", "nanmax(m, axis=1)", {"m": f64(NAN, NAN, NAN, 1.0, NAN, -2.0, **M23)})
case("max matrix axis 0 propagates nan per column", "max(m, axis=0)", {"m": f64(1.0, NAN, 3.0, 4.0, 5.0, NAN, **M23)})
case("argmax matrix axis none is a flat index", "argmax(m)", {"m": i64(*MI, **M34)})
for fn in ["sum", "mean", "argmin", "std"]:
    case(f"{fn} keepdims axis 1", f"{fn}(m, axis=1, keepdims=true)", {"m": f64(*MF, **M34)})
case("sum keepdims axis 0", "sum(m, axis=0, keepdims=true)", {"m": i32(*MI, **M34)})
case("sum keepdims all axes", "sum(m, keepdims=true)", {"m": f64(*MF, **M34)})
case("sum keepdims false", "sum(m, axis=0, keepdims=false)", {"m": f64(*MF, **M34)})
case("var ddof=1 axis 0", "var(m, axis=0, ddof=1)", {"m": f64(*MF, **M34)})
case("sum of a scalar", "sum(s)", {"s": S("f64", 2.5)})
case("sum of a rank-0 array", "sum(s)", {"s": In("i32", [7], shape=[])})

# empty
E = f64()
case("sum of empty f64 is 0", "sum(x)", {"x": E}, shape=[])
case("sum of empty i32 is i64 0", "sum(x)", {"x": i32()}, shape=[])
case("prod of empty is 1", "prod(x)", {"x": E}, shape=[])
case("mean of empty is nan", "mean(x)", {"x": E}, shape=[])
case("var of empty is nan", "var(x)", {"x": E}, shape=[])
case("any all count of empty", "i64(any(x)) * 10 + i64(all(x)) * 100 + count_nonzero(x)", {"x": E},
     np_expr="np.int64(np.any(x)) * 10 + np.int64(np.all(x)) * 100 + np.count_nonzero(x)", shape=[])
case("nansum of empty is 0", "nansum(x)", {"x": E}, shape=[])
case("sum of empty rows", "sum(m, axis=1)", {"m": f64(shape=[0, 3])})
case("sum over empty axis", "sum(m, axis=0)", {"m": f64(shape=[0, 3])})
case("mean over empty axis is nan", "mean(m, axis=0)", {"m": f64(shape=[0, 3])})
case("max of empty rows is empty", "max(m, axis=1)", {"m": f64(shape=[0, 3])})
for fn in ["min", "max", "argmin", "argmax"]:
    err(f"{fn} of empty", f"{fn}(x)", "Shape", {"x": f64()}, contains=f"`{fn}` of an empty array", span=[0, len(fn) + 3])
err("max of empty i32", "1 + max(x)", "Shape", {"x": i32()}, contains="`max` of an empty array", span=[4, 10])
err("min over an empty axis", "min(m, axis=0)", "Shape", {"m": f64(shape=[0, 3])}, contains="`min`", span=[0, 14])
err("argmax over an empty axis", "argmax(m, axis=1)", "Shape", {"m": f64(shape=[3, 0])}, contains="`argmax`")

# inside elementwise work
case("x minus mean", "x - mean(x)", {"x": f64(*XF)})
case("row z-score", "(m - mean(m, axis=1, keepdims=true)) / std(m, axis=1, keepdims=true)", {"m": f64(*MF, **M34)})
case("column centering", "m - mean(m, axis=0)", {"m": f64(*MF, **M34)})
case("dot product", "sum(a*b)", {"a": f64(*XF), "b": f64(0.5, 1.0, -2.0, 3.5, 0.25, -1.0)}, shape=[])
case("max abs over sum", "max(abs(x)) / sum(x)", {"x": f64(*XF)}, shape=[])
case("normalise by sum i32", "x / sum(x)", {"x": i32(1, 2, 3, 4)})
case("reduction of a comparison", "sum(x > 0) + count_nonzero(x < 0)", {"x": f64(*XF)}, shape=[])
case("mean of a boolean mask", "mean(x > 1)", {"x": f64(*XF)}, shape=[])
case("two reductions of one producer", "max(sqrt(abs(x))) - min(sqrt(abs(x)))", {"x": f64(*XF)}, shape=[])
case("reduction of a reduction", "sum(sum(m, axis=1) * 2)", {"m": i32(*MI, **M34)}, shape=[])
case("softmax", "exp(x - max(x)) / sum(exp(x - max(x)))", {"x": f64(1.0, 2.0, 3.0, 0.5)}, tol=2)

# layouts
case("sum axis 0 of a Fortran matrix", "sum(m, axis=0)", {"m": f64(*MI, shape=[3, 4], order="F")})
case("argmax axis 1 of a Fortran matrix", "argmax(m, axis=1)", {"m": i32(*MI, shape=[3, 4], order="F")})
case("mean of a strided vector", "mean(x)", {"x": f64(1.0, 2.0, 4.0, 8.0, stride=3)}, shape=[])
case("argmin of a reversed vector", "argmin(x)", {"x": f64(3.0, -1.0, 2.0, -1.0, 5.0, reverse=True)}, shape=[])
case("max axis 0 of a reversed matrix", "max(m, axis=0)", {"m": i64(*MI, shape=[3, 4], reverse=True)})
case("var axis 1 of a strided matrix", "var(m, axis=1)", {"m": f64(*[float(v) for v in MI], shape=[3, 4], stride=2)})

# fusion of lane operations with their producers and consumers
V4 = f64(0.5, -1.0, 2.0, 4.0)
case("sum of a broadcast", "sum(m + v)", {"m": f64(*MF, **M34), "v": V4}, shape=[])
case("mean axis 0 of a broadcast product", "mean(m * v, axis=0)", {"m": f64(*MF, **M34), "v": V4})
case("row sums plus column sums broadcast", "sum(m, axis=0) + sum(m, axis=1, keepdims=true)", {"m": i32(*MI, **M34)})
case("column max minus row min", "max(m, axis=0, keepdims=true) - min(m, axis=1, keepdims=true)", {"m": f64(*MF, **M34)})
case("reduction of a column vector broadcast", "sum(c * v, axis=1)", {"c": f64(1.0, -2.0, 3.0, shape=[3, 1]), "v": V4})
case("cumsum of a centred vector", "cumsum(x - mean(x))", {"x": f64(*XF)})
case("diff of cumsum", "diff(cumsum(x))", {"x": i64(*XI)})
case("same reduction twice", "sum(x) * sum(x) - sum(x * x)", {"x": f64(*XF)}, shape=[])
case("argmax of a reduction result", "argmax(sum(m, axis=0))", {"m": f64(*MF, **M34)}, shape=[])

case("sum keepdims of a vector", "sum(x, keepdims=true)", {"x": f64(*XF)})
case("argmax keepdims all axes of a matrix", "argmax(m, keepdims=true)", {"m": f64(*MF, **M34)})
case("any axis 1 of floats", "any(m, axis=1)", {"m": f64(0.0, -0.0, 0.0, NAN, 0.0, 0.0, **M23)})
case("min bool matrix axis 0", "min(m, axis=0)", {"m": b(True, False, True, True, True, False, **M23)})
case("nanvar of i32 is var", "nanvar(x)", {"x": i32(*XI)}, shape=[])
case("mean of empty i32 is nan", "mean(x)", {"x": i32()}, shape=[])
case("var with huge ddof is nan", "var(x, ddof=4294967295)", {"x": f64(1.0, 2.0)}, expect=NAN, dtype="f64", shape=[],
     note="n - ddof <= 0 gives NaN in arrjit (np.var gives inf)")

# long lanes: leaves of 128, JIT blocks and threads
L300 = rng_values(10, 300, 3, -1.0, 1.0)
case("sum axis 1 of rows longer than a leaf", "sum(m, axis=1)", {"m": f64(*L300, shape=[2, 150])}, tol=8)
case("sum axis 0 of columns longer than a leaf", "sum(m, axis=0)", {"m": f64(*L300, shape=[150, 2])}, tol=8,
     np_expr="np.array([math.fsum(c) for c in m.T])",
     note="expectation: the exact sum rounded once (NumPy adds rows in order along axis 0 and is 10 ulp off here)")
case("mean axis 0 of 10 rows", "mean(m, axis=0)", {"m": f64(*L300[:30], shape=[10, 3])}, tol=4,
     note="NumPy adds rows in order along axis 0; arrjit uses its pairwise order per lane")
case("var of 300", "var(x)", {"x": f64(*L300)}, tol=8)
case("argmax of 300", "argmax(x)", {"x": f64(*L300)}, shape=[])
case("min of 300 f32", "min(x)", {"x": f32(*rng32(16, 300))}, shape=[])
case("count_nonzero of 300", "count_nonzero(x > 0)", {"x": f64(*L300)}, shape=[])
case("sum of 300 ints", "sum(x)", {"x": i32(*[int(v * 1000) for v in L300])}, shape=[])
case("nansum of 300 with nans", "nansum(x)", {"x": f64(*[NAN if k % 7 == 0 else v for k, v in enumerate(L300)])}, shape=[], tol=8)

case("sum of a fused product of a reversed 300", "sum(x * 2)", {"x": f64(*L300, reverse=True)}, tol=8,
     np_expr="np.array(math.fsum(x * 2))")
case("sum axis 1 of a Fortran 2x150", "sum(m, axis=1)", {"m": f64(*L300, shape=[2, 150], order="F")}, tol=8,
     np_expr="np.array([math.fsum(r) for r in m])")
case("argmin of a strided 300 with a late nan", "argmin(x)", {"x": f64(*(L300[:250] + [NAN] + L300[251:]), stride=2)}, shape=[])
case("max axis 0 of a reversed 150x2", "max(m, axis=0)", {"m": f64(*L300, shape=[150, 2], reverse=True)})

# summation order
R100 = rng_values(1, 100)
R128 = rng_values(2, 128, lo=-1.0)
case("sum of 100 f64 is numpy's pairwise sum", "sum(x)", {"x": f64(*R100)}, shape=[])
case("sum of 128 f64 is numpy's pairwise sum", "sum(x)", {"x": f64(*R128)}, shape=[])
case("mean of 100 f32", "mean(x)", {"x": f32(*rng32(3, 100))}, shape=[])
case("sum of 31 f32", "sum(x)", {"x": f32(*rng32(4, 31))}, shape=[])
case("var of 100 f64", "var(x)", {"x": f64(*R100)}, shape=[])
R1000 = rng_values(5, 1000, digits=4)
case("sum of 1000 f64", "sum(x)", {"x": f64(*R1000)}, shape=[], tol=16,
     note="beyond 128 elements arrjit's fixed-block pairwise order may differ from NumPy's in the last bits")
case("mean of 1000 f32", "mean(x)", {"x": f32(*rng32(15, 1000))}, shape=[], tol=16)
case("sum of 129 f64", "sum(x)", {"x": f64(*rng_values(6, 129))}, shape=[], tol=8)

# ================================================================== scans
file("scans")
HEADERS["scans"] = "# Generator: tests/cases/gen/gen_lanes.py.\n"
SF = [1.5, -2.0, 3.25, 0.5, -4.0, 2.0]
for fn in ["cumsum", "cumprod", "cummax", "cummin"]:
    case(f"{fn} f64", f"{fn}(x)", {"x": f64(*SF)})
    case(f"{fn} i32", f"{fn}(x)", {"x": i32(3, -1, 4, -1, 5, -9, 2)})
    case(f"{fn} f64 matrix axis 0", f"{fn}(m, axis=0)", {"m": f64(*MF, **M34)})
    case(f"{fn} i64 matrix axis 1", f"{fn}(m, axis=1)", {"m": i64(*MI, **M34)})
    case(f"{fn} of empty", f"{fn}(x)", {"x": f64()})
case("cumsum f32", "cumsum(x)", {"x": f32(0.1, 0.2, 0.3, 1e8, -1e8, 0.7)})
case("cumprod f32", "cumprod(x)", {"x": f32(1.1, 1.1, 1.1, -2.0, 0.5)})
case("cumsum axis -1", "cumsum(m, axis=-1)", {"m": f64(*MF, **M34)})
case("cumsum bool gives i64", "cumsum(x)", {"x": b(True, False, True, True)})
case("cumprod bool gives i64", "cumprod(x)", {"x": b(True, True, False, True)})
case("cummax bool stays bool", "cummax(x)", {"x": b(False, True, False)})
case("cumsum i32 widens to i64", "cumsum(x)", {"x": i32(I32MAX, I32MAX, 2)})
case("cumsum i64 wraps", "cumsum(x)", {"x": i64(I64MAX, 1, 1)})
case("cumprod i64 wraps", "cumprod(x)", {"x": i64(2**32, 2**31, 2, 3)})
case("cummax i32 extremes", "cummax(x)", {"x": i32(I32MIN, 0, I32MAX, -1)})
case("cumsum with nan and inf", "cumsum(x)", {"x": f64(1.0, INF, 2.0, NAN, 3.0)})
case("cummax propagates nan", "cummax(x)", {"x": f64(1.0, NAN, 5.0, 2.0)})
case("cummin propagates nan", "cummin(x)", {"x": f64(1.0, -3.0, NAN, -5.0)})
case("cummax f32 nan first", "cummax(x)", {"x": f32(NAN, 1.0, 2.0)})
case("cummin matrix axis 1 nan", "cummin(m, axis=1)", {"m": f64(3.0, NAN, 1.0, 2.0, 1.0, 0.0, **M23)})
case("cumsum of a Fortran matrix axis 1", "cumsum(m, axis=1)", {"m": i32(*MI, shape=[3, 4], order="F")})
case("cummax of a reversed vector", "cummax(x)", {"x": f64(*SF, reverse=True)})
case("cumsum of a strided vector", "cumsum(x)", {"x": f64(*SF, stride=2)})
case("cumsum minus x", "cumsum(x) - x", {"x": f64(*SF)})
case("sum of cumsum", "sum(cumsum(x))", {"x": i32(1, 2, 3, 4)}, shape=[])
case("cumsum of a product", "cumsum(a * b)", {"a": f64(1.0, 2.0, 3.0), "b": f64(0.5, 0.25, 2.0)})
case("cumsum of 300 f64", "cumsum(x)", {"x": f64(*rng_values(11, 300, 3))})
case("cummax of a long matrix axis 0", "cummax(m, axis=0)", {"m": i32(*[int(v * 100) for v in rng_values(12, 400, 2, -1, 1)], shape=[200, 2])})
case("shift of a long vector", "shift(x, 130)", {"x": f64(*rng_values(13, 200, 3))})
case("drawdown", "x / cummax(x) - 1", {"x": f64(100.0, 110.0, 99.0, 121.0, 108.9)})

DX = [1.0, 4.0, 9.0, 16.0, 25.0, 36.0]
case("diff f64", "diff(x)", {"x": f64(*DX)})
for n in [0, 2, 3, 5, 9]:
    case(f"diff n={n}", f"diff(x, n={n})", {"x": f64(*DX)})
case("diff i32 wraps", "diff(x)", {"x": i32(I32MIN, I32MAX, -1, 0)})
case("diff i64 n=2", "diff(x, n=2)", {"x": i64(1, 8, 27, 64, 125)})
case("diff f32", "diff(x)", {"x": f32(0.1, 0.3, 0.7, 1.5)})
case("diff bool is not-equal", "diff(x)", {"x": b(True, False, False, True, True)})
case("diff bool n=2", "diff(x, n=2)", {"x": b(True, False, False, True, True)})
case("diff with inf and nan", "diff(x)", {"x": f64(INF, INF, 1.0, NAN, 2.0)})
case("diff of a matrix is along the last axis", "diff(m)", {"m": f64(*MF, **M34)})
case("diff matrix axis 0", "diff(m, axis=0)", {"m": i32(*MI, **M34)})
case("diff matrix axis 1 n=2", "diff(m, axis=1, n=2)", {"m": f64(*MF, **M34)})
case("diff matrix axis 0 n=3 is empty", "diff(m, axis=0, n=3)", {"m": f64(*MF, **M34)})
case("diff of one element is empty", "diff(x)", {"x": f64(5.0)})
case("diff of empty", "diff(x)", {"x": f64()})
case("diff of a reversed vector", "diff(x)", {"x": f64(*DX, reverse=True)})
case("diff of a Fortran matrix", "diff(m, axis=0)", {"m": f64(*MF, shape=[3, 4], order="F")})
case("mean of diff", "mean(diff(x))", {"x": f64(*DX)}, shape=[])
case("diff of a square", "diff(x * x)", {"x": i64(1, 2, 3, 4)})

SX = [1.5, 2.5, NAN, -4.0, 5.0]
for k in [1, -2, 0, 4, 5, 7, -5]:
    case(f"shift f64 k={k}", f"shift(x, {k})", {"x": f64(*SX)})
case("shift f32", "shift(x, 2)", {"x": f32(*SX)})
case("shift f64 with fill", "shift(x, 1, fill=0)", {"x": f64(*SX)}, np_expr="shift(x, 1, fill=0.0)")
case("shift i32 with fill", "shift(x, 2, fill=-1)", {"x": i32(1, 2, 3, 4, 5)})
case("shift i64 left with fill", "shift(x, -1, fill=0)", {"x": i64(I64MAX, 2, 3)})
case("shift bool with fill", "shift(x, 1, fill=false)", {"x": b(True, True, False)})
case("shift i32 all fill", "shift(x, 3, fill=7)", {"x": i32(1, 2, 3)})
case("shift matrix axis 0", "shift(m, 1, axis=0)", {"m": f64(*MF, **M34)})
case("shift matrix axis 1", "shift(m, -1, axis=1)", {"m": f64(*MF, **M34)})
case("shift i32 matrix axis 1 fill", "shift(m, 2, axis=1, fill=0)", {"m": i32(*MI, **M34)})
case("shift of empty", "shift(x, 1)", {"x": f64()})
case("shift by i64 max", "shift(x, 9223372036854775807)", {"x": f64(1.0, 2.0, 3.0)})
case("shift by -i64 max", "shift(x, -9223372036854775807)", {"x": f64(1.0, 2.0, 3.0)})
case("diff of a one-row matrix axis 0", "diff(m, axis=0)", {"m": f64(1.0, 2.0, shape=[1, 2])})
case("diff with a huge n", "diff(x, n=4000000000)", {"x": f64(1.0, 2.0, 4.0)}, expect=[], dtype="f64",
     note="must not loop n times (np.diff does)")
case("returns via shift", "x / shift(x, 1) - 1", {"x": f64(100.0, 110.0, 99.0, 121.0)})
case("shift of a reversed vector", "shift(x, 1)", {"x": f64(*SF, reverse=True)})
case("shift of a strided vector", "shift(x, -1)", {"x": f64(*SF, stride=3)})
case("shift equals diff", "x - shift(x, 1)", {"x": f64(*DX)})
case("shift with negative literal fill", "shift(x, 1, fill=-1.5)", {"x": f32(1.0, 2.0)}, np_expr="shift(x, 1, fill=-1.5)")

# ================================================================== windows
file("windows")
HEADERS["windows"] = ("# Generator: tests/cases/gen/gen_lanes.py. Rolling values are pandas'\n"
                      "# rolling(w, min_periods=w); see the generator for the rounding rules.\n")
WD = [1.0, 2.5, -0.75, 4.0, 3.25, -2.0, 0.5, 6.0]  # dyadic: sums and means are exact in any order
WR = rng_values(7, 12, 3, -5.0, 5.0)  # not dyadic
for fn in ["sum", "mean", "var", "std", "min", "max"]:
    tol = 4 if fn in ("var", "std") else None
    for w in [1, 3, 8, 9]:
        case(f"rolling_{fn} w={w}", f"rolling_{fn}(x, {w})", {"x": f64(*WD)}, tol=tol)
    if fn not in ("min", "max"):
        case(f"rolling_{fn} w=4 non-dyadic", f"rolling_{fn}(x, 4)", {"x": f64(*WR)}, tol=tol or 2)
    case(f"rolling_{fn} nan in window", f"rolling_{fn}(x, 3)", {"x": f64(1.0, 2.0, 3.0, NAN, 5.0, 6.0, 7.0, 8.0)}, tol=tol)
    if fn in ("sum", "var", "min"):
        case(f"rolling_{fn} matrix axis 0", f"rolling_{fn}(m, 2, axis=0)", {"m": f64(*MF, **M34)}, tol=tol)
    else:
        case(f"rolling_{fn} matrix axis 1", f"rolling_{fn}(m, 3, axis=1)", {"m": f64(*MF, **M34)}, tol=tol)
    if fn in ("mean", "std", "max"):
        case(f"rolling_{fn} of i32 is f64", f"rolling_{fn}(x, 3)", {"x": i32(5, -3, 8, 1, 1, 9)}, tol=tol)
for fn in ["var", "std"]:
    case(f"rolling_{fn} ddof=1", f"rolling_{fn}(x, 3, ddof=1)", {"x": f64(*WD)}, tol=4)
    case(f"rolling_{fn} ddof=1 w=1 is nan", f"rolling_{fn}(x, 1, ddof=1)", {"x": f64(*WD)})
    case(f"rolling_{fn} f32", f"rolling_{fn}(x, 3)", {"x": f32(*WR)}, tol=2)
case("rolling_var of a constant is zero", "rolling_var(x, 3)", {"x": f64(0.1, 0.1, 0.1, 0.1, 0.1)})
NC = [1e9 + v for v in rng_values(8, 40, 6, -1e-3, 1e-3)]
case("rolling_var near-constant window", "rolling_var(x, 10)", {"x": f64(*NC)}, tol=2**32,
     np_expr="rolling_var(x, 10, pandas=False)",
     note="LANGUAGE.md: within 1e-6 relative of a two-pass computation (2**32 ulp is 1e-6 relative); the expectation is "
          "exact (pandas' own online algorithm is off by up to 1e-3 relative here)")
case("rolling_std stays non-negative on tiny spreads", "rolling_std(x, 2) >= 0", {"x": f64(1.0, 1.0 + 2**-52, 1.0, 1.0, 1.0 + 2**-51)},
     np_expr="np.isnan(rolling_std(x, 2, pandas=False)) == False", note="first element is NaN >= 0, false")
case("rolling_min monotone decreasing", "rolling_min(x, 3)", {"x": f64(9.0, 8.0, 7.0, 6.0, 5.0, 4.0)})
case("rolling_max monotone decreasing", "rolling_max(x, 3)", {"x": f64(9.0, 8.0, 7.0, 6.0, 5.0, 4.0)})
case("rolling_max ties", "rolling_max(x, 2)", {"x": i64(3, 3, 1, 3, 3, 2)})
case("rolling_min bool is f64", "rolling_min(x, 2)", {"x": b(True, False, True, True)})
case("rolling_sum of bool counts", "rolling_sum(x, 3)", {"x": b(True, False, True, True, True, False)})
case("rolling_max f32", "rolling_max(x, 2)", {"x": f32(0.1, 0.3, 0.2, -1.0)})
case("rolling_sum f32", "rolling_sum(x, 2)", {"x": f32(*WR)}, tol=1)
case("rolling_sum nan leaves the window", "rolling_sum(x, 2)", {"x": f64(1.0, NAN, 2.0, 3.0, 4.0)})
case("rolling_sum inf leaves the window", "rolling_sum(x, 2)", {"x": f64(1.0, INF, 2.0, 3.0, -INF, 4.0)},
     expect=[NAN, INF, INF, 5.0, -INF, -INF], dtype="f64",
     note="IEEE sums of each window; pandas turns inf into NaN inside windows")
case("rolling_max with inf", "rolling_max(x, 2)", {"x": f64(1.0, INF, 2.0, 3.0)}, expect=[NAN, INF, INF, 3.0], dtype="f64",
     note="pandas turns inf into NaN inside windows; arrjit keeps IEEE values")
case("rolling_mean window from an i64 scalar input", "rolling_mean(x, w)", {"x": f64(*WD), "w": S("i64", 3)})
case("rolling_max window from an i32 scalar input", "rolling_max(x, w)", {"x": f64(*WD), "w": S("i32", 2)})
case("rolling_std window from a scalar input", "rolling_std(x, w)", {"x": f64(*WD), "w": S("i64", 4)}, tol=4)
case("rolling_var window i64 max from a scalar input", "rolling_var(x, w)", {"x": f64(1.0, 2.0, 3.0), "w": S("i64", I64MAX)},
     np_expr="rolling_var(x, 4)", note="no O(w) scratch for a window longer than the lane")
case("rolling_min window i64 max literal", "rolling_min(x, 9223372036854775807)", {"x": f64(1.0, 2.0, 3.0)}, np_expr="rolling_min(x, 4)")
case("rolling_sum window longer than the lane from an input", "rolling_sum(x, w)", {"x": f64(1.0, 2.0, 3.0), "w": S("i64", 100)})
case("rolling_var with huge ddof", "rolling_var(x, 2, ddof=4294967295)", {"x": f64(1.0, 2.0, 3.0)}, np_expr="rolling_var(x, 2, ddof=5)")
case("rolling_mean f32 with nan", "rolling_mean(x, 2)", {"x": f32(1.5, NAN, 2.25, 3.0)})
case("rolling_sum of empty", "rolling_sum(x, 3)", {"x": f64()})
case("rolling_mean of a reversed vector", "rolling_mean(x, 2)", {"x": f64(*WD, reverse=True)})
case("rolling_min of a strided vector", "rolling_min(x, 3)", {"x": f64(*WD, stride=2)})
case("rolling_sum of a Fortran matrix axis 1", "rolling_sum(m, 2, axis=1)", {"m": f64(*MF, shape=[3, 4], order="F")})
case("rolling z-score", "(x - rolling_mean(x, 3)) / rolling_std(x, 3)", {"x": f64(*WD)}, tol=8)
case("rolling z-score of a transformed input", "(log(x) - rolling_mean(log(x), 3)) / rolling_std(log(x), 3)",
     {"x": f64(1.0, 2.0, 4.0, 3.0, 5.0, 8.0, 7.0)}, tol=16)
case("nanmax of a rolling mean", "nanmax(rolling_mean(x, 3))", {"x": f64(*WD)}, shape=[])
LW = rng_values(14, 150, 3, -5.0, 5.0)
case("rolling_mean of 150 w=50", "rolling_mean(x, 50)", {"x": f64(*LW)}, tol=4)
case("rolling_std of 150 w=7", "rolling_std(x, 7)", {"x": f64(*LW)}, tol=8)
case("rolling_min of 150 w=20", "rolling_min(x, 20)", {"x": f64(*LW)})
case("rolling_max of a long matrix axis 0", "rolling_max(m, 5, axis=0)", {"m": f64(*LW, shape=[75, 2])})
case("rolling_mean of a cumsum", "rolling_mean(cumsum(x), 2)", {"x": f64(*WD)})
case("shift times rolling_max", "shift(x, 1) * rolling_max(x, 2)", {"x": f64(*WD)})
case("rolling_mean of a strided 150", "rolling_mean(x, 9)", {"x": f64(*LW, stride=2)}, tol=4)
case("rolling_var f32 matrix axis 1", "rolling_var(m, 2, axis=1)", {"m": f32(*MF, **M34)}, tol=2)
case("ewm_mean f32 matrix axis 0", "ewm_mean(m, 0.5, axis=0)", {"m": f32(*MF, **M34)})
case("cumsum of a reversed 150 then ewm", "ewm_mean(cumsum(x), 0.5)", {"x": f64(*[round(v * 8) / 8 for v in LW], reverse=True)})
case("rolling_max minus rolling_min", "rolling_max(x, 3) - rolling_min(x, 3)", {"x": i32(5, -3, 8, 1, 1, 9)})
case("rolling_mean of a diff", "rolling_mean(diff(x), 2)", {"x": f64(*DX)})

EX = [1.0, 2.0, 4.0, -1.0, 0.5, 3.0, 3.0]
case("ewm_mean alpha 0.5", "ewm_mean(x, 0.5)", {"x": f64(*EX)})
case("ewm_mean alpha 0.1", "ewm_mean(x, 0.1)", {"x": f64(*WR)})
case("ewm_mean alpha 1 is x", "ewm_mean(x, 1)", {"x": f64(*EX)})
case("ewm_mean alpha from an f64 scalar input", "ewm_mean(x, a)", {"x": f64(*WR), "a": S("f64", 0.3)}, np_expr="ewm_mean(x, 0.3)")
case("ewm_mean alpha from an f32 scalar input", "ewm_mean(x, a)", {"x": f64(*EX), "a": S("f32", 0.3)},
     np_expr="ewm_mean(x, float(np.float32(0.3)))", note="alpha is the f32 value 0.3 widened to f64")
case("ewm_mean alpha 1 from an i64 scalar input", "ewm_mean(x, a)", {"x": f64(*EX), "a": S("i64", 1)}, np_expr="x")
case("ewm_mean of f32", "ewm_mean(x, 0.3)", {"x": f32(*WR)},
     note="computed in f32: a = f32(0.3), b = 1 - a in f32")
case("ewm_mean of i32 is f64", "ewm_mean(x, 0.25)", {"x": i32(4, 8, -4, 0, 12)})
case("ewm_mean nan propagates", "ewm_mean(x, 0.5)", {"x": f64(1.0, 2.0, NAN, 4.0)}, expect=[1.0, 1.5, NAN, NAN], dtype="f64",
     note="arrjit: NaN propagates through the recurrence; pandas' ewm skips the NaN ([1, 1.5, 1.5, 3.375])")
case("ewm_mean of empty", "ewm_mean(x, 0.5)", {"x": f64()})
case("ewm_mean matrix axis 0", "ewm_mean(m, 0.5, axis=0)", {"m": f64(*MF, **M34)})
case("ewm_mean matrix axis 1", "ewm_mean(m, 0.25, axis=1)", {"m": f64(*MF, **M34)})
case("ewm_mean long", "ewm_mean(x, 0.05)", {"x": f64(*rng_values(9, 60, 3))})
case("ewm_mean minus x", "x - ewm_mean(x, 0.5)", {"x": f64(*EX)})

# ================================================================== lane_errors
file("lane_errors")
HEADERS["lane_errors"] = "# Generator: tests/cases/gen/gen_lanes.py.\n"
X = {"x": f64(1.0, 2.0, 3.0)}
MX = {"m": f64(*MF, **M34)}
IX = {"i": i32(1, 2, 3)}
err("cumsum of a matrix needs axis", "cumsum(m)", "Shape", MX, contains="needs `axis=0` or `axis=1`", span=[0, 9])
err("rolling_mean of a matrix needs axis", "rolling_mean(m, 2)", "Shape", MX, contains="`rolling_mean` of a matrix", span=[0, 18])
err("shift of a matrix needs axis", "shift(m, 1)", "Shape", MX, contains="`shift`")
err("ewm_mean of a matrix needs axis", "ewm_mean(m, 0.5)", "Shape", MX, contains="`ewm_mean`")
err("cumsum of a scalar", "cumsum(s)", "Shape", {"s": S("f64", 1.0)}, contains="needs an array, not a scalar", span=[7, 8])
err("sum axis out of range for a vector", "sum(x, axis=1)", "Shape", X, contains="axis 1 is out of range for an array of rank 1", span=[12, 13])
err("cumsum axis 2 of a matrix", "cumsum(m, axis=2)", "Shape", MX, contains="out of range", span=[15, 16])
err("mean axis -3 of a matrix", "mean(m, axis=-3)", "Shape", MX, contains="axis -3", span=[13, 15])
err("axis of a scalar", "sum(s, axis=0)", "Shape", {"s": S("f64", 1.0)}, contains="rank 0")
err("keepdims on a scan", "cumsum(x, keepdims=true)", "Arity", X, contains="`cumsum` has no keyword argument `keepdims`", span=[10, 18])
err("keepdims on a window", "rolling_sum(x, 2, keepdims=true)", "Arity", X, contains="keepdims", span=[18, 26])
err("ddof on sum", "sum(x, ddof=1)", "Arity", X, contains="`sum` has no keyword argument `ddof`", span=[7, 11])
err("ddof on rolling_mean", "rolling_mean(x, 2, ddof=1)", "Arity", X, contains="ddof", span=[19, 23])
err("n on cumsum", "cumsum(x, n=2)", "Arity", X, contains="`n`")
err("fill on diff", "diff(x, fill=0)", "Arity", X, contains="`fill`")
err("unknown keyword", "sum(x, axes=0)", "Arity", X, contains="`axes`", span=[7, 11])
err("keyword given twice", "sum(m, axis=0, axis=1)", "Arity", MX, contains="given twice", span=[15, 19])
err("positional after keyword", "sum(axis=0, m)", "Parse", MX, contains="positional argument after a keyword", span=[12, 13])
err("positional axis", "sum(x, 1)", "Arity", X, contains="`sum` takes one array, got 2", span=[0, 9])
err("sum of nothing", "sum()", "Arity", {}, contains="`sum` takes one array, got 0")
err("rolling_mean without window", "rolling_mean(x)", "Arity", X, contains="an array and a window length", span=[0, 15])
err("ewm_mean without alpha", "ewm_mean(x)", "Arity", X, contains="`alpha`")
err("shift without k", "shift(x)", "Arity", X, contains="shift `k`")
err("axis not a literal", "sum(m, axis=a)", "Type", dict(MX, a=S("i64", 0)), contains="`axis=` takes an integer literal", span=[12, 13])
err("axis a float literal", "sum(m, axis=1.0)", "Type", MX, contains="integer literal")
err("keepdims not a bool", "sum(m, axis=0, keepdims=1)", "Type", MX, contains="`keepdims=` takes `true` or `false`", span=[24, 25])
err("negative ddof", "var(x, ddof=-1)", "Type", X, contains="`ddof=` must be 0 or more", span=[12, 14])
err("negative diff order", "diff(x, n=-1)", "Type", X, contains="`n=` must be 0 or more", span=[10, 12])
err("window 0 literal", "rolling_mean(x, 0)", "Type", X, contains="must be at least 1, got 0", span=[16, 17])
err("negative window literal", "rolling_sum(x, -2)", "Type", X, contains="must be at least 1, got -2", span=[15, 17])
err("window a float literal", "rolling_max(x, 2.5)", "Type", X, contains="an integer literal or a scalar input", span=[15, 18])
err("window from a float input", "rolling_mean(x, w)", "Type", dict(X, w=S("f64", 2.0)), contains="window length", span=[16, 17])
err("window from a bool input", "rolling_mean(x, w)", "Type", dict(X, w=S("bool", True)), contains="window length")
err("window from an array input", "rolling_mean(x, w)", "Type", dict(X, w=i64(2, 2, 2)), contains="scalar input", span=[16, 17])
err("window from an expression", "rolling_mean(x, w + 1)", "Type", dict(X, w=S("i64", 2)), contains="scalar input", span=[16, 21])
err("window 0 from a scalar input", "rolling_mean(x, w)", "Call", dict(X, w=S("i64", 0)), contains="must be at least 1, got 0", span=[16, 17])
err("negative window from an i32 scalar input", "rolling_std(x, w)", "Call", dict(X, w=S("i32", -3)), contains="got -3")
err("alpha 0 literal", "ewm_mean(x, 0)", "Type", X, contains="`alpha` of `ewm_mean` must be in (0, 1], got 0", span=[12, 13])
err("alpha 1.5 literal", "ewm_mean(x, 1.5)", "Type", X, contains="got 1.5", span=[12, 15])
err("alpha negative literal", "ewm_mean(x, -0.5)", "Type", X, contains="(0, 1]")
err("alpha nan literal", "ewm_mean(x, nan)", "Type", X, contains="(0, 1]")
err("alpha 0 from a scalar input", "ewm_mean(x, a)", "Call", dict(X, a=S("f64", 0.0)), contains="must be in (0, 1], got 0", span=[12, 13])
err("alpha 1.5 from a scalar input", "ewm_mean(x, a)", "Call", dict(X, a=S("f64", 1.5)), contains="got 1.5")
err("alpha nan from a scalar input", "ewm_mean(x, a)", "Call", dict(X, a=S("f64", NAN)), contains="(0, 1]")
err("alpha from an array input", "ewm_mean(x, a)", "Type", dict(X, a=f64(0.5, 0.5, 0.5)), contains="scalar input")
err("alpha from a bool input", "ewm_mean(x, a)", "Type", dict(X, a=S("bool", True)), contains="alpha")
err("shift of ints needs fill", "shift(i, 1)", "Type", IX, contains="`shift` of a i32 array needs `fill=`", span=[0, 11])
err("shift of bools needs fill", "shift(b, 1)", "Type", {"b": b(True, False)}, contains="needs `fill=`")
err("shift k not a literal", "shift(x, k)", "Type", dict(X, k=S("i64", 1)), contains="integer literal `k`", span=[9, 10])
err("shift k a float", "shift(x, 1.5)", "Type", X, contains="integer literal")
err("shift fill not a literal", "shift(x, 1, fill=x)", "Type", X, contains="`fill=` takes a literal", span=[17, 18])
err("shift int fill of a float", "shift(i, 1, fill=1.5)", "Type", IX, span=[17, 20])
err("unknown lane function", "cumsun(x)", "UnknownFunction", X, contains="cumsum", span=[0, 6])
err("unknown rolling function", "rolling_median(x, 3)", "UnknownFunction", X)
err("reduction of a broadcast mismatch", "sum(a + b)", "Shape", {"a": f64(1.0, 2.0), "b": f64(1.0, 2.0, 3.0)}, contains="(2,) and (3,)", span=[4, 9])
err("lane result broadcast mismatch", "cumsum(x) + diff(x)", "Shape", X, contains="cannot be broadcast")
err("reduction of a type error", "sum(x & 1)", "Type", X)

lib.write(OUT)
