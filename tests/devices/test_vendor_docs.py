"""The mosquitto_pub examples of docs/vendors.md, run as written against a real hub.

Each ```sh block with mosquitto_pub is preceded by a comment that says what it must
do, e.g. ``<!-- expect: readings aq-jung-001=3 -->``; forms: ``readings ID=N …``,
``events ID=N``, ``online ID``, ``rejected ID=CODE``, with ``fiware`` in front for the
FIWARE examples. Only the connection placeholder ``-h localhost -p 1883`` is replaced by
the test broker's address. The broker has the logins and topic rules of production (no
anonymous clients), and ``$TOKEN`` is the token that the guide's own ``cityhub device add``
lines printed for the device whose topic the example publishes on, so a wrong ``-u`` or
``-P`` in the guide fails.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psycopg
import pytest

from hub.broker import set_account
from hub.catalogue import Catalogue
from hub.mqtt_access import INGEST_ACCOUNT
from hub.scratch import scratch_database
from tests.fix_ingest import IngestProcess, ingest_env
from tests.fix_mqtt import Broker, secure_mosquitto
from tests.helpers import Conn, child_env, count
from tests.mqtt_client import logged_in
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "vendors.md"
SDK_DOC = DOC.with_name("sdk.md")
SDK_PLACEHOLDER = '"localhost", 1883'
PLACEHOLDER = "-h localhost -p 1883"
MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"
_EXPECT = re.compile(r"<!-- expect: (.+?) -->")
# What `cityhub device add` prints; the token is shown once.
_PRINTED_TOKEN = re.compile(r"MQTT password \(token, shown once\):\s+(\S+)")
# The device whose topics an example publishes on (a gateway's under cityhub/v1/gateway/).
_TOPIC_OWNER = re.compile(r"-t cityhub/v1/(?:gateway/)?([^/\s]+)/")


@dataclass(frozen=True)
class Example:
    line: int
    script: str
    expect: tuple[str, ...]

    @property
    def fiware(self) -> bool:
        return self.expect[0] == "fiware"

    @property
    def what(self) -> str:
        return self.expect[1] if self.fiware else self.expect[0]

    @property
    def targets(self) -> dict[str, str]:
        """device id -> expected count, code, or "" (online)."""
        items = self.expect[2:] if self.fiware else self.expect[1:]
        pairs = (item.partition("=") for item in items)
        return {device_id: value for device_id, _, value in pairs}


def sh_blocks(text: str, language: str = "sh") -> Iterator[tuple[int, str, str]]:
    """(line number, preceding non-blank line, body) of each fenced block in *language*."""
    lines = text.splitlines()
    previous = ""
    i = 0
    while i < len(lines):
        if lines[i].strip() == f"```{language}":
            end = lines.index("```", i + 1)
            yield i + 1, previous, "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        if lines[i].strip():
            previous = lines[i].strip()
        i += 1


def examples() -> list[Example]:
    found = []
    for line, previous, body in sh_blocks(DOC.read_text(encoding="utf-8")):
        if "mosquitto_pub" not in body:
            continue
        match = _EXPECT.fullmatch(previous)
        assert match, f"docs/vendors.md:{line}: a mosquitto_pub example needs an <!-- expect: … --> line"
        found.append(Example(line, body, tuple(match.group(1).split())))
    return found


def device_add_commands() -> list[list[str]]:
    return [shlex.split(line.strip())[1:] for _, _, body in sh_blocks(DOC.read_text(encoding="utf-8"))
            for line in body.splitlines() if line.strip().startswith("cityhub device add ")]


EXAMPLES = examples()


def sdk_examples() -> list[Example]:
    found = []
    for line, previous, body in sh_blocks(SDK_DOC.read_text(encoding="utf-8"), "python"):
        match = _EXPECT.fullmatch(previous)
        if match:
            found.append(Example(line, body, tuple(match.group(1).split())))
    return found


def test_the_guide_has_every_kind_of_example() -> None:
    assert {e.what for e in EXAMPLES} >= {"online", "readings", "events", "rejected"}
    assert any("gateway/" in e.script for e in EXAMPLES)
    assert any(e.fiware for e in EXAMPLES)
    for e in EXAMPLES:
        for command in re.split(r"\n(?=\S)", e.script):
            if "mosquitto_pub" in command:
                assert PLACEHOLDER in command, f"docs/vendors.md:{e.line} must connect with {PLACEHOLDER}"


@dataclass(frozen=True)
class DocsHub:
    database_url: str
    broker: Broker
    tokens: dict[str, str]  # device id -> the token its `cityhub device add` printed


def register_guide_devices(database_url: str, state_dir: Path) -> dict[str, str]:
    """Run the guide's `cityhub device add` lines; the tokens they print, by device id."""
    # A state directory of its own: no running `cityhub up` of this machine is touched.
    env = child_env(CITYHUB_DATABASE_URL=database_url, CITYHUB_STATE_DIR=str(state_dir))
    tokens = {}
    for args in device_add_commands():
        result = subprocess.run([sys.executable, "-m", "hub", *args], env=env, capture_output=True,
                                text=True, timeout=60, check=False)
        assert result.returncode == 0, f"cityhub {' '.join(args)}: {result.stderr}"
        printed = _PRINTED_TOKEN.search(result.stdout)
        assert printed, f"cityhub {' '.join(args)} printed no token: {result.stdout}"
        tokens[args[args.index("--id") + 1]] = printed.group(1)
    return tokens


