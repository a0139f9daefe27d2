"""Result objects are plain data: ``dataclasses.replace`` works on the result of every method
and every operation (the lean complex step's result included)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp

F = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2), name="f",
                manual=lambda x1, x2: [1 / x1 + x2, x1 - dnp.cos(x2)])
F.manual_hessian(lambda x1, x2: [[-1 / x1**2, 1.0], [1.0, dnp.sin(x2)]])
G = dk.Function(dnp.exp, manual=lambda x: dnp.exp(x))
V = dk.Function(lambda x: dnp.stack([x[0] * x[1], dnp.sin(x[0])]),
                manual=lambda x: [[x[1], x[0]], [dnp.cos(x[0]), 0.0]])

OPS = {"derivative": (G, 1.0), "gradient": (F, [2.0, 5.0]), "jacobian": (V, [0.5, 2.0]),
       "hessian": (F, [2.0, 5.0])}


@pytest.mark.parametrize("method", dk.methods.available())
@pytest.mark.parametrize("op", list(OPS))
def test_replace_works_on_every_result(method, op):
    spec, x = OPS[op]
    m = dk.methods.get(method)
    for _ in range(2):  # the second call takes any fast path a method has (lean complex step)
        r = getattr(m, op)(spec, x)
        assert isinstance(r, dk.DerivativeResult)
        changed = dataclasses.replace(r, status="checked", info={"note": 1})
        assert (changed.status, changed.info) == ("checked", {"note": 1})
        np.testing.assert_array_equal(np.asarray(changed.value), np.asarray(r.value))
        assert (changed.nfev, changed.method, changed.step, changed.out_shape) == \
            (r.nfev, r.method, r.step, r.out_shape)
        assert r.status == "ok"  # the original is untouched
        same = dataclasses.replace(r)
        assert dataclasses.asdict(same).keys() == dataclasses.asdict(r).keys()


def test_replace_on_the_lean_complex_step_result():
    spec = dk.Function(dnp.sin)
    m = dk.methods.ComplexStep()
    m.derivative(spec, 0.5)
    lean = m.derivative(spec, 0.5)
    assert type(lean) is not dk.DerivativeResult  # the lean path's own subclass
    r = dataclasses.replace(lean, value=2.0)
    assert (r.value, r.nfev, r.method, r.step, r.out_shape) == (2.0, 4, "complex-step", 1e-200,
                                                                 ())
    assert float(lean) == np.cos(0.5)
