"""autocast and GradScaler held to PyTorch's on the CPU (torch's CPU autocast takes bfloat16 and float16):
each op's output dtype and values, the API's states and errors, and a training loop with injected
infinite gradients whose scales, skipped steps and final parameters must be torch's.

The CUDA op list cannot be run against torch without a GPU: it is checked by running the CPU tensors
as if they were on CUDA (the list's own entries, read from PyTorch's source) in test_cuda_list_*.
"""

import warnings

import numpy as np
import pytest

import polygrad as pg
from polygrad.amp import autocast_mode, policy
from torch_oracle import needs_torch, torch
from polygrad.nn import models

F = pg.nn.functional
LOW = ("bfloat16", "float16")
TOLERANCE = {"float16": 4e-3, "bfloat16": 3e-2}


@pytest.fixture(autouse=True)
def half_capable_default_backend():
    """Tests on the default backend need one with half dtypes: under --backend array_api_strict, numpy."""
    try:
        pg.zeros(1, dtype=pg.float16)
    except pg.DtypeError:
        previous = pg.set_default_backend("numpy")
        yield
        pg.set_default_backend(previous)
        return
    yield


@pytest.fixture(params=["numpy", "torch"])
def amp_backend(request):
    if request.param not in request.config.polygrad_backends:
        pytest.skip(f"{request.param} is not selected")
    if request.param == "numpy":
        pytest.importorskip("ml_dtypes")
    try:
        pg.backends.get(request.param)
    except pg.BackendUnavailable as error:
        pytest.skip(str(error))
    return request.param


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((4, 8)).astype(np.float32),
        "w": rng.standard_normal((6, 8)).astype(np.float32),
        "b": rng.standard_normal(6).astype(np.float32),
        "img": rng.standard_normal((2, 3, 6, 6)).astype(np.float32),
        "kernel": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "target": rng.integers(0, 8, 4),
        "p": rng.uniform(0.1, 0.9, (4, 8)).astype(np.float32),
        "g": np.ones(8, np.float32),
        "batch": rng.standard_normal((2, 4, 8)).astype(np.float32),
    }


# op name -> function of (library, its F, data dict of tensors, the library's low dtype)
CASES = {
    "matmul": lambda m, f, d, low: d["x"] @ d["w"].T,
    "linear": lambda m, f, d, low: f.linear(d["x"], d["w"], d["b"]),
    "conv2d": lambda m, f, d, low: f.conv2d(d["img"], d["kernel"], None, padding=1),
    "bmm": lambda m, f, d, low: m.bmm(d["batch"], d["batch"].transpose(1, 2)),
    "addmm": lambda m, f, d, low: m.addmm(d["b"], d["x"], d["w"].T),
    "baddbmm": lambda m, f, d, low: m.baddbmm(d["g"][:4], d["batch"], d["batch"].transpose(1, 2)),
    "Tensor.addmm": lambda m, f, d, low: d["b"].addmm(d["x"], d["w"].T, beta=0.5, alpha=2),
    "Tensor.baddbmm": lambda m, f, d, low: d["g"][:4].baddbmm(d["batch"], d["batch"].transpose(1, 2), alpha=-1),
    "attention": lambda m, f, d, low: f.scaled_dot_product_attention(d["batch"], d["batch"], d["batch"]),
    "softmax (low input)": lambda m, f, d, low: f.softmax(d["x"].to(low), dim=-1),
    "softmax (float32 input)": lambda m, f, d, low: f.softmax(d["x"], dim=-1),
    "log_softmax (low input)": lambda m, f, d, low: f.log_softmax(d["x"].to(low), dim=-1),
    "exp (low input)": lambda m, f, d, low: d["x"].to(low).exp(),
    "sum (low input)": lambda m, f, d, low: d["x"].to(low).sum(),
    "mean (low input)": lambda m, f, d, low: d["x"].to(low).mean(),
    "layer_norm (low input, float32 weights)": lambda m, f, d, low: f.layer_norm(d["x"].to(low), (8,), d["g"], d["g"]),
    "group_norm (low input)": lambda m, f, d, low: f.group_norm(d["x"].to(low), 2, d["g"], d["g"]),
    "gelu (low input)": lambda m, f, d, low: f.gelu(d["x"].to(low)),
    "prod (low input)": lambda m, f, d, low: (d["x"][0] / 2 + 1).to(low).prod(),
    "mse_loss": lambda m, f, d, low: f.mse_loss(d["x"].to(low), d["x"] * 0.5),
    "l1_loss": lambda m, f, d, low: f.l1_loss(d["x"].to(low), d["x"] * 0.5),
    "smooth_l1_loss": lambda m, f, d, low: f.smooth_l1_loss(d["x"].to(low), d["x"] * 0.5),
    "cross_entropy": lambda m, f, d, low: f.cross_entropy(d["x"].to(low), d["target"]),
    "nll_loss": lambda m, f, d, low: f.nll_loss(f.log_softmax(d["x"], dim=-1).to(low), d["target"]),
    "binary_cross_entropy_with_logits": lambda m, f, d, low: f.binary_cross_entropy_with_logits(d["x"].to(low), d["p"]),
    "binary_cross_entropy": lambda m, f, d, low: f.binary_cross_entropy(d["p"].to(low), d["p"] * 0.5),
    "cat (low and float32)": lambda m, f, d, low: m.cat([d["x"].to(low), d["x"]]),
    "stack (low and low)": lambda m, f, d, low: m.stack([d["x"].to(low), d["x"].to(low)]),
    "add (low and float32)": lambda m, f, d, low: d["x"].to(low) + d["x"],
    "matmul of float64": lambda m, f, d, low: d["x"].double() @ d["w"].double().T,
}


