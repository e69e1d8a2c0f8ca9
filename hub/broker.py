"""Broker credentials in the database, the Mosquitto files written from them, and reload.

The pure text is made in hub/broker_files.py; this module reads the registry and the
service accounts (``hub.broker_accounts``), writes the files atomically and sends
Mosquitto SIGHUP, on which it re-reads them and disconnects clients whose login is no
longer valid.

Mosquitto started as root reads its password and ACL files, and writes its pid file,
only after dropping to its own user (``user`` in mosquitto.conf, ``mosquitto`` by
default): files written by root with mode 0600 would keep it from starting. So the
files get an owner the broker can read them as (:func:`file_owner`).
"""

from __future__ import annotations

import logging
import os
import pwd
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

from hub.broker_files import (
    ACL_FILE,
    CONF_FILE,
    PASSWORD_FILE,
    BrokerLogin,
    acl_file,
    conf_snippet,
    password_file,
)
from hub.credentials import broker_hash, hash_password, new_token
from hub.errors import ConfigError, InvalidInput
from hub.mqtt_access import INGEST_ACCOUNT, SERVICE_ROLES, SIM_ACCOUNT

# The user Mosquitto drops to when started as root (mosquitto.conf(5), `user`).
BROKER_USER = "mosquitto"

log = logging.getLogger(__name__)

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True, slots=True)
class WrittenConfig:
    directory: Path
    devices: int
    gateways: int
    services: tuple[str, ...]

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(self.directory / n for n in (PASSWORD_FILE, ACL_FILE, CONF_FILE))


def set_account(conn: Conn, name: str, password: str | None = None) -> str:
    """Create or re-key a service account; returns its password (new unless given)."""
    if name not in SERVICE_ROLES:
        raise InvalidInput(
            f"{name!r} is not a service account; the accounts are {', '.join(sorted(SERVICE_ROLES))} "
            "(devices get their credentials from `cityhub device add`)."
        )
    if password is not None and len(password) < 16:
        raise InvalidInput("A service account's password must have at least 16 characters.")
    secret = password if password is not None else new_token()
    with conn.transaction():
        conn.execute(
            "INSERT INTO hub.broker_accounts (name, role, password_hash, broker_hash) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
            "password_hash = EXCLUDED.password_hash, broker_hash = EXCLUDED.broker_hash, "
            "rotated_at = now()",
            (name, SERVICE_ROLES[name], hash_password(secret), broker_hash(secret)),
        )
    return secret


def _logins(conn: Conn, *, with_simulator: bool) -> tuple[list[BrokerLogin], list[str], list[str]]:
    services = [
        (str(n), str(h)) for n, h in
        conn.execute("SELECT name, broker_hash FROM hub.broker_accounts ORDER BY name").fetchall()
        if with_simulator or n != SIM_ACCOUNT
    ]
    devices = conn.execute(
        "SELECT id, broker_hash, kind = 'gateway' FROM hub.devices "
        "WHERE status = 'active' AND broker_hash IS NOT NULL ORDER BY id"
    ).fetchall()
    logins = [BrokerLogin(n, h) for n, h in services]
    logins += [BrokerLogin(str(i), str(h)) for i, h, _ in devices]
    gateways = [str(i) for i, _, is_gateway in devices if is_gateway]
    return logins, gateways, [n for n, _ in services]


def broker_user() -> tuple[int, int] | None:
    """(uid, gid) of the local ``mosquitto`` user, or None when there is none."""
    try:
        entry = pwd.getpwnam(BROKER_USER)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def file_owner(path: Path, given: tuple[int, int] | None) -> tuple[int, int] | None:
    """Who is to own the broker file *path*: None leaves it to whoever writes it.

    Only root can give files away, and only root needs to: other users write files the
    broker reads as that same user. For root, in this order: the owner given (``--owner``),
    the owner of the file there already unless that is root (the operator's earlier
    choice, e.g. uid 1883 of the docker image), else the local ``mosquitto`` user.
    """
    if given is not None or os.geteuid() != 0:
        return given
    try:
        stat = path.stat()
    except FileNotFoundError:
        pass
    else:
        if stat.st_uid != 0:
            return stat.st_uid, stat.st_gid
    return broker_user()


