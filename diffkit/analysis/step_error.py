"""Error versus step size: finite differences swept over h, beside the truncation/round-off model.

A finite-difference scheme of order ``p`` has two errors. Truncation: the Taylor remainder,
``C h^p`` with ``C`` from the function's higher derivative (``|f''|/2`` for the one-sided
schemes, ``|f'''|/6`` for the central one). Round-off: each value of ``f`` carries a relative
error of about ``eps``, and dividing their difference by ``h`` amplifies it to ``eps |f| / h``.
Their sum is smallest where ``d/dh`` vanishes::

    p C h^(p-1) = R eps |f| / h^2   =>   h* = (R eps |f| / (p C))^(1/(p+1))

which is ``sqrt(2 eps)`` for the forward difference of ``exp`` at 1 and ``cbrt(3 eps)`` for
the central one. The complex step ``Im f(x + ih) / h`` subtracts nothing, so its round-off is
``eps |f'|`` whatever ``h``: every ``h`` below ``sqrt(eps |f'| / C)`` is optimal.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import methods as _methods
from ..core import checked_evaluation
from ..display import step_error_text
from ..errors import (
    DiffkitError,
    OutputShapeError,
    PointError,
    StepError,
    UnknownMethodError,
)
from ..plotting import plot_step_error
from ..reference import exact_derivatives, reference_jacobian
from ..spec import Function
from ..validation import as_function, as_point, short_repr, with_data

__all__ = ["SCHEMES", "StepErrorResult", "step_error"]


@dataclass(frozen=True)
class _Scheme:
    order: int  # p: truncation ~ C h^p
    derivative: int  # C comes from this derivative of f
    factor: float  # C = factor * |f^(derivative)|
    roundoff: float  # R: round-off ~ R eps |f| / h (0: complex step, eps |f'|)
    label: str


SCHEMES: dict[str, _Scheme] = {
    # f(x+h) = f + h f' + h^2/2 f'' + ...  =>  (f(x+h) - f)/h - f' = h/2 f'' + O(h^2)
    "forward-difference": _Scheme(1, 2, 1 / 2, 1.0, "forward"),
    "backward-difference": _Scheme(1, 2, 1 / 2, 1.0, "backward"),
    # the even terms cancel: (f(x+h) - f(x-h))/2h - f' = h^2/6 f''' + O(h^4)
    "central-difference": _Scheme(2, 3, 1 / 6, 1.0, "central"),
    # Im f(x+ih)/h - f' = -h^2/6 f''' + O(h^4); no subtraction, no cancellation
    "complex-step": _Scheme(2, 3, 1 / 6, 0.0, "complex step"),
    # (4 D(h/2) - D(h))/3 with D central: the h^2 terms cancel, leaving -h^4/480 f^(5);
    # round-off (4 * 2 + 1)/3 = 3 times the central difference's
    "richardson": _Scheme(4, 5, 1 / 480, 3.0, "Richardson (1 step)"),
}
"""The schemes :func:`step_error` sweeps, with the constants of their error model."""

DEFAULT_SCHEMES = ("forward-difference", "backward-difference", "central-difference")


@dataclass(frozen=True, eq=False)
class StepErrorResult:
    """Error of finite-difference schemes versus step size, with the error model.

    Attributes
    ----------
    name : str
        The function's name.
    x : float
        The point.
    dtype : numpy dtype
        Precision of the stencils (float64 or float32).
    h : ndarray
        The swept steps, increasing.
    schemes : tuple of str
    exact : float
        The reference derivative (exact when ``reference_exact``).
    reference_exact : bool
        False when the reference came from Richardson extrapolation (no symbolic form).
    values, errors : dict of str -> ndarray
        The scheme's derivative and its absolute error per ``h`` (NaN where it broke down).
    status : dict of str -> ndarray of str
        ``"ok"`` or why the scheme broke down at that ``h`` (never raised mid-sweep).
    optimal_h, min_error : dict of str -> float
        The measured best step (where the error, averaged over three neighbouring steps in
        log scale, is least: one lucky cancellation is not an optimum) and the smallest error
        measured at any step (at or near ``optimal_h``; NaN if every step broke down).
    predicted_h : dict of str -> float
        The step that minimises the model.
    model, truncation, roundoff : dict of str -> ndarray
        The model's total error and its two terms on the grid ``h``.
    orders : dict of str -> int
        ``p`` of each scheme.
    slopes : dict of str -> float
        The slope of log error versus log h, fitted where the model's truncation term is at
        least 10 times the round-off term (NaN with fewer than 3 such points).
    notes : list of str
        What was approximate or skipped.
    """

    name: str
    x: float
    dtype: Any
    h: np.ndarray
    schemes: tuple[str, ...]
    exact: float
    reference_exact: bool
    values: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    status: dict[str, np.ndarray]
    optimal_h: dict[str, float]
    min_error: dict[str, float]
    predicted_h: dict[str, float]
    model: dict[str, np.ndarray]
    truncation: dict[str, np.ndarray]
    roundoff: dict[str, np.ndarray]
    orders: dict[str, int]
    slopes: dict[str, float]
    fit_range: dict[str, tuple[float, float]]
    notes: list[str] = field(default_factory=list)

    def summary(self) -> list[dict[str, Any]]:
        """One row per scheme: order, slope, measured and predicted optimum, minimum error."""
        rows = []
        for s in self.schemes:
            broke = int(np.sum(self.status[s] != "ok"))
            rows.append({
                "scheme": s, "order": self.orders[s], "slope": self.slopes[s],
                "optimal_h": self.optimal_h[s], "predicted_h": self.predicted_h[s],
                "min_error": self.min_error[s],
                "min_rel_error": self.min_error[s] / abs(self.exact) if self.exact else np.nan,
                "breakdowns": broke,
            })
        return rows

    def to_csv(self) -> str:
        """The sweep as CSV text: one row per ``(scheme, h)``."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["scheme", "h", "value", "abs_error", "model", "truncation", "roundoff",
                    "status"])
        for s in self.schemes:
            for i, h in enumerate(self.h):
                w.writerow([s, f"{h:.6e}", f"{self.values[s][i]:.17g}",
                            f"{self.errors[s][i]:.6e}", f"{self.model[s][i]:.6e}",
                            f"{self.truncation[s][i]:.6e}", f"{self.roundoff[s][i]:.6e}",
                            self.status[s][i]])
        return buf.getvalue()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (lists and floats; NaN as None)."""
        def clean(a: Any) -> Any:
            arr = np.asarray(a, dtype=float)
            return [None if not np.isfinite(v) else float(v) for v in arr.ravel()]

        return {
            "function": self.name, "x": self.x, "dtype": str(np.dtype(self.dtype)),
            "exact": self.exact, "reference_exact": self.reference_exact,
            "h": clean(self.h),
            "schemes": {s: {"errors": clean(self.errors[s]), "model": clean(self.model[s]),
                            "status": [str(t) for t in self.status[s]],
                            **{k: (None if not np.isfinite(v) else float(v))
                               for k, v in self.summary()[i].items()
                               if k not in ("scheme", "breakdowns")},
                            "breakdowns": self.summary()[i]["breakdowns"]}
                        for i, s in enumerate(self.schemes)},
            "notes": list(self.notes),
        }

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Error versus h on log-log axes; see :func:`diffkit.plotting.plot_step_error`."""
        return plot_step_error(self, ax=ax, **kwargs)

    def __str__(self) -> str:
        """A summary table and the notes (:func:`diffkit.display.step_error_text`)."""

        return step_error_text(self)

    def __repr__(self) -> str:
        best = ", ".join(f"{s}: h*={self.optimal_h[s]:.1e} err={self.min_error[s]:.1e}"
                         for s in self.schemes)
        return f"StepErrorResult({self.name!r} at x={self.x:g}; {best})"


