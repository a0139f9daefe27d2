"""numpy's contractions and norms, reached three ways, under every method.

The functions and shape combinations of autograd's ``tests/test_systematic.py`` (``combo_check``
of dot, matmul, tensordot, inner, outer, kron, einsum, cross), ``tests/test_numpy.py`` (dot with
floats, outer, tensordot's axes by position) and ``tests/test_linalg.py`` (vector, Frobenius,
``ord``, ``axis`` and nuclear norms), written three ways -- ``np.X(tracer)``, ``dnp.X`` and the
ndarray method where numpy has one -- and differentiated by reverse mode, forward mode, the
symbolic method and the complex step (where the function is analytic), against a closed form or
Richardson extrapolation. Both operands are traced at once: the point packs them.
"""

from __future__ import annotations

import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp
from diffkit.core import REGISTRY

_rng = np.random.default_rng(11)


def R(*shape):
    return _rng.normal(size=shape) if shape else float(_rng.normal())


AD = ("reverse-mode", "forward-mode")
EVERY = (*AD, "symbolic", "complex-step")


def pack(*arrays):
    """One point holding every operand, and the function splitting it back (traced)."""
    shapes = [np.shape(a) for a in arrays]
    point = np.concatenate([np.ravel(a) for a in arrays])

    def unpack(p):
        out, k = [], 0
        for shape in shapes:
            n = int(np.prod(shape))
            out.append(p[k] if shape == () else p[k:k + n].reshape(shape))
            k += n
        return out

    return point, unpack


def check(f, point, methods=EVERY, exact=None, rtol=1e-7):
    """The Jacobian by each method against ``exact(point)`` or Richardson extrapolation."""
    ref = exact(point) if exact is not None else dk.jacobian(f, point, method="richardson")
    for method in methods:
        got = dk.jacobian(f, point, method=method)
        np.testing.assert_allclose(got, np.reshape(ref, got.shape), rtol=rtol, atol=1e-8,
                                   err_msg=method)


def check_binary(ways, a, b, methods=EVERY, **kwargs):
    """Each way of writing ``op(a, b)``: the first under every method, the others by AD."""
    point, unpack = pack(a, b)
    for k, way in enumerate(ways):
        check(lambda p, way=way: way(*unpack(p), **kwargs), point,
              methods if k == 0 else AD)


# ============================================================================ every way, every method

A23, B34, V3, W3 = R(2, 3), R(3, 4), R(3), R(3)
WAYS = {
    "np.dot": (np.dot, A23, B34), "dnp.dot": (dnp.dot, A23, B34),
    "ndarray.dot": (lambda a, b: a.dot(b), A23, B34),
    "np.matmul": (np.matmul, A23, B34), "@": (lambda a, b: a @ b, A23, B34),
    "dnp.matmul": (dnp.matmul, A23, B34), "np.linalg.matmul": (np.linalg.matmul, A23, B34),
    "np.tensordot": (lambda a, b: np.tensordot(a, b, 1), A23, B34),
    "dnp.tensordot": (lambda a, b: dnp.tensordot(a, b, axes=1), A23, B34),
    "np.linalg.tensordot": (lambda a, b: np.linalg.tensordot(a, b, axes=1), A23, B34),
    "np.inner": (np.inner, A23, B34.T), "dnp.inner": (dnp.inner, A23, B34.T),
    "np.outer": (np.outer, V3, W3), "dnp.outer": (dnp.outer, V3, W3),
    "np.linalg.outer": (np.linalg.outer, V3, W3),
    "np.vdot": (np.vdot, V3, W3), "dnp.vdot": (dnp.vdot, V3, W3),
    "np.kron": (np.kron, A23, V3), "dnp.kron": (dnp.kron, A23, V3),
    "np.cross": (np.cross, A23, W3), "dnp.cross": (dnp.cross, A23, W3),
    "np.linalg.cross": (np.linalg.cross, A23, W3),
    "np.einsum": (lambda a, b: np.einsum("ij,jk->ki", a, b), A23, B34),
    "dnp.einsum": (lambda a, b: dnp.einsum("ij,jk->ki", a, b), A23, B34),
    "np.vecdot": (np.vecdot, A23, W3), "dnp.vecdot": (dnp.vecdot, A23, W3),
    "np.linalg.vecdot": (lambda a, b: np.linalg.vecdot(a, b, axis=0), A23, A23[::-1]),
    "np.matvec": (np.matvec, A23, W3), "dnp.matvec": (dnp.matvec, A23, W3),
    "np.vecmat": (np.vecmat, V3, B34), "dnp.vecmat": (dnp.vecmat, V3, B34),
    "np.linalg.multi_dot": (lambda a, b: np.linalg.multi_dot([a, b, b.T]), A23, A23.T),
    "dnp.linalg.multi_dot": (lambda a, b: dnp.linalg.multi_dot([a, b, b.T]), A23, A23.T),
}


