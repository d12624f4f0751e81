"""GRU and Elman RNN layers over a whole sequence, one fused primitive each (as fused.lstm_sequence).

One primitive per layer and direction: the loop over time runs on raw arrays, not as a handful of
recorded ops per step. The input projections gi = x W_ihᵀ + b_ih of every step come in at once (one
matmul, made by the caller); the primitive adds the recurrent part. The backward is
backpropagation through time with the recurrent weight's gradient as ONE matmul over all steps.
The rules here are the portable definition; a backend's forward kernel (`kernel_gru_sequence`,
`kernel_rnn_sequence`) may run instead.

What each saves for backward: the GRU's output (L, N, 5H) holds per step [h, r, z, n, hn] (hn =
h W_hnᵀ + b_hn, the part the reset gate scales), what the backward needs instead of the recurrent
matmuls again (torch's GRU keeps the same); the RNN's output is just h (L, N, H), from which the
slope of tanh or relu follows.
"""

from .fused import PORTABLE, _previous
from .table import _sigmoid, defprim
from .table import kernel_or as _run


def _chunks(x, size, count):
    return [x[..., k * size:(k + 1) * size] for k in range(count)]


# ---------------------------------------------------------------- GRU: gates r, z, n (PyTorch's order)
def _gru_sequence(xp, gi, h0, weight_hh, bias_hh):
    size = h0.shape[-1]
    w = xp.matrix_transpose(weight_hh)
    h, steps = h0, []
    for t in range(gi.shape[0]):
        x_r, x_z, x_n = _chunks(gi[t, ...], size, 3)
        h_r, h_z, hn = _chunks(xp.matmul(h, w) + bias_hh, size, 3)
        r, z = _sigmoid(xp, x_r + h_r), _sigmoid(xp, x_z + h_z)
        n = xp.tanh(x_n + r * hn)
        h = n + z * (h - n)  # (1 - z) n + z h
        steps.append(xp.concat([h, r, z, n, hn], axis=-1))
    return xp.stack(steps, axis=0)


def _gru_sequence_vjp(xp, grad, out, gi, h0, weight_hh, bias_hh):
    size = h0.shape[-1]
    h_before = _previous(xp, out, h0, 0, size)
    dh_next, d_inputs, d_hidden = None, [None] * gi.shape[0], [None] * gi.shape[0]
    for t in range(gi.shape[0] - 1, -1, -1):
        _, r, z, n, hn = _chunks(out[t, ...], size, 5)
        dh, g_r, g_z, g_n, g_hn = _chunks(grad[t, ...], size, 5)  # the gate parts of the output have gradients too
        if dh_next is not None:
            dh = dh + dh_next
        da_n = (dh * (1 - z) + g_n) * (1 - n * n)
        da_r = (da_n * hn + g_r) * r * (1 - r)
        da_z = (dh * (h_before[t, ...] - n) + g_z) * z * (1 - z)
        d_inputs[t] = xp.concat([da_r, da_z, da_n], axis=-1)
        d_hidden[t] = xp.concat([da_r, da_z, da_n * r + g_hn], axis=-1)
        dh_next = dh * z + xp.matmul(d_hidden[t], weight_hh)
    flat = xp.reshape(xp.stack(d_hidden, axis=0), (-1, 3 * size))
    previous = xp.reshape(h_before, (-1, size))
    return [xp.stack(d_inputs, axis=0), dh_next, xp.matmul(xp.matrix_transpose(flat), previous), xp.sum(flat, axis=0)]


def _gru_sequence_jvp(xp, tangents, out, gi, h0, weight_hh, bias_hh):
    t_gi, dh, t_w, t_b = tangents
    size = h0.shape[-1]
    h_before = _previous(xp, out, h0, 0, size)
    steps = []
    for t in range(gi.shape[0]):
        _, r, z, n, hn = _chunks(out[t, ...], size, 5)
        x_r, x_z, x_n = _chunks(t_gi[t, ...], size, 3)
        d_r, d_z, d_hn = _chunks(xp.matmul(dh, xp.matrix_transpose(weight_hh))
                                 + xp.matmul(h_before[t, ...], xp.matrix_transpose(t_w)) + t_b, size, 3)
        d_r, d_z = (x_r + d_r) * r * (1 - r), (x_z + d_z) * z * (1 - z)
        d_n = (x_n + d_r * hn + r * d_hn) * (1 - n * n)
        dh = d_n + d_z * (h_before[t, ...] - n) + z * (dh - d_n)
        steps.append(xp.concat([dh, d_r, d_z, d_n, d_hn], axis=-1))
    return xp.stack(steps, axis=0)


