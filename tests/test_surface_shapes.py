"""The shapes-and-indexing surface: every function as ``np.X``, ``dnp.X`` and the ndarray method,
under reverse mode, forward mode, symbolic differentiation and the complex step.

Ported from the per-function checks of autograd's test suite (``tests/test_numpy.py`` and
``tests/test_systematic.py``: squeeze, repeat, tile, diff, pad, sort, partition, atleast_nd,
split, stacking, diag, tril/triu, indexing, astype, ...) with diffkit's own inputs. Almost every
function here is linear (or affine: a pad with a constant), so the exact Jacobian is numpy's
own answer on the basis vectors, ``J[:, j] = f(e_j) - f(0)``, computed in plain numpy with no
rounding at all; the methods must reproduce it to 1e-12. ``sort`` and ``partition`` are
permutations at a point without ties: their exact Jacobian is the permutation matrix.
"""

from __future__ import annotations

import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp
from diffkit.core import REGISTRY, Tracer
from diffkit.methods import forward, reverse

AD = ("reverse-mode", "forward-mode")
ALL = (*AD, "symbolic", "complex-step")

V3 = np.array([0.3, -0.7, 1.2])
V5 = np.array([0.3, -0.7, 1.2, 0.5, -1.6])
M9 = np.array([0.9, -0.3, 0.2, 0.4, 1.1, -0.5, -0.2, 0.6, 1.45])  # 3x3, distinct entries
T24 = np.round(1.5 * np.sin(1.7 * np.arange(24) + 0.3), 3)  # (2, 3, 4), distinct entries


def _m(x):
    return x.reshape(3, 3)


def _t(x):
    return x.reshape(2, 3, 4)


def exact_jacobian(f, x):
    """The Jacobian of an affine f, exactly: numpy's f on the basis vectors, minus f(0)."""
    f0 = np.ravel(np.asarray(f(np.zeros_like(x)), dtype=float))
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e.flat[j] = 1.0
        cols.append(np.ravel(np.asarray(f(e), dtype=float)) - f0)
    return np.stack(cols, axis=1)


def assert_jacobian(f, x, methods, reference=None):
    ref = exact_jacobian(f, x) if reference is None else reference
    for method in methods:
        jac = dk.jacobian(f, x, method=method)
        np.testing.assert_allclose(jac, ref, rtol=1e-12, atol=1e-12, err_msg=method)


# ============================================================================ the surface table
# name -> (op(module, x) for module in (np, dnp), the ndarray-method form or None, point,
#          complex-analytic)

