"""The `polygrad` command's edges (version, info, Ctrl-C) and the test suite's own reporting."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import polygrad as pg
from polygrad.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_version(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out == f"polygrad {pg.__version__}\n"


def test_info_lists_the_version_of_every_backend_library(capsys):
    assert main(["info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"polygrad {pg.__version__} on Python ") and "array-api-compat " in lines[0]
    assert re.search(rf"^numpy +{re.escape(np.__version__)} +devices: cpu$", "\n".join(lines), re.M)
    for name in pg.backends.available():
        version = pg.backends.get(name).library_version()
        assert version != "unknown"
        assert any(line.startswith(name + " ") and f" {version} " in line for line in lines), name
    for name in set(pg.backends.names()) - set(pg.backends.available()):
        assert any(line.startswith(name + " ") and "unavailable: " in line for line in lines), name


def test_the_torch_line_shows_torch_s_own_version(capsys):
    torch = pytest.importorskip("torch")
    assert main(["info"]) == 0
    assert re.search(rf"^torch +{re.escape(torch.__version__)} +devices: ", capsys.readouterr().out, re.M)


def test_a_ctrl_c_outside_any_handler_exits_130_without_a_traceback():
    """A real SIGINT, not a monkeypatched exception: the process prints one line and exits 130."""
    code = ("import os, signal\nfrom polygrad.cli.commands import info\n"
            "info.run = lambda args: os.kill(os.getpid(), signal.SIGINT)\n"
            "from polygrad.cli import main\nraise SystemExit(main(['info']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 130 and result.stderr == "\npolygrad info: interrupted\n" and result.stdout == ""


def test_pytest_says_why_tests_were_skipped_one_line_per_reason(tmp_path):
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path)
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.parametrize('i', range(3))\ndef test_a(i):\n    pytest.skip('reason a')\n\n"
        "@pytest.mark.skip(reason='reason b')\ndef test_b():\n    pass\n\n"
        "def test_c():\n    pass\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--backend", "numpy",
                             str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    section = result.stdout.split("why tests were skipped", 1)[1].splitlines()[1:3]
    assert [line.split(maxsplit=1) for line in section] == [["3", "reason a"], ["1", "reason b"]], result.stdout


def test_the_readme_says_what_the_seed_is_before_using_the_word():
    text = (ROOT / "README.md").read_text()
    first = re.search(r"\bthe seed\b", text, re.I)
    sentence = text[first.start():text.index(".", first.start())]
    assert "CMU 11-785" in sentence and "autograd" in sentence.lower(), sentence
