"""numpy.linalg: inverses, solves, determinants and factorizations (``dnp.linalg``).

The adjoints are the standard ones: M. B. Giles, "Collected matrix derivative results for
forward and reverse mode algorithmic differentiation" (2008); I. Murray, "Differentiation of
the Cholesky decomposition" (2016); J. Townsend, "Differentiating the singular value
decomposition" (2016); H. Walter and L. Lehmann, "Algorithmic differentiation of linear
algebra functions with application in optimum experimental design" (2009) for QR; G. H. Golub
and V. Pereyra (1973) for the pseudo-inverse. Every rule acts on stacks ``(..., m, n)`` and is
written with ``dnp`` primitives, so it is differentiable again (Hessians by
reverse-over-reverse).

**One output per primitive.** A factorization numpy returns as a tuple is a *composite* of
one primitive per factor: ``eigh`` is ``(eigvalsh, eigh_vectors)``, ``svd`` is
``(svd_u, svdvals, svd_vh)``, ``qr`` is ``(qr_q, qr_r)``, ``slogdet`` is ``(sign,
logabsdet)`` with the sign a plain value (it has no derivative), ``lstsq`` is built on
``pinv``. Each factor's rule recomputes the other factors it needs (a primitive call, so the
rule stays differentiable); the extra factorizations cost little at the sizes where
comparing derivative methods is the point.

**Symmetric input.** ``cholesky``, ``eigh`` and ``eigvalsh`` read one triangle of ``a``
(numpy's ``UPLO``/``upper``) and ignore the other; the derivative is the derivative of that
function, the one every finite difference of numpy sees: the cotangent of an off-diagonal
entry of the triangle read is ``G_ij + G_ji`` of the symmetric matrix's cotangent, the other
triangle gets zero (autograd's convention; JAX's symmetrizes instead). Composed with a
symmetric parameterization (``(b + b.T) / 2``, ``b @ b.T + c I``) both conventions agree.

**Repeated eigenvalues and singular values.** Their vectors are not unique, so the vector
rules (which divide by the gaps) raise :class:`~diffkit.errors.DomainError` naming the tie.
The values themselves take the tie convention of ``max``: the derivative of a repeated
value is the mean over its cluster (exact for any function symmetric in the cluster: the
trace, ``log det``), and a zero singular value, a kink like ``abs`` at 0, gets 0.

**Symbolic.** inv, solve, det, logabsdet, cholesky, pinv (full rank) and matrix_power have
closed forms, expanded by sympy up to :data:`SYMBOLIC_MAX` x :data:`SYMBOLIC_MAX` matrices
(an n x n determinant has n! terms); eigenvalues (roots of a degree-n polynomial), SVD, QR
and lstsq refuse with a message naming the methods that work.
"""

from __future__ import annotations

import operator
from collections import namedtuple
from typing import Any

import numpy as np

from ..core import Domain, Tracer, innermost
from ..errors import DomainError, UnsupportedPrimitiveError
from ._stanza import (
    is_traced,
    like,
    ops,
    primitive,
    shape_of,
    symbolic_refusal,
    sympy_module,
    unbroadcast,
)

SYMBOLIC_MAX = 5
"""Largest n for which an n x n matrix is expanded symbolically (120 terms per determinant)."""

GAP_RTOL = 1e-10
"""Eigenvalues (singular values) closer than ``GAP_RTOL * max|value|`` count as repeated: LAPACK
computes a repeated value to about ``n eps |a|``, far below this; a larger gap is real, and
``1/gap`` is the true (large) derivative of the vectors."""

EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])
QRResult = namedtuple("QRResult", ["Q", "R"])
SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])

_METHODS_THAT_WORK = ("use method='reverse-mode' or 'forward-mode' (exact to rounding) or a "
                      "numerical method such as 'richardson'")

# ============================================================================ helpers
# (the ``signature`` functions below carry numpy's parameters unannotated: a refused call's
# message prints them as diffkit's supported call)


def _refuse(message: str) -> UnsupportedPrimitiveError:
    return UnsupportedPrimitiveError(message)


_plain = innermost  # the number under any nesting of tracers (object arrays: symbolic)


def _mT(x: Any) -> Any:
    """Swap the last two axes (the transpose of every matrix of a stack)."""
    nd = len(shape_of(x))
    return ops.transpose(x, (*range(nd - 2), nd - 1, nd - 2))


def _col(v: Any) -> Any:
    """``(..., n)`` as a stack of columns ``(..., n, 1)``."""
    return ops.reshape(v, (*shape_of(v), 1))


def _row(v: Any) -> Any:
    """``(..., n)`` as a stack of rows ``(..., 1, n)``."""
    s = shape_of(v)
    return ops.reshape(v, (*s[:-1], 1, s[-1]))


def _diag(x: Any) -> Any:
    """The diagonals ``(..., n)`` of a stack of square matrices."""
    i = np.arange(shape_of(x)[-1])
    return ops.getitem(x, (Ellipsis, i, i))


def _expand2(g: Any) -> Any:
    """A per-matrix value ``(...)`` shaped to scale a stack of matrices ``(..., 1, 1)``."""
    return ops.reshape(g, (*shape_of(g), 1, 1))


def _masks(n: int, lower: bool) -> tuple[np.ndarray, np.ndarray]:
    """The triangle numpy reads (with the diagonal) and its strict part."""
    ones = np.ones((n, n))
    return (np.tril(ones), np.tril(ones, -1)) if lower else (np.triu(ones), np.triu(ones, 1))


def _sym(t: Any, lower: bool) -> Any:
    """The symmetric matrix numpy sees in ``t`` when it reads one triangle of it."""
    keep, strict = _masks(shape_of(t)[-1], lower)
    return t * keep + _mT(t * strict)


def _fold(y: Any, lower: bool) -> Any:
    """The adjoint of :func:`_sym`: a symmetric matrix's cotangent ``y`` as the cotangent of
    the triangle read (``y_ii`` on the diagonal, ``y_ij + y_ji`` off it, 0 elsewhere)."""
    keep, strict = _masks(shape_of(y)[-1], lower)
    return y * keep + _mT(y) * strict


