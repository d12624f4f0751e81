"""The public API, written down: moving code between modules must not take a name away from users.

tests/api_snapshot.json holds, for every module path users type (PUBLIC_MODULES), whether
`import <path>` works and the names its dir() shows, each with what it is: a module, a class, a
callable with its parameters (names, kinds, which have defaults), or a value's type. For every
public class (pg.Tensor, pg.nn.Linear, pg.optim.Adam, ...) it holds the public bases and the
members with their parameters. Leaving out: names starting with "_" (but the dunders a polygrad
class or module defines, such as Tensor.__add__ or pg.__version__, count), and imported modules and
functions of other libraries (pg.linalg.math). Implementation modules that happen to be attributes
(polygrad.core.engine, polygrad.namespace.ops) are not API and are not recorded.

The test fails when a recorded name disappears, a module path no longer imports, a class loses a
public base, or a signature changes in a way that can break a caller (a parameter gone, renamed,
reordered, of another kind, or one that had a default now without one). Additions pass: a new name,
a new parameter with a default. Additions and removals are listed by

    python tests/test_api_snapshot.py              # what differs from the snapshot
    python tests/test_api_snapshot.py --regenerate # take in additions (refused when something broke)
    python tests/test_api_snapshot.py --regenerate --accept-removals  # a removal on purpose
"""

import importlib
import inspect
import json
import pathlib
import sys
import types

import pytest

import polygrad as pg

SNAPSHOT = pathlib.Path(__file__).resolve().parent / "api_snapshot.json"

# The module paths users type: `import polygrad.nn.functional as F`, `from polygrad.utils.data import DataLoader`,
# `pg.autograd.grad(...)`. One that does not import today (pg.autograd is an attribute only) is recorded so.
PUBLIC_MODULES = [
    "polygrad", "polygrad.autograd", "polygrad.backends", "polygrad.checkpoint", "polygrad.custom", "polygrad.data",
    "polygrad.distributed", "polygrad.dtypes", "polygrad.fft", "polygrad.functional", "polygrad.linalg",
    "polygrad.nn", "polygrad.nn.functional", "polygrad.nn.init", "polygrad.nn.parallel", "polygrad.nn.utils",
    "polygrad.nn.utils.rnn", "polygrad.optim", "polygrad.optim.lr_scheduler", "polygrad.random", "polygrad.text",
    "polygrad.utils", "polygrad.utils.data",
]
# what every module has, not API
MODULE_DUNDERS = {"__builtins__", "__cached__", "__doc__", "__file__", "__loader__", "__name__", "__package__",
                  "__path__", "__spec__", "__all__", "__getattr__", "__dir__"}
CLASS_DUNDERS = {"__dict__", "__doc__", "__module__", "__qualname__", "__slots__", "__weakref__", "__annotations__",
                 "__init_subclass__", "__subclasshook__", "__class_getitem__", "__abstractmethods__", "__orig_bases__",
                 "__dataclass_fields__", "__dataclass_params__", "__match_args__", "__hash__"}


# ---------------------------------------------------------------- describing what is there
def by_path(path):
    """The object at a dotted path: attributes from the package face down (pg.autograd is no importable module)."""
    obj = pg
    for part in path.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def importable(path):
    try:
        importlib.import_module(path)
    except ImportError:
        return False
    return True


def parameters(obj):
    """'x, /, axis=, *, keepdims=' (names, kinds, which have a default), or None when Python cannot tell."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    return str(signature.replace(parameters=[p.replace(default=None if p.default is not p.empty else p.empty,
                                                       annotation=p.empty) for p in signature.parameters.values()],
                                 return_annotation=inspect.Signature.empty))[1:-1].replace("=None", "=")


def ours(obj):
    """True for polygrad's functions and classes (and plain values); False for another library's."""
    module = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None)
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, type, types.ModuleType)):
        return isinstance(module, str) and module.split(".")[0] == "polygrad"
    return True


def describe(obj, raw=None):
    """What a name is: 'module', 'class(...)', '(...)' for a callable, or a value's type name."""
    if isinstance(raw, (property, types.MemberDescriptorType, types.GetSetDescriptorType)):
        return "attribute"
    if isinstance(obj, types.ModuleType):
        return "module"
    if isinstance(obj, type):
        return f"class({parameters(obj) or '...'})"
    if callable(obj):
        found = parameters(obj)
        return "callable" if found is None else f"({found})"
    return type(obj).__name__


def public_names(namespace, dunders_left_out):
    return sorted(n for n in namespace if not n.startswith("_") or (n.startswith("__") and n.endswith("__")
                                                                      and n not in dunders_left_out))


