"""polygrad.methods."""
