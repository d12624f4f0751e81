"""Optimizers, learning-rate schedulers and gradient clipping, PyTorch style.

Updates run under `no_grad` with the in-place Tensor methods (`add_`, `mul_`,
`sub_`, `copy_`): a parameter keeps its identity, device and dtype, and its
version counter records the change, so a graph that saved the old value
refuses to backpropagate through the new one. Optimizer state (momentum
buffers, Adam's moments) is made with `zeros_like`/`asarray` from each
parameter, so it lives on that parameter's device in its dtype; loading a state
dict puts every saved tensor back onto its parameter's current device.
"""

import bisect
import math

from . import ops
from .creation import asarray, zeros_like
from .engine import enable_grad, no_grad
from .tensor import Tensor

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop",
    "LRScheduler", "StepLR", "CosineAnnealingLR", "LinearLR", "SequentialLR",
    "clip_grad_norm_",
]


class Optimizer:
    """Holds parameter groups and per-parameter state; subclasses write `_update`.

    `params` is an iterable of tensors, or of dicts `{"params": [...], "lr": ...}`
    giving each group its own hyperparameters (missing ones come from the
    optimizer's defaults). `state[p]` is a dict per parameter.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        params = [params] if isinstance(params, Tensor) else list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for group in params if isinstance(params[0], dict) else [{"params": params}]:
            self.add_param_group(group)

    def add_param_group(self, group):
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for name, value in self.defaults.items():
            group.setdefault(name, value)
        seen = {id(p) for p in self._params()}
        for p in group["params"]:
            if not isinstance(p, Tensor) or not p.is_leaf:
                raise TypeError(f"{type(self).__name__}: can only optimize leaf Tensors, got {type(p).__name__}")
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: a parameter appears more than once")
            seen.add(id(p))
        self.param_groups.append(group)

    def _params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none=True):
        """Forget gradients: drop them (default, as PyTorch) or fill them with zeros."""
        for p in self._params():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p, p.grad, self.state.setdefault(p, {}), group)
        return loss

    def _update(self, p, grad, state, group):
        raise NotImplementedError

    # ---- saving ------------------------------------------------------------
    def state_dict(self):
        """{"state": {index: {name: Tensor or number}}, "param_groups": [...]}.

        Parameters are named by their position across groups, as in PyTorch, so
        the dict fits any optimizer built over the same parameters in the same order.
        """
        index = {id(p): i for i, p in enumerate(self._params())}
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        return {"state": {index[id(p)]: dict(s) for p, s in self.state.items()}, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state; tensors go onto each parameter's device and dtype.

        Everything is checked before anything changes: on error the optimizer is untouched.
        """
        saved_groups = state_dict["param_groups"]
        if [len(g["params"]) for g in saved_groups] != [len(g["params"]) for g in self.param_groups]:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the saved parameter groups have sizes "
                f"{[len(g['params']) for g in saved_groups]}, this optimizer's "
                f"{[len(g['params']) for g in self.param_groups]}"
            )
        params = self._params()
        state = {}
        for i, saved in state_dict["state"].items():
            p = params[int(i)]
            state[p] = {name: _onto(value, p, f"state[{i}][{name!r}]") for name, value in saved.items()}
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = state


def _onto(value, p, what):
    """A saved state entry for parameter p: numbers stay, arrays become tensors like p."""
    if isinstance(value, (bool, int, float)):
        return value
    t = asarray(value, device=p.device, dtype=p.dtype, copy=True)
    if t.shape != p.shape:
        raise ValueError(f"optimizer {what} has shape {t.shape}, but its parameter has shape {p.shape}")
    return t