SURFACE = {
    "squeeze": (lambda m, x: m.squeeze(x.reshape(1, 3, 1, 3), axis=2),
                lambda x: x.reshape(1, 3, 1, 3).squeeze(), M9, True),
    "expand_dims": (lambda m, x: m.expand_dims(_m(x), (0, 3)), None, M9, True),
    "ravel": (lambda m, x: m.ravel(_m(x).T), lambda x: _m(x).T.ravel(), M9, True),
    "ravel(order=F)": (lambda m, x: m.ravel(_m(x), order="F"),
                       lambda x: _m(x).flatten("F"), M9, True),
    "swapaxes": (lambda m, x: m.swapaxes(_t(x), 0, 2), lambda x: _t(x).swapaxes(-1, 1), T24,
                 True),
    "moveaxis": (lambda m, x: m.moveaxis(_t(x), [0, 1], [-1, 0]), None, T24, True),
    "rollaxis": (lambda m, x: m.rollaxis(_t(x), 2, 1), None, T24, True),
    "transpose": (lambda m, x: m.transpose(_t(x), (1, 2, 0)),
                  lambda x: _t(x).transpose(2, 0, 1), T24, True),
    ".T": (lambda m, x: m.transpose(_m(x)), lambda x: _m(x).T, M9, True),
    "reshape": (lambda m, x: m.reshape(x, (4, 6)), lambda x: x.reshape(6, 4), T24, True),
    "atleast_1d": (lambda m, x: m.atleast_1d(x[0] * 2.0), None, V3, True),
    "atleast_2d": (lambda m, x: m.atleast_2d(x), None, V3, True),
    "atleast_3d": (lambda m, x: m.concatenate([m.ravel(a) for a in m.atleast_3d(x[0], x[1:])]),
                   None, V3, True),
    "broadcast_arrays": (lambda m, x: m.stack(m.broadcast_arrays(x, m.reshape(x, (3, 1)))),
                         None, V3, True),
    "stack": (lambda m, x: m.stack([x, 2.0 * x], axis=-1), None, V3, True),
    "concatenate": (lambda m, x: m.concatenate([_m(x), _m(x)[:1]], axis=0), None, M9, True),
    "concatenate(axis=None)": (lambda m, x: m.concatenate([_m(x), x[:2]], axis=None), None, M9,
                               True),
    "vstack": (lambda m, x: m.vstack([x[:3], 3.0 * x[3:6], _m(x)]), None, M9, True),
    "hstack": (lambda m, x: m.hstack([x[:2], 2.0 * x[5:]]), None, M9, True),
    "hstack 2-d": (lambda m, x: m.hstack([_m(x), _m(x)[:, :1]]), None, M9, True),
    "dstack": (lambda m, x: m.dstack([x[:3], x[3:6]]), None, M9, True),
    "column_stack": (lambda m, x: m.column_stack([x[:3], _m(x)]), None, M9, True),
    "append": (lambda m, x: m.append(x[:2], _m(x)), None, M9, True),
    "append(axis=0)": (lambda m, x: m.append(_m(x), _m(x)[1:] * 2.0, axis=0), None, M9, True),
    "split": (lambda m, x: m.concatenate([p * (k + 1.0) for k, p in enumerate(
        m.split(x, [2, 5]))]), None, M9, True),
    "split(sections, axis=1)": (lambda m, x: m.split(_m(x), 3, axis=1)[2], None, M9, True),
    "array_split": (lambda m, x: m.array_split(x, 2)[0], None, V5, True),
    "hsplit": (lambda m, x: m.hsplit(_m(x), [1])[1], None, M9, True),
    "vsplit": (lambda m, x: m.vsplit(_m(x), 3)[1], None, M9, True),
    "dsplit": (lambda m, x: m.dsplit(_t(x), [1, 3])[1], None, T24, True),
    "repeat": (lambda m, x: m.repeat(_m(x), 2, axis=1), lambda x: _m(x).repeat(2, axis=0), M9,
               True),
    "repeat(counts)": (lambda m, x: m.repeat(_m(x), [2, 0, 1], axis=0),
                       lambda x: x.repeat([1, 2, 0, 1, 3, 0, 1, 0, 2]), M9, True),
    "tile": (lambda m, x: m.tile(x, (2, 1, 3)), None, V3, True),
    "roll": (lambda m, x: m.roll(x, 2), None, V5, True),
    "roll(axes)": (lambda m, x: m.roll(_t(x), (1, -5), axis=(0, 2)), None, T24, True),
    "flip": (lambda m, x: m.flip(_t(x), axis=(0, 2)), None, T24, True),
    "fliplr": (lambda m, x: m.fliplr(_m(x)), None, M9, True),
    "flipud": (lambda m, x: m.flipud(_m(x)), None, M9, True),
    "rot90": (lambda m, x: m.rot90(_m(x)), None, M9, True),
    "rot90(k=3, axes)": (lambda m, x: m.rot90(_t(x), 3, axes=(2, 0)), None, T24, True),
    "diff": (lambda m, x: m.diff(x), None, V5, True),
    "diff(n=2, axis=0)": (lambda m, x: m.diff(_t(x), n=2, axis=2), None, T24, True),
    "diff(prepend, append)": (lambda m, x: m.diff(_m(x), axis=0, prepend=0.5,
                                                  append=x[:3].reshape(1, 3)), None, M9, True),
    "pad(constant)": (lambda m, x: m.pad(x, (1, 2)), None, V3, True),
    "pad(constant_values)": (lambda m, x: m.pad(_m(x), ((1, 0), (2, 1)),
                                                constant_values=((0.5, 1.5), (2.5, 3.5))),
                             None, M9, True),
    "pad(edge)": (lambda m, x: m.pad(_m(x), 1, mode="edge"), None, M9, True),
    "pad(reflect)": (lambda m, x: m.pad(x, 2, mode="reflect"), None, V5, True),
    "pad(symmetric)": (lambda m, x: m.pad(_m(x), ((2, 0), (1, 3)), mode="symmetric"), None, M9,
                       True),
    "pad(wrap)": (lambda m, x: m.pad(x, (4, 1), mode="wrap"), None, V3, True),
    "take": (lambda m, x: m.take(x, np.array([2, 0, 2, 1])), lambda x: x.take([4, 0]), V5,
             True),
    "take(axis, mode)": (lambda m, x: m.take(_m(x), [4, -1], axis=1, mode="wrap"),
                         lambda x: _m(x).take([5, 0], axis=0, mode="clip"), M9, True),
    "take_along_axis": (lambda m, x: m.take_along_axis(_m(x), np.argsort(M9.reshape(3, 3)),
                                                       axis=1), None, M9, True),
    "diag(v)": (lambda m, x: m.diag(x), None, V3, True),
    "diag(v, k=-1)": (lambda m, x: m.diag(x, k=-1), None, V3, True),
    "diag(A, k=1)": (lambda m, x: m.diag(_m(x), k=1), None, M9, True),
    "diagflat": (lambda m, x: m.diagflat(x[:4].reshape(2, 2), 1), None, M9, True),
    "diagonal": (lambda m, x: m.diagonal(_t(x), offset=-1, axis1=2, axis2=1),
                 lambda x: _t(x).diagonal(1), T24, True),
    "tril": (lambda m, x: m.tril(_m(x)), None, M9, True),
    "triu(k=1)": (lambda m, x: m.triu(_m(x), k=1), None, M9, True),
    "tril 3-d": (lambda m, x: m.tril(_t(x), k=-1), None, T24, True),
    "delete": (lambda m, x: m.delete(_m(x), [0, 2], axis=1), None, M9, True),
    "delete(flat)": (lambda m, x: m.delete(x, slice(1, 4)), None, M9, True),
    "insert": (lambda m, x: m.insert(_m(x)[:2], [1, 3], x[:2] * 2.0, axis=1), None, M9, True),
    "insert(constant)": (lambda m, x: m.insert(x, 2, 7.0), None, V3, True),
    "resize": (lambda m, x: m.resize(x, (4, 4)), None, V5, True),
    "copy": (lambda m, x: m.copy(x) * 2.0, lambda x: x.copy() * 2.0, V3, True),
    "astype": (lambda m, x: m.astype(x, np.float64) * 2.0, lambda x: x.astype(float), V3,
               False),
    "index_update": (lambda m, x: dnp.index_update(_m(x), (slice(None), 1), x[:3] * 2.0),
                     None, M9, True),
    "sort": (lambda m, x: m.sort(_m(x), axis=0), None, M9, False),
    "sort(axis=None)": (lambda m, x: m.sort(_m(x), axis=None), None, M9, False),
    "partition": (lambda m, x: m.partition(x, 2), None, V5, False),
    "x[argsort(x)]": (lambda m, x: x[m.argsort(x)], lambda x: x[x.argsort()], V5, False),
    "x[argmax(x)]": (lambda m, x: x[m.argmax(x)] * x, lambda x: x[x.argmax()] * x, V5, False),
    "argmin(axis)": (lambda m, x: _m(x)[np.arange(3), m.argmin(_m(x), axis=1)],
                     lambda x: _m(x)[np.arange(3), _m(x).argmin(axis=1)], M9, False),
    "argpartition": (lambda m, x: x[m.argpartition(x, 1)[:2]], None, V5, False),
    "x[nonzero(x)]": (lambda m, x: x[m.nonzero(x)], lambda x: x[x.nonzero()], V5, False),
    "x[flatnonzero(x)]": (lambda m, x: x[m.flatnonzero(x)][::-1], None, V5, False),
    "x[argwhere(x)]": (lambda m, x: _m(x)[tuple(m.argwhere(_m(x)).T)], None, M9, False),
    ".item()": (lambda m, x: x[1:2].item() * x, lambda x: x[1:2].reshape(1, 1).item() * x, V3,
                True),
    ".item(i)": (lambda m, x: _m(x).item(4) * x, lambda x: _m(x).item(1, 2) * x, M9, True),
}

