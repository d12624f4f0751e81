"""DataLoader: batches of a host dataset as Tensors on one backend and device.

Where the data lives: datasets keep their samples on the host as NumPy arrays
(the format files are read into), and the loader moves one batch at a time to
the chosen backend and device. That works for every dataset, large or small,
keeps datasets independent of the backend, and costs one host-to-device copy
per batch (one fancy-index gather plus one transfer), which is what PyTorch's
loaders do as well. Keeping a whole dataset on the device would save that copy
but ties up device memory and needs a dataset per backend; a caller who wants
it can put tensors on the device and slice them directly.
"""

import itertools
import math
import multiprocessing
import pickle
import queue
import time
import traceback
from dataclasses import dataclass

from .. import backends
from ..namespace.ops import asarray
from ..core.placement import resolve_device
from ..namespace.random import manual_seed
from ..core.tensor import Tensor
from .datasets import IterableDataset, collate, permutation, seed_host, worker_seed
from .sampler import RandomSampler


class DataLoader:
    """Iterate over a dataset in batches of polygrad Tensors on `backend`/`device`.

    shuffle   a fresh permutation each epoch, drawn from (seed, epoch): the same
              seed gives the same batches on every run and every backend, and
              `set_epoch(e)` reproduces epoch e's order (for resuming).
    drop_last skip the last batch when it is smaller than batch_size.
    sampler   any object with __iter__ (dataset indices) and __len__ deciding the
              order instead (RandomSampler, a DistributedSampler, ...); `set_epoch`
              is passed on to it.
    batch_sampler  an iterable of index lists, one per batch, in place of
              batch_size, shuffle, sampler and drop_last.
    collate_fn  turns a list of samples into a batch (default: stack each field
              into one host array); host arrays and Tensors anywhere in what it
              returns (tuples, lists, dicts) arrive as Tensors on the device.
    num_workers  processes that fetch and collate batches on the host while the
              main process trains; batches arrive in the same order as without
              workers. Each worker seeds Python's, NumPy's and polygrad's default
              generators from (seed, epoch, worker id) (see get_worker_info), then
              calls worker_init_fn(worker_id). An exception in a worker is raised
              here with the worker's traceback; workers stop when the pass ends,
              is abandoned or fails. multiprocessing_context: "fork" (default
              where the platform has it) or "spawn" (the dataset must pickle).
    generator  with shuffle=True, the generator (a pg.Generator or a seed) that draws each
              epoch's order, as PyTorch's RandomSampler(generator=); without shuffle it is
              unused (workers are seeded from `seed`).
    pin_memory  stage host batches in page-locked memory for faster copies to a
              CUDA device (the backend's pin_host hook; a no-op on CPU backends).
    By default samples are batched by PyTorch's default_collate rules (see data.collate):
    a tuple of samples' fields gives a tuple of batches, nested tuples, lists, dicts and
    namedtuples keep their structure, strings stay lists of strings.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, seed=0, drop_last=False, backend=None, device=None,
                 sampler=None, batch_sampler=None, num_workers=0, collate_fn=None, pin_memory=False,
                 worker_init_fn=None, multiprocessing_context=None, prefetch_factor=2, timeout=0, generator=None):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: pass either sampler or shuffle=True; the sampler decides the order")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError("DataLoader: batch_sampler replaces batch_size, shuffle, sampler and drop_last; "
                             "pass it alone")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be an integer >= 0, got {num_workers!r}")
        if not isinstance(prefetch_factor, int) or prefetch_factor < 1:
            raise ValueError(f"DataLoader: prefetch_factor must be a positive integer, got {prefetch_factor!r}")
        if multiprocessing_context is None:
            multiprocessing_context = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self.context = multiprocessing.get_context(multiprocessing_context)
        self.batch_sampler = batch_sampler
        self.num_workers, self.collate_fn, self.pin_memory = num_workers, collate_fn, pin_memory
        self.worker_init_fn, self.prefetch_factor, self.timeout = worker_init_fn, prefetch_factor, timeout
        if generator is not None and shuffle:
            sampler = RandomSampler(dataset, generator=generator)  # as PyTorch: the generator draws the order
        self.sampler = sampler
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.device = resolve_device(device, backend)  # an unknown device fails here, not mid-epoch
        self.epoch = 0

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        try:
            n = len(self.dataset if self.sampler is None else self.sampler)
        except NotImplementedError:  # an IterableDataset that does not know its length
            raise TypeError(f"DataLoader: its {type(self.dataset).__name__} has no len()") from None
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch):
        """Make the next pass use epoch `epoch`'s shuffling order."""
        self.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def _index_lists(self, epoch):
        """This pass's batches, as lists of dataset indices, drawn from the sampler as the pass goes
        (as torch: a sampler of 10**10 draws costs nothing before the first batch)."""
        if self.batch_sampler is not None:
            yield from (list(indices) for indices in self.batch_sampler)
            return
        if self.sampler is not None:
            order = iter(self.sampler)
        else:
            n = len(self.dataset)
            order = iter(permutation(n, (self.seed, epoch)).tolist() if self.shuffle else range(n))
        yield from _chunks(order, self.batch_size, self.drop_last)

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        if isinstance(self.dataset, IterableDataset):
            if self.num_workers:
                raise NotImplementedError("DataLoader: an IterableDataset with num_workers > 0 is not supported yet")
            samples = _chunks(iter(self.dataset), self.batch_size, self.drop_last)
            hosts = (_collated(self.collate_fn, chunk) for chunk in samples)
        elif self.num_workers:
            hosts = _from_workers(self, epoch, self._index_lists(epoch))
        else:
            hosts = (_fetch(self.dataset, self.collate_fn, indices) for indices in self._index_lists(epoch))
        try:
            for host in hosts:
                yield self._to_device(host)
        finally:
            hosts.close()  # an abandoned pass stops its workers now, not at garbage collection

    def _to_device(self, value):
        """Host arrays and Tensors in a (nested) batch as Tensors on the loader's device."""
        if isinstance(value, (tuple, list)):
            fields = [self._to_device(v) for v in value]
            return type(value)(*fields) if hasattr(value, "_fields") else type(value)(fields)
        if isinstance(value, dict):
            return {k: self._to_device(v) for k, v in value.items()}
        if not isinstance(value, Tensor) and backends.find_for_array(value) is None:
            return value  # strings, numbers, ...: left as they are
        if self.pin_memory and not isinstance(value, Tensor):
            value = self.device.backend.pin_host(value)
        return asarray(value, device=self.device)


