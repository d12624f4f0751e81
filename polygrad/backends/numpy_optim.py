"""NumPy's fused optimizer updates (polygrad/optim/kernels.py): each parameter of a group updated in
place with ufuncs writing into scratch buffers that outlive the step, so a step allocates nothing
(a fresh parameter-sized array costs page faults on every step). NumPy has no multi-array ufuncs:
the pass over the group is a Python loop. The formulas are optim.py's portable updates.
"""

import math
import threading

import numpy as np

_LOCAL = threading.local()  # per thread: {dtype: one flat buffer grown to the largest request}, and views of it


def _scratch(w, count):
    """`count` scratch arrays shaped like w, views of one buffer kept between steps (one per thread, so
    optimizers stepping in two threads never share one); it holds at most 3 times the largest parameter, or
    L-BFGS's flat vector of all of them.
    The views are kept too, per shape: a step makes no new array objects either."""
    local = vars(_LOCAL)
    views = local.setdefault("views", {})
    key = (w.shape, w.dtype, count)
    if key not in views:
        n, buffers = w.size, local.setdefault("buffers", {})
        flat = buffers.get(w.dtype)
        if flat is None or flat.size < count * n:
            flat = buffers[w.dtype] = np.empty(count * n, w.dtype)
            views.clear()  # views of the smaller buffer would keep it alive
        views[key] = [flat[i * n:(i + 1) * n].reshape(w.shape) for i in range(count)]
    return views[key]


def _decayed(w, grad, decay, out):
    """grad + decay * w, in `out` (grad itself without decay: p.grad is never written)."""
    if not decay:
        return grad
    np.multiply(w, decay, out=out)
    out += grad
    return out


def _decay(w, grad, lr, decay, decoupled, out):
    """Weight decay as Adam (into the gradient, in `out`) or AdamW (w shrinks in place): the gradient to use."""
    if decoupled:
        w *= 1 - lr * decay
        return grad
    return _decayed(w, grad, decay, out)


def _add_scaled(target, x, scale, scratch):
    """target += scale * x, the product made in scratch (which may be x)."""
    np.multiply(x, scale, out=scratch)
    target += scratch


def _average(avg, x, weight, scratch):
    """avg = weight * avg + (1 - weight) * x: the running averages of every optimizer here."""
    avg *= weight
    _add_scaled(avg, x, 1 - weight, scratch)


def _square_average(avg, x, weight, scratch):
    """avg = weight * avg + (1 - weight) * x^2."""
    np.multiply(x, x, out=scratch)
    _average(avg, scratch, weight, scratch)


def _root_plus(x, eps, out):
    np.sqrt(x, out=out)
    out += eps
    return out


def sgd_update(ws, grads, state, h):
    momentum, bufs = h["momentum"], state.get("momentum_buffer", [None] * len(ws))
    for w, grad, buf in zip(ws, grads, bufs):
        s0, s1 = _scratch(w, 2)
        grad = _decayed(w, grad, h["weight_decay"], s0)
        if momentum:
            buf *= momentum
            _add_scaled(buf, grad, 1 - h["dampening"], s1)
            if h["nesterov"]:
                np.multiply(buf, momentum, out=s1)
                s1 += grad
                grad = s1
            else:
                grad = buf
        _add_scaled(w, grad, -h["lr"], s1)


def adam_update(ws, grads, state, h):
    beta1, beta2, lr, decay = *h["betas"], h["lr"], h["weight_decay"]
    peaks = state.get("max_exp_avg_sq", [None] * len(ws))
    for w, grad, m, v, peak, t in zip(ws, grads, state["exp_avg"], state["exp_avg_sq"], peaks, h["steps"]):
        s0, s1 = _scratch(w, 2)
        grad = _decay(w, grad, lr, decay, h["decoupled"], s0)
        _average(m, grad, beta1, s1)
        _square_average(v, grad, beta2, s1)
        if peak is not None:
            np.maximum(peak, v, out=peak)
            v = peak
        np.sqrt(v, out=s1)
        s1 /= math.sqrt(1 - beta2 ** t)
        s1 += h["eps"]
        np.divide(m, s1, out=s1)
        _add_scaled(w, s1, -lr / (1 - beta1 ** t), s1)


