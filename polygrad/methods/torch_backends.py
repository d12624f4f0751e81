"""What PyTorch code means by `torch.backends` and `torch.accelerator`, for scripts run through polygrad.

`pg.backends` is polygrad's registry of array libraries; under `polygrad run`
(see torch_import) the name `torch.backends` is this module instead: the
switches PyTorch scripts set (`torch.backends.cuda.matmul.allow_tf32 = True`,
`torch.backends.cudnn.benchmark = True`), with PyTorch's defaults.

The switches are accepted and remembered; none changes what polygrad computes.
TF32 and cuDNN autotuning are speed-for-precision choices of PyTorch's CUDA
kernels; polygrad's backends compute in the dtype asked for, so a script that
allows TF32 gets full float32 matmuls: at least as accurate as it allowed.
"""

from types import SimpleNamespace

from .. import backends
from .pytorch_face import cuda as _cuda


def _no():
    return False


cuda = SimpleNamespace(
    matmul=SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                           allow_bf16_reduced_precision_reduction=True),
    is_built=lambda: _cuda.is_available(),
)
cudnn = SimpleNamespace(enabled=True, benchmark=False, deterministic=False, allow_tf32=True,
                        is_available=lambda: False, version=lambda: None)
mps = SimpleNamespace(is_available=_no, is_built=_no)
mkldnn = SimpleNamespace(enabled=True, is_available=_no)
openmp = SimpleNamespace(is_available=_no)


class _Accelerator:
    """torch.accelerator: the CUDA device polygrad reaches, if any (PyTorch answers the same on a CPU machine)."""

    @staticmethod
    def is_available():
        return _cuda.is_available()

    @staticmethod
    def device_count():
        return _cuda.device_count()

    @staticmethod
    def current_accelerator(check_available=False):
        """The device "cuda:0" when one is reachable, else None (as torch on a machine without one)."""
        if not _cuda.is_available():
            return None
        return backends.for_device("cuda").device("cuda")

    @staticmethod
    def synchronize(device=None):
        _cuda.synchronize(device)


accelerator = _Accelerator()
