"""Semantics the tape's fast paths must keep (the speed work of issue 23): the user's code
runs with the garbage collector as the user left it, records are typed objects built by the
hot paths exactly as ``_record(...)`` builds them, and ``x[i]`` / ``x[a:b]`` on a node give
the same records and gradients as the stanza's own function."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp
from diffkit.methods import reverse


def test_a_checkpoint_re_run_inside_the_sweep_runs_with_the_collector_on():
    seen = []

    def block(x):
        seen.append(gc.isenabled())
        return dnp.sin(x) * x

    f = dk.checkpoint(block)
    g = reverse.gradient(lambda x: dnp.sum(f(x)), np.array([0.5, 1.5]))
    x = np.array([0.5, 1.5])
    np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x), rtol=1e-15)
    assert len(seen) == 2  # the recording, then the sweep's re-run
    assert all(seen)
    assert gc.isenabled()


def test_a_collector_the_user_turned_off_stays_off():
    gc.disable()
    try:
        seen = []
        f = dk.checkpoint(lambda x: (seen.append(gc.isenabled()), x * x)[1])
        reverse.gradient(lambda x: f(x), 1.5)
        assert seen == [False, False]
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_records_of_the_fast_paths_are_typed_records():
    tr, _, _ = reverse.record(lambda x: (2.0 * x[1:] - x[0]) ** 2, (np.arange(4.0),))
    recs = [r for r in tr.tape if r is not None]
    assert all(type(r) is reverse.Record for r in recs)
    assert [r.prim.name for r in recs] == ["getitem", "multiply", "getitem", "subtract",
                                           "power"]
    assert all(r.poisoned is False for r in recs)
    assert recs[0].params == {"index": slice(1, None)}
    assert recs[2].params == {"index": 0}
    assert recs[3].parents == (2, 3)  # tape entries: x, x[1:], 2.0 * x[1:], x[0], ...; x[0]


@pytest.mark.parametrize("index", [1, slice(1, None), slice(None, None, 2), -1,
                                   np.array([0, 2, 2]), [1, 3], (slice(None),)])
def test_indexing_a_node_matches_the_stanza_function(index):
    x = np.array([0.3, -1.2, 2.5, 0.7])

    def by_operator(v):
        return dnp.sum(dnp.sin(v[index]) * 3.0)

    def by_function(v):
        return dnp.sum(dnp.sin(dnp.getitem(v, index)) * 3.0)

    g1 = reverse.gradient(by_operator, x)
    g2 = reverse.gradient(by_function, x)
    expected = np.zeros(4)
    np.add.at(expected, np.arange(4)[index], 3.0 * np.cos(x[index]))
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_allclose(g1, expected, rtol=1e-15)


# ---------------------------------------------------------------- a number for a whole cotangent

_W = np.array([1.5, -0.5, 2.0])
_ROW = np.array([[0.5, 1.0, -2.0]])


@pytest.mark.parametrize("f", [
    lambda x: x * 3.0, lambda x: 2.0 - x, lambda x: x / _W, lambda x: x ** 2,
    lambda x: x - x[0],  # a traced scalar: its cotangent sums over the fill
    lambda x: x[0] * _W,  # a traced scalar times a constant array
    lambda x: x * _ROW,  # the constant broadcasts x to (1, 3)
    lambda x: x + x, lambda x: x * x[::-1], lambda x: x @ np.eye(3),
    lambda x: np.float64(2.0) * x, lambda x: x * 2, lambda x: np.sin(x), lambda x: -x,
])
def test_the_recorded_whole_flag_agrees_with_materialize(f):
    """Record.whole (worked out while recording, read by the sweep) says what _materialize
    would decide: a number may stand for the whole cotangent exactly where no rule needs its
    shape."""
    tr, _, _ = reverse.record(f, (np.array([0.3, -1.2, 2.5]),))
    for rec in tr.tape:
        if rec is None or rec.whole is None or not rec.shape:
            continue
        kept = reverse._materialize(1.0, rec) is not None and not isinstance(
            reverse._materialize(1.0, rec), np.ndarray)
        assert rec.whole == kept, rec
    # and the gradient of sum(f) through the sweep (fills included) matches the tape's
    # generic rules
    x = np.array([0.3, -1.2, 2.5])
    g = reverse.gradient(lambda x: dnp.sum(f(x)), x)
    ref = dk.gradient(lambda x: np.sum(f(x)), x, method="richardson")
    np.testing.assert_allclose(g, ref, rtol=1e-9, atol=1e-12)


def test_stand_ins_are_shared_read_only_and_the_cache_is_bounded():
    a = np.ones((7, 3))
    s1, s2 = reverse._stand_in(a), reverse._stand_in(np.zeros((7, 3)))
    assert s1 is s2
    assert s1.shape == (7, 3)
    assert s1.strides == (0, 0)
    assert not s1.flags.writeable
    assert reverse._stand_in(a.astype(np.float32)).dtype == np.float32
    for k in range(reverse._STAND_IN_CACHE + 5):
        reverse._stand_in(np.empty(k + 1))
    assert len(reverse._STAND_INS) <= reverse._STAND_IN_CACHE


def test_checked_call_counts_events_and_unwinds_on_errors():
    from diffkit.core import FP_EVENTS, checked_call, evaluating

    before = FP_EVENTS.count
    assert not evaluating()
    assert checked_call(lambda: (evaluating(), float(np.log(np.float64(0.0))))) == (True, -np.inf)
    assert FP_EVENTS.count > before  # counted, neither raised nor printed
    with pytest.raises(ZeroDivisionError):
        checked_call(lambda: 1 / 0)
    assert not evaluating()
    assert np.geterr()["divide"] != "call"


# ---------------------------------------------------------------- the number lanes

def _logistic(x):
    for _ in range(5):
        x = 4.0 * x * (1.0 - x) + x / 3.0 - 0.1 * x
    return x


def test_the_number_lane_gives_the_generic_rules_gradient_and_hessian():
    """Numbers recorded by the binary operators' number lane and swept by the sweep's number
    lane give forward mode's derivative and the symbolic one; reverse over reverse (traced
    values: no number lane) gives the symbolic second derivative."""
    tr, _, _ = reverse.record(_logistic, (0.3,))
    assert all(r.shape == () and r.whole is None for r in tr.tape if r is not None)
    g = reverse.gradient(_logistic, 0.3)
    assert g == pytest.approx(float(dk.gradient(_logistic, 0.3, method="forward-mode")),
                              rel=1e-14)
    assert g == pytest.approx(float(dk.gradient(_logistic, 0.3, method="symbolic")), rel=1e-13)
    h = reverse.hessian(lambda x: dnp.sum(_logistic(x)), np.array([0.3]))
    np.testing.assert_allclose(h, dk.hessian(_logistic, 0.3, method="symbolic"), rtol=1e-12)


def test_entries_of_a_matrix_in_a_loop_still_add_into_one_accumulator():
    """``X[i, j]`` is a number with a sparse VJP: the number lane leaves it to the stanza's
    ``vjp_into`` (one accumulator, no dense array per entry) and the gradient is exact."""
    x = np.arange(1.0, 7.0).reshape(2, 3)

    def f(x):
        s = 0.0
        for i in range(2):
            for j in range(3):
                s = s + x[i, j] * x[i, j] * (j + 1.0)
        return s

    tr, _, _ = reverse.record(f, (x,))
    entries = [r for r in tr.tape if r is not None and r.prim.name == "getitem"]
    assert len(entries) == 12
    assert all(r.shape == () and r.prim.fast_into is not None for r in entries)
    np.testing.assert_array_equal(reverse.gradient(f, x), 2.0 * x * np.array([1.0, 2.0, 3.0]))


def test_a_complex_point_is_refused_when_recorded_not_later():
    with pytest.raises(dk.NotTraceableError, match=r"the point x = array\(\[1\.\+2\.j.*is complex"):
        reverse.gradient(lambda x: np.sum(x * 2.0), np.array([1 + 2j, 3.0]))
    with pytest.raises(dk.NotTraceableError, match="multiply made a complex value"):
        reverse.gradient(lambda x: np.sum(x * np.array([1j, 2.0])), np.array([1.0, 3.0]))


def test_python_float_overflow_is_a_domain_error_not_a_raw_one():
    """Python floats raise OverflowError where numpy returns inf (the engine called with a
    Python float point): the operator refuses it as every overflow is refused."""
    with pytest.raises(dk.DomainError, match=r"power\(1e\+200, 2\.0\) overflows"):
        reverse.gradient(lambda a: a ** 2.0, 1e200)
    with pytest.raises(dk.DomainError, match=r"power\(2\.0, 5000\.0\) overflows"):
        reverse.gradient(lambda a: 2.0 ** a, 5000.0)
    with pytest.raises(dk.DomainError, match=r"multiply\(1\.0, 100000000000\.\.\. \(401 "
                                             r"characters\)\)"):
        dk.gradient(lambda a, b: a * 10**400 * b, [1.0, 1.0], method="reverse-mode")


def test_swept_records_are_reused_only_when_nothing_else_holds_them():
    """A consuming sweep of a long tape hands its finished records to the next recordings
    (so it does not feed Python's collector thousands of new objects a call): emptied, and
    never a record anything else still refers to."""
    steps = reverse._SPARE_FROM  # 3 records a step: a long tape

    def f(x):
        a = x[0] * x[1] + dnp.sin(x[2])
        for _ in range(steps):
            a = 0.5 * a * (1.0 - a)
        return a

    x = np.array([0.5, 1.5, 2.5])
    expected = reverse.gradient(f, x)  # (a first call: records allocated, then made spare)
    reverse._SPARE.clear()
    trace, _, out = reverse.record(f, [x])
    held = trace.tape[-1]  # someone keeps a record of a tape that is then swept
    prim, parents = held.prim, held.parents
    reverse.sweep(trace.tape, out.id, 1.0, [0], consume=True)
    assert all(r is None for r in trace.tape)
    assert len(reverse._SPARE) >= 3 * steps - 1  # the others were given back, emptied
    assert all(r is not held for r in reverse._SPARE)
    assert all(r.args is None and r.ans is None and r.prim is None for r in reverse._SPARE)
    for _ in range(3):  # the next recordings take spare records: the same gradients
        np.testing.assert_array_equal(reverse.gradient(f, x), expected)
        np.testing.assert_allclose(reverse.gradient(lambda a: a * a * a, 2.0), 12.0)
    assert held.prim is prim  # untouched
    assert held.parents == parents
    assert held.args is not None


def test_tracers_have_no_getattr_hook():
    """An ndarray attribute no stanza stands for is a refusing property, not
    ``Tracer.__getattr__``: with the hook, every attribute lookup on a node took CPython's
    slow path (a third of the tape's recording time)."""
    from diffkit.core import Tracer

    assert all("__getattr__" not in vars(c) for c in reverse.Node.__mro__)
    assert not hasattr(Tracer, "__getattr__")
    with pytest.raises(dk.UnsupportedAttributeError, match=r"x\.tobytes on a traced value"):
        reverse.gradient(lambda x: x.tobytes() and x, np.array([1.0]))


def test_spare_records_keep_nothing_of_the_users_alive():
    """A reused record is emptied of the primitive too: a checkpoint's primitive holds the
    user's function and everything it captures."""
    import weakref

    class Data(np.ndarray):
        pass

    def run():
        big = np.ones(4).view(Data)
        ck = dk.checkpoint(lambda a: dnp.sin(a) * big)

        def f(x):
            a = dnp.sum(ck(x) * x)
            for _ in range(reverse._SPARE_FROM):  # a long tape: its records are given back
                a = a * 0.5 + 0.1
            return a

        reverse.gradient(f, np.array([0.1, 0.2, 0.3, 0.4]))
        return weakref.ref(big)

    ref = run()
    gc.collect()
    assert ref() is None
