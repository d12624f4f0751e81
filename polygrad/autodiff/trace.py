"""Show the work, as the seed does: the forward, tangent and adjoint traces of f.

    t = polygrad.trace(lambda x1, x2: pg.log(x1) + x1 * x2 - pg.sin(x2), 2.0, 5.0)
    print(t)        # three aligned tables: v_i, v̇_i = dv_i/dx1 and v̄_i = dy/dv_i
    t.to_dot()      # the computational graph in Graphviz DOT

Nothing is recomputed by hand. f runs once, in forward mode, on inputs that
are leaves of the tape: the Operations reachable from the output are the
rows, and each intermediate already carries its tangent, pushed by its
primitive's jvp rules. One reverse pass of the engine from the output fills
the gradient buffer with every intermediate's adjoint. The per-edge terms
shown beside a row are the same jvp and vjp rules applied to that one edge.

Rows are numbered in a topological order: by depth (the longest path from the
inputs), then left operands before right ones, which gives the seed's numbering.
"""

import shutil
import subprocess
import unicodedata

from .. import backends
from ..namespace.ops import asarray
from ..core.engine import forward_mode, pullback, push_tangent, run_backward, toposort, unbroadcast
from ..core.tensor import Tensor

_INFIX = {"add": "+", "subtract": "−", "multiply": "×", "divide": "/", "pow": "^", "matmul": "@"}
_PREFIX = {"negative": "−", "log": "ln "}
_DOT = "\u0307"  # combining dot above: v̇
_BAR = "\u0304"  # combining macron: v̄


class _Node:
    """One value of the trace: an input, an intermediate (with its op), or a constant."""

    def __init__(self, tensor, label, expression="", op=None, inputs=()):
        self.tensor = tensor
        self.label = label
        self.expression = expression
        self.op = op
        self.inputs = inputs
        self.adjoint = None
        self.consumers = []  # (node, input position) pairs


def trace(f, *args, names=None, direction=0):
    """Run f on `args` and record its forward, tangent and adjoint traces.

    args are numbers or Tensors (numbers become float64 tensors on the default
    backend); names default to x1, x2, ...; `direction` (an input's name or
    position) is the input the tangent trace differentiates along (its tangent
    is all ones, the others' zeros). For a non-scalar output the adjoints are
    those of its sum.
    """
    names = list(names) if names is not None else [f"x{i + 1}" for i in range(len(args))]
    if len(names) != len(args):
        raise ValueError(f"trace: {len(args)} inputs but {len(names)} names")
    if isinstance(direction, str) and direction not in names:
        raise ValueError(f"trace: direction {direction!r} is not an input; inputs: {', '.join(names)}")
    along = names.index(direction) if isinstance(direction, str) else direction
    leaves = []
    for position, value in enumerate(args):
        x = value if isinstance(value, Tensor) else asarray(value, dtype="float64")
        leaf = Tensor._wrap(x.array, x.device).requires_grad_()
        seed = x.xp.ones_like if position == along else x.xp.zeros_like
        leaf.tangent = seed(x.array)
        leaves.append(leaf)
    with forward_mode():
        out = f(*leaves)
    return Trace(leaves, names, names[along], out if isinstance(out, Tensor) else asarray(out))


