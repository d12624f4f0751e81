"""polygrad.io."""
