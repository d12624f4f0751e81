"""`pg.*` as the Array API defines it: the functions generated from the rule table (ops), composites,
indexing, creation, random, the standard's other functions, linalg, fft and the inspection API (info).

May import: backends, core, primitives. Must never import: methods and anything above (it is what they
build on). Loading it registers `ops` with the engine as the namespace rules record on under
`backward(create_graph=True)`: the engine, below, finds it through that registry, never by import.
"""

from ..core import engine
from . import ops

engine.set_graph_namespace(ops)
