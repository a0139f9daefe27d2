"""Function specs: the one program every method interprets.

A :class:`Function` wraps ordinary Python written against :mod:`diffkit.numpy`. Parameter rule:
a function of ``k >= 2`` parameters takes a point of ``k`` coordinates, one scalar per
parameter; a function of one parameter receives the whole point (a scalar or an array of any
shape).
"""

from __future__ import annotations

import inspect
import math
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .core import Tracer, evaluating, located_domain_error
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


class _Layout:
    """A callable's signature, and which data bindings it accepts (binding reads only counts
    and names, so the answer holds for any values)."""

    __slots__ = ("fits", "parameters", "sig")

    def __init__(self, sig: inspect.Signature | None) -> None:
        self.sig = sig
        self.fits: dict[tuple[Any, ...], bool] = {}
        self.parameters: tuple[str, ...] | None = None  # _parameters' answer, once read

    def binds(self, k: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Whether ``k`` coordinates, then ``args`` and ``kwargs``, bind to the signature."""
        key = (k, len(args), tuple(kwargs))
        fits = self.fits.get(key)
        if fits is None:
            try:
                self.sig.bind(*([0.0] * k), *args, **kwargs)  # type: ignore[union-attr]
            except TypeError:
                fits = False
            else:
                fits = True
            self.fits[key] = fits
        return fits


def _layout(fn: Callable[..., Any]) -> _Layout:
    """``fn``'s :class:`_Layout`, read once per callable: a plain function passed to
    ``dk.gradient`` is wrapped in a new Function on every call, and ``inspect.signature`` cost
    more than the rest of the wrapping."""
    try:
        return _LAYOUTS[fn]
    except (KeyError, TypeError):  # not seen, or no weak reference / hash to keep it by
        pass
    try:
        layout = _Layout(inspect.signature(fn))
    except (TypeError, ValueError):  # builtins and ufuncs without a signature
        layout = _Layout(None)
    try:
        _LAYOUTS[fn] = layout
    except TypeError:
        pass
    return layout


_LAYOUTS: weakref.WeakKeyDictionary[Any, _Layout] = weakref.WeakKeyDictionary()


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    return _layout(fn).sig


def _parameters(fn: Callable[..., Any], sig: inspect.Signature | None = None
                ) -> tuple[str, ...]:
    """The parameters to differentiate: the required positional ones, in order.

    ``*args`` and ``**kwargs`` may follow them (they receive data arguments, see
    :meth:`Function.with_data`), but cannot stand in for them.
    """
    sig = sig if sig is not None else _signature(fn)
    if sig is None:
        return ("x",)
    names = []
    variadic = False
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            variadic = True
        elif p.default is p.empty and p.kind != p.KEYWORD_ONLY:
            names.append(p.name)
    if not names and variadic:
        raise SpecError(
            f"Function({getattr(fn, '__name__', fn)!r}): *args/**kwargs parameters cannot be "
            f"differentiated; name each scalar parameter (def f(x1, x2): ...) or take one "
            f"array parameter (def f(x): ...). Data after them may come in *args: "
            f"dk.gradient(f, x, args=(X, y))"
        )
    if not names:
        raise SpecError(
            f"Function({getattr(fn, '__name__', fn)!r}) has no parameters to differentiate "
            f"with respect to; give it at least one positional parameter"
        )
    return tuple(names)


def _short_repr(value: Any, limit: int = 60) -> str:
    """A value for a message, one short line: an array larger than 6 entries as its shape and
    dtype, lists and tuples entry by entry (a data array is never printed whole)."""
    if isinstance(value, np.ndarray):
        text = "array(" + " ".join(np.array2string(value, precision=4).split()) + ")" \
            if value.size <= 6 else ""
        if not text or len(text) > limit:
            text = f"array of shape {value.shape} ({value.dtype})"
    elif isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        inner = [_short_repr(v, 40) for v in value[:3]] + (["..."] if len(value) > 3 else [])
        text = ", ".join(inner)
        text = f"[{text}]" if isinstance(value, list) else f"({text}{',' * (len(value) == 1)})"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _what(value: Any) -> str:
    """``int 3``, ``list [1, 2]``, ``an array of shape (50, 3) (float64)``: for messages."""
    text = _short_repr(value, 120)
    return f"an {text}" if text.startswith("array of") else f"{type(value).__name__} {text}"


def _describe_data(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [_short_repr(a, 40) for a in args]
    parts += [f"{k}={_short_repr(v, 40)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def not_scalar(name: str, shape: tuple[int, ...], op: str, hint: str = "") -> OutputShapeError:
    """The error for a non-scalar value where ``op`` (gradient, hessian) needs a scalar."""
    return OutputShapeError(
        f"{op}(f, x): {name} returned shape {shape}, expected a scalar; use jacobian for "
        f"vector-valued functions{hint}"
    )


def _short_array(x: Any) -> str:
    text = np.array2string(np.asarray(x), threshold=8, precision=6)
    return text if len(text) < 80 else text[:77] + "..."


_F64 = np.dtype(np.float64)


def surely_finite(arr: np.ndarray) -> bool:
    """A quick proof that every entry of a float64 ndarray is finite, for code inside
    :class:`~diffkit.core.checked_evaluation` (numpy's floating-point events counted, not
    printed): one sum (two thirds of ``np.isfinite`` 's time at n = 1e3) is NaN or infinite
    when an entry is, so a finite sum proves every entry finite. False proves nothing (a sum
    of finite entries can overflow): settle it entry by entry (:func:`all_finite`). (Not a
    dot product, though cheaper: squares of entries below 1e-154 underflow, and the event it
    counts would mark the next record of an enclosing tape as poisoned.)"""
    return math.isfinite(_sum(arr, axis=None))


_sum = np.add.reduce


def all_finite(arr: np.ndarray) -> bool:
    """Whether every entry of ``arr`` is finite (:func:`surely_finite` first, inside
    :class:`~diffkit.core.checked_evaluation`, for a float64 array; else, or when it proves
    nothing, entry by entry)."""
    if arr.__class__ is np.ndarray and arr.dtype is _F64 and evaluating() \
            and surely_finite(arr):
        return True
    return bool(np.isfinite(arr).all())


def check_output(spec: Function, value: Any, op: str, x: Any) -> np.ndarray:
    """Check the function value at ``x`` for ``op``: real, finite, scalar where required."""
    if value.__class__ is np.float64 and value - value == 0.0:  # the common case: finite
        return np.asarray(value)
    arr = check_value(value, spec.name, op)
    if op in ("gradient", "hessian") and arr.shape != ():
        raise not_scalar(spec.name, arr.shape, op)
    if arr.dtype.kind in "fc" and not all_finite(arr):
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


def math_domain_error(exc: Exception, name: str, x: Any) -> Exception:
    """``exc`` as a :class:`~diffkit.errors.DomainError` when it is the ``math`` module's
    refusal (``math.sqrt(-1e-9)``: "math domain error", ``math.exp(1000)``: "math range
    error") -- a point outside f's domain, as NaN from numpy is, so a finite difference steps
    away from it; any other exception unchanged (the user's own error)."""
    text = str(exc)
    if text not in ("math domain error", "math range error"):
        return exc
    return DomainError(f"{name} at x = {_short_array(x)}: {text} (a math-module function "
                       f"outside its domain or range); choose a point inside f's domain")


def check_derivative(spec: Function, value: Any, op: str, x: Any, method: str) -> Any:
    """``value`` (a derivative computed by ``method``) when finite; else the
    :class:`~diffkit.errors.DomainError` naming the primitive applied outside its derivative's
    domain (``sqrt`` at 0), or saying which entry is not finite."""
    if value.__class__ is np.ndarray and value.dtype is _F64 and evaluating() \
            and surely_finite(value):
        return value  # the common case (all_finite's first test, written out)
    arr = np.asarray(value)
    if arr.dtype.kind not in "fc" or all_finite(arr):
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
                f"Function(fn): fn must be callable, got {_what(fn)}; pass a Python function, "
                f"e.g. lambda x: dnp.sin(x)"
            )
        if manual is not None and not callable(manual):
            raise SpecError(f"Function(manual=...): must be callable, got {_short_repr(manual)}")
        self.fn = fn
        # the signature the data arguments are bound against (None: parameters were given,
        # or fn has none to read)
        self._layout = _layout(fn) if parameters is None else None
        self._sig = self._layout.sig if self._layout is not None else None
        if parameters is not None:
            self.parameters: tuple[str, ...] = tuple(parameters)
        else:  # read from the signature once per callable (a plain function is wrapped anew
            layout = self._layout  # on every dk.gradient call)
            if layout.parameters is None:
                layout.parameters = _parameters(fn, self._sig)
            self.parameters = layout.parameters
        self.data: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        """The data arguments bound by :meth:`with_data` (``(args, kwargs)``), else None."""
        self._unbound: Function | None = None  # (not self: no reference cycle)
        self.name = name or getattr(fn, "__name__", "f")
        if self.name == "<lambda>":
            self.name = "f"
        self.manual_fn = manual
        self.manual_hessian_fn: Callable[..., Any] | None = None
        self.vectorized = bool(vectorized)
        self.expr_text: str | None = None  # set by from_expr
        self.program: Any = None  # the parsed formula (diffkit.parse.Program) of from_expr
        # per-method caches, each entry owned and typed by one method, keyed by that method's
        # own key object (the complex step's verdict: diffkit.methods.complex_step.VERDICT)
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

    # ------------------------------------------------------------------ data arguments
    def with_data(self, args: Any = (), kwargs: Any = None, *, call: str = "f") -> Function:
        """This function with data arguments bound: ``args`` after the differentiated
        parameters, ``kwargs`` by name, never differentiated (scipy's ``args=`` convention).

        The bound Function takes the point alone; every method calls it as
        ``fn(*coordinates, *args, **kwargs)`` (the hand-written derivative too). The data
        fill the *last* required positional parameters, so ``def loss(w, X, y)`` with
        ``args=(X, y)`` differentiates ``w``; data beyond them go to ``*args``. Data are
        passed as they are (not copied, not traced): to the symbolic method they are
        constants.

        Parameters
        ----------
        args : tuple or None
            Positional data arguments (None: none).
        kwargs : dict, optional
            Keyword data arguments.
        call : str
            How the call appears in messages (``"gradient(f, x)"``).

        Returns
        -------
        Function
            ``self`` when there are no data; else a new Function with its own caches (a
            method's cache may hold expressions built from the data).

        Raises
        ------
        SpecError
            ``args`` not a tuple, ``kwargs`` not a dict of names, data that leave no parameter
            to differentiate, or names and counts the function does not take.

        Examples
        --------
        >>> import numpy as np, diffkit as dk, diffkit.numpy as dnp
        >>> def loss(w, X, y):
        ...     return dnp.sum((X @ w - y) ** 2)
        >>> X, y = np.eye(2), np.array([1.0, 2.0])
        >>> bound = dk.Function(loss).with_data((X, y))
        >>> bound.parameters
        ('w',)
        >>> float(bound.call(np.array([1.0, 1.0])))
        1.0
        """
        if kwargs is None:
            kwargs = {}
        if args is None:  # (what wrappers pass for "no data")
            args = ()
        if not isinstance(args, tuple):
            raise SpecError(
                f"{call}: args= must be a tuple of data arguments, got {_what(args)}; write "
                f"args=(data,) for one data argument, args=(X, y) for several")
        if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise SpecError(
                f"{call}: kwargs= must be a dict of keyword data arguments (names to values), "
                f"got {_what(kwargs)}")
        if not args and not kwargs:
            return self
        k = self._count_differentiated(args, kwargs, call)
        bound = object.__new__(type(self))
        bound.__dict__.update(self.__dict__)
        kept = [p for p in self.parameters if p not in kwargs] if kwargs else self.parameters
        bound.parameters = tuple(kept[:k])
        bound._sig = bound._layout = None
        bound.fn = self._bind(self.fn, args, kwargs)
        bound.manual_fn = None if self.manual_fn is None else \
            self._bind_derivative(self.manual_fn, k, args, kwargs, "manual", call)
        bound.manual_hessian_fn = None if self.manual_hessian_fn is None else \
            self._bind_derivative(self.manual_hessian_fn, k, args, kwargs, "manual_hessian",
                                  call)
        bound.program = None  # the formula has the data's variables: it is traced instead
        bound.cache = {}
        base_args, base_kwargs = self.data if self.data is not None else ((), {})
        bound.data = (args + base_args, {**base_kwargs, **kwargs})  # in the order of the call
        bound._unbound = self.unbound
        return bound

    @property
    def unbound(self) -> Function:
        """The Function the data were bound to (itself when none were)."""
        return self if self._unbound is None else self._unbound

    def _count_differentiated(self, args: tuple[Any, ...], kwargs: dict[str, Any],
                              call: str) -> int:
        """How many leading parameters remain to differentiate once the data are bound; the
        :class:`SpecError` saying why the data do not fit, when they do not."""
        sig = self._sig
        names = self.parameters
        if sig is None:  # parameters given (a formula, a bound Function): by name
            unknown = [k for k in kwargs if k not in names]
            if unknown:
                raise SpecError(
                    f"{call}: kwargs= names {unknown[0]!r}, which {self.name} does not take; "
                    f"its parameters are {', '.join(names)}")
        kept = [p for p in names if p not in kwargs] if kwargs else names
        k = len(kept) - len(args)
        if k < 1:  # data overflowing into *args or defaulted parameters leave one coordinate
            if not kept or sig is None or not self._layout.binds(1, args, kwargs):
                named = f" not named in kwargs= ({', '.join(kept)})" if kwargs else ""
                raise SpecError(
                    f"{call}: {self._shown()} has {len(kept)} positional parameter(s){named}, "
                    f"and args= gives {len(args)} data argument(s) "
                    f"({_describe_data(args, {})}), leaving none for the point x; the data "
                    f"fill the last parameters and x the first, so f needs one more: "
                    f"def f(x, data): ..."
                )
            k = 1
        if sig is not None and not self._layout.binds(k, args, kwargs):
            try:
                sig.bind(*([0.0] * k), *args, **kwargs)
            except TypeError as exc:
                raise SpecError(
                    f"{call}: {self._shown()} cannot take the data arguments "
                    f"({_describe_data(args, kwargs)}) after {k} point coordinate(s) "
                    f"({', '.join(kept[:k])}): {exc}. The call is "
                    f"f(*point, *args, **kwargs); pass each data argument once, in order"
                ) from None
        return k

    def _shown(self) -> str:
        return f"{self.name}({', '.join(self.parameters)})"

    def _bind(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
              ) -> Callable[..., Any]:
        if self._sig is not None or not kwargs:
            if not kwargs:
                return lambda *point: fn(*point, *args)
            return lambda *point: fn(*point, *args, **kwargs)
        # parameters given by name (a formula): every value goes in its position
        names = self.parameters
        slots = [p for p in names if p not in kwargs]

        def positional(*point: Any) -> Any:
            values = dict(zip(slots, (*point, *args), strict=True))
            values.update(kwargs)
            return fn(*(values[p] for p in names))

        return positional

    def _bind_derivative(self, fn: Callable[..., Any], k: int, args: tuple[Any, ...],
                         kwargs: dict[str, Any], what: str, call: str) -> Callable[..., Any]:
        """The hand-written derivative with the same data; a :class:`SpecError` at its first
        call (not at binding: the manual method may not be the one asked for) when its
        signature cannot take them."""
        layout = _layout(fn)
        sig = layout.sig
        if sig is not None and not layout.binds(k, args, kwargs):
            try:
                sig.bind(*([0.0] * k), *args, **kwargs)
            except TypeError as exc:
                problem = (f"{call}: the hand-written derivative @{self.name}.{what} "
                           f"({getattr(fn, '__name__', 'derivative')}{sig}) does not take the "
                           f"data arguments ({_describe_data(args, kwargs)}): {exc}; give it "
                           f"the same parameters as {self.name}")

                def refuse(*point: Any) -> Any:
                    raise SpecError(problem)

                return refuse
        return self._bind(fn, args, kwargs)

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
        try:
            out = self.fn(*self.unpack(x))
        except (ValueError, OverflowError) as exc:
            raise math_domain_error(exc, self.name, x) from None
        return normalize_output(out)

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
            ident = self.name if self.name.isidentifier() else "f"  # (a formula's name)
            raise MissingManualError(
                f"method='manual' on {self.name!r}: no hand-written derivative is registered; "
                f"add one with @{ident}.manual (def d{ident}("
                f"{', '.join(self.unbound.parameters)}): return [...]) or Function(fn, "
                f"manual=...), or choose another method"
            )
        return self.manual_fn(*self.unpack(x))

    def __repr__(self) -> str:
        if self.data is None:
            return f"Function({self.name!r}, parameters={self.parameters})"
        return (f"Function({self.name!r}, parameters={self.parameters}, data="
                f"({_describe_data(*self.data)}))")


def function(fn: Callable[..., Any] | None = None, *, name: str | None = None,
             vectorized: bool = False) -> Any:
    """Decorator form of :class:`Function`: ``@dk.function`` or ``@dk.function(name=...)``."""
    if fn is None:
        return lambda f: Function(f, name=name, vectorized=vectorized)
    return Function(fn, name=name, vectorized=vectorized)
