"""Checkpointing: dk.checkpoint and dk.loop give the plain tape's derivatives to the last bit
under every method, the binomial schedule recomputes revolve's optimal number of steps, the
meter's counts, the memory it saves, and pinned bad-input messages."""

from __future__ import annotations

import collections
import doctest
import functools
import math
import tracemalloc

import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp
from diffkit import checkpointing, revolve
from diffkit.core import Tracer
from diffkit.methods import forward, reverse

H = 1e-2


def lorenz96(x):
    """One explicit Euler step of Lorenz-96 (a coupled nonlinear system) on a ring."""
    def shift(k):
        return dnp.concatenate([x[k:], x[:k]])

    return x + H * ((shift(1) - shift(-2)) * shift(-1) - x + 8.0)


def pendulums(state):
    """One Euler step of damped pendulums: a tuple state (angle, velocity)."""
    q, p = state
    return q + H * p, p - H * (dnp.sin(q) + 0.1 * p)


X0 = 8.0 + np.sin(np.arange(7.0))
SCHEDULES = [None, "sqrt", 1, 2, 3, 5, 40]


def looped(step, steps, checkpoints):
    return lambda x: dnp.sum(dk.loop(step, x, steps, checkpoints=checkpoints) ** 2)


# ----------------------------------------------------------------------------- revolve


@functools.cache
def _brute_force(steps, snapshots):
    """Fewest advances reversing ``steps`` steps with ``snapshots`` snapshots: try every
    first snapshot position (Griewank & Walther's recursion, searched exhaustively)."""
    if steps <= 1:
        return 0
    if snapshots == 0:
        return math.inf
    return min(m + _brute_force(m, snapshots) + _brute_force(steps - m, snapshots - 1)
               for m in range(1, steps))


@pytest.mark.parametrize("snapshots", range(1, 7))
def test_recomputations_formula_equals_a_brute_force_search(snapshots):
    for steps in range(1, 70):
        assert revolve.recomputations(steps, snapshots) == _brute_force(steps, snapshots)


@pytest.mark.parametrize("snapshots", range(1, 7))
def test_split_is_optimal_and_the_largest_optimal_choice(snapshots):
    for steps in range(2, 70):
        m = revolve.split(steps, snapshots)
        best = _brute_force(steps, snapshots)
        assert m + _brute_force(m, snapshots) + _brute_force(steps - m, snapshots - 1) == best
        assert all(k + _brute_force(k, snapshots) + _brute_force(steps - k, snapshots - 1)
                   > best for k in range(m + 1, steps))


_RECOMPUTES: dict = {}


def _plan_recomputes(steps, checkpoints):
    """Steps a sweep re-runs when the loop is recorded by ``revolve.plan``: each piece is
    re-run once (its length) under its own plan, and so on (pieces nest ``T`` deep for
    ``c = 1``: an explicit stack)."""
    memo = _RECOMPUTES
    todo = [(steps, checkpoints)]
    while todo:
        key = todo[-1]
        if key in memo:
            todo.pop()
            continue
        pieces = revolve.plan(*key).pieces
        missing = [p for p in pieces if p not in memo]
        if missing:
            todo.extend(missing)
            continue
        memo[key] = sum(length + memo[(length, snaps)] for length, snaps in pieces)
        todo.pop()
    return memo[(steps, checkpoints)]


STEPS_GRID = [1, 2, 3, 7, 10, 31, 100, 257, 1000, 2024, 4321, 9999, 10_000]


@pytest.mark.parametrize("steps", STEPS_GRID)
def test_plans_recompute_the_binomial_count_for_every_c_up_to_30(steps):
    for c in range(1, 31):
        assert _plan_recomputes(steps, c) == revolve.recomputations(steps, c), (steps, c)
        p = revolve.plan(steps, c)
        assert sum(length for length, _ in p.pieces) + p.tail == steps
        assert len(p.pieces) == min(c, max(steps - 1, 0))  # snapshots used


