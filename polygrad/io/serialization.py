"""pg.save / pg.load: tensors and nested containers of them, in the checkpoints' pickle-free format.

    pg.save({"model": model.state_dict(), "step": 10}, "run.pt")
    state = pg.load("run.pt", map_location="cpu")

What can be saved: Tensors (and Parameters), NumPy arrays, dicts (keys: str,
int, float, bool or None), lists, tuples, and plain numbers, strings and None;
anything else (a whole model) is pickled as torch.save does, and `load` gives it
back only with weights_only=False (see `load`). The file
is an .npz archive written atomically by the checkpoint writer: each tensor is
an entry `tensors/<i>` holding a host copy; the `__polygrad__` record is JSON
describing the structure and, per tensor, its dtype, backend, device and
requires_grad, and shape. Loading reads the structure as data and never
unpickles; it uses the checkpoint reader's bounded, checked access to the
archive. Before any tensor is inflated: the record is bounded in size and
depth and its whole structure type-checked; the archive holds exactly the
entries the record refers to, each once; every entry's data lies inside the
file, its sizes in the zip directory are ones its compression can produce (a
tensor's at most MAX_COMPRESSION_RATIO to 1: pg.save stores entries
uncompressed), and its .npy header's shape x dtype is the size the directory
gives and the shape the record gives. Each entry is then inflated only up to that size. Every
error is a CheckpointError starting "load: <path>:" and naming the entry.

map_location: None puts each tensor back on the backend and device it was
saved from; a backend name ("torch"), a device ("cpu", "cuda:1", a Device)
puts every tensor there.
"""

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np

from .. import backends
from .checkpoint import (
    MAX_HEADER_DEPTH, CheckpointError, _declared, _header, _inflate, _listing, _META, _open, _reading,
    _write_atomically, host_copy,
)
from ..namespace.ops import asarray
from ..core.placement import resolve_target
from ..core.tensor import Tensor

FORMAT = "polygrad-save"
VERSION = 1
_KEY_TYPES = (str, int, float, bool, type(None))
MAX_COMPRESSION_RATIO = 100  # a deflated entry may inflate this much; pg.save writes stored entries


