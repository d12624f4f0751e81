"""Collective communication with PyTorch's names, through an existing engine.

    import polygrad as pg
    pg.distributed.init_process_group()          # "mpi" under mpiexec / srun
    pg.distributed.all_reduce(t, op=pg.distributed.ReduceOp.AVG)

Engines (one short adapter each; only those files name their library):
  "mpi"   mpi4py, CPU processes started by mpiexec or srun (the default; "gloo"
          under torchrun). Arrays that are not host memory go through their
          backend's host transfer.
  "nccl"  NCCL: CuPy's (cupyx.distributed) for cupy tensors, torch.distributed's
          when `device_id` is a torch device or torch is polygrad's default backend.
  "gloo"  torch.distributed's CPU engine, for torch-backend tensors.
Rank and world size come from the engine (MPI) or from the launcher's environment
(RANK / WORLD_SIZE as torchrun sets them, PMI_* from MPICH, OMPI_* from Open MPI,
SLURM_*). Collectives work in place on Tensors; `async_op=True` returns a Work
whose wait() blocks until the result is in the tensor.

Once more than one process is in the group, an uncaught exception in any of them
prints that rank's traceback and aborts every rank (MPI_Abort), instead of leaving
the others waiting forever in their next collective.
"""

import enum
import importlib
import os
import sys

from .. import backends
from ..core.errors import DtypeError, ShapeError, describe


class ReduceOp(enum.Enum):
    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"


_engine = None
_previous_excepthook = None

# (module, class, arguments) of each engine's adapter, imported only when asked for
_ADAPTERS = {
    "mpi": ("mpi", "MPIEngine", ()),
    "gloo": ("torch_dist", "TorchEngine", ("gloo",)),
    "torch:nccl": ("torch_dist", "TorchEngine", ("nccl",)),
    "cupy:nccl": ("nccl", "NCCLEngine", ()),
}

# Launcher variables, in order of preference: (rank, world size, local rank).
_LAUNCHERS = [
    ("RANK", "WORLD_SIZE", "LOCAL_RANK"),  # torchrun
    ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),  # MPICH's hydra
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),  # Open MPI
    ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),
]


def launcher_environment():
    """(rank, world size, local rank) as the launcher set them; (0, 1, 0) when not launched."""
    for rank, size, local in _LAUNCHERS:
        if rank in os.environ and size in os.environ:
            return int(os.environ[rank]), int(os.environ[size]), int(os.environ.get(local, 0))
    return 0, 1, 0


def _engine_name(backend, device_id):
    if backend is None:
        # torchrun's own variable; everything else is MPI's (a lone process too)
        return "gloo" if "TORCHELASTIC_RUN_ID" in os.environ else "mpi"
    if backend == "nccl":
        if device_id is not None:
            library = backends.for_device(device_id) if isinstance(device_id, str) else device_id.backend
            library = getattr(library, "name", None)
        else:
            library = backends.default_name()
        return "torch:nccl" if library == "torch" else "cupy:nccl"
    if backend not in _ADAPTERS:
        raise ValueError(f"init_process_group: unknown backend {backend!r}; known: mpi, nccl, gloo")
    return backend


def init_process_group(backend=None, device_id=None):
    """Join the process group: every rank calls it once, before any collective.

    backend    "mpi" (default; "gloo" under torchrun), "nccl" or "gloo"
    device_id  for "nccl": a polygrad Device or device name whose backend (cupy or
               torch) picks the NCCL binding. A GPU rank uses the GPU of its local rank.
    """
    global _engine
    if _engine is not None:
        raise RuntimeError("init_process_group: already initialized; call destroy_process_group() first")
    module, cls, arguments = _ADAPTERS[_engine_name(backend, device_id)]
    adapter = importlib.import_module(f".{module}", __name__)
    _engine = getattr(adapter, cls)(*arguments)
    if _engine.world_size > 1:
        _abort_on_uncaught_exception()


def is_initialized():
    return _engine is not None


def current_engine(what):
    """The engine of the process group; a clear error naming `what` when there is none."""
    if _engine is None:
        raise RuntimeError(f"{what}: the process group is not initialized; call pg.distributed.init_process_group()")
    return _engine


def get_rank():
    return current_engine("get_rank").rank


def get_world_size():
    return current_engine("get_world_size").world_size


def get_local_rank():
    """This process's index among the processes on its node (picks its GPU)."""
    return current_engine("get_local_rank").local_rank


def get_backend():
    return current_engine("get_backend").name


def barrier():
    current_engine("barrier").barrier()


def destroy_process_group():
    global _engine
    engine = current_engine("destroy_process_group")
    _engine = None
    if _previous_excepthook is not None:
        sys.excepthook = _previous_excepthook
    engine.destroy()