def _uplo(uplo: Any, where: str) -> bool:
    """``UPLO`` as ``lower``; anything but 'L'/'U' is refused (numpy refuses it too)."""
    if uplo not in ("L", "U", "l", "u"):
        raise _refuse(f"numpy.linalg.{where}(a, UPLO={uplo!r}): UPLO must be 'L' or 'U'")
    return uplo in ("L", "l")


def _tolerance(w: np.ndarray) -> np.ndarray:
    """``GAP_RTOL`` times the largest value of each matrix, shaped ``(..., 1)``."""
    return GAP_RTOL * np.max(np.abs(w), axis=-1, keepdims=True, initial=0.0)


def _clusters(w: np.ndarray) -> np.ndarray:
    """Cluster labels of sorted values ``(..., n)``: neighbours within the tolerance share one."""
    gaps = np.abs(np.diff(w, axis=-1)) > _tolerance(w)
    zero = np.zeros((*w.shape[:-1], 1), dtype=int)
    return np.concatenate([zero, np.cumsum(gaps, axis=-1)], axis=-1)


def _tie_average(v: Any, values: Any, zero_kink: bool = False) -> Any:
    """``v`` (a tangent or cotangent of the values) averaged over each cluster of repeated
    values, and 0 at zero singular values (``zero_kink``); ``v`` itself when there is no tie."""
    w = np.asarray(_plain(values), dtype=float)
    labels = _clusters(w)
    small = np.abs(w) <= _tolerance(w) if zero_kink else np.zeros(w.shape, dtype=bool)
    if not small.any() and np.all(np.diff(labels, axis=-1) > 0):
        return v
    same = (labels[..., :, None] == labels[..., None, :]).astype(float)
    avg = same / np.sum(same, axis=-1, keepdims=True)
    avg = avg * ~small[..., :, None] * ~small[..., None, :]
    return ops.sum(avg * _row(v), axis=-1)


def _gap_inverse(w: Any, squared: bool, what: str) -> Any:
    """``F_ij = 1 / (w_j - w_i)`` (``w_j^2 - w_i^2`` if ``squared``) off the diagonal, 0 on it;
    :class:`DomainError` naming the first tie, where the vectors are not unique."""
    wv = np.asarray(_plain(w), dtype=float)
    labels = _clusters(wv)
    ties = np.argwhere(np.diff(labels, axis=-1) == 0)
    if ties.size:
        idx = tuple(int(k) for k in ties[0])
        lo, k = idx[:-1], idx[-1]
        raise DomainError(
            f"{what}: the values {float(wv[(*lo, k)])!r} and {float(wv[(*lo, k + 1)])!r} "
            f"(entries {k} and "
            f"{k + 1}{f' of matrix {list(lo)}' if lo else ''}) are repeated, so their vectors "
            f"are not unique and have no derivative (the rule divides by the gap); the values "
            f"alone are differentiable (np.linalg.eigvalsh, np.linalg.svdvals; forward mode "
            f"differentiates every output of a factorization, used or not), or perturb the "
            f"matrix so the values are distinct")
    n = wv.shape[-1]
    eye = np.eye(n)
    sq = w * w if squared else w
    return (1.0 - eye) / (_row(sq) - _col(sq) + eye)


def _nonzero(s: Any, what: str) -> None:
    sv = np.asarray(_plain(s), dtype=float)
    if np.any(sv <= _tolerance(sv)):
        raise DomainError(
            f"{what}: a singular value is 0 (the matrix is rank deficient), so the vectors of "
            f"a non-square matrix have no derivative (the rule divides by the singular values); "
            f"differentiate at a full-rank matrix")


def _guarded(name: str, fn: Any, needs: str) -> Any:
    """``fn`` with numpy's LinAlgError (singular, not positive definite) as a DomainError."""

    def numeric(*args: Any, **params: Any) -> Any:
        try:
            return fn(*args, **params)
        except np.linalg.LinAlgError as exc:
            shapes = ", ".join(f"shape {np.shape(a)}" for a in args)
            raise DomainError(
                f"numpy.linalg.{name} of an array of {shapes}: {exc}; {name} requires "
                f"{needs}; evaluate the function at a point inside that domain") from None

    numeric.__name__ = f"{name}_numeric"
    return numeric


# ---------------------------------------------------------------------------- symbolic


def _sympy_matrix(a2: np.ndarray) -> Any:
    return sympy_module().Matrix(np.asarray(a2, dtype=object).tolist())


def _object(m: Any) -> np.ndarray:
    return np.array(m.tolist(), dtype=object)


def _check_size(name: str, n: int) -> None:
    if n > SYMBOLIC_MAX:
        raise _refuse(
            f"numpy.linalg.{name} of a {n} x {n} matrix: method='symbolic' expands the closed "
            f"form only up to {SYMBOLIC_MAX} x {SYMBOLIC_MAX} (an n x n determinant has n! "
            f"terms); {_METHODS_THAT_WORK}")


def _per_matrix(fn: Any, a: Any) -> Any:
    """``fn`` (a sympy Matrix -> object array or expression) on every matrix of a stack."""
    a = np.asarray(a, dtype=object)
    batch = a.shape[:-2]
    results = {idx: fn(_sympy_matrix(a[idx])) for idx in np.ndindex(batch)}
    if not batch:
        return results[()]
    first = np.asarray(results[next(iter(results))], dtype=object)
    out = np.empty(batch + first.shape, dtype=object)
    for idx, r in results.items():
        out[idx] = r
    return out


def _det_expr(m: Any) -> Any:
    if m.is_lower or m.is_upper:  # a Cholesky factor in a rule: the product of the diagonal
        return sympy_module().Mul(*m.diagonal())
    return m.det(method="berkowitz")


def _lower_inverse(m: Any) -> Any:
    """Forward substitution: the inverse of a lower-triangular matrix stays small (the
    adjugate of a Cholesky factor of symbols multiplies out nested square roots)."""
    sp = sympy_module()
    n = m.shape[0]
    x = sp.zeros(n, n)
    for i in range(n):
        x[i, i] = 1 / m[i, i]
        for j in range(i):
            x[i, j] = -sp.Add(*(m[i, k] * x[k, j] for k in range(j, i))) / m[i, i]
    return x


def _inverse(m: Any) -> Any:
    """adj(m) / det(m): division-free expansion, one shared denominator; triangular matrices
    by substitution."""
    if m.is_lower:
        return _lower_inverse(m)
    if m.is_upper:
        return _lower_inverse(m.T).T
    return m.adjugate(method="berkowitz") / _det_expr(m)


