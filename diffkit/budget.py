"""Time and memory budgets for work that can grow without bound (symbolic algebra).

Computer algebra on a long program can take minutes or gigabytes (expression swell, sympy's
assumption queries on huge sums). Every symbolic construction, differentiation and
compilation in diffkit runs inside :func:`limited`: a watchdog thread measures the elapsed
time and the process's resident memory, and when either exceeds the budget it raises
:class:`BudgetError` in the working thread (CPython's asynchronous exception, delivered at the
next bytecode: sympy's algebra is Python, so it stops promptly). The caller turns it into a
clear error (the symbolic method) or a labelled numerical fallback (exact references).

Examples
--------
>>> from diffkit.budget import BudgetError, limited
>>> with limited(seconds=5.0, megabytes=None, what="a quick sum"):
...     total = sum(range(1000))
>>> total
499500
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import DiffkitError

__all__ = ["BudgetError", "limited", "resident_megabytes"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_POLL = 0.02  # seconds between the watchdog's checks


class BudgetError(DiffkitError, TimeoutError):
    """Work that ran out of its time or memory budget (see :func:`limited`)."""


def resident_megabytes() -> float | None:
    """The process's resident memory in MB (Linux ``/proc``), or None where unavailable."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE / 2**20
    except (OSError, ValueError, IndexError):
        return None


def _in_gc_callback(thread_id: int) -> bool:
    """Whether the thread is running a garbage-collector callback (hypothesis installs one):
    an exception raised there is swallowed ("Exception ignored in ...") and reported as
    unraisable, so the watchdog waits for the next poll instead."""
    codes = {getattr(cb, "__code__", None) for cb in gc.callbacks} - {None}
    if not codes:
        return False
    frame = sys._current_frames().get(thread_id)
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in the thread at its next bytecode (None: cancel a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), None if exc is None else ctypes.py_object(exc))


@contextmanager
def limited(seconds: float | None, megabytes: float | None, what: str) -> Iterator[None]:
    """Run the block under a budget; raise :class:`BudgetError` when it runs out.

    Parameters
    ----------
    seconds : float or None
        Wall-clock limit (None: no limit).
    megabytes : float or None
        Limit on the growth of resident memory during the block (None: no limit).
    what : str
        What the block does, for the error message ("symbolic Hessian of f").

    Raises
    ------
    BudgetError
        With a message naming ``what``, the limit that was hit and the value reached.
    """
    if seconds is None and megabytes is None:
        yield
        return
    target = threading.get_ident()
    start = time.perf_counter()
    base = resident_megabytes()
    stop = threading.Event()
    hit: list[str] = []

    def watch() -> None:
        while not stop.wait(_POLL):
            elapsed = time.perf_counter() - start
            if seconds is not None and elapsed > seconds:
                hit.append(f"its time budget of {seconds:g} s")
            elif megabytes is not None and base is not None:
                now = resident_megabytes()
                if now is not None and now - base > megabytes:
                    hit.append(f"its memory budget of {megabytes:g} MB (it grew by "
                               f"{now - base:.0f} MB)")
            if hit:  # delivered again at every poll until the block has ended: an
                # asynchronous exception that lands in a gc callback or a __del__ is swallowed
                # by the interpreter ("Exception ignored in ..."), and the block ran on unbounded
                if not _in_gc_callback(target):
                    _raise_in(target, _Interrupt)

    watchdog = threading.Thread(target=watch, name="diffkit-budget", daemon=True)
    watchdog.start()
    interrupted = False
    try:
        yield
    except _Interrupt:
        interrupted = True
    finally:
        while True:  # the watchdog delivers until it sees stop; it may land here once more
            try:
                stop.set()
                watchdog.join()
                break
            except _Interrupt:  # delivered just as the block ended
                interrupted = True
        if hit:  # cancel an interrupt still pending if the block ended as it fired
            _raise_in(target, None)
    if interrupted:
        raise BudgetError(f"{what} ran out of {hit[0] if hit else 'its budget'}")


class _Interrupt(BaseException):
    """Raised asynchronously in the budgeted thread; never escapes :func:`limited`."""
