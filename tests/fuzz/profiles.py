"""Hypothesis profiles of the fuzz suite (docs/testing.md, "Fuzzing").

``ci`` is what ``make test`` runs: bounded, and derandomized so that the gate is the same
on every run (a new bug is found by ``long``, not by an unrelated change's CI run).
``long`` is ``cityhub bench fuzz``: many more examples, a fresh random seed each time,
and failures kept in the example database (.hypothesis/) so that they are replayed first.
``CITYHUB_FUZZ_PROFILE`` chooses one; ``ci`` is the default.
"""

from __future__ import annotations

import os
from typing import Final

from hypothesis import HealthCheck, settings

ENV: Final = "CITYHUB_FUZZ_PROFILE"
PROFILES: Final = ("ci", "long")
# Requests per console route and role: each is an HTTP round trip to a real server.
API_EXAMPLES: Final = {"ci": 6, "long": 50}

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True,
                          database=None, print_blob=True, suppress_health_check=_SLOW_IS_FINE)
settings.register_profile("long", max_examples=2000, deadline=None, print_blob=True,
                          suppress_health_check=_SLOW_IS_FINE)


def current() -> str:
    name = os.environ.get(ENV, "ci")
    if name not in PROFILES:
        raise ValueError(f"{ENV}={name!r}: choose one of {', '.join(PROFILES)}")
    return name


def api_examples() -> int:
    return API_EXAMPLES[current()]
