"""pg.save / pg.load: tensors and nested containers of them, in the checkpoints' pickle-free format.

    pg.save({"model": model.state_dict(), "step": 10}, "run.pt")
    state = pg.load("run.pt", map_location="cpu")

What can be saved: Tensors (and Parameters), dicts (keys: str, int, float,
bool or None), lists, tuples, and plain numbers, strings and None. The file
is an .npz archive written atomically by the checkpoint writer: each tensor is
an entry `tensors/<i>` holding a host copy; the `__polygrad__` record is JSON
describing the structure and, per tensor, its dtype, backend, device and
requires_grad. Loading reads the structure as data and never unpickles; it
uses the checkpoint reader's bounded, checked access to the archive.

map_location: None puts each tensor back on the backend and device it was
saved from; a backend name ("torch"), a device ("cpu", "cuda:1", a Device)
puts every tensor there.
"""

import json
from pathlib import Path

import numpy as np

from . import backends
from .checkpoint import (
    MAX_HEADER_DEPTH, CheckpointError, _declared, _header, _inflate, _META, _open, _reading, _write_atomically,
)
from .creation import asarray, resolve_target
from .tensor import Tensor

FORMAT = "polygrad-save"
VERSION = 1
_KEY_TYPES = (str, int, float, bool, type(None))


def save(obj, f):
    """Write `obj` to the file `f` (a path) atomically."""
    arrays = []
    tree = _encode(obj, arrays, "obj", 0)
    meta = {"format": FORMAT, "version": VERSION, "tree": tree}
    entries = {f"tensors/{i}": array for i, array in enumerate(arrays)}
    entries[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    _write_atomically(Path(f), entries)


def _encode(obj, arrays, where, depth):
    if depth > MAX_HEADER_DEPTH // 2 - 2:
        raise ValueError(f"save: {where} nests deeper than {MAX_HEADER_DEPTH // 2 - 2} containers")
    if isinstance(obj, Tensor):
        arrays.append(obj.numpy())
        return {"tensor": len(arrays) - 1, "dtype": obj.dtype.name, "backend": obj.device.backend.name,
                "device": obj.device.name, "requires_grad": obj.requires_grad,
                "parameter": type(obj).__name__ == "Parameter"}
    if isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, _KEY_TYPES):
                raise TypeError(f"save: {where} has a key of type {type(key).__name__}; keys must be str, int, "
                                "float, bool or None")
        return {"dict": [[key, _encode(value, arrays, f"{where}[{key!r}]", depth + 1)] for key, value in obj.items()]}
    if isinstance(obj, (list, tuple)):
        kind = "tuple" if isinstance(obj, tuple) else "list"
        return {kind: [_encode(item, arrays, f"{where}[{i}]", depth + 1) for i, item in enumerate(obj)]}
    if isinstance(obj, (str, int, float, bool, type(None))):
        return {"value": obj}
    raise TypeError(f"save: cannot save {where} of type {type(obj).__name__}; pg.save takes tensors, dicts, lists, "
                    "tuples, numbers, strings and None (save a model's state_dict(), not the model)")


def load(f, map_location=None, weights_only=True):
    """What `save` wrote to `f`, tensors on their saved backend and device or on `map_location`.

    `weights_only` is accepted for PyTorch's sake; loading never runs code from the file either way.
    """
    path = Path(f)
    with _reading(path), _open(path) as archive:
        members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
        if _META not in members:
            raise CheckpointError(f"{path}: not a file written by pg.save (no {_META} record)")
        meta = _header(path, archive, members, check=_check_header)  # first: it tells a checkpoint apart
        for key, info in members.items():
            if key != _META and not (key.startswith("tensors/") and key[len("tensors/"):].isdecimal()):
                raise CheckpointError(f"{path}: unexpected entry {info.filename!r} (pg.save writes {_META} and "
                                      "tensors/<i>)")
        arrays = {key: _inflate(path, archive, _declared(path, archive, info))
                  for key, info in members.items() if key != _META}
    return _decode(path, meta["tree"], arrays, map_location)


def _check_header(path, meta):
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        what = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        hint = "; read checkpoints with pg.checkpoint.load" if what == "polygrad-checkpoint" else ""
        raise CheckpointError(f"{path}: not a file written by pg.save (format {what!r}){hint}")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: pg.save format version {meta.get('version')!r}; this polygrad reads {VERSION}")
    if "tree" not in meta:
        raise CheckpointError(f"{path}: corrupt {_META} record: no 'tree'")


def _decode(path, node, arrays, map_location):
    def bad(problem):
        raise CheckpointError(f"{path}: corrupt {_META} record: {problem}")

    if not isinstance(node, dict) or len(node) < 1:
        bad(f"expected an object, got {node!r:.80}")
    if "tensor" in node:
        key = f"tensors/{node['tensor']}"
        if key not in arrays:
            bad(f"refers to {key!r}, which the archive does not hold")
        return _tensor(path, arrays[key], node, map_location)
    if "dict" in node:
        pairs = node["dict"]
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], _KEY_TYPES)
                                                  for p in pairs):
            bad("a dict must be a list of [key, value] pairs")
        return {key: _decode(path, value, arrays, map_location) for key, value in pairs}
    for kind, make in (("list", list), ("tuple", tuple)):
        if kind in node:
            if not isinstance(node[kind], list):
                bad(f"a {kind} must be a JSON array")
            return make(_decode(path, item, arrays, map_location) for item in node[kind])
    if "value" in node and isinstance(node["value"], _KEY_TYPES):
        return node["value"]
    bad(f"unknown entry {node!r:.80}")


def _tensor(path, host, node, map_location):
    if map_location is None:
        if node.get("backend") not in backends.available():
            raise CheckpointError(f"{path}: a tensor was saved from backend {node.get('backend')!r}, which cannot run "
                                  "here; pass map_location= (e.g. 'cpu' or 'numpy') to load it elsewhere")
        t = asarray(host, dtype=node.get("dtype"), backend=node["backend"], device=node.get("device"))
    else:
        here = asarray(host, dtype=node.get("dtype"))
        t = asarray(here, device=resolve_target(map_location, here.device))
        t = Tensor._wrap(t.data, t.device)
    if node.get("parameter"):
        from .nn import Parameter

        return Parameter(t, requires_grad=bool(node.get("requires_grad")))
    return t.requires_grad_() if node.get("requires_grad") else t
