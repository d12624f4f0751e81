"""`import torch` answered by polygrad: the import hook behind `polygrad run` and `pg.install_as_torch()`.

While the hook is installed, `import torch`, `import torch.nn as nn`,
`from torch.utils.data import DataLoader`, ... give thin module objects named
as PyTorch names them, whose attributes are polygrad's: `torch.nn.Linear is
pg.nn.Linear`. Nothing of polygrad is renamed or changed; the hook is one entry
on `sys.meta_path` that answers the names `torch` and `torch.*` and nothing else.

Where PyTorch's meaning of a name differs from polygrad's, the table below
says so: `torch.backends` is PyTorch's flags (`torch.backends.cudnn.benchmark`),
not polygrad's backend registry `pg.backends`. A name polygrad lacks fails on
first use with a `NotInPolygrad` error naming it ("torch.foo is not in polygrad").

The real torch cannot live in the same process under the same name: install
the hook before anything imports torch (`install()` refuses otherwise), and
the torch backend is unavailable while it is installed.
"""

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

# PyTorch's module -> where polygrad keeps it ("module:attribute" for an object inside a module).
# Names not listed here resolve through their parent: torch.a.b is torch.a's attribute b if that is a module.
MODULES = {
    "torch": "polygrad",
    "torch.nn": "polygrad.nn",
    "torch.nn.functional": "polygrad.functional",
    "torch.nn.init": "polygrad.nn.init",
    "torch.nn.utils": "polygrad.nn.utils",
    "torch.nn.utils.rnn": "polygrad.nn.rnn_utils",
    "torch.nn.parallel": "polygrad.nn.parallel",
    "torch.nn.parameter": "polygrad.nn.module",
    "torch.nn.modules": "polygrad.nn",
    "torch.nn.modules.module": "polygrad.nn.module",
    "torch.nn.modules.container": "polygrad.nn.module",
    "torch.nn.modules.loss": "polygrad.nn.losses",
    "torch.nn.modules.activation": "polygrad.nn.activation",
    "torch.nn.modules.conv": "polygrad.nn.conv",
    "torch.nn.modules.pooling": "polygrad.nn",
    "torch.nn.modules.padding": "polygrad.nn.conv",
    "torch.nn.modules.rnn": "polygrad.nn.rnn",
    "torch.nn.modules.transformer": "polygrad.nn.transformer",
    "torch.nn.modules.linear": "polygrad.nn.layers",
    "torch.nn.modules.batchnorm": "polygrad.nn.layers",
    "torch.nn.modules.normalization": "polygrad.nn.layers",
    "torch.nn.modules.dropout": "polygrad.nn.layers",
    "torch.nn.modules.sparse": "polygrad.nn",
    "torch.nn.modules.flatten": "polygrad.nn",
    "torch.optim": "polygrad.optim",
    "torch.optim.optimizer": "polygrad.optim.optimizers",
    "torch.optim.lr_scheduler": "polygrad.optim.lr_scheduler",
    "torch.utils": "polygrad.utils",
    "torch.utils.data": "polygrad.data",
    "torch.utils.data.dataloader": "polygrad.data.loader",
    "torch.utils.data.dataset": "polygrad.data.datasets",
    "torch.utils.data.sampler": "polygrad.data.sampler",
    "torch.utils.data.distributed": "polygrad.data.distributed",
    "torch.autograd": "polygrad.core.autograd",
    "torch.distributed": "polygrad.distributed",
    "torch.serialization": "polygrad.io.serialization",
    "torch.random": "polygrad.namespace.random",
    "torch.linalg": "polygrad.namespace.linalg",
    "torch.fft": "polygrad.namespace.fft",
    # PyTorch's meaning, kept apart from polygrad's own names
    "torch.backends": "polygrad.methods.torch_backends",
    "torch.backends.cuda": "polygrad.methods.torch_backends:cuda",
    "torch.backends.cudnn": "polygrad.methods.torch_backends:cudnn",
    "torch.backends.mps": "polygrad.methods.torch_backends:mps",
    "torch.cuda": "polygrad.methods.pytorch_face:cuda",
    "torch.accelerator": "polygrad.methods.torch_backends:accelerator",
    "torch.amp": "polygrad.amp",
    "torch.cuda.amp": "polygrad.amp:cuda",
    "torch.cpu.amp": "polygrad.amp:cpu",
}
# objects (not modules) whose PyTorch name differs from polygrad's
ATTRIBUTES = {
    "torch.trace": "polygrad.methods.torch_functions:trace",  # pg.trace prints a function's traces
    "torch.tril": "polygrad.methods.torch_functions:tril",  # the standard's tril takes k=, torch's diagonal
    "torch.triu": "polygrad.methods.torch_functions:triu",
}


