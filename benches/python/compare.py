#!/usr/bin/env python3
"""arrjit against NumPy, numexpr and Numba on the workloads of `arrjit bench`.

    pip install numpy numexpr numba pandas     # whichever you want compared
    cargo build --release
    python3 benches/python/compare.py                  # runs arrjit bench itself
    python3 benches/python/compare.py results.json     # or reads its --json output
    python3 benches/python/compare.py --quick --threads 2

The sizes are those in the arrjit results (each workload's `n`), the
statistics the same as arrjit's: one warm-up run, then the median of --runs
timed runs. The systems are timed in interleaved rounds (each round runs every
system once, in an order rotated round by round), so that a shared machine's
drift does not favour whichever system happened to run in a quiet moment. Each system runs the workload the way its users write
it: NumPy allocating its results (ufunc chains make temporaries), numexpr and
Numba writing into a preallocated output as arrjit's fused mode does. NumPy has
no EWMA or rolling window: those rows use pandas when it is installed. Numba's
compile time is the eager compile of the typed signature, beside arrjit's
(lower + plan + Cranelift) for the same workload.

When the `arrjit` Python module is installed (`pip install .` at the repository
root), arrjit is also timed in process, through `arrjit.evaluate(..., out=...)`
and the kernels of examples/kernels.ak called with `out=`, with no process or
file in between: the "arrjit (py)" column, the call as a NumPy user makes it.

Every system's result is checked against NumPy's (or pandas') before timing.
Single-threaded by default; --threads N sets numexpr's, Numba's and the arrjit
module's threads (Numba's elementwise loops then use prange) and compares with
arrjit's fused-mt mode when the results have it. Not needed by CI.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLS = 500  # the row-normalisation matrix's width, as in arrjit bench


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("json", nargs="?", help="output of `arrjit bench --json` (else it is run)")
    p.add_argument("--arrjit", default=os.path.join(ROOT, "target", "release", "arrjit"),
                   help="the arrjit binary to run when no JSON is given")
    p.add_argument("--n", type=lambda s: int(s.replace("_", "")), help="passed to arrjit bench")
    p.add_argument("--quick", action="store_true", help="passed to arrjit bench")
    p.add_argument("--runs", type=int, help="timed runs per figure (default: as arrjit, 9 or 5 with --quick)")
    p.add_argument("--threads", type=int, default=1, help="threads for numexpr and Numba")
    p.add_argument("--only", help="comma-separated workload names")
    return p.parse_args()


def arrjit_results(args):
    if args.json:
        with open(args.json) as f:
            return json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "arrjit.json")
        cmd = [args.arrjit, "bench", "--json", path, "--modes", "fused,fused-mt"]
        if args.n:
            cmd += ["--n", str(args.n)]
        if args.quick:
            cmd.append("--quick")
        if args.only:
            cmd += ["--only", args.only]
        print("running:", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        with open(path) as f:
            return json.load(f)


def setup_threads(threads):
    # Before the imports: these libraries read them once.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "NUMEXPR_MAX_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(max(threads, 1))


def optional(name):
    try:
        return __import__(name)
    except ImportError:
        return None


def inputs(np, n, rows):
    rng = np.random.default_rng(12345)
    return {
        "a": rng.random(n),
        "b": rng.random(n),
        "c": 1.0 + rng.random(n),
        "x": rng.uniform(-3.0, 3.0, n),
        "m": rng.random((rows, COLS)),
    }


ALPHA, W = 0.1, 100


def numpy_impls(np, pd):
    """Reference implementations: each returns the result (allocating)."""
    impls = {
        "sum": lambda d: d["a"].sum(),
        "a*b+c": lambda d: d["a"] * d["b"] + d["c"],
        "2*a + 3*b**2 - sqrt(c)": lambda d: 2 * d["a"] + 3 * d["b"] ** 2 - np.sqrt(d["c"]),
        "exp": lambda d: np.exp(d["x"]),
        "sin": lambda d: np.sin(d["x"]),
        "clip": lambda d: np.clip(d["x"], -1, 1),
        "where": lambda d: np.where(d["x"] > 0.5, d["x"] * 10, d["x"] * 0.5),
        "select": lambda d: np.select([d["x"] < -1, d["x"] < 1], [0.0, d["x"]], d["x"] * 2),
        "diff": lambda d: np.diff(d["x"]),
        "cumsum": lambda d: np.cumsum(d["x"]),
        "running_max": lambda d: np.maximum.accumulate(d["x"]),
        "rownorm": lambda d: (d["m"] - d["m"].mean(axis=1, keepdims=True))
        / d["m"].std(axis=1, keepdims=True),
    }
    if pd is not None:
        def ewma(d):
            return pd.Series(d["x"]).ewm(alpha=ALPHA, adjust=False).mean().to_numpy()

        def zscore(d):
            s = pd.Series(d["x"])
            r = s.rolling(W)
            z = ((s - r.mean()) / r.std(ddof=0)).to_numpy()
            return z, np.nanmin(z), np.nanmax(z)

        impls["ewma"] = ewma
        impls["zscore"] = zscore
    return impls


NUMEXPR = {
    "sum": "sum(a)",
    "a*b+c": "a*b+c",
    "2*a + 3*b**2 - sqrt(c)": "2*a + 3*b**2 - sqrt(c)",
    "exp": "exp(x)",
    "sin": "sin(x)",
    "clip": "where(x < -1, -1, where(x > 1, 1, x))",
    "where": "where(x > 0.5, x*10, x*0.5)",
    "select": "where(x < -1, 0.0, where(x < 1, x, x*2))",
    "diff": "x1 - x0",
}


ARRJIT_EXPRS = {
    "sum": "sum(a)",
    "a*b+c": "a*b+c",
    "2*a + 3*b**2 - sqrt(c)": "2*a + 3*b**2 - sqrt(c)",
    "exp": "exp(x)",
    "sin": "sin(x)",
    "clip": "clip(x, -1, 1)",
    "where": "where(x > 0.5, x*10, x*0.5)",
    "select": "select([x < -1, x < 1], [0.0, x], x * 2)",
    "diff": "diff(x)",
    "cumsum": "cumsum(x)",
    "rownorm": "(m - mean(m, axis=1, keepdims=true)) / std(m, axis=1, keepdims=true)",
}


def arrjit_py_impls(np, aj):
    """The arrjit module in process: expressions and kernels into a
    preallocated output (`out=`; a reduction returns its scalar, zscore's
    `lo` and `hi` come back as scalars), as Numba is timed."""
    with open(os.path.join(ROOT, "examples", "kernels.ak")) as f:
        kernels = aj.compile(f.read())

    def make(name, expr):
        def run(d, out):
            names = {k: d[k] for k in re.findall(r"[A-Za-z_]\w*", expr) if k in d}
            if name == "sum":
                return aj.evaluate(expr, local_dict=names)
            aj.evaluate(expr, local_dict=names, out=out)
            return out
        return run

    impls = {name: make(name, expr) for name, expr in ARRJIT_EXPRS.items()}
    impls["running_max"] = lambda d, out: kernels.running_max(d["x"], out=out)
    impls["ewma"] = lambda d, out: kernels.ewma(d["x"], ALPHA, out=out)
    impls["zscore"] = lambda d, out: kernels.zscore(d["x"], W, out=(out, None, None))
    return impls


def numexpr_impls(np, ne):
    def make(name, expr):
        def run(d, out):
            if name == "sum":
                return ne.evaluate(expr, local_dict={"a": d["a"]})
            if name == "diff":
                ne.evaluate(expr, local_dict={"x1": d["x"][1:], "x0": d["x"][:-1]}, out=out)
                return out
            names = {k: d[k] for k in "abcx" if k in expr}
            ne.evaluate(expr, local_dict=names, out=out)
            return out
        return run
    return {name: make(name, expr) for name, expr in NUMEXPR.items()}


def numba_impls(np, numba, threads):
    """(signature, python function) per workload; compiled eagerly later."""
    rng = numba.prange if threads > 1 else range

    def sum_(a):
        acc = 0.0
        for i in range(a.shape[0]):
            acc += a[i]
        return acc

    def axpy(a, b, c, out):
        for i in rng(a.shape[0]):
            out[i] = a[i] * b[i] + c[i]

    def poly(a, b, c, out):
        for i in rng(a.shape[0]):
            out[i] = 2.0 * a[i] + 3.0 * b[i] ** 2 - np.sqrt(c[i])

    def exp(x, out):
        for i in rng(x.shape[0]):
            out[i] = np.exp(x[i])

    def sin(x, out):
        for i in rng(x.shape[0]):
            out[i] = np.sin(x[i])

    def clip(x, out):
        for i in rng(x.shape[0]):
            out[i] = min(max(x[i], -1.0), 1.0)

    def where(x, out):
        for i in rng(x.shape[0]):
            out[i] = x[i] * 10.0 if x[i] > 0.5 else x[i] * 0.5

    def select(x, out):
        for i in rng(x.shape[0]):
            v = x[i]
            out[i] = 0.0 if v < -1.0 else (v if v < 1.0 else v * 2.0)

    def diff(x, out):
        for i in rng(x.shape[0] - 1):
            out[i] = x[i + 1] - x[i]

    def cumsum(x, out):
        acc = 0.0
        for i in range(x.shape[0]):
            acc += x[i]
            out[i] = acc

    def running_max(x, out):
        acc = x[0]
        for i in range(x.shape[0]):
            if x[i] > acc:
                acc = x[i]
            out[i] = acc

    def ewma(x, out):
        out[0] = x[0]
        for i in range(1, x.shape[0]):
            out[i] = ALPHA * x[i] + (1.0 - ALPHA) * out[i - 1]

    def zscore(x, out):
        mean = 0.0
        m2 = 0.0
        lo = np.inf
        hi = -np.inf
        for i in range(x.shape[0]):
            v = x[i]
            if i < W:
                d = v - mean
                mean += d / (i + 1)
                m2 += d * (v - mean)
            else:
                old = x[i - W]
                old_mean = mean
                mean += (v - old) / W
                m2 += (v - old) * (v - mean + old - old_mean)
            if i + 1 < W:
                out[i] = np.nan
                continue
            z = (v - mean) / np.sqrt(max(m2, 0.0) / W)
            out[i] = z
            lo = min(lo, z)
            hi = max(hi, z)
        return lo, hi

    def rownorm(m, out):
        rows, cols = m.shape
        for r in rng(rows):
            s = 0.0
            for j in range(cols):
                s += m[r, j]
            mean = s / cols
            v = 0.0
            for j in range(cols):
                v += (m[r, j] - mean) ** 2
            sd = np.sqrt(v / cols)
            for j in range(cols):
                out[r, j] = (m[r, j] - mean) / sd

    v, v2 = "f8[::1]", "f8[:, ::1]"
    return {
        "sum": (f"f8({v})", sum_, lambda d: (d["a"],)),
        "a*b+c": (f"void({v},{v},{v},{v})", axpy, lambda d: (d["a"], d["b"], d["c"])),
        "2*a + 3*b**2 - sqrt(c)": (f"void({v},{v},{v},{v})", poly, lambda d: (d["a"], d["b"], d["c"])),
        "exp": (f"void({v},{v})", exp, lambda d: (d["x"],)),
        "sin": (f"void({v},{v})", sin, lambda d: (d["x"],)),
        "clip": (f"void({v},{v})", clip, lambda d: (d["x"],)),
        "where": (f"void({v},{v})", where, lambda d: (d["x"],)),
        "select": (f"void({v},{v})", select, lambda d: (d["x"],)),
        "diff": (f"void({v},{v})", diff, lambda d: (d["x"],)),
        "cumsum": (f"void({v},{v})", cumsum, lambda d: (d["x"],)),
        "running_max": (f"void({v},{v})", running_max, lambda d: (d["x"],)),
        "ewma": (f"void({v},{v})", ewma, lambda d: (d["x"],)),
        "zscore": (f"UniTuple(f8, 2)({v},{v})", zscore, lambda d: (d["x"],)),
        "rownorm": (f"void({v2},{v2})", rownorm, lambda d: (d["m"],)),
    }


def median(xs):
    xs = sorted(xs)
    k = len(xs) // 2
    return xs[k] if len(xs) % 2 else (xs[k - 1] + xs[k]) / 2


def measure_interleaved(calls, runs):
    """Times every system's call `runs` times after one warm-up each, in
    rounds: each round calls every system once, the order rotated round by
    round, so that the machine's drift (other processes, frequency, memory
    traffic) falls on all systems alike and the ratios stay meaningful on a
    shared, noisy machine. Returns each system's median in seconds."""
    names = list(calls)
    for name in names:
        calls[name]()
    times = {name: [] for name in names}
    for r in range(runs):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            t = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - t)
    return {name: median(ts) for name, ts in times.items()}


