"""Optimizers, learning-rate schedulers and gradient clipping, PyTorch style.

A step works on the raw backend arrays: each update rule reads the gradient's
array and writes the parameter's array and its state arrays in place, with
no Tensor made per parameter per step. A parameter keeps its identity, device
and dtype, and its version counter records the change, so a graph that saved
the old value refuses to backpropagate through the new one. Optimizer state
(momentum buffers, Adam's moments) is made with `zeros_like`/`asarray` from each
parameter, so it lives on that parameter's device in its dtype; loading a state
dict puts every saved tensor back onto its parameter's current device.
"""

import bisect
import functools
import math

from . import ops, optim_kernels
from .creation import asarray, zeros_like
from .engine import enable_grad, no_grad
from .tensor import Tensor

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "Rprop", "ASGD", "LBFGS",
    "LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR", "PolynomialLR",
    "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR", "CyclicLR", "MultiplicativeLR",
    "SequentialLR", "ChainedScheduler", "ReduceLROnPlateau", "clip_grad_norm_",
]


class Optimizer:
    """Holds parameter groups and per-parameter state; subclasses write `_update`.

    `params` is an iterable of tensors, or of dicts `{"params": [...], "lr": ...}`
    giving each group its own hyperparameters (missing ones come from the
    optimizer's defaults). `state[p]` is a dict per parameter.

    A step works on raw backend arrays: `_update(p, w, g, state, group)` gets
    the parameter's array `w` (written in place), its gradient array `g`
    (negated when the group maximizes) and the state, whose tensors it also
    updates through their arrays. No Tensor is made per parameter per step.

    PyTorch's implementation switches are accepted by every optimizer and change
    nothing, since they would not change the results: `foreach` and `fused` (a backend's
    fused update, optim_kernels.py, runs wherever it has one; `_update` is its reference), `capturable`
    (state lives on each parameter's device already). `differentiable=True`, a
    step that records on the tape, is refused.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in vars(cls):
            cls.__init__ = _accepting_torch_switches(cls.__init__)

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        self._owned = {}  # parameter -> the array this optimizer made for it (see _own)
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
        for group in self.param_groups:
            if optim_kernels.step_group(self, group):  # the backend's fused update of the whole group
                continue
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = -p.grad.array if group.get("maximize") else p.grad.array
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {}
                self._update(p, self._own(p), grad, state, group)
                p._vc[0] += 1  # an in-place update: graphs whose rules read the old value refuse to run
        return loss

    def _own(self, p):
        """p's array, written in place: as in PyTorch every alias of the parameter (a
        `state_dict()` value, `p.data`, the NumPy array of `from_numpy`) sees the step.

        Only an array that cannot be written (a read-only or broadcast view) is first
        replaced by a copy of its own; the check is made again whenever p.array was rebound.
        """
        if self._owned.get(p) is not p.array:
            if not p.backend.writable(p.array):
                p.array = p.xp.asarray(p.array, copy=True)
            self._owned[p] = p.array
        return p.array

    def _update(self, p, w, grad, state, group):
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


_TORCH_SWITCHES = ("foreach", "fused", "capturable")


def _accepting_torch_switches(init):
    """init taking PyTorch's foreach=, fused=, capturable= (ignored) and differentiable=False too."""

    @functools.wraps(init)
    def accepting(self, *args, **kwargs):
        for name in _TORCH_SWITCHES:
            value = kwargs.pop(name, None)
            if value is not None and not isinstance(value, bool):
                raise TypeError(f"{type(self).__name__}: {name} must be None or a bool, got {value!r}")
        if kwargs.pop("differentiable", False):
            raise NotImplementedError(f"{type(self).__name__}: differentiable=True (a step recorded on the tape) "
                                      "is not supported")
        init(self, *args, **kwargs)

    return accepting


def _onto(value, p, what):
    """A saved state entry for parameter p: numbers stay, arrays become tensors like p."""
    if isinstance(value, (bool, int, float)):
        return value
    t = asarray(value, device=p.device, dtype=p.dtype, copy=True)
    if t.shape != p.shape:
        raise ValueError(f"optimizer {what} has shape {t.shape}, but its parameter has shape {p.shape}")
    return t


def _like(p, array):
    """A state tensor holding `array`, on p's device."""
    return Tensor._wrap(array, p.device)


def _zeros(p, *names):
    return {name: zeros_like(p) for name in names}


def _decayed(grad, w, weight_decay):
    """The gradient with an L2 term weight_decay * w added (a new array: p.grad is never written)."""
    return grad + w * weight_decay if weight_decay else grad


def _weight_decay(w, grad, lr, decay, decoupled):
    """L2 decay added to the gradient, or decoupled (AdamW style): w *= 1 - lr * decay, in place."""
    if not decoupled:
        return _decayed(grad, w, decay)
    if decay:
        w *= 1 - lr * decay
    return grad


def _check(name, **values):
    """Hyperparameters that must be >= 0, refused with their names."""
    bad = {k: v for k, v in values.items() if not v >= 0}
    if bad:
        raise ValueError(f"{name}: {', '.join(f'{k}={v}' for k, v in bad.items())} must be >= 0")


