"""The noise model of the numerical methods: how far one evaluation of ``f`` near ``x`` is
from the exact value (:class:`Noise`), measured once per call by running ``f`` under a
running-error trace (:class:`_NoiseTrace`) that also finds rounding inside ``f`` (repeating
step functions), the nearest kink or jump, and the side of each ``x`` is on.

:mod:`diffkit.methods.numerical` builds its steps, estimates and statuses on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core import (
    Trace,
    Tracer,
    bind,
    complex_intermediate,
    is_complex,
    library_routes,
    lookup,
)
from ..errors import (
    DomainError,
    NotTraceableError,
)
from ..spec import Function
from ..stencils import (
    QUANTUM_RATIO,
    grid_spacing,
    precision_name,
    quantum,
    unit_roundoff,
)

EPS = float(np.finfo(np.float64).eps)

STAIRCASE_FINE = 1e-3
"""A repeating step function is noise where its steps come within this fraction of the
scale ``x`` moves on (see :class:`_NoiseTrace`); coarser steps are jumps."""

# ============================================================================ noise

NOISE_FLOOR = 1.0
"""Rounding units of ``max |f|`` over the values seen: the least noise one evaluation has."""

TRACE_SAFETY = 1.0
"""The traced rounding bound (running error analysis, every rounding at its worst and added
up) is used with this margin."""

NONDET_FACTOR = 4.0
"""A non-deterministic f's noise bound, in multiples of the difference of two evaluations."""

TRACED = "noise-trace"
"""Key in ``Function.cache``: False once the noise trace failed on the spec (not retried)."""


class _Noisy(Tracer):
    """A value inside :class:`_NoiseTrace`, with a bound ``_e`` on its accumulated rounding
    and its derivative ``_t`` along the probe's direction (how fast it moves with ``x``)."""

    __slots__ = ("_e", "_t", "_trace", "_v")

    def __init__(self, trace: _NoiseTrace, v: Any, e: Any, t: Any = None) -> None:
        self._trace = trace
        self._v = v
        self._e = e
        self._t = t

    @property
    def _value(self) -> Any:
        return self._v

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """A number inside ``np.array([a, b])``: an object array holding this value, so the
        noise trace follows code that builds its output that way (a cast to float still
        refuses, through ``float()``)."""
        if (dtype is not None and np.dtype(dtype) != object) or np.ndim(self._v):
            return super().__array__(dtype, copy)
        out = np.empty((), dtype=object)
        out[()] = self
        return out

    def __getattr__(self, name: str) -> Any:
        """numpy's loops over an object array (``np.round(np.array([a, b]))``) call each
        element's method of the ufunc's name (``a.rint()``): the primitive of that ufunc."""
        func = getattr(np, name, None) if not name.startswith("_") else None
        prim = lookup(func) if isinstance(func, np.ufunc) else None
        if prim is None:
            raise AttributeError(name)
        return lambda *args: bind(prim, (self, *args), {})

    def __repr__(self) -> str:
        return f"Noisy({self._v!r} +- {self._e!r})"


