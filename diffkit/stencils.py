"""Finite-difference stencils of any accuracy order, from Fornberg's recursion in exact rationals.

A stencil approximates the ``d``-th derivative from samples at offsets ``s_j`` (in units of
the step ``h``)::

    f^(d)(x) ~ sum_j w_j f(x + s_j h) / h^d  +  C h^p f^(d+p)(x)  + ...

The weights come from Fornberg's recursion (Math. Comp. 51, 1988) run on
:class:`fractions.Fraction`, so they are exact at any order; a Vandermonde solve in floating
point loses digits fast as the order grows (findiff #70). ``C`` (the leading error
coefficient) is exact too, which lets the step be chosen for the order (see
:func:`optimal_step`).

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
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .errors import OrderError

__all__ = ["KINDS", "MAX_ORDER", "Stencil", "fornberg", "fornberg_float", "optimal_step",
           "stencil"]

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