@pytest.fixture(scope="module")
def docs_hub(
    pg_admin_url: str, catalogue: Catalogue, key_file: Path, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DocsHub]:
    # A database and a broker of their own: the guide's device ids are fixed and must not
    # collide, and other tests' ingest services would answer the guide's devices too.
    with scratch_database(pg_admin_url, f"cityhub_docs_{os.getpid()}", catalogue) as url:
        tokens = register_guide_devices(url, Path(tmp_path_factory.mktemp("docs-state")))
        with psycopg.connect(url) as conn:
            ingest_password = set_account(conn, INGEST_ACCOUNT)
        with secure_mosquitto(url) as secure:
            env = ingest_env(url, secure.broker, key_file,
                             CITYHUB_MQTT_URL=secure.url(INGEST_ACCOUNT, ingest_password))
            process = IngestProcess(env, Path(tmp_path_factory.mktemp("docs-ingest")) / "ingest.log")
            process.start()
            try:
                yield DocsHub(url, secure.broker, tokens)
            finally:
                process.stop()


def _counter(conn: Conn, what: str, device_id: str, code: str) -> Callable[[], object]:
    if what == "readings":
        return lambda: count(conn, "SELECT count(*)::int FROM hub.telemetry WHERE device_id = %s", device_id)
    if what == "events":
        return lambda: count(conn, "SELECT count(*)::int FROM hub.events WHERE device_id = %s", device_id)
    if what == "rejected":
        return lambda: count(conn, "SELECT count(*)::int FROM hub.dead_letters WHERE device_id = %s "
                                   "AND reason_code = %s", device_id, code)
    assert what == "online", what
    return lambda: conn.execute("SELECT online FROM hub.devices WHERE id = %s", (device_id,)).fetchone()


def _reached(counter: Callable[[], object], want: object) -> bool:
    return counter() == want


def topic_owner(example: Example) -> str:
    owners: set[str] = set(_TOPIC_OWNER.findall(example.script))
    assert len(owners) == 1, f"docs/vendors.md:{example.line}: publishes for {owners or 'no device'}"
    return owners.pop()


def run_example(example: Example, hub: DocsHub) -> None:
    script = example.script.replace(PLACEHOLDER, f"-h {hub.broker.host} -p {hub.broker.port}")
    env = {**os.environ, "TOKEN": hub.tokens[topic_owner(example)]}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, f"docs/vendors.md:{example.line}: {result.stderr}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"line{e.line}-{'-'.join(e.expect)}" for e in EXAMPLES])
def test_the_example_does_what_the_guide_says(example: Example, docs_hub: DocsHub) -> None:
    assert os.access(MOSQUITTO_PUB, os.X_OK), "install mosquitto-clients (scripts/install-mosquitto)"
    with psycopg.connect(docs_hub.database_url, autocommit=True) as conn:
        counters = {d: _counter(conn, example.what, d, v) for d, v in example.targets.items()}
        before = {d: c() for d, c in counters.items()}
        if example.what == "rejected":
            (device_id, code), = example.targets.items()
            # As the guide's mosquitto_sub: the device itself reads its errors topic.
            listener = logged_in(docs_hub.broker, device_id, docs_hub.tokens[device_id])
            try:
                assert listener.accepted
                listener.subscribe(f"cityhub/v1/{device_id}/errors")
                run_example(example, docs_hub)
                replies = wait_for(listener.replies, what="a reply on the errors topic")
            finally:
                listener.close()
            assert [r["code"] for _, r in replies] == [code]
            assert replies[0][1]["topic"] == f"cityhub/v1/{device_id}/telemetry"
            wait_for(lambda: counters[device_id]() == before[device_id] + 1,  # type: ignore[operator]
                     what=f"a {code} dead letter")
            return
        run_example(example, docs_hub)
        for device_id, expected in example.targets.items():
            counter = counters[device_id]
            if example.what == "online":
                wait_for(partial(_reached, counter, (True,)), what=f"{device_id} online")
            else:
                want = before[device_id] + int(expected)  # type: ignore[operator]
                wait_for(partial(_reached, counter, want),
                         what=f"{expected} new {example.what} of {device_id}")


@pytest.mark.parametrize("example", sdk_examples(), ids=lambda e: f"sdk.md-line{e.line}")
def test_the_sdk_example_does_what_the_guide_says(example: Example, docs_hub: DocsHub) -> None:
    assert SDK_PLACEHOLDER in example.script
    script = example.script.replace(SDK_PLACEHOLDER, f'"{docs_hub.broker.host}", {docs_hub.broker.port}')
    ((device_id, expected),) = example.targets.items()
    with psycopg.connect(docs_hub.database_url, autocommit=True) as conn:
        readings = _counter(conn, "readings", device_id, "")
        rejected = _counter(conn, "rejected", device_id, "out_of_range")
        before = readings(), rejected()
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "TOKEN": docs_hub.tokens[device_id]}, check=False)
        assert result.returncode == 0, f"docs/sdk.md:{example.line}: {result.stderr}"
        assert "pm10=5000 is outside the valid range 0..2000 (out_of_range)" in result.stdout
        want = before[0] + int(expected)  # type: ignore[operator]
        wait_for(partial(_reached, readings, want), what=f"{expected} new readings of {device_id}")
        assert rejected() == before[1] + 1  # type: ignore[operator]
