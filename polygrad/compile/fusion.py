"""Elementwise fusion of a compiled program: runs of elementwise calls between matmuls become one kernel.

`pg.compile(fn, fuse=True)` hands each recorded program to `fusions()`. A group
is a run of consecutive calls that are all elementwise (the functions in
_ELEMENTWISE, from the forward and vjp rules alike), pure, and produce arrays
of one shape (their operands may broadcast to it). Each group renders the same
small expression list two ways:

  cuda()     the three strings of a CuPy ElementwiseKernel (in_params,
             out_params, operation): one pass over memory for the whole group;
  python()   the same expressions as a Python function of an array namespace,
             which the CPU tests evaluate with NumPy against the unfused program.

A backend that compiles kernels (`Backend.elementwise_kernel`, CuPy) replays a
group as one call; on the others the groups are only reported.
"""

import re

# recorded function name -> (C expression, Python expression) of its operands {0}, {1}, {2}
_ELEMENTWISE = {
    "add": ("({0} + {1})", "({0} + {1})"),
    "subtract": ("({0} - {1})", "({0} - {1})"),
    "multiply": ("({0} * {1})", "({0} * {1})"),
    "divide": ("({0} / {1})", "({0} / {1})"),
    "negative": ("(-{0})", "(-{0})"),
    "exp": ("exp({0})", "xp.exp({0})"),
    "log": ("log({0})", "xp.log({0})"),
    "tanh": ("tanh({0})", "xp.tanh({0})"),
    "sin": ("sin({0})", "xp.sin({0})"),
    "cos": ("cos({0})", "xp.cos({0})"),
    "sqrt": ("sqrt({0})", "xp.sqrt({0})"),
    "maximum": ("max({0}, {1})", "xp.maximum({0}, {1})"),
    "minimum": ("min({0}, {1})", "xp.minimum({0}, {1})"),
    "where": ("({0} ? {1} : {2})", "xp.where({0}, {1}, {2})"),
    "greater": ("({0} > {1})", "({0} > {1})"),
    "less": ("({0} < {1})", "({0} < {1})"),
}
# Python's operators, as the Tracer records them (r...: reflected, operands swapped)
for _op, _name in [("add", "add"), ("sub", "subtract"), ("mul", "multiply"), ("truediv", "divide"),
                   ("gt", "greater"), ("lt", "less"), ("neg", "negative")]:
    _ELEMENTWISE[_op] = _ELEMENTWISE[_name]
    if _op not in ("gt", "lt", "neg"):
        _ELEMENTWISE["r" + _op] = tuple(t.replace("{0}", "{x}").replace("{1}", "{0}").replace("{x}", "{1}")
                                        for t in _ELEMENTWISE[_name])

_C_TYPES = {"float32": "float", "float64": "double", "bool": "bool", "int32": "int", "int64": "long long"}
_NAME = re.compile(r"^[avs]\d+$")


class Call:
    """What fusion needs of one recorded call: its function, operands (names or literals), output and its type."""

    def __init__(self, function, operands, output, shape, dtype):
        self.function, self.operands, self.output, self.shape, self.dtype = function, operands, output, shape, dtype


class Group:
    """A fused run: `inputs` (names, in order) -> `outputs` (the names used after it), by `calls`."""

    def __init__(self, calls, inputs, outputs, types):
        self.calls, self.inputs, self.outputs, self.types = calls, inputs, outputs, types
        self.name = f"polygrad_fused_{'_'.join(c.function for c in calls)[:40]}"

    def cuda(self):
        """(in_params, out_params, operation) for cupy.ElementwiseKernel."""
        params = lambda names: ", ".join(f"{self.types[n]} {n}" for n in names)  # noqa: E731
        lines = []
        for call in self.calls:
            c_type = _C_TYPES[call.dtype]
            operands = [_c_literal(o, call.dtype) for o in call.operands]
            value = _ELEMENTWISE[call.function][0].format(*operands)
            declare = "" if call.output in self.outputs else f"{c_type} "
            lines.append(f"{declare}{call.output} = {value};")
        return params(self.inputs), params(self.outputs), "\n".join(lines)

    def python(self):
        """The same expressions as source of `fused(xp, *inputs) -> outputs`."""
        lines = [f"def fused(xp, {', '.join(self.inputs)}):"]
        lines += [f"    {c.output} = {_ELEMENTWISE[c.function][1].format(*c.operands)}" for c in self.calls]
        lines.append(f"    return ({''.join(n + ', ' for n in self.outputs)})")
        return "\n".join(lines) + "\n"

    def evaluate(self, xp, *arrays):
        """Run python() on the namespace `xp` (NumPy in the tests)."""
        namespace = {}
        exec(self.python(), namespace)
        return namespace["fused"](xp, *arrays)


def _c_literal(operand, dtype):
    if _NAME.match(operand) or dtype != "float32":
        return operand
    return operand + "f" if re.fullmatch(r"-?\d+\.\d*(e-?\d+)?|-?\d+e-?\d+", operand) else operand


def fusions(calls, used_after):
    """The groups of >= 2 consecutive fusible `calls` (None marks a call that is not: a matmul, a write).

    `used_after(name, index)`: whether the program needs `name` after call `index`
    (a later call, a write-back or the result).
    """
    groups, run = [], []
    for index, call in enumerate([*calls, None]):
        if call is not None and (not run or call.shape == run[0][1].shape):
            run.append((index, call))
            continue
        if len(run) >= 2:
            groups.append(_group(run, used_after))
        run = [] if call is None else [(index, call)]
    return groups


def _group(run, used_after):
    made = {call.output for _, call in run}
    inputs, types = [], {}
    for _, call in run:
        types[call.output] = call.dtype
        for operand in call.operands:
            if _NAME.match(operand) and operand not in made and operand not in inputs:
                inputs.append(operand)
    last = run[-1][0]
    outputs = [call.output for _, call in run if used_after(call.output, last)]
    for name in inputs:
        types.setdefault(name, None)
    return Group([call for _, call in run], inputs, outputs, types)


def fusible(function_name, operands, kwargs, dtype):
    """Whether a call can join a group: a known elementwise function, plain operands, a type kernels know."""
    return function_name in _ELEMENTWISE and not kwargs and str(dtype) in _C_TYPES
