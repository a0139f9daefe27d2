"""Layering: import cost and which heavy libraries the light methods pull in."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def test_import_does_not_load_sympy_matplotlib_or_scipy():
    out = _run("""
        import sys, diffkit, diffkit.numpy
        print('sympy' in sys.modules, 'matplotlib' in sys.modules, 'scipy' in sys.modules)
    """)
    assert out == "False False False"


def test_numerical_methods_work_without_sympy_and_matplotlib():
    out = _run("""
        import sys
        sys.modules['sympy'] = None        # importing them now raises ImportError
        sys.modules['matplotlib'] = None
        import diffkit as dk, diffkit.numpy as dnp
        f = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2))
        print(dk.gradient(f, [2.0, 5.0], method='central-difference').round(6).tolist())
        try:
            from diffkit.methods import reverse
        except ImportError:
            print('no-reverse')
        else:
            print(dk.gradient(f, [2.0, 5.0], method='reverse-mode').round(6).tolist())
    """)
    lines = out.splitlines()
    assert lines[0] == "[5.5, 1.716338]"
    assert lines[1] in ("[5.5, 1.716338]", "no-reverse")
