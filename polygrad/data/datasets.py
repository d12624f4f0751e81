"""Datasets as host NumPy arrays: Dataset, TensorDataset, embedded digits, MNIST and
Fashion-MNIST (IDX), .npz files, and the host-side helpers the DataLoader uses.

Image loaders return `(images, labels)`: images float32 of shape (N, H, W)
scaled to [0, 1], labels int64 class indices. Downloads go to a cache folder
(POLYGRAD_DATA, default ~/.cache/polygrad), are checked against a pinned
sha256 before use, and a machine without network gets a message saying
where to put the files by hand.
"""

import gzip
import hashlib
import http.client
import itertools
import math
import os
import shutil
import struct
import sys
import urllib.request
import zipfile
import zlib
from importlib import resources
from pathlib import Path

import numpy as np

from ..namespace.ops import asarray
from ..core.errors import PolygradError
from ..core.tensor import Tensor


class DatasetError(PolygradError, RuntimeError):
    """A dataset file is missing, corrupt, or cannot be fetched."""


# ---------------------------------------------------------------- in memory
class Dataset:
    """A sized collection of samples: `len(ds)` and `ds[i]` (a tuple of arrays or numbers)."""

    def __len__(self):
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError


class IterableDataset(Dataset):
    """A stream of samples: `iter(ds)` gives them in order (no indexing); the DataLoader batches them as they come."""

    def __iter__(self):
        raise NotImplementedError

    def __getitem__(self, index):
        raise TypeError(f"{type(self).__name__} is an IterableDataset: iterate over it instead of indexing")


class TensorDataset(Dataset):
    """Samples are rows of equally long arrays: `ds[i] == (a[i], b[i], ...)`.

    Tensors are copied to host NumPy arrays once, here (polygrad.data.loader says why);
    `ds[i]` gives Tensors back, on the device each array came from, as in PyTorch.
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset: needs at least one array")
        self.arrays = tuple(_host(a) for a in arrays)
        self.devices = tuple(a.device if isinstance(a, Tensor) else None for a in arrays)
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: arrays differ in length: {lengths}")

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(asarray(np.asarray(a[index]), device=d) for a, d in zip(self.arrays, self.devices))

    def __getitems__(self, indices):
        """A whole batch in one gather per array, instead of one call per sample."""
        return tuple(a[indices] for a in self.arrays)


def _host(value):
    return value.numpy() if isinstance(value, Tensor) else np.asarray(value)


def collate(samples):
    """A batch from a list of samples, by PyTorch's default_collate rules, on the host.

    Arrays and Tensors stack into one array; Python floats into float64, ints into int64 and
    bools into bool arrays (as torch.tensor makes them); strings stay a list of strings; a dict
    gives a dict of batches, a namedtuple the same namedtuple, a tuple or list one batch per
    position (recursively: samples (x, (a, c)) give (xs, (as, cs))). Samples of one batch must
    share their structure.
    """
    first = samples[0]
    if isinstance(first, (str, bytes)):
        return list(samples)
    if isinstance(first, dict):
        return {key: collate([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise ValueError(f"collate: samples differ in length: {sorted({len(s) for s in samples})}")
        fields = [collate(list(field)) for field in zip(*samples)]
        return type(first)(*fields) if hasattr(first, "_fields") else type(first)(fields)
    if isinstance(first, (bool, int, float)) and not isinstance(first, np.generic):
        return np.asarray(samples, dtype=bool if isinstance(first, bool) else np.int64 if isinstance(first, int)
                          else np.float64)
    stacked = np.stack([_host(s) for s in samples])
    if stacked.dtype == object:
        raise TypeError(f"collate: cannot batch samples of type {type(first).__name__} (arrays, Tensors, numbers, "
                        "strings, and dicts, tuples and lists of them can)")
    return stacked


def permutation(n, seed):
    """0..n-1 shuffled by NumPy's PCG64 seeded with `seed` (an int or a tuple of ints)."""
    return np.random.default_rng(seed).permutation(n)


def torch_permutation(n, seed):
    """0..n-1 in the order PyTorch's CPU `torch.randperm(n, generator=g)` gives after `g.manual_seed(seed)`.

    PyTorch's generator is MT19937 with the classic integer seeding, which NumPy's
    legacy RandomState also uses; randperm is a Fisher-Yates pass, swapping entry i
    with entry i + (the next 32-bit draw) mod (n - i). Exact for n below 2**32 / 20,
    where PyTorch switches to 64-bit draws.
    """
    if n >= 2**32 // 20:
        raise ValueError(f"torch_permutation: n = {n} is past the size whose order is reproduced")
    draws = np.random.RandomState(seed & 0xFFFFFFFF)._bit_generator.random_raw(max(n - 1, 0)).tolist()
    order = list(range(n))
    for i, draw in enumerate(draws):
        j = i + draw % (n - i)
        order[i], order[j] = order[j], order[i]
    return order


