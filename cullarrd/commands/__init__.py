"""Command modules; importing them registers their commands in ``service.COMMANDS``."""

from cullarrd.commands import auth, candidates, deletion, guards, sync, system  # noqa: F401
