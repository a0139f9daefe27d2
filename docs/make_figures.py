"""What the docs generate at build time: figures (the rest come from ``reports/``, made by
``diffkit report``) and the ``diffkit`` command's help texts.

Run by ``conf.py`` at the start of every build, in about a second; writes into
``docs/_figures/`` (not committed).
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from diffkit import cli, revolve
from diffkit.plotting import plot_schedule


def main(out: Path) -> list[Path]:
    """Draw the checkpointing schedules, T = 20 steps: sqrt segments and revolve with c = 3."""
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    plot_schedule(revolve.schedule(20, "sqrt"), ax=axes[0])
    plot_schedule(revolve.schedule(20, 3), ax=axes[1])
    fig.tight_layout()
    path = out / "schedules.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return [path, *help_texts(out)]


def help_texts(out: Path) -> list[Path]:
    """``diffkit --help`` and ``diffkit SUBCOMMAND --help``, as the command prints them."""
    os.environ["COLUMNS"] = "96"
    paths = []
    for sub in ("", "compare", "sweep", "swell", "cost", "memory", "trace", "report"):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
            cli.main([sub, "--help"] if sub else ["--help"])
        path = out / f"cli-{sub or 'diffkit'}.txt"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    print(main(Path(__file__).resolve().parent / "_figures"))
