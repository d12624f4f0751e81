"""DataLoader workers, collate_fn, samplers and batch samplers, dataset combinators."""

import os
import random

import numpy as np
import pytest

import polygrad as pg
from polygrad import data

X = np.arange(60, dtype=np.float32).reshape(30, 2)
Y = np.arange(30)


def host(batches):
    return [tuple(t.numpy() for t in b) if isinstance(b, tuple) else b.numpy() for b in batches]


def assert_same(a, b):
    assert len(a) == len(b)
    for p, q in zip(a, b):
        for u, v in zip(p if isinstance(p, tuple) else (p,), q if isinstance(q, tuple) else (q,)):
            np.testing.assert_array_equal(u, v)


class Squares(data.Dataset):
    """Samples one at a time (no __getitems__), with a random augmentation drawn in the worker."""

    def __len__(self):
        return 23

    def __getitem__(self, i):
        return np.float64(i * i), np.int64(i)


class Noisy(data.Dataset):
    def __len__(self):
        return 12

    def __getitem__(self, i):
        return np.array([np.random.random(), random.random()])


class Failing(data.Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 7:
            raise KeyError(f"sample {i} is broken")
        return np.float32(i)


# ---------------------------------------------------------------- workers
@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("shuffle", [False, True])
def test_workers_give_the_same_batches_as_without(workers, shuffle):
    for dataset in (data.TensorDataset(X, Y), Squares()):
        plain = data.DataLoader(dataset, batch_size=4, shuffle=shuffle, seed=5)
        parallel = data.DataLoader(dataset, batch_size=4, shuffle=shuffle, seed=5, num_workers=workers,
                                   prefetch_factor=1)
        for _ in range(2):  # two epochs: the shuffled order changes, identically in both
            assert_same(host(parallel), host(plain))


def test_workers_on_another_backend_and_device():
    loader = data.DataLoader(data.TensorDataset(X, Y), batch_size=8, num_workers=2, backend="array_api_strict",
                             device="device1")
    got = list(loader)
    assert all(x.device.name == "device1" for x, _ in got)
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in got]), Y)


def test_workers_are_seeded_per_worker_and_reproducible():
    def draws():
        return np.concatenate(host(data.DataLoader(Noisy(), batch_size=2, num_workers=3)))

    first, second = draws(), draws()
    np.testing.assert_array_equal(first, second)  # same seed, same draws
    assert len(np.unique(first[:, 0])) == len(first)  # no two workers share NumPy's stream
    assert len(np.unique(first[:, 1])) == len(first)  # nor Python's
    other = np.concatenate(host(data.DataLoader(Noisy(), batch_size=2, num_workers=3, seed=1)))
    assert not np.array_equal(first, other)


def test_worker_info_and_init_fn():
    seen = []

    def collate(samples):
        info = data.get_worker_info()
        return np.array([info.id, info.num_workers, len(info.dataset)]), np.stack(samples)

    loader = data.DataLoader(Noisy(), batch_size=3, num_workers=2, collate_fn=collate,
                             worker_init_fn=lambda i: np.random.seed(100 + i))
    for meta, _ in loader:
        seen.append(tuple(meta.tolist()))
    assert seen == [(0, 2, 12), (1, 2, 12), (0, 2, 12), (1, 2, 12)]
    assert data.get_worker_info() is None  # in the main process
    # worker_init_fn ran after the seeding: worker 0's first draw is np.random.seed(100)'s
    first = next(iter(loader))[1].numpy()
    np.random.seed(100)
    assert first[0, 0] == np.random.random()


def test_a_workers_exception_is_raised_with_its_traceback():
    loader = data.DataLoader(Failing(), batch_size=2, num_workers=2)
    with pytest.raises(data.DataLoaderWorkerError) as caught:
        list(loader)
    message = str(caught.value)
    assert "KeyError" in message and "sample 7 is broken" in message and "worker process 1" in message
    assert "Traceback" in message and "__getitem__" in message  # the worker's own traceback


def test_workers_stop_when_a_pass_is_abandoned():
    import multiprocessing

    loader = data.DataLoader(data.TensorDataset(X, Y), batch_size=2, num_workers=2)
    passes = iter(loader)
    next(passes)
    assert len(multiprocessing.active_children()) == 2
    passes.close()
    assert multiprocessing.active_children() == []
    # and after a failure
    with pytest.raises(data.DataLoaderWorkerError):
        list(data.DataLoader(Failing(), batch_size=2, num_workers=2))
    assert multiprocessing.active_children() == []


