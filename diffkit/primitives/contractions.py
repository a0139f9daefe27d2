"""Contractions: matrix products and their relatives.

Every contraction is linear in each operand, so the VJP of an operand is the same kind of
contraction of the cotangent with the other operands, and its JVP the contraction with the
tangent in the operand's place. The rules are written with the primitives themselves, so they
differentiate again (Hessians by reverse-over-reverse and forward-over-reverse).
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

import numpy as np

from ..core import REGISTRY, Tracer, as_operand, bind
from ..errors import UnsupportedPrimitiveError
from ._stanza import M, V, like, ops, primitive, shape_of, unbroadcast

# more sample shapes: a square matrix, a stack of matrices, a 3-vector pair, a row
S = np.array([[0.6, -0.3, 0.8], [0.2, 1.1, -0.5], [0.9, 0.4, 0.3]])
T = np.array([[[0.5, -0.2, 0.7], [0.1, 0.9, -0.4]], [[-0.6, 0.3, 0.2], [0.8, -0.1, 0.5]]])
W = np.array([-0.4, 0.9, 0.6])
R = np.array([[0.7, -0.2, 0.5]])


def _obj(x: Any) -> np.ndarray:
    """An object array of sympy values (numpy's contractions run on them)."""
    return np.asarray(x, dtype=object)


def _scalar(out: Any) -> Any:
    """A 0-d result as its entry (the symbolic rules return sympy scalars, not 0-d arrays)."""
    return out[()] if isinstance(out, np.ndarray) and out.ndim == 0 else out


def _traced(*values: Any) -> bool:
    return any(isinstance(v, Tracer) for v in values)


def _moveaxis(x: Any, source: int, destination: int) -> Any:
    """``numpy.moveaxis`` of one axis, as a transpose (recorded on traced values)."""
    nd = len(shape_of(x))
    source, destination = source % nd, destination % nd
    if source == destination:
        return x
    order = [k for k in range(nd) if k != source]
    order.insert(destination, source)
    return ops.transpose(x, tuple(order))


def _of_shape(shape: tuple[int, ...]) -> np.ndarray:
    """A stand-in of ``shape`` for :func:`unbroadcast`, which reads only the shape."""
    return np.broadcast_to(0.0, shape)


# ============================================================================ matmul, dot


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
    if nb == 1:  # (..., m, n) @ (n,) -> (..., m): db = sum over (..., m) of g a, one product
        # (g flattened against a's rows: a gemv, not an (..., m, n) temporary and its sum)
        lead = int(np.prod(shape_of(a)[:-1], dtype=np.int64))  # (not -1: n may be 0)
        return matmul(ops.reshape(g, (lead,)), ops.reshape(a, (lead, shape_of(a)[-1])))
    # (not (g.T @ a).T: a little faster in OpenBLAS for a tall result, but a transposed view,
    # which the gradient handed to the user must copy - 1.0 ms more on the MLP's 784 x 256)
    return unbroadcast(matmul(_swap_last(a), g), b)


def _symbolic_matmul(a: Any, b: Any) -> Any:
    if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray):
        return a * b
    return np.dot(a, b) if a.ndim <= 2 and b.ndim <= 2 else np.matmul(a, b)


_PRODUCT_SAMPLES = (((M, V), {}), ((V, M.T), {}), ((M, M.T), {}), ((V, V), {}),
                    ((T, S), {}), ((T[:1], np.stack([M.T, M.T[::-1]])), {}),
                    ((V, np.stack([S, S.T])), {}))

matmul = primitive(
    "matmul", np.matmul, kind="binary", symbolic=_symbolic_matmul, operators=("matmul",),
    numpy=("matmul", "linalg.matmul"), elementwise=False, saves=((1,), (0,)),
    vjp=(_matmul_vjp_a, _matmul_vjp_b),
    jvp=(lambda t, ans, a, b: matmul(t, b), lambda t, ans, a, b: matmul(a, t)),
    infix="@", partials=("{1}", "{0}"), samples=_PRODUCT_SAMPLES,
    derivative="d(AB) = dA B + A dB",
)


