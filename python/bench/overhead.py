"""Call overhead of arrjit from Python on a 10-element array, next to
numexpr (if installed) and plain NumPy. Best of 7 repeats of N calls.

    python python/bench/overhead.py
"""

import timeit

import numpy as np

import arrjit

try:
    import numexpr
except ImportError:
    numexpr = None

N = 20_000
a = np.arange(10.0)
b = np.arange(10.0)
c = np.arange(10.0)
out = np.empty(10)
expr = arrjit.compile("a*b+c")

CASES = [
    ("arrjit.evaluate('a*b+c')  (names from the frame)", "arrjit.evaluate('a*b+c')"),
    ("arrjit.evaluate('a*b+c', a=a, b=b, c=c)", "arrjit.evaluate('a*b+c', a=a, b=b, c=c)"),
    ("arrjit.evaluate('a*b+c', out=out)", "arrjit.evaluate('a*b+c', out=out)"),
    ("arrjit.compile('a*b+c')(a, b, c)", "expr(a, b, c)"),
    ("sum: arrjit.evaluate('sum(a*b)')", "arrjit.evaluate('sum(a*b)')"),
]
if numexpr is not None:
    CASES.append(("numexpr.evaluate('a*b+c')", "numexpr.evaluate('a*b+c')"))
    CASES.append(("numexpr.evaluate('sum(a*b)')", "numexpr.evaluate('sum(a*b)')"))
CASES.append(("numpy: a*b+c", "a*b+c"))

for label, stmt in CASES:
    eval(compile(stmt, "<warm-up>", "eval"))
    t = min(timeit.repeat(stmt, globals=globals(), number=N, repeat=7)) / N
    print(f"{label:<50} {t * 1e6:7.2f} us")