defprim("gru_sequence", lambda xp, gi, h0, weight_hh, bias_hh: _run(xp, "gru_sequence", _gru_sequence, gi, h0,
                                                                     weight_hh, bias_hh),
        vjp=_gru_sequence_vjp, jvp=_gru_sequence_jvp,
        doc="A GRU layer over a sequence from its input projections gi (L, N, 3H), gates r, z, n: "
            "(L, N, 5H) holding per step [h, r, z, n, hn], hn = h W_hnᵀ + b_hn.")
PORTABLE["gru_sequence"] = (_gru_sequence, None)  # a forward kernel only


# ---------------------------------------------------------------- Elman RNN: h' = tanh or relu of (gi + h W_hhᵀ + b_hh)
def _activate(xp, x, nonlinearity):
    return xp.tanh(x) if nonlinearity == "tanh" else xp.maximum(x, xp.zeros_like(x))


def _slope(xp, h, nonlinearity):
    """The activation's derivative, from its result."""
    return 1 - h * h if nonlinearity == "tanh" else xp.astype(h > 0, h.dtype)


def _rnn_sequence(xp, gi, h0, weight_hh, bias_hh, nonlinearity):
    w = xp.matrix_transpose(weight_hh)
    h, steps = h0, []
    for t in range(gi.shape[0]):
        h = _activate(xp, gi[t, ...] + xp.matmul(h, w) + bias_hh, nonlinearity)
        steps.append(h)
    return xp.stack(steps, axis=0)


def _rnn_sequence_vjp(xp, grad, out, gi, h0, weight_hh, bias_hh, nonlinearity):
    dh_next, d_pre = None, [None] * gi.shape[0]
    for t in range(gi.shape[0] - 1, -1, -1):
        dh = grad[t, ...] if dh_next is None else grad[t, ...] + dh_next
        d_pre[t] = dh * _slope(xp, out[t, ...], nonlinearity)
        dh_next = xp.matmul(d_pre[t], weight_hh)
    d_gi = xp.stack(d_pre, axis=0)
    flat = xp.reshape(d_gi, (-1, d_gi.shape[-1]))
    previous = xp.reshape(xp.concat([xp.expand_dims(h0, axis=0), out[:-1, ...]], axis=0), (-1, h0.shape[-1]))
    return [d_gi, dh_next, xp.matmul(xp.matrix_transpose(flat), previous), xp.sum(flat, axis=0)]


def _rnn_sequence_jvp(xp, tangents, out, gi, h0, weight_hh, bias_hh, nonlinearity):
    t_gi, dh, t_w, t_b = tangents
    steps = []
    for t in range(gi.shape[0]):
        h_before = h0 if t == 0 else out[t - 1, ...]
        dh = (t_gi[t, ...] + xp.matmul(dh, xp.matrix_transpose(weight_hh)) + xp.matmul(h_before, xp.matrix_transpose(t_w))
              + t_b) * _slope(xp, out[t, ...], nonlinearity)
        steps.append(dh)
    return xp.stack(steps, axis=0)


defprim("rnn_sequence", lambda xp, gi, h0, weight_hh, bias_hh, *, nonlinearity:
        _run(xp, "rnn_sequence", _rnn_sequence, gi, h0, weight_hh, bias_hh, nonlinearity),
        vjp=_rnn_sequence_vjp, jvp=_rnn_sequence_jvp,
        doc="An Elman RNN layer over a sequence from its input projections gi (L, N, H): the hidden states "
            "(L, N, H), nonlinearity 'tanh' or 'relu'.")
PORTABLE["rnn_sequence"] = (_rnn_sequence, None)  # a forward kernel only
