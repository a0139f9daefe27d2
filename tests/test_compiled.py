"""Source transformation (method="reverse-compiled"): the tape's numbers from written code.

The compiled programs are held to the tape (``reverse-mode``) on the catalogue, on every
registry primitive's samples and on random programs, at the traced point and at another
point (where the cached program runs); branches are taken both ways; every refusal and
fallback says what happened. Baydin et al.'s Table 3 is pinned as code.
"""

from __future__ import annotations

import ast
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import diffkit as dk
import diffkit.numpy as dnp
from diffkit import catalog
from diffkit.codegen import Program, _laid_out, build
from diffkit.core import REGISTRY, bind
from diffkit.errors import DomainError, GuardError, NonFiniteError, NotTraceableError
from diffkit.methods.compiled import PROGRAMS, ReverseCompiled
from tests.array_programs import POINTS, array_program
from tests.cases import CASES
from tests.strategies import programs

TAPE = dk.methods.get("reverse-mode")
METHOD = ReverseCompiled()

BAYDIN_TABLE_3 = """\
def gradient(x1, x2):
    # the primal: one line per primitive
    v1 = log(x1)
    v2 = x1 * x2
    v3 = sin(x2)
    v4 = v1 + v2
    v5 = v4 - v3
    # the adjoints, v_bar = d(output)/dv, in reverse order
    v5_bar = 1.0
    v4_bar = v5_bar
    v3_bar = -v5_bar
    x2_bar = v3_bar * cos(x2)
    v1_bar = v4_bar
    v2_bar = v4_bar
    x1_bar = v2_bar * x2
    x2_bar = x2_bar + v2_bar * x1
    x1_bar = x1_bar + v1_bar / x1
    return v5, x1_bar, x2_bar
"""


def close_to_tape(got, want, scale=None):
    """Equal up to rounding: the tape's plain-numpy fast rules may round a term differently
    from the stanza's rule (a few ulps of the largest term)."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    scale = np.max(np.abs(want), initial=1e-300) if scale is None else scale
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13 * scale)


# ============================================================================ readability


@pytest.mark.parametrize("form", ["python", "formula"])
def test_baydins_example_reads_like_table_3(form):
    """One line per primal variable, one per adjoint, named after the primal variables and in
    the tape's sweep order (Baydin et al. 2018, Table 3; v̄0 and v̄-1 are x2_bar and x1_bar)."""
    f = (dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2)) if form == "python"
         else dk.Function.from_expr("log(x1) + x1*x2 - sin(x2)"))
    assert METHOD.source(f, [2.0, 5.0]) == BAYDIN_TABLE_3
    r = METHOD.gradient(f, [2.0, 5.0])
    np.testing.assert_array_equal(r.value, TAPE.gradient(f, [2.0, 5.0]).value)
    np.testing.assert_allclose(r.value, [1 / 2 + 5, 2 - np.cos(5.0)], rtol=1e-15)


def test_the_primal_is_numbered_as_dk_trace_numbers_it():
    f = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2))
    table = dk.trace(f, [2.0, 5.0]).forward_table()
    for line in BAYDIN_TABLE_3.splitlines()[2:7]:
        name, _expr = (s.strip() for s in line.split("="))
        assert re.search(rf"^{name}\s+=", table, re.MULTILINE), name


def test_the_written_code_is_python_over_the_registrys_numeric_functions():
    rosen = dk.Function(lambda x: dnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))
    program = METHOD.compile(rosen, np.linspace(-1, 1, 6))
    tree = ast.parse(program.source)
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)
              and isinstance(n.func, ast.Name)}
    for name in called:
        fn = program.function.__globals__[name]
        assert callable(fn)
    assert program.function.__globals__["sum"] is REGISTRY["sum"].numeric
    assert "x[1:]" in program.source
    assert "x[:-1]" in program.source


# ============================================================================ agreement


def _catalogue():
    for e in catalog.entries():
        op = "jacobian" if "vector" in e.tags else "gradient"
        yield pytest.param(e.name, op, id=f"{e.name}-{op}")
        if op == "gradient":
            yield pytest.param(e.name, "hessian", id=f"{e.name}-hessian")


@pytest.mark.parametrize(("name", "op"), list(_catalogue()))
def test_catalogue_agrees_with_the_tape(name, op):
    e = catalog.get(name)
    want = getattr(TAPE, op)(e.function, e.point).value
    first = getattr(METHOD, op)(e.function, e.point)
    again = getattr(METHOD, op)(e.function, e.point)
    close_to_tape(first.value, want)
    np.testing.assert_array_equal(again.value, first.value)
    assert first.status == again.status == "ok"
    assert again.info["compiled"] == "cached"


def _samples():
    for name in sorted(REGISTRY):
        prim = REGISTRY[name]
        if not prim.differentiable or prim.composite is not None:
            continue
        for k, (args, _params) in enumerate(CASES.get(name, [])):
            for i, a in enumerate(args):
                if np.asarray(a).dtype.kind == "f" and prim.vjp_rule(i) is not None:
                    yield pytest.param(name, k, i, id=f"{name}-{k}-arg{i}")


def _phi(prim, args, params, i):
    out = bind(prim, args, params)
    w = np.random.default_rng(7).uniform(0.5, 1.5, np.shape(out))

    def phi(x):
        changed = list(args)
        changed[i] = x
        return dnp.sum(w * bind(prim, tuple(changed), params))

    return dk.Function(phi)


@pytest.mark.parametrize(("name", "k", "i"), list(_samples()))
def test_every_primitive_compiles_and_agrees_with_the_tape(name, k, i):
    """Each stanza's VJP, written out by the code writer (or, where it reads a value, called
    at run time), at the sample and, with the cached program, at a perturbed point."""
    prim = REGISTRY[name]
    args, params = CASES[name][k]
    f = _phi(prim, args, params, i)
    x0 = np.asarray(args[i], dtype=float)
    x1 = x0 * (1 + 1e-3 * np.linspace(0.5, 1, x0.size).reshape(x0.shape)) + 1e-4
    for x in (x0, x1):
        try:
            want = TAPE.gradient(f, x).value
        except DomainError:
            with pytest.raises(DomainError):
                METHOD.gradient(f, x)
            continue
        r = METHOD.gradient(f, x)
        close_to_tape(r.value, want)
        assert r.status == "ok", r.status


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_random_programs_agree_with_the_tape_at_two_points(prog):
    for f in (prog.spec(), prog.python_spec()):
        for x in (prog.point, np.asarray(prog.point) * 1.001 + 5e-4):
            try:
                want = TAPE.gradient(f, x).value
            except DomainError:
                with pytest.raises(DomainError):
                    METHOD.gradient(f, x)
                continue
            close_to_tape(METHOD.gradient(f, x).value, want)


@pytest.mark.parametrize("seed", range(0, 400, 4))
def test_random_array_programs_agree_with_forward_mode(seed):
    """Array programs (slices, joins, fancy indices, broadcast scalar entries, shared
    intermediates) at three points. Judged against forward mode: the tape's shortcut that
    keeps a whole sum's cotangent as one number gets some of them wrong (sum(x - x[0]))."""
    f = dk.Function(array_program(seed))
    for x in POINTS:
        r = METHOD.gradient(f, x)
        assert r.status == "ok", r.status
        want = dk.gradient(f, x, method="forward-mode")
        scale = max(1.0, float(np.max(np.abs(want))))
        np.testing.assert_allclose(r.value, want, rtol=1e-10, atol=1e-12 * scale)


def test_most_programs_are_the_tapes_numbers_bit_for_bit():
    """Same operations in the same order: bit-identical, except where the tape's plain-numpy
    fast rule rounds a term differently from the stanza's rule."""
    same = total = 0
    for e in catalog.entries():
        if "vector" in e.tags:
            continue
        total += 1
        same += np.array_equal(METHOD.gradient(e.function, e.point).value,
                               TAPE.gradient(e.function, e.point).value)
    assert same >= 0.9 * total


