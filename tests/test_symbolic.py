"""The symbolic method: exact derivatives from sympy, two strategies, clear errors."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import sympy

import diffkit as dk
import diffkit.numpy as dnp
from diffkit import catalog
from diffkit.core import Primitive, bind
from diffkit.methods.symbolic import Symbolic, sympy_form

STRATEGIES = ["dag", "tree"]
x = sympy.Symbol("x", real=True)

# Baydin et al. (2018), Table 1, "simplified" column: d l_n / dx of the logistic map
TABLE1 = {
    1: sympy.Integer(1),
    2: 4 - 8 * x,
    3: 16 * (1 - 10 * x + 24 * x**2 - 16 * x**3),
    4: 64 * (1 - 42 * x + 504 * x**2 - 2640 * x**3 + 7040 * x**4 - 9984 * x**5
             + 7168 * x**6 - 2048 * x**7),
}


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("n", sorted(TABLE1))
def test_baydin_table1_expanded_derivative(n, strategy):
    d = Symbolic(strategy=strategy).derivative_expression(catalog.logistic(n).function)
    assert sympy.expand(d - TABLE1[n]) == 0


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("entry", catalog.entries(), ids=lambda e: e.name)
def test_catalogue_against_exact_reference(entry, strategy):
    method = Symbolic(strategy=strategy)
    if "vector" in entry.tags:
        got = method.jacobian(entry.function, entry.point).value
    else:
        got = method.gradient(entry.function, entry.point).value
    want = entry.exact_float()
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", ["baydin", "trivariate", "rosenbrock2", "squire-trapp@1.5"])
def test_hessian_against_sympy(name, strategy):
    entry = catalog.get(name)
    expr, symbols = sympy_form(entry.function, np.shape(entry.point) or None)
    point = np.atleast_1d(entry.point)
    subs = {s: sympy.Rational(float(v)) for s, v in zip(symbols, point, strict=True)}
    want = np.array(sympy.hessian(expr, symbols).subs(subs).evalf(30).tolist(), dtype=float)
    got = Symbolic(strategy=strategy).hessian(entry.function, entry.point).value
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_symbolic_is_a_registered_method():
    f = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2))
    np.testing.assert_allclose(dk.gradient(f, [2.0, 5.0], method="symbolic"),
                               [5.5, 2.0 - math.cos(5.0)], rtol=1e-15)
    assert dk.derivative(lambda t: dnp.exp(2 * t), 0.0, method="symbolic") == 2.0
    assert dk.methods.get("symbolic").strategy == "dag"


def test_expressions_and_latex():
    f = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2))
    x1, x2 = sympy.symbols("x1 x2", real=True)
    assert Symbolic().expression(f) == sympy.log(x1) + x1 * x2 - sympy.sin(x2)
    for strategy in STRATEGIES:
        d = Symbolic(strategy=strategy).derivative_expression(f)
        assert sympy.simplify(d - sympy.Matrix([1 / x1 + x2, x1 - sympy.cos(x2)])) == \
            sympy.zeros(2, 1)
    assert Symbolic().latex(lambda t: dnp.exp(2 * t)) == "2 e^{2 t}"
    assert Symbolic().latex(lambda t: dnp.sin(t), derivative=False) == r"\sin{\left(t \right)}"


def test_decimal_constants_are_exact():
    expr, _ = sympy_form(lambda x: 0.1 * x)
    assert expr == sympy.Rational(1, 10) * x


def test_array_parameter_and_vector_output():
    expr, symbols = sympy_form(catalog.rosenbrock(3).function, (3,))
    assert [str(s) for s in symbols] == ["x_0", "x_1", "x_2"]
    x0, x1, x2 = symbols
    want = 100 * (x1 - x0**2) ** 2 + (1 - x0) ** 2 + 100 * (x2 - x1**2) ** 2 + (1 - x1) ** 2
    assert sympy.expand(expr - want) == 0
    polar, (r, t) = sympy_form(catalog.get("polar").function)
    assert isinstance(polar, np.ndarray)
    assert list(polar) == [r * sympy.cos(t), r * sympy.sin(t)]
    jac = Symbolic().derivative_expression(catalog.get("polar").function)
    assert jac.shape == (2, 2)


def test_loops_unroll_and_numpy_ufuncs_reach_the_registry():
    def f(x):
        total = 0.0
        for k in range(3):
            total = total + np.sin(x) ** (k + 1)  # np.sin on a tracer -> the sin primitive
        return total

    d = Symbolic().derivative_expression(f)
    assert sympy.simplify(d - sympy.diff(sum(sympy.sin(x) ** k for k in (1, 2, 3)), x)) == 0


def test_compiled_functions_are_cached():
    f = dk.Function(lambda t: dnp.sin(t) * t)
    method = Symbolic()
    g = method.compile(f)
    assert method.compile(f) is g
    assert g(0.5) == pytest.approx([math.cos(0.5) * 0.5 + math.sin(0.5)], rel=1e-15)
    method.gradient(f, 0.5)
    assert Symbolic().compile(f) is g  # cached on the spec, not on the method object


# ----------------------------------------------------------------------------- bad input


def test_branch_on_symbolic_value_names_file_and_line():
    def kinked(t):
        if t > 0:  # the line the error must name
            return t
        return -t

    line = kinked.__code__.co_firstlineno + 1
    with pytest.raises(dk.SymbolicBranchError,
                       match=rf"test_symbolic\.py:{line} \(in kinked\).*`if t > 0:.*closed form"
                             r".*reverse-mode follows the control flow.*dnp\.where"):
        dk.gradient(dk.Function(kinked), 0.5, method="symbolic")
    assert issubclass(dk.SymbolicBranchError, TypeError)


def test_where_instead_of_a_branch_works():
    f = dk.Function(lambda t: dnp.where(t > 0, t**2, -t))
    assert dk.derivative(f, 0.5, method="symbolic") == 1.0
    assert dk.derivative(f, -0.5, method="symbolic") == -1.0


def test_primitive_without_symbolic_rule_is_named():
    mystery = Primitive(name="mystery", numeric=np.sin)
    f = dk.Function(lambda t: bind(mystery, (t,), {}))
    with pytest.raises(dk.UnsupportedPrimitiveError,
                       match=r"primitive 'mystery' has no symbolic rule.*reverse-mode"):
        dk.derivative(f, 0.5, method="symbolic")


def test_plain_numpy_and_math_calls_say_use_dnp():
    with pytest.raises(dk.NotTraceableError, match=r"np\.asarray.*dnp"):
        sympy_form(lambda t: np.asarray(t) * 2)
    with pytest.raises(dk.NotTraceableError, match=r"math.*diffkit\.numpy"):
        sympy_form(lambda t: math.sin(t))


def test_unknown_strategy_and_engine():
    with pytest.raises(dk.UnknownMethodError, match=r"strategy='fast'.*'dag'.*'tree'"):
        Symbolic(strategy="fast")
    with pytest.raises(dk.UnknownMethodError, match="engine='maple'"):
        Symbolic(engine="maple")


def test_formula_with_unknown_function_is_a_parse_error():
    with pytest.raises(dk.ParseError, match="unknown function 'gamma'"):
        dk.Function.from_expr("gamma(x) + 1")


def test_domain_errors():
    with pytest.raises(dk.DomainError, match="log"):
        dk.derivative(dk.Function.from_expr("log(x)"), -1.0, method="symbolic")
    with pytest.raises(dk.DomainError, match=re.escape(
            "symbolic: sqrt(x) at x = 0.0: sqrt(0.0) is defined but its derivative is not finite "
            "there (sqrt's derivative requires x > 0)")):
        dk.derivative(dk.Function.from_expr("sqrt(x)"), 0.0, method="symbolic")


def test_gradient_of_vector_function_is_refused():
    with pytest.raises(dk.OutputShapeError, match="use jacobian"):
        Symbolic().gradient(catalog.get("polar").function, [2.0, 0.6])


def test_symengine_engine_gives_the_same_derivative():
    pytest.importorskip("symengine")
    f = catalog.logistic(5).function
    tree = Symbolic(strategy="tree").derivative_expression(f)
    fast = Symbolic(strategy="tree", engine="symengine").derivative_expression(f)
    assert sympy.expand(tree - fast) == 0
    np.testing.assert_allclose(
        Symbolic(strategy="tree", engine="symengine").gradient(f, 0.3).value,
        catalog.logistic(5).exact_float(), rtol=1e-13)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_maximum_of_a_cancelled_constant(strategy):
    """x2 - x2 cancels: the tie weights compare numbers, which must settle to true/false."""
    f = dk.Function.from_expr("maximum(x2 - x2 + 0.75, 0.3) + x1", variables=["x1", "x2"])
    np.testing.assert_array_equal(Symbolic(strategy=strategy).gradient(f, [1.126, 1.182]).value,
                                  [1.0, 0.0])


def test_bool_constants_in_arithmetic_are_zero_and_one():
    # sympy's true/false refuse arithmetic (TypeError: BooleanAtom not allowed); a bool
    # multiplying a value is 1 or 0, as in numpy, while where's condition stays a boolean
    x = np.array([1.0, 2.0, 3.0])
    g = dk.gradient(lambda x: dnp.sum(x * True + np.bool_(False) * x**2
                                      + x * np.array([True, False, True])
                                      + dnp.where(x > 1.5, x**2, x)), x, method="symbolic")
    np.testing.assert_array_equal(g, [3.0, 5.0, 8.0])


@pytest.mark.parametrize(("text", "x"), [("x/x", 0.0), ("x**2/x", 0.0), ("sqrt(x)**2", -2.0),
                                         ("log(x) - log(x) + x", -1.0), ("exp(log(x))", -2.0)])
def test_a_point_where_f_is_not_defined_is_refused_though_sympy_simplified_it_away(text, x):
    """sympy simplifies as it builds (x/x is 1, sqrt(x)**2 is x): the compiled value was
    finite at points where f is NaN, and the symbolic derivative came back (1.0 for x**2/x
    at 0). f is evaluated as numpy computes it first, as every method does."""
    f = dk.Function.from_expr(text)
    with pytest.raises(dk.DiffkitError):
        dk.derivative(f, x, method="symbolic")


def test_compiled_symbolic_code_keeps_every_digit_of_a_float_constant():
    """sympy prints floats to 15 digits in generated code (x - 3.14159265358979): the
    derivative of x**2/2 - pi x at pi was 3.1e-15, and np.where(x > np.pi, ...) took the
    wrong branch two ulps below pi."""
    import math

    assert dk.derivative(dk.Function(lambda x: x**2 / 2 - np.pi * x), math.pi,
                         method="symbolic") == 0.0
    below = np.nextafter(np.nextafter(np.pi, 0), 0)
    k = dk.Function(lambda x: np.where(x > np.pi, x**2, -x))
    assert dk.derivative(k, below, method="symbolic") == -1.0
    h = dk.Function(lambda x: (x - np.sqrt(2.0)) ** 2)
    assert dk.derivative(h, 1.41421356, method="symbolic") == 2 * (1.41421356 - np.sqrt(2.0))
