"""Benchmarks: polygrad against the same work written out by hand, and any extra contenders.

Three workloads, each runnable on any backend and device:

  Chain        a chain of tiny elementwise ops (mul, add, tanh, scale, exp, sin) on a
               short float32 vector: measures polygrad's per-op overhead.
  MLP          one training step of an MLP (forward, softmax cross-entropy, backward,
               SGD update) on float32 data.
  MatmulChain  a chain of large square matmuls, forward and backward: the device's
               arithmetic, where per-op overhead should vanish.

and two contenders of polygrad's own:

  polygrad     the Tensor API with `backward()`.
  by_hand      the forward and the backward written out by hand on the backend's raw
               arrays, through its namespace (on the numpy backend: hand-written NumPy).

Callers may add contenders (`Contender`): benchmarks/torch_contender.py adds
PyTorch's own autograd, for benchmarks/bench_core.py and bench_devices.py. It
lives there because only polygrad/backends/ names an array library inside polygrad, so
the installed `polygrad bench` runs without it.

Each step returns the loss and the gradients; every contender's are checked against
the hand-written ones on the numpy backend before anything is timed. Timing
interleaves the contenders: each repeat runs every contender once, in a rotating
order, so that noise on a shared machine lands on all of them alike; medians are
reported. GPU work is synchronised with the backend's `synchronize(device)`
before the clock is read.

`core()` is the CPU comparison (hand-written NumPy, polygrad on numpy, and the
extra contenders); `devices()` runs the workloads on every backend and device present.
"""

import datetime
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

from .. import backends
from ..core import engine
from ..namespace import ops
from ..namespace.ops import asarray
from ..namespace.creation import zeros
from ..namespace.random import Generator


class BenchError(RuntimeError):
    """A contender computed different gradients: its timings would mean nothing."""


def backward_and_sgd(loss, params, lr, no_grad):
    """loss.backward(), then plain SGD on params under the library's `no_grad`: [loss, *gradients] (for the check
    against hand-written NumPy), each gradient cleared after its step."""
    loss.backward()
    outputs = [loss] + [p.grad for p in params]
    with no_grad():
        for p in params:
            p.sub_(p.grad, alpha=lr)
            p.grad = None
    return outputs


def raw_copy(tensor, device):
    """A fresh raw array of `tensor` on `device`, shared with no other contender."""
    return device.backend.xp.asarray(tensor.to(device).array, copy=True)


def _leaf(tensor, device, requires_grad=True):
    return asarray(raw_copy(tensor, device), device=device, requires_grad=requires_grad)


# ---------------------------------------------------------------- workloads
# One cycle of the tiny-op chain; the same text runs on polygrad and on raw arrays (`ns`: a namespace).
_CHAIN_STEP = {
    "mul": lambda ns, v, w, b: v * w,
    "add": lambda ns, v, w, b: v + b,
    "tanh": lambda ns, v, w, b: ns.tanh(v),
    "scale": lambda ns, v, w, b: v * 0.5,
    "exp": lambda ns, v, w, b: ns.exp(v),
    "sin": lambda ns, v, w, b: ns.sin(v),
}
_CHAIN_CYCLE = tuple(_CHAIN_STEP)


