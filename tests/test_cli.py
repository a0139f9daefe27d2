"""The diffkit command through main([...]): results on stdout, one-line errors, exit codes."""

from __future__ import annotations

import json

import numpy as np
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
    (["compare", "log(x1) + x2", "--at", "2,5,7"],
     "--at 2,5,7 gives 3 numbers, but 'log(x1) + x2' has 2 variables (x1, x2); give one number "
     "per variable, in that order, e.g. --at 1,1"),
    (["compare", "exp(x)"], "--at is required"),
    (["compare", "exp(x)", "--at", "1", "--methods", "magic"], "--methods magic: not a method"),
    (["compare", "log(x)", "--at", "-1"],
     "'log(x)' is not defined at --at -1 (log(-1.0): outside its domain, log requires x > 0)"),
    (["compare", "--at", "1"], "--at needs a formula"),
    (["sweep", "exp(x)", "--at", "1", "--schemes", "fancy"], "--schemes fancy: not a scheme"),
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
    (["trace", "x*y", "--at", "2"], "'x*y' has 2 variables (x, y)"),
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
        if m != "manual":  # a formula has no hand-written derivative unless --manual gives one
            assert m in out
    assert "manual" not in out


# ----------------------------------------------------------------------------- issue 25 / 24


def test_version(capsys):
    from diffkit import __version__

    code, out, err = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"diffkit {__version__}"
    assert err == ""


def test_method_aliases(capsys):
    code, out, err = run(capsys, "compare", "exp(x)", "--at", "1", "--methods",
                         "reverse,central,sym,cs,fd", "--repeat", "1")
    assert code == 0
    rows = [ln.split()[0] for ln in out.splitlines()[2:7]]
    assert rows == ["reverse-mode", "central-difference", "symbolic", "complex-step",
                    "forward-difference"]
    assert err == ""
    code, out, err = run(capsys, "compare", "exp(x)", "--at", "1", "--methods", "Forward",
                         "--repeat", "1")
    assert code == 0
    assert out.splitlines()[2].split()[0] == "forward-mode"
    assert err.strip() == ("note: --methods Forward is forward-mode (AD); forward differences "
                           "are forward-difference (or fd)")
    code, out, _ = run(capsys, "sweep", "exp(x)", "--at", "1", "--schemes", "central,complex",
                       "--no-complex-step")
    assert code == 0
    assert [ln.split()[0] for ln in out.splitlines()[2:]] == ["central-difference",
                                                              "complex-step"]


@pytest.mark.parametrize(("argv", "line"), [
    (["compare", "exp(x)", "--at", "1", "--methods", "revers"],
     "diffkit compare: --methods revers: not a method; did you mean 'reverse-mode'? (choose "
     "from auto, manual, forward-difference, backward-difference, central-difference, "
     "richardson, complex-step, symbolic, reverse-mode, forward-mode, reverse-compiled)"),
    (["compare", "exp(x)", "--at", "1", "--methods", "centrl-difference"],
     "did you mean 'central-difference'?"),
    (["compare", "exp(x)", "--at", "1", "--methods", "backward"],
     "diffkit compare: --methods backward: ambiguous; did you mean 'backward-difference' or "
     "'reverse-mode'?"),
    (["sweep", "exp(x)", "--at", "1", "--schemes", "centrl"], "did you mean "
     "'central-difference'?"),
    (["cost", "rosen"], "diffkit cost: unknown family 'rosen'; did you mean 'rosenbrock'?"),
    (["swell", "logistc"], "unknown family 'logistc'; did you mean 'logistic'?"),
    (["compar", "exp(x)", "--at", "1"], "did you mean 'compare'?"),
    (["trace", "x", "--at", "1", "--mode", "revers"], "did you mean 'reverse'?"),
])
def test_did_you_mean(capsys, argv, line):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert line in err


