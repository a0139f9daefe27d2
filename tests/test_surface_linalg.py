"""numpy.linalg through every method: autograd's tests/test_linalg.py, ported.

Each function is called the two ways a spec may write it (``np.linalg.X`` on the traced
value, ``dnp.linalg.X``) and differentiated by reverse mode, forward mode, symbolic (where a
closed form exists) and the complex step (where the stanza is analytic), against an exact
closed form (inv, solve, det, slogdet, matrix_power, the Gaussian likelihood) or Richardson
extrapolation (the factorizations). Second derivatives are checked where the registry's own
order-2 tests cannot reach (stanzas that are not complex-analytic, composites). The messages
of the call forms diffkit refuses are pinned.
"""

from __future__ import annotations

import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp
from diffkit.errors import DomainError, NonAnalyticError, UnsupportedPrimitiveError
from diffkit.methods import forward

AD = ("reverse-mode", "forward-mode")
AD_SYMBOLIC = (*AD, "symbolic")
ANALYTIC = (*AD_SYMBOLIC, "complex-step")
NAMESPACES = {"np": np.linalg, "dnp": dnp.linalg}

_rng = np.random.default_rng(1)
A3 = np.array([[2.0, 0.3, -0.4], [0.5, 1.7, 0.2], [-0.1, 0.6, 2.3]])
M9 = A3.ravel()
B18 = np.concatenate([M9, [1.5, -0.2, 0.3, 0.4, 2.2, -0.5, 0.1, 0.3, 1.8]])  # 2 x 3 x 3
G9 = np.array([0.9, -0.3, 0.2, 0.4, 1.1, -0.5, -0.25, 0.6, 1.45])  # generic, distinct spectra
C3 = np.array([0.5, -1.2, 0.8])
C32 = np.array([[0.4, -1.0], [0.3, 0.8], [-0.6, 0.2]])


def _m(x):
    return x.reshape(3, 3)


def _spd(x):
    a = x.reshape(3, 3)
    return a @ a.T + 3 * np.eye(3)


def _sym(x):
    a = x.reshape(3, 3)
    return (a + a.T) / 2


def _close(actual, desired, rtol, what=""):
    actual, desired = np.asarray(actual, dtype=float), np.asarray(desired, dtype=float)
    assert actual.shape == desired.shape, f"{what}: shape {actual.shape} != {desired.shape}"
    scale = max(1.0, float(np.max(np.abs(desired))))
    err = float(np.max(np.abs(actual - desired))) / scale
    assert err <= rtol, f"{what}: relative error {err:.2e} > {rtol:g}"


def _jac(f, x, method):
    return dk.jacobian(f, x, method=method)


def _check(f, x, methods, exact=None, rtol=1e-10):
    """Every method's Jacobian against ``exact`` (a closed form) or Richardson."""
    if exact is None:
        desired, rtol = _jac(f, x, "richardson"), max(rtol, 1e-7)
    else:
        desired = exact(x)
    for method in methods:
        _close(_jac(f, x, method), np.reshape(desired, (-1, np.size(x))), rtol, method)


# ============================================================================ closed forms


def _inv_jac(x):
    y = np.linalg.inv(_m(x))
    return -np.einsum("ik,lj->ijkl", y, y).reshape(9, 9)


def _det_jac(x):
    return (np.linalg.det(_m(x)) * np.linalg.inv(_m(x)).T).reshape(1, 9)


def _logdet_jac(x):
    return np.linalg.inv(_m(x)).T.reshape(1, 9)


def _solve_a_jac(b):
    def jac(x):
        y = np.linalg.inv(_m(x))
        sol = y @ b
        if b.ndim == 1:
            return -np.einsum("ik,l->ikl", y, sol).reshape(3, 9)
        return -np.einsum("ik,lj->ijkl", y, sol).reshape(sol.size, 9)

    return jac


def _power3_jac(x):
    a = _m(x)
    a2, eye = a @ a, np.eye(3)
    jac = (np.einsum("ik,lj->ijkl", eye, a2) + np.einsum("ik,lj->ijkl", a, a)
           + np.einsum("ik,lj->ijkl", a2, eye))
    return jac.reshape(9, 9)


