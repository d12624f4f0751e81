"""The package as layers: imports run one way, and no module imports the package face.

Read from the source, not from a running interpreter (the package face imports
everything first, so "importing X loads no Y" cannot be observed at run time).
Every `.py` file of `polygrad/` and of `backends/` (shipped as `polygrad.backends`)
is parsed; every import counts, at module level and inside functions alike:
`import polygrad.x`, `from .x import y` (relative names resolved), `from . import x`
(an import of module `x` when `x` is a module, else of the package it names),
`import polygrad` and `from polygrad import name` (imports of the package face),
and `importlib.import_module` / `__import__` called with a literal string.

LAYERS below maps today's modules onto the layers of ../shared/LAYOUT.md, bottom
first. Two rules, each with an allow-list of today's breaches
(tests/import_layers_allowlist.json) that may only shrink:

- `upward`: a module imports a module of a higher layer. The package face is
  the layer just below the command line: only the command line may import it.
- `cycles`: imports between modules of the same layer that lie on a cycle
  (a cycle across layers always has an upward import, so it is caught above;
  when both lists are empty, no import cycle is left among polygrad's modules).

A third rule, `generated`: `globals().update(...)`, `globals()[...] = ...` and
`sys.modules[...] = ...` only in the package face.

Each list is exact: the test fails on a new breach and on an entry that no longer
occurs (then the list is regenerated, and shrinks). After a merge or a move:

    python tests/test_import_layers.py              # report: counts, biggest cycle, what changed
    python tests/test_import_layers.py --regenerate # rewrite the allow-list (refused when it would grow)
    python tests/test_import_layers.py --regenerate --allow-new  # also take in new breaches (after a merge)
"""

import ast
import json
import pathlib
import sys
from collections import defaultdict

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
ALLOWLIST = pathlib.Path(__file__).resolve().parent / "import_layers_allowlist.json"
FACE = "polygrad"

# Today's flat modules -> the layers of LAYOUT.md, bottom first. A module that LAYOUT splits
# (creation, tensor) sits in the lowest layer one of its parts goes to: its imports from above are
# exactly the lines the split must move out. A name ending in ".*" covers a subpackage and its modules.
LAYERS = [
    ("backends", ["polygrad.backends.*"]),
    ("core", ["polygrad.errors", "polygrad._version", "polygrad.dtypes", "polygrad.engine", "polygrad.creation",
              "polygrad.tensor", "polygrad.function", "polygrad.autodiff"]),
    ("distributed", ["polygrad.distributed.*"]),
    ("primitives", ["polygrad.primitives", "polygrad.primitives_linalg", "polygrad.fused", "polygrad.primitives_complex"]),
    ("namespace", ["polygrad.ops", "polygrad.standard", "polygrad.random", "polygrad.array_api", "polygrad.linalg",
                   "polygrad.fft", "polygrad.medians"]),
    ("methods", ["polygrad.inplace", "polygrad.dtype_views", "polygrad.methods", "polygrad.pytorch_face",
                 "polygrad.torch_functions", "polygrad.torch_backends"]),
    ("autodiff", ["polygrad.batching", "polygrad.func",
                  "polygrad.transforms", "polygrad.custom", "polygrad.gradcheck", "polygrad.trace", "polygrad.seed"]),
    ("functional", ["polygrad.functional", "polygrad.activations", "polygrad.convolution", "polygrad.convolution_more",
                    "polygrad.attention"]),
    ("optim", ["polygrad.optim", "polygrad.lr_scheduler", "polygrad.amp.*"]),  # GradScaler steps optimizers
    ("nn", ["polygrad.nn.*", "polygrad.models"]),  # nn.utils re-exports optim's clip_grad_norm_, as torch does
    ("data", ["polygrad.data.*", "polygrad.text", "polygrad.utils"]),
    ("compile", ["polygrad.compile", "polygrad.fusion", "polygrad.guards"]),
    ("io", ["polygrad.checkpoint", "polygrad.serialization"]),
    ("face", [FACE, "polygrad.torch_import"]),  # the hook hands out the face as `torch`
    ("cli", ["polygrad.cli", "polygrad.__main__", "polygrad.commands.*", "polygrad.bench"]),
]


