"""Vector forward mode: a batch of tangents through one pass equals one pass per direction.

Every stanza's JVP rules are written once for both shapes; the engine aligns tangents for
elementwise rules, stanzas marked ``jvp_batched`` handle the batch axis themselves, and any other
rule runs once per direction. These tests hold every registry stanza (every sample of
``tests/cases.py`` plus the harder shapes of ``tests/test_jvp.py``) to batched == per-direction,
the public calls to identical results for every ``chunk``, and bad ``chunk`` values to their
messages.
"""

from __future__ import annotations

import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp
from diffkit import catalog
from diffkit.core import REGISTRY
from diffkit.errors import OrderError, OutputShapeError
from diffkit.methods import forward
from diffkit.methods.forward import ForwardMode, ForwardTrace, default_chunk
from tests.cases import CASES
from tests.test_jvp import EXTRA, _call

_r = np.random.default_rng(11)
_a3 = _r.uniform(0.5, 1.5, (2, 3, 4))
# indices numpy places in front of every other axis (advanced parts separated by a slice): the
# batched rules fall back to one direction at a time for them
SEPARATED = {
    "getitem": [((_a3,), {"index": (np.array([1, 0]), slice(None), np.array([0, 3]))}),
                ((_a3,), {"index": (0, slice(None), np.array([2, 2, 1]))})],
    "scatter": [((_r.uniform(size=(2, 3)),),
                 {"index": (np.array([1, 0]), slice(None), np.array([0, 3])), "shape": (2, 3, 4),
                  "dtype": None})],
    "index_update": [((_a3, _r.uniform(size=(2, 3))),
                      {"index": (np.array([1, 0]), slice(None), np.array([0, 3]))}),
                     ((_a3, _r.uniform(size=4)), {"index": (0, 1)}),
                     ((_a3, 0.5), {"index": _a3 > 1.0})],
}

STANZAS = sorted(n for n, p in REGISTRY.items() if p.differentiable and n in CASES)
K = 3  # directions per batch in the stanza tests: not 1, not a size of any sample axis alone


def _samples(name):
    """(args, params, i): every sample and every float argument carrying a derivative."""
    prim = REGISTRY[name]
    for args, params in [*CASES[name], *EXTRA.get(name, []), *SEPARATED.get(name, [])]:
        for i, a in enumerate(args):
            if np.asarray(a).dtype.kind != "f":
                continue
            if prim.composite is None and prim.jvp_rule(i) is None:
                continue
            yield args, params, i


def _apply(prim, args, params):
    """The stanza applied to its sample: a composite through the primitives it is written
    with (samples hold its arguments, as tests/test_surface_*.py call it)."""
    if prim.composite is not None:
        return prim.composite(*args, **params)
    return _call(prim, args, params)


def _flat(out):
    """Several outputs (split, eigh, svd) as one vector; one output as it is."""
    if isinstance(out, (list, tuple)):
        return dnp.concatenate([dnp.reshape(o, (-1,)) for o in out])
    return out


def test_every_stanza_with_samples_is_covered():
    assert len(STANZAS) > 150
    for name in STANZAS:
        assert list(_samples(name)) or REGISTRY[name].jvp is None, name


@pytest.mark.parametrize("name", STANZAS)
def test_batched_equals_per_direction(name):
    """k directions through one vector pass == k scalar passes, at every sample."""
    prim = REGISTRY[name]
    rng = np.random.default_rng(5)
    for args, params, i in _samples(name):
        x = np.asarray(args[i], dtype=float)
        vs = rng.standard_normal((K, *x.shape))

        def f(z, args=args, params=params, i=i):
            full = list(args)
            full[i] = z
            return _flat(_apply(prim, full, params))

        value, batch = forward.jvps(f, x, vs)
        where = f"{name} arg {i} shapes {[np.shape(a) for a in args]} {params}"
        assert np.shape(batch) == (K, *np.shape(value)), where
        for j in range(K):
            value_j, single = forward.jvp(f, x, vs[j])
            np.testing.assert_array_equal(np.asarray(value), np.asarray(value_j), err_msg=where)
            np.testing.assert_allclose(np.asarray(batch[j]), np.asarray(single), rtol=1e-13,
                                       atol=1e-14, err_msg=f"{where}, direction {j}")


@pytest.mark.parametrize("name", STANZAS)
def test_batched_second_order_equals_per_direction(name):
    """A vector pass over a vector pass (forward-over-forward, both batched) == scalar passes:
    the rules' own primitives see batched tangents of an outer pass inside an inner one."""
    prim = REGISTRY[name]
    if prim.jvp is None and prim.composite is None:
        pytest.skip("no JVP")
    args, params, i = next(iter(_samples(name)))
    x = np.asarray(args[i], dtype=float)
    if x.size > 6:
        pytest.skip("small samples only: second order costs size**2 passes")

    def f(z):
        full = list(args)
        full[i] = z
        return dnp.sum(_flat(_apply(prim, full, params)) ** 2)

    scalar = forward.hessian(f, x, hessian_scheme="forward-over-forward", chunk=1)
    batched = forward.hessian(f, x, hessian_scheme="forward-over-forward", chunk=2)
    np.testing.assert_allclose(np.asarray(batched), np.asarray(scalar), rtol=1e-12, atol=1e-12,
                               err_msg=f"{name} {params}")


