"""Forward-mode automatic differentiation: dual numbers pushed through the spec.

A :class:`Dual` carries a value (the *primal*) and its directional derivative (the
*tangent*). Calling a ``dnp`` primitive on duals runs the primitive on the primals and adds the
Jacobian-vector products of the registry (``prim.jvp_rule(i)``) of every argument that carries
a tangent: one pass of the function gives ``f(x)`` and ``J v``. A Jacobian takes one pass per
input coordinate (column by column), so forward mode wins for tall Jacobians (few inputs, many
outputs) and reverse mode for wide ones (a gradient of many inputs).

Each pass is its own :class:`ForwardTrace` with its own level, the tag that keeps nested
derivatives apart: in ``d/dx [x * d/dy (x + y)]`` the inner pass differentiates only its own
duals, so the answer is 1 and not 2 (the *perturbation confusion* of untagged dual numbers).
Tangents are computed with ``dnp`` primitives, so a pass inside another pass, or inside a
reverse-mode sweep, differentiates the tangent computation too: Hessians come from
forward-over-reverse (:func:`hvp`, :func:`hessian`) or forward-over-forward.

:func:`tangent_trace` records the evaluation trace with its tangents as data, the forward
half of Baydin et al. (2018), Table 2.

References
----------
A. G. Baydin, B. A. Pearlmutter, A. A. Radul, J. M. Siskind, "Automatic differentiation in
machine learning: a survey", JMLR 18 (2018), Table 2.

Examples
--------
>>> import diffkit.numpy as dnp
>>> from diffkit.methods import forward
>>> value, tangent = forward.jvp(lambda x: dnp.sin(x) * x, 0.0, 1.0)
>>> float(value), float(tangent)
(0.0, 0.0)
>>> float(forward.derivative(lambda x: x * forward.derivative(lambda y: x + y, 1.0), 2.0))
1.0
"""

from __future__ import annotations

import linecache
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .. import numpy as dnp
from ..core import (
    Primitive,
    Trace,
    Tracer,
    bind,
    checked_evaluation,
    complex_intermediate,
    is_complex,
    library_routes,
)
from ..display import DIGITS, expression_text, format_value, tangent_text
from ..errors import (
    DomainError,
    NotTraceableError,
    OrderError,
    OutputShapeError,
    UnknownMethodError,
)
from ..results import DerivativeResult
from ..spec import Function, check_derivative
from ..validation import check_output, not_scalar, prepare
from . import reverse
from .base import Method

__all__ = [
    "Dual",
    "ForwardMode",
    "ForwardTrace",
    "TangentTrace",
    "derivative",
    "gradient",
    "hessian",
    "hvp",
    "jacobian",
    "jvp",
    "jvps",
    "tangent_trace",
]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ============================================================================ dual numbers


class Dual(Tracer):
    """A value with a tangent, inside one forward pass (its :class:`ForwardTrace`).

    ``primal`` and ``tangent`` have the same shape (one tangent entry per element). Either may
    itself be a tracer of an outer trace, which is how derivatives nest.
    """

    __slots__ = ("_trace", "primal", "tangent")

    def __init__(self, trace: ForwardTrace, primal: Any, tangent: Any) -> None:
        self._trace = trace
        self.primal = primal
        self.tangent = tangent

    @property
    def _value(self) -> Any:
        p = self.primal
        return p._value if isinstance(p, Tracer) else p

    def __repr__(self) -> str:
        return f"Dual(primal={_short(self.primal)}, tangent={_short(self.tangent)})"


