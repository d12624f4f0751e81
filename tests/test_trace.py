"""`polygrad.autodiff.trace` and `polygrad trace`: the seed's three tables, the graph, hostile input."""

import shutil
import subprocess
import sys

import pytest

import polygrad as pg
from polygrad.cli import main


def seed_f(x1, x2):
    return pg.log(x1) + x1 * x2 - pg.sin(x2)


def rows(text, title):
    """The rows of one table of `str(trace)`, whitespace collapsed."""
    block = text.split(title, 1)[1].split("\n\n", 1)[0]  # the rest of the title line, then rows
    return [" ".join(line.split()) for line in block.splitlines()[1:]]


# The recitation's rows, in our notation: operator, operands, value to 3 decimals.
SEED_FORWARD = [
    "v1 = x1 input = 2.000",
    "v2 = x2 input = 5.000",
    "v3 = ln v1 log = 0.693",
    "v4 = v1 × v2 multiply = 10.000",
    "v5 = sin v2 sin = -0.959",
    "v6 = v3 + v4 add = 10.693",
    "v7 = v6 − v5 subtract = 11.652",
    "y = v7 = 11.652",
]
SEED_TANGENT = [  # along x1: 1, 0, 0.5, 5, 0, 5.5, 5.5
    "v̇1 = ∂x1/∂x1 input = 1.000",
    "v̇2 = ∂x2/∂x1 input = 0.000",
    "v̇3 = v̇1 ∂v3/∂v1 log = 0.500",
    "v̇4 = v̇1 ∂v4/∂v1 + v̇2 ∂v4/∂v2 multiply = 5.000 + 0.000 = 5.000",
    "v̇5 = v̇2 ∂v5/∂v2 sin = 0.000",
    "v̇6 = v̇3 ∂v6/∂v3 + v̇4 ∂v6/∂v4 add = 0.500 + 5.000 = 5.500",
    "v̇7 = v̇6 ∂v7/∂v6 + v̇5 ∂v7/∂v5 subtract = 5.500 + 0.000 = 5.500",
]
SEED_ADJOINT = [  # v̄7 = 1 down to v̄2 = -0.284 + 2 = 1.716 and v̄1 = 5 + 1/2 = 5.5
    "v̄7 = ∂y/∂v7 = 1.000",
    "v̄6 = v̄7 ∂v7/∂v6 subtract = 1.000",
    "v̄5 = v̄7 ∂v7/∂v5 subtract = -1.000",
    "v̄4 = v̄6 ∂v6/∂v4 add = 1.000",
    "v̄3 = v̄6 ∂v6/∂v3 add = 1.000",
    "v̄2 = v̄4 ∂v4/∂v2 + v̄5 ∂v5/∂v2 multiply, sin = 2.000 − 0.284 = 1.716",
    "v̄1 = v̄3 ∂v3/∂v1 + v̄4 ∂v4/∂v1 log, multiply = 0.500 + 5.000 = 5.500",
]


def test_trace_reproduces_the_seed_tables(target64):
    t = pg.trace(seed_f, target64.tensor(2.0), target64.tensor(5.0))
    text = str(t)
    assert rows(text, "Forward evaluation trace") == SEED_FORWARD
    assert rows(text, "Forward-mode tangent trace") == SEED_TANGENT
    assert rows(text, "Reverse adjoint trace") == SEED_ADJOINT
    assert round(t.value.item(), 3) == 11.652 and round(t.tangent.item(), 3) == 5.5
    assert [round(g.item(), 3) for g in t.gradients] == [5.5, 1.716]
    assert t.value.device == t.gradients[0].device == target64.tensor(0.0).device


def test_trace_columns_line_up():
    text = str(pg.trace(seed_f, 2.0, 5.0))
    table = text.split("Reverse adjoint trace")[1].splitlines()[1:]
    ends = {len(line.replace("\u0304", "").replace("\u0307", "")) for line in table}
    assert len(ends) == 1  # right-aligned values: every row ends in the same column


def test_tangent_trace_along_another_input_meets_the_adjoint():
    t = pg.trace(seed_f, 2.0, 5.0, names=["a", "b"], direction="b")
    assert round(t.tangent.item(), 3) == 1.716  # dy/db both ways
    assert "v̇i = ∂vi/∂b" in str(t) and "v1 = a" in str(t)
    with pytest.raises(ValueError, match="direction 'c'"):
        pg.trace(seed_f, 2.0, 5.0, names=["a", "b"], direction="c")


