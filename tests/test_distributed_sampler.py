"""DistributedSampler: PyTorch's index assignment (padding, drop_last, striding); and the distributed
package's errors without MPI. No MPI needed."""

import math
import subprocess
import sys

import pytest

import polygrad as pg
from polygrad.data import DistributedSampler
from polygrad.data.datasets import torch_permutation


class Sized:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def epoch_indices(sampler, epoch):
    sampler.set_epoch(epoch)
    return list(sampler)


CASES = [(n, w) for n in (1, 5, 10, 11, 16) for w in (1, 2, 3, 4)]


@pytest.mark.parametrize("n, replicas", CASES)
@pytest.mark.parametrize("drop_last", [False, True])
def test_the_ranks_cover_the_dataset_like_pytorch_describes(n, replicas, drop_last):
    samplers = [DistributedSampler(Sized(n), replicas, r, shuffle=False, drop_last=drop_last) for r in range(replicas)]
    lengths = {len(s) for s in samplers}
    per_rank = [list(s) for s in samplers]
    assert lengths == {len(indices) for indices in per_rank}  # every rank gets the same count
    count = lengths.pop()
    if drop_last:
        assert count == n // replicas  # the tail is cut, never padded
        assert sorted(i for indices in per_rank for i in indices) == list(range(count * replicas))
    else:
        assert count == math.ceil(n / replicas)  # padded with the first indices
        assert set(i for indices in per_rank for i in indices) == set(range(n))
    assert per_rank[0][:1] == ([0] if count else [])


@pytest.mark.parametrize("n, replicas", CASES)
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_indices_equal_torch_distributed_sampler(n, replicas, drop_last, shuffle):
    """The very indices of torch's sampler, shuffled or not, over several epochs."""
    torch_data = pytest.importorskip("torch.utils.data")
    for rank in range(replicas):
        ours = DistributedSampler(Sized(n), replicas, rank, shuffle=shuffle, seed=7, drop_last=drop_last)
        theirs = torch_data.DistributedSampler(Sized(n), replicas, rank, shuffle=shuffle, seed=7, drop_last=drop_last)
        assert len(ours) == len(theirs)
        for epoch in range(3):
            theirs.set_epoch(epoch)
            assert epoch_indices(ours, epoch) == list(theirs)


@pytest.mark.parametrize("n, seed", [(0, 0), (1, 3), (2, 5), (10, 0), (1000, 12345), (50000, 2**31 + 5)])
def test_torch_permutation_is_torch_randperm(n, seed):
    torch = pytest.importorskip("torch")
    generator = torch.Generator()
    generator.manual_seed(seed)
    assert torch_permutation(n, seed) == torch.randperm(n, generator=generator).tolist()


def test_torch_permutation_without_torch():
    """Fixed from torch 2.13's torch.randperm(10) after manual_seed(0), so it holds where torch is absent."""
    assert torch_permutation(10, 0) == [4, 1, 7, 5, 3, 9, 0, 8, 6, 2]


def test_shuffle_changes_with_the_epoch_and_is_the_same_on_every_rank():
    samplers = [DistributedSampler(Sized(20), 2, r, seed=1) for r in range(2)]
    first = [epoch_indices(s, 0) for s in samplers]
    second = [epoch_indices(s, 1) for s in samplers]
    assert first != second
    assert sorted(first[0] + first[1]) == list(range(20))  # one permutation split between the ranks
    assert epoch_indices(samplers[0], 0) == first[0]  # set_epoch reproduces an epoch (resuming)


def test_bad_rank_and_replicas_raise():
    with pytest.raises(ValueError, match=r"DistributedSampler: rank must be in \[0, 1\], got 2"):
        DistributedSampler(Sized(4), 2, 2)
    with pytest.raises(ValueError, match="DistributedSampler: num_replicas must be a positive integer, got 0"):
        DistributedSampler(Sized(4), 0, 0)


def test_without_a_process_group_it_is_one_replica():
    assert not pg.distributed.is_initialized()
    sampler = DistributedSampler(Sized(5), shuffle=False)
    assert (sampler.num_replicas, sampler.rank, list(sampler)) == (1, 0, [0, 1, 2, 3, 4])


def test_data_loader_takes_a_sampler(target):
    import numpy as np

    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    sampler = DistributedSampler(Sized(10), 3, 1, shuffle=True, seed=2)
    loader = pg.data.DataLoader(pg.data.TensorDataset(x), batch_size=2, sampler=sampler, backend=target.backend,
                                device=target.device)
    loader.set_epoch(4)  # passed on to the sampler
    expected = epoch_indices(DistributedSampler(Sized(10), 3, 1, seed=2), 4)
    assert len(loader) == 2
    assert [row for (xb,) in loader for row in xb.numpy()[:, 0].tolist()] == [float(i) for i in expected]
    with pytest.raises(ValueError, match="DataLoader: pass either sampler or shuffle=True"):
        pg.data.DataLoader(pg.data.TensorDataset(x), sampler=sampler, shuffle=True)


@pytest.mark.parametrize("backend, message", [
    ("None", "mpi4py is not installed (pip install 'polygrad[dist]')"),
    ("'gloo'", "the gloo engine needs torch (pip install 'polygrad[torch]')"),
    ("'ucc'", "init_process_group: unknown backend 'ucc'; known: mpi, nccl, gloo"),
])
def test_a_missing_engine_says_what_to_install(backend, message):
    code = ("import sys; sys.modules['mpi4py'] = sys.modules['torch'] = None\n"
            f"import polygrad as pg\npg.distributed.init_process_group({backend})\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and message in out.stderr


def test_collectives_without_a_process_group_raise():
    with pytest.raises(RuntimeError, match=r"all_reduce: the process group is not initialized; call "
                                           r"pg.distributed.init_process_group\(\)"):
        pg.distributed.all_reduce(pg.ones(2))


def test_torch_permutation_refuses_sizes_where_torch_draws_differently():
    with pytest.raises(ValueError, match=r"torch_permutation: n = 214748364 is past the size"):
        torch_permutation(2**32 // 20, 0)
