"""The Python API: numexpr's calling conventions, out=, layouts, kernels,
configuration, threads and errors."""

import sys
import threading
import time

import numpy as np
import pytest

import arrjit

RNG = np.random.default_rng(8)
g_value = np.arange(4.0)  # found through the caller's globals


# --- the issue's check ------------------------------------------------------

def test_issue_example():
    a = np.arange(5.0)
    r = arrjit.evaluate("a * 2 + 1")
    assert isinstance(r, np.ndarray)
    assert str(r) == "[1. 3. 5. 7. 9.]"


# --- numexpr's calling conventions -------------------------------------------

def test_names_from_the_callers_locals_then_globals():
    x = np.arange(4.0)
    np.testing.assert_array_equal(arrjit.evaluate("x + g_value"), x + g_value)


def test_locals_shadow_globals():
    g_value = np.ones(4)  # noqa: F841 - read through the frame
    np.testing.assert_array_equal(arrjit.evaluate("g_value * 2"), np.full(4, 2.0))


def test_local_dict_replaces_the_callers_locals_but_not_its_globals():
    x = np.arange(3.0)  # noqa: F841 - must not be seen
    r = arrjit.evaluate("x * 10", {"x": np.ones(3)})
    np.testing.assert_array_equal(r, np.full(3, 10.0))
    r = arrjit.evaluate("y + g_value", {"y": np.ones(4)})
    np.testing.assert_array_equal(r, g_value + 1)


def test_global_dict():
    r = arrjit.evaluate("p * q", {"p": 2.0}, {"q": np.arange(3.0), "p": 100.0})
    np.testing.assert_array_equal(r, [0.0, 2.0, 4.0])


def test_keywords_come_first():
    a = np.zeros(3)  # noqa: F841
    r = arrjit.evaluate("a + 1", {"a": np.ones(3)}, a=np.full(3, 5.0))
    np.testing.assert_array_equal(r, np.full(3, 6.0))


def test_mapping_that_is_not_a_dict():
    class Env:
        def __getitem__(self, name):
            if name == "v":
                return np.arange(3)
            raise KeyError(name)

    np.testing.assert_array_equal(arrjit.evaluate("v * 2", Env(), {}), [0, 2, 4])


def test_names_inside_a_nested_function_and_a_class_body():
    def outer():
        t = np.arange(3.0)

        def inner():
            u = t  # a closure variable is a local of `inner` once read
            return arrjit.evaluate("u + 1")

        return inner()

    np.testing.assert_array_equal(outer(), [1.0, 2.0, 3.0])

    class C:
        w = np.arange(2.0)
        r = arrjit.evaluate("w * 3")

    np.testing.assert_array_equal(C.r, [0.0, 3.0])


def test_missing_name_is_an_error_with_a_caret():
    with pytest.raises(arrjit.ArrjitError) as info:
        arrjit.evaluate("1 + nope_not_defined", {}, {})
    e = info.value
    assert e.kind == "call"
    assert e.span == (4, 20) and (e.start, e.end) == (4, 20)
    assert "no value given for input `nope_not_defined`" in str(e)
    assert "1 + nope_not_defined\n" in str(e) and "^^^" in str(e)


def test_extra_keyword_is_an_error():
    with pytest.raises(arrjit.ArrjitError, match="`b` is not an input"):
        arrjit.evaluate("a + 1", a=1.0, b=2.0)


# --- results -----------------------------------------------------------------

def test_reduction_gives_a_numpy_scalar():
    a = np.arange(10.0)
    r = arrjit.evaluate("sum(a * a)")
    assert type(r) is np.float64 and r == 285.0
    r = arrjit.evaluate("count_nonzero(a > 4)")
    assert type(r) is np.int64 and r == 5
    assert type(arrjit.evaluate("any(a > 4)")) is np.bool_
    f = a.astype(np.float32)
    assert type(arrjit.evaluate("max(f)")) is np.float32


