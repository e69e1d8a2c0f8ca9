"""The console's access log leaves out EMQX's answered login checks and keeps the rest."""

from __future__ import annotations

import logging

import pytest

from ops_console.access_log import ACCESS_LOGGER, QuietBrokerChecks, quiet_broker_checks

AUTH = "/api/v1/mqtt/auth"


def access(path: str, status: int, method: str = "POST") -> logging.LogRecord:
    # The record uvicorn makes for each response.
    return logging.LogRecord(ACCESS_LOGGER, logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                             ("127.0.0.1:5000", method, path, "1.1", status), None)


@pytest.mark.parametrize(("path", "status", "kept"), [
    (AUTH, 200, False),  # allowed or denied: the verdict is in the body
    (AUTH, 401, True),  # a wrong broker secret
    (AUTH, 422, True),
    (AUTH + "?x=1", 200, True),
    ("/api/v1/mqtt/acl", 200, True),
    ("/api/v1/auth/login", 200, True),
])
def test_only_answered_broker_login_checks_are_left_out(path: str, status: int, kept: bool) -> None:
    assert QuietBrokerChecks().filter(access(path, status)) is kept


def test_other_records_of_the_logger_pass() -> None:
    record = logging.LogRecord(ACCESS_LOGGER, logging.INFO, __file__, 1, "plain %s", ("x",), None)
    assert QuietBrokerChecks().filter(record)


def test_installing_twice_adds_one_filter() -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    before = list(logger.filters)
    try:
        quiet_broker_checks()
        quiet_broker_checks()
        assert sum(isinstance(f, QuietBrokerChecks) for f in logger.filters) == 1
    finally:
        logger.filters[:] = before
