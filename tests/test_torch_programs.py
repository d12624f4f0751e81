"""Whole training programs written the way public PyTorch scripts are written (tests/programs/),
run unchanged twice: with torch (`python prog.py`) and with polygrad (`python -m polygrad run prog.py`),
from the same initial weights (the torch run writes them, the polygrad run reads them) and the same data.
Their printed logs must agree: the same lines, and the same numbers to the digits the float32 programs
print (float64 for the L-BFGS one). The VAE draws its noise with randn_like, which cannot match torch's
stream: its losses must agree to a few percent.
"""

import os
import re
import subprocess
import sys

import numpy as np
from torch_oracle import needs_torch

pytestmark = needs_torch
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS = os.path.join(ROOT, "tests", "programs")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def run_both(tmp_path, program, *args):
    """(torch's stdout, polygrad's stdout) of one program; torch runs first and writes the initial weights."""
    outputs = []
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    for command in ([sys.executable], [sys.executable, "-m", "polygrad", "run"]):
        done = subprocess.run(command + [os.path.join(PROGRAMS, program), *args], cwd=tmp_path, capture_output=True,
                              text=True, env=env, timeout=300)
        assert done.returncode == 0, f"{' '.join(command)} {program}:\n{done.stderr}"
        outputs.append(done.stdout)
    return outputs


def numbers_of(text):
    return [float(n) for n in NUMBER.findall(text)]


def assert_same_log(ours, theirs, rtol, atol):
    """The same lines with the same numbers (to rtol/atol), dtype reprs aside."""
    theirs = theirs.replace("torch.", "")
    assert NUMBER.sub("#", ours) == NUMBER.sub("#", theirs), f"polygrad printed:\n{ours}\ntorch printed:\n{theirs}"
    np.testing.assert_allclose(numbers_of(ours), numbers_of(theirs), rtol=rtol, atol=atol,
                               err_msg=f"polygrad printed:\n{ours}\ntorch printed:\n{theirs}")


def test_nanogpt_style_training_prints_torchs_losses(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        rng.integers(0, 11, 9).astype(np.uint16).tofile(tmp_path / f"{split}.bin")
    theirs, ours = run_both(tmp_path, "nanogpt_style.py", str(tmp_path / "init.npz"), str(tmp_path / "out"))
    assert "step 8: train loss" in ours and "resumed at iter 8" in ours
    assert_same_log(ours, theirs, rtol=2e-4, atol=2e-4)


def test_mnist_style_script_with_argparse_prints_torchs_log(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 160)
    images = rng.normal(size=(160, 1, 14, 14)).astype(np.float32)
    images[np.arange(160), 0, labels, 2:12] += 3.0  # a bright row per class: learnable in a few steps
    np.savez(tmp_path / "digits.npz", x_train=images[:128], y_train=labels[:128], x_test=images[128:],
             y_test=labels[128:])
    theirs, ours = run_both(tmp_path, "mnist_style.py", str(tmp_path / "digits.npz"), "--epochs", "2",
                            "--lr", "0.5")
    assert ours.count("Train Epoch") == 4 and ours.count("Test set") == 2
    assert_same_log(ours, theirs, rtol=1e-4, atol=2e-6)


def test_lstm_language_model_with_repackage_hidden_prints_torchs_losses(tmp_path):
    rng = np.random.default_rng(2)
    pattern = np.array([1, 4, 2, 7, 3, 9, 5, 0, 12, 6])
    corpus = np.tile(pattern, 8)
    corpus[rng.integers(0, corpus.size, 6)] = rng.integers(0, 13, 6)
    np.savez(tmp_path / "corpus.npz", train=corpus[:60].astype(np.int64), valid=corpus[60:].astype(np.int64))
    theirs, ours = run_both(tmp_path, "lstm_lm.py", str(tmp_path / "corpus.npz"))
    assert ours.count("| epoch") == 2 * 4 and ours.count("end of epoch") == 2
    assert_same_log(ours, theirs, rtol=2e-4, atol=2e-4)


def test_lbfgs_closure_loop_in_float64_prints_torchs_losses(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 3))
    np.savez(tmp_path / "fit.npz", x=x, y=np.sin(x @ np.array([[1.0], [-2.0], [0.5]])))
    theirs, ours = run_both(tmp_path, "lbfgs.py", str(tmp_path / "fit.npz"))
    assert "default dtype float64 float64" in ours
    assert_same_log(ours, theirs, rtol=1e-7, atol=1e-12)
    losses = numbers_of(ours)[-4:]
    assert losses[-1] < 0.5 * losses[0]


def test_vae_with_randn_like_trains_as_torch_does(tmp_path):
    rng = np.random.default_rng(4)
    prototypes = rng.uniform(size=(4, 64)) > 0.5
    images = np.clip(prototypes[rng.integers(0, 4, 256)] * 0.9 + rng.uniform(0, 0.1, (256, 64)), 0, 1)
    np.savez(tmp_path / "images.npz", images=images.astype(np.float32))
    theirs, ours = run_both(tmp_path, "vae.py", str(tmp_path / "images.npz"))
    mine = [float(line.split()[-1]) for line in ours.splitlines() if "Average loss" in line]
    other = [float(line.split()[-1]) for line in theirs.splitlines() if "Average loss" in line]
    assert len(mine) == len(other) == 5
    assert mine[-1] < 0.8 * mine[0]
    np.testing.assert_allclose(mine, other, rtol=0.05)
    assert ours.splitlines()[-1].startswith("sample (16, 64) ")
