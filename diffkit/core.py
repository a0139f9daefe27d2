"""The interpreter machinery every method shares.

A spec is ordinary Python over :mod:`diffkit.numpy`. Each ``dnp`` function is a
:class:`Primitive`; calling it on plain numbers runs numpy, calling it on a :class:`Tracer`
hands the call to that tracer's :class:`Trace` (an interpreter: tape recording, dual numbers,
sympy expressions). Traces nest: each has a ``level``, and :func:`bind` gives the call to the
innermost (highest level) trace among the arguments, which unboxes its own tracers and binds
again, so lower levels see the call next (autograd's and JAX autodidax's scheme).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DomainError, NotTraceableError, UnsupportedPrimitiveError

__all__ = ["REGISTRY", "Domain", "Primitive", "Trace", "Tracer", "bind", "checked_evaluation"]


@dataclass(frozen=True)
class Domain:
    """Where a primitive is real-valued and finite, for messages and generators.

    ``lo``/``hi`` bound the first argument (``None`` = unbounded); ``lo_open``/``hi_open``
    say whether the bound itself is excluded. ``text`` is the human form, e.g. ``"x > 0"``.
    """

    text: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = True
    hi_open: bool = True
    integer_exponent_only: bool = False

    def contains(self, x: Any) -> np.ndarray:
        """Elementwise membership of ``x`` (a real array or scalar)."""
        x = np.asarray(x, dtype=float)
        ok = np.isfinite(x)
        if self.lo is not None:
            ok &= (x > self.lo) if self.lo_open else (x >= self.lo)
        if self.hi is not None:
            ok &= (x < self.hi) if self.hi_open else (x <= self.hi)
        return ok


@dataclass(eq=False)
class Primitive:
    """One primitive operation and all of its interpretations.

    Parameters
    ----------
    name : str
        The ``dnp`` name (numpy's name for the operation).
    numeric : callable
        The numpy implementation; works on floats, complex numbers and arrays.
    symbolic : callable or None
        ``symbolic(*args, **params)`` on sympy values (scalars or object arrays).
    vjp : tuple of callables or None
        One function per positional argument, ``vjp[i](g, ans, *args, **params)`` giving the
        cotangent of argument ``i`` for output cotangent ``g``; ``None`` entries mark
        arguments that are not differentiable (indices, conditions).
    jvp : tuple of callables or None
        One function per positional argument, ``jvp[i](t, ans, *args, **params)`` giving the
        output tangent contributed by the tangent ``t`` of argument ``i``.
    domain : Domain or None
        Where the primitive is defined on the reals.
    analytic : bool
        False for operations that are not complex-analytic (abs, max, comparisons): the
        complex step refuses them.
    differentiable : bool
        False for operations whose output carries no derivative (comparisons, sign).
    ufunc : numpy ufunc or function, optional
        The numpy callable this primitive stands for, so ``np.sin(tracer)`` and
        ``np.sum(tracer)`` reach it through ``__array_ufunc__``/``__array_function__``.
    """

    name: str
    numeric: Callable[..., Any]
    symbolic: Callable[..., Any] | None = None
    vjp: tuple[Callable[..., Any] | None, ...] | None = None
    jvp: tuple[Callable[..., Any] | None, ...] | None = None
    domain: Domain | None = None
    analytic: bool = True
    differentiable: bool = True
    ufunc: Any = None
    variadic: bool = False
    linear: bool = False
    doc: str = ""
    derivative_text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    function: Callable[..., Any] | None = None  # the dnp function (numpy's signature)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"

    def vjp_rule(self, i: int) -> Callable[..., Any] | None:
        """The VJP of positional argument ``i`` (``None``: not differentiable there)."""
        return _rule(self, self.vjp, i, "vjp")

    def jvp_rule(self, i: int) -> Callable[..., Any] | None:
        """The JVP of positional argument ``i`` (``None``: not differentiable there)."""
        return _rule(self, self.jvp, i, "jvp")

    def __call__(self, *args: Any, **params: Any) -> Any:
        return bind(self, args, params)

    def evaluate(self, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        """Run the numeric interpretation, turning a floating-point trap into DomainError."""
        try:
            return self.numeric(*args, **params)
        except FloatingPointError:
            raise domain_error(self, args) from None


def _rule(prim: Primitive, rules: Any, i: int, kind: str) -> Callable[..., Any] | None:
    if not prim.differentiable:
        return None
    if rules is None:
        raise UnsupportedPrimitiveError(
            f"primitive {prim.name!r} has no {kind} rule, so this method cannot differentiate "
            f"through it; use a numerical method (e.g. method='richardson')"
        )
    if prim.variadic:  # one rule for every argument, taking the argument's index first
        rule = rules[0]
        return None if rule is None else functools.partial(rule, i)
    return rules[i] if i < len(rules) else None


REGISTRY: dict[str, Primitive] = {}
"""Every primitive by its ``dnp`` name; :mod:`diffkit.primitives` fills it."""

NUMPY_TO_PRIMITIVE: dict[Any, Primitive] = {}
"""numpy ufuncs and functions mapped to the primitive standing for them."""


def register(prim: Primitive) -> Primitive:
    """Add ``prim`` to the registry (one stanza in :mod:`diffkit.primitives`)."""
    if prim.name in REGISTRY:
        raise ValueError(f"primitive {prim.name!r} registered twice")
    REGISTRY[prim.name] = prim
    if prim.ufunc is not None:
        NUMPY_TO_PRIMITIVE.setdefault(prim.ufunc, prim)
    return prim


def _describe(value: Any) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        return repr(arr.item())
    return f"array of shape {arr.shape}"


def domain_error(prim: Primitive, args: tuple[Any, ...]) -> DomainError:
    """The DomainError for ``prim`` evaluated at ``args`` outside its domain."""
    where = ", ".join(_describe(a) for a in args)
    bad = ""
    if prim.domain is not None and args:
        arr = np.asarray(args[0])
        if arr.ndim > 0 and np.isrealobj(arr):
            outside = ~prim.domain.contains(arr)
            if outside.any():
                idx = tuple(int(i) for i in np.argwhere(outside)[0])
                bad = f"; first offending element x{list(idx)} = {arr[idx]!r}"
    rule = f" requires {prim.domain.text}" if prim.domain is not None else " is not finite there"
    return DomainError(
        f"{prim.name}({where}): outside its domain, {prim.name}{rule}{bad}; "
        f"evaluate the function at a point inside the domain"
    )


def checked_evaluation() -> Any:
    """Context in which numpy traps invalid operations and division by zero.

    Inside it a primitive evaluated outside its domain raises :class:`DomainError` naming the
    primitive and the value, instead of returning NaN with a warning. The API wraps every
    evaluation of a spec in it; plain ``dnp`` calls outside it behave exactly like numpy.
    Equivalent to ``np.errstate(invalid="raise", divide="raise", over="ignore",
    under="ignore")``; on numpy >= 2 it sets numpy's error-state context variable directly
    (half the cost of ``np.errstate``, which re-derives the state on every entry).
    """
    if _EXTOBJ_VAR is None:
        return np.errstate(**_CHECKED)
    return _Checked()


_CHECKED = {"invalid": "raise", "divide": "raise", "over": "ignore", "under": "ignore"}
try:  # numpy >= 2: the error state is one context variable holding an "extobj" capsule
    from numpy._core._ufunc_config import _extobj_contextvar as _EXTOBJ_VAR
    from numpy._core._ufunc_config import _make_extobj
except ImportError:  # pragma: no cover - numpy 1.x
    _EXTOBJ_VAR = None
_DERIVED: dict[Any, Any] = {}  # current extobj -> the same with _CHECKED applied


class _Checked:
    """``np.errstate(**_CHECKED)`` without re-deriving the extobj on every entry."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        current = _EXTOBJ_VAR.get()  # type: ignore[union-attr]
        ext = _DERIVED.get(current)
        if ext is None:  # keeps the caller's callback and buffer size, like np.errstate
            if len(_DERIVED) > 64:
                _DERIVED.clear()
            ext = _DERIVED[current] = _make_extobj(**_CHECKED)
        self._token = _EXTOBJ_VAR.set(ext)  # type: ignore[union-attr]

    def __exit__(self, *exc: Any) -> None:
        _EXTOBJ_VAR.reset(self._token)  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- traces

_level_counter = itertools.count(1)


class Trace:
    """An interpreter of primitives. Subclasses implement :meth:`process`.

    ``level`` orders nested traces: a trace started inside another gets a higher level, and
    :func:`bind` always hands a call to the highest level among its arguments.
    """

    __slots__ = ("level",)

    def __init__(self) -> None:
        self.level = next(_level_counter)

    def process(self, prim: Primitive, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def to_bool(self, tracer: Tracer) -> bool:
        """``bool(tracer)``: AD traces branch on the value; symbolic traces refuse."""
        raise NotTraceableError(f"bool() of a traced value {tracer!r} is not defined")

    def to_float(self, tracer: Tracer, kind: str) -> Any:
        raise NotTraceableError(
            f"{kind}() was called on a traced value {tracer!r}; a derivative cannot pass "
            f"through a conversion to a Python number (math.*, float(), int()). Write the "
            f"function with diffkit.numpy (import diffkit.numpy as dnp; dnp.sin, dnp.exp, ...)"
        )


def bind(prim: Primitive, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
    """Apply ``prim`` to ``args``: numeric on plain values, else the innermost trace's rule."""
    top = None
    for a in args:
        if isinstance(a, Tracer):
            if top is None or a._trace.level > top._trace.level:
                top = a
    if top is None:
        return prim.evaluate(args, params)
    return top._trace.process(prim, args, params)


# ----------------------------------------------------------------------------- tracers


def _p(name: str) -> Primitive:
    return REGISTRY[name]


class Tracer:
    """A value inside a trace: python operators and numpy calls are routed to primitives.

    Subclasses set ``_trace`` and expose the underlying value through ``_value`` (for shape
    and dtype). They define ``__slots__``.
    """

    __slots__ = ()
    __array_priority__ = 100.0
    _trace: Trace

    # --- what the value looks like
    @property
    def _value(self) -> Any:
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        return np.shape(self._value)

    @property
    def ndim(self) -> int:
        return np.ndim(self._value)

    @property
    def size(self) -> int:
        return int(np.size(self._value))

    @property
    def dtype(self) -> Any:
        return getattr(self._value, "dtype", np.dtype(type(self._value)))

    def __len__(self) -> int:
        return len(self._value)

    def __iter__(self):  # type: ignore[no-untyped-def]
        for i in range(len(self)):
            yield self[i]

    # --- arithmetic
    def __add__(self, other: Any) -> Any:
        return bind(_p("add"), (self, other), {})

    def __radd__(self, other: Any) -> Any:
        return bind(_p("add"), (other, self), {})

    def __sub__(self, other: Any) -> Any:
        return bind(_p("subtract"), (self, other), {})

    def __rsub__(self, other: Any) -> Any:
        return bind(_p("subtract"), (other, self), {})

    def __mul__(self, other: Any) -> Any:
        return bind(_p("multiply"), (self, other), {})

    def __rmul__(self, other: Any) -> Any:
        return bind(_p("multiply"), (other, self), {})

    def __truediv__(self, other: Any) -> Any:
        return bind(_p("divide"), (self, other), {})

    def __rtruediv__(self, other: Any) -> Any:
        return bind(_p("divide"), (other, self), {})

    def __pow__(self, other: Any) -> Any:
        return bind(_p("power"), (self, other), {})

    def __rpow__(self, other: Any) -> Any:
        return bind(_p("power"), (other, self), {})

    def __matmul__(self, other: Any) -> Any:
        return bind(_p("matmul"), (self, other), {})

    def __rmatmul__(self, other: Any) -> Any:
        return bind(_p("matmul"), (other, self), {})

    def __neg__(self) -> Any:
        return bind(_p("negative"), (self,), {})

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return bind(_p("absolute"), (self,), {})

    # --- comparisons (not differentiable; AD traces compare values, symbolic builds relations)
    def __lt__(self, other: Any) -> Any:
        return bind(_p("less"), (self, other), {})

    def __le__(self, other: Any) -> Any:
        return bind(_p("less_equal"), (self, other), {})

    def __gt__(self, other: Any) -> Any:
        return bind(_p("greater"), (self, other), {})

    def __ge__(self, other: Any) -> Any:
        return bind(_p("greater_equal"), (self, other), {})

    # elementwise like numpy: AD traces compare values (so `if x == 0:` branches), symbolic
    # traces build an equation whose truth value raises SymbolicBranchError
    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return bind(_p("equal"), (self, other), {})

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return bind(_p("not_equal"), (self, other), {})

    __hash__ = object.__hash__

    # --- indexing and array methods
    def __getitem__(self, index: Any) -> Any:
        return bind(_p("getitem"), (self,), {"index": index})

    def __setitem__(self, index: Any, value: Any) -> None:
        raise NotTraceableError(
            f"in-place assignment x[{index!r}] = ... on a traced array: diffkit records a "
            f"program of pure operations and cannot follow mutation. Build a new array instead "
            f"(dnp.concatenate, dnp.stack, dnp.where)"
        )

    @property
    def T(self) -> Any:
        return bind(_p("transpose"), (self,), {"axes": None})

    def sum(self, axis: Any = None, keepdims: bool = False) -> Any:
        return bind(_p("sum"), (self,), {"axis": axis, "keepdims": keepdims})

    def mean(self, axis: Any = None, keepdims: bool = False) -> Any:
        return bind(_p("mean"), (self,), {"axis": axis, "keepdims": keepdims})

    def prod(self, axis: Any = None, keepdims: bool = False) -> Any:
        return bind(_p("prod"), (self,), {"axis": axis, "keepdims": keepdims})

    def dot(self, other: Any) -> Any:
        return bind(_p("dot"), (self, other), {})

    def reshape(self, *shape: Any) -> Any:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return bind(_p("reshape"), (self,), {"shape": shape})

    def transpose(self, *axes: Any) -> Any:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return bind(_p("transpose"), (self,), {"axes": axes or None})

    # --- conversions
    def __bool__(self) -> bool:
        return self._trace.to_bool(self)

    def __float__(self) -> float:
        return self._trace.to_float(self, "float")

    def __int__(self) -> int:
        return self._trace.to_float(self, "int")

    def __complex__(self) -> complex:
        return self._trace.to_float(self, "complex")

    def __index__(self) -> int:
        return self._trace.to_float(self, "int")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise NotTraceableError(
            f"numpy tried to convert a traced value {self!r} to a plain array (np.asarray, "
            f"np.array or a numpy function diffkit does not know); the derivative would be "
            f"lost. Use the diffkit.numpy function of the same name (import diffkit.numpy as "
            f"dnp), or dnp.stack/dnp.concatenate to build arrays"
        )

    # --- numpy interop: np.sin(tracer), ndarray * tracer, np.sum(tracer)
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        prim = NUMPY_TO_PRIMITIVE.get(ufunc)
        if method != "__call__" or prim is None or kwargs.get("out") is not None:
            raise UnsupportedPrimitiveError(_unsupported_numpy(ufunc, method))
        kwargs.pop("out", None)
        return bind(prim, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        prim = NUMPY_TO_PRIMITIVE.get(func)
        if prim is None:
            from . import numpy as dnp

            wrapper = getattr(dnp, getattr(func, "__name__", ""), None)
            if wrapper is not None and getattr(wrapper, "_diffkit_composite", False):
                return wrapper(*args, **kwargs)
            if func in _SHAPE_QUERIES:  # metadata, no derivative: ask the underlying value
                return func(*(a._value if isinstance(a, Tracer) else a for a in args), **kwargs)
            raise UnsupportedPrimitiveError(_unsupported_numpy(func, "__call__"))
        return prim.function(*args, **kwargs)


# numpy functions that only read shape or dtype (dnp.shape, dnp.ndim, dnp.expand_dims use them)
_SHAPE_QUERIES = frozenset({np.shape, np.ndim, np.size, np.iscomplexobj, np.isrealobj})


def _unsupported_numpy(func: Any, method: str) -> str:
    from . import numpy as dnp

    name = getattr(func, "__name__", repr(func))
    full = name if method == "__call__" else f"{name}.{method}"
    if hasattr(dnp, name) and method == "__call__":
        return (
            f"numpy.{full} was called on a traced value in a way diffkit cannot record "
            f"(out= or an unsupported keyword); call dnp.{name} instead"
        )
    return (
        f"numpy.{full} was called on a traced value and diffkit.numpy has no primitive for "
        f"it, so its derivative is unknown; express it with the primitives listed by "
        f"diffkit.numpy.__all__, or compute it outside the differentiated function"
    )
