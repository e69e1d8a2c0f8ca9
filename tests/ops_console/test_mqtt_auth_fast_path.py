"""/api/v1/mqtt/auth as a reconnect storm meets it: EMQX's requests answered before the app's
stack (ops_console/broker_login.py), the device rows looked up in shared queries
(hub/device_lookups.py), and every other request answered by the routes as before."""

from __future__ import annotations

import asyncio
import re
import secrets

import httpx
import pytest

from hub.catalogue import Catalogue
from hub.embedded import free_port
from hub.registry import add_device, revoke_device, rotate_token
from hub.settings import Settings, load_settings
from ops_console.app import create_app
from ops_console.security_headers import STATIC_HEADERS
from ops_console.testing import ConsoleServer, serve
from tests import token_keys
from tests.helpers import Conn
from tests.ops_console.conftest import BROKER_SECRET, bearer, broker_login

pytestmark = pytest.mark.integration

AUTH = "/api/v1/mqtt/auth"


def counted(server: ConsoleServer, status: int) -> float:
    """cityhub_console_requests_total of the broker's login route with this status."""
    with server.client() as http:
        text = http.get("/metrics").text
    found = re.search(r'^cityhub_console_requests_total\{method="POST",route="/api/v1/mqtt/auth",'
                      rf'status="{status}"\}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def keyed_device(db: Conn, catalogue: Catalogue, prefix: str) -> tuple[str, str]:
    device_id = f"{prefix}-{secrets.token_hex(3)}"
    return device_id, add_device(db, catalogue, device_id, "air_quality", keys=token_keys.KEYS).token


def test_a_storm_of_logins_at_once_gets_each_device_its_own_answer(
    keyed_console: ConsoleServer, db: Conn, catalogue: Catalogue,
) -> None:
    devices = [keyed_device(db, catalogue, f"storm{i}") for i in range(30)]
    revoke_device(db, devices[0][0])
    asked: list[tuple[str, str, str]] = []  # username, password, the right answer
    for i, (device_id, token) in enumerate(devices):
        asked.append((device_id, token, "deny" if i == 0 else "allow"))
        asked.append((device_id, devices[(i + 1) % len(devices)][1], "deny"))  # another's token
        asked.append((f"{device_id}-twin", token, "deny"))  # no such device

    async def storm() -> list[str]:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=keyed_console.base_url, limits=limits,
                                     headers=bearer(BROKER_SECRET), timeout=30) as http:
            answers = await asyncio.gather(*(
                http.post(AUTH, json={"username": u, "password": p, "clientid": u}) for u, p, _ in asked))
        assert {a.status_code for a in answers} == {200}
        return [str(a.json()["result"]) for a in answers]

    assert asyncio.run(storm()) == [right for _, _, right in asked]


def test_a_revoked_device_is_refused_at_its_very_next_login(
    keyed_console: ConsoleServer, db: Conn, catalogue: Catalogue,
) -> None:
    device_id, token = keyed_device(db, catalogue, "fast-rev")
    assert broker_login(keyed_console, device_id, token) == "allow"
    revoke_device(db, device_id)
    assert broker_login(keyed_console, device_id, token) == "deny"


def test_a_rotated_token_is_refused_at_once_and_the_new_one_admitted(
    keyed_console: ConsoleServer, db: Conn, catalogue: Catalogue,
) -> None:
    device_id, old = keyed_device(db, catalogue, "fast-rot")
    assert broker_login(keyed_console, device_id, old) == "allow"
    new = rotate_token(db, device_id, token_keys.KEYS).token
    assert broker_login(keyed_console, device_id, old) == "deny"
    assert broker_login(keyed_console, device_id, new) == "allow"


def test_the_broker_s_answer_is_counted_and_carries_the_security_headers(
    keyed_console: ConsoleServer, db: Conn, catalogue: Catalogue,
) -> None:
    device_id, token = keyed_device(db, catalogue, "fast-hdr")
    before = counted(keyed_console, 200)
    with keyed_console.client() as http:
        response = http.post(AUTH, headers=bearer(BROKER_SECRET),
                             json={"username": device_id, "password": token, "clientid": device_id})
    assert response.json() == {"result": "allow", "is_superuser": False}
    assert response.headers["content-type"] == "application/json"
    for name, value in STATIC_HEADERS.items():
        assert response.headers[name] == value
    assert f"ws://127.0.0.1:{keyed_console.port}" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers
    assert counted(keyed_console, 200) == before + 1


def test_requests_emqx_does_not_send_are_answered_by_the_routes_alike(
    keyed_console: ConsoleServer, db: Conn, catalogue: Catalogue,
) -> None:
    device_id, token = keyed_device(db, catalogue, "fast-other")
    body = {"username": device_id, "password": token, "clientid": device_id}
    refused_before = counted(keyed_console, 401)
    with keyed_console.client() as http:
        secret = {"Authorization": f"bearer {BROKER_SECRET}"}  # the scheme in another case
        assert http.post(AUTH, headers=secret, json=body).json()["result"] == "allow"
        with_query = http.post(f"{AUTH}?from=emqx", headers=bearer(BROKER_SECRET), json=body)
        assert with_query.json()["result"] == "allow"
        padded = {**body, "padding": "x" * 5000}  # past what the fast path reads
        assert http.post(AUTH, headers=bearer(BROKER_SECRET), json=padded).json()["result"] == "allow"
        assert http.post(f"{AUTH}?x=%00", headers=bearer(BROKER_SECRET), json=body).status_code == 400
        assert http.post(AUTH, headers=bearer(BROKER_SECRET), content=b"{").status_code == 422
        assert http.post(AUTH, headers=bearer(BROKER_SECRET),
                         json={**body, "password": 5}).status_code == 422
        assert http.post(AUTH, headers=bearer("not-the-secret"), json=body).status_code == 401
        assert http.post(AUTH, json=body).status_code == 401
    assert counted(keyed_console, 401) == refused_before + 2


def test_a_database_that_cannot_be_reached_is_a_503_not_an_answer(console_settings: Settings) -> None:
    nowhere = f"postgresql://cityhub@127.0.0.1:{free_port()}/cityhub"
    settings = load_settings({}, **{**console_settings.model_dump(), "database_url": nowhere,
                                    "device_token_key": token_keys.KEY})
    with serve(create_app(settings)) as server, server.client() as http:
        response = http.post(AUTH, headers=bearer(BROKER_SECRET),
                             json={"username": "aq-1", "password": "p", "clientid": "aq-1"})
    assert response.status_code == 503
    assert response.json()["detail"].startswith("The database is unavailable")
