"""PyTorch forward kernels of the GRU and RNN sequence primitives (polygrad/primitives/fused_rnn.py): the time loop
with torch's addmm and in-place activations, each step written straight into the output."""

import torch


def _takes(gi, *others):
    return gi.ndim == 3 and all(t.dtype == gi.dtype for t in others)


def gru_sequence(gi, h0, weight_hh, bias_hh):
    """Per step [h, r, z, n, hn] into the (L, N, 5H) output."""
    if not _takes(gi, h0, weight_hh, bias_hh):
        return None
    size = h0.shape[-1]
    out = gi.new_empty(gi.shape[:2] + (5 * size,))
    h, w = h0, weight_hh.t()
    for t in range(gi.shape[0]):
        hidden = torch.addmm(bias_hh, h, w)
        step = out[t]
        gates, n, hn = step[:, size:3 * size], step[:, 3 * size:4 * size], step[:, 4 * size:]
        torch.sigmoid(torch.add(gi[t, :, :2 * size], hidden[:, :2 * size]), out=gates)
        hn.copy_(hidden[:, 2 * size:])
        torch.addcmul(gi[t, :, 2 * size:], gates[:, :size], hn, out=n).tanh_()
        h = torch.sub(h, n, out=step[:, :size]).mul_(gates[:, size:]).add_(n)  # n + z (h - n)
    return out


def rnn_sequence(gi, h0, weight_hh, bias_hh, nonlinearity):
    if not _takes(gi, h0, weight_hh, bias_hh):
        return None
    out = torch.add(gi, bias_hh)
    h, w = h0, weight_hh.t()
    for t in range(gi.shape[0]):
        h = torch.addmm(out[t], h, w, out=out[t])
        h.tanh_() if nonlinearity == "tanh" else h.relu_()
    return out


KERNELS = {"gru_sequence": gru_sequence, "rnn_sequence": rnn_sequence}