@pytest.mark.parametrize("argv", [
    ["sweep", "exp(x)", "--at", "1,2"],
    ["compare", "sqrt(x)", "--at", "0"],
    ["sweep", "sqrt(x)", "--at", "0"],
    ["trace", "sqrt(x)", "--at", "0"],
    ["compare", "x**0.5", "--at", "0"],
    ["compare", "exp(x)+y", "--at", "1"],
    ["compare", "log(x)", "--at", "0"],
    ["compare", "1/x", "--at", "0"],
    ["compare", "exp(x)", "--at", "inf"],
    ["compare", "exp(x)", "--at", "1e400"],
    ["trace", "x*y", "--at", "1,2,3"],
    ["compare", "x", "--at", "1", "--methods", "complex-step,xyz"],
    ["compare", "x**2", "--at", "3", "--methods", "manual"],
    ["compare", "x**2", "--at", "3", "--manual", "2*y"],
    ["sweep", "x**0.5", "--at", "1e308", "--dtype", "float32"],
])
def test_messages_speak_cli_not_python(capsys, argv):
    """Issue 25: flags, not Python calls; no sympy jargon ('zoo'); one line, exit 2."""
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"diffkit {argv[0]}: ")
    for python in ("zoo", "sympy", "(f, x)", "method=", "dk.", "Function(", "gradient(",
                   "jacobian", "Traceback", "x = ["):
        assert python not in lines[0], (python, lines[0])


def test_sweep_at_two_points_says_one_point(capsys):
    code, _, err = run(capsys, "sweep", "exp(x)", "--at", "1,2")
    assert code == 2
    assert err.strip() == ("diffkit sweep: --at 1,2 gives 2 numbers; sweep differentiates "
                           "'exp(x)' at one point: give one number, e.g. --at 1 (run once "
                           "per point)")


def test_infinite_derivative_is_named_in_words(capsys):
    code, _, err = run(capsys, "compare", "sqrt(x)", "--at", "0")
    assert code == 2
    assert err.strip() == ("diffkit compare: the exact derivative of 'sqrt(x)' at [0.0] is "
                           "infinite, not a real number; the point is outside the domain or "
                           "at a kink")


def test_formula_has_no_manual_row(capsys):
    """Issue 24: the manual row's status suggested '@log(x1) + x1*x2 - sin(x2).manual'."""
    for extra in ([], ["--json"], ["--markdown"]):
        code, out, _ = run(capsys, "compare", "log(x1) + x1*x2 - sin(x2)", "--at", "2,5",
                           "--repeat", "1", *extra)
        assert code == 0
        assert "manual" not in out
        assert ".manual" not in out


def test_manual_formula_is_checked(capsys):
    code, out, _ = run(capsys, "compare", "log(x1) + x1*x2 - sin(x2)", "--at", "2,5",
                       "--manual", "1/x1 + x2, x1 - cos(x2)", "--repeat", "1", "--json")
    assert code == 0
    row = json.loads(out)["rows"][0]
    assert row["method"] == "manual"
    assert row["status"] == "ok"
    assert row["rel_error"] == 0
    # a bug in the hand-written derivative shows as its error and fails the command (exit
    # 1: the flag is there to check it), the others stay exact
    code, out, _ = run(capsys, "compare", "log(x1) + x1*x2 - sin(x2)", "--at", "2,5",
                       "--manual", "[1/x1 + x2, x1 + cos(x2)]", "--methods",
                       "manual,reverse", "--repeat", "1", "--json")
    assert code == 1
    rows = {r["method"]: r for r in json.loads(out)["rows"]}
    assert rows["manual"]["abs_error"] == pytest.approx(2 * abs(np.cos(5.0)), rel=1e-12)
    assert rows["manual"]["status"].startswith("disagrees with the reference")
    assert rows["reverse-mode"]["abs_error"] == 0
    code, out, _ = run(capsys, "compare", "atan2(y, x)", "--at", "1,2", "--manual",
                       "-y/(x**2 + y**2), x/(x**2 + y**2)", "--methods", "manual",
                       "--repeat", "1", "--json")
    assert code == 0
    assert json.loads(out)["rows"][0]["rel_error"] < 1e-15


