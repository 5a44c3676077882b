"""The sync engine: one run at a time, phases in order, each integration isolated."""