def test_result_dtypes_follow_nep50():
    x32 = np.arange(3, dtype=np.float32)
    assert arrjit.evaluate("x32 * 2.0").dtype == np.float32
    i32 = np.arange(3, dtype=np.int32)
    assert arrjit.evaluate("i32 + 1").dtype == np.int32
    assert arrjit.evaluate("i32 / 2").dtype == np.float64
    assert arrjit.evaluate("i32 > 1").dtype == np.bool_


def test_python_scalars_are_typed_values():
    assert arrjit.evaluate("k * 2", k=3) == 6 and type(arrjit.evaluate("k * 2", k=3)) is np.int64
    assert type(arrjit.evaluate("k * 2", k=1.5)) is np.float64
    assert arrjit.evaluate("not k", k=False) == np.True_
    assert type(arrjit.evaluate("k * 2", k=np.float32(1.5))) is np.float32
    with pytest.raises(arrjit.ArrjitError, match="outside the range of int64"):
        arrjit.evaluate("k + 1", k=2**70)


def test_lists_go_through_asarray():
    np.testing.assert_array_equal(arrjit.evaluate("a * 2", a=[1, 2, 3]), [2, 4, 6])
    np.testing.assert_array_equal(arrjit.evaluate("a * 2", a=[[1.0], [2.0]]), [[2.0], [4.0]])


def test_results_own_their_memory_and_are_writeable():
    a = np.arange(4.0)
    r = arrjit.evaluate("a + 1")
    assert r.flags.c_contiguous and r.flags.writeable
    r[0] = 42.0
    assert a[0] == 0.0


# --- out= --------------------------------------------------------------------

def test_out_is_written_and_returned():
    a = np.arange(5.0)
    out = np.empty(5)
    r = arrjit.evaluate("a * 2", out=out)
    assert r is out
    np.testing.assert_array_equal(out, a * 2)


def test_out_strided_and_fortran_views():
    m = np.arange(12.0).reshape(3, 4)
    big = np.zeros((6, 8))
    arrjit.evaluate("m + 1", out=big[::2, ::2])
    np.testing.assert_array_equal(big[::2, ::2], m + 1)
    assert big[1::2].sum() == 0 and big[:, 1::2].sum() == 0
    f = np.zeros((3, 4), order="F")
    arrjit.evaluate("m * 2", out=f)
    np.testing.assert_array_equal(f, m * 2)
    r = np.zeros(12)
    arrjit.evaluate("x", x=np.arange(12.0), out=r[::-1])
    np.testing.assert_array_equal(r, np.arange(12.0)[::-1])


def test_out_in_place():
    x = np.arange(6.0)
    arrjit.evaluate("x * 2 + 1", out=x)
    np.testing.assert_array_equal(x, np.arange(6.0) * 2 + 1)
    m = np.arange(6.0).reshape(2, 3).T  # a Fortran-order view, in place
    arrjit.evaluate("m - 1", out=m)
    np.testing.assert_array_equal(m, np.arange(6.0).reshape(2, 3).T - 1)


def test_out_in_place_with_a_reduction_reads_a_copy():
    x = np.arange(5.0)
    arrjit.evaluate("x - mean(x)", out=x)
    np.testing.assert_array_equal(x, np.arange(5.0) - 2.0)
    x = np.arange(5.0)
    arrjit.evaluate("cumsum(x)", out=x)
    np.testing.assert_array_equal(x, np.cumsum(np.arange(5.0)))


def test_out_overlapping_inputs_reads_them_as_before_the_call():
    x = np.arange(10.0)
    arrjit.evaluate("y + 1", y=x[:-1], out=x[1:])
    np.testing.assert_array_equal(x, np.r_[0.0, np.arange(9.0) + 1])
    x = np.arange(10.0)
    arrjit.evaluate("y * 10", y=x[::2], out=x[1::2])
    np.testing.assert_array_equal(x[1::2], np.arange(0.0, 10.0, 2) * 10)
    x = np.arange(6.0)
    arrjit.evaluate("p + q", p=x, q=x[::-1], out=x)
    np.testing.assert_array_equal(x, np.full(6, 5.0))