def _run(library, backend, case, low, data, device="cpu"):
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    if library is torch:
        tensors = {k: torch.tensor(v, device=device) for k, v in data.items()}
        with torch.autocast(device_type, dtype=getattr(torch, low)):
            return CASES[case](torch, torch.nn.functional, tensors, getattr(torch, low))
    tensors = {k: pg.tensor(v, backend=backend, device=device) for k, v in data.items()}
    with pg.autocast(device_type, dtype=low):
        return CASES[case](pg, F, tensors, pg.dtypes.get(low))


@needs_torch
@pytest.mark.parametrize("low", LOW)
@pytest.mark.parametrize("case", CASES)
def test_output_dtype_and_values_are_torchs_on_the_cpu(amp_backend, case, low):
    data = _data()
    want = _run(torch, None, case, low, data)
    got = _run(pg, amp_backend, case, low, data)
    assert got.dtype == str(want.dtype).removeprefix("torch."), case
    tol = TOLERANCE[low] * 4  # inputs rounded to the low dtype, then an op's own rounding
    np.testing.assert_allclose(got.float().numpy(), want.float().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", ["cupy", "torch"])
@pytest.mark.parametrize("case", CASES)
def test_cuda_autocast_on_a_gpu_is_torchs(backend, case, request):
    """On a lent GPU (scripts/gpu_check.sh): output dtypes and values against torch's CUDA autocast."""
    if torch is None or not torch.cuda.is_available():
        pytest.skip("needs torch with CUDA (the oracle)")
    if backend not in request.config.polygrad_backends:
        pytest.skip(f"{backend} is not selected")
    try:
        pg.backends.get(backend).device("cuda:0")
    except (pg.BackendUnavailable, ValueError) as error:
        pytest.skip(str(error))
    if case == "binary_cross_entropy":
        with pytest.raises(RuntimeError), torch.autocast("cuda"):
            _run(torch, None, case, "float16", _data(), "cuda:0")
        with pytest.raises(RuntimeError, match="unsafe to autocast"):
            _run(pg, backend, case, "float16", _data(), "cuda:0")
        return
    want = _run(torch, None, case, "float16", _data(), "cuda:0")
    got = _run(pg, backend, case, "float16", _data(), "cuda:0")
    assert got.dtype == str(want.dtype).removeprefix("torch."), case
    np.testing.assert_allclose(got.float().numpy(), want.float().cpu().numpy(), rtol=2e-2, atol=2e-2)


def test_autocast_api_nesting_and_decorator():
    assert not pg.is_autocast_enabled("cpu") and pg.get_autocast_dtype("cpu") == pg.bfloat16
    assert pg.get_autocast_dtype("cuda") == pg.float16
    x = pg.ones(2, 2)
    with pg.amp.autocast("cpu"):
        assert pg.is_autocast_enabled("cpu") and (x @ x).dtype == pg.bfloat16
        with pg.autocast("cpu", dtype=pg.float16):
            assert pg.get_autocast_dtype("cpu") == pg.float16 and (x @ x).dtype == pg.float16
            with pg.cpu.amp.autocast(enabled=False):
                assert not pg.is_autocast_enabled("cpu") and (x @ x).dtype == pg.float32
            assert (x @ x).dtype == pg.float16
        assert pg.get_autocast_dtype("cpu") == pg.bfloat16
    assert not pg.is_autocast_enabled("cpu") and (x @ x).dtype == pg.float32

    @pg.autocast("cpu", dtype=pg.float16)
    def product(a):
        return a @ a

    assert product(x).dtype == pg.float16 and (x @ x).dtype == pg.float32


@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32", "int32"])
def test_unsupported_dtype_warns_and_disables_as_torch(dtype):
    with pytest.warns(UserWarning, match="disabling autocast"):
        region = pg.autocast("cpu", dtype=dtype)
    with region:
        assert not pg.is_autocast_enabled("cpu")
        assert (pg.ones(2, 2) @ pg.ones(2, 2)).dtype == pg.float32
    with pytest.warns(UserWarning), torch.autocast("cpu", dtype=getattr(torch, dtype)):
        assert not torch.is_autocast_enabled("cpu")


def test_bad_device_types_raise():
    with pytest.raises(RuntimeError, match="unsupported device_type 'tpu'"):
        pg.autocast("tpu")
    with pytest.raises(ValueError, match="device_type` of type `str`"):
        pg.autocast(1)
    with pytest.raises(RuntimeError, match="device_type"):
        pg.is_autocast_enabled("mps")


def test_cuda_autocast_without_cuda_warns_and_disables():
    if pg.cuda.is_available():
        pytest.skip("a CUDA device is reachable")
    with pytest.warns(UserWarning, match="CUDA is not available"):
        region = pg.cuda.amp.autocast()
    with region:
        assert not pg.is_autocast_enabled("cuda")


@pytest.fixture
def cpu_as_cuda(monkeypatch):
    """CPU tensors treated as CUDA ones, so the CUDA list runs here."""
    monkeypatch.setattr(autocast_mode, "_device_type", lambda tensor: "cuda")
    monkeypatch.setattr(autocast_mode, "_cuda_available", lambda: True)


def test_cuda_list_softmax_and_norms_in_float32_matmul_in_float16(cpu_as_cuda):
    x = pg.randn(4, 8)
    with pg.autocast("cuda"):
        h = x @ pg.randn(8, 8)
        assert h.dtype == pg.float16
        assert F.softmax(h, dim=-1).dtype == pg.float32
        assert F.layer_norm(h, (8,)).dtype == pg.float32
        assert h.exp().dtype == pg.float32 and h.sum().dtype == pg.float32
        assert (h ** 2).dtype == pg.float32
        assert h.mean().dtype == pg.float16  # on no list
        assert pg.einsum("ij,jk->ik", x, x.T).dtype == pg.float16
        with pytest.raises(RuntimeError, match="binary_cross_entropy: unsafe to autocast"):
            F.binary_cross_entropy(pg.sigmoid(h), pg.ones(4, 8))


def test_cpu_and_cuda_lists_differ_where_torch_says():
    assert policy.CPU.get("softmax") is None and policy.CUDA["softmax"] == "fp32"
    assert policy.CPU["prod"] == "fp32" and policy.CPU["binary_cross_entropy"] == "fp32"
    assert policy.CUDA["binary_cross_entropy"] == "banned"
    for table in (policy.CPU, policy.CUDA):
        for name in ("matmul", "linear", "conv2d", "bmm", "addmm", "baddbmm", "scaled_dot_product_attention"):
            assert table[name] == "lower"


@needs_torch
@pytest.mark.parametrize("low", LOW)
def test_forward_under_autocast_backward_outside_gives_float32_grads(amp_backend, low):
    data = _data(1)
    model = pg.nn.Sequential(pg.nn.Linear(8, 16), pg.nn.ReLU(), pg.nn.Linear(16, 8)).to(amp_backend)
    reference = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8))
    with torch.no_grad():
        for mine, theirs in zip(model.parameters(), reference.parameters()):
            theirs.copy_(torch.tensor(mine.numpy()))
    x, target = pg.tensor(data["x"], backend=amp_backend), pg.tensor(data["target"], backend=amp_backend)
    with pg.autocast("cpu", dtype=low):
        loss = F.cross_entropy(model(x), target)
    loss.backward()
    with torch.autocast("cpu", dtype=getattr(torch, low)):
        expected = torch.nn.functional.cross_entropy(reference(torch.tensor(data["x"])), torch.tensor(data["target"]))
    expected.backward()
    assert loss.dtype == pg.float32
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=TOLERANCE[low] * 4)
    for mine, theirs in zip(model.parameters(), reference.parameters()):
        assert mine.grad.dtype == pg.float32
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=0.1, atol=TOLERANCE[low] * 4)


