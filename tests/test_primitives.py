"""Every registry stanza's numeric interpretation against its symbolic one."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from diffkit.core import REGISTRY
from tests.cases import CASES

ALL = sorted(REGISTRY)


def test_every_primitive_has_cases():
    missing = [n for n in ALL if n not in CASES]
    assert not missing, f"add samples=(...) to the stanzas of {missing}"


def _symbolize(args):
    """Each float argument becomes sympy symbols (an object array for arrays)."""
    syms, subs, out = [], {}, []
    for k, a in enumerate(args):
        arr = np.asarray(a)
        if arr.dtype == bool:
            out.append(a)
            continue
        flat = []
        for j, v in enumerate(arr.ravel()):
            s = sympy.Symbol(f"a{k}_{j}", real=True)
            subs[s] = sympy.Float(float(v), 30)
            flat.append(s)
            syms.append(s)
        obj = np.array(flat, dtype=object).reshape(arr.shape)
        out.append(obj if arr.ndim else flat[0])
    return out, subs


def _evaluate(expr, subs):
    if isinstance(expr, np.ndarray):
        return np.array([_evaluate(e, subs) for e in expr.ravel()]).reshape(expr.shape)
    val = sympy.sympify(expr).subs(subs)
    if isinstance(val, sympy.logic.boolalg.BooleanAtom) or val in (sympy.true, sympy.false):
        return bool(val)
    return float(val.evalf(30))


@pytest.mark.parametrize("name", ALL)
def test_numeric_matches_symbolic(name):
    prim = REGISTRY[name]
    if prim.composite is not None:
        pytest.skip(f"{name}: a composite, traced through the primitives it is written with")
    assert prim.symbolic is not None, f"{name} has no symbolic interpretation"
    if getattr(prim.symbolic, "refuses", False):
        pytest.skip(f"{name}: no closed form (symbolic_refusal)")
    for args, params in CASES[name]:
        numeric = np.asarray(prim.numeric(*args, **params))
        sargs, subs = _symbolize(args)
        symbolic = _evaluate(prim.symbolic(*sargs, **params), subs)
        assert np.shape(symbolic) == numeric.shape, (name, args, params)
        np.testing.assert_allclose(np.asarray(symbolic, dtype=float), numeric.astype(float),
                                   rtol=1e-13, atol=1e-14, err_msg=f"{name} {params}")


@pytest.mark.parametrize("name", ALL)
def test_dnp_function_is_generated_from_the_registry(name):
    import diffkit.numpy as dnp

    prim = REGISTRY[name]
    home = getattr(dnp, prim.namespace) if prim.namespace else dnp
    assert getattr(home, name) is prim.function
    assert name in home.__all__
    for path in prim.numpy:  # numpy's names for it, in the mirrored namespace
        *module, attr = path.split(".")
        assert getattr(getattr(dnp, module[0]) if module else dnp, attr) is prim.function


@pytest.mark.parametrize("name", ALL)
def test_stanza_is_complete(name):
    prim = REGISTRY[name]
    if prim.differentiable and prim.composite is None:  # composites are traced through
        assert prim.vjp is not None, f"{name} lacks a vjp"
        assert prim.jvp is not None, f"{name} lacks a jvp"
    elif not prim.differentiable:
        assert not prim.analytic, f"{name}: a non-differentiable primitive is not analytic"