# ============================================================================ inv, solve, det


@pytest.mark.parametrize("ns", list(NAMESPACES))
def test_inv(ns):
    la = NAMESPACES[ns]
    _check(lambda x: la.inv(_m(x)), M9, ANALYTIC, _inv_jac)


@pytest.mark.parametrize("ns", list(NAMESPACES))
def test_inv_3d(ns):
    la = NAMESPACES[ns]

    def exact(x):
        blocks = [_inv_jac(x[9 * k:9 * k + 9]) for k in range(2)]
        out = np.zeros((18, 18))
        out[:9, :9], out[9:, 9:] = blocks
        return out

    _check(lambda x: la.inv(x.reshape(2, 3, 3)), B18, ANALYTIC, exact)


@pytest.mark.parametrize("ns", list(NAMESPACES))
@pytest.mark.parametrize("b", [C3, C32], ids=["vector b", "matrix b"])
def test_solve_arg1(ns, b):
    la = NAMESPACES[ns]
    _check(lambda x: la.solve(_m(x), b), M9, ANALYTIC, _solve_a_jac(b))


@pytest.mark.parametrize("ns", list(NAMESPACES))
@pytest.mark.parametrize("shape", [(3,), (3, 2)], ids=["vector b", "matrix b"])
def test_solve_arg2(ns, shape):
    la = NAMESPACES[ns]
    b0 = C32.ravel()[: int(np.prod(shape))]
    k = int(np.prod(shape[1:]))
    exact = np.kron(np.linalg.inv(A3), np.eye(k))  # x = A^-1 B, row-major
    _check(lambda x: la.solve(A3, x.reshape(shape)), b0, ANALYTIC, lambda x: exact)


@pytest.mark.parametrize("ns", list(NAMESPACES))
def test_solve_numpy2_rule_for_one_dimensional_b(ns):
    """numpy 2: a 1-D b is one vector for every matrix of the stack; a 2-D b is a matrix."""
    la = NAMESPACES[ns]
    stack = B18.reshape(2, 3, 3)

    def f(x):
        return la.solve(stack, x)

    assert np.shape(f(C3)) == (2, 3)
    exact = np.concatenate([np.linalg.inv(stack[0]), np.linalg.inv(stack[1])])
    _check(f, C3, ANALYTIC, lambda x: exact)
    _check(lambda x: la.solve(x.reshape(2, 3, 3), C3), B18, ANALYTIC)
    b2 = _rng.normal(size=(2, 3, 2))
    _check(lambda x: la.solve(x.reshape(2, 3, 3), b2), B18, AD)


def test_solve_broadcasts_stacks():
    """a (2, 1, 3, 3) against b (4, 3, 2): the cotangent of each sums over what it broadcast."""
    a0 = np.stack([A3, A3.T + np.eye(3)]).reshape(2, 1, 3, 3)
    b0 = _rng.normal(size=(4, 3, 2))
    methods = (*AD, "complex-step")  # (symbolic: 48 outputs of 18 symbols, 3 s; see above)
    _check(lambda x: np.linalg.solve(x.reshape(a0.shape), b0), a0.ravel(), methods)
    _check(lambda x: np.linalg.solve(a0, x.reshape(b0.shape)), b0.ravel(), methods)


@pytest.mark.parametrize("ns", list(NAMESPACES))
def test_det(ns):
    la = NAMESPACES[ns]
    _check(lambda x: la.det(_m(x)), G9, ANALYTIC, _det_jac)


def test_det_3d():
    def exact(x):
        out = np.zeros((2, 18))
        out[0, :9], out[1, 9:] = _det_jac(x[:9]), _det_jac(x[9:])
        return out

    _check(lambda x: np.linalg.det(x.reshape(2, 3, 3)), B18, ANALYTIC, exact)


@pytest.mark.parametrize("ns", list(NAMESPACES))
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_slogdet(ns, sign):
    la = NAMESPACES[ns]
    x0 = sign * G9  # det of -A is -det A: both signs
    s, _ = la.slogdet(_m(x0))
    assert s == np.sign(np.linalg.det(_m(x0)))
    _check(lambda x: la.slogdet(_m(x))[1], x0, AD_SYMBOLIC, _logdet_jac)
    _check(lambda x: la.slogdet(_m(x)).logabsdet, x0, AD, _logdet_jac)


