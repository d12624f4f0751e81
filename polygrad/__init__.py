"""polygrad: autograd written once against the Array API, run on NumPy, CuPy and more.

    import polygrad as pg
    x = pg.tensor([2.0, 5.0], requires_grad=True)
    y = pg.log(x[0]) + x[0] * x[1] - pg.sin(x[1])
    y.backward()
    x.grad          # [5.5, 1.716]
"""

import sys as _sys

from . import backends
from .backends import BackendUnavailable, Device  # noqa: E402,F401
from .core.tensor import Tensor  # noqa: E402,F401
from .namespace.ops import *  # noqa: E402,F401,F403
from .namespace.ops import asarray, astype, getitem, reshape, stack, sum, take_along_axis, tensor, to_device  # noqa: E402,F401
from .namespace.creation import (  # noqa: E402,F401
    arange, empty, empty_like, eye, full, full_like, linspace, logspace, ones, ones_like, zeros, zeros_like,
)
from .core.placement import get_default_dtype, set_default_dtype  # noqa: E402,F401
# what a Tensor does, installed by the layers that define it (see polygrad/core/tensor.py)
from .core import autograd  # noqa: E402
from .methods import (  # noqa: E402
    inplace as _inplace, operators as _operators, torch_functions as _torch_functions, torch_methods as _torch_methods,
)
from .namespace import info as _info  # noqa: E402
autograd.install(Tensor)
_operators.install(Tensor)
_inplace.install(Tensor)
_torch_methods.install(Tensor)
_torch_functions.install(Tensor)  # after torch_methods: it adds only the methods Tensor lacks
_info.install(Tensor, _sys.modules[__name__])
from .core.dtypes import (  # noqa: E402,F401  (shadows the builtin bool only inside this module's namespace)
    bool, complex64, complex128, float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
    can_cast, finfo, iinfo, isdtype, result_type,
    bfloat16, float16, TORCH_NAMES as _TORCH_DTYPE_NAMES,
)
globals().update(_TORCH_DTYPE_NAMES)  # pg.float, pg.double, pg.long, pg.int, pg.half, ... (PyTorch's names)
from .core import dtypes  # noqa: E402,F401
from .namespace.standard import *  # noqa: E402,F401,F403  (the rest of the Array API namespace)
from .namespace import fft, linalg  # noqa: E402,F401
from .namespace.info import __array_api_version__, __array_namespace_info__, e, inf, nan, newaxis, pi  # noqa: E402,F401
from .core.engine import detect_anomaly, enable_grad, forward_mode, is_grad_enabled, no_grad  # noqa: E402,F401
from .core.errors import (  # noqa: E402,F401
    AnomalyError, AxisError, BackendMismatchError, DeviceMismatchError, DtypeError, GraphFreedError,
    InplaceModificationError, PolygradError, ShapeError,
)
from .namespace import random  # noqa: E402,F401
from .namespace.random import manual_seed, rand, randint, randn  # noqa: E402,F401
from . import functional  # noqa: E402,F401
from . import nn  # noqa: E402,F401
from . import data, optim  # noqa: E402,F401
from .data import text  # noqa: E402,F401
from .io import checkpoint  # noqa: E402,F401
from . import distributed  # noqa: E402,F401
from .autodiff.seed import Autograd  # noqa: E402,F401
from .autodiff.gradcheck import gradcheck, gradgradcheck  # noqa: E402,F401
# function transforms; `grad` here is JAX-style (pg.autograd.grad is the torch-style one)
from .autodiff.transforms import (  # noqa: E402,F401
    dual, grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, tangent_of, value_and_grad, vjp,
)
from .autodiff import func  # noqa: E402,F401  (torch.func's names: vmap, functional_call, stack_module_state, ...)
from .autodiff.func import vmap  # noqa: E402,F401
from .autodiff.trace import trace  # noqa: E402,F401
from .autodiff import custom  # noqa: E402,F401
from .autodiff.custom import nondifferentiable  # noqa: E402,F401
from .compile import TraceError, compile  # noqa: E402,F401  (pg.compile: trace once, replay)
# the PyTorch face: pg.* reductions take dim=/keepdim= too, and the functions PyTorch scripts call
from .methods.torch_keywords import FUNCTIONS as _TORCH_KEYWORD_FUNCTIONS  # noqa: E402
globals().update(_TORCH_KEYWORD_FUNCTIONS)
from .core.engine import inference_mode, set_grad_enabled  # noqa: E402,F401
# mixed precision first: it wraps the ops its lists name (pg.addmm, F.conv2d, ...) before they are exported
from . import amp  # noqa: E402,F401
from types import SimpleNamespace as _SimpleNamespace  # noqa: E402
from .amp import GradScaler as _GradScaler, autocast, get_autocast_dtype, is_autocast_enabled  # noqa: E402,F401
from .methods.pytorch_face import (  # noqa: E402,F401
    addmm, as_tensor, baddbmm, bmm, cuda, device, diag, einsum, from_numpy, randperm,
)
cuda.amp = amp.cuda  # pg.cuda.amp.autocast(), pg.cuda.amp.GradScaler()
cpu = _SimpleNamespace(amp=amp.cpu)  # pg.cpu.amp: PyTorch's torch.cpu.amp
from .namespace.random import Generator  # noqa: E402,F401
from .io.serialization import load, save  # noqa: E402,F401
from . import utils  # noqa: E402,F401  (pg.utils.data)
from .core.function import Function  # noqa: E402,F401
from .methods.torch_functions import FUNCTIONS as _MORE_TORCH_FUNCTIONS  # noqa: E402
globals().update(_MORE_TORCH_FUNCTIONS)  # pg.multinomial, pg.randn_like, pg.LongTensor, ... (and their methods)

from ._version import __version__  # noqa: E402,F401

# The dotted paths users type for modules that live in layer folders (`import polygrad.linalg`,
# `import polygrad.nn.functional as F`, torch's `torch.utils.data`), and `polygrad.tensor`, the
# module pickles written before the move name (`pg.tensor` stays the function). Only this face may alias modules.
_sys.modules.update({f"{__name__}.{path}": module for path, module in {
    "autograd": autograd, "checkpoint": checkpoint, "custom": custom, "dtypes": dtypes, "fft": fft,
    "linalg": linalg, "random": random, "text": text, "tensor": _sys.modules[Tensor.__module__],
    "nn.functional": functional, "nn.utils.rnn": nn.utils.rnn, "utils.data": data,
}.items()})


def set_default_backend(name):
    """Use backend `name` when none is given; returns the previous default's name."""
    return backends.set_default(name)


def get_default_backend():
    return backends.default()


def install_as_torch():
    """From now on in this process, `import torch` and `import torch.nn as nn` give polygrad (a notebook's
    one line; `polygrad run script.py` does the same for a script). Call it before anything imports torch."""
    from .torch_import import install

    install()