# ---------------------------------------------------------------- GradScaler
# Every optimizer both libraries have except LBFGS (it needs a closure, which GradScaler.step refuses in both).
SCALED_OPTIMIZERS = {
    "sgd": ("SGD", {"lr": 0.1, "momentum": 0.9}),
    "sgd_nesterov": ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    "adam": ("Adam", {"lr": 0.01}),
    "adam_amsgrad": ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}),
    "adamw": ("AdamW", {"lr": 0.01}),
    "adamax": ("Adamax", {"lr": 0.01}),
    "nadam": ("NAdam", {"lr": 0.01}),
    "radam": ("RAdam", {"lr": 0.01}),
    "adagrad": ("Adagrad", {"lr": 0.1}),
    "adadelta": ("Adadelta", {"lr": 1.0}),
    "rmsprop": ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    "rprop": ("Rprop", {"lr": 0.01}),
    "asgd": ("ASGD", {"lr": 0.01, "t0": 2.0}),
}


def _scaled_loop(library, optimizer_name, inject, steps=9, clip=False):
    """A float32 model trained with a GradScaler; steps in `inject` get an infinite gradient.
    Returns (scales after each update, which steps ran, final parameters)."""
    rng = np.random.default_rng(3)
    weight, xs = rng.standard_normal((3, 5)).astype(np.float32), rng.standard_normal((steps, 4, 5)).astype(np.float32)
    m = torch if library is torch else pg
    w = m.tensor(weight, requires_grad=True)
    name, options = SCALED_OPTIMIZERS[optimizer_name]
    optimizer = getattr(m.optim, name)([w], **options)
    scaler = m.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_interval=3)
    scales, stepped = [], []
    for i in range(steps):
        optimizer.zero_grad()
        loss = ((m.tensor(xs[i]) @ w.T) ** 2).mean()
        if i in inject:
            loss = loss * float("inf")
        scaler.scale(loss).backward()
        if clip:
            scaler.unscale_(optimizer)
            clip_ = torch.nn.utils.clip_grad_norm_ if library is torch else pg.nn.utils.clip_grad_norm_
            clip_([w], 0.5)
        before = np.array(w.detach().numpy())
        scaler.step(optimizer)
        stepped.append(not np.array_equal(before, w.detach().numpy()))
        scaler.update()
        scales.append(scaler.get_scale())
    return scales, stepped, w.detach().numpy()


