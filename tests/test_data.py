"""DataLoader batching, shuffling and placement; the embedded digits; IDX files, downloads, .npz."""

import gzip
import hashlib
import io
import struct
import urllib.error
import urllib.request

import numpy as np
import pytest

import polygrad as pg
from polygrad import data


def batches(loader):
    return [tuple(t.numpy() for t in batch) for batch in loader]


# ---------------------------------------------------------------- loader
def test_batches_cover_the_data_in_order_without_shuffle():
    x, y = np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=4)
    got = batches(loader)
    assert [len(b[1]) for b in got] == [4, 4, 2] and len(loader) == 3
    np.testing.assert_array_equal(np.concatenate([b[0] for b in got]), x)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), y)


def test_drop_last():
    loader = data.DataLoader(data.TensorDataset(np.arange(10)), batch_size=4, drop_last=True, shuffle=True)
    got = batches(loader)
    assert [len(b[0]) for b in got] == [4, 4] and len(loader) == 2


def test_shuffle_is_a_seeded_permutation_per_epoch():
    y = np.arange(50)

    def epoch_orders(seed, epochs=2):
        loader = data.DataLoader(data.TensorDataset(y), batch_size=8, shuffle=True, seed=seed)
        return [np.concatenate([b[0] for b in batches(loader)]) for _ in range(epochs)]

    first, second = epoch_orders(0)
    assert sorted(first) == list(y) and sorted(second) == list(y)  # every sample exactly once
    assert not np.array_equal(first, y) and not np.array_equal(first, second)
    again = epoch_orders(0)
    np.testing.assert_array_equal(again[0], first)
    np.testing.assert_array_equal(again[1], second)
    assert not np.array_equal(epoch_orders(1)[0], first)


def test_set_epoch_replays_that_epochs_order():
    loader = data.DataLoader(data.TensorDataset(np.arange(30)), batch_size=7, shuffle=True, seed=3)
    orders = [np.concatenate([b[0] for b in batches(loader)]) for _ in range(3)]
    loader.set_epoch(2)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches(loader)]), orders[2])


def test_batches_arrive_on_the_chosen_device_with_their_dtypes():
    x, y = np.ones((6, 3), dtype=np.float32), np.arange(6, dtype=np.int64)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=4, backend="array_api_strict", device="device1")
    for xb, yb in loader:
        assert xb.device.name == "device1" and yb.device.name == "device1"
        assert xb.device.backend.name == "array_api_strict"
        assert "float32" in str(xb.dtype) and "int64" in str(yb.dtype)


def test_unknown_device_fails_when_the_loader_is_made():
    with pytest.raises(ValueError, match="unknown device"):
        data.DataLoader(data.TensorDataset(np.arange(3)), backend="numpy", device="device7")


@pytest.mark.parametrize("batch_size", [0, -1, 2.5])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(data.TensorDataset(np.arange(3)), batch_size=batch_size)


def test_tensor_dataset_takes_tensors_and_checks_lengths():
    ds = data.TensorDataset(pg.tensor([[1.0, 2.0], [3.0, 4.0]]), np.array([7, 8]))
    x, y = ds[1]
    assert len(ds) == 2 and x.tolist() == [3.0, 4.0] and y == 8
    with pytest.raises(ValueError, match="length"):
        data.TensorDataset(np.zeros(3), np.zeros(4))


class Squares(data.Dataset):
    """A dataset with only __len__ and __getitem__, as users write them."""

    def __init__(self, pairs=True):
        self.pairs = pairs

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return (np.float32(i), i * i) if self.pairs else np.array([i, -i], dtype=np.float32)


def test_plain_datasets_are_collated():
    (xb, yb), _, _ = data.DataLoader(Squares(), batch_size=2)
    assert xb.tolist() == [0.0, 1.0] and yb.tolist() == [0, 1]
    bare = list(data.DataLoader(Squares(pairs=False), batch_size=5, backend="array_api_strict", device="device1"))
    assert isinstance(bare[0], pg.Tensor) and bare[0].shape == (5, 2) and bare[0].device.name == "device1"


# ---------------------------------------------------------------- digits
def test_digits_shape_counts_and_range():
    images, labels = data.load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert labels.shape == (1797,) and labels.dtype == np.int64
    # class sizes of the UCI test set, as documented with the data set
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert images.min() == 0.0 and images.max() == 1.0
    np.testing.assert_array_equal(images * 16, np.round(images * 16))  # counts 0..16, scaled


