"""Checkpoints: round trips across backends and devices, refusals with clear errors, atomic writes."""

import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

import polygrad as pg
from polygrad import checkpoint, optim
from polygrad.nn import models
from polygrad.checkpoint import CheckpointError

X = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)


def mlp(seed=0, hidden=(8,), **where):
    pg.manual_seed(seed)
    return models.mlp(in_features=4, num_classes=3, hidden=hidden, **where)


def predict(model):
    with pg.no_grad():
        return model(pg.asarray(X, device=next(model.parameters()).device)).numpy()


def weights(model):
    return {name: t.numpy() for name, t in model.state_dict().items()}


def train_steps(model, opt, steps=3):
    x = pg.asarray(X, device=next(model.parameters()).device)
    for _ in range(steps):
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()


def test_round_trip_numpy_strict_numpy_gives_the_same_predictions(tmp_path):
    source = mlp(seed=0, backend="numpy")
    expected = predict(source)
    checkpoint.save(tmp_path / "a.npz", source)

    strict = mlp(seed=1, backend="array_api_strict", device="device1")
    assert not np.allclose(predict(strict), expected)
    checkpoint.load(tmp_path / "a.npz", strict)
    np.testing.assert_allclose(predict(strict), expected, rtol=1e-6)
    assert all(p.device.name == "device1" for p in strict.parameters())  # loading kept the device

    checkpoint.save(tmp_path / "b.npz", strict)
    assert all(p.device.name == "device1" for p in strict.parameters())  # saving moved nothing
    back = mlp(seed=2, backend="numpy")
    checkpoint.load(tmp_path / "b.npz", back)
    np.testing.assert_allclose(predict(back), expected, rtol=1e-6)
    assert all(p.device.backend.name == "numpy" for p in back.parameters())


def test_buffers_round_trip_and_keep_their_device(tmp_path):
    pg.manual_seed(0)
    source = models.cnn(image_size=4, channels=(2,), hidden=4, num_classes=3)
    source(pg.randn(3, 1, 4, 4))  # training mode: running statistics move
    checkpoint.save(tmp_path / "c.npz", source)
    pg.manual_seed(1)
    target = models.cnn(image_size=4, channels=(2,), hidden=4, num_classes=3,
                        backend="array_api_strict", device="device1")
    checkpoint.load(tmp_path / "c.npz", target)
    for name, value in weights(source).items():
        np.testing.assert_array_equal(weights(target)[name], value, err_msg=name)
    assert all(b.device.name == "device1" for b in target.buffers())


def test_saving_does_not_touch_the_model(tmp_path):
    model = mlp(backend="array_api_strict", device="device1")
    before = {name: (t.device, t._version) for name, t in model.named_parameters()}
    checkpoint.save(tmp_path / "m.npz", model)
    assert {name: (t.device, t._version) for name, t in model.named_parameters()} == before


def test_optimizer_state_and_metadata_round_trip(tmp_path):
    model = mlp(seed=0)
    opt = optim.Adam(model.parameters(), lr=0.01)
    train_steps(model, opt)
    checkpoint.save(tmp_path / "o.npz", model, opt, epoch=3, history=[{"loss": 0.5}], note="hello")

    twin = mlp(seed=5, backend="array_api_strict", device="device1")
    twin_opt = optim.Adam(twin.parameters(), lr=0.5)
    meta = checkpoint.load(tmp_path / "o.npz", twin, twin_opt)
    assert meta == {"epoch": 3, "history": [{"loss": 0.5}], "note": "hello"}
    assert twin_opt.param_groups[0]["lr"] == 0.01
    for state in twin_opt.state.values():
        assert state["step"] == 3 and state["exp_avg"].device.name == "device1"
    train_steps(model, opt, 2)
    train_steps(twin, twin_opt, 2)
    np.testing.assert_allclose(predict(twin), predict(model), rtol=1e-5)


def test_the_file_is_a_plain_npz_without_pickles(tmp_path):
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train_steps(model, opt, 1)
    checkpoint.save(tmp_path / "p.npz", model, opt, epoch=1)
    with np.load(tmp_path / "p.npz", allow_pickle=False) as f:
        names = set(f.files)
        meta = json.loads(f["__polygrad__"].tobytes())
        np.testing.assert_array_equal(f["model/1.weight"], model.state_dict()["1.weight"].numpy())
    assert {"model/1.weight", "model/1.bias", "model/3.weight", "model/3.bias",
            "optimizer/0/momentum_buffer"} <= names
    assert meta["version"] == checkpoint.VERSION and meta["epoch"] == 1 and meta["optimizer"]["type"] == "SGD"