def test_the_sweeps_negations_are_folded_into_their_one_reader():
    """subtract's rule writes ``-g``: the writer merges a negation into the operation that
    reads it (negation is exact: the same numbers, one operation less) and leaves the primal
    as the function wrote it."""
    x = np.linspace(-1.0, 1.0, 7)

    def f(x):
        return dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    primal, adjoint = METHOD.source(f, x).split("# the adjoints")
    assert "v4 = 1.0 - v2" in primal  # as written
    assert "v2_bar = -2.0 * v4" in adjoint  # -(2.0 * v4): one product
    assert "* -2.0 * v2" in adjoint  # (-v5_bar) * 2.0: one product
    assert not re.search(r"= -v\w+$", adjoint, re.M)  # no negation left on its own
    np.testing.assert_array_equal(METHOD.gradient(f, x).value, TAPE.gradient(f, x).value)
    jvp = METHOD.compile(lambda x1, x2: x1 - dnp.sin(x2), [2.0, 5.0], "jvp").source
    assert "v2_dot = x1_dot - v1_dot" in jvp  # (was x1_dot + -v1_dot)


def test_a_warm_program_whose_check_overflows_is_silent_and_right():
    """The warm path's finiteness test of point, value and gradient may overflow for finite
    numbers: silenced, and the general path answers (no warning, no FloatingPointError)."""
    c = np.array([1e308, 0.5e308])
    f = dk.Function(lambda x: dnp.sum(c * x))
    x = np.array([1.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):
            np.testing.assert_array_equal(dk.gradient(f, x, method="reverse-compiled"), c)
        with np.errstate(all="raise"):
            np.testing.assert_array_equal(dk.gradient(f, x, method="reverse-compiled"), c)


LAM = 1.0


def _scaled(w):
    return w * LAM


def test_what_f_reads_from_outside_its_arguments_is_not_kept_stale():
    """A written program holds the values f read from its closure and globals (and those of
    the functions it calls) as constants: when one changes, the program is written again."""
    global LAM
    w = np.array([1.0, 2.0])
    scale = 1.0
    F = dk.Function(lambda v: dnp.sum(v ** 2) * scale)
    np.testing.assert_array_equal(dk.gradient(F, w, method="reverse-compiled"), [2.0, 4.0])
    scale = 10.0
    np.testing.assert_array_equal(dk.gradient(F, w, method="reverse-compiled"), [20.0, 40.0])
    A = np.array([1.0, 2.0])
    G = dk.Function(lambda v: dnp.sum(A * v ** 2))
    np.testing.assert_array_equal(dk.gradient(G, w, method="reverse-compiled"), [2.0, 8.0])
    A[:] = [3.0, 3.0]  # changed in place
    np.testing.assert_array_equal(dk.gradient(G, w, method="reverse-compiled"), [6.0, 12.0])
    H = dk.Function(lambda v: dnp.sum(_scaled(v) ** 2))  # a global read by a helper
    try:
        np.testing.assert_array_equal(dk.gradient(H, w, method="reverse-compiled"), 2 * w)
        LAM = 2.0
        np.testing.assert_array_equal(dk.gradient(H, w, method="reverse-compiled"), 8 * w)
        r = METHOD.hessian(H, w)
        np.testing.assert_array_equal(r.value, 8 * np.eye(2))
    finally:
        LAM = 1.0


def test_symbolic_runs_f_again_when_what_it_reads_has_changed():
    w = np.array([1.0, 2.0])
    scale = 1.0
    F = dk.Function(lambda v: dnp.sum(v ** 2) * scale)
    np.testing.assert_array_equal(dk.gradient(F, w, method="symbolic"), [2.0, 4.0])
    scale = 3.0
    np.testing.assert_array_equal(dk.gradient(F, w, method="symbolic"), [6.0, 12.0])
    np.testing.assert_array_equal(dk.hessian(F, w, method="symbolic"), 6.0 * np.eye(2))


class _Layer:
    def __init__(self):
        self.k = 1.0


class _Model:
    def __init__(self):
        self.w = 1.0
        self.v = np.ones(2)
        self.layer = _Layer()

    def loss(self, x):
        return dnp.sum(x ** 2) * self.w + dnp.sum(x * self.v) * self.layer.k

    def __call__(self, x):
        return dnp.sum(dnp.tanh(x)) * self.w


@pytest.mark.parametrize("method", ["reverse-compiled", "symbolic"])
def test_attributes_of_the_objects_f_reads_are_not_kept_stale(method):
    """model.w read through a closure, self.w of a bound method, self.layer.k, an array
    attribute changed in place, a callable model object: each change is seen (the written
    program or the symbolic trace kept model.w = 1.0 and gave 2x after model.w = 10.0)."""
    w = np.array([1.0, 2.0])
    m = _Model()
    F = dk.Function(lambda v: dnp.sum(v ** 2) * m.w)
    np.testing.assert_array_equal(dk.gradient(F, w, method=method), 2 * w)
    m.w = 10.0
    np.testing.assert_array_equal(dk.gradient(F, w, method=method), 20 * w)
    m = _Model()
    B = dk.Function(m.loss)
    np.testing.assert_array_equal(dk.gradient(B, w, method=method), 2 * w + 1)
    m.w = 3.0
    np.testing.assert_array_equal(dk.gradient(B, w, method=method), 6 * w + 1)
    m.v[1] = 5.0  # in place
    np.testing.assert_array_equal(dk.gradient(B, w, method=method), 6 * w + [1.0, 5.0])
    m.layer.k = 2.0  # two attributes down
    np.testing.assert_array_equal(dk.gradient(B, w, method=method), 6 * w + [2.0, 10.0])
    C = dk.Function(m)
    np.testing.assert_allclose(dk.gradient(C, w, method=method), 3 / np.cosh(w) ** 2,
                               rtol=1e-14)
    m.w = 0.5
    np.testing.assert_allclose(dk.gradient(C, w, method=method), 0.5 / np.cosh(w) ** 2,
                               rtol=1e-14)


PARAMS = {"w": np.array([1.0, 2.0])}
LAYERS = [np.array([1.0, 1.0])]


class _Cfg:
    scale = 1.0


def _defaulted(x, c=[1.0]):  # noqa: B006 (a mutable default is the point)
    return dnp.sum(c[0] * x ** 2)


@pytest.mark.parametrize("method", ["reverse-compiled", "symbolic"])
def test_entries_defaults_classes_modules_and_partials_are_not_kept_stale(method):
    """Found by a hunt for silent wrong numbers: params["w"] changed in place, an array in a
    list, a mutable default and a replaced __defaults__, a class attribute, a module
    attribute, a partial's keyword list, and an array beyond the copy limit with two entries
    swapped (its sum unchanged) -- each gave the old gradient, 'ok'."""
    import functools
    import types

    x = np.array([0.3, 1.2])
    mod = types.ModuleType("cfgmod")
    mod.k = 1.0
    big = np.zeros((1 << 20) + 8)
    big[0] = 1.0
    partial = functools.partial(lambda v, a: dnp.sum(a[0] * v ** 2), a=[1.0])
    cases = [
        (lambda v: dnp.sum(PARAMS["w"] * v ** 2), lambda: 2 * PARAMS["w"] * x,
         lambda: PARAMS["w"].__setitem__(slice(None), [10.0, 20.0])),
        (lambda v: dnp.sum(LAYERS[0] * dnp.sin(v)), lambda: LAYERS[0] * np.cos(x),
         lambda: LAYERS[0].__setitem__(0, 5.0)),
        (_defaulted, lambda: 2 * _defaulted.__defaults__[0][0] * x,
         lambda: _defaulted.__defaults__[0].__setitem__(0, 7.0)),
        (_defaulted, lambda: 2 * _defaulted.__defaults__[0][0] * x,
         lambda: setattr(_defaulted, "__defaults__", ([4.0],))),
        (lambda v: dnp.sum(_Cfg.scale * v ** 2), lambda: 2 * _Cfg.scale * x,
         lambda: setattr(_Cfg, "scale", 3.0)),
        (lambda v: dnp.sum(mod.k * v ** 2), lambda: 2 * mod.k * x,
         lambda: setattr(mod, "k", 9.0)),
        (partial, lambda: 2 * partial.keywords["a"][0] * x,
         lambda: partial.keywords["a"].__setitem__(0, 6.0)),
        (lambda v: dnp.sum(big[:2] * v ** 2), lambda: 2 * big[:2] * x,
         lambda: big.__setitem__(slice(0, 2), [0.0, 1.0])),
    ]
    saved = (PARAMS["w"].copy(), LAYERS[0].copy(), _defaulted.__defaults__, _Cfg.scale)
    try:
        for fn, want, change in cases:
            f = dk.Function(fn)
            np.testing.assert_allclose(dk.gradient(f, x, method=method), want(), rtol=1e-14)
            change()
            np.testing.assert_allclose(dk.gradient(f, x, method=method), want(), rtol=1e-14)
    finally:
        PARAMS["w"][:] = saved[0]
        LAYERS[0][:] = saved[1]
        _defaulted.__defaults__ = ([1.0],)
        _Cfg.scale = saved[3]


def test_a_negation_read_twice_is_kept():
    p = Program()
    x = p.input(np.array([1.0, 2.0]), "x")
    y = dnp.sum(dnp.sin(x) - x * x)
    (g,) = p.vjp(y, p.static(np.float64(1.0)), [x])
    built = build(p, [x], [y, g], "gradient")
    np.testing.assert_allclose(built.function(np.array([1.0, 2.0]))[1],
                               np.cos([1.0, 2.0]) - 2 * np.array([1.0, 2.0]), rtol=1e-15)


# ============================================================================ guards


def branchy(x1, x2):
    if x1 > 0:
        return x1 * x2
    return dnp.sin(x1) * x2


def test_a_branch_taken_the_other_way_is_traced_again_and_said():
    f = dk.Function(branchy)
    ReverseCompiled.clear(f)
    m = ReverseCompiled()
    statuses = []
    for x in ([1.0, 2.0], [-1.0, 2.0], [2.0, 3.0], [-2.0, 1.0]):
        r = m.gradient(f, x)
        np.testing.assert_array_equal(r.value, TAPE.gradient(f, x).value)
        statuses.append((r.status, r.info["compiled"], r.info["variants"]))
    assert [s[1:] for s in statuses] == [("traced", 1), ("re-traced", 2), ("cached", 2),
                                         ("cached", 2)]
    assert [s[0] for s in statuses] == [
        "ok", "re-traced: the function branched on `v1 = x1 > 0`, True when traced; this "
        "point takes another path", "ok", "ok"]


def test_a_compiled_program_refuses_a_point_off_its_path():
    program = METHOD.compile(branchy, [1.0, 2.0])
    assert "if not v1: raise Retrace(0)" in program.source
    assert program.function(3.0, 2.0) == (6.0, 2.0, 3.0)
    with pytest.raises(GuardError, match=r"branched on `v1 = x1 > 0`, True when traced") as exc:
        program.function(-3.0, 2.0)
    assert exc.value.index == 0


def test_loops_with_value_dependent_trip_counts():
    def newton_sqrt(a):
        x = a
        while dnp.abs(x * x - a) > 1e-12 * a:
            x = 0.5 * (x + a / x)
        return x

    f = dk.Function(newton_sqrt)
    for a in (2.0, 2.0001, 50.0, 0.01, 3.0):
        r = METHOD.gradient(f, a)
        close_to_tape(r.value, TAPE.gradient(f, a).value)
        np.testing.assert_allclose(r.value, 0.5 / np.sqrt(a), rtol=1e-9)


def test_a_mask_from_the_point_is_guarded_on_the_entries_it_selects():
    f = dk.Function(lambda x: dnp.sum(x[x > 0] ** 2))
    x = np.array([0.3, -1.2, 0.7])
    src = METHOD.source(f, x)
    assert "unchanged(v1, c1)" in src
    for p, status in ((x, "ok"), (x + 0.1, "ok"), (-x, "re-traced")):
        r = METHOD.gradient(f, p)
        np.testing.assert_array_equal(r.value, TAPE.gradient(f, p).value)
        assert r.status.split(":")[0] == status


@pytest.mark.parametrize("f", [lambda x: dnp.prod(x), lambda x: dnp.max(x * x) + dnp.std(x),
                               lambda x: dnp.sum(dnp.cumprod(x)),
                               lambda x: dnp.median(dnp.sin(x))])
def test_rules_that_read_values_decide_at_run_time(f):
    """prod checks for zeros, max and median pick entries from the values: in the last sweep
    the rule is called by reference on the values, so every point gets its own decision."""
    f = dk.Function(f)
    m = ReverseCompiled()
    for x in ([0.5, 2.0, 3.0, -1.0], [0.5, 0.0, 3.0, -1.0], [4.0, 2.0, 3.0, 1.0],
              [0.0, 0.0, 1.0, 2.0]):
        r = m.gradient(f, np.array(x))
        close_to_tape(r.value, TAPE.gradient(f, np.array(x)).value)
        assert r.status == "ok"
    assert "vjp_" in m.source(f, np.array([0.5, 2.0, 3.0, -1.0]))


def test_a_value_read_under_a_second_sweep_falls_back_to_the_tape_and_says_so():
    f = dk.Function(lambda x: dnp.max(x * x))
    m = ReverseCompiled()
    x = np.array([0.5, -2.0, 1.5])
    np.testing.assert_allclose(m.hessian(f, x).value, TAPE.hessian(f, x).value)
    r = m.hvp(f, x + 0.25, np.ones(3))
    assert r.status.startswith("computed by the tape (reverse-mode):")
    assert "read the value" in r.status
    np.testing.assert_allclose(r.value, TAPE.hessian(f, x + 0.25).value @ np.ones(3))


# ============================================================================ the tape's errors


def test_a_point_outside_the_domain_is_the_tapes_domain_error():
    f = dk.Function(lambda x1, x2: dnp.log(x1) * x2)
    with pytest.raises(DomainError, match="log"):
        METHOD.gradient(f, [-1.0, 2.0])
    METHOD.gradient(f, [1.0, 2.0])
    with pytest.raises(DomainError, match="log"):  # now through the cached program
        METHOD.gradient(f, [-1.0, 2.0])


def test_python_floats_never_turn_complex():
    """A Python float's ** returns a complex number for a negative base; the written code
    evaluates ** on float64, as the tape does, so it raises like the tape."""
    f = dk.Function(lambda x1, x2: dnp.abs(x1 ** 0.5) + x2)
    METHOD.gradient(f, [4.0, 1.0])
    assert "float64(x1) ** 0.5" in METHOD.source(f, [4.0, 1.0])
    with pytest.raises(DomainError):
        METHOD.gradient(f, [-4.0, 1.0])
    g = dk.Function(lambda x1, x2: x1 / x2)
    METHOD.gradient(g, [1.0, 2.0])
    with pytest.raises(DomainError):
        METHOD.gradient(g, [1.0, 0.0])  # ZeroDivisionError of Python floats -> the tape


def test_a_value_that_overflows_is_refused_as_by_the_tape():
    f = dk.Function(lambda x: dnp.exp(x) * 2.0)
    METHOD.gradient(f, 1.0)
    with pytest.raises(NonFiniteError):
        METHOD.gradient(f, 1000.0)


def test_a_derivative_that_is_not_finite_is_the_tapes_to_decide():
    """(The tape refuses a derivative that is not finite with a DomainError, and lets a zero
    cotangent annihilate 0 * inf: the compiled method says the same.)"""
    f = dk.Function(lambda x: dnp.sum(dnp.exp(x * x)))
    x = np.array([1.0, 2.0])
    assert METHOD.gradient(f, x).status == "ok"
    big = np.array([1.0, 26.6])  # exp(707.6) is finite, its derivative 2x exp(x^2) is not
    with pytest.raises(DomainError) as tape:
        TAPE.gradient(f, big)
    with pytest.raises(DomainError) as compiled:
        METHOD.gradient(f, big)
    assert str(compiled.value) == str(tape.value)  # (the tape decided)


def test_conversions_of_traced_values_are_refused_as_by_the_tape():
    f = dk.Function(lambda x: float(x) * 2.0)
    with pytest.raises(NotTraceableError) as tape:
        TAPE.gradient(f, 1.0)
    with pytest.raises(NotTraceableError) as compiled:
        METHOD.gradient(f, 1.0)
    assert str(compiled.value).replace("Var(v0", "Node(v0") == str(tape.value)


def test_a_program_the_writer_cannot_follow_is_computed_by_the_tape(monkeypatch):
    import diffkit.codegen as codegen

    monkeypatch.setattr(codegen, "MAX_OPS", 10)
    f = dk.Function(lambda x: dnp.sum(dnp.sin(x) * dnp.cos(x) + x ** 3 * dnp.exp(x)))
    x = np.linspace(0, 1, 4)
    r = ReverseCompiled().gradient(f, x)
    assert r.status.startswith("computed by the tape (reverse-mode): the program could not be "
                               "written: the program grew past 10 operations")
    np.testing.assert_array_equal(r.value, TAPE.gradient(f, x).value)


# ============================================================================ the cache


def test_one_program_per_shape_and_dtype_and_a_gradient_of_its_own():
    f = dk.Function(lambda x: dnp.sum(2.0 * x))
    r1 = METHOD.gradient(f, np.ones(3))
    r1.value[0] = 99.0  # the caller's array: the program's constants are untouched
    r2 = METHOD.gradient(f, np.ones(3))
    np.testing.assert_array_equal(r2.value, [2.0, 2.0, 2.0])
    assert r2.info["compiled"] == "cached"
    r3 = METHOD.gradient(f, np.ones(4))
    assert r3.info["compiled"] == "traced"
    r4 = METHOD.gradient(f, np.ones(3, dtype=np.float32))
    assert r4.info["compiled"] == "traced"
    assert len(f.cache[PROGRAMS]) == 3


def test_the_programs_kept_per_function_are_bounded():
    from diffkit.methods.compiled import MAX_KEYS

    f = dk.Function(lambda x: dnp.sum(x * x))
    for n in range(1, MAX_KEYS + 6):
        np.testing.assert_array_equal(METHOD.gradient(f, np.ones(n)).value, 2 * np.ones(n))
    assert len(f.cache[PROGRAMS]) == MAX_KEYS
    assert METHOD.gradient(f, np.ones(1)).info["compiled"] == "traced"  # the oldest went


def test_a_plain_callable_shares_its_programs_across_calls():
    def f(x):
        return dnp.sum(dnp.sin(x))

    ReverseCompiled.clear(f)
    x = np.linspace(0, 1, 5)
    assert METHOD.gradient(f, x).info["compiled"] == "traced"
    assert METHOD.gradient(f, x).info["compiled"] == "cached"


def test_a_replaced_rule_is_written_again(monkeypatch):
    f = dk.Function(lambda x: dnp.sum(dnp.sin(x)))
    x = np.linspace(0.2, 1.0, 5)
    right = METHOD.gradient(f, x).value
    prim = REGISTRY["sin"]
    rule = prim.vjp[0]
    planted = (lambda g, ans, x: rule(g, ans, x) * 1.001,)
    monkeypatch.setattr(prim, "vjp", planted)
    wrong = METHOD.gradient(f, x)
    assert wrong.info["compiled"] == "traced"
    np.testing.assert_allclose(wrong.value, right * 1.001, rtol=1e-14)


# ============================================================================ other programs


def test_jacobians_and_hessians_agree_with_the_tape():
    polar = dk.Function(lambda r, t: [r * dnp.cos(t), r * dnp.sin(t)])
    for x in ([2.0, 0.5], [1.0, -2.0]):
        np.testing.assert_array_equal(METHOD.jacobian(polar, x).value,
                                      TAPE.jacobian(polar, x).value)
    f = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2))
    close_to_tape(METHOD.hessian(f, [2.0, 5.0]).value, TAPE.hessian(f, [2.0, 5.0]).value)
    assert METHOD.derivative(lambda x: dnp.sin(x) ** 2, 0.5).value == pytest.approx(np.sin(1.0))