# ----------------------------------------------------------------------------- stencils

def _own_stencil(scheme: str, spec: Function, x: Any, h: Any, dtype: Any) -> float:
    """The scheme at one step, computed in ``dtype`` (float32 sweeps, and schemes without a
    method class in this installation)."""
    x = dtype(x)
    h = dtype(h)

    def f(t: Any) -> Any:
        return np.asarray(spec.call(t))

    if scheme == "forward-difference":
        xp = x + h
        return float((f(xp) - f(x)) / (xp - x))
    if scheme == "backward-difference":
        xm = x - h
        return float((f(x) - f(xm)) / (x - xm))
    if scheme == "central-difference":
        xp, xm = x + h, x - h
        return float((f(xp) - f(xm)) / (xp - xm))
    if scheme == "richardson":
        h2 = h / dtype(2)
        d1 = (f(x + h) - f(x - h)) / ((x + h) - (x - h))
        d2 = (f(x + h2) - f(x - h2)) / ((x + h2) - (x - h2))
        return float((4 * d2 - d1) / 3)
    if scheme == "complex-step":
        ctype = np.complex64 if dtype == np.float32 else np.complex128
        return float(np.imag(f(ctype(x + 1j * h))) / h)
    raise UnknownMethodError(f"step_error: no stencil for scheme {scheme!r}")  # pragma: no cover


