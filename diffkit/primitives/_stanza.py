"""The stanza machinery shared by the family files: :func:`primitive` and the rule helpers.

A family file (``arithmetic.py``, ``elementwise.py``, ...) is a table of stanzas, each one call
of :func:`primitive` with every rule and every fact about one primitive. Rules are written with
the ``dnp`` functions themselves, so a rule applied to traced values is itself traced (higher
derivatives come for free). Rules that use a primitive of another family reach it through
:data:`ops` (``ops.sum``), which :func:`primitive` fills as stanzas register, so the family
files import each other in no particular order.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..core import Domain, Primitive, Tracer, as_operand, bind, domain_error, register
from ..errors import UnsupportedPrimitiveError

__all__ = ["POS", "UNIT", "Domain", "M", "V", "ops", "primitive", "unbroadcast"]

ops = SimpleNamespace()
"""Every registered ``dnp`` function by name (``ops.sum``, ``ops.reshape``): for rules that use
a primitive of another family file."""

# sample arguments the stanzas share (registry tests: scalar, vector, matrix, broadcast)
V = np.array([0.3, 0.7, 1.1])
M = np.array([[0.2, 0.5, 0.9], [1.3, 0.4, 0.8]])
POS = np.array([0.4, 1.5, 2.2])
UNIT = np.array([-0.6, 0.1, 0.5])
SPREAD = np.array([-0.8, 0.35, 1.2])


# ============================================================================ the factory


def _make_function(prim: Primitive, kind: str) -> Callable[..., Any]:
    """The ``dnp`` function for ``prim``: numpy on plain values, the trace's rule on tracers."""
    numeric = prim.numeric
    if kind == "unary":

        def fn(x: Any) -> Any:
            if isinstance(x, Tracer):
                return x._trace.process(prim, (x,), {})
            try:
                return numeric(x)
            except FloatingPointError:
                raise domain_error(prim, (x,)) from None

    elif kind == "binary":

        def fn(x: Any, y: Any) -> Any:  # type: ignore[misc]
            if isinstance(x, Tracer) or isinstance(y, Tracer):
                return bind(prim, (as_operand(x), as_operand(y)), {})  # (w @ [1.0, 2.0])
            try:
                return numeric(x, y)
            except FloatingPointError:
                raise domain_error(prim, (x, y)) from None

    elif kind == "reduce":

        def fn(x: Any, axis: Any = None, dtype: Any = None, out: Any = None,  # type: ignore[misc]
               keepdims: bool = False) -> Any:
            if out is not None:
                raise _no_out(prim)
            axis = axis_param(axis)
            if isinstance(x, Tracer):
                result = x._trace.process(prim, (x,), {"axis": axis, "keepdims": bool(keepdims)})
            elif axis is None and not keepdims:
                result = numeric(x)
            else:
                result = numeric(x, axis=axis, keepdims=keepdims)
            return result if dtype is None else ops.astype(result, dtype)

    else:  # pragma: no cover - programming error
        raise ValueError(kind)
    return fn


def _no_out(prim: Primitive) -> Exception:

    return UnsupportedPrimitiveError(
        f"{prim.qualname}(..., out=...) on a traced value: diffkit cannot follow writes into an "
        f"existing array; assign the result instead")


def _from_signature(prim: Primitive, signature: Callable[..., Any]) -> Callable[..., Any]:
    """A ``dnp`` function from ``signature(*a, **k) -> (arrays, params)`` (numpy's call form).

    ``signature`` has numpy's parameters; a call it cannot bind is an
    :class:`~diffkit.errors.UnsupportedPrimitiveError` naming what diffkit supports.
    """

    def fn(*args: Any, **kwargs: Any) -> Any:
        try:
            arrays, params = signature(*args, **kwargs)
        except TypeError as exc:
            import inspect


            raise UnsupportedPrimitiveError(
                f"{prim.qualname}: {exc}; diffkit supports the call "
                f"{prim.qualname}{inspect.signature(signature)}") from None
        if prim.composite is not None:
            if any(isinstance(a, Tracer) for a in arrays):
                return prim.composite(*arrays, **params)
            return prim.numeric(*arrays, **params)
        return bind(prim, tuple(arrays), params)

    return fn


