"""Datasets and loaders: host NumPy arrays in, batches of polygrad Tensors out.

    images, labels = pg.data.load_digits()
    (x, y), (x_val, y_val) = pg.data.train_val_split(images, labels, seed=0)
    loader = pg.data.DataLoader(pg.data.TensorDataset(x, y), batch_size=64, shuffle=True, device="cpu")
"""

from .datasets import (
    SOURCES, ConcatDataset, Dataset, DatasetError, IterableDataset, Subset, TensorDataset, data_dir, fetch, load_digits,
    load_fashion_mnist, load_mnist, load_npz, random_split, read_idx, train_val_split,
)
from .distributed import DistributedSampler
from .loader import DataLoader, DataLoaderWorkerError, WorkerInfo, get_worker_info
from .sampler import (
    BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler, WeightedRandomSampler,
)

__all__ = [
    "DataLoader", "Dataset", "IterableDataset",
    "DistributedSampler", "DatasetError", "SOURCES", "TensorDataset", "data_dir", "fetch", "load_digits",
    "load_fashion_mnist", "load_mnist", "load_npz", "read_idx", "train_val_split",
    "ConcatDataset", "Subset", "random_split", "DataLoaderWorkerError", "WorkerInfo", "get_worker_info",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler",
]
