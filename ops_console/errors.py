"""Exceptions of the operations console, and how hub errors become HTTP answers.

    ConsoleError               base of the console's own errors
     └── LoginThrottled        too many failed logins; carries Retry-After seconds

Hub errors (hub/errors.py) raised by the code behind an endpoint are answered by
the handlers in :mod:`ops_console.app`: InvalidInput → 400, NotFound → 404,
AlreadyExists and Conflict → 409, DatabaseUnavailable → 503, each with the message as detail.
Values the database cannot take (psycopg.DataError: a NUL in text, a date out of
range) and OverflowError become 400 with a fixed reason (ops_console/input_guard.py).
"""

from __future__ import annotations


class ConsoleError(Exception):
    """Base of every error the console raises on purpose."""


class LoginThrottled(ConsoleError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed logins; try again in {retry_after} s.")
        self.retry_after = retry_after
