"""Saving and loading: atomic, pickle-free checkpoints (`checkpoint`) and `pg.save` / `pg.load` (`serialization`)."""
