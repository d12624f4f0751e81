"""Subcommands of the `polygrad` command line; see polygrad/cli.py."""
