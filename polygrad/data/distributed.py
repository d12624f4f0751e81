"""DistributedSampler: each rank's share of a dataset, laid out exactly as PyTorch lays it out."""

import math

from .datasets import torch_permutation


class DistributedSampler:
    """The indices rank `rank` of `num_replicas` iterates over in one epoch.

    PyTorch's assignment: without drop_last the index list is padded with its own
    first entries to a multiple of num_replicas (every rank gets the same count);
    with drop_last its tail is cut to one; rank r takes every num_replicas-th index
    starting at r. shuffle=True shuffles with PyTorch's own permutation of
    seed + epoch (torch.randperm's, reproduced on the host without torch), so the
    indices are PyTorch's exactly either way, on every rank, run and backend. Call
    set_epoch(e) before each epoch so the shuffle changes.

    num_replicas and rank default to the process group's (1 and 0 without one).
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        from .. import distributed

        grouped = distributed.is_initialized()
        if num_replicas is None:
            num_replicas = distributed.get_world_size() if grouped else 1
        if rank is None:
            rank = distributed.get_rank() if grouped else 0
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive integer, got {num_replicas!r}")
        if not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in [0, {num_replicas - 1}], got {rank!r}")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        n = len(self.dataset)
        indices = torch_permutation(n, self.seed + self.epoch) if self.shuffle else list(range(n))
        if self.drop_last:
            indices = indices[:self.total_size]
        else:
            padding = self.total_size - n
            indices += (indices * math.ceil(padding / n))[:padding] if padding else []
        return iter(indices[self.rank:self.total_size:self.num_replicas])
