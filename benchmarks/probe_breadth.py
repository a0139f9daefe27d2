"""Breadth probe: which plain-numpy/scipy functions every method differentiates correctly.

About 240 small functions drawn from the surface that autograd's own tests exercise
(``tests/test_systematic.py``, ``test_numpy.py``, ``test_linalg.py``, ``test_scipy.py``):
elementwise ufuncs, reductions and statistics, shapes and indexing, ndarray methods,
contractions, ``numpy.linalg``, ``scipy.special``, ``scipy.stats.norm`` and a few realistic
losses. Each is written the way people write numpy (``np.sin(x)``, ``np.linalg.solve(A, b)``,
``x.std()``; never ``diffkit.numpy``) as ``f(x)`` of one array, at a point inside its domain,
away from ties and kinks.

Each (probe, method) is called through ``dk.gradient`` (scalar output) or ``dk.jacobian`` and
classified as

- ``pass``: relative error (max-abs, over ``max(|ref|, 1e-8)``) <= 1e-6 (AD, symbolic,
  complex step, Richardson) or <= 1e-4 (central/forward/backward differences);
- ``wrong``: a finite number beyond that, a non-finite number or a wrong shape (the worst);
- ``refused``: a ``dk.DiffkitError`` subclass (class and message recorded);
- ``raw``: any other exception escaping diffkit (type, message and the innermost traceback
  frame inside ``diffkit/``);
- ``timeout``: no answer within ``--timeout`` seconds;
- ``unchecked``: a number, but the probe has no trustworthy reference.

The reference is ``dk.jacobian(f, x, method="richardson")``, accepted only when an independent
plain-numpy order-8 central difference (Fornberg weights, h = 1e-3 * max(1, |x_j|)) agrees
with it to 1e-7 relative. Probes without a trustworthy reference are listed separately (so the
``richardson`` column only shows that Richardson answers: where it answers wrongly, the probe
has no reference). Some probes carry a closed-form derivative too; the reference is checked
against it and any mismatch is reported (a check of this instrument, not of diffkit).

    python benchmarks/probe_breadth.py
    python benchmarks/probe_breadth.py --methods reverse-mode,forward-mode --only linalg
    python benchmarks/probe_breadth.py --markdown breadth.md --json breadth.json
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import collections
import json
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.special as sps
from scipy.stats import norm as snorm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import diffkit as dk

DIFFKIT_DIR = (REPO / "diffkit").resolve()
DEFAULT_METHODS = ("reverse-mode", "forward-mode", "symbolic", "complex-step",
                   "central-difference", "richardson")
FD_METHODS = frozenset({"central-difference", "forward-difference", "backward-difference"})
TOL_EXACT, TOL_FD, TOL_REFERENCE = 1e-6, 1e-4, 1e-7
CLASSES = ("pass", "wrong", "refused", "raw", "timeout", "unchecked")


# ============================================================================ probes
@dataclass
class Probe:
    family: str
    name: str
    f: Callable[[np.ndarray], Any]
    x0: np.ndarray
    exact: Callable[[np.ndarray], np.ndarray] | None = None  # closed form, (m, n) or grad
    scalar: bool = False  # set from f(x0): gradient if the output is 0-d, else jacobian

    @property
    def label(self) -> str:
        return f"{self.family}/{self.name}"


PROBES: list[Probe] = []


def add(family: str, name: str, f: Callable[[np.ndarray], Any], x0: Any,
        exact: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
    PROBES.append(Probe(family, name, f, np.array(x0, dtype=float), exact))


# points: inside every domain, entries distinct (no ties for max/sort/abs), away from
# integers (floor, round, mod) by far more than any finite-difference stencil reaches
V3 = [0.3, -0.7, 1.2]
P3 = [0.4, 0.9, 1.7]  # positive
U3 = [0.2, -0.5, 0.7]  # inside (-1, 1)
G3 = [1.3, 2.1, 3.4]  # above 1
V5 = [0.3, -0.7, 1.2, 0.5, -1.6]
V6 = [0.3, -0.7, 1.2, 0.5, 1.1, -0.45]  # binary ops: a = x[:3], b = x[3:]
P6 = [0.4, 0.9, 1.7, 1.3, 0.6, 2.2]
M9 = [0.9, -0.3, 0.2, 0.4, 1.1, -0.5, -0.2, 0.6, 1.45]  # a 3x3 matrix, distinct everything
M6 = [0.9, -0.3, 0.4, 1.1, -0.2, 0.6]  # 3x2 (tall) or 2x3 (wide)
T24 = [round(1.5 * np.sin(1.7 * k + 0.3), 3) for k in range(24)]  # (2, 3, 4)
B18 = [*M9, 0.5, 0.1, -0.4, 0.3, -0.8, 0.2, 0.7, -0.1, 0.6]  # a stack of two 3x3

_rng = np.random.default_rng(7)
C3 = np.array([0.5, -1.2, 0.8])
C33 = np.array([[1.0, 0.4, -0.3], [0.2, -0.6, 0.9], [-0.7, 0.5, 0.1]])
CB = np.array([[0.4, -1.0], [0.3, 0.8], [-0.6, 0.2]])  # 3x2 right-hand side
CB2 = _rng.normal(size=(2, 3, 2))
W3 = np.array([0.2, 0.5, 0.3])
X54 = _rng.normal(size=(5, 4))
Y5 = _rng.normal(size=5)
LABELS = np.array([0, 2, 1, 2, 0])
SIGNS5 = np.array([1.0, -1.0, -1.0, 1.0, 1.0])
A53 = _rng.normal(size=(5, 3))
DATA43 = _rng.normal(size=(4, 3))
TAKE_IDX = np.array([2, 0, 2, 1])
ORDER33 = np.argsort(np.array(M9).reshape(3, 3), axis=1)
EYE3 = np.eye(3)


def _m(x: Any) -> Any:
    return x.reshape(3, 3)


def _spd(x: Any) -> Any:
    a = x.reshape(3, 3)
    return a @ a.T + 3 * np.eye(3)


def _sym(x: Any) -> Any:
    a = x.reshape(3, 3)
    return (a + a.T) / 2


def _ab(x: Any) -> tuple[Any, Any]:
    return x[:3], x[3:]


def _diag(v: np.ndarray) -> np.ndarray:
    return np.diag(np.asarray(v, dtype=float).ravel())


# ---------------------------------------------------------------- elementwise, unary
def _unary(name: str, f: Callable[[Any], Any], x0: Any,
           d: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
    add("elementwise", name, f, x0, (lambda x: _diag(d(x))) if d is not None else None)


_unary("sin", lambda x: np.sin(x), V3, np.cos)
_unary("cos", lambda x: np.cos(x), V3, lambda x: -np.sin(x))
_unary("tan", lambda x: np.tan(x), V3)
_unary("arcsin", lambda x: np.arcsin(x), U3)
_unary("arccos", lambda x: np.arccos(x), U3)
_unary("arctan", lambda x: np.arctan(x), V3)
_unary("sinh", lambda x: np.sinh(x), V3)
_unary("cosh", lambda x: np.cosh(x), V3)
_unary("tanh", lambda x: np.tanh(x), V3)
_unary("arcsinh", lambda x: np.arcsinh(x), V3, lambda x: 1 / np.sqrt(x * x + 1))
_unary("arccosh", lambda x: np.arccosh(x), G3, lambda x: 1 / np.sqrt(x * x - 1))
_unary("arctanh", lambda x: np.arctanh(x), U3, lambda x: 1 / (1 - x * x))
_unary("exp", lambda x: np.exp(x), V3)
_unary("expm1", lambda x: np.expm1(x), V3)
_unary("exp2", lambda x: np.exp2(x), V3, lambda x: np.log(2) * 2.0**x)
_unary("log", lambda x: np.log(x), P3)
_unary("log1p", lambda x: np.log1p(x), P3)
_unary("log2", lambda x: np.log2(x), P3)
_unary("log10", lambda x: np.log10(x), P3, lambda x: 1 / (x * np.log(10)))
_unary("sqrt", lambda x: np.sqrt(x), P3)
_unary("cbrt", lambda x: np.cbrt(x), V3, lambda x: 1 / (3 * np.cbrt(x) ** 2))
_unary("square", lambda x: np.square(x), V3)
_unary("negative", lambda x: np.negative(x), V3)
_unary("sign", lambda x: np.sign(x) * x, V3)
_unary("reciprocal", lambda x: np.reciprocal(x), V3, lambda x: -1 / x**2)
_unary("abs", lambda x: np.abs(x), V3, np.sign)
_unary("fabs", lambda x: np.fabs(x), V3)
_unary("deg2rad", lambda x: np.deg2rad(x), V3)
_unary("radians", lambda x: np.radians(x), V3)
_unary("rad2deg", lambda x: np.rad2deg(x), V3)
_unary("degrees", lambda x: np.degrees(x), V3)
_unary("floor", lambda x: np.floor(x) + x, V3)
_unary("ceil", lambda x: np.ceil(x) * x, V3)
_unary("trunc", lambda x: np.trunc(x) + x, V3)
_unary("rint", lambda x: np.rint(x) + x, V3)
_unary("round", lambda x: np.round(x) + x, V3)
_unary("sinc", lambda x: np.sinc(x), V3,
       lambda x: (np.cos(np.pi * x) * np.pi * x - np.sin(np.pi * x)) / (np.pi * x**2))
_unary("real", lambda x: np.real(x), V3)
_unary("imag", lambda x: np.imag(x) + x, V3)
_unary("conj", lambda x: np.conj(x), V3)
_unary("nan_to_num", lambda x: np.nan_to_num(x), V3)
_unary("clip", lambda x: np.clip(x, -0.5, 1.0), V3)
_unary("operators", lambda x: (2 * x + 1) / (x - 3) ** 2 - x**3 + 1 / x, V3)


# ---------------------------------------------------------------- elementwise, binary
def _binary(name: str, f: Callable[[Any, Any], Any], x0: Any = V6) -> None:
    add("binary", name, lambda x: f(*_ab(x)), x0)


_binary("add", np.add)
_binary("subtract", np.subtract)
_binary("multiply", np.multiply)
_binary("divide", np.divide)
_binary("power", np.power, P6)
_binary("maximum", np.maximum)
_binary("minimum", np.minimum)
_binary("fmax", np.fmax)
_binary("fmin", np.fmin)
_binary("arctan2", np.arctan2)
_binary("hypot", np.hypot)
_binary("logaddexp", np.logaddexp)
_binary("logaddexp2", np.logaddexp2)
_binary("mod", np.mod)
_binary("remainder", np.remainder)
_binary("fmod", np.fmod)
_binary("operator %", lambda a, b: a % b)
_binary("copysign", np.copysign)
_binary("where(a > b, a, b)", lambda a, b: np.where(a > b, a * b, a - b))


# ---------------------------------------------------------------- reductions and statistics
def _red(name: str, f: Callable[[Any], Any], x0: Any = M9,
         exact: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
    add("reduction", name, f, x0, exact)


_red("sum(axis=(0,2), keepdims)", lambda x: np.sum(x.reshape(2, 3, 4), axis=(0, 2),
                                                   keepdims=True), T24)
_red("mean", lambda x: np.mean(np.sin(x)))
_red("prod", lambda x: np.prod(x), P6)
_red("max", lambda x: np.max(x))
_red("max(axis=1, keepdims)", lambda x: np.max(_m(x), axis=1, keepdims=True))
_red("amax", lambda x: np.amax(x))
_red("amin", lambda x: np.amin(x))
_red("var", lambda x: np.var(x), V5, lambda x: 2 * (x - x.mean()) / x.size)
_red("var(ddof=1)", lambda x: np.var(x, ddof=1), V5)
_red("var(axis=1, ddof=1, keepdims)", lambda x: np.var(_m(x), axis=1, ddof=1, keepdims=True))
_red("std", lambda x: np.std(x), V5)
_red("std(ddof=1)", lambda x: np.std(x, ddof=1), V5,
     lambda x: (x - x.mean()) / ((x.size - 1) * np.std(x, ddof=1)))
_red("std(axis=-1, keepdims)", lambda x: np.std(x.reshape(2, 3, 4), axis=-1, keepdims=True),
     T24)
_red("average(weights)", lambda x: np.average(x, weights=W3), V3)
_red("cumsum", lambda x: np.cumsum(x), V5, lambda x: np.tril(np.ones((x.size, x.size))))
_red("cumprod", lambda x: np.cumprod(x), V5)
_red("median (odd)", lambda x: np.median(x), V5)
_red("ptp", lambda x: np.ptp(x), V5)
_red("trace", lambda x: np.trace(_m(x)), M9, lambda x: np.eye(3).ravel())
_red("nansum", lambda x: np.nansum(x**2), V5)
_red("nanmean", lambda x: np.nanmean(x**2), V5)
_red("norm(v)", lambda x: np.linalg.norm(x), V5, lambda x: x / np.sqrt(np.sum(x * x)))
for _ord in (1, 2, np.inf, -np.inf, 3):
    _red(f"norm(v, ord={_ord})", lambda x, o=_ord: np.linalg.norm(x, ord=o), V5,
         (lambda x: np.sign(x)) if _ord == 1 else None)
for _ord in ("fro", "nuc", 1, 2, np.inf, -np.inf):
    _red(f"norm(A, ord={_ord!r})", lambda x, o=_ord: np.linalg.norm(_m(x), ord=o))
_red("norm(A, axis=1)", lambda x: np.linalg.norm(_m(x), axis=1))
_red("norm(A, axis=(0,1))", lambda x: np.linalg.norm(_m(x), axis=(0, 1)))


# ---------------------------------------------------------------- shapes and indexing
def _shape(name: str, f: Callable[[Any], Any], x0: Any = M9) -> None:
    add("shape", name, f, x0)


_shape("squeeze", lambda x: np.squeeze(x.reshape(1, 3, 1, 3), axis=2), M9)
_shape("swapaxes", lambda x: np.swapaxes(x.reshape(2, 3, 4), 0, 2), T24)
_shape("moveaxis", lambda x: np.moveaxis(x.reshape(2, 3, 4), 0, -1), T24)
_shape("stack", lambda x: np.stack([x, x**2], axis=1), V3)
_shape("concatenate", lambda x: np.concatenate([x, 2 * x[:2]]), V3)
_shape("vstack", lambda x: np.vstack([x, x**2]), V3)
_shape("hstack", lambda x: np.hstack([x, x**2]), V3)
_shape("dstack", lambda x: np.dstack([x, x**2]), V3)
_shape("column_stack", lambda x: np.column_stack([x, x**2]), V3)
_shape("append", lambda x: np.append(x, x[:2] ** 2), V3)
_shape("split", lambda x: (lambda p: p[0] * p[1] - p[2])(np.split(x, 3)), M9)
_shape("array_split", lambda x: (lambda p: np.sum(p[0]) * p[1])(np.array_split(x, 2)), V5)
_shape("repeat", lambda x: np.repeat(x, 2), V3)
_shape("tile", lambda x: np.tile(x, (2, 2)), V3)
_shape("roll", lambda x: np.roll(x, 2), V5)
_shape("flip", lambda x: np.flip(x.reshape(2, 3, 4), axis=(0, 2)), T24)
_shape("fliplr", lambda x: np.fliplr(_m(x)))
_shape("flipud", lambda x: np.flipud(_m(x)))
_shape("rot90", lambda x: np.rot90(_m(x)))
_shape("diff", lambda x: np.diff(x), V5)
_shape("diff(n=2, axis=0)", lambda x: np.diff(x.reshape(2, 3, 4), n=2, axis=2), T24)
_shape("pad(constant)", lambda x: np.pad(x, (1, 2)), V3)
_shape("pad(edge)", lambda x: np.pad(_m(x), 1, mode="edge"))
_shape("pad(reflect)", lambda x: np.pad(x, 2, mode="reflect"), V5)
_shape("sort", lambda x: np.sort(x), V5)
_shape("x[argsort(x)]", lambda x: x[np.argsort(x)], V5)
_shape("partition", lambda x: (lambda p: p[2] + np.sum(p[:2] ** 2))(np.partition(x, 2)), V5)
_shape("take", lambda x: np.take(x, TAKE_IDX), V3)
_shape("take_along_axis", lambda x: np.take_along_axis(_m(x), ORDER33, axis=1))
_shape("diag(v)", lambda x: np.diag(x), V3)
_shape("diag(A)", lambda x: np.diag(_m(x)))
_shape("diagonal(offset=-1)", lambda x: np.diagonal(_m(x), offset=-1))
_shape("tril", lambda x: np.tril(_m(x)))
_shape("triu(k=1)", lambda x: np.triu(_m(x), k=1))
_shape("atleast_1d", lambda x: np.atleast_1d(x[0] * x[1]), V3)
_shape("atleast_2d", lambda x: np.atleast_2d(x), V3)
_shape("atleast_3d", lambda x: np.atleast_3d(_m(x)))
_shape("x[[0, 2, 0]]", lambda x: x[[0, 2, 0]], V3)
_shape("x[x > 0]", lambda x: np.sum(x[x > 0] ** 2), V5)
_shape("np.array([..])", lambda x: np.array([x[0] * x[1], x[2]]), V3)


# ---------------------------------------------------------------- ndarray methods
def _meth(name: str, f: Callable[[Any], Any], x0: Any = M9) -> None:
    add("method", name, f, x0)


_meth(".sum(axis=0)", lambda x: _m(x).sum(axis=0))
_meth(".mean()", lambda x: (x**2).mean())
_meth(".std()", lambda x: x.std(), V5)
_meth(".var(ddof=1)", lambda x: x.var(ddof=1), V5)
_meth(".max()", lambda x: x.max())
_meth(".min(axis=1)", lambda x: _m(x).min(axis=1))
_meth(".prod()", lambda x: x.prod(), P6)
_meth(".cumsum()", lambda x: x.cumsum(), V5)
_meth(".clip(-0.5, 1)", lambda x: x.clip(-0.5, 1.0), V5)
_meth(".dot()", lambda x: _m(x).dot(C3))
_meth(".reshape(3, 3)", lambda x: x.reshape(3, 3) @ C3)
_meth(".ravel()", lambda x: _m(x).T.ravel())
_meth(".flatten()", lambda x: _m(x).T.flatten())
_meth(".transpose(1, 0)", lambda x: _m(x).transpose(1, 0) @ C3)
_meth(".T", lambda x: _m(x).T @ C3)
_meth(".squeeze()", lambda x: x.reshape(1, 3).squeeze() ** 2, V3)
_meth(".astype(float)", lambda x: np.sin(x.astype(float)), V3)
_meth(".copy()", lambda x: x.copy() * x, V3)
_meth(".item()", lambda x: np.sin(x[1:2]).item(), V3)


# ---------------------------------------------------------------- contractions
def _con(name: str, f: Callable[[Any], Any], x0: Any = M9) -> None:
    add("contraction", name, f, x0)


_con("dot(v, v)", lambda x: np.dot(x[:3], x[3:]), V6)
_con("matmul(A, B)", lambda x: np.matmul(_m(x), C33))
_con("@ batched", lambda x: x.reshape(2, 3, 3) @ C33, B18)
_con("inner", lambda x: np.inner(_m(x), C33))
_con("vdot", lambda x: np.vdot(x[:3], x[3:]), V6)
_con("outer", lambda x: np.outer(x, C3), V3)
_con("kron", lambda x: np.kron(x.reshape(2, 3), np.array([[1.0, -2.0], [0.5, 3.0]])), M6)
_con("tensordot(axes=1)", lambda x: np.tensordot(_m(x), C33, axes=1))
_con("tensordot(axes=([0],[1]))", lambda x: np.tensordot(x.reshape(2, 3, 4), C33[:, :2],
                                                         axes=([0], [1])), T24)
_con("einsum ij,jk->ik", lambda x: np.einsum("ij,jk->ik", _m(x), C33))
_con("einsum ii-> (trace)", lambda x: np.einsum("ii->", _m(x)))
_con("einsum ii->i (diag)", lambda x: np.einsum("ii->i", _m(x)))
_con("einsum ij,ij (implicit)", lambda x: np.einsum("ij,ij", _m(x), _m(x)))
_con("einsum ij,jk (implicit)", lambda x: np.einsum("ij,jk", _m(x), C33))
_con("einsum ...ij,jk->...ik", lambda x: np.einsum("...ij,jk->...ik", x.reshape(2, 3, 4),
                                                   np.ones((4, 2))), T24)
_con("cross", lambda x: np.cross(x[:3], x[3:]), V6)
_con("cross (stack, axis=0)", lambda x: np.cross(x.reshape(3, 2), CB, axis=0), M6)
_con("multi_dot", lambda x: np.linalg.multi_dot([_m(x), C33, _m(x)]))


# ---------------------------------------------------------------- numpy.linalg
def _lin(name: str, f: Callable[[Any], Any], x0: Any = M9,
         exact: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
    add("linalg", name, f, x0, exact)


def _inv_jac(x: np.ndarray) -> np.ndarray:
    y = np.linalg.inv(x.reshape(3, 3))
    return -np.einsum("ik,lj->ijkl", y, y).reshape(9, 9)


def _eigvalsh_jac(x: np.ndarray) -> np.ndarray:
    _, v = np.linalg.eigh(_sym(x))
    return np.einsum("ki,li->ikl", v, v).reshape(3, 9)


_lin("inv", lambda x: np.linalg.inv(_m(x)), M9, _inv_jac)
_lin("inv (batched)", lambda x: np.linalg.inv(x.reshape(2, 3, 3)), B18)
_lin("solve(A, b)", lambda x: np.linalg.solve(_m(x), C3))
_lin("solve(A, B)", lambda x: np.linalg.solve(_m(x), CB))
_lin("solve(C, b(x))", lambda x: np.linalg.solve(C33, x), V3)
_lin("solve (batched)", lambda x: np.linalg.solve(x.reshape(2, 3, 3), CB2), B18)
_lin("det", lambda x: np.linalg.det(_m(x)), M9,
     lambda x: np.linalg.det(_m(x)) * np.linalg.inv(_m(x)).T.ravel())
_lin("slogdet", lambda x: np.linalg.slogdet(_m(x))[1], M9,
     lambda x: np.linalg.inv(_m(x)).T.ravel())
_lin("slogdet (unpacked)", lambda x: (lambda s, ld: s * ld)(*np.linalg.slogdet(_spd(x))))
_lin("cholesky", lambda x: np.linalg.cholesky(_spd(x)))
_lin("eigh values", lambda x: np.linalg.eigh(_sym(x))[0])
_lin("eigh vectors (squared)", lambda x: np.linalg.eigh(_sym(x))[1] ** 2)
_lin("eigvalsh", lambda x: np.linalg.eigvalsh(_sym(x)), M9, _eigvalsh_jac)
_lin("svd(compute_uv=False)", lambda x: np.linalg.svd(_m(x), compute_uv=False))
_lin("svd s", lambda x: np.linalg.svd(x.reshape(2, 3), full_matrices=False)[1], M6)
_lin("svd u0 vt0 (outer)", lambda x: (lambda u, s, vt: np.outer(u[:, 0], vt[0]))(
    *np.linalg.svd(_m(x))))
_lin("pinv (tall)", lambda x: np.linalg.pinv(x.reshape(3, 2)), M6)
_lin("matrix_power(A, 3)", lambda x: np.linalg.matrix_power(_m(x), 3))
_lin("qr Q", lambda x: np.linalg.qr(_m(x))[0])
_lin("qr R", lambda x: np.linalg.qr(x.reshape(3, 2))[1], M6)
_lin("lstsq", lambda x: np.linalg.lstsq(x.reshape(3, 2), C3, rcond=None)[0], M6)


# ---------------------------------------------------------------- scipy.special
def _sp(name: str, f: Callable[[Any], Any], x0: Any,
        d: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
    add("special", name, f, x0, (lambda x: _diag(d(x))) if d is not None else None)


_sp("erf", lambda x: sps.erf(x), V3, lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x))
_sp("erfc", lambda x: sps.erfc(x), V3)
_sp("erfinv", lambda x: sps.erfinv(x), U3,
    lambda x: np.sqrt(np.pi) / 2 * np.exp(sps.erfinv(x) ** 2))
_sp("erfcinv", lambda x: sps.erfcinv(x), P3)
_sp("gamma", lambda x: sps.gamma(x), P3)
_sp("gammaln", lambda x: sps.gammaln(x), P3, sps.digamma)
_sp("digamma", lambda x: sps.digamma(x), P3)
_sp("psi", lambda x: sps.psi(x), P3)
_sp("polygamma(1, x)", lambda x: sps.polygamma(1, x), P3)
_sp("beta", lambda x: sps.beta(x[:3], x[3:]), P6)
_sp("betaln", lambda x: sps.betaln(x[:3], x[3:]), P6)
_sp("expit", lambda x: sps.expit(x), V3, lambda x: sps.expit(x) * (1 - sps.expit(x)))
_sp("logit", lambda x: sps.logit(x), [0.2, 0.5, 0.85])
_sp("xlogy", lambda x: sps.xlogy(x[:3], x[3:]), P6)
_sp("xlog1py", lambda x: sps.xlog1py(x[:3], x[3:]), P6)
add("special", "logsumexp", lambda x: sps.logsumexp(x), V5,
    lambda x: np.exp(x - sps.logsumexp(x)))
_sp("logsumexp(axis=1)", lambda x: sps.logsumexp(_m(x), axis=1), M9)
_sp("logsumexp(b=w)", lambda x: sps.logsumexp(x, b=W3), V3)
_sp("softmax", lambda x: sps.softmax(x), V5)
_sp("softmax(axis=0)", lambda x: sps.softmax(_m(x), axis=0), M9)
_sp("log_softmax", lambda x: sps.log_softmax(x), V5)
_sp("i0", lambda x: sps.i0(x), V3, sps.i1)
_sp("i1", lambda x: sps.i1(x), V3)
_sp("ive(1, x)", lambda x: sps.ive(1.0, x), P3)
_sp("j0", lambda x: sps.j0(x), P3, lambda x: -sps.j1(x))
_sp("j1", lambda x: sps.j1(x), P3)
_sp("y0", lambda x: sps.y0(x), P3)
_sp("y1", lambda x: sps.y1(x), P3)

# ---------------------------------------------------------------- scipy.stats.norm
add("stats", "norm.logpdf", lambda x: snorm.logpdf(x), V3, lambda x: _diag(-x))
add("stats", "norm.pdf", lambda x: snorm.pdf(x), V3)
add("stats", "norm.cdf", lambda x: snorm.cdf(x), V3, lambda x: _diag(snorm.pdf(x)))
add("stats", "norm.logcdf", lambda x: snorm.logcdf(x), V3,
    lambda x: _diag(snorm.pdf(x) / snorm.cdf(x)))
add("stats", "norm.logpdf(loc, scale)", lambda x: snorm.logpdf(C3, loc=x[:3], scale=x[3:]), P6)
add("stats", "norm.logpdf(x, 1.5, 2.0).sum()", lambda x: np.sum(snorm.logpdf(x, 1.5, 2.0)), V5)


# ---------------------------------------------------------------- realistic functions
def least_squares(x: Any) -> Any:
    r = A53 @ x - Y5
    return r @ r


def gaussian_nll(x: Any) -> Any:
    """Negative log-likelihood of DATA43 under N(0, S), S = B B^T + 3 I."""
    s = _spd(x)
    _sign, logdet = np.linalg.slogdet(s)
    quad = np.sum(DATA43.T * np.linalg.solve(s, DATA43.T))
    return 0.5 * DATA43.shape[0] * logdet + 0.5 * quad


def softmax_regression(x: Any) -> Any:
    logits = X54 @ x.reshape(4, 3)
    return np.mean(sps.logsumexp(logits, axis=1) - logits[np.arange(5), LABELS])


def logistic_regression(x: Any) -> Any:
    return np.sum(np.logaddexp(0.0, -SIGNS5 * (X54 @ x)))


def mlp(x: Any) -> Any:
    w1, w2 = x[:12].reshape(4, 3), x[12:]
    out = np.tanh(X54 @ w1) @ w2
    return np.mean((out - Y5) ** 2)


def gp_marginal_likelihood(x: Any) -> Any:
    """GP negative log marginal likelihood in (log length scale, log noise), via Cholesky."""
    pts = X54[:, 0]
    d2 = (pts[:, None] - pts[None, :]) ** 2
    k = np.exp(-0.5 * d2 / np.exp(2 * x[0])) + np.exp(x[1]) * np.eye(5)
    low = np.linalg.cholesky(k)
    alpha = np.linalg.solve(low.T, np.linalg.solve(low, Y5))
    return 0.5 * Y5 @ alpha + np.sum(np.log(np.diag(low)))


def nbody_potential(x: Any) -> Any:
    r = x.reshape(3, 2)
    d = r[:, None, :] - r[None, :, :]
    iu = np.triu_indices(3, 1)
    return -np.sum(1.0 / np.sqrt(np.sum(d[iu] ** 2, axis=-1)))


def leapfrog_step(x: Any) -> Any:
    """One leapfrog step of three anharmonic oscillators: (q, p) -> (q', p')."""
    dt = 0.1
    q, p = x[:3], x[3:]
    p = p - 0.5 * dt * (q + q**3)
    q = q + dt * p
    p = p - 0.5 * dt * (q + q**3)
    return np.concatenate([q, p])


def rosenbrock(x: Any) -> Any:
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


add("realistic", "least squares loss", least_squares, C3,
    lambda x: 2 * A53.T @ (A53 @ x - Y5))
add("realistic", "gaussian nll (slogdet+solve)", gaussian_nll, M9)
add("realistic", "softmax regression (logsumexp)", softmax_regression, T24[:12])
add("realistic", "logistic regression (logaddexp)", logistic_regression, V5[:4])
add("realistic", "mlp tanh", mlp, [*T24[:12], 0.3, -0.2, 0.5])
add("realistic", "gp marginal likelihood (cholesky)", gp_marginal_likelihood, [0.2, -1.0])
add("realistic", "n-body potential", nbody_potential, [0.0, 0.1, 1.1, -0.3, 0.4, 0.9])
add("realistic", "leapfrog step", leapfrog_step, V6)
add("realistic", "rosenbrock", rosenbrock, V5)


# ============================================================================ references
_W8 = np.array([1 / 280, -4 / 105, 1 / 5, -4 / 5, 0.0, 4 / 5, -1 / 5, 4 / 105, -1 / 280])


class _Timeout(BaseException):  # not an Exception: no `except Exception` in diffkit eats it
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Timeout


def _quiet_call(fn: Callable[[], Any], timeout: float) -> Any:
    """fn() with numpy warnings silenced and a wall-clock limit (raises _Timeout)."""
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _flat(v: Any) -> np.ndarray:
    return np.asarray(v, dtype=float).ravel()


def fd8_jacobian(f: Callable[[np.ndarray], Any], x0: np.ndarray) -> np.ndarray:
    """(m, n) Jacobian by the order-8 central difference, h = 1e-3 * max(1, |x_j|)."""
    flat = x0.ravel()
    cols = []
    for j in range(flat.size):
        h = 1e-3 * max(1.0, abs(flat[j]))
        acc = 0.0
        for k, w in zip(range(-4, 5), _W8, strict=True):
            if w == 0.0:
                continue
            xp = flat.copy()
            xp[j] = flat[j] + k * h
            acc = acc + w * _flat(f(xp.reshape(x0.shape)))
        cols.append(acc / h)
    return np.stack(cols, axis=1)


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-8)
    return float(np.max(np.abs(got - ref))) / scale if ref.size else 0.0


@dataclass
class Reference:
    jac: np.ndarray | None  # (m, n), or None when no trustworthy reference exists
    why: str = ""  # why there is none
    exact_err: float | None = None  # against the closed form, when the probe has one


def reference(probe: Probe, timeout: float) -> Reference:
    try:
        fd = _quiet_call(lambda: fd8_jacobian(probe.f, probe.x0), timeout)
    except (Exception, _Timeout) as e:
        return Reference(None, f"order-8 difference failed: {type(e).__name__}: {e}"[:200])
    try:
        rich = _quiet_call(lambda: dk.jacobian(probe.f, probe.x0, method="richardson"),
                           timeout)
        rich = np.asarray(rich, dtype=float).reshape(fd.shape)
    except (Exception, _Timeout) as e:
        return Reference(None, f"richardson failed: {type(e).__name__}: {str(e)[:150]}")
    if not (np.all(np.isfinite(rich)) and np.all(np.isfinite(fd))):
        return Reference(None, "non-finite reference")
    err = rel_err(rich, fd)
    if err > TOL_REFERENCE:
        return Reference(None, f"richardson and order-8 difference differ by {err:.1e}")
    ref = Reference(rich)
    if probe.exact is not None:
        exact = np.asarray(probe.exact(probe.x0), dtype=float).reshape(rich.shape)
        ref.exact_err = rel_err(rich, exact)
    return ref


# ============================================================================ running
@dataclass
class Row:
    probe: str
    family: str
    method: str
    outcome: str
    error: float | None = None
    message: str = ""
    frame: str = ""
    seconds: float = 0.0


def _diffkit_frame(exc: BaseException) -> str:
    """Innermost traceback frame inside diffkit/, and where the error was raised if not there."""
    frames = traceback.extract_tb(exc.__traceback__)
    inner, last_inside = "", False
    for fr in frames:
        path = Path(fr.filename).resolve()
        last_inside = path.is_relative_to(DIFFKIT_DIR)
        if last_inside:
            inner = f"{path.relative_to(REPO)}:{fr.lineno} in {fr.name}"
    if frames and not last_inside:
        fr = frames[-1]
        path = Path(fr.filename).resolve()
        where = path.relative_to(REPO) if path.is_relative_to(REPO) else path.name
        inner += f"{'; ' if inner else ''}raised in {where}:{fr.lineno} in {fr.name}"
    return inner


def run_one(probe: Probe, method: str, ref: Reference, timeout: float) -> Row:
    row = Row(probe.label, probe.family, method, "pass")
    api = dk.gradient if probe.scalar else dk.jacobian
    t0 = time.perf_counter()
    try:
        got = _quiet_call(lambda: api(probe.f, probe.x0.copy(), method=method), timeout)
    except _Timeout:
        row.outcome, row.message = "timeout", f"no answer within {timeout:g} s"
    except dk.DiffkitError as e:
        row.outcome, row.message = "refused", f"{type(e).__name__}: {str(e)[:150]}"
    except Exception as e:
        row.outcome, row.message = "raw", f"{type(e).__name__}: {str(e)[:200]}"
        row.frame = _diffkit_frame(e)
    else:
        row.seconds = time.perf_counter() - t0
        _judge(row, probe, method, got, ref)
    row.seconds = row.seconds or time.perf_counter() - t0
    row.message = " ".join(row.message.split())
    return row


def _judge(row: Row, probe: Probe, method: str, got: Any, ref: Reference) -> None:
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError) as e:
        row.outcome, row.message = "wrong", f"result is not a float array: {e}"
        return
    if ref.jac is None:
        row.outcome, row.message = "unchecked", f"no reference ({ref.why})"
        return
    want = ref.jac.reshape(probe.x0.shape) if probe.scalar else ref.jac
    if got.shape != want.shape:
        row.outcome, row.message = "wrong", f"shape {got.shape}, expected {want.shape}"
        return
    if not np.all(np.isfinite(got)):
        row.outcome, row.message = "wrong", "non-finite entries"
        return
    row.error = rel_err(got, want)
    tol = TOL_FD if method in FD_METHODS else TOL_EXACT
    if row.error > tol:
        row.outcome, row.message = "wrong", f"rel. error {row.error:.2e} > {tol:g}"


def summary_rows(rows: list[Row], methods: list[str]) -> list[list[str]]:
    out = []
    for m in methods:
        c = collections.Counter(r.outcome for r in rows if r.method == m)
        total = sum(c.values())
        pct = 100.0 * c["pass"] / total if total else 0.0
        out.append([m, *(str(c[k]) for k in CLASSES), f"{pct:.1f}"])
    return out


def family_rows(rows: list[Row], methods: list[str], families: list[str]) -> list[list[str]]:
    out = []
    for fam in families:
        cells = []
        for m in methods:
            sel = [r for r in rows if r.family == fam and r.method == m]
            cells.append(f"{sum(r.outcome == 'pass' for r in sel)}/{len(sel)}")
        out.append([fam, *cells])
    return out


def _text_table(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True))
             for r in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help="comma-separated methods (default: %(default)s)")
    parser.add_argument("--only", default="", help="run probes whose family/name has SUBSTR")
    parser.add_argument("--markdown", default="", help="write the summary tables here")
    parser.add_argument("--json", default="", help="write every row here")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per call")
    args = parser.parse_args(argv)

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    probes = [p for p in PROBES if args.only.lower() in p.label.lower()]
    signal.signal(signal.SIGALRM, _on_alarm)
    start = time.perf_counter()

    rows: list[Row] = []
    no_ref: list[tuple[str, str]] = []
    exact_bad: list[tuple[str, float]] = []
    n_exact = 0
    for i, probe in enumerate(probes, 1):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = np.asarray(probe.f(probe.x0.copy()), dtype=float)
        if not np.all(np.isfinite(value)):
            raise SystemExit(f"probe {probe.label}: f(x0) is not finite; fix the point")
        probe.scalar = value.ndim == 0
        ref = reference(probe, max(args.timeout, 20.0))
        if ref.jac is None:
            no_ref.append((probe.label, ref.why))
        if ref.exact_err is not None:
            n_exact += 1
            if ref.exact_err > 1e-8:
                exact_bad.append((probe.label, ref.exact_err))
        for m in methods:
            rows.append(run_one(probe, m, ref, args.timeout))
        if i % 25 == 0:
            print(f"  {i}/{len(probes)} probes, {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start

    families = list(dict.fromkeys(p.family for p in probes))
    per_family = collections.Counter(p.family for p in probes)
    head = ["method", *CLASSES, "pass %"]
    summary = summary_rows(rows, methods)
    fam_head = ["family (probes)", *methods]
    fam_body = [[f"{r[0]} ({per_family[r[0]]})", *r[1:]]
                for r in family_rows(rows, methods, families)]

    print(f"{len(probes)} probes x {len(methods)} methods in {elapsed:.0f} s "
          f"(numpy {np.__version__}); probes per family: {dict(per_family)}")
    print(f"references: {len(probes) - len(no_ref)} trustworthy, {len(no_ref)} not; "
          f"closed forms agree with the reference on {n_exact - len(exact_bad)}/{n_exact}\n")
    print(_text_table(head, summary))
    print()
    print(_text_table(fam_head, fam_body))
    if exact_bad:
        print("\nREFERENCE DISAGREES WITH CLOSED FORM (instrument bug):")
        for label, err in exact_bad:
            print(f"  {label}: {err:.2e}")
    if no_ref:
        print("\nno trustworthy reference:")
        for label, why in no_ref:
            print(f"  {label}: {why}")
    for m in methods:
        bad = [r for r in rows if r.method == m and r.outcome != "pass"]
        print(f"\n== {m}: {len(bad)} not passing")
        for r in sorted(bad, key=lambda r: (CLASSES.index(r.outcome), r.probe)):
            where = f"  [{r.frame}]" if r.frame else ""
            print(f"  {r.outcome:<9} {r.probe}: {r.message}{where}")

    if args.markdown:
        text = (f"{len(probes)} probes x {len(methods)} methods, {elapsed:.0f} s, "
                f"numpy {np.__version__}; {len(no_ref)} probes without a trustworthy "
                f"reference.\n\n{_md_table(head, summary)}\n\nPasses per family:\n\n"
                f"{_md_table(fam_head, fam_body)}\n")
        Path(args.markdown).write_text(text)
    if args.json:
        payload = {"methods": methods, "elapsed": elapsed, "numpy": np.__version__,
                   "no_reference": dict(no_ref), "rows": [vars(r) for r in rows]}
        Path(args.json).write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