class Chain:
    """v <- op(v, w, b) for `n_ops` ops cycling through _CHAIN_CYCLE; loss = sum(v).

    Gradients with respect to the input x and the reused parameters w and b.
    """

    def __init__(self, n_ops=200, size=16, seed=0):
        self.name = f"chain of {n_ops} tiny ops ({size} float32)"
        self.ops = [_CHAIN_CYCLE[i % len(_CHAIN_CYCLE)] for i in range(n_ops)]
        gen = Generator(seed, backend="numpy")
        self.host = [gen.randn(size, dtype="float32", std=0.5),
                     gen.rand(size, dtype="float32", low=0.5, high=1.5),
                     gen.randn(size, dtype="float32", std=0.1)]

    def forward(self, ns, v, w, b):
        """The chain on namespace `ns` (polygrad's ops, an array namespace, torch): any of them runs it."""
        for op in self.ops:
            v = _CHAIN_STEP[op](ns, v, w, b)
        return v

    def polygrad(self, device):
        leaves = [_leaf(t, device) for t in self.host]

        def step():
            for t in leaves:
                t.grad = None
            loss = ops.sum(self.forward(ops, *leaves))
            loss.backward()
            return [loss] + [t.grad for t in leaves]

        return step

    def by_hand(self, device):
        xp = device.backend.xp
        x, w, b = (raw_copy(t, device) for t in self.host)

        def step():
            v, saved = x, []
            for op in self.ops:
                out = _CHAIN_STEP[op](xp, v, w, b)
                saved.append((op, v, out))
                v = out
            loss = xp.sum(v)
            g, gw, gb = xp.ones_like(v), xp.zeros_like(w), xp.zeros_like(b)
            for op, v, out in reversed(saved):
                if op == "mul":
                    gw += g * v
                    g = g * w
                elif op == "add":
                    gb += g
                elif op == "tanh":
                    g = g * (1 - out * out)
                elif op == "scale":
                    g = g * 0.5
                elif op == "exp":
                    g = g * out
                else:  # sin
                    g = g * xp.cos(v)
            return [loss, g, gw, gb]

        return step


