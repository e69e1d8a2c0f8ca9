"""The bench's devices over MQTT: readings published at QoS 1, as a device sends them."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from datetime import UTC, datetime

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hub.errors import HubError

ACK_TIMEOUT_S = 10.0


class Publisher:
    """One MQTT connection publishing for every bench device (the broker takes anyone)."""

    def __init__(self, port: int) -> None:
        self._client = paho.Client(CallbackAPIVersion.VERSION2,
                                   client_id=f"cityhub-bench-console-{secrets.token_hex(4)}")
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    async def publish(self, device_id: str, values: dict[str, float]) -> float:
        """Publish one reading stamped now; returns time.monotonic() just before the publish,
        once the broker has acknowledged it (PUBACK)."""
        payload = json.dumps({"ts": datetime.now(UTC).isoformat(), **values})
        started = time.monotonic()
        info = self._client.publish(f"cityhub/v1/{device_id}/telemetry", payload, qos=1)
        # Waiting in a thread keeps the event loop, and the clients' clocks, running.
        await asyncio.to_thread(info.wait_for_publish, ACK_TIMEOUT_S)
        if not info.is_published():
            raise HubError(f"The broker did not acknowledge a reading of {device_id} "
                           f"within {ACK_TIMEOUT_S:.0f} s.")
        return started

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