def test_out_errors():
    a = np.arange(4.0)
    with pytest.raises(arrjit.ArrjitError, match=r"f32 of shape \(4,\), the result is f64"):
        arrjit.evaluate("a * 2", out=np.empty(4, np.float32))
    with pytest.raises(arrjit.ArrjitError, match="shape"):
        arrjit.evaluate("a * 2", out=np.empty(5))
    ro = np.empty(4)
    ro.flags.writeable = False
    with pytest.raises(arrjit.ArrjitError, match="read-only"):
        arrjit.evaluate("a * 2", out=ro)
    with pytest.raises(arrjit.ArrjitError, match="must be a NumPy array"):
        arrjit.evaluate("a * 2", out=[0.0] * 4)
    with pytest.raises(arrjit.ArrjitError, match="writes some elements twice"):
        arrjit.evaluate("a * 2", out=np.lib.stride_tricks.as_strided(np.zeros(4), (4,), (0,)))


# --- layouts -----------------------------------------------------------------

LAYOUTS = {
    "c": lambda m: m,
    "fortran": np.asfortranarray,
    "transposed": lambda m: np.ascontiguousarray(m.T).T,
    "reversed": lambda m: m[::-1, ::-1].copy()[::-1, ::-1],
    "strided": lambda m: np.repeat(np.repeat(m, 2, 0), 3, 1)[::2, ::3],
    "column-slice": lambda m: np.hstack([m, m])[:, : m.shape[1]],
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32, np.int64])
def test_any_strides_without_copying(layout, dtype):
    m = (RNG.standard_normal((5, 7)) * 10).astype(dtype)
    v = LAYOUTS[layout](m)
    np.testing.assert_array_equal(v, m)
    r = arrjit.evaluate("v * 2 + v", v=v)
    np.testing.assert_array_equal(r, m * 2 + m)
    np.testing.assert_array_equal(arrjit.evaluate("sum(v, axis=0)", v=v), m.sum(axis=0))


def test_views_are_read_in_place():
    # A view into a buffer whose other elements would change the result
    # if they were read: nothing but the view's elements matters.
    base = np.full(40, np.nan)
    base[::4] = np.arange(10.0)
    np.testing.assert_array_equal(arrjit.evaluate("sum(x)", x=base[::4]), 45.0)
    np.testing.assert_array_equal(arrjit.evaluate("x", x=base[36::-4]), np.arange(10.0)[::-1])


def test_broadcast_views_and_rank_zero_arrays():
    row = np.broadcast_to(np.arange(3.0), (4, 3))
    np.testing.assert_array_equal(arrjit.evaluate("r + 1", r=row), row + 1)
    np.testing.assert_array_equal(arrjit.evaluate("s * 2", s=np.array(3.0)), 6.0)


def test_bool_inputs():
    b = np.array([True, False, True])
    np.testing.assert_array_equal(arrjit.evaluate("where(b, 1, 2)"), [1, 2, 1])
    bad = np.array([0, 1, 2], dtype=np.uint8).view(np.bool_)
    with pytest.raises(arrjit.ArrjitError, match="bytes other than 0 and 1"):
        arrjit.evaluate("b and b", b=bad)
    with pytest.raises(arrjit.ArrjitError, match="output array is a bool array holding"):
        arrjit.evaluate("c", c=np.ones(3, np.bool_), out=bad)


def test_empty_arrays():
    z = np.empty(0)
    assert arrjit.evaluate("z + 1", z=z).shape == (0,)
    assert arrjit.evaluate("sum(z)", z=z) == 0.0
    assert arrjit.evaluate("m * 2", m=np.empty((0, 3))).shape == (0, 3)


