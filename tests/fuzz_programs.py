"""A differential fuzzer: seeded random programs of 3 to 8 ops over polygrad's surface, run on
polygrad (any backend) and on torch (CPU, float64 oracle); values and input gradients must agree,
and a compiled program must agree with the eager one.

Inputs are drawn from a small grid of values half of the time (zeros, ties, kink points: where
subgradient conventions and NaN handling differ) and from a normal distribution otherwise.
Every op maps 2-D tensors to a 2-D tensor, so any sequence of them composes.
`tests/test_fuzz.py` runs a fast slice; `nox -s fuzz` (pytest --fuzz-programs N) a larger one.
"""

from dataclasses import dataclass

import numpy as np

import polygrad as pg

GRID = np.array([-2.0, -1.0, -0.5, 0.0, 0.0, 0.5, 1.0, 3.0])


def _2d(t):
    return t.reshape(1, 1) if t.ndim == 0 else t.reshape(1, -1) if t.ndim == 1 else t


# name -> (arity, f(ns, F, *tensors)); every f returns a 2-D tensor
OPS = {
    # elementwise
    "neg": (1, lambda ns, F, a: -a),
    "exp_tanh": (1, lambda ns, F, a: ns.exp(ns.tanh(a))),
    "tanh": (1, lambda ns, F, a: ns.tanh(a)),
    "sigmoid": (1, lambda ns, F, a: ns.sigmoid(a)),
    "relu": (1, lambda ns, F, a: F.relu(a)),
    "abs": (1, lambda ns, F, a: a.abs()),
    "sin": (1, lambda ns, F, a: ns.sin(a)),
    "square": (1, lambda ns, F, a: a * a),
    "cube": (1, lambda ns, F, a: a ** 3),
    "pow0": (1, lambda ns, F, a: a ** 0),
    "sqrt_abs": (1, lambda ns, F, a: ns.sqrt(a.abs() + 0.25)),
    "log1p_abs": (1, lambda ns, F, a: ns.log1p(a.abs())),
    "softplus": (1, lambda ns, F, a: F.softplus(a)),
    "elu": (1, lambda ns, F, a: F.elu(a)),
    "selu": (1, lambda ns, F, a: F.selu(a)),
    "celu": (1, lambda ns, F, a: F.celu(a, 2.0)),
    "gelu": (1, lambda ns, F, a: F.gelu(a)),
    "silu": (1, lambda ns, F, a: F.silu(a)),
    "leaky_relu": (1, lambda ns, F, a: F.leaky_relu(a, 0.1)),
    "hardtanh": (1, lambda ns, F, a: F.hardtanh(a)),
    "relu6": (1, lambda ns, F, a: F.relu6(a * 3)),
    "hardsigmoid": (1, lambda ns, F, a: F.hardsigmoid(a * 3)),
    "hardswish": (1, lambda ns, F, a: F.hardswish(a * 3)),
    "clamp": (1, lambda ns, F, a: a.clamp(-0.5, 1.0)),
    "reciprocal": (1, lambda ns, F, a: 1 / (a * a + 1)),
    "atan": (1, lambda ns, F, a: ns.atan(a)),
    "scalar_affine": (1, lambda ns, F, a: 2.5 - a * 0.5),
    # binary
    "add": (2, lambda ns, F, a, b: a + b),
    "sub": (2, lambda ns, F, a, b: a - b),
    "mul": (2, lambda ns, F, a, b: a * b),
    "div": (2, lambda ns, F, a, b: a / (b * b + 1)),
    "maximum": (2, lambda ns, F, a, b: ns.maximum(a, b)),
    "minimum": (2, lambda ns, F, a, b: ns.minimum(a, b)),
    "atan2": (2, lambda ns, F, a, b: ns.atan2(a, b)),
    "where": (2, lambda ns, F, a, b: ns.where(a > b, a, b)),
    "pow": (2, lambda ns, F, a, b: (a.abs() + 0.5) ** b.clamp(-2.0, 2.0)),
    "matmul": (2, lambda ns, F, a, b: a @ b.transpose(0, 1)),
    # reductions (kept 2-D)
    "sum": (1, lambda ns, F, a: a.sum(1, keepdim=True)),
    "mean": (1, lambda ns, F, a: a.mean(0, keepdim=True)),
    "max_all": (1, lambda ns, F, a: _2d(a.max())),
    "max_dim": (1, lambda ns, F, a: a.max(1, keepdim=True).values),
    "amin": (1, lambda ns, F, a: a.amin(0, keepdim=True)),
    "logsumexp": (1, lambda ns, F, a: a.logsumexp(1, keepdim=True)),
    "softmax": (1, lambda ns, F, a: F.softmax(a, dim=1)),
    "log_softmax": (1, lambda ns, F, a: F.log_softmax(a, dim=0)),
    "norm": (1, lambda ns, F, a: _2d(a.norm())),
    "norm_dim": (1, lambda ns, F, a: a.norm(dim=1, keepdim=True)),
    "var": (1, lambda ns, F, a: a.var(1, keepdim=True)),
    "median": (1, lambda ns, F, a: _2d(a.median())),
    "median_dim": (1, lambda ns, F, a: a.median(1, keepdim=True).values),
    "cumsum": (1, lambda ns, F, a: a.cumsum(1)),
    "cumprod": (1, lambda ns, F, a: a.cumprod(0)),
    "prod": (1, lambda ns, F, a: a.prod(1, keepdim=True)),
    # views and indexing
    "transpose": (1, lambda ns, F, a: a.transpose(0, 1)),
    "flip": (1, lambda ns, F, a: a.flip(0)),
    "slice": (1, lambda ns, F, a: a[:, ::2]),
    "reshape": (1, lambda ns, F, a: a.reshape(-1, 1)),
    "index": (1, lambda ns, F, a: a[[0, -1]]),
    "gather": (1, lambda ns, F, a: a.gather(1, a.new_zeros((a.shape[0], 1), dtype=ns.int64))),
    "unsqueeze_sum": (1, lambda ns, F, a: a.unsqueeze(0).sum(0)),
    "expand": (1, lambda ns, F, a: a[:, :1].expand(a.shape[0], 3)),
    "concat": (2, lambda ns, F, a, b: ns.cat([a, b.sum(1, keepdim=True)], dim=1)),
    # nn.functional
    "layer_norm": (1, lambda ns, F, a: F.layer_norm(a, (a.shape[1],))),
    "linear": (1, lambda ns, F, a: F.linear(a, a.new_ones((2, a.shape[1])) * 0.5)),
    "max_pool1d": (1, lambda ns, F, a: F.max_pool1d(a[None], 2, 1, ceil_mode=True)[0] if a.shape[1] > 1 else a),
    "avg_pool1d": (1, lambda ns, F, a: F.avg_pool1d(a[None], 1)[0]),
    "pad": (1, lambda ns, F, a: F.pad(a, (1, 0))),
    "mse": (2, lambda ns, F, a, b: _2d(F.mse_loss(a, b))),
    "smooth_l1": (2, lambda ns, F, a, b: _2d(F.smooth_l1_loss(a, b))),
    "l1": (2, lambda ns, F, a, b: _2d(F.l1_loss(a, b))),
    "bce_logits": (2, lambda ns, F, a, b: _2d(F.binary_cross_entropy_with_logits(a, ns.sigmoid(b)))),
    "cross_entropy": (1, lambda ns, F, a: _2d(F.cross_entropy(a, a.new_zeros((a.shape[0],), dtype=ns.int64)))),
}


