"""PyTorch's fused optimizer updates (polygrad/optim/kernels.py): torch's multi-tensor `_foreach_*` ops
over the whole group, as torch.optim's foreach implementations run them; numbers that differ per
parameter (bias corrections) go in as scalar lists. The formulas are optim.py's portable updates.
Temporaries are the ones torch's own foreach path makes (a denominator list, a decayed gradient).
"""

import math

import torch


def _decayed(ws, grads, decay):
    """grads + decay * ws (new tensors: p.grad is never written)."""
    return torch._foreach_add(grads, ws, alpha=decay) if decay else grads


def _averages(ms, vs, grads, beta1, beta2):
    """m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2."""
    torch._foreach_lerp_(ms, grads, 1 - beta1)
    torch._foreach_mul_(vs, beta2)
    torch._foreach_addcmul_(vs, grads, grads, value=1 - beta2)


def _root_plus(xs, eps):
    roots = torch._foreach_sqrt(xs)
    torch._foreach_add_(roots, eps)
    return roots


def _decay_weights(ws, grads, h, decoupled):
    """L2 decay added to the gradients, or decoupled: ws *= 1 - lr * decay."""
    if not decoupled:
        return _decayed(ws, grads, h["weight_decay"])
    if h["weight_decay"]:
        torch._foreach_mul_(ws, 1 - h["lr"] * h["weight_decay"])
    return grads


def sgd_update(ws, grads, state, h):
    momentum, lr = h["momentum"], h["lr"]
    grads = _decayed(ws, grads, h["weight_decay"])
    if momentum:
        bufs = state["momentum_buffer"]
        torch._foreach_mul_(bufs, momentum)
        torch._foreach_add_(bufs, grads, alpha=1 - h["dampening"])
        if h["nesterov"]:  # w -= lr (g + momentum buf), as two passes that write no gradient
            torch._foreach_add_(ws, grads, alpha=-lr)
            grads, lr = bufs, lr * momentum
        else:
            grads = bufs
    torch._foreach_add_(ws, grads, alpha=-lr)


def adam_update(ws, grads, state, h):
    beta1, beta2, lr = *h["betas"], h["lr"]
    grads = _decay_weights(ws, grads, h, h["decoupled"])
    ms, vs = state["exp_avg"], state["exp_avg_sq"]
    _averages(ms, vs, grads, beta1, beta2)
    if "max_exp_avg_sq" in state:
        torch._foreach_maximum_(state["max_exp_avg_sq"], vs)
        vs = state["max_exp_avg_sq"]
    denominators = torch._foreach_sqrt(vs)
    torch._foreach_div_(denominators, [math.sqrt(1 - beta2 ** t) for t in h["steps"]])
    torch._foreach_add_(denominators, h["eps"])
    torch._foreach_addcdiv_(ws, ms, denominators, [-lr / (1 - beta1 ** t) for t in h["steps"]])


def rmsprop_update(ws, grads, state, h):
    alpha = h["alpha"]
    grads = _decayed(ws, grads, h["weight_decay"])
    squares = state["square_avg"]
    torch._foreach_mul_(squares, alpha)
    torch._foreach_addcmul_(squares, grads, grads, value=1 - alpha)
    if "grad_avg" in state:
        means = state["grad_avg"]
        torch._foreach_lerp_(means, grads, 1 - alpha)
        roots = torch._foreach_addcmul(squares, means, means, value=-1)
        torch._foreach_sqrt_(roots)
        torch._foreach_add_(roots, h["eps"])
    else:
        roots = _root_plus(squares, h["eps"])
    if "momentum_buffer" in state:
        bufs = state["momentum_buffer"]
        torch._foreach_mul_(bufs, h["momentum"])
        torch._foreach_addcdiv_(bufs, grads, roots)
        torch._foreach_add_(ws, bufs, alpha=-h["lr"])
    else:
        torch._foreach_addcdiv_(ws, grads, roots, value=-h["lr"])


def adagrad_update(ws, grads, state, h):
    grads = _decayed(ws, grads, h["weight_decay"])
    torch._foreach_addcmul_(state["sum"], grads, grads)
    roots = _root_plus(state["sum"], h["eps"])
    torch._foreach_addcdiv_(ws, grads, roots, [-h["lr"] / (1 + (t - 1) * h["lr_decay"]) for t in h["steps"]])


def adadelta_update(ws, grads, state, h):
    rho, eps = h["rho"], h["eps"]
    grads = _decayed(ws, grads, h["weight_decay"])
    squares, accumulated = state["square_avg"], state["acc_delta"]
    torch._foreach_mul_(squares, rho)
    torch._foreach_addcmul_(squares, grads, grads, value=1 - rho)
    roots = torch._foreach_add(squares, eps)
    torch._foreach_sqrt_(roots)
    deltas = torch._foreach_add(accumulated, eps)
    torch._foreach_sqrt_(deltas)
    torch._foreach_div_(deltas, roots)
    torch._foreach_mul_(deltas, grads)
    torch._foreach_mul_(accumulated, rho)
    torch._foreach_addcmul_(accumulated, deltas, deltas, value=1 - rho)
    torch._foreach_add_(ws, deltas, alpha=-h["lr"])


