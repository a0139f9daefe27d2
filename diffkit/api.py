"""derivative / gradient / jacobian / hessian: resolve the method, return plain numbers.

Validation happens once, in the method's public call (:mod:`diffkit.validation`); these
functions add the method resolution, unwrap the rich result into a float or ndarray, and --
since that result is not returned -- announce ``auto``'s fallback to Richardson extrapolation
with a :class:`~diffkit.errors.DiffkitFallbackWarning` (once per function).

Data arguments follow scipy's convention: ``dk.gradient(loss, w, args=(X, y))`` calls
``loss(w, X, y)`` and differentiates with respect to ``w`` only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import methods as _methods
from .methods.auto import Auto, announce

__all__ = ["derivative", "gradient", "hessian", "jacobian"]

DEFAULT_METHOD = "auto"
"""AD where the code is traceable (reverse for gradients, forward for tall Jacobians and
Hessians), Richardson extrapolation otherwise: see :mod:`diffkit.methods.auto`."""

_DEFAULTS: dict[str, _methods.Method] = {}
"""Method objects with default settings, by name: resolved once, not on every call (they
hold settings only; never handed out, so nobody can change them)."""


def _method(method: Any, settings: dict[str, Any]) -> _methods.Method:
    if not settings and method.__class__ is str:
        m = _DEFAULTS.get(method)
        if m is None:
            m = _DEFAULTS[method] = _methods.get(method)
        return m
    return _methods.get(method, **settings)


def _plain(value: Any) -> Any:
    arr = np.asarray(value)
    return float(arr) if arr.ndim == 0 else arr


def derivative(f: Any, x: Any, method: Any = DEFAULT_METHOD, *, args: tuple[Any, ...] = (),
               kwargs: dict[str, Any] | None = None, **settings: Any) -> Any:
    """Derivative of ``f`` at the scalar ``x``.

    Parameters
    ----------
    f : Function or callable
        A scalar function of one scalar (or a vector-valued one: the result is an array).
    x : float
        The point.
    method : str or Method
        A name from :func:`diffkit.methods.available` or a configured method object.
    args : tuple, optional
        Data arguments: ``f`` is called as ``f(x, *args, **kwargs)`` and differentiated with
        respect to ``x`` only (scipy's ``args=`` convention).
    kwargs : dict, optional
        Keyword data arguments.
    **settings
        Settings of the named method, e.g. ``h=1e-6``.

    Returns
    -------
    float or ndarray

    Warns
    -----
    DiffkitFallbackWarning
        With ``method="auto"``, the first time AD cannot follow ``f`` and Richardson
        extrapolation is used instead (once per function).

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> round(dk.derivative(lambda x: dnp.exp(x), 0.0, method="central-difference"), 8)
    1.0
    >>> dk.derivative(lambda t, a: dnp.sin(a * t), 0.0, args=(3.0,))
    3.0
    """
    m = _method(method, settings)
    r = m.derivative(f, x, args=args, kwargs=kwargs)
    if m.__class__ is Auto and r.method == "richardson":
        announce(f, r, "derivative(f, x)")
    return _plain(r.value)


def gradient(f: Any, x: Any, method: Any = DEFAULT_METHOD, *, args: tuple[Any, ...] = (),
             kwargs: dict[str, Any] | None = None, **settings: Any) -> np.ndarray:
    """Gradient of the scalar function ``f`` at ``x``; an array with the shape of ``x``.

    Parameters
    ----------
    f : Function or callable
        A scalar function: of one array parameter (it receives the whole point) or of ``k``
        scalar parameters (the point has ``k`` coordinates).
    x : array_like
        The point.
    method : str or Method
        ``"auto"`` (AD where the code allows it, Richardson extrapolation otherwise), a name
        from :func:`diffkit.methods.available`, or a configured method object.
    args : tuple, optional
        Data arguments passed after the point, never differentiated: ``f(x, *args,
        **kwargs)``. They fill the last parameters of ``f``.
    kwargs : dict, optional
        Keyword data arguments.
    **settings
        Settings of the named method, e.g. ``h=1e-6``.

    Returns
    -------
    ndarray

    Warns
    -----
    DiffkitFallbackWarning
        With ``method="auto"``, the first time AD cannot follow ``f`` (once per function),
        naming the primitive or the line that stopped it.

    Examples
    --------
    >>> import numpy as np, diffkit as dk, diffkit.numpy as dnp
    >>> f = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2))
    >>> dk.gradient(f, [2.0, 5.0], method="central-difference").round(6)
    array([5.5     , 1.716338])

    A least-squares loss, differentiated with respect to the weights only:

    >>> def loss(w, X, y):
    ...     return dnp.sum((X @ w - y) ** 2)
    >>> X, y = np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([1.0, 3.0])
    >>> dk.gradient(loss, [0.0, 0.0], args=(X, y))
    array([-8., -6.])
    """
    # (the result object is not built where the method can skip it; auto announces its own
    # fallback there)
    return _method(method, settings).gradient_array(f, x, args=args, kwargs=kwargs)


def jacobian(f: Any, x: Any, method: Any = DEFAULT_METHOD, *, args: tuple[Any, ...] = (),
             kwargs: dict[str, Any] | None = None, **settings: Any) -> np.ndarray:
    """Jacobian of ``f`` at ``x`` as an ``(m, n)`` array: m outputs, n coordinates.

    ``args``/``kwargs`` are data arguments, as for :func:`gradient`.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> dk.jacobian(lambda x, k: dnp.sin(k * x), 0.0, args=(dnp.arange(1.0, 4.0),))
    array([[1.],
           [2.],
           [3.]])
    """
    m = _method(method, settings)
    r = m.jacobian(f, x, args=args, kwargs=kwargs)
    if m.__class__ is Auto and r.method == "richardson":
        announce(f, r, "jacobian(f, x)")
    return np.asarray(r.value)


def hessian(f: Any, x: Any, method: Any = DEFAULT_METHOD, *, args: tuple[Any, ...] = (),
            kwargs: dict[str, Any] | None = None, **settings: Any) -> np.ndarray:
    """Hessian of the scalar function ``f`` at ``x`` as an ``(n, n)`` array.

    ``args``/``kwargs`` are data arguments, as for :func:`gradient`.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> dk.hessian(lambda x, a: a * dnp.sum(x ** 2), [1.0, 2.0], args=(3.0,))
    array([[6., 0.],
           [0., 6.]])
    """
    m = _method(method, settings)
    r = m.hessian(f, x, args=args, kwargs=kwargs)
    if m.__class__ is Auto and r.method == "richardson":
        announce(f, r, "hessian(f, x)")
    return np.asarray(r.value)
