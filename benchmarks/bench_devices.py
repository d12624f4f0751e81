"""polygrad on CPU vs GPU: numpy vs cupy vs torch (CPU and CUDA), eager and compiled, with PyTorch's autograd.

    python benchmarks/bench_devices.py [--repeats N] [--quick] [--out DIR]

Workloads: the MLP 784-512-512-10 SGD step at batch 256 and 4096, the chain of
200 tiny ops, a matmul chain. Contenders per device present: hand-written code
on the backend's arrays, polygrad eager, polygrad `pg.compile`d (with fuse=True
on cupy: its elementwise groups run as one kernel each), and PyTorch autograd on
torch's cpu and cuda:0 (torch_contender.py). Devices that are not here are
skipped with a note. The real models (GPT, MNIST CNN, LSTM LM) on the same devices:
bench_models.py --gpu. Results go to benchmarks/results/<date>-devices.md and .json
(never over an earlier run), with the issue's GPU targets.
"""

import argparse
import pathlib
import sys

import peers
import torch_contender

from polygrad import backends
from polygrad.cli import bench

HERE = pathlib.Path(__file__).resolve().parent


def run(repeats, quick):
    report = bench.Report("devices", "polygrad on CPU vs GPU, eager and compiled, per backend", repeats, quick)
    targets = []
    for name, spec in bench.DEVICE_TARGETS:
        try:
            targets.append(backends.get(name).device(spec))
        except (backends.BackendUnavailable, ValueError) as error:
            report.notes.append(f"{name} {spec} skipped: {error}")
    found = []
    for device in targets:
        found += [("by_hand", device), ("polygrad", device),
                  (peers.compiled(device.name, device.backend.name), device)]
    found += bench._resolve([peers.torch("cpu"), peers.torch("cuda:0")], report)
    if quick:
        workloads = [bench.MLP((64, 32, 32, 10), batch=b) for b in (16, 64)] + [bench.Chain(20, 16)]
    else:
        workloads = [bench.MLP(batch=b) for b in (256, 4096)] + [bench.Chain(200, 16), bench.MatmulChain(1024, 4)]
    for workload in workloads:
        bench._log(f"bench: {workload.name}")
        entries = bench._entries(workload, found, report)
        numbers = bench.measure(workload, entries, repeats, report.min_time, rtol=5e-3)
        hand = {bench._device_key(e.device): e for e in entries if e.impl == "by_hand"}
        torch_cuda = next((e for e in entries if e.label == f"{torch_contender.LABEL} (torch cuda:0)"), None)
        report.add(workload, entries, numbers, {
            "time / hand-written, same device": lambda e: hand.get(bench._device_key(e.device))
            if e.impl != "by_hand" else None,
            "time / PyTorch CUDA": lambda e, ref=torch_cuda: ref if e.device.name.startswith("cuda") else None,
        })
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats per contender")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and two repeats: a smoke run")
    parser.add_argument("--out", default=str(HERE / "results"), help="folder for the .md and .json")
    args = parser.parse_args(argv)
    report = run(args.repeats or (2 if args.quick else 7), args.quick)
    print(report.markdown())
    for path in report.write(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
