"""Every backend kernel of a fused primitive (polygrad/primitives/fused.py) gives what the primitive's portable
definition gives, forward and gradient, on every backend; the fused functions match PyTorch in float64."""

import math

import numpy as np
import pytest

import polygrad as pg
import polygrad.functional as F
from polygrad.primitives.fused import PORTABLE, Saved
from polygrad.primitives.table import PRIMITIVES

from conftest import to_numpy
from torch_oracle import needs_torch, same_as_torch, torch

# name -> build(target) -> (inputs as Tensors, options); a gradient of the output's shape is made below
INPUTS = {
    "gelu": lambda t: ([t.randn(4, 5, 6, seed=1) * 3], {"approximate": "none"}),
    "gelu/tanh": lambda t: ([t.randn(4, 5, 6, seed=1) * 3], {"approximate": "tanh"}),
    "gelu/tails": lambda t: ([t.tensor([-30.0, -9.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 9.0, 30.0])],
                             {"approximate": "none"}),
    # tiny and subnormal x (in float32): x Phi(x) underflows, the slope is still Phi(0) = 1/2
    "gelu/tiny": lambda t: ([t.tensor([1e-39, -1e-39, 3e-38, -3e-38, 1e-30, -1e-30, -0.0, 1e-45])],
                            {"approximate": "none"}),
    "layer_norm": lambda t: ([t.randn(3, 4, 8, seed=2), t.randn(8, seed=3), t.randn(8, seed=4)], {"n": 1, "eps": 1e-5}),
    "layer_norm/two-axes": lambda t: ([t.randn(3, 4, 8, seed=2), t.randn(4, 8, seed=3), t.randn(4, 8, seed=4)],
                                      {"n": 2, "eps": 1e-3}),
    # no leading axes: the weight's and bias's gradients are per entry
    "layer_norm/no-lead": lambda t: ([t.randn(4, 8, seed=2), t.randn(4, 8, seed=3), t.randn(4, 8, seed=4)],
                                     {"n": 2, "eps": 1e-5}),
    "conv": lambda t: ([t.randn(2, 3, 7, 6, seed=5), t.randn(4, 3, 3, 2, seed=6), t.randn(4, seed=8)],
                       {"stride": (1, 1), "dilation": (1, 1), "groups": 1}),
    "conv/groups-strided-dilated": lambda t: ([t.randn(2, 4, 9, 8, seed=5), t.randn(6, 2, 2, 3, seed=6),
                                               t.randn(6, seed=8)],
                                              {"stride": (2, 1), "dilation": (1, 2), "groups": 2}),
    "conv/1d": lambda t: ([t.randn(3, 2, 10, seed=5), t.randn(4, 2, 3, seed=6), t.randn(4, seed=8)],
                          {"stride": (2,), "dilation": (1,), "groups": 1}),
    "max_pool": lambda t: ([t.randn(2, 3, 8, 6, seed=7)],
                           {"kernel": (2, 2), "stride": (2, 2), "dilation": (1, 1), "saved": Saved()}),
    # no Saved: the backward finds the maxima again
    "max_pool/unsaved": lambda t: ([t.randn(2, 3, 8, 6, seed=7)],
                                   {"kernel": (2, 2), "stride": (2, 2), "dilation": (1, 1), "saved": None}),
    "max_pool/overlapping": lambda t: ([t.randn(2, 3, 7, 6, seed=7)],
                                       {"kernel": (3, 2), "stride": (1, 2), "dilation": (2, 1), "saved": Saved()}),
    # every window full of ties: the gradient goes to each window's first entry
    "max_pool/ties": lambda t: ([t.tensor([[[[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]]])],
                                {"kernel": (2, 2), "stride": (2, 2), "dilation": (1, 1), "saved": Saved()}),
    # more than 255 taps per window (wider tap numbers), overlapping
    "max_pool/many-taps": lambda t: ([t.randn(1, 2, 17, 18, seed=7)],
                                     {"kernel": (16, 16), "stride": (1, 2), "dilation": (1, 1), "saved": Saved()}),
    "max_pool/1d": lambda t: ([t.randn(2, 3, 9, seed=7)],
                              {"kernel": (3,), "stride": (2,), "dilation": (1,), "saved": Saved()}),
    "avg_pool": lambda t: ([t.randn(2, 3, 8, 6, seed=7)],
                           {"kernel": (2, 2), "stride": (2, 2), "widths": ((0, 0), (0, 0)), "count_include_pad": True,
                            "divisor_override": None}),
    # padding (1 each side) and ceil_mode's extra entry after, on the first axis: counted or not
    "avg_pool/ceil-padded": lambda t: ([t.randn(2, 3, 8, 7, seed=7)],
                                       {"kernel": (3, 3), "stride": (2, 2), "widths": ((1, 2), (1, 1)),
                                        "count_include_pad": False, "divisor_override": None}),
    "avg_pool/ceil-padded-counted": lambda t: ([t.randn(2, 3, 8, 7, seed=7)],
                                               {"kernel": (3, 3), "stride": (2, 2), "widths": ((1, 2), (1, 1)),
                                                "count_include_pad": True, "divisor_override": None}),
    "avg_pool/divisor": lambda t: ([t.randn(2, 3, 9, 7, seed=7)],
                                   {"kernel": (3, 2), "stride": (2, 3), "widths": ((1, 1), (1, 1)),
                                    "count_include_pad": True, "divisor_override": 5}),
    "avg_pool/1d": lambda t: ([t.randn(2, 3, 8, seed=7)], {"kernel": (3,), "stride": (2,), "widths": ((1, 2),),
                                                           "count_include_pad": False, "divisor_override": None}),
    "avg_pool/3d": lambda t: ([t.randn(1, 2, 5, 6, 4, seed=7)],
                              {"kernel": (2, 3, 2), "stride": (2, 2, 1), "widths": ((1, 1), (1, 1), (0, 0)),
                               "count_include_pad": False, "divisor_override": None}),
    "conv_transpose": lambda t: ([t.randn(2, 4, 5, 4, seed=5), t.randn(4, 3, 3, 2, seed=6), t.randn(3, seed=8)],
                                 {"stride": (2, 2), "padding": (1, 1), "output_padding": (1, 1), "dilation": (1, 1),
                                  "groups": 1}),
    "conv_transpose/groups-dilated": lambda t: ([t.randn(2, 4, 5, 4, seed=5), t.randn(4, 3, 3, 2, seed=6),
                                                 t.randn(6, seed=8)],
                                                {"stride": (2, 3), "padding": (0, 2), "output_padding": (1, 2),
                                                 "dilation": (1, 2), "groups": 2}),
    # output_padding past the padding: the last outputs are bias alone
    "conv_transpose/1d": lambda t: ([t.randn(2, 4, 6, seed=5), t.randn(4, 2, 3, seed=6), t.randn(2, seed=8)],
                                    {"stride": (3,), "padding": (1,), "output_padding": (2,), "dilation": (2,),
                                     "groups": 1}),
    "adaptive_avg_pool": lambda t: ([t.randn(2, 3, 7, 5, seed=7)], {"output_size": (3, 2)}),
    "adaptive_avg_pool/global": lambda t: ([t.randn(2, 3, 6, 6, seed=7)], {"output_size": (1, 1)}),
    "adaptive_avg_pool/1d-growing": lambda t: ([t.randn(2, 3, 5, seed=7)], {"output_size": (8,)}),
    "adaptive_avg_pool/3d": lambda t: ([t.randn(1, 2, 5, 4, 7, seed=7)], {"output_size": (2, 3, 3)}),
    "attention": lambda t: ([t.randn(2, 3, 6, 4, seed=12), t.randn(2, 3, 7, 4, seed=13), t.randn(2, 3, 7, 5, seed=14)],
                            {"causal": False, "scale": 0.5}),
    "attention/causal": lambda t: ([t.randn(2, 3, 6, 4, seed=12), t.randn(2, 3, 6, 4, seed=13),
                                    t.randn(2, 3, 6, 5, seed=14)], {"causal": True, "scale": 0.5}),
    # more queries than keys: PyTorch's causal mask is the top-left triangle, every row keeps key 0
    "attention/causal-long": lambda t: ([t.randn(1, 2, 7, 4, seed=12), t.randn(1, 2, 3, 4, seed=13),
                                         t.randn(1, 2, 3, 4, seed=14)], {"causal": True, "scale": 0.5}),
    "lstm_sequence": lambda t: ([t.randn(5, 3, 8, seed=15), t.randn(3, 2, seed=16), t.randn(3, 2, seed=17),
                                 t.randn(8, 2, seed=18), t.randn(8, seed=19)], {}),
    "gru_sequence": lambda t: ([t.randn(5, 3, 6, seed=15), t.randn(3, 2, seed=16), t.randn(6, 2, seed=18),
                                t.randn(6, seed=19)], {}),
    "rnn_sequence": lambda t: ([t.randn(5, 3, 2, seed=15), t.randn(3, 2, seed=16), t.randn(2, 2, seed=18),
                                t.randn(2, seed=19)], {"nonlinearity": "tanh"}),
    "rnn_sequence/relu": lambda t: ([t.randn(5, 3, 2, seed=15), t.randn(3, 2, seed=16), t.randn(2, 2, seed=18),
                                     t.randn(2, seed=19)], {"nonlinearity": "relu"}),
    "dropout": lambda t: ([t.randn(4, 5, 6, seed=20), t.randn(4, 5, 6, seed=21) > 0.3], {"scale": 1 / 0.7}),
    # feature dropout: one draw per (N, C), broadcast over the rest
    "dropout/channels": lambda t: ([t.randn(4, 5, 6, seed=20), t.randn(4, 5, 1, seed=21) > 0.3], {"scale": 2.0}),
    "nll_loss": lambda t: ([t.randn(5, 4, seed=22), t.tensor([0, 3, -100, 2, 1], dtype="int64"), t.rand(4, seed=23) + 0.5],
                           {"ignore_index": -100, "reduction": "mean"}),
    "nll_loss/sum": lambda t: ([t.randn(5, 4, seed=22), t.tensor([0, 3, 3, 2, 1], dtype="int64"), t.rand(4, seed=23) + 0.5],
                               {"ignore_index": 2, "reduction": "sum"}),
    "nll_loss/none": lambda t: ([t.randn(5, 4, seed=22), t.tensor([0, 3, 3, 2, 1], dtype="int64"), t.rand(4, seed=23) + 0.5],
                                {"ignore_index": -1, "reduction": "none"}),
    # every entry ignored: the mean is NaN, its gradient 0; an empty batch: NaN too
    "nll_loss/all-ignored": lambda t: ([t.randn(3, 4, seed=22), t.tensor([-100, -100, -100], dtype="int64"), t.tensor([1.0] * 4)],
                                       {"ignore_index": -100, "reduction": "mean"}),
    "nll_loss/empty": lambda t: ([t.randn(0, 4, seed=22), t.tensor([0, 1], dtype="int64")[:0], t.tensor([1.0] * 4)],
                                 {"ignore_index": -100, "reduction": "mean"}),
    "embedding": lambda t: ([t.randn(6, 3, seed=24), t.tensor([4, 0, 4, 5, 1], dtype="int64")], {"padding_idx": None}),
    "embedding/padding": lambda t: ([t.randn(6, 3, seed=24), t.tensor([4, 0, 4, 5, 1], dtype="int64")],
                                    {"padding_idx": 4}),
    "attention/batch-broadcast": lambda t: ([t.randn(2, 3, 5, 4, seed=12), t.randn(1, 3, 5, 4, seed=13),
                                             t.randn(2, 1, 5, 2, seed=14)], {"causal": True, "scale": 0.3}),
    # one row's scores ~190 below another's: its entries would underflow after the array's maximum
    "attention/far-rows": lambda t: ([t.tensor([[[[10.0, 0.0], [-5.0, 0.0]]]]), t.tensor([[[[10.0, 0.0], [12.0, 0.0],
                                                                                         [14.0, 1.0]]]]),
                                      t.randn(1, 1, 3, 2, seed=14)], {"causal": False, "scale": 1.0}),
    # flat targets: row * C + class
    "softmax_cross_entropy": lambda t: ([t.randn(5, 4, seed=28) * 3, t.tensor([1, 7, 8, 14, 19], dtype="int64")],
                                        {"reduction": "mean"}),
    "softmax_cross_entropy/sum": lambda t: ([t.randn(5, 4, seed=28) * 3, t.tensor([1, 7, 8, 14, 19], dtype="int64")],
                                            {"reduction": "sum"}),
    "softmax_cross_entropy/none": lambda t: ([t.randn(5, 4, seed=28), t.tensor([1, 7, 8, 14, 19], dtype="int64")],
                                             {"reduction": "none"}),
    # a -inf logit away from the target: probability 0 there
    "softmax_cross_entropy/-inf": lambda t: ([t.tensor([[0.0, -math.inf, 1.0], [2.0, 0.5, -1.0]]),
                                              t.tensor([0, 5], dtype="int64")], {"reduction": "mean"}),
    "linear": lambda t: ([t.randn(5, 4, seed=25), t.randn(3, 4, seed=26), t.randn(3, seed=27)], {}),
    # N-D input: one GEMM over the leading axes; a single sample
    "linear/3d": lambda t: ([t.randn(2, 5, 4, seed=25), t.randn(3, 4, seed=26), t.randn(3, seed=27)], {}),
    "linear/1d": lambda t: ([t.randn(4, seed=25), t.randn(3, 4, seed=26), t.randn(3, seed=27)], {}),
    "linear/empty": lambda t: ([t.randn(0, 4, seed=25), t.randn(3, 4, seed=26), t.randn(3, seed=27)], {}),
    "relu": lambda t: ([t.tensor([[-1.0, 0.0, 2.0], [3.0, -0.0, -5.0]])], {}),
    "softmax": lambda t: ([t.randn(4, 5, 6, seed=10) * 3], {"axis": -1}),
    "softmax/axis": lambda t: ([t.randn(4, 5, 6, seed=10) * 3], {"axis": 1}),
    "log_softmax": lambda t: ([t.randn(4, 5, 6, seed=10) * 3], {"axis": -1}),
    "log_softmax/axis": lambda t: ([t.randn(4, 5, 6, seed=10) * 3], {"axis": 0}),
    "log_softmax/-inf": lambda t: ([t.tensor([[0.0, -math.inf, 1.0], [-math.inf, -math.inf, -math.inf]])],
                                   {"axis": -1}),
}
VJP_TAKES_OUT = {"max_pool", "softmax", "log_softmax", "gelu"}  # their vjps read the forward's result
# conv's kernels: one per gradient (a first layer's input gradient is never asked for)
KERNEL_VJP = {"conv": lambda xp, g, x, w, b, *options: [xp.kernel_conv_vjp_input(g, x, w, *options),
                                                        xp.kernel_conv_vjp_weight(g, x, w, *options)],
              "conv_transpose": lambda xp, g, x, w, b, *options: [xp.kernel_conv_transpose_vjp_input(g, x, w, *options),
                                                                  xp.kernel_conv_transpose_vjp_weight(g, x, w, *options)]}


def _raw(t):
    return t.array


@pytest.mark.parametrize("case", sorted(INPUTS))
def test_kernel_matches_portable_definition(target, case):
    name = case.split("/")[0]
    tensors, options = INPUTS[case](target)
    xp = tensors[0].device.backend.xp
    if not hasattr(xp, "kernel_" + name) and not hasattr(xp, "kernel_" + name + "_vjp"):
        pytest.skip(f"{target.backend} has no kernel for {name}")
    arrays = [_raw(t) for t in tensors]
    portable, portable_vjp = PORTABLE[name]
    args = list(options.values())
    expected = (portable or PRIMITIVES[name].forward)(xp, *arrays, *args)
    got = None
    if portable is not None:
        got = getattr(xp, "kernel_" + name)(*arrays, *args)
        if got is None:
            pytest.skip(f"{target.backend}'s {name} kernel leaves these inputs ({target.dtype}, {options}) "
                        "to the definition")
        np.testing.assert_allclose(to_numpy(pg.asarray(got)), to_numpy(pg.asarray(expected)),
                                   rtol=target.tol, atol=target.tol)
    if portable_vjp is None:  # a forward kernel only
        return
    g = _raw(target.randn(*expected.shape, seed=9))
    if name in ("softmax", "log_softmax"):  # their vjps read the result, not the input
        arrays = []
    if name == "dropout":  # its vjp reads the mask only
        arrays = arrays[1:]
    # the kernel's own result where it made one: a kernel may have kept more of its forward for it (Saved)
    lead = (g, expected if got is None else got) if name in VJP_TAKES_OUT else (g,)
    expected_grads = portable_vjp(xp, *lead, *arrays, *args)
    if name in KERNEL_VJP:
        got_grads = KERNEL_VJP[name](xp, *lead, *arrays, *args)
        expected_grads = expected_grads[:len(got_grads)]
    else:
        got_grads = getattr(xp, "kernel_" + name + "_vjp")(*lead, *arrays, *args)
    if not isinstance(expected_grads, list):
        expected_grads, got_grads = [expected_grads], [got_grads]
    for e, k in zip(expected_grads, got_grads, strict=True):
        np.testing.assert_allclose(to_numpy(pg.asarray(k)), to_numpy(pg.asarray(e)), rtol=target.tol, atol=target.tol)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(approximate):
    x = np.concatenate([np.random.default_rng(0).standard_normal(40) * 4, [0.0, -12.0, 12.0]])
    same_as_torch(lambda v: F.gelu(v, approximate=approximate),
                  lambda v: torch.nn.functional.gelu(v, approximate=approximate), x)


@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm_matches_torch(affine):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 3, 5)), rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    if affine == "both":
        same_as_torch(lambda v, w, b: F.layer_norm(v, (3, 5), w, b),
                      lambda v, w, b: torch.nn.functional.layer_norm(v, (3, 5), w, b), x, w, b)
    elif affine == "weight":
        same_as_torch(lambda v, w: F.layer_norm(v, (3, 5), w), lambda v, w: torch.nn.functional.layer_norm(v, (3, 5), w),
                      x, w)
    else:
        same_as_torch(lambda v: F.layer_norm(v, 5), lambda v: torch.nn.functional.layer_norm(v, (5,)), x)