def _copy(t):
    return asarray(t, copy=True)


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay.

    With momentum m: buf = m * buf + (1 - dampening) * g (buf = g at the first step),
    then p -= lr * (g + m * buf if nesterov else buf).
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got {lr}, {momentum}, {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _update(self, p, grad, state, group):
        if group["weight_decay"]:
            grad = grad + p * group["weight_decay"]
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = _copy(grad)
            else:
                buf.mul_(momentum).add_(grad, alpha=1 - group["dampening"])
            grad = grad + buf * momentum if group["nesterov"] else buf
        p.sub_(grad, alpha=group["lr"])


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; weight_decay adds an L2 term to the gradient.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)
    """

    decoupled = False  # AdamW decays the weights directly instead

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"{type(self).__name__}: invalid lr={lr}, betas={betas}, eps={eps} "
                             f"or weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _update(self, p, grad, state, group):
        lr, decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if decay and self.decoupled:
            p.mul_(1 - lr * decay)
        elif decay:
            grad = grad + p * decay
        if not state:
            state.update(step=0, exp_avg=zeros_like(p), exp_avg_sq=zeros_like(p))
        state["step"] += 1
        t = state["step"]
        state["exp_avg"].mul_(beta1).add_(grad, alpha=1 - beta1)
        state["exp_avg_sq"].mul_(beta2).add_(grad * grad, alpha=1 - beta2)
        denominator = ops.sqrt(state["exp_avg_sq"] / (1 - beta2 ** t)) + group["eps"]
        p.sub_(state["exp_avg"] / denominator, alpha=lr / (1 - beta1 ** t))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p *= 1 - lr * weight_decay first."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root mean square (optionally centered).

    s = alpha s + (1 - alpha) g^2;  centered: a = alpha a + (1 - alpha) g, s - a^2 in place of s
    step = g / (sqrt(s) + eps); with momentum: buf = momentum buf + step
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        if lr < 0 or eps < 0 or weight_decay < 0 or momentum < 0 or not 0 <= alpha <= 1:
            raise ValueError(f"RMSprop: invalid lr={lr}, alpha={alpha}, eps={eps}, "
                             f"weight_decay={weight_decay} or momentum={momentum}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _update(self, p, grad, state, group):
        alpha = group["alpha"]
        if group["weight_decay"]:
            grad = grad + p * group["weight_decay"]
        if not state:
            state.update(step=0, square_avg=zeros_like(p))
            if group["momentum"]:
                state["momentum_buffer"] = zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = zeros_like(p)
        state["step"] += 1
        state["square_avg"].mul_(alpha).add_(grad * grad, alpha=1 - alpha)
        mean_square = state["square_avg"]
        if group["centered"]:
            state["grad_avg"].mul_(alpha).add_(grad, alpha=1 - alpha)
            mean_square = mean_square - state["grad_avg"] * state["grad_avg"]
        step = grad / (ops.sqrt(mean_square) + group["eps"])
        if group["momentum"]:
            step = state["momentum_buffer"].mul_(group["momentum"]).add_(step)
        p.sub_(step, alpha=group["lr"])


# ================================================================ schedulers
class LRScheduler:
    """Sets every group's lr from its initial lr and the step count: lr = lr_at(initial, epoch).

    Constructing one applies epoch 0; call `step()` once per epoch (or per
    iteration, for warmup). Subclasses give the closed form `lr_at`, which is
    what lets SequentialLR chain them.
    """

    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr, epoch):
        raise NotImplementedError

    def step(self):
        self.last_epoch += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = self.lr_at(base, self.last_epoch)

    def get_last_lr(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state):
        self.base_lrs = list(state["base_lrs"])
        self.last_epoch = state["last_epoch"] - 1
        self.step()


class StepLR(LRScheduler):
    """lr = initial * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial - eta_min) * (1 + cos(pi * epoch / T_max)) / 2."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LinearLR(LRScheduler):
    """lr = initial * factor, the factor going linearly from start_factor to end_factor
    over total_iters steps, then staying. Linear warmup is
    `LinearLR(opt, start_factor=0.01, total_iters=warmup_steps)`.
    """

    def __init__(self, optimizer, start_factor=1 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1 or total_iters < 1:
            raise ValueError(f"LinearLR: need 0 < start_factor <= 1, 0 <= end_factor <= 1, total_iters >= 1; "
                             f"got {start_factor}, {end_factor}, {total_iters}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        progress = min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class SequentialLR(LRScheduler):
    """schedulers[i] from milestones[i-1] on, each counting epochs from its own start.

    Warmup then cosine: SequentialLR(opt, [LinearLR(opt, 0.01, total_iters=w),
    CosineAnnealingLR(opt, T_max=n - w)], milestones=[w]).
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        if len(milestones) != len(schedulers) - 1 or list(milestones) != sorted(milestones):
            raise ValueError("SequentialLR: needs one increasing milestone between each pair of schedulers")
        self.schedulers, self.milestones = list(schedulers), list(milestones)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        i = bisect.bisect_right(self.milestones, epoch)
        start = self.milestones[i - 1] if i else 0
        return self.schedulers[i].lr_at(base_lr, epoch - start)


# ================================================================ clipping
def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    """Scale gradients in place so their joint norm is at most max_norm; returns the norm before.

    The norm is a 0-d tensor on the first gradient's device: nothing is read
    back to the host, so clipping adds no synchronisation on a GPU.
    """
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return asarray(0.0)
    device = grads[0].device
    with no_grad():
        if norm_type == math.inf:
            total = ops.max(ops.stack([ops.max(ops.abs(g)).to(device) for g in grads]))
        else:
            powers = ops.stack([ops.sum(ops.abs(g) ** norm_type).to(device) for g in grads])
            total = ops.sum(powers) ** (1.0 / norm_type)
        scale = ops.clip(max_norm / (total + 1e-6), max=1.0)
        for g in grads:
            g.mul_(scale.to(g.device))
    return total