def _symbolic_inv(a: Any) -> Any:
    _check_size("inv", np.shape(a)[-1])
    return _per_matrix(lambda m: _object(_inverse(m)), a)


def _symbolic_det(a: Any) -> Any:
    _check_size("det", np.shape(a)[-1])
    return _per_matrix(_det_expr, a)


def _symbolic_logabsdet(a: Any) -> Any:
    _check_size("slogdet", np.shape(a)[-1])
    sp = sympy_module()
    return _per_matrix(lambda m: sp.log(sp.Abs(_det_expr(m))), a)


def _symbolic_solve(a: Any, b: Any) -> Any:
    _check_size("solve", np.shape(a)[-1])
    a = np.asarray(a, dtype=object)
    b = np.asarray(b, dtype=object)
    if b.ndim == 1:  # numpy 2: a 1-D b is one vector for every matrix of the stack
        return _per_matrix(lambda m: _object(_inverse(m) * _sympy_matrix(b[:, None]))[:, 0], a)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, batch + a.shape[-2:])
    b = np.broadcast_to(b, batch + b.shape[-2:])
    out = np.empty(batch + b.shape[-2:], dtype=object)
    for idx in np.ndindex(batch):
        out[idx] = _object(_inverse(_sympy_matrix(a[idx])) * _sympy_matrix(b[idx]))
    return out


def _cholesky_expr(m: Any) -> Any:
    """Cholesky-Banachiewicz on the lower triangle of m (the upper one is never read)."""
    sp = sympy_module()
    n = m.shape[0]
    low = sp.zeros(n, n)
    for j in range(n):
        low[j, j] = sp.sqrt(m[j, j] - sum((low[j, k] ** 2 for k in range(j)), sp.Integer(0)))
        for i in range(j + 1, n):
            low[i, j] = (m[i, j] - sum((low[i, k] * low[j, k] for k in range(j)),
                                       sp.Integer(0))) / low[j, j]
    return low


def _symbolic_cholesky(a: Any, upper: bool = False) -> Any:
    _check_size("cholesky", np.shape(a)[-1])
    if upper:  # numpy reads the upper triangle and returns L^T
        return _per_matrix(lambda m: _object(_cholesky_expr(m.T).T), a)
    return _per_matrix(lambda m: _object(_cholesky_expr(m)), a)


def _symbolic_pinv(a: Any, rcond: float = 1e-15) -> Any:
    rows, cols = np.shape(a)[-2:]
    _check_size("pinv", min(rows, cols))
    if rows == cols:
        return _per_matrix(lambda m: _object(_inverse(m)), a)
    if rows > cols:  # full column rank: (a^T a)^-1 a^T
        return _per_matrix(lambda m: _object(_inverse(m.T * m) * m.T), a)
    return _per_matrix(lambda m: _object(m.T * _inverse(m * m.T)), a)


# ============================================================================ inverse, solve


_SQUARE = "a nonsingular square matrix (or a stack of them)"
_A2 = np.array([[2.0, 0.5], [-0.3, 1.4]])
_A222 = np.array([_A2, [[1.5, -0.2], [0.4, 2.2]]])
_A3 = np.array([[2.0, 0.3, -0.4], [0.5, 1.7, 0.2], [-0.1, 0.6, 2.3]])
_A233 = np.array([_A3, [[1.5, -0.2, 0.3], [0.4, 2.2, -0.5], [0.1, 0.3, 1.8]]])


def _inv_vjp(g: Any, ans: Any, a: Any) -> Any:
    # d(A^-1) = -A^-1 dA A^-1, so A_bar = -A^-T G A^-T
    ti = _mT(ans)
    return -ops.matmul(ops.matmul(ti, g), ti)


inv = primitive(
    "inv", _guarded("inv", np.linalg.inv, _SQUARE), elementwise=False, namespace="linalg",
    symbolic=_symbolic_inv,
    vjp=(_inv_vjp,),
    jvp=(lambda t, ans, a: -ops.matmul(ops.matmul(ans, t), ans),),
    domain=Domain(_SQUARE),
    # 2 x 2 and a 2-stack of them: the registry tests' order-2 sympy reference of a 3 x 3
    # inverse alone takes 20 s (tests/test_surface_linalg.py covers 3 x 3 and 2 x 3 x 3)
    samples=(((_A2,), {}), ((_A222,), {})),
    derivative="d(A^-1) = -A^-1 dA A^-1",
)


def _solve_vector(a: Any, v: Any) -> Any:
    """``solve(a, v)`` for a stack of vectors ``v`` ``(..., n)`` (numpy 2 reads a 2-D ``v`` as
    a matrix, so each vector goes in as a column)."""
    if len(shape_of(v)) == 1:
        return solve(a, v)
    return ops.reshape(solve(a, _col(v)), shape_of(v)[:-1] + shape_of(a)[-1:])


def _is_vector_rhs(b: Any) -> bool:
    return len(shape_of(b)) == 1  # numpy 2's rule: only a 1-D b is a vector


def _solve_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    # x = A^-1 b: A_bar = -A^-T G x^T (an outer product per matrix for a vector b)
    if _is_vector_rhs(b):
        gb = _solve_vector(_mT(a), g)
        return unbroadcast(-(_col(gb) * _row(ans)), a)
    gb = solve(_mT(a), g)
    return unbroadcast(-ops.matmul(gb, _mT(ans)), a)


def _solve_vjp_b(g: Any, ans: Any, a: Any, b: Any) -> Any:
    if _is_vector_rhs(b):
        return unbroadcast(_solve_vector(_mT(a), g), b)
    return unbroadcast(solve(_mT(a), g), b)


def _solve_jvp_a(t: Any, ans: Any, a: Any, b: Any) -> Any:
    # dx = -A^-1 dA x
    if _is_vector_rhs(b):
        return like(-_solve_vector(a, ops.reshape(ops.matmul(t, _col(ans)), shape_of(ans))), ans)
    return like(-solve(a, ops.matmul(t, ans)), ans)


def _solve_jvp_b(t: Any, ans: Any, a: Any, b: Any) -> Any:
    return like(solve(a, t), ans)


