"""The README works as written: every ```python block, top to bottom in one fresh interpreter, and every
shell command of its ```bash blocks that can run here, after the set-up command.

Each shell command is listed in COMMANDS with how it is checked, and a README command missing from that
list fails the test, so a new command cannot go unchecked. The commands run from a temporary folder
(`runs/` lands there), with `.venv/bin/` read as the bin folder of the interpreter running the tests
(the set-up's .venv, or a nox session's) and repository paths made absolute.
"""

import importlib.util
import json
from importlib import metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent
SETUP = 'python3 -m venv .venv && .venv/bin/pip install -q -e ".[test]" && .venv/bin/polygrad train'


def blocks(language):
    """(line number, text) of every ```language block."""
    found, lines = [], README.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == f"```{language}":
            end = lines.index("```", i + 1)
            found.append((i + 2, "\n".join(lines[i + 1:end])))
    return found


def commands():
    """Every shell command of the README: lines of its bash blocks without comments, split at `&&`."""
    found = []
    for _, text in blocks("bash"):
        for line in text.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                found += [part.strip() for part in line.split("&&")]
    return found


# ------------------------------------------------------------ python blocks
DRIVER = """
import json, sys
import polygrad as pg
namespace = {"__name__": "__main__"}
for line, source, needs_gpu in json.load(open(sys.argv[1])):
    try:
        exec(compile(source, f"README.md, block at line {line}", "exec"), namespace)
    except pg.BackendUnavailable as error:
        if not needs_gpu:
            raise
        print(f"block at line {line} needs a GPU: {error}")
    print(f"block at line {line} ran")
"""


def test_the_python_blocks_run_top_to_bottom_in_a_fresh_interpreter(tmp_path):
    """A block that names cupy or CUDA may stop at polygrad's own BackendUnavailable where there is no GPU."""
    python = blocks("python")
    assert len(python) >= 5
    source = [(line, text, bool(re.search(r"cupy|cuda", text))) for line, text in python]
    (tmp_path / "blocks.json").write_text(json.dumps(source))
    (tmp_path / "driver.py").write_text(DRIVER)
    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "driver.py", "blocks.json"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(" ran\n") == len(python), out.stdout


# ------------------------------------------------------------ shell commands
def extras():
    return set(metadata.metadata("polygrad").get_all("Provides-Extra"))


def ci_script():
    return (ROOT / ".ci" / "run").read_text()


def nox_sessions():
    """Sessions named in noxfile.py (name="..." or the decorated function's name) and the backend sessions."""
    text = (ROOT / "noxfile.py").read_text()
    return (set(re.findall(r'name="([\w-]+)"', text)) | set(re.findall(r"@nox\.session\ndef (\w+)", text))
            | {f"tests-{b}" for b in ("numpy", "array_api_strict", "torch", "cupy")})


# README command -> how it is checked:
#   "run"             as written
#   ("small", cmd)    cmd, shorter, here; the README's form under -m slow (nox -s slow)
#   ("quick", cmd)    cmd only: a timing run of minutes whose --quick form runs the same code
#   "setup", "pip", "ci", "gpu": not run here; what is checked instead is in test_every_command_is_checked
COMMANDS = {
    "python3 -m venv .venv": "setup",
    '.venv/bin/pip install -q -e ".[test]"': "pip",
    ".venv/bin/polygrad train": "run",
    ".venv/bin/python -m pytest": "ci",
    '.venv/bin/pip install -q -e ".[cuda13]"': "pip",
    '.venv/bin/pip install -q -e ".[torch]"': "pip",
    '.venv/bin/pip install -q -e ".[plot]"': "pip",
    '.venv/bin/pip install -q -e ".[dist]"': "pip",
    ".venv/bin/mpiexec -n 2 .venv/bin/polygrad train": ("small", ".venv/bin/mpiexec -n 2 .venv/bin/polygrad train --epochs 2"),
    ".venv/bin/polygrad train --model cnn --epochs 8": ("small", ".venv/bin/polygrad train --model cnn --epochs 1"),
    ".venv/bin/polygrad train --backend array_api_strict --device device1": "run",
    '.venv/bin/polygrad trace "ln(x1) + x1*x2 - sin(x2)" --at x1=2 x2=5': "run",
    ".venv/bin/polygrad bench": ("small", ".venv/bin/polygrad bench --quick"),
    ".venv/bin/polygrad info": "run",
    ".venv/bin/polygrad run examples/pytorch/train.py --lr 0.1": "run",
    ".venv/bin/polygrad run --backend array_api_strict examples/pytorch/train.py": "run",
    ".venv/bin/python -m pytest --backend array_api_strict": "ci",
    "POLYGRAD_BACKEND=torch .venv/bin/python -m pytest": "ci",
    ".venv/bin/nox": "ci",
    ".venv/bin/nox -s tests-torch tests-cupy": "ci",
    ".venv/bin/nox -s tests-dist": "ci",
    ".venv/bin/nox -s slow": "ci",
    "bash .ci/run": "ci",
    ".venv/bin/python benchmarks/bench_core.py": ("quick", ".venv/bin/python benchmarks/bench_core.py --quick --out ."),
    ".venv/bin/python benchmarks/bench_devices.py": ("quick", ".venv/bin/python benchmarks/bench_devices.py --quick --out ."),
    ".venv/bin/python benchmarks/bench_amp.py": ("quick", ".venv/bin/python benchmarks/bench_amp.py --quick --out ."),
    ".venv/bin/python benchmarks/bench_models.py": ("quick", ".venv/bin/python benchmarks/bench_models.py --rounds 1 --out ."),
    "bash scripts/gpu_check.sh OUT": "gpu",
}


