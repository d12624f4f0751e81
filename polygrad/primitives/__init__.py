"""The rule table: every built-in primitive's forward, vjp and jvp on raw arrays (`table`, `linalg`, `fft`,
`complex`, `fused`, `fused_rnn`, `fused_pool`), and `defprim` to add one.

May import: core, backends. Must never make a Tensor or import the namespace: the public functions for
these rows are generated one layer up (polygrad.namespace.ops).
"""
