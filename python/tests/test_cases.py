"""The Rust suite's case files (tests/cases/*.toml), evaluated through Python.

Format: see tests/it/cases.rs. Every case runs through ``arrjit.evaluate``
with its inputs laid out as the case says (Fortran order, strided with junk
in the gaps, reversed), built with NumPy; results must match the expected
values (generated with NumPy) bitwise, any NaN matching any NaN, unless the
case gives ``tol_ulp``; error cases must raise ``ArrjitError`` with the same
kind, span and message.
"""

import pathlib
import struct

import numpy as np
import pytest

import arrjit

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = pytest.importorskip("tomli")

CASES = pathlib.Path(__file__).resolve().parents[2] / "tests" / "cases"

DTYPES = {
    "bool": np.bool_,
    "i32": np.int32,
    "i64": np.int64,
    "f32": np.float32,
    "f64": np.float64,
}
JUNK = {"bool": True, "i32": 0x5EED, "i64": -0x5EED5EED, "f32": -12345.5, "f64": -12345.5}


def load_cases():
    params = []
    for path in sorted(CASES.glob("*.toml")):
        with open(path, "rb") as f:
            for k, case in enumerate(tomllib.load(f)["case"]):
                marks = []
                if "known_bug" in case:
                    marks.append(pytest.mark.xfail(reason=case["known_bug"]))
                params.append(pytest.param(case, id=f"{path.stem}-{k}", marks=marks))
    return params


def float_value(v):
    if isinstance(v, str):
        return {"nan": float("nan"), "-nan": -float("nan"), "inf": float("inf"),
                "+inf": float("inf"), "-inf": float("-inf")}[v]
    return float(v)


def values(dtype, items):
    """An array of the exact elements the Rust suite would make."""
    if dtype in ("f32", "f64"):
        width, fmt, ufmt = (4, "f", "I") if dtype == "f32" else (8, "d", "Q")
        bits = []
        for v in items:
            if isinstance(v, str) and v.startswith("0x"):
                bits.append(int(v, 16))
            else:
                bits.append(struct.unpack(ufmt, struct.pack(fmt, float_value(v)))[0])
        return np.array(bits, dtype=np.uint32 if width == 4 else np.uint64).view(DTYPES[dtype])
    if dtype == "bool":
        return np.array([bool(v) for v in items], dtype=np.bool_)
    return np.array(items, dtype=DTYPES[dtype])


def scalar(dtype, v):
    """Python scalars where they are exact (bool, int -> i64, float -> f64),
    NumPy scalars for the other dtypes."""
    if dtype == "bool":
        return bool(v)
    if dtype == "i64":
        return int(v)
    if dtype == "f64" and not (isinstance(v, str) and v.startswith("0x")):
        return float_value(v)
    return values(dtype, [v])[0]


def make_input(spec):
    (dtype,) = [d for d in DTYPES if d in spec]
    data = spec[dtype]
    if not isinstance(data, list):
        return scalar(dtype, data)
    logical = values(dtype, data).reshape(spec.get("shape", [len(data)]))
    reverse = spec.get("reverse", False)
    step = spec.get("stride", 1)
    order = spec.get("order", "C")
    laid = logical[(slice(None, None, -1),) * logical.ndim] if reverse else logical
    laid = np.array(laid, order=order)
    if step > 1:
        big = np.full(laid.size * step, JUNK[dtype], dtype=laid.dtype)
        big[::step] = laid.ravel(order="K")
        laid = np.lib.stride_tricks.as_strided(
            big, shape=laid.shape, strides=[s * step for s in laid.strides])
    view = laid[(slice(None, None, -1),) * laid.ndim] if reverse else laid
    assert np.array_equal(view, logical, equal_nan=dtype in ("f32", "f64"))
    return view


def ordered(x):
    """Float bits as integers ordered like the floats (-0.0 just below 0.0)."""
    width = x.dtype.itemsize * 8
    bits = int(x.view(np.uint32 if width == 32 else np.uint64))
    sign = 1 << (width - 1)
    return bits if bits < sign else -(bits & (sign - 1)) - 1


def same(want, got, tol):
    if want.dtype.kind == "f":
        if np.isnan(want) or np.isnan(got):
            return bool(np.isnan(want) and np.isnan(got))
        return abs(ordered(want) - ordered(got)) <= (tol or 0)
    return want == got


def display(err):
    """The library's one-line ``Display`` of an error."""
    text = err.message
    if err.span is not None:
        text += f" (at {err.span[0]}..{err.span[1]})"
    return text + "".join(f"; {n}" for n in err.notes)


@pytest.mark.parametrize("case", load_cases())
def test_case(case):
    inputs = {name: make_input(spec) for name, spec in case.get("inputs", {}).items()}
    if "error_kind" in case:
        with pytest.raises(arrjit.ArrjitError) as info:
            arrjit.evaluate(case["expr"], {}, {}, **inputs)
        err = info.value
        kind = "".join("_" + c.lower() if c.isupper() else c for c in case["error_kind"])
        assert err.kind == kind.lstrip("_"), str(err)
        if "error_contains" in case:
            assert case["error_contains"] in display(err), str(err)
        if "error_span" in case:
            assert list(err.span) == case["error_span"], str(err)
        assert err.message in str(err)
        return
    got = np.asarray(arrjit.evaluate(case["expr"], {}, {}, **inputs))
    dtype = case["expect_dtype"]
    want = values(dtype, case["expect"])
    shape = case.get("expect_shape", [len(want)])
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert list(got.shape) == shape
    for k, (w, g) in enumerate(zip(want, got.ravel())):
        assert same(w, g, case.get("tol_ulp")), f"element {k}: got {g!r}, expected {w!r}"
