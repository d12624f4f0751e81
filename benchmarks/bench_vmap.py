"""Per-sample gradients of an MLP: vmap(grad(loss)) against a Python loop over the samples, polygrad
(on each backend given) against torch.func. The torch.func tutorial's case, at batch 64.

    python benchmarks/bench_vmap.py [--backends numpy torch] [--batch 64] [--repeats 20] [--out PREFIX]

Prints a table; with --out, writes PREFIX.json and PREFIX.md. Times are medians, in milliseconds.
"""

import argparse
import json
import platform
import statistics
import time

import numpy as np

import polygrad as pg


def median_ms(run, repeats):
    run()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def polygrad_case(backend, data, targets, sizes):
    model = pg.nn.Sequential(pg.nn.Linear(sizes[0], sizes[1], dtype="float32", backend=backend), pg.nn.ReLU(),
                             pg.nn.Linear(sizes[1], sizes[2], dtype="float32", backend=backend))
    params = {k: v.detach() for k, v in model.named_parameters()}
    x, t = pg.tensor(data, backend=backend, dtype="float32"), pg.tensor(targets, backend=backend)

    def loss(p, xi, ti):
        out = pg.func.functional_call(model, p, (xi[None],))
        return pg.nn.functional.cross_entropy(out, ti[None])

    per_sample = pg.vmap(pg.func.grad(loss), in_dims=(None, 0, 0))
    one = pg.func.grad(loss)
    return (lambda: per_sample(params, x, t)), (lambda: [one(params, x[i], t[i]) for i in range(len(data))])


def torch_case(data, targets, sizes):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(sizes[0], sizes[1]), torch.nn.ReLU(),
                                torch.nn.Linear(sizes[1], sizes[2]))
    params = {k: v.detach() for k, v in model.named_parameters()}
    x, t = torch.tensor(data, dtype=torch.float32), torch.tensor(targets)

    def loss(p, xi, ti):
        out = torch.func.functional_call(model, p, (xi[None],))
        return torch.nn.functional.cross_entropy(out, ti[None])

    per_sample = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))
    one = torch.func.grad(loss)
    return (lambda: per_sample(params, x, t)), (lambda: [one(params, x[i], t[i]) for i in range(len(data))])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["numpy", "torch"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    sizes = (32, 64, 10)
    rng = np.random.default_rng(0)
    data = rng.standard_normal((args.batch, sizes[0]))
    targets = rng.integers(0, sizes[2], args.batch)
    rows = []
    cases = [(f"polygrad ({b})", polygrad_case(b, data, targets, sizes)) for b in args.backends]
    cases.append(("torch.func", torch_case(data, targets, sizes)))
    for name, (vmapped, loop) in cases:
        v, lo = median_ms(vmapped, args.repeats), median_ms(loop, max(3, args.repeats // 4))
        rows.append({"name": name, "vmap_grad_ms": round(v, 3), "loop_ms": round(lo, 3), "speedup": round(lo / v, 2)})
    torch_ms = rows[-1]["vmap_grad_ms"]
    for row in rows:
        row["vs_torch_func"] = round(row["vmap_grad_ms"] / torch_ms, 2)
    header = f"per-sample gradients, MLP {sizes}, float32, batch {args.batch}, median of {args.repeats}"
    lines = [header, "", "| implementation | vmap(grad) ms | loop ms | loop / vmap | vmap vs torch.func |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['name']} | {r['vmap_grad_ms']} | {r['loop_ms']} | {r['speedup']}x | {r['vs_torch_func']}x |"
              for r in rows]
    print("\n".join(lines))
    if args.out:
        meta = {"machine": platform.machine(), "python": platform.python_version(), "batch": args.batch,
                "sizes": sizes, "repeats": args.repeats}
        with open(args.out + ".json", "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)
        with open(args.out + ".md", "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