def save(obj, f):
    """Write `obj` to the file `f`: a path (written atomically) or a file object opened for writing."""
    arrays = []
    tree = _encode(obj, arrays, "obj", 0)
    meta = {"format": FORMAT, "version": VERSION, "tree": tree}
    entries = {f"tensors/{i}": array for i, array in enumerate(arrays)}
    entries[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    if hasattr(f, "write"):  # a file object, as torch.save takes: written where it stands
        np.savez(f, **entries)
    else:
        _write_atomically(Path(f), entries)


def _encode(obj, arrays, where, depth):
    if depth > MAX_HEADER_DEPTH // 2 - 2:
        raise ValueError(f"save: {where} nests deeper than {MAX_HEADER_DEPTH // 2 - 2} containers")
    if isinstance(obj, Tensor):
        arrays.append(host_copy(obj))
        return {"tensor": len(arrays) - 1, "shape": list(arrays[-1].shape), "dtype": obj.dtype.name,
                "backend": obj.device.backend.name, "device": obj.device.name, "requires_grad": obj.requires_grad,
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
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "biufc":
        arrays.append(obj)
        return {"tensor": len(arrays) - 1, "shape": list(obj.shape), "dtype": obj.dtype.name, "ndarray": True}
    # anything else (a whole Module, an argparse Namespace, ...) is pickled, as torch.save does; load
    # unpickles it only when asked to with weights_only=False
    arrays.append(np.frombuffer(pickle.dumps(obj), dtype=np.uint8))
    return {"tensor": len(arrays) - 1, "shape": list(arrays[-1].shape), "dtype": "uint8",
            "pickled": f"{type(obj).__module__}.{type(obj).__qualname__}"}


def load(f, map_location=None, weights_only=True):
    """What `save` wrote to `f`, tensors on their saved backend and device or on `map_location`.

    Tensors, numbers, strings, containers and NumPy arrays load as data: nothing in the file is run.
    Objects `save` had to pickle (a whole Module, ...) load only with weights_only=False, as in
    torch.load since 2.6: unpickling runs code the file names, so do it only for files you trust.
    Everything is checked before any tensor is inflated (see the module's docstring).
    """
    path = getattr(f, "name", "<file object>") if hasattr(f, "read") else Path(f)  # torch.load takes both
    with _reading(path, "load"), (zipfile.ZipFile(f) if hasattr(f, "read") else _open(path)) as archive:
        members = _listing(path, archive)
        if _META not in members:
            raise CheckpointError(f"{path}: not a file written by pg.save (no {_META} record)")
        meta = _header(path, archive, members, check=_check_header)  # first: it tells a checkpoint apart
        nodes = {}
        _decode(path, meta["tree"], lambda node: _refer(path, node, nodes))  # the whole structure, checked
        for key, info in members.items():
            if key != _META and key not in nodes:
                raise CheckpointError(f"{path}: unexpected entry {info.filename!r} (pg.save writes {_META} and the "
                                      f"tensors/<i> its record refers to)")
        pickled = sorted({node["pickled"] for node in nodes.values() if "pickled" in node})
        if pickled and weights_only:
            raise CheckpointError(f"{path}: holds pickled objects ({', '.join(pickled)}); loading them runs code "
                                  "the file names: pass weights_only=False, only for a file you trust (as torch.load)")
        declared = {}
        for key, node in nodes.items():
            if key not in members:
                raise CheckpointError(f"{path}: corrupt {_META} record: refers to {key!r}, which the archive does "
                                      "not hold")
            entry = declared[key] = _declared(path, archive, members[key], max_ratio=MAX_COMPRESSION_RATIO)
            if "shape" in node and tuple(node["shape"]) != entry.shape:  # files saved before shapes were recorded
                raise CheckpointError(f"{path}: {key!r} holds shape {entry.shape}, but the {_META} record says "
                                      f"{tuple(node['shape'])}")
        arrays = {key: _inflate(path, archive, entry) for key, entry in declared.items()}
    try:
        return _decode(path, meta["tree"], lambda node: _tensor(path, arrays[_key(node)], node, map_location))
    except CheckpointError as error:
        error.args = (f"load: {error}",)
        raise


def _check_header(path, meta):
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        what = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        hint = "; read checkpoints with pg.checkpoint.load" if what == "polygrad-checkpoint" else ""
        raise CheckpointError(f"{path}: not a file written by pg.save (format {what!r}){hint}")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: pg.save format version {meta.get('version')!r}; this polygrad reads {VERSION}")
    if "tree" not in meta:
        raise CheckpointError(f"{path}: corrupt {_META} record: no 'tree'")


def _key(node):
    return f"tensors/{node['tensor']}"


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_NODE_TYPES = {"dtype": str, "backend": str, "device": str, "requires_grad": bool, "parameter": bool,
               "ndarray": bool, "pickled": str}


def _refer(path, node, nodes):
    """Check a tensor's record and note it in `nodes` under its entry's key; each entry is referred to once."""
    def bad(problem):
        raise CheckpointError(f"{path}: corrupt {_META} record: {problem}")

    if not _is_count(node["tensor"]):
        bad(f"a tensor's index must be a non-negative integer, got {node['tensor']!r:.80}")
    for name, kind in _NODE_TYPES.items():
        if name in node and not isinstance(node[name], kind):
            bad(f"tensor {node['tensor']}'s {name!r} must be a {kind.__name__}, got {node.get(name)!r:.80}")
    if "shape" in node and not (isinstance(node["shape"], list) and all(map(_is_count, node["shape"]))):
        bad(f"tensor {node['tensor']}'s 'shape' must be a list of non-negative integers, got {node['shape']!r:.80}")
    key = _key(node)
    if key in nodes:
        bad(f"refers to {key!r} twice")
    nodes[key] = node


def _decode(path, node, tensor):
    """The object `node` describes, each tensor's record given to `tensor`; raises on a malformed record."""
    def bad(problem):
        raise CheckpointError(f"{path}: corrupt {_META} record: {problem}")

    if not isinstance(node, dict) or len(node) < 1:
        bad(f"expected an object, got {node!r:.80}")
    if "tensor" in node:
        return tensor(node)
    if "dict" in node:
        pairs = node["dict"]
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], _KEY_TYPES)
                                                  for p in pairs):
            bad("a dict must be a list of [key, value] pairs")
        return {key: _decode(path, value, tensor) for key, value in pairs}
    for kind, make in (("list", list), ("tuple", tuple)):
        if kind in node:
            if not isinstance(node[kind], list):
                bad(f"a {kind} must be a JSON array")
            return make(_decode(path, item, tensor) for item in node[kind])
    if "value" in node and isinstance(node["value"], _KEY_TYPES):
        return node["value"]
    bad(f"unknown entry {node!r:.80}")


def _tensor(path, host, node, map_location):
    if "pickled" in node:  # load() has refused these unless weights_only=False
        return pickle.loads(host.tobytes())
    if node.get("ndarray"):
        return host
    if map_location is None:
        if node.get("backend") not in backends.available():
            raise CheckpointError(f"{path}: a tensor was saved from backend {node.get('backend')!r}, which cannot run "
                                  "here; pass map_location= (e.g. 'cpu' or 'numpy') to load it elsewhere")
        t = asarray(host, dtype=node.get("dtype"), backend=node["backend"], device=node.get("device"))
    else:
        here = asarray(host, dtype=node.get("dtype"))
        t = asarray(here, device=resolve_target(map_location, here.device))
        t = Tensor._wrap(t.array, t.device)
    if node.get("parameter"):
        from ..nn import Parameter

        return Parameter(t, requires_grad=bool(node.get("requires_grad")))
    return t.requires_grad_() if node.get("requires_grad") else t