solve = primitive(
    "solve", _guarded("solve", np.linalg.solve, _SQUARE), kind="binary", elementwise=False,
    namespace="linalg", symbolic=_symbolic_solve,
    vjp=(_solve_vjp_a, _solve_vjp_b), jvp=(_solve_jvp_a, _solve_jvp_b),
    domain=Domain(_SQUARE),
    samples=(((_A2, np.array([0.7, -1.2])), {}),
             ((_A2, np.array([[0.4, -1.0, 0.3], [0.8, -0.6, 0.2]])), {}),
             ((_A222, np.array([0.5, -0.3])), {}),
             ((_A2, np.array([[[0.4, -1.0], [0.3, 0.8]], [[1.1, 0.2], [-0.5, 0.6]]])), {})),
    derivative="x = A^-1 b: dx = A^-1 (db - dA x)",
)

# ============================================================================ determinants


def _det_vjp(g: Any, ans: Any, a: Any) -> Any:
    # d det A = det A tr(A^-1 dA): A_bar = g det(A) A^-T
    return _expand2(g * ans) * _mT(inv(a))


def _det_jvp(t: Any, ans: Any, a: Any) -> Any:
    return ans * ops.sum(_mT(inv(a)) * t, axis=(-2, -1))


det = primitive(
    "det", np.linalg.det, elementwise=False, namespace="linalg", symbolic=_symbolic_det,
    vjp=(_det_vjp,), jvp=(_det_jvp,),
    derivative_domain=Domain("a nonsingular matrix (the rule uses inv(a))"),
    samples=(((_A2,), {}), ((_A3,), {}), ((_A233,), {})),
    derivative="d det A = det(A) tr(A^-1 dA)",
)


def _logabsdet_numeric(a: Any) -> Any:
    out = np.linalg.slogdet(a)[1]
    if np.any(np.isneginf(out)) and np.geterr()["divide"] == "call":  # counted, like numpy's
        np.geterrcall()("divide by zero", 0)
    elif np.any(np.isneginf(out)) and np.geterr()["divide"] == "raise":
        raise DomainError(
            f"numpy.linalg.slogdet of a singular matrix (shape {np.shape(a)}): log|det| is "
            f"-inf there; evaluate the function at a point where the matrix is nonsingular")
    return out


logabsdet = primitive(
    "logabsdet", _logabsdet_numeric, elementwise=False, namespace="linalg",
    symbolic=_symbolic_logabsdet,
    # numpy's complex slogdet is log|det|, not the analytic continuation log(det), and the
    # complex step calls numpy's function directly once f is checked: not analytic here
    analytic=False,
    vjp=(lambda g, ans, a: _expand2(g) * _mT(inv(a)),),
    jvp=(lambda t, ans, a: ops.sum(_mT(inv(a)) * t, axis=(-2, -1)),),
    domain=Domain("det(a) != 0"),
    samples=(((_A2,), {}), ((np.array([[-2.0, 0.5], [0.3, 1.4]]),), {}), ((_A3,), {}),
             ((_A233,), {})),
    derivative="d log|det A| = tr(A^-1 dA)",
)


def _slogdet_composite(a: Any) -> Any:
    value = _plain(a)
    if np.asarray(value).dtype == object:  # symbolic: the sign as an expression
        sign = ops.sign(det(a))
    else:  # a plain value: the sign is locally constant, it has no derivative
        sign = np.linalg.slogdet(value)[0]
    return SlogdetResult(sign, logabsdet(a))


slogdet = primitive(
    "slogdet", np.linalg.slogdet, signature=lambda a: ((a,), {}),
    composite=_slogdet_composite, namespace="linalg", analytic=False,
    samples=(((_A3,), {}), ((_A233,), {})),
    derivative="(sign, log|det A|): the sign is constant, d log|det A| = tr(A^-1 dA)",
)

# ============================================================================ powers


def _matrix_power_signature(a, n):
    try:
        if isinstance(n, Tracer):
            raise TypeError
        k = operator.index(n)
    except TypeError:
        raise _refuse(f"numpy.linalg.matrix_power(a, n={_plain(n)!r}): n must be a plain "
                      f"integer (numpy requires one too; a traced exponent has no derivative "
                      f"here); for a real power of a symmetric a use np.linalg.eigh") from None
    return (a,), {"n": int(k)}


def _matrix_power_composite(a: Any, n: int) -> Any:
    shape = shape_of(a)
    if n == 0:  # the identity, a constant: zero derivative
        return a * 0.0 + np.broadcast_to(np.eye(shape[-1]), shape)
    if n < 0:
        a, n = inv(a), -n
    result, square = None, a
    while True:  # binary powering, as numpy does: about log2(n) products
        if n & 1:
            result = square if result is None else ops.matmul(result, square)
        n >>= 1
        if not n:
            return result
        square = ops.matmul(square, square)


matrix_power = primitive(
    "matrix_power", np.linalg.matrix_power, signature=_matrix_power_signature,
    composite=_matrix_power_composite, namespace="linalg",
    samples=(((_A3,), {"n": 3}), ((_A3,), {"n": -2}), ((_A233,), {"n": 0})),
    derivative="products of a (or of inv(a) for n < 0): the rules of matmul and inv",
)

# ============================================================================ cholesky


def _cholesky_signature(a, /, *, upper=False):
    return (a,), {"upper": bool(upper)}


_PHI_CACHE: dict[int, np.ndarray] = {}


def _phi(x: Any) -> Any:
    """Murray's Phi: the lower triangle with the diagonal halved."""
    n = shape_of(x)[-1]
    mask = _PHI_CACHE.get(n)
    if mask is None:
        mask = _PHI_CACHE[n] = np.tril(np.ones((n, n))) - 0.5 * np.eye(n)
    return x * mask


def _cholesky_jvp(t: Any, ans: Any, a: Any, upper: bool = False) -> Any:
    # S = L L^T: L^-1 dS L^-T = Phi^-1-split into L^-1 dL + (L^-1 dL)^T, so dL = L Phi(X)
    low = _mT(ans) if upper else ans
    linv = inv(low)
    x = ops.matmul(ops.matmul(linv, _sym(t, lower=not upper)), _mT(linv))
    dlow = ops.matmul(low, _phi(x))
    return _mT(dlow) if upper else dlow


