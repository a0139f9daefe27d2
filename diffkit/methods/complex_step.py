"""The complex step: ``f'(x) = Im f(x + ih) / h``, with an error estimate that sees rounding
inside ``f`` (see :class:`ComplexStep`).

It shares the finite differences' machinery -- validation of settings, the judged status
(:func:`~diffkit.methods.numerical.promised_accuracy`), the noise model's constants -- from
:mod:`diffkit.methods.numerical`, and adds what only it needs: the trace that checks complex
analyticity and domains (:class:`_AnalyticTrace`), the per-spec verdict that lets later calls
take a lean path (:data:`VERDICT`), and the estimate's terms (conditioning, the complex
arithmetic's own rounding, the value's rounding).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import numpy as np

from ..core import (
    ROUTED,
    Domain,
    Trace,
    Tracer,
    domain_error,
    library_routes,
)
from ..errors import (
    DiffkitError,
    DomainError,
    NonAnalyticError,
    NotTraceableError,
    OrderError,
    OutputShapeError,
    StencilError,
    UnsupportedPrimitiveError,
)
from ..results import DerivativeResult
from ..spec import Function, check_value, normalize_output
from ..stencils import (
    exact_steps,
    unit_roundoff,
)
from ..validation import not_scalar, scalar_point
from .base import Method
from .numerical import (
    EPS,
    TRUNCATION_SAFETY,
    _check_accuracy,
    _check_chunk,
    _check_h,
    _check_strict,
    _check_unchanged,
    _chunk,
    _f64,
    _judged,
    _subnormal_floor,
    promised_accuracy,
)

__all__ = ["VERDICT", "ComplexStep"]


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

    __slots__ = ("continued", "deferred", "domains", "edges", "ops", "point", "spec", "tie")

    def __init__(self, spec: Function, point: Any) -> None:
        super().__init__()
        self.spec = spec
        self.point = point  # x + ih, for messages
        self.domains = self.edges = False
        self.continued = False  # a stanza's continuation ran (numpy's norm is not analytic)
        self.ops = 0  # primitives run: each rounds Im f once more (the error estimate)
        self.tie: str | None = None  # a comparison x sits on the boundary of (see _look)
        self.deferred: list[DomainError] = []  # domain errors of entries made NaN (see _check)

    def process(self, prim: Any, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        self.ops += 1
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
                if self.tie is None and len(args) == 2:
                    self._look(prim, args, real)
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

    def _look(self, prim: Any, args: tuple[Any, ...], real: tuple[Any, ...]) -> None:
        """Record in :attr:`tie` a comparison whose two sides are equal at x but move apart
        along the step (``x < 1`` at ``x = 1``): x is on the boundary between two branches,
        where f may jump or kink, and the complex step follows only one of them."""
        im = [np.imag(a._z) if isinstance(a, _ComplexTracer) and a._trace is self else 0.0
              for a in args]
        tie = np.logical_and(np.equal(real[0], real[1]), np.not_equal(im[0], im[1]))
        if np.any(tie):
            at = tuple(int(i) for i in np.argwhere(tie)[0]) if np.ndim(tie) else ()
            sides = [float(np.broadcast_to(r, np.shape(tie))[at]) for r in real]
            self.tie = f"{prim.name}({sides[0]!r}, {sides[1]!r})"

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


class _Tie(Exception):
    """The lean complex step met a comparison tie (:meth:`_AnalyticTrace._look`): the general
    path says so in the result's status."""


def _traced_value(spec: Function, arg: Any) -> Any:
    value, trace = _traced(spec, arg)
    if trace.tie is not None:
        raise _Tie(trace.tie)
    return value


def _unbox(out: Any, trace: _AnalyticTrace) -> Any:
    if isinstance(out, _ComplexTracer) and out._trace is trace:
        return out._z
    if isinstance(out, (list, tuple)):
        items = [_unbox(o, trace) for o in out]
        try:
            return np.asarray(items)
        except ValueError:  # a ragged list: refused as every method refuses it
            check_value(out, trace.spec.name, "jacobian")
            raise
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
    ops : int
        The most primitives one traced evaluation ran: each rounds the imaginary part once
        more, so the error estimate grows with it.
    """

    __slots__ = ("continued", "domains", "edges", "ops", "plain", "shapes")

    def __init__(self) -> None:
        self.shapes: set[tuple[int, ...]] = set()
        self.domains = self.edges = self.continued = False
        self.plain: bool | None = None
        self.ops = 0

    def add(self, spec: Function, shape: tuple[int, ...], trace: _AnalyticTrace) -> None:
        """Record that ``spec`` is complex-analytic at points of ``shape``."""
        self.shapes.add(shape)
        self.ops = max(self.ops, trace.ops)
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


_CS_ROUNDING = 4.0
"""The complex step's error estimate, per primitive run, in rounding units."""

