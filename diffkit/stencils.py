"""The finite-difference engine: stencils, their application, Richardson extrapolation with
its error estimate, and the step choice -- for the numerical methods, the reference and the
checkers alike.

A stencil approximates the ``d``-th derivative from samples at offsets ``s_j`` (in units of
the step ``h``)::

    f^(d)(x) ~ sum_j w_j f(x + s_j h) / h^d  +  C h^p f^(d+p)(x)  + ...

The weights come from Fornberg's recursion (Math. Comp. 51, 1988) run on
:class:`fractions.Fraction`, so they are exact at any order; a Vandermonde solve in floating
point loses digits fast as the order grows (findiff #70). ``C`` (the leading error
coefficient) is exact too, which lets the step be chosen for the order (see
:func:`optimal_step`).

=====================  ===============================================================
weights                :func:`fornberg`, :func:`fornberg_float`, :func:`stencil`
applying them          :func:`exact_steps`, :func:`nodes`, :func:`along_axes`, :func:`axis_points`
extrapolation          :class:`Extrapolation` (Neville's tableau, error estimate, stopping)
step choice            :func:`pilot_length`, :func:`balanced_step`, :func:`optimal_step`
noise and error        :func:`unit_roundoff`, :func:`quantum`, :func:`grid_spacing`,
                       :func:`error_bound`
=====================  ===============================================================

The pilot and the extrapolation are written once for a batch of entries and run either on
numpy arrays (vectorised over coordinates) or on Python floats (:data:`FLOATS`: one scalar
entry at the speed of scalar arithmetic).

Examples
--------
>>> from diffkit.stencils import stencil
>>> s = stencil("central", 1, 4)
>>> s.offsets, [str(w) for w in s.weights]
((-2, -1, 1, 2), ['1/12', '-2/3', '2/3', '-1/12'])
>>> str(s.error_coef)
'-1/30'
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import OrderError

EPS = float(np.finfo(np.float64).eps)

__all__ = [
    "ALL_POWERS",
    "ARRAYS",
    "EVEN_POWERS",
    "FLOATS",
    "KINDS",
    "MAX_ORDER",
    "PILOT_OFFSETS",
    "Expansion",
    "Extrapolation",
    "Stencil",
    "along_axes",
    "axis_points",
    "balanced_step",
    "error_bound",
    "exact_steps",
    "fornberg",
    "fornberg_float",
    "grid_spacing",
    "nodes",
    "optimal_step",
    "pilot_length",
    "precision_name",
    "quantum",
    "stencil",
    "unit_roundoff",
]

KINDS = ("central", "forward", "backward")
MAX_ORDER = 16
"""Highest accuracy order offered: beyond it the weights' size makes rounding dominate."""


def fornberg(offsets: Sequence[int | Fraction], deriv: int) -> list[Fraction]:
    """Exact weights of the ``deriv``-th derivative at 0 from samples at ``offsets``.

    Fornberg's recursion builds the weights for the first ``k`` points from those for the
    first ``k - 1``: it is the Lagrange interpolant differentiated, never a linear solve.

    Parameters
    ----------
    offsets : sequence of int or Fraction
        Distinct sample positions in units of the step.
    deriv : int
        The derivative order (0 interpolates).

    Returns
    -------
    list of Fraction
        One weight per offset.

    Examples
    --------
    >>> [str(w) for w in fornberg([-1, 0, 1], 2)]
    ['1', '-2', '1']
    """
    z = [Fraction(s) for s in offsets]
    n = len(z)
    if len(set(z)) != n:
        raise OrderError(f"fornberg(offsets={list(offsets)}): offsets must be distinct")
    if not 0 <= deriv < n:
        raise OrderError(f"fornberg: derivative {deriv} needs at least {deriv + 1} points, got {n}")
    # c[j][k]: weight of point j for derivative k, over the points seen so far
    c = [[Fraction(0)] * (deriv + 1) for _ in range(n)]
    c[0][0] = Fraction(1)
    c1 = Fraction(1)
    for i in range(1, n):
        c2 = Fraction(1)
        for j in range(i):
            c3 = z[i] - z[j]
            c2 *= c3
            for k in range(min(i, deriv), -1, -1):
                # the new point i, from point j's weights (Fornberg eq. 3.3)
                if j == i - 1:
                    prev = c[i - 1][k - 1] if k else Fraction(0)
                    c[i][k] = c1 * (k * prev - z[i - 1] * c[i - 1][k]) / c2
            for k in range(min(i, deriv), -1, -1):
                # the old point j updated for the added point (Fornberg eq. 3.2)
                c[j][k] = (z[i] * c[j][k] - (k * c[j][k - 1] if k else 0)) / c3
        c1 = c2
    return [c[j][deriv] for j in range(n)]


def fornberg_float(offsets: np.ndarray, deriv: int) -> np.ndarray:
    """Fornberg's recursion in float64 for arbitrary real offsets (rows of ``offsets``).

    Used when the points actually sampled differ from the nominal grid by rounding, so the
    weights match the points exactly. ``offsets`` has shape ``(k, npoints)``.
    """
    z = np.atleast_2d(np.asarray(offsets, dtype=float))
    rows, n = z.shape
    c = np.zeros((rows, n, deriv + 1))
    c[:, 0, 0] = 1.0
    c1 = np.ones(rows)
    for i in range(1, n):
        c2 = np.ones(rows)
        for j in range(i):
            c3 = z[:, i] - z[:, j]
            c2 = c2 * c3
            if j == i - 1:
                for k in range(min(i, deriv), -1, -1):
                    prev = c[:, i - 1, k - 1] if k else 0.0
                    c[:, i, k] = c1 * (k * prev - z[:, i - 1] * c[:, i - 1, k]) / c2
            for k in range(min(i, deriv), -1, -1):
                prev = c[:, j, k - 1] if k else 0.0
                c[:, j, k] = (z[:, i] * c[:, j, k] - k * prev) / c3
        c1 = c2
    return c[:, :, deriv]


