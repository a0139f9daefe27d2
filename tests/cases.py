"""Sample arguments for every registry primitive, inside its domain (shared by the tests).

Every primitive in the registry must have an entry here: ``tests/test_primitives.py`` fails on
a stanza without one, so a new primitive is tested the moment it exists.
"""

from __future__ import annotations

import numpy as np

rng = np.random.default_rng(0)
_v = np.array([0.3, 0.7, 1.1])
_m = np.array([[0.2, 0.5, 0.9], [1.3, 0.4, 0.8]])
_pos = np.array([0.4, 1.5, 2.2])
_unit = np.array([-0.6, 0.1, 0.5])

UNARY_DOMAIN = {
    "log": _pos, "sqrt": _pos, "log1p": np.array([-0.5, 0.2, 1.4]), "arcsin": _unit,
    "arccos": _unit, "power": None,
}

# name -> list of (args, params)
CASES: dict[str, list[tuple[tuple, dict]]] = {}


def _unary(name: str, values: np.ndarray) -> None:
    CASES[name] = [((float(values[1]),), {}), ((values,), {}), ((_m if name not in UNARY_DOMAIN
                   else np.abs(_m) * 0.5 + 0.05,), {})]


for _name in ["sin", "cos", "tan", "exp", "expm1", "tanh", "sinh", "cosh", "arctan",
              "negative", "square", "absolute", "sign"]:
    _unary(_name, np.array([-0.8, 0.35, 1.2]))
for _name in ["log", "sqrt", "log1p", "arcsin", "arccos"]:
    _unary(_name, UNARY_DOMAIN[_name])

for _name in ["add", "subtract", "multiply", "divide", "maximum", "minimum", "less",
              "less_equal", "greater", "greater_equal", "equal", "not_equal"]:
    CASES[_name] = [
        ((0.7, 1.3), {}),
        ((_v, np.array([1.1, 0.2, 0.9])), {}),
        ((_m, _v), {}),  # broadcast (2,3) with (3,)
        ((0.5, _m), {}),  # scalar with matrix
    ]
CASES["power"] = [((1.3, 2.0), {}), ((_pos, 3.0), {}), ((_pos, 0.5), {}), ((1.7, _v), {}),
                  ((_pos, _v), {})]
CASES["where"] = [((np.array([True, False, True]), _v, np.array([2.0, 3.0, 4.0])), {}),
                  ((np.array([[True, False, True], [False, False, True]]), _m, 0.5), {})]
CASES["sum"] = [((_v,), {"axis": None, "keepdims": False}), ((_m,), {"axis": 0, "keepdims": False}),
                ((_m,), {"axis": 1, "keepdims": True}), ((_m,), {"axis": None, "keepdims": False})]
CASES["mean"] = CASES["sum"]
CASES["logsumexp"] = CASES["sum"]
CASES["prod"] = [((_pos,), {"axis": None, "keepdims": False}),
                 ((_m,), {"axis": 1, "keepdims": False})]
CASES["max"] = [((_v,), {"axis": None, "keepdims": False}), ((_m,), {"axis": 0, "keepdims": False}),
                ((_m,), {"axis": 1, "keepdims": True})]
CASES["min"] = CASES["max"]
CASES["matmul"] = [((_m, _v), {}), ((_v, _m.T), {}), ((_m, _m.T), {}), ((_v, _v), {})]
CASES["dot"] = [((_m, _v), {}), ((_v, _v), {}), ((_m.T, _m), {}), ((2.0, _v), {})]
CASES["reshape"] = [((_m,), {"shape": (3, 2)}), ((_v,), {"shape": (3, 1)})]
CASES["transpose"] = [((_m,), {"axes": None}), ((_m.reshape(1, 2, 3),), {"axes": (2, 0, 1)})]
CASES["broadcast_to"] = [((_v,), {"shape": (2, 3)}), ((0.7,), {"shape": (3,)})]
CASES["getitem"] = [((_v,), {"index": 1}), ((_v,), {"index": slice(1, None)}),
                    ((_m,), {"index": (slice(None), 0)}),
                    ((_v,), {"index": np.array([0, 2, 2])})]
CASES["scatter"] = [((_v[:2],), {"index": slice(1, None), "shape": (3,), "dtype": None}),
                    ((_v,), {"index": np.array([0, 2, 2]), "shape": (4,), "dtype": None})]
CASES["stack"] = [((_v, np.array([1.0, 2.0, 3.0])), {"axis": 0}),
                  ((_v, _v * 2, _v * 3), {"axis": 1}), ((0.3, 0.8), {"axis": 0})]
CASES["concatenate"] = [((_v, np.array([1.0, 2.0])), {"axis": 0}), ((_m, _m[:1]), {"axis": 0})]
