"""The MPI engine, through mpi4py: processes started by mpiexec or srun, or a lone one.

MPI reads and writes host memory. A writable, C-ordered host array (NumPy's) is
reduced in place, as PyTorch's collectives work in place on a tensor's storage;
any other array goes through a host copy made by its backend (`to_host`) and
back (`from_host`). In place matters beyond the copy saved: MPICH moves a
buffer it has seen before much faster than a fresh one (3x at 4 MB here), so
DistributedDataParallel keeps one flat buffer per bucket. Nonblocking
collectives advance when MPI is called; `test()` is that call
(DistributedDataParallel makes it as backward runs).
"""


class _Pending:
    def __init__(self, request, finish):
        self.request, self.finish = request, finish

    def wait(self):
        self.request.Wait()
        return self.finish()

    def test(self):
        return self.request.Test()


def _buffer(array, device):
    """(what MPI works on, how to get the result): `array` itself when it is writable, C-ordered
    host memory, else a C-ordered host copy (every rank must lay its buffer out alike)."""
    try:
        view = memoryview(array)
    except TypeError:  # not host memory (array-api-strict, torch, cupy)
        view = None
    if view is not None and view.c_contiguous and not view.readonly:
        return array, lambda: array
    host = device.backend.to_host(array)
    if not memoryview(host).c_contiguous:
        host = host.copy()
    return host, lambda: device.backend.from_host(host, device, array.dtype)


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
        buffer, result = _buffer(array, device)
        return _Pending(self.comm.Iallreduce(self.MPI.IN_PLACE, buffer, self.ops[op]), result)

    def broadcast(self, array, device, src):
        buffer, result = _buffer(array, device)
        return _Pending(self.comm.Ibcast(buffer, root=src), result)

    def all_gather(self, array, device):
        buffer, _ = _buffer(array, device)
        gathered, result = _buffer(device.backend.xp.stack([array] * self.world_size), device)
        return _Pending(self.comm.Iallgather(buffer, gathered), result)

    def reduce_scatter(self, stacked, device, op):
        buffer, _ = _buffer(stacked, device)
        mine, result = _buffer(device.backend.xp.asarray(stacked[0, ...], copy=True), device)
        return _Pending(self.comm.Ireduce_scatter_block(buffer, mine, self.ops[op]), result)

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code):
        self.MPI.COMM_WORLD.Abort(code)

    def destroy(self):
        self.comm.Free()
