"""polygrad.autodiff."""
