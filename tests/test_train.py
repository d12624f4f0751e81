"""`polygrad train` end to end, and training on array_api_strict's device1 through the library."""

import importlib.util
import json
import os
import re
import sys

import numpy as np
import pytest

import polygrad as pg
from polygrad import checkpoint, data, nn, optim
from polygrad.nn import models
from polygrad.cli import main
from polygrad.cli.commands import train as train_command


def train(*argv):
    """Exit code of `polygrad train ARGV` (argparse errors exit through SystemExit)."""
    try:
        return main(["train", *argv])
    except SystemExit as exit:
        return exit.code


def history(out):
    return [(h["epoch"], h["train_loss"], h["val_accuracy"])
            for h in json.loads((out / "metrics.json").read_text())["history"]]


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "must be positive"),
    (["--epochs", "two"], "expected an integer"),
    (["--batch-size", "-4"], "must be positive"),
    (["--lr", "0"], "must be positive"),
    (["--lr", "nan"], "must be positive"),
    (["--model", "transformer"], "invalid choice"),
    (["--optimizer", "lbfgs"], "invalid choice"),
    (["--dataset", "imagenet"], "expected one of digits"),
    (["--dataset", "/no/such/file.npz"], "no such file"),
    (["--backend", "jax"], "invalid choice"),
    (["--device", "tpu:0"], "unknown device 'tpu:0'"),
    (["--backend", "array_api_strict", "--device", "device9"], "unknown device 'device9'"),
    (["--epochs"], "expected one argument"),
    (["--resume"], "no checkpoint"),
])
def test_bad_options_exit_2_with_a_message(argv, message, tmp_path, capsys):
    assert train(*argv, "--out", str(tmp_path)) == 2
    assert message in capsys.readouterr().err


def test_cnn_on_flat_samples_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "flat.npz"
    np.savez(path, x=np.zeros((10, 6), dtype=np.float32), y=np.arange(10) % 2)
    assert train("--model", "cnn", "--dataset", str(path), "--out", str(tmp_path)) == 2
    assert "square images" in capsys.readouterr().err