# ============================================================================ chunk sizes


def _specs():
    mlp_w = np.random.default_rng(3).uniform(-1, 1, (4, 5))
    return [
        (catalog.rosenbrock(7).function, np.linspace(-1.2, 1.3, 7)),
        (dk.Function(lambda x1, x2, x3: dnp.log(x1) + x1 * x2 - dnp.sin(x3) * x2 ** 3),
         np.array([2.0, 0.5, -0.7])),
        (dk.Function(lambda x: dnp.sum(dnp.tanh(mlp_w @ x) ** 2) + dnp.prod(x[::2])),
         np.array([0.3, -0.2, 0.9, 0.5, -1.1])),
        (dk.Function(lambda x: dnp.sum(dnp.where(x > 0, dnp.sqrt(dnp.abs(x)), x ** 2))),
         np.array([0.4, -0.3, 1.7, -2.0])),
    ]


@pytest.mark.parametrize("case", range(4))
def test_every_chunk_gives_identical_derivatives(case):
    spec, x = _specs()[case]
    n = x.size
    ref_g = dk.gradient(spec, x, method=ForwardMode(chunk=1))
    ref_h = {s: dk.hessian(spec, x, method=ForwardMode(chunk=1, hessian_scheme=s))
             for s in ("forward-over-reverse", "forward-over-forward")}
    for chunk in (1, 3, n, n + 4, None):
        m = ForwardMode(chunk=chunk)
        np.testing.assert_allclose(dk.gradient(spec, x, method=m), ref_g, rtol=1e-14,
                                   atol=1e-15, err_msg=f"chunk={chunk}")
        for scheme, ref in ref_h.items():
            h = dk.hessian(spec, x, method=ForwardMode(chunk=chunk, hessian_scheme=scheme))
            np.testing.assert_allclose(h, ref, rtol=1e-13, atol=1e-14,
                                       err_msg=f"chunk={chunk} {scheme}")
    np.testing.assert_allclose(ref_g, dk.gradient(spec, x, method="reverse-mode"), rtol=1e-13,
                               atol=1e-14)


def test_jacobian_every_chunk_and_pass_count():
    a = np.random.default_rng(4).uniform(-1, 1, (6, 5))
    f = dk.Function(lambda x: dnp.exp(a @ x) * dnp.concatenate([x, x[:1]]))
    x = np.array([0.1, -0.4, 0.3, 0.8, -0.2])
    ref = dk.jacobian(f, x, method=ForwardMode(chunk=1))
    exact = np.exp(a @ x)[:, None] * (a * np.concatenate([x, x[:1]])[:, None]) + \
        np.exp(a @ x)[:, None] * np.vstack([np.eye(5), np.eye(5)[:1]])
    np.testing.assert_allclose(ref, exact, rtol=1e-14, atol=1e-15)
    for chunk, passes in ((1, 5), (2, 3), (3, 2), (5, 1), (9, 1), (None, 1)):
        res = ForwardMode(chunk=chunk).jacobian(f, x)
        np.testing.assert_allclose(res.value, ref, rtol=1e-14, atol=1e-15)
        assert res.nfev == 5, chunk  # directional derivatives, however batched
        assert res.info["passes"] == passes, chunk


def test_engine_functions_take_chunk_and_agree():
    f = catalog.rosenbrock(6).function
    x = np.linspace(-0.5, 1.5, 6)
    for op in (forward.gradient, forward.jacobian):
        ref = op(f, x, chunk=1)
        for chunk in (2, 4, 6, 11, None):
            np.testing.assert_allclose(op(f, x, chunk=chunk), ref, rtol=1e-14, atol=1e-15)


def test_default_chunk_keeps_a_batch_within_the_tangent_budget():
    assert [default_chunk(n) for n in (1, 5, 100, 181, 182, 1000, 4096, 16384, 16385, 10**6)] \
        == [1, 5, 100, 181, 180, 32, 8, 2, 1, 1]
    assert ForwardMode().gradient(catalog.rosenbrock(300).function,
                                  np.ones(300)).info == {"passes": 3, "chunk": 109}


# ============================================================================ refusals


@pytest.mark.parametrize(("chunk", "message"), [
    (0, "ForwardMode: chunk=0 must be an integer >= 1 (the number of tangent directions one "
        "forward pass pushes); pass chunk=None for the default min(n, max(32768 // n, 1)) or "
        "chunk=1 for one scalar pass per coordinate"),
    (-3, "ForwardMode: chunk=-3 must be an integer >= 1"),
    (2.5, "ForwardMode: chunk=2.5 is not an integer; pass the number of tangent directions one "
          "forward pass pushes, an integer >= 1 (chunk=None picks min(n, max(32768 // n, 1))); "
          "chunk=1 is one scalar pass per coordinate"),
    ("8", "ForwardMode: chunk='8' is not an integer"),
    (True, "ForwardMode: chunk=True is not an integer"),
    (np.float64(4.0), "ForwardMode: chunk=np.float64(4.0) is not an integer"),
])
def test_bad_chunk_is_refused_with_a_pinned_message(chunk, message):
    with pytest.raises(OrderError) as info:
        ForwardMode(chunk=chunk)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, dk.DiffkitError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("op", ["gradient", "jacobian", "hessian"])
