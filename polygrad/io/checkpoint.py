"""Checkpoints: a model, its optimizer and metadata in one .npz file, without pickle.

Layout of the archive (every entry a plain NumPy array, read with allow_pickle=False):
    model/<name>          each parameter and buffer of model.state_dict()
    optimizer/<i>/<key>   each tensor of the optimizer's state for parameter i
    __polygrad__          UTF-8 JSON as uint8: format version, epoch, metadata,
                          optimizer class, hyperparameters and scalar state

Saving copies tensors to the host (`.numpy()`), so the model stays where it
is; the file is written to a temporary name in the same folder, flushed to
disk and renamed over the target, so a crash or Ctrl-C mid-save leaves the
previous checkpoint whole; a temporary left by a save that was killed outright
is removed by the next save to that path.

Loading trusts nothing in the file. From the zip's directory and each array's
.npy header alone (nothing inflated yet) it checks the entries' names, where
their data lies (inside the file, no two overlapping), their compression (stored
or deflated, sizes deflate can produce), the declared shapes, dtypes and sizes
against the model and optimizer and against the sizes the directory records;
the JSON header is bounded in size and depth and every value in it is
type-checked. Only then are the arrays read, each stopping at its declared size,
and the model, then the optimizer, are loaded, on their current devices and
dtypes. pg.load (polygrad/io/serialization.py) reads its files with the same checks.
"""

import json
import math
import os
import re
import secrets
import stat
import zipfile
import zlib
from collections import Counter, namedtuple
from contextlib import contextmanager, suppress
from itertools import accumulate
from pathlib import Path

import numpy as np

from ..core.errors import PolygradError, dtype_name
from ..core.tensor import Tensor

FORMAT = "polygrad-checkpoint"
VERSION = 1
_META = "__polygrad__"


class CheckpointError(PolygradError, RuntimeError):
    """A checkpoint cannot be written, read, or does not fit the model it is loaded into."""


def save(path, model, optimizer=None, epoch=None, **metadata):
    """Write `model` (and `optimizer`) to `path` atomically; `metadata` must be JSON-serialisable.

    `load` returns `{"epoch": epoch, **metadata}`.
    """
    arrays = {f"model/{name}": host_copy(tensor) for name, tensor in model.state_dict().items()}
    meta = {"format": FORMAT, "version": VERSION, "epoch": epoch, "metadata": metadata, "optimizer": None}
    if optimizer is not None:
        state = optimizer.state_dict()
        scalars = {}
        for i, entries in state["state"].items():
            for key, value in entries.items():
                if isinstance(value, Tensor):
                    arrays[f"optimizer/{i}/{key}"] = host_copy(value)
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


def host_copy(tensor):
    """The NumPy array a file holds of `tensor`; bfloat16, which .npy files cannot name, widened to float32
    (exactly: every bfloat16 is a float32). Loading casts it back to the tensor's dtype."""
    if tensor.dtype == "bfloat16":
        tensor = tensor.detach().float()
    return tensor.numpy()