@pytest.mark.parametrize("way", list(WAYS))
def test_every_way_under_every_method(way):
    fn, a, b = WAYS[way]
    check_binary([fn], a, b)


NORM_WAYS = {
    "np.linalg.norm": np.linalg.norm, "dnp.linalg.norm": dnp.linalg.norm,
    "np.linalg.vector_norm": lambda x: np.linalg.vector_norm(x, axis=(0, 1)),
    "dnp.linalg.vector_norm": lambda x: dnp.linalg.vector_norm(x, axis=(0, 1)),
    "np.linalg.matrix_norm": np.linalg.matrix_norm,
    "dnp.linalg.matrix_norm": dnp.linalg.matrix_norm,
}


@pytest.mark.parametrize("way", list(NORM_WAYS))
def test_every_norm_way_under_every_method(way):
    check(NORM_WAYS[way], A23, exact=lambda x: x / np.linalg.norm(x))


# ============================================================================ dot and matmul

DOT_PAIRS = [(1.5, R(3)), (R(3), R(3)), (R(2, 3), R(3)), (R(2, 3), R(3, 4)), (R(2, 3), 0.3),
             (R(2, 2, 3), R(3, 4)), (R(2, 2, 3), R(2, 3, 4)), (R(3), R(2, 3, 4))]


@pytest.mark.parametrize(("a", "b"), DOT_PAIRS, ids=[f"{np.shape(a)}.{np.shape(b)}"
                                                     for a, b in DOT_PAIRS])
def test_dot(a, b):
    ways = [np.dot, dnp.dot]
    if np.ndim(a):
        ways.append(lambda x, y: x.dot(y))
    check_binary(ways, a, b)


def test_dot_of_stacks_is_tensordot_not_matmul():
    """numpy's dot of stacks pairs every matrix of a with every matrix of b."""
    a, b = R(2, 2, 3), R(2, 3, 4)
    point, unpack = pack(a, b)
    out = dnp.dot(*[np.asarray(v) for v in unpack(point)])
    assert out.shape == np.dot(a, b).shape == (2, 2, 2, 4)
    grad = dk.gradient(lambda p: np.sum(np.dot(*unpack(p)) ** 2), point,
                       method="reverse-mode")
    np.testing.assert_allclose(grad, dk.gradient(lambda p: np.sum(np.dot(*unpack(p)) ** 2),
                                                 point, method="richardson"), rtol=1e-7)


MATMUL_PAIRS = [(R(3), R(3)), (R(2, 3), R(3, 4)), (R(2, 2, 3), R(2, 3, 4)), (R(3), R(2, 3, 4)),
                (R(2, 2, 3), R(3)), (R(1, 2, 2), R(3, 2, 1)), (R(2, 3), R(4, 3, 2))]


@pytest.mark.parametrize(("a", "b"), MATMUL_PAIRS, ids=[f"{np.shape(a)}@{np.shape(b)}"
                                                        for a, b in MATMUL_PAIRS])
def test_matmul_batched_and_broadcast(a, b):
    check_binary([np.matmul, lambda x, y: x @ y, dnp.matmul, np.linalg.matmul], a, b)


# ============================================================================ tensordot

TENSORDOT = [
    (R(2, 3, 2), R(3, 4, 2), ((1,), (0,))), (R(1, 3), R(3), ((1,), (0,))),
    (R(3, 4, 2), R(2, 3, 2), ((0,), (1,))),
    (R(2, 3, 1), R(2, 2, 3, 1), ((0, 1), (1, 2))), (R(2, 3, 2), R(3, 2, 2), ((1, 0), (0, 1))),
    (R(4, 2, 2), R(2, 2, 4), 1), (R(4, 2, 2), R(2, 2, 4), 2),
    (R(4), R(), 0), (R(2, 6), R(6, 3), [[-1], [0]]), (R(2, 6), R(6, 3), [-1, 0]),
    (R(2), R(2, 2), [0, 1]),
]


