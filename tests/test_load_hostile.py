"""pg.load and checkpoint.load refuse what is not a regular file before reading a byte (issue 19):
reading a FIFO with no writer, or /dev/zero, would never end."""

import os
import socket

import pytest

import polygrad as pg
from polygrad.checkpoint import CheckpointError

LOADERS = {"pg.load": pg.load, "checkpoint.load": lambda path: pg.checkpoint.load(path, pg.nn.Linear(2, 2))}


def _fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    os.mkfifo(tmp_path / "pipe")
    return tmp_path / "pipe", "a FIFO"


def _zero_link(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero on this system")
    (tmp_path / "model.pt").symlink_to("/dev/zero")
    return tmp_path / "model.pt", "a character device"


def _socket(tmp_path):
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("no Unix sockets on this system")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    return tmp_path / "sock", "a socket"


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize("make", [_fifo, _zero_link, _socket], ids=["fifo", "symlink-to-dev-zero", "socket"])
def test_a_non_regular_file_is_refused_naming_the_path(tmp_path, loader, make):
    path, kind = make(tmp_path)
    with pytest.raises(CheckpointError, match=f"{path}: not a regular file \\({kind}\\)"):
        LOADERS[loader](path)


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_directory_is_refused_naming_the_path(tmp_path, loader):
    with pytest.raises(CheckpointError, match=str(tmp_path)):
        LOADERS[loader](tmp_path)


def test_a_symlink_to_a_regular_checkpoint_still_loads(tmp_path):
    pg.save({"w": pg.ones(2)}, tmp_path / "real.pt")
    (tmp_path / "link.pt").symlink_to(tmp_path / "real.pt")
    assert pg.load(tmp_path / "link.pt")["w"].tolist() == [1.0, 1.0]
