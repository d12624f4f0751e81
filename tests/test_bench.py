"""`polygrad bench` runs in --quick mode and prints its table; the gradient check bites.

Smoke tests only: nothing here asserts a timing.
"""

import json

import pytest

import polygrad as pg
from polygrad import bench
from polygrad.cli import main


def test_bench_quick_prints_a_table_and_writes_results(capsys, tmp_path):
    assert main(["bench", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| workload | contender | median ms |" in out
    assert "hand-written (numpy cpu)" in out and "polygrad (numpy cpu)" in out
    written = sorted(p.name for p in tmp_path.iterdir())  # <date>-cpu-quick.json and .md
    assert [name[len("YYYY-MM-DD-"):] for name in written] == ["cpu-quick.json", "cpu-quick.md"]
    report = json.loads((tmp_path / written[0]).read_text())
    assert {"date", "machine", "versions", "settings", "results"} <= set(report)
    assert report["machine"]["cores"] >= 1 and "python" in report["versions"]
    assert all(row["median_s"] > 0 for row in report["results"])


def test_bench_devices_quick_skips_what_is_missing(capsys):
    assert main(["bench", "--devices", "--quick", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "| matmul chain" in out and "polygrad (numpy cpu)" in out
    if "cupy" not in pg.backends.available():
        assert "Note: cupy cuda:0 skipped" in out


def test_bench_rejects_a_bad_repeat_count(capsys):
    assert main(["bench", "--repeats", "0"]) == 2


def test_the_gradient_check_catches_a_wrong_contender():
    class Wrong(bench.Chain):
        def polygrad(self, device):
            step = super().polygrad(device)
            return lambda: [r * 2 for r in step()]

    workload = Wrong(n_ops=6, size=4)
    cpu = pg.backends.get("numpy").default_device()
    entries = [bench.Entry(workload, impl, cpu) for impl in ("by_hand", "polygrad")]
    with pytest.raises(bench.BenchError, match="the loss of polygrad"):
        bench.check(workload, entries)
