"""polygrad's own dtype objects, one per dtype of the Array API standard.

`Tensor.dtype` is one of these on every backend (`x.dtype == pg.float32` holds on
numpy, cupy, torch and array-api-strict alike); the raw array `x.array` keeps its
library's native dtype, and that native dtype is what polygrad hands to the
library's own functions.

How they compare
----------------
pg.float32 == pg.float32        True; each dtype is a single object (`is` works too).
pg.float32 == "float32"         True: a dtype equals its name, and hashes like it, so
                                {"float32": ...} and {pg.float32: ...} find each other.
pg.float32 == <native float32>  True for any library's float32 (numpy.dtype("float32"),
                                numpy.float32, torch.float32, array_api_strict.float32),
                                matched by name. Native dtypes hash differently (numpy's
                                own dtype and its name do too), so do not mix them as
                                dict keys. array_api_strict.float32 == pg.float32 is
                                False: strict refuses foreign dtypes; put pg's first.
"""

import builtins

from .errors import DtypeError, dtype_name

# name -> kind, in the standard's order
_KINDS = {
    "bool": "bool",
    "int8": "signed integer", "int16": "signed integer", "int32": "signed integer", "int64": "signed integer",
    "uint8": "unsigned integer", "uint16": "unsigned integer", "uint32": "unsigned integer",
    "uint64": "unsigned integer",
    "float32": "real floating", "float64": "real floating",
    "complex64": "complex floating", "complex128": "complex floating",
}
STANDARD = tuple(_KINDS)
# dtypes outside the standard that backends still produce; they get dtype objects on demand
_EXTRA_KINDS = {"float16": "real floating", "bfloat16": "real floating"}

# the standard's kind names and which dtype kinds each covers
_KIND_GROUPS = {
    "bool": ("bool",),
    "signed integer": ("signed integer",),
    "unsigned integer": ("unsigned integer",),
    "integral": ("signed integer", "unsigned integer"),
    "real floating": ("real floating",),
    "complex floating": ("complex floating",),
    "numeric": ("signed integer", "unsigned integer", "real floating", "complex floating"),
}


class DType:
    """One dtype; `name` is the standard's name ("float32"), `kind` its kind ("real floating")."""

    __slots__ = ("name", "kind")

    def __init__(self, name, kind):
        self.name = name
        self.kind = kind

    def __eq__(self, other):
        if isinstance(other, DType):
            return other is self
        if isinstance(other, str):
            return other == self.name
        return name_of(other) == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f"polygrad.{self.name}"

    def __str__(self):
        return self.name

    def __reduce__(self):
        # pickles as a lookup by name, so unpickling returns the one object
        return (get, (self.name,))


_BY_NAME = {name: DType(name, kind) for name, kind in _KINDS.items()}


_PYTHON_TYPES = {bool: "bool", int: "int64", float: "float64", complex: "complex128"}


def name_of(dtype):
    """'float32' for pg.float32, "float32", numpy.float32 and every library's float32 dtype."""
    if isinstance(dtype, (DType, str)):
        return str(dtype)
    if isinstance(dtype, type):  # numpy's scalar types (numpy.float32); Python's as NumPy and PyTorch read them
        return _PYTHON_TYPES.get(dtype, dtype.__name__)
    name = getattr(dtype, "name", None)  # numpy and cupy dtypes
    return name if isinstance(name, str) else dtype_name(dtype)


def get(dtype):
    """polygrad's dtype object for any spelling of a dtype; DtypeError if there is none."""
    if isinstance(dtype, DType):
        return dtype
    name = name_of(dtype)
    found = _BY_NAME.get(name)
    if found is None:
        if name not in _EXTRA_KINDS:
            raise DtypeError(f"dtype: {dtype!r} is not a dtype polygrad knows; known: {', '.join(STANDARD)}")
        found = _BY_NAME[name] = DType(name, _EXTRA_KINDS[name])
    return found


# native dtype -> DType, keyed with the native's type: dtypes of different libraries
# can hash alike (array_api_strict's and numpy's do) and must not be compared
_FROM_NATIVE = {}


def from_native(native):
    """The dtype object of a backend's native dtype (what `Tensor.dtype` returns)."""
    key = (type(native), native)
    found = _FROM_NATIVE.get(key)
    if found is None:
        found = _FROM_NATIVE[key] = get(native)
    return found


def isdtype(dtype, kind):
    """Whether `dtype` is of `kind`: a kind name ("integral", "numeric", ...), a dtype, or a tuple of them."""
    dtype = get(dtype)
    if isinstance(kind, tuple):
        return any(isdtype(dtype, k) for k in kind)
    if isinstance(kind, str) and kind in _KIND_GROUPS:
        return dtype.kind in _KIND_GROUPS[kind]
    if isinstance(kind, str) and kind not in _BY_NAME:
        raise ValueError(f"isdtype: unknown kind {kind!r}; kinds: {', '.join(_KIND_GROUPS)}")
    return dtype is get(kind)



