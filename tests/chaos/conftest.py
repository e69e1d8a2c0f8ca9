"""The chaos lab of the tests: the run's database, a private PostgreSQL for the
database faults (docs/chaos.md; the short faults are in tests/chaos/scale.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.catalogue import Catalogue
from ingest.chaos.errors import Unsupported
from ingest.chaos.lab import Lab
from ingest.chaos.postgres import PrivatePostgres


@pytest.fixture(scope="session")
def chaos_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: its 0700 parents would keep PostgreSQL's and Mosquitto's
    # own users out.
    directory = Path(tempfile.mkdtemp(prefix="cityhub-chaos-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def private_postgres(chaos_dir: Path) -> Iterator[PrivatePostgres]:
    try:
        server = PrivatePostgres(chaos_dir / "postgres")
    except Unsupported as exc:
        pytest.skip(str(exc))
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def lab(database_url: str, catalogue: Catalogue, key_file: Path, chaos_dir: Path) -> Lab:
    return Lab(database_url, catalogue, key_file, chaos_dir)


@pytest.fixture
def database_lab(lab: Lab, private_postgres: PrivatePostgres) -> Lab:
    """A lab whose database scenarios stop and fill a server of their own."""
    return Lab(lab.database_url, lab.catalogue, lab.key_file, lab.work, private_postgres)
