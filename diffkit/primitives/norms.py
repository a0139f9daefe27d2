"""Norms: ``numpy.linalg.norm``, ``vector_norm`` and ``matrix_norm`` (``dnp.linalg``).

``numpy.linalg.norm`` is one function over many formulas, and its ``ord`` decides what each
method can do with it, so three stanzas share it and its ``dnp`` function picks one:

===============  ===========================================  =========  ===============
stanza           ord                                          analytic   symbolic
===============  ===========================================  =========  ===============
``vector_norm``  vectors None/2, matrices None/'fro': the      yes        sqrt(sum x**2)
                 Euclidean norm over the axes
``norm``         vectors inf, -inf, 0, 1, any other p;        no         Max, Min, Abs
                 matrices 1, -1, inf, -inf (from |x|)
``matrix_norm``  matrices 2, -2, 'nuc' (singular values)      no         refuses
===============  ===========================================  =========  ===============

The Euclidean norm's continuation to complex input is ``sqrt(sum(x*x))``, not numpy's
``sqrt(sum(|x|**2))``: that is what the complex step evaluates (``continuation``). Every
derivative is ``dy = sum(D * dx)`` over the reduced axes with a factor ``D`` of x's shape
(:func:`_norm_factor`, :func:`_spectral_factor`): the VJP is ``g * D``, the JVP ``sum(t * D)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import REGISTRY, Domain, Tracer, bind
from ..errors import UnsupportedPrimitiveError
from ._stanza import (
    M,
    V,
    norm_axes,
    ops,
    primitive,
    restore_reduced,
    shape_of,
    symbolic_refusal,
    sympy_module,
)

S = np.array([[0.6, -0.3, 0.8], [0.2, 1.1, -0.5], [0.9, 0.4, 0.3]])
A = np.array([[0.15, -0.8, 0.35], [-0.25, 0.65, -0.9], [0.45, -0.05, -0.2]])  # no ties
T = np.array([[[0.5, -0.2, 0.7], [0.1, 0.9, -0.4]], [[-0.6, 0.3, 0.2], [0.8, -0.1, 0.5]]])
SIGNED = np.array([0.3, -0.7, 1.1, -0.2])

_SPECTRAL = (2, -2, "nuc")
_ENTRYWISE = (1, -1, np.inf, -np.inf)
_WORKS = ("method='reverse-mode', 'forward-mode' or a numerical method such as "
          "'richardson'")


def _is(ord: Any, *values: Any) -> bool:
    """``ord in values``, never comparing a string with a number (numpy warns on that)."""
    return any(isinstance(ord, str) == isinstance(v, str) and ord == v for v in values)


def _as_array(x: Any) -> Any:
    """A list of traced values as one traced array (``np.linalg.norm([x, x + 2])``)."""
    if isinstance(x, (list, tuple)) and any(isinstance(e, Tracer) for e in x):
        return ops.stack([_as_array(e) for e in x])
    return x


def _axes_param(axis: Any, nd: int, call: str) -> tuple[int, ...]:
    """``axis`` (an int or a tuple of them) as distinct non-negative axes, checked."""
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    try:
        axes = tuple(int(a) for a in axes)
    except (TypeError, ValueError):
        raise UnsupportedPrimitiveError(
            f"{call}: axis={axis!r} is not an int or a tuple of ints") from None
    if any(not -nd <= a < nd for a in axes) or len({a % nd for a in axes}) < len(axes):
        raise UnsupportedPrimitiveError(
            f"{call}: axis={axis!r} is out of range or repeated for an array of {nd} "
            f"dimensions")
    return tuple(a % nd for a in axes)


def _with_kept(y: Any, shape: tuple[int, ...], axes: tuple[int, ...]) -> Any:
    """A reduction's result reshaped as if it had kept the reduced ``axes`` (keepdims)."""
    return ops.reshape(y, tuple(1 if k in axes else n for k, n in enumerate(shape)))


# ============================================================================ the dnp functions


