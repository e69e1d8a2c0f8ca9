"""docs/devices.md "Setting up Mosquitto on a server", run as written against a real Mosquitto.

The block after ``<!-- broker-setup -->`` runs in bash, as root, line by line in its
order: the system directories it names (/etc/mosquitto, /run/mosquitto, …) are moved
under a temporary root, ``deploy/mosquitto/host.conf`` is the shipped sample with the
same paths moved and its ``listener 1883`` on a free port of 127.0.0.1, and ``cityhub``
is this checkout's. Everything else is as an administrator would type it: Mosquitto is
started by the block itself (``-d``), as root, and drops to the user ``mosquitto`` as it
does on a server, so files it cannot read as that user or a pid file it cannot write
fail here as they do there. Then devices log in with the tokens the block printed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from hub.broker import broker_user
from hub.catalogue import Catalogue
from hub.embedded import free_port, mosquitto_binary, wait_for_port
from hub.mqtt_access import INGEST_ACCOUNT
from hub.scratch import scratch_database
from tests.fix_mqtt import Broker
from tests.helpers import child_env
from tests.mqtt_client import Device, logged_in, login
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

TOP = Path(__file__).resolve().parents[2]
DOC = TOP / "docs" / "devices.md"
SAMPLE = TOP / "deploy" / "mosquitto" / "host.conf"
MARKER = "<!-- broker-setup -->"
# The system paths the block and the sample name; each is moved under the test's root.
SYSTEM_DIRS = ("/etc/mosquitto", "/run/mosquitto", "/var/lib/mosquitto", "/var/log/mosquitto")
SAMPLE_LISTENER = "listener 1883\n"
_DEVICE_TOKEN = re.compile(r"registered \S+ device (\S+)\n\s+MQTT username: \S+\n"
                           r"\s+MQTT password \(token, shown once\):\s+(\S+)")
_ACCOUNT_PASSWORD = re.compile(r"password \(shown once\):\s+(\S+)")


def setup_block(text: str) -> str:
    """The ```sh block right after the marker line."""
    lines = text.splitlines()
    start = lines.index(MARKER)
    assert lines[start + 1] == "```sh", f"docs/devices.md:{start + 2}: the marker must precede a ```sh block"
    end = lines.index("```", start + 2)
    return "\n".join(lines[start + 2:end]) + "\n"


def moved(text: str, root: Path) -> str:
    for directory in SYSTEM_DIRS:
        text = text.replace(directory, f"{root}{directory}")
    return text


@dataclass(frozen=True)
class SetUp:
    broker: Broker
    env: dict[str, str]  # the block's environment, its two exports included
    output: str
    tokens: dict[str, str]  # device id -> the token `cityhub device add` printed
    ingest_password: str

    def cityhub(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hub", *args], env=self.env, capture_output=True,
                              text=True, timeout=60, check=False)

    def add_device(self, device_id: str) -> str:
        result = self.cityhub("device", "add", "--kind", "air_quality", "--id", device_id)
        assert result.returncode == 0, result.stderr
        found: dict[str, str] = dict(_DEVICE_TOKEN.findall(result.stdout))
        return found[device_id]


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie nobody reaps has stopped all the same


def _stop(pid_file: Path) -> None:
    """Stop the broker the block started (it runs detached: only its pid file names it)."""
    try:
        pid = int(pid_file.read_text(encoding="ascii"))
    except (FileNotFoundError, ValueError):
        return
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not _alive(pid), what="the broker to stop")


@pytest.fixture(scope="module")
def setup(pg_admin_url: str, catalogue: Catalogue) -> Iterator[SetUp]:
    if os.geteuid() != 0 or broker_user() is None or mosquitto_binary() is None:
        pytest.skip("the setup of docs/devices.md runs as root on a machine with Mosquitto "
                    "and its user `mosquitto` (scripts/install-mosquitto)")
    # Not pytest's tmp_path: its 0700 parents would keep the broker's own user out.
    root = Path(tempfile.mkdtemp(prefix="cityhub-setup-doc-"))
    root.chmod(0o755)
    port = free_port()
    top = root / "top"  # the repository's top, where the block runs
    sample = moved(SAMPLE.read_text(encoding="utf-8"), root)
    assert sample.count(SAMPLE_LISTENER) == 1, "deploy/mosquitto/host.conf: one `listener 1883` line"
    (top / "deploy" / "mosquitto").mkdir(parents=True)
    (top / "deploy" / "mosquitto" / "host.conf").write_text(
        sample.replace(SAMPLE_LISTENER, f"listener {port} 127.0.0.1\n"), encoding="utf-8")
    (root / "etc" / "mosquitto").mkdir(parents=True)  # made by the mosquitto package
    bin_dir = root / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "cityhub"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hub "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    script = moved(setup_block(DOC.read_text(encoding="utf-8")), root)
    env = child_env()
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}:/usr/sbin:/sbin"
    pid_file = root / "run" / "mosquitto" / "mosquitto.pid"
    with scratch_database(pg_admin_url, f"cityhub_setupdoc_{os.getpid()}", catalogue) as url:
        env |= {"CITYHUB_DATABASE_URL": url, "CITYHUB_STATE_DIR": str(root / "state")}
        try:
            result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=top, env=env,
                                    capture_output=True, text=True, timeout=180, check=False)
            log = root / "var" / "log" / "mosquitto" / "mosquitto.log"
            broker_log = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
            assert result.returncode == 0, (
                f"docs/devices.md setup failed:\n{result.stdout}\n{result.stderr}\nbroker log:\n{broker_log}")
            assert wait_for_port(port, 20), f"the broker does not listen:\n{broker_log}"
            tokens: dict[str, str] = dict(_DEVICE_TOKEN.findall(result.stdout))
            password = _ACCOUNT_PASSWORD.search(result.stdout)
            assert tokens, result.stdout
            assert password, result.stdout
            # The block's own exports, for the commands of the tests below.
            env |= {"CITYHUB_BROKER_DIR": moved("/etc/mosquitto/cityhub", root),
                    "CITYHUB_BROKER_PID_FILE": moved("/run/mosquitto/mosquitto.pid", root)}
            assert f"export CITYHUB_BROKER_DIR={env['CITYHUB_BROKER_DIR']}" in script
            assert f"export CITYHUB_BROKER_PID_FILE={env['CITYHUB_BROKER_PID_FILE']}" in script
            yield SetUp(Broker("127.0.0.1", port), env, result.stdout, tokens, password.group(1))
        finally:
            _stop(pid_file)
            shutil.rmtree(root, ignore_errors=True)


