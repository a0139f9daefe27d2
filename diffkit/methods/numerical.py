"""Finite differences of any order, Richardson extrapolation and the complex step.

Every scheme here is an interpreter of the spec that only *evaluates* it, at stencil points
around ``x``:

* :class:`ForwardDifference`, :class:`BackwardDifference`, :class:`CentralDifference`: one
  stencil of accuracy order ``p`` (weights from :mod:`diffkit.stencils`, exact rationals).
  ``h="auto"`` picks each coordinate's step from the function's own behaviour: a pilot stencil
  measures a higher derivative (the truncation), the noise model measures the noise of one
  evaluation (rounding at the precision f computes in, a quantum, non-determinism), and the
  step that balances them is taken (:func:`diffkit.stencils.balanced_step`).
  ``h=<float>`` is the textbook fixed step, applied as ``(x + h) - x``.
* :class:`Richardson`: central differences at steps ``h0, h0/2, h0/4, ...`` extrapolated to
  ``h -> 0`` (Neville's tableau), stopping when the error estimate stops improving; the error
  estimate adds the extrapolant's noise bound to its truncation estimate. Near a domain
  edge it continues with one-sided differences and says so in ``status``.
* :class:`~diffkit.methods.complex_step.ComplexStep` (its own module, on this one's machinery):
  ``Im f(x + ih) / h`` with ``h = 1e-200``: no cancellation, so exact to rounding. The function
  is first run under a small trace that refuses primitives the registry marks as not
  complex-analytic.

Every result carries ``error``, an estimate per entry of ``|computed - exact|`` (truncation
plus noise), and ``status``: ``"ok"`` when the estimate is within the method's promise
(``accuracy=``, by default derived from the method and the precision f computes in), else
``"inaccurate: <why>"``; ``strict=True`` raises
:class:`~diffkit.errors.InaccurateDerivativeError` instead. A function that jumps at or next
to ``x`` (floor, round, sign, a branch: a difference quotient that does not shrink with the
step) raises :class:`~diffkit.errors.StencilError` saying where.

Evaluations go through one sampler per call: it counts them (``nfev``), reuses repeated
points, sends all the points of one phase through ``f`` in one call when the spec is
``vectorized`` (in chunks, so memory is ``O(n * chunk)``), turns a domain error or a
non-finite value at a stencil point into :class:`~diffkit.errors.StencilError`, and refuses a
function that modifies its argument in place (:class:`~diffkit.errors.ArgumentMutationError`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..core import (
    REGISTRY,
    checked_evaluation,
    located_domain_error,
)
from ..errors import (
    ArgumentMutationError,
    DomainError,
    InaccurateDerivativeError,
    OrderError,
    OutputShapeError,
    StencilError,
    StepError,
)
from ..results import DerivativeResult
from ..spec import Function
from ..stencils import (
    ALL_POWERS,
    ARRAYS,
    EVEN_POWERS,
    FLAT,
    FLOATS,
    PILOT_OFFSETS,
    PILOT_ORDER,
    Extrapolation,
    Lanes,
    Stencil,
    _check_order,
    along_axes,
    axis_points,
    balanced_step,
    error_bound,
    exact_steps,
    fornberg_float,
    nodes,
    pilot_length,
    stencil,
    unit_roundoff,
)
from ..validation import call_checked, scalar_point
from .base import Method
from .noise import (
    NOISE_FLOOR,
    Noise,
)

__all__ = [
    "BackwardDifference",
    "CentralDifference",
    "ForwardDifference",
    "Noise",
    "Richardson",
    "promised_accuracy",
]

EPS = float(np.finfo(np.float64).eps)
_f64 = np.float64

PILOT_STEP = 1.0 / 64.0
"""The pilot step as a fraction of ``max(|x|, 0.1)`` (or of the length ``L`` once measured),
for Richardson near a power of two (times :data:`DITHER`) so its step sequence can pass
through the pilot's points."""

DITHER = 0.6180339887498949
"""Pilot steps carry this factor (the golden ratio's inverse: a full mantissa, and no
multiple of pi, so sin at 1e6 is not sampled a whole number of periods apart): the points
``x + s h_p`` are not dyadic, so a polynomial's exact values at a dyadic ``x`` never look
quantized (see :func:`diffkit.stencils.quantum`); Richardson's halvings stay exact."""

PILOT_ROUNDS = 8
"""Most pilot rounds that shrink the step: each suits the pilot to the length just measured (by
64x or more), so eight reach from ``x/64`` down to lengths of ~1e-13 ``x`` (sin(1e9 x), log
near 0)."""

GROW_ROUNDS = 8
"""Most pilot rounds that grow the step (4x to 64x each), where no truncation is visible and
the noise would dominate (``1e12 + x**2``: its rounding is 1e-4, so the step grows until the
noise over the step is small, or stops falling)."""

RICHARDSON_START = 0.25
"""Richardson's first step, as a fraction of the length ``L`` measured by the pilot."""

MAX_START_LEVELS = 3
"""Richardson starts at most ``2^MAX_START_LEVELS`` pilot steps out: beyond the span the pilot
looked at, a kink or a singularity could enter the first stencils unseen."""

TRUNCATION_SAFETY = 2.0
"""The truncation term of a finite difference's estimate is this many times the model's."""

PROMISE_MARGIN = 30.0
"""The accuracy a method promises, in multiples of what it reaches on a well-scaled function:
``u^(p/(p+1))`` for a difference of order ``p`` in a precision of unit ``u`` (on random
programs 95 % of central-difference gradients estimate their error within it)."""

Key = tuple[tuple[int, float], ...]
"""A stencil point: the coordinates that differ from ``x`` and their values (``()`` is x)."""


_SUBNORMAL = 2.0 ** -1074
"""The spacing of the subnormal floats; half of it is the least rounding of ``Im f(x + ih)``. Over
``h`` it is the complex step's error floor, negligible at the default ``h = 1e-200``
(2.5e-124) and the whole answer at ``h = 5e-324`` (``Im f``, about ``h f'``, is subnormal and
keeps a digit or two: 2.0 for 2.6)."""


def _subnormal_floor(h: float) -> float:
    """The complex step's error floor at step ``h``: ``Im f(x + ih)`` rounded among the
    subnormals, over ``h`` (see :data:`_SUBNORMAL`)."""
    return 0.5 * (_SUBNORMAL / h)


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
    if auto and hf < np.finfo(float).tiny:  # a difference over a subnormal h: 1/h overflows
        # (the complex step divides Im f(x + ih), about h f', by h: any h > 0 works)
        raise StepError(f"{who}: h={h!r} is below the smallest normal float "
                        f"({np.finfo(float).tiny:.3g}): a difference over it cannot be "
                        f"divided by it; {fix}")
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


def _check_accuracy(accuracy: Any, who: str) -> Any:
    if isinstance(accuracy, str) and accuracy == "auto":
        return "auto"
    ok = not isinstance(accuracy, (bool, str)) and isinstance(accuracy, (int, float, np.number))
    if not ok or not (0.0 < float(accuracy) < 1.0):
        raise OrderError(
            f"{who}: accuracy={accuracy!r} must be 'auto' (what the method promises for the "
            f"precision f computes in) or a relative accuracy between 0 and 1, e.g. 1e-6"
        )
    return float(accuracy)


def _check_strict(strict: Any, who: str) -> bool:
    if not isinstance(strict, bool):
        raise OrderError(f"{who}: strict={strict!r} must be True (raise "
                         f"InaccurateDerivativeError) or False (report it in status)")
    return strict


