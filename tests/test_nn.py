"""Module machinery: registration, traversal, state dicts, modes, moving between
backends and devices, parameter creation and initialisation."""

import copy
import math

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import polygrad as pg
from polygrad import nn


def strict_device(name="device1"):
    return pg.backends.get("array_api_strict").device(name)


def at(target):
    return {"backend": target.backend, "device": target.device, "dtype": target.dtype}


class Block(nn.Module):
    """A small model with a parameter, a buffer, a child and a shared child."""

    def __init__(self, **factory):
        super().__init__()
        self.fc = nn.Linear(3, 4, **factory)
        self.norm = nn.BatchNorm1d(4, **factory)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2, **factory))
        self.scale = nn.Parameter(pg.ones((2,), **factory))
        self.alias = self.fc  # shared: its parameters are listed once
        self.register_buffer("steps", pg.zeros((), dtype="int64", device=factory.get("device"),
                                                backend=factory.get("backend")))

    def forward(self, x):
        return self.head(self.norm(self.fc(x))) * self.scale


def test_parameters_buffers_and_children_are_registered():
    model = Block()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["scale", "fc.weight", "fc.bias", "norm.weight", "norm.bias", "head.1.weight", "head.1.bias"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad and p.is_leaf for p in model.parameters())
    assert [name for name, _ in model.named_buffers()] == [
        "steps", "norm.running_mean", "norm.running_var", "norm.num_batches_tracked"]
    assert [name for name, _ in model.named_children()] == ["fc", "norm", "head", "alias"]
    assert len(list(model.modules())) == 6  # Block, fc, norm, head, ReLU, Linear: alias counted once
    assert isinstance(model.head[1], nn.Linear) and len(model.head) == 2
    assert isinstance(model.head[1:], nn.Sequential) and len(model.head[1:]) == 1


def test_attribute_rules():
    model = Block()
    with pytest.raises(TypeError, match="wrap it in nn.Parameter"):
        model.scale = pg.ones((2,))
    model.scale = None  # a parameter may be cleared, like an absent bias
    assert "scale" not in dict(model.named_parameters())
    model.steps = pg.ones(())
    assert dict(model.named_buffers())["steps"] is model.steps
    del model.fc
    assert "fc.weight" not in dict(model.named_parameters())
    model.plain = 3  # ordinary attributes stay ordinary
    assert model.plain == 3 and "plain" not in model.state_dict()

    class Forgetful(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super"):
        Forgetful()
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        model.missing  # noqa: B018
    with pytest.raises(TypeError, match="expected a Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_parameter_is_a_leaf_tensor_sharing_data():
    data = pg.tensor([1.0, 2.0])
    p = nn.Parameter(data)
    assert p.array is data.array and p.requires_grad and p.is_leaf
    assert type(p * 2) is pg.Tensor  # operations give plain tensors
    assert repr(p).startswith("Parameter containing:")
    assert not nn.Parameter(data, requires_grad=False).requires_grad
    with pytest.raises(pg.DtypeError):
        nn.Parameter(pg.tensor([1, 2]))


def test_repr_shows_the_tree():
    text = repr(nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Tanh())))
    assert text == ("Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n"
                    "  (1): Sequential(\n    (0): Tanh()\n  )\n)")
    assert repr(nn.CrossEntropyLoss(label_smoothing=0.1)) == "CrossEntropyLoss(reduction='mean', label_smoothing=0.1)"


def test_module_list_and_sequential_from_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    layers.append(nn.Linear(2, 1))
    assert len(layers) == 4 and len(list(layers.parameters())) == 8
    assert isinstance(layers[-1:], nn.ModuleList)
    named = nn.Sequential({"first": nn.Linear(2, 3), "act": nn.ReLU()})
    assert [name for name, _ in named.named_parameters()] == ["first.weight", "first.bias"]
    assert named(pg.ones((1, 2))).shape == (1, 3)


def test_module_dict_and_parameter_containers_register_their_entries():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = nn.ModuleDict({"a": nn.Linear(2, 3), "b": nn.BatchNorm1d(3)})
            self.scales = nn.ParameterList([pg.ones((2,)), nn.Parameter(pg.zeros((3,)))])
            self.extra = nn.ParameterDict({"w": pg.ones((2, 2))})

    model = Model()
    keys = ["heads.a.weight", "heads.a.bias", "heads.b.weight", "heads.b.bias", "heads.b.running_mean",
            "heads.b.running_var", "heads.b.num_batches_tracked", "scales.0", "scales.1", "extra.w"]
    assert sorted(model.state_dict()) == sorted(keys)
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())
    assert not model.eval().heads["b"].training
    model.to(dtype="float64")
    assert model.scales[0].dtype == pg.float64 and model.extra["w"].dtype == pg.float64
    heads = model.heads
    assert list(heads) == ["a", "b"] and "a" in heads and len(heads) == 2 and heads.b is heads["b"]
    heads["c"] = nn.Linear(3, 1)
    del heads["a"]
    heads.update([("d", nn.ReLU())])
    assert list(heads.keys()) == ["b", "c", "d"] and isinstance(heads.pop("d"), nn.ReLU)
    assert [name for name, _ in model.named_parameters()][:4] == ["heads.b.weight", "heads.b.bias", "heads.c.weight",
                                                                  "heads.c.bias"]
    model.scales.append(pg.ones(()))
    model.scales[0] = pg.zeros((4,))
    assert [p.shape for p in model.scales] == [(4,), (3,), ()] and isinstance(model.scales[1:], nn.ParameterList)
    with pytest.raises(TypeError, match="expected a Module"):
        heads["e"] = pg.ones(2)
    with pytest.raises(TypeError, match="expected a Parameter or a Tensor"):
        model.extra["v"] = 1.0
    with pytest.raises(KeyError, match="without '.'"):
        heads["a.b"] = nn.ReLU()


