"""polygrad: autograd written once against the Array API, run on NumPy, CuPy and more.

    import polygrad as pg
    x = pg.tensor([2.0, 5.0], requires_grad=True)
    y = pg.log(x[0]) + x[0] * x[1] - pg.sin(x[1])
    y.backward()
    x.grad          # [5.5, 1.716]
"""


def _mount_backends():
    """Make the top-level `backends/` folder importable as `polygrad.backends`.

    An installed polygrad carries it inside the package; a source checkout
    (the repository on the path, nothing installed) keeps it beside the package.
    """
    import importlib.util
    import os
    import sys

    try:
        importlib.import_module(f"{__name__}.backends")
        return
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.backends":
            raise
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "backends")
    spec = importlib.util.spec_from_file_location(
        f"{__name__}.backends", os.path.join(folder, "__init__.py"), submodule_search_locations=[folder]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)


_mount_backends()

from . import backends  # noqa: E402
from .backends import BackendUnavailable, Device  # noqa: E402,F401
from .tensor import Tensor  # noqa: E402,F401
from .ops import *  # noqa: E402,F401,F403
from .ops import astype, getitem, reshape, stack, sum, take_along_axis, to_device  # noqa: E402,F401
from .creation import (  # noqa: E402,F401
    arange, asarray, empty, empty_like, eye, full, full_like, get_default_dtype, linspace, logspace,
    ones, ones_like, set_default_dtype, tensor, zeros, zeros_like,
)
from .dtypes import (  # noqa: E402,F401  (shadows the builtin bool only inside this module's namespace)
    bool, complex64, complex128, float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
    can_cast, finfo, iinfo, isdtype, result_type,
    bfloat16, float16, TORCH_NAMES as _TORCH_DTYPE_NAMES,
)
globals().update(_TORCH_DTYPE_NAMES)  # pg.float, pg.double, pg.long, pg.int, pg.half, ... (PyTorch's names)
from . import dtypes  # noqa: E402,F401
from .standard import *  # noqa: E402,F401,F403  (the rest of the Array API namespace)
from . import fft, linalg  # noqa: E402,F401
from .primitives_complex import angle  # noqa: E402,F401  (and which rules hold for complex values)
from .array_api import __array_api_version__, __array_namespace_info__, e, inf, nan, newaxis, pi  # noqa: E402,F401
from .engine import detect_anomaly, enable_grad, forward_mode, is_grad_enabled, no_grad  # noqa: E402,F401
from . import autodiff as autograd  # noqa: E402,F401
from .errors import (  # noqa: E402,F401
    AnomalyError, AxisError, BackendMismatchError, DeviceMismatchError, DtypeError, GraphFreedError,
    InplaceModificationError, PolygradError, ShapeError,
)
from . import random  # noqa: E402,F401
from .random import manual_seed, rand, randint, randn  # noqa: E402,F401
from . import functional  # noqa: E402,F401
from . import nn  # noqa: E402,F401
from . import checkpoint, data, optim, text  # noqa: E402,F401
from . import distributed  # noqa: E402,F401
from .seed import Autograd  # noqa: E402,F401
from .gradcheck import gradcheck, gradgradcheck  # noqa: E402,F401
# function transforms; `grad` here is JAX-style (pg.autograd.grad is the torch-style one)
from .transforms import (  # noqa: E402,F401
    dual, grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, tangent_of, value_and_grad, vjp,
)
from . import func  # noqa: E402,F401  (torch.func's names: vmap, functional_call, stack_module_state, ...)
from .func import vmap  # noqa: E402,F401
from .trace import trace  # noqa: E402,F401
from . import custom  # noqa: E402,F401
from .custom import nondifferentiable  # noqa: E402,F401
from .compile import TraceError, compile  # noqa: E402,F401  (pg.compile: trace once, replay)
# the PyTorch face: pg.* reductions take dim=/keepdim= too, and the functions PyTorch scripts call
from .methods import FUNCTIONS as _TORCH_KEYWORD_FUNCTIONS  # noqa: E402
globals().update(_TORCH_KEYWORD_FUNCTIONS)
from .engine import inference_mode, set_grad_enabled  # noqa: E402,F401
# mixed precision first: it wraps the ops its lists name (pg.addmm, F.conv2d, ...) before they are exported
from . import amp  # noqa: E402,F401
from types import SimpleNamespace as _SimpleNamespace  # noqa: E402
from .amp import GradScaler as _GradScaler, autocast, get_autocast_dtype, is_autocast_enabled  # noqa: E402,F401
from .pytorch_face import (  # noqa: E402,F401
    addmm, as_tensor, baddbmm, bmm, cuda, device, diag, einsum, from_numpy, randperm,
)
cuda.amp = amp.cuda  # pg.cuda.amp.autocast(), pg.cuda.amp.GradScaler()
cpu = _SimpleNamespace(amp=amp.cpu)  # pg.cpu.amp: PyTorch's torch.cpu.amp
from .random import Generator  # noqa: E402,F401
from .serialization import load, save  # noqa: E402,F401
from . import lr_scheduler, utils  # noqa: E402,F401  (pg.optim.lr_scheduler, pg.utils.data)
from .function import Function  # noqa: E402,F401
from .torch_functions import FUNCTIONS as _MORE_TORCH_FUNCTIONS  # noqa: E402
globals().update(_MORE_TORCH_FUNCTIONS)  # pg.multinomial, pg.randn_like, pg.LongTensor, ... (and their methods)

from ._version import __version__  # noqa: E402,F401


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
