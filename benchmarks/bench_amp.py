"""Mixed precision vs float32: step time and memory of real-model training steps, per device.

    python benchmarks/bench_amp.py [--repeats N] [--quick] [--out DIR]

Workloads: the MLP 784-1024-1024-10 (batch 256) and a transformer encoder layer (d_model 256, 4
heads, feed-forward 1024, batch 16 x 64 tokens), each an Adam step on cross-entropy. Modes: float32;
bf16 (the forward under pg.autocast in bfloat16); fp16 (autocast in float16 with a GradScaler).
Parameters stay float32 in every mode. Devices: numpy cpu, torch cpu, cupy cuda:0, torch cuda:0,
whichever are here (numpy's bfloat16 needs ml_dtypes).

Per cell: the median step time over `repeats` timings (each of enough steps to last ~0.2 s, after two
warm-up steps, synchronised), and memory: "graph" = the bytes of the activations the tape holds for
backward after the forward pass (what mixed precision halves; the same count on every backend), and
"peak" = the peak bytes allocated during one step: torch CUDA's allocator statistics, NumPy's through
tracemalloc (torch CPU and CuPy report none; CuPy's pool size is given instead).
Results: benchmarks/results/<date>-amp.md and .json (never over an earlier run).
"""

import argparse
import datetime
import json
import pathlib
import platform
import statistics
import sys
import time
import tracemalloc

import polygrad as pg
from polygrad import backends
from polygrad.cli import bench
from polygrad.nn import models

HERE = pathlib.Path(__file__).resolve().parent
DEVICES = (("numpy", "cpu"), ("torch", "cpu"), ("cupy", "cuda:0"), ("torch", "cuda:0"))
MODES = ("fp32", "bf16", "fp16")


class MLP:
    def __init__(self, quick):
        self.sizes = (64, 128, 128, 10) if quick else (784, 1024, 1024, 10)
        self.batch = 32 if quick else 256
        self.name = f"MLP {'-'.join(map(str, self.sizes))}, batch {self.batch}"

    def build(self, device):
        gen = pg.random.Generator(0, backend="numpy")
        model = models.mlp(self.sizes[0], self.sizes[-1], self.sizes[1:-1], device=device)
        x = gen.randn(self.batch, self.sizes[0], dtype="float32").to(device)
        y = gen.randint(0, self.sizes[-1], (self.batch,)).to(device)
        return model, lambda: pg.nn.functional.cross_entropy(model(x), y)


class Encoder:
    def __init__(self, quick):
        self.d, self.heads, self.ff = (32, 2, 64) if quick else (256, 4, 1024)
        self.batch, self.tokens = (4, 8) if quick else (16, 64)
        self.name = (f"transformer encoder layer d{self.d} h{self.heads} ff{self.ff}, "
                     f"batch {self.batch} x {self.tokens} tokens")

    def build(self, device):
        pg.manual_seed(0)
        layer = pg.nn.TransformerEncoderLayer(self.d, self.heads, self.ff, dropout=0.0, batch_first=True)
        head = pg.nn.Linear(self.d, 10)
        model = pg.nn.Sequential(layer, head).to(device)
        gen = pg.random.Generator(0, backend="numpy")
        x = gen.randn(self.batch, self.tokens, self.d, dtype="float32").to(device)
        y = gen.randint(0, 10, (self.batch * self.tokens,)).to(device)
        return model, lambda: pg.nn.functional.cross_entropy(pg.reshape(model(x), (-1, 10)), y)


def graph_bytes(loss):
    """Bytes of the distinct arrays the tape keeps for backward, walking back from `loss`, parameters
    (leaves that require grad, held anyway) left out: the activations."""
    seen, total, stack = set(), 0, [loss]
    while stack:
        t = stack.pop()
        op = t._op
        if op is None or id(op) in seen:
            continue
        seen.add(id(op))
        for x in op.inputs or ():
            if id(x.array) not in seen and not (x.requires_grad and x._op is None):
                seen.add(id(x.array))
                total += x.size * x.element_size()
            stack.append(x)
    return total


