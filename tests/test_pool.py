"""The reverse-mode tape's buffer cache: memory comes back only when no array can reach it."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import diffkit.numpy as dnp
from diffkit import catalog
from diffkit.methods import _pool
from diffkit.methods import reverse as rev


@pytest.fixture
def pool(monkeypatch):
    """A clean cache with the real thresholds."""
    _pool.clear()
    monkeypatch.setattr(_pool, "MIN_BYTES", 512 * 1024)
    monkeypatch.setattr(_pool, "MAX_IDLE_BYTES", 256 * 2**20)
    yield _pool
    _pool.clear()


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_small_arrays_are_numpys_own(pool):
    a = pool.empty((1000,))
    assert a.flags.owndata
    assert not pool._is_pooled(a)
    assert pool.idle_bytes() == 0


def test_memory_returns_only_after_every_view_is_gone(pool):
    a = pool.empty((100_000,))
    assert pool._is_pooled(a)
    assert (a.dtype, a.shape, a.flags.writeable, a.flags.c_contiguous) == (
        np.float64, (100_000,), True, True)
    address = _address(a)
    a[:] = 7.0
    views = [a[10:], a.reshape(1000, 100)[::2], np.asarray(a)[5:].view()]
    deeper = views[1][3:, :50]  # a view of a view
    del a, views
    gc.collect()
    assert pool.idle_bytes() == 0  # `deeper` still reaches the memory
    b = pool.empty((100_000,))  # so the cache must not hand it out
    assert _address(b) != address
    b[:] = -1.0
    assert np.all(deeper == 7.0)
    del deeper
    assert pool.idle_bytes() >= 800_000  # now it is back
    c = pool.empty((100_000,))
    assert _address(c) == address  # and reused
    assert pool._is_pooled(c[1:])


def test_idle_memory_is_capped_and_cleared(pool, monkeypatch):
    monkeypatch.setattr(pool, "MAX_IDLE_BYTES", 1_000_000)
    arrays = [pool.empty((100_000,)) for _ in range(3)]
    del arrays
    assert 0 < pool.idle_bytes() <= 1_000_000  # one 800 kB buffer kept, two freed
    pool.clear()
    assert pool.idle_bytes() == 0


def test_large_gradients_are_right_and_independent(pool):
    """n = 1e5: every array of the tape is pooled; results held across calls stay intact."""
    rosen = catalog.rosenbrock(100_000).function  # dnp code, with a hand-written gradient
    rng = np.random.default_rng(1)
    xs = [rng.uniform(-1.0, 1.0, 100_000) for _ in range(3)]
    held = [rev.value_and_grad(rosen.fn, x) for x in xs]  # all three kept alive
    for (v, g), x in zip(held, xs, strict=True):
        assert pool._is_pooled(g)
        np.testing.assert_allclose(g, rosen.manual_call(x), rtol=1e-13, atol=1e-12)
        assert v == pytest.approx(float(rosen.fn(x)), rel=1e-13)
    assert len({_address(g) for _, g in held}) == 3
    before = [g.copy() for _, g in held]
    del held[0]
    for _ in range(3):  # reuse the freed buffers
        rev.value_and_grad(rosen.fn, xs[0])
    for (_, g), b in zip(held, before[1:], strict=True):
        assert np.array_equal(g, b)


def test_a_held_intermediate_is_not_overwritten(pool):
    """A value the program keeps (and returns through a side channel) is never reused."""
    kept = []

    def f(x):
        t = x * 2.0  # a pooled intermediate
        kept.append(t.value.copy())
        kept.append(t.value)
        return dnp.sum(t * t)

    x = np.linspace(0.0, 1.0, 100_000)
    _, g = rev.value_and_grad(f, x)
    rev.value_and_grad(f, x + 1.0)
    assert np.array_equal(kept[0], kept[1])  # the first call's t, untouched by the second
    np.testing.assert_allclose(g, 8.0 * x, rtol=1e-15)


def test_many_sizes_keep_the_type_cache_bounded(pool):
    arrays = [pool.empty((65_536 + 512 * k,)) for k in range(300)]  # 300 page-rounded sizes
    assert len(pool._handles) <= 256
    for k, a in enumerate(arrays):
        a[:] = k
    assert all(a[0] == k and a[-1] == k for k, a in enumerate(arrays))
