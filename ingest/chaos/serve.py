"""`cityhub ingest` as the scenarios start it: the same service (ingest/runner.py) from
the same settings, without loading every package's commands first as the `cityhub`
command line does, which takes seconds of CPU a start on a busy machine. The scenarios
start ingest processes a dozen times.
"""

from __future__ import annotations

import logging
import sys

from hub.errors import HubError
from hub.settings import load_settings
from ingest.runner import run_ingest


def main() -> None:
    settings = load_settings()
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run_ingest(settings)
    except HubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
