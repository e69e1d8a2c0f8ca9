"""The cityhub vendor SDK: publish a device's or gateway's data over MQTT.

Depends on paho-mqtt 2 and the standard library only, and imports nothing of the hub's
server side, so a vendor installs it alone on a gateway. Guide: docs/sdk.md.
"""

from devices.sdk.client import HubClient
from devices.sdk.errors import (
    ConnectFailed,
    HubRejected,
    InvalidPayload,
    NotConnected,
    PublishTimeout,
    SdkError,
)
from devices.sdk.payloads import MAX_READINGS_PER_MESSAGE, Event, Reading

__all__ = [
    "MAX_READINGS_PER_MESSAGE",
    "ConnectFailed",
    "Event",
    "HubClient",
    "HubRejected",
    "InvalidPayload",
    "NotConnected",
    "PublishTimeout",
    "Reading",
    "SdkError",
]