NONLINEAR = {"x[argmax(x)]", ".item()", ".item(i)"}  # products: reference by differences
ORDERED = {"sort", "sort(axis=None)", "partition", "x[argsort(x)]", "argmin(axis)",
           "argpartition", "x[argmax(x)]", "x[nonzero(x)]", "x[flatnonzero(x)]",
           "x[argwhere(x)]"}  # piecewise: no symbolic formula


def _reference(name, f, x):
    if name in NONLINEAR:
        return dk.jacobian(f, x, method="richardson")
    if name in ORDERED:  # a gather whose order is fixed near x: entries 0 and 1
        return np.round(dk.jacobian(f, x, method="richardson"), 6)
    return None


@pytest.mark.parametrize("name", list(SURFACE))
def test_numpy_call_form(name):
    """``np.X(x)`` on the traced x, under every method that applies, against the exact
    Jacobian."""
    op, _, x, analytic = SURFACE[name]

    def f(z):
        return op(np, z)

    methods = AD + (("symbolic",) if name not in ORDERED else ()) + (
        ("complex-step",) if analytic else ())
    ref = _reference(name, f, x)
    np.testing.assert_array_equal(np.asarray(reverse.vjp(f, x)[0]), np.asarray(f(x)))
    if name in NONLINEAR:
        for method in methods:
            np.testing.assert_allclose(dk.jacobian(f, x, method=method), ref, rtol=1e-8,
                                       atol=1e-10, err_msg=method)
    else:
        assert_jacobian(f, x, methods, ref)