class MLP:
    """One SGD step of relu layers `sizes`, softmax cross-entropy on random labels."""

    def __init__(self, sizes=(784, 512, 512, 10), batch=256, lr=0.01, seed=0):
        self.name = f"MLP {'-'.join(map(str, sizes))} step, batch {batch}"
        self.batch, self.lr = batch, lr
        gen = Generator(seed, backend="numpy")
        self.x = gen.randn(batch, sizes[0], dtype="float32")
        self.labels = gen.randint(0, sizes[-1], (batch,))
        self.params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            self.params += [gen.randn(fan_in, fan_out, dtype="float32", std=(2 / fan_in) ** 0.5),
                            zeros(fan_out, dtype="float32", backend="numpy")]

    def polygrad(self, device):
        x = _leaf(self.x, device, requires_grad=False)
        labels = ops.reshape(_leaf(self.labels, device, requires_grad=False), (-1, 1))
        params = [_leaf(p, device) for p in self.params]

        def step():
            h = x
            for i in range(0, len(params) - 2, 2):
                h = ops.relu(h @ params[i] + params[i + 1])
            logits = h @ params[-2] + params[-1]
            loss = -ops.mean(ops.take_along_axis(ops.log_softmax(logits, axis=-1), labels, axis=-1))
            return backward_and_sgd(loss, params, self.lr, engine.no_grad)

        return step

    def by_hand(self, device):
        xp = device.backend.xp
        x, labels = raw_copy(self.x, device), raw_copy(self.labels, device)
        rows = xp.arange(self.batch, device=device.native)
        params = [raw_copy(p, device) for p in self.params]

        def step():
            inputs = [x]  # each layer's input; after the first, a relu output
            for i in range(0, len(params) - 2, 2):
                inputs.append(xp.maximum(inputs[-1] @ params[i] + params[i + 1], 0))
            logits = inputs[-1] @ params[-2] + params[-1]
            shifted = logits - xp.max(logits, axis=1, keepdims=True)
            e = xp.exp(shifted)
            total = xp.sum(e, axis=1, keepdims=True)
            loss = -xp.mean(shifted[rows, labels] - xp.log(total)[:, 0])
            g = e / total
            g[rows, labels] -= 1
            g /= self.batch
            grads = [None] * len(params)
            for i in range(len(params) - 2, -1, -2):
                h = inputs[i // 2]
                grads[i], grads[i + 1] = h.T @ g, xp.sum(g, axis=0)
                if i:
                    g = xp.where(h > 0, g @ params[i].T, 0)
            for p, d in zip(params, grads, strict=True):
                p -= self.lr * d
            return [loss] + grads

        return step


class MatmulChain:
    """h <- h @ W_k for `depth` square float32 matrices of side n; loss = sum(h)."""

    def __init__(self, n=1024, depth=4, seed=0):
        self.name = f"matmul chain {depth} x ({n}x{n}) float32"
        gen = Generator(seed, backend="numpy")
        self.x = gen.randn(n, n, dtype="float32")
        self.weights = [gen.randn(n, n, dtype="float32", std=n ** -0.5) for _ in range(depth)]

    def polygrad(self, device):
        x = _leaf(self.x, device, requires_grad=False)
        weights = [_leaf(w, device) for w in self.weights]

        def step():
            h = x
            for w in weights:
                w.grad = None
                h = h @ w
            loss = ops.sum(h)
            loss.backward()
            return [loss] + [w.grad for w in weights]

        return step

    def by_hand(self, device):
        xp = device.backend.xp
        x = raw_copy(self.x, device)
        weights = [raw_copy(w, device) for w in self.weights]

        def step():
            inputs = [x]
            for w in weights:
                inputs.append(inputs[-1] @ w)
            loss = xp.sum(inputs[-1])
            g, grads = xp.ones_like(inputs[-1]), [None] * len(weights)
            for k in range(len(weights) - 1, -1, -1):
                grads[k] = inputs[k].T @ g
                if k:
                    g = g @ weights[k].T
            return [loss] + grads

        return step


# ---------------------------------------------------------------- measuring
CONTENDERS = {"by_hand": "hand-written", "polygrad": "polygrad"}


class Contender:
    """A contender from outside polygrad, such as PyTorch's autograd (benchmarks/torch_contender.py).

    `build(workload, device)` returns a step function like the workloads' own
    methods: each call does one step and returns the loss, then the gradients in
    the workload's order. It runs on device `device` of backend `backend` (names,
    resolved when the benchmark runs; if that backend or device is missing here,
    the contender is skipped with a note). A build that raises NotImplementedError
    skips that workload.
    """

    def __init__(self, label, backend, device, build):
        self.label, self.backend, self.device, self.build = label, backend, device, build

    def __repr__(self):
        return f"Contender({self.label!r}, {self.backend!r}, {self.device!r})"


class Entry:
    """One contender of one workload: an implementation on a device, ready to step.

    `impl` is "by_hand", "polygrad" or a Contender.
    """

    def __init__(self, workload, impl, device):
        if isinstance(impl, Contender):
            self.impl, name, self.step = impl, impl.label, impl.build(workload, device)
        else:
            self.impl, name, self.step = impl, CONTENDERS[impl], getattr(workload, impl)(device)
        self.device = device
        self.label = f"{name} ({device.backend.name} {device.name})"
        self.samples = []

    def timed(self, number):
        sync = self.device.backend.synchronize
        sync(self.device)
        start = time.perf_counter()
        for _ in range(number):
            self.step()
        sync(self.device)
        return (time.perf_counter() - start) / number


def _host(gradient):
    """A gradient of any contender as a polygrad tensor on the numpy backend."""
    return asarray(gradient).to("numpy")


def check(workload, entries, rtol=1e-3):
    """Every entry's first step (the loss, then the gradients) equals the first entry's.

    Equal means within `rtol` of the largest entry of each result.
    """
    reference = [_host(r) for r in entries[0].step()]
    for entry in entries[1:]:
        for k, (got, want) in enumerate(zip(entry.step(), reference, strict=True)):
            with engine.no_grad():
                error = ops.max(ops.abs(_host(got) - want)).item()
                scale = ops.max(ops.abs(want)).item()
            if not error <= rtol * scale:
                what = "the loss" if k == 0 else f"gradient {k}"
                raise BenchError(
                    f"{workload.name}: {what} of {entry.label} differs from {entries[0].label} "
                    f"by {error:.3g} (largest entry {scale:.3g})"
                )


def measure(workload, entries, repeats, min_time, rtol=1e-3):
    """Check (within `rtol`), then time every entry `repeats` times, interleaved; fills entry.samples."""
    check(workload, entries, rtol)
    numbers = [max(1, round(min_time / entry.timed(1))) for entry in entries]
    for r in range(repeats):
        for k in range(len(entries)):
            i = (k + r) % len(entries)
            entries[i].samples.append(entries[i].timed(numbers[i]))
    return numbers


class Report:
    """Medians of interleaved timings, with the machine and versions they came from."""

    def __init__(self, kind, title, repeats, quick):
        self.kind = kind + ("-quick" if quick else "")
        self.title = title
        self.date = datetime.date.today().isoformat()
        self.min_time = 0.0 if quick else 0.2  # seconds each contender runs per repeat
        self.settings = {"repeats": repeats, "min_time_per_repeat_s": self.min_time, "quick": quick,
                         "load_average_before": _load_average()}
        self.rows, self.notes = [], []

    def add(self, workload, entries, numbers, ratios):
        """ratios: {column title: entry -> the entry it is divided by, or None}."""
        medians = {id(e): statistics.median(e.samples) for e in entries}
        for entry, number in zip(entries, numbers, strict=True):
            row = {"workload": workload.name, "contender": entry.label, "calls_per_repeat": number,
                   "median_s": medians[id(entry)], "min_s": min(entry.samples), "samples_s": entry.samples,
                   "ratios": {}}
            for column, reference_of in ratios.items():
                reference = reference_of(entry)
                if reference is not None:
                    row["ratios"][column] = medians[id(entry)] / medians[id(reference)]
            self.rows.append(row)

    def as_dict(self):
        settings = {**self.settings, "load_average_after": _load_average()}
        return {"title": self.title, "date": self.date, "machine": machine(), "versions": versions(),
                "settings": settings, "results": self.rows, "notes": self.notes}

    def markdown(self):
        columns = list(dict.fromkeys(c for row in self.rows for c in row["ratios"]))
        lines = ["| " + " | ".join(["workload", "contender", "median ms", "min ms"] + columns) + " |",
                 "| --- | --- |" + " ---: |" * (2 + len(columns))]
        previous = None
        for row in self.rows:
            workload = row["workload"] if row["workload"] != previous else ""
            previous = row["workload"]
            cells = [workload, row["contender"], f"{row['median_s'] * 1e3:.3f}", f"{row['min_s'] * 1e3:.3f}"]
            cells += [f"{row['ratios'][c]:.2f}" if c in row["ratios"] else "" for c in columns]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [""] + [f"Note: {note}" for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"

    def write(self, folder):
        """`<date>-<kind>.md` and `.json` in `folder` (`<date>-<kind>-2...` if taken); returns their paths."""
        os.makedirs(folder, exist_ok=True)
        stem = unused_stem(folder, f"{self.date}-{self.kind}")
        info = self.as_dict()
        header = [f"# {self.title}", "", f"- date: {self.date}"]
        header += [f"- {key}: {value}" for key, value in {**info["machine"], **info["versions"]}.items()]
        header += [f"- {key}: {value}" for key, value in info["settings"].items()]
        header += ["", "Times are medians over interleaved repeats (each repeat averages calls_per_repeat calls, "
                   "see the JSON); `time / X` is a row's median divided by X's (below 1: faster than X).", ""]
        with open(stem + ".md", "x") as f:  # "x": never overwrite, not even a file made since unused_stem looked
            f.write("\n".join(header) + "\n" + self.markdown())
        with open(stem + ".json", "x") as f:
            json.dump(info, f, indent=1)
        return [stem + ".md", stem + ".json"]


def unused_stem(folder, stem):
    """`folder/stem`, else `stem-2`, `stem-3`, ...: the first with neither .md nor .json, so that a
    benchmark never overwrites an earlier result."""
    for n in itertools.count(1):
        path = os.path.join(folder, stem if n == 1 else f"{stem}-{n}")
        if not os.path.exists(path + ".md") and not os.path.exists(path + ".json"):
            return path


def machine():
    """CPU model and core counts, GPUs where nvidia-smi lists them."""
    info = {"cpu": platform.processor() or platform.machine()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info["cores"] = os.cpu_count()
    if hasattr(os, "sched_getaffinity"):
        info["usable_cores"] = len(os.sched_getaffinity(0))
    if shutil.which("nvidia-smi"):
        try:
            listed = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                    capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError) as error:
            listed = f"nvidia-smi failed: {error}"
        info["gpus"] = ", ".join(line.strip() for line in listed.splitlines() if line.strip()) or "none listed"
    info["platform"] = platform.platform()
    return info


def _load_average():
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def versions():
    """Python, polygrad and every array library this run loaded."""
    from .._version import __version__

    found = {"python": platform.python_version(), "polygrad": __version__}
    for name in ("numpy", "array_api_compat", "torch", "cupy"):
        module = sys.modules.get(name)
        if module is not None:
            found[name] = getattr(module, "__version__", "unknown")
    return found


def _log(message):
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the two runs
def _resolve(extra, report):
    """[(contender, device)] for the extra contenders whose backend and device are here; notes the others."""
    found = []
    for contender in extra:
        try:
            found.append((contender, backends.get(contender.backend).device(contender.device)))
        except (backends.BackendUnavailable, ValueError) as error:
            report.notes.append(f"{contender.label} on {contender.backend} {contender.device} skipped: {error}")
    return found


def _entries(workload, contenders, report):
    """Entries of `workload` for each (impl, device); extra contenders that lack the workload are noted."""
    entries = []
    for impl, device in contenders:
        try:
            entries.append(Entry(workload, impl, device))
        except NotImplementedError as error:
            report.notes.append(f"{impl.label} skipped {workload.name}: {error}")
    return entries


def _device_key(device):
    return device.backend.name, device.name


def core(repeats=None, quick=False, extra=()):
    """Hand-written NumPy vs polygrad (numpy) vs the `extra` Contenders: tiny-op chain and MLP step, on the CPU."""
    repeats = repeats or (2 if quick else 15)
    title = " vs ".join(["polygrad", "hand-written NumPy"] + list(dict.fromkeys(c.label for c in extra)))
    report = Report("cpu", f"{title} (CPU)", repeats, quick)
    cpu = backends.get("numpy").default_device()
    contenders = [("by_hand", cpu), ("polygrad", cpu)] + _resolve(extra, report)
    workloads = [Chain(20, 16), MLP((64, 32, 32, 10), batch=16)] if quick else [Chain(200, 16), MLP()]
    for workload in workloads:
        _log(f"bench: {workload.name}")
        entries = _entries(workload, contenders, report)
        numbers = measure(workload, entries, repeats, report.min_time)
        report.add(workload, entries, numbers, {"time / hand-written": lambda e, ref=entries[0]: ref})
    return report


DEVICE_TARGETS = [("numpy", "cpu"), ("torch", "cpu"), ("cupy", "cuda:0"), ("torch", "cuda:0")]


def devices(repeats=None, quick=False, extra=()):
    """The workloads, polygrad and hand-written (and the `extra` Contenders), on every backend and device here."""
    repeats = repeats or (2 if quick else 7)
    report = Report("devices", "polygrad on CPU vs GPU, per backend", repeats, quick)
    targets = []
    for name, spec in DEVICE_TARGETS:
        try:
            targets.append(backends.get(name).device(spec))
        except (backends.BackendUnavailable, ValueError) as error:
            report.notes.append(f"{name} {spec} skipped: {error}")
    contenders = [(impl, device) for device in targets for impl in ("by_hand", "polygrad")] + _resolve(extra, report)
    if quick:
        workloads = [MLP((64, 32, 32, 10), batch=b) for b in (8, 32)] + [MatmulChain(64, 2), Chain(20, 16)]
    else:
        workloads = [MLP(batch=b) for b in (64, 256, 1024)] + [MatmulChain(1024, 4), Chain(200, 16)]
    for workload in workloads:
        _log(f"bench: {workload.name}")
        entries = _entries(workload, contenders, report)
        numbers = measure(workload, entries, repeats, report.min_time)
        by_hand = {_device_key(e.device): e for e in entries if e.impl == "by_hand"}
        cpu_polygrad = next(e for e in entries if e.impl == "polygrad")  # numpy cpu comes first
        report.add(workload, entries, numbers, {
            "time / hand-written, same device":
                lambda e: by_hand.get(_device_key(e.device)) if e.impl != "by_hand" else None,
            "time / polygrad numpy cpu": lambda e: cpu_polygrad if e.impl == "polygrad" else None,
        })
    return report