def _chunks(items, size, drop_last):
    """Lists of `size` consecutive items of the iterator `items` (the last one shorter unless drop_last)."""
    while chunk := list(itertools.islice(items, size)):
        if len(chunk) < size and drop_last:
            return
        yield chunk


def _fetch(dataset, collate_fn, indices):
    """One batch on the host: collate_fn's result, or by default each field stacked into an array
    (a bare array when samples are not tuples)."""
    gather = getattr(dataset, "__getitems__", None)
    if gather is not None and collate_fn is None:
        return tuple(gather(indices))
    return _collated(collate_fn, [dataset[i] for i in indices])


def _collated(collate_fn, samples):
    return collate(samples) if collate_fn is None else collate_fn(samples)


# ---------------------------------------------------------------- worker processes
@dataclass(frozen=True)
class WorkerInfo:
    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info = None


def get_worker_info():
    """In a DataLoader worker: its id, the number of workers, its seed and its copy of the dataset; else None."""
    return _worker_info


def _worker(dataset, collate_fn, init_fn, tasks, results, info):
    global _worker_info
    _worker_info = info
    results.cancel_join_thread()  # a worker told to stop mid-pass exits without waiting for the main to read
    try:
        seed_host(info.seed)
        manual_seed(info.seed)
        if init_fn is not None:
            init_fn(info.id)
    except Exception:  # noqa: BLE001 - every failure goes back to the main process
        results.put((None, WorkerFailure(info.id, traceback.format_exc())))
        return
    while (task := tasks.get()) is not None:
        number, indices = task
        try:
            # pickled here, not in the queue's feeder thread, so a batch that cannot cross is reported
            results.put((number, pickle.dumps(_fetch(dataset, collate_fn, indices))))
        except Exception:  # noqa: BLE001
            results.put((number, WorkerFailure(info.id, traceback.format_exc())))


@dataclass(frozen=True)
class WorkerFailure:
    worker: int
    traceback: str


def _from_workers(loader, epoch, index_lists):
    """Host batches fetched by loader.num_workers processes, yielded in the order of the iterator index_lists.

    Batch k goes to worker k % num_workers (so each worker's share, and its random
    draws, are the same every run); up to prefetch_factor batches per worker are
    in flight.
    """
    context, count = loader.context, loader.num_workers
    results = context.Queue()
    task_queues = [context.Queue() for _ in range(count)]
    workers = []
    try:
        for i, tasks in enumerate(task_queues):
            info = WorkerInfo(i, count, worker_seed(loader.seed, epoch, i), loader.dataset)
            worker = context.Process(target=_worker, daemon=True, args=(
                loader.dataset, loader.collate_fn, loader.worker_init_fn, tasks, results, info))
            worker.start()
            workers.append(worker)
        sent = 0

        def send_next():
            nonlocal sent
            indices = next(index_lists, None)
            if indices is not None:
                task_queues[sent % count].put((sent, indices))
                sent += 1

        for _ in range(count * loader.prefetch_factor):
            send_next()
        arrived = {}
        number = -1
        while (number := number + 1) < sent:
            while number not in arrived:
                got, payload = _receive(results, workers, loader.timeout)
                if isinstance(payload, WorkerFailure):
                    raise _reraise(payload)
                arrived[got] = payload
            send_next()
            yield pickle.loads(arrived.pop(number))
    finally:
        for tasks in task_queues:
            tasks.cancel_join_thread()
            tasks.put(None)
        deadline = time.monotonic() + 5
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                worker.terminate()
                worker.join()
        results.cancel_join_thread()
        results.close()


def _receive(results, workers, timeout):
    """The next (batch number, payload), checking meanwhile that every worker is still alive."""
    waited = 0.0
    while True:
        try:
            return results.get(timeout=1.0)
        except queue.Empty:
            waited += 1.0
        for i, worker in enumerate(workers):
            if not worker.is_alive():
                raise RuntimeError(f"DataLoader worker {i} (pid {worker.pid}) exited unexpectedly "
                                   f"with exit code {worker.exitcode}")
        if timeout and waited >= timeout:
            raise RuntimeError(f"DataLoader: no batch from the workers in {timeout} s")


def _reraise(failure):
    """The worker's exception as a DataLoaderWorkerError whose message carries its traceback."""
    last = failure.traceback.strip().splitlines()[-1]
    message = f"caught {last} in DataLoader worker process {failure.worker}.\nOriginal {failure.traceback}"
    return DataLoaderWorkerError(message)


class DataLoaderWorkerError(RuntimeError):
    """An exception raised in a DataLoader worker process; the message holds its traceback."""