def _check_betas(name, betas):
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ValueError(f"{name}: betas must be two numbers in [0, 1), got {betas}")


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay.

    With momentum m: buf = m * buf + (1 - dampening) * g (buf = g at the first step),
    then p -= lr * (g + m * buf if nesterov else buf). maximize ascends.
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 *, maximize=False):
        _check("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))

    def _update(self, p, w, grad, state, group):
        grad = _decayed(grad, w, group["weight_decay"])
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = _like(p, p.xp.asarray(grad, copy=True))
            else:
                buf.array *= momentum
                buf.array += grad * (1 - group["dampening"])
            grad = grad + buf.array * momentum if group["nesterov"] else buf.array
        w -= grad * group["lr"]


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; weight_decay adds an L2 term to the gradient.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2  (amsgrad: v_max = max(v_max, v) in v's place)
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    decoupled = False  # AdamW decays the weights directly instead

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 *, maximize=False):
        name = type(self).__name__
        _check(name, lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas(name, betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _update(self, p, w, grad, state, group):
        lr, decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        grad = _weight_decay(w, grad, lr, decay, self.decoupled)
        if not state:
            state.update(step=0, **_zeros(p, "exp_avg", "exp_avg_sq"))
            if group["amsgrad"]:
                state.update(_zeros(p, "max_exp_avg_sq"))
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"].array, state["exp_avg_sq"].array
        m *= beta1
        m += grad * (1 - beta1)
        v *= beta2
        v += grad * grad * (1 - beta2)
        if group["amsgrad"]:
            peak = state["max_exp_avg_sq"]
            v = peak.array = p.xp.maximum(peak.array, v)
        denominator = p.xp.sqrt(v)
        denominator /= math.sqrt(1 - beta2 ** t)
        denominator += group["eps"]
        w -= m / denominator * (lr / (1 - beta1 ** t))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p *= 1 - lr * weight_decay first."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root mean square (optionally centered).

    s = alpha s + (1 - alpha) g^2;  centered: a = alpha a + (1 - alpha) g, s - a^2 in place of s
    step = g / (sqrt(s) + eps); with momentum: buf = momentum buf + step
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 *, maximize=False):
        _check("RMSprop", lr=lr, eps=eps, weight_decay=weight_decay, momentum=momentum)
        if not 0 <= alpha <= 1:
            raise ValueError(f"RMSprop: alpha must be in [0, 1], got {alpha}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _update(self, p, w, grad, state, group):
        alpha = group["alpha"]
        grad = _decayed(grad, w, group["weight_decay"])
        if not state:
            state.update(step=0, **_zeros(p, "square_avg"))
            if group["momentum"]:
                state.update(_zeros(p, "momentum_buffer"))
            if group["centered"]:
                state.update(_zeros(p, "grad_avg"))
        state["step"] += 1
        square = state["square_avg"].array
        square *= alpha
        square += grad * grad * (1 - alpha)
        if group["centered"]:
            mean = state["grad_avg"].array
            mean *= alpha
            mean += grad * (1 - alpha)
            root = p.xp.sqrt(square - mean * mean)
        else:
            root = p.xp.sqrt(square)
        root += group["eps"]
        step = grad / root
        if group["momentum"]:
            buf = state["momentum_buffer"].array
            buf *= group["momentum"]
            buf += step
            step = buf
        w -= step * group["lr"]


class Adagrad(Optimizer):
    """Adagrad: sum += g^2;  p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(sum) + eps).

    As in PyTorch, every parameter's state (step 0, sum = initial_accumulator_value) exists from the start.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 *, maximize=False):
        _check("Adagrad", lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
               initial_accumulator_value=initial_accumulator_value, eps=eps)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))
        for group in self.param_groups:
            for p in group["params"]:
                start = p.xp.full_like(p.array, group["initial_accumulator_value"])
                self.state[p] = {"step": 0, "sum": _like(p, start)}

    def _update(self, p, w, grad, state, group):
        grad = _decayed(grad, w, group["weight_decay"])
        state["step"] += 1
        total = state["sum"].array
        total += grad * grad
        root = p.xp.sqrt(total)
        root += group["eps"]
        w -= grad / root * (group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"]))


class Adadelta(Optimizer):
    """Adadelta (Zeiler): s = rho s + (1 - rho) g^2;  d = sqrt(u + eps) / sqrt(s + eps) g;
    u = rho u + (1 - rho) d^2;  p -= lr d.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *, maximize=False):
        _check("Adadelta", lr=lr, eps=eps, weight_decay=weight_decay)
        if not 0 <= rho <= 1:
            raise ValueError(f"Adadelta: rho must be in [0, 1], got {rho}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _update(self, p, w, grad, state, group):
        rho, eps, xp = group["rho"], group["eps"], p.xp
        grad = _decayed(grad, w, group["weight_decay"])
        if not state:
            state.update(step=0, **_zeros(p, "square_avg", "acc_delta"))
        state["step"] += 1
        square, accumulated = state["square_avg"].array, state["acc_delta"].array
        square *= rho
        square += grad * grad * (1 - rho)
        delta = xp.sqrt(accumulated + eps) / xp.sqrt(square + eps) * grad
        accumulated *= rho
        accumulated += delta * delta * (1 - rho)
        w -= delta * group["lr"]


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm): m = b1 m + (1 - b1) g;  u = max(b2 u, |g| + eps);
    p -= lr / (1 - b1^t) * m / u.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *, maximize=False):
        _check("Adamax", lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas("Adamax", betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _update(self, p, w, grad, state, group):
        beta1, beta2 = group["betas"]
        grad = _decayed(grad, w, group["weight_decay"])
        if not state:
            state.update(step=0, **_zeros(p, "exp_avg", "exp_inf"))
        state["step"] += 1
        m, peak = state["exp_avg"].array, state["exp_inf"]
        m *= beta1
        m += grad * (1 - beta1)
        peak.array = p.xp.maximum(peak.array * beta2, p.xp.abs(grad) + group["eps"])
        w -= m / peak.array * (group["lr"] / (1 - beta1 ** state["step"]))


class NAdam(Optimizer):
    """Adam with Nesterov momentum (Dozat), with PyTorch's momentum schedule
    mu_t = b1 (1 - 0.96^(t momentum_decay) / 2); decoupled_weight_decay gives NAdamW.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, maximize=False):
        _check("NAdam", lr=lr, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay)
        _check_betas("NAdam", betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _update(self, p, w, grad, state, group):
        lr, decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        grad = _weight_decay(w, grad, lr, decay, group["decoupled_weight_decay"])
        if not state:
            state.update(step=0, mu_product=1.0, **_zeros(p, "exp_avg", "exp_avg_sq"))
        state["step"] += 1
        t = state["step"]
        mu = beta1 * (1 - 0.5 * 0.96 ** (t * group["momentum_decay"]))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * group["momentum_decay"]))
        state["mu_product"] *= mu
        product = state["mu_product"]
        m, v = state["exp_avg"].array, state["exp_avg_sq"].array
        m *= beta1
        m += grad * (1 - beta1)
        v *= beta2
        v += grad * grad * (1 - beta2)
        denominator = p.xp.sqrt(v / (1 - beta2 ** t))
        denominator += group["eps"]
        w -= grad / denominator * (lr * (1 - mu) / (1 - product))
        w -= m / denominator * (lr * mu_next / (1 - product * mu_next))


class RAdam(Optimizer):
    """Rectified Adam (Liu et al.): plain momentum SGD while the variance estimate is
    unreliable (rho_t <= 5), then Adam scaled by the rectification term.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, maximize=False):
        _check("RAdam", lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas("RAdam", betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    def _update(self, p, w, grad, state, group):
        lr, decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        grad = _weight_decay(w, grad, lr, decay, group["decoupled_weight_decay"])
        if not state:
            state.update(step=0, **_zeros(p, "exp_avg", "exp_avg_sq"))
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"].array, state["exp_avg_sq"].array
        m *= beta1
        m += grad * (1 - beta1)
        v *= beta2
        v += grad * grad * (1 - beta2)
        correction1, correction2 = 1 - beta1 ** t, 1 - beta2 ** t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2 ** t / correction2
        if rho_t <= 5:
            w -= m * (lr / correction1)
            return
        rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        root = p.xp.sqrt(v)
        root += group["eps"]
        w -= m / root * (lr / correction1 * rect * math.sqrt(correction2))


class Rprop(Optimizer):
    """Resilient backpropagation: each weight's own step size grows by etas[1] while its
    gradient keeps its sign and shrinks by etas[0] when the sign flips (clamped to step_sizes);
    p -= sign(g) * step_size, with g taken as 0 right after a flip (PyTorch's variant).
    """

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, maximize=False):
        _check("Rprop", lr=lr)
        if not 0 < etas[0] < 1 < etas[1]:
            raise ValueError(f"Rprop: etas must satisfy 0 < etas[0] < 1 < etas[1], got {etas}")
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize))

    def _update(self, p, w, grad, state, group):
        xp = p.xp
        shrink, grow = group["etas"]
        if not state:
            state.update(step=0, **_zeros(p, "prev"), step_size=_like(p, xp.full_like(w, group["lr"])))
        state["step"] += 1
        product = grad * state["prev"].array
        factor = xp.where(product > 0, xp.full_like(w, grow),
                          xp.where(product < 0, xp.full_like(w, shrink), xp.ones_like(w)))
        size = state["step_size"]
        size.array = xp.clip(size.array * factor, *group["step_sizes"])
        grad = xp.where(factor == shrink, xp.zeros_like(w), grad)  # after a sign flip: no move, and no flip next
        w -= xp.sign(grad) * size.array
        state["prev"].array = grad


class ASGD(Optimizer):
    """Averaged SGD (Polyak & Juditsky), PyTorch's rule: p *= 1 - lambd eta;  p -= eta g;
    ax averages p from step t0 on (mu = 1 / max(1, t - t0));  eta = lr / (1 + lambd lr t)^alpha.
    """

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, maximize=False):
        _check("ASGD", lr=lr, weight_decay=weight_decay)
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                                      maximize=maximize))

    def _update(self, p, w, grad, state, group):
        lr, lambd = group["lr"], group["lambd"]
        grad = _decayed(grad, w, group["weight_decay"])
        if not state:
            state.update(step=0, eta=lr, mu=1.0, **_zeros(p, "ax"))
        state["step"] += 1
        t, eta, mu = state["step"], state["eta"], state["mu"]
        w *= 1 - lambd * eta
        w -= grad * eta
        average = state["ax"]
        if mu != 1:
            average.array += (w - average.array) * mu
        else:
            average.array = p.xp.asarray(w, copy=True)
        state["eta"] = lr / (1 + lambd * lr * t) ** group["alpha"]
        state["mu"] = 1 / max(1, t - group["t0"])


