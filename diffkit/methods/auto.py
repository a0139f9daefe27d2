"""The default method: the exact-to-rounding method that fits the function and the shape.

* code written with ``dnp`` (or numpy on traced values) is differentiated by AD: reverse mode
  for gradients and wide Jacobians (m <= n), forward mode for derivatives at a scalar, tall
  Jacobians (m > n) and Hessians (forward-over-reverse);
* code that AD cannot follow (it converts the value to a plain array or float, or calls a
  function diffkit has no primitive for) falls back to Richardson extrapolation, which only
  evaluates the function and reports an error estimate.

The choice is made once per (function, operation, point shape) and remembered, so a repeated
call neither re-evaluates ``f`` to count its outputs nor re-runs AD that is known to fail.

The result says what happened: ``result.method`` is the method that ran, ``info["method"]``
the same, ``info["why"]`` the reason in words, and after a fallback ``info["fallback"]`` a
:class:`Fallback` naming the primitive or the source line that stopped AD. The plain-array
API (``dk.gradient`` and friends) also emits a :class:`~diffkit.errors.DiffkitFallbackWarning`
the first time it falls back for a function (:func:`announce`).
"""

from __future__ import annotations

import linecache
import os
import re
import sys
import traceback
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import checked_call
from ..errors import DiffkitFallbackWarning, NotTraceableError, UnsupportedPrimitiveError
from ..results import DerivativeResult
from ..spec import Function
from .base import Method

__all__ = ["Auto", "Choice", "Fallback", "announce"]


@dataclass(frozen=True)
class Fallback:
    """Why AD could not follow the code: what auto records when it falls back.

    Attributes
    ----------
    tried : str
        The AD method that failed (``"reverse-mode"`` or ``"forward-mode"``).
    error : str
        The class of its error (``"NotTraceableError"``, ``"UnsupportedPrimitiveError"``).
    primitive : str or None
        numpy's (or scipy's) full name of the function that stopped AD
        (``"numpy.linalg.eig"``, ``"scipy.special.ellipk"``), when one did.
    reason : str
        The error's first sentence.
    location : str or None
        ``"file.py:12"``: the user's source line that stopped AD.
    source : str or None
        That line's text.
    function : str
        The function's name.
    """

    tried: str
    error: str
    primitive: str | None
    reason: str
    location: str | None
    source: str | None
    function: str

    def describe(self) -> str:
        """One sentence: what stopped AD, and where."""
        where = ""
        if self.location is not None:
            where = f" at {self.location}" + (f" (`{self.source}`)" if self.source else "")
        return f"{self.tried} could not follow {self.function}{where}: {self.reason}"


@dataclass(frozen=True)
class Choice:
    """Auto's decision for one (function, operation, point shape): the method and why (and
    ``run``, the chosen method's operation, ready to call)."""

    method: str
    why: str
    fallback: Fallback | None = None
    run: Any = field(default=None, repr=False, compare=False)


# ----------------------------------------------------------------------------- memory

_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the diffkit package
_CHOICES: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Choice]] = \
    weakref.WeakKeyDictionary()
"""Decisions per user function (the callable the Function wraps: plain callables are wrapped
anew on every call, and data arguments make a new bound Function), alive as long as it is."""
_ANNOUNCED: dict[int, Any] = {}
"""Functions whose fallback the plain-array API has announced, by the identity of their code
(a lambda made anew in a loop is one function): id -> a weak reference to the code."""


def _first_announcement(owner: Any) -> bool:
    """Whether ``owner``'s fallback is announced for the first time (and remember it)."""
    key = id(owner)
    known = _ANNOUNCED.get(key)
    if known is not None and known() is owner:
        return False
    try:
        _ANNOUNCED[key] = weakref.ref(owner, lambda _, key=key: _ANNOUNCED.pop(key, None))
    except TypeError:  # no weak reference: kept for good (builtins live that long anyway)
        _ANNOUNCED[key] = lambda owner=owner: owner
    return True


def _owner(spec: Function) -> Any:
    """The user's callable behind ``spec`` (what decisions and announcements are kept for)."""
    return spec.unbound.fn


def _choices(spec: Function) -> dict[tuple[Any, ...], Choice]:
    table = spec.cache.get(Auto)  # this Function's, then the user function's
    if table is None:
        owner = _owner(spec)
        try:
            table = _CHOICES.get(owner)
            if table is None:
                table = _CHOICES[owner] = {}
        except TypeError:  # no weak reference to it: remember on this Function only
            table = {}
        spec.cache[Auto] = table
    return table


