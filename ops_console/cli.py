"""`cityhub console` (run the console) and `cityhub user …` (manage console accounts)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hub.analyst_sql import create_analyst_login
from hub.cli.common import console, database_url, print_json, service_settings, settings
from hub.db import connection
from hub.errors import InvalidInput
from hub.users import ROLES, add_user, list_users, set_disabled, set_password, validate_role

users = typer.Typer(no_args_is_help=True, help="Console accounts and their roles.")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InvalidInput("No terminal to ask for the password; pipe it in with --password-stdin.")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users.command("add")
def add(
    username: Annotated[str, typer.Option("--username", help="Login name.")],
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")],
    display_name: Annotated[str | None, typer.Option("--display-name", help="Name shown in the console.")]
    = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the password from standard input.")] = False,
) -> None:
    """Create an account (asks for the password twice unless --password-stdin)."""
    validate_role(role)
    password = _read_password(password_stdin)
    with connection(database_url(settings())) as conn:
        user = add_user(conn, username, role, password, display_name=display_name, actor="cli")
    console.print(f"created {user.role} account [bold]{user.username}[/bold]")


@users.command("analyst-sql")
def analyst_sql(
    name: Annotated[str, typer.Argument(help="PostgreSQL login name, e.g. kim_research.")],
    password_file: Annotated[Path | None, typer.Option("--password-file",
                                                       help="Read the password from this file.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the password from standard input.")] = False,
    statement_timeout: Annotated[str, typer.Option(help="Per-statement limit, e.g. 30s or 2min.")] = "30s",
    replace: Annotated[bool, typer.Option("--replace", help="Reset the password of an existing login.")]
    = False,
) -> None:
    """Create a read-only PostgreSQL login for a data scientist (the anon schema only)."""
    if password_file is not None:
        password = password_file.read_text(encoding="utf-8").strip()
    else:
        password = _read_password(password_stdin)
    with connection(database_url(settings())) as conn:
        create_analyst_login(conn, name, password, statement_timeout=statement_timeout, replace=replace)
    console.print(f"SQL login [bold]{name}[/bold] reads the anon schema only "
                  f"(statement timeout {statement_timeout}).")


@users.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List accounts (never their passwords)."""
    with connection(database_url(settings())) as conn:
        found = list_users(conn)
    if as_json:
        for u in found:
            print_json({"username": u.username, "role": u.role, "display_name": u.display_name,
                        "disabled": u.disabled, "created_at": u.created_at.isoformat()})
        return
    table = Table("username", "role", "display name", "state", "created")
    for u in found:
        table.add_row(u.username, u.role, u.display_name or "", "disabled" if u.disabled else "active",
                      u.created_at.isoformat(timespec="seconds"))
    console.print(table)
    console.print(f"{len(found)} account(s)")


@users.command("disable")
def disable(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Disable an account and end its sessions."""
    with connection(database_url(settings())) as conn:
        set_disabled(conn, username, True, actor="cli")
    console.print(f"disabled {username}; its sessions have ended")


@users.command("enable")
def enable(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Enable a disabled account again."""
    with connection(database_url(settings())) as conn:
        set_disabled(conn, username, False, actor="cli")
    console.print(f"enabled {username}")


@users.command("passwd")
def passwd(
    username: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the password from standard input.")] = False,
) -> None:
    """Set a new password; the account's sessions end."""
    password = _read_password(password_stdin)
    with connection(database_url(settings())) as conn:
        set_password(conn, username, password, actor="cli")
    console.print(f"password of {username} changed; its sessions have ended")


def console_command(
    host: Annotated[str | None, typer.Option(help="Address to listen on (CITYHUB_HTTP_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (CITYHUB_HTTP_PORT).")] = None,
) -> None:
    """Run the operations console (REST API, live view, web page)."""
    import uvicorn

    from ops_console.access_log import quiet_broker_checks
    from ops_console.app import create_app
    from ops_console.shutdown import GRACEFUL_TIMEOUT_S, DrainingServer

    current = service_settings()
    app = create_app(current)
    # log_config=None: uvicorn's records go through cityhub's logging (hub/logs.py), in
    # CITYHUB_LOG_FORMAT, instead of handlers of its own.
    config = uvicorn.Config(app, host=host or current.http_host, port=port or current.http_port,
                            log_level=current.log_level.lower(), log_config=None, proxy_headers=False,
                            timeout_graceful_shutdown=GRACEFUL_TIMEOUT_S)
    quiet_broker_checks()
    server = DrainingServer(config, app)
    server.run()
    if not server.started:
        raise typer.Exit(3)  # uvicorn has logged why (e.g. the port is taken)