def test_layer_norm_of_constant_rows_is_the_bias(target):
    """A row with no spread normalizes to 0 (eps keeps it finite): the output is the bias, the gradient finite."""
    x = target.tensor([[2.0, 2.0, 2.0], [1.0, -1.0, 0.5]], requires_grad=True)
    w, b = target.tensor([1.0, 2.0, 3.0]), target.tensor([0.5, -0.5, 0.25])
    out = F.layer_norm(x, 3, w, b)
    np.testing.assert_allclose(to_numpy(out)[0], [0.5, -0.5, 0.25], rtol=target.tol, atol=target.tol)
    pg.sum(out * out).backward()
    assert np.all(np.isfinite(to_numpy(x.grad)))


def test_layer_norm_of_an_empty_batch(target):
    x = target.randn(0, 4, requires_grad=True)
    out = F.layer_norm(x, 4, target.randn(4, requires_grad=True), target.randn(4, requires_grad=True))
    assert tuple(out.shape) == (0, 4)
    pg.sum(out).backward()
    assert tuple(x.grad.shape) == (0, 4)


def test_layer_norm_shape_error_names_the_op(target):
    with pytest.raises(pg.ShapeError, match="layer_norm"):
        F.layer_norm(target.randn(2, 3), (4,))


def test_gelu_refuses_an_unknown_approximation(target):
    with pytest.raises(ValueError, match="gelu"):
        F.gelu(target.randn(3), approximate="erf")