def _chunk(chunk: Any, n: int) -> int:
    """Points per batched call: ``"auto"`` keeps a batch near 32k numbers (cache-sized)."""
    return max(4, min(1024, 32768 // max(n, 1))) if chunk == "auto" else int(chunk)


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def promised_accuracy(method: str, unit: float = EPS, order: int = 2, deriv: int = 1,
                      margin: float | None = None) -> float:
    """The relative accuracy ``method`` promises for a function whose values carry rounding of
    relative size ``unit`` (eps of the precision it computes in).

    A difference of order ``p`` for derivative ``d`` reaches about ``u^(p/(p+d))`` at its
    balanced step (the central difference ``u^(2/3)``: 3.7e-11 in float64, 2.4e-5 in float32;
    its Hessian ``u^(1/2)``), Richardson (with its estimate) ``u^(3/4)`` (Hessians
    ``u^(3/5)``), the complex step ``u`` (Hessians, from central differences of its gradient,
    ``10 u^(2/3)``); the promise is :data:`PROMISE_MARGIN` times that. The complex step's
    first derivative promises ``1000 u``: its estimate carries the rounding of the real parts
    (``f'' u |x|``, ``_cs_conditioning``), a few hundred ``u`` at ``sin`` of 100.

    Examples
    --------
    >>> f"{promised_accuracy('central-difference'):.2g}"
    '1.1e-09'
    >>> f"{promised_accuracy('central-difference', float(np.finfo(np.float32).eps)):.2g}"
    '0.00073'
    """
    unit = max(float(unit), EPS)
    margin = PROMISE_MARGIN if margin is None else margin
    if method == "complex-step":
        return 1000.0 * unit if deriv == 1 else 10 * margin * unit ** (2 / 3)
    if method == "richardson":
        return min(0.5, margin * unit ** (0.75 if deriv == 1 else 0.6))
    return min(0.5, margin * unit ** (order / (order + deriv)))


# ============================================================================ sampling


def _empty_jacobian(method: Method, s: _Sampler) -> DerivativeResult:
    n = s.flat.size
    return DerivativeResult(np.zeros((0, n)), nfev=s.nfev, method=method.name,
                            error=np.zeros((0, n)), out_shape=s.f0.shape, status="ok")


class _Sampler:
    """Evaluates ``f`` at stencil points around ``x``: counting, reuse, batching, errors."""

    def __init__(self, method: Method, spec: Function, x: np.ndarray, op: str,
                 chunk: Any) -> None:
        self.method, self.spec, self.op = method, spec, op
        self.chunk = _chunk(chunk, x.size)
        self.shape = x.shape
        flat = x.ravel().astype(float)
        # huge coordinates are sampled in units of a power of two near them (exact): every
        # step, pilot and estimate then works on numbers near 1, where f'' ~ 1/x^2 at 1e300
        # would have underflowed to 0 and h^2 overflowed (see coordinate_scales)
        self.scale = coordinate_scales(flat)
        self.x = flat  # the point in f's own units (``flat`` is what is sampled)
        self.flat = flat if self.scale is None else flat / self.scale
        arg = self._arg(self.flat.copy())  # f gets a copy: a change to it is detected below
        f0 = call_checked(spec, arg, op)  # the point itself: DomainError
        self.nfev = 1
        _check_unchanged(spec, method.name, flat, arg)
        self.out_shape = tuple(np.shape(f0))
        # the precision f returns its values in: float32 and float16 results carry coarser
        # rounding than the float64 the engine computes in (integers: a quantum of 1)
        self.out_unit = unit_roundoff(np.asarray(f0).dtype)
        self.f0 = np.ravel(np.asarray(f0, dtype=float))
        self.m = self.f0.size
        self.values: dict[Key, np.ndarray | None] = {(): self.f0}
        self.pilot_hp: np.ndarray | None = None  # the pilot's steps and samples, for reuse
        self.pilot_vals: np.ndarray | None = None
        self.reasons: dict[Key, str] = {}
        self.noise: Noise | None = None  # measured by the methods that need it

    def _arg(self, flat: np.ndarray) -> Any:
        if self.scale is not None:
            flat = flat * self.scale
        return flat[0] if not self.shape else flat.reshape(self.shape)

    def _points(self, pts: np.ndarray) -> np.ndarray:
        """Stencil points ``(k, n)`` in f's own coordinates, shaped as a batch for f."""
        if self.scale is not None:
            pts = pts * self.scale
        return pts.reshape((len(pts), *self.shape))

    def real(self, i: int, v: float) -> float:
        """Coordinate ``i``'s sampled value ``v`` in f's own units (for messages)."""
        return float(v) if self.scale is None else float(v) * float(self.scale[i])

    def _subgrid(self, value: Any, err: Any) -> tuple[Any, str]:
        """``err`` with the entries of each huge coordinate (:data:`SUBGRID_X`) along which f
        changes, over one float of ``x_j``, by more than a smooth f could (its slope there
        times the spacing, plus :data:`SUBGRID_ROUNDINGS` roundings of ``|f|``) made
        infinite, and why (or ""). ``value``: the Jacobian (its slopes), or None (a Hessian:
        rounding alone)."""
        n = self.flat.size
        big = np.flatnonzero(np.abs(self.x) >= SUBGRID_X)
        up = np.nextafter(self.flat[big], np.inf)
        vals, bad = self.get([((int(j), float(u)),) for j, u in zip(big, up, strict=True)],
                             strict=False)
        v = np.zeros(n) if value is None else np.asarray(value, dtype=float)
        cols = v.reshape(-1, n) if v.size % n == 0 and v.size else np.zeros((1, n))
        unit = max(float(self.out_unit), EPS)  # the precision of f's values
        fmax = float(np.max(np.abs(self.f0), initial=0.0))
        lost = []
        for r, j in enumerate(big):
            if bad[r]:
                continue
            jump = float(np.max(np.abs(vals[r] - self.f0)))
            slope = float(np.max(np.abs(cols[:, j])))
            if jump > 2.0 * slope * (up[r] - self.flat[j]) + SUBGRID_ROUNDINGS * unit * \
                    max(fmax, float(np.max(np.abs(vals[r])))):
                lost.append((int(j), jump))
        if not lost:
            return err, ""
        j, jump = lost[0]
        where = f"x[{j}]" if n > 1 else "x"
        xj = float(self.x[j])
        return _entries_of(err, n, np.array([k for k, _ in lost])), (
            f"f changes by {jump:.2g} between {where} = {xj:.6g} and the next float "
            f"({np.spacing(abs(xj)):.2g} away): it varies on a scale finer than the float grid "
            f"there, so no difference can resolve its slope (use an AD method)")

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
                    vals = np.asarray(self.spec.call_batch(self._points(pts)))
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
            vals = np.asarray(self.spec.call_batch(self._points(pts)))
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
        pts = self._points(self.point(key)[None, :])
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
        where = ", ".join(f"x[{i}] = {_fmt(self.real(i, v))}" for i, v in key)
        steps = ", ".join(_fmt(self.real(i, v - self.flat[i])) for i, v in key)
        edge = ", ".join(f"between {_fmt(self.real(i, self.flat[i]))} and "
                         f"{_fmt(self.real(i, v))}" for i, v in key)
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
        if not reason:  # every point was finite: the levels never agreed, down to this step
            floor = all(abs(v - self.flat[i]) <= 4 * np.spacing(abs(self.flat[i])) for i, v in key)
            why = ("the step reached the spacing of floats at x, so |x| is too large (or "
                   "too small) for f's scale of variation" if floor else
                   "f is not smooth there (a kink or a jump), or its rounding noise swamps the "
                   "differences")
            return StencilError(
                f"{name}: no two step levels agreed at {where} down to h = {steps}, though f "
                f"was finite at every sample: {why}; try a point nearby, or an AD method "
                f"(method='auto')")
        also = "" if name == "richardson" else \
            ", or method='richardson', which does it by itself"
        return StencilError(
            f"{name}: the stencil point {where} (step h = {steps}) crosses a domain edge "
            f"{edge} ({reason}); use a one-sided scheme pointing away from the edge "
            f"(ForwardDifference/BackwardDifference{also}) or a smaller h"
        )

    def result(self, value: Any, method: Method, deriv: int = 1, **fields: Any
               ) -> DerivativeResult:
        """The result of ``value`` (a Jacobian ``(m, n)``, or with ``deriv=2`` a Hessian)
        computed on the sampled coordinates, in f's own units, with the guards applied."""
        step, err = fields.get("step"), fields.get("error")
        if step is not None and err is not None and self.flat.size:
            fields["error"], why = _alias_guard(self.flat, step, err, self.x)
            if not why and np.any(np.abs(self.x) >= SUBGRID_X):
                fields["error"], why = self._subgrid(value if deriv == 1 else None,
                                                     fields["error"])
            if why:
                fields["info"] = {**fields.get("info", {}), "unresolved": why}
        if self.scale is not None:  # back from units of the power of two to f's own
            def back(a: Any) -> np.ndarray:  # one factor at a time: s_i s_j may overflow
                a = np.asarray(a) / self.scale
                return a if deriv == 1 else a / self.scale[:, None]

            value = back(value)
            if fields.get("error") is not None:
                fields["error"] = back(fields["error"])
            if step is not None:
                fields["step"] = np.asarray(step) * self.scale.reshape(np.shape(step))
        return DerivativeResult(value, nfev=self.nfev, method=method.name,
                                out_shape=self.out_shape, **fields)


SCALE_FROM = 2.0 ** 64
"""From this ``|x_j|`` on (1.8e19) the difference methods sample coordinate ``j`` in units of a
power of two near it (:func:`coordinate_scales`)."""


def coordinate_scales(flat: np.ndarray) -> np.ndarray | None:
    """Per coordinate, the power of two the difference methods sample it in units of:
    ``2^(e-1)`` with ``|x_j| = m 2^e`` (``0.5 <= m < 1``; so ``1 <= |u_j| < 2``) where
    ``|x_j| >= SCALE_FROM``, else 1; None when
    no coordinate is that large. Scaling by a power of two is exact, and so is the way back:
    the samples are the same floats, while the steps, the pilot's higher derivatives and the
    estimates are numbers near 1 instead of ``h^2 = inf`` and ``f'' = 1e-600 = 0``.

    Examples
    --------
    >>> coordinate_scales(np.array([1e300, 2.0]))[1], coordinate_scales(np.array([3.0])) is None
    (np.float64(1.0), True)
    """
    big = np.abs(flat) >= SCALE_FROM
    if not np.any(big & np.isfinite(flat)):
        return None
    _, e = np.frexp(np.where(big & np.isfinite(flat), flat, 1.0))
    return np.where(big & np.isfinite(flat), np.ldexp(1.0, e - 1), 1.0)  # 2^1023 at most


SUBGRID_X = 1e14
"""From this ``|x_j|`` on (float spacing 1/64 and up) the difference methods evaluate f once
more, one float above ``x_j``, to see whether f varies on a scale finer than the float grid
there (sin at 1e308, where neighbouring floats are 2e292 apart): then no stencil can resolve
the derivative along ``x_j`` and its entries' estimates are made infinite."""

SUBGRID_ROUNDINGS = 64.0
"""How many roundings of ``|f|`` (at its precision) a change over one ulp of ``x_j`` may take
before f counts as varying below the float grid (``x**10`` at 1e20 takes about 10)."""


def _entries_of(e: np.ndarray, n: int, cols: np.ndarray) -> np.ndarray:
    """``e`` (an error array over the ``n`` coordinates: gradient, Jacobian or Hessian
    layout) with the entries of the coordinates ``cols`` made infinite."""
    e = np.array(e, dtype=float)
    if e.size == n:
        flat = e.reshape(-1)
        flat[cols] = np.inf
        return flat.reshape(e.shape)
    if e.ndim >= 1 and e.shape[-1] == n:
        e[..., cols] = np.inf
        if e.ndim == 2 and e.shape[0] == n:
            e[cols, :] = np.inf
    return e


ALIAS_ULPS = 4.0
"""A step within this many units in the last place of ``x`` samples f at a handful of
neighbouring floats: nothing says f is smooth on that scale (sin at 1e20, where the floats are
16384 apart), so no estimate made from those samples can vouch for the result. Below the
automatic steps' own floor (16 eps |x|, 16 to 32 ulps), so only steps that rounded away (a
Richardson tableau shrinking past it, a fixed h) meet it."""


def _alias_guard(flat: np.ndarray, step: Any, err: Any, shown: Any = None
                 ) -> tuple[Any, str]:
    """``err`` with the entries of coordinates whose step is within :data:`ALIAS_ULPS` of
    ``x`` made infinite (the estimate cannot be trusted), and why (or ""); ``shown``: x in
    f's own units for the message, where ``flat`` is scaled (:func:`coordinate_scales`)."""
    hs = np.abs(np.asarray(step, dtype=float)).ravel()
    if hs.size not in (1, flat.size):
        return err, ""
    hs = np.broadcast_to(hs, flat.shape)
    with np.errstate(all="ignore"):
        ulps = hs / np.spacing(np.abs(flat))
    close = np.isfinite(flat) & (ulps < ALIAS_ULPS)
    if not close.any():
        return err, ""
    n = flat.size
    e = _entries_of(err, n, close)
    i = int(np.argmax(close))
    where = f"x[{i}]" if n > 1 else "x"
    xi = float(np.ravel(shown)[i]) if shown is not None else flat[i]
    return e, (f"the step at {where} = {xi:.6g} is {float(ulps[i]):.2g} units in the "
               f"last place of {where}: f's values at neighbouring floats cannot show its "
               f"slope (|x| is too large for this function's scale of variation)")




def _check_unchanged(spec: Function, who: str, before: np.ndarray, arg: Any) -> None:
    """Raise ArgumentMutationError if ``f`` changed its argument ``arg`` (a copy of the point
    ``before``, flat) in place: every later evaluation would start from a moved point. ``who``
    is the method's name, for the message."""
    if not isinstance(arg, np.ndarray):
        return  # a scalar: nothing to modify in place
    after = arg.ravel()
    same = (after == before) | (np.isnan(after) & np.isnan(before))
    if bool(np.all(same)):
        return
    i = int(np.argmin(same))
    where = f"x[{i}]" if before.size > 1 else "x"
    raise ArgumentMutationError(
        f"{who}: f modified its argument in place ({spec.name} changed {where} from "
        f"{_fmt(before[i])} to {_fmt(after[i])}); copy it first (y = x.copy()) and change "
        f"the copy"
    )


# ============================================================================ steps

GROW_ULPS = 4.0
"""Where the pilot sees no curvature at all, its step grows until the noise over the step is
this many rounding units of the derivative (a larger step costs nothing it can see); where it
sees some but no truncation, until the noise over it is a quarter of the method's promise."""

UNSEEN = 0.01
"""Two difference quotients (the pilot's and the result's) that differ by more than this
fraction of the slope, beyond truncation and modelled noise, add the gap to the estimate."""

DRIFT = 4.0
"""A grown pilot step whose slope differs from the last one's by more than this many noise
bounds over the last step is refused (the larger span met another regime)."""

JUMP_NOISE = 100.0
"""A variation that does not shrink with the step is a jump when it is this many noise bounds."""


@dataclasses.dataclass
class _Pilot:
    """What the pilot measured along each coordinate (``(n,)`` arrays, ``(n, m)`` per output).

    Attributes
    ----------
    kind : str
        The pilot's stencil (a key of :data:`~diffkit.stencils.PILOT_OFFSETS`).
    hp : ndarray
        The step of the accepted round.
    length : ndarray
        ``L`` (NaN: no truncation visible).
    mag : ndarray
        ``|f^(k)|`` over the outputs (NaN: not visible).
    fk, fk_floor : ndarray
        ``(n, m)``: ``|f^(k)|`` per output (NaN: not visible), and a bound on it (the measured
        difference plus what the noise can do to it): what the truncation estimate uses where
        it is not visible.
    noise : ndarray
        ``(n, m)``: the noise bound of one evaluation (:meth:`Noise.bound`).
    d1 : ndarray
        ``(n, m)``: the pilot's own difference quotient at ``hp`` (central for the central
        pilots, one-sided for the others): a second estimate for the truncation.
    scale : ndarray
        ``(n, m)``: ``max |f|`` over the samples.
    spread : ndarray
        ``max |v - f(x)|``: the variation the samples show.
    flat : ndarray
        The largest pilot step at which every sample equaled ``f(x)`` (0: none): f's values
        do not resolve steps that small, so no step below it is taken.
    drift : ndarray
        ``(n, m)``: how much the pilot's slope moved in the last growth of its step that
        stood (0: none): what a result at a step near the pilot's may carry.
    """

    kind: str
    hp: np.ndarray
    length: np.ndarray
    mag: np.ndarray
    fk: np.ndarray
    fk_floor: np.ndarray
    noise: np.ndarray
    d1: np.ndarray
    scale: np.ndarray
    spread: np.ndarray
    flat: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    linear: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=bool))
    smooth_noise: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    drift: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def k(self) -> int:
        return PILOT_ORDER[self.kind]

    def take(self, rows: np.ndarray, other: _Pilot, src: np.ndarray) -> None:
        """Set ``rows`` of every field from ``other``'s entries ``src``."""
        for f in dataclasses.fields(self):
            if f.name not in ("kind", "flat", "drift", "linear", "smooth_noise"):
                getattr(self, f.name)[rows] = getattr(other, f.name)[src]


