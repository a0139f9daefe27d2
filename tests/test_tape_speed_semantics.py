"""Semantics the tape's fast paths must keep (the speed work of issue 23): the user's code
runs with the garbage collector as the user left it, records are typed objects built by the
hot paths exactly as ``Record(...)`` builds them, and ``x[i]`` / ``x[a:b]`` on a node give
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
