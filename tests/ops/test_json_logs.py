"""CITYHUB_LOG_FORMAT=json: one JSON object per line, for a log collector."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from hub.errors import ConfigError
from hub.logs import configure_logging
from hub.settings import load_settings


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.usefixtures("restore_logging")
def test_each_record_is_one_json_object_with_time_level_logger_and_message() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", out)
    log = logging.getLogger("ingest.test")
    log.info("stored %d of %s", 3, "mixed\nlines and 한글")
    log.debug("not at INFO")
    text = out.getvalue()
    assert text.count("\n") == 1  # the message's own newline is escaped
    [entry] = lines(out)
    assert entry.keys() == {"time", "level", "logger", "message"}
    assert entry["level"] == "INFO"
    assert entry["logger"] == "ingest.test"
    assert entry["message"] == "stored 3 of mixed\nlines and 한글"
    assert entry["time"].endswith("+00:00")
    assert "T" in entry["time"]


@pytest.mark.usefixtures("restore_logging")
def test_an_exception_travels_in_its_own_field() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", out)
    try:
        raise ValueError("bad value")
    except ValueError:
        logging.getLogger("hub").exception("batch failed")
    [entry] = lines(out)
    assert entry["message"] == "batch failed"
    assert "Traceback" in entry["exception"]
    assert "ValueError: bad value" in entry["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_text_is_the_default_and_configuring_twice_does_not_double_lines() -> None:
    assert load_settings({}).log_format == "text"
    out = io.StringIO()
    configure_logging("WARNING", "text", out)
    configure_logging("WARNING", "text", out)
    logging.getLogger("analytics").warning("lost the database")
    assert out.getvalue().count("lost the database") == 1
    assert " WARNING analytics: lost the database" in out.getvalue()


def test_an_unknown_format_stops_the_service_at_start() -> None:
    with pytest.raises(ConfigError, match="CITYHUB_LOG_FORMAT"):
        load_settings({"CITYHUB_LOG_FORMAT": "xml"})
