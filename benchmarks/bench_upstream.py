"""Upstream model files nobody here wrote, one training step each: native PyTorch vs the same file on polygrad.

    python benchmarks/bench_upstream.py [--nanogpt PATH] [--mnist PATH] [--wlm PATH]
                                        [--rounds N] [--ntokens N] [--no-compiled] [--out FILE]

The files are read from where they lie (fetch them outside the repository; nothing of them is
copied in): karpathy/nanoGPT `model.py`, pytorch/examples `mnist/main.py` and
`word_language_model/model.py`. Each file is executed twice, unchanged: once as written (its
`import torch` is the real torch) and once with its `torch` names bound to polygrad, through the
`__import__` it sees (`import torch.nn as nn` gives polygrad.nn, torch_import's table). mnist's
`torchvision` import (datasets and transforms, which one step does not use) gets a stand-in when
torchvision is not installed.

One training step, as each program's own loop does it:
- nanoGPT: GPT(4 layers, 4 heads, 128 wide, block 64, vocab 512, bias), batch 8 x 64, the AdamW of
  its configure_optimizers; `logits, loss = model(x, y)`, zero_grad(set_to_none), backward, step.
- mnist: its Net (two convolutions, max pooling, dropout, two linears), batch 64, Adadelta(lr=1),
  nll_loss, as main.py's train().
- word_language_model: RNNModel("LSTM", ntokens, 200, 200, 2 layers, dropout 0.2), bptt 35, batch 20,
  as main.py's train() without --use-optimizer: hidden state detached, model.zero_grad(),
  NLLLoss, clip_grad_norm_(0.25), then p.data.add_(p.grad, alpha=-20) for every parameter.
  --ntokens defaults to 33278, the vocabulary main.py builds from wikitext-2.

Contenders: native PyTorch CPU, polygrad on torch, polygrad on numpy, and pg.compile of the
polygrad step on each (left out, with a note, where it does not trace; --no-compiled skips them).
One thread (torch.set_num_threads(1), the BLAS variables set before NumPy loads). Every round
runs one step of every contender in turn (interleaved, after two warm-up steps each); time is the
process's CPU time (time.process_time: on a shared machine other processes' load counts far less
than in the wall clock). Prints a markdown table of medians and ratios to native PyTorch, with issue 17's
targets (polygrad on torch <= 1.25x on all three; on numpy <= 1.5x on the GPT and the LSTM, <= 2.5x on the CNN);
--out also writes it, with the machine, versions, command and each file's git blob id, to FILE.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import builtins  # noqa: E402
import contextlib  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import pathlib  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402

import numpy as np  # noqa: E402

FILES = {"nanogpt": "karpathy/nanoGPT model.py", "mnist": "pytorch/examples mnist/main.py",
         "wlm": "pytorch/examples word_language_model/model.py"}
# issue 17's targets: ratio to native PyTorch, one thread, at most
TARGETS = {"polygrad torch": {"nanogpt": 1.25, "mnist": 1.25, "wlm": 1.25},
           "polygrad numpy": {"nanogpt": 1.5, "mnist": 2.5, "wlm": 1.5}}
MODEL_NAMES = {"nanogpt": "nanoGPT GPT (4x128, T=64, B=8, AdamW)", "mnist": "mnist Net (B=64, Adadelta)",
               "wlm": "word_language_model LSTM (2x200, bptt 35, B=20, clip 0.25, SGD by hand)"}


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for key, where in FILES.items():
        parser.add_argument(f"--{key}", type=pathlib.Path, metavar="PATH", help=f"the fetched {where}")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--ntokens", type=int, default=33278, help="the LSTM's vocabulary (default: wikitext-2's)")
    parser.add_argument("--no-compiled", action="store_true", help="leave out the pg.compile contenders")
    parser.add_argument("--out", type=pathlib.Path, help="also write the table (and how it was made) here")
    args = parser.parse_args(argv)
    paths = {key: getattr(args, key) for key in FILES if getattr(args, key) is not None}
    if not paths:
        parser.error("give at least one upstream file: --nanogpt, --mnist or --wlm")
    for key, path in paths.items():
        if not path.is_file():
            parser.error(f"--{key}: no file at {path}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args, paths


class _Absent(types.ModuleType):
    """A module that is not installed and that the step does not use: any name in it is a placeholder."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return None


def _importer(polygrad):
    """The `__import__` an upstream file sees: torch's names answered by polygrad (when asked), and a
    stand-in for a missing torchvision."""
    from polygrad import torch_import

    def load(name, globals=None, locals=None, fromlist=(), level=0):
        if polygrad and level == 0 and (name == "torch" or name.startswith("torch.")):
            target = torch_import._target(name)
            if target is None:
                raise torch_import.NotInPolygradModule(torch_import._missing(name), name=name)
            return target if fromlist else torch_import._target("torch")
        if name == "torchvision" and level == 0:
            try:
                return builtins.__import__(name, globals, locals, fromlist, level)
            except ImportError:
                return _Absent(name)
        return builtins.__import__(name, globals, locals, fromlist, level)
    return load


def load(path, polygrad):
    """The upstream file at path, executed as a module (not as __main__): as written, or on polygrad."""
    module = types.ModuleType(f"upstream_{path.stem}")
    module.__file__ = str(path)
    module.__builtins__ = {**vars(builtins), "__import__": _importer(polygrad)}
    exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
    return module


