"""Fused optimizer updates: a backend's one pass over a whole parameter group.

The optimizers' `_update` methods (optim/optimizers.py) are the portable definition: Array API code, one
parameter at a time, the reference the kernels are tested against. A backend may add, through
`Backend.kernels()`, a kernel `<optimizer>_update(ws, grads, state, hyper)` that updates every
parameter of a group in place in one call: `ws` and `grads` are lists of arrays, `state` maps each
state name to the list of its arrays, `hyper` holds the group's hyperparameters and the numbers
that differ per parameter (step counts, NAdam's momentum products, ASGD's eta and mu) as lists.
The torch backend runs `torch._foreach_*` over the lists (as torch.optim's foreach path), NumPy
in-place ufuncs into scratch buffers kept between steps.

This module does the Python side: it keeps the state's numbers (step counts and the like) as
the portable update does, and hands the arrays over. A group's first step, before its state
exists, runs the portable update, which makes the state; so do groups mixing backends or holding
complex parameters, and subclasses that write their own `_update`. Under `pg.compile` the kernel
call is recorded as a statement (compile/program.py: `kernel_*_update`), and the numbers here are the
compiler's symbols, so only operators (no `math` functions) touch them.
"""

__all__ = ["step_group"]


def _steps(states):
    """Each parameter's step count, counted up: the list the kernels take."""
    for state in states:
        state["step"] += 1
    return [state["step"] for state in states]


def _sgd(optimizer, group, states):
    return {}


def _adam(optimizer, group, states):
    return {"steps": _steps(states), "decoupled": optimizer.decoupled}


def _nadam(optimizer, group, states):
    beta1, decay = group["betas"][0], group["momentum_decay"]
    steps = _steps(states)
    mus = [beta1 * (1 - 0.5 * 0.96 ** (t * decay)) for t in steps]
    for state, mu in zip(states, mus):
        state["mu_product"] *= mu
    return {"steps": steps, "mus": mus, "mu_nexts": [beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * decay)) for t in steps],
            "mu_products": [state["mu_product"] for state in states]}


def _asgd(optimizer, group, states):
    """eta and mu of this step; then the next step's, as the portable update keeps them."""
    lr, lambd = group["lr"], group["lambd"]
    hyper = {"etas": [state["eta"] for state in states], "mus": [state["mu"] for state in states]}
    for state, t in zip(states, _steps(states)):
        state["eta"] = lr / (1 + lambd * lr * t) ** group["alpha"]
        state["mu"] = 1 / max(1, t - group["t0"])
    return hyper


def _counted(optimizer, group, states):
    return {"steps": _steps(states)}


def _optional(group, *pairs):
    return tuple(name for option, name in pairs if group[option])


# optimizer class (the one that defines `_update`) -> (the kernel's name, the state arrays it updates, its numbers)
_RULES = {
    "SGD": ("sgd", lambda g: _optional(g, ("momentum", "momentum_buffer")), _sgd),
    "Adam": ("adam", lambda g: ("exp_avg", "exp_avg_sq") + _optional(g, ("amsgrad", "max_exp_avg_sq")), _adam),
    "RMSprop": ("rmsprop", lambda g: ("square_avg",) + _optional(g, ("momentum", "momentum_buffer"),
                                                                 ("centered", "grad_avg")), _counted),
    "Adagrad": ("adagrad", lambda g: ("sum",), _counted),
    "Adadelta": ("adadelta", lambda g: ("square_avg", "acc_delta"), _counted),
    "Adamax": ("adamax", lambda g: ("exp_avg", "exp_inf"), _counted),
    "NAdam": ("nadam", lambda g: ("exp_avg", "exp_avg_sq"), _nadam),
    "RAdam": ("radam", lambda g: ("exp_avg", "exp_avg_sq"), _counted),
    "Rprop": ("rprop", lambda g: ("prev", "step_size"), _counted),
    "ASGD": ("asgd", lambda g: ("ax",), _asgd),
}


def _rule(optimizer):
    """The rule of the polygrad class whose `_update` this optimizer runs (None for a user's own `_update`)."""
    owner = next(c for c in type(optimizer).__mro__ if "_update" in vars(c))
    return _RULES.get(owner.__name__) if owner.__module__.startswith("polygrad.") else None


def _writable(t, kind):
    """State tensor t's array, which the kernel writes in place. The optimizer made it (zeros, copies), so it
    can be written, unless it is not an array of the parameters' type: NumPy's operations on 0-d arrays give
    scalars (the portable update's first step may leave one), which are copied into an array once."""
    if type(t.array) is not kind:
        t.array = t.xp.asarray(t.array, copy=True)
    return t.array


def step_group(optimizer, group):
    """Update the group's parameters that have gradients with the backend's kernel; False: it did not
    (no kernel, or a case it leaves to the portable update), and nothing was changed."""
    rule = _rule(optimizer)
    params = [p for p in group["params"] if p.grad is not None]
    if rule is None or not params:
        return False
    name, state_names, numbers = rule
    xp = params[0].xp
    kernel = getattr(xp, f"kernel_{name}_update", None)
    names = state_names(group)
    if kernel is None or any(p.xp is not xp or p.dtype.kind != "real floating" for p in params):
        return False
    states = [optimizer.state.setdefault(p, {}) for p in params]  # as Optimizer.step makes them
    if any(not all(n in state for n in names) for state in states):
        return False
    ws = [optimizer._own(p) for p in params]
    grads = [-p.grad.array if group.get("maximize") else p.grad.array for p in params]
    hyper = {k: v for k, v in group.items() if k != "params"}
    hyper.update(numbers(optimizer, group, states))
    kernel(ws, grads, {n: [_writable(state[n], type(ws[0])) for state in states] for n in names}, hyper)
    for p in params:
        p._vc[0] += 1  # as Optimizer.step: graphs whose rules read the old value refuse to run
    return True


def lbfgs_kernels(params):
    """The backend's L-BFGS kernels, (direction, update), for LBFGS.step over these parameters; None when it
    has none, or when the parameters are of several libraries or not real floating (the portable loops run).

    `kernel_lbfgs_direction(flat_grad, old_dirs, old_steps, ro, h_diag)` gives -H g, the two-loop recursion
    over the (s, y) history (lists of flat arrays, ro the list of 1 / y.s), as a new flat array;
    `kernel_lbfgs_update(ws, d, t)` adds t times each parameter's slice of the flat d to it, in place (the
    name ends in `_update`: pg.compile keeps it as a statement). LBFGS._two_loop and LBFGS._move are their
    portable definitions."""
    xp = params[0].xp
    direction, update = (getattr(xp, f"kernel_lbfgs_{name}", None) for name in ("direction", "update"))
    if direction is None or update is None or any(p.xp is not xp or p.dtype.kind != "real floating" for p in params):
        return None
    return direction, update
