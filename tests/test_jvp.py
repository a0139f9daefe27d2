"""Every registry stanza's JVP against its VJP and against finite differences.

For a primitive y = f(a_0, ..., a_k) and each differentiable argument i, the JVP rule gives
J_i v and the VJP rule gives J_i^T u; the adjoint identity <u, J_i v> = <J_i^T u, v> must hold
for random u, v at every sample of ``tests/cases.py`` (scalar, vector and broadcast shapes).
The JVP is also checked against a central difference of the numeric rule, and, applied through
forward mode itself, at second order.
"""

from __future__ import annotations

import numpy as np
import pytest

from diffkit.core import REGISTRY
from diffkit.methods import forward
from tests.cases import CASES

DIFFERENTIABLE = sorted(n for n, p in REGISTRY.items()
                        if p.differentiable and p.composite is None)  # composites: no rules

_r = np.random.default_rng(7)
_a3 = _r.uniform(0.5, 1.5, (2, 3, 4))
# harder broadcasting than tests/cases.py: batched matmul, axis tuples, both sides broadcast
EXTRA: dict[str, list[tuple[tuple, dict]]] = {
    "multiply": [((_r.uniform(0.5, 1.5, (2, 1, 3)), _r.uniform(0.5, 1.5, (4, 1))), {})],
    "divide": [((_r.uniform(0.5, 1.5, (4, 1)), _r.uniform(0.5, 1.5, (2, 1, 3))), {})],
    "power": [((_r.uniform(0.5, 1.5, (2, 1)), _r.uniform(0.5, 1.5, (3,))), {})],
    "maximum": [((_r.uniform(0, 1, (2, 1, 3)), _r.uniform(0, 1, (4, 1))), {})],
    "sum": [((_a3,), {"axis": (0, 2), "keepdims": False}),
            ((_a3,), {"axis": (0, 2), "keepdims": True}),
            ((_a3,), {"axis": -1, "keepdims": False})],
    "mean": [((_a3,), {"axis": (1, 2), "keepdims": False})],
    "prod": [((_a3,), {"axis": 0, "keepdims": True}), ((_a3,), {"axis": (0, 2),
                                                                "keepdims": False})],
    "max": [((_a3,), {"axis": (0, 1), "keepdims": False})],
    "matmul": [((_a3, _r.uniform(size=(4, 5))), {}), ((_r.uniform(size=4), _a3.transpose(0, 2, 1)),
                                                      {}),
               ((_a3, _r.uniform(size=4)), {}), ((_r.uniform(size=(3, 4)), _r.uniform(
                   size=(2, 4, 5))), {})],
    "dot": [((_r.uniform(size=3), _r.uniform(size=(3, 2))), {})],
    "where": [((np.array([True, False, True]), _a3[0, :, :3], 0.5), {})],
    "getitem": [((_a3,), {"index": (slice(None), None, -1)}), ((_a3,), {"index": (Ellipsis, 1)}),
                ((_a3,), {"index": (np.array([1, 0, 1]), slice(1, 3))})],
    "concatenate": [((_a3, _a3[:, :1]), {"axis": 1})],
    "stack": [((_a3[0], _a3[1]), {"axis": -1})],
    "transpose": [((_a3,), {"axes": (1, 0, 2)})],
    "broadcast_to": [((_r.uniform(size=(1, 3)),), {"shape": (4, 2, 3)})],
    "reshape": [((_a3,), {"shape": (4, -1)})],
}


def _samples(name):
    """(args, params, i) for every sample and every float argument with a JVP rule."""
    prim = REGISTRY[name]
    for args, params in [*CASES[name], *EXTRA.get(name, [])]:
        for i, a in enumerate(args):
            if np.asarray(a).dtype.kind != "f" or prim.jvp_rule(i) is None:
                continue
            yield args, params, i


def _random_like(shape, rng):
    return rng.standard_normal(shape) if shape else float(rng.standard_normal())


