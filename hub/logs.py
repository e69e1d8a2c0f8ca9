"""The logging set-up of every cityhub process (``hub/cli/main.py`` calls it once).

``CITYHUB_LOG_FORMAT=text`` (the default) writes a line a reader follows in a terminal;
``json`` writes one JSON object per line for a log collector (Loki, Elasticsearch,
journald): ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and, when a
record carries one, ``exception`` (the formatted traceback). A message is written as
the code logs it: what may be logged at all (never payloads, secrets or personal
values) is the logging call's business, not the formatter's.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, log_format: LogFormat, stream: TextIO | None = None) -> None:
    """Send every logger's records, at *level* and above, to *stream* (stderr) in *log_format*.

    Replaces the root logger's handlers, so calling it again (tests) does not double lines;
    libraries that configure their own loggers (uvicorn) are told not to (ops_console/cli.py).
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
