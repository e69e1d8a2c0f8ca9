"""Raw-socket MQTT connections of the simulator: many devices over one, or one with a will.

The connection itself (outgoing buffer, window of unacknowledged packet ids, PUBACK
counting, keep-alive) is ``devices.mqttwire.Connection``, shared with the load
generator; the engine pumps it without blocking. A device whose going offline is part
of the scenario gets a connection of its own with a last will on its status topic;
``drop`` closes it without DISCONNECT, so the broker publishes the will [MQTT-3.1.2-8].
"""

from __future__ import annotations

from devices import mqttwire
from hub.settings import MqttTarget


class Connection(mqttwire.Connection):
    """A connection to *target* as *client_id*, with credentials and an optional will."""

    def __init__(self, target: MqttTarget, client_id: str, *, window: int = 2000,
                 will_topic: str | None = None, keepalive: int = 60) -> None:
        connect = mqttwire.connect_packet(
            client_id, username=target.username, password=target.password,
            will_topic=will_topic, keepalive=keepalive)
        super().__init__(mqttwire.open_socket(target.host, target.port, connect), client_id,
                         window=window, keepalive=keepalive)