# ---------------------------------------------------------------- reading the source
def package_files():
    """{module name: path} for every file of the package."""
    found = {}
    for top, prefix in ((ROOT / "polygrad", "polygrad"), (ROOT / "backends", "polygrad.backends")):
        for path in sorted(top.rglob("*.py")):
            parts = list(path.relative_to(top).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([prefix, *parts])] = path
    return found


def module_aliases():
    """{dotted path users type: the module it is}, e.g. polygrad.nn.functional -> polygrad.functional.

    The package makes these by assigning sys.modules entries at import time, so they are read there.
    """
    import polygrad  # noqa: F401

    return {name: module.__name__ for name, module in list(sys.modules.items())
            if name.startswith(FACE + ".") and getattr(module, "__name__", name) != name}


class Imports:
    """The import graph: edges[(importer, imported)] = the line numbers of those imports."""

    def __init__(self):
        self.files = package_files()
        self.aliases = module_aliases()
        self.edges = {}
        self.generated = {}  # (module, what) -> line numbers
        for name, path in self.files.items():
            tree = ast.parse(path.read_text(), str(path))
            is_package = path.name == "__init__.py"
            for node in ast.walk(tree):
                for target in self._targets(node, name, is_package):
                    if target != name:
                        self.edges.setdefault((name, target), []).append(node.lineno)
                what = generated_names(node)
                if what:
                    self.generated.setdefault((name, what), []).append(node.lineno)

    def resolve(self, dotted):
        """The package's module that `import dotted` loads (dotted may name an alias or an attribute)."""
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            candidate = self.aliases.get(candidate, candidate)
            if candidate in self.files:
                return candidate
        return None

    def submodule(self, dotted):
        """The module `dotted` names when it names one (`from p import m`), else None (`from p import name`)."""
        dotted = self.aliases.get(dotted, dotted)
        return dotted if dotted in self.files else None

    def _targets(self, node, name, is_package):
        package = name if is_package else name.rpartition(".")[0]
        if isinstance(node, ast.Import):
            return [self.resolve(alias.name) for alias in node.names if alias.name.split(".")[0] == FACE]
        if isinstance(node, ast.ImportFrom):
            base = absolute(node.module, node.level, package)
            if base.split(".")[0] != FACE:
                return []
            return [self.submodule(f"{base}.{alias.name}") or self.resolve(base) for alias in node.names]
        if isinstance(node, ast.Call) and call_name(node.func) in ("import_module", "__import__") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                level = len(first.value) - len(first.value.lstrip("."))
                dotted = absolute(first.value.lstrip(".") or None, level, package)
                if dotted.split(".")[0] == FACE:
                    return [self.resolve(dotted)]
        return []


def absolute(module, level, package):
    """The absolute name of `from <level dots><module> import ...` written in `package`."""
    if level == 0:
        return module
    base = package.split(".")
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def call_name(func):
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def generated_names(node):
    """'globals().update', 'globals()[...] =' or 'sys.modules[...] =' when node is one, else None."""
    def is_globals(expr):
        return isinstance(expr, ast.Call) and getattr(expr.func, "id", None) == "globals"

    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update" \
            and is_globals(node.func.value):
        return "globals().update"
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if isinstance(target, ast.Subscript):
                if is_globals(target.value):
                    return "globals()[...] ="
                value = target.value
                if isinstance(value, ast.Attribute) and value.attr == "modules" and getattr(value.value, "id", None) == "sys":
                    return "sys.modules[...] ="
    return None


# ---------------------------------------------------------------- the layers and the rules
def layer_of(files):
    """{module: (rank, layer name)}; raises naming every module LAYERS does not place."""
    placed, unplaced = {}, []
    for module in files:
        for rank, (layer, patterns) in enumerate(LAYERS):
            if any(module == p or (p.endswith(".*") and (module + ".").startswith(p[:-1])) for p in patterns):
                placed[module] = (rank, layer)
                break
        else:
            unplaced.append(module)
    if unplaced:
        raise AssertionError(f"modules without a layer: {unplaced}; add each to LAYERS in {pathlib.Path(__file__).name}")
    return placed