@pytest.mark.parametrize("name", [n for n in SURFACE if SURFACE[n][1] is not None])
def test_ndarray_method_form(name):
    _, method_form, x, analytic = SURFACE[name]
    methods = AD + (("symbolic",) if name not in ORDERED else ()) + (
        ("complex-step",) if analytic else ())
    ref = dk.jacobian(method_form, x, method="richardson")
    for method in methods:
        np.testing.assert_allclose(dk.jacobian(method_form, x, method=method), ref, rtol=1e-8,
                                   atol=1e-10, err_msg=method)


@pytest.mark.parametrize("name", list(SURFACE))
def test_dnp_call_form(name):
    op, _, x, _ = SURFACE[name]

    def f(z):
        return op(dnp, z)

    np.testing.assert_array_equal(np.asarray(op(dnp, x)), np.asarray(op(np, x)))  # plain
    ref = dk.jacobian(lambda z: op(np, z), x, method="reverse-mode")
    for method in AD:
        np.testing.assert_allclose(dk.jacobian(f, x, method=method), ref, rtol=1e-12,
                                   atol=1e-12, err_msg=method)


# ============================================================================ second order


def _quadratic(op, w):
    """sum(w * op(x)**2): for a linear op with Jacobian J, the Hessian is 2 J^T diag(w) J."""
    return lambda x: np.sum(w * np.ravel(op(np, x)) ** 2)


@pytest.mark.parametrize("name", ["flip", "pad(reflect)", "diff(prepend, append)", "tile",
                                  "repeat(counts)", "take(axis, mode)", "index_update",
                                  "split", "roll(axes)", "diag(v, k=-1)", "sort"])
def test_hessian_against_the_exact_one(name):
    op, _, x, _ = SURFACE[name]
    if name == "sort":
        jac = _reference(name, lambda z: op(np, z), x)
        f0 = np.zeros(jac.shape[0])
    else:
        jac = exact_jacobian(lambda z: op(np, z), x)
        f0 = np.ravel(op(np, np.zeros_like(x)))
    w = np.linspace(0.5, 1.5, jac.shape[0])
    exact = 2.0 * jac.T @ (w[:, None] * jac)
    f = _quadratic(op, w)
    if np.any(f0):  # an affine op: the constant does not change the Hessian
        assert np.all(np.isfinite(f0))
    methods = ("reverse-mode", "forward-mode") + (("symbolic",) if name != "sort" else ())
    for method in methods:
        np.testing.assert_allclose(dk.hessian(f, x, method=method), exact, rtol=1e-11,
                                   atol=1e-11, err_msg=method)


def test_gradient_of_a_nonlinear_program_through_many_shape_functions():
    def f(x):
        a = np.pad(np.sin(x.reshape(3, 3)), 1, mode="reflect")
        b = np.rot90(np.tril(a), 1)[1:, ::-1]
        c = np.concatenate(np.split(np.diff(b, axis=0), [2], axis=1), axis=1)
        return np.sum(np.tile(c, 2) ** 2) + np.sum(np.sort(np.diag(np.exp(x.reshape(3, 3)))))

    ref = dk.gradient(f, M9, method="richardson")
    for method in ("reverse-mode", "forward-mode"):
        np.testing.assert_allclose(dk.gradient(f, M9, method=method), ref, rtol=1e-8)
    href = dk.hessian(f, M9, method="forward-mode")
    np.testing.assert_allclose(dk.hessian(f, M9, method="reverse-mode"), href, rtol=1e-10,
                               atol=1e-12)