def current():
    """The snapshot of the package as it is now."""
    modules = {path: by_path(path) for path in PUBLIC_MODULES}
    public_ids = {id(m) for m in modules.values()}
    snapshot = {"modules": {}, "classes": {}}
    classes = {}  # id -> (path, class), first path in sorted order wins
    for path, module in modules.items():
        names = {}
        for name in public_names(dir(module), MODULE_DUNDERS):
            value = getattr(module, name)
            if isinstance(value, types.ModuleType) and id(value) not in public_ids or not ours(value):
                continue
            names[name] = describe(value)
            if isinstance(value, type) and value.__module__.split(".")[0] == "polygrad":
                classes.setdefault(id(value), (f"{path}.{name}", value))
        snapshot["modules"][path] = {"import": importable(path), "names": names}
    canonical = {id(cls): path for path, cls in classes.values()}
    for path, cls in sorted(classes.values(), key=lambda pc: pc[0]):
        snapshot["classes"][path] = describe_class(cls, canonical)
    return snapshot


def describe_class(cls, canonical):
    """Public bases, and the members defined in the class or in bases that are not public classes themselves."""
    members = {}
    for base in cls.__mro__:
        if base is object or base.__module__.split(".")[0] != "polygrad" or (base is not cls and id(base) in canonical):
            continue
        for name in public_names(vars(base), CLASS_DUNDERS):
            if name not in members:
                members[name] = describe(getattr(cls, name, None), vars(base)[name])
    bases = sorted(canonical[id(b)] for b in cls.__mro__[1:] if id(b) in canonical)
    return {"bases": bases, "members": dict(sorted(members.items()))}


# ---------------------------------------------------------------- comparing
def split_parameters(text):
    """[(name, kind, has_default)] from parameters()'s string; kind: 'positional', 'either', '*', 'keyword', '**'."""
    found, kind = [], "either"
    parts = [p for p in text.split(", ") if p]
    if "/" in parts:
        found = [(p.rstrip("="), "positional", p.endswith("=")) for p in parts[: parts.index("/")]]
        parts = parts[parts.index("/") + 1:]
    for p in parts:
        if p == "*":
            kind = "keyword"
        elif p.startswith("**"):
            found.append((p[2:], "**", False))
        elif p.startswith("*"):
            found.append((p[1:], "*", False))
            kind = "keyword"
        else:
            found.append((p.rstrip("="), kind, p.endswith("=")))
    return found


def compatible(old, new):
    """None when every call that worked with `old` works with `new`, else why not."""
    if old == new:
        return None
    is_class = [d.startswith("class(") for d in (old, new)]
    if not all(d.startswith(("(", "class(")) for d in (old, new)) or is_class[0] != is_class[1] \
            or "(...)" in (old[-5:], new[-5:]):  # (...): a class Python cannot read the parameters of
        return f"was {old}, now {new}"
    before = split_parameters(old[old.index("(") + 1:-1])
    after = split_parameters(new[new.index("(") + 1:-1])
    matched = []  # (the new parameter an old one's arguments land on, whether the old one had a default)
    new_positional = [p for p in after if p[1] in ("positional", "either")]
    for i, (name, kind, default) in enumerate(p for p in before if p[1] in ("positional", "either")):
        # by position it must land on a parameter at the same place; by name (kind "either"), on the same name
        if i >= len(new_positional) or (kind == "either" and new_positional[i][:2] != (name, "either")):
            return f"parameter {name!r} ({kind}, position {i}): was {old}, now {new}"
        matched.append((new_positional[i], default))
    for name, kind, default in before:
        if kind in ("*", "**"):
            found = [p for p in after if p[1] == kind]
        elif kind == "keyword":
            found = [p for p in after if p[0] == name and p[1] in ("keyword", "either")]
        else:
            continue
        if not found:
            return f"parameter {name!r} ({kind}): was {old}, now {new}"
        matched.append((found[0], default))
    lost = [p[0] for p, had in matched if had and not p[2]]
    if lost:
        return f"parameters {lost} lost their defaults: was {old}, now {new}"
    required = [p[0] for p in after if not p[2] and p[1] not in ("*", "**") and p not in [m for m, _ in matched]]
    if required:
        return f"new required parameters {required}: was {old}, now {new}"
    return None


def differences(old, new):
    """(removed or broken: [str], added: [str])."""
    broken, added = [], []
    for kind in ("modules", "classes"):
        field = "names" if kind == "modules" else "members"
        for path, entry in old[kind].items():
            if path not in new[kind]:
                broken.append(f"{path}: gone")
                continue
            now = new[kind][path]
            if kind == "modules" and entry["import"] and not now["import"]:
                broken.append(f"import {path}: no longer works")
            if kind == "classes":
                broken += [f"{path}: no longer a subclass of {b}" for b in entry["bases"] if b not in now["bases"]]
            for name, what in entry[field].items():
                if name not in now[field]:
                    broken.append(f"{path}.{name}: gone (was {what})")
                elif (why := compatible(what, now[field][name])) is not None:
                    broken.append(f"{path}.{name}: {why}")
                elif what != now[field][name]:
                    added.append(f"{path}.{name}: {what} -> {now[field][name]}")
            added += [f"{path}.{name}: new" for name in now[field] if name not in entry[field]]
        added += [f"{path}: new" for path in new[kind] if path not in old[kind]]
    return broken, added