# ---------------------------------------------------------------- refusals
def test_truncated_file_is_refused_and_the_model_unchanged(tmp_path):
    path = tmp_path / "t.npz"
    checkpoint.save(path, mlp(seed=0))
    path.write_bytes(path.read_bytes()[:-200])
    model = mlp(seed=1)
    before = weights(model)
    with pytest.raises(CheckpointError, match="truncated or corrupt") as error:
        checkpoint.load(path, model)
    assert str(path) in str(error.value)
    for name, value in weights(model).items():
        np.testing.assert_array_equal(value, before[name])


def test_corrupt_bytes_are_refused(tmp_path):
    path = tmp_path / "c.npz"
    checkpoint.save(path, mlp())
    raw = bytearray(path.read_bytes())
    raw[300:310] = b"\xff" * 10  # inside the first array's data: the zip CRC no longer matches
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=str(path.name)):
        checkpoint.load(path, mlp())


@pytest.mark.parametrize("write, message", [
    (lambda path: np.savez(path, weights=np.zeros(3)), "not a polygrad checkpoint"),
    (lambda path: np.save(path, np.zeros(3)), "not a checkpoint"),
    (lambda path: path.write_bytes(b"hello"), "unreadable"),
    (lambda path: np.savez(path, __polygrad__=np.frombuffer(
        json.dumps({"format": "polygrad-checkpoint", "version": 99}).encode(), np.uint8)), "version 99"),
    (lambda path: np.savez(path, __polygrad__=np.frombuffer(b"{oops", np.uint8)), "corrupt"),
])
def test_foreign_files_are_refused(tmp_path, write, message):
    path = tmp_path / "x.npz"
    write(path)
    path = path if path.exists() else tmp_path / "x.npz.npy"  # np.save adds .npy
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(path, mlp())


def header(**fields):
    """An archive whose __polygrad__ record is `fields` (a valid one, changed by the caller)."""
    meta = {"format": "polygrad-checkpoint", "version": checkpoint.VERSION, "epoch": 1, "metadata": {},
            "optimizer": None}
    meta.update(fields)
    return {key: value for key, value in meta.items() if value is not ...}


def write_header(path, meta, model=None):
    arrays = {f"model/{name}": t.numpy() for name, t in (model or mlp()).state_dict().items()}
    np.savez(path, __polygrad__=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)


@pytest.mark.parametrize("meta, message", [
    ([1, 2], "holds a JSON list, not an object"),
    ("text", "holds a JSON str, not an object"),
    (None, "holds a JSON NoneType, not an object"),
    (header(epoch=...), r"missing key\(s\) \['epoch'\]"),
    (header(metadata=..., optimizer=...), r"missing key\(s\) \['metadata', 'optimizer'\]"),
    (header(epoch="3"), "'epoch' must be a non-negative integer or null"),
    (header(metadata=[1]), "'metadata' must be an object"),
    (header(optimizer=[]), "'optimizer' must be an object or null"),
    (header(optimizer={"param_groups": [], "scalars": {}}), r"'optimizer' lacks key\(s\) \['type'\]"),
    (header(optimizer={"type": "SGD", "param_groups": [{"lr": 0.1}], "scalars": {}}), "param_groups"),
    (header(optimizer={"type": "SGD", "param_groups": [], "scalars": {"x": {}}}), "scalars"),
])
def test_a_corrupt_header_is_a_checkpoint_error_naming_the_file(tmp_path, meta, message):
    path = tmp_path / "h.npz"
    write_header(path, meta)
    for read in (lambda: checkpoint.load(path, mlp()), lambda: checkpoint.metadata(path)):
        with pytest.raises(CheckpointError, match=message) as error:
            read()
        assert str(path) in str(error.value)


def test_a_corrupt_optimizer_header_leaves_model_and_optimizer_alone(tmp_path):
    path = tmp_path / "o.npz"
    write_header(path, header(optimizer={"type": "SGD", "param_groups": [{"params": [0, 1, 2, 3], "lr": 9.0}],
                                         "scalars": {"7": {"step": 1}}}))
    model = mlp(seed=3)
    opt = optim.SGD(model.parameters(), lr=0.1)
    before = weights(model)
    with pytest.raises(CheckpointError, match="state for parameter 7, but the optimizer has 4"):
        checkpoint.load(path, model, opt)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.state == {}
    for name, value in weights(model).items():
        np.testing.assert_array_equal(value, before[name])


