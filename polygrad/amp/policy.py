"""Which dtype each op runs in under autocast, per device type: PyTorch's op lists, in polygrad's names.

Read from PyTorch's `aten/src/ATen/autocast_mode.cpp` / `autocast_mode.h` (the AutocastCPU and
AutocastCUDA registrations) and checked against torch's CPU autocast by tests/test_amp.py. A name is
a primitive (`matmul`, `exp`, `sum`: every call reaches it through the engine) or a function of
`polygrad.functional` / the PyTorch face (`conv2d`, `layer_norm`, `mse_loss`: autocast wraps them).

Policies:
  lower     cast floating inputs to the autocast dtype (bfloat16 / float16)
  fp32      cast floating inputs to float32
  promote   cast floating inputs to the widest among them (float32 if any is float32)
  norm      compute in float32, return the first input's dtype (PyTorch's CPU norm kernels take a
            bfloat16 input with float32 weights and answer in bfloat16; polygrad's norms are composites)
  banned    refused with PyTorch's message
float64 inputs are never cast, as in PyTorch. Ops on no list run in whatever their inputs are.
"""

_LINALG_FP32 = ("linalg_cholesky", "linalg_inv", "linalg_solve", "linalg_svd", "linalg_svdvals", "linalg_eigh",
                "linalg_eigvalsh", "linalg_qr", "linalg_matrix_rank", "linalg_pinv", "linalg_det", "linalg_logabsdet")
_FFT_FP32 = ("fft_fft", "fft_ifft", "fft_fftn", "fft_ifftn", "fft_rfft", "fft_irfft", "fft_rfftn", "fft_irfftn",
             "fft_hfft", "fft_ihfft")
_LOSSES = ("mse_loss", "cosine_embedding_loss", "nll_loss", "hinge_embedding_loss", "poisson_nll_loss", "smooth_l1_loss",
           "l1_loss", "huber_loss", "margin_ranking_loss", "soft_margin_loss", "triplet_margin_loss", "multi_margin_loss",
           "kl_div", "multilabel_margin_loss", "binary_cross_entropy_with_logits")
_CONVOLUTIONS = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def _table(**policies):
    return {name: policy for policy, names in policies.items() for name in names}


CPU = _table(
    lower=_CONVOLUTIONS + ("matmul", "linear", "bmm", "mm", "addmm", "baddbmm", "addbmm", "vecdot", "prelu",
                           "scaled_dot_product_attention", "multi_head_attention"),
    fp32=_LOSSES + _LINALG_FP32 + _FFT_FP32 + (
        "prod", "trace", "cdist", "cross_entropy", "softmax_cross_entropy", "binary_cross_entropy", "ctc_loss",
        "avg_pool3d", "max_pool3d", "adaptive_avg_pool3d", "max_unpool2d", "grid_sample", "quantile", "stft"),
    promote=("concat", "stack", "index_copy"),
    norm=("layer_norm", "group_norm", "batch_norm", "instance_norm"),
)

CUDA = _table(
    lower=_CONVOLUTIONS + (
        "prelu", "addmm", "addmv", "addr", "matmul", "einsum", "mm", "mv", "vecdot", "linear", "addbmm", "baddbmm",
        "bmm", "chain_matmul", "multi_dot", "lstm_cell", "gru_cell", "rnn_cell", "scaled_dot_product_attention"),
    fp32=_LOSSES + (
        "acos", "asin", "cosh", "erfinv", "exp", "expm1", "log", "log10", "log2", "log1p", "reciprocal", "rsqrt", "sinh",
        "tan", "pow", "softplus", "layer_norm", "group_norm", "norm", "cosine_similarity", "dist", "pdist", "cdist",
        "renorm", "logsumexp", "interpolate",
        # fp32_set_opt_dtype in PyTorch: run in float32 unless a dtype is asked for
        "prod", "softmax", "log_softmax", "cumulative_prod", "cumulative_sum", "vector_norm", "matrix_norm", "sum",
        # cross_entropy is log_softmax then nll_loss there, both float32
        "cross_entropy", "softmax_cross_entropy"),
    promote=("addcdiv", "addcmul", "atan2", "bilinear", "cross", "dot", "vdot", "grid_sample", "index_put", "tensordot",
             "scatter_add"),
    banned=("binary_cross_entropy",),
)

TABLES = {"cpu": CPU, "cuda": CUDA}
# the lower-precision dtypes each device type's autocast takes, and its default
SUPPORTED = {"cpu": ("bfloat16", "float16"), "cuda": ("float16", "bfloat16")}
DEFAULT_DTYPE = {"cpu": "bfloat16", "cuda": "float16"}

BANNED_MESSAGE = ("binary_cross_entropy: unsafe to autocast (a sigmoid's output near 0 or 1 loses its precision in "
                  "half precision); use binary_cross_entropy_with_logits / BCEWithLogitsLoss, which is safe to autocast")