# ---------------------------------------------------------------- the tests
def test_public_api_is_still_there():
    broken, _ = differences(json.loads(SNAPSHOT.read_text()), current())
    assert not broken, ("the public API lost names or changed signatures (if on purpose, say so in the README and "
                        "run `python tests/test_api_snapshot.py --regenerate`):\n  " + "\n  ".join(broken))


@pytest.mark.parametrize("old, new, ok", [
    ("(x, /, *, axis=)", "(x, /, *, axis=)", True),
    ("(x, /, *, axis=)", "(x, /, *, axis=, keepdims=)", True),  # a new keyword with a default
    ("(x, /, *, axis=)", "(x, /, *, axis=, keepdims)", False),  # a new required keyword
    ("(x, /, *, axis=)", "(x, /, *, axis)", False),  # the default is gone
    ("(x, /, *, axis=)", "(x, /, *, dim=)", False),  # renamed
    ("(x, /, *, axis=)", "(x, /, axis=)", True),  # keyword-only may now come by position too
    ("(x, /, axis=)", "(x, /, *, axis=)", False),  # no longer by position
    ("(x, /)", "(input, /)", True),  # a positional-only name is no caller's business
    ("(x, /)", "(input)", True),
    ("(a, b)", "(b, a)", False),
    ("(x, *args, **kwargs)", "(x, *shape, **options)", True),
    ("(x, *args)", "(x)", False),
    ("(input, dim=)", "(input, dim=, keepdim=)", True),
    ("(input, dim=)", "(dim=, input=)", False),  # reordered
    ("(a, b)", "(a, b, *rest)", True),
    ("class(in_features, out_features, bias=)", "(in_features, out_features, bias=)", False),  # no longer a class
    ("float", "int", False),
])
def test_signature_comparison(old, new, ok):
    assert (compatible(old, new) is None) == ok


def test_additions_pass_and_removals_fail():
    old = {"modules": {"polygrad": {"import": True, "names": {"f": "(x)", "g": "(x)"}}},
           "classes": {"polygrad.C": {"bases": ["polygrad.B"], "members": {"m": "(self)"}}}}
    grown = {"modules": {"polygrad": {"import": True, "names": {"f": "(x, y=)", "g": "(x)", "h": "(x)"}},
                         "polygrad.new": {"import": True, "names": {}}},
             "classes": {"polygrad.C": {"bases": ["polygrad.A", "polygrad.B"], "members": {"m": "(self)", "n": "(self)"}}}}
    broken, added = differences(old, grown)
    assert broken == []
    assert added == ["polygrad.f: (x) -> (x, y=)", "polygrad.h: new", "polygrad.new: new", "polygrad.C.n: new"]
    shrunk = {"modules": {"polygrad": {"import": False, "names": {"f": "(x)"}}},
              "classes": {"polygrad.C": {"bases": [], "members": {}}}}
    broken, added = differences(old, shrunk)
    assert broken == ["import polygrad: no longer works", "polygrad.g: gone (was (x))",
                      "polygrad.C: no longer a subclass of polygrad.B", "polygrad.C.m: gone (was (self))"]
    assert added == []


def test_snapshot_reads_what_users_see():
    """The reader itself: parameters as written, another library's names left out, dunders of ours in."""
    assert parameters(lambda x, /, y=2, *args, z, w=None, **kw: None) == "x, /, y=, *args, z, w=, **kw"
    snapshot = current()
    assert snapshot["modules"]["polygrad.nn.functional"]["names"] == snapshot["modules"]["polygrad.functional"]["names"]
    assert "math" not in snapshot["modules"]["polygrad.linalg"]["names"]
    assert "engine" not in snapshot["modules"]["polygrad"]["names"]
    assert snapshot["modules"]["polygrad"]["names"]["nn"] == "module"
    assert "__add__" in snapshot["classes"]["polygrad.Tensor"]["members"]
    assert snapshot["classes"]["polygrad.nn.Linear"]["bases"] == ["polygrad.nn.Module"]


# ---------------------------------------------------------------- report and regeneration
def main(argv):
    now = current()
    broken = []
    if SNAPSHOT.exists():
        broken, added = differences(json.loads(SNAPSHOT.read_text()), now)
        print(f"{len(broken)} removed or changed incompatibly, {len(added)} added or extended")
        for line in broken:
            print(f"  broken: {line}")
        for line in added:
            print(f"  added:  {line}")
    if "--regenerate" in argv:
        if broken and "--accept-removals" not in argv:
            print("not written: the API lost what is listed as broken; restore it, or add --accept-removals "
                  "(and say so in the README)")
            return 1
        SNAPSHOT.write_text(json.dumps(now, indent=0, sort_keys=True) + "\n")
        names = sum(len(m["names"]) for m in now["modules"].values())
        members = sum(len(c["members"]) for c in now["classes"].values())
        print(f"wrote {SNAPSHOT.name}: {len(now['modules'])} modules ({names} names), "
              f"{len(now['classes'])} classes ({members} members)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
