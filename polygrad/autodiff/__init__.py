"""Transforms and extensions on top of the engine: grad/jvp/jacrev/hessian (`transforms`), vmap and
torch.func's names (`batching`, `func`), user primitives (`custom`), `gradcheck`, printed traces
(`trace`) and the seed's raw-array engine (`seed`)."""
