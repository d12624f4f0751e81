"""Samplers: which dataset indices a DataLoader visits, and in what order (PyTorch's names).

A sampler is any object with `__iter__` (indices) and `__len__`; a batch
sampler's `__iter__` gives lists of indices. Random draws come from
`generator`: a `pg.random.Generator`, or an int seed for one (default 0), so
the same seed gives the same order every run; each pass draws afresh.
"""

import bisect
import itertools
import math

from ..namespace.random import Generator


_CHUNK = 1024  # draws a RandomSampler with replacement makes at once


def _generator(generator):
    return generator if isinstance(generator, Generator) else Generator(0 if generator is None else generator)


class Sampler:
    def __iter__(self):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh permutation each pass; with replacement (or num_samples > len), uniform draws."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if num_samples is not None and (not isinstance(num_samples, int) or num_samples < 1):
            raise ValueError(f"RandomSampler: num_samples must be a positive integer, got {num_samples!r}")
        self.data_source, self.replacement, self._num_samples = data_source, replacement, num_samples
        self.generator = _generator(generator)

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        if self.replacement:  # drawn a chunk at a time as they are used: num_samples may be 10**10
            chunks = (self.generator.randint(0, n, (min(_CHUNK, self.num_samples - start),)).tolist()
                      for start in range(0, self.num_samples, _CHUNK))
            return itertools.chain.from_iterable(chunks)
        # without replacement: whole permutations, as many as num_samples needs
        rounds = math.ceil(self.num_samples / n)
        order = itertools.chain.from_iterable(self.generator.permutation(n).tolist() for _ in range(rounds))
        return itertools.islice(order, self.num_samples)

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices, in a fresh random order each pass."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = list(indices), _generator(generator)

    def __iter__(self):
        return iter([self.indices[i] for i in self.generator.permutation(len(self.indices)).tolist()])

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """num_samples indices drawn with probability proportional to `weights`.

    With replacement, each draw inverts the cumulative weights at a uniform
    number; without, the indices with the largest u ** (1 / w) keys are taken
    (Efraimidis–Spirakis), which draws them one by one in proportion to the
    weights left, as torch.multinomial does.
    """

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        self.weights = [float(w) for w in (weights.tolist() if hasattr(weights, "tolist") else weights)]
        if not self.weights or any(not w >= 0 or math.isinf(w) for w in self.weights) or not sum(self.weights) > 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, >= 0 and not all 0")
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"WeightedRandomSampler: num_samples must be a positive integer, got {num_samples!r}")
        positive = sum(w > 0 for w in self.weights)
        if not replacement and num_samples > positive:
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} indices without replacement "
                             f"from {positive} with positive weight")
        self.num_samples, self.replacement, self.generator = num_samples, replacement, _generator(generator)

    def __iter__(self):
        if self.replacement:
            cumulative = list(itertools.accumulate(self.weights))
            total = cumulative[-1]
            uniforms = self.generator.rand(self.num_samples, dtype="float64").tolist()
            return iter([min(bisect.bisect_right(cumulative, u * total), len(cumulative) - 1) for u in uniforms])
        uniforms = self.generator.rand(len(self.weights), dtype="float64").tolist()
        keys = [math.log(u) / w if w > 0 else -math.inf for u, w in zip(uniforms, self.weights)]
        return iter(sorted(range(len(keys)), key=keys.__getitem__, reverse=True)[:self.num_samples])

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of batch_size indices from `sampler` (the last one shorter unless drop_last)."""

    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"BatchSampler: batch_size must be a positive integer, got {batch_size!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