def test_the_optimizer_is_untouched_when_loading_the_model_fails(tmp_path, monkeypatch):
    source = mlp(seed=0)
    source_opt = optim.Adam(source.parameters(), lr=0.01)
    train_steps(source, source_opt)
    checkpoint.save(tmp_path / "m.npz", source, source_opt)

    model = mlp(seed=1)
    opt = optim.Adam(model.parameters(), lr=0.5)
    train_steps(model, opt, 1)
    state_before = {i: {k: v.numpy() if hasattr(v, "numpy") else v for k, v in s.items()}
                    for i, s in enumerate(opt.state.values())}

    def failing(state_dict, strict=True):
        raise RuntimeError("the device ran out of memory")

    monkeypatch.setattr(model, "load_state_dict", failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        checkpoint.load(tmp_path / "m.npz", model, opt)
    assert opt.param_groups[0]["lr"] == 0.5
    for i, state in enumerate(opt.state.values()):
        assert state["step"] == state_before[i]["step"] == 1
        np.testing.assert_array_equal(state["exp_avg"].numpy(), state_before[i]["exp_avg"])

    monkeypatch.undo()  # the same file loads whole once the model takes it
    checkpoint.load(tmp_path / "m.npz", model, opt)
    assert opt.param_groups[0]["lr"] == 0.01 and all(s["step"] == 3 for s in opt.state.values())
    np.testing.assert_allclose(predict(model), predict(source), rtol=1e-6)


def test_a_checkpoint_holds_only_its_own_arrays(tmp_path):
    """No stray "allow_pickle" entry (numpy 1.26's savez would store that keyword as an array)."""
    model = mlp()
    checkpoint.save(tmp_path / "s.npz", model, optim.SGD(model.parameters(), lr=0.1))
    with np.load(tmp_path / "s.npz", allow_pickle=False) as f:
        assert all(name == "__polygrad__" or name.startswith(("model/", "optimizer/")) for name in f.files)


def test_missing_file():
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        checkpoint.load("/nonexistent/folder/model.npz", mlp())


def test_shape_mismatch_names_the_key_and_changes_nothing(tmp_path):
    checkpoint.save(tmp_path / "s.npz", mlp(hidden=(16,)))
    model = mlp(hidden=(8,), seed=3)
    before = weights(model)
    mismatch = r"size mismatch for 1\.weight: the state dict has shape \(16, 4\), the model has \(8, 4\)"
    with pytest.raises(CheckpointError, match=mismatch):
        checkpoint.load(tmp_path / "s.npz", model)
    for name, value in weights(model).items():
        np.testing.assert_array_equal(value, before[name])


def test_missing_and_unexpected_keys_are_named(tmp_path):
    checkpoint.save(tmp_path / "k.npz", mlp(hidden=(8,)))
    with pytest.raises(CheckpointError, match=r"does not fit the model: .*missing keys: 5\.weight, 5\.bias$"):
        checkpoint.load(tmp_path / "k.npz", mlp(hidden=(8, 8)))
    checkpoint.save(tmp_path / "k.npz", mlp(hidden=(8, 8)))
    with pytest.raises(CheckpointError, match=r"does not fit the model: .*unexpected keys: 5\.weight, 5\.bias$"):
        checkpoint.load(tmp_path / "k.npz", mlp(hidden=(8,)))


def test_optimizer_mismatches_are_refused_before_anything_changes(tmp_path):
    model = mlp()
    checkpoint.save(tmp_path / "n.npz", model)  # no optimizer inside
    target = mlp(seed=4)
    before = weights(target)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        checkpoint.load(tmp_path / "n.npz", target, optim.SGD(target.parameters(), lr=0.1))
    opt = optim.Adam(model.parameters())
    train_steps(model, opt, 1)
    checkpoint.save(tmp_path / "a.npz", model, opt)
    with pytest.raises(CheckpointError, match="for Adam, not SGD"):
        checkpoint.load(tmp_path / "a.npz", target, optim.SGD(target.parameters(), lr=0.1))
    for name, value in weights(target).items():
        np.testing.assert_array_equal(value, before[name])


def test_metadata_must_be_json(tmp_path):
    with pytest.raises(CheckpointError, match="JSON"):
        checkpoint.save(tmp_path / "j.npz", mlp(), extra=object())
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- atomic writes
def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, mlp(seed=0), epoch=1)
    good = path.read_bytes()

    def crash(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(CheckpointError, match=re.escape(f"{path}: cannot write the checkpoint (disk full)")):
        checkpoint.save(path, mlp(seed=1), epoch=2)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]  # the temporary file is gone
    monkeypatch.undo()
    assert checkpoint.load(path, mlp(seed=1))["epoch"] == 1