def _norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    """``numpy.linalg.norm``: the stanza for ``ord`` (see the module's table)."""
    x = _as_array(x)
    if not isinstance(x, Tracer):
        return np.linalg.norm(x, ord, axis, keepdims)
    keepdims = bool(keepdims)
    shape = shape_of(x)
    nd = len(shape)
    call = f"numpy.linalg.norm(x, ord={ord!r}, axis={axis!r})"
    if isinstance(ord, np.integer):
        ord = int(ord)
    if axis is None:
        if ord is None or (_is(ord, "fro", "f") and nd == 2) or (_is(ord, 2) and nd == 1):
            return bind(REGISTRY["vector_norm"], (x,), {"axis": None, "keepdims": keepdims})
        if nd not in (1, 2):
            raise UnsupportedPrimitiveError(
                f"{call} on an array of shape {shape}: with ord and no axis numpy takes a "
                f"vector or a matrix; pass axis=")
        axis = tuple(range(nd))
    axes = _axes_param(axis, nd, call)
    if len(axes) == 1:
        if ord is None or _is(ord, 2):
            return bind(REGISTRY["vector_norm"], (x,), {"axis": axes[0], "keepdims": keepdims})
        if isinstance(ord, str) or not isinstance(ord, (int, float, np.floating)):
            raise UnsupportedPrimitiveError(
                f"{call}: ord={ord!r} is not a vector norm; vectors take None, a number, inf "
                f"or -inf")
        return bind(REGISTRY["norm"], (x,), {"ord": ord, "axis": axes[0], "keepdims": keepdims})
    if len(axes) != 2:
        raise UnsupportedPrimitiveError(
            f"{call}: a norm is over one axis (a vector) or two (a matrix); for more, "
            f"use dnp.linalg.vector_norm(x, axis=...)")
    if ord is None or _is(ord, "fro", "f"):
        return bind(REGISTRY["vector_norm"], (x,), {"axis": axes, "keepdims": keepdims})
    if _is(ord, *_ENTRYWISE):
        return bind(REGISTRY["norm"], (x,), {"ord": ord, "axis": axes, "keepdims": keepdims})
    if not _is(ord, *_SPECTRAL):
        raise UnsupportedPrimitiveError(
            f"{call}: ord={ord!r} is not a matrix norm; matrices take None, 'fro', 'nuc', 1, "
            f"-1, 2, -2, inf or -inf")
    # the singular values of the matrices in the last two axes
    rest = tuple(k for k in range(nd) if k not in axes)
    moved = x if axes == (nd - 2, nd - 1) else ops.transpose(x, rest + axes)
    y = bind(REGISTRY["matrix_norm"], (moved,), {"ord": ord, "keepdims": False})
    return _with_kept(y, shape, axes) if keepdims else y


