"""polygrad.primitives."""