def test_slogdet_sign_is_a_plain_value_and_unpacks():
    seen = {}

    def f(x):
        sign, logdet = np.linalg.slogdet(_spd(x) * np.array([[-1.0], [1.0], [1.0]]))
        seen["sign"] = sign
        return sign * logdet

    for method in AD:
        seen.clear()
        dk.gradient(f, G9, method=method)
        assert isinstance(seen["sign"], (float, np.floating, np.ndarray))
        assert float(seen["sign"]) == -1.0
    _check(f, G9, AD_SYMBOLIC)


def test_slogdet_3d():
    mats = np.stack([np.eye(3) * 5 + (lambda m: m @ m.T)(_rng.normal(size=(3, 3)))
                     for _ in range(3)])
    _check(lambda x: np.sum(np.linalg.slogdet(x.reshape(3, 3, 3))[1]), mats.ravel(),
           AD_SYMBOLIC, lambda x: np.linalg.inv(x.reshape(3, 3, 3)).transpose(0, 2, 1).ravel())


def test_slogdet_is_refused_by_the_complex_step_but_log_det_is_not():
    """numpy's complex slogdet returns log|det| (its derivative is in the sign), and the
    complex step calls numpy itself once f is checked: logabsdet is not analytic there."""
    with pytest.raises(NonAnalyticError, match="'logabsdet', which is not complex-analytic"):
        dk.gradient(lambda x: np.linalg.slogdet(_spd(x))[1], G9, method="complex-step")
    _check(lambda x: np.log(np.linalg.det(_spd(x))), G9, ("complex-step",),
           lambda x: dk.gradient(lambda y: np.linalg.slogdet(_spd(y))[1], x,
                                 method="reverse-mode").reshape(1, 9))


# ============================================================================ matrix_power


@pytest.mark.parametrize("ns", list(NAMESPACES))
def test_matrix_power(ns):
    la = NAMESPACES[ns]
    _check(lambda x: la.matrix_power(_m(x), 3), M9, ANALYTIC, _power3_jac)
    _check(lambda x: la.matrix_power(_m(x), 1), M9, ANALYTIC, lambda x: np.eye(9))
    _check(lambda x: la.matrix_power(_m(x), -2), M9, ANALYTIC)
    _check(lambda x: la.matrix_power(x.reshape(2, 3, 3), 5), B18 / 2, AD)
    zero = dk.jacobian(lambda x: la.matrix_power(_m(x), 0), M9, method="reverse-mode")
    assert np.array_equal(zero, np.zeros((9, 9)))


# ============================================================================ cholesky


@pytest.mark.parametrize("ns", list(NAMESPACES))
def test_cholesky(ns):
    la = NAMESPACES[ns]
    _check(lambda x: la.cholesky(_spd(x)), G9, AD_SYMBOLIC)
    _check(lambda x: la.cholesky(_spd(x), upper=True), G9, AD)


def test_cholesky_reads_one_triangle():
    """The other triangle is ignored by numpy, so its derivative is 0 (autograd's convention)."""
    s0 = _spd(G9) + np.triu(np.full((3, 3), 7.0), 1)  # garbage above the diagonal
    jac = dk.jacobian(lambda x: np.linalg.cholesky(_m(x)), s0.ravel(), method="reverse-mode")
    upper = np.triu(np.ones((3, 3)), 1).ravel().astype(bool)
    assert np.array_equal(jac[:, upper], np.zeros((9, 3)))
    _check(lambda x: np.linalg.cholesky(_m(x)), s0.ravel(), AD_SYMBOLIC)
    s1 = _spd(G9) + np.tril(np.full((3, 3), 7.0), -1)
    _check(lambda x: np.linalg.cholesky(_m(x), upper=True), s1.ravel(), AD_SYMBOLIC)


def test_cholesky_broadcast():
    stack = np.stack([_spd(G9), _spd(G9[::-1])])
    _check(lambda x: np.linalg.cholesky(x.reshape(2, 3, 3)), stack.ravel(), AD)


