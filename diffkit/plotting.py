"""Pictures of the analysis results: error versus h, expression swell, cost, comparisons.

Every function takes the result object of :mod:`diffkit.analysis` and an optional ``ax``
(a matplotlib Axes), draws on it and returns it; none shows the figure itself. Without ``ax`` a
new figure is made with pyplot (so notebooks show it inline).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import UnknownMethodError
from .graph import check_axes
from .methods import METHOD_NAMES

__all__ = ["plot_comparison", "plot_cost", "plot_memory", "plot_schedule", "plot_step_error",
           "plot_swell"]

_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _axes(ax: Any, who: str = "plot") -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
        return ax
    check_axes(ax, who)
    return ax


def _subset(chosen: Any, known: Any, call: str, what: str) -> list[str]:
    """``chosen`` as a non-empty list of names among ``known`` (one name alone is a list of
    one), or an UnknownMethodError naming the first that is not."""
    items = [chosen] if isinstance(chosen, str) else list(chosen)
    known = list(known)
    if not items:
        raise UnknownMethodError(f"{call}: name at least one {what}; choose from {known}")
    for item in items:
        if item not in known:
            raise UnknownMethodError(f"{call}: {item!r} is not a {what} of this result; "
                                     f"choose from {known}")
    return items


_MARKERS = "osD^v<>ph*"


def _method_style(name: str) -> dict[str, Any]:
    """One colour and marker per method name, the same in every figure."""
    i = METHOD_NAMES.index(name) if name in METHOD_NAMES else len(METHOD_NAMES)
    return {"color": f"C{i % 10}", "marker": _MARKERS[i % len(_MARKERS)]}


def _reasons(statuses: Any) -> str:
    """The distinct reasons in a status array, short (``StencilError, x + h == x``)."""
    kinds = [str(t).split(":")[0] for t in np.asarray(statuses).ravel() if str(t) != "ok"]
    kinds = list(dict.fromkeys(kinds))
    return ", ".join(kinds[:3]) + (", ..." if len(kinds) > 3 else "") if kinds else "no value"


def _colors(n: int) -> list[Any]:
    import matplotlib as mpl

    cycle = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    return [cycle[i % len(cycle)] for i in range(n)]


def plot_step_error(result: Any, ax: Any = None, *, model: bool = True,
                    schemes: Any = None, annotate: bool = True) -> Any:
    """Absolute error versus step size, log-log, with the model and the optimal steps.

    Solid lines with markers are the measured errors; dashed lines of the same colour are
    the model ``C h^p + R eps |f| / h``; a star marks each scheme's measured optimum and a
    dotted vertical line its predicted one. Errors of exactly 0 are drawn at ``eps |f'| / 2``
    and the legend says so; steps where a scheme broke down (NaN) are not drawn, and the
    legend says how many and why (a scheme that broke down at every step, such as the complex
    step on non-analytic code, is listed as not drawn, with the reason).

    Parameters
    ----------
    result : StepErrorResult
        From :func:`diffkit.analysis.step_error`.
    ax : matplotlib Axes, optional
    model : bool
        Draw the model lines.
    schemes : sequence of str, optional
        A subset of ``result.schemes``.
    annotate : bool
        Label the regimes ("truncation ∝ hᵖ", "round-off ∝ ε/h").

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import diffkit as dk
    >>> r = dk.analysis.step_error(dk.Function.from_expr("exp(x)"), 1.0)
    >>> ax = plot_step_error(r)
    >>> ax.get_xscale(), ax.get_yscale()
    ('log', 'log')
    """
    ax = _axes(ax)
    schemes = _subset(result.schemes if schemes is None else schemes, result.schemes,
                      "plot_step_error(schemes=...)", "scheme")
    eps = float(np.finfo(result.dtype).eps)
    floor = eps * max(abs(result.exact), 1e-300) / 2
    colors = _colors(len(schemes))
    h = result.h
    from matplotlib.lines import Line2D

    left_out = []  # legend entries for what is not drawn, and why
    zeros = False
    for s, c in zip(schemes, colors, strict=True):
        errors = np.asarray(result.errors[s], dtype=float)
        broke = ~np.isfinite(errors)
        label = f"{s} (p = {result.orders[s]})"
        if broke.all():
            left_out.append((Line2D([], [], color=c, marker="x", ls="none"),
                             f"{s}: not drawn, every step broke down "
                             f"({_reasons(result.status[s])})"))
            continue
        if broke.any():
            label += (f"; {int(broke.sum())} of {broke.size} steps not drawn "
                      f"({_reasons(result.status[s])})")
        zeros = zeros or bool(np.any(errors == 0))
        err = np.where(errors == 0, floor, errors)
        ax.plot(h, err, "-", marker=".", ms=4, lw=1.4, color=c, label=label)
        if model:
            ax.plot(h, result.model[s], "--", lw=1.0, color=c, alpha=0.8)
        if np.isfinite(result.optimal_h[s]):
            ax.plot([result.optimal_h[s]], [max(result.min_error[s], floor)], marker="*",
                    ms=13, color=c, mec="black", mew=0.6, ls="none")
        if np.isfinite(result.predicted_h[s]) and result.predicted_h[s] < h[-1] * 10:
            ax.axvline(result.predicted_h[s], color=c, ls=":", lw=0.9, alpha=0.7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    finite = np.concatenate([np.asarray(result.errors[s], dtype=float)[
        np.isfinite(result.errors[s])] for s in schemes])
    finite = finite[finite > 0]
    lo = max(floor / 3, 1e-20)
    hi = max(10 * finite.max(), 1.0) if finite.size else 1.0
    ax.set_ylim(lo, hi)
    ax.set_xlim(h[0], h[-1])
    if annotate:
        _label_regimes(ax, result, schemes, colors, lo, hi)
    ax.set_xlabel("step h")
    ax.set_ylabel("absolute error")
    ref = "exact" if result.reference_exact else "Richardson (approx.)"
    ax.set_title(f"error vs step: d/dx {result.name} at x = {result.x:g} "
                 f"({np.dtype(result.dtype).name}, reference {ref})", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="gray", ls="--"), Line2D([], [], color="gray", ls=":"),
                Line2D([], [], color="gray", marker="*", ls="none", mec="black")]
    labels += ["model: truncation + round-off", "predicted optimal h", "measured optimal h"]
    if zeros:
        handles.append(Line2D([], [], ls="none"))
        labels.append("errors of exactly 0 drawn at ε|f'|/2")
    handles += [hd for hd, _ in left_out]
    labels += [lb for _, lb in left_out]
    ax.legend(handles, labels, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              framealpha=0.9)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def _label_regimes(ax: Any, result: Any, schemes: list[str], colors: list[Any],
                   lo: float, hi: float) -> None:
    h = result.h
    roundoff_done = False
    placed: set[str] = set()  # one label per regime: forward and backward share C h
    for s, c in zip(schemes, colors, strict=True):
        tr, ro = result.truncation[s], result.roundoff[s]
        p = result.orders[s]
        # truncation label where it dominates, a decade and a half above the optimum
        opt = result.optimal_h[s] if np.isfinite(result.optimal_h[s]) else h[len(h) // 2]
        k = int(np.searchsorted(h, min(opt * 10 ** (1.5 + 0.3 * p), h[-1] / 30)))
        k = min(k, len(h) - 1)
        y = tr[k]
        text = f"truncation ∝ h{str(p).translate(_SUPERSCRIPT)}"
        if np.isfinite(y) and lo < y < hi and text not in placed:
            placed.add(text)
            ax.annotate(text, (h[k], y),
                        textcoords="offset points", xytext=(-4, 8), ha="right", fontsize=8,
                        color=c)
        if not roundoff_done and np.all(ro[1:] < ro[:-1]):
            j = int(np.searchsorted(h, opt / 1e3))
            j = min(max(j, 2), len(h) - 1)
            y = ro[j]
            if np.isfinite(y) and lo < y < hi:
                ax.annotate("round-off ∝ ε/h", (h[j], y), textcoords="offset points",
                            xytext=(6, 6), ha="left", fontsize=8, color="black")
                roundoff_done = True


def _runs(ns: Any) -> str:
    """Integers as runs: ``1, 6..12``."""
    ns = sorted(int(n) for n in ns)
    out: list[list[int]] = []
    for n in ns:
        if out and n == out[-1][-1] + 1:
            out[-1].append(n)
        else:
            out.append([n])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}..{r[-1]}" for r in out)


def plot_swell(result: Any, ax: Any = None, *, columns: Any = None) -> Any:
    """Expression and tape sizes versus depth ``n`` on a log y axis.

    Parameters
    ----------
    result : SwellResult
        From :func:`diffkit.analysis.swell`.
    ax : matplotlib Axes, optional
    columns : sequence of str, optional
        Which metrics (default: every available one). A metric not computed at some depths
        (expanded forms beyond ``max_expanded``) or 0 there (off the log axis) says so in
        its legend entry.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    cols = _subset(result.available() if columns is None else columns, result.available(),
                   "plot_swell(columns=...)", "column")
    styles = {"tree": "-", "DAG": "--", "expanded": "-.", "CSE": ":", "tape": "-"}
    for col in cols:
        y = np.asarray(result.metrics[col], dtype=float)
        ls = next((v for k, v in styles.items() if k in col), "-")
        marker = "s" if "tape" in col else ("o" if col.startswith("f'") else "^")
        lw = 2.2 if "tape" in col else 1.3
        label = col
        ns = np.asarray(result.ns)
        if np.any(~np.isfinite(y)):
            label += f" (not computed at n = {_runs(ns[~np.isfinite(y)])})"
        if np.any(y == 0):
            label += f" (0 at n = {_runs(ns[y == 0])}, off the log axis)"
        ax.plot(result.ns, np.where(y > 0, y, np.nan), ls=ls, marker=marker, ms=4, lw=lw,
                label=label)
    ax.set_yscale("log")
    ax.set_xlabel("n (depth of the logistic map $l_{k+1} = 4 l_k (1 - l_k)$)")
    ax.set_ylabel("size (nodes / operations)")
    ax.set_title(f"expression swell: {result.family}", fontsize=10)
    ax.set_xticks(result.ns)
    ax.legend(fontsize=7.5, loc="upper left")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_cost(result: Any, ax: Any = None, *, metric: str = "seconds") -> Any:
    """Cost of each method versus the dimension, log-log.

    Parameters
    ----------
    result : CostResult
        From :func:`diffkit.analysis.cost`.
    ax : matplotlib Axes, optional
    metric : {"seconds", "nfev", "peak_bytes", "tape_bytes", "first_seconds"}

    Notes
    -----
    Values a log axis cannot show (0, such as the symbolic method's evaluations after
    compiling, or a tape where there is none) and values not measured (skipped or failed)
    are not drawn; the legend lists each such method and says why.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    if metric not in ("seconds", "nfev", "peak_bytes", "tape_bytes", "first_seconds"):
        raise UnknownMethodError(f"plot_cost(metric={metric!r}): choose seconds, nfev, "
                                 f"peak_bytes, tape_bytes or first_seconds")
    from matplotlib.lines import Line2D

    data = getattr(result, metric)
    left_out = []
    dim = "n" if result.kind == "gradient" else "m"
    for m in result.methods:
        y = np.asarray(data[m], dtype=float)
        shown = np.isfinite(y) & (y > 0)
        why = _not_drawn(y, result.status[m], metric)
        if not shown.any():
            left_out.append((Line2D([], [], ls="none", **_method_style(m)),
                             f"{m}: not drawn ({why})"))
            continue
        label = m
        if not shown.all():
            at = ", ".join(str(int(d)) for d in np.asarray(result.dims)[~shown])
            label += f" (not drawn at {dim} = {at}: {why})"
        ax.plot(result.dims, np.where(shown, y, np.nan), ms=5, label=label,
                **_method_style(m))
    ax.set_xscale("log")
    ax.set_yscale("log")
    dim = "n (inputs)" if result.kind == "gradient" else "m (outputs)"
    ax.set_xlabel(dim)
    ax.set_ylabel({"seconds": "median seconds per call", "nfev": "function evaluations",
                   "peak_bytes": "peak bytes allocated", "tape_bytes": "tape bytes",
                   "first_seconds": "seconds, first call"}[metric])
    what = "gradient of Rosenbrock, R^n → R" if result.family == "rosenbrock" \
        else f"{result.kind} of {result.family}, R → R^m"
    title = {"seconds": "time", "nfev": "evaluations", "peak_bytes": "memory",
             "tape_bytes": "tape", "first_seconds": "first call"}[metric]
    ax.set_title(f"{title} vs dimension: {what}", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles + [hd for hd, _ in left_out], labels + [lb for _, lb in left_out],
              fontsize=7.5)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def _not_drawn(y: np.ndarray, statuses: Any, metric: str) -> str:
    """Why values of a cost curve are missing from a log axis."""
    reasons = []
    if np.any(y == 0):
        reasons.append("0, which a log axis cannot show")
    bad = [str(s) for v, s in zip(y, statuses, strict=False) if not np.isfinite(v)]
    if bad:
        unmeasured = "no tape" if metric == "tape_bytes" else "not measured"
        kinds = list(dict.fromkeys(b.split(":")[0] if b != "ok" else unmeasured
                                   for b in bad))
        reasons.append(", ".join(kinds))
    if np.any(np.isfinite(y) & (y < 0)):
        reasons.append("negative")
    return "; ".join(reasons) or "no value"


def plot_comparison(result: Any, ax: Any = None) -> Any:
    """Relative error of each method, a horizontal bar per method on a log axis.

    Exact zeros are drawn at 1e-17 and labelled "0"; failed methods are labelled with their
    error instead of a bar.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    rows = result.rows
    floor = 1e-17
    ypos = np.arange(len(rows))[::-1]
    vals = [r.rel_error if r.value is not None and np.isfinite(r.rel_error) else np.nan
            for r in rows]
    bars = [max(v, floor) if np.isfinite(v) else 0.0 for v in vals]
    colors = [_method_style(r.method)["color"] for r in rows]
    ax.barh(ypos, bars, left=floor / 10, color=colors, height=0.6)
    ax.set_xscale("log")
    ax.set_xlim(floor / 10, 10)
    for y, v, r in zip(ypos, vals, rows, strict=True):
        if r.value is None:
            text = r.status.split(":")[0]
        elif v == 0:
            text = "0 (exact)"
        else:
            text = f"{v:.1e}"
        x = floor if not np.isfinite(v) or v == 0 else v
        ax.text(x * 1.5, y, text, va="center", fontsize=8)
    ax.set_yticks(ypos)
    ax.set_yticklabels([r.method for r in rows], fontsize=8)
    ax.set_xlabel("relative error vs exact reference")
    ax.set_title(f"{result.kind} of {result.name}", fontsize=10)
    ax.grid(True, axis="x", which="major", alpha=0.3)
    return ax


