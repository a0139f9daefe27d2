"""A cache of large float64 buffers for the reverse-mode tape (a caching allocator).

Why: glibc hands large freed blocks back to the kernel (``munmap``, or trimming the top of
the heap), so the next call's arrays fault every page in again, and a page fault is not
cheap (about 5 us on the 2-core VM these benchmarks run on). A recording keeps the operands
its VJPs need alive, so it holds more memory than ``f`` does and crosses those thresholds:
``value_and_grad`` of Rosenbrock at n = 1e5 spent three quarters of its time in 1300 page
faults a call. torch keeps freed blocks in its caching allocator for the same reason; the
tape does the same for arrays of at least :data:`MIN_BYTES`.

How an array comes back: :func:`empty` returns an ndarray whose ``base`` is a small ctypes
handle on the cached memory (not an ndarray, so numpy's collapsing of view chains stops
there). Every further view (slices, reshapes, views of views) keeps that handle alive,
directly or through the array it views, so the handle lives exactly as long as some array
can still reach the memory; its ``__del__`` then returns the memory to the free list.
Nothing is reused while any view of it exists, so no caller can see its data change.

Idle memory is capped at :data:`MAX_IDLE_BYTES` (set it to 0 to turn the cache off);
:func:`clear` drops every idle buffer.
"""

from __future__ import annotations

import ctypes
import math
import os
from typing import Any

import numpy as np

__all__ = ["MAX_IDLE_BYTES", "MIN_BYTES", "clear", "empty", "idle_bytes"]

MIN_BYTES = int(os.environ.get("DIFFKIT_POOL_MIN_BYTES", 512 * 1024))
"""Arrays smaller than this come from numpy as usual (glibc's heap reuses them without
faults, and a pooled array costs a few microseconds more to make). The environment variable
``DIFFKIT_POOL_MIN_BYTES`` sets it (0: every float64 array of the tape is pooled)."""

MAX_IDLE_BYTES = 256 * 2**20
"""Most bytes kept in idle buffers; a buffer released beyond it is freed."""

_PAGE = 4096
_F64 = np.dtype(np.float64)
_free: dict[int, list[tuple[np.ndarray, int]]] = {}  # rounded size -> (memory, address)
_handles: dict[int, type] = {}  # rounded size -> its ctypes handle type
_idle = 0


def _handle_del(self: Any) -> None:
    try:
        _release(self.mem, self.address)
    except Exception:  # pragma: no cover - interpreter shutdown: module state is gone
        pass


def _handle_type(size: int) -> type:
    """The ctypes type of a handle on ``size`` bytes: ``c_char * size`` that gives the memory
    back when it dies."""
    t = _handles.get(size)
    if t is None:
        if len(_handles) >= 256:  # many sizes (a loop over n): forget the types, not the memory
            _handles.clear()
        t = _handles[size] = type("_Handle", (ctypes.c_char * size,),
                                  {"__slots__": ("mem", "address"), "__del__": _handle_del})
    return t


def empty(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised float64 array of ``shape``, from the cache when large enough."""
    nbytes = 8 * math.prod(shape)
    if nbytes < MIN_BYTES:
        return np.empty(shape)
    size = -(-nbytes // _PAGE) * _PAGE
    global _idle
    try:  # list.pop and list.append are atomic: no lock (the idle count is only a soft cap)
        mem, address = _free[size].pop()
    except (KeyError, IndexError):
        mem = np.empty(size, dtype=np.uint8)
        address = mem.__array_interface__["data"][0]
    else:
        _idle -= size
    handle = _handle_type(size).from_address(address)
    handle.mem = mem  # the handle keeps the memory alive; the views keep the handle
    handle.address = address
    return np.ndarray(shape, _F64, handle)


def _release(mem: np.ndarray, address: int) -> None:
    global _idle
    size = mem.size
    if _idle + size > MAX_IDLE_BYTES:
        return  # over the cap: numpy frees it
    _free.setdefault(size, []).append((mem, address))
    _idle += size


def idle_bytes() -> int:
    """Bytes held in idle buffers."""
    return _idle


def clear() -> None:
    """Drop every idle buffer (arrays in use are not affected)."""
    global _idle
    _free.clear()
    _idle = 0


def _is_pooled(a: Any) -> bool:
    """Whether ``a`` (or the array it views) lives in a pooled buffer (for tests)."""
    while isinstance(a, np.ndarray):
        a = a.base
    return getattr(a, "mem", None) is not None and type(a).__name__ == "_Handle"
