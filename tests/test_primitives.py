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
    assert not missing, f"add sample arguments for {missing} to tests/cases.py"


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
    assert prim.symbolic is not None, f"{name} has no symbolic interpretation"
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

    assert getattr(dnp, name) is REGISTRY[name].function
    assert name in dnp.__all__


@pytest.mark.parametrize("name", ALL)
def test_stanza_is_complete(name):
    prim = REGISTRY[name]
    if prim.differentiable:
        assert prim.vjp is not None, f"{name} lacks a vjp"
        assert prim.jvp is not None, f"{name} lacks a jvp"
    else:
        assert not prim.analytic, f"{name}: a non-differentiable primitive is not analytic"


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide"])
def test_scalar_arithmetic_is_bitwise_the_ufuncs(name):
    # dnp's + - * / on numpy scalars use numpy's scalar arithmetic (a tenth of a ufunc call);
    # it must give the ufunc's bits, for real and complex-step-like operands
    import diffkit.numpy as dnp
    from diffkit.core import checked_evaluation
    from diffkit.errors import DomainError

    rng = np.random.default_rng(3)
    vals = [*(rng.normal(size=60) * np.exp(rng.normal(size=60) * 6)), 0.0, -0.0, 1.0, 2.0,
            -3.0, 1e308, 5e-324, np.inf, np.nan]
    fn, uf = getattr(dnp, name), REGISTRY[name].numeric
    pairs = []
    for a in vals:
        for b in vals[::4]:
            pairs += [(np.float64(a), b), (a, np.float64(b)), (np.float64(a), np.float64(b)),
                      (np.complex128(complex(a, 1e-200)), b), (2, np.float64(b)),
                      (np.complex128(complex(a, 1e-200)), np.complex128(complex(b, -3.0)))]
    with np.errstate(all="ignore"):
        for x, y in pairs:
            got, want = fn(x, y), uf(x, y)
            assert type(got) is type(want), (x, y)
            assert np.array_equal(np.array([got]).view(np.float64), np.array([want]).view(
                np.float64), equal_nan=True), (x, y, got, want)
            assert np.signbit(np.real(got)) == np.signbit(np.real(want)) or np.isnan(got)
    if name == "divide":  # the error state still turns 1/0 into a DomainError
        with checked_evaluation(), pytest.raises(DomainError, match="divide"):
            dnp.divide(np.float64(1.0), 0.0)
