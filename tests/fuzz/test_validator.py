"""Properties of the validator (ingest/validate.py) called directly: any document, on
any kind, gives rows or events that are inside the catalogue's rules, or a rejection
whose code docs/ingest.md explains; never an exception."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from hub.pseudonym import is_pseudonym
from ingest.messages import Rejection
from ingest.validate import Validator, parse_status
from tests.fuzz.strategies import documents, mutated
from tests.fuzz.world import CATALOGUE, DOCUMENTED, KEYS, WINDOW

VALIDATOR = Validator(CATALOGUE, KEYS)
KINDS = st.sampled_from(sorted(CATALOGUE.kinds))


@given(kind=KINDS, document=documents())
def test_telemetry_rows_keep_to_the_catalogue_or_the_document_is_refused(kind: str, document: object) -> None:
    refused: list[Rejection] = []
    result = VALIDATOR.telemetry("d-1", kind, document, WINDOW, refused)
    assert {r.code for r in refused} <= DOCUMENTED
    if isinstance(result, Rejection):
        assert result.code in DOCUMENTED
        assert result.code != "internal_error"
        return
    rows, subject = result
    metrics = CATALOGUE.kinds[kind].metrics
    assert rows
    for ts, device, metric, value in rows:
        assert device == "d-1"
        assert WINDOW.earliest <= ts <= WINDOW.latest
        assert metrics[metric].min <= value <= metrics[metric].max
        assert math.isfinite(value)
    assert subject is None or is_pseudonym(subject)


@given(kind=KINDS, document=documents())
def test_events_keep_to_the_catalogue_or_the_document_is_refused(kind: str, document: object) -> None:
    result = VALIDATOR.events("d-1", kind, document, WINDOW)
    if isinstance(result, Rejection):
        assert result.code in DOCUMENTED
        assert result.code != "internal_error"
        return
    spec = CATALOGUE.kinds[kind]
    assert result
    for event in result:
        assert spec.events[event.type].severity == event.severity
        assert WINDOW.earliest <= event.ts <= WINDOW.latest
        assert event.confidence is None or 0.0 <= event.confidence <= 1.0
        for name in spec.personal_fields & event.attributes.keys():
            assert is_pseudonym(event.attributes[name])
        assert event.subject is None or is_pseudonym(event.subject)


@given(payload=st.binary(max_size=20) | mutated(st.sampled_from([b"online", b'"offline"', b" OnLine "])))
def test_a_status_is_online_offline_or_refused(payload: bytes) -> None:
    status = parse_status(payload)
    assert isinstance(status, bool) or status.code == "bad_payload"