@pytest.mark.parametrize(
    "value, what",
    [
        (np.zeros(3, np.complex128), "complex128"),
        (np.zeros(3, np.int8), "int8"),
        (np.zeros(3, np.uint64), "uint64"),
        (np.zeros(3, np.float16), "float16"),
        (np.zeros(3, ">f8"), "non-native byte order"),
        (np.array(["a"]), "<U1"),
        (np.array([object()]), "object"),
        (np.zeros((2, 2, 2)), "3 dimensions"),
        (np.zeros(12, np.uint8)[1:9].view(np.float64), "not aligned"),
        (np.zeros((3, 3), dtype=[("a", "<f8"), ("b", "<i4")])["a"], "whole number"),
    ],
)
def test_unsupported_inputs_are_refused_clearly(value, what):
    with pytest.raises(arrjit.ArrjitError) as info:
        arrjit.evaluate("x + 1", x=value)
    assert what in str(info.value)
    assert "input `x`" in str(info.value)
    assert info.value.kind == "call"


def test_other_objects_are_refused():
    with pytest.raises(arrjit.ArrjitError, match="input `x`"):
        arrjit.evaluate("x + 1", x="text")
    with pytest.raises(arrjit.ArrjitError, match="input `x`"):
        arrjit.evaluate("x + 1", x={"a": 1})


# --- compile -----------------------------------------------------------------

KERNELS = """
# Reference kernels.
kernel ewma(x: f64[n], alpha: f64) -> (y: f64[n]) {
    y[0] = x[0]
    y[i] = alpha * x[i] + (1 - alpha) * y[i-1]
}

kernel zscore(x: f64[n], w: i64) -> (z: f64[n], lo: f64, hi: f64) {
    let m = rolling_mean(x, w)
    let s = rolling_std(x, w)
    z = (x - m) / s
    lo = nanmin(z)
    hi = nanmax(z)
}

kernel scale(v: [n]) -> (y: [n]) {
    y = v * 2.0
}
"""


def ewma_reference(x, alpha):
    y = np.empty_like(x)
    y[0] = x[0]
    for i in range(1, len(x)):
        y[i] = alpha * x[i] + (1 - alpha) * y[i - 1]
    return y


def test_compiled_expression():
    e = arrjit.compile("2*a + 3*b**2 - sqrt(c)")
    assert isinstance(e, arrjit.Expression)
    assert e.inputs == ["a", "b", "c"]
    assert e.source == "2*a + 3*b**2 - sqrt(c)"
    a, b, c = (RNG.random(100) for _ in range(3))
    want = 2 * a + 3 * b**2 - np.sqrt(c)
    np.testing.assert_allclose(e(a, b, c), want, rtol=1e-15)
    np.testing.assert_allclose(e(c=c, b=b, a=a), want, rtol=1e-15)
    np.testing.assert_allclose(e(a, b, c=c), want, rtol=1e-15)
    out = np.empty(100)
    assert e(a, b, c, out=out) is out
    with pytest.raises(arrjit.ArrjitError, match="takes 3 argument"):
        e(a, b, c, a)
    with pytest.raises(arrjit.ArrjitError, match="given twice"):
        e(a, b, c, a=a)


def test_kernels_as_attributes():
    k = arrjit.compile(KERNELS)
    assert isinstance(k, arrjit.Module)
    assert k.kernels == ["ewma", "zscore", "scale"]
    assert {"ewma", "zscore", "scale"} <= set(dir(k))
    x = RNG.standard_normal(1000)
    np.testing.assert_allclose(k.ewma(x, 0.1), ewma_reference(x, 0.1), rtol=1e-12)
    np.testing.assert_allclose(k.ewma(alpha=0.1, x=x), ewma_reference(x, 0.1), rtol=1e-12)
    assert k.ewma.params == ["x", "alpha"] and k.ewma.outputs == ["y"]
    assert k.kernel("ewma").name == "ewma"