def test_every_command_is_checked():
    """What is not run here is checked another way: the set-up line is the one CI runs first, every
    pip extra exists, every test command names a nox session that exists or is what CI runs."""
    found = commands()
    assert set(found) == set(COMMANDS), "README commands and COMMANDS differ: " + repr(set(found) ^ set(COMMANDS))
    assert SETUP in README and SETUP in ci_script()
    for command, how in COMMANDS.items():
        if how == "pip":
            assert re.fullmatch(r'\.venv/bin/pip install -q -e "\.\[(\w+)\]"', command)[1] in extras(), command
        if command.startswith(".venv/bin/nox -s"):
            assert set(command.split()[2:]) <= nox_sessions(), command
    assert "nox" in ci_script() and "tests-torch" in ci_script() and "slow" in ci_script()


def shell(command, tmp_path, timeout):
    """Run a README command from tmp_path: .venv/bin/ is this interpreter's bin, repository paths absolute."""
    words = [str(BIN / w.removeprefix(".venv/bin/")) if w.startswith(".venv/bin/")
             else str(ROOT / w) if "/" in w and (ROOT / w).exists() else w for w in shlex.split(command)]
    if not Path(words[0]).exists() and shutil.which(words[0]) is None:
        pytest.skip(f"{words[0]} is not installed here")
    env = {k: v for k, v in os.environ.items() if k != "POLYGRAD_BACKEND"}  # the README's default backend
    out = subprocess.run(words, cwd=tmp_path, capture_output=True, text=True, timeout=timeout, env=env)
    assert out.returncode == 0, f"{command}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    assert "Traceback" not in out.stderr and "Warning" not in out.stderr, out.stderr
    return out.stdout


def _needs(command):
    if "mpiexec" in command and importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install -e '.[dist]')")


RUN_HERE = [(c, c if h == "run" else h[1]) for c, h in COMMANDS.items() if h == "run" or h[0] in ("small", "quick")]
FULL = [c for c, h in COMMANDS.items() if isinstance(h, tuple) and h[0] == "small"]


@pytest.fixture
def default_session(request):
    if "numpy" not in request.config.polygrad_backends:
        pytest.skip("the README's commands run on the default backend: in the numpy session (nox -s tests-numpy)")


@pytest.mark.parametrize("command, form", RUN_HERE, ids=[c for c, _ in RUN_HERE])
def test_a_readme_command_runs(command, form, tmp_path, default_session):
    _needs(command)
    out = shell(form, tmp_path, timeout=300)
    if "polygrad train" in form:
        assert "final validation accuracy" in out


@pytest.mark.slow
@pytest.mark.parametrize("command", FULL)
def test_a_long_readme_command_runs_as_written(command, tmp_path):
    _needs(command)
    out = shell(command, tmp_path, timeout=1200)
    if "--model cnn --epochs 8" in command:  # what the README promises for it
        assert float(re.findall(r"final validation accuracy ([\d.]+)%", out)[-1]) >= 98