def test_max_pool_gives_a_tie_to_the_first_maximum(target):
    x = target.tensor([[[[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 0.0, 0.0]]]], requires_grad=True)
    pg.sum(F.max_pool2d(x, 2) * target.tensor([[[[10.0, 100.0]]]])).backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [[[[0, 10, 100, 0], [0, 0, 0, 0]]]])


@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_matches_torch(groups):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 4 // groups, 3, 2)), rng.standard_normal(6)
    options = {"stride": (2, 1), "padding": 1, "dilation": (1, 2), "groups": groups}
    same_as_torch(lambda x, w, b: F.conv2d(x, w, b, **options),
                  lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **options), x, w, b)


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool2d_matches_torch(ceil_mode):
    x = np.random.default_rng(4).standard_normal((2, 3, 9, 7))
    x[0, 0, :2, :2] = 1.5  # a window of ties
    options = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": ceil_mode}
    same_as_torch(lambda v: F.max_pool2d(v, **options), lambda v: torch.nn.functional.max_pool2d(v, **options), x)


def test_conv_and_pool_of_an_empty_batch(target):
    x = target.randn(0, 2, 6, 6, requires_grad=True)
    w = target.randn(3, 2, 3, 3, requires_grad=True)
    out = F.max_pool2d(F.conv2d(x, w), 2)
    assert tuple(out.shape) == (0, 3, 2, 2)
    pg.sum(out).backward()
    assert tuple(x.grad.shape) == (0, 2, 6, 6) and np.all(to_numpy(w.grad) == 0)