@pytest.mark.parametrize(("a", "b", "axes"), TENSORDOT,
                         ids=[f"{np.shape(a)}-{np.shape(b)}-{axes}" for a, b, axes in TENSORDOT])
def test_tensordot(a, b, axes):
    check_binary([np.tensordot, dnp.tensordot, np.linalg.tensordot], a, b, axes=axes)


def test_tensordot_axes_by_position():
    f = dk.Function(lambda x: np.tensordot(x * np.ones((2, 2)), x * np.ones((2, 2)), 2))
    assert dk.derivative(f, 1.5, method="reverse-mode") == pytest.approx(4 * 2 * 1.5)
    assert dk.derivative(f, 1.5, method="forward-mode") == pytest.approx(12.0)


def test_tensordot_hessian():
    a, b = R(2, 3), R(3, 2)
    point, unpack = pack(a, b)

    def f(p):
        x, y = unpack(p)
        return np.sum(np.tensordot(x, y, axes=([1, 0], [0, 1])) * np.tensordot(x, y, 1))

    ref = dk.hessian(f, point, method="richardson")
    for method in (*AD, "symbolic"):
        np.testing.assert_allclose(dk.hessian(f, point, method=method), ref, rtol=1e-6,
                                   atol=1e-7, err_msg=method)


# ============================================================================ inner, outer, vdot

INNER = [(1.5, 0.3), (R(3), R(3)), (R(2, 3), R(4, 3)), (1.5, R(4, 3)), (R(2, 3), 0.3),
         (R(2, 2, 3), R(3))]


@pytest.mark.parametrize(("a", "b"), INNER, ids=[f"{np.shape(a)}-{np.shape(b)}"
                                                 for a, b in INNER])
def test_inner(a, b):
    check_binary([np.inner, dnp.inner], a, b)


@pytest.mark.parametrize(("a", "b"), [(R(3), R(4)), (R(2, 2), R(3)), (1.5, R(2))])
def test_outer(a, b):
    ways = [np.outer, dnp.outer]
    if np.ndim(a) == np.ndim(b) == 1:
        ways.append(np.linalg.outer)
    check_binary(ways, a, b)


def test_outer_hessian():
    point = R(3)
    exact_h = 4 * np.eye(3) * np.sum(point**2) + 8 * np.outer(point, point)
    # sum(outer(x, x)**2) = |x|^4
    for method in (*AD, "symbolic", "complex-step"):
        h = dk.hessian(lambda x: np.sum(np.outer(x, x) ** 2), point, method=method)
        np.testing.assert_allclose(h, exact_h, rtol=1e-6, err_msg=method)


@pytest.mark.parametrize(("a", "b"), [(R(3), R(3)), (R(2, 3), R(3, 2)), (1.5, 0.5)])
def test_vdot(a, b):
    point, unpack = pack(a, b)
    # d vdot(a, b) = b da + a db on real input: the gradient is the point with a, b swapped
    swapped = np.concatenate([np.ravel(b), np.ravel(a)])
    for way in (np.vdot, dnp.vdot):
        check(lambda p, way=way: way(*unpack(p)), point, exact=lambda p: swapped)


def test_vdot_complex_step_is_the_continuation_not_the_conjugate():
    """numpy's vdot conjugates a, so numpy on x + ih is wrong; diffkit's traced rule is not."""
    x = np.array([0.5, -1.0, 2.0])
    f = dk.Function(lambda x: np.vdot(x, x))
    for _ in range(2):  # the second call must not fall back to plain numpy
        np.testing.assert_allclose(dk.gradient(f, x, method="complex-step"), 2 * x)
    z = np.array([1 + 2j, 3 - 1j])
    assert dnp.vdot(z, z) == np.vdot(z, z)  # plain values: numpy's own vdot


# ============================================================================ numpy 2's stacks

STACKS = [(np.vecdot, R(2, 2, 3), R(3)), (np.matvec, R(2, 2, 3), R(2, 1, 3)),
          (np.vecmat, R(2, 1, 2), R(2, 2, 3)),
          (lambda a, b: np.linalg.vecdot(a, b, axis=-2), R(2, 3, 2), R(3, 2))]


@pytest.mark.parametrize(("op", "a", "b"), STACKS, ids=["vecdot", "matvec", "vecmat", "axis"])
def test_vecdot_matvec_vecmat_broadcast(op, a, b):
    check_binary([op], a, b)