def _differences(kind: str, vals: np.ndarray, f0: np.ndarray, hp: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, float]:
    """Per output: the pilot's higher difference ``f^(k)`` and first difference quotient, and
    the higher difference's ``sum |w|`` (its noise amplification), from samples ``(E, K, m)``.
    """
    v = vals.transpose(1, 0, 2)
    h = hp[:, None]
    if kind == "symmetric":  # -2, -1, 1, 2
        return (v[3] - 2 * v[2] + 2 * v[1] - v[0]) / (2 * h**3), (v[2] - v[1]) / (2 * h), 3.0
    if kind == "central":  # -1, 1, 2
        return (v[2] - 3 * v[1] + 3 * f0 - v[0]) / h**3, (v[1] - v[0]) / (2 * h), 8.0
    sign = 1.0 if kind == "forward" else -1.0  # 1, 2 or -1, -2
    return (v[1] - 2 * v[0] + f0) / h**2, sign * (v[0] - f0) / h, 4.0


def _analyse(noise: Noise, kind: str, vals: np.ndarray, f0: np.ndarray, x: np.ndarray,
             hp: np.ndarray) -> tuple[_Pilot, np.ndarray]:
    """One round's samples ``(E, K, m)`` at steps ``hp`` along coordinates at ``x``: the
    measurements, and the shortest length they show (for the aliasing test)."""
    high, d1, wsum = _differences(kind, vals, f0, hp)
    nb = noise.bound(vals, f0, x, d1, offsets=PILOT_OFFSETS[kind])
    length, short, _, mag, spread = pilot_length(kind, list(vals.transpose(1, 0, 2)), f0[None],
                                                 hp, nb)
    k = PILOT_ORDER[kind]
    hidden = wsum * nb / hp[:, None] ** k  # what the noise can do to the higher difference
    fk = np.where(np.isfinite(mag)[:, None] & (np.abs(high) > VISIBLE_NOISE * hidden),
                  np.abs(high), np.nan)
    bound = np.abs(high) + hidden  # where nothing shows: |f^(k)| is at most this
    scale = np.maximum(np.abs(f0)[None, :], np.abs(vals).max(axis=1))
    got = _Pilot(kind, hp.copy(), length, mag, fk, bound, nb, d1, scale, spread)
    # the noise without a grid in the values: a step function's jumps are its grid, and a
    # jump of one quantum is still a jump (sign at its zero)
    got.smooth_noise = noise.bound(vals, f0, x, d1, grid=False).max(axis=1)
    # linear to its noise: no curvature shows either (the second difference, through f(x))
    v = vals.transpose(1, 0, 2)
    if kind == "symmetric":
        second = v[1] - 2 * f0 + v[2]
    elif kind == "central":
        second = v[0] - 2 * f0 + v[1]
    else:
        second = v[1] - 2 * v[0] + f0
    got.linear = np.all(np.abs(second) <= VISIBLE_NOISE * 4 * nb, axis=1)
    return got, short


VISIBLE_NOISE = 10.0
"""The per-output visibility threshold, in noise bounds (as :data:`stencils.VISIBLE`)."""


def _pilot(sampler: _Sampler, kind: str, pow2: bool = False) -> _Pilot:
    """Measure each coordinate's behaviour from a pilot stencil, in rounds.

    Central: samples at ``x - h_p, x + h_p, x + 2 h_p`` with ``h_p = eps^(1/5) max(|x|,
    0.1)`` give ``f'''`` from the third difference through ``f(x)`` (three evaluations, where
    a symmetric one takes four); with ``pow2``, for Richardson, the symmetric ``x +- h_p,
    x +- 2 h_p`` at a power of two near ``max(|x|, 0.1) / 64`` (times :data:`DITHER`), whose
    samples its step sequence reuses. One-sided: ``x + h_p, x + 2 h_p`` (``h_p = eps^(1/4)
    max(|x|, 0.1)``) give ``f''``. The noise model gives each coordinate's noise bound from
    the same samples (:meth:`Noise.bound`).

    A round ends in one of four ways per coordinate:

    * the step may have aliased (longer than ``L/5``, ``L`` the shortest length the
      differences show) and the higher difference disagrees with the previous round's: the
      pilot is redone at ``eps^(1/5) L`` (``L/64`` with ``pow2``), up to
      :data:`PILOT_ROUNDS`; still unresolved then, :class:`StencilError`;
    * the variation does not shrink with the step, twice in a row, far above the noise: a
      jump at or next to ``x``, :class:`StencilError` saying where;
    * no truncation is visible and the noise over the step would break the method's promise
      (or, where f is linear to its noise, exceeds :data:`GROW_ULPS` rounding units of the
      derivative): the step grows 4x to 64x, up to :data:`GROW_ROUNDS` (back to the last
      round if the larger step meets a domain edge, aliases, drifts, or the noise over the
      step stops falling);
    * otherwise the coordinate is measured.

    A pilot point outside the domain shrinks that coordinate's pilot step eightfold (up to
    four times). Every evaluation is counted.
    """
    flat, f0, m = sampler.flat, sampler.f0, sampler.m
    n = flat.size
    noise = sampler.noise
    # the step grows where the noise over it would break the method's promise, and where f
    # is linear to its noise (nothing to lose: the estimate tightens to a few roundings)
    fine = GROW_ULPS * noise.unit
    # (Richardson, whose purpose is accuracy, always grows towards the finer target)
    promise = fine if pow2 else promised_accuracy(sampler.method.name, noise.unit) / 4
    # values that are float32 numbers (low bits zero): a function flat at the first step may
    # compute in float16 or float32, below whose resolution the step was
    low = bool(np.all(np.float32(f0) == f0))
    power = 0.2 if kind == "central" else 0.25
    pk = "symmetric" if kind == "central" and pow2 else kind
    hp = _pilot_step(np.maximum(np.abs(flat), 0.1), pow2, power, ARRAYS)
    out = _Pilot(pk, hp.copy(), *(np.full(n, np.nan) for _ in range(2)),
                 *(np.full((n, m), np.nan) for _ in range(5)), np.full(n, np.nan),
                 flat=np.zeros(n), drift=np.zeros((n, m)), linear=np.zeros(n, dtype=bool))
    sampler.pilot_vals = np.full((n, 4, m), np.nan) if pk == "symmetric" else None
    prev_mag = np.full(n, np.nan)
    prev_d1 = np.full((n, m), np.nan)
    prev_hp = np.full(n, np.nan)
    prev_spread = np.full(n, np.nan)
    prev_vals = np.full((n, len(PILOT_OFFSETS[pk]), m), np.nan)
    prev_moved = np.full(n, np.nan)
    stalls = np.zeros(n, dtype=int)
    shrunk = np.zeros(n, dtype=bool)  # shrunk last round
    ever_shrunk = np.zeros(n, dtype=bool)
    grown = np.zeros(n, dtype=int)
    factor = np.ones(n)  # the last growth
    prev_over = np.full(n, np.inf)  # the noise over the step, last round
    saved_vals: dict[int, np.ndarray] = {}
    todo = np.arange(n)
    shrinks = 0
    while todo.size:
        growing = grown[todo] > 0
        vals, ok = _measure(sampler, pk, todo, hp, retry=~growing)
        # a grown step that met a domain edge: back to the last round's measurement
        back = todo[~ok]
        for i in back:
            hp[i] /= factor[i]
            if sampler.pilot_vals is not None:
                sampler.pilot_vals[i] = saved_vals[int(i)]
        todo, vals, growing = todo[ok], vals[ok], growing[ok]
        if not todo.size:
            break
        got, short = _analyse(noise, pk, vals, f0, flat[todo], hp[todo])
        still = got.spread == 0
        out.flat[todo[still]] = np.maximum(out.flat[todo[still]], hp[todo[still]])
        consistent = np.isfinite(got.mag) & np.isfinite(prev_mag[todo]) & \
            (np.abs(np.log2(got.mag / np.where(prev_mag[todo] > 0, prev_mag[todo], 1.0)))
             < 1.0)
        aliased = _aliased(short, hp[todo], ARRAYS) & ~consistent
        # the variation over the pilot's span shrinks with the step; a jump's does not, while
        # the samples beyond it settle on the far side's limit (log near 0 does not settle:
        # its samples move by log 64 every round)
        big = got.spread > JUMP_NOISE * got.smooth_noise
        far = np.argmax(np.abs(vals - f0[None, None, :]).max(axis=2), axis=1)
        rows = np.arange(todo.size)
        moved = np.abs(vals[rows, far] - prev_vals[todo, far]).max(axis=1)
        stall = shrunk[todo] & big & (got.spread > 0.5 * prev_spread[todo])
        settles = stall & (stalls[todo] >= 1) & (moved < 0.1 * prev_moved[todo])
        stalls[todo] = np.where(stall, stalls[todo] + 1, 0)
        if np.any(settles):
            r = int(np.argmax(settles))
            raise _jump_error(sampler, pk, int(todo[r]), vals[r], hp[todo[r]])
        prev_vals[todo], prev_moved[todo] = vals, moved
        # a grown step must agree with the last one about the slope, to within what noise and
        # the truncation it could not see allow: a sawtooth (remainder) sampled near its period
        # looks smooth with another slope
        drift = growing & np.any(np.abs(got.d1 - prev_d1[todo]) > DRIFT * got.noise
                                 / prev_hp[todo][:, None] + 2 * _d1_truncation(got), axis=1)
        drift &= ~(low & (prev_spread[todo] == 0))  # below float32's resolution: no slope
        revert = (aliased | drift) & growing
        retry = np.zeros(todo.size, dtype=bool)
        for r in np.flatnonzero(revert):  # a grown step that aliases: the last round stands,
            i = int(todo[r])              # or a smaller growth from it is tried
            hp[i] /= factor[i]
            if sampler.pilot_vals is not None:
                sampler.pilot_vals[i] = saved_vals[i]
            if factor[i] >= 16:
                factor[i] /= 8.0
                hp[i] *= factor[i]
                retry[r] = True
        keep = ~revert
        # growing: the noise over the step must keep falling (1e12 + x**2: past |x| ~ 1e6
        # the values, and their rounding, grow like the step squared)
        over = got.noise.max(axis=1) / hp[todo]
        slope = np.fmax.reduce(np.abs(got.d1), axis=1)  # (nanmax, no warning if all NaN)
        stale = growing & keep & (over > 0.5 * prev_over[todo]) & (prev_spread[todo] > 0)
        # ... and the variation must grow with the step: a bounded, oscillating function
        # (sin at 1e2 sampled 20 apart) shows none past its period, however noisy the slope
        stale |= growing & keep & (prev_spread[todo] > 0) & \
            (got.spread < 2 * prev_spread[todo])
        for r in np.flatnonzero(stale):
            i = int(todo[r])
            hp[i] /= factor[i]
            if sampler.pilot_vals is not None:
                sampler.pilot_vals[i] = saved_vals[i]
        keep &= ~stale
        moved = np.where((growing & keep)[:, None], np.abs(got.d1 - prev_d1[todo]), 0.0)
        out.drift[todo[keep]] = np.nan_to_num(moved[keep])  # the last growth that stands
        out.take(todo[keep], got, np.flatnonzero(keep))
        if sampler.pilot_vals is not None:
            sampler.pilot_vals[todo[keep]] = vals[keep]
        # (a function flat at this step may only be below its resolution: 1e15 + x**3, or
        # float16 inside f, do not change between x and x + 1e-4 x; one round, 64x, shows the
        # change. A locally constant function -- min, max, median away from their ties --
        # that meets a far-off branch there drifts, and stays at its zero slope)
        rounds = np.where(got.spread > 0, GROW_ROUNDS, 1)
        grow = keep & ~aliased & np.isnan(got.mag) & \
            (grown[todo] < rounds) & (over > np.where(got.linear, fine, promise) * slope)
        prev_over[todo[keep]] = over[keep]  # a reverted round is no comparison
        shrink = aliased & ~revert
        prev_mag[todo[keep]], prev_spread[todo[keep]] = got.mag[keep], got.spread[keep]
        prev_d1[todo[keep]], prev_hp[todo[keep]] = got.d1[keep], hp[todo[keep]]
        shrunk[todo] = shrink
        ever_shrunk[todo] |= shrink
        if shrink.any():
            shrinks += 1
            if shrinks > PILOT_ROUNDS:  # the length shrank with every step
                i = int(todo[int(np.argmax(shrink))])
                raise StencilError(
                    f"{sampler.method.name}: at x[{i}] = {_fmt(sampler.real(i, flat[i]))} f "
                    f"varies on a scale below "
                    f"{_fmt(sampler.real(i, short[int(np.argmax(shrink))]))} that "
                    f"{PILOT_ROUNDS} pilot "
                    f"rounds could not resolve (a singularity or domain edge that close, or "
                    f"oscillation that fast), so no finite-difference step is trustworthy "
                    f"there; use an AD method (method='reverse-mode') or a point farther from "
                    f"it"
                )
            hp[todo[shrink]] = _pilot_step(short[shrink], pow2, power, ARRAYS)
        for r in np.flatnonzero(grow):
            i = int(todo[r])
            if sampler.pilot_vals is not None:
                saved_vals[i] = sampler.pilot_vals[i].copy()
            grown[i] += 1
            # to where the noise over the step meets the target, 4x to 64x at a time (powers
            # of two: Richardson's steps stay multiples of each other)
            # (8x at most while the noise blurs the slope itself: past a float16 input's
            # quantum, sin at 1e2 aliases before the noise shows it)
            want = over[r] / max((fine if got.linear[r] else promise) * slope[r], 1e-300)
            most = 3 if over[r] > 0.1 * slope[r] else 6
            factor[i] = 2.0 ** np.clip(np.round(np.log2(want)), 2, most)
            hp[i] *= factor[i]
        todo = todo[shrink | grow | retry]
    out.hp = hp.copy()
    sampler.pilot_hp = out.hp
    return out


