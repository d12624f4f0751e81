"""benchmarks/bench_overhead.py runs (tiny sizes) and writes its table with the issue's three targets (no timing)."""

import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def test_quick_run_writes_the_targets(tmp_path):
    pytest.importorskip("torch")
    # its own process: the script sets the BLAS thread variables before NumPy loads
    run = subprocess.run([sys.executable, "bench_overhead.py", "--quick", "--out", str(tmp_path)],
                         cwd=BENCHMARKS, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    (md,) = tmp_path.glob("*-overhead-quick.md")
    text = md.read_text()
    for row in ("polygrad time / PyTorch", "polygrad compiled time / PyTorch", "polygrad time / hand-written"):
        assert row in text, text
    assert (tmp_path / md.name.replace(".md", ".json")).exists()