def test_cholesky_reparameterization_trick():
    z = _rng.normal(size=3)

    def f(x):
        sample = np.linalg.cholesky(_spd(x)) @ z
        return np.sum(sample * sample)

    _check(f, G9, AD_SYMBOLIC)


# ============================================================================ eigh, eigvalsh


@pytest.mark.parametrize("ns", list(NAMESPACES))
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh(ns, uplo):
    la = NAMESPACES[ns]
    x0 = np.array([1.2, 0.4, -0.3, 9.0, -0.5, 0.8, -4.0, 6.0, 2.1])  # the unread triangle: noise
    _check(lambda x: la.eigh(_m(x), UPLO=uplo)[0], x0, AD)
    _check(lambda x: la.eigh(_m(x), uplo).eigenvectors, x0, AD)
    _check(lambda x: la.eigvalsh(_m(x), UPLO=uplo), x0, AD)


def test_eigh_broadcasting():
    stack = np.stack([_sym(G9), _spd(G9)])
    _check(lambda x: np.linalg.eigh(x.reshape(2, 3, 3))[1], stack.ravel(), AD)
    _check(lambda x: np.linalg.eigvalsh(x.reshape(2, 3, 3), "U"), stack.ravel(), AD)


def test_eigvalsh_of_a_symmetric_parameterization_is_the_textbook_derivative():
    """d w_i / dS = v_i v_i^T: through S = (a + a^T) / 2 each entry of a gets half of it."""
    _, v = np.linalg.eigh(_sym(G9))
    exact = np.stack([np.outer(v[:, i], v[:, i]).ravel() for i in range(3)])
    _check(lambda x: np.linalg.eigvalsh(_sym(x)), G9, AD, lambda x: exact)


def test_repeated_eigenvalues_take_the_tie_convention_vectors_refuse():
    eye9 = np.eye(3).ravel()
    # the trace is symmetric in the repeated eigenvalues: exact, as d trace = I
    _check(lambda x: np.sum(np.linalg.eigvalsh(_sym(x))), eye9, AD,
           lambda x: np.eye(3).reshape(1, 9))
    # the largest of a triple eigenvalue: the mean of the cluster, trace / 3 (like max's ties)
    _check(lambda x: np.linalg.eigvalsh(_sym(x))[2], eye9 * 2.0, AD,
           lambda x: np.eye(3).reshape(1, 9) / 3)
    for method in AD:
        with pytest.raises(DomainError, match=r"the values 1\.0 and 1\.0 \(entries 0 and 1\) "
                                              r"are repeated, so their vectors are not unique"):
            dk.jacobian(lambda x: np.linalg.eigh(_sym(x))[1], eye9, method=method)
    # forward mode differentiates every output of eigh: eigvalsh alone is the way out
    with pytest.raises(DomainError, match=r"np\.linalg\.eigvalsh"):
        dk.jacobian(lambda x: np.linalg.eigh(_sym(x))[0], eye9, method="forward-mode")
    _check(lambda x: np.linalg.eigh(_sym(x))[0], eye9 + 0.1 * G9, AD)


# ============================================================================ svd


def _svd_fns(la):
    return {
        "U": lambda a: la.svd(a, full_matrices=False)[0],
        "S": lambda a: la.svd(a, full_matrices=False)[1],
        "Vh": lambda a: la.svd(a, full_matrices=False).Vh,
        "only s": lambda a: la.svd(a, compute_uv=False),
    }


SVD_SHAPES = {"wide 2d": (3, 5), "square 2d": (4, 4), "tall 2d": (5, 3), "wide 3d": (2, 3, 4),
              "square 3d": (2, 3, 3), "tall 3d": (2, 4, 3)}


@pytest.mark.parametrize("ns", list(NAMESPACES))
@pytest.mark.parametrize("shape", list(SVD_SHAPES))
def test_svd(ns, shape):
    dims = SVD_SHAPES[shape]
    x0 = np.random.default_rng(len(dims) * 10 + dims[-1]).normal(size=int(np.prod(dims)))
    for fn in _svd_fns(NAMESPACES[ns]).values():
        _check(lambda x, fn=fn: fn(x.reshape(dims)), x0, AD)
    if ns == "np":
        _check(lambda x: np.linalg.svdvals(x.reshape(dims)), x0, AD)