def test_hessian_vector_and_jacobian_vector_programs():
    rosen = dk.Function(lambda x: dnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))
    x = np.array([0.3, -0.5, 1.2, 0.8])
    v = np.array([1.0, 2.0, -1.0, 0.5])
    close_to_tape(METHOD.hvp(rosen, x, v).value, TAPE.hessian(rosen, x).value @ v)
    src = METHOD.source(rosen, x, what="hvp")
    assert src.startswith("def hvp(x, x_dot):")
    assert "x_bar_dot" in src
    f = dk.Function(lambda x1, x2: [x1 * x2, dnp.exp(x1)])
    close_to_tape(METHOD.jvp(f, [1.0, 2.0], [0.5, -1.0]).value,
                  TAPE.jacobian(f, [1.0, 2.0]).value @ [0.5, -1.0])
    assert "v1_dot = x1_dot * x2 + x1 * x2_dot" in METHOD.source(f, [1.0, 2.0], what="jvp")


def test_sweeps_that_share_a_cotangent_keep_accumulators_of_their_own():
    """Two rows of a Jacobian whose cotangents are the same values: the arrays the sweeps add
    into in place are never shared (a shared one would be added into twice)."""
    f = dk.Function(lambda x: dnp.stack([dnp.sum(x[1:] ** 2) + dnp.sum(x[:-1] ** 3)] * 2))
    x = np.array([0.5, 1.0, 2.0])
    r = METHOD.jacobian(f, x)
    assert r.status == "ok"
    np.testing.assert_array_equal(r.value, TAPE.jacobian(f, x).value)


