"""More fused primitives (see polygrad/fused.py for the mechanism): dropout, nll_loss, embedding.

Rows of the rule table with a portable definition (Array API only), and kernels in backends/
held equal to it by tests/test_fused_kernels.py. No public functions here (this layer does not
import the namespace): polygrad.functional applies the rows. What each saves for backward:
dropout its boolean keep mask (an input: one byte an entry, where the composite kept a
mask in x's dtype and x * mask); nll_loss nothing beyond its inputs (the total weight is
recomputed, one reduction over N); embedding nothing beyond its inputs (the row indices).
"""

from .fused import PORTABLE
from .primitives import PRIMITIVES, defprim
from .primitives import kernel_or as _run


# ---------------------------------------------------------------- dropout
# keep: the boolean mask drawn by the caller (uniform >= p, from polygrad's seeded generators, so the
# random streams are the composite's); it may broadcast against x (feature dropout). One multiply by
# the mask and the scale 1 / (1 - p) each way, in the composite's order (x * mask) * scale.
def _dropout(xp, x, keep, scale):
    return x * xp.astype(keep, x.dtype) * scale


def _dropout_vjp(xp, g, keep, scale):
    return g * xp.astype(keep, g.dtype) * scale


defprim("dropout", lambda xp, x, keep, *, scale: _run(xp, "dropout", _dropout, x, keep, scale),
        vjp=[lambda xp, g, out, x, keep, scale: _run(xp, "dropout_vjp", _dropout_vjp, g, keep, scale), None],
        jvp=[lambda xp, t, out, x, keep, scale: _dropout_vjp(xp, t, keep, scale), None],
        doc="x * keep * scale for a boolean mask `keep` (broadcasting against x): dropout with its mask drawn; "
            "saves only the mask.",
        fresh=True)
PORTABLE["dropout"] = (_dropout, _dropout_vjp)