_CS_UNKNOWN_OPS = 8
"""Primitives assumed where the complex step never traced the spec (``check=False``)."""

_CS_SHIFT = 2.0 ** -40
"""The relative shift of ``x`` (of ``|x|``, :func:`_cs_scale`) at which the complex step
evaluates ``f`` a second time to measure how rounding inside ``f`` moves its derivative (see
:func:`_cs_conditioning`)."""

_CS_PROMISE = 500.0 * EPS
"""Half the complex step's promise (:func:`promised_accuracy`): a lean result whose estimate is
above it, relative, is judged on the general path."""

_CS_RETRY_H = 1e-20
"""The complex step's second step, relative to ``min(|x_j|, 1)``, for a direction whose
``Im f(x + ih)`` was exactly 0 (``ComplexStep._retry``): at ``h = 1e-200`` a derivative below
``5e-124`` underflows (``Im f`` is below the smallest float), and so may an intermediate's
imaginary part; at ``1e-20`` only one below ``5e-304`` does, and the truncation
``(h / |x_j|)^2`` is 1e-40."""

_CS_CONDITION = 4.0
"""Rounding inside ``f`` acts on the derivative about like a shift of ``x`` by this many
units of ``eps * |x|`` (:func:`_cs_scale`)."""

_CS_NOISE_STEP = 1.37
"""The complex step evaluates ``f`` once more at ``x + i (1.37 h)``: for an analytic ``f``,
``Im f(x + ih) / h`` does not depend on ``h`` (the ``h^2`` term is 1e-400 of the derivative),
so any change is rounding in the complex arithmetic itself -- ``(x + ih) / (1 + x + ih)`` at
``x = 1e10`` cancels ``h - x h / (1 + x)`` to 7 digits of 16, and a factor that is not a power
of two rounds those terms differently (see :func:`_cs_noise`)."""

_CS_NOISE = 4.0

_CS_FLAT = 2.0 ** -10
"""The relative step (of ``|x_j|``) at which a complex-step column that is exactly 0 checks
whether ``f`` itself is flat to float64 precision (see ``ComplexStep._flat_columns``)."""
"""The noise term is this many times the change of the derivative between the two steps."""


def _cs_scale(ax: Any) -> Any:
    """What the conditioning shift is relative to: ``|x|`` (the rounding of the real parts
    scales with it: ``x**2`` next to ``sqrt(2)``), 1 at ``x = 0``, never below ``1e-250``
    (a shift of ``2^-40`` of it stays a normal float). Relative to ``max(|x|, 1)`` the shift
    would move ``log`` at ``1e-9`` by 0.1 %, a false alarm of a million ulps."""
    if ax.__class__ is float or np.ndim(ax) == 0:
        return 1.0 if ax == 0.0 else max(float(ax), 1e-250)
    return np.where(ax == 0.0, 1.0, np.maximum(ax, 1e-250))


def _cs_conditioning(d0: Any, d1: Any, shift: Any, scale: Any) -> Any:
    """The complex step's conditioning term: ``Im f / h`` carries no cancellation of its own,
    but the real parts it is computed from are rounded, and near a pole of a composite
    (``1 / (x**2 - 2)`` next to ``sqrt(2)``) that rounding -- ``x**2`` off by an ulp -- moves
    the derivative by ``f''(x) * eps * |x|``, far more than the ulps of the entry. ``d0`` and
    ``d1`` are the derivatives at ``x`` and at ``x + shift``; the term is
    :data:`_CS_CONDITION` ``* eps * scale * |f''|``, with ``scale = |x|`` (:func:`_cs_scale`)."""
    return _CS_CONDITION * EPS * scale * np.abs(d1 - d0) / shift


