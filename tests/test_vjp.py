"""Every registry VJP, as reverse mode applies it, against exact symbolic derivatives.

For each primitive and each sample in ``tests/cases.py`` (scalar, vector, matrix and broadcast
shapes), ``phi(x_i) = sum(w * prim(..., x_i, ...))`` with fixed weights ``w`` is differentiated
by reverse mode (first order: one sweep; second order: reverse-over-reverse) and compared with
sympy's derivatives of the primitive's symbolic interpretation, evaluated at 30 digits. The
same check catches a VJP that is off by a factor 1.001.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import diffkit.numpy as dnp
from diffkit.core import REGISTRY, bind
from diffkit.methods import reverse
from tests.cases import CASES

RTOL = 1e-10


def _float_args(args):
    return [i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f"]


def _with(args, i, xi):
    out = list(args)
    out[i] = xi
    return tuple(out)


def _cases(order):
    for name in sorted(REGISTRY):
        prim = REGISTRY[name]
        if not prim.differentiable or prim.composite is not None or (
                order == 2 and not prim.analytic):
            continue
        if getattr(prim.symbolic, "refuses", False):  # no closed form: tests/test_testing.py
            continue  # checks its VJP against a numerical derivative, test_jvp against the JVP
        for k, (args, _) in enumerate(CASES[name]):
            for i in _float_args(args):
                if prim.vjp_rule(i) is not None:
                    yield pytest.param(name, k, i, id=f"{name}-{k}-arg{i}")


def _weights(shape):
    return np.random.default_rng(7).uniform(0.5, 1.5, shape)


def _phi(prim, args, params, i, w):
    """x_i -> sum(w * prim(args with x_i)), through the registry (bind), never a fast path."""

    def phi(x):
        return dnp.sum(w * bind(prim, _with(args, i, x), params))

    return phi


def _exact(prim, args, params, i, w, order):
    """Exact gradient (order 1) or Hessian (order 2) of phi at args[i], from sympy."""
    xi = np.asarray(args[i], dtype=float)
    syms = [sympy.Symbol(f"s{j}", real=True) for j in range(xi.size)]
    sx = np.array(syms, dtype=object).reshape(xi.shape) if xi.ndim else syms[0]
    sargs = []
    for k, a in enumerate(args):
        if k == i:
            sargs.append(sx)
        elif np.asarray(a).dtype.kind == "f" and np.ndim(a):
            sargs.append(np.array([sympy.Float(float(v), 30) for v in np.ravel(a)],
                                  dtype=object).reshape(np.shape(a)))
        elif np.asarray(a).dtype.kind == "f":
            sargs.append(sympy.Float(float(a), 30))
        else:
            sargs.append(a)
    out = prim.symbolic(*sargs, **params)
    wts = np.broadcast_to(w, np.shape(out)) if np.ndim(out) else w
    phi = sum(sympy.Float(float(wk), 30) * ok
              for wk, ok in zip(np.ravel(wts), np.ravel(np.asarray(out, dtype=object)),
                                strict=True))
    subs = {s: sympy.Float(float(v), 30) for s, v in zip(syms, np.ravel(xi), strict=True)}
    if order == 1:
        vals = [sympy.diff(phi, s).subs(subs).evalf(30) for s in syms]
        return np.array([float(v) for v in vals]).reshape(xi.shape)
    vals = [[float(sympy.diff(phi, s, t).subs(subs).evalf(30)) for t in syms] for s in syms]
    return np.array(vals)


def _check(name, k, i, order):
    prim = REGISTRY[name]
    args, params = CASES[name][k]
    w = _weights(np.shape(prim.numeric(*args, **params)))
    phi = _phi(prim, args, params, i, w)
    xi = np.asarray(args[i], dtype=float)
    if order == 1:
        actual = np.asarray(reverse.gradient(phi, xi), dtype=float)
    else:
        actual = np.asarray(reverse.hessian(phi, xi), dtype=float).reshape(xi.size, xi.size)
    desired = _exact(prim, args, params, i, w, order)
    scale = max(1.0, float(np.max(np.abs(desired))))
    return float(np.max(np.abs(actual - desired))) / scale, actual, desired


@pytest.mark.parametrize(("name", "k", "i"), list(_cases(1)))
def test_every_vjp_matches_the_symbolic_derivative(name, k, i):
    err, actual, desired = _check(name, k, i, 1)
    assert err < RTOL, f"{name} case {k} arg {i}: {actual} != {desired}"


@pytest.mark.parametrize(("name", "k", "i"), list(_cases(2)))
def test_every_vjp_at_order_two(name, k, i):
    """Reverse-over-reverse: the VJPs are themselves recorded and swept."""
    err, actual, desired = _check(name, k, i, 2)
    assert err < RTOL, f"{name} case {k} arg {i}: Hessian {actual} != {desired}"


@pytest.mark.parametrize(("name", "k"), [("sin", 1), ("multiply", 2), ("sum", 0), ("sum", 1),
                                         ("matmul", 0), ("getitem", 1), ("tanh", 0),
                                         ("tanh", 2)])
def test_a_vjp_off_by_a_factor_1_001_is_caught(name, k, monkeypatch):
    prim = REGISTRY[name]
    rule0 = prim.vjp_rule(0)
    monkeypatch.setattr(prim, "vjp", (lambda *a, **p: rule0(*a, **p) * 1.001,
                                      *prim.vjp[1:]))
    err, _, _ = _check(name, k, 0, 1)
    assert err > 1e-4


# ----------------------------------------------------------------------------- fast paths


FAST = {
    "x + y": lambda x, y: x + y, "x - y": lambda x, y: x - y, "x * y": lambda x, y: x * y,
    "x / y": lambda x, y: x / y, "y - x": lambda x, y: y - x, "y / x": lambda x, y: y / x,
    "-x * y": lambda x, y: -x * y, "x**2 * y": lambda x, y: x**2 * y,
    "x[1:] * y[:2]": lambda x, y: x[1:] * y[:2], "x[[0, 2, 2]] * y": lambda x, y: x[[0, 2, 2]] * y,
}


@pytest.mark.parametrize("expr", list(FAST))
@pytest.mark.parametrize("shapes", ["scalar", "vector", "broadcast"])
def test_operator_fast_paths_match_the_registry(expr, shapes):
    """The operators' fast paths (records without the registry) give the registry's answer."""
    rng = np.random.default_rng(3)
    if shapes == "scalar" and "[" in expr:
        pytest.skip("indexing needs an array")
    x = {"scalar": 0.7, "vector": rng.uniform(0.5, 1.5, 3),
         "broadcast": rng.uniform(0.5, 1.5, 3)}[shapes]
    y = {"scalar": 1.3, "vector": rng.uniform(0.5, 1.5, 3),
         "broadcast": rng.uniform(0.5, 1.5, (2, 3))}[shapes]
    if "[" in expr and shapes == "broadcast":
        y = rng.uniform(0.5, 1.5, (2, 3 if "[[" in expr else 2))
    fn = FAST[expr]
    for wrt in (0, 1):
        def phi(v, wrt=wrt):
            a, b = (v, y) if wrt == 0 else (x, v)
            return dnp.sum(fn(a, b) * 1.5)

        point = np.asarray(x if wrt == 0 else y, dtype=float)
        fast = reverse.gradient(phi, point)
        # the same program through the registry: numpy ufuncs on nodes go through bind
        ref = _central(phi, point)
        np.testing.assert_allclose(fast, ref, rtol=1e-7, atol=1e-9)
        h_fast = reverse.hessian(phi, point)
        h_ref = _central_jac(lambda v, phi=phi: reverse.gradient(phi, v), point)
        np.testing.assert_allclose(np.reshape(h_fast, h_ref.shape), h_ref, rtol=1e-6,
                                   atol=1e-7)


def _central(f, x, h=1e-6):
    x = np.asarray(x, dtype=float)
    g = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        e = np.zeros(x.shape)
        e[idx] = h
        g[idx] = (float(f(x + e)) - float(f(x - e))) / (2 * h)
    return g


def _central_jac(F, x, h=1e-6):
    x = np.asarray(x, dtype=float)
    cols = []
    for idx in np.ndindex(x.shape):
        e = np.zeros(x.shape)
        e[idx] = h
        cols.append(np.ravel((np.asarray(F(x + e)) - np.asarray(F(x - e))) / (2 * h)))
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0))


# ----------------------------------------------------------------------------- fast rules


def _fast_cases():
    for name in sorted(REGISTRY):
        prim = REGISTRY[name]
        if prim.vjp_numpy is None and prim.vjp_into is None:
            continue
        for k, (args, _) in enumerate(CASES[name]):
            floats = _float_args(args)
            for mask_bits in range(1, 2 ** len(floats)):
                traced = tuple(i for j, i in enumerate(floats) if mask_bits >> j & 1)
                yield pytest.param(name, k, traced, id=f"{name}-{k}-{traced}")


@pytest.mark.parametrize(("name", "k", "traced"), list(_fast_cases()))
def test_fast_rules_equal_the_differentiable_rule(name, k, traced):
    """A stanza's plain-numpy VJP (and in-place VJP) computes what its ``vjp`` computes."""
    prim = REGISTRY[name]
    args, params = CASES[name][k]
    ans = prim.numeric(*args, **params)
    g = np.random.default_rng(5).uniform(0.5, 1.5, np.shape(ans))
    g = g if np.ndim(ans) else float(g)
    mask = tuple(i in traced for i in range(len(args)))
    want = {i: np.asarray(prim.vjp_rule(i)(g, ans, *args, **params)) for i in traced}
    if prim.vjp_numpy is not None:
        got = prim.vjp_numpy(g, ans, args, params, mask)
        for i in traced:
            np.testing.assert_allclose(np.broadcast_to(got[i], np.shape(args[i])),
                                       np.broadcast_to(want[i], np.shape(args[i])),
                                       rtol=1e-14, atol=1e-15, err_msg=f"{name} arg {i}")
    if prim.vjp_into is not None:
        acc = np.full(np.shape(args[0]), 0.25)
        prim.vjp_into(acc, g, args, params)
        np.testing.assert_allclose(acc, 0.25 + want[0], rtol=1e-14, atol=1e-15)