def _write_atomically(path, arrays):
    # A fresh name beside the target (same file system, so the rename is atomic), tagged with this
    # process's id so that a later save can tell a killed save's leftover from a save still running.
    # Opened exclusively with plain open() so the file gets the usual umask permissions.
    _remove_stale_temporaries(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        with open(temporary, "xb") as f:
            # No allow_pickle here: numpy 1.26's savez has no such parameter and would store it as an
            # array named "allow_pickle". Every array is numeric, so nothing is pickled.
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
        if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
            folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
    except BaseException as error:  # including KeyboardInterrupt: never leave the temporary behind
        with suppress(OSError):  # there is none if the folder is unusable
            temporary.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise CheckpointError(f"{path}: cannot write the checkpoint ({error.strerror or error})") from error
        raise


def _remove_stale_temporaries(path):
    """Delete temporaries of `path` that a save killed outright (SIGKILL, power loss) left behind."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d{{1,9}})\.[0-9a-f]{{12}}\.tmp")  # pids fit 9 digits
    try:
        names = os.listdir(path.parent)
    except OSError:
        return  # writing reports the unusable folder, naming it
    for name in names:
        match = pattern.fullmatch(name)
        if match and not _running(int(match[1])):
            with suppress(OSError):  # someone else's file we may not remove: not this save's problem
                (path.parent / name).unlink(missing_ok=True)


def _running(pid):
    """Whether process `pid` may still be saving; outside POSIX there is no safe probe, so yes."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def load(path, model, optimizer=None):
    """Load a checkpoint into `model` (and `optimizer`) on their current devices; returns the metadata.

    Raises CheckpointError naming the file and the problem (unreadable, truncated,
    corrupt header, wrong format version, missing/unexpected key, shape or dtype
    mismatch, optimizer mismatch). The archive's directory, the header and every
    array's declared shape, dtype and size are checked against the model and
    optimizer before any array is inflated, so a hostile file costs no memory.
    Then the model is loaded, then the optimizer: on a checkpoint error neither is
    changed, and if loading into the model itself fails the optimizer is untouched.
    """
    with _reading(path), _open(path) as archive:
        members = _members(path, archive)
        meta = _header(path, archive, members)
        declared = {name[len("model/"):]: _declared(path, archive, info)
                    for name, info in members.items() if name.startswith("model/")}
        _, _, problems = model.check_state_dict(declared)
        if problems:
            raise CheckpointError(f"{path}: does not fit the model: " + "; ".join(problems))
        own = model.state_dict()
        for name, entry in declared.items():
            _check_fits(path, name, entry.dtype, own[name], "the model's")
        entries, groups = {}, None
        if optimizer is not None:
            entries, groups = _check_optimizer(path, archive, members, optimizer, meta["optimizer"])
        saved = {name: _inflate(path, archive, entry) for name, entry in declared.items()}
        tensors = {key: _inflate(path, archive, entry) for key, entry in entries.items()}
    model.load_state_dict(saved)
    if optimizer is not None:
        state = {int(i): dict(scalars) for i, scalars in meta["optimizer"]["scalars"].items()}
        for (i, key), value in tensors.items():
            state.setdefault(i, {})[key] = value
        optimizer.load_state_dict({"state": state, "param_groups": groups})  # passes the checks made above
    return {"epoch": meta["epoch"], **meta["metadata"]}


def metadata(path):
    """`{"epoch": ..., **metadata}` of a checkpoint, checked as `load` does, without loading into a model."""
    with _reading(path), _open(path) as archive:
        meta = _header(path, archive, _members(path, archive))
    return {"epoch": meta["epoch"], **meta["metadata"]}


MAX_HEADER_BYTES = 2**24  # the JSON record; a history of 100,000 epochs takes about 15 MB
MAX_HEADER_DEPTH = 64     # nesting of the JSON record; save writes 5 levels plus what metadata nests
MAX_STATE_TENSORS = 8     # optimizer tensors per parameter (Adam keeps 2, with amsgrad 3)
DEFLATE_MAX_RATIO = 1032  # no deflate stream inflates more: 2 bits at least per 258-byte match
_LOCAL_HEADER_BYTES = 30  # a zip local file header without its name and extra field
_READ_CHUNK = 2**20       # inflate this much at a time into the array's buffer
_NUMERIC = "biufc"        # dtype kinds a tensor can be loaded from: bool, integers, floats, complex
_OPTIMIZER_ENTRY = re.compile(r"optimizer/(\d+)/(\w+)")

# An array as its .npy header declares it: what it will cost, read before it is inflated.
_Declared = namedtuple("_Declared", "name shape dtype fortran_order info offset")


@contextmanager
def _reading(path, operation=None):
    """Turn what reading a hostile or broken file can raise into a CheckpointError naming `path`,
    every message starting with `operation: ` where one is given (pg.load gives "load")."""
    where = f"{operation}: {path}" if operation else f"{path}"
    try:
        yield
    except CheckpointError as error:
        if operation:
            error.args = (f"{operation}: {error}",)
        raise
    except FileNotFoundError:
        raise CheckpointError(f"{where}: no such checkpoint file") from None
    except OSError as error:
        raise CheckpointError(f"{where}: cannot read the checkpoint ({error.strerror or error})") from None
    # zipfile: BadZipFile (CRC, structure), NotImplementedError (compression), RuntimeError (encryption)
    except (ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as error:
        raise CheckpointError(f"{where}: unreadable checkpoint, truncated or corrupt ({error})") from None


@contextmanager
def _open(path):
    """The archive at `path`, which must be a regular file: a FIFO, socket or device (a symlink to
    /dev/zero) is refused before a byte is read, as reading one may never end. The file is opened
    without blocking (a FIFO with no writer would block the open itself) and checked on the open
    descriptor, so what is checked is what is read."""
    _check_regular(path, os.stat(path).st_mode)  # a socket cannot even be opened: say what it is first
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as f:
        _check_regular(path, os.fstat(descriptor).st_mode)  # the file opened may have replaced the one looked at
        try:
            archive = zipfile.ZipFile(f)
        except zipfile.BadZipFile:
            f.seek(0)
            if f.read(6) == b"\x93NUMPY":
                raise CheckpointError(f"{path}: not a checkpoint (a bare .npy array, not an .npz archive)") from None
            raise
        with archive:
            yield archive


def _check_regular(path, mode):
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a directory: opening it says so
        raise CheckpointError(f"{path}: not a regular file ({_file_kind(mode)}); a checkpoint is a file")


def _file_kind(mode):
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "not a regular file"


def _members(path, archive):
    """{key: ZipInfo} of a checkpoint's entries, names checked; inflates nothing."""
    members = _listing(path, archive)
    if _META not in members:
        raise CheckpointError(f"{path}: not a polygrad checkpoint (no {_META} record)")
    unexpected = [key for key in members
                  if key != _META and not key.startswith("model/") and not _OPTIMIZER_ENTRY.fullmatch(key)]
    if unexpected:
        raise CheckpointError(f"{path}: unexpected entries {', '.join(map(repr, unexpected[:5]))}"
                              f"{' and more' if len(unexpected) > 5 else ''} (a checkpoint holds {_META}, "
                              "model/<name> and optimizer/<index>/<name>)")
    return members


def _listing(path, archive):
    """{key: ZipInfo} from the archive's directory, where `key.npy` is the member's name; inflates nothing.

    Every member is an .npy array, no name comes twice, and every member's data lies inside the file
    before the directory, overlapping no other member's: so the entries' compressed sizes add up to
    at most the file's size (no entry can claim data the file does not hold, no two can share a bomb).
    """
    members = {}
    for info in archive.infolist():
        key = info.filename.removesuffix(".npy")
        if key == info.filename:
            raise CheckpointError(f"{path}: unexpected entry {key!r} (every entry of a checkpoint is an .npy array)")
        if key in members:
            raise CheckpointError(f"{path}: holds {key!r} twice")
        members[key] = info
    placed = sorted(archive.infolist(), key=lambda info: info.header_offset)
    for info, after in zip(placed, placed[1:] + [None]):
        end = info.header_offset + _LOCAL_HEADER_BYTES + info.compress_size  # at least; name and extra follow
        limit = archive.start_dir if after is None else after.header_offset
        if end > limit:
            where = "past the end of the entries" if after is None else f"over {after.filename!r}"
            raise CheckpointError(f"{path}: the zip directory gives {info.filename!r} {info.compress_size:,} bytes "
                                  f"at offset {info.header_offset:,}, reaching {where} (a truncated or forged archive)")
    return members


def _header(path, archive, members, check=None):
    """The parsed and checked __polygrad__ record, bounded in size and nesting before it is parsed.

    `check(path, meta)` checks its structure (default: a checkpoint's; pg.load passes its own).
    """
    entry = _declared(path, archive, members[_META])
    if entry.dtype != np.uint8 or len(entry.shape) != 1:
        raise CheckpointError(f"{path}: corrupt {_META} record (not UTF-8 bytes: {entry.dtype} of shape {entry.shape})")
    if entry.shape[0] > MAX_HEADER_BYTES:
        raise CheckpointError(f"{path}: the {_META} record is {entry.shape[0]:,} bytes, more than the "
                              f"{MAX_HEADER_BYTES:,} a checkpoint may have")
    try:
        text = _inflate(path, archive, entry).tobytes().decode()
        depth = _depth(text)
        if depth > MAX_HEADER_DEPTH:
            raise CheckpointError(f"{path}: corrupt {_META} record (nested {depth} deep, more than {MAX_HEADER_DEPTH})")
        meta = json.loads(text)
    except (UnicodeDecodeError, ValueError) as error:
        raise CheckpointError(f"{path}: corrupt {_META} record ({error})") from None
    (check or _check_header)(path, meta)
    return meta


def _depth(text):
    """How deeply JSON arrays and objects nest in `text`, brackets inside strings not counted."""
    brackets = re.sub(r'"[^"\\]*(?:\\.[^"\\]*)*"|[^\[\]{}"]+', "", text)
    return max(accumulate(1 if c in "[{" else -1 if c in "]}" else 0 for c in brackets), default=0)


def _declared(path, archive, info, max_ratio=DEFLATE_MAX_RATIO):
    """The member's shape and dtype from its .npy header, checked against its size in the zip directory.

    Before the member is opened its sizes in the directory are checked: stored (as np.savez writes)
    or deflated, and then only by at most `max_ratio` to 1 (the default: what deflate can reach).
    """
    name = info.filename.removesuffix(".npy")
    _check_compression(path, name, info, max_ratio)
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise CheckpointError(f"{path}: {name!r} has .npy format version {version}, not 1.0 or 2.0")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(f)
        offset = f.tell()
    if dtype.kind not in _NUMERIC:  # also what would need unpickling: object and structured dtypes
        raise CheckpointError(f"{path}: {name!r} holds {dtype} data, not numbers")
    size = math.prod(shape) * dtype.itemsize
    if size != info.file_size - offset:
        raise CheckpointError(f"{path}: {name!r} declares shape {shape} of {dtype} ({size:,} bytes), but the archive "
                              f"holds {info.file_size - offset:,} bytes of it")
    return _Declared(name, shape, dtype, fortran_order, info, offset)


def _check_compression(path, name, info, max_ratio):
    """The member's sizes in the zip directory are ones its compression can produce, `max_ratio` at most."""
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise CheckpointError(f"{path}: {name!r} is stored uncompressed, but the zip directory gives it "
                                  f"{info.file_size:,} bytes in {info.compress_size:,} (a forged archive)")
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        for ratio, what in ((DEFLATE_MAX_RATIO, "deflate can reach: a forged archive"),
                            (max_ratio, "accepted here (a likely deflate bomb; polygrad writes entries uncompressed)")):
            if info.file_size > ratio * info.compress_size + 1024:
                raise CheckpointError(f"{path}: {name!r} would inflate {info.compress_size:,} bytes to "
                                      f"{info.file_size:,}, more than the {ratio:,}:1 {what}")
        if info.compress_size > info.file_size + info.file_size // 1024 + 1024:  # deflate's worst case is ~0.03%
            raise CheckpointError(f"{path}: {name!r} has {info.compress_size:,} bytes of deflated data for "
                                  f"{info.file_size:,} bytes, more than deflate writes (a forged archive)")
    else:
        raise CheckpointError(f"{path}: {name!r} is compressed with zip method {info.compress_type}; polygrad reads "
                              "stored or deflated entries")


def _inflate(path, archive, entry):
    """The array `entry` declares: exactly its size (the directory's, checked by `_declared`), read a
    chunk at a time and stopping there (CRC checked), so more data than it declares is never inflated."""
    size = math.prod(entry.shape) * entry.dtype.itemsize
    data = bytearray(size)
    view, filled = memoryview(data), 0
    try:
        with archive.open(entry.info) as f:
            f.seek(entry.offset)
            while filled < size and (chunk := f.read(min(size - filled, _READ_CHUNK))):
                view[filled:filled + len(chunk)] = chunk
                filled += len(chunk)
            if filled != size or f.read(1):
                raise CheckpointError(f"{path}: {entry.name!r} is shorter or longer than it declares")
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise CheckpointError(f"{path}: {entry.name!r} does not inflate to the {size:,} bytes it declares; stopped "
                              f"there ({error})") from None
    finally:
        view.release()
    array = np.frombuffer(data, entry.dtype).reshape(entry.shape, order="F" if entry.fortran_order else "C")
    return array if entry.dtype.isnative else array.astype(entry.dtype.newbyteorder("="))


_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}  # bool < integers < floats < complex


def _check_fits(path, name, dtype, tensor, whose):
    """Refuse data that loading into `tensor` would change: floats into integers, complex into reals."""
    target = dtype_name(tensor.dtype)
    kind = "b" if target == "bool" else "c" if target.startswith("complex") else "f" if "float" in target else "i"
    if _RANK[dtype.kind] > _RANK[kind]:
        raise CheckpointError(f"{path}: {name!r} holds {dtype} data, which {whose} {target} tensor cannot hold")


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
    epoch = meta["epoch"]
    if epoch is not None and (not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0):
        bad(f"'epoch' must be a non-negative integer or null, got {meta['epoch']!r}")
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
    for g, group in enumerate(groups):
        for key, value in group.items():
            if key != "params" and not _is_hyperparameter(value):
                bad(f"'optimizer.param_groups[{g}][{key!r}]' must be a number, a boolean, null or a list of numbers, "
                    f"got {value!r}")
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


def _check_optimizer(path, archive, members, optimizer, saved):
    """({(index, name): _Declared} of the optimizer's tensors, the param_groups to load), after checking
    that both fit `optimizer`; inflates and changes nothing."""
    if saved is None:
        raise CheckpointError(f"{path}: holds no optimizer state, but an optimizer was given to load into")
    if saved["type"] != type(optimizer).__name__:
        raise CheckpointError(f"{path}: optimizer state is for {saved['type']}, not {type(optimizer).__name__}")
    sizes = [len(g["params"]) for g in saved["param_groups"]]
    own_sizes = [len(g["params"]) for g in optimizer.param_groups]
    if sizes != own_sizes:
        raise CheckpointError(f"{path}: optimizer state does not fit: the saved parameter groups have sizes {sizes}, "
                              f"this optimizer's {own_sizes}")
    groups = [_hyperparameters(path, g, saved_group, own_group)
              for g, (saved_group, own_group) in enumerate(zip(saved["param_groups"], optimizer.param_groups))]
    params = [p for g in optimizer.param_groups for p in g["params"]]
    entries = {}
    for key, info in members.items():
        match = _OPTIMIZER_ENTRY.fullmatch(key)
        if match:
            entries[int(match[1]), match[2]] = info
    for i in {int(i) for i in saved["scalars"]} | {i for i, _ in entries}:
        if i >= len(params):
            raise CheckpointError(f"{path}: optimizer state for parameter {i}, but the optimizer has {len(params)}")
    for i, count in Counter(i for i, _ in entries).items():
        if count > MAX_STATE_TENSORS:
            raise CheckpointError(f"{path}: {count} optimizer tensors for parameter {i}, more than the "
                                  f"{MAX_STATE_TENSORS} an optimizer keeps")
    declared = {}
    for (i, key), info in entries.items():
        entry = declared[i, key] = _declared(path, archive, info)
        if entry.shape != tuple(params[i].shape):
            raise CheckpointError(f"{path}: optimizer state[{i}][{key!r}] has shape {entry.shape}, "
                                  f"but its parameter has shape {tuple(params[i].shape)}")
        _check_fits(path, entry.name, entry.dtype, params[i], "the optimizer's")
    return declared, groups


def _hyperparameters(path, g, saved, own):
    """The saved group `g`, each value of a kind the optimizer's own value has (lr a real number, betas
    a pair of them, nesterov a bool), JSON lists back as tuples where the optimizer has tuples."""
    group = dict(saved)
    for key, value in saved.items():
        if key == "params" or key not in own:  # a hyperparameter the optimizer lacks was checked by the header
            continue
        fitted = _like(value, own[key])
        if fitted is _UNLIKE:
            raise CheckpointError(f"{path}: optimizer.param_groups[{g}][{key!r}] must be {_kind(own[key])} like "
                                  f"this optimizer's {own[key]!r}, got {value!r}")
        group[key] = fitted
    return group


_UNLIKE = object()  # what _like returns for a value of another kind


def _like(value, own):
    """`value` as the kind of `own`, or _UNLIKE (an optimizer's None accepts anything the header allows)."""
    if own is None:
        return value
    if isinstance(own, bool):
        return value if isinstance(value, bool) else _UNLIKE
    if isinstance(own, (int, float)):
        return value if _is_real(value) and math.isfinite(value) else _UNLIKE
    if isinstance(own, (tuple, list)) and isinstance(value, list) and len(value) == len(own):
        items = [_like(v, o) for v, o in zip(value, own)]
        return _UNLIKE if any(item is _UNLIKE for item in items) else type(own)(items)
    return value if type(value) is type(own) else _UNLIKE


def _kind(own):
    if isinstance(own, bool):
        return "a boolean"
    if isinstance(own, (int, float)):
        return "a finite real number"
    if isinstance(own, (tuple, list)):
        return f"a list of {len(own)} values"
    return f"a {type(own).__name__}"


def _is_real(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_hyperparameter(value):
    """What a saved hyperparameter may be: a number, a boolean, null, or a list of numbers (betas)."""
    return value is None or isinstance(value, (bool, int, float)) or (
        isinstance(value, list) and all(_is_real(v) for v in value))
