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

from .errors import DiffkitError

__all__ = ["Function", "SpecError", "function"]


class SpecError(DiffkitError, TypeError):
    """Something that is not a usable function spec (not callable, ``*args``, ...)."""


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
        self._sympy: Any = None  # (expr, symbols) when built from a formula
        self.cache: dict[str, Any] = {}  # per-spec caches of the methods (symbolic, compiled)
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
        from .parse import parse

        program = parse(text, variables=variables)
        spec = cls(program.evaluate, name=name or text, parameters=program.variables)
        spec.expr_text = text
        spec.cache["program"] = program
        return spec

    @classmethod
    def from_sympy(cls, expr: Any, variables: Sequence[Any], *, name: str | None = None
                   ) -> Function:
        """A spec from a sympy expression in the given symbols (in that order)."""
        from .parse import program_from_sympy

        program = program_from_sympy(expr, variables)
        spec = cls(program.evaluate, name=name or str(expr), parameters=program.variables)
        spec.cache["program"] = program
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
        """Evaluate at point ``x`` (an array of ``k`` coordinates, or the whole argument)."""
        return self.fn(*self.unpack(x))

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
        from .errors import MissingManualError

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