class LBFGS(Optimizer):
    """L-BFGS (PyTorch's algorithm): up to max_iter quasi-Newton steps per `step(closure)`,
    the direction from the last history_size (s, y) pairs; each step of length lr, or
    the step a strong-Wolfe line search finds (line_search_fn="strong_wolfe").

    Works on one flat vector of all parameters (they must share one device); its
    history lives in `state` on the first parameter, as in PyTorch.
    """

    def __init__(self, params, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        _check("LBFGS", lr=lr, tolerance_grad=tolerance_grad, tolerance_change=tolerance_change)
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval or max_iter * 5 // 4,
                                      tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS: takes one parameter group")

    def state_dict(self):
        """PyTorch's layout; the flat vectors (d, the history, prev_flat_grad) as Tensors, so pg.save takes it."""
        out = super().state_dict()
        device = self._params()[0].device
        out["state"] = {i: {name: _flat_state(value, lambda a: Tensor._wrap(a, device)) for name, value in s.items()}
                        for i, s in out["state"].items()}
        return out

    def load_state_dict(self, state_dict):
        """The flat vectors span every parameter, so they are not shaped like the first one:
        they come back as flat arrays on its device, in its dtype."""
        super().load_state_dict({**state_dict, "state": {}})
        params = self._params()
        first = params[0]

        def restored(t):
            return asarray(t, device=first.device, dtype=first.dtype, copy=True).array

        self.state = {params[int(i)]: {name: _flat_state(value, restored) for name, value in s.items()}
                      for i, s in state_dict["state"].items()}

    def _flat_grad(self):
        params = self._params()
        xp = params[0].xp
        parts = [xp.reshape(p.grad.array if p.grad is not None else xp.zeros_like(p.array), (-1,)) for p in params]
        return xp.concat(parts)

    def _move(self, t, d):
        """Every parameter += t * its slice of d, in place."""
        offset = 0
        for p in self._params():
            w = self._own(p)
            w += p.xp.reshape(d[offset:offset + p.size], p.shape) * t
            p._vc[0] += 1
            offset += p.size

    def _evaluate_at(self, closure, start, t, d):
        """(loss, flat gradient) with the parameters at start + t d, then put back to start."""
        self._move(t, d)
        with enable_grad():
            loss = float(closure())
        flat_grad = self._flat_grad()
        for p, saved in zip(self._params(), start, strict=True):
            self._own(p)[...] = saved
            p._vc[0] += 1
        return loss, flat_grad

    def step(self, closure):
        group = self.param_groups[0]
        lr, history_size = group["lr"], group["history_size"]
        tolerance_change = group["tolerance_change"]
        state = self.state.setdefault(self._params()[0], {"func_evals": 0, "n_iter": 0})
        xp = self._params()[0].xp

        def dot(a, b):
            return float(xp.sum(a * b))

        def largest(a):
            return float(xp.max(xp.abs(a)))

        with enable_grad():
            first_loss = closure()
        loss, evals = float(first_loss), 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if largest(flat_grad) <= group["tolerance_grad"]:
            return first_loss
        d, t = state.get("d"), state.get("t")
        old_dirs, old_steps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag, prev_grad = state.get("H_diag"), state.get("prev_flat_grad")
        for n_iter in range(1, group["max_iter"] + 1):
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d, old_dirs, old_steps, ro, h_diag = -flat_grad, [], [], [], 1.0
            else:
                y, s = flat_grad - prev_grad, d * t
                ys = dot(y, s)
                if ys > 1e-10:  # keep the curvature pair only when it is positive definite
                    if len(old_dirs) == history_size:
                        del old_dirs[0], old_steps[0], ro[0]
                    old_dirs.append(y)
                    old_steps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / dot(y, y)
                q, alphas = -flat_grad, []
                for i in range(len(old_dirs) - 1, -1, -1):
                    alphas.append(dot(old_steps[i], q) * ro[i])
                    q = q - old_dirs[i] * alphas[-1]
                d = q * h_diag
                for i, alpha in enumerate(reversed(alphas)):
                    d = d + old_steps[i] * (alpha - dot(old_dirs[i], d) * ro[i])
            prev_grad, prev_loss = flat_grad, loss
            t = min(1.0, 1.0 / float(xp.sum(xp.abs(flat_grad)))) * lr if state["n_iter"] == 1 else lr
            if dot(flat_grad, d) > -tolerance_change:
                break
            if group["line_search_fn"] == "strong_wolfe":
                start = [xp.asarray(p.array, copy=True) for p in self._params()]

                def along(step, start=start, d=d):
                    value, gradient = self._evaluate_at(closure, start, step, d)
                    return value, gradient, dot(gradient, d)

                loss, flat_grad, t, used = _strong_wolfe(along, t, largest(d), loss, flat_grad, dot(flat_grad, d),
                                                         max_ls=group["max_eval"] - evals)
                self._move(t, d)
            else:
                self._move(t, d)
                used = 0
                if n_iter != group["max_iter"]:
                    with enable_grad():
                        loss = float(closure())
                    flat_grad, used = self._flat_grad(), 1
            evals += used
            state["func_evals"] += used
            if (n_iter == group["max_iter"] or evals >= group["max_eval"]
                    or largest(flat_grad) <= group["tolerance_grad"]
                    or largest(d) * abs(t) <= tolerance_change or abs(loss - prev_loss) < tolerance_change):
                break
        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_steps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_grad, prev_loss=prev_loss)
        return first_loss


