"""Property test: random expressions differentiate like finite differences say.

Every operation keeps its operands' (2, 3) shape, so any tree is well formed.
"""

from hypothesis import given, settings, strategies as st

import polygrad as pg

UNARY = {
    "tanh": pg.tanh, "sin": pg.sin, "cos": pg.cos, "exp_small": lambda x: pg.exp(x * 0.3),
    "log_pos": lambda x: pg.log(x * x + 1.0), "sqrt_pos": lambda x: pg.sqrt(x * x + 0.5),
    "sigmoid": pg.sigmoid, "neg": lambda x: -x, "square": lambda x: x * x,
    "softmax": lambda x: pg.softmax(x, axis=-1), "log_normalize": lambda x: x - pg.logsumexp(x, axis=-1, keepdims=True),
    "times_mean": lambda x: x * pg.mean(x, axis=0, keepdims=True),
    # reductions whose spread is exactly zero: the gradient there is 0, never NaN
    "zero_spread_std": lambda x: x * (pg.std(x - x, axis=0, keepdims=True) + 1.0),
    "zero_spread_var": lambda x: x + pg.var(x * 0.0, axis=-1, keepdims=True),
    "std_rows": lambda x: x * pg.std(x, axis=-1, keepdims=True),
}
BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1.0), "matmul_t": lambda a, b: (a @ pg.matrix_transpose(b))[..., :1] + b,
}

expressions = st.recursive(
    st.sampled_from(["x", "y"]),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(sorted(UNARY)), inner),
        st.tuples(st.sampled_from(sorted(BINARY)), inner, inner),
    ),
    max_leaves=6,
)


def evaluate(tree, env):
    if isinstance(tree, str):
        return env[tree]
    if len(tree) == 2:
        return UNARY[tree[0]](evaluate(tree[1], env))
    return BINARY[tree[0]](evaluate(tree[1], env), evaluate(tree[2], env))


@settings(max_examples=60, deadline=None)
@given(tree=expressions, seed=st.integers(0, 2**16), backend=st.sampled_from(["numpy", "array_api_strict"]))
def test_random_expressions_match_finite_differences(tree, seed, backend):
    gen = pg.random.Generator(seed, backend=backend)
    x, y = gen.randn(2, 3, dtype="float64"), gen.randn(2, 3, dtype="float64")
    assert pg.gradcheck(lambda a, b: evaluate(tree, {"x": a, "y": b}), [x, y], atol=1e-6, rtol=1e-4)