def primitive(
    name: str,
    numeric: Callable[..., Any],
    *,
    kind: str = "unary",
    signature: Callable[..., Any] | None = None,
    function: Callable[..., Any] | None = None,
    composite: Callable[..., Any] | None = None,
    continuation: Callable[..., Any] | None = None,
    staircase: Any = None,
    staircase_edge: float = 0.0,
    symbolic: Callable[..., Any] | None = None,
    vjp: tuple[Any, ...] | None = None,
    jvp: tuple[Any, ...] | None = None,
    jvp_batched: bool = False,
    vjp_numpy: Callable[..., Any] | None = None,
    vjp_into: Callable[..., Any] | None = None,
    saves: tuple[Any, ...] | None = None,
    domain: Domain | None = None,
    derivative_domain: Domain | None = None,
    analytic: bool = True,
    differentiable: bool = True,
    linear: bool = False,
    elementwise: bool | None = None,
    variadic: bool = False,
    nargs: int | None = None,
    numpy: tuple[str, ...] | None = None,
    scipy: tuple[str, ...] = (),
    methods: dict[str, Any] | tuple[str, ...] = (),
    operators: tuple[str, ...] = (),
    formula: tuple[str, ...] | None = None,
    sympy_name: str | None = None,
    printer: dict[str, Any] | None = None,
    infix: str | None = None,
    partials: tuple[Any, ...] = (),
    samples: tuple[Any, ...] = (),
    generate: bool | tuple[Domain, ...] = False,
    namespace: str = "",
    derivative: str = "",
) -> Callable[..., Any]:
    """Register one stanza and return its ``dnp`` function.

    ``kind`` picks the call form of the generated function: ``"unary"`` ``f(x)``,
    ``"binary"`` ``f(x, y)``, ``"reduce"`` ``f(x, axis=None, keepdims=False)``. Any other call
    form gives ``signature``: a function with numpy's signature returning the traced arrays
    and the static parameters, ``(arrays, params)``; or ``function``, the ``dnp`` function
    written out. ``numpy`` defaults to ``(name,)`` when numpy has that name (prefixed by the
    ``namespace``); ``formula`` defaults to ``(name,)`` for generated (drawable) primitives.
    See :class:`~diffkit.core.Primitive` for the other fields.
    """
    prefix = f"{namespace}." if namespace else ""
    if numpy is None:
        numpy = (prefix + name,) if _has_numpy(prefix + name) else ()
    if elementwise is None:
        elementwise = kind in ("unary", "binary") and composite is None and function is None \
            and signature is None
    if isinstance(methods, tuple):
        methods = dict.fromkeys(methods)
    doc_derivative = f" Derivative: {derivative}." if derivative else ""
    doc_domain = f" Domain: {domain.text}." if domain else ""
    where = f"numpy.{numpy[0]}" if numpy else (f"scipy.{scipy[0]}" if scipy else name)
    prim = Primitive(
        name=name, numeric=numeric, symbolic=symbolic, vjp=vjp, jvp=jvp, jvp_batched=jvp_batched,
        vjp_numpy=vjp_numpy,
        vjp_into=vjp_into, saves=saves, domain=domain,
        derivative_domain=derivative_domain,
        analytic=analytic, differentiable=differentiable, linear=linear,
        nargs={"unary": 1, "binary": 2}.get(kind) if signature is None and function is None
        else nargs,
        elementwise=elementwise, variadic=variadic, numpy=tuple(numpy), scipy=tuple(scipy),
        methods={}, operators=(), formula=tuple(formula if formula is not None else ()),
        sympy_name=sympy_name, printer=printer, infix=infix, partials=tuple(partials),
        samples=tuple(samples), generate=generate, composite=composite, namespace=namespace,
        continuation=continuation, staircase=staircase, staircase_edge=staircase_edge,
        derivative_text=derivative,
        doc=(f"diffkit primitive ``{name}``: {where} on plain values, recorded on traced "
             f"ones.{doc_derivative}{doc_domain}"),
    )
    if function is not None:
        fn = function
    elif signature is not None:
        fn = _from_signature(prim, signature)
    else:
        fn = _make_function(prim, kind)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = prim.doc
    fn.primitive = prim  # type: ignore[attr-defined]
    prim.function = fn
    # operators and methods are installed by register, once the function exists
    prim.operators = tuple(operators)
    prim.methods = dict(methods)
    register(prim)
    setattr(ops, name, fn)
    return fn


