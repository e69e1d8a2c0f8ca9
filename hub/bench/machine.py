"""Where the figures were measured: hardware and the versions that matter."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import psutil

from hub.bench.database import server_version


@dataclass(frozen=True, slots=True)
class Machine:
    cpus: int
    cpu_model: str
    ram_gib: float
    python: str
    postgres: str
    mosquitto: str
    paho: str
    psycopg: str

    @property
    def hardware(self) -> str:
        return f"{self.cpus} CPUs ({self.cpu_model}), {self.ram_gib:.1f} GiB RAM"

    @property
    def software(self) -> str:
        return (f"Python {self.python}, PostgreSQL {self.postgres}, Mosquitto {self.mosquitto}, "
                f"paho-mqtt {self.paho}, psycopg {self.psycopg}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def mosquitto_version(binary: str) -> str:
    """The version ``mosquitto -h`` names on its first line, or an empty string."""
    try:
        result = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    first = (result.stdout or result.stderr).splitlines()[:1]
    return first[0].rsplit(" ", 1)[-1] if first else ""


def describe(database_url: str, mosquitto: str) -> Machine:
    return Machine(
        cpus=os.cpu_count() or 0,
        cpu_model=_cpu_model(),
        ram_gib=psutil.virtual_memory().total / 2**30,
        python=platform.python_version(),
        postgres=server_version(database_url),
        mosquitto=mosquitto_version(mosquitto) or "?",
        paho=_version("paho-mqtt"),
        psycopg=_version("psycopg"),
    )