def test_engine_functions_refuse_bad_chunk(op):
    with pytest.raises(OrderError, match=rf"^{op}: chunk=0 must be an integer >= 1"):
        getattr(forward, op)(lambda x: dnp.sum(x ** 2), np.ones(3), chunk=0)


def test_numpy_integer_chunk_is_accepted():
    assert ForwardMode(chunk=np.int64(3)).chunk == 3


def test_jvps_refuses_directions_of_the_wrong_shape():
    with pytest.raises(OutputShapeError, match=r"^jvps\(fun, x, vs\): the directions vs have "
                                               r"shape \(3,\) but x has shape \(3,\); pass a "
                                               r"\(k, \*x.shape\) stack of k >= 1 directions"):
        forward.jvps(dnp.sin, np.ones(3), np.ones(3))
    with pytest.raises(OutputShapeError, match=r"shape \(0, 3\)"):
        forward.jvps(dnp.sin, np.ones(3), np.ones((0, 3)))


# ============================================================================ semantics


def test_scalar_jvp_is_unchanged():
    _value, t = forward.jvp(lambda x: dnp.sin(x) * x, np.array([0.5, 1.0]), np.array([1.0, 0.0]))
    assert np.shape(t) == (2,)
    np.testing.assert_allclose(t, [np.cos(0.5) * 0.5 + np.sin(0.5), 0.0], rtol=1e-15)
    assert ForwardTrace().batch is None


def test_output_that_ignores_the_input_gets_zero_tangents_per_direction():
    _, ts = forward.jvps(lambda x: np.ones((2, 2)), np.ones(3), np.eye(3))
    assert ts.shape == (3, 2, 2)
    assert not ts.any()
    _value, ts = forward.jvps(lambda x: dnp.broadcast_to(dnp.sum(x), (2, 3)), np.ones(3),
                             np.eye(3))
    np.testing.assert_array_equal(ts, np.ones((3, 2, 3)))


def test_broadcasting_arguments_keep_the_batch_axis_in_front():
    # a scalar and a vector argument, both traced: numpy aligns shapes on the right
    def f(z):
        return z[0] * z[1:] + dnp.reshape(z[1:], (2, 1)) / z[0]

    x = np.array([1.5, 0.3, -0.8])
    np.testing.assert_allclose(forward.jacobian(f, x), forward.jacobian(f, x, chunk=1),
                               rtol=1e-15)


def test_guarded_domains_hold_for_batches():
    """np.where discards the non-finite derivative of the branch not taken, per direction."""
    f = dk.Function(lambda x: dnp.sum(dnp.where(x > 0, dnp.sqrt(x), -x) * dnp.log(
        dnp.where(x > 0, x, 1.0))))
    x = np.array([0.5, -1.0, 2.0, 0.0, -3.0])
    batched = dk.gradient(f, x, method="forward-mode")
    assert np.all(np.isfinite(batched))
    np.testing.assert_array_equal(batched, dk.gradient(f, x, method=ForwardMode(chunk=1)))
    np.testing.assert_allclose(batched, dk.gradient(f, x, method="reverse-mode"), rtol=1e-14)


def test_a_derivative_outside_its_domain_is_still_a_domain_error_in_batches():
    with pytest.raises(dk.DomainError, match="sqrt"):
        dk.gradient(lambda x: dnp.sum(dnp.sqrt(x)), np.array([1.0, 0.0, 2.0]),
                    method="forward-mode")


def test_a_replaced_rule_of_a_batched_stanza_runs_once_per_direction(monkeypatch):
    """A rule written for one tangent, planted on a stanza marked jvp_batched, never meets a
    batch: the engine loops over the directions for it (as the fast VJP rules turn off)."""
    prim = REGISTRY["sum"]
    assert prim.batched_jvp
    f = dk.Function(lambda x: dnp.sum(x * x, axis=0))
    x = np.array([[0.5, -1.0], [2.0, 0.3], [1.1, 0.7]])
    right = dk.jacobian(f, x, method="forward-mode")
    monkeypatch.setattr(prim, "jvp", (lambda t, ans, x, axis=None, keepdims=False:
                                      np.sum(t, axis=axis, keepdims=keepdims) * 1.001,))
    assert not prim.batched_jvp
    np.testing.assert_allclose(dk.jacobian(f, x, method="forward-mode"), right * 1.001,
                               rtol=1e-14)


def test_nested_vector_passes_keep_levels_apart():
    """d/dx [x * d/dy (x + y)] = 1 with both passes batched (perturbation confusion)."""
    def outer(x):
        inner = forward.gradient(lambda y: dnp.sum(x + y), x, chunk=2)
        return dnp.sum(x * inner)

    np.testing.assert_array_equal(forward.gradient(outer, np.array([1.0, 2.0, 3.0]), chunk=3),
                                  [1.0, 1.0, 1.0])
