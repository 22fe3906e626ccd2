"""arrjit: array expressions compiled to fused native loops.

``evaluate`` is a drop-in for ``numexpr.evaluate``::

    import arrjit, numpy as np
    a = np.arange(5.0)
    arrjit.evaluate("a * 2 + 1")          # array([1., 3., 5., 7., 9.])

``compile`` keeps a parsed expression, or a source file of kernels with each
kernel as an attribute::

    k = arrjit.compile('''
    kernel ewma(x: f64[n], alpha: f64) -> (y: f64[n]) {
        y[0] = x[0]
        y[i] = alpha * x[i] + (1 - alpha) * y[i-1]
    }''')
    y = k.ewma(x, 0.1)

Inputs are NumPy arrays of dtype bool, int32, int64, float32 or float64, of
rank 0, 1 or 2, with any strides (views, reversed, Fortran order): they are
read where they are, never copied (except an input sharing memory with
``out=``). Python ``bool``/``int``/``float`` values are typed scalars
(``bool``, ``int64``, ``float64``). Other dtypes are refused with an
``ArrjitError``, not converted. The GIL is released while compiled code runs.
The language is described in the README of the repository.
"""

from ._arrjit import (
    ArrjitError,
    CacheStats,
    Engine,
    Expression,
    Kernel,
    Module,
    clear_cache,
    compile,
    configure,
    evaluate,
    get_config,
    get_engine,
    get_num_threads,
    set_fast_math,
    set_num_threads,
    stats,
)

__version__ = "0.1.0"


__all__ = [
    "ArrjitError",
    "CacheStats",
    "Engine",
    "Expression",
    "Kernel",
    "Module",
    "clear_cache",
    "compile",
    "configure",
    "evaluate",
    "get_config",
    "get_engine",
    "get_num_threads",
    "set_fast_math",
    "set_num_threads",
    "stats",
]
