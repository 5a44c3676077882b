"""Command modules; importing them registers their commands in ``service.COMMANDS``."""

from cullarrd.commands import candidates, deletion, guards, sync, system  # noqa: F401
