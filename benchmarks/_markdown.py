"""``--markdown PATH`` for the benchmark scripts: what a script prints, saved as Markdown.

The file starts with where the figures came from (UTC date, machine, load, Python, numpy and
the anchors' versions, diffkit's commit and the command), then the script's own output as it
printed it. The docs' benchmarks page includes these files, so its tables are generated, not
typed.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import io
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

ANCHORS = ("numpy", "scipy", "sympy", "mpmath", "numdifftools", "autograd", "torch", "jax",
           "symengine", "micrograd", "hypothesis")


class _Tee(io.TextIOBase):
    def __init__(self, *streams: io.TextIOBase) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()


def provenance(title: str) -> str:
    """The header: date, machine, load, versions, commit and the command that made the file."""
    versions = []
    for name in ANCHORS:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, check=True,
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    argv = " ".join(["python", os.path.relpath(sys.argv[0], root), *sys.argv[1:]])
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"## {title}\n\n"
            f"- generated {now} by `{argv}`, diffkit commit `{commit}`\n"
            f"- machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"{platform.system()} {platform.release()}, load average {load:.1f} at the start\n"
            f"- Python {platform.python_version()}; {', '.join(versions)}\n\n")


@contextlib.contextmanager
def markdown_output(path: str | None, title: str) -> Iterator[None]:
    """Print as usual; with a ``path``, also write the header and everything printed there."""
    if not path:
        yield
        return
    head = provenance(title)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, buffer)):
        yield
    Path(path).write_text(head + as_markdown(buffer.getvalue()), encoding="utf-8")


def as_markdown(text: str) -> str:
    """Printed output as Markdown: tables kept, every other line its own paragraph.

    Output with no table is kept as printed, in a fenced block.
    """
    if "|---" not in text:
        return "```text\n" + text.rstrip("\n") + "\n```\n"
    out: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        in_table = stripped.startswith("|")
        if out and out[-1] and (not in_table or not out[-1].startswith("|")):
            out.append("")  # a blank line around tables and between printed lines
        if stripped:
            out.append(stripped if in_table else line.rstrip())
    return "\n".join(out).strip("\n") + "\n"


def run(main: Callable[[list[str] | None], int | None], title: str,
        argv: list[str] | None = None) -> int:
    """Run a benchmark's ``main`` with ``--markdown PATH`` taken out of its arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    path = None
    for i, arg in enumerate(args):
        if arg == "--markdown" and i + 1 < len(args):
            path = args[i + 1]
            del args[i:i + 2]
            break
        if arg.startswith("--markdown="):
            path = arg.split("=", 1)[1]
            del args[i]
            break
    if "-h" in args or "--help" in args:
        print("--markdown PATH: also write what is printed to PATH as Markdown, headed by the "
              "date, machine, load, versions and commit\n")
    with markdown_output(path, title):
        rc = main(args)
    return int(rc or 0)
