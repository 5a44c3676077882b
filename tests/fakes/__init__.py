"""Tests of the shared fake library: generator, faults, runner."""
