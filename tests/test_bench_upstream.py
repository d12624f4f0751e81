"""benchmarks/bench_upstream.py's command line, without the upstream files (no timing, nothing run)."""

import pathlib
import subprocess
import sys

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def _run(*args):
    return subprocess.run([sys.executable, "bench_upstream.py", *args], cwd=BENCHMARKS, capture_output=True,
                          text=True, timeout=120)


def test_help_names_the_three_upstream_files():
    run = _run("--help")
    assert run.returncode == 0, run.stderr[-2000:]
    for option in ("--nanogpt PATH", "--mnist PATH", "--wlm PATH", "--rounds", "--ntokens", "--no-compiled", "--out"):
        assert option in run.stdout, run.stdout


def test_no_file_given_is_refused_by_name():
    run = _run("--rounds", "3")
    assert run.returncode == 2
    assert "give at least one upstream file: --nanogpt, --mnist or --wlm" in run.stderr


def test_a_path_that_is_not_a_file_is_refused_by_name(tmp_path):
    run = _run("--wlm", str(tmp_path / "model.py"))
    assert run.returncode == 2
    assert f"--wlm: no file at {tmp_path / 'model.py'}" in run.stderr


def test_rounds_below_one_is_refused(tmp_path):
    path = tmp_path / "model.py"
    path.write_text("")
    run = _run("--mnist", str(path), "--rounds", "0")
    assert run.returncode == 2
    assert "--rounds must be at least 1" in run.stderr