def test_short_run_writes_metrics_checkpoint_and_plot(tmp_path, capsys):
    out = tmp_path / "run"
    assert train("--epochs", "2", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert printed.count("val_acc") == 2 and "samples/s" in printed and "final validation accuracy" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert metrics["history"][1]["train_loss"] < metrics["history"][0]["train_loss"]
    assert metrics["config"]["backend"] == pg.get_default_backend().name
    assert all(h["samples_per_s"] > 0 for h in metrics["history"])
    if importlib.util.find_spec("matplotlib"):
        assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "matplotlib is not installed" in printed and not (out / "curves.png").exists()
    model = models.mlp()
    meta = checkpoint.load(out / "checkpoint.npz", model)
    assert meta["epoch"] == 2 and meta["history"] == metrics["history"]


def test_same_seed_same_metrics_other_seed_others(tmp_path):
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        assert train("--epochs", "2", "--seed", seed, "--out", str(tmp_path / name)) == 0
    assert history(tmp_path / "a") == history(tmp_path / "b")
    assert history(tmp_path / "a") != history(tmp_path / "c")


def interrupt_after(monkeypatch, epoch, batches):
    """Ctrl-C after `batches` training steps of `epoch` (1-based): the weights have moved part way."""
    calls = []
    real = train_command.tqdm

    def progress(iterable, **kwargs):
        calls.append(1)
        for i, batch in enumerate(real(iterable, **kwargs)):
            if len(calls) == epoch and i == batches:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(train_command, "tqdm", progress)


def test_ctrl_c_mid_epoch_keeps_the_epoch_checkpoint_and_resume_matches_an_unbroken_run(tmp_path, monkeypatch,
                                                                                          capsys):
    options = ["--epochs", "3", "--optimizer", "sgd"]
    assert train(*options, "--out", str(tmp_path / "straight")) == 0

    out = tmp_path / "broken"
    interrupt_after(monkeypatch, epoch=2, batches=5)
    assert train(*options, "--out", str(out)) == 130
    err = capsys.readouterr().err
    assert "interrupted in epoch 2" in err and "interrupted.npz (not resumable)" in err
    assert f"checkpoint.npz holds the end of epoch 1; --resume --out {out} continues from there" in err
    assert not (out / "metrics.json").exists()

    at_epoch_end, mid_epoch = models.mlp(), models.mlp()
    saved = checkpoint.load(out / "checkpoint.npz", at_epoch_end)
    assert saved["epoch"] == 1 and "interrupted" not in saved and len(saved["history"]) == 1
    cut = checkpoint.load(out / "interrupted.npz", mid_epoch)
    assert cut["epoch"] == 1 and cut["interrupted"] is True and cut["interrupted_in_epoch"] == 2
    assert cut["history"] == saved["history"]
    moved = [not np.array_equal(a.numpy(), b.numpy())
             for a, b in zip(at_epoch_end.parameters(), mid_epoch.parameters(), strict=True)]
    assert all(moved)  # five steps into epoch 2: not the end-of-epoch-1 weights

    monkeypatch.undo()
    assert train(*options, "--resume", "--out", str(out)) == 0
    assert history(out) == history(tmp_path / "straight")


def test_ctrl_c_in_the_first_epoch_says_there_is_nothing_to_resume(tmp_path, monkeypatch, capsys):
    interrupt_after(monkeypatch, epoch=1, batches=2)
    assert train("--epochs", "2", "--out", str(tmp_path)) == 130
    assert "nothing to resume" in capsys.readouterr().err
    assert not (tmp_path / "checkpoint.npz").exists()
    assert checkpoint.metadata(tmp_path / "interrupted.npz")["epoch"] == 0
    monkeypatch.undo()
    assert train("--epochs", "2", "--resume", "--out", str(tmp_path)) == 2  # no checkpoint.npz


def test_resume_warns_about_a_mid_epoch_checkpoint_of_an_older_polygrad(tmp_path, capsys):
    assert train("--epochs", "1", "--out", str(tmp_path)) == 0
    path = tmp_path / "checkpoint.npz"
    model = models.mlp()
    opt = optim.Adam(model.parameters())
    meta = checkpoint.load(path, model, opt)
    checkpoint.save(path, model, opt, **meta, interrupted=True)  # what Ctrl-C used to write here
    capsys.readouterr()
    assert train("--epochs", "2", "--resume", "--out", str(tmp_path)) == 0
    assert "will not match an unbroken one" in capsys.readouterr().err


def test_resume_refuses_another_configuration(tmp_path, capsys):
    assert train("--epochs", "1", "--out", str(tmp_path)) == 0
    assert train("--epochs", "2", "--optimizer", "rmsprop", "--resume", "--out", str(tmp_path)) == 2
    assert "--optimizer adam" in capsys.readouterr().err


def test_npz_dataset(tmp_path):
    images, labels = data.load_digits()
    path = tmp_path / "digits.npz"
    np.savez(path, x=(images[:300] * 255).astype(np.uint8), y=labels[:300])
    assert train("--dataset", str(path), "--epochs", "1", "--model", "cnn", "--out", str(tmp_path / "o")) == 0
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["config"]["dataset"] == str(path)


def test_offline_mnist_is_a_clear_failure(tmp_path, monkeypatch, capsys):
    import urllib.error
    import urllib.request

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setenv("POLYGRAD_DATA", str(tmp_path / "cache"))
    assert train("--dataset", "mnist", "--out", str(tmp_path / "o")) == 1
    assert "cannot download mnist" in capsys.readouterr().err


def test_without_matplotlib_a_one_line_notice(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    assert train("--epochs", "1", "--out", str(tmp_path)) == 0
    assert "matplotlib is not installed" in capsys.readouterr().out
    assert not (tmp_path / "curves.png").exists()


def test_strict_device1_from_the_command_line(tmp_path):
    assert train("--backend", "array_api_strict", "--device", "device1", "--epochs", "1", "--out", str(tmp_path)) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["config"]["device"] == "device1"


def test_mlp_trains_end_to_end_on_device1():
    device = pg.backends.get("array_api_strict").device("device1")
    pg.manual_seed(0)
    model = models.mlp(device=device)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    (x, y), _ = data.train_val_split(*data.load_digits(), seed=0)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=64, shuffle=True, device=device)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(3):
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    for p in model.parameters():
        assert p.device == device and p.grad.device == device
    for state in opt.state.values():
        assert state["exp_avg"].device == device


def test_default_run_reaches_97_percent(tmp_path):
    """The README's main command: `polygrad train` with no options (here only --out)."""
    assert train("--out", str(tmp_path)) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["final_val_accuracy"] >= 0.97


@pytest.mark.slow
def test_cnn_reaches_98_percent(tmp_path):
    assert train("--model", "cnn", "--epochs", "8", "--out", str(tmp_path)) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["final_val_accuracy"] >= 0.98


def test_each_run_without_out_gets_its_own_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert train("--epochs", "1") == 0
    assert train("--epochs", "1", "--seed", "1") == 0  # within the same second, most likely: still a new folder
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all(re.fullmatch(r"train-\d{8}-\d{6}(-\d+)?", run.name) for run in runs)
    assert all((run / "checkpoint.npz").is_file() and (run / "metrics.json").is_file() for run in runs)
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]  # nothing else written into the working directory
    printed = capsys.readouterr().out
    assert all(str(run.relative_to(tmp_path) / "metrics.json") in printed for run in runs)


