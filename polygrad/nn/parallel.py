"""DistributedDataParallel: one model replica per process, gradients averaged during backward.

How it works (PyTorch's design, smaller):
- Wrapping broadcasts rank 0's parameters and buffers, so every replica starts equal.
- Parameters are grouped, last layer first (the order backward finishes them), into
  buckets of about `bucket_cap_mb` of one device and dtype each.
- Each forward records which parameters the output depends on. During backward a
  post-accumulate-grad hook on every parameter counts it done; once every parameter
  of a bucket is done its gradients are packed into one flat buffer and a
  non-blocking allreduce of it starts while backward goes on with the layers below.
  Buckets start in the same order on every rank (MPI matches collectives by order),
  so a bucket that is ready waits for the ones before it.
- When the last bucket has started, they are all waited for and every gradient is
  replaced by the average over the ranks.
- A parameter the output did not depend on counts as done at once, with its gradient
  (or zeros): ranks that skip a layer never leave the others waiting. Each bucket
  carries one flag per parameter counting the ranks that had a gradient, so a
  parameter no rank had a gradient for keeps `.grad` None, as in PyTorch.
"""

from contextlib import contextmanager

from .. import distributed
from ..core.engine import is_grad_enabled, no_grad, toposort
from ..core.tensor import Tensor
from .module import Module


class _Bucket:
    """Parameters whose gradients travel together in one flat buffer: each one's gradient, then
    one flag per parameter (1 where this rank has a gradient for it).

    The buffer is allocated once and refilled every step: an engine that reduces in place
    (MPI on host memory) then always sees the same memory, which it moves faster.
    """

    def __init__(self, params):
        self.params = params
        self.device = params[0].device
        self.offsets = [0]
        for p in params:
            self.offsets.append(self.offsets[-1] + p.size)
        xp = self.device.backend.xp
        self.buffer = xp.zeros((self.offsets[-1] + len(params),), dtype=params[0].array.dtype, device=self.device.native)
        self.expected = 0  # parameters still to report in this backward
        self.work = None

    def flatten(self):
        xp, buffer, flags = self.device.backend.xp, self.buffer, self.offsets[-1]
        for i, p in enumerate(self.params):
            has_grad = p.grad is not None
            buffer[self.offsets[i]:self.offsets[i + 1]] = xp.reshape(p.grad.array, (-1,)) if has_grad else 0.0
            buffer[flags + i] = 1.0 if has_grad else 0.0
        return buffer

    def unflatten(self, total, world_size):
        xp = self.device.backend.xp
        counts = self.device.backend.to_host(total[-len(self.params):]).tolist()
        averaged = total[:-len(self.params)] / world_size  # a new array: the buffer is refilled next step
        for p, start, stop, count in zip(self.params, self.offsets, self.offsets[1:], counts):
            grad = xp.reshape(averaged[start:stop], p.shape)
            if count == 0:
                continue  # no rank had a gradient for it
            if p.grad is None:
                p.grad = Tensor._wrap(grad, p.device)
            else:
                p.grad.array = grad


