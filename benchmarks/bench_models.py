"""Real models, one training step each: native PyTorch vs polygrad on numpy, torch and (with --gpu) CUDA.

    python benchmarks/bench_models.py [--rounds N] [--threads N] [--models gpt,cnn,lstm] [--contenders torch] [--gpu]
                                      [--memory] [--out DIR]

The models (real_models.py) are one source in PyTorch's dialect, built on torch and on
polygrad. Contenders on the CPU: native PyTorch, polygrad on numpy, polygrad on torch,
and polygrad compiled (pg.compile of the whole step) on numpy and torch; with --gpu
also PyTorch CUDA, polygrad on torch cuda:0 and on cupy (bench_devices.py and
scripts/gpu_check.sh run this). Every round runs one step of every contender in turn
(interleaved, after two warm-up steps each); the table gives medians and the ratio to
native PyTorch on the same kind of device. --threads (default 1) sets torch's threads and,
before NumPy loads, the BLAS thread variables. Above one thread, time the numpy and the torch
contenders in separate runs (--contenders numpy, --contenders torch): in one process each library's
thread pool busy-waits after its calls and takes the cores from the other's. Results: <date>-models.md/.json in --out.
"""

import argparse
import os
import pathlib
import statistics
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def _threads_from_argv(argv):
    """--threads N, read before NumPy and torch load (BLAS reads its thread count at load)."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "1"


THREADS = _threads_from_argv(sys.argv)
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = THREADS

import real_models  # noqa: E402

import polygrad as pg  # noqa: E402
from polygrad.cli import bench  # noqa: E402


def _polygrad(backend, device, compiled=False):
    def make(model):
        pg.set_default_backend(backend)
        pg.set_default_dtype("float32")
        target = pg.backends.get(backend).device(device)
        step = real_models.build(model, pg, pg.nn, pg.functional, pg.optim, target)
        if compiled:
            step = pg.compile(step)
            step()  # traces here: a model that does not trace is reported, not timed
        return step, lambda: pg.backends.get(backend).synchronize(target)
    return make


def _torch(device):
    def make(model):
        import torch

        step = real_models.build(model, torch, torch.nn, torch.nn.functional, torch.optim, torch.device(device))
        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        return step, sync
    return make


def contenders(gpu, only=None):
    """(label, kind, make) of every contender; with `only` (substrings), those whose label holds one, and the natives."""
    every = _every_contender(gpu)
    if not only:
        return every
    return [c for c in every if "native" in c[0] or any(part in c[0] for part in only)]


def _every_contender(gpu):
    cpu = [("PyTorch (native) cpu", "cpu", _torch("cpu")), ("polygrad numpy cpu", "cpu", _polygrad("numpy", "cpu")),
           ("polygrad torch cpu", "cpu", _polygrad("torch", "cpu")),
           ("polygrad compiled numpy cpu", "cpu", _polygrad("numpy", "cpu", compiled=True)),
           ("polygrad compiled torch cpu", "cpu", _polygrad("torch", "cpu", compiled=True))]
    if not gpu:
        return cpu
    return cpu + [("PyTorch (native) cuda:0", "cuda", _torch("cuda:0")),
                  ("polygrad torch cuda:0", "cuda", _polygrad("torch", "cuda:0")),
                  ("polygrad cupy cuda:0", "cuda", _polygrad("cupy", "cuda:0")),
                  ("polygrad compiled cupy cuda:0", "cuda", _polygrad("cupy", "cuda:0", compiled=True))]


def run(models, rounds, gpu, only=None):
    rows, notes = [], []
    try:
        import torch
    except ImportError:  # polygrad on numpy still runs; the torch contenders are skipped, each with a note
        notes.append("PyTorch is not installed (pip install -e '.[torch]'): no native contender, no ratios")
    else:
        torch.set_num_threads(int(THREADS))
    for model in models:
        entries = []
        for label, kind, make in contenders(gpu, only):
            try:
                step, sync = make(model)
                for _ in range(2):
                    step()
                sync()
            except Exception as error:  # a contender missing here (no GPU, no cupy) or failing to trace
                notes.append(f"{model}: {label} skipped: {type(error).__name__}: {str(error)[:200]}")
                continue
            entries.append((label, kind, step, sync, []))
        for _ in range(rounds):
            for _, _, step, sync, samples in entries:
                start = time.perf_counter()
                step()
                sync()
                samples.append(time.perf_counter() - start)
        native = {kind: statistics.median(samples) for label, kind, _, _, samples in entries if "native" in label}
        for label, kind, _, _, samples in entries:
            median = statistics.median(samples)
            rows.append({"model": model, "contender": label, "median_s": median, "min_s": min(samples),
                         "samples_s": samples, "ratio_to_native": median / native[kind] if kind in native else None})
            bench._log(f"{model}: {label} {median * 1e3:.1f} ms")
    return rows, notes


def peak_memory(models, gpu):
    """{(model, contender): MiB the RSS rose during three steps} in a fresh process per contender
    (the CPU's memory; a GPU pool's peak is not measured here)."""
    import subprocess

    peaks = {}
    for model in models:
        for label, kind, _ in contenders(gpu):
            if kind != "cpu":
                continue
            done = subprocess.run([sys.executable, __file__, "--threads", THREADS, "--peak-of", model, label],
                                  capture_output=True, text=True)
            lines = done.stdout.strip().splitlines()
            peaks[(model, label)] = float(lines[-1]) if done.returncode == 0 and lines else None
    return peaks


def _status_mib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024  # kB


def _peak_of(model, label):
    """Prints how far RSS rose above the built model's during three steps (Linux: the peak, VmHWM, is
    reset after building through /proc/self/clear_refs, so importing the libraries does not count)."""
    import torch

    torch.set_num_threads(int(THREADS))
    make = next(m for name, _, m in contenders(False) if name == label)
    step, sync = make(model)
    before = _status_mib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    for _ in range(3):
        step()
    sync()
    print(_status_mib("VmHWM") - before)


def write(rows, notes, folder, rounds, command):
    import json

    os.makedirs(folder, exist_ok=True)
    stem = bench.unused_stem(folder, f"{time.strftime('%Y-%m-%d')}-models")
    info = {"title": "Real models: one training step, PyTorch vs polygrad", "date": time.strftime("%Y-%m-%d %H:%M"),
            "machine": bench.machine(), "versions": bench.versions(),
            "settings": {"rounds": rounds, "threads": THREADS, "load_average": os.getloadavg(), "command": command},
            "results": rows, "notes": notes}
    lines = [f"# {info['title']}", ""] + [f"- {k}: {v}" for k, v in
                                          {"date": info["date"], **info["machine"], **info["versions"],
                                           **info["settings"]}.items()]
    lines += ["", "Medians over interleaved rounds (one step of every contender per round); ratio = median / "
              "native PyTorch's on the same kind of device. step memory (with --memory): how far the RSS rose above "
              "the built model's during its first three steps (activations, gradients, optimizer state), in a "
              "fresh process per contender.", "",
              "| model | contender | median ms | min ms | ratio to native | step memory MiB |",
              "| --- | --- | ---: | ---: | ---: | ---: |"]
    for row in rows:
        ratio = "" if row["ratio_to_native"] is None else f"{row['ratio_to_native']:.2f}"
        peak = "" if row.get("peak_rss_mib") is None else f"{row['peak_rss_mib']:.0f}"
        lines.append(f"| {row['model']} | {row['contender']} | {row['median_s'] * 1e3:.1f} | {row['min_s'] * 1e3:.1f} "
                     f"| {ratio} | {peak} |")
    lines += [""] + [f"Note: {note}" for note in notes]
    with open(stem + ".md", "x") as f:
        f.write("\n".join(lines) + "\n")
    with open(stem + ".json", "x") as f:
        json.dump(info, f, indent=1)
    return stem


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (one step per contender each)")
    parser.add_argument("--threads", default="1", help="threads for torch and BLAS (read before they load)")
    parser.add_argument("--models", default=",".join(real_models.MODELS))
    parser.add_argument("--gpu", action="store_true", help="also PyTorch CUDA, polygrad torch cuda:0 and cupy")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--memory", action="store_true", help="also each CPU contender's step memory (fresh processes)")
    parser.add_argument("--contenders", default="", help="only the contenders whose label holds one of these "
                        "comma-separated words (and the native ones): with --threads above 1, time the numpy and the "
                        "torch contenders in separate runs, as BLAS's and torch's thread pools busy-wait after their "
                        "calls and take the cores from each other in one process")
    parser.add_argument("--peak-of", nargs=2, metavar=("MODEL", "CONTENDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peak_of:
        return _peak_of(*args.peak_of)
    rows, notes = run(args.models.split(","), args.rounds, args.gpu, [w for w in args.contenders.split(",") if w])
    if args.memory:
        peaks = peak_memory(args.models.split(","), args.gpu)
        for row in rows:
            row["peak_rss_mib"] = peaks.get((row["model"], row["contender"]))
    stem = write(rows, notes, args.out, args.rounds, " ".join(["python"] + sys.argv))
    print(f"wrote {stem}.md and .json")


if __name__ == "__main__":
    main()