def _vector_norm(x: Any, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Any:
    """``numpy.linalg.vector_norm``: any ord over any axes (flattened into one)."""
    x = _as_array(x)
    if not isinstance(x, Tracer):
        return np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
    keepdims = bool(keepdims)
    shape = shape_of(x)
    nd = len(shape)
    call = f"numpy.linalg.vector_norm(x, axis={axis!r}, ord={ord!r})"
    axes = tuple(range(nd)) if axis is None else _axes_param(axis, nd, call)
    if _is(ord, 2):
        param = axis if axis is None else axes[0] if isinstance(axis, (int, np.integer)) \
            else axes
        return bind(REGISTRY["vector_norm"], (x,), {"axis": param, "keepdims": keepdims})
    if isinstance(ord, str) or not isinstance(ord, (int, float, np.floating, np.integer)):
        raise UnsupportedPrimitiveError(f"{call}: ord={ord!r} is not a vector norm; it takes "
                                        f"a number, inf or -inf")
    # the reduced axes moved to the end and merged into one
    rest = tuple(k for k in range(nd) if k not in axes)
    order = rest + axes
    moved = x if order == tuple(range(nd)) else ops.transpose(x, order)
    flat = ops.reshape(moved, (*(shape[k] for k in rest), -1))
    y = bind(REGISTRY["norm"], (flat,), {"ord": ord, "axis": len(rest), "keepdims": False})
    return _with_kept(y, shape, axes) if keepdims else y


def _matrix_norm(x: Any, keepdims: bool = False, ord: Any = "fro") -> Any:
    """``numpy.linalg.matrix_norm``: the norm of the matrices in the last two axes."""
    x = _as_array(x)
    if not isinstance(x, Tracer):
        return np.linalg.matrix_norm(x, keepdims=keepdims, ord=ord)
    if len(shape_of(x)) < 2:
        raise UnsupportedPrimitiveError(
            f"numpy.linalg.matrix_norm of an array of shape {shape_of(x)}: it takes a stack "
            f"of matrices (two or more dimensions)")
    return _norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


# ============================================================================ symbolic rules


def _over_axes(x: Any, axes: tuple[int, ...], keepdims: bool, f: Any) -> Any:
    """``f`` applied to each slice of x over ``axes`` (moved last, in order): a reduction."""
    x = np.asarray(x, dtype=object)
    moved = np.moveaxis(x, axes, tuple(range(x.ndim - len(axes), x.ndim)))
    lead = moved.shape[:x.ndim - len(axes)]
    out = np.empty(lead, dtype=object)
    for idx in np.ndindex(lead):
        out[idx] = f(np.asarray(moved[idx], dtype=object))
    if keepdims:
        out = np.expand_dims(out, axes)
    return out[()] if out.ndim == 0 else out


def _sympy_p(ord: Any) -> Any:
    sp = sympy_module()
    return sp.Integer(int(ord)) if float(ord).is_integer() else sp.Float(float(ord))


def _symbolic_vector_norm(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    sp = sympy_module()
    axes = norm_axes(axis, np.ndim(x))
    return _over_axes(x, axes, keepdims, lambda m: sp.sqrt(sp.Add(*(e**2 for e in m.flat))))


def _vector_formula(ord: Any) -> Any:
    sp = sympy_module()
    if _is(ord, np.inf):
        return lambda v: sp.Max(*(sp.Abs(e) for e in v))
    if _is(ord, -np.inf):
        return lambda v: sp.Min(*(sp.Abs(e) for e in v))
    if _is(ord, 0):  # the number of nonzero entries
        return lambda v: sp.Add(*(sp.Piecewise((0, sp.Eq(e, 0)), (1, True)) for e in v))
    if _is(ord, 1):
        return lambda v: sp.Add(*(sp.Abs(e) for e in v))
    p = _sympy_p(ord)
    return lambda v: sp.Add(*(sp.Abs(e) ** p for e in v)) ** (1 / p)


def _matrix_formula(ord: Any) -> Any:
    # ord 1: the largest column sum of |x|; inf: the largest row sum; -1, -inf the smallest
    sp = sympy_module()
    pick = sp.Max if _is(ord, 1, np.inf) else sp.Min
    rows = _is(ord, np.inf, -np.inf)
    return lambda m: pick(*(sp.Add(*(sp.Abs(e) for e in (m if rows else m.T)[k]))
                            for k in range((m if rows else m.T).shape[0])))


def _symbolic_norm(x: Any, ord: Any = None, axis: Any = 0, keepdims: bool = False) -> Any:
    if isinstance(axis, tuple):
        if not _is(ord, *_ENTRYWISE):
            raise UnsupportedPrimitiveError(
                f"numpy.linalg.norm(x, ord={ord!r}) of a matrix has no closed form here; use "
                f"{_WORKS}")
        return _over_axes(x, axis, keepdims, _matrix_formula(ord))
    return _over_axes(x, (int(axis),), keepdims, lambda m: _vector_formula(ord)(list(m.flat)))


# ============================================================================ derivative factors


def _norm_factor(x: Any, ans: Any, ord: Any, axis: Any, keepdims: bool) -> Any:
    """``D = dy/dx`` of an entrywise norm, broadcastable to x's shape."""
    y = restore_reduced(ans, x, axis, keepdims)
    if isinstance(axis, tuple):  # a matrix: the extremal column (ord +-1) or row (+-inf) sum
        r, c = axis
        summed, over = (r, c) if _is(ord, 1, -1) else (c, r)
        sums = ops.sum(ops.absolute(x), axis=summed, keepdims=True)
        hit = ops.where(ops.equal(sums, y), 1.0, 0.0)
        return ops.sign(x) * (hit / ops.sum(hit, axis=over, keepdims=True))
    if _is(ord, 0):  # a count: piecewise constant
        return ops.absolute(x) * 0.0
    if _is(ord, 1):
        return ops.sign(x)
    if _is(ord, np.inf, -np.inf):  # the extremal entries, split evenly between ties
        hit = ops.where(ops.equal(ops.absolute(x), y), 1.0, 0.0)
        return ops.sign(x) * (hit / ops.sum(hit, axis=axis, keepdims=True))
    # (sum |x|^p)^(1/p): sign(x) |x|^(p-1) / y^(p-1)
    return ops.sign(x) * ops.power(ops.absolute(x) / y, ord - 1)


def _singular_factor(x: np.ndarray, ord: Any) -> np.ndarray:
    """``D`` of a singular-value norm of plain matrices: u_k v_k^T, or U V^T for 'nuc'."""
    u, _, vt = np.linalg.svd(x, full_matrices=False)
    if _is(ord, "nuc"):
        return u @ vt
    k = [0] if _is(ord, 2) else [-1]
    return u[..., :, k] @ vt[..., k, :]


def _spectral_factor(x: Any, ans: Any, ord: Any) -> Any:
    """``D`` of ord 2 (top singular pair), -2 (bottom pair) or 'nuc' (U V^T)."""
    if not isinstance(x, Tracer):
        return _singular_factor(np.asarray(x), ord)
    svdvals = REGISTRY.get("svdvals")
    if svdvals is None or svdvals.vjp is None:
        raise UnsupportedPrimitiveError(
            f"numpy.linalg.norm(x, ord={ord!r}) of a traced matrix inside a derivative (a "
            f"second derivative): its derivative reads the singular vectors, and diffkit has "
            f"no svd primitive to differentiate them; first derivatives work by reverse and "
            f"forward mode, second derivatives by method='richardson' or 'central-difference'")
    # D = d/dx sum(w * svdvals(x)) with w picking the singular values the norm adds
    s = ops.svdvals(x)
    n = shape_of(s)[-1]
    w = np.ones(n) if _is(ord, "nuc") else np.eye(n)[0 if _is(ord, 2) else -1]
    return svdvals.vjp_rule(0)(np.broadcast_to(w, shape_of(s)), s, x)


# ============================================================================ the stanzas

_EUCLID_SAMPLES = (((V,), {"axis": None, "keepdims": False}),
                   ((M,), {"axis": None, "keepdims": False}),
                   ((M,), {"axis": 1, "keepdims": False}),
                   ((M,), {"axis": 0, "keepdims": True}),
                   ((T,), {"axis": (0, 2), "keepdims": False}),
                   ((0.7,), {"axis": None, "keepdims": False}))


def _euclid_vjp(g: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return restore_reduced(g, x, axis, keepdims) * x / restore_reduced(ans, x, axis, keepdims)


def _euclid_jvp(t: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return ops.sum(t * x, axis=axis, keepdims=keepdims) / ans


vector_norm = primitive(
    "vector_norm",
    lambda x, axis=None, keepdims=False: np.linalg.vector_norm(x, axis=axis, keepdims=keepdims),
    function=_vector_norm, namespace="linalg", symbolic=_symbolic_vector_norm,
    # numpy's norm is sqrt(sum |x|**2) on complex input, which is not analytic
    continuation=lambda x, axis=None, keepdims=False:
        np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims)),
    vjp=(_euclid_vjp,), jvp=(_euclid_jvp,), samples=_EUCLID_SAMPLES,
    derivative_domain=Domain("not every entry of a reduced slice zero"),
    derivative="x / ||x||",
)


def _entrywise_vjp(g: Any, ans: Any, x: Any, ord: Any = None, axis: Any = 0,
                   keepdims: bool = False) -> Any:
    return restore_reduced(g, x, axis, keepdims) * _norm_factor(x, ans, ord, axis, keepdims)


def _entrywise_jvp(t: Any, ans: Any, x: Any, ord: Any = None, axis: Any = 0,
                   keepdims: bool = False) -> Any:
    return ops.sum(t * _norm_factor(x, ans, ord, axis, keepdims), axis=axis, keepdims=keepdims)


def _entrywise_numeric(x: Any, ord: Any = None, axis: Any = 0, keepdims: bool = False) -> Any:
    return np.linalg.norm(x, ord, axis, keepdims)


norm = primitive(
    "norm", _entrywise_numeric, function=_norm, namespace="linalg", symbolic=_symbolic_norm,
    analytic=False, vjp=(_entrywise_vjp,), jvp=(_entrywise_jvp,),
    samples=(((SIGNED,), {"ord": 1, "axis": 0, "keepdims": False}),
             ((SIGNED,), {"ord": np.inf, "axis": 0, "keepdims": False}),
             ((SIGNED,), {"ord": -np.inf, "axis": 0, "keepdims": True}),
             ((SIGNED,), {"ord": 3, "axis": 0, "keepdims": False}),
             ((SIGNED,), {"ord": 0.5, "axis": 0, "keepdims": False}),
             ((SIGNED,), {"ord": -1.5, "axis": 0, "keepdims": False}),
             ((SIGNED,), {"ord": 0, "axis": 0, "keepdims": False}),
             ((A,), {"ord": 3, "axis": 1, "keepdims": False}),
             ((A,), {"ord": 1, "axis": (0, 1), "keepdims": False}),
             ((A,), {"ord": -1, "axis": (0, 1), "keepdims": True}),
             ((A,), {"ord": np.inf, "axis": (0, 1), "keepdims": False}),
             ((T,), {"ord": -np.inf, "axis": (2, 1), "keepdims": False})),
    derivative_domain=Domain("no zero entry (ord < 1 or 1), no tie between the extremal "
                             "entries, rows or columns (ord +-inf, matrix +-1)"),
    derivative="sign(x) |x|^(p-1) / ||x||^(p-1); inf, -inf, matrix +-1, +-inf: sign(x) at "
               "the extremal entries, rows or columns; ord=0 counts nonzero entries: "
               "piecewise constant, derivative 0",
)


def _spectral_numeric(x: Any, ord: Any = "nuc", keepdims: bool = False) -> Any:
    return np.linalg.matrix_norm(x, ord=ord, keepdims=keepdims)


def _kept(g: Any, x: Any, keepdims: bool) -> Any:
    return g if keepdims else ops.reshape(g, (*shape_of(g), 1, 1))


def _spectral_vjp(g: Any, ans: Any, x: Any, ord: Any = "nuc", keepdims: bool = False) -> Any:
    return _kept(g, x, keepdims) * _spectral_factor(x, ans, ord)


def _spectral_jvp(t: Any, ans: Any, x: Any, ord: Any = "nuc", keepdims: bool = False) -> Any:
    return ops.sum(t * _spectral_factor(x, ans, ord), axis=(-2, -1), keepdims=keepdims)


matrix_norm = primitive(
    "matrix_norm", _spectral_numeric, function=_matrix_norm, namespace="linalg",
    symbolic=symbolic_refusal(
        "numpy.linalg.norm(x, ord=2, -2 or 'nuc') of a matrix is a function of its singular "
        f"values, which have no closed form; method='symbolic' cannot write it: use {_WORKS}"),
    analytic=False, vjp=(_spectral_vjp,), jvp=(_spectral_jvp,),
    samples=(((M,), {"ord": 2, "keepdims": False}), ((S,), {"ord": -2, "keepdims": True}),
             ((M,), {"ord": "nuc", "keepdims": False}), ((T,), {"ord": 2, "keepdims": False}),
             ((T,), {"ord": "nuc", "keepdims": True})),
    derivative_domain=Domain("ord=2: the largest singular value simple (s1 > s2); ord=-2: "
                             "the smallest simple and nonzero; 'nuc': full rank"),
    derivative="u_k v_k^T of the singular pair (ord 2: the largest, -2: the smallest); "
               "'nuc': U V^T",
)

__all__ = ["matrix_norm", "norm", "vector_norm"]