# ============================================================================ every composite


def _composites():
    for name in sorted(REGISTRY):
        prim = REGISTRY[name]
        if prim.composite is None or prim.composite.__module__ != "diffkit.primitives.shapes":
            continue
        for k, (args, _) in enumerate(prim.samples):
            for i, a in enumerate(args):
                if isinstance(a, (float, np.ndarray)) and np.asarray(a).dtype.kind == "f":
                    yield pytest.param(name, k, i, id=f"{name}-{k}-arg{i}")


def _flat(out):
    if isinstance(out, (list, tuple)):
        return np.concatenate([np.ravel(np.asarray(o, dtype=float)) for o in out])
    return np.ravel(np.asarray(out, dtype=float))


@pytest.mark.parametrize(("name", "k", "i"), list(_composites()))
def test_every_composite_sample_through_reverse_and_forward_mode(name, k, i):
    """The family's composites on their samples: the traced value is numpy's, and reverse
    and forward mode give the exact Jacobian (affine composites) or the permutation
    (sort, partition), at first and second order."""
    prim = REGISTRY[name]
    args, params = prim.samples[k]
    x = np.asarray(args[i], dtype=float)

    def f(z):
        full = list(args)
        full[i] = z
        return prim.composite(*full, **params)

    def plain(z):
        full = list(args)
        full[i] = z
        return _flat(prim.numeric(*full, **params))

    value, pullback = reverse.vjp(lambda z: _flat_traced(f(z)), x)
    np.testing.assert_array_equal(np.asarray(value), plain(x))
    if prim.linear:
        jac = exact_jacobian(plain, x).reshape(-1, x.size)
    else:  # a permutation at a point without ties: entries 0 and 1
        jac = dk.jacobian(lambda z: plain(z.reshape(x.shape)), x.ravel(), method="richardson")
        jac = np.round(jac, 6)
    rev = np.stack([np.ravel(pullback(e.reshape(np.shape(value))))
                    for e in np.eye(np.size(value))]) if np.size(value) else jac
    np.testing.assert_allclose(rev.reshape(jac.shape), jac, rtol=1e-12, atol=1e-12)
    fwd = np.stack([np.ravel(forward.jvp(lambda z: _flat_traced(f(z)), x, e.reshape(x.shape))[1])
                    for e in np.eye(x.size)], axis=1) if x.size else jac
    np.testing.assert_allclose(fwd.reshape(jac.shape), jac, rtol=1e-12, atol=1e-12)
    w = np.linspace(0.5, 1.5, jac.shape[0])
    hess = reverse.hessian(lambda z: dnp.sum(w * _flat_traced(f(z)) ** 2), x)
    np.testing.assert_allclose(np.reshape(hess, (x.size, x.size)),
                               2.0 * jac.T @ (w[:, None] * jac), rtol=1e-11, atol=1e-11)


def _flat_traced(out):
    if isinstance(out, (list, tuple)):
        return dnp.concatenate([dnp.reshape(o, (-1,)) for o in out])
    return dnp.reshape(out, (-1,))


# ============================================================================ indexing (autograd)

A564 = np.random.default_rng(0).normal(size=(5, 6, 4))

INDEXING = {
    "ints": lambda x: x[3, 0, 1],
    "slice": lambda x: x[::-1, 2:4, :],
    "lists": lambda x: x[[0, 1, 2], :, :],
    "mixed": lambda x: x[3, 2:, [1, 3]],
    "slice fan-out": lambda x: x[::-1, 2:4, :] + x[::-1, 3:5, :],
    "multiple slices": lambda x: x[1:4][1:3],
    "ellipsis and None": lambda x: x[..., None, 1] + 2.0 * x[None, 0, ..., 2:3],
    "repeated integers": lambda x: x[[0, 0, 4], 1],
    "integer arrays": lambda x: x[np.array([[0, 1], [4, 4]]), np.array([[5, 0], [2, 2]])],
    "constant mask": lambda x: x[A564 > 0.5],
    "mask and slice": lambda x: x[A564[:, :, 0] > 0, 1:3],
    "dot of slices": lambda x: np.dot(np.ravel(x[:2, 0, 0]), np.ravel(x[2:4, 0, 0])),
}


