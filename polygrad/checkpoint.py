"""Checkpoints: a model, its optimizer and metadata in one .npz file, without pickle.

Layout of the archive (every entry a plain NumPy array, read with allow_pickle=False):
    model/<name>          each parameter and buffer of model.state_dict()
    optimizer/<i>/<key>   each tensor of the optimizer's state for parameter i
    __polygrad__          UTF-8 JSON as uint8: format version, epoch, metadata,
                          optimizer class, hyperparameters and scalar state

Saving copies tensors to the host (`.numpy()`), so the model stays where it
is; the file is written to a temporary name in the same folder, flushed to
disk and renamed over the target, so a crash or Ctrl-C mid-save leaves the
previous checkpoint whole. Loading checks everything (the header's structure,
keys, shapes, the optimizer state) before changing anything, then loads the
model, then the optimizer, copying values onto their current device and dtype.
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
            # No allow_pickle here: numpy 1.26's savez has no such parameter and would store it as an
            # array named "allow_pickle". Every array is numeric, so nothing is pickled; np.load refuses pickles.
            np.savez(f, **arrays)
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
    corrupt header, wrong format version, missing/unexpected key, shape or dtype
    mismatch, optimizer mismatch). Everything is checked first, then the model is
    loaded, then the optimizer: on a checkpoint error neither is changed, and if
    loading into the model itself fails the optimizer is untouched.
    """
    arrays, meta = _read(path)
    saved = {name[len("model/"):]: value for name, value in arrays.items() if name.startswith("model/")}
    _, _, problems = model.check_state_dict(saved)
    if problems:
        raise CheckpointError(f"{path}: does not fit the model: " + "; ".join(problems))
    for name in saved:
        if saved[name].dtype.kind not in _NUMERIC:
            raise CheckpointError(f"{path}: {name!r} holds {saved[name].dtype} data, not numbers")
    state = None
    if optimizer is not None:
        state = _optimizer_state(path, optimizer, arrays, meta["optimizer"])  # checked, nothing applied yet
    model.load_state_dict(saved)
    if optimizer is not None:
        optimizer.load_state_dict(state)  # passes the checks _optimizer_state made
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
    _check_header(path, meta)
    return arrays, meta


_NUMERIC = "biufc"  # dtype kinds a tensor can be loaded from: bool, integers, floats, complex


def _check_header(path, meta):
    """The parsed __polygrad__ record has the structure `save` writes, or CheckpointError says what is wrong."""

    def bad(problem):
        raise CheckpointError(f"{path}: corrupt {_META} record: {problem}")

    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: not a polygrad checkpoint ({_META} holds a JSON {type(meta).__name__}, "
                              "not an object)")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a polygrad checkpoint (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {meta.get('version')!r}; this polygrad reads version {VERSION}"
        )
    missing = [key for key in ("epoch", "metadata", "optimizer") if key not in meta]
    if missing:
        bad(f"missing key(s) {missing}")
    if meta["epoch"] is not None and (not isinstance(meta["epoch"], int) or isinstance(meta["epoch"], bool)):
        bad(f"'epoch' must be an integer or null, got {meta['epoch']!r}")
    if not isinstance(meta["metadata"], dict):
        bad(f"'metadata' must be an object, got {type(meta['metadata']).__name__}")
    saved = meta["optimizer"]
    if saved is None:
        return
    if not isinstance(saved, dict):
        bad(f"'optimizer' must be an object or null, got {type(saved).__name__}")
    missing = [key for key in ("type", "param_groups", "scalars") if key not in saved]
    if missing:
        bad(f"'optimizer' lacks key(s) {missing}")
    if not isinstance(saved["type"], str):
        bad(f"'optimizer.type' must be a string, got {saved['type']!r}")
    groups = saved["param_groups"]
    if not isinstance(groups, list) or not all(
        isinstance(g, dict) and isinstance(g.get("params"), list) and all(_is_index(i) for i in g["params"])
        for g in groups
    ):
        bad("'optimizer.param_groups' must be a list of objects, each with a list of integer 'params'")
    scalars = saved["scalars"]
    if not isinstance(scalars, dict) or not all(
        _is_index(i) and isinstance(entries, dict) and all(isinstance(v, (bool, int, float)) for v in entries.values())
        for i, entries in scalars.items()
    ):
        bad("'optimizer.scalars' must map parameter indices to objects of numbers")


def _is_index(value):
    """A non-negative parameter index: an int, or its decimal text (JSON object keys are strings)."""
    if isinstance(value, str):
        return value.isdecimal()
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _optimizer_state(path, optimizer, arrays, saved):
    """The state dict to give `optimizer.load_state_dict`, after checking that it fits; changes nothing."""
    if saved is None:
        raise CheckpointError(f"{path}: holds no optimizer state, but an optimizer was given to load into")
    if saved["type"] != type(optimizer).__name__:
        raise CheckpointError(f"{path}: optimizer state is for {saved['type']}, not {type(optimizer).__name__}")
    sizes = [len(g["params"]) for g in saved["param_groups"]]
    own_sizes = [len(g["params"]) for g in optimizer.param_groups]
    if sizes != own_sizes:
        raise CheckpointError(f"{path}: optimizer state does not fit: the saved parameter groups have sizes {sizes}, "
                              f"this optimizer's {own_sizes}")
    params = [p for g in optimizer.param_groups for p in g["params"]]
    state = {int(i): dict(entries) for i, entries in saved["scalars"].items()}
    for name, value in arrays.items():
        if name.startswith("optimizer/"):
            parts = name.split("/", 2)
            if len(parts) != 3 or not _is_index(parts[1]):
                raise CheckpointError(f"{path}: unexpected entry {name!r} (expected optimizer/<index>/<name>)")
            if value.dtype.kind not in _NUMERIC:
                raise CheckpointError(f"{path}: {name!r} holds {value.dtype} data, not numbers")
            state.setdefault(int(parts[1]), {})[parts[2]] = value
    for i, entries in state.items():
        if i >= len(params):
            raise CheckpointError(f"{path}: optimizer state for parameter {i}, but the optimizer has {len(params)}")
        for key, value in entries.items():
            if hasattr(value, "shape") and tuple(value.shape) != tuple(params[i].shape):
                raise CheckpointError(f"{path}: optimizer state[{i}][{key!r}] has shape {tuple(value.shape)}, "
                                      f"but its parameter has shape {tuple(params[i].shape)}")
    return {"state": state, "param_groups": saved["param_groups"]}