def test_the_device_of_the_guide_logs_in_with_its_printed_token(setup: SetUp) -> None:
    (device_id, token), = setup.tokens.items()
    assert wait_for(lambda: login(setup.broker, device_id, token), what=f"{device_id} to log in")
    assert not login(setup.broker, device_id, token + "x")
    assert not login(setup.broker, None, None)
    # Usernames are case-sensitive in the broker, as device ids are in the registry.
    assert not login(setup.broker, device_id.upper(), token)
    assert login(setup.broker, INGEST_ACCOUNT, setup.ingest_password)


def test_a_device_added_later_can_log_in_at_once(setup: SetUp) -> None:
    token = setup.add_device("aq-setup-later")
    # `device add` rewrote the files and sent the running broker SIGHUP: nothing else to do.
    assert wait_for(lambda: login(setup.broker, "aq-setup-later", token), what="the new device to log in")


def test_a_case_twin_of_a_registered_device_is_refused(setup: SetUp) -> None:
    (device_id, _), = setup.tokens.items()
    twin = device_id.upper()
    result = setup.cityhub("device", "add", "--kind", "air_quality", "--id", twin)
    assert result.returncode != 0
    assert f"differs only in letter case from the registered device '{device_id}'" in " ".join(
        result.stderr.split())


@pytest.fixture(scope="module")
def two_devices(setup: SetUp) -> dict[str, str]:
    (first, token), = setup.tokens.items()
    second = "aq-setup-other"
    return {first: token, second: setup.add_device(second)}


def _subscribe(client: Device, topic: str) -> int:
    """Subscribe at QoS 1; the SUBACK's return code (the granted QoS, or 0x80 refused)."""
    codes: list[int] = []

    def on_subscribe(_c: paho.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        codes.extend(int(r.value) for r in reasons)

    client.client.on_subscribe = on_subscribe
    client.client.subscribe(topic, qos=1)
    wait_for(lambda: codes, what=f"the SUBACK for {topic}")
    return codes[0]


def test_a_device_publishes_under_its_own_prefix_and_not_under_anothers(
    setup: SetUp, two_devices: dict[str, str]
) -> None:
    mine, other = two_devices
    watcher = logged_in(setup.broker, INGEST_ACCOUNT, setup.ingest_password)
    device = wait_for(lambda: _accepted(setup.broker, mine, two_devices[mine]), what="a login")
    try:
        assert _subscribe(watcher, "cityhub/v1/#") == 1
        device.publish(f"cityhub/v1/{other}/telemetry", '{"pm10": 666}')
        device.publish(f"cityhub/v1/{mine}/telemetry", '{"pm10": 42}')
        wait_for(lambda: watcher.received, what="the device's own message")
        # One broker delivers in order: the later message arrived, the earlier was dropped.
        assert [t for t, _ in watcher.received] == [f"cityhub/v1/{mine}/telemetry"]
    finally:
        device.close()
        watcher.close()


def _accepted(broker: Broker, username: str, password: str) -> Device | None:
    client = logged_in(broker, username, password)
    if client.accepted:
        return client
    client.close()
    return None


def test_a_subscription_to_another_devices_topics_is_granted_and_delivers_nothing(
    setup: SetUp, two_devices: dict[str, str]
) -> None:
    mine, other = two_devices
    ingest = logged_in(setup.broker, INGEST_ACCOUNT, setup.ingest_password)
    snoop = wait_for(lambda: _accepted(setup.broker, mine, two_devices[mine]), what="a login")
    victim = wait_for(lambda: _accepted(setup.broker, other, two_devices[other]), what="a login")
    try:
        # Mosquitto answers with the granted QoS, not with a refusal (0x80)...
        assert _subscribe(snoop, f"cityhub/v1/{other}/#") == 1
        assert _subscribe(snoop, f"cityhub/v1/{other}/errors") == 1
        assert _subscribe(snoop, f"cityhub/v1/{mine}/errors") == 1
        # ...and then delivers nothing of the other device's: its telemetry, its errors.
        victim.publish(f"cityhub/v1/{other}/telemetry", '{"pm10": 7}')
        ingest.publish(f"cityhub/v1/{other}/errors", '{"code": "for the other device"}')
        ingest.publish(f"cityhub/v1/{mine}/errors", '{"code": "for me"}')
        wait_for(lambda: snoop.received, what="the device's own errors message")
        assert snoop.replies() == [(f"cityhub/v1/{mine}/errors", {"code": "for me"})]
    finally:
        for client in (snoop, victim, ingest):
            client.close()