@pytest.mark.parametrize("name", list(INDEXING))
def test_indexing(name):
    f = INDEXING[name]
    x = A564[:, :, :] if name != "multiple slices" else A564[:, 0, 0]

    def flat(z):
        return np.reshape(f(z.reshape(x.shape)), (-1,))

    z = x.ravel()
    if name == "dot of slices":
        ref = dk.jacobian(flat, z, method="richardson")
    else:
        ref = exact_jacobian(flat, z)
    methods = ALL if name != "dot of slices" else AD
    for method in methods:
        np.testing.assert_allclose(dk.jacobian(flat, z, method=method), ref, rtol=1e-9,
                                   atol=1e-12, err_msg=method)


def test_a_mask_from_the_traced_value_selects_at_the_point():
    def f(x):
        return np.sum(x[x > 0] ** 2)

    for method in AD:
        np.testing.assert_allclose(dk.gradient(f, V5, method=method),
                                   np.where(V5 > 0, 2 * V5, 0.0), rtol=1e-14)


def test_a_symbolic_mask_that_has_settled_selects_entries():
    # x * 0 > -1 is true whatever x is: sympy settles it, so symbolic differentiation goes on
    def f(x):
        return np.sum(x[x * 0.0 > -1.0] ** 2)

    np.testing.assert_allclose(dk.gradient(f, V3, method="symbolic"), 2 * V3, rtol=1e-14)


# ============================================================================ index_update


def test_index_update_replaces_entries_and_the_last_write_wins():
    x = np.arange(5.0)
    out = dnp.index_update(x, np.array([0, 0, 3]), np.array([7.0, 8.0, 9.0]))
    np.testing.assert_array_equal(out, [8.0, 1.0, 2.0, 9.0, 4.0])
    assert x[0] == 0.0  # a new array: x is untouched
    np.testing.assert_array_equal(dnp.index_update(x, x > 2, -1.0), [0, 1, 2, -1, -1])
    np.testing.assert_array_equal(dnp.index_update(x, index=1, values=5.0), [0, 5, 2, 3, 4])


@pytest.mark.parametrize("method", ALL)
def test_index_update_gradients(method):
    # x -> x with x[1:3] replaced by x[3:]**2 and x[0, 0]... the cotangent of the replaced
    # entries is dropped, the values' cotangent is the update's
    def f(x):
        y = dnp.index_update(x, slice(1, 3), x[3:] ** 2)
        y = dnp.index_update(y, np.array([0, 0]), np.array([5.0, 1.0]) * x[4])
        return np.sum(y * np.array([1.0, 2.0, 3.0, 4.0, 5.0]))

    x = V5
    exact = np.array([0.0, 0.0, 0.0, 4.0 + 2 * 2.0 * x[3], 5.0 + 2 * 3.0 * x[4] + 1.0])
    np.testing.assert_allclose(dk.gradient(f, x, method=method), exact, rtol=1e-12)
    hess = dk.hessian(f, x, method=method if method != "complex-step" else "reverse-mode")
    np.testing.assert_allclose(np.diag(hess), [0, 0, 0, 4.0, 6.0], atol=1e-6)


def test_in_place_assignment_names_index_update():
    def f(x):
        x[0] = 1.0
        return x

    with pytest.raises(dk.NotTraceableError, match=r"dnp\.index_update\(x, index, value\)"):
        dk.jacobian(f, V3, method="reverse-mode")


# ============================================================================ astype, copy, item


def test_astype_keeps_float32_and_casts_the_gradient_back():
    x32 = np.arange(3, dtype=np.float32) + np.float32(0.5)
    seen = []

    def f(x):
        y = x.astype(np.float32)
        seen.append(y.dtype)
        return np.sum(np.sin(y.astype("float64")))

    g = reverse.gradient(f, x32)
    assert g.dtype == np.float32  # autograd's test_astype
    assert seen == [np.float32]
    np.testing.assert_allclose(g, np.cos(x32.astype(float)), rtol=1e-6)
    _, t = forward.jvp(lambda x: np.astype(x, np.float32) * 2.0, V3, np.ones(3))
    assert np.asarray(t).dtype == np.float32