def test_svd_full_matrices_of_a_square_matrix_is_the_reduced_svd():
    def f(x):
        u, s, vt = np.linalg.svd(_m(x))
        return u[:, :1] * vt[:1] * s[0]  # the outer product of the leading singular pair

    _check(f, G9, AD)


def test_repeated_singular_values_take_the_tie_convention():
    """The nuclear norm sum(s) is symmetric in the singular values: its gradient U V^T is
    exact at a tie; lstsq (whose s forward mode differentiates, used or not) works there."""
    q = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 2)))[0]  # orthonormal columns
    for method in AD:
        _close(dk.gradient(lambda x: np.sum(np.linalg.svdvals(x.reshape(3, 2))), q.ravel(),
                           method=method), (q @ np.eye(2)).ravel(), 1e-12, method)
    _check(lambda x: np.linalg.lstsq(x.reshape(3, 2), C3, rcond=None)[0], q.ravel(), AD)
    with pytest.raises(DomainError, match=r"numpy\.linalg\.svd \(U\): the values 1\.0 and "
                                          r"(1\.0|0\.99+) \(entries 0 and 1\) are repeated"):
        dk.jacobian(lambda x: np.linalg.svd(x.reshape(3, 2), full_matrices=False)[0],
                    q.ravel(), method="reverse-mode")
    with pytest.raises(DomainError, match=r"a singular value is 0 \(the matrix is rank "
                                          r"deficient\)"):
        dk.jacobian(lambda x: np.linalg.svd(x.reshape(3, 2), full_matrices=False)[2],
                    np.array([1.0, 2.0, 2.0, 4.0, -1.0, -2.0]), method="forward-mode")


# ============================================================================ pinv


@pytest.mark.parametrize("ns", list(NAMESPACES))
def test_pinv(ns):
    la = NAMESPACES[ns]
    rng = np.random.default_rng(5)
    for cols in (2, 3, 5, 6):  # wide, square-ish and tall 4 x cols
        x0 = rng.normal(size=4 * cols)
        _check(lambda x, c=cols: la.pinv(x.reshape(4, c)), x0, AD)
        x1 = rng.normal(size=2 * 4 * cols)
        _check(lambda x, c=cols: la.pinv(x.reshape(2, 4, c)), x1, AD)
    _check(lambda x: la.pinv(x.reshape(3, 2)), G9[:6], AD_SYMBOLIC)


def test_pinv_of_a_low_rank_matrix():
    """pinv(X^T X) with X 2 x 4: a 4 x 4 matrix of rank 2, whose rank every perturbation of X
    keeps (Golub and Pereyra's derivative holds at constant rank)."""
    x0 = np.random.default_rng(6).normal(size=8)
    _check(lambda x: np.linalg.pinv(x.reshape(2, 4).T @ x.reshape(2, 4)), x0, AD)


# ============================================================================ qr


@pytest.mark.parametrize("ns", list(NAMESPACES))
@pytest.mark.parametrize("dims", [(3, 3), (4, 2), (2, 4, 3), (2, 4)],
                         ids=["square", "tall", "stacked tall", "wide"])
def test_qr(ns, dims):
    la = NAMESPACES[ns]
    x0 = np.random.default_rng(sum(dims)).normal(size=int(np.prod(dims)))
    _check(lambda x: la.qr(x.reshape(dims))[0], x0, AD)
    _check(lambda x: la.qr(x.reshape(dims)).R, x0, AD)
    _check(lambda x: la.qr(x.reshape(dims), mode="r"), x0, AD)


# ============================================================================ lstsq


@pytest.mark.parametrize("ns", list(NAMESPACES))
@pytest.mark.parametrize("b", [C3, C32], ids=["vector b", "matrix b"])
def test_lstsq(ns, b):
    la = NAMESPACES[ns]
    t6 = np.array([1.0, 0.25, 0.4, -1.1, 0.35, 0.8])
    for k in (0, 1, 3):  # solution, residuals, singular values
        _check(lambda x, k=k: la.lstsq(x.reshape(3, 2), b, rcond=None)[k], t6, AD)
    _check(lambda x: la.lstsq(C32, x.reshape(b.shape), rcond=None)[0], b.ravel(), AD)
    _, resid, rank, _ = la.lstsq(t6.reshape(3, 2), b, rcond=None)
    assert rank == 2
    assert np.shape(resid) == ((1,) if b.ndim == 1 else (2,))