def _dot(a: Any, b: Any, out: Any = None) -> Any:
    if out is not None:
        raise UnsupportedPrimitiveError("numpy.dot(a, b, out=...) on traced values is not "
                                        "recorded; assign the result instead")
    if _traced(a, b):
        a, b = as_operand(a), as_operand(b)  # (np.dot([1.0, 2.0], w))
        na, nb = len(shape_of(a)), len(shape_of(b))
        if na > 2 or nb > 2:
            if na == 0 or nb == 0:  # dot with a scalar is multiplication
                return ops.multiply(a, b)
            # numpy's dot of stacks is not matmul's: the last axis of a with the
            # second-to-last of b (the only one of a vector), every other axis kept
            return ops.tensordot(a, b, axes=((na - 1,), (nb - 2 if nb > 1 else 0,)))
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
    samples=(((M, V), {}), ((V, V), {}), ((M.T, M), {}), ((2.0, V), {}), ((M, 0.5), {})),
    derivative="d(a.b) = da.b + a.db",
)

# ============================================================================ tensordot


def _axes_error(a: Any, b: Any, axes: Any, why: str) -> UnsupportedPrimitiveError:
    return UnsupportedPrimitiveError(
        f"numpy.tensordot(a, b, axes={axes!r}) with a of shape {shape_of(a)} and b of shape "
        f"{shape_of(b)}: {why}; axes is an int n (the last n axes of a with the first n of "
        f"b) or a pair of axis lists of equal length, e.g. axes=([1], [0])")


