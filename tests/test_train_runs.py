"""`polygrad train` and the runs already in --out: not overwritten unless asked, resumed with more epochs
on the longer run's schedule, no stale files left behind."""

import json
import math

import pytest

from polygrad.cli import main
from polygrad.cli.commands import train as train_command


def train(*argv):
    try:
        return main(["train", *argv])
    except SystemExit as exit:
        return exit.code


def metrics(out):
    return json.loads((out / "metrics.json").read_text())


def test_a_finished_run_is_not_overwritten_without_force(tmp_path, capsys):
    assert train("--epochs", "1", "--out", str(tmp_path)) == 0
    before = (tmp_path / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    assert train("--epochs", "1", "--seed", "1", "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err == (f"polygrad train: error: --out {tmp_path} already holds a run; continue it with --resume, "
                   "replace it with --force, or name a new folder\n")
    assert (tmp_path / "checkpoint.npz").read_bytes() == before
    assert train("--epochs", "1", "--seed", "1", "--force", "--out", str(tmp_path)) == 0
    assert (tmp_path / "checkpoint.npz").read_bytes() != before
    assert metrics(tmp_path)["config"]["seed"] == 1


def interrupt_in_epoch_2(monkeypatch):
    """Make the next training run stop with Ctrl-C in its second epoch (it leaves interrupted.npz)."""
    calls = []
    real = train_command.tqdm

    def interrupted_in_epoch_2(iterable, **kwargs):
        calls.append(1)
        for i, batch in enumerate(real(iterable, **kwargs)):
            if len(calls) == 2 and i == 3:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(train_command, "tqdm", interrupted_in_epoch_2)


def test_force_leaves_nothing_of_the_replaced_run(tmp_path, monkeypatch):
    interrupt_in_epoch_2(monkeypatch)
    assert train("--epochs", "3", "--out", str(tmp_path)) == 130
    monkeypatch.undo()
    assert (tmp_path / "interrupted.npz").is_file()
    assert train("--epochs", "1", "--force", "--out", str(tmp_path)) == 0
    assert not (tmp_path / "interrupted.npz").exists()
    assert [h["epoch"] for h in metrics(tmp_path)["history"]] == [1]


def test_a_successful_resume_removes_interrupted_npz(tmp_path, monkeypatch):
    interrupt_in_epoch_2(monkeypatch)
    assert train("--epochs", "2", "--out", str(tmp_path)) == 130
    monkeypatch.undo()
    assert (tmp_path / "interrupted.npz").is_file()
    assert train("--epochs", "2", "--resume", "--out", str(tmp_path)) == 0
    assert {p.name for p in tmp_path.iterdir()} <= {"checkpoint.npz", "curves.png", "metrics.json"}


def cosine(base, epoch, total):
    return base * (1 + math.cos(math.pi * epoch / total)) / 2


def test_resume_with_more_epochs_follows_the_longer_runs_schedule(tmp_path, capsys):
    """Epochs 3 and 4 of a 2-epoch run resumed with --epochs 4 use the lr a 4-epoch run uses there
    (PyTorch's CosineAnnealingLR, closed form), not the 2-epoch cosine going back up."""
    base = 3e-3  # adam's default peak
    assert train("--epochs", "4", "--out", str(tmp_path / "long")) == 0
    long = [h["lr"] for h in metrics(tmp_path / "long")["history"]]
    assert long == pytest.approx([cosine(base, e, 4) for e in range(4)], rel=1e-12)

    out = tmp_path / "resumed"
    assert train("--epochs", "2", "--out", str(out)) == 0
    capsys.readouterr()
    assert train("--epochs", "4", "--resume", "--out", str(out)) == 0
    assert ("resuming at epoch 3 of 4; the run was started with --epochs 2, so the learning rate follows "
            "the 4-epoch cosine from here") in capsys.readouterr().out
    resumed = [h["lr"] for h in metrics(out)["history"]]
    assert resumed[:2] == pytest.approx([cosine(base, e, 2) for e in range(2)], rel=1e-12)
    assert resumed[2:] == long[2:]
    assert metrics(out)["config"]["epochs"] == 4


def test_resume_of_a_run_that_has_its_epochs_asks_for_more(tmp_path, capsys):
    assert train("--epochs", "1", "--out", str(tmp_path)) == 0
    assert "after 1 epoch;" in capsys.readouterr().out
    assert train("--epochs", "1", "--resume", "--out", str(tmp_path)) == 2
    assert "already holds 1 epoch; ask for more with --epochs" in capsys.readouterr().err