def test_trace_shows_constants_and_options():
    t = pg.trace(lambda x: pg.sum(pg.exp(x) * 2.0, axis=0), pg.tensor([0.0, 1.0], dtype="float64"))
    forward = rows(str(t), "Forward evaluation trace")
    assert forward[1] == "v2 = exp v1 exp = [1.000, 2.718]"
    assert forward[2] == "v3 = v2 × 2 multiply = [2.000, 5.437]"
    assert forward[3].startswith("v4 = sum(v3, axis=0")
    assert [round(v, 3) for v in t.gradients[0].tolist()] == [2.0, 5.437]


def test_to_dot_draws_the_graph():
    dot = pg.trace(seed_f, 2.0, 5.0).to_dot()
    assert dot.startswith("digraph trace {") and dot.rstrip().endswith("}")
    edges = {line.strip().rstrip(";") for line in dot.splitlines() if "->" in line}
    assert edges == {"v1 -> v3", "v1 -> v4", "v2 -> v4", "v2 -> v5", "v3 -> v6", "v4 -> v6",
                     "v6 -> v7", "v5 -> v7"}
    assert 'v3 [label="v3 = ln v1\\n0.693' in dot


@pytest.mark.skipif(shutil.which("dot") is not None, reason="graphviz is installed here")
def test_render_without_graphviz_says_so(tmp_path):
    with pytest.raises(RuntimeError, match="Graphviz"):
        pg.trace(seed_f, 2.0, 5.0).render(str(tmp_path / "graph.png"))


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs graphviz's dot")
def test_render_with_graphviz(tmp_path):
    path = tmp_path / "graph.svg"
    pg.trace(seed_f, 2.0, 5.0).render(str(path))
    assert "<svg" in path.read_text()


# ---------------------------------------------------------------- the command line
def test_cli_prints_the_three_tables(capsys, tmp_path):
    dot = tmp_path / "graph.dot"
    code = main(["trace", "ln(x1) + x1*x2 - sin(x2)", "--at", "x1=2", "x2=5", "--dot", str(dot)])
    out = capsys.readouterr().out
    assert code == 0
    assert rows(out, "Forward evaluation trace") == SEED_FORWARD
    assert rows(out, "Forward-mode tangent trace") == SEED_TANGENT
    assert rows(out, "Reverse adjoint trace") == SEED_ADJOINT
    assert dot.read_text().startswith("digraph trace {")


def test_cli_direction_and_powers(capsys):
    assert main(["trace", "x1**2 / x2 + -x1", "--at", "x1=3", "x2=2", "--direction", "x2"]) == 0
    out = capsys.readouterr().out
    assert rows(out, "Forward evaluation trace")[-1] == "y = v6 = 1.500"  # 9/2 - 3
    assert rows(out, "Forward-mode tangent trace")[-1].endswith("= -2.250")  # -x1^2 / x2^2


HOSTILE = [
    "__import__('os')",
    "__import__('os').system('echo pwned')",
    "x1.__class__",
    "lambda: 0",
    "10**10**10",
    "x1 ** 1000",
    "9" * 600,
    "unknown(x1)",
    "open('/etc/passwd')",
    "x1[0]",
    "'text'",
    "[x for x in (1, 2)]",
    "x1 if x1 else x2",
    "exp(x1, x2)",
    "exp(x=x1)",
    "x3 + 1",
    "1e400",
    "x1 @ x2",
    "import os",
    "+".join(["x1"] * 150),
    "x1 + " + "9" * 400,  # an integer too large for a float
    "x1 * -" + "7" * 309,
    "x1 ** " + "9" * 20,
]


@pytest.mark.parametrize("expression", HOSTILE)
def test_cli_refuses_hostile_expressions(expression, capsys):
    code = main(["trace", expression, "--at", "x1=2", "x2=5"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("polygrad trace: error: ")


@pytest.mark.parametrize("at", [["x1"], ["x1=abc"], ["x1=1e300"], ["sin=1"], ["1x=2"]])
def test_cli_refuses_bad_points(at, capsys):
    assert main(["trace", "x1", "--at", *at]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_cli_never_evaluates_python(tmp_path):
    marker = tmp_path / "pwned"
    expression = f"__import__('pathlib').Path('{marker}').touch()"
    result = subprocess.run([sys.executable, "-m", "polygrad", "trace", expression, "--at", "x1=1"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert not marker.exists()


def test_cli_names_a_huge_literal_by_its_first_digits(capsys):
    assert main(["trace", "x1 + " + "1234567" + "0" * 20, "--at", "x1=2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "polygrad trace: error: the number 123456... (27 digits) is larger than 1e+09")