def cell(workload, device, mode, repeats):
    model, forward = workload.build(device)
    optimizer = pg.optim.Adam(model.parameters(), lr=1e-4)
    device_type = "cuda" if device.name.startswith("cuda") else "cpu"
    dtype = {"bf16": "bfloat16", "fp16": "float16"}.get(mode)
    scaler = pg.amp.GradScaler(device_type, enabled=mode == "fp16")
    measured = {}

    def step():
        optimizer.zero_grad()
        with pg.autocast(device_type, dtype=dtype, enabled=dtype is not None):
            loss = forward()
        measured.setdefault("graph", graph_bytes(loss))
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss

    backend = device.backend
    for _ in range(2):
        step()
    backend.synchronize(device)
    if hasattr(backend, "torch") and device_type == "cuda":
        backend.torch.cuda.reset_peak_memory_stats(device.native)
    start = time.perf_counter()
    number = 0
    while time.perf_counter() - start < 0.2 or number < 2:
        step()
        number += 1
    backend.synchronize(device)
    number = max(1, number)
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        for _ in range(number):
            loss = step()
        backend.synchronize(device)
        times.append((time.perf_counter() - tick) / number)
    stats = backend.memory_stats(device)
    peak = stats.get("peak")
    if backend.name == "numpy":  # NumPy reports its allocations to tracemalloc: one more step, traced
        tracemalloc.start()
        step()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {"ms": 1e3 * statistics.median(times), "graph_mib": measured["graph"] / 2 ** 20,
            "peak_mib": None if peak is None else peak / 2 ** 20,
            "pool_mib": stats["reserved"] / 2 ** 20 if "reserved" in stats else None,
            "loss": float(loss.detach().float().item()), "steps_per_timing": number}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    notes, rows = [], []
    for name, spec in DEVICES:
        try:
            device = backends.get(name).device(spec)
        except (backends.BackendUnavailable, ValueError) as error:
            notes.append(f"{name} {spec} skipped: {error}")
            continue
        for workload in (MLP(args.quick), Encoder(args.quick)):
            for mode in MODES:
                print(f"bench_amp: {name} {spec} {workload.name} {mode}", file=sys.stderr)
                try:
                    result = cell(workload, device, mode, args.repeats)
                except pg.DtypeError as error:
                    notes.append(f"{name} {spec} {mode} skipped: {error}")
                    continue
                rows.append({"backend": name, "device": spec, "workload": workload.name, "mode": mode, **result})
    write(pathlib.Path(args.out), rows, notes, args)


def _fmt(value, digits=1):
    return "—" if value is None else f"{value:.{digits}f}"


def write(folder, rows, notes, args):
    folder.mkdir(parents=True, exist_ok=True)
    path = bench.unused_stem(folder, f"{datetime.date.today().isoformat()}-amp" + ("-quick" if args.quick else ""))
    fp32 = {(r["backend"], r["device"], r["workload"]): r for r in rows if r["mode"] == "fp32"}
    lines = [f"# Mixed precision vs float32 ({datetime.date.today().isoformat()})", "",
             f"`python benchmarks/bench_amp.py --repeats {args.repeats}{' --quick' if args.quick else ''}` on "
             f"{platform.processor() or platform.machine()}, Python {platform.python_version()}; median step time of "
             f"{args.repeats} timings. graph = activation bytes the tape holds for backward after the "
             "forward; peak = peak bytes allocated in a step (torch CUDA allocator, NumPy via tracemalloc); pool = "
             "CuPy's memory pool.", "",
             "| backend | device | workload | mode | step ms | x fp32 time | graph MiB | x fp32 graph | peak MiB | pool MiB |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        base = fp32.get((r["backend"], r["device"], r["workload"]))
        lines.append(f"| {r['backend']} | {r['device']} | {r['workload']} | {r['mode']} | {_fmt(r['ms'], 2)} | "
                     f"{_fmt(r['ms'] / base['ms'] if base else None, 2)} | {_fmt(r['graph_mib'], 2)} | "
                     f"{_fmt(r['graph_mib'] / base['graph_mib'] if base else None, 2)} | {_fmt(r['peak_mib'])} | "
                     f"{_fmt(r['pool_mib'])} |")
    lines += [""] + [f"- {note}" for note in notes]
    pathlib.Path(path + ".md").write_text("\n".join(lines) + "\n")
    pathlib.Path(path + ".json").write_text(json.dumps({"rows": rows, "notes": notes, "repeats": args.repeats}, indent=1))
    print(f"bench_amp: wrote {path}.md and .json", file=sys.stderr)


if __name__ == "__main__":
    main()