def test_vecdot_complex_step_is_the_continuation():
    x = np.array([0.5, -1.0, 2.0])
    f = dk.Function(lambda x: np.vecdot(x, x) + np.vecmat(x, np.outer(x, x)).sum())
    exact = 2 * x + 2 * x * np.sum(x) + np.sum(x * x)  # |x|^2 + |x|^2 sum(x)
    for method in ("complex-step", "complex-step", "reverse-mode"):
        np.testing.assert_allclose(dk.gradient(f, x, method=method), exact, rtol=1e-14)


# ============================================================================ kron

KRON = [(R(2, 2), R(3, 3)), (R(3), R(2)), (R(3, 1), R(1, 2)), (R(1, 3), R(2, 1)), (R(), R()),
        (R(2), R(2, 2)), (R(2, 2), 0.5)]


@pytest.mark.parametrize(("a", "b"), KRON, ids=[f"{np.shape(a)}x{np.shape(b)}"
                                                for a, b in KRON])
def test_kron(a, b):
    check_binary([np.kron, dnp.kron], a, b)


# ============================================================================ cross

CROSS = [{}, {"axisa": 0, "axisb": 1, "axisc": -1}, {"axisa": 1, "axisb": 0, "axisc": 0},
         {"axisa": -1, "axisb": 0, "axisc": 1}, {"axis": 0}, {"axis": 1}, {"axis": None}]


@pytest.mark.parametrize("kwargs", CROSS, ids=[str(k) for k in CROSS])
def test_cross_axes(kwargs):
    check_binary([np.cross, dnp.cross], R(3, 3), R(3, 3), **kwargs)


def test_cross_vectors_exact_and_broadcast():
    a, b = R(3), R(3)
    point, unpack = pack(a, b)

    def skew(v):  # cross(v, w) = skew(v) @ w
        return np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])

    check(lambda p: np.cross(*unpack(p)), point,
          exact=lambda p: np.hstack([-skew(p[3:]), skew(p[:3])]))
    check_binary([np.cross, np.linalg.cross], R(2, 3), R(3))


def test_cross_hessian():
    point = R(6)
    f = dk.Function(lambda p: np.sum(np.cross(p[:3], p[3:]) ** 2))
    ref = dk.hessian(f, point, method="richardson")
    for method in (*AD, "symbolic"):
        np.testing.assert_allclose(dk.hessian(f, point, method=method), ref, rtol=1e-6,
                                   atol=1e-7, err_msg=method)


# ============================================================================ einsum

EINSUM = [
    ("ij->ji", (R(3, 4),)), ("ij->ji", (R(1, 1),)), ("ij,jk->ik", (R(2, 3), R(3, 4))),
    ("...ij,...jk->...ik", (R(2, 3), R(2, 3, 4))), ("...ij,...jk->...ik", (R(2, 2, 3), R(3, 4))),
    ("ijk,lji->lki", (R(2, 3, 3), R(3, 3, 2))), ("...jk,...lj->...lk", (R(2, 3, 3), R(3, 3))),
    ("...,...->...", (R(3, 4), R(4))), ("jk...,lj...->lk...", (R(3, 2, 4), R(2, 3, 4))),
    ("j...k,lj...->lk...", (R(2, 2, 2), R(2, 2, 2))),
    ("ijk,lji,lli->lki", (R(3, 2, 2), R(2, 2, 3), R(2, 2, 3))),
    ("k,nk->", (R(5), R(4, 5))), ("abcd->bd", (R(3, 2, 3, 2),)),
    ("...k,...nk->...", (R(3, 5), R(3, 4, 5))), ("ij,k", (R(3, 4), R(3))),
    ("ii->", (R(3, 3),)), ("ii->i", (R(3, 3),)), ("ii", (R(3, 3),)), ("iji->j", (R(2, 3, 2),)),
    ("ij,ij", (R(2, 3), R(2, 3))), ("ij,jk", (R(2, 3), R(3, 2))), ("ba", (R(2, 3),)),
    ("ij,ij->ij", (R(1, 3), R(2, 3))), (",i->i", (0.5, R(3))),
]


@pytest.mark.parametrize(("subscripts", "operands"), EINSUM, ids=[s for s, _ in EINSUM])
def test_einsum(subscripts, operands):
    point, unpack = pack(*operands)
    check(lambda p: np.einsum(subscripts, *unpack(p)), point)
    check(lambda p: dnp.einsum(subscripts, *unpack(p), optimize=True), point, methods=AD)