@dataclass(frozen=True)
class Stencil:
    """A finite-difference formula: ``f^(d)(x) ~ sum(w * f(x + s*h)) / h**d``.

    Attributes
    ----------
    kind : str
        ``"central"``, ``"forward"`` or ``"backward"``.
    deriv : int
        Derivative order ``d`` (1 or 2).
    order : int
        Accuracy order ``p``: the error is ``error_coef * h**p * f^(d+p)(x)`` to leading order.
    offsets, weights : tuple
        Sample offsets in units of ``h`` (zero weights dropped) and their exact weights.
    error_coef : Fraction
        ``C`` above: ``sum(w * s**(d+p)) / (d+p)!``.
    """

    kind: str
    deriv: int
    order: int
    offsets: tuple[int, ...]
    weights: tuple[Fraction, ...]
    error_coef: Fraction

    @property
    def weights_float(self) -> np.ndarray:
        return np.array([float(w) for w in self.weights])

    @property
    def abs_weight_sum(self) -> float:
        """``sum |w|``: how much the stencil amplifies rounding noise in ``f`` (times 1/h^d)."""
        return float(sum(abs(w) for w in self.weights))


def _check_order(kind: str, deriv: int, order: object, who: str) -> int:
    if kind not in KINDS:
        raise OrderError(f"{who}: kind={kind!r} is not one of {', '.join(KINDS)}")
    if deriv not in (1, 2):
        raise OrderError(f"{who}: derivative order {deriv!r} is not supported; use 1 or 2")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)):
        raise OrderError(f"{who}: order={order!r} is not an integer; pass e.g. order=2")
    order = int(order)
    if kind == "central" and (order < 2 or order % 2):
        raise OrderError(
            f"{who}: order={order} is not available for central differences, whose orders are "
            f"even (2, 4, ..., {MAX_ORDER}); use order={max(2, order + order % 2)}, or a "
            f"one-sided scheme (ForwardDifference(order={order})) for odd orders"
        )
    if not 1 <= order <= MAX_ORDER:
        raise OrderError(
            f"{who}: order={order} is out of range; choose 1 <= order <= {MAX_ORDER} "
            f"(higher orders amplify rounding more than they remove truncation)"
        )
    return order


def stencil(kind: str, deriv: int, order: int) -> Stencil:
    """The ``kind`` stencil for derivative ``deriv`` with accuracy ``order``.

    Central stencils use offsets ``-p/2..p/2``, forward ones ``0..d+p-1``,
    backward ones the mirror image.

    Raises
    ------
    OrderError
        An order the scheme cannot give (odd for central, outside ``1..MAX_ORDER``).

    Examples
    --------
    >>> s = stencil("forward", 1, 2)
    >>> s.offsets, [str(w) for w in s.weights]
    ((0, 1, 2), ['-3/2', '2', '-1/2'])
    """
    return _stencil(kind, deriv, _check_order(kind, deriv, order, f"stencil({kind!r}, {deriv})"))