def test_astype_to_an_integer_type_carries_no_derivative():
    def f(x):
        k = x.astype(int)  # plain integers under AD: usable as an index
        assert isinstance(k, np.ndarray)
        assert k.dtype.kind == "i"
        return x[k[2]] * x

    for method in AD:
        jac = dk.jacobian(f, V3, method=method)
        np.testing.assert_allclose(jac, np.diag(np.full(3, V3[1])) + np.outer(V3, [0, 1, 0]))
    with pytest.raises(dk.NotTraceableError, match=r"astype\(int64\) of a symbolic value"):
        dk.jacobian(f, V3, method="symbolic")


def test_astype_refuses_the_complex_step():
    with pytest.raises(dk.NonAnalyticError, match="'astype'"):
        dk.gradient(lambda x: np.sum(x.astype(float)), V3, method="complex-step")


@pytest.mark.parametrize("method", ALL)
def test_item_is_a_traced_scalar(method):
    def f(x):
        s = x[1:2].item()
        # (the complex step runs plain numpy once it has checked the program on a tracer)
        assert isinstance(s, Tracer) == isinstance(x, Tracer)
        assert np.shape(s) == ()
        return np.sin(s) * x[0]

    exact = np.array([np.sin(V3[1]), np.cos(V3[1]) * V3[0], 0.0])
    np.testing.assert_allclose(dk.gradient(f, V3, method=method), exact, rtol=1e-12)


def test_item_of_several_entries_is_refused():
    with pytest.raises(dk.OutputShapeError, match=r"ndarray.item\(\) of a traced value of "
                                                  r"shape \(3,\)"):
        dk.gradient(lambda x: x.item(), V3, method="reverse-mode")


@pytest.mark.parametrize("method", ALL)
def test_copy_is_the_value(method):
    def f(x):
        return np.sum(np.copy(x) * x.copy() * dnp.copy(x))

    np.testing.assert_allclose(dk.gradient(f, V3, method=method), 3 * V3**2, rtol=1e-12)


# ============================================================================ index-valued


def test_argmax_and_friends_return_plain_integers_under_ad():
    seen = []

    def f(x):
        for out in (np.argmax(x), x.argmin(), np.argsort(x), np.argpartition(x, 1),
                    dnp.argmax(x, axis=0, keepdims=True)):
            assert not isinstance(out, Tracer)
            seen.append(np.asarray(out).dtype.kind)
        return x[np.argmax(x)] * 2.0

    for method in AD:
        np.testing.assert_allclose(dk.gradient(f, V5, method=method), [0, 0, 2.0, 0, 0])
    assert set(seen) == {"i"}


@pytest.mark.parametrize(("f", "name"), [(lambda x: x[np.argmax(x)], "numpy.argmax"),
                                         (lambda x: np.sort(x)[0], "numpy.argsort"),
                                         (lambda x: np.partition(x, 1)[0],
                                          "numpy.argpartition")])
def test_orderings_are_refused_by_symbolic_and_complex_step(f, name):
    with pytest.raises(dk.UnsupportedPrimitiveError, match=f"depends on x, so {name} has no"):
        dk.gradient(f, V5, method="symbolic")
    with pytest.raises(dk.NonAnalyticError, match="not complex-analytic"):
        dk.gradient(f, V5, method="complex-step")


def test_a_symbolic_mask_that_depends_on_x_is_refused():
    with pytest.raises(dk.NotTraceableError, match=r"indexing with a symbolic value .*"
                                                   r"dnp.where\(mask, value, 0\)"):
        dk.gradient(lambda x: np.sum(x[x > 0] ** 2), V5, method="symbolic")


# ============================================================================ tracer basics


@pytest.mark.parametrize("method", ALL)
def test_len_iteration_and_shape_queries_on_every_tracer(method):
    def f(x):
        m = x.reshape(3, 3)
        assert len(m) == 3
        assert (np.shape(m), np.ndim(m), np.size(m), np.size(m, 1)) == ((3, 3), 2, 9, 3)
        assert m.T.shape == (3, 3)
        rows = list(m)
        assert len(rows) == 3
        assert all(isinstance(r, Tracer) == isinstance(x, Tracer) for r in rows)
        return dnp.array([rows[0][0] * rows[1][1], rows[2][2]])

    exact = np.zeros((2, 9))
    exact[0, 0], exact[0, 4], exact[1, 8] = M9[4], M9[0], 1.0
    np.testing.assert_allclose(dk.jacobian(f, M9, method=method), exact, rtol=1e-12)