def _cholesky_vjp(g: Any, ans: Any, a: Any, upper: bool = False) -> Any:
    # the adjoint of the JVP: S_bar = L^-T Phi(L^T L_bar) L^-1, folded onto the triangle read
    low, gl = (_mT(ans), _mT(g)) if upper else (ans, g)
    linv = inv(low)
    y = ops.matmul(ops.matmul(_mT(linv), _phi(ops.matmul(_mT(low), gl))), linv)
    return _fold(y, lower=not upper)


_SPD3 = np.array([[4.2, 0.9, -0.6], [0.9, 3.1, 0.4], [-0.6, 0.4, 2.5]])
_SPD2 = np.array([[2.0, 0.6], [0.6, 1.5]])

cholesky = primitive(
    "cholesky", _guarded("cholesky", np.linalg.cholesky, "a symmetric positive definite "
                         "matrix (only its lower triangle is read; upper=True: the upper)"),
    signature=_cholesky_signature, namespace="linalg", symbolic=_symbolic_cholesky,
    analytic=False,  # numpy's complex cholesky is Hermitian (conjugates): not analytic
    vjp=(_cholesky_vjp,), jvp=(_cholesky_jvp,),
    domain=Domain("a symmetric positive definite matrix"),
    samples=(((_SPD2,), {"upper": False}), ((_SPD3,), {"upper": False}),
             ((_SPD3,), {"upper": True}),
             ((np.array([_SPD3, _SPD3 + np.diag([0.5, -0.4, 1.0])]),), {"upper": False})),
    derivative="dL = L Phi(L^-1 dS L^-T), Phi: lower triangle, diagonal halved (Murray 2016)",
)

# ============================================================================ eigh


def _uplo_signature(name: str) -> Any:
    def signature(a, UPLO="L"):
        _uplo(UPLO, name)
        return (a,), {"UPLO": "L" if UPLO in ("L", "l") else "U"}

    return signature


_EIG_REFUSAL = symbolic_refusal(
    "numpy.linalg.eigh / eigvalsh: eigenvalues are the roots of the characteristic polynomial, "
    "which have no closed form for n > 4 (and none diffkit expands for any n), so "
    f"method='symbolic' cannot write them; {_METHODS_THAT_WORK}")


def _eigvalsh_vjp(g: Any, ans: Any, a: Any, UPLO: str = "L") -> Any:
    # dw_i = v_i^T dS v_i: S_bar = V diag(g) V^T
    v = eigh_vectors(a, UPLO=UPLO)
    y = ops.matmul(v * _row(_tie_average(g, ans)), _mT(v))
    return _fold(y, lower=UPLO == "L")


def _eigvalsh_jvp(t: Any, ans: Any, a: Any, UPLO: str = "L") -> Any:
    v = eigh_vectors(a, UPLO=UPLO)
    ds = _sym(t, lower=UPLO == "L")
    return _tie_average(_diag(ops.matmul(ops.matmul(_mT(v), ds), v)), ans)


_SYM3 = np.array([[2.0, 0.4, -0.3], [0.4, 1.0, 0.5], [-0.3, 0.5, -0.7]])
_EIG_SAMPLES = (((np.array([[1.5, 0.4], [0.4, -0.5]]),), {"UPLO": "L"}),
                ((_SYM3,), {"UPLO": "L"}), ((_SYM3,), {"UPLO": "U"}),
                ((np.array([_SYM3, _SPD3]),), {"UPLO": "L"}))

eigvalsh = primitive(
    "eigvalsh", np.linalg.eigvalsh, signature=_uplo_signature("eigvalsh"), namespace="linalg",
    symbolic=_EIG_REFUSAL,
    analytic=False,  # numpy's complex eigh is Hermitian: not the analytic continuation
    vjp=(_eigvalsh_vjp,), jvp=(_eigvalsh_jvp,), samples=_EIG_SAMPLES,
    derivative="dw_i = v_i^T dS v_i (the mean over a cluster of repeated eigenvalues)",
)


def _eigh_vectors_vjp(g: Any, ans: Any, a: Any, UPLO: str = "L") -> Any:
    # dV = V (F o (V^T dS V)), F_ij = 1/(w_j - w_i): S_bar = V (F o (V^T G)) V^T
    f = _gap_inverse(eigvalsh(a, UPLO=UPLO), False, "numpy.linalg.eigh")
    y = ops.matmul(ops.matmul(ans, f * ops.matmul(_mT(ans), g)), _mT(ans))
    return _fold(y, lower=UPLO == "L")


def _eigh_vectors_jvp(t: Any, ans: Any, a: Any, UPLO: str = "L") -> Any:
    f = _gap_inverse(eigvalsh(a, UPLO=UPLO), False, "numpy.linalg.eigh")
    ds = _sym(t, lower=UPLO == "L")
    return ops.matmul(ans, f * ops.matmul(ops.matmul(_mT(ans), ds), ans))


eigh_vectors = primitive(
    "eigh_vectors", lambda a, UPLO="L": np.linalg.eigh(a, UPLO=UPLO)[1],
    signature=_uplo_signature("eigh"), namespace="linalg", symbolic=_EIG_REFUSAL,
    analytic=False, vjp=(_eigh_vectors_vjp,), jvp=(_eigh_vectors_jvp,), samples=_EIG_SAMPLES,
    derivative="dV = V (F o V^T dS V), F_ij = 1/(w_j - w_i) (distinct eigenvalues)",
)


def _eigh_composite(a: Any, UPLO: str = "L") -> Any:
    return EighResult(eigvalsh(a, UPLO=UPLO), eigh_vectors(a, UPLO=UPLO))


eigh = primitive(
    "eigh", np.linalg.eigh, signature=_uplo_signature("eigh"), composite=_eigh_composite,
    namespace="linalg", analytic=False, samples=_EIG_SAMPLES,
    derivative="(eigvalsh(a), eigh_vectors(a))",
)

# ============================================================================ svd


_SVD_REFUSAL = symbolic_refusal(
    "numpy.linalg.svd / svdvals: singular values are square roots of the eigenvalues of "
    "a^T a, roots of a polynomial without a closed form in general, so method='symbolic' "
    f"cannot write them; {_METHODS_THAT_WORK}")


def _svd_parts(a: Any) -> tuple[Any, Any, Any]:
    return svd_u(a), svdvals(a), svd_vh(a)