def test_a_worker_that_dies_is_reported():
    class Dies(data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            os._exit(3)

    with pytest.raises(RuntimeError, match="exited unexpectedly with exit code 3"):
        list(data.DataLoader(Dies(), num_workers=1))


def test_spawned_workers_give_the_same_batches():
    dataset = data.TensorDataset(X, Y)
    plain = host(data.DataLoader(dataset, batch_size=7, shuffle=True))
    spawned = host(data.DataLoader(dataset, batch_size=7, shuffle=True, num_workers=2,
                                   multiprocessing_context="spawn"))
    assert_same(spawned, plain)


# ---------------------------------------------------------------- collate, samplers
def test_collate_fn_results_arrive_on_the_device():
    def collate(samples):
        values, labels = zip(*samples)
        return {"x": np.stack(values), "y": list(labels), "name": "squares"}

    for workers in (0, 2):
        batches = list(data.DataLoader(Squares(), batch_size=5, collate_fn=collate, num_workers=workers,
                                       backend="array_api_strict", device="device1"))
        assert batches[0]["name"] == "squares" and batches[0]["x"].device.name == "device1"
        assert [int(v) for v in batches[1]["y"]] == [5, 6, 7, 8, 9]
        np.testing.assert_array_equal(batches[-1]["x"].numpy(), [400.0, 441.0, 484.0])


def test_pin_memory_is_a_no_op_on_cpu_backends():
    assert_same(host(data.DataLoader(data.TensorDataset(X, Y), batch_size=8, pin_memory=True)),
                host(data.DataLoader(data.TensorDataset(X, Y), batch_size=8)))


def test_batch_sampler_and_its_exclusions():
    batches = data.BatchSampler(data.SequentialSampler(range(10)), batch_size=4, drop_last=False)
    assert list(batches) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and len(batches) == 3
    dropping = data.BatchSampler(range(10), batch_size=4, drop_last=True)
    assert list(dropping) == [[0, 1, 2, 3], [4, 5, 6, 7]] and len(dropping) == 2
    loader = data.DataLoader(data.TensorDataset(X, Y), batch_sampler=[[3, 1], [0, 2, 29]])
    assert [y.tolist() for _, y in loader] == [[3, 1], [0, 2, 29]] and len(loader) == 2
    with pytest.raises(ValueError, match="batch_sampler"):
        data.DataLoader(data.TensorDataset(X, Y), batch_size=4, batch_sampler=[[0]])


def test_any_sampler_with_iter_and_len():
    class Reversed:
        def __iter__(self):
            return iter(range(29, -1, -1))

        def __len__(self):
            return 30

    loader = data.DataLoader(data.TensorDataset(X, Y), batch_size=8, sampler=Reversed(), drop_last=True)
    assert [y.tolist()[0] for _, y in loader] == [29, 21, 13] and len(loader) == 3


def test_random_sampler_draws_afresh_each_pass_from_its_generator():
    sampler = data.RandomSampler(range(20), generator=3)
    first, second = list(sampler), list(sampler)
    assert sorted(first) == list(range(20)) and sorted(second) == list(range(20)) and first != second
    assert list(data.RandomSampler(range(20), generator=pg.random.Generator(3))) == first
    longer = list(data.RandomSampler(range(5), num_samples=12))
    assert len(longer) == 12 and sorted(longer[:5]) == list(range(5)) and sorted(longer[5:10]) == list(range(5))
    drawn = list(data.RandomSampler(range(4), replacement=True, num_samples=400))
    assert set(drawn) == {0, 1, 2, 3} and len(drawn) == 400
    assert list(data.SequentialSampler([7, 8, 9])) == [0, 1, 2]
    subset = list(data.SubsetRandomSampler([10, 20, 30, 40]))
    assert sorted(subset) == [10, 20, 30, 40]


def test_weighted_random_sampler_follows_the_weights():
    weights = [1.0, 0.0, 3.0, 6.0]
    drawn = np.array(list(data.WeightedRandomSampler(weights, num_samples=20000, generator=1)))
    frequencies = np.bincount(drawn, minlength=4) / len(drawn)
    np.testing.assert_allclose(frequencies, np.array(weights) / 10, atol=0.015)
    # without replacement: distinct, never a zero weight; the first pick follows the weights
    firsts = [list(data.WeightedRandomSampler(weights, 3, replacement=False, generator=g))
              for g in range(3000)]
    assert all(sorted(f) == [0, 2, 3] for f in firsts)
    np.testing.assert_allclose(np.bincount([f[0] for f in firsts], minlength=4) / 3000, [0.1, 0, 0.3, 0.6],
                               atol=0.03)
    with pytest.raises(ValueError, match="without replacement"):
        data.WeightedRandomSampler(weights, 4, replacement=False)
    with pytest.raises(ValueError, match="weights"):
        data.WeightedRandomSampler([1.0, -1.0], 1)


# ---------------------------------------------------------------- datasets
def test_subset_concat_and_random_split():
    dataset = data.TensorDataset(X, Y)
    subset = data.Subset(dataset, [5, 0, 29])
    assert len(subset) == 3
    assert [int(subset[i][1]) for i in range(3)] == [5, 0, 29]
    assert [y.tolist() for _, y in data.DataLoader(subset, batch_size=2)] == [[5, 0], [29]]
    joined = data.ConcatDataset([data.Subset(Squares(), [2, 3]), Squares()])
    assert len(joined) == 25
    assert [float(joined[i][0]) for i in (0, 1, 2, 24, -1)] == [4.0, 9.0, 0.0, 484.0, 484.0]
    with pytest.raises(IndexError, match="ConcatDataset"):
        joined[25]
    with pytest.raises(IndexError, match="Subset"):
        data.Subset(dataset, [30])

    parts = data.random_split(dataset, [20, 7, 3], generator=0)
    assert [len(p) for p in parts] == [20, 7, 3]
    everything = sorted(i for p in parts for i in p.indices)
    assert everything == list(range(30))
    again = data.random_split(dataset, [20, 7, 3], generator=pg.random.Generator(0))
    assert [p.indices for p in again] == [p.indices for p in parts]
    assert [len(p) for p in data.random_split(range(10), [0.5, 0.3, 0.2])] == [5, 3, 2]
    assert [len(p) for p in data.random_split(range(11), [0.5, 0.5])] == [6, 5]
    with pytest.raises(ValueError, match="random_split"):
        data.random_split(dataset, [10, 10])
