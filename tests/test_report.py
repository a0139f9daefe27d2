"""`diffkit report --quick` into a temporary directory: every section and picture written."""

from __future__ import annotations

import pytest

from diffkit.cli import main

pytest.importorskip("matplotlib")


def test_report_quick(tmp_path, capsys):
    code = main(["report", "--quick", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0
    readme = tmp_path / "README.md"
    assert out.strip() == str(readme)
    text = readme.read_text(encoding="utf-8")
    for heading in ("## The methods side by side on one function", "## Error versus step size",
                    "## Expression swell", "## The computational graph and its traces",
                    "## Cost versus dimension", "## Every method over the catalogue",
                    "## Memory: the tape, checkpointing and the methods without a tape"):
        assert heading in text
    assert "Targets (issue 7)" in text
    for png in ("compare_baydin.png", "step_error_exp.png", "cost_dimension.png",
                "cost_rosenbrock_nfev_memory.png", "memory_loop.png",
                "memory_revolve_schedule.png"):
        assert (tmp_path / png).stat().st_size > 1000
        assert f"]({png})" in text
    # every image the README links exists
    import re

    for name in re.findall(r"\]\(([^)]+\.png)\)", text):
        assert (tmp_path / name).exists(), name
    assert "report: wrote" in err
    assert "| baydin |" in text