def _jump_error(sampler: _Sampler, kind: str, i: int, vals: np.ndarray, hp: float
                ) -> StencilError:
    """The error for a variation that does not shrink with the step: where the jump is."""
    offsets = np.array(PILOT_OFFSETS[kind])
    dev = np.abs(vals - sampler.f0[None, :]).max(axis=1)
    j = int(np.argmax(dev))
    x0 = sampler.real(i, sampler.flat[i])
    side = sampler.real(i, sampler.flat[i] + offsets[j] * hp)
    near = sampler.real(i, sampler.flat[i] + np.sign(offsets[j]) * min(abs(offsets)) * hp)
    lo, hi = sorted((x0, float(side)))
    who = sampler.method.name
    where = f"x[{i}]" if sampler.flat.size > 1 else "x"
    other = {"forward-difference": "take the derivative from the other side "
             "(BackwardDifference)", "backward-difference": "take the derivative from the other "
             "side (ForwardDifference)"}.get(who, "use a one-sided scheme (ForwardDifference/"
                                                  "BackwardDifference) for the derivative from "
                                                  "one side")
    grid = ""
    if abs(x0) >= SUBGRID_X:  # e.g. sin at 1e308: the floats there are 2e292 apart
        grid = (f" (at |{where}| = {abs(x0):.3g} neighbouring floats are "
                f"{np.spacing(abs(x0)):.2g} apart: f may vary on a scale finer than that)")
    return StencilError(
        f"{who}: f jumps by {float(dev[j]):.3g} between {where} = {x0:.10g} and "
        f"{float(side):.10g}{grid} however small the step (the difference quotient grows as "
        f"the step "
        f"shrinks): a discontinuity at or next to {where} (floor, round, sign, a comparison or "
        f"branch), within [{lo:.10g}, {hi:.10g}] (closest sample {float(near):.10g}); f has "
        f"no derivative there. Differentiate at a point away from the jump, or {other}"
    )


def _pilot_step(length: Any, pow2: bool, power: float, lanes: Lanes) -> Any:
    """The pilot step for a length: a power of two near ``PILOT_STEP * L`` (steps that are
    exact multiples of each other), or ``eps^power * L``; times :data:`DITHER`, so that the
    points are not dyadic (``eps^(1/4)`` is ``2^-13``)."""
    return (lanes.pow2(PILOT_STEP * length) if pow2 else EPS**power * length) * DITHER


def _aliased(short: Any, hp: Any, lanes: Lanes) -> Any:
    """A pilot step beyond ~L/5 aliases (sin(1e6 x) sampled 1e-4 apart): measure again at the
    step that suits the length just found."""
    return lanes.isfinite(short) & (hp > 0.2 * short)