def test_a_cotangent_passed_on_unchanged_is_not_added_into():
    """add's rule passes its cotangent on as it is, so two vars hold the same array; the
    array made for one of them must not be added into for the other."""

    def f(x):
        q = x * 2.0
        r = x * 3.0
        a = dnp.sum(q[1:] ** 2)
        p = q + r
        return dnp.sum(p[:-1] ** 3) + a

    for x in (np.array([0.5, 1.0, 2.0]), np.array([0.6, 1.1, 2.1])):
        r = METHOD.gradient(f, x)
        assert r.status == "ok"
        np.testing.assert_array_equal(r.value, TAPE.gradient(f, x).value)


def test_large_intermediates_are_freed_after_their_last_use():
    """An array the program does not keep (cumsum's: not one ufunc) is deleted after the line
    that reads it last."""
    f = dk.Function(lambda x: dnp.sum(dnp.cumsum(dnp.sin(x)) * x[::-1]))
    x = np.linspace(0, 1, 20_000)
    src = METHOD.source(f, x)
    assert "del v3" in src  # (v3 = cumsum(v1))
    close_to_tape(METHOD.gradient(f, x).value, TAPE.gradient(f, x).value)


def _kept(program) -> list[np.ndarray]:
    """The arrays a compiled program keeps between calls (its workspace's spare sets)."""
    ws = program.function.__globals__.get("workspace")
    return [] if ws is None else [a for arrays in ws.spare for a in arrays]