def rmsprop_update(ws, grads, state, h):
    alpha, n = h["alpha"], len(ws)
    means, bufs = state.get("grad_avg", [None] * n), state.get("momentum_buffer", [None] * n)
    for w, grad, square, mean, buf in zip(ws, grads, state["square_avg"], means, bufs):
        s0, s1 = _scratch(w, 2)
        grad = _decayed(w, grad, h["weight_decay"], s0)
        _square_average(square, grad, alpha, s1)
        if mean is not None:
            _average(mean, grad, alpha, s1)
            np.multiply(mean, mean, out=s1)
            np.subtract(square, s1, out=s1)
            _root_plus(s1, h["eps"], s1)
        else:
            _root_plus(square, h["eps"], s1)
        np.divide(grad, s1, out=s1)
        if buf is not None:
            buf *= h["momentum"]
            buf += s1
            _add_scaled(w, buf, -h["lr"], s1)
        else:
            _add_scaled(w, s1, -h["lr"], s1)


def adagrad_update(ws, grads, state, h):
    for w, grad, total, t in zip(ws, grads, state["sum"], h["steps"]):
        s0, s1 = _scratch(w, 2)
        grad = _decayed(w, grad, h["weight_decay"], s0)
        np.multiply(grad, grad, out=s1)
        total += s1
        _root_plus(total, h["eps"], s1)
        np.divide(grad, s1, out=s1)
        _add_scaled(w, s1, -h["lr"] / (1 + (t - 1) * h["lr_decay"]), s1)


def adadelta_update(ws, grads, state, h):
    rho, eps = h["rho"], h["eps"]
    for w, grad, square, accumulated in zip(ws, grads, state["square_avg"], state["acc_delta"]):
        s0, s1, delta = _scratch(w, 3)
        grad = _decayed(w, grad, h["weight_decay"], s0)
        _square_average(square, grad, rho, s1)
        np.add(accumulated, eps, out=delta)
        np.sqrt(delta, out=delta)
        np.add(square, eps, out=s1)
        np.sqrt(s1, out=s1)
        delta /= s1
        delta *= grad
        _square_average(accumulated, delta, rho, s1)
        _add_scaled(w, delta, -h["lr"], delta)


def adamax_update(ws, grads, state, h):
    beta1, beta2 = h["betas"]
    for w, grad, m, peak, t in zip(ws, grads, state["exp_avg"], state["exp_inf"], h["steps"]):
        s0, s1 = _scratch(w, 2)
        grad = _decayed(w, grad, h["weight_decay"], s0)
        _average(m, grad, beta1, s1)
        peak *= beta2
        np.abs(grad, out=s1)
        s1 += h["eps"]
        np.maximum(peak, s1, out=peak)
        np.divide(m, peak, out=s1)
        _add_scaled(w, s1, -h["lr"] / (1 - beta1 ** t), s1)


def nadam_update(ws, grads, state, h):
    beta1, beta2, lr, decay = *h["betas"], h["lr"], h["weight_decay"]
    for w, grad, m, v, t, mu, mu_next, product in zip(ws, grads, state["exp_avg"], state["exp_avg_sq"], h["steps"],
                                                       h["mus"], h["mu_nexts"], h["mu_products"]):
        s0, s1, root = _scratch(w, 3)
        grad = _decay(w, grad, lr, decay, h["decoupled_weight_decay"], s0)
        _average(m, grad, beta1, s1)
        _square_average(v, grad, beta2, s1)
        np.divide(v, 1 - beta2 ** t, out=root)
        _root_plus(root, h["eps"], root)
        np.divide(grad, root, out=s1)
        _add_scaled(w, s1, -lr * (1 - mu) / (1 - product), s1)
        np.divide(m, root, out=s1)
        _add_scaled(w, s1, -lr * mu_next / (1 - product * mu_next), s1)