SUBLISTS = [
    ((R(4, 4), [0, 1]), [1, 0]),
    ((R(2, 3), [0, 1], R(3, 4), [1, 2]), [0, 2]),
    ((R(2, 3), [Ellipsis, 0, 1], R(2, 3, 4), [Ellipsis, 1, 2]), [Ellipsis, 0, 2]),
    ((R(2, 3, 3), [0, 1, 2], R(3, 3, 2), [3, 1, 0]), [3, 2, 0]),
    ((R(3, 2, 2), [0, 1, 2], R(2, 2, 3), [3, 1, 0], R(2, 2, 3), [3, 3, 0]), [3, 2, 0]),
    ((R(2, 3), [0, 1], R(3, 2), [1, 0]), None),
]


@pytest.mark.parametrize(("pairs", "out"), SUBLISTS, ids=[str(k) for k in range(len(SUBLISTS))])
def test_einsum_sublist_form(pairs, out):
    operands, subs = pairs[0::2], list(pairs[1::2])
    point, unpack = pack(*operands)

    def f(p):
        args = [v for pair in zip(unpack(p), subs, strict=True) for v in pair]
        return np.einsum(*args, *([out] if out is not None else []))

    check(f, point, methods=(*AD, "symbolic"))


def test_einsum_hessian_and_third_order():
    a, b = R(2, 3), R(3, 3)
    point, unpack = pack(a, b)

    def f(p):
        x, y = unpack(p)
        return np.einsum("ij,jk,ik->", x, y, x) + np.einsum("ii->", y) ** 2

    ref = dk.hessian(f, point, method="richardson")
    for method in (*AD, "symbolic"):
        np.testing.assert_allclose(dk.hessian(f, point, method=method), ref, rtol=1e-6,
                                   atol=1e-7, err_msg=method)
    # forward over reverse over reverse: the einsum VJPs are einsums again
    from diffkit.methods import forward, reverse

    x = R(3)
    v = R(3)
    third = forward.jvp(lambda z: reverse.hessian(
        lambda w: np.einsum("i,i,i->", w, w, w), z), x, v)[1]
    np.testing.assert_allclose(np.reshape(third, (3, 3)), 6 * np.diag(v), atol=1e-12)


def test_einsum_object_arrays_are_symbolic():
    sympy = pytest.importorskip("sympy")
    x = np.array(sympy.symbols("a b c d"), dtype=object).reshape(2, 2)
    assert sympy.expand(REGISTRY["einsum"].symbolic(x, subscripts="ii->") - (x[0, 0] + x[1, 1]))\
        == 0


# ============================================================================ multi_dot


@pytest.mark.parametrize("shapes", [((2, 3), (3, 3), (3, 2)), ((3,), (3, 4), (4, 2), (2,)),
                                    ((2, 3), (3,))])
def test_multi_dot(shapes):
    point, unpack = pack(*[R(*s) for s in shapes])
    check(lambda p: np.linalg.multi_dot(unpack(p)), point)
    check(lambda p: dnp.linalg.multi_dot(unpack(p)), point, methods=AD)


# ============================================================================ linalg.norm: vectors


def _p_norm_grad(x, p):
    return np.sign(x) * (np.abs(x) / np.linalg.norm(x, p)) ** (p - 1)


VECTOR_ORDS = {
    None: lambda x: x / np.linalg.norm(x),
    2: lambda x: x / np.linalg.norm(x),
    1: np.sign,
    np.inf: lambda x: np.sign(x) * (np.abs(x) == np.max(np.abs(x))),
    -np.inf: lambda x: np.sign(x) * (np.abs(x) == np.min(np.abs(x))),
    3: lambda x: _p_norm_grad(x, 3),
    4: lambda x: _p_norm_grad(x, 4),
    0.5: lambda x: _p_norm_grad(x, 0.5),
    -1.5: lambda x: _p_norm_grad(x, -1.5),
}
VEC = np.array([0.8, -1.9, 0.35, 1.2, -0.6])