# ---------------------------------------------------------------- promotion (the standard's lattice)
def _width(dtype):
    return int("".join(c for c in dtype.name if c.isdigit()))


def _promote_pair(a, b):
    if a is b:
        return a
    if {a.name, b.name} == {"float16", "bfloat16"}:  # neither holds the other: PyTorch meets them in float32
        return _BY_NAME["float32"]
    kinds = {a.kind, b.kind}
    if kinds == {"signed integer", "unsigned integer"}:
        signed, unsigned = (a, b) if a.kind == "signed integer" else (b, a)
        width = max(_width(signed), 2 * _width(unsigned))
        if width > 64:
            return None
        return _BY_NAME[f"int{width}"]
    if kinds <= {"signed integer", "unsigned integer", "real floating", "complex floating"} and len(kinds) == 1:
        return a if _width(a) >= _width(b) else b
    if kinds == {"real floating", "complex floating"}:
        real, complex_ = (a, b) if a.kind == "real floating" else (b, a)
        return _BY_NAME[f"complex{max(_width(complex_), 2 * _width(real))}"]
    return None  # bool with numbers, integers with floats: the standard defines no promotion


def _scalar_fits(value, dtype):
    """Whether a Python scalar joins an array of `dtype` (the 2024.12 rules); the result is `dtype`."""
    if isinstance(value, builtins.bool):
        return True
    if isinstance(value, int):
        return dtype.kind != "bool"
    if isinstance(value, float):
        return dtype.kind in ("real floating", "complex floating")
    return dtype.kind in ("complex floating", "real floating")


def result_type(*arrays_and_dtypes):
    """The dtype the standard's promotion gives these arrays, dtypes and Python scalars.

    Mixed kinds the standard leaves undefined (integers with floats, bool with
    numbers) raise DtypeError; polygrad's operators still compute them in
    floating point, as PyTorch does.
    """
    dtypes, scalars = [], []
    for item in arrays_and_dtypes:
        if isinstance(item, (builtins.bool, int, float, complex)):
            scalars.append(item)
        else:
            dtypes.append(get(getattr(item, "dtype", item)))
    if not dtypes:  # a ValueError, as NumPy's and array-api-strict's (scipy catches it to use its default dtype)
        raise ValueError("result_type: needs at least one array or dtype, got only Python scalars" if scalars
                         else "result_type: needs at least one array or dtype")
    result = dtypes[0]
    for other in dtypes[1:]:
        promoted = _promote_pair(result, other)
        if promoted is None:
            raise DtypeError(f"result_type: the standard defines no promotion of {result} with {other}")
        result = promoted
    for value in scalars:
        if not _scalar_fits(value, result):
            raise DtypeError(f"result_type: a Python {type(value).__name__} does not combine with {result}")
        if isinstance(value, complex) and result.kind == "real floating":
            result = _complex_of(result)
    return result


def _complex_of(real):
    """The complex dtype of a real floating one; the half-precision ones have none in polygrad, complex64 holds them."""
    return _BY_NAME[f"complex{max(64, 2 * _width(real))}"]


# ---------------------------------------------------------------- PyTorch's promotion of tensor operands
_CATEGORY = {"bool": 0, "signed integer": 1, "unsigned integer": 1, "real floating": 2, "complex floating": 3}


def _torch_pair(a, b):
    """PyTorch's promotion of two dtypes: the standard's lattice, and across kinds the higher kind wins."""
    promoted = _promote_pair(a, b)
    if promoted is None and _CATEGORY[a.kind] != _CATEGORY[b.kind]:
        promoted = a if _CATEGORY[a.kind] > _CATEGORY[b.kind] else b
    if promoted is None:
        raise DtypeError(f"promotion: {a} and {b} have no common dtype")
    return promoted


def torch_result_type(operands):
    """The dtype PyTorch computes an op on tensors in, given their (dtype, ndim) pairs.

    Tensors with dimensions decide among themselves; 0-d tensors count only where their kind
    (bool < integer < floating < complex) is above that result's: a float16 tensor plus a 0-d
    float32 tensor is float16, an int64 tensor plus a 0-d float64 tensor is float64.
    """
    shaped = [get(dtype) for dtype, ndim in operands if ndim]
    zero_d = [get(dtype) for dtype, ndim in operands if not ndim]
    result = _fold(shaped)
    if zero_d:
        scalar = _fold(zero_d)
        if result is None:
            result = scalar
        elif _CATEGORY[scalar.kind] > _CATEGORY[result.kind]:
            # a real tensor meeting a complex 0-d one keeps its own precision
            result = _complex_of(result) if result.kind == "real floating" and scalar.kind == "complex floating" \
                else _torch_pair(result, scalar)
    return result


