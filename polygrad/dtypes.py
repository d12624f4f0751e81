"""polygrad's own dtype objects, one per dtype of the Array API standard.

`Tensor.dtype` is one of these on every backend (`x.dtype == pg.float32` holds on
numpy, cupy, torch and array-api-strict alike); the raw array `x.data` keeps its
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


def name_of(dtype):
    """'float32' for pg.float32, "float32", numpy.float32 and every library's float32 dtype."""
    if isinstance(dtype, (DType, str)):
        return str(dtype)
    if isinstance(dtype, type):  # numpy's scalar types: numpy.float32
        return dtype.__name__
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


globals().update({name: _BY_NAME[name] for name in STANDARD})
