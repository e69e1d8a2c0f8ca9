"""The device-token key of the tests (CITYHUB_DEVICE_TOKEN_KEY), and an earlier one."""

from __future__ import annotations

from hub.device_tokens import TokenKeys, parse_keys

KEY = "tests-device-token-key-Qm7vX2pL9sRk4WzN8cYt"
OLD_KEY = "tests-earlier-token-key-Hd3Fj6Gb1Vn5Ms0Lq"
KEYS: TokenKeys = parse_keys(KEY)
ENV = {"CITYHUB_DEVICE_TOKEN_KEY": KEY}