def test_lstsq_rank_deficient_and_rank_is_plain():
    seen = {}

    def f(x):
        a = np.stack([x[:3], 2 * x[:3], x[3:]], axis=1)  # rank 2 of 3 columns
        sol, resid, rank, _ = np.linalg.lstsq(a, C3, rcond=None)
        seen["rank"], seen["resid"] = rank, np.shape(resid)
        return sol

    _check(f, np.array([1.0, 0.25, 0.4, -1.1, 0.35, 0.8]), AD)
    assert seen == {"rank": 2, "resid": (0,)}


# ============================================================================ second order


SECOND_ORDER = {
    "inv": lambda x: np.sum(np.linalg.inv(_m(x)) * np.arange(9.0).reshape(3, 3)),
    "solve": lambda x: np.sum(np.linalg.solve(_m(x), C32) ** 2),
    "logdet": lambda x: np.linalg.slogdet(_m(x))[1],
    "cholesky": lambda x: np.sum(np.linalg.cholesky(_spd(x)) * np.arange(9.0).reshape(3, 3)),
    "eigvalsh": lambda x: np.linalg.eigvalsh(_sym(x)) @ C3,
    "eigh vectors": lambda x: np.sum(np.linalg.eigh(_sym(x))[1] ** 3),
    "svdvals": lambda x: np.linalg.svd(_m(x), compute_uv=False) @ C3,
    "svd vectors": lambda x: np.sum(np.linalg.svd(x.reshape(3, 3), full_matrices=False)[0]
                                    * np.linalg.svd(_m(x))[2].T),
    "svd tall": lambda x: np.sum(np.linalg.svd(x.reshape(3, 2), full_matrices=False)[0] ** 3)
    + np.sum(np.linalg.svd(x.reshape(3, 2), full_matrices=False)[2] ** 3),
    "pinv": lambda x: np.sum(np.linalg.pinv(x.reshape(3, 2)) ** 2),
    "qr": lambda x: np.sum(np.linalg.qr(x.reshape(3, 2))[0] ** 3)
    + np.sum(np.linalg.qr(x.reshape(3, 2))[1] ** 3),
    "lstsq": lambda x: np.sum(np.linalg.lstsq(x.reshape(3, 2), C3, rcond=None)[0] ** 2),
    "matrix_power": lambda x: np.sum(np.linalg.matrix_power(_m(x), -3)),
}


@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_hessians_by_three_nestings(name):
    """reverse-over-reverse, forward-over-reverse, forward-over-forward: the registry's order-2
    tests skip the stanzas that are not complex-analytic and the composites."""
    f = SECOND_ORDER[name]
    x0 = G9[:6] if name in ("svd tall", "pinv", "qr", "lstsq") else G9
    # the reference: a central difference of the exact (reverse-mode) gradient
    desired = dk.jacobian(lambda x: dk.gradient(f, x, method="reverse-mode"), x0,
                          method="richardson")
    for method in AD:
        _close(dk.hessian(f, x0, method=method), desired, 1e-7, f"{name} {method}")
    _close(forward.hessian(f, x0, hessian_scheme="forward-over-forward"), desired, 1e-7, f"{name} forward-over-forward")


# ============================================================================ refusals


def test_symbolic_refuses_without_a_closed_form_and_says_what_works():
    cases = {
        "eigh / eigvalsh: eigenvalues are the roots": lambda x: np.linalg.eigh(_sym(x))[0],
        "svd / svdvals: singular values are square roots": lambda x: np.linalg.svd(_m(x))[1],
        "qr: the factors follow LAPACK's Householder": lambda x: np.linalg.qr(_m(x))[1],
        "lstsq: its rank": lambda x: np.linalg.lstsq(_m(x), C3)[0],
    }
    for start, f in cases.items():
        with pytest.raises(UnsupportedPrimitiveError, match="method='reverse-mode' or "
                                                            "'forward-mode'") as info:
            dk.jacobian(f, G9, method="symbolic")
        assert start in str(info.value)