def _measure(sampler: _Sampler, kind: str, todo: np.ndarray, hp: np.ndarray,
             retry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One pilot round's samples ``(len(todo), K, m)`` for coordinates ``todo``.

    A row with a point outside the domain shrinks its step eightfold in place and retries (up
    to four times, then StencilError) where ``retry``; elsewhere it is reported in ``ok``.
    """
    flat = sampler.flat
    offsets = np.array(PILOT_OFFSETS[kind], dtype=float)
    vals = np.full((todo.size, offsets.size, sampler.m), np.nan)
    ok = np.ones(todo.size, dtype=bool)
    rows = np.arange(todo.size)
    for attempt in range(5):
        pts = flat[todo[rows], None] + offsets[None, :] * hp[todo[rows], None]
        out, bad = sampler.axis(np.repeat(todo[rows], offsets.size), pts,
                                strict=attempt == 4 and bool(retry[rows].any()))
        if isinstance(sampler, _Sampler):  # remembered: Richardson's levels may land here
            for i, row_pts, row in zip(np.repeat(todo[rows], offsets.size), pts.ravel(),
                                       out, strict=True):
                if np.all(np.isfinite(row)):
                    sampler.values.setdefault(((int(i), float(row_pts)),), row)
        out = out.reshape(rows.size, offsets.size, sampler.m)
        bad = bad.reshape(rows.size, offsets.size).any(axis=1)
        vals[rows[~bad]] = out[~bad]
        ok[rows[bad & ~retry[rows]]] = False
        rows = rows[bad & retry[rows]]
        if not rows.size:
            break
        hp[todo[rows]] /= 8.0
    return vals, ok


def _d1_truncation(p: _Pilot, hp: np.ndarray | None = None) -> np.ndarray:
    """A bound on the truncation of the pilot's own difference quotient ``d1`` ``(n, m)``:
    hp^2 |third derivative| / 6 (central pilots) or hp |second| / 2 (one-sided), from the measured
    higher derivative or the bound below which it hid."""
    hp = (p.hp if hp is None else hp)[:, None]
    fk = np.where(np.isfinite(p.fk), p.fk, p.fk_floor)
    return hp**2 * fk / 6 if p.k == 3 else hp * fk / 2


def _unresolved(s: _Sampler, vals: np.ndarray, pilot: _Pilot) -> np.ndarray:
    """Coordinates where every stencil value ``(n, k, m)`` equals ``f(x)``, though the pilot
    saw f change: a step below f's resolution."""
    seen = pilot.spread > FLAT * pilot.noise.max(axis=1)  # more than noise, that is
    return np.all(vals == s.f0[None, None, :], axis=(1, 2)) & seen


def _check_resolved(s: _Sampler, vals: np.ndarray, h: np.ndarray, pilot: _Pilot) -> None:
    """A step at which f does not change at all, where the pilot saw it change, is below f's
    resolution: its zero difference is no derivative (StencilError, never a zero)."""
    still = _unresolved(s, vals, pilot)
    if not still.any():
        return
    i = int(np.argmax(still))
    where = f"x[{i}]" if s.flat.size > 1 else "x"
    raise StencilError(
        f"{s.method.name}: f has the same value at every stencil point along {where} = "
        f"{_fmt(s.real(i, s.flat[i]))} (step h = {_fmt(s.real(i, h[i]))}), though it changes "
        f"over {_fmt(s.real(i, pilot.hp[i]))}: the step is below the resolution of f's values "
        f"({s.noise.precision}), so the zero difference is not a derivative; pass a larger "
        f"h, or evaluate f in float64"
    )


def _fk(st: Stencil, pilot: _Pilot, floor: bool) -> np.ndarray:
    """``|f^(d+p)|`` per coordinate and output ``(n, m)`` for ``st`` from the pilot's
    ``|f^(k)|``: itself when ``d + p = k``, else scaled by the length (``|f^(k)| / L^(d+p-k)``).
    With ``floor``, where nothing was visible, the bound below which it could hide."""
    fk = pilot.fk
    if floor:
        fk = np.where(np.isfinite(fk), fk, pilot.fk_floor)
    extra = st.deriv + st.order - pilot.k
    if extra == 0:
        return fk
    length = np.where(np.isfinite(pilot.length), pilot.length, pilot.hp)
    return fk / length[:, None] ** extra


def _auto_steps(sampler: _Sampler, st: Stencil, kind: str) -> tuple[np.ndarray, _Pilot]:
    """Each coordinate's step for ``st``: its noise balanced against its truncation, within
    the span the pilot looked at; and the pilot."""
    pilot = _pilot(sampler, kind)
    fk = np.nanmax(np.where(np.isfinite(pilot.fk), _fk(st, pilot, False), -np.inf), axis=1)
    fk = np.where(np.isfinite(fk) & (fk > 0), fk, np.nan)
    h = balanced_step(st, pilot.noise.max(axis=1), fk)
    # the pilot looked at the function over [x - h_p, x + 2 h_p] (central) or [x, x + 2 h_p]
    span = (1.0 if kind == "central" else 2.0) * pilot.hp
    # never below a step at which f's values did not change at all where a larger one saw
    # them change (float16 inside f); within the span the pilot looked at
    h = np.where(pilot.spread > 0, np.maximum(h, np.minimum(4 * pilot.flat, span)), h)
    h = np.minimum(h, span)
    h = np.maximum(h, 16 * EPS * np.maximum(np.abs(sampler.flat), np.finfo(float).tiny))
    return h, pilot


# ============================================================================ verdicts


def _accuracy(method: Any, noise: Noise | None, order: int = 2, deriv: int = 1) -> float:
    """The relative accuracy ``method`` is held to: its ``accuracy=`` setting, or what it
    promises for the precision f was measured to compute in."""
    acc = getattr(method, "accuracy", "auto")
    if acc != "auto":
        return float(acc)
    unit = EPS if noise is None else noise.effective_unit
    return promised_accuracy(method.name, unit, order, deriv)


ZERO_TO = 1e-300
"""An all-zero row (a derivative that is 0) whose absolute error estimate is at most this is
judged exact: 0 relative to itself would be no verdict."""


def _judged(method: Any, r: DerivativeResult, noise: Noise | None, order: int = 2,
            trunc: Any = None, rounding: Any = None, note: str = "",
            variation: Any = None, fscale: Any = None, deriv: int = 1) -> DerivativeResult:
    """``r`` with its status: ``"ok"`` (or ``note``) when every entry's error estimate is
    within the accuracy the method promises, relative to the largest entry of its row (the
    whole matrix for a Hessian); else ``"inaccurate: <why>"``. With ``strict=True`` an
    inaccurate result raises :class:`InaccurateDerivativeError` instead."""
    acc = _accuracy(method, noise, order, deriv)
    value = np.asarray(r.value, dtype=float)
    err = np.asarray(r.error, dtype=float)
    if np.any(np.isnan(err)):  # an estimate that could not be made (inf - inf at |x| ~ 1e300)
        err = np.where(np.isnan(err), np.inf, err)  # is no bound: infinite, never NaN
        r = dataclasses.replace(r, error=err if err.ndim else float(err))
    if noise is not None and noise.kink[0] < math.inf:
        r, err = _across_a_kink(method, r, noise, err, deriv)
    rows = value.reshape(-1, value.shape[-1]) if value.ndim >= 2 and r.out_shape != () \
        else value.reshape(1, -1)
    errs = err.reshape(rows.shape)
    scale = np.abs(rows).max(axis=1, keepdims=True)
    # a row that is 0 (an output that does not move: a Cholesky factor's upper triangle) is
    # judged against the whole matrix's largest entry, not against itself
    scale = np.where(scale == 0, np.abs(rows).max(), scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(errs == 0, 0.0, errs / scale)
    rel = np.where(np.isnan(rel), np.inf, rel)
    # a row that is exactly 0 to an absolute 1e-300 (the complex step's floor): 0 is its value
    rel = np.where((scale == 0) & (errs <= ZERO_TO), 0.0, rel)
    if bool(np.all(rel <= acc)):
        return dataclasses.replace(r, status=note or "ok", info={**r.info, "accuracy": acc})
    w = np.unravel_index(int(np.argmax(rel)), rel.shape)
    why = [] if noise is None else noise.causes(fscale, variation)
    if r.info.get("unresolved"):
        why.insert(0, r.info["unresolved"])
    if not why and trunc is not None and rounding is not None:
        t = float(np.asarray(trunc, dtype=float).reshape(rel.shape)[w])
        rd = float(np.asarray(rounding, dtype=float).reshape(rel.shape)[w])
        why.append("f varies on a scale close to the step (truncation)" if t > rd else
                   "the noise of f's values, divided by the step, dominates")
    if not why:
        why.append("the error estimate is large")
    label = _entry_label(value, w, r.out_shape)
    text = (f"inaccurate: {'; '.join(why)}: estimated error {float(errs[w]):.2g} at {label} "
            f"({float(rel[w]):.2g} of the largest entry) above accuracy={acc:.2g}")
    if note:
        text += f" ({note})"
    if getattr(method, "strict", False):
        raise InaccurateDerivativeError(
            f"{method.name}: {text[len('inaccurate: '):]}. Evaluate f in float64, make it "
            f"deterministic, choose method='richardson', 'complex-step' or an AD method, or "
            f"pass a looser accuracy= (strict=False reports it in status instead)"
        )
    return dataclasses.replace(r, status=text, info={**r.info, "accuracy": acc})


def _kink_reach(method: Any) -> float:
    """How many steps from ``x`` a method's final stencil reaches: ``order`` one-sided, half
    of it central, the largest step Richardson's entry combines (its central levels; a
    one-sided continuation at a domain edge reaches twice that); 0 for the complex step (no
    real stencil: it refuses kinks as non-analytic)."""
    name = getattr(method, "name", "")
    if name in ("forward-difference", "backward-difference"):
        return float(getattr(method, "order", 1))
    if name == "central-difference":
        return getattr(method, "order", 2) / 2.0
    if name == "richardson":
        return 1.0  # of the largest step its entry used (info["span"]), either side
    return 0.0


def _across_a_kink(method: Any, r: DerivativeResult, noise: Noise, err: np.ndarray,
                   deriv: int = 1) -> tuple[DerivativeResult, np.ndarray]:
    """``r`` (and its error array) with an infinite estimate for the coordinates whose final
    stencil reaches a kink the noise trace found within it (:meth:`_NoiseTrace._near_kink`):
    the difference across ``maximum(x, 0)`` at ``1e-7`` mixes two slopes and no estimate made
    from one side's samples bounds it (``sum(maximum(x, 0)**2)`` at ``(1e-7, -1e-7, 1)``
    gave 6.7e-10 for 2e-7 with an estimate of 3e-9)."""
    reach = _kink_reach(method) * deriv  # a Hessian's stencils are a difference of them
    step = r.step
    if method.name == "richardson" and r.info.get("span") is not None:
        step = r.info["span"]  # its entry reaches back to coarser levels
    if not reach or step is None or noise.direction is None:
        return r, err
    steps = np.ravel(np.asarray(step, dtype=float))
    room = noise.kink[0] * noise.direction
    if steps.size == 1 and room.size > 1:
        steps = np.full(room.size, float(steps[0]))
    if steps.size != room.size:
        return r, err
    across = reach * steps > room  # candidates: the trace's distance is along one direction
    if not np.any(across):
        return r, err
    sides = {"forward-difference": (1.0,), "backward-difference": (-1.0,)}.get(
        method.name, (-1.0, 1.0))
    for j in np.flatnonzero(across):
        across[j] = noise.crosses_kink(int(j), [s * reach * steps[j] for s in sides])
    if not np.any(across):
        return r, err
    cols = err.reshape(-1, room.size) if err.size % room.size == 0 and err.size else None
    if cols is None:
        return r, err
    cols = cols.copy()
    cols[:, across] = np.inf
    if deriv == 2 and cols.shape[0] == room.size:  # H[i, j] steps along both i and j
        cols[across, :] = np.inf
    err = cols.reshape(err.shape)
    j = int(np.flatnonzero(across)[0])
    where = "x" if room.size == 1 else f"x[{j}]"
    what = "jump" if REGISTRY[noise.kink[1]].staircase is not None else "kink"
    why = (f"{noise.kink[1]} has a {what} {float(room[j]):.2g} from x along {where}, within "
           f"the step {float(reach * steps[j]):.2g}: a difference across it mixes two pieces "
           f"of f")
    info = {**r.info, "unresolved": r.info.get("unresolved") or why}
    return dataclasses.replace(r, error=err if err.ndim else float(err), info=info), err


def _entry_label(value: np.ndarray, w: tuple[int, ...], out_shape: Any) -> str:
    if value.ndim == 0 or value.size == 1:
        return "the derivative"
    if value.ndim == 2 and out_shape not in (None, ()):
        return f"d f[{w[0]}]/d x[{w[1]}]"
    return f"entry {w[1] if len(w) > 1 else w[0]}"


# ============================================================================ finite differences


class _FiniteDifference(Method):
    family = "numerical"
    kind: ClassVar[str] = "central"

    def __init__(self, *, h: Any = "auto", order: int = 2, accuracy: Any = "auto",
                 strict: bool = False, chunk: Any = "auto") -> None:
        who = type(self).__name__
        self.h = _check_h(h, who)
        self.order = _check_order(self.kind, 1, order, who)
        self.accuracy = _check_accuracy(accuracy, who)
        self.strict = _check_strict(strict, who)
        self.chunk = _check_chunk(chunk, who)

    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        s = _Sampler(self, spec, x, "jacobian", self.chunk)
        if s.m == 0:  # f returns an empty array: an empty Jacobian, exactly (nothing to sample)
            return _empty_jacobian(self, s)
        s.noise = Noise.measure(s)
        st = stencil(self.kind, 1, self.order)
        flat = s.flat
        if self.h == "auto":
            h, pilot = _auto_steps(s, st, self.kind)
            h = exact_steps(flat, h)
        else:
            h, pilot = exact_steps(flat, np.full(flat.size, self.h)), None
        seen: list[np.ndarray] = []

        def sample(idx: np.ndarray, val: np.ndarray) -> np.ndarray:
            seen.append(s.axis(idx, val)[0])
            return seen[-1]

        jac = along_axes(st, flat, h, sample, s.f0)
        if pilot is not None:
            still = _unresolved(s, seen[-1].reshape(flat.size, -1, s.m), pilot)
            if still.any():  # below f's resolution: the step over which the pilot saw it change
                h = np.where(still, exact_steps(flat, pilot.hp), h)
                jac = along_axes(st, flat, h, sample, s.f0)
                _check_resolved(s, seen[-1].reshape(flat.size, -1, s.m), h, pilot)
            # a grid one coordinate's samples showed holds for its output along every
            # coordinate (round(x0 x1**2 / 1e-4) read linear along x1 at the pilot's steps)
            grid = np.any(s.noise.quanta[None, :] > pilot.noise, axis=1)
            pilot.noise = np.maximum(pilot.noise, s.noise.quanta[None, :])
            trunc, rounding, unseen = self._auto_error(st, h, pilot, jac)
            # noise the model did not see (f rounds its input to float32, a grid in its
            # values too fine to show in the pilot): the gap it left tells its size; take
            # the step again for that noise
            redo = np.any(unseen > pilot.noise, axis=1) | grid
            if redo.any():
                pilot.noise[redo] = np.maximum(pilot.noise, unseen)[redo]
                fk = np.nanmax(np.where(np.isfinite(pilot.fk), _fk(st, pilot, False),
                                        -np.inf), axis=1)
                fk = np.where(np.isfinite(fk) & (fk > 0), fk, np.nan)
                span = (1.0 if self.kind == "central" else 2.0) * pilot.hp
                again = np.minimum(balanced_step(st, pilot.noise.max(axis=1), fk), span)
                h = np.where(redo, exact_steps(flat, np.maximum(again, h)), h)
                jac = along_axes(st, flat, h, sample, s.f0)
                trunc, rounding, _ = self._auto_error(st, h, pilot, jac)
            fscale = pilot.scale.T
        else:
            vals = seen[0].reshape(flat.size, -1, s.m) if seen else \
                np.broadcast_to(s.f0, (flat.size, 1, s.m))
            trunc, rounding, fscale = self._fixed_error(s, st, h, jac, vals)
        variation = np.abs(jac) * h[None, :]
        error = trunc + rounding
        r = s.result(jac, self, error=error, step=h.reshape(x.shape),
                     info={"order": self.order, "stencil": st.offsets,
                           "precision": s.noise.precision,
                           "unit": s.noise.effective_unit})
        return _judged(self, r, s.noise, self.order, trunc, rounding, variation=variation,
                       fscale=fscale)

    def _auto_error(self, st: Stencil, h: np.ndarray, pilot: _Pilot, jac: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(truncation, rounding)`` per entry ``(m, n)`` at the steps ``h``: the model's
        (the pilot's higher derivative, or the bound below which it hid) and, for the
        second-order central and first-order one-sided stencils, the a-posteriori comparison
        with the pilot's own difference quotient at its step; and ``(n, m)``, the noise of one
        evaluation that would explain a gap between the two the model did not (0: none)."""
        trunc, rounding = error_bound(st, h[:, None], pilot.noise, _fk(st, pilot, True))
        hp = pilot.hp[:, None]
        hh = h[:, None]
        p = st.order
        gap = np.abs(pilot.d1 - jac.T)
        if (self.kind == "central" and p == 2) or (self.kind != "central" and p == 1):
            ratio = np.where(hp > 1.5 * hh, hh**p / np.maximum(hp**p - hh**p, 1e-300), 0.0)
            trunc = np.maximum(trunc, np.nan_to_num(gap * ratio))
        # the two difference quotients may differ by the pilot's truncation (8x its bound:
        # the pilot's third difference is taken at x + h/2, not x) and both noises; where
        # they differ by more than UNSEEN of the slope, what is left is noise the model did
        # not see (values on a grid it missed): this result's error, not the pilot's
        unseen = gap - 8 * _d1_truncation(pilot) - pilot.noise * (1 / hp + st.abs_weight_sum
                                                                 / hh**st.deriv)
        unseen = np.maximum(np.nan_to_num(np.where(gap > UNSEEN * np.abs(pilot.d1), unseen,
                                                   0.0)), 0.0)
        # a slope that moved when the pilot's step grew: at a step near the pilot's the
        # result carries that much (truncation the third difference may have missed, sin
        # sampled near its period), scaled down like truncation at smaller steps
        rounding = rounding + unseen + pilot.drift * np.minimum(hh / hp, 1.0) ** p
        return TRUNCATION_SAFETY * trunc.T, rounding.T, unseen * hh**st.deriv / \
            st.abs_weight_sum

    def _fixed_error(self, s: _Sampler, st: Stencil, h: np.ndarray, jac: np.ndarray,
                     vals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The estimate at a fixed step: truncation from the same stencil at ``2h`` (Richardson's
        ``|D(2h) - D(h)| / (2^p - 1)``), noise from the values the stencil saw (``vals``,
        ``(n, k, m)``; their grid only where the step is not a short dyadic number, which can
        make a polynomial's values look quantized)."""
        flat = s.flat
        noise = s.noise.bound(vals, s.f0, flat, jac.T, grid=not _dyadic(self.h),
                              offsets=[o for o in st.offsets if o])
        _, rounding = error_bound(st, h[:, None], noise, 0.0)
        h2 = exact_steps(flat, 2.0 * h)
        with np.errstate(all="ignore"):
            coarse = along_axes(st, flat, h2, lambda i, v: s.axis(i, v, strict=False)[0], s.f0)
        trunc = np.abs(coarse - jac) / (2.0**st.order - 1.0)
        trunc = np.where(np.isfinite(trunc), trunc, np.inf)
        fscale = np.maximum(np.abs(s.f0)[:, None], np.fmax.reduce(np.abs(vals), axis=1).T)
        return TRUNCATION_SAFETY * trunc, rounding.T, fscale

    def _hessian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        s = _Sampler(self, spec, x, "hessian", self.chunk)
        s.noise = Noise.measure(s)
        n = s.flat.size
        st2 = stencil(self.kind, 2, self.order)
        st1 = stencil(self.kind, 1, self.order)
        if self.h == "auto":
            h, pilot = _auto_steps(s, st2, self.kind)
            h = exact_steps(s.flat, h)
        else:
            h, pilot = exact_steps(s.flat, np.full(n, self.h)), None
        hess = np.zeros((n, n))
        # diagonal: the second-derivative stencil
        pts2, w2 = nodes(st2, s.flat, h)
        keys = [((i, float(p)),) if o else () for i, row in enumerate(pts2)
                for o, p in zip(st2.offsets, row, strict=True)]
        vals, _ = s.get(keys)
        diag_vals = vals.reshape(n, len(st2.offsets), s.m)
        hess[np.arange(n), np.arange(n)] = np.einsum("nk,nk->n", w2, diag_vals[..., 0])
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
        # the estimate: each coordinate's noise bound and its truncation model (the pilot's
        # higher derivative scaled to the fourth), or at a fixed step the noise alone
        if pilot is not None:
            noise = pilot.noise[:, 0]
            fk = _fk(st2, pilot, True)[:, 0]
        else:
            noise = s.noise.bound(diag_vals, s.f0)[:, 0]
            fk = np.zeros(n)
        if pilot is not None:  # the values the stencil saw, not only the pilot's
            noise = np.maximum(noise, s.noise.bound(diag_vals, s.f0)[:, 0])
        t2, r2 = error_bound(st2, h, noise, fk)
        if pilot is not None:
            # the truncation the pilot's model predicts can fall short (a one-sided second
            # difference: h f''' from f'' over a length); the stencil at 2h measures it, as a
            # fixed step's estimate does
            pts2b, w2b = nodes(st2, s.flat, 2 * h)
            keys = [((i, float(p)),) if o else () for i, row in enumerate(pts2b)
                    for o, p in zip(st2.offsets, row, strict=True)]
            try:
                vals2, _ = s.get(keys, strict=False)
            except (DomainError, FloatingPointError):  # 2h crosses a domain edge: the model
                vals2 = None                            # alone, as before
            if vals2 is not None:
                coarse = np.einsum("nk,nk->n", w2b,
                                   vals2.reshape(n, len(st2.offsets), s.m)[..., 0])
                seen = np.abs(coarse - hess[np.arange(n), np.arange(n)]) / \
                    (2.0**self.order - 1.0)
                t2 = np.maximum(t2, np.where(np.isfinite(seen), seen, t2))
        hi, hj = np.meshgrid(h, h, indexing="ij")
        nij = np.maximum(noise[:, None], noise[None, :])
        rounding = nij * st1.abs_weight_sum**2 / (hi * hj)
        trunc = abs(float(st1.error_coef)) * np.maximum(hi, hj) ** self.order * \
            np.sqrt(np.outer(fk, fk)) * 2.0
        rounding[np.arange(n), np.arange(n)] = r2
        trunc[np.arange(n), np.arange(n)] = t2
        trunc = TRUNCATION_SAFETY * trunc
        error = trunc + rounding
        r = s.result(hess, self, 2, error=error, step=h.reshape(x.shape),
                     info={"order": self.order, "precision": s.noise.precision,
                           "unit": s.noise.effective_unit})
        return _judged(self, r, s.noise, self.order, trunc, rounding, deriv=2)


class ForwardDifference(_FiniteDifference):
    """Forward differences ``sum_j w_j f(x + j h) / h``, ``j = 0..p``, of accuracy order ``p``.

    Parameters
    ----------
    h : "auto" or float
        ``"auto"`` (default) chooses each coordinate's step from the function itself: a pilot
        second difference (2 evaluations per coordinate, counted) measures ``|f''|``, the
        noise model (one evaluation in all) the noise ``N`` of one evaluation, and the step
        balancing them is taken (for ``p = 1``, ``h = 2 sqrt(N / |f''|)``). A float is the
        textbook fixed step, applied as ``(x + h) - x`` (its estimate then costs the stencil
        at ``2h`` too).
    order : int
        Accuracy order ``p`` from 1 to 16; weights from Fornberg's recursion, exact rationals.
    accuracy : "auto" or float
        The relative accuracy ``status`` holds the result to (error estimate over the
        largest entry): ``"auto"`` is what the scheme promises for the precision f computes
        in (:func:`promised_accuracy`: 4.5e-7 in float64, 1e-2 in float32 for ``p = 1``).
    strict : bool
        Raise :class:`~diffkit.errors.InaccurateDerivativeError` instead of returning a
        result whose status is ``"inaccurate: ..."``.
    chunk : int or "auto"
        For ``vectorized`` specs: stencil points sent to ``f`` per call (memory is
        ``O(n * chunk)``); ``"auto"`` keeps each batch near 32k numbers.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> r = dk.methods.ForwardDifference().derivative(dnp.exp, 1.0)
    >>> abs(float(r) - 2.718281828459045) < r.error < 1e-6, r.nfev, r.status
    (True, 5, 'ok')
    """

    name = "forward-difference"
    kind = "forward"

    def __init__(self, *, h: Any = "auto", order: int = 1, accuracy: Any = "auto",
                 strict: bool = False, chunk: Any = "auto") -> None:
        super().__init__(h=h, order=order, accuracy=accuracy, strict=strict, chunk=chunk)


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

    def __init__(self, *, h: Any = "auto", order: int = 1, accuracy: Any = "auto",
                 strict: bool = False, chunk: Any = "auto") -> None:
        super().__init__(h=h, order=order, accuracy=accuracy, strict=strict, chunk=chunk)


class CentralDifference(_FiniteDifference):
    """Central differences ``sum_j w_j f(x + j h) / h``, ``j = -p/2..p/2``, of even order ``p``.

    Parameters
    ----------
    h : "auto" or float
        ``"auto"`` (default): a pilot stencil at ``x - h_p, x + h_p, x + 2 h_p`` (3
        evaluations per coordinate, counted; with ``f(x)`` they make a third difference)
        measures ``|f'''|``, the noise model (one evaluation in all) the noise ``N`` of one
        evaluation, and the step balancing them is taken (``h = (3 N / |f'''|)^(1/3)`` for
        ``p = 2``, the analogue from :func:`diffkit.stencils.balanced_step` for higher
        orders). A float is the textbook fixed step, applied as ``(x + h) - x``.
    order : int
        Even accuracy order ``p`` from 2 to 16.
    accuracy : "auto" or float
        The relative accuracy ``status`` holds the result to: ``"auto"`` is what central
        differences promise for the precision f computes in (1.1e-9 in float64, 7.3e-4 in
        float32 for ``p = 2``; :func:`promised_accuracy`).
    strict : bool
        Raise :class:`~diffkit.errors.InaccurateDerivativeError` instead of returning a
        result whose status is ``"inaccurate: ..."``.
    chunk : int or "auto"
        For ``vectorized`` specs: stencil points sent to ``f`` per call (memory is
        ``O(n * chunk)``); ``"auto"`` keeps each batch near 32k numbers.

    Returns
    -------
    DerivativeResult
        ``value``, ``error`` (the estimate of ``|value - exact|`` per entry: truncation plus
        noise), ``nfev``, ``step``, ``status``.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> r = dk.methods.CentralDifference().derivative(dnp.exp, 1.0)
    >>> abs(float(r) - 2.718281828459045) < r.error < 1e-9, r.nfev, r.status
    (True, 7, 'ok')
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


def _taken(actual: np.ndarray, central: bool, h: np.ndarray) -> np.ndarray:
    """The steps a level actually took (half its width, or its first offset one-sided), ``h``
    where that is not a positive finite number (Neville's factors come from them)."""
    t = 0.5 * (actual[:, 1] - actual[:, 0]) if central else np.abs(actual[:, 0])
    return np.where(np.isfinite(t) & (t > 0), t, h)


_TINY = float(np.finfo(float).tiny)


def _finer_structure(levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]], f0: np.ndarray,
                     noise: np.ndarray) -> np.ndarray:
    """Which rows' two finest central levels show structure finer than their steps: the even
    part ``E(h) = (f(x + h) + f(x - h)) / 2 - f(x)`` of a smooth f shrinks like h**2 (a
    quarter per halving; faster where f'' = 0), and where it does not shrink by half, above
    the noise, f(x) holds something the samples around it do not (a bump narrower than the
    step: exp(-(1e4 (x - 1))**2) + x at 1.0003 gave 1, 'ok', to 6e-16; exact -6.4). Central
    differences never evaluate f(x); this is the one look they get of it. Rows ``(E,)``."""
    (last, _, _), (prev, _, _) = levels[-1], levels[-2]
    e1 = np.abs(0.5 * (last[:, 0] + last[:, 1]) - f0[None, :])
    e2 = np.abs(0.5 * (prev[:, 0] + prev[:, 1]) - f0[None, :])
    with np.errstate(invalid="ignore"):
        return np.any((e1 > 4 * noise) & (e1 > 0.5 * e2), axis=1)


def _central_level(fa: Any, fb: Any, width: Any, noise: Any) -> tuple[Any, Any]:
    """One level's central difference over ``width = (x + h) - (x - h)`` and the bound on its
    noise (``sum |w| = 2 / width`` times the noise bound of one evaluation). Floats, or arrays
    with ``width`` a column ``(E, 1)`` and ``noise`` ``(E, m)``."""
    return (fb - fa) / width, 2 * noise / width


class _ScalarSampler:
    """The sampler's interface (:class:`_Sampler`) for one scalar coordinate and output,
    evaluated on Python floats for Richardson's scalar path. Anything it does not handle (a
    domain edge, a non-finite or non-scalar value) raises :class:`_Fallback`, and the batched
    path starts over (its evaluations counted too)."""

    shape = ()
    m = 1
    chunk = 1
    scale = None  # |x| below SCALE_FROM: sampled in f's own units

    def __init__(self, method: Method, spec: Function, xf: float) -> None:
        self.method, self.spec = method, spec
        self.fn = spec.fn if spec.nparams == 1 else spec.call  # one parameter: fn(x) is call(x)
        self.seen: dict[float, float] = {}
        self.nfev = 0
        self.out_unit = EPS
        self.flat = np.array([xf])
        self.f0 = np.array([self.f(xf)])
        self.pilot_vals: np.ndarray | None = None
        self.pilot_hp: np.ndarray | None = None
        self.noise: Noise | None = None

    def real(self, i: int, v: float) -> float:
        return float(v)

    def f(self, t: float) -> float:
        seen = self.seen
        if t in seen:  # the pilot's points recur in the step sequence
            return seen[t]
        self.nfev += 1
        try:
            v = self.fn(_f64(t))
        except (DomainError, FloatingPointError, ValueError, OverflowError):
            raise _Fallback(self.nfev) from None  # (the general path says what it was)
        if v.__class__ is not _f64:
            if not isinstance(v, (float, np.floating)):
                try:
                    v = np.asarray(v)
                except ValueError:  # a ragged list: the general path refuses it by name
                    raise _Fallback(self.nfev) from None
                if v.shape != () or v.dtype.kind not in "iuf":
                    raise _Fallback(self.nfev)
            if not seen:  # the first value: the precision f returns
                self.out_unit = unit_roundoff(np.result_type(v)) if not isinstance(v, float) \
                    else EPS
        v = float(v)
        if v - v != 0.0:  # inf or nan
            raise _Fallback(self.nfev)
        seen[t] = v
        return v

    def _arg(self, flat: np.ndarray) -> Any:
        return flat[0]

    def axis(self, idx: np.ndarray, val: np.ndarray, strict: bool = True
             ) -> tuple[np.ndarray, np.ndarray]:
        f = self.f
        out = np.array([[f(float(v))] for v in np.ravel(val)])
        return out, np.zeros(out.shape[0], dtype=bool)


class Richardson(Method):
    """Central differences at a shrinking step sequence, extrapolated to ``h -> 0``.

    For each coordinate: a pilot stencil (4 evaluations) measures the length ``L`` on which
    the function varies and the noise model (one evaluation in all) the noise of one
    evaluation; central differences at ``h0 = L/4, h0/2, h0/4, ...`` (2 evaluations each)
    fill Neville's tableau, each extrapolation removing the next even power of ``h``; the
    tableau entry with the smallest error estimate is returned, and the sequence stops as
    soon as the estimate has not improved for two levels (or reached the noise). The error
    estimate is the entry's distance to the same extrapolation one step coarser plus the
    bound on the noise its coefficients amplify -- the noise measured, not assumed: f's own
    precision (float32 inside f), a quantum, non-determinism, and the rounding of larger
    intermediates than ``|f|`` (:class:`Noise`) -- so it bounds the true error without being
    wildly pessimistic.

    If a central stencil leaves the function's domain (``sqrt`` near 0 with a big step), the
    sequence continues with one-sided second-order differences pointing away from the edge
    (``(-3 f(x) + 4 f(x + h) - f(x + 2h)) / 2h``, powers 2, 3, 4, ...), and ``status`` says so.

    Parameters
    ----------
    h : "auto" or float
        The first (largest) step; ``"auto"`` takes it from the pilot.
    max_levels : int
        Most steps in the sequence (2 to 30).
    accuracy : "auto" or float
        The relative accuracy ``status`` holds the result to (error estimate over the
        largest entry): ``"auto"`` is what Richardson promises for the precision f computes
        in (:func:`promised_accuracy`: 5.5e-11 in float64, 1.9e-4 in float32).
    strict : bool
        Raise :class:`~diffkit.errors.InaccurateDerivativeError` instead of returning a
        result whose status is ``"inaccurate: ..."``.
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

    def __init__(self, *, h: Any = "auto", max_levels: int = 14, accuracy: Any = "auto",
                 strict: bool = False, chunk: Any = "auto") -> None:
        self.h = _check_h(h, "Richardson")
        self.max_levels = _check_int(max_levels, "max_levels", "Richardson", 2, 30)
        self.accuracy = _check_accuracy(accuracy, "Richardson")
        self.strict = _check_strict(strict, "Richardson")
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

        The pilot, the noise model and the extrapolation are the same functions the batched
        path calls (:func:`_pilot`, :class:`Noise`, :class:`~diffkit.stencils.Extrapolation`,
        the last given ``FLOATS``): small numpy arrays cost microseconds per operation, and the
        step sequence of a cheap scalar function would spend most of its time there instead of
        in ``f``. Anything this path does not handle (a domain edge, a non-finite or
        non-scalar value) raises :class:`_Fallback`, and the batched path starts over (its
        evaluations counted too).
        """
        if not abs(xf) < SCALE_FROM:  # sampled in units of a power of two: the batched path
            raise _Fallback(0)
        s = _ScalarSampler(self, spec, xf)
        f = s.f
        s.noise = Noise.measure(s)
        f0 = float(s.f0[0])
        if self.h == "auto":  # the symmetric pilot of _pilot(pow2=True), rounds and all
            pilot = _pilot(s, "central", True)
            h0 = float(_start_step(pilot.length, pilot.hp, ARRAYS)[0])
            noise = float(pilot.noise[0, 0])
        else:
            h0, noise = self.h, float(_fixed_noise(s)[0, 0])
        rf = NOISE_FLOOR * s.noise.unit
        for _ in range(2):  # again if the finest levels' samples show more noise (a grid)
            ext = Extrapolation(EVEN_POWERS, lanes=FLOATS)
            add, fscale = ext.add, abs(f0)
            taken = []
            for k in range(self.max_levels):
                h = h0 / 2.0**k
                a, b = xf - h, xf + h
                fa, fb = f(a), f(b)
                taken += (fa, fb)
                fscale = max(fscale, abs(fa), abs(fb))
                width = (b - xf) - (a - xf)  # the step actually taken (x +- h rounds)
                if not width > 0:  # h below the spacing of floats at x: no finer level
                    break
                if not add(*_central_level(fa, fb, width, max(noise, rf * fscale)),
                           0.5 * width):
                    break
            last = taken[-8:]  # the finest levels: offsets -1, 1, -2, 2, ... (x the finest)
            seen = float(s.noise.bound(np.array(last).reshape(1, -1, 1), s.f0,
                                       offsets=_level_offsets(len(last) // 2))[0, 0])
            if not seen > 2 * noise:
                break
            noise = seen
        if math.isnan(ext.step):
            raise _Fallback(s.nfev)
        if len(taken) >= 4 and 0.5 * width / 8 > 16 * EPS * max(abs(xf), _TINY):
            e1 = abs(0.5 * (taken[-2] + taken[-1]) - f0)  # the finest two levels' even
            e2 = abs(0.5 * (taken[-4] + taken[-3]) - f0)  # parts (see _finer_structure)
            if e1 > 4 * noise and e1 > 0.5 * e2:
                raise _Fallback(s.nfev)  # the general path retries at smaller steps
        error, why = _alias_guard(np.array([xf]), ext.step, ext.error)
        info = {"precision": s.noise.precision, "unit": s.noise.effective_unit,
                "span": ext.span}
        r = DerivativeResult(ext.value, nfev=s.nfev, method=self.name,
                             error=float(np.asarray(error).reshape(())), step=ext.step,
                             out_shape=(), info={**info, "unresolved": why} if why else info)
        return _judged(self, r, s.noise)

    def _h0(self, s: _Sampler) -> tuple[np.ndarray, np.ndarray]:
        """The first step and the noise bound of one evaluation, ``(n, m)``."""
        if self.h != "auto":
            return np.full(s.flat.size, self.h), _fixed_noise(s)
        try:
            pilot = _pilot(s, "central", True)
        except StencilError as exc:
            if "jumps" in str(exc) or "pilot rounds could not resolve" in str(exc):
                raise  # (a kink: a one-sided pilot would measure one side's slope, and the
                # central sequence then extrapolate the average of the two: relu'(0) = 0.5)
            # even the smallest central pilot leaves the domain (log at 1e-9): measure on the
            # side where f is defined; the sequence then goes one-sided by itself
            errors = []
            for side in ("forward", "backward"):
                try:
                    pilot = _pilot(s, side, True)
                    break
                except StencilError as exc2:
                    errors.append(exc2)
            else:  # the side where f is defined says why it failed (unresolved), if any
                raise next((e for e in errors if "pilot rounds" in str(e)), errors[0]) \
                    from None
            s.pilot_hp = s.pilot_vals = None  # one-sided samples: not for the central reuse
        return _start_step(pilot.length, pilot.hp, ARRAYS), pilot.noise

    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        s = _Sampler(self, spec, x, "jacobian", self.chunk)
        if s.m == 0:  # f returns an empty array: an empty Jacobian, exactly (nothing to sample)
            return _empty_jacobian(self, s)
        s.noise = Noise.measure(s)
        n = s.flat.size
        h0, noise = self._h0(s)
        noise = np.maximum(noise, s.noise.quanta[None, :])  # a grid seen holds for its output
        value = np.full((s.m, n), np.nan)
        error = np.full((s.m, n), np.nan)
        step = np.full(n, np.nan)
        s.span = np.full(n, np.nan)  # the largest step each entry's extrapolation used
        statuses: dict[int, str] = {}
        todo: dict[str, list[int]] = {"central": list(range(n))}
        floor = 16 * EPS * np.maximum(np.abs(s.flat), np.finfo(float).tiny)
        halvings = np.zeros(n, dtype=int)
        while todo:
            nxt: dict[str, list[int]] = {}
            for kind, idx in todo.items():
                fails = self._run_sequence(s, np.array(idx), h0, noise, kind, value, error,
                                           step)
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
        note = "; ".join(dict.fromkeys(statuses.values()))
        r = s.result(value, self, error=error, step=step.reshape(x.shape),
                     info={"precision": s.noise.precision,
                           "unit": s.noise.effective_unit, "span": s.span.reshape(x.shape)})
        return _judged(self, r, s.noise, note=note)

    def _run_sequence(self, s: _Sampler, idx: np.ndarray, h0: np.ndarray, noise: np.ndarray,
                      kind: str, value: np.ndarray, error: np.ndarray, step: np.ndarray
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
        offs = np.array((-1.0, 1.0) if central else (sign, 2 * sign))
        levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (vals, actual, h)
        for k in range(self.max_levels):
            h = h0[idx] / 2.0**k
            pts = flat[idx, None] + offs[None, :] * h[:, None]
            active = ext.active
            act = np.flatnonzero(active)
            vals = np.full((idx.size, 2, s.m), np.nan)
            # remembered points are reused: the pilot's (every round's), and for one-sided
            # levels x + 2h_k, which is x + h_(k-1)
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
            levels.append((vals, actual, _taken(actual, central, h)))
            if not ext.add(*self._level(s, central, levels, noise[idx]), levels[-1][2]).any():
                break
        # the finest levels' own samples may show more noise than the pilot's did (values on
        # a grid of 1e-6 differ by thousands of spacings at the pilot's step, by a few at the
        # finest levels): run the tableau again over the same samples with it
        last = np.concatenate([np.where(np.isnan(v), s.f0, v) for v, _, _ in levels[-4:]],
                              axis=1)
        seen = s.noise.bound(last, s.f0, offsets=_level_offsets(
            min(len(levels), 4), central, sign))
        again = np.flatnonzero(np.any(seen > 2 * noise[idx], axis=1))
        if again.size:
            redo = Extrapolation(EVEN_POWERS if central else ALL_POWERS, (again.size, s.m))
            sub = [(v[again], a[again], h[again]) for v, a, h in levels]
            for k in range(len(sub)):
                d, lnoise = self._level(s, central, sub[:k + 1], seen[again])
                if not redo.add(d, lnoise, sub[k][2]).any():
                    break
            for name in ("value", "error", "step", "span"):
                getattr(ext, name)[again] = getattr(redo, name)
        ok = np.isfinite(ext.step)
        if central and len(levels) >= 2:  # the levels agreed, but f(x) says they saw past it
            room = levels[-1][2] / 8 > 16 * EPS * np.maximum(np.abs(flat[idx]),
                                                             np.finfo(float).tiny)
            finer = ok & room & _finer_structure(levels, s.f0, noise[idx])
            for r in np.flatnonzero(finer):
                h0[idx[r]] = float(levels[-1][2][r]) / 4  # (the retry halves it once more)
            ok &= ~finer
        failed = {i for i, _, _ in fails}
        for r in np.flatnonzero(~ok):  # no two levels succeeded: retry with a smaller step
            if int(idx[r]) not in failed:
                fails.append((int(idx[r]), ((int(idx[r]), float(flat[idx[r]] + h0[idx[r]])),),
                              ""))
        value[:, idx[ok]] = ext.value[ok].T
        error[:, idx[ok]] = ext.error[ok].T
        step[idx[ok]] = ext.step[ok]
        s.span[idx[ok]] = ext.span[ok]
        return fails

    @staticmethod
    def _level(s: _Sampler, central: bool, levels: list[tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]],
               noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The last level's differences ``(E, m)`` and their noise bound, from its samples
        ``vals`` ``(E, 2, m)`` at the offsets actually taken; the noise of one evaluation is
        ``noise`` or the rounding of the largest value any level saw so far."""
        vals, actual, _ = levels[-1]
        fscale = np.abs(s.f0).max()
        for v, _, _ in levels:
            fscale = np.maximum(fscale, np.nan_to_num(np.abs(v)).max(axis=(1, 2)))
        level = np.maximum(noise, NOISE_FLOOR * s.noise.unit * np.asarray(fscale)[..., None]
                           if np.ndim(fscale) else NOISE_FLOOR * s.noise.unit * fscale)
        if central:
            return _central_level(vals[:, 0], vals[:, 1],
                                  (actual[:, 1] - actual[:, 0])[:, None], level)
        a1, a2 = actual[:, 0], actual[:, 1]
        # second-order one-sided weights for the offsets actually sampled
        w = fornberg_float(np.stack([np.zeros_like(a1), a1, a2], axis=1) / a1[:, None],
                           1) / a1[:, None]
        d = w[:, :1] * s.f0[None, :] + w[:, 1:2] * vals[:, 0] + w[:, 2:3] * vals[:, 1]
        return d, level * np.abs(w).sum(axis=1)[:, None]

    # ---------------------------------------------------------------- Hessian
    def _hessian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        s = _Sampler(self, spec, x, "hessian", self.chunk)
        s.noise = Noise.measure(s)
        n = s.flat.size
        h0, noise = self._h0(s)
        noise = noise[:, 0]
        flat = s.flat
        pairs = [(i, i) for i in range(n)] + [(i, j) for i in range(n) for j in range(i + 1, n)]
        first = np.array([i for i, _ in pairs])
        # no discrediting here: on a function flat to rounding (f = x - ((3 + x) - 3)), whose
        # noise is larger than eps |f| assumes, it jumps from 2e-13 to a noise-made 4e-6
        ext = Extrapolation(EVEN_POWERS, (len(pairs), 1), discredit=False)
        fscale = np.abs(s.f0).max()
        # rounding relative to the values seen (a binary grid's too: float32 values), and a
        # grid seen anywhere for this output
        rf = NOISE_FLOOR * max(s.noise.unit, float(s.noise.rel_quanta.max(initial=0.0)))
        noise = np.maximum(noise, float(s.noise.quanta.max(initial=0.0)))
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
            lnoise = np.empty(len(pairs))
            pos = 0
            for r, (i, j) in enumerate(pairs):
                level = max(noise[i], noise[j], rf * fscale)
                if i == j:
                    d[r] = (vals[pos] - 2 * s.f0[0] + vals[pos + 1]) / h[i] ** 2
                    lnoise[r] = 4 * level / h[i] ** 2
                    pos += 2
                else:
                    v = vals[pos:pos + 4]
                    d[r] = (v[0] - v[1] - v[2] + v[3]) / (4 * h[i] * h[j])
                    lnoise[r] = level / (h[i] * h[j])
                    pos += 4
            if not ext.add(d[:, None], lnoise[:, None], h[first]).any():
                break
        hess = np.empty((n, n))
        err = np.empty((n, n))
        for r, (i, j) in enumerate(pairs):
            hess[i, j] = hess[j, i] = ext.value[r, 0]
            err[i, j] = err[j, i] = ext.error[r, 0]
        r = s.result(hess, self, 2, error=err, step=h0.reshape(x.shape),
                     info={"precision": s.noise.precision,
                           "unit": s.noise.effective_unit})
        return _judged(self, r, s.noise, deriv=2)


def _level_offsets(levels: int, central: bool = True, sign: float = 1.0) -> list[float]:
    """Where the samples of Richardson's last ``levels`` levels are, in units of the finest
    step, in the order the levels took them (coarsest first): ``-2^k, 2^k`` for central
    levels, ``s 2^k, 2 s 2^k`` for one-sided ones."""
    out: list[float] = []
    for k in range(levels - 1, -1, -1):
        out += [-(2.0**k), 2.0**k] if central else [sign * 2.0**k, 2 * sign * 2.0**k]
    return out


def _dyadic(h: Any) -> bool:
    """Whether ``h`` is a number with a short binary mantissa (``2^-10``, ``0.5``, ``0.375``)."""
    if not isinstance(h, float) or h <= 0:
        return False
    mant = math.frexp(h)[0] * 2.0**53
    return mant % 2.0**40 == 0


def _fixed_noise(s: Any) -> np.ndarray:
    """The noise bound ``(n, m)`` where no pilot measured it (a fixed first step): from the
    value at ``x`` and the trace."""
    vals = np.broadcast_to(s.f0, (s.flat.size, 1, s.m))
    return s.noise.bound(vals, s.f0)
