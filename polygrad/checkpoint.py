"""Checkpoints: a model, its optimizer and metadata in one .npz file, without pickle.

Layout of the archive (every entry a plain NumPy array, read with allow_pickle=False):
    model/<name>          each parameter and buffer of model.state_dict()
    optimizer/<i>/<key>   each tensor of the optimizer's state for parameter i
    __polygrad__          UTF-8 JSON as uint8: format version, epoch, metadata,
                          optimizer class, hyperparameters and scalar state

Saving copies tensors to the host (`.numpy()`), so the model stays where it
is; the file is written to a temporary name in the same folder, flushed to
disk and renamed over the target, so a crash or Ctrl-C mid-save leaves the
previous checkpoint whole. Loading checks everything before changing
anything and copies values onto the model's current device and dtype.
"""

import json
import os
import secrets
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import PolygradError
from .tensor import Tensor

FORMAT = "polygrad-checkpoint"
VERSION = 1
_META = "__polygrad__"


class CheckpointError(PolygradError, RuntimeError):
    """A checkpoint cannot be written, read, or does not fit the model it is loaded into."""


def save(path, model, optimizer=None, epoch=None, **metadata):
    """Write `model` (and `optimizer`) to `path` atomically; `metadata` must be JSON-serialisable.

    `load` returns `{"epoch": epoch, **metadata}`.
    """
    arrays = {f"model/{name}": tensor.numpy() for name, tensor in model.state_dict().items()}
    meta = {"format": FORMAT, "version": VERSION, "epoch": epoch, "metadata": metadata, "optimizer": None}
    if optimizer is not None:
        state = optimizer.state_dict()
        scalars = {}
        for i, entries in state["state"].items():
            for key, value in entries.items():
                if isinstance(value, Tensor):
                    arrays[f"optimizer/{i}/{key}"] = value.numpy()
                else:
                    scalars.setdefault(str(i), {})[key] = value
        meta["optimizer"] = {"type": type(optimizer).__name__, "param_groups": state["param_groups"],
                             "scalars": scalars}
    try:
        text = json.dumps(meta)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: metadata is not JSON-serialisable ({error})") from None
    arrays[_META] = np.frombuffer(text.encode(), dtype=np.uint8)
    _write_atomically(Path(path), arrays)


def _write_atomically(path, arrays):
    # A fresh name beside the target (same file system, so the rename is atomic); opened
    # exclusively with plain open() so the file gets the usual umask permissions.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(temporary, "xb") as f:
            np.savez(f, allow_pickle=False, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:  # including KeyboardInterrupt: never leave the temporary behind
        temporary.unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def load(path, model, optimizer=None):
    """Load a checkpoint into `model` (and `optimizer`) on their current devices; returns the metadata.

    Raises CheckpointError naming the file and the problem (unreadable, truncated,
    wrong format version, missing/unexpected key, shape mismatch, optimizer
    mismatch); on error neither the model nor the optimizer is changed.
    """
    arrays, meta = _read(path)
    saved = {name[len("model/"):]: value for name, value in arrays.items() if name.startswith("model/")}
    own = model.state_dict()
    missing = sorted(set(own) - set(saved))
    unexpected = sorted(set(saved) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{path}: does not match the model: missing keys {missing}, unexpected keys {unexpected}")
    for name, tensor in own.items():
        if saved[name].shape != tensor.shape:
            raise CheckpointError(
                f"{path}: shape mismatch for {name!r}: checkpoint has {saved[name].shape}, model has {tensor.shape}"
            )
    if optimizer is not None:
        _load_optimizer(path, optimizer, arrays, meta["optimizer"])  # checks before it changes anything
    model.load_state_dict(saved)
    return {"epoch": meta["epoch"], **meta["metadata"]}


def metadata(path):
    """`{"epoch": ..., **metadata}` of a checkpoint, checked as `load` does, without loading into a model."""
    _, meta = _read(path)
    return {"epoch": meta["epoch"], **meta["metadata"]}


def _read(path):
    """Every array of the archive (read now, so truncation shows here) and the parsed metadata."""
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{path}: not a checkpoint (a bare .npy array, not an .npz archive)")
        with archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise CheckpointError(f"{path}: unreadable checkpoint, truncated or corrupt ({error})") from None
    if _META not in arrays:
        raise CheckpointError(f"{path}: not a polygrad checkpoint (no {_META} record)")
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode())
    except (UnicodeDecodeError, ValueError) as error:
        raise CheckpointError(f"{path}: corrupt {_META} record ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a polygrad checkpoint (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {meta.get('version')!r}; this polygrad reads version {VERSION}"
        )
    return arrays, meta


def _load_optimizer(path, optimizer, arrays, saved):
    if saved is None:
        raise CheckpointError(f"{path}: holds no optimizer state, but an optimizer was given to load into")
    if saved["type"] != type(optimizer).__name__:
        raise CheckpointError(f"{path}: optimizer state is for {saved['type']}, not {type(optimizer).__name__}")
    state = {int(i): dict(entries) for i, entries in saved["scalars"].items()}
    for name, value in arrays.items():
        if name.startswith("optimizer/"):
            _, i, key = name.split("/", 2)
            state.setdefault(int(i), {})[key] = value
    try:
        optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    except (ValueError, IndexError) as error:
        raise CheckpointError(f"{path}: optimizer state does not fit: {error}") from None
