"""Every HTTP route refuses every role it does not admit, and callers without a valid token.

The routes are enumerated from the app (tests/ops_console/test_roles.py's helpers), so a
route added later is attacked without touching this file.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from hub.users import ROLES
from tests.ops_console.conftest import BROKER_SECRET, bearer
from tests.ops_console.test_roles import concrete, http_routes

pytestmark = pytest.mark.integration


def test_every_route_refuses_every_role_it_must_refuse(
    console_app: FastAPI, client: httpx.Client, token_for: Callable[[str], str]
) -> None:
    tokens = {role: token_for(role) for role in ROLES}
    refusals: dict[str, int] = {}
    for method, path, guard in http_routes(console_app):
        assert guard is not None, f"{method} {path} declares no guard"
        if guard.public:
            continue
        url = concrete(path)
        for name, headers in (("no token", {}), ("a junk token", bearer("x.y.z")),
                              ("the broker's secret", bearer(BROKER_SECRET))):
            if name == "the broker's secret" and "broker" in guard.roles:
                continue
            answer = client.request(method, url, headers=headers)
            assert answer.status_code in (401, 403), f"{method} {path} with {name}: {answer.status_code}"
        for role in sorted(set(ROLES) - guard.roles):
            answer = client.request(method, url, headers=bearer(tokens[role]))
            assert answer.status_code == 403, f"{method} {path} as {role}: {answer.status_code}"
            refusals[role] = refusals.get(role, 0) + 1
    # Every role is refused somewhere; data scientists and vendors nearly everywhere.
    assert set(refusals) == set(ROLES)
    assert min(refusals["analyst"], refusals["vendor"]) > max(refusals["operator"], refusals["admin"])