def test_a_transposed_data_matrix_is_read_from_a_contiguous_copy_while_it_is_compared():
    """matmul's rule reads the data matrix transposed (``X.T @ g``): the program reads a
    C-contiguous copy (BLAS reads it faster) when X is data the program compares exactly
    before each call, and a change to X is then seen; data it does not follow (an array made
    inside the function, one held in a __slots__ object) keeps the view, never a copy that
    could outlive it."""
    X = np.random.default_rng(4).normal(size=(40, 6))
    w = np.linspace(-0.5, 0.5, 18).reshape(6, 3)

    def constants(program):
        return [v for k, v in program.namespace.items()
                if re.fullmatch(r"c\d+", k) and isinstance(v, np.ndarray) and v.shape == (6, 40)]

    f = dk.Function(lambda w: dnp.sum(dnp.tanh(X @ w)))
    (copy,) = constants(METHOD.compile(f, w))
    assert copy.flags.c_contiguous
    assert not np.shares_memory(copy, X)
    np.testing.assert_array_equal(copy, X.T)
    for _ in range(2):
        want = X.T @ (1.0 - np.tanh(X @ w) ** 2)
        np.testing.assert_allclose(dk.gradient(f, w, method="reverse-compiled"), want,
                                   rtol=1e-13)
        X[0, 0] += 1.0  # (in place: the program is written again, the copy with it)

    class Holder:
        __slots__ = ("A",)

    h = Holder()
    h.A = X.copy()
    g = dk.Function(lambda w: dnp.sum(dnp.tanh(h.A @ w)))
    (view,) = constants(METHOD.compile(g, w))
    assert np.shares_memory(view, h.A)
    h.A[0, 0] += 1.0
    np.testing.assert_allclose(dk.gradient(g, w, method="reverse-compiled"),
                               h.A.T @ (1.0 - np.tanh(h.A @ w) ** 2), rtol=1e-13)

    def inside(w):
        A = np.arange(240.0).reshape(40, 6) / 100
        return dnp.sum(dnp.tanh(A @ w))

    (view,) = constants(METHOD.compile(dk.Function(inside), w))
    assert not view.flags.c_contiguous
    assert _laid_out(np.broadcast_to(X[:1], (5, 6)), frozenset({id(X)})).strides[0] == 0  # (as is)


def test_compared_bitwise_names_the_data_a_program_compares_bit_for_bit():
    """The arrays whose every change a cached program sees (kept as bytes, or as a copy of
    1-, 2-, 4- or 8-byte numbers): not one beyond the copy limit (a sum and a sample), not
    longdouble (compared by value: -0.0 == 0.0); the same from the function, where nothing is
    copied, as from its recorded entries."""
    from diffkit.freevalues import compared_bitwise, free_values

    small, ints = np.arange(6.0), np.arange(10_000)
    big, ld = np.zeros(2**20 + 1), np.zeros(3000, dtype=np.longdouble)

    def f(x):
        return x * small[0] + big[0] + float(ld[0]) + ints[0]

    ids = compared_bitwise(f)
    assert id(small) in ids
    assert id(ints) in ids
    assert id(big) not in ids
    assert id(ld) not in ids
    assert ids == compared_bitwise(entries=free_values(f))


def test_free_values_that_cannot_be_read_leave_the_method_as_it_was():
    """An object whose ``__getattr__`` raises KeyError for a missing name (an attribute-dict
    config) makes reading the function's free values fail: no copies are made, and a
    function the method cannot write out (``sort``) still goes to the tape."""

    class Params:
        def __init__(self, **kw):
            self.__dict__["_d"] = kw

        def __getattr__(self, k):
            return self._d[k]

    p = Params(s=2.0)
    f = dk.Function(lambda x: dnp.sum(dnp.sort(x * p.s) * np.arange(3.0)))
    x = np.array([0.3, 0.1, 0.4])
    for _ in range(2):
        np.testing.assert_array_equal(dk.gradient(f, x, method="reverse-compiled"),
                                      TAPE.gradient(f, x).value)


def test_large_intermediates_are_written_into_memory_the_program_keeps():
    """Rosenbrock at n = 1e5: every intermediate goes into four arrays the program keeps
    (``out=w1``), reused as lines stop reading them; what it returns owns its memory, shares
    none with them, and a second call leaves the first call's gradient as it was."""
    f = dk.Function(lambda x: dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))
    x = np.random.default_rng(0).uniform(-1.0, 1.0, 100_000)
    program = METHOD.compile(f, x)
    src = program.source
    assert "w1, w2, w3, w4 = workspace.take()" in src
    assert "workspace.give((w1, w2, w3, w4))" in src
    assert len(set(re.findall(r"out=(w\d)\)", src))) == 4  # four arrays, one reused:
    assert src.count("out=w") == 5  # five intermediates written into them, the rest lent
    assert "out=x_bar[:-1])" in src  # (the last adjoint written straight into the gradient)
    # (np.empty: only x_bar[-1], which x_bar[1:] += ... reads before any line assigns it, zeroed)
    assert "x_bar = empty((100000,))" in src
    assert re.search(r"x_bar\.flat\[c\d+\] = 0", src)
    assert re.findall(r"del (.*)", src) == ["v1"]  # (x[:-1]; kept arrays are never deleted)
    _value, g = program.function(x)
    first = g.copy()
    _value2, g2 = program.function(x * 0.5)
    assert g.base is None
    assert g2.base is None
    assert g is not g2
    np.testing.assert_array_equal(g, first)  # (the second call wrote nothing of the first's)
    kept = _kept(program)
    assert len(kept) == 4
    assert all(a.nbytes == 8 * (x.size - 1) for a in kept)
    assert not any(np.shares_memory(out, a) for out in (g, g2) for a in kept)
    for point in (x, x * 0.5, x[::-1].copy()):
        want = TAPE.gradient(f, point).value
        np.testing.assert_array_equal(dk.gradient(f, point, method="reverse-compiled"), want)


def test_programs_that_keep_memory_are_safe_across_threads():
    """Two threads calling one program at once: each call takes its own set of kept arrays
    (or makes one), so the numbers are each point's."""
    import threading

    f = dk.Function(lambda x: dnp.sum(dnp.tanh(x * 1.5) ** 2 * dnp.exp(-x)))
    points = [np.linspace(-1.0, 1.0, 50_000) * s for s in (0.5, 1.0, 1.5, 2.0)]
    want = [TAPE.gradient(f, p).value for p in points]
    program = METHOD.compile(f, points[0])
    assert "workspace.take()" in program.source
    errors = []

    def work(k):
        for _ in range(20):
            for j in (k, 3 - k):
                _, g = program.function(points[j])
                if not np.allclose(g, want[j], rtol=1e-13, atol=0):
                    errors.append(j)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.parametrize("seed", [5464])
def test_a_gradient_assigned_before_a_cotangent_written_into_it_is_allocated_once(
        monkeypatch, seed):
    """Found by the array soak: the accumulator's first assignment (x_bar[0] = ...) came
    before a cotangent written straight into its other entries, which allocated a second
    array (x_bar_2 = empty(...)) and returned it with x_bar[0] never written."""
    import diffkit.codegen

    monkeypatch.setattr(diffkit.codegen, "IN_PLACE_BYTES", 0)
    monkeypatch.setattr(diffkit.codegen, "KEEP_BYTES", 0)
    f = dk.Function(array_program(seed))
    program = METHOD.compile(f, POINTS[0])
    assert program.source.count("empty((") <= 1
    for x in POINTS:
        close_to_tape(program.function(x)[1], TAPE.gradient(f, x).value)
        assert "did not reproduce" not in METHOD.gradient(f, x).status


def test_random_array_programs_with_every_array_kept(monkeypatch):
    """Every intermediate in kept memory (and every one lending): the tape's numbers at each
    point, nothing returned in kept memory, and one call's results untouched by the next."""
    import diffkit.codegen

    monkeypatch.setattr(diffkit.codegen, "IN_PLACE_BYTES", 0)
    monkeypatch.setattr(diffkit.codegen, "KEEP_BYTES", 0)
    keeping = 0
    for seed in range(150):
        f = dk.Function(array_program(seed))
        program = METHOD.compile(f, POINTS[0])
        keeping += "workspace.take()" in program.source
        earlier = []
        for x in POINTS:
            want = TAPE.gradient(f, x).value
            got = METHOD.gradient(f, x)
            assert got.status == "ok"
            close_to_tape(got.value, want)
            out = program.function(x)  # (the program itself, at every point: never the tape)
            close_to_tape(out[1], want)
            earlier.append((out[1], out[1].copy()))
            kept = _kept(program)
            assert not any(np.shares_memory(o, a) for o in out if isinstance(o, np.ndarray)
                           for a in kept)
        for g, copy in earlier:
            np.testing.assert_array_equal(g, copy)
    assert keeping > 50  # (the draw reaches the kept-memory lines)