@pytest.mark.parametrize("name, make", [
    ("adam_update", lambda p: pg.optim.Adam(p, lr=0.1, betas=(0.8, 0.9), weight_decay=0.01)),
    ("adam_update", lambda p: pg.optim.AdamW(p, lr=0.1, weight_decay=0.1)),
    ("adadelta_update", lambda p: pg.optim.Adadelta(p, lr=0.5, rho=0.8, weight_decay=0.01)),
])
def test_optimizer_kernel_matches_the_portable_update(target, monkeypatch, name, make):
    """Three steps with the backend's in-place kernel and three with the portable update land on the same weights."""
    xp = pg.backends.get(target.backend).xp
    if not hasattr(xp, "kernel_" + name):
        pytest.skip(f"{target.backend} has no kernel for {name}")
    results = []
    for use_kernel in (True, False):
        if not use_kernel:
            monkeypatch.delattr(xp, "kernel_" + name)
        w = target.randn(4, 3, seed=11, requires_grad=True)
        opt = make([w])
        for step in range(3):
            w.grad = target.randn(4, 3, seed=20 + step)
            opt.step()
        results.append(to_numpy(w))
    np.testing.assert_allclose(results[0], results[1], rtol=target.tol, atol=target.tol)


@pytest.mark.parametrize("causal", [False, True])
def test_scaled_dot_product_attention_matches_torch(causal):
    rng = np.random.default_rng(5)
    q, k, v = rng.standard_normal((2, 3, 6, 4)), rng.standard_normal((2, 3, 6, 4)), rng.standard_normal((2, 3, 6, 5))
    out = F.scaled_dot_product_attention(pg.tensor(q), pg.tensor(k), pg.tensor(v), is_causal=causal)
    assert out._op is None or out._op.primitive.name == "attention"
    same_as_torch(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                  lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal), q, k, v)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_and_cross_entropy_match_torch(reduction, weighted):
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((6, 4)), rng.random(4) + 0.5
    target = np.array([0, 3, -1, 2, 1, 3])  # one ignored entry
    options = {"reduction": reduction, "ignore_index": -1}

    def ours(v):
        weight = pg.asarray(w, dtype=v.dtype, device=v.device) if weighted else None
        return F.nll_loss(F.log_softmax(v, dim=1), pg.asarray(target, device=v.device), weight=weight, **options)

    def theirs(v):
        weight = torch.tensor(w, dtype=v.dtype) if weighted else None
        return torch.nn.functional.nll_loss(v.log_softmax(1), torch.tensor(target), weight=weight, **options)

    same_as_torch(ours, theirs, x)
    same_as_torch(lambda v: F.cross_entropy(v, pg.asarray(target, device=v.device), **options),
                  lambda v: torch.nn.functional.cross_entropy(v, torch.tensor(target), **options), x)


