"""`polygrad.utils.data`, as PyTorch spells it: the same module as polygrad.data."""

import sys

from . import data

sys.modules[f"{__name__}.data"] = data