def test_symbolic_expands_up_to_five_by_five():
    x6 = np.eye(6).ravel() * 2 + 0.01 * np.arange(36)
    with pytest.raises(UnsupportedPrimitiveError,
                       match=r"numpy\.linalg\.det of a 6 x 6 matrix: method='symbolic' expands "
                             r"the closed form only up to 5 x 5"):
        dk.gradient(lambda x: np.linalg.det(x.reshape(6, 6)), x6, method="symbolic")


def test_complex_step_refuses_what_numpy_does_not_continue_analytically():
    for name, f in {"cholesky": lambda x: np.linalg.cholesky(_spd(x)),
                    "eigvalsh": lambda x: np.linalg.eigvalsh(_sym(x)),
                    "svdvals": lambda x: np.linalg.svd(_m(x), compute_uv=False),
                    "pinv": lambda x: np.linalg.pinv(_m(x)),
                    "qr_q": lambda x: np.linalg.qr(_m(x))[0]}.items():
        with pytest.raises(NonAnalyticError, match=f"'{name}', which is not complex-analytic"):
            dk.jacobian(f, G9, method="complex-step")


REFUSED = {
    "svd full": (lambda x: np.linalg.svd(x.reshape(3, 2)),
                 r"numpy\.linalg\.svd\(a, full_matrices=True\) of a 3 x 2 matrix on a traced "
                 r"value: the extra columns of U span the null space in a basis that is not "
                 r"unique, so they have no derivative; pass full_matrices=False"),
    "svd hermitian": (lambda x: np.linalg.svd(_sym(x), hermitian=True),
                      r"svd\(a, hermitian=True\) on a traced value: diffkit differentiates the "
                      r"general SVD; pass hermitian=False"),
    "qr complete": (lambda x: np.linalg.qr(x.reshape(3, 2), mode="complete")[0],
                    r"qr\(a, mode='complete'\) of a 3 x 2 matrix on a traced value: the extra "
                    r"columns of a complete Q span the null space"),
    "qr raw": (lambda x: np.linalg.qr(_m(x), mode="raw")[0],
               r"qr\(a, mode='raw'\) of a 3 x 3 matrix on a traced value: diffkit "
               r"differentiates mode='reduced' and mode='r'"),
    "matrix_power float": (lambda x: np.linalg.matrix_power(_m(x), 2.5),
                           r"matrix_power\(a, n=2\.5\): n must be a plain integer"),
    "eigh UPLO": (lambda x: np.linalg.eigh(_sym(x), UPLO="X")[0],
                  r"numpy\.linalg\.eigh\(a, UPLO='X'\): UPLO must be 'L' or 'U'"),
    "pinv hermitian": (lambda x: np.linalg.pinv(_sym(x), hermitian=True),
                       r"pinv\(a, hermitian=True\) on a traced value: numpy then reads one "
                       r"triangle of a only; pass hermitian=False"),
    "cholesky extra argument": (lambda x: dnp.linalg.cholesky(_spd(x), 1),
                                r"numpy\.linalg\.cholesky: .*positional.*; diffkit supports the "
                                r"call numpy\.linalg\.cholesky\(a, /, \*, upper=False\)"),
}


@pytest.mark.parametrize("case", list(REFUSED))
@pytest.mark.parametrize("method", AD)
def test_unsupported_call_forms_are_refused_with_a_message(case, method):
    f, message = REFUSED[case]
    x0 = G9[:6] if "3 x 2" in message else G9
    with pytest.raises(UnsupportedPrimitiveError, match=message):
        dk.jacobian(f, x0, method=method)


def test_singular_matrices_are_domain_errors():
    singular = np.array([1.0, 2.0, 3.0, 2.0, 4.0, 6.0, 0.5, 0.1, 0.2])
    for f in (lambda x: np.linalg.inv(_m(x)), lambda x: np.linalg.solve(_m(x), C3)):
        with pytest.raises(DomainError, match=r"Singular matrix; (inv|solve) requires a "
                                              r"nonsingular square matrix"):
            dk.jacobian(f, singular, method="reverse-mode")
    with pytest.raises(DomainError, match="cholesky requires a symmetric positive definite"):
        dk.jacobian(lambda x: np.linalg.cholesky(_sym(x) - 3 * np.eye(3)), G9,
                    method="forward-mode")
    with pytest.raises(DomainError, match=r"logabsdet\(array of shape \(3, 3\)\): outside its "
                                          r"domain, logabsdet requires det\(a\) != 0"):
        dk.gradient(lambda x: np.linalg.slogdet(_m(x))[1], singular, method="reverse-mode")


