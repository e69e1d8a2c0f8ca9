"""The version of the bench's Mosquitto (hub.embedded.ThrowawayBroker runs it)."""

from __future__ import annotations

import subprocess


def mosquitto_version(binary: str) -> str:
    """The version ``mosquitto -h`` names on its first line, or an empty string."""
    try:
        result = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    first = (result.stdout or result.stderr).splitlines()[:1]
    return first[0].rsplit(" ", 1)[-1] if first else ""