@dataclass
class Program:
    seed: int
    inputs: list  # numpy arrays
    steps: list  # (op name, indices of its operands among the values so far)

    def __str__(self):
        lines = [f"x{i} = {a.tolist()}" for i, a in enumerate(self.inputs)]
        n = len(self.inputs)
        for k, (name, args) in enumerate(self.steps):
            lines.append(f"v{n + k} = {name}({', '.join(f'v{i}' for i in args)})")
        return "\n".join(lines)

    def run(self, ns, F, tensors):
        values = list(tensors)
        for name, args in self.steps:
            values.append(_2d(OPS[name][1](ns, F, *[values[i] for i in args])))
        return values[-1]


def make(seed, ops=None):
    """A random program: 1 or 2 inputs of shape (2..4, 2..4), then 3 to 8 ops."""
    rng = np.random.default_rng(seed)
    ops = sorted(ops or OPS)
    shape = tuple(int(n) for n in rng.integers(2, 5, size=2))
    inputs = [rng.choice(GRID, size=shape) if rng.random() < 0.5 else rng.standard_normal(shape)
              for _ in range(int(rng.integers(1, 3)))]
    steps = []
    for _ in range(int(rng.integers(3, 9))):
        name = ops[int(rng.integers(len(ops)))]
        count = len(inputs) + len(steps)
        steps.append((name, [int(rng.integers(count)) for _ in range(OPS[name][0])]))
    return Program(seed, inputs, steps)


