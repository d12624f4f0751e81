"""Forward + backward of the calls the fused rows of RMS norm, masked/dropped attention and cross-entropy serve.

    OMP_NUM_THREADS=1 python benchmarks/bench_fused_rows.py [numpy|torch]

Prints `backend | call | microseconds`, the minimum of 100 steps (minima are what a shared machine's
load disturbs least). Run it on two checkouts (PYTHONPATH=<checkout>) to compare them; on a checkout
without F.rms_norm the RMS norm line times the same formula as a chain of ops.
"""

import sys
import time

import polygrad as pg
import polygrad.functional as F

backend = sys.argv[1] if len(sys.argv) > 1 else "numpy"
gen = pg.random.Generator(0, backend=backend)
q, k, v = (gen.randn(8, 4, 64, 32, dtype="float32", requires_grad=True) for _ in range(3))
mask = gen.rand(64, 64, dtype="float32") > 0.2
logits = gen.randn(512, 65, dtype="float32", requires_grad=True)
logits_nd = gen.randn(8, 65, 64, dtype="float32", requires_grad=True)
classes = pg.asarray(list(range(65)) * 7 + list(range(57)), backend=backend)
x = gen.randn(8, 64, 128, dtype="float32", requires_grad=True)
w = gen.randn(128, dtype="float32", requires_grad=True)


def rms_norm():
    if hasattr(F, "rms_norm"):
        return F.rms_norm(x, 128, w)
    return x / pg.sqrt(pg.mean(x * x, axis=-1, keepdims=True) + 1.1920929e-07) * w


CALLS = {
    "sdpa causal": lambda: pg.sum(F.scaled_dot_product_attention(q, k, v, is_causal=True)).backward(),
    "sdpa bool mask": lambda: pg.sum(F.scaled_dot_product_attention(q, k, v, attn_mask=mask)).backward(),
    "sdpa dropout 0.1": lambda: pg.sum(F.scaled_dot_product_attention(q, k, v, dropout_p=0.1)).backward(),
    "cross_entropy": lambda: F.cross_entropy(logits, classes).backward(),
    "cross_entropy smoothing 0.1": lambda: F.cross_entropy(logits, classes, label_smoothing=0.1).backward(),
    "cross_entropy (N, C, L)": lambda: F.cross_entropy(logits_nd, pg.reshape(classes, (8, 64))).backward(),
    "rms_norm": lambda: pg.sum(rms_norm()).backward(),
}
for name, step in CALLS.items():
    best = float("inf")
    for _ in range(100):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    print(f"{backend} | {name} | {best * 1e6:.0f}")