def _cs_noise(d0: Any, d2: Any) -> Any:
    """The complex step's noise term: :data:`_CS_NOISE` times the change of the derivative
    from step ``h`` (``d0``) to step ``1.37 h`` (``d2``, :data:`_CS_NOISE_STEP`) -- an
    ulp or two for most ``f``, the lost digits where ``f``'s complex arithmetic cancels."""
    return _CS_NOISE * abs(d2 - d0)  # (abs: floats on the lean path, arrays on the general)


def _cs_value_rounding(re: Any, fr: Any, d: Any) -> Any:
    """The complex step's value-rounding term: ``Re f(x + ih)`` is ``f(x)`` to ``h^2``, so its
    distance to ``f(x)`` evaluated in reals is the complex path's own rounding -- ``z**1.5``
    as ``exp(1.5 log z)`` is off by ``|1.5 log z| eps`` relative at ``z = 1e-8`` (27 eps),
    and ``Im f / h`` comes out of the same arithmetic: :data:`_CS_NOISE` times that relative
    distance, times ``|d|`` (entries of a row share their output's). Floats (the lean path)
    take Python arithmetic: numpy's scalar calls cost 7 us there."""
    if fr.__class__ is float:
        gap = abs(re - fr)
        return _CS_NOISE * gap / abs(fr) * abs(d) if fr != 0.0 and gap < math.inf else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(re - fr) / np.abs(fr)
    rel = np.where(np.isfinite(rel), rel, 0.0)  # f(x) = 0: no relative scale to carry
    return _CS_NOISE * rel * np.abs(d)


def _cs_rounds(spec: Any) -> float:
    """The complex step's error in rounding units of ``|entry|``: :data:`_CS_ROUNDING` per
    primitive the spec runs (:attr:`_Verdict.ops`), plus one."""
    verdict = getattr(spec, "cache", {}).get(VERDICT)
    ops = verdict.ops if verdict is not None and verdict.ops else _CS_UNKNOWN_OPS
    return _CS_ROUNDING * (1 + ops)

# (re, im) as Python floats in one call, for complex and np.complex128 (a subclass); a
# TypeError for anything else
_parts = complex.__getnewargs__
_new = object.__new__


class _ScalarResult(DerivativeResult):
    """The lean complex step's result: a DerivativeResult whose fixed fields are class
    attributes, so building one is ``object.__new__`` and a single store (the full constructor
    cost more than f). It keeps DerivativeResult's constructor, which ``dataclasses.replace``
    calls with every field."""

    nfev = 4
    method = "complex-step"
    step = 1e-200
    out_shape = ()

    @property
    def info(self) -> dict[str, Any]:  # type: ignore[override]
        return self.__dict__.setdefault("info", {})  # made on first use, one per result