class ForwardTrace(Trace):
    """One forward pass: unboxes its own duals, binds on primals, sums the argument JVPs.

    Duals of other (outer) passes are left in the primals, so :func:`~diffkit.core.bind` hands
    the primal computation, and the tangent computation, to the outer trace next.

    ``batch=k`` makes it a vector pass: every tangent carries a leading axis of ``k``
    directions, ``(k, *primal.shape)``, and one pass gives ``k`` Jacobian-vector products. The
    stanzas' JVP rules serve both shapes: an elementwise primitive's tangents are aligned to
    the output's axes (``(k, 1, ..., *x.shape)``) so its rule broadcasts; a stanza marked
    ``jvp_batched`` handles the batch axis itself; any other rule runs once per direction.
    """

    __slots__ = ("batch",)

    def __init__(self, batch: int | None = None) -> None:
        super().__init__()
        self.batch = batch

    def process(self, prim: Primitive, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        primals: list[Any] = []
        tangents: list[Any] = []
        for a in args:
            if isinstance(a, Dual) and a._trace is self:
                primals.append(a.primal)
                tangents.append(a.tangent)
            else:
                primals.append(a)
                tangents.append(None)
        ans = bind(prim, tuple(primals), params)
        if not prim.differentiable:  # comparisons, sign: plain values, so branches work
            return ans
        if is_complex(ans) and any(t is not None for t in tangents):
            raise complex_intermediate(prim)
        out = None
        for i, t in enumerate(tangents):
            if t is None:  # a constant: its tangent is zero, no work
                continue
            rule = prim.jvp_rule(i)
            if rule is None:  # an index or a condition: no derivative flows through it
                continue
            try:
                if self.batch is None:
                    term = rule(t, ans, *primals, **params)
                else:
                    term = self._batched_term(prim, rule, i, t, ans, primals, params)
            except (DomainError, FloatingPointError) as exc:  # numpy traps in the rule
                raise _derivative_domain_error(prim, primals, exc) from None
            out = term if out is None else out + term
        if out is None:
            return ans
        if self.batch is not None and _shape(out) != (full := (self.batch, *_shape(ans))):
            out = dnp.broadcast_to(out, full)
        return self.box(prim, args, params, ans, out)

    def _batched_term(self, prim: Primitive, rule: Callable[..., Any], i: int, t: Any, ans: Any,
                      primals: list[Any], params: dict[str, Any]) -> Any:
        """The output tangents, ``(k, *ans.shape)``, contributed by argument ``i``'s batch."""
        if prim.elementwise:
            # numpy aligns shapes on the right: (k, *x.shape) must become (k, 1, .., *x.shape)
            # so that the batch axis stays in front when x broadcasts against the other args
            x = primals[i]
            if x.__class__ is not ans.__class__ or _shape(x) != _shape(ans):
                own = _shape(x)
                missing = len(_shape(ans)) - len(own)
                if missing > 0:
                    t = dnp.reshape(t, (self.batch, *(1,) * missing, *own))
            return rule(t, ans, *primals, **params)
        if prim.batched_jvp:
            return rule(t, ans, *primals, **params)
        # a rule written for one tangent: once per direction, stacked
        terms = [rule(t[j], ans, *primals, **params) for j in range(self.batch)]
        if any(isinstance(term, Tracer) for term in terms):
            return dnp.stack([dnp.broadcast_to(term, _shape(ans)) for term in terms])
        return np.stack([np.broadcast_to(term, _shape(ans)) for term in terms])

    def box(self, prim: Primitive, args: tuple[Any, ...], params: dict[str, Any], ans: Any,
            tangent: Any) -> Dual:
        """The dual holding a primitive's result (a hook for :class:`_RecordingTrace`)."""
        return Dual(self, ans, tangent)

    def to_bool(self, tracer: Tracer) -> bool:
        # forward mode follows the branch the value takes, like running the program
        return bool(tracer.primal)  # type: ignore[attr-defined]

    def to_float(self, tracer: Tracer, kind: str) -> Any:
        raise NotTraceableError(
            f"{kind}() was called on a forward-mode dual number {tracer!r}{_offending_call()}: "
            f"the tangent (the derivative) cannot pass through a conversion to a Python number, "
            f"which float(x), int(x) and math.sin(x), math.exp(x) and the other math functions "
            f"do. Write the function with diffkit.numpy instead (import diffkit.numpy as dnp; "
            f"dnp.sin(x), dnp.exp(x), ...)"
        )


def _offending_call() -> str:
    """`` at file:line: source`` of the innermost frame outside diffkit (the user's call)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_PACKAGE_DIR + os.sep):
            line = linecache.getline(filename, frame.f_lineno).strip()
            where = f"{os.path.basename(filename)}:{frame.f_lineno}"
            return f" at {where} in {frame.f_code.co_name}(): `{line}`" if line else f" at {where}"
        frame = frame.f_back
    return ""


def _derivative_domain_error(prim: Primitive, primals: list[Any], exc: Exception) -> DomainError:
    where = ", ".join(_short(p) for p in primals)
    rule = f" ({prim.domain.text})" if prim.domain is not None else ""
    return DomainError(
        f"{prim.name}({where}): the value is defined but its derivative is not finite there"
        f"{rule}; the JVP rule failed with: {exc}. Differentiate at a point inside the domain"
    )


def _short(value: Any) -> str:
    if isinstance(value, Tracer):
        return repr(value)
    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{arr.item():.6g}" if arr.dtype.kind in "fc" else repr(arr.item())
    return np.array2string(arr, threshold=6, precision=6)


def _shape(x: Any) -> tuple[int, ...]:
    if x.__class__ is np.ndarray:  # the common case, without np.shape's dispatch
        return x.shape
    return tuple(x.shape) if isinstance(x, Tracer) else np.shape(x)


def _size(x: Any) -> int:
    return int(np.prod(_shape(x), dtype=np.int64))


def _unbox(trace: ForwardTrace, out: Any) -> tuple[Any, Any]:
    """``(primal, tangent)`` of a pass's output; outputs that ignore the input get zeros.

    A vector pass (``trace.batch = k``) gives tangents of shape ``(k, *primal.shape)``.
    """
    out = Function.output(out)
    batch = () if trace.batch is None else (trace.batch,)
    if isinstance(out, Dual) and out._trace is trace:
        primal, tangent = out.primal, out.tangent
        if _shape(tangent) != batch + _shape(primal):
            tangent = dnp.broadcast_to(tangent, batch + _shape(primal))
        return primal, tangent
    return out, np.zeros(batch + _shape(out))


# ============================================================================ operators


def _as_call(fun: Any) -> Callable[[Any], Any]:
    return fun.call if isinstance(fun, Function) else fun


def _as_input(x: Any) -> Any:
    return x if isinstance(x, Tracer) else np.asarray(x, dtype=float)


def jvp(fun: Callable[[Any], Any], x: Any, v: Any) -> tuple[Any, Any]:
    """The value and the directional derivative ``J v`` of ``fun`` at ``x``, in one pass.

    Parameters
    ----------
    fun : callable or Function
        ``fun(x)`` written with :mod:`diffkit.numpy`; a :class:`~diffkit.Function` is called
        with the point (its parameters unpacked).
    x : float, array or tracer
        The point; tracers of outer traces (a reverse sweep, another forward pass) are
        allowed, so ``jvp`` nests.
    v : float, array or tracer
        The direction, with the shape of ``x``.

    Returns
    -------
    value, tangent
        ``fun(x)`` and ``J v``, both with the shape of ``fun(x)``.

    Examples
    --------
    >>> import numpy as np, diffkit.numpy as dnp
    >>> value, t = jvp(lambda x: x**2, np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    >>> t
    array([2., 4.])
    """
    x = _as_input(x)
    v = v if isinstance(v, Tracer) else np.asarray(v, dtype=float)
    if _shape(v) != _shape(x):
        raise OutputShapeError(
            f"jvp(fun, x, v): the direction v has shape {_shape(v)} but x has shape "
            f"{_shape(x)}; pass one tangent entry per element of x"
        )
    trace = ForwardTrace()
    with checked_evaluation(), library_routes():
        return _unbox(trace, _as_call(fun)(Dual(trace, x, v)))


def jvps(fun: Callable[[Any], Any], x: Any, vs: Any) -> tuple[Any, Any]:
    """The value and ``k`` directional derivatives ``J v_j`` of ``fun`` at ``x``, in one
    vector pass (vector forward mode).

    Parameters
    ----------
    fun : callable or Function
    x : float, array or tracer
        The point (tracers of outer traces allowed, as for :func:`jvp`).
    vs : array or tracer, shape ``(k, *x.shape)``
        The directions, one per row.

    Returns
    -------
    value, tangents
        ``fun(x)`` and the ``(k, *fun(x).shape)`` stack of ``J v_j``.

    Examples
    --------
    >>> import numpy as np, diffkit.numpy as dnp
    >>> value, ts = jvps(lambda x: x**2, np.array([1.0, 2.0]), np.eye(2))
    >>> ts
    array([[2., 0.],
           [0., 4.]])
    """
    x = _as_input(x)
    vs = vs if isinstance(vs, Tracer) else np.asarray(vs, dtype=float)
    vshape = _shape(vs)
    if vshape[1:] != _shape(x) or not vshape or vshape[0] < 1:
        raise OutputShapeError(
            f"jvps(fun, x, vs): the directions vs have shape {vshape} but x has shape "
            f"{_shape(x)}; pass a (k, *x.shape) stack of k >= 1 directions")
    trace = ForwardTrace(batch=vshape[0])
    with checked_evaluation(), library_routes():
        return _unbox(trace, _as_call(fun)(Dual(trace, x, vs)))


def _basis(x: Any, i: int) -> np.ndarray:
    e = np.zeros(_shape(x))
    e.flat[i] = 1.0
    return e


def _basis_block(x: Any, start: int, stop: int) -> np.ndarray:
    """The unit directions ``e_start .. e_{stop-1}`` of x's space, ``(stop - start, *x.shape)``."""
    k = stop - start
    e = np.zeros((k, int(np.prod(_shape(x), dtype=np.int64))))
    e[np.arange(k), np.arange(start, stop)] = 1.0
    return e.reshape((k, *_shape(x)))


def _chunks(n: int, chunk: int | None) -> list[tuple[int, int]]:
    size = default_chunk(n) if chunk is None else chunk
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def _columns(fun: Callable[[Any], Any], x: Any, chunk: int | None = None) -> tuple[Any, Any]:
    """The value and the ``(m, n)`` Jacobian, column ``i`` = ``J e_i``: vector passes of
    ``chunk`` directions each (``chunk=1``: one scalar-tangent pass per coordinate, the
    n-pass scheme). Traced values (nested derivatives) stay traced."""
    n = int(np.prod(_shape(x), dtype=np.int64))
    value, rows = None, []
    if chunk == 1:
        for i in range(n):
            value, t = jvp(fun, x, _basis(x, i))
            rows.append(dnp.reshape(t, (1, _size(value))))
    else:
        for start, stop in _chunks(n, chunk):
            value, ts = jvps(fun, x, _basis_block(x, start, stop))
            rows.append(dnp.reshape(ts, (stop - start, _size(value))))
    if not any(isinstance(r, Tracer) for r in rows):
        return value, np.concatenate(rows, axis=0).T
    return value, dnp.transpose(dnp.concatenate(rows, axis=0))


def derivative(fun: Callable[[Any], Any], x: Any) -> Any:
    """``d fun / d x`` at a scalar ``x``: one forward pass with tangent 1.

    Examples
    --------
    >>> import diffkit.numpy as dnp
    >>> float(derivative(dnp.exp, 0.0))
    1.0
    """
    return jvp(fun, x, np.ones(_shape(_as_input(x))))[1]


def gradient(fun: Callable[[Any], Any], x: Any, *, chunk: int | None = None) -> Any:
    """Gradient of a scalar ``fun`` at ``x`` (shape of ``x``): vector forward passes pushing
    ``chunk`` coordinate directions each (default :func:`default_chunk`; ``chunk=1`` is one
    scalar pass per coordinate).

    Examples
    --------
    >>> import numpy as np, diffkit.numpy as dnp
    >>> gradient(lambda x: dnp.sum(x**2), np.array([1.0, 2.0, 3.0]))
    array([2., 4., 6.])
    """
    x = _as_input(x)
    chunk = check_chunk(chunk, "gradient")
    value, jac = _columns(fun, x, chunk)
    if _shape(value) != ():
        raise not_scalar("fun", _shape(value), "gradient")
    return dnp.reshape(jac, _shape(x))


def jacobian(fun: Callable[[Any], Any], x: Any, *, chunk: int | None = None) -> Any:
    """Jacobian of ``fun`` at ``x`` as an ``(m, n)`` array, ``chunk`` columns per vector pass.

    Examples
    --------
    >>> import numpy as np, diffkit.numpy as dnp
    >>> jacobian(lambda x: x * 3.0, np.array([1.0, 2.0]))
    array([[3., 0.],
           [0., 3.]])
    """
    x = _as_input(x)
    chunk = check_chunk(chunk, "jacobian")
    return _columns(fun, x, chunk)[1]


def hvp(fun: Callable[[Any], Any], x: Any, v: Any) -> Any:
    """Hessian-vector product ``H v`` by forward-over-reverse: ``jvp`` of the reverse gradient.

    One forward pass through one reverse sweep: the cost of a few gradients, for any ``n``.

    Examples
    --------
    >>> import numpy as np, diffkit.numpy as dnp
    >>> hvp(lambda x: dnp.sum(x**3), np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    array([6., 0.])
    """
    call = _as_call(fun)
    return jvp(lambda z: reverse.gradient(call, z), x, v)[1]


HESSIAN_SCHEMES = ("forward-over-reverse", "forward-over-forward")

TANGENT_BUDGET = 2**15
"""Tangent entries per input-sized intermediate of a vector pass by default (256 KB of
float64: the batch stays in a core's cache, where numpy's elementwise loops run fastest)."""

def default_chunk(n: int) -> int:
    """Directions per vector pass when no ``chunk`` is given: ``TANGENT_BUDGET // n`` (every
    direction in one pass while ``n * n <= TANGENT_BUDGET``, n <= 181), at least 1: from
    n = 16,385 on, scalar passes (a batch of such tangents no longer fits a cache and was
    measured slower than one pass per coordinate).

    Examples
    --------
    >>> default_chunk(100), default_chunk(1000), default_chunk(20_000)
    (100, 32, 1)
    """
    return min(n, max(TANGENT_BUDGET // n, 1))


def check_chunk(chunk: Any, who: str) -> int | None:
    """``chunk`` validated: None (the default) or an integer >= 1; else an OrderError naming
    the setting."""
    if chunk is None:
        return None
    if isinstance(chunk, (bool, np.bool_)) or not isinstance(chunk, (int, np.integer)):
        raise OrderError(
            f"{who}: chunk={chunk!r} is not an integer; pass the number of tangent directions "
            f"one forward pass pushes, an integer >= 1 (chunk=None picks "
            f"min(n, max({TANGENT_BUDGET} // n, 1))); chunk=1 is one scalar pass per coordinate)")
    if chunk < 1:
        raise OrderError(
            f"{who}: chunk={chunk!r} must be an integer >= 1 (the number of tangent "
            f"directions one forward pass pushes); pass chunk=None for the default "
            f"min(n, max({TANGENT_BUDGET} // n, 1)) or chunk=1 for one scalar pass per coordinate")
    return int(chunk)


def hessian(fun: Callable[[Any], Any], x: Any, *,
            hessian_scheme: str = "forward-over-reverse", chunk: int | None = None) -> Any:
    """Hessian of a scalar ``fun`` at ``x`` as ``(n, n)``: Hessian-vector products, ``chunk``
    columns per vector pass.

    Parameters
    ----------
    fun : callable or Function
    x : array
    hessian_scheme : {"forward-over-reverse", "forward-over-forward"}
        ``"forward-over-reverse"``: vector forward passes through a reverse sweep;
        ``"forward-over-forward"``: vector forward passes through vector forward passes (no
        reverse engine needed).
    chunk : int, optional
        Tangent directions per vector pass (default :func:`default_chunk`); ``chunk=1`` is
        one scalar pass per column (n passes, n**2 for forward-over-forward).

    Examples
    --------
    >>> import numpy as np, diffkit.numpy as dnp
    >>> hessian(lambda x: x[0] ** 2 * x[1], np.array([1.0, 2.0]),
    ...         hessian_scheme="forward-over-forward")
    array([[4., 2.],
           [2., 0.]])
    """
    x = _as_input(x)
    call = _as_call(fun)
    chunk = check_chunk(chunk, "hessian")
    if hessian_scheme == "forward-over-reverse":

        def inner(z: Any) -> Any:
            return dnp.reshape(reverse.gradient(call, z), (-1,))
    elif hessian_scheme == "forward-over-forward":

        def inner(z: Any) -> Any:
            return dnp.reshape(gradient(call, z, chunk=chunk), (-1,))
    else:
        raise UnknownMethodError(
            f"hessian(hessian_scheme={hessian_scheme!r}): choose one of "
            f"{', '.join(repr(h) for h in HESSIAN_SCHEMES)}")
    return _columns(inner, x, chunk)[1]


# ============================================================================ the method


class ForwardMode(Method):
    """Forward-mode AD: dual numbers, vector passes of ``chunk`` tangent directions each.

    Parameters
    ----------
    hessian_scheme : {"auto", "forward-over-reverse", "forward-over-forward"}
        How :meth:`hessian` nests the passes. ``"auto"`` is forward-over-reverse.
    chunk : int, optional
        How many tangent directions one forward pass pushes (vector forward mode: every
        tangent carries a leading axis of that many directions; ``nfev`` still counts the n
        directions, ``info["passes"]`` the passes). The default, None, is
        :func:`default_chunk`: as many directions as keep a batch of input-sized tangents
        within 2**15 entries (all n in one pass up to n = 181; 32 at n = 1000; scalar passes
        from n = 16,385 on).
        ``chunk=1`` is the scalar scheme, one pass per input coordinate. Every
        chunk gives the same derivative.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> f = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2))
    >>> dk.gradient(f, [2.0, 5.0], method="forward-mode").round(6)
    array([5.5     , 1.716338])
    >>> dk.gradient(f, [2.0, 5.0], method=dk.methods.ForwardMode(chunk=1)).round(6)
    array([5.5     , 1.716338])
    """

    name = "forward-mode"
    family = "forward"

    def __init__(self, *, hessian_scheme: str = "auto", chunk: int | None = None) -> None:
        if hessian_scheme not in ("auto", *HESSIAN_SCHEMES):
            raise UnknownMethodError(
                f"ForwardMode(hessian_scheme={hessian_scheme!r}) is not a Hessian scheme; "
                f"choose one of {', '.join(repr(h) for h in ('auto', *HESSIAN_SCHEMES))}"
            )
        self.hessian_scheme = hessian_scheme
        self.chunk = check_chunk(chunk, "ForwardMode")

    # ------------------------------------------------------------------ passes
    def _seeded(self, spec: Function, x: np.ndarray, start: int, stop: int,
                trace: ForwardTrace) -> Any:
        """The spec's output on a pass seeded with the unit directions of coordinates
        ``start .. stop-1`` (one scalar direction when the trace is not batched)."""
        if spec.nparams == 1:
            seed = _basis(x, start) if trace.batch is None else _basis_block(x, start, stop)
            return spec.fn(Dual(trace, x, seed))
        # one scalar per parameter: parameters in the block carry a tangent, the rest stay plain
        args = list(spec.unpack(x))
        for i in range(start, stop):
            if trace.batch is None:
                seed = np.float64(1.0)
            else:
                seed = np.zeros(trace.batch)
                seed[i - start] = 1.0
            args[i] = Dual(trace, args[i], seed)
        return spec.fn(*args)

    def _passes(self, spec: Function, x: np.ndarray, op: str
                ) -> tuple[np.ndarray, np.ndarray, int]:
        """The value, the ``(m, n)`` Jacobian and the number of passes."""
        chunk = default_chunk(x.size) if self.chunk is None else self.chunk
        blocks = []
        value = None
        for start in range(0, x.size, chunk):
            stop = min(start + chunk, x.size)
            trace = ForwardTrace(batch=None if chunk == 1 else stop - start)
            with library_routes():
                primal, tangent = _unbox(trace, self._seeded(spec, x, start, stop, trace))
            if value is None:  # check the output once, before the other passes
                value = check_output(spec, primal, op, x)
            elif np.shape(primal) != np.shape(value):  # f's output changed between calls
                raise OutputShapeError(
                    f"{op}(f, x): {spec.name} returned shape {np.shape(value)} on the first "
                    f"pass and {np.shape(primal)} on pass {len(blocks) + 1} at the same x; f's "
                    f"output shape must not change between calls (does it keep state between "
                    f"calls?)")
            blocks.append(np.asarray(tangent, dtype=float).reshape(stop - start, -1))
        jac = np.concatenate(blocks, axis=0).T
        check_derivative(spec, jac, op, x, self.name)
        return value, jac, len(blocks)

    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        value, jac, passes = self._passes(spec, x, "jacobian")
        # nfev counts directional derivatives (n, the arithmetic of n evaluations of f, batched
        # or not); info["passes"] counts the vector passes that carried them
        return DerivativeResult(jac, nfev=x.size, method=self.name, out_shape=value.shape,
                                info={"passes": passes, "chunk": self._chunk(x)})

    def _gradient(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        _, jac, passes = self._passes(spec, x, "gradient")
        return DerivativeResult(jac.reshape(x.shape), nfev=x.size, method=self.name,
                                out_shape=(), info={"passes": passes, "chunk": self._chunk(x)})

    def _chunk(self, x: np.ndarray) -> int:
        return default_chunk(x.size) if self.chunk is None else min(self.chunk, x.size)

    def _hessian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        check_output(spec, spec.call(x.copy()), "hessian", x)  # (f may write to its argument)
        scheme = "forward-over-reverse" if self.hessian_scheme == "auto" else self.hessian_scheme
        h = np.asarray(hessian(spec, x, hessian_scheme=scheme, chunk=self.chunk),
                       dtype=float).reshape(x.size, x.size)
        check_derivative(spec, h, "hessian", x, self.name)
        chunk = self._chunk(x)
        passes = -(-x.size // chunk)
        nfev = x.size
        if scheme == "forward-over-forward":
            passes *= passes
            nfev *= x.size
        return DerivativeResult(h, nfev=nfev, method=self.name, out_shape=(),
                                info={"passes": passes, "hessian_scheme": scheme,
                                      "chunk": chunk})


# ============================================================================ tangent trace

_DOT = "\u0307"  # combining dot above: v̇ (Baydin et al. write tangents as dotted variables)


def _dotted(name: str) -> str:
    """The tangent's name: the dot goes over the last letter before any index (v̇-1, ẋ1)."""
    stem = re.match(r"[A-Za-z_]*[A-Za-z]", name)
    if stem is None:
        return f"d{name}"
    k = stem.end()
    return f"{name[:k]}{_DOT}{name[k:]}"


def _width(text: str) -> int:
    return len(text) - text.count(_DOT)


def _fmt(value: Any, digits: int = DIGITS) -> str:
    return format_value(value, digits)  # the same digits as the reverse trace's tables


@dataclass(frozen=True)
class TraceRow:
    """One line of the evaluation trace: ``name = expression = value`` and its tangent."""

    name: str
    primitive: str
    expression: str
    tangent_expression: str
    value: Any
    tangent: Any


@dataclass(frozen=True)
class TangentTrace:
    """The forward evaluation trace with tangents (Baydin et al. 2018, Table 2, left half).

    Attributes
    ----------
    function : str
        The spec's name.
    inputs : list of TraceRow
        ``v_{1-n} .. v_0``, the input variables with their seeded tangents.
    rows : list of TraceRow
        One row per primitive applied to a traced value, in evaluation order.
    outputs : list of TraceRow
        ``y`` (or ``y1 .. ym``) with the directional derivative.
    value, tangent : ndarray
        ``f(x)`` and ``J v`` (``v`` = :attr:`direction`).
    direction : ndarray
    """

    function: str
    inputs: list[TraceRow]
    rows: list[TraceRow]
    outputs: list[TraceRow]
    value: Any
    tangent: Any
    direction: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def forward_table(self, digits: int = DIGITS) -> str:
        """The trace as text: primal column and tangent column, side by side.

        Parameters
        ----------
        digits : int
            Significant digits of the values shown (scientific notation for very small and
            very large ones; arrays of more than 4 entries are shown by their shape).

        Returns
        -------
        str

        Examples
        --------
        >>> import diffkit as dk, diffkit.numpy as dnp
        >>> f = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2))
        >>> print(tangent_trace(f, [2.0, 5.0]).forward_table().splitlines()[0])
        Forward primal trace   | Forward tangent trace
        """
        left = ["Forward primal trace"]
        right = ["Forward tangent trace"]
        for row in [*self.inputs, *self.rows, *self.outputs]:
            left.append(f"{row.name} = {row.expression} = {_fmt(row.value, digits)}")
            right.append(f"{_dotted(row.name)} = {row.tangent_expression} = "
                         f"{_fmt(row.tangent, digits)}")
        width = max(_width(s) for s in left) + 1
        lines = [f"{a}{' ' * (width - _width(a))}| {b}" for a, b in zip(left, right, strict=True)]
        rule = "-" * width + "+" + "-" * (max(_width(s) for s in right) + 1)
        return "\n".join([lines[0], rule, *lines[1:]])

    def __str__(self) -> str:
        return self.forward_table()


class _RecordingTrace(ForwardTrace):
    """A forward pass that also writes down every primitive it processes.

    Rows are numbered only at the end, in topological generations (a row comes after the rows
    it reads, and rows of one generation keep their evaluation order): the numbering of
    Baydin et al. (2018), independent of the order Python happens to evaluate ``a + b - c``.
    """

    __slots__ = ("depth", "duals", "entries", "keys", "ninputs")

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[int, int] = {}  # id(dual) -> key: inputs 0..n-1, then rows
        self.depth: list[int] = []
        self.entries: list[tuple[Any, ...]] = []
        self.duals: list[Dual] = []  # alive until the trace ends, so no id() is reused
        self.ninputs = 0

    def add_input(self, dual: Dual) -> None:
        self.keys[id(dual)] = len(self.depth)
        self.depth.append(0)
        self.duals.append(dual)
        self.ninputs += 1

    def ref(self, a: Any) -> Any:
        """A traced argument's key, or the display text of a constant."""
        if isinstance(a, Dual) and a._trace is self:
            return self.keys[id(a)]
        return _fmt(a)

    def box(self, prim: Primitive, args: tuple[Any, ...], params: dict[str, Any], ans: Any,
            tangent: Any) -> Dual:
        out = Dual(self, ans, tangent)
        refs = [self.ref(a) for a in args]
        depth = 1 + max(self.depth[r] for r in refs if isinstance(r, int))
        self.keys[id(out)] = len(self.depth)
        self.depth.append(depth)
        self.entries.append((prim, refs, params, args, ans, tangent))
        self.duals.append(out)
        return out

    def finish(self) -> tuple[list[TraceRow], dict[int, str]]:
        """The rows in Baydin's numbering, and every key's name."""
        n = self.ninputs
        names = {j: f"v{j + 1 - n}" for j in range(n)}  # inputs: v_{1-n} .. v_0
        order = sorted(range(len(self.entries)), key=lambda k: self.depth[n + k])
        for pos, k in enumerate(order):
            names[n + k] = f"v{pos + 1}"
        rows = []
        for k in order:
            prim, refs, params, args, ans, tangent = self.entries[k]
            shown = [names[r] if isinstance(r, int) else r for r in refs]
            traced = [isinstance(r, int) for r in refs]
            tangents = [_dotted(n) if t else "0" for n, t in zip(shown, traced, strict=True)]
            rows.append(TraceRow(names[n + k], prim.name, expression_text(prim, shown, params),
                                 tangent_text(prim, args, params, shown, tangents, traced,
                                              names[n + k]),
                                 ans, tangent))
        return rows, names


def tangent_trace(spec: Any, x: Any, direction: Any = None) -> TangentTrace:
    """Run one forward pass and record the evaluation trace with its tangents.

    Parameters
    ----------
    spec : Function or callable
        The function (a plain callable is wrapped in a :class:`~diffkit.Function`).
    x : array_like
        The point.
    direction : array_like, optional
        The tangent seeded on the inputs, shape of ``x``; ``None`` means the first unit
        vector ``e1`` (the derivative with respect to the first coordinate).

    Returns
    -------
    TangentTrace
        ``.forward_table()`` prints the trace in the layout of Baydin et al. (2018), Table 2.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> f = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2))
    >>> t = tangent_trace(f, [2.0, 5.0], [1.0, 0.0])
    >>> [float(r.tangent) for r in t.rows]
    [0.5, 5.0, 0.0, 5.5, 5.5]
    """
    spec, xa = prepare(spec, x, "trace")
    if direction is None:
        v = _basis(xa, 0)
    else:
        try:
            v = np.asarray(direction, dtype=float)
        except (TypeError, ValueError):
            raise OutputShapeError(
                f"trace(f, x, direction): direction = {direction!r} is not an array of numbers; "
                f"pass one number per coordinate of x (shape {xa.shape})") from None
        if v.shape != xa.shape or not np.all(np.isfinite(v)):
            raise OutputShapeError(
                f"trace(f, x, direction): direction = {_short(v)} must be finite with the shape "
                f"of x {xa.shape}; got shape {v.shape}"
            )
    trace = _RecordingTrace()
    if spec.nparams == 1:
        duals = [Dual(trace, xa, v)]
        labels = [spec.parameters[0]]
    else:
        duals = [Dual(trace, xa[j], v[j]) for j in range(spec.nparams)]
        labels = list(spec.parameters)
    for d in duals:
        trace.add_input(d)
    with checked_evaluation(), library_routes():
        out = spec.output(spec.fn(*duals))
        primal, tangent = _unbox(trace, out)
    check_output(spec, primal, "trace", xa)
    rows, names = trace.finish()
    inputs = [TraceRow(names[j], "input", label, _dotted(label), d.primal, d.tangent)
              for j, (d, label) in enumerate(zip(duals, labels, strict=True))]
    ref = trace.ref(out)
    source = names[ref] if isinstance(ref, int) else ref
    outputs = [TraceRow("y", "output", source, _dotted(source) if isinstance(ref, int) else "0",
                        primal, tangent)]
    return TangentTrace(spec.name, inputs, rows, outputs, np.asarray(primal),
                        np.asarray(tangent), v, info={"passes": 1})
