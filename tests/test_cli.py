"""The diffkit command through main([...]): results on stdout, one-line errors, exit codes."""

from __future__ import annotations

import json

import pytest

from diffkit import methods
from diffkit.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_formula(capsys):
    code, out, err = run(capsys, "compare", "log(x1) + x1*x2 - sin(x2)", "--at", "2,5",
                         "--methods", "central-difference,forward-difference", "--repeat", "1")
    assert code == 0
    assert "central-difference" in out
    assert "reference exact" in out
    assert "Traceback" not in err


def test_compare_json(capsys):
    code, out, _ = run(capsys, "compare", "exp(x)", "--at", "1", "--methods",
                       "central-difference", "--repeat", "1", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["rows"][0]["method"] == "central-difference"
    assert data["rows"][0]["rel_error"] < 1e-9
    assert data["reference_exact"] is True


def test_compare_markdown(capsys):
    code, out, _ = run(capsys, "compare", "exp(x)", "--at", "1", "--methods",
                       "central-difference", "--repeat", "1", "--markdown")
    assert code == 0
    assert "| method | derivative |" in out


def test_sweep(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    png, csv = tmp_path / "s.png", tmp_path / "s.csv"
    code, out, err = run(capsys, "sweep", "exp(x)", "--at", "1", "--out", str(png),
                         "--csv", str(csv))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("d/dx exp(x) at x = 1")
    rows = {ln.split()[0]: ln.split() for ln in lines[2:]}
    assert set(rows) == {"forward-difference", "backward-difference", "central-difference",
                         "complex-step"}
    assert 1e-10 <= float(rows["forward-difference"][3]) <= 1e-6
    assert abs(float(rows["central-difference"][2]) - 2) < 0.2
    assert png.stat().st_size > 1000
    assert csv.read_text().startswith("scheme,h,")
    assert f"wrote {png}" in err


def test_sweep_json_float32(capsys):
    code, out, _ = run(capsys, "sweep", "exp(x)", "--at", "1", "--schemes",
                       "central-difference", "--no-complex-step", "--dtype", "float32",
                       "--json")
    assert code == 0
    data = json.loads(out)
    assert data["dtype"] == "float32"
    assert list(data["schemes"]) == ["central-difference"]


def test_swell(capsys):
    code, out, _ = run(capsys, "swell", "logistic", "--n", "1..4")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("| n |")
    assert [ln.split("|")[1].strip() for ln in lines[2:]] == ["1", "2", "3", "4"]


def test_swell_json(capsys):
    code, out, _ = run(capsys, "swell", "logistic", "--n", "2,3", "--json")
    assert code == 0
    assert json.loads(out)["n"] == [2, 3]


def test_cost(capsys):
    code, out, _ = run(capsys, "cost", "rosenbrock", "--dims", "4,8", "--methods",
                       "central-difference", "--repeat", "1")
    assert code == 0
    assert "| central-difference | 4 |" in out
    assert "| central-difference | 8 |" in out


def test_cost_json(capsys):
    code, out, _ = run(capsys, "cost", "sines", "--dims", "3", "--methods", "manual",
                       "--repeat", "1", "--json")
    assert code == 0
    assert json.loads(out)["methods"]["manual"]["rel_error"] == [0.0]


def test_trace(capsys):
    pytest.importorskip("diffkit.trace")
    code, out, _ = run(capsys, "trace", "log(x1) + x1*x2 - sin(x2)", "--at", "2,5")
    assert code == 0
    assert "v2  = v-1 * v0    = 10" in out  # Baydin et al. Table 3, primal
    assert "x̄1  = v̄-1                  = 5.5" in out  # and adjoint
    code, out, _ = run(capsys, "trace", "log(x1) + x1*x2 - sin(x2)", "--at", "2,5", "--mode",
                       "forward")
    assert code == 0
    assert out.strip().splitlines()[-1].endswith("= 5.5")  # Table 2: tangent of y along x1
    code, out, _ = run(capsys, "trace", "x*y", "--at", "2,5", "--format", "dot")
    assert code == 0
    assert "digraph" in out


def test_trace_missing_module_is_exit_1(capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "diffkit.trace", None)
    code, _out, err = run(capsys, "trace", "x*y", "--at", "2,5")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "not in this installation" in err


@pytest.mark.parametrize(("argv", "needle"), [
    (["compare", "log(x1) +", "--at", "2,5"], "bad formula 'log(x1) +'"),
    (["compare", "__import__('os')", "--at", "1"], "bad formula"),
    (["compare", "exp(x)", "--at", "1,x"], "--at '1,x' is not a comma-separated list"),
    (["compare", "log(x1) + x2", "--at", "2,5,7"], "takes 2 parameters"),
    (["compare", "exp(x)"], "--at is required"),
    (["compare", "exp(x)", "--at", "1", "--methods", "magic"], "'magic' is not a diffkit"),
    (["compare", "log(x)", "--at", "-1"], "cannot be evaluated"),
    (["compare", "--at", "1"], "--at needs a formula"),
    (["sweep", "exp(x)", "--at", "1", "--schemes", "fancy"], "'fancy' is not a scheme"),
    (["sweep", "x*y", "--at", "1,2"], "sweep takes a function of one variable"),
    (["sweep", "exp(x)"], "--at"),
    (["swell", "henon"], "unknown family 'henon'"),
    (["swell", "logistic", "--n", "5..2"], "increasing range"),
    (["swell", "logistic", "--n", "a..b"], "not a range"),
    (["cost", "rosenbrock", "--dims", "1,10"], "must be >= 2"),
    (["cost", "rosenbrock", "--dims", "ten"], "not a comma-separated list of integers"),
    (["cost", "nope"], "unknown family 'nope'"),
    (["cost", "rosenbrock", "--repeat", "0"], "--repeat must be >= 1"),
    (["trace", "x*y", "--at", "2,5", "--mode", "sideways"], "invalid choice: 'sideways'"),
    (["trace", "x*y", "--at", "2,5", "--mode", "forward", "--format", "dot"], "--mode reverse"),
    (["trace", "x*y", "--at", "2"], "takes 2 parameters"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "required"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "compare" in out
    assert "report" in out


def test_unwritable_output_is_exit_1(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    code, _, err = run(capsys, "sweep", "exp(x)", "--at", "1", "--csv",
                       str(tmp_path / "missing" / "x.csv"))
    assert code == 1
    assert "cannot write" in err


def test_catalogue_compare(capsys):
    code, out, _ = run(capsys, "compare", "--methods", "central-difference", "--repeat", "1")
    assert code == 0
    assert out.splitlines()[0] == "| function | central-difference |"
    assert "| baydin |" in out


def test_methods_are_listed_in_compare(capsys):
    code, out, _ = run(capsys, "compare", "x**2", "--at", "3", "--repeat", "1")
    assert code == 0
    for m in methods.concrete():
        assert m in out
