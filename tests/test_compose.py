"""docker-compose.yml is valid in every profile and refuses to start without its secrets.

``docker-compose config`` validates the file without a Docker engine; `make test`
installs it (scripts/install-test-tools). The cluster profile's shape is checked in
tests/test_compose_cluster.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Every variable the file requires with ${VAR:?message}, with dummy values.
REQUIRED = {
    "POSTGRES_PASSWORD": "test-postgres-password",
    "CITYHUB_INGEST_DB_PASSWORD": "test-ingest-db-password",
    "CITYHUB_INGEST_MQTT_PASSWORD": "test-ingest-mqtt-password",
    # Random-looking: the services refuse guessable keys (hub/secret_strength.py).
    "CITYHUB_SECRET_KEY": "Vf3q9J2nLw7xT0bYk8pR4sZc6mHd1gUa",
}


def _compose() -> list[str]:
    found = shutil.which("docker-compose")
    if found:
        return [found]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 check=False).returncode == 0:
        return [docker, "compose"]
    pytest.fail("docker-compose is not installed; `make test` installs it "
                "(scripts/install-test-tools).")


def _config(tmp_path: Path, env: dict[str, str], *profile: str,
            quiet: bool = True) -> subprocess.CompletedProcess[str]:
    # An empty env file, so that a developer's own .env cannot fill in what a test leaves out.
    env_file = tmp_path / "empty.env"
    env_file.write_text("", encoding="utf-8")
    inherited = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")}
    return subprocess.run(
        [*_compose(), "--env-file", str(env_file), "--project-directory", str(ROOT),
         "-f", str(ROOT / "docker-compose.yml"), *profile, "config", *(["-q"] if quiet else [])],
        env={**inherited, **env}, capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.parametrize("profile", [(), ("--profile", "scaled")], ids=["default", "scaled"])
def test_the_file_is_valid(tmp_path: Path, profile: tuple[str, ...]) -> None:
    result = _config(tmp_path, REQUIRED, *profile)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_secret_is_refused_by_name(tmp_path: Path, missing: str) -> None:
    result = _config(tmp_path, {k: v for k, v in REQUIRED.items() if k != missing})
    assert result.returncode != 0
    # The message names the variable and says where to set it and how.
    assert f"set {missing} in .env" in result.stderr, result.stderr
    assert "deploy/README.md" in result.stderr


def test_an_empty_secret_key_is_refused(tmp_path: Path) -> None:
    result = _config(tmp_path, {**REQUIRED, "CITYHUB_SECRET_KEY": ""})
    assert result.returncode != 0
    assert "set CITYHUB_SECRET_KEY in .env to a random value of at least 16 characters" in result.stderr


def test_every_service_that_writes_the_audit_log_shares_one_audit_key(tmp_path: Path) -> None:
    # Each container has its own state directory: without the shared secret each would make
    # its own key, and `cityhub audit verify` would call the other services' rows altered.
    import yaml

    result = _config(tmp_path, REQUIRED, "--profile", "cluster", "--profile", "scaled", quiet=False)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    keyed = {name for name, s in services.items()
             if "CITYHUB_PSEUDONYM_KEY_FILE" in (s.get("environment") or {})}
    assert keyed, "no service reads the pseudonym key file"
    for name in sorted(keyed):
        service = services[name]
        assert service["environment"].get("CITYHUB_AUDIT_KEY_FILE") == "/run/secrets/audit_keys", name
        assert "audit_keys" in [s if isinstance(s, str) else s["source"]
                                for s in service.get("secrets", [])], name