def test_train_val_split_is_deterministic_and_disjoint():
    ids = np.arange(100)
    (train,), (val,) = data.train_val_split(ids, val_fraction=0.25, seed=4)
    assert len(train) == 75 and len(val) == 25
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(100))
    (again,), _ = data.train_val_split(ids, val_fraction=0.25, seed=4)
    np.testing.assert_array_equal(again, train)
    (other,), _ = data.train_val_split(ids, val_fraction=0.25, seed=5)
    assert not np.array_equal(other, train)


def test_train_val_split_keeps_rows_together():
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    (xt, yt), (xv, yv) = data.train_val_split(x, y, seed=0)
    np.testing.assert_array_equal(xt[:, 0], 2 * yt)
    np.testing.assert_array_equal(xv[:, 0], 2 * yv)


# ---------------------------------------------------------------- IDX
def idx_bytes(array, code):
    """An IDX file written by hand: 0, 0, type code, ndim, big-endian dims, big-endian data."""
    big_endian = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(big_endian).tobytes()


@pytest.mark.parametrize("array, code", [
    (np.arange(24, dtype=np.uint8).reshape(2, 3, 4), 0x08),
    (np.array([-3, 0, 300], dtype=np.int16), 0x0B),
    (np.array([[1.5, -2.25]], dtype=np.float32), 0x0D),
    (np.array([1e300, -7.0]), 0x0E),
])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx(tmp_path, array, code, compress):
    raw = idx_bytes(array, code)
    path = tmp_path / "file.idx"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    got = data.read_idx(path)
    np.testing.assert_array_equal(got, array)
    assert got.shape == array.shape and got.dtype.isnative