class _NoiseTrace(Trace):
    """Runs ``f`` on plain values, each carrying a bound on its rounding error.

    Running error analysis: a primitive's result ``z`` carries its own rounding ``eps/2 |z|``
    (eps of the dtype it is computed in: float32 arithmetic inside f shows here) plus its
    arguments' errors carried through its partial derivatives, ``|jvp_i(e_i)|``, from the
    registry's JVP rules. So ``log(cos(s))`` with ``cos(s) = 1 - 5e-7`` carries ``eps * 1``,
    not ``eps * 5e-7``: the noise of a small difference of larger intermediates. A linear
    reduction (sum) rounds relative to the sum of its terms' sizes, and carries its terms'
    errors in quadrature (independent roundings of a thousand terms do not all point one way).

    Values also carry their derivative along one direction (``x`` moving by its own scale,
    :func:`_noise_probe`), for the step functions that repeat (a stanza's ``staircase``:
    floor, round, ...): where their argument crosses a step within :data:`STAIRCASE_FINE` of
    that scale -- ``round(exp(x) / 1e-3)`` at 1.7 steps every 1.8e-4 -- every difference the
    methods take crosses steps, and one step's height is noise on the value (carried on like
    any rounding, times ``1e-3`` here). A coarse staircase (``floor(x)`` steps every 1) is
    left to the jump checks: between its steps the function is smooth.
    """

    __slots__ = ("kink", "levels", "signs", "stairs", "unit")

    def __init__(self) -> None:
        super().__init__()
        self.unit = 0.0  # the coarsest rounding unit met
        self.stairs: dict[str, float] = {}  # fine staircases met: name -> step height
        self.kink: tuple[float, str] = (math.inf, "")  # the nearest kink: distance, primitive
        self.signs: list[np.ndarray] = []  # the side of every kink met, in program order
        self.levels: list[np.ndarray] = []  # the step of every coarse staircase met

    def process(self, prim: Any, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        vals, errs, tans = [], [], []
        for a in args:
            if type(a) is _Noisy and a._trace is self:
                vals.append(a._v)
                errs.append(a._e)
                tans.append(a._t)
            else:
                vals.append(a)
                errs.append(None)
                tans.append(None)
        z = prim.evaluate(tuple(vals), params)
        dom = prim.domain
        if not prim.differentiable:  # comparisons, sign: plain values, branches follow them
            if dom is not None and dom.kinks and prim.elementwise:  # where a branch switches
                self._near_kink(prim, vals, tans, dom.kinks, dom.kink_vars or (
                    ((0,),) if len(vals) == 1 else ((0, 1),)))
            return self._staircase(prim, z, vals, errs, tans, params)
        if is_complex(z):  # real rounding bounds only: the plain evaluation instead
            raise complex_intermediate(prim)
        u = unit_roundoff(np.result_type(z))
        self.unit = max(self.unit, u)
        u *= 0.5  # one rounding: |fl(z) - z| <= (eps / 2) |z|
        mag = np.abs(np.asarray(z, dtype=float))
        if prim.linear and not prim.elementwise and u:  # a reduction rounds on its terms
            terms = None
            for i, v in enumerate(vals):
                rule = prim.jvp_rule(i)
                if rule is not None and errs[i] is not None:
                    t = np.abs(np.asarray(rule(np.abs(np.asarray(v, dtype=float)), z, *vals,
                                               **params), dtype=float))
                    terms = t if terms is None else terms + t
            if terms is not None:
                mag = np.maximum(mag, terms)
        if dom is not None and dom.kinks and prim.elementwise:
            kvars = dom.kink_vars or (((0,),) if len(vals) == 1 else ((0, 1),))
            self._near_kink(prim, vals, tans, dom.kinks, kvars)
        e = u * mag
        reduce = prim.linear and not prim.elementwise
        t = None
        for i, (ei, ti) in enumerate(zip(errs, tans, strict=True)):
            if (ei is None or not np.any(ei)) and ti is None:
                continue
            rule = prim.jvp_rule(i)
            if rule is None:
                continue
            if ti is not None:
                ct = np.asarray(rule(ti, z, *vals, **params), dtype=float)
                t = ct if t is None else t + ct
            if ei is None or not np.any(ei):
                continue
            if reduce:  # independent roundings of many terms add in quadrature, not in line
                e = e + np.sqrt(np.abs(np.asarray(rule(np.square(ei), z, *vals, **params),
                                                  dtype=float)))
            else:
                e = e + np.abs(np.asarray(rule(ei, z, *vals, **params), dtype=float))
        return _Noisy(self, z, e, t)

    def _near_kink(self, prim: Any, vals: list[Any], tans: list[Any],
                   kinks: tuple[float, ...], kvars: tuple[tuple[int, ...], ...]) -> None:
        """Keep the distance, along the probe's direction, to the nearest kink of ``prim``
        (its domain's ``kinks`` in its ``kink_vars``: abs at 0, maximum where ``x - y = 0``,
        clip where ``x`` meets a bound): how far ``x`` may move (in units of its own scale)
        before a difference crosses it, and the side of each kink ``x`` is on."""
        for var in kvars:
            if max(var) >= len(vals) or any(vals[i] is None for i in var):
                continue  # (clip without that bound)
            s = np.asarray(vals[var[0]], dtype=float)
            rate = 0.0 if tans[var[0]] is None else np.asarray(tans[var[0]], dtype=float)
            if len(var) == 2:
                s = s - np.asarray(vals[var[1]], dtype=float)
                if tans[var[1]] is not None:
                    rate = rate - np.asarray(tans[var[1]], dtype=float)
            rate = np.abs(rate)
            for k in kinks:
                self.signs.append(np.sign(s - k))
                with np.errstate(divide="ignore", invalid="ignore"):
                    radius = np.where(rate > 0, np.abs(s - k) / rate, np.inf)
                near = float(np.min(radius)) if np.size(radius) else math.inf
                if near < self.kink[0]:
                    self.kink = (near, prim.name)

    def _near_jump(self, prim: Any, v: Any, t: Any, height: float, coarse: Any, z: Any
                   ) -> None:
        """A coarse staircase's jumps, kept as kinks are (:meth:`_near_kink`): the distance
        along the probe's direction to the nearest one (its stanza's ``staircase_edge``), and
        the step ``x`` is on (its value: a stencil whose ends differ straddles a jump)."""
        u = np.asarray(v, dtype=float) / height - prim.staircase_edge
        dist = np.abs(u - np.round(u)) * height
        rate = np.abs(np.asarray(t, dtype=float))
        with np.errstate(divide="ignore", invalid="ignore"):
            radius = np.where(coarse & (rate > 0), dist / rate, np.inf)
        near = float(np.min(radius)) if np.size(radius) else math.inf
        if near < self.kink[0]:
            self.kink = (near, prim.name)
        self.levels.append(np.where(coarse, np.asarray(z, dtype=float), 0.0))

    def _staircase(self, prim: Any, z: Any, vals: list[Any], errs: list[Any],
                   tans: list[Any], params: dict[str, Any]) -> Any:
        """A step function's value: plain, or noisy by one step height where its steps are
        fine (see the class doc) -- moving on with its argument's trend, as the values do."""
        height = prim.staircase
        t = tans[0] if tans else None
        if height is None or t is None:
            return z
        height = float(height(params) if callable(height) else height)
        with np.errstate(divide="ignore", invalid="ignore"):
            fine = height < STAIRCASE_FINE * np.abs(t)  # a step every height / |t| of a scale
        if not np.all(fine):  # coarse steps: jumps a stencil must not straddle, like kinks
            self._near_jump(prim, vals[0], t, height, ~fine, z)
        if not np.any(fine):
            return z
        self.stairs[prim.name] = max(self.stairs.get(prim.name, 0.0), height)
        e = np.where(fine, height, 0.0) + (0.0 if errs[0] is None else errs[0])
        return _Noisy(self, z, np.broadcast_to(e, np.shape(z)).astype(float),
                      np.where(fine, t, 0.0))

    def to_bool(self, tracer: Tracer) -> bool:
        return bool(tracer._value)

    def to_float(self, tracer: Tracer, kind: str) -> Any:
        raise NotTraceableError(f"{kind}() of a traced value")


def probe_direction(x: np.ndarray) -> np.ndarray:
    """The direction the noise trace differentiates along (flat): every coordinate by its own
    scale ``max(|x_j|, 1)``, with weights that do not cancel in a difference of two."""
    x = np.ravel(np.asarray(x, dtype=float))
    return np.maximum(np.abs(x), 1.0) * (1.0 + (0.618034 * np.arange(x.size)) % 1.0)


def _noise_probe(spec: Function, arg: Any) -> tuple[np.ndarray, np.ndarray, float, _NoiseTrace]:
    """``f(arg)`` under :class:`_NoiseTrace`: the value, its rounding bound, the coarsest unit,
    and the trace (the fine staircases and the nearest kink it met).

    Raises whatever the trace met (NotTraceableError for ``float(x)``, ``math.sin``; anything
    else the user's code does with a traced value): the caller falls back to a plain
    evaluation."""
    trace = _NoiseTrace()
    x = np.asarray(arg, dtype=float)  # the direction: every coordinate by its own scale, with
    # weights that do not cancel in a difference of two coordinates
    box = _Noisy(trace, arg, np.zeros(np.shape(arg)), probe_direction(x).reshape(np.shape(arg)))
    with library_routes():
        out = spec.fn(box) if spec.nparams == 1 else \
            spec.fn(*(box[i] for i in range(spec.nparams)))
    items = out if isinstance(out, (list, tuple)) else [out]
    if len(items) == 1 and isinstance(items[0], np.ndarray) and items[0].dtype == object:
        items = list(items[0].ravel())  # np.array([a, b]) of traced numbers (see __array__)
    vals, errs = [], []
    for o in items:
        if type(o) is _Noisy and o._trace is trace:
            vals.append(np.ravel(np.asarray(o._v, dtype=float)))
            errs.append(np.ravel(np.broadcast_to(o._e, np.shape(o._v))))
        elif isinstance(o, Tracer):
            raise NotTraceableError("an output of another trace")
        else:  # a constant output: exact
            arr = np.ravel(np.asarray(o, dtype=float))
            vals.append(arr)
            errs.append(np.zeros_like(arr))
    return np.concatenate(vals), np.concatenate(errs).astype(float), trace.unit, trace


class Noise:
    """The noise of one evaluation of ``f`` near ``x``: one model for every step, test and
    error estimate of the numerical methods.

    Measured once per call, at the cost of one extra evaluation at ``x``:

    * the precision f returns its values in (float32, float16: their rounding unit);
    * one evaluation under a running-error trace (:class:`_NoiseTrace`), which bounds the
      rounding of every intermediate as it reaches the output -- the noise of a small
      difference of larger values, and the precision f computes in (a cast to float32 inside
      f shows here) -- and doubles as the determinism check: its value must agree with the
      first evaluation to within that bound. Code the trace cannot follow (``math.sin``,
      ``float(x)``) is evaluated plainly instead, and must agree exactly;
    * per entry, from the samples the pilot takes: the magnitude of the values seen (noise is
      at least ``2 u max|f|`` over them) and their grid (:func:`~diffkit.stencils.quantum`:
      values that are all multiples of a spacing far above float64's are quantized, and the
      input's rounding to that precision adds ``u |x_i f_i'|``).

    Attributes
    ----------
    unit : float
        The rounding unit assumed: the coarsest of float64, the output dtype, the trace's.
    traced : ndarray or None
        The trace's rounding bound at ``x`` per output (None: not traceable).
    spread : ndarray
        ``|f(x) - f(x)|`` of the repeated evaluation, per output, where it exceeds rounding
        (non-determinism), else 0.
    quantum : float
        The largest grid spacing seen in the values (0: none).
    """

    __slots__ = (
        "direction",
        "f0",
        "kink",
        "probe",
        "quanta",
        "quantum",
        "quantum_unit",
        "rel_quanta",
        "spread",
        "stairs",
        "trace_unit",
        "traced",
        "unit",
        "value_unit",
    )

    def __init__(self, f0: np.ndarray, value_unit: float, traced: np.ndarray | None = None,
                 trace_unit: float = 0.0, repeat: np.ndarray | None = None,
                 stairs: dict[str, float] | None = None, kink: tuple[float, str] | None = None,
                 direction: np.ndarray | None = None) -> None:
        self.f0 = f0
        self.kink = kink or (math.inf, "")  # the nearest kink along direction (trace units)
        self.direction = direction
        self.probe: tuple[Any, ...] | None = None  # spec, arg, kink sides, staircase steps
        self.value_unit = value_unit
        self.traced = traced
        self.trace_unit = trace_unit
        self.unit = max(EPS, value_unit, trace_unit)
        self.quantum = 0.0
        self.quanta = np.zeros(np.shape(f0))  # the grid seen per output (0: none)
        self.rel_quanta = np.zeros(np.shape(f0))  # a binary grid's spacing relative to |f|
        self.quantum_unit = 0.0
        self.stairs = stairs or {}
        if self.stairs and traced is not None and traced.size:
            # a fine staircase inside f: its values move in steps of about the traced bound
            self.quantum = float(np.max(traced))
            top = max(float(np.max(np.abs(f0))), np.finfo(float).tiny)
            self.quantum_unit = self.quantum / top
        self.spread = np.zeros_like(f0)
        if repeat is not None:
            diff = np.abs(np.asarray(repeat, dtype=float) - f0)
            diff = np.where(np.isfinite(diff), diff, np.inf)
            allowed = 2 * self.rounding(f0)
            if traced is not None:
                allowed = np.maximum(allowed, 2 * TRACE_SAFETY * traced)
            self.spread = np.where(diff > allowed, diff, 0.0)

    @classmethod
    def measure(cls, sampler: Any) -> Noise:
        """Measure at ``sampler``'s point (a ``_Sampler`` of :mod:`diffkit.methods.numerical`; one
        evaluation, counted)."""
        spec, arg = sampler.spec, sampler._arg(sampler.flat.copy())
        sampler.nfev += 1
        if spec.cache.get(TRACED, True):
            try:
                with np.errstate(all="ignore"):
                    value, err, unit, trace = _noise_probe(spec, arg)
                if value.size == sampler.m:
                    noise = cls(sampler.f0, sampler.out_unit, err, unit, value, trace.stairs,
                                trace.kink, probe_direction(arg))
                    if trace.signs or trace.levels:
                        noise.probe = (spec, arg, trace.signs, trace.levels)
                    return noise
            except (DomainError, FloatingPointError):
                raise
            except Exception:
                spec.cache[TRACED] = False
        try:
            again = np.ravel(np.asarray(spec.call(arg), dtype=float))
        except (DomainError, FloatingPointError):
            again = sampler.f0  # it was fine a moment ago: not deterministic, said below
            again = np.full_like(again, np.nan)
        return cls(sampler.f0, sampler.out_unit, None, 0.0,
                   again if again.size == sampler.m else None)

    def rounding(self, scale: Any) -> Any:
        """The least noise of values of size ``scale``: :data:`NOISE_FLOOR` units."""
        return NOISE_FLOOR * self.unit * np.abs(scale)

    def bound(self, vals: np.ndarray, f0: np.ndarray, x: np.ndarray | None = None,
              d1: np.ndarray | None = None, grid: bool = True,
              offsets: Sequence[float] | None = None) -> np.ndarray:
        """The noise bound of one evaluation for entries whose samples are ``vals``.

        Parameters
        ----------
        vals : ndarray
            ``(E, k, m)``: ``k`` samples of ``m`` outputs for each of ``E`` entries (the
            pilot's, along one coordinate each); ``f0`` is ``f(x)``, ``(m,)``.
        x : ndarray, optional
            ``(E,)``: the coordinate each entry moves, for the input's rounding.
        d1 : ndarray, optional
            ``(E, m)``: a first-derivative estimate along it.
        grid : bool
            Look for a quantum in the values (not where the samples are at dyadic offsets
            from a dyadic ``x``, where a polynomial's exact values have short mantissas).
        offsets : sequence of float, optional
            Where the ``k`` samples are, in units of a step: a grid of any spacing (six
            decimals) is looked for only with them (:func:`~diffkit.stencils.grid_spacing`).

        Returns
        -------
        ndarray
            ``(E, m)``.
        """
        scale = np.maximum(np.abs(f0)[None, :], np.nanmax(np.abs(vals), axis=1))
        noise = self.rounding(scale)
        if self.traced is not None:
            noise = np.maximum(noise, TRACE_SAFETY * self.traced[None, :])
        if grid:
            diffs = vals - f0[None, None, :]
            q = quantum(diffs, axis=1)
            coarse = np.isfinite(q) & (q > QUANTUM_RATIO * EPS * scale)
            if coarse.any():  # a binary grid (float32 values): its spacing scales with |f|
                rel = np.where(coarse, q / np.maximum(scale, np.finfo(float).tiny), 0.0)
                self.rel_quanta = np.maximum(self.rel_quanta, rel.max(axis=0))
            if offsets is not None and not coarse.all():  # any grid: six decimals
                g = grid_spacing(diffs, 4 * EPS * scale, offsets, axis=1)
                q = np.where(coarse, q, np.where(g > 0, g, q))
                coarse |= g > 0
        else:
            q = np.full(noise.shape, np.inf)
            coarse = np.zeros(noise.shape, dtype=bool)
        # a grid seen once stays, for its output: at larger steps (or along another
        # coordinate, in this call too) its spacing is too fine to see, not gone
        if coarse.any():
            self.quantum = max(self.quantum, float(q[coarse].max()))
            self.quanta = np.maximum(self.quanta, np.where(coarse, q, 0.0).max(axis=0))
        if grid:
            # (a binary grid's spacing at the size of the values seen here: float32 values
            # at 4e5, a large step's, are 0.03 apart, not 2.4e-7 as at 1.69)
            noise = np.maximum(noise, np.maximum(self.quanta[None, :],
                                                 self.rel_quanta[None, :] * scale))
            unit = np.where(coarse, q / np.maximum(scale, np.finfo(float).tiny), 0.0)
            self.quantum_unit = max(self.quantum_unit, float(unit.max()))
            noise = np.where(coarse, np.maximum(noise, q), noise)  # the grid is the rounding
        else:
            unit = np.zeros_like(q)
        if self.traced is None and x is not None and d1 is not None:
            # f rounds its input to its own precision: moving x_i by less than that unit
            # moves f by steps of |f_i'| u |x_i|
            low = np.maximum(unit, self.unit if self.unit > EPS else 0.0)
            noise = noise + low * np.abs(x)[:, None] * np.abs(np.nan_to_num(d1))
        return noise + NONDET_FACTOR * self.spread[None, :]

    def crosses_kink(self, j: int, reach: Sequence[float]) -> bool:
        """Whether moving coordinate ``j`` of the point by each of ``reach`` puts any kink the
        trace met at ``x`` on its other side (the trace run again there; a different program
        path, or a failure, counts as crossing)."""
        if self.probe is None:
            return False
        spec, arg, signs, levels = self.probe
        one_sided = len(reach) == 1
        for delta in reach:
            moved = np.array(arg, dtype=float)
            moved.flat[j] += delta
            try:
                with np.errstate(all="ignore"):
                    *_, trace = _noise_probe(spec, moved.reshape(np.shape(arg)))
            except Exception:  # the trace cannot run there: no vouching across
                return True
            there, steps = trace.signs, trace.levels
            # x on the kink itself (a side of 0): a one-sided stencil takes one piece's
            # slope for the derivative (forward differences give relu'(0) = 1); a symmetric
            # one gives the average of the two, the tie convention of the rules (0.5)
            if len(there) != len(signs) or len(steps) != len(levels) or any(
                    np.shape(a) != np.shape(b) or np.any((a * b < 0) | (
                        one_sided & (a == 0) & (b != 0)))
                    for a, b in zip(signs, there, strict=True)) or any(
                    np.shape(a) != np.shape(b) or np.any(a != b) for a, b in
                    zip(levels, steps, strict=True)):
                return True
        return False

    @property
    def effective_unit(self) -> float:
        """The relative rounding unit measured: the precision's, or the grid's if coarser."""
        return max(self.unit, self.quantum_unit)

    @property
    def deterministic(self) -> bool:
        return not bool(np.any(self.spread))

    @property
    def precision(self) -> str:
        """What f computes in, as measured: ``"float64"``, ``"float32"``, ... ."""
        unit = max(self.unit, self.quantum_unit)
        name = precision_name(self.unit)
        if self.quantum_unit > 4 * self.unit:
            name = f"values quantized to multiples of {self.quantum:.2g}"
        return name if unit > EPS else "float64"

    def causes(self, scale: Any = None, variation: Any = None) -> list[str]:
        """Why the noise is larger than float64 rounding of ``|f|``, in words.

        ``scale`` and ``variation``: ``max |f|`` over the values seen and their variation over
        the step, per entry (for "|f| is 1e12 times its variation over the step")."""
        why = []
        if not self.deterministic:
            why.append(f"f is not deterministic: two evaluations at x differ by "
                       f"{float(np.max(self.spread)):.2g}")
        if self.value_unit > EPS:
            why.append(f"f returns {precision_name(self.value_unit)} values (rounding "
                       f"{self.value_unit:.2g} relative)")
        elif self.trace_unit > EPS:
            why.append(f"f computes in {precision_name(self.trace_unit)} (rounding "
                       f"{self.trace_unit:.2g} relative)")
        elif self.stairs:
            names = ", ".join(f"{name} (steps of {height:g})" for name, height
                              in sorted(self.stairs.items()))
            why.append(f"f rounds inside: {names} steps faster than the differences' step, so "
                       f"f's values move in steps of about {self.quantum:.2g}, noise on any "
                       f"difference quotient")
        elif self.quantum_unit > 4 * EPS:
            why.append(f"f's values are quantized to multiples of {self.quantum:.2g} (float32 "
                       f"arithmetic or rounding inside f, or a small difference of larger "
                       f"values)")
        if self.traced is not None and not self.stairs:
            plain = NOISE_FLOOR * self.unit * np.abs(self.f0)
            ratio = np.where(plain > 0, self.traced / np.where(plain > 0, plain, 1.0), np.inf)
            k = int(np.argmax(ratio))
            if self.traced[k] > 0 and ratio[k] > 1e3:
                why.append(f"f is a small difference of larger intermediate values (rounding "
                           f"{float(self.traced[k]):.2g} on |f| = {abs(float(self.f0[k])):.2g})")
        if scale is not None and variation is not None:
            s, v = float(np.max(scale)), float(np.max(variation))
            if v > 0 and s / v > 1e6:
                why.append(f"|f| is {s / v:.0e} times its variation over the step")
        return why


