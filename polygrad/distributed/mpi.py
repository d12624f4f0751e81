"""The MPI engine, through mpi4py: processes started by mpiexec or srun, or a lone one.

MPI reads and writes host memory. Each collective works on a host copy made by
the array's backend (`to_host`), and the result goes back through `from_host`:
one copy each way, which also means a collective never writes into an array
that other tensors may share. Nonblocking collectives advance when MPI is
called; `test()` is that call (DistributedDataParallel makes it as backward runs).
"""


class _Pending:
    def __init__(self, request, finish):
        self.request, self.finish = request, finish

    def wait(self):
        self.request.Wait()
        return self.finish()

    def test(self):
        return self.request.Test()


def _host(array, device):
    """A C-ordered host copy of `array` (every rank must lay its buffer out alike)."""
    host = device.backend.to_host(array)
    return host if memoryview(host).c_contiguous else host.copy()


def _back(host, device, dtype):
    return lambda: device.backend.from_host(host, device, dtype)


class MPIEngine:
    name = "mpi"

    def __init__(self):
        try:
            from mpi4py import MPI
        except ImportError as error:
            raise RuntimeError(f"mpi4py is not installed (pip install 'polygrad[dist]'): {error}") from error
        self.MPI = MPI
        # A communicator of our own: the user's MPI messages can never match ours.
        self.comm = MPI.COMM_WORLD.Dup()
        self.rank, self.world_size = self.comm.Get_rank(), self.comm.Get_size()
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_rank = node.Get_rank()
        node.Free()
        self.ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}

    def all_reduce(self, array, device, op):
        host = _host(array, device)
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, host, self.ops[op])
        return _Pending(request, _back(host, device, array.dtype))

    def broadcast(self, array, device, src):
        host = _host(array, device)
        return _Pending(self.comm.Ibcast(host, root=src), _back(host, device, array.dtype))

    def all_gather(self, array, device):
        host = _host(array, device)
        gathered = _host(device.backend.xp.stack([array] * self.world_size), device)
        return _Pending(self.comm.Iallgather(host, gathered), _back(gathered, device, array.dtype))

    def reduce_scatter(self, stacked, device, op):
        host = _host(stacked, device)
        mine = _host(stacked[0, ...], device)
        request = self.comm.Ireduce_scatter_block(host, mine, self.ops[op])
        return _Pending(request, _back(mine, device, stacked.dtype))

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code):
        self.MPI.COMM_WORLD.Abort(code)

    def destroy(self):
        self.comm.Free()