def _tensordot_axes(a: Any, b: Any, axes: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """numpy's ``axes`` as a pair of tuples of non-negative axes, checked against the shapes."""
    sa, sb = shape_of(a), shape_of(b)
    na, nb = len(sa), len(sb)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if not 0 <= n <= min(na, nb):
            raise _axes_error(a, b, axes, f"cannot contract {n} axes")
        pair = (tuple(range(na - n, na)), tuple(range(n)))
    else:
        try:
            xa, xb = axes
            xa = (int(xa),) if isinstance(xa, (int, np.integer)) else tuple(int(k) for k in xa)
            xb = (int(xb),) if isinstance(xb, (int, np.integer)) else tuple(int(k) for k in xb)
        except (TypeError, ValueError):
            raise _axes_error(a, b, axes, "not an int or a pair of axis lists") from None
        if len(xa) != len(xb):
            raise _axes_error(a, b, axes, "the two axis lists differ in length")
        if any(not -na <= k < na for k in xa) or any(not -nb <= k < nb for k in xb):
            raise _axes_error(a, b, axes, "an axis is out of range")
        pair = (tuple(k % na for k in xa), tuple(k % nb for k in xb))
        if len(set(pair[0])) < len(xa) or len(set(pair[1])) < len(xb):
            raise _axes_error(a, b, axes, "an axis is repeated")
    if any(sa[i] != sb[j] for i, j in zip(*pair, strict=True)):
        raise _axes_error(a, b, axes, "shape mismatch: contracted axes differ in length")
    return pair


def _tensordot_signature(a: Any, b: Any, axes: Any = 2) -> Any:
    return (a, b), {"axes": _tensordot_axes(a, b, axes)}


def _argsort(dest: list[int]) -> tuple[int, ...]:
    return tuple(int(k) for k in np.argsort(dest))


def _permuted(x: Any, perm: tuple[int, ...]) -> Any:
    return x if perm == tuple(range(len(perm))) else ops.transpose(x, perm)


def _tensordot_vjp_a(g: Any, ans: Any, a: Any, b: Any, axes: Any) -> Any:
    # contract g's b-part with b's free axes; what is left is a's free axes followed by b's
    # contracted axes (ascending), each of which stands for its partner axis of a
    xa, xb = axes
    na, nb = len(shape_of(a)), len(shape_of(b))
    free_a = [k for k in range(na) if k not in xa]
    free_b = [k for k in range(nb) if k not in xb]
    ga = tensordot(g, b, axes=(tuple(range(len(free_a), len(free_a) + len(free_b))),
                               tuple(free_b)))
    dest = free_a + [xa[xb.index(k)] for k in sorted(xb)]
    return _permuted(ga, _argsort(dest))


def _tensordot_vjp_b(g: Any, ans: Any, a: Any, b: Any, axes: Any) -> Any:
    xa, xb = axes
    na, nb = len(shape_of(a)), len(shape_of(b))
    free_a = [k for k in range(na) if k not in xa]
    free_b = [k for k in range(nb) if k not in xb]
    gb = tensordot(a, g, axes=(tuple(free_a), tuple(range(len(free_a)))))
    dest = [xb[xa.index(k)] for k in sorted(xa)] + free_b
    return _permuted(gb, _argsort(dest))


tensordot = primitive(
    "tensordot", lambda a, b, axes: np.tensordot(a, b, axes), signature=_tensordot_signature,
    symbolic=lambda a, b, axes: _scalar(np.tensordot(_obj(a), _obj(b), axes)),
    numpy=("tensordot", "linalg.tensordot"), saves=((1,), (0,)),
    vjp=(_tensordot_vjp_a, _tensordot_vjp_b),
    jvp=(lambda t, ans, a, b, axes: tensordot(t, b, axes=axes),
         lambda t, ans, a, b, axes: tensordot(a, t, axes=axes)),
    samples=(((M, S), {"axes": ((1,), (0,))}), ((T, M), {"axes": ((1, 2), (0, 1))}),
             ((T, M.T), {"axes": ((0, 2), (1, 0))}), ((V, M), {"axes": ((0,), (1,))}),
             ((V, W), {"axes": ((), ())}), ((0.5, M), {"axes": ((), ())})),
    derivative="linear in each operand: the cotangent contracted with the other operand",
)

# ============================================================================ inner, outer, vdot


def _inner_axes(a: Any, b: Any) -> Any:
    na, nb = len(shape_of(a)), len(shape_of(b))
    return None if na == 0 or nb == 0 else ((na - 1,), (nb - 1,))


def _inner_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    axes = _inner_axes(a, b)
    if axes is None:  # a scalar: multiplication
        return unbroadcast(g * b, a)
    return _tensordot_vjp_a(g, ans, a, b, axes)


def _inner_vjp_b(g: Any, ans: Any, a: Any, b: Any) -> Any:
    axes = _inner_axes(a, b)
    if axes is None:
        return unbroadcast(g * a, b)
    return _tensordot_vjp_b(g, ans, a, b, axes)


inner = primitive(
    "inner", np.inner, kind="binary", elementwise=False, saves=((1,), (0,)),
    symbolic=lambda a, b: _scalar(np.inner(_obj(a), _obj(b))),
    vjp=(_inner_vjp_a, _inner_vjp_b),
    jvp=(lambda t, ans, a, b: inner(t, b), lambda t, ans, a, b: inner(a, t)),
    partials=("{1}", "{0}"),
    samples=(((V, W), {}), ((M, S), {}), ((T, M), {}), ((1.5, M), {}), ((V, 0.3), {})),
    derivative="inner(a, b) = tensordot(a, b, (-1, -1)); linear in each operand",
)


def _flat(x: Any) -> Any:
    return ops.reshape(x, (-1,))


outer = primitive(
    "outer", np.outer, kind="binary", elementwise=False, saves=((1,), (0,)),
    numpy=("outer", "linalg.outer"),
    symbolic=lambda a, b: np.outer(_obj(a), _obj(b)),
    # outer(a, b)[i, j] = a.flat[i] b.flat[j]: da = g @ b.flat, db = a.flat @ g
    vjp=(lambda g, ans, a, b: ops.reshape(matmul(g, _flat(b)), shape_of(a)),
         lambda g, ans, a, b: ops.reshape(matmul(_flat(a), g), shape_of(b))),
    jvp=(lambda t, ans, a, b: outer(t, b), lambda t, ans, a, b: outer(a, t)),
    samples=(((V, W), {}), ((M, V), {}), ((0.5, W), {})),
    derivative="outer(a, b)[i, j] = a.flat[i] b.flat[j]",
)


def _vdot_symbolic(a: Any, b: Any) -> Any:
    # the symbols are real: vdot's conjugate of a is a itself
    return _scalar(np.dot(_obj(a).ravel(), _obj(b).ravel()))


vdot = primitive(
    "vdot", np.vdot, kind="binary", elementwise=False, saves=((1,), (0,)),
    symbolic=_vdot_symbolic,
    # numpy conjugates a; the complex step needs the continuation of the real function,
    # sum(a.flat * b.flat), which numpy's vdot is not on x + ih
    continuation=lambda a, b: np.dot(np.ravel(a), np.ravel(b)),
    vjp=(lambda g, ans, a, b: g * ops.reshape(b, shape_of(a)),
         lambda g, ans, a, b: g * ops.reshape(a, shape_of(b))),
    # vdot is conjugate-linear in a: its tangent map t -> vdot(t, b) is exact for complex a too
    jvp=(lambda t, ans, a, b: vdot(t, b), lambda t, ans, a, b: vdot(a, t)),
    partials=("{1}", "{0}"),
    samples=(((V, W), {}), ((M, M[::-1]), {}), ((M, np.arange(1.0, 7.0)), {}), ((0.5, 2.0), {})),
    derivative="vdot(a, b) = sum(conj(a.flat) * b.flat); on real input d = b da + a db",
)

# ============================================================================ vecdot, matvec, vecmat
# numpy 2's gufuncs of stacks: vecdot (n),(n)->(), matvec (m,n),(n)->(m), vecmat (n),(n,m)->(m).
# vecdot and vecmat conjugate their first argument, as vdot does.


def _vecdot_signature(x1: Any, x2: Any, axis: int = -1) -> Any:
    return (x1, x2), {"axis": int(axis)}


def _last(x: Any, axis: int) -> Any:
    """x with its vector axis moved last (``axis`` counts in x's own dimensions)."""
    return _moveaxis(x, axis, -1) if len(shape_of(x)) else x


def _vecdot_vjp(which: int) -> Any:
    # d sum(x1 * x2, axis) = sum(dx1 * x2 + x1 * dx2): g spread along the vector axis
    def rule(g: Any, ans: Any, x1: Any, x2: Any, axis: int = -1) -> Any:
        mine, other = (x1, x2) if which == 0 else (x2, x1)
        c = ops.reshape(g, (*shape_of(g), 1)) * _last(other, axis)
        shape = list(shape_of(mine))
        shape.append(shape.pop(axis % len(shape)))
        return _moveaxis(unbroadcast(c, _of_shape(tuple(shape))), -1, axis)

    return rule


vecdot = primitive(
    "vecdot", lambda x1, x2, axis=-1: np.vecdot(x1, x2, axis=axis),
    signature=_vecdot_signature, numpy=("vecdot", "linalg.vecdot"), saves=((1,), (0,)),
    symbolic=lambda x1, x2, axis=-1: _scalar(np.sum(_obj(x1) * _obj(x2), axis=axis)),
    continuation=lambda x1, x2, axis=-1: np.sum(_last(x1, axis) * _last(x2, axis), axis=-1),
    vjp=(_vecdot_vjp(0), _vecdot_vjp(1)),
    jvp=(lambda t, ans, x1, x2, axis=-1: vecdot(t, x2, axis=axis),
         lambda t, ans, x1, x2, axis=-1: vecdot(x1, t, axis=axis)),
    partials=("{1}", "{0}"),
    samples=(((V, W), {"axis": -1}), ((M, W), {"axis": -1}), ((M, M[::-1]), {"axis": 0}),
             ((T, M), {"axis": -1})),
    derivative="vecdot(a, b) = sum(conj(a) * b, axis); on real input d = b da + a db",
)


def _matvec_vjp_a(g: Any, ans: Any, a: Any, v: Any) -> Any:  # (..., m, n), (..., n)
    return unbroadcast(ops.reshape(g, (*shape_of(g), 1))
                       * ops.reshape(v, (*shape_of(v)[:-1], 1, shape_of(v)[-1])), a)


def _matvec_vjp_v(g: Any, ans: Any, a: Any, v: Any) -> Any:
    return unbroadcast(ops.sum(ops.reshape(g, (*shape_of(g), 1)) * a, axis=-2), v)


matvec = primitive(
    "matvec", np.matvec, kind="binary", elementwise=False, saves=((1,), (0,)),
    symbolic=lambda a, v: np.sum(_obj(a) * np.expand_dims(_obj(v), -2), axis=-1),
    vjp=(_matvec_vjp_a, _matvec_vjp_v),
    jvp=(lambda t, ans, a, v: matvec(t, v), lambda t, ans, a, v: matvec(a, t)),
    samples=(((M, W), {}), ((T, W), {}), ((M, M[::-1]), {})),
    derivative="matvec(A, v) = A @ v over stacks",
)


def _vecmat_vjp_v(g: Any, ans: Any, v: Any, a: Any) -> Any:  # (..., n), (..., n, m)
    return unbroadcast(ops.sum(a * ops.reshape(g, (*shape_of(g)[:-1], 1, shape_of(g)[-1])),
                               axis=-1), v)


def _vecmat_vjp_a(g: Any, ans: Any, v: Any, a: Any) -> Any:
    return unbroadcast(ops.reshape(v, (*shape_of(v), 1))
                       * ops.reshape(g, (*shape_of(g)[:-1], 1, shape_of(g)[-1])), a)


vecmat = primitive(
    "vecmat", np.vecmat, kind="binary", elementwise=False, saves=((1,), (0,)),
    symbolic=lambda v, a: np.sum(np.expand_dims(_obj(v), -1) * _obj(a), axis=-2),
    continuation=lambda v, a: np.matmul(np.expand_dims(v, -2), a)[..., 0, :],
    vjp=(_vecmat_vjp_v, _vecmat_vjp_a),
    # conjugate-linear in v: t -> vecmat(t, a) is its exact tangent map, as for vdot
    jvp=(lambda t, ans, v, a: vecmat(t, a), lambda t, ans, v, a: vecmat(v, t)),
    samples=(((W[:2], M), {}), ((W[:2], T), {}), ((M, T.transpose(0, 2, 1)), {})),
    derivative="vecmat(v, A) = conj(v) @ A over stacks",
)

# ============================================================================ kron


def _kron_shapes(a: Any, b: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shapes of a and b padded with leading ones to the same length (numpy's kron)."""
    sa, sb = shape_of(a), shape_of(b)
    nd = max(len(sa), len(sb))
    return (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb


def _interleave(p: tuple[int, ...], q: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(n for pair in zip(p, q, strict=True) for n in pair)


def _kron_vjp(which: int) -> Any:
    # kron(a, b) reshaped to (a0, b0, a1, b1, ...) is a[:, None, :, None] * b[None, :, None, :]:
    # the cotangent of a sums g * b over b's axes (the odd ones), and the other way round
    def rule(g: Any, ans: Any, a: Any, b: Any) -> Any:
        sa, sb = _kron_shapes(a, b)
        if not sa:
            return g * (b if which == 0 else a)
        ones = (1,) * len(sa)
        g2 = ops.reshape(g, _interleave(sa, sb))
        if which == 0:
            other = ops.reshape(b, _interleave(ones, sb))
            summed = tuple(range(1, 2 * len(sa), 2))
        else:
            other = ops.reshape(a, _interleave(sa, ones))
            summed = tuple(range(0, 2 * len(sa), 2))
        mine = a if which == 0 else b
        return ops.reshape(ops.sum(g2 * other, axis=summed), shape_of(mine))

    return rule


kron = primitive(
    "kron", np.kron, kind="binary", elementwise=False, saves=((1,), (0,)),
    symbolic=lambda a, b: _scalar(np.kron(_obj(a), _obj(b))),
    vjp=(_kron_vjp(0), _kron_vjp(1)),
    jvp=(lambda t, ans, a, b: kron(t, b), lambda t, ans, a, b: kron(a, t)),
    samples=(((M, S[:2, :2]), {}), ((V, W), {}), ((R, M), {}), ((V, M), {}), ((0.7, V), {})),
    derivative="kron(a, b) = a[:, None, :, None] * b[None, :, None, :] reshaped",
)

# ============================================================================ cross


def _cross_signature(a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1,
                     axis: int | None = None) -> Any:
    if axis is not None:
        axisa = axisb = axisc = axis
    if _traced(a, b):
        for name, x, ax in (("axisa", a, axisa), ("axisb", b, axisb)):
            shape = shape_of(x)
            if not -len(shape) <= int(ax) < len(shape):
                raise UnsupportedPrimitiveError(
                    f"numpy.cross(..., {name}={ax}): out of range for an operand of shape "
                    f"{shape}")
            if shape[int(ax)] != 3:
                raise UnsupportedPrimitiveError(
                    f"numpy.cross on traced vectors of length {shape[int(ax)]}: diffkit takes "
                    f"3-vectors (numpy 2 deprecates 2-vectors); for the z-component of 2-vectors "
                    f"write a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]")
    return (a, b), {"axisa": int(axisa), "axisb": int(axisb), "axisc": int(axisc)}


def _cross_numeric(a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1) -> Any:
    return np.cross(a, b, axisa, axisb, axisc)


def _cross_vjp(which: int) -> Any:
    # <g, a x b> = <b x g, a> = <g x a, b>: with the vectors moved to the last axis, the
    # cotangent of a is cross(b, g) and that of b is cross(g, a), summed over broadcasting
    def rule(g: Any, ans: Any, a: Any, b: Any, axisa: int = -1, axisb: int = -1,
             axisc: int = -1) -> Any:
        gs = _moveaxis(g, axisc, -1)
        if which == 0:
            c, mine, ax = cross(_moveaxis(b, axisb, -1), gs), a, axisa
        else:
            c, mine, ax = cross(gs, _moveaxis(a, axisa, -1)), b, axisb
        shape = list(shape_of(mine))
        shape.append(shape.pop(ax % len(shape)))
        return _moveaxis(unbroadcast(c, _of_shape(tuple(shape))), -1, ax)

    return rule


def _cross_jvp(which: int) -> Any:
    def rule(t: Any, ans: Any, a: Any, b: Any, axisa: int = -1, axisb: int = -1,
             axisc: int = -1) -> Any:
        x, y = (t, b) if which == 0 else (a, t)
        return cross(x, y, axisa=axisa, axisb=axisb, axisc=axisc)

    return rule


cross = primitive(
    "cross", _cross_numeric, signature=_cross_signature, numpy=("cross", "linalg.cross"),
    symbolic=lambda a, b, axisa=-1, axisb=-1, axisc=-1: np.cross(_obj(a), _obj(b), axisa,
                                                                  axisb, axisc),
    saves=((1,), (0,)), vjp=(_cross_vjp(0), _cross_vjp(1)), jvp=(_cross_jvp(0), _cross_jvp(1)),
    samples=(((V, W), {"axisa": -1, "axisb": -1, "axisc": -1}),
             ((S, W), {"axisa": -1, "axisb": -1, "axisc": -1}),
             ((S, S[::-1]), {"axisa": 0, "axisb": 1, "axisc": 0}),
             ((M.T, W), {"axisa": 0, "axisb": -1, "axisc": 0})),
    derivative="d(a x b) = da x b + a x db",
)

# ============================================================================ einsum

_LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # numpy's sublist labels 0-51


def _einsum_error(subscripts: Any, shapes: Any, why: str) -> UnsupportedPrimitiveError:
    return UnsupportedPrimitiveError(
        f"numpy.einsum({subscripts!r}, ...) on operands of shapes "
        f"{', '.join(str(s) for s in shapes)}: {why}")


def _from_sublists(args: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """numpy's sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` as subscripts text."""

    def text(sub: Any) -> str:
        try:
            return "".join("..." if s is Ellipsis else _LABELS[int(s)] for s in sub)
        except (TypeError, ValueError, IndexError):
            raise UnsupportedPrimitiveError(
                f"numpy.einsum: the sublist {sub!r} is not a list of integers 0-51 and "
                f"Ellipsis; pass subscripts text instead, e.g. np.einsum('ij,jk->ik', a, b)"
            ) from None

    operands, subs = args[0::2], args[1::2]
    if len(operands) > len(subs):  # an output sublist closes the call
        out, operands = "->" + text(operands[-1]), operands[:-1]
    else:
        out = ""
    return ",".join(text(s) for s in subs) + out, operands


def _einsum_canonical(subscripts: str, shapes: list[tuple[int, ...]]) -> str:
    """``subscripts`` in explicit form with every ellipsis spelled out in unused labels.

    ``"...ij,jk"`` on shapes (2, 3, 4) and (4, 5) becomes ``"Aij,jk->Aik"``: numpy's implicit
    output (the ellipsis axes, then the labels used once, sorted) made explicit, so the rules
    read one label per axis.
    """
    text = subscripts.replace(" ", "")
    if text.count("->") > 1 or any(not (c.isalpha() or c in ".,->") for c in text):
        raise _einsum_error(subscripts, shapes, "malformed subscripts")
    lhs, arrow, out = text.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise _einsum_error(subscripts, shapes, f"{len(terms)} subscripts for {len(shapes)} "
                                                f"operands")
    fresh = [c for c in _LABELS if c not in text]
    extra = []  # ellipsis axes of each operand
    for term, shape in zip(terms, shapes, strict=True):
        letters = term.replace("...", "")
        if "." in letters or (len(letters) != len(shape) if "..." not in term
                              else len(letters) > len(shape)):
            raise _einsum_error(subscripts, shapes, f"subscripts {term!r} do not fit an "
                                                    f"operand of shape {shape}")
        extra.append(len(shape) - len(letters))
    ell = "".join(fresh[:max(extra, default=0)])
    if len(ell) < max(extra, default=0):
        raise _einsum_error(subscripts, shapes, "too many axes for the 52 labels")
    ins = [t.replace("...", ell[len(ell) - e:]) for t, e in zip(terms, extra, strict=True)]
    if not arrow:
        counts = Counter("".join(t.replace("...", "") for t in terms))
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1))
    elif out.count("...") > 1 or "." in out.replace("...", "") or (ell and "..." not in out):
        raise _einsum_error(subscripts, shapes, "the output needs exactly one '...' when the "
                                                "operands have axes an ellipsis covers")
    else:
        out = out.replace("...", ell)
    joined = "".join(ins)
    if len(set(out)) < len(out) or any(c not in joined for c in out):
        raise _einsum_error(subscripts, shapes, f"output subscripts {out!r} repeat a label or "
                                                f"use one no operand has")
    sizes: dict[str, set[int]] = {}
    for term, shape in zip(ins, shapes, strict=True):
        seen: dict[str, int] = {}
        for c, n in zip(term, shape, strict=True):
            if seen.setdefault(c, n) != n:
                raise _einsum_error(subscripts, shapes, f"label {c!r} repeats on axes of "
                                                        f"different lengths")
            sizes.setdefault(c, set()).add(n)
    if any(len(s - {1}) > 1 for s in sizes.values()):
        raise _einsum_error(subscripts, shapes, "operands could not be broadcast together")
    return ",".join(ins) + "->" + out


def _einsum(*args: Any, subscripts: str | None = None, optimize: Any = False,
            **kwargs: Any) -> Any:
    if subscripts is not None:  # the registry's own form: einsum(*operands, subscripts=...)
        operands = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
        args = (subscripts, *operands)
    elif args and isinstance(args[0], str):
        subscripts, operands = args[0], args[1:]
    else:
        subscripts, operands = _from_sublists(args)
    if not _traced(*operands):
        return np.einsum(*args, optimize=optimize, **kwargs)
    given = {k: v for k, v in kwargs.items()
             if not (v is None or (k, v) in (("order", "K"), ("casting", "safe")))}
    if given:
        raise UnsupportedPrimitiveError(
            f"numpy.einsum(..., {', '.join(f'{k}=' for k in given)}) on traced operands: "
            f"diffkit records einsum(subscripts, *operands, optimize=...) (optimize is "
            f"ignored); call it without {next(iter(given))}=")
    canonical = _einsum_canonical(subscripts, [shape_of(x) for x in operands])
    return bind(REGISTRY["einsum"], tuple(operands), {"subscripts": canonical})


def _einsum_numeric(*operands: Any, subscripts: str) -> Any:
    return np.einsum(subscripts, *operands)


def _einsum_symbolic(*operands: Any, subscripts: str) -> Any:
    return _scalar(np.einsum(subscripts, *(_obj(x) for x in operands)))


def _einsum_vjp(k: int, g: Any, ans: Any, *xs: Any, subscripts: str) -> Any:
    # The cotangent of operand k is an einsum of g with the other operands, onto k's labels.
    # Axes an operand broadcasts (length 1 against a longer one) are dropped from it: such
    # an operand is constant along them, and operand k's own are summed over. A label of k
    # that no other term has (summed in k alone) comes from a vector of ones; a label k
    # repeats (a diagonal, "ii->") puts the result on the diagonal with identity matrices.
    lhs, out = subscripts.split("->")
    terms = lhs.split(",")
    shapes = [shape_of(x) for x in xs]
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, shapes, strict=True):
        for c, n in zip(term, shape, strict=True):
            sizes[c] = max(sizes.get(c, 1), n)

    def broadcast(j: int) -> list[int]:
        return [p for p, c in enumerate(terms[j]) if shapes[j][p] == 1 and sizes[c] > 1]

    parts, operands = [out], [g]
    for j, (term, x) in enumerate(zip(terms, xs, strict=True)):
        if j == k:
            continue
        drop = broadcast(j)
        if drop:
            term = "".join(c for p, c in enumerate(term) if p not in drop)
            x = ops.reshape(x, tuple(n for p, n in enumerate(shapes[j]) if p not in drop))
        parts.append(term)
        operands.append(x)
    drop = broadcast(k)
    kept = [c for p, c in enumerate(terms[k]) if p not in drop]
    target = "".join(dict.fromkeys(kept))
    for c in target:
        if c not in "".join(parts):
            parts.append(c)
            operands.append(np.ones(sizes[c]))
    r = einsum(*operands, subscripts=",".join(parts) + "->" + target)
    if len(kept) > len(target):  # repeated labels: onto the diagonal
        fresh = iter(c for c in _LABELS if c not in subscripts)
        full, deltas, seen = [], [], set()
        for c in kept:
            if c in seen:
                f = next(fresh)
                full.append(f)
                deltas.append((c + f, np.eye(sizes[c])))
            else:
                seen.add(c)
                full.append(c)
        r = einsum(r, *(d for _, d in deltas),
                   subscripts=",".join([target, *(t for t, _ in deltas)]) + "->" + "".join(full))
    return r if shape_of(r) == shapes[k] else ops.reshape(r, shapes[k])


def _einsum_jvp(k: int, t: Any, ans: Any, *xs: Any, subscripts: str) -> Any:
    return like(einsum(*xs[:k], t, *xs[k + 1:], subscripts=subscripts), ans)


einsum = primitive(
    "einsum", _einsum_numeric, function=_einsum, symbolic=_einsum_symbolic, variadic=True,
    vjp=(_einsum_vjp,), jvp=(_einsum_jvp,),
    samples=(((M, S), {"subscripts": "ij,jk->ik"}), ((S,), {"subscripts": "ii->"}),
             ((S,), {"subscripts": "ii->i"}), ((M,), {"subscripts": "ij->ji"}),
             ((T, S), {"subscripts": "Aij,jk->Aik"}), ((R, M), {"subscripts": "ij,ij->ij"}),
             ((V, M, S), {"subscripts": "j,ij,jk->ik"}), ((0.5, V), {"subscripts": ",i->i"}),
             ((T,), {"subscripts": "ijk->"}), ((M, V), {"subscripts": "ij,k->ijk"})),
    derivative="linear in each operand: the cotangent of one is an einsum of g with the others",
)

# ============================================================================ multi_dot


def _multi_dot(arrays: Any, *more: Any, out: Any = None) -> Any:
    xs = (arrays, *more) if more else tuple(arrays)
    if not _traced(*xs):
        return np.linalg.multi_dot(xs, out=out)
    if out is not None:
        raise UnsupportedPrimitiveError("numpy.linalg.multi_dot(..., out=...) on traced values "
                                        "is not recorded; assign the result instead")
    nds = [len(shape_of(x)) for x in xs]
    if len(xs) < 2 or any(n != 2 for n in nds[1:-1]) or nds[0] not in (1, 2) \
            or nds[-1] not in (1, 2):
        raise UnsupportedPrimitiveError(
            f"numpy.linalg.multi_dot of {len(xs)} arrays with {nds} dimensions: it takes two "
            f"or more matrices, the first and last may be vectors")
    return bind(REGISTRY["multi_dot"], xs, {})


def _as_matrices(xs: tuple[Any, ...]) -> list[Any]:
    """The chain with a first vector as a row and a last vector as a column."""
    mats = list(xs)
    if len(shape_of(xs[0])) == 1:
        mats[0] = ops.reshape(xs[0], (1, -1))
    if len(shape_of(xs[-1])) == 1:
        mats[-1] = ops.reshape(xs[-1], (-1, 1))
    return mats


def _chain(mats: list[Any]) -> Any:
    return functools.reduce(matmul, mats)


def _multi_dot_vjp(i: int, g: Any, ans: Any, *xs: Any) -> Any:
    # d(L X R) with L, R the products left and right of X: dX = L^T g R^T
    mats = _as_matrices(xs)
    gi = ops.reshape(g, (shape_of(mats[0])[0], shape_of(mats[-1])[1]))
    if i > 0:
        gi = matmul(_swap_last(_chain(mats[:i])), gi)
    if i < len(xs) - 1:
        gi = matmul(gi, _swap_last(_chain(mats[i + 1:])))
    return ops.reshape(gi, shape_of(xs[i]))


def _multi_dot_jvp(i: int, t: Any, ans: Any, *xs: Any) -> Any:
    mats = _as_matrices(xs)
    mats[i] = ops.reshape(t, shape_of(mats[i]))
    return ops.reshape(_chain(mats), shape_of(ans))


multi_dot = primitive(
    "multi_dot", lambda *xs: np.linalg.multi_dot(xs), function=_multi_dot, namespace="linalg",
    symbolic=lambda *xs: _scalar(functools.reduce(np.dot, (_obj(x) for x in xs))),
    variadic=True, vjp=(_multi_dot_vjp,), jvp=(_multi_dot_jvp,),
    samples=(((M, S, M.T), {}), ((V, S, M.T, W[:2]), {}), ((M, V), {})),
    derivative="d(A B C) = dA B C + A dB C + A B dC",
)

__all__ = ["cross", "dot", "einsum", "inner", "kron", "matmul", "matvec", "multi_dot", "outer",
           "tensordot", "vdot", "vecdot", "vecmat"]
