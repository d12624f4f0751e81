"""Optimizers, PyTorch style (schedulers: lr_scheduler.py; clipping: clip.py).

A step works on the raw backend arrays: each update rule reads the gradient's
array and writes the parameter's array and its state arrays in place, with
no Tensor made per parameter per step. A parameter keeps its identity, device
and dtype, and its version counter records the change, so a graph that saved
the old value refuses to backpropagate through the new one. Optimizer state
(momentum buffers, Adam's moments) is made with `zeros_like`/`asarray` from each
parameter, so it lives on that parameter's device in its dtype; loading a state
dict puts every saved tensor back onto its parameter's current device.
"""

import functools
import math

from ..namespace.ops import asarray
from ..namespace.creation import zeros_like
from ..core.engine import enable_grad
from ..core.tensor import Tensor
from . import kernels as optim_kernels

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "Rprop", "ASGD", "LBFGS",
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
    fused update, optim/kernels.py, runs wherever it has one; `_update` is its reference), `capturable`
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


def _moments(state, grad, beta1, beta2):
    """Adam's running moments (exp_avg, exp_avg_sq) moved toward grad and grad² in place; their arrays."""
    m, v = state["exp_avg"].array, state["exp_avg_sq"].array
    m *= beta1
    m += grad * (1 - beta1)
    v *= beta2
    v += grad * grad * (1 - beta2)
    return m, v


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
        m, v = _moments(state, grad, beta1, beta2)
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
        m, v = _moments(state, grad, beta1, beta2)
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
        m, v = _moments(state, grad, beta1, beta2)
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
        """Every parameter += t * its slice of d, in place (the backend's kernel_lbfgs_update where it has one)."""
        params = self._params()
        ws = [self._own(p) for p in params]
        kernels = optim_kernels.lbfgs_kernels(params)
        if kernels is not None:
            kernels[1](ws, d, t)
        else:
            offset = 0
            for p, w in zip(params, ws):
                w += p.xp.reshape(d[offset:offset + p.size], p.shape) * t
                offset += p.size
        for p in params:
            p._vc[0] += 1

    def _two_loop(self, xp, flat_grad, old_dirs, old_steps, ro, h_diag):
        """-H g: the inverse-Hessian estimate of the (s, y) history applied to the gradient, by the two-loop
        recursion (the backend's kernel_lbfgs_direction where it has one)."""
        kernels = optim_kernels.lbfgs_kernels(self._params())
        if kernels is not None:
            return kernels[0](flat_grad, old_dirs, old_steps, ro, h_diag)
        q, alphas = -flat_grad, []
        for i in range(len(old_dirs) - 1, -1, -1):
            alphas.append(_dot(xp, old_steps[i], q) * ro[i])
            q = q - old_dirs[i] * alphas[-1]
        d = q * h_diag
        for i, alpha in enumerate(reversed(alphas)):
            d = d + old_steps[i] * (alpha - _dot(xp, old_dirs[i], d) * ro[i])
        return d

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
            return _dot(xp, a, b)

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
                d = self._two_loop(xp, flat_grad, old_dirs, old_steps, ro, h_diag)
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


def _dot(xp, a, b):
    """a . b of two flat vectors, as a number: matmul of 1-D arrays is the library's dot (BLAS on NumPy, torch.dot),
    without the product array that sum(a * b) makes."""
    return float(xp.matmul(a, b))


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