def test_every_differentiable_primitive_is_covered():
    assert DIFFERENTIABLE
    for name in DIFFERENTIABLE:
        assert list(_samples(name)), f"{name}: no sample with a differentiable float argument"


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_jvp_is_the_adjoint_of_vjp(name):
    prim = REGISTRY[name]
    rng = np.random.default_rng(1)
    for args, params, i in _samples(name):
        ans = prim.numeric(*args, **params)
        v = _random_like(np.shape(args[i]), rng)
        u = _random_like(np.shape(ans), rng)
        jv = prim.jvp_rule(i)(v, ans, *args, **params)
        jtu = prim.vjp_rule(i)(u, ans, *args, **params)
        where = f"{name} arg {i} shapes {[np.shape(a) for a in args]} {params}"
        assert np.shape(jv) == np.shape(ans), f"{where}: JVP shape {np.shape(jv)}"
        assert np.shape(jtu) == np.shape(args[i]), f"{where}: VJP shape {np.shape(jtu)}"
        lhs = float(np.sum(np.asarray(u) * np.asarray(jv)))
        rhs = float(np.sum(np.asarray(jtu) * np.asarray(v)))
        assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12), where


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_jvp_matches_central_difference(name):
    prim = REGISTRY[name]
    rng = np.random.default_rng(2)
    h = 1e-6
    for args, params, i in _samples(name):
        ans = prim.numeric(*args, **params)
        v = _random_like(np.shape(args[i]), rng)
        jv = np.asarray(prim.jvp_rule(i)(v, ans, *args, **params))
        plus, minus = list(args), list(args)
        plus[i] = args[i] + h * v
        minus[i] = args[i] - h * v
        fd = (np.asarray(prim.numeric(*plus, **params))
              - np.asarray(prim.numeric(*minus, **params))) / (2 * h)
        np.testing.assert_allclose(jv, fd, rtol=1e-6, atol=1e-7,
                                   err_msg=f"{name} arg {i} {params}")


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_forward_pass_equals_the_rule(name):
    """A dual through ``prim.function`` (the dnp call) gives exactly the stanza's JVP."""
    prim = REGISTRY[name]
    rng = np.random.default_rng(3)
    for args, params, i in _samples(name):
        ans = prim.numeric(*args, **params)
        v = np.asarray(_random_like(np.shape(args[i]), rng))

        def f(z, args=args, params=params, i=i):
            full = list(args)
            full[i] = z
            return _call(prim, full, params)

        value, tangent = forward.jvp(f, np.asarray(args[i], dtype=float), v)
        np.testing.assert_allclose(np.asarray(value), ans, rtol=1e-15)
        expected = prim.jvp_rule(i)(v if v.ndim else float(v), ans, *args, **params)
        np.testing.assert_allclose(np.asarray(tangent), np.asarray(expected), rtol=1e-14,
                                   atol=1e-15)


def _call(prim, args, params):
    """Call the primitive through its dnp function, with numpy's signature."""
    if prim.name in ("stack", "concatenate"):
        return prim.function(args, **params)
    if prim.name == "where":
        return prim.function(*args)
    if prim.name == "average":  # numpy's second positional parameter is axis, not weights
        return prim.function(args[0], weights=args[1], **params)
    return prim.function(*args, **params)


@pytest.mark.parametrize("name", [n for n in DIFFERENTIABLE if REGISTRY[n].analytic])
def test_jvp_rule_differentiates_at_second_order(name):
    """Forward-over-forward through each rule against a central difference of the JVP.

    Kinked primitives (abs, maximum, max) are left out: their samples include ties, where the
    second derivative does not exist.
    """
    prim = REGISTRY[name]
    rng = np.random.default_rng(4)
    h = 1e-5
    for args, params, i in _samples(name):
        v = np.asarray(_random_like(np.shape(args[i]), rng))
        w = np.asarray(_random_like(np.shape(args[i]), rng))

        def jv(z, args=args, params=params, i=i, v=v):
            full = list(args)
            full[i] = z
            return forward.jvp(lambda y: _call(prim, [*full[:i], y, *full[i + 1:]], params),
                               z, v)[1]

        x = np.asarray(args[i], dtype=float)
        _, second = forward.jvp(jv, x, w)
        fd = (np.asarray(jv(x + h * w)) - np.asarray(jv(x - h * w))) / (2 * h)
        np.testing.assert_allclose(np.asarray(second), fd, rtol=1e-5, atol=1e-6,
                                   err_msg=f"{name} arg {i} {params}")
