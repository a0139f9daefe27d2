"""Function specs: the one program every method interprets.

A :class:`Function` wraps ordinary Python written against :mod:`diffkit.numpy`. Parameter rule:
a function of ``k >= 2`` parameters takes a point of ``k`` coordinates, one scalar per
parameter; a function of one parameter receives the whole point (a scalar or an array of any
shape).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .core import Tracer, located_domain_error
from .errors import (
    DiffkitError,
    DomainError,
    MissingManualError,
    NonFiniteError,
    OutputShapeError,
)
from .parse import parse, program_from_sympy
from .primitives import ops

__all__ = ["Function", "OutputError", "SpecError", "check_derivative", "check_output",
           "check_value", "function", "normalize_output", "not_scalar"]


class SpecError(DiffkitError, TypeError):
    """Something that is not a usable function spec (not callable, ``*args``, ...)."""


class OutputError(OutputShapeError, TypeError):
    """The function returned something that is not a real number or array of them (None, a
    boolean, a string, a ragged list, complex values)."""


def _is_tracer(v: Any) -> bool:
    return isinstance(v, Tracer)


def _contains_tracer(obj: Any) -> bool:
    if isinstance(obj, (list, tuple)):
        return any(_contains_tracer(o) for o in obj)
    return _is_tracer(obj)


def _stack_nested(obj: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        parts = [_stack_nested(o) for o in obj]
        shapes = {tuple(np.shape(p)) if not _is_tracer(p) else p.shape for p in parts}
        if len(shapes) > 1:
            raise OutputError(
                f"f returned a ragged list: its entries have shapes {sorted(shapes)}; return "
                f"a list of equally shaped values (or one array)")
        return ops.stack(parts) if parts else np.zeros(0)
    return obj


def normalize_output(out: Any) -> Any:
    """A function's output as one value: lists and tuples become one array (``np.stack`` of
    traced entries); ``None``, strings, booleans and ragged lists raise :class:`OutputError`
    naming the likely mistake."""
    if out is None:
        raise OutputError("f returned None - did it forget `return`? Return the value to "
                          "differentiate (e.g. `return x[0] ** 2`)")
    if isinstance(out, (list, tuple)):
        if not out:
            raise OutputError("f returned an empty list; return a number or an array")
        if _contains_tracer(out):
            return _stack_nested(out)
        try:
            arr = np.asarray(out)
        except ValueError:
            raise OutputError(f"f returned a ragged list {_brief(out)}; return a list of equally "
                              f"shaped values (or one array)") from None
        if arr.dtype == object:
            raise OutputError(f"f returned a ragged list {_brief(out)}; return a list of equally "
                              f"shaped values (or one array)")
        return arr
    return out


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_value(value: Any, name: str, op: str) -> np.ndarray:
    """``value`` (already normalized, untraced) as a real array, or the error that says why
    not: booleans, strings, objects, complex values where a real function is expected."""
    if isinstance(value, str):
        raise OutputError(f"{op}(f, x): {name} returned the string {_brief(value)}, not a "
                          f"number; return the value to differentiate")
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, np.ndarray)
                                              and value.dtype == bool):
        raise OutputError(
            f"{op}(f, x): {name} returned a boolean ({_brief(value)}) - a comparison such as "
            f"x > 0? A comparison has derivative zero wherever it is defined, so there is "
            f"nothing to differentiate; return the numeric expression instead (np.where(x > 0, "
            f"a, b) to select values)")
    try:
        arr = np.asarray(value)
    except Exception:
        raise OutputError(f"{op}(f, x): {name} returned {type(value).__name__} "
                          f"{_brief(value)}, which is not a number or an array of numbers"
                          ) from None
    if arr.dtype.kind not in "iuf":
        if arr.dtype.kind == "c":
            raise OutputError(
                f"{op}(f, x): {name} returned complex values ({_brief(value)}); diffkit "
                f"differentiates real functions: return the real part (np.real) or the "
                f"modulus (np.abs) you mean")
        raise OutputError(f"{op}(f, x): {name} returned {type(value).__name__} "
                          f"{_brief(value)} (dtype {arr.dtype}), which is not a number or an "
                          f"array of numbers")
    return arr


def _parameters(fn: Callable[..., Any]) -> tuple[str, ...]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and ufuncs without a signature
        return ("x",)
    names = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise SpecError(
                f"Function({getattr(fn, '__name__', fn)!r}): *args/**kwargs parameters are "
                f"not supported; name each scalar parameter (def f(x1, x2): ...) or take one "
                f"array parameter (def f(x): ...)"
            )
        if p.default is p.empty and p.kind != p.KEYWORD_ONLY:
            names.append(p.name)
    if not names:
        raise SpecError(
            f"Function({getattr(fn, '__name__', fn)!r}) has no parameters to differentiate "
            f"with respect to; give it at least one positional parameter"
        )
    return tuple(names)


def not_scalar(name: str, shape: tuple[int, ...], op: str, hint: str = "") -> OutputShapeError:
    """The error for a non-scalar value where ``op`` (gradient, hessian) needs a scalar."""
    return OutputShapeError(
        f"{op}(f, x): {name} returned shape {shape}, expected a scalar; use jacobian for "
        f"vector-valued functions{hint}"
    )


def _short_array(x: Any) -> str:
    text = np.array2string(np.asarray(x), threshold=8, precision=6)
    return text if len(text) < 80 else text[:77] + "..."


def check_output(spec: Function, value: Any, op: str, x: Any) -> np.ndarray:
    """Check the function value at ``x`` for ``op``: real, finite, scalar where required."""
    arr = check_value(value, spec.name, op)
    if op in ("gradient", "hessian") and arr.shape != ():
        raise not_scalar(spec.name, arr.shape, op)
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        # where it left its domain: the plain evaluation again, with numpy's traps on
        located = located_domain_error(spec.fn, spec.unpack(np.asarray(x)))
        if located is not None:
            raise located
        raise NonFiniteError(
            f"{op}(f, x): {spec.name}(x) = {_short_array(arr)} is not finite at x = "
            f"{_short_array(x)}; the point is at a singularity or outside the domain; choose "
            f"another point"
        )
    return arr


def check_derivative(spec: Function, value: Any, op: str, x: Any, method: str) -> Any:
    """``value`` (a derivative computed by ``method``) when finite; else the
    :class:`~diffkit.errors.DomainError` naming the primitive applied outside its derivative's
    domain (``sqrt`` at 0), or saying which entry is not finite."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fc" or np.all(np.isfinite(arr)):
        return value
    located = located_domain_error(spec.fn, spec.unpack(np.asarray(x)), what="derivative")
    if located is not None:
        point = np.asarray(x)
        shown = repr(float(point)) if point.ndim == 0 else repr(point.tolist())
        raise DomainError(f"{method}: {spec.name} at x = {shown}: {located}")
    idx = tuple(int(k) for k in np.argwhere(~np.isfinite(arr))[0])
    raise DomainError(
        f"{op}(f, x): the {method} derivative of {spec.name} is {arr[idx]} at entry "
        f"{list(idx)} at x = {_short_array(x)}; the function is not differentiable there (a "
        f"kink, a vertical tangent or an overflow); choose another point")