@needs_torch
def test_containers_have_pytorchs_state_dict_keys():
    def build(nn):
        model = nn.Module()
        model.blocks = nn.ModuleDict({"enc": nn.Sequential(nn.Linear(2, 2)), "out": nn.Linear(2, 1)})
        model.plist = nn.ParameterList([nn.Parameter(pg.ones(2) if nn is pg.nn else torch.ones(2))])
        model.pdict = nn.ParameterDict({"s": nn.Parameter(pg.ones(()) if nn is pg.nn else torch.ones(()))})
        return model

    assert list(build(pg.nn).state_dict()) == list(build(torch.nn).state_dict())


def test_train_eval_and_zero_grad():
    model = Block()
    assert all(m.training for m in model.modules())
    assert model.eval() is model and not any(m.training for m in model.modules())
    model.train()
    assert model.head[0].training
    model(pg.ones((2, 3))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_deepcopy_gives_an_independent_model_on_the_same_device():
    device = strict_device()
    model = nn.Linear(2, 2, backend="array_api_strict", device=device)
    twin = copy.deepcopy(model)
    assert isinstance(twin.weight, nn.Parameter) and twin.weight is not model.weight
    assert twin.weight.device == device
    with pg.no_grad():
        twin.weight.add_(1.0)
    np.testing.assert_allclose(twin.weight.numpy() - model.weight.numpy(), 1.0)


# ---------------------------------------------------------------- state dicts
def test_state_dict_round_trip_across_backends():
    pg.manual_seed(1)
    source = Block()
    source(pg.ones((4, 3)) * pg.arange(4.0).reshape(4, 1))  # moves the running statistics
    state = source.state_dict()
    assert all(t.device == source.fc.weight.device for t in state.values())  # saving does not move anything
    assert not any(t.requires_grad for t in state.values())
    pg.manual_seed(2)
    device = strict_device()
    copy = Block(backend="array_api_strict", device=device)
    keys = copy.load_state_dict(state)
    assert keys.missing_keys == [] and keys.unexpected_keys == []
    for name, tensor in copy.state_dict().items():
        assert tensor.device == device, name
        np.testing.assert_array_equal(tensor.numpy(), state[name].numpy(), err_msg=name)
    source.eval(), copy.eval()
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    expected = source(pg.tensor(x, device=source.fc.weight.device)).numpy()
    # atol too: an output near zero differs between libraries by rounding, not by any relative amount
    np.testing.assert_allclose(copy(pg.tensor(x, device=device)).numpy(), expected, rtol=1e-6, atol=1e-6)
    host_state = {name: t.numpy() for name, t in state.items()}  # plain host arrays load too (checkpoints)
    copy.load_state_dict(host_state)
    assert copy.fc.weight.device == device


def test_load_state_dict_names_every_problem_and_changes_nothing():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    before = {name: t.numpy() for name, t in model.state_dict().items()}
    state = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(3)).state_dict()
    del state["1.running_var"]
    state["extra.weight"] = pg.zeros((1,))
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    assert "size mismatch for 0.weight: the state dict has shape (4, 2), the model has (3, 2)" in message
    assert "missing keys: 1.running_var" in message and "unexpected keys: extra.weight" in message
    for name, tensor in model.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), before[name])
    with pytest.raises(RuntimeError, match="size mismatch"):  # shapes are checked even when not strict
        model.load_state_dict(state, strict=False)
    del state["0.weight"], state["0.bias"]
    keys = model.load_state_dict(state, strict=False)
    assert keys.missing_keys == ["0.weight", "0.bias", "1.running_var"]
    assert keys.unexpected_keys == ["extra.weight"]