def _svdvals_vjp(g: Any, ans: Any, a: Any) -> Any:
    # ds_i = u_i^T dA v_i: A_bar = U diag(g) V^T
    return ops.matmul(svd_u(a) * _row(_tie_average(g, ans, zero_kink=True)), svd_vh(a))


def _svdvals_jvp(t: Any, ans: Any, a: Any) -> Any:
    d = _diag(ops.matmul(ops.matmul(_mT(svd_u(a)), t), _mT(svd_vh(a))))
    return _tie_average(d, ans, zero_kink=True)


_T32 = np.array([[1.0, 0.25], [0.4, -1.1], [0.35, 0.8]])
_SVD_SAMPLES = (((np.array([[1.5, 0.4], [-0.3, 0.9]]),), {}), ((_A3,), {}), ((_T32,), {}),
                ((_T32.T,), {}), ((np.array([_T32, _T32[::-1] * 1.3]),), {}))

svdvals = primitive(
    "svdvals", np.linalg.svdvals, elementwise=False, namespace="linalg",
    symbolic=_SVD_REFUSAL, analytic=False, vjp=(_svdvals_vjp,), jvp=(_svdvals_jvp,),
    samples=_SVD_SAMPLES,
    derivative="ds_i = u_i^T dA v_i (the mean over a cluster of repeated values, 0 at s_i = 0)",
)


def _svd_f(a: Any, s: Any, vectors: str) -> Any:
    m, n = shape_of(a)[-2:]
    if m != n:
        _nonzero(s, f"numpy.linalg.svd ({vectors}) of a {m} x {n} matrix")
    return _gap_inverse(s, True, f"numpy.linalg.svd ({vectors})")


def _svd_u_vjp(g: Any, ans: Any, a: Any) -> Any:
    # Townsend (2016): A_bar = U [(F o (U^T G - G^T U)) S] V^T + (I - U U^T) G S^-1 V^T
    u, s, vh = ans, svdvals(a), svd_vh(a)
    f = _svd_f(a, s, "U")
    utg = ops.matmul(_mT(u), g)
    out = ops.matmul(ops.matmul(u, f * (utg - _mT(utg)) * _row(s)), vh)
    if shape_of(a)[-2] > shape_of(a)[-1]:  # tall: U does not span the whole space
        out = out + ops.matmul((g - ops.matmul(u, utg)) / _row(s), vh)
    return out


def _svd_vh_vjp(g: Any, ans: Any, a: Any) -> Any:
    # with V_bar = G^T: A_bar = U [S (F o (V^T V_bar - V_bar^T V))] V^T
    #                          + U S^-1 V_bar^T (I - V V^T)
    u, s, vh = svd_u(a), svdvals(a), ans
    f = _svd_f(a, s, "Vh")
    vtvb = ops.matmul(vh, _mT(g))
    out = ops.matmul(ops.matmul(u, _col(s) * (f * (vtvb - _mT(vtvb)))), vh)
    if shape_of(a)[-2] < shape_of(a)[-1]:  # wide: V does not span the whole space
        out = out + ops.matmul(u, (g - ops.matmul(_mT(vtvb), vh)) / _col(s))
    return out


def _svd_dp(t: Any, u: Any, vh: Any) -> Any:
    return ops.matmul(ops.matmul(_mT(u), t), _mT(vh))  # dP = U^T dA V


def _svd_u_jvp(t: Any, ans: Any, a: Any) -> Any:
    # dU = U (F o (dP S + S dP^T)) + (I - U U^T) dA V S^-1
    u, s, vh = ans, svdvals(a), svd_vh(a)
    f = _svd_f(a, s, "U")
    dp = _svd_dp(t, u, vh)
    du = ops.matmul(u, f * (dp * _row(s) + _col(s) * _mT(dp)))
    if shape_of(a)[-2] > shape_of(a)[-1]:
        tv = ops.matmul(t, _mT(vh))
        du = du + (tv - ops.matmul(u, ops.matmul(_mT(u), tv))) / _row(s)
    return like(du, ans)


def _svd_vh_jvp(t: Any, ans: Any, a: Any) -> Any:
    # dV = V (F o (S dP + dP^T S)) + (I - V V^T) dA^T U S^-1; dVh = dV^T
    u, s, vh = svd_u(a), svdvals(a), ans
    f = _svd_f(a, s, "Vh")
    dp = _svd_dp(t, u, vh)
    dv = ops.matmul(_mT(vh), f * (_col(s) * dp + _mT(dp) * _row(s)))
    if shape_of(a)[-2] < shape_of(a)[-1]:
        tu = ops.matmul(_mT(t), u)
        dv = dv + (tu - ops.matmul(_mT(vh), ops.matmul(vh, tu))) / _row(s)
    return like(_mT(dv), ans)


svd_u = primitive(
    "svd_u", lambda a: np.linalg.svd(a, full_matrices=False)[0], elementwise=False,
    namespace="linalg", symbolic=_SVD_REFUSAL, analytic=False,
    vjp=(_svd_u_vjp,), jvp=(_svd_u_jvp,), samples=_SVD_SAMPLES,
    derivative="U of the reduced SVD (distinct singular values; nonzero unless square)",
)
svd_vh = primitive(
    "svd_vh", lambda a: np.linalg.svd(a, full_matrices=False)[2], elementwise=False,
    namespace="linalg", symbolic=_SVD_REFUSAL, analytic=False,
    vjp=(_svd_vh_vjp,), jvp=(_svd_vh_jvp,), samples=_SVD_SAMPLES,
    derivative="Vh of the reduced SVD (distinct singular values; nonzero unless square)",
)


def _svd_signature(a, full_matrices=True, compute_uv=True, hermitian=False):
    return (a,), {"full_matrices": bool(full_matrices), "compute_uv": bool(compute_uv),
                  "hermitian": bool(hermitian)}


def _svd_composite(a: Any, full_matrices: bool = True, compute_uv: bool = True,
                   hermitian: bool = False) -> Any:
    if hermitian:
        raise _refuse("numpy.linalg.svd(a, hermitian=True) on a traced value: diffkit "
                      "differentiates the general SVD; pass hermitian=False (the same factors, "
                      "up to signs, for a symmetric a), or use np.linalg.eigh")
    if not compute_uv:
        return svdvals(a)
    m, n = shape_of(a)[-2:]
    if full_matrices and m != n:
        raise _refuse(
            f"numpy.linalg.svd(a, full_matrices=True) of a {m} x {n} matrix on a traced "
            f"value: the extra {'columns of U' if m > n else 'rows of Vh'} span the null "
            f"space in a basis that is not unique, so they have no derivative; pass "
            f"full_matrices=False (the reduced SVD), or compute_uv=False / np.linalg.svdvals "
            f"for the singular values alone")
    return SVDResult(*_svd_parts(a))