@pytest.mark.parametrize("ord", list(VECTOR_ORDS), ids=[str(o) for o in VECTOR_ORDS])
def test_vector_norm_every_ord(ord):
    analytic = ord in (None, 2)
    methods = EVERY if analytic else (*AD, "symbolic")
    for way in (np.linalg.norm, dnp.linalg.norm):
        check(lambda x, way=way: way(x, ord), VEC, methods, exact=VECTOR_ORDS[ord])
    check(lambda x: np.linalg.vector_norm(x, ord=2 if ord is None else ord), VEC, AD,
          exact=VECTOR_ORDS[ord])
    if not analytic:
        with pytest.raises(dk.NonAnalyticError, match="'norm', which is not complex-analytic"):
            dk.gradient(lambda x: np.linalg.norm(x, ord), VEC, method="complex-step")


def test_vector_norm_ord_zero_counts_and_has_zero_derivative():
    f = dk.Function(lambda x: np.linalg.norm(x, 0))
    assert float(f(VEC)) == 5.0
    for method in (*AD, "symbolic", "richardson"):
        np.testing.assert_array_equal(dk.gradient(f, VEC, method=method), np.zeros(5))
    assert "derivative 0" in REGISTRY["norm"].derivative_text


def test_norm_hessians():
    x = VEC
    n = np.linalg.norm(x)
    exact = (np.eye(5) - np.outer(x, x) / n**2) / n
    for method in EVERY:
        np.testing.assert_allclose(dk.hessian(lambda v: np.linalg.norm(v), x, method=method),
                                   exact, rtol=1e-6, atol=1e-8, err_msg=method)
    for ord in (3, -1.5):
        ref = dk.hessian(lambda v, o=ord: np.linalg.norm(v, o), x, method="richardson")
        for method in (*AD, "symbolic"):
            np.testing.assert_allclose(
                dk.hessian(lambda v, o=ord: np.linalg.norm(v, o), x, method=method), ref,
                rtol=1e-6, atol=1e-7, err_msg=f"{ord} {method}")


def test_norm_of_a_list_of_traced_values():
    """autograd's test_norm_list_of_boxes: d/dx |(x, x + 2)| at 0 is 2 / sqrt(4) = 1."""
    for method in EVERY:
        assert dk.derivative(lambda x: dnp.linalg.norm([x, x + 2]), 0.0,
                             method=method) == pytest.approx(1.0, rel=1e-12)


# ============================================================================ linalg.norm: matrices

MAT = np.array([[0.9, -0.2, 0.4, 1.3], [-0.5, 1.1, 0.3, -0.7], [0.2, 0.6, -1.5, 0.1]])


def _svd_pair(x, k):
    u, _, vt = np.linalg.svd(x)
    return np.outer(u[:, k], vt[k])


def _nuc(x):
    u, _, vt = np.linalg.svd(x, full_matrices=False)
    return u @ vt


MATRIX_ORDS = {None: lambda x: x / np.linalg.norm(x), "fro": lambda x: x / np.linalg.norm(x),
               2: lambda x: _svd_pair(x, 0), -2: lambda x: _svd_pair(x, 2), "nuc": _nuc,
               1: None, -1: None, np.inf: None, -np.inf: None}


@pytest.mark.parametrize("ord", list(MATRIX_ORDS), ids=[str(o) for o in MATRIX_ORDS])
def test_matrix_norm_every_ord(ord):
    analytic, spectral = ord in (None, "fro"), ord in (2, -2, "nuc")
    methods = EVERY if analytic else AD if spectral else (*AD, "symbolic")
    exact = MATRIX_ORDS[ord]
    for way in (np.linalg.norm, dnp.linalg.norm):
        check(lambda x, way=way: way(x, ord), MAT, methods, exact=exact)
    check(lambda x: np.linalg.matrix_norm(x, ord="fro" if ord is None else ord), MAT, AD,
          exact=exact)
    if spectral:
        with pytest.raises(dk.UnsupportedPrimitiveError, match="singular values, which have no "
                                                               "closed form"):
            dk.gradient(lambda x: np.linalg.norm(x, ord), MAT, method="symbolic")
    if not analytic:
        with pytest.raises(dk.NonAnalyticError, match="not complex-analytic"):
            dk.gradient(lambda x: np.linalg.norm(x, ord), MAT, method="complex-step")


AXES = [(None, 1, False), (None, -1, True), (3, 0, False), (np.inf, -1, True),
        ("fro", (2, 0), True), (1, (0, 2), False), (-np.inf, (2, 1), True),
        ("nuc", (0, 1), False), (2, (2, 0), True), (-2, (1, 2), False)]