class ComplexStep(Method):
    """The complex step: ``f'(x) = Im f(x + ih) / h`` to rounding, with no subtraction.

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

    After the first call a scalar derivative at a float costs three complex evaluations of
    ``f`` -- at ``x``, and for the estimate a shift of ``x`` away (``_cs_conditioning``:
    rounding inside ``f`` amplified next to a pole) and ``x`` at the step ``1.37 h``
    (``_cs_noise``: rounding of the complex arithmetic itself) -- and little else (about 9x
    a bare real call of a cheap ``f``; ``benchmarks/numerical.py``); a result that is not
    finite and real to O(h) reruns on the general path, which traces and names the
    primitive. A spec with a primitive whose derivative domain is narrower than its domain
    (sqrt, arcsin, arccos) is traced on every call instead, since ``f(x + ih)`` at such an
    edge looks like any other result (a few times the lean path's cost); so is one whose
    continuation through such a primitive can be real again (``cos(sqrt(x))`` at ``x < 0``).
    Outside a plain domain (``log`` at ``x < 0``) the result is not real to O(h)
    (``log(-1 + ih) = i pi``, and even
    ``exp(2 log x)`` keeps ``sin(2 pi) = -2.4e-16`` in its imaginary part), so the call reruns
    traced and raises as the first one did.

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
    >>> float(r) == 2.718281828459045, r.nfev  # at x; a shift, another h, f(x): its estimate
    (True, 4)
    """

    name = "complex-step"
    family = "numerical"

    def __init__(self, *, h: float = 1e-200, check: bool = True, accuracy: Any = "auto",
                 strict: bool = False, chunk: Any = "auto") -> None:
        self.h = _check_h(h, "ComplexStep", auto=False)
        if not isinstance(check, bool):
            raise OrderError(f"ComplexStep: check={check!r} must be True or False")
        self.check = check
        self.accuracy = _check_accuracy(accuracy, "ComplexStep")
        self.strict = _check_strict(strict, "ComplexStep")
        self.chunk = _check_chunk(chunk, "ComplexStep")
        # the lean path's constants, in one attribute: ih (np.complex128, so x + ih is exact),
        # sqrt(h), the cap on |Im f| (below it Im f / h is finite) and h itself
        self._lean_consts = (np.complex128(complex(0.0, self.h)), math.sqrt(self.h),
                             self.h * 1e300, self.h,
                             np.complex128(complex(0.0, _CS_NOISE_STEP * self.h)))

    def derivative(self, f: Any, x: Any, *, args: tuple[Any, ...] = (),
                   kwargs: dict[str, Any] | None = None) -> DerivativeResult:
        """d f / d x at a scalar ``x`` from ``f(x + ih)`` (and two more for the estimate)."""
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
                ihc, sqrt_h, cap, h, ihc2 = self._lean_consts
                try:  # x + ih as np.complex128: exact, x + 0 and 0 + h
                    re, im = _parts(call(x + ihc))
                except (DomainError, FloatingPointError, RuntimeWarning, TypeError, _Tie):
                    re = None  # TypeError: not complex; DomainError: the general path explains
                # Im f(x + ih) = h f'(x) + O(h^3): |h f'| <= sqrt(h) (1 + |f|) unless f is not
                # real at x; the cap fails for an infinite or NaN re and keeps im / h finite (x
                # is finite: atan(inf + ih) = pi/2 + 0i would pass these)
                if re is not None and abs(im) <= sqrt_h * (1.0 + abs(re)) < cap and \
                        self.accuracy == "auto":
                    r = _new(_ScalarResult)  # the fixed fields live on the class: one store
                    d = im / h
                    floor = _subnormal_floor(h)
                    if floor > EPS * abs(d):  # Im f was subnormal: the general path judges
                        return super().derivative(f, x)
                    e = 1.01 * EPS * abs(d) * _cs_rounds(f)
                    # the second evaluation, a shift of x away: how rounding inside f moves
                    # the derivative (_cs_conditioning); trouble there -> the general path
                    scale = _cs_scale(abs(x))
                    x1 = x + _CS_SHIFT * scale
                    # and the third, a different step at x: rounding in f's complex
                    # arithmetic (_cs_noise)
                    try:
                        im1 = _parts(call(x1 + ihc))[1]
                        im2 = _parts(call(x + ihc2))[1]
                    except (DomainError, FloatingPointError, RuntimeWarning, TypeError, _Tie):
                        return super().derivative(f, x)
                    d1 = im1 / h
                    d2 = im2 / ihc2.imag
                    if not abs(d1) < math.inf or not abs(d2) < math.inf:
                        return super().derivative(f, x)
                    # and f at x itself, real: how far the complex path's value is off
                    # (_cs_value_rounding: exp(1.5 log z) for z**1.5 rounds |1.5 log z| eps)
                    try:
                        fr = float(call(x))
                    except (DomainError, FloatingPointError, RuntimeWarning, TypeError,
                            ValueError, _Tie):
                        return super().derivative(f, x)
                    e = e + _cs_conditioning(d, d1, (x1 - x) / scale, 1.0) + floor + \
                        _cs_noise(d, d2) + _cs_value_rounding(re, fr, d)
                    if e > _CS_PROMISE * abs(d):  # beyond the promise: judged, with a reason
                        return super().derivative(f, x)
                    if h == 1e-200:  # _ScalarResult.step
                        r.__dict__.update(value=d, error=e)
                    else:
                        r.__dict__.update(value=d, error=e, step=h)
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
        """``f(z)`` at one complex point, and the comparison tie it met (or None); traced
        when ``trace`` (its verdict is remembered)."""
        arg = z[0] if not shape else z.reshape(shape)
        if not trace:
            return spec.call(arg), None
        out, trace = _traced(spec, arg)
        _verdict(spec).add(spec, shape, trace)
        return out, trace.tie

    def _columns(self, spec: Function, x: np.ndarray
                 ) -> tuple[np.ndarray, int, tuple, float, str | None, Any]:
        """The complex-step Jacobian's columns at ``x``, the evaluations, f's output shape,
        the rounding unit of its values, a comparison tie met on the way (or None), and f's
        first output (at ``x + ih e_0``)."""
        flat = x.ravel().astype(float)
        tie = None
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
            before = z.copy() if i == 0 else None
            raw, met = self._call(spec, z, x.shape, (trace and i == 0) or every)
            tie = tie or met
            try:
                out = np.asarray(raw)
            except ValueError:  # a ragged list
                check_value(raw, spec.name, "jacobian")
                raise
            if out.dtype.kind not in "fciu":  # None, a bool, a str, a dict: refused as such
                normalize_output(raw)  # None ("did it forget `return`?"), str, bool
                check_value(raw, spec.name, "jacobian")
            if before is not None and x.shape:  # f(z) must not change z: f(2z) would follow
                _check_unchanged(spec, self.name, before.real, z.real.reshape(x.shape))
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
        unit = max(EPS, unit_roundoff(np.result_type(outs[0]).char.lower() if
                                      np.iscomplexobj(outs[0]) else np.result_type(outs[0])))
        sizes = {np.size(c) for c in cols}
        if len(sizes) > 1:  # f's output changed shape between the directions
            raise OutputShapeError(
                f"complex-step: {spec.name} returned {sorted(sizes)[0]} and "
                f"{sorted(sizes)[-1]} values at the same x in two directions; f's output "
                f"shape must not change between calls (does it keep state between calls?)")
        return np.stack(cols, axis=1), n, tuple(np.shape(outs[0])), unit, tie, outs[0]

    def _jacobian(self, spec: Function, x: np.ndarray, condition: bool = True
                  ) -> DerivativeResult:
        jac, nfev, out_shape, unit, tie, first = self._columns(spec, x)
        if not np.all(np.isfinite(jac)):
            raise StencilError(
                f"complex-step: the derivative of {spec.name} at x = {x.ravel().tolist()} is "
                f"not finite; the point is at a singularity or a domain edge"
            )
        # no subtraction, so no cancellation: the error is the rounding of Im f, once per
        # primitive on the way, relative to the entry and, for an entry whose terms cancel
        # to (nearly) 0, to a hundredth of the largest of its row
        error = _cs_rounds(spec) * unit * (np.abs(jac) + 0.01 * np.abs(jac).max(
            axis=1, keepdims=True))
        info: dict[str, Any] = {}
        if condition:  # plus the rounding of the real parts, measured a shift of x away,
            # and the rounding of the complex arithmetic, measured at another step
            cond, more = self._conditioning(spec, x, jac, unit)
            noise, more2 = self._noise(spec, x, jac)
            noise = noise + self._value_rounding(spec, x, first, jac)
            error = error + cond + noise
            nfev += more + more2 + 1
            half = 0.5 * promised_accuracy(self.name, unit) * np.abs(jac).max(
                axis=1, keepdims=True)
            if np.any(cond > half):
                info["unresolved"] = (
                    "rounding inside f is amplified at x (its derivative moves by "
                    f"{float(np.max(cond)):.2g} under rounding of x's real parts: a pole or a "
                    "cancellation nearby)" if np.all(np.isfinite(cond)) else
                    "f is singular within a relative 1e-12 of x on both sides")
            elif np.any(noise > half):
                info["unresolved"] = (
                    f"f's complex arithmetic loses digits at x: Im f(x + ih) / h moves by "
                    f"{float(np.max(noise)) / _CS_NOISE:.2g} when h changes, which it cannot "
                    f"for an analytic f (a cancellation inside a complex division or product, "
                    f"as in x / (1 + x) at large x); a difference method or AD does not "
                    f"depend on it")
        if tie is not None:  # no derivative to vouch for: f may jump or kink at x
            error = np.full(jac.shape, np.inf)
            info["unresolved"] = (
                f"x is on the boundary of the comparison {tie}, where f may jump or kink, "
                f"and the complex step follows one branch (central differences detect a jump)")
        floor = np.full(jac.shape, _subnormal_floor(self.h))  # Im f subnormal: few digits
        zero = ~np.any(jac, axis=0) & (x.ravel() != 0.0)
        if np.any(zero) and self.h < _CS_RETRY_H:
            more, tried = self._retry(spec, x, zero, jac, error, floor, unit, info)
            nfev += more
            flat = tried & ~np.any(jac, axis=0)
            if np.any(flat) and np.iscomplexobj(first):  # f used x + ih, and Im f is 0 twice
                more = self._flat_columns(spec, x, np.real(first), flat, error, info)
                nfev += more
        r = DerivativeResult(jac, nfev=nfev, method=self.name, error=error + floor,
                             step=self.h, out_shape=out_shape, info=info)
        top = float(np.abs(jac).max(initial=0.0))
        floor = float(floor.max(initial=0.0))
        # Im f subnormal with a nonzero answer: few digits (an exact 0 is 0 to the floor)
        judge = self.accuracy != "auto" or self.strict or floor > EPS * top > 0.0 or bool(info)
        return _judged(self, r, None) if judge else r

    def _retry(self, spec: Function, x: np.ndarray, zero: np.ndarray, jac: np.ndarray,
               error: np.ndarray, floor: np.ndarray, unit: float, info: dict[str, Any]
               ) -> tuple[int, np.ndarray]:
        """Columns whose ``Im f`` came out exactly 0, again at a step relative to ``|x_j|``:
        ``Im f = h f'`` underflows (sqrt at 1e300: ``h f' = 5e-351``), and so does the
        imaginary part of an intermediate (``x**3 / x**2`` at 1e-80: ``Im x**3 = 3 x^2 h =
        3e-360``, a derivative of 1 came out 0). The step is :data:`_CS_RETRY_H` of
        ``min(|x_j|, 1)`` -- relative, so the truncation ``(h / |x_j|)^2`` stays near 1e-40 --
        taken from the smallest ``|x_j|`` first; the columns within ten decades of it take that
        step's values, the rest the next round's. Fills ``jac``, ``error`` (with the noise term
        at that step), ``floor`` and ``info`` in place; returns the evaluations and the columns
        taken again (below ``|x_j| = 1e-180`` no relative step is larger: 0 to the floor)."""
        steps = _CS_RETRY_H * np.minimum(np.abs(x.ravel()), 1.0)
        remaining = zero.copy()
        tried = np.zeros_like(zero)
        nfev = 0
        while np.any(remaining):
            h = float(steps[remaining].min())
            if not h > self.h:  # |x_j| below 1e-180: no relative step is larger than h
                break
            again = ComplexStep(h=h, check=self.check, chunk=self.chunk)
            jac2, more, *_ = again._columns(spec, x)
            # and at 1.37 h: an intermediate's imaginary part may be subnormal at this step
            # too (x**3 / x**2 at 1e-100: 3e-320), its digits lost -- the noise term shows it
            noise, more2 = again._noise(spec, x, jac2)
            nfev += more + more2
            take = remaining & (steps <= 1e10 * h)
            jac[:, take] = jac2[:, take]
            error[:, take] = _cs_rounds(spec) * unit * np.abs(jac2[:, take]) + noise[:, take]
            floor[:, take] = _subnormal_floor(h)
            half = 0.5 * promised_accuracy(self.name, unit) * np.abs(jac2[:, take]).max(
                axis=0, initial=0.0)
            if np.any(noise[:, take] > half):
                info["unresolved"] = (
                    f"an imaginary part inside f underflows at x (Im f(x + ih) was 0 at "
                    f"h = {self.h:g}; at h = {h:g} it moves by "
                    f"{float(np.max(noise[:, take])) / _CS_NOISE:.2g} when h changes): the "
                    f"complex step loses digits this close to 0; a difference method or AD "
                    f"does not depend on it")
            remaining &= ~take
            tried |= take
        return nfev, tried

    def _conditioning(self, spec: Function, x: np.ndarray, jac: np.ndarray, unit: float
                      ) -> tuple[np.ndarray, int]:
        """:func:`_cs_conditioning` per entry of ``jac``, from the complex-step Jacobian at
        ``x`` shifted (every coordinate, by :data:`_CS_SHIFT` of ``|x|``, :func:`_cs_scale`) up,
        or down
        where up leaves f's domain; and the evaluations it took. Rounding at ``f``'s own
        precision (``unit``) shifts its real parts the same way."""
        flat = x.ravel().astype(float)
        scale = _cs_scale(np.abs(flat))
        for sign in (1.0, -1.0):
            moved = flat + sign * _CS_SHIFT * scale
            try:
                jac1, nfev, *_ = self._columns(spec, moved.reshape(x.shape))
            except DiffkitError:
                continue
            if jac1.shape == jac.shape and np.all(np.isfinite(jac1)):
                shift = float(np.min(np.abs(moved - flat) / scale))
                # the Jacobian moves by the sum over coordinates of H_jk * shift * scale_k
                return (unit / EPS) * _cs_conditioning(jac, jac1, shift, 1.0), nfev
        return np.full(jac.shape, np.inf), 0  # singular next to x, both ways: no vouching

    def _flat_columns(self, spec: Function, x: np.ndarray, fx: np.ndarray, cols: np.ndarray,
                      error: np.ndarray, info: dict[str, Any]) -> int:
        """Columns whose ``Im f`` is exactly 0 at both steps while ``f`` computes with
        ``x + ih``: a zero derivative, or one the complex arithmetic cancelled away entirely
        (``x / (1 + x)`` at ``1e50``: ``h - x h / (1 + x)`` is 0 to the last bit). Where ``f``'s
        values are the same at ``x`` and a relative :data:`_CS_FLAT` of ``x_j`` either side,
        ``f`` is flat to float64 precision there; unless it also has that value with ``x_j`` at
        0 and at 1 (an input ``f`` does not use: the zero is exact), its derivative can be
        anything below ``2 ulp(f) / step``: that is the estimate (in ``error``, in place), and
        ``info`` says why. Returns the evaluations taken."""
        flat = x.ravel().astype(float)
        nfev = 0
        for j in np.flatnonzero(cols):
            step = _CS_FLAT * abs(flat[j])
            same = True
            for sign in (1.0, -1.0):
                moved = flat.copy()
                moved[j] += sign * step
                try:
                    v = np.asarray(spec.call(moved.reshape(x.shape)), dtype=float)
                except (DiffkitError, ValueError, TypeError):
                    same = False
                    break
                nfev += 1
                if v.shape != np.shape(fx) or not np.array_equal(v, fx):
                    same = False
                    break
            if same:  # flat here: and elsewhere along x_j (an unused or constant input)?
                same, more = self._constant_along(spec, x, fx, j)
                nfev += more
            if same is None:
                bound = 2.0 * np.spacing(np.abs(np.ravel(fx))) / step
                error[:, j] = np.maximum(error[:, j], bound)
                info["unresolved"] = (
                    f"f is flat to float64 precision around x along x[{j}] (its value is the "
                    f"same {_CS_FLAT:g} of |x[{j}]| either side) while Im f(x + ih) is exactly 0: "
                    f"the complex arithmetic may have cancelled a derivative below "
                    f"{float(bound.max()):.2g}")
        return nfev

    @staticmethod
    def _constant_along(spec: Function, x: np.ndarray, fx: np.ndarray, j: int
                        ) -> tuple[bool | None, int]:
        """Whether ``f`` has the same value with ``x_j`` at 0 and at 1 as at ``x`` (an input it
        does not use, ``3 + 0 * x``: its zero derivative is exact, True) or not (it does use
        ``x_j``, and its flatness at ``x`` is a resolution limit: None); and the evaluations."""
        flat = x.ravel().astype(float)
        nfev = 0
        for far in (0.0, 1.0):
            if flat[j] == far:
                continue
            moved = flat.copy()
            moved[j] = far
            try:
                with np.errstate(all="ignore"):
                    v = np.asarray(spec.call(moved.reshape(x.shape)), dtype=float)
            except Exception:  # f fails there: it does depend on x_j
                return None, nfev
            nfev += 1
            if v.shape != np.shape(fx) or not np.array_equal(v, fx):
                return None, nfev
        return True, nfev

    @staticmethod
    def _value_rounding(spec: Function, x: np.ndarray, first: Any, jac: np.ndarray
                        ) -> np.ndarray:
        """:func:`_cs_value_rounding` per entry: f at ``x`` in reals (one evaluation) against
        the real part of the first complex one, per output row (inf where f fails in reals:
        nothing to compare with)."""
        try:
            with np.errstate(all="ignore"):
                fr = np.ravel(np.asarray(spec.call(x.copy()), dtype=float))  # (f may write to x)
        except Exception:  # f needs the complex path (an error would have shown already)
            return np.zeros(jac.shape)
        re = np.ravel(np.real(np.asarray(first)))
        if fr.shape != re.shape:
            return np.zeros(jac.shape)
        return _cs_value_rounding(re, fr, 1.0)[:, None] * np.abs(jac)

    def _noise(self, spec: Function, x: np.ndarray, jac: np.ndarray) -> tuple[np.ndarray, int]:
        """:func:`_cs_noise` per entry of ``jac``, from the complex-step Jacobian at the same
        ``x`` with the step ``1.37 h`` (:data:`_CS_NOISE_STEP`); and the evaluations it took
        (an infinite term where that step fails: nothing to vouch with)."""
        again = ComplexStep(h=self.h * _CS_NOISE_STEP, check=self.check, chunk=self.chunk)
        try:
            jac2, nfev, *_ = again._columns(spec, x)
        except DiffkitError:
            return np.full(jac.shape, np.inf), 0
        if jac2.shape != jac.shape:
            return np.full(jac.shape, np.inf), nfev
        with np.errstate(invalid="ignore", over="ignore"):
            noise = _cs_noise(jac, jac2)
        return np.where(np.isnan(noise), np.inf, noise), nfev

    def _hessian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        """Central differences of the complex-step gradient (error ~ eps^(2/3)); the estimate
        compares them with the same differences at twice the step."""
        flat = x.ravel().astype(float)
        n = flat.size
        g0 = self._jacobian(spec, x)  # with its conditioning: the gradient's own error
        if g0.out_shape not in ((), None) and int(np.prod(g0.out_shape)) != 1:
            raise not_scalar(spec.name, g0.out_shape, "hessian")
        nfev = g0.nfev
        delta = exact_steps(flat, EPS ** (1 / 3) * np.maximum(np.abs(flat), 1.0))
        hess = np.empty((n, n))
        coarse = np.empty((n, n))
        gmax = float(np.abs(np.asarray(g0.value)).max())
        for j in range(n):
            for out, mult in ((hess, 1.0), (coarse, 2.0)):
                cols, where = [], []
                for sgn in (1.0, -1.0):
                    xp = flat.copy()
                    xp[j] = flat[j] + sgn * mult * delta[j]
                    r = self._jacobian(spec, xp.reshape(x.shape), condition=False)
                    nfev += r.nfev
                    cols.append(np.ravel(r.value))
                    where.append(xp[j])
                    gmax = max(gmax, float(np.abs(cols[-1]).max()))
                out[:, j] = (cols[0] - cols[1]) / (where[0] - where[1])
        asym = np.abs(hess - hess.T)
        hess = 0.5 * (hess + hess.T)
        coarse = 0.5 * (coarse + coarse.T)
        # truncation: the 2-delta differences have 4x the error of the delta ones; noise: the
        # gradient's rounding over the step
        gerr = max(float(np.max(g0.error)), _cs_rounds(spec) * EPS * gmax)
        step = np.minimum.outer(delta, delta)
        error = TRUNCATION_SAFETY * np.abs(coarse - hess) / 3.0 + asym + gerr / step
        info = {"scheme": "central differences of the complex-step gradient"}
        with np.errstate(over="ignore"):
            huge = not np.all(np.isfinite(step * step))
        if huge:  # |x| ~ 1e300: a gradient's rounding over a
            # step of 1e296 vanishes below the smallest float, and so would the estimate
            error = np.full((n, n), np.inf)
            info["unresolved"] = (
                f"the step {float(delta.max()):.3g} (relative to |x|) is so large that its "
                f"square overflows: differences of the gradient cannot resolve the Hessian at "
                f"such a |x| (use an AD method)")
        r = DerivativeResult(hess, nfev=nfev, method=self.name, error=error,
                             step=delta.reshape(x.shape), out_shape=(), info=info)
        return _judged(self, r, None, deriv=2)
