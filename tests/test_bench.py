"""`polygrad bench` runs in --quick mode and prints its table; the gradient check bites.

Smoke tests only: nothing here asserts a timing.
"""

import importlib.util
import json
import pathlib

import pytest

import polygrad as pg
from polygrad.cli import bench
from polygrad.cli import main


ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_bench_quick_prints_a_table_and_writes_results(capsys, tmp_path):
    assert main(["bench", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| workload | contender | median ms |" in out
    assert "hand-written (numpy cpu)" in out and "polygrad (numpy cpu)" in out
    assert "torch" not in out  # the installed command has no PyTorch contender (benchmarks/ adds it)
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


def test_the_help_says_where_the_pytorch_contender_is(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    assert "no PyTorch-autograd contender" in capsys.readouterr().out


def twin(workload, device):
    """An extra contender: the hand-written step again, under another name."""
    if isinstance(workload, bench.Chain):
        raise NotImplementedError("no chain here")
    return workload.by_hand(device)


def test_extra_contenders_are_checked_timed_and_skipped_with_notes():
    extra = [bench.Contender("twin", "numpy", "cpu", twin),
             bench.Contender("ghost", "array_api_strict", "device9", twin)]
    report = bench.core(repeats=1, quick=True, extra=extra)
    text = report.markdown()
    assert "twin (numpy cpu)" in text and "ghost" not in text.split("Note:")[0]
    assert "Note: ghost on array_api_strict device9 skipped: unknown device 'device9'" in text
    assert "Note: twin skipped chain of 20 tiny ops (16 float32): no chain here" in text
    rows = [row for row in report.rows if row["contender"] == "twin (numpy cpu)"]
    assert [row["workload"] for row in rows] == ["MLP 64-32-32-10 step, batch 16"]
    assert "time / hand-written" in rows[0]["ratios"]


def test_a_wrong_extra_contender_is_caught():
    def wrong(workload, device):
        step = workload.by_hand(device)
        return lambda: [r * 2 for r in step()]

    with pytest.raises(bench.BenchError, match="the loss of wrong"):
        bench.core(repeats=1, quick=True, extra=[bench.Contender("wrong", "numpy", "cpu", wrong)])


def test_the_torch_contender_of_the_benchmark_scripts():
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("torch_contender", ROOT / "benchmarks" / "torch_contender.py")
    torch_contender = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(torch_contender)
    cpu = pg.backends.get("torch").device("cpu")
    for workload in (bench.Chain(6, 4), bench.MLP((8, 4, 3), batch=5), bench.MatmulChain(8, 2)):
        entries = [bench.Entry(workload, "by_hand", pg.backends.get("numpy").default_device()),
                   bench.Entry(workload, torch_contender.contenders("cpu")[0], cpu)]
        bench.check(workload, entries)  # same loss and gradients as the hand-written NumPy
        assert entries[1].label == "torch autograd (torch cpu)"


def test_a_second_run_never_overwrites_an_earlier_result(capsys, tmp_path):
    for _ in range(3):
        assert main(["bench", "--quick", "--repeats", "1", "--out", str(tmp_path)]) == 0
    written = sorted(p.name[len("YYYY-MM-DD-"):] for p in tmp_path.iterdir())
    assert written == ["cpu-quick-2.json", "cpu-quick-2.md", "cpu-quick-3.json", "cpu-quick-3.md",
                       "cpu-quick.json", "cpu-quick.md"]
    printed = capsys.readouterr().out
    assert all(f"wrote {tmp_path / name}" in printed for name in (p.name for p in tmp_path.iterdir()))


def test_unused_stem_skips_a_name_taken_by_either_file(tmp_path):
    from polygrad.cli.bench import unused_stem

    assert unused_stem(tmp_path, "r") == str(tmp_path / "r")
    (tmp_path / "r.json").write_text("{}")
    (tmp_path / "r-2.md").write_text("")
    assert unused_stem(tmp_path, "r") == str(tmp_path / "r-3")