def seed_host(seed):
    """Seed Python's and NumPy's global generators (a DataLoader worker's random augmentations)."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)


def worker_seed(seed, epoch, worker):
    """A distinct, reproducible seed for each (loader seed, epoch, worker)."""
    return int(np.random.SeedSequence([seed, epoch, worker]).generate_state(1, np.uint64)[0])


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, [int(i) for i in indices]
        n = len(dataset)
        bad = [i for i in self.indices if not -n <= i < n]
        if bad:
            raise IndexError(f"Subset: indices {bad[:5]} out of range for a dataset of {n} samples")
        if hasattr(dataset, "__getitems__"):
            self.__getitems__ = self._gather  # whole batches in one gather, as the dataset can

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def _gather(self, indices):
        return self.dataset.__getitems__(np.asarray([self.indices[int(i)] for i in indices]))


class ConcatDataset(Dataset):
    """Datasets one after the other: indices 0..len(a)-1 are a's, then b's, ..."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: needs at least one dataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"ConcatDataset: index {index} out of range for {n} samples")
        index %= n
        which = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def random_split(dataset, lengths, generator=None):
    """Subsets of `dataset` of the given lengths over one random permutation, as PyTorch's.

    lengths are counts summing to len(dataset), or fractions summing to 1 (the
    floors, then one more for the first ones until every sample is placed).
    `generator` is a pg.random.Generator or an int seed (default 0).
    """
    from ..namespace.random import Generator

    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and not all(isinstance(k, int) for k in lengths):
        if any(not 0 <= f <= 1 for f in lengths):
            raise ValueError(f"random_split: fractions must lie in [0, 1], got {lengths}")
        counts = [math.floor(n * f) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n or any(k < 0 for k in lengths):
        raise ValueError(f"random_split: lengths {lengths} must be >= 0 and sum to the dataset's {n} samples")
    generator = generator if isinstance(generator, Generator) else Generator(0 if generator is None else generator)
    order = generator.permutation(n).tolist()
    starts = [0, *itertools.accumulate(lengths)]
    return [Subset(dataset, order[a:b]) for a, b in zip(starts, starts[1:])]


# ---------------------------------------------------------------- embedded digits
def load_digits():
    """The UCI optical-recognition handwritten digits, shipped inside polygrad.

    1,797 images of 8x8 pixels (each pixel a count 0..16 of a 4x4 block,
    scaled here to [0, 1]) and their digits 0..9. Provenance: DIGITS.md.
    """
    with resources.files(__package__).joinpath("digits.csv.gz").open("rb") as f:
        table = np.loadtxt(gzip.open(f, "rt"), delimiter=",", dtype=np.int64)
    if table.shape != (1797, 65):
        raise DatasetError(f"embedded digits.csv.gz has shape {table.shape}, expected (1797, 65); reinstall polygrad")
    images = (table[:, :64].astype(np.float32) / 16).reshape(-1, 8, 8)
    return images, table[:, 64]


def train_val_split(*arrays, val_fraction=0.2, seed=0):
    """Shuffle rows with `seed` and cut them into (train arrays, validation arrays).

    The same seed always gives the same split, so validation scores compare across runs.
    """
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"train_val_split: arrays differ in length: {[len(a) for a in arrays]}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"train_val_split: val_fraction must be in (0, 1), got {val_fraction}")
    order = permutation(n, seed)
    n_val = max(1, round(n * val_fraction))
    train, val = order[n_val:], order[:n_val]
    return tuple(a[train] for a in arrays), tuple(a[val] for a in arrays)


# ---------------------------------------------------------------- IDX files
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """An IDX file (gzip-compressed or raw) as a NumPy array; any inconsistency is a DatasetError.

    Layout: two zero bytes, an element-type code, the number of dimensions,
    one big-endian uint32 per dimension, then exactly that many big-endian elements.
    """
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise DatasetError(f"{path}: corrupt gzip data ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{path}: not an IDX file (the magic number must start with two zero bytes)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise DatasetError(f"{path}: unknown IDX element type 0x{code:02x}")
    if ndim == 0:
        raise DatasetError(f"{path}: IDX header declares 0 dimensions")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DatasetError(f"{path}: truncated IDX header ({len(raw)} bytes, need {start})")
    shape = struct.unpack(f">{ndim}I", raw[4:start])
    dtype = np.dtype(_IDX_TYPES[code])
    expected = start + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "has trailing bytes"
        raise DatasetError(
            f"{path}: {problem}: the header promises shape {shape} of {dtype.str} ({expected} bytes), "
            f"the file has {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="))


# ---------------------------------------------------------------- downloads
_SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# name -> (mirrors, {file: sha256}); the hashes are those of the files the projects publish.
SOURCES = {
    "mnist": (
        ("https://storage.googleapis.com/cvdf-datasets/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    ),
    "fashion-mnist": (
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {
            "train-images-idx3-ubyte.gz": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
            "train-labels-idx1-ubyte.gz": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
            "t10k-images-idx3-ubyte.gz": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
            "t10k-labels-idx1-ubyte.gz": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
        },
    ),
}


def data_dir():
    """Where downloads are cached: $POLYGRAD_DATA, else ~/.cache/polygrad."""
    return Path(os.environ.get("POLYGRAD_DATA") or Path.home() / ".cache" / "polygrad")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(name, filename, root=None):
    """Path of a verified copy of `filename` of dataset `name`, downloading it if absent.

    A cached file with the wrong sha256 is refused, never silently replaced. The mirrors
    are tried in turn until one gives the published file (a network error or a
    download with another sha256 moves on to the next); if none does, the
    DatasetError lists each mirror's failure.
    """
    mirrors, hashes = SOURCES[name]
    expected = hashes[filename]
    folder = Path(root or data_dir()) / name
    path = folder / filename
    if path.exists():
        actual = _sha256(path)
        if actual != expected:
            raise DatasetError(
                f"{path}: sha256 is {actual}, expected {expected}; the file is corrupt or not the "
                "published one. Delete it to download it again."
            )
        return path
    folder.mkdir(parents=True, exist_ok=True)
    failures, offline = [], False
    for mirror in mirrors:  # a mirror that fails in any way (network, or a file with another hash): try the next
        try:
            _download(mirror + filename, path, expected)
            return path
        except DatasetError as error:  # the download arrived but is not the published file
            failures.append(str(error))
        except (OSError, http.client.HTTPException) as error:  # URLError, timeouts, refused or cut connections
            failures.append(f"{mirror + filename}: {error}")
            offline = True
    raise DatasetError(
        f"cannot download {name} file {filename}{' (offline?)' if offline else ''}; every mirror failed: "
        + "; ".join(failures)
        + f". Copy the file into {folder} by hand, or point POLYGRAD_DATA at a folder holding {name}/{filename}."
    )


def _download(url, path, expected):
    """Download to a side file, check its hash, then rename: no half file ever has the real name."""
    partial = path.with_name(path.name + ".part")
    print(f"downloading {url}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
        actual = _sha256(partial)
        if actual != expected:
            raise DatasetError(f"{url}: downloaded file has sha256 {actual}, expected {expected}")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _load_idx_dataset(name, split, root):
    if split not in _SPLITS:
        raise ValueError(f"{name}: split must be one of {sorted(_SPLITS)}, got {split!r}")
    image_file, label_file = _SPLITS[split]
    images = read_idx(fetch(name, image_file, root))
    labels = read_idx(fetch(name, label_file, root))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetError(
            f"{name} {split}: expected images (N, H, W) and labels (N,), got {images.shape} and {labels.shape}"
        )
    return images.astype(np.float32) / 255, labels.astype(np.int64)


def load_mnist(split="train", root=None):
    """MNIST handwritten digits (LeCun, Cortes, Burges): 60,000 train / 10,000 test 28x28 images."""
    return _load_idx_dataset("mnist", split, root)


def load_fashion_mnist(split="train", root=None):
    """Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, MIT licence): Zalando article images, MNIST's layout."""
    return _load_idx_dataset("fashion-mnist", split, root)


# ---------------------------------------------------------------- .npz files
def load_npz(path):
    """A classification dataset from an .npz file with arrays `x` (samples) and `y` (integer labels).

    Read without pickle. uint8 samples are taken as pixels and scaled to [0, 1];
    samples come back float32, labels int64.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in ("x", "y") if key in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DatasetError(f"{path}: cannot read as .npz ({error})") from None
    missing = {"x", "y"} - set(arrays)
    if missing:
        raise DatasetError(f"{path}: missing array(s) {sorted(missing)}; expected 'x' (samples) and 'y' (labels)")
    x, y = arrays["x"], arrays["y"]
    if len(x) != len(y) or y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise DatasetError(
            f"{path}: expected x with one row per label and y a 1-D array of class indices >= 0, "
            f"got x {x.shape} {x.dtype} and y {y.shape} {y.dtype}"
        )
    x = x.astype(np.float32) / 255 if x.dtype == np.uint8 else x.astype(np.float32)
    return x, y.astype(np.int64)