@needs_torch
@pytest.mark.parametrize("optimizer", sorted(SCALED_OPTIMIZERS))
@pytest.mark.parametrize("clip", [False, True])
def test_grad_scaler_loop_is_torchs(optimizer, clip):
    inject = {1, 5, 6}
    ours = _scaled_loop(pg, optimizer, inject, clip=clip)
    theirs = _scaled_loop(torch, optimizer, inject, clip=clip)
    assert ours[0] == theirs[0]  # the scale sequence, exactly
    assert ours[1] == theirs[1] and not any(ours[1][i] for i in inject)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-5, atol=1e-6)


def _one_backward(scaler, dtype="float32"):
    w = pg.ones(3, dtype=dtype, requires_grad=True)
    optimizer = pg.optim.SGD([w], lr=0.1)
    scaler.scale((w * 2).sum()).backward()
    return w, optimizer


def test_grad_scaler_errors_are_torchs():
    scaler = pg.amp.GradScaler("cpu")
    w, optimizer = _one_backward(scaler)
    scaler.unscale_(optimizer)
    with pytest.raises(RuntimeError, match=r"unscale_\(\) has already been called"):
        scaler.unscale_(optimizer)
    scaler.step(optimizer)
    with pytest.raises(RuntimeError, match=r"step\(\) has already been called"):
        scaler.step(optimizer)
    with pytest.raises(RuntimeError, match=r"unscale_\(\) is being called after step"):
        scaler.unscale_(optimizer)
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        scaler.step(optimizer, closure=lambda: None)
    scaler.update()
    with pytest.raises(RuntimeError, match="no inf checks were recorded"):
        scaler.update()
    with pytest.raises(RuntimeError, match="call scaler.scale"):
        pg.amp.GradScaler("cpu").step(optimizer)
    with pytest.raises(ValueError, match="growth_factor"):
        pg.amp.GradScaler("cpu", growth_factor=0.5)


