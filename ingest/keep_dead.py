"""Writing dead letters that the database may refuse, without stopping ingest.

A dead letter is written like a batch: during an outage it is retried with backoff and
nothing is acknowledged (at least once). If the database *refuses* it (not an outage:
a value it will not take), each letter is written alone, a refused one is replaced by a
minimal letter (code, topic, payload length and fingerprint, no payload), and if even
that is refused the loss is logged with the code and counted in
``cityhub_ingest_dead_letters_lost_total``: the message is then acknowledged all the
same, because holding it would only have the broker redeliver it for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial

from ingest.errors import StoreError
from ingest.messages import DeadLetterRow
from ingest.metrics import IngestMetrics
from ingest.retry import Retrier

log = logging.getLogger(__name__)

# (the full dead letter, the minimal one to write if the full one is refused)
Letter = tuple[DeadLetterRow, DeadLetterRow]


def keep_dead_letters(letters: Sequence[Letter], write: Callable[[list[DeadLetterRow]], None],
                      retrier: Retrier, metrics: IngestMetrics) -> bool:
    """Write *letters* as well as the database lets us; False if asked to stop first."""
    try:
        return retrier.until_done(partial(write, [full for full, _ in letters]))
    except StoreError as exc:
        log.error("%s; writing the dead letters one by one", exc)
    return all(_one(full, minimal, write, retrier, metrics) for full, minimal in letters)


def _one(full: DeadLetterRow, minimal: DeadLetterRow,
         write: Callable[[list[DeadLetterRow]], None], retrier: Retrier,
         metrics: IngestMetrics) -> bool:
    for row in (full, minimal):
        try:
            return retrier.until_done(partial(write, [row]))
        except StoreError as exc:
            refused = exc
    # The reason is ours and redacted; the payload is never logged.
    log.error("a %s dead letter of device %s was refused even without its payload (%s): "
              "lost; %s", minimal.code, minimal.device_id, str(refused)[:200], minimal.reason)
    metrics.dead_letters_lost.labels(minimal.code).inc()
    return True