def _fold(dtypes_):
    result = None
    for dtype in dtypes_:
        result = dtype if result is None else _torch_pair(result, dtype)
    return result


def can_cast(from_, to, /):
    """Whether the standard's promotion lattice leads from `from_` (a dtype or array) to `to`."""
    source, target = get(getattr(from_, "dtype", from_)), get(to)
    return _promote_pair(source, target) is target


# ---------------------------------------------------------------- machine limits
class finfo_object:
    """Limits of a floating dtype: bits, eps, max, min, smallest_normal, dtype (the real one)."""

    def __init__(self, dtype, bits, eps, max, smallest_normal):
        self.dtype, self.bits, self.eps = dtype, bits, eps
        self.max, self.min, self.smallest_normal = max, -max, smallest_normal

    def __repr__(self):
        return (f"finfo(dtype={self.dtype}, bits={self.bits}, eps={self.eps}, max={self.max}, "
                f"smallest_normal={self.smallest_normal})")


class iinfo_object:
    """Limits of an integer dtype: bits, min, max, dtype."""

    def __init__(self, dtype, bits, min, max):
        self.dtype, self.bits, self.min, self.max = dtype, bits, min, max

    def __repr__(self):
        return f"iinfo(dtype={self.dtype}, bits={self.bits}, min={self.min}, max={self.max})"


# IEEE 754 binary16, binary32, binary64 and bfloat16 (float32's exponent, 7 mantissa bits):
# (bits, mantissa bits, largest exponent)
_IEEE = {"float16": (16, 10, 15), "bfloat16": (16, 7, 127), "float32": (32, 23, 127), "float64": (64, 52, 1023)}


def finfo(type, /):
    """Machine limits of a floating dtype (or of an array's); complex gives its components' limits."""
    dtype = get(getattr(type, "dtype", type))
    if dtype.kind == "complex floating":
        dtype = _BY_NAME[f"float{_width(dtype) // 2}"]
    if dtype.name not in _IEEE:
        raise DtypeError(f"finfo: expects a floating dtype, got {dtype}")
    bits, mantissa, exponent = _IEEE[dtype.name]
    return finfo_object(dtype, bits, 2.0 ** -mantissa, (2 - 2.0 ** -mantissa) * 2.0 ** exponent,
                        2.0 ** (1 - exponent))


def iinfo(type, /):
    """Machine limits of an integer dtype (or of an array's)."""
    dtype = get(getattr(type, "dtype", type))
    if dtype.kind not in ("signed integer", "unsigned integer"):
        raise DtypeError(f"iinfo: expects an integer dtype, got {dtype}")
    bits = _width(dtype)
    if dtype.kind == "unsigned integer":
        return iinfo_object(dtype, bits, 0, 2 ** bits - 1)
    return iinfo_object(dtype, bits, -2 ** (bits - 1), 2 ** (bits - 1) - 1)


# pg.bool and the rest; `bool` names the dtype from here on (the builtin is builtins.bool)
bool, int8, int16, int32, int64 = _BY_NAME["bool"], _BY_NAME["int8"], _BY_NAME["int16"], _BY_NAME["int32"], _BY_NAME["int64"]
uint8, uint16, uint32, uint64 = _BY_NAME["uint8"], _BY_NAME["uint16"], _BY_NAME["uint32"], _BY_NAME["uint64"]
float32, float64, complex64, complex128 = _BY_NAME["float32"], _BY_NAME["float64"], _BY_NAME["complex64"], _BY_NAME["complex128"]

# The two half-precision dtypes outside the standard, for the backends that have them, and
# PyTorch's names for the dtype objects (`x.to(pg.long)`, `dtype=pg.float`): polygrad exports
# those, not this module, where they would shadow the builtins int and float.
float16, bfloat16 = get("float16"), get("bfloat16")


def name_in(obj):
    """The dtype name `obj` stands for ("float64" for a dtype object, its name or a library's dtype), else None.

    `.to(x)` and `Module.to(x)` use it to tell a dtype from a device: device names
    ("cpu", "cuda:1", "device1") are never dtype names.
    """
    if isinstance(obj, str):
        return obj if obj in _KINDS or obj in _EXTRA_KINDS else None
    name = getattr(obj, "name", None)
    if not isinstance(name, str):
        name = str(obj).rsplit(".", 1)[-1].strip("'>")
    return name if name in _KINDS or name in _EXTRA_KINDS else None

TORCH_NAMES = {
    "float": get("float32"), "double": get("float64"), "half": float16, "long": get("int64"),
    "int": get("int32"), "short": get("int16"), "cfloat": get("complex64"), "cdouble": get("complex128"),
}
