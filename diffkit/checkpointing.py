"""Checkpointing: reverse mode that recomputes instead of storing.

Reverse mode keeps every intermediate its VJPs read until the sweep, so a loop of ``T``
steps holds ``T`` steps' worth of arrays. :func:`checkpoint` wraps a function so that the
tape records a call of it as *one* node holding only its inputs; the sweep re-runs the
function from them on a fresh tape and pulls the cotangent through. :func:`loop` is a loop
every interpreter understands, which under reverse mode arranges such checkpoints by a
schedule (:mod:`diffkit.revolve`): none, segments of ``sqrt(T)`` steps, or the binomial
schedule of Griewank & Walther (revolve) with ``c`` snapshots.

How it fits the architecture: a checkpointed function is a :class:`~diffkit.core.Primitive`
made for that function (one per arity, never registered: the registry stays the table of
numpy's operations). Its numeric rule runs the function on plain values; its VJP records the
function on a local reverse tape at the saved inputs and sweeps it
(:func:`diffkit.methods.reverse.record`, :func:`~diffkit.methods.reverse.sweep`); its JVP runs
it on dual numbers. The reverse engine applies that VJP like any other stanza's and needs no
change. Every interpreter but reverse mode — evaluation, forward mode, the symbolic trace,
the complex step, finite differences — simply runs the function: the wrapper binds the
primitive only when the innermost traced argument belongs to a reverse tape.

A checkpointed function must compute from its arguments alone: a traced value it reads from
an enclosing scope would escape the re-run (pass it as an argument; for :func:`loop`, carry
it in the state tuple). This is checked when the tape records the call.

Examples
--------
>>> import numpy as np, diffkit as dk, diffkit.numpy as dnp
>>> @dk.checkpoint
... def block(x):
...     return dnp.sin(x) * x
>>> dk.gradient(lambda x: dnp.sum(block(block(x))), np.array([0.5, 1.0])).round(6)
array([0.431821, 1.805083])
>>> euler = lambda s: s + 0.01 * (1.0 - s**3)
>>> f = lambda x: dnp.sum(dk.loop(euler, x, 1000, checkpoints=10))
>>> np.allclose(dk.gradient(f, np.array([0.2, 2.0])),
...             dk.gradient(lambda x: dnp.sum(dk.loop(euler, x, 1000)), np.array([0.2, 2.0])))
True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import revolve
from .core import Primitive, Tracer, bind
from .errors import CheckpointError, NotTraceableError
from .memory import current
from .methods import forward
from .methods.reverse import Node, ReverseTrace, record, sweep
from .primitives import ops

__all__ = ["Checkpoint", "checkpoint", "loop"]


def _innermost(values: Any) -> Tracer | None:
    """The traced value of the highest level among ``values`` (the one bind would pick)."""
    top = None
    for v in values:
        if isinstance(v, Tracer) and (top is None or v._trace.level > top._trace.level):
            top = v
    return top


def _on_tape(values: Any) -> bool:
    """Whether the innermost traced value among ``values`` is a reverse tape's node."""
    top = _innermost(values)
    return top is not None and isinstance(top._trace, ReverseTrace)


def _level(value: Any) -> int:
    return value._trace.level if isinstance(value, Tracer) else 0


# ============================================================================ packing


def _pack(out: Any) -> tuple[Any, tuple[tuple[int, ...], ...] | None]:
    """A tuple of arrays as one flat array and their shapes (a single array as itself): a
    primitive has one output, a node one value."""
    if not isinstance(out, (tuple, list)):
        return out, None
    shapes = tuple(tuple(np.shape(p._value if isinstance(p, Tracer) else p)) for p in out)
    if not any(isinstance(p, Tracer) for p in out):
        flat = np.concatenate([np.ravel(p) for p in out]) if out else np.zeros(0)
        return flat, shapes
    return ops.concatenate([ops.reshape(p, (-1,)) for p in out]), shapes


def _unpack(flat: Any, shapes: tuple[tuple[int, ...], ...]) -> tuple[Any, ...]:
    """The arrays :func:`_pack` joined, as views of ``flat`` (recorded getitems)."""
    parts = []
    k = 0
    for shape in shapes:
        n = math.prod(shape)
        parts.append(flat[k] if shape == () else ops.reshape(flat[k:k + n], shape))
        k += n
    return tuple(parts)


