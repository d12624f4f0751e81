"""What the tape holds when backward starts, and how much of it no backward rule reads.

    python benchmarks/tape_memory.py [--models mlp,gpt,cnn,lstm] [--faults]

For one training step of each workload on the numpy backend (float32): the bytes of the non-leaf values the
graph keeps alive at backward's start, and of those, the bytes no rule reads (Primitive.saves: neither a
consumer's rules, nor the rules of the operation that made the value, for its output; a view read keeps
its base's buffer). The second number bounds what a tape holding graph identity without values (PyTorch's
saved tensors) would save. For the MLP, also the tracemalloc peak of one step above its start, hand-written
NumPy against polygrad. Views are not counted (their buffer is their base's). --faults: the MLP step's
minor page faults per step (median of 60), each contender alone in a fresh process (set MALLOC_TRIM_THRESHOLD_
to see how many are glibc trimming the heap top after each step).
"""

import argparse
import collections
import resource
import statistics
import subprocess
import sys
import tracemalloc

import real_models

import polygrad as pg
from polygrad.cli import bench
from polygrad.core import engine
from polygrad.core.tensor import Tensor


def _tape(root):
    """(non-leaf bytes held, bytes no rule reads, {primitive: unread bytes}) of root's graph."""
    seen, stack, recorded = {id(root): root}, [root], []
    while stack:
        t = stack.pop()
        if t._op is None or t._op.inputs is None:
            continue
        recorded.append(t)
        for parent in t._op.inputs:
            if id(parent) not in seen:
                seen[id(parent)] = parent
                stack.append(parent)
    needed = set()
    for t in recorded:
        op = t._op
        saves = op.primitive.saves
        read = None if saves is None else set().union(*saves.values())
        needed.update(id(parent) for p, parent in enumerate(op.inputs) if read is None or p in read)
        if engine.reads(op, "out"):
            needed.add(id(t))
    for t in list(seen.values()):  # a view that is read keeps its base's buffer
        while id(t) in needed and t._view is not None:
            t = t._view[0]
            needed.add(id(t))
    held, unread = 0, collections.Counter()
    for t in seen.values():
        if t._op is None or t._view is not None or t is root:
            continue
        held += t.array.nbytes
        if id(t) not in needed:
            unread[t._op.primitive.name] += t.array.nbytes
    return held, sum(unread.values()), unread


def _inspect(step):
    """Run step once, reading the tape at its backward."""
    found, backward = [], Tensor.backward

    def inspecting(self, *args, **kwargs):
        found.append(_tape(self))
        return backward(self, *args, **kwargs)

    Tensor.backward = inspecting
    try:
        step()
    finally:
        Tensor.backward = backward
    return found[0]


def _peak(step):
    """tracemalloc's peak during one step, above the memory traced at its start."""
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        step()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def _faults(contender):
    """Median minor page faults per MLP b256 step of `contender` ("by_hand" or "polygrad") in this process."""
    step = getattr(bench.MLP(batch=256), contender)(pg.backends.get("numpy").device("cpu"))
    for _ in range(5):
        step()
    counts = []
    for _ in range(60):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        step()
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return statistics.median(counts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,gpt,cnn,lstm")
    parser.add_argument("--faults", action="store_true", help="the MLP step's page faults, each contender alone")
    parser.add_argument("--faults-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.faults_of:
        print(_faults(args.faults_of))
        return
    if args.faults:
        for contender in ("by_hand", "polygrad"):
            out = subprocess.run([sys.executable, __file__, "--faults-of", contender], capture_output=True, text=True,
                                 check=True)
            print(f"MLP b256 step alone in its process, {bench.CONTENDERS[contender]}: {out.stdout.strip()} "
                  "minor page faults per step (median of 60)")
        return
    pg.set_default_backend("numpy")
    pg.set_default_dtype("float32")
    cpu = pg.backends.get("numpy").device("cpu")
    mib = 2 ** -20
    for name in args.models.split(","):
        if name == "mlp":
            workload = bench.MLP(batch=256)
            step = workload.polygrad(cpu)
            hand = workload.by_hand(cpu)
            for warm in (step, hand):
                warm()
            print(f"{workload.name}: one step's tracemalloc peak above its start: hand-written NumPy "
                  f"{_peak(hand) * mib:.2f} MiB, polygrad {_peak(step) * mib:.2f} MiB")
        else:
            step = real_models.build(name, pg, pg.nn, pg.functional, pg.optim, cpu)
        held, unread, by_primitive = _inspect(step)
        top = ", ".join(f"{k} {v * mib:.1f}" for k, v in by_primitive.most_common(4))
        print(f"{name}: non-leaf values the tape holds at backward {held * mib:.2f} MiB, read by no rule "
              f"{unread * mib:.2f} MiB" + (f" (made by: {top})" if top else ""))


if __name__ == "__main__":
    main()
