"""CuPy's NCCL engine (cupyx.distributed) for cupy tensors, one GPU per rank.

NCCL is not inside CuPy's wheels (cupy#4932): install it with
`pip install nvidia-nccl-cu12` (or cu13) next to cupy-cuda12x. The rendezvous is
CuPy's TCP store at MASTER_ADDR:MASTER_PORT (CuPy's defaults when unset); rank
and world size come from the launcher's environment. NCCL queues each collective
on the current CUDA stream; wait() waits for an event recorded after it.
"""

import os

from . import launcher_environment


class _Pending:
    def __init__(self, cupy, result):
        self.event, self.result = cupy.cuda.Event(), result
        self.event.record()

    def wait(self):
        self.event.synchronize()
        return self.result

    def test(self):
        return self.event.done


class NCCLEngine:
    name = "nccl"

    def __init__(self):
        try:
            import cupy
            from cupyx import distributed
        except ImportError as error:
            raise RuntimeError(f"the nccl engine needs CuPy (pip install 'polygrad[cuda12]') and NCCL "
                               f"(pip install nvidia-nccl-cu12): {error}") from error
        self.cupy = cupy
        self.rank, self.world_size, self.local_rank = launcher_environment()
        cupy.cuda.Device(self.local_rank % cupy.cuda.runtime.getDeviceCount()).use()
        store = {}  # CuPy's own defaults unless the launcher names the rendezvous
        if "MASTER_ADDR" in os.environ:
            store["host"] = os.environ["MASTER_ADDR"]
        if "MASTER_PORT" in os.environ:
            store["port"] = int(os.environ["MASTER_PORT"])
        try:
            self.comm = distributed.init_process_group(self.world_size, self.rank, **store)
        except (RuntimeError, ImportError) as error:
            raise RuntimeError(f"the nccl engine could not start NCCL ({error}); is NCCL installed "
                               "(pip install nvidia-nccl-cu12)?") from error

    def all_reduce(self, array, device, op):
        out = self.cupy.empty_like(array)
        self.comm.all_reduce(array, out, op)
        return _Pending(self.cupy, out)

    def broadcast(self, array, device, src):
        buffer = array.copy()
        self.comm.broadcast(buffer, root=src)
        return _Pending(self.cupy, buffer)

    def all_gather(self, array, device):
        out = self.cupy.empty((self.world_size, *array.shape), dtype=array.dtype)
        self.comm.all_gather(array, out, array.size)
        return _Pending(self.cupy, out)

    def reduce_scatter(self, stacked, device, op):
        out = self.cupy.empty(stacked.shape[1:], dtype=stacked.dtype)
        self.comm.reduce_scatter(stacked, out, out.size, op)
        return _Pending(self.cupy, out)

    def barrier(self):
        self.comm.barrier()

    def abort(self, code):
        os._exit(code)

    def destroy(self):
        self.comm.stop()