def test_sqrt_plan():
    p = revolve.plan(10_000, "sqrt")
    assert p.pieces == ((100, None),) * 99
    assert p.tail == 100
    assert revolve.plan(10, "sqrt") == revolve.Plan(10, ((4, None), (4, None)), 2)
    for steps in range(2, 200):
        p = revolve.plan(steps, "sqrt")
        assert sum(length for length, _ in p.pieces) + p.tail == steps
        assert 1 <= p.tail <= revolve.sqrt_segment(steps)
        assert len(p.pieces) <= math.isqrt(steps) + 1


def _count(steps, checkpoints):
    """``(steps run, steps recomputed, snapshots)`` measured on a real gradient."""
    with dk.memory.meter() as m:
        reverse.gradient(lambda x: dk.loop(lambda s: s * 0.999 + 0.001, x, steps,
                                           checkpoints=checkpoints), 0.5)
    return m.steps, m.recomputed, m.snapshots


@pytest.mark.parametrize("steps", [1, 2, 3, 7, 10, 31, 100, 257])
def test_the_loop_runs_revolves_optimal_count(steps):
    for c in range(1, 31):
        ran, recomputed, snapshots = _count(steps, c)
        t = revolve.recomputations(steps, c)
        assert recomputed == t, (steps, c)
        assert ran == steps + t
        assert snapshots == min(c, steps - 1)


@pytest.mark.parametrize("c", [10, 20, 30])
def test_the_loop_runs_revolves_optimal_count_at_ten_thousand_steps(c):
    ran, recomputed, snapshots = _count(10_000, c)
    assert recomputed == revolve.recomputations(10_000, c)  # 41_992, 37_976, 34_016
    assert ran == 10_000 + recomputed
    assert snapshots == c


@pytest.mark.parametrize(("steps", "c"), [(1200, 1), (10_000, 2)])
def test_few_snapshots_reverse_long_loops_without_nesting_calls(steps, c):
    """With one snapshot the schedule re-runs pieces ``T`` deep; the reversal runs on an
    explicit stack, so Python's recursion limit is no bound on ``T``."""
    assert _count(steps, c) == (steps + revolve.recomputations(steps, c),
                                revolve.recomputations(steps, c), c)


def test_sqrt_loop_counts():
    ran, recomputed, snapshots = _count(10_000, "sqrt")
    assert (ran, recomputed, snapshots) == (19_900, 9_900, 99)
    assert _count(10_000, None) == (10_000, 0, 0)


@pytest.mark.parametrize("checkpoints", [1, 2, 4, "sqrt", None])
def test_the_loop_follows_the_simulated_schedule(checkpoints):
    """A step that logs its index and whether it runs on a tape: the loop evaluates steps in
    exactly the order ``revolve.schedule`` simulates."""
    log = []

    def step(state):
        x, k = state
        kv = k.value if isinstance(k, reverse.Node) else k
        log.append((int(kv), "taped" if isinstance(x, Tracer) else "advance"))
        return dnp.sin(x) + 0.5, k + 1.0

    reverse.gradient(lambda x: dk.loop(step, (x, 0.0), 12, checkpoints=checkpoints)[0], 0.3)
    expected = [(a.step, a.kind) for a in revolve.schedule(12, checkpoints)
                if a.kind in ("advance", "taped")]
    assert log == expected


def test_schedule_actions_are_consistent():
    for checkpoints in (1, 3, "sqrt", None):
        s = revolve.schedule(20, checkpoints)
        reverse_order = [a.step for a in s if a.kind == "reverse"]
        assert reverse_order == list(range(19, -1, -1))  # every step reversed once, last first
        taped = [a.step for a in s if a.kind == "taped"]
        assert sorted(taped) == list(range(20))  # every step taped exactly once
        held = collections.Counter()  # states held, by step (a re-run's first piece takes
        most = 0  # the snapshot it restores before the restore lets go of it)
        for a in s:
            held[a.step] += {"snapshot": 1, "release": -1}.get(a.kind, 0)
            most = max(most, sum(1 for n in held.values() if n))
        assert not any(held.values())
        if isinstance(checkpoints, int):
            assert most == checkpoints


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("checkpoints", SCHEDULES)
def test_reverse_gradient_equals_the_plain_tape_to_the_last_bit(checkpoints):
    plain = reverse.gradient(looped(lorenz96, 60, None), X0)
    got = reverse.gradient(looped(lorenz96, 60, checkpoints), X0)
    np.testing.assert_array_equal(got, plain)