def test_ctrl_c_during_the_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, mlp(seed=0), epoch=1)
    good = path.read_bytes()

    def interrupted(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, mlp(seed=1), epoch=2)
    assert path.read_bytes() == good and [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]


def test_a_failed_load_leaves_the_file_intact(tmp_path):
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, mlp(hidden=(16,)))
    good = path.read_bytes()
    with pytest.raises(CheckpointError):
        checkpoint.load(path, mlp(hidden=(8,)))
    assert path.read_bytes() == good


# ---------------------------------------------------------------- hostile files
def npy_header(shape, descr="<f4"):
    """The bytes of a .npy header declaring `shape` of `descr`, without any data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def rewrite(source, target, replace=None, add=None):
    """Copy the archive `source` to `target`, replacing members' bytes ({name: bytes}) and adding
    members ({name: callable(file)} writing the member in a stream, so a bomb is never in memory)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for name in old.namelist():
            new.writestr(name, (replace or {}).get(name) or old.read(name))
        for name, write in (add or {}).items():
            with new.open(name, "w", force_zip64=True) as member:
                write(member)


def unchanged(model, before):
    return all(np.array_equal(value, before[name]) for name, value in weights(model).items())


def test_a_tiny_file_declaring_a_huge_array_is_refused_before_allocating(tmp_path, target):
    good, path = tmp_path / "good.npz", tmp_path / "huge.npz"
    checkpoint.save(good, mlp(seed=0))
    rewrite(good, path, replace={"model/1.weight.npy": npy_header((10**12,)) + bytes(100)})
    assert path.stat().st_size < 2000
    model = mlp(seed=1, backend=target.backend, device=target.device)
    before = weights(model)
    with pytest.raises(CheckpointError, match=r"'model/1\.weight' declares shape \(1000000000000,\) of float32 "
                                              r"\(4,000,000,000,000 bytes\), but the archive holds 100 bytes"):
        checkpoint.load(path, model)
    assert unchanged(model, before)


def test_a_declared_shape_the_model_does_not_have_is_refused_before_inflating(tmp_path, target):
    """Honest about its size, but (10**6, 4) where the model has (8, 4): refused on the header alone."""
    good, path = tmp_path / "good.npz", tmp_path / "wide.npz"
    checkpoint.save(good, mlp(seed=0))
    rewrite(good, path, replace={"model/1.weight.npy": npy_header((10**6, 4)) + bytes(16 * 10**6)})
    model = mlp(seed=1, backend=target.backend, device=target.device)
    before = weights(model)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=r"size mismatch for 1\.weight: .* shape \(1000000, 4\)"):
            checkpoint.load(path, model)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20 and unchanged(model, before)


BOMB_BYTES = 2**27  # 128 MiB of zeros, about 130 kB deflated