def strongly_connected(nodes, edges):
    """Tarjan's components of the graph, as sorted lists, largest first; only those on a cycle."""
    succ = defaultdict(list)
    for a, b in edges:
        succ[a].append(b)
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v):  # recursion depth is bounded by the number of modules (~100)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sorted(found, key=lambda c: (-len(c), c))


def breaches(graph):
    """{'upward': [...], 'cycles': [...], 'generated': [...]}, each a sorted list of strings."""
    layers = layer_of(graph.files)
    upward = sorted(f"{a} -> {b}" for a, b in graph.edges if layers[a][0] < layers[b][0])
    same = [(a, b) for a, b in graph.edges if layers[a][1] == layers[b][1]]
    cyclic = set()
    for component in strongly_connected(graph.files, same):
        members = set(component)
        cyclic |= {(a, b) for a, b in same if a in members and b in members}
    return {
        "upward": upward,
        "cycles": sorted(f"{a} -> {b}" for a, b in cyclic),
        "generated": sorted(f"{m}: {what}" for m, what in graph.generated if m != FACE),
    }


def where(graph, entry):
    """'path:line,line' of an entry, for messages."""
    if ": " in entry:
        module, what = entry.split(": ")
        lines = graph.generated[(module, what)]
    else:
        module, target = entry.split(" -> ")
        lines = graph.edges[(module, target)]
    return f"{graph.files[module].relative_to(ROOT)}:{','.join(map(str, sorted(set(lines))))}"


# ---------------------------------------------------------------- the tests
@pytest.fixture(scope="module")
def graph():
    return Imports()


@pytest.mark.parametrize("rule", ["upward", "cycles", "generated"])
def test_allowlist_is_exact(graph, rule):
    allowed = set(json.loads(ALLOWLIST.read_text())[rule])
    now = set(breaches(graph)[rule])
    new = sorted(now - allowed)
    gone = sorted(allowed - now)
    assert not new, (f"new {rule} breaches (see ../shared/LAYOUT.md): cut them; only when merging code that "
                     f"already had them, `python tests/test_import_layers.py --regenerate --allow-new`:\n"
                     + "\n".join(f"  {e}   ({where(graph, e)})" for e in new))
    assert not gone, (f"{rule}: these allow-list entries no longer occur; shrink the list with "
                      f"`python tests/test_import_layers.py --regenerate`:\n" + "\n".join(f"  {e}" for e in gone))


def test_every_module_has_a_layer(graph):
    layer_of(graph.files)


def test_every_package_folder_ships(graph):
    """pyproject.toml lists the packages by hand: a folder the move adds and the list forgets would be
    missing from the installed wheel, while the tests (run from the source tree) still pass."""
    tomllib = pytest.importorskip("tomllib")
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {name for name, path in graph.files.items() if path.name == "__init__.py"}
    assert packages == set(setuptools["packages"])


@pytest.mark.parametrize("module, code, expected", [
    ("polygrad.nn.layers", "def f():\n    from ..ops import add\n", ["polygrad.ops"]),  # inside a function
    ("polygrad.nn.layers", "from .. import functional as F\n", ["polygrad.functional"]),
    ("polygrad.nn", "from . import init, functional\n", ["polygrad.functional", "polygrad.nn.init"]),  # an alias
    ("polygrad.nn.layers", "import polygrad.nn.functional as F\n", ["polygrad.functional"]),
    ("polygrad.tensor", "def f():\n    import polygrad\n", [FACE]),
    ("polygrad.optim", "from polygrad import zeros\n", [FACE]),  # a name of the face
    ("polygrad.optim", "from . import __version__\n", [FACE]),
    ("polygrad.backends.numpy_backend", "from .. import dtypes\nfrom .base import Backend\n",
     ["polygrad.backends.base", "polygrad.dtypes"]),
    ("polygrad.cli", "import importlib\nimportlib.import_module('polygrad.commands.info')\n", ["polygrad.commands.info"]),
    ("polygrad.compile", "import numpy as np\nfrom math import prod\nimportlib.import_module(name)\n", []),
])
def test_reader_sees_every_kind_of_import(graph, module, code, expected):
    is_package = graph.files[module].name == "__init__.py"
    found = {t for node in ast.walk(ast.parse(code)) for t in graph._targets(node, module, is_package)}
    assert sorted(found) == expected