@functools.cache
def _stencil(kind: str, deriv: int, order: int) -> Stencil:
    npts = deriv + order
    if kind == "central":  # 2q + 1 symmetric points give order 2q for d = 1 and d = 2
        offsets = list(range(-order // 2, order // 2 + 1))
    elif kind == "forward":
        offsets = list(range(npts))
    else:
        offsets = [-s for s in range(npts)]
    weights = fornberg(offsets, deriv)
    kept = [(s, w) for s, w in zip(offsets, weights, strict=True) if w != 0]
    # leading truncation term: the first moment sum(w s^k)/k! (k > d) that does not vanish
    coef = Fraction(0)
    for k in range(deriv + 1, deriv + order + 3):
        coef = sum((w * Fraction(s) ** k for s, w in kept), Fraction(0)) / math.factorial(k)
        if coef != 0:
            break
    return Stencil(kind, deriv, order, tuple(s for s, _ in kept), tuple(w for _, w in kept),
                   coef)


def optimal_step(st: Stencil, scale: float | np.ndarray, noise: float = 1.0
                 ) -> float | np.ndarray:
    """The step that balances rounding against truncation for ``st``.

    With ``f`` known to relative precision ``noise * eps`` and varying on the length ``scale``
    (so ``|f^(k)| ~ |f| / scale^k``), the error of the stencil is about::

        E(h) = noise*eps*|f| * sum|w| / h^d  +  |C| h^p |f| / scale^(d+p)

    which is smallest at ``h = (d noise eps sum|w| / (p |C|))^(1/(p+d)) * scale`` -- the
    familiar ``eps^(1/2)`` for forward and ``eps^(1/3)`` for central first differences.
    """
    eps = np.finfo(np.float64).eps
    d, p = st.deriv, st.order
    factor = (d * noise * eps * st.abs_weight_sum / (p * abs(float(st.error_coef)))) \
        ** (1.0 / (p + d))
    return factor * scale


# ============================================================================ applying stencils


def exact_steps(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``(x + h) - x``: the step actually taken, exactly representable (``h`` where that is 0).

    Examples
    --------
    >>> float(exact_steps(np.array(1.0), np.array(0.1)))  # 1.1 - 1 is not 0.1
    0.10000000000000009
    """
    hs = (x + h) - x
    return np.where(hs > 0, hs, h)


def nodes(st: Stencil, x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where ``st`` samples along each coordinate, and with what weights.

    Parameters
    ----------
    st : Stencil
    x : ndarray
        The point, flat ``(n,)``.
    h : ndarray
        One step per coordinate, ``(n,)``.

    Returns
    -------
    points, weights : ndarray
        ``(n, k)``: coordinate ``i`` set to ``x_i + s_j h_i``, and the weights already divided
        by ``h_i^d``. Where adding an offset to ``x`` rounds, the weights are recomputed
        (Fornberg in floats) for the offsets actually sampled, so the formula fits the points.
    """
    s = np.asarray(st.offsets, dtype=float)
    pts = x[:, None] + s[None, :] * h[:, None]
    actual = pts - x[:, None]
    w = np.broadcast_to(st.weights_float, actual.shape).copy()
    inexact = np.any(actual != s[None, :] * h[:, None], axis=1)
    if inexact.any():
        w[inexact] = fornberg_float(actual[inexact] / h[inexact, None], st.deriv)
    return pts, w / h[:, None] ** st.deriv


def axis_points(x: np.ndarray, idx: np.ndarray, val: np.ndarray) -> np.ndarray:
    """Points ``(len(idx), n)``: copies of ``x`` (flat) with coordinate ``idx[r]`` set to
    ``val[r]``, the samples :func:`along_axes` asks for."""
    pts = np.repeat(x[None, :], len(idx), axis=0)
    pts[np.arange(len(idx)), idx] = val
    return pts


def along_axes(st: Stencil, x: np.ndarray, h: np.ndarray,
               sample: Callable[[np.ndarray, np.ndarray], np.ndarray], f0: np.ndarray
               ) -> np.ndarray:
    """The ``st`` derivative of ``f`` along every coordinate of ``x``: an ``(m, n)`` array.

    ``sample(idx, val)`` returns ``f`` (``(len(idx), m)``) at the points where coordinate
    ``idx[r]`` of ``x`` is set to ``val[r]``; ``f0 = f(x)`` (``(m,)``) serves a zero offset.

    Examples
    --------
    >>> x, f0 = np.array([0.5, 2.0]), np.array([np.exp(0.5) + np.exp(2.0)])
    >>> def sample(idx, val):
    ...     return np.exp(axis_points(x, idx, val)).sum(axis=1, keepdims=True)
    >>> d = along_axes(stencil("central", 1, 4), x, np.array([1e-3, 1e-3]), sample, f0)
    >>> np.allclose(d, np.exp(x)[None, :], rtol=1e-12)
    True
    """
    pts, w = nodes(st, x, h)
    n, k = pts.shape
    moved = np.asarray(st.offsets) != 0
    vals = np.empty((n, k, f0.size))
    vals[:, ~moved] = f0
    vals[:, moved] = sample(np.repeat(np.arange(n), int(moved.sum())),
                            pts[:, moved].ravel()).reshape(n, int(moved.sum()), f0.size)
    d = np.einsum("nk,nkm->mn", w, vals)
    if not np.isfinite(d).all() and np.isfinite(vals).all():
        # weights ~ 1/h times values near the float range overflow (exp at 700: 1e304 / 3e-8)
        # though the difference does not: combine with weights scaled to 1, then scale back
        with np.errstate(over="ignore", invalid="ignore"):
            scale = np.max(np.abs(w), axis=1)
            scale = np.where(scale > 0, scale, 1.0)
            d = np.where(np.isfinite(d), d, np.einsum("nk,nkm->mn", w / scale[:, None], vals)
                         * scale[None, :])
    return d


# ============================================================================ lanes


class _FloatLanes:
    """The engine's entry-wise operations on one scalar entry, as Python floats.

    The extrapolation and the pilot below are written once for a batch of entries; run on
    Python floats they cost what hand-written scalar code costs (numpy's per-call overhead on
    tiny arrays would be most of a scalar derivative's time), run on arrays they are
    vectorised over the entries. The operations:

    ==========  =============================================================================
    top         the largest over an entry's outputs (an entry's verdicts are shared)
    most        the largest of several values, entry by entry
    norm        ``sqrt(sum_i (c_i noise_i)^2)``: independent roundings add in quadrature
    root        ``(num / den)^(1/k)`` where ``ok``, else NaN
    pow2        the nearest power of two (steps that are exact multiples of each other)
    levels      ``round(log2 r)`` clipped to ``0..most``, and ``most`` where ``r`` is NaN
    col         a per-entry value as a column, against per-output arrays ``(E, m)``
    ==========  =============================================================================
    """

    top = staticmethod(operator.pos)
    not_ = staticmethod(operator.not_)
    maximum = most = staticmethod(max)
    isfinite = staticmethod(math.isfinite)

    @staticmethod
    def norm(coefs: Sequence[float], noise: Sequence[float]) -> float:
        return math.hypot(*map(operator.mul, coefs, noise))

    @staticmethod
    def fmin(a: float, b: float) -> float:
        return b if a != a else (a if b != b else min(a, b))

    @staticmethod
    def root(ok: bool, num: float, den: float, k: int) -> float:
        return (num / den) ** (1.0 / k) if ok else math.nan

    @staticmethod
    def pow2(h: float) -> float:
        return 2.0 ** round(math.log2(h))

    @staticmethod
    def levels(ratio: float, most: int) -> int:
        return most if ratio != ratio else min(most, max(0, round(math.log2(ratio))))

    @staticmethod
    def col(h: float) -> float:
        return h


class _ArrayLanes:
    """The same operations on a batch: entries along axis 0, an entry's outputs along axis 1."""

    @staticmethod
    def top(a: np.ndarray) -> np.ndarray:
        return a.max(axis=-1) if np.ndim(a) == 2 else a

    @staticmethod
    def any(a: np.ndarray) -> np.ndarray:
        return a.any(axis=-1) if np.ndim(a) == 2 else a

    @staticmethod
    def all(a: np.ndarray) -> np.ndarray:
        return a.all(axis=-1) if np.ndim(a) == 2 else a

    not_ = staticmethod(np.logical_not)
    maximum = staticmethod(np.maximum)
    isfinite = staticmethod(np.isfinite)
    fmin = staticmethod(np.fmin)

    @staticmethod
    def most(*arrays: np.ndarray) -> np.ndarray:
        return functools.reduce(np.maximum, arrays)

    @staticmethod
    def where(cond: np.ndarray, a: tuple, b: tuple) -> tuple:
        return tuple(np.where(cond.reshape(cond.shape + (1,) * (np.ndim(u) - 1)), u, v)
                     for u, v in zip(a, b, strict=True))

    @staticmethod
    def norm(coefs: Sequence[float], noise: Sequence[np.ndarray]) -> np.ndarray:
        return np.sqrt(np.tensordot(np.asarray(coefs) ** 2, np.stack(noise) ** 2, axes=1))

    @staticmethod
    def root(ok: np.ndarray, num: np.ndarray, den: np.ndarray, k: int) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(ok, (num / den) ** (1.0 / k), np.nan)

    @staticmethod
    def pow2(h: np.ndarray) -> np.ndarray:
        return 2.0 ** np.round(np.log2(h))

    @staticmethod
    def levels(ratio: np.ndarray, most: int) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.where(np.isnan(ratio), most, np.clip(np.round(np.log2(ratio)), 0, most))

    @staticmethod
    def col(h: np.ndarray) -> np.ndarray:
        return h[:, None]


FLOATS = _FloatLanes()
"""Run the engine on one scalar entry held in Python floats."""
ARRAYS = _ArrayLanes()
"""Run the engine on a batch: ``(E, m)`` arrays (entries, outputs)."""
Lanes = _FloatLanes | _ArrayLanes


# ============================================================================ noise
#
# Every evaluation of f carries noise: float64 rounding of the values the program computes,
# coarser rounding where it computes in float32 or float16, a quantum where its values are
# rounded to a grid (float32 arithmetic behind a float64 result), non-determinism (a Monte Carlo
# estimate, an iterative solver's tolerance). The step choice, the pilot's tests and every error
# estimate take it as ONE absolute number per entry and output: the bound ``N`` on the noise of
# one evaluation, measured from what the evaluations actually show (``Noise`` in
# :mod:`diffkit.methods.numerical`), never assumed from ``|f(x)|`` alone.

QUANTUM_RATIO = 1024.0
"""Values on a grid coarser than this many float64 units of their own size are quantized (a
float32 result has a grid 2^29 times coarser; a float64 one shows random low bits)."""


def unit_roundoff(dtype: Any) -> float:
    """The relative rounding unit of values of ``dtype``: eps of a float (or complex) type; 0
    for integers and booleans, whose spacing of 1 shows as a quantum instead.

    Examples
    --------
    >>> unit_roundoff(np.float32) == float(np.finfo(np.float32).eps)
    True
    >>> unit_roundoff(np.int64)
    0.0
    """
    dt = np.dtype(dtype)
    return float(np.finfo(dt).eps) if dt.kind in "fc" else 0.0


def precision_name(unit: float) -> str:
    """``"float64"``, ``"float32"`` or ``"float16"`` for their units, else a description."""
    for t in (np.float64, np.float32, np.float16):
        if unit == float(np.finfo(t).eps):
            return np.dtype(t).name
    return f"a relative grid of {unit:.2g}"


def quantum(diffs: np.ndarray, axis: int = -1) -> np.ndarray:
    """The largest power of two that divides every nonzero finite entry of ``diffs`` along
    ``axis`` (inf where there is none): the spacing of the grid of quantized values.

    Differences of float64 values that carry full-precision low bits are divisible only by
    about one ulp of the values; differences of float32 values cast to float64 by 2^29 times
    more. (Samples at non-dyadic offsets from ``x`` keep a polynomial's exact values from
    looking quantized.)

    Examples
    --------
    >>> float(quantum(np.array([3 * 2.0**-20, 5 * 2.0**-21])))
    4.76837158203125e-07
    """
    d = np.abs(np.asarray(diffs, dtype=float))
    ok = (d > 0) & np.isfinite(d)
    mant, ex = np.frexp(np.where(ok, d, 1.0))
    m = (mant * 2.0**53).astype(np.int64)  # exact: d = m 2^(ex - 53)
    low = (m & -m).astype(float)
    q = np.where(ok, np.ldexp(low, ex - 53), np.inf)
    return q.min(axis=axis)


GRID_MULTIPLES = 2000
"""A grid is believed only where every difference is at most this many spacings: one free
spacing can fit a few reals with large enough multiples, never with small ones."""


def grid_spacing(diffs: np.ndarray, tol: Any, offsets: Sequence[float], axis: int = -1
                 ) -> np.ndarray:
    """The spacing ``q`` of a grid that every entry of ``diffs`` (differences ``f(x + s h) -
    f(x)`` at the ``K`` ``offsets`` ``s``, the same for every entry) lies on to within
    ``tol``, found by the Euclidean algorithm on their magnitudes; 0 where there is none.

    :func:`quantum` finds binary grids (float32 values); this one any grid: values rounded to
    six decimals, fixed-point arithmetic, tabulated data. A grid is believed only where

    * every difference is at most :data:`GRID_MULTIPLES` spacings, and the largest at least
      16 (one free spacing fits a few reals with large or tiny multiples, never otherwise);
    * no polynomial through ``f(x)`` of degree up to 3 (one fewer than the samples) fits the
      differences to within a quarter spacing: a linear function's samples are exactly on the
      grid of spacing ``f' h``, and ``x**2`` at 0 on one of ``h**2``; a quantized function's
      are not smooth.

    Examples
    --------
    >>> s = np.array([-2.0, -1.0, 1.0, 2.0])
    >>> d = np.round(1e6 * np.exp(0.5 + 3e-5 * s)) / 1e6 - np.round(1e6 * np.exp(0.5)) / 1e6
    >>> f"{float(grid_spacing(d, 1e-15, s)):.6g}"
    '1e-06'
    >>> float(grid_spacing(0.5 * s, 1e-15, s))  # a linear function: no grid
    0.0
    """
    d = np.moveaxis(np.asarray(diffs, dtype=float), axis, -1)
    if d.size == d.shape[-1]:  # one entry (Richardson's scalar path): Euclid on floats
        g = _grid_spacing_one([abs(float(v)) for v in d.ravel()],
                              float(np.asarray(tol, dtype=float).ravel()[0]))
        if g == 0.0:
            return np.zeros(d.shape[:-1])
    mag = np.abs(d)
    tol = np.broadcast_to(np.asarray(tol, dtype=float), d.shape[:-1])
    q = mag[..., 0]
    stop = 64 * tol  # remainders this small are the values' own rounding, carried along
    for j in range(1, d.shape[-1]):
        a, b = np.maximum(q, mag[..., j]), np.minimum(q, mag[..., j])
        for _ in range(80):
            more = b > stop
            if not more.any():
                break
            a, b = np.where(more, b, a), np.where(more, np.fmod(a, np.where(more, b, 1.0)), 0.0)
        q = a
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.round(mag / q[..., None])
        # the spacing that fits all of them best (Euclid's carries the error of each step)
        q = np.sum(k * mag, axis=-1) / np.sum(k * k, axis=-1)
        fits = np.all((np.abs(mag - k * q[..., None]) <= 2 * tol[..., None])
                      & (k <= GRID_MULTIPLES), axis=-1)
        ok = fits & (q >= 256 * tol) & np.isfinite(q) & (k.max(axis=-1) >= 16)
    if not ok.any():
        return np.zeros(ok.shape)
    # not a smooth function sampled on a pattern: the residual of the best polynomial through
    # the origin of degree min(K - 1, 3) must be a visible fraction of the spacing
    s = np.asarray(offsets, dtype=float)
    deg = min(d.shape[-1] - 1, 3)
    basis = np.stack([s**p for p in range(1, deg + 1)], axis=-1)  # (K, deg)
    rhs = d.reshape(-1, d.shape[-1]).T
    coef = np.linalg.lstsq(basis, rhs, rcond=None)[0]
    resid = np.abs(rhs - basis @ coef).max(axis=0).reshape(ok.shape)
    ok &= resid >= 0.25 * q
    return np.where(ok, q, 0.0)


def _grid_spacing_one(mag: list[float], tol: float) -> float:
    """:func:`grid_spacing`'s first test for one entry, on Python floats: the spacing its
    differences' magnitudes ``mag`` lie on to within ``tol`` with at most
    :data:`GRID_MULTIPLES` and at least 16 spacings, or 0 (then there is no grid; otherwise the
    array code decides, with its polynomial test)."""
    q, stop = mag[0], 64.0 * tol
    for m in mag[1:]:
        a, b = (q, m) if q >= m else (m, q)
        for _ in range(80):
            if not b > stop:
                break
            a, b = b, math.fmod(a, b)
        q = a
    if not (q > 0.0 and math.isfinite(q)):
        return 0.0
    k = [round(v / q) for v in mag]
    kk = sum(j * j for j in k)
    if kk == 0:
        return 0.0
    q = sum(j * v for j, v in zip(k, mag, strict=True)) / kk
    fits = all(abs(v - j * q) <= 2 * tol and j <= GRID_MULTIPLES
               for j, v in zip(k, mag, strict=True))
    return q if fits and q >= 256 * tol and math.isfinite(q) and max(k) >= 16 else 0.0


def balanced_step(st: Stencil, noise: Any, fk: Any) -> Any:
    """The step that balances ``st``'s rounding against its truncation, from absolute terms.

    With the noise bound ``N`` of one evaluation and ``|f^(d+p)| = fk`` the error is::

        E(h) = N sum|w| / h^d  +  |C| h^p fk

    smallest at ``h = (d N sum|w| / (p |C| fk))^(1/(p+d))``: ``2 sqrt(N / |f''|)`` for the
    forward difference, ``(3 N / |f'''|)^(1/3)`` for the central one. ``fk`` NaN or 0 (no
    truncation visible) gives inf: any step the function was looked at over will do.

    Examples
    --------
    >>> h = balanced_step(stencil("central", 1, 2), EPS, 1.0)
    >>> bool(abs(h - (3 * EPS) ** (1 / 3)) < 1e-18)
    True
    """
    d, p = st.deriv, st.order
    num = d * np.asarray(noise, dtype=float) * st.abs_weight_sum
    den = p * abs(float(st.error_coef)) * np.asarray(fk, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(den > 0, (num / np.where(den > 0, den, 1.0)) ** (1.0 / (p + d)), np.inf)
    return h if np.ndim(h) else float(h)


def error_bound(st: Stencil, h: Any, noise: Any, fk: Any) -> tuple[Any, Any]:
    """``(truncation, rounding)`` of ``st`` at step ``h``: ``|C| h^p fk`` and
    ``N sum|w| / h^d`` (the bound: every sample's noise at its worst).

    Examples
    --------
    >>> t, r = error_bound(stencil("central", 1, 2), 1e-5, EPS, 1.0)
    >>> f"{float(t):.4g}, {float(r):.4g}"  # h^2/6 |f'''| and eps/h
    '1.667e-11, 2.22e-11'
    """
    h = np.asarray(h, dtype=float)
    fk = np.asarray(fk, dtype=float)
    noise = np.asarray(noise, dtype=float)
    with np.errstate(all="ignore"):
        trunc = abs(float(st.error_coef)) * h**st.order * fk
        rounding = noise * st.abs_weight_sum / h**st.deriv
        if not (np.all(np.isfinite(trunc)) and np.all(np.isfinite(rounding))):
            # steps of 1e300 (|x| that large): h^p overflows where h^p fk does not, and
            # inf * 0 would be NaN; the products in logarithms (0 stays 0)
            trunc = np.where(fk == 0, 0.0, abs(float(st.error_coef)) * np.exp(
                st.order * np.log(h) + np.log(fk)))
            rounding = np.where(noise == 0, 0.0, st.abs_weight_sum * np.exp(
                np.log(noise) - st.deriv * np.log(h)))
    return trunc, rounding


# ============================================================================ step choice

FLAT = 64.0
"""Pilot values within ``FLAT`` noise bounds of ``f(x)``: f is flat to its own noise."""

VISIBLE = 10.0
"""A pilot's higher difference shows truncation when it is this many times its noise bound."""


PILOT_OFFSETS = {"symmetric": (-2.0, -1.0, 1.0, 2.0), "central": (-1.0, 1.0, 2.0),
                 "forward": (1.0, 2.0), "backward": (-1.0, -2.0)}
"""Where each pilot samples, in units of its step (``f(x)`` is always known besides)."""

PILOT_ORDER = {"symmetric": 3, "central": 3, "forward": 2, "backward": 2}
"""The derivative each pilot's higher difference measures."""


def pilot_length(kind: str, v: Sequence[Any], f0: Any, h: Any, noise: Any,
                 lanes: Lanes = ARRAYS) -> tuple[Any, Any, Any, Any, Any]:
    """What a pilot stencil's samples show: the length on which ``f`` varies, and more.

    ``L = (|f| / |f^(k)|)^(1/k)`` from the pilot's higher difference: where that is below its
    own noise (``noise`` bounds the noise of one evaluation, absolute), or every sample is
    within :data:`FLAT` noise bounds of ``f(x)`` (f flat to its noise), no truncation is
    visible and ``L`` is NaN.

    Parameters
    ----------
    kind : {"symmetric", "central", "forward", "backward"}
        The samples ``v``: at ``x - 2h, x - h, x + h, x + 2h`` (``f'''``, and the fourth
        difference through ``f(x)``, which shows a kink the outer points straddle); at
        ``x - h, x + h, x + 2h`` (``f'''`` at ``x + h/2``, to O(h)); at ``x +- h, x +- 2h``
        (``f''``).
    v : sequence
        One sample per offset of :data:`PILOT_OFFSETS` ``[kind]``: floats, or ``(E, m)``
        arrays for ``E`` entries.
    f0 : float or ndarray
        ``f(x)``: a float, or ``(m,)``.
    h : float or ndarray
        The pilot step(s): a float, or ``(E,)``.
    noise : float or ndarray
        The noise bound of one evaluation: a float, or ``(E, m)``.
    lanes : FLOATS or ARRAYS

    Returns
    -------
    length, short, fscale, mag, spread
        ``L``; the shortest length any of the differences shows (what a step must resolve);
        ``max |f|`` over the samples; ``|f^(k)|`` as the higher difference measured it (NaN
        where no truncation is visible); and ``max |v - f(x)|``, the variation the samples
        show.
    """
    top, most = lanes.top, lanes.most
    fscale = most(top(abs(f0)), *[top(abs(t)) for t in v])
    spread = most(*[top(abs(t - f0)) for t in v])
    hc = lanes.col(h)
    big = top(noise)
    if kind == "symmetric":
        deriv = (v[3] - 2 * v[2] + 2 * v[1] - v[0]) / (2 * hc**3)
        floor = VISIBLE * 6 * big / (2 * h**3)
        k = 3
    elif kind == "central":  # x - h, x, x + h, x + 2h: f''' at x + h/2, to O(h)
        deriv = (v[2] - 3 * v[1] + 3 * f0 - v[0]) / hc**3
        floor = VISIBLE * 8 * big / h**3
        k = 3
    else:
        deriv = (v[1] - 2 * v[0] + f0) / hc**2
        floor = VISIBLE * 4 * big / h**2
        k = 2
    mag = top(abs(deriv))
    # f flat to its noise (x - ((3 + x) - 3): values 4e-16 apart): its differences are noise
    # however significant they look next to |f| ~ 1e-16, and an L taken from them would
    # shrink with every pilot step; no truncation is visible
    rough = lanes.not_(spread <= FLAT * big)
    visible = (mag > floor) & rough
    length = lanes.root(visible, fscale, mag, k)
    mag = lanes.root(visible, mag, 1.0, 1)
    if kind != "symmetric":
        return length, length, fscale, mag, spread
    # the fourth difference through f(x) too: a kink or a jump close to x that the four outer
    # points straddle (all of them on one smooth branch, f(x) on another) leaves the third
    # difference small and shows here only
    mag4 = top(abs(v[0] - 4 * v[1] + 6 * f0 - 4 * v[2] + v[3])) / h**4
    l4 = lanes.root((mag4 > VISIBLE * 16 * big / h**4) & rough, fscale, mag4, 4)
    return length, lanes.fmin(length, l4), fscale, mag, spread


# ============================================================================ extrapolation

TRUNCATION_SAFETY = 4.0
"""Richardson's truncation estimate is ``|T[k][j] - T[k-1][j]| * min(1, S / (2^e - 1))``."""

class Expansion:
    """The powers of ``h`` in a difference's error expansion, and Neville's constants for
    them (steps halving each level), built once.

    Attributes
    ----------
    powers : tuple of int
        ``e_1, e_2, ...``: column ``j`` of the tableau removes ``h^e_j``.
    factors : list of float
        ``2^e_j - 1``, the divisors of the recurrence.
    shrink : list of float
        ``min(1, S / (2^e_j - 1))``: the truncation estimate's factor for column ``j``.
    """

    __slots__ = ("coefs", "factors", "powers", "shrink")

    def __init__(self, powers: Sequence[int]) -> None:
        self.powers = tuple(powers)
        self.factors = [2.0**e - 1.0 for e in self.powers]
        self.shrink = [min(1.0, TRUNCATION_SAFETY / f) for f in self.factors]
        self.coefs: list[list[list[float]]] = []

    def row(self, k: int) -> list[list[float]]:
        """Row ``k`` of the tableau as coefficients on ``D_0 .. D_k``: entry ``j`` is
        ``sum_i c[j][i] D_i``, the same for every entry and every call (built once)."""
        while len(self.coefs) <= k:
            n = len(self.coefs)
            crow = [[0.0] * n + [1.0]]
            for j in range(1, n + 1):
                prev = [*self.coefs[n - 1][j - 1], 0.0]
                crow.append([c + (c - p) / self.factors[j - 1]
                             for c, p in zip(crow[j - 1], prev, strict=True)])
            self.coefs.append(crow)
        return self.coefs[k]


EVEN_POWERS = Expansion(range(2, 80, 2))
"""The error expansion of a central difference: ``h^2, h^4, h^6, ...``."""

ALL_POWERS = Expansion(range(2, 40))
"""The error expansion of a second-order one-sided difference: ``h^2, h^3, h^4, ...``."""


class Extrapolation:
    """Richardson extrapolation of differences ``D(h_k)``, ``h_k = h_0 / 2^k``, to ``h -> 0``.

    Neville's tableau ``T[k][j] = T[k][j-1] + (T[k][j-1] - T[k-1][j-1]) / (2^e_j - 1)``
    removes one power ``e_j`` of the error expansion per column. Each level adds one row; the
    candidate of row ``k`` is its entry with the smallest error estimate, and the best
    candidate so far is kept. The estimate of ``T[k][j]`` is

    * truncation: its distance to ``T[k-1][j]`` (the same extrapolation one step coarser,
      whose error is about ``2^e`` times larger), times ``min(1, S / (2^e - 1))``
      (``S`` = :data:`TRUNCATION_SAFETY`);
    * plus rounding: ``sqrt(sum_i (c_i noise_i)^2)``, the noise of each ``D_i`` amplified by
      the entry's coefficients ``c_i`` on it.

    An entry stops (``active`` False) once the best estimate has not improved for two levels,
    or has converged (rounding dominates it: smaller steps only add noise). A finer level whose
    still truncation-dominated estimate is far from the best one discredits it (two error
    bounds that far apart cannot both hold: the coarse agreement was an accident of steps too
    large for the function) and the sequence goes on from there (unless ``discredit=False``).

    One object serves a batch of entries, each with ``m`` outputs that share a step and a
    verdict (``d`` of shape ``(E, m)``), or one scalar entry as Python floats
    (``lanes=FLOATS``): the same code, vectorised or at the speed of scalar arithmetic.

    Attributes
    ----------
    value, error : float or ndarray
        The best candidate per entry and its estimate (NaN and inf before two levels).
    step : float or ndarray
        The step ``h`` of the level that gave it.
    span : float or ndarray
        The largest step its entry combines (``T[k][j]`` reaches back to level ``k - j``; the
        candidate of row ``k`` compares with row ``k - 1``): how far from ``x`` it sampled.
    active : bool or ndarray
        Entries still improving; the caller clears those whose samples failed.

    Examples
    --------
    >>> import math
    >>> ext = Extrapolation(EVEN_POWERS, lanes=FLOATS)  # one scalar entry
    >>> for k in range(6):
    ...     h = 0.5 / 2**k
    ...     d = (math.exp(1 + h) - math.exp(1 - h)) / (2 * h)
    ...     if not ext.add(d, 2 * EPS * math.e / (2 * h), h):
    ...         break
    >>> abs(ext.value - math.e) <= ext.error < 1e-13
    True
    """

    __slots__ = ("active", "discredit", "error", "expansion", "lanes", "noise", "rows", "span",
                 "stale", "step", "steps", "value")

    def __init__(self, expansion: Expansion, shape: tuple[int, int] | None = None,
                 lanes: Lanes = ARRAYS, discredit: bool = True) -> None:
        self.lanes = lanes
        self.discredit = discredit
        self.expansion = expansion
        self.rows: list[list[Any]] = []
        self.noise: list[Any] = []
        self.steps: list[Any] = []
        if lanes is FLOATS:
            self.value, self.error, self.step, self.stale, self.active = \
                math.nan, math.inf, math.nan, 0, True
            self.span = math.nan
        else:
            if shape is None:
                raise ValueError("Extrapolation(lanes=ARRAYS) needs shape=(entries, outputs)")
            self.value, self.error = np.full(shape, np.nan), np.full(shape, np.inf)
            self.step, self.stale = np.full(shape[0], np.nan), np.zeros(shape[0], dtype=int)
            self.span = np.full(shape[0], np.nan)
            self.active = np.ones(shape[0], dtype=bool)

    def add(self, d: Any, level_noise: Any, h: Any) -> Any:
        """Add the level with differences ``d``, the bound on their rounding ``level_noise``
        (broadcastable to ``d``) and step ``h`` (per entry); return ``active``."""
        ex, scalar, noise = self.expansion, self.lanes is FLOATS, self.noise
        k = len(self.rows)
        row = [d]
        self.rows.append(row)
        noise.append(level_noise)
        self.steps.append(h)
        if k == 0:
            return self.active
        prev, factors, shrink, steps = self.rows[k - 1], ex.factors, ex.shrink, self.steps
        even = ex is EVEN_POWERS
        for j in range(1, k + 1):
            fac = _even_factor(steps[k - j], h, factors[j - 1], scalar) if even \
                else factors[j - 1]
            row.append(row[j - 1] + (row[j - 1] - prev[j - 1]) / fac)
        crow = ex.coefs[k] if k < len(ex.coefs) else ex.row(k)
        lanes = self.lanes
        norm = lanes.norm
        # the candidate of this row: the entry whose estimate is smallest. On floats the rules
        # read as Python's if (a call per comparison would cost more than the rules)
        value, err, trunc, span = math.nan, math.inf, math.inf, math.nan
        for j in range(k):  # T[k][j] with T[k-1][j] present
            t = abs(row[j] - prev[j]) * shrink[j]
            if scalar:
                if t < err:  # else it cannot win, whatever its rounding bound
                    e = t + norm(crow[j], noise)
                    if e < err:
                        value, err, trunc, span = row[j], e, t, steps[k - 1 - j]
            else:
                e = t + norm(crow[j], noise)
                value, err, trunc, span = lanes.where(
                    lanes.top(e) < lanes.top(err), (row[j], e, t, steps[k - 1 - j]),
                    (value, err, trunc, span))
        if k == 2:  # two levels that agreed by accident (see _unconfirmed): forget them
            self.error = _unconfirmed(self, row[0], prev[0], norm(crow[0], noise))
        # the finest difference itself far outside the best entry's bound: that bound was an
        # accident of steps too large for f (a kink crossed, then not): go on from here
        off = abs(row[0] - self.value) > 2.0 * self.error + 2.0 * norm(crow[0], noise)
        if scalar:
            if err < self.error or off or \
                    (self.discredit and _discredits(value, err, trunc, self)):
                self.value, self.error, self.step, self.stale = value, err, h, 0
                self.span = span
                # converged: see below (two levels alone are no verdict: _unconfirmed)
                self.active = k < 2 or not trunc <= 0.5 * err
            else:
                self.stale += 1
                self.active = self.stale < 2
            return self.active
        better = (lanes.top(err) < lanes.top(self.error)) | lanes.any(off)
        if self.discredit:
            better = better | lanes.any(_discredits(value, err, trunc, self))
        better = self.active & better
        self.value, self.error, self.step, self.stale, self.span = lanes.where(
            better, (value, err, h, 0, span),
            (self.value, self.error, self.step, self.stale + 1, self.span))
        # converged: rounding dominates, smaller steps only add noise (not on two levels
        # alone: a third one confirms them, see _unconfirmed)
        converged = better & lanes.all(trunc <= 0.5 * err) & (k >= 2)
        self.active = self.active & (self.stale < 2) & ~converged
        return self.active


def _even_factor(coarse: Any, fine: Any, nominal: float, scalar: bool) -> Any:
    """Neville's factor ``(h_coarse / h_fine)^2 - 1`` for an expansion in even powers, from
    the steps actually taken: ``x +- h`` rounds to the float grid, so at ``x = 3`` a step of
    ``2.3e-9`` is off by ``2e-7`` of itself, and the nominal factor (``4^j - 1``) then
    mis-extrapolates by ``2 c h^2`` times that -- next to a branch point (``sqrt(x - 3)`` at
    ``3 + 1e-7``) 100x the estimate. ``nominal`` where a step is not positive and finite."""
    if scalar:
        r = coarse / fine if fine > 0 else math.nan
        return r * r - 1.0 if r > 1.0 and r < math.inf else nominal
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.asarray(coarse, dtype=float) / np.asarray(fine, dtype=float)
    fac = np.where(np.isfinite(r) & (r > 1.0), r * r - 1.0, nominal)
    return fac[..., None] if fac.ndim else fac


def _unconfirmed(ext: Extrapolation, d2: Any, d1: Any, noise: Any) -> Any:
    """``ext.error``, made infinite where the third level's difference ``d2`` contradicts the
    agreement of the first two: ``D(h) = f' + c h^2`` moves by a quarter as much from the
    second level to the third as from the first to the second, so a step four times larger
    than the agreement of the first two (and the noise) says that agreement was an accident --
    ``arctan(tan(x))`` sampled across its jumps at the same offset twice gives two equal
    quotients far from f' -- and the sequence goes on without it."""
    accident = abs(d2 - d1) > 4.0 * ext.error + 2.0 * noise
    if ext.lanes is FLOATS:
        return math.inf if accident else ext.error
    return np.where(np.any(accident, axis=-1, keepdims=True) if np.ndim(accident) > 1
                    else accident, np.inf, ext.error)


def _discredits(value: Any, err: Any, trunc: Any, ext: Extrapolation) -> Any:
    """Whether a finer level's candidate shows the best one so far was a coincidence.

    Two estimates whose error bounds are far apart cannot both hold. When the finer one is
    still truncation-dominated (not rounding noise), the coarser agreement was an accident of
    steps too large for the function -- cos(tan(tan(tan x))) near a pole gives two levels
    agreeing to 0.06 on 14.85 where f' = 64.98 -- and the sequence starts over from the finer
    level instead of stopping on the accident.
    """
    return (trunc > 0.5 * err) & (abs(value - ext.value) > 4.0 * (err + ext.error))
