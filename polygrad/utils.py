"""`polygrad.utils.data`, as PyTorch spells it: the same module as polygrad.data."""

from . import data  # noqa: F401