def _config_style(name: str, configs: Any) -> dict[str, Any]:
    """Line style of a configuration of the memory study: the plain tape in reverse mode's
    colour, ``sqrt`` dashed, revolve's ``c`` values in shades of red (darker: fewer
    snapshots), other methods in their usual colour and marker."""
    if name == "tape":
        return {**_method_style("reverse-mode"), "lw": 2.2, "label": "reverse: plain tape"}
    if name == "sqrt":
        return {"color": "darkorange", "marker": "s", "ls": "--", "label": "reverse: √T segments"}
    if name.startswith("revolve"):
        import matplotlib as mpl

        cs = sorted(int(c.split("=")[1]) for c in configs if c.startswith("revolve"))
        k = cs.index(int(name.split("=")[1]))
        shade = 0.9 - 0.5 * k / max(len(cs) - 1, 1)
        return {"color": mpl.colormaps["Reds"](shade), "marker": "^",
                "label": f"reverse: revolve, {name.split()[1]}"}
    return {**_method_style(name), "ls": ":", "label": f"{name} (no tape)"}


def plot_memory(result: Any, ax: Any = None, *, metric: str = "peak_bytes") -> Any:
    """The memory study: peak memory or time versus the loop's length, or the trade-off.

    Parameters
    ----------
    result : MemoryResult
        From :func:`diffkit.analysis.memory`.
    ax : matplotlib Axes, optional
    metric : {"peak_bytes", "seconds", "tape_bytes", "recomputed", "tradeoff"}
        ``"peak_bytes"`` (tracemalloc), ``"seconds"``, ``"tape_bytes"`` (the meter's count)
        or ``"recomputed"`` versus ``T``, log-log; ``"tradeoff"``: at the longest loop every
        configuration measured, peak memory against time in units of one evaluation of the
        function.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    labels = {"peak_bytes": "peak bytes allocated (tracemalloc)", "seconds": "seconds per gradient",
              "tape_bytes": "peak tape bytes (meter)", "recomputed": "steps recomputed by the sweep"}
    what = f"{result.family}, state of {result.state}"
    if metric == "tradeoff":
        i = int(np.max(np.nonzero(np.isfinite(result.peak_bytes[result.configs[0]]))[0]))
        t = int(result.steps[i])
        k = 0
        for c in result.configs:
            x = result.seconds[c][i] / result.f_seconds[i]
            y = result.peak_bytes[c][i]
            if not (np.isfinite(x) and np.isfinite(y)):
                continue
            style = _config_style(c, result.configs)
            ax.plot([x], [y], ls="none", ms=8, color=style["color"], marker=style["marker"],
                    label=style["label"])
            ax.annotate(c, (x, y), xytext=(6, 5 if k % 2 == 0 else -11),
                        textcoords="offset points", fontsize=7.5)
            k += 1
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.margins(x=0.15, y=0.15)
        ax.set_xlabel("time of a gradient / time of one evaluation of f")
        ax.set_ylabel("peak bytes allocated (tracemalloc)")
        ax.set_title(f"memory vs time at T = {t}: {what}", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        return ax
    if metric not in labels:
        raise UnknownMethodError(f"plot_memory(metric={metric!r}): choose peak_bytes, seconds, "
                                 f"tape_bytes, recomputed or tradeoff")
    data = getattr(result, metric)
    for c in result.configs:
        y = np.asarray(data[c], dtype=float)
        if np.any(np.isfinite(y) & (y > 0)):
            ax.plot(result.steps, np.where(y > 0, y, np.nan), ms=5,
                    **_config_style(c, result.configs))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(result.steps, [str(int(t)) for t in result.steps])
    ax.minorticks_off()
    ax.set_xlabel("T (loop steps)")
    ax.set_ylabel(labels[metric])
    title = {"peak_bytes": "memory", "seconds": "time", "tape_bytes": "tape",
             "recomputed": "recomputation"}[metric]
    ax.set_title(f"{title} vs loop length: {what}", fontsize=10)
    ax.legend(fontsize=7.5, loc="best")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_schedule(actions: Any, ax: Any = None, *, title: str | None = None) -> Any:
    """A reversal as a time/step diagram: which step runs when, and which states are kept.

    Rows are time, top to bottom, one per step evaluated; the horizontal axis is the state
    index. A grey arrow ``k -> k+1`` is an advance (nothing kept), a blue one a taped step,
    a red arrow ``k+1 -> k`` a step's VJP in the reverse sweep. A black bar at state ``k``
    spans the time a snapshot of it is held; a dashed line marks the start of the sweep.

    Parameters
    ----------
    actions : list of diffkit.revolve.Action
        From :func:`diffkit.revolve.schedule`.
    ax : matplotlib Axes, optional
    title : str, optional
        Default: the counts (advances, taped, recomputed, most snapshots held).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> from diffkit import revolve
    >>> ax = plot_schedule(revolve.schedule(10, 3))
    >>> bool(ax.get_xlim()[1] > 10)
    True
    """
    from matplotlib.lines import Line2D

    ax = _axes(ax)
    colors = {"advance": "0.6", "taped": "tab:blue", "reverse": "tab:red"}
    row = 0
    open_since: dict[int, list[int]] = {}
    held_rows: list[tuple[int, int, int]] = []
    sweep_row = None
    steps = 0
    most = held = 0
    counts = {"advance": 0, "taped": 0, "reverse": 0}
    recomputed = 0
    for a in actions:
        if a.kind in colors:
            if a.sweep and sweep_row is None:
                sweep_row = row
            x0, x1 = (a.step, a.step + 1) if a.kind != "reverse" else (a.step + 1, a.step)
            ax.annotate("", xy=(x1, row), xytext=(x0, row),
                        arrowprops={"arrowstyle": "-|>", "color": colors[a.kind],
                                    "lw": 1.6 if a.kind != "advance" else 1.0,
                                    "shrinkA": 0, "shrinkB": 0})
            counts[a.kind] += 1
            recomputed += a.sweep and a.kind != "reverse"
            steps = max(steps, a.step + 1)
            row += 1
        elif a.kind == "snapshot":
            open_since.setdefault(a.step, []).append(row)
            held += len(open_since[a.step]) == 1
            most = max(most, held)
        elif a.kind == "release":
            start = open_since[a.step].pop()
            if not open_since[a.step]:
                held -= 1
                held_rows.append((a.step, start, row))
    for k, starts in open_since.items():
        held_rows.extend((k, s, row) for s in starts)
    for k, start, end in held_rows:
        ax.plot([k, k], [start - 0.4, end - 0.6], color="black", lw=3, alpha=0.55,
                solid_capstyle="butt")
    if sweep_row is not None:
        ax.axhline(sweep_row - 0.5, color="0.3", ls="--", lw=0.8)
        ax.text(steps + 0.15, sweep_row - 0.5, "sweep starts", va="bottom", fontsize=7.5)
    ax.set_xlim(-0.5, steps + 1.5)
    ax.set_ylim(row, -1)
    ax.set_xlabel("state k (step k runs from state k to k + 1)")
    ax.set_ylabel("time (one row per step evaluated)")
    ax.set_title(title if title is not None else
                 f"{steps} steps: {counts['advance']} advances, {counts['taped']} taped, "
                 f"{recomputed} recomputed, at most {most} snapshots", fontsize=10)
    handles = [Line2D([], [], color=colors["advance"], label="advance (not kept)"),
               Line2D([], [], color=colors["taped"], lw=1.6, label="taped"),
               Line2D([], [], color=colors["reverse"], lw=1.6, label="reverse (VJP)"),
               Line2D([], [], color="black", lw=3, alpha=0.55, label="snapshot held")]
    ax.legend(handles=handles, fontsize=7.5, loc="lower right")
    ax.grid(True, axis="x", alpha=0.2)
    return ax