def run_torch(program):
    """torch's output and input gradients (float64, CPU), or None where torch refuses the program."""
    import torch

    xs = [torch.tensor(a, requires_grad=True) for a in program.inputs]
    try:
        out = program.run(torch, torch.nn.functional, xs)
        weights = torch.tensor(np.random.default_rng(program.seed).standard_normal(tuple(out.shape)))
        (out * weights).sum().backward()
    except (RuntimeError, IndexError, ValueError):
        return None  # shapes that do not fit (matmul, broadcasting): no answer to compare with
    return out.detach().numpy(), [x.grad.numpy() if x.grad is not None else np.zeros_like(a)
                                  for x, a in zip(xs, program.inputs)]


def run_polygrad(program, target):
    xs = [target.tensor(a, requires_grad=True) for a in program.inputs]
    out = program.run(pg, pg.nn.functional, xs)
    weights = target.tensor(np.random.default_rng(program.seed).standard_normal(tuple(out.shape)))
    pg.sum(out * weights).backward()
    return out.numpy(), [x.grad.numpy() if x.grad is not None else np.zeros_like(a)
                         for x, a in zip(xs, program.inputs)]


def run_compiled(program, target):
    """(eager, compiled) outputs on a second set of inputs (the compiled call replays the first's trace)."""
    compiled = pg.compile(lambda *xs: program.run(pg, pg.nn.functional, xs))
    first = [target.tensor(a) for a in program.inputs]
    second = [target.tensor(a * 0.75 + 0.125) for a in program.inputs]
    compiled(*first)
    return program.run(pg, pg.nn.functional, second).numpy(), compiled(*second).numpy()


def close(got, want, tol):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return False
    # huge values (cumprod, pow) compare relatively; tiny ones absolutely
    return bool(np.allclose(got, want, rtol=tol, atol=tol, equal_nan=True))


def check(program, target, compiled=True):
    """None if polygrad agrees with torch (and compiled with eager), else a description of the mismatch."""
    expected = run_torch(program)
    if expected is None:
        return None
    tol = 1e-6 if target.dtype == "float64" else 2e-3
    if target.dtype == "float32":  # float32 amplifies through exp/pow/cumprod: compare where torch stays modest
        if not all(np.all(np.abs(v[np.isfinite(v)]) < 1e3) for v in [expected[0], *expected[1]]):
            return None
    try:
        got = run_polygrad(program, target)
    except Exception as error:  # noqa: BLE001 - torch answered, polygrad raised: a mismatch to report
        return f"raised {type(error).__name__}: {error}"
    if not close(got[0], expected[0], tol):
        return f"value {got[0].tolist()} != torch {expected[0].tolist()}"
    for i, (g, e) in enumerate(zip(got[1], expected[1])):
        if not close(g, e, tol):
            return f"gradient of x{i} {g.tolist()} != torch {e.tolist()}"
    if compiled:
        try:
            eager, replayed = run_compiled(program, target)
        except pg.TraceError:
            return None  # refused loudly at trace time: allowed
        except Exception as error:  # noqa: BLE001
            return f"compiled raised {type(error).__name__}: {error}"
        if not close(replayed, eager, tol):
            return f"compiled {replayed.tolist()} != eager {eager.tolist()}"
    return None


def ops_in(program):
    return len(program.steps)


def _main():
    """python tests/fuzz_programs.py N [backend]: run N programs, print every mismatch and the rate."""
    import sys
    from types import SimpleNamespace

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    backend = sys.argv[2] if len(sys.argv) > 2 else "numpy"
    target = SimpleNamespace(backend=backend, dtype="float64",
                             tensor=lambda a, requires_grad=False: pg.tensor(a, backend=backend, dtype="float64",
                                                                             requires_grad=requires_grad))
    mismatches, ops = 0, 0
    for seed in range(count):
        program = make(seed)
        ops += ops_in(program)
        problem = check(program, target, compiled="--eager" not in sys.argv)
        if problem:
            mismatches += 1
            print(f"seed {seed}: {problem[:300]}\n{program}\n")
    print(f"{count} programs, {ops} ops, {mismatches} mismatches ({100 * mismatches / count:.1f}%)")


if __name__ == "__main__":
    _main()
