"""Deletion (SPEC §7): the gate (delete mode and single-use unlock tokens); plan and executor
follow in the deletion issue."""