def test_np_array_of_traced_values_says_to_stack():
    with pytest.raises(dk.NotTraceableError, match=r"np\.stack"):
        dk.jacobian(lambda x: np.array([x[0] * x[1], x[2]]), V3, method="reverse-mode")


# ============================================================================ refused call forms

REFUSED = {
    "pad(mode='mean')": (lambda x: np.pad(x, 1, mode="mean"), dk.UnsupportedPrimitiveError,
                         r"numpy.pad\(..., mode='mean'\) on a traced value: diffkit pads"),
    "pad(reflect_type='odd')": (lambda x: np.pad(x, 1, mode="reflect", reflect_type="odd"),
                                dk.UnsupportedPrimitiveError, r"reflect_type='odd'"),
    "pad(traced constant)": (lambda x: np.pad(x, 1, constant_values=x[0]),
                             dk.UnsupportedPrimitiveError,
                             r"numpy.pad: the constant_values is a traced value"),
    "take(out=)": (lambda x: np.take(x, [0], out=np.zeros(1)), dk.UnsupportedPrimitiveError,
                   r"numpy.take\(..., out=...\)"),
    "concatenate(out=)": (lambda x: np.concatenate([x, x], out=np.zeros(6)),
                          dk.UnsupportedPrimitiveError, r"numpy.concatenate\(..., out=...\)"),
    "stack(axis=None)": (lambda x: np.stack([x, x], axis=None), dk.UnsupportedPrimitiveError,
                         r"axis=None\) on traced values: the axis must be an integer"),
    "argmax(out=)": (lambda x: np.argmax(x, out=np.zeros((), dtype=int)) * x,
                     dk.UnsupportedPrimitiveError, r"numpy.argmax\(..., out=...\)"),
    "sort(order=)": (lambda x: np.sort(x, order="f"), dk.UnsupportedPrimitiveError,
                     r"order='f'\) on a traced value"),
    "x.sort()": (lambda x: x.sort(), dk.UnsupportedPrimitiveError,
                 r"x.sort\(\) sorts x in place.*x = np.sort\(x\)"),
    "x.partition(1)": (lambda x: x.partition(1), dk.UnsupportedPrimitiveError,
                       r"x = np.partition\(x, kth\)"),
    "ravel(order='K')": (lambda x: np.ravel(x, order="K"), dk.UnsupportedPrimitiveError,
                         r"use order='C' or order='F'"),
    "roll(traced shift)": (lambda x: np.roll(x, x[0]), dk.UnsupportedPrimitiveError,
                           r"numpy.roll: the shift is a traced value"),
    "insert(traced obj)": (lambda x: np.insert(x, x[:1], 1.0), dk.UnsupportedPrimitiveError,
                           r"numpy.insert: the obj is a traced value"),
    "x[float traced]": (lambda x: V3[0] * x[x[0] * 0.0], dk.NotTraceableError,
                        r"indexing with a traced value of dtype float64"),
    "index_update(x)": (lambda x: dnp.index_update(x, 0), dk.UnsupportedPrimitiveError,
                        r"dnp.index_update takes \(x, index, values\)"),
    "squeeze(bad keyword)": (lambda x: dnp.squeeze(x, axes=0), dk.UnsupportedPrimitiveError,
                             r"numpy.squeeze: .*unexpected keyword argument 'axes'"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_call_forms_say_what_works(name):
    f, error, message = REFUSED[name]
    for method in AD:
        with pytest.raises(error, match=message):
            dk.jacobian(f, V3, method=method)


@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode", "symbolic", "reverse-compiled"])
def test_a_bool_index_is_a_mask_not_an_int(method):
    """``v[True]`` adds an axis by advanced indexing (a copy): the tape added the cotangent
    into that copy and returned a zero gradient."""
    def f(v):
        return np.sum(v[True] * 3) + np.sum(v[..., True][0] ** 2) + np.sum(v[np.True_]) \
            + np.sum(v[False])

    np.testing.assert_array_equal(dk.gradient(f, np.array([1.0, 2.0]), method=method),
                                  [6.0, 4.0])
