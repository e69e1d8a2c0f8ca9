"""The simulator's exception type."""

from __future__ import annotations


class SimulationError(Exception):
    """A simulation cannot run as asked: bad options, unknown scenario, bad devices file."""
