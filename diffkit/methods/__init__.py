"""Differentiation methods, one module per family; each is an interpreter of the spec.

A method is an object with keyword-only settings (``CentralDifference(h=1e-6)``); its name
(``"central-difference"``) is the same object with default settings. :func:`get` resolves
either, :func:`available` lists the names whose module is present.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any

from ..errors import UnknownMethodError
from .base import Method

__all__ = ["METHOD_NAMES", "Method", "available", "concrete", "get"]

# name -> (module, class). Modules are imported on first use, so importing diffkit stays fast
# and a family that needs sympy costs nothing until it is asked for.
_METHODS: dict[str, tuple[str, str]] = {
    "auto": ("auto", "Auto"),
    "manual": ("manual", "Manual"),
    "forward-difference": ("numerical", "ForwardDifference"),
    "backward-difference": ("numerical", "BackwardDifference"),
    "central-difference": ("numerical", "CentralDifference"),
    "richardson": ("numerical", "Richardson"),
    "complex-step": ("complex_step", "ComplexStep"),
    "symbolic": ("symbolic", "Symbolic"),
    "reverse-mode": ("reverse", "ReverseMode"),
    "forward-mode": ("forward", "ForwardMode"),
    "reverse-compiled": ("compiled", "ReverseCompiled"),
}
METHOD_NAMES = tuple(_METHODS)

_CLASS_TO_MODULE = {cls: mod for mod, cls in _METHODS.values()}


@functools.cache
def _settings_of(cls: type[Method]) -> tuple[str, ...]:
    """The keyword-only settings of ``cls`` (inspect.signature is slow: once per class)."""
    params = inspect.signature(cls.__init__).parameters
    return tuple(p.name for p in params.values() if p.kind == p.KEYWORD_ONLY)


@functools.cache
def _load(name: str) -> type[Method] | None:
    mod, cls = _METHODS[name]
    try:
        module = importlib.import_module(f"{__name__}.{mod}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"{__name__}.{mod}"):
            return None  # the family is not built yet
        raise
    return getattr(module, cls, None)


def available() -> list[str]:
    """Names of the methods present in this installation, in the canonical order."""
    return [n for n in _METHODS if _load(n) is not None]


def concrete() -> list[str]:
    """:func:`available` without ``"auto"``, which only picks one of the others.

    What ``methods="all"`` means for side-by-side comparisons (compare, cost, the report).
    """
    return [n for n in available() if n != "auto"]


def get(method: Any = "auto", **settings: Any) -> Method:
    """Resolve a method name or object (with settings) into a :class:`Method` instance."""
    if isinstance(method, Method):
        if settings:
            raise UnknownMethodError(
                f"method={method!r} is already configured; pass settings to its constructor, "
                f"not as extra keywords ({', '.join(settings)})"
            )
        return method
    if isinstance(method, type) and issubclass(method, Method):
        return _construct(method, method.name, settings)
    if not isinstance(method, str) or method not in _METHODS:
        names = ", ".join(repr(n) for n in available())
        raise UnknownMethodError(
            f"method={method!r} is not a diffkit method; choose one of {names}, or pass a "
            f"method object such as dk.methods.CentralDifference(h=1e-6)"
        )
    cls = _load(method)
    if cls is None:
        raise UnknownMethodError(
            f"method={method!r} is not available in this installation; available: "
            f"{', '.join(repr(n) for n in available())}"
        )
    return _construct(cls, method, settings)


def _construct(cls: type[Method], name: str, settings: dict[str, Any]) -> Method:
    allowed = _settings_of(cls)
    unknown = [k for k in settings if k not in allowed]
    if unknown:
        from ..spec import _short_repr

        takes = ", ".join(allowed) if allowed else "no settings"
        value = settings[unknown[0]]
        data = "" if isinstance(value, (int, float, str, type(None))) else (
            f"; data for f go in args=(...) (after the point, in order) or kwargs={{...}} "
            f"(by name): gradient(f, x, args=({unknown[0]},))")
        raise UnknownMethodError(
            f"method={name!r} does not take setting {unknown[0]}={_short_repr(value)}; it "
            f"takes {takes}{data}"
        )
    return cls(**settings)


def __getattr__(attr: str) -> Any:
    """``dk.methods.CentralDifference`` and friends, imported on first use."""
    if attr in _CLASS_TO_MODULE:
        module = importlib.import_module(f"{__name__}.{_CLASS_TO_MODULE[attr]}")
        return getattr(module, attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
