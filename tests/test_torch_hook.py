"""`polygrad run script.py` and `pg.install_as_torch()`: `import torch` answered by polygrad.

Each check runs a script in a fresh process (the hook changes what `import torch` means there,
which must not leak into this one), and compares what it prints with what the real torch says.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from torch_oracle import needs_torch, torch

import polygrad as pg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def polygrad_run(tmp_path, source, *args, options=(), env=None):
    """Run `source` as a script through `python -m polygrad run`; (exit code, stdout, stderr)."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    inherited = {k: v for k, v in os.environ.items() if k != "POLYGRAD_BACKEND"}  # the run's default: numpy
    environment = dict(inherited, PYTHONPATH=ROOT, **(env or {}))
    done = subprocess.run([sys.executable, "-m", "polygrad", "run", *options, str(script), *args], cwd=tmp_path,
                          capture_output=True, text=True, env=environment, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_a_script_sees_polygrad_as_torch_with_pytorchs_meanings(tmp_path):
    code, out, err = polygrad_run(tmp_path, '''
        import json, sys
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        import torch.backends.cudnn as cudnn
        import torch.optim.lr_scheduler as lr_scheduler
        from torch.utils.data import DataLoader
        from torch.utils.data.dataloader import DataLoader as LoaderByPath
        from torch.nn.modules.module import Module
        from torch.serialization import load
        import polygrad

        torch.backends.cuda.matmul.allow_tf32 = True
        cudnn.benchmark = True
        x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
        print(json.dumps({
            "name": __name__, "argv": sys.argv[1:],
            "same": [nn.Linear is polygrad.nn.Linear, F.relu is polygrad.functional.relu,
                     DataLoader is LoaderByPath is polygrad.data.DataLoader, Module is polygrad.nn.Module,
                     load is polygrad.load, lr_scheduler.StepLR is polygrad.optim.StepLR,
                     torch.Tensor is polygrad.Tensor, torch.nn is nn, torch.backends.cudnn is cudnn],
            "flags": [torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark,
                      torch.backends.cudnn.deterministic, torch.backends.cudnn.allow_tf32],
            "registry": polygrad.backends.default_name(),
            "torch_meaning": [torch.trace(x).item(), torch.tril(x, -1).tolist(), torch.triu(x, 1).tolist()],
            "cuda": [torch.cuda.is_available(), torch.cuda.device_count(), torch.cuda.is_bf16_supported(),
                     torch.accelerator.is_available(), torch.accelerator.current_accelerator()],
            "amp": [type(torch.cuda.amp.GradScaler(enabled=False)).__name__,
                    torch.amp.GradScaler(enabled=False).scale(x) is x],
        }))
        with torch.autocast(device_type="cpu", enabled=False), torch.amp.autocast("cpu", enabled=False):
            pass
        ''', "--lr", "0.1", "data.txt")
    assert code == 0, err
    seen = json.loads(out)
    assert seen["name"] == "__main__" and seen["argv"] == ["--lr", "0.1", "data.txt"]
    assert all(seen["same"]), seen["same"]
    assert seen["flags"] == [True, True, False, True]
    assert seen["registry"] == "numpy"
    assert seen["torch_meaning"] == [5.0, [[0.0, 0.0], [3.0, 0.0]], [[0.0, 2.0], [0.0, 0.0]]]
    assert seen["amp"] == ["GradScaler", True]
    if torch is not None:
        assert seen["cuda"] == [torch.cuda.is_available(), torch.cuda.device_count(),
                                torch.cuda.is_bf16_supported(), torch.accelerator.is_available(), None]


@needs_torch
def test_the_flags_start_at_pytorchs_defaults(tmp_path):
    names = ["cuda.matmul.allow_tf32", "cudnn.enabled", "cudnn.benchmark", "cudnn.deterministic",
             "cudnn.allow_tf32", "cuda.matmul.allow_fp16_reduced_precision_reduction"]
    code, out, err = polygrad_run(tmp_path, f'''
        import json, operator, torch
        print(json.dumps([operator.attrgetter(name)(torch.backends) for name in {names!r}]))
        ''')
    assert code == 0, err
    import operator

    assert json.loads(out) == [operator.attrgetter(name)(torch.backends) for name in names]


@pytest.mark.parametrize("line, named", [
    ("torch.no_such_function(1)", "torch.no_such_function"),
    ("import torch.no_such_module", "torch.no_such_module"),
    ("from torch.nn import NoSuchLayer", "torch.nn.NoSuchLayer"),
    ("torch.nn.NoSuchLayer()", "torch.nn.NoSuchLayer"),
])
def test_a_name_polygrad_lacks_stops_the_script_with_one_line_naming_it(tmp_path, line, named):
    code, out, err = polygrad_run(tmp_path, f"import torch\nimport torch.nn\nprint('started')\n{line}\n")
    assert code == 1 and out == "started\n"
    assert err.count("\n") == 1 and err.startswith("polygrad run: ")
    assert f"script.py:4: {named} is not in polygrad" in err


def test_other_errors_are_the_scripts_own_traceback(tmp_path):
    code, _, err = polygrad_run(tmp_path, "import torch\n\ndef f():\n    raise KeyError('boom')\n\nf()\n")
    assert code == 1
    assert err.startswith("Traceback (most recent call last):\n") and "polygrad" not in err
    assert 'script.py", line 6' in err and err.endswith("KeyError: 'boom'\n")
    code, _, _ = polygrad_run(tmp_path, "import sys\nsys.exit(3)\n")
    assert code == 3


@pytest.mark.parametrize("how", ["option", "environment"])
def test_the_backend_is_chosen_by_option_or_environment(tmp_path, how):
    if "array_api_strict" not in pg.backends.available():
        pytest.skip("array_api_strict is not installed")
    options, env = (("--backend", "array_api_strict"), None) if how == "option" else ((), {
        "POLYGRAD_BACKEND": "array_api_strict"})
    code, out, err = polygrad_run(tmp_path, "import torch\nprint(torch.ones(2).device.backend.name)\n",
                                  options=options, env=env)
    assert code == 0, err
    assert out == "array_api_strict\n"


def test_the_torch_backend_and_unknown_backends_are_refused(tmp_path):
    code, _, err = polygrad_run(tmp_path, "print('ran')\n", options=("--backend", "torch"))
    # with torch installed: the hook hides it; without: it is missing. Either way one line, exit 2
    assert code == 2 and "the torch backend needs" in err
    code, _, err = polygrad_run(tmp_path, "print('ran')\n", options=("--backend", "nope"))
    assert code == 2 and "unknown backend 'nope'" in err


def test_install_as_torch_in_a_notebook_and_its_limits(tmp_path):
    source = '''
        import polygrad as pg
        pg.install_as_torch()
        import torch, torch.nn as nn
        print(nn.Linear is pg.nn.Linear, "torch" in pg.backends.available())
        '''
    script = tmp_path / "notebook.py"
    script.write_text(textwrap.dedent(source))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True False\n"  # the torch backend is off while polygrad answers `import torch`
    if torch is None:
        return
    script.write_text("import torch\nimport polygrad as pg\npg.install_as_torch()\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 1 and "the real torch is already imported" in done.stderr
