"""Kernels called with ``out=``: the caller's arrays written in place of
new ones (one array, a tuple with an entry per output, or a dict by name),
with the same overlap rules as ``evaluate``'s ``out=``."""

import numpy as np
import pytest

import arrjit

KERNELS = """
kernel ewma(x: f64[n], alpha: f64) -> (y: f64[n]) {
    y[0] = x[0]
    y[i] = alpha * x[i] + (1 - alpha) * y[i-1]
}

kernel running_max(x: f64[n]) -> (y: f64[n]) {
    y[0] = x[0]
    y[i] = maximum(y[i-1], x[i])
}

kernel zscore(x: f64[n], w: i64) -> (z: f64[n], lo: f64, hi: f64) {
    let m = rolling_mean(x, w)
    let s = rolling_std(x, w)
    z = (x - m) / s
    lo = nanmin(z)
    hi = nanmax(z)
}
"""

RNG = np.random.default_rng(21)


def test_one_output_into_an_array():
    k = arrjit.compile(KERNELS)
    x = RNG.standard_normal(1000)
    want = k.ewma(x, 0.1)
    out = np.empty(1000)
    r = k.ewma(x, 0.1, out=out)
    assert r is out
    assert np.array_equal(out, want)
    y = np.full(1000, 7.0)
    assert k.running_max(x, out=y) is y
    assert np.array_equal(y, np.maximum.accumulate(x))


def test_several_outputs_by_tuple_and_by_dict():
    k = arrjit.compile(KERNELS)
    x = RNG.standard_normal(500)
    z0, lo0, hi0 = k.zscore(x, 20)
    z = np.empty(500)
    hi = np.zeros(())
    r = k.zscore(x, 20, out=(z, None, hi))
    assert r[0] is z and r[2] is hi
    assert np.array_equal(z, z0, equal_nan=True)
    assert type(r[1]) is np.float64 and r[1] == lo0
    assert hi[()] == hi0
    z2 = np.empty(500)
    r = k.zscore(x, 20, out={"z": z2})
    assert r[0] is z2 and r[1] == lo0 and r[2] == hi0
    assert np.array_equal(z2, z0, equal_nan=True)


def test_strided_and_reversed_outputs():
    k = arrjit.compile(KERNELS)
    x = RNG.standard_normal(300)
    x[[5, 77]] = np.nan
    want = k.running_max(x)
    big = np.full(600, -1.0)
    k.running_max(x, out=big[::2])
    assert np.array_equal(big[::2], want, equal_nan=True)
    assert (big[1::2] == -1.0).all()
    r = np.empty(300)
    k.running_max(x, out=r[::-1])
    assert np.array_equal(r[::-1], want, equal_nan=True)


def test_an_output_sharing_memory_with_an_input_reads_it_as_before_the_call():
    k = arrjit.compile(KERNELS)
    x = RNG.standard_normal(200)
    want = k.ewma(x, 0.3)
    y = x.copy()
    assert k.ewma(y, 0.3, out=y) is y
    assert np.array_equal(y, want)
    # Shifted by one: row i reads x[i] after row i-1 wrote it, unless the
    # input is read from a copy.
    buf = np.r_[x, 0.0]
    k.running_max(buf[:-1], out=buf[1:])
    assert np.array_equal(buf[1:], np.maximum.accumulate(x))


def test_out_errors():
    k = arrjit.compile(KERNELS)
    x = np.arange(10.0)
    with pytest.raises(arrjit.ArrjitError, match=r"output `y` is f32 of shape"):
        k.ewma(x, 0.1, out=np.empty(10, np.float32))
    with pytest.raises(arrjit.ArrjitError, match=r"output `y` is f64 of shape"):
        k.ewma(x, 0.1, out=np.empty(9))
    # A list is one entry per output, as a tuple is.
    with pytest.raises(arrjit.ArrjitError, match="has 10 entries, but kernel `ewma` has 1"):
        k.ewma(x, 0.1, out=[0.0] * 10)
    with pytest.raises(arrjit.ArrjitError, match="output `y` must be a NumPy array"):
        k.ewma(x, 0.1, out=[[0.0] * 10])
    with pytest.raises(arrjit.ArrjitError, match="output `y` must be a NumPy array"):
        k.ewma(x, 0.1, out=3.0)
    ro = np.empty(10)
    ro.flags.writeable = False
    with pytest.raises(arrjit.ArrjitError, match="read-only"):
        k.ewma(x, 0.1, out=ro)
    with pytest.raises(arrjit.ArrjitError, match="has 3 outputs"):
        k.zscore(x, 3, out=np.empty(10))
    with pytest.raises(arrjit.ArrjitError, match="has 2 entries"):
        k.zscore(x, 3, out=(np.empty(10), None))
    with pytest.raises(arrjit.ArrjitError, match="`zz` is not an output") as info:
        k.zscore(x, 3, out={"zz": np.empty(10)})
    assert any("did you mean `z`" in n for n in info.value.notes)
    both = np.empty(10)
    with pytest.raises(arrjit.ArrjitError, match="share memory"):
        k.zscore(x, 3, out={"z": both, "lo": both[:1].reshape(())})
    # Nothing was written by a refused call.
    y = np.full(10, 3.5)
    with pytest.raises(arrjit.ArrjitError):
        k.zscore(x, 0, out=(y, None, None))
    assert (y == 3.5).all()
