"""A command whose module needs a missing package says which, and the others still run. Pure."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from hub.cli.main import missing_package


def test_a_command_missing_a_package_names_it_when_invoked() -> None:
    app = typer.Typer()
    app.command("console")(missing_package(
        "cityhub bench console", ModuleNotFoundError("No module named 'httpx'", name="httpx")))
    app.command("other")(lambda: None)
    runner = CliRunner()
    result = runner.invoke(app, ["console"])
    assert result.exit_code == 1
    assert "needs the Python package 'httpx'" in result.output
    assert "pip install -c constraints.txt httpx" in result.output
    assert "needs the Python package 'httpx'" in runner.invoke(app, ["--help"]).output
    assert runner.invoke(app, ["other"]).exit_code == 0
