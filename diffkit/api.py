"""derivative / gradient / jacobian / hessian: resolve the method, return plain numbers.

Validation happens once, in the method's public call (:mod:`diffkit.validation`); these
functions add the method resolution and unwrap the rich result into a float or ndarray.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import methods as _methods

__all__ = ["derivative", "gradient", "hessian", "jacobian"]

DEFAULT_METHOD = "auto"
"""AD where the code is traceable (reverse for gradients, forward for tall Jacobians and
Hessians), Richardson extrapolation otherwise: see :mod:`diffkit.methods.auto`."""


def _plain(value: Any) -> Any:
    arr = np.asarray(value)
    return float(arr) if arr.ndim == 0 else arr


def derivative(f: Any, x: Any, method: Any = DEFAULT_METHOD, **settings: Any) -> Any:
    """Derivative of ``f`` at the scalar ``x``.

    Parameters
    ----------
    f : Function or callable
        A scalar function of one scalar (or a vector-valued one: the result is an array).
    x : float
        The point.
    method : str or Method
        A name from :func:`diffkit.methods.available` or a configured method object.
    **settings
        Settings of the named method, e.g. ``h=1e-6``.

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> round(dk.derivative(lambda x: dnp.exp(x), 0.0, method="central-difference"), 8)
    1.0
    """
    return _plain(_methods.get(method, **settings).derivative(f, x).value)


def gradient(f: Any, x: Any, method: Any = DEFAULT_METHOD, **settings: Any) -> np.ndarray:
    """Gradient of the scalar function ``f`` at ``x``; an array with the shape of ``x``.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> f = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2))
    >>> dk.gradient(f, [2.0, 5.0], method="central-difference").round(6)
    array([5.5     , 1.716338])
    """
    return np.asarray(_methods.get(method, **settings).gradient(f, x).value)


def jacobian(f: Any, x: Any, method: Any = DEFAULT_METHOD, **settings: Any) -> np.ndarray:
    """Jacobian of ``f`` at ``x`` as an ``(m, n)`` array: m outputs, n coordinates."""
    return np.asarray(_methods.get(method, **settings).jacobian(f, x).value)


def hessian(f: Any, x: Any, method: Any = DEFAULT_METHOD, **settings: Any) -> np.ndarray:
    """Hessian of the scalar function ``f`` at ``x`` as an ``(n, n)`` array."""
    return np.asarray(_methods.get(method, **settings).hessian(f, x).value)
