"""Case-file generator for arrjit's tests/cases/*.toml.

Expected values come from NumPy 2.4 (evaluating the same expression), except
where a case gives `expect=` explicitly (arrjit's documented departures).
"""
import json, math, warnings, sys
import numpy as np

warnings.filterwarnings("ignore")

DT = {"bool": np.bool_, "i32": np.int32, "i64": np.int64, "f32": np.float32, "f64": np.float64}
NAME = {np.dtype(v): k for k, v in DT.items()}

NAN, INF = float("nan"), float("inf")


class In:
    def __init__(self, dtype, values, shape=None, scalar=False, order=None, stride=None, reverse=None):
        self.dtype, self.values, self.shape, self.scalar = dtype, values, shape, scalar
        self.order, self.stride, self.reverse = order, stride, reverse

    def np(self):
        t = DT[self.dtype]
        if self.scalar:
            return t(self.values)
        a = np.array(self.values, dtype=t)
        if self.shape is not None:
            a = a.reshape(self.shape)
        return a

    def toml(self):
        if self.scalar:
            body = f"{self.dtype} = {val(self.dtype, self.values)}"
        else:
            body = f"{self.dtype} = [{', '.join(val(self.dtype, v) for v in self.values)}]"
        if self.shape is not None:
            body += f", shape = {list(self.shape)}"
        if self.order:
            body += f', order = "{self.order}"'
        if self.stride:
            body += f", stride = {self.stride}"
        if self.reverse:
            body += ", reverse = true"
        return "{ " + body + " }"


def A(dtype, values, **kw):
    return In(dtype, values, **kw)


def S(dtype, value):
    return In(dtype, value, scalar=True)


def f64(*v, **kw): return In("f64", list(v), **kw)
def f32(*v, **kw): return In("f32", list(v), **kw)
def i32(*v, **kw): return In("i32", list(v), **kw)
def i64(*v, **kw): return In("i64", list(v), **kw)
def b(*v, **kw): return In("bool", list(v), **kw)


def val(dtype, v):
    if isinstance(v, str):
        return json.dumps(v)
    if dtype == "bool":
        return "true" if bool(v) else "false"
    if dtype in ("i32", "i64"):
        return str(int(v))
    x = float(np.float32(v)) if dtype == "f32" else float(v)
    if math.isnan(x):
        return '"nan"'
    if math.isinf(x):
        return '"inf"' if x > 0 else '"-inf"'
    return repr(x)


def sat(x, lo, hi):
    out = []
    for v in np.asarray(x, dtype=np.float64).ravel():
        if math.isnan(v):
            out.append(0)
        elif v >= hi:
            out.append(hi)
        elif v <= lo:
            out.append(lo)
        else:
            out.append(int(v))
    return out


def cast_fn(t):
    def f(x):
        a = np.asarray(x)
        if t in (np.int32, np.int64) and a.dtype.kind == "f":
            info = np.iinfo(t)
            return np.array(sat(a, info.min, info.max), dtype=t).reshape(a.shape)
        return a.astype(t)
    return f


def select(conds, choices, default=0):
    acc = default
    for c, v in reversed(list(zip(conds, choices))):
        acc = np.where(np.asarray(c).astype(bool), v, acc)
    return acc


NS = {n: getattr(np, n) for n in (
    "abs sign sqrt cbrt square reciprocal exp exp2 expm1 log log2 log10 log1p sin cos tan "
    "arcsin arccos arctan arctan2 sinh cosh tanh arcsinh arccosh arctanh floor ceil trunc rint "
    "hypot power fmod minimum maximum fmin fmax copysign isnan isinf isfinite signbit where clip").split()}
NS.update(true=np.True_, false=np.False_, nan=NAN, inf=INF, pi=math.pi, e=math.e,
          f32=cast_fn(np.float32), f64=cast_fn(np.float64), i32=cast_fn(np.int32),
          i64=cast_fn(np.int64), bool=cast_fn(np.bool_), select=select, np=np)

FILES = {}
CUR = None


def file(name):
    global CUR
    CUR = name
    FILES.setdefault(name, [])


def case(name, expr, inputs=None, np_expr=None, expect=None, dtype=None, shape=None, tol=None,
         note=None, known_bug=None):
    inputs = inputs or {}
    if expect is None:
        env = dict(NS)
        env.update({k: v.np() for k, v in inputs.items()})
        r = np.asarray(eval(np_expr or expr, env))
        if r.dtype not in NAME:
            raise SystemExit(f"{CUR}: {name}: numpy dtype {r.dtype}")
        dt = NAME[r.dtype]
        if dtype is not None and dtype != dt:
            raise SystemExit(f"{CUR}: {name}: numpy dtype {dt}, case says {dtype}")
        dtype = dt
        shp = list(r.shape)
        expect = r.ravel().tolist()
        if shape is None:
            shape = shp
        elif list(shape) != shp:
            raise SystemExit(f"{CUR}: {name}: numpy shape {shp}")
    else:
        assert dtype is not None, name
        if not isinstance(expect, list):
            expect = [expect]
        if shape is None:
            shape = [len(expect)]
    lines = ["[[case]]", f"name = {json.dumps(name)}", f"expr = {json.dumps(expr)}"]
    if inputs:
        lines.append("inputs = { " + ", ".join(f"{k} = {v.toml()}" for k, v in inputs.items()) + " }")
    lines.append(f"expect = [{', '.join(val(dtype, v) for v in expect)}]")
    lines.append(f'expect_dtype = "{dtype}"')
    if list(shape) != [len(expect)]:
        lines.append(f"expect_shape = {list(shape)}")
    if tol is not None:
        lines.append(f"tol_ulp = {tol}")
    if note:
        lines.append(f"note = {json.dumps(note)}")
    if known_bug:
        lines.append(f"known_bug = {json.dumps(known_bug)}")
    FILES[CUR].append("\n".join(lines))


def err(name, expr, kind, inputs=None, contains=None, span=None, note=None, known_bug=None):
    inputs = inputs or {}
    lines = ["[[case]]", f"name = {json.dumps(name)}", f"expr = {json.dumps(expr)}"]
    if inputs:
        lines.append("inputs = { " + ", ".join(f"{k} = {v.toml()}" for k, v in inputs.items()) + " }")
    lines.append(f'error_kind = "{kind}"')
    if contains:
        lines.append(f"error_contains = {json.dumps(contains)}")
    if span is not None:
        if isinstance(span, str):
            s = expr.index(span)
            span = [s, s + len(span)]
        lines.append(f"error_span = {list(span)}")
    if note:
        lines.append(f"note = {json.dumps(note)}")
    if known_bug:
        lines.append(f"known_bug = {json.dumps(known_bug)}")
    FILES[CUR].append("\n".join(lines))


HEADERS = {}


def write(outdir):
    for name, cases in FILES.items():
        head = HEADERS.get(name, "")
        text = f"# {name}.toml: generated with NumPy {np.__version__} for the expected values\n"
        text += "# (see tests/it/cases.rs for the format).\n" + head + "\n"
        text += "\n\n".join(cases) + "\n"
        with open(f"{outdir}/{name}.toml", "w") as f:
            f.write(text)
        print(f"{name}: {len(cases)} cases", file=sys.stderr)