def test_kernel_with_several_outputs_returns_a_tuple():
    k = arrjit.compile(KERNELS)
    x = RNG.standard_normal(500)
    z, lo, hi = k.zscore(x, 20)
    w = 20
    m = np.convolve(x, np.ones(w) / w, "valid")
    s = np.array([x[i : i + w].std() for i in range(len(x) - w + 1)])
    want = (x[w - 1 :] - m) / s
    np.testing.assert_allclose(z[w - 1 :], want, rtol=1e-9, atol=1e-12)
    assert np.isnan(z[: w - 1]).all()
    assert type(lo) is np.float64 and type(hi) is np.float64
    assert lo == np.nanmin(z) and hi == np.nanmax(z)


def test_untyped_kernel_parameter_specialises_per_dtype():
    k = arrjit.compile(KERNELS)
    assert k.scale(np.arange(3, dtype=np.float32)).dtype == np.float32
    assert k.scale(np.arange(3.0)).dtype == np.float64


def test_kernel_errors():
    k = arrjit.compile(KERNELS)
    with pytest.raises(AttributeError, match="did you mean `ewma`"):
        k.ewmaa
    with pytest.raises(arrjit.ArrjitError, match="no value given for parameter `alpha`"):
        k.ewma(np.arange(3.0))
    with pytest.raises(arrjit.ArrjitError, match="takes 2 argument"):
        k.ewma(np.arange(3.0), 0.1, 3)
    f = arrjit.compile("kernel f(x: f64[n]) -> (y: f64[n]) { y[i] = y[i-1] + x[i] }").f
    with pytest.raises(arrjit.ArrjitError) as info:
        f(np.arange(3.0))
    assert "y[0]" in str(info.value) or "boundary" in str(info.value)
    assert info.value.span is not None


def test_compile_tells_kernels_from_expressions_by_the_first_word():
    assert isinstance(arrjit.compile("# doc\n  kernel f(x: f64) -> (y: f64) { y = x }"), arrjit.Module)
    assert isinstance(arrjit.compile("kernels * 2"), arrjit.Expression)
    assert isinstance(arrjit.compile("a * 2 # kernel"), arrjit.Expression)
    with pytest.raises(arrjit.ArrjitError) as info:
        arrjit.compile("kernel f(x: f64) -> (y: f64) { y = }")
    assert info.value.kind == "parse"


def test_compile_errors_have_spans():
    with pytest.raises(arrjit.ArrjitError) as info:
        arrjit.compile("a + sqrtt(b)")(1.0, 2.0)
    e = info.value
    assert isinstance(e, ValueError)
    assert e.kind == "unknown_function"
    assert e.source[e.start : e.end] == "sqrtt"
    assert "did you mean `sqrt`" in str(e)
    assert "1 | a + sqrtt(b)" in str(e)


# --- configuration and statistics --------------------------------------------

def test_engine_modes_agree():
    a = RNG.standard_normal((4, 6))
    # (`a` by keyword: on Python < 3.12 a comprehension has a frame of its own)
    results = [
        arrjit.Engine(mode=m).evaluate(
            "where(a > 0, a * 2, exp(a)) - mean(a, axis=1, keepdims=true)", a=a)
        for m in ("fused", "unfused", "interpret")
    ]
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_stats_count_hits_and_misses():
    e = arrjit.Engine(cache_capacity=2)
    assert e.config["cache_capacity"] == 2 and e.config["mode"] == "fused"
    a = np.arange(3.0)
    e.evaluate("a + 1")
    e.evaluate("a + 1")
    e.evaluate("a + 1", a=a.astype(np.float32))
    e.evaluate("a + 2")
    s = e.stats()
    assert (s.misses, s.evictions, s.entries) == (3, 1, 2)
    assert s.hits >= 1 and s.code_bytes > 0 and s.compile_time > 0
    assert "CacheStats(" in repr(s)
    e.clear_cache()
    assert e.stats().entries == 0


