"""uvicorn's access log, without a line per answered broker login check.

In a reconnect storm EMQX asks ``POST /api/v1/mqtt/auth`` thousands of times a second.
Each answer is a 200 whether the device is let in or not (the verdict is in the body),
so its access line tells an operator nothing, and writing it costs the console CPU at
the moment it has least to spare. Those lines are dropped; the answers stay counted in
``cityhub_console_requests_total`` under the route. A check the console refuses (a
wrong broker secret: 401, a malformed body: 422) is still logged.
"""

from __future__ import annotations

import logging

from ops_console.broker_login import PATH

ACCESS_LOGGER = "uvicorn.access"


class QuietBrokerChecks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's record: '%s - "%s %s HTTP/%s" %d' of (client, method, path and query,
        # HTTP version, status).
        args = record.args
        if not isinstance(args, tuple) or len(args) != 5:
            return True
        path, status = args[2], args[4]
        return not (path == PATH and isinstance(status, int) and status < 400)


def quiet_broker_checks() -> None:
    """Install the filter on uvicorn's access logger (once)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, QuietBrokerChecks) for f in logger.filters):
        logger.addFilter(QuietBrokerChecks())