def _key(op: str, spec: Function, x: np.ndarray) -> tuple[Any, ...]:
    """What a decision is remembered by: the operation and the point's shape (and, with data
    arguments, the parameters and the data's shapes)."""
    return (op, x.shape) if spec.data is None else \
        (op, x.shape, spec.parameters, _data_key(spec))


def _data_key(spec: Function) -> tuple[Any, ...]:
    """The data's shapes (decisions depend on the code's path, which shapes may steer)."""
    if spec.data is None:
        return ()
    args, kwargs = spec.data
    return (tuple(np.shape(a) if isinstance(a, np.ndarray) else type(a) for a in args),
            tuple((k, np.shape(v) if isinstance(v, np.ndarray) else type(v))
                  for k, v in kwargs.items()))


# ----------------------------------------------------------------------------- fallbacks

_QUALNAME = re.compile(r"^((?:numpy|scipy|dnp)(?:\.\w+)+)")


def _first_sentence(message: str) -> str:
    text = message.split("; ")[0].strip()
    return text if len(text) <= 200 else text[:197] + "..."


def _user_frame(exc: BaseException) -> tuple[str | None, str | None]:
    """``("file.py:12", "line text")`` of the deepest frame outside diffkit and numpy."""
    skip = [_DIR]  # diffkit's frames, and the libraries the user's line called into
    for name in ("numpy", "scipy"):
        module = sys.modules.get(name)
        if getattr(module, "__file__", None):
            skip.append(os.path.dirname(os.path.abspath(module.__file__)))
    prefixes = tuple(d + os.sep for d in skip)
    found: tuple[str | None, str | None] = (None, None)
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if os.path.abspath(frame.f_code.co_filename).startswith(prefixes):
            continue
        source = linecache.getline(frame.f_code.co_filename, lineno, frame.f_globals).strip()
        name = os.path.basename(frame.f_code.co_filename)
        found = (f"{name}:{lineno}", source or None)
    return found


def _fallback(exc: BaseException, spec: Function, tried: str) -> Fallback:
    message = str(exc)
    match = _QUALNAME.match(message)
    location, source = _user_frame(exc)
    return Fallback(tried, type(exc).__name__, match.group(1) if match else None,
                    _first_sentence(message), location, source, spec.name)


def announce(f: Any, r: DerivativeResult, call: str) -> None:
    """Warn (:class:`~diffkit.errors.DiffkitFallbackWarning`) that ``r`` comes from auto's
    fallback, once per function: the plain-array API returns no result object to read it
    from."""
    fallback = r.info.get("fallback")
    if not isinstance(fallback, Fallback):
        return
    owner = f.unbound.fn if isinstance(f, Function) else f
    if not _first_announcement(getattr(owner, "__code__", owner)):
        return
    error = "" if r.error is None else \
        f" (estimated error {float(np.max(np.abs(np.asarray(r.error, dtype=float)))):.1e})"
    fix = (f"write that line with functions diffkit traces (diffkit.numpy: "
           f"{fallback.primitive} is not one)" if fallback.primitive is not None else
           "write that line with numpy functions on the traced value (no float(), math.*, "
           "np.asarray)")
    message = (
        f"{call}: method='auto' used Richardson extrapolation{error}, because "
        f"{fallback.describe()}. For a derivative exact to rounding, {fix}; to make the "
        f"choice explicit, pass method='richardson'. Shown once per function; silence with "
        f"warnings.filterwarnings('ignore', category=dk.DiffkitFallbackWarning)")
    warnings.warn(DiffkitFallbackWarning(message), stacklevel=_outside_diffkit())


_CHECKED_CALL = checked_call.__code__  # numpy's errstate wrapper around it: not user code


def _outside_diffkit() -> int:
    """The ``stacklevel`` of the first frame outside diffkit, for the caller of
    :func:`announce`'s ``warnings.warn``: the warning points at the user's call."""
    level = 1
    frame = sys._getframe(1)
    while frame is not None and (frame.f_code is _CHECKED_CALL or os.path.abspath(
            frame.f_code.co_filename).startswith(_DIR + os.sep)):
        frame = frame.f_back
        level += 1
    return level


# ----------------------------------------------------------------------------- the method


