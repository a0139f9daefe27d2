"""One benchmark measured on two checkouts, alternately, and the figures side by side.

Run: ``python benchmarks/against.py OTHER_TREE reverse.py [--rounds 3] [--markdown PATH]
[-- ARGS...]``. The script (``reverse.py``, ``public.py``, ``core.py``: any benchmark here
that prints a markdown table and takes ``--markdown PATH``) is run ``rounds`` times on each
tree, the two trees alternating (``DIFFKIT_TREE`` tells the script which diffkit to import),
so load from other processes falls on both alike (``DIFFKIT_ONLY=1``: the scripts skip the
other tools they compare with). Each numeric cell is the median over the
rounds; the table shows it for the other tree, for this one, and their ratio (this / other).
The figures inside a run are themselves paired ratios (x / f, public / engine), so the ratio
of ratios compares like with like.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
THIS = os.path.abspath(os.path.join(HERE, ".."))
_NUMBER = re.compile(r"^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$")


def _cells(path: str) -> tuple[list[str], dict[tuple[str, str], float]]:
    """Header and ``{(row label, column): number}`` of a markdown table."""
    with open(path, encoding="utf-8") as fh:
        lines = [ln.strip() for ln in fh if ln.strip().startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    out = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        label = " / ".join(c for c, h in zip(cells, header, strict=False)
                           if not _NUMBER.match(c.replace(" µs", "").replace(" ms", ""))
                           and h in (header[0], "call"))
        for h, c in zip(header[1:], cells[1:], strict=False):
            v = c.replace(" µs", "").replace(" ms", "").replace("x", "")
            if _NUMBER.match(v):
                out[(label, h)] = float(v)
    return header, out


def run(tree: str, script: str, args: list[str]) -> dict[tuple[str, str], float]:
    with tempfile.NamedTemporaryFile(suffix=".md", delete=False) as fh:
        path = fh.name
    env = {**os.environ, "DIFFKIT_TREE": tree, "PYTHONPATH": tree, "DIFFKIT_ONLY": "1"}
    subprocess.run([sys.executable, os.path.join(HERE, script), *args, "--markdown", path],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    try:
        return _cells(path)[1]
    finally:
        os.unlink(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", help="the other checkout (say /work/wt/base)")
    parser.add_argument("script", help="a benchmark in this folder (reverse.py, public.py...)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--markdown", metavar="PATH", help="also write the table here")
    argv = sys.argv[1:] if argv is None else argv
    rest = argv[argv.index("--") + 1:] if "--" in argv else []  # the script's own arguments
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.rest = rest
    runs: dict[str, list[dict[tuple[str, str], float]]] = {"other": [], "this": []}
    for _ in range(args.rounds):
        runs["other"].append(run(os.path.abspath(args.other), args.script, args.rest))
        runs["this"].append(run(THIS, args.script, args.rest))
    keys = [k for k in runs["this"][0] if all(k in r for r in runs["other"] + runs["this"])]
    lines = [f"| row | column | {args.other} | this tree | this / other |", "|---|---|---|---|---|"]
    for key in keys:
        a = statistics.median(r[key] for r in runs["other"])
        b = statistics.median(r[key] for r in runs["this"])
        ratio = f"{b / a:.2f}" if a else "—"
        lines.append(f"| {key[0]} | {key[1]} | {a:.3g} | {b:.3g} | {ratio} |")
    table = "\n".join(lines) + "\n"
    print(f"{args.script} {' '.join(args.rest)}: median of {args.rounds} alternating runs each")
    print(table, end="")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