def _cotangent(c: Any, like: Any) -> Any:
    """A sweep's cotangent for an argument, as an array of the argument's shape (a sweep
    may hand back a number standing for a whole array, or None for no dependence)."""
    shape = tuple(np.shape(like._value if isinstance(like, Tracer) else like))
    if c is None:
        if isinstance(like, Tracer):
            return like * 0.0
        return np.zeros(shape, dtype=np.result_type(like, float))
    if isinstance(c, Tracer):
        if tuple(c.shape) != shape:
            c = ops.broadcast_to(c, shape) if c.shape == () else ops.reshape(c, shape)
        return c
    if c.__class__ is not np.ndarray:
        return np.full(shape, c) if shape else c
    if c.shape != shape:
        c = np.array(np.broadcast_to(c, shape) if c.ndim == 0 else c.reshape(shape))
    return c


# ============================================================================ checkpoint


class Checkpoint:
    """A function whose calls a reverse tape records as one node (see :func:`checkpoint`).

    Attributes
    ----------
    fn : callable
        The wrapped function.
    name : str
        Its name, as the trace tables show the node (``checkpoint[name]``).
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None,
                 label: str = "checkpoint") -> None:
        if not callable(fn):
            raise CheckpointError(f"checkpoint(fn={fn!r}): fn must be callable, a function "
                                  f"of arrays returning an array or a tuple of arrays")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        self._label = f"{label}[{self.name}]"
        self._prims: dict[int, Primitive] = {}
        self._shapes: Any = None  # the output structure of the latest numeric run
        functools.update_wrapper(self, fn, updated=())

    def __repr__(self) -> str:
        return f"<{self._label}>"

    def __call__(self, *args: Any, **params: Any) -> Any:
        top = _innermost(args)
        if top is None or not isinstance(top._trace, ReverseTrace):
            out = self.fn(*args, **params)  # every interpreter but reverse mode: just run it
            if top is None and _on_tape(out if isinstance(out, (tuple, list)) else (out,)):
                raise NotTraceableError(self._closure_message())
            return out
        out = bind(self._primitive(len(args)), args, params)
        shapes = self._shapes
        m = current()
        if m is not None:
            tape = top._trace
            m.hold(_key(tuple(a.value if a.__class__ is Node and a._trace is tape else a
                              for a in args)), tape, out.id)
        return out if shapes is None else _unpack(out, shapes)

    def _primitive(self, n: int) -> Primitive:
        prim = self._prims.get(n)
        if prim is None:
            prim = self._prims[n] = Primitive(
                name=self._label, numeric=self._numeric, vjp=(self._vjp,), jvp=(self._jvp,),
                vjp_numpy=self._vjp_numpy, saves=tuple(range(n)), variadic=True, nargs=n,
                doc=f"{self._label}: recorded as one node holding its {n} input(s); the "
                    f"sweep re-runs it")
        return prim

    # --- the interpretations
    def _packed(self, *args: Any, **params: Any) -> Any:
        return _pack(self.fn(*args, **params))[0]

    def _numeric(self, *args: Any, **params: Any) -> Any:
        """Run ``fn`` on copies of the tape's raw values; one output (tuples packed). (The tape
        keeps the inputs to re-run ``fn`` in the sweep: code that writes to its argument,
        ``s += 1.0``, would change them, and the re-run would differentiate another point.)"""
        flat, shapes = _pack(self.fn(*_fresh(args), **params))
        inner = max((_level(a) for a in args), default=0)
        if _level(flat) > inner:
            raise NotTraceableError(self._closure_message())
        self._shapes = shapes
        return flat

    def _closure_message(self) -> str:
        return (f"{self._label}: the function's result depends on a value traced by reverse "
                f"mode that is not among its arguments (it reads one from an enclosing scope: "
                f"a closure, a global, a default argument). A checkpoint re-runs the function "
                f"from its arguments alone, so that dependence would be lost; pass every "
                f"traced value it uses as an argument (for dk.loop, carry it in the state "
                f"tuple: state = (x, theta))")

    def _pullback(self, g: Any, args: tuple[Any, ...], params: dict[str, Any]) -> list[Any]:
        """Re-run ``fn`` at ``args`` on a fresh tape and sweep it with ``g``."""
        m = current()
        key = _key(args)
        if m is not None:
            m.enter(key)
        try:
            tr, nodes, out = record(lambda *xs: self._packed(*xs, **params), args)
            if m is not None:
                m.recorded(tr, {id(a) for a in args})
            if out.__class__ is Node and out._trace is tr:
                cts = sweep(tr.tape, out.id, g, [n.id for n in nodes], consume=True)
            else:  # the output does not depend on the arguments
                cts = [None] * len(args)
            del tr, nodes, out
        finally:
            if m is not None:
                m.leave()
                m.release(key)
        return [_cotangent(c, a) for c, a in zip(cts, args, strict=True)]

    def _vjp_numpy(self, g: Any, ans: Any, args: tuple[Any, ...], params: dict[str, Any],
                   wanted: tuple[bool, ...]) -> list[Any]:
        cts = self._pullback(g, args, params)
        return [c if w else None for c, w in zip(cts, wanted, strict=True)]

    def _vjp(self, i: int, g: Any, ans: Any, *args: Any, **params: Any) -> Any:
        # the differentiable rule (traced values: higher derivatives); one re-run per argument
        return self._pullback(g, args, params)[i]

    def _jvp(self, i: int, t: Any, ans: Any, *args: Any, **params: Any) -> Any:
        def at(a: Any) -> Any:
            return self._packed(*args[:i], a, *args[i + 1:], **params)

        return forward.jvp(at, args[i], t)[1]


def _key(raw: tuple[Any, ...]) -> tuple[int, ...]:
    """Identifies a snapshot by its arrays (the same arrays held twice are one snapshot)."""
    return tuple(id(a) for a in raw)


def checkpoint(fn: Callable[..., Any]) -> Checkpoint:
    """Wrap ``fn`` so that reverse mode stores its inputs only and recomputes the rest.

    Under reverse mode a call ``checkpoint(fn)(*args)`` is recorded as one node that holds
    ``args``; the intermediates of ``fn`` are not kept. The sweep re-runs ``fn`` at the saved
    ``args`` on a fresh tape and sweeps that tape with the node's cotangent: the gradient is
    the same, the memory is ``fn``'s inputs instead of its whole tape, the time one more
    evaluation of ``fn``. Checkpoints nest. Every other interpreter (evaluation, forward
    mode, symbolic, complex step, finite differences) runs ``fn`` as it is.

    Parameters
    ----------
    fn : callable
        ``fn(*arrays, **static)`` written with numpy or ``diffkit.numpy``, returning an array
        or a tuple of arrays. Positional arguments are the differentiable inputs; keyword
        arguments are static settings, recorded with the node. ``fn`` must compute from its
        arguments alone (a traced value read from an enclosing scope raises
        :class:`~diffkit.NotTraceableError`).

    Returns
    -------
    Checkpoint
        A callable with ``fn``'s signature; usable as a decorator.

    See Also
    --------
    loop : a loop whose steps are checkpointed by a schedule.
    diffkit.memory.meter : counts snapshots, recomputed steps and tape bytes.

    Examples
    --------
    >>> import numpy as np, diffkit as dk, diffkit.numpy as dnp
    >>> from diffkit.methods import reverse
    >>> layer = dk.checkpoint(lambda x: dnp.tanh(x) * 2.0)
    >>> g_plain = reverse.gradient(lambda x: dnp.sum(dnp.tanh(x) * 2.0), np.ones(3))
    >>> np.array_equal(reverse.gradient(lambda x: dnp.sum(layer(x)), np.ones(3)), g_plain)
    True
    """
    return Checkpoint(fn)


# ============================================================================ loop


class _LoopPieces(Checkpoint):
    """The pieces of one :func:`loop`: a checkpoint of ``steps`` steps whose sweep reverses
    them by the plan of ``snapshots`` (:func:`diffkit.revolve.plan`).

    The reversal runs on an explicit stack, in the order :func:`diffkit.revolve.schedule`
    simulates: advance through the plan's pieces keeping their first states (snapshots),
    tape the tail on a fresh tape and sweep it; then restore the last pending snapshot and do
    the same for its piece. (Re-recording pieces as nested checkpoints would reverse in the
    same order, but nest one Python call per level: ``T`` levels for ``c = 1``.)
    """

    def __init__(self, step: Callable[[Any], Any], several: bool) -> None:
        self.step = step
        self.several = several
        name = getattr(step, "__name__", type(step).__name__)
        super().__init__(self._steps, name=name, label="loop")

    def _steps(self, *parts: Any, steps: int, snapshots: Any = None) -> Any:
        """The piece itself: ``steps`` steps from the state ``parts`` (what every
        interpreter runs; taped step by step when ``parts`` are a tape's nodes)."""
        state = parts if self.several else parts[0]
        step = self.step
        for _ in range(steps):
            state = step(state)
        m = current()
        if m is not None:
            m.ran(steps)
        return state

    def _advance(self, parts: tuple[Any, ...], n: int) -> tuple[Any, ...]:
        state = self._steps(*_fresh(parts), steps=n)  # (parts may be a snapshot kept for later)
        return tuple(state) if self.several else (state,)

    def _pullback(self, g: Any, args: tuple[Any, ...], params: dict[str, Any]) -> list[Any]:
        m = current()
        key = _key(args)
        if m is not None:
            m.enter(key)
        try:
            cts = self._reverse(args, params["steps"], params["snapshots"], g, m)
        finally:
            if m is not None:
                m.leave()
                m.release(key)
        return cts

    def _reverse(self, x0: tuple[Any, ...], steps: int, snapshots: Any, g: Any,
                 m: Any) -> list[Any]:
        held = _Held(x0)  # the snapshots this reversal keeps (x0 is its caller's)

        def expand(parts: tuple[Any, ...], n: int, snaps: Any) -> tuple[list[Any], Any, int]:
            p = revolve.plan(n, snaps)
            pieces = []
            for length, c in p.pieces:
                pieces.append((parts, length, c))
                held.add(parts)
                if m is not None:
                    m.hold(_key(parts))
                parts = self._advance(parts, length)
            return pieces, parts, p.tail

        def taped(parts: tuple[Any, ...], n: int, g: Any) -> list[Any]:
            tr, nodes, out = record(lambda *xs: self._packed(*xs, steps=n), parts)
            if m is not None:
                m.recorded(tr, held.ids(), held.nbytes)
            if out.__class__ is Node and out._trace is tr:
                cts = sweep(tr.tape, out.id, g, [n.id for n in nodes], consume=True)
            else:
                cts = [None] * len(parts)
            return [_cotangent(c, a) for c, a in zip(cts, parts, strict=True)]

        pieces, s, tail = expand(x0, steps, snapshots)
        cts = taped(s, tail, g)
        pending = [pieces]
        while pending:
            if not pending[-1]:
                pending.pop()
                continue
            parts, length, c = pending[-1].pop()
            pieces, s, tail = expand(parts, length, c)
            held.remove(parts)  # (its re-run's first piece holds it now, if it has pieces)
            if m is not None:
                m.release(_key(parts))
            cts = taped(s, tail, _pack(cts)[0] if self.several else cts[0])
            pending.append(pieces)
        return cts


class _Held:
    """Arrays held as snapshots by one reversal: reference counts and bytes (the caller's
    own state, from which the reversal starts, is counted by the caller)."""

    def __init__(self, own: tuple[Any, ...]) -> None:
        self._count: dict[int, list[int]] = {id(a): [1, 0] for a in own}
        self.nbytes = 0

    def ids(self) -> set[int]:
        return set(self._count)

    def add(self, parts: tuple[Any, ...]) -> None:
        for a in parts:
            entry = self._count.get(id(a))
            if entry is None:
                size = _nbytes(a)
                self._count[id(a)] = [1, size]
                self.nbytes += size
            else:
                entry[0] += 1

    def remove(self, parts: tuple[Any, ...]) -> None:
        for a in parts:
            entry = self._count[id(a)]
            entry[0] -= 1
            if not entry[0]:
                self.nbytes -= entry[1]
                del self._count[id(a)]


def _nbytes(v: Any) -> int:
    v = v._value if isinstance(v, Tracer) else v
    return int(getattr(v, "nbytes", 8))


def _fresh(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Plain arrays copied: what user code runs on where it sees raw values (it may write to
    its argument in place; the tape's values must stay as recorded)."""
    return tuple(v.copy() if v.__class__ is np.ndarray else v for v in values)


def _run(pieces: _LoopPieces, state: Any, p: revolve.Plan) -> Any:
    """Record ``p``: its pieces as checkpoints (one node each), then its tail step by step.

    This is the first forward sweep of the schedule: each piece node holds the state it
    starts from (a snapshot), and its steps run untaped.
    """
    several = pieces.several
    for length, snapshots in p.pieces:
        state = pieces(*(state if several else (state,)), steps=length, snapshots=snapshots)
    step = pieces.step
    for _ in range(p.tail):
        state = step(state)
    m = current()
    if m is not None:
        m.ran(p.tail)
    return state


def _check_loop(step: Any, state: Any, steps: Any, checkpoints: Any) -> None:
    if not callable(step):
        raise CheckpointError(f"loop(step={step!r}): step must be callable, state -> state")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise CheckpointError(f"loop(steps={steps!r}): the number of steps must be an integer "
                              f">= 0")
    if checkpoints is None or checkpoints == "sqrt":
        return
    if isinstance(checkpoints, bool) or not isinstance(checkpoints, (int, np.integer)) \
            or checkpoints < 1:
        raise CheckpointError(
            f"loop(checkpoints={checkpoints!r}): pass None (tape every step), \"sqrt\" "
            f"(sqrt(T) snapshots) or an integer c >= 1 (the binomial schedule with c "
            f"snapshots)")


def loop(step: Callable[[Any], Any], state: Any, steps: int, checkpoints: Any = None) -> Any:
    """Apply ``step`` to ``state`` ``steps`` times: a loop every interpreter understands.

    Evaluation, forward mode, the symbolic trace, the complex step and finite differences
    run it as the Python loop ``for _ in range(steps): state = step(state)``. Reverse mode
    does too without ``checkpoints`` (every step taped, memory ``O(T)``); with
    ``checkpoints`` it records the loop as a few checkpoints (:func:`checkpoint`), holding a
    few states and recomputing the steps between them during the sweep. The gradient is the
    same (to the last bit: the same operations run in the same order).

    Parameters
    ----------
    step : callable
        ``state -> state``, written with numpy or ``diffkit.numpy``; it must compute from
        the state alone (carry parameters you differentiate in the state tuple).
    state : array_like, Tracer, or tuple of them
        The initial state; with a tuple, ``step`` takes and returns a tuple of the same
        shapes.
    steps : int
        ``T >= 0``.
    checkpoints : None, "sqrt" or int
        ``None``: tape every step. ``"sqrt"``: checkpoint segments of ``ceil(sqrt(T))``
        steps, re-run as plain tapes during the sweep (about ``sqrt(T)`` snapshots and
        ``T - sqrt(T)`` steps recomputed). An integer ``c >= 1``: the binomial schedule of
        Griewank & Walther (revolve) with at most ``c`` snapshots (the initial state
        included), which recomputes the fewest steps possible with ``c`` snapshots,
        ``r T - C(c + r, c + 1)`` for the least ``r`` with ``C(c + r, c) >= T``
        (:func:`diffkit.revolve.recomputations`).

    Returns
    -------
    The final state (a tuple for a tuple state).

    Notes
    -----
    :func:`diffkit.memory.meter` counts the steps run, those recomputed by the sweep
    (``recomputed``, equal to :func:`diffkit.revolve.recomputations` for an integer ``c``),
    the snapshots held and the tape bytes; reverse-mode results report them in ``info``.
    A gradient frees each checkpoint once swept, so at most ``c`` snapshots are alive; a
    Jacobian sweeps the tape once per output and keeps them all.

    Examples
    --------
    >>> import numpy as np, diffkit as dk, diffkit.numpy as dnp
    >>> logistic = lambda x: 3.7 * x * (1.0 - x)
    >>> round(dk.loop(logistic, 0.3, 3), 6)
    0.851333
    >>> r = dk.methods.ReverseMode().derivative(
    ...     lambda x: dk.loop(logistic, x, 1000, checkpoints=20), 0.3)
    >>> r.info["snapshots"], r.info["recomputed"], dk.revolve.recomputations(1000, 20)
    (20, 2747, 2747)
    """
    _check_loop(step, state, steps, checkpoints)
    steps = int(steps)
    if isinstance(checkpoints, np.integer):
        checkpoints = int(checkpoints)
    several = isinstance(state, tuple)
    if checkpoints is None or not _on_tape(state if several else (state,)):
        for k in range(steps):
            new = step(state)
            if k == 0 and checkpoints is not None and steps > 1 \
                    and _on_tape(new if isinstance(new, tuple) else (new,)):
                raise NotTraceableError(
                    f"loop(..., checkpoints={checkpoints!r}): the state is a constant but the "
                    f"step made it depend on a value traced by reverse mode, read from an "
                    f"enclosing scope (a closure); a checkpoint re-runs steps from the state "
                    f"alone, so that dependence would be lost. Carry the value in the state "
                    f"tuple (state = (x, theta), step returning (x_new, theta))")
            state = new
        m = current()
        if m is not None:
            m.ran(steps)
        return state
    return _run(_LoopPieces(step, several), state, revolve.plan(steps, checkpoints))