@pytest.mark.parametrize(("index", "form"), [
    ((slice(1, None), slice(None, -1)), ["x_bar = zeros((6,))", "x_bar[:-1] = ", "x_bar[1:] += "]),
    ((slice(None, 3), slice(3, None)), ["x_bar[3:] = ", "x_bar[:3] = "]),  # disjoint: both =
    ((0, slice(2, None, 2), -1), ["x_bar[-1] = ", "x_bar[2::2] = ", "x_bar[0] = "]),
    ((slice(None, None, -1), slice(1, 4)), ["x_bar[1:4] = ", "x_bar[::-1] += "]),
])
def test_sparse_cotangents_are_written_into_the_gradient_as_subscripts(index, form):
    """The adjoint of ``x[index]`` with a basic index is written as what it means:
    ``x_bar[index] += g`` (``=`` where no earlier cotangent reached those entries)."""
    a, b = index[0], index[1]
    c = index[2] if len(index) > 2 else None

    def fn(x):
        out = dnp.sum(dnp.sin(x[a]) * 2.0) + dnp.sum(x[b] ** 3)
        return out if c is None else out + dnp.sum(dnp.exp(x[c]))

    x = np.linspace(0.1, 0.9, 6)
    src = METHOD.source(fn, x)
    for text in form:
        assert text in src
    assert "vjp_getitem" not in src
    for point in (x, x[::-1].copy()):
        np.testing.assert_array_equal(dk.gradient(fn, point, method="reverse-compiled"),
                                      TAPE.gradient(fn, point).value)


def test_an_advanced_index_is_added_by_the_stanzas_rule():
    """``x[[0, 0, 2]]`` picks x[0] twice: its cotangent is added with np.add.at (the
    stanza's ``vjp_into``), never assigned."""
    def fn(x):
        return dnp.sum(x[np.array([0, 0, 2])] ** 2) + dnp.sum(x[1:] * 3.0)

    x = np.array([0.5, 1.5, 2.5, 3.5])
    src = METHOD.source(fn, x)
    assert "add_vjp_getitem_0(" in src or "vjp_getitem_0(" in src
    np.testing.assert_array_equal(dk.gradient(fn, x, method="reverse-compiled"),
                                  [2.0, 3.0, 8.0, 3.0])


def test_arrays_no_later_line_reads_lend_their_memory():
    """At n = 1e3 the elementwise lines write into the memory of an array read for the last
    time (``subtract(v1, v3, out=v3)``), the numbers unchanged; small arrays keep the
    operator form, which reads best (the notebooks show n = 5)."""
    f = dk.Function(lambda x: dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2
                                      + (1.0 - x[:-1]) ** 2))
    big = np.random.default_rng(3).uniform(-1.0, 1.0, 1000)
    src = METHOD.source(f, big)
    assert src.count("out=") >= 4
    assert "# out=: into the memory of an array no later line reads" in src
    assert "out=" not in METHOD.source(f, big[:5])
    before = big.copy()
    for x in (big, big[::-1].copy(), big * 0.5):
        np.testing.assert_array_equal(dk.gradient(f, x, method="reverse-compiled"),
                                      dk.gradient(f, x, method="reverse-mode"))
    np.testing.assert_array_equal(big, before)  # the point is never written


def _views_of_a_dying_array():
    """Programs where an array is read for the last time while a view of it (or an output
    made from it) is still to be read: its memory must not be lent."""
    def reshaped(x):
        a = x * 2.0
        b = dnp.reshape(a, (30, 20))
        c = dnp.sin(a)  # a's last read: b still views a
        return dnp.sum(b * dnp.reshape(c, (30, 20)))

    def sliced(x):
        a = dnp.exp(x * 0.1)
        b = a[::2]
        c = a * 3.0
        return dnp.sum(b ** 2) + dnp.sum(c[1::2] * b)

    def transposed(x):
        a = dnp.reshape(x * x, (20, 30))
        t = dnp.transpose(a * 1.5)
        d = dnp.tanh(a)
        return dnp.sum(t @ d)

    def ravelled(x):
        a = dnp.tanh(x) + 1.0
        r = dnp.ravel(dnp.reshape(a, (20, 30)))
        s = a - 0.5
        return dnp.sum(r * s) + dnp.sum(r[::3])

    def chained(x):
        a = x + 1.0
        v = a[1:][::-1][2:]
        a2 = a * a
        return dnp.sum(v * a2[:-3]) + dnp.sum(a2)

    return [reshaped, sliced, transposed, ravelled, chained]


@pytest.mark.parametrize("fn", _views_of_a_dying_array(), ids=lambda f: f.__name__)
def test_an_array_still_viewed_never_lends_its_memory(fn):
    f = dk.Function(fn)
    for seed in range(3):
        x = np.random.default_rng(seed).uniform(-1.0, 1.0, 600)
        before = x.copy()
        r = METHOD.gradient(f, x)
        assert r.status == "ok"
        np.testing.assert_array_equal(r.value, TAPE.gradient(f, x).value)
        np.testing.assert_array_equal(x, before)


def test_random_array_programs_with_every_array_lending(monkeypatch):
    """The in-place lines on the random array programs (every size lends here): the tape's
    numbers, at the traced point and where the cached program runs."""
    import diffkit.codegen

    monkeypatch.setattr(diffkit.codegen, "IN_PLACE_BYTES", 0)
    lent = 0
    for seed in range(150):
        f = dk.Function(array_program(seed))
        lent += "out=" in METHOD.source(f, POINTS[0])
        for x in POINTS:
            want = TAPE.gradient(f, x).value
            got = METHOD.gradient(f, x)
            assert got.status == "ok"
            close_to_tape(got.value, want)
    assert lent > 50  # (the draw reaches the lending lines)


def test_parameter_names_are_used_only_where_the_code_may_print_them():
    f = dk.Function(lambda a, b: a * b, parameters=["a b", "lambda"])
    assert METHOD.source(f, [1.0, 2.0]).startswith("def gradient(x1, x2):")

    def g(array, abs):
        return dnp.sum(array * abs) + abs ** 2.5

    assert METHOD.source(g, [1.0, 2.0]).startswith("def gradient(x1, x2):")
    np.testing.assert_array_equal(METHOD.gradient(g, [1.0, 2.0]).value,
                                  TAPE.gradient(g, [1.0, 2.0]).value)


def test_the_program_machinery_directly():
    p = Program()
    x1, x2 = p.input(np.float64(2.0), "x1"), p.input(np.float64(5.0), "x2")
    y = dnp.log(x1) + x1 * x2 - dnp.sin(x2)
    y2 = dnp.log(x1) + x1 * x2 - dnp.sin(x2)  # recorded again: the same values
    assert y2 is y
    g1, g2 = p.vjp(y, p.static(np.float64(1.0)), [x1, x2])
    fn, source, guards, ops, primal = build(p, [x1, x2], [y, g1, g2], "gradient")
    assert source == BAYDIN_TABLE_3
    assert guards == []
    assert (ops, primal) == (12, 5)  # five primal operations, seven of the sweep (the
    # seed's are folded)
    assert fn(2.0, 5.0) == (y.concrete, g1.concrete, g2.concrete)


def test_no_cyclic_garbage_after_a_call():
    """As the tape: a trace's values refer to their program only while it is written, and a
    compiled function does not hold itself."""
    import gc

    def workload():
        f = dk.Function(lambda x: dnp.sum(dnp.sin(x) * x[::-1]))
        for x in (np.linspace(0, 1, 5), np.linspace(1, 2, 5)):
            METHOD.gradient(f, x)
            METHOD.hessian(f, x)
        METHOD.gradient(branchy, [1.0, 2.0])
        METHOD.gradient(branchy, [-1.0, 2.0])

    workload()
    gc.collect()
    workload()
    assert gc.collect() == 0