@pytest.mark.parametrize("mangle, message", [
    (lambda raw: b"\x01" + raw[1:], "magic"),
    (lambda raw: raw[:2] + b"\x07" + raw[3:], "element type"),
    (lambda raw: raw[:3] + b"\x00" + raw[4:], "0 dimensions"),
    (lambda raw: raw[:6], "header"),
    (lambda raw: raw[:-1], "truncated"),
    (lambda raw: raw + b"\x00", "trailing"),
    (lambda raw: gzip.compress(raw)[:-6], "gzip"),
])
def test_read_idx_rejects_inconsistent_files(tmp_path, mangle, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(mangle(idx_bytes(np.zeros((2, 3), dtype=np.uint8), 0x08)))
    with pytest.raises(data.DatasetError, match=message) as error:
        data.read_idx(path)
    assert str(path) in str(error.value)


# ---------------------------------------------------------------- MNIST-style downloads
@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """Tiny IDX files for the test split, with their hashes pinned in place of the real ones."""
    images = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    labels = np.array([7, 2, 1], dtype=np.uint8)
    files = {"t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images, 0x08)),
             "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels, 0x08))}
    mirrors, hashes = data.SOURCES["mnist"]
    pinned = dict(hashes, **{name: hashlib.sha256(raw).hexdigest() for name, raw in files.items()})
    monkeypatch.setitem(data.SOURCES, "mnist", (mirrors, pinned))
    monkeypatch.setenv("POLYGRAD_DATA", str(tmp_path))
    return tmp_path, files, images, labels


def offline(monkeypatch):
    calls = []

    def refuse(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return calls


def test_cached_files_are_verified_and_parsed(tiny_mnist, monkeypatch):
    root, files, images, labels = tiny_mnist
    (root / "mnist").mkdir()
    for name, raw in files.items():
        (root / "mnist" / name).write_bytes(raw)
    calls = offline(monkeypatch)
    x, y = data.load_mnist("test")
    assert calls == []
    np.testing.assert_allclose(x, images / 255, rtol=1e-6)
    assert x.dtype == np.float32 and y.tolist() == [7, 2, 1] and y.dtype == np.int64


def test_a_cached_file_with_the_wrong_hash_is_refused(tiny_mnist, monkeypatch):
    root, files, _, _ = tiny_mnist
    (root / "mnist").mkdir()
    for name, raw in files.items():
        (root / "mnist" / name).write_bytes(raw)
    (root / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.ones(3, np.uint8), 8)))
    offline(monkeypatch)
    with pytest.raises(data.DatasetError, match="sha256") as error:
        data.load_mnist("test")
    assert "t10k-labels-idx1-ubyte.gz" in str(error.value)


def test_offline_gives_a_clear_error(tiny_mnist, monkeypatch):
    root, _, _, _ = tiny_mnist
    calls = offline(monkeypatch)
    with pytest.raises(data.DatasetError, match="offline") as error:
        data.load_mnist("test")
    assert str(root / "mnist") in str(error.value) and "POLYGRAD_DATA" in str(error.value)
    assert len(calls) == len(data.SOURCES["mnist"][0])  # every mirror was tried
    assert list((root / "mnist").iterdir()) == []  # no partial file left behind


def serve(monkeypatch, files):
    def urlopen(url, *args, **kwargs):
        return io.BytesIO(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)


def test_download_is_verified_then_cached(tiny_mnist, monkeypatch):
    root, files, images, _ = tiny_mnist
    serve(monkeypatch, files)
    x, _ = data.load_mnist("test")
    np.testing.assert_allclose(x, images / 255, rtol=1e-6)
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(files)
    offline(monkeypatch)  # the second time comes from the cache
    assert data.load_mnist("test")[1].tolist() == [7, 2, 1]


def test_a_download_with_the_wrong_hash_is_discarded(tiny_mnist, monkeypatch):
    root, files, _, _ = tiny_mnist
    serve(monkeypatch, {name: raw + b"tampered" for name, raw in files.items()})
    with pytest.raises(data.DatasetError, match="expected"):
        data.load_mnist("test")
    assert list((root / "mnist").iterdir()) == []



def serve_per_mirror(monkeypatch, files, behaviour):
    """A fake urlopen: behaviour[mirror index] is "good", "tampered" or "offline"; returns the URLs asked for."""
    mirrors = data.SOURCES["mnist"][0]
    calls = []

    def urlopen(url, *args, **kwargs):
        calls.append(url)
        mirror, name = url.rsplit("/", 1)
        kind = behaviour[mirrors.index(mirror + "/")]
        if kind == "offline":
            raise urllib.error.URLError("connection refused")
        return io.BytesIO(files[name] + (b"tampered" if kind == "tampered" else b""))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return mirrors, calls


def test_a_wrong_hash_from_one_mirror_moves_on_to_the_next(tiny_mnist, monkeypatch):
    root, files, images, _ = tiny_mnist
    mirrors, calls = serve_per_mirror(monkeypatch, files, ["tampered", "good"])
    x, y = data.load_mnist("test")
    np.testing.assert_allclose(x, images / 255, rtol=1e-6)
    assert y.tolist() == [7, 2, 1]
    assert [url.rsplit("/", 1)[0] + "/" for url in calls] == [mirrors[0], mirrors[1]] * 2  # images, then labels
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(files)


@pytest.mark.parametrize("behaviour, offline", [(["tampered", "tampered"], False), (["tampered", "offline"], True)])
def test_when_every_mirror_fails_each_failure_is_listed(tiny_mnist, monkeypatch, behaviour, offline):
    root, files, _, _ = tiny_mnist
    mirrors, calls = serve_per_mirror(monkeypatch, files, behaviour)
    with pytest.raises(data.DatasetError, match="every mirror failed") as error:
        data.load_mnist("test")
    message = str(error.value)
    assert len(calls) == len(mirrors)
    for mirror, kind in zip(mirrors, behaviour, strict=True):
        problem = "downloaded file has sha256" if kind == "tampered" else "<urlopen error connection refused>"
        assert f"{mirror}t10k-images-idx3-ubyte.gz: {problem}" in message
    assert ("(offline?)" in message) == offline and "POLYGRAD_DATA" in message
    assert list((root / "mnist").iterdir()) == []


def test_unknown_split():
    with pytest.raises(ValueError, match="split"):
        data.load_fashion_mnist("validation")


def test_cache_folder_defaults_and_env(monkeypatch, tmp_path):
    monkeypatch.delenv("POLYGRAD_DATA", raising=False)
    assert data.data_dir().parts[-2:] == (".cache", "polygrad")
    monkeypatch.setenv("POLYGRAD_DATA", str(tmp_path))
    assert data.data_dir() == tmp_path


# ---------------------------------------------------------------- .npz
def test_load_npz(tmp_path):
    path = tmp_path / "set.npz"
    np.savez(path, x=np.array([[0, 255], [51, 102]], dtype=np.uint8), y=np.array([1, 0], dtype=np.int32))
    x, y = data.load_npz(path)
    np.testing.assert_allclose(x, [[0.0, 1.0], [0.2, 0.4]], rtol=1e-6)
    assert x.dtype == np.float32 and y.tolist() == [1, 0] and y.dtype == np.int64


@pytest.mark.parametrize("arrays, message", [
    (dict(x=np.zeros((2, 3))), "missing"),
    (dict(x=np.zeros((2, 3)), y=np.zeros(3, dtype=int)), "one row per label"),
    (dict(x=np.zeros((2, 3)), y=np.array([0.5, 1.0])), "class indices"),
    (dict(x=np.zeros((2, 3)), y=np.array([0, -1])), "class indices"),
    (dict(x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1])), "cannot read"),
])
def test_load_npz_rejects(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(data.DatasetError, match=message):
        data.load_npz(path)


def test_load_npz_rejects_a_non_archive(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip file at all")
    with pytest.raises(data.DatasetError, match="cannot read"):
        data.load_npz(path)