class Trace:
    """The three traces of one evaluation; `str()` prints them, `to_dot()` draws the graph.

    value       the output Tensor
    tangent     its tangent along `direction`
    gradients   the adjoints of the inputs, one Tensor each
    """

    def __init__(self, leaves, names, direction, out):
        self.direction = direction
        self.nodes = [_Node(leaf, f"v{i + 1}", name) for i, (leaf, name) in enumerate(zip(leaves, names))]
        self.constants = []
        self.output = self._record(out)
        if out.requires_grad:
            ones = out.xp.ones(out.shape, dtype=out.array.dtype, device=out.device.native)
            buffer, _ = run_backward([out], [ones], retain_graph=True)
            for node in self.nodes:
                node.adjoint = buffer.get(id(node.tensor))
        self.value = out.detach()
        self.tangent = Tensor._wrap(_tangent(out), out.device)
        self.gradients = tuple(Tensor._wrap(_adjoint(node), node.tensor.device) for node in self.nodes[:len(leaves)])

    # ---- reading the tape ------------------------------------------------
    def _record(self, out):
        """Number every value reachable from `out`; returns the output's node."""
        by_id = {id(node.tensor): node for node in self.nodes}
        depth = {id(node.tensor): 0 for node in self.nodes}
        found = []
        for tensor in toposort([out], requiring_grad_only=False):
            if id(tensor) in by_id:
                continue
            if tensor._op is None:
                node = _Node(tensor, _number(tensor, "g"))
                self.constants.append(node)
            else:
                inputs = [by_id[id(t)] for t in tensor._op.inputs]
                node = _Node(tensor, "", op=tensor._op, inputs=inputs)
                depth[id(tensor)] = 1 + max(depth.get(id(t), 0) for t in tensor._op.inputs)
                found.append(node)
            by_id[id(tensor)] = node
        found.sort(key=lambda node: depth[id(node.tensor)])  # stable: ties keep the walk's left-to-right order
        for node in found:
            node.label = f"v{len(self.nodes) + 1}"
            node.expression = _expression(node)
            for position, parent in enumerate(node.inputs):
                parent.consumers.append((node, position))
            self.nodes.append(node)
        return by_id[id(out)]

    # ---- the three tables -------------------------------------------------
    def forward_rows(self):
        """(v_i, its primitive and operands, primitive name, value) in evaluation order."""
        rows = [(node.label, node.expression, node.op.primitive.name if node.op else "input",
                 _number(node.tensor.array)) for node in self.nodes]
        rows.append(("y", self.output.label, "", _number(self.output.tensor.array)))
        return rows

    def tangent_rows(self):
        """(v̇_i, its chain-rule sum, primitive, the sum's terms, value) in evaluation order."""
        rows = []
        for node in self.nodes:
            if node.op is None:
                rows.append((_dotted(node), f"∂{node.expression}/∂{self.direction}", "input", "",
                             _number(_tangent(node.tensor))))
                continue
            parts, terms = [], []
            for position, parent in enumerate(node.inputs):
                if parent.op is not None or parent.tensor.tangent is not None:
                    parts.append(f"{_dotted(parent)} ∂{node.label}/∂{parent.label}")
                    terms.append(_edge_tangent(node, position))
            rows.append((_dotted(node), " + ".join(parts), node.op.primitive.name,
                         _sum_text(terms), _number(_tangent(node.tensor))))
        return rows

    def adjoint_rows(self):
        """(v̄_i, its sum over consumers, their primitives, the terms, value) in reverse order."""
        rows = []
        for node in reversed(self.nodes):
            if node is self.output:
                rows.append((_barred(node), f"∂y/∂{node.label}", "", "", _number(_adjoint(node))))
                continue
            parts = [f"{_barred(user)} ∂{user.label}/∂{node.label}" for user, _ in node.consumers]
            terms = [_edge_adjoint(user, position) for user, position in node.consumers]
            primitives = ", ".join(dict.fromkeys(user.op.primitive.name for user, _ in node.consumers))
            rows.append((_barred(node), " + ".join(parts) or "0", primitives, _sum_text(terms),
                         _number(_adjoint(node))))
        return rows

    def __str__(self):
        forward = _table(self.forward_rows(), lambda r: [r[0], "=", r[1], f" {r[2]}", "=", r[3]])
        chain = lambda r: [r[0], "=", r[1], f" {r[2]}", "=" if r[3] else "", r[3], "=", r[4]]  # noqa: E731
        tangent = _table(self.tangent_rows(), chain)
        adjoint = _table(self.adjoint_rows(), chain)
        return (
            f"Forward evaluation trace\n{forward}\n\n"
            f"Forward-mode tangent trace, v{_DOT}i = ∂vi/∂{self.direction}\n{tangent}\n\n"
            f"Reverse adjoint trace, v{_BAR}i = ∂y/∂vi\n{adjoint}"
        )

    # ---- the graph ----------------------------------------------------------
    def to_dot(self):
        """The computational graph in Graphviz DOT: values, tangents and adjoints on the nodes."""
        lines = ["digraph trace {", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
        for node in self.nodes:
            label = _dot_label(f"{node.label} = {node.expression}", _number(node.tensor.array),
                               f"v{_DOT} {_number(_tangent(node.tensor))}   v{_BAR} {_number(_adjoint(node))}")
            lines.append(f'  {node.label} [label="{label}"];')
        for i, node in enumerate(self.constants):
            lines.append(f'  c{i + 1} [label="{_dot_label(node.label)}", shape=plaintext];')
        ids = {id(node): node.label for node in self.nodes}
        ids.update({id(node): f"c{i + 1}" for i, node in enumerate(self.constants)})
        for node in self.nodes:
            for parent in node.inputs:
                lines.append(f"  {ids[id(parent)]} -> {node.label};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def render(self, path):
        """Draw the graph to `path` (.png, .svg, .pdf) with Graphviz's `dot` program."""
        program = shutil.which("dot")
        if program is None:
            raise RuntimeError("render: Graphviz's `dot` program is not installed; save to_dot() and draw it elsewhere")
        kind = path.rsplit(".", 1)[-1]
        subprocess.run([program, f"-T{kind}", "-o", path], input=self.to_dot(), text=True, check=True)


# ---------------------------------------------------------------- helpers
def _expression(node):
    """The primitive and its operands: `ln v1`, `v1 × v2`, `sum(v3, axis=0)`."""
    name, operands = node.op.primitive.name, [parent.label for parent in node.inputs]
    if name in _INFIX and len(operands) == 2:
        return f"{operands[0]} {_INFIX[name]} {operands[1]}"
    if len(operands) == 1 and not node.op.params:
        return f"{_PREFIX.get(name, name + ' ')}{operands[0]}"
    options = [f"{key}={value!r}" for key, value in node.op.params.items()]
    return f"{name}({', '.join(operands + options)})"


def _edge_tangent(node, position):
    """∂node/∂input · v̇_input: the node's jvp rule for that one input."""
    op, out = node.op, node.tensor
    tangents = [t.tangent if i == position else None for i, t in enumerate(op.inputs)]
    return push_tangent(op.primitive, out.xp, tangents, [t.array for t in op.inputs], out.array, op.params)


def _edge_adjoint(user, position):
    """v̄_user ∂user/∂input: the user's vjp rule for that one input."""
    op, out = user.op, user.tensor
    if user.adjoint is None:
        return None
    grads = pullback(op.primitive, out.xp, user.adjoint, out.array, [t.array for t in op.inputs], op.params)
    return unbroadcast(out.xp, grads[position], op.inputs[position].shape)


def _tangent(tensor):
    return tensor.tangent if tensor.tangent is not None else tensor.xp.zeros_like(tensor.array)


def _adjoint(node):
    return node.adjoint if node.adjoint is not None else node.tensor.xp.zeros_like(node.tensor.array)


def _dotted(node):
    return f"v{_DOT}{node.label[1:]}"


def _barred(node):
    return f"v{_BAR}{node.label[1:]}"


def _sum_text(terms):
    """The terms of a chain-rule sum, `5.000 + 0.000` or `2.000 − 0.284`; empty for one term."""
    shown = [_number(t) for t in terms if t is not None]
    if len(shown) < 2:
        return ""
    return shown[0] + "".join(f" − {t[1:]}" if t.startswith("-") else f" + {t}" for t in shown[1:])


def _number(data, spec=".3f", limit=6):
    """A value as text: 3 decimals; arrays as nested lists, long ones cut short."""
    if isinstance(data, Tensor):
        data = data.array
    host = backends.find_for_array(data).to_host(data)
    values = host.tolist()

    def text(value):
        if isinstance(value, list):
            items = [text(v) for v in value[:limit]]
            return "[" + ", ".join(items + (["…"] if len(value) > limit else [])) + "]"
        shown = format(value, spec)
        return shown[1:] if shown.startswith("-") and float(shown) == 0 else shown

    return text(values)


def _width(text):
    """Columns the text takes on screen: combining marks take none."""
    return sum(0 if unicodedata.combining(c) else 1 for c in text)


def _table(rows, cells):
    """Rows laid out in aligned columns; numbers in the last column right-aligned."""
    grid = [cells(row) for row in rows]
    widths = [max(_width(line[i]) for line in grid) for i in range(len(grid[0]))]
    lines = []
    for line in grid:
        padded = [
            " " * (w - _width(c)) + c if i == len(line) - 1 else c + " " * (w - _width(c))
            for i, (c, w) in enumerate(zip(line, widths))
        ]
        lines.append("  " + " ".join(padded).rstrip())
    return "\n".join(lines)


def _dot_label(*lines):
    """Lines of text as one quoted-string body of DOT."""
    return "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