# ---------------------------------------------------------------- moving between backends and devices
def test_to_moves_parameters_buffers_and_gradients_in_place():
    model = Block()
    model(pg.ones((2, 3))).sum().backward()
    parameters = list(model.parameters())
    device = strict_device()
    assert model.to(device) is model
    assert list(model.parameters()) == parameters  # the same objects: an optimizer keeps working
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        assert tensor.device == device, name
    assert all(p.grad.device == device for p in parameters)
    model.zero_grad()
    x = pg.tensor(np.ones((2, 3)), device=device, dtype="float32")
    model(x).sum().backward()
    assert all(p.grad is not None and p.grad.device == device for p in parameters)
    assert model.norm.running_mean.device == device and model.norm.num_batches_tracked.item() == 2

    model.to("array_api_strict")
    assert model.fc.weight.device == strict_device("CPU_DEVICE")
    model.to("device1", backend="array_api_strict")
    assert model.fc.bias.device == device
    model.to("numpy", dtype="float64")
    assert model.fc.weight.backend.name == "numpy" and model.fc.weight.dtype == np.float64
    assert model.norm.num_batches_tracked.dtype == np.int64  # casts touch only floating tensors


def test_layers_are_created_on_the_requested_device(target):
    device = pg.zeros((1,), **at(target)).device
    layers = [nn.Linear(2, 3, **at(target)), nn.Conv1d(1, 2, 3, **at(target)), nn.Conv2d(1, 2, 3, **at(target)),
              nn.BatchNorm2d(2, **at(target)), nn.LayerNorm(3, **at(target)), nn.Embedding(4, 2, **at(target)),
              nn.RNNCell(2, 3, **at(target)), nn.GRUCell(2, 3, **at(target))]
    for layer in layers:
        for name, tensor in list(layer.named_parameters()) + list(layer.named_buffers()):
            assert tensor.device == device, f"{layer}: {name}"
            if name != "num_batches_tracked":
                assert str(tensor.dtype).endswith(target.dtype), f"{layer}: {name}"


def test_mlp_trains_on_device1():
    """A few steps of plain SGD on array_api_strict device1: nothing falls back to the default device."""
    device = strict_device()
    model = nn.Sequential(nn.Linear(4, 8, backend="array_api_strict", device=device), nn.Tanh(),
                          nn.Linear(8, 3, backend="array_api_strict", device=device))
    generator = pg.random.Generator(0, device=device)
    x = generator.randn(16, 4)
    y = pg.tensor(np.arange(16) % 3, device=device)
    losses = []
    for _ in range(20):
        model.zero_grad()
        loss = nn.CrossEntropyLoss()(model(x), y)
        loss.backward()
        with pg.no_grad():
            for p in model.parameters():
                p.sub_(p.grad, alpha=0.5)
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.8
    assert all(p.device == device and p.grad.device == device for p in model.parameters())


# ---------------------------------------------------------------- initialisation
def test_default_init_is_pytorchs(target):
    layer = nn.Linear(50, 40, **at(target))
    bound = 1 / math.sqrt(50)  # kaiming_uniform(a=sqrt(5)) gives 1/sqrt(fan_in), as does the bias
    for p in (layer.weight, layer.bias):
        values = p.numpy()
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound
    conv = nn.Conv2d(3, 4, 3, **at(target))
    assert np.abs(conv.weight.numpy()).max() <= 1 / math.sqrt(27)


def test_init_distributions(target):
    w = pg.empty((200, 100), **at(target))
    n = w.size
    bound = math.sqrt(6 / 100)
    values = nn.init.kaiming_uniform_(w, nonlinearity="relu").numpy()
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.99 * bound
    std = nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu").numpy().std()
    assert abs(std - math.sqrt(2 / 200)) < 4 * math.sqrt(2 / 200) / math.sqrt(2 * n)
    values = nn.init.xavier_uniform_(w, gain=2.0).numpy()
    assert np.abs(values).max() <= 2 * math.sqrt(6 / 300)
    std = nn.init.xavier_normal_(w).numpy().std()
    assert abs(std - math.sqrt(2 / 300)) < 4 * math.sqrt(2 / 300) / math.sqrt(2 * n)
    values = nn.init.normal_(w, mean=3.0, std=0.5).numpy()
    assert abs(values.mean() - 3.0) < 0.02
    values = nn.init.uniform_(w, -2.0, -1.0).numpy()
    assert values.min() >= -2 and values.max() <= -1
    assert not nn.init.zeros_(w).numpy().any() and (nn.init.ones_(w).numpy() == 1).all()
    assert w.device == pg.zeros((1,), **at(target)).device


def test_init_is_seeded_and_works_on_parameters():
    layer = nn.Linear(3, 3)

    def draw(seed):
        generator = pg.random.Generator(seed, device=layer.weight.device)
        return nn.init.xavier_uniform_(layer.weight, generator=generator).numpy()

    np.testing.assert_array_equal(draw(5), draw(5))
    assert not np.array_equal(draw(5), draw(6))
    assert layer.weight.requires_grad and layer.weight.is_leaf
    pg.manual_seed(11)
    first = nn.Linear(3, 3).weight.numpy()
    pg.manual_seed(11)
    np.testing.assert_array_equal(nn.Linear(3, 3).weight.numpy(), first)
    with pytest.raises(ValueError, match="generator draws on"):
        nn.init.normal_(layer.weight, generator=pg.random.Generator(0, device=strict_device()))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.kaiming_uniform_(layer.bias)