def _stencil_fn(scheme: str, spec: Function, dtype: Any) -> Callable[[float, float], float]:
    """Float64 schemes use diffkit's own method classes with a fixed ``h``."""
    if dtype == np.float64 and scheme in _methods.available() and scheme != "richardson":
        settings = {} if scheme == "complex-step" else {"order": SCHEMES[scheme].order}
        try:
            _methods.get(scheme, h=1.0, **settings)
        except DiffkitError:  # a first version without order=
            settings = {}

        def run(x: float, h: float) -> float:
            return float(_methods.get(scheme, h=h, **settings).derivative(spec, x).value)

        return run

    def own(x: float, h: float) -> float:
        with checked_evaluation():
            return _own_stencil(scheme, spec, x, h, dtype)

    return own


def _higher_derivatives(spec: Function, x: float, orders: Sequence[int]
                        ) -> tuple[dict[int, float], bool]:
    """``{k: f^(k)(x)}``: exact via sympy when possible, else finite differences."""
    try:
        vals = exact_derivatives(spec, x, orders)
        return dict(zip(orders, vals, strict=True)), True
    except (DiffkitError, TypeError, ValueError, AttributeError, RecursionError):
        pass
    out = {}
    for k in orders:
        # the k-th central difference  sum_j (-1)^j C(k, j) f(x + (k/2 - j) h) / h^k
        h = 1e-2 * max(1.0, abs(x))
        from math import comb

        total = 0.0
        try:
            with np.errstate(all="ignore"):
                for j in range(k + 1):
                    total += (-1) ** j * comb(k, j) * float(spec.call(x + (k / 2 - j) * h))
            out[k] = total / h**k
        except (DiffkitError, ArithmeticError, ValueError, TypeError):
            out[k] = np.nan
    return out, False


def _fit_slope(h: np.ndarray, err: np.ndarray, mask: np.ndarray) -> tuple[float, tuple]:
    ok = mask & np.isfinite(err) & (err > 0)
    if np.count_nonzero(ok) < 3:
        return float("nan"), (float("nan"), float("nan"))
    slope = np.polyfit(np.log10(h[ok]), np.log10(err[ok]), 1)[0]
    return float(slope), (float(h[ok].min()), float(h[ok].max()))


# ----------------------------------------------------------------------------- the sweep