class Function:
    """A function to differentiate, written once and interpreted by every method.

    Parameters
    ----------
    fn : callable
        Python code over :mod:`diffkit.numpy` (or plain numpy, for the numerical and manual
        methods). With ``k >= 2`` parameters each takes one scalar coordinate; with one
        parameter it receives the whole point.
    name : str, optional
        Display name; defaults to ``fn.__name__``.
    manual : callable, optional
        The hand-written derivative, same parameters as ``fn``: returns the gradient (a list
        or array, one entry per coordinate), or the Jacobian for vector-valued ``fn``.
    vectorized : bool
        ``fn`` accepts a batch of points along a leading axis and returns a batch of values
        (each parameter receives a ``(B,)`` array when ``k >= 2``), so finite differences
        evaluate all stencil points in one call.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> f = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2), name="f")
    >>> f.parameters, f.nparams
    (('x1', 'x2'), 2)
    >>> round(float(f.call([2.0, 5.0])), 6)
    11.652071
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        manual: Callable[..., Any] | None = None,
        vectorized: bool = False,
        parameters: Sequence[str] | None = None,
    ) -> None:
        if isinstance(fn, Function):
            raise SpecError("Function(fn): fn is already a diffkit Function; use it directly")
        if not callable(fn):
            raise SpecError(
                f"Function(fn): fn must be callable, got {type(fn).__name__} {fn!r}; pass a "
                f"Python function, e.g. lambda x: dnp.sin(x)"
            )
        if manual is not None and not callable(manual):
            raise SpecError(f"Function(manual=...): must be callable, got {manual!r}")
        self.fn = fn
        self.parameters: tuple[str, ...] = (
            tuple(parameters) if parameters is not None else _parameters(fn)
        )
        self.name = name or getattr(fn, "__name__", "f")
        if self.name == "<lambda>":
            self.name = "f"
        self.manual_fn = manual
        self.manual_hessian_fn: Callable[..., Any] | None = None
        self.vectorized = bool(vectorized)
        self.expr_text: str | None = None  # set by from_expr
        self.program: Any = None  # the parsed formula (diffkit.parse.Program) of from_expr
        # per-method caches, each entry owned and typed by one method, keyed by that method's
        # own key object (the complex step's verdict: diffkit.methods.numerical.VERDICT)
        self.cache: dict[Any, Any] = {}
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_expr(cls, text: str, variables: Sequence[str] | None = None, *,
                  name: str | None = None) -> Function:
        """A spec from formula text, e.g. ``"log(x1) + x1*x2 - sin(x2)"``.

        The text is parsed by :mod:`diffkit.parse` (an ``ast`` whitelist; never ``eval``).
        ``variables`` default to the sorted free names.
        """
        program = parse(text, variables=variables)
        spec = cls(program.evaluate, name=name or text, parameters=program.variables)
        spec.expr_text = text
        spec.program = program
        return spec

    @classmethod
    def from_sympy(cls, expr: Any, variables: Sequence[Any], *, name: str | None = None
                   ) -> Function:
        """A spec from a sympy expression in the given symbols (in that order)."""
        program = program_from_sympy(expr, variables)
        spec = cls(program.evaluate, name=name or str(expr), parameters=program.variables)
        spec.program = program
        return spec

    def manual(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: register ``fn`` as the hand-written derivative (the manual method)."""
        if not callable(fn):
            raise SpecError(f"{self.name}.manual(fn): fn must be callable, got {fn!r}")
        self.manual_fn = fn
        return fn

    def manual_hessian(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: register ``fn`` as the hand-written Hessian."""
        if not callable(fn):
            raise SpecError(f"{self.name}.manual_hessian(fn): fn must be callable, got {fn!r}")
        self.manual_hessian_fn = fn
        return fn

    # ------------------------------------------------------------------ calling
    @property
    def nparams(self) -> int:
        """Number of positional parameters ``k``."""
        return len(self.parameters)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def unpack(self, x: Any) -> tuple[Any, ...]:
        """The positional arguments for point ``x`` (one per parameter, or ``(x,)``)."""
        if len(self.parameters) == 1:
            return (x,)
        return tuple(x[i] for i in range(len(self.parameters)))

    def call(self, x: Any) -> Any:
        """Evaluate at point ``x`` (an array of ``k`` coordinates, or the whole argument).

        The output is normalized (:func:`normalize_output`): a list of values becomes one
        array, and ``None``, strings and ragged lists raise :class:`OutputError`.
        """
        return normalize_output(self.fn(*self.unpack(x)))

    @staticmethod
    def output(out: Any) -> Any:
        """The output of a call on traced arguments, normalized (see :meth:`call`)."""
        return normalize_output(out)

    def check(self, value: Any, op: str, x: Any) -> np.ndarray:
        """The value of a call as a real, finite array fit for ``op``, or a clear error.

        ``op`` in ``("gradient", "hessian")`` needs a scalar; every op needs finite numbers.
        """
        return check_output(self, value, op, x)

    def call_batch(self, xs: np.ndarray) -> np.ndarray:
        """Evaluate at a batch of points stacked along axis 0; one call when vectorized."""
        if self.vectorized:
            if len(self.parameters) == 1:
                out = self.fn(xs)
            else:
                out = self.fn(*(xs[:, i] for i in range(len(self.parameters))))
            return np.asarray(out)
        return np.asarray([np.asarray(self.call(p)) for p in xs])

    def manual_call(self, x: Any) -> Any:
        """Evaluate the hand-written derivative at point ``x``."""
        if self.manual_fn is None:
            raise MissingManualError(
                f"method='manual' on {self.name!r}: no hand-written derivative is registered; "
                f"add one with @{self.name}.manual (def d{self.name}({', '.join(self.parameters)}"
                f"): return [...]) or Function(fn, manual=...), or choose another method"
            )
        return self.manual_fn(*self.unpack(x))

    def __repr__(self) -> str:
        return f"Function({self.name!r}, parameters={self.parameters})"


def function(fn: Callable[..., Any] | None = None, *, name: str | None = None,
             vectorized: bool = False) -> Any:
    """Decorator form of :class:`Function`: ``@dk.function`` or ``@dk.function(name=...)``."""
    if fn is None:
        return lambda f: Function(f, name=name, vectorized=vectorized)
    return Function(fn, name=name, vectorized=vectorized)
