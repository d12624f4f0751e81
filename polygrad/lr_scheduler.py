"""`polygrad.optim.lr_scheduler`, as PyTorch spells it: the schedulers of polygrad.optim."""

import sys

from . import optim

# every scheduler class optim defines, so schedulers added there appear here too
globals().update({name: value for name, value in vars(optim).items()
                  if isinstance(value, type) and issubclass(value, optim.LRScheduler)})
__all__ = sorted(name for name in globals() if isinstance(globals()[name], type))

# `import polygrad.optim.lr_scheduler` and `pg.optim.lr_scheduler` (optim is a module, not a package)
sys.modules[f"{optim.__name__}.lr_scheduler"] = sys.modules[__name__]
optim.lr_scheduler = sys.modules[__name__]