def abort(message=None, code=1):
    """Print `message` as this rank's and end every process of the job with exit status `code`."""
    engine = current_engine("abort")
    if message:
        print(f"rank {engine.rank}/{engine.world_size}: {message}", file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    engine.abort(code)


def _abort_on_uncaught_exception():
    global _previous_excepthook
    _previous_excepthook = previous = sys.excepthook

    def hook(kind, value, traceback):
        engine = _engine
        if engine is None:
            return previous(kind, value, traceback)
        print(f"rank {engine.rank}/{engine.world_size} failed; aborting every rank:", file=sys.stderr)
        previous(kind, value, traceback)
        abort(code=1)

    sys.excepthook = hook


# ---------------------------------------------------------------- collectives
class Work:
    """The handle of a collective started with async_op=True."""

    def __init__(self, pending, finish):
        self._pending, self._finish, self._done = pending, finish, False

    def wait(self):
        """Block until the result is in place; returns True, as PyTorch's Work does."""
        if not self._done:
            self._finish(self._pending.wait())
            self._done = True
        return True

    def is_completed(self):
        return self._done or self._pending.test()


def _run(pending, finish, async_op):
    work = Work(pending, finish)
    if async_op:
        return work
    work.wait()
    return None


def _write(tensor, data):
    """In place, as PyTorch's collectives are: into the tensor's buffer, so its aliases see the result."""
    if data is not tensor.array:
        if tensor.backend.writable(tensor.array):
            tensor.array[...] = data
        else:
            tensor.array = data
    tensor._version += 1


def _reduce_op(what, op, tensor):
    op = ReduceOp(op)
    if op is ReduceOp.AVG and not tensor.xp.isdtype(tensor.array.dtype, ("real floating", "complex floating")):
        raise DtypeError(f"{what}: ReduceOp.AVG needs a floating tensor, got {describe(tensor)}")
    return op


def _averaged(op, engine):
    """The engine reduces AVG as SUM; this divides by the world size afterwards."""
    if op is ReduceOp.AVG:
        return lambda data: data / engine.world_size
    return lambda data: data


def all_reduce(tensor, op=ReduceOp.SUM, async_op=False):
    """Replace `tensor` on every rank by the reduction over the ranks' values."""
    engine = current_engine("all_reduce")
    op = _reduce_op("all_reduce", op, tensor)
    average = _averaged(op, engine)
    pending = engine.all_reduce(tensor.array, tensor.device, "sum" if op is ReduceOp.AVG else op.value)
    return _run(pending, lambda data: _write(tensor, average(data)), async_op)


def broadcast(tensor, src, async_op=False):
    """Replace `tensor` on every rank by rank `src`'s."""
    engine = current_engine("broadcast")
    if not 0 <= src < engine.world_size:
        raise ValueError(f"broadcast: src must be a rank in [0, {engine.world_size - 1}], got {src}")
    return _run(engine.broadcast(tensor.array, tensor.device, src), lambda data: _write(tensor, data), async_op)


def _check_list(what, tensors, like, engine):
    if len(tensors) != engine.world_size:
        raise ValueError(f"{what}: needs one tensor per rank ({engine.world_size}), got {len(tensors)}")
    for t in tensors:
        if t.shape != like.shape or t.dtype != like.dtype or t.device != like.device:
            raise ShapeError(f"{what}: every tensor must be like {describe(like)}, got {describe(t)}")


def all_gather(tensor_list, tensor, async_op=False):
    """Fill `tensor_list[r]` with rank r's `tensor`, on every rank."""
    engine = current_engine("all_gather")
    _check_list("all_gather", tensor_list, tensor, engine)

    def finish(stacked):
        for r, t in enumerate(tensor_list):
            _write(t, stacked[r, ...])

    return _run(engine.all_gather(tensor.array, tensor.device), finish, async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, async_op=False):
    """Rank r's `output` becomes the reduction over the ranks of their `input_list[r]`."""
    engine = current_engine("reduce_scatter")
    _check_list("reduce_scatter", input_list, output, engine)
    op = _reduce_op("reduce_scatter", op, output)
    average = _averaged(op, engine)
    stacked = output.xp.stack([t.array for t in input_list])
    pending = engine.reduce_scatter(stacked, output.device, "sum" if op is ReduceOp.AVG else op.value)
    return _run(pending, lambda data: _write(output, average(data)), async_op)


__all__ = [
    "ReduceOp", "Work", "abort", "all_gather", "all_reduce", "barrier", "broadcast", "destroy_process_group",
    "get_backend", "get_local_rank", "get_rank", "get_world_size", "init_process_group", "is_initialized",
    "launcher_environment", "reduce_scatter",
]