def test_many_short_rows_tier_up_with_the_same_results():
    e = arrjit.Engine()
    src = "(m - mean(m, axis=1, keepdims=true)) / std(m, axis=1, keepdims=true)"
    m = np.random.default_rng(7).standard_normal((20_000, 10))
    first = e.evaluate(src, m=m)
    assert e.stats().tier_ups == 0
    # 40,000 short rows in all: past the default count, so the second
    # tier compiles once and gives the same bits.
    second = e.evaluate(src, m=m)
    assert e.stats().tier_ups == 1 and "tier_ups=1" in repr(e.stats())
    assert first.tobytes() == second.tobytes()
    e.evaluate(src, m=m)
    assert e.stats().tier_ups == 1
    assert e.config["tier_up_lanes"] == 32768


def test_tier_up_lanes_is_configurable():
    src = "sum(m, axis=1) + max(m, axis=1)"
    m = np.arange(30.0).reshape(10, 3)
    eager = arrjit.Engine(tier_up_lanes=0)
    never = arrjit.Engine(tier_up_lanes=2**64 - 1)
    a, b = eager.evaluate(src, m=m), never.evaluate(src, m=m)
    assert a.tobytes() == b.tobytes()
    assert (eager.stats().tier_ups, never.stats().tier_ups) == (1, 0)
    assert eager.config["tier_up_lanes"] == 0


def test_configure_replaces_the_default_engine():
    before = arrjit.get_config()
    try:
        arrjit.configure(mode="interpret")
        assert arrjit.get_config()["mode"] == "interpret"
        assert arrjit.evaluate("1 + x", x=np.arange(2)).tolist() == [1, 2]
    finally:
        arrjit.configure(**{k: before[k] for k in ("mode", "cache_capacity", "opt_level", "verify")})
    assert arrjit.get_config() == before
    assert isinstance(arrjit.stats(), arrjit.CacheStats)


def test_fast_math_is_opt_in_and_contracts_products():
    a = 0.1 + np.arange(19.0)
    b = 10.0 - 0.3 * np.arange(19.0)
    c = -(a * b)
    strict = arrjit.Engine()
    fast = arrjit.Engine(fast_math=True)
    assert strict.config["fast_math"] is False and fast.config["fast_math"] is True
    s = strict.evaluate("a*b+c", a=a, b=b, c=c)
    assert (s == 0).all()
    f = fast.evaluate("a*b+c", a=a, b=b, c=c)
    # With an FMA instruction the rounding error of each product shows; the
    # error is below one ulp of the product either way.
    assert (np.abs(f) <= np.spacing(np.abs(a * b))).all()
    assert arrjit.set_fast_math(True) is False
    try:
        assert arrjit.get_config()["fast_math"] is True
        assert arrjit.set_fast_math(False) is True
    finally:
        arrjit.set_fast_math(False)
    assert arrjit.get_config()["fast_math"] is False


def test_bad_configuration():
    with pytest.raises(arrjit.ArrjitError, match="unknown mode"):
        arrjit.Engine(mode="fast")
    with pytest.raises(arrjit.ArrjitError, match="unknown opt_level"):
        arrjit.Engine(opt_level="max")


def test_limits():
    e = arrjit.Engine(max_depth=10, max_source_len=50)
    with pytest.raises(arrjit.ArrjitError) as info:
        e.evaluate("(" * 20 + "x" + ")" * 20, x=1.0)
    assert info.value.kind == "limit"
    with pytest.raises(arrjit.ArrjitError) as info:
        e.evaluate("x" + " + x" * 30, x=1.0)
    assert info.value.kind == "limit"


# --- threads -----------------------------------------------------------------