class DistributedDataParallel(Module):
    """Wrap `module` so that backward leaves every rank with the ranks' mean gradient.

    module             the replica; call the wrapper as you would call it
    broadcast_buffers  copy rank 0's buffers (BatchNorm running statistics) to every
                       rank at the start of each forward with gradients enabled
    bucket_cap_mb      the size of a gradient bucket (25 MB, PyTorch's default)

    The process group must be initialized. Use `no_sync()` to accumulate gradients
    locally over several backward passes; the first backward after it averages them.
    Gradients are averaged by the one backward after each forward (with gradients
    enabled, outside no_sync); a second backward after it, or a backward that reached
    only part of the parameters the forward used, raises instead of leaving the
    ranks' gradients silently different.
    """

    def __init__(self, module, broadcast_buffers=True, bucket_cap_mb=25):
        super().__init__()
        self.engine = distributed.current_engine("DistributedDataParallel")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self._sync = True
        self._synced_forward = False  # whether the last forward is to be averaged
        self._waiting = None  # ids of the parameters this backward still owes a gradient, or None
        self._reported = False  # whether any of them has arrived
        with no_grad():
            for tensor in list(module.parameters()) + list(module.buffers()):
                distributed.broadcast(tensor, 0)
        params = [p for p in reversed(list(module.parameters())) if p.requires_grad]
        self._buckets = _buckets(params, bucket_cap_mb * 2**20)
        self._bucket_of = {id(p): bucket for bucket in self._buckets for p in bucket.params}
        for p in params:
            p.register_post_accumulate_grad_hook(self._on_gradient)

    @contextmanager
    def no_sync(self):
        """Forward and backward passes inside accumulate gradients without communicating."""
        previous, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = previous

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers and is_grad_enabled():
            with no_grad():
                for buffer in self.module.buffers():
                    distributed.broadcast(buffer, 0)
        out = self.module(*args, **kwargs)
        if is_grad_enabled():
            self._synced_forward = self._sync
            if self._sync:
                self._prepare(out)
        return out

    def _prepare(self, out):
        if self._waiting is not None and self._reported:
            names = [name for name, p in self.module.named_parameters() if id(p) in self._waiting]
            raise RuntimeError(f"DistributedDataParallel: the last backward gave no gradient to {', '.join(names)}, "
                               "which the forward used, so the ranks' gradients were not averaged; backward from "
                               "a loss that depends on the whole output")
        roots = [t for t in _tensors(out) if t.requires_grad]
        used = {id(t) for t in toposort(roots) if t._op is None}
        self._waiting = set()
        for bucket in self._buckets:
            bucket.work = None
            bucket.expected = 0
            for p in bucket.params:
                if id(p) in used:
                    bucket.expected += 1
                    self._waiting.add(id(p))
        self._next = 0
        self._reported = False

    def _on_gradient(self, param):
        if self._waiting is None:
            if self._synced_forward:
                raise RuntimeError("DistributedDataParallel: a second backward after one forward would not be "
                                   "averaged across the ranks; call the model again before each backward")
            return  # the forward ran under no_sync: accumulate locally
        if id(param) not in self._waiting:
            return
        self._reported = True
        self._waiting.discard(id(param))
        self._bucket_of[id(param)].expected -= 1
        while self._next < len(self._buckets) and self._buckets[self._next].expected == 0:
            bucket = self._buckets[self._next]
            bucket.work = self.engine.all_reduce(bucket.flatten(), bucket.device, "sum")
            self._next += 1
        for bucket in self._buckets[:self._next]:
            bucket.work.test()  # MPI advances a nonblocking reduction only when called
        if self._next == len(self._buckets):
            self._waiting = None
            for bucket in self._buckets:
                bucket.unflatten(bucket.work.wait(), self.engine.world_size)
                bucket.work = None

    def extra_repr(self):
        return f"world_size={self.engine.world_size}, buckets={len(self._buckets)}"


def _buckets(params, cap_bytes):
    """Consecutive parameters of one device and dtype, up to `cap_bytes` per bucket."""
    buckets, current, size = [], [], 0
    for p in params:
        nbytes = p.size * p.device.backend.xp.finfo(p.array.dtype).bits // 8
        if current and (size + nbytes > cap_bytes or p.device != current[0].device
                        or p.array.dtype != current[0].array.dtype):
            buckets.append(_Bucket(current))
            current, size = [], 0
        current.append(p)
        size += nbytes
    if current:
        buckets.append(_Bucket(current))
    return buckets


def _tensors(out):
    """The Tensors in a forward's output (a Tensor, or lists, tuples and dicts of them)."""
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for item in out for t in _tensors(item)]
    return []


__all__ = ["DistributedDataParallel"]
