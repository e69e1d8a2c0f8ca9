"""The live view over a real uvicorn server: handshake rules, fan-out, slow clients, resume."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.sync.connection import Connection

from hub import alert_store
from hub.alerts import Action, Occurrence
from hub.catalogue import Catalogue
from hub.settings import Settings, load_settings
from ops_console.app import create_app
from ops_console.testing import Accounts, ConsoleServer, serve
from tests.helpers import new_device

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[tuple[object, ...]]
Frame = dict[str, Any]


def ws_url(server: ConsoleServer) -> str:
    return server.base_url.replace("http://", "ws://") + "/ws"


def open_ws(server: ConsoleServer, token: str, **kw: Any) -> ClientConnection:
    return connect(ws_url(server), subprotocols=["cityhub.v1", f"bearer.{token}"],  # type: ignore[list-item]
                   open_timeout=10, **kw)


def recv(ws: Connection, timeout: float = 10) -> Frame:
    frame: Frame = json.loads(ws.recv(timeout=timeout))
    return frame


def recv_until(ws: Connection, done: Callable[[Frame], bool], timeout: float = 20) -> list[Frame]:
    frames: list[Frame] = []
    while not frames or not done(frames[-1]):
        frames.append(recv(ws, timeout))
    return frames


def subscribe(ws: Connection, channels: list[str], since_seq: int | None = None) -> Frame:
    request: Frame = {"op": "subscribe", "channels": channels}
    if since_seq is not None:
        request["since_seq"] = since_seq
    ws.send(json.dumps(request))
    return recv_until(ws, lambda f: f["type"] == "subscribed")[-1]


def raise_alert(database_url: str, device_id: str, value: float = 420.0) -> int:
    """Raise (or repeat) a PM10 alert on *device_id* through the alert store; its id."""
    async def run() -> int:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            (alert,) = await alert_store.raise_or_update(conn, [Occurrence(
                rule_id="pm10-high", alert_type="air_quality", title="PM10 above the alert level",
                source="rule", severity="critical", device_id=device_id, zone="jung-gu",
                ts=datetime.now(UTC), metric="pm10", value=value)])
            return alert.id
    return asyncio.run(run())


def act(database_url: str, alert_id: int, kind: str) -> None:
    async def run() -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await alert_store.act(conn, alert_id, Action(kind, actor="tests", outcome="handled"))  # type: ignore[arg-type]
    asyncio.run(run())


@pytest.fixture
def operator_token(token_for: Callable[[str], str]) -> str:
    return token_for("operator")


# -- handshake ------------------------------------------------------------------

def refused(server: ConsoleServer, **kw: Any) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(server), open_timeout=10, **kw).close()
    response = info.value.response
    return response.status_code, response.body.decode() if response.body else ""


def test_handshake_without_a_token_is_refused(console_server: ConsoleServer) -> None:
    status, body = refused(console_server)
    assert status == 401
    assert "access token" in body


def test_handshake_with_a_bad_token_is_refused(console_server: ConsoleServer, operator_token: str) -> None:
    forged = operator_token[:-4] + ("AAAA" if not operator_token.endswith("AAAA") else "BBBB")
    status, body = refused(console_server, subprotocols=["cityhub.v1", f"bearer.{forged}"])
    assert status == 401
    assert "not valid" in body


def test_handshake_from_another_origin_is_refused(console_server: ConsoleServer, operator_token: str) -> None:
    status, body = refused(console_server, subprotocols=["cityhub.v1", f"bearer.{operator_token}"],
                           origin="http://evil.example")
    assert status == 403
    assert "evil.example" in body
    assert "CITYHUB_CONSOLE_ORIGINS" in body


def test_handshake_for_a_role_without_the_live_view_is_refused(
    console_server: ConsoleServer, token_for: Callable[[str], str]
) -> None:
    analyst = {"Authorization": f"Bearer {token_for('analyst')}"}
    status, body = refused(console_server, additional_headers=analyst)
    assert status == 403
    assert "analyst" in body


def test_allowed_origin_and_header_token_are_accepted(
    console_server: ConsoleServer, operator_token: str
) -> None:
    with open_ws(console_server, operator_token, origin="http://127.0.0.1") as ws:
        hello = recv(ws)
        assert ws.subprotocol == "cityhub.v1"
    assert (hello["type"], hello["role"]) == ("hello", "operator")
    with connect(ws_url(console_server), additional_headers={"Authorization": f"Bearer {operator_token}"},
                 open_timeout=10) as ws:
        assert recv(ws)["type"] == "hello"


def test_bad_requests_get_an_error_and_the_connection_stays(
    console_server: ConsoleServer, operator_token: str
) -> None:
    with open_ws(console_server, operator_token) as ws:
        recv(ws)
        ws.send("{nonsense")
        assert "not JSON" in recv(ws)["reason"]
        ws.send(json.dumps({"op": "subscribe", "channels": ["weather"]}))
        assert "unknown channel" in recv(ws)["reason"]
        ws.send(json.dumps({"op": "ping"}))
        assert recv(ws) == {"type": "pong"}


# -- fan-out ----------------------------------------------------------------------

def test_alert_changes_reach_every_subscribed_client(
    console_server: ConsoleServer, operator_token: str, db: Conn, catalogue: Catalogue, database_url: str
) -> None:
    device = new_device(db, catalogue, "air_quality", zone="jung-gu")
    clients = [open_ws(console_server, operator_token) for _ in range(4)]
    try:
        for ws in clients[:3]:
            recv(ws)
            subscribe(ws, ["alerts"])
        recv(clients[3])
        subscribe(clients[3], ["devices"])
        alert_id = raise_alert(database_url, device)
        for ws in clients[:3]:
            frame = recv_until(ws, lambda f: f.get("alert_id") == alert_id)[-1]
            assert (frame["type"], frame["state"], frame["severity"]) == ("alert", "open", "critical")
        clients[3].send(json.dumps({"op": "ping"}))
        assert recv(clients[3]) == {"type": "pong"}  # the devices-only client got no alert first
    finally:
        for ws in clients:
            ws.close()


def test_device_status_and_readings_of_a_zone(
    console_server: ConsoleServer, operator_token: str, db: Conn, catalogue: Catalogue
) -> None:
    zone = f"z{secrets.token_hex(3)}"
    device = new_device(db, catalogue, "air_quality", zone=zone)
    ts = datetime.now(UTC)
    with open_ws(console_server, operator_token) as ws:
        recv(ws)
        subscribe(ws, ["devices", f"readings:zone:{zone}"])
        db.execute("INSERT INTO hub.telemetry (ts, device_id, metric, value) VALUES (%s, %s, 'pm10', 88)",
                   (ts, device))
        db.execute("SELECT pg_notify('hub_telemetry', %s)", (json.dumps(
            {"from": ts.isoformat(), "to": ts.isoformat(), "devices": [device]}),))
        db.execute("SELECT pg_notify('hub_device_status', %s)",
                   (json.dumps({"device_id": device, "online": False}),))
        frames = recv_until(ws, lambda f: f["type"] == "readings")
        readings = frames[-1]
        assert (readings["device_id"], readings["zone"]) == (device, zone)
        assert [(r["metric"], r["value"]) for r in readings["readings"]] == [("pm10", 88.0)]
        if not any(f["type"] == "device_status" for f in frames):
            frames = recv_until(ws, lambda f: f["type"] == "device_status")
        status = next(f for f in frames if f["type"] == "device_status")
        assert (status["device_id"], status["online"]) == (device, False)


# -- slow clients -------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_queue_server(console_settings: Settings) -> Iterator[ConsoleServer]:
    """A console of its own whose clients may have only 500 messages pending."""
    settings = load_settings({}, **{**console_settings.model_dump(), "console_ws_queue_limit": 500})
    with serve(create_app(settings)) as server:
        yield server


def slow_socket(port: int) -> socket.socket:
    # A tiny receive window, so the server's sends back up quickly.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(("127.0.0.1", port))
    return sock


def flood(db: Conn, channel: str, payload_sql: str, n: int) -> None:
    """*n* notifications on *channel* in one statement; *payload_sql* is an expression of g."""
    db.execute(sql.SQL("SELECT pg_notify(%s, {}) FROM generate_series(1, %s) AS g")
               .format(sql.SQL(payload_sql)), (channel, n))


def read_until_closed(ws: Connection) -> int:
    """How many frames *ws* received before the server closed it."""
    received = 0
    try:
        while True:
            recv(ws, timeout=30)
            received += 1
    except ConnectionClosed:
        return received


def test_a_slow_client_is_disconnected_and_never_delays_the_others(
    small_queue_server: ConsoleServer, database_url: str, db: Conn
) -> None:
    token = Accounts(database_url, small_queue_server).token_for("operator")
    n = 10_000
    fast = [open_ws(small_queue_server, token, max_queue=None) for _ in range(2)]
    slow = open_ws(small_queue_server, token, sock=slow_socket(small_queue_server.port), compression=None,
                   max_queue=1)
    try:
        for ws in (*fast, slow):
            recv(ws)
            subscribe(ws, ["alerts"])
        # Synthetic changes (this server's own test): only the fan-out is exercised. Each is
        # padded to 2 kB so that they overfill the kernel's socket buffers (megabytes).
        flood(db, "hub_alerts", "json_build_object('alert_id', g, 'seq', 10000000 + g, "
              "'state', 'open', 'severity', repeat('x', 2000))::text", n)
        for ws in fast:
            frames = recv_until(ws, lambda f: f.get("seq") == 10000000 + n, timeout=60)
            assert [f["seq"] for f in frames] == [10000000 + g for g in range(1, n + 1)]
        received = read_until_closed(slow)
        assert received < n
        # The close frame may not get through a full pipe; the server aborts then.
        if slow.close_code is not None and slow.close_code != 1006:
            assert slow.close_code == 4008
            assert "too slow" in (slow.close_reason or "")
    finally:
        for ws in (*fast, slow):
            ws.close()


def test_a_behind_client_gets_coalesced_device_status(
    small_queue_server: ConsoleServer, database_url: str, db: Conn
) -> None:
    token = Accounts(database_url, small_queue_server).token_for("operator")
    n = 20_000
    slow = open_ws(small_queue_server, token, sock=slow_socket(small_queue_server.port), compression=None,
                   max_queue=1)
    with slow:
        recv(slow)
        subscribe(slow, ["devices"])
        # 20,000 changes of 10 devices; the last one of each device is "online": (g > n - 10).
        flood(db, "hub_device_status", "json_build_object('device_id', 'dev-' || (g %% 10), "
              f"'online', g > {n - 10})::text", n)
        latest: dict[str, bool] = {}
        count = 0
        while len(latest) < 10 or not all(latest.values()):
            frame = recv(slow, timeout=30)
            latest[frame["device_id"]] = frame["online"]
            count += 1
        assert count < n  # coalesced, not every change
        slow.send(json.dumps({"op": "ping"}))
        assert recv_until(slow, lambda f: f["type"] == "pong")  # still connected


# -- resume -----------------------------------------------------------------------

def test_a_reconnecting_client_resumes_without_missing_or_repeating_a_change(
    console_server: ConsoleServer, operator_token: str, db: Conn, catalogue: Catalogue, database_url: str
) -> None:
    device = new_device(db, catalogue, "air_quality", zone="jung-gu")
    with open_ws(console_server, operator_token) as ws:
        recv(ws)
        subscribe(ws, ["alerts"])
        alert_id = raise_alert(database_url, device)
        first = recv_until(ws, lambda f: f.get("alert_id") == alert_id)[-1]
    last_seq = first["seq"]
    # While the client is away the alert is acknowledged and resolved.
    act(database_url, alert_id, "acknowledge")
    act(database_url, alert_id, "resolve")
    expected = [int(r[0]) for r in db.execute(  # type: ignore[call-overload]
        "SELECT seq FROM hub.alert_changes WHERE seq > %s ORDER BY seq", (last_seq,)).fetchall()]
    with open_ws(console_server, operator_token) as ws:
        hello = recv(ws)
        assert hello["seq"] >= expected[-1]
        ack = subscribe(ws, ["alerts"], since_seq=last_seq)
        assert ack["resumed"] == len(expected)
        # A change after the resume arrives live, once.
        raise_alert(database_url, device)
        got = recv_until(ws, lambda f: f.get("type") == "alert" and f["seq"] > expected[-1])
        seqs = [f["seq"] for f in got if f["type"] == "alert"]
    assert seqs[:len(expected)] == expected
    assert len(seqs) == len(set(seqs)) == len(expected) + 1
    states = [f["state"] for f in got if f.get("alert_id") == alert_id]
    assert states == ["acknowledged", "resolved"]
