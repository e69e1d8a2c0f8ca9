"""The fuzz suite runs under the hypothesis profile CITYHUB_FUZZ_PROFILE names (tests/fuzz/profiles.py)."""

from __future__ import annotations

from hypothesis import settings

from tests.fuzz import profiles

settings.load_profile(profiles.current())
