"""Broker access rules without a broker: the $7$ hash, the topic rules, the ACL text."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePath

import pytest

from hub.broker_files import BrokerLogin, acl_file, conf_snippet, password_file
from hub.credentials import broker_hash, verify_broker_hash
from hub.mqtt_access import (
    INGEST_ACCOUNT,
    SIM_ACCOUNT,
    MqttIdentity,
    may_publish,
    may_subscribe,
    topic_matches,
)

DEVICE = MqttIdentity("aq-1", "device", "air_quality")
GATEWAY = MqttIdentity("gw-1", "device", "gateway")
INGEST = MqttIdentity(INGEST_ACCOUNT, "ingest", None)
SIM = MqttIdentity(SIM_ACCOUNT, "simulator", None)

# Made by Mosquitto 2.0.11's `mosquitto_passwd -b passwd alice secret1`.
MOSQUITTO_PASSWD_LINE = (
    "alice:$7$101$+dtPTdR7yvLH+GwN$5Aka0r7ByBL2O5KqPgDlLGGGy94q5M1Glw590gRiTr1FAooNETJ6wUck"
    "sJiR2jbU9zTQgXgej+W1WegAFP+snA=="
)


def test_broker_hash_checks_a_hash_made_by_mosquitto_passwd() -> None:
    encoded = MOSQUITTO_PASSWD_LINE.split(":", 1)[1]
    assert verify_broker_hash(encoded, "secret1")
    assert not verify_broker_hash(encoded, "secret2")


def test_broker_hash_has_mosquittos_layout_and_a_fresh_salt() -> None:
    first, second = broker_hash("tok-123"), broker_hash("tok-123")
    assert first != second
    marker, algorithm, iterations, salt, digest = first.split("$")[0:5]
    assert (marker, algorithm, iterations) == ("", "7", "101")
    assert len(salt) == 16
    assert len(digest) == 88
    assert verify_broker_hash(first, "tok-123")
    assert verify_broker_hash(second, "tok-123")
    assert not verify_broker_hash(first, "tok-124")
    assert not verify_broker_hash("$6$abc$def", "tok-123")
    assert not verify_broker_hash("$7$101$!!$??", "tok-123")


def test_password_file_lists_each_login_once_per_line() -> None:
    text = password_file([BrokerLogin("b-dev", "$7$1$x$y"), BrokerLogin("a-dev", "$7$1$p$q")])
    assert text == "a-dev:$7$1$p$q\nb-dev:$7$1$x$y\n"


def test_conf_snippet_turns_anonymous_access_off() -> None:
    text = conf_snippet(PurePath("/mosquitto/config"))
    assert "allow_anonymous false" in text.splitlines()
    assert "password_file /mosquitto/config/passwd" in text
    assert "acl_file /mosquitto/config/acl" in text


@pytest.mark.parametrize(("identity", "topic", "allowed"), [
    (DEVICE, "cityhub/v1/aq-1/telemetry", True),
    (DEVICE, "cityhub/v1/aq-1/events", True),
    (DEVICE, "cityhub/v1/aq-1/status", True),
    (DEVICE, "cityhub/v1/aq-1/errors", False),
    (DEVICE, "cityhub/v1/aq-2/telemetry", False),
    (DEVICE, "cityhub/v1/aq-1/telemetry/extra", False),
    (DEVICE, "cityhub/v1/gateway/aq-1/telemetry", False),
    (DEVICE, "cityhub/v1/+/telemetry", False),
    (GATEWAY, "cityhub/v1/gateway/gw-1/telemetry", True),
    (GATEWAY, "cityhub/v1/gateway/gw-2/telemetry", False),
    (GATEWAY, "cityhub/v1/gw-1/status", True),
    (INGEST, "cityhub/v1/aq-1/errors", True),
    (INGEST, "cityhub/v1/aq-1/telemetry", False),
    (INGEST, "cityhub/v1/cityhub-ingest/telemetry", False),
    (SIM, "cityhub/v1/aq-1/telemetry", True),
    (SIM, "cityhub/v1/gateway/gw-1/telemetry", True),
    (SIM, "cityhub/v1/cityhub-sim/telemetry", False),
    (SIM, "elsewhere/aq-1/telemetry", False),
])
def test_may_publish(identity: MqttIdentity, topic: str, allowed: bool) -> None:
    assert may_publish(identity, topic) is allowed


@pytest.mark.parametrize(("identity", "topic_filter", "allowed"), [
    (DEVICE, "cityhub/v1/aq-1/errors", True),
    (DEVICE, "cityhub/v1/aq-2/errors", False),
    (DEVICE, "cityhub/v1/+/errors", False),
    (DEVICE, "cityhub/v1/#", False),
    (DEVICE, "#", False),
    (DEVICE, "$share/x/cityhub/v1/aq-1/errors", False),
    (INGEST, "cityhub/v1/#", True),
    (INGEST, "$share/cityhub-ingest/cityhub/v1/#", True),
    (INGEST, "$share/test-1234/cityhub/v1/+/telemetry", True),
    (INGEST, "$share//cityhub/v1/#", False),
    (INGEST, "#", False),
    (INGEST, "cityhub/#", False),
    (INGEST, "cityhub/v1/a#", False),
    (SIM, "cityhub/v1/+/errors", True),
    (SIM, "cityhub/v1/aq-1/errors", True),
    (SIM, "cityhub/v1/#", False),
])
def test_may_subscribe(identity: MqttIdentity, topic_filter: str, allowed: bool) -> None:
    assert may_subscribe(identity, topic_filter) is allowed


@pytest.mark.parametrize(("topic_filter", "topic", "matches"), [
    ("cityhub/v1/#", "cityhub/v1", True),
    ("cityhub/v1/#", "cityhub/v1/a/b", True),
    ("cityhub/v1/+/errors", "cityhub/v1/a/errors", True),
    ("cityhub/v1/+/errors", "cityhub/v1/a/b/errors", False),
    ("cityhub/v1/a", "cityhub/v1/a/b", False),
])
def test_topic_matches(topic_filter: str, topic: str, matches: bool) -> None:
    assert topic_matches(topic_filter, topic) is matches


# --- the ACL file says the same as the rules ----------------------------------------------


@dataclass
class AclModel:
    """Mosquitto 2's acl_file semantics: the user's own block (denials first), then patterns."""

    users: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    patterns: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> AclModel:
        model = cls()
        user: str | None = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            word, rest = line.split(" ", 1)
            if word == "user":
                user = rest
                model.users.setdefault(user, [])
            elif word == "topic":
                access, topic = rest.split(" ", 1)
                assert user is not None, "topic lines before any user would apply to anonymous"
                model.users[user].append((access, topic))
            elif word == "pattern":
                access, topic = rest.split(" ", 1)
                model.patterns.append((access, topic))
            else:
                raise AssertionError(f"unexpected ACL line {line!r}")
        return model

    def allows(self, username: str, topic: str, access: str) -> bool:
        own = self.users.get(username, [])
        if any(a == "deny" and topic_matches(t, topic) for a, t in own):
            return False
        grants = own + [(a, t.replace("%u", username)) for a, t in self.patterns]
        return any(a in (access, "readwrite") and topic_matches(t, topic) for a, t in grants)


TOPICS = [
    f"cityhub/v1/{who}/{channel}"
    for who in ("aq-1", "aq-2", "gw-1", INGEST_ACCOUNT, SIM_ACCOUNT, "gateway")
    for channel in ("telemetry", "events", "status", "errors", "other")
] + [
    "cityhub/v1/gateway/gw-1/telemetry", "cityhub/v1/gateway/aq-1/telemetry",
    "cityhub/v1/gateway/gw-2/telemetry", "cityhub/v1/aq-1/telemetry/x", "cityhub/v1",
    "cityhub/v2/aq-1/telemetry", "other/topic", "$SYS/broker/uptime",
]


@pytest.mark.parametrize("identity", [DEVICE, GATEWAY, INGEST, SIM], ids=lambda i: i.username)
def test_the_acl_file_grants_what_the_rules_grant(identity: MqttIdentity) -> None:
    acl = AclModel.parse(acl_file(services=[INGEST_ACCOUNT, SIM_ACCOUNT], gateways=["gw-1"]))
    for topic in TOPICS:
        assert acl.allows(identity.username, topic, "write") == may_publish(identity, topic), topic
        assert acl.allows(identity.username, topic, "read") == may_subscribe(identity, topic), topic


def test_the_deployments_acl_is_what_broker_config_writes_without_gateways() -> None:
    committed = Path(__file__).parents[2] / "deploy" / "mosquitto" / "acl"
    assert committed.read_text(encoding="utf-8") == acl_file(services=[INGEST_ACCOUNT], gateways=[])