def test_grad_scaler_refuses_float16_gradients_without_master_weights():
    scaler = pg.amp.GradScaler("cpu")
    _, optimizer = _one_backward(scaler, dtype="float16")
    with pytest.raises(ValueError, match="unscale float16 gradients"):
        scaler.step(optimizer)


def test_grad_scaler_getters_setters_and_state_dict():
    scaler = pg.amp.GradScaler("cpu", init_scale=8.0, growth_factor=4.0, backoff_factor=0.25, growth_interval=1)
    assert scaler.get_scale() == 8.0 and scaler.is_enabled()
    w, optimizer = _one_backward(scaler)
    scaler.step(optimizer)
    scaler.update()
    assert scaler.get_scale() == 32.0 and scaler._get_growth_tracker() == 0
    scaler.set_growth_factor(2.0)
    scaler.set_backoff_factor(0.5)
    scaler.set_growth_interval(10)
    assert (scaler.get_growth_factor(), scaler.get_backoff_factor(), scaler.get_growth_interval()) == (2.0, 0.5, 10)
    scaler.update(new_scale=pg.asarray(100.0))
    assert scaler.get_scale() == 100.0
    state = scaler.state_dict()
    assert state == {"scale": 100.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 10,
                     "_growth_tracker": 0}
    other = pg.amp.GradScaler("cpu")
    other.load_state_dict(state)
    assert other.state_dict() == state
    with pytest.raises(RuntimeError, match="state dict is empty"):
        other.load_state_dict(pg.amp.GradScaler("cpu", enabled=False).state_dict())