svd = primitive(
    "svd", np.linalg.svd, signature=_svd_signature, composite=_svd_composite,
    namespace="linalg", analytic=False,
    samples=(((_A3,), {"full_matrices": True, "compute_uv": True, "hermitian": False}),
             ((_T32,), {"full_matrices": False, "compute_uv": True, "hermitian": False}),
             ((_T32,), {"full_matrices": True, "compute_uv": False, "hermitian": False})),
    derivative="(svd_u(a), svdvals(a), svd_vh(a)), the reduced factors",
)

# ============================================================================ pinv


class _Unset:
    def __repr__(self) -> str:
        return "<not given>"


_UNSET = _Unset()  # numpy's pinv tells "rtol not given" from rtol=None


def _pinv_signature(a, rcond=None, hermitian=False, *, rtol=_UNSET):
    if rcond is None:  # numpy's defaults, resolved here so the parameter is one float
        if rtol is _UNSET:
            rcond = 1e-15
        elif rtol is None:
            rcond = max(shape_of(a)[-2:]) * float(np.finfo(float).eps)
        else:
            rcond = rtol
    elif rtol is not _UNSET:
        raise TypeError("rtol and rcond can't be both set")
    if is_traced(a) and hermitian:
        raise _refuse("numpy.linalg.pinv(a, hermitian=True) on a traced value: numpy then "
                      "reads one triangle of a only; pass hermitian=False (the same result "
                      "for a symmetric a)")
    if np.ndim(rcond) != 0 or isinstance(rcond, Tracer):
        raise _refuse(f"numpy.linalg.pinv(a, rcond={rcond!r}): diffkit takes one number as "
                      f"rcond (the cutoff is a parameter, not differentiated)")
    return (a,), {"rcond": float(rcond)}


def _pinv_vjp(g: Any, ans: Any, a: Any, rcond: float = 1e-15) -> Any:
    # Golub & Pereyra at constant rank, P = A^+:
    # A_bar = -P^T G P^T + (I - A P) G^T P P^T + P^T P G^T (I - P A)
    p, pt, gt = ans, _mT(ans), _mT(g)
    out = -ops.matmul(ops.matmul(pt, g), pt)
    out = out + ops.matmul(gt - ops.matmul(a, ops.matmul(p, gt)), ops.matmul(p, pt))
    return out + ops.matmul(ops.matmul(pt, p), gt - ops.matmul(ops.matmul(gt, p), a))


def _pinv_jvp(t: Any, ans: Any, a: Any, rcond: float = 1e-15) -> Any:
    # dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P
    p, pt, tt = ans, _mT(ans), _mT(t)
    out = -ops.matmul(ops.matmul(p, t), p)
    out = out + ops.matmul(ops.matmul(p, pt), tt - ops.matmul(ops.matmul(tt, a), p))
    return out + ops.matmul(tt - ops.matmul(p, ops.matmul(a, tt)), ops.matmul(pt, p))


pinv = primitive(
    "pinv", lambda a, rcond=1e-15: np.linalg.pinv(a, rcond=rcond),
    signature=_pinv_signature, namespace="linalg", symbolic=_symbolic_pinv,
    # numpy's complex pinv conjugates (A^H): not the analytic continuation
    analytic=False, vjp=(_pinv_vjp,), jvp=(_pinv_jvp,),
    derivative_domain=Domain("a of constant rank (full rank in practice)"),
    samples=(((_T32,), {"rcond": 1e-15}), ((_T32.T,), {"rcond": 1e-15}),
             ((_A2,), {"rcond": 1e-15}), ((np.array([_T32, _T32[::-1] * 1.3]),),
                                          {"rcond": 1e-15})),
    derivative="dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P",
)

# ============================================================================ lstsq


def _lstsq_signature(a, b, rcond=None):
    if rcond is not None and (isinstance(rcond, Tracer) or np.ndim(rcond) != 0):
        raise _refuse(f"numpy.linalg.lstsq(a, b, rcond={rcond!r}): rcond must be one number "
                      f"or None")
    return (a, b), {"rcond": None if rcond is None else float(rcond)}


def _lstsq_composite(a: Any, b: Any, rcond: Any = None) -> Any:
    if np.asarray(_plain(a)).dtype == object or np.asarray(_plain(b)).dtype == object:
        raise _refuse(
            "numpy.linalg.lstsq: its rank (and with it the solution's formula) is decided by "
            "the numbers, and its singular values have no closed form, so method='symbolic' "
            f"cannot write it; {_METHODS_THAT_WORK}")
    if len(shape_of(a)) != 2 or len(shape_of(b)) not in (1, 2):
        raise _refuse(f"numpy.linalg.lstsq(a, b) with a of shape {shape_of(a)} and b of shape "
                      f"{shape_of(b)}: a must be 2-D and b 1-D or 2-D")
    m, n = shape_of(a)
    eps = float(np.finfo(float).eps)
    cut = eps * max(m, n) if rcond is None else (eps if rcond < 0 else rcond)
    x = ops.matmul(pinv(a, rcond=cut), b)  # the minimum-norm solution, as numpy's gelsd
    s = svdvals(a)
    sv = np.asarray(_plain(s), dtype=float)
    rank = int(np.sum(sv > cut * np.max(sv, initial=0.0)))
    if rank == n and m > n:
        r = b - ops.matmul(a, x)
        resid = ops.sum(r * r, axis=0)
        if len(shape_of(b)) == 1:
            resid = ops.reshape(resid, (1,))
    else:
        resid = np.empty((0,))
    return x, resid, rank, s


lstsq = primitive(
    "lstsq", np.linalg.lstsq, signature=_lstsq_signature, composite=_lstsq_composite,
    namespace="linalg", analytic=False,
    samples=(((_T32, np.array([0.5, -1.2, 0.8])), {"rcond": None}),
             ((_T32, np.array([[0.5, 1.0], [-1.2, 0.3], [0.8, -0.4]])), {"rcond": None})),
    derivative="x = pinv(a) b (pinv's rule), residuals |b - a x|^2, s = svdvals(a); rank: none",
)