def check(np, name, system, got, want):
    """Fail loudly when a system computes something else."""
    pairs = list(zip(got, want)) if isinstance(want, tuple) else [(got, want)]
    for g, w in pairs:
        if not np.allclose(np.asarray(g), np.asarray(w), rtol=1e-9, atol=1e-9, equal_nan=True):
            sys.exit(f"compare.py: {system} disagrees with the reference on `{name}`")


def main():
    args = parse_args()
    setup_threads(args.threads)
    np = optional("numpy")
    if np is None:
        sys.exit("compare.py needs NumPy: pip install numpy")
    pd, ne, numba = optional("pandas"), optional("numexpr"), optional("numba")
    aj = optional("arrjit")
    if aj is not None:
        # The in-process column runs on as many threads as the peers.
        aj.set_num_threads(args.threads)
    if ne is not None:
        ne.set_num_threads(args.threads)
    if numba is not None and args.threads > 1:
        numba.set_num_threads(args.threads)

    results = arrjit_results(args)
    mode = "fused"
    if args.threads > 1:
        if any(r["mode"] == "fused-mt" for r in results["results"]):
            mode = "fused-mt"
        else:
            print(f"note: these arrjit results have no fused-mt mode; its figures are one "
                  f"thread (fused) against {args.threads} threads for numexpr and Numba\n")
    arrjit = {r["workload"]: r for r in results["results"] if r["mode"] == mode}
    runs = args.runs or (5 if args.quick else 9)
    only = set(args.only.split(",")) if args.only else None

    ref = numpy_impls(np, pd)
    nex = numexpr_impls(np, ne) if ne is not None else {}
    nb = numba_impls(np, numba, args.threads) if numba is not None else {}

    ajp = arrjit_py_impls(np, aj) if aj is not None else {}
    systems = (["arrjit (py)"] if aj is not None else []) + ["numpy", "numexpr", "numba"]
    rows = []
    data_cache = {}
    for name, a in arrjit.items():
        if only and name not in only:
            continue
        if name not in ref:
            print(f"note: `{name}` has no NumPy version here (a user expression?); skipped",
                  file=sys.stderr)
            continue
        print(f"measuring {name} ...", file=sys.stderr)
        n = a["n"]
        if name == "rownorm":
            key = ("m", n)
            if key not in data_cache:
                data_cache[key] = inputs(np, COLS, n // COLS)
            d = data_cache[key]
        else:
            key = ("v", n)
            if key not in data_cache:
                data_cache.clear()
                data_cache[key] = inputs(np, n, 1)
            d = data_cache[key]
        want = ref[name](d)
        row = {"name": name, "n": n, "arrjit": a["median_s"], "arrjit_compile": a["compile_s"]}
        # NumPy (pandas for the windows and EWMA), allocating as users write it.
        calls = {"numpy": lambda: ref[name](d)}
        if name in ajp:
            if name == "rownorm":
                out = np.empty_like(d["m"])
            else:
                out = np.empty(d["x"].shape[0] - 1 if name == "diff" else d["x"].shape[0])
            check(np, name, "arrjit (py)", ajp[name](d, out), want)
            calls["arrjit (py)"] = lambda out=out: ajp[name](d, out)
        if name in nex:
            shape = d["x"].shape[0] - 1 if name == "diff" else d["x"].shape[0]
            out = np.empty(shape)
            check(np, name, "numexpr", nex[name](d, out), want)
            calls["numexpr"] = lambda out=out: nex[name](d, out)
        if name in nb:
            sig, fn, get = nb[name]
            parallel = args.threads > 1 and name not in ("sum", "cumsum", "running_max", "ewma", "zscore")
            t = time.perf_counter()
            jitted = numba.njit(sig, parallel=parallel, cache=False)(fn)
            row["numba_compile"] = time.perf_counter() - t
            ins = get(d)
            if name == "sum":
                call = lambda: jitted(*ins)
            elif name == "zscore":
                out = np.empty_like(d["x"])
                call = lambda: (out, *jitted(*ins, out))
            else:
                shape = d["x"].shape[0] - 1 if name == "diff" else ins[0].shape
                out = np.empty(shape)
                call = lambda: (jitted(*ins, out), out)[1]
            check(np, name, "Numba", call(), want)
            calls["numba"] = call
        row.update(measure_interleaved(calls, runs))
        rows.append(row)

    print_table(results, rows, systems, runs, mode, args.threads,
                {"arrjit": getattr(aj, "__version__", None) and "module",
                 "numpy": np.__version__, "numexpr": getattr(ne, "__version__", None),
                 "numba": getattr(numba, "__version__", None),
                 "pandas": getattr(pd, "__version__", None)})


def fmt_ms(s):
    if s is None:
        return "-"
    ms = s * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


def print_table(results, rows, systems, runs, mode, threads, versions):
    m = results["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores; STREAM triad {results['bandwidth_gbps']:.1f} GB/s (arrjit run)")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    base = "arrjit (py)" if "arrjit (py)" in systems else f"arrjit {mode}"
    print(f"median of {runs} interleaved runs after a warm-up, in ms; (x) = time / {base} "
          f"(above 1: arrjit is faster); threads: {threads}")
    print()
    head = f"{'workload':<24} {'n':>10} {'arrjit':>8}"
    for s in systems:
        head += f" {s:>16}"
    head += f" {'compile ms: arrjit':>19} {'numba':>7}"
    print(head)
    for r in rows:
        line = f"{r['name'][:24]:<24} {r['n']:>10} {fmt_ms(r['arrjit']):>8}"
        # Peers against arrjit measured in the same process and run when the
        # module is there, else against the harness's figure.
        base = r.get("arrjit (py)") or r["arrjit"]
        for s in systems:
            t = r.get(s)
            cell = "-" if t is None else f"{fmt_ms(t)} ({t / base:.2f}x)"
            line += f" {cell:>16}"
        ac = r.get("arrjit_compile")
        nc = r.get("numba_compile")
        line += f" {('-' if ac is None else f'{ac * 1e3:.2f}'):>19} {('-' if nc is None else f'{nc * 1e3:.0f}'):>7}"
        print(line)
    print()
    if "arrjit (py)" in systems:
        print("arrjit (py): the Python module in process (expressions and kernels into a "
              "preallocated output with out=; zscore's lo and hi are returned), measured "
              "beside the peers; the arrjit column is the harness's fused figure, from an "
              "earlier run.")
    print("numpy column: NumPy as users write it (allocating; ewma and zscore through pandas, "
          "rolling/ewm in C). numexpr and Numba write into a preallocated output, as arrjit "
          "fused does; '-': no natural version in that system.")


if __name__ == "__main__":
    main()