def _has_numpy(path: str) -> bool:
    obj: Any = np
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    return callable(obj)


# ============================================================================ symbolic helpers


def sympy_module() -> Any:
    """sympy, imported on first use (``import diffkit`` never imports it)."""
    import sympy

    return sympy


def elementwise_sympy(sympy_name: str) -> Callable[..., Any]:
    """Symbolic rule applying ``sympy.<sympy_name>`` to a scalar or elementwise to an array."""

    def rule(*args: Any) -> Any:
        f = getattr(sympy_module(), sympy_name)
        if any(isinstance(a, np.ndarray) for a in args):
            return np.frompyfunc(f, len(args), 1)(*args)
        return f(*args)

    rule.__name__ = f"sympy_{sympy_name}"
    return rule


def symbolic_refusal(reason: str) -> Callable[..., Any]:
    """A symbolic rule that refuses, for primitives without a closed form (eigh, svd): the
    :class:`~diffkit.errors.UnsupportedPrimitiveError` says why and which methods work.
    Registry tests skip the symbolic comparison of a stanza marked this way."""

    def rule(*args: Any, **params: Any) -> Any:

        raise UnsupportedPrimitiveError(reason)

    rule.refuses = True  # type: ignore[attr-defined]
    return rule


def elementwise_fn(f: Callable[..., Any]) -> Callable[..., Any]:
    """Symbolic rule from a python function of sympy scalars, applied elementwise."""

    def rule(*args: Any, **params: Any) -> Any:
        if any(isinstance(a, np.ndarray) for a in args):
            return np.frompyfunc(lambda *a: f(*a, **params), len(args), 1)(*args)
        return f(*args, **params)

    return rule


# ============================================================================ rule helpers