def test_disabled_grad_scaler_passes_through():
    scaler = pg.cuda.amp.GradScaler(enabled=False)
    w, optimizer = _one_backward(scaler)
    loss = pg.ones(())
    assert scaler.scale(loss) is loss and scaler.get_scale() == 1.0 and scaler.state_dict() == {}
    scaler.step(optimizer)
    scaler.update()
    np.testing.assert_allclose(w.detach().numpy(), np.full(3, 0.8, np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaler.unscale_(optimizer)  # nothing to do, nothing said


# ---------------------------------------------------------------- polygrad train --amp
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_train_with_amp_learns_and_keeps_float32_parameters(amp, tmp_path, capsys, monkeypatch):
    pytest.importorskip("ml_dtypes")
    import json

    from polygrad.cli import main
    from polygrad.cli.commands import train as train_command

    scalers = []
    original = train_command.MixedPrecision.__init__

    def spy(self, *args):
        original(self, *args)
        scalers.append(self.scaler)

    monkeypatch.setattr(train_command.MixedPrecision, "__init__", spy)
    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--amp", amp, "--backend", "numpy", "--out", str(out)]) == 0
    assert f"mixed precision {'bfloat16' if amp == 'bf16' else 'float16'}" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["amp"] == amp and metrics["history"][-1]["val_accuracy"] > 0.85
    assert scalers[0].is_enabled() == (amp == "fp16")  # bfloat16 has float32's range: no loss scaling
    model = models.mlp()
    pg.checkpoint.load(out / "checkpoint.npz", model)
    assert all(p.dtype == pg.float32 for p in model.parameters())


def test_train_resume_of_an_fp16_run_continues_its_loss_scale(tmp_path):
    """The GradScaler's state goes into the checkpoint: 1 epoch + --resume to 2 ends with the scale and growth
    tracker (and history) of an unbroken 2-epoch run, not a scaler restarted at its initial scale."""
    pytest.importorskip("ml_dtypes")
    from polygrad.cli import main

    def train(out, *argv):
        assert main(["train", "--amp", "fp16", "--backend", "numpy", "--out", str(out), *argv]) == 0
        return pg.checkpoint.metadata(out / "checkpoint.npz")

    unbroken = train(tmp_path / "unbroken", "--epochs", "2")
    first = train(tmp_path / "resumed", "--epochs", "1")
    assert first["scaler"]["_growth_tracker"] > 0 or first["scaler"]["scale"] != 2.0 ** 16  # not the initial state
    resumed = train(tmp_path / "resumed", "--epochs", "2", "--resume")
    assert resumed["scaler"] == unbroken["scaler"] != first["scaler"]
    learned = [{k: h[k] for k in ("epoch", "lr", "train_loss", "val_accuracy")} for h in resumed["history"]]
    assert learned == [{k: h[k] for k in learned[0]} for h in unbroken["history"]]


def test_train_amp_bf16_without_ml_dtypes_is_a_usage_error(tmp_path, capsys, monkeypatch):
    from polygrad.cli import main

    monkeypatch.delattr(pg.backends.get("numpy").xp, "bfloat16", raising=False)
    assert main(["train", "--epochs", "1", "--amp", "bf16", "--backend", "numpy", "--out", str(tmp_path / "r")]) == 2
    assert "--amp bf16: dtype: bfloat16 on the numpy backend needs ml_dtypes: pip install ml_dtypes" in \
        capsys.readouterr().err


def test_the_readme_mixed_precision_example_runs_as_written(capsys):
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("## Mixed precision"):text.index("## How it is built")]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md (Mixed precision)", "exec"), {})
    assert capsys.readouterr().out.split() == ["float16", "float32", "float32", "65536.0"]


# ---------------------------------------------------------------- under pg.compile
def test_compiled_function_follows_the_autocast_mode_it_is_called_in():
    w = pg.randn(4, 4)
    product = pg.compile(lambda x: x @ w)
    x = pg.randn(2, 4)
    assert product(x).dtype == pg.float32
    with pg.autocast("cpu"):
        assert product(x).dtype == pg.bfloat16
        with pg.autocast("cpu", dtype=pg.float16):
            assert product(x).dtype == pg.float16
    assert product(x).dtype == pg.float32


@pytest.mark.parametrize("compiled", [False, True])
def test_grad_scaler_with_a_compiled_forward_and_backward_matches_eager(compiled):
    """The scale changes between calls: a compiled step must read the current one, not the first."""
    def run(compile_it):
        pg.manual_seed(0)
        model = pg.nn.Linear(4, 2)
        optimizer = pg.optim.SGD(model.parameters(), lr=0.1)
        scaler = pg.amp.GradScaler("cpu", init_scale=4.0, growth_interval=2)
        x, y = pg.randn(8, 4), pg.randint(0, 2, (8,))

        def forward_backward(x, y):
            optimizer.zero_grad()
            with pg.autocast("cpu"):
                loss = F.cross_entropy(model(x), y)
            scaler.scale(loss).backward()
            return loss

        step = pg.compile(forward_backward) if compile_it else forward_backward
        scales = []
        for _ in range(6):
            step(x, y)
            scaler.step(optimizer)
            scaler.update()
            scales.append(scaler.get_scale())
        return scales, model.weight.detach().numpy()

    eager, other = run(False), run(compiled)
    assert eager[0] == other[0] == [4.0, 8.0, 8.0, 16.0, 16.0, 32.0]
    np.testing.assert_allclose(other[1], eager[1], rtol=1e-6)


@needs_torch
def test_parameters_are_cast_once_per_region_and_never_stale():
    """As torch's autocast cache: an RNN-like reuse of a weight gives torch's values and gradients; a
    weight changed in place inside the region is cast again; the cache empties on leaving."""
    rng = np.random.default_rng(5)
    w0, x0 = rng.standard_normal((4, 4)).astype(np.float32) / 2, rng.standard_normal((2, 4)).astype(np.float32)
    w, x = pg.tensor(w0, requires_grad=True), pg.tensor(x0)
    tw, tx = torch.tensor(w0, requires_grad=True), torch.tensor(x0)
    with pg.autocast("cpu"):
        h = x
        for _ in range(3):
            h = pg.tanh(h @ w)
        assert len(autocast_mode._modes.cache) == 1
        loss = h.float().sum()
    assert not autocast_mode._modes.cache
    with torch.autocast("cpu"):
        th = tx
        for _ in range(3):
            th = torch.tanh(th @ tw)
        expected = th.float().sum()
    loss.backward()
    expected.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=2e-2)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=0, atol=0.02 * np.abs(tw.grad.numpy()).max())
    with pg.autocast("cpu"):
        before = (x @ w).float().numpy()
        with pg.no_grad():
            w.add_(1.0)
        after = (x @ w).float().numpy()
    np.testing.assert_allclose(after - before, np.repeat(x0.sum(axis=1, keepdims=True), 4, axis=1), atol=0.1)