@pytest.mark.parametrize("module", ["codegen.py", "methods/compiled.py"])
def test_the_code_writer_names_no_primitive(module):
    from tests.test_architecture import test_engines_name_no_primitive

    test_engines_name_no_primitive(module)


# ============================================================================ views


def test_dk_trace_to_python_is_the_adjoint_program():
    t = dk.trace(dk.Function.from_expr("log(x1) + x1*x2 - sin(x2)"), [2.0, 5.0])
    assert t.to_python() == BAYDIN_TABLE_3
    polar = dk.trace(lambda r, s: [r * dnp.cos(s), r * dnp.sin(s)], [2.0, 0.5])
    assert polar.to_python().startswith("def jacobian(r, s):")


def test_the_command_line_prints_the_program(capsys):
    from diffkit.cli import main

    assert main(["trace", "--python", "log(x1) + x1*x2 - sin(x2)", "--at", "2,5"]) == 0
    assert capsys.readouterr().out == BAYDIN_TABLE_3
    assert main(["trace", "--python", "log(x1) + x1*x2 - sin(x2)", "--at", "2,5",
                 "--mode", "forward"]) == 0
    assert "v5_dot = v4_dot - v3_dot" in capsys.readouterr().out
    assert main(["trace", "--python", "x1/x2", "--at", "2,5", "--json"]) == 2
    assert "--python prints the program as text" in capsys.readouterr().err


def test_the_reports_traces_section_shows_the_program(tmp_path):
    pytest.importorskip("matplotlib")
    from diffkit.report import _graph_and_traces

    text = "\n".join(_graph_and_traces(tmp_path, lambda message: None))
    assert "```python\n" + BAYDIN_TABLE_3.rstrip() + "\n```" in text


# ---------------------------------------------------------------- guarded domains (#19)
GUARDED = {
    "sqrt": (lambda x: np.sum(np.where(x > 0, np.sqrt(x), 0.0)),
             lambda x: np.where(x > 0, 0.5 / np.sqrt(np.abs(x)), 0.0)),
    "log": (lambda x: np.sum(np.where(x > 0, np.log(x), 0.0)),
            lambda x: np.where(x > 0, 1 / x, 0.0)),
    "entropy": (lambda p: -np.sum(np.where(p > 0, p * np.log(p), 0.0)),
                lambda p: np.where(p > 0, -(np.log(np.abs(p)) + 1), 0.0)),
}


@pytest.mark.parametrize("name", list(GUARDED))
def test_where_guarded_gradients_are_the_tapes_without_nan(name):
    f, exact = GUARDED[name]
    spec = dk.Function(f, name=name)
    inside = np.array([0.2, 0.3, 0.7])  # traced where no entry is discarded
    guarded = np.array([-0.2, 0.3, 0.7])  # sqrt/log of -0.2 is computed, then discarded
    method = ReverseCompiled()
    for x in (inside, guarded, inside, guarded):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing leaks to the user
            r = method.gradient(spec, x)
            tape = dk.methods.ReverseMode().gradient(spec, x)
        assert np.all(np.isfinite(r.value))
        np.testing.assert_array_equal(r.value, tape.value)
        np.testing.assert_allclose(r.value, exact(x), rtol=1e-13)
    # the discarded entries' infinite partials are the tape's to annihilate: the written
    # program refuses such a point instead of returning NaN
    program = method.compile(spec, inside)
    assert np.all(np.isfinite(program(inside)[1]))
    if name == "log":  # log's partial 1/x is finite at a discarded x < 0: 0 * (1/x) is 0
        np.testing.assert_array_equal(program(guarded)[1],
                                      dk.methods.ReverseMode().gradient(spec, guarded).value)
        return
    with pytest.raises(GuardError, match=r"floating-point event .* not finite; the tape"):
        program(guarded)
    assert "computed by the tape" in method.gradient(spec, guarded).status


def test_a_stanza_that_refuses_a_written_value_hands_the_point_to_the_tape():
    """np.sort is argsort then take_along_axis: the tape's indices are plain integers, the
    written program's are its own values, which take_along_axis refuses. The tape computes
    it (it was an UnsupportedPrimitiveError about a function the user never called); a
    primitive nobody supports still gets the tape's refusal."""
    x = np.array([0.3, -1.2, 2.5, 0.7])
    f = dk.Function(lambda v: np.sort(v)[0] * 2 + np.sort(v)[-1] ** 2)
    r = METHOD.gradient(f, x)
    np.testing.assert_array_equal(r.value, [0.0, 2.0, 5.0, 0.0])
    assert r.status.startswith("computed by the tape (reverse-mode): the program could not be "
                               "written: numpy.take_along_axis")
    np.testing.assert_array_equal(METHOD.jacobian(lambda v: np.sort(v), x).value,
                                  TAPE.jacobian(lambda v: np.sort(v), x).value)
    with pytest.raises(dk.UnsupportedPrimitiveError, match=r"numpy\.frexp was called"):
        METHOD.gradient(lambda v: np.sum(np.frexp(v)[0]), x)


def test_a_hessian_program_whose_rule_read_the_point_is_not_reused_elsewhere():
    """max(x)**3: the Hessian's first sweep reads the point (max's one-hot weights); the guard
    on a parameter was dropped by the writer (only operations' guards were written), so the
    program traced at [1, 2, 3] gave diag [0, 0, 30] at [1, 5, 3], 'ok' (exact [0, 30, 0])."""
    f = dk.Function(lambda x: dnp.max(x) ** 3)
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 3.0])
    np.testing.assert_array_equal(METHOD.hessian(f, a).value, TAPE.hessian(f, a).value)
    r = METHOD.hessian(f, b)
    np.testing.assert_array_equal(r.value, TAPE.hessian(f, b).value)
    assert "holds at the traced point only" in r.status
    assert "if not unchanged(x, " in METHOD.source(f, a, what="hvp")


class _Net:
    scale = 1.0  # a class attribute, read through the instance

    def __init__(self):
        self.w = 1.0

    def forward(self, x):
        return dnp.sum(x ** 2) * self.w * self.scale

    @classmethod
    def factor(cls):
        return cls.scale


@pytest.mark.parametrize("method", ["reverse-compiled", "symbolic"])
def test_methods_containers_and_signed_zeros_read_through_objects_are_not_kept_stale(method):
    """A second review: model.forward(x) reading self.w, a class attribute through the
    instance, a classmethod reading cls.scale, an OrderedDict / namedtuple / UserDict of
    parameters, a dict of 300 arrays, and a zero that changes sign (0.0 == -0.0) -- each
    gave the old gradient, 'ok'."""
    import collections

    x = np.array([1.0, 2.0])
    net = _Net()
    od = collections.OrderedDict(w=np.array([1.0, 1.0]))
    Pair = collections.namedtuple("Pair", "w b")
    nt = Pair(np.array([1.0, 1.0]), 0.0)
    ud = collections.UserDict(w=np.array([1.0, 1.0]))
    many = {f"w{k}": np.full(2, 1.0) for k in range(300)}
    zero = [0.0]
    cases = [
        (lambda v: net.forward(v), lambda: 2 * x * net.w * net.scale,
         lambda: setattr(net, "w", 10.0)),
        (lambda v: net.forward(v), lambda: 2 * x * net.w * net.scale,
         lambda: setattr(_Net, "scale", 3.0)),
        (lambda v: dnp.sum(v ** 2) * _Net.factor(), lambda: 2 * x * _Net.scale,
         lambda: setattr(_Net, "scale", 5.0)),
        (lambda v: dnp.sum(od["w"] * v ** 2), lambda: 2 * od["w"] * x,
         lambda: od["w"].__setitem__(0, 4.0)),
        (lambda v: dnp.sum(nt.w * v ** 2), lambda: 2 * nt.w * x,
         lambda: nt.w.__setitem__(1, 6.0)),
        (lambda v: dnp.sum(ud["w"] * v ** 2), lambda: 2 * ud["w"] * x,
         lambda: ud["w"].__setitem__(0, 7.0)),
        (lambda v: dnp.sum(many["w7"] * v ** 2), lambda: 2 * many["w7"] * x,
         lambda: many["w7"].__setitem__(0, 5.0)),
    ]
    try:
        for k, (fn, want, change) in enumerate(cases):
            f = dk.Function(fn)
            np.testing.assert_allclose(dk.gradient(f, x, method=method), want(), rtol=1e-14,
                                       err_msg=f"case {k} before")
            change()
            np.testing.assert_allclose(dk.gradient(f, x, method=method), want(), rtol=1e-14,
                                       err_msg=f"case {k} after")
    finally:
        _Net.scale = 1.0
    signed = dk.Function(lambda v: dnp.sum(v * np.copysign(1.0, zero[0])))
    np.testing.assert_array_equal(dk.gradient(signed, x, method=method), [1.0, 1.0])
    zero[0] = -0.0
    np.testing.assert_array_equal(dk.gradient(signed, x, method=method), [-1.0, -1.0])