@pytest.mark.parametrize(("ord", "axis", "keepdims"), AXES, ids=[str(a) for a in AXES])
def test_norm_axis_and_keepdims(ord, axis, keepdims):
    x = R(2, 2, 3)
    f = dk.Function(lambda v: np.linalg.norm(v, ord, axis=axis, keepdims=keepdims))
    assert np.shape(f(x)) == np.shape(np.linalg.norm(x, ord, axis=axis, keepdims=keepdims))
    methods = EVERY if ord in (None, "fro") else AD if ord in (2, -2, "nuc") else \
        (*AD, "symbolic")
    check(f, x, methods)


def test_vector_norm_and_matrix_norm_over_stacks():
    x = R(2, 2, 3)
    check(lambda v: np.linalg.vector_norm(v, axis=(0, 2)), x)
    check(lambda v: np.linalg.vector_norm(v, axis=(2, 0), ord=1, keepdims=True), x,
          (*AD, "symbolic"))
    check(lambda v: np.linalg.vector_norm(v, ord=-np.inf), x, (*AD, "symbolic"))
    check(lambda v: np.linalg.matrix_norm(v, ord="nuc", keepdims=True), x, AD)
    check(lambda v: np.linalg.matrix_norm(v), x)


def test_matrix_hessians():
    ref = dk.hessian(lambda v: np.linalg.norm(v, "fro"), MAT, method="richardson")
    for method in EVERY:
        np.testing.assert_allclose(dk.hessian(lambda v: np.linalg.norm(v, "fro"), MAT,
                                              method=method), ref, rtol=1e-6, atol=1e-7)
    for method in (*AD, "symbolic"):  # piecewise linear: zero curvature between kinks
        np.testing.assert_array_equal(dk.hessian(lambda v: np.linalg.norm(v, 1), MAT,
                                                 method=method), np.zeros((12, 12)))


@pytest.mark.skipif("svdvals" in REGISTRY, reason="an svd primitive gives second derivatives")
@pytest.mark.parametrize("ord", [2, "nuc"])
def test_singular_value_norm_second_derivative_refuses(ord):
    for method in AD:
        with pytest.raises(dk.UnsupportedPrimitiveError,
                           match="no svd primitive to differentiate them; first derivatives "
                                 "work"):
            dk.hessian(lambda v, o=ord: np.linalg.norm(v, o), MAT, method=method)


# ============================================================================ the complex step


def test_complex_step_through_np_linalg_norm_is_right():
    """The issue: numpy's norm takes |x + ih|, so plain numpy gave [0.6, 0.] with status ok."""
    f = dk.Function(lambda x: np.linalg.norm(x))
    for _ in range(3):  # every call, not just the first (traced) one
        np.testing.assert_allclose(dk.gradient(f, np.array([3.0, 4.0]), method="complex-step"),
                                   [0.6, 0.8], rtol=1e-15)
    batch = dk.Function(lambda x: np.linalg.norm(x, axis=-1), vectorized=True)
    np.testing.assert_allclose(dk.gradient(batch, np.array([3.0, 4.0, 12.0]),
                                           method="complex-step"), [3 / 13, 4 / 13, 12 / 13])


def test_the_continuation_agrees_with_numpy_on_real_input_only():
    prim = REGISTRY["vector_norm"]
    x = R(3, 4)
    np.testing.assert_allclose(prim.continuation(x, axis=1), np.linalg.norm(x, axis=1))
    z = x + 1j * R(3, 4)
    np.testing.assert_allclose(prim.continuation(z), np.sqrt(np.sum(z * z)))
    assert dnp.linalg.norm(z) == np.linalg.norm(z)  # plain values: numpy's own norm


# ============================================================================ refusals, pinned

