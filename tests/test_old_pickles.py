"""Tensors pickled before the package moved into folders still load.

A pickle names the module path of what rebuilds it: `polygrad.core.tensor._unpickle`,
`polygrad.core.tensor.Tensor`, `polygrad.nn.module.Parameter`, `polygrad.dtypes.get`. The bytes below
were written by polygrad 0.1.0 (numpy backend, protocol 4) before the move (issue 15), as

    pickle.dumps({"a": pg.tensor([[1.5, -2.0], [0.25, 4.0]], dtype="float32", requires_grad=True),
                  "b": pg.arange(5, dtype="int64"),
                  "p": pg.nn.Parameter(pg.tensor([0.5, 1.0], dtype="float64")),
                  "dtype": pg.float64}, protocol=4)

Never regenerate them: they stand for files users wrote. A move keeps those paths importable
(an alias), or the README says that only pickles of the same version load, and this test goes.
"""

import base64
import pickle

import polygrad as pg

WRITTEN_BY_0_1_0 = (
    "gASV5gEAAAAAAAB9KIwBYYwPcG9seWdyYWQudGVuc29ylIwJX3VucGlja2xlk5QoaACMBlRlbnNvcpOUjBZudW1weS5fY29yZS5tdWx0aWFy"
    "cmF5jAxfcmVjb25zdHJ1Y3STlIwFbnVtcHmUjAduZGFycmF5k5RLAIVDAWKUh1IoSwFLAksChmgEjAVkdHlwZZOUjAJmNImIh1IoSwOMATyU"
    "Tk5OSv////9K/////0sAdGKJQxAAAMA/AAAAwAAAgD4AAIBAdGJoBIwDY3B1lIwHZmxvYXQzMoh0UowBYmgBKGgCaANoBUsAhWgGh1IoSwFL"
    "BYVoB4wCaTiJiIdSKEsDaAhOTk5K/////0r/////SwB0YolDKAAAAAAAAAAAAQAAAAAAAAACAAAAAAAAAAMAAAAAAAAABAAAAAAAAAB0Ymg"
    "EaAmMBWludDY0iXRSjAFwaAEojBJwb2x5Z3JhZC5ubi5tb2R1bGWMCVBhcmFtZXRlcpNoA2gFSwCFaAaHUihLAUsChWgHjAJmOImIh1IoSwN"
    "oCE5OTkr/////Sv////9LAHRiiUMQAAAAAAAA4D8AAAAAAADwP3RiaARoCYwHZmxvYXQ2NJSIdFKMBWR0eXBljA9wb2x5Z3JhZC5kdHlwZXO"
    "MA2dldJNoCoVSdS4="
)


def test_a_pickle_written_before_the_move_loads():
    loaded = pickle.loads(base64.b64decode(WRITTEN_BY_0_1_0))
    a, b, p = loaded["a"], loaded["b"], loaded["p"]
    assert type(a) is pg.Tensor and a.dtype is pg.float32 and a.requires_grad and a.device.backend.name == "numpy"
    assert a.tolist() == [[1.5, -2.0], [0.25, 4.0]]
    assert type(b) is pg.Tensor and b.dtype is pg.int64 and not b.requires_grad and b.tolist() == [0, 1, 2, 3, 4]
    assert type(p) is pg.nn.Parameter and p.dtype is pg.float64 and p.requires_grad and p.tolist() == [0.5, 1.0]
    assert loaded["dtype"] is pg.float64
