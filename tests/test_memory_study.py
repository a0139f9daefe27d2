"""The memory study (dk.analysis.memory), its pictures and the ``diffkit memory`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

import diffkit as dk
from diffkit import revolve
from diffkit.analysis.memory import lorenz96
from diffkit.cli import main

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def study():
    return dk.analysis.memory(steps=[20, 60], state=4, schedules=[2, None, "sqrt"],
                              methods=["central-difference", "forward-mode"], repeat=1)


def test_study_counts_and_agreement(study):
    assert study.configs == ("tape", "revolve c=2", "sqrt", "central-difference",
                             "forward-mode")  # the tape first: the others are read against it
    assert study.recomputed["revolve c=2"].tolist() == [revolve.recomputations(t, 2)
                                                        for t in (20, 60)]
    assert study.recomputed["sqrt"].tolist() == [15, 56]  # T minus the last segment
    assert study.evaluations["tape"].tolist() == [20, 60]
    # one vector pass carries all 4 tangent directions through the T steps
    assert study.evaluations["forward-mode"].tolist() == [20, 60]
    assert study.snapshots["revolve c=2"].tolist() == [2, 2]
    for c in ("tape", "revolve c=2", "sqrt"):
        np.testing.assert_array_equal(study.difference[c], 0.0)
    assert np.all(study.difference["forward-mode"] < 1e-13)
    assert np.all(study.difference["central-difference"] < 1e-6)
    assert np.all(study.peak_bytes["revolve c=2"] < study.peak_bytes["tape"])
    assert np.all(np.isfinite(study.seconds["forward-mode"]))
    assert all(s == "ok" for c in study.configs for s in study.status[c])
    mem, sec = study.ratios("tape")
    np.testing.assert_array_equal(mem, 1.0)
    np.testing.assert_array_equal(sec, 1.0)


def test_study_tables(study):
    text = study.to_markdown()
    assert text.splitlines()[0].startswith("| configuration | T | peak bytes |")
    assert "| revolve c=2 | 60 |" in text
    data = json.loads(json.dumps(study.to_dict()))
    assert data["steps"] == [20, 60]
    assert data["configs"]["revolve c=2"]["recomputed"] == [
        float(revolve.recomputations(t, 2)) for t in (20, 60)]


@pytest.mark.parametrize("metric", ["peak_bytes", "seconds", "tape_bytes", "recomputed",
                                    "tradeoff"])
def test_study_plots(study, metric):
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    assert study.plot(ax=ax, metric=metric) is ax
    assert ax.get_yscale() == "log"
    assert ax.lines


def test_study_plot_unknown_metric(study):
    with pytest.raises(dk.UnknownMethodError, match="plot_memory\\(metric='bytes'\\)"):
        study.plot(metric="bytes")


def test_schedule_diagram():
    from matplotlib.figure import Figure

    from diffkit.plotting import plot_schedule

    ax = Figure().add_subplot()
    actions = revolve.schedule(10, 3)
    assert plot_schedule(actions, ax=ax) is ax
    rows = sum(a.kind in ("advance", "taped", "reverse") for a in actions)
    assert ax.get_ylim() == (rows, -1)  # one row per step evaluated, time downwards
    assert "15 recomputed, at most 3 snapshots" in ax.get_title()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"family": "heat"}, "memory(family='heat'): unknown family"),
    ({"steps": [0, 10]}, "loop lengths must be integers >= 1"),
    ({"state": 2}, "memory(state=2): the state size must be an integer >= 3"),
    ({"repeat": 0}, "memory(repeat=0): must be a positive integer"),
])
def test_study_bad_input(kwargs, message):
    with pytest.raises(dk.DiffkitError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dk.analysis.memory(**{"steps": [10], "state": 4, **kwargs})


def test_lorenz96_is_the_benchmarks_loop():
    f, x0 = lorenz96(6, 30, checkpoints=4)
    g, _ = lorenz96(6, 30)
    np.testing.assert_array_equal(dk.gradient(f, x0, method="reverse-mode"),
                                  dk.gradient(g, x0, method="reverse-mode"))
    np.testing.assert_allclose(dk.gradient(f, x0, method="forward-mode"),
                               dk.gradient(g, x0, method="reverse-mode"), rtol=1e-13)


# ----------------------------------------------------------------------------- the command


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_memory_table_json_and_plot(capsys, tmp_path):
    png = tmp_path / "m.png"
    code, out, _ = run(capsys, "memory", "--steps", "20,40", "--state", "4", "--schedules",
                         "tape,2", "--methods", "none", "--repeat", "1", "--out", str(png))
    assert code == 0
    assert "| revolve c=2 | 40 |" in out
    assert png.stat().st_size > 1000
    code, out, _ = run(capsys, "memory", "--steps", "20", "--state", "4", "--schedules",
                       "tape,sqrt", "--methods", "forward-mode", "--repeat", "1", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data["configs"]) == {"tape", "sqrt", "forward-mode"}


def test_cli_memory_schedule(capsys, tmp_path):
    png = tmp_path / "s.png"
    code, out, _ = run(capsys, "memory", "--schedule", "5,2", "--out", str(png))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["record", "snapshot", "0"]
    assert sum(ln.split()[:2] == ["sweep", "advance"] for ln in lines) + \
        sum(ln.split()[:2] == ["sweep", "taped"] for ln in lines) == \
        revolve.recomputations(5, 2)
    assert png.stat().st_size > 1000


@pytest.mark.parametrize(("argv", "message"), [
    (["--schedules", "tape,x"], "--schedules 'tape,x': each entry is tape, sqrt or a number"),
    (["--schedule", "5"], "--schedule '5': pass T,c"),
    (["--schedule", "5,0"], "--schedule '0': each entry is tape, sqrt or a number"),
    (["--steps", "0"], "--steps 0: loop lengths must be >= 1"),
    (["--state", "2"], "--state 2: the state size must be >= 3"),
])
def test_cli_memory_bad_input(capsys, argv, message):
    code, _, err = run(capsys, "memory", *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