def step_error(
    f: Any,
    x: Any,
    *,
    schemes: Sequence[str] = DEFAULT_SCHEMES,
    h: Any = None,
    complex_step: bool = True,
    dtype: Any = np.float64,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
) -> StepErrorResult:
    """Sweep finite-difference schemes over step sizes and compare with the error model.

    Parameters
    ----------
    f : Function or callable
        A scalar function of one scalar.
    x : float
        The point.
    schemes : sequence of str
        Any of ``"forward-difference"``, ``"backward-difference"``, ``"central-difference"``,
        ``"richardson"`` (one extrapolation step of the central difference) and
        ``"complex-step"``.
    h : array_like, optional
        Steps to sweep; default ``logspace(-16, 0, 97)`` (six per decade).
    complex_step : bool
        Also sweep the complex step (added to ``schemes`` if missing).
    dtype : {np.float64, np.float32}
        Precision of the stencil arithmetic; the error is still measured against the exact
        derivative at the point rounded to ``dtype``.
    args : tuple, optional
        Data arguments: ``f`` is called as ``f(x, *args, **kwargs)`` and differentiated with
        respect to ``x`` only (constants to the exact reference).
    kwargs : dict, optional
        Keyword data arguments.

    Returns
    -------
    StepErrorResult
        ``.h``, ``.errors``, ``.optimal_h``, ``.predicted_h``, ``.model``, ``.slopes``,
        ``.status``. A scheme that breaks down at some ``h`` (a stencil outside the domain,
        a non-finite value) records NaN and the reason; the sweep never raises.

    Examples
    --------
    >>> import diffkit as dk
    >>> r = dk.analysis.step_error(dk.Function.from_expr("exp(x)"), 1.0)
    >>> 1e-10 <= r.optimal_h["forward-difference"] <= 1e-6
    True
    >>> round(r.slopes["forward-difference"]), round(r.slopes["central-difference"])
    (1, 2)
    """
    spec = with_data(as_function(f, "step_error"), args, kwargs, call="step_error(f, x)")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise PointError(f"step_error(dtype={dtype!r}): not a numpy dtype; use np.float64 or "
                         f"np.float32") from None
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise PointError(f"step_error(dtype={dtype!r}): only np.float64 and np.float32 are "
                         f"supported")
    dtype = dt.type
    if spec.nparams != 1:
        raise PointError(f"step_error(f, x): {spec.name} takes {spec.nparams} parameters; "
                         f"step_error sweeps a scalar function of one scalar")
    xa = as_point(spec, x, "derivative")
    if isinstance(schemes, str):
        schemes = (schemes,)
    try:
        schemes = tuple(schemes)
    except TypeError:
        raise UnknownMethodError(
            f"step_error(schemes={short_repr(schemes)}): schemes must be a scheme name or a "
            f"sequence of them, e.g. ('central-difference', 'richardson')") from None
    if not schemes:
        raise UnknownMethodError("step_error(schemes=()): name at least one scheme, e.g. "
                                 "'central-difference'")
    for s in schemes:
        if not isinstance(s, str) or s not in SCHEMES:
            raise UnknownMethodError(
                f"step_error(schemes=...): {s!r} is not a step-size scheme; choose from "
                f"{', '.join(repr(k) for k in SCHEMES)}")
    if not isinstance(complex_step, (bool, np.bool_)):
        raise UnknownMethodError(
            f"step_error(complex_step={short_repr(complex_step)}): complex_step must be True "
            f"or False (also sweep the complex step)")
    if complex_step and "complex-step" not in schemes:
        schemes = (*schemes, "complex-step")
    if h is None:
        hs = np.logspace(-16, 0, 97)
    else:
        try:
            hs = np.asarray(h, dtype=float).ravel()
        except (TypeError, ValueError):
            raise StepError(f"step_error(h={h!r}): not an array of numbers; pass positive "
                            f"floats, e.g. np.logspace(-12, 0, 49)") from None
        if hs.size == 0 or not np.all(np.isfinite(hs) & (hs > 0)):
            raise StepError(f"step_error(h=...): every step must be positive and finite, got "
                            f"{np.array2string(hs, threshold=6)}")
        hs = np.sort(hs)

    x0 = float(dtype(float(xa.reshape(()))))  # the point the stencils actually see
    notes: list[str] = []
    with checked_evaluation():
        try:
            fx = spec.check(spec.call(dtype(x0)), "derivative", np.asarray(x0))
            if np.size(fx) != 1:
                raise OutputShapeError(
                    f"f returned shape {np.shape(fx)}; step_error sweeps a scalar function of "
                    f"one scalar (for a vector f, sweep one output: lambda x: f(x)[0])")
            fx = float(np.reshape(fx, ()))
        except (DiffkitError, FloatingPointError) as exc:
            raise PointError(f"step_error(f, x): {spec.name} cannot be evaluated at x = {x0} "
                             f"({exc}); choose a point inside its domain") from None
    eps = float(np.finfo(dtype).eps)
    fscale = abs(fx)  # what the round-off term eps |f| / h scales with
    if fscale == 0.0:  # f(x) = 0 does not mean f rounds to nothing near x (exp(h) - 1):
        fscale = _rounding_scale(spec, x0, eps)  # the rounding inside f instead
        notes.append(f"f(x) = 0: the round-off term uses the rounding inside f near x "
                     f"({fscale:.2g} in units of eps), not |f(x)|")
    ref = reference_jacobian(spec, np.asarray(x0))
    exact = float(ref.value[0, 0])
    if not ref.exact:
        notes.append(f"reference derivative by Richardson extrapolation (approximate, "
                     f"error ~{float(ref.error[0, 0]):.1e}): {ref.note}")
    need = sorted({SCHEMES[s].derivative for s in schemes})
    derivs, exact_model = _higher_derivatives(spec, x0, need)
    if not exact_model:
        notes.append("model constants from finite-difference higher derivatives (approximate)")

    values, errors, status = {}, {}, {}
    optimal, min_err, predicted = {}, {}, {}
    model, trunc, round_, orders, slopes, fit_range = {}, {}, {}, {}, {}, {}
    for s in schemes:
        sch = SCHEMES[s]
        run = _stencil_fn(s, spec, dtype)
        vals = np.full(hs.shape, np.nan)
        st = np.full(hs.shape, "ok", dtype=object)
        for i, hi in enumerate(hs):
            if s != "complex-step" and dtype(x0) + dtype(hi) == dtype(x0):
                st[i] = "x + h == x"  # the step is below the point's resolution
                continue
            try:
                with np.errstate(all="ignore"):
                    v = run(x0, float(hi))
            except DiffkitError as exc:
                st[i] = type(exc).__name__
                continue
            except (ArithmeticError, ValueError, TypeError) as exc:
                st[i] = type(exc).__name__
                continue
            if not np.isfinite(v):
                st[i] = "non-finite"
                continue
            vals[i] = v
        err = np.abs(vals - exact)
        values[s], errors[s], status[s] = vals, err, st.astype(str)

        c = sch.factor * abs(derivs.get(sch.derivative, np.nan))
        tr = c * hs**sch.order
        ro = (np.full(hs.shape, eps * abs(exact)) if sch.roundoff == 0
              else sch.roundoff * eps * fscale / hs)
        trunc[s], round_[s], model[s] = tr, ro, tr + ro
        orders[s] = sch.order
        if sch.roundoff == 0:
            # any h at which the truncation term is below one ulp of f' is optimal
            predicted[s] = float(np.sqrt(eps * abs(exact) / c)) if c > 0 else float("inf")
        else:
            predicted[s] = float((sch.roundoff * eps * fscale / (sch.order * c))
                                 ** (1 / (sch.order + 1))) if c > 0 else float("nan")

        finite = np.isfinite(err)
        if not finite.any():
            optimal[s], min_err[s] = float("nan"), float("nan")
            notes.append(f"{s}: every step broke down")
        elif sch.roundoff == 0:
            floor = max(float(np.nanmin(err)), eps * abs(exact))
            good = np.flatnonzero(finite & (err <= 2 * floor))
            optimal[s], min_err[s] = float(hs[good[-1]]), float(np.nanmin(err))
        else:
            # the minimum of a 3-point geometric mean: one lucky cancellation is not an optimum
            logs = np.log10(np.where(finite, np.maximum(err, eps * abs(exact) / 100), np.inf))
            smooth = logs.copy()
            smooth[1:-1] = (logs[:-2] + logs[1:-1] + logs[2:]) / 3
            k = int(np.argmin(smooth))
            optimal[s], min_err[s] = float(hs[k]), float(np.nanmin(err))
        hmax = 0.1 * min(1.0, abs(x0)) if x0 != 0 else 0.1
        regime = (tr >= 10 * ro) & (hs <= hmax)
        slopes[s], fit_range[s] = _fit_slope(hs, err, regime)

    return StepErrorResult(
        name=spec.name, x=x0, dtype=dtype, h=hs, schemes=schemes, exact=exact,
        reference_exact=ref.exact, values=values, errors=errors, status=status,
        optimal_h=optimal, min_error=min_err, predicted_h=predicted, model=model,
        truncation=trunc, roundoff=round_, orders=orders, slopes=slopes,
        fit_range=fit_range, notes=notes)


def _rounding_scale(spec: Function, x0: float, eps: float) -> float:
    """Where f(x) = 0: the size of the rounding of f near x in units of eps (the noise
    trace's running bound on f's intermediates, :mod:`diffkit.methods.noise`), 1 if f cannot be
    traced."""
    from ..methods.noise import _noise_probe

    try:
        with np.errstate(all="ignore"):
            _, bound, _, _ = _noise_probe(spec, np.float64(x0))
        scale = float(np.max(bound)) / eps
    except Exception:  # code the trace cannot follow: the unit scale
        return 1.0
    return scale if scale > 0 and np.isfinite(scale) else 1.0