def test_nll_loss_runs_fused_and_keeps_the_composite_errors(target):
    log_probs = F.log_softmax(target.randn(3, 4, requires_grad=True), dim=1)
    assert F.nll_loss(log_probs, target.tensor([0, 3, 1], dtype="int64"))._op.primitive.name == "nll_loss"
    with pytest.raises(IndexError, match="nll_loss: class target"):
        F.nll_loss(log_probs, target.tensor([0, 4, 1], dtype="int64"))
    with pytest.raises(pg.ShapeError, match="nll_loss: weight"):
        F.nll_loss(log_probs, target.tensor([0, 1, 1], dtype="int64"), weight=target.tensor([1.0] * 3))
    with pytest.raises(pg.ShapeError, match="class indices of shape"):
        F.nll_loss(log_probs, target.tensor([0, 1], dtype="int64"))


def test_max_pool_keeps_the_positions_it_found(target):
    """The torch kernel's forward keeps max_pool2d's indices for the backward (no second search)."""
    x = target.randn(2, 3, 6, 6, requires_grad=True)
    out = F.max_pool2d(x, 2)
    saved = out._op.params["saved"]
    if not hasattr(x.device.backend.xp, "kernel_max_pool") or target.backend != "torch":
        pytest.skip("only the torch kernel keeps the positions")
    expected = torch.nn.functional.max_pool2d(torch.from_numpy(to_numpy(x)), 2, return_indices=True)[1]
    np.testing.assert_array_equal(to_numpy(pg.asarray(saved.for_output(out.array))), expected.numpy())


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch(padding_idx):
    weight, indices = np.random.default_rng(7).standard_normal((5, 3)), np.array([[2, 0, 4], [2, 2, 1]])
    same_as_torch(lambda w: F.embedding(pg.asarray(indices, device=w.device), w, padding_idx=padding_idx),
                  lambda w: torch.nn.functional.embedding(torch.tensor(indices), w, padding_idx=padding_idx), weight)


