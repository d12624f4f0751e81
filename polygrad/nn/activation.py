"""Activation modules with PyTorch's names, arguments and defaults, over polygrad.functional.

`inplace=True` is accepted for compatibility and computes out of place: the result is
the same, and the input stays intact for the backward pass.
"""

from .. import functional as F
from ..namespace.creation import full
from .module import Module, Parameter


def _activation(name, function, **defaults):
    """A module class calling `function(x, **options)`, its options taken positionally or by name."""
    names = list(defaults)

    def __init__(self, *args, inplace=False, **kwargs):
        Module.__init__(self)
        if len(args) > len(names):
            raise TypeError(f"{name} takes at most {len(names)} arguments ({', '.join(names)}), got {len(args)}")
        options = dict(defaults)
        options.update(zip(names, args))
        unknown = set(kwargs) - set(names)
        if unknown:
            raise TypeError(f"{name}: unexpected arguments {sorted(unknown)}")
        options.update(kwargs)
        self.__dict__.update(options)
        self.inplace = inplace

    def forward(self, x):
        return function(x, **{n: getattr(self, n) for n in names})

    def extra_repr(self):
        return ", ".join(f"{n}={getattr(self, n)!r}" for n in names)

    return type(name, (Module,), {"__init__": __init__, "forward": forward, "extra_repr": extra_repr,
                                  "__doc__": f"Applies polygrad.functional.{function.__name__}.",
                                  "__module__": __name__})


ELU = _activation("ELU", F.elu, alpha=1.0)
SELU = _activation("SELU", F.selu)
CELU = _activation("CELU", F.celu, alpha=1.0)
Softplus = _activation("Softplus", F.softplus, beta=1.0, threshold=20.0)
SiLU = _activation("SiLU", F.silu)
Mish = _activation("Mish", F.mish)
Hardtanh = _activation("Hardtanh", F.hardtanh, min_val=-1.0, max_val=1.0)
ReLU6 = _activation("ReLU6", F.relu6)
Softsign = _activation("Softsign", F.softsign)
LogSigmoid = _activation("LogSigmoid", F.logsigmoid)
Hardswish = _activation("Hardswish", F.hardswish)
Hardsigmoid = _activation("Hardsigmoid", F.hardsigmoid)
Softmin = _activation("Softmin", F.softmin, dim=None)
GLU = _activation("GLU", F.glu, dim=-1)
Threshold = _activation("Threshold", F.threshold, threshold=None, value=None)
Tanhshrink = _activation("Tanhshrink", F.tanhshrink)
Softshrink = _activation("Softshrink", F.softshrink, lambd=0.5)
Hardshrink = _activation("Hardshrink", F.hardshrink, lambd=0.5)
GELU = _activation("GELU", F.gelu, approximate="none")


class PReLU(Module):
    """max(0, x) + a min(0, x) with a learnt slope a per channel (num_parameters) or shared; a starts at `init`."""

    def __init__(self, num_parameters=1, init=0.25, *, device=None, backend=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = Parameter(full((num_parameters,), init, dtype=dtype, device=device, backend=backend))

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"
