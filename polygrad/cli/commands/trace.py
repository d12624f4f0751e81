"""`polygrad trace EXPR --at x1=2 x2=5`: the seed's three traces for an expression.

The expression is parsed with Python's `ast` and checked against a whitelist:
names bound with --at, numbers, + - * / **, unary + and -, and calls of the
functions in FUNCTIONS. It is never evaluated as Python: the checked tree is
walked to call polygrad functions. Anything else (attributes, subscripts,
lambdas, strings, other calls, keywords) and absurd sizes are refused with a
one-line message and exit code 2.
"""

import ast
import math
import sys

from ...namespace import ops
from ...namespace.ops import asarray
from ...autodiff.trace import trace

FUNCTIONS = {
    "ln": ops.log, "log": ops.log, "exp": ops.exp, "sin": ops.sin, "cos": ops.cos, "tanh": ops.tanh,
    "sqrt": ops.sqrt, "abs": ops.abs, "sigmoid": ops.sigmoid, "relu": ops.relu, "log1p": ops.log1p,
    "expm1": ops.expm1,
}
OPERATORS = {ast.Add: ops.add, ast.Sub: ops.subtract, ast.Mult: ops.multiply, ast.Div: ops.divide,
             ast.Pow: ops.pow}

MAX_LENGTH = 500       # characters of the expression
MAX_NODES = 200        # nodes of its syntax tree
MAX_NUMBER = 1e9       # magnitude of any literal or --at value
MAX_EXPONENT = 100     # magnitude of a constant exponent


class Refused(ValueError):
    """The expression or an option is outside what `polygrad trace` accepts."""


def configure(parser):
    parser.add_argument("expression", help='e.g. "ln(x1) + x1*x2 - sin(x2)"')
    parser.add_argument("--at", nargs="+", required=True, metavar="NAME=VALUE",
                        help="the point: a value for every variable, e.g. --at x1=2 x2=5")
    parser.add_argument("--direction", metavar="NAME",
                        help="the input the tangent trace differentiates along (default: the first)")
    parser.add_argument("--dot", metavar="FILE",
                        help="also write the graph: Graphviz DOT, or an image for .png/.svg/.pdf (needs `dot`)")
    parser.add_argument("--backend", default=None, help="array backend to run on (default: the default backend)")


def run(args):
    try:
        point = parse_point(args.at)
        evaluate = compile_expression(args.expression, point)
        if args.direction is not None and args.direction not in point:
            raise Refused(f"--direction {args.direction!r} is not one of the variables {', '.join(point)}")
        values = [asarray(v, dtype="float64", backend=args.backend) for v in point.values()]
        result = trace(evaluate, *values, names=list(point), direction=args.direction or 0)
        if args.dot:  # first, so that a failure prints only the error
            if args.dot.rsplit(".", 1)[-1] in ("png", "svg", "pdf"):
                result.render(args.dot)
            else:
                with open(args.dot, "w", encoding="utf-8") as file:
                    file.write(result.to_dot())
        print(result)
    except (Refused, RuntimeError, OSError, ValueError) as error:
        print(f"polygrad trace: error: {error}".replace("\n", " "), file=sys.stderr)
        return 2
    return 0


def parse_point(items):
    """{'x1': 2.0, 'x2': 5.0} from ['x1=2', 'x2=5']."""
    point = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier() or name in FUNCTIONS:
            raise Refused(f"--at wants NAME=VALUE with a plain variable name, got {item!r}")
        try:
            number = float(value)
        except ValueError:
            raise Refused(f"--at {name}: {value!r} is not a number") from None
        if not math.isfinite(number) or abs(number) > MAX_NUMBER:
            raise Refused(f"--at {name}: {value} is not a finite number of magnitude at most {MAX_NUMBER:g}")
        point[name] = number
    return point


def compile_expression(text, point):
    """A function of the variables in `point` computing `text`, after the whitelist check."""
    if len(text) > MAX_LENGTH:
        raise Refused(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as error:
        raise Refused(f"cannot parse the expression: {getattr(error, 'msg', error)}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise Refused(f"the expression has more than {MAX_NODES} parts")
    names = list(point)
    build = _check(tree.body, set(names))

    def evaluate(*values):
        return build(dict(zip(names, values)))

    return evaluate


def _check(node, names):
    """Refuse anything outside the whitelist; return env -> value for what is allowed."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Refused(f"only numbers are allowed as constants, got {value!r}")
        if abs(value) > MAX_NUMBER:
            raise Refused(f"the number {_shown(value)} is larger than {MAX_NUMBER:g}")
        constant = float(value)
        return lambda env: _constant(constant, env)
    if isinstance(node, ast.Name):
        if node.id not in names:
            known = ", ".join(sorted(names)) or "none"
            hint = " is a function: call it" if node.id in FUNCTIONS else " is not defined"
            raise Refused(f"the name {node.id!r}{hint} (variables from --at: {known})")
        return lambda env: env[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _check(node.operand, names)
        if isinstance(node.op, ast.UAdd):
            return operand
        return lambda env: ops.negative(operand(env))
    if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
        if isinstance(node.op, ast.Pow):
            _check_exponent(node.right, names)
        left, right, function = _check(node.left, names), _check(node.right, names), OPERATORS[type(node.op)]
        return lambda env: function(left(env), right(env))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            called = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise Refused(f"unknown function {called!r}; known: {', '.join(FUNCTIONS)}")
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise Refused(f"{node.func.id}() takes exactly one argument")
        argument, function = _check(node.args[0], names), FUNCTIONS[node.func.id]
        return lambda env: function(argument(env))
    if isinstance(node, ast.BinOp):
        raise Refused(f"the operator {type(node.op).__name__} is not allowed; use + - * / **")
    if isinstance(node, ast.Attribute):
        raise Refused(f"attribute access ({ast.unparse(node)}) is not allowed")
    raise Refused(f"{type(node).__name__} is not allowed in an expression ({ast.unparse(node)[:40]})")


def _check_exponent(node, names):
    """A constant exponent must be a plain number of modest size: no 10**10**10."""
    if any(isinstance(n, ast.Name) for n in ast.walk(node)):
        return
    plain = node.operand if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) else node
    if not isinstance(plain, ast.Constant):
        raise Refused(f"a constant exponent must be a single number, got {ast.unparse(node)}")
    if isinstance(plain.value, (int, float)) and abs(plain.value) > MAX_EXPONENT:
        raise Refused(f"the exponent {_shown(plain.value)} is larger than {MAX_EXPONENT}")


def _shown(number):
    """A literal for a message; a long integer by its first digits and its number of digits."""
    if isinstance(number, int) and abs(number) > 10**15:
        digits = str(abs(number))
        return f"{'-' if number < 0 else ''}{digits[:6]}... ({len(digits)} digits)"
    return f"{number:g}"


def _constant(value, env):
    """A literal as a float64 tensor on the variables' device."""
    like = next(iter(env.values()))
    return asarray(value, dtype="float64", device=like.device)
