"""Threads: the thread count is configurable per engine and for the default
engine, and a large call gives the same bits on any number of threads."""

import numpy as np

import arrjit


def test_engine_threads_are_configurable():
    assert arrjit.Engine(num_threads=3).config["num_threads"] == 3
    assert arrjit.Engine(num_threads=1).config["num_threads"] == 1
    assert arrjit.Engine().config["num_threads"] >= 1


def test_set_num_threads_returns_the_previous_count():
    before = arrjit.get_num_threads()
    try:
        assert arrjit.set_num_threads(3) == before
        assert arrjit.get_num_threads() == 3
        assert arrjit.get_config()["num_threads"] == 3
        assert arrjit.set_num_threads(1) == 3
        assert arrjit.get_num_threads() == 1
    finally:
        arrjit.set_num_threads(before)
    assert arrjit.get_num_threads() == before


def test_results_do_not_depend_on_threads():
    rng = np.random.default_rng(6)
    a, b, c = rng.standard_normal((3, 200_001))
    a[::997] = np.nan
    m = rng.standard_normal((501, 301))
    cases = [
        ("a * b + c", dict(a=a, b=b, c=c)),
        ("exp(a)", dict(a=a)),
        ("where(a > 0.5, a * 10, a * 0.5)", dict(a=a)),
        ("(m - mean(m, axis=1, keepdims=true)) / std(m, axis=1, keepdims=true)", dict(m=m)),
        ("sum(a)", dict(a=a)),
        ("cumsum(a)", dict(a=a)),
        ("(a - rolling_mean(a, 100)) / rolling_std(a, 100)", dict(a=a)),
    ]
    engines = [arrjit.Engine(num_threads=n) for n in (1, 2, 3)]
    for src, names in cases:
        one, *others = [e.evaluate(src, **names) for e in engines]
        for other in others:
            assert np.asarray(one).tobytes() == np.asarray(other).tobytes(), src
    # Everything but the scan ran in chunks on the engines with threads.
    assert [e.stats().split_calls for e in engines] == [0, 6, 6]
    # Into a preallocated, sliced and transposed output.
    for out in (np.empty((501, 301)), np.empty((301, 501)).T, np.empty((501, 602))[:, ::2]):
        engines[2].evaluate("m * 2 + 1", m=m, out=out)
        assert (out == m * 2 + 1).all()


RECURRENCES = """
kernel running_max(x: f64[n]) -> (y: f64[n]) {
    y[0] = x[0]
    y[i] = maximum(y[i-1], x[i])
}
kernel ewma(x: f64[n], alpha: f64) -> (y: f64[n]) {
    y[0] = x[0]
    y[i] = alpha * x[i] + (1 - alpha) * y[i-1]
}
"""


def test_recurrences_split_with_the_same_bits():
    rng = np.random.default_rng(7)
    x = rng.standard_normal(400_001)
    x[123_457] = np.nan
    x[200_000:] = -np.abs(x[200_000:])
    engines = [arrjit.Engine(num_threads=n) for n in (1, 2)]
    modules = [e.compile(RECURRENCES) for e in engines]
    # A NaN stays in EWMA's every later row, so that a chunk started afresh
    # never converges: the smoothing gets the series without it.
    smooth = np.nan_to_num(x)
    for call in (lambda m: m.running_max(x), lambda m: m.ewma(smooth, 0.1)):
        one, two = (np.asarray(call(m)) for m in modules)
        assert one.tobytes() == two.tobytes()
    head = x[:123_457]
    np.testing.assert_array_equal(modules[1].running_max(head), np.maximum.accumulate(head))
    stats = engines[1].stats()
    assert stats.split_calls == 2 and engines[0].stats().split_calls == 0
    # EWMA's repairs recompute a few hundred rows a chunk, not the chunks.
    assert 0 <= stats.repaired_rows < 400_001 // 4
