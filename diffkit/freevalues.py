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
:data:`COPY_LIMIT` entries and :data:`COPY_BUDGET` in all; beyond, by identity, shape, dtype,
sum and an evenly spaced sample), other objects by identity. Not seen: values reached by
calling something (``get_params()``) or by a name the code does not spell
(``getattr(o, "w")``), objects without a ``__dict__`` (``__slots__``), containers beyond
:data:`ITEMS` entries changed inside, and in arrays beyond the budget a change that keeps the
sum and misses the sample.
"""

from __future__ import annotations

import functools
import math
import types
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["BYTES_LIMIT", "COPY_BUDGET", "COPY_LIMIT", "ITEMS", "compared_bitwise",
           "free_values", "free_values_unchanged"]

COPY_LIMIT = 1 << 20
"""Array entries copied to compare (beyond: identity, shape, dtype, sum and a sample)."""

ITEMS = 4096
"""Entries of one list, tuple or mapping followed (beyond: the container by identity and
length only)."""

BYTES_LIMIT = 1 << 15
"""Numeric arrays up to this many bytes are kept as their bytes and compared as bytes (a
tenth of an array comparison's cost at a thousand entries); larger ones as a copy."""

COPY_BUDGET = 1 << 22
"""Array entries one record copies in all (32 MB of float64); arrays beyond it are compared
like those beyond :data:`COPY_LIMIT`, by identity, shape, dtype, sum and a sample."""

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
    rec = _Recorder()
    rec.visit(fn, depth)
    return tuple(rec.out)


def compared_bitwise(fn: Any = None, entries: tuple[Entry, ...] | None = None,
                     depth: int = 3) -> frozenset[int]:
    """Ids of the arrays among ``fn``'s free values (or recorded in ``entries``) that
    :func:`free_values_unchanged` compares bit for bit: kept as their bytes, or as a copy of
    1-, 2-, 4- or 8-byte integers, floats or booleans (compared as unsigned integers). A
    change to any entry of one of them is seen. From ``fn``, nothing is copied or summed."""
    if entries is None:
        rec = _Recorder(snapshots=False)
        rec.visit(fn, depth)
        entries = tuple(rec.out)
    return frozenset(id(seen[1]) for _, _, seen in entries
                     if seen[0] == "b" or (seen[0] == "a" and seen[2].dtype.kind in "fiub"
                                           and seen[2].dtype.itemsize in (1, 2, 4, 8)))


def free_values_unchanged(entries: tuple[Entry, ...]) -> bool:
    """Whether every value :func:`free_values` recorded is as it was."""
    for holder, key, seen in entries:
        if not _unchanged(holder, key, seen):
            return False
    return True


# ============================================================================ recording


class _Recorder:
    """One record: the entries, the objects already followed, the copy budget left."""

    __slots__ = ("budget", "out", "seen", "snapshots")

    def __init__(self, snapshots: bool = True) -> None:
        self.out: list[Entry] = []
        self.seen: set[Any] = set()
        self.budget = COPY_BUDGET
        self.snapshots = snapshots  # False: the kinds only, no copy, bytes or sum (see
        # compared_bitwise; such entries are never compared)

    def visit(self, f: Any, depth: int) -> None:
        """The values one function reads."""
        if depth < 0 or id(f) in self.seen:
            return
        if isinstance(f, functools.partial):
            self.seen.add(id(f))
            self.record(f, _Attr("args"), f.args, (), depth - 1)
            self.record(f, _Attr("keywords"), f.keywords, (), depth - 1)
            self.visit(f.func, depth)
            return
        code = getattr(f, "__code__", None)
        call = None if code is not None or isinstance(f, (type, _MODULE)) else _static(
            type(f), "__call__")
        if getattr(call, "__code__", None) is not None:  # an object with __call__: a model
            f = f.__call__  # (its bound method: the code, and the instance's attributes)
            code = f.__code__
        if code is None or id(f) in self.seen:
            return
        self.seen.add(id(f))
        names = code.co_names  # (attribute names are among them: LOAD_ATTR reads co_names)
        owner = getattr(f, "__self__", None)  # a bound method's instance: self.w
        if owner is not None:
            self.attributes(owner, names, depth)
        function = getattr(f, "__func__", f)  # (a bound method's defaults are its function's)
        for attr in ("__defaults__", "__kwdefaults__"):
            value = getattr(function, attr, None)
            if value is not None:
                self.record(function, _Attr(attr), value, names, depth - 1)
        for cell in getattr(f, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell (a name assigned later)
                continue
            self.record(cell, _CELL, value, names, depth - 1)
        g = getattr(f, "__globals__", None)
        if g is None:
            return
        for name in names:
            if name in g:
                self.record(g, name, g[name], names, depth - 1)

    def record(self, holder: Any, key: Any, value: Any, names: tuple[str, ...], depth: int
               ) -> None:
        """Record ``value`` (read as ``holder[key]``, a cell's contents or an attribute),
        then what it leads to: a function's own reads, a container's entries, an object's
        attributes."""
        self.out.append((holder, key, self.snapshot(value)))
        if isinstance(value, _SCALARS) or value.__class__ is np.ndarray or depth < 0:
            return
        if isinstance(value, (list, tuple, Mapping)):
            if id(value) in self.seen or not len(value) or len(value) > ITEMS:
                return
            if all(isinstance(v, _SCALARS) for _, v in _items(value)):
                return  # (compared by value already)
            self.seen.add(id(value))
            for k, v in _items(value):
                self.record(value, k, v, names, depth - 1)
            return
        if getattr(value, "__code__", None) is not None or isinstance(value, functools.partial):
            self.visit(value, depth)
            return
        self.attributes(value, names, depth)

    def attributes(self, obj: Any, names: tuple[str, ...], depth: int) -> None:
        """The attributes among ``names`` of an object (its ``__dict__``: a changed, added or
        deleted one is seen; then its class's), of a class (along its MRO) or, data only, of
        a module. A method, classmethod, staticmethod or property found there is followed
        into its code, bound to the object (``model.forward(x)`` reading ``self.w``)."""
        key = (id(obj), names)  # (a method of an object met before reads other names)
        if depth < 0 or key in self.seen or isinstance(obj, _SCALARS):
            return
        self.seen.add(key)
        if isinstance(obj, type):
            for name in names:
                for k in obj.__mro__:
                    if name in k.__dict__:
                        self.member(k.__dict__, name, k.__dict__[name], obj, names, depth)
                        break
            return
        attrs = getattr(obj, "__dict__", None)
        module = isinstance(obj, _MODULE)
        for name in names:
            if attrs.__class__ is dict and name in attrs:
                value = attrs[name]
                if module and not (isinstance(value, _SCALARS) or isinstance(
                        value, (np.ndarray, list, tuple, Mapping))):
                    continue  # a module's functions, classes and submodules: np.sum stays
                self.record(attrs, name, value, names, depth - 1)
            elif not module:
                for k in type(obj).__mro__:  # a class attribute, read through the instance
                    if name in k.__dict__:
                        self.member(k.__dict__, name, k.__dict__[name], obj, names, depth)
                        break

    def member(self, holder: Any, name: str, value: Any, owner: Any, names: tuple[str, ...],
               depth: int) -> None:
        """A class's attribute ``name``: a function-like one followed into its code as
        ``owner`` would call it, a data one recorded."""
        if isinstance(value, staticmethod):
            self.visit(value.__func__, depth - 1)
        elif isinstance(value, classmethod):
            self.visit(types.MethodType(value.__func__, owner if isinstance(owner, type)
                                        else type(owner)), depth - 1)
        elif isinstance(value, property):
            if value.fget is not None and not isinstance(owner, type):
                self.visit(types.MethodType(value.fget, owner), depth - 1)
        elif isinstance(value, types.FunctionType):
            if not isinstance(owner, type):
                self.visit(types.MethodType(value, owner), depth - 1)
        else:
            self.record(holder, name, value, names, depth - 1)

    def snapshot(self, value: Any) -> Any:
        if isinstance(value, _SCALARS):
            return ("=", value)
        if value.__class__ is np.ndarray:
            if value.nbytes <= BYTES_LIMIT and value.dtype.kind in "fiubc":
                self.budget -= value.size  # (compared as bytes: a copy and one memcmp)
                return ("b", value, value.shape, value.dtype,
                        value.tobytes() if self.snapshots else None)
            if value.size <= COPY_LIMIT and value.size <= self.budget:
                self.budget -= value.size
                return ("a", value, value.copy() if self.snapshots else value)
            return ("A", value, value.shape, value.dtype,
                    _checksum(value) if self.snapshots else None)
        if isinstance(value, (list, tuple, Mapping)):
            if all(isinstance(v, _SCALARS) for _, v in _items(value)):
                copy = value if isinstance(value, tuple) else (
                    dict(value) if isinstance(value, Mapping) else list(value))
                zeros = tuple((k, math.copysign(1.0, v)) for k, v in _items(value)
                              if isinstance(v, (float, np.floating)) and v == 0)
                return ("c", value, copy, zeros)  # (== cannot tell 0.0 from -0.0)
            return ("n", value, len(value))  # its entries are recorded one by one
        return ("o", value)


def _static(cls: type, name: str) -> Any:
    """``name`` looked up along ``cls``'s MRO without running a descriptor."""
    return next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None)


def _items(value: Any) -> Any:
    return value.items() if isinstance(value, Mapping) else enumerate(value)


SAMPLE = 1 << 12
"""Entries of an array beyond the copy budget kept (evenly spaced) besides its sum."""


def _checksum(a: np.ndarray) -> Any:
    """An array beyond the copy budget: its sum (one pass: any single changed entry moves it)
    and :data:`SAMPLE` evenly spaced entries as they are (two swapped entries, if one is
    among them)."""
    try:
        flat = a.reshape(-1)
        with np.errstate(all="ignore"):
            total = np.add.reduce(flat.astype(np.complex128 if a.dtype.kind == "c"
                                              else np.float64, copy=False), None)
        return total, flat[::max(1, flat.size // SAMPLE)].tobytes()
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
        if value.__class__ is not old.__class__:
            return False
        if value == old:  # (0.0 == -0.0: the sign of a zero is a different value)
            return value != 0 or not isinstance(value, (float, np.floating)) or \
                math.copysign(1.0, value) == math.copysign(1.0, old)
        return value != value and old != old  # NaN is NaN
    if value is not seen[1]:
        return False
    if kind == "b":
        return value.shape == seen[2] and value.dtype == seen[3] and value.tobytes() == seen[4]
    if kind == "a":
        copy = seen[2]
        if value.shape != copy.shape or value.dtype != copy.dtype:
            return False
        if value.dtype.itemsize in (1, 2, 4, 8) and value.dtype.kind in "fiub":
            # the bits, as unsigned integers: one comparison pass, NaN equal to itself and
            # -0.0 not equal to 0.0 (a strided array: a contiguous copy first)
            bits = np.dtype(f"u{value.dtype.itemsize}")
            here = value if value.flags.c_contiguous else np.ascontiguousarray(value)
            return bool(np.array_equal(here.view(bits), copy.view(bits)))
        return bool(np.array_equal(value, copy, equal_nan=value.dtype.kind in "fc"))
    if kind == "A":
        if value.shape != seen[2] or value.dtype != seen[3]:
            return False
        now, old = _checksum(value), seen[4]
        if now is None or old is None:
            return now is old
        return (now[0] == old[0] or (now[0] != now[0] and old[0] != old[0])) \
            and now[1] == old[1]
    if kind == "c":
        return bool(value == seen[2]) and all(
            math.copysign(1.0, value[k]) == sign for k, sign in seen[3])
    if kind == "n":
        return len(value) == seen[2]
    return True
