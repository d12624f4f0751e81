"""pg.load against hostile files: every check is made from the zip's directory, the .npy headers and
the __polygrad__ record before any tensor is inflated, so each file below is refused quickly, with a
CheckpointError starting "load: <path>:" and naming the entry, and without allocating its claims."""

import io
import json
import struct
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import polygrad as pg
from polygrad.checkpoint import CheckpointError

BOMB_BYTES = 2**25  # 32 MiB of zeros, about 33 kB deflated (1029:1)


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npy_header(shape, descr="<f4"):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def tensor_node(index, shape):
    return {"tensor": index, "shape": list(shape), "dtype": "float32", "backend": "numpy", "device": "cpu",
            "requires_grad": False, "parameter": False}


def record(*nodes):
    """The __polygrad__ entry of a file holding {"w0": tensor 0, ...}."""
    tree = {"dict": [[f"w{i}", node] for i, node in enumerate(nodes)]}
    meta = {"format": "polygrad-save", "version": 1, "tree": tree}
    return npy(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


def write(path, members, compression=zipfile.ZIP_DEFLATED):
    """An archive of `members`: {name: bytes, or callable(stream) writing them, so a bomb is never in memory}."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            if callable(data):
                with archive.open(name, "w") as member:
                    data(member)
            else:
                archive.writestr(name, data)
    return path


def bomb(shape, zeros=BOMB_BYTES):
    """A member whose .npy header declares `shape` of float32, followed by `zeros` zero bytes."""
    def write_member(member):
        member.write(npy_header(shape))
        chunk = bytes(2**20)
        for _ in range(zeros // len(chunk)):
            member.write(chunk)
    return write_member


def forge(path, name, **fields):
    """Overwrite the zip directory's record of `name`: compress_size, file_size or header_offset."""
    offsets = {"compress_size": 20, "file_size": 24, "header_offset": 42}
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        at = archive.start_dir
    while data[at:at + 4] == b"PK\x01\x02":
        n, m, k = struct.unpack_from("<3H", data, at + 28)
        if data[at + 46:at + 46 + n].decode() == name:
            for field, value in fields.items():
                struct.pack_into("<L", data, at + offsets[field], value)
            path.write_bytes(bytes(data))
            return path
        at += 46 + n + m + k
    raise KeyError(name)


def offset_of(path, name):
    with zipfile.ZipFile(path) as archive:
        return archive.getinfo(name).header_offset


def refused(path, message):
    """pg.load(path) raises CheckpointError matching `message`, in under a second, allocating under 1 MiB."""
    tracemalloc.start()  # numpy and zlib report their allocations to tracemalloc
    start = time.perf_counter()
    try:
        with pytest.raises(CheckpointError, match=message) as error:
            pg.load(path)
        seconds, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    text = str(error.value)
    assert text.startswith(f"load: {path}: "), text
    assert "allow_pickle" not in text
    assert seconds < 1.0, f"took {seconds:.2f} s"
    assert peak < 2**20, f"allocated {peak:,} bytes"
    return text


def small():
    return {"__polygrad__.npy": record(tensor_node(0, (4,))), "tensors/0.npy": npy(np.arange(4, dtype=np.float32))}


def test_a_crafted_file_of_the_right_shape_loads(tmp_path):
    """The fixtures are sound: the same file, untouched, loads (deflated, as pg.save does not write it)."""
    assert pg.load(write(tmp_path / "small.pt", small()))["w0"].numpy().tolist() == [0, 1, 2, 3]


def test_save_records_each_tensors_shape_and_loads_it_back(tmp_path):
    x = pg.asarray(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    pg.save({"x": x, "n": [x[0], 3]}, tmp_path / "f.pt")
    with zipfile.ZipFile(tmp_path / "f.pt") as archive:
        meta = json.loads(np.load(archive.open("__polygrad__.npy")).tobytes())
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
    assert meta["tree"]["dict"][0][1]["shape"] == [2, 3]
    back = pg.load(tmp_path / "f.pt")
    assert back["x"].shape == (2, 3) and back["n"][0].numpy().tolist() == [0, 1, 2] and back["n"][1] == 3


@pytest.mark.parametrize("compression, fields, message", [
    # the audit's file: 4 GB declared by a deflated entry of a few bytes
    (zipfile.ZIP_DEFLATED, {}, r"'tensors/0' would inflate [\d,]+ bytes to 4,000,000,128, more than the 1,032:1 "
                               r"deflate can reach: a forged archive"),
    # stored: the directory must then give it 4 GB of the file too
    (zipfile.ZIP_STORED, {"compress_size": 4 * 10**9 + 128},
     r"gives 'tensors/0\.npy' 4,000,000,128 bytes at offset [\d,]+, reaching past the end of the entries"),
])
def test_a_tiny_file_declaring_a_huge_entry_is_refused_before_allocating(tmp_path, compression, fields, message):
    path = write(tmp_path / "huge.pt", {"__polygrad__.npy": record(tensor_node(0, (10**9,))),
                                        "tensors/0.npy": npy_header((10**9,)) + bytes(16)}, compression)
    forge(path, "tensors/0.npy", file_size=4 * 10**9 + 128, **fields)
    assert path.stat().st_size < 1000
    refused(path, message)


def test_a_deflate_bomb_under_a_small_declared_size_is_refused_from_the_directory(tmp_path):
    path = write(tmp_path / "bomb.pt", {"__polygrad__.npy": record(tensor_node(0, (4,))),
                                        "tensors/0.npy": bomb((4,))})
    forge(path, "tensors/0.npy", file_size=128 + 16)
    refused(path, r"'tensors/0' has [\d,]+ bytes of deflated data for 144 bytes, more than deflate writes")


def test_a_deflate_bomb_inflates_only_to_its_declared_size(tmp_path):
    """Sizes deflate could produce (40 kB from 33 kB), but the stream goes on for 32 MiB: reading stops at
    the declared 40 kB, and the checksum of the whole stream then fails, naming the entry."""
    n = 10_000
    path = write(tmp_path / "bomb.pt", {"__polygrad__.npy": record(tensor_node(0, (n,))),
                                        "tensors/0.npy": bomb((n,))})
    forge(path, "tensors/0.npy", file_size=128 + 4 * n)
    refused(path, r"'tensors/0' does not inflate to the 40,000 bytes it declares; stopped there \(Bad CRC-32")


@pytest.mark.parametrize("name, message", [
    ("tensors/1.npy", r"unexpected entry 'tensors/1\.npy' \(pg\.save writes __polygrad__ and the tensors/<i> its "
                      r"record refers to\)"),
    ("tensors/01.npy", r"unexpected entry 'tensors/01\.npy'"),
    ("bomb.npy", r"unexpected entry 'bomb\.npy'"),
    ("tensors/0.npy", r"'tensors/0' would inflate [\d,]+ bytes to 33,554,560, more than the 100:1 accepted here"),
])
def test_an_honest_deflate_bomb_is_refused_without_inflating_it(tmp_path, name, message):
    """Sizes true to the stream (1029:1), under a key the record does not refer to, or under the one it
    does (with the shape the record gives): refused either way before inflating."""
    shape = (BOMB_BYTES // 4,)
    members = small() | {name: bomb(shape)}
    if name == "tensors/0.npy":
        members["__polygrad__.npy"] = record(tensor_node(0, shape))
    path = write(tmp_path / "bomb.pt", members)
    assert path.stat().st_size < BOMB_BYTES / 500
    refused(path, message)


def test_entries_sharing_their_data_are_refused(tmp_path):
    """The overlapping-entries bomb: many directory records pointing at one compressed stream."""
    path = write(tmp_path / "shared.pt", {"__polygrad__.npy": record(tensor_node(0, (4,)), tensor_node(1, (4,))),
                                          "tensors/0.npy": npy(np.zeros(4, np.float32)),
                                          "tensors/1.npy": npy(np.ones(4, np.float32))})
    forge(path, "tensors/1.npy", header_offset=offset_of(path, "tensors/0.npy"))
    refused(path, r"the zip directory gives '(__polygrad__|tensors/0)\.npy' [\d,]+ bytes at offset [\d,]+, "
                  r"reaching over 'tensors/[01]\.npy'")


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, 0.99])
def test_a_truncated_file_is_refused(tmp_path, cut):
    good, path = tmp_path / "good.pt", tmp_path / "cut.pt"
    pg.save({"w": pg.asarray(np.arange(1000, dtype=np.float32))}, good)
    data = good.read_bytes()
    path.write_bytes(data[:int(len(data) * cut)])
    refused(path, r"unreadable checkpoint, truncated or corrupt")


def test_an_entry_compressed_otherwise_than_stored_or_deflated_is_refused_before_opening(tmp_path):
    path = write(tmp_path / "bz.pt", small(), zipfile.ZIP_BZIP2)  # bzip2 would inflate without a bound
    refused(path, r"'__polygrad__' is compressed with zip method 12; polygrad reads stored or deflated entries")


@pytest.mark.parametrize("nodes, message", [
    ((tensor_node(0, (5,)),), r"'tensors/0' holds shape \(4,\), but the __polygrad__ record says \(5,\)"),
    ((tensor_node(0, (4,)), tensor_node(0, (4,))), r"corrupt __polygrad__ record: refers to 'tensors/0' twice"),
    ((tensor_node(0, (4,)), tensor_node(1, (4,))), r"refers to 'tensors/1', which the archive does not hold"),
    ((tensor_node(True, (4,)),), r"a tensor's index must be a non-negative integer, got True"),
    ((tensor_node(0, (4,)) | {"shape": [-4]},), r"tensor 0's 'shape' must be a list of non-negative integers"),
    ((tensor_node(0, (4,)) | {"requires_grad": "yes"},), r"tensor 0's 'requires_grad' must be a bool, got 'yes'"),
])
def test_the_record_is_checked_against_the_entries_before_inflating(tmp_path, nodes, message):
    path = write(tmp_path / "record.pt", small() | {"__polygrad__.npy": record(*nodes)})
    refused(path, message)
