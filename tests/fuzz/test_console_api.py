"""schemathesis against the console's OpenAPI (issue 13, point 2): every route, called by
every role with a valid token (and by the broker with its secret), with inputs that keep
to the schema and inputs that break it, must never answer 5xx, and every documented
response must conform to its schema. Examples per route and caller: tests/fuzz/profiles.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.strategies import SearchStrategy
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.openapi import from_dict
from schemathesis.specs.openapi.checks import response_schema_conformance

from hub.catalogue import Catalogue
from tests.fuzz import profiles
from tests.fuzz.console import CALLERS, FuzzConsole, fuzz_console, openapi

pytestmark = pytest.mark.integration

Operation = APIOperation[Any, Any, Any, Any]
SCHEMA = from_dict(openapi())


def _operations() -> list[Operation]:
    found: list[Operation] = []
    for result in SCHEMA.get_all_operations():
        assert isinstance(result, Ok), result  # the app's own document is valid OpenAPI
        found.append(result.ok())
    return found


OPERATIONS = _operations()
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture(scope="module")
def console(pg_admin_url: str, catalogue: Catalogue) -> Iterator[FuzzConsole]:
    with fuzz_console(pg_admin_url, catalogue) as running:
        yield running


def _strategy(operation: Operation) -> SearchStrategy[Case[Operation]]:
    return (operation.as_strategy(GenerationMode.POSITIVE)
            | operation.as_strategy(GenerationMode.NEGATIVE))


STRATEGIES = {op.label: _strategy(op) for op in OPERATIONS}
# Routes without a security requirement answer everyone alike: called once, without a token.
CALLS = [(op.label, caller) for op in OPERATIONS
         for caller in (CALLERS if op.definition.raw.get("security") else ("anonymous",))]


@pytest.mark.parametrize(("label", "caller"), CALLS, ids=[f"{label}-{caller}" for label, caller in CALLS])
def test_no_route_answers_5xx_or_breaks_its_schema(label: str, caller: str, console: FuzzConsole) -> None:
    token = console.tokens.get(caller)
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    with requests.Session() as session:
        @settings(max_examples=profiles.api_examples(), deadline=None, database=None,
                  suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate, Phase.shrink])
        @given(case=STRATEGIES[label])
        def call(case: Case[Operation]) -> None:
            case.call_and_validate(base_url=console.server.base_url, session=session,
                                   headers=headers, checks=CHECKS)

        call()


def test_a_broker_login_body_that_is_not_utf8_is_a_422(console: FuzzConsole) -> None:
    """Found by the long profile: pydantic's json_invalid error held the raw body, and
    FastAPI's 422 handler failed decoding it (a 500 to EMQX)."""
    response = requests.post(f"{console.server.base_url}/api/v1/mqtt/auth", data=b"\x12\xe6h",
                             headers={"Authorization": f"Bearer {console.tokens['broker']}",
                                      "Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 422
    assert response.json()["detail"][0]["input"] == {}  # the body (a password, maybe) not echoed
