"""The eager hot path does not grow: `a * b` on two recorded tensors makes at most 6 calls of
polygrad's Python functions (9 before the layers moved into folders: since then the operator is the
generated namespace function itself, installed on Tensor, not a method that calls it; and engine.apply
and Operation build their lists in their own loops, not in comprehensions, each a call in Python 3.11).

Counted with sys.setprofile, every backend x device x dtype: a Python-level call whose code lives in
the package (polygrad/, its backends/ included) counts once; calls into the array library and C builtins do not.
A move that adds a forwarding function on the way (a re-export wrapper, a hook looked up per call)
fails here. Speed itself is measured in benchmarks/bench_core.py, not tested.
"""

import os
import sys

import polygrad as pg
from polygrad.core import engine

LIMIT = 6
PACKAGE_FOLDERS = tuple(os.path.dirname(m.__file__) + os.sep for m in (pg, pg.backends))


def polygrad_calls(thunk):
    """The polygrad functions `thunk()` enters, as 'file:function', in call order."""
    calls = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(PACKAGE_FOLDERS):
            calls.append(f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_code.co_name}")

    sys.setprofile(profile)
    try:
        result = thunk()
    finally:
        sys.setprofile(None)
    return calls, result


def test_multiply_two_recorded_tensors(target):
    a = target.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = target.tensor([4.0, 5.0, 6.0], requires_grad=True)
    a * b  # the first call may fill caches (dtype lookups); the steady state is what is counted
    calls, product = polygrad_calls(lambda: a * b)
    assert product.requires_grad and product.tolist() == [4.0, 10.0, 18.0]
    assert calls[0] == "ops.py:function", calls  # the profile did see the operator: ops.multiply itself
    assert len(calls) <= LIMIT, f"a * b made {len(calls)} polygrad calls (at most {LIMIT}): {calls}"


def test_counter_counts_polygrad_functions_only():
    def outside():
        return sum([1, 2])

    calls, _ = polygrad_calls(outside)
    assert calls == []
    calls, _ = polygrad_calls(lambda: engine.is_grad_enabled())
    assert calls == ["engine.py:is_grad_enabled"]
