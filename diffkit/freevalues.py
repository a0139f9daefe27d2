"""What a function reads from outside its arguments, recorded so that a change is seen.

A compiled program (``method="reverse-compiled"``) and a symbolic trace hold the values ``f``
read from its closure, its globals, its defaults and the objects it reaches through them as
constants: ``lam`` in ``lambda w: lam * sum(w**2)``, ``model.w`` in a method, ``params["W"]``
in a training loss. :func:`free_values` records them as they are when the program is written;
:func:`free_values_unchanged` says, on every later call, whether each is still what it was
(another number, another object, an array or a list changed in place, an attribute set, a
default replaced): if not, the program is written again.

What is followed, from ``f`` (``depth`` levels, helpers ``f`` calls included):

- closure cells and the globals its code names (``co_names``);
- its defaults (``__defaults__``, ``__kwdefaults__``) and, for a ``functools.partial``, the
  bound arguments;
- the entries of lists, tuples and dicts among them (up to :data:`ITEMS` per container);
- the attributes its code names of the objects among them (``self.w`` of a bound method,
  ``model.layer.k``, ``Cfg.scale`` of a class), and the data attributes (numbers, arrays,
  containers) its code names of modules (``cfg.k``, ``np.pi``).

Numbers and strings are compared by value, arrays by content (their bits, up to
:data:`COPY_LIMIT` entries; beyond it by identity, shape, dtype, sum and position-weighted
sum), other objects by identity. Not followed: values reached by calling something
(``get_params()``), objects without a ``__dict__`` (``__slots__``), and in arrays beyond the
copy limit a change that keeps both sums.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

__all__ = ["COPY_LIMIT", "ITEMS", "free_values", "free_values_unchanged"]

COPY_LIMIT = 1 << 20
"""Array entries copied to compare (beyond: identity, shape, dtype and two sums)."""

ITEMS = 256
"""Entries of one list, tuple or dict followed (beyond: the container by identity only)."""

_SCALARS = (float, int, bool, complex, str, bytes, type(None), np.generic)
_MODULE = type(math)


class _Cell:
    """The key of a closure cell's contents (the holder is the cell)."""

    __slots__ = ()