# ============================================================================ a realistic one

Y3 = np.array([0.7, -0.4, 1.3])


def _nll(x, logdet):
    """Negative log-likelihood of Y3 under N(mu, S), S = B B^T + I: x = (B, mu)."""
    b, mu = x[:9].reshape(3, 3), x[9:]
    s = b @ b.T + np.eye(3)
    r = Y3 - mu
    return 0.5 * logdet(s) + 0.5 * r @ np.linalg.solve(s, r)


def _nll_gradient(x):
    b, mu = x[:9].reshape(3, 3), x[9:]
    s_inv = np.linalg.inv(b @ b.T + np.eye(3))
    alpha = s_inv @ (Y3 - mu)
    g_s = 0.5 * (s_inv - np.outer(alpha, alpha))  # dNLL/dS, symmetric
    return np.concatenate([(2 * g_s @ b).ravel(), -alpha])


def test_gaussian_negative_log_likelihood_by_every_method():
    x0 = np.concatenate([G9, [0.2, -0.1, 0.4]])
    slog = lambda s: np.linalg.slogdet(s)[1]
    exact = _nll_gradient(x0)
    for method in ("reverse-mode", "forward-mode", "symbolic"):
        _close(dk.gradient(lambda x: _nll(x, slog), x0, method=method), exact, 1e-12, method)
    for method, rtol in (("central-difference", 1e-6), ("richardson", 1e-9)):
        _close(dk.gradient(lambda x: _nll(x, slog), x0, method=method), exact, rtol, method)
    # the complex step needs the analytic log det: log(det S) (S is positive definite)
    with pytest.raises(NonAnalyticError, match="logabsdet"):
        dk.gradient(lambda x: _nll(x, slog), x0, method="complex-step")
    logdet = lambda s: np.log(np.linalg.det(s))
    _close(dk.gradient(lambda x: _nll(x, logdet), x0, method="complex-step"), exact, 1e-12)
    hess = {m: dk.hessian(lambda x: _nll(x, slog), x0, method=m) for m in AD}
    _close(hess["reverse-mode"], hess["forward-mode"], 1e-12, "hessians")
    _close(hess["reverse-mode"], dk.jacobian(_nll_gradient, x0, method="richardson"), 1e-8)


# ============================================================================ values


VALUES = {
    "qr wide": (lambda la, x: la.qr(x.reshape(2, 3)), G9[:6]),
    "qr tall r": (lambda la, x: la.qr(x.reshape(3, 2), mode="r"), G9[:6]),
    "eigh": (lambda la, x: la.eigh(_sym(x), UPLO="U"), G9),
    "svd": (lambda la, x: la.svd(x.reshape(2, 3), full_matrices=False), G9[:6]),
    "slogdet": (lambda la, x: la.slogdet(-_m(x)), G9),
    "lstsq": (lambda la, x: la.lstsq(x.reshape(3, 2), C3, rcond=None)[:2], G9[:6]),
    "matrix_power": (lambda la, x: la.matrix_power(_m(x), -3), G9),
    "pinv rtol": (lambda la, x: la.pinv(x.reshape(3, 2), rtol=None), G9[:6]),
}


@pytest.mark.parametrize("name", list(VALUES))
def test_traced_values_are_numpys(name):
    """The composites rebuild numpy's tuples from their factor primitives: same numbers."""
    call, x0 = VALUES[name]

    def flat(la, x):
        out = call(la, x)
        parts = out if isinstance(out, tuple) else (out,)
        return np.concatenate([np.reshape(p, (-1,)) for p in parts])

    want = flat(np.linalg, x0)
    for la in NAMESPACES.values():
        got, _ = forward.jvp(lambda x, la=la: flat(la, x), x0, np.ones_like(x0))
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-14)