def test_custom_fwd_casts_inputs_and_custom_bwd_replays_the_forward_state():
    seen = {}

    class Square(pg.autograd.Function):
        @staticmethod
        @pg.amp.custom_fwd(device_type="cpu", cast_inputs=pg.float32)
        def forward(ctx, x, w):
            seen["forward"] = (x.dtype, pg.is_autocast_enabled("cpu"), (x @ w).dtype)
            ctx.save_for_backward(x, w)
            return x @ w

        @staticmethod
        @pg.amp.custom_bwd(device_type="cpu")
        def backward(ctx, grad):
            x, w = ctx.saved_tensors
            seen["backward"] = pg.is_autocast_enabled("cpu")
            return grad @ w.T, x.T @ grad

    x = pg.randn(2, 3).bfloat16().requires_grad_()
    w = pg.randn(3, 3, requires_grad=True)
    with pg.autocast("cpu"):
        y = Square.apply(x, w)
        assert pg.is_autocast_enabled("cpu")
    assert seen["forward"] == (pg.float32, False, pg.float32) and y.dtype == pg.float32
    y.sum().backward()
    assert seen["backward"] is False and w.grad.dtype == pg.float32

    class Plain(pg.autograd.Function):
        @staticmethod
        @pg.amp.custom_fwd(device_type="cpu")
        def forward(ctx, x):
            return x * 2

        @staticmethod
        @pg.amp.custom_bwd(device_type="cpu")
        def backward(ctx, grad):
            seen["plain"] = (pg.is_autocast_enabled("cpu"), pg.get_autocast_dtype("cpu"))
            return grad * 2

    x = pg.randn(3, requires_grad=True)
    with pg.autocast("cpu", dtype=pg.float16):
        out = Plain.apply(x)
    out.sum().backward()
    assert seen["plain"] == (True, pg.float16)
