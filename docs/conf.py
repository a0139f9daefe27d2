"""Sphinx configuration: build with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.

The notebooks are rendered by myst-nb from copies in ``docs/notebooks/`` (generated, not
committed). The notebooks in ``notebooks/`` are stored without outputs; their figures come from
one execution:

- ``DIFFKIT_EXECUTED_NOTEBOOKS=DIR`` (CI): copies that the nbmake step already executed and
  saved with ``--overwrite``; nothing is executed again (``nb_execution_mode = "off"``).
- otherwise: the stored notebooks, executed once by myst-nb and kept in jupyter-cache
  (``nb_execution_mode = "cache"``, ``docs/_build/.jupyter_cache``), so a rebuild is fast.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT), str(DOCS)]

from make_figures import main as make_figures

import diffkit

project = "diffkit"
author = "the diffkit authors"
copyright = "2026, the diffkit authors"
release = version = diffkit.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
]

make_figures(DOCS / "_figures")

# ------------------------------------------------------------------ notebooks (myst-nb)
_executed = os.environ.get("DIFFKIT_EXECUTED_NOTEBOOKS", "")
_source = Path(_executed) if _executed else ROOT / "notebooks"
_copies = DOCS / "notebooks"
_copies.mkdir(exist_ok=True)
for _nb in sorted(_source.glob("*.ipynb")):
    _dest = _copies / _nb.name
    if not _dest.exists() or _dest.read_bytes() != _nb.read_bytes():
        shutil.copyfile(_nb, _dest)
for _stale in _copies.glob("*.ipynb"):
    if not (_source / _stale.name).exists():
        _stale.unlink()

nb_execution_mode = "off" if _executed else "cache"
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_merge_streams = True
nb_render_markdown_format = "myst"  # Markdown outputs (tables) render like the pages

myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3

# ------------------------------------------------------------------ API reference
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# Every cross-reference must resolve (nitpicky): these are the few that docstrings make to
# internal modules and private helpers, module-level names of the module they sit in, or to the short public path of
# a class documented under its defining module (dk.methods.CentralDifference is
# diffkit.methods.numerical.CentralDifference).
nitpicky = True
nitpick_ignore = [
    ("py:class", "diffkit.methods.numerical._FiniteDifference"),
    ("py:class", "diffkit.methods.Symbolic"),
    ("py:class", "diffkit.methods.CentralDifference"),
    ("py:meth", "diffkit.methods.reverse.ReverseTrace.nbytes_by_record"),
    ("py:func", "names"),
    ("py:func", "lorenz96"),
    ("py:func", "cse"),
    ("py:data", "NOISE_FACTOR"),
    ("py:data", "FAMILIES"),
    ("py:attr", "COLUMNS"),
    # internal modules and helpers that public docstrings mention without an API page
    ("py:mod", "diffkit.numpy"),
    ("py:mod", "diffkit.parse"),
    ("py:mod", "diffkit.pytest_plugin"),
    ("py:mod", "diffkit.methods.symbolic"),
    ("py:func", "diffkit.validation.as_point"),
    ("py:func", "normalize_output"),
    ("py:class", "OutputError"),
    ("py:class", "diffkit.trace.EvaluationTrace"),
    ("py:class", "diffkit.catalog.CatalogEntry"),
    ("py:class", "diffkit.budget.BudgetError"),
    # internals named by docstrings of the trust, speed, ui, compiled and forward branches
    ("py:class", "Fallback"),
    ("py:class", "Noise"),
    ("py:data", "FLOAT32_RTOL"),
    ("py:data", "PRECISION_MARGIN"),
    ("py:func", "default_chunk"),
    ("py:func", "diffkit.budget.limited"),
    ("py:func", "diffkit.stencils.balanced_step"),
    ("py:func", "figure"),
    ("py:func", "fold"),
    ("py:func", "layout"),
    ("py:func", "promised_accuracy"),
    ("py:mod", "diffkit.codegen"),
]

# ------------------------------------------------------------------ pages
root_doc = "index"
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "_figures", "benchmarks/*.md", "README.md", "**.ipynb_checkpoints",
                    "jupyter_execute"]
templates_path = ["_templates"]
html_static_path: list[str] = []
html_theme = "alabaster"
html_title = f"diffkit {release}"
html_theme_options = {
    "description": "Differentiate one function in every way there is, and see why they differ.",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "230px",
}
suppress_warnings = ["mystnb.unknown_mime_type"]