class _Attr:
    """The key of an attribute read with ``getattr`` (``__defaults__``, a partial's args)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


_CELL = _Cell()
Entry = tuple[Any, Any, Any]  # (holder, key, snapshot)


def free_values(fn: Any, depth: int = 3) -> tuple[Entry, ...]:
    """What ``fn`` reads from outside its arguments, as it is now (see the module)."""
    out: list[Entry] = []
    _visit(fn, depth, out, set())
    return tuple(out)


def free_values_unchanged(entries: tuple[Entry, ...]) -> bool:
    """Whether every value :func:`free_values` recorded is as it was."""
    for holder, key, seen in entries:
        if not _unchanged(holder, key, seen):
            return False
    return True


# ============================================================================ recording


def _visit(f: Any, depth: int, out: list[Entry], seen: set[int]) -> None:
    """The values one function reads (a module-level recursion: a nested one would be a
    reference cycle of its own, made on every compile)."""
    if depth < 0 or id(f) in seen:
        return
    if isinstance(f, functools.partial):
        seen.add(id(f))
        _record(f, _Attr("args"), f.args, (), depth - 1, out, seen)
        _record(f, _Attr("keywords"), f.keywords, (), depth - 1, out, seen)
        _visit(f.func, depth, out, seen)
        return
    code = getattr(f, "__code__", None)
    call = None if code is not None or isinstance(f, (type, _MODULE)) else next(
        (k.__dict__["__call__"] for k in type(f).__mro__ if "__call__" in k.__dict__), None)
    if getattr(call, "__code__", None) is not None:  # an object with __call__: a model
        f = f.__call__  # (its bound method: the code, and the instance's attributes)
        code = f.__code__
    if code is None or id(f) in seen:
        return
    seen.add(id(f))
    names = code.co_names  # (attribute names are among them: LOAD_ATTR reads co_names)
    owner = getattr(f, "__self__", None)  # a bound method's instance: self.w
    if owner is not None:
        _attributes(owner, names, depth, out, seen)
    function = getattr(f, "__func__", f)  # (a bound method's defaults are its function's)
    for attr in ("__defaults__", "__kwdefaults__"):
        value = getattr(function, attr, None)
        if value is not None:
            _record(function, _Attr(attr), value, names, depth - 1, out, seen)
    for cell in getattr(f, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell (a name assigned later)
            continue
        _record(cell, _CELL, value, names, depth - 1, out, seen)
    g = getattr(f, "__globals__", None)
    if g is None:
        return
    for name in names:
        if name in g:
            _record(g, name, g[name], names, depth - 1, out, seen)


def _record(holder: Any, key: Any, value: Any, names: tuple[str, ...], depth: int,
            out: list[Entry], seen: set[int]) -> None:
    """Record ``value`` (read as ``holder[key]``, a cell's contents or an attribute), then
    what it leads to: a function's own reads, a container's entries, an object's attributes."""
    out.append((holder, key, _snapshot(value)))
    if isinstance(value, _SCALARS) or value.__class__ is np.ndarray or depth < 0:
        return
    cls = value.__class__
    if cls is list or cls is tuple or cls is dict:
        if id(value) in seen or not len(value) or len(value) > ITEMS:
            return
        items = value.items() if cls is dict else enumerate(value)
        if all(isinstance(v, _SCALARS) for _, v in items):
            return  # (compared by value already)
        seen.add(id(value))
        for k, v in (value.items() if cls is dict else enumerate(value)):
            _record(value, k, v, names, depth - 1, out, seen)
        return
    if getattr(value, "__code__", None) is not None or isinstance(value, functools.partial):
        _visit(value, depth, out, seen)
        return
    _attributes(value, names, depth, out, seen)


def _attributes(obj: Any, names: tuple[str, ...], depth: int, out: list[Entry],
                seen: set[int]) -> None:
    """The attributes among ``names`` of an object (its ``__dict__``: a changed, added or
    deleted one is seen), of a class (along its MRO) or, data only, of a module."""
    if depth < 0 or id(obj) in seen or isinstance(obj, _SCALARS):
        return
    if isinstance(obj, type):
        seen.add(id(obj))
        for name in names:
            for k in obj.__mro__:
                if name in k.__dict__:
                    _record(k.__dict__, name, k.__dict__[name], names, depth - 1, out, seen)
                    break
        return
    attrs = getattr(obj, "__dict__", None)
    if attrs.__class__ is not dict:
        return
    seen.add(id(obj))
    module = isinstance(obj, _MODULE)
    for name in names:
        if name in attrs:
            value = attrs[name]
            if module and not (isinstance(value, _SCALARS) or value.__class__ in (
                    np.ndarray, list, tuple, dict)):
                continue  # a module's functions, classes and submodules: np.sum stays np.sum
            _record(attrs, name, value, names, depth - 1, out, seen)


def _snapshot(value: Any) -> Any:
    if isinstance(value, _SCALARS):
        return ("=", value)
    if value.__class__ is np.ndarray:
        if value.size <= COPY_LIMIT:
            return ("a", value, value.copy())
        return ("A", value, value.shape, value.dtype, _checksum(value))
    if value.__class__ in (list, tuple, dict):
        items = value.items() if value.__class__ is dict else enumerate(value)
        if all(isinstance(v, _SCALARS) for _, v in items):
            return ("c", value, value.copy() if value.__class__ is not tuple else value)
        return ("n", value, len(value))  # its entries are recorded one by one
    return ("o", value)


def _checksum(a: np.ndarray) -> Any:
    """The sum of an array beyond the copy limit and its sum weighted by position (1, 2, 3,
    ...): a change that keeps the sum (two entries swapped) moves the second."""
    try:
        with np.errstate(all="ignore"):
            flat = a.ravel().astype(np.complex128 if a.dtype.kind == "c" else np.float64,
                                    copy=False)
            return (np.add.reduce(flat, None),
                    np.dot(flat, np.arange(1.0, flat.size + 1.0)))
    except (TypeError, ValueError):  # object arrays and the like: identity only
        return None


# ============================================================================ comparing


def _unchanged(holder: Any, key: Any, seen: Any) -> bool:
    try:
        if key is _CELL:
            value = holder.cell_contents
        elif key.__class__ is _Attr:
            value = getattr(holder, key.name)
        else:
            value = holder[key]
    except (KeyError, IndexError, ValueError, AttributeError, TypeError):
        return False
    kind = seen[0]
    if kind == "=":
        old = seen[1]
        return value.__class__ is old.__class__ and (value == old or (value != value
                                                                      and old != old))
    if value is not seen[1]:
        return False
    if kind == "a":
        copy = seen[2]
        if value.shape != copy.shape or value.dtype != copy.dtype:
            return False
        if value.flags.c_contiguous and value.dtype.itemsize in (1, 2, 4, 8) \
                and value.dtype.kind in "fiub":
            # the bits, as unsigned integers: one comparison pass, NaN equal to itself
            bits = np.dtype(f"u{value.dtype.itemsize}")
            return bool(np.array_equal(value.view(bits), copy.view(bits)))
        return bool(np.array_equal(value, copy, equal_nan=value.dtype.kind in "fc"))
    if kind == "A":
        if value.shape != seen[2] or value.dtype != seen[3]:
            return False
        total, old = _checksum(value), seen[4]
        return total is None or old is None or all(
            t == o or (t != t and o != o) for t, o in zip(total, old, strict=True))
    if kind == "c":
        return value == seen[2]
    if kind == "n":
        return len(value) == seen[2]
    return True