def test_threads_call_kernels_concurrently():
    k = arrjit.compile(KERNELS)
    e = arrjit.compile("sqrt(abs(x)) * 2 + sum(x)")
    xs = [RNG.standard_normal(20_000) for _ in range(8)]
    want_k = [ewma_reference(x, 0.3) for x in xs]
    want_e = [np.sqrt(np.abs(x)) * 2 + x.sum() for x in xs]
    errors = []

    def work(t):
        try:
            for _ in range(20):
                for i, x in enumerate(xs):
                    if (i + t) % 2:
                        np.testing.assert_allclose(k.ewma(x, 0.3), want_k[i], rtol=1e-12)
                    else:
                        np.testing.assert_allclose(e(x), want_e[i], rtol=1e-12)
                        np.testing.assert_allclose(arrjit.evaluate("x * 2", x=x), x * 2)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_the_gil_is_released_while_a_kernel_runs():
    x = RNG.standard_normal(4_000_000)
    expr = arrjit.compile("sum(sin(x) * cos(x) + sqrt(abs(x)))")
    expr(x)  # compile first
    start = time.perf_counter()
    expr(x)
    alone = time.perf_counter() - start
    ticks = 0
    done = threading.Event()

    def run():
        for _ in range(3):
            expr(x)
        done.set()

    t = threading.Thread(target=run)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        t.start()
        while not done.is_set():
            ticks += 1
        t.join()
    finally:
        sys.setswitchinterval(switch)
    # Holding the GIL for 3 calls would leave this loop a few ticks per
    # switch interval at best; released, it spins freely meanwhile.
    assert ticks > 1000 * max(1.0, alone * 100), (ticks, alone)


def test_a_writer_and_a_reader_of_the_same_array_do_not_race():
    # Each call borrows its arrays through the numpy crate's tracking: a
    # reader of `x` while another call writes it (or the other way round)
    # fails cleanly instead of racing.
    x = np.zeros(2_000_000)
    a = np.ones(2_000_000)
    unexpected, writes = [], []

    def write():
        for _ in range(10):
            try:
                arrjit.evaluate("a * 2", a=a, out=x)
                writes.append(1)
            except arrjit.ArrjitError as e:
                if "in use by another call" not in str(e):
                    unexpected.append(e)

    def read():
        for _ in range(30):
            try:
                total = arrjit.evaluate("sum(x)", x=x)
                if total not in (0.0, 4_000_000.0):
                    unexpected.append(total)  # a torn read
            except arrjit.ArrjitError as e:
                if "being written by another call" not in str(e):
                    unexpected.append(e)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not unexpected, unexpected
    assert writes
    np.testing.assert_array_equal(x, a * 2)


# --- never a crash -------------------------------------------------------------

GARBAGE = [
    "", " ", "(", ")", "a +", "+", "1 2", "a < b < c", "sum(", "sum(a, axis=5)",
    "where(a)", "select([a], [1])", "a[", "kernel", "kernel f(", "let x = 1",
    "\x00", "é + 1", "a ** ** b", "1e999999", "99999999999999999999999",
    "(" * 5000 + ")" * 5000, "-" * 100000 + "a", "a" * 100000, "not not not a",
    "a // 0", "a % 0", "rolling_mean(a, 0)", "rolling_mean(a, -3)", "ewm_mean(a, 2)",
    "shift(a, 99999999999)", "diff(a, n=100)", "argmin(a[0:0])" ,
]


@pytest.mark.parametrize("source", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_raises_arrjit_errors_only(source):
    a = np.arange(3.0)
    b = np.arange(3.0)
    c = np.arange(3.0)
    try:
        arrjit.evaluate(source, {"a": a, "b": b, "c": c}, {})
    except arrjit.ArrjitError as e:
        assert e.kind != "internal", str(e)
        assert isinstance(e.message, str) and isinstance(e.notes, list)
    try:
        arrjit.compile(source)
    except arrjit.ArrjitError as e:
        assert e.kind != "internal", str(e)
    try:
        arrjit.evaluate("min(a)", a=np.empty(0))
    except arrjit.ArrjitError as e:
        assert "min" in str(e)
