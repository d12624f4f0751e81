"""The small CNN step: polygrad eager vs PyTorch CPU vs hand-written NumPy im2col, one interleaved run.

    python benchmarks/bench_conv.py [--repeats N] [--batch 64] [--size 8] [--label TEXT] [--out DIR]

The step: x (batch, 1, size, size) -> conv3x3 (1->16, padding 1) -> relu -> conv3x3 (16->32,
padding 1) -> relu -> flatten -> linear (-> 10) -> softmax cross-entropy (mean), then the
gradients of every weight and bias. float32. Each contender's loss and gradients are checked
against the hand-written NumPy ones before timing. Results go to a new dated file in
benchmarks/results/ (an existing file is never overwritten).
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import sys
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import polygrad as pg
import polygrad.functional as F
from polygrad.backends.base import Backend
from polygrad.backends.numpy_backend import NumpyBackend


def make_data(batch, size, seed=0):
    rng = np.random.default_rng(seed)
    f32 = np.float32
    return {
        "x": rng.standard_normal((batch, 1, size, size)).astype(f32),
        "labels": rng.integers(0, 10, batch),
        "w1": (rng.standard_normal((16, 1, 3, 3)) / 3).astype(f32), "b1": np.zeros(16, f32),
        "w2": (rng.standard_normal((32, 16, 3, 3)) / 12).astype(f32), "b2": np.zeros(32, f32),
        "w3": (rng.standard_normal((10, 32 * size * size)) / (32 * size)).astype(f32), "b3": np.zeros(10, f32),
    }


PARAMS = ("w1", "b1", "w2", "b2", "w3", "b3")


# ---------------------------------------------------------------- hand-written NumPy im2col
def _im2col(x):
    """(N, C, H, W) padded by 1 -> (N*H*W, C*9) columns of every 3x3 window."""
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    view = sliding_window_view(padded, (3, 3), axis=(2, 3))  # (N, C, H, W, 3, 3)
    return view.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * 9)


def _col2im(cols, shape):
    n, c, h, w = shape
    g = cols.reshape(n, h, w, c, 3, 3).transpose(0, 3, 1, 2, 4, 5)
    padded = np.zeros((n, c, h + 2, w + 2), cols.dtype)
    for i in range(3):
        for j in range(3):
            padded[:, :, i:i + h, j:j + w] += g[..., i, j]
    return padded[:, :, 1:-1, 1:-1]


def numpy_step(d):
    x, labels = d["x"], d["labels"]
    n, _, h, w = x.shape

    def conv(x, weight, bias):
        cols = _im2col(x)
        y = cols @ weight.reshape(weight.shape[0], -1).T + bias
        return cols, y.reshape(n, h, w, -1).transpose(0, 3, 1, 2)

    def step():
        cols1, y1 = conv(x, d["w1"], d["b1"])
        a1 = np.maximum(y1, 0)
        cols2, y2 = conv(a1, d["w2"], d["b2"])
        a2 = np.maximum(y2, 0)
        flat = a2.reshape(n, -1)
        logits = flat @ d["w3"].T + d["b3"]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_probs[np.arange(n), labels].mean()
        g = np.exp(log_probs)
        g[np.arange(n), labels] -= 1
        g /= n
        gw3, gb3 = g.T @ flat, g.sum(axis=0)
        g = (g @ d["w3"]).reshape(a2.shape) * (y2 > 0)
        g_cols = g.transpose(0, 2, 3, 1).reshape(n * h * w, -1)
        gw2, gb2 = (g_cols.T @ cols2).reshape(d["w2"].shape), g_cols.sum(axis=0)
        g = _col2im(g_cols @ d["w2"].reshape(32, -1), a1.shape) * (y1 > 0)
        g_cols = g.transpose(0, 2, 3, 1).reshape(n * h * w, -1)
        gw1, gb1 = (g_cols.T @ cols1).reshape(d["w1"].shape), g_cols.sum(axis=0)
        return [loss, gw1, gb1, gw2, gb2, gw3, gb3]

    return step


# ---------------------------------------------------------------- polygrad eager
class _SlicedWindows(NumpyBackend):
    """NumPy with the pure-standard windows fallback (a stack of strided slices, as before the hook)."""

    name = "numpy_sliced_windows"
    windows = Backend.windows


pg.backends.register(_SlicedWindows.name, _SlicedWindows)


def polygrad_step(d, backend="numpy"):
    x = pg.tensor(d["x"], backend=backend)
    labels = pg.tensor(d["labels"], backend=backend)
    params = [pg.tensor(d[name], backend=backend, requires_grad=True) for name in PARAMS]

    def step():
        for p in params:
            p.grad = None
        w1, b1, w2, b2, w3, b3 = params
        h = F.relu(F.conv2d(x, w1, b1, padding=1))
        h = F.relu(F.conv2d(h, w2, b2, padding=1))
        loss = F.cross_entropy(F.linear(pg.flatten(h, 1), w3, b3), labels)
        loss.backward()
        return [loss.numpy()] + [p.grad.numpy() for p in params]

    return step


# ---------------------------------------------------------------- PyTorch CPU
def torch_step(d):
    import torch
    import torch.nn.functional as TF

    x, labels = torch.from_numpy(d["x"]), torch.from_numpy(d["labels"])
    params = [torch.from_numpy(d[name].copy()).requires_grad_() for name in PARAMS]

    def step():
        for p in params:
            p.grad = None
        w1, b1, w2, b2, w3, b3 = params
        h = torch.relu(TF.conv2d(x, w1, b1, padding=1))
        h = torch.relu(TF.conv2d(h, w2, b2, padding=1))
        loss = TF.cross_entropy(TF.linear(h.flatten(1), w3, b3), labels)
        loss.backward()
        return [loss.detach().numpy()] + [p.grad.numpy() for p in params]

    return step


def check(name, step, reference):
    for i, (got, want) in enumerate(zip(step(), reference, strict=True)):
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-5, err_msg=f"{name}: output {i}")


def measure(steps, repeats, min_time):
    """Interleaved: each repeat times every contender once (calls per repeat fixed after a warm-up)."""
    calls = {}
    for name, step in steps.items():
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < min_time:
            step()
            n += 1
        calls[name] = n
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(calls[name]):
                step()
            times[name].append((time.perf_counter() - start) / calls[name])
    return times, calls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--min-time", type=float, default=0.2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--label", default="", help="a note for the record (such as the commit measured)")
    parser.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent / "results"))
    args = parser.parse_args(argv)
    data = make_data(args.batch, args.size)
    steps = {"hand NumPy im2col": numpy_step(data), "polygrad eager (numpy)": polygrad_step(data),
             "polygrad eager, sliced windows (before the hook)": polygrad_step(data, _SlicedWindows.name)}
    try:
        steps["PyTorch CPU"] = torch_step(data)
    except ImportError:
        print("torch is not installed: PyTorch skipped", file=sys.stderr)
    reference = steps["hand NumPy im2col"]()
    for name, step in steps.items():
        check(name, step, reference)
    times, calls = measure(steps, args.repeats, args.min_time)
    medians = {name: statistics.median(t) for name, t in times.items()}
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    try:
        import torch

        versions["torch"] = torch.__version__
    except ImportError:
        pass
    record = {
        "workload": f"small CNN step: conv3x3 1->16->32 (padding 1), relu, linear, cross-entropy; "
                    f"batch {args.batch}, {args.size}x{args.size}, float32",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "label": args.label, "machine": platform.processor() or platform.machine(), "versions": versions,
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "load_average": os.getloadavg(),
        "repeats": args.repeats, "calls_per_repeat": calls, "median_ms": {k: v * 1e3 for k, v in medians.items()},
        "ratio_to_hand_numpy": {k: v / medians["hand NumPy im2col"] for k, v in medians.items()},
    }
    if "PyTorch CPU" in medians:
        record["ratio_to_pytorch"] = {k: v / medians["PyTorch CPU"] for k, v in medians.items()}
    lines = [f"# {record['workload']}", "", f"- date: {record['date']}", f"- label: {args.label}",
             f"- versions: {versions}", f"- threads: {record['threads']}",
             f"- load average after: {record['load_average']}",
             f"- repeats: {args.repeats} (interleaved), medians", "",
             "| contender | median ms | / hand NumPy | / PyTorch CPU |", "| --- | ---: | ---: | ---: |"]
    for name, median in medians.items():
        torch_ratio = f"{record['ratio_to_pytorch'][name]:.2f}" if "ratio_to_pytorch" in record else "n/a"
        lines.append(f"| {name} | {median * 1e3:.3f} | {record['ratio_to_hand_numpy'][name]:.2f} | {torch_ratio} |")
    text = "\n".join(lines) + "\n"
    print(text)
    folder = pathlib.Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{datetime.date.today().isoformat()}-conv"
    index = 0
    while (folder / f"{stem}{'-' + str(index) if index else ''}.md").exists():
        index += 1
    stem = f"{stem}{'-' + str(index) if index else ''}"
    (folder / f"{stem}.md").write_text(text)
    (folder / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {folder / stem}.md and .json")


if __name__ == "__main__":
    main()