# ============================================================================ qr


_QR_REFUSAL = symbolic_refusal(
    "numpy.linalg.qr: the factors follow LAPACK's Householder sign choices, which no closed "
    f"form reproduces, so method='symbolic' does not write them; {_METHODS_THAT_WORK}")


def _qr_check(r: Any) -> None:
    d = np.abs(np.diagonal(np.asarray(_plain(r), dtype=float), axis1=-2, axis2=-1))
    if np.any(d <= _tolerance(d)):
        raise DomainError("numpy.linalg.qr: the columns of a are linearly dependent (a zero on "
                          "the diagonal of R), so Q and R have no derivative there; "
                          "differentiate at a matrix of full column rank")


def _right_solve_rt(x: Any, r: Any) -> Any:
    """``x R^-T`` as a solve: ``(R^-1 x^T)^T``."""
    return _mT(solve(r, _mT(x)))


def _qr_vjp(gq: Any, gr: Any, q: Any, r: Any) -> Any:
    # the adjoint of the JVP below: B = R_bar R^T - Q^T Q_bar, E = B with its strict lower
    # triangle replaced by that of B^T, A_bar = (Q_bar + Q E) R^-T
    _qr_check(r)
    n = shape_of(r)[-1]
    b = 0.0
    if gr is not None:
        b = ops.matmul(gr, _mT(r))
    if gq is not None:
        b = b - ops.matmul(_mT(q), gq)
    upper, strict_lower = np.triu(np.ones((n, n))), np.tril(np.ones((n, n)), -1)
    e = b * upper + _mT(b) * strict_lower
    out = ops.matmul(q, e)
    if gq is not None:
        out = out + gq
    return _right_solve_rt(out, r)


def _qr_jvp(t: Any, q: Any, r: Any) -> tuple[Any, Any]:
    # X = dA R^-1, C = Q^T X, Omega = tril(C, -1) - tril(C, -1)^T (Q^T dQ, antisymmetric):
    # dR = (C - Omega) R, dQ = X - Q (C - Omega)
    _qr_check(r)
    n = shape_of(r)[-1]
    x = _mT(solve(_mT(r), _mT(t)))
    c = ops.matmul(_mT(q), x)
    low = c * np.tril(np.ones((n, n)), -1)
    k = c - (low - _mT(low))
    return x - ops.matmul(q, k), ops.matmul(k, r)


def _tall(name: str) -> Any:
    def signature(a):
        m, n = shape_of(a)[-2:]
        if m < n:
            raise _refuse(f"{name} of a {m} x {n} (wide) matrix: the factor primitives take "
                          f"square or tall matrices; numpy.linalg.qr splits a wide one")
        return (a,), {}

    return signature


qr_q = primitive(
    "qr_q", lambda a: np.linalg.qr(a)[0], signature=_tall("qr_q"), namespace="linalg",
    symbolic=_QR_REFUSAL, analytic=False,
    vjp=(lambda g, ans, a: _qr_vjp(g, None, ans, qr_r(a)),),
    jvp=(lambda t, ans, a: _qr_jvp(t, ans, qr_r(a))[0],),
    samples=(((_A3,), {}), ((_T32,), {}), ((np.array([_T32, _T32[::-1] * 1.3]),), {})),
    derivative="Q of the reduced QR (full column rank)",
)
qr_r = primitive(
    "qr_r", lambda a: np.linalg.qr(a)[1], signature=_tall("qr_r"), namespace="linalg",
    symbolic=_QR_REFUSAL, analytic=False,
    vjp=(lambda g, ans, a: _qr_vjp(None, g, qr_q(a), ans),),
    jvp=(lambda t, ans, a: _qr_jvp(t, qr_q(a), ans)[1],),
    samples=(((_A3,), {}), ((_T32,), {}), ((np.array([_T32, _T32[::-1] * 1.3]),), {})),
    derivative="R of the reduced QR (full column rank)",
)


def _qr_signature(a, mode="reduced"):
    return (a,), {"mode": mode}


def _qr_composite(a: Any, mode: str = "reduced") -> Any:
    m, n = shape_of(a)[-2:]
    if mode not in ("reduced", "complete", "r") or (mode == "complete" and m > n):
        why = ("the extra columns of a complete Q span the null space of a^T in a basis that "
               "is not unique, so they have no derivative; " if mode == "complete" else "")
        raise _refuse(
            f"numpy.linalg.qr(a, mode={mode!r}) of a {m} x {n} matrix on a traced value: "
            f"{why}diffkit differentiates mode='reduced' and mode='r' ('complete' where it "
            f"equals 'reduced', m <= n)")
    if m >= n:
        q, r = qr_q(a), qr_r(a)
    else:  # wide: Q R1 = a[:, :m] (square), R2 = Q^T a[:, m:] (numpy's Householder QR of
        # a wide matrix reflects only the first m columns, so its Q is that of the square part)
        first = ops.getitem(a, (Ellipsis, slice(None, m)))
        q, r1 = qr_q(first), qr_r(first)
        r2 = ops.matmul(_mT(q), ops.getitem(a, (Ellipsis, slice(m, None))))
        r = ops.concatenate([r1, r2], axis=-1)
    return r if mode == "r" else QRResult(q, r)


qr = primitive(
    "qr", np.linalg.qr, signature=_qr_signature, composite=_qr_composite, namespace="linalg",
    analytic=False,
    samples=(((_A3,), {"mode": "reduced"}), ((_T32,), {"mode": "reduced"}),
             ((_T32.T,), {"mode": "r"})),
    derivative="(qr_q(a), qr_r(a)); a wide a is split into its square part and the rest",
)

__all__ = ["GAP_RTOL", "SYMBOLIC_MAX", "EighResult", "QRResult", "SVDResult", "SlogdetResult",
           "cholesky", "det", "eigh", "eigh_vectors", "eigvalsh", "inv", "logabsdet", "lstsq",
           "matrix_power", "pinv", "qr", "qr_q", "qr_r", "slogdet", "solve", "svd", "svd_u",
           "svd_vh", "svdvals"]