def test_embedding_keeps_its_errors(target):
    weight = target.randn(4, 3, requires_grad=True)
    assert F.embedding(target.tensor([1, 3], dtype="int64"), weight)._op.primitive.name == "reshape"
    with pytest.raises(IndexError, match="embedding"):
        F.embedding(target.tensor([1, 4], dtype="int64"), weight)
    with pytest.raises(IndexError, match="embedding"):
        F.embedding(target.tensor([-1], dtype="int64"), weight)


def test_numpy_max_pool_kernel_follows_the_definition_on_nan_windows():
    """A window holding NaN has no tap equal to its maximum: the kept taps are not used, and the kernel's
    gradient is the definition's: the window's last NaN gets it, as in PyTorch's own kernel."""
    xp = pg.backends.get("numpy").xp
    x = np.array([[[[1.0, math.nan, 2.0, 0.5], [3.0, 1.0, 2.0, 4.0]]]], dtype=np.float32)
    g = np.array([[[[0.5, 2.0]]]], dtype=np.float32)
    options = ((2, 2), (2, 2), (1, 1))
    saved = Saved()
    out = xp.kernel_max_pool(x, *options, saved)
    grad = xp.kernel_max_pool_vjp(g, out, x, *options, saved)
    np.testing.assert_array_equal(grad, PORTABLE["max_pool"][1](xp, g, out, x, *options))
    np.testing.assert_array_equal(grad, [[[[0, 0.5, 0, 0], [0, 0, 0, 2.0]]]])