def radam_update(ws, grads, state, h):
    beta1, beta2, lr, decay = *h["betas"], h["lr"], h["weight_decay"]
    rho_inf = 2 / (1 - beta2) - 1
    for w, grad, m, v, t in zip(ws, grads, state["exp_avg"], state["exp_avg_sq"], h["steps"]):
        s0, s1 = _scratch(w, 2)
        grad = _decay(w, grad, lr, decay, h["decoupled_weight_decay"], s0)
        _average(m, grad, beta1, s1)
        _square_average(v, grad, beta2, s1)
        correction1, correction2 = 1 - beta1 ** t, 1 - beta2 ** t
        rho_t = rho_inf - 2 * t * beta2 ** t / correction2
        if rho_t <= 5:  # the variance estimate is not reliable yet: momentum SGD
            _add_scaled(w, m, -lr / correction1, s1)
            continue
        rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        _root_plus(v, h["eps"], s1)
        np.divide(m, s1, out=s1)
        _add_scaled(w, s1, -lr / correction1 * rect * math.sqrt(correction2), s1)


def rprop_update(ws, grads, state, h):
    shrink, grow = h["etas"]
    for w, grad, prev, size in zip(ws, grads, state["prev"], state["step_size"]):
        factor, = _scratch(w, 1)
        np.multiply(grad, prev, out=factor)
        grown, shrunk = factor > 0, factor < 0
        factor.fill(1)
        np.putmask(factor, grown, grow)
        np.putmask(factor, shrunk, shrink)
        size *= factor
        np.clip(size, *h["step_sizes"], out=size)
        np.copyto(prev, grad)
        np.putmask(prev, shrunk, 0)  # after a sign flip: no move, and no flip next
        np.sign(prev, out=factor)
        factor *= size
        w -= factor


def asgd_update(ws, grads, state, h):
    for w, grad, average, eta, mu in zip(ws, grads, state["ax"], h["etas"], h["mus"]):
        s0, s1 = _scratch(w, 2)
        grad = _decayed(w, grad, h["weight_decay"], s0)
        w *= 1 - h["lambd"] * eta
        _add_scaled(w, grad, -eta, s1)
        if mu != 1:
            np.subtract(w, average, out=s1)
            _add_scaled(average, s1, mu, s1)
        else:
            np.copyto(average, w)


def lbfgs_direction(flat_grad, old_dirs, old_steps, ro, h_diag):
    """-H g by the two-loop recursion: one new vector, updated in place (BLAS dots; each scaled history
    vector made in a scratch buffer)."""
    q, alphas = np.negative(flat_grad), []
    (scratch,) = _scratch(q, 1)
    for i in range(len(old_dirs) - 1, -1, -1):
        alphas.append(float(np.dot(old_steps[i], q)) * ro[i])
        _add_scaled(q, old_dirs[i], -alphas[-1], scratch)
    q *= h_diag
    for i, alpha in enumerate(reversed(alphas)):
        _add_scaled(q, old_steps[i], alpha - float(np.dot(old_dirs[i], q)) * ro[i], scratch)
    return q


def lbfgs_update(ws, d, t):
    """Every parameter += t * its slice of the flat d: t * d made once in a scratch buffer, then added slice by slice."""
    (step,) = _scratch(d, 1)
    np.multiply(d, t, out=step)
    offset = 0
    for w in ws:
        w += step[offset:offset + w.size].reshape(w.shape)
        offset += w.size


KERNELS = {"sgd_update": sgd_update, "adam_update": adam_update, "rmsprop_update": rmsprop_update,
           "adagrad_update": adagrad_update, "adadelta_update": adadelta_update, "adamax_update": adamax_update,
           "nadam_update": nadam_update, "radam_update": radam_update, "rprop_update": rprop_update,
           "asgd_update": asgd_update, "lbfgs_direction": lbfgs_direction, "lbfgs_update": lbfgs_update}
