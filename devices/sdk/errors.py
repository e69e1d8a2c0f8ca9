"""Exceptions of the cityhub vendor SDK.

    SdkError
     ├── ConnectFailed     the broker cannot be reached or refused the credentials
     ├── NotConnected      publish before connect() or after close()
     ├── InvalidPayload    a reading or event the SDK cannot encode (naive time, NaN, …)
     ├── PublishTimeout    no PUBACK from the broker in time (paho keeps the message queued
     │                     and resends it after a reconnect)
     └── HubRejected       the hub refused a message; ``code`` and ``reason`` say why
"""

from __future__ import annotations


class SdkError(Exception):
    """Base of every error the SDK raises on purpose."""


class ConnectFailed(SdkError):
    pass


class NotConnected(SdkError):
    pass


class InvalidPayload(SdkError, ValueError):
    pass


class PublishTimeout(SdkError):
    pass


class HubRejected(SdkError):
    """The hub's reply on ``cityhub/v1/<device_id>/errors``: it kept the message as a dead letter."""

    def __init__(self, topic: str, code: str, reason: str, received_at: str) -> None:
        super().__init__(f"the hub rejected a message on {topic}: {reason} ({code})")
        self.topic = topic
        self.code = code
        self.reason = reason
        self.received_at = received_at