def write_bomb(member):
    member.write(npy_header((BOMB_BYTES // 4,)))
    chunk = bytes(2**20)
    for _ in range(BOMB_BYTES // len(chunk)):
        member.write(chunk)


@pytest.mark.parametrize("key, message", [
    ("bomb", r"unexpected entries 'bomb'"),
    ("model/bomb", r"unexpected keys: bomb"),
    ("optimizer/0/bomb", r"optimizer state\[0\]\['bomb'\] has shape \(33554432,\)"),
])
def test_a_deflate_bomb_is_refused_without_inflating_it(tmp_path, key, message):
    model = mlp(seed=0)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train_steps(model, opt, 1)
    good, path = tmp_path / "good.npz", tmp_path / "bomb.npz"
    checkpoint.save(good, model, opt)
    rewrite(good, path, add={f"{key}.npy": write_bomb})
    assert path.stat().st_size < BOMB_BYTES / 100
    target = mlp(seed=1)
    target_opt = optim.SGD(target.parameters(), lr=0.5, momentum=0.9)
    before = weights(target)
    tracemalloc.start()  # numpy and zlib report their allocations to tracemalloc
    try:
        with pytest.raises(CheckpointError, match=message):
            checkpoint.load(path, target, target_opt)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"loading allocated {peak:,} bytes"
    assert unchanged(target, before) and target_opt.param_groups[0]["lr"] == 0.5 and target_opt.state == {}


def test_a_deeply_nested_header_is_refused_before_parsing(tmp_path, target):
    path = tmp_path / "deep.npz"
    write_header(path, None)
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    rewrite(path, tmp_path / "deep2.npz", replace={"__polygrad__.npy": npy_header((len(deep),), "|u1") + deep})
    model = mlp(seed=1, backend=target.backend, device=target.device)
    before = weights(model)
    for read in (lambda: checkpoint.load(tmp_path / "deep2.npz", model),
                 lambda: checkpoint.metadata(tmp_path / "deep2.npz")):
        with pytest.raises(CheckpointError, match="nested 100000 deep, more than 64"):
            read()
    assert unchanged(model, before)


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    path = tmp_path / "note.npz"
    checkpoint.save(path, mlp(), note="[" * 1000 + '"{\\"', other="]]]")
    assert checkpoint.metadata(path)["note"] == "[" * 1000 + '"{\\"'


def test_an_oversized_header_is_refused_before_inflating(tmp_path, monkeypatch):
    path = tmp_path / "big_header.npz"
    checkpoint.save(path, mlp(), note="x" * 500)
    monkeypatch.setattr(checkpoint, "MAX_HEADER_BYTES", 400)
    with pytest.raises(CheckpointError, match=r"__polygrad__ record is \d{3} bytes, more than the 400"):
        checkpoint.metadata(path)


def adam_header(**group):
    groups = [{"params": [0, 1, 2, 3], "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0,
               **group}]
    return header(optimizer={"type": "Adam", "param_groups": groups, "scalars": {}})


@pytest.mark.parametrize("meta, message", [
    (adam_header(lr="0.001; rm -rf /"),
     r"'optimizer\.param_groups\[0\]\['lr'\]' must be a number, a boolean, null or a list of numbers, "
     r"got '0\.001; rm -rf /'"),
    (adam_header(lr=None), r"optimizer\.param_groups\[0\]\['lr'\] must be a finite real number .* got None"),
    (adam_header(lr=True), r"\['lr'\] must be a finite real number like this optimizer's 0\.5, got True"),
    (adam_header(lr=float("inf")), r"\['lr'\] must be a finite real number .* got inf"),
    (adam_header(betas=[0.9]), r"\['betas'\] must be a list of 2 values like this optimizer's \(0\.9, 0\.999\)"),
    (adam_header(betas=[0.9, "x"]), r"\['betas'\]' must be a number, a boolean, null or a list of numbers"),
    (adam_header(eps={"a": 1}), r"\['eps'\]' must be a number"),
])
def test_every_hyperparameter_is_type_checked_before_anything_changes(tmp_path, target, meta, message):
    path = tmp_path / "lr.npz"
    write_header(path, meta)
    model = mlp(seed=1, backend=target.backend, device=target.device)
    opt = optim.Adam(model.parameters(), lr=0.5)
    before = weights(model)
    with pytest.raises(CheckpointError, match=message) as error:
        checkpoint.load(path, model, opt)
    assert str(path) in str(error.value)
    assert unchanged(model, before) and opt.param_groups[0]["lr"] == 0.5 and opt.state == {}


def test_a_saved_hyperparameter_comes_back_as_the_optimizers_kind(tmp_path):
    model = mlp()
    opt = optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    checkpoint.save(tmp_path / "b.npz", model, opt)
    twin = optim.Adam(model.parameters())
    checkpoint.load(tmp_path / "b.npz", model, twin)
    assert twin.param_groups[0]["betas"] == (0.8, 0.9) and isinstance(twin.param_groups[0]["betas"], tuple)


def test_too_many_optimizer_tensors_for_one_parameter_are_refused(tmp_path):
    model = mlp()
    good, path = tmp_path / "good.npz", tmp_path / "many.npz"
    checkpoint.save(good, model, optim.SGD(model.parameters(), lr=0.1))
    shape = tuple(model.state_dict()["1.weight"].shape)
    extra = {f"optimizer/0/s{k}.npy": npy_header(shape) + bytes(4 * math.prod(shape)) for k in range(9)}
    rewrite(good, path, add={name: (lambda member, data=data: member.write(data)) for name, data in extra.items()})
    with pytest.raises(CheckpointError, match="9 optimizer tensors for parameter 0, more than the 8"):
        checkpoint.load(path, model, optim.SGD(model.parameters(), lr=0.1))


@pytest.mark.parametrize("name, data, message", [
    ("model/1.weight.npy", None, "holds 'model/1.weight' twice"),
    ("notes.txt", b"hello", r"unexpected entry 'notes\.txt' \(every entry of a checkpoint is an \.npy array\)"),
])
def test_odd_archive_members_are_refused(tmp_path, name, data, message):
    good, path = tmp_path / "good.npz", tmp_path / "odd.npz"
    checkpoint.save(good, mlp())
    with zipfile.ZipFile(good) as archive:
        data = data or archive.read(name)
    rewrite(good, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate name
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(name, data)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(path, mlp())


def test_pickled_objects_are_refused_without_suggesting_allow_pickle(tmp_path):
    good, path = tmp_path / "good.npz", tmp_path / "objects.npz"
    checkpoint.save(good, mlp())
    buffer = io.BytesIO()
    np.save(buffer, np.array([object()] * 32, dtype=object).reshape(8, 4), allow_pickle=True)
    rewrite(good, path, replace={"model/1.weight.npy": buffer.getvalue()})
    with pytest.raises(CheckpointError, match="'model/1.weight' holds object data, not numbers") as error:
        checkpoint.load(path, mlp())
    assert "allow_pickle" not in str(error.value)


def test_data_the_tensor_cannot_hold_is_refused(tmp_path, target):
    model = mlp(seed=0)
    arrays = {f"model/{name}": value.astype(np.complex64) for name, value in weights(model).items()}
    np.savez(tmp_path / "c.npz", __polygrad__=np.frombuffer(json.dumps(header()).encode(), np.uint8), **arrays)
    twin = mlp(seed=1, backend=target.backend, device=target.device)
    before = weights(twin)
    with pytest.raises(CheckpointError, match=r"'1\.weight' holds complex64 data, which the model's float32 tensor "
                                              "cannot hold"):
        checkpoint.load(tmp_path / "c.npz", twin)
    assert unchanged(twin, before)


def test_big_endian_and_fortran_order_arrays_load_as_their_values(tmp_path, target):
    source = mlp(seed=0)
    arrays = {f"model/{name}": np.asfortranarray(value.astype(">f8")) for name, value in weights(source).items()}
    np.savez(tmp_path / "f.npz", __polygrad__=np.frombuffer(json.dumps(header()).encode(), np.uint8), **arrays)
    twin = mlp(seed=1, backend=target.backend, device=target.device)
    checkpoint.load(tmp_path / "f.npz", twin)
    for name, value in weights(source).items():
        np.testing.assert_array_equal(weights(twin)[name], value, err_msg=name)


def test_os_errors_name_the_path(tmp_path):
    (tmp_path / "file").write_text("")
    for path in (tmp_path / "missing" / "c.npz", tmp_path / "file" / "c.npz"):
        with pytest.raises(CheckpointError, match=f"{re.escape(str(path))}: cannot write the checkpoint"):
            checkpoint.save(path, mlp())
    with pytest.raises(CheckpointError, match=f"{re.escape(str(tmp_path))}: cannot read the checkpoint"):
        checkpoint.load(tmp_path, mlp())


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and process probes are POSIX")
def test_a_killed_save_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, mlp(seed=0), epoch=1)
    killed = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        from polygrad import checkpoint
        from polygrad.nn import models

        def die(file, **arrays):
            file.write(b"PK half an archive")
            os.kill(os.getpid(), signal.SIGKILL)

        np.savez = die
        checkpoint.save({str(path)!r}, models.mlp(in_features=4, num_classes=3, hidden=(8,)), epoch=2)
    """)
    result = subprocess.run([sys.executable, "-c", killed], timeout=120)
    assert result.returncode == -signal.SIGKILL
    stale = [p.name for p in tmp_path.iterdir() if p.name != "ckpt.npz"]
    assert len(stale) == 1 and stale[0].startswith(".ckpt.npz.")
    running = tmp_path / f".ckpt.npz.{os.getpid()}.{'0' * 12}.tmp"  # a save in progress: kept
    running.write_bytes(b"")
    checkpoint.save(path, mlp(seed=1), epoch=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ckpt.npz", running.name])
    assert checkpoint.metadata(path)["epoch"] == 3
