"""What a Tensor does with Python's operators and the namespace's spellings, installed on Tensor.

`install(Tensor)` (called once, by the package face) sets each method from the tables
below: a binary operator and its reflected form name one namespace function, so `a * b`
is `ops.multiply(a, b)` with no call in between. Indexing, `.to`, `.astype`, `.T`, `.mT`
and PyTorch's complex spellings (`z.real`, `z.imag`, `z.conj()`, `z.angle()`) are here too;
in-place updates are installed by polygrad.methods.inplace.
"""

from ..core.errors import describe
from ..core.placement import to_arguments
from ..namespace import ops, standard

# operator name -> the namespace function it is; each also gets its reflected form (__radd__ ...)
BINARY = {
    "add": ops.add, "sub": ops.subtract, "mul": ops.multiply, "truediv": ops.divide, "pow": ops.pow,
    "matmul": ops.matmul, "floordiv": ops.floor_divide, "mod": ops.remainder,
    # bitwise on integers; on booleans these are the logical operators
    "and": ops.bitwise_and, "or": ops.bitwise_or, "xor": ops.bitwise_xor,
    "lshift": ops.bitwise_left_shift, "rshift": ops.bitwise_right_shift,
}
COMPARISONS = {"lt": ops.less, "le": ops.less_equal, "gt": ops.greater, "ge": ops.greater_equal,
               "eq": ops.equal, "ne": ops.not_equal}
UNARY = {"neg": ops.negative, "abs": ops.abs, "invert": ops.bitwise_invert}


def _reflected(function):
    def reflected(self, other):
        return function(other, self)
    return reflected


def _pos(self):
    return self


def _getitem(self, key):
    if type(key) is list:
        key = ops.list_key(key)
    return ops.getitem(self, key)


def to(self, target=None, dtype=None, *, device=None, non_blocking=False, copy=False):
    """Move to a device or backend and/or cast: `t.to("cupy")`, `t.to("cuda:1")`, `t.to("cpu")`,
    and PyTorch's `t.to(pg.float64)`, `t.to("cuda", pg.float16)`, `t.to(other)` (its device and dtype).

    The result is a new leaf-like tensor connected to the graph: gradients
    flow back across the move, landing on the original device.
    """
    device, dtype = to_arguments(target, dtype, device, self.device)
    out = self
    if device is not self.device:
        out = ops.to_device(self, device)
    if dtype is not None:
        out = ops.astype(out, dtype, copy=False)
    return ops.astype(out, out.dtype, copy=True) if copy and out is self else out


def astype(self, dtype):
    return ops.astype(self, dtype)


def _transpose(self):
    if self.ndim != 2:
        raise ValueError(f"T: expects a 2-D tensor, got {describe(self)}; use mT for batches")
    return ops.permute_dims(self, (1, 0))


PROPERTIES = {
    "T": property(_transpose),
    "mT": property(lambda self: ops.matrix_transpose(self)),
    "real": property(standard.real, doc="The real part (a real tensor's self), with gradients."),
    "imag": property(standard.imag, doc="The imaginary part (zeros for a real tensor), with gradients."),
}
METHODS = {
    "__getitem__": _getitem, "__pos__": _pos, "to": to, "astype": astype,
    "conj": lambda self: standard.conj(self), "angle": lambda self: ops.angle(self),
    "is_complex": lambda self: self.dtype.kind == "complex floating",
}


def install(tensor_class):
    for name, function in BINARY.items():
        setattr(tensor_class, f"__{name}__", function)
        setattr(tensor_class, f"__r{name}__", _reflected(function))
    for name, function in {**COMPARISONS, **UNARY}.items():
        setattr(tensor_class, f"__{name}__", function)
    for name, value in {**PROPERTIES, **METHODS}.items():
        setattr(tensor_class, name, value)
