"""The bottom layer above the backends: errors, dtypes, placement (dtype and device questions, raw arrays from
data), the Tensor record, the engine (tape, backward walk, forward mode, grad modes) and autograd.

May import: backends. Must never import anything else of polygrad (a test reads every import).
"""