X23 = np.arange(1.0, 7.0).reshape(2, 3)
REFUSALS = [
    (lambda x: np.linalg.norm(x[0], "fro"),
     "numpy.linalg.norm(x, ord='fro', axis=None): ord='fro' is not a vector norm"),
    (lambda x: np.linalg.norm(x, 3),
     "ord=3 is not a matrix norm; matrices take None, 'fro', 'nuc', 1, -1, 2, -2, inf or -inf"),
    (lambda x: np.linalg.norm(x.reshape(1, 2, 3), axis=(0, 1, 2)),
     "a norm is over one axis (a vector) or two (a matrix); for more, use "
     "dnp.linalg.vector_norm"),
    (lambda x: np.linalg.norm(x.reshape(1, 2, 3), 1),
     "with ord and no axis numpy takes a vector or a matrix; pass axis="),
    (lambda x: np.linalg.norm(x, axis=(0, 0)), "axis=(0, 0) is out of range or repeated"),
    (lambda x: np.linalg.matrix_norm(x[0]), "it takes a stack of matrices"),
    (lambda x: np.einsum("ij,jk->ik", x, x),
     "numpy.einsum('ij,jk->ik', ...) on operands of shapes (2, 3), (2, 3): operands could not "
     "be broadcast together"),
    (lambda x: np.einsum("i->", x), "subscripts 'i' do not fit an operand of shape (2, 3)"),
    (lambda x: np.einsum("ij->ii", x), "output subscripts 'ii' repeat a label"),
    (lambda x: np.einsum("ij->", x, dtype=float), "call it without dtype="),
    (lambda x: np.einsum("...j->j", x.reshape(1, 2, 3)), "the output needs exactly one '...'"),
    (lambda x: np.einsum(x, ["a"]), "is not a list of integers 0-51 and Ellipsis"),
    (lambda x: np.tensordot(x, x, axes=([0], [1])),
     "shape mismatch: contracted axes differ in length"),
    (lambda x: np.tensordot(x, x, axes=3), "cannot contract 3 axes"),
    (lambda x: np.cross(x[0, :2], x[1, :2]),
     "numpy.cross on traced vectors of length 2: diffkit takes 3-vectors"),
    (lambda x: np.cross(x, x, axisa=4), "numpy.cross(..., axisa=4): out of range"),
    (lambda x: np.linalg.multi_dot([x]), "it takes two or more matrices"),
    (lambda x: np.dot(x, x.T, out=np.zeros((2, 2))), "numpy.dot(a, b, out=...)"),
]


@pytest.mark.parametrize(("f", "message"), REFUSALS, ids=[m[:40] for _, m in REFUSALS])
def test_unsupported_call_forms_raise_clear_errors(f, message):
    for method in (*AD, "symbolic"):
        with pytest.raises(dk.UnsupportedPrimitiveError) as info:
            dk.jacobian(f, X23, method=method)
        assert message in str(info.value), method


@pytest.mark.parametrize("a_shape", [(4, 3), (2, 4, 3), (2, 1, 4, 3), (4, 0), (0, 3)])
def test_matrix_times_vector_cotangent_of_the_vector(a_shape):
    """The vector's cotangent of ``a @ v`` is one product (g flattened against a's rows),
    for stacked ``a``, an empty inner dimension and an empty stack alike."""
    a = R(*a_shape)
    n = a_shape[-1]

    def f(x):
        return dnp.sum(dnp.sin(a @ x[:n])) + dnp.sum(x ** 2)

    x = np.linspace(0.2, 0.9, n + 1)
    want = dk.gradient(f, x, method="richardson")
    for method in ("reverse-mode", "forward-mode", "reverse-compiled"):
        np.testing.assert_allclose(dk.gradient(f, x, method=method), want, rtol=1e-8,
                                   atol=1e-10)
    np.testing.assert_allclose(dk.hessian(f, x, method="reverse-mode"),
                               dk.hessian(f, x, method="forward-mode"), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", ["auto", "reverse-mode", "forward-mode", "reverse-compiled",
                                    "symbolic"])
def test_lists_of_numbers_are_the_arrays_numpy_makes_of_them(method):
    """``w @ [1.0, 2.0]``, ``np.dot(c, w)`` with a list c, a nested list on the left, a list in
    an elementwise operator: the rules see arrays (they raised a raw TypeError, or symbolic
    took the list for a vector output)."""
    w = np.array([0.5, -1.0])
    cases = [
        (lambda v: v @ [1.0, 2.0], [1.0, 2.0], ()),
        (lambda v, c: np.dot(c, v), [1.0, 2.0], ([1.0, 2.0],)),
        (lambda v: np.sum([[1.0, 2.0], [3.0, 4.0]] @ v), [4.0, 6.0], ()),
        (lambda v: np.sum(np.multiply(v, [3.0, 4.0])), [3.0, 4.0], ()),
        (lambda v: np.sum(v - [1.0, 1.0]) ** 2, [-5.0, -5.0], ()),
        (lambda v: np.sum((1.0, 2.0) * v), [1.0, 2.0], ()),
    ]
    for f, want, args in cases:
        np.testing.assert_allclose(dk.gradient(f, w, method=method, args=args), want,
                                   rtol=1e-12)