def _write(path: Path, text: str, mode: int, owner: tuple[int, int] | None) -> None:
    # Write beside the target and rename: the broker never reads a half-written file.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        owner = file_owner(path, owner)
        if owner is not None:
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_config(
    conn: Conn,
    directory: Path,
    *,
    with_simulator: bool = False,
    broker_path: Path | None = None,
    owner: tuple[int, int] | None = None,
    require_ingest: bool = True,
) -> WrittenConfig:
    """Write passwd, acl and the conf snippet into *directory* from the registry.

    *broker_path* is where the broker sees *directory* (e.g. inside a container);
    *owner* (uid, gid) is given to the files (see :func:`file_owner` for the default).
    With *require_ingest* false the files are written even before the ingest service
    has its account (WrittenConfig.services tells), so device changes reach the broker
    whichever is set up first.
    """
    logins, gateways, services = _logins(conn, with_simulator=with_simulator)
    if require_ingest and INGEST_ACCOUNT not in services:
        raise ConfigError(
            f"The ingest service has no broker account yet; create it with "
            f"`cityhub broker account {INGEST_ACCOUNT}` (see docs/devices.md)."
        )
    try:
        if not directory.is_dir():
            directory.mkdir(parents=True)
            # Readable by the broker's user whatever the umask of whoever made it.
            directory.chmod(0o755)
        _write(directory / PASSWORD_FILE, password_file(logins), 0o600, owner)
        _write(directory / ACL_FILE, acl_file(services=services, gateways=gateways), 0o644, owner)
        _write(directory / CONF_FILE, conf_snippet(broker_path or directory.resolve()), 0o644, owner)
    except OSError as exc:
        raise ConfigError(f"Cannot write the broker files in {directory}: {exc.strerror}.") from exc
    log.info("broker files written in %s: %d logins, %d gateways", directory, len(logins),
             len(gateways))
    return WrittenConfig(directory, len(logins) - len(services), len(gateways), tuple(services))


def read_pid_file(path: Path) -> int | None:
    """The process id in the broker's pid file; None when there is no such file.

    Mosquitto writes the file when it starts and removes it when it stops, so a missing
    file means a broker that is not running (yet): nothing to reload, and it reads the
    files when it starts.
    """
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"Cannot read the broker's pid file {path}: {exc.strerror}.") from exc
    if not text.isdigit():
        raise ConfigError(f"The broker's pid file {path} does not hold a process id.")
    return int(text)


def _is_broker(pid: int) -> bool:
    """Is process *pid* a Mosquitto? True where the system does not tell (no /proc)."""
    try:
        name = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no process *pid*, or no /proc at all
    except OSError:
        return True
    return "mosquitto" in name


def reload_from_pid_file(path: Path) -> int | None:
    """SIGHUP the broker whose pid file is *path*; the pid, or None when it is not running.

    A missing pid file, or one left behind by a broker that died (its process gone or,
    by now, another program's), means no broker to reload: it reads the files when it
    starts. Another program is never signalled: SIGHUP would end most of them.
    """
    pid = read_pid_file(path)
    if pid is None or not _is_broker(pid):
        return None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return None  # it has exited meanwhile
    except PermissionError:
        raise ConfigError(f"Not allowed to signal the broker process {pid} (from {path}); "
                          "run as its user or as root.") from None
    return pid


def reload_broker(pid: int) -> None:
    """Make Mosquitto re-read its password and ACL files."""
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise ConfigError(f"No broker process {pid} is running; is the pid right?") from None
    except PermissionError:
        raise ConfigError(f"Not allowed to signal the broker process {pid}; run as its user.") from None
