"""The API reference covers the public API: every name in ``__all__`` of the five public modules
has an autosummary entry (so a generated page) in ``docs/api/``, and every entry there names
an object that exists. The docs build itself (``sphinx -W``) runs as the last step of CI.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parent.parent / "docs" / "api"
PUBLIC = {
    "diffkit": "diffkit.rst",
    "diffkit.methods": "methods.rst",
    "diffkit.analysis": "analysis.rst",
    "diffkit.testing": "testing.rst",
    "diffkit.plotting": "plotting.rst",
}


def autosummary_entries(page: Path) -> list[str]:
    """Fully qualified names listed under every ``.. autosummary::`` of an rst page."""
    names: list[str] = []
    module = ""
    in_block = False
    for line in page.read_text(encoding="utf-8").splitlines():
        current = re.match(r"\.\. currentmodule:: (\S+)", line)
        if current:
            module = current.group(1)
            in_block = False
        elif line.startswith(".. autosummary::"):
            in_block = True
        elif in_block and line.strip() and not line.startswith(" "):
            in_block = False
        elif in_block and line.strip() and not line.strip().startswith(":"):
            entry = line.strip()
            names.append(f"{module}.{entry}" if module else entry)
    return names


def resolve(qualname: str) -> object:
    """The object a dotted name refers to: the longest importable module, then attributes."""
    parts = qualname.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(qualname)


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_public_name_has_an_api_page(module):
    documented = set(autosummary_entries(API / PUBLIC[module]))
    public = importlib.import_module(module).__all__
    missing = sorted(name for name in public if f"{module}.{name}" not in documented)
    assert not missing, (f"{module}.__all__ names without an entry in docs/api/"
                         f"{PUBLIC[module]}: {missing}")


def test_every_api_entry_exists():
    pages = sorted(API.glob("*.rst"))
    entries = [entry for page in pages for entry in autosummary_entries(page)]
    assert len(entries) > 100
    broken = []
    for entry in entries:
        try:
            resolve(entry)
        except (ImportError, AttributeError):
            broken.append(entry)
    assert not broken, f"autosummary entries that name nothing: {broken}"


def test_the_parser_reads_autosummary_blocks(tmp_path):
    page = tmp_path / "page.rst"
    page.write_text(".. currentmodule:: diffkit\n\n.. autosummary::\n   :toctree: generated\n\n"
                    "   gradient\n   methods.get\n\nProse after the block.\n\n   indented\n",
                    encoding="utf-8")
    assert autosummary_entries(page) == ["diffkit.gradient", "diffkit.methods.get"]
