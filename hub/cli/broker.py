"""`cityhub broker …`: Mosquitto's password and ACL files from the registry; service accounts."""

from __future__ import annotations

import pwd
import sys
from pathlib import Path
from typing import Annotated

import typer

from hub.broker import (
    Conn,
    WrittenConfig,
    reload_broker,
    reload_from_pid_file,
    set_account,
    write_config,
)
from hub.cli.common import console, database_url, errors, print_json, running_broker, settings
from hub.db import connection
from hub.errors import ConfigError, HubError, InvalidInput
from hub.mqtt_access import INGEST_ACCOUNT
from hub.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Broker logins: Mosquitto files and service accounts.")


def _owner(user: str | None) -> tuple[int, int] | None:
    if user is None:
        return None
    try:
        entry = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
    except KeyError:
        if user.isdigit():
            return int(user), int(user)  # a container's uid need not exist on the host
        raise InvalidInput(f"No user {user!r} on this machine; give a user name or a uid.") from None
    return entry.pw_uid, entry.pw_gid


def _reload(reload_pid: int | None, pid_file: Path | None) -> tuple[int | None, str]:
    """SIGHUP the broker if one is named and running: (its pid, a line for the user)."""
    if reload_pid is not None:
        reload_broker(reload_pid)
        return reload_pid, f"reloaded the broker (SIGHUP to {reload_pid})"
    if pid_file is None:
        return None, "the broker was not told: give --reload-pid or --pid-file, or send it SIGHUP"
    pid = reload_from_pid_file(pid_file)
    if pid is None:
        # Before the broker's first start (or while it is stopped): not an error.
        return None, (f"the broker is not running (no live process in {pid_file}); "
                      "it reads the files when it starts")
    return pid, f"reloaded the broker (SIGHUP to {pid} from {pid_file})"


def _describe(written: WrittenConfig) -> str:
    return (f"{written.devices} device(s) ({written.gateways} gateway(s)) and "
            f"{', '.join(written.services)} in {written.directory}")


@app.command("config")
def config_command(
    directory: Annotated[Path | None, typer.Option(
        "--dir", help="Where to write passwd, acl and cityhub-auth.conf [CITYHUB_BROKER_DIR].")] = None,
    broker_path: Annotated[Path | None, typer.Option(
        help="Where the broker sees --dir, if elsewhere (e.g. /mosquitto/config in a container).")] = None,
    owner: Annotated[str | None, typer.Option(
        help="User or uid to own the files, the one the broker runs as (e.g. 1883). Default "
             "for root: the files' current owner, else the user mosquitto.")] = None,
    reload_pid: Annotated[int | None, typer.Option(help="Send this broker process SIGHUP.")] = None,
    pid_file: Annotated[Path | None, typer.Option(
        help="Send SIGHUP to the process in this pid file [CITYHUB_BROKER_PID_FILE].")] = None,
    with_simulator: Annotated[bool, typer.Option(
        help="Also let the demo simulator account (cityhub-sim) in; never in production.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Write Mosquitto's password file and ACL from the registry, then make the broker reload."""
    current = settings()
    target = directory or current.broker_dir
    if target is None:
        raise ConfigError("Give --dir DIR or set CITYHUB_BROKER_DIR: where to write the broker files.")
    with connection(database_url(current)) as conn:
        written = write_config(conn, target, with_simulator=with_simulator,
                               broker_path=broker_path, owner=_owner(owner))
    pid, outcome = _reload(reload_pid, pid_file or current.broker_pid_file)
    if as_json:
        print_json({"directory": str(written.directory), "devices": written.devices,
                    "gateways": written.gateways, "services": list(written.services),
                    "files": [str(p) for p in written.files], "reloaded_pid": pid})
        return
    console.print(f"wrote broker logins for {_describe(written)}")
    console.print(outcome)


@app.command("account")
def account_command(
    name: Annotated[str, typer.Argument(help=f"The service account, e.g. {INGEST_ACCOUNT}.")],
    password_file: Annotated[Path | None, typer.Option(
        help="Take the password from this file ('-' = stdin) instead of making a new one.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create or re-key a service account of the broker; a new password is printed once."""
    given: str | None = None
    if password_file is not None:
        try:
            text = sys.stdin.read() if str(password_file) == "-" else password_file.read_text("utf-8")
        except OSError as exc:
            raise InvalidInput(f"Cannot read {password_file}: {exc.strerror}.") from None
        given = text.strip()
    current = settings()
    with connection(database_url(current)) as conn:
        password = set_account(conn, name, given)
        note = sync_broker(conn, current)
    if as_json:
        print_json({"account": name, **({} if given else {"password": password})})
    elif given:
        console.print(f"set the password of broker account [bold]{name}[/bold]")
    else:
        console.print(f"broker account [bold]{name}[/bold]")
        console.print(f"  password (shown once): [bold]{password}[/bold]")
        console.print(f"  give the service: CITYHUB_MQTT_URL=mqtt://{name}:<password>@HOST:1883")
    if note:
        errors.print(note)


def sync_broker(conn: Conn, current: Settings) -> str | None:
    """After a change of logins: rewrite the broker files and reload it, where configured.

    The files live in CITYHUB_BROKER_DIR, or in the embedded broker of a running
    `cityhub up` (which lets the demo simulator in). Returns a line for the user.
    """
    directory = current.broker_dir
    pid_file = current.broker_pid_file
    with_simulator = False
    if directory is None:
        embedded = running_broker(current)
        if embedded is None:
            return None
        directory, pid_file = embedded
        with_simulator = True
    try:
        # Written even before the ingest account exists: whichever an administrator sets
        # up first, the device logins are in the files when the broker starts.
        written = write_config(conn, directory, with_simulator=with_simulator, require_ingest=False)
        pid = reload_from_pid_file(pid_file) if pid_file is not None else None
    except HubError as exc:
        # The registry change stands (and its token was printed); only the broker lags.
        return f"warning: the broker was not updated: {exc} Run `cityhub broker config` when fixed."
    done = f"broker files updated in {written.directory}"
    if pid_file is None:
        done += "; send the broker SIGHUP to apply them"
    elif pid is None:
        done += f"; the broker is not running (no live process in {pid_file}), it reads them when it starts"
    else:
        done += " and the broker reloaded"
    if INGEST_ACCOUNT not in written.services:
        done += (f"; the ingest service has no broker account yet: "
                 f"`cityhub broker account {INGEST_ACCOUNT}`")
    return done
