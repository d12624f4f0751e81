"""`pg.compile`: trace a function once, replay its recorded backend calls (program, capture, guards, fusion)."""

from .compiled import Compiled, TraceError, compile  # noqa: F401
