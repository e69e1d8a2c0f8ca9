"""The Device credentials section `cityhub bench credentials` writes, and its load's requests."""

from __future__ import annotations

import json
from pathlib import Path

from hub.bench.auth_load import requests
from hub.bench.credentials_report import HEADING, AuthRun, HashCosts, ImportRun, Run, render
from hub.bench.machine import Machine

MACHINE = Machine(2, "cpu", 4.0, "3.11", "15", "2.0", "2.2", "3.3")
COSTS = HashCosts(token_us=1.0, hmac_us=4.0, pbkdf2_us=90.0, argon2_hash_us=86_000.0,
                  argon2_verify_us=85_000.0)


def _run(import_s: float, cpu_s: float, deny: int = 0) -> Run:
    auth = AuthRun(connections=16, allow=10_000 - deny, deny=deny, other=0, seconds=10.0,
                   console_cpu_s=cpu_s, backend_cpu_s=1.0, p50_ms=2.0, p99_ms=9.0)
    return Run(MACHINE, "cityhub bench credentials", ImportRun(10_000, import_s, 10_001), auth, COSTS,
               load=(1.0, 1.0, 1.0))


def test_the_section_gives_both_figures_against_their_targets() -> None:
    section = render(_run(import_s=8.0, cpu_s=1.6))
    assert section.startswith(HEADING + "\n")
    assert "| `cityhub device import`, broker files included (s) | 8.0 | 10,000 in < 30 s ✓ |" in section
    assert "| devices imported per second | 1,250 |" in section
    assert "| **auth checks per second per core** (console process) | 6,250 | ≥ 5,000 ✓ |" in section
    assert "| before: argon2 hash (import) | 86,000 | 860 |" in section


def test_slow_runs_and_refused_logins_miss_the_targets() -> None:
    assert "10,000 in < 30 s ✗" in render(_run(import_s=31.0, cpu_s=1.0))
    assert "≥ 5,000 ✗" in render(_run(import_s=8.0, cpu_s=4.0))
    assert "all allow ✗" in render(_run(import_s=8.0, cpu_s=1.0, deny=1))


def test_the_load_logs_in_each_device_of_the_tokens_file(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("id,token\naq-1,tok-1\naq-2,tok-2\n", encoding="utf-8")
    first, second = requests(tokens, "s3cret", wrong_every=0)
    head, body = first.split(b"\r\n\r\n")
    assert head.startswith(b"POST /api/v1/mqtt/auth HTTP/1.1\r\n")
    assert b"Authorization: Bearer s3cret" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body) == {"username": "aq-1", "password": "tok-1", "clientid": "aq-1"}
    assert json.loads(second.split(b"\r\n\r\n")[1])["password"] == "tok-2"
    wrong = requests(tokens, "s3cret", wrong_every=2)
    assert json.loads(wrong[0].split(b"\r\n\r\n")[1])["password"] != "tok-1"