@pytest.mark.parametrize(("argv", "needle"), [
    (["compare", "x1*x2", "--at", "1,2", "--manual", "x2"],
     "--manual 'x2' gives 1 formula, but 'x1*x2' has 2 variables (x1, x2); give one partial "
     "derivative per variable, comma-separated, in that order"),
    (["compare", "x1*x2", "--at", "1,2", "--manual", "x2,"], "gives 1 formula"),
    (["compare", "x1*x2", "--at", "1,2", "--manual", "x2, x1 +"],
     "--manual: bad formula 'x1 +'"),
    (["compare", "x1*x2", "--at", "1,2", "--manual", "x2, z"], "z"),
    (["compare", "--manual", "2*x"], "--manual needs a formula"),
    (["compare", "x**2", "--at", "3", "--methods", "manual"],
     "--methods manual needs the hand-written derivative: give it with --manual"),
])
def test_bad_manual(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert needle in err


@pytest.mark.parametrize("columns", [60, 80, 100, 160])
def test_compare_table_keeps_to_the_terminal_width(capsys, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, _ = run(capsys, "compare", "abs(x1) + log(x1) + x1*x2 - sin(x2)", "--at",
                       "0.5,5", "--repeat", "1")
    assert code == 0
    lines = out.splitlines()
    assert max(len(ln) for ln in lines) <= columns
    table = "\n".join(lines)
    assert "non-analytic [1]" in table  # the complex step's status, as a short code
    details = table[table.index("[1] complex-step: "):].replace("\n    ", " ")
    # the message is under the table, in CLI terms
    assert "use --methods richardson or central-difference" in details
    assert "method=" not in table


def test_closed_pipe_is_quiet():
    """Issue 24: `diffkit trace ... --format dot | head -2` ended in a BrokenPipeError."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for argv in (["trace", "log(x1) + x1*x2 - sin(x2)", "--at", "2,5", "--format", "dot"],
                 ["compare", "exp(x)", "--at", "1", "--repeat", "1"]):
        proc = subprocess.Popen([sys.executable, "-m", "diffkit", *argv],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        proc.stdout.close()  # the reader goes away before diffkit writes (| head)
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert proc.wait(timeout=120) == 141
        assert err == ""


def test_internal_error_is_one_line_exit_1(capsys, monkeypatch):
    import diffkit.cli as cli

    def broken(args):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli, "_trace", broken)
    code, out, err = run(capsys, "trace", "x", "--at", "1")
    assert code == 1
    assert out == ""
    assert err.strip() == ("diffkit trace: internal error: RuntimeError: boom (rerun with "
                           "--traceback to see where, and please report it)")
    with pytest.raises(RuntimeError, match="boom"):
        main(["--traceback", "trace", "x", "--at", "1"])


def test_interrupt_is_exit_130(capsys, monkeypatch):
    import diffkit.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_sweep", interrupted)
    code, _, err = run(capsys, "sweep", "x", "--at", "1")
    assert code == 130
    assert err.strip() == "diffkit sweep: interrupted"


def test_trace_out_is_sized_to_the_graph(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "dag.png"
    code, _, err = run(capsys, "trace", "log(x1) + x1*x2 - sin(x2)", "--at", "2,5", "--out",
                       str(png))
    assert code == 0
    assert f"wrote {png}" in err
    from matplotlib.image import imread

    height, width = imread(png).shape[:2]
    assert 400 < width < 900  # 5.7 x 2.2 inches at 110 dpi, not a fixed 9 x 6
    assert 150 < height < 400


@pytest.mark.parametrize(("text", "cli"), [
    ("compare(f, x): log(x) cannot be evaluated", "log(x) cannot be evaluated"),
    ("log(-1.0): outside its domain, log requires x > 0", "log(-1.0): outside its domain, log "
     "requires x > 0"),
    ("trace(f, x, mode='sideways'): mode must be", "mode must be"),
    ("use method='richardson' or 'central-difference' (or an AD method)",
     "use --methods richardson or central-difference (or an AD method)"),
    ("method='complex-step' refuses", "--methods complex-step refuses"),
])
def test_library_messages_in_cli_terms(text, cli):
    from diffkit.cli import _cli_terms

    assert _cli_terms(text) == cli


def test_a_warning_is_one_line(capsys, monkeypatch):
    import warnings

    import diffkit.cli as cli

    def noisy(args):
        warnings.warn("overflow encountered\nsecond line", RuntimeWarning, stacklevel=1)
        print("result")
        return 0

    monkeypatch.setattr(cli, "_swell", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        code, out, err = run(capsys, "swell", "logistic")
    assert code == 0
    assert out == "result\n"
    assert err == "diffkit swell: warning: RuntimeWarning: overflow encountered\n"


def test_a_path_it_cannot_write_is_named_not_an_internal_error(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = run(capsys, "report", "--quick", "--out", str(blocker / "report"))
    assert code != 0
    assert "cannot use" in err
    assert "internal error" not in err
