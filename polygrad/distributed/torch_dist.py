"""torch.distributed's engines (gloo on CPUs, nccl on GPUs) for torch-backend tensors.

The rendezvous is at MASTER_ADDR:MASTER_PORT (default 127.0.0.1:29500); rank and
world size come from the launcher's environment, so `mpiexec -n 2` and torchrun
both work. Collectives work in place on the tensor's
storage, as in PyTorch (a non-contiguous one on a contiguous copy).
"""

import os

from . import launcher_environment


class _Pending:
    def __init__(self, work, result):
        self.work, self.result = work, result

    def wait(self):
        self.work.wait()
        return self.result()

    def test(self):
        return self.work.is_completed()


class TorchEngine:
    def __init__(self, name):
        try:
            import torch
            import torch.distributed as dist
        except ImportError as error:
            raise RuntimeError(f"the {name} engine needs torch (pip install 'polygrad[torch]'): {error}") from error
        if not dist.is_available():
            raise RuntimeError(f"the {name} engine needs a torch built with torch.distributed")
        self.name, self.torch, self.dist = name, torch, dist
        self.rank, self.world_size, self.local_rank = launcher_environment()
        if name == "nccl":
            torch.cuda.set_device(self.local_rank % torch.cuda.device_count())
        address = f"tcp://{os.environ.get('MASTER_ADDR', '127.0.0.1')}:{os.environ.get('MASTER_PORT', '29500')}"
        dist.init_process_group(name, init_method=address, rank=self.rank, world_size=self.world_size)
        self.ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}

    def _contiguous(self, array):
        if not isinstance(array, self.torch.Tensor):
            raise TypeError(f"the {self.name} engine reduces torch-backend tensors, got {type(array).__name__}; "
                            "use the mpi engine for other backends")
        return array.contiguous()

    def all_reduce(self, array, device, op):
        buffer = self._contiguous(array)
        return _Pending(self.dist.all_reduce(buffer, op=self.ops[op], async_op=True), lambda: buffer)

    def broadcast(self, array, device, src):
        buffer = self._contiguous(array)
        return _Pending(self.dist.broadcast(buffer, src, async_op=True), lambda: buffer)

    def all_gather(self, array, device):
        buffer = self._contiguous(array)
        gathered = self.torch.empty((self.world_size, *buffer.shape), dtype=buffer.dtype, device=buffer.device)
        work = self.dist.all_gather(list(gathered.unbind(0)), buffer, async_op=True)
        return _Pending(work, lambda: gathered)

    def reduce_scatter(self, stacked, device, op):
        # gloo has no reduce_scatter of its own: reduce everything, keep this rank's part
        buffer = self._contiguous(stacked)
        return _Pending(self.dist.all_reduce(buffer, op=self.ops[op], async_op=True), lambda: buffer[self.rank])

    def barrier(self):
        self.dist.barrier()

    def abort(self, code):
        # no finalisation that would wait for the other ranks: the launcher sees the exit and ends them
        os._exit(code)

    def destroy(self):
        self.dist.destroy_process_group()
