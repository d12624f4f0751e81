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

import math

from ..creation import asarray, resolve_device
from .datasets import collate, permutation


class DataLoader:
    """Iterate over a dataset in batches of polygrad Tensors on `backend`/`device`.

    shuffle   a fresh permutation each epoch, drawn from (seed, epoch): the same
              seed gives the same batches on every run and every backend, and
              `set_epoch(e)` reproduces epoch e's order (for resuming).
    drop_last skip the last batch when it is smaller than batch_size.
    sampler   an iterable of dataset indices deciding the order instead (e.g. a
              DistributedSampler); `set_epoch` is passed on to it.
    Each batch is a tuple with one Tensor per field of the samples (a single
    Tensor when samples are not tuples).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, seed=0, drop_last=False, backend=None, device=None,
                 sampler=None):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: pass either sampler or shuffle=True; the sampler decides the order")
        self.sampler = sampler
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.device = resolve_device(device, backend)  # an unknown device fails here, not mid-epoch
        self.epoch = 0

    def __len__(self):
        n = len(self.dataset if self.sampler is None else self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch):
        """Make the next pass use epoch `epoch`'s shuffling order."""
        self.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self):
        if self.sampler is not None:
            order = list(self.sampler)
            n = len(order)
        else:
            n = len(self.dataset)
            order = permutation(n, (self.seed, self.epoch)) if self.shuffle else range(n)
        self.epoch += 1
        stop = len(self) * self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            fields, single = self._fetch(order[start:start + self.batch_size])
            batch = tuple(asarray(field, device=self.device) for field in fields)
            yield batch[0] if single else batch

    def _fetch(self, indices):
        """The batch's fields as host arrays, and whether samples are bare (not tuples)."""
        gather = getattr(self.dataset, "__getitems__", None)
        if gather is not None:
            return gather(indices), False
        return collate([self.dataset[int(i)] for i in indices])