def test_a_zero_assigned_into_the_gradient_is_no_disagreement_with_the_trace():
    """Rosenbrock at its minimum: ``x_bar[:-1] = v2_bar`` keeps the -0.0 of ``-2.0 * 0.0``
    that the sweep's ``0.0 + g`` turns into +0.0. The program still counts as reproducing its
    trace (it is not handed to the tape), and the numbers are the tape's."""
    f = dk.Function(lambda x: dnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))
    r = METHOD.gradient(f, np.ones(3))
    assert r.info["compiled"] == "traced"
    assert r.status == "ok"
    np.testing.assert_array_equal(r.value, TAPE.gradient(f, np.ones(3)).value)
    assert "x_bar[:-1] = " in METHOD.source(f, np.ones(3))


def test_a_matrix_product_is_written_straight_into_a_flat_parameter_vectors_gradient():
    """An MLP's weights as slices of one flat vector: xb.T @ delta is written into the
    gradient's entries through a reshaped view (``out=p_bar[:k].reshape((m, n))``), checked
    on the traced shapes; the numbers are the tape's."""
    rng = np.random.default_rng(5)
    xb, yb = rng.normal(size=(64, 400)), rng.normal(size=(64, 30))

    def loss(p):
        w1, b1 = dnp.reshape(p[:12000], (400, 30)), p[12000:]
        return dnp.sum((dnp.tanh(xb @ w1 + b1) - yb) ** 2)

    p = rng.normal(size=12030) * 0.05
    src = METHOD.source(loss, p)
    assert re.search(r"matmul\(c\d+, \w+, out=p_bar\[:12000\]\.reshape\(\(400, 30\)\)\)",
                     src)
    assert "p_bar = empty((12030,))" in src  # (every entry assigned: nothing zeroed)
    for point in (p, p * 0.5):
        close_to_tape(dk.gradient(loss, point, method="reverse-compiled"),
                      TAPE.gradient(loss, point).value)


def test_an_ellipsis_index_is_written_as_python_writes_it():
    """``X[..., 1:]`` was printed ``X[Ellipsis, 1:]``, a name the builtin-free code lacks: the
    trace check handed every point to the tape, and after ``source()`` (which kept the
    program unchecked) dk.gradient raised a raw NameError. Found by a hunt."""
    X = np.random.default_rng(0).uniform(-1.0, 1.0, (4, 3))

    def f(X):
        return dnp.sum(dnp.sin(X[..., 1:]) * X[:, 0:1])

    fn = dk.Function(f)
    assert "X_bar[..., 1:] = " in METHOD.source(fn, X)
    got = METHOD.gradient(fn, X)
    assert got.status == "ok"
    assert got.info["compiled"] == "cached"
    np.testing.assert_array_equal(dk.gradient(fn, X * 0.5, method="reverse-compiled"),
                                  TAPE.gradient(fn, X * 0.5).value)


def test_float32_points_get_the_tapes_numbers_and_a_program_not_used_says_so():
    """A float32 array times the sweep's constant 1.0 is float64 in the trace (a 0-d float64
    array there) and float32 in the written line (a Python float): written into float64 kept
    memory it was the trace's product, a float32 ulp from the tape's. Lines that are not
    float64 throughout are neither kept nor written into the gradient; this program then
    differs from its trace, so the method computes with the tape (as before), compile()
    refuses it and source() shows it marked as not used. Found by a hunt."""
    from diffkit.codegen import NotCompilable

    rng = np.random.default_rng(0)
    for k in range(2):
        f = dk.Function(lambda x: dnp.sum(dnp.exp(x[1:]) * x[:-1]))
        x = rng.uniform(-1.0, 1.0, 30_000).astype(np.float32)
        if k:  # source() first: the program it shows is not kept for dk.gradient
            assert METHOD.source(f, x).startswith("# not used: it does not reproduce")
            with pytest.raises(NotCompilable, match="does not reproduce its trace"):
                METHOD.compile(f, x)
        for point in (x, x[::-1].copy()):
            np.testing.assert_array_equal(dk.gradient(f, point, method="reverse-compiled"),
                                          TAPE.gradient(f, point).value)


def test_data_arguments_run_one_program_while_they_are_the_same_objects():
    """``dk.gradient(loss, w, args=(X, y))`` bound the data to a new function each call and
    traced it again (0.8 ms a call where the tape takes 0.1): the binding is kept while the
    data are the same objects; changed in place they are seen (traced again, the new
    numbers); other objects get their own binding."""
    import diffkit.methods.compiled as compiled

    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(50, 4)), rng.normal(size=50)

    def loss(w, X, y):
        return dnp.sum((X @ w - y) ** 2)

    w = np.array([0.1, -0.2, 0.3, 0.4])
    infos = [METHOD.gradient(loss, w * s, args=(X, y)).info["compiled"] for s in (1, 2, 3)]
    assert infos == ["traced", "cached", "cached"]
    for s in (1.0, 0.5):
        np.testing.assert_allclose(dk.gradient(loss, w * s, args=(X, y), method="reverse-compiled"),
                                   2 * X.T @ (X @ (w * s) - y), rtol=1e-13)
    X[0, 0] += 1.0  # in place: the program's constant changed
    np.testing.assert_allclose(dk.gradient(loss, w, args=(X, y), method="reverse-compiled"),
                               2 * X.T @ (X @ w - y), rtol=1e-13)
    X2 = X * 2.0  # another object: its own binding
    np.testing.assert_allclose(dk.gradient(loss, w, args=(X2, y), method="reverse-compiled"),
                               2 * X2.T @ (X2 @ w - y), rtol=1e-13)
    assert len(compiled._BOUND) <= compiled.MAX_DATA
    METHOD.clear(loss)
    assert all(hit[0] is not loss for hit in compiled._BOUND.values())


def test_data_arguments_keep_their_binding_for_jacobians_and_hessians():
    rng = np.random.default_rng(4)
    A, b = rng.normal(size=(3, 3)), rng.normal(size=3)

    def residual(w, A, b):
        return dnp.tanh(A @ w) - b

    def loss(w, A, b):
        return dnp.sum(residual(w, A, b) ** 2)

    w = np.array([0.2, -0.1, 0.3])
    for call, f in ((METHOD.jacobian, residual), (METHOD.hessian, loss)):
        first, second = call(f, w, args=(A, b)), call(f, w * 0.5, args=(A, b))
        want = (dk.jacobian if call == METHOD.jacobian else dk.hessian)(
            f, w * 0.5, method="reverse-mode", args=(A, b))
        np.testing.assert_allclose(second.value, want, rtol=1e-12, atol=1e-14)
        assert first.status == "ok"
        assert second.info["compiled"] == "cached"  # (the same A and b: the same program)