def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of an array, a tracer or a number."""
    return x.shape if isinstance(x, (np.ndarray, Tracer)) else np.shape(x)


def unbroadcast(g: Any, x: Any) -> Any:
    """Sum the cotangent ``g`` down to the shape of ``x`` (undo numpy broadcasting)."""
    target = shape_of(x)
    gshape = shape_of(g)
    if gshape == target:
        return g
    lead = len(gshape) - len(target)
    if lead > 0:
        g = ops.sum(g, axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(target) if n == 1 and shape_of(g)[i] != 1)
    if axes:
        g = ops.sum(g, axis=axes, keepdims=True)
    return g


def sum_to(c: np.ndarray, shape: tuple[int, ...]) -> Any:
    """:func:`unbroadcast` in plain numpy, for the fast rules (``vjp_numpy``).

    A number is returned as it is: either its operand is a number too, or it stands for a
    whole array of the operand's shape (the reverse engine's fill of a ``sum``'s cotangent,
    which it passes only to records that do not broadcast).
    """
    cshape = c.shape if c.__class__ is np.ndarray else ()
    if cshape == shape or not cshape:
        return c
    lead = len(cshape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, n in enumerate(shape)
                                      if n == 1 and cshape[lead + k] != 1)
    out = np.add.reduce(c, axis=axes) if axes else c
    return out.reshape(shape) if np.shape(out) != shape else out


def like(t: Any, ans: Any) -> Any:
    """Broadcast the tangent ``t`` to the output's shape (JVP rules return full shapes).

    A batch of tangents (leading axes beyond the output's, vector forward mode) keeps them.
    """
    shape = shape_of(ans)
    tshape = shape_of(t)
    if tshape == shape:
        return t
    lead = len(tshape) - len(shape)
    if lead > 0:
        shape = tshape[:lead] + shape
    return t if tshape == shape else ops.broadcast_to(t, shape)


# ============================================================================ batched tangents
# Vector forward mode pushes k tangent directions at once: a tangent of argument x has shape
# (k, *x.shape). Stanzas marked ``jvp_batched`` write their JVP rules for both shapes with
# these helpers (``lead`` = the number of leading batch axes, 0 for a single tangent).


def batch_lead(t: Any, x: Any) -> int:
    """The number of leading batch axes of the tangent ``t`` of argument ``x``."""
    return max(len(shape_of(t)) - len(shape_of(x)), 0)


def batch_axes(axis: Any, lead: int, ndim: int) -> Any:
    """A reduction's ``axis`` over ``x`` (``ndim`` axes) as the axes of its batched tangent."""
    if lead == 0:
        return axis
    return tuple(lead + a for a in norm_axes(axis, ndim))


def batch_broadcast(t: Any, lead: int, shape: tuple[int, ...]) -> Any:
    """``broadcast_to`` of a batched tangent: its own axes aligned right, batch axes kept."""
    tshape = shape_of(t)
    batch, own = tshape[:lead], tshape[lead:]
    if len(own) < len(shape):
        t = ops.reshape(t, batch + (1,) * (len(shape) - len(own)) + own)
    return ops.broadcast_to(t, batch + tuple(shape))


def batch_index(index: Any, lead: int) -> Any:
    """``index`` into an array with ``lead`` more leading axes, selecting the same entries of
    every batch member; None when numpy would move the selected axes in front of the batch
    axes (integer or array parts separated by a slice: numpy's rule for separated advanced
    indices), which the caller then indexes one direction at a time."""
    if lead == 0:
        return index
    parts = index if isinstance(index, tuple) else (index,)
    arrays = [k for k, p in enumerate(parts)
              if isinstance(p, (np.ndarray, list)) or (isinstance(p, (bool, np.bool_)))]
    if arrays:
        advanced = [k for k, p in enumerate(parts)
                    if k in arrays or isinstance(p, (int, np.integer))]
        if advanced[-1] - advanced[0] + 1 != len(advanced):
            return None
    return (slice(None),) * lead + parts


def each_direction(t: Any, lead: int, rule: Callable[[Any], Any]) -> Any:
    """``rule`` applied to every tangent of a batch (``lead`` leading axes) and stacked: for
    the cases a batched rule cannot vectorize."""
    if lead == 0:
        return rule(t)
    outs = [each_direction(t[j], lead - 1, rule) for j in range(shape_of(t)[0])]
    if not any(isinstance(o, Tracer) for o in outs):
        return np.stack([np.asarray(o) for o in outs])
    return ops.stack(outs)


def norm_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a tuple, negative allowed) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    return tuple(sorted(int(a) % ndim if ndim else 0 for a in axis))


def restore_reduced(g: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """Reshape a reduction's cotangent so it broadcasts against ``x`` again."""
    shape = shape_of(x)
    if keepdims or not shape:
        return g
    kept = list(shape)
    for a in norm_axes(axis, len(shape)):
        kept[a] = 1
    return ops.reshape(g, tuple(kept))


def count(x: Any, axis: Any) -> int:
    """Number of entries a reduction over ``axis`` combines."""
    shape = shape_of(x)
    return int(np.prod([shape[a] for a in norm_axes(axis, len(shape))], dtype=np.int64))


def is_traced(*values: Any) -> bool:
    """True when any of the values is a tracer."""
    return any(isinstance(v, Tracer) for v in values)


def axis_param(axis: Any) -> Any:
    """An ``axis`` argument as a hashable parameter (lists become tuples)."""
    if isinstance(axis, list):
        return tuple(axis)
    if isinstance(axis, np.integer):
        return int(axis)
    return axis
