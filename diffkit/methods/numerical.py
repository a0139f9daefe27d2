"""Finite differences of any order, Richardson extrapolation and the complex step.

Every scheme here is an interpreter of the spec that only *evaluates* it, at stencil points
around ``x``:

* :class:`ForwardDifference`, :class:`BackwardDifference`, :class:`CentralDifference`: one
  stencil of accuracy order ``p`` (weights from :mod:`diffkit.stencils`, exact rationals).
  ``h="auto"`` picks each coordinate's step from the function's own scale: a pilot stencil
  measures ``|f|`` and a higher derivative (so the rounding noise and the truncation), and
  the step that balances them is taken (:func:`diffkit.stencils.optimal_step`).
  ``h=<float>`` is the textbook fixed step, applied as ``(x + h) - x``.
* :class:`Richardson`: central differences at steps ``h0, h0/2, h0/4, ...`` extrapolated to
  ``h -> 0`` (Neville's tableau), stopping when the error estimate stops improving; the error
  estimate adds the extrapolant's rounding bound to its truncation estimate. Near a domain
  edge it continues with one-sided differences and says so in ``status``.
* :class:`ComplexStep`: ``Im f(x + ih) / h`` with ``h = 1e-200``: no cancellation, so exact to
  rounding, one evaluation per direction. The function is first run under a small trace that
  refuses primitives the registry marks as not complex-analytic.

Evaluations go through one sampler per call: it counts them (``nfev``), reuses repeated
points, sends all the points of one phase through ``f`` in one call when the spec is
``vectorized`` (in chunks, so memory is ``O(n * chunk)``), and turns a domain error or a
non-finite value at a stencil point into :class:`~diffkit.errors.StencilError`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..core import (
    ROUTED,
    Domain,
    Trace,
    Tracer,
    checked_evaluation,
    domain_error,
    library_routes,
    located_domain_error,
)
from ..errors import (
    DomainError,
    NonAnalyticError,
    NotTraceableError,
    OrderError,
    OutputShapeError,
    StencilError,
    StepError,
    UnsupportedPrimitiveError,
)
from ..results import DerivativeResult
from ..spec import Function
from ..stencils import (
    ALL_POWERS,
    ARRAYS,
    EVEN_POWERS,
    FLOATS,
    PILOT_OFFSETS,
    Extrapolation,
    Lanes,
    Stencil,
    _check_order,
    along_axes,
    axis_points,
    exact_steps,
    fornberg_float,
    nodes,
    optimal_step,
    pilot_length,
    stencil,
)
from ..validation import call_checked, scalar_point
from .base import Method

__all__ = [
    "BackwardDifference",
    "CentralDifference",
    "ComplexStep",
    "ForwardDifference",
    "Richardson",
]

EPS = float(np.finfo(np.float64).eps)
_f64 = np.float64

NOISE = 1.0
"""Assumed relative noise of an evaluation of ``f``, in units of eps (a rounding or two)."""

PILOT_STEP = 1.0 / 64.0
"""The pilot step as a fraction of ``max(|x|, 0.1)`` (or of the length ``L`` once measured),
rounded to a power of two so Richardson's step sequence can pass through the pilot's points."""

PILOT_ROUNDS = 8
"""Most pilot rounds: each shrinks the pilot step to suit the length just measured (by 64x or
more), so eight reach from ``x/64`` down to lengths of ~1e-13 ``x`` (sin(1e9 x), log near 0)."""

RICHARDSON_START = 0.25
"""Richardson's first step, as a fraction of the length ``L`` measured by the pilot."""

MAX_START_LEVELS = 3
"""Richardson starts at most ``2^MAX_START_LEVELS`` pilot steps out: beyond the span the pilot
looked at, a kink or a singularity could enter the first stencils unseen."""

Key = tuple[tuple[int, float], ...]
"""A stencil point: the coordinates that differ from ``x`` and their values (``()`` is x)."""


def _check_h(h: Any, who: str, auto: bool = True) -> Any:
    if auto and isinstance(h, str) and h == "auto":
        return "auto"
    fix = "e.g. h=1e-6, or h='auto'" if auto else "e.g. h=1e-200"
    if isinstance(h, bool):
        raise StepError(f"{who}: h={h!r} is not a number; pass a positive float ({fix})")
    try:
        hf = float(h)
    except (TypeError, ValueError):
        raise StepError(f"{who}: h={h!r} is not a number; pass a positive float ({fix})") \
            from None
    if not (np.isfinite(hf) and hf > 0):
        raise StepError(f"{who}: h={h!r} must be positive and finite, {fix}")
    return hf