def _flat_state(value, convert):
    """An L-BFGS state entry with each array (or Tensor) in it, lists included, passed through convert."""
    if isinstance(value, list):
        return [_flat_state(v, convert) for v in value]
    return value if value is None or isinstance(value, (bool, int, float)) else convert(value)


def _cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None):
    """Where the cubic through (x1, f1) and (x2, f2) with slopes g1, g2 is least, within bounds."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    square = d1 * d1 - g1 * g2
    if square < 0:
        return (low + high) / 2
    d2 = math.sqrt(square)
    if x1 <= x2:
        point = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        point = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(point, low), high)


def _strong_wolfe(evaluate, t, d_norm, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """PyTorch's line search: a step t along d meeting the strong Wolfe conditions
    (sufficient decrease c1, curvature c2), by bracketing then cubic zooming.

    evaluate(t) gives (loss, flat gradient, slope along d) at t; points are
    [t, loss, gradient, slope]. Returns (loss, gradient, t, evaluations).
    """
    f_new, g_new, gtd_new = evaluate(t)
    evaluations, ls_iter, done = 1, 0, False
    previous = [0.0, f, g, gtd]
    bracket = None
    while ls_iter < max_ls:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= previous[1]):
            bracket = [previous, [t, f_new, g_new, gtd_new]]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, done = [[t, f_new, g_new, gtd_new]], True
            break
        if gtd_new >= 0:  # past the minimum along d
            bracket = [previous, [t, f_new, g_new, gtd_new]]
            break
        bounds = (t + 0.01 * (t - previous[0]), t * 10)  # extrapolate beyond t
        step = _cubic_minimum(previous[0], previous[1], previous[3], t, f_new, gtd_new, bounds)
        previous, t = [t, f_new, g_new, gtd_new], step
        f_new, g_new, gtd_new = evaluate(t)
        evaluations, ls_iter = evaluations + 1, ls_iter + 1
    if ls_iter == max_ls:
        bracket = [[0.0, f, g, None], [t, f_new, g_new, None]]
    insufficient = False
    low, high = (0, 1) if bracket[0][1] <= bracket[-1][1] else (1, 0)
    while not done and ls_iter < max_ls:  # zoom into the bracket
        if abs(bracket[1][0] - bracket[0][0]) * d_norm < tolerance_change:
            break
        (t0, f0, _, s0), (t1, f1, _, s1) = bracket
        t = _cubic_minimum(t0, f0, s0, t1, f1, s1)
        top, bottom = max(t0, t1), min(t0, t1)
        eps = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < eps:  # too close to an end: move inward, unless progress was fine
            if insufficient or t >= top or t <= bottom:
                t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new, gtd_new = evaluate(t)
        evaluations, ls_iter = evaluations + 1, ls_iter + 1
        if f_new > f + c1 * t * gtd or f_new >= bracket[low][1]:
            bracket[high] = [t, f_new, g_new, gtd_new]
            low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high][0] - bracket[low][0]) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = [t, f_new, g_new, gtd_new]
    t, f_new, g_new, _ = bracket[low]
    return f_new, g_new, t, evaluations


# ================================================================ schedulers
class LRScheduler:
    """Sets every group's lr once per `step()`, in PyTorch's chainable form.

    `get_lr()` computes each group's next lr from the lr the group has now, so
    two schedulers stepped back to back on one optimizer compose: each scales
    what the previous one left, exactly as in PyTorch. Constructing one
    applies epoch 0. Where a schedule has a closed form, `lr_at(base_lr, epoch)`
    gives it; SequentialLR uses it to restart a scheduler at its milestone.
    """

    lr_at = None
    _is_initial = False  # True while the constructor applies epoch 0

    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise ValueError(f"{type(self).__name__}: resuming at last_epoch={last_epoch} needs 'initial_lr' "
                                 f"in param_groups[{i}]; load the optimizer's state dict first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self):
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self):
        raise NotImplementedError

    def step(self):
        self._step_count += 1
        self.last_epoch += 1
        self._set(self.get_lr())

    def _set(self, lrs):
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _restart(self):
        """Epoch 0 again, from the closed form where there is one (SequentialLR at a milestone)."""
        self.last_epoch = 0
        self._set([self.lr_at(base, 0) for base in self.base_lrs] if self.lr_at else self.get_lr())

    def _lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self):
        """Every attribute but the optimizer (PyTorch's layout), all plain numbers and lists."""
        return {key: value for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state):
        """Restore the attributes, and the saved lrs onto the optimizer's groups, so a
        scheduler resumed without its optimizer's state still continues identically."""
        vars(self).update(state)
        self._set(self._last_lr)


class LambdaLR(LRScheduler):
    """lr = initial * lr_lambda(epoch); one function, or one per group."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        groups = len(optimizer.param_groups)
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(self.lr_lambdas) != groups:
            raise ValueError(f"LambdaLR: expected {groups} lr_lambdas, one per group, got {len(self.lr_lambdas)}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * f(self.last_epoch) for f, base in zip(self.lr_lambdas, self.base_lrs, strict=True)]

    def state_dict(self):
        """The functions themselves are not saved: they come from the code that builds the scheduler."""
        return {key: value for key, value in super().state_dict().items() if key != "lr_lambdas"}


class MultiplicativeLR(LRScheduler):
    """lr *= lr_lambda(epoch) at every step after the first; one function, or one per group."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        groups = len(optimizer.param_groups)
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(self.lr_lambdas) != groups:
            raise ValueError(f"MultiplicativeLR: expected {groups} lr_lambdas, one per group, "
                             f"got {len(self.lr_lambdas)}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._lrs()
        return [lr * f(self.last_epoch) for f, lr in zip(self.lr_lambdas, self._lrs(), strict=True)]

    def state_dict(self):
        return {key: value for key, value in super().state_dict().items() if key != "lr_lambdas"}


class StepLR(LRScheduler):
    """lr *= gamma every step_size epochs: initial * gamma ** (epoch // step_size) alone."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """lr *= gamma at each milestone epoch (a milestone listed twice multiplies twice)."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        hits = self.milestones.count(self.last_epoch)
        return [lr * self.gamma ** hits for lr in self._lrs()]

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)


class ConstantLR(LRScheduler):
    """lr = initial * factor until epoch total_iters, then initial."""

    def __init__(self, optimizer, factor=1 / 3, total_iters=5, last_epoch=-1):
        if not 0 <= factor <= 1:
            raise ValueError(f"ConstantLR: factor must be in [0, 1], got {factor}")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._lrs()]
        if self.last_epoch != self.total_iters:
            return self._lrs()
        return [lr / self.factor for lr in self._lrs()]

    def lr_at(self, base_lr, epoch):
        return base_lr * (1.0 if epoch >= self.total_iters else self.factor)


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

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._lrs()
        change = self.end_factor - self.start_factor
        ratio = 1 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change)
        return [lr * ratio for lr in self._lrs()]

    def lr_at(self, base_lr, epoch):
        progress = min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class ExponentialLR(LRScheduler):
    """lr *= gamma every epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return self._lrs() if self._is_initial else [lr * self.gamma for lr in self._lrs()]

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** epoch


class PolynomialLR(LRScheduler):
    """lr = initial * (1 - epoch / total_iters) ** power, reaching 0 at total_iters."""

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        if total_iters < 1:
            raise ValueError(f"PolynomialLR: total_iters must be >= 1, got {total_iters}")
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._lrs()
        e, n = self.last_epoch, self.total_iters
        ratio = ((1 - e / n) / (1 - (e - 1) / n)) ** self.power
        return [lr * ratio for lr in self._lrs()]

    def lr_at(self, base_lr, epoch):
        return base_lr * (1 - min(epoch, self.total_iters) / self.total_iters) ** self.power


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 alone,
    stepped in PyTorch's recursive form so that it composes with other schedulers.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        e, T, low = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._lrs()
        if self._step_count == 1 and e > 0:  # resumed at last_epoch > 0
            return [self.lr_at(base, e) for base in self.base_lrs]
        if (e - 1 - T) % (2 * T) == 0:  # the bottom of the cosine, where the ratio form divides by 0
            return [lr + (base - low) * (1 - math.cos(math.pi / T)) / 2
                    for lr, base in zip(self._lrs(), self.base_lrs, strict=True)]
        ratio = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        return [ratio * (lr - low) + low for lr in self._lrs()]

    def lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine from initial to eta_min over T_i epochs, then restart with T_i *= T_mult (SGDR).

    `step(epoch)` may be given a fractional epoch (step per batch: epoch + i / batches).
    """

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if not isinstance(T_0, int) or T_0 < 1 or not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_0 and T_mult must be integers >= 1, got {T_0}, {T_mult}")
        self.T_0, self.T_i, self.T_mult, self.eta_min, self.T_cur = T_0, T_0, T_mult, eta_min, last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base in self.base_lrs]

    def step(self, epoch=None):
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur -= self.T_i
                self.T_i *= self.T_mult
        elif epoch < 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: epoch must be >= 0, got {epoch}")
        elif epoch < self.T_0:
            self.T_i, self.T_cur = self.T_0, epoch
        elif self.T_mult == 1:
            self.T_cur = epoch % self.T_0
        else:
            n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
            self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
            self.T_i = self.T_0 * self.T_mult ** n
        self.last_epoch = math.floor(epoch)
        self._set(self.get_lr())


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith): lr from max_lr / div_factor up to max_lr over pct_start
    of total_steps, then down to initial / final_div_factor; momentum (or Adam's beta1)
    cycles the other way. Step once per batch.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False, last_epoch=-1):
        if total_steps is None:
            if not epochs or not steps_per_epoch:
                raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
            total_steps = epochs * steps_per_epoch
        if total_steps < 1 or not 0 <= pct_start <= 1 or anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: need total_steps >= 1, 0 <= pct_start <= 1, anneal_strategy 'cos' or "
                             f"'linear'; got {total_steps}, {pct_start}, {anneal_strategy!r}")
        self.total_steps, self.anneal_strategy, self.cycle_momentum = total_steps, anneal_strategy, cycle_momentum
        up = float(pct_start * total_steps) - 1
        # (last step of the phase, lr from, lr to, momentum from, momentum to), named by group keys
        self.phases = ([(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                        (2 * up, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                        (total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
                       if three_phase else
                       [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                        (total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")])
        if cycle_momentum and not ({"momentum", "betas"} & set(optimizer.defaults)):
            raise ValueError(f"OneCycleLR: cycle_momentum needs an optimizer with momentum or betas, "
                             f"{type(optimizer).__name__} has neither")
        self.use_beta1 = "betas" in optimizer.defaults
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group, top, high, low in zip(groups, _per_group(max_lr, groups), _per_group(max_momentum, groups),
                                             _per_group(base_momentum, groups), strict=True):
                group.update(initial_lr=top / div_factor, max_lr=top, min_lr=top / div_factor / final_div_factor)
                if cycle_momentum:
                    group.update(max_momentum=high, base_momentum=low)
                    _set_momentum(group, high, self.use_beta1)
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, fraction):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2 * (math.cos(math.pi * fraction) + 1)
        return start + (end - start) * fraction

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {step} times, but total_steps is {self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr_from, lr_to, m_from, m_to) in enumerate(self.phases):
                if step <= end or i == len(self.phases) - 1:
                    fraction = (step - start) / (end - start)
                    lrs.append(self._anneal(group[lr_from], group[lr_to], fraction))
                    if self.cycle_momentum:
                        _set_momentum(group, self._anneal(group[m_from], group[m_to], fraction), self.use_beta1)
                    break
                start = end
        return lrs


class CyclicLR(LRScheduler):
    """The lr cycles between base_lr and max_lr (Smith 2017): up over step_size_up steps,
    down over step_size_down; "triangular2" halves the height every cycle, "exp_range"
    scales it by gamma ** step, or give scale_fn (of the cycle, or of the step with
    scale_mode="iterations"). Momentum (or Adam's beta1) cycles the other way. Step per batch.
    """

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular",
                 gamma=1.0, scale_fn=None, scale_mode="cycle", cycle_momentum=True, base_momentum=0.8,
                 max_momentum=0.9, last_epoch=-1):
        if scale_fn is None and mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError(f"CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range', got {mode!r}")
        groups = optimizer.param_groups
        base_lrs = _per_group(base_lr, groups)
        if last_epoch == -1:
            for group, lr in zip(groups, base_lrs, strict=True):
                group["lr"] = lr
        self.max_lrs = _per_group(max_lr, groups)
        up = float(step_size_up)
        self.total_size = up + (up if step_size_down is None else float(step_size_down))
        self.step_ratio = up / self.total_size
        self.mode, self.gamma, self.scale_fn = mode, gamma, scale_fn
        self.scale_mode = scale_mode if scale_fn is not None else "iterations" if mode == "exp_range" else "cycle"
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if not ({"momentum", "betas"} & set(optimizer.defaults)):
                raise ValueError(f"CyclicLR: cycle_momentum needs an optimizer with momentum or betas, "
                                 f"{type(optimizer).__name__} has neither")
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = _per_group(base_momentum, groups)
            self.max_momentums = _per_group(max_momentum, groups)
            if last_epoch == -1:
                for group, high, low in zip(groups, self.max_momentums, self.base_momentums, strict=True):
                    _set_momentum(group, high, self.use_beta1)
                    group.update(max_momentum=high, base_momentum=low)
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _scale(self, x):
        if self.scale_fn is not None:
            return self.scale_fn(x)
        return {"triangular": 1.0, "triangular2": 1 / 2.0 ** (x - 1), "exp_range": self.gamma ** x}[self.mode]

    def get_lr(self):
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        height = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        scale = self._scale(cycle if self.scale_mode == "cycle" else self.last_epoch)
        if self.cycle_momentum:
            for group, low, high in zip(self.optimizer.param_groups, self.base_momentums, self.max_momentums,
                                        strict=True):
                _set_momentum(group, high - (high - low) * height * scale, self.use_beta1)
        return [low + (high - low) * height * scale for low, high in zip(self.base_lrs, self.max_lrs, strict=True)]

    def state_dict(self):
        """scale_fn is not saved: it comes from the code that builds the scheduler."""
        return {key: value for key, value in super().state_dict().items() if key != "scale_fn"}


def _per_group(value, groups):
    values = list(value) if isinstance(value, (list, tuple)) else [value] * len(groups)
    if len(values) != len(groups):
        raise ValueError(f"expected one value per parameter group ({len(groups)}), got {len(values)}")
    return values


def _set_momentum(group, value, use_beta1):
    if use_beta1:
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


class _Composite(LRScheduler):
    """A scheduler driving others: its state dict holds theirs."""

    def state_dict(self):
        state = {key: value for key, value in vars(self).items() if key not in ("optimizer", "schedulers")}
        return {**state, "schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state):
        state = dict(state)
        for scheduler, saved in zip(self.schedulers, state.pop("schedulers"), strict=True):
            scheduler.load_state_dict(saved)
        vars(self).update(state)
        self._set(self._last_lr)


class SequentialLR(_Composite):
    """schedulers[i] from milestones[i-1] on, restarted at its milestone, as PyTorch's SequentialLR.

    Warmup then cosine: SequentialLR(opt, [LinearLR(opt, 0.01, total_iters=w),
    CosineAnnealingLR(opt, T_max=n - w)], milestones=[w]).
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        if len(milestones) != len(schedulers) - 1 or list(milestones) != sorted(milestones):
            raise ValueError("SequentialLR: needs one increasing milestone between each pair of schedulers")
        _check_children("SequentialLR", optimizer, schedulers)
        self.optimizer, self.schedulers, self.milestones = optimizer, list(schedulers), list(milestones)
        self.last_epoch = last_epoch + 1
        # Undo what constructing the children did, then apply epoch 0 of the first one only.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for scheduler in self.schedulers:
            scheduler.last_epoch -= 1
        first = self.schedulers[bisect.bisect_right(self.milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self):
        self.last_epoch += 1
        i = bisect.bisect_right(self.milestones, self.last_epoch)
        scheduler = self.schedulers[i]
        if i > 0 and self.milestones[i - 1] == self.last_epoch:
            scheduler._restart()
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()



class ChainedScheduler(_Composite):
    """Steps every scheduler in turn each epoch: their effects multiply (chainable form)."""

    def __init__(self, schedulers, optimizer=None):
        optimizer = optimizer or schedulers[0].optimizer
        _check_children("ChainedScheduler", optimizer, schedulers)
        self.optimizer, self.schedulers = optimizer, list(schedulers)
        self._last_lr = self._lrs()

    def step(self):
        for scheduler in self.schedulers:
            scheduler.step()
        self._last_lr = self._lrs()


def _check_children(name, optimizer, schedulers):
    if not schedulers:
        raise ValueError(f"{name}: needs at least one scheduler")
    for i, scheduler in enumerate(schedulers):
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(f"{name}: scheduler {i} is a ReduceLROnPlateau, which steps on a metric; step it apart")
        if scheduler.optimizer is not optimizer:
            raise ValueError(f"{name}: scheduler {i} ({type(scheduler).__name__}) belongs to another optimizer")


class ReduceLROnPlateau(LRScheduler):
    """lr *= factor (not below min_lr) once the metric passed to `step(metric)` has not
    improved for more than `patience` epochs; then wait `cooldown` epochs.

    Improvement: mode "min" with threshold_mode "rel" means metric < best * (1 - threshold);
    "abs" means metric < best - threshold ("max" mirrors both).
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        if factor >= 1 or mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: need factor < 1, mode 'min' or 'max', threshold_mode 'rel' or "
                             f"'abs'; got {factor}, {mode!r}, {threshold_mode!r}")
        self.optimizer = optimizer
        self.min_lrs = _per_group(min_lr, optimizer.param_groups)
        self.mode, self.factor, self.patience, self.threshold = mode, factor, patience, threshold
        self.threshold_mode, self.cooldown, self.eps = threshold_mode, cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.cooldown_counter = self.num_bad_epochs = self.last_epoch = 0
        self._last_lr = self._lrs()

    def _is_better(self, value):
        sign = 1 if self.mode == "min" else -1
        if self.threshold_mode == "rel":
            return sign * value < sign * self.best * (1 - sign * self.threshold)
        return sign * value < sign * self.best - self.threshold

    def step(self, metrics):
        value = float(metrics)
        self.last_epoch += 1
        if self._is_better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, low in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                new = max(group["lr"] * self.factor, low)
                if group["lr"] - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = self._lrs()


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
            powers = ops.stack([ops.sum(g * g if norm_type == 2 else ops.abs(g) ** norm_type).to(device) for g in grads])
            total = ops.sum(powers) ** (1.0 / norm_type)
        scale = ops.clip(max_norm / (total + 1e-6), max=1.0)
        for g in grads:
            g.mul_(scale.to(g.device))
    return total
