"""polygrad.core."""