def _step(key, m, ntokens, wrap=lambda f: f):
    """One training step of the upstream program in module m (its `torch` is torch or polygrad); wrap
    (pg.compile) takes the step's function of its inputs."""
    torch = m.torch
    rng = np.random.default_rng(0)

    def tokens(high, shape):
        return torch.tensor(rng.integers(0, high, shape), dtype=torch.int64)

    if key == "nanogpt":
        with contextlib.redirect_stdout(io.StringIO()):  # it prints its parameter counts
            model = m.GPT(m.GPTConfig(block_size=64, vocab_size=512, n_layer=4, n_head=4, n_embd=128, dropout=0.0,
                                      bias=True))
            optimizer = model.configure_optimizers(0.1, 6e-4, (0.9, 0.95), "cpu")
        x, y = tokens(512, (8, 64)), tokens(512, (8, 64))

        @wrap
        def step():
            logits, loss = model(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    elif key == "mnist":
        model = m.Net()
        model.train()
        optimizer = m.optim.Adadelta(model.parameters(), lr=1.0)
        x, y = torch.tensor(rng.standard_normal((64, 1, 28, 28)).astype(np.float32)), tokens(10, (64,))

        @wrap
        def step():
            optimizer.zero_grad()
            loss = m.F.nll_loss(model(x), y)
            loss.backward()
            optimizer.step()
    else:
        model = m.RNNModel("LSTM", ntokens, 200, 200, 2, 0.2)
        model.train()
        data, targets = tokens(ntokens, (35, 20)), tokens(ntokens, (35 * 20,))
        criterion = m.nn.NLLLoss()
        state = {"hidden": model.init_hidden(20)}

        @wrap
        def train(hidden):
            """main.py's step: the hidden state comes in and goes out (a compiled step must not keep it)."""
            hidden = tuple(h.detach() for h in hidden)  # main.py's repackage_hidden
            model.zero_grad()
            output, hidden = model(data, hidden)
            loss = criterion(output, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-20)
            return hidden

        def step():
            state["hidden"] = train(state["hidden"])
    return step


def contenders(key, path, ntokens, compiled):
    """{label: step}, and notes on the contenders left out."""
    import polygrad as pg

    steps, notes = {"PyTorch (native)": _step(key, load(path, polygrad=False), ntokens)}, []
    for backend in ("torch", "numpy"):
        pg.set_default_backend(backend)
        pg.set_default_dtype("float32")
        eager = _step(key, load(path, polygrad=True), ntokens)
        steps[f"polygrad {backend}"] = _on(backend, eager)
        if compiled:
            try:
                traced = _on(backend, _step(key, load(path, polygrad=True), ntokens, wrap=pg.compile))
                traced()  # traces here: a step that does not trace is noted, not timed
                steps[f"polygrad compiled {backend}"] = traced
            except Exception as error:
                notes.append(f"{key}: polygrad compiled {backend} left out: {type(error).__name__}: {str(error)[:200]}")
    return steps, notes


def _on(backend, step):
    """step with polygrad's default backend set to the one its model was built on (tensors made inside
    the step, such as nanoGPT's positions, follow it)."""
    import polygrad as pg

    def run():
        pg.set_default_backend(backend)
        step()
    return run


def measure(steps, rounds):
    """{label: [CPU seconds per step]}: two warm-up steps each, then interleaved rounds."""
    for step in steps.values():
        step(), step()
    samples = {label: [] for label in steps}
    for _ in range(rounds):
        for label, step in steps.items():
            start = time.process_time()
            step()
            samples[label].append(time.process_time() - start)
    return samples


def table(results):
    lines = ["| model | contender | median ms | min ms | ratio to native PyTorch | issue 17's target |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    for key, samples in results.items():
        native = statistics.median(samples["PyTorch (native)"])
        for label, times in samples.items():
            median = statistics.median(times)
            bound = TARGETS.get(label, {}).get(key)
            target = "" if bound is None else f"<= {bound}: {'met' if median / native <= bound else 'missed'}"
            lines.append(f"| {MODEL_NAMES[key]} | {label} | {median * 1e3:.1f} | {min(times) * 1e3:.1f} | "
                         f"{median / native:.2f} | {target} |")
    return lines


def git_blob(path):
    """The file's git blob id (as `git ls-tree` lists it upstream): which version of the file was run."""
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def main(argv=None):
    args, paths = parse(argv)
    import torch

    from polygrad.cli import bench

    torch.set_num_threads(1)

    results, notes = {}, []
    for key, path in paths.items():
        steps, left_out = contenders(key, path, args.ntokens, not args.no_compiled)
        notes += left_out
        results[key] = measure(steps, args.rounds)
        bench._log(f"{key}: done")
    lines = table(results) + [""] + [f"Note: {note}" for note in notes]
    print("\n".join(lines))
    if args.out:
        header = [f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}", f"- command: python {' '.join(sys.argv)}",
                  f"- rounds: {args.rounds}, one thread, CPU time (time.process_time), load average {os.getloadavg()}"]
        header += [f"- {k}: {v}" for k, v in {**bench.machine(), **bench.versions()}.items()]
        header += [f"- {FILES[key]}: {path} (git blob {git_blob(path)})" for key, path in paths.items()]
        args.out.write_text("\n".join(["# Upstream model files, one training step", ""] + header + [""] + lines) + "\n")


if __name__ == "__main__":
    main()
