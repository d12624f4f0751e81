"""pg.compile never bakes in a Python value it did not guard (issue 19): each way a user changes
one gives the eager answer (a new trace), or the trace is refused with a TraceError naming the line."""

import numpy as np
import pytest

import polygrad as pg

SCALE = 3.0  # a module-level global read by a compiled function below


def _same(got, want, target):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=target.tol, atol=target.tol)


def test_a_count_read_off_values_is_guarded(target):
    def count(x):
        return x[x > 0].numel() * x.sum()

    compiled = pg.compile(count)
    for values in ([1.0, -1.0, 2.0], [1.0, 1.0, 2.0], [-1.0, -1.0, 2.0], [1.0, -1.0, 2.0]):
        x = target.tensor(values)
        _same(compiled(x).numpy(), count(x).numpy(), target)


def _module(target, cls, *args):
    return cls(*args).to(target.device, backend=target.backend, dtype=target.dtype)


class Scaled(pg.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = 2.0

    def forward(self, x):
        return x * self.scale


def test_a_module_attribute_changed_between_calls_retraces(target):
    module = Scaled()
    compiled = pg.compile(lambda x: module(x))
    x = target.tensor([1.0, -2.0])
    _same(compiled(x).numpy(), [2.0, -4.0], target)
    module.scale = 10.0
    _same(compiled(x).numpy(), [10.0, -20.0], target)


def test_dropout_p_changed_between_calls_retraces(target):
    dropout = pg.nn.Dropout(0.5)
    compiled = pg.compile(lambda x: dropout(x))
    x = target.tensor([1.0, 2.0, 3.0, 4.0])
    compiled(x)
    dropout.p = 0.0
    _same(compiled(x).numpy(), x.numpy(), target)


def test_a_module_level_global_changed_between_calls_retraces(target):
    global SCALE

    def scaled(x):
        return x * SCALE

    compiled = pg.compile(scaled)
    x = target.tensor([1.0, 2.0])
    try:
        _same(compiled(x).numpy(), [3.0, 6.0], target)
        SCALE = 5.0
        _same(compiled(x).numpy(), [5.0, 10.0], target)
    finally:
        SCALE = 3.0


def test_a_closure_variable_changed_between_calls_retraces(target):
    offset = 1.0

    def shifted(x):
        return x + offset

    compiled = pg.compile(shifted)
    x = target.tensor([1.0, 2.0])
    _same(compiled(x).numpy(), [2.0, 3.0], target)
    offset = -1.0
    _same(compiled(x).numpy(), [0.0, 1.0], target)


def _pair(target):
    """Two identical models and optimizers: one for eager steps, one for compiled steps."""
    models = [_module(target, pg.nn.Linear, 3, 1) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    return models, [pg.optim.Adam(m.parameters(), lr=0.1) for m in models]


def _masked_step(model, opt, x, y, mask):
    opt.zero_grad()
    loss = ((model(x)[:, 0] - y)[mask] ** 2).mean()
    loss.backward()
    opt.step()
    return loss


def test_a_compiled_masked_loss_whose_mask_count_changes_matches_eager(target):
    (eager, ours), (eager_opt, our_opt) = _pair(target)
    compiled = pg.compile(lambda x, y, mask: _masked_step(ours, our_opt, x, y, mask))
    x, y = target.randn(4, 3, seed=1), target.randn(4, seed=2)
    for mask in ([1, 0, 1, 1], [1, 0, 0, 1], [0, 1, 1, 1], [1, 0, 1, 1], [1, 1, 1, 1]):
        m = target.tensor([bool(v) for v in mask], dtype="bool")
        _same(compiled(x, y, m).numpy(), _masked_step(eager, eager_opt, x, y, m).numpy(), target)
    _same(ours.weight.numpy(), eager.weight.numpy(), target)


def test_a_compiled_step_after_load_state_dict_matches_eager(target):
    (eager, ours), (eager_opt, our_opt) = _pair(target)
    mask = target.tensor([True] * 4, dtype="bool")
    compiled = pg.compile(lambda x, y: _masked_step(ours, our_opt, x, y, mask))
    x, y = target.randn(4, 3, seed=1), target.randn(4, seed=2)
    for _ in range(3):
        compiled(x, y)
        _masked_step(eager, eager_opt, x, y, mask)
    saved_model, saved_opt = eager.state_dict(), eager_opt.state_dict()
    for model, opt in ((eager, eager_opt), (ours, our_opt)):
        model.load_state_dict(saved_model)
        opt.load_state_dict(saved_opt)
    for _ in range(3):
        _same(compiled(x, y).numpy(), _masked_step(eager, eager_opt, x, y, mask).numpy(), target)


def test_a_value_shaped_result_of_tensors_updated_in_place_is_refused_naming_the_line(target):
    model = _module(target, pg.nn.Linear, 3, 2)
    opt = pg.optim.SGD(model.parameters(), lr=0.1)

    @pg.compile
    def step(x):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
        return model.weight[model.weight > 0].sum()

    with pytest.raises(pg.TraceError, match=r"nonzero gives a shape that depends on tensor values \(at .*"
                                            r"test_compile_guards.py:\d+ in step\)"):
        step(target.randn(1, 3))
