"""polygrad's rules compute IEEE specials (log(-1) = nan, 1/0 = inf) silently, as PyTorch does, on the
numpy backend too; NumPy called from the user's own code still warns. Run in a fresh interpreter with
Python's default warning filters, as a user's script runs."""

import subprocess
import sys


def run(code):
    out = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out


def test_trace_of_log_at_a_negative_input_prints_nan_without_a_warning():
    out = run("from polygrad.cli import main; main(['trace', 'ln(x1)', '--at', 'x1=-1'])")
    assert "nan" in out.stdout and out.stderr == ""


def test_the_rules_warn_nothing_and_numpy_in_user_code_still_does():
    out = run("import numpy as np, polygrad as pg\n"
              "x = pg.tensor([-1.0, 0.0, 1.0], backend='numpy', requires_grad=True)\n"
              "y = pg.log(x) + 1 / x\n"
              "y.sum().backward()\n"
              "print(y.numpy().tolist(), x.grad.numpy().tolist())\n"
              "np.log(np.array(-1.0))\n")
    assert out.stdout.strip() == "[nan, nan, 1.0] [-2.0, nan, 0.0]"  # log 0 + 1/0 = -inf + inf; d/dx: 1/x - 1/x**2
    assert out.stderr.count("RuntimeWarning") == 1 and "<string>:6" in out.stderr  # the user's own np.log