@needs_torch
def test_max_pool_gives_a_nan_window_gradient_to_its_last_nan_as_torch(target):
    """PyTorch's CPU kernel takes a NaN as the window's maximum each time it meets one: the last NaN wins."""
    nan = math.nan
    x = [[[[1.0, nan, 3.0, nan], [5.0, nan, 0.0, 2.0], [nan, 1.0, nan, 7.0], [0.0, 1.0, 2.0, 3.0]]]]
    mine = target.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    weights = [[[[1.0], [2.0], [3.0], [4.0]]]]
    F.max_pool2d(mine, (1, 4)).backward(target.tensor(weights))
    torch.nn.functional.max_pool2d(theirs, (1, 4)).backward(torch.tensor(weights, dtype=torch.float64))
    np.testing.assert_array_equal(to_numpy(mine.grad), theirs.grad.numpy())


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shapes", [((0, 2, 3, 4), (0, 2, 3, 4)), ((1, 2, 0, 4), (1, 2, 3, 4)),
                                    ((1, 2, 3, 4), (1, 2, 0, 4))], ids=["no-batch", "no-queries", "no-keys"])
def test_attention_at_its_edges_matches_torch(shapes, causal):
    """Empty batches, no queries, and no keys (every row fully masked: zeros, as PyTorch)."""
    rng = np.random.default_rng(8)
    (q_shape, k_shape) = shapes
    q, k, v = rng.standard_normal(q_shape), rng.standard_normal(k_shape), rng.standard_normal(k_shape[:-1] + (5,))
    same_as_torch(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                  lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal), q, k, v)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_of_an_empty_batch_matches_torch(reduction):
    target = np.zeros(0, dtype=np.int64)
    same_as_torch(lambda v: F.cross_entropy(v, pg.asarray(target, device=v.device), reduction=reduction),
                  lambda v: torch.nn.functional.cross_entropy(v, torch.tensor(target), reduction=reduction),
                  np.zeros((0, 4)))
