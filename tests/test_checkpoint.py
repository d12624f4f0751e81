"""Checkpoints: round trips across backends and devices, refusals with clear errors, atomic writes."""

import json

import numpy as np
import pytest

import polygrad as pg
from polygrad import checkpoint, models, optim
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
    (header(epoch="3"), "'epoch' must be an integer or null"),
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
    with pytest.raises(OSError, match="disk full"):
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
