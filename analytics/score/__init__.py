"""Scoring the analytics against the simulators' ground truth (issue 12, point 5)."""
