"""Subcommands of the `polygrad` command line; see polygrad/cli/__init__.py."""