def adamax_update(ws, grads, state, h):
    beta1, beta2 = h["betas"]
    grads = _decayed(ws, grads, h["weight_decay"])
    ms, peaks = state["exp_avg"], state["exp_inf"]
    torch._foreach_lerp_(ms, grads, 1 - beta1)
    torch._foreach_mul_(peaks, beta2)
    sizes = torch._foreach_abs(grads)
    torch._foreach_add_(sizes, h["eps"])
    torch._foreach_maximum_(peaks, sizes)
    torch._foreach_addcdiv_(ws, ms, peaks, [-h["lr"] / (1 - beta1 ** t) for t in h["steps"]])


def nadam_update(ws, grads, state, h):
    beta1, beta2, lr = *h["betas"], h["lr"]
    grads = _decay_weights(ws, grads, h, h["decoupled_weight_decay"])
    ms, vs = state["exp_avg"], state["exp_avg_sq"]
    _averages(ms, vs, grads, beta1, beta2)
    roots = torch._foreach_div(vs, [1 - beta2 ** t for t in h["steps"]])
    torch._foreach_sqrt_(roots)
    torch._foreach_add_(roots, h["eps"])
    products = h["mu_products"]
    torch._foreach_addcdiv_(ws, grads, roots, [-lr * (1 - mu) / (1 - p) for mu, p in zip(h["mus"], products)])
    torch._foreach_addcdiv_(ws, ms, roots, [-lr * mu / (1 - p * mu) for mu, p in zip(h["mu_nexts"], products)])


def radam_update(ws, grads, state, h):
    beta1, beta2, lr = *h["betas"], h["lr"]
    grads = _decay_weights(ws, grads, h, h["decoupled_weight_decay"])
    ms, vs = state["exp_avg"], state["exp_avg_sq"]
    _averages(ms, vs, grads, beta1, beta2)
    rho_inf = 2 / (1 - beta2) - 1
    rectified, scales = [], []
    for i, t in enumerate(h["steps"]):
        correction1, correction2 = 1 - beta1 ** t, 1 - beta2 ** t
        rho_t = rho_inf - 2 * t * beta2 ** t / correction2
        if rho_t <= 5:  # the variance estimate is not reliable yet: momentum SGD
            ws[i].add_(ms[i], alpha=-lr / correction1)
            continue
        rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        rectified.append(i)
        scales.append(-lr / correction1 * rect * math.sqrt(correction2))
    if rectified:
        roots = _root_plus([vs[i] for i in rectified], h["eps"])
        torch._foreach_addcdiv_([ws[i] for i in rectified], [ms[i] for i in rectified], roots, scales)


def rprop_update(ws, grads, state, h):
    shrink, grow = h["etas"]
    lowest, highest = h["step_sizes"]
    factors = torch._foreach_mul(grads, state["prev"])
    for w, grad, prev, size, factor in zip(ws, grads, state["prev"], state["step_size"], factors):
        grown, shrunk = factor > 0, factor < 0
        factor.fill_(1).masked_fill_(grown, grow).masked_fill_(shrunk, shrink)
        size.mul_(factor).clamp_(lowest, highest)
        prev.copy_(grad).masked_fill_(shrunk, 0)  # after a sign flip: no move, and no flip next
        w.addcmul_(prev.sign(), size, value=-1)


def asgd_update(ws, grads, state, h):
    grads = _decayed(ws, grads, h["weight_decay"])
    etas = h["etas"]
    torch._foreach_mul_(ws, [1 - h["lambd"] * eta for eta in etas])
    torch._foreach_add_(ws, torch._foreach_mul(grads, [-eta for eta in etas]))
    for average, w, mu in zip(state["ax"], ws, h["mus"]):
        if mu != 1:
            average.add_(w.sub(average).mul_(mu))
        else:
            average.copy_(w)


def lbfgs_direction(flat_grad, old_dirs, old_steps, ro, h_diag):
    """-H g by the two-loop recursion, as torch.optim.LBFGS: one new vector, updated in place with torch.dot
    and add_ (the coefficients are host numbers, as torch's own loop reads them)."""
    q, alphas = flat_grad.neg(), []
    for i in range(len(old_dirs) - 1, -1, -1):
        alphas.append(float(old_steps[i].dot(q)) * ro[i])
        q.add_(old_dirs[i], alpha=-alphas[-1])
    q.mul_(h_diag)
    for i, alpha in enumerate(reversed(alphas)):
        q.add_(old_steps[i], alpha=alpha - float(old_dirs[i].dot(q)) * ro[i])
    return q


def lbfgs_update(ws, d, t):
    """Every parameter += t * its slice of the flat d: one multi-tensor add over views of d."""
    slices = torch.split(d, [w.numel() for w in ws])
    torch._foreach_add_(ws, [part.view_as(w) for part, w in zip(slices, ws)], alpha=t)


KERNELS = {"sgd_update": sgd_update, "adam_update": adam_update, "rmsprop_update": rmsprop_update,
           "adagrad_update": adagrad_update, "adadelta_update": adadelta_update, "adamax_update": adamax_update,
           "nadam_update": nadam_update, "radam_update": radam_update, "rprop_update": rprop_update,
           "asgd_update": asgd_update, "lbfgs_direction": lbfgs_direction, "lbfgs_update": lbfgs_update}
