"""/api/v1/devices/{id}/forecast: a station's newest forecast run, for the same readers as its readings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hub.catalogue import Catalogue
from tests.helpers import Conn, new_device
from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)


def store_run(db: Conn, device: str, made_at: datetime, values: list[float], version: int) -> None:
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO hub.forecasts (device_id, metric, made_at, target_at, horizon_h, value, "
            "model_version) VALUES (%s, 'pm25', %s, %s, %s, %s, %s)",
            [(device, made_at, made_at + (h - 1) * HOUR, h, v, version) for h, v in enumerate(values, 1)])


def test_the_newest_run_comes_back_by_horizon(
    db: Conn, catalogue: Catalogue, client: httpx.Client, token_for: Callable[[str], str],
) -> None:
    station = new_device(db, catalogue, "air_quality")
    made = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    store_run(db, station, made - HOUR, [10, 11, 12, 13, 14, 15], version=1)
    store_run(db, station, made, [70, 78.5, 81, 76, 60, 42], version=2)
    response = client.get(f"/api/v1/devices/{station}/forecast", headers=bearer(token_for("operator")))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["device_id"], body["metric"], body["model_version"]) == (station, "pm25", 2)
    assert datetime.fromisoformat(body["made_at"]) == made
    assert [(p["horizon_h"], p["value"], datetime.fromisoformat(p["target_at"])) for p in body["points"]] == [
        (h, v, made + (h - 1) * HOUR) for h, v in enumerate([70, 78.5, 81, 76, 60, 42], 1)]


def test_no_forecast_yet_is_an_empty_run_and_unknown_devices_are_404(
    db: Conn, catalogue: Catalogue, client: httpx.Client, token_for: Callable[[str], str],
) -> None:
    station = new_device(db, catalogue, "air_quality")
    headers = bearer(token_for("supervisor"))
    body = client.get(f"/api/v1/devices/{station}/forecast", headers=headers).json()
    assert (body["points"], body["made_at"], body["model_version"]) == ([], None, None)
    missing = client.get("/api/v1/devices/no-such-station/forecast", headers=headers)
    assert missing.status_code == 404
    assert "no-such-station" in missing.json()["detail"]


def test_only_operations_roles_read_forecasts(
    db: Conn, catalogue: Catalogue, client: httpx.Client, token_for: Callable[[str], str],
) -> None:
    station = new_device(db, catalogue, "air_quality")
    assert client.get(f"/api/v1/devices/{station}/forecast").status_code == 401
    analyst = client.get(f"/api/v1/devices/{station}/forecast", headers=bearer(token_for("analyst")))
    assert analyst.status_code == 403
