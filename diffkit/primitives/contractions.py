"""Contractions: matrix products and their relatives."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import REGISTRY, Tracer, bind
from ._stanza import M, V, ops, primitive, shape_of, unbroadcast


def _swap_last(a: Any) -> Any:
    nd = len(shape_of(a))
    axes = (*range(nd - 2), nd - 1, nd - 2)
    return ops.transpose(a, axes)


def _matmul_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    na, nb = len(shape_of(a)), len(shape_of(b))
    if na == 0 or nb == 0:  # dot with a scalar is multiplication
        return unbroadcast(g * b, a)
    if nb == 1:  # (..., n) . (n,) -> (...): da = g[..., None] * b
        ga = g * b if na == 1 else ops.reshape(g, (*shape_of(g), 1)) * b
        return unbroadcast(ga, a)
    if na == 1:  # (n,) @ (..., n, k) -> (..., k): da = sum over batch of b @ g
        gb = ops.reshape(g, (*shape_of(g), 1))
        return unbroadcast(ops.reshape(matmul(b, gb), (*shape_of(g)[:-1], shape_of(b)[-2])), a)
    return unbroadcast(matmul(g, _swap_last(b)), a)


def _matmul_vjp_b(g: Any, ans: Any, a: Any, b: Any) -> Any:
    na, nb = len(shape_of(a)), len(shape_of(b))
    if na == 0 or nb == 0:
        return unbroadcast(g * a, b)
    if na == 1:  # (n,) @ (..., n, k) -> (..., k): db = a[:, None] * g[..., None, :]
        if nb == 1:
            return g * a
        return unbroadcast(ops.reshape(a, (shape_of(a)[0], 1))
                           * ops.reshape(g, (*shape_of(g)[:-1], 1, shape_of(g)[-1])), b)
    if nb == 1:  # (..., m, n) @ (n,) -> (..., m): db = sum g[..., None] * a
        return unbroadcast(ops.sum(ops.reshape(g, (*shape_of(g), 1)) * a,
                                   axis=tuple(range(na - 1))), b)
    if na == 2 and nb == 2 and shape_of(a)[1] > shape_of(g)[1]:
        # the same product, transposed: numpy's OpenBLAS takes 0.6-0.85 of the time of a.T @ g
        # when the result has more rows than columns (a (128, 784), g (128, 256): 1.65 ms for
        # 2.10; benchmarks/reverse.py's MLP), and about the same time otherwise
        return ops.transpose(matmul(ops.transpose(g), a))
    return unbroadcast(matmul(_swap_last(a), g), b)


def _symbolic_matmul(a: Any, b: Any) -> Any:
    if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray):
        return a * b
    return np.dot(a, b) if a.ndim <= 2 and b.ndim <= 2 else np.matmul(a, b)


_PRODUCT_SAMPLES = (((M, V), {}), ((V, M.T), {}), ((M, M.T), {}), ((V, V), {}))

matmul = primitive(
    "matmul", np.matmul, kind="binary", symbolic=_symbolic_matmul, operators=("matmul",),
    elementwise=False, saves=((1,), (0,)),
    vjp=(_matmul_vjp_a, _matmul_vjp_b),
    jvp=(lambda t, ans, a, b: matmul(t, b), lambda t, ans, a, b: matmul(a, t)),
    infix="@", partials=("{1}", "{0}"), samples=_PRODUCT_SAMPLES,
    derivative="d(AB) = dA B + A dB",
)


def _dot(a: Any, b: Any, out: Any = None) -> Any:
    if out is not None:
        from ..errors import UnsupportedPrimitiveError

        raise UnsupportedPrimitiveError("numpy.dot(a, b, out=...) on traced values is not "
                                        "recorded; assign the result instead")
    if isinstance(a, Tracer) or isinstance(b, Tracer):
        if np.ndim(a) > 2 or np.ndim(b) > 2:  # numpy's dot of stacks is not matmul's
            return ops.tensordot(a, b, axes=([-1], [-2 if np.ndim(b) > 1 else 0]))
        return bind(REGISTRY["dot"], (a, b), {})
    return np.dot(a, b)


def _dot_numeric(a: Any, b: Any) -> Any:
    return np.dot(a, b)


dot = primitive(
    "dot", _dot_numeric, function=_dot, symbolic=_symbolic_matmul, methods=("dot",),
    saves=((1,), (0,)),
    vjp=(_matmul_vjp_a, _matmul_vjp_b),
    jvp=(lambda t, ans, a, b: dot(t, b), lambda t, ans, a, b: dot(a, t)),
    partials=("{1}", "{0}"),
    samples=(((M, V), {}), ((V, V), {}), ((M.T, M), {}), ((2.0, V), {})),
    derivative="d(a.b) = da.b + a.db",
)

__all__ = ["dot", "matmul"]