@pytest.mark.parametrize("checkpoints", SCHEDULES)
def test_tuple_state(checkpoints):
    q0, p0 = np.linspace(0.1, 1.0, 5), np.linspace(-1.0, 0.5, 5)

    def f(q, p):
        q1, p1 = dk.loop(pendulums, (q, p), 45, checkpoints=checkpoints)
        return dnp.sum(q1 * p1) + dnp.sum(q1)

    def plain(q, p):
        q1, p1 = dk.loop(pendulums, (q, p), 45)
        return dnp.sum(q1 * p1) + dnp.sum(q1)

    got = reverse.value_and_gradient(lambda qp: f(*qp), (q0, p0))
    want = reverse.value_and_gradient(lambda qp: plain(*qp), (q0, p0))
    assert got[0] == want[0]
    for a, b in zip(got[1], want[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_parameters_carried_in_the_state_get_their_gradient():
    """The documented way to differentiate a parameter of the step: carry it in the state."""
    def f(x, theta, checkpoints):
        out, _ = dk.loop(lambda s: (s[0] + H * dnp.sin(s[1] * s[0]), s[1]), (x, theta), 30,
                         checkpoints=checkpoints)
        return dnp.sum(out)

    x = np.linspace(0.0, 1.0, 4)
    want = reverse.gradient(lambda a: f(a[0], a[1], None), (x, 1.5))
    got = reverse.gradient(lambda a: f(a[0], a[1], 3), (x, 1.5))
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1]
    assert want[1] != 0


def test_nested_checkpoints():
    inner = dk.checkpoint(lambda x: dnp.exp(dnp.sin(x)) * x)

    @dk.checkpoint
    def outer(x):
        return inner(inner(x) + 1.0) * 0.5

    def plain_inner(x):
        return dnp.exp(dnp.sin(x)) * x

    def f(x):
        return dnp.sum(outer(outer(x)))

    def g(x):
        return dnp.sum(plain_inner(plain_inner(plain_inner(plain_inner(x) + 1.0) * 0.5)
                                   + 1.0) * 0.5)

    x = np.linspace(-1.0, 1.0, 6)
    np.testing.assert_array_equal(reverse.gradient(f, x), reverse.gradient(g, x))
    with dk.memory.meter() as m:
        reverse.gradient(f, x)
    assert m.checkpoints == 2 + 2 * 2  # two outer nodes; each re-run records two inner ones


def test_checkpoint_inside_a_loop_step_and_a_loop_inside_a_checkpoint():
    step = dk.checkpoint(lorenz96)
    plain = reverse.gradient(looped(lorenz96, 20, None), X0)
    np.testing.assert_array_equal(reverse.gradient(looped(step, 20, None), X0), plain)
    np.testing.assert_array_equal(reverse.gradient(looped(step, 20, 3), X0), plain)
    block = dk.checkpoint(lambda x: dk.loop(lorenz96, x, 10, checkpoints=2))
    np.testing.assert_array_equal(
        reverse.gradient(lambda x: dnp.sum(block(block(x)) ** 2), X0), plain)


def test_checkpoint_of_several_arguments_and_a_tuple_output():
    @dk.checkpoint
    def f(a, b, scale=1.0):
        return a * b * scale, dnp.sin(a) + b, dnp.sum(a)

    def loss(ab):
        u, v, w = f(ab[0], ab[1], scale=3.0)
        return dnp.sum(u) + dnp.sum(v ** 2) + w

    def plain(ab):
        a, b = ab
        return dnp.sum(a * b * 3.0) + dnp.sum((dnp.sin(a) + b) ** 2) + dnp.sum(a)

    a, b = np.linspace(0.1, 0.9, 3), np.array(0.7)
    got = reverse.gradient(loss, (a, b))
    want = reverse.gradient(plain, (a, b))
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_checkpoint_with_a_constant_argument_and_an_output_that_ignores_the_input():
    f = dk.checkpoint(lambda x, c: x * c)
    g = reverse.gradient(lambda x: dnp.sum(f(x, np.array([1.0, 2.0]))), np.ones(2))
    np.testing.assert_array_equal(g, [1.0, 2.0])
    const = dk.checkpoint(lambda x: np.array([1.0, 2.0]))
    np.testing.assert_array_equal(
        reverse.gradient(lambda x: dnp.sum(const(x) * x), np.ones(2)), [1.0, 2.0])


@pytest.mark.parametrize("checkpoints", [None, "sqrt", 3])
def test_jacobian_and_hessians(checkpoints):
    x = np.array([0.3, 0.8, 1.4])
    euler = lambda s: s + 0.05 * (1.0 - s ** 3)
    f = lambda y: dk.loop(euler, y, 25, checkpoints=checkpoints)
    loss = lambda y: dnp.sum(dnp.sin(f(y)) * f(y))
    ref = lambda y: dk.loop(euler, y, 25)
    ref_loss = lambda y: dnp.sum(dnp.sin(ref(y)) * ref(y))
    np.testing.assert_array_equal(reverse.jacobian(f, x), reverse.jacobian(ref, x))
    r = dk.methods.ReverseMode().jacobian(f, x)
    np.testing.assert_array_equal(r.value, reverse.jacobian(ref, x))
    want = forward.hessian(ref_loss, x)
    np.testing.assert_allclose(reverse.hessian(loss, x), want, rtol=1e-12)
    np.testing.assert_allclose(dk.hessian(loss, x, method="reverse-mode"), want, rtol=1e-12)
    v = np.array([1.0, -0.5, 0.25])
    np.testing.assert_allclose(forward.hvp(loss, x, v), want @ v, rtol=1e-12)


# ----------------------------------------------------------------------------- every method


def _logistic_spec(checkpoints):
    step = lambda s: (3.7 * s[0] * (1.0 - s[0]), s[1] * dnp.cos(s[0]))

    @dk.function
    def f(x1, x2):
        a, b = dk.loop(step, (x1, x2), 12, checkpoints=checkpoints)
        return a + b

    @f.manual
    def df(x1, x2):  # the chain rule written out, step by step, alongside the loop
        def tangent(s):
            a, b, da1, db1, db2 = s
            return (3.7 * a * (1.0 - a), b * dnp.cos(a), 3.7 * (1.0 - 2.0 * a) * da1,
                    db1 * dnp.cos(a) - b * dnp.sin(a) * da1, db2 * dnp.cos(a))

        _, _, da1, db1, db2 = dk.loop(tangent, (x1, x2, 1.0, 0.0, 1.0), 12)
        return [da1 + db1, db2]

    return f


def _exact_logistic(x1, x2):
    import mpmath

    mpmath.mp.dps = 40

    def f(a, b):
        for _ in range(12):
            a, b = 3.7 * a * (1 - a), b * mpmath.cos(a)
        return a + b

    return np.array([float(mpmath.diff(lambda a: f(a, mpmath.mpf(x2)), mpmath.mpf(x1))),
                     float(mpmath.diff(lambda b: f(mpmath.mpf(x1), b), mpmath.mpf(x2)))])


TOLERANCE = {"forward-difference": 1e-5, "backward-difference": 1e-5,
             "central-difference": 1e-7, "richardson": 1e-9}


@pytest.mark.parametrize("method", dk.methods.concrete())
@pytest.mark.parametrize("checkpoints", ["sqrt", 2, 5])
def test_every_method_gives_the_plain_loops_gradient_to_the_last_bit(method, checkpoints):
    x = np.array([0.3, 0.8])
    plain = dk.gradient(_logistic_spec(None), x, method=method)
    got = dk.gradient(_logistic_spec(checkpoints), x, method=method)
    np.testing.assert_array_equal(got, plain)
    exact = _exact_logistic(*x)
    if method in TOLERANCE:
        # the chaotic map's running-error trace makes the numerical methods' noise model
        # choose larger steps than a float64 step rule (forward differences 6e-5 here): they
        # say so ("inaccurate: f is a small difference of larger intermediate values") with
        # an estimate that bounds the error -- held to that, not to a fixed rtol
        r = dk.methods.get(method).gradient(_logistic_spec(checkpoints), x)
        assert np.all(np.abs(np.asarray(r.value) - exact) <= np.asarray(r.error)
                      + 4 * np.finfo(float).eps * np.abs(exact))  # (a rounding of its own)
        assert r.ok or r.status.startswith("inaccurate: ")
        return
    np.testing.assert_allclose(got, exact, rtol=TOLERANCE.get(method, 1e-12))


def _nested(checkpointed):
    wrap = dk.checkpoint if checkpointed else (lambda fn: fn)
    inner = wrap(lambda a, b: (a * dnp.sin(b), b + a ** 2))
    outer = wrap(lambda a, b: inner(*inner(a, b)))
    return dk.Function(lambda x1, x2: sum(outer(*outer(x1, x2))), name="nested")


@pytest.mark.parametrize("method", [m for m in dk.methods.concrete() if m != "manual"])
def test_every_method_gives_nested_checkpoints_the_plain_gradient(method):
    x = np.array([0.7, 0.4])
    plain = dk.gradient(_nested(False), x, method=method)
    np.testing.assert_array_equal(dk.gradient(_nested(True), x, method=method), plain)
    exact = dk.gradient(_nested(False), x, method="symbolic")
    np.testing.assert_allclose(plain, exact, rtol=TOLERANCE.get(method, 1e-13))


def test_complex_step_still_sees_a_non_analytic_step():
    f = dk.Function(lambda x: dk.loop(lambda s: dnp.abs(s) * 0.9, x, 5, checkpoints=2))
    with pytest.raises(dk.NonAnalyticError):
        dk.derivative(f, 0.5, method="complex-step")
    assert dk.derivative(f, 0.5, method="reverse-mode") == pytest.approx(0.9 ** 5, rel=1e-15)


def test_symbolic_expression_of_a_checkpointed_loop():
    sym = dk.methods.get("symbolic")
    f = dk.Function(lambda x: dk.loop(lambda s: s * s + 1.0, x, 3, checkpoints=1))
    assert str(sym.expression(f)) == "((x**2 + 1)**2 + 1)**2 + 1"


# ----------------------------------------------------------------------------- the meter


def test_reverse_mode_results_and_traces_report_the_memory():
    f = dk.Function(looped(lorenz96, 50, 4))
    r = dk.methods.ReverseMode().gradient(f, X0)
    plain = dk.methods.ReverseMode().gradient(dk.Function(looped(lorenz96, 50, None)), X0)
    t = revolve.recomputations(50, 4)
    assert r.info["snapshots"] == 4
    assert r.info["recomputed"] == t
    assert r.info["steps"] == 50 + t
    assert r.info["checkpoints"] == 49
    assert plain.info["snapshots"] == 0
    assert plain.info["recomputed"] == 0
    assert plain.info["peak_nbytes"] == plain.info["nbytes"]
    assert r.info["peak_nbytes"] < plain.info["peak_nbytes"] / 5
    tr = dk.trace(f, X0)
    assert tr.memory["snapshots"] == 4
    assert tr.memory["recomputed"] == t
    assert "loop[lorenz96](v0, steps=" in tr.forward_table()
    np.testing.assert_array_equal(tr.gradient, plain.value)


def test_peak_bytes_count_a_tape_up_to_the_checkpoint_being_re_run():
    """The meter's peak against a hand count: with ``"sqrt"`` the taped tail is swept before
    any segment is re-run, so the peak is the larger of the recorded tape and the snapshots
    beside one re-run segment."""
    x = np.ones(100)  # 800 bytes per array
    with dk.memory.meter() as m:
        reverse.gradient(lambda y: dk.loop(dnp.sin, y, 16, checkpoints="sqrt").sum(), x)
    # 3 snapshots + a tail of 4 steps (each sin holds its input); a re-run holds the
    # snapshots up to its own (3 for the last piece) and its 4 steps' inputs but the first
    assert m.tape_nbytes == 3 * 800 + 4 * 800
    assert m.peak_nbytes == max(3 * 800 + 4 * 800, 3 * 800 + 3 * 800)
    with dk.memory.meter() as m:
        reverse.gradient(lambda y: dk.loop(dnp.sin, y, 16, checkpoints=2).sum(), x)
    # the tape: 2 snapshots and the last step; the first piece's re-run (11 steps, 2
    # snapshots) holds its own second snapshot and its last step's input
    assert m.tape_nbytes == 3 * 800
    assert m.peak_nbytes == 3 * 800


def test_meters_nest_and_count_plain_loops_in_every_interpreter():
    with dk.memory.meter() as outer:
        dk.loop(lambda s: s + 1.0, 0.0, 7, checkpoints=3)  # evaluation
        forward.derivative(lambda x: dk.loop(lambda s: s * 2.0, x, 5, checkpoints=2), 1.0)
        with dk.memory.meter() as inner:
            dk.loop(lambda s: s + 1.0, 0.0, 4)
        assert inner.steps == 4
    assert outer.steps == 7 + 5 + 4
    assert outer.recomputed == 0


@pytest.mark.parametrize("checkpoints", [3, "sqrt"])
def test_checkpointing_cuts_peak_memory(checkpoints):
    x = np.linspace(0.0, 1.0, 2000)
    f = looped(lorenz96, 200, None)
    g = looped(lorenz96, 200, checkpoints)
    peaks = []
    for fn in (f, g):
        tracemalloc.start()
        try:
            reverse.gradient(fn, x)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] < peaks[0] / 5


