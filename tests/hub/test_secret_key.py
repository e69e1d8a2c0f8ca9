"""CITYHUB_SECRET_KEY: guessable keys are refused, whatever their length; generated ones pass."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from hub.cli.up import _secret
from hub.errors import ConfigError
from hub.secret_strength import GENERATE_SECRET, secret_key_problem
from hub.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]

GUESSABLE = [
    "aaaaaaaaaaaaaaaa", "changemechangeme", "0123456789abcdef", "CHANGEME", "Change-Me-Change-Me",
    "secretsecretsecretsecret", "password1234567890", "qwertyuiopasdfghjkl", "zyxwvutsrqponmlkjih",
    "abcdabcdabcdabcdabcdabcd", "test-secret-key-0123456789abcdef", "s3cr3t-s3cr3t-s3cr3t-s3cr3t",
    "your-secret-key-here-please", "1111111111111111111111111111111111",
]


@pytest.mark.parametrize("key", GUESSABLE)
def test_guessable_keys_are_refused_with_how_to_make_a_good_one(key: str) -> None:
    assert secret_key_problem(key) is not None
    with pytest.raises(ConfigError, match="CITYHUB_SECRET_KEY") as refused:
        load_settings({"CITYHUB_SECRET_KEY": key}).require_service_secret()
    assert "secrets.token_urlsafe(32)" in str(refused.value)
    assert key not in str(refused.value)  # the error never repeats the secret


@pytest.mark.parametrize("key", ["", "   ", "changeme", "k3J9-vQ2"])
def test_empty_example_and_short_keys_are_refused(key: str) -> None:
    assert secret_key_problem(key) is not None


def test_generated_keys_pass() -> None:
    for _ in range(200):
        assert secret_key_problem(secrets.token_urlsafe(32)) is None
        assert secret_key_problem(secrets.token_hex(32)) is None  # `openssl rand -hex 32`
    assert secret_key_problem("k3J9-vQ2mX8pL4sT7wZ1") is None
    assert secret_key_problem("correct horse battery staple") is None


def test_the_command_the_message_suggests_makes_an_accepted_key() -> None:
    command = re.fullmatch(r'python -c "(.*)"', GENERATE_SECRET)
    assert command is not None
    made = subprocess.run([sys.executable, "-c", command.group(1)], capture_output=True, text=True,
                          check=True).stdout.strip()
    load_settings({"CITYHUB_SECRET_KEY": made}).require_service_secret()


def test_demo_mode_makes_a_key_that_would_pass_outside_it(tmp_path: Path) -> None:
    key = _secret(tmp_path)
    assert secret_key_problem(key) is None
    assert _secret(tmp_path) == key  # kept across restarts of `cityhub up`


def test_no_key_shown_in_our_docs_or_deployment_files_would_be_accepted() -> None:
    shown = []
    for path in [*ROOT.glob("docs/*.md"), ROOT / "README.md", ROOT / "docker-compose.yml",
                 *ROOT.glob("deploy/**/*")]:
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            shown += re.findall(r"CITYHUB_SECRET_KEY[=:][ \t]*['\"]?([^\s'\"$`{}]+)", text)
    assert all(secret_key_problem(value) is not None for value in shown), shown