class NotInPolygrad(Exception):
    """A PyTorch name polygrad does not have (raised as NotInPolygradAttribute / NotInPolygradModule)."""


class NotInPolygradAttribute(AttributeError, NotInPolygrad):
    pass


class NotInPolygradModule(ModuleNotFoundError, NotInPolygrad):
    pass


def _missing(name):
    return f"{name} is not in polygrad"


def _target(torch_name):
    """The polygrad object behind `torch_name`, or None where polygrad has none."""
    where = MODULES.get(torch_name)
    if where is None:
        parent, _, child = torch_name.rpartition(".")
        if not parent:
            return None
        found = getattr(_target(parent), child, None)
        return found if isinstance(found, types.ModuleType) else None
    return _resolve(where)


def _resolve(where):
    """The object at "module" or "module:attribute"."""
    module_name, _, attribute = where.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


class TorchModule(types.ModuleType):
    """`torch` or one of its submodules: a name for a polygrad module whose attributes it hands out."""

    __polygrad_alias__ = True

    def __init__(self, name, target):
        super().__init__(name, getattr(target, "__doc__", None))
        self.__path__ = []  # a package: torch.<anything> is looked up through the hook
        object.__setattr__(self, "_target", target)

    def __getattr__(self, attribute):
        if attribute.startswith("__") and attribute != "__version__":
            raise AttributeError(attribute)  # copy, pickle, inspect probe these: a plain "no" is the answer
        full = f"{self.__name__}.{attribute}"
        if full in MODULES:
            value = importlib.import_module(full)
        elif full in ATTRIBUTES:
            value = _resolve(ATTRIBUTES[full])
        else:
            try:
                value = getattr(self._target, attribute)
            except AttributeError:
                raise NotInPolygradAttribute(_missing(full), name=attribute, obj=self) from None
            if isinstance(value, types.ModuleType) and value.__name__.startswith("polygrad"):
                value = importlib.import_module(full)  # its torch name, so that torch.a.b is sys.modules["torch.a.b"]
        setattr(self, attribute, value)  # found once: later lookups are plain attribute reads
        return value

    def __dir__(self):
        return sorted(set(dir(self._target)) | set(self.__dict__))


class _Loader(importlib.abc.Loader):
    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        return TorchModule(spec.name, self.target)

    def exec_module(self, module):
        pass  # everything is looked up on demand


class _Finder(importlib.abc.MetaPathFinder):
    """Answers `torch` and `torch.*` (and only those) with polygrad's modules."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        found = _target(fullname)
        if found is None:
            raise NotInPolygradModule(_missing(fullname), name=fullname)
        return importlib.machinery.ModuleSpec(fullname, _Loader(found), is_package=True)


FINDER = _Finder()


def install():
    """From now on in this process, `import torch` (and `torch.*`) gives polygrad; see the module's docstring.

    Refuses when the real torch is already imported: both cannot answer to the name `torch`.
    """
    if FINDER in sys.meta_path:
        return
    real = sys.modules.get("torch")
    if real is not None and not isinstance(real, TorchModule):
        raise RuntimeError("install_as_torch: the real torch is already imported in this process; "
                           "call polygrad.install_as_torch() before anything imports torch (or use `polygrad run`)")
    sys.meta_path.insert(0, FINDER)


def installed():
    return FINDER in sys.meta_path