class Auto(Method):
    """Pick AD where the code allows it, Richardson extrapolation otherwise.

    The decision is remembered per (function, operation, point shape); the result's
    ``info["method"]`` and ``info["why"]`` say what ran and why, and ``info["fallback"]`` (a
    :class:`Fallback`) what stopped AD.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp, numpy as np
    >>> r = dk.methods.get("auto").gradient(lambda x: dnp.sum(x**3), [1.0, 2.0])
    >>> r.value, r.method
    (array([ 3., 12.]), 'reverse-mode')
    >>> r = dk.methods.get("auto").gradient(lambda x: float(np.sum(np.asarray(x)**3)), [1.0, 2.0])
    >>> r.method, np.allclose(r.value, [3.0, 12.0])
    ('richardson', True)
    >>> r.info["fallback"].error
    'NotTraceableError'
    """

    name = "auto"
    family = "auto"
    reads_point = True  # (_gradient_array hands the caller's point only to such a method)
    _methods: dict[str, Method] = {}  # noqa: RUF012 - the shared default instances

    def __init__(self) -> None:
        pass

    @classmethod
    def _method(cls, name: str) -> Method:
        m = cls._methods.get(name)
        if m is None:
            from . import get

            m = cls._methods[name] = get(name)
        return m

    def _dispatch(self, op: str, spec: Function, x: np.ndarray, ad: str, why: str,
                  choices: dict[tuple[Any, ...], Choice] | None = None,
                  key: tuple[Any, ...] | None = None) -> DerivativeResult:
        if choices is None:
            choices = _choices(spec)
            key = _key(op, spec, x)
        choice = choices.get(key)
        if choice is None or choice.fallback is None:
            run = choice.run if choice is not None else getattr(self._method(ad), op)
            try:
                r = run(spec, x)
            except (NotTraceableError, UnsupportedPrimitiveError) as exc:
                fallback = _fallback(exc, spec, ad)
                choice = choices[key] = Choice(
                    "richardson", f"richardson: {fallback.describe()} "
                    f"({fallback.error}); Richardson extrapolation only evaluates the "
                    f"function, and reports an error estimate", fallback,
                    getattr(self._method("richardson"), op))
            else:
                if choice is None:
                    choice = choices[key] = Choice(ad, why, None, run)
                return r.with_info(method=ad, why=choice.why, auto=choice.why)
        r = choice.run(spec, x)
        return r.with_info(method="richardson", why=choice.why, auto=choice.why,
                           fallback=choice.fallback)

    def _gradient(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        return self._dispatch("_gradient", spec, x, "reverse-mode",
                              "reverse-mode: the code is traceable, and one reverse sweep "
                              "gives the whole gradient")

    def _gradient_array(self, spec: Function, x: np.ndarray) -> np.ndarray:
        # dk.gradient's path: once AD is the remembered choice, its array alone (no result
        # object, no info to merge); else the result, and the fallback announced
        # (reads_point: x may be the caller's own array, which only a chosen method that
        # reads its point gets as it is; every other path, result objects included, a copy)
        if type(self)._gradient is Auto._gradient:  # (not a subclass's own _gradient)
            choice = _choices(spec).get(_key("_gradient", spec, x))
            if choice is not None and choice.fallback is None:
                method = self._method(choice.method)
                try:
                    return method._gradient_array(spec, x if method.reads_point else x.copy())
                except (NotTraceableError, UnsupportedPrimitiveError):
                    pass  # this point leaves the traceable path: _dispatch records it
        r = self._gradient(spec, x.copy())
        if r.method == "richardson":
            announce(spec, r, "gradient(f, x)")
        return np.asarray(r.value)

    def _derivative(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        return self._dispatch("_derivative", spec, x, "forward-mode",
                              "forward-mode: the code is traceable, and one forward pass "
                              "gives the derivative at a scalar")

    def _hessian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        return self._dispatch("_hessian", spec, x, "forward-mode",
                              "forward-mode: the code is traceable; the Hessian is "
                              "forward-over-reverse (n forward passes over the gradient)")

    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        choices = _choices(spec)
        key = _key("_jacobian", spec, x)
        choice = choices.get(key)
        if choice is not None:  # decided before: no evaluation to count the outputs
            ad = choice.fallback.tried if choice.fallback is not None else choice.method
            return self._dispatch("_jacobian", spec, x, ad, choice.why, choices, key)
        m, n = int(np.size(spec.call(x.copy()))), x.size  # (f may write to its argument)
        if m > n:
            ad, why = "forward-mode", (f"forward-mode: the code is traceable, and with more "
                                       f"outputs than inputs (m = {m} > n = {n}) one forward "
                                       f"pass per input is cheaper")
        else:
            ad, why = "reverse-mode", (f"reverse-mode: the code is traceable, and with no "
                                       f"more outputs than inputs (m = {m} <= n = {n}) one "
                                       f"reverse sweep per output is cheaper")
        return self._dispatch("_jacobian", spec, x, ad, why, choices, key)

    def __repr__(self) -> str:
        return "Auto()"