def test_resume_needs_out(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert train("--epochs", "1", "--resume") == 2
    assert "--resume needs --out OUT" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["under_a_file", "a_file", "read_only"])
def test_an_unusable_out_exits_2_with_one_line(tmp_path, capsys, where):
    (tmp_path / "file").write_text("")
    out = {"under_a_file": tmp_path / "file" / "run", "a_file": tmp_path / "file", "read_only": tmp_path / "ro"}[where]
    if where == "read_only":
        if os.name != "posix" or os.geteuid() == 0:
            pytest.skip("root (or a non-POSIX system) writes into read-only folders")
        out.mkdir()
        out.chmod(0o500)
    assert train("--epochs", "1", "--out", str(out)) == 2
    err = capsys.readouterr().err
    reason = "is a file, not a folder" if where == "a_file" else "cannot write there"
    assert err.count("\n") == 1 and err.startswith(f"polygrad train: error: --out {out}") and reason in err


def test_a_second_ctrl_c_while_saving_exits_130_without_a_traceback(tmp_path, monkeypatch, capsys):
    interrupt_after(monkeypatch, epoch=2, batches=3)
    real_save = checkpoint.save

    def save(path, *args, **kwargs):
        if path.name == "interrupted.npz":
            raise KeyboardInterrupt  # the user presses Ctrl-C again while the first one is handled
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(train_command.checkpoint, "save", save)
    assert train("--epochs", "3", "--out", str(tmp_path)) == 130
    err = capsys.readouterr().err
    assert "interrupted again while saving" in err and "which is not written" in err
    assert f"--resume --out {tmp_path} continues from there" in err
    assert not (tmp_path / "interrupted.npz").exists() and (tmp_path / "checkpoint.npz").is_file()


def test_ctrl_c_anywhere_in_a_command_exits_130_with_one_line(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_command, "load_dataset", interrupted)
    assert train("--epochs", "1") == 130
    assert capsys.readouterr().err == "\npolygrad train: interrupted\n"


def test_a_failed_save_during_training_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    def full(path, *args, **kwargs):
        raise checkpoint.CheckpointError(f"{path}: cannot write the checkpoint (No space left on device)")

    monkeypatch.setattr(train_command.checkpoint, "save", full)
    assert train("--epochs", "1", "--out", str(tmp_path)) == 1
    assert capsys.readouterr().err == f"polygrad train: {tmp_path / 'checkpoint.npz'}: cannot write the checkpoint " \
                                      "(No space left on device)\n"


@pytest.mark.parametrize("change, problem", [
    (lambda meta: meta.update(config="mlp"), "its 'config' is not an object"),
    (lambda meta: meta.update(scheduler={"last_epoch": "1", "base_lrs": [0.1]}), "its 'scheduler' is not"),
    (lambda meta: meta["scheduler"].update(base_lrs=["0.001; rm -rf /"]), "its 'scheduler' is not"),
    (lambda meta: meta.update(history={"epoch": 1}), "its 'history' is not a list"),
])
def test_resume_type_checks_the_run_metadata(tmp_path, capsys, change, problem):
    assert train("--epochs", "1", "--out", str(tmp_path)) == 0
    path = tmp_path / "checkpoint.npz"
    with np.load(path) as f:
        arrays = {name: f[name] for name in f.files}
    meta = json.loads(arrays["__polygrad__"].tobytes())
    change(meta["metadata"])
    arrays["__polygrad__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)
    assert train("--epochs", "2", "--resume", "--out", str(tmp_path)) == 1
    assert f"{path}: cannot resume from it: {problem}" in capsys.readouterr().err
