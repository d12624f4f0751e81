"""The examples run end to end (one short epoch each) and learn something."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name, *args):
    out = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_ctc_toy_decodes():
    out = run("ctc_toy.py", "--epochs", "2")
    rates = [float(r) for r in re.findall(r"label error rate ([\d.]+)%", out)]
    assert len(rates) == 2 and max(rates) < 50  # greedy and beam search, far better than chance after 2 epochs


def test_conv_autoencoder_beats_the_mean_image():
    out = run("conv_autoencoder.py", "--epochs", "2")
    error, baseline = map(float, re.findall(r"validation MSE ([\d.]+)  \(mean image: ([\d.]+)\)", out)[-1])
    assert error < baseline / 2


SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))  # _placement.py is a helper


@pytest.mark.parametrize("name", SCRIPTS)
@pytest.mark.parametrize("argv, message", [
    (["--backend", "nosuch"], "unknown backend 'nosuch'"),
    (["--backend", "array_api_strict", "--device", "device9"], "unknown device 'device9'"),
])
def test_a_bad_backend_or_device_is_one_line_and_exit_2(name, argv, message):
    out = subprocess.run([sys.executable, str(EXAMPLES / name), *argv, "--epochs", "1"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 2 and out.stderr.startswith(f"{name}: error: {message}") and out.stderr.count("\n") == 1


@pytest.mark.parametrize("name", SCRIPTS)
def test_an_example_writes_nothing_into_the_working_directory(name, tmp_path):
    """Only under runs/ (or a temporary folder): running an example never litters the current directory."""
    out = subprocess.run([sys.executable, str(EXAMPLES / name), "--epochs", "1"], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert {p.name for p in tmp_path.iterdir()} <= {"runs"}


def test_char_lstm_learns():
    out = run("char_lstm.py", "--epochs", "5")
    losses = [float(v) for v in re.findall(r"loss ([\d.]+)  \(([\d.]+) at random\)", out)[-1]]
    assert losses[0] < losses[1] * 0.8  # below the uniform guess after 5 epochs


def test_transformer_digits_classifies():
    out = run("transformer_digits.py", "--epochs", "3")
    assert float(re.findall(r"val accuracy ([\d.]+)%", out)[-1]) > 60
