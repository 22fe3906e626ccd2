"""Type stubs for arrjit (the native module is ``arrjit._arrjit``)."""

from typing import Any, Dict, List, Literal, Mapping, Optional, Tuple, Union

import numpy as np
from numpy.typing import NDArray

__version__: str

_Mode = Literal["fused", "unfused", "interpret"]
_OptLevel = Literal["speed", "none"]
# What an input may be: an array of a supported dtype (bool, int32, int64,
# float32, float64; rank 0-2; any strides), a Python or NumPy scalar, or
# anything numpy.asarray turns into such an array.
_Input = Any
# A result: an array, or a NumPy scalar for a rank-0 result.
_Result = Union[NDArray[Any], np.generic]

class ArrjitError(ValueError):
    """An error in an expression, a kernel or a call.

    ``str(error)`` is the message with the source line and a caret.
    """

    kind: str
    """``"lex"``, ``"parse"``, ``"limit"``, ``"unknown_name"``,
    ``"unknown_function"``, ``"arity"``, ``"type"``, ``"shape"``,
    ``"unsupported"``, ``"call"``, ``"io"`` or ``"internal"``."""
    message: str
    """The one-line message, without the source excerpt."""
    span: Optional[Tuple[int, int]]
    """Byte offsets ``(start, end)`` into ``source``, if the error has a place."""
    start: Optional[int]
    end: Optional[int]
    notes: List[str]
    source: str

class CacheStats:
    """Counters of an engine's compile cache."""

    hits: int
    misses: int
    evictions: int
    entries: int
    code_bytes: int
    compile_time: float
    """Seconds spent lowering, planning and compiling, in total."""
    split_calls: int
    """Calls run as chunks on the engine's threads."""
    tier_ups: int
    """Second tiers compiled for kernels that ran many short lanes."""
    tier_up_failures: int
    repaired_rows: int
    """Second tiers that could not be compiled (their kernels keep the first)."""

class Expression:
    """A parsed expression; each new input signature compiles once."""

    source: str
    canonical: str
    inputs: List[str]
    def __call__(self, *args: _Input, out: Optional[NDArray[Any]] = None, **kwargs: _Input) -> _Result: ...

class Kernel:
    """One kernel of a ``Module``. Returns its output, or a tuple of outputs."""

    name: str
    params: List[str]
    outputs: List[str]
    def __call__(self, *args: _Input, **kwargs: _Input) -> Union[_Result, Tuple[_Result, ...]]: ...

class Module:
    """A source file of kernels; each kernel is an attribute."""

    kernels: List[str]
    source: str
    def kernel(self, name: str) -> Kernel: ...
    def __getattr__(self, name: str) -> Kernel: ...

class Engine:
    """A compiler with its own configuration and compile cache."""

    def __init__(
        self,
        *,
        mode: _Mode = "fused",
        cache_capacity: int = 256,
        opt_level: _OptLevel = "speed",
        verify: bool = False,
        max_depth: Optional[int] = None,
        max_source_len: Optional[int] = None,
        fast_math: bool = False,
        num_threads: Optional[int] = None,
        tier_up_lanes: Optional[int] = None,
    ) -> None: ...
    def evaluate(
        self,
        ex: str,
        /,
        local_dict: Optional[Mapping[str, Any]] = None,
        global_dict: Optional[Mapping[str, Any]] = None,
        out: Optional[NDArray[Any]] = None,
        **names: _Input,
    ) -> _Result: ...
    def compile(self, source: str) -> Union[Expression, Module]: ...
    def stats(self) -> CacheStats: ...
    def clear_cache(self) -> None: ...
    @property
    def config(self) -> Dict[str, Any]: ...

def evaluate(
    ex: str,
    /,
    local_dict: Optional[Mapping[str, Any]] = None,
    global_dict: Optional[Mapping[str, Any]] = None,
    out: Optional[NDArray[Any]] = None,
    **names: _Input,
) -> _Result:
    """Evaluates ``ex`` with numexpr's calling convention (names from
    keywords, ``local_dict``, ``global_dict``, else the caller's frame)."""

def compile(source: str) -> Union[Expression, Module]:
    """An ``Expression``, or a ``Module`` for source starting with ``kernel``."""

def configure(
    *,
    mode: _Mode = "fused",
    cache_capacity: int = 256,
    opt_level: _OptLevel = "speed",
    verify: bool = False,
    max_depth: Optional[int] = None,
    max_source_len: Optional[int] = None,
    fast_math: bool = False,
    num_threads: Optional[int] = None,
    tier_up_lanes: Optional[int] = None,
) -> None:
    """Replaces the default engine."""

def get_engine() -> Engine: ...
def get_config() -> Dict[str, Any]: ...
def stats() -> CacheStats: ...
def clear_cache() -> None: ...
def set_num_threads(n: int) -> int:
    """Replaces the default engine with one splitting large calls over ``n``
    threads (0: ``ARRJIT_NUM_THREADS``, else every core); returns the
    previous number. Results do not depend on it."""

def set_fast_math(on: bool) -> bool:
    """Replaces the default engine with one that may (True) or may not
    (False, the default) contract a*b + c into fused multiply-adds; returns
    the previous setting. Fast-math results may differ in the last bits."""

def get_num_threads() -> int:
    """The threads the default engine splits a large call over."""