def test_reader_on_the_source(graph):
    assert graph.edges[("polygrad.engine", "polygrad.ops")]  # imported inside run_backward only
    assert graph.edges[("polygrad.commands.train", FACE)]  # `import polygrad as pg`


@pytest.mark.parametrize("code, expected", [
    ("globals().update(x)", "globals().update"),
    ("def f():\n    globals()['a'] = 1", "globals()[...] ="),
    ("sys.modules['p.q'] = m", "sys.modules[...] ="),
    ("x = globals()['a']", None),  # reading is not making names
    ("d.update(x)", None),
    ("modules['a'] = m", None),
])
def test_generated_names_reader(code, expected):
    found = {generated_names(node) for node in ast.walk(ast.parse(code))} - {None}
    assert found == ({expected} if expected else set())


# ---------------------------------------------------------------- report and regeneration
def report(graph, found):
    layers = layer_of(graph.files)
    whole = strongly_connected(graph.files, graph.edges)
    no_face = strongly_connected(graph.files, [(a, b) for a, b in graph.edges if FACE not in (a, b)])
    module_level = strongly_connected(graph.files, module_level_edges(graph))
    lines = [f"{len(graph.files)} modules, {len(graph.edges)} imports between them (any depth)",
             f"upward imports: {len(found['upward'])}; same-layer imports on a cycle: {len(found['cycles'])}; "
             f"generated names outside the face: {len(found['generated'])}",
             f"importers of the face: {sorted(a for a, b in graph.edges if b == FACE)}"]
    for title, components in (("import cycles, any depth", whole), ("the same, leaving out imports of the face", no_face),
                              ("import cycles, module level only (outside function bodies)", module_level)):
        lines.append(f"{title}: {[len(c) for c in components]}")
        for component in components[:2]:
            lines.append("  " + ", ".join(f"{m.removeprefix('polygrad.')}[{layers[m][1]}]" for m in component))
    return "\n".join(lines)


def module_level_edges(graph):
    """The edges made by imports outside any function body (what runs when the module is loaded)."""
    edges = set()
    for name, path in graph.files.items():
        tree = ast.parse(path.read_text())
        stack = list(tree.body)
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            for target in graph._targets(node, name, path.name == "__init__.py"):
                if target != name:
                    edges.add((name, target))
            stack.extend(ast.iter_child_nodes(node))
    return edges


def main(argv):
    graph = Imports()
    found = breaches(graph)
    print(report(graph, found))
    allowed = json.loads(ALLOWLIST.read_text()) if ALLOWLIST.exists() else {}
    for rule, entries in found.items():
        print(f"{rule}:")
        for entry in entries:
            print(f"  {entry}   ({where(graph, entry)})")
    new = 0
    for rule, entries in found.items():
        old = set(allowed.get(rule, []))
        for entry in sorted(set(entries) - old):
            print(f"  new {rule}: {entry}   ({where(graph, entry)})")
            new += 1
        for entry in sorted(old - set(entries)):
            print(f"  gone {rule}: {entry}")
    if "--regenerate" in argv:
        if new and "--allow-new" not in argv:  # the list only shrinks, unless the lead says otherwise
            print(f"not written: {new} new breaches; cut them, or add --allow-new (once, after a merge)")
            return 1
        ALLOWLIST.write_text(json.dumps(found, indent=1) + "\n")
        print(f"wrote {ALLOWLIST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
