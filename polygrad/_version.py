"""The version, in a leaf module: the command line and benchmark reports import it from here, not from the package face."""

__version__ = "0.1.0"