def _check_int(value: Any, name: str, who: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not lo <= value <= hi:
        raise OrderError(f"{who}: {name}={value!r} must be an integer from {lo} to {hi}")
    return int(value)


def _check_chunk(chunk: Any, who: str) -> Any:
    if isinstance(chunk, str) and chunk == "auto":
        return "auto"
    return _check_int(chunk, "chunk", who, 1, 10**7)


def _chunk(chunk: Any, n: int) -> int:
    """Points per batched call: ``"auto"`` keeps a batch near 32k numbers (cache-sized)."""
    return max(4, min(1024, 32768 // max(n, 1))) if chunk == "auto" else int(chunk)


def _fmt(v: float) -> str:
    return f"{v:.6g}"


# ============================================================================ sampling


class _Sampler:
    """Evaluates ``f`` at stencil points around ``x``: counting, reuse, batching, errors."""

    def __init__(self, method: Method, spec: Function, x: np.ndarray, op: str,
                 chunk: Any) -> None:
        self.method, self.spec, self.op = method, spec, op
        self.chunk = _chunk(chunk, x.size)
        self.shape = x.shape
        self.flat = x.ravel().astype(float)
        f0 = call_checked(spec, self._arg(self.flat), op)  # the point itself: DomainError
        self.nfev = 1
        self.out_shape = tuple(np.shape(f0))
        self.f0 = np.ravel(np.asarray(f0, dtype=float))
        self.m = self.f0.size
        self.values: dict[Key, np.ndarray | None] = {(): self.f0}
        self.pilot_hp: np.ndarray | None = None  # the pilot's steps and samples, for reuse
        self.pilot_vals: np.ndarray | None = None
        self.reasons: dict[Key, str] = {}

    def _arg(self, flat: np.ndarray) -> Any:
        return flat[0] if not self.shape else flat.reshape(self.shape)

    def point(self, key: Key) -> np.ndarray:
        p = self.flat.copy()
        for i, v in key:
            p[i] = v
        return p

    def get(self, keys: Sequence[Key], strict: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Values at ``keys`` as an ``(len(keys), m)`` array and a mask of failed points.

        With ``strict`` a failed point raises :class:`StencilError`; otherwise its row is NaN.
        """
        missing = [k for k in dict.fromkeys(keys) if k not in self.values]
        if missing:
            if self.spec.vectorized:
                for start in range(0, len(missing), self.chunk):
                    self._batch(missing[start:start + self.chunk])
            else:
                for k in missing:
                    self._one(k)
        out = np.empty((len(keys), self.m))
        bad = np.zeros(len(keys), dtype=bool)
        for r, k in enumerate(keys):
            v = self.values[k]
            if v is None:
                bad[r] = True
                out[r] = np.nan
            else:
                out[r] = v
        if strict and bad.any():
            raise self.error(keys[int(np.argmax(bad))])
        return out, bad

    def axis(self, idx: np.ndarray, val: np.ndarray, strict: bool = True
             ) -> tuple[np.ndarray, np.ndarray]:
        """Values where coordinate ``idx[r]`` is set to ``val[r]`` (one coordinate per point).

        The fast path of :meth:`get` for gradients: points are built with one fancy-index
        assignment per chunk and not remembered.
        """
        idx = np.asarray(idx, dtype=np.intp).ravel()
        val = np.asarray(val, dtype=float).ravel()
        npts = idx.size
        out = np.full((npts, self.m), np.nan)
        bad = np.zeros(npts, dtype=bool)
        step = self.chunk if self.spec.vectorized else 1
        for lo in range(0, npts, step):
            hi = min(lo + step, npts)
            pts = axis_points(self.flat, idx[lo:hi], val[lo:hi])
            self.nfev += hi - lo
            try:
                if self.spec.vectorized:
                    vals = np.asarray(self.spec.call_batch(pts.reshape((hi - lo, *self.shape))))
                    if vals.shape[:1] != (hi - lo,) or vals[0].size != self.m:
                        raise OutputShapeError(
                            f"{self.op}(f, x): {self.spec.name} is vectorized=True but returned "
                            f"shape {vals.shape} for a batch of {hi - lo} points; it must "
                            f"return one value of shape {self.out_shape} per point along axis 0"
                        )
                else:
                    vals = np.asarray(self.spec.call(self._arg(pts[0])))
                    if vals.size != self.m:
                        self._store(((int(idx[lo]), float(val[lo])),), vals)  # raises
                out[lo:hi] = vals.reshape(hi - lo, self.m)
            except (DomainError, FloatingPointError) as exc:
                if hi - lo == 1:
                    bad[lo] = True
                    self.reasons[((int(idx[lo]), float(val[lo])),)] = str(exc)
                    continue
                self.nfev -= hi - lo  # find the offending points one by one (counted there)
                for r in range(lo, hi):
                    key = ((int(idx[r]), float(val[r])),)
                    self._one_batched(key)
                    v = self.values.pop(key)
                    if v is None:
                        bad[r] = True
                    else:
                        out[r] = v
        bad |= ~np.isfinite(out).all(axis=1)
        for r in np.flatnonzero(bad):
            self.reasons.setdefault(((int(idx[r]), float(val[r])),), "nonfinite")
        if strict and bad.any():
            r = int(np.argmax(bad))
            raise self.error(((int(idx[r]), float(val[r])),))
        return out, bad

    def _store(self, key: Key, value: Any) -> None:
        arr = np.asarray(value)
        if arr.size != self.m:
            raise OutputShapeError(
                f"{self.op}(f, x): {self.spec.name} returned shape {arr.shape} at a stencil "
                f"point but shape {self.out_shape} at x; f must return the same shape everywhere"
            )
        arr = np.ravel(arr).astype(float)
        if np.all(np.isfinite(arr)):
            self.values[key] = arr
        else:
            self.values[key] = None
            self.reasons[key] = "nonfinite"

    def _one(self, key: Key) -> None:
        self.nfev += 1
        try:
            value = self.spec.call(self._arg(self.point(key)))
        except (DomainError, FloatingPointError) as exc:
            self.values[key] = None
            self.reasons[key] = str(exc)
            return
        self._store(key, value)

    def _batch(self, keys: list[Key]) -> None:
        if all(len(k) == 1 for k in keys):  # one coordinate moved: set them all at once
            pts = axis_points(self.flat, [k[0][0] for k in keys], [k[0][1] for k in keys])
        else:
            pts = np.repeat(self.flat[None, :], len(keys), axis=0)
            for r, key in enumerate(keys):
                for i, v in key:
                    pts[r, i] = v
        self.nfev += len(keys)
        try:
            vals = np.asarray(self.spec.call_batch(pts.reshape((len(keys), *self.shape))))
        except (DomainError, FloatingPointError):
            self.nfev -= len(keys)  # find the offending points one by one (counted there)
            for k in keys:
                self._one_batched(k)
            return
        if vals.shape[:1] != (len(keys),) or vals[0].size != self.m:
            raise OutputShapeError(
                f"{self.op}(f, x): {self.spec.name} is vectorized=True but returned shape "
                f"{vals.shape} for a batch of {len(keys)} points; it must return one value of "
                f"shape {self.out_shape} per point along axis 0"
            )
        vals = vals.reshape(len(keys), self.m).astype(float)
        finite = np.isfinite(vals).all(axis=1)
        for k, v, ok in zip(keys, vals, finite, strict=True):
            self.values[k] = v if ok else None
            if not ok:
                self.reasons[k] = "nonfinite"

    def _one_batched(self, key: Key) -> None:
        self.nfev += 1
        pts = self.point(key).reshape((1, *self.shape))
        try:
            value = np.asarray(self.spec.call_batch(pts))[0]
        except (DomainError, FloatingPointError) as exc:
            self.values[key] = None
            self.reasons[key] = str(exc)
            return
        self._store(key, value)

    def error(self, key: Key) -> StencilError:
        """The StencilError for the failed point ``key``: where, which step, what to do."""
        name = self.method.name
        where = ", ".join(f"x[{i}] = {_fmt(v)}" for i, v in key)
        steps = ", ".join(_fmt(v - self.flat[i]) for i, v in key)
        edge = ", ".join(f"between {_fmt(self.flat[i])} and {_fmt(v)}" for i, v in key)
        reason = self.reasons.get(key, "")
        if reason == "nonfinite":  # which primitive left its domain there, if one did
            try:
                located = located_domain_error(self.spec.fn,
                                               self.spec.unpack(self._arg(self.point(key))))
            except Exception:  # the user's code itself fails at that point: say no more
                located = None
            reason = "nonfinite" if located is None else str(located)
        if reason == "nonfinite":
            return StencilError(
                f"{name}: f is not finite at the stencil point {where} (step h = {steps}); the "
                f"function has a singularity or domain edge {edge}; use a one-sided scheme "
                f"pointing away from it or a smaller h"
            )
        also = "" if name == "richardson" else \
            ", or method='richardson', which does it by itself"
        return StencilError(
            f"{name}: the stencil point {where} (step h = {steps}) crosses a domain edge "
            f"{edge} ({reason}); use a one-sided scheme pointing away from the edge "
            f"(ForwardDifference/BackwardDifference{also}) or a smaller h"
        )

    def result(self, value: Any, method: Method, **fields: Any) -> DerivativeResult:
        return DerivativeResult(value, nfev=self.nfev, method=method.name,
                                out_shape=self.out_shape, **fields)


# ============================================================================ steps


def _pilot(sampler: _Sampler, kind: str, pow2: bool = False
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Measure each coordinate's scale from a pilot stencil.

    Central: samples at ``x - h_p, x + h_p, x + 2 h_p`` with ``h_p = eps^(1/5) max(|x|,
    0.1)`` give ``f'''`` from the third difference through ``f(x)`` (three evaluations, where
    a symmetric one takes four); with ``pow2``, for Richardson, the symmetric ``x +- h_p,
    x +- 2 h_p`` at the power of two nearest ``max(|x|, 0.1) / 64``, whose samples its step
    sequence reuses. One-sided: ``x + h_p, x + 2 h_p`` (``h_p = eps^(1/4) max(|x|, 0.1)``)
    give ``f''``. The length on which ``f`` varies is
    :func:`~diffkit.stencils.pilot_length`'s ``L = (|f| / |f^(k)|)^(1/k)`` (NaN where no
    truncation is visible: any step up to ``h_p`` is fine). A pilot point outside the domain
    shrinks that coordinate's pilot step eightfold (up to four times); a pilot step larger
    than ``L/5`` (it may have aliased) is redone at ``eps^(1/5) L`` (``L/64`` with ``pow2``),
    up to ``PILOT_ROUNDS`` rounds in all, and a length still unresolved then raises
    :class:`StencilError`. Every evaluation is counted.

    Returns ``(L, h_p, fscale)``, each of shape ``(n,)``.
    """
    flat = sampler.flat
    n = flat.size
    # the step at which the pilot's difference is most accurate (eps^(1/5) for a third
    # difference, eps^(1/4) for a second), or for Richardson a power of two it can reuse
    power = 0.2 if kind == "central" else 0.25
    hp = _pilot_step(np.maximum(np.abs(flat), 0.1), pow2, power, ARRAYS)
    length, fscale = np.full(n, np.nan), np.zeros(n)
    symmetric = kind == "central" and pow2
    sampler.pilot_vals = np.full((n, 4, sampler.m), np.nan) if symmetric else None
    todo = np.arange(n)
    short = np.full(n, np.nan)
    for _ in range(PILOT_ROUNDS):
        length[todo], fscale[todo], short[todo] = _measure(
            sampler, "symmetric" if symmetric else kind, todo, hp)
        todo = todo[_aliased(short[todo], hp[todo], ARRAYS)]
        if not todo.size:
            break
        hp[todo] = _pilot_step(short[todo], pow2, power, ARRAYS)
    else:  # the length shrank with every step: nothing a finite difference could resolve
        i = int(todo[0])
        raise StencilError(
            f"{sampler.method.name}: at x[{i}] = {_fmt(flat[i])} f varies on a scale below "
            f"{_fmt(short[i])} that {PILOT_ROUNDS} pilot rounds could not resolve (a "
            f"singularity or domain edge that close, or oscillation that fast), so no "
            f"finite-difference step is trustworthy there; use an AD method "
            f"(method='reverse-mode') or a point farther from it"
        )
    sampler.pilot_hp = hp
    return length, hp, fscale


def _pilot_step(length: Any, pow2: bool, power: float, lanes: Lanes) -> Any:
    """The pilot step for a length: the power of two nearest ``PILOT_STEP * L`` (steps that
    are exact multiples of each other), or ``eps^power * L``."""
    return lanes.pow2(PILOT_STEP * length) if pow2 else EPS**power * length


def _aliased(short: Any, hp: Any, lanes: Lanes) -> Any:
    """A pilot step beyond ~L/5 aliases (sin(1e6 x) sampled 1e-4 apart): measure again at the
    step that suits the length just found."""
    return lanes.isfinite(short) & (hp > 0.2 * short)


def _measure(sampler: _Sampler, kind: str, todo: np.ndarray, hp: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pilot round for coordinates ``todo`` (``hp`` shrinks in place at domain edges).

    Returns the length ``L``, ``|f|`` and the shortest length any of the pilot's differences
    shows (what the step must resolve), each of shape ``(todo.size,)``.
    """
    flat = sampler.flat
    offsets = np.array(PILOT_OFFSETS[kind], dtype=float)
    vals = np.empty((todo.size, offsets.size, sampler.m))
    rows = np.arange(todo.size)
    for attempt in range(5):
        pts = flat[todo[rows], None] + offsets[None, :] * hp[todo[rows], None]
        out, bad = sampler.axis(np.repeat(todo[rows], offsets.size), pts,
                                strict=attempt == 4)
        out = out.reshape(rows.size, offsets.size, sampler.m)
        bad = bad.reshape(rows.size, offsets.size).any(axis=1)
        vals[rows[~bad]] = out[~bad]
        rows = rows[bad]
        if not rows.size:
            break
        hp[todo[rows]] /= 8.0
    if sampler.pilot_vals is not None:
        sampler.pilot_vals[todo] = vals
    length, short, fscale = pilot_length(kind, list(vals.transpose(1, 0, 2)), sampler.f0[None],
                                         hp[todo])
    return length, fscale, short


def _auto_steps(sampler: _Sampler, st: Stencil, kind: str) -> np.ndarray:
    """Each coordinate's step for ``st``: rounding balanced against truncation."""
    length, hp, _ = _pilot(sampler, kind)
    h = optimal_step(st, np.nan_to_num(length, nan=np.inf))
    h = np.minimum(h, 2.0 * hp)  # the pilot looked at the function out to 2 h_p
    return np.maximum(h, 16 * EPS * np.maximum(np.abs(sampler.flat), np.finfo(float).tiny))


# ============================================================================ finite differences


class _FiniteDifference(Method):
    family = "numerical"
    kind: ClassVar[str] = "central"

    def __init__(self, *, h: Any = "auto", order: int = 2, chunk: Any = "auto") -> None:
        who = type(self).__name__
        self.h = _check_h(h, who)
        self.order = _check_order(self.kind, 1, order, who)
        self.chunk = _check_chunk(chunk, who)

    def _steps(self, sampler: _Sampler, st: Stencil) -> np.ndarray:
        h = _auto_steps(sampler, st, self.kind) if self.h == "auto" else \
            np.full(sampler.flat.size, self.h)
        return exact_steps(sampler.flat, h)

    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        s = _Sampler(self, spec, x, "jacobian", self.chunk)
        st = stencil(self.kind, 1, self.order)
        h = self._steps(s, st)
        jac = along_axes(st, s.flat, h, lambda idx, val: s.axis(idx, val)[0], s.f0)
        return s.result(jac, self, step=h.reshape(x.shape),
                        info={"order": self.order, "stencil": st.offsets})

    def _hessian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        s = _Sampler(self, spec, x, "hessian", self.chunk)
        n = s.flat.size
        st2 = stencil(self.kind, 2, self.order)
        st1 = stencil(self.kind, 1, self.order)
        h = self._steps(s, st2)
        hess = np.zeros((n, n))
        # diagonal: the second-derivative stencil
        pts2, w2 = nodes(st2, s.flat, h)
        keys = [((i, float(p)),) if o else () for i, row in enumerate(pts2)
                for o, p in zip(st2.offsets, row, strict=True)]
        vals, _ = s.get(keys)
        hess[np.arange(n), np.arange(n)] = np.einsum(
            "nk,nk->n", w2, vals.reshape(n, len(st2.offsets), s.m)[..., 0])
        # mixed partials: the product of first-derivative stencils in x_i and x_j
        pts1, w1 = nodes(st1, s.flat, h)
        off = st1.offsets
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        keys = []
        for i, j in pairs:
            for a, pa in zip(off, pts1[i], strict=True):
                for b, pb in zip(off, pts1[j], strict=True):
                    keys.append(tuple(kv for kv, o in (((i, float(pa)), a), ((j, float(pb)), b))
                                      if o))
        if pairs:
            vals, _ = s.get(keys)
            vals = vals[:, 0].reshape(len(pairs), len(off), len(off))
            for r, (i, j) in enumerate(pairs):
                hess[i, j] = hess[j, i] = w1[i] @ vals[r] @ w1[j]
        return s.result(hess, self, step=h.reshape(x.shape), info={"order": self.order})


class ForwardDifference(_FiniteDifference):
    """Forward differences ``sum_j w_j f(x + j h) / h``, ``j = 0..p``, of accuracy order ``p``.

    Parameters
    ----------
    h : "auto" or float
        ``"auto"`` (default) chooses each coordinate's step from the function's own scale:
        a pilot second difference (2 extra evaluations per coordinate, counted) measures
        ``|f''|`` and the step balancing rounding against truncation is taken (for ``p = 1``,
        ``h = 2 sqrt(eps |f| / |f''|)``). A float is the textbook fixed step, applied as
        ``(x + h) - x``.
    order : int
        Accuracy order ``p`` from 1 to 16; weights from Fornberg's recursion, exact rationals.
    chunk : int or "auto"
        For ``vectorized`` specs: stencil points sent to ``f`` per call (memory is
        ``O(n * chunk)``); ``"auto"`` keeps each batch near 32k numbers.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> r = dk.methods.ForwardDifference().derivative(dnp.exp, 1.0)
    >>> abs(float(r) - 2.718281828459045) < 1e-7, r.nfev
    (True, 4)
    """

    name = "forward-difference"
    kind = "forward"

    def __init__(self, *, h: Any = "auto", order: int = 1, chunk: Any = "auto") -> None:
        super().__init__(h=h, order=order, chunk=chunk)


class BackwardDifference(_FiniteDifference):
    """Backward differences ``sum_j w_j f(x - j h) / h``, accuracy order ``p``.

    The mirror image of :class:`ForwardDifference` (same settings). It samples only ``x`` and
    points below it, so it suits a point just below an upper domain edge (``sqrt(1 - x)``
    near 1), where central differences would cross the edge.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> r = dk.methods.BackwardDifference(order=2).derivative(dnp.sin, 0.5)
    >>> abs(float(r) - 0.8775825618903728) < 1e-9
    True
    """

    name = "backward-difference"
    kind = "backward"

    def __init__(self, *, h: Any = "auto", order: int = 1, chunk: Any = "auto") -> None:
        super().__init__(h=h, order=order, chunk=chunk)


class CentralDifference(_FiniteDifference):
    """Central differences ``sum_j w_j f(x + j h) / h``, ``j = -p/2..p/2``, of even order ``p``.

    Parameters
    ----------
    h : "auto" or float
        ``"auto"`` (default): a pilot stencil at ``x - h_p, x + h_p, x + 2 h_p`` (3
        evaluations per coordinate, counted; with ``f(x)`` they make a third difference)
        measures ``|f|`` and ``|f'''|``, and the step balancing rounding
        against truncation is taken (``h = (3 eps |f| / |f'''|)^(1/3)`` for ``p = 2``, the
        analogue from :func:`diffkit.stencils.optimal_step` for higher orders). A float is the
        textbook fixed step, applied as ``(x + h) - x``.
    order : int
        Even accuracy order ``p`` from 2 to 16.
    chunk : int or "auto"
        For ``vectorized`` specs: stencil points sent to ``f`` per call (memory is
        ``O(n * chunk)``); ``"auto"`` keeps each batch near 32k numbers.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> r = dk.methods.CentralDifference().derivative(dnp.exp, 1.0)
    >>> abs(float(r) - 2.718281828459045) < 1e-10, r.nfev
    (True, 6)
    >>> float(dk.methods.CentralDifference(order=6).derivative(dnp.sin, 0.0))
    1.0
    """

    name = "central-difference"
    kind = "central"


# ============================================================================ Richardson


class _Fallback(Exception):
    """The scalar path met something only the batched path handles."""

    def __init__(self, nfev: int) -> None:
        super().__init__(nfev)
        self.nfev = nfev


def _start_step(length: Any, hp: Any, lanes: Lanes) -> Any:
    """Richardson's first step ``h0 = hp 2^m ~ L/4``: the sequence ``h0 / 2^k`` passes through
    the pilot's ``2 hp`` and ``hp`` (and reuses its samples), and starts at most
    ``2^MAX_START_LEVELS`` pilot steps out (``L`` NaN, no truncation visible: that far)."""
    return hp * 2.0 ** lanes.levels(RICHARDSON_START * length / hp, MAX_START_LEVELS)


def _central_level(fa: Any, fb: Any, width: Any, fscale: Any) -> tuple[Any, Any]:
    """One level's central difference over ``width = (x + h) - (x - h)`` and the bound on its
    rounding noise (``sum |w| = 2 / width`` times ``NOISE`` eps ``|f|``). Floats, or arrays
    with ``width`` and ``fscale`` as columns ``(E, 1)``."""
    return (fb - fa) / width, 2 * NOISE * EPS * fscale / width


class Richardson(Method):
    """Central differences at a shrinking step sequence, extrapolated to ``h -> 0``.

    For each coordinate: a pilot stencil (4 evaluations) measures the length ``L`` on which
    the function varies; central differences at ``h0 = L/2, h0/2, h0/4, ...`` (2 evaluations
    each) fill Neville's tableau, each extrapolation removing the next even power of ``h``;
    the tableau entry with the smallest error estimate is returned, and the sequence stops as
    soon as the estimate has not improved for two levels (or reached rounding level). The
    error estimate is the entry's distance to the same extrapolation one step coarser plus a
    bound on the rounding noise its coefficients amplify, so it bounds the true error without
    being wildly pessimistic. The rounding bound assumes each evaluation of ``f`` is good to
    about ``eps |f|``; when ``f`` is a small difference of large intermediates (catastrophic
    cancellation inside ``f``), the noise is larger and the estimate can fall short by that
    factor.

    If a central stencil leaves the function's domain (``sqrt`` near 0 with a big step), the
    sequence continues with one-sided second-order differences pointing away from the edge
    (``(-3 f(x) + 4 f(x + h) - f(x + 2h)) / 2h``, powers 2, 3, 4, ...), and ``status`` says so.

    Parameters
    ----------
    h : "auto" or float
        The first (largest) step; ``"auto"`` takes it from the pilot.
    max_levels : int
        Most steps in the sequence (2 to 30).
    chunk : int or "auto"
        For ``vectorized`` specs: stencil points sent to ``f`` per call (memory is
        ``O(n * chunk)``); ``"auto"`` keeps each batch near 32k numbers.

    Returns
    -------
    DerivativeResult
        ``value``, ``error`` (estimate of the absolute error, same shape), ``nfev``, ``step``
        (the step of the returned entry), ``status``.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> r = dk.methods.Richardson().derivative(dnp.exp, 1.0)
    >>> abs(float(r) - 2.718281828459045) <= r.error < 1e-12
    True
    >>> r = dk.methods.Richardson(h=0.1).derivative(dnp.sqrt, 0.01)
    >>> r.status
    'one-sided (forward) near a domain edge: f is not defined at x[0] = -0.09'
    """

    name = "richardson"
    family = "numerical"

    def __init__(self, *, h: Any = "auto", max_levels: int = 14, chunk: Any = "auto") -> None:
        self.h = _check_h(h, "Richardson")
        self.max_levels = _check_int(max_levels, "max_levels", "Richardson", 2, 30)
        self.chunk = _check_chunk(chunk, "Richardson")

    # ---------------------------------------------------------------- first derivatives
    def derivative(self, f: Any, x: Any, *, args: tuple[Any, ...] = (),
                   kwargs: dict[str, Any] | None = None) -> DerivativeResult:
        """d f / d x at a scalar ``x``: value, error estimate, evaluations, step, status."""
        if args.__class__ is not tuple or args or kwargs is not None:  # data: bound first
            return super().derivative(f, x, args=args, kwargs=kwargs)
        xf = scalar_point(f, x)  # a scalar Function at a float: no validation or dispatch
        if xf is not None:
            try:
                with checked_evaluation():
                    return self._scalar(f, xf)
            except _Fallback as fb:  # the batched path explains (or goes one-sided)
                r = self._run(functools.partial(Method._derivative, self), f, np.array(xf))
                return dataclasses.replace(r, nfev=r.nfev + fb.nfev)
        return super().derivative(f, x)

    def _derivative(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        if spec.vectorized:
            return super()._derivative(spec, x)
        try:
            return self._scalar(spec, float(x.reshape(())))
        except _Fallback as fb:  # a domain edge, a vector output: the batched path handles it
            r = super()._derivative(spec, x)
            return dataclasses.replace(r, nfev=r.nfev + fb.nfev)

    def _scalar(self, spec: Function, xf: float) -> DerivativeResult:
        """One coordinate, one output: the algorithm of :meth:`_jacobian` run on Python floats.

        The pilot's formula and the extrapolation are the same functions the batched path
        calls (:func:`~diffkit.stencils.pilot_length`,
        :class:`~diffkit.stencils.Extrapolation`), given ``FLOATS``: small numpy arrays cost
        microseconds per operation, and a derivative of a cheap scalar function would spend
        most of its time there instead of in ``f``. Anything this path does not handle (a
        domain edge, a non-finite or non-scalar value, an unresolved pilot) raises
        :class:`_Fallback`, and the batched path starts over (its evaluations counted too).
        """
        nfev = 0
        call = spec.fn if spec.nparams == 1 else spec.call  # one parameter: fn(x) is call(x)
        seen: dict[float, float] = {}

        def f(t: float) -> float:
            nonlocal nfev
            if t in seen:  # the pilot's points recur in the step sequence
                return seen[t]
            nfev += 1
            try:
                v = call(_f64(t))
            except (DomainError, FloatingPointError):
                raise _Fallback(nfev) from None
            if v.__class__ is not _f64 and not isinstance(v, (float, np.floating)):
                v = np.asarray(v)
                if v.shape != () or v.dtype.kind not in "iuf":
                    raise _Fallback(nfev)
            v = float(v)
            if v - v != 0.0:  # inf or nan
                raise _Fallback(nfev)
            seen[t] = v
            return v

        f0 = f(xf)
        if self.h == "auto":  # the symmetric pilot of _pilot(pow2=True), rounds and all
            hp = _pilot_step(max(abs(xf), 0.1), True, 0.0, FLOATS)
            for _ in range(PILOT_ROUNDS):
                v = [f(xf + s * hp) for s in PILOT_OFFSETS["symmetric"]]
                length, short, _ = pilot_length("symmetric", v, f0, hp, FLOATS)
                if not _aliased(short, hp, FLOATS):
                    break
                hp = _pilot_step(short, True, 0.0, FLOATS)
            else:  # unresolved: the batched path raises the explanation
                raise _Fallback(nfev)
            h0 = _start_step(length, hp, FLOATS)
        else:
            h0 = self.h
        ext = Extrapolation(EVEN_POWERS, lanes=FLOATS)
        add, fscale = ext.add, abs(f0)
        for k in range(self.max_levels):
            h = h0 / 2.0**k
            a, b = xf - h, xf + h
            fa, fb = f(a), f(b)
            fscale = max(fscale, abs(fa), abs(fb))
            if not add(*_central_level(fa, fb, (b - xf) - (a - xf), fscale), h):
                break
        if math.isnan(ext.step):
            raise _Fallback(nfev)
        return DerivativeResult(ext.value, nfev=nfev, method=self.name, error=ext.error,
                                step=ext.step, out_shape=())

    def _h0(self, s: _Sampler) -> np.ndarray:
        if self.h != "auto":
            return np.full(s.flat.size, self.h)
        try:
            length, hp, _ = _pilot(s, "central", pow2=True)
        except StencilError:
            # even the smallest central pilot leaves the domain (log at 1e-9): measure on the
            # side where f is defined; the sequence then goes one-sided by itself
            errors = []
            for side in ("forward", "backward"):
                try:
                    length, hp, _ = _pilot(s, side, pow2=True)
                    break
                except StencilError as exc:
                    errors.append(exc)
            else:  # the side where f is defined says why it failed (unresolved), if any
                raise next((e for e in errors if "pilot rounds" in str(e)), errors[0])
            s.pilot_hp = s.pilot_vals = None  # one-sided samples: not for the central reuse
        return _start_step(length, hp, ARRAYS)

    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        s = _Sampler(self, spec, x, "jacobian", self.chunk)
        n = s.flat.size
        h0 = self._h0(s)
        value = np.full((s.m, n), np.nan)
        error = np.full((s.m, n), np.nan)
        step = np.full(n, np.nan)
        statuses: dict[int, str] = {}
        todo: dict[str, list[int]] = {"central": list(range(n))}
        floor = 16 * EPS * np.maximum(np.abs(s.flat), np.finfo(float).tiny)
        halvings = np.zeros(n, dtype=int)
        while todo:
            nxt: dict[str, list[int]] = {}
            for kind, idx in todo.items():
                fails = self._run_sequence(s, np.array(idx), h0, kind, value, error, step)
                for i, key, side in fails:
                    if kind == "central" and side:  # the other side works: go one-sided
                        statuses[i] = (f"one-sided ({side}) near a domain edge: f is not "
                                       f"defined at x[{i}] = {_fmt(key[0][1])}")
                        nxt.setdefault(side, []).append(i)
                    elif h0[i] / 2 > floor[i] and halvings[i] < 24:  # neither works: halve
                        h0[i] /= 2
                        halvings[i] += 1
                        nxt.setdefault(kind, []).append(i)
                    else:
                        raise s.error(key)
            todo = nxt
        status = "; ".join(dict.fromkeys(statuses.values())) or "ok"
        return s.result(value, self, error=error, step=step.reshape(x.shape), status=status)

    def _run_sequence(self, s: _Sampler, idx: np.ndarray, h0: np.ndarray, kind: str,
                      value: np.ndarray, error: np.ndarray, step: np.ndarray
                      ) -> list[tuple[int, Key, str]]:
        """Run the step sequence for coordinates ``idx``; fill value/error/step in place.

        Returns the coordinates whose first level left the domain: ``(i, failed point, side)``
        where ``side`` names the one-sided scheme that may work (``""``: none).
        """
        flat = s.flat
        central = kind == "central"
        sign = -1.0 if kind == "backward" else 1.0
        ext = Extrapolation(EVEN_POWERS if central else ALL_POWERS, (idx.size, s.m))
        fails: list[tuple[int, Key, str]] = []
        fscale = np.full(idx.size, np.abs(s.f0).max())
        offs = np.array((-1.0, 1.0) if central else (sign, 2 * sign))
        for k in range(self.max_levels):
            h = h0[idx] / 2.0**k
            pts = flat[idx, None] + offs[None, :] * h[:, None]
            active = ext.active
            act = np.flatnonzero(active)
            vals = np.full((idx.size, 2, s.m), np.nan)
            if central:
                # levels at the pilot's steps reuse its samples (offsets -2, +2 or -1, +1)
                reuse = np.zeros(idx.size, dtype=bool)
                if s.pilot_hp is not None and s.pilot_vals is not None and self.h == "auto":
                    for mult, cols in ((2.0, [0, 3]), (1.0, [1, 2])):
                        hit = active & (h == mult * s.pilot_hp[idx])
                        vals[hit] = s.pilot_vals[idx[hit]][:, cols]
                        reuse |= hit
                act = np.flatnonzero(active & ~reuse)
                out, bad = s.axis(np.repeat(idx[act], 2), pts[act], strict=False)
            else:  # x + 2h_k is x + h_(k-1): remembered points are reused
                keys: list[Key] = [((int(idx[r]), float(p)),) for r in act for p in pts[r]]
                out, bad = s.get(keys, strict=False)
            vals[act] = out.reshape(act.size, 2, s.m)
            bad = bad.reshape(act.size, 2)
            for r, b in zip(act[bad.any(axis=1)], bad[bad.any(axis=1)], strict=True):
                active[r] = False
                if k == 0:
                    key = ((int(idx[r]), float(pts[r][int(np.argmax(b))])),)
                    side = ("forward" if b[0] else "backward") if central and not b.all() \
                        else ""
                    fails.append((int(idx[r]), key, side))
                # a later level failing keeps the best entry found so far
            actual = pts - flat[idx, None]
            fscale = np.maximum(fscale, np.nan_to_num(np.abs(vals)).max(axis=(1, 2)))
            if central:
                d, noise = _central_level(vals[:, 0], vals[:, 1],
                                          (actual[:, 1] - actual[:, 0])[:, None], fscale[:, None])
            else:
                a1, a2 = actual[:, 0], actual[:, 1]
                # second-order one-sided weights for the offsets actually sampled
                w = fornberg_float(np.stack([np.zeros_like(a1), a1, a2], axis=1) / a1[:, None],
                                   1) / a1[:, None]
                d = w[:, :1] * s.f0[None, :] + w[:, 1:2] * vals[:, 0] + w[:, 2:3] * vals[:, 1]
                noise = (NOISE * EPS * fscale * np.abs(w).sum(axis=1))[:, None]
            if not ext.add(d, noise, h).any():
                break
        ok = np.isfinite(ext.step)
        failed = {i for i, _, _ in fails}
        for r in np.flatnonzero(~ok):  # no two levels succeeded: retry with a smaller step
            if int(idx[r]) not in failed:
                fails.append((int(idx[r]), ((int(idx[r]), float(flat[idx[r]] + h0[idx[r]])),),
                              ""))
        value[:, idx[ok]] = ext.value[ok].T
        error[:, idx[ok]] = ext.error[ok].T
        step[idx[ok]] = ext.step[ok]
        return fails

    # ---------------------------------------------------------------- Hessian
    def _hessian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        s = _Sampler(self, spec, x, "hessian", self.chunk)
        n = s.flat.size
        h0 = self._h0(s)
        flat = s.flat
        pairs = [(i, i) for i in range(n)] + [(i, j) for i in range(n) for j in range(i + 1, n)]
        first = np.array([i for i, _ in pairs])
        # no discrediting here: on a function flat to rounding (f = x - ((3 + x) - 3)), whose
        # noise is larger than eps |f| assumes, it jumps from 2e-13 to a noise-made 4e-6
        ext = Extrapolation(EVEN_POWERS, (len(pairs), 1), discredit=False)
        fscale = np.abs(s.f0).max()
        for k in range(self.max_levels):
            h = exact_steps(flat, h0 / 2.0**k)
            keys: list[Key] = []
            for i, j in pairs:
                if i == j:
                    keys += [((i, flat[i] + h[i]),), ((i, flat[i] - h[i]),)]
                else:
                    keys += [((i, flat[i] + a * h[i]), (j, flat[j] + b * h[j]))
                             for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
            vals, _ = s.get(keys)
            vals = vals[:, 0]
            fscale = max(fscale, float(np.abs(vals).max()))
            d = np.empty(len(pairs))
            noise = np.empty(len(pairs))
            pos = 0
            for r, (i, j) in enumerate(pairs):
                if i == j:
                    d[r] = (vals[pos] - 2 * s.f0[0] + vals[pos + 1]) / h[i] ** 2
                    noise[r] = 4 * NOISE * EPS * fscale / h[i] ** 2
                    pos += 2
                else:
                    v = vals[pos:pos + 4]
                    d[r] = (v[0] - v[1] - v[2] + v[3]) / (4 * h[i] * h[j])
                    noise[r] = NOISE * EPS * fscale / (h[i] * h[j])
                    pos += 4
            if not ext.add(d[:, None], noise[:, None], h[first]).any():
                break
        hess = np.empty((n, n))
        err = np.empty((n, n))
        for r, (i, j) in enumerate(pairs):
            hess[i, j] = hess[j, i] = ext.value[r, 0]
            err[i, j] = err[j, i] = ext.error[r, 0]
        return s.result(hess, self, error=err, step=h0.reshape(x.shape))


# ============================================================================ complex step


def _derivative_domain(prim: Any) -> Domain | None:
    """Where ``prim``'s derivative is finite, when that is narrower than where it is defined.

    The registry's ``derivative_domain`` field; until every stanza has one, a domain whose text
    says ``(derivative: ...)`` (sqrt: ``x >= 0 (derivative: x > 0)``) gives it: the same
    bounds, open.
    """
    dd = getattr(prim, "derivative_domain", None)
    if dd is not None or prim.domain is None or "derivative:" not in prim.domain.text:
        return dd
    text = prim.domain.text.split("derivative:", 1)[1].strip(" )")
    return dataclasses.replace(prim.domain, text=text, lo_open=True, hi_open=True)


_DOMAINS: dict[Any, tuple[Domain | None, Domain | None]] = {}
"""primitive -> (domain, derivative domain), looked up once per primitive."""
_COMPLEX = (complex, np.complex128)


def _applies(domain: Domain | None, vals: tuple[Any, ...]) -> bool:
    """Whether ``domain`` bounds the first of ``vals``: for a unary primitive, or for
    ``power(x, y)`` with a non-integer ``y`` when the domain says so (``x**0.5`` needs
    ``x >= 0``, ``x**2`` does not)."""
    if domain is None:
        return False
    return len(vals) == 1 or (domain.integer_exponent_only and len(vals) == 2
                              and not np.all(np.real(vals[1]) % 1 == 0))


def _outside(domain: Domain, v: Any) -> bool:
    """Whether the real value ``v`` lies outside ``domain`` (:meth:`Domain.contains`, with a
    Python-float path: the complex step checks every call of a domain-restricted spec)."""
    if type(v) is not float:
        return not np.all(domain.contains(v))
    lo, hi = domain.lo, domain.hi
    return not (v - v == 0.0 and (lo is None or (v > lo if domain.lo_open else v >= lo))
                and (hi is None or (v < hi if domain.hi_open else v <= hi)))


class _AnalyticTrace(Trace):
    """Runs ``f`` on complex values, refusing primitives that are not complex-analytic and
    arguments outside a primitive's domain or its derivative's domain.

    ``f(x + ih)`` hides both: ``log(-1 + ih)`` and ``sqrt(0 + ih)`` are finite complex numbers
    (``Im sqrt(ih) / h = 7.07e99`` stands for an infinite derivative), so the real part of each
    argument is checked here, against the registry. ``domains`` records whether the spec has
    such a primitive at all, ``edges`` whether one has a derivative domain narrower than its
    domain (sqrt: defined at 0, its derivative is not).
    """

    __slots__ = ("continued", "deferred", "domains", "edges", "point", "spec")

    def __init__(self, spec: Function, point: Any) -> None:
        super().__init__()
        self.spec = spec
        self.point = point  # x + ih, for messages
        self.domains = self.edges = False
        self.continued = False  # a stanza's continuation ran (numpy's norm is not analytic)
        self.deferred: list[DomainError] = []  # domain errors of entries made NaN (see _check)

    def process(self, prim: Any, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        if not prim.differentiable:
            # a comparison: a condition decided by the real point (x + ih and x are on the
            # same side of it), evaluated on the real parts to a plain boolean, as every
            # interpreter's `where` expects; numpy compares complex values lexicographically,
            # so every call of such a spec is traced. Values that are not conditions (floor,
            # sign) feed arithmetic: those stay refused below as not analytic
            real = tuple(np.real(a._z) if isinstance(a, _ComplexTracer) and a._trace is self
                         else a for a in args)
            out = prim.evaluate(real, params)
            if np.asarray(out).dtype == bool:
                self.continued = True
                return out
        if not prim.analytic:
            raise NonAnalyticError(
                f"complex-step: {self.spec.name} uses the primitive {prim.name!r}, which is not "
                f"complex-analytic, so Im f(x + ih)/h would be silently wrong; use "
                f"method='richardson' or 'central-difference' (or an AD method)"
            )
        if len(args) == 1:  # the common case, without a generator
            a = args[0]
            vals = (a._z,) if type(a) is _ComplexTracer and a._trace is self else args
        else:
            vals = tuple(a._z if isinstance(a, _ComplexTracer) and a._trace is self else a
                         for a in args)
        domains = _DOMAINS.get(prim)
        if domains is None:
            domains = _DOMAINS[prim] = (prim.domain, _derivative_domain(prim))
        bad = None
        if domains[0] is not None or domains[1] is not None:
            bad = self._check(prim, vals, *domains)
        if prim in ROUTED:  # reached through scipy's Python function: plain calls would not be
            self.continued = True
        if prim.continuation is not None:  # numpy's own function is not the continuation
            self.continued = True
            out = prim.continuation(*vals, **params)
        else:
            out = prim.evaluate(vals, params)
        if bad is not None:  # entries outside a domain are NaN, as in real arithmetic: an
            # np.where that discards them never sees them; if the output keeps one, the
            # deferred error is raised (_traced)
            mask = np.broadcast_to(bad, np.shape(out)) if prim.elementwise else np.any(bad)
            out = np.where(mask, complex(np.nan, np.nan), out)
            out = out[()] if out.ndim == 0 else out
        return _ComplexTracer(self, out)

    def _check(self, prim: Any, vals: tuple[Any, ...], domain: Any, deriv: Any) -> Any:
        """The entries of ``prim``'s argument whose real part is outside its domain or its
        derivative's domain (``f(x + ih)`` itself is finite there), or None; the DomainError
        for the first such primitive is kept in :attr:`deferred`."""
        value, slope = _applies(domain, vals), _applies(deriv, vals)
        if not (value or slope):
            return None
        self.domains = True
        self.edges = self.edges or slope
        z = vals[0]
        real = float(z.real) if type(z) in _COMPLEX else np.real(z)
        if value and _outside(domain, real):
            self.deferred.append(domain_error(prim, (real,)))
            return ~domain.contains(real)
        if slope and _outside(deriv, real):
            self.deferred.append(DomainError(
                f"complex-step: {self.spec.name} at x = {_fmt_point(self.point)}: "
                f"{_fmt_arg(prim.name, real, deriv)} is defined but its derivative is not "
                f"finite there ({prim.name}'s derivative requires {deriv.text}); "
                f"differentiate at a point inside that domain"
            ))
            return ~deriv.contains(real)
        return None

    def to_bool(self, tracer: Tracer) -> bool:
        raise NonAnalyticError(
            f"complex-step: {self.spec.name} branches on the value of x (bool() of a traced "
            f"value); a comparison is not complex-analytic; use method='richardson'"
        )


def _fmt_arg(name: str, real: Any, domain: Domain) -> str:
    """``name(value)``, or for an array argument its first entry outside ``domain``."""
    if np.ndim(real) == 0:
        return f"{name}({float(real)!r})"
    idx = tuple(int(i) for i in np.argwhere(~domain.contains(real))[0])
    return f"{name}(...) at its entry [{', '.join(map(str, idx))}] = {float(real[idx])!r}"


def _fmt_point(z: Any) -> str:
    real = np.real(z)
    return repr(float(real)) if np.ndim(real) == 0 else str(np.ravel(real).tolist())


class _ComplexTracer(Tracer):
    __slots__ = ("_trace", "_z")

    def __init__(self, trace: _AnalyticTrace, z: Any) -> None:
        self._trace = trace
        self._z = z

    @property
    def _value(self) -> Any:
        return self._z

    def __repr__(self) -> str:
        return f"ComplexTracer({self._z!r})"


def _traced(spec: Function, arg: Any) -> tuple[Any, _AnalyticTrace]:
    """``f(arg)`` under :class:`_AnalyticTrace`, and the trace (what it met)."""
    trace = _AnalyticTrace(spec, arg)
    box = _ComplexTracer(trace, arg)
    try:
        with library_routes():
            out = spec.fn(box) if spec.nparams == 1 else \
                spec.fn(*(box[i] for i in range(spec.nparams)))
    except (NotTraceableError, UnsupportedPrimitiveError) as exc:
        raise NonAnalyticError(
            f"complex-step cannot check that {spec.name} is complex-analytic: {exc}. "
            f"Write it with diffkit.numpy (dnp), or pass ComplexStep(check=False) if you "
            f"know it is analytic (a non-analytic operation then gives a wrong derivative)"
        ) from None
    value = _unbox(out, trace)
    if trace.deferred and not np.all(np.isfinite(value)):
        raise trace.deferred[0]  # an entry outside a domain reached the output
    return value, trace


def _traced_value(spec: Function, arg: Any) -> Any:
    return _traced(spec, arg)[0]


def _unbox(out: Any, trace: _AnalyticTrace) -> Any:
    if isinstance(out, _ComplexTracer) and out._trace is trace:
        return out._z
    if isinstance(out, (list, tuple)):
        return np.asarray([_unbox(o, trace) for o in out])
    return out


class _Verdict:
    """What running one spec under :class:`_AnalyticTrace` showed the complex step.

    Kept in the spec's own ``Function.cache`` under :data:`VERDICT`, so it lives and dies with
    the spec: no store outside it, no memory of specs in the method object. It only decides how
    much work a later call repeats; the result is the same either way.

    Attributes
    ----------
    shapes : set of tuple
        Point shapes at which ``f`` was found complex-analytic (no data-dependent branch can
        change that: a comparison is refused).
    domains : bool
        ``f`` uses a primitive with a domain (log, sqrt, arcsin, ...): the general path traces
        every call, since whether the point is inside depends on the point.
    edges : bool
        One of them has a derivative domain narrower than its domain (sqrt at 0, arcsin at
        1): ``f(x + ih)`` is finite and real-looking there, so the lean path traces too.
    continued : bool
        ``f`` reaches a primitive whose numpy function is not its own analytic continuation
        (``np.linalg.norm`` takes ``|x|``): every evaluation is traced, never plain numpy on
        ``x + ih``.
    plain : bool or None
        For ``derivative`` at a float (a scalar, non-vectorized spec of one parameter checked
        at a scalar point): True to evaluate ``f(x + ih)`` untraced, False to trace it (it has
        edges or continuations); None: no such shortcut, the general path.
    """

    __slots__ = ("continued", "domains", "edges", "plain", "shapes")

    def __init__(self) -> None:
        self.shapes: set[tuple[int, ...]] = set()
        self.domains = self.edges = self.continued = False
        self.plain: bool | None = None

    def add(self, spec: Function, shape: tuple[int, ...], trace: _AnalyticTrace) -> None:
        """Record that ``spec`` is complex-analytic at points of ``shape``."""
        self.shapes.add(shape)
        self.domains = self.domains or trace.domains
        self.edges = self.edges or trace.edges
        self.continued = self.continued or trace.continued
        if () in self.shapes and spec.nparams == 1 and not spec.vectorized:
            self.plain = not (self.edges or self.continued)


VERDICT = "complex-step"
"""The key of the complex step's :class:`_Verdict` in ``Function.cache``."""


def _verdict(spec: Function) -> _Verdict:
    """``spec``'s verdict, made empty on first use."""
    verdict = spec.cache.get(VERDICT)
    if verdict is None:
        verdict = spec.cache[VERDICT] = _Verdict()
    return verdict


# (re, im) as Python floats in one call, for complex and np.complex128 (a subclass); a
# TypeError for anything else
_parts = complex.__getnewargs__
_new = object.__new__


class _ScalarResult(DerivativeResult):
    """The lean complex step's result: a DerivativeResult whose fixed fields are class
    attributes, so building one is ``object.__new__`` and a single store (the full constructor
    cost more than f). It keeps DerivativeResult's constructor, which ``dataclasses.replace``
    calls with every field."""

    nfev = 1
    method = "complex-step"
    step = 1e-200
    out_shape = ()

    @property
    def info(self) -> dict[str, Any]:  # type: ignore[override]
        return self.__dict__.setdefault("info", {})  # made on first use, one per result


class ComplexStep(Method):
    """The complex step: ``f'(x) = Im f(x + ih) / h`` to rounding, one evaluation per direction.

    With no subtraction there is no cancellation, so ``h`` can be tiny (``1e-200``) and the
    truncation error ``h^2 f'''/6`` vanishes below rounding. It needs ``f`` complex-analytic:
    the first call for a spec (and point shape) runs ``f`` under a trace that refuses every
    primitive the registry marks ``analytic=False`` (abs, maximum/minimum, comparisons, sign,
    branches on ``x``), raising :class:`~diffkit.errors.NonAnalyticError` with its name; later
    calls reuse that verdict (a function with no comparison has no data-dependent branches
    diffkit can see, so the same primitives run at every point). Plain numpy code is checked
    too when its calls reach diffkit through ``__array_ufunc__`` (``np.sin``, ``np.abs``); code
    that converts ``x`` (``np.asarray``, ``float``) or calls numpy functions diffkit has no
    primitive for cannot be checked and is refused unless ``check=False`` -- then a
    non-analytic operation gives a silently wrong derivative (``np.abs(x + ih)`` drops the
    imaginary part's sign), which is the price of skipping the check.

    ``f(x + ih)`` is a finite complex number even where the real program is undefined
    (``log(-1 + ih) = i pi``) or its derivative is infinite (``Im sqrt(ih) / h = 7.07e99``):
    the trace checks each primitive's argument against the registry's domain and derivative
    domain and raises :class:`~diffkit.errors.DomainError`, as the other methods do.

    After the first call a scalar derivative at a float costs one complex evaluation of
    ``f`` and little else (about 1.8-2x a bare real call of a cheap ``f``;
    ``benchmarks/numerical.py``); a result that is not finite and real to O(h) reruns on the
    general path, which traces and names the primitive. A spec with a primitive whose
    derivative domain is narrower than its domain (sqrt, arcsin, arccos) is traced on every
    call instead, since ``f(x + ih)`` at such an edge looks like any other result (about 5-8x
    a bare call); so is one whose continuation through such a primitive can be real again
    (``cos(sqrt(x))`` at ``x < 0``). Outside a plain domain (``log`` at ``x < 0``) the result
    is not real to O(h) (``log(-1 + ih) = i pi``, and even ``exp(2 log x)`` keeps
    ``sin(2 pi) = -2.4e-16`` in its imaginary part), so the call reruns traced and raises as
    the first one did.

    Parameters
    ----------
    h : float
        The imaginary step (default ``1e-200``).
    check : bool
        Check complex analyticity and domains through the registry (default True).
    chunk : int or "auto"
        For ``vectorized`` specs: directions sent to ``f`` per call.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> r = dk.methods.ComplexStep().derivative(dnp.exp, 1.0)
    >>> float(r) == 2.718281828459045, r.nfev
    (True, 1)
    """

    name = "complex-step"
    family = "numerical"

    def __init__(self, *, h: float = 1e-200, check: bool = True, chunk: Any = "auto") -> None:
        self.h = _check_h(h, "ComplexStep", auto=False)
        if not isinstance(check, bool):
            raise OrderError(f"ComplexStep: check={check!r} must be True or False")
        self.check = check
        self.chunk = _check_chunk(chunk, "ComplexStep")
        # the lean path's constants, in one attribute: ih (np.complex128, so x + ih is exact),
        # sqrt(h), the cap on |Im f| (below it Im f / h is finite) and h itself
        self._lean_consts = (np.complex128(complex(0.0, self.h)), math.sqrt(self.h),
                             self.h * 1e300, self.h)

    def derivative(self, f: Any, x: Any, *, args: tuple[Any, ...] = (),
                   kwargs: dict[str, Any] | None = None) -> DerivativeResult:
        """d f / d x at a scalar ``x`` from one evaluation of ``f(x + ih)``."""
        if args.__class__ is not tuple or args or kwargs is not None:  # data: bound first
            return super().derivative(f, x, args=args, kwargs=kwargs)
        # The common case -- a scalar Function already checked at a float -- skips the general
        # validation and dispatch: the target is a derivative at about the cost of f itself,
        # so this path is written out here, not called. It runs without numpy's error state
        # (entering it cost a third of a cheap f): on complex numbers the traps only fire at
        # exact zeros -- a singularity, where f is not finite -- and a result is accepted only
        # if it is finite and real to O(h); anything else reruns on the general path, which
        # traps and names the primitive (numpy may print its RuntimeWarning first).
        tx = type(x)  # scalar_point's test of x, inline: any other x goes to as_point below
        if (tx is float and x - x == 0.0) or (tx is _f64 and math.isfinite(x)):
            try:  # AttributeError, TypeError: not a Function; KeyError: not checked yet
                plain = f.cache[VERDICT].plain
            except (AttributeError, KeyError, TypeError):
                plain = None
            call = f.fn if plain else self._lean_call(f, x, plain)
            if call is not None:
                ihc, sqrt_h, cap, h = self._lean_consts
                try:  # x + ih as np.complex128: exact, x + 0 and 0 + h
                    re, im = _parts(call(x + ihc))
                except (DomainError, FloatingPointError, RuntimeWarning, TypeError):
                    re = None  # TypeError: not complex; DomainError: the general path explains
                # Im f(x + ih) = h f'(x) + O(h^3): |h f'| <= sqrt(h) (1 + |f|) unless f is not
                # real at x; the cap fails for an infinite or NaN re and keeps im / h finite (x
                # is finite: atan(inf + ih) = pi/2 + 0i would pass these)
                if re is not None and abs(im) <= sqrt_h * (1.0 + abs(re)) < cap:
                    r = _new(_ScalarResult)  # the fixed fields live on the class: one store
                    if h == 1e-200:  # _ScalarResult.step
                        r.__dict__["value"] = im / h
                    else:
                        r.__dict__.update(value=im / h, step=h)
                    return r
        return super().derivative(f, x)  # validates, checks analyticity, explains failures

    def _lean_call(self, f: Any, x: float, plain: bool | None) -> Any:
        """How the lean path evaluates a spec whose verdict is not ``plain``: traced (a
        checked spec with domains), plain (``check=False``), or not at all (None: the general
        path)."""
        if plain is False:
            return functools.partial(_traced_value, f)
        if not self.check and scalar_point(f, x) is not None:
            return f.fn
        return None

    def _call(self, spec: Function, z: np.ndarray, shape: tuple[int, ...], trace: bool
              ) -> Any:
        """``f(z)`` at one complex point; traced when ``trace`` (its verdict is remembered)."""
        arg = z[0] if not shape else z.reshape(shape)
        if not trace:
            return spec.call(arg)
        out, trace = _traced(spec, arg)
        _verdict(spec).add(spec, shape, trace)
        return out

    def _columns(self, spec: Function, x: np.ndarray) -> tuple[np.ndarray, int, tuple]:
        flat = x.ravel().astype(float)
        n = flat.size
        cols: list[np.ndarray] = []
        outs: list[Any] = []
        verdict = spec.cache.get(VERDICT)
        # the first direction runs traced where the analyticity is not yet known or the spec
        # has domains (every direction has the same real point, so one trace checks them)
        trace = self.check and (verdict is None or x.shape not in verdict.shapes
                                or verdict.domains)
        start = n if not spec.vectorized or n == 1 else int(trace)
        every = verdict is not None and verdict.continued  # trace each direction, no batch
        i = 0
        while i < start or (every and i < n):
            z = flat.astype(complex)
            z[i] += 1j * self.h
            out = np.asarray(self._call(spec, z, x.shape, (trace and i == 0) or every))
            outs.append(out)
            cols.append(np.ravel(np.imag(out)) / self.h)
            i += 1
            every = every or (i == 1 and self.check and _verdict(spec).continued)
        start = max(start, i)
        chunk = _chunk(self.chunk, n)
        for lo in range(start, n, chunk):
            hi = min(lo + chunk, n)
            z = np.tile(flat.astype(complex), (hi - lo, 1))
            z[np.arange(hi - lo), np.arange(lo, hi)] += 1j * self.h
            out = np.asarray(spec.call_batch(z.reshape((hi - lo, *x.shape))))
            outs.append(out[0])
            cols.extend(np.imag(out.reshape(hi - lo, -1)) / self.h)
        fx = np.real(outs[0])  # f(x + ih) = f(x) + O(h^2): the value at x
        big = np.abs(np.imag(outs[0])) > np.sqrt(self.h) * np.maximum(1.0, np.abs(fx))
        if np.any(big):  # Im f should be h f'(x): f is not real at x (log of a negative)
            raise DomainError(
                f"complex-step: {spec.name}(x + ih) at x = {flat.tolist()} has an imaginary "
                f"part {np.imag(outs[0]).ravel()[np.argmax(big.ravel())]:.3g} that is not O(h): "
                f"f is not real there, so the point is outside its domain; evaluate the "
                f"function at a point inside the domain"
            )
        if not np.all(np.isfinite(fx)):
            raise StencilError(
                f"complex-step: {spec.name}(x + ih) is not finite at x = {flat.tolist()} "
                f"(h = {self.h:g}); the point is at a singularity; choose another point"
            )
        return np.stack(cols, axis=1), n, tuple(np.shape(outs[0]))

    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        jac, nfev, out_shape = self._columns(spec, x)
        if not np.all(np.isfinite(jac)):
            raise StencilError(
                f"complex-step: the derivative of {spec.name} at x = {x.ravel().tolist()} is "
                f"not finite; the point is at a singularity or a domain edge"
            )
        return DerivativeResult(jac, nfev=nfev, method=self.name, step=self.h,
                                out_shape=out_shape)

    def _hessian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        """Central differences of the complex-step gradient (error ~ eps^(2/3))."""
        flat = x.ravel().astype(float)
        n = flat.size
        g0 = self._jacobian(spec, x)
        nfev = g0.nfev
        delta = exact_steps(flat, EPS ** (1 / 3) * np.maximum(np.abs(flat), 1.0))
        hess = np.empty((n, n))
        for j in range(n):
            cols = []
            for sgn in (1.0, -1.0):
                xp = flat.copy()
                xp[j] += sgn * delta[j]
                r = self._jacobian(spec, xp.reshape(x.shape))
                nfev += r.nfev
                cols.append(np.ravel(r.value))
            hess[:, j] = (cols[0] - cols[1]) / (2 * delta[j])
        hess = 0.5 * (hess + hess.T)
        return DerivativeResult(hess, nfev=nfev, method=self.name, step=delta.reshape(x.shape),
                                out_shape=(), status="ok",
                                info={"scheme": "central differences of the complex-step "
                                                "gradient"})