@pytest.mark.parametrize("module", [revolve, dk.memory, checkpointing])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"steps": -1}, "loop(steps=-1): the number of steps must be an integer >= 0"),
    ({"steps": 2.5}, "loop(steps=2.5): the number of steps must be an integer >= 0"),
    ({"checkpoints": 0}, "loop(checkpoints=0): pass None (tape every step), \"sqrt\""),
    ({"checkpoints": "log"}, "loop(checkpoints='log'): pass None"),
    ({"checkpoints": True}, "loop(checkpoints=True): pass None"),
])
def test_bad_loop_arguments(kwargs, message):
    args = {"step": lambda s: s, "state": 1.0, "steps": 3, "checkpoints": None, **kwargs}
    with pytest.raises(dk.CheckpointError, match=message.replace("(", r"\(")
                       .replace(")", r"\)")):
        dk.loop(**args)


def test_not_callable():
    with pytest.raises(dk.CheckpointError, match="loop\\(step=3\\): step must be callable"):
        dk.loop(3, 1.0, 2)
    with pytest.raises(dk.CheckpointError, match="fn must be callable"):
        dk.checkpoint(3)


def test_a_traced_value_read_from_a_closure_is_refused():
    theta = 1.5

    def f(t):
        return dnp.sum(dk.checkpoint(lambda x: x * t)(np.ones(3)) + t)

    with pytest.raises(dk.NotTraceableError, match="pass every traced value it uses as an "
                       "argument"):
        reverse.gradient(f, theta)

    def g(t):
        return dk.loop(lambda s: s * t, 1.0, 4, checkpoints=2)

    with pytest.raises(dk.NotTraceableError, match="Carry the value in the state tuple"):
        reverse.gradient(g, theta)

    def h(x, t):
        return dk.loop(lambda s: s * t, x, 4, checkpoints=2)

    with pytest.raises(dk.NotTraceableError, match="not among its arguments"):
        reverse.gradient(lambda a: h(a[0], a[1]), (1.0, theta))
    # without checkpoints, and under forward mode, a closure is fine
    assert reverse.gradient(lambda t: dk.loop(lambda s: s * t, 1.0, 4), 1.5) == \
        pytest.approx(4 * 1.5 ** 3)
    assert forward.derivative(g, 1.5) == pytest.approx(4 * 1.5 ** 3)


def test_numpy_integers_are_accepted():
    f = lambda x: dk.loop(lambda s: s * 0.5, x, np.int64(6), checkpoints=np.int64(2))
    assert reverse.gradient(f, 1.0) == 0.5 ** 6


def test_zero_and_one_step():
    assert dk.loop(lambda s: s + 1.0, 2.0, 0, checkpoints=3) == 2.0
    assert reverse.gradient(lambda x: dk.loop(dnp.sin, x, 0, checkpoints=3), 0.5) == 1.0
    assert reverse.gradient(lambda x: dk.loop(dnp.sin, x, 1, checkpoints=3), 0.5) == \
        np.cos(0.5)
    assert dk.loop(lambda s: (s[1], s[0]), (1.0, 2.0), 3, checkpoints="sqrt") == (2.0, 1.0)
