"""The Mosquitto password file, ACL file and configuration snippet, as text.

Pure functions of the registry's contents; hub/broker.py reads the registry and
writes the files. The ACL expresses the rules of hub/mqtt_access.py in Mosquitto's
``acl_file`` format (a test checks both agree on a table of topics):

- ``pattern`` lines apply to every account with ``%u`` replaced by its username, so
  one set gives every device its own prefix;
- a ``user`` block adds topics for one account: the hub's service accounts, and each
  gateway's ``cityhub/v1/gateway/<id>/telemetry`` (only gateways get it);
- Mosquitto checks an account's own block before the patterns and an explicit
  ``deny`` there wins (denials are checked first), which keeps the device patterns away
  from the service accounts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath

from hub.mqtt_access import DEVICE_PUBLISH_CHANNELS, INGEST_ACCOUNT, ROOT, SERVICE_ROLES

PASSWORD_FILE = "passwd"
ACL_FILE = "acl"
CONF_FILE = "cityhub-auth.conf"


@dataclass(frozen=True, slots=True)
class BrokerLogin:
    """One line of the password file."""

    username: str
    broker_hash: str  # $7$…, see hub.credentials.broker_hash


def password_file(logins: Iterable[BrokerLogin]) -> str:
    lines = [f"{login.username}:{login.broker_hash}\n" for login in
             sorted(logins, key=lambda x: x.username)]
    return "".join(lines)


def _service_block(name: str, role: str) -> list[str]:
    # Service names are reserved device ids: their topics belong to no device, and the
    # denials (checked first) also keep the device patterns from applying to services.
    lines = [f"user {name}", *(f"topic deny {ROOT}/{s}/#" for s in sorted(SERVICE_ROLES))]
    if role == "ingest":
        lines += [f"topic read {ROOT}/#", f"topic write {ROOT}/+/errors"]
    else:
        lines += [f"topic write {ROOT}/#", f"topic read {ROOT}/+/errors"]
    return lines


def acl_file(*, services: Iterable[str], gateways: Iterable[str]) -> str:
    """The ACL for the hub's *services* (account names) and the registered *gateways*."""
    out = [
        "# Topic rights of the accounts in `passwd` (Mosquitto acl_file format), written by",
        "# `cityhub broker config` from the device registry: edit the registry, not this file.",
        "# Topics are the device API of DESIGN.md: cityhub/v1/{device_id}/{telemetry|events|status|errors}.",
        "",
    ]
    for name in sorted(set(services)):
        if name == INGEST_ACCOUNT:
            out.append("# The ingest service: reads what every device publishes, answers rejections.")
        else:
            out.append("# The demo simulator of `cityhub up`: publishes for every demo device.")
        out += [*_service_block(name, SERVICE_ROLES[name]), ""]
    ids = sorted(set(gateways))
    if ids:
        out.append("# Gateways publish for the devices behind them under the gateway prefix.")
        for gateway_id in ids:
            out += [f"user {gateway_id}", f"topic write {ROOT}/gateway/{gateway_id}/telemetry"]
        out.append("")
    out += [
        "# Every account is also matched by these patterns with %u = its username: a device",
        "# (username = device id) publishes only under its own prefix and reads only its own",
        "# rejections.",
        *(f"pattern write {ROOT}/%u/{c}" for c in DEVICE_PUBLISH_CHANNELS),
        f"pattern read {ROOT}/%u/errors",
    ]
    return "\n".join(out) + "\n"


def conf_snippet(directory: PurePath) -> str:
    """Mosquitto settings that switch logins on with the two files in *directory*."""
    return (
        "# Written by `cityhub broker config`. Include it from mosquitto.conf (e.g. with\n"
        "# `include_dir`), or copy these lines there: every client must log in.\n"
        "allow_anonymous false\n"
        f"password_file {directory / PASSWORD_FILE}\n"
        f"acl_file {directory / ACL_FILE}\n"
    )
